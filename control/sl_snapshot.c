/* SPDX-License-Identifier: MIT */
/*
 * sl_snapshot.c - operations on a compiled config (the snapshot the
 * control plane publishes to the dataplane): free, find, dump, clone,
 * instance uids and edits, layout comparison, client networks.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <hs.h>

#include "sl_guard.h"
#include "sl_snapshot.h"

const char *
sl_stage_kind_name(enum sl_stage_kind kind)
{
	switch (kind) {
	case SL_STAGE_OP_COUNT:
		return "count";
	case SL_STAGE_OP_SUM:
		return "sum";
	case SL_STAGE_OP_TOPK:
		return "topk";
	case SL_STAGE_OP_CONCAT:
		return "concat";
	default:
		return "engine";
	}
}

const char *
sl_split_name(enum sl_split split)
{
	switch (split) {
	case SL_SPLIT_LINE:
		return "line";
	case SL_SPLIT_SENTENCE:
		return "sentence";
	case SL_SPLIT_REGEX:
		return "regex";
	default:
		return "none";
	}
}

int
sl_ipv4_parse(const char *s, uint32_t *ip)
{
	uint32_t v = 0;
	unsigned int part;

	for (part = 0; part < 4; part++) {
		unsigned int octet = 0, digits = 0;

		if (part > 0 && *s++ != '.')
			return -EINVAL;
		while (*s >= '0' && *s <= '9') {
			/* A leading zero reads as octal to inet_aton. */
			if (digits == 1 && octet == 0)
				return -EINVAL;
			octet = octet * 10 + (unsigned int)(*s++ - '0');
			if (++digits > 3 || octet > 255)
				return -EINVAL;
		}
		if (digits == 0)
			return -EINVAL;
		v = v << 8 | octet;
	}
	if (*s != '\0')
		return -EINVAL;
	*ip = v;
	return 0;
}

const char *
sl_ipv4_format(uint32_t ip, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff,
		 (ip >> 8) & 0xff, ip & 0xff);
	return buf;
}

void
sl_guard_ref_get(struct sl_guard_ref *ref)
{
	if (ref != NULL)
		__atomic_add_fetch(&ref->refs, 1, __ATOMIC_RELAXED);
}

void
sl_guard_ref_put(struct sl_guard_ref *ref)
{
	if (ref == NULL || __atomic_sub_fetch(&ref->refs, 1, __ATOMIC_ACQ_REL))
		return;
	sl_guard_free(ref->set);
	for (unsigned int i = 0; i < ref->n_rules; i++)
		free(ref->patterns[i]);
	free(ref->patterns);
	free(ref->regex);
	free(ref);
}

void
sl_config_free(struct sl_config *cfg)
{
	unsigned int i, j;

	if (cfg == NULL)
		return;
	/* Every pipeline slot, not n_pipelines: a config that failed
	 * half-way has databases in the pipeline being read. */
	for (i = 0; i < SL_MAX_PIPELINES; i++)
		for (j = 0; j < SL_MAX_EDGES; j++)
			hs_free_database(cfg->pipelines[i].edges[j].split_db);
	for (i = 0; i < cfg->n_guards; i++)
		sl_guard_ref_put(cfg->guards[i].ref);
	for (i = 0; i < SL_MAX_PIPELINES; i++)
		for (j = 0; j < SL_MAX_STAGES; j++)
			free(cfg->pipelines[i].stages[j].prompt);
	free(cfg);
}

const char *
sl_stage_name_of(const struct sl_pipeline_cfg *pl, uint16_t id)
{
	if (id == SL_STAGE_CLIENT)
		return "client";
	return id <= pl->n_stages ? pl->stages[id - 1].name : NULL;
}

const struct sl_pipeline_cfg *
sl_config_find_pipeline(const struct sl_config *cfg, uint32_t id)
{
	unsigned int i;

	for (i = 0; i < cfg->n_pipelines; i++)
		if (cfg->pipelines[i].id == id)
			return &cfg->pipelines[i];
	return NULL;
}

