/* SPDX-License-Identifier: MIT */
/*
 * sl_list.h - the intrusive doubly linked list libsluice's tables keep
 * their LRU and timer orders in (sl_rel.c, sl_stage.c). Private to
 * tools/lib: not part of sluice.h.
 *
 * A head is a struct sl_link of its own; an element embeds one and is
 * found from it with sl_link_entry(). A link that is on no list points at
 * itself (sl_link_init), so sl_link_del() may be called on it again.
 */
#ifndef SL_LIST_H
#define SL_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct sl_link {
	struct sl_link *prev, *next;
};

#define sl_link_entry(ptr, type, member)                                       \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

static inline void
sl_link_init(struct sl_link *l)
{
	l->prev = l->next = l;
}

static inline bool
sl_link_empty(const struct sl_link *head)
{
	return head->next == head;
}

static inline void
sl_link_del(struct sl_link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
	sl_link_init(l);
}

static inline void
sl_link_add_tail(struct sl_link *head, struct sl_link *l)
{
	l->prev = head->prev;
	l->next = head;
	head->prev->next = l;
	head->prev = l;
}

/* Move @l (on a list or not) to the tail of @head. */
static inline void
sl_link_move_tail(struct sl_link *head, struct sl_link *l)
{
	sl_link_del(l);
	sl_link_add_tail(head, l);
}

#endif /* SL_LIST_H */
