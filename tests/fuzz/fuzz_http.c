/* SPDX-License-Identifier: MIT */
/*
 * fuzz_http.c - libFuzzer harness for the HTTP request reader of the
 * metrics listener (control/sl_metrics.c), fed as a connection is: a real
 * event loop (control/sl_loop.h) serving sl_metrics_http_listen on a unix
 * socket, one client connection per input, its bytes sent in chunks with
 * the loop run between them, then the client's half-close.
 *
 * Input: byte 0: bit 0 the loop backend (epoll, or io_uring where the
 * machine has it), bit 1 a snapshot source that fails (503); byte 1 + 1
 * the chunk size (1..256 bytes); the rest is what the client sends.
 *
 * Checked on every input, against what the bytes sent call for (the
 * request line of the first header block within 8 KiB, NULs read as
 * spaces): 200 with exactly the rendered exposition for GET /metrics or
 * /metrics?..., 503 when the source fails, 404 for another method or
 * path, 400 for a request line that is not three words ending in HTTP/x,
 * 431 when 8 KiB pass without the end of the headers, and nothing when
 * the client stops before both; every answer is one well-formed HTTP/1.0
 * response whose Content-Length is its body's, and the connection is
 * closed after it. The listener ends every input with no connection
 * open; the loop counts no error. ASan/UBSan/LSan catch the rest.
 *
 * Build and run: tests/fuzz/README.md.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sl_loop.h"
#include "sl_metrics.h"

struct server {
	struct sl_loop *loop;
	struct sl_metrics_http *http;
	struct sockaddr_un addr;
	socklen_t addr_len;
};

static struct server servers[2];
static unsigned n_servers;
static bool fill_fails;
static struct sl_metrics_buf exposition;

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_http: %s\n", what);
	abort();
}

static void
quiet(const char *line, void *ctx)
{
	(void)line;
	(void)ctx;
}

static const struct sl_metrics_drop drops[] = {{"BAD_MAGIC", 3},
					       {"NO_ROUTE", 0}};
static const struct sl_metrics_stage stages[] = {
	{"demo", "draft \"x\"\\\n", 10, 20, 30, 1, 1, 0}};

static void
snapshot(struct sl_metrics_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->generation = 7;
	s->rx_packets = 100;
	s->n_drops = 2;
	s->drops = drops;
	s->n_stages = 1;
	s->stages = stages;
}

static int
fill(void *ctx, struct sl_metrics_snapshot *snap, void **token)
{
	(void)ctx;
	*token = NULL;
	if (fill_fails)
		return -EIO;
	snapshot(snap);
	return 0;
}

static void
server_open(struct server *s, enum sl_loop_backend backend, unsigned i)
{
	struct sl_loop_params lp = {.max_conns = 4, .log = quiet};
	struct sl_metrics_source src = {fill, NULL, NULL};
	int fd;

	s->loop = sl_loop_create(backend, &lp);
	if (s->loop == NULL)
		return;
	memset(&s->addr, 0, sizeof(s->addr));
	s->addr.sun_family = AF_UNIX;
	/* Abstract: nothing on the file system, unique per process. */
	snprintf(s->addr.sun_path + 1, sizeof(s->addr.sun_path) - 1,
		 "sluice-fuzz-http-%ld-%u", (long)getpid(), i);
	s->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
				  strlen(s->addr.sun_path + 1));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&s->addr, s->addr_len) != 0 ||
	    listen(fd, 16) != 0)
		fail("cannot listen on a unix socket");
	s->http = sl_metrics_http_listen(s->loop, fd, &src, NULL);
	if (s->http == NULL)
		fail("sl_metrics_http_listen");
}

static void
init(void)
{
	struct sl_metrics_snapshot s;

	server_open(&servers[0], SL_LOOP_BACKEND_EPOLL, 0);
	if (servers[0].loop == NULL)
		fail("no epoll loop");
	n_servers = 1;
	server_open(&servers[1], SL_LOOP_BACKEND_URING, 1);
	if (servers[1].loop != NULL)
		n_servers = 2;
	snapshot(&s);
	if (sl_metrics_render(&s, &exposition) != 0)
		fail("sl_metrics_render");
}

/* ------------------------------------------------------------- reference */

