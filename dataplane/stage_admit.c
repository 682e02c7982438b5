/* SPDX-License-Identifier: MIT */
/*
 * stage_admit.c - packet stage 2: who may send what, and stream admission.
 *
 * In:  parsed fragments (sl_pkt_meta from parse).
 * Out: fragments of known pipelines and stages, with the ancestry depth
 *      their stage's streams have, from an allowed source, within their
 *      tenant's and their address's limits, each bound to its flow entry
 *      (meta->flow); a stream's entry is created at its first fragment.
 *      A client's request id is replaced by sluiced's own (below).
 * Drops: UNKNOWN_PIPELINE, UNKNOWN_STAGE, DEPTH_MISMATCH, SRC_NOT_ALLOWED
 *      (stage 0 must come from a configured client network, stage s from
 *      an instance of stage s), UNKNOWN_TENANT, TENANT_SOURCE,
 *      TENANT_RATE, TENANT_STREAMS, SOURCE_STREAMS, CLIENT_STREAMS,
 *      FLOW_TABLE_FULL. A client whose new request is refused for a limit
 *      gets ABORT (OVERLOAD) back at once (sl_dp_refuse); a refused engine
 *      output aborts its request.
 *
 * A stream is keyed by its wire identity, its tenant and its sender's
 * address, so a request id guessed by another client names another
 * stream. Towards instances a request is known by an id sluiced makes
 * (sl_dp_request_id: the client stream's flow index and generation), so
 * two clients' requests never meet in an engine whatever ids they chose;
 * the client's own id is put back on the way out to it (stage_route.c).
 *
 * Tenants' rates and stream limits apply to the requests clients open;
 * the engine outputs of admitted requests are never refused for them,
 * and the clients' streams may take only a share of the table
 * (flows.client_streams), so new requests cannot starve them either.
 *
 * Flow lookups are done in bulk for the burst (rte_hash_lookup_bulk).
 *
 * Cost: 129.3 cycles per fragment in `tools/bench/dataplane.sh` at
 *      2c1fee9 (median of 5 profiled rounds; 2-vCPU Xeon at 2.10 GHz,
 *      quiet; 1024 streams x 16 fragments, 3 hops;
 *      tools/bench/results/dataplane.md has every run).
 */
#include <rte_branch_prediction.h>
#include <rte_byteorder.h>

#include "sl_dp.h"
#include "sl_sched.h"
#include "sl_live.h"
#include "sl_stream.h"

static inline int
admit_pipeline(const struct sl_config *cfg, uint32_t id)
{
	for (uint16_t p = 0; p < cfg->n_pipelines; p++)
		if (cfg->pipelines[p].id == id)
			return p;
	return -1;
}

/* An instance's answer ended: the scheduler hears of it (sl_sched.h),
 * by the stream's last ancestry id and its request's, as it heard of the
 * routing. */
static __rte_noinline void
admit_report_end(struct sl_dp *dp, const struct sl_pkt_meta *pm,
		 const uint8_t *hdr, uint16_t uid)
{
	uint64_t stream, request;

	memcpy(&request, hdr + SL_WIRE_OFF_ANCESTRY, 8);
	memcpy(&stream, hdr + SL_WIRE_OFF_ANCESTRY + 8u * (pm->depth - 1), 8);
	sl_sched_report(dp,
			pm->flags & SL_FRAG_F_END ? SL_SCHED_ENDED
						  : SL_SCHED_ABORTED,
			uid, request, stream, pm->seq + 1);
}

/* Is the sender allowed? An instance that sends is alive (sl_live.c). */
static bool
admit_source(struct sl_dp *dp, const struct sl_pipeline_cfg *pl,
	     const struct sl_pkt_meta *pm, const uint8_t *hdr)
{
	if (pm->stage == 0)
		return sl_config_is_client(dp->cfg, pm->src_ip);
	const struct sl_stage_cfg *st = &pl->stages[pm->stage - 1];

	for (uint16_t i = 0; i < st->n_instances; i++)
		if (st->instances[i].ep.ip == pm->src_ip &&
		    st->instances[i].ep.port == pm->src_port) {
			sl_live_heard(dp, st->instances[i].uid);
			if (unlikely(dp->sched_ring != NULL &&
				     (pm->flags &
				      (SL_FRAG_F_END | SL_FRAG_F_ABORT))))
				admit_report_end(dp, pm, hdr,
						 st->instances[i].uid);
			return true;
		}
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
		    is->ip == pm->src_ip && is->port == pm->src_port &&
		    is->stage_id == pm->stage && is->pipeline_id == pl->id)
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
	/* Each of many workers holds its share of the bucket (the tenant's
	 * requests spread evenly over them, sl_steer.h). */
	const uint64_t cap =
		RTE_MAX((uint64_t)tc->burst * 1000 / dp->n_workers, 1000u);
	const uint64_t per_s = RTE_MAX(
		(uint64_t)tc->fragments_per_s * 1000 / dp->n_workers, 1u);
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

