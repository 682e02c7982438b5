/* SPDX-License-Identifier: MIT */
/*
 * test_replay.c - sluice-engine --role replay.
 *
 * The content side first, function by function (engine/model.c is
 * compiled in): the JSON string decoder, the replay file loader and its
 * errors, and the chunker: every cut on a UTF-8 character boundary, the
 * pieces concatenating to the text, sizes in --chunk-min..--chunk-max,
 * 1..4 tokens a fragment, the same cuts for the same key and different
 * cuts for different keys.
 *
 * Then the real binary over 127.0.0.1 with the TOFU data
 * (tools/data/tofu/llama2-7b-full.retain.jsonl, multi-byte characters
 * included): under several --seed values every answer is exactly the
 * recorded `generated` bytes, each token whole UTF-8 characters, END on
 * the last fragment; different seeds cut differently, the same seed the
 * same; a question not in the file (or not byte-exact) is answered ABORT
 * ENGINE and counted; bad options are refused.
 *
 * The binary comes from $SL_ENGINE (set by meson); those tests are
 * skipped without it.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "model.h"
#include "sluice.h"
#include "tt_peer.h"
#include "tt_proc.h"

#ifndef SL_SOURCE_DIR
#define SL_SOURCE_DIR "."
#endif
#define TOFU_RETAIN SL_SOURCE_DIR "/tools/data/tofu/llama2-7b-full.retain.jsonl"

#define PIPELINE 4
#define TENANT 2
#define STAGE 1
#define N_ASK 40 /* questions asked per engine run */
#define MAX_CUTS 1024

static const char *engine_bin;
static char tmpdir[64] = "/tmp/sl_test_replay.XXXXXX";
static char stats_path[128];
static pid_t engine_pid = -1;
static struct sl_sock *client;
static struct tt_ctl_log ctl; /* control fragments from the engine */

/* ---- helpers ---- */

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CU_ASSERT_FATAL(f != NULL);
	fputs(text, f);
	fclose(f);
}

/* Bytes of the UTF-8 character whose lead byte is @c (0: not a lead). */
static unsigned int
utf8_char_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0)
		return 2;
	if ((c & 0xf0) == 0xe0)
		return 3;
	if ((c & 0xf8) == 0xf0)
		return 4;
	return 0;
}

/* True if @len bytes at @s are exactly one UTF-8 character. */
static bool
one_char(const char *s, size_t len)
{
	return len > 0 && utf8_char_len((unsigned char)s[0]) == len &&
	       sl_utf8_valid((const uint8_t *)s, len);
}

/*
 * Cut @text fully with @key and bounds; check every invariant; record
 * the piece ends in @cuts (NULL: not needed). Return the piece count.
 */
static unsigned int
chunk_all(const char *text, size_t len, uint64_t key, unsigned int min,
	  unsigned int max, size_t *cuts)
{
	struct sl_model_chunker c;
	size_t off[SL_MODEL_REPLAY_FRAG_TOKENS],
		plen[SL_MODEL_REPLAY_FRAG_TOKENS];
	size_t pos = 0;
	unsigned int n, i, pieces = 0;

	sl_model_chunker_init(&c, text, len, key, min, max);
	while ((n = sl_model_chunker_frag(&c, off, plen)) > 0) {
		CU_ASSERT(n <= SL_MODEL_REPLAY_FRAG_TOKENS);
		for (i = 0; i < n; i++) {
			CU_ASSERT_EQUAL(off[i], pos);
			CU_ASSERT(plen[i] > 0);
			/* whole characters only */
			CU_ASSERT(sl_utf8_valid((const uint8_t *)text + off[i],
						plen[i]));
			/* over max only for one character longer than max */
			CU_ASSERT(plen[i] <= max ||
				  one_char(text + off[i], plen[i]));
			pos += plen[i];
			if (cuts != NULL && pieces < MAX_CUTS)
				cuts[pieces] = pos;
			pieces++;
		}
	}
	CU_ASSERT_EQUAL(pos, len);
	CU_ASSERT_EQUAL(sl_model_chunker_frag(&c, off, plen), 0);
	return pieces;
}

