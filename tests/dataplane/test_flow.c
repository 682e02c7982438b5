/* SPDX-License-Identifier: MIT */
/*
 * test_flow.c - the per-stream flow table (dataplane/sl_flow.[ch]).
 *
 * Time is driven explicitly: every call takes `now`, so expiry is exact.
 * Every test ends with the mempool back at its in-use count.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_lcore.h>

#include "dp_test.h"
#include "sl_flow.h"

#define T0 1000000ull

/* What the release hook saw. */
struct release_log {
	unsigned int calls;
	unsigned int per_idx[4096];
	unsigned int held_seen;  /* sum of n_held at release */
	unsigned int not_active; /* calls on an entry already FREE */
	struct sl_flow_table *ft;
};

static void
on_release(void *ctx, struct sl_flow *f)
{
	struct release_log *log = ctx;
	uint32_t idx = (uint32_t)(f - log->ft->flows);

	log->calls++;
	if (idx < RTE_DIM(log->per_idx))
		log->per_idx[idx]++;
	log->held_seen += f->n_held;
	if (f->state == SL_FLOW_FREE)
		log->not_active++;
}

static struct sl_flow_table *
table(uint32_t size, uint32_t window, struct release_log *log)
{
	static unsigned int n;
	char name[32];
	struct sl_flow_table *ft;

	snprintf(name, sizeof(name), "tf_%u", n++);
	ft = sl_flow_table_create(name, size, window, (int)rte_socket_id(),
				  log ? on_release : NULL, log);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ft);
	if (log != NULL) {
		memset(log, 0, sizeof(*log));
		log->ft = ft;
	}
	return ft;
}

/* Key of pipeline 1, @stage, ancestry [req, sub] (depth 2 if sub != 0). */
static struct sl_flow_key
key(uint16_t stage, uint64_t req, uint64_t sub)
{
	struct sl_flow_key k;

	memset(&k, 0, sizeof(k));
	k.pipeline = rte_cpu_to_be_32(1);
	k.stage = rte_cpu_to_be_16(stage);
	k.depth = sub ? 2 : 1;
	k.ancestry[0] = rte_cpu_to_be_64(req);
	k.ancestry[1] = rte_cpu_to_be_64(sub);
	return k;
}

static struct rte_mbuf *
mbuf_seq(uint32_t seq)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(dp_test_pool());

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	*(uint32_t *)rte_pktmbuf_append(m, 4) = seq;
	return m;
}

static uint32_t
mbuf_seq_of(struct rte_mbuf *m)
{
	return *rte_pktmbuf_mtod(m, uint32_t *);
}

static void
test_create_args(void)
{
	dp_test_begin();
	rte_errno = 0;
	CU_ASSERT_PTR_NULL(
		sl_flow_table_create("tf_bad1", 63, 8, 0, NULL, NULL));
	CU_ASSERT_EQUAL(rte_errno, EINVAL);
	rte_errno = 0;
	CU_ASSERT_PTR_NULL(
		sl_flow_table_create("tf_bad2", 64, 0, 0, NULL, NULL));
	CU_ASSERT_EQUAL(rte_errno, EINVAL);
	rte_errno = 0;
	CU_ASSERT_PTR_NULL(sl_flow_table_create(
		"tf_bad3", 64, SL_CONFIG_REORDER_MAX + 1, 0, NULL, NULL));
	CU_ASSERT_EQUAL(rte_errno, EINVAL);
	sl_flow_table_free(NULL);
	dp_test_end();
}

static void
test_key_from_hdr(void)
{
	struct sl_frag_hdr h;
	uint8_t hdr[SL_WIRE_HDR_LEN];
	struct sl_flow_key k, want = key(3, 42, 7);

	dp_test_begin();
	memset(&h, 0, sizeof(h));
	h.version = SL_WIRE_VERSION;
	h.depth = 2;
	h.stage = 3;
	h.pipeline = 1;
	h.tenant = 9;
	h.seq = 77;
	h.ancestry[0] = 42;
	h.ancestry[1] = 7;
	sl_wire_encode_hdr(hdr, &h);
	/* Ids past depth carry no meaning: garbage there is not the key. */
	memset(hdr + SL_WIRE_OFF_ANCESTRY + 16, 0xab, 32);
	memset(&k, 0x5a, sizeof(k));
	sl_flow_key_from_hdr(&k, hdr, 0x0a000105, 40000);
	want.src_ip = 0x0a000105;
	want.src_port = 40000;
	want.tenant = rte_cpu_to_be_16(9);
	CU_ASSERT_EQUAL(memcmp(&k, &want, sizeof(k)), 0);
	CU_ASSERT_EQUAL(sizeof(k), 64); /* no padding hashed: one line */
	CU_ASSERT_EQUAL(sizeof(struct sl_flow), 128);
	dp_test_end();
}

