/* SPDX-License-Identifier: MIT */
/*
 * sl_guard_edge.h - guards on edges: the zero-leak filter run on every
 * fragment of a guarded edge and the prompt prefix (sl_guard_edge.c).
 */
#ifndef SL_GUARD_EDGE_H
#define SL_GUARD_EDGE_H

#include <stdbool.h>

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "sl_dp.h"

/*
 * Guards on edges (sl_guard_edge.c). sl_guard_edge_filter runs the edge's
 * filter on @m and rewrites its tokens; false when @m was dropped.
 * @extra: a fragment to send after @m (released text that did not fit in
 * @m's END fragment), or NULL.
 * sl_guard_edge_prefix returns the prompt-prefix fragment to send before
 * @m (the stream's first on this edge) or NULL, and shifts @m's sequence.
 */
int sl_guard_edge_init(struct sl_dp *dp);
void sl_guard_edge_fini(struct sl_dp *dp);
/* Whether @next's guards fit the states of the current pool (a same
 * layout keeps it); -EBUSY when they do not and no pool can be retired. */
int sl_guard_edge_fits(const struct sl_dp *dp, const struct sl_config *next);
/* The current pool goes to the retired ones (@pool in its place). */
void sl_guard_edge_retire(struct sl_dp *dp, struct rte_mempool *pool);
/* Free the retired pools that have all their states back and the
 * scratches of sets nothing else holds (@all: every one, and the filter's
 * buffer, when the worker ends). */
void sl_guard_edge_reap(struct sl_dp *dp, bool all);
void sl_guard_edge_release(struct sl_dp *dp, struct sl_edge_state *es);
/* This worker's scratch (Hyperscan scratch, counters) for rule set @ref;
 * NULL when it has none (made for every set of a snapshot it adopts). */
struct sl_guard_scratch *sl_guard_edge_scratch(const struct sl_dp *dp,
					       const struct sl_guard_ref *ref);
bool sl_guard_edge_filter(struct sl_dp *dp, const struct sl_edge_cfg *e,
			  struct sl_edge_state *es, struct rte_mbuf *m,
			  struct rte_mbuf **extra);
struct rte_mbuf *sl_guard_edge_prefix(struct sl_dp *dp,
				      const struct sl_edge_cfg *e,
				      struct sl_edge_state *es,
				      struct rte_mbuf *m);

#endif /* SL_GUARD_EDGE_H */
