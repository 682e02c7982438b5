/* SPDX-License-Identifier: MIT */
/*
 * stage_route.c - packet stage 5: send each fragment where its stream goes.
 *
 * In:  fragments fanout staged, each with the edge it leaves on and the
 *      route pin of its outgoing stream (sl_pkt_meta.edge, .pin).
 * Out: frames rewritten for their next hop (Ethernet, IPv4, UDP, and the
 *      header's stage and from_stage), ready for tx.
 * Decision: made once per outgoing stream, at its first fragment, and
 *      pinned: an edge to the client returns to the address the request
 *      came from; an edge to a stage picks an instance with sl_route_take
 *      (rendezvous hash on the first L ancestry ids for aggregation level
 *      L, else the stage's policy; least_loaded and prompt_aware from
 *      the scheduler's published plan, O(1)). The next hop's MAC is cached
 *      in the pin and re-read only when the neighbour table changes.
 * Drops: NO_ORIGIN (the request's client is no longer known),
 *      NO_INSTANCE (no instance of the stage can take a new stream: its
 *      consumers get ABORT (OVERLOAD) in its place, sl_dp_abort_output),
 *      NO_ROUTE (later fragments of such a stream), REQUEST_ABORTED
 *      (output of a request sluiced already aborted), NO_NEIGHBOR (next
 *      hop not resolved and the fragment could not be kept).
 * Loss repair: every fragment sent is kept for resends (sl_rtx_keep);
 *      one whose next hop is not resolved yet is kept without being sent
 *      (ARP is asked) and goes out on the receiver's NACK or the END's
 *      resend.
 *
 * When an END or ABORT passes, the outgoing stream stops counting as in
 * flight at its instance; on a pipeline with a single output, the END of
 * the output marks the request done.
 *
 * Cost: 186.0 cycles per fragment in `tools/bench/dataplane.sh` at
 *      2c1fee9 (median of 5 profiled rounds; 2-vCPU Xeon at 2.10 GHz,
 *      quiet; 1024 streams x 16 fragments, 3 hops;
 *      tools/bench/results/dataplane.md has every run).
 */
#include <rte_branch_prediction.h>
#include <rte_byteorder.h>
#include <rte_ether.h>

#include "sl_arp.h"
#include "sl_dp.h"
#include "sl_gtx.h"
#include "sl_route.h"
#include "sl_rtx.h"
#include "sl_sched.h"
#include "sl_split.h"
#include "sl_stream.h"

/* The request's client stream, if it is still the one this flow knew. */
static inline struct sl_flow *
route_origin(struct sl_dp *dp, const struct sl_flow *f)
{
	struct sl_flow *o;

	if (f->origin == SL_FLOW_NONE)
		return NULL;
	o = sl_flow_at(dp->flows, f->origin);
	return o->gen == f->origin_gen && o->state != SL_FLOW_FREE ? o : NULL;
}

/* First fragment of an outgoing stream: choose where it goes. Return 0 or
 * the drop reason. */
