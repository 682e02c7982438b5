/* SPDX-License-Identifier: MIT */
/*
 * sl_split.c - splitters (see sl_split.h).
 */
#include <errno.h>
#include <string.h>

#include <hs/hs.h>
#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "sl_dp.h"
#include "sl_frag.h"
#include "sl_op.h"
#include "sl_route.h"
#include "sl_split.h"
#include "sl_stream.h"

/* Bytes scanned per Hyperscan call: bounds the cuts one call can report. */
#define SPLIT_SCAN_CHUNK 64

struct sl_splitter {
	hs_stream_t *hs;
	uint64_t offset;     /* parent bytes scanned so far */
	uint64_t token_base; /* offset of the current token's first byte */
	uint32_t children;   /* children started */
	uint32_t child_seq;  /* next sequence of the current child */
	bool open;           /* the current child has bytes */
	bool closed;         /* the parent ended: nothing more to cut */
	uint8_t slot;        /* the edge's slot in the stream's edge block */
	uint32_t pin;        /* the current child's route: dp->child_pins */
	bool pin_staged;     /* ... and a fragment pointing at it is staged */
	struct sl_route_pin marker_pin; /* where the END|CHILDREN goes */
	/* The parent, to build children's headers. */
	uint32_t flow;
	uint32_t pipeline_id;
	uint16_t tenant;
	uint16_t from_stage;
	uint8_t pipeline;
	uint8_t depth;
	uint16_t src_slot; /* the request's client address: its share */
	uint64_t send_ns;
	struct sl_op_request rq;            /* tenant and first send time */
	uint64_t ancestry[SL_ANCESTRY_MAX]; /* wire order */
	/* The child fragment being filled. */
	struct rte_mbuf *out;
	struct sl_wire_builder b;
	/* Cut offsets reported by the scan in progress (absolute). */
	unsigned int n_cuts;
	uint64_t cuts[SPLIT_SCAN_CHUNK + 1];
};

/* Hyperscan allocates stream state through a global hook: point it at a
 * mempool so that opening a stream never reaches malloc. */
static struct rte_mempool *hs_stream_pool;

/*
 * One client address's share of the splitters: the requests of one
 * address (sl_dp_src_slot of the request's client) may hold a quarter of
 * the pool, so that one client cannot take every splitter from the
 * others. Counted per address slot for every worker at once, as the pool
 * is theirs together (atomic adds, as the ledger's: a check and a take
 * on different workers may interleave, one over the share per worker).
 */
static uint32_t split_src_use[SL_SRC_SLOTS];

static inline uint32_t
split_source_max(const struct sl_dp *dp)
{
	return RTE_MAX(dp->split_pool->size / 4, 1u);
}

static void *
split_hs_alloc(size_t size)
{
	void *obj;

	if (hs_stream_pool == NULL || size > hs_stream_pool->elt_size ||
	    rte_mempool_get(hs_stream_pool, &obj) != 0)
		return NULL;
	return obj;
}

static void
split_hs_free(void *ptr)
{
	if (ptr != NULL)
		rte_mempool_put(hs_stream_pool, ptr);
}

/*
 * Children's pins. A child's fragments are staged for route with the
 * index of its pin; when the next child starts, the finished child's pin
 * is retired (not reset) until route has passed them, so no fragment
 * ever follows another child's route and fanout never has to flush
 * half-way. Current pins are at most one per splitter, retired ones at
 * most one per staged fragment: the arena never runs dry.
 */
static int
split_pins_init(struct sl_dp *dp)
{
	uint32_t cap;

	if (dp->child_pins != NULL)
		return 0;
	cap = dp->split_pool->size + SL_OUT_MAX;
	dp->child_pins = rte_zmalloc("sl_child_pins",
				     (size_t)cap * sizeof(*dp->child_pins), 0);
	dp->child_free = rte_malloc("sl_child_free", (size_t)cap * 4, 0);
	dp->child_retired = rte_malloc("sl_child_retired", (size_t)cap * 4, 0);
	if (dp->child_pins == NULL || dp->child_free == NULL ||
	    dp->child_retired == NULL) {
		rte_free(dp->child_pins);
		rte_free(dp->child_free);
		rte_free(dp->child_retired);
		dp->child_pins = NULL;
		dp->child_free = dp->child_retired = NULL;
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < cap; i++)
		dp->child_free[i] = cap - 1 - i;
	dp->n_child_free = cap;
	dp->n_child_retired = 0;
	return 0;
}

