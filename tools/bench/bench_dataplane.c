/* SPDX-License-Identifier: MIT */
/*
 * bench_dataplane.c - cycles per fragment of sluiced's packet path against
 * DPDK's bare forwarding of the same frames, measured in one process.
 *
 * The harness plays the NIC: each iteration it allocates a burst of mbufs,
 * copies valid sluice frames into them (receive DMA) and enqueues them on
 * the rx ring of a net_ring port. The frames then leave through a net_null
 * port, which frees them as a NIC's tx completion would. Four loops, each
 * timed with the TSC around the whole loop and divided by the fragments it
 * moved:
 *
 *   fill     harness alone: alloc + copy + free, no ethdev at all
 *   io-fwd   fill + ring enqueue + rx_burst(ring) + tx_burst(null): DPDK's
 *            bare forwarding of the same frames, the reference
 *   path     fill + ring enqueue + rx_burst(ring) + sl_dp_process (parse,
 *            admit, order, fanout, route, tx to null) + housekeeping each
 *            ms
 *   profiled the path with dp->profile set: per-stage cycles (dp->prof)
 *
 * The harness also plays the clients and the engine instances as
 * libsluice would: the instances answer each request under the id sluiced
 * gave it, from the instance it was routed to (the harness asks the
 * dataplane once per stream, timed apart); each receiver ACKs each END
 * sluiced sends it, and each instance answers its PROBEs. Those control
 * frames ride in the bursts of every mode; cycles are per stream
 * fragment.
 *
 * The modes alternate round by round so that a noisy neighbour hits them
 * alike; the table reports medians. Any drop, refusal, resend for a NACK,
 * death or unanswered END fails the run (exit 1): a benchmark that loses
 * work measures less than it claims. README.md has the details.
 *
 * --workers N (N > 1) measures the multi-worker path instead: N worker
 * lcores run at once, each a struct sl_dp of sl_workers_init with its own
 * harness (its own rx queue of the ring port, its own tx queue of the
 * null port, its own clients' requests: ids the steering gives to its
 * worker), sl_steer_burst after each rx as in sl_dp_worker. A round is
 * io-fwd on worker 0 alone, then the path on all workers at once; the
 * report is the aggregate fragments per wall-clock second and each
 * worker's cycles per fragment (README.md, "Many workers").
 *
 * Usage: bench_dataplane [options] [-- extra EAL arguments]; see usage().
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_udp.h>

#include "sl_config.h"
#include "sl_dp.h"
#include "sl_stream.h"
#include "sl_path.h"
#include "sl_port.h"
#include "sl_stats.h"
#include "sl_steer.h"
#include "sl_wire.h"
#include "sl_worker.h"

#define BENCH_RING_SIZE 1024
#define BENCH_CLIENTS 16
#define BENCH_VARIANTS 8
#define BENCH_FRAME_MAX 192
#define BENCH_MAX_HOPS 3 /* client stream, stage 1 output, stage 2 output */
#define BENCH_STAGES 2
#define BENCH_SENDERS BENCH_CLIENTS /* of one hop: clients or instances */
#define BENCH_CTRL_MAX 64 /* probe answers waiting for the next burst */
#define BENCH_MAX_ROUNDS 64
#define BENCH_HOUSEKEEPING_US 1000 /* as sl_dp_worker */

#define BENCH_LISTEN_IP RTE_IPV4(10, 77, 0, 1)
#define BENCH_LISTEN_PORT 7700
#define BENCH_CLIENT_IP(c) RTE_IPV4(10, 77, 0, 100 + (c))
#define BENCH_CLIENT_PORT(c) (40000 + (c))
#define BENCH_PIPELINE_ID 1

/*
 * Pipeline 1: two stages of two instances. Stage 1 has aggregation 1, so
 * client streams (stage 0) are placed by rendezvous hashing on the request
 * id; stage 2 spreads round robin. Addresses match the template builder.
 * The flows: quotas are sized for the bench's load (--streams requests in
 * flight from 16 addresses, tenant 0) with twice the room, as an operator
 * would; liveness is sluiced's default, spelt out: the harness answers the
 * PROBEs as sluice-engine does.
 */
static const char bench_yaml_fmt[] =
	"sluiced: {address: 10.77.0.1, port: 7700}\n"
	"flows: {size: %u, idle_timeout_ms: %u, reorder_window: 16,\n"
	"        client_streams: %u, source_streams: %u, tenant_streams: %u}\n"
	"liveness: {probe_ms: 100, dead_ms: 1000}\n"
	"clients: [10.77.0.0/24]\n"
	"pipelines:\n"
	"  - name: bench\n"
	"    id: 1\n"
	"    stages:\n"
	"      - name: draft\n"
	"        aggregation: 1\n"
	"        instances: [10.77.0.11:7801, 10.77.0.12:7801]\n"
	"      - name: polish\n"
	"        aggregation: 0\n"
	"        instances: [10.77.0.13:7802, 10.77.0.14:7802]\n";

/* Token payloads: 2-4 tokens, ASCII and multi-byte UTF-8, frames 144-158 B. */
static const char *const bench_tokens[BENCH_VARIANTS][4] = {
	{" the", " cat"},
	{"Hi", "!"},
	{" \xc3\xbc"
	 "ber",
	 "s"}, /* " über" */
	{" a", " b", " c"},
	{"\xe6\x9d\xb1", "\xe4\xba\xac"}, /* two CJK characters */
	{"x", "y", "z", "."},
	{" na",
	 "\xc3\xaf"
	 "ve",
	 "!"}, /* "ïve" */
	{"o", "k"},
};

/* A frame ready to copy; seq, flags and ancestry[0] are patched in (and
 * send_ns in a PROBE answer). */
struct bench_tmpl {
	uint8_t frame[BENCH_FRAME_MAX];
	uint16_t len;
};

enum bench_slot_state {
	BENCH_SLOT_SENDING, /* the current stream's next fragment is due */
	BENCH_SLOT_ACK,     /* its END went out: the receiver's ACK is due */
	BENCH_SLOT_IDLE,    /* draining: its request is over, none follows */
};

/* One concurrent request: its current stream and where it is in it. */
struct bench_slot {
	const struct bench_tmpl *tmpl; /* the stream being sent */
	uint64_t request;              /* the client's id of the request */
	uint64_t id_be;  /* ancestry[0] of the current stream, wire order */
	uint64_t sid_be; /* sluiced's id of the request, wire order */
	uint32_t seq;
	uint32_t len;       /* fragments in the current stream */
	uint32_t end_burst; /* the burst that carried its END */
	uint8_t hop;
	uint8_t sender; /* which client or instance sends it */
	uint8_t state;  /* enum bench_slot_state */
};

/* A PROBE answer waiting for the next burst. */
struct bench_ctrl {
	const struct bench_tmpl *tmpl;
	uint32_t seq;
	uint64_t send_ns;
};

struct bench_gen {
	struct rte_mempool *pool;
	/* Path rounds: the dataplane the harness asks, once per stream, for
	 * sluiced's id of a request and where a stream was routed. NULL in
	 * the fill and io-fwd rounds, which stand in for the answers. */
	struct sl_dp *dp;
	struct bench_slot *slots;
	uint32_t n_slots;
	uint32_t cursor;
	uint32_t active;
	uint32_t fragments;              /* per stream that carries the load */
	uint32_t hops;                   /* streams per request that do */
	uint32_t burst;                  /* bursts made so far */
	uint16_t n_send[BENCH_MAX_HOPS]; /* senders of a hop's streams */
	bool draining;
	uint64_t next_request;
	uint16_t frame_min, frame_max;
	/* Sender addresses by hop: the clients, then each stage's instances. */
	uint32_t send_ip[BENCH_MAX_HOPS][BENCH_SENDERS];
	uint16_t send_port[BENCH_MAX_HOPS][BENCH_SENDERS];
	uint16_t inst_uid[BENCH_STAGES][BENCH_SENDERS];
	/* Counted while gen.dp is set (what the dataplane was given). */
	uint64_t acks;          /* ACK frames, one per stream END */
	uint64_t probe_answers; /* PROBE answers (and hellos) */
	uint64_t lookups;       /* flow table look-ups by the harness */
	uint64_t lookup_errors; /* ... that found no stream or no route */
	uint64_t harness_tsc;   /* cycles they took: not part of the path */
	uint32_t probe_seen[BENCH_STAGES][BENCH_SENDERS];
	uint32_t n_ctrl;
	struct bench_ctrl ctrl[BENCH_CTRL_MAX];
	/* Data by hop, sender and token variant; the ACK of a hop's END by
	 * its receiver (the next hop's sender; the client for the last);
	 * PROBE answers by stage and instance. */
	struct bench_tmpl tmpl[BENCH_MAX_HOPS][BENCH_SENDERS][BENCH_VARIANTS];
	struct bench_tmpl ack[BENCH_MAX_HOPS][BENCH_SENDERS];
	struct bench_tmpl probe[BENCH_STAGES][BENCH_SENDERS];
	/* --workers N > 1, path rounds: the steering whose owner picks the
	 * clients' request ids (NULL: ids in order), the harness's worker,
	 * and each client's first frame to ask it about. */
	const struct sl_steer *steer;
	uint16_t self;
	struct rte_mbuf *scratch[BENCH_CLIENTS];
};

enum bench_mode {
	BENCH_FILL,
	BENCH_IO_FWD,
	BENCH_PATH,
	BENCH_PROFILED,
	BENCH_MODE_MAX
};

static const char *const bench_mode_names[BENCH_MODE_MAX] = {
	"fill (harness only)",
	"io-fwd (reference)",
	"sluice path",
	"path, profiled",
};

struct bench_opts {
	unsigned int rounds;
	double seconds;     /* io-fwd and path rounds */
	double aux_seconds; /* fill and profiled rounds */
	unsigned int streams;
	unsigned int fragments;
	unsigned int hops;
	unsigned int flows;
	unsigned int idle_ms;
	unsigned int workers;
	bool json;
	const char *json_file;
	const char *commit;
};

struct bench {
	struct bench_opts o;
	struct sl_config *cfg;
	struct sl_dp *dp;
	struct rte_mempool *pool;
	struct rte_ring *rx_ring;
	uint16_t ring_port;
	uint16_t null_port;
	uint64_t hz;
	uint64_t hk_interval;
	uint64_t warmup_tsc;    /* untimed path before each timed path round */
	uint64_t harness_drops; /* ring or null port refused frames */
	uint64_t hk_cycles;     /* housekeeping, profiled rounds */
	uint32_t flows_peak;
	uint32_t
		requests_peak; /* client requests in flight (sluiced's count) */
	struct bench_gen *gen;
	/* per round, cycles per fragment */
	double cpf[BENCH_MODE_MAX][BENCH_MAX_ROUNDS];
	double stage_cpf[SL_STAGE_MAX][BENCH_MAX_ROUNDS];
	double hk_cpf[BENCH_MAX_ROUNDS];
	double lookup_cpf[BENCH_MAX_ROUNDS]; /* harness look-ups taken out */
	uint64_t path_fragments;
	uint64_t path_cycles;
	/* The last timed path loop (loop_path): its TSC interval, the
	 * thread's CPU time over it. */
	uint64_t loop_t0, loop_t1, loop_cpu_ns;
	uint16_t rx_queue; /* of ring_port; the null port's tx queue too */
	/* Per path round, every N: aggregate Mpps (wall clock, all workers,
	 * harness included), cycles per fragment per worker from the
	 * threads' CPU time (the TSC figure is cpf[BENCH_PATH]). */
	double w_mpps[BENCH_MAX_ROUNDS];
	double w_cpu_cpf[BENCH_MAX_ROUNDS];
	double w_busy[BENCH_MAX_ROUNDS]; /* CPU time / (N x wall clock) */
	/* Many workers: each worker's harness is a struct bench of its own
	 * (lane[w]; with one worker lane[0] is this one), launched on its
	 * lcore for a round; top is the one main() made. */
	struct sl_workers ws;
	struct bench *lane[SL_WORKERS_MAX];
	struct bench *top;
	unsigned int lcore;
	rte_cpuset_t cpus; /* the CPUs its lcore may run on */
	int round_mode;    /* enum bench_mode: BENCH_IO_FWD or BENCH_PATH */
	double round_seconds;
	uint64_t go_tsc, end_tsc; /* the path rounds' common clock */
	/* A lane's last round, and per round its own figures. */
	uint64_t r_frags, r_cycles, r_harness;
	bool r_done;
	double l_cpf[BENCH_MAX_ROUNDS], l_cpu_cpf[BENCH_MAX_ROUNDS];
};

/* ---- traffic ---------------------------------------------------------- */

/* Ethernet, IPv4 and UDP from @src_ip:@src_port to sluiced around the
 * @dgram-byte datagram already at SL_WIRE_FRAME_HDR_OFF of @t. */
static void
tmpl_frame(struct bench_tmpl *t, uint32_t src_ip, uint16_t src_port,
	   uint8_t mac_hi, uint8_t mac_lo, size_t dgram,
	   const struct rte_ether_addr *dst_mac)
{
	struct sl_frame_ends e = {
		.src_mac = {0x02, 0, 0, 0, mac_hi, mac_lo},
		.src_ip = src_ip,
		.dst_ip = BENCH_LISTEN_IP,
		.src_port = src_port,
		.dst_port = BENCH_LISTEN_PORT,
	};

	memcpy(e.dst_mac, dst_mac->addr_bytes, 6);
	sl_wire_frame_write(t->frame, &e, (uint16_t)dgram, 0, 0);
	t->len = (uint16_t)(SL_WIRE_FRAME_HDR_OFF + dgram);
}

