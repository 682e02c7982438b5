/* SPDX-License-Identifier: MIT */
/*
 * sl_cost.c - the cost model's public half and the model itself
 * (sl_cost.h): the feature map, eigenvectors through LAPACK, the method of
 * moments and principal angles, the public fit (whitening, B^, clip
 * norms), tenants (their cap, budget and personal model), the training
 * window, training with the install gate, prediction.
 *
 * Memory: public rows as floats (SL_COST_DIM of them and a double
 * target), grown as they come up to public_max_rows; the window (n_w rows
 * of k + 1 doubles and a tenant index) and the tenant table (2 slots per
 * allowed tenant, k^2 + 2k doubles each when personalisation is on)
 * allocated by sl_cost_create.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sl_cost_int.h"
#include "sl_hash64.h"

#define D SL_COST_DIM
#define KMAX SL_COST_RANK_MAX

/* Fixed seeds of the feature map (any constants; changing one changes
 * every feature, so a fitted model with it). */
#define FEATURE_SEED 0x736c636f73743031ull /* "slcost01" */
#define STAGE_SEED 0x736c737461676531ull   /* "slstage1" */
/* FNV-1a, 64-bit: offset basis and prime. */
#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull
/* Odd multiplier (2^64 / golden ratio) that makes a pair's hash depend
 * on the order of its words. */
#define PAIR_MUL 0x9e3779b97f4a7c15ull
/* Tenant slots are placed by sl_mix64 of the id xor this. */
#define TENANT_SEED 0x736c74656e616e74ull /* "sltenant" */

/* Whitening drops covariance directions whose variance is below 1e-6 of
 * the largest (10^3 in standard deviations): a direction public data
 * barely moves in is ignored, never amplified. */
#define EIG_KEEP 1e-6
/* C_z is this quantile of the public rows' |z| (the note's sqrt(k) + 2 is
 * about the 99.5th of a chi with k = 5 degrees). */
#define CLIP_Z_QUANTILE 0.99
/* R in public targets' RMS around their mean (the note's 3 sqrt(|theta|^2
 * + sigma^2)). */
#define CLIP_R_RMS 3.0
/* Ridge added to a tenant's Gram matrix, relative to its mean diagonal:
 * keeps Cholesky defined on a rank-deficient tenant, changes nothing
 * measurable otherwise. */
#define PERSONAL_RIDGE 1e-9
/* Budget comparisons allow this relative slack, so a budget of exactly
 * N trainings pays for N despite rounding. */
#define BUDGET_SLACK 1e-9

static const char *const err_text[SL_COST_E_MAX] = {
#define SL_COST_ERR_TEXT(name, text) text,
	SL_COST_ERRORS(SL_COST_ERR_TEXT)
#undef SL_COST_ERR_TEXT
};

const char *const sl_cost_row_names[SL_COST_ROW_MAX] = {
#define SL_COST_ROW_TEXT(name, text) text,
	SL_COST_ROWS(SL_COST_ROW_TEXT)
#undef SL_COST_ROW_TEXT
};

const char *const sl_cost_counter_names[SL_COST_C_MAX] = {
#define SL_COST_COUNTER_TEXT(name, text) text,
	SL_COST_COUNTERS(SL_COST_COUNTER_TEXT)
#undef SL_COST_COUNTER_TEXT
};

const char *
sl_cost_strerror(int rc)
{
	if (rc < 0)
		rc = -rc;
	return rc < SL_COST_E_MAX ? err_text[rc] : "unknown error";
}

/* --- features ---------------------------------------------------------- */

/* One word ended: its hash @h counts in its bucket, and the pair it makes
 * with the word before (*@prev, when *@have_prev) in another. */
static void
word_end(uint64_t h, uint64_t *prev, bool *have_prev, uint32_t *counts,
	 uint64_t *words)
{
	uint64_t hw = sl_mix64(h);

	(*words)++;
	counts[hw % SL_COST_BUCKETS]++;
	if (*have_prev)
		counts[sl_mix64(*prev * PAIR_MUL ^ hw) % SL_COST_BUCKETS]++;
	*prev = hw;
	*have_prev = true;
}

void
sl_cost_scan_init(struct sl_cost_scan *s)
{
	memset(s, 0, sizeof(*s));
}

void
sl_cost_scan_feed(struct sl_cost_scan *s, const void *bytes, size_t len)
{
	const unsigned char *b = bytes;
	size_t n;

	if (b == NULL || s->scanned >= SL_COST_SCAN_MAX)
		return;
	n = len < SL_COST_SCAN_MAX - s->scanned ? len
						: SL_COST_SCAN_MAX - s->scanned;
	s->scanned += n;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = b[i];

		if (c <= 0x20) {
			if (s->in_word)
				word_end(s->h, &s->prev, &s->have_prev,
					 s->counts, &s->words);
			s->in_word = false;
			continue;
		}
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (!s->in_word)
			s->h = FNV_OFFSET ^ FEATURE_SEED;
		s->in_word = true;
		s->h = (s->h ^ c) * FNV_PRIME;
	}
}

