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
 *            admit, order, route, tx to null) + housekeeping each ms
 *   profiled the path with dp->profile set: per-stage cycles (dp->prof)
 *
 * The modes alternate round by round so that a noisy neighbour hits them
 * alike; the table reports medians. Any drop fails the run (exit 1): a
 * benchmark that drops measures less work than it claims.
 *
 * Usage: bench_dataplane [options] [-- extra EAL arguments]; see usage().
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
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
#include "sl_port.h"
#include "sl_wire.h"

#define BENCH_POOL_MBUFS 8191
#define BENCH_RING_SIZE 1024
#define BENCH_CLIENTS 16
#define BENCH_VARIANTS 8
#define BENCH_FRAME_MAX 192
#define BENCH_MAX_HOPS 3 /* client stream, stage 1 output, stage 2 output */
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
 */
static const char bench_yaml_fmt[] =
	"sluiced: {address: 10.77.0.1, port: 7700}\n"
	"flows: {size: %u, idle_timeout_ms: %u, reorder_window: 16}\n"
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

/* Token payloads: 2-4 tokens, ASCII and multi-byte UTF-8, frames 136-150 B. */
static const char *const bench_tokens[BENCH_VARIANTS][4] = {
	{" the", " cat"},
	{"Hi", "!"},
	{" \xc3\xbc" "ber", "s"},            /* " über" */
	{" a", " b", " c"},
	{"\xe6\x9d\xb1", "\xe4\xba\xac"},      /* two CJK characters */
	{"x", "y", "z", "."},
	{" na", "\xc3\xaf" "ve", "!"},       /* "ïve" */
	{"o", "k"},
};

/* A frame ready to copy; seq, flags and the request id are patched in. */
struct bench_tmpl {
	uint8_t frame[BENCH_FRAME_MAX];
	uint16_t len;
};

/* One concurrent request: its current stream and where it is in it. */
struct bench_slot {
	const struct bench_tmpl *tmpl;
	uint64_t request;
	uint32_t seq;
	uint32_t len; /* fragments in the current stream */
	uint8_t hop;
	bool idle;
};

struct bench_gen {
	struct rte_mempool *pool;
	struct bench_slot *slots;
	uint32_t n_slots;
	uint32_t cursor;
	uint32_t active;
	uint32_t fragments; /* per stream */
	uint32_t hops;
	uint16_t n_inst[BENCH_MAX_HOPS]; /* instances a hop's source is one of */
	bool draining;
	uint64_t next_request;
	uint16_t frame_min, frame_max;
	struct bench_tmpl tmpl[BENCH_MAX_HOPS][BENCH_CLIENTS][BENCH_VARIANTS];
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
	uint64_t harness_drops; /* ring or null port refused frames */
	uint64_t hk_cycles;     /* housekeeping, profiled rounds */
	uint32_t flows_peak;
	struct bench_gen *gen;
	/* per round, cycles per fragment */
	double cpf[BENCH_MODE_MAX][BENCH_MAX_ROUNDS];
	double stage_cpf[SL_STAGE_MAX][BENCH_MAX_ROUNDS];
	double hk_cpf[BENCH_MAX_ROUNDS];
	uint64_t path_fragments;
	uint64_t path_cycles;
};

/* ---- traffic ---------------------------------------------------------- */

