/* SPDX-License-Identifier: MIT */
/*
 * fuzz_dataplane.c - libFuzzer harness for the packet path as sluiced
 * runs it: EAL without hugepages, a net_ring port, the packet mempool,
 * and a worker context (struct sl_dp) on a fixed pipeline file that has
 * every kind of stage and edge (fuzz_pipelines.h: a DAG with a split
 * edge, a buffer edge, top-k, concat, sum and count operators, guarded
 * edges that block, redact and put a prefix, aggregation with bounded
 * load, tenants with limits and sources, liveness, an idempotent stage).
 * EAL, the pool, the port and the compiled configs are made once per
 * process (LLVMFuzzerInitialize). The worker context lives across inputs
 * (sl_dp_init costs milliseconds) and every input ends with it holding
 * nothing, on config A, its instances revived by PROBE answers at the
 * next input's start; every 512 inputs it is stopped (sl_dp_fini must
 * give the pool back whole) and started again. A finding that needs the
 * inputs before it does not replay alone: FUZZ_TRACE=1 prints every
 * frame in and out, and the quiet-time checks below stop at the input
 * that broke a count.
 *
 * Input: byte 0 holds options (bit 0: the far ends ACK every END and
 * ABORT sluiced sends, as receivers do; else only the input's own ACKs
 * do). Then commands, each an opcode byte and its arguments (missing
 * bytes read as 0):
 *
 *   client fragment   a client's request (or a non-client's): source,
 *                     pipeline, tenant, request id, sequence, flags,
 *                     depth, tokens from a dictionary or raw bytes;
 *   engine answer     an instance answers a stream sluiced sent it (its
 *                     address, stage, ancestry and depth as received),
 *                     or, with a raw flag, any source with any fields;
 *   control           ACK, NACK or PROBE (with PAUSE) for a stream
 *                     sluiced sent, from its receiver;
 *   mutated frame     a fragment built as above, then bytes patched,
 *                     cut or extended, IPv4 options or padding added, or
 *                     split over two mbufs; or a raw frame;
 *   ARP               a request or reply to sluiced from any source,
 *                     any MAC;
 *   burst             run what was built through sl_dp_process (also
 *                     when 32 frames are waiting, and at the end);
 *   time              dp->now moves on (0 ms .. 5 s) and
 *                     sl_dp_housekeeping runs: expiry, NACK repeats, END
 *                     resends, PROBEs and liveness, neighbour retries;
 *   reconfigure       a snapshot with instances added, removed and
 *                     drained (same layout), or one with another graph,
 *                     published as sl_ctl does (no worker: adopted);
 *   shutdown          sl_dp_shutdown (every stream in flight ABORTed),
 *                     sl_dp_fini (the pool must be whole), and a fresh
 *                     worker for the rest of the input.
 *
 * Every frame sluiced sends is checked: ARP, or a valid frame and
 * fragment (sl_wire_parse_frame, sl_wire_parse) from sluiced's address
 * and port with a correct IPv4 checksum, to a client or an instance the
 * harness knows. ARP requests for those are answered with a real ARP
 * reply in the next burst; ACKs (option bit 0) are real control frames.
 *
 * After the commands, the far ends go quiet (every END and ABORT
 * ACKed, PROBEs unanswered) and time runs on in 500 ms steps until
 * nothing is left (at most 20 s): then the flow table is empty, no
 * key is pinned, no mbuf is held (the pool is back to its in-use count
 * before sl_dp_init), and every quota's count is back to zero (streams
 * and held mbufs per client address and tenant, streams and keys per
 * instance and stage, clients' streams). The counters must agree with
 * what the harness saw (every frame fed counted as received, every frame
 * taken off the ring counted as sent, none dropped at transmit), and
 * sl_dp_fini leaves the pool where it was. ASan/UBSan/LSan catch the
 * rest.
 *
 * Build and run: tests/fuzz/README.md.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "fuzz_eal.h"
#include "fuzz_pipelines.h"
#include "sl_config.h"
#include "sl_arp.h"
#include "sl_dp.h"
#include "sl_stream.h"
#include "sl_path.h"
#include "sl_port.h"
#include "sl_wire.h"
#include "sl_worker.h"

#define FZ_POOL_MBUFS 2047
#define FZ_RING 4096
#define FZ_FRAME_MAX 1600
#define FZ_RECENT 16
#define FZ_SEQS 64
#define FZ_QUIET_STEPS 40
#define FZ_RESTART_EVERY 512 /* inputs between worker restarts */
#define FZ_IP(a, b, c, d)                                                      \
	(((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) |                       \
	 ((uint32_t)(c) << 8) | (uint32_t)(d))
#define FZ_SLUICED_IP FZ_IP(10, 0, 0, 1)
#define FZ_SLUICED_PORT 7700

enum fz_cfg { FZ_CFG_A, FZ_CFG_B, FZ_CFG_C, FZ_CFG_MAX };

/* Who may send: the clients, a stranger, every instance of any config. */
struct fz_source {
	uint32_t ip;
	uint16_t port;
	uint32_t pipeline; /* wire id of the instance's pipeline; 0: client */
	uint16_t stage;    /* its stage id; 0: client */
	uint8_t depth;     /* depth of the streams it produces */
};

#define FZ_SOURCES_MAX 64
#define FZ_SRC_HASH 256 /* slots of the source index (power of two) */

/* A stream sluiced sent to an instance or a client, as received. */
struct fz_recent {
	struct sl_frag_hdr h;
	uint32_t dst_ip;
	uint16_t dst_port;
};

static struct {
	bool ready;
	struct rte_mempool *pool;
	uint16_t port_id;
	struct rte_ring *rx, *tx;
	struct rte_ether_addr mac;
	struct sl_config *cfg[FZ_CFG_MAX];
	struct fz_source src[FZ_SOURCES_MAX];
	unsigned int n_src;
	/* Index of src by address and port (open addressing; slot holds
	 * 1 + the source's index, 0: empty). */
	uint8_t src_at[FZ_SRC_HASH];
	struct sl_config *spare[FZ_CFG_MAX]; /* B, C: published before */
	enum fz_cfg cur_kind;                /* which config the worker runs */
	struct sl_dp *dp;                    /* the worker, across inputs */
	unsigned int in_use_base;            /* pool in use before sl_dp_init */
	unsigned long inputs;
} g;

/* One input's run. */
static struct {
	const uint8_t *in;
	size_t n, off;
	struct sl_dp *dp;
	struct sl_dp_counters c0; /* the worker's counters at the start */
	unsigned int reconfigs;
	unsigned int shutdowns;
	bool auto_ack;
	uint16_t n_burst;
	uint64_t fed;                        /* frames given to sl_dp_process */
	uint64_t taken;                      /* frames taken off the tx ring */
	struct fz_recent to_inst[FZ_RECENT]; /* streams sent to instances */
	unsigned int n_to_inst;
	struct fz_recent ends[FZ_RECENT]; /* END/ABORTs sent, for ACKs */
	unsigned int n_ends;
	struct {
		uint64_t key;
		uint32_t next;
	} seqs[FZ_SEQS];
	/* Last: r_reset leaves it (16 KiB; only burst[0..n_burst) is read). */
	struct rte_mbuf *burst[SL_PATH_CAP];
} r;

/* A fresh run: everything zero but the burst array's stale pointers. */
static void
r_reset(void)
{
	memset(&r, 0, offsetof(__typeof__(r), burst));
}

/* FUZZ_TRACE=1 in the environment: one line per frame in and out. */
static bool trace;

static void
trace_frag(const char *dir, uint32_t ip, uint16_t port,
	   const struct sl_frag_hdr *h)
{
	if (!trace)
		return;
	fprintf(stderr,
		"%s %u.%u.%u.%u:%u p%u s%u from %u t%u d%u [%llx %llx %llx] "
		"seq %u flags %02x abort %u children %u tokens %u\n",
		dir, ip >> 24, ip >> 16 & 255, ip >> 8 & 255, ip & 255, port,
		h->pipeline, h->stage, h->from_stage, h->tenant, h->depth,
		(unsigned long long)h->ancestry[0],
		(unsigned long long)h->ancestry[1],
		(unsigned long long)h->ancestry[2], h->seq, h->flags,
		h->abort_reason, h->child_count, h->token_count);
}

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_dataplane: %s\n", what);
	abort();
}