/*
 * A fragment of hop @hop's stream from sender @src: the client's request
 * (stage 0), or an instance's answer, which keeps its input's identity as
 * sluice-engine's does (depth 1, ancestry [request]; from_stage the
 * producing stage).
 */
static void
tmpl_data(struct bench_gen *g, unsigned int hop, unsigned int src,
	  unsigned int variant, const struct rte_ether_addr *dst_mac)
{
	struct bench_tmpl *t = &g->tmpl[hop][src][variant];
	struct sl_wire_builder b;
	struct sl_frag_hdr h = {
		.version = SL_WIRE_VERSION,
		.stage = (uint16_t)hop,
		.from_stage = (uint16_t)hop,
		.pipeline = BENCH_PIPELINE_ID,
		.depth = 1,
	};

	memset(t, 0, sizeof(*t));
	if (sl_wire_builder_init(&b, t->frame + SL_WIRE_FRAME_HDR_OFF,
				 sizeof(t->frame) - SL_WIRE_FRAME_HDR_OFF,
				 &h) != 0)
		rte_exit(EXIT_FAILURE, "cannot build template header\n");
	for (unsigned int k = 0; k < 4 && bench_tokens[variant][k]; k++) {
		const char *text = bench_tokens[variant][k];

		if (sl_wire_builder_add(&b, 1000 + k, text, strlen(text)) != 0)
			rte_exit(EXIT_FAILURE, "cannot add template token\n");
	}
	tmpl_frame(t, g->send_ip[hop][src], g->send_port[hop][src],
		   (uint8_t)hop, (uint8_t)src, sl_wire_builder_finish(&b),
		   dst_mac);
}

/*
 * A control fragment from sender @src of hop @hop: the ACK of the END of
 * hop @hop - 1's stream, named as its receiver got it from sluiced (the
 * stage it serves and the producing stage; the client sees the producing
 * stage in both), or (@probe) a PROBE answer of instance @src of stage
 * @hop.
 */
static void
tmpl_control(struct bench_gen *g, struct bench_tmpl *t, unsigned int hop,
	     unsigned int src, bool probe, const struct rte_ether_addr *dst_mac)
{
	struct sl_frag_hdr h = {
		.version = SL_WIRE_VERSION,
		.pipeline = BENCH_PIPELINE_ID,
		.depth = 1,
	};
	size_t len;

	memset(t, 0, sizeof(*t));
	if (probe) {
		h.stage = (uint16_t)hop;
	} else if (hop == 0) {
		h.stage = BENCH_MAX_HOPS - 1;
		h.from_stage = BENCH_MAX_HOPS - 1;
	} else {
		h.stage = (uint16_t)hop;
		h.from_stage = (uint16_t)(hop - 1);
	}
	len = sl_wire_encode_control(t->frame + SL_WIRE_FRAME_HDR_OFF, &h,
				     probe ? SL_FRAG_F_PROBE : SL_FRAG_F_ACK, 0,
				     0, 0);
	tmpl_frame(t, g->send_ip[hop][src], g->send_port[hop][src],
		   (uint8_t)hop, (uint8_t)src, len, dst_mac);
}

static inline uint8_t
gen_variant(uint64_t request)
{
	return (uint8_t)((request >> 4) % BENCH_VARIANTS);
}

/* Fragments in hop @hop's stream: the first --hops streams carry the
 * load, the rest are one-fragment answers that end the request. */
static inline uint32_t
gen_stream_len(const struct bench_gen *g, unsigned int hop)
{
	return hop < g->hops ? g->fragments : 1;
}

/*
 * Many workers: the next request id whose client stream the harness's own
 * worker owns, so that every stream of the request stays in that worker's
 * flow table, where the harness looks them up, and no two threads touch
 * one table. The owner is the steering's own (sl_steer_owner on the
 * client's first frame with the id patched in); about N ids are tried per
 * request. Timed apart with the look-ups (harness_tsc).
 */
static __rte_noinline uint64_t
gen_pick_request(struct bench_gen *g)
{
	uint64_t t0 = rte_rdtsc(), r;

	for (;;) {
		struct rte_mbuf *m;
		uint64_t id_be;

		r = g->next_request++;
		m = g->scratch[r % BENCH_CLIENTS];
		id_be = rte_cpu_to_be_64(r);
		memcpy(rte_pktmbuf_mtod_offset(m, uint8_t *,
					       SL_WIRE_FRAME_HDR_OFF +
						       SL_WIRE_OFF_ANCESTRY),
		       &id_be, 8);
		if (sl_steer_owner(g->steer, m, g->self) == g->self)
			break;
	}
	g->harness_tsc += rte_rdtsc() - t0;
	return r;
}

static void
gen_start_request(struct bench_gen *g, struct bench_slot *s)
{
	s->request = g->steer != NULL ? gen_pick_request(g) : g->next_request++;
	s->hop = 0;
	s->seq = 0;
	s->len = gen_stream_len(g, 0);
	s->sender = (uint8_t)(s->request % BENCH_CLIENTS);
	s->id_be = rte_cpu_to_be_64(s->request);
	s->tmpl = &g->tmpl[0][s->sender][gen_variant(s->request)];
	s->state = BENCH_SLOT_SENDING;
}

/*
 * Every slot starts a fresh request (ids are never reused, so no stream of
 * an earlier round is continued). The first streams are shortened by the
 * slot index so that stream starts and ends spread evenly over time.
 */
static void
gen_restart(struct bench_gen *g)
{
	for (uint32_t i = 0; i < g->n_slots; i++) {
		struct bench_slot *s = &g->slots[i];

		gen_start_request(g, s);
		s->len = 1 + i % s->len;
	}
	g->active = g->n_slots;
	g->cursor = 0;
	g->draining = false;
}

/* Index of the instance of stage index @st at @ip:@port, or -1. */
static int
gen_instance_at(const struct bench_gen *g, unsigned int st, uint32_t ip,
		uint16_t port)
{
	for (unsigned int i = 0; i < g->n_send[st + 1]; i++)
		if (g->send_ip[st + 1][i] == ip &&
		    g->send_port[st + 1][i] == port)
			return (int)i;
	return -1;
}

/*
 * The stream of hop @s->hop ended: who received it (the sender of the
 * next hop), and, for the client's stream, sluiced's id of the request.
 * A real engine learns both from what arrives; the harness asks the
 * dataplane once per stream, timed apart (harness_tsc): the client
 * stream's flow for its index and generation (sl_dp_request_id) and
 * the route pin of the stream's edge (each stage has one edge out, so
 * the pin is the edge block's first). The fill and io-fwd rounds have
 * no dataplane and stand in the same answers for the same frames.
 */
static __rte_noinline unsigned int
gen_receiver(struct bench_gen *g, struct bench_slot *s)
{
	const struct sl_edge_block *eb;
	struct sl_flow_key k;
	const struct sl_flow *f;
	uint64_t t0;
	uint32_t idx;
	int recv;

	if (g->dp == NULL) {
		if (s->hop == 0)
			s->sid_be = rte_cpu_to_be_64(SL_DP_REQUEST_ID_MARK |
						     s->request);
		return (unsigned int)(s->request % g->n_send[s->hop + 1]);
	}
	t0 = rte_rdtsc();
	memset(&k, 0, sizeof(k));
	k.pipeline = RTE_BE32(BENCH_PIPELINE_ID);
	k.stage = rte_cpu_to_be_16(s->hop);
	k.depth = 1;
	k.src_ip = g->send_ip[s->hop][s->sender];
	k.src_port = g->send_port[s->hop][s->sender];
	k.ancestry[0] = s->id_be;
	idx = sl_flow_lookup(g->dp->flows, &k);
	g->lookups++;
	recv = -1;
	if (idx != SL_FLOW_NONE) {
		f = sl_flow_at(g->dp->flows, idx);
		if (s->hop == 0)
			s->sid_be = rte_cpu_to_be_64(
				sl_dp_request_id(g->dp, idx, f->gen));
		eb = f->edges;
		if (eb != NULL)
			recv = gen_instance_at(g, s->hop, eb->e[0].pin.hop_ip,
					       eb->e[0].pin.hop_port);
	}
	if (recv < 0) {
		g->lookup_errors++;
		recv = 0;
	}
	g->harness_tsc += rte_rdtsc() - t0;
	return (unsigned int)recv;
}

/* The ACK of @s's stream END, from its receiver; then the next stream
 * (from that receiver), or the next request. */
static void
gen_ack(struct bench_gen *g, struct bench_slot *s, uint8_t *d,
	struct rte_mbuf *m)
{
	const struct bench_tmpl *t;
	uint32_t seq_be = rte_cpu_to_be_32(s->len - 1);
	uint64_t id_be;
	unsigned int recv;

	if (s->hop + 1 < BENCH_MAX_HOPS) {
		recv = gen_receiver(g, s);
		id_be = s->sid_be;
		t = &g->ack[s->hop + 1][recv];
	} else {
		recv = s->request % BENCH_CLIENTS;
		id_be = rte_cpu_to_be_64(s->request);
		t = &g->ack[0][recv];
	}
	memcpy(d, t->frame, t->len);
	m->data_len = t->len;
	m->pkt_len = t->len;
	memcpy(d + SL_WIRE_FRAME_HDR_OFF + SL_WIRE_OFF_SEQ, &seq_be, 4);
	memcpy(d + SL_WIRE_FRAME_HDR_OFF + SL_WIRE_OFF_ANCESTRY, &id_be, 8);
	if (g->dp != NULL)
		g->acks++;

	if (s->hop + 1 < BENCH_MAX_HOPS) {
		s->hop++;
		s->seq = 0;
		s->len = gen_stream_len(g, s->hop);
		s->sender = (uint8_t)recv;
		s->id_be = s->sid_be;
		s->tmpl = &g->tmpl[s->hop][recv][gen_variant(s->request)];
		s->state = BENCH_SLOT_SENDING;
	} else if (unlikely(g->draining)) {
		s->state = BENCH_SLOT_IDLE;
		g->active--;
	} else {
		gen_start_request(g, s);
	}
}

static inline void
gen_data(struct bench_gen *g, struct bench_slot *s, uint8_t *d,
	 struct rte_mbuf *m)
{
	const struct bench_tmpl *t = s->tmpl;
	uint8_t *hdr = d + SL_WIRE_FRAME_HDR_OFF;
	uint32_t seq_be = rte_cpu_to_be_32(s->seq);

	memcpy(d, t->frame, t->len);
	m->data_len = t->len;
	m->pkt_len = t->len;
	memcpy(hdr + SL_WIRE_OFF_SEQ, &seq_be, 4);
	memcpy(hdr + SL_WIRE_OFF_ANCESTRY, &s->id_be, 8);
	if (++s->seq < s->len)
		return;
	hdr[SL_WIRE_OFF_FLAGS] = SL_FRAG_F_END;
	s->state = BENCH_SLOT_ACK;
	s->end_burst = g->burst;
}

/* A PROBE answer waiting, into @m. */
static void
gen_ctrl(struct bench_gen *g, struct rte_mbuf *m)
{
	const struct bench_ctrl *c = &g->ctrl[--g->n_ctrl];
	uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);
	uint32_t seq_be = rte_cpu_to_be_32(c->seq);
	uint64_t ns_be = rte_cpu_to_be_64(c->send_ns);

	memcpy(d, c->tmpl->frame, c->tmpl->len);
	m->data_len = c->tmpl->len;
	m->pkt_len = c->tmpl->len;
	memcpy(d + SL_WIRE_FRAME_HDR_OFF + SL_WIRE_OFF_SEQ, &seq_be, 4);
	memcpy(d + SL_WIRE_FRAME_HDR_OFF + SL_WIRE_OFF_SEND_NS, &ns_be, 8);
	g->probe_answers++;
}

/*
 * The receive DMA: up to @n frames, round robin over the slots, PROBE
 * answers first. A slot whose stream ended sends its receiver's ACK on
 * its next visit, once the dataplane had the END (a later burst). Return
 * the frames made; *@data: how many of them are stream fragments.
 */
static inline uint16_t
gen_burst(struct bench_gen *g, struct rte_mbuf **pkts, uint16_t n,
	  uint16_t *data)
{
	uint32_t passed = 0;
	uint16_t i = 0, frags = 0;

	if (unlikely(rte_pktmbuf_alloc_bulk(g->pool, pkts, n) != 0))
		rte_exit(EXIT_FAILURE, "mbuf pool empty: mbufs are leaking\n");
	while (unlikely(g->n_ctrl != 0) && i < n)
		gen_ctrl(g, pkts[i++]);
	while (i < n && g->active != 0 && passed < g->n_slots) {
		struct bench_slot *s = &g->slots[g->cursor];
		struct rte_mbuf *m = pkts[i];

		if (++g->cursor == g->n_slots)
			g->cursor = 0;
		if (likely(s->state == BENCH_SLOT_SENDING)) {
			gen_data(g, s, rte_pktmbuf_mtod(m, uint8_t *), m);
			frags++;
		} else if (s->state == BENCH_SLOT_ACK &&
			   s->end_burst != g->burst) {
			gen_ack(g, s, rte_pktmbuf_mtod(m, uint8_t *), m);
		} else {
			passed++; /* not due yet, or idle */
			continue;
		}
		passed = 0;
		i++;
	}
	g->burst++;
	if (unlikely(i < n))
		rte_pktmbuf_free_bulk(pkts + i, n - i);
	*data = frags;
	return i;
}

