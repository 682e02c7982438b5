/* SPDX-License-Identifier: MIT */
/*
 * test_stats.c - the stats boundary (dataplane/sl_stats.[ch]).
 *
 * A worker running on its own thread answers snapshot requests between
 * bursts, with exactly what it counted (and, stopped, the snapshot is its
 * counters byte for byte); a reset subtracts every counter of every domain
 * and no gauge; operator counters are kept per stage, so two operator
 * stages do not each show the other's groups; the stats file carries the
 * tables' fields.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CUnit/Basic.h>

#include "dp_dag.h"
#include "sl_stats.h"
#include "sl_worker.h"

#define X_IP DP_IP(10, 0, 2, 1)

static const char chain_yaml[] =
	DAG_YAML_HEAD "pipelines:\n"
		      "  - name: p\n"
		      "    id: 1\n"
		      "    stages:\n"
		      "      - {name: x, instances: [10.0.2.1:8001]}\n"
		      "    edges:\n"
		      "      - {from: client, to: x}\n"
		      "      - {from: x, to: client}\n";

/* Two operator stages side by side: x's answer is counted by c1, y's by
 * c2, each result goes to the client. */
static const char two_ops_yaml[] =
	DAG_YAML_HEAD "pipelines:\n"
		      "  - name: p\n"
		      "    id: 1\n"
		      "    stages:\n"
		      "      - {name: x, instances: [10.0.2.1:8001]}\n"
		      "      - {name: y, instances: [10.0.3.1:8002]}\n"
		      "      - {name: c1, operator: count, aggregation: 1}\n"
		      "      - {name: c2, operator: count, aggregation: 1}\n"
		      "    edges:\n"
		      "      - {from: client, to: x}\n"
		      "      - {from: client, to: y}\n"
		      "      - {from: x, to: c1}\n"
		      "      - {from: y, to: c2}\n"
		      "      - {from: c1, to: client}\n"
		      "      - {from: c2, to: client}\n";

static void *
worker_main(void *arg)
{
	sl_dp_worker(arg);
	return NULL;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* The worker answers snapshot requests while it runs; stopped, the
 * snapshot is taken in place and equals its counters. */
static void
test_worker_snapshot(void)
{
	struct sl_stats *snap = calloc(1, sizeof(*snap));
	struct dp_frag f[3];
	pthread_t th;
	uint16_t uid;
	int tries;

	CU_ASSERT_PTR_NOT_NULL_FATAL(snap);
	dp_test_begin();
	dag_open(chain_yaml);
	uid = dag_stage(1)->instances[0].uid;
	dag.dp->poll = true;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, worker_main, dag.dp),
			      0);
	for (tries = 0; tries < 2000 && !dag.dp->running; tries++)
		sleep_ms(1);
	CU_ASSERT_FATAL(dag.dp->running);

	/* Nothing yet: an answer all the same. */
	CU_ASSERT_EQUAL(sl_stats_take(dag.dp, snap), 0);
	CU_ASSERT_EQUAL(snap->dp.rx_packets, 0);
	CU_ASSERT_PTR_EQUAL(snap->cfg, dag.cfg);
	CU_ASSERT_EQUAL(snap->quota.client_streams, 0);

	for (uint32_t s = 0; s < 3; s++) {
		f[s] = dag_from_client(9, s, s == 2 ? SL_FRAG_F_END : 0);
		f[s].n_tokens = 1;
		f[s].tokens[0] = "t";
	}
	dag_inject(f, 3);
	for (tries = 0; tries < 2000; tries++) {
		CU_ASSERT_EQUAL_FATAL(sl_stats_take(dag.dp, snap), 0);
		if (snap->dp.forwarded == 3)
			break;
		sleep_ms(1);
	}
	CU_ASSERT_EQUAL(snap->dp.rx_packets, 3);
	CU_ASSERT_EQUAL(snap->dp.forwarded, 3);
	CU_ASSERT_EQUAL(snap->dp.flows.created, 1);
	CU_ASSERT_EQUAL(snap->flows_active, 1); /* the request lingers */
	CU_ASSERT_EQUAL(snap->flows_capacity, dag.dp->flows->capacity);
	CU_ASSERT_EQUAL(snap->inst[uid].fragments, 3);
	CU_ASSERT_EQUAL(snap->inst[uid].streams, 1);
	CU_ASSERT_EQUAL(snap->inst[uid].alive, 1);
	for (int r = 1; r < SL_DROP_MAX; r++)
		CU_ASSERT_EQUAL(snap->dp.drops[r], 0);
	/* Every request answered, none outstanding. */
	CU_ASSERT_EQUAL(__atomic_load_n(&dag.dp->stats_done, __ATOMIC_ACQUIRE),
			dag.dp->stats_req);
	CU_ASSERT(dag.dp->stats_req >= 2);

	dag.dp->quit = true;
	CU_ASSERT_EQUAL(pthread_join(th, NULL), 0);
	CU_ASSERT_FALSE(dag.dp->running);
	memset(snap, 0xa5, sizeof(*snap));
	memset(snap->rules, 0, sizeof(snap->rules));
	CU_ASSERT_EQUAL(sl_stats_take(dag.dp, snap), 0);
	CU_ASSERT_EQUAL(memcmp(&snap->dp, &dag.dp->cnt, sizeof(snap->dp)), 0);
	/* Instances the config does not name read zero. */
	CU_ASSERT_EQUAL(snap->inst[uid + 1].fragments, 0);

	dag_capture();
	CU_ASSERT_EQUAL(dag.n_sent, 3);
	for (unsigned int i = 0; i < dag.n_sent; i++) {
		CU_ASSERT_EQUAL(dag.sent[i].dst_ip, X_IP);
		CU_ASSERT_EQUAL(dag.sent[i].h.seq, i);
	}
	dag_close();
	dp_test_end();
	free(snap);
}

