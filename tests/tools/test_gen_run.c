/* SPDX-License-Identifier: MIT */
/*
 * test_gen_run.c - the sluicegen binary in --mode pipeline against the
 * real sluice-engine on 127.0.0.1 (an echo engine answers each question
 * with one stream: to sluicegen it looks exactly like a pipeline's
 * result). Checks the sweep JSON (one object per rate, exact counts),
 * the dump files (one line per request, the question's exact text), that
 * two runs with one seed dump the same bytes, that --check fails when no
 * result comes back, and the option checks between the two modes. Then
 * both modes through a lossy relay (tt_relay.c: 5 % loss, 1 %
 * duplication and reordering each way) between sluicegen and the
 * engine: every hop repairs itself and the run still checks clean, byte
 * for byte, with the repair counters showing the work.
 *
 * Binaries come from $SL_ENGINE and $SL_SLUICEGEN (set by meson); the
 * suite skips (77) without them.
 */
#include "gen.h"

#include <CUnit/Basic.h>
#include "tt_proc.h"
#include "tt_relay.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

static const char *engine_bin, *gen_bin;
static char tmpdir[64] = "/tmp/sl_test_gen_run.XXXXXX";
static pid_t engine_pid = -1;
static char engine_ep[32];

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

		engine_pid = tt_spawn(argv, "/dev/null", NULL);
		if (engine_pid < 0)
			return -1;
	}
	return tt_wait_file(stats, 200, NULL);
}

static unsigned int
count_lines(const char *text)
{
	unsigned int n = 0;

	for (; *text; text++)
		n += *text == '\n';
	return n;
}

/* Expected dump line of request @idx: the echoed question. */
static char *
question_line(const struct sl_corpus *c, uint64_t seed, uint64_t idx,
	      uint32_t tokens)
{
	size_t off = gen_question_offset(seed, idx, c->n_tokens), len = 0;
	char *buf = NULL, *out;
	FILE *f = open_memstream(&buf, &len);
	uint32_t j;

	fprintf(f, "%" PRIu64 "\tok\t", idx);
	for (j = 0; j < tokens; j++) {
		size_t t = (off + j) % c->n_tokens;

		gen_dump_escape(f, sl_corpus_token_text(c, t),
				c->tokens[t].len);
	}
	fputc('\n', f);
	fclose(f);
	out = buf;
	return out;
}

