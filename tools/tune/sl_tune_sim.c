/* SPDX-License-Identifier: MIT */
/*
 * sl_tune_sim.c - one tuning job against a fleet of sluice-sim nodes
 * (sl_tune_sim.h): the fleet, a lazily filled table of node errors, and
 * sl_tune's tuners over the SetPolicy space.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_space.h"
#include "sl_tune_sim.h"

/* Distinct resource values a job evaluates at, at most (HB: its rungs). */
#define LEVELS_MAX SL_TUNE_HB_BRACKETS_MAX

static const char *const tuner_names[] = {
	[SL_TUNE_SIM_RS] = "rs",
	[SL_TUNE_SIM_HB] = "hb",
	[SL_TUNE_SIM_PROXY] = "proxy",
};

void
sl_tune_sim_defaults(struct sl_tune_sim_params *p)
{
	*p = (struct sl_tune_sim_params){
		.tuner = SL_TUNE_SIM_RS,
		.nodes = 20,
		.n_c = 0, /* 0: 1 % of the nodes, at least 1 */
		.epsilon = 10,
		.budget = 0, /* 0: the job's epsilon */
		.bias = 0,
		.heterogeneity = 0,
		.seed = 1,
		.trials = 8,
		.max_units = 9,
		.eta = 3,
		.unit_requests = 20,
		.cache = SL_SIM_DEFAULT_PREFIX_CACHE,
		.proxy_nodes = 10,
		.slo_ms = SL_SIM_DEFAULT_SLO_MS,
	};
}

const char *
sl_tune_sim_tuner_name(enum sl_tune_sim_tuner t)
{
	return (unsigned int)t <= SL_TUNE_SIM_PROXY ? tuner_names[t] : "?";
}

int
sl_tune_sim_tuner_parse(const char *s)
{
	for (int t = SL_TUNE_SIM_RS; t <= SL_TUNE_SIM_PROXY; t++)
		if (strcmp(s, tuner_names[t]) == 0)
			return t;
	return -1;
}

/* A fleet and its table: err[(config * levels + level) * nodes + node],
 * NaN until simulated. */
struct fleet {
	unsigned int nodes;
	struct sl_sim_node *node;
	double *err;
};

/* The job: its parameters, space, fleets and the caller's progress. */
struct job {
	const struct sl_tune_sim_params *p;
	struct sl_sim_config space[SL_SIM_SPACE_MAX];
	struct sl_tune_sim_config shown[SL_SIM_SPACE_MAX];
	unsigned int n_space;
	unsigned int level_units[LEVELS_MAX];
	unsigned int levels;
	struct fleet fleet, proxy;
	struct sl_sim_data *data;
	uint64_t sim_runs;
	uint64_t trials;
	struct sl_tune_budget *budget;
	bool on_proxy; /* proxy RS's public phase */
	void (*progress)(void *ctx, const struct sl_tune_sim_progress *pr);
	void *ctx;
	char *err;
	size_t errlen;
};

static int
fleet_init(struct fleet *f, const struct job *j, unsigned int nodes)
{
	size_t cells = (size_t)j->n_space * j->levels * nodes;

	f->nodes = nodes;
	f->node = calloc(nodes, sizeof(*f->node));
	f->err = malloc(cells * sizeof(double));
	if (!f->node || !f->err)
		return -ENOMEM;
	for (size_t i = 0; i < cells; i++)
		f->err[i] = NAN;
	return 0;
}

static void
fleet_free(struct fleet *f)
{
	free(f->node);
	free(f->err);
}

static int
level_of(const struct job *j, unsigned int units)
{
	for (unsigned int l = 0; l < j->levels; l++)
		if (j->level_units[l] == units)
			return (int)l;
	return -1;
}

/* The error of every node of @f for configuration @index after @units
 * units, simulated where not yet known. */
