/* SPDX-License-Identifier: MIT */
/*
 * test_config.c - the pipeline file compiler: a full file with every field,
 * defaults, the exact error line for each kind of mistake, loading from a
 * file, and the IPv4 helpers.
 *
 * Pipelines as DAGs: the fact-checking fixture with every derived field
 * (depths, edge lists, single output, compiled splitters run on text), the
 * implicit chain of files without edges, and each graph and stage-kind
 * rejection.
 *
 * argv[1]: path of the fixture config_demo.yaml; config_factcheck.yaml is
 * read from the same folder.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <hs.h>

#include "sl_config.h"

static const char *fixture_path;
static char factcheck_path[4096];

static struct sl_config *
parse(const char *yaml, char *err, size_t errlen)
{
	return sl_config_parse(yaml, strlen(yaml), "t.yaml", err, errlen);
}

/* clang-format off */
static const char full_yaml[] =
	"sluiced:\n"                                /* 1 */
	"  address: 10.77.0.1\n"                    /* 2 */
	"  port: 7701\n"                            /* 3 */
	"flows:\n"                                  /* 4 */
	"  size: 4096\n"                            /* 5 */
	"  idle_timeout_ms: 250\n"                  /* 6 */
	"  reorder_window: 64\n"                    /* 7 */
	"clients:\n"                                /* 8 */
	"  - 10.77.0.0/24\n"                        /* 9 */
	"  - 192.168.1.7\n"                         /* 10 */
	"  - 0.0.0.0/0\n"                           /* 11 */
	"tenants:\n"                                /* 12 */
	"  - id: 1\n"                               /* 13 */
	"    max_streams: 1000\n"                   /* 14 */
	"    fragments_per_s: 100000\n"             /* 15 */
	"    burst: 500\n"                          /* 16 */
	"  - id: 0\n"                               /* 17 */
	"    fragments_per_s: 100000\n"             /* 18 */
	"  - id: 65535\n"                           /* 19 */
	"  - id: 7\n"                               /* 20 */
	"    fragments_per_s: 5\n"                  /* 21 */
	"pipelines:\n"                              /* 22 */
	"  - name: demo\n"                          /* 23 */
	"    id: 1\n"                               /* 24 */
	"    stages:\n"                             /* 25 */
	"      - name: draft\n"                     /* 26 */
	"        aggregation: 0\n"                  /* 27 */
	"        balance: round_robin\n"            /* 28 */
	"        instances:\n"                      /* 29 */
	"          - 10.77.0.11:7801\n"             /* 30 */
	"          - {name: draft-b, address: 10.77.0.12:7801}\n" /* 31 */
	"      - name: verify\n"                    /* 32 */
	"        aggregation: 6\n"                  /* 33 */
	"        balance: least_loaded\n"           /* 34 */
	"        instances:\n"                      /* 35 */
	"          - name: v.1\n"                   /* 36 */
	"            address: 10.77.0.21:7802\n"    /* 37 */
	"          - 10.77.0.1:7700\n"              /* 38: not sluiced (port 7701) */
	"  - name: Other_2\n"                       /* 39 */
	"    id: 4294967295\n"                      /* 40 */
	"    stages:\n"                             /* 41 */
	"      - name: s\n"                         /* 42 */
	"        instances: [10.77.0.31:1]\n";       /* 43 */
/* clang-format on */

static void
test_full(void)
{
	char err[256] = "";
	struct sl_config *cfg = parse(full_yaml, err, sizeof(err));
	const struct sl_pipeline_cfg *pl;
	const struct sl_stage_cfg *st;

	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_EQUAL(cfg->listen.ip, 0x0a4d0001);
	CU_ASSERT_EQUAL(cfg->listen.port, 7701);
	CU_ASSERT_EQUAL(cfg->flow_table_size, 4096);
	CU_ASSERT_EQUAL(cfg->flow_idle_ms, 250);
	CU_ASSERT_EQUAL(cfg->reorder_window, 64);

	CU_ASSERT_EQUAL(cfg->n_client_nets, 3);
	CU_ASSERT_EQUAL(cfg->client_nets[0].addr, 0x0a4d0000);
	CU_ASSERT_EQUAL(cfg->client_nets[0].mask, 0xffffff00);
	CU_ASSERT_EQUAL(cfg->client_nets[0].prefix_len, 24);
	CU_ASSERT_EQUAL(cfg->client_nets[1].addr, 0xc0a80107);
	CU_ASSERT_EQUAL(cfg->client_nets[1].mask, 0xffffffff);
	CU_ASSERT_EQUAL(cfg->client_nets[1].prefix_len, 32);
	CU_ASSERT_EQUAL(cfg->client_nets[2].addr, 0);
	CU_ASSERT_EQUAL(cfg->client_nets[2].mask, 0);
	CU_ASSERT_EQUAL(cfg->client_nets[2].prefix_len, 0);

	CU_ASSERT_EQUAL(cfg->n_tenants, 4);
	CU_ASSERT_EQUAL(cfg->tenants[0].id, 1);
	CU_ASSERT_EQUAL(cfg->tenants[0].max_streams, 1000);
	CU_ASSERT_EQUAL(cfg->tenants[0].fragments_per_s, 100000);
	CU_ASSERT_EQUAL(cfg->tenants[0].burst, 500);
	CU_ASSERT_EQUAL(cfg->tenants[1].id, 0);
	CU_ASSERT_EQUAL(cfg->tenants[1].max_streams, 0);
	CU_ASSERT_EQUAL(cfg->tenants[1].burst, 10000); /* rate / 10 */
	CU_ASSERT_EQUAL(cfg->tenants[2].id, 65535);
	CU_ASSERT_EQUAL(cfg->tenants[2].fragments_per_s, 0);
	CU_ASSERT_EQUAL(cfg->tenants[2].burst, 64); /* unlimited rate */
	CU_ASSERT_EQUAL(cfg->tenants[3].burst, 1);  /* 5 / 10 rounds up to 1 */

	CU_ASSERT_EQUAL_FATAL(cfg->n_pipelines, 2);
	pl = &cfg->pipelines[0];
	CU_ASSERT_STRING_EQUAL(pl->name, "demo");
	CU_ASSERT_EQUAL(pl->id, 1);
	CU_ASSERT_EQUAL_FATAL(pl->n_stages, 2);
	st = &pl->stages[0];
	CU_ASSERT_STRING_EQUAL(st->name, "draft");
	CU_ASSERT_EQUAL(st->id, 1);
	CU_ASSERT_EQUAL(st->aggregation, 0);
	CU_ASSERT_EQUAL(st->balance, SL_BALANCE_ROUND_ROBIN);
	CU_ASSERT_EQUAL_FATAL(st->n_instances, 2);
	CU_ASSERT_STRING_EQUAL(st->instances[0].name, "draft/0");
	CU_ASSERT_EQUAL(st->instances[0].ep.ip, 0x0a4d000b);
	CU_ASSERT_EQUAL(st->instances[0].ep.port, 7801);
	CU_ASSERT_STRING_EQUAL(st->instances[1].name, "draft-b");
	CU_ASSERT_EQUAL(st->instances[1].ep.ip, 0x0a4d000c);
	CU_ASSERT_EQUAL(st->instances[1].ep.port, 7801);
	st = &pl->stages[1];
	CU_ASSERT_STRING_EQUAL(st->name, "verify");
	CU_ASSERT_EQUAL(st->id, 2);
	CU_ASSERT_EQUAL(st->aggregation, 6);
	CU_ASSERT_EQUAL(st->balance, SL_BALANCE_LEAST_LOADED);
	CU_ASSERT_EQUAL_FATAL(st->n_instances, 2);
	CU_ASSERT_STRING_EQUAL(st->instances[0].name, "v.1");
	CU_ASSERT_EQUAL(st->instances[0].ep.ip, 0x0a4d0015);
	CU_ASSERT_EQUAL(st->instances[0].ep.port, 7802);
	CU_ASSERT_STRING_EQUAL(st->instances[1].name, "verify/1");
	CU_ASSERT_EQUAL(st->instances[1].ep.ip, 0x0a4d0001);
	CU_ASSERT_EQUAL(st->instances[1].ep.port, 7700);

	pl = &cfg->pipelines[1];
	CU_ASSERT_STRING_EQUAL(pl->name, "Other_2");
	CU_ASSERT_EQUAL(pl->id, 4294967295u);
	CU_ASSERT_EQUAL(pl->n_stages, 1);
	CU_ASSERT_STRING_EQUAL(pl->stages[0].instances[0].name, "s/0");
	CU_ASSERT_EQUAL(pl->stages[0].instances[0].ep.port, 1);

	/* No edges: the chain, as before. Aggregation 6 stays accepted:
	 * engines of a chain may deepen the ancestry themselves. */
	pl = &cfg->pipelines[0];
	CU_ASSERT_EQUAL_FATAL(pl->n_edges, 3);
	CU_ASSERT_EQUAL(pl->edges[0].from, SL_STAGE_CLIENT);
	CU_ASSERT_EQUAL(pl->edges[0].to, 1);
	CU_ASSERT_EQUAL(pl->edges[1].from, 1);
	CU_ASSERT_EQUAL(pl->edges[1].to, 2);
	CU_ASSERT_EQUAL(pl->edges[2].from, 2);
	CU_ASSERT_EQUAL(pl->edges[2].to, SL_STAGE_CLIENT);
	CU_ASSERT_EQUAL(pl->stages[1].depth_in, 1);
	CU_ASSERT_EQUAL(pl->stages[0].kind, SL_STAGE_ENGINE);
	CU_ASSERT_EQUAL(pl->stages[0].load_bound, 0.0);
	CU_ASSERT_TRUE(pl->single_output);
	pl = &cfg->pipelines[1];
	CU_ASSERT_EQUAL(pl->n_edges, 2);

	CU_ASSERT_PTR_EQUAL(sl_config_find_pipeline(cfg, 4294967295u), pl);
	CU_ASSERT_PTR_EQUAL(sl_config_find_pipeline(cfg, 1),
			    &cfg->pipelines[0]);
	CU_ASSERT_PTR_NULL(sl_config_find_pipeline(cfg, 2));
	sl_config_free(cfg);
}

static const char min_yaml[] = "sluiced:\n"
			       "  address: 10.77.0.1\n"
			       "pipelines:\n"
			       "  - name: demo\n"
			       "    id: 1\n"
			       "    stages:\n"
			       "      - name: draft\n"
			       "        instances:\n"
			       "          - 10.77.0.11:7801\n";

static void
test_defaults(void)
{
	char err[256] = "";
	struct sl_config *cfg = parse(min_yaml, err, sizeof(err));
	const struct sl_stage_cfg *st;

	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_EQUAL(cfg->listen.port, SL_WIRE_UDP_PORT);
	CU_ASSERT_EQUAL(cfg->flow_table_size, SL_CONFIG_DEFAULT_FLOWS);
	CU_ASSERT_EQUAL(cfg->flow_idle_ms, SL_CONFIG_DEFAULT_IDLE_MS);
	CU_ASSERT_EQUAL(cfg->reorder_window, SL_CONFIG_DEFAULT_REORDER);
	CU_ASSERT_EQUAL(cfg->buffer_max, SL_CONFIG_DEFAULT_BUFFER);
	CU_ASSERT_EQUAL(cfg->n_client_nets, 0);
	CU_ASSERT_EQUAL(cfg->n_tenants, 0);
	CU_ASSERT_EQUAL(cfg->n_pipelines, 1);
	st = &cfg->pipelines[0].stages[0];
	CU_ASSERT_EQUAL(st->kind, SL_STAGE_ENGINE);
	CU_ASSERT_EQUAL(st->aggregation, 0);
	CU_ASSERT_EQUAL(st->balance, SL_BALANCE_ROUND_ROBIN);
	CU_ASSERT_EQUAL(st->load_bound, 0.0);
	CU_ASSERT_EQUAL(st->topk, 0);
	CU_ASSERT_EQUAL(st->max_groups, 0);
	CU_ASSERT_EQUAL(st->max_group_bytes, 0);
	CU_ASSERT_STRING_EQUAL(st->instances[0].name, "draft/0");
	sl_config_free(cfg);

	/* Blank optional sections mean "defaults" / "no clients". */
	cfg = parse("sluiced: {address: 10.0.0.1}\nflows:\nclients:\n"
		    "pipelines: [{name: p, id: 9, stages: [{name: s, "
		    "instances: [10.0.0.2:9]}]}]\n",
		    err, sizeof(err));
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_EQUAL(cfg->flow_table_size, SL_CONFIG_DEFAULT_FLOWS);
	CU_ASSERT_EQUAL(cfg->n_client_nets, 0);
	CU_ASSERT_EQUAL(cfg->pipelines[0].id, 9);
	/* Quotas and liveness by default. */
	CU_ASSERT_EQUAL(cfg->client_streams, SL_CONFIG_DEFAULT_FLOWS / 4);
	CU_ASSERT_EQUAL(cfg->source_streams, SL_CONFIG_DEFAULT_FLOWS / 16);
	CU_ASSERT_EQUAL(cfg->probe_ms, SL_CONFIG_DEFAULT_PROBE_MS);
	CU_ASSERT_EQUAL(cfg->dead_ms, SL_CONFIG_DEFAULT_DEAD_MS);
	CU_ASSERT_FALSE(cfg->pipelines[0].stages[0].idempotent);
	/* A chain's depths: the client's 1, the engine's from 1 to 6. */
	CU_ASSERT_EQUAL(cfg->pipelines[0].depth_min[0], 1);
	CU_ASSERT_EQUAL(cfg->pipelines[0].depth_max[0], 1);
	CU_ASSERT_EQUAL(cfg->pipelines[0].depth_min[1], 1);
	CU_ASSERT_EQUAL(cfg->pipelines[0].depth_max[1], SL_ANCESTRY_MAX);
	sl_config_free(cfg);
}

/* The hardening keys: quotas, liveness, tenants' sources, idempotent
 * stages, and the depths a chain's engines may answer with. */
