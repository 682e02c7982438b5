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
 * engine's final check runs and the rest is flushed. On BLOCK the stream
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
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_udp.h>

#include "sl_dp.h"
#include "sl_guard.h"

/*
 * Released text that did not fit its fragment (held text coming out with
 * a nearly full one, a mask longer than its match) waits here, encoded as
 * tokens, for the stream's next fragment; after END it leaves in one more
 * fragment. It lives right after the stream's engine state.
 */
#define GUARD_CARRY_MAX 1024

struct guard_carry {
	uint16_t len;
	uint16_t n_tokens;
	uint32_t last_id; /* the stream's last token id: held text's at END */
	uint8_t buf[GUARD_CARRY_MAX];
};

/* What the engine released for one fragment, as tokens. */
struct guard_out {
	uint8_t buf[SL_WIRE_PAYLOAD_MAX];
	size_t len;
	uint16_t n_tokens;
	uint32_t id;   /* id of the token being fed */
	bool spill;    /* the fragment is full: the rest goes to the carry */
	bool overflow; /* not even the carry holds it */
	struct guard_carry *carry;
	/* Released bytes from these ranges are original text; anything
	 * else is a mask (the engine's rule strings). */
	const uint8_t *text_lo, *text_hi;
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

static void
guard_release(void *ctx, const void *bytes, size_t len, uint64_t off,
	      size_t orig_len)
{
	struct guard_out *o = ctx;
	const uint8_t *b = bytes;
	bool original = (b >= o->text_lo && b < o->text_hi) ||
			(b >= o->state_lo && b < o->state_hi);
	/* A mask stands for the span it replaces: id 0 marks it. */
	uint32_t id = original ? o->id : 0;
	size_t used;

	(void)off;
	(void)orig_len;
	if (len == 0)
		return;
	if (!o->spill &&
	    token_put(o->buf, sizeof(o->buf), &o->len, &o->n_tokens, id, b, len))
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

/* A rule set's scratch for this (the only) worker, made at first use. */
static struct sl_guard_scratch *
guard_scratch(struct sl_guard_ref *ref)
{
	if (ref->scratch == NULL)
		ref->scratch = sl_guard_scratch_alloc(ref->set);
	return ref->scratch;
}

/* Room for the state of rule sets compiled later (runtime edits). */
#define GUARD_STATE_MIN 2048

int
sl_guard_edge_init(struct sl_dp *dp)
{
	const struct sl_config *cfg = dp->cfg;
	size_t state = 0;
	char name[RTE_MEMPOOL_NAMESIZE];
	static unsigned int seq;

	if (dp->guard_pool != NULL)
		return 0; /* states of streams in flight live on in it */
	for (uint16_t g = 0; g < cfg->n_guards; g++) {
		struct sl_guard_ref *r = cfg->guards[g].ref;

		if (r == NULL)
			continue;
		if (guard_scratch(r) == NULL)
			return -ENOMEM;
		state = RTE_MAX(state, sl_guard_state_size(r->set) +
					       sizeof(struct guard_carry));
	}
	if (state == 0)
		return 0;
	state = RTE_MAX(state, (size_t)GUARD_STATE_MIN);
	snprintf(name, sizeof(name), "sl_guards_%u", seq++);
	dp->guard_pool = rte_mempool_create(name,
		RTE_MAX(cfg->flow_table_size / 4, 1024u) - 1,
		(unsigned int)state, 0, 0, NULL, NULL, NULL, NULL,
		rte_socket_id(), RTE_MEMPOOL_F_SP_PUT | RTE_MEMPOOL_F_SC_GET);
	return dp->guard_pool != NULL ? 0 : -ENOMEM;
}

void
sl_guard_edge_fini(struct sl_dp *dp)
{
	/* Called once no stream holds a state (sl_dp_fini frees the flow
	 * table first); the rule sets' scratches go with the sets. */
	rte_mempool_free(dp->guard_pool);
	dp->guard_pool = NULL;
}

void
sl_guard_edge_release(struct sl_dp *dp, struct sl_edge_state *es)
{
	if (es->guard != NULL && dp->guard_pool != NULL)
		rte_mempool_put(dp->guard_pool, es->guard);
	es->guard = NULL;
	sl_guard_ref_put(es->guard_ref);
	es->guard_ref = NULL;
}

/* Replace @m's tokens with @o's (header counts, lengths and flags). */
static void
guard_rewrite(struct rte_mbuf *m, struct sl_pkt_meta *pm,
	      const struct guard_out *o, uint8_t flags, uint8_t reason)
{
	uint8_t *hdr = rte_pktmbuf_mtod_offset(m, uint8_t *, pm->hdr_off);
	uint16_t v;

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
 * (GUARD) for its input stream, straight back to where the stream came
 * from (best effort: no route pin, no retry).
 */
static void
guard_stop_producer(struct sl_dp *dp, const struct sl_pkt_meta *pm,
		    const uint8_t *hdr)
{
	const struct rte_ether_addr *mac =
		sl_neigh_lookup(&dp->neigh, pm->src_ip);
	struct rte_ether_hdr *eth;
	struct rte_ipv4_hdr *ip;
	struct rte_udp_hdr *udp;
	struct rte_mbuf *m;
	uint8_t *h;

	if (pm->stage == SL_STAGE_CLIENT || mac == NULL)
		return;
	m = rte_pktmbuf_alloc(dp->pool);
	if (m == NULL)
		return;
	eth = (struct rte_ether_hdr *)rte_pktmbuf_append(
		m, SL_WIRE_FRAME_HDR_OFF + SL_WIRE_HDR_LEN);
	if (eth == NULL) {
		rte_pktmbuf_free(m);
		return;
	}
	ip = (struct rte_ipv4_hdr *)(eth + 1);
	udp = (struct rte_udp_hdr *)(ip + 1);
	h = (uint8_t *)(udp + 1);
	memcpy(h, hdr, SL_WIRE_HDR_LEN);
	h[SL_WIRE_OFF_FLAGS] = SL_FRAG_F_ABORT;
	h[SL_WIRE_OFF_ABORT] = SL_ABORT_GUARD;
	memset(h + SL_WIRE_OFF_TOKEN_COUNT, 0, 2);
	memset(h + SL_WIRE_OFF_PAYLOAD_LEN, 0, 2);
	rte_ether_addr_copy(mac, &eth->dst_addr);
	rte_ether_addr_copy(&dp->mac, &eth->src_addr);
	eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV4);
	memset(ip, 0, sizeof(*ip));
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16(sizeof(*ip) + sizeof(*udp) +
					    SL_WIRE_HDR_LEN);
	ip->fragment_offset = RTE_BE16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->src_addr = rte_cpu_to_be_32(dp->cfg->listen.ip);
	ip->dst_addr = rte_cpu_to_be_32(pm->src_ip);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	udp->src_port = rte_cpu_to_be_16(dp->cfg->listen.port);
	udp->dst_port = rte_cpu_to_be_16(pm->src_port);
	udp->dgram_len = rte_cpu_to_be_16(sizeof(*udp) + SL_WIRE_HDR_LEN);
	udp->dgram_cksum = 0;
	sl_dp_ctrl_tx(dp, m);
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
	static struct guard_out o; /* one worker; reused per fragment */
	struct sl_guard_sink sink = {.release = guard_release, .ctx = &o};
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
		    state_size + sizeof(struct guard_carry) >
			    dp->guard_pool->elt_size ||
		    guard_scratch(g->ref) == NULL ||
		    rte_mempool_get(dp->guard_pool, &obj) != 0) {
			sl_dp_drop(dp, m, SL_DROP_GUARD_STATE_FULL);
			return false;
		}
		es->guard = sl_guard_stream_init(g->ref->set, obj, state_size);
		memset((uint8_t *)obj + state_size, 0,
		       offsetof(struct guard_carry, buf));
		es->guard_ref = g->ref;
		sl_guard_ref_get(es->guard_ref);
	}
	state_size = sl_guard_state_size(es->guard_ref->set);
	scratch = es->guard_ref->scratch;
	o.carry = (struct guard_carry *)((uint8_t *)es->guard + state_size);
	o.state_lo = (const uint8_t *)es->guard;
	o.state_hi = o.state_lo + state_size;
	o.len = 0;
	o.n_tokens = 0;
	o.spill = false;
	o.overflow = false;
	/* What the last fragment could not hold goes first. */
	if (o.carry->len != 0) {
		memcpy(o.buf, o.carry->buf, o.carry->len);
		o.len = o.carry->len;
		o.n_tokens = o.carry->n_tokens;
		o.carry->len = 0;
		o.carry->n_tokens = 0;
	}
	sl_token_iter_init(&it, hdr + SL_WIRE_HDR_LEN,
			   pm->dgram_len - SL_WIRE_HDR_LEN);
	while (v == SL_GUARD_VERDICT_PASS && sl_token_next(&it, &t)) {
		o.id = t.id;
		o.carry->last_id = t.id;
		o.text_lo = (const uint8_t *)t.text;
		o.text_hi = o.text_lo + t.len;
		v = sl_guard_feed(es->guard, scratch, t.text, t.len, &sink);
	}
	/* Text still held comes out under the stream's last token id. */
	o.id = o.carry->last_id;
	o.text_lo = o.text_hi = NULL;
	if (v == SL_GUARD_VERDICT_PASS && (pm->flags & SL_FRAG_F_END))
		v = sl_guard_finish(es->guard, scratch, &sink);
	if (v == SL_GUARD_VERDICT_PASS && !o.overflow) {
		uint8_t flags = pm->flags;

		/* After END the carry leaves in one more fragment, which
		 * takes the END over. */
		if ((flags & SL_FRAG_F_END) && o.carry->len != 0) {
			*extra = rte_pktmbuf_copy(m, dp->pool, 0, UINT32_MAX);
			if (*extra == NULL) {
				dp->cnt.drops[SL_DROP_NO_MBUF]++;
				goto blocked;
			}
			flags &= (uint8_t)~SL_FRAG_F_END;
		}
		guard_rewrite(m, pm, &o, flags, hdr[SL_WIRE_OFF_ABORT]);
		if (*extra != NULL) {
			struct sl_pkt_meta *xm = sl_pkt_meta(*extra);
			uint8_t *xh = rte_pktmbuf_mtod_offset(
				*extra, uint8_t *, xm->hdr_off);
			uint32_t seq = rte_cpu_to_be_32(pm->seq + 1);

			o.len = o.carry->len;
			o.n_tokens = o.carry->n_tokens;
			memcpy(o.buf, o.carry->buf, o.len);
			o.carry->len = 0;
			o.carry->n_tokens = 0;
			memcpy(xh + SL_WIRE_OFF_SEQ, &seq, 4);
			xm->seq = pm->seq + 1;
			guard_rewrite(*extra, xm, &o, pm->flags,
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
	o.len = 0;
	o.n_tokens = 0;
	if (e->to == SL_STAGE_CLIENT)
		token_put(o.buf, sizeof(o.buf), &o.len, &o.n_tokens, 0,
			  g->refusal, strlen(g->refusal));
	guard_rewrite(m, pm, &o, SL_FRAG_F_ABORT, SL_ABORT_GUARD);
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
						     SL_WIRE_TOKEN_HDR_LEN + len);

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
		uint8_t *ph = rte_pktmbuf_mtod_offset(p, uint8_t *,
						      pm->hdr_off);
		uint16_t v16 = rte_cpu_to_be_16(1);
		uint32_t v32 = 0;

		ph[SL_WIRE_OFF_FLAGS] = 0;
		ph[SL_WIRE_OFF_ABORT] = 0;
		memcpy(ph + SL_WIRE_OFF_SEQ, &v32, 4);
		memcpy(ph + SL_WIRE_OFF_TOKEN_COUNT, &v16, 2);
		v16 = rte_cpu_to_be_16((uint16_t)(SL_WIRE_TOKEN_HDR_LEN + len));
		memcpy(ph + SL_WIRE_OFF_PAYLOAD_LEN, &v16, 2);
		memcpy(ph + SL_WIRE_HDR_LEN, &v32, 4); /* token id 0 */
		v16 = rte_cpu_to_be_16((uint16_t)len);
		memcpy(ph + SL_WIRE_HDR_LEN + 4, &v16, 2);
		memcpy(ph + SL_WIRE_HDR_LEN + SL_WIRE_TOKEN_HDR_LEN, g->prefix,
		       len);
		ppm->dgram_len =
			(uint16_t)(SL_WIRE_HDR_LEN + SL_WIRE_TOKEN_HDR_LEN + len);
	}
	return p;
}
