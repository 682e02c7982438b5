/* SPDX-License-Identifier: MIT */
/*
 * test_tune.c - tools/tune (issue 16) against paper B's formulas
 * (../shared/docs/research/private_fedhpo.md, "Paper B"): the Laplace
 * scale of each tuner's composition (exact, and as the variance of many
 * draws), systems-bias inclusion frequencies, clipping, the tuners on
 * synthetic objectives with known optima, Hyperband's exact rungs, the
 * budget refusing work, and bad input refused with nothing changed.
 * Fixed seeds throughout.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sl_tune.h"

/* Sample-variance tolerance: the sample variance of n Laplace draws has
 * relative sd sqrt(5/n) (excess kurtosis 3); 200000 draws: 0.5 %, so 3 %
 * is six of them. */
#define VAR_DRAWS 200000
#define VAR_TOL 0.03

/* --- synthetic objectives ------------------------------------------------ */

#define SPACE 128
#define NODES 100

struct synth {
	double f[SPACE];  /* each configuration's error, distinct */
	double res_term;  /* + res_term / resource */
	bool node_spread; /* per-node errors f (0.75 + (i % 10) / 36) */
	bool anti;        /* 1 - f (an anti-correlated proxy) */
	double last_heterogeneity;
	double drawn[1024]; /* continuous space: draw -> x */
};

static void
synth_init(struct synth *s)
{
	memset(s, 0, sizeof(*s));
	for (int c = 0; c < SPACE; c++) {
		double g = c * 0.6180339887498949;

		s->f[c] = 0.1 + 0.6 * (g - floor(g));
	}
}

static int
synth_errors(void *ctx, size_t index, const double *params,
	     unsigned int resource, double heterogeneity, double *errors)
{
	struct synth *s = ctx;
	double base = s->f[index] + s->res_term / resource;

	(void)params;
	if (s->anti)
		base = 1 - base;
	s->last_heterogeneity = heterogeneity;
	for (unsigned int i = 0; i < NODES; i++)
		errors[i] =
			s->node_spread ? base * (0.75 + (i % 10) / 36.0) : base;
	return 0;
}

static void
synth_params(void *ctx, size_t index, double *params)
{
	(void)ctx;
	params[0] = (double)index;
}

/* A continuous space: x ~ U(0, 1); error (x - 0.3)^2 on every node. */
static int
cont_sample(void *ctx, struct sl_rng *rng, double *params)
{
	(void)ctx;
	return sl_tune_uniform(rng, &params[0]);
}

static int
cont_errors(void *ctx, size_t index, const double *params,
	    unsigned int resource, double heterogeneity, double *errors)
{
	struct synth *s = ctx;

	(void)resource;
	(void)heterogeneity;
	if (index < 1024)
		s->drawn[index] = params[0];
	for (unsigned int i = 0; i < NODES; i++)
		errors[i] = (params[0] - 0.3) * (params[0] - 0.3);
	return 0;
}

static int
bad_errors(void *ctx, size_t index, const double *params, unsigned int resource,
	   double heterogeneity, double *errors)
{
	(void)ctx;
	(void)index;
	(void)params;
	(void)resource;
	(void)heterogeneity;
	for (unsigned int i = 0; i < NODES; i++)
		errors[i] = i == 7 ? 1.5 : 0.5;
	return 0;
}

/* Progress recorder. */
#define STEPS_MAX 512
struct steps {
	unsigned int n;
	struct sl_tune_step s[STEPS_MAX];
};

static void
record(void *ctx, const struct sl_tune_step *step)
{
	struct steps *st = ctx;

	if (st->n < STEPS_MAX)
		st->s[st->n] = *step;
	st->n++;
}

struct fixture {
	struct synth synth;
	struct sl_tune_space space;
	struct sl_tune_objective obj;
	struct sl_rng rng, noise_rng;
	struct sl_tune_budget budget;
	struct steps steps;
	struct sl_tune_job job;
};

static void
fixture_init(struct fixture *fx, unsigned int n_c, double b, double eps)
{
	memset(fx, 0, sizeof(*fx));
	synth_init(&fx->synth);
	fx->space = (struct sl_tune_space){.dim = 1,
					   .size = SPACE,
					   .params = synth_params,
					   .ctx = &fx->synth};
	fx->obj = (struct sl_tune_objective){
		.nodes = NODES, .node_errors = synth_errors, .ctx = &fx->synth};
	sl_rng_seeded(&fx->rng, 42);
	sl_rng_seeded(&fx->noise_rng, 4242);
	CU_ASSERT_EQUAL(sl_tune_budget_init(&fx->budget, 1e12), 0);
	fx->job = (struct sl_tune_job){
		.space = &fx->space,
		.objective = &fx->obj,
		.noise = {.n_c = n_c, .bias = b, .epsilon = eps},
		.budget = &fx->budget,
		.rng = &fx->rng,
		.noise_rng = &fx->noise_rng,
		.progress = record,
		.progress_ctx = &fx->steps,
	};
}

/* A mean of N equal values is that value to within rounding. */
static bool
near(double a, double b)
{
	return fabs(a - b) <= 1e-14;
}

/* Sample variance of @n values. */
static double
variance(const double *v, unsigned int n, double *mean_out)
{
	double m = 0, s = 0;

	for (unsigned int i = 0; i < n; i++)
		m += v[i];
	m /= n;
	for (unsigned int i = 0; i < n; i++)
		s += (v[i] - m) * (v[i] - m);
	if (mean_out)
		*mean_out = m;
	return s / (n - 1);
}

/* Released values of @n evaluations, every node at 0.5, at @scale; their
 * variance must be 2 scale^2 (clipping never reached: scale << 0.5). */
static void
check_released_variance(double scale)
{
	static double err[NODES], v[VAR_DRAWS];
	struct sl_rng rng, noise;
	struct sl_tune_eval ev;
	double m, var, want = 2 * scale * scale;

	CU_ASSERT_FATAL(scale > 0 && scale < 0.02);
	for (int i = 0; i < NODES; i++)
		err[i] = 0.5;
	sl_rng_seeded(&rng, 1);
	sl_rng_seeded(&noise, 2);
	for (int k = 0; k < VAR_DRAWS; k++) {
		CU_ASSERT_EQUAL_FATAL(sl_tune_evaluate(&rng, &noise, err, NULL,
						       NODES, NODES, 0, scale,
						       &ev),
				      0);
		CU_ASSERT_EQUAL(ev.scale, scale);
		v[k] = ev.value;
	}
	var = variance(v, VAR_DRAWS, &m);
	if (fabs(var / want - 1) > VAR_TOL)
		fprintf(stderr, "scale %g: var %g want %g\n", scale, var, want);
	CU_ASSERT(fabs(var / want - 1) <= VAR_TOL);
	/* Mean 0.5 within 5 standard errors. */
	CU_ASSERT(fabs(m - 0.5) <= 5 * sqrt(want / VAR_DRAWS));
}

