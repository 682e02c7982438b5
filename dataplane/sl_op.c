/* SPDX-License-Identifier: MIT */
/*
 * sl_op.c - inline operators (see sl_op.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_malloc.h>
#include <rte_mempool.h>

#include "sl_dp.h"
#include "sl_op.h"

#define OP_CHUNK 4096
#define OP_TOPK_MAX 64
#define OP_TEXT_MAX 46
#define OP_SORT_MAX 4096
#define OP_GROUPS_MAX (1u << 20)

enum op_group_state {
	OP_GROUP_FREE = 0,
	OP_GROUP_ACTIVE,
	OP_GROUP_DONE, /* result sent; lingers to swallow late inputs */
};

/* Arena chunk; records and top-k entries never span two. */
struct op_chunk {
	struct op_chunk *next;
	uint32_t used;
	uint8_t data[] __rte_aligned(8); /* op_top and op_record hold 8-byte fields */
};
#define OP_CHUNK_DATA (OP_CHUNK - offsetof(struct op_chunk, data))

/* One fragment's tokens kept by concat, with what orders it. */
struct op_record {
	uint16_t len; /* token bytes that follow, wire format */
	uint16_t from_stage;
	uint32_t seq;
	uint8_t depth;
	uint64_t path[SL_ANCESTRY_MAX]; /* host order */
	uint8_t tokens[];
};

struct op_top {
	double value;
	uint32_t id;
	uint16_t len;
	char text[OP_TEXT_MAX];
};

struct op_group {
	uint64_t last_tsc;
	int64_t credit;
	uint64_t tokens;
	double sum;
	uint64_t send_ns;
	uint32_t gen;
	uint32_t bytes;
	uint32_t n_records;
	uint16_t tenant;
	uint8_t pipeline;
	uint8_t stage; /* index into the pipeline's stages[] */
	uint8_t state;
	uint8_t n_top;
	struct op_chunk *head;
	struct op_chunk *tail;
	struct sl_flow_key key;
};

struct op_acct {
	uint8_t stage; /* operator stage index */
	uint8_t units; /* what a child started on this edge adds */
};

struct sl_op_state {
	struct rte_hash *hash;
	struct op_group *groups;
	uint32_t capacity;
	uint32_t cursor;
	struct rte_mempool *chunks;
	uint32_t active[SL_MAX_PIPELINES][SL_MAX_STAGES];
	uint8_t n_acct[SL_MAX_PIPELINES][SL_MAX_EDGES];
	struct op_acct acct[SL_MAX_PIPELINES][SL_MAX_EDGES][SL_MAX_STAGES];
	const struct op_record *sort[OP_SORT_MAX];
};

static uint32_t
op_hash_func(const void *key, uint32_t key_len, uint32_t init_val)
{
	RTE_SET_USED(key_len);
	RTE_SET_USED(init_val);
	return sl_flow_hash(key);
}

/*
 * Which splits an operator must count: walking back from the operator
 * along first in-edges, every split whose parents sit at or below the
 * group's level. Their children are what the group waits for.
 */
static void
op_plan_accounting(struct sl_op_state *os, uint8_t p,
		   const struct sl_pipeline_cfg *pl, uint8_t op)
{
	const struct sl_stage_cfg *st = &pl->stages[op];
	uint16_t cur = st->id;

	for (;;) {
		const struct sl_edge_cfg *in = NULL;

		for (uint16_t i = 0; i < pl->n_edges && in == NULL; i++)
			if (pl->edges[i].to == cur)
				in = &pl->edges[i];
		if (in == NULL)
			return;
		if (in->split != SL_SPLIT_NONE &&
		    in->depth_in >= st->aggregation) {
			uint8_t *n = &os->n_acct[p][in->id];

			os->acct[p][in->id][*n].stage = op;
			os->acct[p][in->id][*n].units =
				in->depth_out == st->depth_in ? st->n_in_edges
							      : 1;
			(*n)++;
		}
		if (in->from == SL_STAGE_CLIENT ||
		    in->depth_in < st->aggregation)
			return;
		cur = in->from;
	}
}

