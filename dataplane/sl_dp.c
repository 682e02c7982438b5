/* SPDX-License-Identifier: MIT */
/*
 * sl_dp.c - worker context, the packet path and the worker loop.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf_dyn.h>

#include "sl_dp.h"
#include "sl_route.h"

int sl_pkt_meta_offset = -1;

static const char *const drop_names[SL_DROP_MAX] = {
#define SL_DROP_NAME_WIRE(name, text) [SL_DROP_##name] = #name,
	SL_WIRE_ERRORS(SL_DROP_NAME_WIRE)
#undef SL_DROP_NAME_WIRE
#define SL_DROP_NAME_DP(name, text) [SL_DROP_##name] = #name,
	SL_DP_DROPS(SL_DROP_NAME_DP)
#undef SL_DROP_NAME_DP
};

static const char *const drop_texts[SL_DROP_MAX] = {
#define SL_DROP_TEXT_WIRE(name, text) [SL_DROP_##name] = text,
	SL_WIRE_ERRORS(SL_DROP_TEXT_WIRE)
#undef SL_DROP_TEXT_WIRE
#define SL_DROP_TEXT_DP(name, text) [SL_DROP_##name] = text,
	SL_DP_DROPS(SL_DROP_TEXT_DP)
#undef SL_DROP_TEXT_DP
};

const char *
sl_drop_name(enum sl_drop reason)
{
	return (unsigned int)reason < SL_DROP_MAX ? drop_names[reason] : "?";
}

const char *
sl_drop_text(enum sl_drop reason)
{
	return (unsigned int)reason < SL_DROP_MAX ? drop_texts[reason] : "?";
}

int
sl_pkt_meta_register(void)
{
	static const struct rte_mbuf_dynfield desc = {
		.name = "sluice_pkt_meta",
		.size = sizeof(struct sl_pkt_meta),
		.align = __alignof__(struct sl_pkt_meta),
	};
	int off = rte_mbuf_dynfield_register(&desc);

	if (off < 0)
		return -rte_errno;
	sl_pkt_meta_offset = off;
	return 0;
}

static void
dp_flow_released(void *ctx, struct sl_flow *f)
{
	sl_dp_flow_released(ctx, f, f->state == SL_FLOW_ENDED);
}

void
sl_dp_flow_released(struct sl_dp *dp, struct sl_flow *f, bool ended)
{
	sl_dp_tenant_stream_done(dp, f);
	/* A stream that never ended still counts as in flight at its
	 * instance until it leaves the table. */
	if (f->in_flight)
		dp->stages[f->pipeline][f->next_stage - 1]
			.inst[f->instance]
			.streams_active--;
	if (!ended)
		dp->cnt.flows_expired++;
	dp->cnt.drops[SL_DROP_EXPIRED] += f->n_held;
}

int
sl_dp_init(struct sl_dp *dp, const struct sl_config *cfg, uint16_t port_id,
	   struct rte_mempool *pool)
{
	char name[32];
	static unsigned int seq;
	uint64_t idle_ms, linger_ms;

	memset(dp, 0, sizeof(*dp));
	dp->cfg = cfg;
	dp->port_id = port_id;
	dp->tx_port_id = port_id;
	dp->queue_id = 0;
	dp->pool = pool;
	dp->tsc_hz = rte_get_tsc_hz();
	dp->now = rte_rdtsc();
	if (rte_eth_dev_is_valid_port(port_id))
		rte_eth_macaddr_get(port_id, &dp->mac);

	idle_ms = cfg->flow_idle_ms;
	linger_ms = RTE_MIN((uint64_t)SL_FLOW_LINGER_MS, idle_ms);
	dp->idle_tsc = dp->tsc_hz / 1000 * idle_ms;
	dp->linger_tsc = dp->tsc_hz / 1000 * linger_ms;

	/* Flows start with hop_neigh_gen 0: never a valid generation. */
	dp->neigh.gen = 1;
	memset(dp->tenant_index, SL_TENANT_NONE, sizeof(dp->tenant_index));
	for (uint16_t t = 0; t < cfg->n_tenants; t++) {
		const struct sl_tenant_cfg *tc = &cfg->tenants[t];

		dp->tenant_index[tc->id] = (uint8_t)t;
		dp->tenants[t].tokens_milli = (uint64_t)tc->burst * 1000;
		dp->tenants[t].last_tsc = dp->now;
	}
	for (uint16_t p = 0; p < cfg->n_pipelines; p++) {
		const struct sl_pipeline_cfg *pl = &cfg->pipelines[p];

		for (uint16_t s = 0; s < pl->n_stages; s++)
			for (uint16_t i = 0; i < pl->stages[s].n_instances; i++)
				dp->stages[p][s].inst[i].seed = sl_route_seed(
					&pl->stages[s].instances[i].ep);
	}

	snprintf(name, sizeof(name), "sl_flows_%u", seq++);
	dp->flows = sl_flow_table_create(name, cfg->flow_table_size,
					 cfg->reorder_window, rte_socket_id(),
					 dp_flow_released, dp);
	if (dp->flows == NULL)
		return -rte_errno;
	dp->expire_budget = RTE_MAX(64u, (uint32_t)(dp->flows->capacity /
				   RTE_MAX(idle_ms / 4, (uint64_t)1)));
	return 0;
}

void
sl_dp_fini(struct sl_dp *dp)
{
	sl_flow_table_free(dp->flows);
	dp->flows = NULL;
	for (uint16_t i = 0; i < dp->n_ctrl; i++)
		rte_pktmbuf_free(dp->ctrl[i]);
	dp->n_ctrl = 0;
}

#define PROF(dp, id, n, call)                                                 \
	do {                                                                  \
		uint64_t t0_ = rte_rdtsc();                                   \
		dp->prof[id].packets += (n);                                  \
		call;                                                         \
		dp->prof[id].cycles += rte_rdtsc() - t0_;                     \
	} while (0)

void
sl_dp_process(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n)
{
	dp->cnt.rx_packets += n;
	if (likely(!dp->profile)) {
		n = sl_stage_parse(dp, pkts, n);
		n = sl_stage_admit(dp, pkts, n);
		n = sl_stage_order(dp, pkts, n);
		n = sl_stage_route(dp, pkts, n);
		sl_stage_tx(dp, pkts, n);
		return;
	}
	PROF(dp, SL_STAGE_PARSE, n, n = sl_stage_parse(dp, pkts, n));
	PROF(dp, SL_STAGE_ADMIT, n, n = sl_stage_admit(dp, pkts, n));
	PROF(dp, SL_STAGE_ORDER, n, n = sl_stage_order(dp, pkts, n));
	PROF(dp, SL_STAGE_ROUTE, n, n = sl_stage_route(dp, pkts, n));
	PROF(dp, SL_STAGE_TX, n, sl_stage_tx(dp, pkts, n));
}

void
sl_dp_housekeeping(struct sl_dp *dp)
{
	sl_flow_expire_ended(dp->flows, dp->now, dp->linger_tsc);
	/* Idle streams are rare and their timeout long: a slice of the
	 * table per call, the whole table every quarter of the timeout. */
	sl_flow_expire(dp->flows, dp->now, dp->idle_tsc, UINT64_MAX,
		       &dp->expire_cursor, dp->expire_budget);
	sl_neigh_retry(dp);
	if (dp->n_ctrl != 0)
		sl_stage_tx(dp, NULL, 0);
}

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
	while (!dp->quit) {
		uint16_t n = rte_eth_rx_burst(dp->port_id, dp->queue_id, pkts,
					      SL_BURST);

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
	return 0;
}
