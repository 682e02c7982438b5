/* SPDX-License-Identifier: MIT */
/*
 * test_lengths.c - the engine's length models (tools/engine/model.c,
 * --length-model table|lowrank) and the cost model (control/sl_cost.h)
 * fitted on the public rows they give (sl_model_public_rows, the rows
 * tools/bench/costrows writes).
 *
 * Public prompts: the 600 TOFU questions of tools/data/tofu and the
 * chain the fact-checking pipeline builds on them (answers, claim lines);
 * the cost-model suite adds the 600 lines of tools/data/corpus.txt.
 * Seeds are --seed values: they change the keys, so the noise eps and
 * the texts, never the feature map or B.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "sl_cost.h"

#define CORPUS SL_SOURCE_DIR "/tools/data/corpus.txt"
#define TOFU SL_SOURCE_DIR "/tools/data/tofu"

/* The calibration's seeds (costrows --calibrate's default). */
#define SEEDS 8
#define D SL_COST_DIM
#define K SL_MODEL_LOWRANK_K

/* The first TOFU question's units under lowrank at --seed 0: its answer
 * words, the claims of that answer, the queries of its first claim. */
#define FIRST_ANSWER_WORDS 37
#define FIRST_CLAIMS 3
#define FIRST_QUERIES 2

static struct sl_corpus *corpus;
static struct sl_model_questions tofu;

/* Rows as the tests read them. */
struct rows {
	const uint32_t *stage_id; /* per role: the cost model's stage id */
	size_t n, cap;
	enum sl_model_role *role;
	double *x;  /* n x D features (sl_cost_features) */
	double *y;  /* sl_cost_target(tokens) */
	double *lu; /* log units before rounding (built-in constants) */
	double *z;  /* n x K: B^T phi as the model saw it */
	unsigned *units;
};

static void
rows_free(struct rows *r)
{
	free(r->role);
	free(r->x);
	free(r->y);
	free(r->lu);
	free(r->z);
	free(r->units);
	memset(r, 0, sizeof(*r));
}

static int
rows_take(void *arg, const struct sl_model_row *row)
{
	struct rows *r = arg;
	size_t i = r->n;

	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 4096;

		r->role = realloc(r->role, cap * sizeof(*r->role));
		r->x = realloc(r->x, cap * D * sizeof(*r->x));
		r->y = realloc(r->y, cap * sizeof(*r->y));
		r->lu = realloc(r->lu, cap * sizeof(*r->lu));
		r->z = realloc(r->z, cap * K * sizeof(*r->z));
		r->units = realloc(r->units, cap * sizeof(*r->units));
		if (!r->role || !r->x || !r->y || !r->lu || !r->z || !r->units)
			return -1;
		r->cap = cap;
	}
	r->role[i] = row->role;
	if (sl_cost_features(r->stage_id ? r->stage_id[row->role] : row->stage,
			     row->prompt, row->prompt_len, r->x + i * D) != 0)
		return -1;
	r->y[i] = sl_cost_target(row->tokens);
	r->lu[i] = sl_model_lowrank_log_units(
		row->role, &sl_model_lowrank[row->role], row->z, row->eps);
	memcpy(r->z + i * K, row->z, sizeof(row->z));
	r->units[i] = row->units;
	r->n++;
	return 0;
}

/* Rows of the TOFU chain (and the passages) at seeds [s0, s1). */
static void
rows_collect(struct rows *r, enum sl_model_lengths lengths, bool passages,
	     uint64_t s0, uint64_t s1)
{
	struct sl_model_rows_spec spec = {
		.corpus = corpus,
		.questions = tofu.text,
		.question_lens = tofu.len,
		.n_questions = tofu.n,
		.passages = passages,
		.lengths = lengths,
	};

	for (uint64_t s = s0; s < s1; s++) {
		spec.seed = s;
		CU_ASSERT_FATAL(sl_model_public_rows(&spec, rows_take, r) == 0);
	}
}

static unsigned int
lines_of(const struct sl_text *t)
{
	unsigned int n = 0;

	for (size_t i = 0; i < t->len; i++)
		n += t->buf[i] == '\n';
	return n;
}

static bool
same_text(const struct sl_text *a, const struct sl_text *b)
{
	return a->len == b->len && memcmp(a->buf, b->buf, a->len) == 0;
}