void
sl_cost_scan_features(const struct sl_cost_scan *s, uint32_t stage,
		      double x[SL_COST_DIM])
{
	uint32_t counts[SL_COST_BUCKETS];
	uint64_t words = s->words, prev = s->prev;
	bool have_prev = s->have_prev;

	/* The word being read ends with the prompt. */
	memcpy(counts, s->counts, sizeof(counts));
	if (s->in_word)
		word_end(s->h, &prev, &have_prev, counts, &words);

	/* 1 MiB holds at most 2^19 words and 2^20 - 1 unigrams and pairs:
	 * every value below is in [0, log(1 + 2^20)]. */
	memset(x, 0, D * sizeof(*x));
	x[SL_COST_F_BIAS] = 1;
	x[SL_COST_F_WORDS] = log1p((double)words);
	/* Stages 1..SL_COST_STAGE_SLOTS each a slot of their own (a
	 * hash put claims and queries, 2 and 3, in one); beyond, hashed. */
	x[SL_COST_F_STAGE +
	  (stage >= 1 && stage <= SL_COST_STAGE_SLOTS
		   ? stage - 1
		   : sl_mix64(stage ^ STAGE_SEED) % SL_COST_STAGE_SLOTS)] = 1;
	for (unsigned int j = 0; j < SL_COST_BUCKETS; j++)
		x[SL_COST_F_BUCKET + j] = log1p((double)counts[j]);
}

int
sl_cost_features(uint32_t stage, const void *prompt, size_t len,
		 double x[SL_COST_DIM])
{
	struct sl_cost_scan s;

	if (!x || (!prompt && len))
		return -SL_COST_E_INVAL;
	sl_cost_scan_init(&s);
	sl_cost_scan_feed(&s, prompt, len);
	sl_cost_scan_features(&s, stage, x);
	return 0;
}

double
sl_cost_target(uint64_t tokens)
{
	if (tokens > SL_COST_TOKENS_MAX)
		tokens = SL_COST_TOKENS_MAX;
	return log1p((double)tokens);
}

/* --- linear algebra ---------------------------------------------------- */

int
sl_cost_eig(double *a, unsigned int n, unsigned int k, double *val, double *vec)
{
	int nn = (int)n, il = (int)(n - k + 1), iu = (int)n, m = 0, info = 0;
	int lwork = -1, liwork = -1, iwq = 0;
	double vl = 0, vu = 0, abstol = 0, wq = 0, *w, *zv, *work;
	int *isuppz, *iwork;
	int rc = 0;

	if (k == 0 || k > n)
		return -SL_COST_E_INVAL;
	w = malloc((size_t)n * sizeof(*w));
	zv = malloc((size_t)n * k * sizeof(*zv));
	isuppz = malloc(2 * (size_t)k * sizeof(*isuppz));
	if (!w || !zv || !isuppz) {
		rc = -SL_COST_E_NOMEM;
		goto out;
	}
	/* Workspace query, then the call: eigenvalues il..iu ascending. */
	dsyevr_("V", "I", "U", &nn, a, &nn, &vl, &vu, &il, &iu, &abstol, &m, w,
		zv, &nn, isuppz, &wq, &lwork, &iwq, &liwork, &info, 1, 1, 1);
	if (info) {
		rc = -SL_COST_E_LAPACK;
		goto out;
	}
	lwork = (int)wq;
	liwork = iwq;
	work = malloc((size_t)lwork * sizeof(*work));
	iwork = malloc((size_t)liwork * sizeof(*iwork));
	if (!work || !iwork)
		rc = -SL_COST_E_NOMEM;
	else
		dsyevr_("V", "I", "U", &nn, a, &nn, &vl, &vu, &il, &iu, &abstol,
			&m, w, zv, &nn, isuppz, work, &lwork, iwork, &liwork,
			&info, 1, 1, 1);
	free(work);
	free(iwork);
	if (!rc && (info || m != (int)k))
		rc = -SL_COST_E_LAPACK;
	for (unsigned int j = 0; !rc && j < k; j++) {
		val[j] = w[k - 1 - j];
		memcpy(vec + (size_t)j * n, zv + (size_t)(k - 1 - j) * n,
		       n * sizeof(*vec));
	}
out:
	free(w);
	free(zv);
	free(isuppz);
	return rc;
}

int
sl_cost_mom(const double *x, const double *y, size_t n, unsigned int d,
	    unsigned int k, double *basis, double *eig)
{
	double *mm, val[SL_COST_P_MAX];
	int rc;

	if (!x || !y || !basis || n == 0 || d == 0 || d > SL_COST_P_MAX ||
	    k == 0 || k > d || n > SIZE_MAX / sizeof(double) / d)
		return -SL_COST_E_INVAL;
	if (!sl_cost_all_finite(x, n * d) || !sl_cost_all_finite(y, n))
		return -SL_COST_E_NONFINITE;
	mm = calloc((size_t)d * d, sizeof(*mm));
	if (!mm)
		return -SL_COST_E_NOMEM;
	/* Upper triangle of sum y^2 x x^T, column-major. */
	for (size_t i = 0; i < n; i++) {
		const double *xi = x + i * d;
		double y2 = y[i] * y[i];

		for (unsigned int b = 0; b < d; b++) {
			double f = y2 * xi[b];

			for (unsigned int a = 0; a <= b; a++)
				mm[(size_t)b * d + a] += f * xi[a];
		}
	}
	for (size_t j = 0; j < (size_t)d * d; j++)
		mm[j] /= (double)n;
	rc = sl_cost_eig(mm, d, k, val, basis);
	if (!rc && eig)
		memcpy(eig, val, k * sizeof(*eig));
	free(mm);
	return rc;
}

