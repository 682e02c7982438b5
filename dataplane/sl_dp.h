/* SPDX-License-Identifier: MIT */
/*
 * sl_dp.h - the dataplane's worker context and packet-stage contract.
 *
 * One struct sl_dp per worker lcore holds everything the packet path
 * touches: the config snapshot it reads, the flow table, neighbours,
 * per-stage and per-instance state, and the counters. Nothing in it is
 * shared with another worker, so the hot path takes no locks.
 *
 * A packet stage is a function
 *
 *	uint16_t sl_stage_X(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n);
 *
 * that works on a burst in place and returns how many packets go on to
 * the next stage, compacted at the front of @pkts. A packet a stage drops
 * is freed there and counted under its reason. Only the order stage may
 * return more packets than it got (fragments it held become deliverable),
 * which is why the burst array holds SL_PATH_CAP pointers.
 *
 * Per-packet results travel in an mbuf dynfield (struct sl_pkt_meta).
 */
#ifndef SL_DP_H
#define SL_DP_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

#include "sl_snapshot.h"
#include "sl_counters.h"
#include "sl_flow.h"
#include "sl_neigh.h"
#include "sl_impair.h"
#include "sl_stats_def.h"

#define SL_BURST 32
/* A burst plus every fragment its packets can release from reorder buffers. */
#define SL_PATH_CAP (SL_BURST * (SL_CONFIG_REORDER_MAX + 1))
#define SL_OUT_MAX 256           /* fragments route and tx take per call */
#define SL_RESULT_FRAGS_MAX 1024 /* fragments one operator result may take */
/* What the producers of a mass of ABORTs (a dead instance, repairs given
 * up, a stop) queue before they let the worker drain the queues. */
#define SL_QUEUE_BUDGET 512
#define SL_GAPS_MAX 4096 /* streams with an open gap watched for NACKs */
#define SL_GUARD_POOLS_RETIRED 4 /* guard pools outgrown, not yet freed */
/* Rule sets a worker holds scratches for at once: the snapshot's, and
 * older ones streams in flight still run. */
#define SL_GUARD_SCRATCH_MAX (4 * SL_MAX_GUARDS)

/* Which route pin of its stream's edge state a fragment follows. */
enum sl_pin_kind {
	SL_PIN_EDGE = 0, /* the edge's own: a plain edge */
	SL_PIN_CHILD,    /* the splitter's current child */
	SL_PIN_MARKER,   /* the splitter's END|CHILDREN fragment */
};

/*
 * Written by parse and admit (and fanout), read by the later stages. It
 * must fit the mbuf's free dynamic-field area (36 bytes at a 4-byte
 * boundary in DPDK 22.11), hence indexes rather than pointers.
 */
struct sl_pkt_meta {
	uint32_t flow; /* flow table index of the stream it came in on */
	uint32_t seq;
	uint32_t src_ip; /* host order */
	uint16_t src_port;
	uint16_t hdr_off;   /* sluice header offset in the frame */
	uint16_t dgram_len; /* sluice header + tokens */
	uint16_t stage;     /* the stream's stage on the way in */
	uint32_t pin;     /* SL_PIN_CHILD: its child's pin in dp->child_pins */
	uint8_t pipeline; /* index into cfg->pipelines */
	uint8_t flags;    /* header flags */
	uint8_t depth;
	uint8_t edge;     /* fanout: the edge it leaves on (pipeline index) */
	uint8_t slot;     /* fanout: that edge's slot in the edge block */
	uint8_t pin_kind; /* fanout: enum sl_pin_kind */
	uint8_t gpu;      /* route: for a local GPU instance, its ring slot
			   * in .pin (the gpu_tx node's) */
};

/*
 * Where one outgoing stream goes: chosen once, at its first fragment, and
 * kept (DESIGN §3). A plain edge has one per incoming stream; a splitter
 * has one for the child stream it is cutting.
 */
