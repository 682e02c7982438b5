/* SPDX-License-Identifier: MIT */
/*
 * test_lm_loop.c - the LM iteration loop (tools/engine/lm_loop.c): exact
 * iteration times and token order for prefill-only iterations that stall
 * decodes, synchronised decodes, the running-set, token-budget and KV
 * bounds, preemption with recompute, the prefix cache (and two prompts
 * competing for it, counted per key), chunked prefill, cancellation and
 * refusals.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "lm_loop.h"

#define MS 1000000ull
#define US 1000ull

/* a 12 ms, b 0.3 ms, prefill 10 ms + 80 us a token. */
static const struct sl_lm_params base = {
	.decode_base_ns = 12 * MS,
	.decode_per_seq_ns = 300 * US,
	.prefill_base_ns = 10 * MS,
	.prefill_per_token_ns = 80 * US,
	.max_num_seqs = 4,
	.max_batched_tokens = 2048,
	.kv_tokens = 10000,
};

/* Every token the loop gives until it idles: who, which, when. */
struct got {
	int owner;
	uint32_t index;
	bool last;
	uint64_t t;
};

static struct got got[4096];
static unsigned int n_got;

/* Run the loop to @until (or idle), recording tokens. */
static void
run_to(struct sl_lm *lm, uint64_t until)
{
	struct sl_lm_event ev[64];

	while (sl_lm_next(lm) <= until) {
		uint64_t t = sl_lm_next(lm);
		unsigned int n = sl_lm_step(lm, t, ev, 64);

		for (unsigned int i = 0; i < n && n_got < 4096; i++)
			got[n_got++] = (struct got){(int)(intptr_t)ev[i].owner,
						    ev[i].index, ev[i].last, t};
	}
}

#define OWNER(n) ((void *)(intptr_t)(n))

static void
expect(unsigned int k, int owner, uint32_t index, bool last, uint64_t t)
{
	CU_ASSERT_FATAL(k < n_got);
	if (got[k].owner != owner || got[k].index != index ||
	    got[k].last != last || got[k].t != t)
		printf("\n  token %u: owner %d #%u%s at %llu ns, want %d #%u%s "
		       "at %llu",
		       k, got[k].owner, got[k].index,
		       got[k].last ? " last" : "", (unsigned long long)got[k].t,
		       owner, index, last ? " last" : "",
		       (unsigned long long)t);
	CU_ASSERT_EQUAL(got[k].owner, owner);
	CU_ASSERT_EQUAL(got[k].index, index);
	CU_ASSERT_EQUAL(got[k].last, last);
	CU_ASSERT_EQUAL(got[k].t, t);
}

/* One prompt of 100 tokens, 3 out: a prefill, then decodes of one. */
static void
test_single(void)
{
	struct sl_lm lm;

	n_got = 0;
	CU_ASSERT_EQUAL_FATAL(sl_lm_init(&lm, &base, 8), 0);
	CU_ASSERT_EQUAL(sl_lm_next(&lm), UINT64_MAX);
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(1), 100, 3, 0, 0, 0), 0);
	CU_ASSERT_EQUAL(sl_lm_next(&lm), 18 * MS);
	run_to(&lm, UINT64_MAX - 1);
	CU_ASSERT_EQUAL_FATAL(n_got, 3);
	expect(0, 1, 0, false, 18 * MS);
	expect(1, 1, 1, false, 30300 * US);
	expect(2, 1, 2, true, 42600 * US);
	CU_ASSERT_EQUAL(sl_lm_next(&lm), UINT64_MAX);
	CU_ASSERT_EQUAL(lm.kv_used, 0);
	CU_ASSERT_EQUAL(lm.st.iterations, 3);
	CU_ASSERT_EQUAL(lm.st.prefill_iterations, 1);
	CU_ASSERT_EQUAL(lm.st.prompt_tokens, 100);
	CU_ASSERT_EQUAL(lm.st.busy_ns, 42600 * US);
	sl_lm_fini(&lm);
}

/* B arrives while A decodes: B's prefill runs alone and A waits (vLLM
 * 0.2), then both decode in one iteration of two. */