static void
tmpl_build(struct bench_tmpl *t, unsigned int hop, unsigned int src,
	   unsigned int variant, const struct rte_ether_addr *dst_mac)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)t->frame;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
	struct sl_wire_builder b;
	struct sl_frag_hdr h = {
		.version = SL_WIRE_VERSION,
		.stage = (uint16_t)hop,
		.pipeline = BENCH_PIPELINE_ID,
		.depth = hop == 0 ? 1 : 2,
		.ancestry = {0, hop},
	};
	uint32_t src_ip;
	uint16_t src_port;
	size_t dgram;

	memset(t, 0, sizeof(*t));
	if (hop == 0) {
		src_ip = BENCH_CLIENT_IP(src);
		src_port = BENCH_CLIENT_PORT(src);
	} else {
		/* 10.77.0.11/12 are stage 1, .13/.14 stage 2 */
		src_ip = RTE_IPV4(10, 77, 0, 11 + 2 * (hop - 1) + src);
		src_port = 7800 + hop;
	}
	if (sl_wire_builder_init(&b, t->frame + SL_WIRE_FRAME_HDR_OFF,
				 sizeof(t->frame) - SL_WIRE_FRAME_HDR_OFF,
				 &h) != 0)
		rte_exit(EXIT_FAILURE, "cannot build template header\n");
	for (unsigned int k = 0; k < 4 && bench_tokens[variant][k]; k++) {
		const char *text = bench_tokens[variant][k];

		if (sl_wire_builder_add(&b, 1000 + k, text, strlen(text)) != 0)
			rte_exit(EXIT_FAILURE, "cannot add template token\n");
	}
	dgram = sl_wire_builder_finish(&b);

	rte_ether_addr_copy(dst_mac, &eth->dst_addr);
	eth->src_addr = (struct rte_ether_addr){
		{0x02, 0, 0, 0, (uint8_t)hop, (uint8_t)src}};
	eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV4);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16(sizeof(*ip) + sizeof(*udp) + dgram);
	ip->fragment_offset = RTE_BE16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->src_addr = rte_cpu_to_be_32(src_ip);
	ip->dst_addr = rte_cpu_to_be_32(BENCH_LISTEN_IP);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	udp->src_port = rte_cpu_to_be_16(src_port);
	udp->dst_port = rte_cpu_to_be_16(BENCH_LISTEN_PORT);
	udp->dgram_len = rte_cpu_to_be_16(sizeof(*udp) + dgram);
	t->len = (uint16_t)(SL_WIRE_FRAME_HDR_OFF + dgram);
}

static const struct bench_tmpl *
gen_tmpl(const struct bench_gen *g, uint64_t request, unsigned int hop)
{
	unsigned int src = hop == 0 ? request % BENCH_CLIENTS
				    : request % g->n_inst[hop];

	return &g->tmpl[hop][src][(request >> 4) % BENCH_VARIANTS];
}

static void
gen_start_request(struct bench_gen *g, struct bench_slot *s)
{
	s->request = g->next_request++;
	s->hop = 0;
	s->seq = 0;
	s->len = g->fragments;
	s->tmpl = gen_tmpl(g, s->request, 0);
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
		s->len = 1 + i % g->fragments;
		s->idle = false;
	}
	g->active = g->n_slots;
	g->cursor = 0;
	g->draining = false;
}

static inline void
gen_advance(struct bench_gen *g, struct bench_slot *s)
{
	if (++s->seq < s->len)
		return;
	if (++s->hop < g->hops) {
		s->seq = 0;
		s->len = g->fragments;
		s->tmpl = gen_tmpl(g, s->request, s->hop);
		return;
	}
	if (unlikely(g->draining)) {
		s->idle = true;
		g->active--;
		return;
	}
	gen_start_request(g, s);
}

/*
 * The receive DMA: up to @n frames, round robin over the slots. Returns
 * fewer only while draining.
 */
static inline uint16_t
gen_burst(struct bench_gen *g, struct rte_mbuf **pkts, uint16_t n)
{
	uint16_t i;

	if (unlikely(rte_pktmbuf_alloc_bulk(g->pool, pkts, n) != 0))
		rte_exit(EXIT_FAILURE, "mbuf pool empty: mbufs are leaking\n");
	for (i = 0; i < n && g->active != 0; i++) {
		struct bench_slot *s = &g->slots[g->cursor];
		struct rte_mbuf *m = pkts[i];
		uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);
		uint8_t *hdr = d + SL_WIRE_FRAME_HDR_OFF;
		const struct bench_tmpl *t;
		uint32_t seq_be;
		uint64_t req_be;

		while (unlikely(s->idle)) {
			if (++g->cursor == g->n_slots)
				g->cursor = 0;
			s = &g->slots[g->cursor];
		}
		t = s->tmpl;
		memcpy(d, t->frame, t->len);
		m->data_len = t->len;
		m->pkt_len = t->len;
		seq_be = rte_cpu_to_be_32(s->seq);
		req_be = rte_cpu_to_be_64(s->request);
		memcpy(hdr + SL_WIRE_OFF_SEQ, &seq_be, 4);
		memcpy(hdr + SL_WIRE_OFF_ANCESTRY, &req_be, 8);
		hdr[SL_WIRE_OFF_FLAGS] = s->seq + 1 == s->len ? SL_FRAG_F_END : 0;
		gen_advance(g, s);
		if (++g->cursor == g->n_slots)
			g->cursor = 0;
	}
	if (unlikely(i < n))
		rte_pktmbuf_free_bulk(pkts + i, n - i);
	return i;
}