static int
fleet_errors(struct job *j, struct fleet *f, size_t index, unsigned int units,
	     double *errors)
{
	int level = level_of(j, units);
	double *row;

	if (level < 0 || index >= j->n_space)
		return -EINVAL;
	row = f->err + ((index * j->levels + (size_t)level) * f->nodes);
	for (unsigned int i = 0; i < f->nodes; i++) {
		struct sl_sim_knobs k;
		struct sl_sim_result r;
		int rc;

		if (isnan(row[i])) {
			sl_sim_knobs_default(&k);
			sl_sim_config_knobs(&j->space[index], &k);
			sl_sim_node_knobs(&f->node[i], &k);
			k.requests = units * j->p->unit_requests;
			k.warmup = 0;
			k.slo_ms = j->p->slo_ms;
			rc = sl_sim_check(&k, j->err, j->errlen);
			if (rc == 0)
				rc = sl_sim_run(&k, j->data, &r, j->err,
						j->errlen);
			if (rc != 0)
				return rc;
			j->sim_runs++;
			row[i] = 1 - r.attainment;
		}
		errors[i] = row[i];
	}
	return 0;
}

static int
private_errors(void *ctx, size_t index, const double *params,
	       unsigned int resource, double heterogeneity, double *errors)
{
	struct job *j = ctx;

	/* The fleet was drawn at the job's heterogeneity. */
	(void)params;
	(void)heterogeneity;
	return fleet_errors(j, &j->fleet, index, resource, errors);
}

static int
proxy_errors(void *ctx, size_t index, const double *params,
	     unsigned int resource, double heterogeneity, double *errors)
{
	struct job *j = ctx;

	(void)params;
	(void)heterogeneity;
	return fleet_errors(j, &j->proxy, index, resource, errors);
}

static void
space_params(void *ctx, size_t index, double *params)
{
	const struct job *j = ctx;
	const struct sl_sim_config *c = &j->space[index];

	params[0] = c->policy;
	params[1] = c->load_bound;
	params[2] = c->warm_prefixes;
}

static void
on_step(void *ctx, const struct sl_tune_step *step)
{
	struct job *j = ctx;
	struct sl_tune_sim_progress pr = {
		.step = step,
		.config = &j->shown[step->index],
		.trial = step->evaluations,
		.trials = j->trials,
		.epsilon_spent = j->budget ? j->budget->spent : 0,
		.epsilon_left = j->budget ? sl_tune_budget_remaining(j->budget)
					  : (j->p->budget > 0 ? j->p->budget
							      : j->p->epsilon),
		.proxy = j->on_proxy,
	};

	if (j->progress)
		j->progress(j->ctx, &pr);
}

static unsigned int
n_c_of(const struct sl_tune_sim_params *p)
{
	unsigned int n_c = (unsigned int)lround(p->nodes / 100.0);

	if (p->n_c > 0)
		return p->n_c;
	return n_c < 1 ? 1 : n_c;
}

