/* SPDX-License-Identifier: MIT */
/*
 * test_engine_model.c - the content model of sluice-engine's timed roles
 * (tools/engine/model.c): distributions against ALTO Table 1, and
 * answers that depend on the input bytes only.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define SAMPLES 20000

static struct sl_corpus *corpus;

/* Mean and std of @d over SAMPLES keys must be within 3% / 6%. */
static void
check_moments(const struct sl_model_dist *d, double mean, double std)
{
	double sum = 0, sum2 = 0, m, s;
	unsigned int i, v, lo = ~0u, hi = 0;

	for (i = 0; i < SAMPLES; i++) {
		char text[32];
		int n = snprintf(text, sizeof(text), "input %u", i);

		v = sl_model_sample(d, sl_model_key(text, (size_t)n, 1), 0);
		sum += v;
		sum2 += (double)v * v;
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	m = sum / SAMPLES;
	s = sqrt(sum2 / SAMPLES - m * m);
	CU_ASSERT(fabs(m - mean) < 0.03 * mean);
	CU_ASSERT(fabs(s - std) < 0.06 * std);
	CU_ASSERT(lo >= d->lo && hi <= d->hi);
	if (fabs(m - mean) >= 0.03 * mean || fabs(s - std) >= 0.06 * std)
		printf("\n  got %.2f +- %.2f, want %.2f +- %.2f\n", m, s, mean,
		       std);
}

static void
test_table1(void)
{
	check_moments(&sl_model_answer_words, 62.5, 57.2);
	check_moments(&sl_model_claim_words, 9.8, 3.5);
	check_moments(&sl_model_n_queries, 2.5, 1.3);
	check_moments(&sl_model_query_words, 5.5, 3.1);
}

/* Claims grow with the text: exact values, and Table 1's 3.3 +- 1.8 an
 * answer over the answer lengths. */
static void
test_claims_per_length(void)
{
	double sum = 0, sum2 = 0, m, s;
	char text[32];

	CU_ASSERT_EQUAL(sl_model_n_claims(0), 1);
	CU_ASSERT_EQUAL(sl_model_n_claims(8), 1);
	CU_ASSERT_EQUAL(sl_model_n_claims(15), 1);
	CU_ASSERT_EQUAL(sl_model_n_claims(30), 2);
	CU_ASSERT_EQUAL(sl_model_n_claims(62), 4);
	CU_ASSERT_EQUAL(sl_model_n_claims(300), 8);
	for (unsigned int w = 1; w < 1000; w++)
		CU_ASSERT(sl_model_n_claims(w) >= sl_model_n_claims(w - 1));
	for (int i = 0; i < SAMPLES; i++) {
		int n = snprintf(text, sizeof(text), "q%d", i);
		unsigned int words =
			sl_model_sample(&sl_model_answer_words,
					sl_model_key(text, (size_t)n, 1), 0);
		unsigned int v = sl_model_n_claims(words);

		sum += v;
		sum2 += (double)v * v;
	}
	m = sum / SAMPLES;
	s = sqrt(sum2 / SAMPLES - m * m);
	printf("\n  claims an answer: %.2f +- %.2f ", m, s);
	CU_ASSERT(fabs(m - 3.3) < 0.03 * 3.3);
	CU_ASSERT(fabs(s - 1.8) < 0.06 * 1.8);
}

static void
test_seed_and_key(void)
{
	CU_ASSERT_EQUAL(sl_model_key("abc", 3, 0), sl_model_key("abc", 3, 0));
	CU_ASSERT_NOT_EQUAL(sl_model_key("abc", 3, 0),
			    sl_model_key("abc", 3, 1));
	CU_ASSERT_NOT_EQUAL(sl_model_key("abc", 3, 0),
			    sl_model_key("abd", 3, 0));
}

/* Over many inputs, answers are one line of corpus words in [8, 300]. */
static void
test_answers(void)
{
	unsigned int i, words_total = 0;

	for (i = 0; i < 500; i++) {
		struct sl_text t = {0};
		uint64_t key = sl_model_draw(42, i);
		unsigned int words = 0, nl = 0;
		bool in = false;
		size_t k;

		CU_ASSERT_FATAL(sl_model_answer(corpus, key, &t) == 0);
		CU_ASSERT(sl_utf8_valid((const uint8_t *)t.buf, t.len));
		for (k = 0; k < t.len; k++) {
			bool w = sl_model_is_word_byte((unsigned char)t.buf[k]);

			words += w && !in;
			in = w;
			nl += t.buf[k] == '\n';
		}
		CU_ASSERT(words >= 8 && words <= 300);
		CU_ASSERT_EQUAL(nl, 1);
		CU_ASSERT(t.buf[t.len - 1] == '\n');
		words_total += words;
		sl_text_free(&t);
	}
	/* Words as a reader counts them (a hyphen or apostrophe splits
	 * one) run a little above the model's corpus words. */
	CU_ASSERT(words_total / 500.0 > 55 && words_total / 500.0 < 85);
}

/* Tokens of @len bytes at @s as sl_tokenize_next cuts them. */
static unsigned int
count_tokens(const char *s, size_t len)
{
	unsigned int n = 0;

	for (size_t pos = 0; pos < len; n++)
		pos += sl_tokenize_next(s + pos, len - pos);
	return n;
}

/* The length directive: what is one, what is refused, what is none. */
static void
test_directive_parse(void)
{
	static const struct {
		const char *in;
		int rc;
		uint32_t max_tokens, tokens;
		size_t len;
	} cases[] = {
		{"max_tokens: 44\nWho?", 1, 44, 4, 15},
		{"max_tokens:7", 1, 7, 3, 12},
		{"max_tokens:\t 8192 \r\nx", 1, 8192, 4, 20},
		{"max_tokens: 1\n", 1, 1, 4, 14},
		{"max_tokens: 007\n", 1, 7, 4, 16},
		{"max_tokens: 8193\nWho?", -EINVAL, 0, 0, 0},
		{"max_tokens: 0\nWho?", -EINVAL, 0, 0, 0},
		{"max_tokens: 99999999999999999999\n", -EINVAL, 0, 0, 0},
		{"max_tokens: -3\n", -EINVAL, 0, 0, 0},
		{"max_tokens: 12 tokens\n", -EINVAL, 0, 0, 0},
		{"max_tokens:\n12", -EINVAL, 0, 0, 0},
		{"max_tokens:", -EINVAL, 0, 0, 0},
		{"max_tokens 12\n", 0, 0, 0, 0},
		{"Max_tokens: 12\n", 0, 0, 0, 0},
		{" max_tokens: 12\n", 0, 0, 0, 0},
		{"Who wrote it?\nmax_tokens: 12\n", 0, 0, 0, 0},
		{"max_token", 0, 0, 0, 0},
		{"", 0, 0, 0, 0},
	};

	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sl_model_directive d = {99, 99, 99};
		int rc = sl_model_directive_parse(cases[i].in,
						  strlen(cases[i].in), &d);

		CU_ASSERT_EQUAL(rc, cases[i].rc);
		if (rc != cases[i].rc)
			printf("\n  case %u: %d, want %d\n", i, rc,
			       cases[i].rc);
		if (rc != 1) {
			/* Untouched unless it is one. */
			CU_ASSERT(d.max_tokens == 99 && d.tokens == 99 &&
				  d.len == 99);
			continue;
		}
		CU_ASSERT_EQUAL(d.max_tokens, cases[i].max_tokens);
		CU_ASSERT_EQUAL(d.tokens, cases[i].tokens);
		CU_ASSERT_EQUAL(d.len, cases[i].len);
		CU_ASSERT_EQUAL(d.tokens, count_tokens(cases[i].in, d.len));
	}
}