static const char mixed[] =
	"Café née naïve — “Tōkyō” 東京タワー 🎉🎉 e\xcc\x81 "
	"Hsiao Yun-Hwa’s father is a civil engineer. ünïcödé ✓ 𝄞 end.";

/* ---- unit: chunker ---- */

static void
test_chunker_boundaries(void)
{
	static const unsigned int bounds[][2] = {
		{1, 12}, {1, 1}, {1, 2}, {2, 3}, {3, 5}, {12, 12}, {4, 64}};
	static const char emoji[] = "🎉🎉🎉𝄞𝄞ab🎉";
	const char *texts[] = {mixed, emoji, "a", "ab cd ef gh ij kl mn op"};
	unsigned int t, b;
	uint64_t k;

	for (t = 0; t < sizeof(texts) / sizeof(texts[0]); t++)
		for (b = 0; b < sizeof(bounds) / sizeof(bounds[0]); b++)
			for (k = 0; k < 50; k++)
				chunk_all(texts[t], strlen(texts[t]),
					  sl_model_key(texts[t],
						       strlen(texts[t]), k),
					  bounds[b][0], bounds[b][1], NULL);
	/* Nothing to cut: no fragment at all. */
	CU_ASSERT_EQUAL(chunk_all("", 0, 1, 1, 12, NULL), 0);
	/* One-byte tokens of a 4-byte-character text: each one whole. */
	CU_ASSERT_EQUAL(chunk_all("🎉𝄞", 8, 3, 1, 1, NULL), 2);
}

static void
test_chunker_seeds(void)
{
	static size_t a[MAX_CUTS], b[MAX_CUTS], c[MAX_CUTS];
	size_t len = strlen(mixed);
	unsigned int na, nb, nc, s, differ = 0;

	/* Same key: the same cuts. */
	na = chunk_all(mixed, len, sl_model_key("q", 1, 7), 1, 12, a);
	nb = chunk_all(mixed, len, sl_model_key("q", 1, 7), 1, 12, b);
	CU_ASSERT_EQUAL(na, nb);
	CU_ASSERT(memcmp(a, b, na * sizeof(a[0])) == 0);
	/* Other seeds: other cuts (all of 20 differ from seed 7). */
	for (s = 0; s < 20; s++) {
		if (s == 7)
			continue;
		nc = chunk_all(mixed, len, sl_model_key("q", 1, s), 1, 12, c);
		if (nc != na || memcmp(a, c, na * sizeof(a[0])) != 0)
			differ++;
	}
	CU_ASSERT_EQUAL(differ, 19);
}

/* Sizes on ASCII text: within bounds, both ends reached, mean ~4. */
static void
test_chunker_sizes(void)
{
	static char text[20000];
	struct sl_model_chunker c;
	size_t off[4], len[4], total = 0, count = 0, i;
	unsigned int hist[13] = {0}, n, j, frag_hist[5] = {0};
	double mean;

	for (i = 0; i + 1 < sizeof(text); i++)
		text[i] = (char)('a' + i % 26);
	sl_model_chunker_init(&c, text, strlen(text), 42, 1, 12);
	while ((n = sl_model_chunker_frag(&c, off, len)) > 0) {
		frag_hist[n]++;
		for (j = 0; j < n; j++) {
			CU_ASSERT(len[j] >= 1 && len[j] <= 12);
			if (c.pos < c.len || j + 1 < n)
				hist[len[j]]++;
			total += len[j];
			count++;
		}
	}
	mean = (double)total / (double)count;
	CU_ASSERT(mean > 3.5 && mean < 5.0);
	CU_ASSERT(hist[1] > 0);
	CU_ASSERT(hist[12] > 0);
	/* 1..4 tokens a fragment, each count drawn (the last may be cut). */
	for (j = 1; j <= 4; j++)
		CU_ASSERT(frag_hist[j] > 100);
	/* min == max: every piece that size. */
	sl_model_chunker_init(&c, text, 999, 5, 3, 3);
	while ((n = sl_model_chunker_frag(&c, off, len)) > 0)
		for (j = 0; j < n; j++)
			CU_ASSERT_EQUAL(len[j], 3);
}

