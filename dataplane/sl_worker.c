/* SPDX-License-Identifier: MIT */
/*
 * sl_worker.c - the worker (see sl_worker.h): init and fini of its
 * context, config snapshots (publish, adopt, the derived state, a new
 * layout), the lcore loop (receive, the path, and between bursts the
 * control plane's snapshots and stats requests), shutdown.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>
#include <string.h>
#include <sys/random.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include "sl_arp.h"
#include "sl_dp.h"
#include "sl_guard_edge.h"
#include "sl_live.h"
#include "sl_node.h"
#include "sl_op.h"
#include "sl_path.h"
#include "sl_route.h"
#include "sl_rtx.h"
#include "sl_split.h"
#include "sl_stats.h"
#include "sl_steer.h"
#include "sl_stream.h"
#include "sl_worker.h"

/* The flow table's release hook: the stream's accounting and its edge
 * state. */
static void
dp_flow_released(void *ctx, struct sl_flow *f)
{
	struct sl_dp *dp = ctx;

	sl_stream_released(dp, f, f->state == SL_FLOW_ENDED);
	if (f->edges != NULL)
		sl_fanout_release(dp, f);
}

/* Seeds for every instance of @cfg; state of an instance @prev did not
 * have starts at zero (its uid may have served a removed instance). */
static void
dp_instances_init(struct sl_dp *dp, const struct sl_config *cfg,
		  const struct sl_config *prev)
{
	bool known[SL_MAX_INSTANCE_UIDS] = {false};

	for (uint16_t k = 0; prev != NULL && k < prev->n_instances_all; k++)
		known[sl_config_instance_at(prev, &prev->instances_all[k])
			      ->uid] = true;
	for (uint16_t k = 0; k < cfg->n_instances_all; k++) {
		const struct sl_instance_at *at = &cfg->instances_all[k];
		const struct sl_instance_cfg *in =
			sl_config_instance_at(cfg, at);
		struct sl_instance_state *is = &dp->inst[in->uid];

		if (!known[in->uid]) {
			memset(is, 0, sizeof(*is));
			/* Alive until proven dead: it has liveness.dead_ms
			 * to answer. */
			is->alive = true;
			is->heard_tsc = dp->now;
		}
		is->seed = sl_route_seed(&in->ep);
		is->ip = in->ep.ip;
		is->port = in->ep.port;
		is->gpu = in->gpu;
		is->stage_id =
			cfg->pipelines[at->pipeline].stages[at->stage].id;
		is->pipeline_id = cfg->pipelines[at->pipeline].id;
		/* Another node's instance: reached through that node's
		 * sluiced, whose MAC sl_relay_refresh gives it. */
		if (in->remote) {
			sl_neigh_want(&dp->neigh, is->ip, SL_NEIGH_VIA,
				      dp->now);
			is->reachable =
				sl_neigh_lookup(&dp->neigh, is->ip) != NULL;
			continue;
		}
		is->reachable = sl_neigh_lookup(&dp->neigh, is->ip) != NULL;
		/* A new instance is asked for at once (and kept: an
		 * instance's entry is never evicted for a client's). */
		sl_neigh_want(&dp->neigh, is->ip, SL_NEIGH_INSTANCE, dp->now);
		if (!is->reachable && dp->pool != NULL)
			sl_arp_solicit(dp, is->ip);
	}
}

/*
 * Token buckets by configured tenant; what tenants hold (dp->tenant_use)
 * is kept by tenant id and outlives any snapshot. A bucket whose tenant
 * the previous snapshot also had keeps its level.
 */