static struct bench_gen *
gen_create(const struct bench_opts *o, struct rte_mempool *pool,
	   const struct sl_config *cfg, const struct rte_ether_addr *dst_mac)
{
	struct bench_gen *g = rte_zmalloc("bench_gen", sizeof(*g),
					  RTE_CACHE_LINE_SIZE);

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
	g->n_inst[0] = BENCH_CLIENTS;
	for (unsigned int h = 1; h < BENCH_MAX_HOPS; h++)
		g->n_inst[h] = cfg->pipelines[0].stages[h - 1].n_instances;
	for (unsigned int h = 0; h < BENCH_MAX_HOPS; h++)
		for (unsigned int s = 0; s < g->n_inst[h]; s++)
			for (unsigned int v = 0; v < BENCH_VARIANTS; v++) {
				struct bench_tmpl *t = &g->tmpl[h][s][v];

				tmpl_build(t, h, s, v, dst_mac);
				g->frame_min = RTE_MIN(g->frame_min, t->len);
				g->frame_max = RTE_MAX(g->frame_max, t->len);
			}
	return g;
}

/* ---- the timed loops --------------------------------------------------- */

static uint64_t
loop_fill(struct bench *b, uint64_t end, uint64_t *frags)
{
	struct rte_mbuf *pkts[SL_BURST];
	uint64_t n_total = 0, now, t0 = rte_rdtsc();

	do {
		uint16_t n = gen_burst(b->gen, pkts, SL_BURST);

		rte_pktmbuf_free_bulk(pkts, n);
		n_total += n;
		now = rte_rdtsc();
	} while (now < end);
	*frags = n_total;
	return now - t0;
}

static inline void
ring_put(struct bench *b, struct rte_mbuf **pkts, uint16_t n)
{
	unsigned int q = rte_ring_enqueue_burst(b->rx_ring, (void **)pkts, n,
						NULL);

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
		uint16_t n = gen_burst(b->gen, pkts, SL_BURST), rx, tx;

		ring_put(b, pkts, n);
		rx = rte_eth_rx_burst(b->ring_port, 0, pkts, SL_BURST);
		tx = rte_eth_tx_burst(b->null_port, 0, pkts, rx);
		if (unlikely(tx < rx)) {
			b->harness_drops += rx - tx;
			rte_pktmbuf_free_bulk(pkts + tx, rx - tx);
		}
		n_total += n;
		now = rte_rdtsc();
	} while (now < end);
	*frags = n_total;
	return now - t0;
}

/* One worker iteration, as sl_dp_worker does it. */
static inline uint16_t
path_iteration(struct bench *b, struct rte_mbuf **pkts, bool profiled)
{
	struct sl_dp *dp = b->dp;
	uint16_t n = gen_burst(b->gen, pkts, SL_BURST), rx;

	ring_put(b, pkts, n);
	rx = rte_eth_rx_burst(b->ring_port, 0, pkts, SL_BURST);
	dp->now = rte_rdtsc();
	if (rx != 0)
		sl_dp_process(dp, pkts, rx);
	if (dp->now >= dp->next_housekeeping) {
		uint64_t t0 = profiled ? rte_rdtsc() : 0;

		if (dp->flows->active > b->flows_peak)
			b->flows_peak = dp->flows->active;
		sl_dp_housekeeping(dp);
		dp->next_housekeeping = dp->now + b->hk_interval;
		if (profiled)
			b->hk_cycles += rte_rdtsc() - t0;
	}
	return n;
}