static uint8_t
next(void)
{
	return r.off < r.n ? r.in[r.off++] : 0;
}

static bool
more(void)
{
	return r.off < r.n;
}

static struct rte_ether_addr
mac_of(uint32_t ip)
{
	struct rte_ether_addr m = {{0x02, 0x00, (uint8_t)(ip >> 24),
				    (uint8_t)(ip >> 16), (uint8_t)(ip >> 8),
				    (uint8_t)ip}};

	return m;
}

/* ------------------------------------------------------------- process */

static unsigned int
src_hash(uint32_t ip, uint16_t port)
{
	uint32_t h = (ip ^ ((uint32_t)port << 16) ^ port) * 0x9e3779b1u;

	return h >> 24; /* FZ_SRC_HASH slots */
}

/* The source at @ip:@port, or NULL. Called for every frame sluiced
 * sends: a table look-up (a walk of every source, with a coverage
 * callback on each comparison, cost more than the rest of the check). */
static const struct fz_source *
source_at(uint32_t ip, uint16_t port)
{
	for (unsigned int h = src_hash(ip, port);;
	     h = (h + 1) & (FZ_SRC_HASH - 1)) {
		unsigned int k = g.src_at[h];

		if (k == 0)
			return NULL;
		if (g.src[k - 1].ip == ip && g.src[k - 1].port == port)
			return &g.src[k - 1];
	}
}

static void
add_source(uint32_t ip, uint16_t port, uint32_t pipeline, uint16_t stage,
	   uint8_t depth)
{
	unsigned int h;

	if (source_at(ip, port) != NULL)
		return;
	if (g.n_src == FZ_SOURCES_MAX)
		fail("too many sources");
	g.src[g.n_src++] = (struct fz_source){ip, port, pipeline, stage, depth};
	for (h = src_hash(ip, port); g.src_at[h] != 0;
	     h = (h + 1) & (FZ_SRC_HASH - 1))
		;
	g.src_at[h] = (uint8_t)g.n_src;
}

static void worker_stop(void);
static void all_zero_selftest(void);
static void publish(struct sl_config *next_cfg, enum fz_cfg kind);

