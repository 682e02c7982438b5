/* SPDX-License-Identifier: MIT */
/*
 * test_guard_edge.c - guards on DAG edges (dataplane/sl_guard_edge.c)
 * through the whole packet path: client -> answer -> client, with the
 * guard on answer -> client (output filter) or client -> answer (input
 * filter, prompt prefix).
 *
 * Texts name a banned author ("Basil Mahfouz") plainly, in mixed case,
 * with zero-width and format characters inside the name, and with
 * look-alike letters (Cyrillic, Greek, fullwidth, accented). Each text is
 * fed cut every way: two fragments at every character boundary (END on
 * the second or on a tokenless third), three fragments at every pair of
 * cuts inside the name, one character per token in one fragment or one
 * fragment each, the whole text in one token, and random cuts.
 *
 * The reference is independent of the engine: sl_guard_normalize of the
 * text so far and memmem of the normalised literal. Block: the fragment
 * that completes the name is the one that carries the refusal (exactly
 * the refusal text, ABORT, reason GUARD), fragments before it carry a
 * byte-exact prefix of the text whose normalised form never holds the
 * name, later ones are dropped (GUARD_BLOCKED, exact count), the answer
 * instance receives exactly one ABORT (GUARD) for its stream, and
 * guard_blocks counts one. Redact: the mask in place of exactly the
 * matched span, everything else byte-exact, sequence numbers and END where
 * they were. Every released token, in every mode: a mask or a piece of
 * original text within one input token, with that token's id exactly
 * when it ends the token and no mask covers any of it, else id 0. Log
 * and clean text: byte-exact at END. Prefix: the guard's
 * text at seq 0 before the stream, the stream's own fragments shifted by
 * one; an unguarded edge of the same stream unchanged. Bad configs: exact
 * messages.
 *
 * Every test ends with the packet mempool at its starting count and no
 * guard state in use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <rte_byteorder.h>

#include "dp_dag.h"
#include "sl_guard.h"
#include "sl_guard_edge.h"

#define NAME "Basil Mahfouz"
#define REFUSAL "Sorry, I cannot discuss that person."
#define MASK "<name>"
#define PREFIX "You are a careful assistant. Never name private persons."
#define ANSWER_IP DP_IP(10, 0, 2, 1)
#define ANSWER_PORT 8001
#define PLAIN_IP DP_IP(10, 0, 4, 1)
#define PLAIN_PORT 8003

#define TEXT_MAX 200
#define TOK_MAX TEXT_MAX
#define OUT_MAX 4096

/* ------------------------------------------------------------- texts */

/*
 * Each names the author once or more; all normalise to contain "basil
 * mahfouz". U+200B/U+200D zero-width, U+00AD soft hyphen, U+2060 word
 * joiner, Cyrillic а (D0 B0) and о (D0 BE), Greek capital Mu (CE 9C),
 * fullwidth Ｍ (EF BC AD), í (C3 AD), a combining acute (CC 81); white
 * space runs (two spaces, tab, newline, U+3000, U+2003, U+00A0), a
 * Hangul filler (E3 85 A4), a variation selector (F3 A0 84 81), a
 * combining mark from U+1DC0 (E1 B7 80), mathematical sans-serif bold
 * 𝗕 (F0 9D 97 95) and circled ⓜ (E2 93 9C).
 */
static const char *const named_texts[] = {
	"Q: who wrote it? A: Basil Mahfouz Al-Kuwaiti wrote it in 1932.",
	"It was bAsIL MAHfouZ, of course.",
	"By Ba\xe2\x80\x8bsil\xc2\xad Mah\xe2\x80\x8d"
	"fou\xe2\x81\xa0z, \xe2\x86\x92 done.",
	"The name is B\xd0\xb0sil \xce\x9c\xd0\xb0hf\xd0\xbeuz!",
	"\xef\xbc\xad: Bas\xc3\xadl \xef\xbc\xad"
	"a\xcc\x81hfouz",
	"Basil Mahfouz",
	"Basil Mahfou and then basil mahfouz; later BASIL MAHFOUZ again.",
	"Basil  Mahfouz, Basil\t\n\xe3\x80\x80Mahfouz, Basil\xe2\x80\x83"
	"\xc2\xa0Mahfouz.",
	"\xf0\x9d\x97\x95"
	"as\xe3\x85\xa4il\xf3\xa0\x84\x81 "
	"\xe2\x93\x9c\xe1\xb7\x80"
	"ahfouz!",
};

/* Near misses: no match anywhere, partial prefixes held and flushed. */
static const char *const clean_texts[] = {
	"Basil Mahfou is not the name; Basil_Mahfouz neither (underscore).",
	"A plain answer with caf\xc3\xa9 and \xe2\x86\x92 arrows, nothing "
	"banned at all in it.",
	"It ends on a partial name: Basil Mahfo",
	"Basil Mahfouq, Basi Mahfouz, Basil-Mahfouz.",
};

static uint8_t lit_norm[64 * SL_GUARD_NORM_GROWTH];
static size_t lit_norm_len;

/* ------------------------------------------------------------ helpers */

static bool
is_char_start(const char *t, size_t i)
{
	return ((unsigned char)t[i] & 0xc0) != 0x80;
}

static size_t
char_len(unsigned char c)
{
	return c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

static size_t
norm(const void *text, size_t len, uint8_t *out, uint32_t *origin)
{
	return sl_guard_normalize(text, len, out, origin);
}

/* Does the normalised form of @len bytes of @text hold the literal? */
static bool
norm_has_name(const void *text, size_t len)
{
	static uint8_t n[OUT_MAX * SL_GUARD_NORM_GROWTH];

	if (len > OUT_MAX)
		return true;
	return memmem(n, norm(text, len, n, NULL), lit_norm, lit_norm_len) !=
	       NULL;
}

#define SPANS_MAX 8

/* The original spans [from, to) of the literal's matches, at most
 * SPANS_MAX (whole characters); return how many. */
static unsigned int ref_spans_n;
static size_t ref_span_from[SPANS_MAX], ref_span_to[SPANS_MAX];

/* @text with every match of the literal (whole original characters)
 * replaced by @mask; return the length. The spans go to ref_span_*. */
static size_t
ref_redact(const char *text, size_t len, const char *mask, char *out)
{
	uint8_t n[TEXT_MAX * SL_GUARD_NORM_GROWTH];
	uint32_t origin[TEXT_MAX * SL_GUARD_NORM_GROWTH];
	size_t nl = norm(text, len, n, origin), o = 0, copied = 0, i = 0;

	ref_spans_n = 0;
	while (i + lit_norm_len <= nl) {
		if (memcmp(n + i, lit_norm, lit_norm_len) != 0) {
			i++;
			continue;
		}
		{
			size_t from = origin[i];
			size_t last = origin[i + lit_norm_len - 1];
			size_t to = last + char_len((unsigned char)text[last]);

			memcpy(out + o, text + copied, from - copied);
			o += from - copied;
			memcpy(out + o, mask, strlen(mask));
			o += strlen(mask);
			copied = to;
			if (ref_spans_n < SPANS_MAX) {
				ref_span_from[ref_spans_n] = from;
				ref_span_to[ref_spans_n++] = to;
			}
		}
		i += lit_norm_len;
	}
	memcpy(out + o, text + copied, len - copied);
	return o + len - copied;
}

/* The text of a captured frame's tokens appended to @buf at *@len. */
static unsigned int
frame_text(const struct dag_sent *s, char *buf, size_t *len)
{
	struct sl_token t[TOK_MAX];
	unsigned int n = dag_tokens(s, t, TOK_MAX);

	for (unsigned int i = 0; i < n; i++) {
		if (*len + t[i].len <= OUT_MAX) {
			memcpy(buf + *len, t[i].text, t[i].len);
			*len += t[i].len;
		}
	}
	return n;
}

static uint64_t
drops_total(void)
{
	uint64_t n = 0;

	for (int r = 1; r < SL_DROP_MAX; r++)
		n += dag.dp->cnt.drops[r];
	return n;
}

/* Let every stream go: idle expiry, then the linger of ended streams,
 * each with a sweep of the whole table; forget what was sent. */
static void
settle(void)
{
	uint64_t dt = dag.dp->now - dag.t0;

	for (int pass = 0; pass < 2; pass++) {
		dt += dag.dp->idle_tsc + dag.dp->linger_tsc + 1;
		for (uint32_t i = 0; i <= dag.dp->flows->capacity / 64 + 1; i++)
			dag_housekeeping(dt);
	}
	dag_clear();
	if (dag.dp->guard_pool != NULL)
		CU_ASSERT_EQUAL(rte_mempool_in_use_count(dag.dp->guard_pool),
				0);
}

/* ---------------------------------------------------------- the feeds */

struct feed {
	const char *text;
	size_t len;
	unsigned int n_tok;
	size_t tok_start[TOK_MAX + 1];
	unsigned int n_frag;
	unsigned int frag_first[TOK_MAX + 1];
	bool separate_end; /* END on a tokenless fragment of its own */
};

static void
feed_init(struct feed *fd, const char *text)
{
	memset(fd, 0, sizeof(*fd));
	fd->text = text;
	fd->len = strlen(text);
}

/* Cuts at byte offsets @cut[0..n) (ascending, char boundaries, inside
 * the text): n + 1 fragments of one token each. */
static void
feed_cuts(struct feed *fd, const char *text, const size_t *cut, unsigned int n,
	  bool separate_end)
{
	feed_init(fd, text);
	fd->tok_start[fd->n_tok++] = 0;
	for (unsigned int i = 0; i < n; i++)
		fd->tok_start[fd->n_tok++] = cut[i];
	fd->tok_start[fd->n_tok] = fd->len;
	for (unsigned int j = 0; j < fd->n_tok; j++)
		fd->frag_first[fd->n_frag++] = j;
	fd->separate_end = separate_end;
}

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
	}
}