/*
 * The same wire identity from another address or of another tenant is
 * another stream (a guessed request id joins nothing), and the hash is
 * keyed: another secret gives other hashes for the same keys.
 */
static void
test_key_source_tenant_keyed(void)
{
	struct sl_flow_key a = key(0, 42, 0), b = a, c = a;
	uint64_t saved[2];
	uint32_t ha, same = 0;
	struct sl_flow_table *ft;
	bool created;
	int32_t ia, ib, ic;

	dp_test_begin();
	a.src_ip = 0x0a000105;
	a.src_port = 40000;
	b = a;
	b.src_ip = 0x0a000106;
	c = a;
	c.tenant = rte_cpu_to_be_16(2);
	ft = table(64, 8, NULL);
	ia = sl_flow_add(ft, &a, T0, &created);
	ib = sl_flow_add(ft, &b, T0, &created);
	ic = sl_flow_add(ft, &c, T0, &created);
	CU_ASSERT(ia >= 0 && ib >= 0 && ic >= 0);
	CU_ASSERT(ia != ib && ia != ic && ib != ic);
	CU_ASSERT_EQUAL(ft->active, 3);
	sl_flow_table_free(ft);

	/* Keyed: 64 keys under two secrets agree on (almost) no hash. */
	memcpy(saved, sl_flow_hash_key, sizeof(saved));
	for (uint64_t r = 0; r < 64; r++) {
		struct sl_flow_key k = key(0, r, 0);

		sl_flow_hash_key[0] = saved[0];
		sl_flow_hash_key[1] = saved[1];
		ha = sl_flow_hash(&k);
		sl_flow_hash_key[0] = saved[0] ^ 0x9e3779b97f4a7c15ull;
		same += sl_flow_hash(&k) == ha;
	}
	memcpy(sl_flow_hash_key, saved, sizeof(saved));
	CU_ASSERT(same <= 1);
	/* The secret is drawn: never the all-zero key. */
	CU_ASSERT(saved[0] != 0 || saved[1] != 0);
	dp_test_end();
}

static void
test_add_lookup(void)
{
	struct sl_flow_table *ft;
	struct sl_flow_key a = key(0, 1, 0), b = key(0, 2, 0);
	struct sl_flow_key a_stage1 = key(1, 1, 0), a_sub = key(0, 1, 5);
	bool created = false;
	int32_t ia;
	struct sl_flow *f;

	dp_test_begin();
	ft = table(64, 8, NULL);
	CU_ASSERT_EQUAL(ft->active, 0);
	CU_ASSERT_EQUAL(sl_flow_lookup(ft, &a), SL_FLOW_NONE);
	ia = sl_flow_add(ft, &a, T0, &created);
	CU_ASSERT(ia >= 0);
	CU_ASSERT_TRUE(created);
	CU_ASSERT((uint32_t)ia < ft->capacity);
	CU_ASSERT_EQUAL(sl_flow_lookup(ft, &a), (uint32_t)ia);
	CU_ASSERT_EQUAL(sl_flow_lookup(ft, &b), SL_FLOW_NONE);
	CU_ASSERT_EQUAL(sl_flow_lookup(ft, &a_stage1), SL_FLOW_NONE);
	CU_ASSERT_EQUAL(sl_flow_lookup(ft, &a_sub), SL_FLOW_NONE);
	CU_ASSERT_EQUAL(ft->active, 1);

	f = sl_flow_at(ft, (uint32_t)ia);
	CU_ASSERT_EQUAL(f->state, SL_FLOW_ACTIVE);
	CU_ASSERT_EQUAL(f->last_tsc, T0);
	CU_ASSERT_EQUAL(f->next_seq, 0);
	CU_ASSERT_EQUAL(f->end_seq, UINT32_MAX);
	CU_ASSERT_EQUAL(f->origin, SL_FLOW_NONE);
	/* No route yet: edge state (pins) is the dataplane's, made at the
	 * stream's first fragment through fanout. */
	CU_ASSERT_PTR_NULL(f->edges);
	CU_ASSERT_EQUAL(f->n_held, 0);
	CU_ASSERT_PTR_NULL(f->held);
	CU_ASSERT_EQUAL(f->request_done, 0);
	CU_ASSERT_EQUAL(f->tenant_counted, 0);
	CU_ASSERT_EQUAL(memcmp(&f->key, &a, sizeof(a)), 0);
	sl_flow_table_free(ft);
	dp_test_end();
}