/* --- Laplace, RS composition -------------------------------------------- */

static void
test_laplace_draws(void)
{
	static double v[VAR_DRAWS];
	struct sl_rng rng;
	double m, var, x;
	unsigned int pos = 0;

	sl_rng_seeded(&rng, 7);
	for (int k = 0; k < VAR_DRAWS; k++) {
		CU_ASSERT_EQUAL_FATAL(sl_tune_laplace(&rng, 3.0, &v[k]), 0);
		pos += v[k] > 0;
	}
	var = variance(v, VAR_DRAWS, &m);
	CU_ASSERT(fabs(var / 18.0 - 1) <= VAR_TOL); /* 2 b^2 */
	CU_ASSERT(fabs(m) <= 5 * sqrt(18.0 / VAR_DRAWS));
	CU_ASSERT(abs((int)pos - VAR_DRAWS / 2) <= 5 * 224); /* sd 224 */
	CU_ASSERT_EQUAL(sl_tune_laplace(&rng, 0, &x), 0);
	CU_ASSERT_EQUAL(x, 0.0);
	CU_ASSERT_EQUAL(sl_tune_laplace(&rng, -1, &x), -EINVAL);
	CU_ASSERT_EQUAL(sl_tune_laplace(&rng, NAN, &x), -EINVAL);
	CU_ASSERT_EQUAL(sl_tune_laplace(&rng, INFINITY, &x), -EINVAL);
}

static void
test_rs_scale(void)
{
	/* Paper B: Laplace(N / (n_c eps)), N = 16. */
	CU_ASSERT_EQUAL(sl_tune_rs_scale(16, 1, 1), 16.0);
	CU_ASSERT_EQUAL(sl_tune_rs_scale(16, 36, 100), 16.0 / (36 * 100.0));
	CU_ASSERT_EQUAL(sl_tune_rs_scale(16, 100, 10), 0.016);
	CU_ASSERT_EQUAL(sl_tune_rs_scale(16, 3, INFINITY), 0.0);
	CU_ASSERT_EQUAL(sl_tune_rs_scale(16, 0, 1), -1);
	CU_ASSERT_EQUAL(sl_tune_rs_scale(0, 1, 1), -1);
	CU_ASSERT_EQUAL(sl_tune_rs_scale(16, 1, 0), -1);
	CU_ASSERT_EQUAL(sl_tune_rs_scale(16, 1, NAN), -1);
	CU_ASSERT_EQUAL(sl_tune_rs_eval_epsilon(16, 1), 1.0 / 16);
	CU_ASSERT_EQUAL(sl_tune_rs_eval_epsilon(0, 1), -1);
	/* n_c = 100, eps = 10: scale 0.016, var 2 * 0.016^2. */
	check_released_variance(sl_tune_rs_scale(16, 100, 10));
}

/* The tuner uses exactly that scale, charges eps/16 per evaluation, and
 * draws one noise word per evaluation from the noise source. */
static uint64_t counted;

static int
counting_next(struct sl_rng *rng, uint64_t *out)
{
	struct sl_rng *inner = rng->ctx;

	counted++;
	return inner->next(inner, out);
}

static void
test_rs_composition(void)
{
	struct fixture fx;
	struct sl_tune_result r;
	struct sl_rng inner, counting = {0};

	fixture_init(&fx, 10, 0, 2.0);
	sl_rng_seeded(&inner, 5);
	counting.next = counting_next;
	counting.ctx = &inner;
	fx.job.noise_rng = &counting;
	CU_ASSERT_EQUAL(sl_tune_budget_init(&fx.budget, 2.0), 0);
	counted = 0;
	CU_ASSERT_EQUAL_FATAL(sl_tune_rs(&fx.job, 16, 81, &r), 0);
	CU_ASSERT_EQUAL(counted, 16);
	CU_ASSERT_EQUAL(fx.steps.n, 16);
	for (unsigned int k = 0; k < fx.steps.n; k++) {
		CU_ASSERT_EQUAL(fx.steps.s[k].scale, 16.0 / (10 * 2.0));
		CU_ASSERT_EQUAL(fx.steps.s[k].charged, 2.0 / 16);
		CU_ASSERT_EQUAL(fx.steps.s[k].resource, 81);
	}
	CU_ASSERT_EQUAL(r.epsilon_spent, 2.0);
	CU_ASSERT_EQUAL(fx.budget.spent, 2.0);
	CU_ASSERT_EQUAL(fx.budget.charges, 16);
	CU_ASSERT_EQUAL(sl_tune_budget_remaining(&fx.budget), 0.0);
	CU_ASSERT_EQUAL(r.evaluations, 16);
	CU_ASSERT_EQUAL(r.budget, 16 * 81);

	/* Without DP the noise source is never touched. */
	fixture_init(&fx, 10, 0, INFINITY);
	fx.job.noise_rng = &counting;
	counted = 0;
	CU_ASSERT_EQUAL_FATAL(sl_tune_rs(&fx.job, 16, 81, &r), 0);
	CU_ASSERT_EQUAL(counted, 0);
	CU_ASSERT_EQUAL(fx.budget.spent, 0.0);
	CU_ASSERT_EQUAL(r.epsilon_spent, 0.0);
}

/* --- Hyperband: plan, composition -------------------------------------- */

