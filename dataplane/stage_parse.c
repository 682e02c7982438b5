/* SPDX-License-Identifier: MIT */
/*
 * stage_parse.c - packet stage 1: validate a frame and decode its header.
 *
 * In:  received frames.
 * Out: valid sluice fragments addressed to sluiced, with sl_pkt_meta
 *      filled (source, header offset, stage, seq, flags, depth).
 * Drops: every SL_WIRE_* reason (malformed Ethernet/IPv4/UDP, sluice
 *      header or tokens, including bad UTF-8), NOT_FOR_US, MULTI_SEG.
 *      In cluster mode a frame between another node's sluiced and an
 *      instance here is relayed instead (sl_relay.h).
 * Side exits: ARP frames go to sl_arp_input (answered or consumed);
 *      control fragments (NACK, ACK: sl_rtx_input; PROBE answers:
 *      sl_live_probe_input) are consumed there.
 *
 * All validation is sl_wire's, the same code the tools use; nothing in a
 * frame is trusted before it passed.
 *
 * Cost: 105.2 cycles per fragment in `tools/bench/dataplane.sh` at
 *      2c1fee9 (median of 5 profiled rounds; 2-vCPU Xeon at 2.10 GHz,
 *      quiet; 1024 streams x 16 fragments, 3 hops;
 *      tools/bench/results/dataplane.md has every run).
 */
#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include "sl_arp.h"
#include "sl_dp.h"
#include "sl_live.h"
#include "sl_relay.h"
#include "sl_rtx.h"

static __rte_noinline void
parse_not_ipv4(struct sl_dp *dp, struct rte_mbuf *m)
{
	const struct rte_ether_hdr *eth =
		rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);

	if (rte_pktmbuf_data_len(m) >= sizeof(*eth) &&
	    eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_ARP)) {
		sl_arp_input(dp, m);
		return;
	}
	sl_dp_drop(dp, m, SL_DROP_NOT_IPV4);
}

/* A control fragment: loss repair or liveness, never a stream's data. */
static __rte_noinline void
parse_control(struct sl_dp *dp, struct rte_mbuf *m, const struct sl_frag_hdr *h,
	      const struct sl_frame *fr)
{
	if (h->flags & SL_FRAG_F_PROBE)
		sl_live_probe_input(dp, h, fr->src_ip, fr->src_port);
	else
		sl_rtx_input(dp, h, fr->src_ip, fr->src_port);
	rte_pktmbuf_free(m);
}

uint16_t
sl_stage_parse(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n)
{
	const uint32_t my_ip = dp->cfg->listen.ip;
	const uint16_t my_port = dp->cfg->listen.port;
	uint16_t out = 0;

	/* Burst-wide: every frame's headers (L2-L4 and the sluice header
	 * reach into the second cache line) are asked for before the first
	 * is parsed (a NIC's DMA leaves them out of cache). */
	for (uint16_t i = 0; i < n; i++) {
		const uint8_t *f = rte_pktmbuf_mtod(pkts[i], const uint8_t *);

		rte_prefetch0(f);
		rte_prefetch0(f + RTE_CACHE_LINE_SIZE);
	}
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		const uint8_t *frame = rte_pktmbuf_mtod(m, const uint8_t *);
		struct sl_pkt_meta *pm = sl_pkt_meta(m);
		enum sl_wire_status st;
		struct sl_frag_hdr hdr;
		struct sl_frame fr;

		if (unlikely(m->nb_segs != 1)) {
			sl_dp_drop(dp, m, SL_DROP_MULTI_SEG);
			continue;
		}
		st = sl_wire_parse_frame(frame, rte_pktmbuf_data_len(m), &fr);
		if (unlikely(st != SL_WIRE_OK)) {
			if (st == SL_WIRE_NOT_IPV4)
				parse_not_ipv4(dp, m);
			else
				sl_dp_drop(dp, m, (enum sl_drop)st);
			continue;
		}
		if (unlikely(fr.dst_ip != my_ip || fr.dst_port != my_port)) {
			/* Cluster mode: between another node and an
			 * instance here, forwarded (sl_relay.h). */
			if (!sl_relay_frame(dp, m, &fr))
				sl_dp_drop(dp, m, SL_DROP_NOT_FOR_US);
			continue;
		}
		st = sl_wire_parse(frame + fr.hdr_off, fr.dgram_len, &hdr);
		if (unlikely(st != SL_WIRE_OK)) {
			sl_dp_drop(dp, m, (enum sl_drop)st);
			continue;
		}
		if (unlikely(hdr.flags & SL_FRAG_F_CONTROL)) {
			parse_control(dp, m, &hdr, &fr);
			continue;
		}
		pm->src_ip = fr.src_ip;
		pm->src_port = fr.src_port;
		pm->hdr_off = fr.hdr_off;
		pm->dgram_len = fr.dgram_len;
		pm->stage = hdr.stage;
		pm->seq = hdr.seq;
		pm->flags = hdr.flags;
		pm->depth = hdr.depth;
		pm->flow = SL_FLOW_NONE;
		pkts[out++] = m;
	}
	return out;
}
