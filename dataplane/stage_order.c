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
 *      window), REORDER_FULL (no reorder buffer free).
 *
 * Fragments still held when a stream expires are dropped as EXPIRED by
 * the flow table's release hook.
 */
#include <errno.h>

#include <rte_branch_prediction.h>
#include <rte_memcpy.h>

#include "sl_dp.h"

static __rte_noinline void
order_out_of_line(struct sl_dp *dp, struct sl_flow *f, struct rte_mbuf *m,
		  uint32_t seq)
{
	if (seq < f->next_seq) {
		sl_dp_drop(dp, m, SL_DROP_DUPLICATE);
		return;
	}
	if (f->end_seq != UINT32_MAX && seq > f->end_seq) {
		sl_dp_drop(dp, m, SL_DROP_AFTER_END);
		return;
	}
	if (seq - f->next_seq >= dp->flows->window) {
		sl_dp_drop(dp, m, SL_DROP_SEQ_TOO_FAR);
		return;
	}
	int rc = sl_flow_hold(dp->flows, f, m, seq);

	if (rc == -EEXIST) {
		sl_dp_drop(dp, m, SL_DROP_DUPLICATE);
	} else if (rc != 0) {
		sl_dp_drop(dp, m, SL_DROP_REORDER_FULL);
	} else if (sl_pkt_meta(m)->flags & (SL_FRAG_F_END | SL_FRAG_F_ABORT)) {
		f->end_seq = seq;
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
		if (unlikely(f->held != NULL)) {
			struct rte_mbuf *r;

			while (f->next_seq <= f->end_seq &&
			       (r = sl_flow_take_next(dp->flows, f)) != NULL) {
				f->next_seq++;
				pkts[out++] = r;
			}
		}
	}
	return out;
}
