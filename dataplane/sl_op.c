/* SPDX-License-Identifier: MIT */
/*
 * sl_op.c - inline operators (see sl_op.h).
 *
 * A group's state lives in fixed-size chunks from one mempool made at
 * init (nothing is allocated on the packet path): concat's records, or
 * top-k's table. Every byte a group takes is charged against its
 * max_group_bytes; an empty pool aborts the group like the bound does.
 * Concat orders its records when the group completes by linking them in
 * one list and merge-sorting it in place, so a group holds any number of
 * records up to its bound. A result is sized before it is built: it goes
 * whole, or is replaced by ABORT (OVERLOAD).
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
#include "sl_stream.h"

#define OP_CHUNK 4096
#define OP_TOPK_MAX 64
#define OP_GROUPS_MAX (1u << 20)

enum op_group_state {
	OP_GROUP_FREE = 0,
	OP_GROUP_ACTIVE,
	OP_GROUP_DONE, /* result sent; lingers to swallow late inputs */
};

/* Arena chunk; records and top-k tables never span two. */
struct op_chunk {
	struct op_chunk *next;
	uint32_t used;
	uint8_t data[] __rte_aligned(
		8); /* op_top and op_record hold 8-byte fields */
};
#define OP_CHUNK_DATA (OP_CHUNK - offsetof(struct op_chunk, data))

/* One fragment's tokens kept by concat, with what orders it. */
struct op_record {
	struct op_record *next; /* result order, linked when the group ends */
	uint16_t len;           /* token bytes that follow, wire format */
	uint16_t from_stage;
	uint32_t seq;
	uint8_t depth;
	uint64_t path[SL_ANCESTRY_MAX]; /* host order */
	uint8_t tokens[];
};

/*
 * One top-k entry. The table is k entries, best first, then k text slots
 * of SL_OP_TOPK_TEXT bytes: inserting moves the 16-byte entries only, and
 * the entry pushed out gives its slot to the newcomer.
 */
struct op_top {
	double value;
	uint32_t id;
	uint8_t len;  /* text bytes kept, a whole number of characters */
	uint8_t slot; /* its text: slot x SL_OP_TOPK_TEXT after the entries */
};
#define OP_TOP_BYTES(k) ((k) * (sizeof(struct op_top) + SL_OP_TOPK_TEXT))

_Static_assert(OP_TOP_BYTES(OP_TOPK_MAX) <= OP_CHUNK_DATA,
	       "the largest top-k table fits one chunk");
_Static_assert(OP_TOPK_MAX <= UINT8_MAX && SL_OP_TOPK_TEXT <= UINT8_MAX,
	       "n_top, slot and len are bytes");

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
};