static void
test_lookup_bulk(void)
{
	struct sl_flow_table *ft;
	struct sl_flow_key keys[64];
	const struct sl_flow_key *kp[64];
	uint32_t want[64], got[64];
	bool created;

	dp_test_begin();
	ft = table(128, 8, NULL);
	for (unsigned int i = 0; i < 64; i++) {
		keys[i] = key(0, 100 + i, 0);
		kp[i] = &keys[i];
		want[i] = SL_FLOW_NONE;
		if (i % 3 != 0) {
			int32_t pos = sl_flow_add(ft, &keys[i], T0, &created);

			CU_ASSERT(pos >= 0);
			want[i] = (uint32_t)pos;
		}
	}
	memset(got, 0xcc, sizeof(got));
	sl_flow_lookup_bulk(ft, kp, 64, got);
	for (unsigned int i = 0; i < 64; i++) {
		CU_ASSERT_EQUAL(got[i], want[i]);
		CU_ASSERT_EQUAL(sl_flow_lookup(ft, &keys[i]), want[i]);
	}
	/* A burst of one, and of a few. */
	sl_flow_lookup_bulk(ft, kp + 1, 1, got);
	CU_ASSERT_EQUAL(got[0], want[1]);
	sl_flow_lookup_bulk(ft, kp + 2, 5, got);
	for (unsigned int i = 0; i < 5; i++)
		CU_ASSERT_EQUAL(got[i], want[2 + i]);
	sl_flow_table_free(ft);
	dp_test_end();
}

static void
test_readd_keeps_state(void)
{
	struct sl_flow_table *ft;
	struct sl_flow_key a = key(0, 1, 0);
	bool created = false;
	int32_t ia, again;
	struct sl_flow *f;

	dp_test_begin();
	ft = table(64, 8, NULL);
	ia = sl_flow_add(ft, &a, T0, &created);
	CU_ASSERT_FATAL(ia >= 0);
	f = sl_flow_at(ft, (uint32_t)ia);
	f->next_seq = 5;
	f->origin = 3;
	f->src_slot = 77;
	again = sl_flow_add(ft, &a, T0 + 500, &created);
	CU_ASSERT_EQUAL(again, ia);
	CU_ASSERT_FALSE(created);
	CU_ASSERT_EQUAL(f->next_seq, 5);
	CU_ASSERT_EQUAL(f->origin, 3);
	CU_ASSERT_EQUAL(f->src_slot, 77);
	CU_ASSERT_EQUAL(f->state, SL_FLOW_ACTIVE);
	CU_ASSERT_EQUAL(ft->active, 1);
	sl_flow_table_free(ft);
	dp_test_end();
}

static void
test_remove_bumps_gen(void)
{
	struct release_log log;
	struct sl_flow_table *ft;
	struct sl_flow_key a = key(0, 1, 0);
	bool created;
	int32_t ia, ib;
	uint32_t gen;
	struct sl_flow *f;

	dp_test_begin();
	ft = table(64, 8, &log);
	ia = sl_flow_add(ft, &a, T0, &created);
	CU_ASSERT_FATAL(ia >= 0);
	f = sl_flow_at(ft, (uint32_t)ia);
	gen = f->gen;
	sl_flow_remove(ft, (uint32_t)ia);
	CU_ASSERT_EQUAL(f->state, SL_FLOW_FREE);
	CU_ASSERT_EQUAL(f->gen, gen + 1);
	CU_ASSERT_EQUAL(ft->active, 0);
	CU_ASSERT_EQUAL(sl_flow_lookup(ft, &a), SL_FLOW_NONE);
	CU_ASSERT_EQUAL(log.calls, 1);
	CU_ASSERT_EQUAL(log.per_idx[ia], 1);
	CU_ASSERT_EQUAL(log.not_active, 0);

	/* Removing a free entry does nothing. */
	sl_flow_remove(ft, (uint32_t)ia);
	CU_ASSERT_EQUAL(f->gen, gen + 1);
	CU_ASSERT_EQUAL(log.calls, 1);
	CU_ASSERT_EQUAL(ft->active, 0);

	/* The entry comes back zeroed but keeps its generation. */
	ib = sl_flow_add(ft, &a, T0 + 7, &created);
	CU_ASSERT_FATAL(ib >= 0);
	CU_ASSERT_TRUE(created);
	f = sl_flow_at(ft, (uint32_t)ib);
	if (ib == ia)
		CU_ASSERT_EQUAL(f->gen, gen + 1);
	CU_ASSERT_EQUAL(f->last_tsc, T0 + 7);
	CU_ASSERT_EQUAL(f->state, SL_FLOW_ACTIVE);
	sl_flow_table_free(ft);
	CU_ASSERT_EQUAL(log.calls, 2);
	dp_test_end();
}

