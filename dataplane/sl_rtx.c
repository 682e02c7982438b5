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

#include "sl_arp.h"
#include "sl_dp.h"
#include "sl_rtx.h"

#define SL_FLOW_KEY_RTX 4 /* sl_flow_key.zero of an outgoing stream */

/*
 * The copies of one outgoing stream are kept in blocks of RTX_BLOCK
 * consecutive sequences, linked in ascending order from the entry's
 * head: a stream of any length (a buffer edge's flush is a burst of up
 * to flows.buffer_max fragments) is repairable from its first fragment,
 * and memory follows the copies kept, not the longest stream possible.
 * A block goes back to the free list when its last copy goes.
 */
#define RTX_BLOCK 32

struct rtx_block {
	struct rte_mbuf *m[RTX_BLOCK]; /* m[i]: sequence first + i */
	uint32_t first;                /* a multiple of RTX_BLOCK */
	uint32_t next;                 /* next block, or the free list */
	uint32_t n;                    /* copies held */
	uint32_t pad;
};

/*
 * One outgoing stream: copies of base <= seq < next (where kept: some
 * were evicted, or never kept), at most SL_RTX_STREAM_COPIES of them.
 * Entries whose END or ABORT waits for its ACK are linked on the pending
 * list.
 */
struct rtx_entry {
	struct sl_flow_key key;
	uint64_t due_tsc;  /* next END resend */
	uint64_t last_tsc; /* last fragment kept or resent */
	uint32_t gen;
	uint32_t base;
	uint32_t next;
	uint32_t end_seq; /* END/ABORT sent at this seq; UINT32_MAX */
	uint32_t prev;    /* pending list */
	uint32_t next_pending;
	uint8_t used;
	uint8_t tries;
	uint8_t pending;
	uint8_t retain; /* an idempotent stage's: kept past the ACK */
	uint32_t head;  /* first block, SL_RTX_NONE: no copy */
	uint32_t tail;  /* last block */
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
	uint32_t sweep;  /* idle sweep cursor */
	uint32_t copies; /* live copies */
	uint32_t copies_max;
	struct rtx_block *blk;
	uint32_t n_blk;
	uint32_t blk_free;       /* free list through rtx_block.next */
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
	uint32_t size =
		RTE_MIN(RTE_MAX(dp->cfg->flow_table_size / 4, 1024u), 65536u);
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
	/* A quarter of the pool for all the workers' copies. */
	rt->copies_max = RTE_MAX(pool / 4 / RTE_MAX(dp->n_workers, 1), 16u);
	rt->order = rte_zmalloc("sl_rtx_order",
				sizeof(*rt->order) * rt->copies_max, 0);
	/* A block for every stream with copies, and the copies' worth
	 * twice over; beyond that (scattered sequences), the oldest copies
	 * go until a block is free. */
	rt->n_blk = rt->capacity + 2 * (rt->copies_max / RTX_BLOCK) + 64;
	rt->blk = rte_zmalloc("sl_rtx_blocks", sizeof(*rt->blk) * rt->n_blk,
			      RTE_CACHE_LINE_SIZE);
	if (rt->e == NULL || rt->order == NULL || rt->blk == NULL)
		goto fail;
	for (uint32_t b = 0; b < rt->n_blk; b++)
		rt->blk[b].next = b + 1 < rt->n_blk ? b + 1 : SL_RTX_NONE;
	rt->blk_free = 0;
	for (unsigned int l = 0; l <= SL_RTX_TRIES; l++)
		rt->pending_head[l] = rt->pending_tail[l] = SL_RTX_NONE;
	dp->rtx = rt;
	return 0;
fail:
	rte_free(rt->blk);
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

/* The block of @e that holds @seq, or SL_RTX_NONE; with @prev, its
 * predecessor there (SL_RTX_NONE: it is the head). */
static uint32_t
rtx_block_find(const struct sl_rtx *rt, const struct rtx_entry *e, uint32_t seq,
	       uint32_t *prev)
{
	uint32_t b = e->head, p = SL_RTX_NONE;

	/* Without @prev, the last block first: where sends append. */
	if (prev == NULL && e->tail != SL_RTX_NONE &&
	    seq >= rt->blk[e->tail].first)
		return seq - rt->blk[e->tail].first < RTX_BLOCK ? e->tail
								: SL_RTX_NONE;

	while (b != SL_RTX_NONE && rt->blk[b].first <= seq) {
		if (seq - rt->blk[b].first < RTX_BLOCK)
			break;
		p = b;
		b = rt->blk[b].next;
	}
	if (b != SL_RTX_NONE && rt->blk[b].first > seq)
		b = SL_RTX_NONE;
	if (prev != NULL)
		*prev = p;
	return b;
}

/* Where the copy of @seq is, or NULL: no block holds it. */
static struct rte_mbuf **
rtx_slot(const struct sl_rtx *rt, const struct rtx_entry *e, uint32_t seq)
{
	uint32_t b = rtx_block_find(rt, e, seq, NULL);

	return b != SL_RTX_NONE ? &rt->blk[b].m[seq - rt->blk[b].first] : NULL;
}

/* The copy of @seq, or NULL. */
static struct rte_mbuf *
rtx_copy_of(const struct sl_rtx *rt, const struct rtx_entry *e, uint32_t seq)
{
	struct rte_mbuf **mp = rtx_slot(rt, e, seq);

	return mp != NULL ? *mp : NULL;
}

/* Unlink block @b (after @prev) from @e and free it. */
static void
rtx_block_release(struct sl_rtx *rt, struct rtx_entry *e, uint32_t b,
		  uint32_t prev)
{
	uint32_t next = rt->blk[b].next;

	if (prev == SL_RTX_NONE)
		e->head = next;
	else
		rt->blk[prev].next = next;
	if (e->tail == b)
		e->tail = prev;
	rt->blk[b].next = rt->blk_free;
	rt->blk_free = b;
}

/* Drop the copy of @seq, if kept; its block goes when it empties. */
static bool
rtx_drop_copy(struct sl_rtx *rt, struct rtx_entry *e, uint32_t seq)
{
	uint32_t prev, b = rtx_block_find(rt, e, seq, &prev);
	struct rte_mbuf **mp;

	if (b == SL_RTX_NONE)
		return false;
	mp = &rt->blk[b].m[seq - rt->blk[b].first];
	if (*mp == NULL)
		return false;
	rte_pktmbuf_free(*mp);
	*mp = NULL;
	rt->copies--;
	if (--rt->blk[b].n == 0)
		rtx_block_release(rt, e, b, prev);
	return true;
}

/* Drop every copy of @e below @seq. */
static void
rtx_drop_below(struct sl_rtx *rt, struct rtx_entry *e, uint32_t seq)
{
	while (e->head != SL_RTX_NONE && rt->blk[e->head].first < seq) {
		struct rtx_block *k = &rt->blk[e->head];
		uint32_t end = RTE_MIN(seq - k->first, (uint32_t)RTX_BLOCK);
		struct rte_mbuf *gone[RTX_BLOCK];
		unsigned int n = 0;

		/* A block's copies go in one bulk free (one mempool put). */
		for (uint32_t i = 0; i < end; i++)
			if (k->m[i] != NULL) {
				gone[n++] = k->m[i];
				k->m[i] = NULL;
			}
		rte_pktmbuf_free_bulk(gone, n);
		rt->copies -= n;
		k->n -= n;
		if (k->n != 0)
			break;
		rtx_block_release(rt, e, e->head, SL_RTX_NONE);
	}
}

static void
rtx_remove(struct sl_rtx *rt, uint32_t i)
{
	struct rtx_entry *e = &rt->e[i];

	if (!e->used)
		return;
	rtx_pending_unlink(rt, i);
	rtx_drop_below(rt, e, UINT32_MAX);
	/* A copy at seq UINT32_MAX cannot be: sequences stop below. */
	RTE_ASSERT(e->head == SL_RTX_NONE);
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
	rte_free(rt->blk);
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
	uint8_t depth =
		RTE_MIN(hdr[SL_WIRE_OFF_DEPTH], (uint8_t)SL_ANCESTRY_MAX);

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
rtx_key_of_hdr(struct sl_flow_key *k, const struct sl_frag_hdr *h, uint32_t ip,
	       uint16_t port)
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

		memset(e, 0, sizeof(*e));
		e->gen = gen;
		e->head = e->tail = SL_RTX_NONE;
		e->key = *k;
		e->used = 1;
		e->end_seq = UINT32_MAX;
		e->prev = e->next_pending = SL_RTX_NONE;
	}
	return (uint32_t)pos;
}

