/* SPDX-License-Identifier: MIT */
/*
 * stage_order.c - packet stage 3: deliver each stream in sequence, once.
 *
 * In:  admitted fragments bound to their flow.
 * Out: fragments in sequence order per stream. A fragment that arrives
 *      early waits in the stream's reorder buffer (window from the config)
 *      and leaves in the same burst as the fragment that fills the gap, so
 *      this stage can return more packets than it was given (at most
 *      window per input; the burst array is sized for it).
 * Drops: DUPLICATE (sequence already delivered or already held),
 *      AFTER_END (beyond the stream's END), SEQ_TOO_FAR (beyond the
 *      window), REORDER_FULL (no reorder buffer free), HOLD_QUOTA (the
 *      request's client address or tenant, or the clients together,
 *      hold all the mbufs they may: sl_dp_hold_ok).
 * Loss repair: a gap is NACKed to the stream's sender when it opens and
 *      again on a doubling schedule (housekeeping); a fragment dropped
 *      for a bound is asked for in the same NACK, so no bound loses data
 *      a sender still has. A gap still open after the last repeat ends
 *      the stream with ABORT (LOST) at it (housekeeping). The END or ABORT, once delivered, is ACKed, and
 *      so is each duplicate of it (sl_rtx.h).
 *
 * A client's ABORT right after its request's END (the next sequence) is
 * the client giving up waiting (sluice-gateway when its HTTP client
 * leaves): it is ACKed and the request ends at once with ABORT (CLIENT)
 * back to the client, its answer dropped as REQUEST_ABORTED on its way to
 * the client (sl_dp_request_abort), counted as requests_cancelled. The
 * engines still at work on it are not stopped yet.
 *
 * Fragments still held when a stream expires are dropped as EXPIRED by
 * the flow table's release hook.
 *
 * Cost: 13.6 cycles per fragment in `tools/bench/dataplane.sh` at
 *      2c1fee9 (median of 5 profiled rounds; 2-vCPU Xeon at 2.10 GHz,
 *      quiet; 1024 streams x 16 fragments, 3 hops;
 *      tools/bench/results/dataplane.md has every run).
 */
#include <errno.h>

#include <rte_branch_prediction.h>
#include <rte_memcpy.h>

#include "sl_dp.h"
#include "sl_rtx.h"
#include "sl_stream.h"

/* A fragment beyond the next expected one came: a gap is open up to
 * @gap_end (its seq when it is held; one past it when it was dropped,
 * so that it is asked for too). NACK it now unless a NACK for it is
 * already out, and let housekeeping repeat it (sl_dp_gap_watch). */
static inline void
order_gap(struct sl_dp *dp, struct sl_flow *f, struct rte_mbuf *m,
	  uint32_t gap_end)
{
	/* A new gap is NACKed at once; one already NACKed only grows (the
	 * repeats ask for all of it): no NACK per early fragment. */
	if (f->gap_end <= f->next_seq)
		f->nack_tries = 0;
	sl_rtx_nack(dp, f, gap_end, sl_dp_from_stage(m));
	sl_dp_gap_watch(dp, sl_pkt_meta(m)->flow);
}

