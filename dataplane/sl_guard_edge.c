/* SPDX-License-Identifier: MIT */
/*
 * sl_guard_edge.c - guards on edges: the filter run on every fragment a
 * guarded edge carries, and the prompt prefix put before its streams.
 *
 * Filter: the fragment's token texts go through the guard engine
 * (control/sl_guard.h) in order; what it releases (original bytes, or a
 * mask in place of a redacted match) becomes the fragment's new tokens,
 * one per released piece, so the fragment keeps its sequence number and
 * the engine's holdback may leave it with no token at all. At END the
 * engine's final check runs and the rest is flushed.
 *
 * Token ids: a token id names text in the producing model's vocabulary,
 * so an id that went out with a redaction would say what was masked. A
 * released piece of original text carries its token's id only when it
 * ends that token and no redaction touched the token; every other piece
 * (the front of a token cut by the holdback, what is left of a token a
 * mask covered partly) and every mask carries SL_GUARD_TOKEN_ID_NEUTRAL
 * (0, as masks, prefixes and refusals always had). Held text released
 * later keeps the ids of the tokens it came in, not those of the token
 * being fed: each stream keeps a ring of the tokens whose text is not all
 * released (where each ends, in original bytes, and its id), at most
 * GUARD_TOKENS_MAX; past that the oldest two merge into one neutral
 * entry, which loses ids and never reveals one. On BLOCK the stream
 * stops on this edge: a client receives the guard's refusal text and
 * ABORT (GUARD); an engine receives ABORT (GUARD); the instance that
 * produced the stream is told ABORT (GUARD) for its input so it stops;
 * later fragments are dropped (GUARD_BLOCKED). Nothing that could still
 * be part of a match ever leaves: that is the engine's guarantee.
 *
 * Prefix: the first fragment of each stream the edge carries to an engine
 * is preceded by a fragment holding the guard's instruction text, with
 * sequence 0; the stream's own fragments follow shifted by one.
 */
#include <stddef.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_udp.h>

#include "sl_dp.h"
#include "sl_guard.h"
#include "sl_rtx.h"

/*
 * Released text that did not fit its fragment (held text coming out with
 * a nearly full one, a mask longer than its match) waits here, encoded as
 * tokens, for the stream's next fragment; after END it leaves in one more
 * fragment. It lives right after the stream's engine state.
 */
#define GUARD_CARRY_MAX 1024

/* Pending tokens a stream remembers (see the top). The engine holds at
 * most held_max bytes, so held_max + 2 is never exceeded; this caps the
 * memory of sets with a long holdback. */
#define GUARD_TOKENS_MAX 64

/* A token fed to the engine whose text is not all released yet. */
struct guard_token {
	uint32_t end; /* original offset just past its text, mod 2^32 */
	uint32_t id;
};

struct guard_carry {
	uint16_t len;
	uint16_t n_tokens;
	uint32_t fed;      /* original bytes fed, mod 2^32 */
	uint16_t tok_head; /* ring of pending tokens, in feed order */
	uint16_t tok_n;
	uint16_t tok_cap;
	uint8_t head_touched; /* a mask covered part of the oldest token */
	uint8_t buf[GUARD_CARRY_MAX];
	struct guard_token tok[]; /* tok_cap entries */
};

/* What the engine released for one fragment, as tokens. */
struct sl_guard_out {
	uint8_t buf[SL_WIRE_PAYLOAD_MAX];
	size_t len;
	uint16_t n_tokens;
	bool spill;    /* the fragment is full: the rest goes to the carry */
	bool overflow; /* not even the carry holds it */
	struct guard_carry *carry;
	/* Released bytes from this range (the stream's held text) are
	 * original text; anything else is a mask (the rule's string). */
	const uint8_t *state_lo, *state_hi;
};

static bool
token_put(uint8_t *buf, size_t cap, size_t *used, uint16_t *n, uint32_t id,
	  const void *bytes, size_t len)
{
	uint16_t l16 = rte_cpu_to_be_16((uint16_t)len);
	uint32_t id32 = rte_cpu_to_be_32(id);

	if (*used + SL_WIRE_TOKEN_HDR_LEN + len > cap)
		return false;
	memcpy(buf + *used, &id32, 4);
	memcpy(buf + *used + 4, &l16, 2);
	memcpy(buf + *used + SL_WIRE_TOKEN_HDR_LEN, bytes, len);
	*used += SL_WIRE_TOKEN_HDR_LEN + len;
	(*n)++;
	return true;
}