static void
test_prefill_stalls_decode(void)
{
	struct sl_lm lm;

	n_got = 0;
	CU_ASSERT_EQUAL_FATAL(sl_lm_init(&lm, &base, 8), 0);
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(1), 100, 5, 0, 0, 0), 0);
	run_to(&lm, 20 * MS);
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(2), 50, 2, 0, 0, 20 * MS), 0);
	/* The iteration under way is not disturbed. */
	CU_ASSERT_EQUAL(sl_lm_next(&lm), 30300 * US);
	run_to(&lm, UINT64_MAX - 1);
	CU_ASSERT_EQUAL_FATAL(n_got, 7);
	expect(0, 1, 0, false, 18 * MS);
	expect(1, 1, 1, false, 30300 * US);
	expect(2, 2, 0, false, 44300 * US); /* 10 + 50 x 0.08 ms */
	expect(3, 1, 2, false, 56900 * US); /* 12 + 2 x 0.3 ms */
	expect(4, 2, 1, true, 56900 * US);
	expect(5, 1, 3, false, 69200 * US);
	expect(6, 1, 4, true, 81500 * US);
	sl_lm_fini(&lm);
}

/* Five at once, four may run: one prefill of four (their prompts
 * together), the fifth waits for a slot. */
static void
test_max_num_seqs(void)
{
	struct sl_lm lm;

	n_got = 0;
	CU_ASSERT_EQUAL_FATAL(sl_lm_init(&lm, &base, 8), 0);
	for (int i = 1; i <= 4; i++)
		CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(i), 10, 2, 0, 0, 0), 0);
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(5), 10, 1, 0, 0, 0), 0);
	/* Planned at the first submit: one of 10 tokens. */
	CU_ASSERT_EQUAL(sl_lm_next(&lm), 10800 * US);
	run_to(&lm, UINT64_MAX - 1);
	/* 10.8: #1's token 0; then a prefill of 2, 3 and 4 (10 + 2.4 ms);
	 * then 5 waits: a decode of four (13.2 ms) ends #1; 5's prefill
	 * (10.8 ms); a decode of 2, 3, 4 ends them. */
	CU_ASSERT_EQUAL_FATAL(n_got, 9);
	expect(0, 1, 0, false, 10800 * US);
	expect(1, 2, 0, false, 23200 * US);
	expect(2, 3, 0, false, 23200 * US);
	expect(3, 4, 0, false, 23200 * US);
	expect(4, 1, 1, true, 36400 * US);
	expect(5, 2, 1, true, 36400 * US);
	expect(6, 3, 1, true, 36400 * US);
	expect(7, 4, 1, true, 36400 * US);
	expect(8, 5, 0, true, 47200 * US);
	CU_ASSERT_EQUAL(lm.st.prefill_iterations, 3);
	sl_lm_fini(&lm);
}

/* The token budget splits a prefill; a prompt above it still goes
 * alone. */
static void
test_batched_tokens(void)
{
	struct sl_lm_params p = base;
	struct sl_lm lm;

	n_got = 0;
	p.max_batched_tokens = 150;
	CU_ASSERT_EQUAL_FATAL(sl_lm_init(&lm, &p, 8), 0);
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(1), 400, 1, 0, 0, 0), 0);
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(2), 100, 1, 0, 0, 0), 0);
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(3), 100, 1, 0, 0, 0), 0);
	run_to(&lm, UINT64_MAX - 1);
	CU_ASSERT_EQUAL_FATAL(n_got, 3);
	expect(0, 1, 0, true, 42 * MS); /* 10 + 400 x 0.08 */
	expect(1, 2, 0, true, 60 * MS);
	expect(2, 3, 0, true, 78 * MS);
	sl_lm_fini(&lm);
}

/* KV for 250 tokens: two prompts of 100 fit, their decodes outgrow it;
 * the later one is preempted, recomputed after the first ends, and its
 * tokens go on where they stopped. */
