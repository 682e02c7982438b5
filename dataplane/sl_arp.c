/* SPDX-License-Identifier: MIT */
/*
 * sl_arp.c - the ARP responder and the neighbour table's upkeep, on the
 * worker (see sl_arp.h); the table itself is sl_neigh.c's.
 */
#include <errno.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_mbuf.h>

#include "sl_arp.h"
#include "sl_dp.h"
#include "sl_neigh.h"

/* Entries looked at per housekeeping pass: the table every 8 passes. */

enum sl_neigh_kind
sl_dp_neigh_kind(const struct sl_dp *dp, uint32_t ip)
{
	const struct sl_config *cfg = dp->cfg;

	for (uint16_t k = 0; k < cfg->n_instances_all; k++) {
		const struct sl_instance_cfg *in =
			sl_config_instance_at(cfg, &cfg->instances_all[k]);

		if (in->ep.ip == ip)
			return in->remote ? SL_NEIGH_VIA : SL_NEIGH_INSTANCE;
	}
	/* The other nodes of a cluster: kept and refreshed as instances. */
	for (uint8_t k = 0; cfg->local_node != 0 && k < cfg->n_nodes; k++)
		if (cfg->nodes[k].listen.ip == ip && k + 1 != cfg->local_node)
			return SL_NEIGH_NODE;
	if (sl_config_is_client(cfg, ip))
		return SL_NEIGH_CLIENT;
	return SL_NEIGH_NONE;
}

void
sl_arp_input(struct sl_dp *dp, struct rte_mbuf *m)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_arp_hdr *arp;
	uint32_t sip, tip;

	if (rte_pktmbuf_data_len(m) < sizeof(*eth) + sizeof(*arp))
		goto consumed;
	arp = (struct rte_arp_hdr *)(eth + 1);
	if (arp->arp_hardware != RTE_BE16(RTE_ARP_HRD_ETHER) ||
	    arp->arp_protocol != RTE_BE16(RTE_ETHER_TYPE_IPV4) ||
	    arp->arp_hlen != RTE_ETHER_ADDR_LEN || arp->arp_plen != 4)
		goto consumed;
	sip = rte_be_to_cpu_32(arp->arp_data.arp_sip);
	tip = rte_be_to_cpu_32(arp->arp_data.arp_tip);
	if (tip != dp->cfg->listen.ip)
		goto consumed;
	/* Only frames addressed to us, and only from whom we may talk to:
	 * learned, and (a request) answered; anyone else is ignored. */
	{
		enum sl_neigh_kind kind = sl_dp_neigh_kind(dp, sip);

		/* Another node's instance is reached through that node,
		 * whatever ARP says of its address. */
		if (kind == SL_NEIGH_NONE || kind == SL_NEIGH_VIA ||
		    rte_is_zero_ether_addr(&arp->arp_data.arp_sha) ||
		    !rte_is_unicast_ether_addr(&arp->arp_data.arp_sha)) {
			dp->cnt.arp_ignored++;
			goto consumed;
		}
		sl_neigh_learn(&dp->neigh, sip, &arp->arp_data.arp_sha, kind,
			       dp->now);
	}
	/* Every worker learns (each has its own table, sl_steer.h); the
	 * first answers. */
	if (arp->arp_opcode != RTE_BE16(RTE_ARP_OP_REQUEST) || dp->worker != 0)
		goto consumed;

	/* Turn the request into the reply in place. */
	arp->arp_opcode = RTE_BE16(RTE_ARP_OP_REPLY);
	arp->arp_data.arp_tha = arp->arp_data.arp_sha;
	arp->arp_data.arp_tip = arp->arp_data.arp_sip;
	rte_ether_addr_copy(&dp->mac, &arp->arp_data.arp_sha);
	arp->arp_data.arp_sip = rte_cpu_to_be_32(dp->cfg->listen.ip);
	eth->dst_addr = eth->src_addr;
	rte_ether_addr_copy(&dp->mac, &eth->src_addr);
	dp->cnt.arp_replies++;
	sl_dp_ctrl_tx(dp, m);
	return;
