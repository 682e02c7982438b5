/* SPDX-License-Identifier: MIT */
/*
 * sl_config_dag.c - a pipeline's graph, checked once all its stages and
 * edges are read: cycles, stages cut off from the client, ancestry depths
 * in topological order, guards required on the way back.
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

/* client -> stages[0] -> ... -> stages[n - 1] -> client, as files without
 * `edges:` have always meant. */
void
cfg_chain_edges(struct sl_pipeline_cfg *pl)
{
	unsigned int i;

	for (i = 0; i <= pl->n_stages; i++) {
		struct sl_edge_cfg *e = &pl->edges[i];

		e->id = (uint16_t)i;
		e->from = (uint16_t)i;
		e->to = i == pl->n_stages ? SL_STAGE_CLIENT : (uint16_t)(i + 1);
		e->mode = SL_EDGE_STREAM;
		e->split = SL_SPLIT_NONE;
	}
	pl->n_edges = (uint16_t)(pl->n_stages + 1);
}

/*
 * Names a cycle left over by the topological sort: @left[s] marks stages
 * it could not order, each of which has an in-edge from another such
 * stage. Walking back along first such in-edges for n steps must land on
 * a cycle; the walk then goes round it once.
 */
static int
report_cycle(struct sl_cfg_ctx *c, const struct sl_pipeline_cfg *pl,
	     const struct sl_dag_nodes *dag, const char *parent,
	     const bool *left)
{
	char path[SL_CFG_PATH_MAX], ring[SL_MAX_STAGES * (SL_NAME_MAX + 4)];
	uint16_t back[SL_MAX_STAGES + 1], via[SL_MAX_STAGES + 1];
	unsigned int i, n = 0, start = 0, best, len = 0;
	uint16_t s = 0, e;

	for (i = 1; i <= pl->n_stages; i++)
		if (left[i]) {
			s = (uint16_t)i;
			break;
		}
	for (i = 0; i <= pl->n_stages; i++)
		for (e = 0; e < pl->n_edges; e++)
			if (pl->edges[e].to == s && left[pl->edges[e].from]) {
				s = pl->edges[e].from;
				break;
			}
	/* back[k] is the k-th stage walking backwards, via[k] the edge
	 * from back[k + 1] into back[k]. */
	back[0] = s;
	do {
		for (e = 0; e < pl->n_edges; e++)
			if (pl->edges[e].to == back[n] &&
			    left[pl->edges[e].from])
				break;
		via[n] = e;
		back[n + 1] = pl->edges[e].from;
		n++;
	} while (back[n] != s && n < SL_MAX_STAGES);
	/* Name the cycle from its first stage in file order. */
	best = 0;
	for (i = 1; i < n; i++)
		if (back[i] < back[best])
			best = i;
	for (i = 0; i <= n; i++) {
		start = (best + n - i) % n; /* forwards: reverse of back[] */
		len += (unsigned int)snprintf(
			ring + len, sizeof(ring) - len, "%s%s", i ? " -> " : "",
			sl_stage_name_of(pl, back[start]));
	}
	/* The edge closing the cycle: into the named stage. */
	e = via[best];
	cfg_path_fmt(path, "%s.edges[%u]", parent, e);
	return cfg_fail(c, dag->edge[e], path, "cycle through stage \"%s\": %s",
			sl_stage_name_of(pl, back[best]), ring);
}

/*
 * The depths the streams arriving as stage s's output may have
 * (depth_min/max[s]; s = 0: the client's requests, always depth 1): what
 * admission checks every fragment against, so that no ancestry index
 * downstream (aggregation keys, a splitter's child id) can pass the ids
 * a fragment really carries. In a declared DAG every depth is exact. In
 * a chain an engine may deepen what it answers itself, up to the
 * ancestry's size, but never below what the stage after it aggregates
 * on; the chain's first stage receives the client's depth 1 streams, so
 * it cannot aggregate on more than one id.
 */
static int
check_depths(struct sl_cfg_ctx *c, struct sl_pipeline_cfg *pl,
	     const struct sl_dag_nodes *dag, const char *parent)
{
	char path[SL_CFG_PATH_MAX];
	unsigned int i, k;

	pl->depth_min[SL_STAGE_CLIENT] = 1;
	pl->depth_max[SL_STAGE_CLIENT] = 1;
	for (i = 1; i <= pl->n_stages; i++) {
		const struct sl_stage_cfg *st = &pl->stages[i - 1];
		uint8_t need = 1;

		if (st->kind != SL_STAGE_ENGINE) {
			pl->depth_min[i] = pl->depth_max[i] = st->aggregation;
			continue;
		}
		if (dag->edges_key != NULL) {
			pl->depth_min[i] = pl->depth_max[i] = st->depth_in;
			continue;
		}
		for (k = 0; k < st->n_out_edges; k++) {
			const struct sl_edge_cfg *ed =
				&pl->edges[st->out_edges[k]];

			if (ed->to != SL_STAGE_CLIENT &&
			    pl->stages[ed->to - 1].aggregation > need)
				need = pl->stages[ed->to - 1].aggregation;
		}
		pl->depth_min[i] = need;
		pl->depth_max[i] = SL_ANCESTRY_MAX;
	}
	if (dag->edges_key != NULL)
		return 0;
	for (k = 0; k < pl->n_client_edges; k++) {
		const struct sl_edge_cfg *ed = &pl->edges[pl->client_edges[k]];
		unsigned int idx = ed->to - 1u;

		if (ed->to == SL_STAGE_CLIENT ||
		    pl->stages[idx].aggregation <= 1)
			continue;
		cfg_path_fmt(path, "%s.stages[%u].aggregation", parent, idx);
		return cfg_fail(c, dag->aggregation[idx], path,
				"must be 0..1 for the first stage of a chain "
				"(clients send depth 1 streams), got %u",
				pl->stages[idx].aggregation);
	}
	return 0;
}

