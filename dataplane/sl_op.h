/* SPDX-License-Identifier: MIT */
/*
 * sl_op.h - inline operators: count, sum, top-k and concat, run by
 * sluiced on the fragments that reach an operator stage.
 *
 * An operator keeps one group per key: the first L ancestry ids of what
 * it receives (L = the stage's aggregation level). A group ends when
 * everything that belongs to it has ended, which sluiced knows because it
 * made the splits itself: every child a split starts on the way to the
 * operator adds to the group's outstanding count, every parent END that
 * closes a split and every stream END that reaches the operator takes one
 * away. At zero the result leaves as the operator stage's output stream
 * (ancestry = the key, depth L) and goes on along the stage's edges.
 *
 * Results do not depend on arrival order: concat orders by ancestry, then
 * producing stage, then sequence; top-k breaks ties by token id. Top-k
 * keeps the first SL_OP_TOPK_TEXT bytes of a token's text, cut back to a
 * character boundary (the text stays valid UTF-8).
 *
 * Bounds: groups in flight per stage (max_groups) and bytes per group
 * (max_group_bytes): concat holds any number of records up to it (each
 * costs 72 bytes plus its tokens' wire bytes), top-k its table of k x 62
 * bytes from its first numeric token on. Hitting one, or finding the
 * shared chunk pool empty, aborts the group's result with ABORT
 * (OVERLOAD) and gives its state back at once (a group refused for
 * max_groups is remembered as done, so its later inputs cannot start a
 * partial one); a count that goes below zero aborts it with ABORT
 * (CHILDREN); a group with no event for the idle timeout is aborted with
 * ABORT (EXPIRED). Every case is counted.
 *
 * A result leaves whole or not at all: it is sized before it is built,
 * and one that needs more fragments than a result may take
 * (SL_RESULT_FRAGS_MAX, 1,024) or than there are free mbufs, or holds a token no fragment can carry, is replaced by ABORT
 * (OVERLOAD) (result_overflow). Should an mbuf still be missing half way,
 * the fragments sent are followed by that ABORT, never by END.
 *
 * Depth: an operator takes streams of its stage's input depth (depth_in,
 * at least its level L). A fragment of another depth is dropped
 * (BAD_DEPTH, counted in depth_mismatch) before any group is looked up:
 * one shallower than L has no key, a deeper one would close a leaf the
 * group never counted. A split event whose depth does not fit its edge is
 * ignored and counted the same way. The group a dropped fragment belonged
 * to is left alone: if it waited for that fragment it idles out with ABORT
 * (EXPIRED).
 */
#ifndef SL_OP_H
#define SL_OP_H

#include <stdint.h>

#include <rte_mbuf.h>

#include "sl_snapshot.h"
#include "sl_counters.h"

/* Bytes of a token's text that top-k keeps (fewer: whole characters). */
#define SL_OP_TOPK_TEXT 46

struct sl_dp;

/**
 * sl_op_init - group table, chunk pool and split accounting for @dp's
 * config. Nothing is created when the config has no operator stage.
 * Return 0, -EINVAL for a config beyond what the operators hold (k above
 * 64, a level outside 1..depth_in, a depth above SL_ANCESTRY_MAX, mbufs
 * too small for a whole fragment) or -ENOMEM.
 */
int sl_op_init(struct sl_dp *dp);

/**
 * sl_op_fini - free what sl_op_init made (groups in flight are dropped).
 */
void sl_op_fini(struct sl_dp *dp);

/**
 * sl_op_input - feed one fragment arriving at operator stage e->to over
 * edge @e. Consumes @m (a fragment of the wrong depth is dropped as
 * BAD_DEPTH; with no operator state, e.g. after a failed re-init, as
 * OP_FULL).
 */
void sl_op_input(struct sl_dp *dp, const struct sl_edge_cfg *e,
		 struct rte_mbuf *m);

/* The request a split belongs to, for the groups it creates. */
struct sl_op_request {
	uint16_t tenant;
	uint64_t send_ns; /* the request's send time, carried to the result */
};

/**
 * sl_op_split_event - a split on edge @edge of pipeline @pipeline started
 * a child (@delta +1, @ancestry = the child's, wire order) or closed a
 * parent (@delta -1, @ancestry = the parent's) of request @rq.
 */
void sl_op_split_event(struct sl_dp *dp, uint8_t pipeline, uint16_t edge,
		       const uint64_t *ancestry, uint8_t depth, int delta,
		       const struct sl_op_request *rq);

/**
 * sl_op_split_abort - the parent stream of a split was aborted: abort the
 * groups it belonged to with @reason.
 */
void sl_op_split_abort(struct sl_dp *dp, uint8_t pipeline, uint16_t edge,
		       const uint64_t *ancestry, uint8_t depth, uint8_t reason,
		       const struct sl_op_request *rq);

/* Groups in flight at stage @s of pipeline index @p. */
uint32_t sl_op_active(const struct sl_dp *dp, uint8_t p, uint8_t s);

/**
 * sl_op_housekeeping - abort idle groups, forget finished ones.
 */
void sl_op_housekeeping(struct sl_dp *dp);

/**
 * sl_dp_edge_out - a fragment leaves on edge @e (its meta's pin and edge
 * set): an operator stage consumes it, anything else is staged for route
 * and tx (flushed when the staging area fills and after every burst).
 * Return whether it was staged (its pin will be read by route).
 */
bool sl_dp_edge_out(struct sl_dp *dp, const struct sl_edge_cfg *e,
		    struct rte_mbuf *m);

#endif /* SL_OP_H */
