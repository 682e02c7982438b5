/* SPDX-License-Identifier: MIT */
/*
 * sl_stats.c - snapshots of the worker's counters and the stats file (see
 * sl_stats.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>

#include "sl_guard_edge.h"
#include "sl_gtx.h"
#include "sl_op.h"
#include "sl_stats.h"

/* ------------------------------------------------------------ snapshots */

void
sl_stats_fill(const struct sl_dp *dp, struct sl_stats *out)
{
	const struct sl_config *cfg = dp->cfg;
	struct sl_stats_quota *q = &out->quota;
	struct sl_stats_neigh *n = &out->neigh;

	/* Only the config's instances, stages, tenants and guards are
	 * filled: the rest reads zero. */
	memset(out->inst, 0, sizeof(out->inst));
	memset(out->op, 0, sizeof(out->op));
	memset(out->tenant, 0, sizeof(out->tenant));
	memset(out->guard, 0, sizeof(out->guard));
	out->cfg = cfg;
	out->dp = dp->cnt;
	if (dp->gtx != NULL)
		sl_gtx_stats(dp->gtx, &out->dp);
	q->client_streams = sl_ledger_get(&dp->led->client_streams);
	q->client_streams_max = dp->quota.client_streams;
	q->source_streams_max = dp->quota.source_streams;
	q->held = sl_ledger_get(&dp->led->held_total);
	q->held_max = dp->quota.held_max;
	q->held_by_clients = sl_ledger_get(&dp->led->held_by_clients);
	q->held_clients_max = dp->quota.held_client;
	q->held_source_max = dp->quota.held_source;
	q->held_tenant_max = dp->quota.held_tenant;
	n->entries = dp->neigh.n_entries;
	n->clients = dp->neigh.n_clients;
	n->unresolved = dp->neigh.n_unresolved;
	n->evicted = dp->neigh.evicted;
	n->refused = dp->neigh.refused;
	n->forgotten = dp->neigh.forgotten;
	out->flows_active = dp->flows != NULL ? dp->flows->active : 0;
	out->flows_capacity = dp->flows_capacity;
	out->impair = dp->impair != NULL;
	if (dp->impair != NULL) {
		out->impair_rx = dp->impair->rx;
		out->impair_tx = dp->impair->tx;
	}
	out->profile = dp->profile;
	memcpy(out->prof, dp->prof, sizeof(out->prof));
	/* The config's instances, operator stages and tenants: one flat walk
	 * each. */
	for (uint16_t k = 0; k < cfg->n_instances_all; k++) {
		uint16_t uid =
			sl_config_instance_at(cfg, &cfg->instances_all[k])->uid;
		const struct sl_instance_state *is = &dp->inst[uid];
		struct sl_stats_instance *o = &out->inst[uid];

#define SL_STATS_COPY(m, kind, prom, help) o->m = is->m;
		SL_STATS_INSTANCE(SL_STATS_COPY)
#undef SL_STATS_COPY
	}
	for (uint16_t p = 0; p < cfg->n_pipelines; p++)
		for (uint16_t s = 0; s < cfg->pipelines[p].n_stages; s++) {
			out->op[p][s] = dp->op_cnt[p][s];
			out->op[p][s].groups_active =
				sl_op_active(dp, (uint8_t)p, (uint8_t)s);
		}
	for (uint16_t t = 0; t < cfg->n_tenants; t++) {
		const struct sl_use *u =
			&dp->led->tenant_use[cfg->tenants[t].id];

		out->tenant[t].streams = u->streams;
		out->tenant[t].requests = u->requests;
		out->tenant[t].held = u->held;
	}
	for (uint16_t g = 0; g < cfg->n_guards; g++) {
		const struct sl_guard_ref *r = cfg->guards[g].ref;
		struct sl_guard_scratch *sc =
			r != NULL ? sl_guard_edge_scratch(dp, r) : NULL;
		struct sl_guard_set_counters set;
		bool rules = out->rules[g] != NULL && r != NULL &&
			     out->n_rules[g] == r->n_rules;

		/* Zero first: the reader's room (a box that realloc gave) is
		 * not cleared, and a guard no worker has run yet, or whose
		 * rules changed under the request, reads nothing below. */
		if (out->rules[g] != NULL)
			memset(out->rules[g], 0,
			       out->n_rules[g] * sizeof(out->rules[g][0]));
		if (sc == NULL) {
			memset(out->guard[g], 0, sizeof(out->guard[g]));
			continue;
		}
		sl_guard_counters_read(&sc, 1, &set,
				       rules ? out->rules[g] : NULL);
		memcpy(out->guard[g], set.c, sizeof(out->guard[g]));
	}
}

