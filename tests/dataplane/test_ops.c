/* SPDX-License-Identifier: MIT */
/*
 * test_ops.c - inline operators (dataplane/sl_op.[ch]) through the whole
 * path, against results computed here.
 *
 * Topologies (the operator is stage `agg`, its result goes to the client):
 *   children: client -> a -> (split line) -> b -> agg, aggregation 1: the
 *             leaves are b's answers [R, i] to the children of a's answer;
 *   join:     client -> a -> (split line) -> b -> c1, c2 -> agg,
 *             aggregation 1: two in-edges at depth 2, leaves [R, i] from
 *             c1 and from c2;
 *   pair:     client -> x, y -> agg, aggregation 1: two in-edges at
 *             depth 1, leaves [R] from x and from y.
 * Leaves have random tokens in random fragments, arrive interleaved at
 * random in bursts shuffled inside, and a's END may come last of all.
 * The result must be exact (tokens, ids, header), leave exactly once, in
 * the burst that brings the last END, and be byte-identical whether the
 * edges into agg stream or buffer. Then the bounds: max_groups,
 * max_group_bytes, a leaf's ABORT, an idle group. Then what a packet or a
 * config must not break (issue 8): any number of concat records up to
 * max_group_bytes, results that leave whole or as ABORT (OVERLOAD), top-k
 * texts cut on character boundaries and k up to 64, chunks given back on
 * abort, numbers with a NUL inside, fragments and split events of a depth
 * the operator does not take, no operator state, configs sl_op refuses.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <rte_byteorder.h>

#include "dp_dag.h"
#include "sl_node.h"
#include "sl_op.h"
#include "sl_worker.h"

enum topo { TOPO_CHILDREN, TOPO_JOIN, TOPO_PAIR, TOPO_JOIN_L2 };
enum op { OP_COUNT, OP_SUM, OP_TOPK, OP_CONCAT };

static const char *const op_yaml[] = {
	[OP_COUNT] = "operator: count",
	[OP_SUM] = "operator: sum",
	[OP_TOPK] = "operator: topk, k: 3",
	[OP_CONCAT] = "operator: concat",
};
static const char *const op_name[] = {"count", "sum", "topk", "concat"};

#define TOPK 3
#define MAX_LEAVES 16
#define MAX_LEAF_FRAGS 8
#define MAX_TOKENS 8 /* per leaf fragment */
#define TEXT_LEN 320

/* The operator stage's id in each topology. */
static uint16_t
agg_id(enum topo t)
{
	return t == TOPO_CHILDREN ? 3 : t == TOPO_PAIR ? 3 : 5;
}

/* The counters of operator stage `agg` (there is one per topology). */
static const struct sl_op_counters *
agg_cnt(void)
{
	const struct sl_pipeline_cfg *pl = &dag.dp->cfg->pipelines[0];

	for (uint16_t s = 0; s < pl->n_stages; s++)
		if (strcmp(pl->stages[s].name, "agg") == 0)
			return &dag.dp->op_cnt[0][s];
	CU_FAIL_FATAL("no stage agg");
	return NULL;
}

/* The topology @t with the operator stage's line @op_line ("operator:
 * ..."), its bounds @bounds (", max_groups: 4") and, with @buffered,
 * buffer edges into it. */
static void
open_ops_line(enum topo t, const char *op_line, bool buffered,
	      const char *bounds)
{
	static char yaml[4096];
	const char *mode = buffered ? ", mode: buffer" : "";

	switch (t) {
	case TOPO_CHILDREN:
		snprintf(yaml, sizeof(yaml),
			 DAG_YAML_HEAD
			 "pipelines:\n"
			 "  - name: p\n"
			 "    id: 1\n"
			 "    stages:\n"
			 "      - {name: a, instances: [10.0.2.1:8001]}\n"
			 "      - {name: b, instances: [10.0.3.1:8002, "
			 "10.0.3.2:8002]}\n"
			 "      - {name: agg, %s, aggregation: 1%s}\n"
			 "    edges:\n"
			 "      - {from: client, to: a}\n"
			 "      - {from: a, to: b, split: line}\n"
			 "      - {from: b, to: agg%s}\n"
			 "      - {from: agg, to: client}\n",
			 op_line, bounds, mode);
		break;
	case TOPO_JOIN:
	case TOPO_JOIN_L2:
		snprintf(yaml, sizeof(yaml),
			 DAG_YAML_HEAD
			 "pipelines:\n"
			 "  - name: p\n"
			 "    id: 1\n"
			 "    stages:\n"
			 "      - {name: a, instances: [10.0.2.1:8001]}\n"
			 "      - {name: b, instances: [10.0.3.1:8002]}\n"
			 "      - {name: c1, instances: [10.0.4.1:8003]}\n"
			 "      - {name: c2, instances: [10.0.5.1:8004]}\n"
			 "      - {name: agg, %s, aggregation: %u%s}\n"
			 "    edges:\n"
			 "      - {from: client, to: a}\n"
			 "      - {from: a, to: b, split: line}\n"
			 "      - {from: b, to: c1}\n"
			 "      - {from: b, to: c2}\n"
			 "      - {from: c1, to: agg%s}\n"
			 "      - {from: c2, to: agg%s}\n"
			 "      - {from: agg, to: client}\n",
			 op_line, t == TOPO_JOIN_L2 ? 2 : 1, bounds, mode,
			 mode);
		break;
	case TOPO_PAIR:
		snprintf(yaml, sizeof(yaml),
			 DAG_YAML_HEAD
			 "pipelines:\n"
			 "  - name: p\n"
			 "    id: 1\n"
			 "    stages:\n"
			 "      - {name: x, instances: [10.0.2.1:8001]}\n"
			 "      - {name: y, instances: [10.0.3.1:8002]}\n"
			 "      - {name: agg, %s, aggregation: 1%s}\n"
			 "    edges:\n"
			 "      - {from: client, to: x}\n"
			 "      - {from: client, to: y}\n"
			 "      - {from: x, to: agg%s}\n"
			 "      - {from: y, to: agg%s}\n"
			 "      - {from: agg, to: client}\n",
			 op_line, bounds, mode, mode);
		break;
	}
	dag_open(yaml);
}

static void
open_ops(enum topo t, enum op op, bool buffered, const char *bounds)
{
	open_ops_line(t, op_yaml[op], buffered, bounds);
}

/* ------------------------------------------------------------- leaves */

struct leaf_frag {
	unsigned int n;
	const char *text[MAX_TOKENS];
	uint16_t len[MAX_TOKENS];
	uint32_t id[MAX_TOKENS];
	uint8_t flags;
	uint8_t reason;
};

struct leaf {
	uint16_t stage;
	uint64_t anc[2];
	uint8_t depth;
	unsigned int n_frags;
	struct leaf_frag f[MAX_LEAF_FRAGS];
};

struct request {
	uint64_t req;
	enum topo topo;
	enum op op;
	unsigned int n_children; /* lines of a's answer (0: pair) */
	unsigned int n_leaves;
	struct leaf leaves[MAX_LEAVES];
	unsigned int not_numeric;
};

static char texts[4096][TEXT_LEN];
static unsigned int n_texts;
static uint32_t next_id = 1;

static const char *
new_text(enum op op, uint16_t *len)
{
	static const char *const words[] = {
		"alpha", "caf\xc3\xa9",      " \xe2\x86\x92 ",
		"x y",   "\xf0\x9f\x99\x82", "z"};
	char *t = texts[n_texts++ % RTE_DIM(texts)];
	uint64_t r = dag_rng();

	switch (op) {
	case OP_SUM:
		if (r % 10 == 0)
			snprintf(t, TEXT_LEN, "n/a");
		else if (r % 3 == 0)
			snprintf(t, TEXT_LEN, "doc%u:%d",
				 (unsigned int)(r >> 8) % 100,
				 (int)((r >> 20) % 2001) - 1000);
		else
			snprintf(t, TEXT_LEN, "%d",
				 (int)((r >> 20) % 2001) - 1000);
		break;
	case OP_TOPK:
		if (r % 10 == 0)
			snprintf(t, TEXT_LEN, "doc%u:none",
				 (unsigned int)(r >> 8) % 100);
		else
			snprintf(t, TEXT_LEN, "doc%u:%u",
				 (unsigned int)(r >> 8) % 100,
				 (unsigned int)(r >> 20) % 31);
		break;
	default:
		if (r % 9 == 0) {
			memset(t, 'L', 300);
			t[300] = '\0';
		} else {
			snprintf(t, TEXT_LEN, "%s%u", words[r % RTE_DIM(words)],
				 (unsigned int)(r >> 32) % 1000);
		}
		break;
	}
	*len = (uint16_t)strlen(t);
	return t;
}

static bool
numeric(const char *t)
{
	const char *c = strrchr(t, ':');
	char *end;

	c = c ? c + 1 : t;
	strtod(c, &end);
	return end != c && *end == '\0';
}

static double
value_of(const char *t)
{
	const char *c = strrchr(t, ':');

	return strtod(c ? c + 1 : t, NULL);
}

/* Random tokens (0..@max_tokens) in 1..4 fragments, END on the last or on
 * a tokenless one. */
static void
leaf_fill(struct request *rq, struct leaf *l, unsigned int max_tokens)
{
	unsigned int n_tok = (unsigned int)(dag_rng() % (max_tokens + 1));
	unsigned int per = 1 + (unsigned int)(dag_rng() % 3);

	l->n_frags = 0;
	do {
		struct leaf_frag *f = &l->f[l->n_frags++];

		memset(f, 0, sizeof(*f));
		while (f->n < per && n_tok > 0) {
			f->text[f->n] = new_text(rq->op, &f->len[f->n]);
			f->id[f->n] = next_id++;
			if ((rq->op == OP_SUM || rq->op == OP_TOPK) &&
			    !numeric(f->text[f->n]))
				rq->not_numeric++;
			f->n++;
			n_tok--;
		}
	} while (n_tok > 0 && l->n_frags < MAX_LEAF_FRAGS - 1);
	if (dag_rng() % 3 == 0)
		memset(&l->f[l->n_frags++], 0, sizeof(l->f[0]));
	l->f[l->n_frags - 1].flags = SL_FRAG_F_END;
}

static void
request_make(struct request *rq, enum topo t, enum op op, uint64_t req)
{
	memset(rq, 0, sizeof(*rq));
	rq->req = req;
	rq->topo = t;
	rq->op = op;
	if (t == TOPO_PAIR) {
		rq->n_leaves = 2;
		for (unsigned int i = 0; i < 2; i++) {
			rq->leaves[i].stage = (uint16_t)(1 + i);
			rq->leaves[i].anc[0] = req;
			rq->leaves[i].depth = 1;
		}
	} else {
		unsigned int per = t == TOPO_CHILDREN ? 1 : 2;

		rq->n_children = 1 + (unsigned int)(dag_rng() % 6);
		rq->n_leaves = rq->n_children * per;
		for (unsigned int i = 0; i < rq->n_leaves; i++) {
			struct leaf *l = &rq->leaves[i];

			l->stage =
				t == TOPO_CHILDREN ? 2 : (uint16_t)(3 + i % 2);
			l->anc[0] = req;
			l->anc[1] = i / per;
			l->depth = 2;
		}
	}
	for (unsigned int i = 0; i < rq->n_leaves; i++)
		leaf_fill(rq, &rq->leaves[i], rq->op == OP_CONCAT ? 6 : 8);
}

