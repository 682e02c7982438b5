/* SPDX-License-Identifier: MIT */
/*
 * sl_neigh.c - the neighbour table (see sl_neigh.h); the ARP side that
 * uses it on the worker is sl_arp.c.
 */
#include <errno.h>
#include <string.h>

#include <rte_ether.h>

#include "sl_neigh.h"

struct sl_neigh_entry *
sl_neigh_find(const struct sl_neigh_table *t, uint32_t ip, bool *found)
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
		i = sl_neigh_next(i);
	}
	*found = false;
	return NULL;
}

/*
 * Remove slot @i and shift later members of its probe run back
 * (Knuth's algorithm R for linear probing), so lookups still stop at
 * the first empty slot.
 */
void
sl_neigh_delete(struct sl_neigh_table *t, uint32_t i)
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
	for (uint32_t j = sl_neigh_next(i);; j = sl_neigh_next(j)) {
		uint32_t home;

		if (t->e[j].ip == 0)
			break;
		home = sl_neigh_slot(t->e[j].ip);
		/* j's entry may move to i unless its home lies cyclically
		 * in (i, j]. */
		if ((i <= j) ? (home > i && home <= j)
			     : (home > i || home <= j))
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
	struct sl_neigh_entry *e = sl_neigh_find(t, ip, &found);

	if (e != NULL && found)
		sl_neigh_delete(t, (uint32_t)(e - t->e));
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
		t->evict_cursor = sl_neigh_next(t->evict_cursor);
	}
	if (best == UINT32_MAX)
		return false;
	sl_neigh_delete(t, best);
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
	e = sl_neigh_find(t, ip, &found);
	if (e != NULL && found) {
		/* Another node's instance stays one whatever a packet says
		 * of its address (a client's request from it): only a new
		 * config (the instance moved here) takes the entry back. */
		if (e->kind == SL_NEIGH_VIA && kind != SL_NEIGH_VIA &&
		    kind != SL_NEIGH_INSTANCE)
			return e;
		/* An instance or another node learned first as a client
		 * (its address is in the client networks) is kept as one. */
		if ((kind == SL_NEIGH_INSTANCE || kind == SL_NEIGH_NODE) &&
		    e->kind == SL_NEIGH_CLIENT) {
			e->kind = (uint8_t)kind;
			t->n_clients--;
		}
		/* An address that moved between this node and another (a
		 * new config): what was known of it no longer holds. */
		if ((kind == SL_NEIGH_VIA) != (e->kind == SL_NEIGH_VIA)) {
			if (e->kind == SL_NEIGH_CLIENT)
				t->n_clients--;
			e->kind = (uint8_t)kind;
			if (e->resolved) {
				e->resolved = false;
				t->n_unresolved++;
				t->gen++;
			}
			e->asked_tsc = 0;
		}
		return e;
	}
	if (kind == SL_NEIGH_CLIENT && t->n_clients >= SL_NEIGH_CLIENTS_MAX) {
		if (!neigh_evict_client(t)) {
			t->refused++;
			return NULL;
		}
		e = sl_neigh_find(t, ip,
				  &found); /* the shift may have moved it */
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
	/* Bound to its node's MAC by sl_relay_refresh alone. */
	if (e->kind == SL_NEIGH_VIA && kind != SL_NEIGH_VIA)
		return -EPERM;
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
	if (e->kind == SL_NEIGH_VIA && kind != SL_NEIGH_VIA)
		return -EPERM;
	if (e->resolved)
		return -EEXIST;
	neigh_bind(t, e, mac, now);
	return 0;
}