/* A client's fragment: is its tenant configured, may this address use
 * it, and is it within its rate? 0 or the drop reason. */
static __rte_always_inline enum sl_drop
admit_tenant(struct sl_dp *dp, const struct sl_pkt_meta *pm, uint16_t tenant)
{
	const struct sl_config *cfg = dp->cfg;
	uint8_t ti = dp->tenant_index[tenant];

	if (unlikely(ti == SL_TENANT_NONE))
		return SL_DROP_UNKNOWN_TENANT;
	const struct sl_tenant_cfg *tc = &cfg->tenants[ti];

	if (unlikely(tc->n_sources != 0 &&
		     !sl_config_net_match(tc->sources, tc->n_sources,
					  pm->src_ip)))
		return SL_DROP_TENANT_SOURCE;
	if (unlikely(!admit_tenant_rate(dp, tc, &dp->tenants[ti])))
		return SL_DROP_TENANT_RATE;
	return 0;
}

/* Checks that need no flow state; 0 or the drop reason. */
static __rte_always_inline enum sl_drop
admit_check(struct sl_dp *dp, struct sl_pkt_meta *pm, const uint8_t *hdr,
	    uint16_t *tenant)
{
	const struct sl_config *cfg = dp->cfg;
	uint32_t pid;
	uint16_t t;
	int p;

	memcpy(&pid, hdr + SL_WIRE_OFF_PIPELINE, 4);
	p = admit_pipeline(cfg, rte_be_to_cpu_32(pid));
	if (unlikely(p < 0))
		return SL_DROP_UNKNOWN_PIPELINE;
	const struct sl_pipeline_cfg *pl = &cfg->pipelines[p];

	pm->pipeline = (uint8_t)p;
	if (unlikely(pm->stage > pl->n_stages))
		return SL_DROP_UNKNOWN_STAGE;
	/* Every ancestry index used downstream is below the depth the
	 * stage's streams have (sl_pipeline_cfg.depth_min). */
	if (unlikely(pm->depth < pl->depth_min[pm->stage] ||
		     pm->depth > pl->depth_max[pm->stage]))
		return SL_DROP_DEPTH_MISMATCH;
	if (unlikely(!admit_source(dp, pl, pm, hdr) &&
		     (pm->stage == 0 || !admit_retired_source(dp, pl, pm))))
		return SL_DROP_SRC_NOT_ALLOWED;
	memcpy(&t, hdr + SL_WIRE_OFF_TENANT, 2);
	*tenant = rte_be_to_cpu_16(t);
	if (pm->stage == 0 && cfg->n_tenants > 0)
		return admit_tenant(dp, pm, *tenant);
	return 0;
}

/* A client's new request: within the clients' share of the table, its
 * address's and its tenant's? 0 or the drop reason. */
static enum sl_drop
admit_request_quota(struct sl_dp *dp, const struct sl_pkt_meta *pm,
		    uint16_t tenant)
{
	const struct sl_config *cfg = dp->cfg;
	uint8_t ti = dp->tenant_index[tenant];

	const struct sl_ledger *l = dp->led;

	if (sl_ledger_get(&l->client_streams) >= dp->quota.client_streams)
		return SL_DROP_CLIENT_STREAMS;
	if (sl_ledger_get(
		    &l->src_use[sl_dp_src_slot(dp, pm->src_ip)].streams) >=
	    dp->quota.source_streams)
		return SL_DROP_SOURCE_STREAMS;
	if (sl_ledger_get(&l->tenant_use[tenant].requests) >=
	    dp->quota.tenant_streams)
		return SL_DROP_TENANT_STREAMS;
	if (ti != SL_TENANT_NONE && cfg->tenants[ti].max_streams != 0 &&
	    sl_ledger_get(&l->tenant_use[tenant].streams) >=
		    cfg->tenants[ti].max_streams)
		return SL_DROP_TENANT_STREAMS;
	return 0;
}