/* A reset: every counter of every domain minus the base, gauges kept, a
 * counter that started again keeps its own value. */
static void
test_since(void)
{
	struct sl_stats *now = calloc(1, sizeof(*now));
	struct sl_stats *base = calloc(1, sizeof(*base));

	CU_ASSERT_PTR_NOT_NULL_FATAL(now);
	CU_ASSERT_PTR_NOT_NULL_FATAL(base);
	now->dp.rx_packets = 10;
	base->dp.rx_packets = 4;
	now->dp.drops[SL_DROP_DUPLICATE] = 7;
	base->dp.drops[SL_DROP_DUPLICATE] = 7;
	now->dp.rtx.resent = 5;
	base->dp.rtx.resent = 2;
	now->dp.live.probes_sent = 9;
	base->dp.live.probes_sent = 1;
	now->dp.flows.created = 3;
	base->dp.flows.created = 1;
	now->dp.residence[4] = 8;
	base->dp.residence[4] = 3;
	now->neigh.evicted = 6;
	base->neigh.evicted = 1;
	now->neigh.entries = 12; /* gauge */
	base->neigh.entries = 11;
	now->quota.held = 5; /* gauge */
	base->quota.held = 9;
	now->inst[7].fragments = 30;
	base->inst[7].fragments = 20;
	now->inst[7].streams_active = 2; /* gauge */
	base->inst[7].streams_active = 1;
	now->inst[7].alive = 1; /* boolean gauge */
	base->inst[7].alive = 1;
	now->op[1][2].groups_created = 4;
	base->op[1][2].groups_created = 1;
	now->op[1][2].groups_active = 3; /* gauge */
	base->op[1][2].groups_active = 2;
	/* Restarted (a new layout): smaller than the base. */
	now->op[0][0].groups_completed = 2;
	base->op[0][0].groups_completed = 5;
	now->guard[1][0] = 9;
	base->guard[1][0] = 4;
	now->tenant[3].streams = 4; /* gauge */
	base->tenant[3].streams = 8;

	sl_stats_since(now, base);
	CU_ASSERT_EQUAL(now->dp.rx_packets, 6);
	CU_ASSERT_EQUAL(now->dp.drops[SL_DROP_DUPLICATE], 0);
	CU_ASSERT_EQUAL(now->dp.rtx.resent, 3);
	CU_ASSERT_EQUAL(now->dp.live.probes_sent, 8);
	CU_ASSERT_EQUAL(now->dp.flows.created, 2);
	CU_ASSERT_EQUAL(now->dp.residence[4], 5);
	CU_ASSERT_EQUAL(now->neigh.evicted, 5);
	CU_ASSERT_EQUAL(now->neigh.entries, 12);
	CU_ASSERT_EQUAL(now->quota.held, 5);
	CU_ASSERT_EQUAL(now->inst[7].fragments, 10);
	CU_ASSERT_EQUAL(now->inst[7].streams_active, 2);
	CU_ASSERT_EQUAL(now->inst[7].alive, 1);
	CU_ASSERT_EQUAL(now->op[1][2].groups_created, 3);
	CU_ASSERT_EQUAL(now->op[1][2].groups_active, 3);
	CU_ASSERT_EQUAL(now->op[0][0].groups_completed, 2);
	CU_ASSERT_EQUAL(now->guard[1][0], 5);
	CU_ASSERT_EQUAL(now->tenant[3].streams, 4);
	free(now);
	free(base);
}

/* x's answer [9] (two tokens), from instance x. */
static struct dp_frag
answer(uint16_t stage, unsigned int n_tokens)
{
	uint64_t anc[1] = {9};
	struct dp_frag f =
		dag_from_instance(stage, 0, anc, 1, 0, SL_FRAG_F_END);

	f.n_tokens = n_tokens;
	for (unsigned int i = 0; i < n_tokens; i++)
		f.tokens[i] = "w";
	return f;
}

/* Two operator stages: each counts its own groups (they used to be one
 * sum shown on both), and the stats file says so per stage. */
