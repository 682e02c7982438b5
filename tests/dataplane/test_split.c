/* SPDX-License-Identifier: MIT */
/*
 * test_split.c - splitters (dataplane/sl_split.[ch]) through the whole
 * packet path: client -> a -> (split) -> b -> client.
 *
 * Instance a's output stream [R] is fed cut every possible way: at every
 * byte offset into two fragments (a token each), one character per token,
 * one character per fragment, random tokens in random fragments, with the
 * END on the last data fragment or on a tokenless one. The child streams
 * that reach b are checked against quanta cut by a reference splitter in
 * this file: per child the exact (token id, text piece) list, ancestry
 * [R, index], depth 2, sequence from 0, END on exactly the last fragment,
 * the stage fields, tenant and send time; no child for an empty quantum;
 * the END|CHILDREN marker with the child count exactly when b aggregates
 * at the parent's level (aggregation 1); where each child goes. And when
 * things leave: stream_children forwards every byte with the parent
 * fragment that brought it, complete children leave at their cut, a
 * buffered split edge sends nothing before the parent's END.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <rte_byteorder.h>

#include "dp_dag.h"
#include "sl_route.h"

#define TEXT_MAX 160
#define TOKENS_MAX TEXT_MAX
#define TENANT 7
#define SEND_NS 1700000000123456789ull

enum cut_kind { CUT_LINE, CUT_SENTENCE, CUT_SEMI_PIPE };

struct variant {
	const char *name;
	const char *edge; /* the a -> b edge's attributes */
	enum cut_kind kind;
	bool stream_children;
	bool buffered;
	uint8_t aggregation; /* of b */
};

static const struct variant variants[] = {
	{"line", "split: line", CUT_LINE, false, false, 1},
	{"line stream_children", "split: line, stream_children: true", CUT_LINE,
	 true, false, 1},
	{"line, b aggregation 0", "split: line", CUT_LINE, false, false, 0},
	{"line, b aggregation 2", "split: line", CUT_LINE, false, false, 2},
	{"sentence", "split: sentence", CUT_SENTENCE, false, false, 1},
	{"sentence stream_children, aggregation 2",
	 "split: sentence, stream_children: true", CUT_SENTENCE, true, false,
	 2},
	{"regex [;|]", "split: regex, pattern: \"[;|]\"", CUT_SEMI_PIPE, false,
	 false, 1},
	{"regex [;|] stream_children, aggregation 0",
	 "split: regex, pattern: \"[;|]\", stream_children: true",
	 CUT_SEMI_PIPE, true, false, 0},
	{"buffer + line", "mode: buffer, split: line", CUT_LINE, false, true,
	 1},
	{"buffer + regex stream_children",
	 "mode: buffer, split: regex, pattern: \"[;|]\", stream_children: true",
	 CUT_SEMI_PIPE, true, true, 1},
};

/* Texts per kind: multi-byte characters beside delimiters, a quantum made
 * of the delimiter alone, a token run longer than one 64-byte scan, and
 * (second text) a trailing delimiter, whose empty last quantum is no
 * child. */
static const char *const texts[][2] = {
	[CUT_LINE] =
		{"alpha beta\ngamma\n\ncaf\xc3\xa9\n\xe2\x86\x92 delta "
		 "epsilon\nzeta eta theta iota kappa lambda mu nu xi omicron "
		 "pi rho\nsigma",
		 "caf\xc3\xa9\n\xe2\x86\x92\n\nx y\n"},
	[CUT_SENTENCE] =
		{"Hi. How are you? I am fine!\tOk.\nv3.14 is caf\xc3"
		 "\xa9. \xe2\x86\x92 Done?! Yes. And a longer sentence "
		 "with no end in sight at all..",
		 "A. B?\xe2\x86\x92. C! D.\n"},
	[CUT_SEMI_PIPE] = {"a;b|c;;caf\xc3\xa9|\xe2\x86\x92x;a long piece "
			   "without any delimiter that runs past sixty-four "
			   "bytes|z",
			   "\xc3\xa9;|\xe2\x86\x92;"},
};