static void
test_hb_plan(void)
{
	/* Paper B's brackets, configs x rounds (units of 5 rounds). */
	static const unsigned int cfg[5][5] = {
		{5}, {8, 2}, {15, 5, 1}, {34, 11, 3, 1}, {81, 27, 9, 3, 1}};
	static const unsigned int rounds[5][5] = {{405},
						  {135, 405},
						  {45, 135, 405},
						  {15, 45, 135, 405},
						  {5, 15, 45, 135, 405}};
	struct sl_tune_hb_plan p;

	CU_ASSERT_EQUAL_FATAL(
		sl_tune_hb_plan(&p, SL_TUNE_PAPER_HB_R, SL_TUNE_PAPER_HB_ETA),
		0);
	CU_ASSERT_EQUAL(p.s_max, 4);
	CU_ASSERT_EQUAL(p.rounds, 11);    /* T = 11 elimination rounds */
	CU_ASSERT_EQUAL(p.finalists, 10); /* 10 configs at the last rungs */
	CU_ASSERT_EQUAL(p.evaluations, 206);
	CU_ASSERT_EQUAL(p.budget, 1581);
	for (unsigned int s = 0; s <= 4; s++) {
		CU_ASSERT_EQUAL(p.bracket[s].rungs, s + 1);
		for (unsigned int i = 0; i <= s; i++) {
			CU_ASSERT_EQUAL(p.bracket[s].configs[i], cfg[s][i]);
			CU_ASSERT_EQUAL(p.bracket[s].resource[i] *
						SL_TUNE_PAPER_UNIT_ROUNDS,
					rounds[s][i]);
			CU_ASSERT_EQUAL(p.bracket[s].keep[i],
					i < s ? cfg[s][i] / 3 : 10);
		}
	}
	/* 2 T k_t / (n_c eps), run_hb's 2*11*(n_i//eta) and 2*11*10. */
	CU_ASSERT_EQUAL(sl_tune_hb_scale(&p, 4, 0, 36, 100),
			2.0 * 11 * 27 / (36 * 100.0));
	CU_ASSERT_EQUAL(sl_tune_hb_scale(&p, 3, 0, 1, 100),
			2.0 * 11 * 11 / 100);
	CU_ASSERT_EQUAL(sl_tune_hb_scale(&p, 1, 0, 3, 10), 2.0 * 11 * 2 / 30);
	CU_ASSERT_EQUAL(sl_tune_hb_scale(&p, 4, 4, 1, 1), 2.0 * 11 * 10);
	CU_ASSERT_EQUAL(sl_tune_hb_scale(&p, 0, 0, 1, 1), 2.0 * 11 * 10);
	CU_ASSERT_EQUAL(sl_tune_hb_scale(&p, 2, 2, 5, INFINITY), 0.0);
	CU_ASSERT_EQUAL(sl_tune_hb_scale(&p, 5, 0, 1, 1), -1);
	CU_ASSERT_EQUAL(sl_tune_hb_scale(&p, 2, 3, 1, 1), -1);
	CU_ASSERT_EQUAL(sl_tune_hb_scale(&p, 2, 0, 0, 1), -1);
	CU_ASSERT_EQUAL(sl_tune_hb_round_epsilon(&p, 4, 0, 11), 1.0);
	CU_ASSERT_EQUAL(sl_tune_hb_round_epsilon(&p, 0, 0, 11), 0.5);
	CU_ASSERT_EQUAL(sl_tune_hb_round_epsilon(&p, 1, 1, 11), 0.2);
	CU_ASSERT_EQUAL(sl_tune_hb_round_epsilon(&p, 4, 4, 11), 0.1);
	/* Released variance at the first rung and at the final selection:
	 * n_c = 1000, eps = 100. */
	check_released_variance(sl_tune_hb_scale(&p, 4, 0, 1000, 100));
	check_released_variance(sl_tune_hb_scale(&p, 2, 2, 1000, 100));

	/* Another plan: R = 8, eta = 2: s_max 3, T = 7. */
	CU_ASSERT_EQUAL_FATAL(sl_tune_hb_plan(&p, 8, 2), 0);
	CU_ASSERT_EQUAL(p.s_max, 3);
	CU_ASSERT_EQUAL(p.rounds, 7);
	CU_ASSERT_EQUAL(p.bracket[3].configs[0], 8);
	CU_ASSERT_EQUAL(p.bracket[3].resource[0], 1);
	CU_ASSERT_EQUAL(p.bracket[2].configs[0], 6); /* ceil(4*4/3) */
	CU_ASSERT_EQUAL(p.bracket[2].resource[0], 2);
	CU_ASSERT_EQUAL(p.bracket[0].configs[0], 4);
	CU_ASSERT_EQUAL(p.bracket[0].resource[0], 8);
	/* R not a power of eta: 10, 3 -> s_max 2, r = int(10/9 * 3^i). */
	CU_ASSERT_EQUAL_FATAL(sl_tune_hb_plan(&p, 10, 3), 0);
	CU_ASSERT_EQUAL(p.s_max, 2);
	CU_ASSERT_EQUAL(p.bracket[2].resource[0], 1);
	CU_ASSERT_EQUAL(p.bracket[2].resource[1], 3);
	CU_ASSERT_EQUAL(p.bracket[2].resource[2], 10);
}

/* Hyperband as run: each rung's size, scale, charge; the budget. */
static void
test_hb_run_composition(void)
{
	struct fixture fx;
	struct sl_tune_result r;
	struct sl_tune_hb_plan p;
	unsigned int seen[5][5] = {{0}};

	fixture_init(&fx, 3, 0, 100);
	CU_ASSERT_EQUAL(sl_tune_budget_init(&fx.budget, 100), 0);
	CU_ASSERT_EQUAL_FATAL(sl_tune_hb_plan(&p, 81, 3), 0);
	CU_ASSERT_EQUAL_FATAL(sl_tune_hyperband(&fx.job, 81, 3, &r), 0);
	CU_ASSERT_EQUAL_FATAL(fx.steps.n, 206);
	for (unsigned int k = 0; k < fx.steps.n; k++) {
		const struct sl_tune_step *st = &fx.steps.s[k];
		unsigned int s = st->bracket, i = st->rung;
		unsigned int kt = i < s ? p.bracket[s].configs[i] / 3 : 10;

		CU_ASSERT_FATAL(s <= 4 && i <= s);
		seen[s][i]++;
		CU_ASSERT_EQUAL(st->resource, p.bracket[s].resource[i]);
		CU_ASSERT_EQUAL(st->scale, 2.0 * 11 * kt / (3 * 100.0));
		CU_ASSERT(st->value >= 0 && st->value <= 1);
	}
	for (unsigned int s = 0; s <= 4; s++)
		for (unsigned int i = 0; i <= s; i++)
			CU_ASSERT_EQUAL(seen[s][i], p.bracket[s].configs[i]);
	/* Brackets run from s_max down, as run_hb. */
	CU_ASSERT_EQUAL(fx.steps.s[0].bracket, 4);
	CU_ASSERT_EQUAL(fx.steps.s[205].bracket, 0);
	/* 10 eliminating rungs at eps/T, 5 last rungs sharing eps/T. */
	CU_ASSERT_EQUAL(fx.budget.charges, 15);
	CU_ASSERT(fabs(fx.budget.spent - 100) <= 1e-9);
	CU_ASSERT(fabs(r.epsilon_spent - 100) <= 1e-9);
	CU_ASSERT(sl_tune_budget_remaining(&fx.budget) <= 1e-9);
	CU_ASSERT_EQUAL(r.evaluations, 206);
	CU_ASSERT_EQUAL(r.budget, 1581);
	CU_ASSERT_EQUAL(r.private_budget, 1581);
}

/* --- systems bias ----------------------------------------------------------- */

#define BIAS_DRAWS 200000

