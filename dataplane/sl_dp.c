/* SPDX-License-Identifier: MIT */
/*
 * sl_dp.c - worker context and the packet path (the loop: sl_worker.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/random.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf_dyn.h>
#include <rte_rcu_qsbr.h>

#include "sl_dp.h"
#include "sl_route.h"
#include "sl_split.h"

int sl_pkt_meta_offset = -1;

static const char *const drop_names[SL_DROP_MAX] = {
#define SL_DROP_NAME_WIRE(name, text) [SL_DROP_##name] = #name,
	SL_WIRE_ERRORS(SL_DROP_NAME_WIRE)
#undef SL_DROP_NAME_WIRE
#define SL_DROP_NAME_DP(name, text) [SL_DROP_##name] = #name,
	SL_DP_DROPS(SL_DROP_NAME_DP)
#undef SL_DROP_NAME_DP
};

static const char *const drop_texts[SL_DROP_MAX] = {
#define SL_DROP_TEXT_WIRE(name, text) [SL_DROP_##name] = text,
	SL_WIRE_ERRORS(SL_DROP_TEXT_WIRE)
#undef SL_DROP_TEXT_WIRE
#define SL_DROP_TEXT_DP(name, text) [SL_DROP_##name] = text,
	SL_DP_DROPS(SL_DROP_TEXT_DP)
#undef SL_DROP_TEXT_DP
};

static const char *const stage_names[SL_STAGE_MAX] = {
#define SL_STAGE_NAME(name, text) [SL_STAGE_##name] = text,
	SL_STAGES(SL_STAGE_NAME)
#undef SL_STAGE_NAME
};

const char *
sl_stage_name(enum sl_stage_id id)
{
	return (unsigned int)id < SL_STAGE_MAX ? stage_names[id] : "?";
}

const char *
sl_drop_name(enum sl_drop reason)
{
	return (unsigned int)reason < SL_DROP_MAX ? drop_names[reason] : "?";
}

const char *
sl_drop_text(enum sl_drop reason)
{
	return (unsigned int)reason < SL_DROP_MAX ? drop_texts[reason] : "?";
}

int
sl_pkt_meta_register(void)
{
	static const struct rte_mbuf_dynfield desc = {
		.name = "sluice_pkt_meta",
		.size = sizeof(struct sl_pkt_meta),
		.align = __alignof__(struct sl_pkt_meta),
	};
	int off = rte_mbuf_dynfield_register(&desc);

	if (off < 0)
		return -rte_errno;
	sl_pkt_meta_offset = off;
	return 0;
}

static void
dp_flow_released(void *ctx, struct sl_flow *f)
{
	sl_dp_flow_released(ctx, f, f->state == SL_FLOW_ENDED);
}

static bool
dp_flow_keep(void *ctx, const struct sl_flow *f, uint64_t now)
{
	return sl_live_owed(ctx, f, now);
}

/* Give back a stream's edge state. Whatever it still holds is dropped
 * silently: consumers were told (ABORT) when the stream expired. */
static void
dp_edges_release(struct sl_dp *dp, struct sl_flow *f)
{
	struct sl_edge_block *eb = f->edges;

	for (unsigned int i = 0; i < SL_MAX_OUT_EDGES; i++) {
		struct sl_edge_state *es = &eb->e[i];
		struct sl_route_pin *pin = &es->pin;

		if (pin->in_flight) {
			dp->inst[pin->instance].streams_active--;
			sl_route_unpin(dp, pin);
		}
		sl_dp_held_free(dp, &es->buffered, SL_DROP_EXPIRED);
		sl_split_discard(dp, &es->split);
		sl_guard_edge_release(dp, es);
	}
	rte_mempool_put(dp->edge_pool, eb);
	f->edges = NULL;
}

void
sl_dp_flow_released(struct sl_dp *dp, struct sl_flow *f, bool ended)
{
	if (f->tenant_counted) {
		dp->tenant_use[f->tenant].streams--;
		f->tenant_counted = 0;
	}
	sl_dp_request_uncharge(dp, f);
	if (f->edges != NULL)
		dp_edges_release(dp, f);
	if (!ended)
		dp->cnt.flows.expired++;
	/* The flow table frees the reorder buffer's fragments next. */
	sl_dp_held_charge(dp, f->src_slot, f->tenant, f->key.stage == 0,
			  -(int)f->n_held);
	dp->cnt.drops[SL_DROP_EXPIRED] += f->n_held;
}

int
sl_dp_held_push(struct sl_dp *dp, struct sl_held_list *l, struct rte_mbuf *m)
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

struct rte_mbuf *
sl_dp_held_pop(struct sl_dp *dp, struct sl_held_list *l)
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

void
sl_dp_held_free(struct sl_dp *dp, struct sl_held_list *l, enum sl_drop reason)
{
	struct rte_mbuf *m;

	while ((m = sl_dp_held_pop(dp, l)) != NULL)
		sl_dp_drop(dp, m, reason);
}

