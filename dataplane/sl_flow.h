/* SPDX-License-Identifier: MIT */
/*
 * sl_flow.h - the per-stream flow table.
 *
 * One entry per stream (pipeline, stage, ancestry) that sluiced has seen.
 * It pins the stream's route at its first fragment, carries the state the
 * order stage needs (next sequence, END, fragments held out of order) and,
 * for a request's client stream, the client's address the final output
 * returns to. The table is bounded (a new stream is refused when it is
 * full) and entries expire: after idle_timeout without a fragment, or a
 * short linger after their END passed (long enough to recognise
 * retransmitted duplicates).
 *
 * Keys are rte_hash keys (CRC32 hash, extendable buckets so the table
 * really holds its configured size); the position rte_hash gives a key
 * indexes a flat array of struct sl_flow. Single writer: one worker.
 */
#ifndef SL_FLOW_H
#define SL_FLOW_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include "sl_config.h"
#include "sl_wire.h"

#define SL_FLOW_NONE UINT32_MAX
#define SL_INSTANCE_NONE 0xffff
#define SL_INSTANCE_CLIENT 0xfffe /* the stream returns to its client */
#define SL_FLOW_LINGER_MS 250

/* Raw wire bytes, so a key is a copy of the header, not a decode. */
struct sl_flow_key {
	uint32_t pipeline; /* network order */
	uint16_t stage;    /* network order */
	uint8_t depth;
	uint8_t zero;
	uint64_t ancestry[SL_ANCESTRY_MAX]; /* network order; unused ids 0 */
};

enum sl_flow_state {
	SL_FLOW_FREE = 0,
	SL_FLOW_ACTIVE,
	SL_FLOW_ENDED, /* END or ABORT passed; lingers for dedupe */
};

struct sl_reorder {
	struct rte_mbuf *slot[SL_CONFIG_REORDER_MAX]; /* by seq % window */
};

struct sl_flow {
	uint64_t last_tsc;
	uint32_t next_seq;    /* next sequence to deliver */
	uint32_t end_seq;     /* sequence of END/ABORT, UINT32_MAX until seen */
	uint32_t gen;         /* bumped when the entry is reused */
	uint32_t origin;      /* index of the request's client stream */
	uint32_t origin_gen;
	uint32_t client_ip;   /* client streams: where the output returns */
	uint16_t client_port;
	uint16_t tenant;
	uint16_t next_stage;  /* stage id the stream goes to; 0 = the client */
	uint16_t instance;    /* index in next_stage, SL_INSTANCE_NONE = unrouted */
	uint8_t pipeline;     /* index into cfg->pipelines */
	uint8_t state;        /* enum sl_flow_state */
	uint8_t n_held;
	uint8_t request_done; /* client stream: the final output's END passed */
	uint8_t in_flight;    /* counted in its instance's streams_active */
	struct sl_reorder *held;
	struct sl_flow_key key;
};

/* Called just before a flow leaves the table (expiry or flush). */
typedef void (*sl_flow_release_fn)(void *ctx, struct sl_flow *f);

/* Visible for the inline accessors; use the functions below. */
struct sl_flow_table {
	struct rte_hash *hash;
	struct sl_flow *flows;
	uint32_t capacity; /* entries in flows[] */
	uint32_t active;
	uint32_t window;
	struct rte_mempool *reorder_pool;
	sl_flow_release_fn release;
	void *ctx;
};

/**
 * sl_flow_table_create - make a table of @size streams.
 * @name: unique among this process's rte_hash tables.
 * @size: streams tracked at once (64..4194304).
 * @window: reorder window, 1..SL_CONFIG_REORDER_MAX.
 * @socket: NUMA socket for the memory.
 * @release: called for every flow that leaves the table; may be NULL.
 *
 * Return: the table, or NULL with rte_errno set.
 */
struct sl_flow_table *sl_flow_table_create(const char *name, uint32_t size,
					   uint32_t window, int socket,
					   sl_flow_release_fn release,
					   void *ctx);

/**
 * sl_flow_table_free - remove every flow (calling release for each and
 * freeing held mbufs) and free the table. NULL is a no-op.
 */
void sl_flow_table_free(struct sl_flow_table *ft);

/**
 * sl_flow_key_from_hdr - the key of the stream a wire header belongs to.
 * @hdr: first byte of a validated sluice header.
 */
void sl_flow_key_from_hdr(struct sl_flow_key *key, const uint8_t *hdr);

/**
 * sl_flow_lookup_bulk - look up @n keys (n <= 64).
 * @idx: receives each key's flow index, or SL_FLOW_NONE.
 */
void sl_flow_lookup_bulk(struct sl_flow_table *ft,
			 const struct sl_flow_key **keys, unsigned int n,
			 uint32_t *idx);

/**
 * sl_flow_lookup - one key. Return its index or SL_FLOW_NONE.
 */
uint32_t sl_flow_lookup(struct sl_flow_table *ft,
			const struct sl_flow_key *key);

/**
 * sl_flow_add - insert @key, or find it if present.
 * @created: set true when a new entry was made (zeroed, ACTIVE, no route).
 *
 * Return: the flow index, or -ENOSPC when the table is full.
 */
int32_t sl_flow_add(struct sl_flow_table *ft, const struct sl_flow_key *key,
		    uint64_t now, bool *created);

/**
 * sl_flow_remove - take flow @idx out: release callback, free held mbufs,
 * delete the key, bump the generation.
 */
void sl_flow_remove(struct sl_flow_table *ft, uint32_t idx);

/**
 * sl_flow_expire - scan up to @budget entries from *@cursor and remove
 * those idle longer than @idle_tsc (ACTIVE) or @linger_tsc (ENDED).
 * Return: how many were removed.
 */
unsigned int sl_flow_expire(struct sl_flow_table *ft, uint64_t now,
			    uint64_t idle_tsc, uint64_t linger_tsc,
			    uint32_t *cursor, unsigned int budget);

/**
 * sl_flow_hold - keep out-of-order fragment @m with sequence @seq in the
 * flow's reorder buffer. The caller checked next_seq < seq < next_seq +
 * window. Return 0, -ENOBUFS when no reorder buffer is free, -EEXIST when
 * that sequence is already held (a duplicate).
 */
int sl_flow_hold(struct sl_flow_table *ft, struct sl_flow *f,
		 struct rte_mbuf *m, uint32_t seq);

/**
 * sl_flow_take_next - the held fragment with sequence f->next_seq, removed
 * from the buffer, or NULL. Gives the reorder buffer back when it empties.
 */
struct rte_mbuf *sl_flow_take_next(struct sl_flow_table *ft,
				   struct sl_flow *f);

static inline struct sl_flow *
sl_flow_at(struct sl_flow_table *ft, uint32_t idx)
{
	return &ft->flows[idx];
}

#endif /* SL_FLOW_H */
