/* SPDX-License-Identifier: MIT */
/*
 * sl_live.c - liveness of engine instances (proto/WIRE.md, "Loss repair
 * and liveness").
 *
 * Every liveness.probe_ms sluiced sends each instance of its config a
 * PROBE; an instance answers with one of its own, PAUSE set while it
 * wants no new streams. Anything an instance sends counts as a sign of
 * life. One not heard from for liveness.dead_ms is dead: it takes no new
 * streams (sl_route_takes_new), and every stream routed to it whose
 * answer has not ended (the stream itself may have) is dealt with at once
 * rather than left to time out: sent again to another instance when its
 * stage is idempotent, the dead one answered nothing for it yet and every
 * fragment of it is still kept (an idempotent stage's copies are kept past
 * the ACK for this); otherwise aborted downstream with ABORT (ENGINE) in
 * the place of the answer that will not come (sl_dp_abort_output), and
 * its later fragments dropped (NO_ROUTE). A stream whose entry left the
 * table (its END passed a linger ago) is no longer known here: its
 * request ends by its idle timeout, with ABORT (EXPIRED) to the client.
 * An instance heard from again is alive.
 */
#include <string.h>

#include <rte_byteorder.h>

#include "sl_dp.h"
#include "sl_gtx.h"
#include "sl_live.h"
#include "sl_route.h"
#include "sl_rtx.h"
#include "sl_split.h"
#include "sl_stream.h"

void
sl_live_heard(struct sl_dp *dp, uint16_t uid)
{
	struct sl_instance_state *is = &dp->inst[uid];

	is->heard_tsc = dp->now;
	if (unlikely(!is->alive)) {
		is->alive = true;
		dp->cnt.live.instances_revived++;
	}
}

void
sl_live_probe_input(struct sl_dp *dp, const struct sl_frag_hdr *h, uint32_t ip,
		    uint16_t port)
{
	const struct sl_pipeline_cfg *pl =
		sl_config_find_pipeline(dp->cfg, h->pipeline);

	if (pl != NULL && h->stage >= 1 && h->stage <= pl->n_stages) {
		const struct sl_stage_cfg *st = &pl->stages[h->stage - 1];

		for (uint16_t i = 0; i < st->n_instances; i++) {
			const struct sl_instance_cfg *ic = &st->instances[i];

			if (ic->ep.ip != ip || ic->ep.port != port)
				continue;
			sl_live_heard(dp, ic->uid);
			dp->inst[ic->uid].paused =
				(h->flags & SL_FRAG_F_PAUSE) != 0;
			dp->cnt.live.probes_answered++;
			return;
		}
	}
	dp->cnt.drops[SL_DROP_UNSOLICITED]++;
}

/* The stream a pin carries to an instance, as that instance saw it. */
struct live_stream {
	uint64_t ancestry[SL_ANCESTRY_MAX]; /* wire order */
	uint8_t depth;
};

/*
 * Every fragment of the stream is still kept (from sequence 0) and the
 * dead instance answered nothing for it: send it all to another instance
 * of the stage, as if routed there first. Return true if done.
 */
static bool
live_resend_elsewhere(struct sl_dp *dp, uint8_t p, struct sl_route_pin *pin,
		      const struct live_stream *ls, uint16_t tenant)
{
	const struct sl_pipeline_cfg *pl = &dp->cfg->pipelines[p];
	const struct sl_stage_cfg *st = &pl->stages[pin->stage - 1];
	struct sl_instance_state *old = &dp->inst[pin->instance];
	struct sl_flow_key k;
	uint16_t i;

	/* A GPU stream has no copies to send again. */
	if (!st->idempotent || pin->keypin != UINT32_MAX ||
	    pin->gpu_slot != SL_GTX_SLOT_NONE)
		return false;
	/* Nothing answered yet: no output stream from it in the table. */
	memset(&k, 0, sizeof(k));
	k.pipeline = rte_cpu_to_be_32(pl->id);
	k.stage = rte_cpu_to_be_16(pin->stage);
	k.depth = ls->depth;
	k.src_ip = old->ip;
	k.src_port = old->port;
	k.tenant = rte_cpu_to_be_16(tenant);
	memcpy(k.ancestry, ls->ancestry, 8u * ls->depth);
	if (sl_flow_lookup(dp->flows, &k) != SL_FLOW_NONE)
		return false;
	i = sl_route_pick(pl, (uint8_t)(pin->stage - 1), dp->stages[p],
			  dp->inst, ls->ancestry, ls->depth, dp->now);
	if (i == SL_INSTANCE_NONE || st->instances[i].gpu)
		return false;
	return sl_rtx_move(dp, pin, st->instances[i].uid,
			   st->instances[i].ep.ip, st->instances[i].ep.port);
}

/* The output of the instance at @ip:@port for stream @ls, or
 * SL_FLOW_NONE: it has not started. */
