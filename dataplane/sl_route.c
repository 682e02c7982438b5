/* SPDX-License-Identifier: MIT */
/*
 * sl_route.c - instance selection (see sl_route.h).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>

#include "sl_dp.h"
#include "sl_gtx.h"
#include "sl_hash64.h"
#include "sl_route.h"

#define SL_KEYPIN_NONE UINT32_MAX

uint32_t
sl_route_seed(const struct sl_endpoint *ep)
{
	uint64_t v = ((uint64_t)ep->ip << 16) | ep->port;

	return (uint32_t)sl_mix64(v ^ 0x736c7569636521ull);
}

uint64_t
sl_route_key_hash(const uint64_t *ancestry, uint8_t depth, uint8_t level)
{
	uint8_t l = level < depth ? level : depth;

	return sl_mix64(((uint64_t)rte_hash_crc(ancestry, 8u * l, 0x51) << 32) |
			rte_hash_crc(ancestry, 8u * l, 0x1ce));
}

uint16_t
sl_route_rendezvous(uint64_t key_hash, const uint32_t *seeds, uint16_t n)
{
	uint64_t best_score = 0;
	uint16_t best = 0;

	for (uint16_t i = 0; i < n; i++) {
		uint64_t score = sl_mix64(
			key_hash ^ ((uint64_t)seeds[i] << 32 | seeds[i]));

		if (i == 0 || score > best_score) {
			best_score = score;
			best = i;
		}
	}
	return best;
}

/* A stream's predicted cost at stage @s: what the scheduler observed
 * (sl_sched_publish) once it has, else the file's cost_ms. */
static uint64_t
route_cost(const struct sl_pipeline_cfg *pl, uint8_t s,
	   const struct sl_stage_state *row)
{
	uint32_t seen =
		__atomic_load_n(&row[s].cost_us_observed, __ATOMIC_RELAXED);

	return seen != 0 ? seen : pl->stages[s].cost_us;
}

/* What instance @is of stage @s owes: its answers (@row NULL), or their
 * predicted work (the scheduler's where it has it, else each at the
 * stage's cost). */
static uint64_t
route_work(const struct sl_pipeline_cfg *pl, uint8_t s,
	   const struct sl_instance_state *is, const struct sl_stage_state *row)
{
	if (row == NULL)
		return is->answers_owed;
	if (is->work_us != 0)
		return is->work_us;
	return (uint64_t)is->answers_owed * route_cost(pl, s, row);
}

/* What stage @s's instance @i holds now: the answers it owes (streams
 * routed to it whose answer has not ended: an LM's input ends long before
 * its answer), in a pool the member's of every stage of the pool (@row
 * given: each weighted by its stage's predicted cost, for prompt_aware). */
static uint64_t
route_member_load(const struct sl_pipeline_cfg *pl, uint8_t s,
		  const struct sl_instance_state *inst, uint16_t i,
		  const struct sl_stage_state *row)
{
	const struct sl_stage_cfg *st = &pl->stages[s];
	const struct sl_pool_cfg *po;
	uint64_t load = 0;

	if (st->pool == SL_POOL_NONE)
		return route_work(pl, s, &inst[st->instances[i].uid], row);
	po = &pl->pools[st->pool];
	for (uint8_t k = 0; k < po->n_stages; k++) {
		uint8_t o = po->stages[k];

		load += route_work(pl, o, &inst[pl->stages[o].instances[i].uid],
				   row);
	}
	return load;
}

/*
 * Is stage @s's prompt warm at member @i: among the prompts (the pool's
 * stages) routed to it, one of the last warm_prefixes, as an LRU prefix
 * cache of that many entries would hold. Outside a pool an instance
 * serves one prompt: warm once it has had a stream.
 */
static bool
route_warm(const struct sl_pipeline_cfg *pl, uint8_t s,
	   const struct sl_stage_state *row, uint16_t i)
{
	const struct sl_stage_cfg *st = &pl->stages[s];
	const struct sl_pool_cfg *po;
	uint64_t mine = row[s].warm_tsc[i];
	unsigned int newer = 0;

	if (mine == 0)
		return false;
	if (st->pool == SL_POOL_NONE)
		return true;
	po = &pl->pools[st->pool];
	for (uint8_t k = 0; k < po->n_stages; k++)
		newer += row[po->stages[k]].warm_tsc[i] > mine;
	return newer < po->warm_prefixes;
}

