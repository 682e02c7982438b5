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
 * L = 0 stages spread streams by their policy: round robin, ALTO's hash
 * of the request, the least loaded instance, or prompt-aware (predicted
 * completion time, prefix locality, bounded load); the last two from
 * plans the control plane publishes (below).
 */
#ifndef SL_ROUTE_H
#define SL_ROUTE_H

#include <stdbool.h>
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
 * sl_route.c). O(instances x the pool's stages) per new stream (workers
 * take planned stages' picks from plans: sl_route_take). Return
 * SL_INSTANCE_NONE if no instance takes new streams.
 */
uint16_t sl_route_pick(const struct sl_pipeline_cfg *pl, uint8_t s,
		       struct sl_stage_state *row,
		       const struct sl_instance_state *inst,
		       const uint64_t *ancestry, uint8_t depth, uint64_t now);

struct sl_dp;
struct sl_route_pin;

/*
 * Routing plans (issue 12). For stages whose policy weighs the load of
 * every instance (least_loaded, prompt_aware), the scheduler in the
 * control plane works out every SL_PLAN_MS, from what every worker
 * reported (sl_sched.h), where each of a stage's next SL_PLAN_SLOTS new
 * streams goes: sl_route_pick's own choice, SL_PLAN_SLOTS times over, each
 * pick counted as work on its member before the next. It publishes the
 * plans for all stages at once, one pointer swap per worker, and reuses a
 * buffer only after every worker passed a quiescent state (the workers'
 * RCU, as for config snapshots). A worker takes a stream's instance from
 * the plan in O(1): one atomic increment of the plan's cursor (the plan is
 * the workers' together) and one check that the member still takes new
 * streams; it falls back to its own sl_route_pick when there is no plan,
 * the plan was made for another snapshot or is older than
 * SL_PLAN_STALE_MS, or its member stopped taking streams. A plan whose
 * slots all went before the next one came is taken again from the start.
 */
#define SL_PLAN_SLOTS 32
#define SL_PLAN_MS 2
#define SL_PLAN_STALE_MS 50

struct sl_route_plan {
	uint32_t cursor; /* streams taken from it, by every worker */
	uint8_t n;       /* slots: 0 (no plan) or SL_PLAN_SLOTS */
	uint8_t slot[SL_PLAN_SLOTS]; /* member indexes, in order */
} __attribute__((aligned(64)));

struct sl_route_plans {
	const struct sl_config *cfg; /* the snapshot they were made for */
	uint64_t generation;         /* ... and its generation */
	uint64_t tsc;                /* when they were made */
	struct sl_route_plan stage[SL_MAX_PIPELINES][SL_MAX_STAGES];
};

/**
 * sl_route_planned - does stage @st's policy take its picks from plans:
 * least_loaded or prompt_aware, not aggregating.
 */
bool sl_route_planned(const struct sl_stage_cfg *st);

/**
 * sl_route_plan_build - @plan for stage @s of @pl: sl_route_pick's choice
 * for each of the next SL_PLAN_SLOTS streams, counting each in @inst's
 * answers_owed and @row's warm state before the next (@row and @inst are
 * the planner's own view, changed here). Return the slots planned: 0
 * (no member takes new streams) or SL_PLAN_SLOTS.
 */
unsigned int sl_route_plan_build(const struct sl_pipeline_cfg *pl, uint8_t s,
				 struct sl_stage_state *row,
				 struct sl_instance_state *inst, uint64_t now,
				 struct sl_route_plan *plan);

/**
 * sl_route_take - the instance index of stage @s of pipeline index @p
 * for a new stream of worker @dp: from the published plan when it holds
 * (see above; counted in route_planned, a plan that did not hold in
 * route_plan_missed), else sl_route_pick.
 */
uint16_t sl_route_take(struct sl_dp *dp, uint8_t p, uint8_t s,
		       const uint64_t *ancestry, uint8_t depth);

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
 * sl_route_unpin - a stream of a pinned key ended (and a GPU stream's
 * ring slot, if its END never reached gpu_tx, is ended there).
 */
void sl_route_unpin(struct sl_dp *dp, struct sl_route_pin *pin);

/**
 * sl_route_pin_release - @pin is given up while its stream may still be
 * counted in flight at its instance (no END passed route): uncount it
 * and unpin. Nothing when it is not in flight.
 */
void sl_route_pin_release(struct sl_dp *dp, struct sl_route_pin *pin);

/**
 * sl_route_housekeeping - forget keys idle for the idle timeout.
 */
void sl_route_housekeeping(struct sl_dp *dp);

#endif /* SL_ROUTE_H */