/* One released token, into the fragment or, once that is full, the
 * carry. */
static void
out_token(struct sl_guard_out *o, uint32_t id, const void *b, size_t len)
{
	size_t used;

	if (!o->spill && token_put(o->buf, sizeof(o->buf), &o->len,
				   &o->n_tokens, id, b, len))
		return;
	o->spill = true;
	if (o->carry == NULL) {
		o->overflow = true;
		return;
	}
	used = o->carry->len;
	if (!token_put(o->carry->buf, sizeof(o->carry->buf), &used,
		       &o->carry->n_tokens, id, b, len))
		o->overflow = true;
	o->carry->len = (uint16_t)used;
}

static inline bool
before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static void
tok_pop(struct guard_carry *c)
{
	c->tok_head = (uint16_t)((c->tok_head + 1) % c->tok_cap);
	c->tok_n--;
	c->head_touched = 0;
}

/* Remember a token about to be fed: @len bytes of text, id @id. */
static void
tok_push(struct guard_carry *c, uint32_t id, uint16_t len)
{
	struct guard_token *t;

	c->fed += len;
	if (c->tok_n == c->tok_cap) {
		/* Not reached while tok_cap >= held_max + 2; otherwise the
		 * two oldest become one entry with the neutral id. */
		c->tok[(c->tok_head + 1) % c->tok_cap].id =
			SL_GUARD_TOKEN_ID_NEUTRAL;
		tok_pop(c);
	}
	t = &c->tok[(c->tok_head + c->tok_n) % c->tok_cap];
	t->end = c->fed;
	t->id = id;
	c->tok_n++;
}

/*
 * The engine released @len bytes standing for original bytes
 * [@off, @off + @orig_len): cut original text at the ends of the tokens
 * it came in, each piece with its token's id when it ends an untouched
 * token; a mask with the neutral id, marking every token it covers.
 */
static void
guard_release(void *ctx, const void *bytes, size_t len, uint64_t off,
	      size_t orig_len)
{
	struct sl_guard_out *o = ctx;
	struct guard_carry *c = o->carry;
	const uint8_t *b = bytes;
	uint32_t from = (uint32_t)off, to = (uint32_t)(off + orig_len);

	if (b < o->state_lo || b >= o->state_hi) {
		/* A mask (len 0: the one before it goes on over more). */
		while (c->tok_n > 0 && before(from, to)) {
			struct guard_token *t = &c->tok[c->tok_head];

			if (before(to, t->end)) {
				c->head_touched = 1;
				break;
			}
			from = t->end;
			tok_pop(c);
		}
		if (len > 0)
			out_token(o, SL_GUARD_TOKEN_ID_NEUTRAL, b, len);
		return;
	}
	while (before(from, to)) {
		const struct guard_token *t = &c->tok[c->tok_head];
		uint32_t end = c->tok_n > 0 && before(t->end, to) ? t->end : to;
		bool whole = c->tok_n > 0 && end == t->end && !c->head_touched;

		out_token(o, whole ? t->id : SL_GUARD_TOKEN_ID_NEUTRAL, b,
			  end - from);
		b += end - from;
		from = end;
		if (c->tok_n > 0 && end == t->end)
			tok_pop(c);
	}
}

/*
 * This worker's scratches (Hyperscan scratch and counters), one per rule
 * set it runs or ran: each entry holds its set. The scratch of a set that
 * the current snapshot no longer names goes once no stream or snapshot
 * holds the set but this entry (@all: every one, at the end).
 */
static void
guard_scratch_reap(struct sl_dp *dp, bool all)
{
	const struct sl_config *cfg = dp->cfg;
	uint8_t kept = 0;

	for (uint8_t i = 0; i < dp->n_guard_sc; i++) {
		struct sl_guard_ref *ref = dp->guard_sc[i].ref;
		bool keep = !all &&
			    __atomic_load_n(&ref->refs, __ATOMIC_ACQUIRE) > 1;

		for (uint16_t g = 0;
		     !all && !keep && cfg != NULL && g < cfg->n_guards; g++)
			keep = cfg->guards[g].ref == ref;
		if (keep) {
			dp->guard_sc[kept++] = dp->guard_sc[i];
			continue;
		}
		sl_guard_scratch_free(dp->guard_sc[i].sc);
		sl_guard_ref_put(ref);
	}
	dp->n_guard_sc = kept;
}

