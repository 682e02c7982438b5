/* SPDX-License-Identifier: MIT */
/*
 * sl_tune.c - the tuners: random search, Hyperband with noisy
 * elimination and one-shot proxy RS (sl_tune.h; paper B, "Tuning methods
 * as implemented" and "Proxy method"), and Hyperband's plan and privacy
 * composition ("Noise models - exact forms", point 4).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sl_tune_int.h"

/* --- job checks ------------------------------------------------------------ */

static bool
space_ok(const struct sl_tune_space *space)
{
	return space && space->dim <= SL_TUNE_DIM_MAX &&
	       (space->size > 0 || space->sample);
}

static bool
objective_ok(const struct sl_tune_objective *obj)
{
	return obj && obj->node_errors && obj->nodes > 0 &&
	       obj->nodes <= SL_TUNE_NODES_MAX &&
	       sl_tune_weights_ok(obj->weight, obj->nodes);
}

static bool
private_eval(const struct sl_tune_noise *noise)
{
	return !isinf(noise->epsilon);
}

/* Everything a tuner reads from @job, checked before anything is drawn. */
static bool
job_ok(const struct sl_tune_job *job)
{
	const struct sl_tune_noise *nz;

	if (!job || !job->rng || !space_ok(job->space) ||
	    !objective_ok(job->objective))
		return false;
	nz = &job->noise;
	if (nz->n_c == 0 || nz->n_c > job->objective->nodes)
		return false;
	if (!(nz->bias >= 0) || !isfinite(nz->bias))
		return false;
	if (!(nz->epsilon > 0)) /* NaN too */
		return false;
	if (!(nz->heterogeneity >= 0 && nz->heterogeneity <= 1))
		return false;
	return !private_eval(nz) || job->budget;
}

/* --- configurations ------------------------------------------------------ */

/* A tuner's drawn configurations: index and parameters of each. */
struct cfg_set {
	unsigned int n;
	unsigned int dim;
	size_t *index;
	double *params; /* n x dim */
};

static int
cfg_alloc(struct cfg_set *c, unsigned int n, unsigned int dim)
{
	c->n = 0;
	c->dim = dim;
	c->index = malloc(n * sizeof(*c->index));
	c->params = calloc((size_t)n * (dim ? dim : 1), sizeof(*c->params));
	if (!c->index || !c->params) {
		free(c->index);
		free(c->params);
		return -ENOMEM;
	}
	return 0;
}

static void
cfg_free(struct cfg_set *c)
{
	free(c->index);
	free(c->params);
}

static double *
cfg_params(const struct cfg_set *c, unsigned int j)
{
	return c->params + (size_t)j * c->dim;
}

/*
 * Draw @n configurations into @c: a discrete space without replacement
 * (as np.random.choice(runs, n, replace=False)), a continuous one by its
 * sampler, numbered from *@next_draw on.
 */
static int
cfg_draw(const struct sl_tune_space *space, struct sl_rng *rng, unsigned int n,
	 size_t *next_draw, struct cfg_set *c)
{
	int rc;

	c->n = n;
	if (space->size == 0) {
		for (unsigned int j = 0; j < n; j++) {
			c->index[j] = (*next_draw)++;
			rc = space->sample(space->ctx, rng, cfg_params(c, j));
			if (rc)
				return rc < 0 ? rc : -EIO;
		}
		return 0;
	}
	if (space->size <= (1u << 24)) {
		/* Partial Fisher-Yates over every index. */
		size_t *perm = malloc(space->size * sizeof(*perm));

		if (!perm)
			return -ENOMEM;
		for (size_t i = 0; i < space->size; i++)
			perm[i] = i;
		for (unsigned int j = 0; j < n; j++) {
			uint64_t r;
			size_t t;

			rc = sl_tune_uniform_below(rng, space->size - j, &r);
			if (rc) {
				free(perm);
				return rc;
			}
			t = perm[j];
			perm[j] = perm[j + r];
			perm[j + r] = t;
			c->index[j] = perm[j];
		}
		free(perm);
	} else {
		/* Too many to list: redraw duplicates (n << size). */
		for (unsigned int j = 0; j < n; j++) {
			uint64_t r;
			unsigned int k;

			do {
				rc = sl_tune_uniform_below(rng, space->size,
							   &r);
				if (rc)
					return rc;
				for (k = 0; k < j && c->index[k] != r; k++)
					;
			} while (k < j);
			c->index[j] = r;
		}
	}
	if (space->params)
		for (unsigned int j = 0; j < n; j++)
			space->params(space->ctx, c->index[j],
				      cfg_params(c, j));
	return 0;
}