/* The splitter's current child is done with its pin: free it, or retire
 * it while a staged fragment still points at it. */
static void
split_pin_put(struct sl_dp *dp, struct sl_splitter *sp)
{
	if (sp->pin == UINT32_MAX)
		return;
	if (sp->pin_staged) {
		dp->child_retired[dp->n_child_retired++] = sp->pin;
	} else {
		/* A child whose END never went out (no mbuf for it) must
		 * not stay counted, nor keep a GPU ring slot. */
		sl_route_pin_release(dp, &dp->child_pins[sp->pin]);
		dp->child_free[dp->n_child_free++] = sp->pin;
	}
	sp->pin = UINT32_MAX;
	sp->pin_staged = false;
}

void
sl_split_pins_routed(struct sl_dp *dp)
{
	while (dp->n_child_retired != 0) {
		uint32_t pin = dp->child_retired[--dp->n_child_retired];

		/* Route has passed its staged fragments: an END among them
		 * ended it; else (none was made) it ends here. */
		sl_route_pin_release(dp, &dp->child_pins[pin]);
		dp->child_free[dp->n_child_free++] = pin;
	}
}

int
sl_split_init(struct sl_dp *dp)
{
	const struct sl_config *cfg = dp->cfg;
	size_t stream_size = 0;
	bool any = false;

	for (uint16_t p = 0; p < cfg->n_pipelines; p++)
		for (uint16_t i = 0; i < cfg->pipelines[p].n_edges; i++) {
			const struct sl_edge_cfg *e =
				&cfg->pipelines[p].edges[i];
			size_t sz;

			if (e->split == SL_SPLIT_NONE || e->split_db == NULL)
				continue;
			if (hs_alloc_scratch(
				    e->split_db,
				    (hs_scratch_t **)&dp->hs_scratch) !=
				    HS_SUCCESS ||
			    hs_stream_size(e->split_db, &sz) != HS_SUCCESS)
				return -ENOMEM;
			if (sz > stream_size)
				stream_size = sz;
			any = true;
		}
	if (!any)
		return 0;
	if (hs_stream_pool == NULL) {
		hs_stream_pool = rte_mempool_create(
			"sl_hs_streams",
			RTE_MAX(cfg->flow_table_size / 4, 1024u) - 1,
			RTE_MAX(stream_size, (size_t)256), 0, 0, NULL, NULL,
			NULL, NULL, rte_socket_id(), 0);
		if (hs_stream_pool == NULL)
			return -rte_errno;
		hs_set_stream_allocator(split_hs_alloc, split_hs_free);
	} else if (stream_size > hs_stream_pool->elt_size) {
		return -E2BIG;
	}
	dp->split_pool = rte_mempool_lookup("sl_splitters");
	if (dp->split_pool == NULL)
		dp->split_pool = rte_mempool_create(
			"sl_splitters",
			RTE_MAX(cfg->flow_table_size / 4, 1024u) - 1,
			sizeof(struct sl_splitter), 0, 0, NULL, NULL, NULL,
			NULL, rte_socket_id(), 0);
	if (dp->split_pool == NULL)
		return -rte_errno;
	return split_pins_init(dp);
}

void
sl_split_fini(struct sl_dp *dp)
{
	if (dp->hs_scratch != NULL)
		hs_free_scratch(dp->hs_scratch);
	dp->hs_scratch = NULL;
}

static int
split_on_match(unsigned int id, unsigned long long from, unsigned long long to,
	       unsigned int flags, void *ctx)
{
	struct sl_splitter *sp = ctx;

	(void)id;
	(void)from;
	(void)flags;
	/* Several patterns (or overlapping matches) may end at one byte. */
	if (sp->n_cuts != 0 && sp->cuts[sp->n_cuts - 1] == to)
		return 0;
	if (sp->n_cuts < RTE_DIM(sp->cuts))
		sp->cuts[sp->n_cuts++] = to;
	return 0;
}

