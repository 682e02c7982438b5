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

/* Entries looked at per housekeeping pass: the table every 8 passes. */
#define SL_NEIGH_SLICE (SL_NEIGH_SIZE / 8)

static inline uint32_t
neigh_next(uint32_t i)
{
	return (i + 1) & (SL_NEIGH_SIZE - 1);
}

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
		i = neigh_next(i);
	}
	*found = false;
	return NULL;
}

/*
 * Remove slot @i and shift later members of its probe run back
 * (Knuth's algorithm R for linear probing), so lookups still stop at
 * the first empty slot.
 */
static void
neigh_delete(struct sl_neigh_table *t, uint32_t i)
{
	struct sl_neigh_entry *e = &t->e[i];

	if (e->ip == 0)
		return;
	if (!e->resolved)
		t->n_unresolved--;
	else
		t->gen++; /* routes that cached its MAC look again */
	if (e->kind == SL_NEIGH_CLIENT)
		t->n_clients--;
	t->n_entries--;
	for (uint32_t j = neigh_next(i);; j = neigh_next(j)) {
		uint32_t home;

		if (t->e[j].ip == 0)
			break;
		home = sl_neigh_slot(t->e[j].ip);
		/* j's entry may move to i unless its home lies cyclically
		 * in (i, j]. */
		if ((i <= j) ? (home > i && home <= j) : (home > i || home <= j))
			continue;
		t->e[i] = t->e[j];
		i = j;
	}
	memset(&t->e[i], 0, sizeof(t->e[i]));
}

void
sl_neigh_forget(struct sl_neigh_table *t, uint32_t ip)
{
	bool found;
	struct sl_neigh_entry *e = neigh_find(t, ip, &found);

	if (e != NULL && found)
		neigh_delete(t, (uint32_t)(e - t->e));
}

/* Room for one more client: the least recently confirmed of a few goes
 * (never an instance, never an unresolved entry someone waits for). */
static bool
neigh_evict_client(struct sl_neigh_table *t)
{
	uint32_t best = UINT32_MAX, seen = 0;
	uint64_t oldest = UINT64_MAX;

	for (uint32_t n = 0; n < SL_NEIGH_SIZE && seen < SL_NEIGH_EVICT_PROBE;
	     n++) {
		const struct sl_neigh_entry *e = &t->e[t->evict_cursor];

		if (e->ip != 0 && e->kind == SL_NEIGH_CLIENT) {
			seen++;
			if (e->seen_tsc < oldest) {
				oldest = e->seen_tsc;
				best = t->evict_cursor;
			}
		}
		t->evict_cursor = neigh_next(t->evict_cursor);
	}
	if (best == UINT32_MAX)
		return false;
	neigh_delete(t, best);
	t->evicted++;
	return true;
}

struct sl_neigh_entry *
sl_neigh_want(struct sl_neigh_table *t, uint32_t ip, enum sl_neigh_kind kind,
	      uint64_t now)
{
	bool found;
	struct sl_neigh_entry *e;

	if (ip == 0 || kind == SL_NEIGH_NONE)
		return NULL;
	e = neigh_find(t, ip, &found);
	if (e != NULL && found) {
		if (kind == SL_NEIGH_INSTANCE && e->kind == SL_NEIGH_CLIENT) {
			e->kind = SL_NEIGH_INSTANCE;
			t->n_clients--;
		}
		return e;
	}
	if (kind == SL_NEIGH_CLIENT && t->n_clients >= SL_NEIGH_CLIENTS_MAX) {
		if (!neigh_evict_client(t)) {
			t->refused++;
			return NULL;
		}
		e = neigh_find(t, ip, &found); /* the shift may have moved it */
	}
	/* Keep one slot empty so probes always terminate. */
	if (e == NULL || t->n_entries + 1 >= SL_NEIGH_SIZE) {
		t->refused++;
		return NULL;
	}
	memset(e, 0, sizeof(*e));
	e->ip = ip;
	e->kind = (uint8_t)kind;
	e->seen_tsc = now;
	t->n_entries++;
	t->n_unresolved++;
	if (kind == SL_NEIGH_CLIENT)
		t->n_clients++;
	return e;
}

