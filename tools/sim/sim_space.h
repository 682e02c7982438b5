/* SPDX-License-Identifier: MIT */
/*
 * sim_space.h - what the tuners of tools/tune tune on sluice-sim nodes
 * (issue 16): the scheduling configurations (the search space) and a
 * fleet of nodes with non-IID traffic. One copy, used by
 * tools/bench/tune.c (tune.sh) and by `sluicectl tune`.
 *
 * A configuration is a policy of the LM stages with its layout of the 7
 * LM instances (a pool shared by the three stages, or instances pinned to
 * each), the pool's load_bound and warm_prefixes (prompt_aware's, the
 * only policy that reads them) and the engines' prefix cache slots.
 * Two spaces are built from one table of values:
 *
 *   sl_sim_space_bench   tune.sh's 45: prompt_aware on the pool crossed
 *                        with 4 load_bounds, 2 warm_prefixes and 3 cache
 *                        sizes (24), then per cache size least_loaded and
 *                        round_robin on the pool and hash_request on five
 *                        pinned layouts (21)
 *   sl_sim_space_policy  what SetPolicy changes on a running pool (its
 *                        policy, load_bound and warm_prefixes; layout and
 *                        cache are the deployment's): on the pool with a
 *                        given cache size, prompt_aware crossed with the
 *                        4 load_bounds and 2 warm_prefixes, then
 *                        least_loaded, round_robin and hash_request (11)
 *
 * A fleet (sl_sim_fleet): each node its own sluicegen seed and either
 * Poisson questions at its own rate or its own window of an Azure LLM
 * trace at its own rate; the heterogeneity p moves every node's rate
 * towards its kind's median (p = 0 the natural non-IID fleet, p = 1 the
 * same rate everywhere), paper B's p.
 */
#ifndef SL_SIM_SPACE_H
#define SL_SIM_SPACE_H

#include <stddef.h>
#include <stdint.h>

#include "sim.h"

/* Configurations in a space, at most. */
#define SL_SIM_SPACE_MAX 128

/* Layouts of the 7 LM instances; 0 is the pool of 7. */
struct sl_sim_layout {
	const char *name;                  /* "pool:7", "pinned:2/2/3" */
	unsigned int pinned[SL_SIM_ROLES]; /* all 0: the pool */
};

extern const struct sl_sim_layout sl_sim_layouts[];
extern const unsigned int sl_sim_n_layouts;

/* One configuration. */
struct sl_sim_config {
	enum sl_balance policy;
	unsigned int layout;        /* index in sl_sim_layouts */
	double load_bound;          /* 0: the pipeline's (not prompt_aware) */
	unsigned int warm_prefixes; /* 0: the pipeline's */
	unsigned int cache;         /* the engines' prefix cache slots */
};

/**
 * sl_sim_space_bench - tune.sh's space (above, in that order) into @out
 * (SL_SIM_SPACE_MAX entries). Return the count, 45.
 */
unsigned int sl_sim_space_bench(struct sl_sim_config *out);

/**
 * sl_sim_space_policy - the configurations SetPolicy can apply to a pool
 * whose engines keep @cache prefix slots (above, in that order) into
 * @out (SL_SIM_SPACE_MAX entries). Return the count, 11.
 */
unsigned int sl_sim_space_policy(struct sl_sim_config *out, unsigned int cache);

/**
 * sl_sim_config_knobs - set @k's scheduling, layout and cache knobs to
 * @c's (the rest of @k is left as it is).
 */
void sl_sim_config_knobs(const struct sl_sim_config *c, struct sl_sim_knobs *k);

/**
 * sl_sim_config_name - "prompt_aware pool:7 lb 1.25 warm 2 cache 1" or
 * "hash_request pinned:2/2/3 cache 0" into @buf (@cap bytes).
 */
void sl_sim_config_name(const struct sl_sim_config *c, char *buf, size_t cap);

/* --- a fleet ------------------------------------------------------------- */

enum sl_sim_traffic {
	SL_SIM_TRAFFIC_POISSON,
	SL_SIM_TRAFFIC_CONV, /* the Azure conversation trace */
	SL_SIM_TRAFFIC_CODE, /* the Azure code trace */
	SL_SIM_TRAFFIC_KINDS
};

struct sl_sim_node {
	enum sl_sim_traffic kind;
	double rate;          /* model requests/s */
	double trace_start_s; /* a trace node's window */
	uint64_t seed;        /* sluicegen --seed */
};

/* "poisson", "azure-conv", "azure-code". */
const char *sl_sim_traffic_name(enum sl_sim_traffic kind);

/* The trace file of @kind in the source tree, NULL for Poisson. */
const char *sl_sim_traffic_trace(enum sl_sim_traffic kind);

/**
 * sl_sim_fleet - @nodes nodes into @out: each a trace node with
 * probability @trace_share (half conv, half code), else Poisson; a
 * log-normal rate around its kind's median (Poisson 20, conv 2, code 3
 * model requests/s; sigma of the log 0.45, 0.5, 0.5; clipped to [4, 40],
 * [0.5, 6], [0.5, 8]) whose spread is scaled by 1 - @heterogeneity; a
 * trace window start in [0, 2800) trace seconds; seed 1000 + i. Draws
 * from sl_rng_seeded(@seed): the same arguments, the same fleet.
 */
void sl_sim_fleet(struct sl_sim_node *out, unsigned int nodes,
		  double trace_share, double heterogeneity, uint64_t seed);

/**
 * sl_sim_fleet_proxy - a public proxy fleet of @nodes nodes into @out:
 * the operator's own benchmark traffic, Poisson questions at rates on a
 * geometric grid from 6 to 30 model requests/s, seeds 900000 + i.
 */
void sl_sim_fleet_proxy(struct sl_sim_node *out, unsigned int nodes);

/**
 * sl_sim_node_knobs - set @k's workload to node @n's: its trace (NULL
 * for Poisson) and window, its rate and its seed.
 */
void sl_sim_node_knobs(const struct sl_sim_node *n, struct sl_sim_knobs *k);

#endif /* SL_SIM_SPACE_H */