struct sl_guard_scratch *
sl_guard_edge_scratch(const struct sl_dp *dp, const struct sl_guard_ref *ref)
{
	for (uint8_t i = 0; i < dp->n_guard_sc; i++)
		if (dp->guard_sc[i].ref == ref)
			return dp->guard_sc[i].sc;
	return NULL;
}

/* sl_guard_edge_scratch, made (holding @ref) when missing; NULL: no
 * memory, or no room (SL_GUARD_SCRATCH_MAX sets at once). */
static struct sl_guard_scratch *
guard_scratch_make(struct sl_dp *dp, struct sl_guard_ref *ref)
{
	struct sl_guard_scratch *sc = sl_guard_edge_scratch(dp, ref);

	if (sc != NULL)
		return sc;
	if (dp->n_guard_sc == SL_GUARD_SCRATCH_MAX)
		guard_scratch_reap(dp, false);
	if (dp->n_guard_sc == SL_GUARD_SCRATCH_MAX)
		return NULL;
	sc = sl_guard_scratch_alloc(ref->set);
	if (sc == NULL)
		return NULL;
	sl_guard_ref_get(ref);
	dp->guard_sc[dp->n_guard_sc].ref = ref;
	dp->guard_sc[dp->n_guard_sc++].sc = sc;
	return sc;
}

/* Room for the state of rule sets compiled later (runtime edits). */
#define GUARD_STATE_MIN 2048

static unsigned
guard_tokens_cap(const struct sl_guard_set *set)
{
	struct sl_guard_set_info in;

	sl_guard_set_info(set, &in);
	return RTE_MIN(in.held_max + 2, (unsigned)GUARD_TOKENS_MAX);
}

/* A stream's element: engine state, carry, pending-token ring. */
static size_t
guard_elt_size(const struct sl_guard_set *set)
{
	return sl_guard_state_size(set) + sizeof(struct guard_carry) +
	       guard_tokens_cap(set) * sizeof(struct guard_token);
}

/* The element a stream of any of @cfg's guards needs; 0: no rules. */
static size_t
guard_elt_need(const struct sl_config *cfg)
{
	size_t state = 0;

	for (uint16_t g = 0; g < cfg->n_guards; g++) {
		struct sl_guard_ref *r = cfg->guards[g].ref;

		if (r != NULL)
			state = RTE_MAX(state, guard_elt_size(r->set));
	}
	return state == 0 ? 0 : RTE_MAX(state, (size_t)GUARD_STATE_MIN);
}

int
sl_guard_edge_fits(const struct sl_dp *dp, const struct sl_config *next)
{
	if (dp->guard_pool == NULL)
		return 0;
	if (guard_elt_need(next) <= dp->guard_pool->elt_size)
		return 1;
	return dp->n_guard_retired < SL_GUARD_POOLS_RETIRED ? 0 : -EBUSY;
}

void
sl_guard_edge_retire(struct sl_dp *dp, struct rte_mempool *pool)
{
	if (dp->guard_pool != NULL)
		dp->guard_retired[dp->n_guard_retired++] = dp->guard_pool;
	dp->guard_pool = pool;
}

void
sl_guard_edge_reap(struct sl_dp *dp, bool all)
{
	uint8_t kept = 0;

	/* The scratches and the output buffer are the worker's, not a
	 * snapshot's: they go with the worker (@all) or when their set does. */
	guard_scratch_reap(dp, all);
	if (all) {
		rte_free(dp->guard_out);
		dp->guard_out = NULL;
	}

	for (uint8_t i = 0; i < dp->n_guard_retired; i++) {
		struct rte_mempool *p = dp->guard_retired[i];

		if (all || rte_mempool_full(p))
			rte_mempool_free(p);
		else
			dp->guard_retired[kept++] = p;
	}
	dp->n_guard_retired = kept;
}

int
sl_guard_edge_init(struct sl_dp *dp)
{
	const struct sl_config *cfg = dp->cfg;
	size_t state = guard_elt_need(cfg);
	char name[RTE_MEMPOOL_NAMESIZE];
	static unsigned int seq;

	if (dp->guard_out == NULL) {
		dp->guard_out =
			rte_zmalloc("sl_guard_out", sizeof(*dp->guard_out), 0);
		if (dp->guard_out == NULL)
			return -ENOMEM;
	}
	guard_scratch_reap(dp, false);
	for (uint16_t g = 0; g < cfg->n_guards; g++) {
		struct sl_guard_ref *r = cfg->guards[g].ref;

		if (r != NULL && guard_scratch_make(dp, r) == NULL)
			return -ENOMEM;
	}
	if (dp->guard_pool != NULL)
		return 0; /* states of streams in flight live on in it */
	if (state == 0)
		return 0;
	snprintf(name, sizeof(name), "sl_guards_%u", seq++);
	dp->guard_pool = rte_mempool_create(
		name, RTE_MAX(cfg->flow_table_size / 4, 1024u) - 1,
		(unsigned int)state, 0, 0, NULL, NULL, NULL, NULL,
		rte_socket_id(), RTE_MEMPOOL_F_SP_PUT | RTE_MEMPOOL_F_SC_GET);
	return dp->guard_pool != NULL ? 0 : -ENOMEM;
}