/* ---- unit: JSON and the replay file ---- */

/* What a record's string comes out as (sl_jsonl_record on jansson):
 * escapes, surrogate pairs and raw UTF-8 decoded; the malformed refused. */
static void
test_json_string(void)
{
	static const struct {
		const char *in;
		const char *want; /* NULL: refused */
	} cases[] = {
		{"\"plain\"", "plain"},
		{"\"a\\\"b\\\\c\\/d\\n\\t\\r\\b\\f\"", "a\"b\\c/d\n\t\r\b\f"},
		{"\"caf\\u00e9 \\u6771\"", "café 東"},
		{"\"\\ud83c\\udf89!\"", "🎉!"},
		{"\"raw 東京 ok\"", "raw 東京 ok"},
		{"\"\\udf89\"", NULL},   /* lone low surrogate */
		{"\"\\ud83c x\"", NULL}, /* high surrogate alone */
		{"\"bad \\q\"", NULL},
		{"\"tab\there\"", NULL}, /* raw control character */
		{"\"open", NULL},
		{"\"\\u12\"", NULL},
		{"\"nul \\u0000\"", NULL}, /* no NUL inside a text */
		{"\"\xff\"", NULL},        /* not UTF-8 */
	};
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sl_jsonl_field f = {
			"question", SL_JSONL_STRING, true, 0, NULL, 0};
		char line[128], why[256];
		int rc;

		snprintf(line, sizeof(line), "{\"question\": %s}\n",
			 cases[i].in);
		rc = sl_jsonl_record(line, strlen(line), &f, 1, why,
				     sizeof(why));
		if (cases[i].want == NULL) {
			CU_ASSERT_EQUAL(rc, -1);
			CU_ASSERT(strncmp(why, "not JSON: ", 10) == 0);
			CU_ASSERT_PTR_NULL(f.val);
			continue;
		}
		CU_ASSERT_EQUAL_FATAL(rc, 0);
		CU_ASSERT_EQUAL(f.len, strlen(cases[i].want));
		CU_ASSERT_STRING_EQUAL(f.val, cases[i].want);
		sl_jsonl_clear(&f, 1);
	}
	{
		/* A field's length limit, and a blank line. */
		struct sl_jsonl_field f = {
			"question", SL_JSONL_STRING, true, 4, NULL, 0};
		char why[256];
		const char *ok = "{\"question\": \"abcd\"}";
		const char *big = "{\"question\": \"abcde\"}";

		CU_ASSERT_EQUAL(sl_jsonl_record(ok, strlen(ok), &f, 1, why,
						sizeof(why)),
				0);
		CU_ASSERT_EQUAL(f.len, 4);
		sl_jsonl_clear(&f, 1);
		CU_ASSERT_EQUAL(sl_jsonl_record(big, strlen(big), &f, 1, why,
						sizeof(why)),
				-1);
		CU_ASSERT_STRING_EQUAL(why,
				       "\"question\" is longer than 4 bytes");
		CU_ASSERT_PTR_NULL(f.val);
		CU_ASSERT_EQUAL(
			sl_jsonl_record(" \t\r\n", 4, &f, 1, why, sizeof(why)),
			1);
	}
}