static void
dp_tenants_init(struct sl_dp *dp, const struct sl_config *cfg,
		const struct sl_config *prev)
{
	struct sl_tenant_state old[SL_MAX_TENANTS];
	uint8_t old_index[SL_MAX_TENANTS];
	uint16_t n_old = prev != NULL ? prev->n_tenants : 0;

	for (uint16_t t = 0; t < n_old; t++) {
		old[t] = dp->tenants[t];
		old_index[t] = t;
	}
	memset(dp->tenant_index, SL_TENANT_NONE, sizeof(dp->tenant_index));
	for (uint16_t t = 0; t < cfg->n_tenants; t++) {
		const struct sl_tenant_cfg *tc = &cfg->tenants[t];
		uint16_t k;

		dp->tenant_index[tc->id] = (uint8_t)t;
		for (k = 0; k < n_old; k++)
			if (prev->tenants[old_index[k]].id == tc->id)
				break;
		if (k < n_old) {
			dp->tenants[t] = old[k];
		} else {
			dp->tenants[t].tokens_milli =
				(uint64_t)tc->burst * 1000 / dp->n_workers;
			dp->tenants[t].last_tsc = dp->now;
		}
	}
}

/* Quotas from the config and the mempool: half of the pool may be held
 * in reorder buffers and buffer edges, the clients' streams' reorder
 * buffers a quarter, one client address's requests an eighth and one
 * tenant's a quarter; the rest stays free for receive and for the
 * engine outputs of requests already admitted. */
static void
dp_quota_init(struct sl_dp *dp, const struct sl_config *cfg)
{
	uint32_t pool = dp->pool != NULL ? dp->pool->size : 8192;

	dp->quota.client_streams = cfg->client_streams;
	dp->quota.source_streams = cfg->source_streams;
	dp->quota.tenant_streams = cfg->tenant_streams;
	dp->quota.held_max = RTE_MAX(pool / 2, 1u);
	dp->quota.held_client = RTE_MAX(pool / 4, 1u);
	dp->quota.held_source = RTE_MAX(pool / 8, 1u);
	dp->quota.held_tenant = RTE_MAX(pool / 4, 1u);
}

/* What a config's derived state is made of (sl_split/op/route/
 * guard_edge_init fill these fields of struct sl_dp). */
struct dp_derived {
	void *hs_scratch;
	struct sl_op_state *op;
	struct sl_keypins *keypins;
	struct rte_mempool *guard_pool;
};

static void
dp_derived_swap(struct sl_dp *dp, struct dp_derived *d)
{
	struct dp_derived cur = {dp->hs_scratch, dp->op, dp->keypins,
				 dp->guard_pool};

	dp->hs_scratch = d->hs_scratch;
	dp->op = d->op;
	dp->keypins = d->keypins;
	dp->guard_pool = d->guard_pool;
	*d = cur;
}

/*
 * What a config's layout derives, in the order it is made (and undone in
 * reverse): one init loop and one fini loop for every caller.
 */
static const struct {
	int (*init)(struct sl_dp *dp);
	void (*fini)(struct sl_dp *dp);
} dp_parts[] = {
	{sl_split_init, sl_split_fini},
	{sl_op_init, sl_op_fini},
	{sl_route_init, sl_route_fini},
	{sl_guard_edge_init, sl_guard_edge_fini},
};

static void
dp_parts_fini(struct sl_dp *dp)
{
	for (size_t i = RTE_DIM(dp_parts); i-- > 0;)
		dp_parts[i].fini(dp);
}

static int
dp_parts_init(struct sl_dp *dp)
{
	int rc = 0;

	for (size_t i = 0; i < RTE_DIM(dp_parts) && rc == 0; i++)
		rc = dp_parts[i].init(dp);
	return rc;
}

/* Free the derived state in @d (swapped in for the finis). */
static void
dp_derived_free(struct sl_dp *dp, struct dp_derived *d)
{
	dp_derived_swap(dp, d);
	dp_parts_fini(dp);
	dp_derived_swap(dp, d);
}

/*
 * Build the derived state of @next into @d, leaving dp's own untouched.
 * A new layout gets all of it fresh; the same layout keeps the current
 * state (streams in flight hold pieces of it) and may only gain a guard
 * state pool (a guard got its first rules, or an edit grew its states
 * past the current pool's: sl_guard_edge_retire). Return 0 or a
 * negative errno, with nothing left allocated.
 */
static int
dp_derived_build(struct sl_dp *dp, const struct sl_config *next, bool same,
		 struct dp_derived *d)
{
	const struct sl_config *cur = dp->cfg;
	struct dp_derived keep = {0};
	int rc;

