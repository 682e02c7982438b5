/* SPDX-License-Identifier: MIT */
/*
 * stage_fanout.c - packet stage 4: send each fragment along the edges of
 * the pipeline DAG that leave its stage.
 *
 * In:  in-order fragments of received streams (and the results inline
 *      operators produce, which enter here).
 * Out: fragments staged for route + tx (sl_dp_edge_out), one per edge and
 *      per child stream; fragments for operator stages are consumed by
 *      sl_op_input instead. A fragment leaving on several edges is copied
 *      for all but the last.
 * Edges: `stream` forwards at once; `buffer` holds the stream's fragments
 *      (a bounded list per stream and edge) and lets them go, in order,
 *      when the stream's END arrives; a split edge hands the fragment to
 *      its splitter, which cuts child streams (sl_split.c).
 * Drops: EDGE_STATE_FULL (no edge state for a new stream: its request
 *      is aborted, OVERLOAD; unreachable while the edge pool has a block
 *      per flow entry), BUFFER_FULL
 *      (a buffered stream over flows.buffer_max: the stream's consumers
 *      get ABORT (OVERLOAD) instead of its data), STREAM_ABORTED (held by a
 *      buffer edge for a stream that ended in ABORT), NO_MBUF (no copy),
 *      UNKNOWN_STAGE (a stream whose stage a new layout took away).
 *
 * Guarded edges run the guard's filter (and prompt prefix) on every
 *      fragment first (sl_guard_edge.c).
 *
 * Per stream and edge the state lives in an edge block borrowed from a
 * mempool at the stream's first fragment and returned when the stream
 * leaves the flow table.
 *
 * Cost: 61.5 cycles per fragment (operator results
 *      passing through it included) in `tools/bench/dataplane.sh` at
 *      2c1fee9 (median of 5 profiled rounds; 2-vCPU Xeon at 2.10 GHz,
 *      quiet; 1024 streams x 16 fragments, 3 hops;
 *      tools/bench/results/dataplane.md has every run).
 */
#include <rte_branch_prediction.h>
#include <rte_byteorder.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "sl_dp.h"
#include "sl_sched.h"
#include "sl_guard_edge.h"
#include "sl_op.h"
#include "sl_route.h"
#include "sl_split.h"
#include "sl_stream.h"

/* A buffer edge's list of held fragments. */
static int
held_push(struct sl_dp *dp, struct sl_held_list *l, struct rte_mbuf *m)
{
	struct sl_held_chunk *c = l->tail;

	if (!sl_dp_hold_ok(dp, l->src_slot, l->tenant, false))
		return -EDQUOT;
	if (c == NULL || c->n == SL_HELD_CHUNK) {
		void *obj;

		if (rte_mempool_get(dp->held_pool, &obj) != 0)
			return -ENOBUFS;
		c = obj;
		c->next = NULL;
		c->n = 0;
		if (l->tail != NULL)
			l->tail->next = c;
		else
			l->head = c;
		l->tail = c;
	}
	c->m[c->n++] = m;
	l->count++;
	sl_dp_held_charge(dp, l->src_slot, l->tenant, false, 1);
	return 0;
}

static struct rte_mbuf *
held_pop(struct sl_dp *dp, struct sl_held_list *l)
{
	struct sl_held_chunk *c = l->head;
	struct rte_mbuf *m;

	if (c == NULL)
		return NULL;
	/* Lists are short-lived and read once, front to back. */
	m = c->m[0];
	memmove(&c->m[0], &c->m[1], sizeof(c->m[0]) * (c->n - 1));
	c->n--;
	l->count--;
	sl_dp_held_charge(dp, l->src_slot, l->tenant, false, -1);
	if (c->n == 0) {
		l->head = c->next;
		if (l->head == NULL)
			l->tail = NULL;
		rte_mempool_put(dp->held_pool, c);
	}
	return m;
}

static void
held_free(struct sl_dp *dp, struct sl_held_list *l, enum sl_drop reason)
{
	struct rte_mbuf *m;

	while ((m = held_pop(dp, l)) != NULL)
		sl_dp_drop(dp, m, reason);
}

static inline void
edge_dispatch(struct sl_dp *dp, const struct sl_edge_cfg *e,
	      struct sl_edge_state *es, uint8_t slot, struct rte_mbuf *m)
{
	struct sl_pkt_meta *pm = sl_pkt_meta(m);