static void
test_sweep_json_and_dump(void)
{
	char out[128], dump[128], dump0[160], dump1[160], again[128];
	struct sl_corpus *corpus = sl_corpus_load(GEN_DEFAULT_CORPUS);
	char *json, *d0, *d1, *d2, *second, *line;
	size_t len0, len1, len2, len;
	double req0, req1;

	CU_ASSERT_FATAL(corpus != NULL);
	snprintf(out, sizeof(out), "%s/sweep.json", tmpdir);
	snprintf(dump, sizeof(dump), "%s/dump", tmpdir);
	snprintf(dump0, sizeof(dump0), "%s.0", dump);
	snprintf(dump1, sizeof(dump1), "%s.1", dump);
	{
		char *const argv[] = {(char *)gen_bin,
				      "--mode",
				      "pipeline",
				      "--server",
				      engine_ep,
				      "--sweep",
				      "40,120",
				      "--sweep-duration",
				      "0.5",
				      "--sweep-pause-ms",
				      "50",
				      "--question-tokens",
				      "20",
				      "--tokens-per-fragment",
				      "6",
				      "--seed",
				      "5",
				      "--drain-ms",
				      "2000",
				      "--dump",
				      dump,
				      "--json",
				      "--check",
				      NULL};

		CU_ASSERT_EQUAL(tt_run(argv, out, NULL), 0);
	}
	json = tt_slurp(out, &len);
	CU_ASSERT_FATAL(json != NULL);
	CU_ASSERT(strncmp(json, "{\"sweep\": [{\"mode\": \"pipeline\"", 30) ==
		  0);
	CU_ASSERT(len > 3 && strcmp(json + len - 3, "]}\n") == 0);
	second = strstr(json + 1, "}, {\"mode\": \"pipeline\"");
	CU_ASSERT_FATAL(second != NULL);
	CU_ASSERT(strstr(second + 1, "}, {\"mode\"") == NULL);
	CU_ASSERT_EQUAL(tt_json_num(json, "offered_rps"), 40.0);
	CU_ASSERT_EQUAL(tt_json_num(second, "offered_rps"), 120.0);
	req0 = tt_json_num(json, "requests");
	req1 = tt_json_num(second, "requests");
	/* Poisson counts around 20 and 60. */
	CU_ASSERT(req0 >= 5 && req0 <= 40);
	CU_ASSERT(req1 >= 30 && req1 <= 100);
	CU_ASSERT_EQUAL(tt_json_num(json, "completed"), req0);
	CU_ASSERT_EQUAL(tt_json_num(second, "completed"), req1);
	/* 20 tokens at 6 a fragment: 4 fragments out, 4 back. */
	CU_ASSERT_EQUAL(tt_json_num(json, "fragments"), 4 * req0);
	CU_ASSERT_EQUAL(tt_json_num(json, "fragments_received"), 4 * req0);
	CU_ASSERT_EQUAL(tt_json_num(second, "fragments_received"), 4 * req1);
	CU_ASSERT_EQUAL(tt_json_num(json, "lost"), 0);
	CU_ASSERT_EQUAL(tt_json_num(json, "duplicated"), 0);
	CU_ASSERT_EQUAL(tt_json_num(json, "misordered"), 0);
	CU_ASSERT_EQUAL(tt_json_num(json, "aborted"), 0);
	CU_ASSERT(tt_json_num(json, "p50_us") > 0);
	CU_ASSERT(tt_json_num(json, "p99_us") >= tt_json_num(json, "p50_us"));
	CU_ASSERT(tt_json_num(json, "achieved_rps") > 0);

	d0 = tt_slurp(dump0, &len0);
	d1 = tt_slurp(dump1, &len1);
	CU_ASSERT_FATAL(d0 != NULL && d1 != NULL);
	CU_ASSERT_EQUAL(count_lines(d0), (unsigned int)req0);
	CU_ASSERT_EQUAL(count_lines(d1), (unsigned int)req1);
	/* One seed: request k asks the same question at every rate. */
	CU_ASSERT(len0 < len1 && memcmp(d0, d1, len0) == 0);
	line = question_line(corpus, 5, 0, 20);
	CU_ASSERT(strncmp(d0, line, strlen(line)) == 0);
	free(line);
	line = question_line(corpus, 5, 3, 20);
	CU_ASSERT(strstr(d0, line) != NULL);
	free(line);

	/* A single run at the first rate dumps the same bytes. */
	snprintf(again, sizeof(again), "%s/again", tmpdir);
	{
		char *const argv[] = {(char *)gen_bin,
				      "--mode",
				      "pipeline",
				      "--server",
				      engine_ep,
				      "--request-rate",
				      "40",
				      "--duration",
				      "0.5",
				      "--question-tokens",
				      "20",
				      "--tokens-per-fragment",
				      "6",
				      "--seed",
				      "5",
				      "--drain-ms",
				      "2000",
				      "--dump",
				      again,
				      "--quiet",
				      "--check",
				      NULL};

		CU_ASSERT_EQUAL(tt_run(argv, "/dev/null", NULL), 0);
	}
	d2 = tt_slurp(again, &len2);
	CU_ASSERT_FATAL(d2 != NULL);
	CU_ASSERT(len2 == len0 && memcmp(d0, d2, len0) == 0);
	free(json);
	free(d0);
	free(d1);
	free(d2);
	sl_corpus_free(corpus);
}