/* The keep hook: b is kept while its counter says so, a goes on time. */
static unsigned int keep_b_times;

static bool
keep_b(void *ctx, const struct sl_flow *f, uint64_t now)
{
	const struct release_log *log = ctx;

	(void)now;
	if (f != sl_flow_at(log->ft, 1) || keep_b_times == 0)
		return false;
	keep_b_times--;
	return true;
}

static void
test_linger_keep(void)
{
	struct release_log log;
	struct sl_flow_table *ft;
	struct sl_flow_key ka = key(0, 1, 0), kb = key(0, 2, 0);
	const uint64_t linger = 100;
	bool created;
	int32_t ia, ib;

	dp_test_begin();
	ft = table(64, 8, &log);
	sl_flow_set_keep(ft, keep_b);
	ia = sl_flow_add(ft, &ka, T0, &created);
	ib = sl_flow_add(ft, &kb, T0, &created);
	CU_ASSERT_FATAL(ia == 0 && ib == 1);
	sl_flow_end(ft, (uint32_t)ia, T0);
	sl_flow_end(ft, (uint32_t)ib, T0);
	keep_b_times = 2;
	/* Both lingers are over: a goes, b lingers again from now. */
	CU_ASSERT_EQUAL(sl_flow_expire_ended(ft, T0 + linger + 1, linger), 1);
	CU_ASSERT_EQUAL(sl_flow_lookup(ft, &ka), SL_FLOW_NONE);
	CU_ASSERT_EQUAL(sl_flow_lookup(ft, &kb), (uint32_t)ib);
	CU_ASSERT_EQUAL(ft->linger_count, 1);
	/* Not before its new linger is over; then kept once more; then
	 * gone. */
	CU_ASSERT_EQUAL(sl_flow_expire_ended(ft, T0 + 2 * linger + 1, linger),
			0);
	CU_ASSERT_EQUAL(sl_flow_expire_ended(ft, T0 + 2 * linger + 2, linger),
			0);
	CU_ASSERT_EQUAL(keep_b_times, 0);
	CU_ASSERT_EQUAL(sl_flow_expire_ended(ft, T0 + 3 * linger + 3, linger),
			1);
	CU_ASSERT_EQUAL(sl_flow_lookup(ft, &kb), SL_FLOW_NONE);
	CU_ASSERT_EQUAL(ft->linger_count, 0);
	CU_ASSERT_EQUAL(log.calls, 2);
	CU_ASSERT_EQUAL(log.per_idx[ib], 1);
	sl_flow_table_free(ft);
	dp_test_end();
}

/*
 * The linger ring full of records of entries removed behind its back
 * (ended, then removed and their entries reused): a stream that ends now
 * is queued after the dead records are dropped. Before, it was removed
 * at once, while fragments of its burst still named its edge state
 * (found by fuzz_dataplane: a NULL edge block in route).
 */
static void
test_linger_ring_full(void)
{
	struct release_log log;
	struct sl_flow_table *ft;
	struct sl_flow_key kb = key(0, 999, 0);
	unsigned int calls;
	bool created;
	int32_t ib;

	dp_test_begin();
	ft = table(64, 8, &log);
	for (uint64_t r = 1; ft->linger_count < ft->capacity; r++) {
		struct sl_flow_key k = key(0, r, 0);
		int32_t i = sl_flow_add(ft, &k, T0, &created);

		CU_ASSERT_FATAL(i >= 0 && created);
		sl_flow_end(ft, (uint32_t)i, T0);
		sl_flow_remove(ft, (uint32_t)i);
		CU_ASSERT_FATAL(r < 1000);
	}
	CU_ASSERT_EQUAL(ft->active, 0);
	ib = sl_flow_add(ft, &kb, T0, &created);
	CU_ASSERT_FATAL(ib >= 0);
	calls = log.calls;
	sl_flow_end(ft, (uint32_t)ib, T0 + 1);
	CU_ASSERT_EQUAL(log.calls, calls); /* not released */
	/* Still there, ended, the one live record in the ring. */
	CU_ASSERT_EQUAL(sl_flow_lookup(ft, &kb), (uint32_t)ib);
	CU_ASSERT_EQUAL(ft->flows[ib].state, SL_FLOW_ENDED);
	CU_ASSERT_EQUAL(ft->linger_count, 1);
	/* It leaves after its linger, like any other. */
	CU_ASSERT_EQUAL(sl_flow_expire_ended(ft, T0 + 1 + 101, 100), 1);
	CU_ASSERT_EQUAL(sl_flow_lookup(ft, &kb), SL_FLOW_NONE);
	CU_ASSERT_EQUAL(ft->linger_count, 0);
	sl_flow_table_free(ft);
	dp_test_end();
}