/* Queue the PROBE answer of instance @i of stage index @st. */
static void
gen_probe_answer(struct bench_gen *g, unsigned int st, unsigned int i,
		 uint32_t seq, uint64_t send_ns)
{
	if (g->n_ctrl == BENCH_CTRL_MAX)
		rte_exit(EXIT_FAILURE, "PROBE answers pile up\n");
	g->ctrl[g->n_ctrl++] =
		(struct bench_ctrl){&g->probe[st][i], seq, send_ns};
}

/*
 * Every instance answers the PROBE sluiced sent it since the last look
 * (sl_live_probe counts them per instance): seq and send_ns echoed, as
 * libsluice's sl_rel does. Called after housekeeping; timed apart.
 */
static void
gen_probes(struct bench_gen *g)
{
	const struct sl_dp *dp = g->dp;
	uint64_t t0 = rte_rdtsc();
	uint64_t ns =
		(uint64_t)(((unsigned __int128)dp->now * dp->ns_per_tsc_q32) >>
			   32);

	for (unsigned int st = 0; st < BENCH_STAGES; st++)
		for (unsigned int i = 0; i < g->n_send[st + 1]; i++) {
			uint32_t seq = dp->inst[g->inst_uid[st][i]].probe_seq;

			if (seq == g->probe_seen[st][i])
				continue;
			g->probe_seen[st][i] = seq;
			gen_probe_answer(g, st, i, seq - 1, ns);
		}
	g->harness_tsc += rte_rdtsc() - t0;
}

static struct bench_gen *
gen_create(const struct bench_opts *o, struct rte_mempool *pool,
	   const struct sl_config *cfg, const struct rte_ether_addr *dst_mac)
{
	struct bench_gen *g =
		rte_zmalloc("bench_gen", sizeof(*g), RTE_CACHE_LINE_SIZE);

	if (g == NULL)
		rte_exit(EXIT_FAILURE, "cannot allocate the generator\n");
	g->slots = rte_zmalloc("bench_slots", sizeof(g->slots[0]) * o->streams,
			       RTE_CACHE_LINE_SIZE);
	if (g->slots == NULL)
		rte_exit(EXIT_FAILURE, "cannot allocate %u streams\n",
			 o->streams);
	g->pool = pool;
	g->n_slots = o->streams;
	g->fragments = o->fragments;
	g->hops = o->hops;
	g->next_request = 1;
	g->frame_min = UINT16_MAX;
	g->n_send[0] = BENCH_CLIENTS;
	for (unsigned int c = 0; c < BENCH_CLIENTS; c++) {
		g->send_ip[0][c] = BENCH_CLIENT_IP(c);
		g->send_port[0][c] = BENCH_CLIENT_PORT(c);
	}
	for (unsigned int st = 0; st < BENCH_STAGES; st++) {
		const struct sl_stage_cfg *sc = &cfg->pipelines[0].stages[st];

		g->n_send[st + 1] =
			RTE_MIN(sc->n_instances, (uint16_t)BENCH_SENDERS);
		for (unsigned int i = 0; i < g->n_send[st + 1]; i++) {
			g->send_ip[st + 1][i] = sc->instances[i].ep.ip;
			g->send_port[st + 1][i] = sc->instances[i].ep.port;
			g->inst_uid[st][i] = sc->instances[i].uid;
			tmpl_control(g, &g->probe[st][i], st + 1, i, true,
				     dst_mac);
		}
	}
	for (unsigned int h = 0; h < BENCH_MAX_HOPS; h++)
		for (unsigned int s = 0; s < g->n_send[h]; s++) {
			tmpl_control(g, &g->ack[h][s], h, s, false, dst_mac);
			for (unsigned int v = 0; v < BENCH_VARIANTS; v++) {
				const struct bench_tmpl *t = &g->tmpl[h][s][v];

				tmpl_data(g, h, s, v, dst_mac);
				g->frame_min = RTE_MIN(g->frame_min, t->len);
				g->frame_max = RTE_MAX(g->frame_max, t->len);
			}
		}
	return g;
}

/* Many workers: each client's first frame, for gen_pick_request. */
static void
gen_scratch(struct bench_gen *g, uint16_t self)
{
	g->self = self;
	for (unsigned int c = 0; c < BENCH_CLIENTS; c++) {
		const struct bench_tmpl *t = &g->tmpl[0][c][0];
		struct rte_mbuf *m = rte_pktmbuf_alloc(g->pool);

		if (m == NULL)
			rte_exit(EXIT_FAILURE, "mbuf pool empty\n");
		memcpy(rte_pktmbuf_mtod(m, uint8_t *), t->frame, t->len);
		m->data_len = t->len;
		m->pkt_len = t->len;
		g->scratch[c] = m;
	}
}

/* ---- the timed loops --------------------------------------------------- */

static uint64_t
loop_fill(struct bench *b, uint64_t end, uint64_t *frags)
{
	struct rte_mbuf *pkts[SL_BURST];
	uint64_t n_total = 0, now, t0 = rte_rdtsc();

	do {
		uint16_t data, n = gen_burst(b->gen, pkts, SL_BURST, &data);

		rte_pktmbuf_free_bulk(pkts, n);
		n_total += data;
		now = rte_rdtsc();
	} while (now < end);
	*frags = n_total;
	return now - t0;
}

static inline void
ring_put(struct bench *b, struct rte_mbuf **pkts, uint16_t n)
{
	unsigned int q =
		rte_ring_enqueue_burst(b->rx_ring, (void **)pkts, n, NULL);

	if (unlikely(q < n)) {
		b->harness_drops += n - q;
		rte_pktmbuf_free_bulk(pkts + q, n - q);
	}
}

static uint64_t
loop_io_fwd(struct bench *b, uint64_t end, uint64_t *frags)
{
	struct rte_mbuf *pkts[SL_BURST];
	uint64_t n_total = 0, now, t0 = rte_rdtsc();

	do {
		uint16_t data, n = gen_burst(b->gen, pkts, SL_BURST, &data);
		uint16_t rx, tx;

		ring_put(b, pkts, n);
		rx = rte_eth_rx_burst(b->ring_port, b->rx_queue, pkts,
				      SL_BURST);
		tx = rte_eth_tx_burst(b->null_port, b->rx_queue, pkts, rx);
		if (unlikely(tx < rx)) {
			b->harness_drops += rx - tx;
			rte_pktmbuf_free_bulk(pkts + tx, rx - tx);
		}
		n_total += data;
		now = rte_rdtsc();
	} while (now < end);
	*frags = n_total;
	return now - t0;
}

/* One worker iteration, as sl_dp_worker does it; the instances answer
 * the PROBEs housekeeping sent. Returns the stream fragments made. */
static inline uint16_t
path_iteration(struct bench *b, struct rte_mbuf **pkts, bool profiled)
{
	struct sl_dp *dp = b->dp;
	uint16_t data, n = gen_burst(b->gen, pkts, SL_BURST, &data), rx;

	ring_put(b, pkts, n);
	rx = rte_eth_rx_burst(b->ring_port, b->rx_queue, pkts, SL_BURST);
	/* Many workers: as sl_dp_worker, what is another's goes to its
	 * inbox and what waited in this one's comes in front. */
	if (dp->steer != NULL)
		rx = sl_steer_burst(dp, pkts, rx, SL_BURST);
	dp->now = rte_rdtsc();
	if (rx != 0)
		sl_dp_process(dp, pkts, rx);
	if (dp->now >= dp->next_housekeeping) {
		uint64_t t0 = profiled ? rte_rdtsc() : 0;

		if (dp->flows->active > b->flows_peak)
			b->flows_peak = dp->flows->active;
		if (dp->led->client_streams > b->requests_peak)
			b->requests_peak = dp->led->client_streams;
		sl_dp_housekeeping(dp);
		dp->next_housekeeping = dp->now + b->hk_interval;
		if (profiled)
			b->hk_cycles += rte_rdtsc() - t0;
		gen_probes(b->gen);
	}
	return data;
}

/* Every next hop is known, as after ARP settled (and refreshed, as the
 * neighbours' kernels answer sluiced's ARP every SL_NEIGH_REFRESH_MS). */
static void
bench_neighbours(struct bench *b)
{
	struct rte_ether_addr mac = {{0x02, 0, 0, 0, 0xc1, 0}};

	for (unsigned int c = 0; c < BENCH_CLIENTS; c++) {
		mac.addr_bytes[5] = (uint8_t)c;
		if (sl_neigh_learn(&b->dp->neigh, BENCH_CLIENT_IP(c), &mac,
				   SL_NEIGH_CLIENT, b->dp->now))
			rte_exit(EXIT_FAILURE, "neighbour table full\n");
	}
	for (uint16_t s = 0; s < b->cfg->pipelines[0].n_stages; s++) {
		const struct sl_stage_cfg *st = &b->cfg->pipelines[0].stages[s];

		for (uint16_t i = 0; i < st->n_instances; i++) {
			mac.addr_bytes[4] = (uint8_t)(s + 1);
			mac.addr_bytes[5] = (uint8_t)i;
			if (sl_neigh_learn(&b->dp->neigh,
					   st->instances[i].ep.ip, &mac,
					   SL_NEIGH_INSTANCE, b->dp->now))
				rte_exit(EXIT_FAILURE,
					 "neighbour table full\n");
		}
	}
}

/*
 * Untimed, before a path round: the other modes ran meanwhile and the
 * dataplane's clock jumped. The neighbours are confirmed, every instance
 * says it is alive (an unprompted PROBE, as sl_rel sends one), then the
 * path runs for the linger and a little more: what the last round left
 * lingering leaves, and the table, the linger queue and the copies kept
 * for resends are in their steady state when the clock starts. With many
 * workers the warm-up runs to @until instead (the workers' common start),
 * and the hellos are PROBE answers like any: the steering copies them to
 * every worker.
 */
static void
path_prologue(struct bench *b, struct rte_mbuf **pkts, uint64_t until)
{
	struct bench_gen *g = b->gen;
	struct sl_dp *dp = b->dp;
	uint64_t end;

	uint16_t n = 0;

	g->dp = dp;
	dp->now = rte_rdtsc();
	bench_neighbours(b);
	for (unsigned int st = 0; st < BENCH_STAGES; st++)
		for (unsigned int i = 0; i < g->n_send[st + 1]; i++)
			gen_probe_answer(g, st, i, g->probe_seen[st][i], 0);
	/* The hellos alone, then housekeeping: what the last round left
	 * goes before any stream of this one waits for an ACK. */
	if (rte_pktmbuf_alloc_bulk(g->pool, pkts, g->n_ctrl) != 0)
		rte_exit(EXIT_FAILURE, "mbuf pool empty: mbufs are leaking\n");
	while (g->n_ctrl != 0)
		gen_ctrl(g, pkts[n++]);
	if (dp->steer != NULL)
		n = sl_steer_burst(dp, pkts, n, SL_BURST);
	sl_dp_process(dp, pkts, n);
	sl_dp_housekeeping(dp);
	dp->next_housekeeping = dp->now + b->hk_interval;
	gen_probes(g);
	end = until != 0 ? until : dp->now + b->warmup_tsc;
	do {
		path_iteration(b, pkts, false);
	} while (dp->now < end);
}

/* Cycles per fragment of the last timed path loop by its thread's CPU
 * time (what a worker sharing its CPU did itself), less the harness's
 * share (@harness of its wall-clock cycles). */
static double
loop_cpu_cpf(const struct bench *b, uint64_t frags, uint64_t harness)
{
	double wall = (double)(b->loop_t1 - b->loop_t0);
	double cpu = (double)b->loop_cpu_ns * (double)b->hz / 1e9;

	if (wall <= 0 || frags == 0)
		return 0;
	return cpu *
	       (wall - (double)RTE_MIN(harness, b->loop_t1 - b->loop_t0)) /
	       wall / (double)frags;
}

/* @harness: cycles of the harness's look-ups within the timed loop. */
static uint64_t
loop_path(struct bench *b, uint64_t end, uint64_t *frags, bool profiled,
	  uint64_t *harness)
{
	struct rte_mbuf *pkts[SL_PATH_CAP];
	struct sl_dp *dp = b->dp;
	struct timespec c0, c1;
	uint64_t n_total = 0, h0, t0, t1;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
	h0 = b->gen->harness_tsc;
	t0 = rte_rdtsc();
	do {
		n_total += path_iteration(b, pkts, profiled);
	} while (dp->now < end);
	t1 = dp->now;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
	b->loop_t0 = t0;
	b->loop_t1 = t1;
	b->loop_cpu_ns = (uint64_t)(c1.tv_sec - c0.tv_sec) * 1000000000u +
			 (uint64_t)c1.tv_nsec - (uint64_t)c0.tv_nsec;
	*frags = n_total;
	*harness = b->gen->harness_tsc - h0;

	/* Untimed and unprofiled: let every request finish (the last ACKs
	 * too) so no stream is cut short. */
	dp->profile = false;
	b->gen->draining = true;
	while (b->gen->active != 0)
		path_iteration(b, pkts, false);
	return t1 - t0;
}