static void
test_check_fails_without_results(void)
{
	char out[128], server[32], *json;
	size_t len;
	double req;

	snprintf(out, sizeof(out), "%s/lost.json", tmpdir);
	snprintf(server, sizeof(server), "127.0.0.1:%u", tt_free_port());
	{
		char *const argv[] = {
			(char *)gen_bin, "--mode",    "pipeline",
			"--server",      server,      "--request-rate",
			"100",           "--arrival", "constant",
			"--duration",    "0.2",       "--drain-ms",
			"100",           "--json",    "--check",
			"--quiet",       NULL};

		CU_ASSERT_EQUAL(tt_run(argv, out, NULL), 1);
	}
	json = tt_slurp(out, &len);
	CU_ASSERT_FATAL(json != NULL);
	req = tt_json_num(json, "requests");
	CU_ASSERT_EQUAL(req, 20);
	CU_ASSERT_EQUAL(tt_json_num(json, "lost"), req);
	CU_ASSERT_EQUAL(tt_json_num(json, "completed"), 0);
	CU_ASSERT_EQUAL(tt_json_num(json, "achieved_rps"), 0);
	CU_ASSERT(strncmp(json, "{\"mode\": \"pipeline\"", 19) == 0);
	free(json);
}

static void
test_option_checks(void)
{
	char *const no_rate[] = {(char *)gen_bin, "--mode",  "pipeline",
				 "--server",      engine_ep, NULL};
	char *const frag_rate[] = {
		(char *)gen_bin,  "--mode", "pipeline", "--server", engine_ep,
		"--request-rate", "5",      "--rate",   "100",      NULL};
	char *const both[] = {
		(char *)gen_bin,  "--mode", "pipeline", "--server", engine_ep,
		"--request-rate", "5",      "--sweep",  "1,2",      NULL};
	char *const sweep_transform[] = {(char *)gen_bin, "--server", engine_ep,
					 "--sweep",       "1,2",      NULL};
	char *const bad_mode[] = {(char *)gen_bin, "--mode",  "dag",
				  "--server",      engine_ep, NULL};

	CU_ASSERT_EQUAL(tt_run(no_rate, "/dev/null", NULL), 2);
	CU_ASSERT_EQUAL(tt_run(frag_rate, "/dev/null", NULL), 2);
	CU_ASSERT_EQUAL(tt_run(both, "/dev/null", NULL), 2);
	CU_ASSERT_EQUAL(tt_run(sweep_transform, "/dev/null", NULL), 2);
	CU_ASSERT_EQUAL(tt_run(bad_mode, "/dev/null", NULL), 2);
}

/* Lost = requests neither completed nor aborted, in transform mode too. */
static void
test_transform_lost_requests(void)
{
	char out[128], server[32], *json, *rel;

	snprintf(out, sizeof(out), "%s/tlost.json", tmpdir);
	snprintf(server, sizeof(server), "127.0.0.1:%u", tt_free_port());
	{
		char *const argv[] = {(char *)gen_bin,
				      "--server",
				      server,
				      "--requests",
				      "10",
				      "--streams",
				      "4",
				      "--fragments-per-request",
				      "3",
				      "--drain-ms",
				      "100",
				      "--json",
				      "--check",
				      "--quiet",
				      NULL};

		CU_ASSERT_EQUAL(tt_run(argv, out, NULL), 1);
	}
	json = tt_slurp(out, NULL);
	CU_ASSERT_FATAL(json != NULL);
	CU_ASSERT_EQUAL(tt_json_num(json, "requests"), 10);
	CU_ASSERT_EQUAL(tt_json_num(json, "lost"), 10);
	CU_ASSERT_EQUAL(tt_json_num(json, "fragments_lost"), 30);
	CU_ASSERT_EQUAL(tt_json_num(json, "completed"), 0);
	CU_ASSERT(strstr(json, "\"aborted_by_reason\": {}") != NULL);
	/* Nobody ACKed the requests: their ENDs were sent again. */
	rel = strstr(json, "\"rel\": {");
	CU_ASSERT_FATAL(rel != NULL);
	CU_ASSERT_EQUAL(tt_json_num(rel, "acks_received"), 0);
	CU_ASSERT(tt_json_num(rel, "end_resends") >= 10);
	free(json);
}

static struct tt_lossy lossy;