/* --- one evaluation by a tuner --------------------------------------------- */

/* What a tuner is doing now: the job, its scratch, its running totals. */
struct run {
	const struct sl_tune_job *job;
	const struct sl_tune_objective *obj;
	struct sl_tune_ws ws;
	uint64_t evaluations;
	uint64_t budget;
	double epsilon_spent;
};

/* The full noiseless mean (the paper's "full validation error"): uniform
 * under DP, else weighted. */
static double
full_mean(const struct run *run, const double *errors)
{
	return sl_tune_mean(errors, run->obj->weight, NULL, run->obj->nodes,
			    private_eval(&run->job->noise));
}

/* The node errors of configuration @j of @c after @resource units. */
static int
node_errors(struct run *run, const struct sl_tune_objective *obj,
	    const struct cfg_set *c, unsigned int j, unsigned int resource)
{
	int rc = obj->node_errors(obj->ctx, c->index[j], cfg_params(c, j),
				  resource, run->job->noise.heterogeneity,
				  run->ws.errors);

	if (rc)
		return rc < 0 ? rc : -EIO;
	/* A value outside [0, 1] would break the 1/n_c sensitivity. */
	return sl_tune_errors_ok(run->ws.errors, obj->nodes) ? 0 : -EDOM;
}

/*
 * Evaluate configuration @j of @c after @resource units: node errors,
 * then @charge epsilon (0: none), then the released value. @step gets
 * everything but the tuner's position.
 */
static int
evaluate(struct run *run, const struct cfg_set *c, unsigned int j,
	 unsigned int resource, double scale, double charge,
	 struct sl_tune_step *step)
{
	const struct sl_tune_job *job = run->job;
	struct sl_rng *noise_rng = job->noise_rng ? job->noise_rng : job->rng;
	struct sl_tune_eval ev;
	int rc;

	if ((rc = node_errors(run, run->obj, c, j, resource)))
		return rc;
	if (charge > 0) {
		if ((rc = sl_tune_budget_spend(job->budget, charge)))
			return rc;
		run->epsilon_spent += charge;
	}
	rc = sl_tune_release_ws(&run->ws, job->rng, noise_rng, run->ws.errors,
				run->obj->weight, job->noise.n_c,
				job->noise.bias, scale, &ev);
	if (rc)
		return rc;
	run->evaluations++;
	step->resource = resource;
	step->index = c->index[j];
	step->value = ev.value;
	step->scale = scale;
	step->charged = charge;
	step->full = full_mean(run, run->ws.errors);
	step->evaluations = run->evaluations;
	step->epsilon_spent = job->budget ? job->budget->spent : 0;
	return 0;
}

static void
report(const struct run *run, struct sl_tune_step *step)
{
	step->budget = run->budget;
	if (run->job->progress)
		run->job->progress(run->job->progress_ctx, step);
}

static void
choose(struct sl_tune_result *res, const struct cfg_set *c, unsigned int j,
       const struct sl_tune_step *step)
{
	res->index = c->index[j];
	memset(res->params, 0, sizeof(res->params));
	memcpy(res->params, cfg_params(c, j), c->dim * sizeof(double));
	res->resource = step->resource;
	res->value = step->value;
	res->true_error = step->full;
}

static void
finish(const struct run *run, struct sl_tune_result *res)
{
	res->evaluations = run->evaluations;
	res->budget = run->budget;
	res->private_evaluations = run->evaluations;
	res->private_budget = run->budget;
	res->epsilon_spent = run->epsilon_spent;
}

