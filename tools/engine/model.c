/* SPDX-License-Identifier: MIT */
/*
 * model.c - deterministic content of the emulated stages (see model.h).
 *
 * Distribution parameters: each (mu, sigma) below was fitted numerically
 * so that clamp(round(X), lo, hi) has exactly the mean and standard
 * deviation ALTO Table 1 reports for that quantity (the clamping moves
 * the mean, so the textbook lognormal formulas alone are off by a few
 * percent). Skewed quantities (answer length, counts, query length) are
 * lognormal; claim length, nearly symmetric, is normal.
 * tests/tools/test_engine_model.c checks the empirical moments.
 *
 * The low-rank length model (--length-model lowrank) and the public rows
 * for the cost model follow sl_model_queries; tests/tools/test_lengths.c
 * checks them.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "sl_cost.h"

/* QA: answer paragraph, 62.5 +- 57.2 words, clipped to [8, 300]. */
const struct sl_model_dist sl_model_answer_words = {
	.mu = 3.7851, .sigma = 0.8671, .log = true, .lo = 8, .hi = 300};
/* Claim extraction: claims grow with the text, 3.3 +- 1.8 an answer. */
#define SL_MODEL_CLAIM_WORDS 8.6
#define SL_MODEL_CLAIM_EXP 0.65
#define SL_MODEL_CLAIMS_MAX 8
/* 9.8 +- 3.5 words per claim, at least 3. */
const struct sl_model_dist sl_model_claim_words = {
	.mu = 9.7600, .sigma = 3.5796, .log = false, .lo = 3, .hi = 30};
/* Query generation: 2.5 +- 1.3 queries per claim, [1, 6]. */
const struct sl_model_dist sl_model_n_queries = {
	.mu = 0.7948, .sigma = 0.5242, .log = true, .lo = 1, .hi = 6};
/* 5.5 +- 3.1 words per query, at least 2. */
const struct sl_model_dist sl_model_query_words = {
	.mu = 1.5612, .sigma = 0.5323, .log = true, .lo = 2, .hi = 24};

static uint64_t
sl_model_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t
sl_model_key(const char *text, size_t len, uint64_t seed)
{
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)text[i];
		h *= 0x100000001b3ull;
	}
	return sl_model_mix(h ^ sl_model_mix(seed + 0x9e3779b97f4a7c15ull));
}

uint64_t
sl_model_draw(uint64_t key, uint32_t draw)
{
	return sl_model_mix(key + 0x9e3779b97f4a7c15ull * (draw + 1ull));
}

/* Uniform in (0, 1]: never 0, so log() below is finite. */
static double
sl_model_unit(uint64_t key, uint32_t draw)
{
	return (double)((sl_model_draw(key, draw) >> 11) + 1) * 0x1.0p-53;
}

unsigned int
sl_model_sample(const struct sl_model_dist *d, uint64_t key, uint32_t draw)
{
	double u1 = sl_model_unit(key, draw), u2 = sl_model_unit(key, draw + 1);
	double z = sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
	double x = d->mu + d->sigma * z;

	if (d->log)
		x = exp(x);
	x = floor(x + 0.5);
	if (x < d->lo)
		return d->lo;
	if (x > d->hi)
		return d->hi;
	return (unsigned int)x;
}

bool
sl_model_is_word_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c >= 0x80;
}

static bool
sl_model_is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

/* Words (runs of word bytes) of a text or of the corpus. */
struct sl_model_word {
	const char *text;
	uint32_t len;
};

struct sl_model_words {
	struct sl_model_word *w;
	size_t n;
	size_t cap;
	bool count_only; /* count in n, keep nothing */
};

static int
sl_model_words_push(struct sl_model_words *ws, const char *text, size_t len)
{
	if (ws->n == ws->cap) {
		size_t cap = ws->cap ? ws->cap * 2 : 64;
		struct sl_model_word *grown;

		grown = realloc(ws->w, cap * sizeof(ws->w[0]));
		if (grown == NULL)
			return -ENOMEM;
		ws->w = grown;
		ws->cap = cap;
	}
	ws->w[ws->n].text = text;
	ws->w[ws->n].len = (uint32_t)len;
	ws->n++;
	return 0;
}

/* Words of a text: runs between whitespace, without the punctuation
 * that opens or closes them ("Yun-Hwa" and "author's" stay whole). */
static int
sl_model_words_of_text(struct sl_model_words *ws, const char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t start, end;

		while (i < len && sl_model_is_space((unsigned char)s[i]))
			i++;
		start = i;
		while (i < len && !sl_model_is_space((unsigned char)s[i]))
			i++;
		end = i;
		while (start < end &&
		       !sl_model_is_word_byte((unsigned char)s[start]))
			start++;
		while (end > start &&
		       !sl_model_is_word_byte((unsigned char)s[end - 1]))
			end--;
		if (end > start && ws->count_only)
			ws->n++;
		else if (end > start &&
			 sl_model_words_push(ws, s + start, end - start))
			return -ENOMEM;
	}
	return 0;
}

/* Corpus token @t without its leading whitespace, if it is a word. */
static bool
sl_model_corpus_word(const struct sl_corpus *c, size_t t, const char **text,
		     size_t *len)
{
	const char *s = sl_corpus_token_text(c, t);
	size_t n = c->tokens[t].len, i = 0;

	while (i < n && sl_model_is_space((unsigned char)s[i]))
		i++;
	if (i == n || !sl_model_is_word_byte((unsigned char)s[i]))
		return false;
	*text = s + i;
	*len = n - i;
	return true;
}

/* Append the next @n corpus words from token *@t on (wrapping). */
static int
sl_model_corpus_words(const struct sl_corpus *c, size_t *t, size_t n,
		      struct sl_model_words *ws)
{
	size_t scanned = 0;