/* --- the table model is what the roles always said ------------------- */

static void
test_table_unchanged(void)
{
	enum sl_model_lengths l;

	CU_ASSERT_EQUAL(tofu.n, 600);
	CU_ASSERT_EQUAL(sl_model_lengths_parse("table", &l), 0);
	CU_ASSERT_EQUAL(l, SL_MODEL_LENGTHS_TABLE);
	CU_ASSERT_EQUAL(sl_model_lengths_parse("lowrank", &l), 0);
	CU_ASSERT_EQUAL(l, SL_MODEL_LENGTHS_LOWRANK);
	CU_ASSERT_EQUAL(sl_model_lengths_parse("Table", &l), -EINVAL);
	CU_ASSERT_EQUAL(sl_model_lengths_parse("", &l), -EINVAL);
	CU_ASSERT_STRING_EQUAL(sl_model_lengths_name(SL_MODEL_LENGTHS_LOWRANK),
			       "lowrank");
	for (size_t i = 0; i < tofu.n; i += 3) {
		const char *q = tofu.text[i];
		size_t ql = tofu.len[i], l1;
		uint64_t kq = sl_model_key(q, ql, 0), ka, kc;
		struct sl_text a1 = {0}, a2 = {0}, c1 = {0}, c2 = {0}, q1 = {0},
			       q2 = {0};

		CU_ASSERT_FATAL(sl_model_answer(corpus, kq, &a1) == 0);
		CU_ASSERT_FATAL(sl_model_say(SL_MODEL_ROLE_ANSWER,
					     SL_MODEL_LENGTHS_TABLE, q, ql,
					     corpus, kq, &a2) == 0);
		CU_ASSERT(same_text(&a1, &a2));
		CU_ASSERT_EQUAL(sl_model_units(SL_MODEL_ROLE_ANSWER,
					       SL_MODEL_LENGTHS_TABLE, q, ql,
					       kq),
				sl_model_sample(&sl_model_answer_words, kq, 0));
		ka = sl_model_key(a1.buf, a1.len, 0);
		CU_ASSERT_FATAL(
			sl_model_claims(a1.buf, a1.len, corpus, ka, &c1) == 0);
		CU_ASSERT_FATAL(sl_model_say(SL_MODEL_ROLE_CLAIMS,
					     SL_MODEL_LENGTHS_TABLE, a1.buf,
					     a1.len, corpus, ka, &c2) == 0);
		CU_ASSERT(same_text(&c1, &c2));
		CU_ASSERT_EQUAL(sl_model_units(SL_MODEL_ROLE_CLAIMS,
					       SL_MODEL_LENGTHS_TABLE, a1.buf,
					       a1.len, ka),
				lines_of(&c1));
		l1 = strcspn(c1.buf, "\n") + 1;
		kc = sl_model_key(c1.buf, l1, 0);
		CU_ASSERT_FATAL(sl_model_queries(c1.buf, l1, corpus, kc, &q1) ==
				0);
		CU_ASSERT_FATAL(sl_model_say(SL_MODEL_ROLE_QUERIES,
					     SL_MODEL_LENGTHS_TABLE, c1.buf, l1,
					     corpus, kc, &q2) == 0);
		CU_ASSERT(same_text(&q1, &q2));
		CU_ASSERT_EQUAL(sl_model_units(SL_MODEL_ROLE_QUERIES,
					       SL_MODEL_LENGTHS_TABLE, c1.buf,
					       l1, kc),
				lines_of(&q1));
		sl_text_free(&a1);
		sl_text_free(&a2);
		sl_text_free(&c1);
		sl_text_free(&c2);
		sl_text_free(&q1);
		sl_text_free(&q2);
	}
}

/* --- the low-rank model ----------------------------------------------- */

