/* SPDX-License-Identifier: MIT */
/*
 * test_etcd.c - the etcd client (control/sl_etcd.h) against a real etcd
 * (Debian's etcd-server) started on free loopback ports in a temporary
 * directory, and against a fake gateway in a thread for the answers etcd
 * never gives:
 *
 *   test_etcd
 *
 * Real etcd: put/get of text, binary, empty and 200 KiB values; prefix
 * reads (sibling keys, a 0xff last byte, the empty prefix); put_if both
 * ways; delete counts; leases granted, kept, revoked; a watch from a
 * revision (PUT and DELETE in order, stop within 300 ms, fn ending it); a
 * watch from a compacted revision; failover past a closed port and past
 * an endpoint that never answers. Fake gateway: garbage, cut and
 * mistyped answers, huge lines, a stream cut: each an exact errno.
 * Endpoint lists that sl_etcd_open refuses, with their messages.
 *
 * Exits 77 (SKIP) where /usr/bin/etcd is absent.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <curl/curl.h>

#include "fake_http.h"
#include "sl_etcd.h"

#define ETCD_BIN "/usr/bin/etcd"

static char g_dir[64];
static pid_t g_etcd;
static char g_url[64];
static int g_dead_port;
static char g_dead[64]; /* http://127.0.0.1:<a closed port> */

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A loopback socket bound to a port the kernel picked; *port: which. */
static int
bound_socket(int *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd, one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

/* --- etcd, reached directly -------------------------------------- */

struct raw_answer {
	char text[4096];
	size_t len;
};

static size_t
raw_write(char *data, size_t size, size_t n, void *arg)
{
	struct raw_answer *a = arg;
	size_t len = size * n;

	if (len > sizeof(a->text) - 1 - a->len)
		len = sizeof(a->text) - 1 - a->len;
	memcpy(a->text + a->len, data, len);
	a->len += len;
	a->text[a->len] = '\0';
	return size * n;
}

/* POST @body to @path of the test's etcd, not through the client: the
 * HTTP status, 0 when it did not answer. */
static long
raw_post(const char *path, const char *body, struct raw_answer *a)
{
	struct raw_answer scratch;
	char url[128];
	long status = 0;
	CURL *h;

	if (a == NULL)
		a = &scratch;
	a->len = 0;
	a->text[0] = '\0';
	snprintf(url, sizeof(url), "%s%s", g_url, path);
	h = curl_easy_init();
	if (h == NULL)
		return 0;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 2000L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, raw_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	return status;
}

static int
etcd_start(void)
{
	char data[96], log[96], client[64], peer[64], cluster[80];
	int fds[3], ports[3], fd;
	uint64_t deadline;
	pid_t pid;

	snprintf(g_dir, sizeof(g_dir), "/tmp/sl_etcd.XXXXXX");
	if (mkdtemp(g_dir) == NULL)
		return -1;
	/* Three distinct free ports: held together, then let go. */
	for (int i = 0; i < 3; i++)
		if ((fds[i] = bound_socket(&ports[i])) < 0)
			return -1;
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	g_dead_port = ports[2];
	snprintf(g_dead, sizeof(g_dead), "http://127.0.0.1:%d", g_dead_port);
	snprintf(g_url, sizeof(g_url), "http://127.0.0.1:%d", ports[0]);
	snprintf(client, sizeof(client), "http://127.0.0.1:%d", ports[0]);
	snprintf(peer, sizeof(peer), "http://127.0.0.1:%d", ports[1]);
	snprintf(cluster, sizeof(cluster), "t=%s", peer);
	snprintf(data, sizeof(data), "%s/data", g_dir);
	snprintf(log, sizeof(log), "%s/etcd.log", g_dir);

	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		/* Never outlive the test, whatever becomes of it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execl(ETCD_BIN, "etcd", "--name", "t", "--data-dir", data,
		      "--listen-client-urls", client, "--advertise-client-urls",
		      client, "--listen-peer-urls", peer,
		      "--initial-advertise-peer-urls", peer,
		      "--initial-cluster", cluster, (char *)NULL);
		_exit(127);
	}
	g_etcd = pid;
	deadline = mono_ms() + 20000;
	while (mono_ms() < deadline) {
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			g_etcd = 0;
			fprintf(stderr, "etcd exited early; see %s\n", log);
			return -1;
		}
		if (raw_post("/v3/kv/range", "{\"key\":\"AA==\"}", NULL) == 200)
			return 0;
		usleep(50 * 1000);
	}
	fprintf(stderr, "etcd did not answer in 20 s; see %s\n", log);
	return -1;
}

static int
etcd_stop(void)
{
	char cmd[128];

	if (g_etcd > 0) {
		kill(g_etcd, SIGTERM);
		for (int i = 0; i < 100 && waitpid(g_etcd, NULL, WNOHANG) == 0;
		     i++)
			usleep(50 * 1000);
		kill(g_etcd, SIGKILL);
		waitpid(g_etcd, NULL, 0);
		g_etcd = 0;
	}
	if (g_dir[0] == '\0')
		return 0;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
	g_dir[0] = '\0';
	return system(cmd) == 0 ? 0 : -1;
}

static struct sl_etcd *
client(const char *endpoints, long timeout_ms)
{
	char err[256];
	struct sl_etcd *e =
		sl_etcd_open(endpoints, timeout_ms, err, sizeof(err));

	if (e == NULL)
		fprintf(stderr, "sl_etcd_open: %s\n", err);
	return e;
}

/* --- the fake gateway ---------------------------------------------- */

/* Answers every connection with the bytes set last, @chunk bytes at a
 * time (0: at once), then @filler bytes of 'x', then closes. */
static struct fake_http g_fake = FAKE_HTTP_INIT;

static void
fake_text(const char *text, size_t filler)
{
	fake_http_set(&g_fake, text, strlen(text), 0, filler);
}

/* A whole answer: @status, @body as JSON. */
static void
fake_answer(int status, const char *body)
{
	char *text;
	int n;

	n = asprintf(&text,
		     "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
		     status, strlen(body), body);
	if (n < 0)
		return;
	fake_http_set(&g_fake, text, (size_t)n, 0, 0);
	free(text);
}

/* A watch stream: headers, then @lines as they are, the connection
 * closed after them (and after @filler bytes of 'x'). */
static void
fake_stream(const char *lines, size_t chunk, size_t filler)
{
	char *text;
	int n;

	n = asprintf(&text,
		     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		     "Connection: close\r\n\r\n%s",
		     lines);
	if (n < 0)
		return;
	fake_http_set(&g_fake, text, (size_t)n, chunk, filler);
	free(text);
}

/* --- the tests ----------------------------------------------------- */

static void
test_open(void)
{
	char err[256], list[512];
	struct sl_etcd *e;
	size_t off = 0;

	CU_ASSERT_PTR_NULL(sl_etcd_open("ftp://x", 0, err, sizeof(err)));
	CU_ASSERT_STRING_EQUAL(err,
			       "endpoint \"ftp://x\": not http://HOST:PORT");
	CU_ASSERT_PTR_NULL(sl_etcd_open("", 0, err, sizeof(err)));
	CU_ASSERT_STRING_EQUAL(err, "endpoint \"\": not http://HOST:PORT");
	CU_ASSERT_PTR_NULL(sl_etcd_open("http://127.0.0.1:2379,,http://b:1", 0,
					err, sizeof(err)));
	CU_ASSERT_STRING_EQUAL(err, "endpoint \"\": not http://HOST:PORT");
	CU_ASSERT_PTR_NULL(sl_etcd_open("http://a:1, http://h:65536", 0, err,
					sizeof(err)));
	CU_ASSERT_STRING_EQUAL(
		err, "endpoint \"http://h:65536\": not http://HOST:PORT");
	CU_ASSERT_PTR_NULL(
		sl_etcd_open("http://127.0.0.1", 0, err, sizeof(err)));
	CU_ASSERT_STRING_EQUAL(
		err, "endpoint \"http://127.0.0.1\": not http://HOST:PORT");
	CU_ASSERT_PTR_NULL(sl_etcd_open("http://a:1/v3", 0, err, sizeof(err)));
	CU_ASSERT_PTR_NULL(sl_etcd_open("http://a b:1", 0, err, sizeof(err)));
	CU_ASSERT_PTR_NULL(sl_etcd_open("http://a:1", -1, err, sizeof(err)));

	for (int i = 1; i <= 9; i++)
		off += (size_t)snprintf(list + off, sizeof(list) - off,
					"%shttp://127.0.0.1:%d",
					i > 1 ? "," : "", i);
	CU_ASSERT_PTR_NULL(sl_etcd_open(list, 0, err, sizeof(err)));
	CU_ASSERT_STRING_EQUAL(
		err, "endpoint \"http://127.0.0.1:9\": more than 8 endpoints");
	/* Eight is the most. */
	*strrchr(list, ',') = '\0';
	e = sl_etcd_open(list, 0, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(e);
	sl_etcd_close(e);

	e = sl_etcd_open(" http://[::1]:2379 , http://etcd-0.example:2379", 0,
			 err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_STRING_EQUAL(sl_etcd_endpoint(e), "http://[::1]:2379");
	CU_ASSERT_EQUAL(sl_etcd_server_time(e), 0);
	sl_etcd_close(e);
}

static void
test_put_get(void)
{
	static const char binary[] = {'a', '\0', 'b', '\0', '\xff', '\n'};
	struct sl_etcd *e = client(g_url, 0);
	struct sl_etcd_kvs kvs;
	int64_t rev = 0, rev2 = 0;
	size_t big_len = 200 * 1024;
	char err[256], *big;

	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_EQUAL(sl_etcd_put(e, "/kv/text", "hello", 5, 0, &rev, err,
				    sizeof(err)),
			0);
	CU_ASSERT_TRUE(rev > 1);
	CU_ASSERT_EQUAL(
		sl_etcd_get(e, "/kv/text", false, &kvs, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(kvs.n, 1);
	CU_ASSERT_EQUAL(kvs.revision, rev);
	CU_ASSERT_EQUAL(kvs.kv[0].key_len, 8);
	CU_ASSERT_STRING_EQUAL(kvs.kv[0].key, "/kv/text");
	CU_ASSERT_EQUAL(kvs.kv[0].value_len, 5);
	CU_ASSERT_STRING_EQUAL(kvs.kv[0].value, "hello");
	CU_ASSERT_EQUAL(kvs.kv[0].create_revision, rev);
	CU_ASSERT_EQUAL(kvs.kv[0].mod_revision, rev);
	CU_ASSERT_EQUAL(kvs.kv[0].version, 1);
	CU_ASSERT_EQUAL(kvs.kv[0].lease, 0);
	sl_etcd_kvs_free(&kvs);
	CU_ASSERT_EQUAL(kvs.n, 0);
	CU_ASSERT_PTR_NULL(kvs.kv);

	/* A second write: same creation, a new version. */
	CU_ASSERT_EQUAL(sl_etcd_put(e, "/kv/text", "world", 5, 0, &rev2, err,
				    sizeof(err)),
			0);
	CU_ASSERT_EQUAL(rev2, rev + 1);
	CU_ASSERT_EQUAL(
		sl_etcd_get(e, "/kv/text", false, &kvs, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(kvs.n, 1);
	CU_ASSERT_STRING_EQUAL(kvs.kv[0].value, "world");
	CU_ASSERT_EQUAL(kvs.kv[0].create_revision, rev);
	CU_ASSERT_EQUAL(kvs.kv[0].mod_revision, rev + 1);
	CU_ASSERT_EQUAL(kvs.kv[0].version, 2);
	sl_etcd_kvs_free(&kvs);

	/* NUL bytes and 0xff travel as they are. */
	CU_ASSERT_EQUAL(sl_etcd_put(e, "/kv/bin", binary, sizeof(binary), 0,
				    &rev, err, sizeof(err)),
			0);
	CU_ASSERT_EQUAL(rev, rev2 + 1);
	CU_ASSERT_EQUAL(
		sl_etcd_get(e, "/kv/bin", false, &kvs, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(kvs.n, 1);
	CU_ASSERT_EQUAL_FATAL(kvs.kv[0].value_len, sizeof(binary));
	CU_ASSERT_EQUAL(memcmp(kvs.kv[0].value, binary, sizeof(binary)), 0);
	CU_ASSERT_EQUAL(kvs.kv[0].value[sizeof(binary)], '\0');
	sl_etcd_kvs_free(&kvs);

	/* An empty value: omitted by the gateway, "" here. */
	CU_ASSERT_EQUAL(
		sl_etcd_put(e, "/kv/empty", "", 0, 0, &rev, err, sizeof(err)),
		0);
	CU_ASSERT_EQUAL(
		sl_etcd_get(e, "/kv/empty", false, &kvs, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(kvs.n, 1);
	CU_ASSERT_EQUAL(kvs.kv[0].value_len, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(kvs.kv[0].value);
	CU_ASSERT_STRING_EQUAL(kvs.kv[0].value, "");
	sl_etcd_kvs_free(&kvs);

	big = malloc(big_len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	for (size_t i = 0; i < big_len; i++)
		big[i] = (char)(i * 7 % 251);
	CU_ASSERT_EQUAL(sl_etcd_put(e, "/kv/big", big, big_len, 0, &rev, err,
				    sizeof(err)),
			0);
	CU_ASSERT_EQUAL(
		sl_etcd_get(e, "/kv/big", false, &kvs, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(kvs.n, 1);
	CU_ASSERT_EQUAL_FATAL(kvs.kv[0].value_len, big_len);
	CU_ASSERT_EQUAL(memcmp(kvs.kv[0].value, big, big_len), 0);
	CU_ASSERT_EQUAL(kvs.kv[0].mod_revision, rev);
	sl_etcd_kvs_free(&kvs);
	free(big);

	/* Missing: no keys, the store's revision. */
	CU_ASSERT_EQUAL(
		sl_etcd_get(e, "/kv/none", false, &kvs, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(kvs.n, 0);
	CU_ASSERT_PTR_NULL(kvs.kv);
	CU_ASSERT_EQUAL(kvs.revision, rev);
	sl_etcd_kvs_free(&kvs);

	/* Refused before any request. */
	CU_ASSERT_EQUAL(sl_etcd_put(e, "/kv/huge", "", SL_ETCD_VALUE_MAX + 1, 0,
				    &rev, err, sizeof(err)),
			-EINVAL);
	CU_ASSERT_EQUAL(sl_etcd_put(e, "", "x", 1, 0, &rev, err, sizeof(err)),
			-EINVAL);
	CU_ASSERT_EQUAL(sl_etcd_get(e, "", false, &kvs, err, sizeof(err)),
			-EINVAL);

	CU_ASSERT_STRING_EQUAL(sl_etcd_endpoint(e), g_url);
	CU_ASSERT_TRUE(llabs(sl_etcd_server_time(e) - (int64_t)time(NULL)) <=
		       5);
	sl_etcd_close(e);
}

static void
test_prefix(void)
{
	static const char *keys[] = {"/a/2",       "/a/1",   "/a/3",
				     "/a0",        "/a",     "/b",
				     "/p\xff\x01", "/p\xff", "/q"};
	struct sl_etcd *e = client(g_url, 0);
	struct sl_etcd_kvs kvs;
	int64_t deleted = -1;
	char err[256];

	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	/* The empty prefix is every key: start from none. */
	CU_ASSERT_EQUAL(
		sl_etcd_delete(e, "", true, &deleted, NULL, err, sizeof(err)),
		0);
	CU_ASSERT_EQUAL(deleted, 4); /* test_put_get's */
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		CU_ASSERT_EQUAL(sl_etcd_put(e, keys[i], keys[i],
					    strlen(keys[i]), 0, NULL, err,
					    sizeof(err)),
				0);

	CU_ASSERT_EQUAL(sl_etcd_get(e, "/a/", true, &kvs, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(kvs.n, 3);
	CU_ASSERT_STRING_EQUAL(kvs.kv[0].key, "/a/1");
	CU_ASSERT_STRING_EQUAL(kvs.kv[1].key, "/a/2");
	CU_ASSERT_STRING_EQUAL(kvs.kv[2].key, "/a/3");
	CU_ASSERT_STRING_EQUAL(kvs.kv[2].value, "/a/3");
	sl_etcd_kvs_free(&kvs);

	CU_ASSERT_EQUAL(sl_etcd_get(e, "/a", true, &kvs, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(kvs.n, 5);
	CU_ASSERT_STRING_EQUAL(kvs.kv[0].key, "/a");
	CU_ASSERT_STRING_EQUAL(kvs.kv[1].key, "/a/1");
	CU_ASSERT_STRING_EQUAL(kvs.kv[4].key, "/a0");
	sl_etcd_kvs_free(&kvs);

	/* A last byte of 0xff: the range ends at "/q", which is not in it. */
	CU_ASSERT_EQUAL(sl_etcd_get(e, "/p\xff", true, &kvs, err, sizeof(err)),
			0);
	CU_ASSERT_EQUAL_FATAL(kvs.n, 2);
	CU_ASSERT_STRING_EQUAL(kvs.kv[0].key, "/p\xff");
	CU_ASSERT_STRING_EQUAL(kvs.kv[1].key, "/p\xff\x01");
	sl_etcd_kvs_free(&kvs);

	CU_ASSERT_EQUAL(sl_etcd_get(e, "", true, &kvs, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(kvs.n, 9);
	sl_etcd_kvs_free(&kvs);

	CU_ASSERT_EQUAL(sl_etcd_get(e, "/c/", true, &kvs, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(kvs.n, 0);
	sl_etcd_kvs_free(&kvs);
	sl_etcd_close(e);
}

static void
test_put_if(void)
{
	struct sl_etcd *e = client(g_url, 0);
	struct sl_etcd_kvs kvs;
	int64_t rev = -1, r;
	char err[256];

	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_EQUAL(sl_etcd_get(e, "/if/k", false, &kvs, err, sizeof(err)),
			0);
	CU_ASSERT_EQUAL(kvs.n, 0);
	r = kvs.revision;
	sl_etcd_kvs_free(&kvs);

	/* Must not exist: written once, then refused. */
	CU_ASSERT_EQUAL(sl_etcd_put_if(e, "/if/k", "v1", 2, 0, 0, &rev, err,
				       sizeof(err)),
			0);
	CU_ASSERT_EQUAL(rev, r + 1);
	CU_ASSERT_EQUAL(sl_etcd_put_if(e, "/if/k", "v2", 2, 0, 0, &rev, err,
				       sizeof(err)),
			1);
	CU_ASSERT_EQUAL(rev, r + 1);

	/* At a mod_revision: the right one writes, a stale one does not. */
	CU_ASSERT_EQUAL(sl_etcd_put_if(e, "/if/k", "v3", 2, r + 1, 0, &rev, err,
				       sizeof(err)),
			0);
	CU_ASSERT_EQUAL(rev, r + 2);
	CU_ASSERT_EQUAL(sl_etcd_put_if(e, "/if/k", "v4", 2, r + 1, 0, &rev, err,
				       sizeof(err)),
			1);
	CU_ASSERT_EQUAL(rev, r + 2);
	CU_ASSERT_EQUAL(sl_etcd_get(e, "/if/k", false, &kvs, err, sizeof(err)),
			0);
	CU_ASSERT_EQUAL_FATAL(kvs.n, 1);
	CU_ASSERT_STRING_EQUAL(kvs.kv[0].value, "v3");
	CU_ASSERT_EQUAL(kvs.kv[0].mod_revision, r + 2);
	CU_ASSERT_EQUAL(kvs.revision, r + 2);
	sl_etcd_kvs_free(&kvs);

	/* A key that does not exist at an expected revision: refused, 0. */
	CU_ASSERT_EQUAL(sl_etcd_put_if(e, "/if/none", "x", 1, r + 1, 0, &rev,
				       err, sizeof(err)),
			1);
	CU_ASSERT_EQUAL(rev, 0);
	CU_ASSERT_EQUAL(
		sl_etcd_get(e, "/if/none", false, &kvs, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(kvs.n, 0);
	CU_ASSERT_EQUAL(kvs.revision, r + 2);
	sl_etcd_kvs_free(&kvs);

	CU_ASSERT_EQUAL(sl_etcd_put_if(e, "/if/k", "x", 1, -1, 0, &rev, err,
				       sizeof(err)),
			-EINVAL);
	sl_etcd_close(e);
}

static void
test_delete(void)
{
	static const char *keys[] = {"/d/1", "/d/2", "/d/3", "/d0"};
	struct sl_etcd *e = client(g_url, 0);
	struct sl_etcd_kvs kvs;
	int64_t deleted = -1, rev = 0, r = 0;
	char err[256];

	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	for (size_t i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(sl_etcd_put(e, keys[i], "v", 1, 0, &r, err,
					    sizeof(err)),
				0);
	CU_ASSERT_EQUAL(sl_etcd_delete(e, "/d/1", false, &deleted, &rev, err,
				       sizeof(err)),
			0);
	CU_ASSERT_EQUAL(deleted, 1);
	CU_ASSERT_EQUAL(rev, r + 1);
	CU_ASSERT_EQUAL(sl_etcd_delete(e, "/d/", true, &deleted, &rev, err,
				       sizeof(err)),
			0);
	CU_ASSERT_EQUAL(deleted, 2);
	CU_ASSERT_EQUAL(rev, r + 2);
	/* Nothing left: no new revision. */
	CU_ASSERT_EQUAL(sl_etcd_delete(e, "/d/", true, &deleted, &rev, err,
				       sizeof(err)),
			0);
	CU_ASSERT_EQUAL(deleted, 0);
	CU_ASSERT_EQUAL(rev, r + 2);
	CU_ASSERT_EQUAL(
		sl_etcd_delete(e, "/d/1", false, NULL, &rev, err, sizeof(err)),
		0);
	CU_ASSERT_EQUAL(sl_etcd_get(e, "/d0", false, &kvs, err, sizeof(err)),
			0);
	CU_ASSERT_EQUAL(kvs.n, 1);
	sl_etcd_kvs_free(&kvs);
	sl_etcd_close(e);
}

static void
test_lease(void)
{
	struct sl_etcd *e = client(g_url, 0);
	int64_t id = 0, ttl = 0, rev;
	struct sl_etcd_kvs kvs;
	char err[256];

	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_EQUAL(sl_etcd_lease_grant(e, 30, &id, err, sizeof(err)), 0);
	CU_ASSERT_TRUE(id > 0);
	CU_ASSERT_EQUAL(sl_etcd_lease_keepalive(e, id, &ttl, err, sizeof(err)),
			0);
	CU_ASSERT_EQUAL(ttl, 30);
	CU_ASSERT_EQUAL(
		sl_etcd_put(e, "/l/k", "v", 1, id, &rev, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(sl_etcd_get(e, "/l/k", false, &kvs, err, sizeof(err)),
			0);
	CU_ASSERT_EQUAL_FATAL(kvs.n, 1);
	CU_ASSERT_EQUAL(kvs.kv[0].lease, id);
	sl_etcd_kvs_free(&kvs);

	/* Revoked: its key goes with it, and it is gone for every call. */
	CU_ASSERT_EQUAL(sl_etcd_lease_revoke(e, id, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(sl_etcd_get(e, "/l/k", false, &kvs, err, sizeof(err)),
			0);
	CU_ASSERT_EQUAL(kvs.n, 0);
	sl_etcd_kvs_free(&kvs);
	CU_ASSERT_EQUAL(sl_etcd_lease_keepalive(e, id, &ttl, err, sizeof(err)),
			-ENOENT);
	CU_ASSERT_EQUAL(sl_etcd_lease_revoke(e, id, err, sizeof(err)), -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(
		strstr(err, "\"etcdserver: requested lease not found\""));
	CU_ASSERT_EQUAL(
		sl_etcd_put(e, "/l/k", "v", 1, id, &rev, err, sizeof(err)),
		-ENOENT);
	CU_ASSERT_EQUAL(sl_etcd_lease_grant(e, 0, &id, err, sizeof(err)),
			-EINVAL);
	sl_etcd_close(e);
}

/* What a watch saw, for the main thread to read. */
struct seen {
	pthread_mutex_t lock;
	size_t n;
	size_t calls;
	struct {
		bool deleted;
		char key[16];
		char value[16];
		int64_t mod_revision;
	} ev[16];
	int64_t last_revision;
	int bad_revision; /* a response older than its events */
	int stop_after;   /* fn returns 1 on this call (0: never) */
};

static int
seen_fn(void *arg, const struct sl_etcd_event *ev, size_t n, int64_t revision)
{
	struct seen *s = arg;
	int done;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < n && s->n < 16; i++, s->n++) {
		s->ev[s->n].deleted = ev[i].deleted;
		snprintf(s->ev[s->n].key, sizeof(s->ev[0].key), "%s",
			 ev[i].kv.key);
		snprintf(s->ev[s->n].value, sizeof(s->ev[0].value), "%s",
			 ev[i].kv.value);
		s->ev[s->n].mod_revision = ev[i].kv.mod_revision;
		if (ev[i].kv.mod_revision > revision)
			s->bad_revision++;
	}
	s->last_revision = revision;
	done = ++s->calls == (size_t)s->stop_after;
	pthread_mutex_unlock(&s->lock);
	return done;
}

static size_t
seen_n(struct seen *s)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = s->n;
	pthread_mutex_unlock(&s->lock);
	return n;
}

struct watch_run {
	struct sl_etcd *e;
	const char *prefix;
	int64_t start;
	struct seen *seen;
	volatile bool stop;
	volatile uint64_t heard_ms;
	uint64_t ended_ms;
	int rc;
	char err[256];
};

static void *
watch_thread(void *arg)
{
	struct watch_run *w = arg;

	w->rc = sl_etcd_watch(w->e, w->prefix, w->start, seen_fn, w->seen,
			      &w->stop, &w->heard_ms, w->err, sizeof(w->err));
	w->ended_ms = mono_ms();
	return NULL;
}

static bool
wait_events(struct seen *s, size_t n)
{
	uint64_t deadline = mono_ms() + 5000;

	while (seen_n(s) < n && mono_ms() < deadline)
		usleep(10 * 1000);
	return seen_n(s) >= n;
}

static void
test_watch(void)
{
	struct seen s = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct watch_run w = {.prefix = "/w/", .seen = &s};
	struct sl_etcd *c = client(g_url, 0);
	int64_t r1, r2, r3, r4, rx;
	char err[256], list[160];
	uint64_t stopped;
	pthread_t t;

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	/* The watch's client starts on a closed port and moves on. */
	snprintf(list, sizeof(list), "%s,%s", g_dead, g_url);
	w.e = client(list, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w.e);
	CU_ASSERT_EQUAL(
		sl_etcd_put(c, "/w/1", "a", 1, 0, &r1, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(sl_etcd_put(c, "/wx", "x", 1, 0, &rx, err, sizeof(err)),
			0);
	CU_ASSERT_EQUAL(
		sl_etcd_put(c, "/w/2", "b", 1, 0, &r2, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(
		sl_etcd_delete(c, "/w/1", false, NULL, &r3, err, sizeof(err)),
		0);
	CU_ASSERT_EQUAL(r3, r1 + 3);

	w.start = r1;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, watch_thread, &w), 0);
	CU_ASSERT_TRUE(wait_events(&s, 3));
	/* A write while it watches. */
	CU_ASSERT_EQUAL(
		sl_etcd_put(c, "/w/3", "c", 1, 0, &r4, err, sizeof(err)), 0);
	CU_ASSERT_TRUE(wait_events(&s, 4));
	usleep(150 * 1000);
	stopped = mono_ms();
	w.stop = true;
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(w.rc, 0);
	CU_ASSERT_TRUE(w.ended_ms - stopped < 300);

	CU_ASSERT_EQUAL_FATAL(s.n, 4);
	CU_ASSERT_FALSE(s.ev[0].deleted);
	CU_ASSERT_STRING_EQUAL(s.ev[0].key, "/w/1");
	CU_ASSERT_STRING_EQUAL(s.ev[0].value, "a");
	CU_ASSERT_EQUAL(s.ev[0].mod_revision, r1);
	CU_ASSERT_FALSE(s.ev[1].deleted);
	CU_ASSERT_STRING_EQUAL(s.ev[1].key, "/w/2");
	CU_ASSERT_STRING_EQUAL(s.ev[1].value, "b");
	CU_ASSERT_EQUAL(s.ev[1].mod_revision, r2);
	CU_ASSERT_TRUE(s.ev[2].deleted);
	CU_ASSERT_STRING_EQUAL(s.ev[2].key, "/w/1");
	CU_ASSERT_STRING_EQUAL(s.ev[2].value, "");
	CU_ASSERT_EQUAL(s.ev[2].mod_revision, r3);
	CU_ASSERT_FALSE(s.ev[3].deleted);
	CU_ASSERT_STRING_EQUAL(s.ev[3].key, "/w/3");
	CU_ASSERT_EQUAL(s.ev[3].mod_revision, r4);
	CU_ASSERT_EQUAL(s.last_revision, r4);
	CU_ASSERT_EQUAL(s.bad_revision, 0);
	CU_ASSERT_TRUE(w.heard_ms > 0 && w.heard_ms <= stopped);
	CU_ASSERT_STRING_EQUAL(sl_etcd_endpoint(w.e), g_url);

	/* A quiet watch stops as promptly, between curl's own wake-ups. */
	w.ended_ms = 0;
	w.stop = false;
	w.start = r4 + 1;
	s.n = 0;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, watch_thread, &w), 0);
	usleep(450 * 1000);
	stopped = mono_ms();
	w.stop = true;
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(w.rc, 0);
	CU_ASSERT_TRUE(w.ended_ms - stopped < 300);
	CU_ASSERT_EQUAL(s.n, 0);

	/* fn ends it: 0 after exactly one call. */
	memset(s.ev, 0, sizeof(s.ev));
	s.n = s.calls = 0;
	s.stop_after = 1;
	CU_ASSERT_EQUAL(sl_etcd_watch(w.e, "/w/", r4, seen_fn, &s, NULL, NULL,
				      err, sizeof(err)),
			0);
	CU_ASSERT_EQUAL(s.calls, 1);
	CU_ASSERT_EQUAL(s.n, 1);
	CU_ASSERT_STRING_EQUAL(s.ev[0].key, "/w/3");

	CU_ASSERT_EQUAL(sl_etcd_watch(w.e, "/w/", 0, seen_fn, &s, NULL, NULL,
				      err, sizeof(err)),
			-EINVAL);
	sl_etcd_close(w.e);
	sl_etcd_close(c);
}

static void
test_compacted(void)
{
	struct seen s = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct sl_etcd *e = client(g_url, 0);
	char err[256], body[64];
	int64_t rev;

	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_EQUAL(
		sl_etcd_put(e, "/c/k", "v", 1, 0, &rev, err, sizeof(err)), 0);
	snprintf(body, sizeof(body), "{\"revision\":\"%lld\"}", (long long)rev);
	CU_ASSERT_EQUAL_FATAL(raw_post("/v3/kv/compaction", body, NULL), 200);
	CU_ASSERT_EQUAL(sl_etcd_watch(e, "/c/", rev - 1, seen_fn, &s, NULL,
				      NULL, err, sizeof(err)),
			-ESTALE);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "compacted up to"));
	CU_ASSERT_EQUAL(s.calls, 0);
	sl_etcd_close(e);
}

static void
test_failover(void)
{
	struct sl_etcd_kvs kvs;
	char err[256], list[256];
	struct sl_etcd *e;
	int hole, hole_port;
	uint64_t t0;

	snprintf(list, sizeof(list), "%s,%s", g_dead, g_url);
	e = client(list, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_STRING_EQUAL(sl_etcd_endpoint(e), g_dead);
	CU_ASSERT_EQUAL(
		sl_etcd_put(e, "/f/k", "v", 1, 0, NULL, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(sl_etcd_endpoint(e), g_url);
	sl_etcd_close(e);

	/* Every endpoint closed: refused at once. */
	snprintf(list, sizeof(list), "%s,%s", g_dead, g_dead);
	e = client(list, 500);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	t0 = mono_ms();
	CU_ASSERT_EQUAL(sl_etcd_get(e, "/f/k", false, &kvs, err, sizeof(err)),
			-ECONNREFUSED);
	CU_ASSERT_TRUE(mono_ms() - t0 < 500);
	CU_ASSERT_EQUAL(strncmp(err, "etcd http://127.0.0.1:", 22), 0);
	CU_ASSERT_EQUAL(kvs.n, 0);
	sl_etcd_kvs_free(&kvs);
	sl_etcd_close(e);

	/* An endpoint that takes the connection and never answers: the
	 * timeout, then the next endpoint. */
	hole = bound_socket(&hole_port);
	CU_ASSERT_FATAL(hole >= 0 && listen(hole, 8) == 0);
	snprintf(list, sizeof(list), "http://127.0.0.1:%d", hole_port);
	e = client(list, 300);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	t0 = mono_ms();
	CU_ASSERT_EQUAL(sl_etcd_get(e, "/f/k", false, &kvs, err, sizeof(err)),
			-ETIMEDOUT);
	CU_ASSERT_TRUE(mono_ms() - t0 >= 250 && mono_ms() - t0 < 1500);
	sl_etcd_kvs_free(&kvs);
	sl_etcd_close(e);

	snprintf(list, sizeof(list), "http://127.0.0.1:%d,%s", hole_port,
		 g_url);
	e = client(list, 300);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	t0 = mono_ms();
	CU_ASSERT_EQUAL(sl_etcd_get(e, "/f/k", false, &kvs, err, sizeof(err)),
			0);
	CU_ASSERT_TRUE(mono_ms() - t0 < 1500);
	CU_ASSERT_EQUAL(kvs.n, 1);
	CU_ASSERT_STRING_EQUAL(sl_etcd_endpoint(e), g_url);
	sl_etcd_kvs_free(&kvs);
	sl_etcd_close(e);
	close(hole);
}

/* One call on the fake gateway, picked by name. */
enum fake_call {
	FAKE_GET,
	FAKE_PUT,
	FAKE_PUT_IF,
	FAKE_DELETE,
	FAKE_GRANT,
	FAKE_KEEPALIVE,
};

static int
fake_call(struct sl_etcd *e, enum fake_call call, char *err, size_t errlen)
{
	struct sl_etcd_kvs kvs;
	int64_t v;
	int rc;

	switch (call) {
	case FAKE_GET:
		rc = sl_etcd_get(e, "/k", true, &kvs, err, errlen);
		if (rc < 0 && (kvs.n != 0 || kvs.kv != NULL))
			rc = -1000; /* not left empty */
		sl_etcd_kvs_free(&kvs);
		return rc;
	case FAKE_PUT:
		return sl_etcd_put(e, "/k", "v", 1, 0, &v, err, errlen);
	case FAKE_PUT_IF:
		return sl_etcd_put_if(e, "/k", "v", 1, 3, 0, &v, err, errlen);
	case FAKE_DELETE:
		return sl_etcd_delete(e, "/k", false, &v, &v, err, errlen);
	case FAKE_GRANT:
		return sl_etcd_lease_grant(e, 5, &v, err, errlen);
	case FAKE_KEEPALIVE:
		return sl_etcd_lease_keepalive(e, 7, &v, err, errlen);
	}
	return -1000;
}

#define HDR "\"header\":{\"revision\":\"2\"}"

static void
test_fake_answers(void)
{
	static const struct {
		enum fake_call call;
		int status;
		const char *body;
		int rc;
	} cases[] = {
		{FAKE_PUT, 200, "{" HDR "}", 0},
		{FAKE_GET, 200, "hello", -EPROTO},
		{FAKE_GET, 200, "", -EPROTO},
		{FAKE_PUT, 200, "{\"header\":{\"revision\":\"2\"", -EPROTO},
		{FAKE_PUT, 200, "[1,2]", -EPROTO},
		{FAKE_PUT, 200, "\"header\"", -EPROTO},
		{FAKE_PUT, 200, "{}", -EPROTO},
		{FAKE_PUT, 200, "{\"header\":[]}", -EPROTO},
		{FAKE_PUT, 200, "{\"header\":{\"revision\":2}}", -EPROTO},
		{FAKE_PUT, 200, "{\"header\":{\"revision\":\"2x\"}}", -EPROTO},
		{FAKE_PUT, 200, "{\"header\":{\"revision\":\" 2\"}}", -EPROTO},
		{FAKE_PUT, 200, "{\"header\":{\"revision\":\"\"}}", -EPROTO},
		{FAKE_PUT, 200, "{\"header\":{\"revision\":\"-3\"}}", -EPROTO},
		{FAKE_PUT, 200,
		 "{\"header\":{\"revision\":\"99999999999999999999\"}}",
		 -EPROTO},
		{FAKE_PUT, 200, "{" HDR "," HDR "}", -EPROTO},
		{FAKE_GET, 200, "{" HDR ",\"kvs\":{}}", -EPROTO},
		{FAKE_GET, 200, "{" HDR ",\"kvs\":[\"x\"]}", -EPROTO},
		{FAKE_GET, 200, "{" HDR ",\"kvs\":[{\"mod_revision\":\"2\"}]}",
		 -EPROTO},
		{FAKE_GET, 200,
		 "{" HDR ",\"kvs\":[{\"key\":\"L2s=\",\"mod_revision\":\"2\"},"
		 "{\"key\":\"L2s=\",\"value\":\"@@@@\",\"mod_revision\":\"2\"}]"
		 "}",
		 -EPROTO},
		{FAKE_GET, 200,
		 "{" HDR ",\"kvs\":[{\"key\":\"L2s\",\"mod_revision\":\"2\"}]}",
		 -EPROTO},
		{FAKE_GET, 200,
		 "{" HDR ",\"kvs\":[{\"key\":\"L2s=\",\"value\":\"d=g=\","
		 "\"mod_revision\":\"2\"}]}",
		 -EPROTO},
		{FAKE_GET, 200,
		 "{" HDR ",\"kvs\":[{\"key\":\"L2s=\",\"value\":7,"
		 "\"mod_revision\":\"2\"}]}",
		 -EPROTO},
		{FAKE_GET, 200,
		 "{" HDR ",\"kvs\":[{\"key\":\"L2s=\",\"mod_revision\":\"2\","
		 "\"lease\":\"-1\"}]}",
		 -EPROTO},
		{FAKE_GET, 200,
		 "{" HDR
		 ",\"kvs\":[{\"key\":\"L2s=\",\"mod_revision\":\"2\"}]}",
		 0},
		{FAKE_PUT_IF, 200, "{" HDR ",\"succeeded\":\"yes\"}", -EPROTO},
		{FAKE_PUT_IF, 200, "{" HDR "}", -EPROTO},
		{FAKE_PUT_IF, 200, "{" HDR ",\"responses\":[{}]}", -EPROTO},
		{FAKE_PUT_IF, 200,
		 "{" HDR ",\"responses\":[{\"response_range\":{" HDR "}}]}", 1},
		{FAKE_DELETE, 200, "{" HDR ",\"deleted\":true}", -EPROTO},
		{FAKE_GRANT, 200, "{" HDR ",\"ID\":\"0\",\"TTL\":\"5\"}",
		 -EPROTO},
		{FAKE_GRANT, 200, "{" HDR ",\"ID\":\"9\"}", -EPROTO},
		{FAKE_GRANT, 200, "{" HDR ",\"ID\":\"9\",\"TTL\":\"5\"}", 0},
		{FAKE_KEEPALIVE, 200, "{" HDR "}", -EPROTO},
		{FAKE_KEEPALIVE, 200,
		 "{\"result\":{" HDR ",\"ID\":\"8\",\"TTL\":\"5\"}}", -EPROTO},
		{FAKE_KEEPALIVE, 200,
		 "{\"result\":{" HDR ",\"ID\":\"7\",\"TTL\":5}}", -EPROTO},
		{FAKE_KEEPALIVE, 200, "{\"result\":{" HDR ",\"ID\":\"7\"}}",
		 -ENOENT},
		{FAKE_KEEPALIVE, 200,
		 "{\"error\":{\"grpc_code\":5,\"http_code\":404,"
		 "\"message\":\"gone\"}}",
		 -ENOENT},
		{FAKE_PUT, 500, "<html>oops</html>", -EPROTO},
		{FAKE_PUT, 500, "{\"error\":3}", -EPROTO},
		{FAKE_PUT, 400, "{\"message\":\"m\",\"code\":\"3\"}", -EPROTO},
		{FAKE_PUT, 503,
		 "{\"error\":\"x\",\"message\":\"no leader\",\"code\":14}",
		 -EIO},
		{FAKE_PUT, 404,
		 "{\"error\":\"x\",\"message\":\"lease not found\",\"code\":5}",
		 -ENOENT},
	};
	char err[256], expect[256], *deep;
	struct sl_etcd *e = client(g_fake.url, 1000);
	size_t deep_len = 100000;

	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;

		fake_answer(cases[i].status, cases[i].body);
		rc = fake_call(e, cases[i].call, err, sizeof(err));
		CU_ASSERT_EQUAL(rc, cases[i].rc);
		if (rc != cases[i].rc)
			fprintf(stderr, "\ncase %zu (%s): %d, not %d: %s\n", i,
				cases[i].body, rc, cases[i].rc, err);
	}

	/* The gateway's message, quoted on one line. */
	fake_answer(400, "{\"error\":\"x\",\"message\":\"etcdserver: a\\nb\","
			 "\"code\":3}");
	CU_ASSERT_EQUAL(fake_call(e, FAKE_PUT, err, sizeof(err)), -EIO);
	snprintf(expect, sizeof(expect),
		 "etcd %s/v3/kv/put: \"etcdserver: a?b\"", g_fake.url);
	CU_ASSERT_STRING_EQUAL(err, expect);

	/* Nested past jansson's depth limit. */
	deep = malloc(deep_len + 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(deep);
	memset(deep, '[', deep_len);
	deep[deep_len] = '\0';
	fake_answer(200, deep);
	CU_ASSERT_EQUAL(fake_call(e, FAKE_GET, err, sizeof(err)), -EPROTO);
	free(deep);

	/* Cut: fewer bytes than Content-Length, then the close. */
	fake_text("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"header\"",
		  0);
	CU_ASSERT_EQUAL(fake_call(e, FAKE_PUT, err, sizeof(err)), -EPROTO);
	/* Not HTTP at all. */
	fake_text("SSH-2.0-OpenSSH\r\n", 0);
	CU_ASSERT_EQUAL(fake_call(e, FAKE_PUT, err, sizeof(err)), -EPROTO);
	/* Closed with no answer: the endpoint did not answer. */
	fake_text("", 0);
	CU_ASSERT_EQUAL(fake_call(e, FAKE_PUT, err, sizeof(err)), -ECONNRESET);
	/* An endless answer: refused past 64 MiB, not buffered on. */
	fake_text("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
		  (size_t)80 << 20);
	CU_ASSERT_EQUAL(fake_call(e, FAKE_GET, err, sizeof(err)), -EPROTO);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "over 67108864 bytes"));
	sl_etcd_close(e);
}

#define CREATED "{\"result\":{" HDR ",\"created\":true}}\n"
#define EVENT(type)                                                            \
	"{\"result\":{\"header\":{\"revision\":\"5\"},\"events\":[{" type      \
	"\"kv\":{\"key\":\"L3cvMQ==\",\"mod_revision\":\"5\","                 \
	"\"value\":\"YQ==\"}}]}}\n"

static void
test_fake_watch(void)
{
	static const struct {
		const char *lines;
		int rc;
	} cases[] = {
		{"nonsense\n", -EPROTO},
		{CREATED "{\"result\":{" HDR ",\"events\":{}}}\n", -EPROTO},
		{CREATED "{\"result\":{" HDR ",\"events\":[7]}}\n", -EPROTO},
		{CREATED EVENT("\"type\":\"EXPLODE\","), -EPROTO},
		{CREATED EVENT("\"type\":1,"), -EPROTO},
		{CREATED "{\"result\":{\"events\":[]}}\n", -EPROTO},
		{CREATED "{\"result\":{\"header\":{},\"events\":[{\"kv\":{"
			 "\"key\":\"L3cvMQ==\",\"mod_revision\":\"5\"}}]}}\n",
		 -EPROTO},
		{CREATED "{\"result\":{" HDR ",\"canceled\":true}}\n", -EIO},
		{CREATED "{\"error\":{\"grpc_code\":14,\"http_code\":503,"
			 "\"message\":\"no leader\"}}\n",
		 -EIO},
		{CREATED "{\"result\":{" HDR ",\"canceled\":true,"
			 "\"compact_revision\":\"4\"}}\n",
		 -ESTALE},
		/* The stream just ends: the connection is lost. */
		{CREATED, -ECONNRESET},
		{CREATED "\n\r\n" EVENT(""), 0},
		{CREATED EVENT("\"type\":\"DELETE\","), 0},
	};
	struct seen s = {.lock = PTHREAD_MUTEX_INITIALIZER, .stop_after = 1};
	struct sl_etcd *e = client(g_fake.url, 1000);
	uint64_t heard = 0;
	char err[256];
	int rc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fake_stream(cases[i].lines, 0, 0);
		s.n = s.calls = 0;
		rc = sl_etcd_watch(e, "/w/", 2, seen_fn, &s, NULL, NULL, err,
				   sizeof(err));
		CU_ASSERT_EQUAL(rc, cases[i].rc);
		if (rc != cases[i].rc)
			fprintf(stderr, "\nwatch case %zu: %d, not %d: %s\n", i,
				rc, cases[i].rc, err);
	}
	/* The last one: a DELETE. */
	CU_ASSERT_EQUAL(s.calls, 1);
	CU_ASSERT_TRUE(s.ev[0].deleted);
	CU_ASSERT_EQUAL(s.ev[0].mod_revision, 5);

	/* Lines split across many reads, a few bytes at a time. */
	fake_stream(CREATED EVENT(""), 7, 0);
	s.n = s.calls = 0;
	CU_ASSERT_EQUAL(sl_etcd_watch(e, "/w/", 2, seen_fn, &s, NULL, &heard,
				      err, sizeof(err)),
			0);
	CU_ASSERT_EQUAL(s.calls, 1);
	CU_ASSERT_STRING_EQUAL(s.ev[0].key, "/w/1");
	CU_ASSERT_STRING_EQUAL(s.ev[0].value, "a");
	CU_ASSERT_FALSE(s.ev[0].deleted);
	CU_ASSERT_TRUE(heard > 0);

	/* A line with no end: refused past its bound. */
	fake_stream(CREATED, 0, (size_t)SL_ETCD_VALUE_MAX * 3);
	CU_ASSERT_EQUAL(sl_etcd_watch(e, "/w/", 2, seen_fn, &s, NULL, NULL, err,
				      sizeof(err)),
			-EPROTO);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "a line over"));

	/* An error answer instead of a stream. */
	fake_answer(500, "{\"error\":\"x\",\"message\":\"bad\",\"code\":2}");
	CU_ASSERT_EQUAL(sl_etcd_watch(e, "/w/", 2, seen_fn, &s, NULL, NULL, err,
				      sizeof(err)),
			-EIO);
	fake_answer(500, "garbage");
	CU_ASSERT_EQUAL(sl_etcd_watch(e, "/w/", 2, seen_fn, &s, NULL, NULL, err,
				      sizeof(err)),
			-EPROTO);
	sl_etcd_close(e);
}

static int
setup(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	if (fake_http_start(&g_fake) != 0)
		return -1;
	return etcd_start();
}

static int
teardown(void)
{
	fake_http_stop(&g_fake);
	return etcd_stop();
}

int
main(void)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} tests[] = {
		{"endpoint lists", test_open},
		{"put and get", test_put_get},
		{"prefix reads", test_prefix},
		{"put_if", test_put_if},
		{"delete", test_delete},
		{"leases", test_lease},
		{"watch", test_watch},
		{"watch from a compacted revision", test_compacted},
		{"endpoint failover", test_failover},
		{"bad answers", test_fake_answers},
		{"bad watch streams", test_fake_watch},
	};
	CU_pSuite suite;
	unsigned int failed;

	if (access(ETCD_BIN, X_OK) != 0) {
		printf("SKIP: %s not installed\n", ETCD_BIN);
		return 77;
	}
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	suite = CU_add_suite("etcd", setup, teardown);
	for (size_t i = 0; suite && i < sizeof(tests) / sizeof(tests[0]); i++)
		CU_add_test(suite, tests[i].name, tests[i].fn);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed() +
		 CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	/* A failed set-up leaves no etcd behind either. */
	etcd_stop();
	return failed ? 1 : 0;
}