/* Send the child fragment being filled. */
static void
split_flush(struct sl_dp *dp, struct sl_splitter *sp,
	    const struct sl_edge_cfg *e, uint8_t flags, uint8_t reason)
{
	struct rte_mbuf *m = sp->out;
	struct sl_pkt_meta *pm;
	size_t len;

	if (m == NULL)
		return;
	sp->out = NULL;
	sp->b.hdr.flags = flags;
	sp->b.hdr.abort_reason = reason;
	sp->b.hdr.seq = sp->child_seq++;
	len = sl_wire_builder_finish(&sp->b);
	m->data_len = (uint16_t)(SL_WIRE_FRAME_HDR_OFF + len);
	m->pkt_len = m->data_len;
	pm = sl_pkt_meta(m);
	pm->pin = sp->pin;
	pm->flow = sp->flow;
	pm->seq = sp->b.hdr.seq;
	pm->hdr_off = SL_WIRE_FRAME_HDR_OFF;
	pm->dgram_len = (uint16_t)len;
	pm->stage = sp->from_stage;
	pm->pipeline = sp->pipeline;
	pm->flags = flags;
	pm->depth = sp->depth + 1;
	pm->edge = (uint8_t)e->id;
	pm->slot = sp->slot;
	pm->pin_kind = SL_PIN_CHILD;
	if (sl_dp_edge_out(dp, e, m))
		sp->pin_staged = true;
}

/* Start a child fragment of the current child in a new mbuf. */
static bool
split_new_fragment(struct sl_dp *dp, struct sl_splitter *sp)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(dp->pool);
	struct sl_frag_hdr h = {
		.version = SL_WIRE_VERSION,
		.depth = (uint8_t)(sp->depth + 1),
		.stage = sp->from_stage,
		.from_stage = sp->from_stage,
		.tenant = sp->tenant,
		.pipeline = sp->pipeline_id,
		.send_ns = sp->send_ns,
	};

	if (m == NULL) {
		dp->cnt.drops[SL_DROP_NO_MBUF]++;
		return false;
	}
	for (uint8_t i = 0; i < sp->depth; i++)
		h.ancestry[i] = rte_be_to_cpu_64(sp->ancestry[i]);
	h.ancestry[sp->depth] = sp->children - 1;
	sl_wire_builder_init(
		&sp->b,
		rte_pktmbuf_mtod_offset(m, uint8_t *, SL_WIRE_FRAME_HDR_OFF),
		rte_pktmbuf_tailroom(m) - SL_WIRE_FRAME_HDR_OFF, &h);
	if (sp->b.cap > SL_WIRE_HDR_LEN + SL_WIRE_PAYLOAD_MAX)
		sp->b.cap = SL_WIRE_HDR_LEN + SL_WIRE_PAYLOAD_MAX;
	sp->out = m;
	return true;
}

static bool
split_child_start(struct sl_dp *dp, struct sl_splitter *sp,
		  const struct sl_edge_cfg *e)
{
	uint64_t child[SL_ANCESTRY_MAX];

	/* The previous child's pin stays for its staged fragments; this
	 * child gets its own. */
	split_pin_put(dp, sp);
	if (unlikely(dp->n_child_free == 0)) {
		/* Beyond the bound above: not a child without a route. */
		dp->cnt.drops[SL_DROP_SPLIT_FULL]++;
		return false;
	}
	sp->pin = dp->child_free[--dp->n_child_free];
	sl_route_pin_reset(&dp->child_pins[sp->pin]);
	sp->open = true;
	sp->child_seq = 0;
	sp->children++;
	memcpy(child, sp->ancestry, sizeof(child));
	child[sp->depth] = rte_cpu_to_be_64(sp->children - 1);
	sl_op_split_event(dp, sp->pipeline, e->id, child,
			  (uint8_t)(sp->depth + 1), +1, &sp->rq);
	return true;
}