static void
test_bias_sampling(void)
{
	static const double err[5] = {0.0, 0.2, 0.5, 0.8, 1.0};
	struct sl_rng rng;
	double w[5], p[5], sum = 0;
	unsigned int idx[5], hits[5] = {0}, hits2[5] = {0}, hits0[5] = {0};

	/* The weights: (1.0001 - e)^3, normalised. */
	for (int i = 0; i < 5; i++)
		sum += p[i] = pow(1.0001 - err[i], 3);
	for (int i = 0; i < 5; i++)
		p[i] /= sum;
	CU_ASSERT_EQUAL_FATAL(sl_tune_bias_weights(err, 5, 3, w), 0);
	for (int i = 0; i < 5; i++)
		CU_ASSERT(fabs(w[i] - p[i]) <= 1e-12 * p[i] + 1e-300);

	sl_rng_seeded(&rng, 11);
	for (int k = 0; k < BIAS_DRAWS; k++) {
		CU_ASSERT_EQUAL_FATAL(sl_tune_sample(&rng, err, 5, 1, 3, idx),
				      0);
		hits[idx[0]]++;
		CU_ASSERT_EQUAL_FATAL(sl_tune_sample(&rng, err, 5, 2, 3, idx),
				      0);
		CU_ASSERT_FATAL(idx[0] != idx[1]);
		hits2[idx[0]]++;
		hits2[idx[1]]++;
		CU_ASSERT_EQUAL_FATAL(sl_tune_sample(&rng, err, 5, 2, 0, idx),
				      0);
		hits0[idx[0]]++;
		hits0[idx[1]]++;
	}
	for (int i = 0; i < 5; i++) {
		/* n_c = 1: frequency = weight (sd <= 0.0012). */
		double f1 = (double)hits[i] / BIAS_DRAWS;
		/* n_c = 2, successive draws: P(i in S) = p_i +
		 * sum_{j != i} p_j p_i / (1 - p_j). */
		double incl = p[i], f2 = (double)hits2[i] / BIAS_DRAWS;
		double f0 = (double)hits0[i] / BIAS_DRAWS;

		for (int j = 0; j < 5; j++)
			if (j != i)
				incl += p[j] * p[i] / (1 - p[j]);
		CU_ASSERT(fabs(f1 - p[i]) <= 0.006);
		CU_ASSERT(fabs(f2 - incl) <= 0.006);
		/* b = 0: uniform, 2/5 each. */
		CU_ASSERT(fabs(f0 - 0.4) <= 0.006);
	}
	/* The error-1 node is nearly never drawn (weight ~1e-12). */
	CU_ASSERT(hits[4] == 0);
	CU_ASSERT(hits2[4] <= 2);

	/* A huge b neither underflows to nothing nor gives NaN. */
	CU_ASSERT_EQUAL(sl_tune_bias_weights(err, 5, 500, w), 0);
	CU_ASSERT_EQUAL(w[0], 1.0);
	CU_ASSERT_EQUAL(sl_tune_sample(&rng, err, 5, 5, 500, idx), 0);
	CU_ASSERT_EQUAL(sl_tune_sample(&rng, err, 5, 4, 500, idx), 0);
	CU_ASSERT_EQUAL(idx[0], 0);
	CU_ASSERT_EQUAL(idx[1], 1);
	/* n_c = N: every node, in order, no draw. */
	{
		struct sl_rng before = rng;

		CU_ASSERT_EQUAL(sl_tune_sample(&rng, err, 5, 5, 3, idx), 0);
		for (unsigned int i = 0; i < 5; i++)
			CU_ASSERT_EQUAL(idx[i], i);
		CU_ASSERT_EQUAL(memcmp(&before, &rng, sizeof(rng)), 0);
	}
}

/* --- clipping and means --------------------------------------------------- */

#define CLIP_DRAWS 20000

static void
test_clipping(void)
{
	static double zeros[NODES], ones[NODES];
	struct sl_rng rng, noise;
	struct sl_tune_eval ev;
	unsigned int at0 = 0, at1 = 0;

	CU_ASSERT_EQUAL(sl_tune_clip01(-0.25), 0.0);
	CU_ASSERT_EQUAL(sl_tune_clip01(-0.0), 0.0);
	CU_ASSERT_EQUAL(sl_tune_clip01(1.0000001), 1.0);
	CU_ASSERT_EQUAL(sl_tune_clip01(1e300), 1.0);
	CU_ASSERT_EQUAL(sl_tune_clip01(-INFINITY), 0.0);
	CU_ASSERT_EQUAL(sl_tune_clip01(NAN), 1.0);
	CU_ASSERT_EQUAL(sl_tune_clip01(0.375), 0.375);
	for (int i = 0; i < NODES; i++)
		ones[i] = 1.0;
	sl_rng_seeded(&rng, 3);
	sl_rng_seeded(&noise, 4);
	/* True mean 0 (resp. 1): half the draws fall outside and are
	 * clipped to exactly 0 (resp. 1); none leaves [0, 1]. */
	for (int k = 0; k < CLIP_DRAWS; k++) {
		CU_ASSERT_EQUAL_FATAL(sl_tune_evaluate(&rng, &noise, zeros,
						       NULL, NODES, 10, 0, 0.5,
						       &ev),
				      0);
		CU_ASSERT(ev.value >= 0.0 && ev.value <= 1.0);
		CU_ASSERT_EQUAL(ev.value, sl_tune_clip01(ev.noise));
		at0 += ev.value == 0.0;
		CU_ASSERT_EQUAL_FATAL(sl_tune_evaluate(&rng, &noise, ones, NULL,
						       NODES, 10, 0, 0.5, &ev),
				      0);
		CU_ASSERT(ev.value >= 0.0 && ev.value <= 1.0);
		at1 += ev.value == 1.0;
	}
	/* Binomial(20000, 1/2): sd 71. */
	CU_ASSERT(abs((int)at0 - CLIP_DRAWS / 2) <= 400);
	CU_ASSERT(abs((int)at1 - CLIP_DRAWS / 2) <= 400);
}

static void
test_means(void)
{
	static const double err[4] = {0.1, 0.2, 0.6, 1.0};
	static const double wt[4] = {1, 3, 4, 2};
	struct sl_rng rng, noise;
	struct sl_tune_eval ev;

	sl_rng_seeded(&rng, 8);
	sl_rng_seeded(&noise, 9);
	/* Non-DP, every node: the weighted mean, no noise. */
	CU_ASSERT_EQUAL(sl_tune_evaluate(&rng, NULL, err, wt, 4, 4, 0, 0, &ev),
			0);
	CU_ASSERT(fabs(ev.value - (0.1 + 0.6 + 2.4 + 2.0) / 10) <= 1e-15);
	CU_ASSERT_EQUAL(ev.noise, 0.0);
	/* Non-DP, no weights: uniform. */
	CU_ASSERT_EQUAL(
		sl_tune_evaluate(&rng, NULL, err, NULL, 4, 4, 0, 0, &ev), 0);
	CU_ASSERT(fabs(ev.value - 1.9 / 4) <= 1e-15);
	/* DP: uniform whatever the weights (sensitivity 1/n_c). */
	CU_ASSERT_EQUAL(
		sl_tune_evaluate(&rng, &noise, err, wt, 4, 4, 0, 0.01, &ev), 0);
	CU_ASSERT(fabs(ev.mean - 1.9 / 4) <= 1e-15);
	CU_ASSERT_EQUAL(ev.value, sl_tune_clip01(ev.mean + ev.noise));
	CU_ASSERT(ev.noise != 0.0);
}