static void
test_lowrank_constants(void)
{
	const double *b = sl_model_lowrank_basis();
	double worst = 0;

	/* B^T B = I. */
	for (unsigned int i = 0; i < K; i++)
		for (unsigned int j = 0; j < K; j++) {
			double s = 0;

			for (unsigned int c = 0; c < D; c++)
				s += b[i * D + c] * b[j * D + c];
			worst = fmax(worst, fabs(s - (i == j)));
		}
	CU_ASSERT(worst < 1e-12);
	for (unsigned int r = 0; r < SL_MODEL_ROLES; r++) {
		const double *u = sl_model_lowrank_dir((enum sl_model_role)r);
		const struct sl_model_lowrank_role *p = &sl_model_lowrank[r];
		double s = 0;

		for (unsigned int j = 0; j < K; j++)
			s += u[j] * u[j];
		CU_ASSERT(fabs(s - 1) < 1e-12);
		CU_ASSERT_DOUBLE_EQUAL(p->sigma, p->tau / 2, 1e-15);
	}
	CU_ASSERT_DOUBLE_EQUAL(sl_model_lowrank[SL_MODEL_ROLE_CLAIMS].tau,
			       sqrt(log1p(pow(1.8 / 3.3, 2))), 5e-5);
}

/* Same prompt and seed, same units and bytes; a seed moves eps only; a
 * text has the units drawn; the first question's values, exactly. */
static void
test_lowrank_deterministic(void)
{
	const enum sl_model_lengths lr = SL_MODEL_LENGTHS_LOWRANK;
	unsigned int first[3] = {0};

	for (size_t i = 0; i < tofu.n; i += 5) {
		const char *q = tofu.text[i];
		size_t ql = tofu.len[i], l1;
		uint64_t kq = sl_model_key(q, ql, 0), ka, kc;
		struct sl_text a1 = {0}, a2 = {0}, c1 = {0}, c2 = {0}, q1 = {0};
		double z0[K], z1[K], e0, e1;
		unsigned int ua, uc, uq;

		CU_ASSERT_FATAL(sl_model_say(SL_MODEL_ROLE_ANSWER, lr, q, ql,
					     corpus, kq, &a1) == 0);
		CU_ASSERT_FATAL(sl_model_say(SL_MODEL_ROLE_ANSWER, lr, q, ql,
					     corpus, kq, &a2) == 0);
		CU_ASSERT(same_text(&a1, &a2));
		ua = sl_model_units(SL_MODEL_ROLE_ANSWER, lr, q, ql, kq);
		CU_ASSERT(ua >= 8 && ua <= 300);
		/* The same paragraph as the table model's at this length. */
		a2.len = 0;
		CU_ASSERT_FATAL(sl_model_say_units(SL_MODEL_ROLE_ANSWER, ua, q,
						   ql, corpus, kq, &a2) == 0);
		CU_ASSERT(same_text(&a1, &a2));

		CU_ASSERT_EQUAL(sl_model_lowrank_terms(SL_MODEL_ROLE_ANSWER, q,
						       ql, kq, z0, &e0),
				0);
		CU_ASSERT_EQUAL(
			sl_model_lowrank_terms(SL_MODEL_ROLE_ANSWER, q, ql,
					       sl_model_key(q, ql, 1), z1, &e1),
			0);
		CU_ASSERT(memcmp(z0, z1, sizeof(z0)) == 0);
		CU_ASSERT(e0 != e1);

		ka = sl_model_key(a1.buf, a1.len, 0);
		CU_ASSERT_FATAL(sl_model_say(SL_MODEL_ROLE_CLAIMS, lr, a1.buf,
					     a1.len, corpus, ka, &c1) == 0);
		CU_ASSERT_FATAL(sl_model_say(SL_MODEL_ROLE_CLAIMS, lr, a1.buf,
					     a1.len, corpus, ka, &c2) == 0);
		CU_ASSERT(same_text(&c1, &c2));
		uc = sl_model_units(SL_MODEL_ROLE_CLAIMS, lr, a1.buf, a1.len,
				    ka);
		CU_ASSERT_EQUAL(lines_of(&c1), uc);
		CU_ASSERT(uc >= 1 && uc <= 8);
		l1 = strcspn(c1.buf, "\n") + 1;
		kc = sl_model_key(c1.buf, l1, 0);
		CU_ASSERT_FATAL(sl_model_say(SL_MODEL_ROLE_QUERIES, lr, c1.buf,
					     l1, corpus, kc, &q1) == 0);
		uq = sl_model_units(SL_MODEL_ROLE_QUERIES, lr, c1.buf, l1, kc);
		CU_ASSERT_EQUAL(lines_of(&q1), uq);
		CU_ASSERT(uq >= 1 && uq <= 6);
		if (i == 0) {
			first[0] = ua;
			first[1] = uc;
			first[2] = uq;
		}
		sl_text_free(&a1);
		sl_text_free(&a2);
		sl_text_free(&c1);
		sl_text_free(&c2);
		sl_text_free(&q1);
	}
	printf("\n  first question: %u words, %u claims, %u queries ", first[0],
	       first[1], first[2]);
	CU_ASSERT_EQUAL(first[0], FIRST_ANSWER_WORDS);
	CU_ASSERT_EQUAL(first[1], FIRST_CLAIMS);
	CU_ASSERT_EQUAL(first[2], FIRST_QUERIES);
	CU_ASSERT_EQUAL(sl_model_say_units(SL_MODEL_ROLE_ANSWER, 0, "q", 1,
					   corpus, 1, &(struct sl_text){0}),
			-EINVAL);
}

