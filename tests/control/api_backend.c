/* SPDX-License-Identifier: MIT */
/*
 * api_backend.c - the recording test backend (api_backend.h).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "api_backend.h"

#define COPY(dst, src) snprintf((dst), sizeof(dst), "%s", (src))

void
api_backend_init(struct api_backend *b)
{
	memset(b, 0, sizeof(*b));
	pthread_mutex_init(&b->lock, NULL);
	b->generation = 1;
	b->guards[0] = (struct api_guard){
		.name = "forget",
		.action = "block",
		.prefix = "Do not discuss the works of Hsiao Yun-Hwa.",
		.n_rules = 2,
		.rules = {{false, "Hsiao Yun-Hwa", 4, 4, 0},
			  {true, "\\bvx-[0-9]{3}\\b", 2, 2, 0}},
	};
	b->guards[1] = (struct api_guard){
		.name = "pii",
		.action = "redact",
		.n_rules = 1,
		.rules = {{true, "\\b[0-9]{3}-[0-9]{4}\\b", 7, 0, 7}},
	};
	b->pool = (struct api_pool){
		.name = "lm",
		.policy = SLUICE__V1__BALANCE__BALANCE_ROUND_ROBIN,
		.load_bound = 1.25,
		.warm_prefixes = 1,
	};
}

void
api_backend_fini(struct api_backend *b)
{
	pthread_mutex_destroy(&b->lock);
}

void
api_backend_fail(struct api_backend *b, enum api_op op, int code,
		 const char *field, const char *message)
{
	pthread_mutex_lock(&b->lock);
	memset(&b->fail[op], 0, sizeof(b->fail[op]));
	if (code != 0)
		sl_api_error_set(&b->fail[op], code, field, "%s", message);
	pthread_mutex_unlock(&b->lock);
}

void
api_backend_snapshot(struct api_backend *b, struct api_backend *out)
{
	pthread_mutex_lock(&b->lock);
	*out = *b; /* out->lock is a copy, never used as a mutex */
	pthread_mutex_unlock(&b->lock);
}

/* Record the call; non-zero (with @err) when it is set to fail. */
static int
record(struct api_backend *b, enum api_op op, struct sl_api_error *err)
{
	int failing;

	b->calls[op]++;
	b->last_op = op;
	failing = b->fail[op].code != 0;
	if (failing)
		*err = b->fail[op];
	return failing;
}

/* ------------------------------------------------------------ canned data */

static Sluice__V1__Instance *
mk_instance(struct sl_api_arena *a, const char *name, const char *addr,
	    uint32_t port)
{
	Sluice__V1__Instance *in = sl_api_new(a, Sluice__V1__Instance, 1);

	sluice__v1__instance__init(in);
	in->name = sl_api_strdup(a, name);
	in->address = sl_api_strdup(a, addr);
	in->port = port;
	return in;
}

static Sluice__V1__Stage *
mk_stage(struct sl_api_arena *a, uint32_t id, const char *name,
	 Sluice__V1__StageKind kind, uint32_t agg, uint32_t depth)
{
	Sluice__V1__Stage *st = sl_api_new(a, Sluice__V1__Stage, 1);

	sluice__v1__stage__init(st);
	st->id = id;
	st->name = sl_api_strdup(a, name);
	st->kind = kind;
	st->aggregation = agg;
	st->depth = depth;
	if (kind != SLUICE__V1__STAGE_KIND__STAGE_KIND_ENGINE) {
		st->max_groups = 4096;
		st->max_group_bytes = 65536;
	}
	return st;
}