/* Cycles per fragment of one round of @mode; *@lookup_cpf: per fragment,
 * the harness's look-ups taken out of a path round's cycles. */
static double
run_round(struct bench *b, enum bench_mode mode, double seconds,
	  uint64_t *frags_out, double *lookup_cpf)
{
	struct rte_mbuf *pkts[SL_PATH_CAP];
	uint64_t end, cycles = 0, frags = 0, harness = 0;

	gen_restart(b->gen);
	b->gen->dp = NULL;
	b->dp->profile = false;
	if (mode == BENCH_PATH || mode == BENCH_PROFILED)
		path_prologue(b, pkts, 0);
	else
		b->gen->n_ctrl = 0; /* PROBE answers are for the dataplane */
	if (mode == BENCH_PROFILED) {
		memset(b->dp->prof, 0, sizeof(b->dp->prof));
		b->hk_cycles = 0;
		b->dp->profile = true;
	}
	end = rte_rdtsc() + (uint64_t)(seconds * (double)b->hz);
	switch (mode) {
	case BENCH_FILL:
		cycles = loop_fill(b, end, &frags);
		break;
	case BENCH_IO_FWD:
		cycles = loop_io_fwd(b, end, &frags);
		break;
	case BENCH_PATH:
	case BENCH_PROFILED:
		cycles = loop_path(b, end, &frags, mode == BENCH_PROFILED,
				   &harness);
		/* The harness's look-ups in the dataplane are not the path. */
		cycles -= RTE_MIN(harness, cycles);
		break;
	default:
		break;
	}
	b->dp->profile = false;
	b->gen->dp = NULL;
	if (frags == 0)
		rte_exit(EXIT_FAILURE, "no fragment moved in %s\n",
			 bench_mode_names[mode]);
	if (frags_out != NULL)
		*frags_out = frags;
	if (lookup_cpf != NULL)
		*lookup_cpf = (double)harness / (double)frags;
	if (mode == BENCH_PATH) {
		b->path_fragments += frags;
		b->path_cycles += cycles;
	}
	return (double)cycles / (double)frags;
}

/* ---- setup ------------------------------------------------------------- */

static struct sl_config *
bench_config(const struct bench_opts *o)
{
	char yaml[2048], err[256];
	struct sl_config *cfg;
	/* Room for the bench's requests in flight, twice over: all of them
	 * and one tenant's (they all use tenant 0). One address's requests
	 * are counted in a slot picked by a keyed hash of the address
	 * (sl_dp_src_slot, 4096 slots), which two of the 16 addresses share
	 * in about 3% of runs: its quota is four times an address's share,
	 * so that two sharing one still fit. With many workers each
	 * worker's harness has --streams requests in flight, and the
	 * workers share one ledger: room for all of them. */
	unsigned int streams = o->streams * o->workers;
	unsigned int requests = 2 * streams;
	unsigned int per_source =
		4 * ((streams + BENCH_CLIENTS - 1) / BENCH_CLIENTS);
	int len = snprintf(yaml, sizeof(yaml), bench_yaml_fmt, o->flows,
			   o->idle_ms, requests, per_source, requests);

	if (len < 0 || (size_t)len >= sizeof(yaml))
		rte_exit(EXIT_FAILURE, "bench config does not fit\n");
	cfg = sl_config_parse(yaml, (size_t)len, "bench.yaml", err,
			      sizeof(err));
	if (cfg == NULL)
		rte_exit(EXIT_FAILURE, "bench config rejected: %s\n", err);
	return cfg;
}

/* The net_null port the path transmits to (exits when there is none). */
static uint16_t
bench_null_port(void)
{
	uint16_t port;

	RTE_ETH_FOREACH_DEV(port)
	{
		if (sl_port_driver_is(port, "net_null"))
			return port;
	}
	rte_exit(EXIT_FAILURE,
		 "no net_null port: is the net_null PMD installed?\n");
}

static void
bench_ports(struct bench *b)
{
	struct rte_ring *tx_ring;
	const char *what = "";
	int rc;

	b->null_port = bench_null_port();
	rc = sl_port_start(b->null_port, b->pool, &what);
	if (rc != 0)
		rte_exit(EXIT_FAILURE, "cannot start net_null port: %s: %s\n",
			 what, strerror(-rc));

	b->rx_ring =
		rte_ring_create("bench_rx", BENCH_RING_SIZE, rte_socket_id(),
				RING_F_SP_ENQ | RING_F_SC_DEQ);
	tx_ring = rte_ring_create("bench_tx", BENCH_RING_SIZE, rte_socket_id(),
				  RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (b->rx_ring == NULL || tx_ring == NULL)
		rte_exit(EXIT_FAILURE, "cannot create rings: %s\n",
			 rte_strerror(rte_errno));
	rc = rte_eth_from_rings("net_ring_bench", &b->rx_ring, 1, &tx_ring, 1,
				rte_socket_id());
	if (rc < 0)
		rte_exit(EXIT_FAILURE, "cannot create ring port: %s\n",
			 rte_strerror(rte_errno));
	b->ring_port = (uint16_t)rc;
	rc = sl_port_start(b->ring_port, b->pool, &what);
	if (rc != 0)
		rte_exit(EXIT_FAILURE, "cannot start ring port: %s: %s\n", what,
			 strerror(-rc));
}

static void
bench_dp(struct bench *b)
{
	int rc;

	rc = sl_pkt_meta_register();
	if (rc != 0)
		rte_exit(EXIT_FAILURE, "cannot register mbuf dynfield: %s\n",
			 strerror(-rc));
	b->dp = rte_zmalloc("bench_dp", sizeof(*b->dp), RTE_CACHE_LINE_SIZE);
	if (b->dp == NULL)
		rte_exit(EXIT_FAILURE, "cannot allocate the worker context\n");
	rc = sl_dp_init(b->dp, b->cfg, b->ring_port, b->pool);
	if (rc != 0)
		rte_exit(EXIT_FAILURE, "cannot init the dataplane: %s\n",
			 strerror(-rc));
	b->dp->tx_port_id = b->null_port;
	b->dp->poll = true;
	bench_neighbours(b);
	b->hk_interval = b->hz / 1000000 * BENCH_HOUSEKEEPING_US;
	/* The linger and a tenth more: see path_prologue. */
	b->warmup_tsc = b->dp->linger_tsc + b->dp->linger_tsc / 10;
}

/* ---- many workers -------------------------------------------------------- */

/*
 * --workers N > 1: the dataplane's own multi-worker set-up, as sluiced
 * makes it (sl_workers_init: one ledger, the steering, each worker's
 * share of the flow table), on a ring port with N queues (worker w
 * receives from ring w) and the null port with N transmit queues (worker
 * w sends on queue w). Each worker gets a harness of its own, a struct
 * bench (lane) run on its own lcore.
 */
static void
workers_setup(struct bench *b)
{
	const uint16_t n = (uint16_t)b->o.workers;
	struct rte_ring *rx[SL_WORKERS_MAX], *tx[SL_WORKERS_MAX];
	const char *what = "";
	unsigned int lcore = UINT_MAX; /* rte_get_next_lcore: from the first */
	uint16_t n_rx;
	char name[RTE_RING_NAMESIZE];
	int rc;

	if (rte_lcore_count() < (unsigned int)n + 1)
		rte_exit(EXIT_FAILURE,
			 "--workers %u needs %u lcores besides the main one; "
			 "EAL has %u\n",
			 n, n, rte_lcore_count() - 1);
	b->null_port = bench_null_port();
	rc = sl_port_start_queues(b->null_port, b->pool, n, &n_rx, &what);
	if (rc != 0)
		rte_exit(EXIT_FAILURE, "cannot start net_null port: %s: %s\n",
			 what, strerror(-rc));
	for (uint16_t w = 0; w < n; w++) {
		snprintf(name, sizeof(name), "bench_rx_%u", w);
		rx[w] = rte_ring_create(name, BENCH_RING_SIZE, rte_socket_id(),
					RING_F_SP_ENQ | RING_F_SC_DEQ);
		snprintf(name, sizeof(name), "bench_tx_%u", w);
		tx[w] = rte_ring_create(name, BENCH_RING_SIZE, rte_socket_id(),
					RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (rx[w] == NULL || tx[w] == NULL)
			rte_exit(EXIT_FAILURE, "cannot create rings: %s\n",
				 rte_strerror(rte_errno));
	}
	rc = rte_eth_from_rings("net_ring_bench", rx, n, tx, n,
				rte_socket_id());
	if (rc < 0)
		rte_exit(EXIT_FAILURE, "cannot create ring port: %s\n",
			 rte_strerror(rte_errno));
	b->ring_port = (uint16_t)rc;
	rc = sl_port_start_queues(b->ring_port, b->pool, n, &n_rx, &what);
	if (rc != 0 || n_rx != n)
		rte_exit(EXIT_FAILURE, "cannot start ring port: %s: %s\n",
			 rc != 0 ? what : "rx queues",
			 rc != 0 ? strerror(-rc) : "fewer than the workers");

	rc = sl_pkt_meta_register();
	if (rc != 0)
		rte_exit(EXIT_FAILURE, "cannot register mbuf dynfield: %s\n",
			 strerror(-rc));
	rc = sl_workers_init(&b->ws, b->cfg, b->ring_port, n_rx, b->pool, n);
	if (rc != 0)
		rte_exit(EXIT_FAILURE, "cannot set up the workers: %s\n",
			 strerror(-rc));
	b->hk_interval = b->hz / 1000000 * BENCH_HOUSEKEEPING_US;
	b->warmup_tsc = b->ws.dp[0]->linger_tsc + b->ws.dp[0]->linger_tsc / 10;
	for (uint16_t w = 0; w < n; w++) {
		struct sl_dp *dp = b->ws.dp[w];
		struct bench *l;

		lcore = rte_get_next_lcore(lcore, 1, 0);
		l = rte_zmalloc_socket("bench_lane", sizeof(*l),
				       RTE_CACHE_LINE_SIZE,
				       (int)rte_lcore_to_socket_id(lcore));
		if (l == NULL)
			rte_exit(EXIT_FAILURE, "cannot allocate worker %u\n",
				 w);
		l->o = b->o;
		l->cfg = b->cfg;
		l->pool = b->pool;
		l->hz = b->hz;
		l->hk_interval = b->hk_interval;
		l->warmup_tsc = b->warmup_tsc;
		l->ring_port = b->ring_port;
		l->null_port = b->null_port;
		l->rx_ring = rx[w];
		l->rx_queue = w;
		l->dp = dp;
		l->top = b;
		l->lcore = lcore;
		l->cpus = rte_lcore_cpuset(lcore);
		/* dp_init made it send on the ring port's queue w. */
		dp->tx_port_id = b->null_port;
		dp->tx_queue_id = w;
		dp->poll = true;
		bench_neighbours(l);
		l->gen = gen_create(&l->o, b->pool, b->cfg, &dp->mac);
		gen_scratch(l->gen, w);
		b->lane[w] = l;
	}
	b->dp = b->ws.dp[0];
	b->gen = b->lane[0]->gen; /* the frames are the same in all */
}

/* Lane @arg's part of a round, on its lcore: io-fwd (worker 0 alone)
 * or the path (every worker, warm-up to the common start top->go_tsc,
 * timed to top->end_tsc, then its requests drained). */
static int
lane_round(void *arg)
{
	struct bench *l = arg;
	const struct bench *b = l->top;
	struct bench_gen *g = l->gen;
	struct rte_mbuf *pkts[SL_PATH_CAP];
	uint64_t frags = 0, harness = 0;

	g->dp = NULL;
	if (b->round_mode == BENCH_IO_FWD) {
		/* No dataplane to own the ids: in order, as with one. */
		g->steer = NULL;
		gen_restart(g);
		g->n_ctrl = 0; /* PROBE answers are for the dataplane */
		l->r_cycles =
			loop_io_fwd(l,
				    rte_rdtsc() + (uint64_t)(b->round_seconds *
							     (double)b->hz),
				    &frags);
	} else {
		g->steer = b->ws.steer;
		gen_restart(g);
		path_prologue(l, pkts, b->go_tsc);
		l->r_cycles = loop_path(l, b->end_tsc, &frags, false, &harness);
	}
	g->dp = NULL;
	l->r_frags = frags;
	l->r_harness = harness;
	__atomic_store_n(&l->r_done, true, __ATOMIC_RELEASE);
	return 0;
}

/*
 * One round of @mode (BENCH_IO_FWD on worker 0, BENCH_PATH on all) for
 * @seconds; @r: the round it is (its figures kept), or < 0 (warm-up).
 * The main lcore sleeps meanwhile: it may share a CPU with a worker.
 */
static void
workers_round(struct bench *b, enum bench_mode mode, double seconds, int r)
{
	const unsigned int n = mode == BENCH_IO_FWD ? 1 : b->o.workers;
	const struct timespec nap = {0, 1000000};
	uint64_t t0 = UINT64_MAX, t1 = 0, frags = 0, cycles = 0;
	uint64_t harness = 0;
	double cpu = 0, cpu_all = 0;

	b->round_mode = mode;
	b->round_seconds = seconds;
	/* Every worker warms up (a linger and a tenth) to one start. */
	b->go_tsc = rte_rdtsc() + b->warmup_tsc + b->hz / 100;
	b->end_tsc = b->go_tsc + (uint64_t)(seconds * (double)b->hz);
	for (unsigned int w = 0; w < n; w++) {
		b->lane[w]->r_done = false;
		if (rte_eal_remote_launch(lane_round, b->lane[w],
					  b->lane[w]->lcore) != 0)
			rte_exit(EXIT_FAILURE, "cannot launch worker %u\n", w);
	}
	for (unsigned int w = 0; w < n; w++)
		while (!__atomic_load_n(&b->lane[w]->r_done, __ATOMIC_ACQUIRE))
			nanosleep(&nap, NULL);
	rte_eal_mp_wait_lcore();
	for (unsigned int w = 0; w < n; w++)
		if (b->lane[w]->r_frags == 0)
			rte_exit(EXIT_FAILURE,
				 "no fragment moved in %s (worker "
				 "%u)\n",
				 bench_mode_names[mode], w);
	if (r < 0)
		return;
	if (mode == BENCH_IO_FWD) {
		b->cpf[BENCH_IO_FWD][r] = (double)b->lane[0]->r_cycles /
					  (double)b->lane[0]->r_frags;
		return;
	}
	for (unsigned int w = 0; w < n; w++) {
		struct bench *l = b->lane[w];
		uint64_t c = l->r_cycles - RTE_MIN(l->r_harness, l->r_cycles);
		double lc = loop_cpu_cpf(l, l->r_frags, l->r_harness) *
			    (double)l->r_frags;

		t0 = RTE_MIN(t0, l->loop_t0);
		t1 = RTE_MAX(t1, l->loop_t1);
		frags += l->r_frags;
		cycles += c;
		harness += l->r_harness;
		cpu += lc;
		cpu_all += (double)l->loop_cpu_ns * (double)b->hz / 1e9;
		l->l_cpf[r] = (double)c / (double)l->r_frags;
		l->l_cpu_cpf[r] = lc / (double)l->r_frags;
		l->path_fragments += l->r_frags;
	}
	b->path_fragments += frags;
	b->cpf[BENCH_PATH][r] = (double)cycles / (double)frags;
	b->w_cpu_cpf[r] = cpu / (double)frags;
	b->lookup_cpf[r] = (double)harness / (double)frags;
	b->w_mpps[r] = (double)frags * (double)b->hz / (double)(t1 - t0) / 1e6;
	b->w_busy[r] = cpu_all / ((double)n * (double)(t1 - t0));
}

/* After the last round, no worker running: what one worker handed
 * another (copies of PROBE answers) and nobody took yet is processed,
 * so that every answer is counted where it went. */
static void
workers_drain(struct bench *b)
{
	struct rte_mbuf *pkts[SL_PATH_CAP];

	for (uint16_t w = 0; w < b->ws.n; w++) {
		struct sl_dp *dp = b->ws.dp[w];
		uint16_t n;

		while ((n = sl_steer_burst(dp, pkts, 0, SL_BURST)) != 0) {
			dp->now = rte_rdtsc();
			sl_dp_process(dp, pkts, n);
		}
	}
}

static void
workers_fini(struct bench *b)
{
	for (uint16_t w = 0; w < b->ws.n; w++) {
		struct bench *l = b->lane[w];

		for (unsigned int c = 0; c < BENCH_CLIENTS; c++)
			rte_pktmbuf_free(l->gen->scratch[c]);
		rte_free(l->gen->slots);
		rte_free(l->gen);
		rte_free(l);
		b->lane[w] = NULL;
	}
	b->dp = NULL;
	b->gen = NULL;
	sl_workers_fini(&b->ws);
}

/* ---- report ------------------------------------------------------------ */

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(const double *v, unsigned int n)
{
	double s[BENCH_MAX_ROUNDS];

	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static void
cpu_model(char *buf, size_t len)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];

	snprintf(buf, len, "unknown");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) != 0 || colon == NULL)
			continue;
		colon++;
		while (*colon == ' ' || *colon == '\t')
			colon++;
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(buf, len, "%s", colon);
		break;
	}
	fclose(f);
}

