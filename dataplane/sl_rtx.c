/* SPDX-License-Identifier: MIT */
/*
 * sl_rtx.c - loss repair on every hop, sluiced's side (see sl_rtx.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_udp.h>

#include "sl_dp.h"
#include "sl_rtx.h"

#define SL_FLOW_KEY_RTX 4 /* sl_flow_key.zero of an outgoing stream */

/*
 * One outgoing stream. copy[s % SL_RTX_WINDOW] holds the fragment with
 * sequence s for base <= s < next (NULL where it was evicted or never
 * kept). Entries whose END or ABORT waits for its ACK are linked on the
 * pending list.
 */
struct rtx_entry {
	struct sl_flow_key key;
	uint64_t due_tsc;   /* next END resend */
	uint64_t last_tsc;  /* last fragment kept or resent */
	uint32_t gen;
	uint32_t base;
	uint32_t next;
	uint32_t end_seq;   /* END/ABORT sent at this seq; UINT32_MAX */
	uint32_t prev;      /* pending list */
	uint32_t next_pending;
	uint8_t used;
	uint8_t tries;
	uint8_t pending;
	uint8_t retain; /* an idempotent stage's: kept past the ACK */
	struct rte_mbuf *copy[SL_RTX_WINDOW];
};

/* A copy in the order kept: what the global bound evicts first. */
struct rtx_order {
	uint32_t idx;
	uint32_t gen;
	uint32_t seq;
};

struct sl_rtx {
	struct rte_hash *hash;
	struct rtx_entry *e;
	uint32_t capacity;
	/* Entries waiting for an ACK, one FIFO per number of resends so
	 * far: the wait is the same for all of one list, so each is in the
	 * order its entries fall due. */
	uint32_t pending_head[SL_RTX_TRIES + 1];
	uint32_t pending_tail[SL_RTX_TRIES + 1];
	uint32_t sweep;        /* idle sweep cursor */
	uint32_t copies;       /* live copies */
	uint32_t copies_max;
	struct rtx_order *order; /* ring of copies_max records */
	uint32_t order_head;
	uint32_t order_count;
};

static uint32_t
rtx_hash_func(const void *key, uint32_t key_len, uint32_t init_val)
{
	RTE_SET_USED(key_len);
	RTE_SET_USED(init_val);
	return sl_flow_hash(key);
}

int
sl_rtx_init(struct sl_dp *dp)
{
	static unsigned int seq;
	char name[RTE_HASH_NAMESIZE];
	struct sl_rtx *rt;
	uint32_t size = RTE_MIN(RTE_MAX(dp->cfg->flow_table_size / 4, 1024u),
				65536u);
	uint32_t pool = dp->pool != NULL ? dp->pool->size : 4096;

	rt = rte_zmalloc("sl_rtx", sizeof(*rt), 0);
	if (rt == NULL)
		return -ENOMEM;
	snprintf(name, sizeof(name), "sl_rtx_%u", seq++);
	struct rte_hash_parameters hp = {
		.name = name,
		.entries = size,
		.key_len = sizeof(struct sl_flow_key),
		.hash_func = rtx_hash_func,
		.socket_id = rte_socket_id(),
		.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE,
	};
	rt->hash = rte_hash_create(&hp);
	if (rt->hash == NULL)
		goto fail;
	rt->capacity = (uint32_t)rte_hash_max_key_id(rt->hash) + 1;
	rt->e = rte_zmalloc("sl_rtx_entries", sizeof(*rt->e) * rt->capacity,
			    RTE_CACHE_LINE_SIZE);
	rt->copies_max = RTE_MAX(pool / 4, 16u);
	rt->order = rte_zmalloc("sl_rtx_order",
				sizeof(*rt->order) * rt->copies_max, 0);
	if (rt->e == NULL || rt->order == NULL)
		goto fail;
	for (unsigned int l = 0; l <= SL_RTX_TRIES; l++)
		rt->pending_head[l] = rt->pending_tail[l] = SL_RTX_NONE;
	dp->rtx = rt;
	return 0;
fail:
	rte_free(rt->order);
	rte_free(rt->e);
	rte_hash_free(rt->hash);
	rte_free(rt);
	return -ENOMEM;
}