static void
feed_whole(struct feed *fd, const char *text, bool separate_end)
{
	feed_init(fd, text);
	fd->n_tok = 1;
	fd->tok_start[1] = fd->len;
	fd->n_frag = 1;
	fd->separate_end = separate_end;
}

static void
feed_random(struct feed *fd, const char *text)
{
	size_t i = 0;

	feed_init(fd, text);
	while (i < fd->len) {
		unsigned int chars = 1 + (unsigned int)(dag_rng() % 6);

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
		t += 1 + (unsigned int)(dag_rng() % 4);
	}
	fd->separate_end = dag_rng() % 3 == 0;
}

/* Bytes of the text in fragments 0..j. */
static size_t
fed_after(const struct feed *fd, unsigned int j)
{
	if (j + 1 >= fd->n_frag)
		return fd->len;
	return fd->tok_start[fd->frag_first[j + 1]];
}

static const char *tok_text[TOK_MAX];
static uint16_t tok_len[TOK_MAX];
static uint32_t tok_id[TOK_MAX];

/* The feed's fragments, from the answer instance for [req] (@from_client:
 * from the client, as request req). Return how many. */
static unsigned int
build_frags(const struct feed *fd, uint64_t req, bool from_client,
	    struct dp_frag *frags)
{
	const uint64_t anc[1] = {req};
	unsigned int n = fd->n_frag + fd->separate_end;