static void
test_hardening_keys(void)
{
	char err[256] = "";
	struct sl_config *cfg = parse(
		"sluiced: {address: 10.0.0.1}\n"
		"flows: {size: 1024, client_streams: 100, source_streams: 10}\n"
		"liveness: {probe_ms: 50, dead_ms: 150}\n"
		"clients: [10.0.1.0/24]\n"
		"tenants:\n"
		"  - {id: 2, sources: [10.0.1.5, 10.0.1.128/25]}\n"
		"pipelines:\n"
		"  - name: p\n"
		"    id: 1\n"
		"    stages:\n"
		"      - {name: a, idempotent: true, instances: [10.0.2.1:1]}\n"
		"      - {name: b, aggregation: 3, instances: [10.0.3.1:1]}\n",
		err, sizeof(err));
	const struct sl_pipeline_cfg *pl;

	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_EQUAL(cfg->client_streams, 100);
	CU_ASSERT_EQUAL(cfg->source_streams, 10);
	CU_ASSERT_EQUAL(cfg->probe_ms, 50);
	CU_ASSERT_EQUAL(cfg->dead_ms, 150);
	CU_ASSERT_EQUAL(cfg->tenants[0].n_sources, 2);
	CU_ASSERT_EQUAL(cfg->tenants[0].sources[1].prefix_len, 25);
	CU_ASSERT_TRUE(
		sl_config_net_match(cfg->tenants[0].sources, 2, 0x0a0001c8));
	CU_ASSERT_FALSE(
		sl_config_net_match(cfg->tenants[0].sources, 2, 0x0a000106));
	CU_ASSERT_TRUE(sl_config_is_client(cfg, 0x0a000106));
	CU_ASSERT_FALSE(sl_config_is_client(cfg, 0x0a000206));
	pl = &cfg->pipelines[0];
	CU_ASSERT_TRUE(pl->stages[0].idempotent);
	/* a's answers must carry the 3 ids b aggregates on. */
	CU_ASSERT_EQUAL(pl->depth_min[1], 3);
	CU_ASSERT_EQUAL(pl->depth_max[1], SL_ANCESTRY_MAX);
	CU_ASSERT_EQUAL(pl->depth_min[2], 1);
	sl_config_free(cfg);
}

/* A stage's prompt template: kept with the stage, copied by a clone (each
 * config frees its own), absent where not written. */
static void
test_prompt(void)
{
	char err[256] = "";
	struct sl_config *cfg =
		parse("sluiced: {address: 10.0.0.1}\n"
		      "clients: [10.0.1.0/24]\n"
		      "pipelines:\n"
		      "  - name: p\n"
		      "    id: 1\n"
		      "    stages:\n"
		      "      - name: a\n"
		      "        prompt: |\n"
		      "          Q: {input}\n"
		      "          A ({input}, again): 東京\n"
		      "        instances: [10.0.2.1:1]\n"
		      "      - {name: b, instances: [10.0.3.1:1]}\n",
		      err, sizeof(err));
	struct sl_config *copy;

	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg->pipelines[0].stages[0].prompt);
	CU_ASSERT_STRING_EQUAL(cfg->pipelines[0].stages[0].prompt,
			       "Q: {input}\nA ({input}, again): 東京\n");
	CU_ASSERT_PTR_NULL(cfg->pipelines[0].stages[1].prompt);
	copy = sl_config_clone(cfg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
	CU_ASSERT_PTR_NOT_EQUAL(copy->pipelines[0].stages[0].prompt,
				cfg->pipelines[0].stages[0].prompt);
	CU_ASSERT_STRING_EQUAL(copy->pipelines[0].stages[0].prompt,
			       cfg->pipelines[0].stages[0].prompt);
	CU_ASSERT_PTR_NULL(copy->pipelines[0].stages[1].prompt);
	sl_config_free(cfg); /* the copy's own stays */
	CU_ASSERT_STRING_EQUAL(copy->pipelines[0].stages[0].prompt,
			       "Q: {input}\nA ({input}, again): 東京\n");
	sl_config_free(copy);
}

static void
test_default_name_long_stage(void)
{
	char err[256] = "";
	char yaml[2048];
	struct sl_config *cfg;
	const struct sl_stage_cfg *st;
	unsigned int i;
	int n;

	/* A 31-character stage name: "<stage>/<index>" must still fit. */
	n = snprintf(yaml, sizeof(yaml),
		     "sluiced: {address: 10.0.0.1}\n"
		     "pipelines:\n"
		     "  - name: p\n"
		     "    id: 1\n"
		     "    stages:\n"
		     "      - name: abcdefghijklmnopqrstuvwxyz01234\n"
		     "        instances:\n");
	for (i = 0; i < 12; i++)
		n += snprintf(yaml + n, sizeof(yaml) - n,
			      "          - 10.0.1.%u:80\n", i + 1);
	cfg = parse(yaml, err, sizeof(err));
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	st = &cfg->pipelines[0].stages[0];
	CU_ASSERT_EQUAL(st->n_instances, 12);
	CU_ASSERT_STRING_EQUAL(st->instances[0].name,
			       "abcdefghijklmnopqrstuvwxyz012/0");
	CU_ASSERT_STRING_EQUAL(st->instances[11].name,
			       "abcdefghijklmnopqrstuvwxyz01/11");
	sl_config_free(cfg);
}

/*
 * Cluster mode: `nodes:` and each instance's `node:`; localized for one
 * node, sluiced's address becomes that node's and the other nodes'
 * instances are remote. Refusals name the field.
 */
