/* SPDX-License-Identifier: MIT */
/*
 * test_expiry.c - streams that never end (dataplane/sl_dp.c expiry, and
 * what fanout, buffer edges and splitters do with the ABORT it sends).
 *
 * Instance a's answer [R] leaves on a stream edge to b and a buffer edge
 * to c (or a split edge to b), and never ends. One idle timeout after its
 * last fragment (dp->now driven, housekeeping called), every consumer
 * gets ABORT (EXPIRED) with the stream's next sequence; buffered
 * fragments are dropped and counted; the splitter's child in progress
 * ends in ABORT; nothing stays in flight; every mbuf comes back.
 * Also: a buffer edge over flows.buffer_max.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "dp_dag.h"
#include "sl_flow.h"

#define B_IP DP_IP(10, 0, 3, 1)
#define C_IP DP_IP(10, 0, 4, 1)

static const char fan_yaml[] =
	DAG_YAML_HEAD "pipelines:\n"
		      "  - name: p\n"
		      "    id: 1\n"
		      "    stages:\n"
		      "      - {name: a, instances: [10.0.2.1:8001]}\n"
		      "      - {name: b, instances: [10.0.3.1:8002]}\n"
		      "      - {name: c, instances: [10.0.4.1:8003]}\n"
		      "    edges:\n"
		      "      - {from: client, to: a}\n"
		      "      - {from: a, to: b}\n"
		      "      - {from: a, to: c, mode: buffer}\n"
		      "      - {from: b, to: client}\n"
		      "      - {from: c, to: client}\n";

static const char split_yaml[] = DAG_YAML_HEAD
	"pipelines:\n"
	"  - name: p\n"
	"    id: 1\n"
	"    stages:\n"
	"      - {name: a, instances: [10.0.2.1:8001]}\n"
	"      - {name: b, aggregation: 1, instances: [10.0.3.1:8002]}\n"
	"    edges:\n"
	"      - {from: client, to: a}\n"
	"      - {from: a, to: b, split: line}\n"
	"      - {from: b, to: client}\n";

static const char *const words[] = {"w0", "w1"};

/* a's fragment @seq of [R] with two tokens. */
static struct dp_frag
a_frag(uint64_t req, uint32_t seq, uint8_t flags)
{
	const uint64_t r1[1] = {req};
	struct dp_frag f = dag_from_instance(1, 0, r1, 1, seq, flags);

	f.n_tokens = 2;
	f.token_texts = words;
	return f;
}

/* Housekeeping at t0 + @dt until the flow table was swept once (it is
 * scanned a slice per call): the frames sent. */
static unsigned int
sweep(uint64_t dt)
{
	unsigned int sent = 0;

	for (uint32_t i = 0; i <= dag.dp->flows->capacity / 64; i++)
		sent += dag_housekeeping(dt);
	return sent;
}

/*
 * Of the frames just captured, the one to the client is the ABORT
 * (EXPIRED) of its request @req's own stream (stage 0, seq 0): its
 * request ended with no output. It is taken out of dag.sent, so the rest
 * are what went to the instances, in order.
 */
static void
expect_request_abort(uint64_t req)
{
	unsigned int found = 0, k = 0;

	for (unsigned int i = 0; i < dag.n_sent; i++) {
		const struct dag_sent *s = &dag.sent[i];

		if (s->dst_ip != DAG_CLIENT_IP) {
			dag.sent[k++] = *s;
			continue;
		}
		found++;
		CU_ASSERT_EQUAL(s->dst_port, DAG_CLIENT_PORT);
		CU_ASSERT_EQUAL(s->h.flags, SL_FRAG_F_ABORT);
		CU_ASSERT_EQUAL(s->h.abort_reason, SL_ABORT_EXPIRED);
		CU_ASSERT_EQUAL(s->h.stage, 0);
		CU_ASSERT_EQUAL(s->h.from_stage, 0);
		CU_ASSERT_EQUAL(s->h.seq, 0);
		CU_ASSERT_EQUAL(s->h.depth, 1);
		CU_ASSERT_EQUAL(s->h.ancestry[0], req);
		CU_ASSERT_EQUAL(s->dlen, SL_WIRE_HDR_LEN);
	}
	dag.n_sent = k;
	CU_ASSERT_EQUAL(found, 1);
	CU_ASSERT_EQUAL(dag.dp->cnt.requests_aborted, 1);
}