struct sl_route_pin {
	uint16_t instance; /* the instance's uid; SL_INSTANCE_NONE until
			      * routed; SL_INSTANCE_CLIENT */
	uint16_t stage;    /* the stage it goes to (0: the client) */
	uint8_t in_flight; /* counted in its instance's streams_active */
	uint8_t oneshot;   /* a single tokenless fragment: not a stream */
	uint16_t hop_port;
	uint32_t hop_ip;
	/* To a local GPU instance: the stream's slot in the worker's token
	 * ring (sl_gtx.h); SL_GTX_SLOT_NONE (UINT32_MAX) otherwise. */
	uint32_t gpu_slot;
	uint64_t client_req; /* to the client: its own request id (wire) */
	uint32_t hop_neigh_gen;
	struct rte_ether_addr hop_mac;
	/* Bounded-load stages: the key's entry in the key pin table. */
	uint32_t keypin;
	uint32_t keypin_gen;
	/* The outgoing stream's copies for resends (sl_rtx.c). */
	uint32_t rtx;
	uint32_t rtx_gen;
};

/* A pin not routed yet. */
static inline void
sl_route_pin_reset(struct sl_route_pin *pin)
{
	memset(pin, 0, sizeof(*pin));
	pin->instance = SL_INSTANCE_NONE;
	pin->rtx = UINT32_MAX;
	pin->keypin = UINT32_MAX;
	pin->gpu_slot = UINT32_MAX;
}

_Static_assert(sizeof(struct sl_pkt_meta) <= 36,
	       "sl_pkt_meta fits the mbuf's free dynamic-field area");

struct sl_splitter;
struct sl_guard_stream;
struct sl_guard_scratch;
struct sl_guard_out;
struct sl_guard_ref;

/* A buffer edge holds the fragments of one stream until its END, in
 * chunks of pointers borrowed from a mempool. */
#define SL_HELD_CHUNK 30
struct sl_held_chunk {
	struct sl_held_chunk *next;
	uint16_t n;
	struct rte_mbuf *m[SL_HELD_CHUNK];
};

struct sl_held_list {
	struct sl_held_chunk *head;
	struct sl_held_chunk *tail;
	uint32_t count;
	/* Who the held mbufs are charged to (sl_dp_held_push). */
	uint16_t src_slot;
	uint16_t tenant;
};

/* What an incoming stream keeps per edge it leaves on. */
struct sl_edge_state {
	struct sl_route_pin pin;      /* plain edges */
	struct sl_held_list buffered; /* buffer edges */
	struct sl_splitter *split; /* split edges, once the first byte came */
	struct sl_guard_stream *guard;  /* guarded edges: the filter's state */
	struct sl_guard_ref *guard_ref; /* the rule set it was started with */
	uint8_t overflow;               /* buffer edge went over buffer_max */
	uint8_t guard_blocked;          /* the guard stopped this stream */
	uint8_t prefix_sent;            /* the guard's prompt prefix went out */
};

/* Per incoming stream, borrowed from a mempool at its first fragment. */
struct sl_edge_block {
	struct sl_edge_state e[SL_MAX_OUT_EDGES];
};

extern int sl_pkt_meta_offset;

static inline struct sl_pkt_meta *
sl_pkt_meta(struct rte_mbuf *m)
{
	return RTE_MBUF_DYNFIELD(m, sl_pkt_meta_offset, struct sl_pkt_meta *);
}

/**
 * sl_pkt_meta_register - register the dynfield (once per process, before
 * any stage runs). Return 0 or -rte_errno.
 */
int sl_pkt_meta_register(void);

/* Runtime state of one instance: what routing and the stats read. */
struct sl_instance_state {
	uint64_t streams;        /* streams ever routed here */
	uint64_t fragments;      /* fragments sent here */
	uint32_t streams_active; /* routed and not yet ended */
	/* Streams routed here whose answer (the instance's own stream
	 * for them) has not ended yet: the work it holds. An LM's input
	 * ends long before its answer does. */
	uint32_t answers_owed;
	/* The scheduler's predicted work of those answers (us; its
	 * planner's view only, sl_sched.h; 0 in a worker: answers_owed x
	 * the stage's cost counts). */
	uint64_t work_us;
	uint32_t seed;        /* rendezvous-hash identity of the endpoint */
	uint32_t keys_active; /* bounded-load stages: keys pinned here */
	/* Where it is, kept while a snapshot that dropped it still has its
	 * streams in flight (their output is still admitted). */
	uint32_t ip;
	uint16_t port;
	uint16_t stage_id;
	uint32_t pipeline_id;
	uint64_t last_tsc; /* last fragment sent to it */
	bool reachable;    /* its MAC is known: it can take streams */
	bool gpu;          /* a local GPU instance: streams into the ring */
	/* Liveness (sl_live.c): heard from within liveness.dead_ms, and
	 * whether its last PROBE answer asked for no new streams. */
	bool alive;
	bool paused;
	uint64_t heard_tsc;       /* last fragment (of any kind) from it */
	uint32_t probe_seq;       /* PROBEs sent */
	uint64_t deaths;          /* times it was found dead */
	uint64_t streams_aborted; /* its streams aborted when it died */
	uint64_t streams_resent;  /* ... sent again to another instance */
};