/* --- tuners on known optima ------------------------------------------------ */

static size_t
best_of(const struct synth *s, const size_t *ix, unsigned int n)
{
	size_t b = ix[0];

	for (unsigned int k = 1; k < n; k++)
		if (s->f[ix[k]] < s->f[b])
			b = ix[k];
	return b;
}

static void
test_rs_noiseless(void)
{
	struct fixture fx;
	struct sl_tune_result r;
	size_t ix[SPACE];
	bool used[SPACE] = {false};

	fixture_init(&fx, NODES, 0, INFINITY);
	CU_ASSERT_EQUAL_FATAL(sl_tune_rs(&fx.job, 16, 81, &r), 0);
	CU_ASSERT_EQUAL_FATAL(fx.steps.n, 16);
	for (unsigned int k = 0; k < 16; k++) {
		ix[k] = fx.steps.s[k].index;
		CU_ASSERT_FATAL(ix[k] < SPACE);
		CU_ASSERT(!used[ix[k]]); /* without replacement */
		used[ix[k]] = true;
		CU_ASSERT_EQUAL(fx.steps.s[k].scale, 0.0);
		CU_ASSERT(near(fx.steps.s[k].value, fx.synth.f[ix[k]]));
	}
	CU_ASSERT_EQUAL(r.index, best_of(&fx.synth, ix, 16));
	CU_ASSERT_EQUAL(r.params[0], (double)r.index);
	CU_ASSERT(near(r.true_error, fx.synth.f[r.index]));
	CU_ASSERT_EQUAL(r.value, r.true_error);
	CU_ASSERT_EQUAL(r.evaluations, 16);
	CU_ASSERT_EQUAL(r.budget, 16 * 81);
	CU_ASSERT_EQUAL(r.resource, 81);
	CU_ASSERT_EQUAL(r.epsilon_spent, 0.0);

	/* The whole space: the global optimum (f's minimum is config 0). */
	fixture_init(&fx, NODES, 0, INFINITY);
	CU_ASSERT_EQUAL_FATAL(sl_tune_rs(&fx.job, SPACE, 1, &r), 0);
	for (unsigned int c = 0; c < SPACE; c++)
		ix[c] = c;
	CU_ASSERT_EQUAL(r.index, best_of(&fx.synth, ix, SPACE));
	CU_ASSERT(near(r.true_error, 0.1));

	/* Same seed, same choice. */
	{
		struct sl_tune_result r2;

		fixture_init(&fx, 10, 1, INFINITY);
		CU_ASSERT_EQUAL_FATAL(sl_tune_rs(&fx.job, 16, 81, &r), 0);
		fixture_init(&fx, 10, 1, INFINITY);
		CU_ASSERT_EQUAL_FATAL(sl_tune_rs(&fx.job, 16, 81, &r2), 0);
		CU_ASSERT_EQUAL(memcmp(&r, &r2, sizeof(r)), 0);
	}
}

static void
test_rs_continuous(void)
{
	struct fixture fx;
	struct sl_tune_result r;
	size_t best = 0;

	fixture_init(&fx, NODES, 0, INFINITY);
	fx.space = (struct sl_tune_space){
		.dim = 1, .sample = cont_sample, .ctx = &fx.synth};
	fx.obj.node_errors = cont_errors;
	CU_ASSERT_EQUAL_FATAL(sl_tune_rs(&fx.job, 64, 1, &r), 0);
	for (size_t k = 1; k < 64; k++)
		if (fabs(fx.synth.drawn[k] - 0.3) <
		    fabs(fx.synth.drawn[best] - 0.3))
			best = k;
	CU_ASSERT_EQUAL(r.index, best);
	CU_ASSERT_EQUAL(r.params[0], fx.synth.drawn[best]);
	CU_ASSERT(fabs(r.params[0] - 0.3) < 0.05);
}

static void
test_hb_noiseless(void)
{
	struct fixture fx;
	struct sl_tune_result r;
	size_t best = 0;

	/* 81 configurations: bracket 4 sees them all, and noiseless
	 * successive halving carries the best to 81 units, where its error
	 * f + 0.05/81 is the lowest any evaluation can give. */
	fixture_init(&fx, NODES, 0, INFINITY);
	fx.space.size = 81;
	fx.synth.res_term = 0.05;
	CU_ASSERT_EQUAL_FATAL(sl_tune_hyperband(&fx.job, 81, 3, &r), 0);
	for (size_t c = 1; c < 81; c++)
		if (fx.synth.f[c] < fx.synth.f[best])
			best = c;
	CU_ASSERT_EQUAL(r.index, best);
	CU_ASSERT_EQUAL(r.resource, 81);
	CU_ASSERT(fabs(r.true_error - (fx.synth.f[best] + 0.05 / 81)) <= 1e-15);
	CU_ASSERT_EQUAL(r.evaluations, 206);
	CU_ASSERT_EQUAL(r.budget, 1581);
	CU_ASSERT_EQUAL(r.epsilon_spent, 0.0);
	/* Bracket 4 kept the best at every rung: its last rung is it. */
	for (unsigned int k = 0; k < fx.steps.n; k++)
		if (fx.steps.s[k].bracket == 4 && fx.steps.s[k].rung == 4)
			CU_ASSERT_EQUAL(fx.steps.s[k].index, best);

	/* A space smaller than bracket 4's 81: refused. */
	fixture_init(&fx, NODES, 0, INFINITY);
	fx.space.size = 80;
	CU_ASSERT_EQUAL(sl_tune_hyperband(&fx.job, 81, 3, &r), -EINVAL);
}

/* With a huge epsilon the noise is ~1e-9: the same choices as noiseless,
 * subsampling and bias included (the noise has its own source). */
