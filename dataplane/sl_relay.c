/* SPDX-License-Identifier: MIT */
/*
 * sl_relay.c - cluster mode: this node's sluiced forwards frames between
 * the other nodes' sluiced and its own instances (sl_relay.h).
 */
#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include "sl_arp.h"
#include "sl_dp.h"
#include "sl_neigh.h"
#include "sl_relay.h"

/* Another node's index (1 + k) whose sluiced is @ip:@port; 0: none. */
static uint8_t
relay_peer(const struct sl_config *cfg, uint32_t ip, uint16_t port)
{
	for (uint8_t k = 0; k < cfg->n_nodes; k++)
		if (cfg->nodes[k].listen.ip == ip &&
		    cfg->nodes[k].listen.port == port &&
		    k + 1 != cfg->local_node)
			return (uint8_t)(k + 1);
	return 0;
}

/* Whether @ip is the address of one of this node's instances: its
 * neighbour entry says so (sl_dp_neigh_kind made it one). */
static bool
relay_local_instance(const struct sl_dp *dp, uint32_t ip)
{
	bool found;
	const struct sl_neigh_entry *e = sl_neigh_find(&dp->neigh, ip, &found);

	return e != NULL && found && e->kind == SL_NEIGH_INSTANCE;
}

bool
sl_relay_frame(struct sl_dp *dp, struct rte_mbuf *m, const struct sl_frame *fr)
{
	const struct sl_config *cfg = dp->cfg;
	const struct rte_ether_addr *mac;
	struct rte_ether_hdr *eth;
	struct rte_ipv4_hdr *ip;
	bool in;

	if (cfg->local_node == 0)
		return false;
	/* In: another node's sluiced to an instance here. Out: an
	 * instance here to another node's sluiced. */
	if (relay_peer(cfg, fr->src_ip, fr->src_port) != 0 &&
	    relay_local_instance(dp, fr->dst_ip))
		in = true;
	else if (relay_peer(cfg, fr->dst_ip, fr->dst_port) != 0 &&
		 relay_local_instance(dp, fr->src_ip))
		in = false;
	else
		return false;
	mac = sl_neigh_lookup(&dp->neigh, fr->dst_ip);
	if (unlikely(mac == NULL)) {
		sl_arp_solicit(dp, fr->dst_ip);
		sl_dp_drop(dp, m, SL_DROP_RELAY_NO_NEIGHBOR);
		return true;
	}
	eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	ip = (struct rte_ipv4_hdr *)(eth + 1);
	if (unlikely(ip->time_to_live <= 1)) {
		sl_dp_drop(dp, m, SL_DROP_RELAY_TTL);
		return true;
	}
	/* As a router: TTL less one, the header checksum again. */
	ip->time_to_live--;
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	rte_ether_addr_copy(mac, &eth->dst_addr);
	rte_ether_addr_copy(&dp->mac, &eth->src_addr);
	if (in)
		dp->cnt.relayed_in++;
	else
		dp->cnt.relayed_out++;
	sl_dp_ctrl_tx(dp, m);
	return true;
}

void
sl_relay_refresh(struct sl_dp *dp)
{
	const struct sl_config *cfg = dp->cfg;

	if (cfg->local_node == 0)
		return;
	for (uint8_t k = 0; k < cfg->n_nodes; k++)
		if (k + 1 != cfg->local_node &&
		    sl_neigh_lookup(&dp->neigh, cfg->nodes[k].listen.ip) ==
			    NULL)
			sl_arp_solicit(dp, cfg->nodes[k].listen.ip);
	for (uint16_t k = 0; k < cfg->n_instances_all; k++) {
		const struct sl_instance_cfg *in =
			sl_config_instance_at(cfg, &cfg->instances_all[k]);
		const struct rte_ether_addr *mac;
		bool found;
		struct sl_neigh_entry *e;

		if (!in->remote)
			continue;
		mac = sl_neigh_lookup(&dp->neigh,
				      cfg->nodes[in->node - 1].listen.ip);
		e = sl_neigh_find(&dp->neigh, in->ep.ip, &found);
		if (mac != NULL) {
			sl_neigh_learn(&dp->neigh, in->ep.ip, mac, SL_NEIGH_VIA,
				       dp->now);
		} else if (e != NULL && found && e->resolved) {
			/* Its node is no longer known: neither is it. */
			e->resolved = false;
			dp->neigh.n_unresolved++;
			dp->neigh.gen++;
		}
	}
}