static void
rtx_pending_unlink(struct sl_rtx *rt, uint32_t i)
{
	struct rtx_entry *e = &rt->e[i];

	if (!e->pending)
		return;
	if (e->prev != SL_RTX_NONE)
		rt->e[e->prev].next_pending = e->next_pending;
	else
		rt->pending_head[e->tries] = e->next_pending;
	if (e->next_pending != SL_RTX_NONE)
		rt->e[e->next_pending].prev = e->prev;
	else
		rt->pending_tail[e->tries] = e->prev;
	e->pending = 0;
}

/* Wait for the ACK of entry @i after @tries resends. */
static void
rtx_pending_append(struct sl_dp *dp, uint32_t i, uint8_t tries)
{
	struct sl_rtx *rt = dp->rtx;
	struct rtx_entry *e = &rt->e[i];

	rtx_pending_unlink(rt, i);
	e->tries = tries;
	e->due_tsc = dp->now + (dp->tsc_hz / 1000 * SL_RTX_RTO_MS << tries);
	e->prev = rt->pending_tail[tries];
	e->next_pending = SL_RTX_NONE;
	if (rt->pending_tail[tries] != SL_RTX_NONE)
		rt->e[rt->pending_tail[tries]].next_pending = i;
	else
		rt->pending_head[tries] = i;
	rt->pending_tail[tries] = i;
	e->pending = 1;
}

static void
rtx_drop_copy(struct sl_rtx *rt, struct rtx_entry *e, uint32_t slot)
{
	if (e->copy[slot] != NULL) {
		rte_pktmbuf_free(e->copy[slot]);
		e->copy[slot] = NULL;
		rt->copies--;
	}
}

static void
rtx_remove(struct sl_rtx *rt, uint32_t i)
{
	struct rtx_entry *e = &rt->e[i];

	if (!e->used)
		return;
	rtx_pending_unlink(rt, i);
	for (uint32_t s = 0; s < SL_RTX_WINDOW; s++)
		rtx_drop_copy(rt, e, s);
	rte_hash_del_key(rt->hash, &e->key);
	e->used = 0;
	e->gen++;
}

void
sl_rtx_fini(struct sl_dp *dp)
{
	struct sl_rtx *rt = dp->rtx;

	if (rt == NULL)
		return;
	for (uint32_t i = 0; i < rt->capacity; i++)
		rtx_remove(rt, i);
	rte_free(rt->order);
	rte_free(rt->e);
	rte_hash_free(rt->hash);
	rte_free(rt);
	dp->rtx = NULL;
}

/* The sluice header of a frame sluiced built or rewrote. */
static inline uint8_t *
rtx_hdr(struct rte_mbuf *m)
{
	return rte_pktmbuf_mtod_offset(m, uint8_t *, SL_WIRE_FRAME_HDR_OFF);
}

static inline uint32_t
rtx_seq_of(struct rte_mbuf *m)
{
	uint32_t v;

	memcpy(&v, rtx_hdr(m) + SL_WIRE_OFF_SEQ, 4);
	return rte_be_to_cpu_32(v);
}

/* The key of the stream a rewritten frame (to @ip:@port) belongs to. */
static void
rtx_key_of_frame(struct sl_flow_key *k, struct rte_mbuf *m, uint32_t ip,
		 uint16_t port)
{
	const uint8_t *hdr = rtx_hdr(m);
	uint8_t depth = RTE_MIN(hdr[SL_WIRE_OFF_DEPTH],
				(uint8_t)SL_ANCESTRY_MAX);

	memset(k, 0, sizeof(*k));
	memcpy(&k->pipeline, hdr + SL_WIRE_OFF_PIPELINE, 4);
	memcpy(&k->stage, hdr + SL_WIRE_OFF_STAGE, 2);
	memcpy(&k->tenant, hdr + SL_WIRE_OFF_FROM_STAGE, 2);
	k->depth = depth;
	k->zero = SL_FLOW_KEY_RTX;
	k->src_ip = ip;
	k->src_port = port;
	memcpy(k->ancestry, hdr + SL_WIRE_OFF_ANCESTRY, 8u * depth);
}

