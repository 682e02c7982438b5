/* SPDX-License-Identifier: MIT */
/*
 * sl_cost_dp.c - the private half of the cost model (sl_cost.h): zCDP
 * arithmetic, clipping, the random sources, the exact discrete Gaussian,
 * noisy clipped gradient descent, and plain least squares to compare it
 * with.
 *
 * Noise. A textbook floating-point Gaussian (Box-Muller on doubles) leaks
 * through the low bits of what it adds (Mironov 2012 shows it for
 * Laplace). Here noise is an integer: the gradient is rounded to a lattice
 * of step g = s / 2^20 and an exact discrete Gaussian of standard
 * deviation 2^20 lattice steps is added (Canonne, Kamath, Steinke, "The
 * Discrete Gaussian for Differential Privacy", 2020, Algorithm 3: only
 * integer arithmetic on uniform words, here 128-bit). The float that comes
 * back is a function of that integer alone. Rounding moves each
 * coordinate by at most half a step, so two neighbours' rounded gradients
 * differ by at most Delta / g + sqrt(p) steps in L2 (the rest of the
 * accounting is in sl_cost.h and sl_cost_dp_regress).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "sl_cost_int.h"
#include "sl_hash64.h"

typedef unsigned __int128 sl_u128;

/* The discrete Gaussian's sigma in lattice steps (2^20), its square, and
 * CKS's t = floor(sigma) + 1, the scale of the discrete Laplace proposal. */
#define DG_SIGMA (UINT64_C(1) << SL_COST_LATTICE_BITS)
#define DG_SIGMA2 ((sl_u128)DG_SIGMA * DG_SIGMA)
#define DG_T (DG_SIGMA + 1)
/* Proposals beyond 64 sigma are drawn again (their acceptance is below
 * e^-1984): keeps (|Y| t - sigma^2)^2 under 2^93, inside 128 bits. */
#define DG_TAIL (64 * DG_SIGMA)

/* Longest run accepted, in steps; beyond it the accounting is meaningless
 * anyway (a zCDP budget split into more than 10^4 steps). */
#define DP_STEPS_MAX 10000

double
sl_cost_zcdp_rho(double epsilon, double delta)
{
	double l;

	if (!(epsilon > 0) || !isfinite(epsilon) || !(delta > 0) ||
	    !(delta < 1))
		return 0;
	l = log(1 / delta);
	/* sqrt(l + e) - sqrt(l), written as e / (sqrt(l + e) + sqrt(l)) so
	 * that a small epsilon loses no digits to cancellation. */
	l = epsilon / (sqrt(l + epsilon) + sqrt(l));
	return l * l;
}

double
sl_cost_zcdp_epsilon(double rho, double delta)
{
	if (!(rho > 0) || !isfinite(rho) || !(delta > 0) || !(delta < 1))
		return 0;
	return rho + 2 * sqrt(rho * log(1 / delta));
}

double
sl_cost_clip_norm(double *v, unsigned int p, double c)
{
	double mx = 0, s = 0, f;

	for (unsigned int j = 0; j < p; j++)
		if (fabs(v[j]) > mx)
			mx = fabs(v[j]);
	if (mx == 0)
		return 0;
	/* Scaled by the largest entry: no overflow for 1e300 entries, no
	 * underflow to 0 for 1e-300 ones. */
	for (unsigned int j = 0; j < p; j++)
		s += (v[j] / mx) * (v[j] / mx);
	s = sqrt(s);
	if (!(s > c / mx))
		return mx * s;
	/* 2^-40 below c: the rounding of p <= SL_COST_P_MAX products and
	 * sums (< 2^-42 relative) cannot carry the result above c. */
	f = c / mx / s * (1 - 0x1p-40);
	for (unsigned int j = 0; j < p; j++)
		v[j] *= f;
	return mx * s;
}

double
sl_cost_clip_residual(double r, double r_max)
{
	return r > r_max ? r_max : r < -r_max ? -r_max : r;
}

/* --- the discrete Gaussian (CKS 2020) ---------------------------------- */

/* A uniform integer in [0, @n), n >= 1, without modulo bias. */
static int
uniform_below(struct sl_rng *rng, uint64_t n, uint64_t *out)
{
	uint64_t v, floor = -n % n; /* 2^64 mod n: the biased low range */
	int rc;

	do {
		if ((rc = sl_cost_next(rng, &v)))
			return rc;
	} while (v < floor);
	*out = v % n;
	return 0;
}