/* ------------------------------------------------------- the reference */

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* Offsets just after every delimiter, ascending, no duplicates. */
static unsigned int
ref_cuts(enum cut_kind kind, const char *t, size_t len, size_t *cut)
{
	unsigned int n = 0;

	for (size_t i = 0; i < len; i++) {
		switch (kind) {
		case CUT_LINE:
			if (t[i] == '\n')
				cut[n++] = i + 1;
			break;
		case CUT_SEMI_PIPE:
			if (t[i] == ';' || t[i] == '|')
				cut[n++] = i + 1;
			break;
		case CUT_SENTENCE:
			if (i + 1 < len && strchr(".!?", t[i]) != NULL &&
			    is_space(t[i + 1]))
				cut[n++] = i + 2;
			break;
		}
	}
	return n;
}

struct quantum {
	size_t start, end;
};

/* The non-empty quanta of @t. */
static unsigned int
ref_quanta(enum cut_kind kind, const char *t, size_t len, struct quantum *q)
{
	size_t cut[TEXT_MAX + 1], prev = 0;
	unsigned int n_cuts = ref_cuts(kind, t, len, cut), n = 0;

	for (unsigned int i = 0; i < n_cuts; i++) {
		if (cut[i] > prev)
			q[n++] = (struct quantum){prev, cut[i]};
		prev = cut[i];
	}
	if (len > prev)
		q[n++] = (struct quantum){prev, len};
	return n;
}

/* Bytes of complete quanta within the first @fed bytes. */
static size_t
ref_complete_bytes(enum cut_kind kind, const char *t, size_t len, size_t fed)
{
	size_t cut[TEXT_MAX + 1], done = 0;
	unsigned int n_cuts = ref_cuts(kind, t, len, cut);

	for (unsigned int i = 0; i < n_cuts; i++)
		if (cut[i] <= fed)
			done = cut[i];
	return done;
}

/* ------------------------------------------------------------- one run */

/*
 * One way to feed the text: tokens [tok_start[i], tok_start[i + 1]) and
 * fragments starting at token frag_first[j].
 */
struct feed {
	const char *text;
	size_t len;
	unsigned int n_tok;
	size_t tok_start[TOKENS_MAX + 1];
	unsigned int n_frag;
	unsigned int frag_first[TOKENS_MAX + 1];
	bool separate_end; /* END on a tokenless fragment of its own */
	bool one_burst;    /* all fragments in one burst, reversed */
};

struct run_totals {
	unsigned int runs;
	unsigned int children;
	unsigned int child_frags;
	unsigned int markers;
	unsigned int bad; /* runs with a failure */
};

static const struct variant *cur;
static uint64_t next_req = 1;
static struct run_totals tot;

static bool
is_char_start(const char *t, size_t i)
{
	return ((unsigned char)t[i] & 0xc0) != 0x80;
}

static void
feed_init(struct feed *fd, const char *text)
{
	memset(fd, 0, sizeof(*fd));
	fd->text = text;
	fd->len = strlen(text);
}

/* Bytes of child tokens among captured frames [from, dag.n_sent). */
static size_t
child_bytes(unsigned int from)
{
	size_t bytes = 0;

	for (unsigned int i = from; i < dag.n_sent; i++) {
		struct sl_token t[TOKENS_MAX];
		unsigned int n;

		if (dag.sent[i].h.depth != 2)
			continue;
		n = dag_tokens(&dag.sent[i], t, TOKENS_MAX);
		for (unsigned int k = 0; k < n; k++)
			bytes += t[k].len;
	}
	return bytes;
}

#define RUN_CHECK(cond, ...)                                                   \
	do {                                                                   \
		if (!(cond)) {                                                 \
			if (fails++ < 3) {                                     \
				printf("\n  [%s] req %lu: ", cur->name,        \
				       (unsigned long)req);                    \
				printf(__VA_ARGS__);                           \
			}                                                      \
		}                                                              \
	} while (0)

