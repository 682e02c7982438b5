/* SPDX-License-Identifier: MIT */
/*
 * sl_sched.c - the workers' per-stream events and what the control plane
 * keeps of them (sl_sched.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "sl_dp.h"
#include "sl_hash64.h"
#include "sl_sched.h"

int
sl_sched_attach(struct sl_sched *s, struct sl_workers *ws, uint64_t tsc_hz)
{
	static unsigned int seq;
	char name[RTE_RING_NAMESIZE];
	uint16_t w;

	memset(s, 0, sizeof(*s));
	s->tsc_hz = tsc_hz;
	s->pairs = rte_zmalloc("sl_sched_pairs",
			       sizeof(*s->pairs) * SL_SCHED_PAIRS, 0);
	s->view = rte_zmalloc("sl_sched_view",
			      sizeof(*s->view) * SL_MAX_INSTANCE_UIDS, 0);
	for (unsigned int b = 0; b < 2; b++)
		s->plans[b] =
			rte_zmalloc("sl_sched_plans", sizeof(*s->plans[b]), 64);
	if (s->pairs == NULL || s->view == NULL || s->plans[0] == NULL ||
	    s->plans[1] == NULL) {
		sl_sched_detach(s, ws);
		return -ENOMEM;
	}
	for (w = 0; w < ws->n; w++) {
		snprintf(name, sizeof(name), "sl_sched_%u_%u", seq, w);
		ws->dp[w]->sched_ring = rte_ring_create_elem(
			name, sizeof(struct sl_sched_event), SL_SCHED_RING,
			rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (ws->dp[w]->sched_ring == NULL) {
			int rc = -rte_errno;

			sl_sched_detach(s, ws);
			return rc;
		}
	}
	seq++;
	return 0;
}

void
sl_sched_detach(struct sl_sched *s, struct sl_workers *ws)
{
	for (uint16_t w = 0; w < ws->n; w++) {
		rte_ring_free(ws->dp[w]->sched_ring);
		ws->dp[w]->sched_ring = NULL;
		ws->dp[w]->plans = NULL;
	}
	rte_free(s->pairs);
	s->pairs = NULL;
	rte_free(s->view);
	s->view = NULL;
	for (unsigned int b = 0; b < 2; b++) {
		rte_free(s->plans[b]);
		s->plans[b] = NULL;
	}
	s->plans_out = false;
}

void
sl_sched_report(struct sl_dp *dp, enum sl_sched_kind kind, uint16_t uid,
		uint64_t stream, uint32_t fragments)
{
	struct sl_sched_event ev = {
		.stream = stream,
		.tsc = dp->now,
		.fragments = fragments,
		.uid = uid,
		.kind = (uint8_t)kind,
	};

	if (dp->sched_ring == NULL)
		return;
	if (rte_ring_enqueue_elem(dp->sched_ring, &ev, sizeof(ev)) != 0)
		dp->cnt.sched_lost++;
}

/* Where stream @stream to instance @uid waits, or would: linear probing
 * from its hash, at most 64 slots (a crowded stretch counts as full). */
static struct sl_sched_pair *
pair_slot(struct sl_sched *s, uint64_t stream, uint16_t uid, bool add,
	  uint64_t now)
{
	uint32_t h = (uint32_t)sl_mix64(stream ^ ((uint64_t)uid << 48));
	struct sl_sched_pair *free_slot = NULL;
	uint64_t old = (uint64_t)SL_SCHED_PAIR_MAX_S * s->tsc_hz;

	for (uint32_t k = 0; k < 64; k++) {
		struct sl_sched_pair *p = &s->pairs[(h + k) % SL_SCHED_PAIRS];

		if (p->tsc != 0 && now > p->tsc && now - p->tsc > old) {
			/* Its answer never came (dropped event, dead
			 * instance): forgotten. */
			p->tsc = 0;
			s->n_pairs--;
			s->forgotten++;
			if (s->waiting[p->uid] > 0)
				s->waiting[p->uid]--;
		}
		if (p->tsc == 0) {
			if (free_slot == NULL)
				free_slot = p;
			continue;
		}
		if (p->stream == stream && p->uid == uid)
			return p;
	}
	return add ? free_slot : NULL;
}