/* JSON strings here come from /proc and git: escape what JSON forbids. */
static void
json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(out, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(out, "\\u%04x", *s);
		else
			fputc(*s, out);
	}
	fputc('"', out);
}

static uint64_t
dp_drops_total(const struct sl_dp_counters *c)
{
	uint64_t sum = 0;

	for (unsigned int r = 1; r < SL_DROP_MAX; r++)
		sum += c->drops[r];
	return sum;
}

/*
 * What the checks and the report read: the dataplane's counters and the
 * harness's, for one worker as they are, for many added up (the workers'
 * stats snapshots, sl_workers_stats_take, which keep worker 0's liveness:
 * those are added here, each worker hears every PROBE answer).
 */
struct bench_tot {
	struct sl_dp_counters c;
	uint64_t acks, probe_answers, lookups, lookup_errors;
	uint64_t harness_drops;
	uint32_t flows_peak;    /* in one worker's table */
	uint32_t requests_peak; /* the ledger's, all workers */
	unsigned int copies;    /* workers each PROBE answer reaches */
};

static void
bench_totals(const struct bench *b, struct bench_tot *t)
{
	struct sl_stats *st;

	memset(t, 0, sizeof(*t));
	if (b->o.workers == 1) {
		t->c = b->dp->cnt;
		t->acks = b->gen->acks;
		t->probe_answers = b->gen->probe_answers;
		t->lookups = b->gen->lookups;
		t->lookup_errors = b->gen->lookup_errors;
		t->harness_drops = b->harness_drops;
		t->flows_peak = b->flows_peak;
		t->requests_peak = b->requests_peak;
		t->copies = 1;
		return;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL ||
	    sl_workers_stats_take((struct sl_workers *)&b->ws, st) != 0)
		rte_exit(EXIT_FAILURE, "cannot take the workers' stats\n");
	t->c = st->dp;
	free(st);
	memset(&t->c.live, 0, sizeof(t->c.live));
	for (uint16_t w = 0; w < b->ws.n; w++) {
		const struct bench *l = b->lane[w];
		const struct sl_live_counters *live = &l->dp->cnt.live;

#define BENCH_LIVE_ADD(m, kind, prom, help) t->c.live.m += live->m;
		SL_STATS_LIVE(BENCH_LIVE_ADD)
#undef BENCH_LIVE_ADD
		t->acks += l->gen->acks;
		t->probe_answers += l->gen->probe_answers;
		t->lookups += l->gen->lookups;
		t->lookup_errors += l->gen->lookup_errors;
		t->harness_drops += l->harness_drops;
		t->flows_peak = RTE_MAX(t->flows_peak, l->flows_peak);
		t->requests_peak = RTE_MAX(t->requests_peak, l->requests_peak);
	}
	t->copies = b->ws.n;
}

/* Medians over the rounds and what is derived from them. */
struct bench_summary {
	double med[BENCH_MODE_MAX];
	double best[BENCH_MODE_MAX]; /* noise only ever adds cycles */
	double stage[SL_STAGE_MAX];
	double stage_sum;
	double hk;
	double lookups;   /* harness look-ups taken out of the path */
	double ratio;     /* path / io-fwd */
	double ratio_net; /* both without the harness fill; < 0: unknown */
	double mpps;
	/* Every N: aggregate Mpps by the wall clock (median, highest,
	 * (max - min) / median), cycles per fragment per worker from CPU
	 * time. */
	double w_mpps, w_mpps_best, w_spread, w_cpu, w_busy;
	uint64_t drops;
	long cores;
	char model[128];
	char date[32];
};

static void
summarise(const struct bench *b, const struct bench_tot *t,
	  struct bench_summary *sm)
{
	const unsigned int n = b->o.rounds;
	time_t now = time(NULL);
	struct tm tm;