	while (n > 0 && scanned < 2 * c->n_tokens) {
		const char *text;
		size_t len;

		if (sl_model_corpus_word(c, *t, &text, &len)) {
			if (sl_model_words_push(ws, text, len))
				return -ENOMEM;
			n--;
		}
		*t = (*t + 1) % c->n_tokens;
		scanned++;
	}
	return 0;
}

/* One paragraph of @want corpus words from the line @key chooses. */
static int
sl_model_paragraph(const struct sl_corpus *c, uint64_t key, unsigned int want,
		   struct sl_text *out)
{
	size_t t = sl_model_draw(key, 2) % c->n_tokens, scanned = 0;
	unsigned int words = 0;
	const char *text;
	size_t len;

	/* Start on a line (a corpus line is a question and its answer),
	 * else at least on a word, so the paragraph does not open with
	 * ". ". */
	for (scanned = 0; scanned < c->n_tokens && t != 0; scanned++) {
		const char *s = sl_corpus_token_text(c, t);

		if (memchr(s, '\n', c->tokens[t].len) != NULL &&
		    sl_model_corpus_word(c, t, &text, &len))
			break;
		t = (t + 1) % c->n_tokens;
	}
	scanned = 0;
	while (!sl_model_corpus_word(c, t, &text, &len) &&
	       scanned++ < c->n_tokens)
		t = (t + 1) % c->n_tokens;
	for (scanned = 0; scanned < 2 * c->n_tokens;
	     scanned++, t = (t + 1) % c->n_tokens) {
		const char *s = sl_corpus_token_text(c, t);
		size_t n = c->tokens[t].len, i = 0;
		bool word, newline = false;

		while (i < n && sl_model_is_space((unsigned char)s[i])) {
			newline |= s[i] == '\n' || s[i] == '\r';
			i++;
		}
		if (i == n)
			continue; /* trailing whitespace token */
		word = sl_model_is_word_byte((unsigned char)s[i]);
		/* After the last word only punctuation that sticks to it. */
		if (words == want && (word || i > 0))
			break;
		if (out->len == 0) {
			s += i;
			n -= i;
		} else if (newline) {
			/* One paragraph: fold line breaks into a space. */
			if (sl_text_append(out, " ", 1))
				return -ENOMEM;
			s += i;
			n -= i;
		}
		if (sl_text_append(out, s, n))
			return -ENOMEM;
		words += word;
	}
	return sl_text_append(out, "\n", 1);
}

int
sl_model_answer(const struct sl_corpus *c, uint64_t key, struct sl_text *out)
{
	return sl_model_paragraph(
		c, key, sl_model_sample(&sl_model_answer_words, key, 0), out);
}

static int
sl_model_join(struct sl_text *out, const struct sl_model_word *w, bool first)
{
	if (!first && sl_text_append(out, " ", 1))
		return -ENOMEM;
	return sl_text_append(out, w->text, w->len);
}

unsigned int
sl_model_n_claims(unsigned int words)
{
	double n = floor(
		pow((double)words / SL_MODEL_CLAIM_WORDS, SL_MODEL_CLAIM_EXP) +
		0.5);

	if (n < 1)
		return 1;
	return n > SL_MODEL_CLAIMS_MAX ? SL_MODEL_CLAIMS_MAX : (unsigned int)n;
}

/* @want claims (0: as many as the text's length gives). */
static int
sl_model_claim_lines(const char *in, size_t len, const struct sl_corpus *c,
		     uint64_t key, unsigned int want, struct sl_text *out)
{
	unsigned int n_claims, i;
	struct sl_model_words ws = {0};
	size_t pos;
	int rc = -ENOMEM;

	if (sl_model_words_of_text(&ws, in, len))
		goto out;
	n_claims = want ? want : sl_model_n_claims((unsigned int)ws.n);
	if (ws.n == 0) {
		size_t t = sl_model_draw(key, 3) % c->n_tokens;

		if (sl_model_corpus_words(c, &t, 64, &ws) || ws.n == 0)
			goto out;
	}
	/* Claim 1 opens the text; each next one goes on where it ended. */
	pos = 0;
	for (i = 0; i < n_claims; i++) {
		unsigned int n_words, k;

		n_words =
			sl_model_sample(&sl_model_claim_words, key, 4 + 2 * i);
		for (k = 0; k < n_words; k++) {
			if (sl_model_join(out, &ws.w[pos], k == 0))
				goto out;
			pos = (pos + 1) % ws.n;
		}
		if (sl_text_append(out, ".\n", 2))
			goto out;
	}
	rc = 0;
out:
	free(ws.w);
	return rc;
}

int
sl_model_claims(const char *in, size_t len, const struct sl_corpus *c,
		uint64_t key, struct sl_text *out)
{
	return sl_model_claim_lines(in, len, c, key, 0, out);
}

/* @want queries (0: as many as drawn). */
static int
sl_model_query_lines(const char *in, size_t len, const struct sl_corpus *c,
		     uint64_t key, unsigned int want, struct sl_text *out)
{
	unsigned int n_queries =
		want ? want : sl_model_sample(&sl_model_n_queries, key, 0);
	struct sl_model_words ws = {0}, cw = {0};
	size_t t = sl_model_draw(key, 2) % c->n_tokens, pos = 0, cpos = 0;
	unsigned int i;
	int rc = -ENOMEM;

	if (sl_model_words_of_text(&ws, in, len))
		goto out;
	for (i = 0; i < n_queries; i++) {
		unsigned int n_words, from_claim, k;

		n_words =
			sl_model_sample(&sl_model_query_words, key, 4 + 2 * i);
		from_claim = ws.n > 0 ? (n_words + 1) / 2 : 0;
		if (sl_model_corpus_words(c, &t, n_words - from_claim, &cw))
			goto out;
		for (k = 0; k < n_words; k++) {
			const struct sl_model_word *w;

			if (k < from_claim) {
				w = &ws.w[pos];
				pos = (pos + 1) % ws.n;
			} else if (cpos < cw.n) {
				w = &cw.w[cpos++];
			} else {
				break;
			}
			if (sl_model_join(out, w, k == 0))
				goto out;
		}
		if (sl_text_append(out, "\n", 1))
			goto out;
	}
	rc = 0;
out:
	free(ws.w);
	free(cw.w);
	return rc;
}