/* Bucket of @us: floor(log2(us)), 0 for under 2 us, capped. */
static unsigned int
time_bucket(uint64_t us)
{
	unsigned int b = 0;

	while (us > 1 && b < SL_SCHED_BUCKETS - 1) {
		us >>= 1;
		b++;
	}
	return b;
}

/* Where each uid is in the snapshot in use: pipeline, stage, member
 * index (-1: nowhere). */
typedef int16_t sched_where_t[3];

static void
sched_event(struct sl_sched *s, const struct sl_sched_event *ev,
	    const sched_where_t *where)
{
	struct sl_sched_pair *p;

	s->events++;
	if (ev->uid >= SL_MAX_INSTANCE_UIDS)
		return;
	switch (ev->kind) {
	case SL_SCHED_ROUTED:
		s->inst[ev->uid].routed++;
		p = pair_slot(s, ev->stream, ev->uid, true, ev->tsc);
		if (p == NULL) {
			s->pairs_full++;
			return;
		}
		if (where[ev->uid][0] >= 0)
			s->warm[where[ev->uid][0]][where[ev->uid][1]]
				.warm_tsc[where[ev->uid][2]] =
				ev->tsc != 0 ? ev->tsc : 1;
		if (p->tsc == 0) {
			s->n_pairs++;
			s->waiting[ev->uid]++;
		}
		p->stream = ev->stream;
		p->uid = ev->uid;
		p->tsc = ev->tsc != 0 ? ev->tsc : 1;
		return;
	case SL_SCHED_ENDED:
	case SL_SCHED_ABORTED:
		if (ev->kind == SL_SCHED_ENDED)
			s->inst[ev->uid].ended++;
		else
			s->inst[ev->uid].aborted++;
		p = pair_slot(s, ev->stream, ev->uid, false, ev->tsc);
		if (p == NULL) {
			s->unpaired++;
			return;
		}
		if (ev->kind == SL_SCHED_ENDED && where[ev->uid][0] >= 0) {
			struct sl_sched_stage *st =
				&s->stage[where[ev->uid][0]][where[ev->uid][1]];
			uint64_t us = ev->tsc > p->tsc
					      ? (ev->tsc - p->tsc) * 1000000 /
							s->tsc_hz
					      : 0;

			st->ewma_us = st->answers == 0
					      ? (double)us
					      : st->ewma_us + ((double)us -
							       st->ewma_us) /
								      16.0;
			st->answers++;
			st->time_us_sum += us;
			st->fragments_sum += ev->fragments;
			st->time_us[time_bucket(us)]++;
		}
		p->tsc = 0;
		s->n_pairs--;
		if (s->waiting[ev->uid] > 0)
			s->waiting[ev->uid]--;
		return;
	default:
		return;
	}
}

/* Each stage's observed cost to every worker, when there is one and it
 * moved (SL_SCHED_MIN_ANSWERS, SL_SCHED_REPUBLISH_PCT). */
static void
sched_publish(struct sl_sched *s, struct sl_workers *ws,
	      const struct sl_config *cfg)
{
	for (uint16_t p = 0; p < cfg->n_pipelines; p++)
		for (uint16_t k = 0; k < cfg->pipelines[p].n_stages; k++) {
			struct sl_sched_stage *st = &s->stage[p][k];
			double v = st->ewma_us < 1.0 ? 1.0 : st->ewma_us;
			double pub = st->published_us;

			if (st->answers < SL_SCHED_MIN_ANSWERS)
				continue;
			if (pub == 0 ||
			    v > pub * (1 + SL_SCHED_REPUBLISH_PCT / 100.0) ||
			    v < pub * (1 - SL_SCHED_REPUBLISH_PCT / 100.0)) {
				st->published_us = v > UINT32_MAX ? UINT32_MAX
								  : (uint32_t)v;
				s->published++;
			}
			/* Every worker holds it (a new layout zeroes a
			 * worker's stage states). */
			for (uint16_t w = 0; w < ws->n; w++) {
				uint32_t *c = &ws->dp[w]
						       ->stages[p][k]
						       .cost_us_observed;

				if (__atomic_load_n(c, __ATOMIC_RELAXED) !=
				    st->published_us)
					__atomic_store_n(c, st->published_us,
							 __ATOMIC_RELAXED);
			}
		}
}

