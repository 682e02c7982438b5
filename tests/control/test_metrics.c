/* SPDX-License-Identifier: MIT */
/*
 * test_metrics.c - Prometheus exposition (control/sl_metrics.h) and the
 * GET /metrics endpoint sl_api serves from the backend's stats, once per
 * loop backend:
 *
 *   test_metrics uring|epoll
 *
 * Exact lines for every kind of family, escaping, the cumulative
 * histogram, HELP and TYPE before every sample, HTTP status codes, limits,
 * and `promtool check metrics` on a real scrape when promtool is installed
 * (without it that one assertion is skipped and says so).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "api_harness.h"
#include "sl_metrics.h"

static struct harness *g_h;

static bool
has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	printf("\n    missing line: %s\n", line);
	return false;
}

/* Every sample's family was announced by # HELP and # TYPE before it. */
static bool
families_announced(const char *text)
{
	char help[256] = "", type[256] = "";
	const char *p = text;

	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		char line[512];

		if (n >= sizeof(line))
			return false;
		memcpy(line, p, n);
		line[n] = '\0';
		if (strncmp(line, "# HELP ", 7) == 0) {
			sscanf(line + 7, "%255s", help);
		} else if (strncmp(line, "# TYPE ", 7) == 0) {
			sscanf(line + 7, "%255s", type);
			if (strcmp(help, type) != 0)
				return false;
		} else {
			size_t fl = strlen(type);
			bool hist = strstr(line, "_bucket") ||
				    strstr(line, "_sum ") ||
				    strstr(line, "_count ");

			if (strncmp(line, type, fl) != 0 ||
			    !(line[fl] == ' ' || line[fl] == '{' || hist)) {
				printf("\n    unannounced: %s (family %s)\n",
				       line, type);
				return false;
			}
		}
		p += n + (eol != NULL);
	}
	return true;
}

