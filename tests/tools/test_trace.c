/* SPDX-License-Identifier: MIT */
/*
 * test_trace.c - sluicegen --trace FILE, the replay of the Azure LLM
 * inference traces (tools/data/azure-llm-trace/).
 *
 * Function by function (sluicegen's parts, tools/gen/gen.h, linked in):
 * the loader on a good file (BOM, CRLF, zones, a blank line, no final
 * newline) and on both shipped traces (row counts, sums, the last row's
 * time to the nanosecond); every refusal with its exact "FILE:LINE:
 * FIELD: what" text, the row limit included; the plan (which rows a run
 * replays and when: the speed-up arithmetic, --trace-start, --duration,
 * --requests); the prompt builder (the directive's tokens, then exactly
 * ContextTokens corpus tokens, across bursts). Then the binary against
 * sluice-engine --role answer on 127.0.0.1: every answer has exactly
 * GeneratedTokens tokens, every prompt exactly ContextTokens, and the
 * option checks.
 *
 * Binaries come from $SL_ENGINE and $SL_SLUICEGEN (set by meson); the
 * binary tests are skipped without them.
 */
#include "gen.h"

#include <CUnit/Basic.h>
#include "tt_proc.h"
#include <sys/stat.h>

#define TRACE_DIR SL_SOURCE_DIR "/tools/data/azure-llm-trace/"
#define CONV TRACE_DIR "AzureLLMInferenceTrace_conv.csv"
#define CODE TRACE_DIR "AzureLLMInferenceTrace_code.csv"
#define HEADER GEN_TRACE_HEADER "\n"
#define ROW0 "2023-11-16 18:15:46.6805900,374,44\n"

static const char *engine_bin, *gen_bin;
static char tmpdir[64] = "/tmp/sl_test_trace.XXXXXX";
static char path[160];

static void
write_file(const char *p, const char *text, size_t len)
{
	FILE *f = fopen(p, "w");

	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_FATAL(fwrite(text, 1, len, f) == len);
	fclose(f);
}

/* ---- the loader ---- */

static void
test_load_good(void)
{
	static const char text[] = "\xef\xbb\xbf" GEN_TRACE_HEADER "\r\n"
				   "2023-11-16 18:15:46.6805900,374,44\r\n"
				   "2023-11-16 18:15:46.6805900,2,7\r\n"
				   "\r\n"
				   "2023-11-16T18:15:47Z,16000,8192\r\n"
				   "2023-11-16 19:15:47.000000001+01:00,1,1\r\n"
				   "2023-12-01 00:00:00-05:00,0010,1";
	char err[256] = "";
	struct gen_trace *t;

	write_file(path, text, sizeof(text) - 1);
	t = gen_trace_load(path, err, sizeof(err));
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_FATAL(t != NULL);
	CU_ASSERT_EQUAL_FATAL(t->n, 5);
	CU_ASSERT_EQUAL(t->rows[0].off_ns, 0);
	CU_ASSERT_EQUAL(t->rows[0].context, 374);
	CU_ASSERT_EQUAL(t->rows[0].generated, 44);
	CU_ASSERT_EQUAL(t->rows[1].off_ns, 0);
	CU_ASSERT_EQUAL(t->rows[1].context, 2);
	CU_ASSERT_EQUAL(t->rows[1].generated, 7);
	CU_ASSERT_EQUAL(t->rows[2].off_ns, 319410000ull);
	CU_ASSERT_EQUAL(t->rows[2].context, GEN_TRACE_CONTEXT_MAX);
	CU_ASSERT_EQUAL(t->rows[2].generated, GEN_TRACE_GENERATED_MAX);
	/* 19:15:47 at +01:00 is 18:15:47 UTC. */
	CU_ASSERT_EQUAL(t->rows[3].off_ns, 319410001ull);
	/* 05:00 UTC on 1 December: 14 days 10:44:13.31941 later. */
	CU_ASSERT_EQUAL(t->rows[4].off_ns, 1248253319410000ull);
	CU_ASSERT_EQUAL(t->rows[4].context, 10);
	gen_trace_free(t);
}