	*d = keep;
	if (same) {
		rc = sl_guard_edge_fits(dp, next);
		if (rc != 0)
			return rc < 0 ? rc : 0;
	}
	dp_derived_swap(dp, d); /* dp's fields now NULL, its own in d */
	keep = *d;
	*d = (struct dp_derived){0};
	dp->cfg = next;
	/* The same layout keeps the rest: streams in flight hold it. */
	rc = same ? sl_guard_edge_init(dp) : dp_parts_init(dp);
	dp->cfg = cur;
	*d = keep;
	dp_derived_swap(dp, d); /* dp's own back, the new ones in d */
	if (rc != 0) {
		dp_derived_free(dp, d);
		*d = (struct dp_derived){0};
	}
	return rc;
}

/*
 * A new layout (pipelines, stages or edges changed): what a stream keeps
 * per edge (route pins, buffers, splitters, guard state) and what
 * operators hold belong to the old graph. Every stream that started
 * downstream and has not ended is ended explicitly first, under the old
 * config: an ABORT (RECONFIG) goes through fanout in its place, so every
 * consumer hears it (a buffer drops what it held, a splitter aborts its
 * child, an operator its group, a guard-blocked stream stays stopped).
 * A request whose pipeline is gone is told too. Streams that did not
 * start keep their entries (remapped to the pipeline's new index) and
 * start under the new graph.
 */
static void
dp_relayout(struct sl_dp *dp, const struct sl_config *next)
{
	struct sl_flow_table *ft = dp->flows;
	int map[SL_MAX_PIPELINES];

	for (uint16_t p = 0; p < dp->cfg->n_pipelines; p++) {
		map[p] = -1;
		for (uint16_t q = 0; q < next->n_pipelines; q++)
			if (next->pipelines[q].id == dp->cfg->pipelines[p].id)
				map[p] = q;
	}
	for (uint32_t i = 0; i < ft->capacity; i++) {
		struct sl_flow *f = &ft->flows[i];

		if (f->state != SL_FLOW_ACTIVE)
			continue;
		if (f->edges != NULL && f->next_seq <= f->end_seq)
			sl_dp_end_stream(dp, i, SL_ABORT_RECONFIG);
		else if (map[f->pipeline] < 0 && f->key.stage == 0 &&
			 !f->request_done)
			sl_dp_request_abort(dp, i, SL_ABORT_RECONFIG);
	}
	sl_dp_drain(dp);
	for (uint32_t i = 0; i < ft->capacity; i++) {
		struct sl_flow *f = &ft->flows[i];

		if (f->state == SL_FLOW_FREE)
			continue;
		if (f->edges != NULL)
			sl_fanout_release(dp, f);
		if (map[f->pipeline] < 0)
			sl_flow_remove(ft, i);
		else
			f->pipeline = (uint8_t)map[f->pipeline];
	}
	memset(dp->stages, 0, sizeof(dp->stages));
	/* The key pins are gone: so are the keys they counted. */
	for (unsigned int u = 0; u < SL_MAX_INSTANCE_UIDS; u++)
		dp->inst[u].keys_active = 0;
}

/*
 * Take dp->cfg_next. All or nothing: the derived state of the new
 * config is built first; if that fails nothing changes and the reason is
 * left in dp->adopt_rc for sl_dp_publish.
 */