/* Evict the oldest copy on record, whoever it belongs to. */
static void
rtx_evict_oldest(struct sl_dp *dp)
{
	struct sl_rtx *rt = dp->rtx;
	const struct rtx_order *o = &rt->order[rt->order_head];
	struct rtx_entry *e = &rt->e[o->idx];

	if (e->used && e->gen == o->gen && rtx_drop_copy(rt, e, o->seq))
		dp->cnt.rtx.evicted++;
	if (++rt->order_head == rt->copies_max)
		rt->order_head = 0;
	rt->order_count--;
}

/* Over the global bound: the oldest copies go. */
static void
rtx_make_room(struct sl_dp *dp)
{
	struct sl_rtx *rt = dp->rtx;

	while (rt->order_count != 0 && (rt->copies >= rt->copies_max ||
					rt->order_count == rt->copies_max))
		rtx_evict_oldest(dp);
}

/* A free block (the oldest copies evicted until one is), or
 * SL_RTX_NONE. */
static uint32_t
rtx_block_alloc(struct sl_dp *dp)
{
	struct sl_rtx *rt = dp->rtx;
	uint32_t b;

	while (rt->blk_free == SL_RTX_NONE && rt->order_count != 0)
		rtx_evict_oldest(dp);
	b = rt->blk_free;
	if (b == SL_RTX_NONE)
		return b;
	rt->blk_free = rt->blk[b].next;
	memset(&rt->blk[b], 0, sizeof(rt->blk[b]));
	return b;
}