/*
 * prompt_aware: the live instance with the least predicted completion
 * time, work outstanding + this stage's cost - the saving where the
 * prompt is warm, among those whose work is below load_bound x the mean
 * work with this stream counted (a pool's bound; 1.25 outside one), so
 * no member ends above that plus one stream; equal times go to a warm
 * instance, then in round-robin order from @start.
 */
static uint16_t
route_prompt_aware(const struct sl_pipeline_cfg *pl, uint8_t s,
		   const struct sl_stage_state *row,
		   const struct sl_instance_state *inst, const uint16_t *live,
		   uint16_t n, uint16_t start)
{
	const struct sl_stage_cfg *st = &pl->stages[s];
	double bound = st->pool != SL_POOL_NONE ? pl->pools[st->pool].load_bound
						: 1.25;
	uint64_t cost = route_cost(pl, s, row);
	uint64_t work[SL_MAX_INSTANCES], total = cost;
	uint16_t best = UINT16_MAX;
	uint64_t best_t = 0;
	bool best_warm = false;

	for (uint16_t k = 0; k < n; k++) {
		work[k] = route_member_load(pl, s, inst, live[k], row);
		total += work[k];
	}
	for (int capped = 1; capped >= 0 && best == UINT16_MAX; capped--)
		for (uint16_t j = 0; j < n; j++) {
			uint16_t k = (uint16_t)((start + j) % n);
			bool warm = route_warm(pl, s, row, live[k]);
			uint64_t save =
				RTE_MIN((uint64_t)st->warm_saving_us, cost);
			uint64_t t = work[k] + cost - (warm ? save : 0);

			if (capped &&
			    (double)work[k] >= bound * (double)total / n)
				continue;
			if (best == UINT16_MAX || t < best_t ||
			    (t == best_t && warm && !best_warm)) {
				best = k;
				best_t = t;
				best_warm = warm;
			}
		}
	return live[best];
}

uint16_t
sl_route_pick(const struct sl_pipeline_cfg *pl, uint8_t s,
	      struct sl_stage_state *row, const struct sl_instance_state *inst,
	      const uint64_t *ancestry, uint8_t depth, uint64_t now)
{
	const struct sl_stage_cfg *st = &pl->stages[s];
	struct sl_stage_state *ss = &row[s];
	uint16_t live[SL_MAX_INSTANCES];
	uint16_t n = 0, pick, start;

	/* Draining, dead and paused instances take no new streams; nor
	 * does one whose MAC is not known yet (just added), unless no
	 * instance is reachable. */
	for (uint16_t i = 0; i < st->n_instances; i++)
		if (sl_route_takes_new(st, inst, i) &&
		    inst[st->instances[i].uid].reachable)
			live[n++] = i;
	if (n == 0)
		for (uint16_t i = 0; i < st->n_instances; i++)
			if (sl_route_takes_new(st, inst, i))
				live[n++] = i;
	if (n == 0)
		return SL_INSTANCE_NONE;
	if (st->aggregation > 0) {
		uint32_t seeds[SL_MAX_INSTANCES];

		for (uint16_t k = 0; k < n; k++)
			seeds[k] = inst[st->instances[live[k]].uid].seed;
		pick = live[sl_route_rendezvous(
			sl_route_key_hash(ancestry, depth, st->aggregation),
			seeds, n)];
		goto picked;
	}
	if (st->balance == SL_BALANCE_HASH_REQUEST) {
		/* ALTO's hash(request_id) % n over the stage's instances
		 * (sluiced's request id, the same on every stage of a
		 * request); one that takes no new streams passes it on to
		 * the next that does. */
		uint16_t want =
			(uint16_t)(sl_mix64(rte_be_to_cpu_64(ancestry[0])) %
				   st->n_instances);

		pick = live[0];
		for (uint16_t k = 0; k < n; k++)
			if (live[k] >= want) {
				pick = live[k];
				break;
			}
		goto picked;
	}
	start = (uint16_t)(ss->rr_next++ % n);
	if (st->balance == SL_BALANCE_LEAST_LOADED) {
		uint16_t best = start;
		uint64_t best_load =
			route_member_load(pl, s, inst, live[start], NULL);

		for (uint16_t k = 1; k < n; k++) {
			uint16_t j = (uint16_t)((start + k) % n);
			uint64_t l =
				route_member_load(pl, s, inst, live[j], NULL);

			if (l < best_load) {
				best = j;
				best_load = l;
			}
		}
		pick = live[best];
	} else if (st->balance == SL_BALANCE_PROMPT_AWARE) {
		pick = route_prompt_aware(pl, s, row, inst, live, n, start);
	} else {
		pick = live[start];
	}
picked:
	ss->warm_tsc[pick] = now != 0 ? now : 1;
	return pick;
}