int
sl_cost_sin_theta(const double *u, const double *v, unsigned int d,
		  unsigned int k, double *out)
{
	double *utv, *r, *g, val, vec[SL_COST_P_MAX];
	int rc;

	if (!u || !v || !out || d == 0 || d > SL_COST_P_MAX || k == 0 || k > d)
		return -SL_COST_E_INVAL;
	utv = malloc((size_t)k * k * sizeof(*utv));
	r = malloc((size_t)d * k * sizeof(*r));
	g = malloc((size_t)k * k * sizeof(*g));
	if (!utv || !r || !g) {
		rc = -SL_COST_E_NOMEM;
		goto out;
	}
	/* utv (a, b) = u_a . v_b, column-major. */
	for (unsigned int b = 0; b < k; b++)
		for (unsigned int a = 0; a < k; a++)
			utv[b * k + a] = sl_cost_dot(u + (size_t)a * d,
						     v + (size_t)b * d, d);
	/* R = v - u (u^T v): v's part outside span(u). */
	for (unsigned int b = 0; b < k; b++)
		for (unsigned int i = 0; i < d; i++) {
			double s = v[(size_t)b * d + i];

			for (unsigned int a = 0; a < k; a++)
				s -= u[(size_t)a * d + i] * utv[b * k + a];
			r[(size_t)b * d + i] = s;
		}
	for (unsigned int b = 0; b < k; b++)
		for (unsigned int a = 0; a < k; a++)
			g[b * k + a] = sl_cost_dot(r + (size_t)a * d,
						   r + (size_t)b * d, d);
	rc = sl_cost_eig(g, k, 1, &val, vec);
	if (!rc)
		*out = val <= 0 ? 0 : val >= 1 ? 1 : sqrt(val);
out:
	free(utv);
	free(r);
	free(g);
	return rc;
}

/* --- the model --------------------------------------------------------- */

/* One tenant's standing; its personal statistics live in the model's
 * personal arena at slot index x (k^2 + 2k doubles). */
struct cost_tenant {
	uint32_t id;
	bool used;
	bool personal; /* alpha in the arena is in use */
	uint32_t window_rows;
	double rho_spent;
	uint64_t trainings;
	uint64_t rows[SL_COST_ROW_MAX];
	uint64_t personal_rows;
};

struct sl_cost_model {
	struct sl_cost_params p;
	unsigned int k;
	double rho_train, rho_budget;
	uint64_t c[SL_COST_C_MAX];
	uint64_t rows[SL_COST_ROW_MAX];

	/* Public rows: D floats each (x[0] stored as 1), and targets. */
	float *pub_x;
	double *pub_y;
	size_t pub_n, pub_cap;

	/* The fit. z = P (x - mu) + b0; P row j at proj + j D. */
	bool fitted;
	size_t n_train, n_heldout;
	double mu[D];
	double y_mean, y_min, y_max, clip_z, clip_r;
	double basis[D * KMAX]; /* B^, column-major */
	double eig[KMAX];
	double proj[KMAX * D];
	double b0[KMAX];
	double *ho_z, *ho_y; /* held-out rows' z (n_heldout x k), targets */
	double mse_mean;

	/* The installed model (alpha 0 = the public mean). */
	bool installed;
	double alpha[KMAX];
	double mse;

	/* The training window. */
	double *wz, *wy;
	uint32_t *wt; /* tenant slot of each row */
	size_t wn;

	/* Tenants: open addressing, tcap a power of two >= 2 max_tenants. */
	struct cost_tenant *tenants;
	uint32_t tcap, tcount;
	double *personal; /* tcap x (k^2 + 2k), NULL when off */
};

void
sl_cost_params_default(struct sl_cost_params *p)
{
	memset(p, 0, sizeof(*p));
	p->rank = 8;
	p->epsilon = 1;
	p->delta = 1e-6;
	p->budget_epsilon = 8;
	p->steps = 5;
	p->step_size = 1;
	p->window_rows = 16384;
	p->tenant_rows = 16;
	p->personal_min_rows = 1000;
	p->max_tenants = 1024;
	p->public_max_rows = 262144;
}

/* Whether @p is a setting sl_cost_create takes. */
static bool
params_valid(const struct sl_cost_params *p)
{
	return p && p->rank >= 1 && p->rank <= KMAX && p->epsilon > 0 &&
	       isfinite(p->epsilon) && p->delta > 0 && p->delta < 0.5 &&
	       p->budget_epsilon >= p->epsilon && isfinite(p->budget_epsilon) &&
	       p->steps >= 1 && p->steps <= 10000 && p->step_size > 0 &&
	       p->step_size <= 2 && p->window_rows >= 1 &&
	       p->window_rows <= (1u << 24) && p->tenant_rows >= 1 &&
	       p->tenant_rows <= p->window_rows && p->max_tenants >= 1 &&
	       p->max_tenants <= 65536 &&
	       p->public_max_rows >= SL_COST_PUBLIC_MIN &&
	       p->public_max_rows <= (1u << 24);
}

/* Doubles of one tenant's personal statistics: Gram k x k, Z^T y, alpha. */
static size_t
personal_size(const struct sl_cost_model *m)
{
	return (size_t)m->k * m->k + 2 * (size_t)m->k;
}

struct sl_cost_model *
sl_cost_create(const struct sl_cost_params *p, int *err)
{
	struct sl_cost_model *m;

	if (err)
		*err = -SL_COST_E_INVAL;
	if (!params_valid(p))
		return NULL;
	if (err)
		*err = -SL_COST_E_NOMEM;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->p = *p;
	m->k = p->rank;
	m->rho_train = sl_cost_zcdp_rho(p->epsilon, p->delta);
	m->rho_budget = sl_cost_zcdp_rho(p->budget_epsilon, p->delta);
	m->tcap = 2;
	while (m->tcap < 2 * p->max_tenants)
		m->tcap *= 2;
	m->wz = malloc((size_t)p->window_rows * m->k * sizeof(*m->wz));
	m->wy = malloc((size_t)p->window_rows * sizeof(*m->wy));
	m->wt = malloc((size_t)p->window_rows * sizeof(*m->wt));
	m->tenants = calloc(m->tcap, sizeof(*m->tenants));
	if (p->personal_min_rows)
		m->personal = calloc((size_t)m->tcap * personal_size(m),
				     sizeof(*m->personal));
	if (!m->wz || !m->wy || !m->wt || !m->tenants ||
	    (p->personal_min_rows && !m->personal)) {
		sl_cost_free(m);
		return NULL;
	}
	if (err)
		*err = 0;
	return m;
}