	for (unsigned int i = 0; i < fd->n_tok; i++) {
		tok_text[i] = fd->text + fd->tok_start[i];
		tok_len[i] =
			(uint16_t)(fd->tok_start[i + 1] - fd->tok_start[i]);
		tok_id[i] = 1000 + i;
	}
	for (unsigned int j = 0; j < n; j++) {
		uint8_t flags = j == n - 1 ? SL_FRAG_F_END : 0;
		struct dp_frag *f = &frags[j];

		*f = from_client ? dag_from_client(req, j, flags)
				 : dag_from_instance(1, 0, anc, 1, j, flags);
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
	return n;
}

/* -------------------------------------------------------------- a run */

enum mode {
	M_BLOCK,  /* output edge, block: text names the author */
	M_REDACT, /* output edge, redact */
	M_LOG,    /* output edge, log */
	M_CLEAN,  /* output edge, block, text without the name */
	M_INPUT,  /* input edge (client -> answer), block */
};

static const char *const mode_yaml[] = {
	[M_BLOCK] = "block", [M_REDACT] = "redact", [M_LOG] = "log",
	[M_CLEAN] = "block", [M_INPUT] = "block",
};

struct totals {
	unsigned int runs, bad, frames, blocked, blocked_later;
};

static struct totals tot;
static uint64_t next_req = 1;
static enum mode cur_mode;

#define RUN_CHECK(cond, ...)                                                   \
	do {                                                                   \
		if (!(cond)) {                                                 \
			if (fails++ < 4) {                                     \
				printf("\n  [mode %d] req %lu \"%.24s\" "      \
				       "(%u frags, %u toks): ",                \
				       (int)cur_mode, (unsigned long)req,      \
				       fd->text, fd->n_frag, fd->n_tok);       \
				printf(__VA_ARGS__);                           \
			}                                                      \
		}                                                              \
	} while (0)

static void
open_mode(enum mode m)
{
	static char yaml[2048];
	bool input = m == M_INPUT;

	snprintf(yaml, sizeof(yaml),
		 DAG_YAML_HEAD
		 "guards:\n"
		 "  - name: authors\n"
		 "    action: %s\n"
		 "    literals: [\"" NAME "\"]\n"
		 "%s"
		 "    refusal: \"" REFUSAL "\"\n"
		 "pipelines:\n"
		 "  - name: p\n"
		 "    id: 1\n"
		 "    stages:\n"
		 "      - {name: answer, instances: [10.0.2.1:8001]}\n"
		 "    edges:\n"
		 "      - {from: client, to: answer%s}\n"
		 "      - {from: answer, to: client%s}\n",
		 mode_yaml[m], m == M_REDACT ? "    mask: \"" MASK "\"\n" : "",
		 input ? ", guard: authors" : "",
		 input ? "" : ", guard: authors");
	cur_mode = m;
	dag_open(yaml);
	CU_ASSERT_EQUAL_FATAL(dag.cfg->n_guards, 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(dag.dp->guard_pool);
}

/*
 * One released token, the next after original offset *@at: a mask (where
 * a reference span starts) carries the neutral id; a piece of original
 * text lies within one input token and carries that token's id exactly
 * when it ends the token and no mask covers any of the token, else the
 * neutral id. Return the number of failed checks.
 */
static unsigned int
check_token_id(const struct feed *fd, uint64_t req, const struct sl_token *tk,
	       size_t *at, unsigned int *span)
{
	unsigned int fails = 0, tok = 0;
	bool touched = false;
	uint32_t want_id;
	size_t end;

	if (*span < ref_spans_n && *at == ref_span_from[*span]) {
		RUN_CHECK(tk->len == strlen(MASK) &&
				  memcmp(tk->text, MASK, tk->len) == 0 &&
				  tk->id == SL_GUARD_TOKEN_ID_NEUTRAL,
			  "at %zu: mask token id %u '%.*s'", *at, tk->id,
			  (int)tk->len, tk->text);
		*at = ref_span_to[(*span)++];
		return fails;
	}
	while (tok + 1 < fd->n_tok && fd->tok_start[tok + 1] <= *at)
		tok++;
	for (unsigned int k = 0; k < ref_spans_n; k++)
		touched |= ref_span_from[k] < fd->tok_start[tok + 1] &&
			   ref_span_to[k] > fd->tok_start[tok];
	end = *at + tk->len;
	RUN_CHECK(end <= fd->tok_start[tok + 1] && end <= fd->len &&
			  memcmp(tk->text, fd->text + *at, tk->len) == 0,
		  "piece '%.*s' at %zu is not text of token %u", (int)tk->len,
		  tk->text, *at, tok);
	want_id = end == fd->tok_start[tok + 1] && !touched
			  ? tok_id[tok]
			  : SL_GUARD_TOKEN_ID_NEUTRAL;
	RUN_CHECK(tk->id == want_id, "token id %u for '%.*s' at %zu, want %u",
		  tk->id, (int)tk->len, tk->text, *at, want_id);
	*at = end;
	return fails;
}

static void
run_feed(const struct feed *fd)
{
	static struct dp_frag frags[TOK_MAX + 2];
	static char out[OUT_MAX], want[OUT_MAX];
	const uint64_t req = next_req++;
	const bool input = cur_mode == M_INPUT;
	const uint32_t dst_ip = input ? ANSWER_IP : DAG_CLIENT_IP;
	const uint16_t dst_port = input ? ANSWER_PORT : DAG_CLIENT_PORT;
	const bool blocking = cur_mode == M_BLOCK || cur_mode == M_INPUT;
	unsigned int n = build_frags(fd, req, input, frags);
	unsigned int k = n, fails = 0, stops = 0;
	uint64_t drops0 = drops_total();
	uint64_t gb0 = dag.dp->cnt.guard_blocks;
	uint64_t blocked0 = dag.dp->cnt.drops[SL_DROP_GUARD_BLOCKED];
	size_t out_len = 0, want_len, id_at = 0;
	unsigned int id_span = 0;

	/* Where the masks go, for the token ids. */
	ref_spans_n = 0;
	if (cur_mode == M_REDACT)
		ref_redact(fd->text, fd->len, MASK, want);
	/* The fragment that completes the name (n: none). */
	if (blocking)
		for (unsigned int j = 0; j < fd->n_frag && k == n; j++)
			if (norm_has_name(fd->text, fed_after(fd, j)))
				k = j;
	RUN_CHECK((k < n) == (blocking && norm_has_name(fd->text, fd->len)),
		  "reference: block at %u of %u", k, n);

	if (!input) {
		/* The question reaches the answer instance. */
		struct dp_frag c = dag_from_client(req, 0, SL_FRAG_F_END);

		RUN_CHECK(dag_process(&c, 1) == 1, "question not forwarded");
		dag_clear();
	}
	for (unsigned int j = 0; j < n; j++) {
		unsigned int from = dag.n_sent;
		unsigned int got = dag_process(&frags[j], 1);
		unsigned int want_frames = j < k ? 1 : j == k ? 1u + !input : 0;

		RUN_CHECK(got == want_frames,
			  "fragment %u (block at %u): %u frames, want %u", j, k,
			  got, want_frames);
		for (unsigned int i = from; i < dag.n_sent; i++) {
			const struct dag_sent *s = &dag.sent[i];

			if (s->dst_ip == ANSWER_IP && !input) {
				/* The producer is told to stop. */
				stops++;
				RUN_CHECK(j == k, "stop frame at fragment %u",
					  j);
				RUN_CHECK(
					s->dst_port == ANSWER_PORT &&
						s->h.flags == SL_FRAG_F_ABORT &&
						s->h.abort_reason ==
							SL_ABORT_GUARD &&
						s->h.depth == 1 &&
						s->h.ancestry[0] == req &&
						s->h.pipeline == 1 &&
						s->h.stage == 1 &&
						s->h.token_count == 0 &&
						s->h.payload_len == 0 &&
						s->dlen == SL_WIRE_HDR_LEN,
					"stop frame: port %u flags %#x reason "
					"%u depth %u anc %lu stage %u "
					"tokens %u",
					s->dst_port, s->h.flags,
					s->h.abort_reason, s->h.depth,
					(unsigned long)s->h.ancestry[0],
					s->h.stage, s->h.token_count);
				continue;
			}
			RUN_CHECK(s->dst_ip == dst_ip &&
					  s->dst_port == dst_port,
				  "frame to %#x:%u", s->dst_ip, s->dst_port);
			RUN_CHECK(s->h.seq == j, "seq %u, want %u", s->h.seq,
				  j);
			RUN_CHECK(s->h.depth == 1 && s->h.ancestry[0] == req &&
					  s->h.pipeline == 1 &&
					  s->h.stage == 1 &&
					  s->h.from_stage == (input ? 0 : 1) &&
					  s->h.child_count == 0,
				  "header fields: depth %u stage %u from %u",
				  s->h.depth, s->h.stage, s->h.from_stage);
			tot.frames++;
			if (j == k) {
				size_t l = 0;
				char r[OUT_MAX];
				unsigned int nt = frame_text(s, r, &l);

				RUN_CHECK(s->h.flags == SL_FRAG_F_ABORT &&
						  s->h.abort_reason ==
							  SL_ABORT_GUARD,
					  "block frame flags %#x reason %u",
					  s->h.flags, s->h.abort_reason);
				if (input) {
					RUN_CHECK(
						nt == 0 &&
							s->dlen ==
								SL_WIRE_HDR_LEN,
						"engine's ABORT carries %u "
						"tokens",
						nt);
				} else {
					struct sl_token t[2];

					RUN_CHECK(
						nt == 1 &&
							l == strlen(REFUSAL) &&
							memcmp(r, REFUSAL, l) ==
								0,
						"refusal: %u tokens '%.*s'", nt,
						(int)l, r);
					if (dag_tokens(s, t, 2) == 1)
						RUN_CHECK(t[0].id == 0,
							  "refusal token id "
							  "%u",
							  t[0].id);
				}
				/* Nothing of the name, refusal included. */
				RUN_CHECK(!norm_has_name(r, l),
					  "the name in the block frame");
				continue;
			}
			RUN_CHECK(s->h.flags == (j == n - 1 ? SL_FRAG_F_END
							    : 0) &&
					  s->h.abort_reason == 0,
				  "fragment %u of %u: flags %#x reason %u", j,
				  n, s->h.flags, s->h.abort_reason);
			{
				struct sl_token t[TOK_MAX];
				unsigned int nt = dag_tokens(s, t, TOK_MAX);

				for (unsigned int x = 0; x < nt; x++)
					fails += check_token_id(fd, req, &t[x],
								&id_at,
								&id_span);
			}
			{
				size_t before = out_len;

				frame_text(s, out, &out_len);
				/* Log holds nothing back: fragment in,
				 * fragment out. */
				if (cur_mode == M_LOG) {
					size_t a = j ? fed_after(fd, j - 1) : 0;
					size_t b = fed_after(fd, j);

					RUN_CHECK(out_len - before == b - a &&
							  memcmp(out + before,
								 fd->text + a,
								 b - a) == 0,
						  "log: fragment %u altered",
						  j);
				}
			}
			/* Never ahead of the text, never the name. */
			if (cur_mode != M_REDACT)
				RUN_CHECK(out_len <= fed_after(fd, j) &&
						  memcmp(out, fd->text,
							 out_len) == 0,
					  "after fragment %u: released '%.*s' "
					  "is no prefix of the text",
					  j, (int)out_len, out);
			RUN_CHECK(!norm_has_name(out, out_len) ||
					  cur_mode == M_LOG,
				  "after fragment %u: the name leaked in "
				  "'%.*s'",
				  j, (int)out_len, out);
		}
	}

	/* What arrived in all. */
	if (k < n) {
		RUN_CHECK(stops == (input ? 0u : 1u), "%u stop frames", stops);
		RUN_CHECK(dag.dp->cnt.guard_blocks - gb0 == 1,
			  "guard_blocks +%lu",
			  (unsigned long)(dag.dp->cnt.guard_blocks - gb0));
		RUN_CHECK(
			dag.dp->cnt.drops[SL_DROP_GUARD_BLOCKED] - blocked0 ==
				n - 1 - k,
			"GUARD_BLOCKED +%lu, want %u",
			(unsigned long)(dag.dp->cnt
						.drops[SL_DROP_GUARD_BLOCKED] -
					blocked0),
			n - 1 - k);
		RUN_CHECK(drops_total() - drops0 == n - 1 - k,
			  "other drops: +%lu",
			  (unsigned long)(drops_total() - drops0));
		tot.blocked++;
		tot.blocked_later += n - 1 - k;
	} else {
		if (cur_mode == M_REDACT)
			want_len = ref_redact(fd->text, fd->len, MASK, want);
		else {
			want_len = fd->len;
			memcpy(want, fd->text, fd->len);
		}
		RUN_CHECK(stops == 0, "%u stop frames", stops);
		RUN_CHECK(dag.dp->cnt.guard_blocks == gb0, "blocked");
		RUN_CHECK(drops_total() == drops0, "drops: +%lu",
			  (unsigned long)(drops_total() - drops0));
		RUN_CHECK(out_len == want_len &&
				  memcmp(out, want, want_len) == 0,
			  "at END:\n    got  '%.*s'\n    want '%.*s'",
			  (int)out_len, out, (int)want_len, want);
	}
	tot.runs++;
	if (fails != 0)
		tot.bad++;
	CU_ASSERT_EQUAL(fails, 0);
	CU_ASSERT_EQUAL(dag.bad_frames, 0);
	settle();
}

/* Every way to cut @text. */
static void
run_text(const char *text)
{
	struct feed fd;
	size_t len = strlen(text), cuts[2];
	size_t ms = 0, me = len;

	CU_ASSERT_FATAL(len < TEXT_MAX);
	for (size_t at = 1; at < len; at++) {
		if (!is_char_start(text, at))
			continue;
		cuts[0] = at;
		feed_cuts(&fd, text, cuts, 1, false);
		run_feed(&fd);
		if (at % 3 == 0) {
			feed_cuts(&fd, text, cuts, 1, true);
			run_feed(&fd);
		}
	}
	/* Three fragments, both cuts inside the first name. */
	{
		uint8_t n[TEXT_MAX * SL_GUARD_NORM_GROWTH];
		uint32_t origin[TEXT_MAX * SL_GUARD_NORM_GROWTH];
		size_t nl = norm(text, len, n, origin);
		const uint8_t *p = memmem(n, nl, lit_norm, lit_norm_len);

		if (p != NULL) {
			size_t last = origin[p - n + lit_norm_len - 1];

			ms = origin[p - n];
			me = last + char_len((unsigned char)text[last]);
		}
	}
	if (me - ms < len)
		for (size_t a = ms + 1; a < me; a++)
			for (size_t b = a + 1; b < me; b++) {
				if (!is_char_start(text, a) ||
				    !is_char_start(text, b))
					continue;
				cuts[0] = a;
				cuts[1] = b;
				feed_cuts(&fd, text, cuts, 2, (a + b) % 2);
				run_feed(&fd);
			}
	feed_chars(&fd, text, false);
	run_feed(&fd);
	feed_chars(&fd, text, true);
	run_feed(&fd);
	feed_whole(&fd, text, false);
	run_feed(&fd);
	feed_whole(&fd, text, true);
	run_feed(&fd);
	for (unsigned int r = 0; r < 12; r++) {
		feed_random(&fd, text);
		run_feed(&fd);
	}
}

static void
run_mode(enum mode m, const char *const *texts, unsigned int n_texts)
{
	dp_test_begin();
	memset(&tot, 0, sizeof(tot));
	dag_rng_seed(0x6a7d + m);
	open_mode(m);
	for (unsigned int t = 0; t < n_texts; t++)
		run_text(texts[t]);
	printf("%u runs, %u frames, %u dropped after a block ", tot.runs,
	       tot.frames, tot.blocked_later);
	if (tot.bad != 0)
		printf("\n  %u of %u runs failed", tot.bad, tot.runs);
	CU_ASSERT(tot.runs > 300);
	/* Named texts through a block guard: every run blocked; anything
	 * else: none. */
	CU_ASSERT_EQUAL(tot.blocked,
			(m == M_BLOCK || m == M_INPUT) && texts == named_texts
				? tot.runs
				: 0);
	if (tot.blocked != 0)
		CU_ASSERT(tot.blocked_later > 0);
	CU_ASSERT_EQUAL(dag.dp->cnt.guard_blocks, tot.blocked);
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(dag.dp->guard_pool), 0);
	/* The worker's own scratch for the set counted the same blocks. */
	{
		const struct sl_config *cfg = dag.dp->cfg;
		struct sl_guard_scratch *sc;
		struct sl_guard_set_counters c;

		CU_ASSERT_FATAL(cfg->n_guards == 1 && cfg->guards[0].ref);
		sc = sl_guard_edge_scratch(dag.dp, cfg->guards[0].ref);
		CU_ASSERT_FATAL(sc != NULL);
		CU_ASSERT_EQUAL(dag.dp->n_guard_sc, 1);
		sl_guard_counters_read(&sc, 1, &c, NULL);
		CU_ASSERT_EQUAL(c.c[SL_GUARD_CTR_BLOCKS_RULE], tot.blocked);
	}
	dag_close();
	dp_test_end();
}

static void
test_output_block(void)
{
	run_mode(M_BLOCK, named_texts, RTE_DIM(named_texts));
}

static void
test_output_redact(void)
{
	run_mode(M_REDACT, named_texts, RTE_DIM(named_texts));
}

static void
test_output_redact_clean(void)
{
	run_mode(M_REDACT, clean_texts, RTE_DIM(clean_texts));
}

static void
test_output_log(void)
{
	run_mode(M_LOG, named_texts, RTE_DIM(named_texts));
}

static void
test_output_clean(void)
{
	run_mode(M_CLEAN, clean_texts, RTE_DIM(clean_texts));
}

static void
test_input_block(void)
{
	run_mode(M_INPUT, named_texts, RTE_DIM(named_texts));
}

/*
 * END|CHILDREN fragments through a guard (found by fuzz_dataplane: the
 * fragments the guard rewrote kept the child count under other flags,
 * which receivers refuse as BAD_FLAGS, and the fragment a spill added
 * lost the END). A question naming the author with END|CHILDREN: the
 * engine gets ABORT (GUARD) without a count. An answer whose released
 * text spills into one more fragment: the first goes without END and
 * without CHILDREN, the second carries both and the count.
 */
static void
test_children_flags(void)
{
	static char big[SL_WIRE_PAYLOAD_MAX];
	const size_t big_len = SL_WIRE_PAYLOAD_MAX - SL_WIRE_TOKEN_HDR_LEN;
	const char *head = "The author was Basil Mahfo";
	const char *t1[1] = {head}, *t2[1] = {big}, *q[1] = {"Who is " NAME};
	const uint16_t l1[1] = {(uint16_t)strlen(head)};
	const uint16_t l2[1] = {(uint16_t)big_len};
	const uint64_t anc[1] = {9002};
	struct dp_frag c, f[2];

	dp_test_begin();
	open_mode(M_INPUT);
	c = dag_from_client(9001, 0, SL_FRAG_F_END | SL_FRAG_F_CHILDREN);
	c.child_count = 2;
	c.n_tokens = 1;
	c.token_texts = q;
	CU_ASSERT_EQUAL(dag_process(&c, 1), 1);
	CU_ASSERT_EQUAL(dag.bad_frames, 0);
	CU_ASSERT_EQUAL(dag.n_sent, 1);
	if (dag.n_sent == 1) {
		CU_ASSERT_EQUAL(dag.sent[0].dst_ip, ANSWER_IP);
		CU_ASSERT_EQUAL(dag.sent[0].h.flags, SL_FRAG_F_ABORT);
		CU_ASSERT_EQUAL(dag.sent[0].h.abort_reason, SL_ABORT_GUARD);
		CU_ASSERT_EQUAL(dag.sent[0].h.child_count, 0);
	}
	settle();
	dag_close();

	open_mode(M_CLEAN);
	for (size_t i = 0; i < big_len; i++)
		big[i] = "rest of a clean answer, "[i % 24];
	c = dag_from_client(9002, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&c, 1), 1);
	dag_clear();
	f[0] = dag_from_instance(1, 0, anc, 1, 0, 0);
	f[0].n_tokens = 1;
	f[0].token_texts = t1;
	f[0].token_lens = l1;
	f[1] = dag_from_instance(1, 0, anc, 1, 1,
				 SL_FRAG_F_END | SL_FRAG_F_CHILDREN);
	f[1].child_count = 3;
	f[1].n_tokens = 1;
	f[1].token_texts = t2;
	f[1].token_lens = l2;
	CU_ASSERT_EQUAL(dag_process(&f[0], 1), 1);
	CU_ASSERT_EQUAL(dag_process(&f[1], 1), 2);
	CU_ASSERT_EQUAL(dag.bad_frames, 0);
	CU_ASSERT_EQUAL_FATAL(dag.n_sent, 3);
	CU_ASSERT_EQUAL(dag.sent[1].h.flags, 0);
	CU_ASSERT_EQUAL(dag.sent[1].h.child_count, 0);
	CU_ASSERT_EQUAL(dag.sent[2].h.flags,
			SL_FRAG_F_END | SL_FRAG_F_CHILDREN);
	CU_ASSERT_EQUAL(dag.sent[2].h.child_count, 3);
	CU_ASSERT_EQUAL(dag.dp->cnt.guard_blocks, 0);
	dag_expect_drops(-1);
	settle();
	dag_close();
	dp_test_end();
}