static void
test_operator_stages(void)
{
	struct sl_stats *snap = calloc(1, sizeof(*snap));
	const struct sl_op_counters *c1, *c2;
	struct dp_frag f;
	char *json = NULL;
	size_t len = 0;
	FILE *mem;

	CU_ASSERT_PTR_NOT_NULL_FATAL(snap);
	dp_test_begin();
	dag_open(two_ops_yaml);
	c1 = &dag.dp->op_cnt[0][2];
	c2 = &dag.dp->op_cnt[0][3];
	f = dag_from_client(9, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 2); /* to x and to y */
	dag_clear();
	f = answer(1, 2);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 1); /* c1's result, with END */
	CU_ASSERT_EQUAL(dag.sent[0].dst_ip, DAG_CLIENT_IP);
	CU_ASSERT_EQUAL(dag.sent[0].h.flags, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(c1->groups_created, 1);
	CU_ASSERT_EQUAL(c1->groups_completed, 1);
	CU_ASSERT_EQUAL(c2->groups_created, 0);
	CU_ASSERT_EQUAL(c2->groups_completed, 0);
	f = answer(2, 3);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 1); /* c2's */
	CU_ASSERT_EQUAL(c1->groups_created, 1);
	CU_ASSERT_EQUAL(c1->groups_completed, 1);
	CU_ASSERT_EQUAL(c2->groups_created, 1);
	CU_ASSERT_EQUAL(c2->groups_completed, 1);
	for (int s = 0; s < 2; s++)
		CU_ASSERT_EQUAL(dag.dp->op_cnt[0][s].groups_created, 0);
	dag_expect_drops(-1);

	CU_ASSERT_EQUAL(sl_stats_take(dag.dp, snap), 0);
	CU_ASSERT_EQUAL(snap->op[0][2].groups_completed, 1);
	CU_ASSERT_EQUAL(snap->op[0][3].groups_completed, 1);
	CU_ASSERT_EQUAL(snap->op[0][3].groups_active, 0);
	mem = open_memstream(&json, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mem);
	sl_stats_json(snap, NULL, 0, false, mem);
	fclose(mem);
	CU_ASSERT_PTR_NOT_NULL(strstr(
		json, ",\"operators\":[{\"pipeline\":\"p\",\"stage\":\"c1\","
		      "\"groups_active\":0,\"groups_created\":1,"
		      "\"groups_completed\":1,\"groups_aborted\":0,"));
	CU_ASSERT_PTR_NOT_NULL(
		strstr(json, "},{\"pipeline\":\"p\",\"stage\":\"c2\","
			     "\"groups_active\":0,\"groups_created\":1,"
			     "\"groups_completed\":1,\"groups_aborted\":0,"));
	CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"rx_packets\":3,"));
	CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"alive\":true,"));
	CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"mbufs\":{\"in_use_start\":0,"
					    "\"in_use\":0}}\n"));
	free(json);
	dag_close();
	dp_test_end();
	free(snap);
}

/* The reader asks for more rules than the worker's guard has (a rule was
 * added and the worker has not taken the new snapshot yet): the rules'
 * counters read zero, whatever the reader's memory held (they used to
 * come back as they were: `sluicectl guard list` after `guard add`
 * showed 51617 blocks for a rule that never matched). */
static void
test_guard_rules_changed(void)
{
	static const char yaml[] =
		DAG_YAML_HEAD "guards:\n"
			      "  - {name: g, action: block, literals: [a, b]}\n"
			      "pipelines:\n"
			      "  - name: p\n"
			      "    id: 1\n"
			      "    stages:\n"
			      "      - {name: x, instances: [10.0.2.1:8001]}\n"
			      "    edges:\n"
			      "      - {from: client, to: x}\n"
			      "      - {from: x, to: client, guard: g}\n";
	struct sl_stats *snap = calloc(1, sizeof(*snap));
	struct sl_guard_rule_counters rules[3];

	CU_ASSERT_PTR_NOT_NULL_FATAL(snap);
	dp_test_begin();
	dag_open(yaml);
	CU_ASSERT_EQUAL_FATAL(dag.cfg->n_guards, 1);
	memset(rules, 0xa5, sizeof(rules));
	snap->rules[0] = rules;
	snap->n_rules[0] = 3; /* the worker's set has 2 */
	CU_ASSERT_EQUAL(sl_stats_take(dag.dp, snap), 0);
	CU_ASSERT_PTR_EQUAL(snap->rules[0], rules);
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(rules[i].matches, 0);
		CU_ASSERT_EQUAL(rules[i].blocks, 0);
		CU_ASSERT_EQUAL(rules[i].redactions, 0);
	}
	dag_close();
	dp_test_end();
	free(snap);
}

static const struct dp_test_case cases[] = {
	DP_SUITE("stats"),
	DP_CASE("a running worker answers snapshots; stopped: equal",
		test_worker_snapshot),
	DP_CASE("reset: every counter, no gauge", test_since),
	DP_CASE("operator counters per stage, in the stats file",
		test_operator_stages),
	DP_CASE("rules asked for that the worker lacks read zero",
		test_guard_rules_changed),
	DP_END,
};

int
main(int argc, char **argv)
{
	(void)argc;
	return dp_test_main(argv[0], cases, dag_port_init, dag_port_fini);
}