struct rte_mbuf *
sl_dp_tokenless(struct sl_dp *dp, struct sl_frag_hdr *h,
		const uint64_t *ancestry, uint32_t flow, uint8_t pipeline)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(dp->pool);
	struct sl_wire_builder b;
	struct sl_pkt_meta *pm;

	if (m == NULL) {
		dp->cnt.drops[SL_DROP_NO_MBUF]++;
		return NULL;
	}
	for (uint8_t i = 0; i < h->depth; i++)
		h->ancestry[i] = rte_be_to_cpu_64(ancestry[i]);
	sl_wire_builder_init(&b, rte_pktmbuf_mtod_offset(m, uint8_t *,
						       SL_WIRE_FRAME_HDR_OFF),
			     SL_WIRE_HDR_LEN, h);
	sl_wire_builder_finish(&b);
	m->data_len = SL_WIRE_FRAME_HDR_OFF + SL_WIRE_HDR_LEN;
	m->pkt_len = m->data_len;
	pm = sl_pkt_meta(m);
	memset(pm, 0, sizeof(*pm));
	pm->flow = flow;
	pm->seq = h->seq;
	pm->hdr_off = SL_WIRE_FRAME_HDR_OFF;
	pm->dgram_len = SL_WIRE_HDR_LEN;
	pm->stage = h->stage;
	pm->pipeline = pipeline;
	pm->flags = h->flags;
	pm->depth = h->depth;
	return m;
}

struct sl_route_pin *
sl_dp_pin_of(struct sl_dp *dp, const struct sl_pkt_meta *pm)
{
	struct sl_edge_block *eb = sl_flow_at(dp->flows, pm->flow)->edges;
	struct sl_edge_state *es = &eb->e[pm->slot];

	if (likely(pm->pin_kind == SL_PIN_EDGE))
		return &es->pin;
	return sl_split_pin(es->split, pm->pin_kind == SL_PIN_MARKER);
}

uint32_t
sl_dp_request_origin(struct sl_dp *dp, uint64_t id_be)
{
	uint64_t id = rte_be_to_cpu_64(id_be);
	uint32_t o = (uint32_t)id;
	const struct sl_flow *of;

	if (!(id & SL_DP_REQUEST_ID_MARK) || o >= dp->flows->capacity)
		return SL_FLOW_NONE;
	of = sl_flow_at(dp->flows, o);
	if (sl_dp_request_id(o, of->gen) != id || of->state == SL_FLOW_FREE ||
	    of->key.stage != 0)
		return SL_FLOW_NONE;
	return o;
}

void
sl_dp_stream_init(struct sl_dp *dp, uint32_t idx, uint8_t pipeline,
		  uint16_t tenant)
{
	struct sl_flow *f = sl_flow_at(dp->flows, idx);

	f->pipeline = pipeline;
	f->tenant = tenant;
	if (f->key.stage == 0) {
		f->origin = idx;
		f->origin_gen = f->gen;
		f->src_slot = sl_dp_src_slot(dp, f->key.src_ip);
		dp->src_use[f->src_slot].streams++;
		dp->tenant_use[tenant].requests++;
		dp->client_streams++;
		f->marks |= SL_FLOW_M_CHARGED;
	} else {
		/* Every stream of a request names it by sluiced's id: its
		 * client stream's index and generation. The request's
		 * tenant and address pay for it, whatever the header says. */
		uint32_t o = sl_dp_request_origin(dp, f->key.ancestry[0]);

		if (o != SL_FLOW_NONE) {
			const struct sl_flow *of = sl_flow_at(dp->flows, o);

			f->origin = o;
			f->origin_gen = of->gen;
			f->tenant = of->tenant;
			f->src_slot = of->src_slot;
		} else {
			f->src_slot = sl_dp_src_slot(dp, f->key.src_ip);
		}
	}
	dp->cnt.flows.created++;
	dp->tenant_use[f->tenant].streams++;
	f->tenant_counted = 1;
}

void
sl_dp_flow_ancestry(struct sl_dp *dp, uint32_t idx, uint64_t *out)
{
	const struct sl_flow *f = sl_flow_at(dp->flows, idx);

	memcpy(out, f->key.ancestry, sizeof(f->key.ancestry));
	if (f->key.stage == 0)
		out[0] = rte_cpu_to_be_64(sl_dp_request_id(idx, f->gen));
}

uint32_t
sl_dp_stream_open(struct sl_dp *dp, const struct sl_flow_key *key,
		  uint8_t pipeline, uint16_t tenant)
{
	bool created;
	int32_t pos = sl_flow_add(dp->flows, key, dp->now, &created);

	if (pos < 0)
		return SL_FLOW_NONE;
	if (created)
		sl_dp_stream_init(dp, (uint32_t)pos, pipeline, tenant);
	sl_flow_at(dp->flows, pos)->last_tsc = dp->now;
	return (uint32_t)pos;
}

void
sl_dp_abort_output(struct sl_dp *dp, uint8_t pipeline, uint16_t stage,
		   const uint64_t *ancestry, uint8_t depth, uint16_t tenant,
		   uint32_t src_ip, uint16_t src_port, uint8_t reason)
{
	const struct sl_pipeline_cfg *pl = &dp->cfg->pipelines[pipeline];
	struct sl_flow_key k;
	struct sl_flow *f;
	struct rte_mbuf *m;
	uint32_t idx;

	memset(&k, 0, sizeof(k));
	k.pipeline = rte_cpu_to_be_32(pl->id);
	k.stage = rte_cpu_to_be_16(stage);
	k.depth = RTE_MIN(depth, (uint8_t)SL_ANCESTRY_MAX);
	k.src_ip = src_ip;
	k.src_port = src_port;
	k.tenant = rte_cpu_to_be_16(tenant);
	memcpy(k.ancestry, ancestry, 8u * k.depth);
	idx = sl_dp_stream_open(dp, &k, pipeline, tenant);
	if (idx == SL_FLOW_NONE) {
		uint32_t o = sl_dp_request_origin(dp, ancestry[0]);

		dp->cnt.drops[SL_DROP_FLOW_TABLE_FULL]++;
		if (o != SL_FLOW_NONE)
			sl_dp_request_abort(dp, o, reason);
		return;
	}
	f = sl_flow_at(dp->flows, idx);
	if (f->end_seq != UINT32_MAX)
		return; /* it ended (or is about to) on its own */
	struct sl_frag_hdr h = {
		.version = SL_WIRE_VERSION,
		.flags = SL_FRAG_F_ABORT,
		.abort_reason = reason,
		.depth = k.depth,
		.stage = stage,
		.from_stage = stage,
		.tenant = tenant,
		.pipeline = pl->id,
		.seq = f->next_seq,
	};
	m = sl_dp_tokenless(dp, &h, ancestry, idx, pipeline);
	if (m == NULL) {
		uint32_t o = sl_dp_request_origin(dp, ancestry[0]);

		if (o != SL_FLOW_NONE)
			sl_dp_request_abort(dp, o, reason);
		return;
	}
	f->end_seq = f->next_seq++;
	sl_dp_loop(dp, m);
}