static void
test_expire_idle_and_linger(void)
{
	struct release_log log;
	struct sl_flow_table *ft;
	struct sl_flow_key ka = key(0, 1, 0), kb = key(0, 2, 0),
			   kc = key(0, 3, 0);
	const uint64_t idle = 1000, linger = 100;
	uint32_t cursor = 0;
	bool created;
	int32_t ia, ib, ic;

	dp_test_begin();
	ft = table(64, 8, &log);
	ia = sl_flow_add(ft, &ka, T0, &created);
	ib = sl_flow_add(ft, &kb, T0, &created);
	ic = sl_flow_add(ft, &kc, T0, &created);
	CU_ASSERT_FATAL(ia >= 0 && ib >= 0 && ic >= 0);
	sl_flow_at(ft, (uint32_t)ib)->state = SL_FLOW_ENDED;

	/* Exactly at the limit nothing goes; one tick later it does. */
	CU_ASSERT_EQUAL(sl_flow_expire(ft, T0 + linger, idle, linger, &cursor,
				       ft->capacity),
			0);
	CU_ASSERT_EQUAL(sl_flow_expire(ft, T0 + linger + 1, idle, linger,
				       &cursor, ft->capacity),
			1);
	CU_ASSERT_EQUAL(sl_flow_lookup(ft, &kb), SL_FLOW_NONE);
	CU_ASSERT_EQUAL(sl_flow_lookup(ft, &ka), (uint32_t)ia);
	CU_ASSERT_EQUAL(log.per_idx[ib], 1);

	/* A fragment refreshes c. */
	sl_flow_at(ft, (uint32_t)ic)->last_tsc = T0 + 500;
	CU_ASSERT_EQUAL(sl_flow_expire(ft, T0 + idle, idle, linger, &cursor,
				       ft->capacity),
			0);
	CU_ASSERT_EQUAL(sl_flow_expire(ft, T0 + idle + 1, idle, linger, &cursor,
				       ft->capacity),
			1);
	CU_ASSERT_EQUAL(sl_flow_lookup(ft, &ka), SL_FLOW_NONE);
	CU_ASSERT_EQUAL(sl_flow_lookup(ft, &kc), (uint32_t)ic);
	CU_ASSERT_EQUAL(sl_flow_expire(ft, T0 + 500 + idle + 1, idle, linger,
				       &cursor, ft->capacity),
			1);
	CU_ASSERT_EQUAL(ft->active, 0);
	CU_ASSERT_EQUAL(log.calls, 3);
	CU_ASSERT_EQUAL(log.per_idx[ia], 1);
	CU_ASSERT_EQUAL(log.per_idx[ic], 1);
	CU_ASSERT_EQUAL(log.not_active, 0);
	sl_flow_table_free(ft);
	CU_ASSERT_EQUAL(log.calls, 3);
	dp_test_end();
}