/* Mean and standard deviation of units per role over @r. */
static void
units_moments(const struct rows *r, double *mean, double *sd)
{
	double s[SL_MODEL_ROLES] = {0}, s2[SL_MODEL_ROLES] = {0};
	size_t n[SL_MODEL_ROLES] = {0};

	for (size_t i = 0; i < r->n; i++) {
		s[r->role[i]] += r->units[i];
		s2[r->role[i]] += (double)r->units[i] * r->units[i];
		n[r->role[i]]++;
	}
	for (unsigned int k = 0; k < SL_MODEL_ROLES; k++) {
		mean[k] = s[k] / (double)n[k];
		sd[k] = sqrt(s2[k] / (double)n[k] - mean[k] * mean[k]);
	}
}

/* Table 1's means over the public prompts: within 0.5 % over the
 * calibration's 8 seeds (what is left is the printed constants'
 * rounding); within 6 % at one seed (eps drawn once a prompt: the
 * answers' standard error is 57.2 / sqrt(600) = 3.7 %); standard
 * deviations within 10 % of Table 1's. */
static void
test_lowrank_means(void)
{
	static const double table_sd[SL_MODEL_ROLES] = {57.2, 1.8, 1.3};
	struct rows all = {0}, one = {0};
	double m[SL_MODEL_ROLES], sd[SL_MODEL_ROLES];
	double m1[SL_MODEL_ROLES], sd1[SL_MODEL_ROLES];

	rows_collect(&all, SL_MODEL_LENGTHS_LOWRANK, false, 0, SEEDS);
	rows_collect(&one, SL_MODEL_LENGTHS_LOWRANK, false, SEEDS, SEEDS + 1);
	units_moments(&all, m, sd);
	units_moments(&one, m1, sd1);
	for (unsigned int k = 0; k < SL_MODEL_ROLES; k++) {
		double want = sl_model_lowrank[k].mean;

		printf("\n  %-7s %.4f +- %.3f (seeds 0-7), %.3f +- %.3f (seed "
		       "8); Table 1 %.1f +- %.1f ",
		       sl_model_lowrank[k].name, m[k], sd[k], m1[k], sd1[k],
		       want, table_sd[k]);
		CU_ASSERT(fabs(m[k] - want) < 0.005 * want);
		CU_ASSERT(fabs(m1[k] - want) < 0.06 * want);
		CU_ASSERT(fabs(sd[k] - table_sd[k]) < 0.10 * table_sd[k]);
	}
	rows_free(&all);
	rows_free(&one);
}

/* Least squares of @y over the @n rows of @p columns @a (row-major):
 * the residual variance RSS / (n - p), and the coefficients into @w. */
static double
ols_residual(const double *a, const double *y, size_t n, unsigned int p,
	     double *w)
{
	double rss = 0;

	CU_ASSERT_FATAL(sl_cost_ols(a, y, n, p, w) == 0);
	for (size_t i = 0; i < n; i++) {
		double e = y[i];

		for (unsigned int j = 0; j < p; j++)
			e -= a[i * p + j] * w[j];
		rss += e * e;
	}
	return rss / (double)(n - p);
}

/* The features of phi that vary within a role: all but the stage
 * slots (constant for a role, the bias's multiple). */
#define VARYING (D - SL_COST_STAGE_SLOTS)

static unsigned int
varying_col(unsigned int j)
{
	return j < SL_COST_F_STAGE ? j : j + SL_COST_STAGE_SLOTS;
}

