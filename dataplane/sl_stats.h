/* SPDX-License-Identifier: MIT */
/*
 * sl_stats.h - the dataplane's counters as one JSON document.
 */
#ifndef SL_STATS_H
#define SL_STATS_H

#include <stdbool.h>
#include <stdio.h>

#include <rte_mempool.h>

#include "sl_dp.h"

/**
 * sl_stats_json - write @dp's counters, flows, per-instance figures and
 * mempool use to @out as one JSON object (see dataplane/README.md for the
 * fields). Reads the worker's counters without stopping it: each value is
 * a consistent 64-bit load, the set is not a snapshot.
 */
void sl_stats_json(const struct sl_dp *dp, const struct rte_mempool *pool,
		   unsigned int in_use_start, bool final, FILE *out);

/**
 * sl_stats_write - sl_stats_json into @path, atomically (temporary file
 * and rename). Return 0 or a negative errno.
 */
int sl_stats_write(const struct sl_dp *dp, const struct rte_mempool *pool,
		   unsigned int in_use_start, bool final, const char *path);

#endif /* SL_STATS_H */
