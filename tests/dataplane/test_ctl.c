/* SPDX-License-Identifier: MIT */
/*
 * test_ctl.c - sluiced's control backend (dataplane/sl_ctl.c) in front of
 * a real worker (the dag fixture): what an API caller is told when the
 * dataplane refuses a change, and what a cluster's node refuses.
 */
#include <string.h>

#include <CUnit/CUnit.h>

#include "dp_dag.h"
#include "dp_test.h"
#include "sl_api.h"
#include "sl_ctl.h"
#include "sl_worker.h"
#include "sluice.pb-c.h"

#define CODE(x) SLUICE__V1__ERROR__CODE__CODE_##x

#define P_STAGES                                                               \
	"    stages:\n"                                                        \
	"      - {name: a, instances: [10.0.2.1:8001, 10.0.2.2:8001]}\n"       \
	"      - {name: b, instances: [10.0.3.1:8002]}\n"

static const char two_yaml[] =
	DAG_YAML_HEAD "pipelines:\n"
		      "  - name: p\n"
		      "    id: 1\n" P_STAGES "    edges:\n"
		      "      - {from: client, to: a}\n"
		      "      - {from: a, to: b}\n"
		      "      - {from: b, to: client}\n";

/* A config the dataplane cannot build (a top-k over a million groups of
 * 64: its operator state does not fit); it compiles. */
static const char bad_yaml[] = DAG_YAML_HEAD
	"pipelines:\n"
	"  - name: p\n"
	"    id: 1\n" P_STAGES
	"      - {name: t, operator: topk, k: 64, aggregation: 1,\n"
	"         max_groups: 1048576}\n"
	"    edges:\n"
	"      - {from: client, to: a}\n"
	"      - {from: a, to: b}\n"
	"      - {from: b, to: t}\n"
	"      - {from: t, to: client}\n";

static struct sl_workers ws;
static struct sl_ctl ctl;

static void
ctl_open(void)
{
	dag_open(two_yaml);
	memset(&ws, 0, sizeof(ws));
	ws.n = 1;
	ws.dp[0] = dag.dp;
	sl_ctl_init(&ctl, &ws, dp_test_pool(), 0, NULL, NULL, NULL);
}

/* An apply through the backend as the API server calls it. */
static int
apply(const char *yaml, bool dry_run, struct sl_api_error *err,
      uint64_t *generation)
{
	struct sl_api_arena *a = sl_api_arena_create();
	Sluice__V1__ApplyPipelineResult out =
		SLUICE__V1__APPLY_PIPELINE_RESULT__INIT;
	int rc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	memset(err, 0, sizeof(*err));
	rc = sl_ctl_ops.apply(&ctl, yaml, strlen(yaml), "t.yaml", dry_run, &out,
			      a, err);
	*generation = out.generation;
	sl_api_arena_destroy(a);
	return rc;
}

/* The request @req from the client to stage a: sent to one of a's two
 * instances. */
static bool
client_to_a(uint64_t req)
{
	struct dp_frag f = dag_from_client(req, 0, SL_FRAG_F_END);
	uint32_t ip;

	dag_clear();
	dag_process(&f, 1);
	if (dag.n_sent != 1)
		return false;
	ip = dag.sent[0].dst_ip;
	return ip == DP_IP(10, 0, 2, 1) || ip == DP_IP(10, 0, 2, 2);
}

/*
 * A publish the dataplane refuses reaches the API caller as UNAVAILABLE
 * with the reason, and nothing changed: not the generation, not the
 * snapshot the worker runs, not its traffic (issue 8: a failed re-init
 * once left NULL state and answered success).
 */