	memset(sm, 0, sizeof(*sm));
	cpu_model(sm->model, sizeof(sm->model));
	sm->cores = sysconf(_SC_NPROCESSORS_ONLN);
	gmtime_r(&now, &tm);
	strftime(sm->date, sizeof(sm->date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	for (int m = 0; m < BENCH_MODE_MAX; m++) {
		sm->med[m] = median(b->cpf[m], n);
		sm->best[m] = b->cpf[m][0];
		for (unsigned int r = 1; r < n; r++)
			sm->best[m] = RTE_MIN(sm->best[m], b->cpf[m][r]);
	}
	for (int s = SL_STAGE_PARSE; s < SL_STAGE_MAX; s++) {
		sm->stage[s] = median(b->stage_cpf[s], n);
		sm->stage_sum += sm->stage[s];
	}
	sm->hk = median(b->hk_cpf, n);
	sm->lookups = median(b->lookup_cpf, n);
	sm->ratio = sm->med[BENCH_PATH] / sm->med[BENCH_IO_FWD];
	/* Per round, fill and io-fwd ran back to back; a round where noise
	 * made the fill dearer than io-fwd says nothing and is left out. */
	{
		double net[BENCH_MAX_ROUNDS];
		unsigned int k = 0;

		for (unsigned int r = 0; r < n; r++) {
			double io =
				b->cpf[BENCH_IO_FWD][r] - b->cpf[BENCH_FILL][r];

			if (io > 0)
				net[k++] = (b->cpf[BENCH_PATH][r] -
					    b->cpf[BENCH_FILL][r]) /
					   io;
		}
		sm->ratio_net = k != 0 ? median(net, k) : -1;
	}
	sm->mpps = (double)b->hz / sm->med[BENCH_PATH] / 1e6;
	sm->w_mpps = median(b->w_mpps, n);
	sm->w_mpps_best = b->w_mpps[0];
	{
		double lo = b->w_mpps[0];

		for (unsigned int r = 1; r < n; r++) {
			sm->w_mpps_best =
				RTE_MAX(sm->w_mpps_best, b->w_mpps[r]);
			lo = RTE_MIN(lo, b->w_mpps[r]);
		}
		sm->w_spread = (sm->w_mpps_best - lo) / sm->w_mpps;
	}
	sm->w_cpu = median(b->w_cpu_cpf, n);
	sm->w_busy = median(b->w_busy, n);
	sm->drops = dp_drops_total(&t->c) + t->harness_drops;
}

/* The CPUs in @set, "0,1". */
static void
cpus_text(const rte_cpuset_t *set, char *buf, size_t len)
{
	size_t at = 0;

	buf[0] = '\0';
	for (unsigned int c = 0; c < CPU_SETSIZE && at < len; c++)
		if (CPU_ISSET(c, set))
			at += (size_t)snprintf(buf + at, len - at, "%s%u",
					       at ? "," : "", c);
}

/* The "workers" object, the same for every N (README.md, "Many
 * workers"): a script takes scaling = mpps(N) / (N * mpps(1)). */
static void
json_workers(const struct bench *b, const struct bench_summary *sm,
	     uint64_t steered, FILE *out)
{
	const unsigned int n = b->o.rounds;
	char cpus[256];

	fprintf(out, ", \"workers\": {\"n\": %u, \"mpps\": %.3f", b->o.workers,
		sm->w_mpps);
	fprintf(out, ", \"mpps_rounds\": [");
	for (unsigned int r = 0; r < n; r++)
		fprintf(out, "%s%.3f", r ? ", " : "", b->w_mpps[r]);
	fprintf(out,
		"], \"spread\": %.3f, \"cycles_per_frag_per_worker\": %.1f, "
		"\"cpu_cycles_per_frag_per_worker\": %.1f, "
		"\"busy\": %.3f, \"steered\": %" PRIu64 ", \"cpus\": [",
		sm->w_spread, sm->med[BENCH_PATH], sm->w_cpu, sm->w_busy,
		steered);
	for (unsigned int w = 0; w < b->o.workers; w++) {
		cpus_text(&b->lane[w]->cpus, cpus, sizeof(cpus));
		fprintf(out, "%s[%s]", w ? ", " : "", cpus);
	}
	fprintf(out, "], \"per_worker\": [");
	for (unsigned int w = 0; w < b->o.workers; w++) {
		const struct bench *l = b->lane[w];

		fprintf(out,
			"%s{\"lcore\": %u, \"fragments\": %" PRIu64
			", \"cycles_per_frag\": %.1f, "
			"\"cpu_cycles_per_frag\": %.1f}",
			w ? ", " : "", l->lcore, l->path_fragments,
			median(l->l_cpf, n), median(l->l_cpu_cpf, n));
	}
	fprintf(out, "]}");
}

static void
report_json(const struct bench *b, const struct bench_summary *sm, FILE *out)
{
	static const char *const mode_keys[BENCH_MODE_MAX] = {
		"fill", "io_fwd", "path", "profiled"};
	const struct bench_opts *o = &b->o;
	const struct sl_dp *dp = b->dp;

	fprintf(out, "{\"machine\": {\"cpu\": ");
	json_str(out, sm->model);
	fprintf(out, ", \"cores\": %ld, \"tsc_hz\": %" PRIu64 "}", sm->cores,
		b->hz);
	fprintf(out, ", \"commit\": ");
	json_str(out, o->commit);
	fprintf(out, ", \"date\": \"%s\"", sm->date);
	fprintf(out,
		", \"rounds\": %u, \"seconds\": %.2f, "
		"\"aux_seconds\": %.2f",
		o->rounds, o->seconds, o->aux_seconds);
	fprintf(out, ", \"fragments\": %" PRIu64, b->path_fragments);
	fprintf(out,
		", \"traffic\": {\"streams\": %u, "
		"\"fragments_per_stream\": %u, \"hops\": %u, "
		"\"frame_bytes\": [%u, %u], \"burst\": %u, "
		"\"flow_table\": %u, \"idle_timeout_ms\": %u, "
		"\"flows_peak\": %u}",
		o->streams, o->fragments, o->hops, b->gen->frame_min,
		b->gen->frame_max, SL_BURST, b->dp->flows->capacity, o->idle_ms,
		b->flows_peak);
	fprintf(out,
		", \"io_fwd_cycles\": %.1f, \"path_cycles\": %.1f, "
		"\"ratio\": %.2f, \"fill_cycles\": %.1f",
		sm->med[BENCH_IO_FWD], sm->med[BENCH_PATH], sm->ratio,
		sm->med[BENCH_FILL]);
	if (sm->ratio_net >= 0)
		fprintf(out, ", \"ratio_without_fill\": %.2f", sm->ratio_net);
	else
		fprintf(out, ", \"ratio_without_fill\": null");
	fprintf(out,
		", \"profiled_cycles\": %.1f, "
		"\"profile_overhead\": %.1f",
		sm->med[BENCH_PROFILED],
		sm->med[BENCH_PROFILED] - sm->med[BENCH_PATH]);
	fprintf(out, ", \"stage_cycles\": {");
	for (int s = SL_STAGE_PARSE; s < SL_STAGE_MAX; s++)
		fprintf(out, "%s\"%s\": %.1f", s == SL_STAGE_PARSE ? "" : ", ",
			sl_stage_name(s), sm->stage[s]);
	fprintf(out, ", \"housekeeping\": %.1f}", sm->hk);
	fprintf(out, ", \"per_round\": {");
	for (int m = 0; m < BENCH_MODE_MAX; m++) {
		fprintf(out, "%s\"%s\": [", m ? ", " : "", mode_keys[m]);
		for (unsigned int r = 0; r < o->rounds; r++)
			fprintf(out, "%s%.1f", r ? ", " : "", b->cpf[m][r]);
		fprintf(out, "]");
	}
	fprintf(out,
		"}, \"best\": {\"fill\": %.1f, \"io_fwd\": %.1f, "
		"\"path\": %.1f, \"ratio\": %.2f}",
		sm->best[BENCH_FILL], sm->best[BENCH_IO_FWD],
		sm->best[BENCH_PATH],
		sm->best[BENCH_PATH] / sm->best[BENCH_IO_FWD]);
	fprintf(out,
		", \"harness\": {\"acks\": %" PRIu64
		", \"probe_answers\": %" PRIu64 ", \"lookups\": %" PRIu64
		", \"lookup_errors\": %" PRIu64 ", \"lookup_cycles\": %.1f}",
		b->gen->acks, b->gen->probe_answers, b->gen->lookups,
		b->gen->lookup_errors, sm->lookups);
	fprintf(out,
		", \"rtx\": {\"kept\": %" PRIu64 ", \"evicted\": %" PRIu64
		", \"acks_rx\": %" PRIu64 ", \"acks_stale\": %" PRIu64
		", \"acks_tx\": %" PRIu64 ", \"end_resends\": %" PRIu64
		", \"gave_up\": %" PRIu64 "}",
		dp->cnt.rtx.kept, dp->cnt.rtx.evicted, dp->cnt.rtx.acks_rx,
		dp->cnt.rtx.acks_stale, dp->cnt.rtx.acks_tx,
		dp->cnt.rtx.end_resends, dp->cnt.rtx.gave_up);
	fprintf(out,
		", \"liveness\": {\"probe_ms\": %u, \"probes_sent\": %" PRIu64
		", \"probes_answered\": %" PRIu64
		", \"instances_died\": %" PRIu64 "}",
		b->cfg->probe_ms, dp->cnt.live.probes_sent,
		dp->cnt.live.probes_answered, dp->cnt.live.instances_died);
	fprintf(out,
		", \"quotas\": {\"client_streams\": %u, "
		"\"source_streams\": %u, \"tenant_streams\": %u, "
		"\"requests_peak\": %u, \"requests_refused\": %" PRIu64
		", \"requests_aborted\": %" PRIu64 "}",
		b->cfg->client_streams, b->cfg->source_streams,
		b->cfg->tenant_streams, b->requests_peak,
		dp->cnt.requests_refused, dp->cnt.requests_aborted);
	fprintf(out, ", \"drops_total\": %" PRIu64, sm->drops);
	fprintf(out, ", \"mpps_path\": %.2f", sm->mpps);
	json_workers(b, sm, dp->cnt.steered, out);
	fprintf(out, "}\n");
}

/* Every N: the aggregate (README.md, "Many workers"). */
static void
report_workers_line(const struct bench *b, const struct bench_summary *sm)
{
	printf("workers: %u, %.3f Mpps in all by the wall clock (median of "
	       "rounds, harness included; spread %.1f %%); per worker %.1f "
	       "cycles per fragment, %.1f by CPU time; busy %.0f %%\n",
	       b->o.workers, sm->w_mpps, 100 * sm->w_spread,
	       sm->med[BENCH_PATH], sm->w_cpu, 100 * sm->w_busy);
}

/*
 * Many workers: the fields of report_json that mean the same here (the
 * per-worker path and io-fwd on worker 0; counters summed over the
 * workers), the fill and the profiled mode, which did not run, left out.
 */
static void
report_workers_json(const struct bench *b, const struct bench_tot *t,
		    const struct bench_summary *sm, FILE *out)
{
	const struct bench_opts *o = &b->o;
	const struct sl_dp_counters *c = &t->c;

	fprintf(out, "{\"machine\": {\"cpu\": ");
	json_str(out, sm->model);
	fprintf(out, ", \"cores\": %ld, \"tsc_hz\": %" PRIu64 "}", sm->cores,
		b->hz);
	fprintf(out, ", \"commit\": ");
	json_str(out, o->commit);
	fprintf(out, ", \"date\": \"%s\"", sm->date);
	fprintf(out, ", \"rounds\": %u, \"seconds\": %.2f", o->rounds,
		o->seconds);
	fprintf(out, ", \"fragments\": %" PRIu64, b->path_fragments);
	fprintf(out,
		", \"traffic\": {\"streams\": %u, "
		"\"fragments_per_stream\": %u, \"hops\": %u, "
		"\"frame_bytes\": [%u, %u], \"burst\": %u, "
		"\"flow_table\": %u, \"idle_timeout_ms\": %u, "
		"\"flows_peak\": %u}",
		o->streams, o->fragments, o->hops, b->gen->frame_min,
		b->gen->frame_max, SL_BURST, b->ws.dp[0]->flows->capacity,
		o->idle_ms, t->flows_peak);
	fprintf(out,
		", \"io_fwd_cycles\": %.1f, \"path_cycles\": %.1f, "
		"\"ratio\": %.2f",
		sm->med[BENCH_IO_FWD], sm->med[BENCH_PATH], sm->ratio);
	fprintf(out, ", \"per_round\": {\"io_fwd\": [");
	for (unsigned int r = 0; r < o->rounds; r++)
		fprintf(out, "%s%.1f", r ? ", " : "", b->cpf[BENCH_IO_FWD][r]);
	fprintf(out, "], \"path\": [");
	for (unsigned int r = 0; r < o->rounds; r++)
		fprintf(out, "%s%.1f", r ? ", " : "", b->cpf[BENCH_PATH][r]);
	fprintf(out,
		"]}, \"best\": {\"io_fwd\": %.1f, \"path\": %.1f, "
		"\"ratio\": %.2f}",
		sm->best[BENCH_IO_FWD], sm->best[BENCH_PATH],
		sm->best[BENCH_PATH] / sm->best[BENCH_IO_FWD]);
	fprintf(out,
		", \"harness\": {\"acks\": %" PRIu64
		", \"probe_answers\": %" PRIu64 ", \"lookups\": %" PRIu64
		", \"lookup_errors\": %" PRIu64 ", \"lookup_cycles\": %.1f}",
		t->acks, t->probe_answers, t->lookups, t->lookup_errors,
		sm->lookups);
	fprintf(out,
		", \"rtx\": {\"kept\": %" PRIu64 ", \"evicted\": %" PRIu64
		", \"acks_rx\": %" PRIu64 ", \"acks_stale\": %" PRIu64
		", \"acks_tx\": %" PRIu64 ", \"end_resends\": %" PRIu64
		", \"gave_up\": %" PRIu64 "}",
		c->rtx.kept, c->rtx.evicted, c->rtx.acks_rx, c->rtx.acks_stale,
		c->rtx.acks_tx, c->rtx.end_resends, c->rtx.gave_up);
	fprintf(out,
		", \"liveness\": {\"probe_ms\": %u, \"probes_sent\": %" PRIu64
		", \"probes_answered\": %" PRIu64
		", \"instances_died\": %" PRIu64 "}",
		b->cfg->probe_ms, c->live.probes_sent, c->live.probes_answered,
		c->live.instances_died);
	fprintf(out,
		", \"quotas\": {\"client_streams\": %u, "
		"\"source_streams\": %u, \"tenant_streams\": %u, "
		"\"requests_peak\": %u, \"requests_refused\": %" PRIu64
		", \"requests_aborted\": %" PRIu64 "}",
		b->cfg->client_streams, b->cfg->source_streams,
		b->cfg->tenant_streams, t->requests_peak, c->requests_refused,
		c->requests_aborted);
	fprintf(out, ", \"drops_total\": %" PRIu64, sm->drops);
	json_workers(b, sm, c->steered, out);
	fprintf(out, "}\n");
}

static void
report_workers_table(const struct bench *b, const struct bench_tot *t,
		     const struct bench_summary *sm)
{
	static const char *const rows[] = {
		"io-fwd (worker 0)",
		"path per worker",
		"path per worker, CPU",
		"Mpps, all workers",
	};
	const struct bench_opts *o = &b->o;
	const struct sl_dp_counters *c = &t->c;
	char cpus[256];

	printf("sluice dataplane bench: %s, %ld cores, TSC %.3f GHz, commit "
	       "%s, %s\n",
	       sm->model, sm->cores, (double)b->hz / 1e9, o->commit, sm->date);
	printf("traffic: %u workers, each %u concurrent requests of 3 streams "
	       "(%u of %u fragments, %u of 1), frames %u-%u B, burst %u\n",
	       o->workers, o->streams, o->hops, o->fragments,
	       BENCH_MAX_HOPS - o->hops, b->gen->frame_min, b->gen->frame_max,
	       SL_BURST);
	printf("rounds: %u; io-fwd (worker 0 alone) and path (all workers at "
	       "once) %.1f s each; TSC cycles per fragment\n\n",
	       o->rounds, o->seconds);
	printf("%-22s", "");
	for (unsigned int r = 0; r < o->rounds; r++)
		printf("  round%-2u", r + 1);
	printf("   median     best\n");
	for (unsigned int k = 0; k < RTE_DIM(rows); k++) {
		const double *v = k == 0   ? b->cpf[BENCH_IO_FWD]
				  : k == 1 ? b->cpf[BENCH_PATH]
				  : k == 2 ? b->w_cpu_cpf
					   : b->w_mpps;
		double best = v[0];

		printf("%-22s", rows[k]);
		for (unsigned int r = 0; r < o->rounds; r++) {
			printf(" %8.*f", k == 3 ? 3 : 1, v[r]);
			best = k == 3 ? RTE_MAX(best, v[r])
				      : RTE_MIN(best, v[r]);
		}
		printf(" %8.*f %8.*f\n", k == 3 ? 3 : 1, median(v, o->rounds),
		       k == 3 ? 3 : 1, best);
	}
	printf("\n");
	report_workers_line(b, sm);
	printf("path per worker / io-fwd         %6.2f x  (best rounds: %.2f "
	       "x)\n",
	       sm->ratio, sm->best[BENCH_PATH] / sm->best[BENCH_IO_FWD]);
	for (unsigned int w = 0; w < o->workers; w++) {
		const struct bench *l = b->lane[w];

		cpus_text(&l->cpus, cpus, sizeof(cpus));
		printf("  worker %u: lcore %u on CPU %s, %" PRIu64
		       " fragments, %.1f cycles per fragment (CPU time %.1f)\n",
		       w, l->lcore, cpus, l->path_fragments,
		       median(l->l_cpf, o->rounds),
		       median(l->l_cpu_cpf, o->rounds));
	}
	printf("steered: %" PRIu64 " frames handed to another worker (the "
	       "copies of the harnesses' %" PRIu64 " PROBE answers)\n",
	       c->steered, t->probe_answers);
	printf("harness look-ups and id choice %.1f cycles per fragment "
	       "(taken out of the per-worker cycles)\n",
	       sm->lookups);
	printf("\nframes through sl_dp_process: %" PRIu64 " (all workers, all "
	       "rounds, warm-ups and drains included), of them %" PRIu64
	       " ACKs and %u x %" PRIu64 " PROBE answers from the harnesses\n",
	       c->rx_packets, t->acks, t->copies, t->probe_answers);
	printf("flows: %" PRIu64 " created, %" PRIu64 " ended, %" PRIu64
	       " expired idle; table %u per worker, peak %u in use\n",
	       c->flows.created, c->flows.ended, c->flows.expired,
	       b->ws.dp[0]->flows->capacity, t->flows_peak);
	printf("requests in flight: peak %u (client_streams %u, "
	       "source_streams %u, tenant_streams %u); refused %" PRIu64
	       ", aborted %" PRIu64 "\n",
	       t->requests_peak, b->cfg->client_streams, b->cfg->source_streams,
	       b->cfg->tenant_streams, c->requests_refused,
	       c->requests_aborted);
	printf("loss repair: %" PRIu64 " copies kept, %" PRIu64 " evicted "
	       "(bound %u over all workers); ACKs in %" PRIu64 " (%" PRIu64
	       " stale), out %" PRIu64 "; END resends %" PRIu64
	       ", gave up %" PRIu64 "\n",
	       c->rtx.kept, c->rtx.evicted, SL_POOL_MBUFS / 4, c->rtx.acks_rx,
	       c->rtx.acks_stale, c->rtx.acks_tx, c->rtx.end_resends,
	       c->rtx.gave_up);
	printf("liveness: probe_ms %u, %" PRIu64 " PROBEs (worker 0), %" PRIu64
	       " answers taken (all workers), %" PRIu64 " instances died\n",
	       b->cfg->probe_ms, c->live.probes_sent, c->live.probes_answered,
	       c->live.instances_died);
	printf("drops: %" PRIu64 "\n", sm->drops);
}

static void
report_table(const struct bench *b, const struct bench_summary *sm)
{
	const struct bench_opts *o = &b->o;
	const struct sl_dp *dp = b->dp;

	printf("sluice dataplane bench: %s, %ld cores, TSC %.3f GHz, commit "
	       "%s, %s\n",
	       sm->model, sm->cores, (double)b->hz / 1e9, o->commit, sm->date);
	printf("traffic: %u concurrent requests of 3 streams (%u of %u "
	       "fragments, %u of 1), frames %u-%u B, burst %u\n",
	       o->streams, o->hops, o->fragments, BENCH_MAX_HOPS - o->hops,
	       b->gen->frame_min, b->gen->frame_max, SL_BURST);
	printf("rounds: %u; io-fwd and path %.1f s, fill and profiled %.1f s "
	       "each; TSC cycles per fragment\n\n",
	       o->rounds, o->seconds, o->aux_seconds);
	printf("%-22s", "");
	for (unsigned int r = 0; r < o->rounds; r++)
		printf("  round%-2u", r + 1);
	printf("   median     best\n");
	for (int m = 0; m < BENCH_MODE_MAX; m++) {
		printf("%-22s", bench_mode_names[m]);
		for (unsigned int r = 0; r < o->rounds; r++)
			printf(" %8.1f", b->cpf[m][r]);
		printf(" %8.1f %8.1f\n", sm->med[m], sm->best[m]);
	}
	printf("\npath / io-fwd                    %6.2f x  (aim: within 3 x; "
	       "best rounds: %.2f x)\n",
	       sm->ratio, sm->best[BENCH_PATH] / sm->best[BENCH_IO_FWD]);
	if (sm->ratio_net >= 0)
		printf("(path - fill) / (io-fwd - fill)  %6.2f x  (work once "
		       "the "
		       "frame is in memory; median of rounds)\n",
		       sm->ratio_net);
	else
		printf("(path - fill) / (io-fwd - fill)     n/a  (noise: fill "
		       "cost more than io-fwd in every round)\n");
	printf("path throughput                  %6.2f Mpps on one core\n",
	       sm->mpps);
	printf("\nper stage, profiled rounds (median cycles per fragment):\n");
	for (int s = SL_STAGE_PARSE; s < SL_STAGE_MAX; s++)
		printf("  %-13s %7.1f\n", sl_stage_name(s), sm->stage[s]);
	printf("  %-13s %7.1f\n", "housekeeping", sm->hk);
	printf("  %-13s %7.1f  (fill, ring, rx_burst, loop: profiled minus "
	       "the above)\n",
	       "rest", sm->med[BENCH_PROFILED] - sm->stage_sum - sm->hk);
	printf("  profiling overhead %+.1f cycles per fragment (profiled - "
	       "path)\n",
	       sm->med[BENCH_PROFILED] - sm->med[BENCH_PATH]);
	printf("  harness look-ups %.1f cycles per fragment (taken out of "
	       "path and profiled)\n",
	       sm->lookups);
	printf("\nframes through sl_dp_process: %" PRIu64 " (all rounds, "
	       "warm-ups and drains included), of them %" PRIu64
	       " ACKs and %" PRIu64 " PROBE answers from the harness\n",
	       dp->cnt.rx_packets, b->gen->acks, b->gen->probe_answers);
	printf("flows: %" PRIu64 " created, %" PRIu64 " ended, %" PRIu64
	       " expired idle; table %u, peak %u in use\n",
	       dp->cnt.flows.created, dp->cnt.flows.ended,
	       dp->cnt.flows.expired, dp->flows->capacity, b->flows_peak);
	printf("requests in flight: peak %u (client_streams %u, "
	       "source_streams %u, tenant_streams %u); refused %" PRIu64
	       ", aborted %" PRIu64 "\n",
	       b->requests_peak, b->cfg->client_streams, b->cfg->source_streams,
	       b->cfg->tenant_streams, dp->cnt.requests_refused,
	       dp->cnt.requests_aborted);
	printf("loss repair: %" PRIu64 " copies kept, %" PRIu64 " evicted "
	       "(bound %u); ACKs in %" PRIu64 " (%" PRIu64
	       " stale), out %" PRIu64 "; END resends %" PRIu64
	       ", gave up %" PRIu64 "\n",
	       dp->cnt.rtx.kept, dp->cnt.rtx.evicted, SL_POOL_MBUFS / 4,
	       dp->cnt.rtx.acks_rx, dp->cnt.rtx.acks_stale, dp->cnt.rtx.acks_tx,
	       dp->cnt.rtx.end_resends, dp->cnt.rtx.gave_up);
	printf("liveness: probe_ms %u, %" PRIu64 " PROBEs, %" PRIu64
	       " answered, %" PRIu64 " instances died\n",
	       b->cfg->probe_ms, dp->cnt.live.probes_sent,
	       dp->cnt.live.probes_answered, dp->cnt.live.instances_died);
	printf("drops: %" PRIu64 "\n", sm->drops);
	report_workers_line(b, sm);
}

static void
report(const struct bench *b, const struct bench_tot *t)
{
	struct bench_summary sm;

	summarise(b, t, &sm);
	if (b->o.json) {
		if (b->o.workers > 1)
			report_workers_json(b, t, &sm, stdout);
		else
			report_json(b, &sm, stdout);
	} else {
		if (b->o.workers > 1)
			report_workers_table(b, t, &sm);
		else
			report_table(b, &sm);
	}
	if (b->o.json_file != NULL) {
		FILE *f = fopen(b->o.json_file, "w");

		if (f == NULL) {
			fprintf(stderr, "cannot write %s: %s\n", b->o.json_file,
				strerror(errno));
			exit(EXIT_FAILURE);
		}
		if (b->o.workers > 1)
			report_workers_json(b, t, &sm, f);
		else
			report_json(b, &sm, f);
		fclose(f);
	}
}

/* One failed check: say what, and remember it. */
static void
fail(bool *bad, const char *fmt, ...)
{
	va_list ap;

	fputs("FAIL: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	*bad = true;
}

/*
 * Exit 1 if anything was lost, refused, repaired or left unanswered, or
 * the counters disagree: the run measured less (or other) work than it
 * claims. What came in is what went out plus the harness's ACKs and
 * PROBE answers, each taken by sluiced for the stream or instance it
 * names; every END was ACKed before its resend was due; no instance
 * died, no request was refused or aborted, no stream idled out. With
 * many workers (@t summed over them) each PROBE answer reaches every
 * worker, and only those copies were steered: every other frame was
 * its own worker's.
 */
static void
check(const struct bench_tot *t)
{
	const struct sl_dp_counters *c = &t->c;
	const uint64_t answers = t->copies * t->probe_answers;
	bool bad = false;

	for (unsigned int r = 1; r < SL_DROP_MAX; r++)
		if (c->drops[r] != 0)
			fail(&bad, "%" PRIu64 " fragments dropped as %s (%s)",
			     c->drops[r], sl_drop_name(r), sl_drop_text(r));
	if (t->harness_drops != 0)
		fail(&bad,
		     "%" PRIu64 " frames refused by the rx ring or the "
		     "null port",
		     t->harness_drops);
	if (t->lookup_errors != 0)
		fail(&bad,
		     "%" PRIu64 " of the harness's %" PRIu64 " look-ups "
		     "found no stream or no route",
		     t->lookup_errors, t->lookups);
	if (c->rx_packets != c->forwarded + t->acks + answers)
		fail(&bad,
		     "%" PRIu64 " frames in, %" PRIu64 " forwarded, %" PRIu64
		     " ACKs and %" PRIu64 " PROBE answers",
		     c->rx_packets, c->forwarded, t->acks, answers);
	if (c->rtx.acks_rx != t->acks || c->rtx.acks_stale != 0)
		fail(&bad,
		     "%" PRIu64 " ACKs sent, %" PRIu64 " taken by loss "
		     "repair, %" PRIu64 " of them for no stream waiting",
		     t->acks, c->rtx.acks_rx, c->rtx.acks_stale);
	if (c->live.probes_answered != answers)
		fail(&bad, "%" PRIu64 " PROBE answers sent, %" PRIu64 " taken",
		     answers, c->live.probes_answered);
	if (c->steered != (t->copies - 1) * t->probe_answers)
		fail(&bad,
		     "%" PRIu64 " frames steered to another worker, %" PRIu64
		     " expected (the copies of the PROBE answers): the "
		     "harness's requests are not all its worker's",
		     c->steered, (t->copies - 1) * t->probe_answers);
	if (c->rtx.gave_up != 0 || c->rtx.resent != 0 || c->rtx.nacks_tx != 0 ||
	    c->rtx.nacks_rx != 0)
		fail(&bad,
		     "loss repair worked on a lossless run: %" PRIu64
		     " ENDs never ACKed, %" PRIu64 " fragments resent, %" PRIu64
		     " NACKs out, %" PRIu64 " in",
		     c->rtx.gave_up, c->rtx.resent, c->rtx.nacks_tx,
		     c->rtx.nacks_rx);
	/* An ACK comes about 1,000 frames after its END; one later than
	 * SL_RTX_RTO_MS means the bench was stopped that long (another
	 * process on its core): sluiced resends, as it must. Said, not
	 * failed: nothing was lost. */
	if (c->rtx.end_resends != 0)
		fprintf(stderr,
			"note: %" PRIu64 " ENDs sent again: an ACK "
			"came later than %u ms (the bench was not running "
			"that long)\n",
			c->rtx.end_resends, SL_RTX_RTO_MS);
	if (c->live.instances_died != 0)
		fail(&bad, "%" PRIu64 " instance deaths",
		     c->live.instances_died);
	if (c->requests_refused != 0 || c->requests_aborted != 0)
		fail(&bad, "%" PRIu64 " requests refused, %" PRIu64 " aborted",
		     c->requests_refused, c->requests_aborted);
	if (c->flows.created != c->flows.ended || c->flows.expired != 0)
		fail(&bad,
		     "%" PRIu64 " streams created, %" PRIu64 " ended, %" PRIu64
		     " expired",
		     c->flows.created, c->flows.ended, c->flows.expired);
	if (bad) {
		fprintf(stderr,
			"FAIL: the numbers above measure a path that "
			"lost or refused work; fix the cause (flow table size, "
			"quotas, the harness) before reading them\n");
		exit(EXIT_FAILURE);
	}
}

/* Every mbuf is back in the pool once everything is freed: the bench
 * leaked none, and neither did the path it drove. */
static void
check_pool(const struct rte_mempool *pool, unsigned int in_use_start)
{
	unsigned int in_use = rte_mempool_in_use_count(pool);

	if (in_use != in_use_start) {
		fprintf(stderr,
			"FAIL: %u mbufs in use at the end, %u at the start: "
			"mbufs leaked\n",
			in_use, in_use_start);
		exit(EXIT_FAILURE);
	}
}

/* ---- main -------------------------------------------------------------- */

static void
usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [options] [-- EAL arguments]\n"
		"  --rounds N        alternating rounds, median reported (5)\n"
		"  --seconds S       length of an io-fwd and a path round (2)\n"
		"  --aux-seconds S   length of a fill and a profiled round "
		"(1)\n"
		"  --streams N       concurrent requests (1024)\n"
		"  --fragments N     fragments per stream (16)\n"
		"  --hops 1|2|3      streams per request of --fragments: the "
		"client's, then\n"
		"                    each stage's answer; the others are one "
		"fragment (3)\n"
		"  --flows N         flow table size (524288; 1048576 with "
		"--hops 1 or 2)\n"
		"  --idle-ms N       flow idle timeout (5000)\n"
		"  --workers N       worker lcores running the path at once, "
		"each with its own\n"
		"                    harness of --streams requests; N > 1: "
		"path rounds on all\n"
		"                    and io-fwd on worker 0 only; the --flows "
		"default\n"
		"                    grows with N (README.md) (1)\n"
		"  --commit STR      recorded in the report\n"
		"  --json            one JSON object instead of the table\n"
		"  --json-file PATH  the table on stdout, the JSON object in "
		"PATH\n",
		prog);
}

/* The CPUs this process may run on, into @cpus (CPU_SETSIZE long) if
 * not NULL; how many. */
static unsigned int
allowed_cpus(unsigned int *cpus)
{
	unsigned int n = 0;
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		for (unsigned int c = 0; c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &set)) {
				if (cpus != NULL)
					cpus[n] = c;
				n++;
			}
	if (n == 0) {
		if (cpus != NULL)
			cpus[0] = 0;
		n = 1;
	}
	return n;
}

