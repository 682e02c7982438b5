/* SPDX-License-Identifier: MIT */
/*
 * stage_tx.c - packet stage 5: hand the burst to the port.
 *
 * In:  rewritten frames, plus any control frames (ARP) the worker queued.
 * Out: none; returns how many frames the port took.
 * Drops: TX_FULL (the port's queue did not take them; counted, not
 *      retried: a fragment a stream lost here shows up as a gap the
 *      receiver sees, never as a silent stall of the worker).
 * Also records each burst's residence time (receive to transmit) in the
 *      counters' log2 histogram.
 *
 * Cost: 27.9 cycles per fragment in `tools/bench/dataplane.sh` at
 *      2c1fee9 (median of 5 profiled rounds; 2-vCPU Xeon at 2.10 GHz,
 *      quiet; 1024 streams x 16 fragments, 3 hops;
 *      tools/bench/results/dataplane.md has every run).
 */
#include <string.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>

#include "sl_dp.h"

static uint16_t
tx_burst_all(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n)
{
	struct rte_mbuf *impaired[2 * SL_BURST];
	uint16_t sent = 0;

	/* The fault injector (tests, chaos runs) sees every frame out. */
	if (unlikely(dp->impair != NULL)) {
		/* (Housekeeping's call has no burst: pkts NULL, n 0.) */
		if (n != 0)
			memcpy(impaired, pkts, n * sizeof(pkts[0]));
		n = sl_impair_tx(dp->impair, dp->pool, impaired, n,
				 RTE_DIM(impaired));
		pkts = impaired;
	}

	/* A short burst is retried a few times: vdev queues drain fast. */
	for (int tries = 0; tries < 4 && sent < n; tries++)
		sent += rte_eth_tx_burst(dp->tx_port_id, dp->tx_queue_id,
					 pkts + sent, n - sent);
	for (uint16_t i = sent; i < n; i++)
		sl_dp_drop(dp, pkts[i], SL_DROP_TX_FULL);
	dp->cnt.tx_packets += sent;
	return sent;
}

uint16_t
sl_stage_tx(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n)
{
	uint16_t done = 0, sent = 0;

	if (unlikely(dp->n_ctrl != 0)) {
		uint32_t c = dp->n_ctrl;

		dp->n_ctrl = 0;
		for (uint32_t i = 0; i < c; i += SL_BURST)
			tx_burst_all(
				dp, dp->ctrl + i,
				(uint16_t)RTE_MIN(c - i, (uint32_t)SL_BURST));
	}
	if (unlikely(dp->impair != NULL && n == 0 &&
		     dp->impair->n_held_tx != 0))
		tx_burst_all(dp, NULL, 0);
	while (done < n) {
		uint16_t chunk = RTE_MIN(n - done, SL_BURST);

		sent += tx_burst_all(dp, pkts + done, chunk);
		done += chunk;
	}
	dp->cnt.forwarded += sent;
	if (sent != 0) {
		/* One clock read per burst: every fragment of it arrived at
		 * dp->now and leaves now. */
		uint64_t ns =
			(uint64_t)(((unsigned __int128)(rte_rdtsc() - dp->now) *
				    dp->ns_per_tsc_q32) >>
				   32);
		unsigned int b = ns == 0 ? 0 : 64 - __builtin_clzll(ns);

		if (b >= SL_RESIDENCE_BUCKETS)
			b = SL_RESIDENCE_BUCKETS - 1;
		dp->cnt.residence[b] += sent;
		dp->cnt.residence_sum_ns += ns * sent;
	}
	return sent;
}
