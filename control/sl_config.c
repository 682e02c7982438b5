/* SPDX-License-Identifier: MIT */
/*
 * sl_config.c - pipeline file (YAML) to struct sl_config.
 *
 * Uses libyaml's document API rather than its event stream: every node
 * keeps its start mark, so each error can name the line it is about, and
 * a missing key can be reported at the line of the mapping that lacks it.
 * The walk is schema-driven and bounded by the SL_MAX_* limits, so anchors
 * and aliases (even cyclic ones) cannot make it loop or blow up.
 *
 * A pipeline's DAG is checked after all its stages and edges are read:
 * cycles, stages cut off from the client, then ancestry depths in
 * topological order (a splitter adds one level; every edge into a stage
 * must bring the same depth; a stage cannot aggregate on more ids than
 * its streams carry). Split patterns are compiled with Hyperscan
 * (streaming mode) while the file is read, so a bad one is reported at its
 * line; the databases belong to the config and sl_config_free frees them.
 *
 * The compiler is five files: this one (the schema: sections, stages,
 * edges, pipelines, the entry points), sl_config_yaml.c (typed values
 * from YAML nodes, errors with FILE:LINE and path), sl_config_dag.c (the
 * graph checks), sl_config_guard.c (guards and their rule sets),
 * sl_snapshot.c (operations on the compiled snapshot: free, dump, clone,
 * uids, edits, layout comparison); sl_config_int.h is what they share.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <hs.h>
#include <yaml.h>

#include "sl_confine.h"
#include "sl_config.h"
#include "sl_config_int.h"
#include "sl_guard.h"

static int
parse_sluiced(struct sl_cfg_ctx *c, const yaml_node_t *node)
{
	static const char *const keys[] = {"address", "port", NULL};
	char path[SL_CFG_PATH_MAX], q[SL_CFG_QUOTE_MAX + 1];
	yaml_node_t *v[2];
	uint32_t port = SL_WIRE_UDP_PORT;

	if (cfg_map_collect(c, node, "sluiced", keys, v))
		return -EINVAL;
	if (v[0] == NULL)
		return cfg_missing(c, node, "sluiced", "address");
	cfg_path_key(path, "sluiced", "address");
	if (cfg_expect_scalar(c, v[0], path))
		return -EINVAL;
	if (sl_ipv4_parse((const char *)v[0]->data.scalar.value,
			  &c->cfg->listen.ip) ||
	    !cfg_ipv4_unicast(c->cfg->listen.ip))
		return cfg_fail(c, v[0], path,
				"must be a unicast IPv4 address, got \"%s\"",
				cfg_quote(v[0], q, sizeof(q)));
	if (cfg_opt_u32(c, v[1], "sluiced", "port", 1, 65535, &port))
		return -EINVAL;
	c->cfg->listen.port = (uint16_t)port;
	return 0;
}

static int
parse_flows(struct sl_cfg_ctx *c, const yaml_node_t *node)
{
	static const char *const keys[] = {"size",           "idle_timeout_ms",
					   "reorder_window", "buffer_max",
					   "client_streams", "source_streams",
					   "tenant_streams", NULL};
	struct sl_config *cfg = c->cfg;
	yaml_node_t *v[7];

	if (node == NULL || cfg_node_is_null(node))
		goto defaults;
	if (cfg_map_collect(c, node, "flows", keys, v) ||
	    cfg_opt_u32(c, v[0], "flows", "size", 64, 4194304,
			&cfg->flow_table_size) ||
	    cfg_opt_u32(c, v[1], "flows", "idle_timeout_ms", 10, 3600000,
			&cfg->flow_idle_ms) ||
	    cfg_opt_u32(c, v[2], "flows", "reorder_window", 1,
			SL_CONFIG_REORDER_MAX, &cfg->reorder_window) ||
	    cfg_opt_u32(c, v[3], "flows", "buffer_max", 1, 65536,
			&cfg->buffer_max) ||
	    cfg_opt_u32(c, v[4], "flows", "client_streams", 1,
			cfg->flow_table_size, &cfg->client_streams))
		return -EINVAL;
	/* Bounded by what the file says of the clients' share. */
	if (cfg_opt_u32(c, v[5], "flows", "source_streams", 1,
			cfg->client_streams ? cfg->client_streams
					    : cfg->flow_table_size / 4,
			&cfg->source_streams) ||
	    cfg_opt_u32(c, v[6], "flows", "tenant_streams", 1,
			cfg->client_streams ? cfg->client_streams
					    : cfg->flow_table_size / 4,
			&cfg->tenant_streams))
		return -EINVAL;
defaults:
	/* The clients' own streams take a quarter of the table at most, one
	 * address a quarter of that, one tenant half: the rest is the engine
	 * outputs' of requests already admitted, which new requests never
	 * starve. */
	if (cfg->client_streams == 0)
		cfg->client_streams = CFG_MAX_U32(cfg->flow_table_size / 4, 1);
	if (cfg->source_streams == 0)
		cfg->source_streams = CFG_MAX_U32(cfg->client_streams / 4, 1);
	/* No one tenant takes more than half of the clients' share. */
	if (cfg->tenant_streams == 0)
		cfg->tenant_streams = CFG_MAX_U32(cfg->client_streams / 2, 1);
	return 0;
}

static int
parse_clients(struct sl_cfg_ctx *c, const yaml_node_t *node)
{
	if (node == NULL)
		return 0;
	return cfg_parse_prefix_list(c, node, "clients", c->cfg->client_nets, 0,
				     SL_MAX_CLIENT_NETS,
				     &c->cfg->n_client_nets);
}

static int
parse_tenant(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	     struct sl_tenant_cfg *t)
{
	static const char *const keys[] = {
		"id",    "max_streams", "fragments_per_s",
		"burst", "sources",     NULL};
	char sub[SL_CFG_PATH_MAX];
	yaml_node_t *v[5];
	uint32_t id;

	if (cfg_map_collect(c, node, path, keys, v))
		return -EINVAL;
	cfg_path_key(sub, path, "sources");
	if (v[4] != NULL &&
	    cfg_parse_prefix_list(c, v[4], sub, t->sources, 1,
				  SL_MAX_TENANT_SOURCES, &t->n_sources))
		return -EINVAL;
	if (v[0] == NULL)
		return cfg_missing(c, node, path, "id");
	if (cfg_opt_u32(c, v[0], path, "id", 0, UINT16_MAX, &id) ||
	    cfg_opt_u32(c, v[1], path, "max_streams", 0, UINT32_MAX,
			&t->max_streams) ||
	    cfg_opt_u32(c, v[2], path, "fragments_per_s", 0, UINT32_MAX,
			&t->fragments_per_s))
		return -EINVAL;
	t->id = (uint16_t)id;
	/* A tenth of a second of traffic; 64 when the rate is unlimited. */
	if (t->fragments_per_s == 0)
		t->burst = 64;
	else
		t->burst =
			t->fragments_per_s / 10 ? t->fragments_per_s / 10 : 1;
	return cfg_opt_u32(c, v[3], path, "burst", 1, UINT32_MAX, &t->burst);
}