static void
run_feed(const struct feed *fd)
{
	static struct dp_frag frags[TOKENS_MAX + 2];
	static const char *tok_text[TOKENS_MAX];
	static uint16_t tok_len[TOKENS_MAX];
	static uint32_t tok_id[TOKENS_MAX];
	struct quantum q[TEXT_MAX + 1];
	unsigned int nq = ref_quanta(cur->kind, fd->text, fd->len, q);
	const uint64_t req = next_req++;
	const uint64_t parent[1] = {req};
	struct sl_stage_state *ss = &dag.dp->stages[0][1];
	const struct sl_stage_cfg *b = dag_stage(2);
	uint64_t streams0 = 0, frags0 = 0;
	uint32_t rr0 = ss->rr_next;
	unsigned int n_frags, fails = 0, start;
	struct dp_frag c = dag_from_client(req, 0, SL_FRAG_F_END);

	for (uint16_t i = 0; i < b->n_instances; i++) {
		streams0 += sl_dp_instance(dag.dp, 0, 1, i)->streams;
		frags0 += sl_dp_instance(dag.dp, 0, 1, i)->fragments;
	}
	/* The request reaches a; a answers with the text. */
	CU_ASSERT_EQUAL(dag_process(&c, 1), 1);
	dag_clear();
	for (unsigned int i = 0; i < fd->n_tok; i++) {
		tok_text[i] = fd->text + fd->tok_start[i];
		tok_len[i] =
			(uint16_t)(fd->tok_start[i + 1] - fd->tok_start[i]);
		tok_id[i] = 1000 + i;
	}
	n_frags = fd->n_frag + fd->separate_end;
	for (unsigned int j = 0; j < n_frags; j++) {
		struct dp_frag *f = &frags[j];
		bool last = j == n_frags - 1;

		*f = dag_from_instance(1, 0, parent, 1, j,
				       last ? SL_FRAG_F_END : 0);
		f->tenant = TENANT;
		f->send_ns = SEND_NS;
		if (j < fd->n_frag) {
			unsigned int first = fd->frag_first[j];
			unsigned int end = j + 1 < fd->n_frag
						   ? fd->frag_first[j + 1]
						   : fd->n_tok;

			f->n_tokens = end - first;
			f->token_texts = &tok_text[first];
			f->token_lens = &tok_len[first];
			f->token_ids = &tok_id[first];
		}
	}
	if (fd->one_burst) {
		struct dp_frag rev[TOKENS_MAX + 2];

		CU_ASSERT_FATAL(n_frags <= 8);
		for (unsigned int j = 0; j < n_frags; j++)
			rev[j] = frags[n_frags - 1 - j];
		dag_process(rev, n_frags);
	} else {
		for (unsigned int j = 0; j < n_frags; j++) {
			size_t fed, got, want;

			dag_process(&frags[j], 1);
			if (j == n_frags - 1)
				break;
			fed = j < fd->n_frag
				      ? fd->tok_start
						[j + 1 < fd->n_frag
							 ? fd->frag_first[j + 1]
							 : fd->n_tok]
				      : fd->len;
			got = child_bytes(0);
			if (cur->buffered)
				want = 0;
			else if (cur->stream_children)
				want = fed;
			else
				want = ref_complete_bytes(cur->kind, fd->text,
							  fd->len, fed);
			RUN_CHECK(got == want,
				  "after parent fragment %u (%zu bytes fed): "
				  "%zu child bytes sent, want %zu",
				  j, fed, got, want);
			for (unsigned int i = 0; i < dag.n_sent; i++)
				RUN_CHECK(!(dag.sent[i].h.flags &
					    SL_FRAG_F_CHILDREN),
					  "marker before the parent's END");
		}
	}

	/* Every child, in the order its fragments were sent. */
	start = 0;
	for (unsigned int k = 0; k < nq; k++) {
		unsigned int seq = 0, n_tok = 0, ended = 0;
		size_t qpos = q[k].start;
		uint32_t dst_ip = 0;
		uint16_t dst_port = 0;
		unsigned int tok = 0; /* the token qpos lies in */

		while (tok + 1 < fd->n_tok && fd->tok_start[tok + 1] <= qpos)
			tok++;
		for (unsigned int i = 0; i < dag.n_sent; i++) {
			const struct dag_sent *s = &dag.sent[i];
			struct sl_token t[TOKENS_MAX];
			unsigned int n;

			if (s->h.depth != 2 || s->h.ancestry[1] != k)
				continue;
			tot.child_frags++;
			RUN_CHECK(s->h.seq == seq, "child %u: seq %u, want %u",
				  k, s->h.seq, seq);
			RUN_CHECK(ended == 0, "child %u: fragment after END",
				  k);
			RUN_CHECK(s->h.ancestry[0] == req &&
					  s->h.pipeline == 1 &&
					  s->h.stage == 2 &&
					  s->h.from_stage == 1 &&
					  s->h.tenant == TENANT &&
					  s->h.send_ns == SEND_NS &&
					  s->h.child_count == 0 &&
					  s->h.abort_reason == 0 &&
					  (s->h.flags & ~SL_FRAG_F_END) == 0,
				  "child %u: header fields", k);
			if (seq == 0) {
				dst_ip = s->dst_ip;
				dst_port = s->dst_port;
			}
			RUN_CHECK(s->dst_ip == dst_ip &&
					  s->dst_port == dst_port,
				  "child %u: fragments to two places", k);
			ended += !!(s->h.flags & SL_FRAG_F_END);
			seq++;
			n = dag_tokens(s, t, TOKENS_MAX);
			for (unsigned int x = 0; x < n; x++, n_tok++) {
				size_t tend = fd->tok_start[tok + 1];
				size_t plen = RTE_MIN(tend, q[k].end) - qpos;

				RUN_CHECK(t[x].id == 1000 + tok &&
						  t[x].len == plen &&
						  memcmp(t[x].text,
							 fd->text + qpos,
							 plen) == 0,
					  "child %u token %u: id %u '%.*s', "
					  "want id %u '%.*s'",
					  k, n_tok, t[x].id, (int)t[x].len,
					  t[x].text, 1000 + tok, (int)plen,
					  fd->text + qpos);
				qpos += plen;
				if (qpos == tend)
					tok++;
			}
		}
		RUN_CHECK(qpos == q[k].end, "child %u: %zu of %zu bytes", k,
			  qpos - q[k].start, q[k].end - q[k].start);
		RUN_CHECK(ended == 1 && seq > 0,
			  "child %u: %u ENDs in %u "
			  "fragments",
			  k, ended, seq);
		if (!cur->stream_children)
			RUN_CHECK(seq == 1,
				  "child %u: %u fragments, complete "
				  "children fit one",
				  k, seq);
		/* Where it went. */
		if (seq > 0) {
			int inst = dag_instance_of(b, dst_ip, dst_port);
			uint64_t anc[2] = {rte_cpu_to_be_64(dag_wire_id(req)),
					   rte_cpu_to_be_64(k)};
			uint32_t seeds[SL_MAX_INSTANCES];
			int want;

			for (uint16_t i = 0; i < b->n_instances; i++)
				seeds[i] =
					sl_dp_instance(dag.dp, 0, 1, i)->seed;
			if (cur->aggregation == 0)
				want = (int)((rr0 + k) % b->n_instances);
			else
				want = sl_route_rendezvous(
					sl_route_key_hash(anc, 2,
							  cur->aggregation),
					seeds, b->n_instances);
			RUN_CHECK(inst == want,
				  "child %u went to instance %d, want %d", k,
				  inst, want);
		}
		start += seq;
	}
	tot.children += nq;

	/* The marker, last of all, where the children of [R] go. */
	{
		unsigned int markers = 0, others = 0;

		for (unsigned int i = 0; i < dag.n_sent; i++) {
			const struct dag_sent *s = &dag.sent[i];

			if (s->h.depth == 2 && s->h.ancestry[1] < nq)
				continue;
			if (!(s->h.flags & SL_FRAG_F_CHILDREN)) {
				others++;
				continue;
			}
			markers++;
			tot.markers++;
			RUN_CHECK(i == dag.n_sent - 1, "marker not last");
			RUN_CHECK(s->h.flags == (SL_FRAG_F_END |
						 SL_FRAG_F_CHILDREN) &&
					  s->h.child_count == nq &&
					  s->h.depth == 1 &&
					  s->h.ancestry[0] == req &&
					  s->h.stage == 2 &&
					  s->h.from_stage == 1 &&
					  s->h.seq == 0 &&
					  s->h.tenant == TENANT &&
					  s->h.token_count == 0 &&
					  s->dlen == SL_WIRE_HDR_LEN,
				  "marker fields: flags %#x count %u",
				  s->h.flags, s->h.child_count);
			{
				uint64_t anc[1] = {
					rte_cpu_to_be_64(dag_wire_id(req))};
				uint32_t seeds[SL_MAX_INSTANCES];

				for (uint16_t i2 = 0; i2 < b->n_instances; i2++)
					seeds[i2] =
						sl_dp_instance(dag.dp, 0, 1, i2)
							->seed;
				RUN_CHECK(
					dag_instance_of(b, s->dst_ip,
							s->dst_port) ==
						sl_route_rendezvous(
							sl_route_key_hash(anc,
									  1, 1),
							seeds, b->n_instances),
					"marker not where [R] goes");
			}
		}
		RUN_CHECK(markers == (cur->aggregation == 1 ? 1u : 0u),
			  "%u markers", markers);
		RUN_CHECK(others == 0,
			  "%u frames that are no child or "
			  "marker",
			  others);
	}
	RUN_CHECK(start + (cur->aggregation == 1) == dag.n_sent,
		  "%u frames sent, %u expected", dag.n_sent,
		  start + (cur->aggregation == 1));
	{
		uint64_t streams = 0, frags = 0, active = 0;

		for (uint16_t i = 0; i < b->n_instances; i++) {
			streams += sl_dp_instance(dag.dp, 0, 1, i)->streams;
			frags += sl_dp_instance(dag.dp, 0, 1, i)->fragments;
			active +=
				sl_dp_instance(dag.dp, 0, 1, i)->streams_active;
		}
		RUN_CHECK(streams - streams0 == nq && active == 0 &&
				  frags - frags0 == dag.n_sent,
			  "b's counters: %lu streams, %lu active",
			  (unsigned long)(streams - streams0),
			  (unsigned long)active);
		if (cur->aggregation == 0)
			RUN_CHECK(ss->rr_next == rr0 + nq,
				  "round robin cursor moved %u for %u children",
				  ss->rr_next - rr0, nq);
	}
	for (int r = 1; r < SL_DROP_MAX; r++)
		RUN_CHECK(dag.dp->cnt.drops[r] == 0, "drops[%s] = %lu",
			  sl_drop_name(r), (unsigned long)dag.dp->cnt.drops[r]);
	tot.runs++;
	if (fails != 0)
		tot.bad++;
	CU_ASSERT_EQUAL(fails, 0);
	dag_clear();
	/* Let the ended streams go, splitters with them. */
	dag_housekeeping(dag.dp->now - dag.t0 + dag.dp->linger_tsc + 1);
	dag_clear();
}