static void
cleanup(void)
{
	if (!g.ready)
		return;
	if (g.dp != NULL) {
		r.dp = g.dp;
		if (g.dp->cfg != g.cfg[FZ_CFG_A])
			publish(g.cfg[FZ_CFG_A], FZ_CFG_A);
		worker_stop();
	}
	for (int i = 0; i < FZ_CFG_MAX; i++)
		sl_config_free(g.spare[i]);
	rte_eth_dev_stop(g.port_id);
	rte_eth_dev_close(g.port_id);
	for (int i = 0; i < FZ_CFG_MAX; i++)
		sl_config_free(g.cfg[i]);
	rte_mempool_free(g.pool);
	sl_eal_cleanup();
	g.ready = false;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const yaml[FZ_CFG_MAX] = {fuzz_yaml_a, fuzz_yaml_b,
						     fuzz_yaml_c};
	const char *what;
	char err[512];
	int rc;

	(void)argc;
	trace = getenv("FUZZ_TRACE") != NULL;
	fuzz_eal_init((*argv)[0], "fuzz_dataplane");
	g.pool = sl_pool_create("fz_pool", FZ_POOL_MBUFS, (int)rte_socket_id());
	g.rx = rte_ring_create("fz_rx", FZ_RING, (int)rte_socket_id(),
			       RING_F_SP_ENQ | RING_F_SC_DEQ);
	g.tx = rte_ring_create("fz_tx", FZ_RING, (int)rte_socket_id(),
			       RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (g.pool == NULL || g.rx == NULL || g.tx == NULL)
		fail("pool or rings");
	rc = rte_eth_from_rings("fz_port", &g.rx, 1, &g.tx, 1, rte_socket_id());
	if (rc < 0)
		fail("rte_eth_from_rings");
	g.port_id = (uint16_t)rc;
	if (sl_port_start(g.port_id, g.pool, &what) != 0)
		fail(what);
	rte_eth_macaddr_get(g.port_id, &g.mac);
	for (int i = 0; i < FZ_CFG_MAX; i++) {
		g.cfg[i] = sl_config_parse(yaml[i], strlen(yaml[i]),
					   "fuzz.yaml", err, sizeof(err));
		if (g.cfg[i] == NULL) {
			fprintf(stderr, "fuzz_dataplane: config %d: %s\n", i,
				err);
			exit(1);
		}
	}
	add_source(FZ_IP(10, 0, 1, 5), 40000, 0, 0, 1);
	add_source(FZ_IP(10, 0, 1, 6), 40001, 0, 0, 1);
	add_source(FZ_IP(10, 9, 9, 9), 5000, 0, 0, 1); /* no client */
	for (int c = 0; c < FZ_CFG_MAX; c++)
		for (uint16_t p = 0; p < g.cfg[c]->n_pipelines; p++) {
			const struct sl_pipeline_cfg *pl =
				&g.cfg[c]->pipelines[p];

			for (uint16_t s = 0; s < pl->n_stages; s++)
				for (uint16_t i = 0;
				     i < pl->stages[s].n_instances; i++)
					add_source(pl->stages[s]
							   .instances[i]
							   .ep.ip,
						   pl->stages[s]
							   .instances[i]
							   .ep.port,
						   pl->id, (uint16_t)(s + 1),
						   pl->stages[s].depth_in);
		}
	all_zero_selftest();
	g.ready = true;
	atexit(cleanup);
	return 0;
}

/* ------------------------------------------------------------- frames */

/* Ethernet/IPv4(+@opt words of options)/UDP around @dgram; return the
 * frame length, or 0 if it does not fit. */
static size_t
frame_wrap(uint8_t *buf, size_t cap, uint32_t src_ip, uint16_t src_port,
	   const uint8_t *dgram, size_t dlen, unsigned int opt, size_t trailer)
{
	size_t off =
		SL_ETHER_HDR_LEN + SL_IPV4_HDR_LEN + 4u * opt + SL_UDP_HDR_LEN;
	struct rte_ether_addr src = mac_of(src_ip);
	struct sl_frame_ends e = {
		.src_ip = src_ip,
		.dst_ip = FZ_SLUICED_IP,
		.src_port = src_port,
		.dst_port = FZ_SLUICED_PORT,
	};

	if (off + dlen + trailer > cap)
		return 0;
	memcpy(e.dst_mac, &g.mac, 6);
	memcpy(e.src_mac, &src, 6);
	sl_wire_frame_write(buf, &e, (uint16_t)dlen, (uint8_t)opt, 0x1234);
	memcpy(buf + off, dgram, dlen);
	memset(buf + off + dlen, 0xee, trailer);
	return off + dlen + trailer;
}

static void process(void);

/* Queue a frame for the next burst (processed when the burst fills). */
static void
feed(const uint8_t *frame, size_t len, unsigned int split_at)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(g.pool), *m2 = NULL;
	char *p;

	if (m == NULL)
		return; /* the dataplane holds the pool: nothing to send */
	if (split_at != 0 && split_at < len) {
		m2 = rte_pktmbuf_alloc(g.pool);
		if (m2 == NULL) {
			rte_pktmbuf_free(m);
			return;
		}
		p = rte_pktmbuf_append(m2, (uint16_t)(len - split_at));
		memcpy(p, frame + split_at, len - split_at);
		len = split_at;
	}
	p = rte_pktmbuf_append(m, (uint16_t)len);
	if (p == NULL)
		fail("rte_pktmbuf_append");
	memcpy(p, frame, len);
	if (m2 != NULL && rte_pktmbuf_chain(m, m2) != 0)
		fail("rte_pktmbuf_chain");
	if (trace) {
		struct sl_frame fr;
		struct sl_frag_hdr h;

		if (sl_wire_parse_frame(frame, len, &fr) == SL_WIRE_OK &&
		    sl_wire_parse_hdr(frame + fr.hdr_off, fr.dgram_len, &h) ==
			    SL_WIRE_OK)
			trace_frag(" in", fr.src_ip, fr.src_port, &h);
		else
			fprintf(stderr, " in %zu bytes, not a fragment\n", len);
	}
	r.burst[r.n_burst++] = m;
	if (r.n_burst == SL_BURST)
		process();
}

/* The far end of a hop answers an END or ABORT with an ACK. */
static void
ack(const struct fz_recent *e)
{
	uint8_t dgram[SL_WIRE_HDR_LEN], frame[FZ_FRAME_MAX];
	size_t dlen = sl_wire_encode_control(dgram, &e->h, SL_FRAG_F_ACK,
					     e->h.seq, 0, 0);
	size_t len = frame_wrap(frame, sizeof(frame), e->dst_ip, e->dst_port,
				dgram, dlen, 0, 0);

	feed(frame, len, 0);
}

static void
arp_frame(uint32_t sip, const struct rte_ether_addr *sha, uint16_t op,
	  uint32_t tip, bool broadcast)
{
	uint8_t frame[64] = {0};
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)frame;
	struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(eth + 1);

	if (broadcast)
		memset(&eth->dst_addr, 0xff, 6);
	else
		eth->dst_addr = g.mac;
	eth->src_addr = *sha;
	eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_ARP);
	arp->arp_hardware = RTE_BE16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = RTE_BE16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = RTE_ETHER_ADDR_LEN;
	arp->arp_plen = 4;
	arp->arp_opcode = rte_cpu_to_be_16(op);
	arp->arp_data.arp_sha = *sha;
	arp->arp_data.arp_sip = rte_cpu_to_be_32(sip);
	arp->arp_data.arp_tha = g.mac;
	arp->arp_data.arp_tip = rte_cpu_to_be_32(tip);
	feed(frame, sizeof(*eth) + sizeof(*arp), 0);
}

static void
remember(struct fz_recent *ring, unsigned int *n, const struct fz_recent *e)
{
	if (*n == FZ_RECENT) {
		memmove(ring, ring + 1, sizeof(*ring) * (FZ_RECENT - 1));
		*n = FZ_RECENT - 1;
	}
	ring[(*n)++] = *e;
}