int
sl_op_init(struct sl_dp *dp)
{
	const struct sl_config *cfg = dp->cfg;
	struct sl_op_state *os;
	uint64_t groups = 0;
	char name[RTE_HASH_NAMESIZE];
	static unsigned int seq;

	for (uint16_t p = 0; p < cfg->n_pipelines; p++)
		for (uint16_t s = 0; s < cfg->pipelines[p].n_stages; s++)
			if (cfg->pipelines[p].stages[s].kind != SL_STAGE_ENGINE)
				groups += 2ull *
					  cfg->pipelines[p].stages[s].max_groups;
	if (groups == 0)
		return 0;
	if (groups > OP_GROUPS_MAX)
		groups = OP_GROUPS_MAX;
	if (groups < 8) /* rte_hash's smallest table */
		groups = 8;
	os = rte_zmalloc("sl_op_state", sizeof(*os), RTE_CACHE_LINE_SIZE);
	if (os == NULL)
		return -ENOMEM;
	snprintf(name, sizeof(name), "sl_groups_%u", seq);
	struct rte_hash_parameters hp = {
		.name = name,
		.entries = (uint32_t)groups,
		.key_len = sizeof(struct sl_flow_key),
		.hash_func = op_hash_func,
		.socket_id = rte_socket_id(),
		.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE,
	};
	os->hash = rte_hash_create(&hp);
	if (os->hash == NULL)
		goto fail;
	os->capacity = (uint32_t)rte_hash_max_key_id(os->hash) + 1;
	os->groups = rte_zmalloc("sl_op_groups",
				 sizeof(*os->groups) * os->capacity,
				 RTE_CACHE_LINE_SIZE);
	snprintf(name, sizeof(name), "sl_opchunks_%u", seq++);
	os->chunks = rte_mempool_create(name,
		(unsigned int)RTE_MIN(groups * 2, 16384ull) - 1, OP_CHUNK, 0,
		0, NULL, NULL, NULL, NULL, rte_socket_id(), 0);
	if (os->groups == NULL || os->chunks == NULL)
		goto fail;
	for (uint16_t p = 0; p < cfg->n_pipelines; p++)
		for (uint16_t s = 0; s < cfg->pipelines[p].n_stages; s++)
			if (cfg->pipelines[p].stages[s].kind != SL_STAGE_ENGINE)
				op_plan_accounting(os, (uint8_t)p,
						   &cfg->pipelines[p],
						   (uint8_t)s);
	dp->op = os;
	return 0;
fail:
	rte_mempool_free(os->chunks);
	rte_free(os->groups);
	rte_hash_free(os->hash);
	rte_free(os);
	return -ENOMEM;
}

static void
op_group_free(struct sl_dp *dp, uint32_t idx)
{
	struct sl_op_state *os = dp->op;
	struct op_group *g = &os->groups[idx];

	while (g->head != NULL) {
		struct op_chunk *c = g->head;

		g->head = c->next;
		rte_mempool_put(os->chunks, c);
	}
	g->tail = NULL;
	if (g->state == OP_GROUP_ACTIVE)
		os->active[g->pipeline][g->stage]--;
	rte_hash_del_key(os->hash, &g->key);
	g->state = OP_GROUP_FREE;
	g->gen++;
}

void
sl_op_fini(struct sl_dp *dp)
{
	struct sl_op_state *os = dp->op;

	if (os == NULL)
		return;
	for (uint32_t i = 0; i < os->capacity; i++)
		if (os->groups[i].state != OP_GROUP_FREE)
			op_group_free(dp, i);
	rte_mempool_free(os->chunks);
	rte_free(os->groups);
	rte_hash_free(os->hash);
	rte_free(os);
	dp->op = NULL;
}

static void op_abort(struct sl_dp *dp, struct op_group *g, uint8_t reason);

static void
op_key(struct sl_flow_key *k, const struct sl_pipeline_cfg *pl,
       const struct sl_stage_cfg *st, const uint64_t *ancestry)
{
	memset(k, 0, sizeof(*k));
	k->pipeline = rte_cpu_to_be_32(pl->id);
	k->stage = rte_cpu_to_be_16(st->id);
	k->depth = st->aggregation;
	k->zero = SL_FLOW_KEY_GROUP;
	memcpy(k->ancestry, ancestry, 8u * st->aggregation);
}

/* The group of @ancestry at operator stage @s, made if new. NULL: no room
 * (counted). */