static void
test_expire_cursor_budget(void)
{
	struct release_log log;
	struct sl_flow_table *ft;
	int32_t pos[40];
	uint32_t cursor, cap;
	unsigned int want, removed;
	bool created;

	dp_test_begin();
	ft = table(64, 8, &log);
	cap = ft->capacity;
	CU_ASSERT_FATAL(cap >= 64);
	for (unsigned int i = 0; i < 40; i++) {
		struct sl_flow_key k = key(0, 1000 + i, 0);

		pos[i] = sl_flow_add(ft, &k, T0, &created);
		CU_ASSERT_FATAL(pos[i] >= 0);
	}
	/* Scan [10, 20): only flows whose index lies there go. */
	cursor = 10;
	want = 0;
	for (unsigned int i = 0; i < 40; i++)
		want += pos[i] >= 10 && pos[i] < 20;
	removed = sl_flow_expire(ft, T0 + 10, 1, 1, &cursor, 10);
	CU_ASSERT_EQUAL(removed, want);
	CU_ASSERT_EQUAL(cursor, 20);
	for (unsigned int i = 0; i < 40; i++)
		CU_ASSERT_EQUAL(sl_flow_at(ft, (uint32_t)pos[i])->state ==
					SL_FLOW_FREE,
				pos[i] >= 10 && pos[i] < 20);

	/* The scan wraps: [cap - 3, cap) then [0, 5). */
	cursor = cap - 3;
	want = 0;
	for (unsigned int i = 0; i < 40; i++)
		want += (uint32_t)pos[i] >= cap - 3 || pos[i] < 5;
	removed = sl_flow_expire(ft, T0 + 10, 1, 1, &cursor, 8);
	CU_ASSERT_EQUAL(removed, want);
	CU_ASSERT_EQUAL(cursor, 5);

	/* A budget beyond the table is one full turn: everything left goes
	 * and the cursor comes back where it started. */
	cursor = 7;
	removed = sl_flow_expire(ft, T0 + 10, 1, 1, &cursor, 100000);
	CU_ASSERT_EQUAL(cursor, 7);
	CU_ASSERT_EQUAL(ft->active, 0);
	CU_ASSERT_EQUAL(log.calls, 40);
	for (unsigned int i = 0; i < 40; i++)
		CU_ASSERT_EQUAL(log.per_idx[pos[i]], 1);
	sl_flow_table_free(ft);
	CU_ASSERT_EQUAL(log.calls, 40);
	dp_test_end();
}

static void
test_full_table(void)
{
	struct sl_flow_table *ft;
	static bool used[4096];
	int32_t pos;
	bool created;
	unsigned int distinct = 0;

	dp_test_begin();
	ft = table(64, 8, NULL);
	memset(used, 0, sizeof(used));
	/* Keys that differ only in a high id: a weak hash would pile them
	 * into a few buckets; extendable buckets still hold all 64. */
	for (unsigned int i = 0; i < 64; i++) {
		struct sl_flow_key k = key(0, (uint64_t)i << 40, 0);

		pos = sl_flow_add(ft, &k, T0, &created);
		CU_ASSERT(pos >= 0);
		CU_ASSERT_TRUE(created);
		if (pos >= 0 && (uint32_t)pos < ft->capacity && !used[pos]) {
			used[pos] = true;
			distinct++;
		}
	}
	CU_ASSERT_EQUAL(distinct, 64);
	CU_ASSERT_EQUAL(ft->active, 64);
	{
		struct sl_flow_key k65 = key(0, 65ull << 40, 0);

		CU_ASSERT_EQUAL(sl_flow_add(ft, &k65, T0, &created), -ENOSPC);
		CU_ASSERT_EQUAL(sl_flow_lookup(ft, &k65), SL_FLOW_NONE);
	}
	/* A present key is found even when the table is full. */
	for (unsigned int i = 0; i < 64; i++) {
		struct sl_flow_key k = key(0, (uint64_t)i << 40, 0);
		uint32_t idx = sl_flow_lookup(ft, &k);

		CU_ASSERT(idx != SL_FLOW_NONE);
		CU_ASSERT_EQUAL(sl_flow_add(ft, &k, T0, &created),
				(int32_t)idx);
		CU_ASSERT_FALSE(created);
	}
	/* One out, one new in. */
	{
		struct sl_flow_key k0 = key(0, 0, 0),
				   k65 = key(0, 65ull << 40, 0);

		sl_flow_remove(ft, sl_flow_lookup(ft, &k0));
		pos = sl_flow_add(ft, &k65, T0, &created);
		CU_ASSERT(pos >= 0);
		CU_ASSERT_TRUE(created);
		CU_ASSERT_EQUAL(sl_flow_add(ft, &k0, T0, &created), -ENOSPC);
	}
	sl_flow_table_free(ft);
	dp_test_end();
}