static void
test_refused_publish(void)
{
	const struct sl_config *before;
	struct sl_api_error err;
	uint64_t gen = 0;

	dp_test_begin();
	ctl_open();
	before = dag.dp->cfg;
	CU_ASSERT_TRUE(client_to_a(1));
	CU_ASSERT_EQUAL(apply(bad_yaml, false, &err, &gen), -EAGAIN);
	CU_ASSERT_EQUAL(err.code, CODE(UNAVAILABLE));
	CU_ASSERT_STRING_EQUAL(err.message,
			       "the dataplane could not build the new "
			       "config's state (Cannot allocate memory); "
			       "nothing changed");
	CU_ASSERT_EQUAL(ctl.generation, 1);
	CU_ASSERT_PTR_EQUAL(ctl.cfg, before);
	CU_ASSERT_PTR_EQUAL(dag.dp->cfg, before);
	CU_ASSERT_EQUAL(dag.dp->cnt.reconfig_errors, 1);
	CU_ASSERT_EQUAL(dag.dp->cnt.reconfigs, 0);
	/* A dry run of the same file compiles: the refusal was the
	 * dataplane's, not the compiler's. */
	CU_ASSERT_EQUAL(apply(bad_yaml, true, &err, &gen), 0);
	CU_ASSERT_EQUAL(gen, 1);
	CU_ASSERT_TRUE(client_to_a(2));
	dag_close();
	dp_test_end();
}

/*
 * A node of a cluster takes changes from etcd only: its own API's apply
 * and edits are refused (UNAVAILABLE, the cluster named), a dry run is
 * still answered, nothing is published.
 */
static void
test_cluster_node_refuses(void)
{
	const char *want = "this sluiced is node n1 of the cluster at "
			   "http://127.0.0.1:2379: change the cluster's config "
			   "there (sluicectl --cluster ENDPOINTS apply FILE), "
			   "not one node";
	struct sl_api_instance_ref ref = {
		.pipeline = "p",
		.stage = "a",
		.instance = "",
		.ip = DP_IP(10, 0, 2, 9),
		.port = 8001,
	};
	Sluice__V1__InstanceState st = SLUICE__V1__INSTANCE_STATE__INIT;
	const struct sl_config *before;
	struct sl_api_arena *a;
	struct sl_api_error err;
	uint64_t gen = 0;

	dp_test_begin();
	ctl_open();
	ctl.cluster_node = "n1";
	ctl.cluster_endpoints = "http://127.0.0.1:2379";
	before = dag.dp->cfg;
	CU_ASSERT_EQUAL(apply(two_yaml, false, &err, &gen), -EPERM);
	CU_ASSERT_EQUAL(err.code, CODE(UNAVAILABLE));
	CU_ASSERT_STRING_EQUAL(err.message, want);
	a = sl_api_arena_create();
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	memset(&err, 0, sizeof(err));
	CU_ASSERT_EQUAL(sl_ctl_ops.add_instance(&ctl, &ref, &st, a, &err),
			-EPERM);
	CU_ASSERT_EQUAL(err.code, CODE(UNAVAILABLE));
	CU_ASSERT_STRING_EQUAL(err.message, want);
	sl_api_arena_destroy(a);
	CU_ASSERT_EQUAL(ctl.generation, 1);
	CU_ASSERT_PTR_EQUAL(dag.dp->cfg, before);
	CU_ASSERT_EQUAL(dag.dp->cnt.reconfigs, 0);
	/* Not a cluster's document (no nodes:): even its dry run names
	 * the missing node. */
	CU_ASSERT_EQUAL(apply(two_yaml, true, &err, &gen), -EINVAL);
	CU_ASSERT_EQUAL(err.code, CODE(INVALID));
	CU_ASSERT_STRING_EQUAL(err.message, "t.yaml:0: nodes: no node \"n1\" "
					    "(this sluiced's --node)");
	CU_ASSERT_TRUE(client_to_a(3));
	dag_close();
	dp_test_end();
}

static const struct dp_test_case cases[] = {
	DP_SUITE("control backend"),
	DP_CASE("a publish the dataplane refuses: UNAVAILABLE, nothing "
		"changed",
		test_refused_publish),
	DP_CASE("a cluster's node refuses its own API's changes",
		test_cluster_node_refuses),
	DP_END,
};

int
main(int argc, char **argv)
{
	(void)argc;
	return dp_test_main(argv[0], cases, dag_port_init, dag_port_fini);
}
