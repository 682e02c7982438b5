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
#include <stdlib.h>
#include <string.h>

#include <rte_rcu_qsbr.h>

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
	/* Four events, and the request's prompt. */
	CU_ASSERT_EQUAL(sl_sched_poll(&sched, &ws, cfg), 5);
	CU_ASSERT_EQUAL(sched.events, 4);
	CU_ASSERT_EQUAL(sched.prompts, 1);
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
		sl_sched_report(dag.dp, SL_SCHED_ROUTED, 1, i + 1, i + 1, 0);
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

/* A pool of three LM instances that both stages share, prompt_aware. */
static const char pool_yaml[] =
	DAG_YAML_HEAD "pipelines:\n"
		      "  - name: p\n"
		      "    id: 1\n"
		      "    pools:\n"
		      "      - name: lm\n"
		      "        policy: prompt_aware\n"
		      "        load_bound: 1.25\n"
		      "        warm_prefixes: 1\n"
		      "        instances: [10.0.2.1:8001, 10.0.2.2:8001, "
		      "10.0.2.3:8001]\n"
		      "    stages:\n"
		      "      - {name: a, pool: lm, cost_ms: 100, "
		      "warm_saving_ms: 50}\n"
		      "      - {name: b, pool: lm, cost_ms: 100, "
		      "warm_saving_ms: 50}\n";

/* Request @req from the client; the member of stage a it went to. */
static int
request_member(uint64_t req)
{
	struct dp_frag f = dag_from_client(req, 0, SL_FRAG_F_END);
	const struct dag_sent *s;

	dag_clear();
	dag_process(&f, 1);
	if (dag.n_sent != 1)
		return -1;
	s = &dag.sent[0];
	return dag_instance_of(dag_stage(1), s->dst_ip, s->dst_port);
}

/*
 * Routing plans: made from every worker's reports, published to the
 * workers, taken in O(1) in order, not taken when stale, made for
 * another snapshot or naming a member that stopped taking streams,
 * withdrawn when no stage is planned, and a buffer is made again only
 * after the workers passed a quiescent state.
 */
