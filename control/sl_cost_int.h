/* SPDX-License-Identifier: MIT */
/*
 * sl_cost_int.h - what sl_cost.c, sl_cost_dp.c and sl_cost_synth.c share
 * and nobody else needs: the Fortran LAPACK entry points (Debian's
 * liblapack3, reference LAPACK built with gfortran, which passes each
 * CHARACTER argument's length as a trailing size_t) and small helpers.
 */
#ifndef SL_COST_INT_H
#define SL_COST_INT_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_cost.h"

/* Symmetric eigenproblem, relatively robust representations. */
void dsyevr_(const char *jobz, const char *range, const char *uplo,
	     const int *n, double *a, const int *lda, const double *vl,
	     const double *vu, const int *il, const int *iu,
	     const double *abstol, int *m, double *w, double *z, const int *ldz,
	     int *isuppz, double *work, const int *lwork, int *iwork,
	     const int *liwork, int *info, size_t jobz_len, size_t range_len,
	     size_t uplo_len);

/* Symmetric positive definite solve by Cholesky. */
void dposv_(const char *uplo, const int *n, const int *nrhs, double *a,
	    const int *lda, double *b, const int *ldb, int *info,
	    size_t uplo_len);

/*
 * sl_cost_eig - eigenpairs of the symmetric @n x @n matrix @a (column-
 * major; only its upper triangle is read, and it is overwritten): the
 * top @k (1..n) by eigenvalue, descending, into @val (k) and @vec (n x k
 * column-major). Returns 0 or -SL_COST_E_NOMEM / LAPACK.
 */
int sl_cost_eig(double *a, unsigned int n, unsigned int k, double *val,
		double *vec);

/* sl_cost_dot - the dot product of two @p-vectors. */
static inline double
sl_cost_dot(const double *a, const double *b, unsigned int p)
{
	double s = 0;

	for (unsigned int j = 0; j < p; j++)
		s += a[j] * b[j];
	return s;
}

/* sl_cost_all_finite - whether all @p values of @v are finite. */
static inline int
sl_cost_all_finite(const double *v, size_t p)
{
	for (size_t j = 0; j < p; j++)
		if (!isfinite(v[j]))
			return 0;
	return 1;
}

/* sl_cost_next - a word from @rng, as the sources promise: 0 or
 * -SL_COST_E_RNG. */
static inline int
sl_cost_next(struct sl_rng *rng, uint64_t *out)
{
	return rng->next(rng, out) ? -SL_COST_E_RNG : 0;
}

#endif /* SL_COST_INT_H */