static void
test_input_clean(void)
{
	run_mode(M_INPUT, clean_texts, RTE_DIM(clean_texts));
}

/*
 * Clean text in full fragments: the first ends in a partial name (held
 * back), the second is as long as a fragment may be. What the engine
 * releases for the second is the held part plus its own text: the
 * stream must still arrive whole (it names nobody).
 */
static void
test_output_full_fragment(void)
{
	static char big[SL_WIRE_PAYLOAD_MAX];
	const size_t big_len = SL_WIRE_PAYLOAD_MAX - SL_WIRE_TOKEN_HDR_LEN;
	const char *head = "The author was Basil Mahfo";
	const char *t1[1] = {head}, *t2[1] = {big};
	const uint16_t l1[1] = {(uint16_t)strlen(head)};
	const uint16_t l2[1] = {(uint16_t)big_len};
	const uint64_t anc[1] = {9001};
	struct dp_frag c, f[2];
	static char out[OUT_MAX];
	size_t out_len = 0;

	dp_test_begin();
	open_mode(M_CLEAN);
	for (size_t i = 0; i < big_len; i++)
		big[i] = "rest of a clean answer, "[i % 24];
	c = dag_from_client(9001, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&c, 1), 1);
	dag_clear();
	f[0] = dag_from_instance(1, 0, anc, 1, 0, 0);
	f[0].n_tokens = 1;
	f[0].token_texts = t1;
	f[0].token_lens = l1;
	f[1] = dag_from_instance(1, 0, anc, 1, 1, SL_FRAG_F_END);
	f[1].n_tokens = 1;
	f[1].token_texts = t2;
	f[1].token_lens = l2;
	CU_ASSERT_EQUAL(dag_process(&f[0], 1), 1);
	/* The released text may not fit one fragment: what is left leaves
	 * in one more, which then carries the END. */
	unsigned int n2 = dag_process(&f[1], 1);

	CU_ASSERT(n2 == 1 || n2 == 2);
	CU_ASSERT_EQUAL(dag.dp->cnt.guard_blocks, 0);
	for (unsigned int i = 0; i < dag.n_sent; i++) {
		CU_ASSERT_EQUAL(dag.sent[i].dst_ip, DAG_CLIENT_IP);
		CU_ASSERT_EQUAL(dag.sent[i].h.abort_reason, 0);
		frame_text(&dag.sent[i], out, &out_len);
	}
	/* The last fragment carries the END, spilled or not. */
	CU_ASSERT_EQUAL(dag.sent[dag.n_sent - 1].h.flags, SL_FRAG_F_END);
	for (unsigned int i = 0; i + 1 < dag.n_sent; i++)
		CU_ASSERT_EQUAL(dag.sent[i].h.flags, 0);
	CU_ASSERT_EQUAL(out_len, strlen(head) + big_len);
	CU_ASSERT(out_len >= strlen(head) &&
		  memcmp(out, head, strlen(head)) == 0 &&
		  memcmp(out + strlen(head), big, out_len - strlen(head)) == 0);
	if (dag.dp->cnt.guard_blocks != 0)
		printf("\n  a clean stream was blocked: %u frames, last flags "
		       "%#x reason %u",
		       dag.n_sent,
		       dag.n_sent ? dag.sent[dag.n_sent - 1].h.flags : 0,
		       dag.n_sent ? dag.sent[dag.n_sent - 1].h.abort_reason
				  : 0);
	dag_expect_drops(-1);
	settle();
	dag_close();
	dp_test_end();
}