int
sl_model_queries(const char *in, size_t len, const struct sl_corpus *c,
		 uint64_t key, struct sl_text *out)
{
	return sl_model_query_lines(in, len, c, key, 0, out);
}

/* ---- length models ---- */

_Static_assert(SL_MODEL_LOWRANK_DIM == SL_COST_DIM,
	       "the low-rank model reads the cost model's features");
_Static_assert(SL_MODEL_LOWRANK_K <= SL_COST_RANK_MAX,
	       "the cost model's rank can hold the structure");

/*
 * The low-rank model's constants (tools/engine/README.md, "Length
 * models", has the derivations at length):
 *   mean, lo, hi: ALTO Table 1's mean and the table model's clamps
 *     (answer words 62.5 in [8, 300], claims 3.3 in [1, 8], queries 2.5
 *     in [1, 6]);
 *   tau: Table 1's spread of log units: the lognormal sigmas fitted
 *     above for answer words (0.8671) and queries (0.5242); claims, which
 *     the table model derives from the text's length, the sigma of the
 *     lognormal with Table 1's 3.3 +- 1.8: sqrt(ln(1 + (1.8 / 3.3)^2));
 *   sigma = tau / 2: a quarter of the variance of log units is noise,
 *     three quarters come from the prompt. A choice, not a measurement
 *     (no source says how much of an LM's output length its prompt
 *     fixes): it leaves a linear predictor on phi an R^2 of at most 0.75
 *     before rounding;
 *   scale, offset: calibrated on the public prompts by
 *     `costrows --calibrate` (tools/bench/costrows.c), which printed the
 *     values below: scale so that scale x std(u_r . B^T phi) =
 *     tau sqrt(3) / 2 (with sigma, the spread before rounding is tau, as
 *     the table's), then offset so that the mean units are Table 1's.
 *     The public prompts of a role are those the pipeline hands it from
 *     the 600 TOFU questions (tools/data/tofu, forget and retain): the
 *     questions, the answers to them, the claim lines of those answers,
 *     at --seed 0 to 7 (eight draws of eps a prompt stand for its
 *     expectation); each role calibrated after the ones before it, whose
 *     answers are its prompts. The offsets absorb the constant part of
 *     phi^T B alpha_r (the bias and the stage's slot), so they hold for
 *     the stage ids SL_MODEL_STAGE_ID gives, and change with them.
 */
#define LOWRANK_TAU_CLAIMS 0.5103 /* sqrt(log1p(pow(1.8 / 3.3, 2))) */
const struct sl_model_lowrank_role sl_model_lowrank[SL_MODEL_ROLES] = {
	[SL_MODEL_ROLE_ANSWER] = {.name = "answer",
				  .mean = 62.5,
				  .lo = 8,
				  .hi = 300,
				  .tau = 0.8671,
				  .sigma = 0.8671 / 2,
				  .scale = 2.188005,
				  .offset = -1.338731},
	[SL_MODEL_ROLE_CLAIMS] = {.name = "claims",
				  .mean = 3.3,
				  .lo = 1,
				  .hi = SL_MODEL_CLAIMS_MAX,
				  .tau = LOWRANK_TAU_CLAIMS,
				  .sigma = LOWRANK_TAU_CLAIMS / 2,
				  .scale = 0.767024,
				  .offset = -0.217105},
	[SL_MODEL_ROLE_QUERIES] = {.name = "queries",
				   .mean = 2.5,
				   .lo = 1,
				   .hi = 6,
				   .tau = 0.5242,
				   .sigma = 0.5242 / 2,
				   .scale = 1.360224,
				   .offset = 0.238591},
};

/* Fixed seeds (any constants: changing one changes every low-rank
 * length, and calls for a new calibration). */
#define LOWRANK_B_SEED 0x736c6c6f77726b42ull   /* "sllowrkB" */
#define LOWRANK_DIR_SEED 0x736c6c6f77726b55ull /* "sllowrkU" */
#define LOWRANK_EPS_SALT 0x736c6c6f77726b45ull /* "sllowrkE" */

#define LR_D SL_MODEL_LOWRANK_DIM
#define LR_K SL_MODEL_LOWRANK_K

static struct {
	double b[LR_D * LR_K];          /* column-major */
	double u[SL_MODEL_ROLES][LR_K]; /* unit */
} lowrank;
static pthread_once_t lowrank_once = PTHREAD_ONCE_INIT;