static void
test_cluster_nodes(void)
{
	static const char yaml[] =
		"sluiced: {address: 10.0.0.1, port: 7000}\n"
		"nodes:\n"
		"  - {name: n1, address: 10.0.1.1}\n"
		"  - {name: n2, address: 10.0.2.1, port: 7100}\n"
		"pipelines:\n"
		"  - name: p\n"
		"    id: 1\n"
		"    pools:\n"
		"      - name: lm\n"
		"        instances: [{address: \"10.0.1.5:80\", node: n1}, "
		"{address: \"10.0.2.5:80\", node: n2}]\n"
		"    stages:\n"
		"      - {name: answer, pool: lm}\n"
		"      - name: own\n"
		"        instances:\n"
		"          - {name: g, address: 10.0.2.6:80, node: n2}\n";
	char err[512] = "";
	struct sl_config *cfg = parse(yaml, err, sizeof(err));
	const struct sl_pipeline_cfg *pl;

	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_EQUAL(cfg->n_nodes, 2);
	CU_ASSERT_STRING_EQUAL(cfg->nodes[0].name, "n1");
	CU_ASSERT_EQUAL(cfg->nodes[0].listen.ip, 0x0a000101);
	CU_ASSERT_EQUAL(cfg->nodes[0].listen.port, 7000); /* sluiced.port */
	CU_ASSERT_EQUAL(cfg->nodes[1].listen.port, 7100);
	pl = &cfg->pipelines[0];
	CU_ASSERT_EQUAL(pl->stages[0].instances[0].node, 1);
	CU_ASSERT_EQUAL(pl->stages[0].instances[1].node, 2);
	CU_ASSERT_EQUAL(pl->stages[1].instances[0].node, 2);
	/* Not localized: every instance is this sluiced's. */
	CU_ASSERT_EQUAL(cfg->local_node, 0);
	CU_ASSERT_FALSE(pl->stages[0].instances[1].remote);
	CU_ASSERT_EQUAL(cfg->listen.ip, 0x0a000001);

	CU_ASSERT_EQUAL(sl_config_localize(cfg, "n2", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cfg->local_node, 2);
	CU_ASSERT_EQUAL(cfg->listen.ip, 0x0a000201);
	CU_ASSERT_EQUAL(cfg->listen.port, 7100);
	CU_ASSERT_TRUE(pl->stages[0].instances[0].remote);
	CU_ASSERT_FALSE(pl->stages[0].instances[1].remote);
	CU_ASSERT_FALSE(pl->stages[1].instances[0].remote);
	CU_ASSERT_EQUAL(sl_config_localize(cfg, "n1", err, sizeof(err)), 0);
	CU_ASSERT_FALSE(pl->stages[0].instances[0].remote);
	CU_ASSERT_TRUE(pl->stages[0].instances[1].remote);
	CU_ASSERT_TRUE(pl->stages[1].instances[0].remote);
	CU_ASSERT_EQUAL(sl_config_localize(cfg, "n3", err, sizeof(err)),
			-ENOENT);
	CU_ASSERT_STRING_EQUAL(err, "nodes: no node \"n3\" (this sluiced's "
				    "--node)");
	sl_config_free(cfg);

	/* An instance without its node cannot be placed. */
	cfg = parse("sluiced: {address: 10.0.0.1}\n"
		    "nodes: [{name: n1, address: 10.0.1.1}]\n"
		    "pipelines:\n"
		    "  - name: p\n"
		    "    id: 1\n"
		    "    stages:\n"
		    "      - {name: a, instances: [10.0.1.5:80]}\n",
		    err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_EQUAL(sl_config_localize(cfg, "n1", err, sizeof(err)),
			-EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "pipelines.p.stages.a.instances.a/0.node: "
				    "missing: in a cluster every instance "
				    "names its node");
	sl_config_free(cfg);
}

/*
 * `gpu: true` marks a local GPU instance (its own or a pool's), false
 * unless given; an aggregating stage may have none.
 */
static void
test_gpu_instances(void)
{
	static const char yaml[] =
		"sluiced: {address: 10.0.0.1}\n"
		"pipelines:\n"
		"  - name: p\n"
		"    id: 1\n"
		"    pools:\n"
		"      - name: lm\n"
		"        instances: [{address: \"10.0.1.1:80\", gpu: true}, "
		"10.0.1.2:80]\n"
		"    stages:\n"
		"      - {name: answer, pool: lm}\n"
		"      - name: own\n"
		"        instances:\n"
		"          - {name: g, address: 10.0.3.1:80, gpu: true}\n"
		"          - {address: 10.0.3.2:80, gpu: false}\n"
		"      - {name: agg, aggregation: 1, instances: "
		"[10.0.4.1:80]}\n";
	char err[256] = "";
	struct sl_config *cfg = parse(yaml, err, sizeof(err));
	const struct sl_pipeline_cfg *pl;

	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	pl = &cfg->pipelines[0];
	CU_ASSERT_TRUE(pl->stages[0].instances[0].gpu);
	CU_ASSERT_FALSE(pl->stages[0].instances[1].gpu);
	CU_ASSERT_STRING_EQUAL(pl->stages[1].instances[0].name, "g");
	CU_ASSERT_TRUE(pl->stages[1].instances[0].gpu);
	CU_ASSERT_FALSE(pl->stages[1].instances[1].gpu);
	CU_ASSERT_FALSE(pl->stages[2].instances[0].gpu);
	sl_config_free(cfg);
}

/*
 * Pools: a pool's members are copied, in order, into every stage that
 * says pool: (named "<pool>/<i>" unless given), its policy is theirs
 * unless a stage says its own (policy:, least_outstanding being
 * least_loaded), an aggregating stage may use one (it routes by key),
 * and the scheduler's costs are kept in microseconds.
 */
static void
test_pools(void)
{
	static const char yaml[] =
		"sluiced: {address: 10.0.0.1}\n"
		"pipelines:\n"
		"  - name: p\n"
		"    id: 1\n"
		"    pools:\n"
		"      - name: lm\n"
		"        policy: prompt_aware\n"
		"        load_bound: 1.5\n"
		"        warm_prefixes: 2\n"
		"        instances: [10.0.1.1:80, {name: big, address: "
		"10.0.1.2:80}, 10.0.1.3:80]\n"
		"      - name: spare\n"
		"        instances: [10.0.2.1:80]\n"
		"    stages:\n"
		"      - {name: answer, pool: lm, cost_ms: 900, "
		"warm_saving_ms: 300}\n"
		"      - {name: claims, pool: lm, policy: least_outstanding}\n"
		"      - {name: queries, pool: lm, aggregation: 1}\n"
		"      - {name: other, pool: spare}\n"
		"      - {name: own, instances: [10.0.3.1:80], policy: "
		"hash_request}\n";
	char err[256] = "";
	struct sl_config *cfg = parse(yaml, err, sizeof(err));
	const struct sl_pipeline_cfg *pl;

	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	pl = &cfg->pipelines[0];
	CU_ASSERT_EQUAL(pl->n_pools, 2);
	CU_ASSERT_STRING_EQUAL(pl->pools[0].name, "lm");
	CU_ASSERT_EQUAL(pl->pools[0].policy, SL_BALANCE_PROMPT_AWARE);
	CU_ASSERT_EQUAL(pl->pools[0].load_bound, 1.5);
	CU_ASSERT_EQUAL(pl->pools[0].warm_prefixes, 2);
	CU_ASSERT_EQUAL(pl->pools[0].n_instances, 3);
	CU_ASSERT_EQUAL(pl->pools[0].n_stages, 3);
	CU_ASSERT_EQUAL(pl->pools[0].stages[0], 0);
	CU_ASSERT_EQUAL(pl->pools[0].stages[2], 2);
	CU_ASSERT_EQUAL(pl->pools[1].policy, SL_BALANCE_ROUND_ROBIN);
	CU_ASSERT_EQUAL(pl->pools[1].load_bound, 1.25);
	CU_ASSERT_EQUAL(pl->pools[1].warm_prefixes, 1);
	CU_ASSERT_EQUAL(pl->pools[1].n_stages, 1);
	for (unsigned int s = 0; s < 3; s++) {
		const struct sl_stage_cfg *st = &pl->stages[s];

		CU_ASSERT_EQUAL(st->pool, 0);
		CU_ASSERT_EQUAL(st->n_instances, 3);
		CU_ASSERT_STRING_EQUAL(st->instances[0].name, "lm/0");
		CU_ASSERT_STRING_EQUAL(st->instances[1].name, "big");
		CU_ASSERT_EQUAL(st->instances[2].ep.ip, 0x0a000103u);
		CU_ASSERT_EQUAL(st->instances[2].ep.port, 80);
	}
	CU_ASSERT_EQUAL(pl->stages[0].balance, SL_BALANCE_PROMPT_AWARE);
	CU_ASSERT_EQUAL(pl->stages[0].cost_us, 900000);
	CU_ASSERT_EQUAL(pl->stages[0].warm_saving_us, 300000);
	CU_ASSERT_EQUAL(pl->stages[1].balance, SL_BALANCE_LEAST_LOADED);
	CU_ASSERT_EQUAL(pl->stages[1].cost_us, 1000);
	CU_ASSERT_EQUAL(pl->stages[1].warm_saving_us, 0);
	CU_ASSERT_EQUAL(pl->stages[2].aggregation, 1);
	CU_ASSERT_EQUAL(pl->stages[3].pool, 1);
	CU_ASSERT_STRING_EQUAL(pl->stages[3].instances[0].name, "spare/0");
	CU_ASSERT_EQUAL(pl->stages[4].pool, SL_POOL_NONE);
	CU_ASSERT_EQUAL(pl->stages[4].balance, SL_BALANCE_HASH_REQUEST);
	/* Each stage's instance of a member has a uid of its own. */
	CU_ASSERT_NOT_EQUAL(pl->stages[0].instances[0].uid,
			    pl->stages[1].instances[0].uid);
	sl_config_free(cfg);
	CU_ASSERT_STRING_EQUAL(sl_balance_name(SL_BALANCE_PROMPT_AWARE),
			       "prompt_aware");
	CU_ASSERT_EQUAL(sl_balance_parse("least_outstanding"),
			SL_BALANCE_LEAST_LOADED);
	CU_ASSERT_EQUAL(sl_balance_parse("hash"), SL_BALANCE_MAX);
}

struct bad_case {
	const char *yaml;
	const char *err;
};

/* Whole files, one literal per line, so the expected line is easy to see. */
/* clang-format off */
static const struct bad_case bad_cases[] = {
	/* YAML syntax: libyaml's own words and line. */
	{ "sluiced:\n"
	  "  address: [10.77.0.1\n"
	  "pipelines: 1\n",
	  "t.yaml:3: syntax: did not find expected ',' or ']', while parsing a flow sequence" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  " port: 1\n",
	  "t.yaml:3: syntax: did not find expected key, while parsing a block mapping" },
	{ "",
	  "t.yaml:1: document: empty document" },
	{ "- 1\n"
	  "- 2\n",
	  "t.yaml:1: document: must be a mapping, got a list" },
	{ "sluiced: {address: 10.0.0.1}\n"
	  "---\n"
	  "foo: 1\n",
	  "t.yaml:3: document: only one YAML document allowed" },
	/* Unknown and duplicate keys. */
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "bogus: 1\n",
	  "t.yaml:3: bogus: unknown key" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "  adress: 10.77.0.2\n",
	  "t.yaml:3: sluiced.adress: unknown key" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "pipelines:\n"
	  "  - name: demo\n"
	  "    id: 1\n"
	  "    stages:\n"
	  "      - name: draft\n"
	  "        aggregaton: 1\n"
	  "        instances: [10.77.0.11:7801]\n",
	  "t.yaml:8: pipelines[0].stages[0].aggregaton: unknown key" },
	/* A field is one word whatever the key holds (the API takes it
	 * up to ": "); the key itself goes into the message, cut at a
	 * character, never inside one. */
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "\"pipelines: x\": 1\n",
	  "t.yaml:3: pipelines??x: unknown key \"pipelines: x\"" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "\"\": 1\n",
	  "t.yaml:3: ?: unknown key \"\"" },
	{ "sluiced:\n"
	  "  \"caf\xC3\xA9\": 1\n",
	  "t.yaml:2: sluiced.caf?: unknown key \"caf\xC3\xA9\"" },
	{ "sluiced:\n"
	  "  aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "\xC3\xA9\xC3\xA9\xC3\xA9: 1\n",
	  "t.yaml:2: sluiced.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa???: "
	  "unknown key \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\"" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "  address: 10.77.0.2\n",
	  "t.yaml:3: sluiced.address: duplicate key" },
	/* Missing required fields: line of the mapping that lacks them. */
	{ "pipelines: []\n",
	  "t.yaml:1: sluiced: required field missing" },
	{ "sluiced:\n"
	  "  port: 7700\n",
	  "t.yaml:2: sluiced.address: required field missing" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n",
	  "t.yaml:1: pipelines: required field missing" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "pipelines:\n"
	  "  - name: demo\n"
	  "    id: 1\n"
	  "    stages:\n"
	  "      - name: draft\n"
	  "        aggregation: 1\n",
	  "t.yaml:7: pipelines[0].stages[0].instances: required field missing" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "pipelines:\n"
	  "  - name: demo\n"
	  "    stages: []\n",
	  "t.yaml:4: pipelines[0].id: required field missing" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "pipelines:\n"
	  "  - name: demo\n"
	  "    id: 1\n"
	  "    stages:\n"
	  "      - name: draft\n"
	  "        instances:\n"
	  "          - {name: x}\n",
	  "t.yaml:9: pipelines[0].stages[0].instances[0].address: required field missing" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "tenants:\n"
	  "  - max_streams: 1\n",
	  "t.yaml:4: tenants[0].id: required field missing" },
	/* Wrong types. */
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "pipelines:\n"
	  "  name: demo\n",
	  "t.yaml:4: pipelines: must be a list, got a mapping" },
	{ "sluiced: 10.77.0.1\n",
	  "t.yaml:1: sluiced: must be a mapping, got a scalar" },
	{ "sluiced:\n"
	  "  address: [10.77.0.1]\n",
	  "t.yaml:2: sluiced.address: must be a scalar, got a list" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "flows:\n"
	  "  size: {a: 1}\n",
	  "t.yaml:4: flows.size: must be a number 64..4194304, got a mapping" },
	/* Numbers: range, sign, garbage, base. */
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "pipelines:\n"
	  "  - name: demo\n"
	  "    id: 1\n"
	  "    stages:\n"
	  "      - name: draft\n"
	  "        aggregation: 9\n"
	  "        instances: [10.77.0.11:7801]\n",
	  "t.yaml:8: pipelines[0].stages[0].aggregation: must be 0..6, got 9" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "flows:\n"
	  "  size: -5\n",
	  "t.yaml:4: flows.size: must be a decimal number 64..4194304, got \"-5\"" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "flows:\n"
	  "  size: 63\n",
	  "t.yaml:4: flows.size: must be 64..4194304, got 63" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "flows:\n"
	  "  idle_timeout_ms: 3600001\n",
	  "t.yaml:4: flows.idle_timeout_ms: must be 10..3600000, got 3600001" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "flows:\n"
	  "  reorder_window: 65\n",
	  "t.yaml:4: flows.reorder_window: must be 1..64, got 65" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "  port: 7700x\n",
	  "t.yaml:3: sluiced.port: must be a decimal number 1..65535, got \"7700x\"" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "  port: 0x10\n",
	  "t.yaml:3: sluiced.port: must be a decimal number 1..65535, got \"0x10\"" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "  port: 010\n",
	  "t.yaml:3: sluiced.port: must be a decimal number 1..65535, got \"010\"" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "  port: 65536\n",
	  "t.yaml:3: sluiced.port: must be 1..65535, got 65536" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "pipelines:\n"
	  "  - name: demo\n"
	  "    id: 0\n",
	  "t.yaml:5: pipelines[0].id: must be 1..4294967295, got 0" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "pipelines:\n"
	  "  - name: demo\n"
	  "    id: 99999999999999999999999\n",
	  "t.yaml:5: pipelines[0].id: must be 1..4294967295, got 99999999999999999999999" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "tenants:\n"
	  "  - id: 65536\n",
	  "t.yaml:4: tenants[0].id: must be 0..65535, got 65536" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "tenants:\n"
	  "  - id: 1\n"
	  "    burst: 0\n",
	  "t.yaml:5: tenants[0].burst: must be 1..4294967295, got 0" },
	/* Addresses, prefixes, endpoints. */
	{ "sluiced:\n"
	  "  address: 10.77.0\n",
	  "t.yaml:2: sluiced.address: must be a unicast IPv4 address, got \"10.77.0\"" },
	{ "sluiced:\n"
	  "  address: 10.77.0.256\n",
	  "t.yaml:2: sluiced.address: must be a unicast IPv4 address, got \"10.77.0.256\"" },
	{ "sluiced:\n"
	  "  address: 0.0.0.0\n",
	  "t.yaml:2: sluiced.address: must be a unicast IPv4 address, got \"0.0.0.0\"" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "clients:\n"
	  "  - 10.77.0.0/33\n",
	  "t.yaml:4: clients[0]: must be an IPv4 prefix A.B.C.D/0..32 with no host bits set, got \"10.77.0.0/33\"" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "clients:\n"
	  "  - 10.77.0.0/24\n"
	  "  - 10.77.0.1/24\n",
	  "t.yaml:5: clients[1]: must be an IPv4 prefix A.B.C.D/0..32 with no host bits set, got \"10.77.0.1/24\"" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "pipelines:\n"
	  "  - name: demo\n"
	  "    id: 1\n"
	  "    stages:\n"
	  "      - name: draft\n"
	  "        instances:\n"
	  "          - 10.77.0.11:70000\n",
	  "t.yaml:9: pipelines[0].stages[0].instances[0]: must be IPv4:PORT (unicast address, port 1..65535), got \"10.77.0.11:70000\"" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "pipelines:\n"
	  "  - name: demo\n"
	  "    id: 1\n"
	  "    stages:\n"
	  "      - name: draft\n"
	  "        instances:\n"
	  "          - {name: a, address: 10.77.0.11}\n",
	  "t.yaml:9: pipelines[0].stages[0].instances[0].address: must be IPv4:PORT (unicast address, port 1..65535), got \"10.77.0.11\"" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "pipelines:\n"
	  "  - name: demo\n"
	  "    id: 1\n"
	  "    stages:\n"
	  "      - name: draft\n"
	  "        instances:\n"
	  "          - 10.77.0.1:7700\n",
	  "t.yaml:9: pipelines[0].stages[0].instances[0]: endpoint 10.77.0.1:7700 is sluiced's own address" },
	/* Names and enums. */
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "pipelines:\n"
	  "  - name: de mo\n",
	  "t.yaml:4: pipelines[0].name: must be 1..31 characters of [A-Za-z0-9_.-], got \"de mo\"" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "pipelines:\n"
	  "  - name: abcdefghijklmnopqrstuvwxyz012345\n",
	  "t.yaml:4: pipelines[0].name: must be 1..31 characters of [A-Za-z0-9_.-], got \"abcdefghijklmnopqrstuvwxyz012345\"" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "pipelines:\n"
	  "  - name: demo\n"
	  "    id: 1\n"
	  "    stages:\n"
	  "      - name: draft\n"
	  "        balance: random\n",
	  "t.yaml:8: pipelines[0].stages[0].balance: must be round_robin, least_loaded (or least_outstanding), hash_request or prompt_aware, got \"random\"" },
	/* Pools. */
	{ "sluiced: {address: 10.0.0.1}\n"
	  "pipelines:\n"
	  "  - name: p\n"
	  "    id: 1\n"
	  "    pools:\n"
	  "      - {name: lm, instances: [10.0.1.1:80]}\n"
	  "    stages:\n"
	  "      - {name: a, pool: llm}\n",
	  "t.yaml:8: pipelines[0].stages[0].pool: no pool named \"llm\" in this pipeline's pools" },
	{ "sluiced: {address: 10.0.0.1}\n"
	  "pipelines:\n"
	  "  - name: p\n"
	  "    id: 1\n"
	  "    pools:\n"
	  "      - {name: lm, instances: [10.0.1.1:80]}\n"
	  "    stages:\n"
	  "      - {name: a, pool: lm, instances: [10.0.1.2:80]}\n",
	  "t.yaml:8: pipelines[0].stages[0].instances: not with pool: pool lm lists the instances" },
	{ "sluiced: {address: 10.0.0.1}\n"
	  "pipelines:\n"
	  "  - name: p\n"
	  "    id: 1\n"
	  "    pools:\n"
	  "      - {name: lm, instances: [10.0.1.1:80]}\n"
	  "      - {name: idle, instances: [10.0.1.2:80]}\n"
	  "    stages:\n"
	  "      - {name: a, pool: lm}\n",
	  "t.yaml:7: pipelines[0].pools[1]: no stage says pool: idle" },
	{ "sluiced: {address: 10.0.0.1}\n"
	  "pipelines:\n"
	  "  - name: p\n"
	  "    id: 1\n"
	  "    pools:\n"
	  "      - {name: lm, instances: [10.0.1.1:80]}\n"
	  "      - {name: lm, instances: [10.0.1.2:80]}\n"
	  "    stages:\n"
	  "      - {name: a, pool: lm}\n",
	  "t.yaml:7: pipelines[0].pools[1].name: duplicate pool name \"lm\" (first at line 6)" },
	{ "sluiced: {address: 10.0.0.1}\n"
	  "pipelines:\n"
	  "  - name: p\n"
	  "    id: 1\n"
	  "    pools:\n"
	  "      - {name: lm, instances: [10.0.1.1:80], policy: fastest}\n"
	  "    stages:\n"
	  "      - {name: a, pool: lm}\n",
	  "t.yaml:6: pipelines[0].pools[0].policy: must be round_robin, least_loaded (or least_outstanding), hash_request or prompt_aware, got \"fastest\"" },
	{ "sluiced: {address: 10.0.0.1}\n"
	  "pipelines:\n"
	  "  - name: p\n"
	  "    id: 1\n"
	  "    pools:\n"
	  "      - {name: lm, instances: [10.0.1.1:80], load_bound: 1.0}\n"
	  "    stages:\n"
	  "      - {name: a, pool: lm}\n",
	  "t.yaml:6: pipelines[0].pools[0].load_bound: must be above 1.0 (a cap on a member's share), got 1" },
	{ "sluiced: {address: 10.0.0.1}\n"
	  "pipelines:\n"
	  "  - name: p\n"
	  "    id: 1\n"
	  "    pools:\n"
	  "      - {name: lm}\n"
	  "    stages:\n"
	  "      - {name: a, pool: lm}\n",
	  "t.yaml:6: pipelines[0].pools[0].instances: required field missing" },
	{ "sluiced: {address: 10.0.0.1}\n"
	  "pipelines:\n"
	  "  - name: p\n"
	  "    id: 1\n"
	  "    pools:\n"
	  "      - {name: lm, instances: [10.0.1.1:80]}\n"
	  "    stages:\n"
	  "      - {name: a, pool: lm, balance: round_robin, policy: hash_request}\n",
	  "t.yaml:8: pipelines[0].stages[0].balance: is policy's older name: give one of them" },
	{ "sluiced: {address: 10.0.0.1}\n"
	  "pipelines:\n"
	  "  - name: p\n"
	  "    id: 1\n"
	  "    pools:\n"
	  "      - {name: lm, instances: [10.0.1.1:80]}\n"
	  "    stages:\n"
	  "      - {name: a, pool: lm, cost_ms: 100, warm_saving_ms: 101}\n",
	  "t.yaml:8: pipelines[0].stages[0].warm_saving_ms: must be at most cost_ms (100), got 101" },
	/* Duplicates. */
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "pipelines:\n"
	  "  - {name: a, id: 1, stages: [{name: s, instances: [10.0.0.2:1]}]}\n"
	  "  - {name: a, id: 2, stages: [{name: s, instances: [10.0.0.2:1]}]}\n",
	  "t.yaml:5: pipelines[1].name: duplicate pipeline name \"a\" (first at line 4)" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "pipelines:\n"
	  "  - {name: a, id: 1, stages: [{name: s, instances: [10.0.0.2:1]}]}\n"
	  "  - {name: b, id: 1, stages: [{name: s, instances: [10.0.0.2:1]}]}\n",
	  "t.yaml:5: pipelines[1].id: duplicate pipeline id 1 (first at line 4)" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "pipelines:\n"
	  "  - name: demo\n"
	  "    id: 1\n"
	  "    stages:\n"
	  "      - {name: s, instances: [10.0.0.2:1]}\n"
	  "      - {name: s, instances: [10.0.0.3:1]}\n",
	  "t.yaml:8: pipelines[0].stages[1].name: duplicate stage name \"s\" (first at line 7)" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "pipelines:\n"
	  "  - name: demo\n"
	  "    id: 1\n"
	  "    stages:\n"
	  "      - name: draft\n"
	  "        instances:\n"
	  "          - 10.77.0.11:7801\n"
	  "          - {name: b, address: 10.77.0.11:7801}\n",
	  "t.yaml:10: pipelines[0].stages[0].instances[1]: duplicate endpoint 10.77.0.11:7801 (first at line 9)" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "pipelines:\n"
	  "  - name: demo\n"
	  "    id: 1\n"
	  "    stages:\n"
	  "      - name: draft\n"
	  "        instances:\n"
	  "          - 10.77.0.11:7801\n"
	  "          - {name: draft/0, address: 10.77.0.12:7801}\n",
	  "t.yaml:10: pipelines[0].stages[0].instances[1]: duplicate instance name \"draft/0\" (first at line 9)" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "tenants:\n"
	  "  - id: 3\n"
	  "  - id: 4\n"
	  "  - id: 3\n",
	  "t.yaml:6: tenants[2].id: duplicate tenant id 3 (first at line 4)" },
	/* Empty lists where items are required. */
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "pipelines: []\n",
	  "t.yaml:3: pipelines: must have at least 1 item" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "pipelines:\n",
	  "t.yaml:3: pipelines: must have at least 1 item" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "pipelines:\n"
	  "  - name: demo\n"
	  "    id: 1\n"
	  "    stages:\n"
	  "      - name: draft\n"
	  "        instances: []\n",
	  "t.yaml:8: pipelines[0].stages[0].instances: must have at least 1 item" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "tenants: []\n",
	  "t.yaml:3: tenants: must have at least 1 item" },
	/* The hardening keys. */
	{ "sluiced: {address: 10.77.0.1}\n"
	  "flows: {size: 64, client_streams: 65}\n",
	  "t.yaml:2: flows.client_streams: must be 1..64, got 65" },
	{ "sluiced: {address: 10.77.0.1}\n"
	  "flows: {size: 64, client_streams: 8, source_streams: 9}\n",
	  "t.yaml:2: flows.source_streams: must be 1..8, got 9" },
	{ "sluiced: {address: 10.77.0.1}\n"
	  "liveness: {probe_ms: 100, dead_ms: 150}\n",
	  "t.yaml:2: liveness.dead_ms: must be at least twice probe_ms (100), got 150" },
	{ "sluiced: {address: 10.77.0.1}\n"
	  "liveness: {probe_ms: 5}\n",
	  "t.yaml:2: liveness.probe_ms: must be 0 (off) or 10..60000, got 5" },
	{ "sluiced: {address: 10.77.0.1}\n"
	  "tenants: [{id: 1, sources: [10.0.0.1/8]}]\n",
	  "t.yaml:2: tenants[0].sources[0]: must be an IPv4 prefix A.B.C.D/0..32 with no host bits set, got \"10.0.0.1/8\"" },
	{ "sluiced: {address: 10.77.0.1}\n"
	  "pipelines:\n"
	  "  - name: p\n"
	  "    id: 1\n"
	  "    stages:\n"
	  "      - {name: a, aggregation: 2, instances: [10.0.0.2:1]}\n",
	  "t.yaml:6: pipelines[0].stages[0].aggregation: must be 0..1 for the first stage of a chain (clients send depth 1 streams), got 2" },
	{ "sluiced: {address: 10.77.0.1}\n"
	  "pipelines:\n"
	  "  - name: p\n"
	  "    id: 1\n"
	  "    stages:\n"
	  "      - {name: a, instances: [10.0.0.2:1]}\n"
	  "      - {name: t, operator: count, aggregation: 1, idempotent: true}\n",
	  "t.yaml:7: pipelines[0].stages[1].idempotent: only for engine stages, not operator count" },
	/* Prompt templates. */
	{ "sluiced: {address: 10.77.0.1}\n"
	  "pipelines:\n"
	  "  - name: p\n"
	  "    id: 1\n"
	  "    stages:\n"
	  "      - {name: a, prompt: \"Answer briefly.\", instances: [10.0.0.2:1]}\n",
	  "t.yaml:6: pipelines[0].stages[0].prompt: must hold {input}, where the stream's text goes" },
	{ "sluiced: {address: 10.77.0.1}\n"
	  "pipelines:\n"
	  "  - name: p\n"
	  "    id: 1\n"
	  "    stages:\n"
	  "      - {name: a, prompt: \"\", instances: [10.0.0.2:1]}\n",
	  "t.yaml:6: pipelines[0].stages[0].prompt: must be 1..16384 bytes, got 0" },
	{ "sluiced: {address: 10.77.0.1}\n"
	  "pipelines:\n"
	  "  - name: p\n"
	  "    id: 1\n"
	  "    stages:\n"
	  "      - {name: a, prompt: [\"{input}\"], instances: [10.0.0.2:1]}\n",
	  "t.yaml:6: pipelines[0].stages[0].prompt: must be a scalar, got a list" },
	{ "sluiced: {address: 10.77.0.1}\n"
	  "pipelines:\n"
	  "  - name: p\n"
	  "    id: 1\n"
	  "    stages:\n"
	  "      - {name: a, prompt: \"x\\0{input}\", instances: [10.0.0.2:1]}\n",
	  "t.yaml:6: pipelines[0].stages[0].prompt: must not hold a NUL character" },
	{ "sluiced: {address: 10.77.0.1}\n"
	  "pipelines:\n"
	  "  - name: p\n"
	  "    id: 1\n"
	  "    stages:\n"
	  "      - {name: a, instances: [10.0.0.2:1]}\n"
	  "      - {name: t, operator: concat, aggregation: 1, prompt: \"{input}\"}\n",
	  "t.yaml:7: pipelines[0].stages[1].prompt: only for engine stages, not operator concat" },
};
/* clang-format on */