static void
test_hold_take_in_window_order(void)
{
	struct sl_flow_table *ft;
	struct sl_flow_key a = key(0, 1, 0);
	struct rte_mbuf *m;
	struct sl_flow *f;
	bool created;
	int32_t ia;
	const uint32_t early[] = {3, 1, 2, 5, 7};

	dp_test_begin();
	ft = table(64, 8, NULL);
	ia = sl_flow_add(ft, &a, T0, &created);
	CU_ASSERT_FATAL(ia >= 0);
	f = sl_flow_at(ft, (uint32_t)ia);
	CU_ASSERT_PTR_NULL(sl_flow_take_next(ft, f));
	for (unsigned int i = 0; i < RTE_DIM(early); i++)
		CU_ASSERT_EQUAL(
			sl_flow_hold(ft, f, mbuf_seq(early[i]), early[i]), 0);
	CU_ASSERT_EQUAL(f->n_held, 5);
	CU_ASSERT_PTR_NOT_NULL(f->held);
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(ft->reorder_pool), 1);

	/* next_seq 0 is missing: nothing to take. */
	CU_ASSERT_PTR_NULL(sl_flow_take_next(ft, f));
	for (uint32_t s = 1; s <= 7; s++) {
		f->next_seq = s;
		m = sl_flow_take_next(ft, f);
		if (s == 4 || s == 6) {
			CU_ASSERT_PTR_NULL(m);
			continue;
		}
		CU_ASSERT_PTR_NOT_NULL_FATAL(m);
		CU_ASSERT_EQUAL(mbuf_seq_of(m), s);
		rte_pktmbuf_free(m);
		/* Taken once only. */
		CU_ASSERT_PTR_NULL(sl_flow_take_next(ft, f));
	}
	CU_ASSERT_EQUAL(f->n_held, 0);
	CU_ASSERT_PTR_NULL(f->held); /* buffer given back when empty */
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(ft->reorder_pool), 0);

	/* Across the slot wrap: next 10, window 8, hold 17 down to 11. */
	f->next_seq = 10;
	for (uint32_t s = 17; s >= 11; s--)
		CU_ASSERT_EQUAL(sl_flow_hold(ft, f, mbuf_seq(s), s), 0);
	CU_ASSERT_EQUAL(f->n_held, 7);
	CU_ASSERT_PTR_NULL(sl_flow_take_next(ft, f));
	for (uint32_t s = 11; s <= 17; s++) {
		f->next_seq = s;
		m = sl_flow_take_next(ft, f);
		CU_ASSERT_PTR_NOT_NULL_FATAL(m);
		CU_ASSERT_EQUAL(mbuf_seq_of(m), s);
		rte_pktmbuf_free(m);
	}
	CU_ASSERT_PTR_NULL(f->held);
	sl_flow_table_free(ft);
	dp_test_end();
}

static void
test_hold_duplicate(void)
{
	struct sl_flow_table *ft;
	struct sl_flow_key a = key(0, 1, 0);
	struct rte_mbuf *m1, *m2, *m;
	struct sl_flow *f;
	bool created;
	int32_t ia;

	dp_test_begin();
	ft = table(64, 8, NULL);
	ia = sl_flow_add(ft, &a, T0, &created);
	CU_ASSERT_FATAL(ia >= 0);
	f = sl_flow_at(ft, (uint32_t)ia);
	m1 = mbuf_seq(3);
	m2 = mbuf_seq(1003);
	CU_ASSERT_EQUAL(sl_flow_hold(ft, f, m1, 3), 0);
	CU_ASSERT_EQUAL(sl_flow_hold(ft, f, m2, 3), -EEXIST);
	CU_ASSERT_EQUAL(f->n_held, 1);
	rte_pktmbuf_free(m2); /* the caller keeps a refused fragment */
	f->next_seq = 3;
	m = sl_flow_take_next(ft, f);
	CU_ASSERT_PTR_EQUAL(m, m1);
	rte_pktmbuf_free(m);
	sl_flow_table_free(ft);
	dp_test_end();
}

static void
test_hold_no_buffer(void)
{
	struct sl_flow_table *ft;
	unsigned int n_pool, ok = 0, nobufs = 0;
	bool created;

	dp_test_begin();
	ft = table(1024, 4, NULL);
	n_pool = ft->reorder_pool->size;
	CU_ASSERT_FATAL(n_pool < 1024);
	for (unsigned int i = 0; i < 1024; i++) {
		struct sl_flow_key k = key(0, 5000 + i, 0);
		int32_t pos = sl_flow_add(ft, &k, T0, &created);
		struct rte_mbuf *m;
		int rc;

		CU_ASSERT_FATAL(pos >= 0);
		m = mbuf_seq(2);
		rc = sl_flow_hold(ft, sl_flow_at(ft, (uint32_t)pos), m, 2);
		if (rc == 0) {
			ok++;
		} else {
			CU_ASSERT_EQUAL(rc, -ENOBUFS);
			CU_ASSERT_EQUAL(sl_flow_at(ft, (uint32_t)pos)->n_held,
					0);
			nobufs++;
			rte_pktmbuf_free(m);
		}
	}
	CU_ASSERT_EQUAL(ok, n_pool);
	CU_ASSERT_EQUAL(nobufs, 1024 - n_pool);
	sl_flow_table_free(ft);
	dp_test_end();
}