/*
 * The worker fills a box of its own, not the reader's memory: a reader
 * that gave up waiting cannot have the late answer written over what it
 * went on with. The box is one allocation (the snapshot, then room for
 * the per-rule counters), freed with @dp (sl_dp_fini).
 */
struct stats_box {
	struct sl_stats s;
	size_t rules_cap; /* entries after the struct */
	struct sl_guard_rule_counters rules[];
};

/* Wait up to a second for the worker to answer request @req. */
static bool
stats_wait(const struct sl_dp *dp, uint32_t req)
{
	for (int i = 0; i < 100000; i++) {
		if (__atomic_load_n(&dp->stats_done, __ATOMIC_ACQUIRE) == req)
			return true;
		rte_delay_us_sleep(10);
	}
	return false;
}

/* A box with room for the rules @want asks for; only while no request is
 * outstanding. */
static struct stats_box *
stats_box(struct sl_dp *dp, const struct sl_stats *want)
{
	struct stats_box *box = (struct stats_box *)dp->stats_box;
	size_t need = 0, at = 0;

	for (unsigned int g = 0; g < SL_MAX_GUARDS; g++)
		if (want->rules[g] != NULL)
			need += want->n_rules[g];
	if (box == NULL || box->rules_cap < need) {
		box = realloc(box, sizeof(*box) + need * sizeof(box->rules[0]));
		if (box == NULL)
			return NULL;
		box->rules_cap = need;
		dp->stats_box = &box->s;
	}
	for (unsigned int g = 0; g < SL_MAX_GUARDS; g++) {
		box->s.rules[g] =
			want->rules[g] != NULL ? &box->rules[at] : NULL;
		box->s.n_rules[g] =
			want->rules[g] != NULL ? want->n_rules[g] : 0;
		at += box->s.n_rules[g];
	}
	return box;
}

int
sl_stats_take(struct sl_dp *dp, struct sl_stats *out)
{
	struct sl_guard_rule_counters *rules[SL_MAX_GUARDS];
	uint32_t n_rules[SL_MAX_GUARDS];
	struct stats_box *box;
	uint32_t req;

	if (!dp->running) {
		sl_stats_fill(dp, out);
		return 0;
	}
	/* A request the worker has not answered yet (one a reader gave up
	 * on) is waited for first: the box is the worker's until then. */
	req = __atomic_load_n(&dp->stats_req, __ATOMIC_RELAXED);
	if (!stats_wait(dp, req))
		return -ETIMEDOUT;
	box = stats_box(dp, out);
	if (box == NULL)
		return -ENOMEM;
	__atomic_store_n(&dp->stats_req, req + 1, __ATOMIC_RELEASE);
	if (!stats_wait(dp, req + 1))
		return -ETIMEDOUT;
	memcpy(rules, out->rules, sizeof(rules));
	memcpy(n_rules, out->n_rules, sizeof(n_rules));
	*out = box->s;
	for (unsigned int g = 0; g < SL_MAX_GUARDS; g++) {
		out->rules[g] = rules[g];
		out->n_rules[g] = n_rules[g];
		if (rules[g] != NULL)
			memcpy(rules[g], box->s.rules[g],
			       n_rules[g] * sizeof(rules[g][0]));
	}
	return 0;
}

