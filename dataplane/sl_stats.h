/* SPDX-License-Identifier: MIT */
/*
 * sl_stats.h - the stats boundary: snapshots of the worker's counters.
 *
 * The control plane (sl_ctl.c, the stats file) never reads the worker's
 * memory. It asks for a snapshot (sl_stats_take); the worker fills one
 * between two bursts, where nothing is half done, and hands it over. Every
 * field comes from the tables of proto/sl_stats_def.h, so the snapshot,
 * the JSON below, the protobuf copy and Prometheus cannot disagree.
 */
#ifndef SL_STATS_H
#define SL_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <rte_mempool.h>

#include "sl_dp.h"
#include "sl_guard.h"
#include "sl_stats_def.h"

struct sl_stats_quota {
	SL_STATS_QUOTA(SL_STATS_FIELD)
};

struct sl_stats_neigh {
	SL_STATS_NEIGH(SL_STATS_FIELD)
};

struct sl_stats_cluster {
	SL_STATS_CLUSTER(SL_STATS_FIELD)
};

struct sl_stats_instance {
	SL_STATS_INSTANCE(SL_STATS_FIELD)
};

struct sl_stats_tenant {
	SL_STATS_TENANT(SL_STATS_FIELD)
};

/* One snapshot. Kept by uid (instances) and by config index (operator
 * stages, tenants, guards) of @cfg, the config it was taken under. */
struct sl_stats {
	const struct sl_config *cfg;
	struct sl_dp_counters dp;
	struct sl_stats_quota quota;
	struct sl_stats_neigh neigh;
	uint64_t flows_active;
	uint64_t flows_capacity;
	bool impair; /* the fault injector is on */
	struct sl_impair_counters impair_rx;
	struct sl_impair_counters impair_tx;
	bool profile; /* prof[] was measured (--profile) */
	struct sl_stage_prof prof[SL_STAGE_MAX];
	struct sl_stats_instance inst[SL_MAX_INSTANCE_UIDS];
	struct sl_op_counters op[SL_MAX_PIPELINES][SL_MAX_STAGES];
	struct sl_stats_tenant tenant[SL_MAX_TENANTS];
	uint64_t guard[SL_MAX_GUARDS][SL_GUARD_CTR_MAX];
	/* Per rule, where the reader wants them: rules[g] holds n_rules[g]
	 * entries, filled when that is the guard's rule count (else left
	 * zero). The reader's memory; NULL: not wanted. */
	struct sl_guard_rule_counters *rules[SL_MAX_GUARDS];
	uint32_t n_rules[SL_MAX_GUARDS];
};

/**
 * sl_stats_take - a snapshot of @dp into @out (its rules[]/n_rules[] say
 * which per-rule counters are wanted). With the worker running it is
 * filled by the worker at its next point between bursts; else here.
 * One reader thread at a time (the control plane's). Return 0, or
 * -ETIMEDOUT when the worker did not answer within a second, -ENOMEM.
 */
int sl_stats_take(struct sl_dp *dp, struct sl_stats *out);

/**
 * sl_stats_add - add the snapshot of another worker, @b, to @a (same
 * config; per-rule counters where both have them): counters and levels
 * are sums (each worker counts what it did and holds); what each worker
 * keeps a whole copy of stays @a's: the neighbour table, liveness
 * (instances alive, paused, found dead, PROBEs), the quotas (one ledger,
 * tenants' levels too) and the count of reconfigurations.
 */
void sl_stats_add(struct sl_stats *a, const struct sl_stats *b);

/**
 * sl_stats_fill - the worker's side of sl_stats_take (or whoever owns
 * @dp while no worker runs): copy everything into @out.
 */
void sl_stats_fill(const struct sl_dp *dp, struct sl_stats *out);

/**
 * sl_stats_serve - worker: answer a snapshot request, if one waits.
 * Called between bursts.
 */
static inline void
sl_stats_serve(struct sl_dp *dp)
{
	uint32_t req = __atomic_load_n(&dp->stats_req, __ATOMIC_ACQUIRE);

	if (unlikely(req != dp->stats_done)) {
		sl_stats_fill(dp, dp->stats_box);
		__atomic_store_n(&dp->stats_done, req, __ATOMIC_RELEASE);
	}
}

/**
 * sl_stats_since - turn @now into the counts since @base (a reset): every
 * counter (kind C) of every domain minus its value in @base; a counter
 * that restarted (a new layout restarts the operator stages') keeps its
 * own value. Gauges stay as they are.
 */
void sl_stats_since(struct sl_stats *now, const struct sl_stats *base);

/**
 * sl_stats_json - @s as one JSON object (dataplane/README.md, The stats
 * file) with the mempool's use (@pool may be NULL).
 */
void sl_stats_json(const struct sl_stats *s, const struct rte_mempool *pool,
		   unsigned int in_use_start, bool final, FILE *out);

/**
 * sl_stats_write - sl_stats_json into @path, atomically (temporary file
 * and rename). Return 0 or a negative errno.
 */
int sl_stats_write(const struct sl_stats *s, const struct rte_mempool *pool,
		   unsigned int in_use_start, bool final, const char *path);

#endif /* SL_STATS_H */
