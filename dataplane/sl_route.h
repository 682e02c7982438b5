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

#include "sl_config.h"
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

/**
 * sl_route_pick - instance index of stage @st for a new stream named by
 * @ancestry (wire order) at @depth, updating the stage's round-robin
 * cursor. Return SL_INSTANCE_NONE if the stage has no instance.
 */
uint16_t sl_route_pick(const struct sl_stage_cfg *st,
		       struct sl_stage_state *ss, const uint64_t *ancestry,
		       uint8_t depth);

#endif /* SL_ROUTE_H */