void
sl_cost_free(struct sl_cost_model *m)
{
	if (!m)
		return;
	free(m->pub_x);
	free(m->pub_y);
	free(m->ho_z);
	free(m->ho_y);
	free(m->wz);
	free(m->wy);
	free(m->wt);
	free(m->tenants);
	free(m->personal);
	free(m);
}

/* Clip @v to [-SL_COST_ABS_MAX, SL_COST_ABS_MAX], counting in @ctr. */
static double
clip_abs(struct sl_cost_model *m, double v, enum sl_cost_counter ctr)
{
	if (fabs(v) <= SL_COST_ABS_MAX)
		return v;
	m->c[ctr]++;
	return v > 0 ? SL_COST_ABS_MAX : -SL_COST_ABS_MAX;
}

int
sl_cost_add_public(struct sl_cost_model *m, const double *x, double y)
{
	float *px;

	if (!m || !x)
		return -SL_COST_E_INVAL;
	if (!sl_cost_all_finite(x, D) || !isfinite(y))
		return -SL_COST_E_NONFINITE;
	if (m->pub_n >= m->p.public_max_rows) {
		m->c[SL_COST_C_PUBLIC_FULL]++;
		return -SL_COST_E_FULL;
	}
	if (m->pub_n == m->pub_cap) {
		size_t cap = m->pub_cap ? 2 * m->pub_cap : 4096;
		float *nx;
		double *ny;

		if (cap > m->p.public_max_rows)
			cap = m->p.public_max_rows;
		nx = realloc(m->pub_x, cap * D * sizeof(*nx));
		if (!nx)
			return -SL_COST_E_NOMEM;
		m->pub_x = nx;
		ny = realloc(m->pub_y, cap * sizeof(*ny));
		if (!ny)
			return -SL_COST_E_NOMEM;
		m->pub_y = ny;
		m->pub_cap = cap;
	}
	px = m->pub_x + m->pub_n * D;
	px[0] = 1;
	for (unsigned int j = 1; j < D; j++)
		px[j] = (float)clip_abs(m, x[j], SL_COST_C_CLIPPED_X);
	m->pub_y[m->pub_n++] = clip_abs(m, y, SL_COST_C_CLIPPED_Y);
	m->c[SL_COST_C_PUBLIC_ROWS]++;
	return 0;
}

int
sl_cost_add_public_prompt(struct sl_cost_model *m, uint32_t stage,
			  const void *prompt, size_t len, uint64_t tokens)
{
	double x[D];
	int rc = sl_cost_features(stage, prompt, len, x);

	return rc ? rc : sl_cost_add_public(m, x, sl_cost_target(tokens));
}

/* Whether public row @i is held out. */
static bool
heldout(size_t i)
{
	return i % SL_COST_HOLDOUT_EVERY == SL_COST_HOLDOUT_EVERY - 1;
}

/* z (k) of raw features @x under projection @proj, @mu, @b0. */
static void
project(unsigned int k, const double *proj, const double *mu, const double *b0,
	const double *x, double *z)
{
	double dx[D];

	dx[0] = 0;
	for (unsigned int c = 1; c < D; c++)
		dx[c] = x[c] - mu[c];
	for (unsigned int j = 0; j < k; j++)
		z[j] = b0[j] + sl_cost_dot(proj + (size_t)j * D, dx, D);
}

/* Public row @i as doubles into @x. */
static void
public_row(const struct sl_cost_model *m, size_t i, double *x)
{
	for (unsigned int c = 0; c < D; c++)
		x[c] = m->pub_x[i * D + c];
}

/* qsort order of doubles, ascending. */
static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Everything sl_cost_fit_public computes, before it is committed. */
struct cost_fit {
	size_t n_train, n_heldout;
	double mu[D];
	double y_mean, y_min, y_max, clip_z, clip_r, mse_mean;
	double w[D * D]; /* whitening, column-major, row and column 0 zero */
	double basis[D * KMAX];
	double eig[KMAX];
	double proj[KMAX * D];
	double b0[KMAX];
	double *ho_z, *ho_y;
};