static void
test_render(void)
{
	static const struct sl_metrics_drop drops[] = {{"BAD_MAGIC", 3},
						       {"TX_FULL", 0}};
	static const struct sl_metrics_stage stages[] = {
		{"demo", "draft", 5, 6, 7, 8, 9, 10}};
	static const struct sl_metrics_instance inst[] = {
		{"demo", "draft", "a\"b\\c\nd", 11, 12, 13, 2, 1}};
	static const struct sl_metrics_operator ops[] = {
		{"demo", "total", "sum", 2, 10, 7, 1, 0, 0, 0, 0, 0, 4}};
	static const uint64_t upper[] = {1000, 1000000, 0};
	static const uint64_t count[] = {4, 5, 1};
	static const struct sl_metrics_counter ctr[] = {
		{"sluice_test_things", "Help with \\ and\nnewline.", NULL, NULL,
		 5},
		{"sluice_test_by", "By code.", "code", "A", 1},
		{"sluice_test_by", "By code.", "code", "B", 2},
	};
	struct sl_loop_stats ls = {0};
	struct sl_metrics_snapshot s = {0};
	struct sl_metrics_buf b = {0};

	ls.accepted = 42;
	s.generation = 3;
	s.rx_packets = 100;
	s.drops = drops;
	s.n_drops = 2;
	s.stages = stages;
	s.n_stages = 1;
	s.instances = inst;
	s.n_instances = 1;
	s.operators = ops;
	s.n_operators = 1;
	s.flows.active = 9;
	s.mbufs.capacity = 8191;
	s.latency =
		(struct sl_metrics_histogram){3, upper, count, 10, 1500000123};
	s.loop = &ls;
	s.counters = ctr;
	s.n_counters = 3;
	CU_ASSERT_EQUAL_FATAL(sl_metrics_render(&s, &b), 0);
	CU_ASSERT(has_line(b.data, "# HELP sluice_config_generation Config "
				   "snapshot in use."));
	CU_ASSERT(has_line(b.data, "# TYPE sluice_config_generation gauge"));
	CU_ASSERT(has_line(b.data, "sluice_config_generation 3"));
	CU_ASSERT(has_line(b.data, "# TYPE sluice_rx_packets_total counter"));
	CU_ASSERT(has_line(b.data, "sluice_rx_packets_total 100"));
	CU_ASSERT(
		has_line(b.data, "sluice_drops_total{reason=\"BAD_MAGIC\"} 3"));
	CU_ASSERT(has_line(b.data, "sluice_drops_total{reason=\"TX_FULL\"} 0"));
	CU_ASSERT(has_line(b.data, "sluice_stage_streams_aborted_total{"
				   "pipeline=\"demo\",stage=\"draft\"} 10"));
	CU_ASSERT(has_line(
		b.data, "sluice_instance_streams_routed_total{pipeline="
			"\"demo\",stage=\"draft\",instance=\"a\\\"b\\\\c\\nd\"}"
			" 13"));
	CU_ASSERT(has_line(b.data,
			   "# TYPE sluice_instance_streams_active gauge"));
	CU_ASSERT(has_line(b.data,
			   "sluice_instance_draining{pipeline=\"demo\","
			   "stage=\"draft\",instance=\"a\\\"b\\\\c\\nd\"}"
			   " 1"));
	CU_ASSERT(has_line(b.data, "sluice_operator_groups_active{pipeline="
				   "\"demo\",stage=\"total\",kind=\"sum\"} 2"));
	CU_ASSERT(has_line(b.data, "sluice_operator_not_numeric_total{pipeline="
				   "\"demo\",stage=\"total\",kind=\"sum\"} 4"));
	CU_ASSERT(has_line(b.data, "sluice_flows_active 9"));
	CU_ASSERT(has_line(b.data, "sluice_mbufs_capacity 8191"));
	CU_ASSERT(has_line(b.data, "# TYPE sluice_fragment_residence_seconds "
				   "histogram"));
	CU_ASSERT(has_line(b.data, "sluice_fragment_residence_seconds_bucket{"
				   "le=\"1e-06\"} 4"));
	CU_ASSERT(has_line(b.data, "sluice_fragment_residence_seconds_bucket{"
				   "le=\"0.001\"} 9"));
	CU_ASSERT(has_line(b.data, "sluice_fragment_residence_seconds_bucket{"
				   "le=\"+Inf\"} 10"));
	CU_ASSERT(has_line(
		b.data, "sluice_fragment_residence_seconds_sum 1.500000123"));
	CU_ASSERT(
		has_line(b.data, "sluice_fragment_residence_seconds_count 10"));
	CU_ASSERT(has_line(b.data, "sluice_control_loop_accepted_total 42"));
	CU_ASSERT(has_line(b.data, "# HELP sluice_test_things_total Help with "
				   "\\\\ and\\nnewline."));
	CU_ASSERT(has_line(b.data, "sluice_test_things_total 5"));
	CU_ASSERT(has_line(b.data, "sluice_test_by_total{code=\"B\"} 2"));
	/* One HELP for the two-sample family. */
	CU_ASSERT_PTR_NULL(
		strstr(strstr(b.data, "# HELP sluice_test_by_total") + 1,
		       "# HELP sluice_test_by_total"));
	CU_ASSERT_TRUE(families_announced(b.data));
	sl_metrics_buf_free(&b);

	/* An empty snapshot still announces every family. */
	memset(&s, 0, sizeof(s));
	CU_ASSERT_EQUAL_FATAL(sl_metrics_render(&s, &b), 0);
	CU_ASSERT(has_line(b.data, "# TYPE sluice_drops_total counter"));
	CU_ASSERT(has_line(b.data, "sluice_fragment_residence_seconds_bucket{"
				   "le=\"+Inf\"} 0"));
	CU_ASSERT_PTR_NULL(strstr(b.data, "sluice_control_loop_"));
	CU_ASSERT_TRUE(families_announced(b.data));
	sl_metrics_buf_free(&b);
}

/* ---- over HTTP ---- */