static void
test_huge_epsilon(void)
{
	struct fixture fx;
	struct sl_tune_result quiet, loud;

	fixture_init(&fx, 10, 1, INFINITY);
	fx.synth.node_spread = true;
	CU_ASSERT_EQUAL_FATAL(sl_tune_rs(&fx.job, 16, 81, &quiet), 0);
	fixture_init(&fx, 10, 1, 1e9);
	fx.synth.node_spread = true;
	CU_ASSERT_EQUAL(sl_tune_budget_init(&fx.budget, 1e9), 0);
	CU_ASSERT_EQUAL_FATAL(sl_tune_rs(&fx.job, 16, 81, &loud), 0);
	CU_ASSERT_EQUAL(loud.index, quiet.index);
	CU_ASSERT(fabs(loud.value - quiet.value) < 1e-6);
	CU_ASSERT(loud.value != quiet.value);
	CU_ASSERT_EQUAL(loud.true_error, quiet.true_error);

	fixture_init(&fx, 10, 1, INFINITY);
	fx.synth.node_spread = true;
	fx.synth.res_term = 0.05;
	CU_ASSERT_EQUAL_FATAL(sl_tune_hyperband(&fx.job, 81, 3, &quiet), 0);
	fixture_init(&fx, 10, 1, 1e9);
	fx.synth.node_spread = true;
	fx.synth.res_term = 0.05;
	CU_ASSERT_EQUAL(sl_tune_budget_init(&fx.budget, 1e9), 0);
	CU_ASSERT_EQUAL_FATAL(sl_tune_hyperband(&fx.job, 81, 3, &loud), 0);
	CU_ASSERT_EQUAL(loud.index, quiet.index);
	CU_ASSERT_EQUAL(loud.resource, quiet.resource);
	CU_ASSERT(fabs(loud.value - quiet.value) < 1e-5);

	/* A small epsilon does change the picture: at eps = 1, n_c = 1 the
	 * RS noise (scale 16) swamps f and the choice is not the best. */
	fixture_init(&fx, 1, 0, 1);
	CU_ASSERT_EQUAL(sl_tune_budget_init(&fx.budget, 1), 0);
	CU_ASSERT_EQUAL_FATAL(sl_tune_rs(&fx.job, SPACE, 1, &loud), 0);
	CU_ASSERT(loud.true_error > 0.1);
}

static void
test_proxy_rs(void)
{
	struct fixture fx;
	struct synth prod;
	struct sl_tune_objective deploy;
	struct sl_tune_budget before;
	struct sl_tune_result r;
	double worst = 0;

	/* Proxy = production here: proxy RS over the whole space deploys
	 * the production optimum, at zero epsilon. */
	fixture_init(&fx, 1, 3, 1.0); /* noise settings are ignored */
	synth_init(&prod);
	deploy = (struct sl_tune_objective){
		.nodes = NODES, .node_errors = synth_errors, .ctx = &prod};
	fx.job.noise.heterogeneity = 0.5;
	before = fx.budget;
	CU_ASSERT_EQUAL_FATAL(sl_tune_proxy_rs(&fx.job, &deploy, SPACE, 81, &r),
			      0);
	CU_ASSERT_EQUAL(r.index, 0);
	CU_ASSERT(near(r.true_error, prod.f[0]));
	CU_ASSERT_EQUAL(r.evaluations, SPACE);
	CU_ASSERT_EQUAL(r.private_evaluations, 0);
	CU_ASSERT_EQUAL(r.private_budget, 81);
	CU_ASSERT_EQUAL(r.budget, (SPACE + 1) * 81);
	CU_ASSERT_EQUAL(r.epsilon_spent, 0.0);
	CU_ASSERT_EQUAL(memcmp(&before, &fx.budget, sizeof(before)), 0);
	CU_ASSERT_EQUAL(prod.last_heterogeneity, 0.5);
	CU_ASSERT_EQUAL(fx.synth.last_heterogeneity, 0.5);
	for (unsigned int k = 0; k < fx.steps.n; k++)
		CU_ASSERT_EQUAL(fx.steps.s[k].scale, 0.0);

	/* An anti-correlated proxy deploys production's worst. */
	fixture_init(&fx, 1, 0, INFINITY);
	fx.synth.anti = true;
	synth_init(&prod);
	CU_ASSERT_EQUAL_FATAL(sl_tune_proxy_rs(&fx.job, &deploy, SPACE, 1, &r),
			      0);
	for (int c = 0; c < SPACE; c++)
		if (prod.f[c] > worst)
			worst = prod.f[c];
	CU_ASSERT(near(r.true_error, worst));
	CU_ASSERT(near(r.value, 1 - worst));
}

/* --- the budget -------------------------------------------------------------- */