	if (e->split != SL_SPLIT_NONE) {
		sl_split_input(dp, &es->split, e, slot, m);
		rte_pktmbuf_free(m);
		return;
	}
	pm->edge = (uint8_t)e->id;
	pm->slot = slot;
	pm->pin_kind = SL_PIN_EDGE;
	sl_dp_edge_out(dp, e, m);
}

/* A guarded edge filters first (and may put a prompt prefix before the
 * stream's first fragment). */
static inline void
edge_apply(struct sl_dp *dp, const struct sl_edge_cfg *e,
	   struct sl_edge_state *es, uint8_t slot, struct rte_mbuf *m)
{
	if (unlikely(e->guard != 0)) {
		struct rte_mbuf *prefix, *extra;

		if (!sl_guard_edge_filter(dp, e, es, m, &extra))
			return;
		prefix = sl_guard_edge_prefix(dp, e, es, m);
		if (prefix != NULL)
			edge_dispatch(dp, e, es, slot, prefix);
		edge_dispatch(dp, e, es, slot, m);
		if (extra != NULL)
			edge_dispatch(dp, e, es, slot, extra);
		return;
	}
	edge_dispatch(dp, e, es, slot, m);
}

static __rte_noinline void
edge_buffer(struct sl_dp *dp, const struct sl_edge_cfg *e,
	    struct sl_edge_state *es, uint8_t slot, struct rte_mbuf *m)
{
	struct sl_held_list *l = &es->buffered;
	struct sl_pkt_meta *pm = sl_pkt_meta(m);
	struct rte_mbuf *h;

	if (!(pm->flags & (SL_FRAG_F_END | SL_FRAG_F_ABORT))) {
		if (l->count >= dp->cfg->buffer_max ||
		    held_push(dp, l, m) != 0) {
			/* Over the bound: the stream will end in ABORT. */
			es->overflow = 1;
			sl_dp_drop(dp, m, SL_DROP_BUFFER_FULL);
		}
		return;
	}
	if ((pm->flags & SL_FRAG_F_ABORT) || es->overflow) {
		uint8_t *hdr =
			rte_pktmbuf_mtod_offset(m, uint8_t *, pm->hdr_off);

		held_free(dp, l,
			  es->overflow ? SL_DROP_BUFFER_FULL
				       : SL_DROP_STREAM_ABORTED);
		if (!(pm->flags & SL_FRAG_F_ABORT)) {
			pm->flags = SL_FRAG_F_ABORT;
			hdr[SL_WIRE_OFF_FLAGS] = SL_FRAG_F_ABORT;
			hdr[SL_WIRE_OFF_ABORT] = SL_ABORT_OVERLOAD;
			/* The END's child count goes with it. */
			memset(hdr + SL_WIRE_OFF_CHILD_COUNT, 0, 4);
		}
		edge_apply(dp, e, es, slot, m);
		return;
	}
	/* END: the whole stream leaves now, in order. */
	while ((h = held_pop(dp, l)) != NULL)
		edge_apply(dp, e, es, slot, h);
	edge_apply(dp, e, es, slot, m);
}

static inline struct sl_edge_block *
fanout_block(struct sl_dp *dp, struct sl_flow *f, uint32_t seq)
{
	void *obj;

	if (likely(f->edges != NULL))
		return f->edges;
	/* Edge state starts with its stream: one refused it at its first
	 * fragment must not start mid-stream (fanout_refuse). */
	if (seq != 0 || rte_mempool_get(dp->edge_pool, &obj) != 0)
		return NULL;
	struct sl_edge_block *eb = obj;

	memset(eb, 0, sizeof(*eb));
	for (unsigned int i = 0; i < SL_MAX_OUT_EDGES; i++) {
		sl_route_pin_reset(&eb->e[i].pin);
		eb->e[i].buffered.src_slot = f->src_slot;
		eb->e[i].buffered.tenant = f->tenant;
	}
	f->edges = eb;
	return eb;
}

/*
 * No edge state for the stream of flow @flow. The pool has a block for
 * every entry of the flow table and a block goes back before its entry
 * is reused, so this cannot happen while that holds (dataplane/README.md,
 * "Quotas"); should it, the stream's request cannot be answered whole:
 * at the stream's first fragment it ends at once with ABORT (OVERLOAD)
 * to its client, and the stream's later fragments are dropped as the
 * output of an aborted request (or of one gone: NO_ORIGIN). Consumes @m.
 */