/* Append a piece of a token to the current child. */
static void
split_piece(struct sl_dp *dp, struct sl_splitter *sp,
	    const struct sl_edge_cfg *e, uint32_t id, const char *text,
	    size_t len)
{
	if (len == 0)
		return;
	if (!sp->open && !split_child_start(dp, sp, e))
		return;
	if (sp->out == NULL && !split_new_fragment(dp, sp))
		return;
	if (sl_wire_builder_add(&sp->b, id, text, len) == 0)
		return;
	/* The fragment is full: send it and go on in a new one. */
	split_flush(dp, sp, e, 0, 0);
	if (split_new_fragment(dp, sp))
		sl_wire_builder_add(&sp->b, id, text, len);
}

/* A cut: the current child is complete (an empty quantum is no child). */
static void
split_child_end(struct sl_dp *dp, struct sl_splitter *sp,
		const struct sl_edge_cfg *e, uint8_t flags, uint8_t reason)
{
	if (!sp->open)
		return;
	if (sp->out == NULL && !split_new_fragment(dp, sp))
		goto done;
	split_flush(dp, sp, e, flags, reason);
done:
	sp->open = false;
}

static void
split_token(struct sl_dp *dp, struct sl_splitter *sp,
	    const struct sl_edge_cfg *e, const struct sl_token *t)
{
	size_t piece = 0;

	sp->token_base = sp->offset;
	for (size_t pos = 0; pos < t->len; pos += SPLIT_SCAN_CHUNK) {
		size_t chunk = RTE_MIN((size_t)SPLIT_SCAN_CHUNK, t->len - pos);

		sp->n_cuts = 0;
		hs_scan_stream(sp->hs, t->text + pos, (unsigned int)chunk, 0,
			       dp->hs_scratch, split_on_match, sp);
		sp->offset += chunk;
		for (unsigned int c = 0; c < sp->n_cuts; c++) {
			size_t at = (size_t)(sp->cuts[c] - sp->token_base);

			split_piece(dp, sp, e, t->id, t->text + piece,
				    at - piece);
			split_child_end(dp, sp, e, SL_FRAG_F_END, 0);
			piece = at;
		}
	}
	split_piece(dp, sp, e, t->id, t->text + piece, t->len - piece);
}

/* Tell the edge's consumer how many children the parent had. */
static void
split_marker(struct sl_dp *dp, struct sl_splitter *sp,
	     const struct sl_edge_cfg *e, uint8_t flags, uint8_t reason)
{
	const struct sl_pipeline_cfg *pl = &dp->cfg->pipelines[sp->pipeline];
	struct sl_frag_hdr h = {
		.version = SL_WIRE_VERSION,
		.flags = flags,
		.abort_reason = reason,
		.depth = sp->depth,
		.stage = sp->from_stage,
		.from_stage = sp->from_stage,
		.tenant = sp->tenant,
		.pipeline = sp->pipeline_id,
		.send_ns = sp->send_ns,
		.child_count = (flags & SL_FRAG_F_CHILDREN) ? sp->children : 0,
	};
	struct sl_pkt_meta *pm;
	struct rte_mbuf *m;

	/* Only a consumer that aggregates at or above the parent's level
	 * (and the client) can use the count: its children all met it. */
	if (e->to != SL_STAGE_CLIENT) {
		const struct sl_stage_cfg *st = &pl->stages[e->to - 1];

		if (st->kind != SL_STAGE_ENGINE || st->aggregation == 0 ||
		    st->aggregation > sp->depth)
			return;
	}
	m = sl_dp_tokenless(dp, &h, sp->ancestry, sp->flow, sp->pipeline);
	if (m == NULL)
		return;
	pm = sl_pkt_meta(m);
	pm->edge = (uint8_t)e->id;
	sl_route_pin_reset(&sp->marker_pin);
	sp->marker_pin.oneshot = 1;
	pm->slot = sp->slot;
	pm->pin_kind = SL_PIN_MARKER;
	sl_dp_edge_out(dp, e, m);
}

static void
split_free(struct sl_dp *dp, struct sl_splitter **state)
{
	struct sl_splitter *sp = *state;

	if (sp->out != NULL)
		rte_pktmbuf_free(sp->out);
	if (sp->hs != NULL)
		hs_close_stream(sp->hs, NULL, NULL, NULL);
	split_pin_put(dp, sp);
	sl_ledger_add(&split_src_use[sp->src_slot], -1);
	rte_mempool_put(dp->split_pool, sp);
	*state = NULL;
}