static void run_bad(const struct bad_case *cases, unsigned int n);

static void
test_bad(void)
{
	run_bad(bad_cases, sizeof(bad_cases) / sizeof(bad_cases[0]));
}

/* Lists longer than their SL_MAX_* bound. */
static void
test_too_many(void)
{
	static char yaml[16384];
	char err[256] = "";
	struct sl_config *cfg;
	unsigned int i;
	int n;

	n = snprintf(yaml, sizeof(yaml),
		     "sluiced: {address: 10.0.0.1}\npipelines:\n"
		     "  - name: p\n    id: 1\n    stages:\n");
	for (i = 0; i <= SL_MAX_STAGES; i++)
		n += snprintf(yaml + n, sizeof(yaml) - n,
			      "      - {name: s%u, instances: [10.0.0.2:1]}\n",
			      i);
	cfg = parse(yaml, err, sizeof(err));
	CU_ASSERT_PTR_NULL(cfg);
	CU_ASSERT_STRING_EQUAL(
		err, "t.yaml:6: pipelines[0].stages: at most 16 items, got 17");

	n = snprintf(yaml, sizeof(yaml),
		     "sluiced: {address: 10.0.0.1}\npipelines:\n");
	for (i = 0; i <= SL_MAX_PIPELINES; i++)
		n += snprintf(yaml + n, sizeof(yaml) - n,
			      "  - {name: p%u, id: %u, stages: []}\n", i,
			      i + 1);
	cfg = parse(yaml, err, sizeof(err));
	CU_ASSERT_PTR_NULL(cfg);
	CU_ASSERT_STRING_EQUAL(err,
			       "t.yaml:3: pipelines: at most 8 items, got 9");

	n = snprintf(yaml, sizeof(yaml),
		     "sluiced: {address: 10.0.0.1}\npipelines:\n"
		     "  - name: p\n    id: 1\n    stages:\n"
		     "      - name: s\n        instances:\n");
	for (i = 0; i <= SL_MAX_INSTANCES; i++)
		n += snprintf(yaml + n, sizeof(yaml) - n,
			      "          - 10.0.1.%u:80\n", i + 1);
	cfg = parse(yaml, err, sizeof(err));
	CU_ASSERT_PTR_NULL(cfg);
	CU_ASSERT_STRING_EQUAL(err,
			       "t.yaml:8: pipelines[0].stages[0].instances: at "
			       "most 32 items, got 33");

	n = snprintf(yaml, sizeof(yaml),
		     "sluiced: {address: 10.0.0.1}\nclients:\n");
	for (i = 0; i <= SL_MAX_CLIENT_NETS; i++)
		n += snprintf(yaml + n, sizeof(yaml) - n, "  - 10.1.%u.0/24\n",
			      i);
	cfg = parse(yaml, err, sizeof(err));
	CU_ASSERT_PTR_NULL(cfg);
	CU_ASSERT_STRING_EQUAL(err,
			       "t.yaml:3: clients: at most 16 items, got 17");

	n = snprintf(yaml, sizeof(yaml),
		     "sluiced: {address: 10.0.0.1}\npipelines:\n"
		     "  - name: p\n    id: 1\n    stages:\n"
		     "      - {name: a, instances: [10.0.0.2:1]}\n"
		     "    edges:\n");
	for (i = 0; i <= SL_MAX_EDGES; i++)
		n += snprintf(yaml + n, sizeof(yaml) - n,
			      "      - {from: client, to: a}\n");
	cfg = parse(yaml, err, sizeof(err));
	CU_ASSERT_PTR_NULL(cfg);
	CU_ASSERT_STRING_EQUAL(err, "t.yaml:8: pipelines[0].edges: at most "
				    "32 items, got 33");
	(void)n;
}

/* A split pattern fills pattern[] with its NUL: 127 bytes, not 128. */
static void
test_pattern_length(void)
{
	char yaml[1024], pat[SL_PATTERN_MAX + 1], err[256] = "";
	struct sl_config *cfg;

	memset(pat, 'a', SL_PATTERN_MAX - 1);
	pat[SL_PATTERN_MAX - 1] = '\0';
	snprintf(yaml, sizeof(yaml),
		 "sluiced: {address: 10.0.0.1}\npipelines:\n"
		 "  - name: p\n    id: 1\n    stages:\n"
		 "      - {name: a, instances: [10.0.0.2:1]}\n"
		 "    edges:\n"
		 "      - {from: client, to: a}\n"
		 "      - {from: a, to: client, split: regex, pattern: %s}\n",
		 pat);
	cfg = parse(yaml, err, sizeof(err));
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_STRING_EQUAL(cfg->pipelines[0].edges[1].pattern, pat);
	CU_ASSERT_PTR_NOT_NULL(cfg->pipelines[0].edges[1].split_db);
	sl_config_free(cfg);

	strcat(pat, "a");
	snprintf(yaml, sizeof(yaml),
		 "sluiced: {address: 10.0.0.1}\npipelines:\n"
		 "  - name: p\n    id: 1\n    stages:\n"
		 "      - {name: a, instances: [10.0.0.2:1]}\n"
		 "    edges:\n"
		 "      - {from: client, to: a}\n"
		 "      - {from: a, to: client, split: regex, pattern: %s}\n",
		 pat);
	cfg = parse(yaml, err, sizeof(err));
	CU_ASSERT_PTR_NULL(cfg);
	CU_ASSERT_STRING_EQUAL(err, "t.yaml:9: pipelines[0].edges[1].pattern: "
				    "at most 127 bytes, got 128");
}

/* A value with a newline or a long value is quoted back on one line. */
static void
test_err_one_line(void)
{
	char err[512] = "";
	struct sl_config *cfg;

	cfg = parse("sluiced:\n  address: \"10.0.0.1\\nx\"\n", err,
		    sizeof(err));
	CU_ASSERT_PTR_NULL(cfg);
	CU_ASSERT_STRING_EQUAL(err, "t.yaml:2: sluiced.address: must be a "
				    "unicast IPv4 address, got \"10.0.0.1?x\"");
	cfg = parse("sluiced:\n  address: "
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaa\n",
		    err, sizeof(err));
	CU_ASSERT_PTR_NULL(cfg);
	CU_ASSERT_STRING_EQUAL(
		err,
		"t.yaml:2: sluiced.address: must be a unicast IPv4 address, "
		"got \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\"");
	/* A short buffer is truncated, never overrun. */
	cfg = parse("sluiced: 1\n", err, 12);
	CU_ASSERT_PTR_NULL(cfg);
	CU_ASSERT_STRING_EQUAL(err, "t.yaml:1: s");
	cfg = parse("sluiced: 1\n", NULL, 0);
	CU_ASSERT_PTR_NULL(cfg);
}