static const char *const balance_names[SL_BALANCE_MAX] = {
	[SL_BALANCE_ROUND_ROBIN] = "round_robin",
	[SL_BALANCE_LEAST_LOADED] = "least_loaded",
	[SL_BALANCE_HASH_REQUEST] = "hash_request",
	[SL_BALANCE_PROMPT_AWARE] = "prompt_aware",
};

const char *
sl_balance_name(enum sl_balance b)
{
	return (unsigned int)b < SL_BALANCE_MAX ? balance_names[b] : "?";
}

enum sl_balance
sl_balance_parse(const char *s)
{
	if (!strcmp(s, "least_outstanding"))
		return SL_BALANCE_LEAST_LOADED;
	for (unsigned int b = 0; b < SL_BALANCE_MAX; b++)
		if (!strcmp(s, balance_names[b]))
			return (enum sl_balance)b;
	return SL_BALANCE_MAX;
}

/* A pattern as a YAML double-quoted scalar would spell it. */
static void
dump_pattern(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", out);
		else if (ch == '\t')
			fputs("\\t", out);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(out, "\\x%02x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

static void
dump_stage(const struct sl_pipeline_cfg *pl, const struct sl_stage_cfg *st,
	   FILE *out)
{
	char ip[16];
	unsigned int k;

	fprintf(out, "  stage %u %s %s depth %u aggregation %u", st->id,
		st->name, sl_stage_kind_name(st->kind), st->depth_in,
		st->aggregation);
	if (st->kind != SL_STAGE_ENGINE) {
		if (st->kind == SL_STAGE_OP_TOPK)
			fprintf(out, " k %lu", (unsigned long)st->topk);
		fprintf(out, " max_groups %lu max_group_bytes %lu\n",
			(unsigned long)st->max_groups,
			(unsigned long)st->max_group_bytes);
		return;
	}
	fprintf(out, " balance %s", sl_balance_name(st->balance));
	if (st->pool != SL_POOL_NONE)
		fprintf(out, " pool %s", pl->pools[st->pool].name);
	if (st->balance == SL_BALANCE_PROMPT_AWARE)
		fprintf(out, " cost_us %lu warm_saving_us %lu",
			(unsigned long)st->cost_us,
			(unsigned long)st->warm_saving_us);
	if (st->load_bound != 0.0)
		fprintf(out, " load_bound %g", st->load_bound);
	fprintf(out, " instances %u\n", st->n_instances);
	for (k = 0; k < st->n_instances; k++)
		fprintf(out, "    instance %s %s:%u\n", st->instances[k].name,
			sl_ipv4_format(st->instances[k].ep.ip, ip, sizeof(ip)),
			st->instances[k].ep.port);
}

static void
dump_edge(const struct sl_pipeline_cfg *pl, const struct sl_edge_cfg *e,
	  FILE *out)
{
	fprintf(out, "  edge %u %s -> %s", e->id, sl_stage_name_of(pl, e->from),
		sl_stage_name_of(pl, e->to));
	if (e->mode == SL_EDGE_BUFFER)
		fputs(" buffer", out);
	if (e->split != SL_SPLIT_NONE) {
		fprintf(out, " split %s", sl_split_name(e->split));
		if (e->split == SL_SPLIT_REGEX) {
			fputc(' ', out);
			dump_pattern(out, e->pattern);
		}
		if (e->stream_children)
			fputs(" stream_children", out);
		fprintf(out, " depth %u->%u\n", e->depth_in, e->depth_out);
	} else {
		fprintf(out, " depth %u\n", e->depth_in);
	}
}

void
sl_config_dump(const struct sl_config *cfg, FILE *out)
{
	char ip[16];
	unsigned int i, j;

	fprintf(out,
		"sluiced %s:%u flows %lu idle %lu ms reorder %lu buffer %lu\n",
		sl_ipv4_format(cfg->listen.ip, ip, sizeof(ip)),
		cfg->listen.port, (unsigned long)cfg->flow_table_size,
		(unsigned long)cfg->flow_idle_ms,
		(unsigned long)cfg->reorder_window,
		(unsigned long)cfg->buffer_max);
	for (i = 0; i < cfg->n_client_nets; i++)
		fprintf(out, "client %s/%u\n",
			sl_ipv4_format(cfg->client_nets[i].addr, ip,
				       sizeof(ip)),
			cfg->client_nets[i].prefix_len);
	if (cfg->n_tenants == 0)
		fprintf(out, "tenants any\n");
	for (i = 0; i < cfg->n_tenants; i++) {
		const struct sl_tenant_cfg *t = &cfg->tenants[i];

		fprintf(out,
			"tenant %u max_streams %lu fragments_per_s %lu burst "
			"%lu\n",
			t->id, (unsigned long)t->max_streams,
			(unsigned long)t->fragments_per_s,
			(unsigned long)t->burst);
	}
	for (i = 0; i < cfg->n_pipelines; i++) {
		const struct sl_pipeline_cfg *pl = &cfg->pipelines[i];

		fprintf(out,
			"pipeline %s id %lu stages %u edges %u single_output "
			"%s\n",
			pl->name, (unsigned long)pl->id, pl->n_stages,
			pl->n_edges, pl->single_output ? "yes" : "no");
		for (j = 0; j < pl->n_pools; j++) {
			const struct sl_pool_cfg *po = &pl->pools[j];

			fprintf(out,
				"  pool %s policy %s load_bound %g "
				"warm_prefixes %u instances %u stages %u\n",
				po->name, sl_balance_name(po->policy),
				po->load_bound, po->warm_prefixes,
				po->n_instances, po->n_stages);
		}
		for (j = 0; j < pl->n_stages; j++)
			dump_stage(pl, &pl->stages[j], out);
		for (j = 0; j < pl->n_edges; j++)
			dump_edge(pl, &pl->edges[j], out);
	}
}

struct sl_config *
sl_config_clone(const struct sl_config *cfg)
{
	struct sl_config *c = malloc(sizeof(*c));

	if (c == NULL)
		return NULL;
	memcpy(c, cfg, sizeof(*c));
	/* Guard sets are shared, not recompiled. */
	for (unsigned int i = 0; i < c->n_guards; i++)
		sl_guard_ref_get(c->guards[i].ref);
	/* Split databases and prompts are @c's own, made below: until then
	 * @c holds none of them (a failure frees what @c made only). */
	for (unsigned int i = 0; i < SL_MAX_PIPELINES; i++) {
		for (unsigned int j = 0; j < SL_MAX_EDGES; j++)
			c->pipelines[i].edges[j].split_db = NULL;
		for (unsigned int j = 0; j < SL_MAX_STAGES; j++)
			c->pipelines[i].stages[j].prompt = NULL;
	}
	for (unsigned int i = 0; i < SL_MAX_PIPELINES; i++)
		for (unsigned int j = 0; j < SL_MAX_EDGES; j++) {
			struct sl_edge_cfg *e = &c->pipelines[i].edges[j];
			hs_compile_error_t *ce = NULL;
			hs_database_t *db = NULL;

			if (cfg->pipelines[i].edges[j].split_db == NULL)
				continue;
			if (hs_compile(e->pattern,
				       HS_FLAG_UTF8 | HS_FLAG_DOTALL,
				       HS_MODE_STREAM, NULL, &db,
				       &ce) != HS_SUCCESS) {
				hs_free_compile_error(ce);
				sl_config_free(c);
				errno = EINVAL;
				return NULL;
			}
			e->split_db = db;
		}
	for (unsigned int i = 0; i < SL_MAX_PIPELINES; i++)
		for (unsigned int j = 0; j < SL_MAX_STAGES; j++) {
			const char *p = cfg->pipelines[i].stages[j].prompt;

			if (p == NULL)
				continue;
			c->pipelines[i].stages[j].prompt = strdup(p);
			if (c->pipelines[i].stages[j].prompt == NULL) {
				sl_config_free(c);
				errno = ENOMEM;
				return NULL;
			}
		}
	return c;
}

static const struct sl_instance_cfg *
find_same_instance(const struct sl_config *prev, const char *pipeline,
		   const char *stage, const struct sl_endpoint *ep)
{
	if (prev == NULL)
		return NULL;
	for (unsigned int p = 0; p < prev->n_pipelines; p++) {
		const struct sl_pipeline_cfg *pl = &prev->pipelines[p];

		if (strcmp(pl->name, pipeline) != 0)
			continue;
		for (unsigned int s = 0; s < pl->n_stages; s++) {
			const struct sl_stage_cfg *st = &pl->stages[s];

			if (strcmp(st->name, stage) != 0)
				continue;
			for (unsigned int i = 0; i < st->n_instances; i++)
				if (st->instances[i].ep.ip == ep->ip &&
				    st->instances[i].ep.port == ep->port)
					return &st->instances[i];
		}
	}
	return NULL;
}

/* Rebuild cfg->instances_all; -ENOSPC past SL_MAX_INSTANCE_UIDS. */
static int
index_instances(struct sl_config *cfg)
{
	uint32_t n = 0;

	for (unsigned int p = 0; p < cfg->n_pipelines; p++)
		for (unsigned int s = 0; s < cfg->pipelines[p].n_stages; s++)
			for (unsigned int i = 0;
			     i < cfg->pipelines[p].stages[s].n_instances; i++) {
				if (n == SL_MAX_INSTANCE_UIDS)
					return -ENOSPC;
				cfg->instances_all[n++] =
					(struct sl_instance_at){(uint8_t)p,
								(uint8_t)s,
								(uint8_t)i};
			}
	cfg->n_instances_all = (uint16_t)n;
	return 0;
}

/* The next uid from cfg->next_uid on that no other instance of @cfg
 * holds (fresh uids move forward, so a uid still named by streams of a
 * removed instance is not handed out again before the counter wraps). */
static uint16_t
fresh_uid(struct sl_config *cfg, const struct sl_instance_cfg *self)
{
	bool used[SL_MAX_INSTANCE_UIDS] = {false};
	uint16_t u = cfg->next_uid;

	for (uint16_t k = 0; k < cfg->n_instances_all; k++) {
		const struct sl_instance_cfg *in =
			sl_config_instance_at(cfg, &cfg->instances_all[k]);

		if (in != self && in->uid < SL_MAX_INSTANCE_UIDS)
			used[in->uid] = true;
	}
	while (used[u]) /* a free one exists: n_instances_all <= the slots */
		u = (uint16_t)((u + 1) % SL_MAX_INSTANCE_UIDS);
	cfg->next_uid = (uint16_t)((u + 1) % SL_MAX_INSTANCE_UIDS);
	return u;
}

int
sl_config_assign_uids(struct sl_config *cfg, const struct sl_config *prev)
{
	bool fresh[SL_MAX_INSTANCE_UIDS] = {false};

	if (index_instances(cfg) != 0)
		return -ENOSPC;
	cfg->next_uid = prev != NULL ? prev->next_uid : 0;
	/* Kept uids first, so that no fresh one is handed out twice. */
	for (uint16_t k = 0; k < cfg->n_instances_all; k++) {
		const struct sl_instance_at *at = &cfg->instances_all[k];
		struct sl_instance_cfg *in = sl_config_instance_at(cfg, at);
		const struct sl_instance_cfg *old = find_same_instance(
			prev, cfg->pipelines[at->pipeline].name,
			cfg->pipelines[at->pipeline].stages[at->stage].name,
			&in->ep);

		/* Draining is not carried over: the file says which
		 * instances take streams. */
		if (old != NULL) {
			in->uid = old->uid;
		} else {
			in->uid = UINT16_MAX; /* not held yet */
			fresh[k] = true;
		}
	}
	for (uint16_t k = 0; k < cfg->n_instances_all; k++) {
		struct sl_instance_cfg *in =
			sl_config_instance_at(cfg, &cfg->instances_all[k]);

		if (fresh[k])
			in->uid = fresh_uid(cfg, in);
	}
	return 0;
}

/* The pipeline named @pipeline of @cfg and, when @stage is not empty,
 * its stage of that name (else *@st NULL); -ENOENT with the field named
 * in @err when there is none. */
static int
edit_target(struct sl_config *cfg, const char *pipeline, const char *stage,
	    struct sl_pipeline_cfg **pl, struct sl_stage_cfg **st, char *err,
	    size_t errlen)
{
	unsigned int i;

	*pl = NULL;
	*st = NULL;
	for (i = 0; i < cfg->n_pipelines && *pl == NULL; i++)
		if (strcmp(cfg->pipelines[i].name, pipeline) == 0)
			*pl = &cfg->pipelines[i];
	if (*pl == NULL) {
		snprintf(err, errlen, "pipeline: no pipeline named \"%s\"",
			 pipeline);
		return -ENOENT;
	}
	if (stage[0] == '\0')
		return 0;
	for (i = 0; i < (*pl)->n_stages && *st == NULL; i++)
		if (strcmp((*pl)->stages[i].name, stage) == 0)
			*st = &(*pl)->stages[i];
	if (*st == NULL) {
		snprintf(err, errlen, "stage: no stage named \"%s\" in %s",
			 stage, pipeline);
		return -ENOENT;
	}
	return 0;
}

static int instance_edit_stage(struct sl_config *cfg, struct sl_stage_cfg *st,
			       char op, const char *name,
			       const struct sl_endpoint *ep, char *err,
			       size_t errlen);

int
sl_config_instance_edit(struct sl_config *cfg, char op, const char *pipeline,
			const char *stage, const char *name,
			const struct sl_endpoint *ep, char *err, size_t errlen)
{
	struct sl_pipeline_cfg *pl;
	struct sl_stage_cfg *st;
	unsigned int i;
	int rc = edit_target(cfg, pipeline, stage, &pl, &st, err, errlen);

	if (rc != 0)
		return rc;
	if (st == NULL) {
		snprintf(err, errlen, "stage: no stage named \"\" in %s",
			 pipeline);
		return -ENOENT;
	}
	if (st->kind != SL_STAGE_ENGINE) {
		snprintf(err, errlen,
			 "stage: %s is an operator stage and has no instances",
			 stage);
		return -EINVAL;
	}
	if (st->pool != SL_POOL_NONE) {
		/* A pool's member is an instance of each of its stages,
		 * at the same index: the edit is the pool's. */
		struct sl_pool_cfg *po = &pl->pools[st->pool];
		int rc = 0;

		for (i = 0; i < po->n_stages && rc == 0; i++)
			rc = instance_edit_stage(cfg,
						 &pl->stages[po->stages[i]], op,
						 name, ep, err, errlen);
		po->n_instances = st->n_instances;
		return rc;
	}
	return instance_edit_stage(cfg, st, op, name, ep, err, errlen);
}

int
sl_config_policy_edit(struct sl_config *cfg, const char *pipeline,
		      const char *stage, const char *pool,
		      const struct sl_policy_edit *e, char *err, size_t errlen)
{
	enum sl_balance policy = e->policy;
	struct sl_pipeline_cfg *pl;
	struct sl_stage_cfg *st;
	struct sl_pool_cfg *po = NULL;
	unsigned int i;
	int rc;

	if ((unsigned int)policy >= SL_BALANCE_MAX) {
		snprintf(err, errlen, "policy: not a policy (%d)", (int)policy);
		return -EINVAL;
	}
	if ((stage[0] != '\0') == (pool[0] != '\0')) {
		snprintf(err, errlen,
			 "stage: name a stage or a pool (one of the two)");
		return -EINVAL;
	}
	/* The file's bounds (sl_config.c, parse_pool). */
	if (e->load_bound != 0 &&
	    !(e->load_bound > 1.0 && e->load_bound <= 16.0)) {
		snprintf(err, errlen,
			 "load_bound: must be above 1.0 and at most 16.0, "
			 "got %g",
			 e->load_bound);
		return -EINVAL;
	}
	if (e->warm_prefixes > SL_POOL_WARM_MAX) {
		snprintf(err, errlen, "warm_prefixes: must be 1..%d, got %u",
			 SL_POOL_WARM_MAX, e->warm_prefixes);
		return -EINVAL;
	}
	if (stage[0] != '\0' && (e->load_bound != 0 || e->warm_prefixes != 0)) {
		snprintf(err, errlen,
			 "%s: a pool's setting: name the pool (--pool)",
			 e->load_bound != 0 ? "load_bound" : "warm_prefixes");
		return -EINVAL;
	}
	rc = edit_target(cfg, pipeline, stage, &pl, &st, err, errlen);
	if (rc != 0)
		return rc;
	if (st != NULL) {
		if (st->kind != SL_STAGE_ENGINE) {
			snprintf(err, errlen,
				 "stage: %s is an operator stage: no policy",
				 stage);
			return -EINVAL;
		}
		st->balance = policy;
		return 0;
	}
	for (i = 0; i < pl->n_pools; i++)
		if (strcmp(pl->pools[i].name, pool) == 0)
			po = &pl->pools[i];
	if (po == NULL) {
		snprintf(err, errlen, "pool: no pool named \"%s\" in %s", pool,
			 pipeline);
		return -ENOENT;
	}
	/* The pool's, and every stage's that takes the pool's instances. */
	po->policy = policy;
	for (i = 0; i < po->n_stages; i++)
		pl->stages[po->stages[i]].balance = policy;
	if (e->load_bound != 0)
		po->load_bound = e->load_bound;
	if (e->warm_prefixes != 0)
		po->warm_prefixes = (uint8_t)e->warm_prefixes;
	return 0;
}

/* sl_config_instance_edit on one stage. */
static int
instance_edit_stage(struct sl_config *cfg, struct sl_stage_cfg *st, char op,
		    const char *name, const struct sl_endpoint *ep, char *err,
		    size_t errlen)
{
	const char *stage = st->name;
	unsigned int i, live = 0;
	int found = -1;

	for (i = 0; i < st->n_instances; i++) {
		if (name != NULL && strcmp(st->instances[i].name, name) == 0)
			found = (int)i;
		if (!st->instances[i].draining)
			live++;
	}
	if (op == 'a') {
		if (found >= 0) {
			snprintf(err, errlen,
				 "instance: %s already exists in %s", name,
				 stage);
			return -EEXIST;
		}
		for (i = 0; i < st->n_instances; i++)
			if (st->instances[i].ep.ip == ep->ip &&
			    st->instances[i].ep.port == ep->port) {
				snprintf(err, errlen,
					 "address: already used by %s",
					 st->instances[i].name);
				return -EEXIST;
			}
		if (ep->ip == cfg->listen.ip && ep->port == cfg->listen.port) {
			snprintf(err, errlen,
				 "address: is sluiced's own address");
			return -EINVAL;
		}
		if (st->n_instances == SL_MAX_INSTANCES) {
			snprintf(err, errlen,
				 "instance: stage %s has %u instances already",
				 stage, SL_MAX_INSTANCES);
			return -ENOSPC;
		}
		if (strlen(name) == 0 || strlen(name) >= SL_NAME_MAX) {
			snprintf(err, errlen, "name: must be 1..%u characters",
				 SL_NAME_MAX - 1);
			return -EINVAL;
		}
		struct sl_instance_cfg *in = &st->instances[st->n_instances++];

		memset(in, 0, sizeof(*in));
		snprintf(in->name, sizeof(in->name), "%s", name);
		in->ep = *ep;
		if (index_instances(cfg) != 0) {
			st->n_instances--;
			index_instances(cfg);
			snprintf(err, errlen,
				 "instance: sluiced runs %u instances at most",
				 SL_MAX_INSTANCE_UIDS);
			return -ENOSPC;
		}
		in->uid = fresh_uid(cfg, in);
		return 0;
	}
	if (found < 0) {
		snprintf(err, errlen,
			 "instance: no instance named \"%s\" in %s",
			 name != NULL ? name : "", stage);
		return -ENOENT;
	}
	if (!st->instances[found].draining && live == 1) {
		snprintf(err, errlen,
			 "instance: %s is the last instance of %s taking new "
			 "streams",
			 name, stage);
		return -EINVAL;
	}
	if (op == 'd') {
		st->instances[found].draining = true;
		return 0;
	}
	memmove(&st->instances[found], &st->instances[found + 1],
		sizeof(st->instances[0]) * (st->n_instances - found - 1));
	st->n_instances--;
	index_instances(cfg); /* fewer: cannot overflow */
	return 0;
}

static bool
same_stage(const struct sl_stage_cfg *a, const struct sl_stage_cfg *b)
{
	/* The policy (balance) and the scheduler's costs only steer new
	 * streams: a change of them is no change of layout. */
	return strcmp(a->name, b->name) == 0 && a->kind == b->kind &&
	       a->aggregation == b->aggregation && a->pool == b->pool &&
	       a->load_bound == b->load_bound && a->topk == b->topk &&
	       a->max_groups == b->max_groups &&
	       a->max_group_bytes == b->max_group_bytes;
}

static bool
same_edge(const struct sl_edge_cfg *a, const struct sl_edge_cfg *b)
{
	return a->from == b->from && a->to == b->to && a->mode == b->mode &&
	       a->split == b->split &&
	       a->stream_children == b->stream_children &&
	       a->guard == b->guard && strcmp(a->pattern, b->pattern) == 0;
}

bool
sl_config_net_match(const struct sl_ipv4_net *nets, uint16_t n, uint32_t ip)
{
	for (uint16_t i = 0; i < n; i++)
		if ((ip & nets[i].mask) == nets[i].addr)
			return true;
	return false;
}

bool
sl_config_is_client(const struct sl_config *cfg, uint32_t ip)
{
	return sl_config_net_match(cfg->client_nets, cfg->n_client_nets, ip);
}

bool
sl_config_same_layout(const struct sl_config *a, const struct sl_config *b)
{
	if (a->n_pipelines != b->n_pipelines ||
	    a->buffer_max != b->buffer_max || a->n_guards != b->n_guards)
		return false;
	/* Rules may differ: a stream keeps the compiled set it started
	 * with (it holds a reference), new streams take the new one. */
	for (unsigned int g = 0; g < a->n_guards; g++)
		if (strcmp(a->guards[g].name, b->guards[g].name) != 0 ||
		    a->guards[g].action != b->guards[g].action ||
		    strcmp(a->guards[g].prefix, b->guards[g].prefix) != 0 ||
		    strcmp(a->guards[g].refusal, b->guards[g].refusal) != 0)
			return false;
	for (unsigned int p = 0; p < a->n_pipelines; p++) {
		const struct sl_pipeline_cfg *x = &a->pipelines[p];
		const struct sl_pipeline_cfg *y = &b->pipelines[p];

		if (x->id != y->id || strcmp(x->name, y->name) != 0 ||
		    x->n_stages != y->n_stages || x->n_edges != y->n_edges ||
		    x->n_pools != y->n_pools)
			return false;
		for (unsigned int k = 0; k < x->n_pools; k++)
			if (strcmp(x->pools[k].name, y->pools[k].name) != 0)
				return false;
		for (unsigned int s = 0; s < x->n_stages; s++)
			if (!same_stage(&x->stages[s], &y->stages[s]))
				return false;
		for (unsigned int e = 0; e < x->n_edges; e++)
			if (!same_edge(&x->edges[e], &y->edges[e]))
				return false;
	}
	return true;
}

int
sl_config_check_replace(const struct sl_config *cur,
			const struct sl_config *next, char *err, size_t errlen)
{
	if (cur->listen.ip != next->listen.ip ||
	    cur->listen.port != next->listen.port) {
		snprintf(err, errlen,
			 "sluiced: the dataplane address is fixed "
			 "while sluiced runs");
		return -EINVAL;
	}
	if (cur->flow_table_size != next->flow_table_size ||
	    cur->reorder_window != next->reorder_window) {
		snprintf(err, errlen,
			 "flows: size and reorder_window are fixed "
			 "while sluiced runs");
		return -EINVAL;
	}
	return 0;
}

void
sl_config_share_patterns(struct sl_config *next, struct sl_config *cur)
{
	for (unsigned int p = 0; p < next->n_pipelines && p < cur->n_pipelines;
	     p++)
		for (unsigned int e = 0; e < next->pipelines[p].n_edges &&
					 e < cur->pipelines[p].n_edges;
		     e++) {
			struct sl_edge_cfg *ne = &next->pipelines[p].edges[e];
			struct sl_edge_cfg *ce = &cur->pipelines[p].edges[e];
			void *db;

			if (ne->split_db == NULL || ce->split_db == NULL ||
			    strcmp(ce->pattern, ne->pattern) != 0)
				continue;
			db = ne->split_db;
			ne->split_db = ce->split_db;
			ce->split_db = db;
		}
}