/* Mean, covariance and the whitening matrix of the training rows. */
static int
fit_whitening(const struct sl_cost_model *m, struct cost_fit *f)
{
	double *s = calloc((size_t)D * D, sizeof(*s));
	double *vec = malloc((size_t)D * D * sizeof(*vec));
	double val[D], x[D], sy = 0, sy2 = 0;
	int rc = 0;

	if (!s || !vec) {
		rc = -SL_COST_E_NOMEM;
		goto out;
	}
	f->y_min = INFINITY;
	f->y_max = -INFINITY;
	for (size_t i = 0; i < m->pub_n; i++) {
		if (heldout(i))
			continue;
		public_row(m, i, x);
		for (unsigned int c = 0; c < D; c++)
			f->mu[c] += x[c];
		sy += m->pub_y[i];
		f->y_min = fmin(f->y_min, m->pub_y[i]);
		f->y_max = fmax(f->y_max, m->pub_y[i]);
	}
	for (unsigned int c = 0; c < D; c++)
		f->mu[c] /= (double)f->n_train;
	f->y_mean = sy / (double)f->n_train;
	for (size_t i = 0; i < m->pub_n; i++) {
		if (heldout(i))
			continue;
		public_row(m, i, x);
		for (unsigned int c = 0; c < D; c++)
			x[c] -= f->mu[c];
		for (unsigned int b = 0; b < D; b++)
			for (unsigned int a = 0; a <= b; a++)
				s[b * D + a] += x[a] * x[b];
		sy2 += (m->pub_y[i] - f->y_mean) * (m->pub_y[i] - f->y_mean);
	}
	for (size_t j = 0; j < (size_t)D * D; j++)
		s[j] /= (double)f->n_train;
	f->clip_r = CLIP_R_RMS * sqrt(sy2 / (double)f->n_train);
	rc = sl_cost_eig(s, D, D, val, vec);
	if (rc)
		goto out;
	if (!(val[0] > 0) || !(f->clip_r > 0)) {
		rc = -SL_COST_E_DEGENERATE;
		goto out;
	}
	/* W = sum over kept directions v v^T / sqrt(lambda). */
	for (unsigned int e = 0; e < D && val[e] > EIG_KEEP * val[0]; e++) {
		const double *v = vec + (size_t)e * D;
		double is = 1 / sqrt(val[e]);

		for (unsigned int b = 1; b < D; b++)
			for (unsigned int a = 1; a < D; a++)
				f->w[b * D + a] += v[a] * v[b] * is;
	}
out:
	free(s);
	free(vec);
	return rc;
}

/* MoM on the whitened training rows: B^ = [e_0, top k - 1 of M without
 * the bias]. */
static int
fit_subspace(const struct sl_cost_model *m, struct cost_fit *f)
{
	unsigned int k = m->k;
	double *mm = calloc((size_t)D * D, sizeof(*mm));
	double *vec = malloc((size_t)D * KMAX * sizeof(*vec));
	double x[D], xw[D], val[KMAX], m00 = 0;
	int rc = 0;

	if (!mm || !vec) {
		rc = -SL_COST_E_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < m->pub_n; i++) {
		double yc;

		if (heldout(i))
			continue;
		public_row(m, i, x);
		for (unsigned int c = 0; c < D; c++)
			x[c] -= f->mu[c];
		/* Whitened, bias left out (it is e_0 of B^). */
		xw[0] = 0;
		for (unsigned int a = 1; a < D; a++) {
			double s = 0;

			for (unsigned int c = 1; c < D; c++)
				s += f->w[c * D + a] * x[c];
			xw[a] = s;
		}
		yc = m->pub_y[i] - f->y_mean;
		m00 += yc * yc;
		for (unsigned int b = 1; b < D; b++) {
			double g = yc * yc * xw[b];

			for (unsigned int a = 1; a <= b; a++)
				mm[b * D + a] += g * xw[a];
		}
	}
	for (size_t j = 0; j < (size_t)D * D; j++)
		mm[j] /= (double)f->n_train;
	f->eig[0] = m00 / (double)f->n_train;
	f->basis[0] = 1; /* column 0 = e_0; the rest of it is 0 */
	if (k > 1) {
		rc = sl_cost_eig(mm, D, k - 1, val, vec);
		if (rc)
			goto out;
		memcpy(f->basis + D, vec, (size_t)D * (k - 1) * sizeof(*vec));
		memcpy(f->eig + 1, val, (k - 1) * sizeof(*val));
	}
	/* P = B^T W (W symmetric), b0 = B^T e_0. */
	for (unsigned int j = 0; j < k; j++) {
		const double *bj = f->basis + (size_t)j * D;

		f->b0[j] = bj[0];
		for (unsigned int c = 0; c < D; c++)
			f->proj[j * D + c] = sl_cost_dot(bj, f->w + c * D, D);
	}
out:
	free(mm);
	free(vec);
	return rc;
}

/* C_z from the training rows' |z|; the held-out rows' z and the mean
 * predictor's held-out MSE. */
static int
fit_clip(const struct sl_cost_model *m, struct cost_fit *f)
{
	unsigned int k = m->k;
	double *norms = malloc(f->n_train * sizeof(*norms));
	double x[D], z[KMAX], se = 0;
	size_t nt = 0, nh = 0, q;

	f->ho_z = malloc(f->n_heldout * k * sizeof(*f->ho_z));
	f->ho_y = malloc(f->n_heldout * sizeof(*f->ho_y));
	if (!norms || !f->ho_z || !f->ho_y) {
		free(norms);
		return -SL_COST_E_NOMEM;
	}
	for (size_t i = 0; i < m->pub_n; i++) {
		public_row(m, i, x);
		if (heldout(i)) {
			project(k, f->proj, f->mu, f->b0, x, f->ho_z + nh * k);
			f->ho_y[nh] = m->pub_y[i];
			se += (m->pub_y[i] - f->y_mean) *
			      (m->pub_y[i] - f->y_mean);
			nh++;
			continue;
		}
		project(k, f->proj, f->mu, f->b0, x, z);
		norms[nt++] = sqrt(sl_cost_dot(z, z, k));
	}
	qsort(norms, nt, sizeof(*norms), cmp_double);
	q = (size_t)ceil(CLIP_Z_QUANTILE * (double)nt);
	f->clip_z = norms[q ? q - 1 : 0];
	f->mse_mean = se / (double)nh;
	free(norms);
	return f->clip_z > 0 ? 0 : -SL_COST_E_DEGENERATE;
}