/*
 * A client's request (admitted or refused): the client's kernel may never
 * ARP for us (it learns our MAC from our own ARP requests), yet the
 * request's output, or its ABORT, must reach it: learn its MAC from the
 * request, but only where nothing is known yet. A data packet never
 * rebinds an address: only ARP does. (With many workers, a worker may
 * see a client's first request only once the shared quota is full: its
 * refusal must reach the client all the same.)
 */
static void
admit_learn_client(struct sl_dp *dp, const struct rte_mbuf *m,
		   const struct sl_pkt_meta *pm)
{
	const struct rte_ether_hdr *eth =
		rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);

	sl_neigh_learn_first(&dp->neigh, pm->src_ip, &eth->src_addr,
			     SL_NEIGH_CLIENT, dp->now);
}

/* A new stream's entry. */
static void
admit_stream_init(struct sl_dp *dp, uint32_t idx, struct rte_mbuf *m,
		  const struct sl_pkt_meta *pm, uint16_t tenant)
{
	sl_dp_stream_init(dp, idx, pm->pipeline, tenant);
	if (pm->stage == 0)
		admit_learn_client(dp, m, pm);
}

/* A fragment whose stream is not in the table yet: make its entry, or
 * refuse it (freed, counted, and the request told). Return the flow
 * index or SL_FLOW_NONE. */
static __rte_noinline uint32_t
admit_new_stream(struct sl_dp *dp, struct rte_mbuf *m, struct sl_pkt_meta *pm,
		 const struct sl_flow_key *key, uint32_t sig, uint16_t tenant)
{
	enum sl_drop why = 0;
	bool created;
	int32_t pos;

	/* An earlier fragment of this burst may have made it already. */
	pos = (int32_t)sl_flow_lookup(dp->flows, key);
	if (pos != (int32_t)SL_FLOW_NONE)
		return (uint32_t)pos;
	if (pm->stage == 0)
		why = admit_request_quota(dp, pm, tenant);
	if (why == 0) {
		pos = sl_flow_add_hashed(dp->flows, key, sig, dp->now,
					 &created);
		if (pos >= 0) {
			if (created)
				admit_stream_init(dp, (uint32_t)pos, m, pm,
						  tenant);
			return (uint32_t)pos;
		}
		why = SL_DROP_FLOW_TABLE_FULL;
	}
	if (pm->stage == 0)
		admit_learn_client(dp, m, pm);
	sl_dp_refuse(dp, m, why);
	return SL_FLOW_NONE;
}

uint16_t
sl_stage_admit(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n)
{
	const struct sl_flow_key *kp[SL_BURST];
	struct sl_flow_key keys[SL_BURST];
	uint16_t tenants[SL_BURST];
	uint32_t sigs[SL_BURST];
	uint32_t idx[SL_BURST];
	uint16_t kept = 0, out = 0;

	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		struct sl_pkt_meta *pm = sl_pkt_meta(m);
		const uint8_t *hdr = rte_pktmbuf_mtod_offset(m, const uint8_t *,
							     pm->hdr_off);
		enum sl_drop why = admit_check(dp, pm, hdr, &tenants[kept]);

		if (unlikely(why != 0)) {
			sl_dp_drop(dp, m, why);
			continue;
		}
		sl_flow_key_from_hdr(&keys[kept], hdr, pm->src_ip,
				     pm->src_port);
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
			fi = admit_new_stream(dp, m, pm, &keys[i], sigs[i],
					      tenants[i]);
			if (fi == SL_FLOW_NONE)
				continue;
		}
		struct sl_flow *f = sl_flow_at(dp->flows, fi);

		f->last_tsc = dp->now;
		if (f->key.stage == 0) {
			/* Towards instances the request has sluiced's id. */
			uint64_t id = rte_cpu_to_be_64(
				sl_dp_request_id(dp, fi, f->gen));

			memcpy(rte_pktmbuf_mtod_offset(
				       m, uint8_t *,
				       pm->hdr_off + SL_WIRE_OFF_ANCESTRY),
			       &id, 8);
		} else if (f->origin != SL_FLOW_NONE) {
			/* A request stays alive while any of its streams
			 * moves. */
			struct sl_flow *o = sl_flow_at(dp->flows, f->origin);

			if (o->gen == f->origin_gen)
				o->last_tsc = dp->now;
		}
		pm->flow = fi;
		pkts[out++] = m;
	}
	return out;
}