bool
sl_route_planned(const struct sl_stage_cfg *st)
{
	return st->aggregation == 0 &&
	       (st->balance == SL_BALANCE_LEAST_LOADED ||
		st->balance == SL_BALANCE_PROMPT_AWARE);
}

unsigned int
sl_route_plan_build(const struct sl_pipeline_cfg *pl, uint8_t s,
		    struct sl_stage_state *row, struct sl_instance_state *inst,
		    uint64_t now, struct sl_route_plan *plan)
{
	const struct sl_stage_cfg *st = &pl->stages[s];

	plan->cursor = 0;
	plan->n = 0;
	if (!sl_route_planned(st))
		return 0;
	for (unsigned int k = 0; k < SL_PLAN_SLOTS; k++) {
		/* Later picks are the newer prompts. */
		uint16_t i =
			sl_route_pick(pl, s, row, inst, NULL, 0, now + k + 1);

		if (i == SL_INSTANCE_NONE)
			return 0;
		plan->slot[k] = (uint8_t)i;
		inst[st->instances[i].uid].answers_owed++;
		if (inst[st->instances[i].uid].work_us != 0)
			inst[st->instances[i].uid].work_us +=
				route_cost(pl, s, row);
	}
	plan->n = SL_PLAN_SLOTS;
	return SL_PLAN_SLOTS;
}

uint16_t
sl_route_take(struct sl_dp *dp, uint8_t p, uint8_t s, const uint64_t *ancestry,
	      uint8_t depth)
{
	const struct sl_pipeline_cfg *pl = &dp->cfg->pipelines[p];
	const struct sl_stage_cfg *st = &pl->stages[s];
	struct sl_route_plans *plans =
		__atomic_load_n(&dp->plans, __ATOMIC_ACQUIRE);

	if (plans != NULL && sl_route_planned(st)) {
		struct sl_route_plan *plan = &plans->stage[p][s];

		if (plans->cfg == dp->cfg &&
		    plans->generation == dp->cfg->generation &&
		    (int64_t)(dp->now - plans->tsc) <
			    (int64_t)dp->plan_stale_tsc &&
		    plan->n != 0) {
			uint32_t c = __atomic_fetch_add(&plan->cursor, 1,
							__ATOMIC_RELAXED);
			uint16_t i = plan->slot[c % plan->n];

			if (likely(i < st->n_instances &&
				   sl_route_takes_new(st, dp->inst, i) &&
				   dp->inst[st->instances[i].uid].reachable)) {
				dp->stages[p][s].warm_tsc[i] =
					dp->now != 0 ? dp->now : 1;
				dp->cnt.route_planned++;
				return i;
			}
		}
		dp->cnt.route_plan_missed++;
	}
	return sl_route_pick(pl, s, dp->stages[p], dp->inst, ancestry, depth,
			     dp->now);
}

struct keypin {
	uint64_t last_tsc;
	uint32_t streams; /* in flight */
	uint32_t gen;
	uint16_t uid; /* the instance the key is pinned to */
	uint8_t pipeline;
	uint8_t stage;
	uint8_t used;
	struct sl_flow_key key;
};

struct sl_keypins {
	struct rte_hash *hash;
	struct keypin *pins;
	uint32_t capacity;
	uint32_t cursor;
};

static uint32_t
keypin_hash_func(const void *key, uint32_t key_len, uint32_t init_val)
{
	RTE_SET_USED(key_len);
	RTE_SET_USED(init_val);
	return sl_flow_hash(key);
}

