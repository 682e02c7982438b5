/* SPDX-License-Identifier: MIT */
/*
 * sl_sched.c - the workers' per-stream events and what the control plane
 * keeps of them (sl_sched.h).
 */
#include <errno.h>
#include <math.h>
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
#include "sl_stream.h"

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
	s->reqs = rte_zmalloc("sl_sched_reqs", sizeof(*s->reqs) * SL_SCHED_REQS,
			      0);
	s->view = rte_zmalloc("sl_sched_view",
			      sizeof(*s->view) * SL_MAX_INSTANCE_UIDS, 0);
	for (unsigned int b = 0; b < 2; b++)
		s->plans[b] =
			rte_zmalloc("sl_sched_plans", sizeof(*s->plans[b]), 64);
	if (s->pairs == NULL || s->reqs == NULL || s->view == NULL ||
	    s->plans[0] == NULL || s->plans[1] == NULL) {
		sl_sched_detach(s, ws);
		return -ENOMEM;
	}
	for (w = 0; w < ws->n; w++) {
		struct sl_dp *dp = ws->dp[w];

		snprintf(name, sizeof(name), "sl_sched_%u_%u", seq, w);
		dp->sched_ring = rte_ring_create_elem(
			name, sizeof(struct sl_sched_event), SL_SCHED_RING,
			rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
		snprintf(name, sizeof(name), "sl_prompt_%u_%u", seq, w);
		dp->prompt_ring = rte_ring_create_elem(
			name, sizeof(struct sl_sched_prompt),
			SL_SCHED_PROMPT_RING, rte_socket_id(),
			RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (dp->sched_ring == NULL || dp->prompt_ring == NULL) {
			int rc = -rte_errno;

			sl_sched_detach(s, ws);
			return rc;
		}
		dp->scans =
			rte_zmalloc("sl_sched_scans", sizeof(*dp->scans), 64);
		if (dp->scans == NULL) {
			sl_sched_detach(s, ws);
			return -ENOMEM;
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
		rte_ring_free(ws->dp[w]->prompt_ring);
		ws->dp[w]->prompt_ring = NULL;
		rte_free(ws->dp[w]->scans);
		ws->dp[w]->scans = NULL;
		ws->dp[w]->plans = NULL;
	}
	rte_free(s->pairs);
	s->pairs = NULL;
	rte_free(s->reqs);
	s->reqs = NULL;
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
		uint64_t request, uint64_t stream, uint32_t fragments)
{
	struct sl_sched_event ev = {
		.stream = stream,
		.request = request,
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

void
sl_sched_prompt_feed(struct sl_dp *dp, struct rte_mbuf *m,
		     const struct sl_flow *f, uint32_t flow)
{
	const struct sl_pkt_meta *pm = sl_pkt_meta(m);
	struct sl_sched_scan *sc = &dp->scans->slot[flow % SL_SCHED_SCANS];
	uint64_t request = rte_cpu_to_be_64(sl_dp_request_id(dp, flow, f->gen));
	struct sl_token_iter it;
	struct sl_token tok;

	if (sc->request != request) {
		/* Only a stream seen from its start is scanned; its slot is
		 * taken from another only when that one went quiet. */
		if (pm->seq != 0)
			return;
		if (sc->request != 0 &&
		    dp->now - sc->last_tsc <
			    (uint64_t)SL_SCHED_SCAN_IDLE_S * dp->tsc_hz) {
			dp->cnt.prompts_unscanned++;
			return;
		}
		sc->request = request;
		sc->tenant = f->tenant;
		sl_cost_scan_init(&sc->scan);
	}
	sc->last_tsc = dp->now;
	/* Parse checked the tokens. */
	sl_token_iter_init(
		&it,
		rte_pktmbuf_mtod_offset(m, const uint8_t *,
					pm->hdr_off + SL_WIRE_HDR_LEN),
		pm->dgram_len - SL_WIRE_HDR_LEN);
	while (sl_token_next(&it, &tok))
		sl_cost_scan_feed(&sc->scan, tok.text, tok.len);
	if (pm->flags & SL_FRAG_F_END) {
		struct sl_sched_prompt pr = {
			.request = request,
			.tenant = sc->tenant,
			.scan = sc->scan,
		};

		if (rte_ring_enqueue_elem(dp->prompt_ring, &pr, sizeof(pr)) !=
		    0)
			dp->cnt.sched_lost++;
		sc->request = 0;
	} else if (pm->flags & SL_FRAG_F_ABORT) {
		sc->request = 0;
	}
}

/* A routed stream no longer waits: its instance's counts give it back. */
static void
pair_free(struct sl_sched *s, struct sl_sched_pair *p)
{
	p->tsc = 0;
	s->n_pairs--;
	if (s->waiting[p->uid] > 0)
		s->waiting[p->uid]--;
	s->work_us[p->uid] -= RTE_MIN(s->work_us[p->uid], p->pred_us);
}

/* The prompt of @request, or where it would go (@add): linear probing as
 * for pairs, entries older than SL_SCHED_REQ_MAX_S taken over. */
static struct sl_sched_req *
req_slot(struct sl_sched *s, uint64_t request, bool add, uint64_t now)
{
	uint32_t h = (uint32_t)sl_mix64(request ^ 0x72657173ull);
	struct sl_sched_req *free_slot = NULL;
	uint64_t old = (uint64_t)SL_SCHED_REQ_MAX_S * s->tsc_hz;

	for (uint32_t k = 0; k < 64; k++) {
		struct sl_sched_req *r = &s->reqs[(h + k) % SL_SCHED_REQS];

		if (r->tsc != 0 && now > r->tsc && now - r->tsc > old)
			r->tsc = 0;
		if (r->tsc == 0) {
			if (free_slot == NULL)
				free_slot = r;
			continue;
		}
		if (r->request == request)
			return r;
	}
	if (!add || free_slot == NULL)
		return NULL;
	memset(free_slot, 0, sizeof(*free_slot));
	free_slot->request = request;
	free_slot->tsc = now != 0 ? now : 1;
	return free_slot;
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
			pair_free(s, p);
			s->forgotten++;
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

/*
 * The work (us) a stream of stage @k of pipeline index @p is predicted to
 * be: the stage's cost (observed, else the file's), scaled by how much
 * longer than the stage's typical answer the cost model predicts this
 * request's to be, exp(predicted - mean of log(1 + fragments)), within
 * [1/16, 16]; the cost alone where there is no prompt, no installed
 * (trained, private) model, or too few answers seen.
 */
static uint64_t
sched_predict(struct sl_sched *s, const struct sl_config *cfg, int p, int k,
	      const struct sl_sched_req *r)
{
	const struct sl_stage_cfg *st = &cfg->pipelines[p].stages[k];
	const struct sl_sched_stage *ob = &s->stage[p][k];
	double cost = ob->published_us != 0 ? ob->published_us : st->cost_us;
	double x[SL_COST_DIM], y, ratio;

	/* The public mean alone says nothing of this request. The
	 * installed model only: routing weighs every tenant's streams
	 * against each other, and a tenant's personal model (no noise) must
	 * never arbitrate between tenants (sl_cost.h). */
	if (r == NULL || !r->have_prompt || s->cost == NULL ||
	    !s->cost_installed || ob->answers < SL_SCHED_MIN_ANSWERS)
		return (uint64_t)cost;
	sl_cost_scan_features(&r->scan, st->id, x);
	if (sl_cost_predict(s->cost, SL_COST_SHARED, x, &y) != 0)
		return (uint64_t)cost;
	ratio = exp(y - ob->log_fragments_sum / (double)ob->answers);
	ratio = ratio < 1.0 / 16 ? 1.0 / 16 : ratio > 16 ? 16 : ratio;
	s->predicted++;
	return (uint64_t)(cost * ratio);
}

/* @p waits for instance @uid with work @us. */
static void
pair_predict(struct sl_sched *s, struct sl_sched_pair *p, uint64_t us)
{
	s->work_us[p->uid] -= RTE_MIN(s->work_us[p->uid], p->pred_us);
	p->pred_us = us;
	s->work_us[p->uid] += us;
}

static void
sched_event(struct sl_sched *s, const struct sl_sched_event *ev,
	    const struct sl_config *cfg)
{
	const int16_t *at =
		s->where[ev->uid < SL_MAX_INSTANCE_UIDS ? ev->uid : 0];
	struct sl_sched_pair *p;
	struct sl_sched_req *r;

	s->events++;
	if (ev->uid >= SL_MAX_INSTANCE_UIDS)
		return;
	r = req_slot(s, ev->request, false, ev->tsc);
	switch (ev->kind) {
	case SL_SCHED_ROUTED:
		s->inst[ev->uid].routed++;
		p = pair_slot(s, ev->stream, ev->uid, true, ev->tsc);
		if (p == NULL) {
			s->pairs_full++;
			return;
		}
		if (at[0] >= 0)
			s->warm[at[0]][at[1]].warm_tsc[at[2]] =
				ev->tsc != 0 ? ev->tsc : 1;
		if (p->tsc == 0) {
			s->n_pairs++;
			s->waiting[ev->uid]++;
			p->pred_us = 0;
		}
		p->stream = ev->stream;
		p->request = ev->request;
		p->uid = ev->uid;
		p->tsc = ev->tsc != 0 ? ev->tsc : 1;
		/* A stream of the request routed before its prompt came
		 * (the client still sending it): predicted again when it
		 * comes. */
		if (ev->stream == ev->request && r == NULL)
			r = req_slot(s, ev->request, true, ev->tsc);
		if (ev->stream == ev->request && r != NULL && !r->have_prompt &&
		    r->n_early < RTE_DIM(r->early_uid))
			r->early_uid[r->n_early++] = ev->uid;
		if (at[0] >= 0)
			pair_predict(s, p,
				     sched_predict(s, cfg, at[0], at[1], r));
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
		if (ev->kind == SL_SCHED_ENDED && at[0] >= 0) {
			struct sl_sched_stage *st = &s->stage[at[0]][at[1]];
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
			st->log_fragments_sum += sl_cost_target(ev->fragments);
			st->time_us[time_bucket(us)]++;
			/* A row of the tenant's own traffic. */
			if (r != NULL && r->have_prompt && s->cost != NULL) {
				double x[SL_COST_DIM];
				int rc;

				sl_cost_scan_features(
					&r->scan,
					cfg->pipelines[at[0]].stages[at[1]].id,
					x);
				rc = sl_cost_add_tenant(
					s->cost, r->tenant, x,
					sl_cost_target(ev->fragments));
				if (rc >= 0 && rc < SL_COST_ROW_MAX)
					s->rows[rc]++;
				else
					s->rows_refused++;
			}
		}
		pair_free(s, p);
		return;
	default:
		return;
	}
}

/* A request's prompt came: kept, and its streams routed before it
 * predicted again. */
static void
sched_prompt(struct sl_sched *s, const struct sl_sched_prompt *pr,
	     const struct sl_config *cfg, uint64_t now)
{
	struct sl_sched_req *r = req_slot(s, pr->request, true, now);

	if (r == NULL) {
		s->prompts_full++;
		return;
	}
	s->prompts++;
	r->tenant = pr->tenant;
	r->scan = pr->scan;
	r->have_prompt = true;
	for (uint8_t i = 0; i < r->n_early; i++) {
		uint16_t uid = r->early_uid[i];
		const int16_t *at = s->where[uid];
		struct sl_sched_pair *p;

		if (uid >= SL_MAX_INSTANCE_UIDS || at[0] < 0)
			continue;
		p = pair_slot(s, pr->request, uid, false, now);
		if (p != NULL)
			pair_predict(s, p,
				     sched_predict(s, cfg, at[0], at[1], r));
	}
	r->n_early = 0;
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
	struct sl_sched_event ev[256];
	unsigned int total = 0;

	if (s->pairs == NULL)
		return 0;
	/* A new snapshot: where each uid is in it; warm state (by stage and
	 * member index) starts again. */
	if (s->warm_cfg != cfg || s->warm_generation != cfg->generation) {
		memset(s->warm, 0, sizeof(s->warm));
		memset(s->where, 0xff, sizeof(s->where)); /* -1: nowhere */
		for (uint16_t k = 0; k < cfg->n_instances_all; k++) {
			const struct sl_instance_at *at =
				&cfg->instances_all[k];
			uint16_t uid = sl_config_instance_at(cfg, at)->uid;

			if (uid < SL_MAX_INSTANCE_UIDS) {
				s->where[uid][0] = at->pipeline;
				s->where[uid][1] = at->stage;
				s->where[uid][2] = at->index;
			}
		}
		s->warm_cfg = cfg;
		s->warm_generation = cfg->generation;
	}
	if (s->cost != NULL) {
		struct sl_cost_stats cs;

		sl_cost_stats(s->cost, &cs);
		s->cost_installed = cs.installed;
	}
	/* Prompts first: a request's prompt is reported before its
	 * answers end (at its END, its first stream's routing at the
	 * latest). */
	for (uint16_t w = 0; w < ws->n; w++) {
		struct rte_ring *r = ws->dp[w]->prompt_ring;
		struct sl_sched_prompt pr;

		while (r != NULL && total < SL_SCHED_POLL_MAX &&
		       rte_ring_dequeue_elem(r, &pr, sizeof(pr)) == 0) {
			sched_prompt(s, &pr, cfg, rte_rdtsc());
			total++;
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
				sched_event(s, &ev[i], cfg);
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
			v->work_us = s->work_us[uid];
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