int
sl_tune_sim_plan(const struct sl_tune_sim_params *p, uint64_t *trials,
		 unsigned int *space, char *err, size_t errlen)
{
	struct sl_sim_config cfg[SL_SIM_SPACE_MAX];
	unsigned int n = sl_sim_space_policy(cfg, p->cache);

#define REFUSE(...)                                                            \
	do {                                                                   \
		snprintf(err, errlen, __VA_ARGS__);                            \
		return -EINVAL;                                                \
	} while (0)

	if ((unsigned int)p->tuner > SL_TUNE_SIM_PROXY)
		REFUSE("tuner: must be rs, hb or proxy");
	if (p->nodes < 1 || p->nodes > SL_TUNE_SIM_NODES_MAX)
		REFUSE("nodes: must be 1..%u, got %u", SL_TUNE_SIM_NODES_MAX,
		       p->nodes);
	if (p->n_c > p->nodes)
		REFUSE("n-c: must be 1..%u (the nodes), got %u", p->nodes,
		       p->n_c);
	if (!(p->epsilon > 0))
		REFUSE("epsilon: must be above 0 (or inf)");
	if (!(p->budget >= 0) || isinf(p->budget))
		REFUSE("budget: must be above 0");
	if (!(p->bias >= 0) || isinf(p->bias))
		REFUSE("bias: must be 0 or more");
	if (!(p->heterogeneity >= 0 && p->heterogeneity <= 1))
		REFUSE("heterogeneity: must be in [0, 1]");
	if (p->max_units < 1 || p->max_units > SL_TUNE_SIM_UNITS_MAX)
		REFUSE("max-units: must be 1..%u, got %u",
		       SL_TUNE_SIM_UNITS_MAX, p->max_units);
	if (p->unit_requests < 1 || p->unit_requests > SL_TUNE_SIM_UNIT_MAX)
		REFUSE("unit-requests: must be 1..%u, got %u",
		       SL_TUNE_SIM_UNIT_MAX, p->unit_requests);
	if (p->cache > 64)
		REFUSE("prefix-cache: must be 0..64, got %u", p->cache);
	if (!(p->slo_ms > 0) || isinf(p->slo_ms))
		REFUSE("slo-ms: must be above 0");
	if (p->tuner == SL_TUNE_SIM_HB) {
		struct sl_tune_hb_plan plan;

		if (p->eta < 2 || p->eta > 16 ||
		    sl_tune_hb_plan(&plan, p->max_units, p->eta) != 0)
			REFUSE("eta: must be 2..16, got %u", p->eta);
		for (unsigned int s = 0; s <= plan.s_max; s++)
			if (plan.bracket[s].configs[0] > n)
				REFUSE("max-units: Hyperband's R %u, eta %u "
				       "starts a bracket of %u configurations, "
				       "more than the %u there are",
				       p->max_units, p->eta,
				       plan.bracket[s].configs[0], n);
		*trials = plan.evaluations;
	} else {
		if (p->trials < 1 || p->trials > n)
			REFUSE("trials: must be 1..%u (the configurations), "
			       "got %u",
			       n, p->trials);
		if (p->tuner == SL_TUNE_SIM_PROXY &&
		    (p->proxy_nodes < 1 ||
		     p->proxy_nodes > SL_TUNE_SIM_NODES_MAX))
			REFUSE("proxy-nodes: must be 1..%u, got %u",
			       SL_TUNE_SIM_NODES_MAX, p->proxy_nodes);
		*trials = p->trials;
	}
#undef REFUSE
	*space = n;
	return 0;
}

/* The levels (resource values) the job evaluates at. */
static void
levels_of(struct job *j)
{
	const struct sl_tune_sim_params *p = j->p;

	j->levels = 0;
	j->level_units[j->levels++] = p->max_units;
	if (p->tuner == SL_TUNE_SIM_HB) {
		struct sl_tune_hb_plan plan;

		sl_tune_hb_plan(&plan, p->max_units, p->eta);
		for (unsigned int s = 0; s <= plan.s_max; s++)
			for (unsigned int i = 0; i < plan.bracket[s].rungs; i++)
				if (level_of(j, plan.bracket[s].resource[i]) <
					    0 &&
				    j->levels < LEVELS_MAX)
					j->level_units[j->levels++] =
						plan.bracket[s].resource[i];
	}
}

