/* SPDX-License-Identifier: MIT */
/*
 * stage_admit.c - packet stage 2: who may send what, and stream admission.
 *
 * In:  parsed fragments (sl_pkt_meta from parse).
 * Out: fragments of known pipelines and stages, from an allowed source,
 *      within their tenant's limits, each bound to its flow entry
 *      (meta->flow); a stream's entry is created at its first fragment.
 * Drops: UNKNOWN_PIPELINE, UNKNOWN_STAGE, SRC_NOT_ALLOWED (stage 0 must
 *      come from a configured client network, stage s from an instance
 *      of stage s), UNKNOWN_TENANT, TENANT_RATE, TENANT_STREAMS,
 *      FLOW_TABLE_FULL.
 *
 * Flow lookups are done in bulk for the burst (rte_hash_lookup_bulk).
 */
#include <rte_branch_prediction.h>
#include <rte_byteorder.h>

#include "sl_dp.h"

static inline int
admit_pipeline(const struct sl_config *cfg, uint32_t id)
{
	for (uint16_t p = 0; p < cfg->n_pipelines; p++)
		if (cfg->pipelines[p].id == id)
			return p;
	return -1;
}

static bool
admit_source(const struct sl_config *cfg, const struct sl_pipeline_cfg *pl,
	     const struct sl_pkt_meta *pm)
{
	if (pm->stage == 0) {
		for (uint16_t i = 0; i < cfg->n_client_nets; i++) {
			const struct sl_ipv4_net *net = &cfg->client_nets[i];

			if ((pm->src_ip & net->mask) == net->addr)
				return true;
		}
		return false;
	}
	const struct sl_stage_cfg *st = &pl->stages[pm->stage - 1];

	for (uint16_t i = 0; i < st->n_instances; i++)
		if (st->instances[i].ep.ip == pm->src_ip &&
		    st->instances[i].ep.port == pm->src_port)
			return true;
	return false;
}

/* An instance a newer snapshot removed still answers the streams it had
 * in flight: those must not be lost. It is heard while it has streams in
 * flight and for the idle timeout after the last fragment sent to it
 * (rare path, hence the scan). */
static __rte_noinline bool
admit_retired_source(const struct sl_dp *dp, const struct sl_pipeline_cfg *pl,
		     const struct sl_pkt_meta *pm)
{
	for (unsigned int u = 0; u < SL_MAX_INSTANCE_UIDS; u++) {
		const struct sl_instance_state *is = &dp->inst[u];

		if ((is->streams_active != 0 ||
		     dp->now - is->last_tsc < dp->idle_tsc) &&
		    is->ip == pm->src_ip &&
		    is->port == pm->src_port && is->stage_id == pm->stage &&
		    is->pipeline_id == pl->id)
			return true;
	}
	return false;
}

/*
 * Token bucket per tenant, in thousandths of a fragment; true if one more
 * fragment may pass. The clock only advances by the cycles that were
 * turned into tokens, so a fast trickle of arrivals never rounds the
 * refill down to nothing; a long idle spell simply fills the bucket.
 */
static bool
admit_tenant_rate(struct sl_dp *dp, const struct sl_tenant_cfg *tc,
		  struct sl_tenant_state *ts)
{
	if (tc->fragments_per_s == 0)
		return true;
	const uint64_t cap = (uint64_t)tc->burst * 1000;
	const uint64_t per_s = (uint64_t)tc->fragments_per_s * 1000;
	uint64_t elapsed = dp->now - ts->last_tsc;

	/* Idle longer than it takes to fill the bucket (whole seconds). */
	if (elapsed / dp->tsc_hz > tc->burst / tc->fragments_per_s) {
		ts->tokens_milli = cap;
		ts->last_tsc = dp->now;
	} else {
		uint64_t add = (uint64_t)((unsigned __int128)elapsed * per_s /
					  dp->tsc_hz);

		if (add != 0) {
			ts->tokens_milli += add;
			ts->last_tsc += (uint64_t)((unsigned __int128)add *
						   dp->tsc_hz / per_s);
			if (ts->tokens_milli > cap)
				ts->tokens_milli = cap;
		}
	}
	if (ts->tokens_milli < 1000)
		return false;
	ts->tokens_milli -= 1000;
	return true;
}

/* A new stream: fill its entry. */
static void
admit_new_flow(struct sl_dp *dp, uint32_t idx, struct rte_mbuf *m,
	       const struct sl_pkt_meta *pm, uint16_t tenant)
{
	struct sl_flow *f = sl_flow_at(dp->flows, idx);

	sl_dp_stream_init(dp, idx, pm->pipeline, tenant);
	if (pm->stage == 0) {
		const struct rte_ether_hdr *eth =
			rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);

		f->client_ip = pm->src_ip;
		f->client_port = pm->src_port;
		/* The client's kernel may never ARP for us (it learns our
		 * MAC from our own ARP requests), yet its request's output
		 * must reach it: learn its MAC from the request itself. */
		sl_neigh_learn(&dp->neigh, pm->src_ip, &eth->src_addr);
	}
}