void
sl_guard_edge_fini(struct sl_dp *dp)
{
	/* Called once no stream holds a state (sl_dp_fini frees the flow
	 * table first). */
	rte_mempool_free(dp->guard_pool);
	dp->guard_pool = NULL;
}

void
sl_guard_edge_release(struct sl_dp *dp, struct sl_edge_state *es)
{
	/* Back to its own pool: the current one, or one a guard edit
	 * outgrew (sl_guard_edge_retire). */
	(void)dp;
	if (es->guard != NULL)
		rte_mempool_put(rte_mempool_from_obj(es->guard), es->guard);
	es->guard = NULL;
	sl_guard_ref_put(es->guard_ref);
	es->guard_ref = NULL;
}

/* Replace @m's tokens with @o's (header counts, lengths and flags). */
static void
guard_rewrite(struct rte_mbuf *m, struct sl_pkt_meta *pm,
	      const struct sl_guard_out *o, uint8_t flags, uint8_t reason)
{
	uint8_t *hdr = rte_pktmbuf_mtod_offset(m, uint8_t *, pm->hdr_off);
	uint16_t v;

	/* CHILDREN only with END, a count only with CHILDREN (WIRE.md):
	 * a fragment that gives its END to the next, or an ABORT, has
	 * neither. */
	if (!(flags & SL_FRAG_F_END))
		flags &= (uint8_t)~SL_FRAG_F_CHILDREN;
	if (!(flags & SL_FRAG_F_CHILDREN))
		memset(hdr + SL_WIRE_OFF_CHILD_COUNT, 0, 4);
	memcpy(hdr + SL_WIRE_HDR_LEN, o->buf, o->len);
	v = rte_cpu_to_be_16(o->n_tokens);
	memcpy(hdr + SL_WIRE_OFF_TOKEN_COUNT, &v, 2);
	v = rte_cpu_to_be_16((uint16_t)o->len);
	memcpy(hdr + SL_WIRE_OFF_PAYLOAD_LEN, &v, 2);
	hdr[SL_WIRE_OFF_FLAGS] = flags;
	hdr[SL_WIRE_OFF_ABORT] = reason;
	pm->flags = flags;
	pm->dgram_len = (uint16_t)(SL_WIRE_HDR_LEN + o->len);
	m->data_len = (uint16_t)(pm->hdr_off + pm->dgram_len);
	m->pkt_len = m->data_len;
}

/*
 * The instance that produced a blocked stream is told to stop: ABORT
 * (GUARD) named like the stream it produces, straight back to where the
 * stream came from, kept and resent until ACKed like any END.
 */
static void
guard_stop_producer(struct sl_dp *dp, const struct sl_pkt_meta *pm,
		    const uint8_t *hdr)
{
	struct sl_frag_hdr h;
	uint16_t plen;

	memcpy(&plen, hdr + SL_WIRE_OFF_PAYLOAD_LEN, 2);
	if (pm->stage == SL_STAGE_CLIENT ||
	    sl_wire_parse_hdr(hdr, SL_WIRE_HDR_LEN + rte_be_to_cpu_16(plen),
			      &h) != SL_WIRE_OK)
		return;
	/* A stream of its own (seq 0) named like the producer's output,
	 * kept and resent until the producer ACKs it. */
	h.seq = 0;
	sl_dp_send_abort(dp, pm->src_ip, pm->src_port, &h, SL_ABORT_GUARD,
			 true);
}

bool
sl_guard_edge_filter(struct sl_dp *dp, const struct sl_edge_cfg *e,
		     struct sl_edge_state *es, struct rte_mbuf *m,
		     struct rte_mbuf **extra)
{
	const struct sl_guard_cfg *g = &dp->cfg->guards[e->guard - 1];
	struct sl_guard_scratch *scratch;
	struct sl_pkt_meta *pm = sl_pkt_meta(m);
	uint8_t *hdr = rte_pktmbuf_mtod_offset(m, uint8_t *, pm->hdr_off);
	struct sl_guard_out *o = dp->guard_out;
	struct sl_guard_sink sink = {.release = guard_release, .ctx = o};
	enum sl_guard_verdict v = SL_GUARD_VERDICT_PASS;
	struct sl_token_iter it;
	struct sl_token t;
	size_t state_size;