static void
test_replay_load(void)
{
	char path[160], err[512];
	struct sl_model_replay *r;
	const struct sl_model_replay_entry *e;

	snprintf(path, sizeof(path), "%s/r.jsonl", tmpdir);
	write_file(path, "{\"id\": 0, \"question\": \"Who?\", \"generated\": "
			 "\"Him.\", \"truth\": \"He.\"}\n"
			 "\n"
			 "  {\"generated\": \"caf\\u00e9 \\ud83c\\udf89\", "
			 "\"extra\": {\"a\": [1, 2, {\"b\": \"}\"}]}, "
			 "\"question\": \"What?\", \"id\": \"q-1\"}\n"
			 "{\"question\": \"Empty?\", \"generated\": \"\"}\n");
	r = sl_model_replay_load(path, err, sizeof(err));
	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT_EQUAL(r->n, 3);
	e = sl_model_replay_find(r, "Who?", 4);
	CU_ASSERT_FATAL(e != NULL);
	CU_ASSERT_STRING_EQUAL(e->generated, "Him.");
	CU_ASSERT_STRING_EQUAL(e->id, "0");
	e = sl_model_replay_find(r, "What?", 5);
	CU_ASSERT_FATAL(e != NULL);
	CU_ASSERT_STRING_EQUAL(e->generated, "café 🎉");
	CU_ASSERT_EQUAL(e->generated_len, strlen("café 🎉"));
	CU_ASSERT_STRING_EQUAL(e->id, "q-1");
	e = sl_model_replay_find(r, "Empty?", 6);
	CU_ASSERT_FATAL(e != NULL);
	CU_ASSERT_EQUAL(e->generated_len, 0);
	CU_ASSERT_STRING_EQUAL(e->id, "");
	/* Exact match only. */
	CU_ASSERT_PTR_NULL(sl_model_replay_find(r, "Who? ", 5));
	CU_ASSERT_PTR_NULL(sl_model_replay_find(r, "who?", 4));
	CU_ASSERT_PTR_NULL(sl_model_replay_find(r, "Who", 3));
	CU_ASSERT_PTR_NULL(sl_model_replay_find(r, "", 0));
	sl_model_replay_free(r);

	/* Refusals name the file and line. */
	{
		static const struct {
			const char *text;
			const char *want;
		} bad[] = {
			{"{\"question\": \"a\"}\n", ":1: no \"generated\""},
			{"\n{\"generated\": \"a\"}\n", ":2: no \"question\""},
			{"{\"question\": 3, \"generated\": \"a\"}\n",
			 ":1: \"question\" is not a string"},
			{"[1]\n", ":1: not a JSON object"},
			{"{\"question\": \"a\", \"generated\": \"b\"} x\n",
			 ":1: not JSON: end of file expected near 'x' (column "
			 "37)"},
			{"{\"question\": \"a\" \"generated\": \"b\"}\n",
			 ":1: not JSON: '}' expected near '\"generated\"'"},
			{"{\"question\": \"\\udc00\", \"generated\": \"b\"}\n",
			 ":1: not JSON: invalid Unicode '\\uDC00'"},
			{"{\"question\": \"\xff\", \"generated\": \"b\"}\n",
			 ":1: not JSON: unable to decode byte 0xff"},
			{"{\"question\": \"a\", \"question\": \"b\", "
			 "\"generated\": \"b\"}\n",
			 ":1: not JSON: duplicate object key"},
			{"{\"question\": \"a\", \"generated\": \"b\", "
			 "\"id\": 1.5}\n",
			 ":1: \"id\" is not a string or an integer"},
			{"{\"question\": \"a\", \"generated\": \"b\"}\n"
			 "{\"question\": \"a\", \"generated\": \"c\"}\n",
			 "record 2 (id ) repeats the question of record 1"},
			{"\n\n", ": no records"},
		};
		unsigned int i;

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			write_file(path, bad[i].text);
			err[0] = '\0';
			r = sl_model_replay_load(path, err, sizeof(err));
			CU_ASSERT_PTR_NULL(r);
			sl_model_replay_free(r);
			CU_ASSERT(strncmp(err, path, strlen(path)) == 0);
			CU_ASSERT_PTR_NOT_NULL(strstr(err, bad[i].want));
			if (strstr(err, bad[i].want) == NULL)
				fprintf(stderr, "case %u: %s\n", i, err);
		}
	}
	unlink(path);
	CU_ASSERT_PTR_NULL(sl_model_replay_load(path, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "No such file"));
}