uint16_t
sl_stage_admit(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n)
{
	const struct sl_config *cfg = dp->cfg;
	const struct sl_flow_key *kp[SL_BURST];
	struct sl_flow_key keys[SL_BURST];
	uint32_t sigs[SL_BURST];
	uint32_t idx[SL_BURST];
	uint16_t kept = 0, out = 0;

	/* Checks that need no flow state. */
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		struct sl_pkt_meta *pm = sl_pkt_meta(m);
		const uint8_t *hdr = rte_pktmbuf_mtod_offset(m, const uint8_t *,
							     pm->hdr_off);
		uint32_t pid;
		uint16_t tenant;
		int p;

		memcpy(&pid, hdr + 8, 4);
		p = admit_pipeline(cfg, rte_be_to_cpu_32(pid));
		if (unlikely(p < 0)) {
			sl_dp_drop(dp, m, SL_DROP_UNKNOWN_PIPELINE);
			continue;
		}
		const struct sl_pipeline_cfg *pl = &cfg->pipelines[p];

		pm->pipeline = (uint8_t)p;
		if (unlikely(pm->stage > pl->n_stages)) {
			sl_dp_drop(dp, m, SL_DROP_UNKNOWN_STAGE);
			continue;
		}
		if (unlikely(!admit_source(cfg, pl, pm) &&
			     (pm->stage == 0 ||
			      !admit_retired_source(dp, pl, pm)))) {
			sl_dp_drop(dp, m, SL_DROP_SRC_NOT_ALLOWED);
			continue;
		}
		if (cfg->n_tenants > 0) {
			memcpy(&tenant, hdr + 12, 2);
			tenant = rte_be_to_cpu_16(tenant);
			uint8_t ti = dp->tenant_index[tenant];

			if (unlikely(ti == SL_TENANT_NONE)) {
				sl_dp_drop(dp, m, SL_DROP_UNKNOWN_TENANT);
				continue;
			}
			if (unlikely(!admit_tenant_rate(dp, &cfg->tenants[ti],
							&dp->tenants[ti]))) {
				sl_dp_drop(dp, m, SL_DROP_TENANT_RATE);
				continue;
			}
		}
		sl_flow_key_from_hdr(&keys[kept], hdr);
		sigs[kept] = sl_flow_hash(&keys[kept]);
		kp[kept] = &keys[kept];
		pkts[kept++] = m;
	}
	if (kept == 0)
		return 0;

	sl_flow_lookup_bulk_hashed(dp->flows, kp, sigs, kept, idx);

	for (uint16_t i = 0; i < kept; i++) {
		struct rte_mbuf *m = pkts[i];
		struct sl_pkt_meta *pm = sl_pkt_meta(m);
		uint32_t fi = idx[i];

		if (unlikely(fi == SL_FLOW_NONE)) {
			const uint8_t *hdr = rte_pktmbuf_mtod_offset(
				m, const uint8_t *, pm->hdr_off);
			uint16_t tenant;
			uint8_t ti;
			bool created;
			int32_t pos;

			memcpy(&tenant, hdr + 12, 2);
			tenant = rte_be_to_cpu_16(tenant);
			ti = dp->tenant_index[tenant];
			if (ti != SL_TENANT_NONE &&
			    cfg->tenants[ti].max_streams != 0 &&
			    dp->tenants[ti].streams_active >=
				    cfg->tenants[ti].max_streams) {
				/* An earlier fragment of this burst may have
				 * created the stream already. */
				fi = sl_flow_lookup(dp->flows, &keys[i]);
				if (fi == SL_FLOW_NONE) {
					sl_dp_drop(dp, m,
						   SL_DROP_TENANT_STREAMS);
					continue;
				}
			} else {
				pos = sl_flow_add_hashed(dp->flows, &keys[i],
							 sigs[i], dp->now,
							 &created);
				if (unlikely(pos < 0)) {
					sl_dp_drop(dp, m,
						   SL_DROP_FLOW_TABLE_FULL);
					continue;
				}
				fi = (uint32_t)pos;
				if (created)
					admit_new_flow(dp, fi, m, pm, tenant);
			}
		}
		struct sl_flow *f = sl_flow_at(dp->flows, fi);

		f->last_tsc = dp->now;
		/* A request stays alive while any of its streams moves. */
		if (f->origin != SL_FLOW_NONE && f->origin != fi) {
			struct sl_flow *o = sl_flow_at(dp->flows, f->origin);

			if (o->gen == f->origin_gen)
				o->last_tsc = dp->now;
		}
		pm->flow = fi;
		pkts[out++] = m;
	}
	return out;
}
