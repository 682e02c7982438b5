/* SPDX-License-Identifier: MIT */
/*
 * timer.c - binary min-heap of deadlines (see timer.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "timer.h"

static bool
sl_timer_before(const struct sl_timer *a, const struct sl_timer *b)
{
	return a->deadline_ns < b->deadline_ns ||
	       (a->deadline_ns == b->deadline_ns && a->order < b->order);
}

int
sl_timer_arm(struct sl_timer_heap *h, uint64_t deadline_ns, void *arg)
{
	size_t i;

	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		struct sl_timer *grown = realloc(h->t, cap * sizeof(h->t[0]));

		if (grown == NULL)
			return -ENOMEM;
		h->t = grown;
		h->cap = cap;
	}
	i = h->n++;
	h->t[i].deadline_ns = deadline_ns;
	h->t[i].order = h->armed++;
	h->t[i].arg = arg;
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		struct sl_timer tmp;

		if (!sl_timer_before(&h->t[i], &h->t[parent]))
			break;
		tmp = h->t[i];
		h->t[i] = h->t[parent];
		h->t[parent] = tmp;
		i = parent;
	}
	return 0;
}

uint64_t
sl_timer_next(const struct sl_timer_heap *h)
{
	return h->n ? h->t[0].deadline_ns : UINT64_MAX;
}

void *
sl_timer_pop(struct sl_timer_heap *h, uint64_t now, uint64_t *deadline_ns)
{
	void *arg;
	size_t i = 0;

	if (h->n == 0 || h->t[0].deadline_ns > now)
		return NULL;
	arg = h->t[0].arg;
	*deadline_ns = h->t[0].deadline_ns;
	h->t[0] = h->t[--h->n];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		struct sl_timer tmp;

		if (l < h->n && sl_timer_before(&h->t[l], &h->t[m]))
			m = l;
		if (r < h->n && sl_timer_before(&h->t[r], &h->t[m]))
			m = r;
		if (m == i)
			break;
		tmp = h->t[i];
		h->t[i] = h->t[m];
		h->t[m] = tmp;
		i = m;
	}
	return arg;
}

void
sl_timer_heap_free(struct sl_timer_heap *h)
{
	free(h->t);
	h->t = NULL;
	h->n = 0;
	h->cap = 0;
}
