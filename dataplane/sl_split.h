/* SPDX-License-Identifier: MIT */
/*
 * sl_split.h - splitters: cut a stream into quanta, each a child stream.
 *
 * A split edge runs its stream's text through a Hyperscan database in
 * streaming mode and cuts after every match end. Because Hyperscan keeps
 * the match state between calls, a delimiter split across fragments (or
 * across tokens) still cuts at the right byte. A cut may fall inside a
 * token: the token's text is split in two and both pieces keep its id.
 *
 * Each non-empty quantum becomes a child stream: the parent's ancestry
 * plus the quantum's index, one level deeper, sequence from 0, END on its
 * last fragment. With stream_children the child leaves token by token as
 * soon as its quantum starts; otherwise when the quantum is complete (or
 * when it fills a fragment). The parent's END produces a tokenless
 * END|CHILDREN fragment with the number of children for consumers that
 * aggregate above the children's level.
 *
 * Splitter state is borrowed from a mempool when a stream's first
 * fragment reaches a split edge (and the Hyperscan stream state from
 * another); the Hyperscan state goes back at the parent's END, the rest
 * when the stream leaves the flow table (its pins are still read by
 * fragments on their way out): nothing is allocated on the heap on the
 * packet path.
 */
#ifndef SL_SPLIT_H
#define SL_SPLIT_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include "sl_snapshot.h"
#include "sl_wire.h"

struct sl_dp;
struct sl_pkt_meta;

/**
 * sl_split_init - per-process and per-worker set-up for the splitters of
 * @cfg: the Hyperscan scratch and the stream-state pool (Hyperscan's
 * stream allocator is pointed at it). Return 0 or a negative errno.
 */
int sl_split_init(struct sl_dp *dp);

/**
 * sl_split_fini - give back what sl_split_init took.
 */
void sl_split_fini(struct sl_dp *dp);

/**
 * sl_split_input - run one in-order fragment of a stream through split
 * edge @e. Child fragments are built in new mbufs and handed on with
 * sl_dp_edge_out(); @m itself is not consumed. The splitter is created on
 * the stream's first fragment and released after its END or ABORT.
 * @state: the edge's splitter slot in the stream's edge block.
 */
void sl_split_input(struct sl_dp *dp, struct sl_splitter **state,
		    const struct sl_edge_cfg *e, uint8_t slot,
		    struct rte_mbuf *m);

/**
 * sl_split_pin - the route of the splitter's current child (NULL before
 * its first child), or (@marker) of its END|CHILDREN fragment.
 */
struct sl_route_pin *sl_split_pin(struct sl_dp *dp, struct sl_splitter *sp,
				  bool marker);

/**
 * sl_split_pins_routed - route has passed every staged fragment: the pins
 * of children that finished since are free again.
 */
void sl_split_pins_routed(struct sl_dp *dp);

/**
 * sl_split_child_ancestry - the ancestry (wire order, @depth ids) of the
 * child the splitter is cutting now.
 */
void sl_split_child_ancestry(const struct sl_splitter *sp, uint64_t *out,
			     uint8_t *depth);

/**
 * sl_split_release - the parent was aborted: a child in progress gets an
 * ABORT with @reason, and so do the consumers told about children.
 */
void sl_split_release(struct sl_dp *dp, struct sl_splitter **state,
		      const struct sl_edge_cfg *e, uint8_t reason);

/**
 * sl_split_discard - free a splitter without sending anything (the
 * dataplane is shutting down or the stream was already aborted).
 */
void sl_split_discard(struct sl_dp *dp, struct sl_splitter **state);

#endif /* SL_SPLIT_H */
