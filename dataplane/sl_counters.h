/* SPDX-License-Identifier: MIT */
/*
 * sl_counters.h - every reason the dataplane drops a packet, declared once,
 * and the structs of the worker's counters.
 *
 * The X-macro produces the enum and the names the stats file, the CLI and
 * the tests use. Wire-format reasons come first and share their names and
 * values with enum sl_wire_status, so a parse result is a drop reason.
 */
#ifndef SL_COUNTERS_H
#define SL_COUNTERS_H

#include <stdint.h>

#include "sl_stats_def.h"
#include "sl_wire.h"

#define SL_DP_DROPS(_)                                                         \
	_(NOT_FOR_US, "destination is not sluiced's address and port")         \
	_(MULTI_SEG, "frame spans more than one mbuf")                         \
	_(UNKNOWN_PIPELINE, "pipeline id not configured")                      \
	_(UNKNOWN_STAGE, "stage id not in the pipeline")                       \
	_(SRC_NOT_ALLOWED, "source is no instance of the stage and no client") \
	_(DEPTH_MISMATCH,                                                      \
	  "ancestry depth not the one its stage's streams have")               \
	_(UNKNOWN_TENANT, "tenant not configured")                             \
	_(TENANT_SOURCE, "tenant not allowed from this client address")        \
	_(TENANT_RATE, "tenant over its fragment rate")                        \
	_(TENANT_STREAMS, "tenant over its streams in flight")                 \
	_(SOURCE_STREAMS, "client address over its streams in flight")         \
	_(CLIENT_STREAMS, "clients' streams over their share of the table")    \
	_(FLOW_TABLE_FULL, "no room for a new stream")                         \
	_(DUPLICATE, "sequence already delivered")                             \
	_(SEQ_TOO_FAR, "sequence beyond the reorder window")                   \
	_(REORDER_FULL, "no reorder buffer free")                              \
	_(HOLD_QUOTA, "client, tenant or clients hold all the mbufs they may") \
	_(AFTER_END, "sequence after the stream's END")                        \
	_(EXPIRED, "held when its stream expired")                             \
	_(NO_ORIGIN, "request's client no longer known")                       \
	_(NO_INSTANCE, "stage has no instance to take the stream")             \
	_(NO_NEIGHBOR, "next hop's MAC address not resolved yet, not kept")    \
	_(NO_ROUTE, "its stream was refused a route (ABORT sent instead)")     \
	_(REQUEST_ABORTED, "output of a request sluiced aborted")              \
	_(NO_MBUF, "no mbuf for a copy, a child or a result")                  \
	_(EDGE_STATE_FULL, "no edge state for a new stream")                   \
	_(BUFFER_FULL, "buffer edge over flows.buffer_max")                    \
	_(STREAM_ABORTED, "held by a buffer edge for an aborted stream")       \
	_(SPLIT_FULL, "no splitter state for a new stream")                    \
	_(SPLIT_SOURCE_FULL, "client address over its share of splitters")     \
	_(OP_FULL, "operator stage over max_groups")                           \
	_(LOOP_FULL, "the worker's fanout queue was full")                     \
	_(GUARD_BLOCKED, "fragment of a stream a guard stopped")               \
	_(GUARD_STATE_FULL, "no guard state for a new stream")                 \
	_(TX_FULL, "transmit queue full")                                      \
	_(STEER_FULL, "the owning worker's inbox was full")                    \
	_(GPU_NO_SLOT, "no free stream slot in the GPU token ring")            \
	_(GPU_SOURCE_SLOTS, "client address over its share of GPU ring slots") \
	_(GPU_RING_FULL, "the GPU token ring had no free batch")               \
	_(GPU_STREAM_LOST, "fragment of a stream the GPU ring ended")          \
	_(UNSOLICITED, "control fragment for no stream sluiced sent")          \
	_(RELAY_NO_NEIGHBOR, "to relay, but the next hop's MAC is not known")  \
	_(RELAY_TTL, "to relay, but its IPv4 TTL ran out")

enum sl_drop {
#define SL_DROP_WIRE(name, text) SL_DROP_##name = SL_WIRE_##name,
	SL_WIRE_ERRORS(SL_DROP_WIRE)
#undef SL_DROP_WIRE
		SL_DROP_DP_FIRST_ = SL_WIRE_STATUS_MAX - 1,
#define SL_DROP_DP(name, text) SL_DROP_##name,
	SL_DP_DROPS(SL_DROP_DP)
#undef SL_DROP_DP
		SL_DROP_MAX
};

/* SL_DROP_OK (0) is never counted; it keeps the values aligned. */

const char *sl_drop_name(enum sl_drop reason);
const char *sl_drop_text(enum sl_drop reason);

/*
 * The worker's counters, generated from the tables of proto/sl_stats_def.h
 * (their one declaration): read by the control plane only through a
 * snapshot (sl_stats.h).
 */
#define SL_RESIDENCE_BUCKETS 32

/* Loss repair's counters (proto/sl_stats_def.h, SL_STATS_RTX). */
struct sl_rtx_counters {
	SL_STATS_RTX(SL_STATS_FIELD)
};

/* The counters of one operator stage (proto/sl_stats_def.h,
 * SL_STATS_OPERATOR; groups_active is filled in snapshots only). */
struct sl_op_counters {
	SL_STATS_OPERATOR(SL_STATS_FIELD)
};

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

#endif /* SL_COUNTERS_H */