/* --- random search ------------------------------------------------------- */

/* RS on @obj with @job's noise (already checked). */
static int
rs_run(const struct sl_tune_job *job, const struct sl_tune_objective *obj,
       unsigned int n_configs, unsigned int resource,
       struct sl_tune_result *out)
{
	const struct sl_tune_noise *nz = &job->noise;
	bool dp = private_eval(nz);
	double scale = sl_tune_rs_scale(n_configs, nz->n_c, nz->epsilon);
	double charge =
		dp ? sl_tune_rs_eval_epsilon(n_configs, nz->epsilon) : 0;
	struct run run = {.job = job, .obj = obj};
	struct sl_tune_result res;
	struct cfg_set c;
	size_t next_draw = 0;
	int rc;

	if (dp && !sl_tune_budget_can_pay(job->budget, nz->epsilon))
		return -ENOSPC;
	if ((rc = cfg_alloc(&c, n_configs, job->space->dim)))
		return rc;
	if ((rc = sl_tune_ws_init(&run.ws, obj->nodes))) {
		cfg_free(&c);
		return rc;
	}
	memset(&res, 0, sizeof(res));
	/* All configurations first, as run_rs takes its 16 runs. */
	rc = cfg_draw(job->space, job->rng, n_configs, &next_draw, &c);
	for (unsigned int j = 0; !rc && j < n_configs; j++) {
		struct sl_tune_step step = {0};

		rc = evaluate(&run, &c, j, resource, scale, charge, &step);
		if (rc)
			break;
		run.budget += resource;
		/* The first lowest released value (run_rs: strict <). */
		if (j == 0 || step.value < res.value)
			choose(&res, &c, j, &step);
		report(&run, &step);
	}
	if (!rc) {
		finish(&run, &res);
		*out = res;
	}
	sl_tune_ws_free(&run.ws);
	cfg_free(&c);
	return rc;
}

int
sl_tune_rs(const struct sl_tune_job *job, unsigned int n_configs,
	   unsigned int resource, struct sl_tune_result *out)
{
	if (!out || !job_ok(job) || n_configs == 0 || resource == 0 ||
	    (job->space->size > 0 && job->space->size < n_configs))
		return -EINVAL;
	return rs_run(job, job->objective, n_configs, resource, out);
}

/* --- Hyperband ----------------------------------------------------------- */

static uint64_t
upow(uint64_t b, unsigned int e)
{
	uint64_t r = 1;

	while (e--)
		r *= b;
	return r;
}

int
sl_tune_hb_plan(struct sl_tune_hb_plan *plan, unsigned int max_resource,
		unsigned int eta)
{
	struct sl_tune_hb_plan p;
	unsigned int s_max = 0;

	if (!plan || eta < 2 || max_resource == 0 ||
	    max_resource > SL_TUNE_HB_RESOURCE_MAX)
		return -EINVAL;
	/* s_max = floor(log_eta R), in integers (run_hb: int(log R/log eta)) */
	while (upow(eta, s_max + 1) <= max_resource)
		s_max++;
	if (s_max + 1 > SL_TUNE_HB_BRACKETS_MAX)
		return -EINVAL;
	memset(&p, 0, sizeof(p));
	p.max_resource = max_resource;
	p.eta = eta;
	p.s_max = s_max;
	p.rounds = s_max * (s_max + 1) / 2 + 1;
	for (unsigned int s = 0; s <= s_max; s++) {
		struct sl_tune_hb_bracket *br = &p.bracket[s];
		uint64_t es = upow(eta, s);
		/* n = ceil((B/R) eta^s / (s+1)), B = (s_max + 1) R */
		uint64_t n = ((s_max + 1) * es + s) / (s + 1);
		uint64_t prev = 0;

		br->rungs = s + 1;
		for (unsigned int i = 0; i <= s; i++) {
			/* r_i = int(R eta^-s eta^i) */
			uint64_t r = (uint64_t)max_resource * upow(eta, i) / es;

			br->configs[i] = (unsigned int)n;
			br->resource[i] = (unsigned int)r;
			br->keep[i] = (unsigned int)(n / eta);
			p.evaluations += n;
			p.budget += n * (r - prev);
			prev = r;
			/* run_hb keeps max(1, n_i // eta) */
			n = n / eta > 1 ? n / eta : 1;
		}
		p.finalists += br->configs[s];
	}
	for (unsigned int s = 0; s <= s_max; s++)
		p.bracket[s].keep[s] = p.finalists;
	*plan = p;
	return 0;
}