/* The status the bytes sent call for; 0: no answer. */
static int
expected_status(const uint8_t *in, size_t n)
{
	static char req[SL_METRICS_REQUEST_MAX + 1];
	size_t len = n < SL_METRICS_REQUEST_MAX ? n : SL_METRICS_REQUEST_MAX;
	char *eol, *line, *w[4];
	unsigned words = 0;

	for (size_t i = 0; i < len; i++)
		req[i] = in[i] ? (char)in[i] : ' ';
	req[len] = '\0';
	if (strstr(req, "\r\n\r\n") == NULL && strstr(req, "\n\n") == NULL)
		return len == SL_METRICS_REQUEST_MAX ? 431 : 0;
	line = req;
	eol = strchr(line, '\n');
	*eol = '\0';
	if (eol > line && eol[-1] == '\r')
		eol[-1] = '\0';
	for (char *p = line; *p != '\0';) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		if (words == 4)
			break;
		w[words++] = p;
		while (*p != '\0' && *p != ' ')
			p++;
		if (*p == ' ')
			*p++ = '\0';
	}
	if (words != 3 || strncmp(w[2], "HTTP/", 5) != 0)
		return 400;
	if (strcmp(w[0], "GET") == 0 && (strcmp(w[1], "/metrics") == 0 ||
					 strncmp(w[1], "/metrics?", 9) == 0))
		return fill_fails ? 503 : 200;
	return 404;
}

static void
check_response(const char *r, size_t len, int status)
{
	static const char *const reasons[] = {
		[200] = "OK",
		[400] = "Bad Request",
		[404] = "Not Found",
		[431] = "Request Header Fields Too Large",
		[503] = "Service Unavailable",
	};
	char head[256], body_plain[64];
	const char *type, *body;
	size_t body_len;
	int n;

	if (status == 0) {
		if (len != 0)
			fail("an answer to an unfinished request");
		return;
	}
	if (status == 200) {
		type = SL_METRICS_CONTENT_TYPE;
		body = exposition.data;
		body_len = exposition.len;
	} else {
		type = "text/plain; charset=utf-8";
		n = snprintf(body_plain, sizeof(body_plain), "%d %s\n", status,
			     reasons[status]);
		body = body_plain;
		body_len = (size_t)n;
	}
	n = snprintf(head, sizeof(head),
		     "HTTP/1.0 %d %s\r\nContent-Type: %s\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		     status, reasons[status], type, body_len);
	if (len != (size_t)n + body_len || memcmp(r, head, (size_t)n) != 0 ||
	    memcmp(r + n, body, body_len) != 0) {
		fprintf(stderr, "fuzz_http: want %d, got %zu bytes: %.*s\n",
			status, len, (int)(len < 200 ? len : 200), r);
		fail("wrong answer");
	}
}

/* ---------------------------------------------------------------- client */

static size_t
client_read(int fd, char *buf, size_t cap, size_t len, bool *eof)
{
	for (;;) {
		ssize_t k;

		if (len == cap)
			fail("answer too long");
		k = recv(fd, buf + len, cap - len, MSG_DONTWAIT);
		if (k > 0) {
			len += (size_t)k;
			continue;
		}
		if (k == 0)
			*eof = true;
		else if (errno == ECONNRESET)
			*eof = true;
		else if (errno != EAGAIN && errno != EWOULDBLOCK)
			fail("recv");
		return len;
	}
}

/* Run the loop until nothing is ready. */
static void
settle(struct sl_loop *loop)
{
	for (int i = 0; i < 64; i++)
		if (sl_loop_run_once(loop, 0) <= 0)
			return;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char answer[1 << 16];
	struct server *s;
	struct sl_listener *l;
	struct sl_loop_stats st;
	size_t chunk, off = 2, len = 0;
	bool eof = false;
	int fd, status;

	if (n_servers == 0)
		init();
	if (size < 2)
		return 0;
	s = &servers[(data[0] & 1) % n_servers];
	fill_fails = data[0] & 2;
	chunk = (size_t)data[1] + 1;
	status = expected_status(data + 2, size - 2);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    connect(fd, (struct sockaddr *)&s->addr, s->addr_len) != 0)
		fail("connect");
	settle(s->loop);
	while (off < size && !eof) {
		size_t n = size - off < chunk ? size - off : chunk;
		ssize_t k =
			send(fd, data + off, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (k < 0) {
			/* The server answered and closed, or its socket
			 * buffer is full: let it read. */
			if (errno == EPIPE || errno == ECONNRESET)
				break;
			if (errno != EAGAIN)
				fail("send");
			k = 0;
		}
		off += (size_t)k;
		settle(s->loop);
		len = client_read(fd, answer, sizeof(answer), len, &eof);
	}
	shutdown(fd, SHUT_WR);
	l = sl_metrics_http_listener(s->http);
	for (int i = 0; i < 1000; i++) {
		len = client_read(fd, answer, sizeof(answer), len, &eof);
		if (eof && sl_listener_stats(l).open == 0)
			break;
		/* Wait only when nothing was ready. */
		if (sl_loop_run_once(s->loop, 0) == 0)
			sl_loop_run_once(s->loop, 1);
	}
	if (!eof || sl_listener_stats(l).open != 0)
		fail("the connection was not closed");
	close(fd);
	check_response(answer, len, status);
	st = sl_loop_stats(s->loop);
	if (st.closed_error != 0 || st.closed_slow_reader != 0 ||
	    st.rejected_full != 0 || st.accept_errors != 0)
		fail("the loop counted an error");
	return 0;
}