/* ---- the binary ---- */

/* Run the engine with NULL-ended extra arguments; wait for its stats
 * file (started) or its exit. Return 0 when running, else its status. */
static int
start_engine(const char *first, ...)
{
	char listen[32];
	char *argv[40];
	unsigned int n = 0;
	struct sockaddr_in addr;
	va_list ap;

	snprintf(listen, sizeof(listen), "127.0.0.1:%u", tt_free_port());
	unlink(stats_path);
	argv[n++] = (char *)engine_bin;
	argv[n++] = "--listen";
	argv[n++] = listen;
	argv[n++] = "--time-scale";
	argv[n++] = "0.001";
	argv[n++] = "--stats-file";
	argv[n++] = stats_path;
	argv[n++] = "--quiet";
	va_start(ap, first);
	for (const char *a = first; a != NULL && n < 39;
	     a = va_arg(ap, const char *))
		argv[n++] = (char *)a;
	va_end(ap);
	argv[n] = NULL;
	engine_pid = tt_spawn(argv, NULL, "/dev/null");
	if (engine_pid < 0)
		return -1;
	sl_endpoint_parse(listen, false, &addr);
	sl_sock_set_peer(client, &addr);
	return tt_wait_file(stats_path, 500, &engine_pid);
}

/* Send @q as request @req: 3 tokens a fragment, END on the last. */
static void
ask(uint64_t req, const char *q, size_t len)
{
	struct sl_stream_tx tx;
	uint8_t buf[SL_DGRAM_MAX];
	struct sl_dgram d;
	size_t pos = 0;
	int rc;

	sl_stream_tx_init(&tx, PIPELINE, STAGE, TENANT, 1, &req);
	do {
		unsigned int k = 0;

		sl_stream_tx_begin(&tx, buf, sizeof(buf));
		while (pos < len && k < 3) {
			size_t n = sl_tokenize_next(q + pos, len - pos);

			CU_ASSERT_FATAL(
				sl_stream_tx_add(&tx, sl_token_hash(q + pos, n),
						 q + pos, n) == 0);
			pos += n;
			k++;
		}
		d.buf = buf;
		d.cap = sizeof(buf);
		d.len = (uint16_t)sl_stream_tx_finish(
			&tx, pos >= len ? SL_FRAG_F_END : 0, 0, 0);
		memset(&d.addr, 0, sizeof(d.addr));
		do {
			rc = sl_sock_send_burst(client, &d, 1);
		} while (rc == 0);
		CU_ASSERT_EQUAL(rc, 1);
	} while (pos < len);
}

/* One answer as received. */
struct answer {
	char text[4096];
	size_t len;
	size_t cuts[MAX_CUTS]; /* token ends */
	unsigned int n_cuts;
	uint32_t next_seq;
	bool seq_ok;  /* fragments arrived in seq order */
	bool tok_ok;  /* every token whole characters, size in bounds */
	bool frag_ok; /* 1..4 tokens a fragment, END only on the last */
	bool ended;
	bool aborted;
	uint8_t reason;
};

static struct answer answers[N_ASK];

/* Receive until @n answers ended or @ms passed; tokens of at most @max
 * bytes (longer only for one character). Return answers finished. */