/*
 * Log units are linear in phi with rank-K structure: per role, over its
 * public prompts at 8 seeds, least squares of the exponent on phi
 * (its 56 varying features) leaves sigma^2 (within 10 %: the estimate's
 * own standard error is sqrt(2 / n) < 2 %), its coefficients on the
 * varying features are scale B u_r (relative error below 0.15: the
 * noise's, measured 0.04 to 0.09), and on
 * the K values B^T phi (and an intercept) alone it leaves the same
 * sigma^2: nothing outside span(B) is used. Rounding to whole units
 * (what the cost model sees) is reported.
 */
static void
test_lowrank_linear(void)
{
	struct rows r = {0};
	const double *b = sl_model_lowrank_basis();

	rows_collect(&r, SL_MODEL_LENGTHS_LOWRANK, false, 0, SEEDS);
	for (unsigned int k = 0; k < SL_MODEL_ROLES; k++) {
		const struct sl_model_lowrank_role *p = &sl_model_lowrank[k];
		const double *u = sl_model_lowrank_dir((enum sl_model_role)k);
		size_t n = 0;
		double *a = malloc(r.n * VARYING * sizeof(*a));
		double *az = malloc(r.n * (K + 1) * sizeof(*az));
		double *y = malloc(r.n * sizeof(*y));
		double *yr = malloc(r.n * sizeof(*yr));
		double w[VARYING], wz[K + 1], beta[D], err = 0, norm = 0;
		double v_full, v_sub, v_round;

		CU_ASSERT_FATAL(a && az && y && yr);
		for (size_t i = 0; i < r.n; i++) {
			if (r.role[i] != k)
				continue;
			for (unsigned int j = 0; j < VARYING; j++)
				a[n * VARYING + j] =
					r.x[i * D + varying_col(j)];
			az[n * (K + 1)] = 1;
			memcpy(az + n * (K + 1) + 1, r.z + i * K,
			       K * sizeof(double));
			y[n] = r.lu[i];
			yr[n] = log(r.units[i]);
			n++;
		}
		v_full = ols_residual(a, y, n, VARYING, w);
		v_sub = ols_residual(az, y, n, K + 1, wz);
		v_round = ols_residual(a, yr, n, VARYING, w) /
			  (p->sigma * p->sigma);
		/* Refit on the exponent for the coefficients. */
		ols_residual(a, y, n, VARYING, w);
		for (unsigned int c = 0; c < D; c++) {
			beta[c] = 0;
			for (unsigned int j = 0; j < K; j++)
				beta[c] += p->scale * b[j * D + c] * u[j];
		}
		for (unsigned int j = 1; j < VARYING; j++) {
			double t = beta[varying_col(j)];

			err += (w[j] - t) * (w[j] - t);
			norm += t * t;
		}
		printf("\n  %-7s n %5zu: residual / sigma^2 %.4f (phi), %.4f "
		       "(B^T phi), %.3f (rounded units on phi); "
		       "|w - scale B u| / |scale B u| %.4f ",
		       p->name, n, v_full / (p->sigma * p->sigma),
		       v_sub / (p->sigma * p->sigma), v_round,
		       sqrt(err / norm));
		CU_ASSERT(fabs(v_full / (p->sigma * p->sigma) - 1) < 0.10);
		CU_ASSERT(fabs(v_sub / (p->sigma * p->sigma) - 1) < 0.10);
		CU_ASSERT(sqrt(err / norm) < 0.15);
		free(a);
		free(az);
		free(y);
		free(yr);
	}
	rows_free(&r);
}

/* --- the cost model on the public rows -------------------------------- */

/* What one fit gave on the held-out public rows (every 5th, the cost
 * model's own split), overall and per stage. */
struct fit {
	bool installed;
	size_t train, heldout, tenant_rows;
	double mse, mse_mean;  /* the cost model's, the global mean's */
	double mse_stage_mean; /* a mean per stage (training rows) */
	double mse_ols_pooled; /* non-private OLS on phi, all stages */
	double mse_ols_stage;  /* non-private OLS on phi, per stage */
	double noise_std;      /* the DP noise's, per coordinate */
	double stage[SL_MODEL_ROLES][3]; /* cost model, stage mean, OLS */
};