void
sl_dp_request_abort(struct sl_dp *dp, uint32_t origin, uint8_t reason)
{
	struct sl_flow *o = sl_flow_at(dp->flows, origin);
	struct sl_frag_hdr h;

	if (o->marks & SL_FLOW_M_ABORTED)
		return;
	o->marks |= SL_FLOW_M_ABORTED;
	o->request_done = 1;
	dp->cnt.requests_aborted++;
	memset(&h, 0, sizeof(h));
	h.version = SL_WIRE_VERSION;
	h.pipeline = rte_be_to_cpu_32(o->key.pipeline);
	h.tenant = rte_be_to_cpu_16(o->key.tenant);
	h.depth = 1;
	h.ancestry[0] = rte_be_to_cpu_64(o->key.ancestry[0]);
	/* The request's own stream, back to its client: see WIRE.md. */
	sl_dp_send_abort(dp, o->key.src_ip, o->key.src_port, &h, reason, true);
	if (o->state == SL_FLOW_ACTIVE && o->next_seq > o->end_seq)
		sl_dp_flow_end(dp, origin);
}

void
sl_dp_refuse(struct sl_dp *dp, struct rte_mbuf *m, enum sl_drop reason)
{
	const struct sl_pkt_meta *pm = sl_pkt_meta(m);
	const uint8_t *hdr = rte_pktmbuf_mtod_offset(m, const uint8_t *,
						     pm->hdr_off);
	uint64_t id;

	dp->cnt.drops[reason]++;
	memcpy(&id, hdr + SL_WIRE_OFF_ANCESTRY, 8);
	if (!(pm->flags & SL_FRAG_F_ABORT)) {
		if (pm->stage == 0) {
			struct sl_frag_hdr h;
			uint32_t pid;
			uint16_t t;

			memset(&h, 0, sizeof(h));
			memcpy(&pid, hdr + SL_WIRE_OFF_PIPELINE, 4);
			memcpy(&t, hdr + SL_WIRE_OFF_TENANT, 2);
			h.pipeline = rte_be_to_cpu_32(pid);
			h.tenant = rte_be_to_cpu_16(t);
			h.depth = 1;
			h.ancestry[0] = rte_be_to_cpu_64(id);
			if (sl_dp_send_abort(dp, pm->src_ip, pm->src_port, &h,
					     SL_ABORT_OVERLOAD, false) == 0)
				dp->cnt.requests_refused++;
		} else {
			uint32_t o = sl_dp_request_origin(dp, id);

			if (o != SL_FLOW_NONE)
				sl_dp_request_abort(dp, o, SL_ABORT_OVERLOAD);
		}
	}
	rte_pktmbuf_free(m);
}

void
sl_dp_stream_ended(struct sl_dp *dp, uint32_t idx)
{
	struct sl_flow *f = sl_flow_at(dp->flows, idx);

	dp->cnt.flows.ended++;
	sl_dp_tenant_stream_done(dp, f);
	/* A request's client stream stays until its output is done (or, for
	 * pipelines with several outputs, until it idles out). */
	if (f->origin == idx && !f->request_done)
		return;
	sl_dp_flow_end(dp, idx);
}

void
sl_dp_edge_out(struct sl_dp *dp, const struct sl_edge_cfg *e,
	       struct rte_mbuf *m)
{
	const struct sl_pkt_meta *pm = sl_pkt_meta(m);

	if (e->to != SL_STAGE_CLIENT &&
	    dp->cfg->pipelines[pm->pipeline].stages[e->to - 1].kind !=
		    SL_STAGE_ENGINE) {
		sl_op_input(dp, e, m);
		return;
	}
	if (dp->n_out == SL_OUT_MAX)
		sl_dp_flush(dp);
	dp->out[dp->n_out++] = m;
}

void
sl_dp_flush(struct sl_dp *dp)
{
	uint16_t n = dp->n_out;

	dp->n_out = 0;
	n = sl_stage_route(dp, dp->out, n);
	sl_stage_tx(dp, dp->out, n);
}

void
sl_dp_loop(struct sl_dp *dp, struct rte_mbuf *m)
{
	if (dp->n_loop == SL_LOOP_MAX) {
		sl_dp_drop(dp, m, SL_DROP_LOOP_FULL);
		return;
	}
	dp->loop[(dp->loop_head + dp->n_loop) % SL_LOOP_MAX] = m;
	dp->n_loop++;
}


/* Operator results enter fanout as their stage's output. */
static void
dp_run_loop(struct sl_dp *dp)
{
	while (dp->n_loop != 0) {
		struct rte_mbuf *m = dp->loop[dp->loop_head];

		dp->loop_head = (dp->loop_head + 1) % SL_LOOP_MAX;
		dp->n_loop--;
		sl_dp_fanout_one(dp, m);
	}
}

/* Seeds for every instance of @cfg; state of an instance @prev did not
 * have starts at zero (its uid may have served a removed instance). */
