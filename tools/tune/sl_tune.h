/* SPDX-License-Identifier: MIT */
/*
 * sl_tune.h - tuning a fleet's knobs from noisy, private evaluations
 * (issue 16): the noise models, the tuners and the privacy accountant of
 * paper B (Kuo et al., "On Noisy Evaluation in Federated Hyperparameter
 * Tuning", MLSys 2023), as written up in
 * ../shared/docs/research/private_fedhpo.md ("Paper B"; the section
 * names below are that note's) and as its official code does it
 * (imkevinkuo/noisy-eval-in-fl, notebooks/analysis.ipynb: run_rs, run_hb).
 *
 * The metric is an error in [0, 1], lower is better, as in the paper (its
 * "error rate" e_i of node i). A caller tuning SLO attainment passes
 * 1 - attainment.
 *
 * One evaluation of a configuration ("Noise models - exact forms"):
 *
 *   per-node errors e_1..e_N (the caller's values or callback; non-IID
 *     traffic is the caller's, the heterogeneity p is passed through)
 *   -> a fresh subsample S of n_c distinct nodes, drawn one after the
 *      other with probability proportional to (1.0001 - e_i)^b among those
 *      not yet drawn (b = 0: uniform; n_c = N: every node, no draw)
 *   -> mean: with DP the uniform (1/n_c) sum_S e_i (sensitivity 1/n_c);
 *      without DP sum_S w_i e_i / sum_S w_i (w = node sizes, or uniform)
 *   -> + Laplace(scale) with DP, the scale from the tuner's composition:
 *        RS: N_cfg / (n_c eps)              (basic composition, N_cfg evals)
 *        HB: 2 T k_t / (n_c eps)            (report-noisy-top-k, T rounds)
 *   -> clipped to [0, 1]: the released value.
 *
 * Privacy unit: the node (client-level DP, as in the paper): replacing all
 * of one node's traffic moves a uniform mean of n_c values in [0, 1] by at
 * most 1/n_c. A tuning job holds one budget (struct sl_tune_budget); each
 * tuner charges it as its composition says and refuses to start a job the
 * budget cannot pay for.
 *
 * Two random sources: @rng draws configurations and subsamples (public
 * choices, reproducible); @noise_rng draws the Laplace noise and must be a
 * CSPRNG in production (sl_rng_os, or the caller's own next()).
 *
 * Errors: functions return 0 or a negative errno: -EINVAL for an argument
 * out of range (nothing is changed: no output written, no budget spent, no
 * random word drawn), -ENOSPC for a privacy budget that cannot pay, -ENOMEM,
 * -EDOM for a callback's node error outside [0, 1] or NaN, -EIO for a
 * random source that failed, or a callback's own negative code.
 *
 * Not thread-safe: a job, its budget and its random sources belong to one
 * thread.
 */
#ifndef SL_TUNE_H
#define SL_TUNE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_rng.h"

/* Parameters per configuration, at most. */
#define SL_TUNE_DIM_MAX 16

/* Largest fleet (N) and subsample an evaluation takes. */
#define SL_TUNE_NODES_MAX (1u << 24)

/* Systems bias: nodes are drawn with weight (SL_TUNE_BIAS_BASE - e_i)^b.
 * The paper's code uses 1.0001 rather than 1 so that a node with error 1
 * keeps a (tiny) chance to report ("Noise models", point 3). */
#define SL_TUNE_BIAS_BASE 1.0001

/* Hyperband: most brackets (s_max + 1) and largest R. */
#define SL_TUNE_HB_BRACKETS_MAX 16
#define SL_TUNE_HB_RESOURCE_MAX (1u << 24)

/* Paper B's Hyperband ("Tuning methods as implemented"): R = 81 units of
 * 5 rounds, eta = 3; and its RS: 16 configurations of 405 rounds. */
#define SL_TUNE_PAPER_HB_R 81
#define SL_TUNE_PAPER_HB_ETA 3
#define SL_TUNE_PAPER_UNIT_ROUNDS 5
#define SL_TUNE_PAPER_RS_CONFIGS 16

/* --- random sources ---------------------------------------------------- */

