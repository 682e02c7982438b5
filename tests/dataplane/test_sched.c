/* SPDX-License-Identifier: MIT */
/*
 * test_sched.c - the workers' per-stream events and the control plane's
 * view of them (dataplane/sl_sched.[ch]).
 *
 * A request through client -> a -> b -> client, the clock set by hand:
 * each stage's stream is reported ROUTED when pinned and its answer ENDED
 * (with its fragments) when the instance's END arrives (the instance owes
 * the answer from its routing to that END, whenever its input ended); the
 * control plane
 * pairs the two and keeps the exact time and size per stage, the counts
 * per instance. A duplicate END is unpaired, an answer's ABORT counted as
 * such, a full ring loses events (counted) and never a fragment, and the
 * percentiles read the histogram's bucket edges.
 */
#include <stdio.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "dp_dag.h"
#include "dp_test.h"
#include "sl_sched.h"
#include "sl_worker.h"

static const char chain_yaml[] =
	DAG_YAML_HEAD "pipelines:\n"
		      "  - name: p\n"
		      "    id: 1\n"
		      "    stages:\n"
		      "      - {name: a, instances: [10.0.2.1:8001]}\n"
		      "      - {name: b, instances: [10.0.3.1:8002]}\n";

static struct sl_sched sched;
static struct sl_workers ws;

static void
sched_open(void)
{
	dag_open(chain_yaml);
	memset(&ws, 0, sizeof(ws));
	ws.n = 1;
	ws.dp[0] = dag.dp;
	CU_ASSERT_EQUAL_FATAL(sl_sched_attach(&sched, &ws, dag.dp->tsc_hz), 0);
}

static void
sched_close(void)
{
	sl_sched_detach(&sched, &ws);
	dag_close();
}

/* @ms after the start, in the worker's clock. */
static void
at_ms(uint64_t ms)
{
	dag.dp->now = dag.t0 + dag.dp->tsc_hz / 1000 * ms;
}

/* Instance 0 of @stage answers request @req: @n fragments, the last END
 * (or ABORT), one burst. */
static void
answer(uint16_t stage, uint64_t req, uint32_t n, uint8_t last)
{
	struct dp_frag f[8];

	for (uint32_t s = 0; s < n; s++)
		f[s] = dag_from_instance(stage, 0, &req, 1, s,
					 s + 1 == n ? last : 0);
	dag_process(f, n);
}

