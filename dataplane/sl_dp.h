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

#include "sl_config.h"
#include "sl_counters.h"
#include "sl_flow.h"
#include "sl_neigh.h"
#include "sl_op.h"
#include "sl_impair.h"
#include "sl_live.h"
#include "sl_rtx.h"
#include "sl_stats_def.h"

#define SL_BURST 32
/* A burst plus every fragment its packets can release from reorder buffers. */
#define SL_PATH_CAP (SL_BURST * (SL_CONFIG_REORDER_MAX + 1))
#define SL_CTRL_TX_MAX 256 /* ARP, NACK/ACK/PROBE and resends to be sent */
#define SL_OUT_MAX 256    /* fragments staged for route + tx */
#define SL_LOOP_MAX 1024  /* operator results waiting for fanout */
#define SL_GAPS_MAX 4096  /* streams with an open gap watched for NACKs */
#define SL_GUARD_POOLS_RETIRED 4 /* guard pools outgrown, not yet freed */

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
	uint32_t flow;     /* flow table index of the stream it came in on */
	uint32_t seq;
	uint32_t src_ip;   /* host order */
	uint16_t src_port;
	uint16_t hdr_off;  /* sluice header offset in the frame */
	uint16_t dgram_len; /* sluice header + tokens */
	uint16_t stage;    /* the stream's stage on the way in */
	uint8_t pipeline;  /* index into cfg->pipelines */
	uint8_t flags;     /* header flags */
	uint8_t depth;
	uint8_t edge;      /* fanout: the edge it leaves on (pipeline index) */
	uint8_t slot;      /* fanout: that edge's slot in the edge block */
	uint8_t pin_kind;  /* fanout: enum sl_pin_kind */
};

/*
 * Where one outgoing stream goes: chosen once, at its first fragment, and
 * kept (DESIGN §3). A plain edge has one per incoming stream; a splitter
 * has one for the child stream it is cutting.
 */
struct sl_route_pin {
	uint16_t instance;   /* the instance's uid; SL_INSTANCE_NONE until
			      * routed; SL_INSTANCE_CLIENT */
	uint16_t stage;      /* the stage it goes to (0: the client) */
	uint8_t in_flight;   /* counted in its instance's streams_active */
	uint8_t oneshot;     /* a single tokenless fragment: not a stream */
	uint16_t hop_port;
	uint32_t hop_ip;
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
}

struct sl_splitter;
struct sl_guard_stream;
struct sl_guard_scratch;

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
	struct sl_splitter *split;    /* split edges, once the first byte came */
	struct sl_guard_stream *guard; /* guarded edges: the filter's state */
	struct sl_guard_ref *guard_ref; /* the rule set it was started with */
	uint8_t overflow;             /* buffer edge went over buffer_max */
	uint8_t guard_blocked;        /* the guard stopped this stream */
	uint8_t prefix_sent;          /* the guard's prompt prefix went out */
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
	uint32_t seed;           /* rendezvous-hash identity of the endpoint */
	uint32_t keys_active;    /* bounded-load stages: keys pinned here */
	/* Where it is, kept while a snapshot that dropped it still has its
	 * streams in flight (their output is still admitted). */
	uint32_t ip;
	uint16_t port;
	uint16_t stage_id;
	uint32_t pipeline_id;
	uint64_t last_tsc;       /* last fragment sent to it */
	bool reachable;          /* its MAC is known: it can take streams */
	/* Liveness (sl_live.c): heard from within liveness.dead_ms, and
	 * whether its last PROBE answer asked for no new streams. */
	bool alive;
	bool paused;
	uint64_t heard_tsc;      /* last fragment (of any kind) from it */
	uint32_t probe_seq;      /* PROBEs sent */
	uint64_t deaths;         /* times it was found dead */
	uint64_t streams_aborted; /* its streams aborted when it died */
	uint64_t streams_resent;  /* ... sent again to another instance */
};

/* May instance @i of stage @st take a new stream: not draining, alive
 * (liveness, sl_live.c) and not paused by its own PROBE answers. */
static inline bool
sl_route_takes_new(const struct sl_stage_cfg *st,
		   const struct sl_instance_state *inst, uint16_t i)
{
	const struct sl_instance_state *is = &inst[st->instances[i].uid];

	return !st->instances[i].draining && is->alive && !is->paused;
}