static int
parse_tenants(struct sl_cfg_ctx *c, const yaml_node_t *node)
{
	char path[SL_CFG_PATH_MAX];
	unsigned long first_line[SL_MAX_TENANTS];
	unsigned int n, i, j;

	if (node == NULL)
		return 0;
	/* Present but empty would read as "admit nobody", which the
	 * config cannot express: n_tenants == 0 admits everyone. */
	if (cfg_expect_list(c, node, "tenants", 1, SL_MAX_TENANTS, &n))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		yaml_node_t *item = cfg_list_item(c, node, i);
		struct sl_tenant_cfg *t = &c->cfg->tenants[i];

		cfg_path_index(path, "tenants", i);
		if (parse_tenant(c, item, path, t))
			return -EINVAL;
		first_line[i] = cfg_node_line(item);
		for (j = 0; j < i; j++)
			if (c->cfg->tenants[j].id == t->id) {
				char sub[SL_CFG_PATH_MAX];

				cfg_path_key(sub, path, "id");
				return cfg_fail(c, item, sub,
						"duplicate tenant id %u (first "
						"at line %lu)",
						t->id, first_line[j]);
			}
	}
	c->cfg->n_tenants = (uint16_t)n;
	return 0;
}

/* An instance's `node:`, the name of one of `nodes:`. */
static int
parse_instance_node(struct sl_cfg_ctx *c, const yaml_node_t *node,
		    const char *path, struct sl_instance_cfg *inst)
{
	char sub[SL_CFG_PATH_MAX], name[SL_NAME_MAX];

	cfg_path_key(sub, path, "node");
	if (cfg_get_name(c, node, sub, "", name))
		return -EINVAL;
	for (uint8_t k = 0; k < c->cfg->n_nodes; k++)
		if (strcmp(c->cfg->nodes[k].name, name) == 0) {
			inst->node = (uint8_t)(k + 1);
			return 0;
		}
	return cfg_fail(c, node, sub, "no node \"%s\" in nodes:", name);
}

/*
 * `nodes:` (cluster mode): the sluiced nodes of a cluster, each
 * {name, address, port}; port defaults to sluiced.port. Names and
 * endpoints unique.
 */
static int
parse_nodes(struct sl_cfg_ctx *c, const yaml_node_t *node)
{
	static const char *const keys[] = {"name", "address", "port", NULL};
	char path[SL_CFG_PATH_MAX], sub[SL_CFG_PATH_MAX];
	char q[SL_CFG_QUOTE_MAX + 1];
	unsigned int n, i, j;

	if (node == NULL)
		return 0;
	if (cfg_expect_list(c, node, "nodes", 1, SL_MAX_NODES, &n))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		yaml_node_t *item = cfg_list_item(c, node, i);
		struct sl_node_cfg *nd = &c->cfg->nodes[i];
		yaml_node_t *v[3];
		uint32_t port = c->cfg->listen.port;

		cfg_path_index(path, "nodes", i);
		if (cfg_map_collect(c, item, path, keys, v))
			return -EINVAL;
		if (v[0] == NULL)
			return cfg_missing(c, item, path, "name");
		cfg_path_key(sub, path, "name");
		if (cfg_get_name(c, v[0], sub, "", nd->name))
			return -EINVAL;
		if (v[1] == NULL)
			return cfg_missing(c, item, path, "address");
		cfg_path_key(sub, path, "address");
		if (cfg_expect_scalar(c, v[1], sub))
			return -EINVAL;
		if (sl_ipv4_parse((const char *)v[1]->data.scalar.value,
				  &nd->listen.ip) ||
		    !cfg_ipv4_unicast(nd->listen.ip))
			return cfg_fail(c, v[1], sub,
					"must be a unicast IPv4 address, got "
					"\"%s\"",
					cfg_quote(v[1], q, sizeof(q)));
		if (cfg_opt_u32(c, v[2], path, "port", 1, 65535, &port))
			return -EINVAL;
		nd->listen.port = (uint16_t)port;
		for (j = 0; j < i; j++) {
			if (strcmp(c->cfg->nodes[j].name, nd->name) == 0) {
				cfg_path_key(sub, path, "name");
				return cfg_fail(c, v[0], sub,
						"duplicate node \"%s\"",
						nd->name);
			}
			if (c->cfg->nodes[j].listen.ip == nd->listen.ip &&
			    c->cfg->nodes[j].listen.port == nd->listen.port)
				return cfg_fail(c, v[1], sub,
						"the same address and port as "
						"node \"%s\"",
						c->cfg->nodes[j].name);
		}
		c->cfg->n_nodes = (uint8_t)(i + 1);
	}
	return 0;
}

static int
parse_instance(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	       const char *owner, unsigned int idx,
	       struct sl_instance_cfg *inst)
{
	static const char *const keys[] = {"name", "address", "gpu", "node",
					   NULL};
	char sub[SL_CFG_PATH_MAX], idxs[12];
	yaml_node_t *v[4];
	size_t ilen, slen;

	ilen = (size_t)snprintf(idxs, sizeof(idxs), "/%u", idx);
	/* Cut a long stage name rather than the index: the index is what
	 * keeps default names unique within the stage. */
	slen = strlen(owner);
	if (slen > SL_NAME_MAX - 1 - ilen)
		slen = SL_NAME_MAX - 1 - ilen;
	memcpy(inst->name, owner, slen);
	memcpy(inst->name + slen, idxs, ilen + 1);

	if (node->type == YAML_SCALAR_NODE)
		return cfg_get_endpoint(c, node, path, &inst->ep);
	if (node->type != YAML_MAPPING_NODE)
		return cfg_fail(c, node, path,
				"must be \"IP:PORT\" or a mapping {name, "
				"address, gpu, node}, got %s",
				cfg_node_kind(node));
	if (cfg_map_collect(c, node, path, keys, v))
		return -EINVAL;
	if (v[0] != NULL) {
		cfg_path_key(sub, path, "name");
		if (cfg_get_name(c, v[0], sub, "/", inst->name))
			return -EINVAL;
	}
	if (v[2] != NULL) {
		cfg_path_key(sub, path, "gpu");
		if (cfg_get_bool(c, v[2], sub, &inst->gpu))
			return -EINVAL;
	}
	if (v[3] != NULL && parse_instance_node(c, v[3], path, inst))
		return -EINVAL;
	if (v[1] == NULL)
		return cfg_missing(c, node, path, "address");
	cfg_path_key(sub, path, "address");
	return cfg_get_endpoint(c, v[1], sub, &inst->ep);
}

/* The `instances:` list under @parent: a stage's or a pool's (@owner
 * names the defaults "<owner>/<i>"); their count in @n_out. */