/* Empty the window and the tenants' counts of rows in it. */
static void
window_clear(struct sl_cost_model *m)
{
	m->wn = 0;
	for (uint32_t t = 0; t < m->tcap; t++)
		m->tenants[t].window_rows = 0;
}

int
sl_cost_fit_public(struct sl_cost_model *m)
{
	struct cost_fit *f;
	int rc;

	if (!m)
		return -SL_COST_E_INVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -SL_COST_E_NOMEM;
	f->n_heldout = m->pub_n / SL_COST_HOLDOUT_EVERY;
	f->n_train = m->pub_n - f->n_heldout;
	if (f->n_train < SL_COST_PUBLIC_MIN || f->n_heldout == 0) {
		free(f);
		return -SL_COST_E_FEW_PUBLIC;
	}
	rc = fit_whitening(m, f);
	if (!rc)
		rc = fit_subspace(m, f);
	if (!rc)
		rc = fit_clip(m, f);
	if (rc) {
		free(f->ho_z);
		free(f->ho_y);
		free(f);
		return rc;
	}

	free(m->ho_z);
	free(m->ho_y);
	m->ho_z = f->ho_z;
	m->ho_y = f->ho_y;
	m->n_train = f->n_train;
	m->n_heldout = f->n_heldout;
	memcpy(m->mu, f->mu, sizeof(m->mu));
	m->y_mean = f->y_mean;
	m->y_min = f->y_min;
	m->y_max = f->y_max;
	m->clip_z = f->clip_z;
	m->clip_r = f->clip_r;
	memcpy(m->basis, f->basis, sizeof(m->basis));
	memcpy(m->eig, f->eig, sizeof(m->eig));
	memcpy(m->proj, f->proj, sizeof(m->proj));
	memcpy(m->b0, f->b0, sizeof(m->b0));
	m->mse_mean = f->mse_mean;
	free(f);

	m->c[SL_COST_C_STALE] += m->wn;
	window_clear(m);
	if (m->personal)
		memset(m->personal, 0,
		       (size_t)m->tcap * personal_size(m) * sizeof(double));
	for (uint32_t t = 0; t < m->tcap; t++) {
		m->tenants[t].personal = false;
		m->tenants[t].personal_rows = 0;
	}
	m->installed = false;
	memset(m->alpha, 0, sizeof(m->alpha));
	m->mse = m->mse_mean;
	m->fitted = true;
	m->c[SL_COST_C_FITS]++;
	return 0;
}

/* Where @tenant's slot is, or the free slot it would take: linear
 * probing at load <= 1/2 always ends. */
static uint32_t
tenant_index(const struct sl_cost_model *m, uint32_t tenant)
{
	uint32_t mask = m->tcap - 1;
	uint32_t i = (uint32_t)sl_mix64(tenant ^ TENANT_SEED) & mask;

	while (m->tenants[i].used && m->tenants[i].id != tenant)
		i = (i + 1) & mask;
	return i;
}

/* @tenant's slot, or NULL when it has none. */
static const struct cost_tenant *
tenant_find(const struct sl_cost_model *m, uint32_t tenant)
{
	const struct cost_tenant *t = &m->tenants[tenant_index(m, tenant)];

	return t->used ? t : NULL;
}

/* @tenant's slot, claimed if it has none; NULL when max_tenants hold
 * one. */
static struct cost_tenant *
tenant_claim(struct sl_cost_model *m, uint32_t tenant)
{
	struct cost_tenant *t = &m->tenants[tenant_index(m, tenant)];

	if (t->used)
		return t;
	if (m->tcount >= m->p.max_tenants)
		return NULL;
	t->used = true;
	t->id = tenant;
	m->tcount++;
	return t;
}

/* @t's personal statistics (k^2 Gram, then Z^T y, then alpha). */
static double *
personal_of(const struct sl_cost_model *m, const struct cost_tenant *t)
{
	return m->personal + (size_t)(t - m->tenants) * personal_size(m);
}

/* Whether @t can pay for one more training. */
static bool
can_pay(const struct sl_cost_model *m, const struct cost_tenant *t)
{
	return t->rho_spent + m->rho_train <=
	       m->rho_budget * (1 + BUDGET_SLACK);
}

/* Count row fate @fate for @t (may be NULL) and the model; return it. */
static int
row_fate(struct sl_cost_model *m, struct cost_tenant *t, enum sl_cost_row fate)
{
	m->rows[fate]++;
	if (t)
		t->rows[fate]++;
	return (int)fate;
}

/* z of raw features @x, clipped to C_z. */
static void
project_clipped(const struct sl_cost_model *m, const double *x, double *z)
{
	project(m->k, m->proj, m->mu, m->b0, x, z);
	sl_cost_clip_norm(z, m->k, m->clip_z);
}