/* Text cut at byte @at (a character boundary) into two fragments of one
 * token each. */
static void
feed_two(struct feed *fd, const char *text, size_t at, bool separate_end,
	 bool one_burst)
{
	feed_init(fd, text);
	fd->n_tok = 2;
	fd->tok_start[0] = 0;
	fd->tok_start[1] = at;
	fd->tok_start[2] = fd->len;
	fd->n_frag = 2;
	fd->frag_first[0] = 0;
	fd->frag_first[1] = 1;
	fd->separate_end = separate_end;
	fd->one_burst = one_burst;
}

/* One token per character: in one fragment, or one fragment each. */
static void
feed_chars(struct feed *fd, const char *text, bool frag_each)
{
	feed_init(fd, text);
	for (size_t i = 0; i < fd->len; i++)
		if (is_char_start(text, i))
			fd->tok_start[fd->n_tok++] = i;
	fd->tok_start[fd->n_tok] = fd->len;
	if (frag_each) {
		fd->n_frag = fd->n_tok;
		for (unsigned int j = 0; j < fd->n_tok; j++)
			fd->frag_first[j] = j;
	} else {
		fd->n_frag = 1;
		fd->frag_first[0] = 0;
	}
}

/* Random tokens (1..12 characters) in random fragments (1..5 tokens). */
static void
feed_random(struct feed *fd, const char *text)
{
	size_t i = 0;

	feed_init(fd, text);
	while (i < fd->len) {
		unsigned int chars = 1 + (unsigned int)(dag_rng() % 12);

		fd->tok_start[fd->n_tok++] = i;
		while (i < fd->len && chars > 0) {
			i++;
			while (i < fd->len && !is_char_start(text, i))
				i++;
			chars--;
		}
	}
	fd->tok_start[fd->n_tok] = fd->len;
	for (unsigned int t = 0; t < fd->n_tok;) {
		fd->frag_first[fd->n_frag++] = t;
		t += 1 + (unsigned int)(dag_rng() % 5);
	}
	fd->separate_end = dag_rng() % 3 == 0;
}