/*
 * The producer aborts while part of a name is held: what was released
 * stays, the held part never leaves, the ABORT passes with its own reason
 * and nothing is blocked.
 */
static void
test_output_producer_abort(void)
{
	const uint64_t anc[1] = {4040};
	struct dp_frag c, f[2];
	struct sl_token t[4];

	dp_test_begin();
	open_mode(M_BLOCK);
	c = dag_from_client(4040, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&c, 1), 1);
	dag_clear();
	f[0] = dag_from_instance(1, 0, anc, 1, 0, 0);
	f[0].n_tokens = 2;
	f[0].tokens[0] = "The author is ";
	f[0].tokens[1] = "Basil Mahfo";
	f[0].token_id0 = 1000;
	f[1] = dag_from_instance(1, 0, anc, 1, 1, SL_FRAG_F_ABORT);
	f[1].abort_reason = SL_ABORT_ENGINE;
	CU_ASSERT_EQUAL_FATAL(dag_process(&f[0], 1), 1);
	CU_ASSERT_EQUAL_FATAL(dag_tokens(&dag.sent[0], t, 4), 1);
	CU_ASSERT_EQUAL(t[0].id, 1000);
	CU_ASSERT(t[0].len == strlen("The author is ") &&
		  memcmp(t[0].text, "The author is ", t[0].len) == 0);
	CU_ASSERT_EQUAL_FATAL(dag_process(&f[1], 1), 1);
	CU_ASSERT_EQUAL(dag.sent[1].dst_ip, DAG_CLIENT_IP);
	CU_ASSERT_EQUAL(dag.sent[1].h.seq, 1);
	CU_ASSERT_EQUAL(dag.sent[1].h.flags, SL_FRAG_F_ABORT);
	CU_ASSERT_EQUAL(dag.sent[1].h.abort_reason, SL_ABORT_ENGINE);
	CU_ASSERT_EQUAL(dag.sent[1].h.token_count, 0);
	CU_ASSERT_EQUAL(dag.sent[1].dlen, SL_WIRE_HDR_LEN);
	CU_ASSERT_EQUAL(dag.dp->cnt.guard_blocks, 0);
	dag_expect_drops(-1);
	settle();
	dag_close();
	dp_test_end();
}

/*
 * A mask as long as the name it replaces is still a mask: token id 0
 * (guard_release tells masks from text by where the bytes are), and what
 * is left of the token the mask covered goes out with id 0 too: its id
 * would name the whole token, name included.
 */
static void
test_redact_mask_same_length(void)
{
	static const char mask13[] = "#############";
	const uint64_t anc[1] = {5050};
	struct dp_frag c, f;
	struct sl_token t[4];
	static char yaml[2048];

	CU_ASSERT_EQUAL_FATAL(strlen(mask13), strlen(NAME));
	dp_test_begin();
	snprintf(yaml, sizeof(yaml),
		 DAG_YAML_HEAD
		 "guards:\n"
		 "  - {name: g, action: redact, literals: [\"" NAME "\"], "
		 "mask: \"%s\"}\n"
		 "pipelines:\n"
		 "  - name: p\n"
		 "    id: 1\n"
		 "    stages:\n"
		 "      - {name: answer, instances: [10.0.2.1:8001]}\n"
		 "    edges:\n"
		 "      - {from: client, to: answer}\n"
		 "      - {from: answer, to: client, guard: g}\n",
		 mask13);
	dag_open(yaml);
	c = dag_from_client(5050, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&c, 1), 1);
	dag_clear();
	f = dag_from_instance(1, 0, anc, 1, 0, SL_FRAG_F_END);
	f.n_tokens = 1;
	f.tokens[0] = "A: " NAME ".";
	f.token_id0 = 1000;
	CU_ASSERT_EQUAL_FATAL(dag_process(&f, 1), 1);
	CU_ASSERT_EQUAL_FATAL(dag_tokens(&dag.sent[0], t, 4), 3);
	CU_ASSERT(t[0].len == 3 && memcmp(t[0].text, "A: ", 3) == 0);
	CU_ASSERT_EQUAL(t[0].id, SL_GUARD_TOKEN_ID_NEUTRAL);
	CU_ASSERT(t[1].len == 13 && memcmp(t[1].text, mask13, 13) == 0);
	if (t[1].id != 0)
		printf("\n  the mask went out with id %u, not 0", t[1].id);
	CU_ASSERT_EQUAL(t[1].id, SL_GUARD_TOKEN_ID_NEUTRAL);
	CU_ASSERT(t[2].len == 1 && t[2].text[0] == '.');
	CU_ASSERT_EQUAL(t[2].id, SL_GUARD_TOKEN_ID_NEUTRAL);
	CU_ASSERT_EQUAL(dag.sent[0].h.flags, SL_FRAG_F_END);
	dag_expect_drops(-1);
	settle();
	dag_close();
	dp_test_end();
}

/* One stream on the redact edge: fragments of (text, id) tokens in, the
 * tokens that came out, in order, over every frame. */
struct id_case {
	const char *text[6][6]; /* per fragment, NULL-terminated */
	uint32_t id0;           /* token k of the stream has id id0 + k */
	const char *out[16];    /* released tokens, NULL-terminated */
	uint32_t out_id[16];    /* their ids; 0 is neutral */
};