struct sl_stage_state {
	uint32_t rr_next; /* round-robin cursor */
	uint32_t keys_active; /* bounded-load stages: keys pinned, all instances */
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

/* The packet stages in path order; cycles per stage are accumulated in
 * sl_dp.prof[] when sl_dp.profile is set. */
#define SL_STAGES(_)                                                          \
	_(RX, "rx")                                                           \
	_(PARSE, "parse")                                                     \
	_(ADMIT, "admit")                                                     \
	_(ORDER, "order")                                                     \
	_(FANOUT, "fanout")                                                   \
	_(ROUTE, "route")                                                     \
	_(TX, "tx")

enum sl_stage_id {
#define SL_STAGE_ENUM(name, text) SL_STAGE_##name,
	SL_STAGES(SL_STAGE_ENUM)
#undef SL_STAGE_ENUM
	SL_STAGE_MAX
};

/* "parse", "route", ... */
const char *sl_stage_name(enum sl_stage_id id);

struct sl_stage_prof {
	uint64_t cycles;
	uint64_t packets; /* packets the stage was given */
};

#define SL_RESIDENCE_BUCKETS 32

/* "flows" and "liveness" counters (proto/sl_stats_def.h). */
struct sl_flow_counters {
	SL_STATS_FLOWS(SL_STATS_FIELD)
};

struct sl_live_counters {
	SL_STATS_LIVE(SL_STATS_FIELD)
};

/* The worker's counters: the scalars of SL_STATS_DP, then the arrays and
 * the domains with a struct of their own. Read by the control plane only
 * through a snapshot (sl_stats.h). */
struct sl_dp_counters {
	SL_STATS_DP(SL_STATS_FIELD)
	uint64_t drops[SL_DROP_MAX];
	/* Residence: a fragment's time in sluiced, from its burst's receive
	 * to its transmit; bucket i counts (2^(i-1), 2^i] ns, the last one
	 * everything above. */
	uint64_t residence[SL_RESIDENCE_BUCKETS];
	uint64_t residence_sum_ns;
	struct sl_flow_counters flows;
	struct sl_live_counters live;
	struct sl_rtx_counters rtx; /* loss repair (sl_rtx.h) */
};

struct rte_rcu_qsbr;
struct sl_stats;

struct sl_dp {
	const struct sl_config *cfg;
	/* Published by the control plane, taken by the worker at its next
	 * quiescent point (sl_dp_publish). */
	const struct sl_config *volatile cfg_next;
	struct rte_rcu_qsbr *qsbr;
	volatile bool running; /* the worker loop is up (reports quiescence) */
	int adopt_rc;          /* the last sl_dp_adopt: 0 or why it refused */
	uint16_t port_id;      /* receives */
	uint16_t tx_port_id;   /* sends; the same port unless a bench splits them */
	uint16_t queue_id;
	struct rte_ether_addr mac;
	struct rte_mempool *pool; /* for ARP frames this worker makes */

	struct sl_flow_table *flows;
	struct sl_neigh_table neigh;

	uint64_t tsc_hz;
	uint64_t ns_per_tsc_q32; /* nanoseconds per TSC cycle, 32.32 fixed point */
	uint64_t now;          /* TSC of the current burst */
	uint64_t idle_tsc;     /* flow idle timeout */
	uint64_t linger_tsc;   /* how long an ended flow stays for dedupe */
	uint32_t expire_cursor;
	uint32_t last_resolutions; /* neighbour resolutions at the last check */
	uint32_t expire_budget; /* flows scanned for idleness per housekeeping */
	uint64_t next_housekeeping;
	uint64_t next_probe_tsc;   /* liveness: next round of PROBEs */

	bool profile;
	struct sl_stage_prof prof[SL_STAGE_MAX];

