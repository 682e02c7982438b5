/* SPDX-License-Identifier: MIT */
/*
 * test_loop.c - sl_loop against real sockets, once per backend.
 *
 *   test_loop uring|epoll
 *
 * The loop runs in the main thread and serves a small echo protocol
 * (4-byte big-endian length + payload; the payload "QUIT" makes the server
 * close from inside on_data). Clients are plain blocking sockets in helper
 * threads with 5 s socket timeouts, so a bug fails a test instead of
 * hanging it; they only talk to the server through sockets and atomics.
 * The uring run exits 77 (SKIP) where io_uring cannot be used.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "sl_loop.h"

#define CLIENT_TIMEOUT_S 5
#define MAX_FRAME (16u << 20)
#define NREASONS 8

enum transport { T_UNIX, T_TCP };

static enum sl_loop_backend g_backend;
static const char *g_expect_name;

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
sleep_ms(unsigned int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* ---- the server under test ---- */

struct srv {
	struct sl_loop *loop;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int sndbuf; /* > 0: SO_SNDBUF for accepted sockets */
	atomic_int accepted;
	atomic_int closed;
	int reasons[NREASONS];
	int frames;
	int data_after_close;
	int send_after_close_rc;
	int last_send_rc;
	char log[512];
	int log_lines;
};

struct echo_conn {
	struct srv *srv;
	uint8_t *buf;
	size_t len;
	size_t cap;
	bool quit;
};

static void
capture_log(const char *line, void *ctx)
{
	struct srv *s = ctx;

	snprintf(s->log, sizeof(s->log), "%s", line);
	s->log_lines++;
}

static uint32_t
get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* Echo every complete frame in ec->buf; false once the conn is closing. */
static bool
echo_frames(struct sl_conn *conn, struct echo_conn *ec)
{
	size_t off = 0;
	bool open = true;

	while (ec->len - off >= 4) {
		uint32_t flen = get_be32(ec->buf + off);
		int rc;

		if (flen > MAX_FRAME) {
			sl_conn_close(conn);
			open = false;
			break;
		}
		if (ec->len - off - 4 < flen)
			break;
		if (flen == 4 && memcmp(ec->buf + off + 4, "QUIT", 4) == 0) {
			sl_conn_close(conn);
			ec->quit = true;
			ec->srv->send_after_close_rc =
				sl_conn_send(conn, "late", 4);
			open = false;
			off += 8;
			break;
		}
		rc = sl_conn_send(conn, ec->buf + off, 4 + (size_t)flen);
		off += 4 + (size_t)flen;
		if (rc < 0) {
			ec->srv->last_send_rc = rc;
			open = false;
			break;
		}
		ec->srv->frames++;
		sl_conn_touch(conn);
	}
	memmove(ec->buf, ec->buf + off, ec->len - off);
	ec->len -= off;
	return open;
}

static void
echo_on_data(struct sl_conn *conn, const uint8_t *buf, size_t len, void *ctx)
{
	struct echo_conn *ec = ctx;

	if (ec->quit) {
		ec->srv->data_after_close++;
		return;
	}
	if (ec->len + len > ec->cap) {
		size_t cap = ec->cap ? ec->cap : 4096;
		uint8_t *nb;

		while (cap < ec->len + len)
			cap *= 2;
		nb = realloc(ec->buf, cap);
		if (nb == NULL) {
			sl_conn_close(conn);
			return;
		}
		ec->buf = nb;
		ec->cap = cap;
	}
	memcpy(ec->buf + ec->len, buf, len);
	ec->len += len;
	echo_frames(conn, ec);
}

static void
echo_on_close(struct sl_conn *conn, int reason, void *ctx)
{
	struct echo_conn *ec = ctx;

	(void)conn;
	if (reason >= 0 && reason < NREASONS)
		ec->srv->reasons[reason]++;
	atomic_fetch_add(&ec->srv->closed, 1);
	free(ec->buf);
	free(ec);
}

static const struct sl_conn_handler echo_handler = {
	.on_data = echo_on_data,
	.on_close = echo_on_close,
};

static const struct sl_conn_handler *
echo_on_accept(struct sl_conn *conn, void *ctx)
{
	struct srv *s = ctx;
	struct echo_conn *ec = calloc(1, sizeof(*ec));

	if (ec == NULL)
		return NULL;
	ec->srv = s;
	sl_conn_set_ctx(conn, ec);
	if (s->sndbuf > 0)
		setsockopt(sl_conn_fd(conn), SOL_SOCKET, SO_SNDBUF, &s->sndbuf,
			   sizeof(s->sndbuf));
	atomic_fetch_add(&s->accepted, 1);
	return &echo_handler;
}

static int
listen_socket(struct srv *s, enum transport t)
{
	static int seq;
	int fd, one = 1;

	memset(&s->addr, 0, sizeof(s->addr));
	if (t == T_UNIX) {
		struct sockaddr_un *un = (struct sockaddr_un *)&s->addr;

		un->sun_family = AF_UNIX;
		/* abstract namespace: nothing to unlink */
		snprintf(un->sun_path + 1, sizeof(un->sun_path) - 1,
			 "sl-loop-test-%d-%d", (int)getpid(), seq++);
		s->addrlen = offsetof(struct sockaddr_un, sun_path) + 1 +
			     strlen(un->sun_path + 1);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&s->addr;

		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		s->addrlen = sizeof(*in);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0)
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
				   sizeof(one));
	}
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&s->addr, s->addrlen) < 0 ||
	    listen(fd, 512) < 0 ||
	    getsockname(fd, (struct sockaddr *)&s->addr, &s->addrlen) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A loop of the backend under test serving echo on one transport. */
static int
srv_start(struct srv *s, struct sl_loop_params *p, enum transport t)
{
	int fd;

	memset(s, 0, sizeof(*s));
	p->log = capture_log;
	p->log_ctx = s;
	s->loop = sl_loop_create(g_backend, p);
	if (s->loop == NULL)
		return -1;
	fd = listen_socket(s, t);
	if (fd < 0 || sl_loop_listen(s->loop, fd, echo_on_accept, s) < 0) {
		sl_loop_destroy(s->loop);
		s->loop = NULL;
		return -1;
	}
	return 0;
}