static unsigned int
collect(unsigned int n, int ms, unsigned int max)
{
	static struct sl_burst rx;
	uint64_t deadline = sl_now_ns() + (uint64_t)ms * 1000000ull;
	unsigned int done = 0, i;

	memset(answers, 0, sizeof(answers));
	for (i = 0; i < N_ASK; i++) {
		answers[i].seq_ok = answers[i].tok_ok = true;
		answers[i].frag_ok = true;
	}
	sl_burst_reset(&rx);
	while (done < n && sl_now_ns() < deadline) {
		struct pollfd p = {.fd = client->fd, .events = POLLIN};
		int k, j;

		k = sl_sock_recv_burst(client, rx.d, SL_BURST_MAX);
		CU_ASSERT(k >= 0);
		for (j = 0; j < k; j++) {
			struct sl_frag_view v;
			struct sl_token_iter it;
			struct sl_token tok;
			struct answer *a;
			unsigned int ntok = 0;

			CU_ASSERT_EQUAL_FATAL(sl_frag_view_parse(&v, &rx.d[j]),
					      SL_WIRE_OK);
			/* The engine's ACKs of our questions. */
			if (tt_ctl_take(&ctl, &v))
				continue;
			CU_ASSERT_EQUAL(v.hdr.pipeline, PIPELINE);
			CU_ASSERT_EQUAL(v.hdr.depth, 1);
			CU_ASSERT_FATAL(v.hdr.ancestry[0] < N_ASK);
			a = &answers[v.hdr.ancestry[0]];
			/* A receiver ACKs every END and ABORT; one sent
			 * again (our ACK was late) is not a new fragment. */
			if (v.hdr.flags & (SL_FRAG_F_END | SL_FRAG_F_ABORT)) {
				tt_ack(client, &v);
				if ((a->ended || a->aborted) &&
				    v.hdr.seq + 1 == a->next_seq)
					continue;
			}
			if (v.hdr.seq != a->next_seq)
				a->seq_ok = false;
			a->next_seq = v.hdr.seq + 1;
			CU_ASSERT(!a->ended && !a->aborted);
			sl_frag_view_tokens(&v, &it);
			while (sl_token_next(&it, &tok)) {
				if (!sl_utf8_valid((const uint8_t *)tok.text,
						   tok.len) ||
				    (tok.len > max &&
				     !one_char(tok.text, tok.len)) ||
				    tok.len == 0)
					a->tok_ok = false;
				CU_ASSERT_FATAL(a->len + tok.len <=
						sizeof(a->text));
				memcpy(a->text + a->len, tok.text, tok.len);
				a->len += tok.len;
				if (a->n_cuts < MAX_CUTS)
					a->cuts[a->n_cuts++] = a->len;
				ntok++;
			}
			if (v.hdr.flags & SL_FRAG_F_ABORT) {
				a->aborted = true;
				a->reason = v.hdr.abort_reason;
				done++;
				continue;
			}
			/* Empty only for an empty answer (END alone). */
			if (ntok > SL_MODEL_REPLAY_FRAG_TOKENS ||
			    (ntok == 0 && !(v.hdr.flags & SL_FRAG_F_END)))
				a->frag_ok = false;
			if (v.hdr.flags & SL_FRAG_F_END) {
				a->ended = true;
				done++;
			}
		}
		if (k == 0)
			poll(&p, 1, 20);
	}
	return done;
}

static struct sl_model_replay *tofu;
static void pick_questions(void);

/* The TOFU records, loaded once, and the questions to ask. */
static void
ensure_tofu(void)
{
	char err[256];

	if (tofu != NULL)
		return;
	tofu = sl_model_replay_load(TOFU_RETAIN, err, sizeof(err));
	if (tofu == NULL)
		fprintf(stderr, "%s\n", err);
	CU_ASSERT_FATAL(tofu != NULL);
	pick_questions();
}

/* The questions asked: the first N_ASK records, those whose answers hold
 * multi-byte characters first. */
static const struct sl_model_replay_entry *asked[N_ASK];

static void
pick_questions(void)
{
	size_t i;
	unsigned int n = 0, pass;

	for (pass = 0; pass < 2 && n < N_ASK; pass++)
		for (i = 0; i < tofu->n && n < N_ASK; i++) {
			const struct sl_model_replay_entry *e = &tofu->e[i];
			bool multi = false;
			size_t k;

			for (k = 0; k < e->generated_len; k++)
				multi |= (unsigned char)e->generated[k] >= 0x80;
			if (multi == (pass == 0))
				asked[n++] = e;
		}
}