/* The counters of @g's stage. */
static inline struct sl_op_counters *
op_cnt(struct sl_dp *dp, const struct op_group *g)
{
	return &dp->op_cnt[g->pipeline][g->stage];
}

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

	/* The compiler refuses cycles; the walk is bounded all the same. */
	for (uint16_t steps = 0; steps < pl->n_edges; steps++) {
		const struct sl_edge_cfg *in = NULL;

		for (uint16_t i = 0; i < pl->n_edges && in == NULL; i++)
			if (pl->edges[i].to == cur)
				in = &pl->edges[i];
		if (in == NULL)
			return;
		if (in->split != SL_SPLIT_NONE &&
		    in->depth_in >= st->aggregation &&
		    os->n_acct[p][in->id] < SL_MAX_STAGES) {
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

/* What the code below relies on, checked once per config. */
static int
op_check_config(const struct sl_dp *dp)
{
	const struct sl_config *cfg = dp->cfg;
	uint32_t room = rte_pktmbuf_data_room_size(dp->pool);

	/* A result fragment is built in place in one mbuf. */
	if (room < RTE_PKTMBUF_HEADROOM + SL_WIRE_FRAME_HDR_OFF +
			   SL_WIRE_HDR_LEN + SL_WIRE_PAYLOAD_MAX)
		return -EINVAL;
	if (cfg->n_pipelines > SL_MAX_PIPELINES)
		return -EINVAL;
	for (uint16_t p = 0; p < cfg->n_pipelines; p++) {
		const struct sl_pipeline_cfg *pl = &cfg->pipelines[p];

		if (pl->n_stages > SL_MAX_STAGES || pl->n_edges > SL_MAX_EDGES)
			return -EINVAL;
		for (uint16_t s = 0; s < pl->n_stages; s++) {
			const struct sl_stage_cfg *st = &pl->stages[s];

			if (st->kind == SL_STAGE_ENGINE)
				continue;
			if (st->aggregation < 1 ||
			    st->aggregation > st->depth_in ||
			    st->depth_in > SL_ANCESTRY_MAX)
				return -EINVAL;
			if (st->kind == SL_STAGE_OP_TOPK &&
			    (st->topk < 1 || st->topk > OP_TOPK_MAX))
				return -EINVAL;
		}
	}
	return 0;
}

int
sl_op_init(struct sl_dp *dp)
{
	const struct sl_config *cfg = dp->cfg;
	struct sl_op_state *os;
	uint64_t groups = 0;
	char name[RTE_HASH_NAMESIZE];
	static unsigned int seq;
	int rc;

	rc = op_check_config(dp);
	if (rc != 0)
		return rc;
	for (uint16_t p = 0; p < cfg->n_pipelines; p++)
		for (uint16_t s = 0; s < cfg->pipelines[p].n_stages; s++)
			if (cfg->pipelines[p].stages[s].kind != SL_STAGE_ENGINE)
				groups +=
					2ull *
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
	os->groups =
		rte_zmalloc("sl_op_groups", sizeof(*os->groups) * os->capacity,
			    RTE_CACHE_LINE_SIZE);
	snprintf(name, sizeof(name), "sl_opchunks_%u", seq++);
	os->chunks = rte_mempool_create(
		name, (unsigned int)RTE_MIN(groups * 2, 16384ull) - 1, OP_CHUNK,
		0, 0, NULL, NULL, NULL, NULL, rte_socket_id(), 0);
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

/* Give @g's chunks back. */
static void
op_group_release(struct sl_op_state *os, struct op_group *g)
{
	while (g->head != NULL) {
		struct op_chunk *c = g->head;

		g->head = c->next;
		rte_mempool_put(os->chunks, c);
	}
	g->tail = NULL;
	g->bytes = 0;
	g->n_top = 0;
	g->n_records = 0;
}

static void
op_group_free(struct sl_dp *dp, uint32_t idx)
{
	struct sl_op_state *os = dp->op;
	struct op_group *g = &os->groups[idx];

	op_group_release(os, g);
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

/* The group key: the first L ids of @ancestry, which the caller checked
 * holds at least L (op_check_config: L <= SL_ANCESTRY_MAX). */
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
		dp->op_cnt[p][s].groups_full++;
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
	dp->op_cnt[p][s].groups_created++;
	if (os->active[p][s] > st->max_groups) {
		/* Over the bound: the request's result is an ABORT, and the
		 * key stays known (done) so later inputs cannot start a
		 * partial group. */
		dp->op_cnt[p][s].groups_full++;
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

	/* g->bytes never exceeds the bound, so the difference cannot wrap. */
	if (len > OP_CHUNK_DATA || len > st->max_group_bytes - g->bytes)
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

/* The number in a token: after its last ':' if any ("doc17:0.83"); the
 * whole rest of the text must be the number (a NUL inside is no end). */
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
	return end != buf && end == buf + len && isfinite(*v);
}

/*
 * The longest prefix of @len bytes at @s that has at most @max bytes and
 * ends on a character boundary. Token texts are valid UTF-8 (sl_wire
 * checks them), so a boundary is any byte that is not 10xxxxxx.
 */
static size_t
op_utf8_prefix(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((uint8_t)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

static bool
op_top_before(const struct op_top *a, double v, uint32_t id)
{
	return a->value > v || (a->value == v && a->id < id);
}

/* Offer @t (value @v) to @g's top @k. False: the group had no room for
 * its table and was aborted. */
static bool
op_topk_add(struct sl_dp *dp, struct op_group *g, const struct sl_token *t,
	    double v, uint32_t k)
{
	struct op_top *top;
	char *texts;
	uint32_t pos;
	uint8_t slot;

	if (g->head == NULL &&
	    op_alloc(dp, g, (uint32_t)OP_TOP_BYTES(k)) == NULL) {
		op_cnt(dp, g)->group_overflow++;
		op_abort(dp, g, SL_ABORT_OVERLOAD);
		return false;
	}
	top = (struct op_top *)g->head->data;
	texts = (char *)&top[k];
	/* Sorted, best first; insertion keeps k small and the order total. */
	pos = g->n_top;
	while (pos > 0 && !op_top_before(&top[pos - 1], v, t->id))
		pos--;
	if (pos >= k)
		return true;
	if (g->n_top < k)
		slot = g->n_top++;
	else
		slot = top[k - 1].slot; /* the entry pushed out */
	memmove(&top[pos + 1], &top[pos], sizeof(*top) * (g->n_top - 1 - pos));
	top[pos].value = v;
	top[pos].id = t->id;
	top[pos].slot = slot;
	top[pos].len =
		(uint8_t)op_utf8_prefix(t->text, t->len, SL_OP_TOPK_TEXT);
	memcpy(texts + (size_t)slot * SL_OP_TOPK_TEXT, t->text, top[pos].len);
	return true;
}

/* Build the result stream's fragments and queue them for fanout. */
static void op_emit(struct sl_dp *dp, struct op_group *g, uint8_t flags,
		    uint8_t reason);

static void
op_abort(struct sl_dp *dp, struct op_group *g, uint8_t reason)
{
	if (g->state != OP_GROUP_ACTIVE)
		return;
	op_emit(dp, g, SL_FRAG_F_ABORT, reason);
}

static void
op_check_done(struct sl_dp *dp, struct op_group *g)
{
	if (g->state != OP_GROUP_ACTIVE)
		return;
	if (g->credit < 0) {
		op_cnt(dp, g)->count_mismatch++;
		op_abort(dp, g, SL_ABORT_CHILDREN);
	} else if (g->credit == 0) {
		op_emit(dp, g, SL_FRAG_F_END, 0);
	}
}

/* Keep one fragment's tokens for concat. False: the group went over its
 * bound and was aborted. */
static bool
op_concat_add(struct sl_dp *dp, struct op_group *g,
	      const struct sl_pkt_meta *pm, const uint64_t *ancestry,
	      const uint8_t *tokens, uint16_t len)
{
	struct op_record *r = op_alloc(dp, g, (uint32_t)(sizeof(*r) + len));

	if (r == NULL) {
		op_cnt(dp, g)->group_overflow++;
		op_abort(dp, g, SL_ABORT_OVERLOAD);
		return false;
	}
	r->next = NULL;
	r->len = len;
	r->from_stage = pm->stage;
	r->seq = pm->seq;
	r->depth = pm->depth;
	for (uint8_t i = 0; i < SL_ANCESTRY_MAX; i++)
		r->path[i] = i < pm->depth ? rte_be_to_cpu_64(ancestry[i]) : 0;
	memcpy(r->tokens, tokens, len);
	g->n_records++;
	return true;
}

void
sl_op_input(struct sl_dp *dp, const struct sl_edge_cfg *e, struct rte_mbuf *m)
{
	struct sl_pkt_meta *pm = sl_pkt_meta(m);
	const struct sl_pipeline_cfg *pl = &dp->cfg->pipelines[pm->pipeline];
	const struct sl_stage_cfg *st = &pl->stages[e->to - 1];
	const uint8_t *hdr;
	uint64_t ancestry[SL_ANCESTRY_MAX];
	uint16_t tenant, len;
	uint64_t send_ns;
	struct op_group *g;
	struct sl_token_iter it;
	struct sl_token t;

	if (unlikely(dp->op == NULL)) {
		/* The operators' state could not be made for this config
		 * (counted in reconfig_errors): nothing can hold a group. */
		sl_dp_drop(dp, m, SL_DROP_OP_FULL);
		return;
	}
	/*
	 * The key is the first L ids, and the group counts the streams of
	 * the stage's input depth: a shallower fragment has no ids to key
	 * with, a deeper one would take away credit that no stream of the
	 * group gave (a result short of data). Dropped before either; a
	 * group that waited for it idles out with ABORT (EXPIRED).
	 */
	if (unlikely(pm->depth != st->depth_in ||
		     pm->depth < st->aggregation)) {
		dp->op_cnt[pm->pipeline][e->to - 1].depth_mismatch++;
		sl_dp_drop(dp, m, SL_DROP_DEPTH_MISMATCH);
		return;
	}
	if (unlikely(pm->dgram_len < SL_WIRE_HDR_LEN ||
		     (uint32_t)pm->hdr_off + pm->dgram_len >
			     rte_pktmbuf_data_len(m))) {
		sl_dp_drop(dp, m, SL_DROP_LEN_MISMATCH);
		return;
	}
	hdr = rte_pktmbuf_mtod_offset(m, const uint8_t *, pm->hdr_off);
	len = (uint16_t)(pm->dgram_len - SL_WIRE_HDR_LEN);
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
		op_cnt(dp, g)->late_inputs++;
		rte_pktmbuf_free(m);
		return;
	}
	g->last_tsc = dp->now;
	if (st->kind == SL_STAGE_OP_CONCAT) {
		if (len > 0)
			op_concat_add(dp, g, pm, ancestry,
				      hdr + SL_WIRE_HDR_LEN, len);
	} else {
		sl_token_iter_init(&it, hdr + SL_WIRE_HDR_LEN, len);
		while (g->state == OP_GROUP_ACTIVE && sl_token_next(&it, &t)) {
			double v;

			g->tokens++;
			if (st->kind == SL_STAGE_OP_COUNT)
				continue;
			if (!op_number(&t, &v)) {
				op_cnt(dp, g)->not_numeric++;
				continue;
			}
			if (st->kind == SL_STAGE_OP_SUM)
				g->sum += v;
			else
				op_topk_add(dp, g, &t, v, st->topk);
		}
	}
	/* Unless a bound aborted the group on the way. */
	if (g->state == OP_GROUP_ACTIVE) {
		if (pm->flags & SL_FRAG_F_ABORT) {
			op_abort(dp, g, hdr[SL_WIRE_OFF_ABORT]);
		} else if (pm->flags & SL_FRAG_F_END) {
			/* A count marker closes a split, a stream END
			 * one leaf. */
			g->credit--;
			op_check_done(dp, g);
		}
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
	const struct sl_edge_cfg *e;

	if (os == NULL || pipeline >= dp->cfg->n_pipelines ||
	    edge >= dp->cfg->pipelines[pipeline].n_edges ||
	    os->n_acct[pipeline][edge] == 0)
		return;
	/* A child has the edge's output depth, its parent the input depth;
	 * a stream of another depth is none of these groups' business (and
	 * might not hold the ids of their keys). */
	e = &dp->cfg->pipelines[pipeline].edges[edge];
	if (depth != (delta > 0 ? e->depth_out : e->depth_in)) {
		/* Counted at each operator stage that counts this edge. */
		for (uint8_t i = 0; i < os->n_acct[pipeline][edge]; i++)
			dp->op_cnt[pipeline][os->acct[pipeline][edge][i].stage]
				.depth_mismatch++;
		return;
	}
	for (uint8_t i = 0; i < os->n_acct[pipeline][edge]; i++) {
		const struct op_acct *a = &os->acct[pipeline][edge][i];
		const struct sl_stage_cfg *st =
			&dp->cfg->pipelines[pipeline].stages[a->stage];
		struct op_group *g;

		/* Planned only where depth_in >= L; checked where used. */
		if (depth < st->aggregation) {
			dp->op_cnt[pipeline][a->stage].depth_mismatch++;
			continue;
		}
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
op_record_cmp(const struct op_record *a, const struct op_record *b)
{
	for (unsigned int i = 0; i < SL_ANCESTRY_MAX; i++)
		if (a->path[i] != b->path[i])
			return a->path[i] < b->path[i] ? -1 : 1;
	if (a->depth != b->depth)
		return a->depth < b->depth ? -1 : 1;
	if (a->from_stage != b->from_stage)
		return a->from_stage < b->from_stage ? -1 : 1;
	if (a->seq != b->seq)
		return a->seq < b->seq ? -1 : 1;
	return 0;
}

/*
 * @g's records in result order: linked in arrival order, then merge-sorted
 * bottom up (runs of 1, 2, 4, ... merged pairwise) in place, so no array
 * bounds how many there may be and nothing is allocated.
 */
static struct op_record *
op_records_sorted(struct op_group *g)
{
	struct op_record *list = NULL, **link = &list;

	for (struct op_chunk *c = g->head; c != NULL; c = c->next)
		for (uint32_t off = 0; off < c->used;) {
			struct op_record *r = (void *)(c->data + off);

			*link = r;
			link = &r->next;
			off += RTE_ALIGN_CEIL((uint32_t)(sizeof(*r) + r->len),
					      8);
		}
	*link = NULL;
	for (size_t width = 1;; width *= 2) {
		struct op_record *p = list, *out = NULL, **tail = &out;
		size_t merges = 0;

		while (p != NULL) {
			struct op_record *q = p;
			size_t np = 0, nq = width;

			merges++;
			while (np < width && q != NULL) {
				np++;
				q = q->next;
			}
			while (np > 0 || (nq > 0 && q != NULL)) {
				struct op_record *r;

				if (np > 0 && (nq == 0 || q == NULL ||
					       op_record_cmp(p, q) <= 0)) {
					r = p;
					p = p->next;
					np--;
				} else {
					r = q;
					q = q->next;
					nq--;
				}
				*tail = r;
				tail = &r->next;
			}
			p = q;
		}
		*tail = NULL;
		list = out;
		if (merges <= 1)
			return list;
	}
}

/*
 * The result stream being written, one fragment at a time. With @sizing
 * nothing is built: the fragments the result needs are counted.
 */
struct op_out {
	struct sl_dp *dp;
	struct op_group *g;
	uint32_t flow;
	uint32_t seq;
	bool sizing;
	bool cut;       /* a token could not be sent: the result is cut */
	uint32_t frags; /* sizing: fragments needed so far */
	size_t room;    /* sizing: payload bytes left in the last one */
	struct rte_mbuf *m;
	struct sl_wire_builder b;
};

/* Start the next fragment in @m, or in a new mbuf when @m is NULL. */
static bool
op_out_begin(struct op_out *o, struct rte_mbuf *m)
{
	const struct sl_pipeline_cfg *pl =
		&o->dp->cfg->pipelines[o->g->pipeline];
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

	if (m == NULL)
		m = rte_pktmbuf_alloc(o->dp->pool);
	o->m = m;
	if (m == NULL) {
		o->dp->cnt.drops[SL_DROP_NO_MBUF]++;
		return false;
	}
	for (uint8_t i = 0; i < st->aggregation; i++)
		h.ancestry[i] = rte_be_to_cpu_64(o->g->key.ancestry[i]);
	/* op_check_config made sure an mbuf holds a whole fragment. */
	sl_wire_builder_init(
		&o->b,
		rte_pktmbuf_mtod_offset(m, uint8_t *, SL_WIRE_FRAME_HDR_OFF),
		SL_WIRE_HDR_LEN + SL_WIRE_PAYLOAD_MAX, &h);
	return true;
}

static void
op_out_send(struct op_out *o, uint8_t flags, uint8_t reason)
{
	struct sl_pkt_meta *pm;
	size_t len;

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
	size_t need = SL_WIRE_TOKEN_HDR_LEN + len;
	struct rte_mbuf *next;

	if (o->cut)
		return;
	/* Tokens are never split: one larger than a fragment cannot go. */
	if (need > SL_WIRE_PAYLOAD_MAX) {
		o->cut = true;
		return;
	}
	if (o->sizing) {
		if (o->frags == 0 || need > o->room) {
			o->frags++;
			o->room = SL_WIRE_PAYLOAD_MAX;
		}
		o->room -= need;
		return;
	}
	if (o->m == NULL && !op_out_begin(o, NULL)) {
		o->cut = true;
		return;
	}
	if (sl_wire_builder_add(&o->b, id, text, len) == 0)
		return;
	/* This fragment is full. It leaves once the next one has its mbuf,
	 * so a result cut short still has an mbuf for its ABORT. */
	next = rte_pktmbuf_alloc(o->dp->pool);
	if (next == NULL) {
		o->dp->cnt.drops[SL_DROP_NO_MBUF]++;
		o->cut = true;
		return;
	}
	op_out_send(o, 0, 0);
	op_out_begin(o, next);
	if (sl_wire_builder_add(&o->b, id, text, len) != 0)
		o->cut = true;
}

/* Every token of @g's result, in order, into @o. */
static void
op_out_result(struct op_out *o, const struct sl_stage_cfg *st,
	      const struct op_record *records)
{
	const struct op_group *g = o->g;
	char num[32];

	switch (st->kind) {
	case SL_STAGE_OP_COUNT:
		snprintf(num, sizeof(num), "%" PRIu64, g->tokens);
		op_out_token(o, 0, num, strlen(num));
		break;
	case SL_STAGE_OP_SUM:
		snprintf(num, sizeof(num), "%.6g", g->sum);
		op_out_token(o, 0, num, strlen(num));
		break;
	case SL_STAGE_OP_TOPK: {
		const struct op_top *top;
		const char *texts;

		if (g->n_top == 0)
			break;
		top = (const struct op_top *)g->head->data;
		texts = (const char *)&top[st->topk];
		for (uint8_t i = 0; i < g->n_top; i++)
			op_out_token(o, top[i].id,
				     texts + (size_t)top[i].slot *
						     SL_OP_TOPK_TEXT,
				     top[i].len);
		break;
	}
	case SL_STAGE_OP_CONCAT:
		for (const struct op_record *r = records; r != NULL && !o->cut;
		     r = r->next) {
			struct sl_token_iter it;
			struct sl_token t;

			sl_token_iter_init(&it, r->tokens, r->len);
			while (sl_token_next(&it, &t))
				op_out_token(o, t.id, t.text, t.len);
		}
		break;
	default:
		break;
	}
}

/*
 * The last fragment: END with what is left, or, for an ABORT or a result
 * that was cut, a tokenless ABORT (reusing the fragment in hand).
 */
static void
op_out_end(struct op_out *o, uint8_t flags, uint8_t reason)
{
	if (o->m == NULL && !op_out_begin(o, NULL))
		return;
	if (flags & SL_FRAG_F_ABORT)
		op_out_begin(o, o->m);
	op_out_send(o, flags, reason);
}

static void
op_emit(struct sl_dp *dp, struct op_group *g, uint8_t flags, uint8_t reason)
{
	struct sl_op_state *os = dp->op;
	const struct sl_stage_cfg *st =
		&dp->cfg->pipelines[g->pipeline].stages[g->stage];
	struct sl_flow_key k = g->key;
	struct op_out o = {.dp = dp, .g = g};

	g->state = OP_GROUP_DONE;
	g->last_tsc = dp->now;
	os->active[g->pipeline][g->stage]--;
	/* The result is the operator stage's own stream. */
	k.zero = 0;
	o.flow = sl_dp_stream_open(dp, &k, g->pipeline, g->tenant);
	if (o.flow != SL_FLOW_NONE) {
		const struct sl_flow *f = sl_flow_at(dp->flows, o.flow);

		/* The key's result went out already (a group before a new
		 * layout dropped the groups, its stream still lingering):
		 * nothing may follow its end. */
		if (f->state != SL_FLOW_ACTIVE || f->next_seq > f->end_seq) {
			op_cnt(dp, g)->late_inputs++;
			op_group_release(os, g);
			return;
		}
	}
	if (o.flow == SL_FLOW_NONE) {
		dp->cnt.drops[SL_DROP_FLOW_TABLE_FULL]++;
	} else if (!(flags & SL_FRAG_F_ABORT)) {
		const struct op_record *records = st->kind == SL_STAGE_OP_CONCAT
							  ? op_records_sorted(g)
							  : NULL;
		struct op_out size = o;
		uint32_t frags;

		/*
		 * Sized first, so a result that cannot leave whole (more
		 * fragments than the worker queues per burst, or than there
		 * are mbufs) is an ABORT with nothing before it. Should an
		 * mbuf still be missing on the way, what left is followed by
		 * the ABORT.
		 */
		size.sizing = true;
		op_out_result(&size, st, records);
		frags = RTE_MAX(size.frags, 1u);
		if (!size.cut && frags <= SL_RESULT_FRAGS_MAX &&
		    frags <= rte_mempool_avail_count(dp->pool))
			op_out_result(&o, st, records);
		else
			o.cut = true;
		if (o.cut) {
			op_cnt(dp, g)->result_overflow++;
			flags = SL_FRAG_F_ABORT;
			reason = SL_ABORT_OVERLOAD;
		}
	}
	if (flags & SL_FRAG_F_ABORT)
		op_cnt(dp, g)->groups_aborted++;
	else
		op_cnt(dp, g)->groups_completed++;
	if (o.flow != SL_FLOW_NONE)
		op_out_end(&o, flags, reason);
	/* Keep the key, drop the state: late inputs are swallowed. */
	op_group_release(os, g);
}

uint32_t
sl_op_active(const struct sl_dp *dp, uint8_t p, uint8_t s)
{
	return dp->op != NULL ? dp->op->active[p][s] : 0;
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
			op_cnt(dp, g)->groups_expired++;
			op_abort(dp, g, SL_ABORT_EXPIRED);
		} else if (g->state == OP_GROUP_DONE &&
			   dp->now - g->last_tsc > dp->linger_tsc) {
			op_group_free(dp, idx);
		}
	}
}

bool
sl_dp_edge_out(struct sl_dp *dp, const struct sl_edge_cfg *e,
	       struct rte_mbuf *m)
{
	const struct sl_pkt_meta *pm = sl_pkt_meta(m);

	if (e->to != SL_STAGE_CLIENT &&
	    dp->cfg->pipelines[pm->pipeline].stages[e->to - 1].kind !=
		    SL_STAGE_ENGINE) {
		sl_op_input(dp, e, m);
		return false;
	}
	sl_dp_out(dp, m);
	return true;
}