/* The @draw-th pair of draws of @key as one N(0, 1) (Box-Muller). */
static double
sl_model_normal(uint64_t key, uint32_t draw)
{
	double u1 = sl_model_unit(key, 2 * draw),
	       u2 = sl_model_unit(key, 2 * draw + 1);

	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static double
sl_model_dot(const double *a, const double *b, unsigned int n)
{
	double s = 0;

	for (unsigned int i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

/* B: Gaussian columns made orthonormal by modified Gram-Schmidt, twice
 * over (the second pass removes what rounding left); u_r: a Gaussian
 * k-vector per role, normalised. */
static void
sl_model_lowrank_init(void)
{
	for (unsigned int j = 0; j < LR_K; j++) {
		double *v = lowrank.b + (size_t)j * LR_D, norm;

		for (unsigned int i = 0; i < LR_D; i++)
			v[i] = sl_model_normal(LOWRANK_B_SEED, j * LR_D + i);
		for (int pass = 0; pass < 2; pass++)
			for (unsigned int p = 0; p < j; p++) {
				const double *q = lowrank.b + (size_t)p * LR_D;
				double d = sl_model_dot(v, q, LR_D);

				for (unsigned int i = 0; i < LR_D; i++)
					v[i] -= d * q[i];
			}
		norm = sqrt(sl_model_dot(v, v, LR_D));
		for (unsigned int i = 0; i < LR_D; i++)
			v[i] /= norm;
	}
	for (unsigned int r = 0; r < SL_MODEL_ROLES; r++) {
		double *u = lowrank.u[r], norm;

		for (unsigned int j = 0; j < LR_K; j++)
			u[j] = sl_model_normal(LOWRANK_DIR_SEED, r * LR_K + j);
		norm = sqrt(sl_model_dot(u, u, LR_K));
		for (unsigned int j = 0; j < LR_K; j++)
			u[j] /= norm;
	}
}

const double *
sl_model_lowrank_basis(void)
{
	pthread_once(&lowrank_once, sl_model_lowrank_init);
	return lowrank.b;
}

const double *
sl_model_lowrank_dir(enum sl_model_role role)
{
	pthread_once(&lowrank_once, sl_model_lowrank_init);
	return lowrank.u[role < SL_MODEL_ROLES ? role : 0];
}

int
sl_model_lengths_parse(const char *name, enum sl_model_lengths *out)
{
	if (name != NULL && strcmp(name, "table") == 0)
		*out = SL_MODEL_LENGTHS_TABLE;
	else if (name != NULL && strcmp(name, "lowrank") == 0)
		*out = SL_MODEL_LENGTHS_LOWRANK;
	else
		return -EINVAL;
	return 0;
}

const char *
sl_model_lengths_name(enum sl_model_lengths lengths)
{
	return lengths == SL_MODEL_LENGTHS_TABLE     ? "table"
	       : lengths == SL_MODEL_LENGTHS_LOWRANK ? "lowrank"
						     : "?";
}

int
sl_model_lowrank_terms(enum sl_model_role role, const char *in, size_t len,
		       uint64_t key, double z[SL_MODEL_LOWRANK_K], double *eps)
{
	const double *b = sl_model_lowrank_basis();
	double phi[LR_D];

	if (role >= SL_MODEL_ROLES ||
	    sl_cost_features(SL_MODEL_STAGE_ID(role), in, len, phi) != 0)
		return -EINVAL;
	for (unsigned int j = 0; j < LR_K; j++)
		z[j] = sl_model_dot(b + (size_t)j * LR_D, phi, LR_D);
	/* Its own stream of the key: the texts' draws stay as they were. */
	*eps = sl_model_normal(sl_model_mix(key ^ LOWRANK_EPS_SALT), 0);
	return 0;
}

double
sl_model_lowrank_log_units(enum sl_model_role role,
			   const struct sl_model_lowrank_role *p,
			   const double z[SL_MODEL_LOWRANK_K], double eps)
{
	return log(p->mean) + p->offset +
	       p->scale * sl_model_dot(sl_model_lowrank_dir(role), z, LR_K) +
	       p->sigma * eps;
}

unsigned int
sl_model_lowrank_round(const struct sl_model_lowrank_role *p, double log_units)
{
	double x = floor(exp(log_units) + 0.5);

	if (!(x >= p->lo))
		return p->lo;
	return x > p->hi ? p->hi : (unsigned int)x;
}

unsigned int
sl_model_units(enum sl_model_role role, enum sl_model_lengths lengths,
	       const char *in, size_t len, uint64_t key)
{
	struct sl_model_words ws = {.count_only = true};
	double z[LR_K], eps;

	if (lengths == SL_MODEL_LENGTHS_LOWRANK && role < SL_MODEL_ROLES &&
	    sl_model_lowrank_terms(role, in, len, key, z, &eps) == 0)
		return sl_model_lowrank_round(
			&sl_model_lowrank[role],
			sl_model_lowrank_log_units(
				role, &sl_model_lowrank[role], z, eps));
	switch (role) {
	case SL_MODEL_ROLE_ANSWER:
		return sl_model_sample(&sl_model_answer_words, key, 0);
	case SL_MODEL_ROLE_CLAIMS:
		/* Counting allocates nothing: it cannot fail. */
		(void)sl_model_words_of_text(&ws, in, len);
		return sl_model_n_claims((unsigned int)ws.n);
	default:
		return sl_model_sample(&sl_model_n_queries, key, 0);
	}
}

int
sl_model_say_units(enum sl_model_role role, unsigned int units, const char *in,
		   size_t len, const struct sl_corpus *c, uint64_t key,
		   struct sl_text *out)
{
	if (units == 0)
		return -EINVAL;
	switch (role) {
	case SL_MODEL_ROLE_ANSWER:
		return sl_model_paragraph(c, key, units, out);
	case SL_MODEL_ROLE_CLAIMS:
		return sl_model_claim_lines(in, len, c, key, units, out);
	case SL_MODEL_ROLE_QUERIES:
		return sl_model_query_lines(in, len, c, key, units, out);
	default:
		return -EINVAL;
	}
}

int
sl_model_say(enum sl_model_role role, enum sl_model_lengths lengths,
	     const char *in, size_t len, const struct sl_corpus *c,
	     uint64_t key, struct sl_text *out)
{
	if (lengths == SL_MODEL_LENGTHS_LOWRANK)
		return sl_model_say_units(
			role, sl_model_units(role, lengths, in, len, key), in,
			len, c, key, out);
	switch (role) {
	case SL_MODEL_ROLE_ANSWER:
		return sl_model_answer(c, key, out);
	case SL_MODEL_ROLE_CLAIMS:
		return sl_model_claims(in, len, c, key, out);
	case SL_MODEL_ROLE_QUERIES:
		return sl_model_queries(in, len, c, key, out);
	default:
		return -EINVAL;
	}
}

/* ---- public rows ---- */

static uint32_t
sl_model_tokens_of(const char *s, size_t len)
{
	uint32_t n = 0;

	for (size_t pos = 0; pos < len; n++)
		pos += sl_tokenize_next(s + pos, len - pos);
	return n;
}

struct sl_model_rows {
	const struct sl_model_rows_spec *s;
	const struct sl_model_lowrank_role *lowrank;
	sl_model_row_fn fn;
	void *arg;
};

/* @role answers (@in, @len) into @out (emptied first); one row to fn. */
static int
sl_model_row(struct sl_model_rows *rs, enum sl_model_role role,
	     const char *source, const char *in, size_t len,
	     struct sl_text *out)
{
	const struct sl_model_lowrank_role *p = &rs->lowrank[role];
	uint64_t key = sl_model_key(in, len, rs->s->seed);
	struct sl_model_row r = {.role = role,
				 .stage = SL_MODEL_STAGE_ID(role),
				 .source = source,
				 .prompt = in,
				 .prompt_len = len};
	int rc;

	out->len = 0;
	if (sl_model_lowrank_terms(role, in, len, key, r.z, &r.eps) != 0)
		return -EINVAL;
	if (rs->s->lengths == SL_MODEL_LENGTHS_LOWRANK) {
		r.units = sl_model_lowrank_round(
			p, sl_model_lowrank_log_units(role, p, r.z, r.eps));
		rc = sl_model_say_units(role, r.units, in, len, rs->s->corpus,
					key, out);
	} else {
		r.units = sl_model_units(role, SL_MODEL_LENGTHS_TABLE, in, len,
					 key);
		rc = sl_model_say(role, SL_MODEL_LENGTHS_TABLE, in, len,
				  rs->s->corpus, key, out);
	}
	if (rc < 0)
		return rc;
	r.tokens = sl_model_tokens_of(out->buf, out->len);
	return rs->fn(rs->arg, &r);
}

/* The claims role on @text, then the queries role on each claim line. */
static int
sl_model_rows_claims(struct sl_model_rows *rs, const char *source,
		     const char *text, size_t len)
{
	struct sl_text claims = {0}, queries = {0};
	int rc = sl_model_row(rs, SL_MODEL_ROLE_CLAIMS, source, text, len,
			      &claims);

	for (size_t pos = 0; rc == 0 && pos < claims.len;) {
		const char *nl =
			memchr(claims.buf + pos, '\n', claims.len - pos);
		size_t l = nl ? (size_t)(nl - claims.buf) - pos + 1
			      : claims.len - pos;

		rc = sl_model_row(rs, SL_MODEL_ROLE_QUERIES, source,
				  claims.buf + pos, l, &queries);
		pos += l;
	}
	sl_text_free(&claims);
	sl_text_free(&queries);
	return rc;
}

int
sl_model_public_rows(const struct sl_model_rows_spec *s, sl_model_row_fn fn,
		     void *arg)
{
	struct sl_model_rows rs = {
		.s = s,
		.lowrank = s->lowrank ? s->lowrank : sl_model_lowrank,
		.fn = fn,
		.arg = arg,
	};
	struct sl_text answer = {0};
	int rc = 0;

	if (s->corpus == NULL || s->corpus->n_tokens == 0 ||
	    (s->n_questions > 0 &&
	     (s->questions == NULL || s->question_lens == NULL)) ||
	    s->lengths >= SL_MODEL_LENGTHS_MAX)
		return -EINVAL;
	for (size_t i = 0; rc == 0 && i < s->n_questions; i++) {
		rc = sl_model_row(&rs, SL_MODEL_ROLE_ANSWER, "tofu",
				  s->questions[i], s->question_lens[i],
				  &answer);
		if (rc == 0)
			rc = sl_model_rows_claims(&rs, "tofu", answer.buf,
						  answer.len);
	}
	sl_text_free(&answer);
	for (size_t pos = 0; rc == 0 && s->passages && pos < s->corpus->len;) {
		const char *line = s->corpus->text + pos;
		const char *nl = memchr(line, '\n', s->corpus->len - pos);
		size_t l = nl ? (size_t)(nl - line) : s->corpus->len - pos;

		if (l > 0)
			rc = sl_model_rows_claims(&rs, "corpus", line, l);
		pos += l + 1;
	}
	return rc;
}

const char *const sl_model_tofu_files[SL_MODEL_TOFU_NFILES] = {
	"llama2-7b-full.forget.jsonl",
	"llama2-7b-full.retain.jsonl",
};

void
sl_model_tofu_free(struct sl_model_questions *q)
{
	free(q->text);
	free(q->len);
	for (unsigned int f = 0; f < SL_MODEL_TOFU_NFILES; f++)
		sl_model_replay_free(q->file[f]);
	memset(q, 0, sizeof(*q));
}

int
sl_model_tofu_load(struct sl_model_questions *q, const char *dir, char *err,
		   size_t errlen)
{
	size_t total = 0;

	memset(q, 0, sizeof(*q));
	for (unsigned int f = 0; f < SL_MODEL_TOFU_NFILES; f++) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/%s", dir,
			 sl_model_tofu_files[f]);
		q->file[f] = sl_model_replay_load(path, err, errlen);
		if (q->file[f] == NULL)
			goto fail;
		total += q->file[f]->n;
	}
	q->text = calloc(total, sizeof(*q->text));
	q->len = calloc(total, sizeof(*q->len));
	if (q->text == NULL || q->len == NULL) {
		snprintf(err, errlen, "%s: out of memory", dir);
		goto fail;
	}
	for (unsigned int f = 0; f < SL_MODEL_TOFU_NFILES; f++)
		for (size_t i = 0; i < q->file[f]->n; i++) {
			const struct sl_model_replay_entry *e =
				&q->file[f]->e[i];
			bool seen = false;

			for (unsigned int g = 0; g < f && !seen; g++)
				seen = sl_model_replay_find(q->file[g],
							    e->question,
							    e->question_len);
			if (seen)
				continue;
			q->text[q->n] = e->question;
			q->len[q->n++] = e->question_len;
		}
	return 0;
fail:
	sl_model_tofu_free(q);
	return -1;
}

/* ---- the length directive ---- */

static bool
sl_model_is_blank(char c)
{
	return c == ' ' || c == '\t';
}

int
sl_model_directive_parse(const char *in, size_t len,
			 struct sl_model_directive *d)
{
	const size_t key_len = sizeof(SL_MAX_TOKENS_KEY) - 1;
	size_t i = key_len, end, pos;
	uint32_t n = 0, tokens = 0;

	if (len < key_len || memcmp(in, SL_MAX_TOKENS_KEY, key_len) != 0)
		return 0;
	while (i < len && sl_model_is_blank(in[i]))
		i++;
	if (i == len || in[i] < '0' || in[i] > '9')
		return -EINVAL;
	while (i < len && in[i] >= '0' && in[i] <= '9') {
		n = n * 10 + (uint32_t)(in[i++] - '0');
		if (n > SL_MAX_TOKENS_MAX)
			return -EINVAL;
	}
	while (i < len && sl_model_is_blank(in[i]))
		i++;
	if (i < len && in[i] == '\r')
		i++;
	if (i < len && in[i] != '\n')
		return -EINVAL;
	if (n == 0)
		return -EINVAL;
	end = i < len ? i + 1 : i;
	for (pos = 0; pos < end; tokens++)
		pos += sl_tokenize_next(in + pos, end - pos);
	d->max_tokens = n;
	d->tokens = tokens;
	d->len = end;
	return 1;
}

/*
 * Cut @t (from byte @from on) after its @n-th token of sl_tokenize_next.
 * Return 0, or -ENOSPC (nothing cut) if it has fewer.
 */
static int
sl_model_cut_tokens(struct sl_text *t, size_t from, uint32_t n)
{
	size_t pos = from;
	uint32_t k = 0;

	while (k < n && pos < t->len) {
		pos += sl_tokenize_next(t->buf + pos, t->len - pos);
		k++;
	}
	if (k < n)
		return -ENOSPC;
	t->len = pos;
	return 0;
}

enum sl_model_kind {
	SL_MODEL_ANSWER,
	SL_MODEL_CLAIMS,
	SL_MODEL_QUERIES,
};

/*
 * Text of @kind cut after @n tokens: drawn first with @guess units
 * (answer words, claims or queries: each gives at least one token as a
 * rule), doubled until there are @n tokens to cut from.
 */
static int
sl_model_exact(enum sl_model_kind kind, const char *in, size_t len,
	       const struct sl_corpus *c, uint64_t key, uint32_t n,
	       unsigned int guess, struct sl_text *out)
{
	size_t start = out->len;
	unsigned int units = guess ? guess : 1;

	for (;;) {
		int rc;

		out->len = start;
		if (kind == SL_MODEL_ANSWER)
			rc = sl_model_paragraph(c, key, units, out);
		else if (kind == SL_MODEL_CLAIMS)
			rc = sl_model_claim_lines(in, len, c, key, units, out);
		else
			rc = sl_model_query_lines(in, len, c, key, units, out);
		if (rc < 0)
			return rc;
		if (sl_model_cut_tokens(out, start, n) == 0)
			return 0;
		/* More units than tokens asked for and still short: the
		 * text has run dry (an answer stops after twice the
		 * corpus). */
		if (units > 2 * n + 64) {
			out->len = start;
			return -ENOSPC;
		}
		units *= 2;
	}
}

int
sl_model_answer_tokens(const struct sl_corpus *c, uint64_t key, uint32_t n,
		       struct sl_text *out)
{
	/* A word is a token or more: n words are nearly always enough. */
	return sl_model_exact(SL_MODEL_ANSWER, NULL, 0, c, key, n, n, out);
}

int
sl_model_claims_tokens(const char *in, size_t len, const struct sl_corpus *c,
		       uint64_t key, uint32_t n, struct sl_text *out)
{
	/* At least three words and ".\n" a claim. */
	return sl_model_exact(SL_MODEL_CLAIMS, in, len, c, key, n, n / 4 + 1,
			      out);
}

int
sl_model_queries_tokens(const char *in, size_t len, const struct sl_corpus *c,
			uint64_t key, uint32_t n, struct sl_text *out)
{
	/* At least two words a query. */
	return sl_model_exact(SL_MODEL_QUERIES, in, len, c, key, n, n / 3 + 1,
			      out);
}

void
sl_model_bm25_init(struct sl_model_bm25 *b, uint64_t seed)
{
	memset(b, 0, sizeof(*b));
	b->seed = seed;
	b->word_hash = 2166136261u;
}

static void
sl_model_bm25_word(struct sl_model_bm25 *b)
{
	uint64_t w = (uint64_t)b->word_hash << 32;
	unsigned int d;

	for (d = 0; d < SL_MODEL_DOCS; d++)
		b->score[d] +=
			(uint32_t)(sl_model_mix((w | d) ^ b->seed) % 1000);
	b->words++;
	b->word_hash = 2166136261u;
	b->word_len = 0;
}

void
sl_model_bm25_feed(struct sl_model_bm25 *b, const char *text, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (sl_model_is_word_byte(c)) {
			if (c >= 'A' && c <= 'Z')
				c = (unsigned char)(c + 32);
			b->word_hash = (b->word_hash ^ c) * 16777619u;
			b->word_len++;
		} else if (b->word_len > 0) {
			sl_model_bm25_word(b);
		}
	}
}