/* Ask every picked question under @seed; check the answers; keep the
 * cuts of each in @cuts[i] (token ends, 0-terminated). */
static void
run_seed(const char *seed, const char *min, const char *max,
	 size_t (*cuts)[MAX_CUTS + 1])
{
	unsigned int i, multi = 0;

	CU_ASSERT_EQUAL_FATAL(start_engine("--role", "replay", "--data",
					   TOFU_RETAIN, "--seed", seed,
					   "--chunk-min", min, "--chunk-max",
					   max, "--max-batch", "64", NULL),
			      0);
	for (i = 0; i < N_ASK; i++)
		ask(i, asked[i]->question, asked[i]->question_len);
	memset(&ctl, 0, sizeof(ctl));
	CU_ASSERT_EQUAL(collect(N_ASK, 10000, (unsigned int)atoi(max)), N_ASK);
	/* Every question's END was ACKed, none NACKed. */
	for (i = 0; i < N_ASK; i++)
		CU_ASSERT_EQUAL(
			tt_ctl_count(&ctl, SL_FRAG_F_ACK, i, UINT32_MAX), 1);
	CU_ASSERT_EQUAL(ctl.n, N_ASK);
	for (i = 0; i < N_ASK; i++) {
		struct answer *a = &answers[i];

		CU_ASSERT(a->ended && !a->aborted);
		CU_ASSERT(a->seq_ok);
		CU_ASSERT(a->tok_ok);
		CU_ASSERT(a->frag_ok);
		/* exactly the recorded bytes */
		CU_ASSERT_EQUAL(a->len, asked[i]->generated_len);
		CU_ASSERT(a->len == asked[i]->generated_len &&
			  memcmp(a->text, asked[i]->generated, a->len) == 0);
		for (size_t k = 0; k < a->len; k++)
			if ((unsigned char)a->text[k] >= 0x80) {
				multi++;
				break;
			}
		if (cuts != NULL) {
			memcpy(cuts[i], a->cuts, a->n_cuts * sizeof(size_t));
			cuts[i][a->n_cuts] = 0;
		}
	}
	/* The data did hold multi-byte characters. */
	CU_ASSERT(multi >= 20);
	CU_ASSERT_EQUAL(tt_stop(&engine_pid), 0);
}

static size_t cuts_a[N_ASK][MAX_CUTS + 1], cuts_b[N_ASK][MAX_CUTS + 1];
static size_t cuts_c[N_ASK][MAX_CUTS + 1];

static void
test_engine_bytes_and_seeds(void)
{
	unsigned int i, differ = 0;

	if (engine_bin == NULL)
		return;
	ensure_tofu();
	run_seed("1", "1", "12", cuts_a);
	run_seed("2", "1", "12", cuts_b);
	run_seed("1", "1", "12", cuts_c);
	for (i = 0; i < N_ASK; i++) {
		/* Same seed: the same cuts, byte for byte. */
		CU_ASSERT(memcmp(cuts_a[i], cuts_c[i], sizeof(cuts_a[i])) == 0);
		if (memcmp(cuts_a[i], cuts_b[i], sizeof(cuts_a[i])) != 0)
			differ++;
	}
	/* Other seed: other cuts (short answers may agree by chance). */
	CU_ASSERT(differ >= N_ASK - 2);
	run_seed("99", "1", "1", NULL);
	run_seed("3", "2", "5", NULL);
	run_seed("4", "64", "64", NULL);
}

