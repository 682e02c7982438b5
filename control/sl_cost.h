/* SPDX-License-Identifier: MIT */
/*
 * sl_cost.h - the scheduler's cost model: how many output tokens a request
 * will cost, predicted from its stage and prompt by a linear model learned
 * from the tenants' own requests under differential privacy, in a low-rank
 * subspace estimated from public data (issue 12; paper A of
 * ../shared/docs/research/private_fedhpo.md, Algorithm 1).
 *
 * The path of a row:
 *
 *   prompt, stage --features--> x in R^64 (fixed map, no data in it)
 *   public rows: mean mu, covariance S -> whitening W = S^-1/2 (truncated),
 *     x~ = W (x - mu) with coordinate 0 (the bias) set to 1;
 *     method of moments M = 1/n sum (y - ybar)^2 x~ x~^T, B^ = its top k
 *     eigenvectors (LAPACK dsyevr); clip norms C_z, R from public rows
 *   z = B^T x~ in R^k (O(d k): P = B^T W is kept)
 *   tenants' rows: a training window, at most m rows per tenant, then
 *     noisy clipped full-batch gradient descent on (z, y - ybar), zCDP,
 *     discrete Gaussian noise from a CSPRNG; every tenant whose rows were
 *     used pays rho(epsilon, delta) from its budget
 *   install gate: held-out public MSE below the mean predictor's
 *   predict: ybar + alpha^T clip(z), clipped to the public target range
 *
 * Target: y = log(1 + output tokens) (sl_cost_target): output lengths are
 * heavy-tailed, and MoM's y^2 x x^T is dominated by outliers on a linear
 * scale (the note's pitfalls). Predictions come back in tokens from the
 * prompt helpers, as log costs from the row helpers.
 *
 * Privacy unit: the tenant. A training window holds at most m rows per
 * tenant and at most n_w rows in all (both public settings); the mean
 * gradient is normalised by n_w, not by the rows present, so replacing
 * one tenant's rows by anything (its <= m rows out, <= m rows in, rows of
 * others displaced from a full window included) moves it by at most
 *   Delta = 2 m C_z R / n_w
 * in L2. T steps with discrete Gaussian noise of std s per coordinate are
 * T Delta_L^2 / (2 s_L^2)-zCDP (Canonne, Kamath, Steinke 2020, Thm 14,
 * adaptive composition), Delta_L the sensitivity on the noise lattice;
 * s is set so that this is rho(epsilon, delta) exactly (sl_cost_dp_regress).
 * A tenant pays only for a training that used its rows (individual
 * accounting with a privacy filter, Feldman and Zrnic 2021); its rows are
 * refused once it cannot pay for the next one. Public rows and everything
 * computed from them cost nothing. With m = 1 and n_w = n this is paper
 * A's row-level setting: Delta = 2 C_z R / n, the note's point 5.
 *
 * Not thread-safe: one thread (the control plane's loop) owns a model.
 * Personalised predictions come from a tenant's own rows without noise:
 * use them only to order that tenant's own requests, never to arbitrate
 * between tenants (the note's cross-tenant side channel).
 */
#ifndef SL_COST_H
#define SL_COST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_rng.h"

/* --- features ---------------------------------------------------------- */

/* Feature vector length d, and its layout. */
#define SL_COST_DIM 64
#define SL_COST_F_BIAS 0  /* always 1 */
#define SL_COST_F_WORDS 1 /* log(1 + words) */
#define SL_COST_F_STAGE 2 /* SL_COST_STAGE_SLOTS one-hot stage slots */
#define SL_COST_STAGE_SLOTS 8
#define SL_COST_F_BUCKET (SL_COST_F_STAGE + SL_COST_STAGE_SLOTS)
#define SL_COST_BUCKETS (SL_COST_DIM - SL_COST_F_BUCKET) /* 54 */