/* Send @req, read until close; returns the whole answer (malloc'd). */
static char *
http(const char *req, size_t len)
{
	int fd = client_tcp(harness_metrics_port(g_h));
	size_t cap = 1 << 16, n = 0;
	char *out;

	if (fd < 0)
		return NULL;
	out = malloc(cap + 1);
	if (len > 0 && send_all(fd, req, len) != 0) {
		/* The server may close before reading it all. */
	}
	for (;;) {
		ssize_t r;

		if (n == cap) {
			cap *= 2;
			out = realloc(out, cap + 1);
		}
		r = recv(fd, out + n, cap - n, 0);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	out[n] = '\0';
	close(fd);
	return out;
}

static const char *
body_of(const char *resp)
{
	const char *p = strstr(resp, "\r\n\r\n");

	return p ? p + 4 : "";
}

static void
test_scrape(void)
{
	static const char get[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n"
				  "Accept: text/plain\r\n\r\n";
	char *r = http(get, sizeof(get) - 1);
	char want[64];
	const char *body;

	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT_EQUAL(strncmp(r, "HTTP/1.0 200 OK\r\n", 17), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "\r\nContent-Type: text/plain; "
					 "version=0.0.4; charset=utf-8\r\n"));
	body = body_of(r);
	snprintf(want, sizeof(want), "\r\nContent-Length: %zu\r\n",
		 strlen(body));
	CU_ASSERT_PTR_NOT_NULL(strstr(r, want));
	CU_ASSERT(has_line(body,
			   "sluice_drops_total{reason=\"TENANT_RATE\"} 12"));
	CU_ASSERT(has_line(body, "sluice_instance_bytes_total{pipeline="
				 "\"demo\",stage=\"draft\",instance="
				 "\"draft \\\"b\\\"\\\\x\"} 8000"));
	CU_ASSERT(has_line(body,
			   "sluice_instance_draining{pipeline=\"demo\","
			   "stage=\"draft\",instance=\"draft \\\"b\\\"\\\\x\"}"
			   " 1"));
	CU_ASSERT(has_line(body,
			   "sluice_operator_groups_completed_total{pipeline="
			   "\"demo\",stage=\"total\",kind=\"sum\"} 7"));
	CU_ASSERT(has_line(body, "sluice_flows_capacity 65536"));
	CU_ASSERT(has_line(body, "sluice_mbufs_in_use 600"));
	CU_ASSERT(has_line(body, "sluice_fragment_residence_seconds_bucket{"
				 "le=\"1e-05\"} 5"));
	CU_ASSERT(has_line(body, "sluice_fragment_residence_seconds_bucket{"
				 "le=\"+Inf\"} 10"));
	CU_ASSERT(has_line(body, "sluice_fragment_residence_seconds_sum "
				 "0.002500000"));
	CU_ASSERT(has_line(body, "sluice_config_generation 1"));
	CU_ASSERT(has_line(body, "sluice_api_errors_by_code_total{"
				 "code=\"BAD_REQUEST\"} 0"));
	CU_ASSERT_PTR_NOT_NULL(
		strstr(body, "\nsluice_control_loop_accepted_total "));
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "\nsluice_api_requests_total "));
	CU_ASSERT_TRUE(families_announced(body));
	/* The backend was asked without reset. */
	{
		struct api_backend b;

		api_backend_snapshot(harness_backend_of(g_h), &b);
		CU_ASSERT_FALSE(b.last_reset);
		CU_ASSERT_EQUAL(b.calls[API_OP_STATS], 1);
	}
	free(r);
}

static void
test_promtool(void)
{
	static const char get[] = "GET /metrics HTTP/1.0\r\n\r\n";
	char *r = http(get, sizeof(get) - 1);
	const char *body;
	FILE *p;
	int status;

	CU_ASSERT_FATAL(r != NULL);
	body = body_of(r);
	if (system("command -v promtool >/dev/null 2>&1") != 0) {
		printf("SKIP (promtool not installed) ");
		free(r);
		return;
	}
	p = popen("promtool check metrics", "w");
	CU_ASSERT_FATAL(p != NULL);
	fwrite(body, 1, strlen(body), p);
	status = pclose(p);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	free(r);
}