/*
 * Many workers, EAL's --lcores unless the EAL arguments give lcores: as
 * sluiced's default, the main lcore 0 on the first CPU allowed and worker
 * lcores 1..N on the allowed CPUs from the second on, wrapping (on 2
 * CPUs, 4 workers: "0@0,1@1,2@0,3@1,4@0"). The main lcore sleeps while
 * the workers run.
 */
static char *
workers_lcores(unsigned int workers, char *buf, size_t len)
{
	unsigned int cpus[CPU_SETSIZE], n = allowed_cpus(cpus);
	size_t at;

	at = (size_t)snprintf(buf, len, "0@%u", cpus[0]);
	for (unsigned int w = 1; w <= workers && at < len; w++)
		at += (size_t)snprintf(buf + at, len - at, ",%u@%u", w,
				       cpus[w % n]);
	return buf;
}

static void
parse_opts(int argc, char **argv, struct bench_opts *o)
{
	static const struct option longopts[] = {
		{"rounds", required_argument, NULL, 'r'},
		{"seconds", required_argument, NULL, 's'},
		{"aux-seconds", required_argument, NULL, 'a'},
		{"streams", required_argument, NULL, 'S'},
		{"fragments", required_argument, NULL, 'F'},
		{"hops", required_argument, NULL, 'H'},
		{"flows", required_argument, NULL, 'f'},
		{"idle-ms", required_argument, NULL, 'i'},
		{"workers", required_argument, NULL, 'w'},
		{"commit", required_argument, NULL, 'c'},
		{"json", no_argument, NULL, 'j'},
		{"json-file", required_argument, NULL, 'J'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	*o = (struct bench_opts){
		.rounds = 5,
		.seconds = 2.0,
		.aux_seconds = 1.0,
		.streams = 1024,
		.fragments = 16,
		.hops = 3,
		.flows = 0, /* by --hops, below */
		.idle_ms = 5000,
		.workers = 1,
		.commit = "unknown",
	};
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			o->rounds = (unsigned int)atoi(optarg);
			break;
		case 's':
			o->seconds = atof(optarg);
			break;
		case 'a':
			o->aux_seconds = atof(optarg);
			break;
		case 'S':
			o->streams = (unsigned int)atoi(optarg);
			break;
		case 'F':
			o->fragments = (unsigned int)atoi(optarg);
			break;
		case 'H':
			o->hops = (unsigned int)atoi(optarg);
			break;
		case 'f':
			o->flows = (unsigned int)atoi(optarg);
			break;
		case 'i':
			o->idle_ms = (unsigned int)atoi(optarg);
			break;
		case 'w':
			o->workers = (unsigned int)atoi(optarg);
			break;
		case 'c':
			o->commit = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		case 'J':
			o->json_file = optarg;
			break;
		default:
			usage(argv[0]);
			exit(c == 'h' ? 0 : 2);
		}
	}
	/* Streams linger 1 s after their END (SL_FLOW_LINGER_MS): the table
	 * holds a second's worth of them, about 230,000 at 3.6 Mpps with
	 * three 16-fragment streams a request and 600,000 with --hops 1. */
	if (o->flows == 0) {
		o->flows = o->hops == BENCH_MAX_HOPS ? 524288 : 1048576;
		/* Many workers: each holds flows / N and needs what one
		 * worker alone needs, times its share of a CPU: the largest
		 * share is 1 / (N / CPUs, rounded down), on a CPU with the
		 * fewest workers (workers_lcores wraps them over the CPUs
		 * allowed). */
		if (o->workers > 1)
			o->flows = RTE_MIN(
				o->flows * o->workers /
					RTE_MAX(o->workers / allowed_cpus(NULL),
						1u),
				4194304u); /* flows.size's bound */
	}
	if (o->rounds < 1 || o->rounds > BENCH_MAX_ROUNDS || o->seconds <= 0 ||
	    o->aux_seconds <= 0 || o->streams < 1 || o->fragments < 1 ||
	    o->hops < 1 || o->hops > BENCH_MAX_HOPS || o->workers < 1 ||
	    o->workers > SL_WORKERS_MAX) {
		usage(argv[0]);
		exit(2);
	}
}