static void
test_free_releases_held(void)
{
	struct release_log log;
	struct sl_flow_table *ft;
	unsigned int start = rte_mempool_in_use_count(dp_test_pool());
	bool created;

	dp_test_begin();
	ft = table(64, 16, &log);
	for (unsigned int i = 0; i < 10; i++) {
		struct sl_flow_key k = key(1, 7, i + 1);
		int32_t pos = sl_flow_add(ft, &k, T0, &created);

		CU_ASSERT_FATAL(pos >= 0);
		for (uint32_t s = 1; s <= i; s++)
			CU_ASSERT_EQUAL(
				sl_flow_hold(ft, sl_flow_at(ft, (uint32_t)pos),
					     mbuf_seq(s), s),
				0);
	}
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(dp_test_pool()), start + 45);
	sl_flow_table_free(ft);
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(dp_test_pool()), start);
	CU_ASSERT_EQUAL(log.calls, 10);
	CU_ASSERT_EQUAL(log.held_seen, 45);
	CU_ASSERT_EQUAL(log.not_active, 0);
	dp_test_end();
}

static void
test_release_once_per_flow(void)
{
	struct release_log log;
	struct sl_flow_table *ft;
	int32_t pos[20];
	uint32_t cursor = 0;
	bool created;

	dp_test_begin();
	ft = table(64, 8, &log);
	for (unsigned int i = 0; i < 20; i++) {
		struct sl_flow_key k = key(2, 9, i + 1);

		pos[i] = sl_flow_add(ft, &k, i < 10 ? T0 : T0 + 5000, &created);
		CU_ASSERT_FATAL(pos[i] >= 0);
	}
	sl_flow_remove(ft, (uint32_t)pos[0]);
	sl_flow_remove(ft, (uint32_t)pos[0]);
	sl_flow_remove(ft, (uint32_t)pos[15]);
	/* Flows 1..9 are idle; 10..19 (but 15) are fresh. Expire twice. */
	CU_ASSERT_EQUAL(
		sl_flow_expire(ft, T0 + 5000, 1000, 100, &cursor, ft->capacity),
		9);
	CU_ASSERT_EQUAL(
		sl_flow_expire(ft, T0 + 5000, 1000, 100, &cursor, ft->capacity),
		0);
	sl_flow_table_free(ft);
	CU_ASSERT_EQUAL(log.calls, 20);
	for (unsigned int i = 0; i < 20; i++)
		CU_ASSERT_EQUAL(log.per_idx[pos[i]], 1);
	CU_ASSERT_EQUAL(log.not_active, 0);
	dp_test_end();
}

static const struct dp_test_case cases[] = {
	DP_SUITE("flow"),
	DP_CASE("create rejects bad size and window", test_create_args),
	DP_CASE("key from header ignores ids past depth", test_key_from_hdr),
	DP_CASE("source and tenant name the stream; keyed hash",
		test_key_source_tenant_keyed),
	DP_CASE("add then lookup", test_add_lookup),
	DP_CASE("bulk lookup", test_lookup_bulk),
	DP_CASE("re-add of a present key keeps its state",
		test_readd_keeps_state),
	DP_CASE("remove bumps gen", test_remove_bumps_gen),
	DP_CASE("linger kept by the keep hook, then ended", test_linger_keep),
	DP_CASE("linger ring full of dead records: still queued",
		test_linger_ring_full),
	DP_CASE("expiry: idle ACTIVE and lingering ENDED",
		test_expire_idle_and_linger),
	DP_CASE("expiry: cursor and budget", test_expire_cursor_budget),
	DP_CASE("full table: 64 fit, 65th is ENOSPC", test_full_table),
	DP_CASE("hold/take_next in window order",
		test_hold_take_in_window_order),
	DP_CASE("hold of a held sequence is EEXIST", test_hold_duplicate),
	DP_CASE("hold without a free reorder buffer is ENOBUFS",
		test_hold_no_buffer),
	DP_CASE("table free releases held mbufs", test_free_releases_held),
	DP_CASE("release hook once per removed flow",
		test_release_once_per_flow),
	DP_END,
};

int
main(int argc, char **argv)
{
	(void)argc;
	return dp_test_main(argv[0], cases, NULL, NULL);
}
