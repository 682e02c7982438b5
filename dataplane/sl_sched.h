/* SPDX-License-Identifier: MIT */
/*
 * sl_sched.h - what the workers tell the scheduler in the control plane.
 *
 * A worker reports per-stream events on a ring of its own (one producer,
 * the worker; one consumer, the control loop on the main lcore):
 *   ROUTED   a stream was pinned to an instance (stage_route.c),
 *   ENDED    that instance's answer to it ended (its END, stage_admit.c),
 *   ABORTED  ... or was aborted.
 * An event names the stream by its last ancestry id (the request's id for
 * a depth-1 stream, a child's id below a split) and the instance's uid, so
 * the control plane pairs an answer's end with the stream it answers.
 * A full ring loses the event, counted (SL_SCHED_LOST in the worker's
 * counters), never the fragment.
 *
 * The control plane (sl_sched_poll, every turn of its loop) keeps per
 * instance the streams routed, answered, aborted and outstanding, and per
 * stage the observed cost distribution: time from routing to the answer's
 * END (log-spaced histogram, percentiles, a moving average) and the
 * answer's fragments; it gives every worker each stage's moving average
 * as prompt_aware's cost (sl_stage_state.cost_us_observed), and from it
 * all makes the routing plans of least_loaded and prompt_aware stages
 * (sl_sched_plan; sl_route.h) that the workers take new streams' instances
 * from.
 * Without sl_sched_attach (tests, benchmarks) workers report nothing.
 */
#ifndef SL_SCHED_H
#define SL_SCHED_H

#include <stdbool.h>
#include <stdint.h>

#include "sl_dp.h"
#include "sl_route.h"
#include "sl_snapshot.h"
#include "sl_worker.h"

enum sl_sched_kind {
	SL_SCHED_ROUTED = 1,
	SL_SCHED_ENDED,
	SL_SCHED_ABORTED,
};

/* One event, 24 bytes (the ring's element). */
struct sl_sched_event {
	uint64_t stream;    /* last ancestry id of the stream, wire order */
	uint64_t tsc;       /* the worker's TSC when it happened */
	uint32_t fragments; /* ENDED/ABORTED: the answer's (END seq + 1) */
	uint16_t uid;       /* the instance */
	uint8_t kind;       /* enum sl_sched_kind */
	uint8_t pad;
};

#define SL_SCHED_RING 16384     /* events a worker may have waiting */
#define SL_SCHED_PAIRS 65536    /* streams routed and not yet answered */
#define SL_SCHED_BUCKETS 32     /* time histogram: [2^i, 2^(i+1)) us */
#define SL_SCHED_PAIR_MAX_S 600 /* a routed stream forgotten after */
#define SL_SCHED_POLL_MAX 65536 /* events one poll takes at most */

/* What the control plane keeps of one instance (by uid). */
struct sl_sched_inst {
	uint64_t routed;
	uint64_t ended;
	uint64_t aborted;
};

/* ... of one stage: its answers' times and sizes. */
struct sl_sched_stage {
	uint64_t answers; /* paired ENDs */
	uint64_t time_us_sum;
	uint64_t fragments_sum;
	uint64_t time_us[SL_SCHED_BUCKETS];
	double ewma_us;        /* answer time, 1/16 weight to the newest */
	uint32_t published_us; /* what the workers were given (0: none) */
};

/* The workers' prompt_aware takes a stage's observed answer time as a
 * stream's cost once SL_SCHED_MIN_ANSWERS answers were seen, and again
 * whenever it moved by more than SL_SCHED_REPUBLISH_PCT percent. It is
 * the time from routing to the answer's END, queueing included: under
 * load every stage's grows, their ratios stay. */
#define SL_SCHED_MIN_ANSWERS 16
#define SL_SCHED_REPUBLISH_PCT 10

/* A routed stream waiting for its answer (open addressing, by stream and
 * uid). */
struct sl_sched_pair {
	uint64_t stream;
	uint64_t tsc; /* 0: free */
	uint16_t uid;
};