/*
 * Draws come from an sl_rng (control/sl_rng.h, shared with the cost
 * model): sl_rng_seeded for configurations and subsamples (and tests),
 * sl_rng_os (getrandom) or the caller's own source for the Laplace noise.
 */

/*
 * sl_tune_uniform - a uniform double in the open interval (0, 1):
 * (k + 1/2) 2^-53 for a uniform 53-bit k. Returns 0, or next()'s error.
 */
int sl_tune_uniform(struct sl_rng *rng, double *u);

/*
 * sl_tune_laplace - one draw of Laplace(0, @scale), density
 * exp(-|x|/scale) / (2 scale), variance 2 scale^2: one word, its top bit
 * the sign, its low 53 bits u in (0, 1), |x| = -scale ln u. @scale 0 gives
 * exactly 0 and draws nothing. Returns 0; -EINVAL for a negative or
 * non-finite @scale; next()'s error.
 */
int sl_tune_laplace(struct sl_rng *rng, double scale, double *out);

/* --- noise models -------------------------------------------------------- */

/* sl_tune_clip01 - @x clipped to [0, 1] ("All noisy evaluations are
 * clipped to [0, 1]"); NaN gives 1 (the worst error). */
double sl_tune_clip01(double x);

/*
 * sl_tune_bias_weights - the systems-bias sampling weights of @nodes
 * nodes with errors @error: w_i = (1.0001 - e_i)^@b / sum_j (1.0001 -
 * e_j)^@b, written to @w (computed in logs against the largest, so no
 * underflow to an all-zero vector for large b). Returns 0; -EINVAL for
 * @nodes 0, @b < 0 or not finite, an error outside [0, 1].
 */
int sl_tune_bias_weights(const double *error, unsigned int nodes, double b,
			 double *w);

/*
 * sl_tune_sample - draw @n_c distinct nodes of @nodes into @out (in draw
 * order): one after the other, each with probability proportional to its
 * bias weight among those not yet drawn, which is what numpy's
 * choice(N, n_c, replace=False, p=...) draws in the paper's code. @b 0
 * draws uniformly (a partial Fisher-Yates shuffle); @n_c == @nodes takes
 * 0..N-1 in order and draws nothing, as the paper's code does. Returns 0;
 * -EINVAL for @n_c 0 or > @nodes, @nodes > SL_TUNE_NODES_MAX, a bad @b or
 * error; -ENOMEM; next()'s error.
 */
int sl_tune_sample(struct sl_rng *rng, const double *error, unsigned int nodes,
		   unsigned int n_c, double b, unsigned int *out);

/*
 * sl_tune_rs_scale - the Laplace scale of one RS evaluation under basic
 * composition over @n_configs releases of sensitivity 1/@n_c:
 * n_configs / (n_c eps) (paper B, "Privacy", RS and TPE:
 * np.random.laplace(scale=N/(nc*dp_eps))). @epsilon INFINITY gives 0 (no
 * noise). Returns -1 for @n_configs or @n_c 0, or @epsilon not > 0.
 */
double sl_tune_rs_scale(unsigned int n_configs, unsigned int n_c,
			double epsilon);

/* sl_tune_rs_eval_epsilon - what one RS evaluation costs: eps / n_configs
 * (@n_configs of them spend exactly eps). -1 for bad arguments. */
double sl_tune_rs_eval_epsilon(unsigned int n_configs, double epsilon);

/* One released evaluation. */
struct sl_tune_eval {
	double value; /* released: clipped mean + noise */
	double mean;  /* the subsample's mean before noise: SECRET, for the
		       * simulator and tests, never to be shown */
	double noise; /* the Laplace draw added (0 without DP) */
	double scale; /* its scale */
};

/*
 * sl_tune_evaluate - one noisy evaluation from per-node values: a fresh
 * subsample of @n_c of the @nodes nodes drawn from @rng with bias @b
 * (sl_tune_sample), its mean, plus Laplace(@scale) from @noise_rng,
 * clipped to [0, 1]. With @scale > 0 (DP) the mean is uniform, which is
 * what bounds the sensitivity by 1/n_c; with @scale 0 it is weighted by
 * @weight (node sizes, > 0; NULL: uniform), the paper's non-DP evaluation.
 * @noise_rng may be NULL when @scale is 0, and may be @rng.
 * Returns 0; -EINVAL (a bad count, bias, scale, an error outside [0, 1],
 * a weight not > 0); -ENOMEM; a random source's error.
 */
