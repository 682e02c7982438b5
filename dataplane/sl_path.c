/* SPDX-License-Identifier: MIT */
/*
 * sl_path.c - the packet path (see sl_path.h): the node walk (SL_NODES)
 * with its one profiler, the worker's queues, housekeeping.
 */
#include <stdbool.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_rcu_qsbr.h>

#include "sl_arp.h"
#include "sl_dp.h"
#include "sl_guard_edge.h"
#include "sl_gtx.h"
#include "sl_live.h"
#include "sl_node.h"
#include "sl_op.h"
#include "sl_path.h"
#include "sl_relay.h"
#include "sl_route.h"
#include "sl_rtx.h"
#include "sl_split.h"
#include "sl_stream.h"

/* ------------------------------------------------------------ the nodes */

enum node_input { NODE_RX, NODE_BURST, NODE_OUT };

typedef uint16_t (*node_fn)(struct sl_dp *dp, struct rte_mbuf **pkts,
			    uint16_t n);

static const node_fn node_process[SL_STAGE_MAX] = {
#define NODE_FN(id, name, fn, input) [SL_STAGE_##id] = fn,
	SL_NODES(NODE_FN)
#undef NODE_FN
};

static const enum node_input node_input[SL_STAGE_MAX] = {
#define NODE_INPUT(id, name, fn, input) [SL_STAGE_##id] = NODE_##input,
	SL_NODES(NODE_INPUT)
#undef NODE_INPUT
};

/*
 * Run node @id on @n packets: the one profiler. Should a node ever run
 * inside another's, it counts as that one's, so that the per-node cycles
 * add up to the path's.
 */
static inline uint16_t
node_run(struct sl_dp *dp, unsigned int id, struct rte_mbuf **pkts, uint16_t n)
{
	uint64_t t0;

	if (likely(!dp->profile) || dp->prof_nested)
		return node_process[id](dp, pkts, n);
	dp->prof_nested = true;
	t0 = rte_rdtsc();
	dp->prof[id].packets += n;
	n = node_process[id](dp, pkts, n);
	dp->prof[id].cycles += rte_rdtsc() - t0;
	dp->prof_nested = false;
	return n;
}

void
sl_dp_process(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n)
{
	dp->cnt.rx_packets += n;
	for (unsigned int id = 0; id < SL_STAGE_MAX; id++)
		if (node_input[id] == NODE_BURST)
			n = node_run(dp, id, pkts, n);
	/* Routing may put ABORTs in the loop (sl_dp_abort_output). */
	sl_dp_drain(dp);
}

/* ----------------------------------------------------------- the queues */

void
sl_dp_flush(struct sl_dp *dp)
{
	uint32_t n = dp->n_out;

	dp->n_out = 0;
	/* At least once: tx sends the control frames queued meanwhile. */
	for (uint32_t done = 0; done == 0 || done < n; done += SL_OUT_MAX) {
		uint16_t k = (uint16_t)RTE_MIN(n - done, (uint32_t)SL_OUT_MAX);

		for (unsigned int id = 0; id < SL_STAGE_MAX; id++)
			if (node_input[id] == NODE_OUT)
				k = node_run(dp, id, dp->out + done, k);
	}
	/* Route has read every pin the staged fragments pointed at. */
	sl_split_pins_routed(dp);
}

/* Operator results (and ABORTs in place of answers) enter fanout as their
 * stage's output, in the order they were queued. */
static void
dp_run_loop(struct sl_dp *dp)
{
	struct rte_mbuf *chunk[SL_BURST];

	while (dp->n_loop != 0) {
		uint16_t k = 0;

		while (k < SL_BURST && dp->n_loop != 0) {
			chunk[k++] = dp->loop[dp->loop_head];
			dp->loop_head = (dp->loop_head + 1) % dp->queue_cap;
			dp->n_loop--;
		}
		node_run(dp, SL_STAGE_FANOUT, chunk, k);
	}
}

void
sl_dp_drain(struct sl_dp *dp)
{
	do {
		dp_run_loop(dp);
		sl_dp_flush(dp);
	} while (unlikely(dp->n_loop != 0));
}

void
sl_dp_make_room(struct sl_dp *dp)
{
	/* Draining runs tx, which sends the control frames too. */
	if (sl_dp_queues_busy(dp))
		sl_dp_drain(dp);
}

/* --------------------------------------------------------- housekeeping */

/* Instances whose MAC became known can take streams; those whose MAC is
 * no longer known (gone stale, or their node's: a remote instance's) are
 * the last choice again. */
static void
dp_reachability(struct sl_dp *dp)
{
	const struct sl_config *cfg = dp->cfg;

	if (dp->neigh.resolutions == dp->last_resolutions &&
	    dp->neigh.gen == dp->last_neigh_gen)
		return;
	dp->last_resolutions = dp->neigh.resolutions;
	dp->last_neigh_gen = dp->neigh.gen;
	for (uint16_t k = 0; k < cfg->n_instances_all; k++) {
		struct sl_instance_state *is =
			&dp->inst[sl_config_instance_at(cfg,
							&cfg->instances_all[k])
					  ->uid];

		is->reachable = sl_neigh_lookup(&dp->neigh, is->ip) != NULL;
	}
}

void
sl_dp_housekeeping(struct sl_dp *dp)
{
	sl_relay_refresh(dp);
	dp_reachability(dp);
	/* Each producer of many ABORTs stops when the queues fill, and goes
	 * on once they are drained. */
	for (bool start = true; sl_stream_gaps(dp, start); start = false)
		sl_dp_make_room(dp);
	sl_rtx_housekeeping(dp);
	sl_live_housekeeping(dp);
	while (sl_live_deaths(dp))
		sl_dp_make_room(dp);
	/* What those put in the loop (ABORTs in place of answers, the
	 * operator results they make) names flows that may be lingering:
	 * through fanout before any of them goes. */
	sl_dp_drain(dp);
	sl_flow_expire_ended(dp->flows, dp->now, dp->linger_tsc);
	sl_stream_expire_idle(dp);
	sl_op_housekeeping(dp);
	sl_route_housekeeping(dp);
	sl_gtx_housekeeping(dp);
	if (dp->n_guard_retired != 0)
		sl_guard_edge_reap(dp, false);
	sl_dp_drain(dp);
	sl_neigh_retry(dp);
	if (dp->n_ctrl != 0 ||
	    (dp->impair != NULL && dp->impair->n_held_tx != 0))
		node_run(dp, SL_STAGE_TX, NULL, 0);
}