/* ---------------------------------------------------------- reference */

struct ref_token {
	uint32_t id;
	const char *text;
	uint16_t len;
	double v;
};

static int
topk_cmp(const void *pa, const void *pb)
{
	const struct ref_token *a = pa, *b = pb;

	if (a->v != b->v)
		return a->v > b->v ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

static int
leaf_cmp(const void *pa, const void *pb)
{
	const struct leaf *a = *(const struct leaf *const *)pa;
	const struct leaf *b = *(const struct leaf *const *)pb;

	for (int i = 0; i < 2; i++)
		if (a->anc[i] != b->anc[i])
			return a->anc[i] < b->anc[i] ? -1 : 1;
	return a->stage < b->stage ? -1 : a->stage > b->stage;
}

/* The result's tokens; texts of count and sum in @num. */
static unsigned int
reference(const struct request *rq, struct ref_token *out, char *num)
{
	static struct ref_token all[MAX_LEAVES * MAX_LEAF_FRAGS * MAX_TOKENS];
	const struct leaf *order[MAX_LEAVES];
	unsigned int n = 0;
	double sum = 0;

	for (unsigned int i = 0; i < rq->n_leaves; i++)
		order[i] = &rq->leaves[i];
	qsort(order, rq->n_leaves, sizeof(order[0]), leaf_cmp);
	for (unsigned int i = 0; i < rq->n_leaves; i++)
		for (unsigned int j = 0; j < order[i]->n_frags; j++)
			for (unsigned int k = 0; k < order[i]->f[j].n; k++) {
				const struct leaf_frag *f = &order[i]->f[j];

				all[n++] = (struct ref_token){
					f->id[k], f->text[k], f->len[k],
					value_of(f->text[k])};
			}
	switch (rq->op) {
	case OP_COUNT:
		snprintf(num, 32, "%u", n);
		out[0] = (struct ref_token){0, num, (uint16_t)strlen(num), 0};
		return 1;
	case OP_SUM:
		for (unsigned int i = 0; i < n; i++)
			if (numeric(all[i].text))
				sum += all[i].v;
		snprintf(num, 32, "%.6g", sum);
		out[0] = (struct ref_token){0, num, (uint16_t)strlen(num), 0};
		return 1;
	case OP_TOPK: {
		unsigned int m = 0;

		for (unsigned int i = 0; i < n; i++)
			if (numeric(all[i].text))
				all[m++] = all[i];
		qsort(all, m, sizeof(all[0]), topk_cmp);
		m = RTE_MIN(m, (unsigned int)TOPK);
		memcpy(out, all, m * sizeof(all[0]));
		return m;
	}
	case OP_CONCAT:
		memcpy(out, all, n * sizeof(all[0]));
		return n;
	}
	return 0;
}

/* ------------------------------------------------------------ driving */

/* The client's request and a's answer (n_children lines); a's END comes
 * with its last line unless @late_end (then it is returned to be sent
 * later). */
static void
request_start(const struct request *rq, bool late_end, struct dp_frag *end)
{
	static const char *const line[] = {"line\n"};
	struct dp_frag f = dag_from_client(rq->req, 0, SL_FRAG_F_END);
	const uint64_t r1[1] = {rq->req};
	unsigned int before = dag.n_sent;

	dag_process(&f, 1);
	CU_ASSERT_EQUAL(dag.n_sent - before, rq->topo == TOPO_PAIR ? 2 : 1);
	for (unsigned int i = 0; i < rq->n_children; i++) {
		f = dag_from_instance(1, 0, r1, 1, i,
				      !late_end && i == rq->n_children - 1
					      ? SL_FRAG_F_END
					      : 0);
		f.n_tokens = 1;
		f.token_texts = line;
		dag_process(&f, 1);
	}
	if (late_end)
		*end = dag_from_instance(1, 0, r1, 1, rq->n_children,
					 SL_FRAG_F_END);
	dag_clear();
}

static struct dp_frag
leaf_frag(const struct leaf *l, unsigned int j)
{
	const struct leaf_frag *lf = &l->f[j];
	struct dp_frag f =
		dag_from_instance(l->stage, 0, l->anc, l->depth, j, lf->flags);

	f.abort_reason = lf->reason;
	f.n_tokens = lf->n;
	f.token_texts = lf->text;
	f.token_lens = lf->len;
	f.token_ids = lf->id;
	return f;
}

/* Everything of a request after its start, interleaved: leaf fragments
 * in stream order, a's late END anywhere. */
static unsigned int
interleave(const struct request *rq, const struct dp_frag *late_end,
	   struct dp_frag *ev)
{
	unsigned int next[MAX_LEAVES] = {0}, n = 0, left = 0;
	bool end_sent = late_end == NULL;

	for (unsigned int i = 0; i < rq->n_leaves; i++)
		left += rq->leaves[i].n_frags;
	left += !end_sent;
	while (left > 0) {
		unsigned int pick = (unsigned int)(dag_rng() % left);

		if (!end_sent && pick == 0) {
			ev[n++] = *late_end;
			end_sent = true;
			left--;
			continue;
		}
		pick -= !end_sent;
		for (unsigned int i = 0; i < rq->n_leaves; i++) {
			unsigned int rest = rq->leaves[i].n_frags - next[i];

			if (pick < rest) {
				ev[n++] = leaf_frag(&rq->leaves[i], next[i]++);
				break;
			}
			pick -= rest;
		}
		left--;
	}
	return n;
}

struct outcome {
	unsigned int frames; /* result frames */
	unsigned int early;  /* result frames before the last END */
	unsigned int bad;    /* header or token mismatches */
	size_t bytes;        /* result datagrams, concatenated */
	uint8_t data[16384];
};

/* Result frames among the captured ones: append and check the header. */
static void
collect(const struct request *rq, struct outcome *o, unsigned int from,
	uint8_t depth, uint8_t flags_last, uint8_t reason)
{
	uint16_t agg = agg_id(rq->topo);

	for (unsigned int i = from; i < dag.n_sent; i++) {
		const struct dag_sent *s = &dag.sent[i];

		if (s->dst_ip != DAG_CLIENT_IP ||
		    s->dst_port != DAG_CLIENT_PORT || s->h.stage != agg) {
			o->bad++;
			continue;
		}
		if (s->h.seq != o->frames || s->h.depth != depth ||
		    s->h.ancestry[0] != rq->req || s->h.from_stage != agg ||
		    s->h.pipeline != 1 || s->h.child_count != 0 ||
		    (s->h.flags != 0 && s->h.flags != flags_last) ||
		    s->h.abort_reason != (s->h.flags ? reason : 0))
			o->bad++;
		if (o->bytes + s->dlen <= sizeof(o->data)) {
			memcpy(o->data + o->bytes, s->dgram, s->dlen);
			o->bytes += s->dlen;
		}
		o->frames++;
	}
}

/* The result's tokens (id, text) against the reference. */
static bool
check_tokens(const struct request *rq, const struct outcome *o)
{
	static struct ref_token want[MAX_LEAVES * MAX_LEAF_FRAGS * MAX_TOKENS];
	char num[32];
	unsigned int n_want = reference(rq, want, num), got = 0;
	size_t off = 0;
	bool ok = true;

	while (off + SL_WIRE_HDR_LEN <= o->bytes) {
		struct dag_sent s;
		struct sl_token t[256];
		size_t dlen =
			SL_WIRE_HDR_LEN +
			((size_t)o->data[off + SL_WIRE_OFF_PAYLOAD_LEN] << 8 |
			 o->data[off + SL_WIRE_OFF_PAYLOAD_LEN + 1]);
		unsigned int n;

		if (off + dlen > o->bytes ||
		    sl_wire_parse(o->data + off, dlen, &s.h) != SL_WIRE_OK)
			return false;
		s.dlen = (uint16_t)dlen;
		memcpy(s.dgram, o->data + off, dlen);
		off += dlen;
		n = dag_tokens(&s, t, RTE_DIM(t));
		for (unsigned int i = 0; i < n; i++, got++) {
			/* top-k keeps SL_OP_TOPK_TEXT bytes of a token's
			 * text (these texts are ASCII) */
			uint16_t wl =
				got >= n_want ? 0
				: rq->op == OP_TOPK
					? RTE_MIN(want[got].len,
						  (uint16_t)SL_OP_TOPK_TEXT)
					: want[got].len;
			if (got >= n_want || t[i].id != want[got].id ||
			    t[i].len != wl ||
			    memcmp(t[i].text, want[got].text, wl) != 0) {
				if (ok)
					printf("\n  %s req %lu token %u: id %u "
					       "'%.*s', want id %u '%.*s'",
					       op_name[rq->op],
					       (unsigned long)rq->req, got,
					       t[i].id, (int)t[i].len,
					       t[i].text,
					       got < n_want ? want[got].id : 0,
					       (int)wl,
					       got < n_want ? want[got].text
							    : "");
				ok = false;
			}
		}
	}
	if (got != n_want) {
		printf("\n  %s req %lu: %u result tokens, want %u",
		       op_name[rq->op], (unsigned long)rq->req, got, n_want);
		ok = false;
	}
	return ok;
}

/*
 * One request start to finish; the outcome (result datagrams) in @o.
 * Bursts of 1..5 events, shuffled inside.
 */
static void
run_request(const struct request *rq, struct outcome *o)
{
	static struct dp_frag ev[MAX_LEAVES * MAX_LEAF_FRAGS + 1];
	struct dp_frag late;
	bool late_end = rq->topo != TOPO_PAIR && dag_rng() % 2 == 0;
	unsigned int n_ev, ends_left = rq->n_leaves + late_end;

	memset(o, 0, sizeof(*o));
	request_start(rq, late_end, &late);
	n_ev = interleave(rq, late_end ? &late : NULL, ev);
	for (unsigned int i = 0; i < n_ev;) {
		unsigned int k = 1 + (unsigned int)(dag_rng() % 5);
		struct dp_frag burst[8];

		k = RTE_MIN(k, n_ev - i);
		for (unsigned int j = 0; j < k; j++) {
			burst[j] = ev[i + j];
			ends_left -= !!(burst[j].flags & SL_FRAG_F_END);
		}
		for (unsigned int j = k; j > 1; j--) {
			unsigned int x = (unsigned int)(dag_rng() % j);
			struct dp_frag tmp = burst[j - 1];

			burst[j - 1] = burst[x];
			burst[x] = tmp;
		}
		i += k;
		dag_process(burst, k);
		if (ends_left > 0)
			o->early += dag.n_sent;
		collect(rq, o, 0, rq->topo == TOPO_JOIN_L2 ? 2 : 1,
			SL_FRAG_F_END, 0);
		dag_clear();
	}
}

/* Random requests per (topology, operator): exact results, once, at the
 * last END; then the same requests over buffer edges, byte-identical. */
static void
check_random(enum topo t, enum op op)
{
	static struct request rq;
	static struct outcome streamed[24], buffered;
	unsigned int bad = 0;
	uint64_t not_numeric = 0;

	dp_test_begin();
	for (int pass = 0; pass < 2; pass++) {
		open_ops(t, op, pass == 1, "");
		dag_rng_seed(0xabcdef + t * 16 + op);
		n_texts = 0;
		next_id = 1;
		not_numeric = 0;
		for (unsigned int r = 0; r < RTE_DIM(streamed); r++) {
			struct outcome *o = pass ? &buffered : &streamed[r];
			uint64_t done0 = agg_cnt()->groups_completed;

			request_make(&rq, t, op, 1000 + r);
			not_numeric += rq.not_numeric;
			run_request(&rq, o);
			if (o->early != 0 || o->bad != 0 || o->frames == 0 ||
			    !check_tokens(&rq, o)) {
				printf("\n  %s %s: req %u: %u frames, %u "
				       "early, %u bad",
				       op_name[op],
				       pass ? "buffered" : "streamed", r,
				       o->frames, o->early, o->bad);
				bad++;
			}
			if (agg_cnt()->groups_completed != done0 + 1)
				bad++;
			if (pass == 1 && (o->bytes != streamed[r].bytes ||
					  memcmp(o->data, streamed[r].data,
						 o->bytes) != 0)) {
				printf("\n  %s req %u: buffered result differs",
				       op_name[op], r);
				bad++;
			}
			dag_housekeeping(dag.dp->now - dag.t0 +
					 dag.dp->linger_tsc + 1);
			dag_clear();
		}
		CU_ASSERT_EQUAL(agg_cnt()->groups_created, RTE_DIM(streamed));
		CU_ASSERT_EQUAL(agg_cnt()->groups_completed, RTE_DIM(streamed));
		CU_ASSERT_EQUAL(agg_cnt()->groups_aborted, 0);
		CU_ASSERT_EQUAL(agg_cnt()->late_inputs, 0);
		CU_ASSERT_EQUAL(agg_cnt()->count_mismatch, 0);
		CU_ASSERT_EQUAL(agg_cnt()->not_numeric, not_numeric);
		dag_expect_drops(-1);
		dag_close();
	}
	CU_ASSERT_EQUAL(bad, 0);
	dp_test_end();
}

#define RANDOM_TEST(t, op)                                                     \
	static void test_##t##_##op(void)                                      \
	{                                                                      \
		check_random(t, op);                                           \
	}
RANDOM_TEST(TOPO_CHILDREN, OP_COUNT)
RANDOM_TEST(TOPO_CHILDREN, OP_SUM)
RANDOM_TEST(TOPO_CHILDREN, OP_TOPK)
RANDOM_TEST(TOPO_CHILDREN, OP_CONCAT)
RANDOM_TEST(TOPO_JOIN, OP_COUNT)
RANDOM_TEST(TOPO_JOIN, OP_SUM)
RANDOM_TEST(TOPO_JOIN, OP_TOPK)
RANDOM_TEST(TOPO_JOIN, OP_CONCAT)
RANDOM_TEST(TOPO_PAIR, OP_COUNT)
RANDOM_TEST(TOPO_PAIR, OP_SUM)
RANDOM_TEST(TOPO_PAIR, OP_TOPK)
RANDOM_TEST(TOPO_PAIR, OP_CONCAT)

/* ------------------------------------------------------------- bounds */

/* A children request with leaves of one fragment each: @tokens[i]. */
static void
simple_request(struct request *rq, enum op op, uint64_t req,
	       unsigned int n_children)
{
	static const char *const word = "w";

	memset(rq, 0, sizeof(*rq));
	rq->req = req;
	rq->topo = TOPO_CHILDREN;
	rq->op = op;
	rq->n_children = n_children;
	rq->n_leaves = n_children;
	for (unsigned int i = 0; i < n_children; i++) {
		struct leaf *l = &rq->leaves[i];

		l->stage = 2;
		l->anc[0] = req;
		l->anc[1] = i;
		l->depth = 2;
		l->n_frags = 1;
		l->f[0].n = 1;
		l->f[0].text[0] = word;
		l->f[0].len[0] = 1;
		l->f[0].id[0] = 7;
		l->f[0].flags = SL_FRAG_F_END;
	}
}

static unsigned int
send_leaf(const struct request *rq, unsigned int i)
{
	struct dp_frag f = leaf_frag(&rq->leaves[i], 0);

	return dag_process(&f, 1);
}

/*
 * max_groups 4: a fifth request in flight is over the bound. Its group is
 * made anyway, as a tombstone aborted at once: its client hears exactly
 * one ABORT (OVERLOAD) for the result (groups_created, groups_full and
 * groups_aborted count it), and its later split events and leaves are
 * swallowed (late inputs, not OP_FULL drops), so no partial result can
 * start. The first four complete; once they did, a sixth request works.
 */
static void
test_max_groups(void)
{
	static const char *const line[] = {"line\n"};
	static struct request rq[6];
	const uint64_t r1[1] = {504};
	struct dp_frag unused, f;
	unsigned int aborts = 0, results = 0;

	dp_test_begin();
	open_ops(TOPO_CHILDREN, OP_COUNT, false, ", max_groups: 4");
	for (unsigned int r = 0; r < 4; r++) {
		simple_request(&rq[r], OP_COUNT, 500 + r, 2);
		request_start(&rq[r], false, &unused);
	}
	CU_ASSERT_EQUAL(agg_cnt()->groups_created, 4);
	CU_ASSERT_EQUAL(agg_cnt()->groups_full, 0);
	CU_ASSERT_EQUAL(agg_cnt()->groups_aborted, 0);
	/* Request 504, step by step: what reaches its client is kept. */
	simple_request(&rq[4], OP_COUNT, 504, 2);
	f = dag_from_client(504, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	for (unsigned int i = 0; i < 2; i++) {
		f = dag_from_instance(1, 0, r1, 1, i,
				      i == 1 ? SL_FRAG_F_END : 0);
		f.n_tokens = 1;
		f.token_texts = line;
		dag_process(&f, 1);
		if (i == 0) {
			/* The first child made the group: over the bound. */
			CU_ASSERT_EQUAL(agg_cnt()->groups_created, 5);
			CU_ASSERT_EQUAL(agg_cnt()->groups_full, 1);
			CU_ASSERT_EQUAL(agg_cnt()->groups_aborted, 1);
		}
	}
	CU_ASSERT_EQUAL(send_leaf(&rq[4], 0), 0);
	CU_ASSERT_EQUAL(send_leaf(&rq[4], 1), 0);
	for (unsigned int i = 0; i < dag.n_sent; i++) {
		const struct dag_sent *s = &dag.sent[i];

		if (s->dst_ip != DAG_CLIENT_IP)
			continue;
		results++;
		CU_ASSERT_EQUAL(s->dst_port, DAG_CLIENT_PORT);
		CU_ASSERT_EQUAL(s->h.stage, 3);
		CU_ASSERT_EQUAL(s->h.depth, 1);
		CU_ASSERT_EQUAL(s->h.ancestry[0], 504);
		if (s->h.flags == SL_FRAG_F_ABORT) {
			aborts++;
			CU_ASSERT_EQUAL(s->h.abort_reason, SL_ABORT_OVERLOAD);
			CU_ASSERT_EQUAL(s->h.seq, 0);
			CU_ASSERT_EQUAL(s->h.token_count, 0);
		}
	}
	if (results != 1 || aborts != 1)
		printf("\n  request 504: %u frames to the client, %u ABORT",
		       results, aborts);
	CU_ASSERT_EQUAL(results, 1);
	CU_ASSERT_EQUAL(aborts, 1);
	dag_clear();
	/* One refusal only: its second child, its split's close and its
	 * two leaves found the tombstone. */
	CU_ASSERT_EQUAL(agg_cnt()->groups_created, 5);
	CU_ASSERT_EQUAL(agg_cnt()->groups_full, 1);
	CU_ASSERT_EQUAL(agg_cnt()->groups_aborted, 1);
	CU_ASSERT_EQUAL(agg_cnt()->groups_completed, 0);
	CU_ASSERT_EQUAL(agg_cnt()->late_inputs, 2);
	dag_expect_drops(-1);
	for (unsigned int r = 0; r < 4; r++) {
		CU_ASSERT_EQUAL(send_leaf(&rq[r], 0), 0);
		CU_ASSERT_EQUAL_FATAL(send_leaf(&rq[r], 1), 1);
		CU_ASSERT_EQUAL(dag.sent[0].h.ancestry[0], 500 + r);
		CU_ASSERT_EQUAL(dag.sent[0].h.flags, SL_FRAG_F_END);
		dag_clear();
	}
	simple_request(&rq[5], OP_COUNT, 505, 2);
	request_start(&rq[5], false, &unused);
	CU_ASSERT_EQUAL(send_leaf(&rq[5], 0), 0);
	CU_ASSERT_EQUAL_FATAL(send_leaf(&rq[5], 1), 1);
	CU_ASSERT_EQUAL(dag.sent[0].h.ancestry[0], 505);
	CU_ASSERT_EQUAL(dag.sent[0].h.flags, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(agg_cnt()->groups_created, 6);
	CU_ASSERT_EQUAL(agg_cnt()->groups_completed, 5);
	CU_ASSERT_EQUAL(agg_cnt()->groups_aborted, 1);
	CU_ASSERT_EQUAL(agg_cnt()->groups_full, 1);
	CU_ASSERT_EQUAL(agg_cnt()->late_inputs, 2);
	dag_expect_drops(-1);
	dag_close();
	dp_test_end();
}

/*
 * max_groups 4 sizes the group table at 8 keys: four groups in flight and
 * four tombstones fill it. A ninth request cannot even be remembered: its
 * split events are refused (groups_full, no group), its leaves dropped as
 * OP_FULL, and its client hears nothing from the operator.
 */
static void
test_max_groups_table_full(void)
{
	static struct request rq[9];
	struct dp_frag unused;
	unsigned int to_client = 0;

	dp_test_begin();
	open_ops(TOPO_CHILDREN, OP_COUNT, false, ", max_groups: 4");
	for (unsigned int r = 0; r < 8; r++) {
		simple_request(&rq[r], OP_COUNT, 520 + r, 2);
		request_start(&rq[r], false, &unused);
	}
	CU_ASSERT_EQUAL(agg_cnt()->groups_created, 8);
	CU_ASSERT_EQUAL(agg_cnt()->groups_full, 4);
	CU_ASSERT_EQUAL(agg_cnt()->groups_aborted, 4);
	simple_request(&rq[8], OP_COUNT, 528, 2);
	request_start(&rq[8], false, &unused);
	/* Two children started and one split closed: three refusals. */
	CU_ASSERT_EQUAL(agg_cnt()->groups_created, 8);
	CU_ASSERT_EQUAL(agg_cnt()->groups_full, 7);
	CU_ASSERT_EQUAL(send_leaf(&rq[8], 0), 0);
	CU_ASSERT_EQUAL(send_leaf(&rq[8], 1), 0);
	for (unsigned int i = 0; i < dag.n_sent; i++)
		to_client += dag.sent[i].dst_ip == DAG_CLIENT_IP;
	CU_ASSERT_EQUAL(to_client, 0);
	CU_ASSERT_EQUAL(agg_cnt()->groups_full, 9);
	CU_ASSERT_EQUAL(agg_cnt()->groups_aborted, 4);
	CU_ASSERT_EQUAL(agg_cnt()->late_inputs, 0);
	dag_expect_drops(SL_DROP_OP_FULL, 2u, -1);
	dag_clear();
	/* The four in flight still complete. */
	for (unsigned int r = 0; r < 4; r++) {
		CU_ASSERT_EQUAL(send_leaf(&rq[r], 0), 0);
		CU_ASSERT_EQUAL_FATAL(send_leaf(&rq[r], 1), 1);
		CU_ASSERT_EQUAL(dag.sent[0].h.ancestry[0], 520 + r);
		CU_ASSERT_EQUAL(dag.sent[0].h.flags, SL_FRAG_F_END);
		dag_clear();
	}
	CU_ASSERT_EQUAL(agg_cnt()->groups_completed, 4);
	dag_expect_drops(SL_DROP_OP_FULL, 2u, -1);
	dag_close();
	dp_test_end();
}

/*
 * A request refused a group at split time whose leaves arrive once there
 * is room again must not get a result made of some of its leaves (the
 * group made at its first leaf knows none of its children).
 */
static void
test_max_groups_room_later(void)
{
	static struct request rq[5];
	struct dp_frag unused;

	dp_test_begin();
	open_ops(TOPO_CHILDREN, OP_COUNT, false, ", max_groups: 4");
	for (unsigned int r = 0; r < 5; r++) {
		simple_request(&rq[r], OP_COUNT, 600 + r, 3);
		request_start(&rq[r], false, &unused);
	}
	/* Request 600 completes: room for one group. */
	for (unsigned int i = 0; i < 3; i++)
		send_leaf(&rq[0], i);
	dag_clear();
	/* Request 604's three leaves. */
	for (unsigned int i = 0; i < 3; i++)
		send_leaf(&rq[4], i);
	for (unsigned int i = 0; i < dag.n_sent; i++) {
		const struct dag_sent *s = &dag.sent[i];
		struct sl_token t[4];

		if (s->h.flags == SL_FRAG_F_END && dag_tokens(s, t, 4) == 1) {
			if (t[0].len != 1 || t[0].text[0] != '3')
				printf("\n  request 604 got the END result "
				       "'%.*s' of its 3 leaves",
				       (int)t[0].len, t[0].text);
			CU_ASSERT(t[0].len == 1 && t[0].text[0] == '3');
		}
	}
	dag_close();
	dp_test_end();
}

/* max_groups may be 1 (control/README.md: 1..1048576): the worker must
 * start with it. */
static void
test_max_groups_one(void)
{
	struct sl_config *cfg;
	struct sl_dp *dp;
	int rc;

	dp_test_begin();
	cfg = dp_test_config(DAG_YAML_HEAD
			     "pipelines:\n"
			     "  - name: p\n"
			     "    id: 1\n"
			     "    stages:\n"
			     "      - {name: x, instances: [10.0.2.1:8001]}\n"
			     "      - {name: agg, operator: count, "
			     "aggregation: 1, max_groups: 1}\n"
			     "    edges:\n"
			     "      - {from: client, to: x}\n"
			     "      - {from: x, to: agg}\n"
			     "      - {from: agg, to: client}\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	dp = calloc(1, sizeof(*dp));
	CU_ASSERT_PTR_NOT_NULL_FATAL(dp);
	rc = sl_dp_init(dp, cfg, RTE_MAX_ETHPORTS, dp_test_pool());
	if (rc != 0)
		printf("\n  sl_dp_init with max_groups 1: %d", rc);
	CU_ASSERT_EQUAL(rc, 0);
	if (rc == 0)
		sl_dp_fini(dp);
	free(dp);
	sl_config_free(cfg);
	dp_test_end();
}

/* max_group_bytes: concat over the bound aborts the result with
 * OVERLOAD at once, once; what comes later is swallowed. */
static void
test_group_bytes(void)
{
	static struct request rq;
	static char big[120];
	struct dp_frag unused;

	dp_test_begin();
	open_ops(TOPO_CHILDREN, OP_CONCAT, false, ", max_group_bytes: 256");
	memset(big, 'B', sizeof(big) - 1);
	simple_request(&rq, OP_CONCAT, 700, 3);
	for (unsigned int i = 0; i < 3; i++) {
		rq.leaves[i].f[0].text[0] = big;
		rq.leaves[i].f[0].len[0] = (uint16_t)strlen(big);
	}
	request_start(&rq, false, &unused);
	CU_ASSERT_EQUAL(send_leaf(&rq, 0), 0); /* 64 + 125 bytes: fits */
	CU_ASSERT_EQUAL_FATAL(send_leaf(&rq, 1), 1);
	CU_ASSERT_EQUAL(dag.sent[0].h.flags, SL_FRAG_F_ABORT);
	CU_ASSERT_EQUAL(dag.sent[0].h.abort_reason, SL_ABORT_OVERLOAD);
	CU_ASSERT_EQUAL(dag.sent[0].h.token_count, 0);
	CU_ASSERT_EQUAL(dag.sent[0].h.seq, 0);
	CU_ASSERT_EQUAL(dag.sent[0].h.depth, 1);
	CU_ASSERT_EQUAL(dag.sent[0].h.ancestry[0], 700);
	CU_ASSERT_EQUAL(dag.sent[0].h.stage, 3);
	CU_ASSERT_EQUAL(send_leaf(&rq, 2), 0);
	CU_ASSERT_EQUAL(agg_cnt()->group_overflow, 1);
	CU_ASSERT_EQUAL(agg_cnt()->groups_aborted, 1);
	CU_ASSERT_EQUAL(agg_cnt()->groups_completed, 0);
	CU_ASSERT_EQUAL(agg_cnt()->late_inputs, 1);
	dag_expect_drops(-1);
	dag_close();
	dp_test_end();
}

/* A leaf's ABORT aborts the result with the leaf's reason. */
static void
test_leaf_abort(void)
{
	static struct request rq;
	struct dp_frag unused;

	dp_test_begin();
	open_ops(TOPO_CHILDREN, OP_SUM, false, "");
	simple_request(&rq, OP_SUM, 800, 3);
	rq.leaves[1].f[0].flags = SL_FRAG_F_ABORT;
	rq.leaves[1].f[0].reason = SL_ABORT_GUARD;
	rq.leaves[1].f[0].n = 0;
	request_start(&rq, false, &unused);
	CU_ASSERT_EQUAL(send_leaf(&rq, 0), 0);
	CU_ASSERT_EQUAL_FATAL(send_leaf(&rq, 1), 1);
	CU_ASSERT_EQUAL(dag.sent[0].h.flags, SL_FRAG_F_ABORT);
	CU_ASSERT_EQUAL(dag.sent[0].h.abort_reason, SL_ABORT_GUARD);
	CU_ASSERT_EQUAL(dag.sent[0].h.ancestry[0], 800);
	CU_ASSERT_EQUAL(send_leaf(&rq, 2), 0);
	CU_ASSERT_EQUAL(agg_cnt()->groups_aborted, 1);
	CU_ASSERT_EQUAL(agg_cnt()->late_inputs, 1);
	dag_expect_drops(-1);
	dag_close();
	dp_test_end();
}

/* Housekeeping at t0 + @dt until the group table was swept once (it is
 * scanned a slice per call): the frames sent. */
static unsigned int
housekeeping_sweep(uint64_t dt)
{
	unsigned int sent = 0;

	for (int i = 0; i < 1024; i++)
		sent += dag_housekeeping(dt);
	return sent;
}

/*
 * An idle group: join at aggregation 2, groups [R, i]. c1 answers [R, 0]
 * and c2 never does; [R, 1] keeps moving (so the request does not idle
 * out). One idle timeout after its last event, [R, 0]'s result is an
 * ABORT (EXPIRED) to the client, counted in groups_expired.
 */
static void
test_idle_group(void)
{
	static const char *const lines[] = {"l0\nl1\n"};
	static const char *const tok[] = {"t"};
	const uint64_t r1[1] = {900}, c0[2] = {900, 0}, c1[2] = {900, 1};
	struct dp_frag f;
	uint64_t idle;

	dp_test_begin();
	open_ops(TOPO_JOIN_L2, OP_COUNT, false, "");
	idle = dag.dp->idle_tsc;
	f = dag_from_client(900, 0, SL_FRAG_F_END);
	dag_process(&f, 1);
	f = dag_from_instance(1, 0, r1, 1, 0, SL_FRAG_F_END);
	f.n_tokens = 1;
	f.token_texts = lines;
	dag_process(&f, 1);
	f = dag_from_instance(3, 0, c0, 2, 0, SL_FRAG_F_END);
	f.n_tokens = 1;
	f.token_texts = tok;
	dag_process(&f, 1);
	dag_clear();
	/* Half a timeout later [R, 1] moves. */
	dag.dp->now = dag.t0 + idle / 2;
	f = dag_from_instance(3, 0, c1, 2, 0, 0);
	f.n_tokens = 1;
	f.token_texts = tok;
	CU_ASSERT_EQUAL(dag_process(&f, 1), 0);
	CU_ASSERT_EQUAL(housekeeping_sweep(idle), 0);
	CU_ASSERT_EQUAL_FATAL(housekeeping_sweep(idle + 1), 1);
	CU_ASSERT_EQUAL(dag.sent[0].dst_ip, DAG_CLIENT_IP);
	CU_ASSERT_EQUAL(dag.sent[0].h.flags, SL_FRAG_F_ABORT);
	CU_ASSERT_EQUAL(dag.sent[0].h.abort_reason, SL_ABORT_EXPIRED);
	CU_ASSERT_EQUAL(dag.sent[0].h.depth, 2);
	CU_ASSERT_EQUAL(dag.sent[0].h.ancestry[0], 900);
	CU_ASSERT_EQUAL(dag.sent[0].h.ancestry[1], 0);
	CU_ASSERT_EQUAL(dag.sent[0].h.stage, 5);
	CU_ASSERT_EQUAL(agg_cnt()->groups_expired, 1);
	CU_ASSERT_EQUAL(agg_cnt()->groups_aborted, 1);
	/* [R, 1] completes normally. */
	dag_clear();
	f = dag_from_instance(3, 0, c1, 2, 1, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 0);
	f = dag_from_instance(4, 0, c1, 2, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL_FATAL(dag_process(&f, 1), 1);
	CU_ASSERT_EQUAL(dag.sent[0].h.flags, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag.sent[0].h.ancestry[1], 1);
	dag_expect_drops(-1);
	dag_close();
	dp_test_end();
}

/*
 * A whole request goes idle while its group waits for a leaf that never
 * comes: the client must hear ABORT (EXPIRED) for its result.
 */
static void
test_idle_request(void)
{
	static struct request rq;
	struct dp_frag unused;
	unsigned int sent;

	dp_test_begin();
	open_ops(TOPO_CHILDREN, OP_COUNT, false, "");
	simple_request(&rq, OP_COUNT, 950, 2);
	request_start(&rq, false, &unused);
	CU_ASSERT_EQUAL(send_leaf(&rq, 0), 0);
	sent = housekeeping_sweep(dag.dp->idle_tsc + 1);
	if (sent != 1 || dag.sent[0].dst_ip != DAG_CLIENT_IP ||
	    dag.sent[0].h.abort_reason != SL_ABORT_EXPIRED)
		printf("\n  idle request: %u frames to the client, drops "
		       "NO_ORIGIN %lu, groups_expired %lu, aborted %lu",
		       sent,
		       (unsigned long)dag.dp->cnt.drops[SL_DROP_NO_ORIGIN],
		       (unsigned long)agg_cnt()->groups_expired,
		       (unsigned long)agg_cnt()->groups_aborted);
	CU_ASSERT_EQUAL(sent, 1);
	if (sent == 1) {
		CU_ASSERT_EQUAL(dag.sent[0].h.flags, SL_FRAG_F_ABORT);
		CU_ASSERT_EQUAL(dag.sent[0].h.abort_reason, SL_ABORT_EXPIRED);
	}
	CU_ASSERT_EQUAL(agg_cnt()->groups_aborted, 1);
	dag_close();
	dp_test_end();
}

/* The result carries the request's tenant and send time. */
static void
test_result_tenant(void)
{
	static const char *const lines[] = {"l0\n"};
	const uint64_t r1[1] = {990}, c0[2] = {990, 0};
	struct dp_frag f;

	dp_test_begin();
	open_ops(TOPO_CHILDREN, OP_COUNT, false, "");
	f = dag_from_client(990, 0, SL_FRAG_F_END);
	f.tenant = 5;
	f.send_ns = 123456789;
	dag_process(&f, 1);
	f = dag_from_instance(1, 0, r1, 1, 0, SL_FRAG_F_END);
	f.tenant = 5;
	f.send_ns = 123456789;
	f.n_tokens = 1;
	f.token_texts = lines;
	dag_process(&f, 1);
	dag_clear();
	f = dag_from_instance(2, 0, c0, 2, 0, SL_FRAG_F_END);
	f.tenant = 5;
	f.send_ns = 123456789;
	CU_ASSERT_EQUAL_FATAL(dag_process(&f, 1), 1);
	CU_ASSERT_EQUAL(dag.sent[0].h.flags, SL_FRAG_F_END);
	if (dag.sent[0].h.tenant != 5)
		printf("\n  result tenant %u, request's 5",
		       dag.sent[0].h.tenant);
	CU_ASSERT_EQUAL(dag.sent[0].h.tenant, 5);
	CU_ASSERT_EQUAL(dag.sent[0].h.send_ns, 123456789);
	dag_close();
	dp_test_end();
}

/* ------------------------------------------- hardening (issue 8) */

/* A result token as a test expects it. */
struct want {
	uint32_t id;
	const char *text;
	uint16_t len;
};

static uint64_t
drops_total(void)
{
	uint64_t n = 0;

	for (int r = 1; r < SL_DROP_MAX; r++)
		n += dag.dp->cnt.drops[r];
	return n;
}

/*
 * The frames captured from dag.sent[@from] on are exactly the result of
 * operator stage @agg for group [@req] (depth 1): the datagrams built here
 * with sl_wire_builder from the @n tokens @w, fragments filled in token
 * order without splitting a token, seq from 0, @last_flags on the last
 * (END; or ABORT with @reason, and then @n is 0); all to the client.
 */
static bool
result_frames(uint16_t agg, uint64_t req, const struct want *w, unsigned int n,
	      unsigned int from, uint8_t last_flags, uint8_t reason)
{
	static uint8_t buf[SL_WIRE_HDR_LEN + SL_WIRE_PAYLOAD_MAX];
	struct sl_frag_hdr h = {
		.version = SL_WIRE_VERSION,
		.depth = 1,
		.stage = agg,
		.from_stage = agg,
		.pipeline = 1,
		.ancestry = {req},
	};
	unsigned int frame = from, i = 0;
	bool ok = true;

	for (;;) {
		struct sl_wire_builder b;
		const struct dag_sent *s;
		size_t len;

		h.seq = frame - from;
		sl_wire_builder_init(&b, buf, sizeof(buf), &h);
		while (i < n && sl_wire_builder_add(&b, w[i].id, w[i].text,
						    w[i].len) == 0)
			i++;
		if (i < n && b.hdr.token_count == 0) {
			printf("\n  token %u fits no fragment", i);
			return false;
		}
		if (i == n) {
			b.hdr.flags = last_flags;
			b.hdr.abort_reason = reason;
		}
		len = sl_wire_builder_finish(&b);
		if (frame >= dag.n_sent) {
			printf("\n  result [%lu]: %u frames, want more",
			       (unsigned long)req, frame - from);
			return false;
		}
		s = &dag.sent[frame++];
		if (s->dst_ip != DAG_CLIENT_IP ||
		    s->dst_port != DAG_CLIENT_PORT || s->dlen != len ||
		    memcmp(s->dgram, buf, len) != 0) {
			if (ok)
				printf("\n  result [%lu] frame %u differs (%u "
				       "bytes, flags %u, want %zu, %u)",
				       (unsigned long)req, frame - 1 - from,
				       s->dlen, s->h.flags, len, b.hdr.flags);
			ok = false;
		}
		if (i == n)
			break;
	}
	if (frame != dag.n_sent) {
		printf("\n  result [%lu]: %u frames, want %u",
		       (unsigned long)req, dag.n_sent - from, frame - from);
		ok = false;
	}
	return ok;
}

/* Pair topology: the client's request [@req], to x and y. */
static void
pair_start(uint64_t req)
{
	struct dp_frag f = dag_from_client(req, 0, SL_FRAG_F_END);

	CU_ASSERT_EQUAL(dag_process(&f, 1), 2);
	dag_clear();
}

/* Fragment @seq of stage @stage's (x 1, y 2) answer [@req], @n tokens. */
static struct dp_frag
pair_frag(uint16_t stage, uint64_t req, uint32_t seq, uint8_t flags,
	  const char *const *texts, const uint16_t *lens, const uint32_t *ids,
	  unsigned int n)
{
	const uint64_t anc[1] = {req};
	struct dp_frag f = dag_from_instance(stage, 0, anc, 1, seq, flags);

	f.n_tokens = n;
	f.token_texts = texts;
	f.token_lens = lens;
	f.token_ids = ids;
	return f;
}

/* A tokenless END at @seq of stage @stage's answer [@req]; frames sent. */
static unsigned int
pair_end(uint16_t stage, uint64_t req, uint32_t seq)
{
	struct dp_frag f =
		pair_frag(stage, req, seq, SL_FRAG_F_END, NULL, NULL, NULL, 0);

	return dag_process(&f, 1);
}

/*
 * Stage @stage's answer [@req]: @n fragments of one token each (@texts[i],
 * @lens[i], id @id0 + i), SL_BURST a burst, END on the last when @end.
 * Return the frames sent.
 */
static unsigned int
pair_stream(uint16_t stage, uint64_t req, const char *const *texts,
	    const uint16_t *lens, uint32_t id0, unsigned int n, bool end)
{
	static uint32_t ids[SL_BURST];
	struct dp_frag burst[SL_BURST];
	unsigned int sent = 0;

	for (unsigned int i = 0; i < n;) {
		unsigned int k = RTE_MIN(n - i, (unsigned int)SL_BURST);

		for (unsigned int j = 0; j < k; j++) {
			ids[j] = id0 + i + j;
			burst[j] = pair_frag(
				stage, req, i + j,
				end && i + j == n - 1 ? SL_FRAG_F_END : 0,
				&texts[i + j], &lens[i + j], &ids[j], 1);
		}
		sent += dag_process(burst, k);
		i += k;
	}
	return sent;
}

#define MANY_RECORDS 2500 /* per leaf: 5,000 records in one group */

/*
 * concat held 4,096 records (a fixed sort array) and left the rest out of
 * the result without a word. x and y answer [R] in 2,500 one-token
 * fragments each, interleaved 16 and 16 a burst: the result is all 5,000
 * tokens, x's in sequence order then y's, byte for byte, at the last END.
 */
static void
test_concat_many_records(void)
{
	static char text[2][MANY_RECORDS][12];
	static const char *texts[2][MANY_RECORDS];
	static uint16_t lens[2][MANY_RECORDS];
	static struct want want[2 * MANY_RECORDS];
	const uint64_t req = 1200;
	unsigned int early = 0;

	dp_test_begin();
	open_ops(TOPO_PAIR, OP_CONCAT, false, ", max_group_bytes: 1048576");
	for (unsigned int s = 0; s < 2; s++)
		for (unsigned int i = 0; i < MANY_RECORDS; i++) {
			snprintf(text[s][i], sizeof(text[s][i]), "%c%u ",
				 s ? 'y' : 'x', i);
			texts[s][i] = text[s][i];
			lens[s][i] = (uint16_t)strlen(text[s][i]);
			want[s * MANY_RECORDS + i] = (struct want){
				(s + 1) * 100000 + i, texts[s][i], lens[s][i]};
		}
	pair_start(req);
	for (unsigned int i = 0; i < MANY_RECORDS; i += 16) {
		struct dp_frag burst[32];
		uint32_t ids[32];
		unsigned int k = RTE_MIN(16u, MANY_RECORDS - i), n = 0;

		early += dag.n_sent;
		for (unsigned int s = 0; s < 2; s++)
			for (unsigned int j = 0; j < k; j++, n++) {
				ids[n] = (s + 1) * 100000 + i + j;
				burst[n] =
					pair_frag((uint16_t)(1 + s), req, i + j,
						  i + j == MANY_RECORDS - 1
							  ? SL_FRAG_F_END
							  : 0,
						  &texts[s][i + j],
						  &lens[s][i + j], &ids[n], 1);
			}
		dag_process(burst, n);
	}
	CU_ASSERT_EQUAL(early, 0);
	CU_ASSERT(result_frames(3, req, want, 2 * MANY_RECORDS, 0,
				SL_FRAG_F_END, 0));
	CU_ASSERT_EQUAL(dag.bad_frames, 0);
	CU_ASSERT_EQUAL(agg_cnt()->groups_created, 1);
	CU_ASSERT_EQUAL(agg_cnt()->groups_completed, 1);
	CU_ASSERT_EQUAL(agg_cnt()->groups_aborted, 0);
	CU_ASSERT_EQUAL(agg_cnt()->group_overflow, 0);
	CU_ASSERT_EQUAL(agg_cnt()->result_overflow, 0);
	dag_expect_drops(-1);
	dag_close();
	dp_test_end();
}

static char big_text[1400];

/*
 * A result is queued whole for fanout: 1,000 fragments go, byte for
 * byte; a result of SL_RESULT_FRAGS_MAX + 1 fragments is more than one
 * result may take (once the fragments past the worker's queue were
 * dropped as LOOP_FULL, the END among them): the result is ABORT
 * (OVERLOAD) alone, counted in result_overflow.
 */
static void
test_concat_result_over_loop(void)
{
	static const char *texts[SL_RESULT_FRAGS_MAX + 1];
	static uint16_t lens[SL_RESULT_FRAGS_MAX + 1];
	static struct want want[1000];

	dp_test_begin();
	open_ops(TOPO_PAIR, OP_CONCAT, false, ", max_group_bytes: 16777216");
	memset(big_text, 'b', sizeof(big_text));
	for (unsigned int i = 0; i < RTE_DIM(texts); i++) {
		texts[i] = big_text;
		lens[i] = 1300; /* one token fills a result fragment */
	}
	for (unsigned int i = 0; i < RTE_DIM(want); i++)
		want[i] = (struct want){1 + i, big_text, 1300};
	pair_start(1300);
	CU_ASSERT_EQUAL(pair_stream(1, 1300, texts, lens, 1, 1000, true), 0);
	CU_ASSERT_EQUAL(pair_end(2, 1300, 0), 1000);
	CU_ASSERT(result_frames(3, 1300, want, 1000, 0, SL_FRAG_F_END, 0));
	dag_clear();
	pair_start(1301);
	CU_ASSERT_EQUAL(pair_stream(1, 1301, texts, lens, 1,
				    SL_RESULT_FRAGS_MAX + 1, true),
			0);
	pair_end(2, 1301, 0);
	CU_ASSERT(result_frames(3, 1301, NULL, 0, 0, SL_FRAG_F_ABORT,
				SL_ABORT_OVERLOAD));
	CU_ASSERT_EQUAL(dag.bad_frames, 0);
	CU_ASSERT_EQUAL(agg_cnt()->groups_completed, 1);
	CU_ASSERT_EQUAL(agg_cnt()->groups_aborted, 1);
	CU_ASSERT_EQUAL(agg_cnt()->result_overflow, 1);
	CU_ASSERT_EQUAL(agg_cnt()->group_overflow, 0);
	dag_expect_drops(-1);
	dag_close();
	dp_test_end();
}

/*
 * A result needing 40 fragments when 9 mbufs are left: it was sent until
 * the mbufs ran out and went on with holes and no END. Now it is sized
 * first: ABORT (OVERLOAD) alone, no NO_MBUF drop. With the mbufs back the
 * same answer gives the whole result.
 */
static void
test_concat_result_no_mbufs(void)
{
	static const char *texts[40];
	static uint16_t lens[40];
	static struct want want[40];
	static struct rte_mbuf *held[DP_TEST_POOL_MBUFS];
	struct rte_mempool *pool = dp_test_pool();
	unsigned int n_held = 0;

	dp_test_begin();
	open_ops(TOPO_PAIR, OP_CONCAT, false, ", max_group_bytes: 1048576");
	memset(big_text, 'm', sizeof(big_text));
	for (unsigned int i = 0; i < RTE_DIM(texts); i++) {
		texts[i] = big_text;
		lens[i] = 1300;
		want[i] = (struct want){1 + i, big_text, 1300};
	}
	pair_start(1400);
	CU_ASSERT_EQUAL(pair_stream(1, 1400, texts, lens, 1, 40, true), 0);
	/* Ten left: one for y's END, nine for the result. */
	while (rte_mempool_avail_count(pool) > 10 && n_held < RTE_DIM(held) &&
	       (held[n_held] = rte_pktmbuf_alloc(pool)) != NULL)
		n_held++;
	CU_ASSERT_EQUAL(rte_mempool_avail_count(pool), 10);
	pair_end(2, 1400, 0);
	dp_test_free_all(held, n_held);
	CU_ASSERT(result_frames(3, 1400, NULL, 0, 0, SL_FRAG_F_ABORT,
				SL_ABORT_OVERLOAD));
	CU_ASSERT_EQUAL(agg_cnt()->result_overflow, 1);
	CU_ASSERT_EQUAL(agg_cnt()->groups_aborted, 1);
	dag_expect_drops(-1);
	dag_clear();
	pair_start(1401);
	CU_ASSERT_EQUAL(pair_stream(1, 1401, texts, lens, 1, 40, true), 0);
	CU_ASSERT_EQUAL(pair_end(2, 1401, 0), 40);
	CU_ASSERT(result_frames(3, 1401, want, 40, 0, SL_FRAG_F_END, 0));
	CU_ASSERT_EQUAL(agg_cnt()->groups_completed, 1);
	CU_ASSERT_EQUAL(agg_cnt()->result_overflow, 1);
	dag_expect_drops(-1);
	dag_close();
	dp_test_end();
}

/*
 * A token of 1,400 bytes (a fragment's payload may exceed 1,384 bytes on
 * the way in) fits no result fragment: it was left out and the result
 * ended with END. Now the result is ABORT (OVERLOAD).
 */
static void
test_concat_token_too_big(void)
{
	/* The largest token one fragment carries (a fragment holds at most
	 * SL_WIRE_PAYLOAD_MAX bytes of tokens: more is TOO_BIG at parse and
	 * never reaches an operator) leaves whole in a fragment of its own. */
	const uint16_t big =
		SL_WIRE_PAYLOAD_MAX - 2 * SL_WIRE_TOKEN_HDR_LEN - 5;
	const char *texts[2] = {"small", big_text};
	const uint16_t lens[2] = {5, big};
	const uint32_t ids[2] = {1, 2};
	const struct want want[2] = {{1, "small", 5}, {2, big_text, big}};
	struct dp_frag f;

	dp_test_begin();
	open_ops(TOPO_PAIR, OP_CONCAT, false, "");
	memset(big_text, 'h', sizeof(big_text));
	pair_start(1500);
	f = pair_frag(1, 1500, 0, SL_FRAG_F_END, texts, lens, ids, 2);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 0);
	CU_ASSERT_EQUAL(pair_end(2, 1500, 0), 1); /* exactly full */
	CU_ASSERT(result_frames(3, 1500, want, 2, 0, SL_FRAG_F_END, 0));
	CU_ASSERT_EQUAL(agg_cnt()->result_overflow, 0);
	CU_ASSERT_EQUAL(agg_cnt()->groups_aborted, 0);
	CU_ASSERT_EQUAL(agg_cnt()->groups_completed, 1);
	dag_expect_drops(-1);
	dag_close();
	dp_test_end();
}

/*
 * top-k keeps SL_OP_TOPK_TEXT bytes of a text and cut them mid-character.
 * Texts of 2-, 3- and 4-byte characters after 0..w-1 ASCII bytes put the
 * cut at every position inside a character (and on a boundary); each
 * kept text must be the longest run of whole characters that fits, valid
 * UTF-8. Texts that fit (46 bytes exactly, "€:5") are kept whole.
 */
static void
test_topk_utf8_cut(void)
{
	static const char *const wide[] = {[2] = "\xc3\xa9",
					   [3] = "\xe2\x82\xac",
					   [4] = "\xf0\x9f\x99\x82"};
	static char text[16][80];
	static const char *texts[16];
	static uint16_t lens[16];
	static uint32_t ids[16];
	static struct want want[16];
	unsigned int n = 0, value = 90;
	struct dp_frag f;
	struct sl_token t[16];

	dp_test_begin();
	open_ops_line(TOPO_PAIR, "operator: topk, k: 16", false, "");
	for (unsigned int w = 2; w <= 4; w++)
		for (unsigned int p = 0; p < w; p++, n++) {
			size_t len = p;

			memset(text[n], 'a', p);
			while (len < SL_OP_TOPK_TEXT + 8) {
				memcpy(text[n] + len, wide[w], w);
				len += w;
			}
			want[n].len =
				(uint16_t)(p + (SL_OP_TOPK_TEXT - p) / w * w);
			len += (size_t)snprintf(text[n] + len, 80 - len, ":%u",
						value--);
			lens[n] = (uint16_t)len;
		}
	/* 23 x é: exactly 46 bytes before the number, cut on a boundary. */
	for (unsigned int i = 0; i < 23; i++)
		memcpy(text[n] + 2 * i, wide[2], 2);
	lens[n] = (uint16_t)(46 + snprintf(text[n] + 46, 34, ":%u", value--));
	want[n++].len = 46;
	/* 22 x é + ":4": 46 bytes in all, kept whole. */
	for (unsigned int i = 0; i < 22; i++)
		memcpy(text[n] + 2 * i, wide[2], 2);
	lens[n] = (uint16_t)(44 + snprintf(text[n] + 44, 36, ":%u", 4u));
	want[n].len = lens[n];
	n++;
	value = 4;
	snprintf(text[n], 80, "%s:%u", wide[3], --value);
	lens[n] = (uint16_t)strlen(text[n]);
	want[n].len = lens[n];
	n++;
	for (unsigned int i = 0; i < n; i++) {
		texts[i] = text[i];
		ids[i] = 1 + i;
		want[i].id = ids[i];
		want[i].text = text[i];
	}
	pair_start(1600);
	f = pair_frag(1, 1600, 0, SL_FRAG_F_END, texts, lens, ids, n);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 0);
	CU_ASSERT_EQUAL_FATAL(pair_end(2, 1600, 0), 1);
	CU_ASSERT(result_frames(3, 1600, want, n, 0, SL_FRAG_F_END, 0));
	CU_ASSERT_EQUAL_FATAL(dag_tokens(&dag.sent[0], t, RTE_DIM(t)), n);
	for (unsigned int i = 0; i < n; i++) {
		if (!sl_utf8_valid((const uint8_t *)t[i].text, t[i].len))
			printf("\n  top-k token %u: '%.*s' is not UTF-8", i,
			       (int)t[i].len, t[i].text);
		CU_ASSERT(sl_utf8_valid((const uint8_t *)t[i].text, t[i].len));
		CU_ASSERT(t[i].len <= SL_OP_TOPK_TEXT);
	}
	CU_ASSERT_EQUAL(dag.bad_frames, 0);
	CU_ASSERT_EQUAL(agg_cnt()->not_numeric, 0);
	CU_ASSERT_EQUAL(agg_cnt()->groups_completed, 1);
	dag_expect_drops(-1);
	dag_close();
	dp_test_end();
}

static int
want_by_value(const void *pa, const void *pb)
{
	const struct want *a = pa, *b = pb;
	double va = strtod(strchr(a->text, ':') + 1, NULL);
	double vb = strtod(strchr(b->text, ':') + 1, NULL);

	if (va != vb)
		return va > vb ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

/*
 * k may be 64 (control/README.md), but 64 entries of the old table did
 * not fit a chunk: top-k with k 64 never kept a token and sent an empty
 * END. 70 numbers in 7 fragments: the 64 best, byte for byte.
 */
static void
test_topk_k64(void)
{
	static char text[70][16];
	static const char *texts[70];
	static uint16_t lens[70];
	static uint32_t ids[70];
	static struct want want[70];
	struct dp_frag f[7];

	dp_test_begin();
	open_ops_line(TOPO_PAIR, "operator: topk, k: 64", false, "");
	for (unsigned int i = 0; i < 70; i++) {
		snprintf(text[i], sizeof(text[i]), "v%u:%u", i, i * 37 % 70);
		texts[i] = text[i];
		lens[i] = (uint16_t)strlen(text[i]);
		ids[i] = 1 + i;
		want[i] = (struct want){ids[i], texts[i], lens[i]};
	}
	qsort(want, 70, sizeof(want[0]), want_by_value);
	pair_start(1650);
	for (unsigned int i = 0; i < 7; i++)
		f[i] = pair_frag(1, 1650, i, i == 6 ? SL_FRAG_F_END : 0,
				 &texts[10 * i], &lens[10 * i], &ids[10 * i],
				 10);
	CU_ASSERT_EQUAL(dag_process(f, 7), 0);
	CU_ASSERT_EQUAL(pair_end(2, 1650, 0), 1);
	CU_ASSERT(result_frames(3, 1650, want, 64, 0, SL_FRAG_F_END, 0));
	CU_ASSERT_EQUAL(agg_cnt()->groups_completed, 1);
	CU_ASSERT_EQUAL(agg_cnt()->group_overflow, 0);
	dag_expect_drops(-1);
	dag_close();
	dp_test_end();
}

/*
 * k 5 needs a 310-byte table; with max_group_bytes 256 it was never made
 * and the result was an empty END. Now the group is over its bound at its
 * first number: ABORT (OVERLOAD) at once, y's END found a finished group.
 */
static void
test_topk_table_over_bound(void)
{
	static const char *const texts[1] = {"d:1"};
	static const uint16_t lens[1] = {3};
	static const uint32_t ids[1] = {9};
	struct dp_frag f;

	dp_test_begin();
	open_ops_line(TOPO_PAIR, "operator: topk, k: 5", false,
		      ", max_group_bytes: 256");
	pair_start(1700);
	f = pair_frag(1, 1700, 0, SL_FRAG_F_END, texts, lens, ids, 1);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	CU_ASSERT(result_frames(3, 1700, NULL, 0, 0, SL_FRAG_F_ABORT,
				SL_ABORT_OVERLOAD));
	CU_ASSERT_EQUAL(pair_end(2, 1700, 0), 0);
	CU_ASSERT_EQUAL(agg_cnt()->group_overflow, 1);
	CU_ASSERT_EQUAL(agg_cnt()->groups_aborted, 1);
	CU_ASSERT_EQUAL(agg_cnt()->groups_completed, 0);
	CU_ASSERT_EQUAL(agg_cnt()->late_inputs, 1);
	dag_expect_drops(-1);
	dag_close();
	dp_test_end();
}

/*
 * A group aborted over max_group_bytes kept its chunks until it was
 * forgotten (linger), so a few of them emptied the pool and the next
 * request's result was an ABORT. max_groups 4 gives a pool of 15 chunks;
 * three requests each fill 6 and go over at their twelfth 1,300-byte
 * record; the fourth must still complete, byte for byte.
 */
static void
test_concat_abort_frees_chunks(void)
{
	static const char *texts[12];
	static uint16_t lens[12];
	const struct want one = {1, big_text, 1300};

	dp_test_begin();
	open_ops(TOPO_PAIR, OP_CONCAT, false,
		 ", max_groups: 4, max_group_bytes: 16384");
	memset(big_text, 'c', sizeof(big_text));
	for (unsigned int i = 0; i < RTE_DIM(texts); i++) {
		texts[i] = big_text;
		lens[i] = 1300;
	}
	for (uint64_t r = 1800; r < 1803; r++) {
		pair_start(r);
		CU_ASSERT_EQUAL(pair_stream(1, r, texts, lens, 1, 12, false),
				1);
		CU_ASSERT(result_frames(3, r, NULL, 0, 0, SL_FRAG_F_ABORT,
					SL_ABORT_OVERLOAD));
		CU_ASSERT_EQUAL(pair_end(2, r, 0), 0);
		dag_clear();
	}
	pair_start(1803);
	CU_ASSERT_EQUAL(pair_stream(1, 1803, texts, lens, 1, 1, true), 0);
	CU_ASSERT_EQUAL(pair_end(2, 1803, 0), 1);
	CU_ASSERT(result_frames(3, 1803, &one, 1, 0, SL_FRAG_F_END, 0));
	CU_ASSERT_EQUAL(agg_cnt()->group_overflow, 3);
	CU_ASSERT_EQUAL(agg_cnt()->groups_aborted, 3);
	CU_ASSERT_EQUAL(agg_cnt()->groups_completed, 1);
	CU_ASSERT_EQUAL(agg_cnt()->late_inputs, 3);
	dag_expect_drops(-1);
	dag_close();
	dp_test_end();
}

/*
 * A number is the whole rest of the text: "7\0x" (a NUL is valid UTF-8)
 * was read as 7. Sum over "7\0x", "5", "2\0", "doc\0:4", "1.5\0": 9.
 */
static void
test_sum_nul_inside(void)
{
	static const char *const texts[5] = {"7\0x", "5", "2\0", "doc\0:4",
					     "1.5\0"};
	static const uint16_t lens[5] = {3, 1, 2, 6, 4};
	static const uint32_t ids[5] = {1, 2, 3, 4, 5};
	const struct want nine = {0, "9", 1};
	struct dp_frag f;

	dp_test_begin();
	open_ops(TOPO_PAIR, OP_SUM, false, "");
	pair_start(1850);
	f = pair_frag(1, 1850, 0, SL_FRAG_F_END, texts, lens, ids, 5);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 0);
	CU_ASSERT_EQUAL(pair_end(2, 1850, 0), 1);
	CU_ASSERT(result_frames(3, 1850, &nine, 1, 0, SL_FRAG_F_END, 0));
	CU_ASSERT_EQUAL(agg_cnt()->not_numeric, 3);
	dag_expect_drops(-1);
	dag_close();
	dp_test_end();
}

/* The first pipeline's edge @from -> @to. */
static const struct sl_edge_cfg *
edge_of(uint16_t from, uint16_t to)
{
	const struct sl_pipeline_cfg *pl = &dag.cfg->pipelines[0];

	for (uint16_t i = 0; i < pl->n_edges; i++)
		if (pl->edges[i].from == from && pl->edges[i].to == to)
			return &pl->edges[i];
	return NULL;
}

/*
 * @f through the real parse stage, then straight into the operator over
 * @e: past admit, order and fanout, which may refuse it earlier, so this
 * is sl_op's own check.
 */
static void
op_input_direct(const struct dp_frag *f, const struct sl_edge_cfg *e)
{
	struct rte_mbuf *m;

	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	m = dp_test_frame(f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_EQUAL_FATAL(sl_stage_parse(dag.dp, &m, 1), 1);
	sl_pkt_meta(m)->pipeline = 0;
	sl_op_input(dag.dp, e, m);
}

/* The only frame sent is the END of a count result @count for the group
 * @anc (@depth ids) of operator stage @agg. */
static void
expect_count(uint16_t agg, const uint64_t *anc, uint8_t depth,
	     const char *count)
{
	struct sl_token t[2];

	CU_ASSERT_EQUAL_FATAL(dag.n_sent, 1);
	CU_ASSERT_EQUAL(dag.sent[0].dst_ip, DAG_CLIENT_IP);
	CU_ASSERT_EQUAL(dag.sent[0].h.flags, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag.sent[0].h.stage, agg);
	CU_ASSERT_EQUAL(dag.sent[0].h.seq, 0);
	CU_ASSERT_EQUAL(dag.sent[0].h.depth, depth);
	for (uint8_t i = 0; i < depth; i++)
		CU_ASSERT_EQUAL(dag.sent[0].h.ancestry[i], anc[i]);
	CU_ASSERT_EQUAL_FATAL(dag_tokens(&dag.sent[0], t, 2), 1);
	CU_ASSERT_EQUAL(t[0].id, 0);
	CU_ASSERT(t[0].len == strlen(count) &&
		  memcmp(t[0].text, count, t[0].len) == 0);
}

/*
 * Aggregation 2 keys groups by [R, i]; a depth-1 fragment [R] reached the
 * operator and its key read an id the fragment does not have. It is
 * dropped (DEPTH_MISMATCH, depth_mismatch) before any group is made, and group
 * [R, 0] completes exactly as if it had never come.
 */
static void
test_depth_below_level(void)
{
	static const char *const line[] = {"l0\n"};
	static const char *const tok[] = {"t"};
	const uint64_t r1[1] = {1900}, c0[2] = {1900, 0};
	struct dp_frag f;

	dp_test_begin();
	open_ops(TOPO_JOIN_L2, OP_COUNT, false, "");
	f = dag_from_client(1900, 0, SL_FRAG_F_END);
	dag_process(&f, 1);
	f = dag_from_instance(1, 0, r1, 1, 0, SL_FRAG_F_END);
	f.n_tokens = 1;
	f.token_texts = line;
	dag_process(&f, 1);
	dag_clear();
	f = dag_from_instance(3, 0, r1, 1, 0, SL_FRAG_F_END);
	f.n_tokens = 1;
	f.token_texts = tok;
	op_input_direct(&f, edge_of(3, 5));
	CU_ASSERT_EQUAL(agg_cnt()->depth_mismatch, 1);
	CU_ASSERT_EQUAL(agg_cnt()->groups_created, 0);
	CU_ASSERT_EQUAL(dag.dp->n_loop, 0);
	dag_expect_drops(SL_DROP_DEPTH_MISMATCH, 1u, -1);
	f = dag_from_instance(3, 0, c0, 2, 0, SL_FRAG_F_END);
	f.n_tokens = 1;
	f.token_texts = tok;
	CU_ASSERT_EQUAL(dag_process(&f, 1), 0);
	f = dag_from_instance(4, 0, c0, 2, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	expect_count(5, c0, 2, "1");
	CU_ASSERT_EQUAL(agg_cnt()->groups_created, 1);
	CU_ASSERT_EQUAL(agg_cnt()->groups_completed, 1);
	CU_ASSERT_EQUAL(agg_cnt()->depth_mismatch, 1);
	dag_expect_drops(SL_DROP_DEPTH_MISMATCH, 1u, -1);
	dag_close();
	dp_test_end();
}

/*
 * The operator takes depth-2 leaves [R, i]; a depth-3 stream's END took
 * away a leaf's credit, so the result left at the first real leaf, short
 * of the second. Straight into sl_op: dropped (DEPTH_MISMATCH), and the result
 * counts both leaves.
 */
static void
test_depth_above_input(void)
{
	static struct request rq;
	const uint64_t deep[3] = {1950, 0, 5}, r1[1] = {1950};
	struct dp_frag unused, f;

	dp_test_begin();
	open_ops(TOPO_CHILDREN, OP_COUNT, false, "");
	simple_request(&rq, OP_COUNT, 1950, 2);
	request_start(&rq, false, &unused);
	f = dag_from_instance(2, 0, deep, 3, 0, SL_FRAG_F_END);
	op_input_direct(&f, edge_of(2, 3));
	CU_ASSERT_EQUAL(agg_cnt()->depth_mismatch, 1);
	CU_ASSERT_EQUAL(dag.dp->n_loop, 0);
	CU_ASSERT_EQUAL(send_leaf(&rq, 0), 0);
	CU_ASSERT_EQUAL(send_leaf(&rq, 1), 1);
	expect_count(3, r1, 1, "2");
	CU_ASSERT_EQUAL(agg_cnt()->groups_completed, 1);
	CU_ASSERT_EQUAL(agg_cnt()->count_mismatch, 0);
	dag_expect_drops(SL_DROP_DEPTH_MISMATCH, 1u, -1);
	dag_close();
	dp_test_end();
}

/*
 * The same through the whole path: an instance of b answers [R, 0, 5].
 * Whichever stage refuses it, it is one drop, and the result is the one
 * of the two real leaves, after the second.
 */
static void
test_depth_above_input_path(void)
{
	static struct request rq;
	static const char *const tok[] = {"t"};
	const uint64_t deep[3] = {1960, 0, 5}, r1[1] = {1960};
	struct dp_frag unused, f;

	dp_test_begin();
	open_ops(TOPO_CHILDREN, OP_COUNT, false, "");
	simple_request(&rq, OP_COUNT, 1960, 2);
	request_start(&rq, false, &unused);
	f = dag_from_instance(2, 0, deep, 3, 0, SL_FRAG_F_END);
	f.n_tokens = 1;
	f.token_texts = tok;
	CU_ASSERT_EQUAL(dag_process(&f, 1), 0);
	CU_ASSERT_EQUAL(drops_total(), 1);
	CU_ASSERT_EQUAL(send_leaf(&rq, 0), 0);
	CU_ASSERT_EQUAL(send_leaf(&rq, 1), 1);
	expect_count(3, r1, 1, "2");
	CU_ASSERT_EQUAL(agg_cnt()->groups_completed, 1);
	CU_ASSERT_EQUAL(drops_total(), 1);
	dag_close();
	dp_test_end();
}

/*
 * Split events whose depth does not fit their edge (a→b takes depth 1
 * parents and gives depth 2 children) are none of the group's business:
 * a depth-2 "parent" [R, 7] aborting used to abort group [R]. They are
 * counted in depth_mismatch and change nothing; indexes past the config
 * are ignored. The request then completes with its two leaves.
 */
static void
test_split_event_depth(void)
{
	static struct request rq;
	const uint64_t r1[1] = {1970};
	const uint64_t wrong[3] = {rte_cpu_to_be_64(1970), rte_cpu_to_be_64(7),
				   rte_cpu_to_be_64(1)};
	const struct sl_op_request orq = {0, 0};
	const struct sl_edge_cfg *e;
	struct dp_frag unused;

	dp_test_begin();
	open_ops(TOPO_CHILDREN, OP_COUNT, false, "");
	e = edge_of(1, 2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	simple_request(&rq, OP_COUNT, 1970, 2);
	request_start(&rq, false, &unused);
	CU_ASSERT_EQUAL(agg_cnt()->groups_created, 1);
	sl_op_split_abort(dag.dp, 0, e->id, wrong, 2, SL_ABORT_GUARD, &orq);
	sl_op_split_event(dag.dp, 0, e->id, wrong, 1, +1, &orq);
	sl_op_split_event(dag.dp, 0, e->id, wrong, 3, +1, &orq);
	sl_op_split_event(dag.dp, 0, e->id, wrong, 2, -1, &orq);
	CU_ASSERT_EQUAL(agg_cnt()->depth_mismatch, 4);
	sl_op_split_event(dag.dp, SL_MAX_PIPELINES, e->id, wrong, 2, +1, &orq);
	sl_op_split_event(dag.dp, 0, SL_MAX_EDGES, wrong, 2, +1, &orq);
	sl_op_split_abort(dag.dp, 0, UINT16_MAX, wrong, 1, SL_ABORT_GUARD,
			  &orq);
	CU_ASSERT_EQUAL(agg_cnt()->depth_mismatch, 4);
	CU_ASSERT_EQUAL(agg_cnt()->groups_created, 1);
	CU_ASSERT_EQUAL(agg_cnt()->groups_aborted, 0);
	CU_ASSERT_EQUAL(dag.dp->n_loop, 0);
	CU_ASSERT_EQUAL(send_leaf(&rq, 0), 0);
	CU_ASSERT_EQUAL(send_leaf(&rq, 1), 1);
	expect_count(3, r1, 1, "2");
	dag_expect_drops(-1);
	dag_close();
	dp_test_end();
}

/*
 * After a failed re-init the worker runs with no operator state
 * (sl_dp_adopt counts reconfig_errors and carries on): a fragment for the
 * operator dereferenced it. Now it is dropped as OP_FULL.
 */
static void
test_no_op_state(void)
{
	static const char *const texts[1] = {"w"};
	static const uint16_t lens[1] = {1};
	static const uint32_t ids[1] = {1};
	struct dp_frag f;

	dp_test_begin();
	open_ops(TOPO_PAIR, OP_COUNT, false, "");
	sl_op_fini(dag.dp);
	pair_start(1980);
	f = pair_frag(1, 1980, 0, SL_FRAG_F_END, texts, lens, ids, 1);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 0);
	CU_ASSERT_EQUAL(pair_end(2, 1980, 0), 0);
	sl_op_housekeeping(dag.dp);
	dag_expect_drops(SL_DROP_OP_FULL, 2u, -1);
	dag_close();
	dp_test_end();
}

/*
 * sl_op_init refuses a config beyond what the operators hold, whatever
 * the compiler let through: k above 64 (its table must fit a chunk), a
 * level deeper than the stage's input.
 */
static void
test_init_refuses(void)
{
	struct sl_config *cfg;
	struct sl_dp *dp;
	int rc;

	dp_test_begin();
	cfg = dp_test_config(DAG_YAML_HEAD
			     "pipelines:\n"
			     "  - name: p\n"
			     "    id: 1\n"
			     "    stages:\n"
			     "      - {name: x, instances: [10.0.2.1:8001]}\n"
			     "      - {name: agg, operator: topk, k: 3, "
			     "aggregation: 1}\n"
			     "    edges:\n"
			     "      - {from: client, to: x}\n"
			     "      - {from: x, to: agg}\n"
			     "      - {from: agg, to: client}\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	for (int c = 0; c < 3; c++) {
		struct sl_stage_cfg *st = &cfg->pipelines[0].stages[1];

		st->topk = c == 0 ? 65 : 3;
		st->aggregation = c == 1 ? 2 : 1;
		dp = calloc(1, sizeof(*dp));
		CU_ASSERT_PTR_NOT_NULL_FATAL(dp);
		rc = sl_dp_init(dp, cfg, RTE_MAX_ETHPORTS, dp_test_pool());
		if (rc != (c < 2 ? -EINVAL : 0))
			printf("\n  case %d: sl_dp_init %d", c, rc);
		CU_ASSERT_EQUAL(rc, c < 2 ? -EINVAL : 0);
		if (rc == 0)
			sl_dp_fini(dp);
		free(dp);
	}
	sl_config_free(cfg);
	dp_test_end();
}

static const struct dp_test_case cases[] = {
	DP_SUITE("ops"),
	DP_CASE("count over split children", test_TOPO_CHILDREN_OP_COUNT),
	DP_CASE("sum over split children", test_TOPO_CHILDREN_OP_SUM),
	DP_CASE("top-k over split children", test_TOPO_CHILDREN_OP_TOPK),
	DP_CASE("concat over split children", test_TOPO_CHILDREN_OP_CONCAT),
	DP_CASE("count over a join at depth 2", test_TOPO_JOIN_OP_COUNT),
	DP_CASE("sum over a join at depth 2", test_TOPO_JOIN_OP_SUM),
	DP_CASE("top-k over a join at depth 2", test_TOPO_JOIN_OP_TOPK),
	DP_CASE("concat over a join at depth 2", test_TOPO_JOIN_OP_CONCAT),
	DP_CASE("count over a join at depth 1", test_TOPO_PAIR_OP_COUNT),
	DP_CASE("sum over a join at depth 1", test_TOPO_PAIR_OP_SUM),
	DP_CASE("top-k over a join at depth 1", test_TOPO_PAIR_OP_TOPK),
	DP_CASE("concat over a join at depth 1", test_TOPO_PAIR_OP_CONCAT),
	DP_CASE("max_groups: refused, ABORT(OVERLOAD) once", test_max_groups),
	DP_CASE("max_groups: group table full, OP_FULL",
		test_max_groups_table_full),
	DP_CASE("max_groups: no partial result once room frees",
		test_max_groups_room_later),
	DP_CASE("max_groups 1: the worker starts", test_max_groups_one),
	DP_CASE("max_group_bytes: ABORT(OVERLOAD) once", test_group_bytes),
	DP_CASE("a leaf's ABORT aborts the result", test_leaf_abort),
	DP_CASE("idle group: ABORT(EXPIRED)", test_idle_group),
	DP_CASE("idle request: client told ABORT(EXPIRED)", test_idle_request),
	DP_CASE("result keeps the request's tenant and send time",
		test_result_tenant),
	DP_CASE("concat: 5,000 records, none left out",
		test_concat_many_records),
	DP_CASE("concat: result over SL_RESULT_FRAGS_MAX fragments: ABORT",
		test_concat_result_over_loop),
	DP_CASE("concat: too few mbufs for the result: ABORT",
		test_concat_result_no_mbufs),
	DP_CASE("concat: the largest token a fragment carries",
		test_concat_token_too_big),
	DP_CASE("concat: an aborted group gives its chunks back",
		test_concat_abort_frees_chunks),
	DP_CASE("top-k: texts cut on a character boundary", test_topk_utf8_cut),
	DP_CASE("top-k: k 64", test_topk_k64),
	DP_CASE("top-k: table over max_group_bytes: ABORT",
		test_topk_table_over_bound),
	DP_CASE("sum: a NUL inside is no number", test_sum_nul_inside),
	DP_CASE("depth below the level: dropped, no key read",
		test_depth_below_level),
	DP_CASE("depth above the input: dropped, no credit taken",
		test_depth_above_input),
	DP_CASE("depth above the input, whole path: one drop",
		test_depth_above_input_path),
	DP_CASE("split events at a wrong depth or index: ignored",
		test_split_event_depth),
	DP_CASE("no operator state: OP_FULL, no crash", test_no_op_state),
	DP_CASE("init refuses k > 64 and a level deeper than input",
		test_init_refuses),
	DP_END,
};

int
main(int argc, char **argv)
{
	(void)argc;
	return dp_test_main(argv[0], cases, dag_port_init, dag_port_fini);
}