int sl_tune_evaluate(struct sl_rng *rng, struct sl_rng *noise_rng,
		     const double *error, const double *weight,
		     unsigned int nodes, unsigned int n_c, double b,
		     double scale, struct sl_tune_eval *out);

/* --- the privacy budget of a tuning job ---------------------------------- */

/* Pure epsilon-DP, basic composition: spends add up. */
struct sl_tune_budget {
	double total;     /* epsilon of the job */
	double spent;     /* sum of the charges accepted */
	uint64_t charges; /* charges accepted */
	uint64_t refused; /* charges refused (nothing spent) */
};

/* sl_tune_budget_init - a job's budget of @epsilon, nothing spent.
 * Returns 0; -EINVAL for @epsilon not > 0 or not finite. */
int sl_tune_budget_init(struct sl_tune_budget *budget, double epsilon);

/*
 * sl_tune_budget_spend - charge @epsilon. A charge that would take the
 * spent total past the budget is refused whole: -ENOSPC, nothing spent
 * (only @refused counts it). Charges may overshoot by a relative 2^-40 of
 * the total so that T charges of eps/T (floating point) pay exactly eps.
 * Returns 0; -EINVAL for @epsilon not > 0 or not finite.
 */
int sl_tune_budget_spend(struct sl_tune_budget *budget, double epsilon);

/* sl_tune_budget_can_pay - whether @epsilon more would be accepted. */
bool sl_tune_budget_can_pay(const struct sl_tune_budget *budget,
			    double epsilon);

/* sl_tune_budget_remaining - total - spent, never below 0. */
double sl_tune_budget_remaining(const struct sl_tune_budget *budget);

/* --- search space, objective, job ---------------------------------------- */

/*
 * A search space: @dim parameters per configuration. Discrete: @size
 * configurations 0..size-1, drawn without replacement within a draw set
 * (as the paper draws 16 of its 128 logged runs), @params (may be NULL)
 * gives a configuration's parameters. Continuous: @size 0 and @sample
 * draws one configuration's parameters from @rng (0 or a negative errno);
 * configurations are then numbered by draw.
 */
struct sl_tune_space {
	unsigned int dim;
	size_t size;
	void (*params)(void *ctx, size_t index, double *params);
	int (*sample)(void *ctx, struct sl_rng *rng, double *params);
	void *ctx;
};

/*
 * The objective on a fleet of @nodes nodes: node_errors() writes the error
 * in [0, 1] of configuration (@index, @params) after @resource units (HB's
 * r_i; RS's fixed resource) on each node into @errors[0..nodes-1], under
 * data heterogeneity @heterogeneity (paper B's p: 0 the natural non-IID
 * split, 1 IID; the caller's simulator decides what it means). Returns 0
 * or a negative errno, which ends the tuner with it. @weight: node sizes
 * for the non-DP weighted mean (NULL: uniform).
 */
struct sl_tune_objective {
	unsigned int nodes;
	int (*node_errors)(void *ctx, size_t index, const double *params,
			   unsigned int resource, double heterogeneity,
			   double *errors);
	const double *weight;
	void *ctx;
};

/* How evaluations are made noisy. */
struct sl_tune_noise {
	unsigned int n_c;     /* nodes per evaluation, 1..N */
	double bias;          /* systems bias b >= 0 */
	double epsilon;       /* the job's epsilon > 0; INFINITY: no DP */
	double heterogeneity; /* p in [0, 1], passed to node_errors() */
};

/* One evaluation made by a tuner, given to the job's progress callback. */
struct sl_tune_step {
	unsigned int bracket;  /* HB: s; RS: 0 */
	unsigned int rung;     /* HB: i; RS: 0 */
	unsigned int resource; /* units the configuration had */
	size_t index;          /* configuration */
	double value;          /* released evaluation */
	double scale;          /* its Laplace scale */
	double charged;        /* epsilon charged before this evaluation */
	double full;           /* the full noiseless mean: SECRET (simulator) */
	uint64_t evaluations;  /* evaluations so far, this one included */
	uint64_t budget;       /* resource units so far */
	double epsilon_spent;  /* budget->spent after the charge */
};