static uint32_t
live_output(struct sl_dp *dp, uint8_t p, uint16_t stage,
	    const struct live_stream *ls, uint16_t tenant, uint32_t ip,
	    uint16_t port)
{
	struct sl_flow_key k;

	memset(&k, 0, sizeof(k));
	k.pipeline = rte_cpu_to_be_32(dp->cfg->pipelines[p].id);
	k.stage = rte_cpu_to_be_16(stage);
	k.depth = ls->depth;
	k.src_ip = ip;
	k.src_port = port;
	k.tenant = rte_cpu_to_be_16(tenant);
	memcpy(k.ancestry, ls->ancestry, 8u * ls->depth);
	return sl_flow_lookup(dp->flows, &k);
}

/*
 * Is the request stream @f belongs to over (its client stream gone, or
 * done: its single output ended, or it was aborted or expired)? Then no
 * answer is owed for any of its streams: nothing more reaches the client.
 */
static bool
live_request_over(struct sl_dp *dp, const struct sl_flow *f)
{
	const struct sl_flow *o;

	if (f->origin == SL_FLOW_NONE)
		return true;
	o = sl_flow_at(dp->flows, f->origin);
	return o->gen != f->origin_gen || o->state == SL_FLOW_FREE ||
	       o->request_done;
}

bool
sl_live_keep(void *ctx, const struct sl_flow *f, uint64_t now)
{
	return sl_live_owed(ctx, f, now);
}

bool
sl_live_owed(struct sl_dp *dp, const struct sl_flow *f, uint64_t now)
{
	const struct sl_edge_block *eb = f->edges;
	uint32_t idx = (uint32_t)(f - dp->flows->flows);
	struct live_stream ls;

	if (dp->cfg->probe_ms == 0 || eb == NULL ||
	    now - f->last_tsc > dp->idle_tsc)
		return false;
	/* An answer that ended lingers out like any stream and is then no
	 * longer in the table to show that it was given: a client stream
	 * (which ends only with its request) always outlives its stage's
	 * answer. Whatever a request that is over was owed no longer
	 * matters; only a request still in flight can be owed anything. */
	if (live_request_over(dp, f))
		return false;
	sl_dp_flow_ancestry(dp, idx, ls.ancestry);
	ls.depth = f->key.depth;
	for (unsigned int e = 0; e < SL_MAX_OUT_EDGES; e++) {
		const struct sl_route_pin *pin = &eb->e[e].pin;
		const struct sl_instance_state *is;

		if (pin->oneshot || pin->instance >= SL_MAX_INSTANCE_UIDS)
			continue;
		is = &dp->inst[pin->instance];
		if (is->alive &&
		    live_output(dp, f->pipeline, pin->stage, &ls, f->tenant,
				is->ip, is->port) == SL_FLOW_NONE)
			return true;
	}
	return false;
}

/* The output of the dead instance at @ip:@port for stream @ls has ended
 * (or: nothing is owed). */
static bool
live_answered(struct sl_dp *dp, uint8_t p, uint16_t stage,
	      const struct live_stream *ls, uint16_t tenant, uint32_t ip,
	      uint16_t port)
{
	uint32_t idx = live_output(dp, p, stage, ls, tenant, ip, port);

	return idx != SL_FLOW_NONE &&
	       sl_flow_at(dp->flows, idx)->end_seq != UINT32_MAX;
}

/*
 * Stream @pin was routed to the dead instance: whatever it still owed
 * for it (the stream may have ended on the way in, the answer is still
 * due) is sent elsewhere or aborted.
 */
static void
live_handle_pin(struct sl_dp *dp, uint8_t p, struct sl_route_pin *pin,
		const struct live_stream *ls, uint16_t tenant)
{
	struct sl_instance_state *is = &dp->inst[pin->instance];
	uint32_t ip = is->ip;
	uint16_t port = is->port;

	if (live_answered(dp, p, pin->stage, ls, tenant, ip, port)) {
		/* Nothing owed: later fragments need no route. */
		sl_route_pin_release(dp, pin);
		return;
	}
	if (live_resend_elsewhere(dp, p, pin, ls, tenant)) {
		is->streams_resent++;
		return;
	}
	is->streams_aborted++;
	sl_route_pin_release(dp, pin);
	sl_rtx_forget(dp, pin);
	pin->instance = SL_INSTANCE_REFUSED;
	sl_dp_abort_output(dp, p, pin->stage, ls->ancestry, ls->depth, tenant,
			   ip, port, SL_ABORT_ENGINE);
}

/* What flow @idx has to do with dead instance @uid: the stream it was
 * sending (its answer under way, or a gap before an END it will never
 * fill), or streams routed to it whose answer has not ended. */
