/* SPDX-License-Identifier: MIT */
/*
 * sl_config_int.h - what the pipeline compiler's files share (not an API):
 * the parse context, the YAML readers that name the line and the field of
 * every error, the graph nodes kept for the DAG checks.
 */
#ifndef SL_CONFIG_INT_H
#define SL_CONFIG_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <yaml.h>

#include "sl_confine.h"
#include "sl_config.h"
#include "sl_guard.h"

#define CFG_MAX_U32(a, b)                                                      \
	((uint32_t)(a) > (uint32_t)(b) ? (uint32_t)(a) : (uint32_t)(b))

/* Longest piece of a user's value quoted back in an error message. */
#define SL_CFG_QUOTE_MAX 48
#define SL_CFG_PATH_MAX 128

struct sl_cfg_ctx {
	const char *file;
	char *err;
	size_t errlen;
	yaml_document_t *doc;
	struct sl_config *cfg;
	const struct sl_confine *files; /* every file the config names */
	/* The pools of the pipeline being read: their members, copied into
	 * each stage that says `pool:`. */
	struct sl_instance_cfg pool_instances[SL_MAX_POOLS][SL_MAX_INSTANCES];
};

/*
 * Nodes kept while one pipeline is read, so that the graph checks, which
 * run once every stage and edge is known, can still point at a line.
 */
struct sl_dag_nodes {
	const yaml_node_t *edges_key; /* NULL for the implicit chain */
	const yaml_node_t *stage[SL_MAX_STAGES];
	const yaml_node_t *stage_name[SL_MAX_STAGES];
	const yaml_node_t *aggregation[SL_MAX_STAGES]; /* NULL if absent */
	const yaml_node_t *edge[SL_MAX_EDGES];
	const yaml_node_t *edge_split[SL_MAX_EDGES];
	const yaml_node_t *edge_guard[SL_MAX_EDGES]; /* NULL if absent */
};

struct guard_rules {
	struct sl_guard_rule *rules;
	char **owned; /* strings read from a file */
	unsigned int n, cap, n_owned;
};

unsigned long cfg_node_line(const yaml_node_t *node);

/* Put "FILE:LINE: PATH: message" in the context's error; return -EINVAL. */
int cfg_fail(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

const char *cfg_quote(const yaml_node_t *node, char *buf, size_t len);

const char *cfg_node_kind(const yaml_node_t *node);

bool cfg_node_is_null(const yaml_node_t *node);

void cfg_path_fmt(char *buf, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void cfg_path_key(char *buf, const char *parent, const char *key);

void cfg_path_index(char *buf, const char *parent, unsigned int i);

int cfg_expect_scalar(struct sl_cfg_ctx *c, const yaml_node_t *node,
		      const char *path);

int cfg_map_collect(struct sl_cfg_ctx *c, const yaml_node_t *map,
		    const char *path, const char *const *keys,
		    yaml_node_t **vals);

int cfg_missing(struct sl_cfg_ctx *c, const yaml_node_t *parent,
		const char *path, const char *key);

int cfg_expect_list(struct sl_cfg_ctx *c, const yaml_node_t *node,
		    const char *path, unsigned int min, unsigned int max,
		    unsigned int *n);

yaml_node_t *cfg_list_item(struct sl_cfg_ctx *c, const yaml_node_t *list,
			   unsigned int i);

int cfg_get_u32(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
		uint32_t min, uint32_t max, uint32_t *out);

int cfg_opt_u32(struct sl_cfg_ctx *c, const yaml_node_t *node,
		const char *parent, const char *key, uint32_t min, uint32_t max,
		uint32_t *out);

int cfg_get_name(struct sl_cfg_ctx *c, const yaml_node_t *node,
		 const char *path, const char *extra, char *out);

bool cfg_ipv4_unicast(uint32_t ip);

int cfg_get_endpoint(struct sl_cfg_ctx *c, const yaml_node_t *node,
		     const char *path, struct sl_endpoint *ep);

int cfg_parse_prefix_list(struct sl_cfg_ctx *c, const yaml_node_t *node,
			  const char *where, struct sl_ipv4_net *nets,
			  unsigned int min, unsigned int max, uint16_t *count);

int cfg_get_word(struct sl_cfg_ctx *c, const yaml_node_t *node,
		 const char *path, const char *const *words, const char *expect,
		 unsigned int *out);

int cfg_get_bool(struct sl_cfg_ctx *c, const yaml_node_t *node,
		 const char *path, bool *out);

int cfg_only_for(struct sl_cfg_ctx *c, const yaml_node_t *node,
		 const char *parent, const char *key, const char *what,
		 enum sl_stage_kind kind);

const yaml_node_t *cfg_key_node(struct sl_cfg_ctx *c, const yaml_node_t *map,
				const char *key);

void cfg_chain_edges(struct sl_pipeline_cfg *pl);

int cfg_check_dag(struct sl_cfg_ctx *c, struct sl_pipeline_cfg *pl,
		  const struct sl_dag_nodes *dag, const char *parent);

int cfg_check_guard_required(struct sl_cfg_ctx *c,
			     const struct sl_pipeline_cfg *pl,
			     const struct sl_dag_nodes *dag,
			     const yaml_node_t *req, const char *parent);

int cfg_parse_guards(struct sl_cfg_ctx *c, const yaml_node_t *node);

#endif /* SL_CONFIG_INT_H */
