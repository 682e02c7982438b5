/* SPDX-License-Identifier: MIT */
/*
 * sl_tune_noise.c - random sources, the noise models of one evaluation
 * (subsample, systems bias, Laplace, clipping) and the privacy budget
 * (sl_tune.h; paper B, "Noise models - exact forms").
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sl_tune_int.h"

/* --- random sources ---------------------------------------------------- */

static int
rng_word(struct sl_rng *rng, uint64_t *out)
{
	int rc = rng->next(rng, out);

	return rc > 0 ? -EIO : rc;
}

/* 53 random bits k -> (k + 1/2) 2^-53: never 0, never 1. */
static double
open_unit(uint64_t k53)
{
	return ((double)k53 + 0.5) * 0x1p-53;
}

int
sl_tune_uniform(struct sl_rng *rng, double *u)
{
	uint64_t x;
	int rc = rng_word(rng, &x);

	if (rc)
		return rc;
	*u = open_unit(x >> 11);
	return 0;
}

int
sl_tune_uniform_below(struct sl_rng *rng, uint64_t n, uint64_t *out)
{
	/* Lemire's multiply-and-reject: no modulo bias. */
	uint64_t x, floor = -n % n;
	__uint128_t m;
	int rc;

	do {
		if ((rc = rng_word(rng, &x)))
			return rc;
		m = (__uint128_t)x * n;
	} while ((uint64_t)m < floor);
	*out = (uint64_t)(m >> 64);
	return 0;
}

int
sl_tune_laplace(struct sl_rng *rng, double scale, double *out)
{
	uint64_t x;
	double mag;
	int rc;

	if (!(scale >= 0) || !isfinite(scale))
		return -EINVAL;
	if (scale == 0) {
		*out = 0;
		return 0;
	}
	if ((rc = rng_word(rng, &x)))
		return rc;
	/* |X| ~ Exp(1/scale) by inversion; the sign from an unused bit. */
	mag = -scale * log(open_unit(x & ((1ull << 53) - 1)));
	*out = x >> 63 ? -mag : mag;
	return 0;
}

/* --- noise models ---------------------------------------------------------- */

double
sl_tune_clip01(double x)
{
	if (isnan(x))
		return 1.0;
	return x < 0 ? 0.0 : x > 1 ? 1.0 : x;
}

bool
sl_tune_errors_ok(const double *error, unsigned int nodes)
{
	for (unsigned int i = 0; i < nodes; i++)
		if (!(error[i] >= 0 && error[i] <= 1))
			return false;
	return true;
}

bool
sl_tune_weights_ok(const double *weight, unsigned int nodes)
{
	if (!weight)
		return true;
	for (unsigned int i = 0; i < nodes; i++)
		if (!(weight[i] > 0) || !isfinite(weight[i]))
			return false;
	return true;
}

static bool
bias_ok(double b)
{
	return b >= 0 && isfinite(b);
}

/* Weights relative to the largest: (base - e_i)^b / max_j (base - e_j)^b,
 * computed in logs. The largest is exactly 1. */
static void
bias_raw(const double *error, unsigned int nodes, double b, double *w)
{
	double top = -INFINITY;

	for (unsigned int i = 0; i < nodes; i++) {
		w[i] = b * log(SL_TUNE_BIAS_BASE - error[i]);
		if (w[i] > top)
			top = w[i];
	}
	for (unsigned int i = 0; i < nodes; i++)
		w[i] = exp(w[i] - top);
}

int
sl_tune_bias_weights(const double *error, unsigned int nodes, double b,
		     double *w)
{
	double sum = 0;

	if (!error || !w || nodes == 0 || nodes > SL_TUNE_NODES_MAX ||
	    !bias_ok(b) || !sl_tune_errors_ok(error, nodes))
		return -EINVAL;
	bias_raw(error, nodes, b, w);
	for (unsigned int i = 0; i < nodes; i++)
		sum += w[i];
	for (unsigned int i = 0; i < nodes; i++)
		w[i] /= sum;
	return 0;
}

