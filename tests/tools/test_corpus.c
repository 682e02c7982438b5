/* SPDX-License-Identifier: MIT */
/*
 * test_corpus.c - the tokenizer never splits a UTF-8 character, tokens
 * concatenate back to the input exactly, and the shipped corpus loads.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sluice.h"

#ifndef SL_SOURCE_DIR
#define SL_SOURCE_DIR "."
#endif

/* Concatenation == text, each token valid UTF-8 and within the cap. */
static void
check_roundtrip(const struct sl_corpus *c, const char *text, size_t len)
{
	size_t i, pos = 0;

	for (i = 0; i < c->n_tokens; i++) {
		const struct sl_corpus_token *t = &c->tokens[i];
		const char *s = sl_corpus_token_text(c, i);

		CU_ASSERT_EQUAL(t->off, pos);
		CU_ASSERT(t->len > 0 && t->len <= SL_TOKEN_TEXT_MAX);
		CU_ASSERT(sl_utf8_valid((const uint8_t *)s, t->len));
		CU_ASSERT_EQUAL(t->id, sl_token_hash(s, t->len));
		CU_ASSERT_EQUAL(memcmp(s, text + pos, t->len), 0);
		/* A continuation byte never starts a token. */
		CU_ASSERT(((unsigned char)s[0] & 0xc0) != 0x80);
		pos += t->len;
	}
	CU_ASSERT_EQUAL(pos, len);
}

static void
test_split(void)
{
	static const char text[] =
		"Hello, world! It's caf\xc3\xa9 time\xe2\x80\x94now.\n"
		"  \xe6\x97\xa5\xe6\x9c\xac  ...ok ";
	static const char *const want[] = {
		"Hello",
		",",
		" world",
		"!",
		" It",
		"'",
		"s",
		" caf\xc3\xa9",
		" time\xe2\x80\x94now",
		".",
		"\n  \xe6\x97\xa5\xe6\x9c\xac",
		"  ...",
		"ok",
		" ",
	};
	struct sl_corpus *c = sl_corpus_from_text(text, strlen(text));
	size_t i, n = sizeof(want) / sizeof(want[0]);

	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT_EQUAL(c->n_tokens, n);
	for (i = 0; i < n && i < c->n_tokens; i++) {
		CU_ASSERT_EQUAL(c->tokens[i].len, strlen(want[i]));
		CU_ASSERT_EQUAL(memcmp(sl_corpus_token_text(c, i), want[i],
				       c->tokens[i].len),
				0);
	}
	check_roundtrip(c, text, strlen(text));
	sl_corpus_free(c);
}

static void
test_long_runs(void)
{
	char text[400];
	struct sl_corpus *c;
	size_t i, len = 0;

	/* 100 ASCII letters, then 60 three-byte characters in one word:
	 * both exceed the cap and must be cut at character boundaries. */
	for (i = 0; i < 100; i++)
		text[len++] = 'a';
	text[len++] = ' ';
	for (i = 0; i < 60; i++) {
		memcpy(text + len, "\xe6\x97\xa5", 3);
		len += 3;
	}
	c = sl_corpus_from_text(text, len);
	CU_ASSERT_FATAL(c != NULL);
	check_roundtrip(c, text, len);
	CU_ASSERT_EQUAL(c->tokens[0].len, SL_TOKEN_TEXT_MAX);
	for (i = 0; i < c->n_tokens; i++)
		if (c->tokens[i].off > 100)
			CU_ASSERT(c->tokens[i].len % 3 == 0 ||
				  c->tokens[i].off == 100);
	sl_corpus_free(c);
}

static void
test_errors_and_hash(void)
{
	CU_ASSERT_PTR_NULL(sl_corpus_from_text("ab\xc0\x80", 4));
	CU_ASSERT_EQUAL(errno, EILSEQ);
	CU_ASSERT_PTR_NULL(sl_corpus_from_text("\xe6\x97", 2));
	CU_ASSERT_EQUAL(errno, EILSEQ);
	CU_ASSERT_PTR_NULL(sl_corpus_from_text("", 0));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_PTR_NULL(sl_corpus_load("/nonexistent/corpus.txt"));
	CU_ASSERT_EQUAL(errno, ENOENT);

	/* FNV-1a 32 reference values, masked to 31 bits. */
	CU_ASSERT_EQUAL(sl_token_hash("", 0), 0x811c9dc5u & 0x7fffffffu);
	CU_ASSERT_EQUAL(sl_token_hash("a", 1), 0xe40c292cu & 0x7fffffffu);
	CU_ASSERT_EQUAL(sl_token_hash("foobar", 6), 0xbf9cf968u & 0x7fffffffu);
}

static void
test_shipped_corpus(void)
{
	struct sl_corpus *c =
		sl_corpus_load(SL_SOURCE_DIR "/tools/data/corpus.txt");

	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT(c->len > 100000);
	CU_ASSERT(c->n_tokens > 20000);
	check_roundtrip(c, c->text, c->len);
	sl_corpus_free(c);
}

int
main(void)
{
	CU_pSuite s;
	unsigned int fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("corpus", NULL, NULL);
	CU_add_test(s, "split", test_split);
	CU_add_test(s, "long runs cut on characters", test_long_runs);
	CU_add_test(s, "errors and hash", test_errors_and_hash);
	CU_add_test(s, "shipped corpus", test_shipped_corpus);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