static void
start(uint64_t req)
{
	struct dp_frag f = dag_from_client(req, 0, SL_FRAG_F_END);

	CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	dag_clear();
}

/* Stream edge to b, buffer edge to c: b had the data, c had nothing;
 * both get one ABORT (EXPIRED), seq 3; c's three held fragments are
 * dropped as STREAM_ABORTED (the buffer did not overflow: BUFFER_FULL is
 * only for a stream over flows.buffer_max). */
static void
test_stream_and_buffer_edges(void)
{
	struct dp_frag f[3];
	unsigned int held0;

	dp_test_begin();
	dag_open(fan_yaml);
	held0 = rte_mempool_in_use_count(dag.dp->held_pool);
	start(31);
	for (uint32_t s = 0; s < 3; s++)
		f[s] = a_frag(31, s, 0);
	CU_ASSERT_EQUAL(dag_process(f, 3), 3);
	for (unsigned int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(dag.sent[i].dst_ip, B_IP);
		CU_ASSERT_EQUAL(dag.sent[i].h.seq, i);
		CU_ASSERT_EQUAL(dag.sent[i].h.stage, 2);
		CU_ASSERT_EQUAL(dag.sent[i].h.from_stage, 1);
	}
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(dag.dp->held_pool), held0 + 1);
	CU_ASSERT_EQUAL(sl_dp_instance(dag.dp, 0, 1, 0)->streams_active, 1);
	dag_clear();
	/* Not yet at exactly the timeout. */
	CU_ASSERT_EQUAL(sweep(dag.dp->idle_tsc), 0);
	/* b and c hear ABORT (EXPIRED); so does the client, on its own
	 * request's stream, since no output of its request reached it. */
	CU_ASSERT_EQUAL_FATAL(sweep(dag.dp->idle_tsc + 1), 3);
	expect_request_abort(31);
	for (unsigned int i = 0; i < 2; i++) {
		const struct dag_sent *s = &dag.sent[i];

		CU_ASSERT_EQUAL(s->h.flags, SL_FRAG_F_ABORT);
		CU_ASSERT_EQUAL(s->h.abort_reason, SL_ABORT_EXPIRED);
		CU_ASSERT_EQUAL(s->h.seq, 3);
		CU_ASSERT_EQUAL(s->h.depth, 1);
		CU_ASSERT_EQUAL(s->h.ancestry[0], 31);
		CU_ASSERT_EQUAL(s->h.from_stage, 1);
		CU_ASSERT_EQUAL(s->h.token_count, 0);
	}
	CU_ASSERT(dag.sent[0].dst_ip != dag.sent[1].dst_ip);
	CU_ASSERT(dag.sent[0].dst_ip == B_IP || dag.sent[0].dst_ip == C_IP);
	CU_ASSERT(dag.sent[1].dst_ip == B_IP || dag.sent[1].dst_ip == C_IP);
	/* a's stream, and the request's client stream, which waited for an
	 * output that never came (it lingers, ended, for a late ABORT). */
	CU_ASSERT_EQUAL(dag.dp->cnt.flows.expired, 2);
	CU_ASSERT_EQUAL(sl_dp_instance(dag.dp, 0, 1, 0)->streams_active, 0);
	CU_ASSERT_EQUAL(sl_dp_instance(dag.dp, 0, 2, 0)->streams_active, 0);
	CU_ASSERT_EQUAL(sl_dp_instance(dag.dp, 0, 2, 0)->fragments, 1);
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(dag.dp->held_pool), held0);
	dag_expect_drops(SL_DROP_STREAM_ABORTED, 3u, -1);
	/* Once: the next housekeeping sends nothing. */
	dag_clear();
	CU_ASSERT_EQUAL(sweep(dag.dp->idle_tsc + 2), 0);
	/* A late fragment of the expired stream is after its end (its
	 * ABORT took sequence 3). */
	f[0] = a_frag(31, 4, 0);
	CU_ASSERT_EQUAL(dag_process(f, 1), 0);
	dag_expect_drops(SL_DROP_STREAM_ABORTED, 3u, SL_DROP_AFTER_END, 1u, -1);
	dag_close();
	dp_test_end();
}

/* Split edge: child 0 ("one\n") left complete; child 1 ("tw") was in
 * progress: it leaves as ABORT (EXPIRED) with its piece, and the marker
 * becomes an ABORT (EXPIRED) at the parent's level. */