/* The key a NACK or ACK from @ip:@port names. */
static void
rtx_key_of_hdr(struct sl_flow_key *k, const struct sl_frag_hdr *h,
	       uint32_t ip, uint16_t port)
{
	memset(k, 0, sizeof(*k));
	k->pipeline = rte_cpu_to_be_32(h->pipeline);
	k->stage = rte_cpu_to_be_16(h->stage);
	k->tenant = rte_cpu_to_be_16(h->from_stage);
	k->depth = h->depth;
	k->zero = SL_FLOW_KEY_RTX;
	k->src_ip = ip;
	k->src_port = port;
	for (uint8_t i = 0; i < h->depth && i < SL_ANCESTRY_MAX; i++)
		k->ancestry[i] = rte_cpu_to_be_64(h->ancestry[i]);
}

static uint32_t
rtx_entry_get(struct sl_dp *dp, const struct sl_flow_key *k)
{
	struct sl_rtx *rt = dp->rtx;
	struct rtx_entry *e;
	int32_t pos = rte_hash_add_key(rt->hash, k);

	if (pos < 0)
		return SL_RTX_NONE;
	e = &rt->e[pos];
	if (!e->used) {
		uint32_t gen = e->gen;

		memset(e, 0, offsetof(struct rtx_entry, copy));
		e->gen = gen;
		e->key = *k;
		e->used = 1;
		e->end_seq = UINT32_MAX;
		e->prev = e->next_pending = SL_RTX_NONE;
	}
	return (uint32_t)pos;
}

/* Over the global bound: the oldest copies go, whoever they belong to. */
static void
rtx_make_room(struct sl_dp *dp)
{
	struct sl_rtx *rt = dp->rtx;

	while (rt->order_count != 0 &&
	       (rt->copies >= rt->copies_max ||
		rt->order_count == rt->copies_max)) {
		const struct rtx_order *o = &rt->order[rt->order_head];
		struct rtx_entry *e = &rt->e[o->idx];
		uint32_t slot = o->seq % SL_RTX_WINDOW;

		if (e->used && e->gen == o->gen && e->copy[slot] != NULL &&
		    rtx_seq_of(e->copy[slot]) == o->seq) {
			rtx_drop_copy(rt, e, slot);
			dp->cnt.rtx.evicted++;
		}
		if (++rt->order_head == rt->copies_max)
			rt->order_head = 0;
		rt->order_count--;
	}
}

void
sl_rtx_keep(struct sl_dp *dp, struct sl_route_pin *pin, struct rte_mbuf *m,
	    bool retain)
{
	struct sl_rtx *rt = dp->rtx;
	struct rtx_entry *e;
	uint32_t i = SL_RTX_NONE, seq, slot;
	uint8_t flags;

	if (unlikely(rt == NULL))
		return;
	if (pin != NULL && pin->rtx != SL_RTX_NONE &&
	    rt->e[pin->rtx].used && rt->e[pin->rtx].gen == pin->rtx_gen) {
		i = pin->rtx;
	} else {
		struct sl_flow_key k;
		uint32_t ip;
		uint16_t port;
		const struct rte_ipv4_hdr *iph = rte_pktmbuf_mtod_offset(
			m, const struct rte_ipv4_hdr *, SL_ETHER_HDR_LEN);
		const struct rte_udp_hdr *udp =
			(const struct rte_udp_hdr *)(iph + 1);

		ip = rte_be_to_cpu_32(iph->dst_addr);
		port = rte_be_to_cpu_16(udp->dst_port);
		rtx_key_of_frame(&k, m, ip, port);
		i = rtx_entry_get(dp, &k);
		if (i == SL_RTX_NONE) {
			dp->cnt.rtx.untracked++;
			return;
		}
		if (pin != NULL) {
			pin->rtx = i;
			pin->rtx_gen = rt->e[i].gen;
		}
	}
	e = &rt->e[i];
	seq = rtx_seq_of(m);
	flags = rtx_hdr(m)[SL_WIRE_OFF_FLAGS];
	e->last_tsc = dp->now;
	e->retain |= retain;
	if (e->end_seq != UINT32_MAX && seq > e->end_seq)
		return; /* nothing follows an END */
	if (e->base == e->next) {
		e->base = seq;
		e->next = seq;
	}
	if (seq < e->base)
		return; /* older than the window: not kept */
	while (seq - e->base >= SL_RTX_WINDOW) {
		rtx_drop_copy(rt, e, e->base % SL_RTX_WINDOW);
		e->base++;
	}
	slot = seq % SL_RTX_WINDOW;
	rtx_drop_copy(rt, e, slot);
	rtx_make_room(dp);
	rte_mbuf_refcnt_update(m, 1);
	e->copy[slot] = m;
	rt->copies++;
	dp->cnt.rtx.kept++;
	{
		uint32_t t = rt->order_head + rt->order_count;

		if (t >= rt->copies_max)
			t -= rt->copies_max;
		rt->order[t] = (struct rtx_order){i, e->gen, seq};
		rt->order_count++;
	}
	if (seq >= e->next)
		e->next = seq + 1;
	if (flags & (SL_FRAG_F_END | SL_FRAG_F_ABORT)) {
		e->end_seq = seq;
		rtx_pending_append(dp, i, 0);
	}
}