/* A uniform 128-bit integer in [0, @n), n >= 1, by masked rejection. */
static int
uniform_below128(struct sl_rng *rng, sl_u128 n, sl_u128 *out)
{
	sl_u128 top = n - 1, mask, v;
	uint64_t hi = (uint64_t)(top >> 64), lo = (uint64_t)top, a, b;
	unsigned int bits;
	int rc;

	if (top == 0) {
		*out = 0;
		return 0;
	}
	bits = hi ? 128 - (unsigned int)__builtin_clzll(hi)
		  : 64 - (unsigned int)__builtin_clzll(lo);
	mask = bits == 128 ? ~(sl_u128)0 : ((sl_u128)1 << bits) - 1;
	do {
		if ((rc = sl_cost_next(rng, &a)))
			return rc;
		b = 0;
		if (bits > 64 && (rc = sl_cost_next(rng, &b)))
			return rc;
		v = (((sl_u128)b << 64) | a) & mask;
	} while (v >= n);
	*out = v;
	return 0;
}

/* *@b = Bernoulli(exp(-num/den)) for 0 <= num <= den (CKS Algorithm 1):
 * K counts successive Bernoulli(gamma / K) successes; K odd is a 1. */
static int
bern_exp_le1(struct sl_rng *rng, sl_u128 num, sl_u128 den, int *b)
{
	uint64_t k = 1;
	sl_u128 u;
	int rc;

	for (;;) {
		if ((rc = uniform_below128(rng, den * k, &u)))
			return rc;
		if (u >= num)
			break;
		/* P(K > 40) < 1/40!: never; bounds den * k below 2^128. */
		if (++k > 40)
			break;
	}
	*b = (int)(k & 1);
	return 0;
}

/* *@b = Bernoulli(exp(-num/den)), any num >= 0 (CKS Algorithm 2): one
 * Bernoulli(e^-1) per whole unit of the exponent, then the fraction. */
static int
bern_exp(struct sl_rng *rng, sl_u128 num, sl_u128 den, int *b)
{
	int rc;

	while (num > den) {
		if ((rc = bern_exp_le1(rng, 1, 1, b)))
			return rc;
		if (!*b)
			return 0;
		num -= den;
	}
	return bern_exp_le1(rng, num, den, b);
}

/* *@out = an exact discrete Gaussian of variance DG_SIGMA2, CKS
 * Algorithm 3: a discrete Laplace proposal of scale t, accepted with
 * probability exp(-(|Y| - sigma^2/t)^2 / (2 sigma^2)). */
static int
discrete_gaussian(struct sl_rng *rng, int64_t *out)
{
	const sl_u128 den = 2 * DG_SIGMA2 * DG_T * DG_T;
	uint64_t u, v, x, sign;
	sl_u128 num;
	int b, rc;

	for (;;) {
		if ((rc = uniform_below(rng, DG_T, &u)) ||
		    (rc = bern_exp(rng, u, DG_T, &b)))
			return rc;
		if (!b)
			continue;
		for (v = 0;; v++) {
			if ((rc = bern_exp_le1(rng, 1, 1, &b)))
				return rc;
			if (!b)
				break;
		}
		if (v > DG_TAIL / DG_T)
			continue;
		x = u + DG_T * v;
		if (x > DG_TAIL)
			continue;
		if ((rc = sl_cost_next(rng, &sign)))
			return rc;
		sign &= 1;
		if (sign && x == 0)
			continue;
		/* (|Y| - sigma^2/t)^2 / (2 sigma^2) = (|Y| t - sigma^2)^2 /
		 * (2 sigma^2 t^2): exact in integers. */
		num = x * DG_T >= DG_SIGMA2 ? x * DG_T - DG_SIGMA2
					    : DG_SIGMA2 - x * DG_T;
		if ((rc = bern_exp(rng, num * num, den, &b)))
			return rc;
		if (b) {
			*out = sign ? -(int64_t)x : (int64_t)x;
			return 0;
		}
	}
}

int
sl_cost_dp_noise(struct sl_rng *rng, double s, double *v, unsigned int p)
{
	double g = s / (double)DG_SIGMA;

	if (!rng || !v || !(s > 0) || !isfinite(s) || !(g > 0))
		return -SL_COST_E_INVAL;
	for (unsigned int j = 0; j < p; j++) {
		double q = nearbyint(v[j] / g);
		int64_t z;
		int rc;

		/* Integers up to 2^52 are exact in a double, sums with the
		 * noise (< 2^27) too. */
		if (!(fabs(q) < 0x1p52))
			return -SL_COST_E_INVAL;
		if ((rc = discrete_gaussian(rng, &z)))
			return rc;
		v[j] = g * (q + (double)z);
	}
	return 0;
}

/* --- regression -------------------------------------------------------- */

/* Whether @dp is a setting sl_cost_dp_regress takes for @n rows. */
static bool
dp_valid(const struct sl_cost_dp *dp, size_t n)
{
	return dp && dp->epsilon > 0 && isfinite(dp->epsilon) &&
	       dp->delta > 0 && dp->delta < 1 && dp->steps >= 1 &&
	       dp->steps <= DP_STEPS_MAX && dp->step_size > 0 &&
	       dp->step_size <= 2 && dp->clip_z > 0 && isfinite(dp->clip_z) &&
	       dp->clip_r > 0 && isfinite(dp->clip_r) && dp->unit_rows >= 1 &&
	       (dp->n_norm == 0 || dp->n_norm >= n);
}

