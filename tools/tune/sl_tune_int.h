/* SPDX-License-Identifier: MIT */
/*
 * sl_tune_int.h - helpers shared by sl_tune_noise.c and sl_tune.c; not
 * part of the public interface.
 */
#ifndef SL_TUNE_INT_H
#define SL_TUNE_INT_H

#include "sl_tune.h"

/* Per-fleet scratch, allocated once a tuning job: node errors, bias
 * weights, a permutation and the drawn nodes (N each). */
struct sl_tune_ws {
	unsigned int nodes;
	double *errors;
	double *w;
	unsigned int *perm;
	unsigned int *idx;
};

/* sl_tune_ws_init - scratch for @nodes nodes. 0 or -ENOMEM. */
int sl_tune_ws_init(struct sl_tune_ws *ws, unsigned int nodes);

/* sl_tune_ws_free - frees the scratch (also a failed init's). */
void sl_tune_ws_free(struct sl_tune_ws *ws);

/* sl_tune_uniform_below - a uniform integer in [0, @n), n >= 1. */
int sl_tune_uniform_below(struct sl_rng *rng, uint64_t n, uint64_t *out);

/* sl_tune_errors_ok - every error in [0, 1] (NaN is not). */
bool sl_tune_errors_ok(const double *error, unsigned int nodes);

/* sl_tune_weights_ok - @weight NULL, or every weight finite and > 0. */
bool sl_tune_weights_ok(const double *weight, unsigned int nodes);

/* sl_tune_sample_ws - sl_tune_sample into ws->idx, arguments checked. */
int sl_tune_sample_ws(struct sl_tune_ws *ws, struct sl_rng *rng,
		      const double *error, unsigned int n_c, double b);

/* sl_tune_mean - mean of @error over @idx[0..n-1] (@idx NULL: 0..n-1),
 * weighted by @weight unless @uniform or @weight is NULL. */
double sl_tune_mean(const double *error, const double *weight,
		    const unsigned int *idx, unsigned int n, bool uniform);

/* sl_tune_release_ws - one released evaluation (sl_tune_evaluate's body),
 * arguments checked. */
int sl_tune_release_ws(struct sl_tune_ws *ws, struct sl_rng *rng,
		       struct sl_rng *noise_rng, const double *error,
		       const double *weight, unsigned int n_c, double b,
		       double scale, struct sl_tune_eval *out);

#endif /* SL_TUNE_INT_H */