static struct op_group *
op_group_get(struct sl_dp *dp, uint8_t p, uint8_t s, const uint64_t *ancestry,
	     uint16_t tenant, uint64_t send_ns)
{
	struct sl_op_state *os = dp->op;
	const struct sl_pipeline_cfg *pl = &dp->cfg->pipelines[p];
	const struct sl_stage_cfg *st = &pl->stages[s];
	struct sl_flow_key k;
	struct op_group *g;
	int32_t pos;

	op_key(&k, pl, st, ancestry);
	pos = rte_hash_lookup(os->hash, &k);
	if (pos >= 0)
		return &os->groups[pos];
	pos = rte_hash_add_key(os->hash, &k);
	if (pos < 0) {
		/* Not even room to remember the refusal. */
		dp->op_cnt.groups_full++;
		return NULL;
	}
	g = &os->groups[pos];
	uint32_t gen = g->gen;

	memset(g, 0, sizeof(*g));
	g->gen = gen;
	g->key = k;
	g->pipeline = p;
	g->stage = s;
	g->tenant = tenant;
	g->send_ns = send_ns;
	g->state = OP_GROUP_ACTIVE;
	g->last_tsc = dp->now;
	/* The group's own node: split once (L < depth_in), or reached by one
	 * stream per in-edge (L == depth_in). */
	g->credit = st->aggregation == st->depth_in ? st->n_in_edges : 1;
	os->active[p][s]++;
	dp->op_cnt.groups_created++;
	if (os->active[p][s] > st->max_groups) {
		/* Over the bound: the request's result is an ABORT, and the
		 * key stays known (done) so later inputs cannot start a
		 * partial group. */
		dp->op_cnt.groups_full++;
		op_abort(dp, g, SL_ABORT_OVERLOAD);
	}
	return g;
}

/* Room for @len bytes in @g's arena, or NULL when the group is over its
 * bound or the pool is dry. */
static void *
op_alloc(struct sl_dp *dp, struct op_group *g, uint32_t len)
{
	const struct sl_stage_cfg *st =
		&dp->cfg->pipelines[g->pipeline].stages[g->stage];
	struct op_chunk *c = g->tail;
	void *obj;

	if (len > OP_CHUNK_DATA || g->bytes + len > st->max_group_bytes)
		return NULL;
	if (c == NULL || c->used + len > OP_CHUNK_DATA) {
		if (rte_mempool_get(dp->op->chunks, &obj) != 0)
			return NULL;
		c = obj;
		c->next = NULL;
		c->used = 0;
		if (g->tail != NULL)
			g->tail->next = c;
		else
			g->head = c;
		g->tail = c;
	}
	obj = c->data + c->used;
	c->used += RTE_ALIGN_CEIL(len, 8);
	g->bytes += len;
	return obj;
}

/* The number in a token: after its last ':' if any ("doc17:0.83"). */
static bool
op_number(const struct sl_token *t, double *v)
{
	char buf[64];
	const char *s = t->text;
	size_t len = t->len;
	char *end;

	for (size_t i = len; i > 0; i--)
		if (s[i - 1] == ':') {
			s += i;
			len -= i;
			break;
		}
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	*v = strtod(buf, &end);
	while (*end == ' ' || *end == '\n' || *end == '\t')
		end++;
	return end != buf && *end == '\0' && isfinite(*v);
}

static bool
op_top_before(const struct op_top *a, double v, uint32_t id)
{
	return a->value > v || (a->value == v && a->id < id);
}

static void
op_topk_add(struct sl_dp *dp, struct op_group *g, const struct sl_token *t,
	    double v, uint32_t k)
{
	struct op_top *top;
	uint32_t pos;

	if (g->head == NULL && op_alloc(dp, g, sizeof(*top) * k) == NULL)
		return;
	top = (struct op_top *)g->head->data;
	/* Sorted, best first; insertion keeps k small and the order total. */
	pos = g->n_top;
	while (pos > 0 && !op_top_before(&top[pos - 1], v, t->id))
		pos--;
	if (pos >= k)
		return;
	if (g->n_top < k)
		g->n_top++;
	memmove(&top[pos + 1], &top[pos],
		sizeof(*top) * (g->n_top - 1 - pos));
	top[pos].value = v;
	top[pos].id = t->id;
	top[pos].len = (uint16_t)RTE_MIN((size_t)t->len, sizeof(top->text));
	memcpy(top[pos].text, t->text, top[pos].len);
}

/* Build the result stream's fragments and queue them for fanout. */
static void op_emit(struct sl_dp *dp, struct op_group *g, uint8_t flags,
		    uint8_t reason);

static void
op_abort(struct sl_dp *dp, struct op_group *g, uint8_t reason)
{
	if (g->state != OP_GROUP_ACTIVE)
		return;
	dp->op_cnt.groups_aborted++;
	op_emit(dp, g, SL_FRAG_F_ABORT, reason);
}