static void
test_load(void)
{
	char err[512] = "";
	struct sl_config *cfg;
	char *dump = NULL;
	size_t dump_len = 0;
	FILE *f;

	cfg = sl_config_load(fixture_path, err, sizeof(err));
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_EQUAL(cfg->n_pipelines, 1);
	CU_ASSERT_EQUAL(cfg->pipelines[0].n_stages, 2);

	f = open_memstream(&dump, &dump_len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	sl_config_dump(cfg, f);
	fclose(f);
	CU_ASSERT_STRING_EQUAL(
		dump,
		"sluiced 10.77.0.1:7700 flows 65536 idle 5000 ms reorder 16 "
		"buffer 1024\n"
		"client 10.77.0.0/24\n"
		"tenants any\n"
		"pipeline demo id 1 stages 2 edges 3 single_output yes\n"
		"  stage 1 draft engine depth 1 aggregation 0 balance "
		"round_robin instances 2\n"
		"    instance draft/0 10.77.0.11:7801\n"
		"    instance draft-b 10.77.0.12:7801\n"
		"  stage 2 verify engine depth 1 aggregation 1 balance "
		"least_loaded instances 1\n"
		"    instance verify/0 10.77.0.21:7802\n"
		"  edge 0 client -> draft depth 1\n"
		"  edge 1 draft -> verify depth 1\n"
		"  edge 2 verify -> client depth 1\n");
	free(dump);
	sl_config_free(cfg);

	cfg = sl_config_load("/nonexistent/sluice.yaml", err, sizeof(err));
	CU_ASSERT_PTR_NULL(cfg);
	CU_ASSERT_STRING_EQUAL(err, "/nonexistent/sluice.yaml: cannot open: No "
				    "such file or directory");
}

static void
test_ipv4(void)
{
	static const char *const bad[] = {
		"",         "1",         "1.2.3",      "1.2.3.4.5", "1.2.3.256",
		"01.2.3.4", "1.2.3.4 ",  " 1.2.3.4",   "1..3.4",    "1.2.3.-4",
		"a.b.c.d",  "1.2.3.4/8", "1000.2.3.4",
	};
	uint32_t ip = 0;
	char buf[16];
	unsigned int i;

	CU_ASSERT_EQUAL(sl_ipv4_parse("10.77.0.1", &ip), 0);
	CU_ASSERT_EQUAL(ip, 0x0a4d0001);
	CU_ASSERT_EQUAL(sl_ipv4_parse("255.255.255.255", &ip), 0);
	CU_ASSERT_EQUAL(ip, 0xffffffff);
	CU_ASSERT_EQUAL(sl_ipv4_parse("0.0.0.0", &ip), 0);
	CU_ASSERT_EQUAL(ip, 0);
	ip = 42;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(sl_ipv4_parse(bad[i], &ip), -EINVAL);
		CU_ASSERT_EQUAL(ip, 42);
	}
	CU_ASSERT_STRING_EQUAL(sl_ipv4_format(0xc0a80107, buf, sizeof(buf)),
			       "192.168.1.7");
	CU_ASSERT_STRING_EQUAL(sl_ipv4_format(0xffffffff, buf, sizeof(buf)),
			       "255.255.255.255");
}

/* Match ends of a compiled splitter over @text, fed in two pieces so that
 * a quantum boundary may straddle two scans, as fragments do. */
struct split_ends {
	unsigned int n;
	unsigned long long at[8];
};

static int
on_split(unsigned int id, unsigned long long from, unsigned long long to,
	 unsigned int flags, void *ctx)
{
	struct split_ends *e = ctx;

	(void)id;
	(void)from;
	(void)flags;
	if (e->n < 8)
		e->at[e->n++] = to;
	return 0;
}

static struct split_ends
split_run(void *db, const char *text, size_t cut)
{
	struct split_ends e = {0};
	hs_scratch_t *scratch = NULL;
	hs_stream_t *stream = NULL;

	CU_ASSERT_EQUAL_FATAL(hs_alloc_scratch(db, &scratch), HS_SUCCESS);
	CU_ASSERT_EQUAL_FATAL(hs_open_stream(db, 0, &stream), HS_SUCCESS);
	CU_ASSERT_EQUAL(hs_scan_stream(stream, text, (unsigned int)cut, 0,
				       scratch, on_split, &e),
			HS_SUCCESS);
	CU_ASSERT_EQUAL(hs_scan_stream(stream, text + cut,
				       (unsigned int)(strlen(text) - cut), 0,
				       scratch, on_split, &e),
			HS_SUCCESS);
	CU_ASSERT_EQUAL(hs_close_stream(stream, scratch, on_split, &e),
			HS_SUCCESS);
	hs_free_scratch(scratch);
	return e;
}

static void
assert_edge(const struct sl_pipeline_cfg *pl, unsigned int i, uint16_t from,
	    uint16_t to, enum sl_edge_mode mode, enum sl_split split,
	    unsigned int depth_in, unsigned int depth_out)
{
	const struct sl_edge_cfg *e = &pl->edges[i];

	CU_ASSERT_EQUAL(e->id, i);
	CU_ASSERT_EQUAL(e->from, from);
	CU_ASSERT_EQUAL(e->to, to);
	CU_ASSERT_EQUAL(e->mode, mode);
	CU_ASSERT_EQUAL(e->split, split);
	CU_ASSERT_EQUAL(e->depth_in, depth_in);
	CU_ASSERT_EQUAL(e->depth_out, depth_out);
	if (split == SL_SPLIT_NONE) {
		CU_ASSERT_PTR_NULL(e->split_db);
		CU_ASSERT_STRING_EQUAL(e->pattern, "");
		CU_ASSERT_FALSE(e->stream_children);
	} else {
		CU_ASSERT_PTR_NOT_NULL(e->split_db);
	}
}

static void
assert_stage(const struct sl_stage_cfg *st, const char *name,
	     enum sl_stage_kind kind, unsigned int aggregation,
	     unsigned int depth_in, unsigned int n_in, unsigned int n_out,
	     const uint16_t *out)
{
	unsigned int i;

	CU_ASSERT_STRING_EQUAL(st->name, name);
	CU_ASSERT_EQUAL(st->kind, kind);
	CU_ASSERT_EQUAL(st->aggregation, aggregation);
	CU_ASSERT_EQUAL(st->depth_in, depth_in);
	CU_ASSERT_EQUAL(st->n_in_edges, n_in);
	CU_ASSERT_EQUAL_FATAL(st->n_out_edges, n_out);
	for (i = 0; i < n_out; i++)
		CU_ASSERT_EQUAL(st->out_edges[i], out[i]);
}

/* The README's example, every derived field. */
static void
test_dag_factcheck(void)
{
	enum {
		C = SL_STAGE_CLIENT,
		ANSWER = 1,
		CLAIMS,
		QUERIES,
		BM25,
		ENCODER,
		BEST,
		RESULTS
	};
	char err[512] = "";
	struct sl_config *cfg =
		sl_config_load(factcheck_path, err, sizeof(err));
	const struct sl_pipeline_cfg *pl;
	const struct sl_stage_cfg *st;
	struct split_ends ends;

	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_EQUAL(cfg->buffer_max, 2048);
	CU_ASSERT_EQUAL_FATAL(cfg->n_pipelines, 2);
	pl = &cfg->pipelines[0];
	CU_ASSERT_STRING_EQUAL(pl->name, "factcheck");
	CU_ASSERT_EQUAL(pl->id, 2);
	CU_ASSERT_EQUAL_FATAL(pl->n_stages, 7);
	CU_ASSERT_EQUAL_FATAL(pl->n_edges, 10);

	assert_edge(pl, 0, C, ANSWER, SL_EDGE_STREAM, SL_SPLIT_NONE, 1, 1);
	assert_edge(pl, 1, ANSWER, C, SL_EDGE_STREAM, SL_SPLIT_NONE, 1, 1);
	assert_edge(pl, 2, ANSWER, CLAIMS, SL_EDGE_BUFFER, SL_SPLIT_NONE, 1, 1);
	assert_edge(pl, 3, CLAIMS, QUERIES, SL_EDGE_STREAM, SL_SPLIT_LINE, 1,
		    2);
	assert_edge(pl, 4, QUERIES, BM25, SL_EDGE_STREAM, SL_SPLIT_LINE, 2, 3);
	assert_edge(pl, 5, QUERIES, ENCODER, SL_EDGE_STREAM, SL_SPLIT_REGEX, 2,
		    3);
	assert_edge(pl, 6, BM25, BEST, SL_EDGE_STREAM, SL_SPLIT_NONE, 3, 3);
	assert_edge(pl, 7, ENCODER, BEST, SL_EDGE_STREAM, SL_SPLIT_NONE, 3, 3);
	assert_edge(pl, 8, BEST, RESULTS, SL_EDGE_STREAM, SL_SPLIT_NONE, 3, 3);
	/* An operator emits one stream per group: depth = its aggregation. */
	assert_edge(pl, 9, RESULTS, C, SL_EDGE_STREAM, SL_SPLIT_NONE, 1, 1);
	CU_ASSERT_STRING_EQUAL(pl->edges[3].pattern, "\\n");
	CU_ASSERT_FALSE(pl->edges[3].stream_children);
	CU_ASSERT_STRING_EQUAL(pl->edges[4].pattern, "\\n");
	CU_ASSERT_TRUE(pl->edges[4].stream_children);
	CU_ASSERT_STRING_EQUAL(pl->edges[5].pattern, "\\n");
	CU_ASSERT_FALSE(pl->edges[5].stream_children);

	CU_ASSERT_EQUAL(pl->n_client_edges, 1);
	CU_ASSERT_EQUAL(pl->client_edges[0], 0);
	/* Two edges back to the client (the answer, the results). */
	CU_ASSERT_FALSE(pl->single_output);

	assert_stage(&pl->stages[0], "answer", SL_STAGE_ENGINE, 0, 1, 1, 2,
		     (const uint16_t[]){1, 2});
	assert_stage(&pl->stages[1], "claims", SL_STAGE_ENGINE, 0, 1, 1, 1,
		     (const uint16_t[]){3});
	assert_stage(&pl->stages[2], "queries", SL_STAGE_ENGINE, 2, 2, 1, 2,
		     (const uint16_t[]){4, 5});
	assert_stage(&pl->stages[3], "bm25", SL_STAGE_ENGINE, 3, 3, 1, 1,
		     (const uint16_t[]){6});
	assert_stage(&pl->stages[4], "encoder", SL_STAGE_ENGINE, 0, 3, 1, 1,
		     (const uint16_t[]){7});
	assert_stage(&pl->stages[5], "best", SL_STAGE_OP_TOPK, 3, 3, 2, 1,
		     (const uint16_t[]){8});
	assert_stage(&pl->stages[6], "results", SL_STAGE_OP_CONCAT, 1, 3, 1, 1,
		     (const uint16_t[]){9});
	for (unsigned int i = 0; i < 7; i++)
		CU_ASSERT_EQUAL(pl->stages[i].id, i + 1);

	st = &pl->stages[3];
	CU_ASSERT_EQUAL(st->load_bound, 1.25);
	CU_ASSERT_EQUAL(st->n_instances, 3);
	CU_ASSERT_STRING_EQUAL(st->instances[2].name, "bm25/2");
	CU_ASSERT_EQUAL(pl->stages[4].balance, SL_BALANCE_LEAST_LOADED);
	CU_ASSERT_EQUAL(pl->stages[4].load_bound, 0.0);
	st = &pl->stages[5];
	CU_ASSERT_EQUAL(st->topk, 5);
	CU_ASSERT_EQUAL(st->max_groups, SL_CONFIG_DEFAULT_GROUPS);
	CU_ASSERT_EQUAL(st->max_group_bytes, SL_CONFIG_DEFAULT_GROUP_BYTES);
	CU_ASSERT_EQUAL(st->n_instances, 0);
	st = &pl->stages[6];
	CU_ASSERT_EQUAL(st->topk, 0);
	CU_ASSERT_EQUAL(st->max_groups, 1024);
	CU_ASSERT_EQUAL(st->max_group_bytes, 262144);
	CU_ASSERT_EQUAL(st->n_instances, 0);

	CU_ASSERT_STRING_EQUAL(sl_stage_name_of(pl, SL_STAGE_CLIENT), "client");
	CU_ASSERT_STRING_EQUAL(sl_stage_name_of(pl, ANSWER), "answer");
	CU_ASSERT_STRING_EQUAL(sl_stage_name_of(pl, RESULTS), "results");
	CU_ASSERT_PTR_NULL(sl_stage_name_of(pl, RESULTS + 1));

	/* The compiled splitters cut where their patterns say, across two
	 * scans of one stream. */
	ends = split_run(pl->edges[3].split_db, "claim one\nclaim two\nrest",
			 10);
	CU_ASSERT_EQUAL_FATAL(ends.n, 2);
	CU_ASSERT_EQUAL(ends.at[0], 10);
	CU_ASSERT_EQUAL(ends.at[1], 20);
	ends = split_run(pl->edges[5].split_db, "q\xc3\xa9\nq2\n", 3);
	CU_ASSERT_EQUAL_FATAL(ends.n, 2);
	CU_ASSERT_EQUAL(ends.at[0], 4);
	CU_ASSERT_EQUAL(ends.at[1], 7);

	pl = &cfg->pipelines[1];
	CU_ASSERT_STRING_EQUAL(pl->name, "tally");
	CU_ASSERT_EQUAL_FATAL(pl->n_edges, 3);
	assert_edge(pl, 0, C, 1, SL_EDGE_STREAM, SL_SPLIT_NONE, 1, 1);
	assert_edge(pl, 1, 1, 2, SL_EDGE_BUFFER, SL_SPLIT_NONE, 1, 1);
	assert_edge(pl, 2, 2, C, SL_EDGE_STREAM, SL_SPLIT_NONE, 1, 1);
	assert_stage(&pl->stages[1], "words", SL_STAGE_OP_COUNT, 1, 1, 1, 1,
		     (const uint16_t[]){2});
	CU_ASSERT_TRUE(pl->single_output);
	sl_config_free(cfg);
}

