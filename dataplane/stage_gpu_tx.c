/* SPDX-License-Identifier: MIT */
/*
 * stage_gpu_tx.c - packet stage 6: fragments for local GPU instances go
 * into the worker's token ring instead of onto the network.
 *
 * In:  routed frames; route marked those whose stream is pinned to an
 *      instance declared `gpu: true` (sl_pkt_meta.gpu, the stream's ring
 *      slot in sl_pkt_meta.pin) and left them unrewritten.
 * Out: the others, in order, for tx.
 * Drops: GPU_RING_FULL (no free batch: the stream is ended with an ABORT
 *      record as soon as the ring has room, and the engine answers
 *      ABORT), GPU_STREAM_LOST (later fragments of such a stream).
 * With no GPU backend (--gpu=off) nothing is ever marked: one test.
 *
 * Cost: not measured in tools/bench/dataplane.sh (no GPU stage there);
 *      tools/bench/gpu.sh measures the ring itself.
 */
#include "sl_gtx.h"
#include "sl_node.h"

uint16_t
sl_stage_gpu_tx(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n)
{
	uint16_t out = 0;

	if (likely(dp->gtx == NULL))
		return n;
	for (uint16_t i = 0; i < n; i++) {
		struct sl_pkt_meta *pm = sl_pkt_meta(pkts[i]);

		if (likely(!pm->gpu))
			pkts[out++] = pkts[i];
		else
			sl_gtx_deliver(dp, pm->pin, pkts[i]);
	}
	sl_gtx_flush(dp);
	return out;
}