/* Run sluicegen with @args (NULL-ended, after --server) through a relay
 * to the engine that drops @drop; its JSON to @out. Return its status. */
static int
gen_through_relay(double drop, uint64_t seed, const char *out,
		  const char *const *args, struct tt_relay *r)
{
	struct sockaddr_in eng;
	char server[32];
	char *argv[40];
	unsigned int n = 0;
	uint64_t end = sl_now_ns() + 60000000000ull;
	pid_t pid;
	int status = -1;

	sl_endpoint_parse(engine_ep, false, &eng);
	tt_lossy_init(&lossy, drop, 0.01, 0.01, 2, seed);
	CU_ASSERT_FATAL(tt_relay_open(r, &eng, tt_lossy_rule, &lossy, seed) ==
			0);
	snprintf(server, sizeof(server), "127.0.0.1:%u",
		 ntohs(r->near->local.sin_port));
	argv[n++] = (char *)gen_bin;
	argv[n++] = "--server";
	argv[n++] = server;
	while (*args != NULL && n < 39)
		argv[n++] = (char *)*args++;
	argv[n] = NULL;
	pid = tt_spawn(argv, out, NULL);
	CU_ASSERT_FATAL(pid > 0);
	while (sl_now_ns() < end) {
		struct pollfd p[2] = {{.fd = r->near->fd, .events = POLLIN},
				      {.fd = r->far->fd, .events = POLLIN}};
		int st;

		poll(p, 2, 1);
		tt_relay_pump(r);
		if (waitpid(pid, &st, WNOHANG) == pid) {
			status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
			break;
		}
	}
	if (status < 0) {
		kill(pid, SIGKILL);
		tt_wait(pid);
	}
	tt_relay_close(r);
	return status;
}

static void
test_transform_through_loss(void)
{
	static const char *const args[] = {"--requests",
					   "400",
					   "--streams",
					   "16",
					   "--fragments-per-request",
					   "6",
					   "--tokens-per-fragment",
					   "3",
					   "--expect",
					   "echo",
					   "--seed",
					   "3",
					   "--drain-ms",
					   "3000",
					   "--json",
					   "--check",
					   "--quiet",
					   NULL};
	struct tt_relay r;
	char out[128], *json, *rel;

	snprintf(out, sizeof(out), "%s/lossy.json", tmpdir);
	CU_ASSERT_EQUAL(gen_through_relay(0.05, 5, out, args, &r), 0);
	json = tt_slurp(out, NULL);
	CU_ASSERT_FATAL(json != NULL);
	CU_ASSERT_EQUAL(tt_json_num(json, "requests"), 400);
	CU_ASSERT_EQUAL(tt_json_num(json, "completed"), 400);
	CU_ASSERT_EQUAL(tt_json_num(json, "fragments"), 2400);
	CU_ASSERT_EQUAL(tt_json_num(json, "fragments_received"), 2400);
	CU_ASSERT_EQUAL(tt_json_num(json, "lost"), 0);
	CU_ASSERT_EQUAL(tt_json_num(json, "duplicated"), 0);
	CU_ASSERT_EQUAL(tt_json_num(json, "misordered"), 0);
	CU_ASSERT_EQUAL(tt_json_num(json, "corrupted"), 0);
	CU_ASSERT_EQUAL(tt_json_num(json, "aborted"), 0);
	CU_ASSERT_EQUAL(tt_json_num(json, "unknown"), 0);
	CU_ASSERT(r.dropped[0] > 0 && r.dropped[1] > 0);
	CU_ASSERT(r.duplicated[0] + r.duplicated[1] > 0);
	/* Both directions were repaired: sluicegen NACKed the answers'
	 * gaps, and resent what the engine NACKed. */
	rel = strstr(json, "\"rel\": {");
	CU_ASSERT_FATAL(rel != NULL);
	CU_ASSERT(tt_json_num(rel, "nacks_sent") > 0);
	CU_ASSERT(tt_json_num(rel, "nacks_received") > 0);
	CU_ASSERT(tt_json_num(rel, "resent") > 0);
	CU_ASSERT(tt_json_num(rel, "duplicates_dropped") > 0);
	CU_ASSERT_EQUAL(tt_json_num(rel, "delivered"), 2400);
	CU_ASSERT_EQUAL(tt_json_num(rel, "acks_sent"), 400);
	CU_ASSERT_EQUAL(tt_json_num(rel, "nack_gave_up"), 0);
	CU_ASSERT_EQUAL(tt_json_num(rel, "lost_aborts_sent"), 0);
	CU_ASSERT_EQUAL(tt_json_num(rel, "gave_up"), 0);
	free(json);
}