	/* Instances by uid (sl_instance_cfg.uid): their state outlives the
	 * config snapshot that named them. */
	struct sl_instance_state inst[SL_MAX_INSTANCE_UIDS];
	uint8_t tenant_index[65536]; /* tenant id -> index, SL_TENANT_NONE */
	struct sl_tenant_state tenants[SL_MAX_TENANTS];
	struct sl_quota quota;
	uint32_t client_streams;   /* client streams in the table */
	uint32_t held_total;       /* mbufs held (reorder + buffer edges) */
	uint32_t held_by_clients;  /* ... in client streams' reorder buffers */
	uint64_t src_key;          /* secret of the client-address slots */
	struct sl_use src_use[SL_SRC_SLOTS];
	struct sl_use tenant_use[65536];
	struct sl_stage_state stages[SL_MAX_PIPELINES][SL_MAX_STAGES];

	uint16_t n_ctrl;
	struct rte_mbuf *ctrl[SL_CTRL_TX_MAX];

	/* Streams with an open gap whose NACK repeats are due some time:
	 * a ring walked by housekeeping (sl_dp_gap_watch). */
	uint32_t gap_head;
	uint32_t n_gaps;
	struct sl_gap_ref {
		uint32_t idx;
		uint32_t gen;
	} gaps[SL_GAPS_MAX];

	/* Fragments fanout made, waiting for route + tx. */
	uint16_t n_out;
	struct rte_mbuf *out[SL_OUT_MAX];
	/* Operator results waiting to go through fanout. */
	uint16_t loop_head;
	uint16_t n_loop;
	struct rte_mbuf *loop[SL_LOOP_MAX];

	struct rte_mempool *edge_pool;  /* struct sl_edge_block */
	struct rte_mempool *held_pool;  /* struct sl_held_chunk */
	struct rte_mempool *split_pool; /* struct sl_splitter */
	void *hs_scratch;               /* Hyperscan scratch of this worker */
	struct sl_op_state *op;         /* operator groups, NULL if none */
	struct sl_keypins *keypins;     /* bounded-load key pins, NULL if none */
	struct sl_rtx *rtx;             /* outgoing streams' copies (sl_rtx.c) */
	struct sl_impair *impair;       /* fault injector, NULL: off */
	struct rte_mempool *guard_pool; /* guard stream states, NULL if none */
	/* Pools a guard edit outgrew: streams in flight still hold states
	 * of them; each is freed once all its states are back. */
	struct rte_mempool *guard_retired[SL_GUARD_POOLS_RETIRED];
	uint8_t n_guard_retired;
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
	bool poll;             /* never sleep when idle (production mode) */
};

#define SL_TENANT_NONE 0xff

/**
 * sl_dp_init - set up a worker context.
 * @dp: zeroed by the caller or not; fully initialised here.
 * @cfg: the config snapshot; must outlive @dp.
 * @port_id: the port to receive from and send to (queue 0).
 * @pool: mempool for frames the worker builds (ARP).
 *
 * Creates the flow table. Return 0 or a negative errno.
 */
int sl_dp_init(struct sl_dp *dp, const struct sl_config *cfg,
	       uint16_t port_id, struct rte_mempool *pool);

/**
 * sl_dp_shutdown - sluiced is stopping (the worker no longer runs; the
 * caller is the only thread touching @dp): every stream in flight ends
 * with ABORT (@reason, SL_ABORT_SHUTDOWN) to its consumers, and every
 * request still waiting for output gets ABORT on its own stream, sent
 * now. Nothing is lost silently at a stop.
 */
void sl_dp_shutdown(struct sl_dp *dp, uint8_t reason);

/**
 * sl_dp_fini - release everything sl_dp_init created. Fragments still
 * held in reorder buffers are freed and counted as EXPIRED.
 */
void sl_dp_fini(struct sl_dp *dp);

/**
 * sl_dp_publish - make @next the worker's config snapshot; called by the
 * control plane. The worker takes it at its next quiescent point (between
 * bursts) and rebuilds what it derives from the config; this returns once
 * it has and the worker has passed a quiescent state since, so the old
 * snapshot is no longer read anywhere. Ownership of @next passes to the
 * dataplane; the old snapshot is returned in *@old for the caller to
 * free. With no worker running, the switch happens here.
 * All or nothing: the new config's derived state (splitters' scratch,
 * operator groups, key pins, guard states) is built before anything
 * changes; if it cannot be, nothing changed.
 * Return 0, -ETIMEDOUT if the worker did not take it within a second,
 * or the negative errno the build failed with; on any failure nothing
 * changed, *@old is NULL and @next is still the caller's.
 */
int sl_dp_publish(struct sl_dp *dp, const struct sl_config *next,
		  const struct sl_config **old);

/**
 * sl_dp_adopt - worker side of sl_dp_publish (also used directly when no
 * worker runs).
 */
void sl_dp_adopt(struct sl_dp *dp);

/**
 * sl_dp_process - run one received burst through parse, admit, order,
 * route and tx. @pkts must hold SL_PATH_CAP pointers.
 */
void sl_dp_process(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n);

/**
 * sl_dp_housekeeping - expire idle flows (a bounded slice of the table),
 * retry unresolved neighbours and flush control frames. Cheap; the worker
 * calls it about once a millisecond.
 */
void sl_dp_housekeeping(struct sl_dp *dp);

/**
 * sl_dp_worker - lcore entry point: poll the port until dp->quit, with the
 * idle back-off of DESIGN §6 unless dp->poll. @arg is the struct sl_dp.
 */
int sl_dp_worker(void *arg);

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