/*
 * The graph checks and the derived fields of a pipeline with `edges:`
 * (explicit) or of the implicit chain. Chains keep today's meaning: an
 * engine may deepen the ancestry of what it answers itself, so the
 * aggregation bound is checked on declared DAGs only.
 */
int
cfg_check_dag(struct sl_cfg_ctx *c, struct sl_pipeline_cfg *pl,
	      const struct sl_dag_nodes *dag, const char *parent)
{
	char path[SL_CFG_PATH_MAX];
	uint16_t order[SL_MAX_STAGES], in_left[SL_MAX_STAGES + 1];
	bool left[SL_MAX_STAGES + 1], reach[SL_MAX_STAGES + 1];
	bool out[SL_MAX_STAGES + 1];
	unsigned int i, n_order = 0, head, to_client = 0;
	const struct sl_edge_cfg *last_out = NULL;
	uint16_t e;

	cfg_path_key(path, parent, "edges");
	for (e = 0; e < pl->n_edges; e++) {
		struct sl_edge_cfg *ed = &pl->edges[e];

		if (ed->from == SL_STAGE_CLIENT)
			pl->client_edges[pl->n_client_edges++] = e;
		else
			pl->stages[ed->from - 1].out_edges
				[pl->stages[ed->from - 1].n_out_edges++] = e;
		if (ed->to == SL_STAGE_CLIENT) {
			to_client++;
			last_out = ed;
		} else {
			pl->stages[ed->to - 1].n_in_edges++;
		}
	}
	if (pl->n_client_edges == 0)
		return cfg_fail(c, dag->edges_key, path, "no edge from client");
	if (to_client == 0)
		return cfg_fail(c, dag->edges_key, path, "no edge to client");

	/* Kahn's sort; in_left[s] counts in-edges from unordered stages. */
	for (i = 1; i <= pl->n_stages; i++) {
		in_left[i] = 0;
		left[i] = true;
	}
	for (e = 0; e < pl->n_edges; e++)
		if (pl->edges[e].from != SL_STAGE_CLIENT &&
		    pl->edges[e].to != SL_STAGE_CLIENT)
			in_left[pl->edges[e].to]++;
	for (i = 1; i <= pl->n_stages; i++)
		if (in_left[i] == 0)
			order[n_order++] = (uint16_t)i;
	for (head = 0; head < n_order; head++) {
		const struct sl_stage_cfg *st = &pl->stages[order[head] - 1];

		left[order[head]] = false;
		for (i = 0; i < st->n_out_edges; i++) {
			uint16_t to = pl->edges[st->out_edges[i]].to;

			if (to != SL_STAGE_CLIENT && --in_left[to] == 0)
				order[n_order++] = to;
		}
	}
	left[SL_STAGE_CLIENT] = false;
	if (n_order < pl->n_stages)
		return report_cycle(c, pl, dag, parent, left);

	/* From the client, in topological order; back to it, in reverse. */
	for (i = 0; i <= pl->n_stages; i++)
		reach[i] = out[i] = false;
	for (i = 0; i < pl->n_client_edges; i++)
		reach[pl->edges[pl->client_edges[i]].to] = true;
	for (head = 0; head < n_order; head++) {
		const struct sl_stage_cfg *st = &pl->stages[order[head] - 1];

		for (i = 0; i < st->n_out_edges && reach[st->id]; i++)
			reach[pl->edges[st->out_edges[i]].to] = true;
	}
	for (head = n_order; head-- > 0;) {
		const struct sl_stage_cfg *st = &pl->stages[order[head] - 1];

		for (i = 0; i < st->n_out_edges; i++) {
			uint16_t to = pl->edges[st->out_edges[i]].to;

			if (to == SL_STAGE_CLIENT || out[to])
				out[st->id] = true;
		}
	}
	for (i = 1; i <= pl->n_stages; i++)
		if (!reach[i])
			return cfg_fail(c, dag->edges_key, path,
					"stage \"%s\" cannot be reached from "
					"client",
					pl->stages[i - 1].name);
	for (i = 1; i <= pl->n_stages; i++)
		if (!out[i])
			return cfg_fail(c, dag->edges_key, path,
					"stage \"%s\" has no way out to client",
					pl->stages[i - 1].name);

	/* Depths: the client's requests have depth 1. */
	for (i = 0; i < pl->n_client_edges; i++) {
		struct sl_edge_cfg *ed = &pl->edges[pl->client_edges[i]];

		ed->depth_in = 1;
		ed->depth_out = (uint8_t)(1 + (ed->split != SL_SPLIT_NONE));
	}
	for (head = 0; head < n_order; head++) {
		struct sl_stage_cfg *st = &pl->stages[order[head] - 1];
		unsigned int idx = st->id - 1u;
		int first = -1;

		for (e = 0; e < pl->n_edges; e++) {
			const struct sl_edge_cfg *ed = &pl->edges[e];

			if (ed->to != st->id)
				continue;
			if (first < 0) {
				first = e;
				st->depth_in = ed->depth_out;
			} else if (ed->depth_out != st->depth_in) {
				cfg_path_fmt(path, "%s.edges[%u]", parent, e);
				return cfg_fail(
					c, dag->edge[e], path,
					"edges into \"%s\" disagree on depth: "
					"%u "
					"here, %u from edges[%d] (line %lu)",
					st->name, ed->depth_out, st->depth_in,
					first, cfg_node_line(dag->edge[first]));
			}
		}
		if (dag->edges_key != NULL && st->aggregation > st->depth_in) {
			cfg_path_fmt(path, "%s.stages[%u].aggregation", parent,
				     idx);
			return cfg_fail(
				c, dag->aggregation[idx], path,
				"must be %u..%u for a stage receiving depth %u "
				"streams, got %u",
				st->kind == SL_STAGE_ENGINE ? 0 : 1,
				st->depth_in, st->depth_in, st->aggregation);
		}
		/* An operator emits one stream per group: its output is
		 * named by the group key, `aggregation` ids deep. */
		uint8_t out_depth = st->kind == SL_STAGE_ENGINE
					    ? st->depth_in
					    : st->aggregation;

		for (i = 0; i < st->n_out_edges; i++) {
			struct sl_edge_cfg *ed = &pl->edges[st->out_edges[i]];

			ed->depth_in = out_depth;
			ed->depth_out = (uint8_t)(out_depth +
						  (ed->split != SL_SPLIT_NONE));
			if (ed->depth_out > SL_ANCESTRY_MAX) {
				cfg_path_fmt(path, "%s.edges[%u].split", parent,
					     ed->id);
				return cfg_fail(c, dag->edge_split[ed->id],
						path,
						"splitting depth %u streams "
						"needs depth "
						"%u, at most %u",
						ed->depth_in, ed->depth_out,
						SL_ANCESTRY_MAX);
			}
		}
	}
	pl->single_output = to_client == 1 && last_out->depth_out == 1;
	return check_depths(c, pl, dag, parent);
}