/* A tuning job: what it tunes, where, and how noisy. */
struct sl_tune_job {
	const struct sl_tune_space *space;
	const struct sl_tune_objective *objective;
	struct sl_tune_noise noise;
	struct sl_tune_budget *budget; /* NULL only with epsilon INFINITY */
	struct sl_rng *rng;            /* configurations and subsamples */
	struct sl_rng *noise_rng;      /* Laplace noise; NULL: @rng */
	void (*progress)(void *ctx, const struct sl_tune_step *step);
	void *progress_ctx;
};

/* What a tuner chose and what it cost. */
struct sl_tune_result {
	size_t index;                   /* chosen configuration */
	double params[SL_TUNE_DIM_MAX]; /* its parameters (0 if none) */
	unsigned int resource;          /* the units it was evaluated at */
	double value;                   /* its released evaluation */
	double true_error;              /* full noiseless mean at @resource:
					* SECRET, for the simulator and
					* benchmarks (the paper's "full
					* validation error") */
	uint64_t evaluations;           /* evaluations made (any objective) */
	uint64_t budget;              /* resource units spent (any objective) */
	uint64_t private_evaluations; /* evaluations of the tuned fleet */
	uint64_t private_budget;      /* resource units on the tuned fleet */
	double epsilon_spent;         /* charged to the job's budget */
};

/* --- tuners -------------------------------------------------------------- */

/*
 * sl_tune_rs - random search (paper B, "Tuning methods as implemented",
 * RS; run_rs): draw @n_configs configurations (discrete: without
 * replacement), evaluate each once after @resource units with a fresh
 * subsample and Laplace(n_configs / (n_c eps)), and choose the first
 * lowest released value. Charges eps / n_configs before each evaluation;
 * refuses (-ENOSPC, nothing drawn or spent) a job whose budget cannot pay
 * eps in all. Budget: n_configs * resource units. Returns 0; -EINVAL
 * (@n_configs 0, a discrete space smaller than @n_configs, @resource 0,
 * a bad noise setting or space, no budget with DP); -ENOSPC; -ENOMEM;
 * -EDOM; a callback's or random source's error (evaluations released
 * before it stay charged).
 */
int sl_tune_rs(const struct sl_tune_job *job, unsigned int n_configs,
	       unsigned int resource, struct sl_tune_result *out);

/* Hyperband's brackets (paper B's run_hb; Li et al. 2018). */
struct sl_tune_hb_bracket {
	unsigned int rungs;                             /* s + 1 */
	unsigned int configs[SL_TUNE_HB_BRACKETS_MAX];  /* evaluated at rung */
	unsigned int resource[SL_TUNE_HB_BRACKETS_MAX]; /* r_i units */
	unsigned int keep[SL_TUNE_HB_BRACKETS_MAX];     /* k_t: noise's k */
};

struct sl_tune_hb_plan {
	unsigned int max_resource; /* R */
	unsigned int eta;
	unsigned int s_max;     /* floor(log_eta R) */
	unsigned int rounds;    /* T = s_max (s_max + 1) / 2 + 1 */
	unsigned int finalists; /* configurations at last rungs, all */
	uint64_t evaluations;   /* in all brackets */
	uint64_t budget;        /* units in all brackets */
	struct sl_tune_hb_bracket bracket[SL_TUNE_HB_BRACKETS_MAX]; /* [s] */
};

