/* SPDX-License-Identifier: MIT */
/*
 * test_sluicectl.c - sluicectl against the control API server with the
 * recording test backend, once per loop backend:
 *
 *   test_sluicectl uring|epoll PATH/TO/sluicectl
 *
 * Each command runs as a child process; the tests check its exit status,
 * its stdout lines (runs of spaces squashed, so column widths may change)
 * and the one stderr line of a failure, and what the backend was asked.
 * `policy set` and `tune --apply` change the backend's pool (lm of demo)
 * through SetPolicy; the pool's policy, load_bound and warm_prefixes are
 * checked afterwards.
 */
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

#include <CUnit/Basic.h>

#include "api_harness.h"

static struct harness *g_h;
static const char *g_ctl;
static char g_dir[64];

struct run {
	int rc;
	char out[65536];
	char err[4096];
};

/* Run sluicectl with --socket of the harness unless @raw; NULL-ended
 * arguments; @input goes to its stdin (NULL: /dev/null). */
static void
ctl_run(struct run *r, bool raw, const char *input, ...)
{
	const char *argv[32];
	int outp[2], errp[2], inp[2];
	size_t on = 0, en = 0;
	int n = 0, status;
	uint64_t deadline = now_ms() + 15000;
	bool out_open = true, err_open = true;
	va_list ap;
	pid_t pid;

	argv[n++] = g_ctl;
	if (!raw) {
		argv[n++] = "--socket";
		argv[n++] = harness_unix_path(g_h);
	}
	va_start(ap, input);
	while (n < 31 && (argv[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	memset(r, 0, sizeof(*r));
	if (pipe(outp) || pipe(errp) || pipe(inp)) {
		r->rc = -1;
		return;
	}
	pid = fork();
	if (pid == 0) {
		dup2(inp[0], 0);
		dup2(outp[1], 1);
		dup2(errp[1], 2);
		close(inp[1]);
		close(outp[0]);
		close(errp[0]);
		unsetenv("SLUICE_TOKEN");
		execv(g_ctl, (char *const *)argv);
		_exit(127);
	}
	close(inp[0]);
	close(outp[1]);
	close(errp[1]);
	if (input != NULL)
		(void)!write(inp[1], input, strlen(input));
	close(inp[1]);
	while ((out_open || err_open) && now_ms() < deadline) {
		struct pollfd p[2] = {{outp[0], POLLIN, 0},
				      {errp[0], POLLIN, 0}};
		ssize_t k;

		if (poll(p, 2, 200) <= 0)
			continue;
		if (out_open && (p[0].revents & (POLLIN | POLLHUP))) {
			k = read(outp[0], r->out + on, sizeof(r->out) - 1 - on);
			if (k <= 0)
				out_open = false;
			else
				on += (size_t)k;
		}
		if (err_open && (p[1].revents & (POLLIN | POLLHUP))) {
			k = read(errp[0], r->err + en, sizeof(r->err) - 1 - en);
			if (k <= 0)
				err_open = false;
			else
				en += (size_t)k;
		}
	}
	if (out_open || err_open)
		kill(pid, SIGKILL);
	close(outp[0]);
	close(errp[0]);
	waitpid(pid, &status, 0);
	r->rc = WIFEXITED(status) ? WEXITSTATUS(status)
				  : 128 + WTERMSIG(status);
}

/* @text has the line @line once runs of spaces are squashed. */
static bool
has_line(const char *text, const char *line)
{
	char buf[512];

	while (*text) {
		size_t n = 0;
		bool space = false;

		while (*text && *text != '\n') {
			if (*text == ' ') {
				if (!space && n < sizeof(buf) - 1)
					buf[n++] = ' ';
				space = true;
			} else {
				if (n < sizeof(buf) - 1)
					buf[n++] = *text;
				space = false;
			}
			text++;
		}
		buf[n] = '\0';
		if (strcmp(buf, line) == 0)
			return true;
		if (*text)
			text++;
	}
	printf("\n    missing line \"%s\"\n", line);
	return false;
}

static bool
check(const struct run *r, int rc, const char *err)
{
	if (r->rc == rc && (err == NULL || strcmp(r->err, err) == 0))
		return true;
	printf("\n    rc %d (want %d) stderr \"%s\" stdout \"%.200s\"\n", r->rc,
	       rc, r->err, r->out);
	return false;
}

static const char *
write_file(const char *name, const char *text)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", g_dir, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static struct api_backend
recorded(void)
{
	struct api_backend b;

	api_backend_snapshot(harness_backend_of(g_h), &b);
	return b;
}

static struct run R;

static void
test_version(void)
{
	ctl_run(&R, false, NULL, "version", NULL);
	CU_ASSERT(check(&R, 0, ""));
	CU_ASSERT(has_line(R.out, "sluicectl 0.1.0"));
	CU_ASSERT_PTR_NOT_NULL(strstr(R.out, "\nsluiced 0.1.0 (wire 1, "
					     "generation 1, up 0h00m"));
	ctl_run(&R, true, NULL, "--version", NULL);
	CU_ASSERT(check(&R, 0, ""));
	CU_ASSERT_STRING_EQUAL(R.out, "sluicectl 0.1.0\n");
}

static void
test_apply(void)
{
	const char *ok =
		write_file("demo.yaml", "pipelines:\n  - name: demo\n");
	const char *bad;
	struct api_backend b;
	char line[256];

	ctl_run(&R, false, NULL, "apply", "-f", ok, NULL);
	CU_ASSERT(check(&R, 0, ""));
	snprintf(line, sizeof(line), "%s: applied as generation 2", ok);
	CU_ASSERT(has_line(R.out, line));
	CU_ASSERT(has_line(R.out, " pipeline demo (id 7): 3 stages, 4 edges"));
	b = recorded();
	CU_ASSERT_STRING_EQUAL(b.last_yaml, "pipelines:\n  - name: demo\n");
	CU_ASSERT_STRING_EQUAL(b.last_name, ok);
	CU_ASSERT_FALSE(b.last_dry_run);

	ctl_run(&R, false, NULL, "apply", "--dry-run", "--file", ok, NULL);
	CU_ASSERT(check(&R, 0, ""));
	snprintf(line, sizeof(line),
		 "%s: valid (dry run, generation 2 stays in use)", ok);
	CU_ASSERT(has_line(R.out, line));
	CU_ASSERT_TRUE(recorded().last_dry_run);

	bad = write_file("bad.yaml",
			 "ERROR: demo.yaml:12: pipelines[0].stages[1]."
			 "aggregation: must be 0..1 for a stage receiving "
			 "depth 1 streams, got 3\n");
	ctl_run(&R, false, NULL, "apply", "-f", bad, NULL);
	CU_ASSERT(
		check(&R, 1,
		      "sluicectl: apply: demo.yaml:12: pipelines[0].stages[1]."
		      "aggregation: must be 0..1 for a stage receiving depth "
		      "1 streams, got 3\n"));
	CU_ASSERT_STRING_EQUAL(R.out, "");

	ctl_run(&R, false, NULL, "apply", NULL);
	CU_ASSERT(check(&R, 2, "sluicectl: apply: -f FILE is required\n"));
	ctl_run(&R, false, NULL, "apply", "-f", "/nonexistent/x.yaml", NULL);
	CU_ASSERT(check(&R, 2,
			"sluicectl: apply: cannot read /nonexistent/x.yaml: No "
			"such file or directory\n"));
	/* Empty file: refused by the server with its field. */
	ctl_run(&R, false, NULL, "apply", "-f", write_file("empty.yaml", ""),
		NULL);
	snprintf(line, sizeof(line),
		 "sluicectl: apply: yaml: %s/empty.yaml: empty pipeline file\n",
		 g_dir);
	CU_ASSERT(check(&R, 1, line));
}

static void
test_get(void)
{
	ctl_run(&R, false, NULL, "get", NULL);
	CU_ASSERT(check(&R, 0, ""));
	CU_ASSERT(has_line(R.out, "pipeline demo (id 7): 3 stages, 4 edges"));
	CU_ASSERT(has_line(R.out, " stage 1 draft: engine, aggregation 0, "
				  "depth 1, round_robin, pool lm"));
	CU_ASSERT(has_line(R.out, " stage 2 claims: engine, aggregation 1, "
				  "depth 2, least_loaded"));
	CU_ASSERT(
		has_line(R.out, " stage 3 total: sum, aggregation 1, depth 2"));
	CU_ASSERT(has_line(R.out, " instance draft-b 10.77.0.12:7801"));
	CU_ASSERT(has_line(R.out, " edge client -> draft: stream, depth 1->1"));
	CU_ASSERT(has_line(R.out, " edge draft -> claims: stream, split line, "
				  "stream_children, depth 1->2"));
	CU_ASSERT(has_line(R.out, " edge total -> client: buffer, depth 1->1"));
	CU_ASSERT_STRING_EQUAL(recorded().last_name, "");

	ctl_run(&R, false, NULL, "get", "demo", NULL);
	CU_ASSERT(check(&R, 0, ""));
	CU_ASSERT_STRING_EQUAL(recorded().last_name, "demo");
	ctl_run(&R, false, NULL, "get", "nope", NULL);
	CU_ASSERT(check(&R, 1, "sluicectl: get: name: no pipeline \"nope\"\n"));
	ctl_run(&R, false, NULL, "get", "a", "b", NULL);
	CU_ASSERT(check(&R, 2,
			"sluicectl: get: unexpected argument \"b\" (see "
			"--help)\n"));
}

static void
test_instances(void)
{
	struct api_backend b;

	ctl_run(&R, false, NULL, "instances", "--pipeline", "demo", "--stage",
		"claims", NULL);
	CU_ASSERT(check(&R, 0, ""));
	CU_ASSERT(has_line(R.out, "PIPELINE STAGE INSTANCE ADDRESS STREAMS "
				  "ROUTED FRAGMENTS STATE"));
	CU_ASSERT(has_line(R.out, "demo claims claims/0 10.77.0.21:7802 5 50 "
				  "500 active"));
	CU_ASSERT_PTR_NULL(strstr(R.out, "draft"));
	b = recorded();
	CU_ASSERT_STRING_EQUAL(b.last_pipeline, "demo");
	CU_ASSERT_STRING_EQUAL(b.last_stage, "claims");

	ctl_run(&R, false, NULL, "instances", NULL);
	CU_ASSERT(check(&R, 0, ""));
	CU_ASSERT(has_line(R.out, "demo draft draft-b 10.77.0.12:7801 0 0 0 "
				  "draining"));
	ctl_run(&R, false, NULL, "instances", "--stage", "no way", NULL);
	CU_ASSERT(check(&R, 1,
			"sluicectl: instances: stage: must be 1..31 characters "
			"of [A-Za-z0-9_.-], got \"no way\"\n"));
}

static void
test_add_remove_drain(void)
{
	struct api_backend b;

	ctl_run(&R, false, NULL, "add", "--pipeline", "demo", "--stage",
		"draft", "--name", "draft-c", "--address", "10.77.0.13:7803",
		NULL);
	CU_ASSERT(check(&R, 0, ""));
	CU_ASSERT_STRING_EQUAL(R.out,
			       "added demo/draft/draft-c 10.77.0.13:7803\n");
	b = recorded();
	CU_ASSERT_EQUAL(b.last_op, API_OP_ADD);
	CU_ASSERT_EQUAL(b.last_ip, 0x0a4d000d);
	CU_ASSERT_EQUAL(b.last_port, 7803);

	ctl_run(&R, false, NULL, "add", "--pipeline", "demo", "--stage",
		"draft", "--address", "10.0.0.1:70000", NULL);
	CU_ASSERT(check(&R, 1,
			"sluicectl: add: instance.port: must be 1..65535, got "
			"70000\n"));
	ctl_run(&R, false, NULL, "add", "--pipeline", "demo", "--stage",
		"draft", "--address", "10.0.0.1", NULL);
	CU_ASSERT(check(&R, 2,
			"sluicectl: add: --address: must be IP:PORT, got "
			"\"10.0.0.1\"\n"));
	ctl_run(&R, false, NULL, "add", "--pipeline", "demo", "--stage",
		"draft", NULL);
	CU_ASSERT(check(&R, 2,
			"sluicectl: add: --address IP:PORT is required\n"));

	ctl_run(&R, false, NULL, "remove", "--pipeline", "demo", "--stage",
		"draft", "--name", "draft-c", NULL);
	CU_ASSERT(check(&R, 0, ""));
	CU_ASSERT_STRING_EQUAL(R.out,
			       "removed demo/draft/draft-c 10.77.0.11:7801\n");
	CU_ASSERT_EQUAL(recorded().last_op, API_OP_REMOVE);
	ctl_run(&R, false, NULL, "remove", "--pipeline", "demo", "--stage",
		"draft", NULL);
	CU_ASSERT(check(&R, 2, "sluicectl: remove: --name is required\n"));

	ctl_run(&R, false, NULL, "drain", "--pipeline", "demo", "--stage",
		"draft", "--name", "draft/0", NULL);
	CU_ASSERT(check(&R, 0, ""));
	CU_ASSERT_STRING_EQUAL(R.out,
			       "draining demo/draft/draft/0 "
			       "10.77.0.11:7801 (3 streams in flight)\n");
	b = recorded();
	CU_ASSERT_EQUAL(b.last_op, API_OP_DRAIN);
	CU_ASSERT_STRING_EQUAL(b.last_instance, "draft/0");

	api_backend_fail(harness_backend_of(g_h), API_OP_DRAIN,
			 SLUICE__V1__ERROR__CODE__CODE_NOT_FOUND, "instance",
			 "no instance \"zz\" in demo/draft");
	ctl_run(&R, false, NULL, "drain", "--pipeline", "demo", "--stage",
		"draft", "--name", "zz", NULL);
	CU_ASSERT(check(&R, 1,
			"sluicectl: drain: instance: no instance \"zz\" "
			"in demo/draft\n"));
	api_backend_fail(harness_backend_of(g_h), API_OP_DRAIN, 0, NULL, NULL);
	ctl_run(&R, false, NULL, "drain", "--pipeline", NULL);
	CU_ASSERT(check(&R, 2, NULL));
	CU_ASSERT_EQUAL(strncmp(R.err, "sluicectl: drain: option ", 25), 0);
}

static void
test_stats(void)
{
	ctl_run(&R, false, NULL, "stats", NULL);
	CU_ASSERT(check(&R, 0, ""));
	CU_ASSERT_FALSE(recorded().last_reset);
	CU_ASSERT(has_line(R.out, "flows: 3 active of 65536, 40 created, 36 "
				  "ended, 1 expired"));
	CU_ASSERT(has_line(R.out, "mbufs: 600 in use of 8191 (512 at start)"));
	CU_ASSERT(has_line(R.out, "latency: 10 samples, mean 250.0 us"));
	CU_ASSERT(has_line(R.out, " <= 10us 5"));
	CU_ASSERT(has_line(R.out, " <= 1ms 3"));
	CU_ASSERT(has_line(R.out, " > 1ms 2"));
	CU_ASSERT(has_line(R.out, "drops: 15"));
	CU_ASSERT(has_line(R.out, " BAD_MAGIC 3"));
	CU_ASSERT(has_line(R.out, " TENANT_RATE 12"));
	CU_ASSERT(has_line(R.out, "demo draft 500 2000 64000 40 38 1"));
	CU_ASSERT(has_line(R.out, "demo total sum 2 10 7 1 0 0 0 0 0 4"));
	{
		/* Fragments grow per call: match the rest of the line. */
		static char sq[sizeof(R.out)];
		size_t n = 0;

		for (const char *p = R.out; *p; p++)
			if (!(*p == ' ' && n > 0 && sq[n - 1] == ' '))
				sq[n++] = *p;
		sq[n] = '\0';
		CU_ASSERT_PTR_NOT_NULL(strstr(sq, "\ndemo draft draft \"b\"\\x "
						  "10.77.0.12:7801 "));
		CU_ASSERT_PTR_NOT_NULL(strstr(sq, " 8000 1 19 draining\n"));
	}

	ctl_run(&R, false, NULL, "stats", "--reset", NULL);
	CU_ASSERT(check(&R, 0, ""));
	CU_ASSERT_TRUE(recorded().last_reset);
}

static void
test_stats_json(void)
{
	ctl_run(&R, false, NULL, "stats", "--json", NULL);
	CU_ASSERT(check(&R, 0, ""));
	/* One line, one object. */
	CU_ASSERT_EQUAL(R.out[0], '{');
	CU_ASSERT_PTR_NOT_NULL(strchr(R.out, '\n'));
	CU_ASSERT_EQUAL(strchr(R.out, '\n')[1], '\0');
	CU_ASSERT_PTR_NOT_NULL(strstr(R.out, "\"drops\":{\"BAD_MAGIC\":3,"
					     "\"TENANT_RATE\":12},"
					     "\"drops_total\":15"));
	CU_ASSERT_PTR_NOT_NULL(strstr(R.out,
				      "\"flows\":{\"active\":3,"
				      "\"capacity\":65536,\"created\":40,"
				      "\"ended\":36,\"expired\":1}"));
	CU_ASSERT_PTR_NOT_NULL(strstr(R.out, "\"mbufs\":{\"in_use\":600,"
					     "\"in_use_start\":512,"
					     "\"capacity\":8191}"));
	CU_ASSERT_PTR_NOT_NULL(strstr(R.out, "\"instance\":\"draft \\\"b\\\""
					     "\\\\x\",\"address\":"
					     "\"10.77.0.12:7801\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(R.out,
				      "\"operators\":[{\"pipeline\":"
				      "\"demo\",\"stage\":\"total\","
				      "\"kind\":\"sum\",\"groups_active\":2"));
	CU_ASSERT_PTR_NOT_NULL(strstr(R.out, "{\"le_ns\":null,\"count\":2}"));
	/* Valid JSON, by jq where installed. */
	if (system("command -v jq >/dev/null 2>&1") == 0) {
		FILE *p = popen("jq -e '.drops_total == 15' >/dev/null", "w");
		int status;

		CU_ASSERT_FATAL(p != NULL);
		fputs(R.out, p);
		status = pclose(p);
		CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	} else {
		printf("(jq not installed: JSON syntax not checked) ");
	}
}

/* ---- guards ---- */

static void
test_guard_list(void)
{
	static const char *const rows[] = {
		"GUARD ACTION RULE KIND MATCHES BLOCKS REDACTIONS",
		"forget block \"Hsiao Yun-Hwa\" literal 4 4 0",
		"forget block /\\bvx-[0-9]{3}\\b/ regex 2 2 0",
		"forget prefix \"Do not discuss the works of Hsiao Yun-Hwa.\"",
		"pii redact /\\b[0-9]{3}-[0-9]{4}\\b/ regex 7 0 7",
	};
	unsigned int calls = recorded().calls[API_OP_LIST_GUARDS];
	uint64_t gen = recorded().generation;
	char line[128];
	const char *p;
	int lines = 0;

	ctl_run(&R, false, NULL, "guard", "list", NULL);
	CU_ASSERT(check(&R, 0, ""));
	snprintf(line, sizeof(line), "generation %llu: 2 guards, 3 rules",
		 (unsigned long long)gen);
	CU_ASSERT(has_line(R.out, line));
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		CU_ASSERT(has_line(R.out, rows[i]));
	for (p = R.out; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	CU_ASSERT_EQUAL(lines, 6);
	/* The rows in order: forget's rules, its prefix, then pii. */
	CU_ASSERT(strstr(R.out, "Hsiao Yun-Hwa\"") < strstr(R.out, "vx-") &&
		  strstr(R.out, "vx-") < strstr(R.out, "forget       prefix") &&
		  strstr(R.out, "prefix") < strstr(R.out, "pii"));
	CU_ASSERT_EQUAL(recorded().calls[API_OP_LIST_GUARDS], calls + 1);

	/* A guard without rules still has its row. */
	ctl_run(&R, false, NULL, "guard", "remove", "--guard", "pii", "--regex",
		"\\b[0-9]{3}-[0-9]{4}\\b", NULL);
	CU_ASSERT(check(&R, 0, ""));
	ctl_run(&R, false, NULL, "guard", "list", NULL);
	CU_ASSERT(check(&R, 0, ""));
	snprintf(line, sizeof(line), "generation %llu: 2 guards, 2 rules",
		 (unsigned long long)gen + 1);
	CU_ASSERT(has_line(R.out, line));
	CU_ASSERT(has_line(R.out, "pii redact - - 0 0 0"));
	ctl_run(&R, false, NULL, "guard", "add", "--guard", "pii", "--regex",
		"\\b[0-9]{3}-[0-9]{4}\\b", NULL);
	CU_ASSERT(check(&R, 0, ""));

	api_backend_fail(harness_backend_of(g_h), API_OP_LIST_GUARDS,
			 SLUICE__V1__ERROR__CODE__CODE_UNAVAILABLE, "",
			 "guards not loaded yet");
	ctl_run(&R, false, NULL, "guard", "list", NULL);
	CU_ASSERT(
		check(&R, 1, "sluicectl: guard list: guards not loaded yet\n"));
	CU_ASSERT_STRING_EQUAL(R.out, "");
	api_backend_fail(harness_backend_of(g_h), API_OP_LIST_GUARDS, 0, NULL,
			 NULL);
	ctl_run(&R, false, NULL, "guard", "list", "extra", NULL);
	CU_ASSERT(check(&R, 2,
			"sluicectl: guard list: unexpected argument "
			"\"extra\" (see --help)\n"));
	ctl_run(&R, true, NULL, "--socket", "/nonexistent.sock", "guard",
		"list", NULL);
	CU_ASSERT(check(&R, 3,
			"sluicectl: guard list: cannot connect to "
			"/nonexistent.sock: No such file or directory\n"));
}

static void
test_guard_list_json(void)
{
	char want[1024];

	ctl_run(&R, false, NULL, "guard", "list", "--json", NULL);
	CU_ASSERT(check(&R, 0, ""));
	snprintf(want, sizeof(want),
		 "{\"generation\":%llu,\"guards\":["
		 "{\"name\":\"forget\",\"action\":\"block\","
		 "\"prefix\":\"Do not discuss the works of Hsiao Yun-Hwa.\","
		 "\"rules\":["
		 "{\"regex\":false,\"pattern\":\"Hsiao Yun-Hwa\","
		 "\"matches\":4,\"blocks\":4,\"redactions\":0},"
		 "{\"regex\":true,\"pattern\":\"\\\\bvx-[0-9]{3}\\\\b\","
		 "\"matches\":2,\"blocks\":2,\"redactions\":0}]},"
		 "{\"name\":\"pii\",\"action\":\"redact\",\"prefix\":\"\","
		 "\"rules\":["
		 "{\"regex\":true,\"pattern\":\"\\\\b[0-9]{3}-[0-9]{4}\\\\b\","
		 "\"matches\":0,\"blocks\":0,\"redactions\":0}]}]}\n",
		 (unsigned long long)recorded().generation);
	/* pii's rule was removed and added again by the test before: its
	 * counters start over. */
	CU_ASSERT_STRING_EQUAL(R.out, want);
	if (strcmp(R.out, want) != 0)
		printf("\n    got  %s    want %s", R.out, want);
	if (system("command -v jq >/dev/null 2>&1") == 0) {
		FILE *p = popen("jq -e '.guards[0].rules[1].pattern == "
				"\"\\\\bvx-[0-9]{3}\\\\b\"' >/dev/null",
				"w");
		int status;

		CU_ASSERT_FATAL(p != NULL);
		fputs(R.out, p);
		status = pclose(p);
		CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	} else {
		printf("(jq not installed: JSON syntax not checked) ");
	}
}

static void
test_guard_edit(void)
{
	struct api_backend b;
	char want[256];
	uint64_t gen = recorded().generation;

	ctl_run(&R, false, NULL, "guard", "add", "--guard", "forget",
		"--literal", "Tofu Island", NULL);
	CU_ASSERT(check(&R, 0, ""));
	snprintf(want, sizeof(want),
		 "added literal \"Tofu Island\" to guard forget (3 rules, "
		 "generation %llu)\n",
		 (unsigned long long)gen + 1);
	CU_ASSERT_STRING_EQUAL(R.out, want);
	b = recorded();
	CU_ASSERT_EQUAL(b.last_op, API_OP_EDIT_GUARD);
	CU_ASSERT_STRING_EQUAL(b.last_guard, "forget");
	CU_ASSERT_FALSE(b.last_remove);
	CU_ASSERT_FALSE(b.last_regex);
	CU_ASSERT_STRING_EQUAL(b.last_pattern, "Tofu Island");

	ctl_run(&R, false, NULL, "guard", "remove", "--literal", "Tofu Island",
		"--guard", "forget", NULL);
	CU_ASSERT(check(&R, 0, ""));
	snprintf(want, sizeof(want),
		 "removed literal \"Tofu Island\" from guard forget (2 "
		 "rules, generation %llu)\n",
		 (unsigned long long)gen + 2);
	CU_ASSERT_STRING_EQUAL(R.out, want);
	b = recorded();
	CU_ASSERT_TRUE(b.last_remove);
	CU_ASSERT_FALSE(b.last_regex);

	/* A regex between slashes; --opt=value works too. */
	ctl_run(&R, false, NULL, "guard", "add", "--guard=pii",
		"--regex=\\bzz-[0-9]{4}\\b", NULL);
	CU_ASSERT(check(&R, 0, ""));
	snprintf(want, sizeof(want),
		 "added regex /\\bzz-[0-9]{4}\\b/ to guard pii (2 rules, "
		 "generation %llu)\n",
		 (unsigned long long)gen + 3);
	CU_ASSERT_STRING_EQUAL(R.out, want);
	b = recorded();
	CU_ASSERT_TRUE(b.last_regex);
	CU_ASSERT_STRING_EQUAL(b.last_guard, "pii");
	CU_ASSERT_STRING_EQUAL(b.last_pattern, "\\bzz-[0-9]{4}\\b");
	ctl_run(&R, false, NULL, "guard", "remove", "--guard", "pii", "--regex",
		"\\bzz-[0-9]{4}\\b", NULL);
	CU_ASSERT(check(&R, 0, ""));
	snprintf(want, sizeof(want),
		 "removed regex /\\bzz-[0-9]{4}\\b/ from guard pii (1 rule, "
		 "generation %llu)\n",
		 (unsigned long long)gen + 4);
	CU_ASSERT_STRING_EQUAL(R.out, want);

	/* Quotes, backslashes and control characters escaped in the line;
	 * sent as given. A pattern may start with '-'. */
	ctl_run(&R, false, NULL, "guard", "add", "--guard", "forget",
		"--literal", "-say \"hi\"\t\\", NULL);
	CU_ASSERT(check(&R, 0, ""));
	snprintf(want, sizeof(want),
		 "added literal \"-say \\\"hi\\\"\\t\\\\\" to guard forget "
		 "(3 rules, generation %llu)\n",
		 (unsigned long long)gen + 5);
	CU_ASSERT_STRING_EQUAL(R.out, want);
	CU_ASSERT_STRING_EQUAL(recorded().last_pattern, "-say \"hi\"\t\\");
	ctl_run(&R, false, NULL, "guard", "remove", "--guard", "forget",
		"--literal", "-say \"hi\"\t\\", NULL);
	CU_ASSERT(check(&R, 0, ""));

	/* Refused by the backend: exit 1, its field and message. */
	ctl_run(&R, false, NULL, "guard", "add", "--guard", "nope", "--literal",
		"x", NULL);
	CU_ASSERT(check(&R, 1,
			"sluicectl: guard add: guard: no guard \"nope\"\n"));
	CU_ASSERT_STRING_EQUAL(R.out, "");
	ctl_run(&R, false, NULL, "guard", "add", "--guard", "forget",
		"--literal", "Hsiao Yun-Hwa", NULL);
	CU_ASSERT(check(&R, 1,
			"sluicectl: guard add: pattern: guard forget has "
			"literal \"Hsiao Yun-Hwa\" already\n"));
	ctl_run(&R, false, NULL, "guard", "remove", "--guard", "forget",
		"--regex", "Hsiao Yun-Hwa", NULL);
	CU_ASSERT(check(&R, 1,
			"sluicectl: guard remove: pattern: guard forget has "
			"no regex \"Hsiao Yun-Hwa\"\n"));
	ctl_run(&R, false, NULL, "guard", "add", "--guard", "pii", "--regex",
		"[0-9]+", NULL);
	CU_ASSERT(check(&R, 1,
			"sluicectl: guard add: pattern: /[0-9]+/: unbounded "
			"match width\n"));

	/* Refused by the server's checks: exit 1 too. */
	ctl_run(&R, false, NULL, "guard", "add", "--guard", "for get",
		"--literal", "x", NULL);
	CU_ASSERT(check(&R, 1,
			"sluicectl: guard add: guard: must be 1..31 "
			"characters of [A-Za-z0-9_.-], got \"for get\"\n"));
	ctl_run(&R, false, NULL, "guard", "add", "--guard", "forget",
		"--literal", "", NULL);
	CU_ASSERT(check(&R, 1, "sluicectl: guard add: pattern: required\n"));
	ctl_run(&R, false, NULL, "guard", "remove", "--guard", "forget",
		"--literal", "ok\xff", NULL);
	CU_ASSERT(check(&R, 1,
			"sluicectl: guard remove: pattern: must be valid "
			"UTF-8, got byte 0xff at offset 2\n"));
	{
		char big[600];

		memset(big, 'b', 512);
		big[512] = '\0';
		ctl_run(&R, false, NULL, "guard", "add", "--guard", "forget",
			"--literal", big, NULL);
		CU_ASSERT(check(&R, 1,
				"sluicectl: guard add: pattern: must be at "
				"most 511 bytes, got 512\n"));
	}

	/* Bad usage: exit 2, nothing sent. */
	b = recorded();
	ctl_run(&R, false, NULL, "guard", "add", "--literal", "x", NULL);
	CU_ASSERT(check(&R, 2,
			"sluicectl: guard add: --guard NAME is required\n"));
	ctl_run(&R, false, NULL, "guard", "remove", "--guard", "forget", NULL);
	CU_ASSERT(check(&R, 2,
			"sluicectl: guard remove: --literal TEXT or --regex "
			"RE is required\n"));
	ctl_run(&R, false, NULL, "guard", "add", "--guard", "forget",
		"--literal", "x", "--regex", "y", NULL);
	CU_ASSERT(check(&R, 2,
			"sluicectl: guard add: --literal and --regex exclude "
			"each other\n"));
	ctl_run(&R, false, NULL, "guard", "add", "--guard", "forget",
		"--literal", "x", "more", NULL);
	CU_ASSERT(check(&R, 2,
			"sluicectl: guard add: unexpected argument \"more\" "
			"(see --help)\n"));
	ctl_run(&R, false, NULL, "guard", "add", "--guard", NULL);
	CU_ASSERT(check(&R, 2, NULL));
	CU_ASSERT_EQUAL(strncmp(R.err, "sluicectl: guard add: option ", 29), 0);
	ctl_run(&R, false, NULL, "guard", "add", "--pipeline", "x", NULL);
	CU_ASSERT(check(&R, 2, NULL));
	CU_ASSERT_EQUAL(strncmp(R.err, "sluicectl: guard add: option ", 29), 0);
	ctl_run(&R, false, NULL, "guard", NULL);
	CU_ASSERT(check(&R, 2,
			"sluicectl: guard: a subcommand is required (see "
			"--help)\n"));
	ctl_run(&R, false, NULL, "guard", "edit", NULL);
	CU_ASSERT(check(&R, 2,
			"sluicectl: guard: unknown subcommand \"edit\" (see "
			"--help)\n"));
	ctl_run(&R, false, NULL, "guard", "--json", NULL);
	CU_ASSERT(check(&R, 2,
			"sluicectl: guard: unknown subcommand \"--json\" (see "
			"--help)\n"));
	CU_ASSERT_EQUAL(recorded().calls[API_OP_EDIT_GUARD],
			b.calls[API_OP_EDIT_GUARD]);
	CU_ASSERT_EQUAL(recorded().calls[API_OP_LIST_GUARDS],
			b.calls[API_OP_LIST_GUARDS]);

	/* Unreachable: exit 3. */
	ctl_run(&R, true, NULL, "--socket", "/nonexistent.sock", "guard", "add",
		"--guard", "forget", "--literal", "x", NULL);
	CU_ASSERT(check(&R, 3,
			"sluicectl: guard add: cannot connect to "
			"/nonexistent.sock: No such file or directory\n"));

	/* What the backend holds now is what it started with. */
	ctl_run(&R, false, NULL, "guard", "list", NULL);
	CU_ASSERT(check(&R, 0, ""));
	CU_ASSERT(has_line(R.out, "forget block \"Hsiao Yun-Hwa\" literal 4 4 "
				  "0"));
	CU_ASSERT_PTR_NULL(strstr(R.out, "Tofu"));
	CU_ASSERT_PTR_NULL(strstr(R.out, "zz-"));
}

static int
count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static void
test_top(void)
{
	const char *last;

	ctl_run(&R, false, NULL, "top", "--iterations", "3", "--interval-ms",
		"100", NULL);
	CU_ASSERT(check(&R, 0, ""));
	CU_ASSERT_EQUAL(count(R.out, "\033[H\033[2J"), 3);
	CU_ASSERT_EQUAL(count(R.out, "sluice top: generation"), 3);
	/* The first screen has no rates yet, the last has. */
	CU_ASSERT_PTR_NOT_NULL(strstr(R.out, "(-/s)"));
	last = strrchr(R.out, '\033');
	CU_ASSERT_FATAL(last != NULL);
	CU_ASSERT_PTR_NULL(strstr(last, "(-/s)"));
	CU_ASSERT_PTR_NOT_NULL(strstr(last, "PIPELINE"));
	CU_ASSERT(has_line(last, " BAD_MAGIC 3"));

	/* q on stdin ends it after the first screen. */
	ctl_run(&R, false, "q", "top", "--interval-ms", "200", NULL);
	CU_ASSERT(check(&R, 0, ""));
	CU_ASSERT_EQUAL(count(R.out, "\033[H\033[2J"), 1);

	ctl_run(&R, false, NULL, "top", "--interval-ms", "5", NULL);
	CU_ASSERT(check(&R, 2,
			"sluicectl: top: --interval-ms: must be "
			"10..4000, got \"5\"\n"));
}

static void
test_help_and_usage(void)
{
	static const char *const cmds[] = {"apply", "get",    "instances",
					   "add",   "remove", "drain",
					   "stats", "top",    "version"};
	static const char *const guard_cmds[] = {"list", "add", "remove"};
	char want[64];

	for (size_t i = 0; i < sizeof(guard_cmds) / sizeof(guard_cmds[0]);
	     i++) {
		ctl_run(&R, true, NULL, "--socket", "/nonexistent.sock",
			"guard", guard_cmds[i], "--help", NULL);
		CU_ASSERT(check(&R, 0, ""));
		snprintf(want, sizeof(want),
			 "usage: sluicectl [GLOBAL OPTIONS] guard %s",
			 guard_cmds[i]);
		CU_ASSERT_EQUAL(strncmp(R.out, want, strlen(want)), 0);
	}
	ctl_run(&R, true, NULL, "--socket", "/nonexistent.sock", "guard",
		"--help", NULL);
	CU_ASSERT(check(&R, 0, ""));
	CU_ASSERT_EQUAL(strncmp(R.out,
				"usage: sluicectl [GLOBAL OPTIONS] guard "
				"SUBCOMMAND\n",
				48),
			0);
	CU_ASSERT(has_line(R.out, " guard list [--json]"));
	CU_ASSERT(has_line(R.out, " guard add --guard NAME (--literal TEXT | "
				  "--regex RE)"));
	CU_ASSERT(has_line(R.out, " guard remove --guard NAME (--literal TEXT "
				  "| --regex RE)"));
	ctl_run(&R, true, NULL, "--help", NULL);
	CU_ASSERT(check(&R, 0, ""));
	CU_ASSERT(has_line(R.out, " guard list [--json]"));

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		ctl_run(&R, true, NULL, "--socket", "/nonexistent.sock",
			cmds[i], "--help", NULL);
		CU_ASSERT(check(&R, 0, ""));
		snprintf(want, sizeof(want),
			 "usage: sluicectl [GLOBAL OPTIONS] %s", cmds[i]);
		CU_ASSERT_EQUAL(strncmp(R.out, want, strlen(want)), 0);
	}
	ctl_run(&R, true, NULL, "--help", NULL);
	CU_ASSERT(check(&R, 0, ""));
	CU_ASSERT_EQUAL(strncmp(R.out, "usage: sluicectl ", 17), 0);
	ctl_run(&R, true, NULL, NULL);
	CU_ASSERT(check(&R, 2, NULL));
	ctl_run(&R, false, NULL, "frob", NULL);
	CU_ASSERT(check(&R, 2,
			"sluicectl: unknown command \"frob\" (see "
			"--help)\n"));
	ctl_run(&R, true, NULL, "--socket", "/nonexistent.sock", "stats", NULL);
	CU_ASSERT(check(&R, 3,
			"sluicectl: stats: cannot connect to "
			"/nonexistent.sock: No such file or "
			"directory\n"));
}

/* A token file of @mode holding @text. */
static const char *
token_file(const char *name, const char *text, mode_t mode)
{
	const char *path = write_file(name, text);

	chmod(path, mode);
	return path;
}

static void
test_tcp(void)
{
	struct harness_opts o = {.tcp = true, .ro_token = true};
	struct harness *h = harness_start(&o);
	char hostport[32], tf[128], big_path[128], want[256];
	struct api_backend b;
	size_t big_len = 300000;
	char *big;

	CU_ASSERT_FATAL(h != NULL);
	snprintf(hostport, sizeof(hostport), "127.0.0.1:%u",
		 (unsigned int)harness_tcp_port(h));
	snprintf(tf, sizeof(tf), "%s",
		 token_file("admin.token", HARNESS_TOKEN "\n", 0600));
	ctl_run(&R, true, NULL, "--tcp", hostport, "--token-file", tf,
		"version", NULL);
	CU_ASSERT(check(&R, 0, ""));
	CU_ASSERT_PTR_NOT_NULL(strstr(R.out, "\nsluiced 0.1.0 (wire 1,"));
	/* Never on the command line. */
	ctl_run(&R, true, NULL, "--tcp", hostport, "--token", HARNESS_TOKEN,
		"version", NULL);
	CU_ASSERT(check(&R, 2,
			"sluicectl: --token: a token on the command line is "
			"visible to every local user (ps); use --token-file "
			"PATH or SLUICE_TOKEN\n"));
	CU_ASSERT_STRING_EQUAL(R.out, "");
	ctl_run(&R, true, NULL, "--tcp", hostport, "--token=" HARNESS_TOKEN,
		"version", NULL);
	CU_ASSERT_EQUAL(R.rc, 2);
	/* A token file others can read is refused. */
	token_file("open.token", HARNESS_TOKEN "\n", 0644);
	snprintf(want, sizeof(want),
		 "sluicectl: --token-file %s/open.token: mode 0644 lets "
		 "group or others read or change the token; chmod 600 "
		 "%s/open.token\n",
		 g_dir, g_dir);
	ctl_run(&R, true, NULL, "--tcp", hostport, "--token-file",
		token_file("open.token", HARNESS_TOKEN "\n", 0644), "get",
		NULL);
	CU_ASSERT(check(&R, 2, want));
	ctl_run(&R, true, NULL, "--tcp", hostport, "--token-file",
		token_file("wrong.token", "nope\n", 0600), "get", NULL);
	CU_ASSERT(check(&R, 1, "sluicectl: get: token: wrong token\n"));
	ctl_run(&R, true, NULL, "--tcp", hostport, "get", NULL);
	CU_ASSERT(check(&R, 2,
			"sluicectl: --tcp needs --token-file PATH (or "
			"SLUICE_TOKEN)\n"));
	ctl_run(&R, true, NULL, "--tcp", "nocolon", "--token-file", tf, "get",
		NULL);
	CU_ASSERT(check(&R, 2,
			"sluicectl: get: --tcp: must be HOST:PORT, got "
			"\"nocolon\"\n"));
	/* The read-only token reads, and may not change. */
	ctl_run(&R, true, NULL, "--tcp", hostport, "--token-file",
		token_file("ro.token", HARNESS_RO_TOKEN, 0600), "instances",
		NULL);
	CU_ASSERT(check(&R, 0, ""));
	ctl_run(&R, true, NULL, "--tcp", hostport, "--token-file",
		token_file("ro.token", HARNESS_RO_TOKEN, 0600), "drain",
		"--pipeline", "demo", "--stage", "claims", "--name", "claims/0",
		NULL);
	CU_ASSERT(check(&R, 1,
			"sluicectl: drain: drain needs the admin role; this "
			"caller is read-only\n"));
	/* A file far over what sluiced reads before a token: sluicectl
	 * authenticates with a small request first. */
	big = malloc(big_len + 1);
	CU_ASSERT_FATAL(big != NULL);
	memset(big, '#', big_len);
	memcpy(big, "x: 1\n", 5);
	big[big_len - 1] = '\n';
	big[big_len] = '\0';
	snprintf(big_path, sizeof(big_path), "%s", write_file("big.yaml", big));
	free(big);
	ctl_run(&R, true, NULL, "--tcp", hostport, "--token-file", tf, "apply",
		"-f", big_path, NULL);
	CU_ASSERT(check(&R, 0, ""));
	api_backend_snapshot(harness_backend_of(h), &b);
	CU_ASSERT_EQUAL(b.calls[API_OP_APPLY], 1);
	CU_ASSERT_EQUAL(b.last_len, big_len);
	CU_ASSERT_EQUAL(harness_api_stats(h).preauth_too_large, 0);
	harness_stop(h);
}

/* The winner line of `tune --json`: its policy, load_bound and
 * warm_prefixes. */
static bool
tune_winner(const char *out, char *policy, double *load_bound,
	    unsigned int *warm)
{
	const char *w = strstr(out, "{\"winner\": {\"config\": ");

	if (w == NULL || (w = strstr(w, "\"policy\": \"")) == NULL)
		return false;
	return sscanf(w,
		      "\"policy\": \"%23[a-z_]\", \"load_bound\": %lf, "
		      "\"warm_prefixes\": %u}",
		      policy, load_bound, warm) == 3;
}

static void
test_policy_and_tune_apply(void)
{
	struct api_backend b;
	unsigned int sets, warm = 0;
	double lb = -1;
	char policy[24] = "", line[160];
	int want;

	ctl_run(&R, false, NULL, "policy", "show", NULL);
	CU_ASSERT(check(&R, 0, ""));
	CU_ASSERT(has_line(R.out, "demo pool lm: round_robin, load_bound "
				  "1.25, warm_prefixes 1, 2 instances, "
				  "stages draft"));
	CU_ASSERT(has_line(R.out, "demo stage draft: round_robin, pool lm"));
	/* policy set: the SetPolicy that tune --apply sends */
	ctl_run(&R, false, NULL, "policy", "set", "--pipeline", "demo",
		"--pool", "lm", "--load-bound", "1.75", "--warm-prefixes", "3",
		"least_loaded", NULL);
	CU_ASSERT(check(&R, 0, ""));
	CU_ASSERT(has_line(R.out, "demo pool lm: least_loaded, load_bound "
				  "1.75, warm_prefixes 3, 2 instances, "
				  "stages draft"));
	b = recorded();
	CU_ASSERT_EQUAL(b.last_op, API_OP_SET_POLICY);
	CU_ASSERT_STRING_EQUAL(b.last_pipeline, "demo");
	CU_ASSERT_STRING_EQUAL(b.last_pool, "lm");
	CU_ASSERT_STRING_EQUAL(b.last_stage, "");
	CU_ASSERT_EQUAL(b.last_policy,
			SLUICE__V1__BALANCE__BALANCE_LEAST_LOADED);
	CU_ASSERT_EQUAL(b.last_load_bound, 1.75);
	CU_ASSERT_EQUAL(b.last_warm_prefixes, 3);
	sets = b.calls[API_OP_SET_POLICY];

	/* tune --apply: a small simulated job, then the winner through
	 * SetPolicy on the pool; the pool holds it afterwards */
	ctl_run(&R, false, NULL, "tune", "--json", "--apply", "--pipeline",
		"demo", "--pool", "lm", "--nodes", "2", "--trials", "3",
		"--unit-requests", "3", "--max-units", "1", "--seed", "1",
		"--noise-seed", "1", NULL);
	CU_ASSERT(check(&R, 0, ""));
	CU_ASSERT_FATAL(tune_winner(R.out, policy, &lb, &warm));
	want = !strcmp(policy, "prompt_aware")
		       ? SLUICE__V1__BALANCE__BALANCE_PROMPT_AWARE
	       : !strcmp(policy, "least_loaded")
		       ? SLUICE__V1__BALANCE__BALANCE_LEAST_LOADED
	       : !strcmp(policy, "hash_request")
		       ? SLUICE__V1__BALANCE__BALANCE_HASH_REQUEST
		       : SLUICE__V1__BALANCE__BALANCE_ROUND_ROBIN;
	b = recorded();
	CU_ASSERT_EQUAL(b.calls[API_OP_SET_POLICY], sets + 1);
	CU_ASSERT_EQUAL(b.last_op, API_OP_SET_POLICY);
	CU_ASSERT_STRING_EQUAL(b.last_pipeline, "demo");
	CU_ASSERT_STRING_EQUAL(b.last_pool, "lm");
	CU_ASSERT_EQUAL(b.last_policy, want);
	CU_ASSERT_EQUAL(b.last_load_bound, lb);
	CU_ASSERT_EQUAL(b.last_warm_prefixes, warm);
	/* the pool's state: the winner's; what it leaves (0) unchanged */
	CU_ASSERT_EQUAL(b.pool.policy, want);
	CU_ASSERT_EQUAL(b.pool.load_bound, lb > 0 ? lb : 1.75);
	CU_ASSERT_EQUAL(b.pool.warm_prefixes, warm > 0 ? warm : 3);
	snprintf(line, sizeof(line),
		 "demo pool lm: %s, load_bound %.2f, warm_prefixes %u, 2 "
		 "instances, stages draft",
		 policy, lb > 0 ? lb : 1.75, warm > 0 ? warm : 3);
	CU_ASSERT(has_line(R.out, line));
	/* seeds 1/1 pick prompt_aware, load_bound 2, warm_prefixes 2: its
	 * bound and warm prefixes are applied too */
	CU_ASSERT_STRING_EQUAL(policy, "prompt_aware");
	CU_ASSERT_EQUAL(lb, 2);
	CU_ASSERT_EQUAL(warm, 2);
	CU_ASSERT(has_line(R.out, "demo pool lm: prompt_aware, load_bound "
				  "2.00, warm_prefixes 2, 2 instances, "
				  "stages draft"));

	/* --dry-run: printed, nothing sent */
	ctl_run(&R, false, NULL, "tune", "--apply", "--dry-run", "--pipeline",
		"demo", "--pool", "lm", "--nodes", "2", "--trials", "3",
		"--unit-requests", "3", "--max-units", "1", "--seed", "1",
		"--noise-seed", "1", NULL);
	CU_ASSERT(check(&R, 0, ""));
	CU_ASSERT_PTR_NOT_NULL(strstr(R.out, "\napply with: sluicectl policy "
					     "set --pipeline demo --pool lm "));
	CU_ASSERT_EQUAL(recorded().calls[API_OP_SET_POLICY], sets + 1);
	/* a pool sluiced does not have: SetPolicy's refusal, exit 1 */
	ctl_run(&R, false, NULL, "tune", "--apply", "--pipeline", "demo",
		"--pool", "gpu", "--nodes", "2", "--trials", "2",
		"--unit-requests", "3", "--max-units", "1", "--noise-seed", "1",
		NULL);
	CU_ASSERT(check(&R, 1,
			"sluicectl: tune: pool: no pool \"gpu\" in demo\n"));
	CU_ASSERT_EQUAL(recorded().calls[API_OP_SET_POLICY], sets + 2);
	CU_ASSERT_EQUAL(recorded().pool.policy, want);
}

int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} tests[] = {
		{"version", test_version},
		{"apply", test_apply},
		{"get", test_get},
		{"instances", test_instances},
		{"add, remove, drain", test_add_remove_drain},
		{"stats", test_stats},
		{"stats --json", test_stats_json},
		{"top", test_top},
		{"guard list", test_guard_list},
		{"guard list --json", test_guard_list_json},
		{"guard add, guard remove", test_guard_edit},
		{"help and usage", test_help_and_usage},
		{"tcp with token", test_tcp},
		{"policy set, tune --apply", test_policy_and_tune_apply},
	};
	char suite_name[32];
	CU_pSuite suite;
	unsigned int failed;
	int rc = harness_main_init(argc, argv);

	if (rc != 0)
		return rc;
	if (argc != 3 || access(argv[2], X_OK) != 0) {
		fprintf(stderr, "usage: %s uring|epoll SLUICECTL\n", argv[0]);
		return 2;
	}
	g_ctl = argv[2];
	snprintf(g_dir, sizeof(g_dir), "/tmp/sluicectl_test.XXXXXX");
	if (mkdtemp(g_dir) == NULL)
		return 1;
	g_h = harness_start(NULL);
	if (g_h == NULL)
		return 1;
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	snprintf(suite_name, sizeof(suite_name), "sluicectl-%s", argv[1]);
	suite = CU_add_suite(suite_name, NULL, NULL);
	for (size_t i = 0; suite && i < sizeof(tests) / sizeof(tests[0]); i++)
		CU_add_test(suite, tests[i].name, tests[i].fn);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	harness_stop(g_h);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
		(void)!system(cmd);
	}
	return failed ? 1 : 0;
}