/* The block for @seq in @e, made if needed; SL_RTX_NONE when no block
 * can be had. */
static uint32_t
rtx_block_make(struct sl_dp *dp, struct rtx_entry *e, uint32_t seq)
{
	struct sl_rtx *rt = dp->rtx;
	uint32_t b, prev, nb;

	/* The common case: the next sequence, in the last block. */
	if (e->tail != SL_RTX_NONE && seq >= rt->blk[e->tail].first &&
	    seq - rt->blk[e->tail].first < RTX_BLOCK)
		return e->tail;
	b = rtx_block_find(rt, e, seq, NULL);
	if (b != SL_RTX_NONE)
		return b;
	/* Evicting for a block may change @e's blocks: look again after. */
	nb = rtx_block_alloc(dp);
	if (nb == SL_RTX_NONE)
		return SL_RTX_NONE;
	rt->blk[nb].first = seq - seq % RTX_BLOCK;
	(void)rtx_block_find(rt, e, seq, &prev);
	if (prev == SL_RTX_NONE) {
		rt->blk[nb].next = e->head;
		e->head = nb;
	} else {
		rt->blk[nb].next = rt->blk[prev].next;
		rt->blk[prev].next = nb;
	}
	if (rt->blk[nb].next == SL_RTX_NONE)
		e->tail = nb;
	return nb;
}