static uint64_t
loop_path(struct bench *b, uint64_t end, uint64_t *frags, bool profiled)
{
	struct rte_mbuf *pkts[SL_PATH_CAP];
	struct sl_dp *dp = b->dp;
	uint64_t n_total = 0, t0 = rte_rdtsc(), t1;

	dp->next_housekeeping = t0 + b->hk_interval;
	do {
		n_total += path_iteration(b, pkts, profiled);
	} while (dp->now < end);
	t1 = dp->now;
	*frags = n_total;

	/* Untimed and unprofiled: let every request finish so no stream is
	 * cut short. */
	dp->profile = false;
	b->gen->draining = true;
	while (b->gen->active != 0)
		path_iteration(b, pkts, false);
	return t1 - t0;
}

/* Cycles per fragment of one round of @mode. */
static double
run_round(struct bench *b, enum bench_mode mode, double seconds,
	  uint64_t *frags_out)
{
	uint64_t end, cycles = 0, frags = 0;

	gen_restart(b->gen);
	b->dp->profile = mode == BENCH_PROFILED;
	if (mode == BENCH_PROFILED) {
		memset(b->dp->prof, 0, sizeof(b->dp->prof));
		b->hk_cycles = 0;
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
		cycles = loop_path(b, end, &frags, mode == BENCH_PROFILED);
		break;
	default:
		break;
	}
	b->dp->profile = false;
	if (frags == 0)
		rte_exit(EXIT_FAILURE, "no fragment moved in %s\n",
			 bench_mode_names[mode]);
	if (frags_out != NULL)
		*frags_out = frags;
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
	int len = snprintf(yaml, sizeof(yaml), bench_yaml_fmt, o->flows,
			   o->idle_ms);

	if (len < 0 || (size_t)len >= sizeof(yaml))
		rte_exit(EXIT_FAILURE, "bench config does not fit\n");
	cfg = sl_config_parse(yaml, (size_t)len, "bench.yaml", err,
			      sizeof(err));
	if (cfg == NULL)
		rte_exit(EXIT_FAILURE, "bench config rejected: %s\n", err);
	return cfg;
}