consumed:
	dp->cnt.non_sluice++;
	rte_pktmbuf_free(m);
}

/* Queue an ARP request for @e's address. */
static void
neigh_ask(struct sl_dp *dp, struct sl_neigh_entry *e)
{
	struct rte_ether_hdr *eth;
	struct rte_arp_hdr *arp;
	struct rte_mbuf *m;

	/* No room to send it now: leave it unasked, the next housekeeping
	 * pass asks again. */
	if (dp->n_ctrl == dp->queue_cap)
		return;
	m = rte_pktmbuf_alloc(dp->pool);
	if (m == NULL)
		return;
	e->asked_tsc = dp->now ? dp->now : 1;
	eth = (struct rte_ether_hdr *)rte_pktmbuf_append(
		m, sizeof(*eth) + sizeof(*arp));
	arp = (struct rte_arp_hdr *)(eth + 1);
	memset(&eth->dst_addr, 0xff, sizeof(eth->dst_addr));
	rte_ether_addr_copy(&dp->mac, &eth->src_addr);
	eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_ARP);
	arp->arp_hardware = RTE_BE16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = RTE_BE16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = RTE_ETHER_ADDR_LEN;
	arp->arp_plen = 4;
	arp->arp_opcode = RTE_BE16(RTE_ARP_OP_REQUEST);
	rte_ether_addr_copy(&dp->mac, &arp->arp_data.arp_sha);
	arp->arp_data.arp_sip = rte_cpu_to_be_32(dp->cfg->listen.ip);
	memset(&arp->arp_data.arp_tha, 0, sizeof(arp->arp_data.arp_tha));
	arp->arp_data.arp_tip = rte_cpu_to_be_32(e->ip);
	dp->cnt.arp_requests++;
	sl_dp_ctrl_tx(dp, m);
}

void
sl_arp_solicit(struct sl_dp *dp, uint32_t ip)
{
	bool found;
	struct sl_neigh_entry *e = sl_neigh_find(&dp->neigh, ip, &found);
	uint64_t retry = dp->tsc_hz / 1000 * SL_NEIGH_RETRY_MS;

	if (e == NULL || !found)
		e = sl_neigh_want(&dp->neigh, ip, sl_dp_neigh_kind(dp, ip),
				  dp->now);

	/* Another node's instance: never asked for (sl_relay_refresh). */
	if (e == NULL || e->kind == SL_NEIGH_VIA ||
	    (e->asked_tsc != 0 && dp->now - e->asked_tsc < retry))
		return;
	neigh_ask(dp, e);
}

void
sl_neigh_retry(struct sl_dp *dp)
{
	struct sl_neigh_table *t = &dp->neigh;
	const uint64_t ms = dp->tsc_hz / 1000;
	const uint64_t retry = ms * SL_NEIGH_RETRY_MS;
	const uint64_t refresh = ms * SL_NEIGH_REFRESH_MS;
	const uint64_t stale = refresh + ms * SL_NEIGH_STALE_MS;

	/* Resume where the control queue filled up last time, so that
	 * more neighbours than fit one pass all get asked. */
	for (uint32_t n = 0; n < SL_NEIGH_SIZE / SL_NEIGH_PASS_CALLS; n++) {
		struct sl_neigh_entry *e = &t->e[t->retry_cursor];

		if (dp->n_ctrl == dp->queue_cap)
			return;
		if (e->ip != 0 && e->kind != SL_NEIGH_VIA) {
			uint64_t quiet = dp->now - e->seen_tsc;

			if (e->resolved && quiet > stale) {
				if (e->kind == SL_NEIGH_CLIENT) {
					/* A shift may move a later entry
					 * here: look at this slot again. */
					sl_neigh_delete(t, t->retry_cursor);
					t->forgotten++;
					continue;
				}
				e->resolved = false;
				t->n_unresolved++;
				t->gen++;
			}
			if ((!e->resolved || quiet > refresh) &&
			    (e->asked_tsc == 0 ||
			     dp->now - e->asked_tsc >= retry))
				neigh_ask(dp, e);
		}
		t->retry_cursor = sl_neigh_next(t->retry_cursor);
	}
}