static bool
sl_model_doc_before(const struct sl_model_doc *a, const struct sl_model_doc *b)
{
	return a->score > b->score || (a->score == b->score && a->id < b->id);
}

/* Best @k of @n documents into @out, best first (selection: n is small). */
static unsigned int
sl_model_top(struct sl_model_doc *docs, unsigned int n,
	     struct sl_model_doc *out, unsigned int k)
{
	unsigned int i, j;

	if (k > n)
		k = n;
	for (i = 0; i < k; i++) {
		unsigned int best = i;
		struct sl_model_doc tmp;

		for (j = i + 1; j < n; j++)
			if (sl_model_doc_before(&docs[j], &docs[best]))
				best = j;
		tmp = docs[i];
		docs[i] = docs[best];
		docs[best] = tmp;
		out[i] = docs[i];
	}
	return k;
}

void
sl_model_bm25_top(struct sl_model_bm25 *b, struct sl_model_doc *top)
{
	struct sl_model_doc docs[SL_MODEL_DOCS];
	unsigned int d;

	if (b->word_len > 0)
		sl_model_bm25_word(b);
	for (d = 0; d < SL_MODEL_DOCS; d++) {
		docs[d].id = d;
		docs[d].score = b->score[d];
	}
	sl_model_top(docs, SL_MODEL_DOCS, top, SL_MODEL_TOP);
}