static int
parse_instances(struct sl_cfg_ctx *c, const yaml_node_t *node,
		const char *parent, const char *owner,
		struct sl_instance_cfg *instances, uint16_t *n_out)
{
	char list_path[SL_CFG_PATH_MAX], path[SL_CFG_PATH_MAX];
	char a[16];
	unsigned long first_line[SL_MAX_INSTANCES];
	const struct sl_endpoint *self = &c->cfg->listen;
	unsigned int n, i, j;

	cfg_path_key(list_path, parent, "instances");
	if (cfg_expect_list(c, node, list_path, 1, SL_MAX_INSTANCES, &n))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		yaml_node_t *item = cfg_list_item(c, node, i);
		struct sl_instance_cfg *inst = &instances[i];

		cfg_path_index(path, list_path, i);
		if (parse_instance(c, item, path, owner, i, inst))
			return -EINVAL;
		first_line[i] = cfg_node_line(item);
		if (inst->ep.ip == self->ip && inst->ep.port == self->port)
			return cfg_fail(
				c, item, path,
				"endpoint %s:%u is sluiced's own address",
				sl_ipv4_format(inst->ep.ip, a, sizeof(a)),
				inst->ep.port);
		for (j = 0; j < i; j++) {
			const struct sl_instance_cfg *o = &instances[j];

			if (o->ep.ip == inst->ep.ip &&
			    o->ep.port == inst->ep.port)
				return cfg_fail(c, item, path,
						"duplicate endpoint %s:%u "
						"(first at line "
						"%lu)",
						sl_ipv4_format(inst->ep.ip, a,
							       sizeof(a)),
						inst->ep.port, first_line[j]);
			if (!strcmp(o->name, inst->name))
				return cfg_fail(c, item, path,
						"duplicate instance name "
						"\"%s\" (first at line %lu)",
						inst->name, first_line[j]);
		}
	}
	*n_out = (uint16_t)n;
	return 0;
}

/*
 * load_bound: 0 (off) or a plain decimal 1.0..16.0. Same spelling rules
 * as the integers (no sign, exponent or leading zero) so that what the
 * file says is what every reader of it sees.
 */
static int
get_load_bound(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	       double *out)
{
	char q[SL_CFG_QUOTE_MAX + 1];
	const char *s, *p;
	double v;
	bool ok;

	if (node->type != YAML_SCALAR_NODE)
		return cfg_fail(c, node, path,
				"must be 0 (off) or a decimal 1.0..16.0, got "
				"%s",
				cfg_node_kind(node));
	s = (const char *)node->data.scalar.value;
	for (p = s; *p >= '0' && *p <= '9'; p++)
		;
	ok = p > s && !(s[0] == '0' && p - s > 1);
	if (ok && *p == '.') {
		const char *frac = ++p;

		while (*p >= '0' && *p <= '9')
			p++;
		ok = p > frac;
	}
	if (!ok || *p != '\0')
		return cfg_fail(c, node, path,
				"must be 0 (off) or a decimal 1.0..16.0, got "
				"\"%s\"",
				cfg_quote(node, q, sizeof(q)));
	v = strtod(s, NULL);
	if (v != 0.0 && !(v >= 1.0 && v <= 16.0))
		return cfg_fail(c, node, path,
				"must be 0 (off) or 1.0..16.0, got %s",
				cfg_quote(node, q, sizeof(q)));
	*out = v;
	return 0;
}

/*
 * An engine stage's prompt template: what a bridge (sluice-bridge
 * --config) sends its model for each input stream, "{input}" standing
 * for the stream's text. 1..SL_PROMPT_MAX bytes (libyaml has checked
 * the UTF-8), with at least one "{input}": a prompt without its input
 * would ask every request the same question.
 */
static int
parse_prompt(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	     struct sl_stage_cfg *st)
{
	char sub[SL_CFG_PATH_MAX];
	const char *s;
	size_t n;

	cfg_path_key(sub, path, "prompt");
	if (cfg_expect_scalar(c, node, sub))
		return -EINVAL;
	s = (const char *)node->data.scalar.value;
	n = node->data.scalar.length;
	if (n == 0 || n > SL_PROMPT_MAX)
		return cfg_fail(c, node, sub, "must be 1..%u bytes, got %zu",
				SL_PROMPT_MAX, n);
	if (memchr(s, '\0', n) != NULL)
		return cfg_fail(c, node, sub, "must not hold a NUL character");
	if (strstr(s, "{input}") == NULL)
		return cfg_fail(c, node, sub,
				"must hold {input}, where the stream's text "
				"goes");
	st->prompt = strndup(s, n);
	if (st->prompt == NULL)
		return cfg_fail(c, node, sub, "out of memory");
	return 0;
}

/* A policy's name (`policy:`, or a stage's older `balance:`). */
static int
get_policy(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	   enum sl_balance *out)
{
	char q[SL_CFG_QUOTE_MAX + 1];
	enum sl_balance b;

	if (cfg_expect_scalar(c, node, path))
		return -EINVAL;
	b = sl_balance_parse((const char *)node->data.scalar.value);
	if (b == SL_BALANCE_MAX)
		return cfg_fail(c, node, path,
				"must be round_robin, least_loaded (or "
				"least_outstanding), hash_request or "
				"prompt_aware, got \"%s\"",
				cfg_quote(node, q, sizeof(q)));
	*out = b;
	return 0;
}

/* Operator keys: v[] as collected by parse_stage. */
static int
parse_operator(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	       struct sl_stage_cfg *st, yaml_node_t **v)
{
	char sub[SL_CFG_PATH_MAX];

	if (cfg_only_for(c, v[2], path, "balance", "engine stages", st->kind) ||
	    cfg_only_for(c, v[3], path, "instances", "engine stages",
			 st->kind) ||
	    cfg_only_for(c, v[11], path, "pool", "engine stages", st->kind) ||
	    cfg_only_for(c, v[12], path, "policy", "engine stages", st->kind) ||
	    cfg_only_for(c, v[13], path, "cost_ms", "engine stages",
			 st->kind) ||
	    cfg_only_for(c, v[14], path, "warm_saving_ms", "engine stages",
			 st->kind) ||
	    cfg_only_for(c, v[5], path, "load_bound", "engine stages",
			 st->kind) ||
	    cfg_only_for(c, v[9], path, "idempotent", "engine stages",
			 st->kind) ||
	    cfg_only_for(c, v[10], path, "prompt", "engine stages", st->kind))
		return -EINVAL;
	/* A group is keyed by the first `aggregation` ids: with none, one
	 * operator state would mix every request. */
	cfg_path_key(sub, path, "aggregation");
	if (v[1] == NULL)
		return cfg_fail(c, node, sub,
				"required for operator %s (1..%u)",
				sl_stage_kind_name(st->kind), SL_ANCESTRY_MAX);
	if (st->aggregation == 0)
		return cfg_fail(c, v[1], sub,
				"must be 1..%u for operator %s, "
				"got 0",
				SL_ANCESTRY_MAX, sl_stage_kind_name(st->kind));
	if (st->kind == SL_STAGE_OP_TOPK) {
		cfg_path_key(sub, path, "k");
		if (v[6] == NULL)
			return cfg_fail(c, node, sub,
					"required for operator topk");
		if (cfg_get_u32(c, v[6], sub, 1, 64, &st->topk))
			return -EINVAL;
	} else if (cfg_only_for(c, v[6], path, "k", "operator topk",
				st->kind)) {
		return -EINVAL;
	}
	st->max_groups = SL_CONFIG_DEFAULT_GROUPS;
	st->max_group_bytes = SL_CONFIG_DEFAULT_GROUP_BYTES;
	if (cfg_opt_u32(c, v[7], path, "max_groups", 1, 1048576,
			&st->max_groups) ||
	    cfg_opt_u32(c, v[8], path, "max_group_bytes", 256, 16777216,
			&st->max_group_bytes))
		return -EINVAL;
	return 0;
}