/* Take everything sluiced sent off the ring and check it. */
static void
drain(void)
{
	struct rte_mbuf *out[64];
	unsigned int k;

	while ((k = rte_ring_dequeue_burst(g.tx, (void **)out, RTE_DIM(out),
					   NULL)) != 0) {
		r.taken += k;
		for (unsigned int i = 0; i < k; i++) {
			struct rte_mbuf *m = out[i];
			const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
			size_t len = rte_pktmbuf_data_len(m);
			struct sl_frame fr;
			struct sl_frag_hdr h;
			struct fz_recent e;
			enum sl_wire_status st;
			const struct fz_source *to;

			if (m->nb_segs != 1)
				fail("a multi-segment frame was sent");
			if (len >= 42 && p[12] == 0x08 && p[13] == 0x06) {
				const struct rte_arp_hdr *arp =
					(const struct rte_arp_hdr *)(p + 14);
				uint32_t tip =
					rte_be_to_cpu_32(arp->arp_data.arp_tip);

				if (rte_be_to_cpu_32(arp->arp_data.arp_sip) !=
				    FZ_SLUICED_IP)
					fail("an ARP frame not from sluiced");
				if (arp->arp_opcode ==
				    RTE_BE16(RTE_ARP_OP_REQUEST)) {
					/* Answer for any known address. */
					for (unsigned int s = 0; s < g.n_src;
					     s++)
						if (g.src[s].ip == tip) {
							struct rte_ether_addr
								sha = mac_of(
									tip);

							arp_frame(
								tip, &sha,
								RTE_ARP_OP_REPLY,
								FZ_SLUICED_IP,
								false);
							break;
						}
				}
				rte_pktmbuf_free(m);
				continue;
			}
			if (sl_wire_parse_frame(p, len, &fr) != SL_WIRE_OK ||
			    fr.src_ip != FZ_SLUICED_IP ||
			    fr.src_port != FZ_SLUICED_PORT ||
			    sl_wire_ipv4_sum(
				    p + SL_ETHER_HDR_LEN,
				    (size_t)(p[SL_ETHER_HDR_LEN] & 0xf) * 4) !=
				    0xffff ||
			    len != (size_t)fr.hdr_off + fr.dgram_len)
				fail("sluiced sent a bad frame");
			st = sl_wire_parse(p + fr.hdr_off, fr.dgram_len, &h);
			if (st != SL_WIRE_OK) {
				fprintf(stderr,
					"fuzz_dataplane: to %08x:%u: %s, "
					"bytes 3..5: %02x %02x %02x\n",
					fr.dst_ip, fr.dst_port,
					sl_wire_status_name(st),
					p[fr.hdr_off + 3], p[fr.hdr_off + 4],
					p[fr.hdr_off + 5]);
				fail("sluiced sent a bad fragment");
			}
			/* To an instance of some config, or a client (from
			 * whatever port its request came). */
			to = source_at(fr.dst_ip, fr.dst_port);
			if (to == NULL &&
			    (fr.dst_ip >> 8) != (FZ_IP(10, 0, 1, 0) >> 8)) {
				fprintf(stderr,
					"fuzz_dataplane: to %08x:%u: stage %u "
					"flags %02x seq %u\n",
					fr.dst_ip, fr.dst_port, h.stage,
					h.flags, h.seq);
				fail("sluiced sent to an unknown address");
			}
			if (trace)
				trace_frag("out", fr.dst_ip, fr.dst_port, &h);
			e.h = h;
			e.dst_ip = fr.dst_ip;
			e.dst_port = fr.dst_port;
			if (!(h.flags & SL_FRAG_F_CONTROL)) {
				if (to != NULL && to->stage != 0)
					remember(r.to_inst, &r.n_to_inst, &e);
				if (h.flags &
				    (SL_FRAG_F_END | SL_FRAG_F_ABORT)) {
					remember(r.ends, &r.n_ends, &e);
					if (r.auto_ack)
						ack(&e);
				}
			}
			rte_pktmbuf_free(m);
		}
	}
}

static void
process(void)
{
	uint16_t n = r.n_burst;

	r.n_burst = 0;
	r.fed += n;
	sl_dp_process(r.dp, r.burst, n);
	if (r.dp->n_out != 0 || r.dp->n_loop != 0)
		fail("work left staged after a burst");
	drain();
}

/* ------------------------------------------------------------- commands */

static const char *const words[] = {
	"Hello",
	" world",
	"\n",
	". ",
	"! ",
	"? ",
	"42",
	"7",
	"-3",
	"2.5",
	"1e3",
	"x",
	"Hsiao Yun-Hwa",
	"Hsiao ",
	"Yun-Hwa",
	"vx-123",
	"555-0199",
	"Ji-Yeon Park",
	",",
	"3,4,",
	"a claim.\n",
	"\xC3\xA9",
	"\xE2\x80\x8B",
	"",
	"Hs\xD0\xB0o Yun-Hwa",
	"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do "
	"eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim "
	"ad minim veniam, quis nostrud exercitation ullamco laboris nisi.",
	"9999999999999999999999",
	"nan",
	"\xF0\x9F\x98\x80",
	"-",
	"0.001\n",
	"\xE4\xB8\xAD\xE6\x96\x87\xE5\xAD\x97\xE7\xAC\xA6",
};

/* The next sequence of a stream the harness follows (key: its hash). */
static uint32_t
seq_next(uint64_t key)
{
	unsigned int i = (unsigned int)(key % FZ_SEQS);

	if (r.seqs[i].key != key) {
		r.seqs[i].key = key;
		r.seqs[i].next = 0;
	}
	return r.seqs[i].next++;
}

static uint64_t
stream_key(uint32_t ip, const struct sl_frag_hdr *h)
{
	uint64_t k = 0xcbf29ce484222325ull ^ ip;

	k = (k ^ h->pipeline) * 0x100000001b3ull;
	k = (k ^ h->stage) * 0x100000001b3ull;
	k = (k ^ h->depth) * 0x100000001b3ull;
	k = (k ^ h->tenant) * 0x100000001b3ull;
	for (unsigned int i = 0; i < h->depth && i < SL_ANCESTRY_MAX; i++)
		k = (k ^ h->ancestry[i]) * 0x100000001b3ull;
	return k;
}

/* Flags, sequence and tokens of a data fragment, from the input. */
static size_t
fragment_body(struct sl_frag_hdr *h, uint32_t src_ip, uint8_t *dgram,
	      size_t cap)
{
	struct sl_wire_builder b;
	uint8_t fl = next(), sq = next(), nt = next();

	switch (fl & 3) {
	case 0:
		h->flags = 0;
		break;
	case 1:
		h->flags = SL_FRAG_F_END;
		break;
	case 2:
		h->flags = SL_FRAG_F_ABORT | ((fl & 4) ? SL_FRAG_F_END : 0);
		h->abort_reason = (uint8_t)(1 + (fl >> 3) % (SL_ABORT_MAX - 1));
		break;
	case 3:
		h->flags = SL_FRAG_F_END | SL_FRAG_F_CHILDREN;
		h->child_count = fl >> 2;
		break;
	}
	if (fl == 0xff) /* anything, for the parser's sake */
		h->flags = next();
	h->seq = (sq & 0x80) ? seq_next(stream_key(src_ip, h)) : (sq & 0x7f);
	h->send_ns = 0;
	if (sl_wire_builder_init(&b, dgram, cap, h) != 0)
		fail("sl_wire_builder_init");
	for (unsigned int t = 0; t < (nt & 7u); t++) {
		uint8_t w = next();

		if (w < 0xc0) {
			const char *s = words[w % RTE_DIM(words)];

			(void)sl_wire_builder_add(&b, w, s, strlen(s));
		} else {
			uint8_t raw[64];
			size_t len = w & 0x3f;

			for (size_t i = 0; i < len; i++)
				raw[i] = next();
			(void)sl_wire_builder_add(&b, w, (const char *)raw,
						  len);
		}
	}
	return sl_wire_builder_finish(&b);
}

