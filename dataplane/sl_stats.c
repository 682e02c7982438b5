/* SPDX-License-Identifier: MIT */
/*
 * sl_stats.c - JSON stats (see sl_stats.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "sl_guard.h"
#include "sl_stats.h"

void
sl_stats_json(const struct sl_dp *dp, const struct rte_mempool *pool,
	      unsigned int in_use_start, bool final, FILE *out)
{
	const struct sl_config *cfg = dp->cfg;
	const struct sl_dp_counters *c = &dp->cnt;
	uint64_t total = 0;
	char ip[16];
	bool first = true;

	fprintf(out, "{\"final\":%s,\"rx_packets\":%" PRIu64
		     ",\"tx_packets\":%" PRIu64 ",\"forwarded\":%" PRIu64
		     ",\"arp_replies\":%" PRIu64 ",\"arp_requests\":%" PRIu64
		     ",\"non_sluice\":%" PRIu64 ",\"drops\":{",
		final ? "true" : "false", c->rx_packets, c->tx_packets,
		c->forwarded, c->arp_replies, c->arp_requests, c->non_sluice);
	for (int r = 1; r < SL_DROP_MAX; r++) {
		fprintf(out, "%s\"%s\":%" PRIu64, r == 1 ? "" : ",",
			sl_drop_name(r), c->drops[r]);
		total += c->drops[r];
	}
	fprintf(out, "},\"drops_total\":%" PRIu64, total);
	fprintf(out, ",\"arp_deferred\":%" PRIu64 ",\"arp_ignored\":%" PRIu64
		     ",\"requests_refused\":%" PRIu64
		     ",\"requests_aborted\":%" PRIu64,
		c->arp_deferred, c->arp_ignored, c->requests_refused,
		c->requests_aborted);
	fprintf(out, ",\"rtx\":{\"kept\":%" PRIu64 ",\"resent\":%" PRIu64
		     ",\"end_resends\":%" PRIu64 ",\"lost_aborts\":%" PRIu64
		     ",\"evicted\":%" PRIu64 ",\"gave_up\":%" PRIu64
		     ",\"nack_gave_up\":%" PRIu64 ",\"untracked\":%" PRIu64 ",\"nacks_rx\":%" PRIu64
		     ",\"acks_rx\":%" PRIu64 ",\"acks_stale\":%" PRIu64
		     ",\"nacks_tx\":%" PRIu64
		     ",\"acks_tx\":%" PRIu64 ",\"ctrl_full\":%" PRIu64 "}",
		c->rtx.kept, c->rtx.resent, c->rtx.end_resends,
		c->rtx.lost_aborts, c->rtx.evicted, c->rtx.gave_up,
		c->rtx.nack_gave_up, c->rtx.untracked, c->rtx.nacks_rx, c->rtx.acks_rx,
		c->rtx.acks_stale,
		c->rtx.nacks_tx, c->rtx.acks_tx, c->rtx.ctrl_full);
	fprintf(out, ",\"liveness\":{\"probes_sent\":%" PRIu64
		     ",\"probes_answered\":%" PRIu64
		     ",\"instances_died\":%" PRIu64
		     ",\"instances_revived\":%" PRIu64 "}",
		c->probes_sent, c->probes_answered, c->instances_died,
		c->instances_revived);
	fprintf(out, ",\"quotas\":{\"client_streams\":%u"
		     ",\"client_streams_max\":%u,\"source_streams_max\":%u"
		     ",\"held\":%u,\"held_max\":%u,\"held_by_clients\":%u"
		     ",\"held_clients_max\":%u,\"held_source_max\":%u"
		     ",\"held_tenant_max\":%u}",
		dp->client_streams, dp->quota.client_streams,
		dp->quota.source_streams, dp->held_total, dp->quota.held_max,
		dp->held_by_clients, dp->quota.held_client,
		dp->quota.held_source, dp->quota.held_tenant);
	if (dp->impair != NULL) {
		const struct sl_impair *im = dp->impair;

		fprintf(out, ",\"impair\":{\"rx\":{\"seen\":%" PRIu64
			     ",\"dropped\":%" PRIu64 ",\"duplicated\":%" PRIu64
			     ",\"reordered\":%" PRIu64 "},\"tx\":{\"seen\":%" PRIu64
			     ",\"dropped\":%" PRIu64 ",\"duplicated\":%" PRIu64
			     ",\"reordered\":%" PRIu64 "}}",
			im->rx.seen, im->rx.dropped, im->rx.duplicated,
			im->rx.reordered, im->tx.seen, im->tx.dropped,
			im->tx.duplicated, im->tx.reordered);
	}
	fprintf(out, ",\"neighbours\":{\"entries\":%u,\"clients\":%u"
		     ",\"unresolved\":%u,\"evicted\":%" PRIu64
		     ",\"refused\":%" PRIu64 ",\"forgotten\":%" PRIu64 "}",
		dp->neigh.n_entries, dp->neigh.n_clients,
		dp->neigh.n_unresolved, dp->neigh.evicted, dp->neigh.refused,
		dp->neigh.forgotten);
	fprintf(out, ",\"flows\":{\"active\":%u,\"created\":%" PRIu64
		     ",\"ended\":%" PRIu64 ",\"expired\":%" PRIu64 "}",
		dp->flows ? dp->flows->active : 0, c->flows_created,
		c->flows_ended, c->flows_expired);
	fprintf(out, ",\"instances\":[");
	for (uint16_t p = 0; p < cfg->n_pipelines; p++) {
		const struct sl_pipeline_cfg *pl = &cfg->pipelines[p];

		for (uint16_t s = 0; s < pl->n_stages; s++) {
			const struct sl_stage_cfg *st = &pl->stages[s];

			for (uint16_t i = 0; i < st->n_instances; i++) {
				const struct sl_instance_state *is =
					&dp->inst[st->instances[i].uid];

				fprintf(out,
					"%s{\"pipeline\":\"%s\",\"stage\":\"%s\""
					",\"stage_id\":%u,\"aggregation\":%u"
					",\"instance\":\"%s\",\"address\":\"%s:%u\""
					",\"uid\":%u,\"draining\":%s"
					",\"alive\":%s,\"paused\":%s"
					",\"streams\":%" PRIu64
					",\"streams_active\":%u"
					",\"fragments\":%" PRIu64
					",\"deaths\":%" PRIu64
					",\"streams_aborted\":%" PRIu64
					",\"streams_resent\":%" PRIu64 "}",
					first ? "" : ",", pl->name, st->name,
					st->id, st->aggregation,
					st->instances[i].name,
					sl_ipv4_format(st->instances[i].ep.ip,
						       ip, sizeof(ip)),
					st->instances[i].ep.port,
					st->instances[i].uid,
					st->instances[i].draining ? "true"
								  : "false",
					is->alive ? "true" : "false",
					is->paused ? "true" : "false",
					is->streams,
					is->streams_active, is->fragments,
					is->deaths, is->streams_aborted,
					is->streams_resent);
				first = false;
			}
		}
	}
	fprintf(out, "]");
	if (dp->profile) {
		fprintf(out, ",\"stage_cycles\":{");
		for (int s = 0; s < SL_STAGE_MAX; s++)
			fprintf(out, "%s\"%s\":{\"cycles\":%" PRIu64
				     ",\"packets\":%" PRIu64 "}",
				s ? "," : "", sl_stage_name(s),
				dp->prof[s].cycles, dp->prof[s].packets);
		fprintf(out, "}");
	}
	fprintf(out, ",\"guard_blocks\":%" PRIu64 ",\"guards\":[", c->guard_blocks);
	for (uint16_t g = 0; g < cfg->n_guards; g++) {
		struct sl_guard_set_counters gc = {{0}};
		const struct sl_guard_ref *r = cfg->guards[g].ref;
		struct sl_guard_scratch *sc = r != NULL ? r->scratch : NULL;

		if (sc != NULL)
			sl_guard_counters_read(&sc, 1, &gc, NULL);
		fprintf(out, "%s{\"name\":\"%s\",\"rules\":%u,"
			     "\"state_bytes\":%zu",
			g ? "," : "", cfg->guards[g].name,
			r != NULL ? r->n_rules : 0,
			r != NULL ? sl_guard_state_size(r->set) : (size_t)0);
		for (int k = 0; k < SL_GUARD_CTR_MAX; k++)
			fprintf(out, ",\"%s\":%" PRIu64,
				sl_guard_counter_name(k), gc.c[k]);
		fprintf(out, "}");
	}
	fprintf(out, "]");
	fprintf(out, ",\"mbufs\":{\"in_use_start\":%u,\"in_use\":%u}}\n",
		in_use_start, pool ? rte_mempool_in_use_count(pool) : 0);
}

int
sl_stats_write(const struct sl_dp *dp, const struct rte_mempool *pool,
	       unsigned int in_use_start, bool final, const char *path)
{
	char tmp[4096];
	FILE *f;
	int rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (f == NULL)
		return -errno;
	sl_stats_json(dp, pool, in_use_start, final, f);
	rc = fclose(f);
	if (rc != 0) {
		rc = -errno;
		unlink(tmp);
		return rc;
	}
	if (rename(tmp, path) != 0) {
		rc = -errno;
		unlink(tmp);
		return rc;
	}
	return 0;
}