int
sl_tune_ws_init(struct sl_tune_ws *ws, unsigned int nodes)
{
	memset(ws, 0, sizeof(*ws));
	ws->nodes = nodes;
	ws->errors = malloc(nodes * sizeof(*ws->errors));
	ws->w = malloc(nodes * sizeof(*ws->w));
	ws->perm = malloc(nodes * sizeof(*ws->perm));
	ws->idx = malloc(nodes * sizeof(*ws->idx));
	if (!ws->errors || !ws->w || !ws->perm || !ws->idx) {
		sl_tune_ws_free(ws);
		return -ENOMEM;
	}
	return 0;
}

void
sl_tune_ws_free(struct sl_tune_ws *ws)
{
	free(ws->errors);
	free(ws->w);
	free(ws->perm);
	free(ws->idx);
	memset(ws, 0, sizeof(*ws));
}

/* Successive draws in proportion to w among those not drawn (w[j] < 0
 * marks a drawn node); all-zero remaining weights (underflow) fall back
 * to a uniform draw among the remaining. */
static int
sample_weighted(struct sl_rng *rng, double *w, unsigned int nodes,
		unsigned int n_c, unsigned int *out)
{
	for (unsigned int k = 0; k < n_c; k++) {
		double total = 0, u, acc = 0;
		unsigned int pick = nodes, last = nodes;
		int rc;

		for (unsigned int j = 0; j < nodes; j++)
			if (w[j] >= 0)
				total += w[j];
		if (total > 0) {
			if ((rc = sl_tune_uniform(rng, &u)))
				return rc;
			u *= total;
			for (unsigned int j = 0; j < nodes; j++) {
				if (!(w[j] > 0))
					continue;
				last = j;
				acc += w[j];
				if (u < acc) {
					pick = j;
					break;
				}
			}
			/* u just below total, rounding in acc: the last. */
			if (pick == nodes)
				pick = last;
		} else {
			uint64_t r;

			if ((rc = sl_tune_uniform_below(rng, nodes - k, &r)))
				return rc;
			for (unsigned int j = 0; j < nodes; j++)
				if (w[j] >= 0 && r-- == 0) {
					pick = j;
					break;
				}
		}
		out[k] = pick;
		w[pick] = -1;
	}
	return 0;
}

int
sl_tune_sample_ws(struct sl_tune_ws *ws, struct sl_rng *rng,
		  const double *error, unsigned int n_c, double b)
{
	unsigned int nodes = ws->nodes;

	if (n_c == nodes) {
		for (unsigned int i = 0; i < nodes; i++)
			ws->idx[i] = i;
		return 0;
	}
	if (b == 0) {
		for (unsigned int i = 0; i < nodes; i++)
			ws->perm[i] = i;
		for (unsigned int k = 0; k < n_c; k++) {
			uint64_t r;
			unsigned int t;
			int rc = sl_tune_uniform_below(rng, nodes - k, &r);

			if (rc)
				return rc;
			t = ws->perm[k];
			ws->perm[k] = ws->perm[k + r];
			ws->perm[k + r] = t;
			ws->idx[k] = ws->perm[k];
		}
		return 0;
	}
	bias_raw(error, nodes, b, ws->w);
	return sample_weighted(rng, ws->w, nodes, n_c, ws->idx);
}

int
sl_tune_sample(struct sl_rng *rng, const double *error, unsigned int nodes,
	       unsigned int n_c, double b, unsigned int *out)
{
	struct sl_tune_ws ws;
	int rc;

	if (!rng || !error || !out || nodes == 0 || nodes > SL_TUNE_NODES_MAX ||
	    n_c == 0 || n_c > nodes || !bias_ok(b) ||
	    !sl_tune_errors_ok(error, nodes))
		return -EINVAL;
	if ((rc = sl_tune_ws_init(&ws, nodes)))
		return rc;
	rc = sl_tune_sample_ws(&ws, rng, error, n_c, b);
	if (!rc)
		memcpy(out, ws.idx, n_c * sizeof(*out));
	sl_tune_ws_free(&ws);
	return rc;
}