static __rte_noinline void
fanout_refuse(struct sl_dp *dp, struct rte_mbuf *m, uint32_t flow)
{
	const struct sl_pkt_meta *pm = sl_pkt_meta(m);
	const struct sl_flow *f = sl_flow_at(dp->flows, flow);
	const struct sl_flow *o = NULL;
	enum sl_drop reason = SL_DROP_EDGE_STATE_FULL;
	uint8_t flags = pm->flags;

	if (f->origin != SL_FLOW_NONE) {
		o = sl_flow_at(dp->flows, f->origin);
		if (o->gen != f->origin_gen || o->state == SL_FLOW_FREE ||
		    o->key.stage != 0)
			o = NULL;
	}
	if (pm->seq == 0) {
		if (o != NULL)
			sl_dp_request_abort(dp, f->origin, SL_ABORT_OVERLOAD);
	} else if (o == NULL) {
		reason = f->origin != SL_FLOW_NONE ? SL_DROP_NO_ORIGIN
						   : SL_DROP_EDGE_STATE_FULL;
	} else if (o->marks & SL_FLOW_M_ABORTED) {
		reason = SL_DROP_REQUEST_ABORTED;
	}
	sl_dp_drop(dp, m, reason);
	/* It leaves the table like any stream that ended. */
	if (flags & (SL_FRAG_F_END | SL_FRAG_F_ABORT))
		sl_dp_stream_ended(dp, flow);
}

/* Fanout for one in-order fragment. Consumes @m. */
static void
fanout_one(struct sl_dp *dp, struct rte_mbuf *m)
{
	struct sl_pkt_meta *pm = sl_pkt_meta(m);
	const struct sl_pipeline_cfg *pl = &dp->cfg->pipelines[pm->pipeline];
	struct sl_flow *f = sl_flow_at(dp->flows, pm->flow);
	const uint16_t *edges;
	struct sl_edge_block *eb;
	uint8_t n_edges, flags = pm->flags;
	uint32_t flow = pm->flow;

	if (pm->stage == SL_STAGE_CLIENT) {
		/* The scheduler's cost model reads the request's prompt. */
		if (dp->scans != NULL)
			sl_sched_prompt_feed(dp, m, f, flow);
		edges = pl->client_edges;
		n_edges = pl->n_client_edges;
	} else if (unlikely(pm->stage > pl->n_stages)) {
		/* A stream admitted under a snapshot whose pipeline had the
		 * stage, ending (its expiry) under one that has not: no
		 * edge to leave on. */
		sl_dp_drop(dp, m, SL_DROP_UNKNOWN_STAGE);
		if (flags & (SL_FRAG_F_END | SL_FRAG_F_ABORT))
			sl_dp_stream_ended(dp, flow);
		return;
	} else {
		edges = pl->stages[pm->stage - 1].out_edges;
		n_edges = pl->stages[pm->stage - 1].n_out_edges;
	}
	eb = fanout_block(dp, f, pm->seq);
	if (unlikely(eb == NULL)) {
		fanout_refuse(dp, m, flow);
		return;
	}
	for (uint8_t i = 0; i < n_edges; i++) {
		const struct sl_edge_cfg *e = &pl->edges[edges[i]];
		struct rte_mbuf *x = m;

		if (i + 1 < n_edges) {
			x = rte_pktmbuf_copy(m, dp->pool, 0, UINT32_MAX);
			if (unlikely(x == NULL)) {
				dp->cnt.drops[SL_DROP_NO_MBUF]++;
				continue;
			}
		}
		if (e->mode == SL_EDGE_BUFFER)
			edge_buffer(dp, e, &eb->e[i], i, x);
		else
			edge_apply(dp, e, &eb->e[i], i, x);
	}
	if (unlikely(flags & (SL_FRAG_F_END | SL_FRAG_F_ABORT)))
		sl_dp_stream_ended(dp, flow);
}

uint16_t
sl_stage_fanout(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n)
{
	for (uint16_t i = 0; i < n; i++)
		fanout_one(dp, pkts[i]);
	return 0;
}

/* Give back a stream's edge state. Whatever it still holds is dropped
 * silently: consumers were told (ABORT) when the stream expired. */
void
sl_fanout_release(struct sl_dp *dp, struct sl_flow *f)
{
	struct sl_edge_block *eb = f->edges;

	for (unsigned int i = 0; i < SL_MAX_OUT_EDGES; i++) {
		struct sl_edge_state *es = &eb->e[i];
		struct sl_route_pin *pin = &es->pin;

		sl_route_pin_release(dp, pin);
		held_free(dp, &es->buffered, SL_DROP_EXPIRED);
		sl_split_discard(dp, &es->split);
		sl_guard_edge_release(dp, es);
	}
	rte_mempool_put(dp->edge_pool, eb);
	f->edges = NULL;
}