static void
test_pipeline_through_loss(void)
{
	static const char *const args[] = {"--mode",
					   "pipeline",
					   "--request-rate",
					   "300",
					   "--arrival",
					   "constant",
					   "--duration",
					   "1",
					   "--requests",
					   "300",
					   "--question-tokens",
					   "12",
					   "--tokens-per-fragment",
					   "4",
					   "--seed",
					   "9",
					   "--drain-ms",
					   "3000",
					   "--json",
					   "--check",
					   NULL};
	struct tt_relay r;
	char out[128], *json, *rel;

	snprintf(out, sizeof(out), "%s/plossy.json", tmpdir);
	CU_ASSERT_EQUAL(gen_through_relay(0.05, 6, out, args, &r), 0);
	json = tt_slurp(out, NULL);
	CU_ASSERT_FATAL(json != NULL);
	CU_ASSERT_EQUAL(tt_json_num(json, "requests"), 300);
	CU_ASSERT_EQUAL(tt_json_num(json, "completed"), 300);
	CU_ASSERT_EQUAL(tt_json_num(json, "fragments"), 900);
	CU_ASSERT_EQUAL(tt_json_num(json, "fragments_received"), 900);
	CU_ASSERT_EQUAL(tt_json_num(json, "lost"), 0);
	CU_ASSERT_EQUAL(tt_json_num(json, "aborted"), 0);
	CU_ASSERT_EQUAL(tt_json_num(json, "corrupted"), 0);
	CU_ASSERT(r.dropped[0] > 0 && r.dropped[1] > 0);
	rel = strstr(json, "\"rel\": {");
	CU_ASSERT_FATAL(rel != NULL);
	CU_ASSERT(tt_json_num(rel, "nacks_sent") > 0);
	CU_ASSERT(tt_json_num(rel, "resent") > 0);
	CU_ASSERT_EQUAL(tt_json_num(rel, "delivered"), 900);
	CU_ASSERT_EQUAL(tt_json_num(rel, "acks_sent"), 300);
	CU_ASSERT_EQUAL(tt_json_num(rel, "gave_up"), 0);
	free(json);
}

static int
rm_tree(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd);
}

int
main(void)
{
	CU_pSuite s;
	unsigned int fails;

	engine_bin = getenv("SL_ENGINE");
	gen_bin = getenv("SL_SLUICEGEN");
	if (engine_bin == NULL || gen_bin == NULL) {
		fprintf(stderr, "SL_ENGINE/SL_SLUICEGEN not set: skipped\n");
		return 77;
	}
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	if (start_engine() < 0) {
		fprintf(stderr, "cannot start %s\n", engine_bin);
		tt_stop(&engine_pid);
		return 1;
	}
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("gen_run", NULL, NULL);
	CU_add_test(s, "sweep JSON and dumps", test_sweep_json_and_dump);
	CU_add_test(s, "--check fails when results are lost",
		    test_check_fails_without_results);
	CU_add_test(s, "option checks", test_option_checks);
	CU_add_test(s, "transform mode: lost counts requests",
		    test_transform_lost_requests);
	CU_add_test(s, "transform mode through 5% loss, dup, reorder",
		    test_transform_through_loss);
	CU_add_test(s, "pipeline mode through 5% loss, dup, reorder",
		    test_pipeline_through_loss);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	tt_stop(&engine_pid);
	rm_tree();
	return fails ? 1 : 0;
}