static void
test_preemption(void)
{
	struct sl_lm_params p = base;
	struct sl_lm lm;
	uint32_t next[3] = {0, 0, 0};

	n_got = 0;
	p.kv_tokens = 250;
	CU_ASSERT_EQUAL_FATAL(sl_lm_init(&lm, &p, 8), 0);
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(1), 100, 50, 0, 0, 0), 0);
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(2), 100, 50, 0, 0, 0), 0);
	run_to(&lm, UINT64_MAX - 1);
	CU_ASSERT_EQUAL_FATAL(n_got, 100);
	for (unsigned int k = 0; k < n_got; k++) {
		CU_ASSERT_EQUAL(got[k].index, next[got[k].owner]);
		next[got[k].owner]++;
		CU_ASSERT_EQUAL(got[k].last, got[k].index == 49);
	}
	CU_ASSERT_EQUAL(next[1], 50);
	CU_ASSERT_EQUAL(next[2], 50);
	CU_ASSERT_EQUAL(lm.st.preemptions, 1);
	/* 1 prefilled alone (it came first), then 2; both decoded until
	 * 100 + 100 + 2n > 250: 25 tokens each; 2 was preempted and, once
	 * 1 had ended, recomputed (100 + 25) and went on at token 25. */
	CU_ASSERT_EQUAL(lm.st.prompt_tokens, 100 + 100 + 125);
	CU_ASSERT_EQUAL(lm.kv_used, 0);
	{
		uint64_t t1_last = 0, t2_25 = 0;

		for (unsigned int k = 0; k < n_got; k++) {
			if (got[k].owner == 1 && got[k].last)
				t1_last = got[k].t;
			if (got[k].owner == 2 && got[k].index == 25)
				t2_25 = got[k].t;
		}
		/* The recompute: 10 + 125 x 0.08 ms after 1's last. */
		CU_ASSERT_EQUAL(t2_25, t1_last + 20 * MS);
	}
	sl_lm_fini(&lm);
}

/* A cached prefix is not computed again; LRU of two slots. */
static void
test_prefix_cache(void)
{
	struct sl_lm_params p = base;
	struct sl_lm lm;

	n_got = 0;
	p.prefix_cache_slots = 2;
	CU_ASSERT_EQUAL_FATAL(sl_lm_init(&lm, &p, 8), 0);
	/* 100 tokens, 80 of them prefix 7: all computed the first time. */
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(1), 100, 1, 7, 80, 0), 0);
	run_to(&lm, UINT64_MAX - 1);
	expect(0, 1, 0, true, 18 * MS);
	/* Again: 20 tokens (10 + 1.6 ms). */
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(2), 100, 1, 7, 80, 100 * MS),
			0);
	run_to(&lm, UINT64_MAX - 1);
	expect(1, 2, 0, true, 111600 * US);
	CU_ASSERT_EQUAL(lm.st.prefix_hits, 1);
	/* Prefixes 8 and 9 push 7 out. */
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(3), 100, 1, 8, 80, 200 * MS),
			0);
	run_to(&lm, UINT64_MAX - 1);
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(4), 100, 1, 9, 80, 300 * MS),
			0);
	run_to(&lm, UINT64_MAX - 1);
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(5), 100, 1, 7, 80, 400 * MS),
			0);
	run_to(&lm, UINT64_MAX - 1);
	expect(4, 5, 0, true, 418 * MS);
	CU_ASSERT_EQUAL(lm.st.prefix_hits, 1);
	sl_lm_fini(&lm);

	/* No cache: the same prompt costs the same every time. */
	n_got = 0;
	CU_ASSERT_EQUAL_FATAL(sl_lm_init(&lm, &base, 8), 0);
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(1), 100, 1, 7, 80, 0), 0);
	run_to(&lm, UINT64_MAX - 1);
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(2), 100, 1, 7, 80, 100 * MS),
			0);
	run_to(&lm, UINT64_MAX - 1);
	expect(1, 2, 0, true, 118 * MS);
	CU_ASSERT_EQUAL(lm.st.prefix_hits, 0);
	sl_lm_fini(&lm);
}

/*
 * Two prompts in one loop (a pool member serving two stages: prefix keys
 * 2 and 3), a cache of one slot: B's prefill stalls A's decodes, and each
 * switch of prompt evicts the other's prefix, counted per key; a key past
 * SL_LM_PREFIX_KEYS counts in the totals only. With two slots both stay.
 */