/* Prompt bytes looked at; a longer prompt is featurised as its first
 * 1 MiB (clipped, never trusted: bounded work per call). */
#define SL_COST_SCAN_MAX (1u << 20)

/* Output tokens above this count as this many (targets <= 13.9). */
#define SL_COST_TOKENS_MAX (1u << 20)

/* Raw coordinates and targets given to the row helpers are clipped to
 * +-1e6: far beyond anything the feature map (<= 15) or a log cost
 * (<= 13.9) produces, small enough that squares cannot overflow. */
#define SL_COST_ABS_MAX 1e6

/* Largest rank k. */
#define SL_COST_RANK_MAX 16

/* Largest dimension the linear-algebra helpers take (sl_cost_mom,
 * sl_cost_dp_regress, ...): the tests and benchmark use up to 50. */
#define SL_COST_P_MAX 1024

/* Every SL_COST_HOLDOUT_EVERY-th public row (the 5th, 10th, ...) is held
 * out: 20 % for the install gate, never used to fit. */
#define SL_COST_HOLDOUT_EVERY 5

/* Public training rows needed to fit: 4 per feature, so the covariance
 * is estimated from more rows than it has entries per row. */
#define SL_COST_PUBLIC_MIN (4 * SL_COST_DIM)

/*
 * sl_cost_features - the fixed, data-independent feature map.
 * @stage: the stage (or template) id: stages 1..SL_COST_STAGE_SLOTS each
 *   their own one-hot slot, others hashed with a fixed seed into one.
 * @prompt, @len: the prompt's bytes (any bytes, NUL included; @prompt may
 *   be NULL when @len is 0). Only the first SL_COST_SCAN_MAX are read.
 * @x: receives the SL_COST_DIM features:
 *   x[0] = 1 (bias);
 *   x[1] = log(1 + words), a word being a maximal run of bytes above
 *     0x20 (ASCII space and controls, NUL included, separate words): a
 *     whitespace count stands in for the model's tokens;
 *   x[2..9]: 1 in the stage's slot, 0 elsewhere;
 *   x[10..63]: log(1 + count) of the words (ASCII letters folded to lower
 *     case) and of the pairs of consecutive words hashed into 54 buckets
 *     (FNV-1a then sl_mix64, fixed seed).
 * Every value lies in [0, log(1 + 2^20)] (< 14). Returns 0, or
 * -SL_COST_E_INVAL when @prompt is NULL with @len > 0 or @x is NULL.
 */
int sl_cost_features(uint32_t stage, const void *prompt, size_t len,
		     double x[SL_COST_DIM]);

/*
 * The feature map over a prompt that comes in pieces (a stream's
 * fragments): sl_cost_scan_feed the pieces in order, then
 * sl_cost_scan_features gives exactly what sl_cost_features gives for
 * them put together, at any stage. What it keeps is what the map needs
 * of the bytes so far: the word being read, the word before it, the word
 * count and the buckets' counts (232 bytes).
 */
struct sl_cost_scan {
	uint64_t words;   /* words ended so far */
	uint64_t h;       /* the current word's hash so far */
	uint64_t prev;    /* the word before's mixed hash */
	uint64_t scanned; /* bytes looked at, at most SL_COST_SCAN_MAX */
	bool in_word;
	bool have_prev;
	uint32_t counts[SL_COST_BUCKETS];
};

/* sl_cost_scan_init - an empty prompt. */
void sl_cost_scan_init(struct sl_cost_scan *s);
/* sl_cost_scan_feed - @len more bytes of the prompt (@bytes may be NULL
 * when @len is 0); past SL_COST_SCAN_MAX in all, nothing more is read. */
void sl_cost_scan_feed(struct sl_cost_scan *s, const void *bytes, size_t len);
/* sl_cost_scan_features - sl_cost_features of the bytes fed, at @stage,
 * into @x (@s is not changed: more may be fed after). */
