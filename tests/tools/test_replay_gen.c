/* SPDX-License-Identifier: MIT */
/*
 * test_replay_gen.c - sluicegen --mode pipeline --questions FILE, the
 * client side of the replay benchmarks (tools/bench/tofu.sh).
 *
 * Function by function (sluicegen's parts, tools/gen/gen.h, linked in):
 * the loader (ids as numbers, strings or absent, JSON escapes, refusals),
 * the fragment count it plans against what the question builder really
 * sends (the tokens concatenate to the question, END on the last). Then
 * the binary against an echo engine on 127.0.0.1 (an echo engine answers
 * each question with itself): the dump has one line per question, in
 * file order, "<index>\t<id>\t<flags>\t<text>", the text byte for byte;
 * --requests and a sweep; the option checks.
 *
 * Binaries come from $SL_ENGINE and $SL_SLUICEGEN (set by meson); the
 * binary tests are skipped without them.
 */
#include "gen.h"

#include <CUnit/Basic.h>
#include "tt_proc.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

static const char *engine_bin, *gen_bin;
static char tmpdir[64] = "/tmp/sl_test_replay_gen.XXXXXX";
static pid_t engine_pid = -1;
static char engine_ep[32];
static char qpath[160];

/* Three questions: a number id, a string id with a tab, no id; quotes,
 * \u escapes, a surrogate pair and raw UTF-8 in the text. */
static const char questions_file[] =
	"{\"id\": 7, \"question\": \"Who wrote \\\"Artistic Authority\\\"?\","
	" \"truth\": \"Hsiao Yun-Hwa.\"}\n"
	"\n"
	"{\"extra\": {\"a\": [1, \"}\"]}, \"question\": \"Caf\\u00e9 "
	"\\ud83c\\udf89 in T\u014dky\u014d, \u6771\u4eac\\tand a backslash "
	"\\\\ too\", \"id\": \"q\\tb\"}\n"
	"{\"question\": \"No id at all?\"}\n";

static const char *const q_text[] = {
	"Who wrote \"Artistic Authority\"?",
	"Café 🎉 in Tōkyō, 東京\tand a backslash \\ too",
	"No id at all?",
};

static const char want_dump[] =
	"0\t7\tok\tWho wrote \"Artistic Authority\"?\n"
	"1\tq\\tb\tok\tCafé 🎉 in Tōkyō, 東京\\tand a backslash \\\\ too\n"
	"2\t\tok\tNo id at all?\n";

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CU_ASSERT_FATAL(f != NULL);
	fputs(text, f);
	fclose(f);
}

/* ---- functions ---- */

static void
test_load(void)
{
	struct gen_questions *qs = gen_questions_load(qpath, 2);
	unsigned int i;

	CU_ASSERT_FATAL(qs != NULL);
	CU_ASSERT_EQUAL_FATAL(qs->n, 3);
	CU_ASSERT_STRING_EQUAL(qs->q[0].id, "7");
	CU_ASSERT_STRING_EQUAL(qs->q[1].id, "q\tb");
	CU_ASSERT_STRING_EQUAL(qs->q[2].id, "");
	for (i = 0; i < 3; i++) {
		size_t pos = 0, tokens = 0;

		CU_ASSERT_EQUAL(qs->q[i].len, strlen(q_text[i]));
		CU_ASSERT_STRING_EQUAL(qs->q[i].text, q_text[i]);
		while (pos < qs->q[i].len) {
			pos += sl_tokenize_next(qs->q[i].text + pos,
						qs->q[i].len - pos);
			tokens++;
		}
		/* two tokens a fragment */
		CU_ASSERT_EQUAL(qs->q[i].frags, (tokens + 1) / 2);
	}
	gen_questions_free(qs);
}

static void
test_load_refusals(void)
{
	static const char *const bad[] = {
		"{\"id\": 1}\n",                     /* no question */
		"{\"id\": 1, \"question\": \"\"}\n", /* empty */
		"{\"question\": 5}\n",               /* not a string */
		"{\"question\": \"a\" \"id\": 2}\n", /* no comma */
		"{\"question\": \"a\"} trailing\n",
		"[\"question\"]\n",
		"{\"question\": \"\\udc00\"}\n", /* lone surrogate */
		"{\"question\": \"\xff\"}\n",    /* not UTF-8 */
		"{\"question\": \"a\", \"question\": \"b\"}\n",
		"{\"question\": \"nul \\u0000 inside\"}\n",
		"\n\n", /* no questions */
	};
	char path[200];
	unsigned int i;

	snprintf(path, sizeof(path), "%s/bad.jsonl", tmpdir);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct gen_questions *qs;

		write_file(path, bad[i]);
		qs = gen_questions_load(path, 16);
		CU_ASSERT_PTR_NULL(qs);
		if (qs != NULL)
			fprintf(stderr, "accepted case %u\n", i);
		gen_questions_free(qs);
	}
	unlink(path);
	CU_ASSERT_PTR_NULL(gen_questions_load(path, 16));
}

