/* SPDX-License-Identifier: MIT */
/*
 * sl_ctl.c - the control API backend of sluiced (see sl_ctl.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "sl_confine.h"
#include "sl_config.h"
#include "sl_cost.h"
#include "sl_ctl.h"
#include "sl_sched.h"
#include "sl_guard.h"
#include "sl_op.h"
#include "sl_stats.h"
#include "sl_worker.h"

#define CODE(x) SLUICE__V1__ERROR__CODE__CODE_##x

static char *fmt(struct sl_api_arena *a, const char *f, ...)
	__attribute__((format(printf, 2, 3)));

static char *
fmt(struct sl_api_arena *a, const char *f, ...)
{
	char buf[128];
	va_list ap;

	va_start(ap, f);
	vsnprintf(buf, sizeof(buf), f, ap);
	va_end(ap);
	return sl_api_strdup(a, buf);
}

static char *
endpoint(struct sl_api_arena *a, const struct sl_endpoint *ep)
{
	char ip[16];

	return fmt(a, "%s:%u", sl_ipv4_format(ep->ip, ip, sizeof(ip)),
		   ep->port);
}

/* "FIELD: message" (sl_config_instance_edit, sl_config_check_replace). */
static void
ctl_error(struct sl_api_error *err, int code, const char *line)
{
	const char *sep = strstr(line, ": ");
	char field[96];

	if (sep == NULL || (size_t)(sep - line) >= sizeof(field)) {
		sl_api_error_set(err, code, "", "%s", line);
		return;
	}
	memcpy(field, line, (size_t)(sep - line));
	field[sep - line] = '\0';
	sl_api_error_set(err, code, field, "%s", line);
}

/* ------------------------------------------------------ config to protobuf */

/* @n instances as messages; NULL on no memory. */
static Sluice__V1__Instance **
instances_msg(struct sl_api_arena *a, const struct sl_instance_cfg *in,
	      uint16_t n)
{
	Sluice__V1__Instance **v = sl_api_new(a, Sluice__V1__Instance *, n);
	char ip[16];

	if (v == NULL && n != 0)
		return NULL;
	for (uint16_t i = 0; i < n; i++) {
		Sluice__V1__Instance *im =
			sl_api_new(a, Sluice__V1__Instance, 1);

		if (im == NULL)
			return NULL;
		sluice__v1__instance__init(im);
		im->name = sl_api_strdup(a, in[i].name);
		im->address = sl_api_strdup(
			a, sl_ipv4_format(in[i].ep.ip, ip, sizeof(ip)));
		im->port = in[i].ep.port;
		im->gpu = in[i].gpu;
		v[i] = im;
	}
	return v;
}

/* The pools of @pl; their members are those of their first stage. */
static int
pools_msg(struct sl_api_arena *a, const struct sl_pipeline_cfg *pl,
	  Sluice__V1__Pipeline *m)
{
	m->n_pools = pl->n_pools;
	m->pools = sl_api_new(a, Sluice__V1__Pool *, pl->n_pools);
	if (pl->n_pools != 0 && m->pools == NULL)
		return -ENOMEM;
	for (uint8_t k = 0; k < pl->n_pools; k++) {
		const struct sl_pool_cfg *po = &pl->pools[k];
		const struct sl_stage_cfg *first = &pl->stages[po->stages[0]];
		Sluice__V1__Pool *pm = sl_api_new(a, Sluice__V1__Pool, 1);

		if (pm == NULL)
			return -ENOMEM;
		sluice__v1__pool__init(pm);
		pm->name = sl_api_strdup(a, po->name);
		pm->policy = (Sluice__V1__Balance)po->policy;
		pm->load_bound = po->load_bound;
		pm->warm_prefixes = po->warm_prefixes;
		pm->n_instances = first->n_instances;
		pm->instances =
			instances_msg(a, first->instances, first->n_instances);
		pm->n_stages = po->n_stages;
		pm->stages = sl_api_new(a, char *, po->n_stages);
		if ((first->n_instances != 0 && pm->instances == NULL) ||
		    pm->stages == NULL)
			return -ENOMEM;
		for (uint8_t j = 0; j < po->n_stages; j++)
			pm->stages[j] = sl_api_strdup(
				a, pl->stages[po->stages[j]].name);
		m->pools[k] = pm;
	}
	return 0;
}

static Sluice__V1__Pipeline *
pipeline_msg(struct sl_api_arena *a, const struct sl_pipeline_cfg *pl)
{
	Sluice__V1__Pipeline *m = sl_api_new(a, Sluice__V1__Pipeline, 1);

	if (m == NULL)
		return NULL;
	sluice__v1__pipeline__init(m);
	m->name = sl_api_strdup(a, pl->name);
	m->id = pl->id;
	m->single_output = pl->single_output;
	m->n_stages = pl->n_stages;
	m->stages = sl_api_new(a, Sluice__V1__Stage *, pl->n_stages);
	m->n_edges = pl->n_edges;
	m->edges = sl_api_new(a, Sluice__V1__Edge *, pl->n_edges);
	if ((pl->n_stages && m->stages == NULL) ||
	    (pl->n_edges && m->edges == NULL))
		return NULL;
	for (uint16_t s = 0; s < pl->n_stages; s++) {
		const struct sl_stage_cfg *st = &pl->stages[s];
		Sluice__V1__Stage *sm = sl_api_new(a, Sluice__V1__Stage, 1);

		if (sm == NULL)
			return NULL;
		sluice__v1__stage__init(sm);
		sm->name = sl_api_strdup(a, st->name);
		sm->id = st->id;
		sm->aggregation = st->aggregation;
		sm->balance = (Sluice__V1__Balance)st->balance;
		sm->kind = (Sluice__V1__StageKind)st->kind;
		sm->depth = st->depth_in;
		sm->load_bound = st->load_bound;
		sm->topk = st->topk;
		sm->max_groups = st->max_groups;
		sm->max_group_bytes = st->max_group_bytes;
		sm->pool = sl_api_strdup(a, st->pool != SL_POOL_NONE
						    ? pl->pools[st->pool].name
						    : "");
		sm->cost_us = st->cost_us;
		sm->warm_saving_us = st->warm_saving_us;
		sm->n_instances = st->n_instances;
		sm->instances =
			instances_msg(a, st->instances, st->n_instances);
		if (st->n_instances != 0 && sm->instances == NULL)
			return NULL;
		m->stages[s] = sm;
	}
	for (uint16_t e = 0; e < pl->n_edges; e++) {
		const struct sl_edge_cfg *ec = &pl->edges[e];
		Sluice__V1__Edge *em = sl_api_new(a, Sluice__V1__Edge, 1);

		if (em == NULL)
			return NULL;
		sluice__v1__edge__init(em);
		em->id = ec->id;
		em->from = sl_api_strdup(a, sl_stage_name_of(pl, ec->from));
		em->to = sl_api_strdup(a, sl_stage_name_of(pl, ec->to));
		em->from_stage = ec->from;
		em->to_stage = ec->to;
		em->mode = (Sluice__V1__EdgeMode)ec->mode;
		em->split = (Sluice__V1__Split)ec->split;
		em->pattern = sl_api_strdup(a, ec->pattern);
		em->stream_children = ec->stream_children;
		em->depth_in = ec->depth_in;
		em->depth_out = ec->depth_out;
		m->edges[e] = em;
	}
	return pools_msg(a, pl, m) == 0 ? m : NULL;
}