/*
 * sl_tune_hb_plan - Hyperband's brackets for R = @max_resource units and
 * @eta, as paper B's run_hb computes them: s_max = floor(log_eta R);
 * bracket s (run from s_max down to 0) starts n = ceil((s_max + 1)
 * eta^s / (s + 1)) configurations at r = R eta^-s units; rung i evaluates
 * configs[i] of them at resource[i] = floor(r eta^i) units and keeps
 * max(1, configs[i] / eta) for the next. With R = 81, eta = 3 (units of 5
 * rounds): 81x5 -> 27x15 -> 9x45 -> 3x135 -> 1x405; 34x15 -> 11 -> 3 -> 1;
 * 15x45 -> 5 -> 1; 8x135 -> 2; 5x405.
 *
 * Privacy ("Privacy", HB): report-noisy-top-k composed over T elimination
 * rounds, T = sum_s s eliminations plus one final selection among the
 * finalists (the configurations that reach the last rung of every
 * bracket); keep[i] = k_t: configs[i] / eta at an eliminating rung,
 * finalists at a last rung. For the paper's R, eta: T = 11, finalists =
 * 10 (run_hb: 2*11*(n_i//eta) and 2*11*10).
 *
 * Budget: a configuration kept from rung i-1 resumes, so rung i costs
 * resource[i] - resource[i-1] units a configuration (resource[-1] = 0);
 * 1581 units for the paper's plan, 206 evaluations.
 * Returns 0; -EINVAL for @eta < 2, @max_resource 0 or above
 * SL_TUNE_HB_RESOURCE_MAX, or more than SL_TUNE_HB_BRACKETS_MAX brackets.
 */
int sl_tune_hb_plan(struct sl_tune_hb_plan *plan, unsigned int max_resource,
		    unsigned int eta);

/*
 * sl_tune_hb_scale - the Laplace scale at rung @rung of bracket @bracket:
 * 2 T k_t / (n_c eps) (paper B, "Privacy", HB). @epsilon INFINITY gives 0.
 * Returns -1 for a bracket or rung outside @plan, @n_c 0, @epsilon not > 0.
 */
double sl_tune_hb_scale(const struct sl_tune_hb_plan *plan,
			unsigned int bracket, unsigned int rung,
			unsigned int n_c, double epsilon);

/*
 * sl_tune_hb_round_epsilon - what rung @rung of bracket @bracket costs:
 * eps / T for an eliminating rung (one noisy top-k round); the final
 * selection's eps / T shared by the brackets' last rungs in proportion to
 * their finalists (eps / T * configs / finalists), so the whole plan costs
 * exactly eps. -1 for bad arguments.
 */
double sl_tune_hb_round_epsilon(const struct sl_tune_hb_plan *plan,
				unsigned int bracket, unsigned int rung,
				double epsilon);

/*
 * sl_tune_hyperband - Hyperband with noisy elimination (paper B's run_hb):
 * for each bracket of sl_tune_hb_plan(@max_resource, @eta), from s_max
 * down: draw its n configurations (discrete: without replacement, afresh
 * per bracket), then per rung charge sl_tune_hb_round_epsilon, evaluate
 * every surviving configuration after resource[i] units (fresh subsample,
 * Laplace(sl_tune_hb_scale), clipped) and keep the max(1, configs / eta)
 * lowest values (stable: ties keep the earlier). The choice is the
 * configuration with the lowest released value over every evaluation made,
 * a tie going to the one evaluated at more units, as run_hb's incumbent
 * trace does. Refuses (-ENOSPC, nothing drawn or spent) a job whose budget
 * cannot pay eps. Returns as sl_tune_rs, and -EINVAL for a bad plan or a
 * discrete space smaller than a bracket's n.
 */
int sl_tune_hyperband(const struct sl_tune_job *job, unsigned int max_resource,
		      unsigned int eta, struct sl_tune_result *out);

/*
 * sl_tune_proxy_rs - one-shot proxy RS (paper B, "Proxy method"): random
 * search over @n_configs configurations on the public @job->objective (the
 * proxy) with full, noiseless evaluation (every proxy node, no bias, no
 * noise; @job->noise, @job->budget and @job->noise_rng are not used), then
 * the winner deployed once on the private @deploy fleet for @resource
 * units: no evaluation released from it, no epsilon spent. Both
 * objectives index the same configurations (the paper reuses seeds so a
 * proxy run maps onto a private one). @out->true_error is the winner's
 * full error on @deploy (for the simulator); @out->value its proxy error;
 * private_evaluations 0, private_budget @resource. Returns as sl_tune_rs.
 */
int sl_tune_proxy_rs(const struct sl_tune_job *job,
		     const struct sl_tune_objective *deploy,
		     unsigned int n_configs, unsigned int resource,
		     struct sl_tune_result *out);

#endif /* SL_TUNE_H */