static bool
plan_has(const struct sl_tune_hb_plan *plan, unsigned int bracket,
	 unsigned int rung)
{
	return plan && bracket <= plan->s_max && rung <= bracket;
}

double
sl_tune_hb_scale(const struct sl_tune_hb_plan *plan, unsigned int bracket,
		 unsigned int rung, unsigned int n_c, double epsilon)
{
	unsigned int k;

	if (!plan_has(plan, bracket, rung) || n_c == 0 || !(epsilon > 0))
		return -1;
	if (isinf(epsilon))
		return 0;
	/* A rung whose n_i // eta is 0 (never in the paper's plan) still
	 * selects one: k_t = 1, never a zero scale. */
	k = plan->bracket[bracket].keep[rung];
	if (k == 0)
		k = 1;
	return 2.0 * plan->rounds * k / ((double)n_c * epsilon);
}

double
sl_tune_hb_round_epsilon(const struct sl_tune_hb_plan *plan,
			 unsigned int bracket, unsigned int rung,
			 double epsilon)
{
	double per_round;

	if (!plan_has(plan, bracket, rung) || !(epsilon > 0) ||
	    !isfinite(epsilon))
		return -1;
	per_round = epsilon / plan->rounds;
	if (rung < bracket)
		return per_round;
	return per_round * plan->bracket[bracket].configs[rung] /
	       plan->finalists;
}

/* Stable: the @keep lowest of @value[0..n-1], earlier first on ties;
 * @c's entries are reordered to match. */
static void
keep_lowest(struct cfg_set *c, double *value, unsigned int n, unsigned int keep)
{
	/* Insertion sort: stable, and n is a bracket's rung. */
	for (unsigned int a = 1; a < n; a++) {
		double v = value[a];
		size_t ix = c->index[a];
		double tmp[SL_TUNE_DIM_MAX];
		unsigned int b = a;

		memcpy(tmp, cfg_params(c, a), c->dim * sizeof(double));
		while (b > 0 && value[b - 1] > v) {
			value[b] = value[b - 1];
			c->index[b] = c->index[b - 1];
			memcpy(cfg_params(c, b), cfg_params(c, b - 1),
			       c->dim * sizeof(double));
			b--;
		}
		value[b] = v;
		c->index[b] = ix;
		memcpy(cfg_params(c, b), tmp, c->dim * sizeof(double));
	}
	c->n = keep;
}

