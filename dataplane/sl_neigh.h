/* SPDX-License-Identifier: MIT */
/*
 * sl_neigh.h - IPv4 neighbours (ARP) of the dataplane port.
 *
 * sluiced owns an IPv4 address that no kernel knows about, so it answers
 * ARP for it and resolves its next hops itself: instances are asked for at
 * start and re-asked until they answer; clients are learned from the ARP
 * request their kernel sends before the first fragment. A small
 * open-addressed table, owned by one worker.
 */
#ifndef SL_NEIGH_H
#define SL_NEIGH_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>

#define SL_NEIGH_SIZE 1024 /* power of two */
#define SL_NEIGH_RETRY_MS 200

struct sl_neigh_entry {
	uint32_t ip; /* host order; 0 = empty */
	bool resolved;
	struct rte_ether_addr mac;
	uint64_t asked_tsc; /* last ARP request we sent for it */
};

struct sl_neigh_table {
	uint32_t n_entries;
	uint32_t n_unresolved;
	uint32_t resolutions;  /* bumped whenever an entry is resolved */
	uint32_t gen;          /* bumped whenever a resolved MAC changes */
	uint32_t retry_cursor; /* where the last retry pass stopped */
	struct sl_neigh_entry e[SL_NEIGH_SIZE];
};

/**
 * sl_neigh_learn - record @ip at @mac. Return 0, or -ENOSPC if the table
 * is full (the address is then not remembered).
 */
int sl_neigh_learn(struct sl_neigh_table *t, uint32_t ip,
		   const struct rte_ether_addr *mac);

static inline uint32_t
sl_neigh_slot(uint32_t ip)
{
	/* Fibonacci hashing: consecutive addresses spread out. */
	return (ip * 2654435761u) >> (32 - 10);
}

/**
 * sl_neigh_lookup - the resolved MAC of @ip, or NULL.
 */
static inline const struct rte_ether_addr *
sl_neigh_lookup(const struct sl_neigh_table *t, uint32_t ip)
{
	uint32_t i = sl_neigh_slot(ip);

	for (uint32_t n = 0; n < SL_NEIGH_SIZE; n++) {
		const struct sl_neigh_entry *e = &t->e[i];

		if (e->ip == ip)
			return e->resolved ? &e->mac : NULL;
		if (e->ip == 0)
			return NULL;
		i = (i + 1) & (SL_NEIGH_SIZE - 1);
	}
	return NULL;
}

/**
 * sl_neigh_want - make sure @ip has an entry (unresolved if new) so
 * housekeeping keeps asking for it. Return the entry or NULL if full.
 */
struct sl_neigh_entry *sl_neigh_want(struct sl_neigh_table *t, uint32_t ip);

struct sl_dp;
struct rte_mbuf;

/**
 * sl_arp_input - handle an ARP frame: learn the sender, answer a request
 * for our address (the mbuf becomes the reply and is queued), free
 * anything else. Always consumes @m.
 */
void sl_arp_input(struct sl_dp *dp, struct rte_mbuf *m);

/**
 * sl_arp_solicit - ask who has @ip, unless asked within SL_NEIGH_RETRY_MS.
 */
void sl_arp_solicit(struct sl_dp *dp, uint32_t ip);

/**
 * sl_neigh_retry - re-ask every unresolved neighbour whose last request
 * is older than SL_NEIGH_RETRY_MS.
 */
void sl_neigh_retry(struct sl_dp *dp);

#endif /* SL_NEIGH_H */
