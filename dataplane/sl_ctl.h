/* SPDX-License-Identifier: MIT */
/*
 * sl_ctl.h - sluiced's side of the control API: the backend the protobuf
 * server (control/sl_api.h) calls, on the main lcore.
 *
 * It compiles pipeline files and instance edits into new config
 * snapshots, saves each change (sl_state: atomically, before anything is
 * published or answered), publishes them to the worker (sl_dp_publish:
 * RCU, the old snapshot freed after the worker's next quiescent state),
 * and answers reads (pipelines, instances, stats) from the snapshot in use
 * and the worker's counters. Files an applied pipeline names are read
 * only beneath the config directory (sl_confine).
 */
#ifndef SL_CTL_H
#define SL_CTL_H

#include <rte_mempool.h>

#include "sl_api.h"
#include "sl_dp.h"
#include "sl_stats.h"
#include "sl_state.h"
#include "sl_worker.h"

struct sl_confine;

struct sl_ctl {
	struct sl_workers *ws;
	struct rte_mempool *pool; /* for mbuf use in the stats */
	unsigned int in_use_start;
	uint64_t generation;
	/* The config snapshot it published last (the worker's). */
	const struct sl_config *cfg;
	/* The control plane's view of the worker: snapshots only
	 * (sl_stats.h). @base is what GetStats(reset) zeroed: later reads
	 * subtract it; @now is the last snapshot taken. */
	struct sl_stats base;
	struct sl_stats now;
	/* Files an applied pipeline names are read through this (the
	 * config directory); NULL: the working directory. */
	const struct sl_confine *files;
	/* Every change is saved here before it is published and answered;
	 * NULL: not kept. */
	struct sl_state *state;
	/* What the start restored from the state (GetStats.restored). */
	struct sl_state_restored restored;
	/* The scheduler's view of streams and stages (sl_sched.h), shown
	 * with the pipelines; NULL: none kept. */
	struct sl_sched *sched;
	/* The scheduler's cost model (control/sl_cost.h), made with the
	 * defaults by sl_ctl_cost_model (sluiced's start, else the first
	 * cost request); NULL until then. */
	struct sl_cost_model *cost;
	bool budgets_unsaved; /* a training's budgets failed to save */
	/* The workers have token rings (--gpu other than off): instances
	 * declared `gpu: true` can be served. */
	bool gpu;
	/* Cluster mode (sluiced --cluster): this node's name and etcd's
	 * endpoints. Changes come from etcd only (sl_ctl_apply_cluster);
	 * the API's changes are refused. NULL: not in a cluster. */
	const char *cluster_node;
	const char *cluster_endpoints;
	/* The node's membership, as sluiced last read it (GetStats). */
	struct sl_stats_cluster cluster;
	char cluster_error[640];
	/* The live members (sl_ctl_cluster_members): other nodes' instances
	 * are `down` in every snapshot while their node is not one. */
	uint32_t n_members;
	char members[SL_MAX_NODES * 4][32];
};

/**
 * sl_ctl_cluster_members - the cluster's live members are now @names
 * (@n): when that changes which other nodes' instances are down, publish
 * the snapshot in use again with them marked (a node that left: its
 * instances leave routing, streams pinned to them are aborted). Return 0,
 * or a negative errno with @msg.
 */
int sl_ctl_cluster_members(struct sl_ctl *ctl, const char (*names)[32],
			   uint32_t n, char *msg, size_t msglen);

/**
 * sl_ctl_apply_cluster - compile @yaml (@len bytes, NUL-terminated; @name
 * in messages: "etcd KEY@REVISION") as node ctl->cluster_node's snapshot
 * and publish it, all or nothing. Return 0, or a negative errno with one
 * line in @msg naming the field.
 */
int sl_ctl_apply_cluster(struct sl_ctl *ctl, const char *yaml, size_t len,
			 const char *name, char *msg, size_t msglen);

/**
 * sl_ctl_gpu_refused - whether @cfg declares a local GPU instance that a
 * sluiced without token rings (@have_gpu false) cannot serve; then @msg
 * names the first one (pipeline, stage, instance) and says what to do.
 */
bool sl_ctl_gpu_refused(const struct sl_config *cfg, bool have_gpu, char *msg,
			size_t len);

extern const struct sl_api_backend_ops sl_ctl_ops;

/**
 * sl_ctl_init - a backend for the workers @ws, whose current config becomes
 * generation 1, or @state's generation when @state is given; @files and
 * @restored (may be NULL) as in struct sl_ctl.
 */
/* sl_ctl_fini - free what sl_ctl_init and the requests made (the cost
 * model). */
void sl_ctl_fini(struct sl_ctl *ctl);

void sl_ctl_init(struct sl_ctl *ctl, struct sl_workers *ws,
		 struct rte_mempool *pool, unsigned int in_use_start,
		 const struct sl_confine *files, struct sl_state *state,
		 const struct sl_state_restored *restored);

/**
 * sl_ctl_cost_model - the cost model, made now if it is not yet (the
 * defaults; tenants' spent budgets restored from the state directory) and
 * given to the scheduler (ctl->sched, when set). Return it, or NULL with
 * why in @msg (@len): no memory, or budgets that do not read back (no
 * model then: a tenant's data would be used again).
 */
struct sl_cost_model *sl_ctl_cost_model(struct sl_ctl *ctl, char *msg,
					size_t len);

#endif /* SL_CTL_H */