static void
test_plans(void)
{
	const struct sl_config *cfg;
	struct sl_route_plans *plans;
	struct sl_route_plan *pa;
	struct sl_config *rr;
	uint64_t now, ms;
	uint16_t uid0b;
	unsigned int n0 = 0;

	dp_test_begin();
	dag_open(pool_yaml);
	memset(&ws, 0, sizeof(ws));
	ws.n = 1;
	ws.dp[0] = dag.dp;
	CU_ASSERT_EQUAL_FATAL(sl_sched_attach(&sched, &ws, dag.dp->tsc_hz), 0);
	cfg = dag.dp->cfg;
	ms = dag.dp->tsc_hz / 1000;
	now = dag.dp->now;
	CU_ASSERT_PTR_NULL(dag.dp->plans);
	CU_ASSERT_EQUAL(sl_sched_wait_ms(&sched, cfg), SL_PLAN_MS);

	/* Idle and cold: the first three go round the pool; then every
	 * member is warm for a at equal work, equal times: round robin. */
	CU_ASSERT_EQUAL(sl_sched_plan(&sched, &ws, cfg, now), 1);
	plans = dag.dp->plans;
	CU_ASSERT_PTR_NOT_NULL_FATAL(plans);
	CU_ASSERT_PTR_EQUAL(plans->cfg, cfg);
	CU_ASSERT_EQUAL(plans->generation, cfg->generation);
	pa = &plans->stage[0][0];
	CU_ASSERT_EQUAL(pa->n, SL_PLAN_SLOTS);
	CU_ASSERT_EQUAL(plans->stage[0][1].n, SL_PLAN_SLOTS);
	for (unsigned int k = 0; k < SL_PLAN_SLOTS; k++)
		CU_ASSERT_EQUAL(pa->slot[k], k % 3);
	/* Not due again before SL_PLAN_MS. */
	CU_ASSERT_EQUAL(sl_sched_plan(&sched, &ws, cfg, now + ms / 2), 0);

	/* The worker takes them in order. */
	for (uint64_t r = 0; r < 4; r++)
		CU_ASSERT_EQUAL(request_member(10 + r), (int)(r % 3));
	CU_ASSERT_EQUAL(pa->cursor, 4);
	CU_ASSERT_EQUAL(dag.dp->cnt.route_planned, 4);
	CU_ASSERT_EQUAL(dag.dp->cnt.route_plan_missed, 0);

	/* Slot 4 names member 1: dead now, so the worker decides itself. */
	dag.dp->inst[dag_stage(1)->instances[1].uid].alive = false;
	CU_ASSERT_NOT_EQUAL(request_member(20), 1);
	CU_ASSERT_EQUAL(dag.dp->cnt.route_plan_missed, 1);
	dag.dp->inst[dag_stage(1)->instances[1].uid].alive = true;
	/* Made for another snapshot; then too old. */
	plans->generation++;
	CU_ASSERT(request_member(21) >= 0);
	plans->generation--;
	dag.dp->now = plans->tsc + dag.dp->plan_stale_tsc;
	CU_ASSERT(request_member(22) >= 0);
	CU_ASSERT_EQUAL(dag.dp->cnt.route_plan_missed, 3);
	CU_ASSERT_EQUAL(dag.dp->cnt.route_planned, 4);

	/* Member 0 owes five answers of b (every worker's reports): the
	 * next plan keeps a's streams off it while it is above the load
	 * bound (500 ms of work against a mean of 200 with the stream). */
	sl_sched_poll(&sched, &ws, cfg);
	memset(sched.waiting, 0, sizeof(sched.waiting));
	uid0b = cfg->pipelines[0].stages[1].instances[0].uid;
	for (uint64_t r = 0; r < 5; r++)
		sl_sched_report(dag.dp, SL_SCHED_ROUTED, uid0b, 100 + r,
				100 + r, 0);
	sl_sched_poll(&sched, &ws, cfg);
	CU_ASSERT_EQUAL(sched.waiting[uid0b], 5);
	now += 3 * ms;
	CU_ASSERT_EQUAL(sl_sched_plan(&sched, &ws, cfg, now), 1);
	CU_ASSERT_PTR_NOT_EQUAL(dag.dp->plans, plans); /* the other buffer */
	plans = dag.dp->plans;
	pa = &plans->stage[0][0];
	CU_ASSERT_EQUAL(pa->cursor, 0);
	for (unsigned int k = 0; k < 10; k++)
		CU_ASSERT_NOT_EQUAL(pa->slot[k], 0);
	for (unsigned int k = 0; k < SL_PLAN_SLOTS; k++)
		n0 += pa->slot[k] == 0;
	CU_ASSERT(n0 < SL_PLAN_SLOTS / 3);
	/* b is warm at member 0 and its work is member 0's own: b's plan
	 * still starts elsewhere (bounded load), but gives it b's streams
	 * before a's plan gives it a's. */
	CU_ASSERT_NOT_EQUAL(plans->stage[0][1].slot[0], 0);

	/* A worker inside its burst (online, no quiescent state since the
	 * last plan): the retired buffer is not made again. */
	rte_rcu_qsbr_thread_online(dag.dp->qsbr, 0);
	now += 3 * ms;
	CU_ASSERT_EQUAL(sl_sched_plan(&sched, &ws, cfg, now), 1);
	plans = dag.dp->plans;
	now += 3 * ms;
	CU_ASSERT_EQUAL(sl_sched_plan(&sched, &ws, cfg, now), 0);
	CU_ASSERT_EQUAL(sched.plans_waited, 1);
	CU_ASSERT_PTR_EQUAL(dag.dp->plans, plans);
	rte_rcu_qsbr_quiescent(dag.dp->qsbr, 0);
	CU_ASSERT_EQUAL(sl_sched_plan(&sched, &ws, cfg, now), 1);
	CU_ASSERT_PTR_NOT_EQUAL(dag.dp->plans, plans);
	rte_rcu_qsbr_thread_offline(dag.dp->qsbr, 0);
	CU_ASSERT_EQUAL(sched.plans_made, 4);

	/* No stage planned any more (round_robin): withdrawn; the worker
	 * decides itself, not counted as a plan missed. */
	rr = malloc(sizeof(*rr));
	CU_ASSERT_PTR_NOT_NULL_FATAL(rr);
	memcpy(rr, cfg, sizeof(*rr));
	rr->pipelines[0].stages[0].balance = SL_BALANCE_ROUND_ROBIN;
	rr->pipelines[0].stages[1].balance = SL_BALANCE_ROUND_ROBIN;
	CU_ASSERT_EQUAL(sl_sched_wait_ms(&sched, rr), 50);
	now += 3 * ms;
	CU_ASSERT_EQUAL(sl_sched_plan(&sched, &ws, rr, now), 1);
	CU_ASSERT_PTR_NULL(dag.dp->plans);
	now += 3 * ms;
	CU_ASSERT_EQUAL(sl_sched_plan(&sched, &ws, rr, now), 0);
	free(rr);
	dag.dp->now = now;
	CU_ASSERT(request_member(30) >= 0);
	CU_ASSERT_EQUAL(dag.dp->cnt.route_plan_missed, 3);
	CU_ASSERT_EQUAL(dag.dp->cnt.sched_lost, 0);
	sched_close();
	dp_test_end();
}

