/* SPDX-License-Identifier: MIT */
/*
 * sl_tune_sim.h - one tuning job against a fleet of simulated nodes
 * (issue 16, `sluicectl tune`): the tuners of sl_tune.h on sluice-sim
 * nodes (tools/sim), over the configurations SetPolicy can apply to a
 * running pool (sl_sim_space_policy: policy, load_bound, warm_prefixes).
 *
 * The fleet is sl_sim_fleet's Poisson nodes (each its own sluicegen seed
 * and rate, paper B's heterogeneity p); a node's error for a
 * configuration after r resource units is 1 - its SLO attainment over
 * r x unit_requests simulated requests (sl_sim_run), computed when a
 * tuner first asks and kept for the rest of the job. Evaluations are
 * sl_tune's: a fresh subsample of n_c nodes with systems bias b, Laplace
 * noise at the tuner's scale, clipped; the job's epsilon is charged to an
 * accountant (struct sl_tune_budget) of the given total, which refuses a
 * job it cannot pay before anything runs. Resource: RS evaluates each
 * configuration at max_units; Hyperband's R is max_units; one-shot proxy
 * RS tunes on a public proxy fleet (sl_sim_fleet_proxy) at max_units,
 * noiseless, and deploys its winner once (no epsilon).
 *
 * The winner's true SLO attainment is its noiseless mean over every node
 * of the fleet at max_units: for the simulation only (no fleet would
 * release it).
 *
 * The header leaves the simulator's own headers out (sluicectl, which
 * includes it, has the control API's struct sl_frame, not the wire's).
 *
 * Errors: 0 or a negative errno with one line in @err: -EINVAL (a
 * parameter out of range: "FIELD: must be ..."), -ENOSPC (the budget
 * cannot pay the job: nothing run, nothing spent), -ENOMEM, -EIO (the
 * random source), a simulation's error.
 */
#ifndef SL_TUNE_SIM_H
#define SL_TUNE_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "sl_tune.h"

enum sl_tune_sim_tuner {
	SL_TUNE_SIM_RS,
	SL_TUNE_SIM_HB,
	SL_TUNE_SIM_PROXY,
};

/* Bounds of the parameters. */
#define SL_TUNE_SIM_NODES_MAX 4096
#define SL_TUNE_SIM_UNIT_MAX 1000  /* requests a unit */
#define SL_TUNE_SIM_UNITS_MAX 81   /* max_units */
#define SL_TUNE_SIM_TRIALS_MAX 128 /* configurations a space may have */

/* A configuration of the space, as SetPolicy takes it. */
struct sl_tune_sim_config {
	const char *policy;         /* "prompt_aware", ... (sl_balance_name) */
	double load_bound;          /* 0: left as the pool has it */
	unsigned int warm_prefixes; /* 0: left as the pool has it */
	char name[96];              /* "prompt_aware pool:7 lb 1.25 warm 2
				     * cache 1" (sl_sim_config_name) */
};

struct sl_tune_sim_params {
	enum sl_tune_sim_tuner tuner;
	unsigned int nodes;         /* the fleet, 1..SL_TUNE_SIM_NODES_MAX */
	unsigned int n_c;           /* nodes an evaluation samples, 1..nodes */
	double epsilon;             /* the job's, > 0; INFINITY: no DP */
	double budget;              /* the accountant's total, > 0 */
	double bias;                /* systems bias b >= 0 */
	double heterogeneity;       /* p in [0, 1] */
	uint64_t seed;              /* fleet, configurations, subsamples */
	bool noise_seeded;          /* Laplace noise from noise_seed; else */
	uint64_t noise_seed;        /* getrandom(2) (sl_rng_os) */
	unsigned int trials;        /* RS, proxy: configurations, 1..space */
	unsigned int max_units;     /* full fidelity, HB's R */
	unsigned int eta;           /* HB's */
	unsigned int unit_requests; /* simulated requests a unit a node */
	unsigned int cache;         /* the engines' prefix cache slots */
	unsigned int proxy_nodes;   /* proxy RS's public fleet */
	double slo_ms;              /* the latency target */
};

/* The defaults `sluicectl tune` documents. */
void sl_tune_sim_defaults(struct sl_tune_sim_params *p);

/* "rs", "hb", "proxy"; sl_tune_sim_tuner_parse gives -1 for another. */
const char *sl_tune_sim_tuner_name(enum sl_tune_sim_tuner t);
int sl_tune_sim_tuner_parse(const char *s);

/* One evaluation, as the progress callback sees it. */
struct sl_tune_sim_progress {
	const struct sl_tune_step *step; /* sl_tune's */
	const struct sl_tune_sim_config *config;
	uint64_t trial;       /* this evaluation, 1.. */
	uint64_t trials;      /* the job's evaluations in all */
	double epsilon_spent; /* the accountant's, after the charge */
	double epsilon_left;  /* its total less that */
	bool proxy;           /* evaluated on the public proxy fleet */
};

struct sl_tune_sim_result {
	struct sl_tune_result tune;       /* sl_tune's */
	struct sl_tune_sim_config config; /* the winner */
	double value;                     /* its released (or proxy) value */
	double true_attainment;           /* every node, max_units, noiseless */
	uint64_t trials;                  /* evaluations made */
	uint64_t sim_runs;                /* sl_sim_run calls */
	double epsilon_spent;             /* the accountant's */
	double epsilon_left;
	unsigned int space; /* configurations in the space */
};

/*
 * sl_tune_sim_plan - the evaluations @p's job makes (RS, proxy: trials;
 * HB: its plan's) into @trials and the space's size into @space, after
 * checking @p. Returns 0 or -EINVAL with "FIELD: ..." in @err.
 */
int sl_tune_sim_plan(const struct sl_tune_sim_params *p, uint64_t *trials,
		     unsigned int *space, char *err, size_t errlen);

/*
 * sl_tune_sim_run - run @p's job; @progress (may be NULL) is called after
 * each evaluation. Returns 0 with @out filled, or a negative errno with
 * @err set (see above).
 */
int sl_tune_sim_run(const struct sl_tune_sim_params *p,
		    void (*progress)(void *ctx,
				     const struct sl_tune_sim_progress *pr),
		    void *ctx, struct sl_tune_sim_result *out, char *err,
		    size_t errlen);

#endif /* SL_TUNE_SIM_H */
