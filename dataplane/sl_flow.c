/* SPDX-License-Identifier: MIT */
/*
 * sl_flow.c - per-stream flow table on rte_hash (see sl_flow.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>
#include <rte_mempool.h>
#include <rte_prefetch.h>

#include "sl_flow.h"

static uint32_t
flow_hash_func(const void *key, uint32_t key_len, uint32_t init_val)
{
	RTE_SET_USED(key_len);
	RTE_SET_USED(init_val);
	return sl_flow_hash(key);
}

struct sl_flow_table *
sl_flow_table_create(const char *name, uint32_t size, uint32_t window,
		     int socket, sl_flow_release_fn release, void *ctx)
{
	char pname[RTE_MEMPOOL_NAMESIZE];
	struct sl_flow_table *ft;
	int32_t max_id;

	if (size < 64 || window < 1 || window > SL_CONFIG_REORDER_MAX) {
		rte_errno = EINVAL;
		return NULL;
	}
	if (sl_flow_hash_seed() != 0) {
		rte_errno = EAGAIN;
		return NULL;
	}
	ft = rte_zmalloc_socket("sl_flow_table", sizeof(*ft), 0, socket);
	if (ft == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	struct rte_hash_parameters hp = {
		.name = name,
		.entries = size,
		.key_len = sizeof(struct sl_flow_key),
		.hash_func = flow_hash_func,
		.hash_func_init_val = 0,
		.socket_id = socket,
		/* Extendable buckets: the table holds @size keys whatever
		 * their hashes, so "full" means full. */
		.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE,
	};
	ft->hash = rte_hash_create(&hp);
	if (ft->hash == NULL)
		goto fail;
	max_id = rte_hash_max_key_id(ft->hash);
	if (max_id < 0)
		goto fail;
	ft->capacity = (uint32_t)max_id + 1;
	ft->linger = rte_zmalloc_socket("sl_flow_linger",
					sizeof(*ft->linger) * ft->capacity, 0,
					socket);
	if (ft->linger == NULL) {
		rte_errno = ENOMEM;
		goto fail;
	}
	ft->flows = rte_zmalloc_socket("sl_flows",
				       sizeof(struct sl_flow) * ft->capacity,
				       RTE_CACHE_LINE_SIZE, socket);
	if (ft->flows == NULL) {
		rte_errno = ENOMEM;
		goto fail;
	}
	/* Most streams arrive in order: reorder buffers are borrowed only
	 * by streams with a gap, so a fraction of the table suffices. */
	snprintf(pname, sizeof(pname), "ro_%s", name);
	ft->reorder_pool = rte_mempool_create(
		pname, RTE_MAX(size / 8, 1024u) - 1, sizeof(struct sl_reorder),
		0, 0, NULL, NULL, NULL, NULL, socket,
		RTE_MEMPOOL_F_SP_PUT | RTE_MEMPOOL_F_SC_GET);
	if (ft->reorder_pool == NULL)
		goto fail;
	ft->window = window;
	ft->release = release;
	ft->ctx = ctx;
	return ft;
fail : {
	int err = rte_errno ? rte_errno : ENOMEM;

	rte_free(ft->flows);
	rte_free(ft->linger);
	rte_hash_free(ft->hash);
	rte_free(ft);
	rte_errno = err;
}
	return NULL;
}

void
sl_flow_table_free(struct sl_flow_table *ft)
{
	if (ft == NULL)
		return;
	for (uint32_t i = 0; i < ft->capacity; i++)
		if (ft->flows[i].state != SL_FLOW_FREE)
			sl_flow_remove(ft, i);
	rte_mempool_free(ft->reorder_pool);
	rte_free(ft->flows);
	rte_free(ft->linger);
	rte_hash_free(ft->hash);
	rte_free(ft);
}

/* What every fragment touches in one line, the key in the next. */
_Static_assert(sizeof(struct sl_flow) == 128, "sl_flow is two lines");
_Static_assert(sizeof(struct sl_flow_key) == 64, "sl_flow_key is one line");

uint64_t sl_flow_hash_key[2];