unsigned int
sl_sched_poll(struct sl_sched *s, struct sl_workers *ws,
	      const struct sl_config *cfg)
{
	static sched_where_t where[SL_MAX_INSTANCE_UIDS];
	struct sl_sched_event ev[256];
	unsigned int total = 0;

	if (s->pairs == NULL)
		return 0;
	/* Which pipeline and stage each uid is, in the snapshot in use. */
	for (unsigned int u = 0; u < SL_MAX_INSTANCE_UIDS; u++)
		where[u][0] = where[u][1] = where[u][2] = -1;
	/* Warm state is by stage and member index: a new snapshot starts
	 * it again. */
	if (s->warm_cfg != cfg || s->warm_generation != cfg->generation) {
		memset(s->warm, 0, sizeof(s->warm));
		s->warm_cfg = cfg;
		s->warm_generation = cfg->generation;
	}
	for (uint16_t k = 0; k < cfg->n_instances_all; k++) {
		const struct sl_instance_at *at = &cfg->instances_all[k];
		uint16_t uid = sl_config_instance_at(cfg, at)->uid;

		if (uid < SL_MAX_INSTANCE_UIDS) {
			where[uid][0] = at->pipeline;
			where[uid][1] = at->stage;
			where[uid][2] = at->index;
		}
	}
	for (uint16_t w = 0; w < ws->n; w++) {
		struct rte_ring *r = ws->dp[w]->sched_ring;
		unsigned int n;

		if (r == NULL)
			continue;
		while (total < SL_SCHED_POLL_MAX &&
		       (n = rte_ring_dequeue_burst_elem(r, ev, sizeof(ev[0]),
							RTE_DIM(ev), NULL)) !=
			       0) {
			for (unsigned int i = 0; i < n; i++)
				sched_event(s, &ev[i],
					    (const sched_where_t *)where);
			total += n;
		}
	}
	sched_publish(s, ws, cfg);
	return total;
}

/* Stage @k of pipeline index @p: its plan from the planner's view (every
 * worker's reports; liveness as worker 0 sees it). */
static void
sched_plan_stage(struct sl_sched *s, struct sl_workers *ws,
		 const struct sl_config *cfg, uint16_t p, uint8_t k,
		 uint64_t now, struct sl_route_plan *plan)
{
	const struct sl_pipeline_cfg *pl = &cfg->pipelines[p];
	const struct sl_stage_cfg *st = &pl->stages[k];
	const struct sl_instance_state *seen = ws->dp[0]->inst;
	struct sl_stage_state row[SL_MAX_STAGES];
	uint8_t own[1] = {k};
	const uint8_t *members = own;
	uint8_t n_members = 1;

	if (!sl_route_planned(st))
		return;
	/* The pool's stages (or the stage alone) weigh in: their members'
	 * waiting answers, each at its stage's cost. */
	if (st->pool != SL_POOL_NONE) {
		members = pl->pools[st->pool].stages;
		n_members = pl->pools[st->pool].n_stages;
	}
	for (uint8_t m = 0; m < n_members; m++) {
		const struct sl_stage_cfg *o = &pl->stages[members[m]];

		for (uint16_t i = 0; i < o->n_instances; i++) {
			uint16_t uid = o->instances[i].uid;
			struct sl_instance_state *v = &s->view[uid];

			v->answers_owed = s->waiting[uid];
			v->alive = __atomic_load_n(&seen[uid].alive,
						   __ATOMIC_RELAXED);
			v->paused = __atomic_load_n(&seen[uid].paused,
						    __ATOMIC_RELAXED);
			v->reachable = __atomic_load_n(&seen[uid].reachable,
						       __ATOMIC_RELAXED);
		}
	}
	memcpy(row, s->warm[p], sizeof(row[0]) * pl->n_stages);
	for (uint8_t o = 0; o < pl->n_stages; o++)
		row[o].cost_us_observed = s->stage[p][o].published_us;
	/* Equal choices go round robin from one plan to the next. */
	row[k].rr_next = s->warm[p][k].rr_next++;
	sl_route_plan_build(pl, k, row, s->view, now, plan);
}

