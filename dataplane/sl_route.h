/* SPDX-License-Identifier: MIT */
/*
 * sl_route.h - choosing the instance a new stream goes to.
 *
 * A stage with aggregation level L > 0 must see every stream whose
 * ancestry agrees on the first L ids at one instance. We use rendezvous
 * (highest-random-weight) hashing: each instance scores the key with its
 * own seed, derived from its endpoint, and the highest score wins. It is
 * consistent: removing an instance moves only the keys it owned, adding
 * one takes only the keys it now wins, and no ring needs rebuilding.
 * L = 0 stages spread streams round robin or to the least loaded
 * instance (fewest streams in flight).
 */
#ifndef SL_ROUTE_H
#define SL_ROUTE_H

#include <stdint.h>

#include "sl_snapshot.h"
#include "sl_flow.h"

struct sl_stage_state;

/**
 * sl_route_seed - the rendezvous identity of an endpoint. Stable across
 * restarts and config orders.
 */
uint32_t sl_route_seed(const struct sl_endpoint *ep);

/**
 * sl_route_key_hash - hash of the first min(@level, @depth) ids of
 * @ancestry (wire order, as in a header; level >= 1).
 */
uint64_t sl_route_key_hash(const uint64_t *ancestry, uint8_t depth,
			   uint8_t level);

/**
 * sl_route_rendezvous - index of the instance with the highest score for
 * @key_hash among @n seeds. @n >= 1.
 */
uint16_t sl_route_rendezvous(uint64_t key_hash, const uint32_t *seeds,
			     uint16_t n);

struct sl_instance_state;

/**
 * sl_route_pick - instance index of stage @s of @pl for a new stream named
 * by @ancestry (wire order) at @depth. @row is the pipeline's stage states
 * (round-robin cursors, when each member last took each stage's prompt,
 * updated here with @now); @inst the runtime state of every instance, by
 * uid (seeds, streams in flight). Draining instances are never picked.
 * An aggregating stage routes by its key (rendezvous); others by their
 * policy: round_robin, least_loaded (a pool's members by their streams of
 * all its stages), hash_request (ALTO's hash(request id) % n, ancestry[0]
 * being sluiced's request id) or prompt_aware (route_prompt_aware in
 * sl_route.c). O(instances x the pool's stages) per new stream. Return
 * SL_INSTANCE_NONE if no instance takes new streams.
 */
uint16_t sl_route_pick(const struct sl_pipeline_cfg *pl, uint8_t s,
		       struct sl_stage_state *row,
		       const struct sl_instance_state *inst,
		       const uint64_t *ancestry, uint8_t depth, uint64_t now);

struct sl_dp;
struct sl_route_pin;

/*
 * Bounded-load consistent hashing (stages with load_bound > 1). Plain
 * rendezvous hashing sends a hot key's streams all to one instance
 * (ALTO's Fig. 4). Here the first stream of a key takes the highest-
 * scoring instance that holds fewer than ceil(load_bound x (keys + 1) /
 * instances) keys, and the key is pinned there in a table while any of
 * its streams is in flight and for the idle timeout after, so everything
 * a stage aggregates still meets one instance.
 */

/**
 * sl_route_init - the key pin table, when some stage has load_bound.
 * Return 0 or a negative errno.
 */
int sl_route_init(struct sl_dp *dp);
void sl_route_fini(struct sl_dp *dp);

/**
 * sl_route_pick_pinned - instance of bounded-load stage @s of pipeline
 * index @p for a new stream named by @ancestry (wire order) at @depth;
 * the key's pin is counted in @pin (released by sl_route_unpin).
 */
uint16_t sl_route_pick_pinned(struct sl_dp *dp, uint8_t p, uint8_t s,
			      const uint64_t *ancestry, uint8_t depth,
			      struct sl_route_pin *pin);

/**
 * sl_route_unpin - a stream of a pinned key ended.
 */
void sl_route_unpin(struct sl_dp *dp, struct sl_route_pin *pin);

/**
 * sl_route_housekeeping - forget keys idle for the idle timeout.
 */
void sl_route_housekeeping(struct sl_dp *dp);

#endif /* SL_ROUTE_H */