static void
id_case_run(const struct id_case *ic, uint64_t req)
{
	const uint64_t anc[1] = {req};
	struct dp_frag c, f;
	struct sl_token t[TOK_MAX];
	unsigned int n_frag = 0, k = 0, got = 0, bad = 0;
	uint32_t id = ic->id0;

	while (n_frag < 6 && ic->text[n_frag][0] != NULL)
		n_frag++;
	c = dag_from_client(req, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&c, 1), 1);
	dag_clear();
	for (unsigned int j = 0; j < n_frag; j++) {
		unsigned int n = 0;

		f = dag_from_instance(1, 0, anc, 1, j,
				      j == n_frag - 1 ? SL_FRAG_F_END : 0);
		while (n < 6 && ic->text[j][n] != NULL) {
			f.tokens[n] = ic->text[j][n];
			n++;
		}
		f.n_tokens = n;
		f.token_id0 = id;
		id += n;
		CU_ASSERT_EQUAL(dag_process(&f, 1), 1);
	}
	for (unsigned int i = 0; i < dag.n_sent; i++) {
		unsigned int nt = dag_tokens(&dag.sent[i], t, TOK_MAX);

		for (unsigned int x = 0; x < nt; x++, got++) {
			const char *w = k < 16 ? ic->out[k] : NULL;

			if (w == NULL || t[x].len != strlen(w) ||
			    memcmp(t[x].text, w, t[x].len) != 0 ||
			    t[x].id != ic->out_id[k]) {
				if (bad++ < 4)
					printf("\n  req %lu token %u: '%.*s' "
					       "id %u, want '%s' id %u",
					       (unsigned long)req, k,
					       (int)t[x].len, t[x].text,
					       t[x].id, w ? w : "(none)",
					       w ? ic->out_id[k] : 0);
			}
			k++;
		}
	}
	while (k < 16 && ic->out[k] != NULL)
		k++;
	CU_ASSERT_EQUAL(got, k);
	CU_ASSERT_EQUAL(bad, 0);
	settle();
}

/*
 * Redaction and token ids: no released token carries the id of a token
 * a mask covered, even partly (an id names the model's whole token, the
 * masked text included); held text released later keeps the ids of the
 * tokens it came in; a token cut by the holdback goes out in pieces, the
 * front ones neutral, the last with the token's id.
 */
static void
test_redact_token_ids(void)
{
	static const struct id_case cases[] = {
		/* The name over three tokens and two fragments, the last
		 * token with more after the name. */
		{{{"I read ", "Bas", "il Mah", NULL},
		  {"fouz's", " book.", NULL}},
		 1000,
		 {"I read ", MASK, "'s", " book.", NULL},
		 {1000, 0, 0, 1004}},
		/* Text before the name in the name's first token. */
		{{{"x Basil M", NULL}, {"ahfouz y", NULL}},
		 2000,
		 {"x ", MASK, " y", NULL},
		 {0, 0, 0}},
		/* Held, then no name after all: every token its own id,
		 * released together in the second fragment. */
		{{{"Basil", " Mah", NULL}, {"moud", " wrote", NULL}},
		 3000,
		 {"Basil", " Mah", "moud", " wrote", NULL},
		 {3000, 3001, 3002, 3003}},
		/* A token cut by the holdback: its front goes first,
		 * neutral; its end later with its id. */
		{{{"so Basil Ma", NULL}, {"hmoud.", NULL}},
		 4000,
		 {"so ", "Basil Ma", "hmoud.", NULL},
		 {0, 4000, 4001}},
		/* Two names, one token between them untouched. */
		{{{"Basil Mahfouz", " and ", "basil mahfouz", NULL}},
		 5000,
		 {MASK, " and ", MASK, NULL},
		 {0, 5001, 0}},
	};
	static char yaml[2048];

	dp_test_begin();
	snprintf(yaml, sizeof(yaml),
		 DAG_YAML_HEAD
		 "guards:\n"
		 "  - {name: g, action: redact, literals: [\"" NAME "\"], "
		 "mask: \"" MASK "\"}\n"
		 "pipelines:\n"
		 "  - name: p\n"
		 "    id: 1\n"
		 "    stages:\n"
		 "      - {name: answer, instances: [10.0.2.1:8001]}\n"
		 "    edges:\n"
		 "      - {from: client, to: answer}\n"
		 "      - {from: answer, to: client, guard: g}\n");
	dag_open(yaml);
	for (unsigned int i = 0; i < RTE_DIM(cases); i++)
		id_case_run(&cases[i], 6000 + i);
	dag_expect_drops(-1);
	dag_close();
	dp_test_end();
}

/*
 * More tokens held at once than a stream remembers (64): one-byte tokens
 * of a long literal's prefix. The oldest merge into one neutral piece;
 * the rest keep their ids; the text is byte-exact.
 */
static void
test_token_ring_bound(void)
{
	static char lit[101], text[101], yaml[2048];
	static const char *texts[100];
	static uint16_t lens[100];
	static uint32_t ids[100];
	const uint64_t anc[1] = {7070};
	struct sl_token t[TOK_MAX];
	struct dp_frag c, f;
	unsigned int nt;
	size_t at = 0;

	memset(lit, 'x', 99);
	lit[99] = 'y';
	memset(text, 'x', 99);
	text[99] = 'z';
	for (unsigned int i = 0; i < 100; i++) {
		texts[i] = text + i;
		lens[i] = 1;
		ids[i] = 1000 + i;
	}
	dp_test_begin();
	snprintf(yaml, sizeof(yaml),
		 DAG_YAML_HEAD
		 "guards:\n"
		 "  - {name: g, action: redact, literals: [\"%s\"]}\n"
		 "pipelines:\n"
		 "  - name: p\n"
		 "    id: 1\n"
		 "    stages:\n"
		 "      - {name: answer, instances: [10.0.2.1:8001]}\n"
		 "    edges:\n"
		 "      - {from: client, to: answer}\n"
		 "      - {from: answer, to: client, guard: g}\n",
		 lit);
	dag_open(yaml);
	c = dag_from_client(7070, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&c, 1), 1);
	dag_clear();
	f = dag_from_instance(1, 0, anc, 1, 0, SL_FRAG_F_END);
	f.n_tokens = 100;
	f.token_texts = texts;
	f.token_lens = lens;
	f.token_ids = ids;
	CU_ASSERT_EQUAL_FATAL(dag_process(&f, 1), 1);
	nt = dag_tokens(&dag.sent[0], t, TOK_MAX);
	/* 64 remembered: tokens 0..36 as one, then 37..99 each. */
	CU_ASSERT_EQUAL_FATAL(nt, 64);
	CU_ASSERT_EQUAL(t[0].len, 37);
	CU_ASSERT_EQUAL(t[0].id, SL_GUARD_TOKEN_ID_NEUTRAL);
	for (unsigned int x = 0; x < nt; x++) {
		CU_ASSERT(memcmp(t[x].text, text + at, t[x].len) == 0);
		if (x > 0) {
			CU_ASSERT_EQUAL(t[x].len, 1);
			CU_ASSERT_EQUAL(t[x].id, 1036 + x);
		}
		at += t[x].len;
	}
	CU_ASSERT_EQUAL(at, 100);
	dag_expect_drops(-1);
	settle();
	dag_close();
	dp_test_end();
}

/* ------------------------------------------------------------- prefix */

static const char prefix_yaml[] =
	DAG_YAML_HEAD "guards:\n"
		      "  - name: sys\n"
		      "    prefix: \"" PREFIX "\"\n"
		      "pipelines:\n"
		      "  - name: p\n"
		      "    id: 1\n"
		      "    stages:\n"
		      "      - {name: answer, instances: [10.0.2.1:8001]}\n"
		      "      - {name: plain, instances: [10.0.4.1:8003]}\n"
		      "    edges:\n"
		      "      - {from: client, to: answer, guard: sys}\n"
		      "      - {from: client, to: plain}\n"
		      "      - {from: answer, to: client}\n"
		      "      - {from: plain, to: client}\n";

/*
 * The question @words (one fragment each, the last with END), sent one
 * fragment a burst or all in one burst: answer gets the prefix at seq 0
 * and the question shifted by one; plain gets the question unchanged.
 */