static void
open_variant(const struct variant *v)
{
	static char yaml[2048];

	snprintf(yaml, sizeof(yaml),
		 DAG_YAML_HEAD
		 "pipelines:\n"
		 "  - name: p\n"
		 "    id: 1\n"
		 "    stages:\n"
		 "      - {name: a, instances: [10.0.2.1:8001]}\n"
		 "      - {name: b, aggregation: %u, instances: "
		 "[10.0.3.1:8002, 10.0.3.2:8002, 10.0.3.3:8002]}\n"
		 "    edges:\n"
		 "      - {from: client, to: a}\n"
		 "      - {from: a, to: b, %s}\n"
		 "      - {from: b, to: client}\n",
		 v->aggregation, v->edge);
	cur = v;
	dag_open(yaml);
}

static void
run_variant(const struct variant *v)
{
	struct feed fd;
	unsigned int split_in_use;

	dp_test_begin();
	memset(&tot, 0, sizeof(tot));
	open_variant(v);
	split_in_use = rte_mempool_in_use_count(dag.dp->split_pool);
	dag_rng_seed(0x5eed + (uint64_t)(v - variants));
	for (unsigned int t = 0; t < 2; t++) {
		const char *text = texts[v->kind][t];
		size_t len = strlen(text);

		CU_ASSERT_FATAL(len < TEXT_MAX);
		for (size_t at = 1; at < len; at++) {
			if (!is_char_start(text, at))
				continue;
			feed_two(&fd, text, at, at % 3 == 0, at % 4 == 1);
			run_feed(&fd);
		}
		feed_chars(&fd, text, false);
		run_feed(&fd);
		feed_chars(&fd, text, true);
		run_feed(&fd);
		for (unsigned int r = 0; r < 16; r++) {
			feed_random(&fd, text);
			run_feed(&fd);
		}
		/* The whole text in one token, END with it. */
		feed_init(&fd, text);
		fd.n_tok = 1;
		fd.tok_start[1] = fd.len;
		fd.n_frag = 1;
		run_feed(&fd);
	}
	printf("%u runs, %u children in %u fragments, %u markers ", tot.runs,
	       tot.children, tot.child_frags, tot.markers);
	if (tot.bad != 0)
		printf("\n  [%s] %u of %u runs failed", v->name, tot.bad,
		       tot.runs);
	CU_ASSERT(tot.runs > 100);
	CU_ASSERT(tot.children > tot.runs);
	CU_ASSERT_EQUAL(tot.markers, v->aggregation == 1 ? tot.runs : 0);
	if (v->stream_children) {
		CU_ASSERT(tot.child_frags > tot.children);
	} else {
		CU_ASSERT_EQUAL(tot.child_frags, tot.children);
	}
	/* Every splitter went back with its stream. */
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(dag.dp->split_pool),
			split_in_use);
	dag_close();
	dp_test_end();
}

