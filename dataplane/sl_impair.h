/* SPDX-License-Identifier: MIT */
/*
 * sl_impair.h - a fault injector on sluiced's own port: drops,
 * duplicates and reorders datagrams on chosen hops, for tests and the
 * chaos benchmark (this kind of machine has no `tc netem`).
 *
 * Off unless sluiced is started with `--impair SPEC`; then every frame
 * received (rx) and/or sent (tx) on a chosen hop is, independently and
 * with the given probabilities, dropped, sent twice (the copy after the
 * next burst), or held back and sent after the next burst's own frames
 * (reordered). A hop is named by
 * the address at its far end (an instance or a client); without one every
 * hop is impaired. ARP is never impaired.
 *
 * SPEC: comma-separated `drop=PCT`, `dup=PCT`, `reorder=PCT` (0..50,
 * decimals allowed), `dir=rx|tx|both` (default both), `hop=A.B.C.D`
 * (repeatable, up to SL_IMPAIR_HOPS), `seed=N` (default 1: runs repeat).
 */
#ifndef SL_IMPAIR_H
#define SL_IMPAIR_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

#define SL_IMPAIR_HOPS 16
#define SL_IMPAIR_HELD 8 /* frames held back (reordered, copies), per way */

enum sl_impair_dir {
	SL_IMPAIR_RX = 1,
	SL_IMPAIR_TX = 2,
	SL_IMPAIR_BOTH = 3,
};

struct sl_impair_counters {
	uint64_t seen;
	uint64_t dropped;
	uint64_t duplicated;
	uint64_t reordered;
};

struct sl_impair {
	/* Probabilities in parts per million. */
	uint32_t drop_ppm;
	uint32_t dup_ppm;
	uint32_t reorder_ppm;
	uint8_t dir; /* enum sl_impair_dir */
	uint8_t n_hops;
	uint32_t hops[SL_IMPAIR_HOPS]; /* host order; none: every hop */
	uint64_t rng;
	/* Held back on the way in (sent with the next burst) and out. */
	uint16_t n_held_rx;
	uint16_t n_held_tx;
	struct rte_mbuf *held_rx[SL_IMPAIR_HELD];
	struct rte_mbuf *held_tx[SL_IMPAIR_HELD];
	struct sl_impair_counters rx;
	struct sl_impair_counters tx;
};

/**
 * sl_impair_parse - fill @im from @spec (see above). Return 0, or -EINVAL
 * with "FIELD: message" in @err.
 */
int sl_impair_parse(struct sl_impair *im, const char *spec, char *err,
		    size_t errlen);

/**
 * sl_impair_rx - impair a received burst in place: @pkts holds @n frames
 * and room for @cap; frames held back earlier (copies, reordered ones)
 * come after this burst's own. Return the new count. Consumes what it
 * drops.
 */
uint16_t sl_impair_rx(struct sl_impair *im, struct rte_mempool *pool,
		      struct rte_mbuf **pkts, uint16_t n, uint16_t cap);

/**
 * sl_impair_tx - the same for frames about to be sent.
 */
uint16_t sl_impair_tx(struct sl_impair *im, struct rte_mempool *pool,
		      struct rte_mbuf **pkts, uint16_t n, uint16_t cap);

/**
 * sl_impair_flush - free what is held back (at shutdown).
 */
void sl_impair_flush(struct sl_impair *im);

#endif /* SL_IMPAIR_H */