/* Queue a kept copy for sending again, its MAC brought up to date. */
static bool
rtx_resend(struct sl_dp *dp, struct rtx_entry *e, uint32_t slot)
{
	struct rte_mbuf *m = e->copy[slot];
	const struct rte_ether_addr *mac;
	struct rte_ether_hdr *eth;

	if (dp->n_ctrl == SL_CTRL_TX_MAX) {
		dp->cnt.rtx.ctrl_full++;
		return false;
	}
	mac = sl_neigh_lookup(&dp->neigh, e->key.src_ip);
	if (mac == NULL) {
		sl_arp_solicit(dp, e->key.src_ip);
		return false;
	}
	eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	if (!rte_is_same_ether_addr(&eth->dst_addr, mac)) {
		/* The PMD may still hold the first send: change a copy. */
		if (rte_mbuf_refcnt_read(m) > 1) {
			struct rte_mbuf *c = rte_pktmbuf_copy(m, dp->pool, 0,
							      UINT32_MAX);

			if (c == NULL) {
				dp->cnt.drops[SL_DROP_NO_MBUF]++;
				return false;
			}
			rte_pktmbuf_free(m);
			e->copy[slot] = m = c;
			eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
		}
		rte_ether_addr_copy(mac, &eth->dst_addr);
	}
	rte_mbuf_refcnt_update(m, 1);
	dp->ctrl[dp->n_ctrl++] = m;
	e->last_tsc = dp->now;
	return true;
}

/* A NACK for [seq, seq + count) of entry @e. */
static void
rtx_on_nack(struct sl_dp *dp, struct rtx_entry *e, const struct sl_frag_hdr *h)
{
	uint32_t from = h->seq, count = h->child_count ? h->child_count : 1;
	uint32_t to = from + count;

	if (to < from || to > e->next)
		to = e->next; /* nothing beyond what was sent */
	if (from >= to)
		return;
	if (from < e->base ||
	    e->copy[from % SL_RTX_WINDOW] == NULL ||
	    rtx_seq_of(e->copy[from % SL_RTX_WINDOW]) != from) {
		/* Gone: the stream ends at the receiver, explicitly. */
		struct sl_frag_hdr a = *h;

		a.seq = from;
		a.flags = 0;
		a.child_count = 0;
		a.token_count = 0;
		a.payload_len = 0;
		if (sl_dp_send_abort(dp, e->key.src_ip, e->key.src_port, &a,
				     SL_ABORT_LOST, true) == 0)
			dp->cnt.rtx.lost_aborts++;
		return;
	}
	for (uint32_t s = from; s < to; s++) {
		uint32_t slot = s % SL_RTX_WINDOW;

		if (e->copy[slot] == NULL || rtx_seq_of(e->copy[slot]) != s)
			continue;
		if (!rtx_resend(dp, e, slot))
			break;
		dp->cnt.rtx.resent++;
	}
}

void
sl_rtx_input(struct sl_dp *dp, const struct sl_frag_hdr *h, uint32_t src_ip,
	     uint16_t src_port)
{
	struct sl_rtx *rt = dp->rtx;
	struct sl_flow_key k;
	int32_t pos;

	if (h->flags & SL_FRAG_F_NACK)
		dp->cnt.rtx.nacks_rx++;
	else
		dp->cnt.rtx.acks_rx++;
	if (rt == NULL) {
		dp->cnt.drops[SL_DROP_UNSOLICITED]++;
		return;
	}
	rtx_key_of_hdr(&k, h, src_ip, src_port);
	pos = rte_hash_lookup(rt->hash, &k);
	if (pos < 0 || !rt->e[pos].used) {
		/* An ACK for a stream forgotten (gave up, or a refusal that
		 * was never kept) is late, not wrong; a NACK is unsolicited. */
		if (h->flags & SL_FRAG_F_ACK)
			dp->cnt.rtx.acks_stale++;
		else
			dp->cnt.drops[SL_DROP_UNSOLICITED]++;
		return;
	}
	if (h->flags & SL_FRAG_F_NACK) {
		rtx_on_nack(dp, &rt->e[pos], h);
		return;
	}
	if (rt->e[pos].end_seq != h->seq)
		return;
	if (rt->e[pos].retain)
		/* Delivered; kept (no more resends) in case its instance
		 * dies before answering: sl_rtx_move. */
		rtx_pending_unlink(rt, (uint32_t)pos);
	else
		rtx_remove(rt, (uint32_t)pos);
}