int
sl_cost_dp_regress(const double *z, const double *y, size_t n, unsigned int p,
		   const struct sl_cost_dp *dp, struct sl_rng *rng, double *w,
		   struct sl_cost_dp_report *rep)
{
	struct sl_cost_dp_report r = {0};
	double *zc, *g, a, corr;
	size_t n_norm;
	int rc = 0;

	if (!z || !y || !w || n == 0 || p == 0 || p > SL_COST_P_MAX ||
	    n > SIZE_MAX / sizeof(double) / p || !dp_valid(dp, n))
		return -SL_COST_E_INVAL;
	if (!sl_cost_all_finite(z, n * p) || !sl_cost_all_finite(y, n))
		return -SL_COST_E_NONFINITE;
	n_norm = dp->n_norm ? dp->n_norm : n;
	r.rows = n;
	r.rho = sl_cost_zcdp_rho(dp->epsilon, dp->delta);
	if (!(r.rho > 0))
		return -SL_COST_E_PRIVACY;
	r.sensitivity =
		2.0 * dp->unit_rows * dp->clip_z * dp->clip_r / (double)n_norm;
	r.noise_std_nominal = r.sensitivity * sqrt(dp->steps / (2 * r.rho));
	/* Per step, Delta_L / s_L = Delta / s + sqrt(p) 2^-20 must equal
	 * sqrt(2 rho / T) for T steps to add up to rho. */
	a = sqrt(2 * r.rho / dp->steps);
	corr = sqrt((double)p) / (double)DG_SIGMA;
	if (rng) {
		if (a < 2 * corr)
			return -SL_COST_E_PRIVACY;
		r.noise_std = r.sensitivity / (a - corr);
	}

	zc = malloc(2 * (size_t)p * sizeof(*zc));
	if (!zc)
		return -SL_COST_E_NOMEM;
	g = zc + p;
	memset(w, 0, p * sizeof(*w));
	for (unsigned int t = 0; t < dp->steps && !rc; t++) {
		memset(g, 0, p * sizeof(*g));
		for (size_t i = 0; i < n; i++) {
			double res, rcl;

			memcpy(zc, z + i * p, p * sizeof(*zc));
			if (sl_cost_clip_norm(zc, p, dp->clip_z) > dp->clip_z &&
			    t == 0)
				r.z_clipped++;
			if (t == 0) {
				double nz = sqrt(sl_cost_dot(zc, zc, p));

				if (nz > r.z_norm_max)
					r.z_norm_max = nz;
			}
			res = sl_cost_dot(zc, w, p) - y[i];
			rcl = sl_cost_clip_residual(res, dp->clip_r);
			if (rcl != res)
				r.r_clipped++;
			if (fabs(rcl) > r.r_abs_max)
				r.r_abs_max = fabs(rcl);
			for (unsigned int j = 0; j < p; j++)
				g[j] += rcl * zc[j];
		}
		for (unsigned int j = 0; j < p; j++)
			g[j] /= (double)n_norm;
		if (rng)
			rc = sl_cost_dp_noise(rng, r.noise_std, g, p);
		for (unsigned int j = 0; j < p && !rc; j++)
			w[j] -= dp->step_size * g[j];
	}
	free(zc);
	if (rep)
		*rep = r;
	return rc;
}

int
sl_cost_ols(const double *z, const double *y, size_t n, unsigned int p,
	    double *w)
{
	int np = (int)p, one = 1, info = 0;
	double *gram;

	if (!z || !y || !w || n < p || p == 0 || p > SL_COST_P_MAX ||
	    n > SIZE_MAX / sizeof(double) / p)
		return -SL_COST_E_INVAL;
	if (!sl_cost_all_finite(z, n * p) || !sl_cost_all_finite(y, n))
		return -SL_COST_E_NONFINITE;
	gram = calloc((size_t)p * p, sizeof(*gram));
	if (!gram)
		return -SL_COST_E_NOMEM;
	memset(w, 0, p * sizeof(*w));
	for (size_t i = 0; i < n; i++) {
		const double *zi = z + i * p;

		/* Upper triangle, column-major: (a, b) at b p + a, a <= b. */
		for (unsigned int b = 0; b < p; b++) {
			double zb = zi[b];

			for (unsigned int a = 0; a <= b; a++)
				gram[(size_t)b * p + a] += zi[a] * zb;
			w[b] += zb * y[i];
		}
	}
	dposv_("U", &np, &one, gram, &np, w, &np, &info, 1);
	free(gram);
	return info ? -SL_COST_E_LAPACK : 0;
}
