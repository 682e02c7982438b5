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
 * Keys are rte_hash keys (keyed SipHash, extendable buckets so the table
 * really holds its configured size); the position rte_hash gives a key
 * indexes a flat array of struct sl_flow. Single writer: one worker.
 */
#ifndef SL_FLOW_H
#define SL_FLOW_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_common.h>
#include <rte_hash_crc.h>
#include <rte_ether.h>
#include <rte_mbuf.h>

#include "sl_snapshot.h"
#include "sl_hash64.h"
#include "sl_wire.h"

#define SL_FLOW_NONE UINT32_MAX
#define SL_INSTANCE_NONE 0xffff
#define SL_INSTANCE_CLIENT 0xfffe  /* the stream returns to its client */
#define SL_INSTANCE_REFUSED 0xfffd /* no route: its fragments are dropped */
/* sl_flow_key.zero: 0 for a stream received; other values name keys of
 * other tables that share the layout (never a received stream). */
#define SL_FLOW_KEY_GROUP 2
#define SL_FLOW_KEY_PIN 3 /* a bounded-load key pin (sl_route.c) */
/* An ended stream stays this long to recognise (and ACK) duplicates: at
 * least as long as a sender resends an un-ACKed END (WIRE.md). */
#define SL_FLOW_LINGER_MS SL_RTX_LINGER_MS

/*
 * A stream is named by its wire identity and by who sent it: a guessed
 * request id from another client or tenant names another stream. Raw
 * wire bytes where they come from the header, so a key is mostly a copy.
 * 64 bytes: one cache line.
 */
struct sl_flow_key {
	uint32_t pipeline; /* network order */
	uint16_t stage;    /* network order */
	uint8_t depth;
	uint8_t zero;
	uint32_t src_ip;   /* host order; 0 for streams sluiced makes */
	uint16_t src_port; /* host order */
	uint16_t tenant;   /* network order, as on the wire */
	uint64_t ancestry[SL_ANCESTRY_MAX]; /* network order; unused ids 0 */
};

enum sl_flow_state {
	SL_FLOW_FREE = 0,
	SL_FLOW_ACTIVE,
	SL_FLOW_ENDED, /* END or ABORT passed; lingers for dedupe */
};

/* sl_flow.marks */
#define SL_FLOW_M_CHARGED                                                      \
	0x01 /* a client stream counted in its address's
				* and the clients' streams */
#define SL_FLOW_M_ABORTED                                                      \
	0x02               /* a client stream whose request was aborted
				* by sluiced (sl_dp_request_abort) */
#define SL_FLOW_M_GAP 0x04 /* on the worker's list of open gaps */
#define SL_FLOW_M_OUTPUT                                                       \
	0x08 /* a client stream whose request sent the
				* client some output */

/* A coarse clock for per-flow timers that must fit 32 bits: TSC >> 16
 * (tens of microseconds a tick; wraps after a day or more, compared with
 * a signed difference). */
#define SL_FLOW_COARSE_SHIFT 16
static inline uint32_t
sl_flow_coarse(uint64_t tsc)
{
	return (uint32_t)(tsc >> SL_FLOW_COARSE_SHIFT);
}

struct sl_reorder {
	struct rte_mbuf *slot[SL_CONFIG_REORDER_MAX]; /* by seq % window */
};

/*
 * One stream. 128 bytes, cache aligned: what every fragment touches sits
 * in the first line, the key and the client address in the second.
 */
struct sl_flow {
	uint64_t last_tsc;
	uint32_t next_seq; /* next sequence to deliver */
	uint32_t end_seq;  /* sequence of END/ABORT, UINT32_MAX until seen */
	uint32_t gen;      /* bumped when the entry is reused */
	uint32_t origin;   /* index of the request's client stream */
	uint32_t origin_gen;
	uint16_t tenant;
	uint8_t pipeline; /* index into cfg->pipelines */
	uint8_t state;    /* enum sl_flow_state */
	uint8_t n_held;
	uint8_t request_done;   /* client stream: the request's output ended */
	uint8_t tenant_counted; /* counted in its tenant's streams */
	uint8_t nack_tries;     /* NACKs sent for the gap now open */
	uint16_t src_slot;      /* the request's client address, for quotas */
	uint8_t marks;          /* SL_FLOW_M_* */
	uint8_t pad_;
	struct sl_reorder *held;
	/* Per edge the stream leaves on: routes, buffers, splitters
	 * (struct sl_edge_block, owned by the dataplane). */
	void *edges;
	uint32_t nack_due; /* coarse clock (sl_flow_coarse) of the next
			       * NACK for the open gap */
	uint32_t gap_end;  /* a sequence seen beyond the open gap */
	/* second cache line: the key (a client stream's key has the client's
	 * address: where the request's output returns) */
	struct sl_flow_key key __rte_cache_aligned;
} __rte_cache_aligned;

