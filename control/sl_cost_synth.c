/* SPDX-License-Identifier: MIT */
/*
 * sl_cost_synth.c - paper A's synthetic model, the fixture of the cost
 * model's tests (tests/control/test_cost.c) and of its benchmark
 * (tools/bench/privreg.c): x ~ N(0, I_d), y = x^T B alpha + eta, an
 * oracle B^ at an exact angle, the estimators of the note's table side by
 * side on the same draw. Data come from the seeded generator; privacy
 * noise from the same discrete Gaussian production uses.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sl_cost_int.h"

/* The full-dimension arm's noise seed is the subspace arm's xor this,
 * so the two arms draw independent noise. */
#define FULL_NOISE_SALT 0x66756c6c6e6f6973ull /* "fullnois" */

double
sl_cost_synth_normal(struct sl_rng *rng)
{
	for (;;) {
		uint64_t a, b;
		double u, v, s;

		if (rng->next(rng, &a) || rng->next(rng, &b))
			return 0;
		/* 53 random bits each, uniform on [-1, 1). */
		u = (double)(a >> 11) * 0x1p-52 - 1;
		v = (double)(b >> 11) * 0x1p-52 - 1;
		s = u * u + v * v;
		if (s > 0 && s < 1)
			return u * sqrt(-2 * log(s) / s);
	}
}

/* @c orthonormal columns of length @d (column-major into @q): Gaussian
 * columns, Gram-Schmidt twice (enough for full double accuracy). */
static void
orthonormal(struct sl_rng *rng, unsigned int d, unsigned int c, double *q)
{
	for (unsigned int j = 0; j < c; j++) {
		double *v = q + (size_t)j * d, nrm;

		for (unsigned int i = 0; i < d; i++)
			v[i] = sl_cost_synth_normal(rng);
		for (int pass = 0; pass < 2; pass++)
			for (unsigned int a = 0; a < j; a++) {
				const double *u = q + (size_t)a * d;
				double f = sl_cost_dot(u, v, d);

				for (unsigned int i = 0; i < d; i++)
					v[i] -= f * u[i];
			}
		nrm = sqrt(sl_cost_dot(v, v, d));
		for (unsigned int i = 0; i < d; i++)
			v[i] /= nrm;
	}
}

/* A uniform direction in R^@k scaled to norm @len, into @a. */
static void
sphere(struct sl_rng *rng, unsigned int k, double len, double *a)
{
	double nrm;

	for (unsigned int j = 0; j < k; j++)
		a[j] = sl_cost_synth_normal(rng);
	nrm = sqrt(sl_cost_dot(a, a, k));
	for (unsigned int j = 0; j < k; j++)
		a[j] *= len / nrm;
}

/* |@w - @theta|^2 in d dims. */
static double
er_full(const double *w, const double *theta, unsigned int d)
{
	double s = 0;

	for (unsigned int i = 0; i < d; i++)
		s += (w[i] - theta[i]) * (w[i] - theta[i]);
	return s;
}

/* |B^ @w - @theta|^2, B^ d x k column-major. */
static double
er_sub(const double *bh, const double *w, const double *theta, unsigned int d,
       unsigned int k)
{
	double s = 0;

	for (unsigned int i = 0; i < d; i++) {
		double v = -theta[i];

		for (unsigned int j = 0; j < k; j++)
			v += bh[(size_t)j * d + i] * w[j];
		s += v * v;
	}
	return s;
}

/* Whether @c is a fixture sl_cost_synth_er can draw. */
static bool
synth_valid(const struct sl_cost_synth *c)
{
	return c && c->k >= 1 && c->d >= 2 * c->k && c->d <= SL_COST_P_MAX &&
	       c->n >= (size_t)c->d + 2 && c->gamma >= 0 && c->gamma < 1 &&
	       c->n <= SIZE_MAX / sizeof(double) / c->d;
}

