/* SPDX-License-Identifier: MIT */
/*
 * sl_frag.c - fragments the dataplane makes itself (see sl_frag.h).
 */
#include <string.h>

#include <rte_byteorder.h>
#include <rte_mbuf.h>

#include "sl_dp.h"
#include "sl_frag.h"

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
	sl_wire_builder_init(
		&b,
		rte_pktmbuf_mtod_offset(m, uint8_t *, SL_WIRE_FRAME_HDR_OFF),
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