struct sl_sched {
	uint64_t tsc_hz;
	struct sl_sched_inst inst[SL_MAX_INSTANCE_UIDS];
	struct sl_sched_stage stage[SL_MAX_PIPELINES][SL_MAX_STAGES];
	struct sl_sched_pair *pairs; /* SL_SCHED_PAIRS */
	uint32_t n_pairs;
	uint64_t events;
	uint64_t unpaired;   /* ENDs without their ROUTED (duplicates too) */
	uint64_t pairs_full; /* ROUTED with no room to wait for its END */
	uint64_t forgotten;  /* routed streams dropped after PAIR_MAX_S */
	uint64_t published;  /* stage costs given to the workers */

	/* Routing plans (sl_route.h). What they are made from, every
	 * worker's reports together: per instance (by uid) the streams
	 * waiting for its answer; per stage when each member last took
	 * one (warm prefixes), cleared when the snapshot changes. */
	uint32_t waiting[SL_MAX_INSTANCE_UIDS];
	struct sl_stage_state warm[SL_MAX_PIPELINES][SL_MAX_STAGES];
	const struct sl_config *warm_cfg;
	uint64_t warm_generation;
	struct sl_instance_state *view; /* the planner's, by uid */
	/* Two buffers: the one the workers read, and the next, made only
	 * once every worker passed a quiescent state after it was
	 * retired (retire_token, the workers' RCU). */
	struct sl_route_plans *plans[2];
	unsigned int plans_cur; /* the published one, once there is one */
	bool plans_out;         /* dp->plans points at plans[plans_cur] */
	bool retiring;          /* retire_token still to be passed */
	uint64_t retire_token[SL_WORKERS_MAX];
	uint64_t plan_tsc;     /* when the last was made */
	uint64_t plans_made;   /* published */
	uint64_t plans_waited; /* turns a worker had not passed the token */
};

/**
 * sl_sched_attach - give every worker of @ws its event ring, and @s
 * (zeroed here) the room to pair them. Before the workers start.
 * Return 0 or a negative errno (nothing attached).
 * sl_sched_detach - free them, after the workers stopped.
 */
int sl_sched_attach(struct sl_sched *s, struct sl_workers *ws, uint64_t tsc_hz);
void sl_sched_detach(struct sl_sched *s, struct sl_workers *ws);

/**
 * sl_sched_report - worker side: queue one event (a no-op without a
 * ring); a full ring counts it lost.
 */
void sl_sched_report(struct sl_dp *dp, enum sl_sched_kind kind, uint16_t uid,
		     uint64_t stream, uint32_t fragments);

/**
 * sl_sched_poll - control side: take what the workers reported (at most
 * SL_SCHED_POLL_MAX events); the pipelines and stages of uids are read
 * from @cfg, the snapshot in use. Return the events taken.
 */
unsigned int sl_sched_poll(struct sl_sched *s, struct sl_workers *ws,
			   const struct sl_config *cfg);

/**
 * sl_sched_plan - control side: every SL_PLAN_MS (@now, TSC), the plans
 * of @cfg's planned stages (sl_route_planned) from what was polled,
 * published to every worker of @ws; withdrawn when no stage is planned.
 * Return 1 if it published (or withdrew) plans, else 0 (not due, a worker
 * still reading the spare buffer, nothing attached).
 * sl_sched_wait_ms - how long the control loop may wait for its next
 * turn: SL_PLAN_MS while @cfg has a planned stage, else 50.
 */
int sl_sched_plan(struct sl_sched *s, struct sl_workers *ws,
		  const struct sl_config *cfg, uint64_t now);
int sl_sched_wait_ms(const struct sl_sched *s, const struct sl_config *cfg);

/**
 * sl_sched_stage_percentile - the time (microseconds) under which @q
 * (0..1) of stage @st's answers came, from the histogram: the upper edge
 * of the bucket the q-th answer falls in; 0 with no answer.
 */
double sl_sched_stage_percentile(const struct sl_sched_stage *st, double q);

#endif /* SL_SCHED_H */