void
sl_split_child_ancestry(const struct sl_splitter *sp, uint64_t *out,
			uint8_t *depth)
{
	memset(out, 0, 8u * SL_ANCESTRY_MAX);
	memcpy(out, sp->ancestry, 8u * sp->depth);
	out[sp->depth] = rte_cpu_to_be_64(sp->children - 1);
	*depth = (uint8_t)(sp->depth + 1);
}

struct sl_route_pin *
sl_split_pin(struct sl_dp *dp, struct sl_splitter *sp, bool marker)
{
	if (marker)
		return &sp->marker_pin;
	return sp->pin != UINT32_MAX ? &dp->child_pins[sp->pin] : NULL;
}

/*
 * No splitter for the stream of flow @flow: its request cannot be
 * answered whole, so it ends now with ABORT (OVERLOAD) to its client
 * rather than by expiry; the rest of the request's output is dropped
 * (REQUEST_ABORTED).
 */
static void
split_refuse(struct sl_dp *dp, uint32_t flow, enum sl_drop reason)
{
	const struct sl_flow *f = sl_flow_at(dp->flows, flow);

	dp->cnt.drops[reason]++;
	if (f->origin != SL_FLOW_NONE) {
		const struct sl_flow *o = sl_flow_at(dp->flows, f->origin);

		if (o->gen == f->origin_gen && o->state != SL_FLOW_FREE &&
		    o->key.stage == 0)
			sl_dp_request_abort(dp, f->origin, SL_ABORT_OVERLOAD);
	}
}

/* Why a later fragment of a stream refused a splitter is dropped: its
 * request aborted (REQUEST_ABORTED) or gone (NO_ORIGIN), else
 * SPLIT_FULL. */
static enum sl_drop
split_late_reason(const struct sl_dp *dp, uint32_t flow)
{
	const struct sl_flow *f = sl_flow_at(dp->flows, flow);
	const struct sl_flow *o;

	if (f->origin == SL_FLOW_NONE)
		return SL_DROP_SPLIT_FULL;
	o = sl_flow_at(dp->flows, f->origin);
	if (o->gen != f->origin_gen || o->state == SL_FLOW_FREE)
		return SL_DROP_NO_ORIGIN;
	return (o->marks & SL_FLOW_M_ABORTED) ? SL_DROP_REQUEST_ABORTED
					      : SL_DROP_SPLIT_FULL;
}

static struct sl_splitter *
split_open(struct sl_dp *dp, const struct sl_edge_cfg *e, uint8_t slot,
	   struct rte_mbuf *m)
{
	const struct sl_pkt_meta *pm = sl_pkt_meta(m);
	const uint8_t *hdr =
		rte_pktmbuf_mtod_offset(m, const uint8_t *, pm->hdr_off);
	uint16_t src_slot = sl_flow_at(dp->flows, pm->flow)->src_slot;
	struct sl_splitter *sp;
	void *obj;

	/* A child is one level deeper: there must be a level left (the
	 * compiler and admission see to it; checked where it is used). */
	if (unlikely(pm->depth == 0 || pm->depth >= SL_ANCESTRY_MAX)) {
		dp->cnt.drops[SL_DROP_DEPTH_MISMATCH]++;
		return NULL;
	}
	if (sl_ledger_get(&split_src_use[src_slot]) >= split_source_max(dp)) {
		split_refuse(dp, pm->flow, SL_DROP_SPLIT_SOURCE_FULL);
		return NULL;
	}
	if (rte_mempool_get(dp->split_pool, &obj) != 0) {
		split_refuse(dp, pm->flow, SL_DROP_SPLIT_FULL);
		return NULL;
	}
	sp = obj;
	memset(sp, 0, sizeof(*sp));
	/* No child yet; the marker not routed (instance 0 is a real uid). */
	sp->pin = UINT32_MAX;
	sl_route_pin_reset(&sp->marker_pin);
	if (hs_open_stream(e->split_db, 0, &sp->hs) != HS_SUCCESS) {
		rte_mempool_put(dp->split_pool, sp);
		split_refuse(dp, pm->flow, SL_DROP_SPLIT_FULL);
		return NULL;
	}
	sp->src_slot = src_slot;
	sl_ledger_add(&split_src_use[src_slot], 1);
	sp->slot = slot;
	sp->flow = pm->flow;
	sp->pipeline = pm->pipeline;
	sp->pipeline_id = dp->cfg->pipelines[pm->pipeline].id;
	sp->from_stage = pm->stage;
	sp->depth = pm->depth;
	sp->tenant = rte_be_to_cpu_16(
		*(const unaligned_uint16_t *)(hdr + SL_WIRE_OFF_TENANT));
	memcpy(sp->ancestry, hdr + SL_WIRE_OFF_ANCESTRY, 8u * pm->depth);
	sp->rq.tenant = sp->tenant;
	return sp;
}

