/* SPDX-License-Identifier: MIT */
/*
 * sl_stream.c - streams and requests in the flow table (see sl_stream.h).
 */
#include <string.h>

#include <rte_byteorder.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "sl_dp.h"
#include "sl_frag.h"
#include "sl_rtx.h"
#include "sl_stream.h"

void
sl_stream_released(struct sl_dp *dp, struct sl_flow *f, bool ended)
{
	if (f->tenant_counted) {
		sl_ledger_add(&dp->led->tenant_use[f->tenant].streams, -1);
		f->tenant_counted = 0;
	}
	sl_dp_request_uncharge(dp, f);
	if (!ended)
		dp->cnt.flows.expired++;
	/* The flow table frees the reorder buffer's fragments next. */
	sl_dp_held_charge(dp, f->src_slot, f->tenant, f->key.stage == 0,
			  -(int)f->n_held);
	dp->cnt.drops[SL_DROP_EXPIRED] += f->n_held;
}

uint32_t
sl_dp_request_origin(struct sl_dp *dp, uint64_t id_be)
{
	uint64_t id = rte_be_to_cpu_64(id_be);
	uint32_t o = (uint32_t)id & SL_DP_REQUEST_IDX_MASK;
	const struct sl_flow *of;

	if (!(id & SL_DP_REQUEST_ID_MARK) || o >= dp->flows->capacity)
		return SL_FLOW_NONE;
	of = sl_flow_at(dp->flows, o);
	if (sl_dp_request_id(dp, o, of->gen) != id ||
	    of->state == SL_FLOW_FREE || of->key.stage != 0)
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
		sl_ledger_add(&dp->led->src_use[f->src_slot].streams, 1);
		sl_ledger_add(&dp->led->tenant_use[tenant].requests, 1);
		sl_ledger_add(&dp->led->client_streams, 1);
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
	sl_ledger_add(&dp->led->tenant_use[f->tenant].streams, 1);
	f->tenant_counted = 1;
}

void
sl_dp_flow_ancestry(struct sl_dp *dp, uint32_t idx, uint64_t *out)
{
	const struct sl_flow *f = sl_flow_at(dp->flows, idx);

	memcpy(out, f->key.ancestry, sizeof(f->key.ancestry));
	if (f->key.stage == 0)
		out[0] = rte_cpu_to_be_64(sl_dp_request_id(dp, idx, f->gen));
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
	const uint8_t *hdr =
		rte_pktmbuf_mtod_offset(m, const uint8_t *, pm->hdr_off);
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
	sl_dp_loop(dp, m);
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
void
sl_stream_expire_idle(struct sl_dp *dp)
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
bool
sl_stream_gaps(struct sl_dp *dp, bool start)
{
	if (start)
		dp->gaps_todo = dp->n_gaps;
	for (; dp->gaps_todo > 0; dp->gaps_todo--) {
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
			if (sl_dp_queues_busy(dp)) {
				dp->gaps_todo--;
				return true;
			}
			continue;
		}
		held = sl_flow_first_held(dp->flows, f);
		sl_rtx_nack(dp, f, f->gap_end,
			    held != NULL ? sl_dp_from_stage(held) : 0);
		dp->gaps[(dp->gap_head + dp->n_gaps) % SL_GAPS_MAX] = g;
		dp->n_gaps++;
	}
	return false;
}