void sl_cost_scan_features(const struct sl_cost_scan *s, uint32_t stage,
			   double x[SL_COST_DIM]);

/* sl_cost_target - the regression target of @tokens output tokens:
 * log(1 + min(tokens, SL_COST_TOKENS_MAX)). */
double sl_cost_target(uint64_t tokens);

/* --- errors, counters -------------------------------------------------- */

/* Errors: functions return 0 or -SL_COST_E_*, constructors NULL and set
 * *err to one. */
#define SL_COST_ERRORS(_)                                                      \
	_(OK, "success")                                                       \
	_(INVAL, "argument out of range")                                      \
	_(NOMEM, "out of memory")                                              \
	_(NONFINITE, "a value is NaN or infinite")                             \
	_(NOFIT, "public statistics not fitted yet")                           \
	_(FEW_PUBLIC, "too few public rows to fit")                            \
	_(FULL, "public row store full")                                       \
	_(DEGENERATE, "public data has no variance in features or targets")    \
	_(LAPACK, "LAPACK failed (not positive definite, or no convergence)")  \
	_(RNG, "random source failed")                                         \
	_(PRIVACY, "epsilon too small for the noise lattice")

enum sl_cost_err {
#define SL_COST_ERR_ENUM(name, text) SL_COST_E_##name,
	SL_COST_ERRORS(SL_COST_ERR_ENUM)
#undef SL_COST_ERR_ENUM
		SL_COST_E_MAX
};

/* sl_cost_strerror - the text of error @rc (negative or positive); a
 * number outside the table gives "unknown error". */
const char *sl_cost_strerror(int rc);

/* What became of a tenant's row (sl_cost_add_tenant): one counter each. */
#define SL_COST_ROWS(_)                                                        \
	_(STORED, "rows in a training window")                                 \
	_(CAP, "rows over a tenant's per-window cap")                          \
	_(BUDGET,                                                              \
	  "rows of a tenant whose budget cannot pay the next training")        \
	_(WINDOW, "rows beyond a full window")                                 \
	_(TENANTS, "rows of a tenant the tenant table has no room for")        \
	_(NOFIT, "rows before the public statistics were fitted")

enum sl_cost_row {
#define SL_COST_ROW_ENUM(name, text) SL_COST_ROW_##name,
	SL_COST_ROWS(SL_COST_ROW_ENUM)
#undef SL_COST_ROW_ENUM
		SL_COST_ROW_MAX
};

/* Model-wide counters (sl_cost_stats). */
#define SL_COST_COUNTERS(_)                                                    \
	_(PUBLIC_ROWS, "public rows stored")                                   \
	_(PUBLIC_FULL, "public rows refused: store full")                      \
	_(FITS, "public fits")                                                 \
	_(STALE, "window rows dropped by a public refit")                      \
	_(TRAININGS, "trainings run (a window with rows)")                     \
	_(INSTALLED, "models installed")                                       \
	_(REJECTED, "models rejected: held-out MSE not below the mean's")      \
	_(CLIPPED_X, "feature values clipped to +-SL_COST_ABS_MAX")            \
	_(CLIPPED_Y,                                                           \
	  "targets clipped (public: +-SL_COST_ABS_MAX, tenant: the "           \
	  "public range)")

enum sl_cost_counter {
#define SL_COST_COUNTER_ENUM(name, text) SL_COST_C_##name,
	SL_COST_COUNTERS(SL_COST_COUNTER_ENUM)
#undef SL_COST_COUNTER_ENUM
		SL_COST_C_MAX
};

extern const char *const sl_cost_row_names[SL_COST_ROW_MAX];
extern const char *const sl_cost_counter_names[SL_COST_C_MAX];

/* --- random sources ---------------------------------------------------- */

/*
 * Privacy noise is drawn from an sl_rng (sl_rng.h): sl_rng_os in
 * production, sl_rng_seeded in tests and benchmarks. The noise is an exact
 * discrete Gaussian (integers only, so no floating-point low bits to leak,
 * the note's point 6); a source that fails makes the call fail with
 * -SL_COST_E_RNG.
 */