/*
 * An engine stage's instances: its own `instances:`, or its pool's
 * (`pool: NAME`, the pool's members in order); one of the two.
 */
static int
stage_instances(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
		struct sl_pipeline_cfg *pl, struct sl_stage_cfg *st,
		unsigned int idx, yaml_node_t **v)
{
	char sub[SL_CFG_PATH_MAX], q[SL_CFG_QUOTE_MAX + 1];
	struct sl_pool_cfg *po = NULL;

	if (v[11] == NULL) {
		if (v[3] == NULL)
			return cfg_missing(c, node, path, "instances");
		return parse_instances(c, v[3], path, st->name, st->instances,
				       &st->n_instances);
	}
	cfg_path_key(sub, path, "pool");
	if (cfg_expect_scalar(c, v[11], sub))
		return -EINVAL;
	for (unsigned int k = 0; k < pl->n_pools; k++)
		if (!strcmp(pl->pools[k].name,
			    (const char *)v[11]->data.scalar.value)) {
			po = &pl->pools[k];
			st->pool = (uint8_t)k;
		}
	if (po == NULL)
		return cfg_fail(c, v[11], sub,
				"no pool named \"%s\" in this pipeline's "
				"pools",
				cfg_quote(v[11], q, sizeof(q)));
	if (v[3] != NULL) {
		cfg_path_key(sub, path, "instances");
		return cfg_fail(c, v[3], sub,
				"not with pool: pool %s lists the instances",
				po->name);
	}
	memcpy(st->instances, c->pool_instances[st->pool],
	       sizeof(st->instances[0]) * po->n_instances);
	st->n_instances = po->n_instances;
	st->balance = po->policy;
	po->stages[po->n_stages++] = (uint8_t)idx;
	return 0;
}

/* The scheduler's numbers of an engine stage: cost_ms and
 * warm_saving_ms (at most the cost). */
static int
stage_costs(struct sl_cfg_ctx *c, const char *path, struct sl_stage_cfg *st,
	    yaml_node_t **v)
{
	char sub[SL_CFG_PATH_MAX];
	uint32_t cost = 1, saving = 0;

	if (cfg_opt_u32(c, v[13], path, "cost_ms", 1, 600000, &cost) ||
	    cfg_opt_u32(c, v[14], path, "warm_saving_ms", 0, 600000, &saving))
		return -EINVAL;
	if (saving > cost) {
		cfg_path_key(sub, path, "warm_saving_ms");
		return cfg_fail(c, v[14], sub,
				"must be at most cost_ms (%lu), got %lu",
				(unsigned long)cost, (unsigned long)saving);
	}
	st->cost_us = cost * 1000;
	st->warm_saving_us = saving * 1000;
	return 0;
}

static int
parse_stage(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	    struct sl_pipeline_cfg *pl, struct sl_stage_cfg *st,
	    struct sl_dag_nodes *dag, unsigned int idx)
{
	static const char *const keys[] = {
		"name",       "aggregation", "balance",
		"instances",  "operator",    "load_bound",
		"k",          "max_groups",  "max_group_bytes",
		"idempotent", "prompt",      "pool",
		"policy",     "cost_ms",     "warm_saving_ms",
		NULL};
	static const char *const operators[] = {"count", "sum", "topk",
						"concat", NULL};
	char sub[SL_CFG_PATH_MAX];
	enum sl_balance policy = SL_BALANCE_MAX;
	yaml_node_t *v[15];
	uint32_t agg = 0;
	unsigned int kind;

	if (cfg_map_collect(c, node, path, keys, v))
		return -EINVAL;
	if (v[0] == NULL)
		return cfg_missing(c, node, path, "name");
	cfg_path_key(sub, path, "name");
	if (cfg_get_name(c, v[0], sub, NULL, st->name))
		return -EINVAL;
	dag->stage[idx] = node;
	dag->stage_name[idx] = v[0];
	dag->aggregation[idx] = v[1];
	st->kind = SL_STAGE_ENGINE;
	if (v[4] != NULL) {
		cfg_path_key(sub, path, "operator");
		/* An engine is a stage with no operator: not a value here. */
		if (cfg_get_word(c, v[4], sub, operators,
				 "count, sum, topk or concat", &kind))
			return -EINVAL;
		st->kind = (enum sl_stage_kind)(SL_STAGE_OP_COUNT + kind);
	}
	if (cfg_opt_u32(c, v[1], path, "aggregation", 0, SL_ANCESTRY_MAX, &agg))
		return -EINVAL;
	st->aggregation = (uint8_t)agg;
	st->balance = SL_BALANCE_ROUND_ROBIN;
	st->pool = SL_POOL_NONE;
	st->cost_us = 1000;
	if (st->kind != SL_STAGE_ENGINE)
		return parse_operator(c, node, path, st, v);

	if (v[2] != NULL && v[12] != NULL) {
		cfg_path_key(sub, path, "balance");
		return cfg_fail(c, v[2], sub,
				"is policy's older name: give one of them");
	}
	if (v[2] != NULL || v[12] != NULL) {
		cfg_path_key(sub, path, v[12] != NULL ? "policy" : "balance");
		if (get_policy(c, v[12] != NULL ? v[12] : v[2], sub, &policy))
			return -EINVAL;
	}
	if (cfg_only_for(c, v[6], path, "k", "operator topk", st->kind) ||
	    cfg_only_for(c, v[7], path, "max_groups", "operator stages",
			 st->kind) ||
	    cfg_only_for(c, v[8], path, "max_group_bytes", "operator stages",
			 st->kind))
		return -EINVAL;
	if (v[9] != NULL) {
		cfg_path_key(sub, path, "idempotent");
		if (cfg_get_bool(c, v[9], sub, &st->idempotent))
			return -EINVAL;
	}
	if (v[10] != NULL && parse_prompt(c, v[10], path, st))
		return -EINVAL;
	if (v[5] != NULL) {
		cfg_path_key(sub, path, "load_bound");
		/* Bounded load spreads keys; with no key there is nothing
		 * to bound. */
		if (st->aggregation == 0)
			return cfg_fail(c, v[5], sub,
					"only with aggregation 1..%u, this "
					"stage has aggregation 0",
					SL_ANCESTRY_MAX);
		if (get_load_bound(c, v[5], sub, &st->load_bound))
			return -EINVAL;
	}
	if (stage_instances(c, node, path, pl, st, idx, v) ||
	    stage_costs(c, path, st, v))
		return -EINVAL;
	/* A stage's own policy, else its pool's (set with the pool's
	 * instances), else round robin. */
	if (policy != SL_BALANCE_MAX)
		st->balance = policy;
	return 0;
}

