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
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