/* May instance @i of stage @st take a new stream: not draining, not on
 * a cluster node that left, alive (liveness, sl_live.c) and not paused by
 * its own PROBE answers. */
static inline bool
sl_route_takes_new(const struct sl_stage_cfg *st,
		   const struct sl_instance_state *inst, uint16_t i)
{
	const struct sl_instance_state *is = &inst[st->instances[i].uid];

	return !st->instances[i].draining && !st->instances[i].down &&
	       is->alive && !is->paused;
}

struct sl_stage_state {
	uint32_t rr_next; /* round-robin cursor */
	/* When instance i last took a new stream of this stage (TSC; 0:
	 * never): whose prompt each member of a pool has warm. */
	uint64_t warm_tsc[SL_MAX_INSTANCES];
	/* A stream's cost here as the scheduler observed it (us; 0: not
	 * yet, the file's cost_ms counts). The control loop stores it
	 * (sl_sched_poll), the worker reads it: one relaxed atomic scalar,
	 * nothing to keep consistent with anything else, so no snapshot. */
	uint32_t cost_us_observed;
	uint32_t
		keys_active; /* bounded-load stages: keys pinned, all instances */
};

/* A configured tenant's token bucket (by index in cfg->tenants). */
struct sl_tenant_state {
	uint64_t tokens_milli; /* token bucket, in 1/1000 fragment */
	uint64_t last_tsc;
};

/*
 * What one client address or one tenant holds right now: streams (a
 * client address: its requests' client streams; a tenant: every stream
 * of its requests) and mbufs held in reorder buffers and buffer edges
 * (charged to the request's client address and tenant whichever stage
 * holds them). Kept by tenant id and by a slot of the client address
 * (keyed hash), so it survives reconfiguration.
 */
struct sl_use {
	uint32_t streams;
	uint32_t held;
	uint32_t requests; /* a tenant's: its clients' streams in the table */
};

#define SL_SRC_SLOTS 4096 /* client-address slots (power of two) */

/*
 * What the streams hold against the quotas, for every worker at once: the
 * workers of one sluiced share one ledger (a client's requests spread over
 * the workers, its quota does not), so every change is an atomic add and
 * every check a relaxed read (sl_stream.h). Checks and adds of different
 * workers may interleave: a bound can be passed by at most one stream or
 * mbuf per other worker.
 */
struct sl_ledger {
	uint32_t client_streams;  /* client streams in the table */
	uint32_t held_total;      /* mbufs held (reorder + buffer edges) */
	uint32_t held_by_clients; /* ... in client streams' reorder buffers */
	uint64_t src_key;         /* secret of the client-address slots */
	uint64_t id_key;          /* secret of sluiced's request ids' tags */
	struct sl_use src_use[SL_SRC_SLOTS];
	struct sl_use tenant_use[65536];
};

/* Add @d (may be negative) to a ledger count. */
static inline void
sl_ledger_add(uint32_t *v, int32_t d)
{
	__atomic_fetch_add(v, (uint32_t)d, __ATOMIC_RELAXED);
}

/* A ledger count as it is now. */
static inline uint32_t
sl_ledger_get(const uint32_t *v)
{
	return __atomic_load_n(v, __ATOMIC_RELAXED);
}

/* Quotas, derived at sl_dp_init from the config and the mempool. */
struct sl_quota {
	uint32_t client_streams; /* client streams in the table at once */
	uint32_t source_streams; /* ... from one client address */
	uint32_t tenant_streams; /* ... of one tenant */
	uint32_t held_max;       /* mbufs held, all streams */
	uint32_t held_client;    /* ... by client streams (reorder) */
	uint32_t held_source;    /* ... for one client address's requests */
	uint32_t held_tenant;    /* ... for one tenant's requests */
};