#define VARIANT_TEST(i)                                                        \
	static void test_variant_##i(void)                                     \
	{                                                                      \
		run_variant(&variants[i]);                                     \
	}
VARIANT_TEST(0)
VARIANT_TEST(1)
VARIANT_TEST(2)
VARIANT_TEST(3)
VARIANT_TEST(4)
VARIANT_TEST(5)
VARIANT_TEST(6)
VARIANT_TEST(7)
VARIANT_TEST(8)
VARIANT_TEST(9)

/* An empty parent (END alone) has no child; the marker says 0. */
static void
test_empty_parent(void)
{
	const uint64_t parent[1] = {4242};
	struct dp_frag f, c;

	dp_test_begin();
	open_variant(&variants[0]);
	c = dag_from_client(4242, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&c, 1), 1);
	dag_clear();
	f = dag_from_instance(1, 0, parent, 1, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL_FATAL(dag_process(&f, 1), 1);
	CU_ASSERT_EQUAL(dag.sent[0].h.flags,
			SL_FRAG_F_END | SL_FRAG_F_CHILDREN);
	CU_ASSERT_EQUAL(dag.sent[0].h.child_count, 0);
	CU_ASSERT_EQUAL(dag.sent[0].h.ancestry[0], 4242);
	dag_expect_drops(-1);
	dag_close();
	dp_test_end();
}