void
sl_rtx_housekeeping(struct sl_dp *dp)
{
	struct sl_rtx *rt = dp->rtx;
	uint32_t i, budget;

	if (rt == NULL)
		return;
	/* Resends due, the most resent first so that an entry moved to
	 * the next list is not looked at twice in one pass. */
	for (int l = SL_RTX_TRIES; l >= 0; l--) {
		while ((i = rt->pending_head[l]) != SL_RTX_NONE &&
		       rt->e[i].due_tsc <= dp->now) {
			struct rtx_entry *e = &rt->e[i];
			uint32_t slot = e->end_seq % SL_RTX_WINDOW;

			if (l == SL_RTX_TRIES) {
				dp->cnt.rtx.gave_up++;
				rtx_remove(rt, i);
				continue;
			}
			if (e->copy[slot] != NULL &&
			    rtx_seq_of(e->copy[slot]) == e->end_seq &&
			    rtx_resend(dp, e, slot))
				dp->cnt.rtx.end_resends++;
			rtx_pending_append(dp, i, (uint8_t)(l + 1));
		}
	}
	/* Streams that went quiet without an END: forget them after the
	 * idle timeout (their flow expired and sent its own ABORT). */
	budget = RTE_MIN(rt->capacity, 256u);
	for (uint32_t n = 0; n < budget; n++) {
		struct rtx_entry *e = &rt->e[rt->sweep];

		if (e->used && !e->pending &&
		    dp->now - e->last_tsc > 2 * dp->idle_tsc)
			rtx_remove(rt, rt->sweep);
		if (++rt->sweep == rt->capacity)
			rt->sweep = 0;
	}
}

void
sl_rtx_forget(struct sl_dp *dp, struct sl_route_pin *pin)
{
	struct sl_rtx *rt = dp->rtx;

	if (rt != NULL && pin->rtx != SL_RTX_NONE &&
	    rt->e[pin->rtx].used && rt->e[pin->rtx].gen == pin->rtx_gen)
		rtx_remove(rt, pin->rtx);
	pin->rtx = SL_RTX_NONE;
}

bool
sl_rtx_move(struct sl_dp *dp, struct sl_route_pin *pin, uint16_t uid,
	    uint32_t ip, uint16_t port)
{
	struct sl_rtx *rt = dp->rtx;
	struct rte_mbuf *moved[SL_RTX_WINDOW];
	const struct rte_ether_addr *mac;
	struct rtx_entry *e;
	uint32_t n, s;

	if (rt == NULL || pin->rtx == SL_RTX_NONE ||
	    !rt->e[pin->rtx].used || rt->e[pin->rtx].gen != pin->rtx_gen)
		return false;
	e = &rt->e[pin->rtx];
	/* Only a stream kept whole, from its first fragment. */
	if (e->base != 0 || e->next == 0 || e->next > SL_RTX_WINDOW)
		return false;
	n = e->next;
	for (s = 0; s < n; s++)
		if (e->copy[s] == NULL || rtx_seq_of(e->copy[s]) != s)
			return false;
	mac = sl_neigh_lookup(&dp->neigh, ip);
	for (s = 0; s < n; s++) {
		const uint8_t *h = rtx_hdr(e->copy[s]);
		uint16_t plen;

		moved[s] = rte_pktmbuf_copy(e->copy[s], dp->pool, 0,
					    UINT32_MAX);
		if (moved[s] == NULL) {
			while (s-- > 0)
				rte_pktmbuf_free(moved[s]);
			dp->cnt.drops[SL_DROP_NO_MBUF]++;
			return false;
		}
		memcpy(&plen, h + SL_WIRE_OFF_PAYLOAD_LEN, 2);
		sl_dp_frame_headers(dp, moved[s], mac, ip, port,
				    (uint16_t)(SL_WIRE_HDR_LEN +
					       rte_be_to_cpu_16(plen)));
	}
	rtx_remove(rt, pin->rtx);
	dp->inst[uid].streams++;
	if (pin->in_flight) {
		dp->inst[pin->instance].streams_active--;
		dp->inst[uid].streams_active++;
	}
	pin->instance = uid;
	pin->hop_ip = ip;
	pin->hop_port = port;
	pin->hop_neigh_gen = 0;
	pin->rtx = SL_RTX_NONE;
	if (mac == NULL)
		sl_arp_solicit(dp, ip);
	for (s = 0; s < n; s++) {
		sl_rtx_keep(dp, pin, moved[s], true);
		if (mac != NULL && dp->n_ctrl < SL_CTRL_TX_MAX)
			dp->ctrl[dp->n_ctrl++] = moved[s];
		else
			rte_pktmbuf_free(moved[s]); /* kept: sent on NACK */
	}
	return true;
}