/*
 * The packet path as a table of nodes, in path order: id, name, the
 * function, and what it works on. BURST nodes take the received burst in
 * place, each what the one before let through; fanout consumes it,
 * staging what leaves for OUT nodes (dp->out) and operator results for
 * itself again (dp->loop); OUT nodes take what is staged. The worker
 * (sl_path.c) knows the nodes only through this table, with one
 * profiler: cycles and packets per node in sl_dp.prof[] when
 * sl_dp.profile is set. rx is the worker's receive, listed for the
 * profile. The GPU delivery node (issue 14) goes beside tx:
 *	_(GPU_TX, "gpu_tx", sl_stage_gpu_tx, OUT)
 */
#define SL_NODES(_)                                                            \
	_(RX, "rx", NULL, RX)                                                  \
	_(PARSE, "parse", sl_stage_parse, BURST)                               \
	_(ADMIT, "admit", sl_stage_admit, BURST)                               \
	_(ORDER, "order", sl_stage_order, BURST)                               \
	_(FANOUT, "fanout", sl_stage_fanout, BURST)                            \
	_(ROUTE, "route", sl_stage_route, OUT)                                 \
	_(GPU_TX, "gpu_tx", sl_stage_gpu_tx, OUT)                              \
	_(TX, "tx", sl_stage_tx, OUT)

enum sl_stage_id {
#define SL_STAGE_ENUM(name, text, fn, input) SL_STAGE_##name,
	SL_NODES(SL_STAGE_ENUM)
#undef SL_STAGE_ENUM
		SL_STAGE_MAX
};

/* "parse", "route", ... */
const char *sl_stage_name(enum sl_stage_id id);

struct sl_stage_prof {
	uint64_t cycles;
	uint64_t packets; /* packets the stage was given */
};

struct rte_rcu_qsbr;
struct sl_steer;
struct sl_stats;
struct sl_op_state;
struct sl_keypins;
struct sl_rtx;
struct sl_gtx;

struct sl_dp {
	const struct sl_config *cfg;
	/* Published by the control plane, taken by the worker at its next
	 * quiescent point (sl_dp_publish). */
	const struct sl_config *volatile cfg_next;
	struct rte_rcu_qsbr *qsbr;
	volatile bool running; /* the worker loop is up (reports quiescence) */
	int adopt_rc;          /* the last sl_dp_adopt: 0 or why it refused */
	uint16_t port_id;      /* receives */
	uint16_t
		tx_port_id; /* sends; the same port unless a bench splits them */
	uint16_t queue_id;  /* receive queue; UINT16_MAX: none (steered
				 * fragments only) */
	uint16_t tx_queue_id; /* this worker's own transmit queue */
	/* Many workers (sl_steer.h): this one's index, how many there are,
	 * and the steering they share; NULL with one worker. */
	uint16_t worker;
	uint16_t n_workers;
	const struct sl_steer *steer;
	struct rte_ether_addr mac;
	struct rte_mempool *pool; /* for ARP frames this worker makes */
	/* The L2-L4 headers of every frame sent, from sl_wire_frame_write
	 * with the destination zero, and its IPv4 sum; made again when the
	 * config changes (sl_dp_frame_headers). */
	uint8_t frame_tpl[SL_WIRE_FRAME_HDR_OFF];
	/* Per-stream events for the scheduler in the control plane
	 * (sl_sched.h); NULL: none reported. */
	/* The worker's token ring into GPU memory (sl_gtx.h); NULL:
	 * sluiced runs --gpu=off. */
	struct sl_gtx *gtx;
	struct rte_ring *sched_ring;
	/* Client prompts for the cost model (sl_sched.h): the scans of
	 * client streams in flight, and their ring to the control plane;
	 * NULL: none. */
	struct sl_sched_scans *scans;
	struct rte_ring *prompt_ring;
	/* Routing plans the scheduler publishes (sl_route.h; NULL: none),
	 * shared by the workers, taken between quiescent points. */
	struct sl_route_plans *plans;
	uint64_t plan_stale_tsc; /* SL_PLAN_STALE_MS in TSC cycles */
	uint32_t frame_tpl_sum;
	const struct sl_config *frame_tpl_cfg;