static void
dp_instances_init(struct sl_dp *dp, const struct sl_config *cfg,
		  const struct sl_config *prev)
{
	bool known[SL_MAX_INSTANCE_UIDS] = {false};

	if (prev != NULL)
		for (uint16_t p = 0; p < prev->n_pipelines; p++)
			for (uint16_t s = 0; s < prev->pipelines[p].n_stages;
			     s++) {
				const struct sl_stage_cfg *st =
					&prev->pipelines[p].stages[s];

				for (uint16_t i = 0; i < st->n_instances; i++)
					known[st->instances[i].uid] = true;
			}
	for (uint16_t p = 0; p < cfg->n_pipelines; p++)
		for (uint16_t s = 0; s < cfg->pipelines[p].n_stages; s++) {
			const struct sl_stage_cfg *st =
				&cfg->pipelines[p].stages[s];

			for (uint16_t i = 0; i < st->n_instances; i++) {
				struct sl_instance_state *is =
					&dp->inst[st->instances[i].uid];

				if (!known[st->instances[i].uid]) {
					memset(is, 0, sizeof(*is));
					/* Alive until proven dead: it has
					 * liveness.dead_ms to answer. */
					is->alive = true;
					is->heard_tsc = dp->now;
				}
				is->seed = sl_route_seed(&st->instances[i].ep);
				is->ip = st->instances[i].ep.ip;
				is->port = st->instances[i].ep.port;
				is->stage_id = st->id;
				is->pipeline_id = cfg->pipelines[p].id;
				is->reachable = sl_neigh_lookup(&dp->neigh,
								is->ip) != NULL;
				/* A new instance is asked for at once (and
				 * kept: an instance's entry is never
				 * evicted for a client's). */
				sl_neigh_want(&dp->neigh, is->ip,
					      SL_NEIGH_INSTANCE, dp->now);
				if (!is->reachable && dp->pool != NULL)
					sl_arp_solicit(dp, is->ip);
			}
		}
}

/*
 * Token buckets by configured tenant; what tenants hold (dp->tenant_use)
 * is kept by tenant id and outlives any snapshot. A bucket whose tenant
 * the previous snapshot also had keeps its level.
 */
static void
dp_tenants_init(struct sl_dp *dp, const struct sl_config *cfg,
		const struct sl_config *prev)
{
	struct sl_tenant_state old[SL_MAX_TENANTS];
	uint8_t old_index[SL_MAX_TENANTS];
	uint16_t n_old = prev != NULL ? prev->n_tenants : 0;

	for (uint16_t t = 0; t < n_old; t++) {
		old[t] = dp->tenants[t];
		old_index[t] = t;
	}
	memset(dp->tenant_index, SL_TENANT_NONE, sizeof(dp->tenant_index));
	for (uint16_t t = 0; t < cfg->n_tenants; t++) {
		const struct sl_tenant_cfg *tc = &cfg->tenants[t];
		uint16_t k;

		dp->tenant_index[tc->id] = (uint8_t)t;
		for (k = 0; k < n_old; k++)
			if (prev->tenants[old_index[k]].id == tc->id)
				break;
		if (k < n_old) {
			dp->tenants[t] = old[k];
		} else {
			dp->tenants[t].tokens_milli =
				(uint64_t)tc->burst * 1000;
			dp->tenants[t].last_tsc = dp->now;
		}
	}
}

/* Quotas from the config and the mempool: half of the pool may be held
 * in reorder buffers and buffer edges, the clients' streams' reorder
 * buffers a quarter, one client address's requests an eighth and one
 * tenant's a quarter; the rest stays free for receive and for the
 * engine outputs of requests already admitted. */
static void
dp_quota_init(struct sl_dp *dp, const struct sl_config *cfg)
{
	uint32_t pool = dp->pool != NULL ? dp->pool->size : 8192;

	dp->quota.client_streams = cfg->client_streams;
	dp->quota.source_streams = cfg->source_streams;
	dp->quota.tenant_streams = cfg->tenant_streams;
	dp->quota.held_max = RTE_MAX(pool / 2, 1u);
	dp->quota.held_client = RTE_MAX(pool / 4, 1u);
	dp->quota.held_source = RTE_MAX(pool / 8, 1u);
	dp->quota.held_tenant = RTE_MAX(pool / 4, 1u);
}

/* What a config's derived state is made of (sl_split/op/route/
 * guard_edge_init fill these fields of struct sl_dp). */
struct dp_derived {
	void *hs_scratch;
	struct sl_op_state *op;
	struct sl_keypins *keypins;
	struct rte_mempool *guard_pool;
};

static void
dp_derived_swap(struct sl_dp *dp, struct dp_derived *d)
{
	struct dp_derived cur = {dp->hs_scratch, dp->op, dp->keypins,
				 dp->guard_pool};

	dp->hs_scratch = d->hs_scratch;
	dp->op = d->op;
	dp->keypins = d->keypins;
	dp->guard_pool = d->guard_pool;
	*d = cur;
}

/* Free the derived state in @d (swapped in for the finis). */
static void
dp_derived_free(struct sl_dp *dp, struct dp_derived *d)
{
	dp_derived_swap(dp, d);
	sl_op_fini(dp);
	sl_route_fini(dp);
	sl_split_fini(dp);
	sl_guard_edge_fini(dp);
	dp_derived_swap(dp, d);
}

/*
 * Build the derived state of @next into @d, leaving dp's own untouched.
 * A new layout gets all of it fresh; the same layout keeps the current
 * state (streams in flight hold pieces of it) and may only gain a guard
 * state pool (a guard got its first rules, or an edit grew its states
 * past the current pool's: sl_guard_edge_retire). Return 0 or a
 * negative errno, with nothing left allocated.
 */
