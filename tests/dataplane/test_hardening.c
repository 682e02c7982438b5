/* SPDX-License-Identifier: MIT */
/*
 * test_hardening.c - what a client, an engine or the network can do to
 * sluiced, and what it must do back (issue 8): one test per defect found
 * at c0aa18f, each asserting the exact drops, frames and counters.
 *
 * - depth: a fragment's ancestry depth is checked against its stage's
 *   (a depth-6 stream into a split edge, a depth that does not fit an
 *   operator's level, a client stream deeper than 1);
 * - isolation: a request id guessed by another client or tenant names
 *   another stream, and instances see sluiced's own ids; tenants bound
 *   to addresses; a tenant removed while its streams are counted;
 * - quotas: mbufs held for one address, one tenant and the clients
 *   together, the clients' share of the table, one address's streams,
 *   buffer edges (one tenant's bound), the splitters and one address's
 *   share of them, edge state; engine outputs of admitted requests
 *   never starved; refused requests told ABORT (OVERLOAD);
 * - loss repair: a gap NACKed, a NACK answered byte for byte or with
 *   ABORT (LOST), an END resent until ACKed, duplicates of it re-ACKed;
 * - liveness: a silent instance found dead, its streams aborted (or sent
 *   again elsewhere when its stage is idempotent), PAUSE, no instance;
 * - neighbours: learned only for instances and clients, bounded with
 *   room kept for instances, never rebound by a data packet; aged (asked
 *   again, a client forgotten, an instance asked until it answers);
 * - shutdown: streams in flight end with ABORT (SHUTDOWN).
 *
 * The worker runs on the DAG fixture (dp_dag.h): a ring port, time driven
 * by the test, what sluiced sends captured and decoded; every test ends
 * with the mempool back at its starting in-use count.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <rte_arp.h>
#include <rte_byteorder.h>

#include "dp_dag.h"
#include "sl_neigh.h"
#include "sl_worker.h"

#define A_IP DP_IP(10, 0, 2, 1)
#define A2_IP DP_IP(10, 0, 2, 2)
#define B_IP DP_IP(10, 0, 3, 1)
#define OTHER_CLIENT_IP DP_IP(10, 0, 1, 6)

/* The DAG fixture's head, liveness left to each config. */
#define HEAD(extra)                                                            \
	"sluiced: {address: 10.0.0.1, port: 7700}\n"                           \
	"flows: {size: 1024, idle_timeout_ms: 1000, reorder_window: 8,\n"      \
	"        buffer_max: 128" extra "}\n"                                  \
	"clients: [10.0.1.0/24]\n"
#define NO_LIVENESS "liveness: {probe_ms: 0}\n"

/* a splits its answer into b (aggregation 1 lets b see the marker). */
#define SPLIT_PIPELINE                                                         \
	"pipelines:\n"                                                         \
	"  - name: p\n"                                                        \
	"    id: 1\n"                                                          \
	"    stages:\n"                                                        \
	"      - {name: a, instances: [10.0.2.1:8001]}\n"                      \
	"      - {name: b, aggregation: 1, instances: [10.0.3.1:8002]}\n"      \
	"    edges:\n"                                                         \
	"      - {from: client, to: a}\n"                                      \
	"      - {from: a, to: b, split: line}\n"                              \
	"      - {from: b, to: client}\n"
static const char split_yaml[] = HEAD("") NO_LIVENESS SPLIT_PIPELINE;

/* a alone: it answers the client. */
#define A_PIPELINE                                                             \
	"pipelines:\n"                                                         \
	"  - name: p\n"                                                        \
	"    id: 1\n"                                                          \
	"    stages:\n"                                                        \
	"      - {name: a, instances: [10.0.2.1:8001]}\n"                      \
	"    edges:\n"                                                         \
	"      - {from: client, to: a}\n"                                      \
	"      - {from: a, to: client}\n"

/* a then b, plain stream edges. */
static const char chain_yaml[] =
	HEAD("") NO_LIVENESS "pipelines:\n"
			     "  - name: p\n"
			     "    id: 1\n"
			     "    stages:\n"
			     "      - {name: a, instances: [10.0.2.1:8001]}\n"
			     "      - {name: b, instances: [10.0.3.1:8002]}\n"
			     "    edges:\n"
			     "      - {from: client, to: a}\n"
			     "      - {from: a, to: b}\n"
			     "      - {from: b, to: client}\n";

static struct rte_ether_addr
mac_of(uint32_t ip)
{
	struct rte_ether_addr m = {{0x02, 0x00, (uint8_t)(ip >> 24),
				    (uint8_t)(ip >> 16), (uint8_t)(ip >> 8),
				    (uint8_t)ip}};

	return m;
}

/* A fragment of request @req from the client at @ip (port 40000). */
static struct dp_frag
client_at(uint32_t ip, uint64_t req, uint32_t seq, uint8_t flags)
{
	struct dp_frag f = dag_from_client(req, seq, flags);

	f.src_ip = ip;
	f.src_mac = mac_of(ip);
	return f;
}

/* Instance @inst of stage @stage answering [@req] (depth 1). */
static struct dp_frag
answer(uint16_t stage, uint16_t inst, uint64_t req, uint32_t seq, uint8_t flags)
{
	const uint64_t id[1] = {req};

	return dag_from_instance(stage, inst, id, 1, seq, flags);
}

/* A control fragment (NACK, ACK, PROBE) from @ip:@port naming @f's
 * stream as @f names it (its ancestry as given: no id mapping) and
 * from_stage @from. */
static void
send_control_from(uint32_t ip, uint16_t port, const struct dp_frag *f,
		  uint16_t from, uint8_t flags, uint32_t seq, uint32_t count)
{
	struct rte_mbuf *pkts[SL_PATH_CAP];
	struct dp_frag c = *f;
	uint8_t b[DP_TEST_FRAME_MAX];
	struct sl_frag_hdr h;
	size_t off, len;

	c.src_ip = ip;
	c.src_port = port;
	c.src_mac = mac_of(ip);
	c.n_tokens = 0;
	c.token_texts = NULL;
	c.flags = 0;
	c.abort_reason = 0;
	len = dp_test_build(&c, b, sizeof(b), &off);
	CU_ASSERT_EQUAL_FATAL(sl_wire_parse(b + off, len - off, &h),
			      SL_WIRE_OK);
	h.from_stage = from;
	sl_wire_encode_control(b + off, &h, flags, seq, count, 0);
	pkts[0] = dp_test_mbuf(b, len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pkts[0]);
	sl_dp_process(dag.dp, pkts, 1);
	dag_capture();
}

static void
send_control(uint32_t ip, uint16_t port, const struct dp_frag *f, uint8_t flags,
	     uint32_t seq, uint32_t count)
{
	send_control_from(ip, port, f, 0, flags, seq, count);
}

/* How many captured frames went to @ip with flags @flags (and reason). */
static unsigned int
sent_to(uint32_t ip, uint8_t flags, uint8_t reason)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < dag.n_sent; i++)
		n += dag.sent[i].dst_ip == ip && dag.sent[i].h.flags == flags &&
		     dag.sent[i].h.abort_reason == reason;
	return n;
}

/* ------------------------------------------------------------- depth */

/*
 * At c0aa18f a depth-6 stream into a split edge wrote past 6-element
 * arrays (one on the stack in sl_split.c: ASan stack-buffer-overflow) and
 * put depth-7 frames on the wire. Now a's streams have depth 1 and
 * nothing else gets in.
 */
static void
test_depth6_into_split(void)
{
	static const char *const tok[] = {"one\ntwo\n"};
	const uint64_t deep[6] = {1, 2, 3, 4, 5, 6};
	struct dp_frag f;

	dp_test_begin();
	dag_open(split_yaml);
	f = dag_from_client(1, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	dag_clear();
	for (uint8_t depth = 2; depth <= SL_ANCESTRY_MAX; depth++) {
		f = dag_from_instance(1, 0, deep, depth, 0, SL_FRAG_F_END);
		f.n_tokens = 1;
		f.token_texts = tok;
		CU_ASSERT_EQUAL(dag_process(&f, 1), 0);
	}
	dag_expect_drops(SL_DROP_DEPTH_MISMATCH, 5u, -1);
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(dag.dp->split_pool), 0);
	/* The depth a's streams have still splits. */
	f = answer(1, 0, 1, 0, SL_FRAG_F_END);
	f.n_tokens = 1;
	f.token_texts = tok;
	CU_ASSERT_EQUAL(dag_process(&f, 1), 3); /* two children, a marker */
	for (unsigned int i = 0; i < dag.n_sent; i++)
		CU_ASSERT(dag.sent[i].h.depth <= 2);
	dag_close();
	dp_test_end();
}

/* Config of the splitter quota tests: the split pipeline on a table of
 * 4,096 (a pool of 1,023 splitters), every stream share large enough. */
#define SPLIT_QUOTA_YAML(idle)                                                 \
	"sluiced: {address: 10.0.0.1, port: 7700}\n"                           \
	"flows: {size: 4096, idle_timeout_ms: " idle ", "                      \
	"reorder_window: 8, client_streams: 2000, "                            \
	"source_streams: 2000, tenant_streams: 2000}\n"                        \
	"clients: [10.0.1.0/24]\n" NO_LIVENESS SPLIT_PIPELINE

/* The n client addresses 10.0.1.11.., in distinct source slots (a fixed
 * secret: the same slots in every run). */
static void
split_quota_open(const char *yaml, uint32_t *ip, unsigned int n)
{
	dag_open(yaml);
	dag.dp->led->src_key = 0x5eed5eedu;
	for (unsigned int i = 0; i < n; i++) {
		ip[i] = DP_IP(10, 0, 1, 11 + i);
		for (unsigned int j = 0; j < i; j++)
			CU_ASSERT_NOT_EQUAL_FATAL(
				sl_dp_src_slot(dag.dp, ip[i]),
				sl_dp_src_slot(dag.dp, ip[j]));
	}
}

/* Requests @r0..@r1 from the addresses @ip (@n_ip of them, in turn), then
 * a's answer to each: @text, no END (each takes a splitter). */
static void
split_quota_fill(const uint32_t *ip, unsigned int n_ip, uint64_t r0,
		 uint64_t r1, const char *const *text)
{
	struct dp_frag f[SL_BURST];
	unsigned int n = 0;

	for (uint64_t r = r0; r <= r1; r++) {
		f[n++] = client_at(ip[(r - r0) % n_ip], r, 0, SL_FRAG_F_END);
		if (n == SL_BURST || r == r1) {
			CU_ASSERT_EQUAL(dag_process(f, n), n);
			n = 0;
		}
	}
	dag_clear();
	for (uint64_t r = r0; r <= r1; r++) {
		f[n] = answer(1, 0, r, 0, 0);
		f[n].n_tokens = 1;
		f[n++].token_texts = text;
		if (n == SL_BURST || r == r1) {
			CU_ASSERT_EQUAL(dag_process(f, n), 0);
			n = 0;
		}
	}
}

/*
 * The splitters are a bounded pool (sl_split.h): with every one of them
 * taken by a's open streams (five addresses, each within its share), a's
 * next stream into the split edge is refused (SPLIT_FULL, once) and its
 * request ends at once with ABORT (OVERLOAD) to its client, not by
 * expiry. Nothing of the stream reaches b, not even once splitters are
 * free again (before, its next fragment took one and b got the rest of
 * its text as a whole stream); its later fragments are dropped as output
 * of an aborted request (REQUEST_ABORTED) and, once the request has left
 * the table, of an unknown one (NO_ORIGIN). When the other streams idle
 * out, each of their clients is told ABORT (EXPIRED), the refused one
 * not again, and every splitter is back.
 */
static void
test_split_full(void)
{
	static const char *const part[] = {"part of a line"};
	static const char *const rest[] = {" and its end\n"};
	uint32_t ip[5], cap, seq = 1, late = 0;
	unsigned int told = 0, to_b = 0;
	struct dp_frag f;
	uint64_t t_ms, refused;

	dp_test_begin();
	split_quota_open(SPLIT_QUOTA_YAML("1000"), ip, 5);
	cap = dag.dp->split_pool->size;
	t_ms = dag.dp->tsc_hz / 1000;
	refused = cap + 1;
	/* Five addresses share the pool; none over its quarter. */
	CU_ASSERT_FATAL(cap >= 4 && (cap + 4) / 5 <= cap / 4 && cap < 2000);
	CU_ASSERT_EQUAL_FATAL(rte_mempool_in_use_count(dag.dp->split_pool), 0);
	split_quota_fill(ip, 5, 1, cap, part);
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(dag.dp->split_pool), cap);
	dag_expect_drops(-1);
	/* The next request, from ip[cap % 5]: no splitter for its answer. */
	f = client_at(ip[cap % 5], refused, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	dag_clear();
	f = answer(1, 0, refused, 0, 0);
	f.n_tokens = 1;
	f.token_texts = part;
	CU_ASSERT_EQUAL_FATAL(dag_process(&f, 1), 1);
	CU_ASSERT_EQUAL(dag.sent[0].dst_ip, ip[cap % 5]);
	CU_ASSERT_EQUAL(dag.sent[0].h.flags, SL_FRAG_F_ABORT);
	CU_ASSERT_EQUAL(dag.sent[0].h.abort_reason, SL_ABORT_OVERLOAD);
	CU_ASSERT_EQUAL(dag.sent[0].h.stage, 0);
	CU_ASSERT_EQUAL(dag.sent[0].h.ancestry[0], refused);
	CU_ASSERT_EQUAL(dag.dp->cnt.requests_aborted, 1);
	dag_expect_drops(SL_DROP_SPLIT_FULL, 1u, -1);
	dag_clear();
	/* It goes on every 500 ms (so it does not idle out) while the other
	 * streams idle out and give their splitters back: still none for
	 * it, or b would get the rest of its text as a stream that looks
	 * whole. Its request lingers out 1 s after its ABORT. */
	for (uint64_t ms = 0; ms <= 3000; ms += 10) {
		if (ms % 500 == 0) {
			f = answer(1, 0, refused, seq++, 0);
			f.n_tokens = 1;
			f.token_texts = part;
			CU_ASSERT_EQUAL(dag_process(&f, 1), 0);
			late++;
			CU_ASSERT_EQUAL(
				dag.dp->cnt.drops[SL_DROP_REQUEST_ABORTED],
				RTE_MIN(late, 3u));
			CU_ASSERT_EQUAL(dag.dp->cnt.drops[SL_DROP_NO_ORIGIN],
					late > 3 ? late - 3 : 0);
		}
		dag_housekeeping(t_ms * (ms + 5));
	}
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(dag.dp->split_pool), 0);
	CU_ASSERT_EQUAL(dag.dp->flows->active, 1);
	f = answer(1, 0, refused, seq, SL_FRAG_F_END);
	f.n_tokens = 1;
	f.token_texts = rest;
	CU_ASSERT_EQUAL(dag_process(&f, 1), 0);
	CU_ASSERT_EQUAL(seq, 8);
	dag_expect_drops(SL_DROP_SPLIT_FULL, 1u, SL_DROP_REQUEST_ABORTED, 3u,
			 SL_DROP_NO_ORIGIN, 5u, -1);
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(dag.dp->split_pool), 0);
	/* The others idled out: each request's client told ABORT (EXPIRED)
	 * once, b told for each splitter's open child and marker, nothing
	 * for the refused stream. */
	for (uint64_t ms = 3100; ms <= 6000; ms += 10)
		dag_housekeeping(t_ms * ms);
	for (unsigned int i = 0; i < dag.n_sent; i++) {
		const struct dag_sent *x = &dag.sent[i];

		CU_ASSERT_EQUAL(x->h.flags, SL_FRAG_F_ABORT);
		CU_ASSERT_EQUAL(x->h.abort_reason, SL_ABORT_EXPIRED);
		CU_ASSERT_NOT_EQUAL(x->h.ancestry[0], refused);
		if (x->dst_ip == B_IP) {
			to_b++;
			continue;
		}
		CU_ASSERT_EQUAL(x->dst_ip, ip[(x->h.ancestry[0] - 1) % 5]);
		told++;
	}
	CU_ASSERT_EQUAL(told, cap);
	CU_ASSERT_EQUAL(to_b, 2 * cap);
	CU_ASSERT_EQUAL(dag.dp->cnt.requests_aborted, cap + 1);
	CU_ASSERT_EQUAL(dag.dp->flows->active, 0);
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(dag.dp->split_pool), 0);
	dag_close();
	dp_test_end();
}

