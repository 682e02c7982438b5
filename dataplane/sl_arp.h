/* SPDX-License-Identifier: MIT */
/*
 * sl_arp.h - the ARP responder and the neighbour table's upkeep on the
 * worker: what may be learned, answers, requests, retries and ageing.
 */
#ifndef SL_ARP_H
#define SL_ARP_H

#include "sl_neigh.h"

struct sl_dp;
struct rte_mbuf;

/**
 * sl_dp_neigh_kind - may @ip be learned by @dp, and as what: an instance
 * of the config, an address in a client network, or NONE.
 */
enum sl_neigh_kind sl_dp_neigh_kind(const struct sl_dp *dp, uint32_t ip);

/**
 * sl_arp_input - handle an ARP frame for our address from a sender that
 * may be learned (sl_dp_neigh_kind): learn it, and answer a request (the
 * mbuf becomes the reply and is queued). Anything else is freed (counted
 * arp_ignored when the sender may not be learned). Always consumes @m.
 */
void sl_arp_input(struct sl_dp *dp, struct rte_mbuf *m);

/**
 * sl_arp_solicit - queue an ARP request for @ip (rate-limited per address
 * to one per SL_NEIGH_RETRY_MS); creates the entry if it may.
 */
void sl_arp_solicit(struct sl_dp *dp, uint32_t ip);

/**
 * sl_neigh_retry - housekeeping: ask again for every unresolved entry
 * whose last request is older than SL_NEIGH_RETRY_MS, refresh entries not
 * confirmed for SL_NEIGH_REFRESH_MS and age out those that stopped
 * answering: 1/SL_NEIGH_PASS_CALLS of the table per call.
 */
void sl_neigh_retry(struct sl_dp *dp);

#endif /* SL_ARP_H */