	*extra = NULL;
	if (es->guard_blocked) {
		sl_dp_drop(dp, m, SL_DROP_GUARD_BLOCKED);
		return false;
	}
	if (es->guard == NULL) {
		void *obj;

		/* A stream is filtered to its END by the rules it met first,
		 * whatever later snapshots change. */
		if (g->ref == NULL)
			return true; /* a prefix-only guard */
		state_size = sl_guard_state_size(g->ref->set);
		if (dp->guard_pool == NULL ||
		    guard_elt_size(g->ref->set) > dp->guard_pool->elt_size ||
		    guard_scratch_make(dp, g->ref) == NULL ||
		    rte_mempool_get(dp->guard_pool, &obj) != 0) {
			sl_dp_drop(dp, m, SL_DROP_GUARD_STATE_FULL);
			return false;
		}
		es->guard = sl_guard_stream_init(g->ref->set, obj, state_size);
		o->carry = (struct guard_carry *)((uint8_t *)obj + state_size);
		memset(o->carry, 0, offsetof(struct guard_carry, buf));
		o->carry->tok_cap = (uint16_t)guard_tokens_cap(g->ref->set);
		es->guard_ref = g->ref;
		sl_guard_ref_get(es->guard_ref);
	}
	state_size = sl_guard_state_size(es->guard_ref->set);
	scratch = sl_guard_edge_scratch(dp, es->guard_ref);
	o->carry = (struct guard_carry *)((uint8_t *)es->guard + state_size);
	o->state_lo = (const uint8_t *)es->guard;
	o->state_hi = o->state_lo + state_size;
	o->len = 0;
	o->n_tokens = 0;
	o->spill = false;
	o->overflow = false;
	/* What the last fragment could not hold goes first. */
	if (o->carry->len != 0) {
		memcpy(o->buf, o->carry->buf, o->carry->len);
		o->len = o->carry->len;
		o->n_tokens = o->carry->n_tokens;
		o->carry->len = 0;
		o->carry->n_tokens = 0;
	}
	sl_token_iter_init(&it, hdr + SL_WIRE_HDR_LEN,
			   pm->dgram_len - SL_WIRE_HDR_LEN);
	while (v == SL_GUARD_VERDICT_PASS && sl_token_next(&it, &t)) {
		if (t.len == 0)
			continue;
		tok_push(o->carry, t.id, t.len);
		v = sl_guard_feed(es->guard, scratch, t.text, t.len, &sink);
	}
	if (v == SL_GUARD_VERDICT_PASS && (pm->flags & SL_FRAG_F_END))
		v = sl_guard_finish(es->guard, scratch, &sink);
	if (v == SL_GUARD_VERDICT_PASS && !o->overflow) {
		const uint8_t in_flags = pm->flags;
		uint8_t flags = in_flags;

		/* After END the carry leaves in one more fragment, which
		 * takes the END over. */
		if ((flags & SL_FRAG_F_END) && o->carry->len != 0) {
			*extra = rte_pktmbuf_copy(m, dp->pool, 0, UINT32_MAX);
			if (*extra == NULL) {
				dp->cnt.drops[SL_DROP_NO_MBUF]++;
				goto blocked;
			}
			flags &= (uint8_t)~SL_FRAG_F_END;
		}
		guard_rewrite(m, pm, o, flags, hdr[SL_WIRE_OFF_ABORT]);
		if (*extra != NULL) {
			struct sl_pkt_meta *xm = sl_pkt_meta(*extra);
			uint8_t *xh = rte_pktmbuf_mtod_offset(*extra, uint8_t *,
							      xm->hdr_off);
			uint32_t seq = rte_cpu_to_be_32(pm->seq + 1);

			o->len = o->carry->len;
			o->n_tokens = o->carry->n_tokens;
			memcpy(o->buf, o->carry->buf, o->len);
			o->carry->len = 0;
			o->carry->n_tokens = 0;
			memcpy(xh + SL_WIRE_OFF_SEQ, &seq, 4);
			xm->seq = pm->seq + 1;
			/* The END (and what goes with it) as it came:
			 * pm->flags lost it above. */
			guard_rewrite(*extra, xm, o, in_flags,
				      xh[SL_WIRE_OFF_ABORT]);
		}
		return true;
	}
blocked:
	/* Blocked (or released more than a fragment holds: never pass
	 * what cannot be checked whole). */
	es->guard_blocked = 1;
	dp->cnt.guard_blocks++;
	guard_stop_producer(dp, pm, hdr);
	o->len = 0;
	o->n_tokens = 0;
	if (e->to == SL_STAGE_CLIENT)
		token_put(o->buf, sizeof(o->buf), &o->len, &o->n_tokens,
			  SL_GUARD_TOKEN_ID_NEUTRAL, g->refusal,
			  strlen(g->refusal));
	guard_rewrite(m, pm, o, SL_FRAG_F_ABORT, SL_ABORT_GUARD);
	return true;
}