static int
parse_stages(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *parent,
	     struct sl_pipeline_cfg *pl, struct sl_dag_nodes *dag)
{
	char list_path[SL_CFG_PATH_MAX], path[SL_CFG_PATH_MAX];
	char sub[SL_CFG_PATH_MAX];
	unsigned long first_line[SL_MAX_STAGES];
	unsigned int n, i, j;

	cfg_path_key(list_path, parent, "stages");
	if (cfg_expect_list(c, node, list_path, 1, SL_MAX_STAGES, &n))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		yaml_node_t *item = cfg_list_item(c, node, i);
		struct sl_stage_cfg *st = &pl->stages[i];

		cfg_path_index(path, list_path, i);
		if (parse_stage(c, item, path, pl, st, dag, i))
			return -EINVAL;
		st->id = (uint16_t)(i + 1);
		first_line[i] = cfg_node_line(item);
		for (j = 0; j < i; j++)
			if (!strcmp(pl->stages[j].name, st->name)) {
				cfg_path_key(sub, path, "name");
				return cfg_fail(c, item, sub,
						"duplicate stage name \"%s\" "
						"(first at line %lu)",
						st->name, first_line[j]);
			}
	}
	pl->n_stages = (uint16_t)n;
	return 0;
}

/* An edge's end: a stage's name or "client". */
static int
edge_end(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	 const struct sl_pipeline_cfg *pl, uint16_t *id)
{
	char q[SL_CFG_QUOTE_MAX + 1];
	const char *s;
	unsigned int i;

	if (cfg_expect_scalar(c, node, path))
		return -EINVAL;
	s = (const char *)node->data.scalar.value;
	if (!strcmp(s, "client")) {
		*id = SL_STAGE_CLIENT;
		return 0;
	}
	for (i = 0; i < pl->n_stages; i++)
		if (!strcmp(pl->stages[i].name, s)) {
			*id = pl->stages[i].id;
			return 0;
		}
	return cfg_fail(c, node, path,
			"no stage named \"%s\" (a stage's name or client)",
			cfg_quote(node, q, sizeof(q)));
}

/* Hyperscan's words, on one line whatever they hold. */
static int
compile_split(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	      struct sl_edge_cfg *e)
{
	char msg[160];
	hs_database_t *db = NULL;
	hs_compile_error_t *ce = NULL;
	size_t i;

	if (hs_compile(e->pattern, HS_FLAG_UTF8 | HS_FLAG_DOTALL,
		       HS_MODE_STREAM, NULL, &db, &ce) == HS_SUCCESS) {
		e->split_db = db;
		return 0;
	}
	snprintf(msg, sizeof(msg), "%s",
		 ce && ce->message ? ce->message : "unknown error");
	for (i = 0; msg[i] != '\0'; i++)
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			msg[i] = '?';
	hs_free_compile_error(ce);
	return cfg_fail(c, node, path, "does not compile: %s", msg);
}

static int
parse_pattern(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	      struct sl_edge_cfg *e)
{
	const char *s;
	size_t len;

	if (cfg_expect_scalar(c, node, path))
		return -EINVAL;
	s = (const char *)node->data.scalar.value;
	len = node->data.scalar.length;
	/* "\0" in a double-quoted scalar would cut the C string short. */
	if (strlen(s) != len)
		return cfg_fail(c, node, path, "must not contain a NUL byte");
	if (len == 0)
		return cfg_fail(c, node, path, "must not be empty");
	if (len >= SL_PATTERN_MAX)
		return cfg_fail(c, node, path, "at most %u bytes, got %zu",
				SL_PATTERN_MAX - 1, len);
	memcpy(e->pattern, s, len + 1);
	return 0;
}

static int
parse_edge(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	   struct sl_pipeline_cfg *pl, unsigned int idx,
	   struct sl_dag_nodes *dag)
{
	static const char *const keys[] = {
		"from",    "to",    "mode", "split", "stream_children",
		"pattern", "guard", NULL};
	static const char *const modes[] = {"stream", "buffer", NULL};
	static const char *const splits[] = {"none", "line", "sentence",
					     "regex", NULL};
	char sub[SL_CFG_PATH_MAX];
	struct sl_edge_cfg *e = &pl->edges[idx];
	yaml_node_t *v[7];
	unsigned int word, j, n_out = 0;

