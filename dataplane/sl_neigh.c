/* SPDX-License-Identifier: MIT */
/*
 * sl_neigh.c - ARP responder and neighbour table (see sl_neigh.h).
 */
#include <errno.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_mbuf.h>

#include "sl_dp.h"
#include "sl_neigh.h"

static struct sl_neigh_entry *
neigh_find(const struct sl_neigh_table *t, uint32_t ip, bool *found)
{
	uint32_t i = sl_neigh_slot(ip);

	for (uint32_t n = 0; n < SL_NEIGH_SIZE; n++) {
		const struct sl_neigh_entry *e = &t->e[i];

		if (e->ip == ip) {
			*found = true;
			return (struct sl_neigh_entry *)e;
		}
		if (e->ip == 0) {
			*found = false;
			return (struct sl_neigh_entry *)e;
		}
		i = (i + 1) & (SL_NEIGH_SIZE - 1);
	}
	*found = false;
	return NULL;
}

struct sl_neigh_entry *
sl_neigh_want(struct sl_neigh_table *t, uint32_t ip)
{
	bool found;
	struct sl_neigh_entry *e;

	if (ip == 0)
		return NULL;
	e = neigh_find(t, ip, &found);
	if (e == NULL || found)
		return e;
	/* Keep one slot empty so probes always terminate. */
	if (t->n_entries + 1 >= SL_NEIGH_SIZE)
		return NULL;
	memset(e, 0, sizeof(*e));
	e->ip = ip;
	t->n_entries++;
	t->n_unresolved++;
	return e;
}

int
sl_neigh_learn(struct sl_neigh_table *t, uint32_t ip,
	       const struct rte_ether_addr *mac)
{
	struct sl_neigh_entry *e = sl_neigh_want(t, ip);

	if (e == NULL)
		return -ENOSPC;
	if (e->resolved && rte_is_same_ether_addr(&e->mac, mac))
		return 0;
	if (!e->resolved)
		t->n_unresolved--;
	else
		t->gen++; /* routes that cached the old MAC re-read it */
	t->resolutions++;
	rte_ether_addr_copy(mac, &e->mac);
	e->resolved = true;
	return 0;
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
	/* Only learn from frames addressed to us: what we would answer. */
	if (sip != 0)
		sl_neigh_learn(&dp->neigh, sip, &arp->arp_data.arp_sha);
	if (arp->arp_opcode != RTE_BE16(RTE_ARP_OP_REQUEST))
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

void
sl_arp_solicit(struct sl_dp *dp, uint32_t ip)
{
	struct sl_neigh_entry *e = sl_neigh_want(&dp->neigh, ip);
	uint64_t retry = dp->tsc_hz / 1000 * SL_NEIGH_RETRY_MS;
	struct rte_ether_hdr *eth;
	struct rte_arp_hdr *arp;
	struct rte_mbuf *m;

	if (e == NULL || (e->asked_tsc != 0 && dp->now - e->asked_tsc < retry))
		return;
	/* No room to send it now: leave it unasked, the next housekeeping
	 * pass asks again. */
	if (dp->n_ctrl == SL_CTRL_TX_MAX)
		return;
	m = rte_pktmbuf_alloc(dp->pool);
	if (m == NULL)
		return;
	e->asked_tsc = dp->now ? dp->now : 1;
	eth = (struct rte_ether_hdr *)rte_pktmbuf_append(m,
		sizeof(*eth) + sizeof(*arp));
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
	arp->arp_data.arp_tip = rte_cpu_to_be_32(ip);
	dp->cnt.arp_requests++;
	sl_dp_ctrl_tx(dp, m);
}

void
sl_neigh_retry(struct sl_dp *dp)
{
	struct sl_neigh_table *t = &dp->neigh;

	if (t->n_unresolved == 0)
		return;
	/* Resume where the control queue filled up last time, so that
	 * more unresolved neighbours than fit one pass all get asked. */
	for (uint32_t n = 0; n < SL_NEIGH_SIZE; n++) {
		const struct sl_neigh_entry *e = &t->e[t->retry_cursor];

		if (dp->n_ctrl == SL_CTRL_TX_MAX)
			return;
		if (e->ip != 0 && !e->resolved)
			sl_arp_solicit(dp, e->ip);
		t->retry_cursor = (t->retry_cursor + 1) & (SL_NEIGH_SIZE - 1);
	}
}