/* Both shipped traces load whole: rows, sums and the last time. */
static void
test_load_shipped(void)
{
	static const struct {
		const char *path;
		size_t rows;
		uint64_t context, generated, last_ns;
	} want[] = {
		{CONV, 19366, 22361870, 4088665, 3501721937000ull},
		{CODE, 8819, 18059974, 245896, 3435948056000ull},
	};

	for (unsigned int i = 0; i < 2; i++) {
		char err[256] = "";
		struct gen_trace *t =
			gen_trace_load(want[i].path, err, sizeof(err));
		uint64_t c = 0, g = 0;

		CU_ASSERT_STRING_EQUAL(err, "");
		CU_ASSERT_FATAL(t != NULL);
		CU_ASSERT_EQUAL(t->n, want[i].rows);
		for (size_t k = 0; k < t->n; k++) {
			c += t->rows[k].context;
			g += t->rows[k].generated;
		}
		CU_ASSERT_EQUAL(c, want[i].context);
		CU_ASSERT_EQUAL(g, want[i].generated);
		CU_ASSERT_EQUAL(t->rows[t->n - 1].off_ns, want[i].last_ns);
		gen_trace_free(t);
	}
}

/* Each bad file is refused with exactly its message (%s: the path). */
static void
test_load_refusals(void)
{
	static const struct {
		const char *text;
		const char *want;
	} cases[] = {
		{"", "%s:1: expected the header "
		     "'TIMESTAMP,ContextTokens,GeneratedTokens'"},
		{"timestamp,ContextTokens,GeneratedTokens\n" ROW0,
		 "%s:1: expected the header "
		 "'TIMESTAMP,ContextTokens,GeneratedTokens'"},
		{HEADER, "%s: no rows after the header"},
		{HEADER "\n\r\n", "%s: no rows after the header"},
		{HEADER ROW0 "2023-11-16 18:15:47.1,374\n",
		 "%s:3: expected 3 fields "
		 "(TIMESTAMP,ContextTokens,GeneratedTokens), found 2"},
		{HEADER "2023-11-16 18:15:47.1,374,44,9\n",
		 "%s:2: expected 3 fields "
		 "(TIMESTAMP,ContextTokens,GeneratedTokens), found 4"},
		{HEADER "2023/11/16 18:15:47,1,1\n",
		 "%s:2: TIMESTAMP: '2023/11/16 18:15:47' is not YYYY-MM-DD "
		 "HH:MM:SS[.fraction][Z|+HH:MM]"},
		{HEADER "2023-02-29 00:00:00,1,1\n",
		 "%s:2: TIMESTAMP: '2023-02-29 00:00:00' is not YYYY-MM-DD "
		 "HH:MM:SS[.fraction][Z|+HH:MM]"},
		{HEADER "2023-11-16 24:00:00,1,1\n",
		 "%s:2: TIMESTAMP: '2023-11-16 24:00:00' is not YYYY-MM-DD "
		 "HH:MM:SS[.fraction][Z|+HH:MM]"},
		{HEADER "2023-11-16 18:15:46.,1,1\n",
		 "%s:2: TIMESTAMP: '2023-11-16 18:15:46.' is not YYYY-MM-DD "
		 "HH:MM:SS[.fraction][Z|+HH:MM]"},
		{HEADER "2023-11-16 18:15:46.1234567890,1,1\n",
		 "%s:2: TIMESTAMP: '2023-11-16 18:15:46.1234567890' is not "
		 "YYYY-MM-DD HH:MM:SS[.fraction][Z|+HH:MM]"},
		{HEADER "2023-11-16 18:15:46+1:00,1,1\n",
		 "%s:2: TIMESTAMP: '2023-11-16 18:15:46+1:00' is not "
		 "YYYY-MM-DD HH:MM:SS[.fraction][Z|+HH:MM]"},
		{HEADER ROW0 "2023-11-16 18:15:47,abc,1\n",
		 "%s:3: ContextTokens: 'abc' is not a whole number"},
		{HEADER "2023-11-16 18:15:47,,1\n",
		 "%s:2: ContextTokens: '' is not a whole number"},
		{HEADER "2023-11-16 18:15:47,0,1\n",
		 "%s:2: ContextTokens: 0 is out of range (1 to 16000)"},
		{HEADER "2023-11-16 18:15:47,16001,1\n",
		 "%s:2: ContextTokens: 16001 is out of range (1 to 16000)"},
		{HEADER "2023-11-16 18:15:47,99999999999999999999,1\n",
		 "%s:2: ContextTokens: 99999999999999999999 is out of range "
		 "(1 to 16000)"},
		{HEADER "2023-11-16 18:15:47,5,8193\n",
		 "%s:2: GeneratedTokens: 8193 is out of range (1 to 8192)"},
		{HEADER "2023-11-16 18:15:47,5, 44\n",
		 "%s:2: GeneratedTokens: ' 44' is not a whole number"},
		{HEADER "2023-11-16 18:15:47,5,-1\n",
		 "%s:2: GeneratedTokens: '-1' is not a whole number"},
		{HEADER ROW0 "2023-11-16 18:15:46.6805899,1,1\n",
		 "%s:3: TIMESTAMP: '2023-11-16 18:15:46.6805899' is before "
		 "the row above's"},
		{HEADER ROW0 "2023-11-16 18:15:50,1,1\n"
			     "2023-11-16 18:15:49.9,1,1\n",
		 "%s:4: TIMESTAMP: '2023-11-16 18:15:49.9' is before the row "
		 "above's"},
		{HEADER ROW0 "2023-12-17 18:15:46.6805901,1,1\n",
		 "%s:3: TIMESTAMP: '2023-12-17 18:15:46.6805901' is more "
		 "than 31 days after the first row's"},
		{HEADER ROW0 "9999-12-31 23:59:59,1,1\n",
		 "%s:3: TIMESTAMP: '9999-12-31 23:59:59' is more than 31 "
		 "days after the first row's"},
		{HEADER "2023-11-16 18:15:47,1,"
			"000000000000000000000000000000000000000000000000000"
			"000000000000000000000000000000000000000000000000000"
			"000000000000000000000000000000000000000000000000000"
			"000000000000000000000000000000000000000000000000000"
			"00000000000000000000000000000000000000000000000001\n",
		 "%s:2: longer than 255 bytes"},
	};
	char want[512], err[512];

	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct gen_trace *t;

		write_file(path, cases[i].text, strlen(cases[i].text));
		err[0] = '\0';
		t = gen_trace_load(path, err, sizeof(err));
		CU_ASSERT_PTR_NULL(t);
		gen_trace_free(t);
		snprintf(want, sizeof(want), cases[i].want, path);
		CU_ASSERT_STRING_EQUAL(err, want);
		if (strcmp(err, want) != 0)
			printf("\n  case %u: got  %s\n          want %s\n", i,
			       err, want);
	}
	/* The longest line that is taken: 255 bytes before the CRLF. */
	{
		char text[512];
		int n = snprintf(text, sizeof(text),
				 HEADER "2023-11-16 18:15:47,1,%0*d\r\n",
				 255 - 22, 7);

		CU_ASSERT_EQUAL_FATAL(n, (int)strlen(HEADER) + 257);
		write_file(path, text, (size_t)n);
		{
			struct gen_trace *t =
				gen_trace_load(path, err, sizeof(err));

			CU_ASSERT_FATAL(t != NULL);
			CU_ASSERT_EQUAL(t->rows[0].generated, 7);
			gen_trace_free(t);
		}
	}
	unlink(path);
	err[0] = '\0';
	CU_ASSERT_PTR_NULL(gen_trace_load(path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	CU_ASSERT_STRING_EQUAL(err, want);
}

/* GEN_TRACE_ROWS_MAX rows load; one more is refused on its line. */
static void
test_load_row_limit(void)
{
	static const char row[] = "2023-11-16 18:15:46,1,1\n";
	char want[512], err[512] = "";
	struct gen_trace *t;
	FILE *f;

	for (unsigned int extra = 0; extra < 2; extra++) {
		f = fopen(path, "w");
		CU_ASSERT_FATAL(f != NULL);
		fputs(HEADER, f);
		for (uint32_t i = 0; i < GEN_TRACE_ROWS_MAX + extra; i++)
			fputs(row, f);
		fclose(f);
		t = gen_trace_load(path, err, sizeof(err));
		if (extra == 0) {
			CU_ASSERT_FATAL(t != NULL);
			CU_ASSERT_EQUAL(t->n, GEN_TRACE_ROWS_MAX);
		} else {
			CU_ASSERT_PTR_NULL(t);
			snprintf(want, sizeof(want),
				 "%s:1048578: more than 1048576 rows", path);
			CU_ASSERT_STRING_EQUAL(err, want);
		}
		gen_trace_free(t);
	}
	unlink(path);
}

/* ---- the plan: which rows, when ---- */

static void
test_plan(void)
{
	static struct gen_trace_row rows[] = {
		{0, 1, 1},
		{1000000000ull, 1, 1},
		{1500000000ull, 1, 1},
		{2250000000ull, 1, 1},
		{10000000000ull, 1, 1},
	};
	static const struct {
		double speedup;
		uint64_t at[5];
	} scaled[] = {
		{1,
		 {0, 1000000000ull, 1500000000ull, 2250000000ull,
		  10000000000ull}},
		{2,
		 {0, 500000000ull, 750000000ull, 1125000000ull, 5000000000ull}},
		/* Truncated to the nanosecond below. */
		{3,
		 {0, 333333333ull, 500000000ull, 750000000ull, 3333333333ull}},
		{0.5,
		 {0, 2000000000ull, 3000000000ull, 4500000000ull,
		  20000000000ull}},
		{1000, {0, 1000000ull, 1500000ull, 2250000ull, 10000000ull}},
	};
	struct gen_trace t = {rows, 5};
	size_t first = 99, n = 99;

	for (unsigned int i = 0; i < 5; i++) {
		CU_ASSERT_EQUAL(gen_trace_plan(&t, scaled[i].speedup, 0, 1e9, 0,
					       &first, &n),
				0);
		CU_ASSERT_EQUAL(first, 0);
		CU_ASSERT_EQUAL(n, 5);
		for (size_t k = 0; k < 5; k++)
			CU_ASSERT_EQUAL(
				gen_trace_at(&t, 0, k, scaled[i].speedup),
				scaled[i].at[k]);
	}
	/* --trace-start: from the first row at or after it; times from
	 * that row's. */
	CU_ASSERT_EQUAL(gen_trace_plan(&t, 2, 1.2, 1e9, 0, &first, &n), 0);
	CU_ASSERT_EQUAL(first, 2);
	CU_ASSERT_EQUAL(n, 3);
	CU_ASSERT_EQUAL(gen_trace_at(&t, 2, 2, 2), 0);
	CU_ASSERT_EQUAL(gen_trace_at(&t, 2, 3, 2), 375000000ull);
	CU_ASSERT_EQUAL(gen_trace_at(&t, 2, 4, 2), 4250000000ull);
	CU_ASSERT_EQUAL(gen_trace_plan(&t, 1, 1.0, 1e9, 0, &first, &n), 0);
	CU_ASSERT_EQUAL(first, 1);
	CU_ASSERT_EQUAL(n, 4);
	CU_ASSERT_EQUAL(gen_trace_plan(&t, 1, 10, 1e9, 0, &first, &n), 0);
	CU_ASSERT_EQUAL(first, 4);
	CU_ASSERT_EQUAL(n, 1);
	first = n = 99;
	CU_ASSERT_EQUAL(gen_trace_plan(&t, 1, 10.001, 1e9, 0, &first, &n),
			-ERANGE);
	CU_ASSERT_EQUAL(first, 99);
	/* --duration: rows due before it, in run time (after the
	 * speed-up). */
	CU_ASSERT_EQUAL(gen_trace_plan(&t, 1, 0, 2.25, 0, &first, &n), 0);
	CU_ASSERT_EQUAL(n, 3);
	CU_ASSERT_EQUAL(gen_trace_plan(&t, 1, 0, 2.2500001, 0, &first, &n), 0);
	CU_ASSERT_EQUAL(n, 4);
	CU_ASSERT_EQUAL(gen_trace_plan(&t, 2, 0, 1.125, 0, &first, &n), 0);
	CU_ASSERT_EQUAL(n, 3);
	CU_ASSERT_EQUAL(gen_trace_plan(&t, 2, 0, 5.000000001, 0, &first, &n),
			0);
	CU_ASSERT_EQUAL(n, 5);
	/* --requests: at most that many. */
	CU_ASSERT_EQUAL(gen_trace_plan(&t, 1, 0, 1e9, 2, &first, &n), 0);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_EQUAL(gen_trace_plan(&t, 1, 1.2, 1e9, 2, &first, &n), 0);
	CU_ASSERT_EQUAL(first, 2);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_EQUAL(gen_trace_plan(&t, 1, 0, 1e9, 6, &first, &n), 0);
	CU_ASSERT_EQUAL(n, 5);
}

/* ---- the prompt ---- */

/* What a flush collects: the datagrams of one prompt, in order. */
struct sink {
	uint8_t buf[512][SL_DGRAM_MAX];
	uint16_t len[512];
	unsigned int n, flushes;
};

static int
sink_flush(void *ctx, struct sl_burst *tx)
{
	struct sink *k = ctx;

	CU_ASSERT_EQUAL(tx->n, SL_BURST_MAX);
	for (unsigned int i = 0; i < tx->n; i++) {
		CU_ASSERT_FATAL(k->n < 512);
		memcpy(k->buf[k->n], tx->d[i].buf, tx->d[i].len);
		k->len[k->n++] = tx->d[i].len;
	}
	tx->n = 0;
	k->flushes++;
	return 0;
}

/* Build @row's prompt; check it against @want (@want_len bytes) and
 * @tokens tokens, at most @per_frag a fragment. Return its fragments. */
static unsigned int
check_prompt(const struct sl_corpus *c, size_t q_off,
	     const struct gen_trace_row *row, uint32_t per_frag,
	     const char *want, size_t want_len, unsigned int tokens,
	     unsigned int *flushes)
{
	static struct sink k;
	static struct sl_burst tx;
	static char text[128 * 1024];
	struct sl_stream_tx stream;
	uint64_t id = 0xabc00000005ull;
	size_t len = 0;
	unsigned int got_tokens = 0;
	int n;

	memset(&k, 0, sizeof(k));
	sl_burst_reset(&tx);
	sl_stream_tx_init(&stream, 9, 0, 3, 1, &id);
	n = gen_trace_prompt(c, q_off, row, per_frag, &stream, &tx, 1000,
			     sink_flush, &k);
	for (unsigned int i = 0; i < tx.n; i++) {
		memcpy(k.buf[k.n], tx.d[i].buf, tx.d[i].len);
		k.len[k.n++] = tx.d[i].len;
	}
	CU_ASSERT_EQUAL(n, (int)k.n);
	for (unsigned int i = 0; i < k.n; i++) {
		struct sl_dgram d = {
			.buf = k.buf[i], .len = k.len[i], .cap = SL_DGRAM_MAX};
		struct sl_frag_view v;
		struct sl_token_iter it;
		struct sl_token tok;

		CU_ASSERT_EQUAL_FATAL(sl_frag_view_parse(&v, &d), SL_WIRE_OK);
		CU_ASSERT_EQUAL(v.hdr.seq, i);
		CU_ASSERT_EQUAL(v.hdr.ancestry[0], id);
		CU_ASSERT_EQUAL(v.hdr.pipeline, 9);
		CU_ASSERT_EQUAL(v.hdr.flags, i + 1 == k.n ? SL_FRAG_F_END : 0);
		CU_ASSERT(v.hdr.token_count >= 1 &&
			  v.hdr.token_count <= per_frag);
		sl_frag_view_tokens(&v, &it);
		while (sl_token_next(&it, &tok)) {
			CU_ASSERT(tok.id == sl_token_hash(tok.text, tok.len));
			CU_ASSERT_FATAL(len + tok.len <= sizeof(text));
			memcpy(text + len, tok.text, tok.len);
			len += tok.len;
			got_tokens++;
		}
	}
	CU_ASSERT_EQUAL(got_tokens, tokens);
	CU_ASSERT_EQUAL(len, want_len);
	CU_ASSERT(len == want_len && memcmp(text, want, len) == 0);
	*flushes = k.flushes;
	return k.n;
}

static void
test_prompt(void)
{
	static const char ctext[] = "Alpha beta, gamma delta. Epsilon zeta "
				    "eta theta iota kappa.\n";
	static const struct {
		size_t q_off;
		struct gen_trace_row row;
		uint32_t per_frag;
		const char *want;
		unsigned int frags;
	} cases[] = {
		/* max_tokens, :, " 5", \n | ., \n, Alpha, " beta", "," */
		{12, {0, 5, 5}, 2, "max_tokens: 5\n.\nAlpha beta,", 5},
		{12, {0, 5, 5}, 64, "max_tokens: 5\n.\nAlpha beta,", 1},
		{28, {0, 1, 8192}, 1, "max_tokens: 8192\nAlpha", 5},
		{3,
		 {0, 16, 44},
		 7,
		 "max_tokens: 44\n gamma delta. Epsilon zeta eta theta iota "
		 "kappa.\nAlpha beta, gamma delta",
		 3},
	};
	struct sl_corpus *c = sl_corpus_from_text(ctext, strlen(ctext));
	struct sl_corpus *big;
	unsigned int flushes;
	char dir[64];

	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT_EQUAL_FATAL(c->n_tokens, 14);
	CU_ASSERT_EQUAL(gen_trace_directive(44, dir, sizeof(dir)), 15);
	CU_ASSERT_STRING_EQUAL(dir, "max_tokens: 44\n");
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CU_ASSERT_EQUAL(check_prompt(c, cases[i].q_off, &cases[i].row,
					     cases[i].per_frag, cases[i].want,
					     strlen(cases[i].want),
					     4 + cases[i].row.context,
					     &flushes),
				cases[i].frags);
	sl_corpus_free(c);

	/* The longest prompt on the real corpus: several bursts, every
	 * token in place, within libsluice's 256 kept fragments. */
	big = sl_corpus_load(SL_SOURCE_DIR "/tools/data/corpus.txt");
	CU_ASSERT_FATAL(big != NULL);
	{
		static char want[128 * 1024];
		struct gen_trace_row row = {0, GEN_TRACE_CONTEXT_MAX, 300};
		size_t q_off = big->n_tokens - 100, len;
		unsigned int frags;

		len = gen_trace_directive(300, want, sizeof(want));
		for (uint32_t i = 0; i < row.context; i++) {
			size_t t = (q_off + i) % big->n_tokens;

			memcpy(want + len, sl_corpus_token_text(big, t),
			       big->tokens[t].len);
			len += big->tokens[t].len;
		}
		frags = check_prompt(big, q_off, &row,
				     GEN_TRACE_TOKENS_PER_FRAG, want, len,
				     4 + row.context, &flushes);
		CU_ASSERT(frags >= (4 + GEN_TRACE_CONTEXT_MAX + 63) / 64);
		CU_ASSERT(frags <= SL_REL_TX_WINDOW_MAX);
		CU_ASSERT_EQUAL(flushes, (frags - 1) / SL_BURST_MAX);
		/* One token a fragment: 16,004 fragments would not fit the
		 * sink; 200 tokens do, in four bursts. */
		row.context = 200;
		len = gen_trace_directive(300, want, sizeof(want));
		for (uint32_t i = 0; i < row.context; i++) {
			size_t t = (q_off + i) % big->n_tokens;

			memcpy(want + len, sl_corpus_token_text(big, t),
			       big->tokens[t].len);
			len += big->tokens[t].len;
		}
		CU_ASSERT_EQUAL(check_prompt(big, q_off, &row, 1, want, len,
					     204, &flushes),
				204);
		CU_ASSERT_EQUAL(flushes, 3);
	}
	sl_corpus_free(big);
}

/* ---- the binary ---- */

static pid_t engine_pid = -1;
static char engine_ep[32], engine_stats[160];

static int
start_engine(void)
{
	char *const argv[] = {
		(char *)engine_bin, "--listen",     engine_ep, "--role",
		"answer",           "--time-scale", "0.01",    "--stats-file",
		engine_stats,       "--quiet",      NULL};

	snprintf(engine_ep, sizeof(engine_ep), "127.0.0.1:%u", tt_free_port());
	snprintf(engine_stats, sizeof(engine_stats), "%s/engine.json", tmpdir);
	unlink(engine_stats);
	engine_pid = tt_spawn(argv, "/dev/null", "/dev/null");
	if (engine_pid < 0)
		return -1;
	return tt_wait_file(engine_stats, 300, NULL);
}

/*
 * 40 rows of the conversation trace from its 11th, 50 times faster,
 * straight to an answer engine: every request completes, every answer
 * has exactly its row's GeneratedTokens and every prompt its
 * ContextTokens (the engine's prefill count, the directive not in it).
 */
static void
test_replay(void)
{
	char out[160], err[160], *text;
	struct gen_trace *t;
	uint64_t context = 0, generated = 0;
	char json[8192];

	if (engine_bin == NULL || gen_bin == NULL)
		return;
	t = gen_trace_load(CONV, json, sizeof(json));
	CU_ASSERT_FATAL(t != NULL);
	for (size_t k = 10; k < 50; k++) {
		context += t->rows[k].context;
		generated += t->rows[k].generated;
	}
	CU_ASSERT_FATAL(start_engine() == 0);
	snprintf(out, sizeof(out), "%s/gen.json", tmpdir);
	snprintf(err, sizeof(err), "%s/gen.err", tmpdir);
	/* Rows 9 and 10 are 8.465 and 8.700 s in: the run starts at 10. */
	CU_ASSERT(t->rows[9].off_ns < 8600000000ull &&
		  t->rows[10].off_ns >= 8600000000ull);
	{
		char *const argv[] = {(char *)gen_bin,
				      "--trace",
				      CONV,
				      "--server",
				      engine_ep,
				      "--trace-speedup",
				      "50",
				      "--trace-start",
				      "8.6",
				      "--requests",
				      "40",
				      "--drain-ms",
				      "5000",
				      "--json",
				      "--check",
				      NULL};

		CU_ASSERT_EQUAL(tt_run(argv, out, err), 0);
	}
	text = tt_slurp(out, NULL);
	CU_ASSERT_FATAL(text != NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"arrival\": \"trace\""));
	CU_ASSERT_EQUAL(tt_json_num(text, "requests"), 40);
	CU_ASSERT_EQUAL(tt_json_num(text, "completed"), 40);
	CU_ASSERT_EQUAL(tt_json_num(text, "rows_in_file"), 19366);
	CU_ASSERT_EQUAL(tt_json_num(text, "first_row"), 10);
	CU_ASSERT_EQUAL(tt_json_num(text, "rows"), 40);
	CU_ASSERT_EQUAL(tt_json_num(text, "speedup"), 50);
	CU_ASSERT_EQUAL(tt_json_num(text, "context_tokens"), context);
	CU_ASSERT_EQUAL(tt_json_num(text, "max_tokens"), generated);
	CU_ASSERT_EQUAL(tt_json_num(text, "result_tokens"), generated);
	/* The trace's rate: 39 gaps over rows 10..49's span / 50. */
	CU_ASSERT(
		fabs(tt_json_num(text, "trace_rps") -
		     39.0 / ((double)(t->rows[49].off_ns - t->rows[10].off_ns) /
			     50e9)) < 0.001);
	CU_ASSERT(tt_json_num(text, "offered_rps") ==
		  tt_json_num(text, "trace_rps"));
	free(text);
	CU_ASSERT_EQUAL(tt_stop(&engine_pid), 0);
	CU_ASSERT_FATAL(tt_read_file(engine_stats, json, sizeof(json)) == 0);
	CU_ASSERT_EQUAL(tt_json_num(json, "requests_served"), 40);
	CU_ASSERT_EQUAL(tt_json_num(json, "length_directives"), 40);
	CU_ASSERT_EQUAL(tt_json_num(json, "tokens_out"), generated);
	CU_ASSERT_EQUAL(tt_json_num(json, "lm_prompt_tokens"), context);
	gen_trace_free(t);
	unlink(out);
	unlink(err);
	unlink(engine_stats);
}

