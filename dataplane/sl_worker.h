/* SPDX-License-Identifier: MIT */
/*
 * sl_worker.h - the worker: init and fini of its context, the config
 * snapshots the control plane publishes, the lcore loop, shutdown. The
 * top of the dataplane's modules: it calls the path (sl_path.h), nothing
 * calls it but sluiced, the control backend and the tests.
 */
#ifndef SL_WORKER_H
#define SL_WORKER_H

#include <stdint.h>

#include <rte_mempool.h>

#include "sl_dp.h"
#include "sl_steer.h"

/**
 * sl_dp_init - set up a worker context.
 * @dp: zeroed by the caller or not; fully initialised here.
 * @cfg: the config snapshot; must outlive @dp.
 * @port_id: the port to receive from and send to (queue 0).
 * @pool: mempool for frames the worker builds (ARP).
 *
 * Creates the flow table. Return 0 or a negative errno.
 */
int sl_dp_init(struct sl_dp *dp, const struct sl_config *cfg, uint16_t port_id,
	       struct rte_mempool *pool);

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
 * sl_dp_worker - lcore entry point: poll the port until dp->quit, with the
 * idle back-off of DESIGN §6 unless dp->poll. @arg is the struct sl_dp.
 */
int sl_dp_worker(void *arg);

/*
 * Many workers (sl_steer.h): one context each, sharing the config
 * snapshot, the ledger of quotas and the steering.
 */
struct sl_workers {
	uint16_t n;
	struct sl_dp *dp[SL_WORKERS_MAX];
	struct sl_steer *steer; /* NULL with one worker */
};

/**
 * sl_workers_init - @n workers (1..SL_WORKERS_MAX) on @port_id: worker w
 * receives from queue w when w < @n_rx_queues (else only what the others
 * hand it) and sends on transmit queue w, which the port must have.
 * Return 0 or a negative errno (nothing left allocated).
 * sl_workers_fini - free them (their lcores stopped).
 * sl_workers_shutdown - sl_dp_shutdown for each.
 */
int sl_workers_init(struct sl_workers *ws, const struct sl_config *cfg,
		    uint16_t port_id, uint16_t n_rx_queues,
		    struct rte_mempool *pool, uint16_t n);
void sl_workers_fini(struct sl_workers *ws);
void sl_workers_shutdown(struct sl_workers *ws, uint8_t reason);

/**
 * sl_workers_publish - sl_dp_publish to every worker: all of them take
 * @next, or none (those that had taken it go back to the previous one).
 * Same return and ownership rules as sl_dp_publish.
 */
int sl_workers_publish(struct sl_workers *ws, const struct sl_config *next,
		       const struct sl_config **old);

struct sl_stats;

/**
 * sl_workers_stats_take - sl_stats_take of every worker, added up
 * (sl_stats_add): the first worker's snapshot plus the others'. Same
 * return as sl_stats_take.
 */
int sl_workers_stats_take(struct sl_workers *ws, struct sl_stats *out);

#endif /* SL_WORKER_H */