static void
bench_ports(struct bench *b)
{
	struct rte_ring *tx_ring;
	const char *what = "";
	uint16_t port;
	int rc;

	b->null_port = RTE_MAX_ETHPORTS;
	RTE_ETH_FOREACH_DEV(port) {
		struct rte_eth_dev_info info;

		if (rte_eth_dev_info_get(port, &info) == 0 &&
		    strcmp(info.driver_name, "net_null") == 0) {
			b->null_port = port;
			break;
		}
	}
	if (b->null_port == RTE_MAX_ETHPORTS)
		rte_exit(EXIT_FAILURE,
			 "no net_null port: is the net_null PMD installed?\n");
	rc = sl_port_start(b->null_port, b->pool, &what);
	if (rc != 0)
		rte_exit(EXIT_FAILURE, "cannot start net_null port: %s: %s\n",
			 what, strerror(-rc));

	b->rx_ring = rte_ring_create("bench_rx", BENCH_RING_SIZE,
				     rte_socket_id(),
				     RING_F_SP_ENQ | RING_F_SC_DEQ);
	tx_ring = rte_ring_create("bench_tx", BENCH_RING_SIZE,
				  rte_socket_id(),
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
		rte_exit(EXIT_FAILURE, "cannot start ring port: %s: %s\n",
			 what, strerror(-rc));
}

static void
bench_dp(struct bench *b)
{
	struct rte_ether_addr mac = {{0x02, 0, 0, 0, 0xee, 0}};
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
	/* Every next hop is known, as after ARP settled. */
	for (unsigned int c = 0; c < BENCH_CLIENTS; c++) {
		mac.addr_bytes[5] = (uint8_t)c;
		mac.addr_bytes[4] = 0xc1;
		if (sl_neigh_learn(&b->dp->neigh, BENCH_CLIENT_IP(c), &mac,
				   SL_NEIGH_CLIENT, b->dp->now))
			rte_exit(EXIT_FAILURE, "neighbour table full\n");
	}
	for (uint16_t s = 0; s < b->cfg->pipelines[0].n_stages; s++) {
		const struct sl_stage_cfg *st = &b->cfg->pipelines[0].stages[s];

		for (uint16_t i = 0; i < st->n_instances; i++) {
			mac.addr_bytes[4] = (uint8_t)(s + 1);
			mac.addr_bytes[5] = (uint8_t)i;
			if (sl_neigh_learn(&b->dp->neigh, st->instances[i].ep.ip,
					   &mac, SL_NEIGH_INSTANCE,
					   b->dp->now))
				rte_exit(EXIT_FAILURE, "neighbour table full\n");
		}
	}
	b->hk_interval = b->hz / 1000000 * BENCH_HOUSEKEEPING_US;
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
dp_drops_total(const struct sl_dp *dp)
{
	uint64_t sum = 0;

	for (unsigned int r = 1; r < SL_DROP_MAX; r++)
		sum += dp->cnt.drops[r];
	return sum;
}

/* Medians over the rounds and what is derived from them. */
struct bench_summary {
	double med[BENCH_MODE_MAX];
	double best[BENCH_MODE_MAX]; /* noise only ever adds cycles */
	double stage[SL_STAGE_MAX];
	double stage_sum;
	double hk;
	double ratio;     /* path / io-fwd */
	double ratio_net; /* both without the harness fill; < 0: unknown */
	double mpps;
	uint64_t drops;
	long cores;
	char model[128];
	char date[32];
};

static void
summarise(const struct bench *b, struct bench_summary *sm)
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
	sm->ratio = sm->med[BENCH_PATH] / sm->med[BENCH_IO_FWD];
	/* Per round, fill and io-fwd ran back to back; a round where noise
	 * made the fill dearer than io-fwd says nothing and is left out. */
	{
		double net[BENCH_MAX_ROUNDS];
		unsigned int k = 0;

		for (unsigned int r = 0; r < n; r++) {
			double io = b->cpf[BENCH_IO_FWD][r] - b->cpf[BENCH_FILL][r];

			if (io > 0)
				net[k++] = (b->cpf[BENCH_PATH][r] -
					    b->cpf[BENCH_FILL][r]) / io;
		}
		sm->ratio_net = k != 0 ? median(net, k) : -1;
	}
	sm->mpps = (double)b->hz / sm->med[BENCH_PATH] / 1e6;
	sm->drops = dp_drops_total(b->dp) + b->harness_drops;
}

static void
report_json(const struct bench *b, const struct bench_summary *sm, FILE *out)
{
	static const char *const mode_keys[BENCH_MODE_MAX] = {
		"fill", "io_fwd", "path", "profiled"};
	const struct bench_opts *o = &b->o;

	fprintf(out, "{\"machine\": {\"cpu\": ");
	json_str(out, sm->model);
	fprintf(out, ", \"cores\": %ld, \"tsc_hz\": %" PRIu64 "}", sm->cores,
		b->hz);
	fprintf(out, ", \"commit\": ");
	json_str(out, o->commit);
	fprintf(out, ", \"date\": \"%s\"", sm->date);
	fprintf(out, ", \"rounds\": %u, \"seconds\": %.2f, "
		"\"aux_seconds\": %.2f",
		o->rounds, o->seconds, o->aux_seconds);
	fprintf(out, ", \"fragments\": %" PRIu64, b->path_fragments);
	fprintf(out, ", \"traffic\": {\"streams\": %u, "
		"\"fragments_per_stream\": %u, \"hops\": %u, "
		"\"frame_bytes\": [%u, %u], \"burst\": %u, "
		"\"flow_table\": %u, \"idle_timeout_ms\": %u, "
		"\"flows_peak\": %u}",
		o->streams, o->fragments, o->hops, b->gen->frame_min,
		b->gen->frame_max, SL_BURST, b->dp->flows->capacity, o->idle_ms,
		b->flows_peak);
	fprintf(out, ", \"io_fwd_cycles\": %.1f, \"path_cycles\": %.1f, "
		"\"ratio\": %.2f, \"fill_cycles\": %.1f",
		sm->med[BENCH_IO_FWD], sm->med[BENCH_PATH], sm->ratio,
		sm->med[BENCH_FILL]);
	if (sm->ratio_net >= 0)
		fprintf(out, ", \"ratio_without_fill\": %.2f", sm->ratio_net);
	else
		fprintf(out, ", \"ratio_without_fill\": null");
	fprintf(out, ", \"profiled_cycles\": %.1f, "
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
	fprintf(out, "}, \"best\": {\"fill\": %.1f, \"io_fwd\": %.1f, "
		"\"path\": %.1f, \"ratio\": %.2f}",
		sm->best[BENCH_FILL], sm->best[BENCH_IO_FWD],
		sm->best[BENCH_PATH],
		sm->best[BENCH_PATH] / sm->best[BENCH_IO_FWD]);
	fprintf(out, ", \"drops_total\": %" PRIu64, sm->drops);
	fprintf(out, ", \"mpps_path\": %.2f}\n", sm->mpps);
}

static void
report_table(const struct bench *b, const struct bench_summary *sm)
{
	const struct bench_opts *o = &b->o;
	const struct sl_dp *dp = b->dp;

	printf("sluice dataplane bench: %s, %ld cores, TSC %.3f GHz, commit "
	       "%s, %s\n",
	       sm->model, sm->cores, (double)b->hz / 1e9, o->commit, sm->date);
	printf("traffic: %u concurrent requests, %u fragments per stream, "
	       "%u stream(s) per request, frames %u-%u B, burst %u\n",
	       o->streams, o->fragments, o->hops, b->gen->frame_min,
	       b->gen->frame_max, SL_BURST);
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
		printf("(path - fill) / (io-fwd - fill)  %6.2f x  (work once the "
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
	printf("\nfragments through sl_dp_process: %" PRIu64 " (all rounds, "
	       "warm-up and drains included)\n",
	       dp->cnt.rx_packets);
	printf("flows: %" PRIu64 " created, %" PRIu64 " ended, %" PRIu64
	       " expired idle; table %u, peak %u in use\n",
	       dp->cnt.flows_created, dp->cnt.flows_ended,
	       dp->cnt.flows_expired, dp->flows->capacity, b->flows_peak);
	printf("drops: %" PRIu64 "\n", sm->drops);
}

static void
report(const struct bench *b)
{
	struct bench_summary sm;

	summarise(b, &sm);
	if (b->o.json) {
		report_json(b, &sm, stdout);
	} else {
		report_table(b, &sm);
	}
	if (b->o.json_file != NULL) {
		FILE *f = fopen(b->o.json_file, "w");

		if (f == NULL) {
			fprintf(stderr, "cannot write %s: %s\n", b->o.json_file,
				strerror(errno));
			exit(EXIT_FAILURE);
		}
		report_json(b, &sm, f);
		fclose(f);
	}
}

/* Exit 1 if anything was lost or the counters disagree. */
static void
check(struct bench *b)
{
	const struct sl_dp *dp = b->dp;
	bool bad = false;

	for (unsigned int r = 1; r < SL_DROP_MAX; r++)
		if (dp->cnt.drops[r] != 0) {
			fprintf(stderr, "FAIL: %" PRIu64 " fragments dropped as "
				"%s (%s)\n",
				dp->cnt.drops[r], sl_drop_name(r),
				sl_drop_text(r));
			bad = true;
		}
	if (b->harness_drops != 0) {
		fprintf(stderr, "FAIL: %" PRIu64 " frames refused by the rx ring "
			"or the null port\n", b->harness_drops);
		bad = true;
	}
	if (dp->cnt.rx_packets != dp->cnt.forwarded) {
		fprintf(stderr, "FAIL: %" PRIu64 " fragments in, %" PRIu64
			" forwarded\n", dp->cnt.rx_packets, dp->cnt.forwarded);
		bad = true;
	}
	if (dp->cnt.flows_created != dp->cnt.flows_ended) {
		fprintf(stderr, "FAIL: %" PRIu64 " streams created, %" PRIu64
			" ended\n", dp->cnt.flows_created, dp->cnt.flows_ended);
		bad = true;
	}
	if (bad) {
		fprintf(stderr, "FAIL: the numbers above measure a path that "
			"lost fragments; fix the cause (flow table size, "
			"idle timeout) before reading them\n");
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
		"  --aux-seconds S   length of a fill and a profiled round (1)\n"
		"  --streams N       concurrent requests (1024)\n"
		"  --fragments N     fragments per stream (16)\n"
		"  --hops 1|2|3      streams per request: the client's, then "
		"each stage's output (3)\n"
		"  --flows N         flow table size (262144)\n"
		"  --idle-ms N       flow idle timeout (5000)\n"
		"  --commit STR      recorded in the report\n"
		"  --json            one JSON object instead of the table\n"
		"  --json-file PATH  the table on stdout, the JSON object in PATH\n",
		prog);
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
		.flows = 262144,
		.idle_ms = 5000,
		.commit = "unknown",
	};
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': o->rounds = (unsigned int)atoi(optarg); break;
		case 's': o->seconds = atof(optarg); break;
		case 'a': o->aux_seconds = atof(optarg); break;
		case 'S': o->streams = (unsigned int)atoi(optarg); break;
		case 'F': o->fragments = (unsigned int)atoi(optarg); break;
		case 'H': o->hops = (unsigned int)atoi(optarg); break;
		case 'f': o->flows = (unsigned int)atoi(optarg); break;
		case 'i': o->idle_ms = (unsigned int)atoi(optarg); break;
		case 'c': o->commit = optarg; break;
		case 'j': o->json = true; break;
		case 'J': o->json_file = optarg; break;
		default: usage(argv[0]); exit(c == 'h' ? 0 : 2);
		}
	}
	if (o->rounds < 1 || o->rounds > BENCH_MAX_ROUNDS ||
	    o->seconds <= 0 || o->aux_seconds <= 0 || o->streams < 1 ||
	    o->fragments < 1 || o->hops < 1 || o->hops > BENCH_MAX_HOPS) {
		usage(argv[0]);
		exit(2);
	}
}