int
sl_cost_synth_er(const struct sl_cost_synth *cfg, struct sl_cost_synth_er *out)
{
	unsigned int d, k;
	bool full, sub;
	struct sl_rng rng;
	struct sl_cost_dp dp;
	double *q = NULL, *bh = NULL, *theta = NULL, *x = NULL, *z = NULL;
	double *y = NULL, *w = NULL, alpha[SL_COST_P_MAX], xi[SL_COST_P_MAX];
	double c = sqrt(1 - (cfg ? cfg->gamma * cfg->gamma : 0));
	int rc = 0;

	if (!synth_valid(cfg) || !out)
		return -SL_COST_E_INVAL;
	memset(out, 0, sizeof(*out));
	d = cfg->d;
	k = cfg->k;
	full = cfg->arms & (SL_COST_ARM_OLS_FULL | SL_COST_ARM_DP_FULL);
	sub = cfg->arms &
	      (SL_COST_ARM_OLS_SUB | SL_COST_ARM_DP_SUB | SL_COST_ARM_GD_SUB);
	q = malloc((size_t)d * 2 * k * sizeof(*q));
	bh = malloc((size_t)d * k * sizeof(*bh));
	theta = malloc((size_t)d * sizeof(*theta));
	w = malloc((size_t)d * sizeof(*w));
	y = malloc(cfg->n * sizeof(*y));
	if (full)
		x = malloc(cfg->n * d * sizeof(*x));
	if (sub)
		z = malloc(cfg->n * k * sizeof(*z));
	if (!q || !bh || !theta || !w || !y || (full && !x) || (sub && !z)) {
		rc = -SL_COST_E_NOMEM;
		goto out;
	}

	sl_rng_seeded(&rng, cfg->data_seed);
	/* B = q's first k columns, B_perp the next k. */
	orthonormal(&rng, d, 2 * k, q);
	sphere(&rng, k, 1, alpha);
	for (unsigned int i = 0; i < d; i++) {
		theta[i] = 0;
		for (unsigned int j = 0; j < k; j++)
			theta[i] += q[(size_t)j * d + i] * alpha[j];
	}
	for (size_t j = 0; j < (size_t)d * k; j++)
		bh[j] = c * q[j] + cfg->gamma * q[(size_t)d * k + j];
	for (size_t i = 0; i < cfg->n; i++) {
		for (unsigned int a = 0; a < d; a++)
			xi[a] = sl_cost_synth_normal(&rng);
		y[i] = sl_cost_dot(xi, theta, d) + sl_cost_synth_normal(&rng);
		if (full)
			memcpy(x + i * d, xi, d * sizeof(*xi));
		for (unsigned int j = 0; sub && j < k; j++)
			z[i * k + j] = sl_cost_dot(bh + (size_t)j * d, xi, d);
	}

	if (cfg->arms & SL_COST_ARM_OLS_FULL) {
		if ((rc = sl_cost_ols(x, y, cfg->n, d, w)))
			goto out;
		out->ols_full = er_full(w, theta, d);
	}
	if (cfg->arms & SL_COST_ARM_OLS_SUB) {
		if ((rc = sl_cost_ols(z, y, cfg->n, k, w)))
			goto out;
		out->ols_sub = er_sub(bh, w, theta, d, k);
	}
	dp = (struct sl_cost_dp){
		.epsilon = cfg->epsilon,
		.delta = cfg->delta,
		.steps = cfg->steps,
		.step_size = cfg->step_size,
		.clip_z = sqrt(k) + 2,
		.clip_r = cfg->clip_r,
		.unit_rows = 1,
	};
	if (cfg->arms & SL_COST_ARM_GD_SUB) {
		rc = sl_cost_dp_regress(z, y, cfg->n, k, &dp, NULL, w, NULL);
		if (rc)
			goto out;
		out->gd_sub = er_sub(bh, w, theta, d, k);
	}
	if (cfg->arms & SL_COST_ARM_DP_SUB) {
		sl_rng_seeded(&rng, cfg->noise_seed);
		rc = sl_cost_dp_regress(z, y, cfg->n, k, &dp, &rng, w,
					&out->dp_sub_rep);
		if (rc)
			goto out;
		out->dp_sub = er_sub(bh, w, theta, d, k);
	}
	if (cfg->arms & SL_COST_ARM_DP_FULL) {
		dp.clip_z = sqrt(d) + 2;
		sl_rng_seeded(&rng, cfg->noise_seed ^ FULL_NOISE_SALT);
		rc = sl_cost_dp_regress(x, y, cfg->n, d, &dp, &rng, w,
					&out->dp_full_rep);
		if (rc)
			goto out;
		out->dp_full = er_full(w, theta, d);
	}
out:
	free(q);
	free(bh);
	free(theta);
	free(w);
	free(y);
	free(x);
	free(z);
	return rc;
}

int
sl_cost_synth_mom(unsigned int d, unsigned int k, unsigned int tasks, size_t n1,
		  double alpha_norm, uint64_t seed, double *sin_theta)
{
	struct sl_rng rng;
	double *b, *bh, *alpha, *theta, *x, *y;
	int rc;

	if (!sin_theta || k == 0 || d < k || d > SL_COST_P_MAX || tasks == 0 ||
	    n1 < tasks || !(alpha_norm > 0) ||
	    n1 > SIZE_MAX / sizeof(double) / d)
		return -SL_COST_E_INVAL;
	b = malloc((size_t)d * k * sizeof(*b));
	bh = malloc((size_t)d * k * sizeof(*bh));
	alpha = malloc((size_t)tasks * k * sizeof(*alpha));
	theta = malloc((size_t)tasks * d * sizeof(*theta));
	x = malloc(n1 * d * sizeof(*x));
	y = malloc(n1 * sizeof(*y));
	if (!b || !bh || !alpha || !theta || !x || !y) {
		rc = -SL_COST_E_NOMEM;
		goto out;
	}
	sl_rng_seeded(&rng, seed);
	orthonormal(&rng, d, k, b);
	for (unsigned int t = 0; t < tasks; t++) {
		double *th = theta + (size_t)t * d;

		sphere(&rng, k, alpha_norm, alpha + (size_t)t * k);
		for (unsigned int i = 0; i < d; i++) {
			th[i] = 0;
			for (unsigned int j = 0; j < k; j++)
				th[i] += b[(size_t)j * d + i] *
					 alpha[(size_t)t * k + j];
		}
	}
	/* Row i belongs to task i mod tasks: equal sizes, within one. */
	for (size_t i = 0; i < n1; i++) {
		double *xi = x + i * d;

		for (unsigned int a = 0; a < d; a++)
			xi[a] = sl_cost_synth_normal(&rng);
		y[i] = sl_cost_dot(xi, theta + (i % tasks) * d, d) +
		       sl_cost_synth_normal(&rng);
	}
	rc = sl_cost_mom(x, y, n1, d, k, bh, NULL);
	if (!rc)
		rc = sl_cost_sin_theta(b, bh, d, k, sin_theta);
out:
	free(b);
	free(bh);
	free(alpha);
	free(theta);
	free(x);
	free(y);
	return rc;
}
