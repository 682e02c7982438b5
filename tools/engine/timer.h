/* SPDX-License-Identifier: MIT */
/*
 * timer.h - a binary min-heap of deadlines for the engine emulator.
 *
 * Every modelled duration (prefill, a decode step, a service) becomes one
 * entry; the event loop sleeps until the earliest. Equal deadlines fire in
 * the order they were armed, so a run replays the same event sequence.
 * Entries are never cancelled: the owner of @arg marks it dead instead and
 * ignores the expiry (each owner has at most one entry armed).
 */
#ifndef SL_ENGINE_TIMER_H
#define SL_ENGINE_TIMER_H

#include <stddef.h>
#include <stdint.h>

struct sl_timer {
	uint64_t deadline_ns;
	uint64_t order; /* arming order: tie-break */
	void *arg;
};

struct sl_timer_heap {
	struct sl_timer *t;
	size_t n;
	size_t cap;
	uint64_t armed;
};

/**
 * sl_timer_arm - add @arg expiring at @deadline_ns. Return 0 or -ENOMEM.
 */
int sl_timer_arm(struct sl_timer_heap *h, uint64_t deadline_ns, void *arg);

/**
 * sl_timer_next - the earliest deadline; UINT64_MAX when empty.
 */
uint64_t sl_timer_next(const struct sl_timer_heap *h);

/**
 * sl_timer_pop - remove the earliest entry if it is due at @now (deadline
 * <= @now): return its arg and set *@deadline_ns; NULL when none is due.
 */
void *sl_timer_pop(struct sl_timer_heap *h, uint64_t now,
		   uint64_t *deadline_ns);

/**
 * sl_timer_heap_free - release the storage (entries are dropped).
 */
void sl_timer_heap_free(struct sl_timer_heap *h);

#endif /* SL_ENGINE_TIMER_H */