int
sl_sched_plan(struct sl_sched *s, struct sl_workers *ws,
	      const struct sl_config *cfg, uint64_t now)
{
	struct sl_route_plans *next;
	bool any = false;

	if (s->plans[0] == NULL || ws->n == 0 ||
	    (s->plan_tsc != 0 &&
	     now - s->plan_tsc < s->tsc_hz / 1000 * SL_PLAN_MS))
		return 0;
	for (uint16_t p = 0; p < cfg->n_pipelines && !any; p++)
		for (uint8_t k = 0; k < cfg->pipelines[p].n_stages; k++)
			any |= sl_route_planned(&cfg->pipelines[p].stages[k]);
	if (!any && !s->plans_out)
		return 0;
	/* The spare buffer is written only once no worker can read it. */
	if (s->retiring) {
		for (uint16_t w = 0; w < ws->n; w++)
			if (ws->dp[w]->qsbr != NULL &&
			    rte_rcu_qsbr_check(ws->dp[w]->qsbr,
					       s->retire_token[w],
					       false) != 1) {
				s->plans_waited++;
				return 0;
			}
		s->retiring = false;
	}
	next = s->plans_out ? s->plans[s->plans_cur ^ 1]
			    : s->plans[s->plans_cur];
	if (any) {
		memset(next, 0, sizeof(*next));
		for (uint16_t p = 0; p < cfg->n_pipelines; p++)
			for (uint8_t k = 0; k < cfg->pipelines[p].n_stages; k++)
				sched_plan_stage(s, ws, cfg, p, k, now,
						 &next->stage[p][k]);
		next->cfg = cfg;
		next->generation = cfg->generation;
		next->tsc = now;
	} else {
		next = NULL; /* withdrawn */
	}
	for (uint16_t w = 0; w < ws->n; w++)
		__atomic_store_n(&ws->dp[w]->plans, next, __ATOMIC_RELEASE);
	/* What the workers read before is retired now. */
	for (uint16_t w = 0; w < ws->n; w++)
		s->retire_token[w] =
			ws->dp[w]->qsbr != NULL
				? rte_rcu_qsbr_start(ws->dp[w]->qsbr)
				: 0;
	s->retiring = true;
	if (next != NULL) {
		s->plans_cur = next == s->plans[0] ? 0 : 1;
		s->plans_made++;
	}
	s->plans_out = next != NULL;
	s->plan_tsc = now;
	return 1;
}

int
sl_sched_wait_ms(const struct sl_sched *s, const struct sl_config *cfg)
{
	if (s == NULL || s->plans[0] == NULL)
		return 50;
	for (uint16_t p = 0; p < cfg->n_pipelines; p++)
		for (uint8_t k = 0; k < cfg->pipelines[p].n_stages; k++)
			if (sl_route_planned(&cfg->pipelines[p].stages[k]))
				return SL_PLAN_MS;
	return 50;
}

double
sl_sched_stage_percentile(const struct sl_sched_stage *st, double q)
{
	uint64_t want, seen = 0;

	if (st->answers == 0)
		return 0;
	want = (uint64_t)(q * (double)st->answers);
	if (want >= st->answers)
		want = st->answers - 1;
	for (unsigned int b = 0; b < SL_SCHED_BUCKETS; b++) {
		seen += st->time_us[b];
		if (seen > want)
			return (double)(2ull << b);
	}
	return (double)(2ull << (SL_SCHED_BUCKETS - 1));
}