static bool
is_heldout(size_t i)
{
	return i % SL_COST_HOLDOUT_EVERY == SL_COST_HOLDOUT_EVERY - 1;
}

/* Columns of the pooled OLS: the bias, words and buckets, one intercept
 * per stage beyond the first (the bias is the first's). */
#define POOLED (VARYING + SL_MODEL_ROLES - 1)

static void
pooled_row(const struct rows *r, size_t i, double *a)
{
	for (unsigned int j = 0; j < VARYING; j++)
		a[j] = r->x[i * D + varying_col(j)];
	for (unsigned int k = 1; k < SL_MODEL_ROLES; k++)
		a[VARYING + k - 1] = r->role[i] == k;
}

static double
dot(const double *a, const double *b, unsigned int n)
{
	double s = 0;

	for (unsigned int j = 0; j < n; j++)
		s += a[j] * b[j];
	return s;
}

/* Least squares on the training rows of @r (all stages, or @stage's);
 * @w receives the coefficients. */
static void
ols_train(const struct rows *r, int stage, bool pooled, double *w)
{
	unsigned int p = pooled ? POOLED : VARYING;
	double *a = malloc(r->n * p * sizeof(*a)),
	       *y = malloc(r->n * sizeof(*y));
	size_t n = 0;

	CU_ASSERT_FATAL(a && y);
	for (size_t i = 0; i < r->n; i++) {
		if (is_heldout(i) || (stage >= 0 && (int)r->role[i] != stage))
			continue;
		if (pooled)
			pooled_row(r, i, a + n * p);
		else
			for (unsigned int j = 0; j < VARYING; j++)
				a[n * p + j] = r->x[i * D + varying_col(j)];
		y[n++] = r->y[i];
	}
	CU_ASSERT_FATAL(sl_cost_ols(a, y, n, p, w) == 0);
	free(a);
	free(y);
}

/*
 * The cost model fitted as the scheduler will be: public rows (the
 * engine's templates at --seed 0 on the TOFU questions and the corpus
 * passages) give the whitening, B^ and the held-out set
 * (sl_cost_fit_public); tenants' rows, here the same templates at --seed
 * 1 (other noise, other texts downstream of the answers), one row a
 * tenant (m = 1, paper A's row level), train it privately at epsilon 1,
 * delta 1e-6, T 5, eta 1, rank 8, noise from a seeded source.
 */