int
sl_tune_sim_run(const struct sl_tune_sim_params *p,
		void (*progress)(void *ctx,
				 const struct sl_tune_sim_progress *pr),
		void *ctx, struct sl_tune_sim_result *out, char *err,
		size_t errlen)
{
	struct job *j;
	struct sl_tune_budget budget;
	struct sl_rng rng, noise_rng;
	struct sl_tune_space space;
	struct sl_tune_objective priv, pub;
	struct sl_tune_job tj;
	struct sl_tune_result res;
	double full[SL_TUNE_SIM_NODES_MAX];
	double eps_total = p->budget > 0 ? p->budget : p->epsilon;
	bool dp = isfinite(p->epsilon);
	uint64_t trials;
	unsigned int n_space;
	int rc;

	if ((rc = sl_tune_sim_plan(p, &trials, &n_space, err, errlen)))
		return rc;
	j = calloc(1, sizeof(*j));
	if (!j) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	j->p = p;
	j->n_space = sl_sim_space_policy(j->space, p->cache);
	for (unsigned int i = 0; i < j->n_space; i++) {
		struct sl_tune_sim_config *sc = &j->shown[i];

		sc->policy = sl_balance_name(j->space[i].policy);
		sc->load_bound = j->space[i].load_bound;
		sc->warm_prefixes = j->space[i].warm_prefixes;
		sl_sim_config_name(&j->space[i], sc->name, sizeof(sc->name));
	}
	j->trials = trials;
	j->progress = progress;
	j->ctx = ctx;
	j->err = err;
	j->errlen = errlen;
	levels_of(j);
	if ((rc = fleet_init(&j->fleet, j, p->nodes)) ||
	    (p->tuner == SL_TUNE_SIM_PROXY &&
	     (rc = fleet_init(&j->proxy, j, p->proxy_nodes)))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	sl_sim_fleet(j->fleet.node, p->nodes, 0, p->heterogeneity, p->seed);
	if (p->tuner == SL_TUNE_SIM_PROXY)
		sl_sim_fleet_proxy(j->proxy.node, p->proxy_nodes);
	j->data = sl_sim_data_open(NULL, NULL, err, errlen);
	if (!j->data) {
		rc = -ENOENT;
		goto out;
	}
	if (dp || isfinite(eps_total)) {
		if (sl_tune_budget_init(&budget, eps_total) != 0) {
			snprintf(err, errlen, "budget: must be above 0");
			rc = -EINVAL;
			goto out;
		}
		j->budget = &budget;
	}

	space = (struct sl_tune_space){
		.dim = 3, .size = j->n_space, .params = space_params, .ctx = j};
	priv = (struct sl_tune_objective){
		.nodes = p->nodes, .node_errors = private_errors, .ctx = j};
	pub = (struct sl_tune_objective){
		.nodes = p->proxy_nodes, .node_errors = proxy_errors, .ctx = j};
	sl_rng_seeded(&rng, p->seed);
	if (p->noise_seeded)
		sl_rng_seeded(&noise_rng, p->noise_seed);
	else
		sl_rng_os(&noise_rng);
	tj = (struct sl_tune_job){
		.space = &space,
		.objective = &priv,
		.noise = {.n_c = n_c_of(p),
			  .bias = p->bias,
			  .epsilon = p->epsilon,
			  .heterogeneity = p->heterogeneity},
		.budget = dp ? j->budget : NULL,
		.rng = &rng,
		.noise_rng = &noise_rng,
		.progress = on_step,
		.progress_ctx = j,
	};
	err[0] = '\0';
	switch (p->tuner) {
	case SL_TUNE_SIM_RS:
		rc = sl_tune_rs(&tj, p->trials, p->max_units, &res);
		break;
	case SL_TUNE_SIM_HB:
		rc = sl_tune_hyperband(&tj, p->max_units, p->eta, &res);
		break;
	default:
		tj.objective = &pub;
		tj.noise.n_c = p->proxy_nodes;
		tj.noise.epsilon = INFINITY;
		tj.noise.bias = 0;
		tj.noise.heterogeneity = 0;
		tj.budget = NULL;
		j->on_proxy = true;
		rc = sl_tune_proxy_rs(&tj, &priv, p->trials, p->max_units,
				      &res);
		break;
	}
	if (rc == -ENOSPC) {
		snprintf(err, errlen,
			 "privacy budget: the job needs epsilon %g, the "
			 "budget has %g left of %g; nothing run, nothing "
			 "spent",
			 p->epsilon, sl_tune_budget_remaining(j->budget),
			 j->budget->total);
		goto out;
	}
	if (rc != 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "tuner: %s", strerror(-rc));
		goto out;
	}
	/* The winner's true attainment: every node, full fidelity. */
	if ((rc = fleet_errors(j, &j->fleet, res.index, p->max_units, full)))
		goto out;
	memset(out, 0, sizeof(*out));
	out->tune = res;
	out->config = j->shown[res.index];
	out->value = res.value;
	out->true_attainment = 0;
	for (unsigned int i = 0; i < p->nodes; i++)
		out->true_attainment += (1 - full[i]) / p->nodes;
	out->trials = res.evaluations;
	out->sim_runs = j->sim_runs;
	out->epsilon_spent = j->budget ? j->budget->spent : 0;
	out->epsilon_left =
		j->budget ? sl_tune_budget_remaining(j->budget) : eps_total;
	out->space = j->n_space;
out:
	sl_sim_data_close(j->data);
	fleet_free(&j->fleet);
	fleet_free(&j->proxy);
	free(j);
	return rc;
}
