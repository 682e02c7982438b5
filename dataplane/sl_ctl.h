/* SPDX-License-Identifier: MIT */
/*
 * sl_ctl.h - sluiced's side of the control API: the backend the protobuf
 * server (control/sl_api.h) calls, on the main lcore.
 *
 * It compiles pipeline files and instance edits into new config
 * snapshots and publishes them to the worker (sl_dp_publish: RCU, the old
 * snapshot freed after the worker's next quiescent state), and answers
 * reads (pipelines, instances, stats) from the snapshot in use and the
 * worker's counters.
 */
#ifndef SL_CTL_H
#define SL_CTL_H

#include <rte_mempool.h>

#include "sl_api.h"
#include "sl_dp.h"

struct sl_ctl {
	struct sl_dp *dp;
	struct rte_mempool *pool; /* for mbuf use in the stats */
	unsigned int in_use_start;
	uint64_t generation;
	/* What GetStats(reset) zeroed: later reads subtract it. */
	struct sl_dp_counters base;
};

extern const struct sl_api_backend_ops sl_ctl_ops;

/**
 * sl_ctl_init - a backend for @dp, whose current config becomes
 * generation 1.
 */
void sl_ctl_init(struct sl_ctl *ctl, struct sl_dp *dp,
		 struct rte_mempool *pool, unsigned int in_use_start);

#endif /* SL_CTL_H */