/*
 * --workers N > 1: set up, N rounds of io-fwd (worker 0) and the path
 * (all workers), report, check; then everything freed.
 */
static void
workers_main(struct bench *b)
{
	const struct bench_opts *o = &b->o;
	unsigned int distinct = 0;
	rte_cpuset_t all;
	struct bench_tot t;

	workers_setup(b);
	CPU_ZERO(&all);
	for (unsigned int w = 0; w < o->workers; w++)
		CPU_OR(&all, &all, &b->lane[w]->cpus);
	distinct = (unsigned int)CPU_COUNT(&all);
	if (distinct <
	    RTE_MIN(o->workers, (unsigned int)sysconf(_SC_NPROCESSORS_ONLN)))
		fprintf(stderr,
			"note: %u workers on %u CPU(s) of %ld: they take turns "
			"(give the bench more CPUs: no taskset, or --lcores)\n",
			o->workers, distinct, sysconf(_SC_NPROCESSORS_ONLN));

	/* Warm caches, the flow tables and the branch predictors. */
	workers_round(b, BENCH_IO_FWD, 0.2, -1);
	workers_round(b, BENCH_PATH, 0.3, -1);
	b->path_fragments = 0;
	for (unsigned int w = 0; w < o->workers; w++)
		b->lane[w]->path_fragments = 0;

	for (unsigned int r = 0; r < o->rounds; r++) {
		workers_round(b, BENCH_IO_FWD, o->seconds, (int)r);
		workers_round(b, BENCH_PATH, o->seconds, (int)r);
		if (!o->json)
			fprintf(stderr,
				"round %u/%u: io-fwd %.1f path per worker %.1f "
				"(CPU time %.1f), all workers %.3f Mpps\n",
				r + 1, o->rounds, b->cpf[BENCH_IO_FWD][r],
				b->cpf[BENCH_PATH][r], b->w_cpu_cpf[r],
				b->w_mpps[r]);
	}

	workers_drain(b);
	bench_totals(b, &t);
	report(b, &t);
	check(&t);
	workers_fini(b);
}

int
main(int argc, char **argv)
{
	char prefix[64], mem[24], lcores[512];
	char *eal_argv[64];
	int eal_argc = 0, rc, split = argc;
	bool lcores_given = false;
	unsigned int in_use_start;
	struct bench_tot t;
	struct bench *b;
	struct bench_opts o;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			split = i;
			break;
		}
	parse_opts(split, argv, &o);

	snprintf(prefix, sizeof(prefix), "--file-prefix=sl_bench_%d",
		 (int)getpid());
	eal_argv[eal_argc++] = argv[0];
	eal_argv[eal_argc++] = "--no-huge";
	/* As sluiced sizes it: the mbuf pool, then 3.5 KiB a flow table
	 * entry (dataplane/sluiced.c, eal_memory_mb). */
	snprintf(mem, sizeof(mem), "%" PRIu64,
		 128 + (((uint64_t)SL_POOL_MBUFS *
				 (RTE_MBUF_DEFAULT_BUF_SIZE +
				  sizeof(struct rte_mbuf) + 64) +
			 (uint64_t)o.flows * 3584) >>
			20));
	eal_argv[eal_argc++] = "-m";
	eal_argv[eal_argc++] = mem;
	eal_argv[eal_argc++] = "--no-pci";
	eal_argv[eal_argc++] = "--no-telemetry";
	eal_argv[eal_argc++] = prefix;
	eal_argv[eal_argc++] = "--vdev=net_null0";
	eal_argv[eal_argc++] = "--log-level=*:warning";
	for (int i = split + 1; i < argc; i++)
		if (strncmp(argv[i], "--lcores", 8) == 0 ||
		    strncmp(argv[i], "-l", 2) == 0 ||
		    strncmp(argv[i], "-c", 2) == 0)
			lcores_given = true;
	if (o.workers > 1 && !lcores_given) {
		eal_argv[eal_argc++] = "--lcores";
		eal_argv[eal_argc++] =
			workers_lcores(o.workers, lcores, sizeof(lcores));
	}
	for (int i = split + 1; i < argc && eal_argc < 63; i++)
		eal_argv[eal_argc++] = argv[i];
	eal_argv[eal_argc] = NULL;
	rc = rte_eal_init(eal_argc, eal_argv);
	if (rc < 0)
		rte_exit(EXIT_FAILURE, "cannot init EAL: %s\n",
			 rte_strerror(rte_errno));

	b = rte_zmalloc("bench", sizeof(*b), RTE_CACHE_LINE_SIZE);
	if (b == NULL)
		rte_exit(EXIT_FAILURE, "cannot allocate the bench\n");
	b->o = o;
	b->hz = rte_get_tsc_hz();
	b->cfg = bench_config(&o);
	/* sluiced's pool: its quotas and the copies kept for resends are
	 * fractions of it. With many workers, sluiced's driver for them
	 * (ring_mt_rts: workers may share a CPU). */
	if (o.workers > 1)
		b->pool = sl_pool_create_shared("bench_pool", SL_POOL_MBUFS,
						(int)rte_socket_id());
	else
		b->pool = rte_pktmbuf_pool_create(
			"bench_pool", SL_POOL_MBUFS, SL_POOL_CACHE, 0,
			RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
	if (b->pool == NULL)
		rte_exit(EXIT_FAILURE, "cannot create mempool: %s\n",
			 rte_strerror(rte_errno));
	in_use_start = rte_mempool_in_use_count(b->pool);
	if (o.workers > 1) {
		workers_main(b);
		goto done;
	}
	bench_ports(b);
	bench_dp(b);
	b->gen = gen_create(&o, b->pool, b->cfg, &b->dp->mac);
	b->lane[0] = b;
	b->lcore = rte_lcore_id();
	b->cpus = rte_lcore_cpuset(b->lcore);

	/* Warm caches, the flow table and the branch predictors. */
	run_round(b, BENCH_FILL, 0.1, NULL, NULL);
	run_round(b, BENCH_IO_FWD, 0.2, NULL, NULL);
	run_round(b, BENCH_PATH, 0.3, NULL, NULL);
	b->path_fragments = 0;
	b->path_cycles = 0;

	for (unsigned int r = 0; r < o.rounds; r++) {
		uint64_t frags, pfrags;

		b->cpf[BENCH_FILL][r] =
			run_round(b, BENCH_FILL, o.aux_seconds, NULL, NULL);
		b->cpf[BENCH_IO_FWD][r] =
			run_round(b, BENCH_IO_FWD, o.seconds, NULL, NULL);
		b->cpf[BENCH_PATH][r] = run_round(b, BENCH_PATH, o.seconds,
						  &pfrags, &b->lookup_cpf[r]);
		/* The figures every N has (README.md, "Many workers"). */
		b->w_mpps[r] = (double)pfrags * (double)b->hz /
			       (double)(b->loop_t1 - b->loop_t0) / 1e6;
		b->w_cpu_cpf[r] = loop_cpu_cpf(
			b, pfrags,
			(uint64_t)(b->lookup_cpf[r] * (double)pfrags));
		b->w_busy[r] = (double)b->loop_cpu_ns * (double)b->hz / 1e9 /
			       (double)(b->loop_t1 - b->loop_t0);
		b->l_cpf[r] = b->cpf[BENCH_PATH][r];
		b->l_cpu_cpf[r] = b->w_cpu_cpf[r];
		b->cpf[BENCH_PROFILED][r] = run_round(
			b, BENCH_PROFILED, o.aux_seconds, &frags, NULL);
		for (int s = SL_STAGE_PARSE; s < SL_STAGE_MAX; s++)
			b->stage_cpf[s][r] =
				(double)b->dp->prof[s].cycles / (double)frags;
		b->hk_cpf[r] = (double)b->hk_cycles / (double)frags;
		if (!o.json)
			fprintf(stderr,
				"round %u/%u: fill %.1f io-fwd %.1f "
				"path %.1f profiled %.1f\n",
				r + 1, o.rounds, b->cpf[BENCH_FILL][r],
				b->cpf[BENCH_IO_FWD][r], b->cpf[BENCH_PATH][r],
				b->cpf[BENCH_PROFILED][r]);
	}

	bench_totals(b, &t);
	report(b, &t);
	check(&t);

	sl_dp_fini(b->dp);
	rte_free(b->gen->slots);
	rte_free(b->gen);
done:
	sl_port_stop(b->ring_port);
	sl_port_stop(b->null_port);
	check_pool(b->pool, in_use_start);
	sl_config_free(b->cfg);
	sl_eal_cleanup(); /* and its runtime directory */
	return 0;
}