/*
 * One address's requests may hold a quarter of the splitters (before,
 * one client could take them all and every other client's split edge
 * was refused). Past its share the address's next stream into the split
 * edge is refused (SPLIT_SOURCE_FULL) with its request ended at once by
 * ABORT (OVERLOAD) to that client; its later fragments are dropped
 * (REQUEST_ABORTED). Another address's request is split as ever, and the
 * share is given back as the address's streams leave: a stream of it
 * that ended and lingered out makes room for its next request.
 */
static void
test_split_source_share(void)
{
	static const char *const part[] = {"part of a line"};
	static const char *const line[] = {"one line\n"};
	struct sl_token t[4];
	uint32_t ip[2], share, used;
	uint64_t t_ms, over;
	struct dp_frag f;

	dp_test_begin();
	split_quota_open(SPLIT_QUOTA_YAML("10000"), ip, 2);
	share = dag.dp->split_pool->size / 4;
	t_ms = dag.dp->tsc_hz / 1000;
	CU_ASSERT_FATAL(share >= 2 && 2 * share < dag.dp->split_pool->size);
	/* ip[0] takes its share. */
	split_quota_fill(ip, 1, 1, share, part);
	used = rte_mempool_in_use_count(dag.dp->split_pool);
	CU_ASSERT_EQUAL(used, share);
	dag_expect_drops(-1);
	/* Its next request: refused a splitter, told ABORT (OVERLOAD). */
	over = share + 1;
	f = client_at(ip[0], over, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	CU_ASSERT_EQUAL(dag.sent[0].dst_ip, A_IP);
	dag_clear();
	f = answer(1, 0, over, 0, 0);
	f.n_tokens = 1;
	f.token_texts = part;
	CU_ASSERT_EQUAL_FATAL(dag_process(&f, 1), 1);
	CU_ASSERT_EQUAL(dag.sent[0].dst_ip, ip[0]);
	CU_ASSERT_EQUAL(dag.sent[0].h.flags, SL_FRAG_F_ABORT);
	CU_ASSERT_EQUAL(dag.sent[0].h.abort_reason, SL_ABORT_OVERLOAD);
	CU_ASSERT_EQUAL(dag.sent[0].h.stage, 0);
	CU_ASSERT_EQUAL(dag.sent[0].h.ancestry[0], over);
	CU_ASSERT_EQUAL(dag.dp->cnt.requests_aborted, 1);
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(dag.dp->split_pool), used);
	dag_expect_drops(SL_DROP_SPLIT_SOURCE_FULL, 1u, -1);
	dag_clear();
	/* The rest of that answer: dropped, nothing to b or the client. */
	f = answer(1, 0, over, 1, SL_FRAG_F_END);
	f.n_tokens = 1;
	f.token_texts = line;
	CU_ASSERT_EQUAL(dag_process(&f, 1), 0);
	dag_expect_drops(SL_DROP_SPLIT_SOURCE_FULL, 1u, SL_DROP_REQUEST_ABORTED,
			 1u, -1);
	/* Another address: its answer is split, the child and the marker
	 * to b. */
	f = client_at(ip[1], 900, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	dag_clear();
	f = answer(1, 0, 900, 0, SL_FRAG_F_END);
	f.n_tokens = 1;
	f.token_texts = line;
	CU_ASSERT_EQUAL_FATAL(dag_process(&f, 1), 2);
	CU_ASSERT_EQUAL(dag.sent[0].dst_ip, B_IP);
	CU_ASSERT_EQUAL(dag.sent[0].h.depth, 2);
	CU_ASSERT_EQUAL(dag.sent[0].h.flags, SL_FRAG_F_END);
	CU_ASSERT_EQUAL_FATAL(dag_tokens(&dag.sent[0], t, 4), 1);
	CU_ASSERT_EQUAL(t[0].len, strlen(line[0]));
	CU_ASSERT_NSTRING_EQUAL(t[0].text, line[0], strlen(line[0]));
	CU_ASSERT_EQUAL(dag.sent[1].dst_ip, B_IP);
	CU_ASSERT_EQUAL(dag.sent[1].h.flags,
			SL_FRAG_F_END | SL_FRAG_F_CHILDREN);
	CU_ASSERT_EQUAL(dag.sent[1].h.child_count, 1);
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(dag.dp->split_pool), used + 1);
	dag_clear();
	/* One of ip[0]'s answers ends and lingers out: its splitter goes
	 * back, and ip[0]'s next request gets one. */
	f = answer(1, 0, 1, 1, SL_FRAG_F_END);
	f.n_tokens = 1;
	f.token_texts = line;
	CU_ASSERT_EQUAL(dag_process(&f, 1), 2);
	dag_housekeeping(t_ms * 1500);
	/* ip[1]'s ended stream lingered out as well. */
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(dag.dp->split_pool), used - 1);
	dag_clear();
	f = client_at(ip[0], over + 1, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	dag_clear();
	f = answer(1, 0, over + 1, 0, SL_FRAG_F_END);
	f.n_tokens = 1;
	f.token_texts = line;
	CU_ASSERT_EQUAL(dag_process(&f, 1), 2);
	CU_ASSERT_EQUAL(dag.sent[0].dst_ip, B_IP);
	CU_ASSERT_EQUAL(dag.sent[1].h.flags,
			SL_FRAG_F_END | SL_FRAG_F_CHILDREN);
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(dag.dp->split_pool), used);
	dag_expect_drops(SL_DROP_SPLIT_SOURCE_FULL, 1u, SL_DROP_REQUEST_ABORTED,
			 1u, -1);
	CU_ASSERT_EQUAL(dag.dp->cnt.requests_aborted, 1);
	dag_close();
	dp_test_end();
}

/* A table of 64 streams, every stream share as large. */
static const char edge_state_yaml[] =
	"sluiced: {address: 10.0.0.1, port: 7700}\n"
	"flows: {size: 64, idle_timeout_ms: 1000, reorder_window: 8, "
	"client_streams: 64, source_streams: 64, tenant_streams: 64}\n"
	"clients: [10.0.1.0/24]\n" NO_LIVENESS A_PIPELINE;

/*
 * Edge state (a stream's route pins, buffers, splitters) comes from a
 * pool with a block for every entry of the flow table (every position
 * rte_hash can give), so it cannot run out before the table does: with
 * the table's 64 entries all streams that went through fanout, a block
 * is still free, and the next request is refused for the table
 * (FLOW_TABLE_FULL, ABORT (OVERLOAD) to its client), never
 * EDGE_STATE_FULL.
 */