static int
dp_derived_build(struct sl_dp *dp, const struct sl_config *next, bool same,
		 struct dp_derived *d)
{
	const struct sl_config *cur = dp->cfg;
	struct dp_derived keep = {0};
	int rc;

	*d = keep;
	if (same) {
		rc = sl_guard_edge_fits(dp, next);
		if (rc != 0)
			return rc < 0 ? rc : 0;
	}
	dp_derived_swap(dp, d); /* dp's fields now NULL, its own in d */
	keep = *d;
	*d = (struct dp_derived){0};
	dp->cfg = next;
	if (same) {
		rc = sl_guard_edge_init(dp);
	} else {
		rc = sl_split_init(dp);
		if (rc == 0)
			rc = sl_op_init(dp);
		if (rc == 0)
			rc = sl_route_init(dp);
		if (rc == 0)
			rc = sl_guard_edge_init(dp);
	}
	dp->cfg = cur;
	*d = keep;
	dp_derived_swap(dp, d); /* dp's own back, the new ones in d */
	if (rc != 0) {
		dp_derived_free(dp, d);
		*d = (struct dp_derived){0};
	}
	return rc;
}

/*
 * A new layout (pipelines, stages or edges changed): what a stream keeps
 * per edge (route pins, buffers, splitters, guard state) and what
 * operators hold belong to the old graph. Every stream that started
 * downstream and has not ended is ended explicitly first, under the old
 * config: an ABORT (RECONFIG) goes through fanout in its place, so every
 * consumer hears it (a buffer drops what it held, a splitter aborts its
 * child, an operator its group, a guard-blocked stream stays stopped).
 * A request whose pipeline is gone is told too. Streams that did not
 * start keep their entries (remapped to the pipeline's new index) and
 * start under the new graph.
 */
static void
dp_relayout(struct sl_dp *dp, const struct sl_config *next)
{
	struct sl_flow_table *ft = dp->flows;
	int map[SL_MAX_PIPELINES];

	for (uint16_t p = 0; p < dp->cfg->n_pipelines; p++) {
		map[p] = -1;
		for (uint16_t q = 0; q < next->n_pipelines; q++)
			if (next->pipelines[q].id == dp->cfg->pipelines[p].id)
				map[p] = q;
	}
	for (uint32_t i = 0; i < ft->capacity; i++) {
		struct sl_flow *f = &ft->flows[i];

		if (f->state != SL_FLOW_ACTIVE)
			continue;
		if (f->edges != NULL && f->next_seq <= f->end_seq)
			sl_dp_end_stream(dp, i, SL_ABORT_RECONFIG);
		else if (map[f->pipeline] < 0 && f->key.stage == 0 &&
			 !f->request_done)
			sl_dp_request_abort(dp, i, SL_ABORT_RECONFIG);
	}
	do {
		dp_run_loop(dp);
		sl_dp_flush(dp);
	} while (dp->n_loop != 0);
	for (uint32_t i = 0; i < ft->capacity; i++) {
		struct sl_flow *f = &ft->flows[i];

		if (f->state == SL_FLOW_FREE)
			continue;
		if (f->edges != NULL)
			dp_edges_release(dp, f);
		if (map[f->pipeline] < 0)
			sl_flow_remove(ft, i);
		else
			f->pipeline = (uint8_t)map[f->pipeline];
	}
	memset(dp->stages, 0, sizeof(dp->stages));
	/* The key pins are gone: so are the keys they counted. */
	for (unsigned int u = 0; u < SL_MAX_INSTANCE_UIDS; u++)
		dp->inst[u].keys_active = 0;
}

/*
 * Take dp->cfg_next. All or nothing: the derived state of the new
 * config is built first; if that fails nothing changes and the reason is
 * left in dp->adopt_rc for sl_dp_publish.
 */
void
sl_dp_adopt(struct sl_dp *dp)
{
	const struct sl_config *next = dp->cfg_next;
	const struct sl_config *old = dp->cfg;
	bool same = sl_config_same_layout(old, next);
	struct dp_derived fresh;
	int rc;

	rc = dp_derived_build(dp, next, same, &fresh);
	if (rc != 0) {
		dp->cnt.reconfig_errors++;
		dp->adopt_rc = rc;
		__atomic_store_n(&dp->cfg_next, NULL, __ATOMIC_RELEASE);
		return;
	}
	if (!same) {
		dp_relayout(dp, next);
		/* Streams gave their edge state back: the old derived state
		 * is held by nothing now. */
		dp_derived_swap(dp, &fresh);
		dp_derived_free(dp, &fresh);
		/* Operator counters are kept by stage index: a new layout
		 * starts them again. */
		memset(dp->op_cnt, 0, sizeof(dp->op_cnt));
	} else if (fresh.guard_pool != NULL) {
		sl_guard_edge_retire(dp, fresh.guard_pool);
	}
	dp_instances_init(dp, next, old);
	dp_tenants_init(dp, next, old);
	dp_quota_init(dp, next);
	dp->cfg = next;
	dp->cnt.reconfigs++;
	dp->adopt_rc = 0;
	__atomic_store_n(&dp->cfg_next, NULL, __ATOMIC_RELEASE);
}