static void
test_http_errors(void)
{
	static const struct {
		const char *req;
		const char *status;
	} cases[] = {
		{"GET / HTTP/1.0\r\n\r\n", "HTTP/1.0 404 Not Found\r\n"},
		{"GET /metricsx HTTP/1.0\r\n\r\n",
		 "HTTP/1.0 404 Not Found\r\n"},
		{"POST /metrics HTTP/1.0\r\n\r\n",
		 "HTTP/1.0 404 Not Found\r\n"},
		{"HEAD /metrics HTTP/1.0\r\n\r\n",
		 "HTTP/1.0 404 Not Found\r\n"},
		{"GET /metrics?x=1 HTTP/1.0\n\n", "HTTP/1.0 200 OK\r\n"},
		{"garbage\r\n\r\n", "HTTP/1.0 400 Bad Request\r\n"},
		{"GET /metrics FTP/1.0\r\n\r\n",
		 "HTTP/1.0 400 Bad Request\r\n"},
		{"GET  /metrics HTTP/1.0 x\r\n\r\n",
		 "HTTP/1.0 400 Bad Request\r\n"},
	};
	char *big = malloc(SL_METRICS_REQUEST_MAX + 1024);
	char *r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = http(cases[i].req, strlen(cases[i].req));
		CU_ASSERT_FATAL(r != NULL);
		if (strncmp(r, cases[i].status, strlen(cases[i].status)) != 0)
			printf("\n    %zu: got \"%.40s\"\n", i, r);
		CU_ASSERT_EQUAL(
			strncmp(r, cases[i].status, strlen(cases[i].status)),
			0);
		free(r);
	}
	/* Headers over 8 KiB. */
	memcpy(big, "GET /metrics HTTP/1.0\r\nX-Pad: ", 30);
	memset(big + 30, 'a', SL_METRICS_REQUEST_MAX + 900);
	r = http(big, SL_METRICS_REQUEST_MAX + 930);
	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT_EQUAL(strncmp(r, "HTTP/1.0 431 ", 13), 0);
	free(r);
	free(big);
}

static void
test_http_slow(void)
{
	struct harness_opts o = {.idle_timeout_ms = 800, .metrics = true};
	struct harness *h = harness_start(&o);
	uint64_t t0;
	int fd;

	CU_ASSERT_FATAL(h != NULL);
	fd = client_tcp(harness_metrics_port(h));
	CU_ASSERT_FATAL(fd >= 0);
	t0 = now_ms();
	/* Headers that never end are cut off at the idle timeout. */
	for (int i = 0; i < 3; i++) {
		send_all(fd, "GET /metrics HTTP/1.0\r\nX: y\r\n", 29);
		sleep_ms(100);
	}
	CU_ASSERT_TRUE(peer_closed(fd));
	CU_ASSERT(now_ms() - t0 >= 700);
	CU_ASSERT(harness_loop_stats(h).closed_idle == 1);
	close(fd);
	harness_stop(h);
}

int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} tests[] = {
		{"render", test_render},
		{"scrape", test_scrape},
		{"promtool check metrics", test_promtool},
		{"http errors", test_http_errors},
		{"slow headers", test_http_slow},
	};
	struct harness_opts o = {.metrics = true};
	char suite_name[32];
	CU_pSuite suite;
	unsigned int failed;
	int rc = harness_main_init(argc, argv);

	if (rc != 0)
		return rc;
	g_h = harness_start(&o);
	if (g_h == NULL)
		return 1;
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	snprintf(suite_name, sizeof(suite_name), "metrics-%s", argv[1]);
	suite = CU_add_suite(suite_name, NULL, NULL);
	for (size_t i = 0; suite && i < sizeof(tests) / sizeof(tests[0]); i++)
		CU_add_test(suite, tests[i].name, tests[i].fn);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	harness_stop(g_h);
	return failed ? 1 : 0;
}