void
sl_rtx_keep(struct sl_dp *dp, struct sl_route_pin *pin, struct rte_mbuf *m,
	    bool retain)
{
	struct sl_rtx *rt = dp->rtx;
	struct rtx_entry *e;
	uint32_t i = SL_RTX_NONE, seq, b;
	struct rte_mbuf **slot;
	uint8_t flags;

	if (unlikely(rt == NULL))
		return;
	if (pin != NULL && pin->rtx != SL_RTX_NONE && rt->e[pin->rtx].used &&
	    rt->e[pin->rtx].gen == pin->rtx_gen) {
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
		return; /* below what the stream keeps */
	if (seq - e->base >= SL_RTX_STREAM_COPIES) {
		e->base = seq - SL_RTX_STREAM_COPIES + 1;
		rtx_drop_below(rt, e, e->base);
	}
	rtx_make_room(dp);
	b = rtx_block_make(dp, e, seq);
	if (b == SL_RTX_NONE) {
		dp->cnt.rtx.untracked++;
		return;
	}
	slot = &rt->blk[b].m[seq - rt->blk[b].first];
	if (*slot != NULL) {
		/* The same seq sent again: this one is kept. */
		rte_pktmbuf_free(*slot);
		rt->copies--;
		rt->blk[b].n--;
	}
	rte_mbuf_refcnt_update(m, 1);
	*slot = m;
	rt->blk[b].n++;
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
rtx_resend(struct sl_dp *dp, struct rtx_entry *e, struct rte_mbuf **slot)
{
	struct rte_mbuf *m = *slot;
	const struct rte_ether_addr *mac;
	struct rte_ether_hdr *eth;

	if (dp->n_ctrl == dp->queue_cap) {
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
			struct rte_mbuf *c =
				rte_pktmbuf_copy(m, dp->pool, 0, UINT32_MAX);

			if (c == NULL) {
				dp->cnt.drops[SL_DROP_NO_MBUF]++;
				return false;
			}
			rte_pktmbuf_free(m);
			*slot = m = c;
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
	struct sl_rtx *rt = dp->rtx;
	uint32_t from = h->seq, count = h->child_count ? h->child_count : 1;
	uint32_t to = from + count;

	/* The receiver is alive and repairing a gap before the END it has
	 * not ACKed yet: the END's resends start over rather than run out
	 * while the repair goes on. */
	if (e->pending)
		rtx_pending_append(dp, (uint32_t)(e - rt->e), 0);

	if (to < from || to > e->next)
		to = e->next; /* nothing beyond what was sent */
	if (from >= to)
		return;
	if (from < e->base || rtx_copy_of(rt, e, from) == NULL) {
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
	/* Block by block: a NACK may ask for hundreds. */
	for (uint32_t b = e->head; b != SL_RTX_NONE; b = rt->blk[b].next) {
		struct rtx_block *k = &rt->blk[b];
		uint32_t j = from > k->first ? from - k->first : 0;

		if (k->first >= to)
			break;
		for (; j < RTX_BLOCK && k->first + j < to; j++) {
			if (k->m[j] == NULL)
				continue;
			if (!rtx_resend(dp, e, &k->m[j]))
				return; /* the queue is full: NACKed again */
			dp->cnt.rtx.resent++;
		}
	}
}

/*
 * Is @ip:@port a receiver sluiced sends to: a client (its address; its
 * port is whatever its request came from) or an instance, of the running
 * snapshot or one it dropped (address and port)? Rare path: a scan.
 */
static bool
rtx_known_receiver(const struct sl_dp *dp, uint32_t ip, uint16_t port)
{
	if (sl_config_is_client(dp->cfg, ip))
		return true;
	for (unsigned int u = 0; u < SL_MAX_INSTANCE_UIDS; u++)
		if (dp->inst[u].ip == ip && dp->inst[u].port == port)
			return true;
	return false;
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
		 * was never kept) is late, not wrong. A NACK for one cannot
		 * be answered with data: a receiver sluiced knows (an
		 * instance, by address and port, or a client, and one whose
		 * MAC it has) is told the stream ends there (ABORT LOST, not
		 * kept) rather than left to run out its repeats; anyone else
		 * (another port of an instance's host too) gets nothing. */
		if (h->flags & SL_FRAG_F_ACK) {
			dp->cnt.rtx.acks_stale++;
		} else {
			struct sl_frag_hdr a = *h;

			dp->cnt.drops[SL_DROP_UNSOLICITED]++;
			if (sl_neigh_lookup(&dp->neigh, src_ip) == NULL ||
			    !rtx_known_receiver(dp, src_ip, src_port))
				return;
			a.flags = 0;
			a.child_count = 0;
			a.token_count = 0;
			a.payload_len = 0;
			if (sl_dp_send_abort(dp, src_ip, src_port, &a,
					     SL_ABORT_LOST, false) == 0)
				dp->cnt.rtx.lost_aborts++;
		}
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
			struct rte_mbuf **slot = rtx_slot(rt, e, e->end_seq);

			if (l == SL_RTX_TRIES) {
				dp->cnt.rtx.gave_up++;
				rtx_remove(rt, i);
				continue;
			}
			if (slot != NULL && *slot != NULL &&
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

	if (rt != NULL && pin->rtx != SL_RTX_NONE && rt->e[pin->rtx].used &&
	    rt->e[pin->rtx].gen == pin->rtx_gen)
		rtx_remove(rt, pin->rtx);
	pin->rtx = SL_RTX_NONE;
}

bool
sl_rtx_move(struct sl_dp *dp, struct sl_route_pin *pin, uint16_t uid,
	    uint32_t ip, uint16_t port)
{
	struct sl_rtx *rt = dp->rtx;
	struct rte_mbuf *moved[SL_RTX_MOVE_MAX];
	const struct rte_ether_addr *mac;
	struct rtx_entry *e;
	uint32_t n, s;

	if (rt == NULL || pin->rtx == SL_RTX_NONE || !rt->e[pin->rtx].used ||
	    rt->e[pin->rtx].gen != pin->rtx_gen)
		return false;
	e = &rt->e[pin->rtx];
	/* Only a stream kept whole, from its first fragment. */
	if (e->base != 0 || e->next == 0 || e->next > SL_RTX_MOVE_MAX)
		return false;
	n = e->next;
	for (s = 0; s < n; s++) {
		moved[s] = rtx_copy_of(rt, e, s);
		if (moved[s] == NULL)
			return false;
	}
	mac = sl_neigh_lookup(&dp->neigh, ip);
	for (s = 0; s < n; s++) {
		const uint8_t *h = rtx_hdr(moved[s]);
		uint16_t plen;

		moved[s] = rte_pktmbuf_copy(moved[s], dp->pool, 0, UINT32_MAX);
		if (moved[s] == NULL) {
			while (s-- > 0)
				rte_pktmbuf_free(moved[s]);
			dp->cnt.drops[SL_DROP_NO_MBUF]++;
			return false;
		}
		memcpy(&plen, h + SL_WIRE_OFF_PAYLOAD_LEN, 2);
		sl_dp_frame_headers(
			dp, moved[s], mac, ip, port,
			(uint16_t)(SL_WIRE_HDR_LEN + rte_be_to_cpu_16(plen)));
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
		if (mac != NULL && dp->n_ctrl < dp->queue_cap)
			dp->ctrl[dp->n_ctrl++] = moved[s];
		else
			rte_pktmbuf_free(moved[s]); /* kept: sent on NACK */
	}
	return true;
}

/* The headers every frame shares, and the IPv4 sum of theirs (checksum
 * field zero, destination zero, total length that of an empty datagram). */
static __rte_noinline void
dp_frame_tpl_make(struct sl_dp *dp)
{
	struct sl_frame_ends e = {
		.src_ip = dp->cfg->listen.ip,
		.src_port = dp->cfg->listen.port,
	};
	uint8_t *ip = dp->frame_tpl + SL_ETHER_HDR_LEN;

	memcpy(e.src_mac, dp->mac.addr_bytes, 6);
	sl_wire_frame_write(dp->frame_tpl, &e, 0, 0, 0);
	ip[10] = ip[11] = 0;
	dp->frame_tpl_sum = sl_wire_ipv4_sum(ip, SL_IPV4_HDR_LEN);
	dp->frame_tpl_cfg = dp->cfg;
}

/*
 * The template with what differs put in: destination MAC, IP and port,
 * the lengths, and the checksum brought up to date from the template's
 * sum (RFC 1624: the added 16-bit words summed in, folded). The same
 * bytes sl_wire_frame_write writes (test: every frame the DAG tests see
 * has its checksum checked); a third of the instructions.
 */
void
sl_dp_frame_headers(struct sl_dp *dp, struct rte_mbuf *m,
		    const struct rte_ether_addr *mac, uint32_t ip,
		    uint16_t port, uint16_t dgram_len)
{
	uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *);
	uint8_t *iph = f + SL_ETHER_HDR_LEN;
	uint8_t *udp = iph + SL_IPV4_HDR_LEN;
	uint32_t sum, a;

	if (unlikely(dp->frame_tpl_cfg != dp->cfg))
		dp_frame_tpl_make(dp);
	memcpy(f, dp->frame_tpl, SL_WIRE_FRAME_HDR_OFF);
	if (mac != NULL)
		memcpy(f, mac->addr_bytes, 6);
	sum = dp->frame_tpl_sum + dgram_len + (ip >> 16) + (ip & 0xffffu);
	sum = (sum & 0xffffu) + (sum >> 16);
	sum = (sum & 0xffffu) + (sum >> 16);
	sl_wire_st16(iph + 2,
		     (uint16_t)(SL_IPV4_HDR_LEN + SL_UDP_HDR_LEN + dgram_len));
	a = rte_cpu_to_be_32(ip);
	memcpy(iph + 16, &a, 4);
	sl_wire_st16(iph + 10, (uint16_t)~sum);
	sl_wire_st16(udp + 2, port);
	sl_wire_st16(udp + 4, (uint16_t)(SL_UDP_HDR_LEN + dgram_len));
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
	if (dp->n_ctrl == dp->queue_cap) {
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
	    dp->n_ctrl == dp->queue_cap) {
		if (dp->n_ctrl == dp->queue_cap)
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
sl_rtx_gap_progress(struct sl_dp *dp, struct sl_flow *f)
{
	f->nack_tries = 1;
	f->nack_due = sl_flow_coarse(dp->now) +
		      sl_flow_coarse(dp->tsc_hz / 1000 * SL_RTX_NACK_MS);
}

bool
sl_rtx_gap_spent(const struct sl_dp *dp, const struct sl_flow *f)
{
	return f->nack_tries > SL_RTX_TRIES &&
	       (int32_t)(sl_flow_coarse(dp->now) - f->nack_due) >= 0;
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