static void
test_dag_dump(void)
{
	char err[512] = "";
	struct sl_config *cfg =
		sl_config_load(factcheck_path, err, sizeof(err));
	char *dump = NULL;
	size_t dump_len = 0;
	FILE *f;

	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	f = open_memstream(&dump, &dump_len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	sl_config_dump(cfg, f);
	fclose(f);
	CU_ASSERT_STRING_EQUAL(
		dump,
		"sluiced 10.77.0.1:7700 flows 65536 idle 5000 ms reorder 16 "
		"buffer 2048\n"
		"client 10.77.0.0/24\n"
		"tenants any\n"
		"pipeline factcheck id 2 stages 7 edges 10 single_output no\n"
		"  stage 1 answer engine depth 1 aggregation 0 balance "
		"round_robin instances 2\n"
		"    instance answer/0 10.77.0.11:7801\n"
		"    instance answer/1 10.77.0.12:7801\n"
		"  stage 2 claims engine depth 1 aggregation 0 balance "
		"round_robin instances 1\n"
		"    instance claims/0 10.77.0.21:7801\n"
		"  stage 3 queries engine depth 2 aggregation 2 balance "
		"round_robin instances 2\n"
		"    instance queries/0 10.77.0.31:7801\n"
		"    instance queries/1 10.77.0.32:7801\n"
		"  stage 4 bm25 engine depth 3 aggregation 3 balance "
		"round_robin "
		"load_bound 1.25 instances 3\n"
		"    instance bm25/0 10.77.0.41:7801\n"
		"    instance bm25/1 10.77.0.42:7801\n"
		"    instance bm25/2 10.77.0.43:7801\n"
		"  stage 5 encoder engine depth 3 aggregation 0 balance "
		"least_loaded instances 1\n"
		"    instance encoder/0 10.77.0.51:7801\n"
		"  stage 6 best topk depth 3 aggregation 3 k 5 max_groups 4096 "
		"max_group_bytes 65536\n"
		"  stage 7 results concat depth 3 aggregation 1 max_groups "
		"1024 "
		"max_group_bytes 262144\n"
		"  edge 0 client -> answer depth 1\n"
		"  edge 1 answer -> client depth 1\n"
		"  edge 2 answer -> claims buffer depth 1\n"
		"  edge 3 claims -> queries split line depth 1->2\n"
		"  edge 4 queries -> bm25 split line stream_children depth "
		"2->3\n"
		"  edge 5 queries -> encoder split regex \"\\\\n\" depth 2->3\n"
		"  edge 6 bm25 -> best depth 3\n"
		"  edge 7 encoder -> best depth 3\n"
		"  edge 8 best -> results depth 3\n"
		"  edge 9 results -> client depth 1\n"
		"pipeline tally id 3 stages 2 edges 3 single_output yes\n"
		"  stage 1 draft engine depth 1 aggregation 0 balance "
		"round_robin "
		"instances 1\n"
		"    instance draft/0 10.77.0.61:7801\n"
		"  stage 2 words count depth 1 aggregation 1 max_groups 4096 "
		"max_group_bytes 65536\n"
		"  edge 0 client -> draft depth 1\n"
		"  edge 1 draft -> words buffer depth 1\n"
		"  edge 2 words -> client depth 1\n");
	free(dump);
	sl_config_free(cfg);
}

/* The six lines every DAG case below starts with. */
#define P_HEAD                                                                 \
	"sluiced:\n"                                                           \
	"  address: 10.77.0.1\n"                                               \
	"pipelines:\n"                                                         \
	"  - name: p\n"                                                        \
	"    id: 1\n"                                                          \
	"    stages:\n"
/* Lines 7..8 and 7..9. */
#define S_AB                                                                   \
	"      - {name: a, instances: [10.0.0.2:1]}\n"                         \
	"      - {name: b, instances: [10.0.0.3:1]}\n"
#define S_ABC S_AB "      - {name: c, instances: [10.0.0.4:1]}\n"

/* Accepted corner cases: built-in sentence splitter, boundaries of every
 * new number, an operator in a chain, a split back to the client. */
static void
test_dag_accepts(void)
{
	char err[512] = "";
	struct sl_config *cfg;
	const struct sl_pipeline_cfg *pl;
	struct split_ends ends;

	cfg = parse(P_HEAD
		    "      - {name: a, aggregation: 1, load_bound: 16,\n"
		    "         instances: [10.0.0.2:1]}\n"
		    "      - {name: b, aggregation: 2, load_bound: 1.0,\n"
		    "         instances: [10.0.0.3:1]}\n"
		    "      - {name: c, aggregation: 2, load_bound: 0,\n"
		    "         instances: [10.0.0.4:1]}\n"
		    "      - {name: t, operator: topk, k: 64, aggregation: 2,\n"
		    "         max_groups: 1048576, max_group_bytes: 16777216}\n"
		    "      - {name: u, operator: topk, k: 1, aggregation: 1,\n"
		    "         max_groups: 1, max_group_bytes: 256}\n"
		    "    edges:\n"
		    "      - {from: client, to: a}\n"
		    "      - {from: a, to: b, split: sentence,"
		    " stream_children: false}\n"
		    "      - {from: b, to: c, mode: stream, split: none}\n"
		    "      - {from: c, to: t}\n"
		    "      - {from: t, to: client, split: regex,"
		    " pattern: \"\\u00e9+\"}\n"
		    "      - {from: a, to: u}\n"
		    "      - {from: u, to: client}\n",
		    err, sizeof(err));
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	pl = &cfg->pipelines[0];
	CU_ASSERT_EQUAL(pl->stages[0].load_bound, 16.0);
	CU_ASSERT_EQUAL(pl->stages[1].load_bound, 1.0);
	CU_ASSERT_EQUAL(pl->stages[2].load_bound, 0.0);
	CU_ASSERT_EQUAL(pl->stages[3].topk, 64);
	CU_ASSERT_EQUAL(pl->stages[3].max_groups, 1048576);
	CU_ASSERT_EQUAL(pl->stages[3].max_group_bytes, 16777216);
	CU_ASSERT_EQUAL(pl->stages[4].topk, 1);
	CU_ASSERT_EQUAL(pl->stages[4].max_groups, 1);
	CU_ASSERT_EQUAL(pl->stages[4].max_group_bytes, 256);
	CU_ASSERT_EQUAL(pl->stages[3].depth_in, 2);
	CU_ASSERT_EQUAL(pl->stages[4].depth_in, 1);
	assert_edge(pl, 1, 1, 2, SL_EDGE_STREAM, SL_SPLIT_SENTENCE, 1, 2);
	CU_ASSERT_STRING_EQUAL(pl->edges[1].pattern, "[.!?]\\s");
	CU_ASSERT_FALSE(pl->edges[1].stream_children);
	assert_edge(pl, 2, 2, 3, SL_EDGE_STREAM, SL_SPLIT_NONE, 2, 2);
	/* A split on the way back: the client gets depth 3 streams. */
	assert_edge(pl, 4, 4, SL_STAGE_CLIENT, SL_EDGE_STREAM, SL_SPLIT_REGEX,
		    2, 3);
	CU_ASSERT_STRING_EQUAL(pl->edges[4].pattern, "\xc3\xa9+");
	CU_ASSERT_EQUAL(pl->n_client_edges, 1);
	CU_ASSERT_FALSE(pl->single_output);
	ends = split_run(pl->edges[1].split_db, "One. Two! Three?\nx", 7);
	CU_ASSERT_EQUAL_FATAL(ends.n, 3);
	CU_ASSERT_EQUAL(ends.at[0], 5);
	CU_ASSERT_EQUAL(ends.at[1], 10);
	CU_ASSERT_EQUAL(ends.at[2], 17);
	sl_config_free(cfg);

	/* Operators work in a chain too; one edge back at depth 1. */
	cfg = parse(P_HEAD "      - {name: a, instances: [10.0.0.2:1]}\n"
			   "      - {name: n, operator: sum, aggregation: 1}\n",
		    err, sizeof(err));
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	pl = &cfg->pipelines[0];
	CU_ASSERT_EQUAL(pl->stages[1].kind, SL_STAGE_OP_SUM);
	CU_ASSERT_EQUAL(pl->stages[1].max_groups, SL_CONFIG_DEFAULT_GROUPS);
	CU_ASSERT_EQUAL_FATAL(pl->n_edges, 3);
	assert_edge(pl, 0, SL_STAGE_CLIENT, 1, SL_EDGE_STREAM, SL_SPLIT_NONE, 1,
		    1);
	assert_edge(pl, 1, 1, 2, SL_EDGE_STREAM, SL_SPLIT_NONE, 1, 1);
	assert_edge(pl, 2, 2, SL_STAGE_CLIENT, SL_EDGE_STREAM, SL_SPLIT_NONE, 1,
		    1);
	CU_ASSERT_EQUAL(pl->n_client_edges, 1);
	CU_ASSERT_EQUAL(pl->client_edges[0], 0);
	CU_ASSERT_EQUAL(pl->stages[0].n_in_edges, 1);
	CU_ASSERT_EQUAL(pl->stages[0].n_out_edges, 1);
	CU_ASSERT_EQUAL(pl->stages[0].out_edges[0], 1);
	CU_ASSERT_EQUAL(pl->stages[1].out_edges[0], 2);
	CU_ASSERT_TRUE(pl->single_output);
	sl_config_free(cfg);
}

/* clang-format off */
static const struct bad_case dag_bad_cases[] = {
	/* flows.buffer_max */
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "flows:\n"
	  "  buffer_max: 0\n",
	  "t.yaml:4: flows.buffer_max: must be 1..65536, got 0" },
	{ "sluiced:\n"
	  "  address: 10.77.0.1\n"
	  "flows: {buffer_max: 65537}\n",
	  "t.yaml:3: flows.buffer_max: must be 1..65536, got 65537" },
	/* Stage kinds. */
	{ P_HEAD
	  "      - {name: t, operator: median, aggregation: 1}\n",
	  "t.yaml:7: pipelines[0].stages[0].operator: must be count, sum, topk or concat, got \"median\"" },
	{ P_HEAD
	  "      - {name: t, operator: engine, instances: [10.0.0.2:1]}\n",
	  "t.yaml:7: pipelines[0].stages[0].operator: must be count, sum, topk or concat, got \"engine\"" },
	{ P_HEAD
	  "      - name: t\n"
	  "        operator: sum\n"
	  "        aggregation: 1\n"
	  "        instances: [10.0.0.2:1]\n",
	  "t.yaml:10: pipelines[0].stages[0].instances: only for engine stages, not operator sum" },
	{ P_HEAD
	  "      - {name: t, operator: count, aggregation: 0}\n",
	  "t.yaml:7: pipelines[0].stages[0].aggregation: must be 1..6 for operator count, got 0" },
	{ P_HEAD
	  "      - {name: t, operator: concat}\n",
	  "t.yaml:7: pipelines[0].stages[0].aggregation: required for operator concat (1..6)" },
	{ P_HEAD
	  "      - {name: t, operator: topk, aggregation: 1}\n",
	  "t.yaml:7: pipelines[0].stages[0].k: required for operator topk" },
	{ P_HEAD
	  "      - {name: t, operator: topk, aggregation: 1, k: 65}\n",
	  "t.yaml:7: pipelines[0].stages[0].k: must be 1..64, got 65" },
	{ P_HEAD
	  "      - {name: t, operator: topk, aggregation: 1, k: 0}\n",
	  "t.yaml:7: pipelines[0].stages[0].k: must be 1..64, got 0" },
	{ P_HEAD
	  "      - {name: t, operator: sum, aggregation: 1, k: 3}\n",
	  "t.yaml:7: pipelines[0].stages[0].k: only for operator topk, not operator sum" },
	{ P_HEAD
	  "      - name: a\n"
	  "        k: 5\n"
	  "        instances: [10.0.0.2:1]\n",
	  "t.yaml:8: pipelines[0].stages[0].k: only for operator topk, not an engine stage" },
	{ P_HEAD
	  "      - {name: a, max_groups: 10, instances: [10.0.0.2:1]}\n",
	  "t.yaml:7: pipelines[0].stages[0].max_groups: only for operator stages, not an engine stage" },
	{ P_HEAD
	  "      - {name: a, max_group_bytes: 1024, instances: [10.0.0.2:1]}\n",
	  "t.yaml:7: pipelines[0].stages[0].max_group_bytes: only for operator stages, not an engine stage" },
	{ P_HEAD
	  "      - {name: t, operator: sum, aggregation: 1, max_groups: 0}\n",
	  "t.yaml:7: pipelines[0].stages[0].max_groups: must be 1..1048576, got 0" },
	{ P_HEAD
	  "      - {name: t, operator: sum, aggregation: 1, max_groups: 1048577}\n",
	  "t.yaml:7: pipelines[0].stages[0].max_groups: must be 1..1048576, got 1048577" },
	{ P_HEAD
	  "      - {name: t, operator: sum, aggregation: 1, max_group_bytes: 255}\n",
	  "t.yaml:7: pipelines[0].stages[0].max_group_bytes: must be 256..16777216, got 255" },
	{ P_HEAD
	  "      - {name: t, operator: sum, aggregation: 1, balance: round_robin}\n",
	  "t.yaml:7: pipelines[0].stages[0].balance: only for engine stages, not operator sum" },
	/* load_bound */
	{ P_HEAD
	  "      - {name: a, aggregation: 1, load_bound: 0.5, instances: [10.0.0.2:1]}\n",
	  "t.yaml:7: pipelines[0].stages[0].load_bound: must be 0 (off) or 1.0..16.0, got 0.5" },
	{ P_HEAD
	  "      - {name: a, aggregation: 1, load_bound: 16.01, instances: [10.0.0.2:1]}\n",
	  "t.yaml:7: pipelines[0].stages[0].load_bound: must be 0 (off) or 1.0..16.0, got 16.01" },
	{ P_HEAD
	  "      - {name: a, aggregation: 1, load_bound: -1.5, instances: [10.0.0.2:1]}\n",
	  "t.yaml:7: pipelines[0].stages[0].load_bound: must be 0 (off) or a decimal 1.0..16.0, got \"-1.5\"" },
	{ P_HEAD
	  "      - {name: a, aggregation: 1, load_bound: 1e1, instances: [10.0.0.2:1]}\n",
	  "t.yaml:7: pipelines[0].stages[0].load_bound: must be 0 (off) or a decimal 1.0..16.0, got \"1e1\"" },
	{ P_HEAD
	  "      - {name: a, aggregation: 1, load_bound: 1., instances: [10.0.0.2:1]}\n",
	  "t.yaml:7: pipelines[0].stages[0].load_bound: must be 0 (off) or a decimal 1.0..16.0, got \"1.\"" },
	{ P_HEAD
	  "      - {name: a, aggregation: 1, load_bound: 01.5, instances: [10.0.0.2:1]}\n",
	  "t.yaml:7: pipelines[0].stages[0].load_bound: must be 0 (off) or a decimal 1.0..16.0, got \"01.5\"" },
	{ P_HEAD
	  "      - {name: a, aggregation: 1, load_bound: [2], instances: [10.0.0.2:1]}\n",
	  "t.yaml:7: pipelines[0].stages[0].load_bound: must be 0 (off) or a decimal 1.0..16.0, got a list" },
	{ P_HEAD
	  "      - {name: t, operator: count, aggregation: 1, load_bound: 2}\n",
	  "t.yaml:7: pipelines[0].stages[0].load_bound: only for engine stages, not operator count" },
	{ P_HEAD
	  "      - name: a\n"
	  "        load_bound: 1.25\n"
	  "        instances: [10.0.0.2:1]\n",
	  "t.yaml:8: pipelines[0].stages[0].load_bound: only with aggregation 1..6, this stage has aggregation 0" },
	/* Cluster nodes. */
	{ "sluiced: {address: 10.77.0.1}\nnodes: [{name: n1, address: 10.0.0.9}, {name: n1, address: 10.0.0.8}]\n"
	  "pipelines: [{name: p, id: 1, stages: [{name: a, instances: [10.0.0.2:1]}]}]\n",
	  "t.yaml:2: nodes[1].name: duplicate node \"n1\"" },
	{ "sluiced: {address: 10.77.0.1}\nnodes: [{name: n1, address: 10.0.0.9}, {name: n2, address: 10.0.0.9}]\n"
	  "pipelines: [{name: p, id: 1, stages: [{name: a, instances: [10.0.0.2:1]}]}]\n",
	  "t.yaml:2: nodes[1].address: the same address and port as node \"n1\"" },
	{ "sluiced: {address: 10.77.0.1}\nnodes: [{name: n1, address: 224.0.0.1}]\n"
	  "pipelines: [{name: p, id: 1, stages: [{name: a, instances: [10.0.0.2:1]}]}]\n",
	  "t.yaml:2: nodes[0].address: must be a unicast IPv4 address, got \"224.0.0.1\"" },
	{ "sluiced: {address: 10.77.0.1}\nnodes: [{address: 10.0.0.9}]\n"
	  "pipelines: [{name: p, id: 1, stages: [{name: a, instances: [10.0.0.2:1]}]}]\n",
	  "t.yaml:2: nodes[0].name: required field missing" },
	{ "sluiced: {address: 10.77.0.1}\nnodes: [{name: n1, address: 10.0.0.9}]\n"
	  "pipelines: [{name: p, id: 1, stages: [{name: a, instances: [{address: 10.0.0.2:1, node: n2}]}]}]\n",
	  "t.yaml:3: pipelines[0].stages[0].instances[0].node: no node \"n2\" in nodes:" },
	/* Local GPU instances. */
	{ P_HEAD
	  "      - {name: a, instances: [{address: \"10.0.0.2:1\", gpu: yes}]}\n",
	  "t.yaml:7: pipelines[0].stages[0].instances[0].gpu: must be true or false, got \"yes\"" },
	{ P_HEAD
	  "      - {name: a, aggregation: 1, instances: [10.0.0.2:1, {address: \"10.0.0.3:1\", gpu: true}]}\n",
	  "t.yaml:7: pipelines[0].stages[0].instances[1].gpu: a local GPU instance cannot serve a stage with aggregation 1: its token ring does not carry the children counts aggregation needs" },
	/* Edge syntax. */
	{ P_HEAD S_AB
	  "    edges: []\n",
	  "t.yaml:9: pipelines[0].edges: must have at least 1 item" },
	{ P_HEAD S_AB
	  "    edges: {from: client}\n",
	  "t.yaml:9: pipelines[0].edges: must be a list, got a mapping" },
	{ P_HEAD S_AB
	  "    edges:\n"
	  "      - {from: client, to: a, weight: 2}\n",
	  "t.yaml:10: pipelines[0].edges[0].weight: unknown key" },
	{ P_HEAD S_AB
	  "    edges:\n"
	  "      - {from: client}\n",
	  "t.yaml:10: pipelines[0].edges[0].to: required field missing" },
	{ P_HEAD S_AB
	  "    edges:\n"
	  "      - {to: a}\n",
	  "t.yaml:10: pipelines[0].edges[0].from: required field missing" },
	{ P_HEAD S_AB
	  "    edges:\n"
	  "      - {from: [client], to: a}\n",
	  "t.yaml:10: pipelines[0].edges[0].from: must be a scalar, got a list" },
	{ P_HEAD S_AB
	  "    edges:\n"
	  "      - {from: client, to: a}\n"
	  "      - {from: a, to: bb}\n",
	  "t.yaml:11: pipelines[0].edges[1].to: no stage named \"bb\" (a stage's name or client)" },
	{ P_HEAD S_AB
	  "    edges:\n"
	  "      - {from: Client, to: a}\n",
	  "t.yaml:10: pipelines[0].edges[0].from: no stage named \"Client\" (a stage's name or client)" },
	{ P_HEAD S_AB
	  "    edges:\n"
	  "      - {from: client, to: a}\n"
	  "      - from: a\n"
	  "        to: a\n",
	  "t.yaml:12: pipelines[0].edges[1].to: edge from \"a\" to itself" },
	{ P_HEAD S_AB
	  "    edges:\n"
	  "      - {from: client, to: client}\n",
	  "t.yaml:10: pipelines[0].edges[0].to: an edge from client to client passes no stage" },
	{ P_HEAD S_AB
	  "    edges:\n"
	  "      - {from: client, to: a}\n"
	  "      - {from: a, to: client}\n"
	  "      - {from: client, to: a, mode: buffer}\n",
	  "t.yaml:12: pipelines[0].edges[2]: duplicate edge client -> a (first at line 10)" },
	{ P_HEAD S_AB
	  "    edges:\n"
	  "      - {from: client, to: a, mode: fast}\n",
	  "t.yaml:10: pipelines[0].edges[0].mode: must be stream or buffer, got \"fast\"" },
	{ P_HEAD S_AB
	  "    edges:\n"
	  "      - {from: client, to: a, split: word}\n",
	  "t.yaml:10: pipelines[0].edges[0].split: must be none, line, sentence or regex, got \"word\"" },
	{ P_HEAD S_AB
	  "    edges:\n"
	  "      - {from: client, to: a, stream_children: true}\n",
	  "t.yaml:10: pipelines[0].edges[0].stream_children: only for split edges (split: line, sentence or regex)" },
	{ P_HEAD S_AB
	  "    edges:\n"
	  "      - {from: client, to: a, split: none, stream_children: false}\n",
	  "t.yaml:10: pipelines[0].edges[0].stream_children: only for split edges (split: line, sentence or regex)" },
	{ P_HEAD S_AB
	  "    edges:\n"
	  "      - {from: client, to: a, split: line, stream_children: yes}\n",
	  "t.yaml:10: pipelines[0].edges[0].stream_children: must be true or false, got \"yes\"" },
	{ P_HEAD S_AB
	  "    edges:\n"
	  "      - {from: client, to: a, pattern: \"x\"}\n",
	  "t.yaml:10: pipelines[0].edges[0].pattern: only with split: regex, this edge does not split" },
	{ P_HEAD S_AB
	  "    edges:\n"
	  "      - {from: client, to: a, split: line, pattern: \"x\"}\n",
	  "t.yaml:10: pipelines[0].edges[0].pattern: only with split: regex, split: line has its own" },
	{ P_HEAD S_AB
	  "    edges:\n"
	  "      - {from: client, to: a}\n"
	  "      - {from: a, to: client, split: regex}\n",
	  "t.yaml:11: pipelines[0].edges[1].pattern: required with split: regex" },
	{ P_HEAD S_AB
	  "    edges:\n"
	  "      - {from: client, to: a, split: line}\n"
	  "      - from: a\n"
	  "        to: client\n"
	  "        split: regex\n"
	  "        pattern: \"(\"\n",
	  "t.yaml:14: pipelines[0].edges[1].pattern: does not compile: Missing close parenthesis for group started at index 0." },
	{ P_HEAD S_AB
	  "    edges:\n"
	  "      - {from: client, to: a, split: regex, pattern: \"x*\"}\n",
	  "t.yaml:10: pipelines[0].edges[0].pattern: does not compile: Pattern matches empty buffer; use HS_FLAG_ALLOWEMPTY to enable support." },
	{ P_HEAD S_AB
	  "    edges:\n"
	  "      - {from: client, to: a, split: regex, pattern: '(a)\\1'}\n",
	  "t.yaml:10: pipelines[0].edges[0].pattern: does not compile: Back-references are unsupported." },
	{ P_HEAD S_AB
	  "    edges:\n"
	  "      - {from: client, to: a, split: regex, pattern: \"\"}\n",
	  "t.yaml:10: pipelines[0].edges[0].pattern: must not be empty" },
	{ P_HEAD S_AB
	  "    edges:\n"
	  "      - {from: client, to: a, split: regex, pattern: \"a\\0b\"}\n",
	  "t.yaml:10: pipelines[0].edges[0].pattern: must not contain a NUL byte" },
	{ P_HEAD S_AB
	  "    edges:\n"
	  "      - {from: client, to: a, split: regex, pattern: [a]}\n",
	  "t.yaml:10: pipelines[0].edges[0].pattern: must be a scalar, got a list" },
	{ P_HEAD
	  "      - {name: client, instances: [10.0.0.2:1]}\n"
	  "    edges:\n"
	  "      - {from: client, to: client}\n",
	  "t.yaml:7: pipelines[0].stages[0].name: \"client\" is the client in edges, not a stage name" },
	/* Out edges: four per stage and for the client. */
	{ P_HEAD S_ABC
	  "      - {name: d, instances: [10.0.0.5:1]}\n"
	  "      - {name: e, instances: [10.0.0.6:1]}\n"
	  "    edges:\n"
	  "      - {from: client, to: a}\n"
	  "      - {from: client, to: b}\n"
	  "      - {from: client, to: c}\n"
	  "      - {from: client, to: d}\n"
	  "      - {from: client, to: e}\n",
	  "t.yaml:17: pipelines[0].edges[4].from: at most 4 edges may leave client" },
	{ P_HEAD S_ABC
	  "      - {name: d, instances: [10.0.0.5:1]}\n"
	  "      - {name: e, instances: [10.0.0.6:1]}\n"
	  "      - {name: s, instances: [10.0.0.7:1]}\n"
	  "    edges:\n"
	  "      - {from: client, to: s}\n"
	  "      - {from: s, to: a}\n"
	  "      - {from: s, to: b, split: line}\n"
	  "      - {from: s, to: c}\n"
	  "      - {from: s, to: d}\n"
	  "      - {from: s, to: e}\n",
	  "t.yaml:19: pipelines[0].edges[5].from: at most 4 edges may leave \"s\"" },
	/* The graph. */
	{ P_HEAD S_AB
	  "    edges:\n"
	  "      - {from: a, to: b}\n"
	  "      - {from: b, to: client}\n",
	  "t.yaml:9: pipelines[0].edges: no edge from client" },
	{ P_HEAD S_AB
	  "    edges:\n"
	  "      - {from: client, to: a}\n"
	  "      - {from: a, to: b}\n",
	  "t.yaml:9: pipelines[0].edges: no edge to client" },
	{ P_HEAD S_ABC
	  "    edges:\n"
	  "      - {from: client, to: a}\n"
	  "      - {from: a, to: b, split: line}\n"
	  "      - {from: b, to: c}\n"
	  "      - {from: c, to: b}\n"
	  "      - {from: c, to: client}\n",
	  "t.yaml:14: pipelines[0].edges[3]: cycle through stage \"b\": b -> c -> b" },
	{ P_HEAD S_ABC
	  "    edges:\n"
	  "      - {from: client, to: c}\n"
	  "      - {from: c, to: b}\n"
	  "      - {from: b, to: a}\n"
	  "      - {from: a, to: c}\n"
	  "      - {from: b, to: client}\n",
	  "t.yaml:13: pipelines[0].edges[2]: cycle through stage \"a\": a -> c -> b -> a" },
	{ P_HEAD S_AB
	  "    edges:\n"
	  "      - {from: client, to: a}\n"
	  "      - {from: a, to: client}\n"
	  "      - {from: b, to: client}\n",
	  "t.yaml:9: pipelines[0].edges: stage \"b\" cannot be reached from client" },
	{ P_HEAD S_ABC
	  "    edges:\n"
	  "      - {from: client, to: a}\n"
	  "      - {from: a, to: client}\n"
	  "      - {from: client, to: b}\n"
	  "      - {from: b, to: c}\n",
	  "t.yaml:10: pipelines[0].edges: stage \"b\" has no way out to client" },
	{ P_HEAD S_ABC
	  "    edges:\n"
	  "      - {from: client, to: a}\n"
	  "      - {from: a, to: b, split: line}\n"
	  "      - {from: a, to: c}\n"
	  "      - {from: b, to: c}\n"
	  "      - {from: c, to: client}\n",
	  "t.yaml:14: pipelines[0].edges[3]: edges into \"c\" disagree on depth: 2 here, 1 from edges[2] (line 13)" },
	{ P_HEAD
	  "      - name: a\n"
	  "        aggregation: 2\n"
	  "        instances: [10.0.0.2:1]\n"
	  "    edges:\n"
	  "      - {from: client, to: a}\n"
	  "      - {from: a, to: client}\n",
	  "t.yaml:8: pipelines[0].stages[0].aggregation: must be 0..1 for a stage receiving depth 1 streams, got 2" },
	{ P_HEAD
	  "      - {name: a, instances: [10.0.0.2:1]}\n"
	  "      - {name: t, operator: count, aggregation: 3}\n"
	  "    edges:\n"
	  "      - {from: client, to: a, split: sentence}\n"
	  "      - {from: a, to: t}\n"
	  "      - {from: t, to: client}\n",
	  "t.yaml:8: pipelines[0].stages[1].aggregation: must be 1..2 for a stage receiving depth 2 streams, got 3" },
	{ P_HEAD S_ABC
	  "      - {name: d, instances: [10.0.0.5:1]}\n"
	  "      - {name: e, instances: [10.0.0.6:1]}\n"
	  "      - {name: f, instances: [10.0.0.7:1]}\n"
	  "    edges:\n"
	  "      - {from: client, to: a, split: line}\n"
	  "      - {from: a, to: b, split: line}\n"
	  "      - {from: b, to: c, split: line}\n"
	  "      - {from: c, to: d, split: line}\n"
	  "      - {from: d, to: e, split: line}\n"
	  "      - from: e\n"
	  "        to: f\n"
	  "        split: sentence\n"
	  "      - {from: f, to: client}\n",
	  "t.yaml:21: pipelines[0].edges[5].split: splitting depth 6 streams needs depth 7, at most 6" },
	/* A later pipeline fails after an earlier one compiled splitters. */
	{ P_HEAD S_AB
	  "    edges:\n"
	  "      - {from: client, to: a, split: line}\n"
	  "      - {from: a, to: b, split: sentence}\n"
	  "      - {from: b, to: client, split: regex, pattern: \"x\"}\n"
	  "  - {name: p, id: 2, stages: [{name: s, instances: [10.0.0.2:1]}]}\n",
	  "t.yaml:13: pipelines[1].name: duplicate pipeline name \"p\" (first at line 4)" },
};
/* clang-format on */

