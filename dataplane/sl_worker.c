/* SPDX-License-Identifier: MIT */
/*
 * sl_worker.c - the worker lcore's loop: receive, the packet path,
 * housekeeping, and between bursts the control plane's config snapshots
 * and stats requests.
 */
#include <stdbool.h>
#include <sys/prctl.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_rcu_qsbr.h>

#include "sl_dp.h"
#include "sl_stats.h"

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