static void
test_prefix_keys(void)
{
	struct sl_lm_params p = base;
	struct sl_lm lm;

	n_got = 0;
	p.prefix_cache_slots = 1;
	CU_ASSERT_EQUAL_FATAL(sl_lm_init(&lm, &p, 8), 0);
	/* A: 100 tokens (80 of prefix 2), 3 out; B: 60 (50 of prefix 3). */
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(1), 100, 3, 2, 80, 0), 0);
	run_to(&lm, 20 * MS);
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(2), 60, 1, 3, 50, 20 * MS), 0);
	run_to(&lm, UINT64_MAX - 1);
	CU_ASSERT_EQUAL_FATAL(n_got, 4);
	expect(0, 1, 0, false, 18 * MS);    /* 10 + 100 x 0.08 */
	expect(1, 1, 1, false, 30300 * US); /* + 12 + 0.3 */
	expect(2, 2, 0, true, 45100 * US);  /* + 10 + 60 x 0.08: A waits */
	expect(3, 1, 2, true, 57400 * US);  /* + 12.3 */
	CU_ASSERT_EQUAL(lm.st.by_prefix[2].misses, 1);
	CU_ASSERT_EQUAL(lm.st.by_prefix[2].evictions, 1);
	CU_ASSERT_EQUAL(lm.st.by_prefix[3].misses, 1);
	CU_ASSERT_EQUAL(lm.st.by_prefix[3].evictions, 0);
	/* Prefix 2 again: computed whole (evicting 3), then cached. */
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(3), 100, 1, 2, 80, 100 * MS),
			0);
	run_to(&lm, UINT64_MAX - 1);
	expect(4, 3, 0, true, 118 * MS);
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(4), 100, 1, 2, 80, 200 * MS),
			0);
	run_to(&lm, UINT64_MAX - 1);
	expect(5, 4, 0, true, 211600 * US);
	/* A key not counted apart evicts 2. */
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(5), 20, 1, 1000, 10, 300 * MS),
			0);
	run_to(&lm, UINT64_MAX - 1);
	expect(6, 5, 0, true, 311600 * US);
	CU_ASSERT_EQUAL(lm.st.prefix_hits, 1);
	CU_ASSERT_EQUAL(lm.st.prefix_misses, 4);
	CU_ASSERT_EQUAL(lm.st.prefix_evictions, 3);
	CU_ASSERT_EQUAL(lm.st.by_prefix[2].hits, 1);
	CU_ASSERT_EQUAL(lm.st.by_prefix[2].misses, 2);
	CU_ASSERT_EQUAL(lm.st.by_prefix[2].evictions, 2);
	CU_ASSERT_EQUAL(lm.st.by_prefix[3].hits, 0);
	CU_ASSERT_EQUAL(lm.st.by_prefix[3].misses, 1);
	CU_ASSERT_EQUAL(lm.st.by_prefix[3].evictions, 1);
	sl_lm_fini(&lm);

	/* Two slots: 2 and 3 both stay; 1000 pushes out the older, 3. */
	n_got = 0;
	p.prefix_cache_slots = 2;
	CU_ASSERT_EQUAL_FATAL(sl_lm_init(&lm, &p, 8), 0);
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(1), 100, 3, 2, 80, 0), 0);
	run_to(&lm, 20 * MS);
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(2), 60, 1, 3, 50, 20 * MS), 0);
	run_to(&lm, UINT64_MAX - 1);
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(3), 100, 1, 2, 80, 100 * MS),
			0);
	run_to(&lm, UINT64_MAX - 1);
	expect(4, 3, 0, true, 111600 * US);
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(5), 20, 1, 1000, 10, 300 * MS),
			0);
	run_to(&lm, UINT64_MAX - 1);
	CU_ASSERT_EQUAL(lm.st.prefix_hits, 1);
	CU_ASSERT_EQUAL(lm.st.prefix_misses, 3);
	CU_ASSERT_EQUAL(lm.st.prefix_evictions, 1);
	CU_ASSERT_EQUAL(lm.st.by_prefix[2].evictions, 0);
	CU_ASSERT_EQUAL(lm.st.by_prefix[3].evictions, 1);
	sl_lm_fini(&lm);

	/* No cache: nothing is counted. */
	CU_ASSERT_EQUAL_FATAL(sl_lm_init(&lm, &base, 8), 0);
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(1), 100, 1, 2, 80, 0), 0);
	run_to(&lm, UINT64_MAX - 1);
	CU_ASSERT_EQUAL(lm.st.prefix_misses, 0);
	CU_ASSERT_EQUAL(lm.st.by_prefix[2].misses, 0);
	sl_lm_fini(&lm);
}