void
sl_stats_add(struct sl_stats *a, const struct sl_stats *b)
{
#define ADD(group, from)                                                       \
	do {                                                                   \
		__typeof__(a->from) *d_ = &a->from;                            \
		const __typeof__(a->from) *s_ = &b->from;                      \
		group(ADD_ONE)                                                 \
	} while (0)
#define ADD_ONE(m, kind, prom, help) d_->m += s_->m;
	uint64_t reconfigs = a->dp.reconfigs, errors = a->dp.reconfig_errors;

	ADD(SL_STATS_DP, dp);
	a->dp.reconfigs = reconfigs;
	a->dp.reconfig_errors = errors;
	ADD(SL_STATS_FLOWS, dp.flows);
	ADD(SL_STATS_RTX, dp.rtx);
	for (unsigned int r = 0; r < SL_DROP_MAX; r++)
		a->dp.drops[r] += b->dp.drops[r];
	for (unsigned int i = 0; i < SL_RESIDENCE_BUCKETS; i++)
		a->dp.residence[i] += b->dp.residence[i];
	a->dp.residence_sum_ns += b->dp.residence_sum_ns;
	a->flows_active += b->flows_active;
	a->flows_capacity += b->flows_capacity;
	for (unsigned int k = 0; k < SL_MAX_INSTANCE_UIDS; k++) {
		struct sl_stats_instance *d = &a->inst[k];
		const struct sl_stats_instance *s = &b->inst[k];

		d->streams += s->streams;
		d->streams_active += s->streams_active;
		d->fragments += s->fragments;
		d->streams_aborted += s->streams_aborted;
		d->streams_resent += s->streams_resent;
	}
	for (unsigned int p = 0; p < SL_MAX_PIPELINES; p++)
		for (unsigned int s = 0; s < SL_MAX_STAGES; s++)
			ADD(SL_STATS_OPERATOR, op[p][s]);
	/* Tenants' levels are the ledger's, which every worker shares. */
	for (unsigned int g = 0; g < SL_MAX_GUARDS; g++) {
		for (unsigned int c = 0; c < SL_GUARD_CTR_MAX; c++)
			a->guard[g][c] += b->guard[g][c];
		if (a->rules[g] != NULL && b->rules[g] != NULL)
			for (uint32_t r = 0; r < a->n_rules[g]; r++) {
				a->rules[g][r].matches +=
					b->rules[g][r].matches;
				a->rules[g][r].blocks += b->rules[g][r].blocks;
				a->rules[g][r].redactions +=
					b->rules[g][r].redactions;
			}
	}
	for (int d = 0; d < 2; d++) {
		struct sl_impair_counters *x =
			d ? &a->impair_tx : &a->impair_rx;
		const struct sl_impair_counters *y =
			d ? &b->impair_tx : &b->impair_rx;

		x->seen += y->seen;
		x->dropped += y->dropped;
		x->duplicated += y->duplicated;
		x->reordered += y->reordered;
	}
	for (unsigned int s = 0; s < SL_STAGE_MAX; s++) {
		a->prof[s].cycles += b->prof[s].cycles;
		a->prof[s].packets += b->prof[s].packets;
	}
#undef ADD_ONE
#undef ADD
}

/* ---------------------------------------------------------------- reset */

static inline void
stats_sub(uint64_t *v, uint64_t base, bool gauge)
{
	if (!gauge && *v >= base)
		*v -= base;
}