static Sluice__V1__Edge *
mk_edge(struct sl_api_arena *a, uint32_t id, const char *from, uint32_t fs,
	const char *to, uint32_t ts, Sluice__V1__Split split, uint32_t depth)
{
	Sluice__V1__Edge *e = sl_api_new(a, Sluice__V1__Edge, 1);

	sluice__v1__edge__init(e);
	e->id = id;
	e->from = sl_api_strdup(a, from);
	e->to = sl_api_strdup(a, to);
	e->from_stage = fs;
	e->to_stage = ts;
	e->split = split;
	e->depth_in = depth;
	e->depth_out = depth + (split != SLUICE__V1__SPLIT__SPLIT_NONE);
	if (split == SLUICE__V1__SPLIT__SPLIT_LINE) {
		e->pattern = sl_api_strdup(a, "\\n");
		e->stream_children = true;
	}
	return e;
}

static Sluice__V1__Pipeline *
mk_pipeline(struct sl_api_arena *a, const struct api_pool *pool)
{
	Sluice__V1__Pipeline *pl = sl_api_new(a, Sluice__V1__Pipeline, 1);
	Sluice__V1__Stage *draft, *claims, *total;
	Sluice__V1__Pool *po;

	sluice__v1__pipeline__init(pl);
	pl->name = sl_api_strdup(a, "demo");
	pl->id = 7;
	pl->single_output = true;
	draft = mk_stage(a, 1, "draft",
			 SLUICE__V1__STAGE_KIND__STAGE_KIND_ENGINE, 0, 1);
	draft->n_instances = 2;
	draft->instances = sl_api_new(a, Sluice__V1__Instance *, 2);
	draft->instances[0] = mk_instance(a, "draft/0", "10.77.0.11", 7801);
	draft->instances[1] = mk_instance(a, "draft-b", "10.77.0.12", 7801);
	draft->pool = sl_api_strdup(a, pool->name);
	draft->balance = (Sluice__V1__Balance)pool->policy;
	po = sl_api_new(a, Sluice__V1__Pool, 1);
	sluice__v1__pool__init(po);
	po->name = sl_api_strdup(a, pool->name);
	po->policy = (Sluice__V1__Balance)pool->policy;
	po->load_bound = pool->load_bound;
	po->warm_prefixes = pool->warm_prefixes;
	po->n_instances = 2;
	po->instances = draft->instances;
	po->n_stages = 1;
	po->stages = sl_api_new(a, char *, 1);
	po->stages[0] = sl_api_strdup(a, "draft");
	pl->n_pools = 1;
	pl->pools = sl_api_new(a, Sluice__V1__Pool *, 1);
	pl->pools[0] = po;
	claims = mk_stage(a, 2, "claims",
			  SLUICE__V1__STAGE_KIND__STAGE_KIND_ENGINE, 1, 2);
	claims->balance = SLUICE__V1__BALANCE__BALANCE_LEAST_LOADED;
	claims->n_instances = 1;
	claims->instances = sl_api_new(a, Sluice__V1__Instance *, 1);
	claims->instances[0] = mk_instance(a, "claims/0", "10.77.0.21", 7802);
	total = mk_stage(a, 3, "total", SLUICE__V1__STAGE_KIND__STAGE_KIND_SUM,
			 1, 2);
	pl->n_stages = 3;
	pl->stages = sl_api_new(a, Sluice__V1__Stage *, 3);
	pl->stages[0] = draft;
	pl->stages[1] = claims;
	pl->stages[2] = total;
	pl->n_edges = 4;
	pl->edges = sl_api_new(a, Sluice__V1__Edge *, 4);
	pl->edges[0] = mk_edge(a, 0, "client", 0, "draft", 1,
			       SLUICE__V1__SPLIT__SPLIT_NONE, 1);
	pl->edges[1] = mk_edge(a, 1, "draft", 1, "claims", 2,
			       SLUICE__V1__SPLIT__SPLIT_LINE, 1);
	pl->edges[2] = mk_edge(a, 2, "claims", 2, "total", 3,
			       SLUICE__V1__SPLIT__SPLIT_NONE, 2);
	pl->edges[3] = mk_edge(a, 3, "total", 3, "client", 0,
			       SLUICE__V1__SPLIT__SPLIT_NONE, 1);
	pl->edges[3]->mode = SLUICE__V1__EDGE_MODE__EDGE_MODE_BUFFER;
	return pl;
}