static void
test_split_edge(void)
{
	static const char *const tok[] = {"one\ntw"};
	const uint64_t r1[1] = {41};
	struct dp_frag f;
	struct sl_token t[4];
	unsigned int split0;

	dp_test_begin();
	dag_open(split_yaml);
	split0 = rte_mempool_in_use_count(dag.dp->split_pool);
	start(41);
	f = dag_from_instance(1, 0, r1, 1, 0, 0);
	f.n_tokens = 1;
	f.token_texts = tok;
	CU_ASSERT_EQUAL_FATAL(dag_process(&f, 1), 1);
	CU_ASSERT_EQUAL(dag.sent[0].h.flags, SL_FRAG_F_END);
	dag_clear();
	CU_ASSERT_EQUAL_FATAL(sweep(dag.dp->idle_tsc + 1), 3);
	expect_request_abort(41);
	CU_ASSERT_EQUAL(dag.sent[0].h.depth, 2);
	CU_ASSERT_EQUAL(dag.sent[0].h.ancestry[1], 1);
	CU_ASSERT_EQUAL(dag.sent[0].h.flags, SL_FRAG_F_ABORT);
	CU_ASSERT_EQUAL(dag.sent[0].h.abort_reason, SL_ABORT_EXPIRED);
	CU_ASSERT_EQUAL(dag.sent[0].h.seq, 0);
	CU_ASSERT_EQUAL_FATAL(dag_tokens(&dag.sent[0], t, 4), 1);
	CU_ASSERT_EQUAL(t[0].len, 2);
	CU_ASSERT_EQUAL(memcmp(t[0].text, "tw", 2), 0);
	CU_ASSERT_EQUAL(dag.sent[1].h.depth, 1);
	CU_ASSERT_EQUAL(dag.sent[1].h.flags, SL_FRAG_F_ABORT);
	CU_ASSERT_EQUAL(dag.sent[1].h.abort_reason, SL_ABORT_EXPIRED);
	CU_ASSERT_EQUAL(dag.sent[1].h.child_count, 0);
	CU_ASSERT_EQUAL(sl_dp_instance(dag.dp, 0, 1, 0)->streams_active, 0);
	dag_expect_drops(-1);
	/* The splitter goes back when the stream leaves the table. */
	sweep(dag.dp->idle_tsc + 2 + dag.dp->linger_tsc);
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(dag.dp->split_pool), split0);
	dag_close();
	dp_test_end();
}

/* More than flows.buffer_max (128) fragments on a buffer edge: the
 * excess is dropped at once, the rest at the END, and c gets one ABORT
 * (OVERLOAD) instead of the stream; b gets everything. */
static void
buffer_over_max(uint8_t end_flags, uint32_t children)
{
	struct dp_frag f[32];
	unsigned int to_b = 0, to_c = 0, held0;
	const uint32_t n = 130;

	dp_test_begin();
	dag_open(fan_yaml);
	held0 = rte_mempool_in_use_count(dag.dp->held_pool);
	start(51);
	for (uint32_t s = 0; s < n; s += 32) {
		unsigned int k = RTE_MIN(32u, n - s);

		for (unsigned int i = 0; i < k; i++) {
			f[i] = a_frag(51, s + i,
				      s + i == n - 1 ? end_flags : 0);
			if (s + i == n - 1)
				f[i].child_count = children;
		}
		dag_process(f, k);
	}
	CU_ASSERT_EQUAL(dag.bad_frames, 0);
	for (unsigned int i = 0; i < dag.n_sent; i++) {
		if (dag.sent[i].dst_ip == B_IP) {
			CU_ASSERT_EQUAL(dag.sent[i].h.seq, to_b);
			CU_ASSERT_EQUAL(dag.sent[i].h.child_count,
					to_b == n - 1 ? children : 0);
			to_b++;
		} else {
			CU_ASSERT_EQUAL(dag.sent[i].dst_ip, C_IP);
			CU_ASSERT_EQUAL(dag.sent[i].h.flags, SL_FRAG_F_ABORT);
			CU_ASSERT_EQUAL(dag.sent[i].h.abort_reason,
					SL_ABORT_OVERLOAD);
			CU_ASSERT_EQUAL(dag.sent[i].h.seq, n - 1);
			CU_ASSERT_EQUAL(dag.sent[i].h.child_count, 0);
			to_c++;
		}
	}
	CU_ASSERT_EQUAL(to_b, n);
	CU_ASSERT_EQUAL(to_c, 1);
	dag_expect_drops(SL_DROP_BUFFER_FULL, n - 1, -1);
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(dag.dp->held_pool), held0);
	CU_ASSERT_EQUAL(sl_dp_instance(dag.dp, 0, 2, 0)->streams_active, 0);
	dag_close();
	dp_test_end();
}