static void
test_budget(void)
{
	struct sl_tune_budget b, snap;
	struct fixture fx;
	struct sl_tune_result r, r0;
	struct sl_rng rng_before;

	CU_ASSERT_EQUAL(sl_tune_budget_init(&b, 0), -EINVAL);
	CU_ASSERT_EQUAL(sl_tune_budget_init(&b, -1), -EINVAL);
	CU_ASSERT_EQUAL(sl_tune_budget_init(&b, NAN), -EINVAL);
	CU_ASSERT_EQUAL(sl_tune_budget_init(&b, INFINITY), -EINVAL);
	CU_ASSERT_EQUAL_FATAL(sl_tune_budget_init(&b, 1.0), 0);
	CU_ASSERT_EQUAL(sl_tune_budget_spend(&b, 0.25), 0);
	CU_ASSERT_EQUAL(sl_tune_budget_remaining(&b), 0.75);
	snap = b;
	CU_ASSERT_EQUAL(sl_tune_budget_spend(&b, 0.875), -ENOSPC);
	CU_ASSERT_EQUAL(b.spent, 0.25);
	CU_ASSERT_EQUAL(b.charges, 1);
	CU_ASSERT_EQUAL(b.refused, 1);
	CU_ASSERT_EQUAL(sl_tune_budget_remaining(&b), 0.75);
	snap.refused = 1;
	CU_ASSERT_EQUAL(memcmp(&snap, &b, sizeof(b)), 0);
	CU_ASSERT_EQUAL(sl_tune_budget_spend(&b, 0), -EINVAL);
	CU_ASSERT_EQUAL(sl_tune_budget_spend(&b, -0.1), -EINVAL);
	CU_ASSERT_EQUAL(sl_tune_budget_spend(&b, NAN), -EINVAL);
	CU_ASSERT_EQUAL(b.spent, 0.25);
	CU_ASSERT_EQUAL(sl_tune_budget_spend(&b, 0.75), 0);
	CU_ASSERT_EQUAL(sl_tune_budget_remaining(&b), 0.0);
	CU_ASSERT_EQUAL(sl_tune_budget_spend(&b, 1e-9), -ENOSPC);
	CU_ASSERT_EQUAL(b.spent, 1.0);
	/* Eleven charges of 1/11 pay exactly 1. */
	CU_ASSERT_EQUAL_FATAL(sl_tune_budget_init(&b, 1.0), 0);
	for (int k = 0; k < 11; k++)
		CU_ASSERT_EQUAL(sl_tune_budget_spend(&b, 1.0 / 11), 0);
	CU_ASSERT_EQUAL(sl_tune_budget_spend(&b, 1e-6), -ENOSPC);

	/* A job its budget cannot pay is refused whole: nothing drawn,
	 * spent or written. */
	fixture_init(&fx, 10, 0, 1.0);
	CU_ASSERT_EQUAL(sl_tune_budget_init(&fx.budget, 0.5), 0);
	snap = fx.budget;
	rng_before = fx.rng;
	memset(&r, 0xa5, sizeof(r));
	r0 = r;
	CU_ASSERT_EQUAL(sl_tune_rs(&fx.job, 16, 81, &r), -ENOSPC);
	CU_ASSERT_EQUAL(sl_tune_hyperband(&fx.job, 81, 3, &r), -ENOSPC);
	CU_ASSERT_EQUAL(memcmp(&snap, &fx.budget, sizeof(snap)), 0);
	CU_ASSERT_EQUAL(memcmp(&rng_before, &fx.rng, sizeof(fx.rng)), 0);
	CU_ASSERT_EQUAL(memcmp(&r0, &r, sizeof(r)), 0);
	CU_ASSERT_EQUAL(fx.steps.n, 0);

	/* Budget 1.5 pays one job of eps 1, not a second. */
	CU_ASSERT_EQUAL(sl_tune_budget_init(&fx.budget, 1.5), 0);
	CU_ASSERT_EQUAL(sl_tune_rs(&fx.job, 16, 81, &r), 0);
	CU_ASSERT_EQUAL(fx.budget.spent, 1.0);
	CU_ASSERT_EQUAL(sl_tune_budget_remaining(&fx.budget), 0.5);
	snap = fx.budget;
	CU_ASSERT_EQUAL(sl_tune_rs(&fx.job, 16, 81, &r), -ENOSPC);
	CU_ASSERT_EQUAL(sl_tune_hyperband(&fx.job, 81, 3, &r), -ENOSPC);
	CU_ASSERT_EQUAL(memcmp(&snap, &fx.budget, sizeof(snap)), 0);
	/* Half the epsilon fits. */
	fx.job.noise.epsilon = 0.5;
	CU_ASSERT_EQUAL(sl_tune_hyperband(&fx.job, 81, 3, &r), 0);
	CU_ASSERT(sl_tune_budget_remaining(&fx.budget) <= 1e-12);
}

/* --- bad input ---------------------------------------------------------------- */

/* Run every tuner on @fx's job: each must say -EINVAL and change
 * nothing. */
static void
expect_inval(struct fixture *fx, const char *what)
{
	struct sl_tune_result r, r0;
	struct sl_tune_budget b0 = fx->budget;
	struct sl_rng g0 = fx->rng, n0 = fx->noise_rng;
	int a, h;

	memset(&r, 0x5a, sizeof(r));
	r0 = r;
	a = sl_tune_rs(&fx->job, 16, 81, &r);
	h = sl_tune_hyperband(&fx->job, 81, 3, &r);
	if (a != -EINVAL || h != -EINVAL)
		fprintf(stderr, "%s: rs %d hb %d\n", what, a, h);
	CU_ASSERT_EQUAL(a, -EINVAL);
	CU_ASSERT_EQUAL(h, -EINVAL);
	CU_ASSERT_EQUAL(memcmp(&r0, &r, sizeof(r)), 0);
	CU_ASSERT_EQUAL(memcmp(&b0, &fx->budget, sizeof(b0)), 0);
	CU_ASSERT_EQUAL(memcmp(&g0, &fx->rng, sizeof(g0)), 0);
	CU_ASSERT_EQUAL(memcmp(&n0, &fx->noise_rng, sizeof(n0)), 0);
	CU_ASSERT_EQUAL(fx->steps.n, 0);
}