size_t
sl_model_doc_format(const struct sl_model_doc *d, char *buf)
{
	int n = snprintf(buf, SL_MODEL_DOC_TEXT_MAX, "doc%u:%u.%02u",
			 (unsigned int)d->id, (unsigned int)(d->score / 100),
			 (unsigned int)(d->score % 100));

	return n < 0 ? 0 : (size_t)n;
}

uint32_t
sl_model_embed_step(uint32_t h, const char *text, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)text[i]) * 16777619u;
	return h;
}

uint32_t
sl_model_embed_final(uint32_t h, uint64_t seed)
{
	return (uint32_t)sl_model_mix(((uint64_t)h << 32) ^ seed);
}

/* Parse decimal digits at s[*i..len); false if none. */
static bool
sl_model_parse_uint(const char *s, size_t len, size_t *i, uint64_t *v)
{
	size_t start = *i;

	*v = 0;
	while (*i < len && s[*i] >= '0' && s[*i] <= '9' && *i - start < 12)
		*v = *v * 10 + (uint64_t)(s[(*i)++] - '0');
	return *i > start;
}

static int
sl_model_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#define SL_MODEL_RERANK_MAX 64 /* documents a reranker keeps */

unsigned int
sl_model_rerank(const char *const *texts, const size_t *lens, unsigned int n,
		uint64_t seed, struct sl_model_doc *out, unsigned int max)
{
	struct sl_model_doc docs[SL_MODEL_RERANK_MAX];
	unsigned int n_docs = 0, k, d;
	uint64_t emb = seed;

	for (k = 0; k < n; k++) {
		const char *s = texts[k];
		size_t len = lens[k], i = 0;

		while (i < len) {
			uint64_t id, whole, frac;

			if (len - i >= 12 && memcmp(s + i, "emb:", 4) == 0) {
				uint32_t h = 0;
				int j;

				for (j = 0; j < 8; j++) {
					int x = sl_model_hex(s[i + 4 + j]);

					if (x < 0)
						break;
					h = h << 4 | (uint32_t)x;
				}
				if (j == 8) {
					emb = sl_model_mix(emb ^ h);
					i += 12;
					continue;
				}
			}
			if (len - i > 3 && memcmp(s + i, "doc", 3) == 0) {
				size_t j = i + 3;

				if (sl_model_parse_uint(s, len, &j, &id) &&
				    j + 1 < len && s[j] == ':' && ++j &&
				    sl_model_parse_uint(s, len, &j, &whole) &&
				    j + 1 < len && s[j] == '.' && ++j &&
				    sl_model_parse_uint(s, len, &j, &frac)) {
					uint32_t score =
						(uint32_t)(whole * 100 + frac);

					for (d = 0; d < n_docs; d++)
						if (docs[d].id == id)
							break;
					if (d < n_docs) {
						docs[d].score += score;
					} else if (n_docs <
						   SL_MODEL_RERANK_MAX) {
						docs[n_docs].id = (uint32_t)id;
						docs[n_docs++].score = score;
					}
					i = j;
					continue;
				}
			}
			i++;
		}
	}
	for (d = 0; d < n_docs; d++)
		docs[d].score +=
			(uint32_t)(sl_model_mix(emb ^ docs[d].id) % 1000);
	return sl_model_top(docs, n_docs, out, max);
}