/*
 * The parent is aborted mid-quantum: the child in progress ends in ABORT
 * with the parent's reason, the marker becomes an ABORT (no CHILDREN, no
 * count), and nothing more is cut.
 */
static void
test_parent_abort(void)
{
	const uint64_t parent[1] = {77};
	struct dp_frag f[2], c;
	const char *const tok[] = {"one\ntw"};

	dp_test_begin();
	open_variant(&variants[0]);
	c = dag_from_client(77, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&c, 1), 1);
	dag_clear();
	f[0] = dag_from_instance(1, 0, parent, 1, 0, 0);
	f[0].n_tokens = 1;
	f[0].token_texts = tok;
	f[1] = dag_from_instance(1, 0, parent, 1, 1, SL_FRAG_F_ABORT);
	f[1].abort_reason = SL_ABORT_ENGINE;
	CU_ASSERT_EQUAL_FATAL(dag_process(&f[0], 1), 1); /* "one\n" */
	CU_ASSERT_EQUAL(dag.sent[0].h.flags, SL_FRAG_F_END);
	CU_ASSERT_EQUAL_FATAL(dag_process(&f[1], 1), 2);
	/* Child 1 had "tw" waiting: it leaves with the ABORT. */
	CU_ASSERT_EQUAL(dag.sent[1].h.depth, 2);
	CU_ASSERT_EQUAL(dag.sent[1].h.ancestry[1], 1);
	CU_ASSERT_EQUAL(dag.sent[1].h.flags, SL_FRAG_F_ABORT);
	CU_ASSERT_EQUAL(dag.sent[1].h.abort_reason, SL_ABORT_ENGINE);
	CU_ASSERT_EQUAL(dag.sent[2 - 1].h.seq, 0);
	CU_ASSERT_EQUAL(dag.sent[2].h.depth, 1);
	CU_ASSERT_EQUAL(dag.sent[2].h.flags, SL_FRAG_F_ABORT);
	CU_ASSERT_EQUAL(dag.sent[2].h.abort_reason, SL_ABORT_ENGINE);
	CU_ASSERT_EQUAL(dag.sent[2].h.child_count, 0);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(sl_dp_instance(dag.dp, 0, 1, i)->streams_active,
				0);
	dag_expect_drops(-1);
	dag_close();
	dp_test_end();
}

static const struct dp_test_case cases[] = {
	DP_SUITE("split"),
	DP_CASE("line: every cut, chars, random", test_variant_0),
	DP_CASE("line, stream_children: pieces leave at once", test_variant_1),
	DP_CASE("line, b aggregation 0: round robin, no marker",
		test_variant_2),
	DP_CASE("line, b aggregation 2: per child, no marker", test_variant_3),
	DP_CASE("sentence: every cut, chars, random", test_variant_4),
	DP_CASE("sentence, stream_children, aggregation 2", test_variant_5),
	DP_CASE("regex [;|]: every cut, chars, random", test_variant_6),
	DP_CASE("regex [;|], stream_children, aggregation 0", test_variant_7),
	DP_CASE("buffer + line: nothing before the parent's END",
		test_variant_8),
	DP_CASE("buffer + regex, stream_children", test_variant_9),
	DP_CASE("empty parent: no child, marker counts 0", test_empty_parent),
	DP_CASE("parent ABORT: child and marker aborted", test_parent_abort),
	DP_END,
};

int
main(int argc, char **argv)
{
	(void)argc;
	return dp_test_main(argv[0], cases, dag_port_init, dag_port_fini);
}