int
sl_cost_add_tenant(struct sl_cost_model *m, uint32_t tenant, const double *x,
		   double y)
{
	struct cost_tenant *t;
	double xc[D], z[KMAX], yc;
	unsigned int k;

	if (!m || !x || tenant == SL_COST_SHARED)
		return -SL_COST_E_INVAL;
	if (!sl_cost_all_finite(x, D) || !isfinite(y))
		return -SL_COST_E_NONFINITE;
	t = tenant_claim(m, tenant);
	if (!t)
		return row_fate(m, NULL, SL_COST_ROW_TENANTS);
	if (!m->fitted)
		return row_fate(m, t, SL_COST_ROW_NOFIT);
	k = m->k;
	for (unsigned int c = 0; c < D; c++)
		xc[c] = clip_abs(m, x[c], SL_COST_C_CLIPPED_X);
	if (y < m->y_min || y > m->y_max) {
		m->c[SL_COST_C_CLIPPED_Y]++;
		y = y < m->y_min ? m->y_min : m->y_max;
	}
	yc = y - m->y_mean;
	project(k, m->proj, m->mu, m->b0, xc, z);

	if (m->personal) {
		double *gram = personal_of(m, t), *zy = gram + k * k;
		double zc[KMAX];

		memcpy(zc, z, k * sizeof(*zc));
		sl_cost_clip_norm(zc, k, m->clip_z);
		for (unsigned int b = 0; b < k; b++) {
			for (unsigned int a = 0; a < k; a++)
				gram[b * k + a] += zc[a] * zc[b];
			zy[b] += zc[b] * yc;
		}
		t->personal_rows++;
	}

	if (!can_pay(m, t))
		return row_fate(m, t, SL_COST_ROW_BUDGET);
	if (t->window_rows >= m->p.tenant_rows)
		return row_fate(m, t, SL_COST_ROW_CAP);
	if (m->wn >= m->p.window_rows)
		return row_fate(m, t, SL_COST_ROW_WINDOW);
	memcpy(m->wz + m->wn * k, z, k * sizeof(*z));
	m->wy[m->wn] = yc;
	m->wt[m->wn] = (uint32_t)(t - m->tenants);
	m->wn++;
	t->window_rows++;
	return row_fate(m, t, SL_COST_ROW_STORED);
}

int
sl_cost_add_tenant_prompt(struct sl_cost_model *m, uint32_t tenant,
			  uint32_t stage, const void *prompt, size_t len,
			  uint64_t tokens)
{
	double x[D];
	int rc = sl_cost_features(stage, prompt, len, x);

	return rc ? rc
		  : sl_cost_add_tenant(m, tenant, x, sl_cost_target(tokens));
}

/* The prediction of coefficients @alpha at projected row @z (clipped). */
static double
predict_z(const struct sl_cost_model *m, const double *alpha, const double *z)
{
	double y = m->y_mean + sl_cost_dot(alpha, z, m->k);

	return y < m->y_min ? m->y_min : y > m->y_max ? m->y_max : y;
}

/* Held-out MSE of coefficients @alpha. */
static double
heldout_mse(const struct sl_cost_model *m, const double *alpha)
{
	double se = 0, z[KMAX];

	for (size_t i = 0; i < m->n_heldout; i++) {
		double e;

		memcpy(z, m->ho_z + i * m->k, m->k * sizeof(*z));
		sl_cost_clip_norm(z, m->k, m->clip_z);
		e = m->ho_y[i] - predict_z(m, alpha, z);
		se += e * e;
	}
	return se / (double)m->n_heldout;
}

/* Refit every tenant's own model that has enough rows. */
static void
personal_refresh(struct sl_cost_model *m)
{
	unsigned int k = m->k;
	int nk = (int)k, one = 1, info;
	uint64_t need = m->p.personal_min_rows > k + 1 ? m->p.personal_min_rows
						       : (uint64_t)k + 1;
	double a[KMAX * KMAX];

	if (!m->personal)
		return;
	for (uint32_t i = 0; i < m->tcap; i++) {
		struct cost_tenant *t = &m->tenants[i];
		double *gram, *alpha, tr = 0;

		if (!t->used || t->personal_rows < need)
			continue;
		gram = personal_of(m, t);
		alpha = gram + k * k + k;
		memcpy(a, gram, k * k * sizeof(*a));
		memcpy(alpha, gram + k * k, k * sizeof(*alpha));
		for (unsigned int j = 0; j < k; j++)
			tr += a[j * k + j];
		for (unsigned int j = 0; j < k; j++)
			a[j * k + j] += PERSONAL_RIDGE * tr / k;
		info = 0;
		dposv_("U", &nk, &one, a, &nk, alpha, &nk, &info, 1);
		t->personal = info == 0 && sl_cost_all_finite(alpha, k);
	}
}

int
sl_cost_train(struct sl_cost_model *m, struct sl_rng *rng,
	      struct sl_cost_train_report *rep)
{
	struct sl_cost_train_report r = {0};
	struct sl_cost_dp dp;
	double w[KMAX];
	size_t n = 0;
	unsigned int k;
	int rc;

	if (!m || !rng)
		return -SL_COST_E_INVAL;
	if (!m->fitted)
		return -SL_COST_E_NOFIT;
	k = m->k;
	/* Rows of tenants that can no longer pay (a restored budget) go. */
	for (size_t i = 0; i < m->wn; i++) {
		struct cost_tenant *t = &m->tenants[m->wt[i]];

		if (!can_pay(m, t)) {
			r.dropped_budget++;
			row_fate(m, t, SL_COST_ROW_BUDGET);
			continue;
		}
		memmove(m->wz + n * k, m->wz + i * k, k * sizeof(*m->wz));
		m->wy[n] = m->wy[i];
		m->wt[n] = m->wt[i];
		n++;
	}
	m->wn = n;
	if (n == 0) {
		window_clear(m);
		if (rep)
			*rep = r;
		return 0;
	}

	dp = (struct sl_cost_dp){
		.epsilon = m->p.epsilon,
		.delta = m->p.delta,
		.steps = m->p.steps,
		.step_size = m->p.step_size,
		.clip_z = m->clip_z,
		.clip_r = m->clip_r,
		.unit_rows = m->p.tenant_rows,
		.n_norm = m->p.window_rows,
	};
	rc = sl_cost_dp_regress(m->wz, m->wy, n, k, &dp, rng, w, &r.dp);
	if (rc)
		return rc;