int
sl_route_init(struct sl_dp *dp)
{
	const struct sl_config *cfg = dp->cfg;
	struct sl_keypins *kp;
	char name[RTE_HASH_NAMESIZE];
	static unsigned int seq;
	bool any = false;

	for (uint16_t p = 0; p < cfg->n_pipelines; p++)
		for (uint16_t s = 0; s < cfg->pipelines[p].n_stages; s++)
			any |= cfg->pipelines[p].stages[s].load_bound > 0;
	if (!any)
		return 0;
	kp = rte_zmalloc("sl_keypins", sizeof(*kp), 0);
	if (kp == NULL)
		return -ENOMEM;
	snprintf(name, sizeof(name), "sl_keypins_%u", seq++);
	struct rte_hash_parameters hp = {
		.name = name,
		.entries = RTE_MAX(cfg->flow_table_size / 4, 1024u),
		.key_len = sizeof(struct sl_flow_key),
		.hash_func = keypin_hash_func,
		.socket_id = rte_socket_id(),
		.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE,
	};
	kp->hash = rte_hash_create(&hp);
	if (kp->hash == NULL)
		goto fail;
	kp->capacity = (uint32_t)rte_hash_max_key_id(kp->hash) + 1;
	kp->pins = rte_zmalloc("sl_keypin_entries",
			       sizeof(*kp->pins) * kp->capacity, 0);
	if (kp->pins == NULL)
		goto fail;
	dp->keypins = kp;
	return 0;
fail:
	rte_hash_free(kp->hash);
	rte_free(kp);
	return -ENOMEM;
}

void
sl_route_fini(struct sl_dp *dp)
{
	struct sl_keypins *kp = dp->keypins;

	if (kp == NULL)
		return;
	rte_free(kp->pins);
	rte_hash_free(kp->hash);
	rte_free(kp);
	dp->keypins = NULL;
}

/* Highest score first, skipping instances at their bound (and draining
 * ones). Return the instance's index in the stage, or NONE. */
static uint16_t
route_bounded_choice(struct sl_dp *dp, const struct sl_stage_cfg *st,
		     struct sl_stage_state *ss, uint64_t key_hash)
{
	uint16_t n = st->n_instances, live = 0;
	uint64_t score[SL_MAX_INSTANCES];
	bool tried[SL_MAX_INSTANCES] = {false};
	uint16_t first = SL_INSTANCE_NONE;
	uint32_t cap;

	/* As sl_route_pick: not draining, and reachable unless none is. */
	for (int pass = 0; pass < 2 && live == 0; pass++)
		for (uint16_t i = 0; i < n; i++) {
			const struct sl_instance_state *is =
				&dp->inst[st->instances[i].uid];

			score[i] =
				sl_mix64(key_hash ^
					 ((uint64_t)is->seed << 32 | is->seed));
			tried[i] = !sl_route_takes_new(st, dp->inst, i) ||
				   (pass == 0 && !is->reachable);
			live += !tried[i];
		}
	if (live == 0)
		return SL_INSTANCE_NONE;
	cap = (uint32_t)ceil(st->load_bound * (double)(ss->keys_active + 1) /
			     live);
	for (uint16_t round = 0; round < live; round++) {
		uint16_t best = SL_INSTANCE_NONE;

		for (uint16_t i = 0; i < n; i++)
			if (!tried[i] && (best == SL_INSTANCE_NONE ||
					  score[i] > score[best]))
				best = i;
		if (first == SL_INSTANCE_NONE)
			first = best;
		if (dp->inst[st->instances[best].uid].keys_active < cap)
			return best;
		tried[best] = true;
	}
	/* Not reached with load_bound >= 1 (the keys cannot all be at their
	 * bound), but never return nothing: plain rendezvous. */
	return first;
}

/* The key's instance if it is still in the stage and alive. */
static uint16_t
route_pinned_index(const struct sl_dp *dp, const struct sl_stage_cfg *st,
		   uint16_t uid)
{
	if (!dp->inst[uid].alive)
		return SL_INSTANCE_NONE;
	for (uint16_t i = 0; i < st->n_instances; i++)
		if (st->instances[i].uid == uid)
			return i;
	return SL_INSTANCE_NONE;
}

uint16_t
sl_route_pick_pinned(struct sl_dp *dp, uint8_t p, uint8_t s,
		     const uint64_t *ancestry, uint8_t depth,
		     struct sl_route_pin *pin)
{
	const struct sl_pipeline_cfg *pl = &dp->cfg->pipelines[p];
	const struct sl_stage_cfg *st = &pl->stages[s];
	struct sl_stage_state *ss = &dp->stages[p][s];
	struct sl_keypins *kp = dp->keypins;
	uint8_t l = RTE_MIN(st->aggregation, depth);
	uint64_t key_hash = sl_route_key_hash(ancestry, depth, st->aggregation);
	struct sl_flow_key k = {0};
	struct keypin *e;
	uint16_t i;
	int32_t pos;

