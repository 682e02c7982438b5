/* SPDX-License-Identifier: MIT */
/*
 * test_opt.c - numbers from the command line (proto/sl_opt.h): what is
 * taken, what is refused, and the one message every program prints.
 */
#include <CUnit/Basic.h>
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sl_opt.h"

static void
test_u64(void)
{
	static const struct {
		const char *s;
		uint64_t min, max;
		bool ok;
		uint64_t want;
	} cases[] = {
		{"0", 0, 10, true, 0},
		{"10", 0, 10, true, 10},
		{"11", 0, 10, false, 0},
		{"4", 5, 10, false, 0},
		{"0x1f", 0, 100, true, 31},
		{"0XFF", 0, 255, true, 255},
		{"010", 0, 100, true, 10}, /* decimal, never octal */
		{"18446744073709551615", 0, UINT64_MAX, true, UINT64_MAX},
		{"18446744073709551616", 0, UINT64_MAX, false, 0},
		{"-1", 0, UINT64_MAX, false, 0},
		{"+1", 0, 10, false, 0},
		{" 1", 0, 10, false, 0},
		{"1 ", 0, 10, false, 0},
		{"1k", 0, 10000, false, 0},
		{"", 0, 10, false, 0},
		{"0x", 0, 10, false, 0},
		{"0x-1", 0, UINT64_MAX, false, 0},
	};
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 12345;
		bool ok = sl_parse_u64(cases[i].s, cases[i].min, cases[i].max,
				       &v);

		CU_ASSERT_EQUAL(ok, cases[i].ok);
		CU_ASSERT_EQUAL(v, cases[i].ok ? cases[i].want : 12345);
		if (ok != cases[i].ok)
			fprintf(stderr, "case %u \"%s\"\n", i, cases[i].s);
	}
}

static void
test_double(void)
{
	double v = -7;

	CU_ASSERT(sl_parse_double("2.5", 0, DBL_MAX, &v) && v == 2.5);
	CU_ASSERT(sl_parse_double("1e3", 0, DBL_MAX, &v) && v == 1000);
	CU_ASSERT(sl_parse_double(".5", 0, 1, &v) && v == 0.5);
	v = -7;
	CU_ASSERT_FALSE(sl_parse_double("-0.5", 0, 1, &v));
	CU_ASSERT_FALSE(sl_parse_double("1.5", 0, 1, &v));
	CU_ASSERT_FALSE(sl_parse_double("inf", 0, DBL_MAX, &v));
	CU_ASSERT_FALSE(sl_parse_double("nan", 0, DBL_MAX, &v));
	CU_ASSERT_FALSE(sl_parse_double("1e999", 0, DBL_MAX, &v));
	CU_ASSERT_FALSE(sl_parse_double("2x", 0, DBL_MAX, &v));
	CU_ASSERT_FALSE(sl_parse_double(" 2", 0, DBL_MAX, &v));
	CU_ASSERT_FALSE(sl_parse_double("", 0, DBL_MAX, &v));
	CU_ASSERT_EQUAL(v, -7);
}

/* The message goes to stderr: catch it in a file. */
static void
test_message(void)
{
	char path[] = "/tmp/sl_test_opt.XXXXXX", buf[256] = {0};
	int fd = mkstemp(path), saved = dup(2);
	unsigned int u = 99;
	FILE *f;

	CU_ASSERT_FATAL(fd >= 0 && saved >= 0);
	fflush(stderr);
	dup2(fd, 2);
	CU_ASSERT_FALSE(
		sl_opt_uint("prog", "mbufs", "8190", 8191, 1048575, &u));
	CU_ASSERT_TRUE(sl_opt_uint("prog", "mbufs", "8191", 8191, 1048575, &u));
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	CU_ASSERT_EQUAL(u, 8191);
	f = fdopen(fd, "r");
	rewind(f);
	CU_ASSERT(fread(buf, 1, sizeof(buf) - 1, f) > 0);
	fclose(f);
	unlink(path);
	CU_ASSERT_STRING_EQUAL(buf, "prog: --mbufs: must be 8191..1048575, got "
				    "\"8190\"\n");
}

/* A whole command line against a table. */
static void
test_parse(void)
{
	const char *name = NULL;
	unsigned int n = 7;
	uint64_t big = 0;
	double rate = 0;
	bool quiet = false, given_rate = false;
	struct sl_opt_spec spec[] = {
		SL_OPT_S("name", &name, .letter = 'n'),
		SL_OPT_N("count", &n, 1, 10),
		SL_OPT_N64("seed", &big, 0, UINT64_MAX),
		SL_OPT_D("rate", &rate, 0, 100, .given = &given_rate),
		SL_OPT_F("quiet", &quiet, .letter = 'q'),
	};
	bool seen[5];
	char *ok[] = {"prog", "-n", "x",  "--count", "3",    "--seed",
		      "0x10", "-q", "--", "--eal",   "rest", NULL};
	char *bad_range[] = {"prog", "--count", "11", NULL};
	char *unknown[] = {"prog", "--nope", NULL};
	char *missing[] = {"prog", "--count", NULL};
	char path[] = "/tmp/sl_test_opt.XXXXXX";
	int fd = mkstemp(path), saved = dup(2);

	CU_ASSERT_FATAL(fd >= 0 && saved >= 0);
	CU_ASSERT_EQUAL(sl_opt_parse("prog", 11, ok, spec, 5, seen), 9);
	CU_ASSERT_STRING_EQUAL(ok[9], "--eal");
	CU_ASSERT_STRING_EQUAL(name, "x");
	CU_ASSERT_EQUAL(n, 3);
	CU_ASSERT_EQUAL(big, 16);
	CU_ASSERT(quiet);
	CU_ASSERT_FALSE(given_rate);
	CU_ASSERT(seen[0] && seen[1] && seen[2] && !seen[3] && seen[4]);
	/* Refusals: messages to stderr (kept out of the test's output). */
	fflush(stderr);
	dup2(fd, 2);
	n = 7;
	CU_ASSERT_EQUAL(sl_opt_parse("prog", 3, bad_range, spec, 5, NULL), -1);
	CU_ASSERT_EQUAL(n, 7);
	CU_ASSERT_EQUAL(sl_opt_parse("prog", 2, unknown, spec, 5, NULL), -1);
	CU_ASSERT_EQUAL(sl_opt_parse("prog", 2, missing, spec, 5, NULL), -1);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	{
		char buf[512] = {0};
		FILE *f = fdopen(fd, "r");

		rewind(f);
		CU_ASSERT(fread(buf, 1, sizeof(buf) - 1, f) > 0);
		fclose(f);
		CU_ASSERT_PTR_NOT_NULL(strstr(
			buf, "prog: --count: must be 1..10, got \"11\"\n"));
		CU_ASSERT_PTR_NOT_NULL(strstr(buf, "nope"));
		CU_ASSERT_PTR_NOT_NULL(strstr(buf, "requires an argument"));
	}
	unlink(path);
}

int
main(void)
{
	CU_pSuite s;
	unsigned int fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("sl_opt", NULL, NULL);
	CU_add_test(s, "integers: bounds, hex, refusals", test_u64);
	CU_add_test(s, "numbers: bounds, finite only", test_double);
	CU_add_test(s, "the message", test_message);
	CU_add_test(s, "a command line against a table", test_parse);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
