/* SPDX-License-Identifier: MIT */
/*
 * test_cluster.c - what sl_cluster_open (control/sl_cluster.h) refuses
 * before a node joins, against a fake etcd gateway in a thread that
 * answers every call with one canned range answer and the HTTP Date
 * header the test gives:
 *
 *   test_cluster
 *
 * - the node's clock 10 minutes ahead of etcd's, or behind it: refused,
 *   "this node's clock is +600.x s off etcd's at URL (at most 2.0 s)";
 * - a Date of now, or none: the clock passes, and an empty range is
 *   "no cluster config at /sluice/config";
 * - a live member speaking protocol 2, or with no protocol: refused;
 * - a live member already named as this node: refused;
 * - a config and a member of protocol 1: joined (nothing written).
 *
 * Needs no etcd: the gateway is the fake.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CUnit/Basic.h>

#include "fake_http.h"
#include "sl_cluster.h"

/* --- the fake gateway ---------------------------------------------- */

/* Answers every connection with the answer set last, then closes; keeps
 * the path of the last request and counts them. */
static struct fake_http g_fake = FAKE_HTTP_INIT;

/* @s in base64 (etcd's gateway spells keys and values so). */
static void
b64(const char *s, char *out)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(s), o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)(unsigned char)s[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)(unsigned char)s[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)s[i + 2];
		out[o++] = abc[v >> 18 & 63];
		out[o++] = abc[v >> 12 & 63];
		out[o++] = i + 1 < n ? abc[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? abc[v & 63] : '=';
	}
	out[o] = '\0';
}

/* One kv of a range answer (JSON, malloc'd). */
static char *
kv_json(const char *key, const char *value, int64_t mod, int64_t lease)
{
	char k[512], v[2048], *s;

	b64(key, k);
	b64(value, v);
	if (asprintf(&s,
		     "{\"key\":\"%s\",\"create_revision\":\"%lld\","
		     "\"mod_revision\":\"%lld\",\"version\":\"1\","
		     "\"value\":\"%s\",\"lease\":\"%lld\"}",
		     k, (long long)mod, (long long)mod, v,
		     (long long)lease) < 0)
		return NULL;
	return s;
}

/* The range answer at revision 9 with @kvs (a JSON list's items, "" for
 * none), its Date header @skew_s seconds from now (no Date when
 * @date is false). */
static void
fake_range(const char *kvs, bool date, long skew_s)
{
	char body[8192], hdr[128] = "", *text;
	int n;

	if (kvs[0] == '\0')
		snprintf(body, sizeof(body),
			 "{\"header\":{\"cluster_id\":\"1\",\"member_id\":"
			 "\"2\",\"revision\":\"9\",\"raft_term\":\"3\"}}");
	else
		snprintf(body, sizeof(body),
			 "{\"header\":{\"cluster_id\":\"1\",\"member_id\":"
			 "\"2\",\"revision\":\"9\",\"raft_term\":\"3\"},"
			 "\"kvs\":[%s],\"count\":\"1\"}",
			 kvs);
	if (date) {
		time_t t = time(NULL) + skew_s;
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(hdr, sizeof(hdr),
			 "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
	}
	n = asprintf(&text,
		     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		     "%sContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
		     hdr, strlen(body), body);
	CU_ASSERT_FATAL(n > 0);
	fake_http_set(&g_fake, text, (size_t)n, 0, 0);
	free(text);
}

/* sl_cluster_open as node @node on the fake: NULL expected, the error
 * in @err. */
static void
open_refused(const char *node, char *err, size_t errlen)
{
	struct sl_cluster_params p = {
		.endpoints = g_fake.url,
		.node = node,
		.version = "test",
	};
	struct sl_cluster_doc doc;
	struct sl_cluster *c;
	char path[128];

	err[0] = '\0';
	c = sl_cluster_open(&p, &doc, err, errlen);
	CU_ASSERT_PTR_NULL(c);
	sl_cluster_close(c);
	CU_ASSERT_PTR_NULL(doc.yaml);
	/* It asked etcd for everything under the prefix, once. */
	CU_ASSERT_EQUAL(fake_http_requests(&g_fake, path, sizeof(path)), 1);
	CU_ASSERT_STRING_EQUAL(path, "/v3/kv/range");
}

static void
expect_no_config(const char *err)
{
	char want[256];

	snprintf(want, sizeof(want),
		 "no cluster config at /sluice/config on %s: apply one first "
		 "(sluicectl --cluster ENDPOINTS apply FILE)",
		 g_fake.url);
	CU_ASSERT_STRING_EQUAL(err, want);
}

/* --- the tests ----------------------------------------------------- */

/* etcd's Date 10 minutes in the past: this node's clock is 600 s ahead
 * (the Date truncates to whole seconds: +600.0 up to +601.x). */
static void
test_clock_behind(void)
{
	char err[640], tail[256];

	fake_range("", true, -600);
	open_refused("n2", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "clock is"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "off etcd's"));
	CU_ASSERT_EQUAL(strncmp(err, "this node's clock is +60", 24), 0);
	CU_ASSERT(strncmp(err, "this node's clock is +600.", 26) == 0 ||
		  strncmp(err, "this node's clock is +601.", 26) == 0);
	snprintf(tail, sizeof(tail),
		 " s off etcd's at %s (at most 2.0 s): fix the clock (NTP) "
		 "before joining",
		 g_fake.url);
	CU_ASSERT(strlen(err) > strlen(tail) &&
		  strcmp(err + strlen(err) - strlen(tail), tail) == 0);
	if (strstr(err, "clock is") == NULL)
		printf("\n  got: %s", err);
}