static void
test_routed_and_answered(void)
{
	const struct sl_config *cfg;
	uint16_t ua, ub;
	struct dp_frag f;

	dp_test_begin();
	sched_open();
	cfg = dag.dp->cfg;
	ua = cfg->pipelines[0].stages[0].instances[0].uid;
	ub = cfg->pipelines[0].stages[1].instances[0].uid;

	/* t 0: the request, routed to a. t 5 ms: a's answer, 3 fragments,
	 * routed on to b at its first. t 20 ms: b's, one fragment. */
	at_ms(0);
	f = dag_from_client(6, 0, SL_FRAG_F_END);
	dag_process(&f, 1);
	/* The request's stream to a ended at once; a owes its answer. */
	CU_ASSERT_EQUAL(dag.dp->inst[ua].streams_active, 0);
	CU_ASSERT_EQUAL(dag.dp->inst[ua].answers_owed, 1);
	at_ms(5);
	answer(1, 6, 3, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag.dp->inst[ua].answers_owed, 0);
	CU_ASSERT_EQUAL(dag.dp->inst[ub].answers_owed, 1);
	at_ms(20);
	answer(2, 6, 1, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag.dp->inst[ub].answers_owed, 0);
	CU_ASSERT_EQUAL(sl_sched_poll(&sched, &ws, cfg), 4);
	CU_ASSERT_EQUAL(sched.events, 4);
	CU_ASSERT_EQUAL(sched.stage[0][0].answers, 1);
	CU_ASSERT_EQUAL(sched.stage[0][0].time_us_sum, 5000);
	CU_ASSERT_EQUAL(sched.stage[0][0].fragments_sum, 3);
	CU_ASSERT_EQUAL(sched.stage[0][1].answers, 1);
	CU_ASSERT_EQUAL(sched.stage[0][1].time_us_sum, 15000);
	CU_ASSERT_EQUAL(sched.stage[0][1].fragments_sum, 1);
	/* 5000 us is in [4096, 8192): p50 reads 8192. */
	CU_ASSERT_EQUAL(sl_sched_stage_percentile(&sched.stage[0][0], 0.5),
			8192.0);
	CU_ASSERT_EQUAL(sched.inst[ua].routed, 1);
	CU_ASSERT_EQUAL(sched.inst[ua].ended, 1);
	CU_ASSERT_EQUAL(sched.inst[ub].routed, 1);
	CU_ASSERT_EQUAL(sched.inst[ub].ended, 1);
	CU_ASSERT_EQUAL(sched.n_pairs, 0);
	CU_ASSERT_EQUAL(sched.unpaired, 0);

	/* b's END again (its ACK lost): a duplicate, unpaired; the
	 * stage's figures stay. */
	at_ms(30);
	answer(2, 6, 1, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(sl_sched_poll(&sched, &ws, cfg), 1);
	CU_ASSERT_EQUAL(sched.unpaired, 1);
	CU_ASSERT_EQUAL(dag.dp->inst[ub].answers_owed, 0);
	CU_ASSERT_EQUAL(sched.stage[0][1].answers, 1);

	/* Request 7: a aborts its answer: counted as aborted, not timed;
	 * nothing is left waiting. */
	at_ms(40);
	f = dag_from_client(7, 0, SL_FRAG_F_END);
	dag_process(&f, 1);
	at_ms(41);
	answer(1, 7, 1, SL_FRAG_F_ABORT);
	sl_sched_poll(&sched, &ws, cfg);
	CU_ASSERT_EQUAL(sched.inst[ua].routed, 2);
	CU_ASSERT_EQUAL(sched.inst[ua].aborted, 1);
	CU_ASSERT_EQUAL(sched.stage[0][0].answers, 1);
	CU_ASSERT_EQUAL(sched.n_pairs, 0);
	CU_ASSERT_EQUAL(dag.dp->cnt.sched_lost, 0);
	sched_close();
	dp_test_end();
}

/*
 * Each stage's observed answer time reaches the workers as prompt_aware's
 * cost once SL_SCHED_MIN_ANSWERS answers were seen (a's 5 ms, b's 15 ms,
 * exact: every answer took that long), and again only when it moved more
 * than SL_SCHED_REPUBLISH_PCT.
 */
static void
test_costs_published(void)
{
	const struct sl_config *cfg;
	struct dp_frag f;
	uint64_t t = 0;

	dp_test_begin();
	sched_open();
	cfg = dag.dp->cfg;
	for (uint64_t r = 0; r < SL_SCHED_MIN_ANSWERS; r++) {
		if (r == SL_SCHED_MIN_ANSWERS - 1) {
			sl_sched_poll(&sched, &ws, cfg);
			CU_ASSERT_EQUAL(dag.dp->stages[0][0].cost_us_observed,
					0);
		}
		at_ms(t);
		f = dag_from_client(100 + r, 0, SL_FRAG_F_END);
		dag_process(&f, 1);
		at_ms(t + 5);
		answer(1, 100 + r, 1, SL_FRAG_F_END);
		at_ms(t + 20);
		answer(2, 100 + r, 1, SL_FRAG_F_END);
		t += 30;
		dag_clear();
	}
	sl_sched_poll(&sched, &ws, cfg);
	CU_ASSERT_EQUAL(dag.dp->stages[0][0].cost_us_observed, 5000);
	CU_ASSERT_EQUAL(dag.dp->stages[0][1].cost_us_observed, 15000);
	CU_ASSERT_EQUAL(sched.published, 2);
	/* Answers of 5.4 ms move a's average less than 10 %: kept. */
	for (uint64_t r = 0; r < 4; r++) {
		at_ms(t);
		f = dag_from_client(200 + r, 0, SL_FRAG_F_END);
		dag_process(&f, 1);
		dag.dp->now += dag.dp->tsc_hz / 10000 * 54;
		answer(1, 200 + r, 1, SL_FRAG_F_END);
		t += 30;
		dag_clear();
	}
	sl_sched_poll(&sched, &ws, cfg);
	CU_ASSERT_EQUAL(dag.dp->stages[0][0].cost_us_observed, 5000);
	CU_ASSERT_EQUAL(sched.published, 2);
	/* A worker whose stage states were zeroed (a new layout) is given
	 * the cost again. */
	dag.dp->stages[0][1].cost_us_observed = 0;
	sl_sched_poll(&sched, &ws, cfg);
	CU_ASSERT_EQUAL(dag.dp->stages[0][1].cost_us_observed, 15000);
	sched_close();
	dp_test_end();
}

/* A full ring: events lost and counted; what was queued is all taken. */
static void
test_ring_full(void)
{
	dp_test_begin();
	sched_open();
	for (unsigned int i = 0; i < SL_SCHED_RING + 5; i++)
		sl_sched_report(dag.dp, SL_SCHED_ROUTED, 1, i + 1, 0);
	/* An rte_ring of SL_SCHED_RING slots holds one less. */
	CU_ASSERT_EQUAL(dag.dp->cnt.sched_lost, 6);
	CU_ASSERT_EQUAL(sl_sched_poll(&sched, &ws, dag.dp->cfg),
			SL_SCHED_RING - 1);
	CU_ASSERT_EQUAL(sched.inst[1].routed, SL_SCHED_RING - 1);
	CU_ASSERT_EQUAL(sched.n_pairs, SL_SCHED_RING - 1);
	CU_ASSERT_EQUAL(sched.pairs_full, 0);
	sched_close();
	dp_test_end();
}

/* Percentiles: the upper edge of the bucket the q-th answer is in. */
static void
test_percentiles(void)
{
	struct sl_sched_stage st;

	memset(&st, 0, sizeof(st));
	CU_ASSERT_EQUAL(sl_sched_stage_percentile(&st, 0.5), 0.0);
	st.answers = 100;
	st.time_us[3] = 90; /* [8, 16) us */
	st.time_us[10] = 9; /* [1024, 2048) */
	st.time_us[20] = 1; /* [2^20, 2^21) */
	CU_ASSERT_EQUAL(sl_sched_stage_percentile(&st, 0.5), 16.0);
	CU_ASSERT_EQUAL(sl_sched_stage_percentile(&st, 0.9), 2048.0);
	CU_ASSERT_EQUAL(sl_sched_stage_percentile(&st, 0.99), 2097152.0);
	CU_ASSERT_EQUAL(sl_sched_stage_percentile(&st, 1.0), 2097152.0);
}

static const struct dp_test_case cases[] = {
	DP_SUITE("sched"),
	DP_CASE("routed, answered, paired: exact times and sizes",
		test_routed_and_answered),
	DP_CASE("observed costs published to the workers",
		test_costs_published),
	DP_CASE("a full ring loses events, counted", test_ring_full),
	DP_CASE("percentiles from the histogram", test_percentiles),
	DP_END,
};

int
main(int argc, char **argv)
{
	(void)argc;
	return dp_test_main(argv[0], cases, dag_port_init, dag_port_fini);
}