/* Chunked prefill: 64 tokens an iteration, decodes ride along. */
static void
test_chunked(void)
{
	struct sl_lm_params p = base;
	struct sl_lm lm;

	n_got = 0;
	p.chunked_prefill = true;
	p.max_batched_tokens = 64;
	CU_ASSERT_EQUAL_FATAL(sl_lm_init(&lm, &p, 8), 0);
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(1), 100, 3, 0, 0, 0), 0);
	/* 64 tokens: 12 + 5.12 ms, no token. */
	CU_ASSERT_EQUAL(sl_lm_next(&lm), 17120 * US);
	run_to(&lm, 10 * MS);
	CU_ASSERT_EQUAL(n_got, 0);
	/* B arrives; the next iteration: A's last 36 and 28 of B's 50. */
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(2), 50, 1, 0, 0, 10 * MS), 0);
	run_to(&lm, UINT64_MAX - 1);
	CU_ASSERT_EQUAL_FATAL(n_got, 4);
	expect(0, 1, 0, false, 34240 * US); /* 17.12 + 12 + 64 x 0.08 */
	/* A decodes (1) with B's last 22: 12 + 0.3 + 1.76 ms. */
	expect(1, 1, 1, false, 48300 * US);
	expect(2, 2, 0, true, 48300 * US);
	expect(3, 1, 2, true, 60600 * US);
	CU_ASSERT_EQUAL(lm.st.prompt_tokens, 150);
	CU_ASSERT_EQUAL(lm.kv_used, 0);
	sl_lm_fini(&lm);
}

/* Cancelled while waiting, while in an iteration, while running outside
 * it: no more tokens, nothing held. */
static void
test_cancel(void)
{
	struct sl_lm lm;

	n_got = 0;
	CU_ASSERT_EQUAL_FATAL(sl_lm_init(&lm, &base, 8), 0);
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(1), 100, 5, 0, 0, 0), 0);
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(2), 100, 5, 0, 0, 0), 0);
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(3), 100, 5, 0, 0, 0), 0);
	/* 1's prefill is under way; 2 and 3 wait. */
	CU_ASSERT_EQUAL(sl_lm_cancel(&lm, OWNER(2)), 0);
	CU_ASSERT_EQUAL(sl_lm_cancel(&lm, OWNER(2)), -ENOENT);
	CU_ASSERT_EQUAL(sl_lm_cancel(&lm, OWNER(1)), 0);
	CU_ASSERT_EQUAL(sl_lm_waiting(&lm), 1);
	run_to(&lm, UINT64_MAX - 1);
	CU_ASSERT_EQUAL_FATAL(n_got, 5);
	for (unsigned int k = 0; k < n_got; k++)
		CU_ASSERT_EQUAL(got[k].owner, 3);
	CU_ASSERT_EQUAL(lm.kv_used, 0);
	CU_ASSERT_EQUAL(sl_lm_running(&lm), 0);
	/* Every slot is free again. */
	for (int i = 10; i < 18; i++)
		CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(i), 1, 1, 0, 0,
					     UINT64_C(1) << 40),
				0);
	CU_ASSERT_EQUAL(
		sl_lm_submit(&lm, OWNER(99), 1, 1, 0, 0, UINT64_C(1) << 40),
		-ENOSPC);
	sl_lm_fini(&lm);
}

static void
test_refusals(void)
{
	struct sl_lm_params p = base;
	struct sl_lm lm;

	p.max_num_seqs = 9;
	CU_ASSERT_EQUAL(sl_lm_init(&lm, &p, 8), -EINVAL);
	p = base;
	p.kv_tokens = 0;
	CU_ASSERT_EQUAL(sl_lm_init(&lm, &p, 8), -EINVAL);
	CU_ASSERT_EQUAL_FATAL(sl_lm_init(&lm, &base, 8), 0);
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(1), 10, 0, 0, 0, 0), -EINVAL);
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(1), 10, 1, 7, 11, 0), -EINVAL);
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(1), 9000, 1001, 0, 0, 0),
			-EINVAL);
	CU_ASSERT_EQUAL(sl_lm_next(&lm), UINT64_MAX);
	CU_ASSERT_EQUAL(sl_lm_submit(&lm, OWNER(1), 9000, 1000, 0, 0, 0), 0);
	sl_lm_fini(&lm);
}

int
main(void)
{
	CU_pSuite s;
	unsigned int fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("lm_loop", NULL, NULL);
	CU_add_test(s, "one sequence: prefill, decodes", test_single);
	CU_add_test(s, "a prefill stalls the decodes",
		    test_prefill_stalls_decode);
	CU_add_test(s, "max_num_seqs", test_max_num_seqs);
	CU_add_test(s, "max_batched_tokens", test_batched_tokens);
	CU_add_test(s, "KV full: preemption, recompute", test_preemption);
	CU_add_test(s, "prefix cache, LRU", test_prefix_cache);
	CU_add_test(s, "two prompts, one loop: stalls, evictions per key",
		    test_prefix_keys);
	CU_add_test(s, "chunked prefill", test_chunked);
	CU_add_test(s, "cancel", test_cancel);
	CU_add_test(s, "refusals", test_refusals);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