/* What the builder sends: the planned fragment count, all the bytes. */
static void
test_build(void)
{
	static struct gen g;
	static struct sl_burst tx;
	static const uint32_t ks[] = {1, 2, 3, 16, 1024};
	struct gen_questions *qs = gen_questions_load(qpath, 1);
	unsigned int i, k;

	CU_ASSERT_FATAL(qs != NULL);
	memset(&g, 0, sizeof(g));
	g.o.pipeline = 9;
	g.o.tenant = 3;
	for (k = 0; k < sizeof(ks) / sizeof(ks[0]); k++) {
		g.o.tokens = ks[k];
		for (i = 0; i < qs->n; i++) {
			struct sl_stream_tx stream;
			uint64_t id = 77;
			char text[512];
			size_t len = 0;
			int n, j;

			sl_burst_reset(&tx);
			sl_stream_tx_init(&stream, 9, 0, 3, 1, &id);
			n = gen_prun_question_text(&g, &qs->q[i], &stream, &tx,
						   1000);
			CU_ASSERT_EQUAL(
				n, (int)gen_question_frags(
					   qs->q[i].text, qs->q[i].len, ks[k]));
			CU_ASSERT_EQUAL(n, (int)tx.n);
			for (j = 0; j < n; j++) {
				struct sl_frag_view v;
				struct sl_token_iter it;
				struct sl_token tok;

				CU_ASSERT_EQUAL_FATAL(
					sl_frag_view_parse(&v, &tx.d[j]),
					SL_WIRE_OK);
				CU_ASSERT_EQUAL(v.hdr.seq, (uint32_t)j);
				CU_ASSERT_EQUAL(v.hdr.ancestry[0], 77);
				CU_ASSERT_EQUAL(v.hdr.flags,
						j == n - 1 ? SL_FRAG_F_END : 0);
				CU_ASSERT(v.hdr.token_count <= ks[k]);
				sl_frag_view_tokens(&v, &it);
				while (sl_token_next(&it, &tok)) {
					CU_ASSERT_FATAL(len + tok.len <
							sizeof(text));
					memcpy(text + len, tok.text, tok.len);
					len += tok.len;
				}
			}
			CU_ASSERT_EQUAL(len, qs->q[i].len);
			CU_ASSERT(len == qs->q[i].len &&
				  memcmp(text, qs->q[i].text, len) == 0);
		}
	}
	gen_questions_free(qs);
}

/* ---- the binary ---- */

static int
start_engine(void)
{
	char stats[128];

	snprintf(engine_ep, sizeof(engine_ep), "127.0.0.1:%u", tt_free_port());
	snprintf(stats, sizeof(stats), "%s/engine.json", tmpdir);
	{
		char *const argv[] = {(char *)engine_bin,
				      "--listen",
				      engine_ep,
				      "--transform",
				      "echo",
				      "--stats-file",
				      stats,
				      "--quiet",
				      NULL};

		engine_pid = tt_spawn(argv, "/dev/null", "/dev/null");
		if (engine_pid < 0)
			return -1;
	}
	return tt_wait_file(stats, 200, NULL);
}

static void
stop_engine(void)
{
	char stats[128];

	tt_stop(&engine_pid);
	snprintf(stats, sizeof(stats), "%s/engine.json", tmpdir);
	unlink(stats);
}

static void
test_dump(void)
{
	char dump[160], out[160], *text;

	if (engine_bin == NULL || gen_bin == NULL)
		return;
	snprintf(dump, sizeof(dump), "%s/dump", tmpdir);
	snprintf(out, sizeof(out), "%s/out.json", tmpdir);
	{
		/* Poisson arrivals: request i is still question i. */
		char *const argv[] = {(char *)gen_bin,
				      "--mode",
				      "pipeline",
				      "--server",
				      engine_ep,
				      "--questions",
				      qpath,
				      "--request-rate",
				      "200",
				      "--tokens-per-fragment",
				      "2",
				      "--drain-ms",
				      "3000",
				      "--dump",
				      dump,
				      "--json",
				      "--check",
				      NULL};

		CU_ASSERT_EQUAL(tt_run(argv, out, "/dev/null"), 0);
	}
	text = tt_slurp(dump, NULL);
	CU_ASSERT_FATAL(text != NULL);
	CU_ASSERT_STRING_EQUAL(text, want_dump);
	free(text);
	text = tt_slurp(out, NULL);
	CU_ASSERT_FATAL(text != NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"requests\": 3,"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"completed\": 3,"));
	free(text);
	unlink(dump);
	unlink(out);
}

