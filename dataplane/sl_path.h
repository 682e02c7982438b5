/* SPDX-License-Identifier: MIT */
/*
 * sl_path.h - the packet path: the node walk over a burst, the worker's
 * queues drained through the nodes (control frames through tx, what
 * fanout staged through route and tx, what waits for fanout through
 * fanout), housekeeping. Nothing below it calls into it.
 */
#ifndef SL_PATH_H
#define SL_PATH_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include "sl_dp.h"

/**
 * sl_dp_process - run one received burst through the nodes (SL_NODES),
 * then the queues empty (sl_dp_drain). @pkts must hold SL_PATH_CAP
 * pointers.
 */
void sl_dp_process(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n);

/**
 * sl_dp_housekeeping - expire idle flows (a bounded slice of the table),
 * retry unresolved neighbours and flush control frames. Cheap; the worker
 * calls it about once a millisecond.
 */
void sl_dp_housekeeping(struct sl_dp *dp);

/**
 * sl_dp_make_room - between many ABORTs made at once (a dead instance,
 * repairs given up, a stop): once the queues hold SL_QUEUE_BUDGET frames
 * (sl_dp_queues_busy), drain them and send the control frames, so that
 * the mbufs in flight stay bounded.
 */
void sl_dp_make_room(struct sl_dp *dp);

/**
 * sl_dp_flush - route and send everything staged.
 */
void sl_dp_flush(struct sl_dp *dp);

/**
 * sl_dp_drain - run the queues empty: operator results (and ABORTs put in
 * their place) through fanout, everything staged through route and tx.
 */
void sl_dp_drain(struct sl_dp *dp);

#endif /* SL_PATH_H */
