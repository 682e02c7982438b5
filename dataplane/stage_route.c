/* SPDX-License-Identifier: MIT */
/*
 * stage_route.c - packet stage 4: send each fragment where its stream goes.
 *
 * In:  in-order fragments bound to their flow.
 * Out: frames rewritten for their next hop (Ethernet, IPv4, UDP, and the
 *      sluice header's stage field), ready for tx.
 * Decision: made once per stream, at its first delivered fragment, then
 *      pinned in the flow entry. Stage s's output goes to stage s + 1
 *      (chosen by sl_route_pick: rendezvous hash on the first L ancestry
 *      ids for aggregation level L, else round robin / least loaded); the
 *      last stage's output returns to the client that opened the request.
 * Drops: NO_ORIGIN (the request's client is no longer known), NO_INSTANCE,
 *      NO_NEIGHBOR (next hop not resolved yet: ARP is asked again).
 *
 * When an END or ABORT passes, the stream is marked ended (it lingers in
 * the flow table only to catch duplicates).
 */
#include <rte_branch_prediction.h>
#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include "sl_dp.h"
#include "sl_route.h"

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

/*
 * First delivered fragment of a stream: choose where it goes and remember
 * the next hop's address in the flow. Return 0 or the drop reason.
 */
static __rte_noinline enum sl_drop
route_decide(struct sl_dp *dp, struct sl_flow *f, const struct sl_pkt_meta *pm)
{
	const struct sl_pipeline_cfg *pl = &dp->cfg->pipelines[pm->pipeline];

	if (pm->stage == pl->n_stages) {
		const struct sl_flow *o = route_origin(dp, f);

		if (o == NULL)
			return SL_DROP_NO_ORIGIN;
		f->next_stage = 0;
		f->instance = SL_INSTANCE_CLIENT;
		f->hop_ip = o->client_ip;
		f->hop_port = o->client_port;
		return 0;
	}
	const struct sl_stage_cfg *st = &pl->stages[pm->stage];
	struct sl_stage_state *ss = &dp->stages[pm->pipeline][pm->stage];
	uint16_t i = sl_route_pick(st, ss, &f->key);

	if (i == SL_INSTANCE_NONE)
		return SL_DROP_NO_INSTANCE;
	f->next_stage = pm->stage + 1;
	f->instance = i;
	f->hop_ip = st->instances[i].ep.ip;
	f->hop_port = st->instances[i].ep.port;
	ss->inst[i].streams++;
	ss->inst[i].streams_active++;
	f->in_flight = 1;
	return 0;
}

/* END or ABORT passed: the stream is over. */
static __rte_noinline void
route_stream_end(struct sl_dp *dp, struct sl_flow *f)
{
	struct sl_flow *origin = route_origin(dp, f);
	uint32_t idx = (uint32_t)(f - dp->flows->flows);

	dp->cnt.flows_ended++;
	if (f->in_flight) {
		dp->stages[f->pipeline][f->next_stage - 1]
			.inst[f->instance]
			.streams_active--;
		f->in_flight = 0;
	}
	sl_dp_tenant_stream_done(dp, f);
	/* A client stream must outlive its request: its address is where
	 * the final output goes. It ends when both are done. */
	if (f->instance == SL_INSTANCE_CLIENT && origin != NULL) {
		origin->request_done = 1;
		if (origin->next_seq > origin->end_seq)
			sl_flow_end(dp->flows, f->origin, dp->now);
	}
	if (f->origin != idx || f->request_done)
		sl_flow_end(dp->flows, idx, dp->now);
}

static inline void
route_rewrite(struct sl_dp *dp, struct rte_mbuf *m, struct sl_pkt_meta *pm,
	      const struct rte_ether_addr *dst_mac, uint32_t dst_ip,
	      uint16_t dst_port)
{
	const uint16_t l234 = SL_WIRE_FRAME_HDR_OFF;
	struct rte_ether_hdr *eth;
	struct rte_ipv4_hdr *ip;
	struct rte_udp_hdr *udp;

	/* Drop IPv4 options and Ethernet padding: the new frame is exactly
	 * Ethernet + IPv4 + UDP + datagram. */
	if (unlikely(pm->hdr_off != l234)) {
		rte_pktmbuf_adj(m, pm->hdr_off - l234);
		pm->hdr_off = l234;
	}
	if (rte_pktmbuf_data_len(m) > l234 + pm->dgram_len)
		rte_pktmbuf_trim(m, rte_pktmbuf_data_len(m) - l234 -
					    pm->dgram_len);
	eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	ip = (struct rte_ipv4_hdr *)(eth + 1);
	udp = (struct rte_udp_hdr *)(ip + 1);

	rte_ether_addr_copy(dst_mac, &eth->dst_addr);
	rte_ether_addr_copy(&dp->mac, &eth->src_addr);
	eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV4);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->type_of_service = 0;
	ip->total_length = rte_cpu_to_be_16(sizeof(*ip) + sizeof(*udp) +
					    pm->dgram_len);
	ip->packet_id = 0;
	ip->fragment_offset = RTE_BE16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->src_addr = rte_cpu_to_be_32(dp->cfg->listen.ip);
	ip->dst_addr = rte_cpu_to_be_32(dst_ip);
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	udp->src_port = rte_cpu_to_be_16(dp->cfg->listen.port);
	udp->dst_port = rte_cpu_to_be_16(dst_port);
	udp->dgram_len = rte_cpu_to_be_16(sizeof(*udp) + pm->dgram_len);
	udp->dgram_cksum = 0; /* optional in IPv4 */
}

uint16_t
sl_stage_route(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n)
{
	uint16_t out = 0;

	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		struct sl_pkt_meta *pm = sl_pkt_meta(m);
		struct sl_flow *f = sl_flow_at(dp->flows, pm->flow);
		const struct rte_ether_addr *mac;

		if (unlikely(f->instance == SL_INSTANCE_NONE)) {
			enum sl_drop why = route_decide(dp, f, pm);

			if (why != 0) {
				sl_dp_drop(dp, m, why);
				continue;
			}
		}
		if (likely(f->hop_neigh_gen == dp->neigh.gen)) {
			mac = &f->hop_mac;
		} else {
			mac = sl_neigh_lookup(&dp->neigh, f->hop_ip);
			if (unlikely(mac == NULL)) {
				sl_arp_solicit(dp, f->hop_ip);
				sl_dp_drop(dp, m, SL_DROP_NO_NEIGHBOR);
				continue;
			}
			f->hop_mac = *mac;
			f->hop_neigh_gen = dp->neigh.gen;
		}
		route_rewrite(dp, m, pm, mac, f->hop_ip, f->hop_port);
		if (f->instance != SL_INSTANCE_CLIENT) {
			uint8_t *hdr = rte_pktmbuf_mtod_offset(m, uint8_t *,
							       pm->hdr_off);
			uint16_t stage_be = rte_cpu_to_be_16(f->next_stage);

			memcpy(hdr + SL_WIRE_OFF_STAGE, &stage_be, 2);
			dp->stages[f->pipeline][f->next_stage - 1]
				.inst[f->instance]
				.fragments++;
		}
		if (unlikely(pm->flags & (SL_FRAG_F_END | SL_FRAG_F_ABORT)))
			route_stream_end(dp, f);
		pkts[out++] = m;
	}
	return out;
}