/* The text report names the rows and the rates. */
static void
test_report(void)
{
	char out[160], *text;

	if (engine_bin == NULL || gen_bin == NULL)
		return;
	CU_ASSERT_FATAL(start_engine() == 0);
	snprintf(out, sizeof(out), "%s/gen.txt", tmpdir);
	{
		char *const argv[] = {
			(char *)gen_bin, "--trace",    CODE,
			"--server",      engine_ep,    "--trace-speedup",
			"100",           "--requests", "5",
			"--check",       NULL};

		CU_ASSERT_EQUAL(tt_run(argv, out, "/dev/null"), 0);
	}
	text = tt_slurp(out, NULL);
	CU_ASSERT_FATAL(text != NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "trace " CODE " (8819 rows), "
					    "speed-up 100, from 0.000 trace "
					    "s, 64 tokens a fragment"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "  trace: 5 rows replayed (rows "
					    "0..4 of 8819), trace "));
	/* 4808 + 3180 + 110 + 7433 + 34 prompt tokens, 10 + 8 + 27 + 14
	 * + 12 asked and received. */
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "  tokens: 15565 prompt, 71 "
					    "asked, 71 received\n"));
	free(text);
	unlink(out);
	CU_ASSERT_EQUAL(tt_stop(&engine_pid), 0);
	unlink(engine_stats);
}