static const uint16_t tenants[] = {0, 1, 2, 77};

/* A client's request fragment, or a stranger's. */
static size_t
client_fragment(uint8_t *dgram, size_t cap, uint32_t *ip, uint16_t *port)
{
	uint8_t s = next(), pt = next(), rq = next();
	const struct fz_source *src = &g.src[s % 3];
	const struct sl_config *cfg = r.dp->cfg;
	struct sl_frag_hdr h;

	memset(&h, 0, sizeof(h));
	h.version = SL_WIRE_VERSION;
	h.pipeline = (pt & 7) < cfg->n_pipelines ? cfg->pipelines[pt & 7].id
						 : (uint32_t)(pt & 7) + 1;
	h.tenant = tenants[(pt >> 3) & 3];
	h.stage = (pt & 0x20) ? (uint16_t)(rq >> 4) : 0;
	h.depth = (pt & 0x40) ? (uint8_t)(1 + (rq >> 4) % 7) : 1;
	for (unsigned int i = 0; i < h.depth && i < SL_ANCESTRY_MAX; i++)
		h.ancestry[i] = i == 0 ? (uint64_t)(rq & 15) + 1 : next() & 3;
	*ip = src->ip;
	*port = src->port;
	return fragment_body(&h, src->ip, dgram, cap);
}

/* An instance's output for a stream it was sent, or anything from
 * anyone with the raw flag. */
static size_t
engine_fragment(uint8_t *dgram, size_t cap, uint32_t *ip, uint16_t *port)
{
	uint8_t k = next(), d = next();
	struct sl_frag_hdr h;

	memset(&h, 0, sizeof(h));
	h.version = SL_WIRE_VERSION;
	if (r.n_to_inst != 0 && !(k & 0x80)) {
		const struct fz_recent *e = &r.to_inst[k % r.n_to_inst];

		h.pipeline = e->h.pipeline;
		h.stage = e->h.stage;
		h.tenant = e->h.tenant;
		h.depth = e->h.depth;
		memcpy(h.ancestry, e->h.ancestry, sizeof(h.ancestry));
		*ip = e->dst_ip;
		*port = e->dst_port;
	} else {
		const struct fz_source *src = &g.src[k % g.n_src];

		h.pipeline = src->pipeline ? src->pipeline : 1;
		h.stage = src->stage;
		h.tenant = tenants[(k >> 5) & 3];
		h.depth = src->depth;
		h.ancestry[0] = (uint64_t)(d & 15) + 1;
		if (r.n_to_inst != 0)
			h.ancestry[0] =
				r.to_inst[d % r.n_to_inst].h.ancestry[0];
		*ip = src->ip;
		*port = src->port;
	}
	/* Deeper (a chain's engine may deepen), shallower, or as sent. */
	switch (d >> 5) {
	case 1:
		if (h.depth < SL_ANCESTRY_MAX)
			h.ancestry[h.depth++] = d & 3;
		break;
	case 2:
		if (h.depth > 1)
			h.ancestry[--h.depth] = 0;
		break;
	case 3:
		h.stage = (uint16_t)(d & 7);
		break;
	default:
		break;
	}
	return fragment_body(&h, *ip, dgram, cap);
}

static void
cmd_data(bool engine, bool mutate)
{
	uint8_t dgram[SL_WIRE_HDR_LEN + SL_WIRE_PAYLOAD_MAX + 64];
	uint8_t frame[FZ_FRAME_MAX + 128];
	uint32_t ip;
	uint16_t port;
	size_t dlen =
		engine ? engine_fragment(dgram, sizeof(dgram) - 64, &ip, &port)
		       : client_fragment(dgram, sizeof(dgram) - 64, &ip, &port);
	unsigned int opt = 0, split = 0;
	size_t trailer = 0, len;

	if (mutate) {
		uint8_t how = next();

		/* Patch header or token bytes. */
		for (unsigned int i = 0; i < (how & 3u); i++) {
			uint8_t at = next(), v = next();

			if (dlen > 0)
				dgram[at % dlen] = v;
		}
		switch (how >> 2 & 7) {
		case 1: /* cut short */
			dlen = dlen > 0 ? next() % dlen : 0;
			break;
		case 2: /* garbage after the datagram */
			for (unsigned int i = 0; i < 8; i++)
				dgram[dlen++] = next();
			break;
		case 3:
			opt = next() % 11;
			break;
		case 4:
			trailer = next() & 31;
			break;
		case 5:
			split = next();
			break;
		default:
			break;
		}
	}
	len = frame_wrap(frame, sizeof(frame), ip, port, dgram, dlen, opt,
			 trailer);
	if (len == 0)
		return;
	if (mutate && (next() & 7) == 0) {
		/* A byte of the Ethernet, IPv4 or UDP header. */
		uint8_t at = next();

		frame[at % 42] ^= next();
	}
	feed(frame, len, split);
}

static void
cmd_raw(void)
{
	uint8_t frame[256];
	size_t len = next();

	for (size_t i = 0; i < len; i++)
		frame[i] = next();
	if (len >= 14 && (frame[0] & 1))
		frame[0] &= 0xfe;
	feed(frame, len, 0);
}