/* client -> a -> b -> client, each stage a stream's cost 10 ms. */
static const char costed_yaml[] = DAG_YAML_HEAD
	"pipelines:\n"
	"  - name: p\n"
	"    id: 1\n"
	"    stages:\n"
	"      - {name: a, cost_ms: 10, instances: [10.0.2.1:8001]}\n"
	"      - {name: b, cost_ms: 10, instances: [10.0.3.1:8002]}\n";

static const char *const loop_words[] = {"alpha ", "beta ",    "gamma ",
					 "delta ", "epsilon ", "zeta ",
					 "eta ",   "theta "};

/* A cost model fitted on public rows in which stage 1's answer is two
 * tokens a word of its prompt (1..8 words), stage 2's always 2. Windows
 * of 64 rows, all of one tenant may be, and an epsilon so large that the
 * training's noise is negligible: this tests the wiring, not privacy
 * (tests/control/test_cost.c does). */
static struct sl_cost_model *
loop_model(void)
{
	struct sl_cost_params p;
	struct sl_cost_model *m;
	char prompt[128];
	int err;

	sl_cost_params_default(&p);
	p.rank = 2;
	p.epsilon = 1e5;
	p.budget_epsilon = 1e6;
	p.window_rows = 64;
	p.tenant_rows = 64;
	p.personal_min_rows = 0;
	p.public_max_rows = 1000;
	m = sl_cost_create(&p, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	for (unsigned int i = 0; i < 640; i++) {
		unsigned int words = 1 + i % 8;

		prompt[0] = 0;
		for (unsigned int w = 0; w < words; w++)
			strcat(prompt, loop_words[(i / 8 + w) % 8]);
		CU_ASSERT_EQUAL(sl_cost_add_public_prompt(
					m, 1 + i % 2, prompt, strlen(prompt),
					i % 2 ? 2 : 2 * words),
				0);
	}
	CU_ASSERT_EQUAL_FATAL(sl_cost_fit_public(m), 0);
	return m;
}

/* Request @req: its prompt the first @words of loop_words in @pieces
 * fragments (the last with END), through a; a answers with 2 x @words
 * fragments, b with one. @answer false: a does not answer yet. */
static uint64_t loop_ms;

static void
loop_request(uint64_t req, unsigned int words, unsigned int pieces,
	     bool answer_it)
{
	loop_ms += 100;
	at_ms(loop_ms);
	for (unsigned int k = 0; k < pieces; k++) {
		struct dp_frag f = dag_from_client(
			req, k, k + 1 == pieces ? SL_FRAG_F_END : 0);
		unsigned int from = words * k / pieces,
			     to = words * (k + 1) / pieces;

		f.n_tokens = to - from;
		for (unsigned int w = from; w < to; w++)
			f.tokens[w - from] = loop_words[w];
		dag_process(&f, 1);
	}
	if (answer_it) {
		/* Answered 10 ms later: every answer of a takes 10 ms. */
		at_ms(loop_ms + 10);
		answer(1, req, 2 * words, SL_FRAG_F_END);
		answer(2, req, 1, SL_FRAG_F_END);
	}
	dag_clear();
}

/*
 * The cost model in the loop: a client's prompt, read as it passes
 * fanout, reaches the control plane at its END; every answer then gives
 * the model a row of the tenant's traffic (its features at the stage,
 * the answer's fragments); once a trained model is installed each new
 * stream's predicted work is the stage's cost scaled by the answer
 * predicted for its prompt, and the instance's work is the sum of its
 * streams'. A prompt that ends after its first stream was routed
 * predicts that stream again.
 */
static void
test_prompts_predict(void)
{
	const struct sl_config *cfg;
	struct sl_cost_model *m;
	struct sl_cost_stats cs;
	struct sl_cost_train_report rep;
	struct sl_rng rng;
	uint16_t ua;
	uint64_t cost, shrt, lng;
	uint64_t req = 500;

	dp_test_begin();
	loop_ms = 0;
	dag_open(costed_yaml);
	memset(&ws, 0, sizeof(ws));
	ws.n = 1;
	ws.dp[0] = dag.dp;
	CU_ASSERT_EQUAL_FATAL(sl_sched_attach(&sched, &ws, dag.dp->tsc_hz), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(dag.dp->scans);
	m = loop_model();
	sched.cost = m;
	cfg = dag.dp->cfg;
	ua = cfg->pipelines[0].stages[0].instances[0].uid;

	/* One request: its prompt, one row per answer. */
	loop_request(req++, 3, 1, true);
	sl_sched_poll(&sched, &ws, cfg);
	CU_ASSERT_EQUAL(sched.prompts, 1);
	CU_ASSERT_EQUAL(sched.rows[SL_COST_ROW_STORED], 2);
	CU_ASSERT_EQUAL(sched.rows_refused, 0);
	CU_ASSERT_EQUAL(sched.predicted, 0);
	CU_ASSERT_EQUAL(sched.n_pairs, 0);
	CU_ASSERT_EQUAL(sched.work_us[ua], 0);

	/* Enough answers (SL_SCHED_MIN_ANSWERS) and rows for the tenant's
	 * own model: prompts of 1..4 words, in one or two fragments. */
	for (unsigned int i = 0; i < SL_SCHED_MIN_ANSWERS; i++) {
		loop_request(req++, 1 + i % 4, 1 + i % 2, true);
		sl_sched_poll(&sched, &ws, cfg);
	}
	CU_ASSERT_EQUAL(sched.prompts, 1 + SL_SCHED_MIN_ANSWERS);
	/* Until a training (the operator's sluicectl cost train) no model
	 * is installed: streams cost the stage's cost. */
	sl_cost_stats(m, &cs);
	CU_ASSERT(!cs.installed);
	loop_request(req++, 4, 1, false);
	sl_sched_poll(&sched, &ws, cfg);
	CU_ASSERT_EQUAL(sched.predicted, 0);
	CU_ASSERT_EQUAL(sched.work_us[ua], 10000);
	at_ms(loop_ms + 10);
	answer(1, req - 1, 8, SL_FRAG_F_END);
	answer(2, req - 1, 1, SL_FRAG_F_END);
	sl_sched_poll(&sched, &ws, cfg);
	sl_rng_seeded(&rng, 12);
	CU_ASSERT_EQUAL(sl_cost_train(m, &rng, &rep), 0);
	CU_ASSERT_EQUAL(rep.rows, 36);
	CU_ASSERT(rep.installed);
	CU_ASSERT_EQUAL(sched.n_pairs, 0);
	CU_ASSERT_EQUAL(sched.work_us[ua], 0);

	/* Now each stream is predicted: a short prompt under the stage's
	 * cost, a long one over it; a's work is their sum. */
	cost = sched.stage[0][0].published_us;
	CU_ASSERT_EQUAL(cost, 10000);
	loop_request(req++, 1, 1, false);
	sl_sched_poll(&sched, &ws, cfg);
	shrt = sched.work_us[ua];
	loop_request(req++, 4, 1, false);
	sl_sched_poll(&sched, &ws, cfg);
	lng = sched.work_us[ua] - shrt;
	CU_ASSERT_EQUAL(sched.predicted, 2);
	CU_ASSERT(shrt < cost);
	CU_ASSERT(lng > cost);
	CU_ASSERT_EQUAL(sched.waiting[ua], 2);
	/* A prompt in two fragments, polled between: routed at the first
	 * (the stage's cost), predicted again at its END. */
	{
		struct dp_frag f = dag_from_client(req, 0, 0);

		f.n_tokens = 2;
		f.tokens[0] = loop_words[0];
		f.tokens[1] = loop_words[1];
		dag_process(&f, 1);
		sl_sched_poll(&sched, &ws, cfg);
		CU_ASSERT_EQUAL(sched.work_us[ua], shrt + lng + cost);
		f = dag_from_client(req, 1, SL_FRAG_F_END);
		f.n_tokens = 2;
		f.tokens[0] = loop_words[2];
		f.tokens[1] = loop_words[3];
		dag_process(&f, 1);
		sl_sched_poll(&sched, &ws, cfg);
		CU_ASSERT_EQUAL(sched.work_us[ua], shrt + 2 * lng);
		CU_ASSERT_EQUAL(sched.predicted, 3);
	}
	/* Their answers: nothing left waiting, no work. */
	answer(1, req - 2, 2, SL_FRAG_F_END);
	answer(1, req - 1, 8, SL_FRAG_F_END);
	answer(1, req, 8, SL_FRAG_F_END);
	sl_sched_poll(&sched, &ws, cfg);
	CU_ASSERT_EQUAL(sched.waiting[ua], 0);
	CU_ASSERT_EQUAL(sched.work_us[ua], 0);
	CU_ASSERT_EQUAL(dag.dp->cnt.prompts_unscanned, 0);
	CU_ASSERT_EQUAL(dag.dp->cnt.sched_lost, 0);
	sched.cost = NULL;
	sl_cost_free(m);
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
	DP_CASE("routing plans: made, published, taken, withdrawn", test_plans),
	DP_CASE("prompts, rows of tenants' traffic, predicted work",
		test_prompts_predict),
	DP_CASE("percentiles from the histogram", test_percentiles),
	DP_END,
};

int
main(int argc, char **argv)
{
	(void)argc;
	return dp_test_main(argv[0], cases, dag_port_init, dag_port_fini);
}