static void
test_bad_input(void)
{
	static double err[NODES];
	struct fixture fx;
	struct sl_tune_result r;
	struct sl_tune_hb_plan p;
	struct sl_tune_eval ev;
	unsigned int idx[NODES];
	struct sl_rng rng, rng0;

	fixture_init(&fx, NODES + 1, 0, 1); /* n_c > N */
	expect_inval(&fx, "n_c > N");
	fixture_init(&fx, 0, 0, 1);
	expect_inval(&fx, "n_c 0");
	fixture_init(&fx, 10, 0, 0);
	expect_inval(&fx, "eps 0");
	fixture_init(&fx, 10, 0, -1);
	expect_inval(&fx, "eps < 0");
	fixture_init(&fx, 10, 0, NAN);
	expect_inval(&fx, "eps NaN");
	fixture_init(&fx, 10, -1, 1);
	expect_inval(&fx, "b < 0");
	fixture_init(&fx, 10, NAN, 1);
	expect_inval(&fx, "b NaN");
	fixture_init(&fx, 10, INFINITY, 1);
	expect_inval(&fx, "b inf");
	fixture_init(&fx, 10, 0, 1);
	fx.job.noise.heterogeneity = 1.5;
	expect_inval(&fx, "heterogeneity");
	fixture_init(&fx, 10, 0, 1);
	fx.space.size = 0; /* and no sampler: empty */
	expect_inval(&fx, "empty space");
	fixture_init(&fx, 10, 0, 1);
	fx.space.dim = SL_TUNE_DIM_MAX + 1;
	expect_inval(&fx, "dim");
	fixture_init(&fx, 10, 0, 1);
	fx.space.size = 10; /* RS wants 16, HB 81 */
	expect_inval(&fx, "space too small");
	fixture_init(&fx, 10, 0, 1);
	fx.job.budget = NULL; /* DP without a budget */
	expect_inval(&fx, "no budget");
	fixture_init(&fx, 10, 0, 1);
	fx.obj.nodes = 0;
	expect_inval(&fx, "no nodes");
	fixture_init(&fx, 10, 0, 1);
	fx.obj.node_errors = NULL;
	expect_inval(&fx, "no objective");

	fixture_init(&fx, 10, 0, 1);
	CU_ASSERT_EQUAL(sl_tune_rs(&fx.job, 0, 81, &r), -EINVAL);
	CU_ASSERT_EQUAL(sl_tune_rs(&fx.job, 16, 0, &r), -EINVAL);
	CU_ASSERT_EQUAL(sl_tune_rs(&fx.job, 16, 81, NULL), -EINVAL);
	CU_ASSERT_EQUAL(sl_tune_hyperband(&fx.job, 81, 1, &r), -EINVAL);
	CU_ASSERT_EQUAL(sl_tune_hyperband(&fx.job, 0, 3, &r), -EINVAL);
	CU_ASSERT_EQUAL(sl_tune_proxy_rs(&fx.job, NULL, 16, 81, &r), -EINVAL);
	CU_ASSERT_EQUAL(sl_tune_proxy_rs(&fx.job, &fx.obj, 0, 81, &r), -EINVAL);
	CU_ASSERT_EQUAL(fx.budget.spent, 0.0);
	CU_ASSERT_EQUAL(fx.steps.n, 0);
	CU_ASSERT_EQUAL(sl_tune_hb_plan(&p, 81, 1), -EINVAL);
	CU_ASSERT_EQUAL(sl_tune_hb_plan(&p, 0, 3), -EINVAL);
	CU_ASSERT_EQUAL(sl_tune_hb_plan(&p, 1u << 20, 2), -EINVAL); /* 21 */
	CU_ASSERT_EQUAL(sl_tune_hb_plan(&p, 1u << 15, 2), 0);       /* 16 */

	/* A node error outside [0, 1] from the objective: -EDOM before any
	 * charge. */
	fixture_init(&fx, 10, 0, 1);
	CU_ASSERT_EQUAL(sl_tune_budget_init(&fx.budget, 1), 0);
	fx.obj.node_errors = bad_errors;
	CU_ASSERT_EQUAL(sl_tune_rs(&fx.job, 16, 81, &r), -EDOM);
	CU_ASSERT_EQUAL(fx.budget.spent, 0.0);

	/* The mechanisms themselves. */
	for (int i = 0; i < NODES; i++)
		err[i] = 0.5;
	sl_rng_seeded(&rng, 1);
	rng0 = rng;
	memset(&ev, 0, sizeof(ev));
	CU_ASSERT_EQUAL(sl_tune_sample(&rng, err, NODES, NODES + 1, 0, idx),
			-EINVAL);
	CU_ASSERT_EQUAL(sl_tune_sample(&rng, err, NODES, 0, 0, idx), -EINVAL);
	CU_ASSERT_EQUAL(sl_tune_sample(&rng, err, NODES, 5, -1, idx), -EINVAL);
	CU_ASSERT_EQUAL(sl_tune_sample(&rng, err, 0, 0, 0, idx), -EINVAL);
	CU_ASSERT_EQUAL(sl_tune_evaluate(&rng, &rng, err, NULL, NODES,
					 NODES + 1, 0, 0.1, &ev),
			-EINVAL);
	CU_ASSERT_EQUAL(
		sl_tune_evaluate(&rng, &rng, err, NULL, NODES, 5, -2, 0.1, &ev),
		-EINVAL);
	CU_ASSERT_EQUAL(
		sl_tune_evaluate(&rng, &rng, err, NULL, NODES, 5, 0, -0.1, &ev),
		-EINVAL);
	CU_ASSERT_EQUAL(
		sl_tune_evaluate(&rng, NULL, err, NULL, NODES, 5, 0, 0.1, &ev),
		-EINVAL);
	err[3] = 1.25;
	CU_ASSERT_EQUAL(
		sl_tune_evaluate(&rng, &rng, err, NULL, NODES, 5, 0, 0.1, &ev),
		-EINVAL);
	CU_ASSERT_EQUAL(sl_tune_bias_weights(err, NODES, 1, err), -EINVAL);
	err[3] = NAN;
	CU_ASSERT_EQUAL(sl_tune_sample(&rng, err, NODES, 5, 1, idx), -EINVAL);
	err[3] = 0.5;
	{
		double wt[NODES];

		for (int i = 0; i < NODES; i++)
			wt[i] = 1;
		wt[9] = 0;
		CU_ASSERT_EQUAL(sl_tune_evaluate(&rng, NULL, err, wt, NODES, 5,
						 0, 0, &ev),
				-EINVAL);
	}
	CU_ASSERT_EQUAL(memcmp(&rng0, &rng, sizeof(rng)), 0);
	CU_ASSERT_EQUAL(ev.value, 0.0);
	CU_ASSERT_EQUAL(ev.scale, 0.0);
}

/* --- sources -------------------------------------------------------------------- */

static void
test_sources(void)
{
	struct sl_rng a, b, os;
	uint64_t x, y, z;
	double u;

	sl_rng_seeded(&a, 99);
	sl_rng_seeded(&b, 99);
	for (int k = 0; k < 1000; k++) {
		CU_ASSERT_EQUAL(a.next(&a, &x), 0);
		CU_ASSERT_EQUAL(b.next(&b, &y), 0);
		CU_ASSERT_EQUAL(x, y);
		CU_ASSERT_EQUAL(sl_tune_uniform(&a, &u), 0);
		CU_ASSERT(u > 0 && u < 1);
		CU_ASSERT_EQUAL(b.next(&b, &y), 0);
	}
	sl_rng_os(&os);
	CU_ASSERT_EQUAL(os.next(&os, &x), 0);
	CU_ASSERT_EQUAL(os.next(&os, &y), 0);
	CU_ASSERT_EQUAL(os.next(&os, &z), 0);
	CU_ASSERT(!(x == y && y == z));
	/* The used words are wiped from the buffer. */
	CU_ASSERT_EQUAL(os.u.os.buf[0], 0);
	CU_ASSERT_EQUAL(os.u.os.buf[2], 0);
	CU_ASSERT_EQUAL(sl_tune_laplace(&os, 1.0, &u), 0);
	CU_ASSERT(isfinite(u));
}

int
main(void)
{
	CU_pSuite s;
	unsigned int fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("tune", NULL, NULL);
	CU_add_test(s, "random sources", test_sources);
	CU_add_test(s, "laplace draws", test_laplace_draws);
	CU_add_test(s, "RS scale N/(n_c eps)", test_rs_scale);
	CU_add_test(s, "RS composition as run", test_rs_composition);
	CU_add_test(s, "HB plan and scale 2Tk/(n_c eps)", test_hb_plan);
	CU_add_test(s, "HB composition as run", test_hb_run_composition);
	CU_add_test(s, "systems bias sampling", test_bias_sampling);
	CU_add_test(s, "clipping", test_clipping);
	CU_add_test(s, "uniform and weighted means", test_means);
	CU_add_test(s, "noiseless RS", test_rs_noiseless);
	CU_add_test(s, "RS on a continuous space", test_rs_continuous);
	CU_add_test(s, "noiseless HB", test_hb_noiseless);
	CU_add_test(s, "huge epsilon ~ noiseless", test_huge_epsilon);
	CU_add_test(s, "one-shot proxy RS", test_proxy_rs);
	CU_add_test(s, "budget", test_budget);
	CU_add_test(s, "bad input", test_bad_input);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