static void
test_engine_unknown(void)
{
	char json[2048];
	FILE *f;
	size_t n;
	const char *q;

	if (engine_bin == NULL)
		return;
	ensure_tofu();
	CU_ASSERT_EQUAL_FATAL(
		start_engine("--role", "replay", "--data", TOFU_RETAIN, NULL),
		0);
	q = "Who wrote nothing at all?";
	ask(0, q, strlen(q));
	/* A known question but one byte more: not byte-exact. */
	q = asked[0]->question;
	{
		char more[1024];

		snprintf(more, sizeof(more), "%s ", q);
		ask(1, more, strlen(more));
	}
	ask(2, asked[0]->question, asked[0]->question_len);
	CU_ASSERT_EQUAL(collect(3, 5000, 12), 3);
	CU_ASSERT(answers[0].aborted);
	CU_ASSERT_EQUAL(answers[0].reason, SL_ABORT_ENGINE);
	CU_ASSERT_EQUAL(answers[0].len, 0);
	CU_ASSERT(answers[1].aborted);
	CU_ASSERT_EQUAL(answers[1].reason, SL_ABORT_ENGINE);
	CU_ASSERT(answers[2].ended);
	CU_ASSERT_EQUAL(tt_stop(&engine_pid), 0);
	f = fopen(stats_path, "r");
	CU_ASSERT_FATAL(f != NULL);
	n = fread(json, 1, sizeof(json) - 1, f);
	json[n] = '\0';
	fclose(f);
	CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"role\": \"replay\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"replay_records\": 300"));
	CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"replay_unknown\": 2"));
	CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"requests_served\": 1,"));
}

static void
test_engine_options(void)
{
	char path[160];

	if (engine_bin == NULL)
		return;
	CU_ASSERT_EQUAL(start_engine("--role", "replay", NULL), 2);
	CU_ASSERT_EQUAL(
		start_engine("--role", "answer", "--data", TOFU_RETAIN, NULL),
		2);
	CU_ASSERT_EQUAL(start_engine("--role", "replay", "--data", TOFU_RETAIN,
				     "--chunk-min", "5", "--chunk-max", "4",
				     NULL),
			2);
	CU_ASSERT_EQUAL(start_engine("--role", "replay", "--data", TOFU_RETAIN,
				     "--chunk-max", "257", NULL),
			2);
	CU_ASSERT_EQUAL(start_engine("--role", "replay", "--data", TOFU_RETAIN,
				     "--chunk-min", "0", NULL),
			2);
	snprintf(path, sizeof(path), "%s/missing.jsonl", tmpdir);
	CU_ASSERT_EQUAL(start_engine("--role", "replay", "--data", path, NULL),
			1);
}

int
main(void)
{
	struct sockaddr_in local;
	CU_pSuite s;
	unsigned int fails;

	engine_bin = getenv("SL_ENGINE");
	if (engine_bin == NULL)
		fprintf(stderr, "SL_ENGINE not set: binary tests skipped\n");
	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	snprintf(stats_path, sizeof(stats_path), "%s/engine.json", tmpdir);
	sl_endpoint_parse("127.0.0.1:0", false, &local);
	client = sl_sock_open(&local);
	if (client == NULL)
		return 1;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("replay", NULL, NULL);
	CU_add_test(s, "chunker: whole characters, all bytes",
		    test_chunker_boundaries);
	CU_add_test(s, "chunker: same seed same cuts, other seeds differ",
		    test_chunker_seeds);
	CU_add_test(s, "chunker: sizes and tokens per fragment",
		    test_chunker_sizes);
	CU_add_test(s, "JSON strings", test_json_string);
	CU_add_test(s, "replay file: load, exact lookup, refusals",
		    test_replay_load);
	CU_add_test(s, "engine: recorded bytes under several seeds",
		    test_engine_bytes_and_seeds);
	CU_add_test(s, "engine: unknown question -> ABORT ENGINE",
		    test_engine_unknown);
	CU_add_test(s, "engine: option checks", test_engine_options);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();

	tt_stop(&engine_pid);
	sl_model_replay_free(tofu);
	sl_sock_close(client);
	unlink(stats_path);
	rmdir(tmpdir);
	return fails ? 1 : 0;
}
