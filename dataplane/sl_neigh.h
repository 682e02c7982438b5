/* SPDX-License-Identifier: MIT */
/*
 * sl_neigh.h - IPv4 neighbours (ARP) of the dataplane port.
 *
 * sluiced owns an IPv4 address that no kernel knows about, so it answers
 * ARP for it and resolves its next hops itself: instances are asked for at
 * start and re-asked until they answer; clients are learned from the ARP
 * request their kernel sends before the first fragment (or, when none
 * came, from their first request). A small open-addressed table, owned by
 * one worker.
 *
 * Who may be learned: only the configured instances and addresses in the
 * client networks (the caller says which: sl_dp_neigh_kind); an ARP from
 * anyone else is neither answered nor remembered. Instances have the table to
 * themselves but for SL_NEIGH_CLIENTS_MAX client entries; when those are
 * taken, a new client evicts the least recently confirmed of a few
 * clients, so no flood of ARP senders can leave a client or an instance
 * unresolvable. Only ARP binds an address that is known to a new MAC: a
 * data packet teaches a MAC only where none is known yet.
 *
 * Entries age: one not confirmed by ARP for SL_NEIGH_REFRESH_MS is asked
 * again (its MAC stays in use meanwhile); with no answer within
 * SL_NEIGH_STALE_MS more, a client entry is forgotten and an instance
 * entry goes back to unresolved (asked until it answers, its streams
 * kept for resends meanwhile).
 */
#ifndef SL_NEIGH_H
#define SL_NEIGH_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>

#define SL_NEIGH_SIZE 4096 /* power of two */
#define SL_NEIGH_CLIENTS_MAX (SL_NEIGH_SIZE / 4)
#define SL_NEIGH_RETRY_MS 200
#define SL_NEIGH_REFRESH_MS 30000
#define SL_NEIGH_STALE_MS 5000
#define SL_NEIGH_EVICT_PROBE 16 /* clients compared to evict one */
/* Housekeeping calls (one a millisecond) for a retry pass over the whole
 * table: 64 ms, within a third of SL_NEIGH_RETRY_MS, so a retry is at
 * most that late; a pass every 8 calls cost 9 cycles a fragment at 3.8
 * Mpps (tools/bench/dataplane.sh, 30 % of housekeeping's instructions). */
#define SL_NEIGH_PASS_CALLS 64

enum sl_neigh_kind {
	SL_NEIGH_NONE = 0, /* may not be learned */
	SL_NEIGH_CLIENT,
	SL_NEIGH_INSTANCE,
	/* Cluster mode: another node's instance, reached through that
	 * node's sluiced: its MAC is the node's (sl_relay_refresh), never
	 * asked for or learned from ARP, never aged here. */
	SL_NEIGH_VIA,
	/* Cluster mode: another node's sluiced; kept and refreshed as an
	 * instance. */
	SL_NEIGH_NODE,
};

struct sl_neigh_entry {
	uint32_t ip; /* host order; 0 = empty */
	bool resolved;
	uint8_t kind; /* enum sl_neigh_kind */
	struct rte_ether_addr mac;
	uint64_t asked_tsc; /* last ARP request we sent for it */
	uint64_t seen_tsc;  /* last ARP that confirmed its MAC */
};

struct sl_neigh_table {
	uint32_t n_entries;
	uint32_t n_clients;
	uint32_t n_unresolved;
	uint32_t resolutions;  /* bumped whenever an entry is resolved */
	uint32_t gen;          /* bumped whenever a resolved MAC changes */
	uint32_t retry_cursor; /* where the last retry pass stopped */
	uint32_t age_cursor;   /* where the last ageing pass stopped */
	uint32_t evict_cursor;
	uint64_t evicted;   /* client entries evicted for room */
	uint64_t refused;   /* addresses not learned: table full */
	uint64_t forgotten; /* client entries aged out */
	struct sl_neigh_entry e[SL_NEIGH_SIZE];
};

static inline uint32_t
sl_neigh_slot(uint32_t ip)
{
	/* Fibonacci hashing: consecutive addresses spread out. */
	return (ip * 2654435761u) >> (32 - 12);
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
 * sl_neigh_want - make sure @ip has an entry of @kind (unresolved if new)
 * so housekeeping keeps asking for it; a client entry may evict another
 * client's. An existing client entry becomes an instance entry when
 * asked for as one. Return the entry, or NULL (kind NONE, or no room).
 */
struct sl_neigh_entry *sl_neigh_want(struct sl_neigh_table *t, uint32_t ip,
				     enum sl_neigh_kind kind, uint64_t now);

/**
 * sl_neigh_learn - ARP said @ip is at @mac: record it (a changed MAC is
 * taken: routes re-read it) and count it as confirmed at @now. Return 0,
 * -EPERM for kind NONE or for another node's instance's entry
 * (SL_NEIGH_VIA) unless @kind is VIA, or -ENOSPC when there is no room.
 */
int sl_neigh_learn(struct sl_neigh_table *t, uint32_t ip,
		   const struct rte_ether_addr *mac, enum sl_neigh_kind kind,
		   uint64_t now);

/**
 * sl_neigh_learn_first - a data packet from @ip came from @mac: record it
 * only if no MAC is known for @ip (never rebinds). Return 0, or -EEXIST
 * when a MAC was known already, -ENOSPC when there is no room.
 */
int sl_neigh_learn_first(struct sl_neigh_table *t, uint32_t ip,
			 const struct rte_ether_addr *mac,
			 enum sl_neigh_kind kind, uint64_t now);

/* The slot after @i (the table is probed linearly). */
static inline uint32_t
sl_neigh_next(uint32_t i)
{
	return (i + 1) & (SL_NEIGH_SIZE - 1);
}

/**
 * sl_neigh_find - @ip's entry (*@found), else the empty slot where it
 * would go (NULL: the table is full and holds no @ip).
 */
struct sl_neigh_entry *sl_neigh_find(const struct sl_neigh_table *t,
				     uint32_t ip, bool *found);

/**
 * sl_neigh_delete - empty slot @i and shift the later members of its
 * probe run back (Knuth's algorithm R), so lookups still stop at the
 * first empty slot.
 */
void sl_neigh_delete(struct sl_neigh_table *t, uint32_t i);

/**
 * sl_neigh_forget - remove @ip's entry (a client that left, or a test).
 */
void sl_neigh_forget(struct sl_neigh_table *t, uint32_t ip);

#endif /* SL_NEIGH_H */