static void
live_flow_died(struct sl_dp *dp, uint16_t uid, uint32_t idx)
{
	struct sl_flow *f = sl_flow_at(dp->flows, idx);
	struct sl_instance_state *is = &dp->inst[uid];
	struct sl_edge_block *eb;
	struct live_stream ls;

	if (f->state == SL_FLOW_ACTIVE && f->key.src_ip == is->ip &&
	    f->key.src_port == is->port && f->next_seq <= f->end_seq) {
		is->streams_aborted++;
		sl_dp_end_stream(dp, idx, SL_ABORT_ENGINE);
	}
	eb = f->edges; /* after: the ABORT may have made or freed it */
	if (f->state == SL_FLOW_FREE || eb == NULL)
		return;
	sl_dp_flow_ancestry(dp, idx, ls.ancestry);
	ls.depth = f->key.depth;
	for (unsigned int e = 0; e < SL_MAX_OUT_EDGES; e++) {
		struct sl_edge_state *es = &eb->e[e];
		struct sl_route_pin *child;

		if (es->pin.instance == uid && !es->pin.oneshot)
			live_handle_pin(dp, f->pipeline, &es->pin, &ls,
					f->tenant);
		if (es->split == NULL)
			continue;
		child = sl_split_pin(dp, es->split, false);
		if (child != NULL && child->instance == uid) {
			struct live_stream cs;

			sl_split_child_ancestry(es->split, cs.ancestry,
						&cs.depth);
			live_handle_pin(dp, f->pipeline, child, &cs, f->tenant);
		}
	}
}

/* Instance @uid died: its flows are dealt with by sl_live_deaths. */
static void
live_instance_died(struct sl_dp *dp, uint16_t uid)
{
	for (uint32_t i = 0; i < dp->n_dying; i++)
		if (dp->dying[i] == uid)
			return;
	if (dp->n_dying < SL_MAX_INSTANCE_UIDS)
		dp->dying[dp->n_dying++] = uid;
}

bool
sl_live_deaths(struct sl_dp *dp)
{
	while (dp->n_dying != 0) {
		uint16_t uid = dp->dying[0];

		while (dp->dying_cursor < dp->flows->capacity) {
			if (sl_dp_queues_busy(dp))
				return true;
			live_flow_died(dp, uid, dp->dying_cursor++);
		}
		dp->dying_cursor = 0;
		dp->n_dying--;
		memmove(dp->dying, dp->dying + 1,
			dp->n_dying * sizeof(dp->dying[0]));
	}
	return false;
}

/* Instance @uid found dead: what it owed is aborted or sent elsewhere. */
static void
live_kill(struct sl_dp *dp, uint16_t uid)
{
	struct sl_instance_state *is = &dp->inst[uid];

	is->alive = false;
	is->paused = false;
	is->deaths++;
	is->answers_owed = 0;
	dp->cnt.live.instances_died++;
	live_instance_died(dp, uid);
}

void
sl_live_housekeeping(struct sl_dp *dp)
{
	const struct sl_config *cfg = dp->cfg;
	const uint64_t ms = dp->tsc_hz / 1000;
	/* With many workers the first one probes; the answers reach them
	 * all (sl_steer.h), and each judges deaths for its own streams. */
	bool probe = dp->now >= dp->next_probe_tsc && dp->worker == 0;

	/* Liveness off (probe_ms 0): only the instances of a cluster node
	 * that left die, so that their streams end at once. */
	if (cfg->probe_ms == 0) {
		for (uint16_t k = 0; k < cfg->n_instances_all; k++) {
			const struct sl_instance_cfg *in =
				sl_config_instance_at(cfg,
						      &cfg->instances_all[k]);

			if (in->down && dp->inst[in->uid].alive)
				live_kill(dp, in->uid);
		}
		return;
	}
	if (probe)
		dp->next_probe_tsc = dp->now + ms * cfg->probe_ms;
	for (uint16_t k = 0; k < cfg->n_instances_all; k++) {
		const struct sl_instance_at *at = &cfg->instances_all[k];
		const struct sl_pipeline_cfg *pl =
			&cfg->pipelines[at->pipeline];
		const struct sl_instance_cfg *in =
			sl_config_instance_at(cfg, at);
		uint16_t uid = in->uid;
		struct sl_instance_state *is = &dp->inst[uid];

		/* On a cluster node that left (its lease expired): dead
		 * now, and not asked again until the node is back. */
		if (is->alive &&
		    (in->down || dp->now - is->heard_tsc > ms * cfg->dead_ms))
			live_kill(dp, uid);
		if (probe && !in->down)
			sl_live_probe(dp, pl, &pl->stages[at->stage], uid);
	}
}

void
sl_live_probe(struct sl_dp *dp, const struct sl_pipeline_cfg *pl,
	      const struct sl_stage_cfg *st, uint16_t uid)
{
	struct sl_instance_state *is = &dp->inst[uid];
	struct sl_frag_hdr h;

	memset(&h, 0, sizeof(h));
	h.pipeline = pl->id;
	h.stage = st->id;
	h.depth = 1;
	h.send_ns =
		(uint64_t)(((unsigned __int128)dp->now * dp->ns_per_tsc_q32) >>
			   32);
	if (sl_dp_send_control(dp, is->ip, is->port, &h, SL_FRAG_F_PROBE,
			       is->probe_seq, 0) == 0) {
		is->probe_seq++;
		dp->cnt.live.probes_sent++;
	}
}