/*
 * guard: required. Every edge back to the client must carry a guard that
 * filters: rules, and an action that stops or masks (block, redact). A
 * weaker rule, "every path from the request to the client passes some
 * guarded edge", would accept a pipeline guarded only on the client's
 * request, yet an engine writes banned text by itself (the model knows
 * the name) and an operator joins pieces into it; only the last hop sees
 * everything the client gets.
 */
int
cfg_check_guard_required(struct sl_cfg_ctx *c, const struct sl_pipeline_cfg *pl,
			 const struct sl_dag_nodes *dag, const yaml_node_t *req,
			 const char *parent)
{
	char path[SL_CFG_PATH_MAX];
	uint16_t e;

	for (e = 0; e < pl->n_edges; e++) {
		const struct sl_edge_cfg *ed = &pl->edges[e];
		const struct sl_guard_cfg *g;
		const char *from = sl_stage_name_of(pl, ed->from);

		if (ed->to != SL_STAGE_CLIENT)
			continue;
		if (dag->edges_key == NULL) {
			cfg_path_key(path, parent, "guard");
			return cfg_fail(c, req, path,
					"required, but a pipeline without "
					"edges: has no guards: stage \"%s\" "
					"returns to the client unfiltered",
					from);
		}
		cfg_path_fmt(path, "%s.edges[%u].guard", parent, e);
		if (ed->guard == 0)
			return cfg_fail(c, dag->edge[e], path,
					"missing: %s -> client returns to the "
					"client unfiltered, and the pipeline "
					"says guard: required (line %lu)",
					from, cfg_node_line(req));
		g = &c->cfg->guards[ed->guard - 1];
		if (g->ref == NULL)
			return cfg_fail(c, dag->edge_guard[e], path,
					"guard \"%s\" has no rules (a prefix "
					"only): %s -> client returns to the "
					"client unfiltered, and the pipeline "
					"says guard: required (line %lu)",
					g->name, from, cfg_node_line(req));
		if (g->action == SL_GUARD_ACTION_LOG)
			return cfg_fail(c, dag->edge_guard[e], path,
					"guard \"%s\" only logs (action: log): "
					"%s -> client returns to the client "
					"unfiltered, and the pipeline says "
					"guard: required (line %lu)",
					g->name, from, cfg_node_line(req));
	}
	return 0;
}