static void
cmd_control(void)
{
	uint8_t kind = next(), which = next(), a = next(), b = next();
	uint8_t dgram[SL_WIRE_HDR_LEN], frame[FZ_FRAME_MAX];
	struct sl_frag_hdr h;
	uint32_t ip;
	uint16_t port;
	size_t dlen, len;

	if (r.n_ends + r.n_to_inst == 0)
		return;
	if ((which & 1) && r.n_ends != 0) {
		h = r.ends[(which >> 1) % r.n_ends].h;
		ip = r.ends[(which >> 1) % r.n_ends].dst_ip;
		port = r.ends[(which >> 1) % r.n_ends].dst_port;
	} else if (r.n_to_inst != 0) {
		h = r.to_inst[(which >> 1) % r.n_to_inst].h;
		ip = r.to_inst[(which >> 1) % r.n_to_inst].dst_ip;
		port = r.to_inst[(which >> 1) % r.n_to_inst].dst_port;
	} else {
		return;
	}
	switch (kind % 4) {
	case 0:
		dlen = sl_wire_encode_control(dgram, &h, SL_FRAG_F_ACK,
					      (kind & 4) ? a : h.seq, 0, 0);
		break;
	case 1:
		dlen = sl_wire_encode_control(dgram, &h, SL_FRAG_F_NACK,
					      (kind & 4) ? a : h.seq - a % 8,
					      1 + b % 40, 0);
		break;
	case 2:
		dlen = sl_wire_encode_control(
			dgram, &h,
			SL_FRAG_F_PROBE | ((kind & 4) ? SL_FRAG_F_PAUSE : 0), a,
			0, 0);
		break;
	default: /* a PROBE answer from any instance for its stage */
	{
		const struct fz_source *s = &g.src[a % g.n_src];

		h.pipeline = s->pipeline;
		h.stage = s->stage;
		ip = s->ip;
		port = s->port;
		dlen = sl_wire_encode_control(
			dgram, &h,
			SL_FRAG_F_PROBE | ((kind & 4) ? SL_FRAG_F_PAUSE : 0), b,
			0, 0);
		break;
	}
	}
	len = frame_wrap(frame, sizeof(frame), ip, port, dgram, dlen, 0, 0);
	feed(frame, len, 0);
}

static void
cmd_arp(void)
{
	uint8_t s = next(), how = next();
	const struct fz_source *src = &g.src[s % g.n_src];
	struct rte_ether_addr sha = mac_of(src->ip);
	uint32_t sip = src->ip;

	if (how & 1) /* another MAC for the same address */
		sha.addr_bytes[5] ^= (uint8_t)(next() | 1);
	if (how & 2)
		sip = FZ_IP(10, 0, 1, next()); /* any client address */
	if (how & 4)
		memset(&sha, 0, sizeof(sha));
	arp_frame(sip, &sha, (how & 8) ? RTE_ARP_OP_REPLY : RTE_ARP_OP_REQUEST,
		  (how & 16) ? FZ_IP(10, 0, 0, 2) : FZ_SLUICED_IP, how & 32);
}

static void
housekeeping(uint64_t ms)
{
	if (trace && ms != 500)
		fprintf(stderr, "time +%llu ms\n", (unsigned long long)ms);
	if (r.n_burst != 0)
		process();
	r.dp->now += r.dp->tsc_hz / 1000 * ms;
	sl_dp_housekeeping(r.dp);
	if (r.dp->n_out != 0 || r.dp->n_loop != 0)
		fail("work left staged after housekeeping");
	drain();
}

static void
cmd_time(void)
{
	static const uint64_t ms[] = {0, 1, 5, 20, 60, 200, 1100, 5000};

	housekeeping(ms[next() % RTE_DIM(ms)]);
}

/* Publish @next_cfg (config @kind) the way sl_ctl does (no worker:
 * adopted here). The snapshot it replaces is kept for the next switch to
 * its kind: a clone compiles its split patterns again, which would cost
 * more than the input. */
static void
publish(struct sl_config *next_cfg, enum fz_cfg kind)
{
	const struct sl_config *old = NULL;
	char err[256];

	if (sl_config_check_replace(r.dp->cfg, next_cfg, err, sizeof(err)) != 0)
		fail(err);
	sl_config_assign_uids(next_cfg, r.dp->cfg);
	next_cfg->generation = r.dp->cfg->generation + 1;
	sl_config_share_patterns(next_cfg, (struct sl_config *)r.dp->cfg);
	if (sl_dp_publish(r.dp, next_cfg, &old) != 0) {
		sl_config_share_patterns(next_cfg,
					 (struct sl_config *)r.dp->cfg);
		if (next_cfg != g.cfg[FZ_CFG_A])
			sl_config_free(next_cfg);
		fail("sl_dp_publish refused a config");
	}
	if (old != g.cfg[FZ_CFG_A]) {
		sl_config_free(g.spare[g.cur_kind]);
		g.spare[g.cur_kind] = (struct sl_config *)old;
	}
	g.cur_kind = kind;
	drain();
}

static void
cmd_reconfig(void)
{
	struct sl_config *next_cfg;
	enum fz_cfg kind;

	if (trace)
		fprintf(stderr, "reconfigure\n");
	if (r.reconfigs++ >= 2)
		return;
	kind = (enum fz_cfg)(1 + next() % 2);

	if (r.n_burst != 0)
		process();
	if (kind == g.cur_kind)
		return;
	next_cfg = g.spare[kind];
	g.spare[kind] = NULL;
	if (next_cfg == NULL)
		next_cfg = sl_config_clone(g.cfg[kind]);
	if (next_cfg == NULL)
		fail("sl_config_clone");
	publish(next_cfg, kind);
}

/* ------------------------------------------------------------- checks */

/* Whether @n bytes at @p (n a multiple of 128) are all zero, OR-ed 16
 * or 32 bytes at a time: the quota tables are 816 KiB, read after every
 * input, and memcmp against a zero table went through ASan's
 * interceptor (the shadow of both sides checked first) and read twice
 * as much. No ASan (plain loads of a table sluiced owns), no coverage
 * callbacks. */
typedef uint64_t fz_v2 __attribute__((vector_size(16), aligned(1)));
typedef uint64_t fz_v4 __attribute__((vector_size(32), aligned(1)));

static bool __attribute__((noinline, no_sanitize("address", "coverage")))
all_zero_sse(const void *p, size_t n)
{
	const fz_v2 *v = p;
	fz_v2 acc0 = {0, 0}, acc1 = {0, 0}, acc2 = {0, 0}, acc3 = {0, 0};

	for (size_t i = 0; i < n / sizeof(fz_v2); i += 4) {
		acc0 |= v[i];
		acc1 |= v[i + 1];
		acc2 |= v[i + 2];
		acc3 |= v[i + 3];
	}
	acc0 |= acc1 | acc2 | acc3;
	return (acc0[0] | acc0[1]) == 0;
}

static bool __attribute__((noinline, target("avx2"),
			   no_sanitize("address", "coverage")))
all_zero_avx2(const void *p, size_t n)
{
	const fz_v4 *v = p;
	fz_v4 acc0 = {0}, acc1 = {0}, acc2 = {0}, acc3 = {0};

	for (size_t i = 0; i < n / sizeof(fz_v4); i += 4) {
		acc0 |= v[i];
		acc1 |= v[i + 1];
		acc2 |= v[i + 2];
		acc3 |= v[i + 3];
	}
	acc0 |= acc1 | acc2 | acc3;
	return (acc0[0] | acc0[1] | acc0[2] | acc0[3]) == 0;
}