static __rte_noinline enum sl_drop
route_decide(struct sl_dp *dp, struct sl_route_pin *pin,
	     const struct sl_pkt_meta *pm, const uint8_t *hdr)
{
	const struct sl_pipeline_cfg *pl = &dp->cfg->pipelines[pm->pipeline];
	const struct sl_edge_cfg *e = &pl->edges[pm->edge];

	if (e->to == SL_STAGE_CLIENT) {
		const struct sl_flow *o =
			route_origin(dp, sl_flow_at(dp->flows, pm->flow));

		if (o == NULL)
			return SL_DROP_NO_ORIGIN;
		if (o->marks & SL_FLOW_M_ABORTED)
			return SL_DROP_REQUEST_ABORTED;
		pin->stage = SL_STAGE_CLIENT;
		pin->instance = SL_INSTANCE_CLIENT;
		pin->hop_ip = o->key.src_ip;
		pin->hop_port = o->key.src_port;
		pin->client_req = o->key.ancestry[0];
		/* route_origin gave a live entry of the same generation. */
		sl_flow_at(dp->flows, sl_flow_at(dp->flows, pm->flow)->origin)
			->marks |= SL_FLOW_M_OUTPUT;
		return 0;
	}
	const struct sl_stage_cfg *st = &pl->stages[e->to - 1];
	uint64_t ancestry[SL_ANCESTRY_MAX];
	uint16_t i;

	/* Admission checked the depth; the key must not read past it. */
	if (unlikely(pm->depth > SL_ANCESTRY_MAX ||
		     st->aggregation > pm->depth))
		return SL_DROP_DEPTH_MISMATCH;
	memcpy(ancestry, hdr + SL_WIRE_OFF_ANCESTRY, 8u * pm->depth);
	pin->keypin = UINT32_MAX;
	if (st->load_bound > 0 && st->aggregation > 0 && !pin->oneshot)
		i = sl_route_pick_pinned(dp, pm->pipeline, e->to - 1, ancestry,
					 pm->depth, pin);
	else
		i = sl_route_take(dp, pm->pipeline, (uint8_t)(e->to - 1),
				  ancestry, pm->depth);
	if (i == SL_INSTANCE_NONE) {
		/* Refused now rather than queued until lost: whoever waits
		 * for this stage's answer hears ABORT (OVERLOAD). */
		if (!pin->oneshot)
			sl_dp_abort_output(
				dp, pm->pipeline, e->to, ancestry, pm->depth,
				sl_flow_at(dp->flows, pm->flow)->tenant, 0, 0,
				SL_ABORT_OVERLOAD);
		return SL_DROP_NO_INSTANCE;
	}
	if (unlikely(st->instances[i].gpu)) {
		/* A local GPU instance: the stream takes a ring slot (none
		 * without rings: the config was refused then, but a
		 * fragment must never go out unrewritten). */
		if (pin->oneshot && dp->gtx != NULL) {
			pin->gpu_slot = SL_GTX_SLOT_MARKER;
		} else {
			const struct sl_flow *o = route_origin(
				dp, sl_flow_at(dp->flows, pm->flow));
			uint32_t slot =
				sl_gtx_slot_take(dp->gtx, hdr, e->to, pm->stage,
						 st->instances[i].ep.ip,
						 st->instances[i].ep.port,
						 o != NULL ? o->key.src_ip : 0);

			if (slot == SL_GTX_SLOT_NONE ||
			    slot == SL_GTX_SLOT_QUOTA) {
				sl_route_unpin(dp, pin);
				sl_dp_abort_output(
					dp, pm->pipeline, e->to, ancestry,
					pm->depth,
					sl_flow_at(dp->flows, pm->flow)->tenant,
					0, 0, SL_ABORT_OVERLOAD);
				return slot == SL_GTX_SLOT_QUOTA
					       ? SL_DROP_GPU_SOURCE_SLOTS
					       : SL_DROP_GPU_NO_SLOT;
			}
			pin->gpu_slot = slot;
		}
	}
	pin->stage = e->to;
	pin->instance = st->instances[i].uid;
	pin->hop_ip = st->instances[i].ep.ip;
	pin->hop_port = st->instances[i].ep.port;
	if (!pin->oneshot) {
		dp->inst[pin->instance].streams++;
		dp->inst[pin->instance].streams_active++;
		pin->in_flight = 1;
		/* A stream that starts with its ABORT asks for no
		 * answer: nothing to wait for. */
		if (!(pm->flags & SL_FRAG_F_ABORT)) {
			dp->inst[pin->instance].answers_owed++;
			if (dp->sched_ring != NULL)
				sl_sched_report(dp, SL_SCHED_ROUTED,
						pin->instance, ancestry[0],
						ancestry[pm->depth - 1], 0);
		}
	}
	return 0;
}

/* END or ABORT passed on an outgoing stream. */
static __rte_noinline void
route_stream_end(struct sl_dp *dp, struct sl_route_pin *pin,
		 const struct sl_pkt_meta *pm)
{
	const struct sl_pipeline_cfg *pl = &dp->cfg->pipelines[pm->pipeline];

	if (pin->in_flight) {
		dp->inst[pin->instance].streams_active--;
		pin->in_flight = 0;
		sl_route_unpin(dp, pin);
	}
	/* A request's client stream outlives its own END: its address is
	 * where the output goes. With a single output, that output's END
	 * completes the request. */
	if (pin->instance == SL_INSTANCE_CLIENT && pl->single_output &&
	    !pin->oneshot) {
		struct sl_flow *o =
			route_origin(dp, sl_flow_at(dp->flows, pm->flow));

		if (o != NULL) {
			o->request_done = 1;
			if (o->next_seq > o->end_seq)
				sl_dp_flow_end(dp,
					       sl_flow_at(dp->flows, pm->flow)
						       ->origin);
		}
	}
}

/*
 * A fragment for a local GPU instance: marked for gpu_tx with its ring
 * slot, not rewritten and not kept for resends (nothing is lost between
 * here and the ring; the ring's own refusals end the stream there).
 */
static __rte_noinline void
route_gpu(struct sl_dp *dp, struct rte_mbuf *m, struct sl_pkt_meta *pm,
	  struct sl_route_pin *pin)
{
	pm->gpu = 1;
	pm->pin = pin->gpu_slot;
	dp->inst[pin->instance].fragments++;
	dp->inst[pin->instance].last_tsc = dp->now;
	if (pm->flags & (SL_FRAG_F_END | SL_FRAG_F_ABORT)) {
		/* The slot goes with its last fragment: gpu_tx closes it,
		 * the unpin below must not. */
		if (pin->gpu_slot != SL_GTX_SLOT_MARKER)
			pin->gpu_slot = SL_GTX_SLOT_NONE;
		route_stream_end(dp, pin, pm);
	}
	(void)m;
}