struct rte_mbuf *
sl_guard_edge_prefix(struct sl_dp *dp, const struct sl_edge_cfg *e,
		     struct sl_edge_state *es, struct rte_mbuf *m)
{
	const struct sl_guard_cfg *g = &dp->cfg->guards[e->guard - 1];
	struct sl_pkt_meta *pm = sl_pkt_meta(m);
	uint8_t *hdr = rte_pktmbuf_mtod_offset(m, uint8_t *, pm->hdr_off);
	struct sl_pkt_meta *ppm;
	struct rte_mbuf *p;
	uint32_t seq;
	size_t len;

	if (g->prefix[0] == '\0' || e->to == SL_STAGE_CLIENT)
		return NULL;
	/* Decided at the stream's first fragment: 1 sent, 2 could not be. */
	if (es->prefix_sent == 0) {
		p = rte_pktmbuf_alloc(dp->pool);
		es->prefix_sent = p != NULL ? 1 : 2;
		if (p == NULL)
			dp->cnt.drops[SL_DROP_NO_MBUF]++;
	} else {
		p = NULL;
	}
	if (es->prefix_sent == 2)
		return NULL;
	/* The stream's own fragments move one sequence number on. */
	seq = rte_cpu_to_be_32(pm->seq + 1);
	memcpy(hdr + SL_WIRE_OFF_SEQ, &seq, 4);
	pm->seq++;
	if (p == NULL)
		return NULL;
	len = strlen(g->prefix);
	{
		void *d = rte_pktmbuf_append(p, pm->hdr_off + SL_WIRE_HDR_LEN +
							SL_WIRE_TOKEN_HDR_LEN +
							len);

		if (d == NULL) {
			rte_pktmbuf_free(p);
			return NULL;
		}
		memcpy(d, rte_pktmbuf_mtod(m, void *),
		       pm->hdr_off + SL_WIRE_HDR_LEN);
	}
	ppm = sl_pkt_meta(p);
	*ppm = *pm;
	ppm->seq = 0;
	ppm->flags = 0;
	{
		uint8_t *ph =
			rte_pktmbuf_mtod_offset(p, uint8_t *, pm->hdr_off);
		uint16_t v16 = rte_cpu_to_be_16(1);
		uint32_t v32 = 0,
			 id = rte_cpu_to_be_32(SL_GUARD_TOKEN_ID_NEUTRAL);

		ph[SL_WIRE_OFF_FLAGS] = 0;
		ph[SL_WIRE_OFF_ABORT] = 0;
		memcpy(ph + SL_WIRE_OFF_SEQ, &v32, 4);
		/* A plain fragment: no count of children or anything. */
		memcpy(ph + SL_WIRE_OFF_CHILD_COUNT, &v32, 4);
		memcpy(ph + SL_WIRE_OFF_TOKEN_COUNT, &v16, 2);
		v16 = rte_cpu_to_be_16((uint16_t)(SL_WIRE_TOKEN_HDR_LEN + len));
		memcpy(ph + SL_WIRE_OFF_PAYLOAD_LEN, &v16, 2);
		memcpy(ph + SL_WIRE_HDR_LEN, &id, 4);
		v16 = rte_cpu_to_be_16((uint16_t)len);
		memcpy(ph + SL_WIRE_HDR_LEN + 4, &v16, 2);
		memcpy(ph + SL_WIRE_HDR_LEN + SL_WIRE_TOKEN_HDR_LEN, g->prefix,
		       len);
		ppm->dgram_len = (uint16_t)(SL_WIRE_HDR_LEN +
					    SL_WIRE_TOKEN_HDR_LEN + len);
	}
	return p;
}