void
sl_split_input(struct sl_dp *dp, struct sl_splitter **state,
	       const struct sl_edge_cfg *e, uint8_t slot, struct rte_mbuf *m)
{
	const struct sl_pkt_meta *pm = sl_pkt_meta(m);
	const uint8_t *hdr =
		rte_pktmbuf_mtod_offset(m, const uint8_t *, pm->hdr_off);
	struct sl_splitter *sp = *state;
	struct sl_token_iter it;
	struct sl_token t;

	if (sp != NULL && sp->closed)
		return;
	if (sp == NULL) {
		/* A splitter starts with its stream: one refused at the first
		 * fragment (SPLIT_FULL, SPLIT_SOURCE_FULL: its request was
		 * aborted then) must not start later, on the rest of the
		 * text, as a shorter stream that looks whole. */
		if (pm->seq != 0) {
			dp->cnt.drops[split_late_reason(dp, pm->flow)]++;
			return;
		}
		sp = split_open(dp, e, slot, m);
		if (sp == NULL)
			return;
		*state = sp;
	}
	memcpy(&sp->send_ns, hdr + SL_WIRE_OFF_SEND_NS, 8);
	sp->send_ns = rte_be_to_cpu_64(sp->send_ns);
	if (sp->rq.send_ns == 0)
		sp->rq.send_ns = sp->send_ns;
	sl_token_iter_init(&it, hdr + SL_WIRE_HDR_LEN,
			   pm->dgram_len - SL_WIRE_HDR_LEN);
	while (sl_token_next(&it, &t))
		split_token(dp, sp, e, &t);

	if (pm->flags & SL_FRAG_F_ABORT) {
		sl_split_release(dp, state, e, hdr[SL_WIRE_OFF_ABORT]);
		return;
	}
	if (pm->flags & SL_FRAG_F_END) {
		/* End of data: a pattern anchored at the end may match now. */
		sp->n_cuts = 0;
		hs_close_stream(sp->hs, dp->hs_scratch, split_on_match, sp);
		sp->hs = NULL;
		split_child_end(dp, sp, e, SL_FRAG_F_END, 0);
		split_marker(dp, sp, e, SL_FRAG_F_END | SL_FRAG_F_CHILDREN, 0);
		sl_op_split_event(dp, sp->pipeline, e->id, sp->ancestry,
				  sp->depth, -1, &sp->rq);
		sp->closed = true;
		return;
	}
	/* Token-streamed children leave with every parent fragment. */
	if (e->stream_children && sp->open)
		split_flush(dp, sp, e, 0, 0);
}

void
sl_split_release(struct sl_dp *dp, struct sl_splitter **state,
		 const struct sl_edge_cfg *e, uint8_t reason)
{
	struct sl_splitter *sp = *state;

	if (sp == NULL || sp->closed)
		return;
	if (sp->open)
		split_child_end(dp, sp, e, SL_FRAG_F_ABORT, reason);
	split_marker(dp, sp, e, SL_FRAG_F_ABORT, reason);
	sl_op_split_abort(dp, sp->pipeline, e->id, sp->ancestry, sp->depth,
			  reason, &sp->rq);
	if (sp->hs != NULL)
		hs_close_stream(sp->hs, NULL, NULL, NULL);
	sp->hs = NULL;
	sp->closed = true;
}

void
sl_split_discard(struct sl_dp *dp, struct sl_splitter **state)
{
	if (*state != NULL)
		split_free(dp, state);
}