static inline void
route_rewrite(struct sl_dp *dp, struct rte_mbuf *m, struct sl_pkt_meta *pm,
	      const struct sl_route_pin *pin, const struct rte_ether_addr *mac)
{
	const uint16_t l234 = SL_WIRE_FRAME_HDR_OFF;
	uint8_t *hdr;
	uint16_t v;

	/* Drop IPv4 options and Ethernet padding: the new frame is exactly
	 * Ethernet + IPv4 + UDP + datagram. */
	if (unlikely(pm->hdr_off != l234)) {
		rte_pktmbuf_adj(m, pm->hdr_off - l234);
		pm->hdr_off = l234;
	}
	sl_dp_frame_headers(dp, m, mac, pin->hop_ip, pin->hop_port,
			    pm->dgram_len);
	hdr = rte_pktmbuf_mtod_offset(m, uint8_t *, l234);

	/* An instance sees the stage it serves and who produced the stream;
	 * the client sees the producing stage in both, and its own request
	 * id (instances see sluiced's). */
	if (pin->instance == SL_INSTANCE_CLIENT) {
		v = rte_cpu_to_be_16(pm->stage);
		memcpy(hdr + SL_WIRE_OFF_ANCESTRY, &pin->client_req, 8);
	} else {
		v = rte_cpu_to_be_16(pin->stage);
	}
	memcpy(hdr + SL_WIRE_OFF_STAGE, &v, 2);
	v = rte_cpu_to_be_16(pm->stage);
	memcpy(hdr + SL_WIRE_OFF_FROM_STAGE, &v, 2);
}

/* The route pin fragment @pm follows (see sl_pkt_meta). */
static struct sl_route_pin *
route_pin_of(struct sl_dp *dp, const struct sl_pkt_meta *pm)
{
	struct sl_edge_block *eb = sl_flow_at(dp->flows, pm->flow)->edges;
	struct sl_edge_state *es = &eb->e[pm->slot];

	if (likely(pm->pin_kind == SL_PIN_EDGE))
		return &es->pin;
	if (pm->pin_kind == SL_PIN_CHILD)
		return &dp->child_pins[pm->pin];
	return sl_split_pin(dp, es->split, true);
}

uint16_t
sl_stage_route(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n)
{
	uint16_t out = 0;

	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		struct sl_pkt_meta *pm = sl_pkt_meta(m);
		struct sl_route_pin *pin = route_pin_of(dp, pm);
		const struct rte_ether_addr *mac = &pin->hop_mac;

		if (unlikely(pin->instance == SL_INSTANCE_NONE ||
			     pin->instance == SL_INSTANCE_REFUSED)) {
			const uint8_t *hdr = rte_pktmbuf_mtod_offset(
				m, const uint8_t *, pm->hdr_off);
			enum sl_drop why;

			if (pin->instance == SL_INSTANCE_REFUSED) {
				sl_dp_drop(dp, m, SL_DROP_NO_ROUTE);
				continue;
			}
			why = route_decide(dp, pin, pm, hdr);
			if (why != 0) {
				/* Decided once: the stream's later fragments
				 * need no second look. */
				if (!pin->oneshot)
					pin->instance = SL_INSTANCE_REFUSED;
				sl_dp_drop(dp, m, why);
				continue;
			}
		}
		if (unlikely(pin->gpu_slot != SL_GTX_SLOT_NONE)) {
			route_gpu(dp, m, pm, pin);
			pkts[out++] = m;
			continue;
		}
		pm->gpu = 0;
		if (unlikely(pin->hop_neigh_gen != dp->neigh.gen)) {
			mac = sl_neigh_lookup(&dp->neigh, pin->hop_ip);
			if (likely(mac != NULL)) {
				pin->hop_mac = *mac;
				pin->hop_neigh_gen = dp->neigh.gen;
			} else {
				sl_arp_solicit(dp, pin->hop_ip);
			}
		}
		route_rewrite(dp, m, pm, pin, mac);
		if (pin->instance != SL_INSTANCE_CLIENT) {
			dp->inst[pin->instance].fragments++;
			dp->inst[pin->instance].last_tsc = dp->now;
		}
		sl_rtx_keep(dp, pin, m,
			    pin->instance != SL_INSTANCE_CLIENT &&
				    dp->cfg->pipelines[pm->pipeline]
					    .stages[pin->stage - 1]
					    .idempotent);
		if (unlikely(pm->flags & (SL_FRAG_F_END | SL_FRAG_F_ABORT)))
			route_stream_end(dp, pin, pm);
		if (unlikely(mac == NULL)) {
			/* Kept without its MAC: sent on the receiver's NACK
			 * or the END's resend, once ARP has answered. */
			if (rte_mbuf_refcnt_read(m) > 1)
				dp->cnt.arp_deferred++;
			else
				dp->cnt.drops[SL_DROP_NO_NEIGHBOR]++;
			rte_pktmbuf_free(m);
			continue;
		}
		pkts[out++] = m;
	}
	return out;
}