/* --- the mechanism (row-level, any dimension p) ------------------------- */

/*
 * sl_cost_zcdp_rho - the zCDP rho that gives (@epsilon, @delta)-DP:
 * rho = (sqrt(ln(1/delta) + epsilon) - sqrt(ln(1/delta)))^2, the inverse
 * of epsilon = rho + 2 sqrt(rho ln(1/delta)) (Bun and Steinke 2016).
 * Returns 0 when epsilon <= 0 or delta is not in (0, 1).
 */
double sl_cost_zcdp_rho(double epsilon, double delta);

/* sl_cost_zcdp_epsilon - epsilon of @rho-zCDP at @delta:
 * rho + 2 sqrt(rho ln(1/delta)); 0 for rho <= 0 or a bad delta. */
double sl_cost_zcdp_epsilon(double rho, double delta);

/*
 * sl_cost_clip_norm - scale @v (length @p) to L2 norm at most @c
 * (v * min(1, c / |v|), computed without overflow; a vector over @c comes
 * out at most c, never a rounding above). Returns the norm before.
 */
double sl_cost_clip_norm(double *v, unsigned int p, double c);

/* sl_cost_clip_residual - @r clipped to [-@r_max, @r_max]. */
double sl_cost_clip_residual(double r, double r_max);

/* The lattice of the noise: s_L = 2^20 lattice steps per standard
 * deviation, so rounding the gradient to it costs a relative 2^-20 sqrt(p)
 * of sensitivity (sl_cost_dp_regress). */
#define SL_COST_LATTICE_BITS 20

/*
 * sl_cost_dp_noise - the noise step of the mechanism, exposed for tests:
 * each v[j] becomes g (round(v[j] / g) + Z), g = @s / 2^20 and Z an exact
 * discrete Gaussian of variance 2^40 (Canonne-Kamath-Steinke Algorithm 3,
 * integer arithmetic only, conditioned on |Z| <= 64 sigma: total variation
 * below e^-2000). @s > 0. Returns 0, -SL_COST_E_INVAL (|v[j] / g| >= 2^52)
 * or -SL_COST_E_RNG.
 */
int sl_cost_dp_noise(struct sl_rng *rng, double s, double *v, unsigned int p);

/* Settings of one private regression. */
struct sl_cost_dp {
	double epsilon, delta; /* the guarantee, for one call */
	unsigned int steps;    /* T, 1..10000 */
	double step_size;      /* eta, (0, 2] after whitening */
	double clip_z;         /* C_z: rows' L2 norm bound, > 0 */
	double clip_r;         /* R: residual bound, > 0 */
	uint32_t unit_rows;    /* m: rows one privacy unit may hold, >= 1 */
	size_t n_norm;         /* n_w: the gradient's denominator, >= n; 0: n */
};

/* What one private regression did. */
struct sl_cost_dp_report {
	double rho;               /* rho(epsilon, delta), all T steps */
	double sensitivity;       /* Delta = 2 m C_z R / n_norm */
	double noise_std_nominal; /* Delta sqrt(T / (2 rho)) (note, point 5) */
	double noise_std;   /* s used: the nominal one, lattice-corrected */
	size_t rows;        /* n */
	uint64_t z_clipped; /* rows whose norm was over C_z */
	uint64_t r_clipped; /* residuals clipped, all steps */
	double z_norm_max;  /* largest row norm after clipping */
	double r_abs_max;   /* largest |residual| after clipping */
};