	if (cfg_map_collect(c, node, path, keys, v))
		return -EINVAL;
	if (v[6] != NULL) {
		char q[SL_CFG_QUOTE_MAX + 1];

		cfg_path_key(sub, path, "guard");
		if (cfg_expect_scalar(c, v[6], sub))
			return -EINVAL;
		for (j = 0; j < c->cfg->n_guards && !e->guard; j++)
			if (!strcmp(c->cfg->guards[j].name,
				    (const char *)v[6]->data.scalar.value))
				e->guard = (uint8_t)(j + 1);
		if (!e->guard)
			return cfg_fail(c, v[6], sub, "no guard named \"%s\"",
					cfg_quote(v[6], q, sizeof(q)));
		dag->edge_guard[idx] = v[6];
	}
	if (v[0] == NULL)
		return cfg_missing(c, node, path, "from");
	if (v[1] == NULL)
		return cfg_missing(c, node, path, "to");
	e->id = (uint16_t)idx;
	dag->edge[idx] = node;
	dag->edge_split[idx] = v[3] ? v[3] : node;
	cfg_path_key(sub, path, "from");
	if (edge_end(c, v[0], sub, pl, &e->from))
		return -EINVAL;
	for (j = 0; j < idx; j++)
		n_out += pl->edges[j].from == e->from;
	if (n_out >= SL_MAX_OUT_EDGES)
		return cfg_fail(
			c, v[0], sub, "at most %u edges may leave %s%s%s",
			SL_MAX_OUT_EDGES, e->from ? "\"" : "",
			sl_stage_name_of(pl, e->from), e->from ? "\"" : "");
	cfg_path_key(sub, path, "to");
	if (edge_end(c, v[1], sub, pl, &e->to))
		return -EINVAL;
	if (e->from == SL_STAGE_CLIENT && e->to == SL_STAGE_CLIENT)
		return cfg_fail(c, v[1], sub,
				"an edge from client to client passes no "
				"stage");
	if (e->from == e->to)
		return cfg_fail(c, v[1], sub, "edge from \"%s\" to itself",
				sl_stage_name_of(pl, e->from));
	for (j = 0; j < idx; j++)
		if (pl->edges[j].from == e->from && pl->edges[j].to == e->to)
			return cfg_fail(c, node, path,
					"duplicate edge %s -> %s (first at "
					"line %lu)",
					sl_stage_name_of(pl, e->from),
					sl_stage_name_of(pl, e->to),
					cfg_node_line(dag->edge[j]));
	e->mode = SL_EDGE_STREAM;
	if (v[2] != NULL) {
		cfg_path_key(sub, path, "mode");
		if (cfg_get_word(c, v[2], sub, modes, "stream or buffer",
				 &word))
			return -EINVAL;
		e->mode = (enum sl_edge_mode)word;
	}
	e->split = SL_SPLIT_NONE;
	if (v[3] != NULL) {
		cfg_path_key(sub, path, "split");
		if (cfg_get_word(c, v[3], sub, splits,
				 "none, line, sentence or regex", &word))
			return -EINVAL;
		e->split = (enum sl_split)word;
	}
	if (v[4] != NULL) {
		cfg_path_key(sub, path, "stream_children");
		if (e->split == SL_SPLIT_NONE)
			return cfg_fail(c, v[4], sub,
					"only for split edges (split: line, "
					"sentence or regex)");
		if (cfg_get_bool(c, v[4], sub, &e->stream_children))
			return -EINVAL;
	}
	cfg_path_key(sub, path, "pattern");
	switch (e->split) {
	case SL_SPLIT_NONE:
		if (v[5] != NULL)
			return cfg_fail(c, v[5], sub,
					"only with split: regex, this edge "
					"does not split");
		return 0;
	case SL_SPLIT_LINE:
	case SL_SPLIT_SENTENCE:
		if (v[5] != NULL)
			return cfg_fail(c, v[5], sub,
					"only with split: regex, split: %s "
					"has its own",
					sl_split_name(e->split));
		/* Regex source, as a file's pattern would be. */
		snprintf(e->pattern, sizeof(e->pattern), "%s",
			 e->split == SL_SPLIT_LINE ? "\\n" : "[.!?]\\s");
		return compile_split(c, v[3], sub, e);
	case SL_SPLIT_REGEX:
	default:
		if (v[5] == NULL)
			return cfg_fail(c, node, sub,
					"required with split: regex");
		if (parse_pattern(c, v[5], sub, e))
			return -EINVAL;
		return compile_split(c, v[5], sub, e);
	}
}

static int
parse_edges(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *parent,
	    struct sl_pipeline_cfg *pl, struct sl_dag_nodes *dag)
{
	char list_path[SL_CFG_PATH_MAX], path[SL_CFG_PATH_MAX];
	unsigned int n, i;

	/* In a pipeline with edges "client" is the client, never a stage. */
	for (i = 0; i < pl->n_stages; i++)
		if (!strcmp(pl->stages[i].name, "client")) {
			cfg_path_fmt(path, "%s.stages[%u].name", parent, i);
			return cfg_fail(c, dag->stage_name[i], path,
					"\"client\" is the client in edges, "
					"not a stage name");
		}
	cfg_path_key(list_path, parent, "edges");
	if (cfg_expect_list(c, node, list_path, 1, SL_MAX_EDGES, &n))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		cfg_path_index(path, list_path, i);
		if (parse_edge(c, cfg_list_item(c, node, i), path, pl, i, dag))
			return -EINVAL;
	}
	pl->n_edges = (uint16_t)n;
	return 0;
}

static int
parse_pool(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	   struct sl_pool_cfg *po, struct sl_instance_cfg *instances)
{
	static const char *const keys[] = {"name",          "instances",
					   "policy",        "load_bound",
					   "warm_prefixes", NULL};
	char sub[SL_CFG_PATH_MAX];
	yaml_node_t *v[5];
	uint32_t warm = 1;

	if (cfg_map_collect(c, node, path, keys, v))
		return -EINVAL;
	if (v[0] == NULL)
		return cfg_missing(c, node, path, "name");
	cfg_path_key(sub, path, "name");
	if (cfg_get_name(c, v[0], sub, "/", po->name))
		return -EINVAL;
	if (v[1] == NULL)
		return cfg_missing(c, node, path, "instances");
	if (parse_instances(c, v[1], path, po->name, instances,
			    &po->n_instances))
		return -EINVAL;
	po->policy = SL_BALANCE_ROUND_ROBIN;
	if (v[2] != NULL) {
		cfg_path_key(sub, path, "policy");
		if (get_policy(c, v[2], sub, &po->policy))
			return -EINVAL;
	}
	po->load_bound = 1.25;
	if (v[3] != NULL) {
		cfg_path_key(sub, path, "load_bound");
		if (get_load_bound(c, v[3], sub, &po->load_bound))
			return -EINVAL;
		if (po->load_bound <= 1.0)
			return cfg_fail(c, v[3], sub,
					"must be above 1.0 (a cap on a "
					"member's share), got %g",
					po->load_bound);
	}
	if (cfg_opt_u32(c, v[4], path, "warm_prefixes", 1, SL_POOL_WARM_MAX,
			&warm))
		return -EINVAL;
	po->warm_prefixes = (uint8_t)warm;
	return 0;
}

/* `pools:` of a pipeline, read before its stages name them. */
static int
parse_pools(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *parent,
	    struct sl_pipeline_cfg *pl)
{
	char list_path[SL_CFG_PATH_MAX], path[SL_CFG_PATH_MAX];
	char sub[SL_CFG_PATH_MAX];
	unsigned long first_line[SL_MAX_POOLS];
	unsigned int n, i, j;

	cfg_path_key(list_path, parent, "pools");
	if (cfg_expect_list(c, node, list_path, 1, SL_MAX_POOLS, &n))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		yaml_node_t *item = cfg_list_item(c, node, i);

		cfg_path_index(path, list_path, i);
		if (parse_pool(c, item, path, &pl->pools[i],
			       c->pool_instances[i]))
			return -EINVAL;
		first_line[i] = cfg_node_line(item);
		for (j = 0; j < i; j++)
			if (!strcmp(pl->pools[j].name, pl->pools[i].name)) {
				cfg_path_key(sub, path, "name");
				return cfg_fail(c, item, sub,
						"duplicate pool name \"%s\" "
						"(first at line %lu)",
						pl->pools[i].name,
						first_line[j]);
			}
	}
	pl->n_pools = (uint8_t)n;
	return 0;
}