static int
pipelines_msg(struct sl_api_arena *a, const struct sl_config *cfg,
	      const char *name, size_t *n, Sluice__V1__Pipeline ***out)
{
	*out = sl_api_new(a, Sluice__V1__Pipeline *, cfg->n_pipelines);
	*n = 0;
	if (*out == NULL && cfg->n_pipelines)
		return -ENOMEM;
	for (uint16_t p = 0; p < cfg->n_pipelines; p++) {
		if (name != NULL && name[0] != '\0' &&
		    strcmp(name, cfg->pipelines[p].name) != 0)
			continue;
		(*out)[*n] = pipeline_msg(a, &cfg->pipelines[p]);
		if ((*out)[*n] == NULL)
			return -ENOMEM;
		(*n)++;
	}
	return 0;
}

/* ------------------------------------------------------------- publishing */

bool
sl_ctl_gpu_refused(const struct sl_config *cfg, bool have_gpu, char *msg,
		   size_t len)
{
	if (have_gpu)
		return false;
	for (uint16_t k = 0; k < cfg->n_instances_all; k++) {
		const struct sl_instance_at *at = &cfg->instances_all[k];
		const struct sl_instance_cfg *in =
			sl_config_instance_at(cfg, at);
		const struct sl_pipeline_cfg *pl =
			&cfg->pipelines[at->pipeline];

		if (!in->gpu)
			continue;
		snprintf(msg, len,
			 "pipelines.%s.stages.%s.instances.%s.gpu: a local GPU "
			 "instance, but sluiced runs with --gpu=off (start it "
			 "with --gpu=host, cuda or auto)",
			 pl->name, pl->stages[at->stage].name, in->name);
		return true;
	}
	return false;
}

/* Make @next the snapshot in use; @next is consumed either way. */
static int
ctl_publish(struct sl_ctl *ctl, struct sl_config *next,
	    struct sl_api_error *err)
{
	const struct sl_config *old = NULL;
	char why[512];
	int rc;

	if (sl_ctl_gpu_refused(next, ctl->gpu, why, sizeof(why))) {
		sl_api_error_set(err, CODE(INVALID), "", "%s", why);
		sl_config_free(next);
		return -EINVAL;
	}
	next->generation = ctl->generation + 1;
	sl_config_share_patterns(next, (struct sl_config *)ctl->cfg);
	rc = sl_workers_publish(ctl->ws, next, &old);
	if (rc != 0) {
		/* Nothing changed: the running snapshot takes its own
		 * databases back before the refused one goes. */
		sl_config_share_patterns(next, (struct sl_config *)ctl->cfg);
		sl_config_free(next);
		if (rc == -ETIMEDOUT)
			sl_api_error_set(err, CODE(UNAVAILABLE), "",
					 "the dataplane did not take the new "
					 "config");
		else if (rc == -EBUSY)
			sl_api_error_set(err, CODE(UNAVAILABLE), "",
					 "a guard's streams need larger state "
					 "than before, and %d earlier guard "
					 "states are still held by streams in "
					 "flight; nothing changed, try again "
					 "once they end (at most the idle "
					 "timeout)",
					 SL_GUARD_POOLS_RETIRED);
		else
			sl_api_error_set(
				err, CODE(UNAVAILABLE), "",
				"the dataplane could not build the new "
				"config's state (%s); nothing changed",
				strerror(-rc));
		return rc;
	}
	ctl->generation++;
	ctl->cfg = next;
	sl_config_free((struct sl_config *)old);
	return 0;
}

/* The change could not be kept: nothing was published. */
static void
state_error(struct sl_api_error *err, int rc, const char *msg)
{
	if (rc == -ENOSPC)
		sl_api_error_set(err, CODE(LIMIT), "", "%s", msg);
	else
		sl_api_error_set(err, CODE(UNAVAILABLE), "",
				 "not saved, nothing changed: %s", msg);
}

/* Publish @next (consumed) after its change was saved; a failed publish
 * takes the saved change back. */
static int
ctl_commit(struct sl_ctl *ctl, struct sl_config *next, struct sl_api_error *err)
{
	char msg[1024];

	if (ctl_publish(ctl, next, err) == 0)
		return 0;
	if (ctl->state != NULL &&
	    sl_state_undo_last(ctl->state, msg, sizeof(msg)) != 0)
		fprintf(stderr,
			"sluiced: state: cannot take back the change the "
			"dataplane refused: %s\n",
			msg);
	return -EAGAIN;
}

/* A node of a cluster takes its changes from etcd only: one changed
 * through its own API would run apart from the others. */
static int
ctl_cluster_refuses(const struct sl_ctl *ctl, struct sl_api_error *err)
{
	if (ctl->cluster_node == NULL)
		return 0;
	sl_api_error_set(err, CODE(UNAVAILABLE), "",
			 "this sluiced is node %s of the cluster at %s: change "
			 "the cluster's config there (sluicectl --cluster "
			 "ENDPOINTS apply FILE), not one node",
			 ctl->cluster_node, ctl->cluster_endpoints);
	return -EPERM;
}

/* Whether instance @in of @cfg is on a cluster node that is not a live
 * member. */
static bool
ctl_instance_down(const struct sl_ctl *ctl, const struct sl_config *cfg,
		  const struct sl_instance_cfg *in)
{
	if (!in->remote || in->node == 0)
		return false;
	for (uint32_t m = 0; m < ctl->n_members; m++)
		if (strcmp(cfg->nodes[in->node - 1].name, ctl->members[m]) == 0)
			return false;
	return true;
}

/* Mark the instances of nodes that are not live members down in @cfg. */
static void
ctl_mark_down(const struct sl_ctl *ctl, struct sl_config *cfg)
{
	for (uint16_t k = 0; k < cfg->n_instances_all; k++) {
		struct sl_instance_cfg *in =
			sl_config_instance_at(cfg, &cfg->instances_all[k]);

		in->down = ctl_instance_down(ctl, cfg, in);
	}
}