/* Called just before a flow leaves the table (expiry or flush). */
typedef void (*sl_flow_release_fn)(void *ctx, struct sl_flow *f);

/* Whether an ended flow whose linger is over must stay a while longer
 * (something it is waiting for has not happened yet). */
typedef bool (*sl_flow_keep_fn)(void *ctx, const struct sl_flow *f,
				uint64_t now);

/* An ended flow waiting out its linger, oldest first. */
struct sl_flow_linger {
	uint32_t idx;
	uint32_t gen;
	uint64_t since;
};

/* Visible for the inline accessors; use the functions below. */
struct sl_flow_table {
	struct rte_hash *hash;
	struct sl_flow *flows;
	uint32_t capacity; /* entries in flows[] */
	uint32_t active;
	/* Ended flows in the order they ended: the linger is the same for
	 * all, so they expire from the head without scanning the table. */
	struct sl_flow_linger *linger;
	uint32_t linger_head;
	uint32_t linger_count;
	uint32_t window;
	struct rte_mempool *reorder_pool;
	sl_flow_release_fn release;
	sl_flow_keep_fn keep; /* NULL: every linger ends on time */
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
 * sl_flow_key_from_hdr - the key of the stream a wire header belongs to,
 * sent from @src_ip:@src_port (host order).
 * @hdr: first byte of a validated sluice header.
 */
void sl_flow_key_from_hdr(struct sl_flow_key *key, const uint8_t *hdr,
			  uint32_t src_ip, uint16_t src_port);

/* The secret of sl_flow_hash, drawn once per process (getrandom). */
extern uint64_t sl_flow_hash_key[2];

/**
 * sl_flow_hash_seed - draw the hash secret (idempotent; the first call
 * per process draws it). Return 0 or -errno from getrandom(2).
 */
int sl_flow_hash_seed(void);

/**
 * sl_flow_hash - the key's hash: SipHash-1-3 (Aumasson and Bernstein's
 * keyed PRF, the variant Rust's HashMap uses against hash flooding) under
 * a per-process secret, over the bytes in use (the 16-byte head and
 * depth ids), folded to 32 bits. A sender who does not know the secret
 * cannot aim many streams at one bucket chain. It is the table's hash
 * function (and that of the operator-group and key-pin tables, which
 * share the layout); callers that look a key up more than once compute it
 * once and use the _hashed variants.
 */
static inline uint32_t
sl_flow_hash(const struct sl_flow_key *key)
{
	uint8_t depth =
		key->depth < SL_ANCESTRY_MAX ? key->depth : SL_ANCESTRY_MAX;
	uint64_t b =
		sl_siphash13_ids(sl_flow_hash_key, key, key->ancestry, depth);

	return (uint32_t)(b ^ (b >> 32));
}

/**
 * sl_flow_lookup_bulk_hashed - sl_flow_lookup_bulk with the hashes given.
 */
void sl_flow_lookup_bulk_hashed(struct sl_flow_table *ft,
				const struct sl_flow_key **keys,
				const uint32_t *sigs, unsigned int n,
				uint32_t *idx);

/**
 * sl_flow_add_hashed - sl_flow_add with the hash given.
 */
int32_t sl_flow_add_hashed(struct sl_flow_table *ft,
			   const struct sl_flow_key *key, uint32_t sig,
			   uint64_t now, bool *created);

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
 * sl_flow_end - mark flow @idx ENDED at @now (its END or ABORT passed)
 * and queue it to leave the table after the linger.
 */
void sl_flow_end(struct sl_flow_table *ft, uint32_t idx, uint64_t now);

/**
 * sl_flow_set_keep - have @keep (called with the table's ctx) decide,
 * when a flow's linger is over, whether it lingers once more.
 */
void sl_flow_set_keep(struct sl_flow_table *ft, sl_flow_keep_fn keep);

/**
 * sl_flow_expire_ended - remove the flows that ended more than
 * @linger_tsc before @now, but for those the keep hook keeps: they
 * linger again from @now. Return how many were removed.
 */
unsigned int sl_flow_expire_ended(struct sl_flow_table *ft, uint64_t now,
				  uint64_t linger_tsc);

/**
 * sl_flow_expire - scan up to @budget entries from *@cursor and remove
 * those idle longer than @idle_tsc (ACTIVE) or @linger_tsc (ENDED; pass
 * UINT64_MAX to leave those to sl_flow_expire_ended).
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
struct rte_mbuf *sl_flow_take_next(struct sl_flow_table *ft, struct sl_flow *f);

static inline struct sl_flow *
sl_flow_at(struct sl_flow_table *ft, uint32_t idx)
{
	return &ft->flows[idx];
}

/**
 * sl_flow_first_held - the held fragment with the lowest sequence, or
 * NULL when the flow holds none.
 */
struct rte_mbuf *sl_flow_first_held(struct sl_flow_table *ft,
				    const struct sl_flow *f);

#endif /* SL_FLOW_H */