int
main(int argc, char **argv)
{
	char prefix[64];
	char *eal_argv[64];
	int eal_argc = 0, rc, split = argc;
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
	eal_argv[eal_argc++] = "-m";
	eal_argv[eal_argc++] = "1024";
	eal_argv[eal_argc++] = "--no-pci";
	eal_argv[eal_argc++] = "--no-telemetry";
	eal_argv[eal_argc++] = prefix;
	eal_argv[eal_argc++] = "--vdev=net_null0";
	eal_argv[eal_argc++] = "--log-level=*:warning";
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
	b->pool = rte_pktmbuf_pool_create("bench_pool", BENCH_POOL_MBUFS,
					  SL_POOL_CACHE, 0,
					  RTE_MBUF_DEFAULT_BUF_SIZE,
					  rte_socket_id());
	if (b->pool == NULL)
		rte_exit(EXIT_FAILURE, "cannot create mempool: %s\n",
			 rte_strerror(rte_errno));
	bench_ports(b);
	bench_dp(b);
	b->gen = gen_create(&o, b->pool, b->cfg, &b->dp->mac);

	/* Warm caches, the flow table and the branch predictors. */
	run_round(b, BENCH_FILL, 0.1, NULL);
	run_round(b, BENCH_IO_FWD, 0.2, NULL);
	run_round(b, BENCH_PATH, 0.3, NULL);
	b->path_fragments = 0;
	b->path_cycles = 0;

	for (unsigned int r = 0; r < o.rounds; r++) {
		uint64_t frags;

		b->cpf[BENCH_FILL][r] = run_round(b, BENCH_FILL, o.aux_seconds,
						  NULL);
		b->cpf[BENCH_IO_FWD][r] = run_round(b, BENCH_IO_FWD, o.seconds,
						    NULL);
		b->cpf[BENCH_PATH][r] = run_round(b, BENCH_PATH, o.seconds,
						  NULL);
		b->cpf[BENCH_PROFILED][r] = run_round(b, BENCH_PROFILED,
						      o.aux_seconds, &frags);
		for (int s = SL_STAGE_PARSE; s < SL_STAGE_MAX; s++)
			b->stage_cpf[s][r] = (double)b->dp->prof[s].cycles /
					     (double)frags;
		b->hk_cpf[r] = (double)b->hk_cycles / (double)frags;
		if (!o.json)
			fprintf(stderr, "round %u/%u: fill %.1f io-fwd %.1f "
				"path %.1f profiled %.1f\n",
				r + 1, o.rounds, b->cpf[BENCH_FILL][r],
				b->cpf[BENCH_IO_FWD][r], b->cpf[BENCH_PATH][r],
				b->cpf[BENCH_PROFILED][r]);
	}

	report(b);
	check(b);

	sl_dp_fini(b->dp);
	sl_port_stop(b->ring_port);
	sl_port_stop(b->null_port);
	sl_config_free(b->cfg);
	rte_eal_cleanup();
	return 0;
}