/* Run the loop until *flag becomes non-zero or max_ms pass. */
static bool
drive(struct srv *s, atomic_int *flag, int want, unsigned int max_ms)
{
	uint64_t end = now_ms() + max_ms;

	while (atomic_load(flag) < want) {
		if (now_ms() > end)
			return false;
		sl_loop_run_once(s->loop, 5);
	}
	return true;
}

/* ---- blocking clients ---- */

static int
cli_connect(const struct srv *s, int rcvbuf)
{
	struct timeval tv = {CLIENT_TIMEOUT_S, 0};
	int fd = socket(s->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (connect(fd, (const struct sockaddr *)&s->addr, s->addrlen) < 0) {
		/* Seen once (limits per listener, uring, a fresh clone's
		 * run): say why, should it come back. */
		fprintf(stderr, "cli_connect: connect: %s\n", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int
write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* 0, 1 at end of file, or -errno. */
static int
read_exact(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = recv(fd, p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* True when the peer closed: EOF or reset within the socket timeout. */
static bool
wait_closed(int fd)
{
	uint8_t sink[4096];

	for (;;) {
		ssize_t n = recv(fd, sink, sizeof(sink), 0);

		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		if (n < 0 && errno != EINTR)
			return false; /* EAGAIN: timed out */
	}
}

static uint8_t *
make_frame(size_t len, unsigned int seed)
{
	uint8_t *f = malloc(4 + len);
	size_t i;

	if (f == NULL)
		return NULL;
	put_be32(f, (uint32_t)len);
	for (i = 0; i < len; i++)
		f[4 + i] = (uint8_t)(i * 131 + seed * 7 + (i >> 9));
	return f;
}

/* Send one frame and check the exact bytes come back. */
static bool
echo_once(int fd, size_t len, unsigned int seed)
{
	uint8_t *f = make_frame(len, seed);
	uint8_t *back = malloc(4 + len);
	bool ok = f != NULL && back != NULL && write_all(fd, f, 4 + len) == 0 &&
		  read_exact(fd, back, 4 + len) == 0 &&
		  memcmp(f, back, 4 + len) == 0;

	free(f);
	free(back);
	return ok;
}

struct client {
	struct srv *srv;
	enum transport t;
	atomic_int done;
	atomic_int stage; /* handshakes with the main thread */
	bool ok;
	char why[128];
	uint64_t bytes;
	uint64_t ms;
	int err;
	int count;
};

#define CLIENT_FAIL(c, ...)                                                    \
	do {                                                                   \
		snprintf((c)->why, sizeof((c)->why), __VA_ARGS__);             \
		goto out;                                                      \
	} while (0)

static void
client_start(pthread_t *th, void *(*fn)(void *), struct client *c)
{
	c->ok = false;
	c->why[0] = '\0';
	atomic_store(&c->done, 0);
	atomic_store(&c->stage, 0);
	CU_ASSERT_FATAL(pthread_create(th, NULL, fn, c) == 0);
}

static void
client_join(pthread_t th, struct client *c)
{
	pthread_join(th, NULL);
	if (!c->ok)
		fprintf(stderr, "\n  client: %s\n", c->why);
}

/* Wait (client side) for an atomic the main thread's loop updates. */
static bool
await(atomic_int *v, int want)
{
	uint64_t end = now_ms() + CLIENT_TIMEOUT_S * 1000;

	while (atomic_load(v) < want) {
		if (now_ms() > end)
			return false;
		sleep_ms(1);
	}
	return true;
}

/* ---- tests ---- */

static const size_t echo_sizes[] = {
	0,    1,    2,    3,    100,   4091,  4092,  4093,   4095,    4096,
	4097, 8191, 8192, 8193, 12345, 65536, 65537, 262147, 1048579,
};

#define PIPELINED 40

static void *
echo_client(void *arg)
{
	struct client *c = arg;
	size_t i, total = 0, off = 0;
	uint8_t *burst = NULL, *back = NULL;
	int fd = cli_connect(c->srv, 0);

	if (fd < 0)
		CLIENT_FAIL(c, "connect: %s", strerror(errno));
	for (i = 0; i < sizeof(echo_sizes) / sizeof(echo_sizes[0]); i++) {
		if (!echo_once(fd, echo_sizes[i], (unsigned int)i))
			CLIENT_FAIL(c, "echo of %zu bytes differs",
				    echo_sizes[i]);
		c->bytes += 4 + echo_sizes[i];
	}
	/* many frames in one write: split and coalesced arbitrarily */
	for (i = 0; i < PIPELINED; i++)
		total += 4 + (i * 977) % 9000;
	burst = malloc(total);
	back = malloc(total);
	if (burst == NULL || back == NULL)
		CLIENT_FAIL(c, "out of memory");
	for (i = 0; i < PIPELINED; i++) {
		size_t len = (i * 977) % 9000;
		uint8_t *f = make_frame(len, (unsigned int)(1000 + i));

		if (f == NULL)
			CLIENT_FAIL(c, "out of memory");
		memcpy(burst + off, f, 4 + len);
		off += 4 + len;
		free(f);
	}
	if (write_all(fd, burst, total) != 0 ||
	    read_exact(fd, back, total) != 0 || memcmp(burst, back, total))
		CLIENT_FAIL(c, "pipelined frames differ");
	c->bytes += total;
	c->ok = true;
out:
	free(burst);
	free(back);
	if (fd >= 0)
		close(fd);
	atomic_store(&c->done, 1);
	return NULL;
}

static void
run_echo(enum transport t)
{
	struct sl_loop_params p = {
		.max_conns = 8,
		.out_limit = 8u << 20,
		.in_buf_size = 4096,
		.in_buf_count = 16, /* few, so io_uring runs out (ENOBUFS) */
	};
	struct client c = {0};
	struct sl_loop_stats st;
	struct srv s;
	pthread_t th;

	CU_ASSERT_FATAL(srv_start(&s, &p, t) == 0);
	CU_ASSERT_STRING_EQUAL(sl_loop_backend_name(s.loop), g_expect_name);
	c.srv = &s;
	client_start(&th, echo_client, &c);
	CU_ASSERT(drive(&s, &c.done, 1, 20000));
	CU_ASSERT(drive(&s, &s.closed, 1, 5000));
	client_join(th, &c);
	CU_ASSERT(c.ok);

	st = sl_loop_stats(s.loop);
	CU_ASSERT_EQUAL(st.accepted, 1);
	CU_ASSERT_EQUAL(st.bytes_in, c.bytes);
	CU_ASSERT_EQUAL(st.bytes_out, c.bytes);
	CU_ASSERT_EQUAL(st.closed_peer, 1);
	CU_ASSERT_EQUAL(st.closed_error, 0);
	CU_ASSERT_EQUAL(s.reasons[SL_CONN_CLOSE_PEER], 1);
	CU_ASSERT_EQUAL(s.frames,
			(int)(sizeof(echo_sizes) / sizeof(echo_sizes[0])) +
				PIPELINED);
	sl_loop_destroy(s.loop);
}

static void
test_echo_unix(void)
{
	run_echo(T_UNIX);
}

static void
test_echo_tcp(void)
{
	run_echo(T_TCP);
}

#define IDLE_CONNS 200
#define WORK_RTTS 100

static void *
idle_many_client(void *arg)
{
	struct client *c = arg;
	int fds[IDLE_CONNS];
	int i, n = 0, fd = -1;
	uint64_t t0;

	for (n = 0; n < IDLE_CONNS; n++) {
		fds[n] = cli_connect(c->srv, 0);
		if (fds[n] < 0)
			CLIENT_FAIL(c, "connect %d: %s", n, strerror(errno));
	}
	if (!await(&c->srv->accepted, IDLE_CONNS))
		CLIENT_FAIL(c, "server accepted %d of %d",
			    atomic_load(&c->srv->accepted), IDLE_CONNS);
	fd = cli_connect(c->srv, 0);
	if (fd < 0)
		CLIENT_FAIL(c, "connect worker: %s", strerror(errno));
	t0 = now_ms();
	for (i = 0; i < WORK_RTTS; i++)
		if (!echo_once(fd, 100 + (size_t)i, (unsigned int)i))
			CLIENT_FAIL(c, "round trip %d failed", i);
	c->ms = now_ms() - t0;
	c->ok = true;
out:
	if (fd >= 0)
		close(fd);
	while (n-- > 0)
		close(fds[n]);
	atomic_store(&c->done, 1);
	return NULL;
}

static void
test_idle_many(void)
{
	struct sl_loop_params p = {.max_conns = IDLE_CONNS + 8};
	struct client c = {0};
	struct sl_loop_stats st;
	struct srv s;
	pthread_t th;

	CU_ASSERT_FATAL(srv_start(&s, &p, T_TCP) == 0);
	c.srv = &s;
	client_start(&th, idle_many_client, &c);
	CU_ASSERT(drive(&s, &c.done, 1, 20000));
	CU_ASSERT(drive(&s, &s.closed, IDLE_CONNS + 1, 5000));
	client_join(th, &c);
	CU_ASSERT(c.ok);
	CU_ASSERT(c.ms < 3000); /* 100 round trips; generous */

	st = sl_loop_stats(s.loop);
	CU_ASSERT_EQUAL(st.accepted, IDLE_CONNS + 1);
	CU_ASSERT_EQUAL(st.rejected_full, 0);
	CU_ASSERT_EQUAL(s.frames, WORK_RTTS);
	CU_ASSERT_EQUAL(st.closed_peer, IDLE_CONNS + 1);
	sl_loop_destroy(s.loop);
}

#define IDLE_MS 300

/* Sends a 16-byte frame one byte per 100 ms: never completes a request. */
static void *
trickle_client(void *arg)
{
	struct client *c = arg;
	uint8_t hdr[4];
	uint64_t t0 = now_ms();
	int fd = cli_connect(c->srv, 0);

	if (fd < 0)
		CLIENT_FAIL(c, "connect: %s", strerror(errno));
	put_be32(hdr, 16);
	if (write_all(fd, hdr, sizeof(hdr)) != 0)
		CLIENT_FAIL(c, "write header");
	while (now_ms() - t0 < 3000) {
		uint8_t b = 'x';
		ssize_t n;

		sleep_ms(100);
		if (send(fd, &b, 1, MSG_NOSIGNAL) != 1)
			break; /* EPIPE, ECONNRESET: closed */
		n = recv(fd, &b, 1, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			break;
	}
	c->ms = now_ms() - t0;
	c->ok = c->ms < 3000;
	if (!c->ok)
		CLIENT_FAIL(c, "trickler still open after %llu ms",
			    (unsigned long long)c->ms);
out:
	if (fd >= 0)
		close(fd);
	atomic_store(&c->done, 1);
	return NULL;
}

/* A request every 20 ms for 900 ms: busy, so never idle. */
static void *
steady_client(void *arg)
{
	struct client *c = arg;
	uint64_t t0 = now_ms();
	int fd = cli_connect(c->srv, 0);

	if (fd < 0)
		CLIENT_FAIL(c, "connect: %s", strerror(errno));
	while (now_ms() - t0 < 900) {
		if (!echo_once(fd, 64, (unsigned int)c->count))
			CLIENT_FAIL(c, "round trip %d failed", c->count);
		c->count++;
		sleep_ms(20);
	}
	c->ok = true;
out:
	if (fd >= 0)
		close(fd);
	atomic_store(&c->done, 1);
	return NULL;
}

static void
test_idle_timeout(void)
{
	struct sl_loop_params p = {.max_conns = 8, .idle_timeout_ms = IDLE_MS};
	struct client slow = {0}, steady = {0};
	struct sl_loop_stats st;
	pthread_t th_slow, th_steady;
	struct srv s;

	CU_ASSERT_FATAL(srv_start(&s, &p, T_UNIX) == 0);
	slow.srv = &s;
	steady.srv = &s;
	client_start(&th_slow, trickle_client, &slow);
	client_start(&th_steady, steady_client, &steady);
	CU_ASSERT(drive(&s, &slow.done, 1, 10000));
	CU_ASSERT(drive(&s, &steady.done, 1, 10000));
	CU_ASSERT(drive(&s, &s.closed, 2, 5000));
	client_join(th_slow, &slow);
	client_join(th_steady, &steady);
	CU_ASSERT(slow.ok);
	CU_ASSERT(slow.ms >= IDLE_MS - 20 && slow.ms < 2500);
	CU_ASSERT(steady.ok);
	CU_ASSERT(steady.count >= 10);

	st = sl_loop_stats(s.loop);
	CU_ASSERT_EQUAL(st.closed_idle, 1);
	CU_ASSERT_EQUAL(s.reasons[SL_CONN_CLOSE_IDLE], 1);
	CU_ASSERT_EQUAL(s.reasons[SL_CONN_CLOSE_PEER], 1);
	CU_ASSERT_EQUAL(s.frames, steady.count);
	sl_loop_destroy(s.loop);
}

#define SLOW_OUT_LIMIT (64u << 10)
#define SLOW_FRAME (16u << 10)
#define SLOW_MAX_WRITE (64u << 20)

/* Writes echo requests and never reads the replies. */
static void *
never_reads_client(void *arg)
{
	struct client *c = arg;
	uint8_t *f = make_frame(SLOW_FRAME, 3);
	int fd = cli_connect(c->srv, 4096);

	if (fd < 0 || f == NULL)
		CLIENT_FAIL(c, "connect: %s", strerror(errno));
	while (c->bytes < SLOW_MAX_WRITE) {
		int rc = write_all(fd, f, 4 + SLOW_FRAME);

		if (rc != 0) {
			c->err = -rc;
			break;
		}
		c->bytes += 4 + SLOW_FRAME;
	}
	if (c->err != EPIPE && c->err != ECONNRESET)
		CLIENT_FAIL(c, "after %llu bytes: %s",
			    (unsigned long long)c->bytes,
			    c->err ? strerror(c->err) : "never closed");
	c->ok = true;
out:
	free(f);
	if (fd >= 0)
		close(fd);
	atomic_store(&c->done, 1);
	return NULL;
}

static void
run_slow_reader(enum transport t)
{
	struct sl_loop_params p = {.max_conns = 8, .out_limit = SLOW_OUT_LIMIT};
	struct client c = {0};
	struct sl_loop_stats st;
	struct srv s;
	pthread_t th;

	CU_ASSERT_FATAL(srv_start(&s, &p, t) == 0);
	s.sndbuf = 4096;
	c.srv = &s;
	client_start(&th, never_reads_client, &c);
	CU_ASSERT(drive(&s, &c.done, 1, 20000));
	CU_ASSERT(drive(&s, &s.closed, 1, 5000));
	client_join(th, &c);
	CU_ASSERT(c.ok);

	st = sl_loop_stats(s.loop);
	CU_ASSERT_EQUAL(st.closed_slow_reader, 1);
	CU_ASSERT_EQUAL(s.reasons[SL_CONN_CLOSE_SLOW_READER], 1);
	CU_ASSERT_EQUAL(s.last_send_rc, -ENOBUFS);
	/* what was queued never exceeded the limit */
	CU_ASSERT(st.bytes_in - st.bytes_out >= SLOW_OUT_LIMIT - SLOW_FRAME);
	sl_loop_destroy(s.loop);
}

static void
test_slow_reader_unix(void)
{
	run_slow_reader(T_UNIX);
}

static void
test_slow_reader_tcp(void)
{
	run_slow_reader(T_TCP);
}

#define MAX_CONNS 4

static void *
max_conns_client(void *arg)
{
	struct client *c = arg;
	int fds[MAX_CONNS], extra[2] = {-1, -1};
	int i, n, fd = -1;

	for (n = 0; n < MAX_CONNS; n++) {
		fds[n] = cli_connect(c->srv, 0);
		if (fds[n] < 0 || !echo_once(fds[n], 10, (unsigned int)n))
			CLIENT_FAIL(c, "connection %d not served", n);
	}
	for (i = 0; i < 2; i++) {
		extra[i] = cli_connect(c->srv, 0);
		if (extra[i] < 0)
			CLIENT_FAIL(c, "extra connect: %s", strerror(errno));
		if (!wait_closed(extra[i]))
			CLIENT_FAIL(c, "connection over the limit not closed");
	}
	/* a slot frees up once the server has seen a close */
	close(fds[0]);
	fds[0] = -1;
	if (!await(&c->srv->closed, 1))
		CLIENT_FAIL(c, "server never saw the close");
	fd = cli_connect(c->srv, 0);
	if (fd < 0 || !echo_once(fd, 20, 9))
		CLIENT_FAIL(c, "connection after a free slot not served");
	c->ok = true;
out:
	if (fd >= 0)
		close(fd);
	for (i = 0; i < 2; i++)
		if (extra[i] >= 0)
			close(extra[i]);
	while (n-- > 0)
		if (fds[n] >= 0)
			close(fds[n]);
	atomic_store(&c->done, 1);
	return NULL;
}

static void
test_max_conns(void)
{
	struct sl_loop_params p = {.max_conns = MAX_CONNS};
	struct client c = {0};
	struct sl_loop_stats st;
	struct srv s;
	pthread_t th;

	CU_ASSERT_FATAL(srv_start(&s, &p, T_UNIX) == 0);
	c.srv = &s;
	client_start(&th, max_conns_client, &c);
	CU_ASSERT(drive(&s, &c.done, 1, 20000));
	CU_ASSERT(drive(&s, &s.closed, MAX_CONNS + 1, 5000));
	client_join(th, &c);
	CU_ASSERT(c.ok);

	st = sl_loop_stats(s.loop);
	CU_ASSERT_EQUAL(st.accepted, MAX_CONNS + 1);
	CU_ASSERT_EQUAL(st.rejected_full, 2);
	CU_ASSERT_EQUAL(s.frames, MAX_CONNS + 1);
	sl_loop_destroy(s.loop);
}

/* Run the loop for @ms. */
static void
spin(struct srv *s, unsigned int ms)
{
	uint64_t end = now_ms() + ms;

	while (now_ms() < end)
		sl_loop_run_once(s->loop, 5);
}

/* Two listeners: the second with a limit and an idle timeout of its own,
 * which the first does not feel. */
static void
test_listener_limits(void)
{
	struct sl_loop_params p = {.max_conns = 64, .idle_timeout_ms = 0};
	struct sl_listen_params lp = {.max_conns = 3, .idle_timeout_ms = 200};
	struct sl_listener *limited = NULL;
	struct sl_listener_stats a, b;
	struct srv s, other;
	int fd, ca[2], cb[5];

	CU_ASSERT_FATAL(srv_start(&s, &p, T_UNIX) == 0);
	/* The second listener's address, from a srv of its own. */
	memset(&other, 0, sizeof(other));
	fd = listen_socket(&other, T_TCP);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL_FATAL(sl_loop_listen_limited(s.loop, fd, echo_on_accept,
						     &s, &lp, &limited),
			      0);
	CU_ASSERT_FATAL(limited != NULL);
	for (int i = 0; i < 5; i++) {
		cb[i] = cli_connect(&other, 0);
		CU_ASSERT_FATAL(cb[i] >= 0);
	}
	for (int i = 0; i < 2; i++) {
		ca[i] = cli_connect(&s, 0);
		CU_ASSERT_FATAL(ca[i] >= 0);
	}
	spin(&s, 100);
	b = sl_listener_stats(limited);
	CU_ASSERT_EQUAL(b.accepted, 3);
	CU_ASSERT_EQUAL(b.rejected_full, 2);
	CU_ASSERT_EQUAL(b.open, 3);
	CU_ASSERT_EQUAL(sl_loop_stats(s.loop).rejected_full, 2);
	CU_ASSERT_EQUAL(sl_loop_stats(s.loop).accepted, 5);
	/* Its idle timeout closes its three; the first listener has none. */
	spin(&s, 400);
	b = sl_listener_stats(limited);
	CU_ASSERT_EQUAL(b.closed_idle, 3);
	CU_ASSERT_EQUAL(b.open, 0);
	CU_ASSERT_EQUAL(sl_loop_stats(s.loop).closed_idle, 3);
	CU_ASSERT_EQUAL(s.reasons[SL_CONN_CLOSE_IDLE], 3);
	CU_ASSERT_EQUAL(atomic_load(&s.closed), 3);
	/* Room again: a new one is served (echo). */
	{
		uint8_t *f = make_frame(10, 1), back[14];
		int c = cli_connect(&other, 0);

		CU_ASSERT_FATAL(c >= 0 && f != NULL);
		CU_ASSERT_EQUAL(write_all(c, f, 14), 0);
		spin(&s, 50);
		CU_ASSERT_EQUAL(recv(c, back, sizeof(back), MSG_WAITALL), 14);
		CU_ASSERT_EQUAL(memcmp(back, f, 14), 0);
		free(f);
		close(c);
	}
	for (int i = 0; i < 5; i++)
		close(cb[i]);
	for (int i = 0; i < 2; i++)
		close(ca[i]);
	spin(&s, 50);
	a = sl_listener_stats(limited);
	CU_ASSERT_EQUAL(a.accepted, 4);
	sl_loop_destroy(s.loop);
}

/* Half a frame, then close (TCP: with a reset when c->count is set). */
static void *
half_frame_client(void *arg)
{
	struct client *c = arg;
	uint8_t *f = make_frame(1000, 5);
	int fd = cli_connect(c->srv, 0);

	if (fd < 0 || f == NULL)
		CLIENT_FAIL(c, "connect: %s", strerror(errno));
	if (write_all(fd, f, 14) != 0)
		CLIENT_FAIL(c, "write");
	if (!await(&c->stage, 1)) /* the server has the bytes */
		CLIENT_FAIL(c, "server never read the half frame");
	if (c->count) {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};

		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	c->ok = true;
out:
	free(f);
	if (fd >= 0)
		close(fd);
	atomic_store(&c->done, 1);
	return NULL;
}

static void
run_peer_close(enum transport t, bool reset)
{
	struct sl_loop_params p = {.max_conns = 8};
	struct client c = {0};
	struct sl_loop_stats st;
	struct srv s;
	uint64_t end;
	pthread_t th;

	CU_ASSERT_FATAL(srv_start(&s, &p, t) == 0);
	c.srv = &s;
	c.count = reset;
	client_start(&th, half_frame_client, &c);
	end = now_ms() + 5000;
	while (sl_loop_stats(s.loop).bytes_in < 14 && now_ms() < end)
		sl_loop_run_once(s.loop, 5);
	atomic_store(&c.stage, 1);
	CU_ASSERT(drive(&s, &c.done, 1, 5000));
	CU_ASSERT(drive(&s, &s.closed, 1, 5000));
	client_join(th, &c);
	CU_ASSERT(c.ok);

	st = sl_loop_stats(s.loop);
	CU_ASSERT_EQUAL(st.bytes_in, 14);
	CU_ASSERT_EQUAL(st.bytes_out, 0);
	CU_ASSERT_EQUAL(s.frames, 0);
	if (reset) {
		CU_ASSERT_EQUAL(s.reasons[SL_CONN_CLOSE_ERROR], 1);
		CU_ASSERT_EQUAL(st.closed_error, 1);
	} else {
		CU_ASSERT_EQUAL(s.reasons[SL_CONN_CLOSE_PEER], 1);
		CU_ASSERT_EQUAL(st.closed_peer, 1);
	}
	sl_loop_destroy(s.loop);
}

static void
test_peer_close_mid_frame(void)
{
	run_peer_close(T_UNIX, false);
	run_peer_close(T_TCP, false);
}

static void
test_peer_reset_mid_frame(void)
{
	run_peer_close(T_TCP, true);
}

/*
 * One write: frame A, QUIT, frame B. The server echoes A, closes from
 * inside on_data; B is never echoed; A still arrives, then EOF. With
 * c->count the A frame is 1 MiB, so the close waits for a long drain.
 */
static void *
quit_client(void *arg)
{
	struct client *c = arg;
	size_t alen = c->count ? (1u << 20) : 100;
	uint8_t *a = make_frame(alen, 1), *b = make_frame(50, 2);
	uint8_t *msg = malloc(4 + alen + 8 + 54), *back = malloc(4 + alen);
	int fd = cli_connect(c->srv, 0);

	if (fd < 0 || !a || !b || !msg || !back)
		CLIENT_FAIL(c, "connect: %s", strerror(errno));
	memcpy(msg, a, 4 + alen);
	put_be32(msg + 4 + alen, 4);
	memcpy(msg + 8 + alen, "QUIT", 4);
	memcpy(msg + 12 + alen, b, 54);
	if (write_all(fd, msg, 4 + alen + 8 + 54) != 0)
		CLIENT_FAIL(c, "write");
	if (read_exact(fd, back, 4 + alen) != 0 || memcmp(back, a, 4 + alen))
		CLIENT_FAIL(c, "frame before QUIT not echoed");
	if (!wait_closed(fd))
		CLIENT_FAIL(c, "not closed after QUIT");
	c->ok = true;
out:
	free(a);
	free(b);
	free(msg);
	free(back);
	if (fd >= 0)
		close(fd);
	atomic_store(&c->done, 1);
	return NULL;
}

static void
run_close_in_on_data(bool big)
{
	struct sl_loop_params p = {.max_conns = 8, .in_buf_size = 4096};
	struct client c = {0};
	struct sl_loop_stats st;
	struct srv s;
	pthread_t th;

	CU_ASSERT_FATAL(srv_start(&s, &p, T_UNIX) == 0);
	c.srv = &s;
	c.count = big;
	client_start(&th, quit_client, &c);
	CU_ASSERT(drive(&s, &c.done, 1, 10000));
	CU_ASSERT(drive(&s, &s.closed, 1, 5000));
	client_join(th, &c);
	CU_ASSERT(c.ok);

	st = sl_loop_stats(s.loop);
	CU_ASSERT_EQUAL(s.frames, 1);
	CU_ASSERT_EQUAL(s.data_after_close, 0);
	CU_ASSERT_EQUAL(s.send_after_close_rc, -EPIPE);
	CU_ASSERT_EQUAL(s.reasons[SL_CONN_CLOSE_LOCAL], 1);
	CU_ASSERT_EQUAL(st.closed_local, 1);
	CU_ASSERT_EQUAL(st.bytes_out, 4 + (big ? (1u << 20) : 100));
	sl_loop_destroy(s.loop);
}

static void
test_close_in_on_data(void)
{
	run_close_in_on_data(false);
	run_close_in_on_data(true);
}

#define LIVE_CONNS 5

/* Opens connections, leaves a 1 MiB reply unread, waits for destroy. */
static void *
live_client(void *arg)
{
	struct client *c = arg;
	uint8_t *f = make_frame(1u << 20, 4);
	int fds[LIVE_CONNS];
	int n;

	for (n = 0; n < LIVE_CONNS; n++) {
		fds[n] = cli_connect(c->srv, 0);
		if (fds[n] < 0)
			CLIENT_FAIL(c, "connect: %s", strerror(errno));
	}
	if (f == NULL || write_all(fds[0], f, 4 + (1u << 20)) != 0)
		CLIENT_FAIL(c, "write");
	atomic_store(&c->stage, 1);
	if (!await(&c->stage, 2)) /* the loop is gone */
		CLIENT_FAIL(c, "loop not destroyed");
	for (int i = 0; i < LIVE_CONNS; i++)
		c->count += wait_closed(fds[i]);
	c->ok = c->count == LIVE_CONNS;
	if (!c->ok)
		CLIENT_FAIL(c, "%d of %d connections closed", c->count,
			    LIVE_CONNS);
out:
	free(f);
	while (n-- > 0)
		close(fds[n]);
	atomic_store(&c->done, 1);
	return NULL;
}

static void
never_fires(struct sl_loop *loop, struct sl_loop_timer *t, void *ctx)
{
	(void)loop;
	(void)t;
	(*(int *)ctx)++;
}

static void
test_destroy_live(void)
{
	struct sl_loop_params p = {.max_conns = 8, .in_buf_size = 4096};
	struct client c = {0};
	struct srv s;
	pthread_t th;
	uint64_t end;
	int fired = 0;

	CU_ASSERT_FATAL(srv_start(&s, &p, T_UNIX) == 0);
	c.srv = &s;
	client_start(&th, live_client, &c);
	CU_ASSERT(drive(&s, &c.stage, 1, 10000));
	CU_ASSERT(drive(&s, &s.accepted, LIVE_CONNS, 5000));
	end = now_ms() + 5000;
	while (s.frames < 1 && now_ms() < end) /* until echoed */
		sl_loop_run_once(s.loop, 5);
	CU_ASSERT_EQUAL(s.frames, 1);
	/* most of the reply is still queued when the loop goes away */
	CU_ASSERT(sl_loop_stats(s.loop).bytes_out < 4 + (1u << 20));
	CU_ASSERT(sl_loop_timer_add(s.loop, 10000, 1, never_fires, &fired) !=
		  NULL);
	sl_loop_destroy(s.loop); /* ASan reports anything left behind */
	atomic_store(&c.stage, 2);
	client_join(th, &c);
	CU_ASSERT(c.ok);
	CU_ASSERT_EQUAL(atomic_load(&s.closed), LIVE_CONNS);
	CU_ASSERT_EQUAL(s.reasons[SL_CONN_CLOSE_SHUTDOWN], LIVE_CONNS);
	CU_ASSERT_EQUAL(fired, 0);
}

/*
 * Out of descriptors: the server may open two more, the client (a forked
 * process, so the limit is not its own) connects three. The third waits
 * in the backlog while the listener backs off, and is served once the
 * first has gone.
 */
static int
emfile_child(const struct srv *s)
{
	int a, b, c;

	a = cli_connect(s, 0);
	if (a < 0 || !echo_once(a, 10, 1))
		return 10;
	b = cli_connect(s, 0);
	if (b < 0 || !echo_once(b, 10, 2))
		return 11;
	c = cli_connect(s, 0);
	if (c < 0)
		return 12;
	sleep_ms(150); /* the server hits EMFILE and pauses */
	close(a);
	if (!echo_once(c, 10, 3))
		return 13;
	close(b);
	close(c);
	return 0;
}

static void
test_emfile_backoff(void)
{
	struct sl_loop_params p = {.max_conns = 8};
	struct rlimit old, lim;
	struct sl_loop_stats st;
	struct srv s;
	uint64_t end;
	int status = -1, next;
	pid_t pid;

	CU_ASSERT_FATAL(srv_start(&s, &p, T_UNIX) == 0);
	CU_ASSERT_FATAL(getrlimit(RLIMIT_NOFILE, &old) == 0);
	next = dup(0); /* the lowest free descriptor */
	CU_ASSERT_FATAL(next >= 0);
	close(next);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0)
		_exit(emfile_child(&s));
	lim = old;
	lim.rlim_cur = (rlim_t)next + 2;
	CU_ASSERT_FATAL(setrlimit(RLIMIT_NOFILE, &lim) == 0);
	end = now_ms() + 10000;
	while (now_ms() < end && waitpid(pid, &status, WNOHANG) == 0)
		sl_loop_run_once(s.loop, 5);
	CU_ASSERT(drive(&s, &s.closed, 3, 5000));
	setrlimit(RLIMIT_NOFILE, &old);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fprintf(stderr, "\n  client exit status %d\n", status);

	st = sl_loop_stats(s.loop);
	CU_ASSERT(st.accept_errors >= 1);
	CU_ASSERT_EQUAL(st.accepted, 3);
	CU_ASSERT_EQUAL(s.frames, 3);
	CU_ASSERT(strstr(s.log, "pausing") != NULL);
	sl_loop_destroy(s.loop);
}

struct timer_counts {
	int oneshot, self_cancel, cancelled, ongoing, zero, chained;
	struct sl_loop_timer *self;
};

static void
count_fire(struct sl_loop *loop, struct sl_loop_timer *t, void *ctx)
{
	(void)loop;
	(void)t;
	(*(int *)ctx)++;
}

static void
self_cancel_fire(struct sl_loop *loop, struct sl_loop_timer *t, void *ctx)
{
	struct timer_counts *tc = ctx;

	if (++tc->self_cancel == 5)
		sl_loop_timer_cancel(loop, t);
}

static void
chain_fire(struct sl_loop *loop, struct sl_loop_timer *t, void *ctx)
{
	struct timer_counts *tc = ctx;

	(void)t;
	if (++tc->chained < 3) /* a one-shot adding the next one */
		CU_ASSERT(sl_loop_timer_add(loop, 5, 0, chain_fire, tc) !=
			  NULL);
}

static void
stop_fire(struct sl_loop *loop, struct sl_loop_timer *t, void *ctx)
{
	(void)t;
	(void)ctx;
	sl_loop_stop(loop);
}

static void
test_timers(void)
{
	struct sl_loop_params p = {0};
	struct timer_counts tc = {0};
	struct sl_loop_timer *cancelled, *ongoing;
	struct srv s;
	uint64_t t0, ms;
	int i, before;

	memset(&s, 0, sizeof(s));
	p.log = capture_log;
	p.log_ctx = &s;
	s.loop = sl_loop_create(g_backend, &p);
	CU_ASSERT_FATAL(s.loop != NULL);
	CU_ASSERT(sl_loop_timer_add(s.loop, 0, 1, count_fire, &tc) == NULL);
	CU_ASSERT_EQUAL(errno, EINVAL);

	t0 = now_ms();
	CU_ASSERT(sl_loop_timer_add(s.loop, 30, 0, count_fire, &tc.oneshot) !=
		  NULL);
	CU_ASSERT(sl_loop_timer_add(s.loop, 10, 1, self_cancel_fire, &tc) !=
		  NULL);
	CU_ASSERT(sl_loop_timer_add(s.loop, 0, 0, count_fire, &tc.zero) !=
		  NULL);
	CU_ASSERT(sl_loop_timer_add(s.loop, 5, 0, chain_fire, &tc) != NULL);
	cancelled = sl_loop_timer_add(s.loop, 50, 0, count_fire, &tc.cancelled);
	ongoing = sl_loop_timer_add(s.loop, 20, 1, count_fire, &tc.ongoing);
	CU_ASSERT(sl_loop_timer_add(s.loop, 250, 0, stop_fire, NULL) != NULL);
	CU_ASSERT_FATAL(cancelled != NULL && ongoing != NULL);
	sl_loop_timer_cancel(s.loop, cancelled);

	/* no sockets at all: run() must sleep in the backend until timers */
	CU_ASSERT_EQUAL(sl_loop_run(s.loop), 0);
	ms = now_ms() - t0;
	CU_ASSERT(ms >= 245 && ms < 2000);
	CU_ASSERT_EQUAL(tc.oneshot, 1);
	CU_ASSERT_EQUAL(tc.self_cancel, 5);
	CU_ASSERT_EQUAL(tc.cancelled, 0);
	CU_ASSERT_EQUAL(tc.zero, 1);
	CU_ASSERT_EQUAL(tc.chained, 3);
	CU_ASSERT(tc.ongoing >= 5 && tc.ongoing <= 13);

	sl_loop_timer_cancel(s.loop, ongoing);
	before = tc.ongoing;
	for (i = 0; i < 10; i++)
		sl_loop_run_once(s.loop, 10);
	CU_ASSERT_EQUAL(tc.ongoing, before);
	CU_ASSERT_EQUAL(tc.self_cancel, 5);

	/* run_once never waits longer than asked */
	t0 = now_ms();
	CU_ASSERT_EQUAL(sl_loop_run_once(s.loop, 50), 0);
	ms = now_ms() - t0;
	CU_ASSERT(ms >= 45 && ms < 1000);
	t0 = now_ms();
	CU_ASSERT_EQUAL(sl_loop_run_once(s.loop, 0), 0);
	CU_ASSERT(now_ms() - t0 < 50);
	sl_loop_destroy(s.loop);
}

static void
test_create_and_select(void)
{
	struct sl_loop_params p = {0};
	struct sl_loop *loop;
	struct srv s;
	int fd;

	memset(&s, 0, sizeof(s));
	p.log = capture_log;
	p.log_ctx = &s;

	loop = sl_loop_create(g_backend, &p);
	CU_ASSERT_FATAL(loop != NULL);
	CU_ASSERT_STRING_EQUAL(sl_loop_backend_name(loop), g_expect_name);
	CU_ASSERT_EQUAL(s.log_lines, 1); /* one line: which and why */
	CU_ASSERT(strstr(s.log, g_expect_name) != NULL);
	/* a socket that is not listening is refused, and closed */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CU_ASSERT_EQUAL(sl_loop_listen(loop, fd, echo_on_accept, &s), -EINVAL);
	CU_ASSERT_EQUAL(sl_loop_listen(loop, -1, echo_on_accept, &s), -EINVAL);
	sl_loop_destroy(loop);

	/* the environment decides only for AUTO */
	setenv("SL_LOOP_BACKEND", "epoll", 1);
	loop = sl_loop_create(SL_LOOP_BACKEND_AUTO, &p);
	CU_ASSERT_FATAL(loop != NULL);
	CU_ASSERT_STRING_EQUAL(sl_loop_backend_name(loop), "epoll");
	CU_ASSERT(strstr(s.log, "SL_LOOP_BACKEND") != NULL);
	sl_loop_destroy(loop);
	loop = sl_loop_create(g_backend, &p);
	CU_ASSERT_FATAL(loop != NULL);
	CU_ASSERT_STRING_EQUAL(sl_loop_backend_name(loop), g_expect_name);
	sl_loop_destroy(loop);
	if (g_backend == SL_LOOP_BACKEND_URING) {
		setenv("SL_LOOP_BACKEND", "uring", 1);
		loop = sl_loop_create(SL_LOOP_BACKEND_AUTO, &p);
		CU_ASSERT_FATAL(loop != NULL);
		CU_ASSERT_STRING_EQUAL(sl_loop_backend_name(loop), "io_uring");
		sl_loop_destroy(loop);
		unsetenv("SL_LOOP_BACKEND");
		loop = sl_loop_create(SL_LOOP_BACKEND_AUTO, &p);
		CU_ASSERT_FATAL(loop != NULL);
		CU_ASSERT_STRING_EQUAL(sl_loop_backend_name(loop), "io_uring");
		sl_loop_destroy(loop);
	}
	setenv("SL_LOOP_BACKEND", "kqueue", 1);
	errno = 0;
	CU_ASSERT(sl_loop_create(SL_LOOP_BACKEND_AUTO, &p) == NULL);
	CU_ASSERT_EQUAL(errno, EINVAL);
	unsetenv("SL_LOOP_BACKEND");

	p.in_buf_size = 10;
	errno = 0;
	CU_ASSERT(sl_loop_create(g_backend, &p) == NULL);
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT(sl_loop_create((enum sl_loop_backend)7, NULL) == NULL);
	CU_ASSERT_EQUAL(errno, EINVAL);

	CU_ASSERT_STRING_EQUAL(sl_conn_close_reason_name(SL_CONN_CLOSE_IDLE),
			       "idle timeout");
	CU_ASSERT_STRING_EQUAL(sl_conn_close_reason_name(99), "unknown");
}

int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} tests[] = {
		{"create and select", test_create_and_select},
		{"echo over unix", test_echo_unix},
		{"echo over tcp", test_echo_tcp},
		{"200 idle connections", test_idle_many},
		{"idle timeout", test_idle_timeout},
		{"slow reader over unix", test_slow_reader_unix},
		{"slow reader over tcp", test_slow_reader_tcp},
		{"max connections", test_max_conns},
		{"limits per listener", test_listener_limits},
		{"peer closes mid-frame", test_peer_close_mid_frame},
		{"peer resets mid-frame", test_peer_reset_mid_frame},
		{"close inside on_data", test_close_in_on_data},
		{"out of descriptors", test_emfile_backoff},
		{"timers", test_timers},
		{"destroy with live connections", test_destroy_live},
	};
	char suite_name[32];
	CU_pSuite suite;
	unsigned int failed;
	size_t i;

	if (argc != 2 ||
	    (strcmp(argv[1], "uring") && strcmp(argv[1], "epoll"))) {
		fprintf(stderr, "usage: %s uring|epoll\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	unsetenv("SL_LOOP_BACKEND");
	if (strcmp(argv[1], "uring") == 0) {
		struct sl_loop_params p = {0};
		struct srv s;
		struct sl_loop *loop;

		memset(&s, 0, sizeof(s));
		p.log = capture_log;
		p.log_ctx = &s;
		g_backend = SL_LOOP_BACKEND_URING;
		g_expect_name = "io_uring";
		loop = sl_loop_create(g_backend, &p);
		if (loop == NULL) {
			printf("SKIP: io_uring unavailable: %s (%s)\n",
			       strerror(errno), s.log);
			return 77;
		}
		sl_loop_destroy(loop);
	} else {
		g_backend = SL_LOOP_BACKEND_EPOLL;
		g_expect_name = "epoll";
	}

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	snprintf(suite_name, sizeof(suite_name), "loop-%s", argv[1]);
	suite = CU_add_suite(suite_name, NULL, NULL);
	for (i = 0; suite != NULL && i < sizeof(tests) / sizeof(tests[0]); i++)
		CU_add_test(suite, tests[i].name, tests[i].fn);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failed ? 1 : 0;
}
