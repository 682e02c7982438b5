/* SPDX-License-Identifier: MIT */
/*
 * streams.c - the engine's stream table: input streams by key (source
 * address and the fragment's identity), open addressing with linear
 * probing and backward-shift removal, idle expiry, and the per-stream
 * sequence tracking that counts duplicates and misordered fragments.
 */
#include <string.h>

#include "engine.h"

/* A stream idle this long is ended (the role says how: sl_role_expire). */
#define ENGINE_IDLE_NS (10ull * 1000000000ull)
/* Out-of-order seqs remembered past the lowest missing one. */
#define ENGINE_AHEAD_BITS 64

static uint32_t
engine_hash(const struct engine_key *h)
{
	uint64_t x = ((uint64_t)h->pipeline << 24) ^ ((uint64_t)h->stage << 8) ^
		     h->depth ^ ((uint64_t)h->from_stage << 40) ^
		     ((uint64_t)h->join << 56);
	unsigned int i;

	for (i = 0; i < h->depth; i++) {
		x ^= h->ancestry[i] + 0x9e3779b97f4a7c15ull + (x << 6) +
		     (x >> 2);
		x *= 0xbf58476d1ce4e5b9ull;
		x ^= x >> 31;
	}
	return (uint32_t)(x ^ (x >> 32));
}

static bool
engine_key_eq(const struct engine_key *a, const struct engine_key *b)
{
	return a->pipeline == b->pipeline && a->stage == b->stage &&
	       a->from_stage == b->from_stage && a->depth == b->depth &&
	       a->join == b->join &&
	       memcmp(a->ancestry, b->ancestry,
		      b->depth * sizeof(b->ancestry[0])) == 0;
}

/* The key of a fragment's stream: from_stage is part of it, so that the
 * inputs of a join (same ancestry, different producers) stay apart. */
void
engine_key_of(struct engine_key *k, const struct sl_frag_hdr *h)
{
	memset(k, 0, sizeof(*k));
	k->pipeline = h->pipeline;
	k->stage = h->stage;
	k->from_stage = h->from_stage;
	k->depth = h->depth;
	memcpy(k->ancestry, h->ancestry, h->depth * sizeof(h->ancestry[0]));
}

/*
 * Find the stream of @h or claim a slot for it (*created set). Linear
 * probing; NULL when the table is full.
 */
struct engine_stream *
engine_lookup(struct engine *e, const struct engine_key *h, bool *created)
{
	uint32_t mask = ENGINE_TABLE_SIZE - 1, i = engine_hash(h) & mask;
	uint32_t probes;

	*created = false;
	for (probes = 0; probes < ENGINE_TABLE_SIZE; probes++) {
		struct engine_stream *s = &e->table[i];

		if (!s->used) {
			/* Keep one slot free so that probes always end. */
			if (e->n_streams + 1 >= ENGINE_TABLE_SIZE)
				return NULL;
			memset(s, 0, sizeof(*s));
			s->used = 1;
			s->key = *h;
			e->n_streams++;
			*created = true;
			return s;
		}
		if (engine_key_eq(&s->key, h))
			return s;
		i = (i + 1) & mask;
	}
	return NULL;
}

struct engine_stream *
engine_find(struct engine *e, const struct engine_key *h)
{
	uint32_t mask = ENGINE_TABLE_SIZE - 1, i = engine_hash(h) & mask;
	uint32_t probes;

	for (probes = 0; probes < ENGINE_TABLE_SIZE; probes++) {
		struct engine_stream *s = &e->table[i];

		if (!s->used)
			return NULL;
		if (engine_key_eq(&s->key, h))
			return s;
		i = (i + 1) & mask;
	}
	return NULL;
}

/* Backward-shift deletion: no tombstones, so lookups stay short. */
void
engine_remove(struct engine *e, struct engine_stream *s)
{
	uint32_t mask = ENGINE_TABLE_SIZE - 1;
	uint32_t hole = (uint32_t)(s - e->table), i = hole;

	for (;;) {
		struct engine_stream *n;
		uint32_t home;

		i = (i + 1) & mask;
		n = &e->table[i];
		if (!n->used)
			break;
		home = engine_hash(&n->key) & mask;
		/* n may fill the hole only if its home is not in (hole, i]. */
		if (((i - home) & mask) >= ((i - hole) & mask)) {
			e->table[hole] = *n;
			hole = i;
		}
	}
	e->table[hole].used = 0;
	e->n_streams--;
}

void
engine_expire(struct engine *e, uint64_t now)
{
	uint32_t i = 0;

	while (i < ENGINE_TABLE_SIZE) {
		struct engine_stream *s = &e->table[i];

		/* After a removal slot i may hold a shifted entry: look
		 * at it again before moving on. */
		if (s->used && now - s->last_ns > ENGINE_IDLE_NS) {
			sl_role_expire(e, s);
			engine_remove(e, s);
		} else
			i++;
	}
}

bool
engine_track_seq(struct engine *e, struct engine_stream *s, uint32_t seq)
{
	uint32_t d;

	if (seq < s->expected) {
		e->st.duplicates++;
		return false;
	}
	if (seq == s->expected) {
		s->expected++;
		while (s->seen_ahead & 1) {
			s->seen_ahead >>= 1;
			s->expected++;
		}
		s->seen_ahead >>= 1;
		return true;
	}
	d = seq - s->expected - 1;
	if (d < ENGINE_AHEAD_BITS) {
		if (s->seen_ahead & (1ull << d)) {
			e->st.duplicates++;
			return false;
		}
		s->seen_ahead |= 1ull << d;
	}
	e->st.misordered++;
	return true;
}