/* ---- replay ---- */

static uint32_t
sl_model_replay_hash(const char *q, size_t len)
{
	return (uint32_t)sl_model_key(q, len, 0);
}

const struct sl_model_replay_entry *
sl_model_replay_find(const struct sl_model_replay *r, const char *q, size_t len)
{
	uint32_t i;

	if (r == NULL || r->slot == NULL)
		return NULL;
	for (i = sl_model_replay_hash(q, len) & r->mask; r->slot[i] != 0;
	     i = (i + 1) & r->mask) {
		const struct sl_model_replay_entry *e = &r->e[r->slot[i] - 1];

		if (e->question_len == len && memcmp(e->question, q, len) == 0)
			return e;
	}
	return NULL;
}

void
sl_model_replay_free(struct sl_model_replay *r)
{
	size_t k;

	if (r == NULL)
		return;
	for (k = 0; k < r->n; k++) {
		free(r->e[k].id);
		free(r->e[k].question);
		free(r->e[k].generated);
	}
	free(r->e);
	free(r->slot);
	free(r);
}

enum { SL_REPLAY_QUESTION, SL_REPLAY_GENERATED, SL_REPLAY_ID };

/* sl_jsonl_load's callback: keep one record. */
static int
sl_model_replay_add(void *arg, struct sl_jsonl_field *f, unsigned int n,
		    char *why, size_t why_len)
{
	struct sl_model_replay *r = arg;
	struct sl_model_replay_entry *e;

	(void)n;
	if (r->n == SL_MODEL_REPLAY_ENTRIES_MAX) {
		snprintf(why, why_len, "more than %u records",
			 SL_MODEL_REPLAY_ENTRIES_MAX);
		return -1;
	}
	if (r->n == r->cap) {
		size_t nc = r->cap ? 2 * r->cap : 256;
		struct sl_model_replay_entry *g =
			realloc(r->e, nc * sizeof(*g));

		if (g == NULL) {
			snprintf(why, why_len, "out of memory");
			return -1;
		}
		r->e = g;
		r->cap = nc;
	}
	e = &r->e[r->n];
	if (f[SL_REPLAY_ID].val == NULL &&
	    (f[SL_REPLAY_ID].val = calloc(1, 1)) == NULL) {
		snprintf(why, why_len, "out of memory");
		return -1;
	}
	e->question = f[SL_REPLAY_QUESTION].val;
	e->question_len = f[SL_REPLAY_QUESTION].len;
	e->generated = f[SL_REPLAY_GENERATED].val;
	e->generated_len = f[SL_REPLAY_GENERATED].len;
	e->id = f[SL_REPLAY_ID].val;
	f[SL_REPLAY_QUESTION].val = NULL;
	f[SL_REPLAY_GENERATED].val = NULL;
	f[SL_REPLAY_ID].val = NULL;
	r->n++;
	return 0;
}