static void
cost_fit(enum sl_model_lengths lengths, const uint32_t *stage_id, struct fit *f)
{
	struct rows pub = {.stage_id = stage_id}, ten = {.stage_id = stage_id};
	struct sl_cost_params p;
	struct sl_cost_model *m;
	struct sl_rng rng;
	struct sl_cost_train_report rep;
	double mean[SL_MODEL_ROLES] = {0}, se[SL_MODEL_ROLES][3] = {{0}};
	double w_pooled[POOLED], w_stage[SL_MODEL_ROLES][VARYING];
	size_t cnt[SL_MODEL_ROLES] = {0}, ho[SL_MODEL_ROLES] = {0};
	double se_all[4] = {0};
	int err;

	memset(f, 0, sizeof(*f));
	rows_collect(&pub, lengths, true, 0, 1);
	rows_collect(&ten, lengths, true, 1, 2);
	sl_cost_params_default(&p);
	p.window_rows = (uint32_t)ten.n;
	p.tenant_rows = 1;
	p.personal_min_rows = 0;
	p.max_tenants = 65536;
	CU_ASSERT_FATAL(ten.n <= p.max_tenants);
	m = sl_cost_create(&p, &err);
	CU_ASSERT_FATAL(m != NULL);
	for (size_t i = 0; i < pub.n; i++)
		CU_ASSERT_FATAL(
			sl_cost_add_public(m, pub.x + i * D, pub.y[i]) == 0);
	CU_ASSERT_FATAL(sl_cost_fit_public(m) == 0);
	for (size_t i = 0; i < ten.n; i++)
		CU_ASSERT_FATAL(sl_cost_add_tenant(m, (uint32_t)i,
						   ten.x + i * D, ten.y[i]) ==
				SL_COST_ROW_STORED);
	sl_rng_seeded(&rng, 12);
	CU_ASSERT_FATAL(sl_cost_train(m, &rng, &rep) == 0);
	f->installed = rep.installed;
	f->mse = rep.heldout_mse;
	f->mse_mean = rep.heldout_mse_mean;
	f->noise_std = rep.dp.noise_std;
	f->tenant_rows = rep.rows;

	/* Baselines from the same training rows. */
	for (size_t i = 0; i < pub.n; i++)
		if (!is_heldout(i)) {
			mean[pub.role[i]] += pub.y[i];
			cnt[pub.role[i]]++;
			f->train++;
		}
	for (unsigned int k = 0; k < SL_MODEL_ROLES; k++)
		mean[k] /= (double)cnt[k];
	ols_train(&pub, -1, true, w_pooled);
	for (unsigned int k = 0; k < SL_MODEL_ROLES; k++)
		ols_train(&pub, (int)k, false, w_stage[k]);
	for (size_t i = 0; i < pub.n; i++) {
		unsigned int k = pub.role[i];
		double a[POOLED], pred[4], e;

		if (!is_heldout(i))
			continue;
		CU_ASSERT_FATAL(
			sl_cost_predict(m, 0, pub.x + i * D, &pred[0]) == 0);
		pred[1] = mean[k];
		for (unsigned int j = 0; j < VARYING; j++)
			a[j] = pub.x[i * D + varying_col(j)];
		pred[2] = dot(w_stage[k], a, VARYING);
		pooled_row(&pub, i, a);
		pred[3] = dot(w_pooled, a, POOLED);
		for (unsigned int t = 0; t < 4; t++) {
			e = pub.y[i] - pred[t];
			se_all[t] += e * e;
			if (t < 3)
				se[k][t] += e * e;
		}
		ho[k]++;
		f->heldout++;
	}
	f->mse_stage_mean = se_all[1] / (double)f->heldout;
	f->mse_ols_stage = se_all[2] / (double)f->heldout;
	f->mse_ols_pooled = se_all[3] / (double)f->heldout;
	for (unsigned int k = 0; k < SL_MODEL_ROLES; k++)
		for (unsigned int t = 0; t < 3; t++)
			f->stage[k][t] = se[k][t] / (double)ho[k];
	printf("\n  %s, stage ids %u %u %u: %zu public rows (%zu held out), "
	       "%zu tenant rows, DP noise std %.4f, %s\n"
	       "    held-out MSE of log(1 + tokens): cost model %.4f, global "
	       "mean %.4f (ratio %.3f), stage means %.4f (ratio %.3f)\n"
	       "    non-private OLS on phi: pooled %.4f, per stage %.4f",
	       sl_model_lengths_name(lengths), stage_id[0], stage_id[1],
	       stage_id[2], pub.n, f->heldout, f->tenant_rows, f->noise_std,
	       f->installed ? "installed" : "rejected", f->mse, f->mse_mean,
	       f->mse / f->mse_mean, f->mse_stage_mean,
	       f->mse / f->mse_stage_mean, f->mse_ols_pooled, f->mse_ols_stage);
	for (unsigned int k = 0; k < SL_MODEL_ROLES; k++)
		printf("\n    %-7s (%4zu held out): cost model %.4f, stage "
		       "mean %.4f, OLS per stage %.4f",
		       sl_model_lowrank[k].name, ho[k], f->stage[k][0],
		       f->stage[k][1], f->stage[k][2]);
	printf(" ");
	sl_cost_free(m);
	rows_free(&pub);
	rows_free(&ten);
}

/* Stage ids: sluiced's stage numbers 1, 2, 3 (SL_MODEL_STAGE_ID, what
 * costrows writes by default), and 1, 4, 5, which sl_cost_features' hash
 * puts in three distinct slots. */
static const uint32_t index_ids[SL_MODEL_ROLES] = {1, 2, 3};
static const uint32_t slot_ids[SL_MODEL_ROLES] = {1, 4, 5};

static unsigned int
slot_of(uint32_t stage)
{
	double x[D];

	CU_ASSERT_FATAL(sl_cost_features(stage, "", 0, x) == 0);
	for (unsigned int j = 0; j < SL_COST_STAGE_SLOTS; j++)
		if (x[SL_COST_F_STAGE + j] == 1)
			return j;
	CU_FAIL_FATAL("no stage slot");
	return 0;
}

/* Stages 1..8 each have their own slot (a hash once put 2 and 3, the
 * claims and queries stages, in one and they shared an intercept). */