static Sluice__V1__InstanceState *
mk_state(struct sl_api_arena *a, Sluice__V1__InstanceState *st,
	 const char *pipeline, const char *stage, const char *name,
	 const char *addr, uint32_t port, uint64_t streams, bool draining)
{
	if (st == NULL) {
		st = sl_api_new(a, Sluice__V1__InstanceState, 1);
		sluice__v1__instance_state__init(st);
	}
	st->pipeline = sl_api_strdup(a, pipeline);
	st->stage = sl_api_strdup(a, stage);
	st->instance = mk_instance(a, name, addr, port);
	st->streams = streams;
	st->streams_routed = streams * 10;
	st->fragments = streams * 100;
	st->draining = draining;
	return st;
}

/* ------------------------------------------------------------------- ops */

static int
be_apply(void *ctx, const char *yaml, size_t len, const char *name,
	 bool dry_run, Sluice__V1__ApplyPipelineResult *out,
	 struct sl_api_arena *arena, struct sl_api_error *err)
{
	struct api_backend *b = ctx;
	const char *line;
	int rc = 0;

	pthread_mutex_lock(&b->lock);
	COPY(b->last_yaml, yaml);
	b->last_len = len;
	COPY(b->last_name, name);
	b->last_dry_run = dry_run;
	if (record(b, API_OP_APPLY, err)) {
		rc = -1;
	} else if ((line = strstr(yaml, "ERROR: ")) != NULL) {
		char buf[256];
		size_t n = strcspn(line + 7, "\n");

		if (n >= sizeof(buf))
			n = sizeof(buf) - 1;
		memcpy(buf, line + 7, n);
		buf[n] = '\0';
		sl_api_error_from_line(
			err, SLUICE__V1__ERROR__CODE__CODE_INVALID, buf);
		rc = -1;
	} else {
		if (!dry_run)
			b->generation++;
		out->generation = b->generation;
		out->dry_run = dry_run;
		out->n_pipelines = 1;
		out->pipelines = sl_api_new(arena, Sluice__V1__Pipeline *, 1);
		out->pipelines[0] = mk_pipeline(arena, &b->pool);
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

static int
be_get_pipelines(void *ctx, const char *name, Sluice__V1__PipelineList *out,
		 struct sl_api_arena *arena, struct sl_api_error *err)
{
	struct api_backend *b = ctx;
	int rc = 0;

	pthread_mutex_lock(&b->lock);
	COPY(b->last_name, name);
	if (record(b, API_OP_GET, err)) {
		rc = -1;
	} else if (name[0] != '\0' && strcmp(name, "demo") != 0) {
		sl_api_error_set(err, SLUICE__V1__ERROR__CODE__CODE_NOT_FOUND,
				 "name", "no pipeline \"%s\"", name);
		rc = -1;
	} else {
		out->n_pipelines = 1;
		out->pipelines = sl_api_new(arena, Sluice__V1__Pipeline *, 1);
		out->pipelines[0] = mk_pipeline(arena, &b->pool);
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

static int
be_list_instances(void *ctx, const char *pipeline, const char *stage,
		  Sluice__V1__InstanceList *out, struct sl_api_arena *arena,
		  struct sl_api_error *err)
{
	struct api_backend *b = ctx;
	int rc = 0;

	pthread_mutex_lock(&b->lock);
	COPY(b->last_pipeline, pipeline);
	COPY(b->last_stage, stage);
	if (record(b, API_OP_LIST, err)) {
		rc = -1;
	} else {
		out->instances =
			sl_api_new(arena, Sluice__V1__InstanceState *, 3);
		if (stage[0] == '\0' || strcmp(stage, "draft") == 0) {
			out->instances[out->n_instances++] = mk_state(
				arena, NULL, "demo", "draft", "draft/0",
				"10.77.0.11", 7801, 3, false);
			out->instances[out->n_instances++] = mk_state(
				arena, NULL, "demo", "draft", "draft-b",
				"10.77.0.12", 7801, 0, true);
		}
		if (stage[0] == '\0' || strcmp(stage, "claims") == 0)
			out->instances[out->n_instances++] = mk_state(
				arena, NULL, "demo", "claims", "claims/0",
				"10.77.0.21", 7802, 5, false);
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

static int
be_instance(struct api_backend *b, enum api_op op,
	    const struct sl_api_instance_ref *ref,
	    Sluice__V1__InstanceState *out, struct sl_api_arena *arena,
	    struct sl_api_error *err)
{
	char addr[INET_ADDRSTRLEN] = "10.77.0.11";
	uint32_t port = 7801;
	int rc = 0;

	pthread_mutex_lock(&b->lock);
	COPY(b->last_pipeline, ref->pipeline);
	COPY(b->last_stage, ref->stage);
	COPY(b->last_instance, ref->instance);
	b->last_ip = ref->ip;
	b->last_port = ref->port;
	if (record(b, op, err)) {
		rc = -1;
	} else {
		if (op == API_OP_ADD) {
			struct in_addr a = {htonl(ref->ip)};

			inet_ntop(AF_INET, &a, addr, sizeof(addr));
			port = ref->port;
		}
		mk_state(arena, out, ref->pipeline, ref->stage,
			 ref->instance[0] ? ref->instance : "draft/2", addr,
			 port, op == API_OP_DRAIN ? 3 : 0, op == API_OP_DRAIN);
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

static int
be_add(void *ctx, const struct sl_api_instance_ref *ref,
       Sluice__V1__InstanceState *out, struct sl_api_arena *arena,
       struct sl_api_error *err)
{
	return be_instance(ctx, API_OP_ADD, ref, out, arena, err);
}

static int
be_remove(void *ctx, const struct sl_api_instance_ref *ref,
	  Sluice__V1__InstanceState *out, struct sl_api_arena *arena,
	  struct sl_api_error *err)
{
	return be_instance(ctx, API_OP_REMOVE, ref, out, arena, err);
}

static int
be_drain(void *ctx, const struct sl_api_instance_ref *ref,
	 Sluice__V1__InstanceState *out, struct sl_api_arena *arena,
	 struct sl_api_error *err)
{
	return be_instance(ctx, API_OP_DRAIN, ref, out, arena, err);
}

static int
be_get_stats(void *ctx, bool reset, Sluice__V1__Stats *out,
	     struct sl_api_arena *a, struct sl_api_error *err)
{
	static const char *const reasons[] = {"BAD_MAGIC", "TENANT_RATE"};
	static const uint64_t drop_counts[] = {3, 12};
	struct api_backend *b = ctx;
	uint64_t calls;
	size_t i;
	int rc = 0;

	pthread_mutex_lock(&b->lock);
	b->last_reset = reset;
	if (record(b, API_OP_STATS, err)) {
		pthread_mutex_unlock(&b->lock);
		return -1;
	}
	/* Counters grow by 100 fragments per call, so top sees a rate. */
	calls = b->calls[API_OP_STATS];
	out->generation = b->generation;
	out->rx_packets = 1000 + 100 * calls;
	out->tx_packets = 990 + 100 * calls;
	out->forwarded = 980 + 100 * calls;
	out->n_drops = 2;
	out->drops = sl_api_new(a, Sluice__V1__DropCount *, 2);
	for (i = 0; i < 2; i++) {
		out->drops[i] = sl_api_new(a, Sluice__V1__DropCount, 1);
		sluice__v1__drop_count__init(out->drops[i]);
		out->drops[i]->reason = sl_api_strdup(a, reasons[i]);
		out->drops[i]->count = drop_counts[i];
	}
	out->n_stages = 1;
	out->stages = sl_api_new(a, Sluice__V1__StageStats *, 1);
	out->stages[0] = sl_api_new(a, Sluice__V1__StageStats, 1);
	sluice__v1__stage_stats__init(out->stages[0]);
	out->stages[0]->pipeline = sl_api_strdup(a, "demo");
	out->stages[0]->stage = sl_api_strdup(a, "draft");
	out->stages[0]->fragments = 500;
	out->stages[0]->tokens = 2000;
	out->stages[0]->bytes = 64000;
	out->stages[0]->streams_started = 40;
	out->stages[0]->streams_ended = 38;
	out->stages[0]->streams_aborted = 1;
	out->n_instances = 2;
	out->instances = sl_api_new(a, Sluice__V1__InstanceStats *, 2);
	for (i = 0; i < 2; i++) {
		Sluice__V1__InstanceStats *in =
			sl_api_new(a, Sluice__V1__InstanceStats, 1);

		sluice__v1__instance_stats__init(in);
		in->pipeline = sl_api_strdup(a, "demo");
		in->stage = sl_api_strdup(a, "draft");
		/* A label value that needs escaping. */
		in->instance =
			sl_api_strdup(a, i ? "draft \"b\"\\x" : "draft/0");
		in->address = sl_api_strdup(a, i ? "10.77.0.12:7801"
						 : "10.77.0.11:7801");
		in->fragments = 300 + 100 * calls - 200 * i;
		in->bytes = 9000 - 1000 * i;
		in->streams = 2 - i;
		in->streams_routed = 20 - i;
		in->draining = i == 1;
		out->instances[i] = in;
	}
	out->n_operators = 1;
	out->operators = sl_api_new(a, Sluice__V1__OperatorStats *, 1);
	out->operators[0] = sl_api_new(a, Sluice__V1__OperatorStats, 1);
	sluice__v1__operator_stats__init(out->operators[0]);
	out->operators[0]->pipeline = sl_api_strdup(a, "demo");
	out->operators[0]->stage = sl_api_strdup(a, "total");
	out->operators[0]->kind = SLUICE__V1__STAGE_KIND__STAGE_KIND_SUM;
	out->operators[0]->groups_active = 2;
	out->operators[0]->groups_created = 10;
	out->operators[0]->groups_completed = 7;
	out->operators[0]->groups_aborted = 1;
	out->operators[0]->not_numeric = 4;
	out->flows = sl_api_new(a, Sluice__V1__FlowStats, 1);
	sluice__v1__flow_stats__init(out->flows);
	out->flows->active = 3;
	out->flows->capacity = 65536;
	out->flows->created = 40;
	out->flows->ended = 36;
	out->flows->expired = 1;
	out->mbufs = sl_api_new(a, Sluice__V1__MbufStats, 1);
	sluice__v1__mbuf_stats__init(out->mbufs);
	out->mbufs->in_use = 600;
	out->mbufs->in_use_start = 512;
	out->mbufs->capacity = 8191;
	out->latency = sl_api_new(a, Sluice__V1__LatencyHistogram, 1);
	sluice__v1__latency_histogram__init(out->latency);
	out->latency->n_upper_ns = 3;
	out->latency->upper_ns = sl_api_new(a, uint64_t, 3);
	out->latency->upper_ns[0] = 10000;   /* 10 us */
	out->latency->upper_ns[1] = 1000000; /* 1 ms */
	out->latency->upper_ns[2] = 0;       /* unbounded */
	out->latency->n_count = 3;
	out->latency->count = sl_api_new(a, uint64_t, 3);
	out->latency->count[0] = 5;
	out->latency->count[1] = 3;
	out->latency->count[2] = 2;
	out->latency->samples = 10;
	out->latency->sum_ns = 2500000;
	pthread_mutex_unlock(&b->lock);
	return rc;
}

/* Every guard, as they stand, into @out. */
static void
fill_guards(struct api_backend *b, Sluice__V1__GuardList *out,
	    struct sl_api_arena *a)
{
	out->generation = b->generation;
	out->n_guards = API_GUARDS;
	out->guards = sl_api_new(a, Sluice__V1__Guard *, API_GUARDS);
	for (size_t g = 0; g < API_GUARDS; g++) {
		const struct api_guard *src = &b->guards[g];
		Sluice__V1__Guard *gd = sl_api_new(a, Sluice__V1__Guard, 1);

		sluice__v1__guard__init(gd);
		gd->name = sl_api_strdup(a, src->name);
		gd->action = sl_api_strdup(a, src->action);
		gd->prefix = sl_api_strdup(a, src->prefix);
		gd->n_rules = src->n_rules;
		gd->rules = sl_api_new(a, Sluice__V1__GuardRule *,
				       src->n_rules ? src->n_rules : 1);
		for (size_t i = 0; i < src->n_rules; i++) {
			const struct api_guard_rule *r = &src->rules[i];
			Sluice__V1__GuardRule *gr =
				sl_api_new(a, Sluice__V1__GuardRule, 1);

			sluice__v1__guard_rule__init(gr);
			gr->regex = r->regex;
			gr->pattern = sl_api_strdup(a, r->pattern);
			gr->matches = r->matches;
			gr->blocks = r->blocks;
			gr->redactions = r->redactions;
			gd->rules[i] = gr;
		}
		out->guards[g] = gd;
	}
}

static int
be_list_guards(void *ctx, Sluice__V1__GuardList *out,
	       struct sl_api_arena *arena, struct sl_api_error *err)
{
	struct api_backend *b = ctx;
	int rc = 0;

	pthread_mutex_lock(&b->lock);
	if (record(b, API_OP_LIST_GUARDS, err))
		rc = -1;
	else
		fill_guards(b, out, arena);
	pthread_mutex_unlock(&b->lock);
	return rc;
}

static int
be_edit_guard(void *ctx, const char *guard, bool remove, bool regex,
	      const char *pattern, Sluice__V1__GuardList *out,
	      struct sl_api_arena *arena, struct sl_api_error *err)
{
	struct api_backend *b = ctx;
	const char *kind = regex ? "regex" : "literal";
	struct api_guard *g = NULL;
	size_t i;
	int rc = -1;

	pthread_mutex_lock(&b->lock);
	COPY(b->last_guard, guard);
	b->last_remove = remove;
	b->last_regex = regex;
	COPY(b->last_pattern, pattern);
	if (record(b, API_OP_EDIT_GUARD, err))
		goto out;
	for (i = 0; i < API_GUARDS; i++)
		if (strcmp(b->guards[i].name, guard) == 0)
			g = &b->guards[i];
	if (g == NULL) {
		sl_api_error_set(err, SLUICE__V1__ERROR__CODE__CODE_NOT_FOUND,
				 "guard", "no guard \"%s\"", guard);
		goto out;
	}
	for (i = 0; i < g->n_rules; i++)
		if (g->rules[i].regex == regex &&
		    strcmp(g->rules[i].pattern, pattern) == 0)
			break;
	if (remove) {
		if (i == g->n_rules) {
			sl_api_error_set(
				err, SLUICE__V1__ERROR__CODE__CODE_NOT_FOUND,
				"pattern", "guard %s has no %s \"%s\"", guard,
				kind, pattern);
			goto out;
		}
		memmove(&g->rules[i], &g->rules[i + 1],
			(g->n_rules - i - 1) * sizeof(g->rules[0]));
		g->n_rules--;
	} else {
		if (i < g->n_rules) {
			sl_api_error_set(
				err, SLUICE__V1__ERROR__CODE__CODE_EXISTS,
				"pattern", "guard %s has %s \"%s\" already",
				guard, kind, pattern);
			goto out;
		}
		if (regex && strpbrk(pattern, "*+") != NULL) {
			sl_api_error_set(
				err, SLUICE__V1__ERROR__CODE__CODE_INVALID,
				"pattern", "/%s/: unbounded match width",
				pattern);
			goto out;
		}
		if (g->n_rules == API_GUARD_RULES) {
			sl_api_error_set(
				err, SLUICE__V1__ERROR__CODE__CODE_LIMIT,
				"pattern",
				"guard %s has %d rules, the most there may be",
				guard, API_GUARD_RULES);
			goto out;
		}
		memset(&g->rules[g->n_rules], 0, sizeof(g->rules[0]));
		g->rules[g->n_rules].regex = regex;
		COPY(g->rules[g->n_rules].pattern, pattern);
		g->n_rules++;
	}
	b->generation++;
	fill_guards(b, out, arena);
	rc = 0;
out:
	pthread_mutex_unlock(&b->lock);
	return rc;
}

static uint64_t
be_generation(void *ctx)
{
	struct api_backend *b = ctx;
	uint64_t g;

	pthread_mutex_lock(&b->lock);
	g = b->generation;
	pthread_mutex_unlock(&b->lock);
	return g;
}

static int
be_set_policy(void *ctx, const Sluice__V1__SetPolicy *sp,
	      Sluice__V1__PipelineList *out, struct sl_api_arena *arena,
	      struct sl_api_error *err)
{
	struct api_backend *b = ctx;
	int rc = -1;

	pthread_mutex_lock(&b->lock);
	COPY(b->last_pipeline, sp->pipeline);
	COPY(b->last_stage, sp->stage);
	COPY(b->last_pool, sp->pool);
	b->last_policy = (int)sp->policy;
	b->last_load_bound = sp->load_bound;
	b->last_warm_prefixes = sp->warm_prefixes;
	if (record(b, API_OP_SET_POLICY, err))
		goto out;
	if (strcmp(sp->pipeline, "demo") != 0) {
		sl_api_error_set(err, SLUICE__V1__ERROR__CODE__CODE_NOT_FOUND,
				 "pipeline", "no pipeline \"%s\"",
				 sp->pipeline);
		goto out;
	}
	if (sp->pool[0] != '\0' && strcmp(sp->pool, b->pool.name) != 0) {
		sl_api_error_set(err, SLUICE__V1__ERROR__CODE__CODE_NOT_FOUND,
				 "pool", "no pool \"%s\" in demo", sp->pool);
		goto out;
	}
	if (sp->load_bound != 0 &&
	    (sp->stage[0] != '\0' ||
	     !(sp->load_bound > 1.0 && sp->load_bound <= 16.0))) {
		sl_api_error_set(err, SLUICE__V1__ERROR__CODE__CODE_INVALID,
				 "load_bound",
				 "must be above 1.0 up to 16, for a pool");
		goto out;
	}
	if (sp->warm_prefixes != 0 &&
	    (sp->stage[0] != '\0' || sp->warm_prefixes > 4)) {
		sl_api_error_set(err, SLUICE__V1__ERROR__CODE__CODE_INVALID,
				 "warm_prefixes", "must be 1..4, for a pool");
		goto out;
	}
	if (sp->pool[0] != '\0') {
		b->pool.policy = (int)sp->policy;
		if (sp->load_bound != 0)
			b->pool.load_bound = sp->load_bound;
		if (sp->warm_prefixes != 0)
			b->pool.warm_prefixes = sp->warm_prefixes;
		b->generation++;
	}
	out->n_pipelines = 1;
	out->pipelines = sl_api_new(arena, Sluice__V1__Pipeline *, 1);
	out->pipelines[0] = mk_pipeline(arena, &b->pool);
	rc = 0;
out:
	pthread_mutex_unlock(&b->lock);
	return rc;
}

const struct sl_api_backend_ops api_backend_ops = {
	.apply = be_apply,
	.get_pipelines = be_get_pipelines,
	.list_instances = be_list_instances,
	.add_instance = be_add,
	.remove_instance = be_remove,
	.drain_instance = be_drain,
	.get_stats = be_get_stats,
	.generation = be_generation,
	.list_guards = be_list_guards,
	.edit_guard = be_edit_guard,
	.set_policy = be_set_policy,
};