/*
 * sl_cost_dp_regress - noisy clipped full-batch gradient descent, the
 * note's point 5. @z: @n rows of @p (row-major), @y: @n targets.
 *   w_0 = 0; for t = 1..T:
 *     g = 1/n_norm sum_i c_i z_i clip_R(c_i z_i^T w - y_i),
 *         c_i = min(1, C_z / |z_i|);
 *     w <- w - eta (g + noise), noise ~ discrete Gaussian of std s on the
 *         lattice g_L = s 2^-20 (sl_cost_dp_noise).
 * Sensitivity Delta = 2 m C_z R / n_norm; nominal s_0 = Delta sqrt(T/(2
 * rho)); on the lattice, rounding adds up to sqrt(p) steps of sensitivity,
 * so s = Delta / (sqrt(2 rho / T) - sqrt(p) 2^-20), which makes the whole
 * run rho-zCDP exactly; refused (-SL_COST_E_PRIVACY) when the correction
 * would more than double s. @rng NULL: no noise (the same descent, not
 * private; noise_std 0). @w receives p weights; @rep (may be NULL) what
 * happened. Returns 0 or -SL_COST_E_INVAL / NONFINITE / PRIVACY / RNG.
 */
int sl_cost_dp_regress(const double *z, const double *y, size_t n,
		       unsigned int p, const struct sl_cost_dp *dp,
		       struct sl_rng *rng, double *w,
		       struct sl_cost_dp_report *rep);

/*
 * sl_cost_ols - ordinary least squares: @w = (Z^T Z)^-1 Z^T y for @n rows
 * of @p (row-major), by Cholesky (LAPACK dposv). Returns 0, or
 * -SL_COST_E_INVAL, -SL_COST_E_NOMEM, -SL_COST_E_LAPACK (Z^T Z singular).
 */
int sl_cost_ols(const double *z, const double *y, size_t n, unsigned int p,
		double *w);

/* --- public subspace --------------------------------------------------- */

/*
 * sl_cost_mom - the method-of-moments subspace (Tripuraneni, Jin, Jordan
 * 2021): M = 1/n sum y_i^2 x_i x_i^T over @n rows of @d (row-major, x
 * assumed whitened), @basis (d x k, column-major: column j at basis + j d)
 * receives M's top @k eigenvectors (LAPACK dsyevr), by eigenvalue
 * descending, and @eig (may be NULL) the k eigenvalues. Returns 0 or
 * -SL_COST_E_INVAL / NONFINITE / NOMEM / LAPACK.
 */
int sl_cost_mom(const double *x, const double *y, size_t n, unsigned int d,
		unsigned int k, double *basis, double *eig);

/*
 * sl_cost_sin_theta - sin of the largest principal angle between the
 * spans of two orthonormal d x k bases @u, @v (column-major):
 * sqrt(lambda_max(R^T R)), R = v - u (u^T v). Returns 0 and *@out in
 * [0, 1], or -SL_COST_E_INVAL / NOMEM / LAPACK.
 */
int sl_cost_sin_theta(const double *u, const double *v, unsigned int d,
		      unsigned int k, double *out);

/* --- the model --------------------------------------------------------- */

struct sl_cost_params {
	unsigned int rank;          /* k, 1..SL_COST_RANK_MAX */
	double epsilon;             /* per training, > 0 */
	double delta;               /* (0, 0.5) */
	double budget_epsilon;      /* a tenant's total, at delta, >= epsilon */
	unsigned int steps;         /* T, 1..10000 */
	double step_size;           /* eta, (0, 2] */
	uint32_t window_rows;       /* n_w, 1..2^24 */
	uint32_t tenant_rows;       /* m, 1..window_rows */
	uint32_t personal_min_rows; /* own rows before a tenant's own model is
				     * used; 0 = no personalisation */
	uint32_t max_tenants;       /* 1..65536 */
	uint32_t public_max_rows;   /* SL_COST_PUBLIC_MIN..2^24 */
};