void
sl_stats_since(struct sl_stats *now, const struct sl_stats *base)
{
#define SUB(group, from)                                                       \
	do {                                                                   \
		__typeof__(now->from) *d_ = &now->from;                        \
		const __typeof__(now->from) *b_ = &base->from;                 \
		group(SUB_ONE)                                                 \
	} while (0)
#define SUB_ONE(m, kind, prom, help)                                           \
	stats_sub(&d_->m, b_->m, SL_STATS_GAUGE_##kind);

	SUB(SL_STATS_DP, dp);
	SUB(SL_STATS_FLOWS, dp.flows);
	SUB(SL_STATS_LIVE, dp.live);
	SUB(SL_STATS_RTX, dp.rtx);
	SUB(SL_STATS_NEIGH, neigh);
	for (unsigned int r = 0; r < SL_DROP_MAX; r++)
		stats_sub(&now->dp.drops[r], base->dp.drops[r], false);
	for (unsigned int i = 0; i < SL_RESIDENCE_BUCKETS; i++)
		stats_sub(&now->dp.residence[i], base->dp.residence[i], false);
	stats_sub(&now->dp.residence_sum_ns, base->dp.residence_sum_ns, false);
	for (unsigned int k = 0; k < SL_MAX_INSTANCE_UIDS; k++)
		SUB(SL_STATS_INSTANCE, inst[k]);
	for (unsigned int p = 0; p < SL_MAX_PIPELINES; p++)
		for (unsigned int s = 0; s < SL_MAX_STAGES; s++)
			SUB(SL_STATS_OPERATOR, op[p][s]);
	for (unsigned int g = 0; g < SL_MAX_GUARDS; g++)
		for (unsigned int c = 0; c < SL_GUARD_CTR_MAX; c++)
			stats_sub(&now->guard[g][c], base->guard[g][c], false);
	for (unsigned int s = 0; s < SL_STAGE_MAX; s++) {
		stats_sub(&now->prof[s].cycles, base->prof[s].cycles, false);
		stats_sub(&now->prof[s].packets, base->prof[s].packets, false);
	}
#undef SUB_ONE
#undef SUB
}

/* ----------------------------------------------------------------- JSON */

/* One "name":value, a comma before all but the first of an object. */
static void
json_u64(FILE *out, bool *first, const char *name, uint64_t v, bool boolean)
{
	fprintf(out, "%s\"%s\":", *first ? "" : ",", name);
	if (boolean)
		fputs(v ? "true" : "false", out);
	else
		fprintf(out, "%" PRIu64, v);
	*first = false;
}

#define SL_STATS_IS_BOOL_C false
#define SL_STATS_IS_BOOL_G false
#define SL_STATS_IS_BOOL_B true

/* The members of table @group of struct @src as "name":value pairs. */
#define JSON_TABLE(out, first, group, src)                                     \
	do {                                                                   \
		FILE *o_ = (out);                                              \
		bool *f_ = (first);                                            \
		__typeof__(src) s_ = (src);                                    \
		group(JSON_ONE)                                                \
	} while (0)
#define JSON_ONE(m, kind, prom, help)                                          \
	json_u64(o_, f_, #m, s_->m, SL_STATS_IS_BOOL_##kind);

/* ,"name":{ the table }. */
#define JSON_OBJECT(out, name, group, src)                                     \
	do {                                                                   \
		bool first_ = true;                                            \
		fprintf(out, ",\"%s\":{", name);                               \
		JSON_TABLE(out, &first_, group, src);                          \
		fputc('}', out);                                               \
	} while (0)

static void
json_instances(const struct sl_stats *s, FILE *out)
{
	const struct sl_config *cfg = s->cfg;
	char ip[16];

	fprintf(out, ",\"instances\":[");
	for (uint16_t k = 0; k < cfg->n_instances_all; k++) {
		const struct sl_instance_at *at = &cfg->instances_all[k];
		const struct sl_pipeline_cfg *pl =
			&cfg->pipelines[at->pipeline];
		const struct sl_stage_cfg *st = &pl->stages[at->stage];
		const struct sl_instance_cfg *in = &st->instances[at->index];
		bool first = false;

		fprintf(out,
			"%s{\"pipeline\":\"%s\",\"stage\":\"%s\""
			",\"stage_id\":%u,\"aggregation\":%u"
			",\"instance\":\"%s\",\"address\":\"%s:%u\""
			",\"uid\":%u,\"draining\":%s",
			k ? "," : "", pl->name, st->name, st->id,
			st->aggregation, in->name,
			sl_ipv4_format(in->ep.ip, ip, sizeof(ip)), in->ep.port,
			in->uid, in->draining ? "true" : "false");
		JSON_TABLE(out, &first, SL_STATS_INSTANCE, &s->inst[in->uid]);
		fputc('}', out);
	}
	fputc(']', out);
}

static void
json_operators(const struct sl_stats *s, FILE *out)
{
	const struct sl_config *cfg = s->cfg;
	bool any = false;

	fprintf(out, ",\"operators\":[");
	for (uint16_t p = 0; p < cfg->n_pipelines; p++) {
		const struct sl_pipeline_cfg *pl = &cfg->pipelines[p];

		for (uint16_t st_i = 0; st_i < pl->n_stages; st_i++) {
			bool first = false;

			if (pl->stages[st_i].kind == SL_STAGE_ENGINE)
				continue;
			fprintf(out, "%s{\"pipeline\":\"%s\",\"stage\":\"%s\"",
				any ? "," : "", pl->name,
				pl->stages[st_i].name);
			JSON_TABLE(out, &first, SL_STATS_OPERATOR,
				   &s->op[p][st_i]);
			fputc('}', out);
			any = true;
		}
	}
	fputc(']', out);
}

static void
json_tenants(const struct sl_stats *s, FILE *out)
{
	fprintf(out, ",\"tenants\":[");
	for (uint16_t t = 0; t < s->cfg->n_tenants; t++) {
		bool first = false;

		fprintf(out, "%s{\"tenant\":%u", t ? "," : "",
			s->cfg->tenants[t].id);
		JSON_TABLE(out, &first, SL_STATS_TENANT, &s->tenant[t]);
		fputc('}', out);
	}
	fputc(']', out);
}

static void
json_guards(const struct sl_stats *s, FILE *out)
{
	const struct sl_config *cfg = s->cfg;

	fprintf(out, ",\"guards\":[");
	for (uint16_t g = 0; g < cfg->n_guards; g++) {
		const struct sl_guard_ref *r = cfg->guards[g].ref;

		fprintf(out,
			"%s{\"name\":\"%s\",\"rules\":%u,"
			"\"state_bytes\":%zu",
			g ? "," : "", cfg->guards[g].name,
			r != NULL ? r->n_rules : 0,
			r != NULL ? sl_guard_state_size(r->set) : (size_t)0);
		for (int k = 0; k < SL_GUARD_CTR_MAX; k++)
			fprintf(out, ",\"%s\":%" PRIu64,
				sl_guard_counter_name(k), s->guard[g][k]);
		fputc('}', out);
	}
	fputc(']', out);
}

void
sl_stats_json(const struct sl_stats *s, const struct rte_mempool *pool,
	      unsigned int in_use_start, bool final, FILE *out)
{
	const struct sl_dp_counters *c = &s->dp;
	bool first = false;
	uint64_t total = 0;

	fprintf(out, "{\"final\":%s", final ? "true" : "false");
	JSON_TABLE(out, &first, SL_STATS_DP, c);
	fprintf(out, ",\"drops\":{");
	for (int r = 1; r < SL_DROP_MAX; r++) {
		fprintf(out, "%s\"%s\":%" PRIu64, r == 1 ? "" : ",",
			sl_drop_name(r), c->drops[r]);
		total += c->drops[r];
	}
	fprintf(out, "},\"drops_total\":%" PRIu64, total);
	JSON_OBJECT(out, "rtx", SL_STATS_RTX, &c->rtx);
	JSON_OBJECT(out, "liveness", SL_STATS_LIVE, &c->live);
	JSON_OBJECT(out, "quotas", SL_STATS_QUOTA, &s->quota);
	if (s->impair) {
		const struct sl_impair_counters *d[2] = {&s->impair_rx,
							 &s->impair_tx};

		fprintf(out, ",\"impair\":{");
		for (int i = 0; i < 2; i++)
			fprintf(out,
				"%s\"%s\":{\"seen\":%" PRIu64
				",\"dropped\":%" PRIu64
				",\"duplicated\":%" PRIu64
				",\"reordered\":%" PRIu64 "}",
				i ? "," : "", i ? "tx" : "rx", d[i]->seen,
				d[i]->dropped, d[i]->duplicated,
				d[i]->reordered);
		fputc('}', out);
	}
	JSON_OBJECT(out, "neighbours", SL_STATS_NEIGH, &s->neigh);
	fprintf(out, ",\"flows\":{\"active\":%" PRIu64 ",\"capacity\":%" PRIu64,
		s->flows_active, s->flows_capacity);
	JSON_TABLE(out, &first, SL_STATS_FLOWS, &c->flows);
	fputc('}', out);
	json_instances(s, out);
	json_operators(s, out);
	json_tenants(s, out);
	if (s->profile) {
		fprintf(out, ",\"stage_cycles\":{");
		for (int st = 0; st < SL_STAGE_MAX; st++)
			fprintf(out,
				"%s\"%s\":{\"cycles\":%" PRIu64
				",\"packets\":%" PRIu64 "}",
				st ? "," : "", sl_stage_name(st),
				s->prof[st].cycles, s->prof[st].packets);
		fputc('}', out);
	}
	json_guards(s, out);
	fprintf(out, ",\"mbufs\":{\"in_use_start\":%u,\"in_use\":%u}}\n",
		in_use_start, pool ? rte_mempool_in_use_count(pool) : 0);
}

int
sl_stats_write(const struct sl_stats *s, const struct rte_mempool *pool,
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
	sl_stats_json(s, pool, in_use_start, final, f);
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