	struct sl_flow_table *flows;
	uint32_t flows_capacity; /* its size, kept for the last stats */
	struct sl_neigh_table neigh;

	uint64_t tsc_hz;
	uint64_t
		ns_per_tsc_q32; /* nanoseconds per TSC cycle, 32.32 fixed point */
	uint64_t now;           /* TSC of the current burst */
	uint64_t idle_tsc;      /* flow idle timeout */
	uint64_t linger_tsc;    /* how long an ended flow stays for dedupe */
	uint32_t expire_cursor;
	uint32_t last_resolutions; /* neighbour resolutions at the last check */
	uint32_t last_neigh_gen;   /* ... and the table's generation */
	uint32_t
		expire_budget; /* flows scanned for idleness per housekeeping */
	uint64_t next_housekeeping;
	uint64_t next_probe_tsc; /* liveness: next round of PROBEs */
	/* Liveness: instances found dead whose streams are still to be dealt
	 * with (sl_live_deaths), the first from flow dying_cursor on. */
	uint32_t n_dying;
	uint32_t dying_cursor;
	uint16_t dying[SL_MAX_INSTANCE_UIDS];

	bool profile;
	bool prof_nested; /* a profiled node is running (sl_path.c) */
	struct sl_stage_prof prof[SL_STAGE_MAX];

	/* Instances by uid (sl_instance_cfg.uid): their state outlives the
	 * config snapshot that named them. */
	struct sl_instance_state inst[SL_MAX_INSTANCE_UIDS];
	uint8_t tenant_index[65536]; /* tenant id -> index, SL_TENANT_NONE */
	struct sl_tenant_state tenants[SL_MAX_TENANTS];
	struct sl_quota quota;
	/* What clients and tenants hold: the workers' one ledger (the
	 * first worker's). */
	struct sl_ledger *led;
	bool owns_led;
	struct sl_stage_state stages[SL_MAX_PIPELINES][SL_MAX_STAGES];

	/*
	 * The worker's queues, each as long as the mempool (queue_cap): an
	 * entry holds an mbuf, so a queue can fill only with resends of one
	 * copy, and no producer ever has to run a consumer. The worker
	 * (sl_path.c) drains them: ctrl through tx, out through route and
	 * tx, loop through fanout.
	 */
	uint32_t queue_cap;
	uint32_t n_ctrl; /* frames the worker built: ARP, NACK/ACK,
				  * PROBEs, resends, ABORTs on a request */
	struct rte_mbuf **ctrl;

	/* Streams with an open gap whose NACK repeats are due some time:
	 * a ring walked by housekeeping (sl_dp_gap_watch). */
	uint32_t gap_head;
	uint32_t n_gaps;
	uint32_t gaps_todo; /* of them, still to look at this round */
	struct sl_gap_ref {
		uint32_t idx;
		uint32_t gen;
	} gaps[SL_GAPS_MAX];

	/* Fragments fanout staged, waiting for route + tx. */
	uint32_t n_out;
	struct rte_mbuf **out;
	/* Fragments waiting to go through fanout: operator results, and
	 * ABORTs in place of a stream's or an answer's rest. A ring. */
	uint32_t loop_head;
	uint32_t n_loop;
	struct rte_mbuf **loop;

	struct rte_mempool *edge_pool;  /* struct sl_edge_block */
	struct rte_mempool *held_pool;  /* struct sl_held_chunk */
	struct rte_mempool *split_pool; /* struct sl_splitter */
	/* Split children's route pins (sl_split.c), by index: a child's pin
	 * stays where its fragments point until route has passed them,
	 * whatever children its splitter starts meanwhile. Each index is
	 * free, a splitter's current child's, or retired (a finished
	 * child's, with fragments waiting for route): splitters + SL_OUT_MAX
	 * bound them all. */
	struct sl_route_pin *child_pins;
	uint32_t *child_free;
	uint32_t *child_retired;
	uint32_t n_child_free;
	uint32_t n_child_retired;
	void *hs_scratch;           /* Hyperscan scratch of this worker */
	struct sl_op_state *op;     /* operator groups, NULL if none */
	struct sl_keypins *keypins; /* bounded-load key pins, NULL if none */
	struct sl_rtx *rtx;         /* outgoing streams' copies (sl_rtx.c) */
	struct sl_impair *impair;   /* fault injector, NULL: off */
	struct rte_mempool *guard_pool; /* guard stream states, NULL if none */
	/* Pools a guard edit outgrew: streams in flight still hold states
	 * of them; each is freed once all its states are back. */
	struct rte_mempool *guard_retired[SL_GUARD_POOLS_RETIRED];
	uint8_t n_guard_retired;
	/* This worker's guard scratches, one per rule set it runs (and each
	 * holding its set), and the filter's output buffer (sl_guard_edge.c). */
	struct {
		struct sl_guard_ref *ref;
		struct sl_guard_scratch *sc;
	} guard_sc[SL_GUARD_SCRATCH_MAX];
	uint8_t n_guard_sc;
	struct sl_guard_out *guard_out;
	/* Per operator stage, by pipeline and stage index (zeroed when a
	 * new layout is taken). */
	struct sl_op_counters op_cnt[SL_MAX_PIPELINES][SL_MAX_STAGES];