static void
test_edge_state_per_entry(void)
{
	struct dp_frag f;
	uint32_t cap;

	dp_test_begin();
	dag_open(edge_state_yaml);
	cap = dag.dp->flows->capacity;
	CU_ASSERT_EQUAL_FATAL(dag.dp->edge_pool->size, cap);
	CU_ASSERT_FATAL(cap >= 64);
	/* Each request and a's answer to it: two entries, two blocks. */
	for (uint64_t r = 1; r <= 32; r++) {
		f = client_at(OTHER_CLIENT_IP, r, 0, SL_FRAG_F_END);
		CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
		f = answer(1, 0, r, 0, 0);
		CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	}
	/* The table holds its 64; the pool has a block for each. */
	CU_ASSERT_EQUAL(dag.dp->flows->active, 64);
	CU_ASSERT_EQUAL(rte_mempool_avail_count(dag.dp->edge_pool), cap - 64);
	dag_expect_drops(-1);
	dag_clear();
	f = client_at(OTHER_CLIENT_IP, 33, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL_FATAL(dag_process(&f, 1), 1);
	CU_ASSERT_EQUAL(dag.sent[0].dst_ip, OTHER_CLIENT_IP);
	CU_ASSERT_EQUAL(dag.sent[0].h.flags, SL_FRAG_F_ABORT);
	CU_ASSERT_EQUAL(dag.sent[0].h.abort_reason, SL_ABORT_OVERLOAD);
	CU_ASSERT_EQUAL(dag.sent[0].h.ancestry[0], 33);
	CU_ASSERT_EQUAL(rte_mempool_avail_count(dag.dp->edge_pool), cap - 64);
	dag_expect_drops(SL_DROP_FLOW_TABLE_FULL, 1u, -1);
	dag_close();
	dp_test_end();
}

/*
 * Should edge state run out anyway (here: the test holds every free
 * block, as if the pool were smaller than the table), a stream refused
 * it at its first fragment (EDGE_STATE_FULL) ends its request at once
 * with ABORT (OVERLOAD) to the client, a client's stream and an engine's
 * answer alike (before, the fragment was dropped and the request left to
 * expire). The stream does not start later, mid-way, once blocks are
 * free again: its later fragments are dropped (REQUEST_ABORTED).
 */
static void
test_edge_state_full(void)
{
	static void *held[64];
	unsigned int n_held;
	struct dp_frag f;

	dp_test_begin();
	dag_open(edge_state_yaml);
	/* Request 1 goes to a (its client stream has its block). */
	f = client_at(OTHER_CLIENT_IP, 1, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	n_held = rte_mempool_avail_count(dag.dp->edge_pool);
	CU_ASSERT_FATAL(n_held <= RTE_DIM(held));
	CU_ASSERT_EQUAL_FATAL(
		rte_mempool_get_bulk(dag.dp->edge_pool, held, n_held), 0);
	dag_clear();
	/* Request 2's client stream: admitted, no edge state. */
	f = client_at(OTHER_CLIENT_IP, 2, 0, 0);
	CU_ASSERT_EQUAL_FATAL(dag_process(&f, 1), 1);
	CU_ASSERT_EQUAL(dag.sent[0].dst_ip, OTHER_CLIENT_IP);
	CU_ASSERT_EQUAL(dag.sent[0].h.flags, SL_FRAG_F_ABORT);
	CU_ASSERT_EQUAL(dag.sent[0].h.abort_reason, SL_ABORT_OVERLOAD);
	CU_ASSERT_EQUAL(dag.sent[0].h.stage, 0);
	CU_ASSERT_EQUAL(dag.sent[0].h.ancestry[0], 2);
	dag_expect_drops(SL_DROP_EDGE_STATE_FULL, 1u, -1);
	dag_clear();
	/* a's answer to request 1: a new stream, no edge state. */
	f = answer(1, 0, 1, 0, 0);
	CU_ASSERT_EQUAL_FATAL(dag_process(&f, 1), 1);
	CU_ASSERT_EQUAL(dag.sent[0].dst_ip, OTHER_CLIENT_IP);
	CU_ASSERT_EQUAL(dag.sent[0].h.flags, SL_FRAG_F_ABORT);
	CU_ASSERT_EQUAL(dag.sent[0].h.abort_reason, SL_ABORT_OVERLOAD);
	CU_ASSERT_EQUAL(dag.sent[0].h.ancestry[0], 1);
	CU_ASSERT_EQUAL(dag.dp->cnt.requests_aborted, 2);
	dag_expect_drops(SL_DROP_EDGE_STATE_FULL, 2u, -1);
	dag_clear();
	/* Blocks free again: neither stream starts mid-way. */
	rte_mempool_put_bulk(dag.dp->edge_pool, held, n_held);
	f = client_at(OTHER_CLIENT_IP, 2, 1, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 0);
	f = answer(1, 0, 1, 1, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 0);
	dag_expect_drops(SL_DROP_EDGE_STATE_FULL, 2u, SL_DROP_REQUEST_ABORTED,
			 2u, -1);
	CU_ASSERT_EQUAL(dag.dp->cnt.requests_aborted, 2);
	dag_close();
	dp_test_end();
}

/* A client stream deeper than 1 was forwarded and every result dropped
 * as NO_ORIGIN; an instance's stream shallower than its stage's level
 * made the aggregation key read ids that were never sent. Both are
 * refused where they enter. */
static void
test_depth_client_and_level(void)
{
	static const char agg_yaml[] = HEAD("") NO_LIVENESS
		"pipelines:\n"
		"  - name: p\n"
		"    id: 1\n"
		"    stages:\n"
		"      - {name: a, instances: [10.0.2.1:8001]}\n"
		"      - {name: b, aggregation: 2, instances: [10.0.3.1:8002,\n"
		"                                            10.0.3.2:8002]}\n"
		"      - {name: t, operator: concat, aggregation: 1}\n"
		"    edges:\n"
		"      - {from: client, to: a, split: line}\n"
		"      - {from: a, to: b}\n"
		"      - {from: b, to: t}\n"
		"      - {from: t, to: client}\n";
	const uint64_t id1[1] = {7};
	struct dp_frag f;

	dp_test_begin();
	dag_open(agg_yaml);
	f = dag_from_client(7, 0, 0);
	f.depth = 2;
	f.ancestry[1] = 1;
	CU_ASSERT_EQUAL(dag_process(&f, 1), 0);
	dag_expect_drops(SL_DROP_DEPTH_MISMATCH, 1u, -1);
	/* a's streams are children of the client's: depth 2, so a depth 1
	 * one cannot name what b aggregates on. */
	f = dag_from_instance(1, 0, id1, 1, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 0);
	dag_expect_drops(SL_DROP_DEPTH_MISMATCH, 2u, -1);
	CU_ASSERT_EQUAL(dag.dp->cfg->pipelines[0].depth_min[1], 2);
	CU_ASSERT_EQUAL(dag.dp->cfg->pipelines[0].depth_max[1], 2);
	CU_ASSERT_EQUAL(dag.dp->cfg->pipelines[0].depth_min[0], 1);
	CU_ASSERT_EQUAL(dag.dp->cfg->pipelines[0].depth_max[0], 1);
	dag_close();
	dp_test_end();
}

/* ---------------------------------------------------------- isolation */

/*
 * Two clients (and two tenants) use request id 42: three streams, and
 * the instance sees three different ids, none of them 42; each answer
 * returns to its own client with its own id. At c0aa18f the flow key had
 * no source or tenant, so the second joined the first's request.
 */
static void
test_guessed_request_id(void)
{
	struct dp_frag f[3];
	uint64_t seen[3];
	unsigned int n;

	dp_test_begin();
	dag_open(chain_yaml);
	dag.raw_ids = true; /* look at what the instance really sees */
	f[0] = client_at(DAG_CLIENT_IP, 42, 0, SL_FRAG_F_END);
	f[1] = client_at(OTHER_CLIENT_IP, 42, 0, SL_FRAG_F_END);
	f[2] = client_at(DAG_CLIENT_IP, 42, 0, SL_FRAG_F_END);
	f[2].tenant = 9;
	n = dag_process(f, 3);
	CU_ASSERT_EQUAL_FATAL(n, 3);
	for (unsigned int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(dag.sent[i].dst_ip, A_IP);
		seen[i] = dag.sent[i].h.ancestry[0];
		CU_ASSERT((seen[i] & SL_DP_REQUEST_ID_MARK) != 0);
		CU_ASSERT(seen[i] != 42);
	}
	CU_ASSERT(seen[0] != seen[1] && seen[0] != seen[2] &&
		  seen[1] != seen[2]);
	CU_ASSERT_EQUAL(dag.dp->cnt.flows.created, 3);
	dag_clear();
	/* b answers each: each goes back to its own client, id 42. */
	for (unsigned int i = 0; i < 3; i++) {
		const uint64_t id[1] = {seen[i]};
		struct dp_frag a =
			dag_from_instance(1, 0, id, 1, 0, SL_FRAG_F_END);
		struct dp_frag b =
			dag_from_instance(2, 0, id, 1, 0, SL_FRAG_F_END);

		a.tenant = f[i].tenant;
		b.tenant = f[i].tenant;
		CU_ASSERT_EQUAL(dag_process(&a, 1), 1);
		CU_ASSERT_EQUAL(dag_process(&b, 1), 1);
	}
	CU_ASSERT_EQUAL_FATAL(dag.n_sent, 6);
	CU_ASSERT_EQUAL(dag.sent[1].dst_ip, DAG_CLIENT_IP);
	CU_ASSERT_EQUAL(dag.sent[3].dst_ip, OTHER_CLIENT_IP);
	CU_ASSERT_EQUAL(dag.sent[5].dst_ip, DAG_CLIENT_IP);
	CU_ASSERT_EQUAL(dag.sent[5].h.tenant, 9);
	for (unsigned int i = 1; i < 6; i += 2)
		CU_ASSERT_EQUAL(dag.sent[i].h.ancestry[0], 42);
	dag_expect_drops(-1);
	dag_close();
	dp_test_end();
}

/* A tenant bound to addresses is refused elsewhere, with an ABORT
 * (OVERLOAD) back on the request's own stream. */
static void
test_tenant_source(void)
{
	static const char yaml[] =
		HEAD("") NO_LIVENESS "tenants:\n"
				     "  - {id: 5, sources: [10.0.1.5]}\n"
				     "  - {id: 6}\n" A_PIPELINE;
	struct dp_frag f;

	dp_test_begin();
	dag_open(yaml);
	f = client_at(DAG_CLIENT_IP, 1, 0, SL_FRAG_F_END);
	f.tenant = 5;
	CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	f = client_at(OTHER_CLIENT_IP, 2, 0, SL_FRAG_F_END);
	f.tenant = 5;
	CU_ASSERT_EQUAL(dag_process(&f, 1), 0);
	dag_expect_drops(SL_DROP_TENANT_SOURCE, 1u, -1);
	/* Unbound tenant 6 from anywhere in the client networks. */
	f.tenant = 6;
	CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	dag_close();
	dp_test_end();
}

/*
 * A reconfiguration removes a tenant while its streams are counted. At
 * c0aa18f the stream's END then decremented tenants[0xff] (UBSan: index
 * out of bounds). Now what a tenant holds is kept by its id.
 */
static void
test_tenant_removed_while_counted(void)
{
	static const char with[] = HEAD("") NO_LIVENESS
		"tenants: [{id: 3, max_streams: 4}, {id: 4}]\n" A_PIPELINE;
	static const char without[] =
		HEAD("") NO_LIVENESS "tenants: [{id: 4}]\n" A_PIPELINE;
	const struct sl_config *old = NULL;
	struct sl_config *next;
	struct dp_frag f;

	dp_test_begin();
	dag_open(with);
	f = dag_from_client(1, 0, 0);
	f.tenant = 3;
	CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	f = answer(1, 0, 1, 0, 0);
	f.tenant = 3;
	CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	CU_ASSERT_EQUAL(dag.dp->led->tenant_use[3].streams, 2);
	next = dp_test_config(without);
	CU_ASSERT_PTR_NOT_NULL_FATAL(next);
	CU_ASSERT_EQUAL(sl_config_assign_uids(next, dag.dp->cfg), 0);
	CU_ASSERT_EQUAL_FATAL(sl_dp_publish(dag.dp, next, &old), 0);
	sl_config_free((struct sl_config *)old);
	dag.cfg = next;
	/* The answer ends: tenant 3's count by id, no index 0xff. */
	f = answer(1, 0, 1, 1, SL_FRAG_F_END);
	f.tenant = 3;
	CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	CU_ASSERT_EQUAL(dag.dp->led->tenant_use[3].streams, 1);
	/* The client stream leaves with its request. */
	dag_housekeeping(2 * dag.dp->idle_tsc + dag.dp->linger_tsc);
	dag_housekeeping(3 * dag.dp->idle_tsc + 2 * dag.dp->linger_tsc);
	CU_ASSERT_EQUAL(dag.dp->led->tenant_use[3].streams, 0);
	CU_ASSERT_EQUAL(dag.dp->led->tenant_use[0xff].streams, 0);
	dag_close();
	dp_test_end();
}

/* ------------------------------------------------------------- quotas */

/*
 * 600 streams that each withhold sequence 0 froze receive at c0aa18f
 * (7,935 of 8,191 mbufs held, no drop counter moving). Now what one
 * address's requests hold is bounded (HOLD_QUOTA, the rest NACKed for a
 * resend) and another client's request goes through whole.
 */
static void
test_withheld_seq0(void)
{
	struct dp_frag f[SL_BURST];
	unsigned int held_before, n = 0;
	uint32_t bound;

	dp_test_begin();
	dag_open(HEAD(", client_streams: 1000, source_streams: 1000")
			 NO_LIVENESS
		 "pipelines:\n"
		 "  - name: p\n"
		 "    id: 1\n"
		 "    stages:\n"
		 "      - {name: a, instances: [10.0.2.1:8001]}\n"
		 "      - {name: b, instances: [10.0.3.1:8002]}\n"
		 "    edges:\n"
		 "      - {from: client, to: a}\n"
		 "      - {from: a, to: b}\n"
		 "      - {from: b, to: client}\n");
	bound = dag.dp->quota.held_source;
	CU_ASSERT(bound > 0 && bound < dp_test_pool()->size / 4);
	held_before = rte_mempool_in_use_count(dp_test_pool());
	for (uint64_t r = 0; r < 600; r++) {
		for (uint32_t s = 1; s < 8; s++) {
			f[n++] = client_at(OTHER_CLIENT_IP, 1000 + r, s, 0);
			if (n == SL_BURST) {
				dag_process(f, n);
				n = 0;
			}
		}
	}
	if (n != 0)
		dag_process(f, n);
	CU_ASSERT_EQUAL(dag.dp->led->held_total, bound);
	CU_ASSERT(rte_mempool_in_use_count(dp_test_pool()) - held_before <=
		  bound);
	CU_ASSERT(dag.dp->cnt.drops[SL_DROP_HOLD_QUOTA] > 0);
	/* Tenant 0's share of the clients' streams (half) refused the
	 * rest of its new streams. */
	CU_ASSERT_EQUAL(dag.dp->led->tenant_use[0].requests,
			dag.dp->quota.tenant_streams);
	CU_ASSERT(dag.dp->cnt.drops[SL_DROP_TENANT_STREAMS] +
			  dag.dp->cnt.drops[SL_DROP_HOLD_QUOTA] +
			  dag.dp->led->held_total ==
		  600 * 7);
	/* The canary: another client of another tenant, answered through. */
	f[0] = dag_from_client(7, 0, SL_FRAG_F_END);
	f[0].tenant = 2;
	CU_ASSERT_EQUAL(dag_process(f, 1), 1);
	f[0] = answer(1, 0, 7, 0, SL_FRAG_F_END);
	f[0].tenant = 2;
	CU_ASSERT_EQUAL(dag_process(f, 1), 1);
	f[0] = answer(2, 0, 7, 0, SL_FRAG_F_END);
	f[0].tenant = 2;
	CU_ASSERT_EQUAL(dag_process(f, 1), 1);
	CU_ASSERT_EQUAL(dag.sent[dag.n_sent - 1].dst_ip, DAG_CLIENT_IP);
	dag_close();
	dp_test_end();
}

/* A stream of a alone (a answers its client), the clients' and
 * sources' stream shares large enough for every test stream. */
static const char hold_yaml[] =
	HEAD(", client_streams: 1000, source_streams: 1000, "
	     "tenant_streams: 1000") NO_LIVENESS A_PIPELINE;

/* @n requests from @ip of @tenant, ids @req0.., each sending seq 1..7
 * of an 8-fragment window but never seq 0: all of it early. */
static void
withhold(uint32_t ip, uint16_t tenant, uint64_t req0, unsigned int n)
{
	struct dp_frag f[SL_BURST];
	unsigned int k = 0;

	for (uint64_t r = req0; r < req0 + n; r++)
		for (uint32_t s = 1; s < 8; s++) {
			f[k] = client_at(ip, r, s, 0);
			f[k++].tenant = tenant;
			if (k == SL_BURST) {
				dag_process(f, k);
				k = 0;
			}
		}
	if (k != 0)
		dag_process(f, k);
}

/* a's answer to @ip's request @req (of @tenant) withholding seq 0: seq
 * 1..7 sent, then seq 0 with END at 7; return frames sent to @ip when
 * seq 0 came. */
static unsigned int
answer_withheld(uint32_t ip, uint16_t tenant, uint64_t req, uint32_t *held)
{
	struct dp_frag f[8];
	unsigned int before;

	f[0] = client_at(ip, req, 0, SL_FRAG_F_END);
	f[0].tenant = tenant;
	CU_ASSERT_EQUAL(dag_process(f, 1), 1);
	before = dag.dp->led->held_total;
	for (uint32_t s = 1; s < 8; s++) {
		f[s - 1] = answer(1, 0, req, s, s == 7 ? SL_FRAG_F_END : 0);
		f[s - 1].tenant = tenant;
	}
	CU_ASSERT_EQUAL(dag_process(f, 7), 0);
	*held = dag.dp->led->held_total - before;
	dag_clear();
	f[0] = answer(1, 0, req, 0, 0);
	f[0].tenant = tenant;
	dag_process(f, 1);
	for (unsigned int i = 0; i < dag.n_sent; i++)
		CU_ASSERT_EQUAL(dag.sent[i].dst_ip, ip);
	return dag.n_sent;
}

/* Source slots of the test's addresses, made distinct (and the same in
 * every run) by the fixed secret. */
static void
hold_open(const uint32_t *ips, unsigned int n)
{
	dag_open(hold_yaml);
	dag.dp->led->src_key = 0x5eed5eedu;
	for (unsigned int i = 0; i < n; i++)
		for (unsigned int j = 0; j < i; j++)
			CU_ASSERT_NOT_EQUAL_FATAL(
				sl_dp_src_slot(dag.dp, ips[i]),
				sl_dp_src_slot(dag.dp, ips[j]));
}

/*
 * The clients' streams together may hold a quarter of the pool: two
 * addresses of two tenants hold an eighth each (their own bound) but
 * one, then a third address of a third tenant, far below its own and
 * its tenant's bounds, gets one mbuf held and HOLD_QUOTA for the rest.
 * An engine output (not a client stream) still holds its early
 * fragments, and its client gets the whole answer.
 */
static void
test_hold_clients_bound(void)
{
	const uint32_t ip[3] = {DP_IP(10, 0, 1, 11), DP_IP(10, 0, 1, 12),
				DP_IP(10, 0, 1, 13)};
	uint32_t src, clients, held;

	dp_test_begin();
	hold_open(ip, 3);
	src = dag.dp->quota.held_source;
	clients = dag.dp->quota.held_client;
	CU_ASSERT_FATAL(2 * src < clients && 2 * src + 700 > clients &&
			clients < dag.dp->quota.held_tenant + 1 &&
			clients < dag.dp->quota.held_max);
	withhold(ip[0], 1, 1000, 100);
	withhold(ip[1], 2, 2000, 100);
	CU_ASSERT_EQUAL(dag.dp->led->held_by_clients, 2 * src);
	CU_ASSERT_EQUAL(dag.dp->cnt.drops[SL_DROP_HOLD_QUOTA], 2 * (700 - src));
	withhold(ip[2], 3, 3000, 100);
	CU_ASSERT_EQUAL(dag.dp->led->held_by_clients, clients);
	CU_ASSERT_EQUAL(dag.dp->led->held_total, clients);
	CU_ASSERT_EQUAL(dag.dp->led->tenant_use[3].held, clients - 2 * src);
	CU_ASSERT_EQUAL(dag.dp->cnt.drops[SL_DROP_HOLD_QUOTA],
			3 * 700 - clients);
	/* The third address's request, answered with seq 0 last: the
	 * answer's early fragments are held all the same. */
	CU_ASSERT_EQUAL(answer_withheld(ip[2], 3, 3999, &held), 8);
	CU_ASSERT_EQUAL(held, 7);
	CU_ASSERT_EQUAL(dag.sent[0].h.seq, 0);
	CU_ASSERT_EQUAL(dag.sent[7].h.seq, 7);
	CU_ASSERT_EQUAL(dag.sent[7].h.flags, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag.dp->led->held_total, clients);
	CU_ASSERT_EQUAL(dag.dp->cnt.drops[SL_DROP_HOLD_QUOTA],
			3 * 700 - clients);
	dag_close();
	dp_test_end();
}

/*
 * One tenant's requests may hold a quarter of the pool. Two addresses of
 * tenant 1 hold an eighth each (their own bound) but one; an answer to a
 * third address of tenant 1 then gets one early fragment held and
 * HOLD_QUOTA for the rest, though its address holds nothing and engine
 * outputs are not the clients' share; the same answer to tenant 2 is
 * held whole and delivered whole.
 */
static void
test_hold_tenant_bound(void)
{
	const uint32_t ip[4] = {DP_IP(10, 0, 1, 11), DP_IP(10, 0, 1, 12),
				DP_IP(10, 0, 1, 13), DP_IP(10, 0, 1, 14)};
	uint32_t src, tenant, held;

	dp_test_begin();
	hold_open(ip, 4);
	src = dag.dp->quota.held_source;
	tenant = dag.dp->quota.held_tenant;
	CU_ASSERT_FATAL(2 * src + 1 == tenant);
	withhold(ip[0], 1, 1000, 100);
	withhold(ip[1], 1, 2000, 100);
	CU_ASSERT_EQUAL(dag.dp->led->tenant_use[1].held, tenant - 1);
	CU_ASSERT_EQUAL(dag.dp->cnt.drops[SL_DROP_HOLD_QUOTA], 2 * (700 - src));
	/* Tenant 2 first: held whole, answered whole. */
	CU_ASSERT_EQUAL(answer_withheld(ip[3], 2, 4000, &held), 8);
	CU_ASSERT_EQUAL(held, 7);
	CU_ASSERT_EQUAL(dag.sent[7].h.flags, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag.dp->cnt.drops[SL_DROP_HOLD_QUOTA], 2 * (700 - src));
	/* Tenant 1's: one held (the tenant at its bound), six refused;
	 * seq 0 releases seq 0 and 1, the rest waits for a resend. */
	CU_ASSERT_EQUAL(answer_withheld(ip[2], 1, 3000, &held), 2);
	CU_ASSERT_EQUAL(held, 1);
	CU_ASSERT_EQUAL(dag.dp->led->tenant_use[1].held, tenant - 1);
	CU_ASSERT_EQUAL(dag.dp->cnt.drops[SL_DROP_HOLD_QUOTA],
			2 * (700 - src) + 6);
	dag_close();
	dp_test_end();
}

/*
 * One address floods new requests: past its share (flows.source_streams)
 * each is refused with ABORT (OVERLOAD) on the request's own stream; past
 * the clients' share (flows.client_streams) every client is refused, but
 * the engine outputs of requests already admitted still get entries.
 */
static void
test_request_flood(void)
{
	static const char yaml[] = HEAD(
		", client_streams: 8, source_streams: 4, tenant_streams: 8")
		NO_LIVENESS "pipelines:\n"
			    "  - name: p\n"
			    "    id: 1\n"
			    "    stages:\n"
			    "      - {name: a, instances: [10.0.2.1:8001]}\n"
			    "      - {name: b, instances: [10.0.3.1:8002]}\n"
			    "    edges:\n"
			    "      - {from: client, to: a}\n"
			    "      - {from: a, to: b}\n"
			    "      - {from: b, to: client}\n";
	struct dp_frag f;

	dp_test_begin();
	dag_open(yaml);
	for (uint64_t r = 0; r < 6; r++) {
		f = client_at(OTHER_CLIENT_IP, 100 + r, 0, SL_FRAG_F_END);
		dag_process(&f, 1);
	}
	CU_ASSERT_EQUAL(sent_to(A_IP, SL_FRAG_F_END, 0), 4);
	CU_ASSERT_EQUAL(
		sent_to(OTHER_CLIENT_IP, SL_FRAG_F_ABORT, SL_ABORT_OVERLOAD),
		2);
	CU_ASSERT_EQUAL(dag.dp->cnt.drops[SL_DROP_SOURCE_STREAMS], 2);
	CU_ASSERT_EQUAL(dag.dp->cnt.requests_refused, 2);
	/* The refusal names the request as its client did: stage 0, seq 0. */
	for (unsigned int i = 0; i < dag.n_sent; i++)
		if (dag.sent[i].dst_ip == OTHER_CLIENT_IP) {
			CU_ASSERT_EQUAL(dag.sent[i].h.stage, 0);
			CU_ASSERT_EQUAL(dag.sent[i].h.seq, 0);
			CU_ASSERT(dag.sent[i].h.ancestry[0] >= 104);
		}
	dag_clear();
	/* Another address gets the rest of the clients' share: 4 more. */
	for (uint64_t r = 0; r < 5; r++) {
		f = client_at(DAG_CLIENT_IP, 200 + r, 0, SL_FRAG_F_END);
		dag_process(&f, 1);
	}
	CU_ASSERT_EQUAL(sent_to(A_IP, SL_FRAG_F_END, 0), 4);
	CU_ASSERT_EQUAL(dag.dp->cnt.drops[SL_DROP_CLIENT_STREAMS], 1);
	dag_clear();
	/* Engine outputs of admitted requests still get entries. */
	for (uint64_t r = 0; r < 4; r++) {
		f = answer(1, 0, 200 + r, 0, SL_FRAG_F_END);
		CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	}
	CU_ASSERT_EQUAL(dag.dp->cnt.drops[SL_DROP_FLOW_TABLE_FULL], 0);
	dag_close();
	dp_test_end();
}

/*
 * Many workers share one ledger: a worker may see a client's first request
 * only once the others have filled the client's share, and it never
 * learned the client's MAC from an admitted request. The refusal must
 * reach the client all the same: the request teaches its MAC.
 */
static void
test_refusal_to_unknown_client(void)
{
	static const char yaml[] =
		HEAD(", source_streams: 2") NO_LIVENESS A_PIPELINE;
	struct sl_use *u;
	struct dp_frag f;

	dp_test_begin();
	dag_open(yaml);
	sl_neigh_forget(&dag.dp->neigh, OTHER_CLIENT_IP);
	CU_ASSERT_PTR_NULL(sl_neigh_lookup(&dag.dp->neigh, OTHER_CLIENT_IP));
	/* Another worker's two requests from that address. */
	u = &dag.dp->led->src_use[sl_dp_src_slot(dag.dp, OTHER_CLIENT_IP)];
	u->streams = 2;
	f = client_at(OTHER_CLIENT_IP, 300, 0, SL_FRAG_F_END);
	dag_process(&f, 1);
	CU_ASSERT_EQUAL(
		sent_to(OTHER_CLIENT_IP, SL_FRAG_F_ABORT, SL_ABORT_OVERLOAD),
		1);
	CU_ASSERT_EQUAL(dag.dp->cnt.drops[SL_DROP_SOURCE_STREAMS], 1);
	CU_ASSERT_EQUAL(dag.dp->cnt.requests_refused, 1);
	CU_ASSERT_PTR_NOT_NULL(
		sl_neigh_lookup(&dag.dp->neigh, OTHER_CLIENT_IP));
	u->streams = 0;
	dag_close();
	dp_test_end();
}

/* A buffer edge over what its requests may hold: the consumer gets
 * ABORT (OVERLOAD) in place of the stream, the held mbufs go back. */
static void
test_buffer_quota(void)
{
	static const char yaml[] = HEAD("") NO_LIVENESS
		"pipelines:\n"
		"  - name: p\n"
		"    id: 1\n"
		"    stages:\n"
		"      - {name: a, instances: [10.0.2.1:8001]}\n"
		"      - {name: b, instances: [10.0.3.1:8002]}\n"
		"    edges:\n"
		"      - {from: client, to: a}\n"
		"      - {from: a, to: b, mode: buffer}\n"
		"      - {from: b, to: client}\n";
	static const char *const tok[] = {"w"};
	struct dp_frag f[SL_BURST];
	uint32_t seq = 0;

	dp_test_begin();
	dag_open(yaml);
	f[0] = dag_from_client(1, 0, SL_FRAG_F_END);
	dag_process(f, 1);
	dag_clear();
	/* The source's bound, lowered: a's answer holds more than it. */
	dag.dp->quota.held_source = 50;
	while (seq < 100) {
		unsigned int n = 0;

		while (n < SL_BURST && seq < 100) {
			f[n] = answer(1, 0, 1, seq++, 0);
			f[n].n_tokens = 1;
			f[n].token_texts = tok;
			n++;
		}
		CU_ASSERT_EQUAL(dag_process(f, n), 0);
	}
	CU_ASSERT_EQUAL(dag.dp->led->held_total, 50);
	f[0] = answer(1, 0, 1, seq, SL_FRAG_F_END);
	CU_ASSERT_EQUAL_FATAL(dag_process(f, 1), 1);
	CU_ASSERT_EQUAL(dag.sent[0].dst_ip, B_IP);
	CU_ASSERT_EQUAL(dag.sent[0].h.flags, SL_FRAG_F_ABORT);
	CU_ASSERT_EQUAL(dag.sent[0].h.abort_reason, SL_ABORT_OVERLOAD);
	CU_ASSERT_EQUAL(dag.dp->led->held_total, 0);
	CU_ASSERT_EQUAL(dag.dp->led->src_use[0].held +
				dag.dp->led->tenant_use[0].held,
			0);
	dag_expect_drops(SL_DROP_BUFFER_FULL, 100u, -1);
	dag_close();
	dp_test_end();
}

/* a's answer to [@req] of @tenant: @n fragments of one token "w" from
 * seq *@seq on, no END; through a buffer edge none leaves. */
static void
buffer_fill(uint64_t req, uint16_t tenant, uint32_t *seq, uint32_t n)
{
	static const char *const tok[] = {"w"};
	struct dp_frag f[SL_BURST];
	uint32_t end = *seq + n;

	while (*seq < end) {
		unsigned int k = 0;

		while (k < SL_BURST && *seq < end) {
			f[k] = answer(1, 0, req, (*seq)++, 0);
			f[k].tenant = tenant;
			f[k].n_tokens = 1;
			f[k].token_texts = tok;
			k++;
		}
		CU_ASSERT_EQUAL(dag_process(f, k), 0);
	}
}

/*
 * Buffer edges and one tenant's bound (flows' held mbufs, a quarter of
 * the pool; lowered here to 50): two requests from one address, of
 * tenants 1 and 2, answered with 60 and 40 fragments into a buffer
 * edge. Tenant 1's answer holds 50 (BUFFER_FULL for the rest) and b
 * gets ABORT (OVERLOAD) in its place; tenant 2's holds all 40, though
 * the address's requests then hold 90 and the clients' share is lowered
 * to 10 (a buffer edge holds engine output, not the clients' streams),
 * and b gets it whole, in order.
 */
static void
test_buffer_tenant_quota(void)
{
	static const char yaml[] = HEAD("") NO_LIVENESS
		"pipelines:\n"
		"  - name: p\n"
		"    id: 1\n"
		"    stages:\n"
		"      - {name: a, instances: [10.0.2.1:8001]}\n"
		"      - {name: b, instances: [10.0.3.1:8002]}\n"
		"    edges:\n"
		"      - {from: client, to: a}\n"
		"      - {from: a, to: b, mode: buffer}\n"
		"      - {from: b, to: client}\n";
	uint32_t seq1 = 0, seq2 = 0;
	struct sl_token t[2];
	struct dp_frag f;
	uint16_t src;

	dp_test_begin();
	dag_open(yaml);
	for (uint64_t r = 1; r <= 2; r++) {
		f = dag_from_client(r, 0, SL_FRAG_F_END);
		f.tenant = (uint16_t)r;
		CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	}
	dag_clear();
	src = sl_dp_src_slot(dag.dp, DAG_CLIENT_IP);
	CU_ASSERT_FATAL(dag.dp->quota.held_source > 120 &&
			dag.dp->quota.held_max > 120);
	dag.dp->quota.held_tenant = 50;
	dag.dp->quota.held_client = 10;
	buffer_fill(1, 1, &seq1, 60);
	CU_ASSERT_EQUAL(dag.dp->led->tenant_use[1].held, 50);
	dag_expect_drops(SL_DROP_BUFFER_FULL, 10u, -1);
	buffer_fill(2, 2, &seq2, 40);
	CU_ASSERT_EQUAL(dag.dp->led->tenant_use[2].held, 40);
	CU_ASSERT_EQUAL(dag.dp->led->src_use[src].held, 90);
	CU_ASSERT_EQUAL(dag.dp->led->held_total, 90);
	CU_ASSERT_EQUAL(dag.dp->led->held_by_clients, 0);
	dag_expect_drops(SL_DROP_BUFFER_FULL, 10u, -1);
	/* Tenant 1's END: ABORT (OVERLOAD) to b, what it held let go. */
	f = answer(1, 0, 1, seq1, SL_FRAG_F_END);
	f.tenant = 1;
	CU_ASSERT_EQUAL_FATAL(dag_process(&f, 1), 1);
	CU_ASSERT_EQUAL(dag.sent[0].dst_ip, B_IP);
	CU_ASSERT_EQUAL(dag.sent[0].h.flags, SL_FRAG_F_ABORT);
	CU_ASSERT_EQUAL(dag.sent[0].h.abort_reason, SL_ABORT_OVERLOAD);
	CU_ASSERT_EQUAL(dag.sent[0].h.ancestry[0], 1);
	CU_ASSERT_EQUAL(dag.dp->led->tenant_use[1].held, 0);
	dag_expect_drops(SL_DROP_BUFFER_FULL, 60u, -1);
	dag_clear();
	/* Tenant 2's END: all 40 and the END, in order. */
	f = answer(1, 0, 2, seq2, SL_FRAG_F_END);
	f.tenant = 2;
	CU_ASSERT_EQUAL_FATAL(dag_process(&f, 1), 41);
	for (unsigned int i = 0; i < 41; i++) {
		CU_ASSERT_EQUAL(dag.sent[i].dst_ip, B_IP);
		CU_ASSERT_EQUAL(dag.sent[i].h.seq, i);
		CU_ASSERT_EQUAL(dag.sent[i].h.ancestry[0], 2);
		CU_ASSERT_EQUAL(dag.sent[i].h.flags,
				i == 40 ? SL_FRAG_F_END : 0);
		if (i == 40)
			continue;
		CU_ASSERT_EQUAL_FATAL(dag_tokens(&dag.sent[i], t, 2), 1);
		CU_ASSERT_NSTRING_EQUAL(t[0].text, "w", 1);
	}
	CU_ASSERT_EQUAL(dag.dp->led->held_total, 0);
	CU_ASSERT_EQUAL(dag.dp->led->src_use[src].held, 0);
	CU_ASSERT_EQUAL(dag.dp->led->tenant_use[2].held, 0);
	dag_expect_drops(SL_DROP_BUFFER_FULL, 60u, -1);
	dag_close();
	dp_test_end();
}

/* ------------------------------------------------------- loss repair */

/*
 * sluiced's side of every hop: a gap in what it receives is NACKed to
 * the sender; what it sent is resent byte for byte on the receiver's
 * NACK, or ABORT (LOST) when gone; an END without its ACK is resent on a
 * doubling schedule and given up after SL_RTX_TRIES; a duplicate of a
 * delivered END is ACKed again.
 */
static void
test_loss_repair(void)
{
	static const char *const tok[] = {"hello", " world"};
	struct dp_frag f, sent0;
	uint8_t first[SL_WIRE_HDR_LEN + 64];
	uint16_t first_len;

	dp_test_begin();
	dag_open(chain_yaml);
	dp_test_no_acks = true;
	/* The client's seq 1 arrives first: a NACK for seq 0 goes back. */
	f = dag_from_client(5, 1, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 0);
	CU_ASSERT_EQUAL(dag.dp->cnt.rtx.nacks_tx, 1);
	CU_ASSERT_EQUAL(dp_test_ctl_nacks, 1);
	/* The repeat comes on its schedule, not before. */
	dag_housekeeping(dag.dp->tsc_hz / 1000 * (SL_RTX_NACK_MS - 1));
	CU_ASSERT_EQUAL(dag.dp->cnt.rtx.nacks_tx, 1);
	dag_housekeeping(dag.dp->tsc_hz / 1000 * (SL_RTX_NACK_MS + 1));
	CU_ASSERT_EQUAL(dag.dp->cnt.rtx.nacks_tx, 2);
	/* The gap filled: both go out, the END is ACKed. */
	f = dag_from_client(5, 0, 0);
	f.n_tokens = 2;
	f.token_texts = tok;
	CU_ASSERT_EQUAL(dag_process(&f, 1), 2);
	CU_ASSERT_EQUAL(dag.dp->cnt.rtx.acks_tx, 1);
	first_len = dag.sent[0].dlen;
	memcpy(first, dag.sent[0].dgram, first_len);
	dag_clear();
	/* The END again (our ACK lost): dropped, ACKed again. */
	f = dag_from_client(5, 1, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 0);
	CU_ASSERT_EQUAL(dag.dp->cnt.rtx.acks_tx, 2);

	/* a NACKs seq 0 of what sluiced sent it: resent, byte for byte. */
	sent0 = dag_from_client(5, 0, 0);
	sent0.stage = 1; /* as a received it */
	sent0.ancestry[0] = dag_wire_id(5);
	send_control(A_IP, 8001, &sent0, SL_FRAG_F_NACK, 0, 1);
	CU_ASSERT_EQUAL_FATAL(dag.n_sent, 1);
	CU_ASSERT_EQUAL(dag.sent[0].dlen, first_len);
	CU_ASSERT_EQUAL(memcmp(dag.sent[0].dgram, first, first_len), 0);
	CU_ASSERT_EQUAL(dag.dp->cnt.rtx.resent, 1);
	dag_clear();
	/* The END, never ACKed by a, is resent after RTO, 2 RTO, ...: 5
	 * times, then given up. */
	for (unsigned int k = 0; k <= SL_RTX_TRIES; k++)
		dag_housekeeping(dag.dp->tsc_hz / 1000 * 200 * (k + 1) +
				 dag.dp->tsc_hz / 1000 * SL_RTX_RTO_MS *
					 ((2u << k) - 1));
	CU_ASSERT_EQUAL(dag.dp->cnt.rtx.end_resends, SL_RTX_TRIES);
	CU_ASSERT_EQUAL(dag.dp->cnt.rtx.gave_up, 1);
	CU_ASSERT_EQUAL(sent_to(A_IP, SL_FRAG_F_END, 0), SL_RTX_TRIES);
	dag_clear();
	/* Forgotten: a NACK now names nothing (UNSOLICITED); a, a
	 * neighbour, is told the stream ends there. */
	send_control(A_IP, 8001, &sent0, SL_FRAG_F_NACK, 0, 1);
	CU_ASSERT_EQUAL(dag.dp->cnt.drops[SL_DROP_UNSOLICITED], 1);
	CU_ASSERT_EQUAL_FATAL(dag.n_sent, 1);
	CU_ASSERT_EQUAL(dag.sent[0].dst_ip, A_IP);
	CU_ASSERT_EQUAL(dag.sent[0].h.flags, SL_FRAG_F_ABORT);
	CU_ASSERT_EQUAL(dag.sent[0].h.abort_reason, SL_ABORT_LOST);
	CU_ASSERT_EQUAL(dag.sent[0].h.seq, 0);
	CU_ASSERT_EQUAL(dag.dp->cnt.rtx.lost_aborts, 1);
	dag_clear();
	/* From an address sluiced does not know: nothing at all. */
	send_control(DP_IP(10, 0, 9, 9), 8001, &sent0, SL_FRAG_F_NACK, 0, 1);
	CU_ASSERT_EQUAL(dag.n_sent, 0);
	CU_ASSERT_EQUAL(dag.dp->cnt.drops[SL_DROP_UNSOLICITED], 2);
	/* Nor from a's host on another port (found by fuzz_dataplane: the
	 * ABORT went to whatever port the NACK named). */
	send_control(A_IP, 48761, &sent0, SL_FRAG_F_NACK, 0, 1);
	CU_ASSERT_EQUAL(dag.n_sent, 0);
	CU_ASSERT_EQUAL(dag.dp->cnt.drops[SL_DROP_UNSOLICITED], 3);
	CU_ASSERT_EQUAL(dag.dp->cnt.rtx.lost_aborts, 1);
	dp_test_no_acks = false;
	dag_close();
	dp_test_end();
}

/* The last NACK sluiced sent since the last call: its seq and count,
 * or false. */
static bool
last_nack(uint32_t *seq, uint32_t *count)
{
	if (!(dp_test_last_nack.flags & SL_FRAG_F_NACK))
		return false;
	*seq = dp_test_last_nack.seq;
	*count = dp_test_last_nack.child_count;
	memset(&dp_test_last_nack, 0, sizeof(dp_test_last_nack));
	return true;
}

/*
 * Fragments dropped beyond the reorder window (8 here) are asked for in
 * the NACK too; each filled gap NACKs the rest at once; a gap that only
 * shrinks starts its repeats over; one never repaired ends the stream
 * with ABORT (LOST) at it after the last repeat (at 5% loss a long
 * buffered answer went quiet at sluiced until the idle timeout, its
 * request lost to the client).
 */
static void
test_gap_repair_and_give_up(void)
{
	static const char *const tok[] = {"t"};
	uint64_t ms = 0, nacks;
	uint32_t seq, count;
	struct dp_frag f;

	dp_test_begin();
	dag_open(chain_yaml);
	/* Seq 0 lost; 1..12 come: 1..7 held, 8..12 dropped (window). */
	for (uint32_t q = 1; q <= 12; q++) {
		f = dag_from_client(7, q, q == 12 ? SL_FRAG_F_END : 0);
		f.n_tokens = 1;
		f.token_texts = tok;
		CU_ASSERT_EQUAL(dag_process(&f, 1), 0);
	}
	CU_ASSERT_EQUAL(dag.dp->cnt.drops[SL_DROP_SEQ_TOO_FAR], 5);
	CU_ASSERT_EQUAL(dag.dp->cnt.rtx.nacks_tx, 1);
	CU_ASSERT_FATAL(last_nack(&seq, &count));
	CU_ASSERT_EQUAL(seq, 0);
	CU_ASSERT_EQUAL(count, 1);
	dag_clear();
	ms += SL_RTX_NACK_MS + 1;
	dag_housekeeping(dag.dp->tsc_hz / 1000 * ms);
	CU_ASSERT_FATAL(last_nack(&seq, &count));
	CU_ASSERT_EQUAL(seq, 0);
	CU_ASSERT_EQUAL(count, 13); /* the dropped END too */
	dag_clear();
	/* Seq 0: 0..7 go out; 8..12 are NACKed at once. */
	f = dag_from_client(7, 0, 0);
	f.n_tokens = 1;
	f.token_texts = tok;
	CU_ASSERT_EQUAL(dag_process(&f, 1), 8);
	CU_ASSERT_FATAL(last_nack(&seq, &count));
	CU_ASSERT_EQUAL(seq, 8);
	CU_ASSERT_EQUAL(count, 5);
	dag_clear();
	/* 8..10 resent, in order: the gap shrinks, no NACK per fragment. */
	nacks = dag.dp->cnt.rtx.nacks_tx;
	for (uint32_t q = 8; q <= 10; q++) {
		f = dag_from_client(7, q, 0);
		f.n_tokens = 1;
		f.token_texts = tok;
		CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	}
	CU_ASSERT_EQUAL(dag.dp->cnt.rtx.nacks_tx, nacks);
	dag_clear();
	/* 11 and 12 never come: the repeats (their schedule started over
	 * at 10), then ABORT (LOST) at 11 to a. */
	for (unsigned int k = 0; k <= SL_RTX_TRIES + 1; k++) {
		ms += (SL_RTX_NACK_MS << k) + 1;
		dag_housekeeping(dag.dp->tsc_hz / 1000 * ms);
	}
	CU_ASSERT_EQUAL(dag.dp->cnt.rtx.nacks_tx, nacks + SL_RTX_TRIES);
	CU_ASSERT_FATAL(last_nack(&seq, &count));
	CU_ASSERT_EQUAL(seq, 11);
	CU_ASSERT_EQUAL(count, 2);
	CU_ASSERT_EQUAL(dag.dp->cnt.rtx.nack_gave_up, 1);
	CU_ASSERT_EQUAL(sent_to(A_IP, SL_FRAG_F_ABORT, SL_ABORT_LOST), 1);
	for (unsigned int i = 0; i < dag.n_sent; i++)
		if (dag.sent[i].h.flags == SL_FRAG_F_ABORT)
			CU_ASSERT_EQUAL(dag.sent[i].h.seq, 11);
	dag_close();
	dp_test_end();
}

/* A NACK for what sluiced no longer keeps: ABORT (LOST) at that seq.
 * A stream is kept from its first fragment whatever its length; only the
 * global bound (a quarter of the mempool, oldest first) takes copies. */
static void
test_nack_evicted(void)
{
	static const char *const tok[] = {"x"};
	struct dp_frag f, as_seen;
	uint32_t bound, n;

	dp_test_begin();
	dag_open(chain_yaml);
	bound = dag.dp->pool->size / 4;
	f = dag_from_client(6, 0, SL_FRAG_F_END);
	dag_process(&f, 1);
	/* a's answer, longer than any window: 100 fragments, all kept. */
	for (uint32_t s = 0; s < 100; s++) {
		f = answer(1, 0, 6, s, 0);
		f.n_tokens = 1;
		f.token_texts = tok;
		CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
		dag_clear();
	}
	CU_ASSERT_EQUAL(dag.dp->cnt.rtx.kept, 101);
	as_seen = answer(1, 0, 6, 0, 0);
	as_seen.stage = 2;
	as_seen.ancestry[0] = dag_wire_id(6);
	/* b lost 2..97 of the burst: all of it comes again, in order. */
	send_control_from(B_IP, 8002, &as_seen, 1, SL_FRAG_F_NACK, 2, 96);
	CU_ASSERT_EQUAL_FATAL(dag.n_sent, 96);
	for (uint32_t k = 0; k < 96; k++) {
		CU_ASSERT_EQUAL(dag.sent[k].dst_ip, B_IP);
		CU_ASSERT_EQUAL(dag.sent[k].h.seq, 2 + k);
		CU_ASSERT_EQUAL(dag.sent[k].h.flags, 0);
	}
	CU_ASSERT_EQUAL(dag.dp->cnt.rtx.resent, 96);
	CU_ASSERT_EQUAL(dag.dp->cnt.rtx.lost_aborts, 0);
	dag_clear();
	/* Then more than the global bound: the oldest copies go (0, 1,
	 * ... of the answer; the request's to a went with a's ACK). */
	n = bound + 4 - 100; /* 4 over the bound */
	for (uint32_t s = 100; s < 100 + n; s++) {
		f = answer(1, 0, 6, s, 0);
		f.n_tokens = 1;
		f.token_texts = tok;
		CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
		dag_clear();
	}
	CU_ASSERT_EQUAL(dag.dp->cnt.rtx.evicted, 4);
	/* One still kept is resent. */
	send_control_from(B_IP, 8002, &as_seen, 1, SL_FRAG_F_NACK, 4, 1);
	CU_ASSERT_EQUAL_FATAL(dag.n_sent, 1);
	CU_ASSERT_EQUAL(dag.sent[0].h.seq, 4);
	CU_ASSERT_EQUAL(dag.sent[0].h.flags, 0);
	dag_clear();
	/* One evicted: the stream ends there, explicitly. */
	send_control_from(B_IP, 8002, &as_seen, 1, SL_FRAG_F_NACK, 2, 3);
	CU_ASSERT_EQUAL_FATAL(dag.n_sent, 1);
	CU_ASSERT_EQUAL(dag.sent[0].dst_ip, B_IP);
	CU_ASSERT_EQUAL(dag.sent[0].h.flags, SL_FRAG_F_ABORT);
	CU_ASSERT_EQUAL(dag.sent[0].h.abort_reason, SL_ABORT_LOST);
	CU_ASSERT_EQUAL(dag.sent[0].h.seq, 2);
	CU_ASSERT_EQUAL(dag.dp->cnt.rtx.lost_aborts, 1);
	dag_clear();
	dag_close();
	dp_test_end();
}

/* ---------------------------------------------------------- liveness */

#define LIVENESS "liveness: {probe_ms: 100, dead_ms: 300}\n"
/* Pipeline p: client -> a (two instances) -> b (one) -> client. */
#define LIVE_PIPELINE                                                          \
	"pipelines:\n"                                                         \
	"  - name: p\n"                                                        \
	"    id: 1\n"                                                          \
	"    stages:\n"                                                        \
	"      - {name: a, instances: [10.0.2.1:8001, 10.0.2.2:8001]}\n"       \
	"      - {name: b, instances: [10.0.3.1:8002]}\n"                      \
	"    edges:\n"                                                         \
	"      - {from: client, to: a}\n"                                      \
	"      - {from: a, to: b}\n"                                           \
	"      - {from: b, to: client}\n"

static const char live_yaml[] = HEAD("") LIVENESS LIVE_PIPELINE;

/* The PROBE answer of the instance at @ip:@port of stage @stage. */
static void
probe_answer_of(uint32_t ip, uint16_t port, uint16_t stage, uint8_t flags)
{
	struct dp_frag p = dag_from_client(0, 0, 0);

	p.stage = stage;
	send_control(ip, port, &p, flags, 0, 0);
}

/* ... of an instance of stage 1 (port 8001), with @flags. */
static void
probe_answer(uint32_t ip, uint8_t flags)
{
	probe_answer_of(ip, 8001, 1, flags);
}

/*
 * An instance that stops answering is dead after liveness.dead_ms: its
 * stream in flight is aborted downstream (ABORT (ENGINE) from stage a to
 * b, and on to the client) and new streams go to the live one. Before,
 * a dead instance kept receiving new streams forever and its requests
 * were never answered. Heard from again, it is alive.
 */
static void
test_dead_instance(void)
{
	struct dp_frag f;
	uint64_t t_ms;

	dp_test_begin();
	dag_open(live_yaml);
	t_ms = dag.dp->tsc_hz / 1000;
	f = dag_from_client(1, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	CU_ASSERT_EQUAL(dag.sent[0].dst_ip, A_IP);
	dag_clear();
	/* Probes go out; a/1 and b answer, a/0 does not. */
	for (uint64_t t = 100; t <= 400; t += 100) {
		dag_housekeeping(t * t_ms);
		probe_answer(A2_IP, SL_FRAG_F_PROBE);
		probe_answer_of(B_IP, 8002, 2, SL_FRAG_F_PROBE);
	}
	CU_ASSERT(dp_test_ctl_probes >= 6);
	CU_ASSERT_FALSE(sl_dp_instance(dag.dp, 0, 0, 0)->alive);
	CU_ASSERT_TRUE(sl_dp_instance(dag.dp, 0, 0, 1)->alive);
	CU_ASSERT_EQUAL(dag.dp->cnt.live.instances_died, 1);
	CU_ASSERT_EQUAL(sl_dp_instance(dag.dp, 0, 0, 0)->streams_aborted, 1);
	CU_ASSERT_EQUAL(sl_dp_instance(dag.dp, 0, 0, 0)->streams_active, 0);
	/* Its answer that will not come: ABORT (ENGINE) to b, as a's. */
	CU_ASSERT_EQUAL(sent_to(B_IP, SL_FRAG_F_ABORT, SL_ABORT_ENGINE), 1);
	dag_clear();
	/* New streams avoid it. */
	for (uint64_t r = 2; r < 6; r++) {
		f = dag_from_client(r, 0, SL_FRAG_F_END);
		CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
		CU_ASSERT_EQUAL(dag.sent[dag.n_sent - 1].dst_ip, A2_IP);
	}
	/* It speaks again: alive. */
	probe_answer(A_IP, SL_FRAG_F_PROBE);
	CU_ASSERT_TRUE(sl_dp_instance(dag.dp, 0, 0, 0)->alive);
	CU_ASSERT_EQUAL(dag.dp->cnt.live.instances_revived, 1);
	dag_close();
	dp_test_end();
}

/* live_yaml with room for 1,400 requests of one client at once. */
static const char live_many_yaml[] =
	"sluiced: {address: 10.0.0.1, port: 7700}\n"
	"flows: {size: 4096, idle_timeout_ms: 5000, reorder_window: 8,\n"
	"        client_streams: 2000, source_streams: 2000,\n"
	"        tenant_streams: 2000}\n"
	"clients: [10.0.1.0/24]\n" LIVENESS LIVE_PIPELINE;

/*
 * An instance dies with more streams in flight than the worker queues
 * ABORTs before it drains them (SL_QUEUE_BUDGET): its death is dealt with
 * a slice at a time, every stream still gets exactly one ABORT (ENGINE),
 * nothing is dropped, every mbuf comes back.
 */
static void
test_dead_instance_many(void)
{
	enum { N = 1400 };
	struct dp_frag f[SL_BURST];
	unsigned int to_a = 0;
	uint64_t t_ms;

	dp_test_begin();
	dag_open(live_many_yaml);
	t_ms = dag.dp->tsc_hz / 1000;
	for (unsigned int r = 0; r < N; r += SL_BURST) {
		unsigned int k = RTE_MIN(N - r, (unsigned int)SL_BURST);

		for (unsigned int i = 0; i < k; i++)
			f[i] = dag_from_client(1 + r + i, 0, SL_FRAG_F_END);
		CU_ASSERT_EQUAL(dag_process(f, k), k);
	}
	to_a = sent_to(A_IP, SL_FRAG_F_END, 0);
	CU_ASSERT_EQUAL(to_a + sent_to(A2_IP, SL_FRAG_F_END, 0), N);
	CU_ASSERT(to_a > SL_QUEUE_BUDGET);
	CU_ASSERT_EQUAL(sl_dp_instance(dag.dp, 0, 0, 0)->streams, to_a);
	dag_clear();
	for (uint64_t t = 100; t <= 400; t += 100) {
		dag_housekeeping(t * t_ms);
		probe_answer(A2_IP, SL_FRAG_F_PROBE);
		probe_answer_of(B_IP, 8002, 2, SL_FRAG_F_PROBE);
	}
	CU_ASSERT_FALSE(sl_dp_instance(dag.dp, 0, 0, 0)->alive);
	CU_ASSERT_EQUAL(dag.dp->cnt.live.instances_died, 1);
	CU_ASSERT_EQUAL(dag.dp->n_dying, 0);
	CU_ASSERT_EQUAL(sl_dp_instance(dag.dp, 0, 0, 0)->streams_aborted, to_a);
	CU_ASSERT_EQUAL(sl_dp_instance(dag.dp, 0, 0, 0)->streams_active, 0);
	CU_ASSERT_EQUAL(sent_to(B_IP, SL_FRAG_F_ABORT, SL_ABORT_ENGINE), to_a);
	CU_ASSERT_EQUAL(dag.dp->n_loop + dag.dp->n_out + dag.dp->n_ctrl, 0);
	dag_expect_drops(-1);
	dag_close();
	dp_test_end();
}

/* Request 1 through a/0, whose whole answer (one token, END) went on
 * to b. */
static void
dead_setup(const char *yaml)
{
	static const char *const tok[] = {"x"};
	struct dp_frag f;

	dp_test_begin();
	dag_open(yaml);
	f = dag_from_client(1, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	f = answer(1, 0, 1, 0, SL_FRAG_F_END);
	f.n_tokens = 1;
	f.token_texts = tok;
	CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	CU_ASSERT_EQUAL(dag.sent[1].dst_ip, B_IP);
	dag_clear();
}

/* Housekeeping at @t ms, then the PROBE answers of a/0, a/1 and, with
 * @b_alive, b. */
static void
dead_tick(uint64_t t, bool b_alive)
{
	dag_housekeeping(t * (dag.dp->tsc_hz / 1000));
	probe_answer(A_IP, SL_FRAG_F_PROBE);
	probe_answer(A2_IP, SL_FRAG_F_PROBE);
	if (b_alive)
		probe_answer_of(B_IP, 8002, 2, SL_FRAG_F_PROBE);
}

/* live_yaml with streams idle for 5 s before they expire. */
static const char live_idle5_yaml[] =
	"sluiced: {address: 10.0.0.1, port: 7700}\n"
	"flows: {size: 1024, idle_timeout_ms: 5000, reorder_window: 8}\n"
	"clients: [10.0.1.0/24]\n" LIVENESS LIVE_PIPELINE;

/*
 * b got its whole input (a's answer, ended) and queued it: its answer is
 * owed but not started. The input stays in the table past its linger
 * while b lives, so that b's death still finds it: ABORT (ENGINE) for
 * b's answer, on to the client, at once. Before, the input left after
 * its linger and the request waited for the idle timeout (EXPIRED).
 */
static void
test_dead_before_answer(void)
{
	dead_setup(live_idle5_yaml);
	/* 2 s, everyone alive, b busy: nothing ends. */
	for (uint64_t t = 100; t <= 2000; t += 100)
		dead_tick(t, true);
	CU_ASSERT_EQUAL(dag.n_sent, 0);
	/* b falls silent: its owed answer is aborted. */
	for (uint64_t t = 2100; t <= 2500; t += 100)
		dead_tick(t, false);
	CU_ASSERT_FALSE(sl_dp_instance(dag.dp, 0, 1, 0)->alive);
	CU_ASSERT_EQUAL(sl_dp_instance(dag.dp, 0, 1, 0)->streams_aborted, 1);
	CU_ASSERT_EQUAL(dag.n_sent, 1);
	CU_ASSERT_EQUAL(
		sent_to(DAG_CLIENT_IP, SL_FRAG_F_ABORT, SL_ABORT_ENGINE), 1);
	dag_close();
	dp_test_end();
}

/*
 * An instance that dies half-way through an answer whose input has long
 * gone from the table (b's input, a's answer, ended and lingered out):
 * its answer under way ends with ABORT (ENGINE), on to the client. At
 * 5% loss in chaos.sh such a stream waited for the idle timeout and
 * reached the client as EXPIRED a minute later.
 */
static void
test_dead_mid_answer(void)
{
	static const char *const tok[] = {"x"};
	struct dp_frag f;
	uint32_t q = 0;

	dead_setup(live_yaml);
	/* 1.5 s, everyone answering, b a token every 100 ms: a's answer to
	 * b lingers out. */
	for (uint64_t t = 100; t <= 1500; t += 100) {
		dead_tick(t, true);
		f = answer(2, 0, 1, q++, 0);
		f.n_tokens = 1;
		f.token_texts = tok;
		CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	}
	CU_ASSERT_EQUAL(
		sent_to(DAG_CLIENT_IP, SL_FRAG_F_ABORT, SL_ABORT_ENGINE), 0);
	dag_clear();
	/* b falls silent. */
	for (uint64_t t = 1600; t <= 2000; t += 100)
		dead_tick(t, false);
	CU_ASSERT_FALSE(sl_dp_instance(dag.dp, 0, 1, 0)->alive);
	CU_ASSERT_EQUAL(sl_dp_instance(dag.dp, 0, 1, 0)->streams_aborted, 1);
	CU_ASSERT_EQUAL(
		sent_to(DAG_CLIENT_IP, SL_FRAG_F_ABORT, SL_ABORT_ENGINE), 1);
	for (unsigned int i = 0; i < dag.n_sent; i++)
		if (dag.sent[i].h.flags == SL_FRAG_F_ABORT)
			CU_ASSERT_EQUAL(dag.sent[i].h.seq, q);
	dag_close();
	dp_test_end();
}

/*
 * A request that is over owes nothing. Its client stream leaves the
 * table only when the request is done (b's answer ended), a's answer to
 * it ended before that, so a's answer lingers out first and is no
 * longer in the table to show that a answered. Before, the keep hook
 * took that for an answer never started: every finished request's
 * client stream stayed past its linger until the idle timeout (5 s
 * here instead of 1; the dataplane bench filled its flow table with
 * them), and a's death in that time sent b an ABORT (ENGINE) for an
 * answer a had given whole long before.
 */
static void
test_done_request_not_kept(void)
{
	static const char *const tok[] = {"x"};
	struct dp_frag f;
	uint64_t t_ms;

	dp_test_begin();
	dag_open(live_idle5_yaml);
	t_ms = dag.dp->tsc_hz / 1000;
	f = dag_from_client(1, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	CU_ASSERT_EQUAL(dag.sent[0].dst_ip, A_IP);
	f = answer(1, 0, 1, 0, SL_FRAG_F_END);
	f.n_tokens = 1;
	f.token_texts = tok;
	CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	CU_ASSERT_EQUAL(dag.sent[1].dst_ip, B_IP);
	f = answer(2, 0, 1, 0, SL_FRAG_F_END);
	f.n_tokens = 1;
	f.token_texts = tok;
	CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	CU_ASSERT_EQUAL(dag.sent[2].dst_ip, DAG_CLIENT_IP);
	CU_ASSERT_EQUAL(dag.sent[2].h.flags, SL_FRAG_F_END);
	/* The client stream, a's answer and b's answer. */
	CU_ASSERT_EQUAL(dag.dp->flows->active, 3);
	dag_clear();
	/* Everyone alive and answering: all three leave after the linger
	 * (1 s), none is kept. */
	for (uint64_t t = 100; t <= 1500; t += 100) {
		dag_housekeeping(t * t_ms);
		probe_answer(A_IP, SL_FRAG_F_PROBE);
		probe_answer(A2_IP, SL_FRAG_F_PROBE);
		probe_answer_of(B_IP, 8002, 2, SL_FRAG_F_PROBE);
	}
	CU_ASSERT_EQUAL(dag.dp->flows->active, 0);
	CU_ASSERT_EQUAL(dag.dp->cnt.flows.expired, 0);
	/* a falls silent: it owed nothing, nobody hears of its death. */
	for (uint64_t t = 1600; t <= 2000; t += 100) {
		dag_housekeeping(t * t_ms);
		probe_answer(A2_IP, SL_FRAG_F_PROBE);
		probe_answer_of(B_IP, 8002, 2, SL_FRAG_F_PROBE);
	}
	CU_ASSERT_FALSE(sl_dp_instance(dag.dp, 0, 0, 0)->alive);
	CU_ASSERT_EQUAL(sl_dp_instance(dag.dp, 0, 0, 0)->streams_aborted, 0);
	CU_ASSERT_EQUAL(dag.n_sent, 0);
	CU_ASSERT_EQUAL(dag.dp->cnt.requests_aborted, 0);
	dag_expect_drops(-1);
	dag_close();
	dp_test_end();
}

/*
 * The instance with uid 0 dies while one of its answers has opened a
 * splitter that has no child yet: only the answer's own stream is dealt
 * with. Before, the splitter's unused child pin (zeroed: instance 0,
 * stage 0) was taken for a stream routed to uid 0, and its stage - 1
 * indexed stages[-1] (found by fuzz_dataplane).
 */
static void
test_dead_instance_open_splitter(void)
{
	static const char yaml[] = HEAD("") LIVENESS
		"pipelines:\n"
		"  - name: p\n"
		"    id: 1\n"
		"    stages:\n"
		"      - {name: a, instances: [10.0.2.1:8001, 10.0.2.2:8001]}\n"
		"      - {name: b, instances: [10.0.3.1:8002]}\n"
		"    edges:\n"
		"      - {from: client, to: a}\n"
		"      - {from: a, to: b, split: line}\n"
		"      - {from: b, to: client}\n";
	const uint64_t r1[1] = {1};
	struct dp_frag f;
	uint64_t t_ms;

	dp_test_begin();
	dag_open(yaml);
	CU_ASSERT_EQUAL(dag_stage(1)->instances[0].uid, 0);
	t_ms = dag.dp->tsc_hz / 1000;
	f = dag_from_client(1, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	CU_ASSERT_EQUAL(dag.sent[0].dst_ip, A_IP);
	/* a/0 answers, no text yet: the splitter opens, no child. */
	f = dag_from_instance(1, 0, r1, 1, 0, 0);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 0);
	dag_clear();
	for (uint64_t t = 100; t <= 400; t += 100) {
		dag_housekeeping(t * t_ms);
		probe_answer(A2_IP, SL_FRAG_F_PROBE);
		probe_answer_of(B_IP, 8002, 2, SL_FRAG_F_PROBE);
	}
	CU_ASSERT_FALSE(sl_dp_instance(dag.dp, 0, 0, 0)->alive);
	CU_ASSERT_EQUAL(dag.dp->cnt.live.instances_died, 1);
	/* The client stream's route to a/0, nothing else. */
	CU_ASSERT_EQUAL(sl_dp_instance(dag.dp, 0, 0, 0)->streams_aborted, 1);
	CU_ASSERT_EQUAL(sl_dp_instance(dag.dp, 0, 0, 0)->streams_active, 0);
	dag_close();
	dp_test_end();
}

/*
 * A bounded-load stage whose instances all died: a stream for a key
 * pinned to one of them finds nobody (ABORT (OVERLOAD)), and the key is
 * let go then. Before, the pin stayed on the dead instance after its
 * count was taken back, and housekeeping took it back again when the
 * key idled out: the instance's and the stage's key counts went below
 * zero, and bounded load read 4294967295 keys (found by fuzz_dataplane).
 */
static void
test_dead_stage_key_pin(void)
{
	static const char yaml[] = HEAD("") LIVENESS
		"pipelines:\n"
		"  - name: p\n"
		"    id: 1\n"
		"    stages:\n"
		"      - {name: a, instances: [10.0.2.1:8001]}\n"
		"      - {name: b, aggregation: 1, load_bound: 1.5,\n"
		"         instances: [10.0.3.1:8002, 10.0.3.2:8002]}\n";
	const uint64_t r0[2] = {1, 0}, r1[2] = {1, 1};
	struct dp_frag f;
	uint64_t t_ms;

	dp_test_begin();
	dag_open(yaml);
	t_ms = dag.dp->tsc_hz / 1000;
	f = dag_from_client(1, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	/* a's first answer pins key [1] to a b instance. */
	f = dag_from_instance(1, 0, r0, 2, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	CU_ASSERT_EQUAL(dag.dp->stages[0][1].keys_active, 1);
	/* b's instances fall silent and die; a lives. */
	for (uint64_t t = 100; t <= 400; t += 100) {
		dag_housekeeping(t * t_ms);
		probe_answer(A_IP, SL_FRAG_F_PROBE);
	}
	CU_ASSERT_FALSE(sl_dp_instance(dag.dp, 0, 1, 0)->alive);
	CU_ASSERT_FALSE(sl_dp_instance(dag.dp, 0, 1, 1)->alive);
	/* a's second answer for the key: nobody takes it. */
	f = dag_from_instance(1, 0, r1, 2, 0, SL_FRAG_F_END);
	dag_process(&f, 1);
	CU_ASSERT(dag.dp->cnt.drops[SL_DROP_NO_INSTANCE] >= 1);
	/* Long idle: every count is back to zero, none below. */
	for (uint64_t t = 500; t <= 4000; t += 100) {
		dag_housekeeping(t * t_ms);
		probe_answer(A_IP, SL_FRAG_F_PROBE);
	}
	CU_ASSERT_EQUAL(dag.dp->stages[0][1].keys_active, 0);
	CU_ASSERT_EQUAL(sl_dp_instance(dag.dp, 0, 1, 0)->keys_active, 0);
	CU_ASSERT_EQUAL(sl_dp_instance(dag.dp, 0, 1, 1)->keys_active, 0);
	dag_close();
	dp_test_end();
}

/*
 * PAUSE: an instance that asks for no new streams gets none; when no
 * instance of a stage can take a stream, the request is refused at once
 * with ABORT (OVERLOAD) (from the stage, on to the client) rather than
 * queued until lost.
 */
static void
test_pause_and_overload(void)
{
	struct dp_frag f;

	dp_test_begin();
	dag_open(live_yaml);
	probe_answer(A_IP, SL_FRAG_F_PROBE | SL_FRAG_F_PAUSE);
	CU_ASSERT_TRUE(sl_dp_instance(dag.dp, 0, 0, 0)->paused);
	for (uint64_t r = 1; r <= 3; r++) {
		f = dag_from_client(r, 0, SL_FRAG_F_END);
		CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
		CU_ASSERT_EQUAL(dag.sent[dag.n_sent - 1].dst_ip, A2_IP);
	}
	dag_clear();
	probe_answer(A2_IP, SL_FRAG_F_PROBE | SL_FRAG_F_PAUSE);
	f = dag_from_client(4, 0, SL_FRAG_F_END);
	dag_process(&f, 1);
	/* Nobody took it: a's answer is ABORT (OVERLOAD) to b. */
	CU_ASSERT_EQUAL(sent_to(A_IP, SL_FRAG_F_END, 0), 0);
	CU_ASSERT_EQUAL(sent_to(A2_IP, SL_FRAG_F_END, 0), 0);
	CU_ASSERT_EQUAL(sent_to(B_IP, SL_FRAG_F_ABORT, SL_ABORT_OVERLOAD), 1);
	dag_expect_drops(SL_DROP_NO_INSTANCE, 1u, -1);
	dag_clear();
	/* Unpaused: streams flow again. */
	probe_answer(A_IP, SL_FRAG_F_PROBE);
	f = dag_from_client(5, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	CU_ASSERT_EQUAL(dag.sent[0].dst_ip, A_IP);
	dag_close();
	dp_test_end();
}

/* An idempotent stage's stream is sent again, whole, to another instance
 * when its instance dies having answered nothing. */
static void
test_idempotent_resend(void)
{
	static const char yaml[] = HEAD("") LIVENESS
		"pipelines:\n"
		"  - name: p\n"
		"    id: 1\n"
		"    stages:\n"
		"      - {name: a, idempotent: true,\n"
		"         instances: [10.0.2.1:8001, 10.0.2.2:8001]}\n"
		"    edges:\n"
		"      - {from: client, to: a}\n"
		"      - {from: a, to: client}\n";
	static const char *const tok[] = {"question"};
	struct dp_frag f[2];
	uint64_t t_ms;

	dp_test_begin();
	dag_open(yaml);
	t_ms = dag.dp->tsc_hz / 1000;
	f[0] = dag_from_client(1, 0, 0);
	f[0].n_tokens = 1;
	f[0].token_texts = tok;
	f[1] = dag_from_client(1, 1, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(f, 2), 2);
	CU_ASSERT_EQUAL(dag.sent[0].dst_ip, A_IP);
	dag_clear();
	for (uint64_t t = 100; t <= 400; t += 100) {
		dag_housekeeping(t * t_ms);
		probe_answer(A2_IP, SL_FRAG_F_PROBE);
	}
	/* Both fragments again, to a/1, same bytes but the address. */
	CU_ASSERT_EQUAL(sl_dp_instance(dag.dp, 0, 0, 0)->streams_resent, 1);
	CU_ASSERT_EQUAL(sent_to(A2_IP, 0, 0), 1);
	CU_ASSERT_EQUAL(sent_to(A2_IP, SL_FRAG_F_END, 0), 1);
	CU_ASSERT_EQUAL(sl_dp_instance(dag.dp, 0, 0, 1)->streams_active, 0);
	dag_expect_drops(-1);
	dag_close();
	dp_test_end();
}

/* An idempotent stage's stream is not sent again when its instance dies
 * having answered part of it: the answer under way ends with ABORT
 * (ENGINE) after what was delivered, and a/1 gets nothing. */
static void
test_idempotent_emitted(void)
{
	static const char yaml[] = HEAD("") LIVENESS
		"pipelines:\n"
		"  - name: p\n"
		"    id: 1\n"
		"    stages:\n"
		"      - {name: a, idempotent: true,\n"
		"         instances: [10.0.2.1:8001, 10.0.2.2:8001]}\n"
		"    edges:\n"
		"      - {from: client, to: a}\n"
		"      - {from: a, to: client}\n";
	static const char *const tok[] = {"question"};
	static const char *const said[] = {"half an answer"};
	struct sl_token t[2];
	struct dp_frag f[2];
	uint64_t t_ms;

	dp_test_begin();
	dag_open(yaml);
	t_ms = dag.dp->tsc_hz / 1000;
	f[0] = dag_from_client(1, 0, 0);
	f[0].n_tokens = 1;
	f[0].token_texts = tok;
	f[1] = dag_from_client(1, 1, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(f, 2), 2);
	CU_ASSERT_EQUAL(dag.sent[0].dst_ip, A_IP);
	dag_clear();
	/* a/0 answers part, then falls silent. */
	f[0] = answer(1, 0, 1, 0, 0);
	f[0].n_tokens = 1;
	f[0].token_texts = said;
	CU_ASSERT_EQUAL_FATAL(dag_process(f, 1), 1);
	CU_ASSERT_EQUAL(dag.sent[0].dst_ip, DAG_CLIENT_IP);
	dag_clear();
	for (uint64_t t = 100; t <= 400; t += 100) {
		dag_housekeeping(t * t_ms);
		probe_answer(A2_IP, SL_FRAG_F_PROBE);
	}
	CU_ASSERT_FALSE(sl_dp_instance(dag.dp, 0, 0, 0)->alive);
	CU_ASSERT_EQUAL(sl_dp_instance(dag.dp, 0, 0, 0)->streams_resent, 0);
	CU_ASSERT_EQUAL(sl_dp_instance(dag.dp, 0, 0, 0)->streams_aborted, 1);
	/* Nothing of the request to a/1; the client told, after the part
	 * it has, ABORT (ENGINE) from stage a. */
	CU_ASSERT_EQUAL(sent_to(A2_IP, 0, 0), 0);
	CU_ASSERT_EQUAL(sent_to(A2_IP, SL_FRAG_F_END, 0), 0);
	CU_ASSERT_EQUAL(sl_dp_instance(dag.dp, 0, 0, 1)->streams, 0);
	CU_ASSERT_EQUAL(sent_to(DAG_CLIENT_IP, 0, 0), 0);
	CU_ASSERT_EQUAL(
		sent_to(DAG_CLIENT_IP, SL_FRAG_F_ABORT, SL_ABORT_ENGINE), 1);
	for (unsigned int i = 0; i < dag.n_sent; i++)
		if (dag.sent[i].dst_ip == DAG_CLIENT_IP) {
			CU_ASSERT_EQUAL(dag.sent[i].h.seq, 1);
			CU_ASSERT_EQUAL(dag.sent[i].h.stage, 1);
			CU_ASSERT_EQUAL(dag.sent[i].h.ancestry[0], 1);
			CU_ASSERT_EQUAL(dag_tokens(&dag.sent[i], t, 2), 0);
		}
	dag_expect_drops(-1);
	dag_close();
	dp_test_end();
}

/* --------------------------------------------------------- neighbours */

static struct rte_mbuf *
arp_from(uint32_t sip, const struct rte_ether_addr *sha)
{
	uint8_t b[42];

	dp_test_arp(b, NULL, sha, RTE_ARP_OP_REQUEST, sip, NULL,
		    DAG_SLUICED_IP);
	return dp_test_mbuf(b, sizeof(b));
}

/*
 * At c0aa18f 1,100 ARP senders filled the 1,024-entry table for good: a
 * new client and a new engine then stayed NO_NEIGHBOR. Now only the
 * config's instances and client addresses are learned, clients have a
 * bounded share (a new one evicts the least recently confirmed) and an
 * instance always has room; and one request sent with an instance's
 * address and a made-up MAC does not divert its traffic.
 */
static void
test_neighbours(void)
{
	struct rte_mbuf *pkts[SL_PATH_CAP];
	struct rte_ether_addr fake = {{0x02, 0xba, 0xd0, 0xba, 0xd0, 0x01}};
	const struct rte_ether_addr *mac;
	struct dp_frag f;
	uint16_t n = 0;

	dp_test_begin();
	dag_open(
		"sluiced: {address: 10.0.0.1, port: 7700}\n"
		"flows: {size: 1024, idle_timeout_ms: 1000, reorder_window: "
		"8}\n"
		"clients: [10.0.1.0/24, 10.8.0.0/16]\n" NO_LIVENESS A_PIPELINE);
	/* 1,100 senders outside every client network: none learned. */
	for (uint32_t i = 0; i < 1100; i++) {
		struct rte_ether_addr m = mac_of(DP_IP(192, 168, 0, 0) + i);

		pkts[n++] = arp_from(DP_IP(192, 168, 0, 0) + i, &m);
		if (n == SL_BURST) {
			sl_dp_process(dag.dp, pkts, n);
			dag_capture();
			n = 0;
		}
	}
	/* 3,000 in a client network: bounded, evicting. */
	for (uint32_t i = 0; i < 3000; i++) {
		struct rte_ether_addr m = mac_of(DP_IP(10, 8, 0, 0) + i);

		pkts[n++] = arp_from(DP_IP(10, 8, 0, 0) + i, &m);
		if (n == SL_BURST) {
			sl_dp_process(dag.dp, pkts, n);
			dag_capture();
			n = 0;
		}
	}
	if (n != 0) {
		sl_dp_process(dag.dp, pkts, n);
		dag_capture();
	}
	CU_ASSERT_EQUAL(dag.dp->cnt.arp_ignored, 1100);
	CU_ASSERT_EQUAL(dag.dp->cnt.arp_replies, 3000);
	CU_ASSERT(dag.dp->neigh.n_clients <= SL_NEIGH_CLIENTS_MAX);
	CU_ASSERT(dag.dp->neigh.evicted > 0);
	CU_ASSERT_PTR_NULL(
		sl_neigh_lookup(&dag.dp->neigh, DP_IP(192, 168, 0, 7)));
	/* The instance is still known; a new client is still learned. */
	CU_ASSERT_PTR_NOT_NULL(sl_neigh_lookup(&dag.dp->neigh, A_IP));
	f = client_at(OTHER_CLIENT_IP, 1, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	f = answer(1, 0, 1, 0, SL_FRAG_F_END);
	f.ancestry[0] = 1;
	dag_process(&f, 1);
	CU_ASSERT_EQUAL(dag.sent[dag.n_sent - 1].dst_ip, OTHER_CLIENT_IP);
	CU_ASSERT_PTR_NOT_NULL(
		sl_neigh_lookup(&dag.dp->neigh, OTHER_CLIENT_IP));
	/* A request from the instance's address with a made-up MAC (the
	 * address is no client: refused) and one from a known client with
	 * another MAC: neither rebinds. */
	f = client_at(DAG_CLIENT_IP, 2, 0, SL_FRAG_F_END);
	f.src_mac = fake;
	dag_process(&f, 1);
	mac = sl_neigh_lookup(&dag.dp->neigh, DAG_CLIENT_IP);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mac);
	CU_ASSERT_FALSE(rte_is_same_ether_addr(mac, &fake));
	f = client_at(A_IP, 3, 0, SL_FRAG_F_END);
	f.src_mac = fake;
	dag_process(&f, 1);
	mac = sl_neigh_lookup(&dag.dp->neigh, A_IP);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mac);
	CU_ASSERT_FALSE(rte_is_same_ether_addr(mac, &fake));
	dag_close();
	dp_test_end();
}

/* One housekeeping pass over the whole neighbour table at @dt_ms after
 * the worker started (a call looks at 1/SL_NEIGH_PASS_CALLS of it). */
static void
neigh_pass(uint64_t dt_ms)
{
	for (unsigned int k = 0; k < SL_NEIGH_PASS_CALLS; k++)
		dag_housekeeping(dag.dp->tsc_hz / 1000 * dt_ms);
}

/* Whether sluiced's ARP requests since @from asked for @ip, how often. */
static unsigned int
arp_asked_for(unsigned int from, uint32_t ip)
{
	unsigned int n = 0;

	CU_ASSERT_FATAL(dag.n_arp_asked <= DAG_ARP_ASKED);
	for (unsigned int i = from; i < dag.n_arp_asked; i++)
		n += dag.arp_asked[i] == ip;
	return n;
}

/*
 * Entries age (sl_neigh.h): one not confirmed by ARP for
 * SL_NEIGH_REFRESH_MS is asked again, its MAC still in use; with no
 * answer SL_NEIGH_STALE_MS later a client entry is forgotten and an
 * instance's goes back to unresolved (asked until it answers). A
 * fragment to the forgotten client is kept, sent once its ARP answers.
 */
static void
test_neighbour_ageing(void)
{
	struct rte_ether_addr cm = mac_of(DAG_CLIENT_IP);
	struct rte_mbuf *pkts[1];
	struct sl_neigh_entry *e;
	uint64_t arp0, ms, t;
	struct dp_frag f;
	bool found;

	dp_test_begin();
	dag_open("sluiced: {address: 10.0.0.1, port: 7700}\n"
		 "flows: {size: 1024, idle_timeout_ms: 100000, "
		 "reorder_window: 8}\n"
		 "clients: [10.0.1.0/24]\n" NO_LIVENESS A_PIPELINE);
	ms = dag.dp->tsc_hz / 1000;
	dag.arp_quiet = true;
	CU_ASSERT_EQUAL(dag.dp->neigh.n_entries, 2);
	/* A request, and a's answer under way to the client. */
	f = dag_from_client(1, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	f = answer(1, 0, 1, 0, 0);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	CU_ASSERT_EQUAL(dag.sent[1].dst_ip, DAG_CLIENT_IP);
	arp0 = dag.dp->cnt.arp_requests;
	/* Quiet for exactly the refresh time: nobody asked yet. */
	neigh_pass(SL_NEIGH_REFRESH_MS);
	CU_ASSERT_EQUAL(dag.dp->cnt.arp_requests, arp0);
	CU_ASSERT_EQUAL(dag.n_arp_asked, 0);
	/* Past it: both asked once, their MACs still in use. */
	neigh_pass(SL_NEIGH_REFRESH_MS + 1);
	CU_ASSERT_EQUAL(dag.dp->cnt.arp_requests, arp0 + 2);
	CU_ASSERT_EQUAL(arp_asked_for(0, DAG_CLIENT_IP), 1);
	CU_ASSERT_EQUAL(arp_asked_for(0, A_IP), 1);
	CU_ASSERT_PTR_NOT_NULL(sl_neigh_lookup(&dag.dp->neigh, DAG_CLIENT_IP));
	CU_ASSERT_PTR_NOT_NULL(sl_neigh_lookup(&dag.dp->neigh, A_IP));
	CU_ASSERT_EQUAL(dag.dp->neigh.n_unresolved, 0);
	/* Not again within SL_NEIGH_RETRY_MS; again at it. */
	neigh_pass(SL_NEIGH_REFRESH_MS + SL_NEIGH_RETRY_MS);
	CU_ASSERT_EQUAL(dag.dp->cnt.arp_requests, arp0 + 2);
	neigh_pass(SL_NEIGH_REFRESH_MS + 1 + SL_NEIGH_RETRY_MS);
	CU_ASSERT_EQUAL(dag.dp->cnt.arp_requests, arp0 + 4);
	CU_ASSERT_EQUAL(arp_asked_for(2, DAG_CLIENT_IP), 1);
	CU_ASSERT_EQUAL(arp_asked_for(2, A_IP), 1);
	CU_ASSERT_EQUAL(dag.dp->neigh.forgotten, 0);
	/* Stale: the client forgotten (not asked), the instance kept,
	 * unresolved and asked. */
	t = SL_NEIGH_REFRESH_MS + SL_NEIGH_STALE_MS + 1;
	neigh_pass(t);
	CU_ASSERT_EQUAL(dag.dp->neigh.forgotten, 1);
	CU_ASSERT_EQUAL(dag.dp->cnt.arp_requests, arp0 + 5);
	CU_ASSERT_EQUAL(arp_asked_for(4, A_IP), 1);
	CU_ASSERT_EQUAL(dag.dp->neigh.n_entries, 1);
	CU_ASSERT_EQUAL(dag.dp->neigh.n_clients, 0);
	CU_ASSERT_EQUAL(dag.dp->neigh.n_unresolved, 1);
	CU_ASSERT_PTR_NULL(sl_neigh_lookup(&dag.dp->neigh, DAG_CLIENT_IP));
	CU_ASSERT_PTR_NULL(sl_neigh_lookup(&dag.dp->neigh, A_IP));
	e = sl_neigh_find(&dag.dp->neigh, DAG_CLIENT_IP, &found);
	CU_ASSERT_FALSE(found);
	e = sl_neigh_find(&dag.dp->neigh, A_IP, &found);
	CU_ASSERT_FATAL(e != NULL && found);
	CU_ASSERT_EQUAL(e->kind, SL_NEIGH_INSTANCE);
	CU_ASSERT_FALSE(e->resolved);
	/* The end of a's answer, to the forgotten client: nothing sent, the
	 * fragment kept (arp_deferred), the client asked for again. a's
	 * own fragment teaches nothing (only a client's request may): a
	 * stays unresolved until its ARP answers. */
	dag_clear();
	f = answer(1, 0, 1, 1, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 0);
	CU_ASSERT_EQUAL(dag.dp->cnt.arp_deferred, 1);
	CU_ASSERT_EQUAL(dag.dp->cnt.drops[SL_DROP_NO_NEIGHBOR], 0);
	CU_ASSERT_EQUAL(dag.dp->cnt.arp_requests, arp0 + 6);
	CU_ASSERT_EQUAL(arp_asked_for(5, DAG_CLIENT_IP), 1);
	e = sl_neigh_find(&dag.dp->neigh, DAG_CLIENT_IP, &found);
	CU_ASSERT_FATAL(e != NULL && found);
	CU_ASSERT_EQUAL(e->kind, SL_NEIGH_CLIENT);
	CU_ASSERT_FALSE(e->resolved);
	CU_ASSERT_PTR_NULL(sl_neigh_lookup(&dag.dp->neigh, A_IP));
	/* The client answers: the kept END goes out on its resend. */
	pkts[0] = arp_from(DAG_CLIENT_IP, &cm);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pkts[0]);
	sl_dp_process(dag.dp, pkts, 1);
	dag_capture();
	CU_ASSERT_PTR_NOT_NULL(sl_neigh_lookup(&dag.dp->neigh, DAG_CLIENT_IP));
	CU_ASSERT_EQUAL(dag.n_sent, 0);
	dag_housekeeping(ms * (t + SL_RTX_RTO_MS + 1));
	CU_ASSERT_EQUAL_FATAL(dag.n_sent, 1);
	CU_ASSERT_EQUAL(dag.sent[0].dst_ip, DAG_CLIENT_IP);
	CU_ASSERT_EQUAL(dag.sent[0].h.flags, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag.sent[0].h.seq, 1);
	CU_ASSERT_EQUAL(dag.dp->cnt.rtx.end_resends, 1);
	dag_expect_drops(-1);
	dag_close();
	dp_test_end();
}

/* ----------------------------------------------------------- shutdown */

/* At a stop every stream in flight ends with ABORT (SHUTDOWN), and every
 * request hears it on its own stream: the one waiting for output, and
 * the one still being sent (before, only its stage was told). */
static void
test_shutdown(void)
{
	unsigned int told = 0;
	struct dp_frag f;

	dp_test_begin();
	dag_open(chain_yaml);
	f = dag_from_client(1, 0, 0); /* still sending */
	dag_process(&f, 1);
	f = dag_from_client(2, 0, SL_FRAG_F_END); /* waiting for output */
	dag_process(&f, 1);
	f = answer(1, 0, 2, 0, 0); /* a answering it */
	dag_process(&f, 1);
	dag_clear();
	sl_dp_shutdown(dag.dp, SL_ABORT_SHUTDOWN);
	dag_capture();
	CU_ASSERT_EQUAL(sent_to(A_IP, SL_FRAG_F_ABORT, SL_ABORT_SHUTDOWN), 1);
	CU_ASSERT_EQUAL(sent_to(B_IP, SL_FRAG_F_ABORT, SL_ABORT_SHUTDOWN), 1);
	CU_ASSERT_EQUAL(
		sent_to(DAG_CLIENT_IP, SL_FRAG_F_ABORT, SL_ABORT_SHUTDOWN), 2);
	for (unsigned int i = 0; i < dag.n_sent; i++)
		if (dag.sent[i].dst_ip == DAG_CLIENT_IP) {
			CU_ASSERT_EQUAL(dag.sent[i].h.stage, 0);
			CU_ASSERT_EQUAL(dag.sent[i].h.seq, 0);
			told |= 1u << (dag.sent[i].h.ancestry[0] & 7);
		}
	CU_ASSERT_EQUAL(told, (1u << 1) | (1u << 2));
	dag_close();
	dp_test_end();
}

static const struct dp_test_case cases[] = {
	DP_SUITE("hardening"),
	DP_CASE("depth 2..6 into a split edge: DEPTH_MISMATCH",
		test_depth6_into_split),
	DP_CASE("edge state: a block per table entry, table full first",
		test_edge_state_per_entry),
	DP_CASE("edge state refused: EDGE_STATE_FULL, ABORT (OVERLOAD)",
		test_edge_state_full),
	DP_CASE("one address's share of the splitters: SPLIT_SOURCE_FULL",
		test_split_source_share),
	DP_CASE("every splitter taken: SPLIT_FULL, the request told",
		test_split_full),
	DP_CASE("client depth 2, depth below a level: refused",
		test_depth_client_and_level),
	DP_CASE("a guessed request id joins nothing", test_guessed_request_id),
	DP_CASE("tenant bound to addresses", test_tenant_source),
	DP_CASE("tenant removed while counted",
		test_tenant_removed_while_counted),
	DP_CASE("600 streams withholding seq 0: bounded, canary ok",
		test_withheld_seq0),
	DP_CASE("a refusal reaches a client only the request names",
		test_refusal_to_unknown_client),
	DP_CASE("request flood: refused with ABORT, outputs served",
		test_request_flood),
	DP_CASE("buffer edge over the quota: ABORT (OVERLOAD)",
		test_buffer_quota),
	DP_CASE("buffer edge over one tenant's bound: ABORT (OVERLOAD)",
		test_buffer_tenant_quota),
	DP_CASE("held mbufs: the clients' bound, outputs still held",
		test_hold_clients_bound),
	DP_CASE("held mbufs: one tenant's bound, another tenant's held",
		test_hold_tenant_bound),
	DP_CASE("NACK, resend, END resends, re-ACK", test_loss_repair),
	DP_CASE("gaps: dropped asked for, repeats, give-up ABORT (LOST)",
		test_gap_repair_and_give_up),
	DP_CASE("NACK for an evicted copy: ABORT (LOST)", test_nack_evicted),
	DP_CASE("dead instance: streams aborted, avoided, revived",
		test_dead_instance),
	DP_CASE("dead instance with more streams than the queue budget",
		test_dead_instance_many),
	DP_CASE("liveness: uid 0 dies, a splitter without child",
		test_dead_instance_open_splitter),
	DP_CASE("liveness: a key pinned on a stage all dead",
		test_dead_stage_key_pin),
	DP_CASE("dead before answering, input ended: ABORT (ENGINE)",
		test_dead_before_answer),
	DP_CASE("dead mid-answer, its input long gone: ABORT (ENGINE)",
		test_dead_mid_answer),
	DP_CASE("request done, its answers lingered out: not kept",
		test_done_request_not_kept),
	DP_CASE("PAUSE, and no instance: ABORT (OVERLOAD)",
		test_pause_and_overload),
	DP_CASE("idempotent stage: resent elsewhere", test_idempotent_resend),
	DP_CASE("idempotent stage, part answered: ABORT (ENGINE), not resent",
		test_idempotent_emitted),
	DP_CASE("neighbours: learned, bounded, never rebound", test_neighbours),
	DP_CASE("neighbours age: asked again, a client forgotten, an "
		"instance kept",
		test_neighbour_ageing),
	DP_CASE("shutdown: ABORT (SHUTDOWN)", test_shutdown),
	DP_END,
};

int
main(int argc, char **argv)
{
	(void)argc;
	return dp_test_main(argv[0], cases, dag_port_init, dag_port_fini);
}