/* Exit status and the one line on stderr. */
static void
expect_refusal(char *const argv[], int rc, const char *line)
{
	char err[160], *text;

	snprintf(err, sizeof(err), "%s/opt.err", tmpdir);
	CU_ASSERT_EQUAL(tt_run(argv, "/dev/null", err), rc);
	text = tt_slurp(err, NULL);
	CU_ASSERT_FATAL(text != NULL);
	CU_ASSERT_STRING_EQUAL(text, line);
	free(text);
	unlink(err);
}

static void
test_options(void)
{
	char bad[200], line[512];

	if (gen_bin == NULL)
		return;
	{
		char *const argv[] = {
			(char *)gen_bin, "--trace",        CONV, "--server",
			"127.0.0.1:9",   "--request-rate", "10", NULL};

		expect_refusal(argv, 2,
			       "sluicegen: --request-rate is not for --trace "
			       "(the trace gives arrivals and lengths)\n");
	}
	{
		char *const argv[] = {
			(char *)gen_bin, "--trace",           CONV, "--server",
			"127.0.0.1:9",   "--question-tokens", "10", NULL};

		expect_refusal(argv, 2,
			       "sluicegen: --question-tokens is not for "
			       "--trace (the trace gives arrivals and "
			       "lengths)\n");
	}
	{
		char *const argv[] = {(char *)gen_bin,
				      "--mode",
				      "pipeline",
				      "--server",
				      "127.0.0.1:9",
				      "--trace-speedup",
				      "10",
				      NULL};

		expect_refusal(argv, 2,
			       "sluicegen: --trace-speedup needs --trace\n");
	}
	{
		char *const argv[] = {
			(char *)gen_bin, "--mode",  "transform", "--server",
			"127.0.0.1:9",   "--trace", CONV,        NULL};

		expect_refusal(argv, 2,
			       "sluicegen: --trace needs --mode pipeline\n");
	}
	{
		char *const argv[] = {
			(char *)gen_bin, "--trace",         CONV, "--server",
			"127.0.0.1:9",   "--trace-speedup", "0",  NULL};

		expect_refusal(argv, 2,
			       "sluicegen: --trace-speedup: must be a number "
			       "0.001..1e+06, got \"0\"\n");
	}
	{
		char *const argv[] = {
			(char *)gen_bin, "--trace",     CONV,
			"--server",      "127.0.0.1:9", "--trace-start",
			"4000",          "--quiet",     NULL};

		expect_refusal(argv, 1,
			       "sluicegen: --trace-start 4000.000: the "
			       "trace's last row is at 3501.722 s\n");
	}
	snprintf(bad, sizeof(bad), "%s/bad.csv", tmpdir);
	write_file(bad, HEADER ROW0 "2023-11-16 18:15:47,5,0\n",
		   strlen(HEADER ROW0 "2023-11-16 18:15:47,5,0\n"));
	{
		char *const argv[] = {(char *)gen_bin, "--trace",     bad,
				      "--server",      "127.0.0.1:9", NULL};

		snprintf(line, sizeof(line),
			 "sluicegen: %s:3: GeneratedTokens: 0 is out of range "
			 "(1 to 8192)\n",
			 bad);
		expect_refusal(argv, 1, line);
	}
	unlink(bad);
}