	memcpy(&v, rte_pktmbuf_mtod_offset(m, const uint8_t *,
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

/* Queue a frame the worker built itself (ARP); sent with the next burst. */
void sl_dp_ctrl_tx(struct sl_dp *dp, struct rte_mbuf *m);

/*
 * A stream's END passed: it stops counting against its tenant's streams
 * in flight. A client stream counts until it leaves the table instead
 * (its request is in flight until then, however early its END came).
 * Idempotent.
 */
static inline void
sl_dp_tenant_stream_done(struct sl_dp *dp, struct sl_flow *f)
{
	if (f->tenant_counted && f->key.stage != 0) {
		dp->tenant_use[f->tenant].streams--;
		f->tenant_counted = 0;
	}
}

/* A client stream's request no longer counts against its address's,
 * its tenant's and the clients' share (it is done, or left). Idempotent. */
static inline void
sl_dp_request_uncharge(struct sl_dp *dp, struct sl_flow *f)
{
	if (f->marks & SL_FLOW_M_CHARGED) {
		dp->src_use[f->src_slot].streams--;
		dp->tenant_use[f->tenant].requests--;
		dp->client_streams--;
		f->marks &= (uint8_t)~SL_FLOW_M_CHARGED;
	}
}

/* Flow @idx ended (its END passed, and a client stream's request is
 * done): it lingers for duplicates, and a request's quota is free again
 * (a done request lingering is no request in flight). */
static inline void
sl_dp_flow_end(struct sl_dp *dp, uint32_t idx)
{
	struct sl_flow *f = sl_flow_at(dp->flows, idx);

	if (f->key.stage == 0)
		sl_dp_request_uncharge(dp, f);
	sl_flow_end(dp->flows, idx, dp->now);
}

/* sluiced's id of the request whose client stream is flow @idx of
 * generation @gen: what instances see as ancestry[0] (host order). The
 * top bit marks it (a reader tells it from a client's id at a glance). */
#define SL_DP_REQUEST_ID_MARK (1ull << 63)
static inline uint64_t
sl_dp_request_id(uint32_t idx, uint32_t gen)
{
	return SL_DP_REQUEST_ID_MARK | (uint64_t)(gen & 0x7fffffffu) << 32 |
	       idx;
}

/**
 * sl_dp_request_origin - the flow index of the client stream of the
 * request sluiced calls @id (wire order, as in an ancestry), if it is
 * still in the table; else SL_FLOW_NONE.
 */
uint32_t sl_dp_request_origin(struct sl_dp *dp, uint64_t id_be);

/**
 * sl_dp_refuse - drop @m, counted under @reason, and tell whoever waits
 * for its request: a client whose new request was refused gets ABORT
 * (OVERLOAD) for it; a refused stream of an admitted request aborts the
 * request (sl_dp_request_abort). Nothing is sent for a fragment that
 * was itself an ABORT.
 */
void sl_dp_refuse(struct sl_dp *dp, struct rte_mbuf *m, enum sl_drop reason);

/**
 * sl_dp_end_stream - received stream @idx will not go on (its sender is
 * gone, it cannot be repaired, sluiced is stopping): an ABORT (@reason)
 * at its next seq goes through fanout so that every consumer hears, and
 * the stream ends there.
 */
void sl_dp_end_stream(struct sl_dp *dp, uint32_t idx, uint8_t reason);

/**
 * sl_dp_make_room - between many ABORTs made at once (a dead instance, a
 * shutdown): once the loop queue or the control queue is half full, run
 * the loop and send what waits, so that none of them is dropped.
 */
void sl_dp_make_room(struct sl_dp *dp);

/**
 * sl_dp_abort_output - stage @stage of pipeline index @pipeline will
 * never answer the stream named @ancestry (wire order, @depth ids) of
 * tenant @tenant: put an ABORT (@reason) in its place, as if the stage
 * had sent it from @src_ip:@src_port (its instance; 0 for none), so that
 * every consumer hears (buffers, operators, the client) through fanout.
 * Output the instance sends later for it is dropped after that END.
 */
void sl_dp_abort_output(struct sl_dp *dp, uint8_t pipeline, uint16_t stage,
			const uint64_t *ancestry, uint8_t depth,
			uint16_t tenant, uint32_t src_ip, uint16_t src_port,
			uint8_t reason);

/**
 * sl_dp_request_abort - end the request of client stream @origin with
 * ABORT (@reason) to its client, on every edge that returns to the
 * client, now: for when no stream of the request can carry the news
 * (a table full, a refused engine output). Later output of the request
 * is dropped (REQUEST_ABORTED). Idempotent.
 */
void sl_dp_request_abort(struct sl_dp *dp, uint32_t origin, uint8_t reason);

/* The slot of client address @ip in dp->src_use. */
static inline uint16_t
sl_dp_src_slot(const struct sl_dp *dp, uint32_t ip)
{
	uint64_t x = ((uint64_t)ip ^ dp->src_key) * 0x9e3779b97f4a7c15ull;

	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	return (uint16_t)((x >> 40) & (SL_SRC_SLOTS - 1));
}

/*
 * May one more mbuf be held for a stream charged to @src_slot and
 * @tenant (@client: in a client stream's reorder buffer)? The bounds keep
 * room for receive and for the engine outputs of admitted requests
 * whatever one client, tenant or the clients together do.
 */
static inline bool
sl_dp_hold_ok(const struct sl_dp *dp, uint16_t src_slot, uint16_t tenant,
	      bool client)
{
	return dp->held_total < dp->quota.held_max &&
	       dp->src_use[src_slot].held < dp->quota.held_source &&
	       dp->tenant_use[tenant].held < dp->quota.held_tenant &&
	       (!client || dp->held_by_clients < dp->quota.held_client);
}

/* Count @n mbufs more (or, negative, fewer) held for @src_slot/@tenant. */
static inline void
sl_dp_held_charge(struct sl_dp *dp, uint16_t src_slot, uint16_t tenant,
		  bool client, int n)
{
	dp->held_total += (uint32_t)n;
	dp->src_use[src_slot].held += (uint32_t)n;
	dp->tenant_use[tenant].held += (uint32_t)n;
	if (client)
		dp->held_by_clients += (uint32_t)n;
}

/**
 * sl_dp_gap_watch - stream @idx has an open gap: repeat its NACK from
 * housekeeping until the gap closes or the repeats run out. A stream
 * that does not fit the watch list is repaired by its sender's END
 * resend instead (which reopens the gap here).
 */
void sl_dp_gap_watch(struct sl_dp *dp, uint32_t idx);

/* Called by the flow table when a flow leaves it (expiry, flush). */
void sl_dp_flow_released(struct sl_dp *dp, struct sl_flow *f, bool ended);

/**
 * sl_dp_edge_out - a fragment leaves on edge @e (its meta's pin and edge
 * set): an operator stage consumes it, anything else is staged for route
 * and tx (flushed when the staging area fills and after every burst).
 */
void sl_dp_edge_out(struct sl_dp *dp, const struct sl_edge_cfg *e,
		    struct rte_mbuf *m);

/**
 * sl_dp_flush - route and send everything staged.
 */
void sl_dp_flush(struct sl_dp *dp);

/**
 * sl_dp_loop - queue an operator's result fragment for fanout (after the
 * current burst's fanout, so operators never recurse).
 */
void sl_dp_loop(struct sl_dp *dp, struct rte_mbuf *m);

/**
 * sl_dp_fanout_one - fanout for one in-order fragment (see
 * stage_fanout.c). Consumes @m.
 */
void sl_dp_fanout_one(struct sl_dp *dp, struct rte_mbuf *m);

/**
 * sl_dp_stream_init - fill a flow entry just made for a stream of
 * pipeline index @pipeline: tenant accounting and, for a stream that is
 * not the client's, the request's client stream it belongs to.
 */
void sl_dp_stream_init(struct sl_dp *dp, uint32_t idx, uint8_t pipeline,
		       uint16_t tenant);

/**
 * sl_dp_flow_ancestry - the ancestry of flow @idx's stream as sluiced
 * sends it on (wire order): a client stream's first id is sluiced's
 * request id, not the client's.
 */
void sl_dp_flow_ancestry(struct sl_dp *dp, uint32_t idx, uint64_t *out);

/**
 * sl_dp_stream_open - find or make the flow of a stream sluiced itself
 * produces (an operator's result). Return its index or SL_FLOW_NONE.
 */
uint32_t sl_dp_stream_open(struct sl_dp *dp, const struct sl_flow_key *key,
			   uint8_t pipeline, uint16_t tenant);

/**
 * sl_dp_stream_ended - the stream of flow @idx passed its END or ABORT:
 * it lingers, unless it is a request's client stream still waiting for
 * the request's output.
 */
void sl_dp_stream_ended(struct sl_dp *dp, uint32_t idx);

/**
 * sl_dp_held_free - drop every fragment of a buffer edge's list, counting
 * each under @reason.
 */
void sl_dp_held_free(struct sl_dp *dp, struct sl_held_list *l,
		     enum sl_drop reason);

/**
 * sl_dp_held_push - append @m to a buffer edge's list. Return 0, or
 * -ENOBUFS when no chunk is free. sl_dp_held_pop - the oldest, or NULL.
 */
int sl_dp_held_push(struct sl_dp *dp, struct sl_held_list *l,
		    struct rte_mbuf *m);
struct rte_mbuf *sl_dp_held_pop(struct sl_dp *dp, struct sl_held_list *l);

/**
 * sl_dp_tokenless - a new fragment without tokens (an ABORT, a child
 * count): header @h, whose ancestry is taken from @ancestry (wire order,
 * h->depth ids), in an mbuf whose meta says it came in on flow @flow of
 * pipeline index @pipeline. NULL (counted NO_MBUF) when the pool is dry.
 */
struct rte_mbuf *sl_dp_tokenless(struct sl_dp *dp, struct sl_frag_hdr *h,
				 const uint64_t *ancestry, uint32_t flow,
				 uint8_t pipeline);

/**
 * sl_dp_pin_of - the route pin fragment @pm follows (see sl_pkt_meta).
 */
struct sl_route_pin *sl_dp_pin_of(struct sl_dp *dp,
				  const struct sl_pkt_meta *pm);

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
/* Free the retired pools that have all their states back (@all: every
 * one, when no stream is left). */
void sl_guard_edge_reap(struct sl_dp *dp, bool all);
void sl_guard_edge_release(struct sl_dp *dp, struct sl_edge_state *es);
bool sl_guard_edge_filter(struct sl_dp *dp, const struct sl_edge_cfg *e,
			  struct sl_edge_state *es, struct rte_mbuf *m,
			  struct rte_mbuf **extra);
struct rte_mbuf *sl_guard_edge_prefix(struct sl_dp *dp,
				      const struct sl_edge_cfg *e,
				      struct sl_edge_state *es,
				      struct rte_mbuf *m);

/* The packet stages, in path order (one file each). */
uint16_t sl_stage_parse(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n);
uint16_t sl_stage_admit(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n);
uint16_t sl_stage_order(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n);
uint16_t sl_stage_fanout(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n);
uint16_t sl_stage_route(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n);
uint16_t sl_stage_tx(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n);

#endif /* SL_DP_H */