int
sl_flow_hash_seed(void)
{
	static bool seeded;
	uint8_t *p = (uint8_t *)sl_flow_hash_key;
	size_t got = 0;

	if (seeded)
		return 0;
	while (got < sizeof(sl_flow_hash_key)) {
		ssize_t n =
			getrandom(p + got, sizeof(sl_flow_hash_key) - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	seeded = true;
	return 0;
}

void
sl_flow_key_from_hdr(struct sl_flow_key *key, const uint8_t *hdr,
		     uint32_t src_ip, uint16_t src_port)
{
	uint8_t depth = hdr[SL_WIRE_OFF_DEPTH];

	if (depth > SL_ANCESTRY_MAX)
		depth = SL_ANCESTRY_MAX;
	memcpy(&key->pipeline, hdr + SL_WIRE_OFF_PIPELINE, 4);
	memcpy(&key->stage, hdr + SL_WIRE_OFF_STAGE, 2);
	key->depth = depth;
	key->zero = 0;
	key->src_ip = src_ip;
	key->src_port = src_port;
	memcpy(&key->tenant, hdr + SL_WIRE_OFF_TENANT, 2);
	memcpy(key->ancestry, hdr + SL_WIRE_OFF_ANCESTRY, 8u * depth);
	if (depth < SL_ANCESTRY_MAX)
		memset(&key->ancestry[depth], 0,
		       8u * (SL_ANCESTRY_MAX - depth));
}

void
sl_flow_lookup_bulk(struct sl_flow_table *ft, const struct sl_flow_key **keys,
		    unsigned int n, uint32_t *idx)
{
	int32_t pos[RTE_HASH_LOOKUP_BULK_MAX];

	rte_hash_lookup_bulk(ft->hash, (const void **)keys, n, pos);
	for (unsigned int i = 0; i < n; i++)
		idx[i] = pos[i] >= 0 ? (uint32_t)pos[i] : SL_FLOW_NONE;
}

void
sl_flow_lookup_bulk_hashed(struct sl_flow_table *ft,
			   const struct sl_flow_key **keys,
			   const uint32_t *sigs, unsigned int n, uint32_t *idx)
{
	int32_t pos[RTE_HASH_LOOKUP_BULK_MAX];

	rte_hash_lookup_with_hash_bulk(ft->hash, (const void **)keys,
				       (hash_sig_t *)(uintptr_t)sigs, n, pos);
	for (unsigned int i = 0; i < n; i++) {
		idx[i] = pos[i] >= 0 ? (uint32_t)pos[i] : SL_FLOW_NONE;
		if (pos[i] >= 0)
			rte_prefetch0(&ft->flows[pos[i]]);
	}
}

uint32_t
sl_flow_lookup(struct sl_flow_table *ft, const struct sl_flow_key *key)
{
	int32_t pos = rte_hash_lookup(ft->hash, key);

	return pos >= 0 ? (uint32_t)pos : SL_FLOW_NONE;
}

int32_t
sl_flow_add(struct sl_flow_table *ft, const struct sl_flow_key *key,
	    uint64_t now, bool *created)
{
	return sl_flow_add_hashed(ft, key, sl_flow_hash(key), now, created);
}

int32_t
sl_flow_add_hashed(struct sl_flow_table *ft, const struct sl_flow_key *key,
		   uint32_t sig, uint64_t now, bool *created)
{
	int32_t pos = rte_hash_add_key_with_hash(ft->hash, key, sig);
	struct sl_flow *f;
	uint32_t gen;

	if (pos < 0)
		return -ENOSPC;
	f = &ft->flows[pos];
	/* rte_hash returns the existing position for a present key: that
	 * happens when two fragments of a new stream share a burst. */
	if (f->state != SL_FLOW_FREE) {
		*created = false;
		return pos;
	}
	gen = f->gen;
	memset(f, 0, sizeof(*f));
	f->gen = gen;
	f->state = SL_FLOW_ACTIVE;
	f->last_tsc = now;
	f->end_seq = UINT32_MAX;
	f->origin = SL_FLOW_NONE;
	f->key = *key;
	ft->active++;
	*created = true;
	return pos;
}

void
sl_flow_remove(struct sl_flow_table *ft, uint32_t idx)
{
	struct sl_flow *f = &ft->flows[idx];

	if (f->state == SL_FLOW_FREE)
		return;
	if (ft->release != NULL)
		ft->release(ft->ctx, f);
	if (f->held != NULL) {
		for (uint32_t i = 0; i < ft->window; i++)
			rte_pktmbuf_free(f->held->slot[i]);
		rte_mempool_put(ft->reorder_pool, f->held);
		f->held = NULL;
		f->n_held = 0;
	}
	rte_hash_del_key(ft->hash, &f->key);
	f->state = SL_FLOW_FREE;
	f->gen++;
	ft->active--;
}

/* Drop the linger records of entries removed behind the queue's back (a
 * generation that is no longer ENDED), keeping the others in order. */
static void
linger_compact(struct sl_flow_table *ft)
{
	uint32_t n = 0;

	for (uint32_t k = 0; k < ft->linger_count; k++) {
		uint32_t from = (ft->linger_head + k) % ft->capacity;
		const struct sl_flow_linger l = ft->linger[from];
		const struct sl_flow *f = &ft->flows[l.idx];

		if (f->gen != l.gen || f->state != SL_FLOW_ENDED)
			continue;
		ft->linger[(ft->linger_head + n) % ft->capacity] = l;
		n++;
	}
	ft->linger_count = n;
}

void
sl_flow_end(struct sl_flow_table *ft, uint32_t idx, uint64_t now)
{
	struct sl_flow *f = &ft->flows[idx];
	uint32_t tail;

	if (f->state == SL_FLOW_ENDED)
		return;
	f->state = SL_FLOW_ENDED;
	f->last_tsc = now;
	/* Records of entries removed behind the queue's back (expired,
	 * freed on a failure, a pipeline gone) stay in it until the head
	 * passes them: with entries reused meanwhile the ring can fill.
	 * Removing this entry now would free state that fragments of the
	 * burst still name (found by fuzz_dataplane): drop the dead
	 * records instead; every live one is an ENDED entry, and this one
	 * is not in the ring, so there is room after. */
	if (unlikely(ft->linger_count == ft->capacity))
		linger_compact(ft);
	if (unlikely(ft->linger_count == ft->capacity)) {
		/* Only reachable if entries were removed behind the queue's
		 * back; never lose track of one: let it go now. */
		sl_flow_remove(ft, idx);
		return;
	}
	/* Each flow is queued once per generation and leaves the queue
	 * before its entry can end again, so capacity slots suffice. */
	tail = ft->linger_head + ft->linger_count;
	if (tail >= ft->capacity)
		tail -= ft->capacity;
	ft->linger[tail] = (struct sl_flow_linger){
		.idx = idx, .gen = f->gen, .since = now};
	ft->linger_count++;
}

unsigned int
sl_flow_expire_ended(struct sl_flow_table *ft, uint64_t now,
		     uint64_t linger_tsc)
{
	unsigned int removed = 0;

	while (ft->linger_count != 0) {
		const struct sl_flow_linger *l = &ft->linger[ft->linger_head];
		struct sl_flow *f = &ft->flows[l->idx];

		if (now - l->since <= linger_tsc)
			break;
		if (f->gen == l->gen && f->state == SL_FLOW_ENDED) {
			if (ft->keep != NULL && ft->keep(ft->ctx, f, now)) {
				/* Once more, at the tail: the ring has room,
				 * this record leaves it. */
				uint32_t t = ft->linger_head + ft->linger_count;

				if (t >= ft->capacity)
					t -= ft->capacity;
				ft->linger[t] = (struct sl_flow_linger){
					l->idx, l->gen, now};
				ft->linger_count++;
			} else {
				sl_flow_remove(ft, l->idx);
				removed++;
			}
		}
		if (++ft->linger_head == ft->capacity)
			ft->linger_head = 0;
		ft->linger_count--;
	}
	return removed;
}

void
sl_flow_set_keep(struct sl_flow_table *ft, sl_flow_keep_fn keep)
{
	ft->keep = keep;
}

unsigned int
sl_flow_expire(struct sl_flow_table *ft, uint64_t now, uint64_t idle_tsc,
	       uint64_t linger_tsc, uint32_t *cursor, unsigned int budget)
{
	uint32_t i = *cursor;
	unsigned int removed = 0;

	if (budget > ft->capacity)
		budget = ft->capacity;
	for (unsigned int n = 0; n < budget; n++) {
		struct sl_flow *f = &ft->flows[i];

		if (f->state != SL_FLOW_FREE) {
			uint64_t limit = f->state == SL_FLOW_ENDED ? linger_tsc
								   : idle_tsc;

			if (now - f->last_tsc > limit) {
				sl_flow_remove(ft, i);
				removed++;
			}
		}
		if (++i == ft->capacity)
			i = 0;
	}
	*cursor = i;
	return removed;
}

int
sl_flow_hold(struct sl_flow_table *ft, struct sl_flow *f, struct rte_mbuf *m,
	     uint32_t seq)
{
	uint32_t slot = seq % ft->window;

	if (f->held == NULL) {
		void *obj;

		if (rte_mempool_get(ft->reorder_pool, &obj) != 0)
			return -ENOBUFS;
		f->held = obj;
		memset(f->held, 0, sizeof(*f->held));
	}
	if (f->held->slot[slot] != NULL)
		return -EEXIST;
	f->held->slot[slot] = m;
	f->n_held++;
	return 0;
}

struct rte_mbuf *
sl_flow_take_next(struct sl_flow_table *ft, struct sl_flow *f)
{
	struct rte_mbuf *m;
	uint32_t slot;

	if (f->held == NULL)
		return NULL;
	slot = f->next_seq % ft->window;
	m = f->held->slot[slot];
	if (m == NULL)
		return NULL;
	f->held->slot[slot] = NULL;
	if (--f->n_held == 0) {
		rte_mempool_put(ft->reorder_pool, f->held);
		f->held = NULL;
	}
	return m;
}

struct rte_mbuf *
sl_flow_first_held(struct sl_flow_table *ft, const struct sl_flow *f)
{
	if (f->held == NULL)
		return NULL;
	for (uint32_t i = 0; i < ft->window; i++) {
		struct rte_mbuf *m =
			f->held->slot[(f->next_seq + i) % ft->window];

		if (m != NULL)
			return m;
	}
	return NULL;
}