/*
 * sl_cost_params_default - rank 8, epsilon 1 per training, delta 1e-6,
 * budget epsilon 8 (52 trainings: zCDP adds rho), T 5, eta 1 (the note's
 * setting), windows of 16384 rows and 16 per tenant (the noise scales
 * with 16 / 16384, one over the 1024 full tenants a window holds: a
 * deployment with few tenants gets models the gate rejects, and keeps
 * the public mean and personal models), personalisation from 1000 own
 * rows, 1024 tenants, 262144 public rows (64 MiB of features at most, as
 * floats).
 */
void sl_cost_params_default(struct sl_cost_params *p);

struct sl_cost_model;

/*
 * sl_cost_create - an empty model with settings @p (copied). Returns it,
 * or NULL with *@err (may be NULL) -SL_COST_E_INVAL (a setting out of
 * range) or -SL_COST_E_NOMEM. Allocates the window and tenant table now.
 */
struct sl_cost_model *sl_cost_create(const struct sl_cost_params *p, int *err);

/* sl_cost_free - free @m (NULL is fine). */
void sl_cost_free(struct sl_cost_model *m);

/*
 * sl_cost_add_public - store one public row: @x (SL_COST_DIM; x[0] is the
 * bias and taken as 1 whatever it holds), target @y. Values are clipped to
 * +-SL_COST_ABS_MAX (counted). Every SL_COST_HOLDOUT_EVERY-th row is held
 * out. Returns 0, or -SL_COST_E_NONFINITE, -SL_COST_E_FULL (counted),
 * -SL_COST_E_NOMEM, -SL_COST_E_INVAL.
 */
int sl_cost_add_public(struct sl_cost_model *m, const double *x, double y);

/* sl_cost_add_public_prompt - sl_cost_add_public of the features of
 * (@stage, @prompt, @len) and the target of @tokens. */
int sl_cost_add_public_prompt(struct sl_cost_model *m, uint32_t stage,
			      const void *prompt, size_t len, uint64_t tokens);

/*
 * sl_cost_fit_public - fit everything public from the stored rows:
 * whitening, mean target and target range, B^ (method of moments),
 * C_z (99th percentile of the public rows' |z|), R (3 x the public
 * targets' RMS around their mean, the note's 3 sqrt(|theta|^2 +
 * sigma^2)), the held-out rows' z. A refit starts over: the window's rows
 * are dropped (STALE), personal models reset, the installed model
 * uninstalled (predictions fall back to the public mean until the next
 * training). Returns 0, or -SL_COST_E_FEW_PUBLIC (fewer than
 * SL_COST_PUBLIC_MIN training rows or no held-out row), DEGENERATE,
 * NOMEM, LAPACK; on error the previous fit stays.
 */
int sl_cost_fit_public(struct sl_cost_model *m);

/*
 * sl_cost_add_tenant - one row of tenant @tenant's own traffic (not
 * SL_COST_SHARED: -SL_COST_E_INVAL): features
 * @x, target @y (clipped to the public range, counted). Every row goes to
 * the tenant's personal statistics (when personalisation is on); it joins
 * the training window only if the tenant has fewer than m rows there, can
 * pay for the next training, there is room and a fit. Returns the
 * enum sl_cost_row (>= 0) saying which, or -SL_COST_E_INVAL / NONFINITE.
 */
int sl_cost_add_tenant(struct sl_cost_model *m, uint32_t tenant,
		       const double *x, double y);

/* sl_cost_add_tenant_prompt - sl_cost_add_tenant of the features of
 * (@stage, @prompt, @len) and the target of @tokens. */
int sl_cost_add_tenant_prompt(struct sl_cost_model *m, uint32_t tenant,
			      uint32_t stage, const void *prompt, size_t len,
			      uint64_t tokens);

/* What one training did. */
struct sl_cost_train_report {
	size_t rows;             /* window rows used */
	uint32_t tenants;        /* tenants charged */
	uint64_t dropped_budget; /* window rows of tenants that could no
				    * longer pay (sl_cost_tenant_restore) */
	double rho;              /* charged to each of them */
	double heldout_mse;      /* the new model's, on held-out rows */
	double heldout_mse_mean; /* the public mean's */
	bool installed;          /* else rejected, the old model stays */
	struct sl_cost_dp_report dp;
};