static void
run_bad(const struct bad_case *cases, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		char err[512] = "";
		struct sl_config *cfg = parse(cases[i].yaml, err, sizeof(err));

		CU_ASSERT_PTR_NULL(cfg);
		CU_ASSERT_STRING_EQUAL(err, cases[i].err);
		if (strcmp(err, cases[i].err))
			fprintf(stderr, "\ncase %u\n  want: %s\n  got:  %s\n",
				i, cases[i].err, err);
		sl_config_free(cfg);
	}
}

static void
test_dag_bad(void)
{
	run_bad(dag_bad_cases,
		sizeof(dag_bad_cases) / sizeof(dag_bad_cases[0]));
}

/* ---------------------------------------------------------- guards */

/* Lines 1-9; pipelines start at line 10. */
#define GUARDS_HEAD                                                            \
	"sluiced: {address: 10.0.0.1}\n"                                       \
	"guards:\n"                                                            \
	"  - {name: forget, action: redact, literals: [Hsiao Yun-Hwa]}\n"      \
	"  - {name: stop, literals: [Hsiao Yun-Hwa]}\n"                        \
	"  - {name: hint, prefix: \"Do not name private persons.\"}\n"         \
	"  - {name: audit, action: log, literals: [Hsiao Yun-Hwa]}\n"          \
	"  - name: both\n"                                                     \
	"    prefix: \"Be careful.\"\n"                                        \
	"    literals: [Hsiao Yun-Hwa]\n"

