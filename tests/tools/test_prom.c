/* SPDX-License-Identifier: MIT */
/*
 * test_prom.c - the tools' stats as Prometheus text (tools/openai/
 * sl_prom.c): the exact text of a stats object (nesting, booleans,
 * units of time made seconds, names sanitised, a flattened name that
 * repeats left out, label escaping), refusals, and GET /metrics served
 * over a real socket (503 before the first publish, the text after, 404
 * elsewhere).
 */
#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sl_prom.h"

static void
test_text(void)
{
	json_t *j = json_loads(
		"{\"streams\": 7, \"paused\": true, \"name\": \"x\","
		" \"busy_ms\": 1500, \"ttft_ms_mean\": 2.5,"
		" \"rel\": {\"held\": 2, \"acks-sent\": 3},"
		" \"rel_held\": 9, \"list\": [1, 2], \"none\": null}",
		0, NULL);
	struct sl_text t = {0};
	static const char want[] =
		"# HELP p_streams stats key streams\n"
		"# TYPE p_streams untyped\n"
		"p_streams{name=\"a\\\"b\\\\c\\nd\"} 7\n"
		"# HELP p_paused stats key paused\n"
		"# TYPE p_paused untyped\n"
		"p_paused{name=\"a\\\"b\\\\c\\nd\"} 1\n"
		"# HELP p_busy_seconds stats key busy_ms\n"
		"# TYPE p_busy_seconds untyped\n"
		"p_busy_seconds{name=\"a\\\"b\\\\c\\nd\"} 1.5\n"
		"# HELP p_ttft_seconds_mean stats key ttft_ms_mean\n"
		"# TYPE p_ttft_seconds_mean untyped\n"
		"p_ttft_seconds_mean{name=\"a\\\"b\\\\c\\nd\"} "
		"0.0025000000000000001\n"
		"# HELP p_rel_held stats key rel.held\n"
		"# TYPE p_rel_held untyped\n"
		"p_rel_held{name=\"a\\\"b\\\\c\\nd\"} 2\n"
		"# HELP p_rel_acks_sent stats key rel.acks-sent\n"
		"# TYPE p_rel_acks_sent untyped\n"
		"p_rel_acks_sent{name=\"a\\\"b\\\\c\\nd\"} 3\n";

	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	CU_ASSERT_EQUAL(sl_prom_from_json(j, "p", "name", "a\"b\\c\nd", &t), 0);
	CU_ASSERT_EQUAL(t.len, sizeof(want) - 1);
	CU_ASSERT_NSTRING_EQUAL(t.buf, want, sizeof(want) - 1);
	sl_text_free(&t);

	/* No label; not an object. */
	CU_ASSERT_EQUAL(sl_prom_from_json(json_object_get(j, "rel"), "q", NULL,
					  NULL, &t),
			0);
	CU_ASSERT_EQUAL(t.len, strlen("# HELP q_held stats key held\n"
				      "# TYPE q_held untyped\nq_held 2\n"
				      "# HELP q_acks_sent stats key acks-sent\n"
				      "# TYPE q_acks_sent untyped\n"
				      "q_acks_sent 3\n"));
	CU_ASSERT_EQUAL(sl_prom_from_json(json_object_get(j, "list"), "q", NULL,
					  NULL, &t),
			-EINVAL);
	sl_text_free(&t);
	json_decref(j);
}

/* One HTTP/1.0 GET of @path on 127.0.0.1:@port; the whole answer in @buf. */
static size_t
get(uint16_t port, const char *path, char *buf, size_t cap)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	size_t n = 0;
	ssize_t r;

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	dprintf(fd, "GET %s HTTP/1.0\r\n\r\n", path);
	while (n + 1 < cap && (r = read(fd, buf + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	close(fd);
	return n;
}

static void
test_serve(void)
{
	char addr[32], buf[4096];
	struct sl_prom_server *s = NULL;
	uint16_t port = 0;

	/* A free port: ask the kernel, then listen there. */
	for (int tries = 0; tries < 20 && s == NULL; tries++) {
		struct sockaddr_in a = {.sin_family = AF_INET};
		socklen_t len = sizeof(a);
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&a, sizeof(a)) ==
				0);
		getsockname(fd, (struct sockaddr *)&a, &len);
		port = ntohs(a.sin_port);
		close(fd);
		snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
		s = sl_prom_serve(addr, "test_prom");
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	get(port, "/metrics", buf, sizeof(buf));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, " 503 "));
	CU_ASSERT_EQUAL(sl_prom_publish(s, "a 1\n", 4), 0);
	CU_ASSERT_EQUAL(sl_prom_publish(s, "x_total 42\n", 11), 0);
	get(port, "/metrics", buf, sizeof(buf));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, " 200 "));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "text/plain; version=0.0.4"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\r\n\r\nx_total 42\n"));
	CU_ASSERT_PTR_NULL(strstr(buf, "a 1"));
	get(port, "/other", buf, sizeof(buf));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, " 404 "));
	sl_prom_close(s);
	CU_ASSERT_PTR_NULL(sl_prom_serve("127.0.0.1", "test_prom"));
	sl_prom_close(NULL);
}

int
main(void)
{
	CU_pSuite s;
	unsigned int fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("prom", NULL, NULL);
	CU_add_test(s, "stats object as Prometheus text", test_text);
	CU_add_test(s, "GET /metrics", test_serve);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