void
sl_dp_frame_headers(struct sl_dp *dp, struct rte_mbuf *m,
		    const struct rte_ether_addr *mac, uint32_t ip,
		    uint16_t port, uint16_t dgram_len)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv4_hdr *iph = (struct rte_ipv4_hdr *)(eth + 1);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(iph + 1);

	if (mac != NULL)
		rte_ether_addr_copy(mac, &eth->dst_addr);
	else
		memset(&eth->dst_addr, 0, sizeof(eth->dst_addr));
	rte_ether_addr_copy(&dp->mac, &eth->src_addr);
	eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV4);
	iph->version_ihl = RTE_IPV4_VHL_DEF;
	iph->type_of_service = 0;
	iph->total_length =
		rte_cpu_to_be_16(sizeof(*iph) + sizeof(*udp) + dgram_len);
	iph->packet_id = 0;
	iph->fragment_offset = RTE_BE16(RTE_IPV4_HDR_DF_FLAG);
	iph->time_to_live = 64;
	iph->next_proto_id = IPPROTO_UDP;
	iph->src_addr = rte_cpu_to_be_32(dp->cfg->listen.ip);
	iph->dst_addr = rte_cpu_to_be_32(ip);
	iph->hdr_checksum = 0;
	iph->hdr_checksum = rte_ipv4_cksum(iph);
	udp->src_port = rte_cpu_to_be_16(dp->cfg->listen.port);
	udp->dst_port = rte_cpu_to_be_16(port);
	udp->dgram_len = rte_cpu_to_be_16(sizeof(*udp) + dgram_len);
	udp->dgram_cksum = 0; /* optional in IPv4 */
	m->data_len = (uint16_t)(SL_WIRE_FRAME_HDR_OFF + dgram_len);
	m->pkt_len = m->data_len;
}

/* An mbuf with the 88-byte datagram @h (no tokens) framed for @ip:@port,
 * or NULL (counted). */
static struct rte_mbuf *
rtx_tokenless_frame(struct sl_dp *dp, uint32_t ip, uint16_t port,
		    const struct sl_frag_hdr *h)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(dp->pool);

	if (m == NULL) {
		dp->cnt.drops[SL_DROP_NO_MBUF]++;
		return NULL;
	}
	sl_wire_encode_hdr(rtx_hdr(m), h);
	sl_dp_frame_headers(dp, m, sl_neigh_lookup(&dp->neigh, ip), ip, port,
			    SL_WIRE_HDR_LEN);
	return m;
}

int
sl_dp_send_control(struct sl_dp *dp, uint32_t ip, uint16_t port,
		   const struct sl_frag_hdr *stream, uint8_t flags,
		   uint32_t seq, uint32_t count)
{
	const struct rte_ether_addr *mac = sl_neigh_lookup(&dp->neigh, ip);
	struct rte_mbuf *m;

	if (mac == NULL) {
		sl_arp_solicit(dp, ip);
		return -ENOBUFS;
	}
	if (dp->n_ctrl == SL_CTRL_TX_MAX) {
		dp->cnt.rtx.ctrl_full++;
		return -ENOBUFS;
	}
	m = rte_pktmbuf_alloc(dp->pool);
	if (m == NULL) {
		dp->cnt.drops[SL_DROP_NO_MBUF]++;
		return -ENOBUFS;
	}
	sl_wire_encode_control(rtx_hdr(m), stream, flags, seq, count,
			       stream->send_ns);
	sl_dp_frame_headers(dp, m, mac, ip, port, SL_WIRE_HDR_LEN);
	dp->ctrl[dp->n_ctrl++] = m;
	if (flags & SL_FRAG_F_NACK)
		dp->cnt.rtx.nacks_tx++;
	else if (flags & SL_FRAG_F_ACK)
		dp->cnt.rtx.acks_tx++;
	return 0;
}