static void
op_check_done(struct sl_dp *dp, struct op_group *g)
{
	if (g->state != OP_GROUP_ACTIVE)
		return;
	if (g->credit < 0) {
		dp->op_cnt.count_mismatch++;
		op_abort(dp, g, SL_ABORT_CHILDREN);
	} else if (g->credit == 0) {
		dp->op_cnt.groups_completed++;
		op_emit(dp, g, SL_FRAG_F_END, 0);
	}
}

void
sl_op_input(struct sl_dp *dp, const struct sl_edge_cfg *e, struct rte_mbuf *m)
{
	struct sl_pkt_meta *pm = sl_pkt_meta(m);
	const struct sl_pipeline_cfg *pl = &dp->cfg->pipelines[pm->pipeline];
	const struct sl_stage_cfg *st = &pl->stages[e->to - 1];
	const uint8_t *hdr = rte_pktmbuf_mtod_offset(m, const uint8_t *,
						     pm->hdr_off);
	uint64_t ancestry[SL_ANCESTRY_MAX];
	uint16_t tenant;
	uint64_t send_ns;
	struct op_group *g;
	struct sl_token_iter it;
	struct sl_token t;

	memcpy(ancestry, hdr + SL_WIRE_OFF_ANCESTRY, 8u * pm->depth);
	memcpy(&tenant, hdr + SL_WIRE_OFF_TENANT, 2);
	memcpy(&send_ns, hdr + SL_WIRE_OFF_SEND_NS, 8);
	g = op_group_get(dp, pm->pipeline, (uint8_t)(e->to - 1), ancestry,
			 rte_be_to_cpu_16(tenant), rte_be_to_cpu_64(send_ns));
	if (g == NULL) {
		sl_dp_drop(dp, m, SL_DROP_OP_FULL);
		return;
	}
	if (g->state != OP_GROUP_ACTIVE) {
		dp->op_cnt.late_inputs++;
		rte_pktmbuf_free(m);
		return;
	}
	g->last_tsc = dp->now;
	if (st->kind == SL_STAGE_OP_CONCAT && pm->dgram_len > SL_WIRE_HDR_LEN) {
		uint16_t len = pm->dgram_len - SL_WIRE_HDR_LEN;
		struct op_record *r = op_alloc(dp, g, sizeof(*r) + len);

		if (r == NULL) {
			dp->op_cnt.group_overflow++;
			op_abort(dp, g, SL_ABORT_OVERLOAD);
			rte_pktmbuf_free(m);
			return;
		}
		r->len = len;
		r->from_stage = pm->stage;
		r->seq = pm->seq;
		r->depth = pm->depth;
		for (uint8_t i = 0; i < SL_ANCESTRY_MAX; i++)
			r->path[i] = i < pm->depth ?
					     rte_be_to_cpu_64(ancestry[i]) : 0;
		memcpy(r->tokens, hdr + SL_WIRE_HDR_LEN, len);
		g->n_records++;
	} else {
		sl_token_iter_init(&it, hdr + SL_WIRE_HDR_LEN,
				   pm->dgram_len - SL_WIRE_HDR_LEN);
		while (sl_token_next(&it, &t)) {
			double v;

			g->tokens++;
			if (st->kind == SL_STAGE_OP_COUNT)
				continue;
			if (!op_number(&t, &v)) {
				dp->op_cnt.not_numeric++;
				continue;
			}
			if (st->kind == SL_STAGE_OP_SUM)
				g->sum += v;
			else
				op_topk_add(dp, g, &t, v, st->topk);
		}
	}
	if (pm->flags & SL_FRAG_F_ABORT) {
		op_abort(dp, g, hdr[SL_WIRE_OFF_ABORT]);
	} else if (pm->flags & SL_FRAG_F_END) {
		/* A count marker closes a split, a stream END one leaf. */
		g->credit--;
		op_check_done(dp, g);
	}
	rte_pktmbuf_free(m);
}

/* Every group that counts splits on @edge: a child started (@delta +1),
 * a parent closed (-1), or the parent aborted (@abort set, with @reason). */