/*
 * A fragment queued for fanout by housekeeping itself (an ABORT that
 * liveness or loss repair puts in place of an answer, or the operator
 * result it makes) for a stream whose flow lingers after its END: the
 * same pass may let the flow go. It must pass fanout before that, never
 * on a freed entry. Before, the entry was freed first and fanout ended
 * it again: an ENDED entry outside the hash, the table's count of flows
 * one lower than its entries, wrapping below zero when the entry left
 * (found by fuzz_dataplane after a reconfiguration, an operator result
 * and an instance's death in one housekeeping pass).
 */
static void
test_loop_item_of_lingering_flow(void)
{
	struct sl_flow_key k;
	struct sl_frag_hdr h;
	uint64_t anc[SL_ANCESTRY_MAX] = {0};
	struct rte_mbuf *m;
	uint32_t idx, entries = 0;

	dp_test_begin();
	dag_open(fan_yaml);
	memset(&k, 0, sizeof(k));
	k.pipeline = rte_cpu_to_be_32(1);
	k.stage = rte_cpu_to_be_16(2);
	k.depth = 1;
	anc[0] = rte_cpu_to_be_64(777);
	memcpy(k.ancestry, anc, 8);
	idx = sl_dp_stream_open(dag.dp, &k, 0, 0);
	CU_ASSERT_FATAL(idx != SL_FLOW_NONE);
	sl_dp_stream_ended(dag.dp, idx);
	CU_ASSERT_EQUAL(sl_flow_at(dag.dp->flows, idx)->state, SL_FLOW_ENDED);
	memset(&h, 0, sizeof(h));
	h.version = SL_WIRE_VERSION;
	h.flags = SL_FRAG_F_ABORT;
	h.abort_reason = SL_ABORT_ENGINE;
	h.depth = 1;
	h.stage = 2;
	h.from_stage = 2;
	h.pipeline = 1;
	m = sl_dp_tokenless(dag.dp, &h, anc, idx, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	sl_dp_loop(dag.dp, m);
	/* One pass past the linger. */
	dag_housekeeping(dag.dp->linger_tsc + dag.dp->tsc_hz);
	for (uint32_t i = 0; i < dag.dp->flows->capacity; i++)
		entries += dag.dp->flows->flows[i].state != SL_FLOW_FREE;
	CU_ASSERT_EQUAL(dag.dp->flows->active, entries);
	sweep(3 * dag.dp->linger_tsc + 10 * dag.dp->idle_tsc);
	entries = 0;
	for (uint32_t i = 0; i < dag.dp->flows->capacity; i++)
		entries += dag.dp->flows->flows[i].state != SL_FLOW_FREE;
	CU_ASSERT_EQUAL(dag.dp->flows->active, entries);
	CU_ASSERT_EQUAL(dag.dp->flows->active, 0);
	dag_close();
	dp_test_end();
}

static void
test_buffer_over_max(void)
{
	buffer_over_max(SL_FRAG_F_END, 0);
}

/* The END that becomes the ABORT carried a child count: the ABORT does
 * not (found by fuzz_dataplane: sluiced sent ABORT with a count, a
 * fragment receivers refuse as BAD_FLAGS). */
static void
test_buffer_over_max_children(void)
{
	buffer_over_max(SL_FRAG_F_END | SL_FRAG_F_CHILDREN, 2);
}

static const struct dp_test_case cases[] = {
	DP_SUITE("expiry"),
	DP_CASE("stream and buffer edges: ABORT(EXPIRED), held dropped",
		test_stream_and_buffer_edges),
	DP_CASE("split edge: child in progress and marker aborted",
		test_split_edge),
	DP_CASE("housekeeping's fanout before lingering flows go",
		test_loop_item_of_lingering_flow),
	DP_CASE("buffer edge over buffer_max, END|CHILDREN: no count",
		test_buffer_over_max_children),
	DP_CASE("buffer edge over buffer_max: ABORT(OVERLOAD)",
		test_buffer_over_max),
	DP_END,
};

int
main(int argc, char **argv)
{
	(void)argc;
	return dp_test_main(argv[0], cases, dag_port_init, dag_port_fini);
}