	r.rows = n;
	r.rho = m->rho_train;
	for (uint32_t i = 0; i < m->tcap; i++) {
		struct cost_tenant *t = &m->tenants[i];

		if (!t->used || !t->window_rows || !can_pay(m, t))
			continue;
		t->rho_spent += m->rho_train;
		t->trainings++;
		r.tenants++;
	}
	m->c[SL_COST_C_TRAININGS]++;
	r.heldout_mse = heldout_mse(m, w);
	r.heldout_mse_mean = m->mse_mean;
	if (r.heldout_mse < m->mse_mean) {
		memcpy(m->alpha, w, k * sizeof(*w));
		m->mse = r.heldout_mse;
		m->installed = true;
		m->c[SL_COST_C_INSTALLED]++;
		r.installed = true;
	} else {
		m->c[SL_COST_C_REJECTED]++;
	}
	personal_refresh(m);
	window_clear(m);
	if (rep)
		*rep = r;
	return 0;
}

int
sl_cost_predict(const struct sl_cost_model *m, uint32_t tenant, const double *x,
		double *y)
{
	const struct cost_tenant *t;
	const double *alpha;
	double xc[D], z[KMAX];

	if (!m || !x || !y)
		return -SL_COST_E_INVAL;
	if (!m->fitted)
		return -SL_COST_E_NOFIT;
	if (!sl_cost_all_finite(x, D))
		return -SL_COST_E_NONFINITE;
	for (unsigned int c = 0; c < D; c++)
		xc[c] = fmax(-SL_COST_ABS_MAX, fmin(SL_COST_ABS_MAX, x[c]));
	project_clipped(m, xc, z);
	alpha = m->alpha;
	t = m->personal && tenant != SL_COST_SHARED ? tenant_find(m, tenant)
						    : NULL;
	if (t && t->personal)
		alpha = personal_of(m, t) + m->k * m->k + m->k;
	*y = predict_z(m, alpha, z);
	return 0;
}

int
sl_cost_predict_prompt(const struct sl_cost_model *m, uint32_t tenant,
		       uint32_t stage, const void *prompt, size_t len,
		       double *tokens)
{
	double x[D], y;
	int rc = sl_cost_features(stage, prompt, len, x);

	if (!rc)
		rc = tokens ? sl_cost_predict(m, tenant, x, &y)
			    : -SL_COST_E_INVAL;
	if (!rc)
		*tokens = expm1(y);
	return rc;
}

int
sl_cost_tenant_budget(const struct sl_cost_model *m, uint32_t tenant,
		      struct sl_cost_budget *b)
{
	const struct cost_tenant *t;
	double left;

	if (!m || !b)
		return -SL_COST_E_INVAL;
	memset(b, 0, sizeof(*b));
	t = tenant_find(m, tenant);
	if (t) {
		b->rho_spent = t->rho_spent;
		b->window_rows = t->window_rows;
		b->trainings = t->trainings;
		memcpy(b->rows, t->rows, sizeof(b->rows));
		b->personal_rows = t->personal_rows;
		b->personal = t->personal;
	}
	left = m->rho_budget - b->rho_spent;
	b->rho_left = left > 0 ? left : 0;
	b->epsilon_left = sl_cost_zcdp_epsilon(b->rho_left, m->p.delta);
	left = floor((m->rho_budget * (1 + BUDGET_SLACK) - b->rho_spent) /
		     m->rho_train);
	b->trainings_left = left <= 0            ? 0
			    : left >= UINT32_MAX ? UINT32_MAX
						 : (uint32_t)left;
	return 0;
}

int
sl_cost_tenant_restore(struct sl_cost_model *m, uint32_t tenant,
		       double rho_spent)
{
	struct cost_tenant *t;

	if (!m)
		return -SL_COST_E_INVAL;
	if (!isfinite(rho_spent))
		return -SL_COST_E_NONFINITE;
	if (rho_spent < 0)
		return -SL_COST_E_INVAL;
	t = tenant_claim(m, tenant);
	if (!t)
		return 1;
	if (rho_spent > t->rho_spent)
		t->rho_spent = rho_spent;
	return 0;
}

size_t
sl_cost_tenants_spent(const struct sl_cost_model *m, uint32_t *ids, double *rho,
		      size_t cap)
{
	size_t n = 0;

	if (!m)
		return 0;
	for (uint32_t i = 0; i < m->tcap; i++) {
		const struct cost_tenant *t = &m->tenants[i];

		if (!t->used || t->rho_spent <= 0)
			continue;
		if (n < cap) {
			ids[n] = t->id;
			rho[n] = t->rho_spent;
		}
		n++;
	}
	return n;
}

void
sl_cost_params_of(const struct sl_cost_model *m, struct sl_cost_params *p)
{
	*p = m->p;
}

void
sl_cost_stats(const struct sl_cost_model *m, struct sl_cost_stats *s)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->c, m->c, sizeof(s->c));
	memcpy(s->rows, m->rows, sizeof(s->rows));
	s->fitted = m->fitted;
	s->installed = m->installed;
	s->public_train = m->n_train;
	s->public_heldout = m->n_heldout;
	s->y_mean = m->y_mean;
	s->y_min = m->y_min;
	s->y_max = m->y_max;
	s->clip_z = m->clip_z;
	s->clip_r = m->clip_r;
	memcpy(s->eig, m->eig, sizeof(s->eig));
	s->heldout_mse = m->mse;
	s->heldout_mse_mean = m->mse_mean;
	s->rho_per_training = m->rho_train;
	s->rho_budget = m->rho_budget;
	s->tenants = m->tcount;
}

const double *
sl_cost_basis(const struct sl_cost_model *m)
{
	return m && m->fitted ? m->basis : NULL;
}
