/* SPDX-License-Identifier: MIT */
/*
 * sl_live.h - liveness of engine instances: PROBEs, deaths, revivals,
 * PAUSE (see sl_live.c).
 */
#ifndef SL_LIVE_H
#define SL_LIVE_H

#include <stdbool.h>
#include <stdint.h>

#include "sl_snapshot.h"
#include "sl_wire.h"

struct sl_dp;

/**
 * sl_live_heard - instance @uid sent something: it is alive (again).
 */
void sl_live_heard(struct sl_dp *dp, uint16_t uid);

/**
 * sl_live_probe_input - a PROBE @h from @ip:@port: the instance it names
 * is alive, and paused if PAUSE is set. Unknown senders are counted
 * (UNSOLICITED).
 */
void sl_live_probe_input(struct sl_dp *dp, const struct sl_frag_hdr *h,
			 uint32_t ip, uint16_t port);

/**
 * sl_live_probe - send instance @uid of stage @st a PROBE now.
 */
void sl_live_probe(struct sl_dp *dp, const struct sl_pipeline_cfg *pl,
		   const struct sl_stage_cfg *st, uint16_t uid);

/**
 * sl_live_owed - ended stream @f went to an engine instance that is
 * alive and has not started its answer yet, and its request is still in
 * flight (with liveness on, and for at most the idle timeout): the
 * stream stays in the table past its linger, so that the instance's
 * death still finds what it owed (the flow table's keep hook). Nothing
 * is owed for a request that is over.
 */
bool sl_live_owed(struct sl_dp *dp, const struct sl_flow *f, uint64_t now);

/* sl_live_owed as the flow table's keep hook (sl_flow_set_keep). */
bool sl_live_keep(void *ctx, const struct sl_flow *f, uint64_t now);

/**
 * sl_live_housekeeping - PROBE every instance each liveness.probe_ms
 * (0: liveness off) and find the dead; sl_live_deaths deals with their
 * streams (aborted or sent elsewhere), a slice at a time: it returns true
 * when the worker's queues filled first (the worker drains them and calls
 * it again), false once every dead instance's streams are dealt with.
 */
void sl_live_housekeeping(struct sl_dp *dp);
bool sl_live_deaths(struct sl_dp *dp);

#endif /* SL_LIVE_H */