int
main(void)
{
	CU_pSuite s;
	unsigned int fails;

	engine_bin = getenv("SL_ENGINE");
	gen_bin = getenv("SL_SLUICEGEN");
	if (engine_bin == NULL || gen_bin == NULL)
		fprintf(stderr, "SL_ENGINE/SL_SLUICEGEN not set: binary tests "
				"skipped\n");
	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/trace.csv", tmpdir);
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("sluicegen --trace", NULL, NULL);
	CU_add_test(s, "load: BOM, CRLF, zones, blank line", test_load_good);
	CU_add_test(s, "load: the shipped traces, exactly", test_load_shipped);
	CU_add_test(s, "load: refusals, exact text", test_load_refusals);
	CU_add_test(s, "load: the row limit", test_load_row_limit);
	CU_add_test(s, "plan: speed-up, start, duration, requests", test_plan);
	CU_add_test(s, "prompt: directive, then exactly C tokens", test_prompt);
	CU_add_test(s, "replay: exact lengths through an answer engine",
		    test_replay);
	CU_add_test(s, "report: rows and rates", test_report);
	CU_add_test(s, "option checks", test_options);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	if (engine_pid > 0)
		tt_stop(&engine_pid);
	rmdir(tmpdir);
	return fails ? 1 : 0;
}