/*
 * A directive gives exactly N tokens, for every role's text, from 1 to
 * the maximum; the text is the role's usual one continued (an answer of
 * N tokens opens as the undirected answer does, and a shorter one is a
 * prefix of a longer one); the same key gives the same bytes.
 */
static void
test_directive_lengths(void)
{
	static const uint32_t ns[] = {1,  2,   3,    7,    44,
				      62, 300, 1000, 1899, SL_MAX_TOKENS_MAX};
	static const char claim_in[] =
		"Hsiao Yun-Hwa is part of the LGBTQ+ community and writes "
		"about leadership.";
	uint64_t key = sl_model_key("Who?", 4, 1);
	struct sl_text plain = {0}, prev = {0};

	CU_ASSERT_FATAL(sl_model_answer(corpus, key, &plain) == 0);
	for (unsigned int i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		struct sl_text a = {0}, again = {0}, c = {0}, q = {0};
		size_t common;

		CU_ASSERT_FATAL(
			sl_model_answer_tokens(corpus, key, ns[i], &a) == 0);
		CU_ASSERT_EQUAL(count_tokens(a.buf, a.len), ns[i]);
		CU_ASSERT(sl_utf8_valid((const uint8_t *)a.buf, a.len));
		CU_ASSERT_FATAL(sl_model_answer_tokens(corpus, key, ns[i],
						       &again) == 0);
		CU_ASSERT(a.len == again.len &&
			  memcmp(a.buf, again.buf, a.len) == 0);
		/* The undirected answer, continued: they agree on their
		 * common length but for its final "\n" (the continuation
		 * folds it into a space). */
		common = a.len < plain.len - 1 ? a.len : plain.len - 1;
		CU_ASSERT(memcmp(a.buf, plain.buf, common) == 0);
		if (prev.len > 0)
			CU_ASSERT(prev.len <= a.len &&
				  memcmp(prev.buf, a.buf, prev.len) == 0);

		CU_ASSERT_FATAL(sl_model_claims_tokens(claim_in,
						       strlen(claim_in), corpus,
						       key, ns[i], &c) == 0);
		CU_ASSERT_EQUAL(count_tokens(c.buf, c.len), ns[i]);
		CU_ASSERT_FATAL(
			sl_model_queries_tokens(claim_in, strlen(claim_in),
						corpus, key, ns[i], &q) == 0);
		CU_ASSERT_EQUAL(count_tokens(q.buf, q.len), ns[i]);
		sl_text_free(&prev);
		prev = a;
		sl_text_free(&again);
		sl_text_free(&c);
		sl_text_free(&q);
	}
	sl_text_free(&prev);
	sl_text_free(&plain);
	/* Many keys: never a token more or less. */
	for (unsigned int i = 0; i < 300; i++) {
		struct sl_text a = {0};
		uint32_t n = 1 + (uint32_t)(sl_model_draw(7, i) % 1200);

		CU_ASSERT_FATAL(sl_model_answer_tokens(corpus,
						       sl_model_draw(42, i), n,
						       &a) == 0);
		CU_ASSERT_EQUAL(count_tokens(a.buf, a.len), n);
		sl_text_free(&a);
	}
}

