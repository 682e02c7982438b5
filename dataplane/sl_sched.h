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

#include "sl_cost.h"
#include "sl_dp.h"
#include "sl_route.h"
#include "sl_snapshot.h"
#include "sl_worker.h"

enum sl_sched_kind {
	SL_SCHED_ROUTED = 1,
	SL_SCHED_ENDED,
	SL_SCHED_ABORTED,
};

/* One event, 32 bytes (the ring's element). */
struct sl_sched_event {
	uint64_t stream;    /* last ancestry id of the stream, wire order */
	uint64_t request;   /* its first: sluiced's id of the request */
	uint64_t tsc;       /* the worker's TSC when it happened */
	uint32_t fragments; /* ENDED/ABORTED: the answer's (END seq + 1) */
	uint16_t uid;       /* the instance */
	uint8_t kind;       /* enum sl_sched_kind */
	uint8_t pad;
};

/*
 * Client prompts, for the cost model (control/sl_cost.h). A worker reads
 * the text of every client request's stream as it passes fanout (in
 * order, once) with the cost model's feature map (sl_cost_scan, in one of
 * SL_SCHED_SCANS slots by flow index; a slot busy with another stream
 * leaves this one unscanned, counted as prompts_unscanned, unless that
 * one was idle SL_SCHED_SCAN_IDLE_S), and at the stream's END reports
 * what the map needs on a ring of its own: the request's prompt. The
 * control plane keeps it by request (SL_SCHED_REQS, SL_SCHED_REQ_MAX_S),
 * predicts from it, with the installed (private) model only, the answer
 * each stage of the request will give (outstanding predicted work, for
 * the routing plans), and gives the cost model a row of the tenant's own
 * traffic when each answer ends: the prompt's features at the stage, and
 * the answer's fragments as its output tokens (an engine sends a token a
 * fragment). Bounded: SL_SCHED_SCANS scans a worker, SL_SCHED_REQS
 * prompts kept, the model's own cap and budget per tenant.
 */
struct sl_sched_prompt {
	uint64_t request; /* sluiced's id of the request, wire order */
	uint32_t tenant;
	uint32_t pad;
	struct sl_cost_scan scan;
};

#define SL_SCHED_SCANS 512
#define SL_SCHED_SCAN_IDLE_S 10
#define SL_SCHED_PROMPT_RING 1024
#define SL_SCHED_REQS 8192
#define SL_SCHED_REQ_MAX_S 120

struct sl_sched_scan {
	uint64_t request; /* 0: free */
	uint64_t last_tsc;
	uint32_t tenant;
	struct sl_cost_scan scan;
};

/* A worker's scans (sl_dp.scans). */
struct sl_sched_scans {
	struct sl_sched_scan slot[SL_SCHED_SCANS];
};

/* What the control plane keeps of a request's prompt. */
struct sl_sched_req {
	uint64_t request;
	uint64_t tsc; /* when it was first heard of; 0: free */
	uint32_t tenant;
	/* Its depth-1 streams routed before the prompt came (the first
	 * four), by instance: predicted again when it comes. */
	uint16_t early_uid[4];
	uint8_t n_early;
	bool have_prompt;
	struct sl_cost_scan scan;
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
	double log_fragments_sum; /* of log(1 + fragments): the cost
				   * model's scale */
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
	uint64_t request;
	uint64_t tsc;     /* 0: free */
	uint64_t pred_us; /* its predicted work, counted in work_us */
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
	/* ... and the work they are predicted to be (us): each stream's
	 * stage cost scaled by the answer the cost model predicts for its
	 * request's prompt over the stage's mean answer, where it can. */
	uint64_t work_us[SL_MAX_INSTANCE_UIDS];
	/* The cost model (sl_ctl's; NULL: none): predictions, and rows of
	 * tenants' traffic. */
	struct sl_cost_model *cost;
	struct sl_sched_req *reqs;      /* SL_SCHED_REQS */
	uint64_t prompts;               /* prompts taken */
	uint64_t prompts_full;          /* ... with no room to keep */
	uint64_t predicted;             /* streams given a predicted cost */
	uint64_t rows[SL_COST_ROW_MAX]; /* tenant rows by fate */
	uint64_t rows_refused;          /* rows the model refused (error) */
	struct sl_stage_state warm[SL_MAX_PIPELINES][SL_MAX_STAGES];
	const struct sl_config *warm_cfg;
	uint64_t warm_generation;
	/* ... and, for that snapshot, where each uid is: pipeline, stage,
	 * member index (-1: nowhere). */
	int16_t where[SL_MAX_INSTANCE_UIDS][3];
	bool cost_installed; /* the cost model has an installed model (each
			      * poll) */
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
		     uint64_t request, uint64_t stream, uint32_t fragments);

/**
 * sl_sched_prompt_feed - worker side: client fragment @m of flow @flow
 * (@f), in order: its text to the stream's scan; at its END the prompt
 * is reported. Only with scans (sl_sched_attach).
 */
void sl_sched_prompt_feed(struct sl_dp *dp, struct rte_mbuf *m,
			  const struct sl_flow *f, uint32_t flow);

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