static void
prefix_run(uint64_t req, const char *const *words, unsigned int n,
	   bool one_burst, uint8_t ip_options)
{
	struct dp_frag f[8];
	unsigned int n_answer = 0, n_plain = 0;

	for (unsigned int j = 0; j < n; j++) {
		f[j] = dag_from_client(req, j, j == n - 1 ? SL_FRAG_F_END : 0);
		f[j].n_tokens = 1;
		f[j].tokens[0] = words[j];
		f[j].token_id0 = 500 + j;
		/* IPv4 options and Ethernet padding: the prefix is built
		 * from this frame's headers. */
		f[j].ip_options = ip_options;
		f[j].trailer = ip_options ? 7 : 0;
	}
	dag_clear();
	if (one_burst) {
		CU_ASSERT_EQUAL(dag_process(f, n), 2 * n + 1);
	} else {
		for (unsigned int j = 0; j < n; j++)
			CU_ASSERT_EQUAL(dag_process(&f[j], 1),
					j == 0 ? 3u : 2u);
	}
	for (unsigned int i = 0; i < dag.n_sent; i++) {
		const struct dag_sent *s = &dag.sent[i];
		struct sl_token t[4];
		unsigned int nt = dag_tokens(s, t, 4);

		CU_ASSERT_EQUAL(s->h.depth, 1);
		CU_ASSERT_EQUAL(s->h.ancestry[0], req);
		CU_ASSERT_EQUAL(s->h.abort_reason, 0);
		CU_ASSERT_EQUAL(s->h.from_stage, 0);
		CU_ASSERT_EQUAL(nt, 1);
		if (nt != 1)
			continue;
		if (s->dst_ip == ANSWER_IP) {
			CU_ASSERT_EQUAL(s->dst_port, ANSWER_PORT);
			CU_ASSERT_EQUAL(s->h.stage, 1);
			CU_ASSERT_EQUAL(s->h.seq, n_answer);
			if (n_answer == 0) {
				CU_ASSERT_EQUAL(s->h.flags, 0);
				CU_ASSERT_EQUAL(t[0].id, 0);
				CU_ASSERT_EQUAL(t[0].len, strlen(PREFIX));
				CU_ASSERT(t[0].len == strlen(PREFIX) &&
					  memcmp(t[0].text, PREFIX, t[0].len) ==
						  0);
				CU_ASSERT_EQUAL(s->dlen,
						SL_WIRE_HDR_LEN +
							SL_WIRE_TOKEN_HDR_LEN +
							strlen(PREFIX));
			} else {
				const char *w = words[n_answer - 1];

				CU_ASSERT_EQUAL(s->h.flags,
						n_answer == n ? SL_FRAG_F_END
							      : 0);
				CU_ASSERT_EQUAL(t[0].id, 500 + n_answer - 1);
				CU_ASSERT(t[0].len == strlen(w) &&
					  memcmp(t[0].text, w, t[0].len) == 0);
			}
			n_answer++;
		} else {
			const char *w = words[n_plain];

			CU_ASSERT_EQUAL(s->dst_ip, PLAIN_IP);
			CU_ASSERT_EQUAL(s->dst_port, PLAIN_PORT);
			CU_ASSERT_EQUAL(s->h.stage, 2);
			CU_ASSERT_EQUAL(s->h.seq, n_plain);
			CU_ASSERT_EQUAL(s->h.flags,
					n_plain == n - 1 ? SL_FRAG_F_END : 0);
			CU_ASSERT_EQUAL(t[0].id, 500 + n_plain);
			CU_ASSERT(t[0].len == strlen(w) &&
				  memcmp(t[0].text, w, t[0].len) == 0);
			n_plain++;
		}
	}
	CU_ASSERT_EQUAL(n_answer, n + 1);
	CU_ASSERT_EQUAL(n_plain, n);
}

static void
test_prefix(void)
{
	static const char *const one[] = {"What is the capital of France?"};
	static const char *const three[] = {"Who wrote ", "the book ",
					    "\xe2\x86\x92 caf\xc3\xa9?"};

	dp_test_begin();
	dag_open(prefix_yaml);
	CU_ASSERT_PTR_NULL(dag.cfg->guards[0].ref);
	CU_ASSERT_STRING_EQUAL(dag.cfg->guards[0].prefix, PREFIX);
	prefix_run(1, one, 1, false, 0);
	prefix_run(2, three, 3, false, 0);
	/* Every stream gets its own prefix. */
	prefix_run(3, three, 3, false, 0);
	prefix_run(4, three, 3, true, 0);
	prefix_run(5, one, 1, true, 0);
	prefix_run(6, three, 3, false, 3);
	prefix_run(7, one, 1, true, 10);
	CU_ASSERT_EQUAL(dag.dp->cnt.guard_blocks, 0);
	dag_expect_drops(-1);
	settle();
	dag_close();
	dp_test_end();
}

/* A client's one-fragment stream with END|CHILDREN: the prefix made from
 * its header is a plain fragment (no flags, child count 0), and the
 * stream itself goes on with its flags and count (found by
 * fuzz_dataplane: the prefix kept the count, a fragment receivers refuse
 * as BAD_FLAGS). */
static void
test_prefix_children(void)
{
	struct dp_frag f;
	unsigned int n_answer = 0;

	dp_test_begin();
	dag_open(prefix_yaml);
	f = dag_from_client(9, 0, SL_FRAG_F_END | SL_FRAG_F_CHILDREN);
	f.child_count = 3;
	dag_clear();
	CU_ASSERT_EQUAL(dag_process(&f, 1), 3);
	CU_ASSERT_EQUAL(dag.bad_frames, 0);
	for (unsigned int i = 0; i < dag.n_sent; i++) {
		const struct dag_sent *s = &dag.sent[i];

		if (s->dst_ip != ANSWER_IP)
			continue;
		CU_ASSERT_EQUAL(s->h.seq, n_answer);
		CU_ASSERT_EQUAL(
			s->h.flags,
			n_answer == 0 ? 0 : SL_FRAG_F_END | SL_FRAG_F_CHILDREN);
		CU_ASSERT_EQUAL(s->h.child_count, n_answer == 0 ? 0 : 3);
		n_answer++;
	}
	CU_ASSERT_EQUAL(n_answer, 2);
	dag_expect_drops(-1);
	settle();
	dag_close();
	dp_test_end();
}

/* A stream without the guard: the same question through an unguarded
 * config reaches the engine unchanged (no prefix, seq from 0). */
static void
test_prefix_unguarded(void)
{
	static const char *const words[] = {"Who wrote ", "it?"};
	struct dp_frag f[2];

	dp_test_begin();
	dag_open(DAG_YAML_HEAD
		 "pipelines:\n"
		 "  - name: p\n"
		 "    id: 1\n"
		 "    stages:\n"
		 "      - {name: answer, instances: [10.0.2.1:8001]}\n"
		 "    edges:\n"
		 "      - {from: client, to: answer}\n"
		 "      - {from: answer, to: client}\n");
	CU_ASSERT_PTR_NULL(dag.dp->guard_pool);
	for (unsigned int j = 0; j < 2; j++) {
		f[j] = dag_from_client(77, j, j ? SL_FRAG_F_END : 0);
		f[j].n_tokens = 1;
		f[j].tokens[0] = words[j];
	}
	CU_ASSERT_EQUAL_FATAL(dag_process(f, 2), 2);
	for (unsigned int j = 0; j < 2; j++) {
		struct sl_token t[2];

		CU_ASSERT_EQUAL(dag.sent[j].h.seq, j);
		CU_ASSERT_EQUAL(dag.sent[j].h.flags, j ? SL_FRAG_F_END : 0);
		CU_ASSERT_EQUAL(dag_tokens(&dag.sent[j], t, 2), 1);
		CU_ASSERT(t[0].len == strlen(words[j]) &&
			  memcmp(t[0].text, words[j], t[0].len) == 0);
	}
	settle();
	dag_close();
	dp_test_end();
}

/* Prefix and filter on one edge: the prefix goes first, the question's
 * fragments follow shifted, and a blocked question becomes an ABORT
 * (GUARD) after the prefix. */