/* etcd's Date 10 minutes ahead: this node's clock is behind. */
static void
test_clock_ahead(void)
{
	char err[640];

	fake_range("", true, 600);
	open_refused("n2", err, sizeof(err));
	CU_ASSERT(strncmp(err, "this node's clock is -600.", 26) == 0 ||
		  strncmp(err, "this node's clock is -599.", 26) == 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "off etcd's"));
}

/* A Date of now, or none: the clock passes; the range has no config. */
static void
test_clock_ok_no_config(void)
{
	char err[640];

	fake_range("", true, 0);
	open_refused("n2", err, sizeof(err));
	CU_ASSERT_PTR_NULL(strstr(err, "clock"));
	expect_no_config(err);
	fake_range("", false, 0);
	open_refused("n2", err, sizeof(err));
	expect_no_config(err);
}

/* A live member of another protocol, or of none. */
static void
test_member_protocol(void)
{
	char err[640], *kv;

	kv = kv_json("/sluice/members/n1", "{\"node\":\"n1\",\"protocol\":2}",
		     5, 7);
	CU_ASSERT_PTR_NOT_NULL_FATAL(kv);
	fake_range(kv, true, 0);
	free(kv);
	open_refused("n2", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "speaks cluster protocol 2"));
	CU_ASSERT_STRING_EQUAL(
		err, "/sluice/members/n1: member n1 speaks cluster protocol 2, "
		     "this sluiced 1: refusing to join (upgrade the cluster's "
		     "nodes together)");

	kv = kv_json("/sluice/members/n1", "{\"node\":\"n1\"}", 5, 7);
	CU_ASSERT_PTR_NOT_NULL_FATAL(kv);
	fake_range(kv, true, 0);
	free(kv);
	open_refused("n2", err, sizeof(err));
	CU_ASSERT_STRING_EQUAL(
		err, "/sluice/members/n1: member n1's record has no protocol: "
		     "refusing to join a cluster this sluiced cannot read");
}

/* A live member already has this node's name. */
static void
test_member_same_name(void)
{
	char err[640], *kv;

	kv = kv_json("/sluice/members/n2", "{\"node\":\"n2\",\"protocol\":1}",
		     5, 7);
	CU_ASSERT_PTR_NOT_NULL_FATAL(kv);
	fake_range(kv, true, 0);
	free(kv);
	open_refused("n2", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "a live member is already named"));
	CU_ASSERT_STRING_EQUAL(
		err, "/sluice/members/n2: a live member is already named n2 "
		     "(lease 7): another sluiced with --node n2? (a node that "
		     "ended leaves within its lease's TTL)");
}

/* The config and a member of protocol 1 (another name): joined. */
static void
test_open_ok(void)
{
	static const char yaml[] = "sluiced: {address: 10.0.0.1}\n";
	struct sl_cluster_params p = {
		.endpoints = g_fake.url,
		.node = "n2",
		.version = "test",
	};
	struct sl_cluster_doc doc;
	struct sl_cluster_status st;
	struct sl_cluster *c;
	char err[640] = "", *a, *b, *both;
	char names[4][32];

	a = kv_json("/sluice/config", yaml, 6, 0);
	b = kv_json("/sluice/members/n1", "{\"node\":\"n1\",\"protocol\":1}", 5,
		    7);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_FATAL(asprintf(&both, "%s,%s", a, b) > 0);
	fake_range(both, true, 0);
	free(a);
	free(b);
	free(both);
	c = sl_cluster_open(&p, &doc, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_STRING_EQUAL(doc.yaml, yaml);
	CU_ASSERT_EQUAL(doc.len, strlen(yaml));
	CU_ASSERT_EQUAL(doc.revision, 6);
	CU_ASSERT_STRING_EQUAL(doc.key, "/sluice/config");
	CU_ASSERT_EQUAL(sl_cluster_members(c, names, 4), 1);
	CU_ASSERT_STRING_EQUAL(names[0], "n1");
	sl_cluster_status(c, &st);
	CU_ASSERT_EQUAL(st.seen, 6);
	CU_ASSERT_EQUAL(st.store_revision, 9);
	CU_ASSERT_EQUAL(fake_http_requests(&g_fake, NULL, 0), 1);
	sl_cluster_doc_free(&doc);
	sl_cluster_close(c);
}

int
main(void)
{
	CU_pSuite s;
	unsigned int failures;

	if (fake_http_start(&g_fake) != 0) {
		fprintf(stderr,
			"test_cluster: cannot start the fake gateway\n");
		return 1;
	}
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("cluster open", NULL, NULL);
	if (s == NULL ||
	    !CU_add_test(s, "clock 600 s ahead of etcd's: refused",
			 test_clock_behind) ||
	    !CU_add_test(s, "clock 600 s behind etcd's: refused",
			 test_clock_ahead) ||
	    !CU_add_test(s, "clock right (or no Date): no config",
			 test_clock_ok_no_config) ||
	    !CU_add_test(s, "a member of protocol 2, of none: refused",
			 test_member_protocol) ||
	    !CU_add_test(s, "a member named as this node: refused",
			 test_member_same_name) ||
	    !CU_add_test(s, "config and a member of protocol 1: joined",
			 test_open_ok))
		return 1;
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures =
		CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	fake_http_stop(&g_fake);
	return failures == 0 ? 0 : 1;
}
