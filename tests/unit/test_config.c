/* SPDX-License-Identifier: MIT */
/*
 * test_config.c - the pipeline file compiler: a full file with every field,
 * defaults, the exact error line for each kind of mistake, loading from a
 * file, and the IPv4 helpers.
 *
 * argv[1]: path of the fixture config_demo.yaml.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

#include "sl_config.h"

static const char *fixture_path;

static struct sl_config *parse(const char *yaml, char *err, size_t errlen)
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

static void test_full(void)
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

static void test_defaults(void)
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
	CU_ASSERT_EQUAL(cfg->n_client_nets, 0);
	CU_ASSERT_EQUAL(cfg->n_tenants, 0);
	CU_ASSERT_EQUAL(cfg->n_pipelines, 1);
	st = &cfg->pipelines[0].stages[0];
	CU_ASSERT_EQUAL(st->aggregation, 0);
	CU_ASSERT_EQUAL(st->balance, SL_BALANCE_ROUND_ROBIN);
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
	sl_config_free(cfg);
}

static void test_default_name_long_stage(void)
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
	  "t.yaml:8: pipelines[0].stages[0].balance: must be round_robin or least_loaded, got \"random\"" },
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
};
/* clang-format on */

static void test_bad(void)
{
	unsigned int i;

	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		char err[512] = "";
		struct sl_config *cfg =
		    parse(bad_cases[i].yaml, err, sizeof(err));

		CU_ASSERT_PTR_NULL(cfg);
		CU_ASSERT_STRING_EQUAL(err, bad_cases[i].err);
		if (strcmp(err, bad_cases[i].err))
			fprintf(stderr, "\ncase %u\n  want: %s\n  got:  %s\n",
				i, bad_cases[i].err, err);
		sl_config_free(cfg);
	}
}

/* Lists longer than their SL_MAX_* bound. */
static void test_too_many(void)
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
		n +=
		    snprintf(yaml + n, sizeof(yaml) - n,
			     "  - {name: p%u, id: %u, stages: []}\n", i, i + 1);
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
	(void)n;
}

/* A value with a newline or a long value is quoted back on one line. */
static void test_err_one_line(void)
{
	char err[512] = "";
	struct sl_config *cfg;

	cfg =
	    parse("sluiced:\n  address: \"10.0.0.1\\nx\"\n", err, sizeof(err));
	CU_ASSERT_PTR_NULL(cfg);
	CU_ASSERT_STRING_EQUAL(err, "t.yaml:2: sluiced.address: must be a "
				    "unicast IPv4 address, got \"10.0.0.1?x\"");
	cfg = parse(
	    "sluiced:\n  address: "
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	    err, sizeof(err));
	CU_ASSERT_PTR_NULL(cfg);
	CU_ASSERT_STRING_EQUAL(
	    err, "t.yaml:2: sluiced.address: must be a unicast IPv4 address, "
		 "got \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\"");
	/* A short buffer is truncated, never overrun. */
	cfg = parse("sluiced: 1\n", err, 12);
	CU_ASSERT_PTR_NULL(cfg);
	CU_ASSERT_STRING_EQUAL(err, "t.yaml:1: s");
	cfg = parse("sluiced: 1\n", NULL, 0);
	CU_ASSERT_PTR_NULL(cfg);
}

static void test_load(void)
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
	    "sluiced 10.77.0.1:7700 flows 65536 idle 5000 ms reorder 16\n"
	    "client 10.77.0.0/24\n"
	    "tenants any\n"
	    "pipeline demo id 1 stages 2\n"
	    "  stage 1 draft aggregation 0 balance round_robin instances 2\n"
	    "    instance draft/0 10.77.0.11:7801\n"
	    "    instance draft-b 10.77.0.12:7801\n"
	    "  stage 2 verify aggregation 1 balance least_loaded instances 1\n"
	    "    instance verify/0 10.77.0.21:7802\n");
	free(dump);
	sl_config_free(cfg);

	cfg = sl_config_load("/nonexistent/sluice.yaml", err, sizeof(err));
	CU_ASSERT_PTR_NULL(cfg);
	CU_ASSERT_STRING_EQUAL(
	    err,
	    "/nonexistent/sluice.yaml: cannot open: No such file or directory");
}

static void test_ipv4(void)
{
	static const char *const bad[] = {
	    "",		"1",	     "1.2.3",	   "1.2.3.4.5", "1.2.3.256",
	    "01.2.3.4", "1.2.3.4 ",  " 1.2.3.4",   "1..3.4",	"1.2.3.-4",
	    "a.b.c.d",	"1.2.3.4/8", "1000.2.3.4",
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

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		CU_TestFunc fn;
	} tests[] = {
	    {"every field", test_full},
	    {"defaults", test_defaults},
	    {"default instance name, long stage", test_default_name_long_stage},
	    {"rejections", test_bad},
	    {"too many items", test_too_many},
	    {"error stays one line", test_err_one_line},
	    {"load from file, dump", test_load},
	    {"IPv4 parse/format", test_ipv4},
	};
	CU_pSuite suite;
	unsigned int i, failures;

	if (argc != 2) {
		fprintf(stderr, "usage: %s config_demo.yaml\n", argv[0]);
		return 1;
	}
	fixture_path = argv[1];
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