static void
test_prefix_and_filter(void)
{
	struct dp_frag f[2];
	struct sl_token t[2];

	dp_test_begin();
	dag_open(DAG_YAML_HEAD
		 "guards:\n"
		 "  - name: g\n"
		 "    literals: [\"" NAME "\"]\n"
		 "    prefix: \"" PREFIX "\"\n"
		 "pipelines:\n"
		 "  - name: p\n"
		 "    id: 1\n"
		 "    stages:\n"
		 "      - {name: answer, instances: [10.0.2.1:8001]}\n"
		 "    edges:\n"
		 "      - {from: client, to: answer, guard: g}\n"
		 "      - {from: answer, to: client}\n");
	/* Clean. */
	f[0] = dag_from_client(1, 0, SL_FRAG_F_END);
	f[0].n_tokens = 1;
	f[0].tokens[0] = "Who is the author?";
	CU_ASSERT_EQUAL_FATAL(dag_process(f, 1), 2);
	CU_ASSERT_EQUAL(dag.sent[0].h.seq, 0);
	CU_ASSERT_EQUAL(dag.sent[0].h.flags, 0);
	CU_ASSERT_EQUAL(dag_tokens(&dag.sent[0], t, 2), 1);
	CU_ASSERT(t[0].len == strlen(PREFIX) &&
		  memcmp(t[0].text, PREFIX, t[0].len) == 0);
	CU_ASSERT_EQUAL(dag.sent[1].h.seq, 1);
	CU_ASSERT_EQUAL(dag.sent[1].h.flags, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_tokens(&dag.sent[1], t, 2), 1);
	CU_ASSERT(t[0].len == strlen("Who is the author?") &&
		  memcmp(t[0].text, "Who is the author?", t[0].len) == 0);
	dag_clear();
	/* Blocked on its first fragment; the END is dropped. */
	f[0] = dag_from_client(2, 0, 0);
	f[0].n_tokens = 1;
	f[0].tokens[0] = "Tell me about basil MAHFOUZ";
	f[1] = dag_from_client(2, 1, SL_FRAG_F_END);
	f[1].n_tokens = 1;
	f[1].tokens[0] = " please";
	CU_ASSERT_EQUAL_FATAL(dag_process(&f[0], 1), 2);
	CU_ASSERT_EQUAL(dag.sent[0].h.seq, 0);
	CU_ASSERT_EQUAL(dag_tokens(&dag.sent[0], t, 2), 1);
	CU_ASSERT(t[0].len == strlen(PREFIX) &&
		  memcmp(t[0].text, PREFIX, t[0].len) == 0);
	CU_ASSERT_EQUAL(dag.sent[1].h.seq, 1);
	CU_ASSERT_EQUAL(dag.sent[1].h.flags, SL_FRAG_F_ABORT);
	CU_ASSERT_EQUAL(dag.sent[1].h.abort_reason, SL_ABORT_GUARD);
	CU_ASSERT_EQUAL(dag.sent[1].h.token_count, 0);
	CU_ASSERT_EQUAL(dag_process(&f[1], 1), 0);
	CU_ASSERT_EQUAL(dag.dp->cnt.guard_blocks, 1);
	dag_expect_drops(SL_DROP_GUARD_BLOCKED, 1, -1);
	settle();
	dag_close();
	dp_test_end();
}

/* -------------------------------------------------------- bad configs */

static const char bad_head[] =
	"sluiced: {address: 10.0.0.1, port: 7700}\n" /* line 1 */
	"clients: [10.0.1.0/24]\n";                  /* line 2 */

static const char bad_pipeline[] =
	"pipelines:\n"
	"  - name: p\n"
	"    id: 1\n"
	"    stages:\n"
	"      - {name: answer, instances: [10.0.2.1:8001]}\n"
	"    edges:\n"
	"      - {from: client, to: answer}\n"
	"      - {from: answer, to: client, guard: %s}\n";

static void
expect_bad(const char *guards, const char *edge_guard, const char *want)
{
	char yaml[2048], err[512] = "";
	struct sl_config *cfg;
	int n;

	n = snprintf(yaml, sizeof(yaml), "%s%s", bad_head, guards);
	snprintf(yaml + n, sizeof(yaml) - (size_t)n, bad_pipeline, edge_guard);
	cfg = sl_config_parse(yaml, strlen(yaml), "guard.yaml", err,
			      sizeof(err));
	CU_ASSERT_PTR_NULL(cfg);
	if (cfg != NULL) {
		sl_config_free(cfg);
		return;
	}
	if (strcmp(err, want) != 0)
		printf("\n  got  \"%s\"\n  want \"%s\"", err, want);
	CU_ASSERT_STRING_EQUAL(err, want);
}

static void
test_bad_configs(void)
{
	dp_test_begin();
	/* Unknown guard on an edge (guards end at line 6). */
	expect_bad("guards:\n"                       /* 3 */
		   "  - name: authors\n"             /* 4 */
		   "    literals: [\"" NAME "\"]\n", /* 5 */
		   "nope",
		   "guard.yaml:13: pipelines[0].edges[1].guard: no guard "
		   "named \"nope\"");
	/* A guard on an edge with no guards at all. */
	expect_bad("", "authors",
		   "guard.yaml:10: pipelines[0].edges[1].guard: no guard "
		   "named \"authors\"");
	/* A regex that does not compile. */
	expect_bad("guards:\n"
		   "  - name: re\n"
		   "    regex: [\"ab(c\"]\n",
		   "re",
		   "guard.yaml:5: guards[0]: rule 1: /ab(c/: Missing "
		   "close parenthesis for group started at index 2.");
	/* An unbounded regex for block. */
	expect_bad("guards:\n"
		   "  - name: re\n"
		   "    action: block\n"
		   "    regex: [\"fine\", \"basil.*mahfouz\"]\n",
		   "re",
		   "guard.yaml:6: guards[0]: rule 2: /basil.*mahfouz/: "
		   "unbounded match width; sluice holds back at most "
		   "max_width - 1 bytes");
	/* Literals first, then the bad regex: the rule is numbered in the
	 * guard (literals first), the line is the regex list's, where the
	 * rejected rule is. */
	expect_bad("guards:\n"
		   "  - name: re\n"
		   "    action: redact\n"
		   "    literals: [\"" NAME "\"]\n"
		   "    regex: [\"x+\"]\n",
		   "re",
		   "guard.yaml:7: guards[0]: rule 2: /x+/: unbounded "
		   "match width; sluice holds back at most max_width - 1 "
		   "bytes");
	/* Neither rules nor prefix. */
	expect_bad("guards:\n"
		   "  - name: empty\n"
		   "    refusal: \"no\"\n",
		   "empty",
		   "guard.yaml:4: guards[0]: a guard needs rules (literals, "
		   "literals_file, regex) or a prefix");
	/* An unbounded regex is fine for log: it holds nothing. */
	{
		char yaml[2048], err[512] = "";
		struct sl_config *cfg;
		int n;

		n = snprintf(yaml, sizeof(yaml),
			     "%sguards:\n  - name: re\n    action: log\n"
			     "    regex: [\"basil.*mahfouz\"]\n",
			     bad_head);
		snprintf(yaml + n, sizeof(yaml) - (size_t)n, bad_pipeline,
			 "re");
		cfg = sl_config_parse(yaml, strlen(yaml), "guard.yaml", err,
				      sizeof(err));
		if (cfg == NULL)
			printf("\n  log + unbounded regex refused: %s", err);
		CU_ASSERT_PTR_NOT_NULL(cfg);
		sl_config_free(cfg);
	}
	dp_test_end();
}

static const struct dp_test_case cases[] = {
	DP_SUITE("guard_edge"),
	DP_CASE("output block: every cut, obfuscated names", test_output_block),
	DP_CASE("output redact: mask in place, rest byte-exact",
		test_output_redact),
	DP_CASE("output redact: clean text unchanged",
		test_output_redact_clean),
	DP_CASE("output log: byte-exact, nothing blocked", test_output_log),
	DP_CASE("output block: clean text byte-exact at END",
		test_output_clean),
	DP_CASE("output block: clean text in full fragments",
		test_output_full_fragment),
	DP_CASE("output block: producer ABORT while a name is held",
		test_output_producer_abort),
	DP_CASE("output redact: mask as long as the name, id 0",
		test_redact_mask_same_length),
	DP_CASE("output redact: token ids of masked and held text",
		test_redact_token_ids),
	DP_CASE("output redact: more tokens held than remembered",
		test_token_ring_bound),
	DP_CASE("input block: engine gets ABORT (GUARD) only",
		test_input_block),
	DP_CASE("input block: clean question byte-exact", test_input_clean),
	DP_CASE("prefix: seq 0 prefix, question shifted", test_prefix),
	DP_CASE("END|CHILDREN: blocked and spilled fragments",
		test_children_flags),
	DP_CASE("prefix: a plain fragment before END|CHILDREN",
		test_prefix_children),
	DP_CASE("prefix: unguarded stream unchanged", test_prefix_unguarded),
	DP_CASE("prefix and filter on one edge", test_prefix_and_filter),
	DP_CASE("bad configs: exact messages", test_bad_configs),
	DP_END,
};

int
main(int argc, char **argv)
{
	(void)argc;
	lit_norm_len = sl_guard_normalize(NAME, strlen(NAME), lit_norm, NULL);
	return dp_test_main(argv[0], cases, dag_port_init, dag_port_fini);
}