/* Every pool serves some stage: one no stage names is a mistake. */
static int
check_pools_used(struct sl_cfg_ctx *c, const yaml_node_t *node,
		 const char *parent, const struct sl_pipeline_cfg *pl)
{
	char list_path[SL_CFG_PATH_MAX], path[SL_CFG_PATH_MAX];

	cfg_path_key(list_path, parent, "pools");
	for (unsigned int i = 0; i < pl->n_pools; i++)
		if (pl->pools[i].n_stages == 0) {
			cfg_path_index(path, list_path, i);
			return cfg_fail(c, cfg_list_item(c, node, i), path,
					"no stage says pool: %s",
					pl->pools[i].name);
		}
	return 0;
}

/*
 * A local GPU instance (`gpu: true`) gets its streams through a token
 * ring, which carries tokens, END and ABORT but not the CHILDREN
 * announcements an aggregating stage counts its inputs with: refused
 * there, the instance named.
 */
static int
check_gpu_stages(struct sl_cfg_ctx *c, const struct sl_pipeline_cfg *pl,
		 const struct sl_dag_nodes *dag, const char *parent)
{
	char path[SL_CFG_PATH_MAX];

	for (unsigned int i = 0; i < pl->n_stages; i++) {
		const struct sl_stage_cfg *st = &pl->stages[i];

		if (st->aggregation == 0)
			continue;
		for (unsigned int k = 0; k < st->n_instances; k++) {
			if (!st->instances[k].gpu)
				continue;
			cfg_path_fmt(path, "%s.stages[%u].instances[%u].gpu",
				     parent, i, k);
			return cfg_fail(c, dag->stage[i], path,
					"a local GPU instance cannot serve a "
					"stage with aggregation %u: its token "
					"ring does not carry the children "
					"counts aggregation needs",
					st->aggregation);
		}
	}
	return 0;
}

static int
parse_pipeline(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	       struct sl_pipeline_cfg *pl)
{
	static const char *const keys[] = {"name",  "id",    "stages", "edges",
					   "guard", "pools", NULL};
	static const char *const guard_words[] = {"optional", "required", NULL};
	char sub[SL_CFG_PATH_MAX];
	struct sl_dag_nodes dag;
	yaml_node_t *v[6];
	unsigned int word = 0;

	memset(&dag, 0, sizeof(dag));
	if (cfg_map_collect(c, node, path, keys, v))
		return -EINVAL;
	if (v[0] == NULL)
		return cfg_missing(c, node, path, "name");
	cfg_path_key(sub, path, "name");
	if (cfg_get_name(c, v[0], sub, NULL, pl->name))
		return -EINVAL;
	if (v[1] == NULL)
		return cfg_missing(c, node, path, "id");
	if (cfg_opt_u32(c, v[1], path, "id", 1, UINT32_MAX, &pl->id))
		return -EINVAL;
	if (v[4] != NULL) {
		cfg_path_key(sub, path, "guard");
		if (cfg_get_word(c, v[4], sub, guard_words,
				 "optional or required", &word))
			return -EINVAL;
		pl->guard_required = word == 1;
	}
	if (v[5] != NULL && parse_pools(c, v[5], path, pl))
		return -EINVAL;
	if (v[2] == NULL)
		return cfg_missing(c, node, path, "stages");
	if (parse_stages(c, v[2], path, pl, &dag) ||
	    (v[5] != NULL && check_pools_used(c, v[5], path, pl)))
		return -EINVAL;
	if (v[3] == NULL) {
		cfg_chain_edges(pl);
	} else {
		dag.edges_key = cfg_key_node(c, node, "edges");
		if (parse_edges(c, v[3], path, pl, &dag))
			return -EINVAL;
	}
	if (cfg_check_dag(c, pl, &dag, path) ||
	    check_gpu_stages(c, pl, &dag, path))
		return -EINVAL;
	return pl->guard_required
		       ? cfg_check_guard_required(c, pl, &dag, v[4], path)
		       : 0;
}

static int
parse_pipelines(struct sl_cfg_ctx *c, const yaml_node_t *node)
{
	char path[SL_CFG_PATH_MAX], sub[SL_CFG_PATH_MAX];
	unsigned long first_line[SL_MAX_PIPELINES];
	unsigned int n, i, j;

	if (cfg_expect_list(c, node, "pipelines", 1, SL_MAX_PIPELINES, &n))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		yaml_node_t *item = cfg_list_item(c, node, i);
		struct sl_pipeline_cfg *pl = &c->cfg->pipelines[i];

		cfg_path_index(path, "pipelines", i);
		if (parse_pipeline(c, item, path, pl))
			return -EINVAL;
		first_line[i] = cfg_node_line(item);
		for (j = 0; j < i; j++) {
			const struct sl_pipeline_cfg *o = &c->cfg->pipelines[j];

			if (!strcmp(o->name, pl->name)) {
				cfg_path_key(sub, path, "name");
				return cfg_fail(c, item, sub,
						"duplicate pipeline name "
						"\"%s\" (first at line %lu)",
						pl->name, first_line[j]);
			}
			if (o->id == pl->id) {
				cfg_path_key(sub, path, "id");
				return cfg_fail(c, item, sub,
						"duplicate pipeline id %lu "
						"(first at line %lu)",
						(unsigned long)pl->id,
						first_line[j]);
			}
		}
	}
	c->cfg->n_pipelines = (uint16_t)n;
	return 0;
}

/* `liveness: {probe_ms, dead_ms}`: how engines are watched. */
static int
parse_liveness(struct sl_cfg_ctx *c, const yaml_node_t *node)
{
	static const char *const keys[] = {"probe_ms", "dead_ms", NULL};
	struct sl_config *cfg = c->cfg;
	yaml_node_t *v[2];

	if (node == NULL || cfg_node_is_null(node))
		return 0;
	if (cfg_map_collect(c, node, "liveness", keys, v) ||
	    cfg_opt_u32(c, v[0], "liveness", "probe_ms", 0, 60000,
			&cfg->probe_ms) ||
	    cfg_opt_u32(c, v[1], "liveness", "dead_ms", 20, 3600000,
			&cfg->dead_ms))
		return -EINVAL;
	/* probe_ms 0 turns liveness off (instances are never found dead).
	 * Otherwise one lost probe answer must not kill an instance. */
	if (cfg->probe_ms != 0 && cfg->probe_ms < 10)
		return cfg_fail(c, v[0], "liveness.probe_ms",
				"must be 0 (off) or 10..60000, got %u",
				cfg->probe_ms);
	if (cfg->probe_ms != 0 && cfg->dead_ms < 2 * cfg->probe_ms)
		return cfg_fail(c, v[1] != NULL ? v[1] : node,
				"liveness.dead_ms",
				"must be at least twice probe_ms (%u), got %u",
				cfg->probe_ms, cfg->dead_ms);
	return 0;
}