/*
 * sl_cost_train - train on the window and empty it. Rows of tenants that
 * cannot pay are left out; the others' tenants each pay rho (installed or
 * not: the gate's verdict depends on the noisy model). The model is
 * installed when its held-out MSE is below the mean predictor's, else
 * counted as rejected and the previous one stays. Personal models are
 * refitted. An empty window trains nothing and charges nobody (rows 0).
 * @rng: the noise source (sl_rng_os in production). Returns 0 or
 * -SL_COST_E_NOFIT / PRIVACY / RNG / INVAL / NOMEM / LAPACK; on error
 * nobody is charged and the window is kept.
 */
int sl_cost_train(struct sl_cost_model *m, struct sl_rng *rng,
		  struct sl_cost_train_report *rep);

/* The tenant "everyone": predictions from the installed (private) model
 * alone, never a tenant's personal one; no tenant's rows go by it. */
#define SL_COST_SHARED UINT32_MAX

/*
 * sl_cost_predict - the predicted target (log(1 + tokens)) of features
 * @x for @tenant: ybar + alpha^T clip_Cz(z), alpha the tenant's own when
 * it has personal_min_rows rows (never for SL_COST_SHARED), else the
 * installed model's (none: the public mean), clipped to the public target
 * range. O(d k). Returns 0, or -SL_COST_E_NOFIT / NONFINITE / INVAL.
 */
int sl_cost_predict(const struct sl_cost_model *m, uint32_t tenant,
		    const double *x, double *y);

/* sl_cost_predict_prompt - sl_cost_predict of (@stage, @prompt, @len),
 * as output tokens: exp(y) - 1. */
int sl_cost_predict_prompt(const struct sl_cost_model *m, uint32_t tenant,
			   uint32_t stage, const void *prompt, size_t len,
			   double *tokens);

/* One tenant's standing. */
struct sl_cost_budget {
	double rho_spent, rho_left;     /* zCDP */
	double epsilon_left;            /* rho_left as epsilon at the delta */
	uint32_t trainings_left;        /* whole trainings rho_left pays for */
	uint32_t window_rows;           /* rows in the current window */
	uint64_t trainings;             /* trainings it paid for */
	uint64_t rows[SL_COST_ROW_MAX]; /* its rows by fate */
	uint64_t personal_rows;
	bool personal; /* its own model is in use */
};

/* sl_cost_tenant_budget - @tenant's standing; a tenant never seen has its
 * whole budget. Returns 0 or -SL_COST_E_INVAL. */
int sl_cost_tenant_budget(const struct sl_cost_model *m, uint32_t tenant,
			  struct sl_cost_budget *b);

/*
 * sl_cost_tenant_restore - set @tenant's spent rho to @rho_spent when that
 * is more than it has spent (a budget only shrinks): how a caller brings
 * back what a tenant had spent before a restart. Returns 0, or
 * -SL_COST_E_INVAL / NONFINITE, or 1 when the tenant table is full.
 */
int sl_cost_tenant_restore(struct sl_cost_model *m, uint32_t tenant,
			   double rho_spent);

/*
 * sl_cost_tenants_spent - the tenants that spent some budget: up to @cap
 * of their ids and spent rho into @ids and @rho; returns how many there
 * are (more than @cap: call again with room). What a caller saves to
 * bring back with sl_cost_tenant_restore after a restart.
 */
size_t sl_cost_tenants_spent(const struct sl_cost_model *m, uint32_t *ids,
			     double *rho, size_t cap);