static void
op_split(struct sl_dp *dp, uint8_t pipeline, uint16_t edge,
	 const uint64_t *ancestry, uint8_t depth,
	 const struct sl_op_request *rq, int delta, bool abort, uint8_t reason)
{
	struct sl_op_state *os = dp->op;

	if (os == NULL)
		return;
	for (uint8_t i = 0; i < os->n_acct[pipeline][edge]; i++) {
		const struct op_acct *a = &os->acct[pipeline][edge][i];
		const struct sl_stage_cfg *st =
			&dp->cfg->pipelines[pipeline].stages[a->stage];
		struct op_group *g;

		if (depth < st->aggregation)
			continue;
		g = op_group_get(dp, pipeline, a->stage, ancestry, rq->tenant,
				 rq->send_ns);
		if (g == NULL || g->state != OP_GROUP_ACTIVE)
			continue;
		if (abort) {
			op_abort(dp, g, reason);
			continue;
		}
		g->last_tsc = dp->now;
		g->credit += delta > 0 ? a->units : delta;
		if (delta < 0)
			op_check_done(dp, g);
	}
}

void
sl_op_split_event(struct sl_dp *dp, uint8_t pipeline, uint16_t edge,
		  const uint64_t *ancestry, uint8_t depth, int delta,
		  const struct sl_op_request *rq)
{
	op_split(dp, pipeline, edge, ancestry, depth, rq, delta, false, 0);
}

void
sl_op_split_abort(struct sl_dp *dp, uint8_t pipeline, uint16_t edge,
		  const uint64_t *ancestry, uint8_t depth, uint8_t reason,
		  const struct sl_op_request *rq)
{
	op_split(dp, pipeline, edge, ancestry, depth, rq, 0, true, reason);
}

static int
op_record_cmp(const void *pa, const void *pb)
{
	const struct op_record *a = *(const struct op_record *const *)pa;
	const struct op_record *b = *(const struct op_record *const *)pb;

	for (unsigned int i = 0; i < SL_ANCESTRY_MAX; i++)
		if (a->path[i] != b->path[i])
			return a->path[i] < b->path[i] ? -1 : 1;
	if (a->from_stage != b->from_stage)
		return a->from_stage < b->from_stage ? -1 : 1;
	if (a->seq != b->seq)
		return a->seq < b->seq ? -1 : 1;
	return 0;
}

/* The result stream being written: one fragment at a time. */
struct op_out {
	struct sl_dp *dp;
	struct op_group *g;
	uint32_t flow;
	uint32_t seq;
	struct rte_mbuf *m;
	struct sl_wire_builder b;
};

static bool
op_out_begin(struct op_out *o)
{
	const struct sl_pipeline_cfg *pl = &o->dp->cfg->pipelines[o->g->pipeline];
	const struct sl_stage_cfg *st = &pl->stages[o->g->stage];
	struct sl_frag_hdr h = {
		.version = SL_WIRE_VERSION,
		.depth = st->aggregation,
		.stage = st->id,
		.from_stage = st->id,
		.tenant = o->g->tenant,
		.pipeline = pl->id,
		.send_ns = o->g->send_ns,
		.seq = o->seq,
	};

	o->m = rte_pktmbuf_alloc(o->dp->pool);
	if (o->m == NULL) {
		o->dp->cnt.drops[SL_DROP_NO_MBUF]++;
		return false;
	}
	for (uint8_t i = 0; i < st->aggregation; i++)
		h.ancestry[i] = rte_be_to_cpu_64(o->g->key.ancestry[i]);
	sl_wire_builder_init(&o->b,
			     rte_pktmbuf_mtod_offset(o->m, uint8_t *,
						     SL_WIRE_FRAME_HDR_OFF),
			     SL_WIRE_HDR_LEN + SL_WIRE_PAYLOAD_MAX, &h);
	return true;
}

static void
op_out_send(struct op_out *o, uint8_t flags, uint8_t reason)
{
	struct sl_pkt_meta *pm;
	size_t len;

	if (o->m == NULL && !op_out_begin(o))
		return;
	o->b.hdr.flags = flags;
	o->b.hdr.abort_reason = reason;
	len = sl_wire_builder_finish(&o->b);
	o->m->data_len = (uint16_t)(SL_WIRE_FRAME_HDR_OFF + len);
	o->m->pkt_len = o->m->data_len;
	pm = sl_pkt_meta(o->m);
	memset(pm, 0, sizeof(*pm));
	pm->flow = o->flow;
	pm->seq = o->seq++;
	pm->hdr_off = SL_WIRE_FRAME_HDR_OFF;
	pm->dgram_len = (uint16_t)len;
	pm->stage = o->b.hdr.stage;
	pm->pipeline = o->g->pipeline;
	pm->flags = flags;
	pm->depth = o->b.hdr.depth;
	sl_dp_loop(o->dp, o->m);
	o->m = NULL;
}