static __rte_noinline void
order_out_of_line(struct sl_dp *dp, struct sl_flow *f, struct rte_mbuf *m,
		  uint32_t seq)
{
	const uint8_t flags = sl_pkt_meta(m)->flags;

	if (f->key.stage == 0 && (flags & SL_FRAG_F_ABORT) &&
	    f->end_seq != UINT32_MAX && f->next_seq > f->end_seq &&
	    seq == f->end_seq + 1) {
		/* The client gave up on its request: its ABORT is ACKed (and
		 * so is each resend of it) and ends the request, once. */
		sl_rtx_ack(dp, f, seq, sl_dp_from_stage(m));
		if (f->request_done) {
			sl_dp_drop(dp, m, SL_DROP_AFTER_END);
			return;
		}
		dp->cnt.requests_cancelled++;
		sl_dp_request_abort(dp, sl_pkt_meta(m)->flow, SL_ABORT_CLIENT);
		rte_pktmbuf_free(m);
		return;
	}
	if (seq < f->next_seq ||
	    (f->end_seq != UINT32_MAX && f->next_seq > f->end_seq)) {
		/* The ACK of a delivered END may have been lost. */
		if (seq == f->end_seq && f->next_seq > f->end_seq &&
		    (flags & (SL_FRAG_F_END | SL_FRAG_F_ABORT)))
			sl_rtx_ack(dp, f, seq, sl_dp_from_stage(m));
		sl_dp_drop(dp, m,
			   seq < f->next_seq ? SL_DROP_DUPLICATE
					     : SL_DROP_AFTER_END);
		return;
	}
	if (f->end_seq != UINT32_MAX && seq > f->end_seq) {
		sl_dp_drop(dp, m, SL_DROP_AFTER_END);
		return;
	}
	if (seq - f->next_seq >= dp->flows->window) {
		/* The sender resends it with the gap before it. */
		order_gap(dp, f, m, seq + 1);
		sl_dp_drop(dp, m, SL_DROP_SEQ_TOO_FAR);
		return;
	}
	if (!sl_dp_hold_ok(dp, f->src_slot, f->tenant, f->key.stage == 0)) {
		order_gap(dp, f, m, seq + 1);
		sl_dp_drop(dp, m, SL_DROP_HOLD_QUOTA);
		return;
	}
	int rc = sl_flow_hold(dp->flows, f, m, seq);

	if (rc == -EEXIST) {
		sl_dp_drop(dp, m, SL_DROP_DUPLICATE);
		return;
	}
	if (rc != 0) {
		order_gap(dp, f, m, seq + 1);
		sl_dp_drop(dp, m, SL_DROP_REORDER_FULL);
		return;
	}
	sl_dp_held_charge(dp, f->src_slot, f->tenant, f->key.stage == 0, 1);
	if (flags & (SL_FRAG_F_END | SL_FRAG_F_ABORT))
		f->end_seq = seq;
	order_gap(dp, f, m, seq);
}

/* The stream's END or ABORT was delivered (once): tell its sender; an
 * instance's answer ended, so it owes one answer less. */
static __rte_noinline void
order_ended(struct sl_dp *dp, struct sl_flow *f, const struct rte_mbuf *m)
{
	uint16_t stage = rte_be_to_cpu_16(f->key.stage);

	sl_rtx_ack(dp, f, f->end_seq, sl_dp_from_stage(m));
	if (stage != 0 && f->pipeline < dp->cfg->n_pipelines &&
	    stage <= dp->cfg->pipelines[f->pipeline].n_stages) {
		const struct sl_stage_cfg *st =
			&dp->cfg->pipelines[f->pipeline].stages[stage - 1];

		for (uint16_t i = 0; i < st->n_instances; i++)
			if (st->instances[i].ep.ip == f->key.src_ip &&
			    st->instances[i].ep.port == f->key.src_port) {
				struct sl_instance_state *is =
					&dp->inst[st->instances[i].uid];

				if (is->answers_owed > 0)
					is->answers_owed--;
				break;
			}
	}
}

uint16_t
sl_stage_order(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n)
{
	struct rte_mbuf *in[SL_BURST];
	uint16_t out = 0;

	/* Released fragments are appended, so read from a copy. */
	rte_memcpy(in, pkts, n * sizeof(pkts[0]));
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = in[i];
		struct sl_pkt_meta *pm = sl_pkt_meta(m);
		struct sl_flow *f = sl_flow_at(dp->flows, pm->flow);

		/* next_seq > end_seq once the END has been delivered. */
		if (unlikely(pm->seq != f->next_seq ||
			     f->next_seq > f->end_seq)) {
			order_out_of_line(dp, f, m, pm->seq);
			continue;
		}
		if (pm->flags & (SL_FRAG_F_END | SL_FRAG_F_ABORT))
			f->end_seq = pm->seq;
		f->next_seq++;
		pkts[out++] = m;
		if (unlikely(f->held != NULL || f->gap_end > f->next_seq)) {
			struct rte_mbuf *r;
			bool released = false;

			while (f->next_seq <= f->end_seq &&
			       (r = sl_flow_take_next(dp->flows, f)) != NULL) {
				sl_dp_held_charge(dp, f->src_slot, f->tenant,
						  f->key.stage == 0, -1);
				f->next_seq++;
				pkts[out++] = r;
				released = true;
			}
			if (f->next_seq > f->end_seq ||
			    f->gap_end <= f->next_seq) {
				/* No gap left. */
			} else if (released) {
				/* A gap filled and another behind it: NACKed
				 * afresh, at once. */
				r = sl_flow_first_held(dp->flows, f);
				f->nack_tries = 0;
				order_gap(dp, f, r != NULL ? r : m,
					  r != NULL ? sl_pkt_meta(r)->seq
						    : f->gap_end);
			} else {
				/* The gap shrinks: its repeats start over. */
				sl_rtx_gap_progress(dp, f);
			}
		}
		if (unlikely(f->next_seq > f->end_seq))
			order_ended(dp, f, m);
	}
	return out;
}