static bool __attribute__((no_sanitize("coverage")))
all_zero(const void *p, size_t n)
{
	static int avx2 = -1;

	if (avx2 < 0)
		avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
	return avx2 ? all_zero_avx2(p, n) : all_zero_sse(p, n);
}

/* all_zero sees one bit set anywhere, at any alignment, either way. */
static void
all_zero_selftest(void)
{
	static uint32_t t[1024 + 1];
	bool (*const way[])(const void *, size_t) = {
		all_zero_sse,
		__builtin_cpu_supports("avx2") ? all_zero_avx2 : all_zero_sse};

	for (unsigned int w = 0; w < RTE_DIM(way); w++) {
		for (size_t i = 0; i < RTE_DIM(t); i += 7) {
			t[i] = 1u << (i % 32);
			if (i < 1024 && way[w](t, 4096))
				fail("all_zero missed a count");
			if (i >= 1 && way[w](t + 1, 4096))
				fail("all_zero missed a count");
			t[i] = 0;
		}
		if (!way[w](t, 4096) || !way[w](t + 1, 4096))
			fail("all_zero saw a count in zeros");
	}
}

/* Tables of counts, walked without coverage callbacks on every
 * comparison (they would cost more than the input). */
static void __attribute__((noinline, no_sanitize("coverage"))) check_quiet(void)
{
	_Static_assert(sizeof(r.dp->led->src_use) % 128 == 0 &&
			       sizeof(r.dp->led->tenant_use) % 128 == 0,
		       "all_zero reads 128 bytes at a time");
	struct sl_dp *dp = r.dp;
	unsigned int in_use_base = g.in_use_base;

	if (dp->flows->active != 0 || dp->led->held_total != 0 ||
	    dp->led->held_by_clients != 0 || dp->led->client_streams != 0 ||
	    rte_mempool_in_use_count(g.pool) != in_use_base) {
		fprintf(stderr,
			"fuzz_dataplane: after %d s of quiet: %u flows, "
			"%u mbufs held (%u by clients), %u client streams, "
			"%u mbufs in use (%u before the worker)\n",
			FZ_QUIET_STEPS / 2, dp->flows->active,
			dp->led->held_total, dp->led->held_by_clients,
			dp->led->client_streams,
			rte_mempool_in_use_count(g.pool), in_use_base);
		fail("the dataplane still holds state after a quiet time");
	}
	if (!all_zero(dp->led->src_use, sizeof(dp->led->src_use)))
		fail("a client address's quota count did not return to zero");
	if (!all_zero(dp->led->tenant_use, sizeof(dp->led->tenant_use)))
		fail("a tenant's quota count did not return to zero");
	for (unsigned int u = 0; u < SL_MAX_INSTANCE_UIDS; u++)
		if (dp->inst[u].streams_active != 0 ||
		    dp->inst[u].keys_active != 0) {
			fprintf(stderr,
				"fuzz_dataplane: instance uid %u at %08x:%u: "
				"streams_active %u, keys_active %u\n",
				u, dp->inst[u].ip, dp->inst[u].port,
				dp->inst[u].streams_active,
				dp->inst[u].keys_active);
			fail("an instance's stream count did not return to "
			     "zero");
		}
	for (unsigned int p = 0; p < SL_MAX_PIPELINES; p++)
		for (unsigned int s = 0; s < SL_MAX_STAGES; s++)
			if (dp->stages[p][s].keys_active != 0)
				fail("a stage's key count did not return to "
				     "zero");
}

static void
check_counters(const struct sl_dp_counters *c0)
{
	const struct sl_dp_counters *c = &r.dp->cnt;

	if (c->rx_packets - c0->rx_packets != r.fed)
		fail("rx_packets is not the number of frames received");
	if (c->tx_packets - c0->tx_packets != r.taken)
		fail("tx_packets is not the number of frames sent");
	if (c->drops[SL_DROP_TX_FULL] != 0)
		fail("frames dropped at transmit");
	if (c->forwarded - c0->forwarded > c->tx_packets - c0->tx_packets)
		fail("more fragments forwarded than frames sent");
}

/* Every instance of the config in use answers a PROBE: alive, not
 * paused (the quiet time at the end of the last input killed them). */
static void
revive(void)
{
	const struct sl_config *cfg = r.dp->cfg;
	uint8_t dgram[SL_WIRE_HDR_LEN], frame[FZ_FRAME_MAX];

	for (uint16_t p = 0; p < cfg->n_pipelines; p++)
		for (uint16_t s = 0; s < cfg->pipelines[p].n_stages; s++) {
			const struct sl_stage_cfg *st =
				&cfg->pipelines[p].stages[s];

			for (uint16_t i = 0; i < st->n_instances; i++) {
				struct sl_frag_hdr h = {0};
				size_t dlen, len;

				h.pipeline = cfg->pipelines[p].id;
				h.stage = st->id;
				h.depth = 1;
				dlen = sl_wire_encode_control(
					dgram, &h, SL_FRAG_F_PROBE, 0, 0, 0);
				len = frame_wrap(frame, sizeof(frame),
						 st->instances[i].ep.ip,
						 st->instances[i].ep.port,
						 dgram, dlen, 0, 0);
				feed(frame, len, 0);
			}
		}
	while (r.n_burst != 0)
		process();
}

/* Every neighbour known, as on a network that answers ARP. */
static void
learn_all(void)
{
	for (unsigned int i = 0; i < g.n_src; i++) {
		struct rte_ether_addr m = mac_of(g.src[i].ip);
		enum sl_neigh_kind kind = sl_dp_neigh_kind(r.dp, g.src[i].ip);

		if (kind != SL_NEIGH_NONE)
			sl_neigh_learn(&r.dp->neigh, g.src[i].ip, &m, kind,
				       r.dp->now);
	}
}

/* Keys of bounded-load stages still pinned (each goes once it has been
 * idle and housekeeping's cursor passes it). */
static uint64_t
keys_pinned(void)
{
	uint64_t n = 0;

	for (unsigned int p = 0; p < SL_MAX_PIPELINES; p++)
		for (unsigned int s = 0; s < SL_MAX_STAGES; s++)
			n += r.dp->stages[p][s].keys_active;
	return n;
}