int
sl_dp_publish(struct sl_dp *dp, const struct sl_config *next,
	      const struct sl_config **old)
{
	const struct sl_config *prev = dp->cfg;

	*old = NULL;
	if (!dp->running) {
		dp->cfg_next = next;
		sl_dp_adopt(dp);
		if (dp->adopt_rc != 0)
			return dp->adopt_rc;
		*old = prev;
		return 0;
	}
	__atomic_store_n(&dp->cfg_next, next, __ATOMIC_RELEASE);
	for (int i = 0; i < 100000; i++) {
		if (__atomic_load_n(&dp->cfg_next, __ATOMIC_ACQUIRE) == NULL) {
			/* Taken (or refused); one more quiescent state and
			 * the old snapshot is read nowhere. */
			rte_rcu_qsbr_synchronize(dp->qsbr, RTE_QSBR_THRID_INVALID);
			if (dp->adopt_rc != 0)
				return dp->adopt_rc;
			*old = prev;
			return 0;
		}
		rte_delay_us_sleep(10);
	}
	/* Withdraw the offer unless the worker took it at the last moment. */
	const struct sl_config *expect = next;

	if (__atomic_compare_exchange_n(&dp->cfg_next, &expect, NULL, false,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return -ETIMEDOUT;
	rte_rcu_qsbr_synchronize(dp->qsbr, RTE_QSBR_THRID_INVALID);
	*old = prev;
	return 0;
}

int
sl_dp_init(struct sl_dp *dp, const struct sl_config *cfg, uint16_t port_id,
	   struct rte_mempool *pool)
{
	char name[32];
	static unsigned int seq;
	uint64_t idle_ms, linger_ms;
	int rc;

	memset(dp, 0, sizeof(*dp));
	dp->cfg = cfg;
	dp->port_id = port_id;
	dp->tx_port_id = port_id;
	dp->queue_id = 0;
	dp->pool = pool;
	dp->tsc_hz = rte_get_tsc_hz();
	dp->ns_per_tsc_q32 = (uint64_t)(((unsigned __int128)1000000000 << 32) /
					dp->tsc_hz);
	dp->now = rte_rdtsc();
	if (rte_eth_dev_is_valid_port(port_id))
		rte_eth_macaddr_get(port_id, &dp->mac);

	idle_ms = cfg->flow_idle_ms;
	linger_ms = RTE_MIN((uint64_t)SL_FLOW_LINGER_MS, idle_ms);
	dp->idle_tsc = dp->tsc_hz / 1000 * idle_ms;
	dp->linger_tsc = dp->tsc_hz / 1000 * linger_ms;

	/* Flows start with hop_neigh_gen 0: never a valid generation. */
	dp->neigh.gen = 1;
	if (getrandom(&dp->src_key, sizeof(dp->src_key), 0) !=
	    sizeof(dp->src_key))
		dp->src_key = rte_rdtsc() * 0x9e3779b97f4a7c15ull;
	dp_tenants_init(dp, cfg, NULL);
	dp_quota_init(dp, cfg);
	dp_instances_init(dp, cfg, NULL);

	snprintf(name, sizeof(name), "sl_flows_%u", seq++);
	dp->flows = sl_flow_table_create(name, cfg->flow_table_size,
					 cfg->reorder_window, rte_socket_id(),
					 dp_flow_released, dp);
	if (dp->flows == NULL) {
		rc = -rte_errno;
		goto fail;
	}
	sl_flow_set_keep(dp->flows, dp_flow_keep);
	dp->expire_budget = RTE_MAX(64u, (uint32_t)(dp->flows->capacity /
				   RTE_MAX(idle_ms / 4, (uint64_t)1)));
	snprintf(name, sizeof(name), "sl_edges_%u", seq - 1);
	dp->edge_pool = rte_mempool_create(name, dp->flows->capacity,
		sizeof(struct sl_edge_block), 0, 0, NULL, NULL, NULL, NULL,
		rte_socket_id(), RTE_MEMPOOL_F_SP_PUT | RTE_MEMPOOL_F_SC_GET);
	snprintf(name, sizeof(name), "sl_held_%u", seq - 1);
	dp->held_pool = rte_mempool_create(name,
		RTE_MAX(dp->flows->capacity / 4, 1024u) - 1,
		sizeof(struct sl_held_chunk), 0, 0, NULL, NULL, NULL, NULL,
		rte_socket_id(), RTE_MEMPOOL_F_SP_PUT | RTE_MEMPOOL_F_SC_GET);
	if (dp->edge_pool == NULL || dp->held_pool == NULL) {
		rc = -rte_errno;
		goto fail;
	}
	dp->qsbr = rte_zmalloc("sl_qsbr", rte_rcu_qsbr_get_memsize(1),
			       RTE_CACHE_LINE_SIZE);
	if (dp->qsbr == NULL || rte_rcu_qsbr_init(dp->qsbr, 1) != 0 ||
	    rte_rcu_qsbr_thread_register(dp->qsbr, 0) != 0) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = sl_rtx_init(dp);
	if (rc == 0)
		rc = sl_split_init(dp);
	if (rc == 0)
		rc = sl_op_init(dp);
	if (rc == 0)
		rc = sl_route_init(dp);
	if (rc == 0)
		rc = sl_guard_edge_init(dp);
	if (rc != 0)
		goto fail;
	return 0;
fail:
	sl_dp_fini(dp);
	return rc;
}

void
sl_dp_shutdown(struct sl_dp *dp, uint8_t reason)
{
	struct sl_flow_table *ft = dp->flows;

	if (ft == NULL)
		return;
	dp->now = rte_rdtsc();
	for (uint32_t i = 0; i < ft->capacity; i++) {
		struct sl_flow *f = &ft->flows[i];

		if (f->state != SL_FLOW_ACTIVE)
			continue;
		/* A client still sending its request is told too. */
		if (f->key.stage == 0 && !f->request_done)
			sl_dp_request_abort(dp, i, reason);
		if (f->next_seq <= f->end_seq)
			sl_dp_end_stream(dp, i, reason);
		sl_dp_make_room(dp);
	}
	do {
		dp_run_loop(dp);
		sl_dp_flush(dp);
	} while (dp->n_loop != 0);
	sl_stage_tx(dp, NULL, 0);
}

void
sl_dp_fini(struct sl_dp *dp)
{
	/* Streams give back their edge state (and splitters) first. */
	sl_flow_table_free(dp->flows);
	dp->flows = NULL;
	sl_guard_edge_reap(dp, true);
	sl_rtx_fini(dp);
	sl_op_fini(dp);
	sl_split_fini(dp);
	sl_route_fini(dp);
	sl_guard_edge_fini(dp);
	rte_mempool_free(dp->edge_pool);
	dp->edge_pool = NULL;
	rte_mempool_free(dp->held_pool);
	dp->held_pool = NULL;
	rte_free(dp->qsbr);
	dp->qsbr = NULL;
	for (uint16_t i = 0; i < dp->n_out; i++)
		rte_pktmbuf_free(dp->out[i]);
	dp->n_out = 0;
	while (dp->n_loop != 0) {
		rte_pktmbuf_free(dp->loop[dp->loop_head]);
		dp->loop_head = (dp->loop_head + 1) % SL_LOOP_MAX;
		dp->n_loop--;
	}
	for (uint16_t i = 0; i < dp->n_ctrl; i++)
		rte_pktmbuf_free(dp->ctrl[i]);
	dp->n_ctrl = 0;
	if (dp->impair != NULL)
		sl_impair_flush(dp->impair);
	/* The stats box (sl_stats.c): one allocation. */
	free(dp->stats_box);
	dp->stats_box = NULL;
}

#define PROF(dp, id, n, call)                                                 \
	do {                                                                  \
		uint64_t t0_ = rte_rdtsc();                                   \
		dp->prof[id].packets += (n);                                  \
		call;                                                         \
		dp->prof[id].cycles += rte_rdtsc() - t0_;                     \
	} while (0)

void
sl_dp_process(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n)
{
	dp->cnt.rx_packets += n;
	if (likely(!dp->profile)) {
		n = sl_stage_parse(dp, pkts, n);
		n = sl_stage_admit(dp, pkts, n);
		n = sl_stage_order(dp, pkts, n);
		sl_stage_fanout(dp, pkts, n);
		/* Routing may put ABORTs in the loop (sl_dp_abort_output). */
		do {
			dp_run_loop(dp);
			sl_dp_flush(dp);
		} while (unlikely(dp->n_loop != 0));
		return;
	}
	PROF(dp, SL_STAGE_PARSE, n, n = sl_stage_parse(dp, pkts, n));
	PROF(dp, SL_STAGE_ADMIT, n, n = sl_stage_admit(dp, pkts, n));
	PROF(dp, SL_STAGE_ORDER, n, n = sl_stage_order(dp, pkts, n));
	PROF(dp, SL_STAGE_FANOUT, n, sl_stage_fanout(dp, pkts, n);
	     dp_run_loop(dp));
	n = dp->n_out;
	dp->n_out = 0;
	PROF(dp, SL_STAGE_ROUTE, n, n = sl_stage_route(dp, dp->out, n));
	PROF(dp, SL_STAGE_TX, n, sl_stage_tx(dp, dp->out, n));
	while (unlikely(dp->n_loop != 0)) {
		dp_run_loop(dp);
		sl_dp_flush(dp);
	}
}

void
sl_dp_make_room(struct sl_dp *dp)
{
	if (dp->n_loop <= SL_LOOP_MAX / 2 && dp->n_ctrl <= SL_CTRL_TX_MAX / 2)
		return;
	do {
		dp_run_loop(dp);
		sl_dp_flush(dp);
	} while (dp->n_loop != 0);
	sl_stage_tx(dp, NULL, 0);
}

void
sl_dp_end_stream(struct sl_dp *dp, uint32_t idx, uint8_t reason)
{
	struct sl_flow *f = sl_flow_at(dp->flows, idx);
	struct sl_frag_hdr h = {
		.version = SL_WIRE_VERSION,
		.flags = SL_FRAG_F_ABORT,
		.abort_reason = reason,
		.depth = f->key.depth,
		.stage = rte_be_to_cpu_16(f->key.stage),
		.from_stage = rte_be_to_cpu_16(f->key.stage),
		.tenant = rte_be_to_cpu_16(f->key.tenant),
		.pipeline = rte_be_to_cpu_32(f->key.pipeline),
		.seq = f->next_seq,
	};
	uint64_t ancestry[SL_ANCESTRY_MAX];
	struct rte_mbuf *m;

	sl_dp_flow_ancestry(dp, idx, ancestry);
	m = sl_dp_tokenless(dp, &h, ancestry, idx, f->pipeline);
	if (m == NULL) {
		sl_flow_remove(dp->flows, idx);
		return;
	}
	f->end_seq = f->next_seq++;
	f->request_done = 1;
	sl_dp_fanout_one(dp, m);
}

/*
 * A stream that never ended: its consumers get an ABORT (EXPIRED), sent
 * through fanout like any fragment so that buffers, splitters and
 * operators all see it; the stream then lingers like any ended one.
 */
static void
dp_expire_stream(struct sl_dp *dp, uint32_t idx)
{
	dp->cnt.flows.expired++;
	sl_dp_end_stream(dp, idx, SL_ABORT_EXPIRED);
}


/* A slice of the table per call, the whole table every quarter of the
 * idle timeout: idle streams are rare and their timeout long. */
static void
dp_expire_idle(struct sl_dp *dp)
{
	struct sl_flow_table *ft = dp->flows;
	uint32_t i = dp->expire_cursor;

	for (uint32_t n = 0; n < dp->expire_budget && n < ft->capacity; n++) {
		struct sl_flow *f = &ft->flows[i];

		if (f->state == SL_FLOW_ACTIVE &&
		    dp->now - f->last_tsc > dp->idle_tsc) {
			/* A client stream whose request saw no output: the
			 * client is told (a request's output that never
			 * started has no stream of its own to carry the
			 * news, and the way down may be gone: a dead
			 * instance, a refused route). One that ended
			 * lingers, so an ABORT for an output can still find
			 * its client. Any other stream, and a client stream
			 * that never ended, started downstream or not, ends
			 * with an ABORT through fanout: every consumer
			 * hears. */
			bool ended = f->next_seq > f->end_seq;

			if (f->key.stage == 0 && !f->request_done &&
			    (dp->cfg->pipelines[f->pipeline].single_output ||
			     !(f->marks & SL_FLOW_M_OUTPUT)))
				sl_dp_request_abort(dp, i, SL_ABORT_EXPIRED);
			if (f->key.stage == 0 && ended) {
				dp->cnt.flows.expired++;
				f->request_done = 1;
				sl_dp_flow_end(dp, i);
			} else {
				dp_expire_stream(dp, i);
			}
		}
		if (++i == ft->capacity)
			i = 0;
	}
	dp->expire_cursor = i;
}

void
sl_dp_gap_watch(struct sl_dp *dp, uint32_t idx)
{
	struct sl_flow *f = sl_flow_at(dp->flows, idx);
	uint32_t t;

	if ((f->marks & SL_FLOW_M_GAP) || dp->n_gaps == SL_GAPS_MAX)
		return;
	t = (dp->gap_head + dp->n_gaps) % SL_GAPS_MAX;
	dp->gaps[t] = (struct sl_gap_ref){idx, f->gen};
	dp->n_gaps++;
	f->marks |= SL_FLOW_M_GAP;
}

/* NACK repeats that are due; a stream leaves the list when its gap is
 * closed, or it left the table, or its repeats are spent: then it ends
 * with ABORT (LOST) at the gap. */
static void
dp_gaps(struct sl_dp *dp)
{
	for (uint32_t n = dp->n_gaps; n > 0; n--) {
		struct sl_gap_ref g = dp->gaps[dp->gap_head];
		struct sl_flow *f = sl_flow_at(dp->flows, g.idx);
		struct rte_mbuf *held;

		dp->gap_head = (dp->gap_head + 1) % SL_GAPS_MAX;
		dp->n_gaps--;
		if (f->gen != g.gen || f->state != SL_FLOW_ACTIVE)
			continue;
		if (f->gap_end <= f->next_seq || f->next_seq > f->end_seq) {
			f->marks &= (uint8_t)~SL_FLOW_M_GAP;
			continue;
		}
		if (sl_rtx_gap_spent(dp, f)) {
			/* Its sender never repaired it: the stream ends
			 * here, explicitly, like one that went quiet. */
			f->marks &= (uint8_t)~SL_FLOW_M_GAP;
			dp->cnt.rtx.nack_gave_up++;
			sl_dp_end_stream(dp, g.idx, SL_ABORT_LOST);
			sl_dp_make_room(dp);
			continue;
		}
		held = sl_flow_first_held(dp->flows, f);
		sl_rtx_nack(dp, f, f->gap_end,
			    held != NULL ? sl_dp_from_stage(held) : 0);
		dp->gaps[(dp->gap_head + dp->n_gaps) % SL_GAPS_MAX] = g;
		dp->n_gaps++;
	}
}

/* Instances whose MAC became known can take streams. */
static void
dp_reachability(struct sl_dp *dp)
{
	const struct sl_config *cfg = dp->cfg;

	if (dp->neigh.resolutions == dp->last_resolutions)
		return;
	dp->last_resolutions = dp->neigh.resolutions;
	for (uint16_t p = 0; p < cfg->n_pipelines; p++)
		for (uint16_t s = 0; s < cfg->pipelines[p].n_stages; s++) {
			const struct sl_stage_cfg *st =
				&cfg->pipelines[p].stages[s];

			for (uint16_t i = 0; i < st->n_instances; i++) {
				struct sl_instance_state *is =
					&dp->inst[st->instances[i].uid];

				is->reachable = sl_neigh_lookup(&dp->neigh,
								is->ip) != NULL;
			}
		}
}

void
sl_dp_housekeeping(struct sl_dp *dp)
{
	dp_reachability(dp);
	dp_gaps(dp);
	sl_rtx_housekeeping(dp);
	sl_live_housekeeping(dp);
	/* What those put in the loop (ABORTs in place of answers, the
	 * operator results they make) names flows that may be lingering:
	 * through fanout before any of them goes. */
	do {
		dp_run_loop(dp);
		sl_dp_flush(dp);
	} while (dp->n_loop != 0);
	sl_flow_expire_ended(dp->flows, dp->now, dp->linger_tsc);
	dp_expire_idle(dp);
	sl_op_housekeeping(dp);
	sl_route_housekeeping(dp);
	if (dp->n_guard_retired != 0)
		sl_guard_edge_reap(dp, false);
	do {
		dp_run_loop(dp);
		sl_dp_flush(dp);
	} while (dp->n_loop != 0);
	sl_neigh_retry(dp);
	if (dp->n_ctrl != 0 ||
	    (dp->impair != NULL && dp->impair->n_held_tx != 0))
		sl_stage_tx(dp, NULL, 0);
}