static void
op_out_token(struct op_out *o, uint32_t id, const char *text, size_t len)
{
	if (o->m == NULL && !op_out_begin(o))
		return;
	if (sl_wire_builder_add(&o->b, id, text, len) == 0)
		return;
	op_out_send(o, 0, 0);
	if (op_out_begin(o))
		sl_wire_builder_add(&o->b, id, text, len);
}

static void
op_emit(struct sl_dp *dp, struct op_group *g, uint8_t flags, uint8_t reason)
{
	struct sl_op_state *os = dp->op;
	const struct sl_stage_cfg *st =
		&dp->cfg->pipelines[g->pipeline].stages[g->stage];
	struct sl_flow_key k = g->key;
	struct op_out o = {.dp = dp, .g = g};
	char num[32];

	g->state = OP_GROUP_DONE;
	g->last_tsc = dp->now;
	os->active[g->pipeline][g->stage]--;
	/* The result is the operator stage's own stream. */
	k.zero = 0;
	o.flow = sl_dp_stream_open(dp, &k, g->pipeline, g->tenant);
	if (o.flow == SL_FLOW_NONE) {
		dp->cnt.drops[SL_DROP_FLOW_TABLE_FULL]++;
		return;
	}
	if (flags & SL_FRAG_F_ABORT) {
		op_out_send(&o, flags, reason);
		return;
	}
	switch (st->kind) {
	case SL_STAGE_OP_COUNT:
		snprintf(num, sizeof(num), "%" PRIu64, g->tokens);
		op_out_token(&o, 0, num, strlen(num));
		break;
	case SL_STAGE_OP_SUM:
		snprintf(num, sizeof(num), "%.6g", g->sum);
		op_out_token(&o, 0, num, strlen(num));
		break;
	case SL_STAGE_OP_TOPK:
		for (uint8_t i = 0; i < g->n_top; i++) {
			const struct op_top *t =
				&((const struct op_top *)g->head->data)[i];

			op_out_token(&o, t->id, t->text, t->len);
		}
		break;
	case SL_STAGE_OP_CONCAT: {
		uint32_t n = 0;

		for (const struct op_chunk *c = g->head; c != NULL;
		     c = c->next)
			for (uint32_t off = 0; off < c->used;) {
				const struct op_record *r =
					(const void *)(c->data + off);

				if (n < OP_SORT_MAX)
					os->sort[n++] = r;
				off += RTE_ALIGN_CEIL(
					(uint32_t)(sizeof(*r) + r->len), 8);
			}
		qsort(os->sort, n, sizeof(os->sort[0]), op_record_cmp);
		for (uint32_t i = 0; i < n; i++) {
			struct sl_token_iter it;
			struct sl_token t;

			sl_token_iter_init(&it, os->sort[i]->tokens,
					   os->sort[i]->len);
			while (sl_token_next(&it, &t))
				op_out_token(&o, t.id, t.text, t.len);
		}
		break;
	}
	default:
		break;
	}
	op_out_send(&o, SL_FRAG_F_END, 0);
	/* Keep the key, drop the state: late inputs are swallowed. */
	while (g->head != NULL) {
		struct op_chunk *c = g->head;

		g->head = c->next;
		rte_mempool_put(os->chunks, c);
	}
	g->tail = NULL;
}

void
sl_op_housekeeping(struct sl_dp *dp)
{
	struct sl_op_state *os = dp->op;
	uint32_t budget;

	if (os == NULL)
		return;
	budget = RTE_MAX(64u, os->capacity / 256);
	for (uint32_t n = 0; n < budget; n++) {
		struct op_group *g = &os->groups[os->cursor];
		uint32_t idx = os->cursor;

		if (++os->cursor == os->capacity)
			os->cursor = 0;
		if (g->state == OP_GROUP_ACTIVE &&
		    dp->now - g->last_tsc > dp->idle_tsc) {
			dp->op_cnt.groups_expired++;
			op_abort(dp, g, SL_ABORT_EXPIRED);
		} else if (g->state == OP_GROUP_DONE &&
			   dp->now - g->last_tsc > dp->linger_tsc) {
			op_group_free(dp, idx);
		}
	}
}