	pin->keypin = SL_KEYPIN_NONE;
	k.pipeline = rte_cpu_to_be_32(pl->id);
	k.stage = rte_cpu_to_be_16(st->id);
	k.depth = l;
	k.zero = SL_FLOW_KEY_PIN;
	memcpy(k.ancestry, ancestry, 8u * l);
	pos = rte_hash_lookup(kp->hash, &k);
	if (pos >= 0) {
		e = &kp->pins[pos];
		/* A pinned key stays even on a draining (or paused)
		 * instance: what the stage aggregates must meet one
		 * instance. A removed or dead one lets the key go. */
		i = route_pinned_index(dp, st, e->uid);
		if (i == SL_INSTANCE_NONE) {
			dp->inst[e->uid].keys_active--;
			ss->keys_active--;
			i = route_bounded_choice(dp, st, ss, key_hash);
			if (i == SL_INSTANCE_NONE) {
				/* Nobody takes it: the key is let go (its
				 * count was just given back), so that
				 * housekeeping does not give it back again. */
				rte_hash_del_key(kp->hash, &e->key);
				e->used = 0;
				e->gen++;
				return i;
			}
			e->uid = st->instances[i].uid;
			dp->inst[e->uid].keys_active++;
			ss->keys_active++;
		}
	} else {
		i = route_bounded_choice(dp, st, ss, key_hash);
		if (i == SL_INSTANCE_NONE)
			return i;
		pos = rte_hash_add_key(kp->hash, &k);
		if (pos < 0) {
			/* No room to remember the key: place it by plain
			 * rendezvous, which needs no memory to stay put. */
			dp->cnt.keypins_full++;
			return sl_route_pick(pl, s, dp->stages[p], dp->inst,
					     ancestry, depth, dp->now);
		}
		e = &kp->pins[pos];
		uint32_t gen = e->gen;

		memset(e, 0, sizeof(*e));
		e->gen = gen;
		e->key = k;
		e->used = 1;
		e->pipeline = p;
		e->stage = s;
		e->uid = st->instances[i].uid;
		dp->inst[e->uid].keys_active++;
		ss->keys_active++;
	}
	e->streams++;
	e->last_tsc = dp->now;
	pin->keypin = (uint32_t)pos;
	pin->keypin_gen = e->gen;
	return i;
}

void
sl_route_unpin(struct sl_dp *dp, struct sl_route_pin *pin)
{
	struct keypin *e;

	/* A GPU stream leaving before its END reached gpu_tx. */
	if (unlikely(pin->gpu_slot < SL_GTX_SLOT_MARKER)) {
		sl_gtx_abandon(dp->gtx, pin->gpu_slot);
		pin->gpu_slot = SL_GTX_SLOT_NONE;
	}

	if (dp->keypins == NULL || pin->keypin == SL_KEYPIN_NONE)
		return;
	e = &dp->keypins->pins[pin->keypin];
	if (e->used && e->gen == pin->keypin_gen && e->streams > 0) {
		e->streams--;
		e->last_tsc = dp->now;
	}
	pin->keypin = SL_KEYPIN_NONE;
}

void
sl_route_pin_release(struct sl_dp *dp, struct sl_route_pin *pin)
{
	if (!pin->in_flight)
		return;
	dp->inst[pin->instance].streams_active--;
	pin->in_flight = 0;
	sl_route_unpin(dp, pin);
}

void
sl_route_housekeeping(struct sl_dp *dp)
{
	struct sl_keypins *kp = dp->keypins;

	if (kp == NULL)
		return;
	for (uint32_t n = 0; n < 256 && n < kp->capacity; n++) {
		struct keypin *e = &kp->pins[kp->cursor];

		if (e->used && e->streams == 0 &&
		    dp->now - e->last_tsc > dp->idle_tsc) {
			struct sl_stage_state *ss =
				&dp->stages[e->pipeline][e->stage];

			dp->inst[e->uid].keys_active--;
			ss->keys_active--;
			rte_hash_del_key(kp->hash, &e->key);
			e->used = 0;
			e->gen++;
		}
		if (++kp->cursor == kp->capacity)
			kp->cursor = 0;
	}
}