static void
trace_counters(const struct sl_dp_counters *c0)
{
	const struct sl_dp_counters *c = &r.dp->cnt;

	for (int i = 1; i < SL_DROP_MAX; i++)
		if (c->drops[i] != c0->drops[i])
			fprintf(stderr, "drops %s +%llu\n", sl_drop_name(i),
				(unsigned long long)(c->drops[i] -
						     c0->drops[i]));
	fprintf(stderr,
		"flows created +%llu ended +%llu expired +%llu; requests "
		"aborted +%llu refused +%llu; instances died +%llu; rtx kept "
		"+%llu gave_up +%llu untracked +%llu\n",
		(unsigned long long)(c->flows.created - c0->flows.created),
		(unsigned long long)(c->flows.ended - c0->flows.ended),
		(unsigned long long)(c->flows.expired - c0->flows.expired),
		(unsigned long long)(c->requests_aborted -
				     c0->requests_aborted),
		(unsigned long long)(c->requests_refused -
				     c0->requests_refused),
		(unsigned long long)(c->live.instances_died -
				     c0->live.instances_died),
		(unsigned long long)(c->rtx.kept - c0->rtx.kept),
		(unsigned long long)(c->rtx.gave_up - c0->rtx.gave_up),
		(unsigned long long)(c->rtx.untracked - c0->rtx.untracked));
}

/* The far ends ACK what ends, nothing else comes, and time runs on
 * until the dataplane holds nothing. */
static void
quiet(void)
{
	r.auto_ack = true;
	for (unsigned int i = 0; i < FZ_QUIET_STEPS; i++) {
		housekeeping(500);
		while (r.n_burst != 0)
			process();
		if (r.dp->flows->active == 0 && r.dp->led->held_total == 0 &&
		    rte_mempool_in_use_count(g.pool) == g.in_use_base &&
		    keys_pinned() == 0) {
			if (trace)
				fprintf(stderr, "quiet after %u steps\n",
					i + 1);
			break;
		}
	}
}

/* A fresh worker on config A, its start-up ARPs sent and quiet. */
static void
worker_start(void)
{
	g.dp = calloc(1, sizeof(*g.dp));
	if (g.dp == NULL)
		fail("out of memory");
	r.dp = g.dp;
	g.in_use_base = rte_mempool_in_use_count(g.pool);
	if (sl_dp_init(g.dp, g.cfg[FZ_CFG_A], g.port_id, g.pool) != 0)
		fail("sl_dp_init");
	if (rte_is_zero_ether_addr(&g.dp->mac))
		g.dp->mac = g.mac;
	learn_all();
	housekeeping(0);
	quiet();
}

static void
worker_stop(void)
{
	sl_dp_fini(g.dp);
	free(g.dp);
	g.dp = NULL;
	while (rte_ring_count(g.tx) != 0)
		drain();
	if (rte_mempool_in_use_count(g.pool) != g.in_use_base)
		fail("sl_dp_fini did not give every mbuf back");
}

/* sluiced stops: every stream in flight ends with ABORT (SHUTDOWN), every
 * request waiting gets ABORT; then the pool must be whole after
 * sl_dp_fini, and a fresh worker goes on with the rest of the input. */
static void
cmd_shutdown(void)
{
	const struct sl_config *cfg;

	if (trace)
		fprintf(stderr, "shutdown\n");
	if (r.shutdowns++ >= 1)
		return; /* a restart costs milliseconds: one per input */
	if (r.n_burst != 0)
		process();
	sl_dp_shutdown(r.dp, SL_ABORT_SHUTDOWN);
	if (r.dp->n_out != 0 || r.dp->n_loop != 0 || r.dp->n_ctrl != 0)
		fail("work left staged after sl_dp_shutdown");
	r.auto_ack = false; /* nobody answers a stopped sluiced */
	drain();
	/* What the far ends answered (ARP) never reaches it. */
	for (uint16_t i = 0; i < r.n_burst; i++)
		rte_pktmbuf_free(r.burst[i]);
	r.n_burst = 0;
	check_counters(&r.c0);
	cfg = r.dp->cfg;
	sl_dp_fini(g.dp);
	free(g.dp);
	g.dp = NULL;
	if (cfg != g.cfg[FZ_CFG_A]) {
		sl_config_free(g.spare[g.cur_kind]);
		g.spare[g.cur_kind] = (struct sl_config *)cfg;
	}
	g.cur_kind = FZ_CFG_A;
	while (rte_ring_count(g.tx) != 0)
		drain();
	if (rte_mempool_in_use_count(g.pool) != g.in_use_base)
		fail("sl_dp_fini did not give every mbuf back");
	worker_start();
	r.dp = g.dp;
	r.n_to_inst = r.n_ends = 0;
	learn_all();
	revive();
	r.fed = r.taken = 0;
	r.c0 = r.dp->cnt;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t opts;

	if (size < 1)
		return 0;
	r_reset();
	r.dp = g.dp;
	/* The worker lives across inputs (sl_dp_init costs milliseconds);
	 * every input ends with it holding nothing, and every so often it
	 * is stopped and the pool checked. */
	if (g.dp != NULL && ++g.inputs % FZ_RESTART_EVERY == 0)
		worker_stop();
	if (g.dp == NULL)
		worker_start();
	r_reset();
	r.dp = g.dp;
	r.in = data;
	r.n = size;
	opts = next();
	if (trace)
		fprintf(stderr, "input of %zu bytes\n", size);

	learn_all();
	revive();
	r.fed = r.taken = 0;
	r.c0 = r.dp->cnt;
	r.auto_ack = opts & 1;

	while (more()) {
		uint8_t op = next();

		switch (op % 16) {
		case 0:
		case 1:
		case 2:
		case 3:
			cmd_data(false, false);
			break;
		case 4:
		case 5:
		case 6:
		case 7:
			cmd_data(true, false);
			break;
		case 8:
			cmd_data(op & 0x10, true);
			break;
		case 9:
			cmd_control();
			break;
		case 10:
			cmd_raw();
			break;
		case 11:
			cmd_arp();
			break;
		case 13:
			if (op & 0x80) {
				cmd_shutdown();
				break;
			}
			/* fall through */
		case 12:
			if (r.n_burst != 0)
				process();
			break;
		case 14:
			cmd_time();
			break;
		case 15:
			if (op & 0x80)
				cmd_reconfig();
			else
				cmd_time();
			break;
		}
	}
	while (r.n_burst != 0)
		process();

	quiet();
	if (trace)
		trace_counters(&r.c0);
	check_quiet();
	check_counters(&r.c0);
	/* Config A again for the next input (nothing is in flight). */
	if (r.dp->cfg != g.cfg[FZ_CFG_A])
		publish(g.cfg[FZ_CFG_A], FZ_CFG_A);
	return 0;
}