static void
test_stage_slots(void)
{
	unsigned int a = slot_of(index_ids[0]), b = slot_of(index_ids[1]),
		     c = slot_of(index_ids[2]);

	printf("\n  stage ids 1 2 3 -> slots %u %u %u; 1 4 5 -> %u %u %u ", a,
	       b, c, slot_of(slot_ids[0]), slot_of(slot_ids[1]),
	       slot_of(slot_ids[2]));
	CU_ASSERT_EQUAL(a, 0);
	CU_ASSERT_EQUAL(b, 1);
	CU_ASSERT_EQUAL(c, 2);
	CU_ASSERT(slot_of(slot_ids[0]) != slot_of(slot_ids[1]) &&
		  slot_of(slot_ids[0]) != slot_of(slot_ids[2]) &&
		  slot_of(slot_ids[1]) != slot_of(slot_ids[2]));
}

/*
 * The stated factors (fixed seeds: the values are exact, the margins
 * cover a change of the DP noise's draws):
 * - under lowrank the installed model's held-out MSE is below 0.8 of the
 *   global mean's (the install gate's baseline) with sluiced's stage ids
 *   1 2 3, below 0.75 with 1 4 5 (each stage its own slot in both since
 *   the stage slots are direct; measured when they were hashed and 2, 3
 *   shared one: 0.730 and 0.699);
 * - the rows carry the low-rank structure: non-private least squares on
 *   phi per stage leaves below 0.6 of the per-stage means' error under
 *   lowrank (measured 0.498), above 0.9 under table (0.967; only the
 *   claims' length law is there to learn).
 * Under table the cost model is reported, not asserted: 0.732 (ids
 * 1 2 3) and 0.745 (1 4 5) of the global mean's, as much as under
 * lowrank: what it learns is mostly the stages' means (against those it
 * is 1.17 to 1.27 times worse under either model).
 */
static void
test_cost_fit(void)
{
	struct fit table, lowrank, table_s, lowrank_s;

	cost_fit(SL_MODEL_LENGTHS_TABLE, index_ids, &table);
	cost_fit(SL_MODEL_LENGTHS_LOWRANK, index_ids, &lowrank);
	cost_fit(SL_MODEL_LENGTHS_TABLE, slot_ids, &table_s);
	cost_fit(SL_MODEL_LENGTHS_LOWRANK, slot_ids, &lowrank_s);
	CU_ASSERT(lowrank.installed);
	CU_ASSERT(lowrank.mse < 0.8 * lowrank.mse_mean);
	CU_ASSERT(lowrank_s.installed);
	CU_ASSERT(lowrank_s.mse < 0.75 * lowrank_s.mse_mean);
	CU_ASSERT(lowrank_s.mse_ols_stage < 0.6 * lowrank_s.mse_stage_mean);
	CU_ASSERT(table_s.mse_ols_stage > 0.9 * table_s.mse_stage_mean);
}

int
main(void)
{
	CU_pSuite s;
	char err[512];
	unsigned int failed;

	corpus = sl_corpus_load(CORPUS);
	if (corpus == NULL ||
	    sl_model_tofu_load(&tofu, TOFU, err, sizeof(err)) != 0) {
		fprintf(stderr, "test_lengths: cannot load %s or %s\n", CORPUS,
			TOFU);
		return 1;
	}
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("length models", NULL, NULL);
	CU_add_test(s, "table: the roles byte for byte", test_table_unchanged);
	CU_add_test(s, "lowrank: B orthonormal, u unit, sigma tau/2",
		    test_lowrank_constants);
	CU_add_test(s, "lowrank: deterministic, units as drawn",
		    test_lowrank_deterministic);
	CU_add_test(s, "lowrank: Table 1 means over the public prompts",
		    test_lowrank_means);
	CU_add_test(s, "lowrank: log units linear in phi, rank K",
		    test_lowrank_linear);
	s = CU_add_suite("cost model on public rows", NULL, NULL);
	CU_add_test(s, "stages in distinct slots", test_stage_slots);
	CU_add_test(s, "fitted on public rows, held-out error", test_cost_fit);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures();
	CU_cleanup_registry();
	sl_model_tofu_free(&tofu);
	sl_corpus_free(corpus);
	return failed ? 1 : 0;
}