struct sl_model_replay *
sl_model_replay_load(const char *path, char *err, size_t errlen)
{
	struct sl_jsonl_field f[] = {
		[SL_REPLAY_QUESTION] = {"question", SL_JSONL_STRING, true,
					SL_MODEL_REPLAY_TEXT_MAX},
		[SL_REPLAY_GENERATED] = {"generated", SL_JSONL_STRING, true,
					 SL_MODEL_REPLAY_TEXT_MAX},
		[SL_REPLAY_ID] = {"id", SL_JSONL_ID, false, 1024},
	};
	struct sl_model_replay *r = calloc(1, sizeof(*r));
	uint32_t slots = 2;
	size_t k;

	if (r == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	if (sl_jsonl_load(path, f, 3, sl_model_replay_add, r, err, errlen) < 0)
		goto fail;
	if (r->n == 0) {
		snprintf(err, errlen, "%s: no records", path);
		goto fail;
	}
	while (slots < 2 * r->n)
		slots <<= 1;
	r->slot = calloc(slots, sizeof(r->slot[0]));
	if (r->slot == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	r->mask = slots - 1;
	for (k = 0; k < r->n; k++) {
		const struct sl_model_replay_entry *e = &r->e[k];
		uint32_t i;

		for (i = sl_model_replay_hash(e->question, e->question_len) &
			 r->mask;
		     r->slot[i] != 0; i = (i + 1) & r->mask) {
			const struct sl_model_replay_entry *o =
				&r->e[r->slot[i] - 1];

			if (o->question_len == e->question_len &&
			    memcmp(o->question, e->question, e->question_len) ==
				    0) {
				snprintf(err, errlen,
					 "%s: record %zu (id %s) repeats the "
					 "question of record %u (id %s)",
					 path, k + 1, e->id, r->slot[i], o->id);
				goto fail;
			}
		}
		r->slot[i] = (uint32_t)k + 1;
	}
	return r;
fail:
	sl_model_replay_free(r);
	return NULL;
}

void
sl_model_chunker_init(struct sl_model_chunker *c, const char *text, size_t len,
		      uint64_t key, unsigned int min, unsigned int max)
{
	memset(c, 0, sizeof(*c));
	c->text = text;
	c->len = len;
	c->key = key;
	c->min = min ? min : 1;
	c->max = max < c->min ? c->min : max;
}

/* Bytes of the next token: the drawn size, on a character boundary. */
static size_t
sl_model_chunker_piece(struct sl_model_chunker *c)
{
	double lmin = log((double)c->min), lmax = log((double)c->max);
	struct sl_model_dist d = {.mu = (lmin + lmax) / 2,
				  .sigma = (lmax - lmin) / 4,
				  .log = true,
				  .lo = c->min,
				  .hi = c->max};
	size_t want = sl_model_sample(&d, c->key, c->draw), end;

	c->draw += 2;
	end = c->pos + want;
	if (end >= c->len)
		return c->len - c->pos;
	/* Back off to the start of the character that @end cuts... */
	while (end > c->pos && ((unsigned char)c->text[end] & 0xc0) == 0x80)
		end--;
	if (end > c->pos)
		return end - c->pos;
	/* ...unless that is the first one: take it whole. */
	end = c->pos + 1;
	while (end < c->len && ((unsigned char)c->text[end] & 0xc0) == 0x80)
		end++;
	return end - c->pos;
}

unsigned int
sl_model_chunker_frag(struct sl_model_chunker *c, size_t *off, size_t *len)
{
	unsigned int want, n = 0;

	if (c->pos >= c->len)
		return 0;
	want = 1 + (unsigned int)(sl_model_draw(c->key, c->draw++) %
				  SL_MODEL_REPLAY_FRAG_TOKENS);
	while (n < want && c->pos < c->len) {
		size_t piece = sl_model_chunker_piece(c);

		off[n] = c->pos;
		len[n] = piece;
		c->pos += piece;
		n++;
	}
	return n;
}
