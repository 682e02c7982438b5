/* SPDX-License-Identifier: MIT */
/*
 * sl_worker.h - the worker: the node walk over a burst, its queues (the
 * fragments fanout staged for route and tx, operator results waiting for
 * fanout), housekeeping and the lcore loop.
 */
#ifndef SL_WORKER_H
#define SL_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include "sl_dp.h"

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

/**
 * sl_dp_make_room - between many ABORTs made at once (a dead instance, a
 * shutdown): once the loop queue or the control queue is half full, run
 * the loop and send what waits, so that none of them is dropped.
 */
void sl_dp_make_room(struct sl_dp *dp);

/**
 * sl_dp_edge_out - a fragment leaves on edge @e (its meta's pin and edge
 * set): an operator stage consumes it, anything else is staged for route
 * and tx (flushed when the staging area fills and after every burst).
 * Return whether it was staged (its pin will be read by route).
 */
bool sl_dp_edge_out(struct sl_dp *dp, const struct sl_edge_cfg *e,
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
 * sl_dp_drain - run the queues empty: operator results (and ABORTs put in
 * their place) through fanout, everything staged through route and tx.
 */
void sl_dp_drain(struct sl_dp *dp);

#endif /* SL_WORKER_H */