void
sl_dp_adopt(struct sl_dp *dp)
{
	const struct sl_config *next = dp->cfg_next;
	const struct sl_config *old = dp->cfg;
	bool same = sl_config_same_layout(old, next);
	struct dp_derived fresh;
	int rc;

	rc = dp_derived_build(dp, next, same, &fresh);
	if (rc != 0) {
		dp->cnt.reconfig_errors++;
		dp->adopt_rc = rc;
		__atomic_store_n(&dp->cfg_next, NULL, __ATOMIC_RELEASE);
		return;
	}
	if (!same) {
		dp_relayout(dp, next);
		/* Streams gave their edge state back: the old derived state
		 * is held by nothing now. */
		dp_derived_swap(dp, &fresh);
		dp_derived_free(dp, &fresh);
		/* Operator counters are kept by stage index: a new layout
		 * starts them again. */
		memset(dp->op_cnt, 0, sizeof(dp->op_cnt));
	} else if (fresh.guard_pool != NULL) {
		sl_guard_edge_retire(dp, fresh.guard_pool);
	}
	dp_instances_init(dp, next, old);
	dp_tenants_init(dp, next, old);
	dp_quota_init(dp, next);
	dp->cfg = next;
	dp->cnt.reconfigs++;
	dp->adopt_rc = 0;
	__atomic_store_n(&dp->cfg_next, NULL, __ATOMIC_RELEASE);
}