static void
test_bm25_top(void)
{
	struct sl_model_bm25 a, b;
	struct sl_model_doc ta[SL_MODEL_TOP], tb[SL_MODEL_TOP];
	char text[SL_MODEL_DOC_TEXT_MAX];
	unsigned int i;

	sl_model_bm25_init(&a, 7);
	sl_model_bm25_feed(&a, "civil engineer Taipei", 21);
	sl_model_bm25_top(&a, ta);
	sl_model_bm25_init(&b, 7);
	sl_model_bm25_feed(&b, "CIVIL engin", 11);
	sl_model_bm25_feed(&b, "eer  taipei", 11);
	sl_model_bm25_top(&b, tb);
	CU_ASSERT_EQUAL(a.words, 3);
	CU_ASSERT_EQUAL(memcmp(ta, tb, sizeof(ta)), 0);
	for (i = 1; i < SL_MODEL_TOP; i++)
		CU_ASSERT(ta[i].score <= ta[i - 1].score);
	CU_ASSERT(ta[0].score < 3000);
	sl_model_bm25_top(&a, ta); /* idempotent after the last word */
	CU_ASSERT_EQUAL(memcmp(ta, tb, sizeof(ta)), 0);

	ta[0].id = 12;
	ta[0].score = 705;
	CU_ASSERT_EQUAL(sl_model_doc_format(&ta[0], text), 10);
	CU_ASSERT_STRING_EQUAL(text, "doc12:7.05");
}

static void
test_rerank(void)
{
	const char *in[2] = {"doc1:5.00doc2:4.00doc3:0.01", "emb:deadbeef"};
	const char *swapped[2] = {"emb:deadbeef",
				  "doc1:5.00doc2:4.00doc3:0.01"};
	size_t lens[2] = {strlen(in[0]), strlen(in[1])};
	size_t slens[2] = {lens[1], lens[0]};
	struct sl_model_doc out[8], again[8];
	unsigned int n, i;

	n = sl_model_rerank(in, lens, 2, 0, out, 8);
	CU_ASSERT_EQUAL(n, 3);
	for (i = 1; i < n; i++)
		CU_ASSERT(out[i].score <= out[i - 1].score);
	for (i = 0; i < n; i++) {
		uint32_t base = out[i].id == 1 ? 500 : out[i].id == 2 ? 400 : 1;

		CU_ASSERT(out[i].score >= base && out[i].score < base + 1000);
	}
	/* The embedding changes the order key, not the documents. */
	CU_ASSERT_EQUAL(sl_model_rerank(in, lens, 2, 0, again, 8), 3);
	CU_ASSERT_EQUAL(memcmp(out, again, sizeof(out[0]) * 3), 0);
	/* Inputs in another order mix differently: the caller fixes it. */
	CU_ASSERT_EQUAL(sl_model_rerank(swapped, slens, 2, 0, again, 8), 3);
}

int
main(void)
{
	const char *path = SL_SOURCE_DIR "/tools/data/corpus.txt";
	CU_pSuite s;
	unsigned int fails;

	corpus = sl_corpus_load(path);
	if (corpus == NULL) {
		fprintf(stderr, "cannot load %s: skipped\n", path);
		return 77;
	}
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("engine model", NULL, NULL);
	CU_add_test(s, "ALTO Table 1 moments", test_table1);
	CU_add_test(s, "claims grow with the text", test_claims_per_length);
	CU_add_test(s, "keys depend on text and seed", test_seed_and_key);
	CU_add_test(s, "answers: one paragraph of corpus words", test_answers);
	CU_add_test(s, "length directive: parsed, refused, none",
		    test_directive_parse);
	CU_add_test(s, "length directive: exactly N tokens",
		    test_directive_lengths);
	CU_add_test(s, "bm25: top documents, cut-independent", test_bm25_top);
	CU_add_test(s, "rerank: same documents re-scored", test_rerank);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	sl_corpus_free(corpus);
	return fails ? 1 : 0;
}