int
sl_ctl_cluster_members(struct sl_ctl *ctl, const char (*names)[32], uint32_t n,
		       char *msg, size_t msglen)
{
	const struct sl_config *cfg = ctl->cfg;
	struct sl_api_error err = {0};
	struct sl_config *next;
	uint16_t k;

	if (n > RTE_DIM(ctl->members))
		n = RTE_DIM(ctl->members);
	memcpy(ctl->members, names, n * sizeof(names[0]));
	ctl->n_members = n;
	/* A copy (its splitters compiled again) only when a flag moves. */
	for (k = 0; k < cfg->n_instances_all; k++) {
		const struct sl_instance_cfg *in =
			sl_config_instance_at(cfg, &cfg->instances_all[k]);

		if (in->down != ctl_instance_down(ctl, cfg, in))
			break;
	}
	if (k == cfg->n_instances_all)
		return 0;
	next = sl_config_clone(cfg);
	if (next == NULL) {
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	ctl_mark_down(ctl, next);
	if (ctl_publish(ctl, next, &err) != 0) {
		snprintf(msg, msglen, "%s", err.message);
		return -EAGAIN;
	}
	return 0;
}

/*
 * @yaml compiled as the snapshot that would replace the one in use
 * (localized to the cluster node, in cluster mode): checked against it,
 * instance uids carried over. NULL with one line in @msg; *@compiler
 * says whether it is the compiler's "FILE:LINE: FIELD: ..." line.
 */
static struct sl_config *
ctl_prepare(struct sl_ctl *ctl, const char *yaml, size_t len, const char *name,
	    char *msg, size_t msglen, bool *compiler)
{
	struct sl_config *next;

	*compiler = true;
	next = sl_config_parse_node(yaml, len, name, ctl->files,
				    ctl->cluster_node, msg, msglen);
	if (next == NULL)
		return NULL;
	*compiler = false;
	if (sl_config_check_replace(ctl->cfg, next, msg, msglen) != 0) {
		sl_config_free(next);
		return NULL;
	}
	if (sl_config_assign_uids(next, ctl->cfg) != 0) {
		sl_config_free(next);
		snprintf(msg, msglen,
			 "pipelines: more than %u instances in all",
			 SL_MAX_INSTANCE_UIDS);
		return NULL;
	}
	if (ctl->cluster_node != NULL)
		ctl_mark_down(ctl, next);
	return next;
}

int
sl_ctl_apply_cluster(struct sl_ctl *ctl, const char *yaml, size_t len,
		     const char *name, char *msg, size_t msglen)
{
	struct sl_api_error err = {0};
	struct sl_config *next;
	bool compiler;

	next = ctl_prepare(ctl, yaml, len, name, msg, msglen, &compiler);
	if (next == NULL)
		return -EINVAL;
	if (ctl_publish(ctl, next, &err) != 0) {
		snprintf(msg, msglen, "%s", err.message);
		return -EAGAIN;
	}
	return 0;
}

static int
ctl_apply(void *ctx, const char *yaml, size_t len, const char *name,
	  bool dry_run, Sluice__V1__ApplyPipelineResult *out,
	  struct sl_api_arena *a, struct sl_api_error *err)
{
	struct sl_ctl *ctl = ctx;
	char msg[1024];
	struct sl_config *next;
	bool compiler;
	int rc;

	if (!dry_run && ctl_cluster_refuses(ctl, err))
		return -EPERM;
	next = ctl_prepare(ctl, yaml, len, name, msg, sizeof(msg), &compiler);
	if (next == NULL) {
		if (compiler)
			sl_api_error_from_line(err, CODE(INVALID), msg);
		else
			ctl_error(err, CODE(INVALID), msg);
		return -EINVAL;
	}
	if (pipelines_msg(a, next, NULL, &out->n_pipelines, &out->pipelines)) {
		sl_config_free(next);
		return -ENOMEM;
	}
	out->dry_run = dry_run;
	if (dry_run) {
		sl_config_free(next);
		out->generation = ctl->generation;
		return 0;
	}
	if (ctl->state != NULL &&
	    (rc = sl_state_save_apply(ctl->state, name, yaml, len,
				      ctl->generation + 1, msg, sizeof(msg))) !=
		    0) {
		sl_config_free(next);
		state_error(err, rc, msg);
		return rc;
	}
	if (ctl_commit(ctl, next, err) != 0)
		return -EAGAIN;
	out->generation = ctl->generation;
	return 0;
}

/* The scheduler's observations (sl_sched.h) into the stages of @out. */
static int
observed_msg(struct sl_api_arena *a, const struct sl_ctl *ctl,
	     Sluice__V1__PipelineList *out)
{
	const struct sl_config *cfg = ctl->cfg;

	if (ctl->sched == NULL)
		return 0;
	for (size_t k = 0; k < out->n_pipelines; k++) {
		Sluice__V1__Pipeline *pm = out->pipelines[k];
		const struct sl_pipeline_cfg *pl = NULL;
		uint16_t p;

		for (p = 0; p < cfg->n_pipelines && pl == NULL; p++)
			if (strcmp(cfg->pipelines[p].name, pm->name) == 0)
				pl = &cfg->pipelines[p];
		if (pl == NULL)
			continue;
		p--;
		for (uint16_t s = 0; s < pl->n_stages && s < pm->n_stages;
		     s++) {
			const struct sl_stage_cfg *st = &pl->stages[s];
			const struct sl_sched_stage *ob =
				&ctl->sched->stage[p][s];
			Sluice__V1__Stage *sm = pm->stages[s];

			sm->observed_answers = ob->answers;
			if (ob->answers != 0) {
				sm->observed_mean_ms = (double)ob->time_us_sum /
						       (double)ob->answers /
						       1000.0;
				sm->observed_p50_ms =
					sl_sched_stage_percentile(ob, 0.5) /
					1000.0;
				sm->observed_p99_ms =
					sl_sched_stage_percentile(ob, 0.99) /
					1000.0;
				sm->observed_fragments_mean =
					(double)ob->fragments_sum /
					(double)ob->answers;
			}
			sm->n_instance_outstanding = st->n_instances;
			sm->instance_outstanding =
				sl_api_new(a, uint64_t, st->n_instances);
			if (st->n_instances != 0 &&
			    sm->instance_outstanding == NULL)
				return -ENOMEM;
			for (uint16_t i = 0; i < st->n_instances; i++) {
				const struct sl_sched_inst *si =
					&ctl->sched->inst[st->instances[i].uid];
				uint64_t done = si->ended + si->aborted;

				sm->instance_outstanding[i] =
					si->routed > done ? si->routed - done
							  : 0;
			}
		}
	}
	return 0;
}

static int
ctl_get_pipelines(void *ctx, const char *name, Sluice__V1__PipelineList *out,
		  struct sl_api_arena *a, struct sl_api_error *err)
{
	struct sl_ctl *ctl = ctx;

	if (pipelines_msg(a, ctl->cfg, name, &out->n_pipelines,
			  &out->pipelines) != 0 ||
	    observed_msg(a, ctl, out) != 0)
		return -ENOMEM;
	if (name[0] != '\0' && out->n_pipelines == 0) {
		sl_api_error_set(err, CODE(NOT_FOUND), "name",
				 "no pipeline named \"%s\"", name);
		return -ENOENT;
	}
	return 0;
}

/* A snapshot of the worker into ctl->now. */
static int
ctl_snapshot(struct sl_ctl *ctl, struct sl_api_error *err)
{
	int rc;

	memset(ctl->now.rules, 0, sizeof(ctl->now.rules));
	rc = sl_workers_stats_take(ctl->ws, &ctl->now);
	if (rc != 0)
		sl_api_error_set(err, CODE(UNAVAILABLE), "",
				 "the dataplane did not answer for its "
				 "counters (%s)",
				 strerror(-rc));
	return rc;
}

static Sluice__V1__InstanceState *
instance_state(struct sl_ctl *ctl, struct sl_api_arena *a,
	       const struct sl_pipeline_cfg *pl, const struct sl_stage_cfg *st,
	       const struct sl_instance_cfg *in, Sluice__V1__InstanceState *m)
{
	const struct sl_stats_instance *is = &ctl->now.inst[in->uid];
	char ip[16];

	if (m == NULL)
		m = sl_api_new(a, Sluice__V1__InstanceState, 1);
	if (m == NULL)
		return NULL;
	sluice__v1__instance_state__init(m);
	m->pipeline = sl_api_strdup(a, pl->name);
	m->stage = sl_api_strdup(a, st->name);
	m->instance = sl_api_new(a, Sluice__V1__Instance, 1);
	if (m->instance == NULL)
		return NULL;
	sluice__v1__instance__init(m->instance);
	m->instance->name = sl_api_strdup(a, in->name);
	m->instance->address =
		sl_api_strdup(a, sl_ipv4_format(in->ep.ip, ip, sizeof(ip)));
	m->instance->port = in->ep.port;
	m->draining = in->draining;
	m->streams = is->streams_active;
	m->streams_routed = is->streams;
	m->fragments = is->fragments;
	return m;
}

static int
ctl_list_instances(void *ctx, const char *pipeline, const char *stage,
		   Sluice__V1__InstanceList *out, struct sl_api_arena *a,
		   struct sl_api_error *err)
{
	struct sl_ctl *ctl = ctx;
	const struct sl_config *cfg = ctl->cfg;
	size_t n = 0;

	if (ctl_snapshot(ctl, err) != 0)
		return -EAGAIN;
	out->instances =
		sl_api_new(a, Sluice__V1__InstanceState *,
			   SL_MAX_PIPELINES * SL_MAX_STAGES * SL_MAX_INSTANCES);
	if (out->instances == NULL)
		return -ENOMEM;
	for (uint16_t p = 0; p < cfg->n_pipelines; p++) {
		const struct sl_pipeline_cfg *pl = &cfg->pipelines[p];

		if (pipeline[0] != '\0' && strcmp(pipeline, pl->name) != 0)
			continue;
		for (uint16_t s = 0; s < pl->n_stages; s++) {
			const struct sl_stage_cfg *st = &pl->stages[s];

			if (stage[0] != '\0' && strcmp(stage, st->name) != 0)
				continue;
			for (uint16_t i = 0; i < st->n_instances; i++) {
				out->instances[n] =
					instance_state(ctl, a, pl, st,
						       &st->instances[i], NULL);
				if (out->instances[n] == NULL)
					return -ENOMEM;
				n++;
			}
		}
	}
	out->n_instances = n;
	return 0;
}

/* Compile @edit on the snapshot in use, save it, publish it. *@next is
 * the compiled snapshot until published (for the answer). */
static int
ctl_change(struct sl_ctl *ctl, const Sluice__V1__Request *edit,
	   struct sl_config **next, struct sl_api_error *err)
{
	char msg[1024];
	int code, rc;

	*next = NULL;
	if (ctl_cluster_refuses(ctl, err))
		return -EPERM;
	*next = sl_state_apply_edit(ctl->cfg, edit, &code, msg, sizeof(msg));
	if (*next == NULL) {
		ctl_error(err, code, msg);
		return code == CODE(NOT_FOUND) ? -ENOENT
		       : code == CODE(EXISTS)  ? -EEXIST
		       : code == CODE(LIMIT)   ? -ENOSPC
					       : -EINVAL;
	}
	if (ctl->state != NULL &&
	    (rc = sl_state_save_edit(ctl->state, edit, ctl->generation + 1, msg,
				     sizeof(msg))) != 0) {
		sl_config_free(*next);
		*next = NULL;
		state_error(err, rc, msg);
		return rc;
	}
	return 0;
}

/* An edit that answers with what it changed afterwards: compiled,
 * saved and published (ctl_change, ctl_commit). */
static int
ctl_change_commit(struct sl_ctl *ctl, const Sluice__V1__Request *edit,
		  struct sl_api_error *err)
{
	struct sl_config *next;
	int rc = ctl_change(ctl, edit, &next, err);

	if (rc != 0)
		return rc;
	return ctl_commit(ctl, next, err) != 0 ? -EAGAIN : 0;
}

static int
ctl_edit(struct sl_ctl *ctl, char op, const struct sl_api_instance_ref *ref,
	 Sluice__V1__InstanceState *out, struct sl_api_arena *a,
	 struct sl_api_error *err)
{
	Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
	Sluice__V1__AddInstance add = SLUICE__V1__ADD_INSTANCE__INIT;
	Sluice__V1__RemoveInstance rm = SLUICE__V1__REMOVE_INSTANCE__INIT;
	Sluice__V1__DrainInstance dr = SLUICE__V1__DRAIN_INSTANCE__INIT;
	Sluice__V1__Instance inst = SLUICE__V1__INSTANCE__INIT;
	char name[SL_NAME_MAX], ip[16];
	struct sl_config *next;
	int rc;

	snprintf(name, sizeof(name), "%s", ref->instance);
	if (op == 'a' && name[0] == '\0')
		snprintf(name, sizeof(name), "%s@%s:%u", ref->stage,
			 sl_ipv4_format(ref->ip, ip, sizeof(ip)), ref->port);
	/* The change as it is kept: an add names the instance it made. */
	switch (op) {
	case 'a':
		inst.name = name;
		inst.address = (char *)sl_ipv4_format(ref->ip, ip, sizeof(ip));
		inst.port = ref->port;
		add.pipeline = (char *)ref->pipeline;
		add.stage = (char *)ref->stage;
		add.instance = &inst;
		req.body_case = SLUICE__V1__REQUEST__BODY_ADD_INSTANCE;
		req.add_instance = &add;
		break;
	case 'r':
		rm.pipeline = (char *)ref->pipeline;
		rm.stage = (char *)ref->stage;
		rm.instance = name;
		req.body_case = SLUICE__V1__REQUEST__BODY_REMOVE_INSTANCE;
		req.remove_instance = &rm;
		break;
	default:
		dr.pipeline = (char *)ref->pipeline;
		dr.stage = (char *)ref->stage;
		dr.instance = name;
		req.body_case = SLUICE__V1__REQUEST__BODY_DRAIN_INSTANCE;
		req.drain_instance = &dr;
		break;
	}
	rc = ctl_change(ctl, &req, &next, err);
	if (rc != 0)
		return rc;
	/* The answer describes the instance as the new snapshot has it (a
	 * removed one: as it was), with its counters as the worker has them
	 * now (none, should it not answer: the change goes on). */
	if (sl_workers_stats_take(ctl->ws, &ctl->now) != 0)
		memset(ctl->now.inst, 0, sizeof(ctl->now.inst));
	for (uint16_t p = 0; p < ctl->cfg->n_pipelines; p++) {
		const struct sl_config *cfg = op == 'r' ? ctl->cfg : next;
		const struct sl_pipeline_cfg *pl = &cfg->pipelines[p];

		if (strcmp(pl->name, ref->pipeline) != 0)
			continue;
		for (uint16_t s = 0; s < pl->n_stages; s++)
			for (uint16_t i = 0; i < pl->stages[s].n_instances; i++)
				if (strcmp(pl->stages[s].name, ref->stage) ==
					    0 &&
				    strcmp(pl->stages[s].instances[i].name,
					   name) == 0)
					instance_state(
						ctl, a, pl, &pl->stages[s],
						&pl->stages[s].instances[i],
						out);
	}
	return ctl_commit(ctl, next, err);
}

static int
ctl_add(void *ctx, const struct sl_api_instance_ref *ref,
	Sluice__V1__InstanceState *out, struct sl_api_arena *a,
	struct sl_api_error *err)
{
	return ctl_edit(ctx, 'a', ref, out, a, err);
}

static int
ctl_remove(void *ctx, const struct sl_api_instance_ref *ref,
	   Sluice__V1__InstanceState *out, struct sl_api_arena *a,
	   struct sl_api_error *err)
{
	return ctl_edit(ctx, 'r', ref, out, a, err);
}

static int
ctl_drain(void *ctx, const struct sl_api_instance_ref *ref,
	  Sluice__V1__InstanceState *out, struct sl_api_arena *a,
	  struct sl_api_error *err)
{
	return ctl_edit(ctx, 'd', ref, out, a, err);
}

/* ------------------------------------------------------------------ stats */

/* Append a counter (or gauge) to @out; @value_label is copied. */
static int
ctl_add_counter(Sluice__V1__Stats *out, struct sl_api_arena *a,
		const char *name, const char *help, const char *label,
		const char *label_value, uint64_t value, bool gauge)
{
	Sluice__V1__Counter *c = sl_api_new(a, Sluice__V1__Counter, 1);

	if (c == NULL)
		return -ENOMEM;
	sluice__v1__counter__init(c);
	c->name = (char *)name;
	c->help = (char *)help;
	c->label = (char *)(label != NULL ? label : "");
	c->label_value = label_value != NULL ? sl_api_strdup(a, label_value)
					     : (char *)"";
	c->value = value;
	c->gauge = gauge;
	out->counters[out->n_counters++] = c;
	return 0;
}

/* The entries of table @group of struct @src that have a Prometheus
 * family, unlabelled. */
#define CTL_COUNTERS(group, src)                                               \
	do {                                                                   \
		__typeof__(src) s_ = (src);                                    \
		group(CTL_COUNTER)                                             \
	} while (0)
#define CTL_COUNTER(m, kind, prom, help)                                       \
	if (sizeof(prom) > 1 &&                                                \
	    ctl_add_counter(out, a, "sluice_" prom, help, NULL, NULL, s_->m,   \
			    SL_STATS_GAUGE_##kind) != 0)                       \
		return -ENOMEM;

/* Per instance and per tenant: one family at a time (Prometheus wants a
 * family's samples together), labelled. */
#define CTL_LABELLED(m, kind, prom, help)                                      \
	if (sizeof(prom) > 1)                                                  \
		for (size_t k_ = 0; k_ < n_; k_++)                             \
			if (ctl_add_counter(out, a, "sluice_" prom, help,      \
					    label_, who_[k_], src_[k_]->m,     \
					    SL_STATS_GAUGE_##kind) != 0)       \
				return -ENOMEM;

#define CTL_ENTRIES(m, kind, prom, help) +1

/* "PIPELINE:INSTANCE", the label of an instance's families. */
#define SL_CTL_WHO (2 * SL_NAME_MAX + 2)

/* Everything the fixed fields of Stats do not carry, into
 * @out->counters. */
static int
ctl_fill_counters(const struct sl_ctl *ctl, const struct sl_stats *s,
		  Sluice__V1__Stats *out, struct sl_api_arena *a)
{
	const struct sl_config *cfg = s->cfg;
	const struct sl_stats_instance
		*srcs[SL_MAX_PIPELINES * SL_MAX_STAGES * SL_MAX_INSTANCES];
	char(*names)[SL_CTL_WHO];
	size_t n_inst = 0, max;

	names = sl_api_alloc(a, sizeof(names[0]) * RTE_DIM(srcs));
	if (names == NULL)
		return -ENOMEM;
	for (uint16_t p = 0; p < cfg->n_pipelines; p++)
		for (uint16_t st = 0; st < cfg->pipelines[p].n_stages; st++) {
			const struct sl_stage_cfg *sc =
				&cfg->pipelines[p].stages[st];

			for (uint16_t i = 0; i < sc->n_instances; i++) {
				/* Unique across pipelines; a pool's member
				 * is an instance of each of its stages, so
				 * those name their stage too. */
				if (sc->pool != SL_POOL_NONE)
					snprintf(names[n_inst],
						 sizeof(names[0]), "%s:%s:%s",
						 cfg->pipelines[p].name,
						 sc->name,
						 sc->instances[i].name);
				else
					snprintf(names[n_inst],
						 sizeof(names[0]), "%s:%s",
						 cfg->pipelines[p].name,
						 sc->instances[i].name);
				srcs[n_inst++] = &s->inst[sc->instances[i].uid];
			}
		}
	max = (0 SL_STATS_DP(CTL_ENTRIES) SL_STATS_RTX(CTL_ENTRIES)
		       SL_STATS_LIVE(CTL_ENTRIES) SL_STATS_QUOTA(CTL_ENTRIES)
			       SL_STATS_NEIGH(CTL_ENTRIES)
				       SL_STATS_CLUSTER(CTL_ENTRIES)) +
	      n_inst * (0 SL_STATS_INSTANCE(CTL_ENTRIES)) +
	      cfg->n_tenants * (0 SL_STATS_TENANT(CTL_ENTRIES));
	out->counters = sl_api_new(a, Sluice__V1__Counter *, max);
	if (out->counters == NULL)
		return -ENOMEM;
	CTL_COUNTERS(SL_STATS_DP, &s->dp);
	CTL_COUNTERS(SL_STATS_RTX, &s->dp.rtx);
	CTL_COUNTERS(SL_STATS_LIVE, &s->dp.live);
	CTL_COUNTERS(SL_STATS_QUOTA, &s->quota);
	CTL_COUNTERS(SL_STATS_NEIGH, &s->neigh);
	if (ctl->cluster_node != NULL)
		CTL_COUNTERS(SL_STATS_CLUSTER, &ctl->cluster);
	{
		const struct sl_stats_instance *const *src_ = srcs;
		char(*who_)[SL_CTL_WHO] = names;
		const char *label_ = "instance";
		size_t n_ = n_inst;

		SL_STATS_INSTANCE(CTL_LABELLED)
	}
	{
		const struct sl_stats_tenant *src_[SL_MAX_TENANTS];
		char who_[SL_MAX_TENANTS][8];
		const char *label_ = "tenant";
		size_t n_ = cfg->n_tenants;

		for (size_t t = 0; t < n_; t++) {
			src_[t] = &s->tenant[t];
			snprintf(who_[t], sizeof(who_[t]), "%u",
				 cfg->tenants[t].id);
		}
		SL_STATS_TENANT(CTL_LABELLED)
	}
	return 0;
}

/* Per stage, instance and operator stage of the snapshot's config. */
static int
ctl_stats_graph(const struct sl_stats *s, Sluice__V1__Stats *out,
		struct sl_api_arena *a)
{
	const struct sl_config *cfg = s->cfg;
	size_t n = 0;

	out->instances =
		sl_api_new(a, Sluice__V1__InstanceStats *,
			   SL_MAX_PIPELINES * SL_MAX_STAGES * SL_MAX_INSTANCES);
	out->operators = sl_api_new(a, Sluice__V1__OperatorStats *,
				    SL_MAX_PIPELINES * SL_MAX_STAGES);
	out->stages = sl_api_new(a, Sluice__V1__StageStats *,
				 SL_MAX_PIPELINES * SL_MAX_STAGES);
	if (out->instances == NULL || out->operators == NULL ||
	    out->stages == NULL)
		return -ENOMEM;
	for (uint16_t p = 0; p < cfg->n_pipelines; p++) {
		const struct sl_pipeline_cfg *pl = &cfg->pipelines[p];

		for (uint16_t st_i = 0; st_i < pl->n_stages; st_i++) {
			const struct sl_stage_cfg *st = &pl->stages[st_i];
			Sluice__V1__StageStats *sm =
				sl_api_new(a, Sluice__V1__StageStats, 1);

			if (sm == NULL)
				return -ENOMEM;
			sluice__v1__stage_stats__init(sm);
			sm->pipeline = sl_api_strdup(a, pl->name);
			sm->stage = sl_api_strdup(a, st->name);
			out->stages[out->n_stages++] = sm;
			if (st->kind != SL_STAGE_ENGINE) {
				const struct sl_op_counters *oc =
					&s->op[p][st_i];
				Sluice__V1__OperatorStats *o = sl_api_new(
					a, Sluice__V1__OperatorStats, 1);

				if (o == NULL)
					return -ENOMEM;
				sluice__v1__operator_stats__init(o);
				o->pipeline = sl_api_strdup(a, pl->name);
				o->stage = sl_api_strdup(a, st->name);
				o->kind = (Sluice__V1__StageKind)st->kind;
#define CTL_OP(m, kind, prom, help) o->m = oc->m;
				SL_STATS_OPERATOR(CTL_OP)
#undef CTL_OP
				out->operators[out->n_operators++] = o;
			}
			for (uint16_t i = 0; i < st->n_instances; i++) {
				const struct sl_instance_cfg *in =
					&st->instances[i];
				const struct sl_stats_instance *is =
					&s->inst[in->uid];
				Sluice__V1__InstanceStats *m = sl_api_new(
					a, Sluice__V1__InstanceStats, 1);

				if (m == NULL)
					return -ENOMEM;
				sluice__v1__instance_stats__init(m);
				m->pipeline = sl_api_strdup(a, pl->name);
				m->stage = sl_api_strdup(a, st->name);
				m->instance = sl_api_strdup(a, in->name);
				m->address = endpoint(a, &in->ep);
				m->fragments = is->fragments;
				m->streams = is->streams_active;
				m->streams_routed = is->streams;
				m->draining = in->draining;
				out->instances[n++] = m;
				/* A stage: what its instances carried. */
				sm->fragments += is->fragments;
				sm->streams_started += is->streams;
				sm->streams_ended +=
					is->streams >= is->streams_active
						? is->streams -
							  is->streams_active
						: 0;
			}
		}
	}
	out->n_instances = n;
	return 0;
}

/* The residence histogram, flows and mbufs. */
static int
ctl_stats_tail(const struct sl_ctl *ctl, Sluice__V1__Stats *out,
	       struct sl_api_arena *a)
{
	const struct sl_stats *s = &ctl->now;
	const struct sl_dp_counters *c = &s->dp;

	/* Residence in sluiced, log2 buckets; the last is unbounded. */
	out->latency = sl_api_new(a, Sluice__V1__LatencyHistogram, 1);
	if (out->latency == NULL)
		return -ENOMEM;
	sluice__v1__latency_histogram__init(out->latency);
	out->latency->upper_ns = sl_api_new(a, uint64_t, SL_RESIDENCE_BUCKETS);
	out->latency->count = sl_api_new(a, uint64_t, SL_RESIDENCE_BUCKETS);
	if (out->latency->upper_ns == NULL || out->latency->count == NULL)
		return -ENOMEM;
	out->latency->n_upper_ns = SL_RESIDENCE_BUCKETS;
	out->latency->n_count = SL_RESIDENCE_BUCKETS;
	for (unsigned int i = 0; i < SL_RESIDENCE_BUCKETS; i++) {
		out->latency->upper_ns[i] =
			i + 1 < SL_RESIDENCE_BUCKETS ? 1ull << i : 0;
		out->latency->count[i] = c->residence[i];
		out->latency->samples += out->latency->count[i];
	}
	out->latency->sum_ns = c->residence_sum_ns;
	out->flows = sl_api_new(a, Sluice__V1__FlowStats, 1);
	out->mbufs = sl_api_new(a, Sluice__V1__MbufStats, 1);
	if (out->flows == NULL || out->mbufs == NULL)
		return -ENOMEM;
	sluice__v1__flow_stats__init(out->flows);
	out->flows->active = s->flows_active;
	out->flows->capacity = s->flows_capacity;
#define CTL_FLOW(m, kind, prom, help) out->flows->m = c->flows.m;
	SL_STATS_FLOWS(CTL_FLOW)
#undef CTL_FLOW
	sluice__v1__mbuf_stats__init(out->mbufs);
	out->mbufs->in_use = rte_mempool_in_use_count(ctl->pool);
	out->mbufs->in_use_start = ctl->in_use_start;
	out->mbufs->capacity = ctl->pool->size;
	return 0;
}

static int
ctl_get_stats(void *ctx, bool reset, Sluice__V1__Stats *out,
	      struct sl_api_arena *a, struct sl_api_error *err)
{
	struct sl_ctl *ctl = ctx;
	const struct sl_stats *s = &ctl->now;
	const struct sl_dp_counters *c = &s->dp;
	int rc;

	rc = ctl_snapshot(ctl, err);
	if (rc != 0)
		return rc;
	/* The answer counts since the last reset; a reset starts the
	 * counters again after it. */
	if (reset) {
		struct sl_stats *raw = malloc(sizeof(*raw));

		if (raw == NULL)
			return -ENOMEM;
		*raw = ctl->now;
		sl_stats_since(&ctl->now, &ctl->base);
		ctl->base = *raw;
		free(raw);
	} else {
		sl_stats_since(&ctl->now, &ctl->base);
	}
	if (ctl->restored.restored) {
		out->restored = sl_api_new(a, Sluice__V1__RestoredState, 1);
		if (out->restored == NULL)
			return -ENOMEM;
		sluice__v1__restored_state__init(out->restored);
		out->restored->path = sl_api_strdup(
			a, ctl->state != NULL ? ctl->state->path : "");
		out->restored->generation = ctl->restored.generation;
		out->restored->config = sl_api_strdup(a, ctl->restored.config);
		out->restored->edits = ctl->restored.edits;
	}
	if (ctl_fill_counters(ctl, s, out, a) != 0)
		return -ENOMEM;
	if (ctl->cluster_node != NULL) {
		Sluice__V1__ClusterState *cs =
			sl_api_new(a, Sluice__V1__ClusterState, 1);

		if (cs == NULL)
			return -ENOMEM;
		sluice__v1__cluster_state__init(cs);
		cs->node = sl_api_strdup(a, ctl->cluster_node);
		cs->endpoints = sl_api_strdup(a, ctl->cluster_endpoints);
		cs->revision = ctl->cluster.revision;
		cs->connected = ctl->cluster.connected != 0;
		cs->members = (uint32_t)ctl->cluster.members;
		cs->last_error = sl_api_strdup(a, ctl->cluster_error);
		if (cs->node == NULL || cs->endpoints == NULL ||
		    cs->last_error == NULL)
			return -ENOMEM;
		out->cluster = cs;
	}
	out->rx_packets = c->rx_packets;
	out->tx_packets = c->tx_packets;
	out->forwarded = c->forwarded;
	out->generation = ctl->generation;
	out->drops = sl_api_new(a, Sluice__V1__DropCount *, SL_DROP_MAX);
	if (out->drops == NULL)
		return -ENOMEM;
	for (int r = 1; r < SL_DROP_MAX; r++) {
		Sluice__V1__DropCount *d =
			sl_api_new(a, Sluice__V1__DropCount, 1);

		if (d == NULL)
			return -ENOMEM;
		sluice__v1__drop_count__init(d);
		d->reason = (char *)sl_drop_name(r);
		d->count = c->drops[r];
		out->drops[out->n_drops++] = d;
	}
	if (ctl_stats_graph(s, out, a) != 0 || ctl_stats_tail(ctl, out, a) != 0)
		return -ENOMEM;
	return 0;
}

/* ----------------------------------------------------------------- guards */

static int
guards_msg(struct sl_ctl *ctl, Sluice__V1__GuardList *out,
	   struct sl_api_arena *a, struct sl_api_error *err)
{
	static const char *const actions[] = {"block", "redact", "log"};
	const struct sl_config *cfg = ctl->cfg;
	struct sl_guard_rule_counters *rc[SL_MAX_GUARDS];
	int rcode;

	/* The rules' counters come with a snapshot. */
	memset(ctl->now.rules, 0, sizeof(ctl->now.rules));
	for (uint16_t g = 0; g < cfg->n_guards; g++) {
		const struct sl_guard_ref *r = cfg->guards[g].ref;
		unsigned int n = r != NULL ? r->n_rules : 0;

		rc[g] = sl_api_new(a, struct sl_guard_rule_counters, n ? n : 1);
		if (rc[g] == NULL)
			return -ENOMEM;
		ctl->now.rules[g] = rc[g];
		ctl->now.n_rules[g] = n;
	}
	rcode = sl_workers_stats_take(ctl->ws, &ctl->now);
	memset(ctl->now.rules, 0, sizeof(ctl->now.rules));
	if (rcode != 0) {
		sl_api_error_set(err, CODE(UNAVAILABLE), "",
				 "the dataplane did not answer for its "
				 "counters (%s)",
				 strerror(-rcode));
		return rcode;
	}
	out->generation = ctl->generation;
	out->n_guards = cfg->n_guards;
	out->guards = sl_api_new(a, Sluice__V1__Guard *, cfg->n_guards);
	if (out->guards == NULL && cfg->n_guards)
		return -ENOMEM;
	for (uint16_t g = 0; g < cfg->n_guards; g++) {
		const struct sl_guard_cfg *gc = &cfg->guards[g];
		const struct sl_guard_ref *r = gc->ref;
		unsigned int n = r != NULL ? r->n_rules : 0;
		Sluice__V1__Guard *m = sl_api_new(a, Sluice__V1__Guard, 1);

		if (m == NULL)
			return -ENOMEM;
		sluice__v1__guard__init(m);
		m->name = sl_api_strdup(a, gc->name);
		m->action = sl_api_strdup(a, actions[gc->action]);
		m->prefix = sl_api_strdup(a, gc->prefix);
		m->n_rules = n;
		m->rules = sl_api_new(a, Sluice__V1__GuardRule *, n ? n : 1);
		if (m->rules == NULL)
			return -ENOMEM;
		for (unsigned int i = 0; i < n; i++) {
			Sluice__V1__GuardRule *rm =
				sl_api_new(a, Sluice__V1__GuardRule, 1);

			if (rm == NULL)
				return -ENOMEM;
			sluice__v1__guard_rule__init(rm);
			rm->regex = r->regex[i];
			rm->pattern = sl_api_strdup(a, r->patterns[i]);
			rm->matches = rc[g][i].matches;
			rm->blocks = rc[g][i].blocks;
			rm->redactions = rc[g][i].redactions;
			m->rules[i] = rm;
		}
		out->guards[g] = m;
	}
	return 0;
}

static int
ctl_list_guards(void *ctx, Sluice__V1__GuardList *out, struct sl_api_arena *a,
		struct sl_api_error *err)
{
	return guards_msg(ctx, out, a, err);
}

static int
ctl_edit_guard(void *ctx, const char *guard, bool remove, bool regex,
	       const char *pattern, Sluice__V1__GuardList *out,
	       struct sl_api_arena *a, struct sl_api_error *err)
{
	Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
	Sluice__V1__EditGuard eg = SLUICE__V1__EDIT_GUARD__INIT;
	struct sl_ctl *ctl = ctx;
	int rc;

	eg.guard = (char *)guard;
	eg.remove = remove;
	eg.regex = regex;
	eg.pattern = (char *)pattern;
	req.body_case = SLUICE__V1__REQUEST__BODY_EDIT_GUARD;
	req.edit_guard = &eg;
	rc = ctl_change_commit(ctl, &req, err);
	if (rc != 0)
		return rc;
	return guards_msg(ctl, out, a, err);
}

static int
ctl_set_policy(void *ctx, const Sluice__V1__SetPolicy *sp,
	       Sluice__V1__PipelineList *out, struct sl_api_arena *a,
	       struct sl_api_error *err)
{
	Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
	struct sl_ctl *ctl = ctx;
	int rc;

	req.body_case = SLUICE__V1__REQUEST__BODY_SET_POLICY;
	req.set_policy = (Sluice__V1__SetPolicy *)sp;
	rc = ctl_change_commit(ctl, &req, err);
	if (rc != 0)
		return rc;
	return ctl_get_pipelines(ctl, sp->pipeline, out, a, err);
}

/* ------------------------------------------------------------ cost model */

/* The model's state into @out; budgets of @tenants (@n), else of the
 * config's tenants. */
static int
cost_msg(const struct sl_ctl *ctl, const uint32_t *tenants, size_t n,
	 Sluice__V1__CostModel *out, struct sl_api_arena *a)
{
	struct sl_cost_params p;
	struct sl_cost_stats st;
	uint32_t cfg_tenants[SL_MAX_TENANTS];

	sl_cost_params_of(ctl->cost, &p);
	sl_cost_stats(ctl->cost, &st);
	out->fitted = st.fitted;
	out->installed = st.installed;
	out->public_rows = st.public_train + st.public_heldout;
	out->heldout_rows = st.public_heldout;
	out->heldout_mse = st.heldout_mse;
	out->heldout_mse_mean = st.heldout_mse_mean;
	out->trainings = st.c[SL_COST_C_TRAININGS];
	out->rejected = st.c[SL_COST_C_REJECTED];
	if (ctl->sched != NULL) {
		const struct sl_sched *s = ctl->sched;

		out->live_prompts = s->prompts;
		out->live_predicted = s->predicted;
		out->live_rows_stored = s->rows[SL_COST_ROW_STORED];
		out->live_rows_left_out = s->rows_refused;
		for (int k = 0; k < SL_COST_ROW_MAX; k++)
			if (k != SL_COST_ROW_STORED)
				out->live_rows_left_out += s->rows[k];
	}
	out->epsilon = p.epsilon;
	out->delta = p.delta;
	out->budget_epsilon = p.budget_epsilon;
	out->rank = p.rank;
	if (n == 0) {
		for (uint16_t t = 0; t < ctl->cfg->n_tenants; t++)
			cfg_tenants[t] = ctl->cfg->tenants[t].id;
		tenants = cfg_tenants;
		n = ctl->cfg->n_tenants;
	}
	out->n_budgets = n;
	out->budgets = sl_api_new(a, Sluice__V1__CostBudget *, n ? n : 1);
	if (out->budgets == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		Sluice__V1__CostBudget *bm =
			sl_api_new(a, Sluice__V1__CostBudget, 1);
		struct sl_cost_budget b;

		if (bm == NULL)
			return -ENOMEM;
		sluice__v1__cost_budget__init(bm);
		bm->tenant = tenants[i];
		if (sl_cost_tenant_budget(ctl->cost, tenants[i], &b) == 0) {
			bm->rho_spent = b.rho_spent;
			bm->rho_left = b.rho_left;
			bm->epsilon_left = b.epsilon_left;
			bm->trainings_left = b.trainings_left;
			bm->trainings = b.trainings;
			bm->window_rows = b.window_rows;
			bm->rows_capped = b.rows[SL_COST_ROW_CAP];
			bm->rows_no_budget = b.rows[SL_COST_ROW_BUDGET];
			bm->personal = b.personal;
		}
		out->budgets[i] = bm;
	}
	return 0;
}

/*
 * Tenants' spent budgets outlive sluiced: with a state directory they are
 * saved there (SL_CTL_BUDGETS, one "TENANT RHO" line each, RHO in %a so
 * it comes back exact) after every training, atomically (a temporary,
 * fsync, rename), and restored before the model takes any row. A file
 * that does not read back whole refuses the model: budgets forgotten
 * would let a tenant's data be used again.
 */
#define SL_CTL_BUDGETS "cost-budgets"

static int
budgets_save(const struct sl_ctl *ctl, char *msg, size_t len)
{
	enum { MAX = 65536 };
	static uint32_t ids[MAX];
	static double rho[MAX];
	size_t n = sl_cost_tenants_spent(ctl->cost, ids, rho, MAX);
	int fd, rc = 0;
	FILE *f;

	if (ctl->state == NULL || ctl->state->dir_fd < 0)
		return 0;
	fd = openat(ctl->state->dir_fd, SL_CTL_BUDGETS ".tmp",
		    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		    0600);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		snprintf(msg, len, "%s.tmp: %s", SL_CTL_BUDGETS,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	for (size_t i = 0; i < n && i < MAX; i++)
		fprintf(f, "%" PRIu32 " %a\n", ids[i], rho[i]);
	if (fflush(f) != 0 || fsync(fd) != 0)
		rc = -errno;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && renameat(ctl->state->dir_fd, SL_CTL_BUDGETS ".tmp",
				ctl->state->dir_fd, SL_CTL_BUDGETS) != 0)
		rc = -errno;
	if (rc != 0)
		snprintf(msg, len, "%s: %s", SL_CTL_BUDGETS, strerror(-rc));
	return rc;
}

static int
budgets_restore(struct sl_ctl *ctl, char *msg, size_t len)
{
	unsigned long line = 0;
	char buf[128];
	int fd, rc = 0;
	FILE *f;

	if (ctl->state == NULL || ctl->state->dir_fd < 0)
		return 0;
	fd = openat(ctl->state->dir_fd, SL_CTL_BUDGETS,
		    O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(msg, len, "%s: %s", SL_CTL_BUDGETS, strerror(errno));
		return -errno;
	}
	f = fdopen(fd, "r");
	if (f == NULL) {
		close(fd);
		snprintf(msg, len, "%s: %s", SL_CTL_BUDGETS, strerror(errno));
		return -ENOMEM;
	}
	while (rc == 0 && fgets(buf, sizeof(buf), f) != NULL) {
		unsigned long id;
		double rho;
		char end;

		line++;
		if (sscanf(buf, "%lu %la%c", &id, &rho, &end) != 3 ||
		    end != '\n' || id > UINT32_MAX ||
		    sl_cost_tenant_restore(ctl->cost, (uint32_t)id, rho) != 0) {
			snprintf(msg, len,
				 "%s:%lu: not \"TENANT RHO\" of a tenant the "
				 "model can hold",
				 SL_CTL_BUDGETS, line);
			rc = -EINVAL;
		}
	}
	fclose(f);
	return rc;
}

struct sl_cost_model *
sl_ctl_cost_model(struct sl_ctl *ctl, char *msg, size_t len)
{
	struct sl_cost_params p;
	int rc = 0;

	if (ctl->cost != NULL)
		return ctl->cost;
	sl_cost_params_default(&p);
	ctl->cost = sl_cost_create(&p, &rc);
	if (ctl->cost == NULL) {
		snprintf(msg, len, "%s", sl_cost_strerror(rc));
		return NULL;
	}
	if (budgets_restore(ctl, msg, len) != 0) {
		sl_cost_free(ctl->cost);
		ctl->cost = NULL;
		return NULL;
	}
	/* The scheduler gives it rows and asks it for predictions. */
	if (ctl->sched != NULL)
		ctl->sched->cost = ctl->cost;
	return ctl->cost;
}

static int
ctl_cost(void *ctx, const Sluice__V1__Request *req, Sluice__V1__CostModel *out,
	 struct sl_api_arena *a, struct sl_api_error *err)
{
	struct sl_ctl *ctl = ctx;
	const uint32_t *tenants = NULL;
	size_t n_tenants = 0;
	char msg[256];
	int rc = 0;

	if (sl_ctl_cost_model(ctl, msg, sizeof(msg)) == NULL) {
		sl_api_error_set(err, CODE(INTERNAL), "cost", "%s", msg);
		return -EIO;
	}
	switch (req->body_case) {
	case SLUICE__V1__REQUEST__BODY_COST_ROWS: {
		const Sluice__V1__CostRows *cr = req->cost_rows;

		for (size_t i = 0; i < cr->n_rows; i++) {
			const Sluice__V1__CostRow *r = cr->rows[i];
			size_t len = strlen(r->prompt);

			rc = cr->public_
				     ? sl_cost_add_public_prompt(
					       ctl->cost, r->stage, r->prompt,
					       len, r->output_tokens)
				     : sl_cost_add_tenant_prompt(
					       ctl->cost, r->tenant, r->stage,
					       r->prompt, len,
					       r->output_tokens);
			/* A tenant row: its fate (STORED or why not). */
			if (rc == 0 ||
			    (!cr->public_ && rc == SL_COST_ROW_STORED))
				out->rows_taken++;
			else
				out->rows_left_out++;
		}
		rc = 0;
		break;
	}
	case SLUICE__V1__REQUEST__BODY_COST_FIT:
		rc = sl_cost_fit_public(ctl->cost);
		break;
	case SLUICE__V1__REQUEST__BODY_COST_TRAIN: {
		struct sl_cost_train_report rep;
		struct sl_rng rng;

		/* Budgets a failed save left unsaved are saved first: no
		 * training while they cannot be. */
		if (ctl->budgets_unsaved &&
		    budgets_save(ctl, msg, sizeof(msg)) != 0) {
			sl_api_error_set(err, CODE(INTERNAL), "cost", "%s",
					 msg);
			return -EIO;
		}
		ctl->budgets_unsaved = false;
		sl_rng_os(&rng);
		rc = sl_cost_train(ctl->cost, &rng, &rep);
		if (rc == 0 && budgets_save(ctl, msg, sizeof(msg)) != 0) {
			ctl->budgets_unsaved = true;
			sl_api_error_set(err, CODE(INTERNAL), "cost",
					 "trained, but %s", msg);
			return -EIO;
		}
		break;
	}
	case SLUICE__V1__REQUEST__BODY_GET_COST_MODEL:
		tenants = req->get_cost_model->tenants;
		n_tenants = req->get_cost_model->n_tenants;
		break;
	default:
		break;
	}
	if (rc < 0) {
		sl_api_error_set(err, CODE(INVALID), "cost", "%s",
				 sl_cost_strerror(rc));
		return -EINVAL;
	}
	return cost_msg(ctl, tenants, n_tenants, out, a);
}

static uint64_t
ctl_generation(void *ctx)
{
	return ((struct sl_ctl *)ctx)->generation;
}

const struct sl_api_backend_ops sl_ctl_ops = {
	.apply = ctl_apply,
	.get_pipelines = ctl_get_pipelines,
	.list_instances = ctl_list_instances,
	.add_instance = ctl_add,
	.remove_instance = ctl_remove,
	.drain_instance = ctl_drain,
	.get_stats = ctl_get_stats,
	.generation = ctl_generation,
	.list_guards = ctl_list_guards,
	.edit_guard = ctl_edit_guard,
	.set_policy = ctl_set_policy,
	.cost = ctl_cost,
};

void
sl_ctl_fini(struct sl_ctl *ctl)
{
	if (ctl->sched != NULL)
		ctl->sched->cost = NULL;
	sl_cost_free(ctl->cost);
	ctl->cost = NULL;
}

void
sl_ctl_init(struct sl_ctl *ctl, struct sl_workers *ws, struct rte_mempool *pool,
	    unsigned int in_use_start, const struct sl_confine *files,
	    struct sl_state *state, const struct sl_state_restored *restored)
{
	memset(ctl, 0, sizeof(*ctl));
	ctl->ws = ws;
	ctl->cfg = ws->dp[0]->cfg; /* before the workers start: ours */
	ctl->pool = pool;
	ctl->in_use_start = in_use_start;
	ctl->generation = state != NULL ? state->generation : 1;
	ctl->files = files;
	ctl->state = state;
	if (restored != NULL)
		ctl->restored = *restored;
}