static int
parse_root(struct sl_cfg_ctx *c, const yaml_node_t *root)
{
	static const char *const keys[] = {"sluiced",  "flows",     "clients",
					   "tenants",  "pipelines", "guards",
					   "liveness", "nodes",     NULL};
	yaml_node_t *v[8];

	if (root == NULL)
		return cfg_fail(c, NULL, "document", "empty document");
	if (cfg_map_collect(c, root, "", keys, v))
		return -EINVAL;
	if (v[0] == NULL)
		return cfg_missing(c, root, "", "sluiced");
	if (parse_sluiced(c, v[0]) || parse_flows(c, v[1]) ||
	    parse_clients(c, v[2]) || parse_tenants(c, v[3]) ||
	    cfg_parse_guards(c, v[5]) || parse_liveness(c, v[6]) ||
	    parse_nodes(c, v[7]))
		return -EINVAL;
	if (v[4] == NULL)
		return cfg_missing(c, root, "", "pipelines");
	return parse_pipelines(c, v[4]);
}

static int
syntax_error(struct sl_cfg_ctx *c, const yaml_parser_t *parser)
{
	if (c->err == NULL || c->errlen == 0)
		return -EINVAL;
	snprintf(c->err, c->errlen, "%s:%lu: syntax: %s%s%s", c->file,
		 (unsigned long)parser->problem_mark.line + 1,
		 parser->problem ? parser->problem : "cannot parse",
		 parser->context ? ", " : "",
		 parser->context ? parser->context : "");
	return -EINVAL;
}

/* Loads the one document @parser yields and compiles it. */
static struct sl_config *
config_from_parser(yaml_parser_t *parser, const char *name,
		   const struct sl_confine *files, char *err, size_t errlen)
{
	struct sl_cfg_ctx c = {
		.file = name,
		.err = err,
		.errlen = errlen,
		.files = files,
	};
	yaml_document_t doc, extra;
	struct sl_config *cfg;
	int rc;

	if (!yaml_parser_load(parser, &doc)) {
		syntax_error(&c, parser);
		return NULL;
	}
	/* A second document would be silently ignored: refuse it. */
	if (!yaml_parser_load(parser, &extra)) {
		syntax_error(&c, parser);
		yaml_document_delete(&doc);
		return NULL;
	}
	if (yaml_document_get_root_node(&extra) != NULL) {
		cfg_fail(&c, yaml_document_get_root_node(&extra), "document",
			 "only one YAML document allowed");
		yaml_document_delete(&extra);
		yaml_document_delete(&doc);
		return NULL;
	}
	yaml_document_delete(&extra);

	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL) {
		snprintf(err, errlen, "%s: out of memory", name);
		yaml_document_delete(&doc);
		return NULL;
	}
	cfg->listen.port = SL_WIRE_UDP_PORT;
	cfg->flow_table_size = SL_CONFIG_DEFAULT_FLOWS;
	cfg->flow_idle_ms = SL_CONFIG_DEFAULT_IDLE_MS;
	cfg->reorder_window = SL_CONFIG_DEFAULT_REORDER;
	cfg->buffer_max = SL_CONFIG_DEFAULT_BUFFER;
	cfg->probe_ms = SL_CONFIG_DEFAULT_PROBE_MS;
	cfg->dead_ms = SL_CONFIG_DEFAULT_DEAD_MS;
	c.doc = &doc;
	c.cfg = cfg;
	rc = parse_root(&c, yaml_document_get_root_node(&doc));
	yaml_document_delete(&doc);
	if (rc) {
		sl_config_free(cfg); /* split databases compiled so far */
		return NULL;
	}
	/* Every instance a runtime identity of its own; a snapshot that
	 * replaces another carries uids over with sl_config_assign_uids. */
	if (sl_config_assign_uids(cfg, NULL) != 0) {
		snprintf(err, errlen,
			 "%s: pipelines: more than %u instances in all", name,
			 SL_MAX_INSTANCE_UIDS);
		sl_config_free(cfg);
		return NULL;
	}
	return cfg;
}

int
sl_config_localize(struct sl_config *cfg, const char *node, char *err,
		   size_t errlen)
{
	uint8_t me = 0;

	for (uint8_t k = 0; k < cfg->n_nodes; k++)
		if (strcmp(cfg->nodes[k].name, node) == 0)
			me = (uint8_t)(k + 1);
	if (me == 0) {
		snprintf(err, errlen,
			 "nodes: no node \"%s\" (this sluiced's "
			 "--node)",
			 node);
		return -ENOENT;
	}
	for (uint16_t k = 0; k < cfg->n_instances_all; k++) {
		const struct sl_instance_at *at = &cfg->instances_all[k];
		struct sl_instance_cfg *in = sl_config_instance_at(cfg, at);

		if (in->node == 0) {
			snprintf(err, errlen,
				 "pipelines.%s.stages.%s.instances.%s.node: "
				 "missing: in a cluster every instance names "
				 "its node",
				 cfg->pipelines[at->pipeline].name,
				 cfg->pipelines[at->pipeline]
					 .stages[at->stage]
					 .name,
				 in->name);
			return -EINVAL;
		}
		in->remote = in->node != me;
	}
	cfg->local_node = me;
	cfg->listen = cfg->nodes[me - 1].listen;
	return 0;
}

struct sl_config *
sl_config_parse_node(const char *yaml, size_t len, const char *name,
		     const struct sl_confine *files, const char *node,
		     char *err, size_t errlen)
{
	struct sl_config *cfg;
	char why[768];

	cfg = sl_config_parse_in(yaml, len, name, files, err, errlen);
	if (cfg == NULL || node == NULL)
		return cfg;
	if (sl_config_localize(cfg, node, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s:0: %s", name, why);
		sl_config_free(cfg);
		return NULL;
	}
	return cfg;
}

struct sl_config *
sl_config_parse_in(const char *yaml, size_t len, const char *name,
		   const struct sl_confine *files, char *err, size_t errlen)
{
	yaml_parser_t parser;
	struct sl_config *cfg;

	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
	cfg = config_from_parser(&parser, name, files, err, errlen);
	yaml_parser_delete(&parser);
	return cfg;
}

struct sl_config *
sl_config_parse(const char *yaml, size_t len, const char *name, char *err,
		size_t errlen)
{
	return sl_config_parse_in(yaml, len, name, NULL, err, errlen);
}

struct sl_config *
sl_config_load_in(const char *path, const struct sl_confine *files, char *err,
		  size_t errlen)
{
	yaml_parser_t parser;
	struct sl_config *cfg;
	FILE *f;

	f = fopen(path, "rb");
	if (f == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", path,
			 strerror(errno));
		return NULL;
	}
	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, errlen, "%s: out of memory", path);
		fclose(f);
		return NULL;
	}
	yaml_parser_set_input_file(&parser, f);
	cfg = config_from_parser(&parser, path, files, err, errlen);
	yaml_parser_delete(&parser);
	if (cfg == NULL && ferror(f))
		snprintf(err, errlen, "%s: read error", path);
	fclose(f);
	return cfg;
}

struct sl_config *
sl_config_load(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	struct sl_confine files = {.dir = dir};
	const char *slash = strrchr(path, '/');

	/* The file's own directory: where the operator keeps its lists. */
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	return sl_config_load_in(path, &files, err, errlen);
}