int
sl_dp_publish(struct sl_dp *dp, const struct sl_config *next,
	      const struct sl_config **old)
{
	const struct sl_config *prev = dp->cfg;

	*old = NULL;
	if (!dp->running) {
		dp->cfg_next = next;
		sl_dp_adopt(dp);
		if (dp->adopt_rc != 0)
			return dp->adopt_rc;
		*old = prev;
		return 0;
	}
	__atomic_store_n(&dp->cfg_next, next, __ATOMIC_RELEASE);
	for (int i = 0; i < 100000; i++) {
		if (__atomic_load_n(&dp->cfg_next, __ATOMIC_ACQUIRE) == NULL) {
			/* Taken (or refused); one more quiescent state and
			 * the old snapshot is read nowhere. */
			rte_rcu_qsbr_synchronize(dp->qsbr,
						 RTE_QSBR_THRID_INVALID);
			if (dp->adopt_rc != 0)
				return dp->adopt_rc;
			*old = prev;
			return 0;
		}
		rte_delay_us_sleep(10);
	}
	/* Withdraw the offer unless the worker took it at the last moment. */
	const struct sl_config *expect = next;

	if (__atomic_compare_exchange_n(&dp->cfg_next, &expect, NULL, false,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return -ETIMEDOUT;
	rte_rcu_qsbr_synchronize(dp->qsbr, RTE_QSBR_THRID_INVALID);
	*old = prev;
	return 0;
}

/*
 * Worker @worker of @n_workers: receives from queue @worker of @port_id
 * (none if the port has fewer receive queues: sl_workers_init) and sends
 * on its own transmit queue; @led is the ledger of the first worker, or
 * NULL for the first (it makes it).
 */
static int
dp_init(struct sl_dp *dp, const struct sl_config *cfg, uint16_t port_id,
	struct rte_mempool *pool, uint16_t worker, uint16_t n_workers,
	struct sl_ledger *led)
{
	char name[32];
	static unsigned int seq;
	uint64_t idle_ms, linger_ms;
	uint32_t flows;
	int rc;

	memset(dp, 0, sizeof(*dp));
	dp->cfg = cfg;
	dp->port_id = port_id;
	dp->tx_port_id = port_id;
	dp->queue_id = worker;
	dp->tx_queue_id = worker;
	dp->worker = worker;
	dp->n_workers = n_workers;
	dp->cnt.workers = 1;
	dp->pool = pool;
	dp->tsc_hz = rte_get_tsc_hz();
	dp->plan_stale_tsc = dp->tsc_hz / 1000 * SL_PLAN_STALE_MS;
	dp->ns_per_tsc_q32 =
		(uint64_t)(((unsigned __int128)1000000000 << 32) / dp->tsc_hz);
	dp->now = rte_rdtsc();
	if (rte_eth_dev_is_valid_port(port_id))
		rte_eth_macaddr_get(port_id, &dp->mac);
	/* The queues: as long as the mempool (see struct sl_dp). */
	dp->queue_cap = RTE_MAX(pool != NULL ? pool->size : 0u, 1024u);
	dp->ctrl = rte_malloc("sl_ctrl", sizeof(*dp->ctrl) * dp->queue_cap, 0);
	dp->out = rte_malloc("sl_out", sizeof(*dp->out) * dp->queue_cap, 0);
	dp->loop = rte_malloc("sl_loop", sizeof(*dp->loop) * dp->queue_cap, 0);
	if (dp->ctrl == NULL || dp->out == NULL || dp->loop == NULL) {
		rte_free(dp->ctrl);
		rte_free(dp->out);
		rte_free(dp->loop);
		return -ENOMEM;
	}

	idle_ms = cfg->flow_idle_ms;
	linger_ms = RTE_MIN((uint64_t)SL_FLOW_LINGER_MS, idle_ms);
	dp->idle_tsc = dp->tsc_hz / 1000 * idle_ms;
	dp->linger_tsc = dp->tsc_hz / 1000 * linger_ms;

	/* Flows start with hop_neigh_gen 0: never a valid generation. */
	dp->neigh.gen = 1;
	dp->led = led;
	if (led == NULL) {
		dp->led = rte_zmalloc("sl_ledger", sizeof(*dp->led),
				      RTE_CACHE_LINE_SIZE);
		if (dp->led == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
		dp->owns_led = true;
		if (getrandom(&dp->led->src_key, sizeof(dp->led->src_key), 0) !=
		    sizeof(dp->led->src_key))
			dp->led->src_key = rte_rdtsc() * 0x9e3779b97f4a7c15ull;
		if (getrandom(&dp->led->id_key, sizeof(dp->led->id_key), 0) !=
		    sizeof(dp->led->id_key))
			dp->led->id_key = rte_rdtsc() * 0xbf58476d1ce4e5b9ull;
	}
	dp_tenants_init(dp, cfg, NULL);
	dp_quota_init(dp, cfg);
	dp_instances_init(dp, cfg, NULL);

	/* Each worker holds its share of the streams. */
	flows = RTE_MAX(cfg->flow_table_size / n_workers, 64u);
	snprintf(name, sizeof(name), "sl_flows_%u", seq++);
	dp->flows = sl_flow_table_create(name, flows, cfg->reorder_window,
					 rte_socket_id(), dp_flow_released, dp);
	if (dp->flows == NULL) {
		rc = -rte_errno;
		goto fail;
	}
	dp->flows_capacity = dp->flows->capacity;
	sl_flow_set_keep(dp->flows, sl_live_keep);
	dp->expire_budget =
		RTE_MAX(64u, (uint32_t)(dp->flows->capacity /
					RTE_MAX(idle_ms / 4, (uint64_t)1)));
	snprintf(name, sizeof(name), "sl_edges_%u", seq - 1);
	dp->edge_pool = rte_mempool_create(
		name, dp->flows->capacity, sizeof(struct sl_edge_block), 0, 0,
		NULL, NULL, NULL, NULL, rte_socket_id(),
		RTE_MEMPOOL_F_SP_PUT | RTE_MEMPOOL_F_SC_GET);
	snprintf(name, sizeof(name), "sl_held_%u", seq - 1);
	dp->held_pool = rte_mempool_create(
		name, RTE_MAX(dp->flows->capacity / 4, 1024u) - 1,
		sizeof(struct sl_held_chunk), 0, 0, NULL, NULL, NULL, NULL,
		rte_socket_id(), RTE_MEMPOOL_F_SP_PUT | RTE_MEMPOOL_F_SC_GET);
	if (dp->edge_pool == NULL || dp->held_pool == NULL) {
		rc = -rte_errno;
		goto fail;
	}
	dp->qsbr = rte_zmalloc("sl_qsbr", rte_rcu_qsbr_get_memsize(1),
			       RTE_CACHE_LINE_SIZE);
	if (dp->qsbr == NULL || rte_rcu_qsbr_init(dp->qsbr, 1) != 0 ||
	    rte_rcu_qsbr_thread_register(dp->qsbr, 0) != 0) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = sl_rtx_init(dp);
	if (rc == 0)
		rc = dp_parts_init(dp);
	if (rc != 0)
		goto fail;
	return 0;
fail:
	sl_dp_fini(dp);
	return rc;
}

int
sl_dp_init(struct sl_dp *dp, const struct sl_config *cfg, uint16_t port_id,
	   struct rte_mempool *pool)
{
	return dp_init(dp, cfg, port_id, pool, 0, 1, NULL);
}

void
sl_dp_shutdown(struct sl_dp *dp, uint8_t reason)
{
	struct sl_flow_table *ft = dp->flows;

	if (ft == NULL)
		return;
	dp->now = rte_rdtsc();
	for (uint32_t i = 0; i < ft->capacity; i++) {
		struct sl_flow *f = &ft->flows[i];

		if (f->state != SL_FLOW_ACTIVE)
			continue;
		/* A client still sending its request is told too. */
		if (f->key.stage == 0 && !f->request_done)
			sl_dp_request_abort(dp, i, reason);
		if (f->next_seq <= f->end_seq)
			sl_dp_end_stream(dp, i, reason);
		sl_dp_make_room(dp);
	}
	sl_dp_drain(dp);
	sl_stage_tx(dp, NULL, 0);
}

void
sl_dp_fini(struct sl_dp *dp)
{
	/* Streams give back their edge state (and splitters) first. */
	sl_flow_table_free(dp->flows);
	dp->flows = NULL;
	sl_guard_edge_reap(dp, true);
	sl_rtx_fini(dp);
	dp_parts_fini(dp);
	rte_mempool_free(dp->edge_pool);
	dp->edge_pool = NULL;
	rte_mempool_free(dp->held_pool);
	dp->held_pool = NULL;
	rte_free(dp->qsbr);
	dp->qsbr = NULL;
	if (dp->owns_led)
		rte_free(dp->led);
	dp->led = NULL;
	dp->owns_led = false;
	for (uint32_t i = 0; i < dp->n_out; i++)
		rte_pktmbuf_free(dp->out[i]);
	dp->n_out = 0;
	while (dp->n_loop != 0) {
		rte_pktmbuf_free(dp->loop[dp->loop_head]);
		dp->loop_head = (dp->loop_head + 1) % dp->queue_cap;
		dp->n_loop--;
	}
	for (uint32_t i = 0; i < dp->n_ctrl; i++)
		rte_pktmbuf_free(dp->ctrl[i]);
	dp->n_ctrl = 0;
	rte_free(dp->ctrl);
	rte_free(dp->out);
	rte_free(dp->loop);
	dp->ctrl = dp->out = dp->loop = NULL;
	if (dp->impair != NULL)
		sl_impair_flush(dp->impair);
	rte_free(dp->child_pins);
	rte_free(dp->child_free);
	rte_free(dp->child_retired);
	dp->child_pins = NULL;
	dp->child_free = dp->child_retired = NULL;
	/* The stats box (sl_stats.c): one allocation. */
	free(dp->stats_box);
	dp->stats_box = NULL;
}

/* --------------------------------------------------------- the lcore loop */

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
	/* Instances have liveness.dead_ms to answer from now, not from the
	 * worker's set-up: sluiced's start (the cost model, the control
	 * plane, leaving root) can take longer than that, and every
	 * instance would be found dead at the first housekeeping. */
	dp->now = rte_rdtsc();
	for (uint16_t k = 0; dp->cfg != NULL && k < dp->cfg->n_instances_all;
	     k++) {
		const struct sl_instance_cfg *in = sl_config_instance_at(
			dp->cfg, &dp->cfg->instances_all[k]);

		dp->inst[in->uid].heard_tsc = dp->now;
	}
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
		if (unlikely(dp->queue_id == UINT16_MAX)) {
			n = 0; /* steered frames only */
		} else if (likely(dp->impair == NULL)) {
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
		if (dp->steer != NULL)
			n = sl_steer_burst(dp, pkts, n, SL_BURST);

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

/* ------------------------------------------------------- many workers */

int
sl_workers_init(struct sl_workers *ws, const struct sl_config *cfg,
		uint16_t port_id, uint16_t n_rx_queues,
		struct rte_mempool *pool, uint16_t n)
{
	int rc = 0;

	memset(ws, 0, sizeof(*ws));
	if (n < 1 || n > SL_WORKERS_MAX)
		return -EINVAL;
	if (n > 1) {
		ws->steer = sl_steer_create(n, pool);
		if (ws->steer == NULL)
			return -rte_errno;
	}
	for (uint16_t w = 0; w < n && rc == 0; w++) {
		ws->dp[w] = rte_zmalloc("sl_dp", sizeof(*ws->dp[w]),
					RTE_CACHE_LINE_SIZE);
		if (ws->dp[w] == NULL) {
			rc = -ENOMEM;
			break;
		}
		rc = dp_init(ws->dp[w], cfg, port_id, pool, w, n,
			     w == 0 ? NULL : ws->dp[0]->led);
		if (rc != 0) {
			rte_free(ws->dp[w]);
			ws->dp[w] = NULL;
			break;
		}
		ws->n = (uint16_t)(w + 1);
		ws->dp[w]->steer = ws->steer;
		if (ws->steer != NULL)
			ws->steer->id_key = ws->dp[0]->led->id_key;
		if (w >= n_rx_queues)
			ws->dp[w]->queue_id = UINT16_MAX;
	}
	if (rc != 0)
		sl_workers_fini(ws);
	return rc;
}

void
sl_workers_fini(struct sl_workers *ws)
{
	/* The first worker's ledger goes last: the others count in it. */
	for (uint16_t w = ws->n; w-- > 0;) {
		sl_dp_fini(ws->dp[w]);
		rte_free(ws->dp[w]);
		ws->dp[w] = NULL;
	}
	ws->n = 0;
	sl_steer_free(ws->steer);
	ws->steer = NULL;
}

void
sl_workers_shutdown(struct sl_workers *ws, uint8_t reason)
{
	for (uint16_t w = 0; w < ws->n; w++)
		sl_dp_shutdown(ws->dp[w], reason);
}

/*
 * The workers share one config snapshot. Each takes it in turn; should
 * one refuse it (its derived state could not be built), those that took
 * it already go back to the one before, so all run the same config.
 */
int
sl_workers_publish(struct sl_workers *ws, const struct sl_config *next,
		   const struct sl_config **old)
{
	const struct sl_config *prev = ws->dp[0]->cfg;
	const struct sl_config *o;
	int rc = 0;
	uint16_t w;

	*old = NULL;
	for (w = 0; w < ws->n; w++) {
		rc = sl_dp_publish(ws->dp[w], next, &o);
		if (rc != 0)
			break;
	}
	if (rc == 0) {
		*old = prev;
		return 0;
	}
	while (w-- > 0)
		if (sl_dp_publish(ws->dp[w], prev, &o) != 0)
			fprintf(stderr,
				"sluiced: worker %u could not go back to the "
				"previous config\n",
				w);
	return rc;
}

int
sl_workers_stats_take(struct sl_workers *ws, struct sl_stats *out)
{
	struct sl_stats *one;
	int rc;

	rc = sl_stats_take(ws->dp[0], out);
	if (rc != 0 || ws->n == 1)
		return rc;
	one = malloc(sizeof(*one));
	if (one == NULL)
		return -ENOMEM;
	for (uint16_t w = 1; w < ws->n && rc == 0; w++) {
		memset(one, 0, sizeof(*one));
		for (unsigned int g = 0; g < SL_MAX_GUARDS; g++) {
			one->n_rules[g] = out->n_rules[g];
			if (out->rules[g] != NULL) {
				one->rules[g] = calloc(out->n_rules[g] + 1,
						       sizeof(*one->rules[g]));
				if (one->rules[g] == NULL)
					rc = -ENOMEM;
			}
		}
		if (rc == 0)
			rc = sl_stats_take(ws->dp[w], one);
		/* A worker that took another snapshot meanwhile (a config
		 * published between two takes) is read again. */
		if (rc == 0 && one->cfg != out->cfg)
			rc = sl_stats_take(ws->dp[w], one);
		if (rc == 0)
			sl_stats_add(out, one);
		for (unsigned int g = 0; g < SL_MAX_GUARDS; g++)
			free(one->rules[g]);
	}
	free(one);
	return rc;
}