int
sl_tune_hyperband(const struct sl_tune_job *job, unsigned int max_resource,
		  unsigned int eta, struct sl_tune_result *out)
{
	struct sl_tune_hb_plan plan;
	struct run run;
	struct sl_tune_result res;
	struct cfg_set c;
	unsigned int most;
	size_t next_draw = 0;
	double *value;
	bool dp, any = false;
	int rc;

	if (!out || !job_ok(job) || sl_tune_hb_plan(&plan, max_resource, eta))
		return -EINVAL;
	most = plan.bracket[plan.s_max].configs[0];
	for (unsigned int s = 0; s <= plan.s_max; s++)
		if (plan.bracket[s].configs[0] > most)
			most = plan.bracket[s].configs[0];
	if (job->space->size > 0 && job->space->size < most)
		return -EINVAL;
	dp = private_eval(&job->noise);
	if (dp && !sl_tune_budget_can_pay(job->budget, job->noise.epsilon))
		return -ENOSPC;

	memset(&run, 0, sizeof(run));
	run.job = job;
	run.obj = job->objective;
	if ((rc = cfg_alloc(&c, most, job->space->dim)))
		return rc;
	value = malloc(most * sizeof(*value));
	if (!value || (rc = sl_tune_ws_init(&run.ws, run.obj->nodes))) {
		free(value);
		cfg_free(&c);
		return value ? rc : -ENOMEM;
	}
	memset(&res, 0, sizeof(res));
	for (unsigned int s = plan.s_max + 1; !rc && s-- > 0;) {
		const struct sl_tune_hb_bracket *br = &plan.bracket[s];

		rc = cfg_draw(job->space, job->rng, br->configs[0], &next_draw,
			      &c);
		for (unsigned int i = 0; !rc && i <= s; i++) {
			double scale =
				sl_tune_hb_scale(&plan, s, i, job->noise.n_c,
						 job->noise.epsilon);
			double charge =
				dp ? sl_tune_hb_round_epsilon(
					     &plan, s, i, job->noise.epsilon)
				   : 0;
			unsigned int prev = i ? br->resource[i - 1] : 0;

			for (unsigned int j = 0; j < c.n; j++) {
				struct sl_tune_step step = {.bracket = s,
							    .rung = i};

				/* One charge per rung: its noisy top-k. */
				rc = evaluate(&run, &c, j, br->resource[i],
					      scale, j == 0 ? charge : 0,
					      &step);
				if (rc)
					break;
				value[j] = step.value;
				run.budget += br->resource[i] - prev;
				/* run_hb's incumbent: lowest released value,
				 * a tie to the one with more units. */
				if (!any || step.value < res.value ||
				    (step.value == res.value &&
				     step.resource > res.resource))
					choose(&res, &c, j, &step);
				any = true;
				report(&run, &step);
			}
			if (!rc && i < s)
				keep_lowest(&c, value, c.n,
					    c.n / eta > 1 ? c.n / eta : 1);
		}
	}
	if (!rc) {
		finish(&run, &res);
		*out = res;
	}
	sl_tune_ws_free(&run.ws);
	free(value);
	cfg_free(&c);
	return rc;
}

/* --- one-shot proxy RS ----------------------------------------------------- */

int
sl_tune_proxy_rs(const struct sl_tune_job *job,
		 const struct sl_tune_objective *deploy, unsigned int n_configs,
		 unsigned int resource, struct sl_tune_result *out)
{
	struct sl_tune_job proxy;
	struct sl_tune_result res;
	struct cfg_set one;
	struct run run;
	int rc;

	if (!job || !out || !objective_ok(deploy) || !job->objective)
		return -EINVAL;
	/* Full, noiseless evaluation on the proxy; no budget, no noise. */
	proxy = *job;
	proxy.noise.n_c = job->objective->nodes;
	proxy.noise.bias = 0;
	proxy.noise.epsilon = INFINITY;
	proxy.budget = NULL;
	proxy.noise_rng = NULL;
	if (!job_ok(&proxy) || n_configs == 0 || resource == 0 ||
	    (job->space->size > 0 && job->space->size < n_configs))
		return -EINVAL;
	if ((rc = rs_run(&proxy, proxy.objective, n_configs, resource, &res)))
		return rc;

	/* Deploy the winner once: its full error on the private fleet is
	 * what the operator gets, and nothing is released from it. */
	memset(&run, 0, sizeof(run));
	run.job = &proxy;
	run.obj = deploy;
	one.n = 1;
	one.dim = job->space->dim;
	one.index = &res.index;
	one.params = res.params;
	if ((rc = sl_tune_ws_init(&run.ws, deploy->nodes)))
		return rc;
	rc = node_errors(&run, deploy, &one, 0, resource);
	if (!rc) {
		res.true_error = full_mean(&run, run.ws.errors);
		res.resource = resource;
		res.budget += resource;
		res.private_evaluations = 0;
		res.private_budget = resource;
		res.epsilon_spent = 0;
		*out = res;
	}
	sl_tune_ws_free(&run.ws);
	return rc;
}
