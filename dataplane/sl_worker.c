/* SPDX-License-Identifier: MIT */
/*
 * sl_worker.c - the worker (see sl_worker.h): the node walk (SL_NODES),
 * its queues, housekeeping, and the lcore loop: receive, the packet path,
 * and between bursts the control plane's config snapshots and stats
 * requests.
 */
#include <stdbool.h>
#include <sys/prctl.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_rcu_qsbr.h>

#include "sl_dp.h"
#include "sl_op.h"
#include "sl_route.h"
#include "sl_split.h"
#include "sl_stats.h"
#include "sl_stream.h"
#include "sl_worker.h"

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
 * Run node @id on @n packets: the one profiler. A node run inside
 * another's (route and tx when fanout's staging area fills) counts as
 * that one's, so the per-node cycles add up to the path's.
 */
static inline uint16_t
node_run(struct sl_dp *dp, unsigned int id, struct rte_mbuf **pkts,
	 uint16_t n)
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

bool
sl_dp_edge_out(struct sl_dp *dp, const struct sl_edge_cfg *e,
	       struct rte_mbuf *m)
{
	const struct sl_pkt_meta *pm = sl_pkt_meta(m);

	if (e->to != SL_STAGE_CLIENT &&
	    dp->cfg->pipelines[pm->pipeline].stages[e->to - 1].kind !=
		    SL_STAGE_ENGINE) {
		sl_op_input(dp, e, m);
		return false;
	}
	if (dp->n_out == SL_OUT_MAX)
		sl_dp_flush(dp);
	dp->out[dp->n_out++] = m;
	return true;
}

void
sl_dp_flush(struct sl_dp *dp)
{
	uint16_t n = dp->n_out;

	dp->n_out = 0;
	for (unsigned int id = 0; id < SL_STAGE_MAX; id++)
		if (node_input[id] == NODE_OUT)
			n = node_run(dp, id, dp->out, n);
	/* Route has read every pin the staged fragments pointed at. */
	sl_split_pins_routed(dp);
}

void
sl_dp_loop(struct sl_dp *dp, struct rte_mbuf *m)
{
	if (dp->n_loop == SL_LOOP_MAX) {
		sl_dp_drop(dp, m, SL_DROP_LOOP_FULL);
		return;
	}
	dp->loop[(dp->loop_head + dp->n_loop) % SL_LOOP_MAX] = m;
	dp->n_loop++;
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
			dp->loop_head = (dp->loop_head + 1) % SL_LOOP_MAX;
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
	if (dp->n_loop <= SL_LOOP_MAX / 2 && dp->n_ctrl <= SL_CTRL_TX_MAX / 2)
		return;
	sl_dp_drain(dp);
	node_run(dp, SL_STAGE_TX, NULL, 0);
}

/* --------------------------------------------------------- housekeeping */

/* Instances whose MAC became known can take streams. */
static void
dp_reachability(struct sl_dp *dp)
{
	const struct sl_config *cfg = dp->cfg;

	if (dp->neigh.resolutions == dp->last_resolutions)
		return;
	dp->last_resolutions = dp->neigh.resolutions;
	for (uint16_t p = 0; p < cfg->n_pipelines; p++)
		for (uint16_t s = 0; s < cfg->pipelines[p].n_stages; s++) {
			const struct sl_stage_cfg *st =
				&cfg->pipelines[p].stages[s];

			for (uint16_t i = 0; i < st->n_instances; i++) {
				struct sl_instance_state *is =
					&dp->inst[st->instances[i].uid];

				is->reachable = sl_neigh_lookup(&dp->neigh,
								is->ip) != NULL;
			}
		}
}

void
sl_dp_housekeeping(struct sl_dp *dp)
{
	dp_reachability(dp);
	sl_stream_gaps(dp);
	sl_rtx_housekeeping(dp);
	sl_live_housekeeping(dp);
	/* What those put in the loop (ABORTs in place of answers, the
	 * operator results they make) names flows that may be lingering:
	 * through fanout before any of them goes. */
	sl_dp_drain(dp);
	sl_flow_expire_ended(dp->flows, dp->now, dp->linger_tsc);
	sl_stream_expire_idle(dp);
	sl_op_housekeeping(dp);
	sl_route_housekeeping(dp);
	if (dp->n_guard_retired != 0)
		sl_guard_edge_reap(dp, false);
	sl_dp_drain(dp);
	sl_neigh_retry(dp);
	if (dp->n_ctrl != 0 ||
	    (dp->impair != NULL && dp->impair->n_held_tx != 0))
		node_run(dp, SL_STAGE_TX, NULL, 0);
}

/* ------------------------------------------------------------- the loop */

/*
 * Idle back-off (DESIGN §6): after a run of empty polls the worker sleeps,
 * doubling the nap up to SL_IDLE_SLEEP_MAX_US, so that on a 2-core machine
 * the clients and engines sharing the cores are not starved. Any packet
 * resets it. dp->poll (production) never sleeps.
 */
#define SL_IDLE_SPINS 256
#define SL_IDLE_SLEEP_MIN_US 4
#define SL_IDLE_SLEEP_MAX_US 128
#define SL_HOUSEKEEPING_US 1000

int
sl_dp_worker(void *arg)
{
	struct sl_dp *dp = arg;
	struct rte_mbuf *pkts[SL_PATH_CAP];
	uint64_t hk_interval = dp->tsc_hz / 1000000 * SL_HOUSEKEEPING_US;
	unsigned int empty = 0, nap_us = SL_IDLE_SLEEP_MIN_US;

	/* Short naps must be short: the default 50 us timer slack would
	 * round every nap up. */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	dp->next_housekeeping = rte_rdtsc() + hk_interval;
	rte_rcu_qsbr_thread_online(dp->qsbr, 0);
	dp->running = true;
	while (!dp->quit) {
		uint16_t n;

		/* Between bursts nothing of the config is held: a new
		 * snapshot is taken here, and this is the quiescent point. */
		if (unlikely(__atomic_load_n(&dp->cfg_next, __ATOMIC_ACQUIRE) !=
			     NULL))
			sl_dp_adopt(dp);
		rte_rcu_qsbr_quiescent(dp->qsbr, 0);
		sl_stats_serve(dp);
		if (likely(dp->impair == NULL)) {
			n = rte_eth_rx_burst(dp->port_id, dp->queue_id, pkts,
					     SL_BURST);
		} else {
			/* Room for copies and frames held back. */
			n = rte_eth_rx_burst(dp->port_id, dp->queue_id, pkts,
					     SL_BURST - SL_IMPAIR_HELD);
			if (n != 0 || dp->impair->n_held_rx != 0)
				n = sl_impair_rx(dp->impair, dp->pool, pkts, n,
						 SL_BURST);
		}

		dp->now = rte_rdtsc();
		if (n != 0) {
			empty = 0;
			nap_us = SL_IDLE_SLEEP_MIN_US;
			sl_dp_process(dp, pkts, n);
		} else if (!dp->poll && ++empty > SL_IDLE_SPINS) {
			struct timespec ts = {0, nap_us * 1000L};

			nanosleep(&ts, NULL);
			if (nap_us < SL_IDLE_SLEEP_MAX_US)
				nap_us *= 2;
		}
		if (dp->now >= dp->next_housekeeping) {
			sl_dp_housekeeping(dp);
			dp->next_housekeeping = dp->now + hk_interval;
		}
	}
	dp->running = false;
	rte_rcu_qsbr_thread_offline(dp->qsbr, 0);
	return 0;
}