/* A two-stage DAG, guard: required, with @a and @b the guard settings
 * (", guard: NAME" or "") of the edges answer -> client (line 19) and
 * check -> client (line 20). */
static const char guard_dag[] =
	GUARDS_HEAD "pipelines:\n"                                      /* 10 */
		    "  - name: p\n"                                     /* 11 */
		    "    id: 1\n"                                       /* 12 */
		    "    guard: required\n"                             /* 13 */
		    "    stages:\n"                                     /* 14 */
		    "      - {name: answer, instances: [10.0.0.2:1]}\n" /* 15 */
		    "      - {name: check, instances: [10.0.0.3:1]}\n"  /* 16 */
		    "    edges:\n"                                      /* 17 */
		    "      - {from: client, to: answer, guard: hint}\n" /* 18 */
		    "      - {from: answer, to: client%s}\n"            /* 19 */
		    "      - {from: answer, to: check}\n"               /* 20 */
		    "      - {from: check, to: client%s}\n";            /* 21 */

static struct sl_config *
guard_dag_parse(const char *a, const char *b, char *err, size_t errlen)
{
	static char yaml[4096];

	snprintf(yaml, sizeof(yaml), guard_dag, a, b);
	return parse(yaml, err, errlen);
}

/*
 * guard: required: every edge back to the client carries a guard that
 * blocks or redacts. Accepted with both edges to the client filtered
 * (block, redact, a guard with a prefix and rules); refused, naming the
 * edge, with an edge unguarded, guarded only on the request (the path
 * passes a guard, the last hop does not), with a prefix-only or a log
 * guard, and in a chain (no edges, so no guards); runtime edits cannot
 * take the last rule from such a guard.
 */
static void
test_guard_required(void)
{
	static const struct {
		const char *a, *b, *err;
	} bad[] = {
		{", guard: forget", "",
		 "t.yaml:21: pipelines[0].edges[3].guard: missing: check -> "
		 "client returns to the client unfiltered, and the pipeline "
		 "says guard: required (line 13)"},
		{"", ", guard: stop",
		 "t.yaml:19: pipelines[0].edges[1].guard: missing: answer -> "
		 "client returns to the client unfiltered, and the pipeline "
		 "says guard: required (line 13)"},
		{", guard: hint", ", guard: stop",
		 "t.yaml:19: pipelines[0].edges[1].guard: guard \"hint\" has "
		 "no rules (a prefix only): answer -> client returns to the "
		 "client unfiltered, and the pipeline says guard: required "
		 "(line 13)"},
		{", guard: forget", ", guard: audit",
		 "t.yaml:21: pipelines[0].edges[3].guard: guard \"audit\" only "
		 "logs (action: log): check -> client returns to the client "
		 "unfiltered, and the pipeline says guard: required (line "
		 "13)"},
	};
	char err[512] = "";
	struct sl_config *cfg;

	/* Accepted: both edges to the client filtered. */
	cfg = guard_dag_parse(", guard: forget", ", guard: both", err,
			      sizeof(err));
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT(cfg->pipelines[0].guard_required);
	CU_ASSERT_EQUAL(cfg->pipelines[0].edges[1].guard, 1);
	CU_ASSERT_EQUAL(cfg->pipelines[0].edges[3].guard, 5);
	/* The last rule of a required guard stays; of others it may go. */
	CU_ASSERT_EQUAL(sl_config_guard_edit(cfg, "both", true, false,
					     "Hsiao Yun-Hwa", err, sizeof(err)),
			-EINVAL);
	CU_ASSERT_STRING_EQUAL(err,
			       "pattern: the last rule of guard both, which "
			       "pipeline p requires on check -> client "
			       "(guard: required)");
	CU_ASSERT_PTR_NOT_NULL(cfg->guards[4].ref);
	CU_ASSERT_EQUAL(sl_config_guard_edit(cfg, "both", false, false,
					     "Ji-Yeon Park", err, sizeof(err)),
			0);
	CU_ASSERT_EQUAL(sl_config_guard_edit(cfg, "both", true, false,
					     "Hsiao Yun-Hwa", err, sizeof(err)),
			0);
	CU_ASSERT_EQUAL(cfg->guards[4].n_rules, 1);
	sl_config_free(cfg);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		cfg = guard_dag_parse(bad[i].a, bad[i].b, err, sizeof(err));
		CU_ASSERT_PTR_NULL(cfg);
		CU_ASSERT_STRING_EQUAL(err, bad[i].err);
		if (strcmp(err, bad[i].err) != 0)
			fprintf(stderr, "\ncase %zu\n  want: %s\n  got:  %s\n",
				i, bad[i].err, err);
		sl_config_free(cfg);
	}

	/* Optional (the default): the same unguarded DAG is fine, and so
	 * is removing a guard's last rule when it keeps a prefix. */
	{
		static char yaml[4096];
		char *at;

		snprintf(yaml, sizeof(yaml), guard_dag, "", ", guard: both");
		at = strstr(yaml, "    guard: required\n");
		CU_ASSERT_PTR_NOT_NULL_FATAL(at);
		memcpy(at, "    guard: optional\n", 20);
		cfg = parse(yaml, err, sizeof(err));
		CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
		CU_ASSERT(!cfg->pipelines[0].guard_required);
		CU_ASSERT_EQUAL(sl_config_guard_edit(cfg, "both", true, false,
						     "Hsiao Yun-Hwa", err,
						     sizeof(err)),
				0);
		CU_ASSERT_PTR_NULL(cfg->guards[4].ref);
		sl_config_free(cfg);
	}

	/* A chain has no edges to put guards on; a bad value. */
	cfg = parse(GUARDS_HEAD
		    "pipelines:\n"
		    "  - name: p\n"
		    "    id: 1\n"
		    "    guard: required\n"
		    "    stages:\n"
		    "      - {name: answer, instances: [10.0.0.2:1]}\n",
		    err, sizeof(err));
	CU_ASSERT_PTR_NULL(cfg);
	CU_ASSERT_STRING_EQUAL(err,
			       "t.yaml:13: pipelines[0].guard: required, but a "
			       "pipeline without edges: has no guards: stage "
			       "\"answer\" returns to the client unfiltered");
	sl_config_free(cfg);
	cfg = parse(GUARDS_HEAD
		    "pipelines:\n"
		    "  - name: p\n"
		    "    id: 1\n"
		    "    guard: yes\n"
		    "    stages:\n"
		    "      - {name: answer, instances: [10.0.0.2:1]}\n",
		    err, sizeof(err));
	CU_ASSERT_PTR_NULL(cfg);
	CU_ASSERT_STRING_EQUAL(err, "t.yaml:13: pipelines[0].guard: must be "
				    "optional or required, got \"yes\"");
	sl_config_free(cfg);
}

/* Every instance's uid is its own, and instances_all names each once. */
static void
assert_uids_distinct(const struct sl_config *cfg)
{
	bool seen[SL_MAX_INSTANCE_UIDS] = {false};
	unsigned int n = 0;

	for (unsigned int p = 0; p < cfg->n_pipelines; p++)
		for (unsigned int s = 0; s < cfg->pipelines[p].n_stages; s++)
			n += cfg->pipelines[p].stages[s].n_instances;
	CU_ASSERT_EQUAL(cfg->n_instances_all, n);
	for (unsigned int k = 0; k < cfg->n_instances_all; k++) {
		const struct sl_instance_cfg *in =
			sl_config_instance_at(cfg, &cfg->instances_all[k]);

		CU_ASSERT_FATAL(in->uid < SL_MAX_INSTANCE_UIDS);
		CU_ASSERT_FALSE(seen[in->uid]);
		seen[in->uid] = true;
	}
}

/*
 * Instance uids across edits: an instance added and removed 1,100 times
 * walks the uid counter past SL_MAX_INSTANCE_UIDS; a fresh uid must never
 * be one a live instance holds (draft/0's uid 0, kept all along).
 */
static void
test_uids_wrap(void)
{
	char err[256] = "";
	struct sl_config *cfg = parse(min_yaml, err, sizeof(err));
	struct sl_endpoint ep = {.ip = 10u << 24 | 9u << 8 | 9u, .port = 9000};

	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	assert_uids_distinct(cfg);
	for (unsigned int r = 0; r < 1100; r++) {
		CU_ASSERT_EQUAL_FATAL(
			sl_config_instance_edit(cfg, 'a', "demo", "draft",
						"extra", &ep, err, sizeof(err)),
			0);
		assert_uids_distinct(cfg);
		CU_ASSERT_EQUAL_FATAL(sl_config_instance_edit(
					      cfg, 'r', "demo", "draft",
					      "extra", NULL, err, sizeof(err)),
				      0);
	}
	assert_uids_distinct(cfg);
	sl_config_free(cfg);
}

/* More instances in all than sluiced has slots for: refused, named. */
static void
test_too_many_instances(void)
{
	size_t cap = 1 << 20, len = 0;
	char *yaml = malloc(cap), err[256] = "";
	struct sl_config *cfg;

	CU_ASSERT_PTR_NOT_NULL_FATAL(yaml);
	len += (size_t)snprintf(yaml + len, cap - len,
				"sluiced: {address: 10.0.0.1}\npipelines:\n");
	/* 3 pipelines x 11 stages x 32 instances = 1,056 > 1,024 */
	for (unsigned int p = 0; p < 3; p++) {
		len += (size_t)snprintf(yaml + len, cap - len,
					"  - name: p%u\n    id: %u\n"
					"    stages:\n",
					p, p + 1);
		for (unsigned int s = 0; s < 11; s++) {
			len += (size_t)snprintf(yaml + len, cap - len,
						"      - name: s%u\n"
						"        instances:\n",
						s);
			for (unsigned int i = 0; i < 32; i++)
				len += (size_t)snprintf(
					yaml + len, cap - len,
					"          - 10.%u.%u.%u:7000\n", p + 1,
					s + 1, i + 1);
		}
	}
	CU_ASSERT_FATAL(len < cap);
	cfg = parse(yaml, err, sizeof(err));
	CU_ASSERT_PTR_NULL(cfg);
	CU_ASSERT_STRING_EQUAL(err,
			       "t.yaml: pipelines: more than 1024 instances "
			       "in all");
	sl_config_free(cfg);
	free(yaml);
}

int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		CU_TestFunc fn;
	} tests[] = {
		{"every field", test_full},
		{"defaults", test_defaults},
		{"hardening keys", test_hardening_keys},
		{"prompt templates", test_prompt},
		{"pools and policies", test_pools},
		{"local GPU instances", test_gpu_instances},
		{"default instance name, long stage",
		 test_default_name_long_stage},
		{"rejections", test_bad},
		{"too many items", test_too_many},
		{"error stays one line", test_err_one_line},
		{"load from file, dump", test_load},
		{"IPv4 parse/format", test_ipv4},
		{"DAG: fact-checking fixture, every derived field",
		 test_dag_factcheck},
		{"DAG: dump", test_dag_dump},
		{"DAG: accepted corner cases", test_dag_accepts},
		{"DAG: rejections", test_dag_bad},
		{"DAG: pattern length", test_pattern_length},
		{"guard: required", test_guard_required},
		{"instance uids: distinct across 1,100 edits", test_uids_wrap},
		{"more than 1024 instances refused", test_too_many_instances},
		{"cluster: nodes, node, localize", test_cluster_nodes},
	};
	const char *slash;
	CU_pSuite suite;
	unsigned int i, failures;

	if (argc != 2) {
		fprintf(stderr, "usage: %s config_demo.yaml\n", argv[0]);
		return 1;
	}
	fixture_path = argv[1];
	slash = strrchr(fixture_path, '/');
	snprintf(factcheck_path, sizeof(factcheck_path),
		 "%.*sconfig_factcheck.yaml",
		 slash ? (int)(slash - fixture_path + 1) : 0, fixture_path);
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	suite = CU_add_suite("config", NULL, NULL);
	if (suite == NULL)
		goto fail;
	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
			goto fail;
	CU_basic_set_mode(CU_BRM_VERBOSE);
	if (CU_basic_run_tests() != CUE_SUCCESS)
		goto fail;
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failures == 0 ? 0 : 1;
fail:
	fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
	CU_cleanup_registry();
	return 1;
}