double
sl_tune_mean(const double *error, const double *weight, const unsigned *idx,
	     unsigned int n, bool uniform)
{
	double num = 0, den = 0;

	for (unsigned int k = 0; k < n; k++) {
		unsigned int i = idx ? idx[k] : k;
		double wi = uniform || !weight ? 1.0 : weight[i];

		num += wi * error[i];
		den += wi;
	}
	return num / den;
}

int
sl_tune_release_ws(struct sl_tune_ws *ws, struct sl_rng *rng,
		   struct sl_rng *noise_rng, const double *error,
		   const double *weight, unsigned int n_c, double b,
		   double scale, struct sl_tune_eval *out)
{
	double mean, noise = 0;
	int rc;

	if ((rc = sl_tune_sample_ws(ws, rng, error, n_c, b)))
		return rc;
	/* With DP the uniform mean: its sensitivity is 1/n_c. */
	mean = sl_tune_mean(error, weight, ws->idx, n_c, scale > 0);
	if (scale > 0 && (rc = sl_tune_laplace(noise_rng, scale, &noise)))
		return rc;
	out->mean = mean;
	out->noise = noise;
	out->scale = scale;
	out->value = sl_tune_clip01(mean + noise);
	return 0;
}

int
sl_tune_evaluate(struct sl_rng *rng, struct sl_rng *noise_rng,
		 const double *error, const double *weight, unsigned int nodes,
		 unsigned int n_c, double b, double scale,
		 struct sl_tune_eval *out)
{
	struct sl_tune_ws ws;
	struct sl_tune_eval ev;
	int rc;

	if (!rng || !error || !out || nodes == 0 || nodes > SL_TUNE_NODES_MAX ||
	    n_c == 0 || n_c > nodes || !bias_ok(b) || !(scale >= 0) ||
	    !isfinite(scale) || (scale > 0 && !noise_rng) ||
	    !sl_tune_errors_ok(error, nodes) ||
	    !sl_tune_weights_ok(weight, nodes))
		return -EINVAL;
	if ((rc = sl_tune_ws_init(&ws, nodes)))
		return rc;
	rc = sl_tune_release_ws(&ws, rng, noise_rng, error, weight, n_c, b,
				scale, &ev);
	sl_tune_ws_free(&ws);
	if (!rc)
		*out = ev;
	return rc;
}

double
sl_tune_rs_scale(unsigned int n_configs, unsigned int n_c, double epsilon)
{
	if (n_configs == 0 || n_c == 0 || !(epsilon > 0))
		return -1;
	if (isinf(epsilon))
		return 0;
	return (double)n_configs / ((double)n_c * epsilon);
}

double
sl_tune_rs_eval_epsilon(unsigned int n_configs, double epsilon)
{
	if (n_configs == 0 || !(epsilon > 0))
		return -1;
	return epsilon / n_configs;
}

/* --- the privacy budget -------------------------------------------------- */

int
sl_tune_budget_init(struct sl_tune_budget *budget, double epsilon)
{
	if (!budget || !(epsilon > 0) || !isfinite(epsilon))
		return -EINVAL;
	memset(budget, 0, sizeof(*budget));
	budget->total = epsilon;
	return 0;
}

bool
sl_tune_budget_can_pay(const struct sl_tune_budget *budget, double epsilon)
{
	/* The slack lets T charges of eps/T (each rounded) pay eps. */
	return epsilon > 0 && isfinite(epsilon) &&
	       budget->spent + epsilon <= budget->total * (1 + 0x1p-40);
}

int
sl_tune_budget_spend(struct sl_tune_budget *budget, double epsilon)
{
	if (!budget || !(epsilon > 0) || !isfinite(epsilon))
		return -EINVAL;
	if (!sl_tune_budget_can_pay(budget, epsilon)) {
		budget->refused++;
		return -ENOSPC;
	}
	budget->spent += epsilon;
	budget->charges++;
	return 0;
}

double
sl_tune_budget_remaining(const struct sl_tune_budget *budget)
{
	double r = budget->total - budget->spent;

	return r > 0 ? r : 0;
}