int
sl_dp_send_abort(struct sl_dp *dp, uint32_t ip, uint16_t port,
		 const struct sl_frag_hdr *stream, uint8_t reason, bool keep)
{
	struct sl_frag_hdr h = *stream;
	struct rte_mbuf *m;

	h.version = SL_WIRE_VERSION;
	h.flags = SL_FRAG_F_ABORT;
	h.abort_reason = reason;
	h.token_count = 0;
	h.payload_len = 0;
	h.child_count = 0;
	m = rtx_tokenless_frame(dp, ip, port, &h);
	if (m == NULL)
		return -ENOBUFS;
	/* Kept like any END: resent until ACKed, with its MAC once known. */
	if (keep)
		sl_rtx_keep(dp, NULL, m, false);
	if (sl_neigh_lookup(&dp->neigh, ip) == NULL ||
	    dp->n_ctrl == SL_CTRL_TX_MAX) {
		if (dp->n_ctrl == SL_CTRL_TX_MAX)
			dp->cnt.rtx.ctrl_full++;
		sl_arp_solicit(dp, ip);
		rte_pktmbuf_free(m); /* a kept copy goes on its timer */
		return keep ? 0 : -ENOBUFS;
	}
	dp->ctrl[dp->n_ctrl++] = m;
	return 0;
}

bool
sl_rtx_nack(struct sl_dp *dp, struct sl_flow *f, uint32_t seq_seen,
	    uint16_t from_stage)
{
	uint32_t now = sl_flow_coarse(dp->now);
	struct sl_frag_hdr h;

	if (seq_seen > f->gap_end)
		f->gap_end = seq_seen;
	if (f->gap_end <= f->next_seq || f->nack_tries > SL_RTX_TRIES ||
	    (f->nack_tries != 0 && (int32_t)(now - f->nack_due) < 0))
		return false;
	/* The stream as its sender named it: the key keeps the client's own
	 * request id, the header may carry sluiced's by now. */
	memset(&h, 0, sizeof(h));
	h.pipeline = rte_be_to_cpu_32(f->key.pipeline);
	h.stage = rte_be_to_cpu_16(f->key.stage);
	h.from_stage = from_stage;
	h.tenant = rte_be_to_cpu_16(f->key.tenant);
	h.depth = f->key.depth;
	for (uint8_t i = 0; i < h.depth; i++)
		h.ancestry[i] = rte_be_to_cpu_64(f->key.ancestry[i]);
	f->nack_due = now + sl_flow_coarse(dp->tsc_hz / 1000 * SL_RTX_NACK_MS
					   << f->nack_tries);
	f->nack_tries++;
	return sl_dp_send_control(dp, f->key.src_ip, f->key.src_port, &h,
				  SL_FRAG_F_NACK, f->next_seq,
				  f->gap_end - f->next_seq) == 0;
}

void
sl_rtx_ack(struct sl_dp *dp, const struct sl_flow *f, uint32_t seq,
	   uint16_t from_stage)
{
	struct sl_frag_hdr h;

	if (f->key.src_ip == 0)
		return; /* a stream sluiced made itself */
	memset(&h, 0, sizeof(h));
	h.pipeline = rte_be_to_cpu_32(f->key.pipeline);
	h.stage = rte_be_to_cpu_16(f->key.stage);
	h.from_stage = from_stage;
	h.tenant = rte_be_to_cpu_16(f->key.tenant);
	h.depth = f->key.depth;
	for (uint8_t i = 0; i < h.depth; i++)
		h.ancestry[i] = rte_be_to_cpu_64(f->key.ancestry[i]);
	sl_dp_send_control(dp, f->key.src_ip, f->key.src_port, &h,
			   SL_FRAG_F_ACK, seq, 0);
}