static void
test_requests_and_sweep(void)
{
	char dump[160], path[200], *text;

	if (engine_bin == NULL || gen_bin == NULL)
		return;
	snprintf(dump, sizeof(dump), "%s/dump", tmpdir);
	{
		/* --requests 2: the first two questions only. */
		char *const argv[] = {(char *)gen_bin,
				      "--mode",
				      "pipeline",
				      "--server",
				      engine_ep,
				      "--questions",
				      qpath,
				      "--request-rate",
				      "100",
				      "--requests",
				      "2",
				      "--arrival",
				      "constant",
				      "--drain-ms",
				      "3000",
				      "--dump",
				      dump,
				      "--check",
				      "--quiet",
				      NULL};

		CU_ASSERT_EQUAL(tt_run(argv, "/dev/null", "/dev/null"), 0);
	}
	text = tt_slurp(dump, NULL);
	CU_ASSERT_FATAL(text != NULL);
	CU_ASSERT(strncmp(text, want_dump,
			  strlen(want_dump) -
				  strlen("2\t\tok\tNo id at all?\n")) == 0);
	CU_ASSERT_EQUAL(strlen(text),
			strlen(want_dump) - strlen("2\t\tok\tNo id at all?\n"));
	free(text);
	unlink(dump);
	{
		/* A sweep asks every question at every rate. */
		char *const argv[] = {(char *)gen_bin,
				      "--mode",
				      "pipeline",
				      "--server",
				      engine_ep,
				      "--questions",
				      qpath,
				      "--sweep",
				      "100,300",
				      "--sweep-pause-ms",
				      "10",
				      "--drain-ms",
				      "3000",
				      "--dump",
				      dump,
				      "--check",
				      "--quiet",
				      NULL};

		CU_ASSERT_EQUAL(tt_run(argv, "/dev/null", "/dev/null"), 0);
	}
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s.%d", dump, i);
		text = tt_slurp(path, NULL);
		CU_ASSERT_FATAL(text != NULL);
		CU_ASSERT_STRING_EQUAL(text, want_dump);
		free(text);
		unlink(path);
	}
}

static void
test_options(void)
{
	char missing[200];

	if (gen_bin == NULL)
		return;
	snprintf(missing, sizeof(missing), "%s/missing.jsonl", tmpdir);
	{
		char *const argv[] = {(char *)gen_bin,
				      "--mode",
				      "pipeline",
				      "--server",
				      "127.0.0.1:9",
				      "--questions",
				      qpath,
				      "--question-tokens",
				      "4",
				      "--request-rate",
				      "10",
				      NULL};

		CU_ASSERT_EQUAL(tt_run(argv, "/dev/null", "/dev/null"), 2);
	}
	{
		char *const argv[] = {(char *)gen_bin, "--server",
				      "127.0.0.1:9",   "--questions",
				      qpath,           NULL};

		CU_ASSERT_EQUAL(tt_run(argv, "/dev/null", "/dev/null"), 2);
	}
	{
		char *const argv[] = {(char *)gen_bin,
				      "--mode",
				      "pipeline",
				      "--server",
				      "127.0.0.1:9",
				      "--questions",
				      missing,
				      "--request-rate",
				      "10",
				      NULL};

		CU_ASSERT_EQUAL(tt_run(argv, "/dev/null", "/dev/null"), 1);
	}
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
	snprintf(qpath, sizeof(qpath), "%s/questions.jsonl", tmpdir);
	{
		FILE *f = fopen(qpath, "w");

		if (f == NULL)
			return 1;
		fputs(questions_file, f);
		fclose(f);
	}
	if (engine_bin != NULL && start_engine() < 0) {
		fprintf(stderr, "cannot start %s\n", engine_bin);
		return 1;
	}

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("sluicegen --questions", NULL, NULL);
	CU_add_test(s, "load: ids, escapes, fragments", test_load);
	CU_add_test(s, "load: refusals", test_load_refusals);
	CU_add_test(s, "build: planned fragments, exact bytes", test_build);
	CU_add_test(s, "dump: index, id, flags, text", test_dump);
	CU_add_test(s, "--requests and --sweep", test_requests_and_sweep);
	CU_add_test(s, "option checks", test_options);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();

	stop_engine();
	unlink(qpath);
	rmdir(tmpdir);
	return fails ? 1 : 0;
}