	struct sl_dp_counters cnt;
	/* Stats snapshots (sl_stats.c): the reader asks by raising
	 * stats_req; the worker fills stats_box between bursts and sets
	 * stats_done to it. */
	struct sl_stats *stats_box;
	uint32_t stats_req;
	uint32_t stats_done;
	volatile bool quit;
	bool poll; /* never sleep when idle (production mode) */
};

#define SL_TENANT_NONE 0xff

/* The runtime state of instance @i of stage index @s of pipeline @p. */
static inline struct sl_instance_state *
sl_dp_instance(struct sl_dp *dp, uint8_t p, uint8_t s, uint16_t i)
{
	return &dp->inst[dp->cfg->pipelines[p].stages[s].instances[i].uid];
}

/* The from_stage its sender wrote in fragment @m (host order). */
static inline uint16_t
sl_dp_from_stage(const struct rte_mbuf *m)
{
	const struct sl_pkt_meta *pm = sl_pkt_meta((struct rte_mbuf *)m);
	uint16_t v;

	memcpy(&v,
	       rte_pktmbuf_mtod_offset(m, const uint8_t *,
				       pm->hdr_off + SL_WIRE_OFF_FROM_STAGE),
	       2);
	return rte_be_to_cpu_16(v);
}

/* Drop @m, counting it under @reason. */
static inline void
sl_dp_drop(struct sl_dp *dp, struct rte_mbuf *m, enum sl_drop reason)
{
	dp->cnt.drops[reason]++;
	rte_pktmbuf_free(m);
}

/* Queue a frame the worker built itself (ARP, NACK/ACK, PROBE, a
 * resend, an ABORT): sent with the next burst. Counted in ctrl_full and
 * freed should the queue be full (only resends of one copy can fill it). */
static inline void
sl_dp_ctrl_tx(struct sl_dp *dp, struct rte_mbuf *m)
{
	if (unlikely(dp->n_ctrl == dp->queue_cap)) {
		dp->cnt.rtx.ctrl_full++;
		rte_pktmbuf_free(m);
		return;
	}
	dp->ctrl[dp->n_ctrl++] = m;
}

/* Queue @m for fanout (after what waits already). */
static inline void
sl_dp_loop(struct sl_dp *dp, struct rte_mbuf *m)
{
	if (unlikely(dp->n_loop == dp->queue_cap)) {
		sl_dp_drop(dp, m, SL_DROP_LOOP_FULL);
		return;
	}
	dp->loop[(dp->loop_head + dp->n_loop) % dp->queue_cap] = m;
	dp->n_loop++;
}

/* Stage @m for route and tx. */
static inline void
sl_dp_out(struct sl_dp *dp, struct rte_mbuf *m)
{
	if (unlikely(dp->n_out == dp->queue_cap)) {
		sl_dp_drop(dp, m, SL_DROP_TX_FULL);
		return;
	}
	dp->out[dp->n_out++] = m;
}

/* Whether a mass of ABORTs in the making should let the worker drain the
 * queues first (it keeps the mbufs in flight bounded). */
static inline bool
sl_dp_queues_busy(const struct sl_dp *dp)
{
	return dp->n_loop + dp->n_ctrl >= SL_QUEUE_BUDGET;
}

#endif /* SL_DP_H */