/* The model at large. */
struct sl_cost_stats {
	uint64_t c[SL_COST_C_MAX];
	uint64_t rows[SL_COST_ROW_MAX]; /* tenant rows by fate, all tenants */
	bool fitted, installed;
	size_t public_train, public_heldout;
	double y_mean, y_min, y_max; /* public targets */
	double clip_z, clip_r;
	double eig[SL_COST_RANK_MAX]; /* MoM eigenvalues, descending */
	double heldout_mse;           /* installed model's (or last fit's mean
				       * predictor's when none) */
	double heldout_mse_mean;
	double rho_per_training, rho_budget;
	uint32_t tenants;
};

/* sl_cost_stats - fill @s. */
void sl_cost_stats(const struct sl_cost_model *m, struct sl_cost_stats *s);
/* sl_cost_params_of - the settings @m was made with, into @p. */
void sl_cost_params_of(const struct sl_cost_model *m, struct sl_cost_params *p);

/*
 * sl_cost_basis - the fitted B^ (d x k column-major, in whitened
 * coordinates) for tests and inspection; NULL before a fit.
 */
const double *sl_cost_basis(const struct sl_cost_model *m);

/* --- paper A's synthetic model (tests and benchmarks) ------------------- */

/* Which estimators sl_cost_synth_er runs. */
#define SL_COST_ARM_OLS_FULL (1u << 0) /* OLS on x, d dims */
#define SL_COST_ARM_OLS_SUB (1u << 1)  /* OLS on B^T x, k dims */
#define SL_COST_ARM_DP_SUB (1u << 2)   /* DP-GD on B^T x, C = sqrt(k) + 2 */
#define SL_COST_ARM_DP_FULL (1u << 3)  /* DP-GD on x, C = sqrt(d) + 2 */
#define SL_COST_ARM_GD_SUB (1u << 4)   /* DP_SUB's descent without noise */

struct sl_cost_synth {
	unsigned int d, k;
	size_t n; /* private rows */
	double epsilon, delta;
	unsigned int steps;
	double step_size;
	double clip_r;     /* R */
	double gamma;      /* sin theta of the oracle B^, [0, 1) */
	unsigned int arms; /* SL_COST_ARM_* */
	uint64_t data_seed, noise_seed;
};

/* Excess risks |w - B alpha|^2 (2 x the paper's excess risk). */
struct sl_cost_synth_er {
	double ols_full, ols_sub, dp_sub, dp_full, gd_sub;
	struct sl_cost_dp_report dp_sub_rep, dp_full_rep;
};

/*
 * sl_cost_synth_er - one draw of the note's fixture: x ~ N(0, I_d),
 * y = x^T B alpha + eta, eta ~ N(0, 1), B a random orthonormal d x k,
 * |alpha| = 1, the oracle B^ = sqrt(1 - gamma^2) B + gamma B_perp
 * (sin theta = gamma exactly); the arms asked for, DP with (epsilon,
 * delta), unit_rows 1, n_norm n. Data from @data_seed, noise from
 * @noise_seed (the same noise seed gives the same lattice draws at any
 * n or epsilon). Needs d >= 2k. Returns 0 or a negative SL_COST_E_*.
 */
int sl_cost_synth_er(const struct sl_cost_synth *cfg,
		     struct sl_cost_synth_er *out);

/*
 * sl_cost_synth_mom - the MoM calibration of the note: @tasks public
 * tasks of equal size (@n1 rows in all), alpha_t uniform on the sphere of
 * radius @alpha_norm in R^k, x ~ N(0, I_d), unit noise; *@sin_theta
 * between B and the MoM estimate. Returns 0 or a negative SL_COST_E_*.
 */
int sl_cost_synth_mom(unsigned int d, unsigned int k, unsigned int tasks,
		      size_t n1, double alpha_norm, uint64_t seed,
		      double *sin_theta);

/* sl_cost_synth_normal - a N(0, 1) draw from @rng (Marsaglia's polar
 * method in doubles): synthetic data only, never privacy noise. */
double sl_cost_synth_normal(struct sl_rng *rng);

#endif /* SL_COST_H */