static void
neigh_bind(struct sl_neigh_table *t, struct sl_neigh_entry *e,
	   const struct rte_ether_addr *mac, uint64_t now)
{
	e->seen_tsc = now;
	e->asked_tsc = 0;
	if (e->resolved && rte_is_same_ether_addr(&e->mac, mac))
		return;
	if (!e->resolved)
		t->n_unresolved--;
	else
		t->gen++; /* routes that cached the old MAC re-read it */
	t->resolutions++;
	rte_ether_addr_copy(mac, &e->mac);
	e->resolved = true;
}

int
sl_neigh_learn(struct sl_neigh_table *t, uint32_t ip,
	       const struct rte_ether_addr *mac, enum sl_neigh_kind kind,
	       uint64_t now)
{
	struct sl_neigh_entry *e;

	if (kind == SL_NEIGH_NONE)
		return -EPERM;
	e = sl_neigh_want(t, ip, kind, now);
	if (e == NULL)
		return -ENOSPC;
	neigh_bind(t, e, mac, now);
	return 0;
}

int
sl_neigh_learn_first(struct sl_neigh_table *t, uint32_t ip,
		     const struct rte_ether_addr *mac, enum sl_neigh_kind kind,
		     uint64_t now)
{
	struct sl_neigh_entry *e;

	if (kind == SL_NEIGH_NONE)
		return -EPERM;
	e = sl_neigh_want(t, ip, kind, now);
	if (e == NULL)
		return -ENOSPC;
	if (e->resolved)
		return -EEXIST;
	neigh_bind(t, e, mac, now);
	return 0;
}

enum sl_neigh_kind
sl_dp_neigh_kind(const struct sl_dp *dp, uint32_t ip)
{
	const struct sl_config *cfg = dp->cfg;

	for (uint16_t p = 0; p < cfg->n_pipelines; p++)
		for (uint16_t s = 0; s < cfg->pipelines[p].n_stages; s++) {
			const struct sl_stage_cfg *st =
				&cfg->pipelines[p].stages[s];

			for (uint16_t i = 0; i < st->n_instances; i++)
				if (st->instances[i].ep.ip == ip)
					return SL_NEIGH_INSTANCE;
		}
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

		if (kind == SL_NEIGH_NONE ||
		    rte_is_zero_ether_addr(&arp->arp_data.arp_sha) ||
		    !rte_is_unicast_ether_addr(&arp->arp_data.arp_sha)) {
			dp->cnt.arp_ignored++;
			goto consumed;
		}
		sl_neigh_learn(&dp->neigh, sip, &arp->arp_data.arp_sha, kind,
			       dp->now);
	}
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

/* Queue an ARP request for @e's address. */
static void
neigh_ask(struct sl_dp *dp, struct sl_neigh_entry *e)
{
	struct rte_ether_hdr *eth;
	struct rte_arp_hdr *arp;
	struct rte_mbuf *m;

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
	arp->arp_data.arp_tip = rte_cpu_to_be_32(e->ip);
	dp->cnt.arp_requests++;
	sl_dp_ctrl_tx(dp, m);
}

void
sl_arp_solicit(struct sl_dp *dp, uint32_t ip)
{
	bool found;
	struct sl_neigh_entry *e = neigh_find(&dp->neigh, ip, &found);
	uint64_t retry = dp->tsc_hz / 1000 * SL_NEIGH_RETRY_MS;

	if (e == NULL || !found)
		e = sl_neigh_want(&dp->neigh, ip, sl_dp_neigh_kind(dp, ip),
				  dp->now);

	if (e == NULL || (e->asked_tsc != 0 && dp->now - e->asked_tsc < retry))
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
	for (uint32_t n = 0; n < SL_NEIGH_SLICE; n++) {
		struct sl_neigh_entry *e = &t->e[t->retry_cursor];

		if (dp->n_ctrl == SL_CTRL_TX_MAX)
			return;
		if (e->ip != 0) {
			uint64_t quiet = dp->now - e->seen_tsc;

			if (e->resolved && quiet > stale) {
				if (e->kind == SL_NEIGH_CLIENT) {
					/* A shift may move a later entry
					 * here: look at this slot again. */
					neigh_delete(t, t->retry_cursor);
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
		t->retry_cursor = neigh_next(t->retry_cursor);
	}
}
