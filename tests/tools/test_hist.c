/* SPDX-License-Identifier: MIT */
/*
 * test_hist.c - sl_hist percentiles against a sorted reference, merge,
 * exact small values, empty histogram.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sluice.h"

#define N_SAMPLES 200000
/* Documented accuracy is 1/64; the brief asks for ~3%. */
#define REL_TOL (1.0 / 64.0 + 1e-9)

static uint64_t rng_state = 12345;

static uint64_t
rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Latency-like: log-uniform between 100 ns and ~10 s. */
static uint64_t
sample(void)
{
	double u = (double)(rng_next() >> 11) / 9007199254740992.0;

	return (uint64_t)(100.0 * pow(10.0, u * 8.0));
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t
ref_percentile(const uint64_t *sorted, size_t n, double p)
{
	size_t rank = (size_t)ceil(p / 100.0 * (double)n);

	if (rank == 0)
		rank = 1;
	return sorted[rank - 1];
}

static void
check_close(uint64_t got, uint64_t want)
{
	double err = fabs((double)got - (double)want) / (double)want;

	if (err > REL_TOL)
		fprintf(stderr, "got %llu want %llu err %.4f\n",
			(unsigned long long)got, (unsigned long long)want, err);
	CU_ASSERT(err <= REL_TOL);
}

static void
test_percentiles(void)
{
	static const double ps[] = {1, 10, 25, 50, 75, 90, 99, 99.9, 99.99};
	uint64_t *v = malloc(N_SAMPLES * sizeof(*v));
	struct sl_hist h;
	double sum = 0;
	size_t i;

	CU_ASSERT_FATAL(v != NULL);
	sl_hist_init(&h);
	for (i = 0; i < N_SAMPLES; i++) {
		v[i] = sample();
		sum += (double)v[i];
		sl_hist_record(&h, v[i]);
	}
	qsort(v, N_SAMPLES, sizeof(*v), cmp_u64);
	CU_ASSERT_EQUAL(h.count, N_SAMPLES);
	CU_ASSERT_EQUAL(h.min, v[0]);
	CU_ASSERT_EQUAL(h.max, v[N_SAMPLES - 1]);
	CU_ASSERT_EQUAL(sl_hist_percentile(&h, 100), v[N_SAMPLES - 1]);
	CU_ASSERT_EQUAL(sl_hist_percentile(&h, 0), v[0]);
	CU_ASSERT(fabs(sl_hist_mean(&h) - sum / N_SAMPLES) < 1e-6 * sum);
	for (i = 0; i < sizeof(ps) / sizeof(ps[0]); i++)
		check_close(sl_hist_percentile(&h, ps[i]),
			    ref_percentile(v, N_SAMPLES, ps[i]));
	free(v);
}

static void
test_exact_small(void)
{
	struct sl_hist h;
	uint64_t i;

	sl_hist_init(&h);
	for (i = 0; i < 64; i++)
		sl_hist_record(&h, i);
	/* Below 64 every value has its own bucket. */
	for (i = 1; i <= 64; i++)
		CU_ASSERT_EQUAL(sl_hist_percentile(&h, (double)i * 100 / 64),
				i - 1);
}

static void
test_huge_and_empty(void)
{
	struct sl_hist h;

	sl_hist_init(&h);
	CU_ASSERT_EQUAL(sl_hist_percentile(&h, 50), 0);
	CU_ASSERT_EQUAL(sl_hist_mean(&h), 0.0);
	sl_hist_record(&h, UINT64_MAX / 4);
	sl_hist_record(&h, 1ull << 40);
	/* Past the last bucket values clamp; max stays exact. */
	CU_ASSERT_EQUAL(sl_hist_percentile(&h, 100), UINT64_MAX / 4);
	CU_ASSERT(sl_hist_percentile(&h, 50) >= 1ull << 40);
	CU_ASSERT(sizeof(struct sl_hist) <= 4200);
}

static void
test_merge(void)
{
	struct sl_hist a, b, all;
	size_t i;

	sl_hist_init(&a);
	sl_hist_init(&b);
	sl_hist_init(&all);
	for (i = 0; i < 50000; i++) {
		uint64_t x = sample();

		sl_hist_record(i % 3 ? &a : &b, x);
		sl_hist_record(&all, x);
	}
	sl_hist_merge(&a, &b);
	CU_ASSERT_EQUAL(memcmp(&a, &all, sizeof(a)), 0);

	/* Merging an empty histogram changes nothing, min included. */
	sl_hist_init(&b);
	sl_hist_merge(&a, &b);
	CU_ASSERT_EQUAL(memcmp(&a, &all, sizeof(a)), 0);
	sl_hist_merge(&b, &all);
	CU_ASSERT_EQUAL(memcmp(&b, &all, sizeof(b)), 0);
}

int
main(void)
{
	CU_pSuite s;
	unsigned int fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("hist", NULL, NULL);
	CU_add_test(s, "percentiles vs sorted reference", test_percentiles);
	CU_add_test(s, "exact below 64", test_exact_small);
	CU_add_test(s, "huge values and empty", test_huge_and_empty);
	CU_add_test(s, "merge", test_merge);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
