/* SPDX-License-Identifier: MIT */
/*
 * api_harness.c - server thread and clients for the control API tests
 * (api_harness.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api_harness.h"
#include "sl_frame.h"

#define CLIENT_TIMEOUT_S 5

enum sl_loop_backend harness_backend = SL_LOOP_BACKEND_EPOLL;

struct harness {
	struct harness_opts opts;
	struct api_backend backend;
	char dir[64];
	char path[128];
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool ready;
	int start_error;
	bool stop;
	uint16_t tcp_port;
	uint16_t metrics_port;
	/* One pending harness_call. */
	void (*call_fn)(struct sl_api *, struct sl_loop *, void *);
	void *call_arg;
	bool call_done;
	struct sl_api *api;
	struct sl_loop *loop;
};

uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void
sleep_ms(unsigned int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static void
quiet_log(const char *line, void *ctx)
{
	(void)line;
	(void)ctx;
}

int
harness_main_init(int argc, char **argv)
{
	struct sl_loop_params quiet = {.log = quiet_log};
	struct sl_loop *loop;

	if (argc < 2 ||
	    (strcmp(argv[1], "uring") && strcmp(argv[1], "epoll"))) {
		fprintf(stderr, "usage: %s uring|epoll [...]\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	unsetenv("SL_LOOP_BACKEND");
	if (strcmp(argv[1], "epoll") == 0) {
		harness_backend = SL_LOOP_BACKEND_EPOLL;
		return 0;
	}
	harness_backend = SL_LOOP_BACKEND_URING;
	loop = sl_loop_create(harness_backend, &quiet);
	if (loop == NULL) {
		printf("SKIP: io_uring unavailable: %s\n", strerror(errno));
		return 77;
	}
	sl_loop_destroy(loop);
	return 0;
}

/* Runs pending calls and the stop request on the loop's thread. */
static void
harness_tick(struct sl_loop *loop, struct sl_loop_timer *t, void *ctx)
{
	struct harness *h = ctx;

	(void)t;
	pthread_mutex_lock(&h->lock);
	if (h->call_fn != NULL && !h->call_done) {
		h->call_fn(h->api, loop, h->call_arg);
		h->call_done = true;
		pthread_cond_broadcast(&h->cond);
	}
	if (h->stop)
		sl_loop_stop(loop);
	pthread_mutex_unlock(&h->lock);
}

static int
metrics_socket(uint16_t *port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(fd, 64) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &sl) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(sin.sin_port);
	return fd;
}

static void *
harness_thread(void *arg)
{
	struct harness *h = arg;
	struct sl_loop_params lp = {0};
	struct sl_api_params ap = {0};
	int rc = 0;

	lp.idle_timeout_ms = h->opts.idle_timeout_ms ? h->opts.idle_timeout_ms
						     : SL_API_IDLE_TIMEOUT_MS;
	lp.max_conns = h->opts.max_conns;
	lp.log = quiet_log;
	h->loop = sl_loop_create(harness_backend, &lp);
	if (h->loop == NULL) {
		rc = errno;
		goto ready;
	}
	ap.unix_path = h->path;
	ap.unix_mode = h->opts.unix_mode;
	ap.admin_gid_set = h->opts.admin_gid_set;
	ap.admin_gid = h->opts.admin_gid;
	ap.tcp = h->opts.tcp;
	ap.token = HARNESS_TOKEN;
	ap.ro_token = h->opts.ro_token ? HARNESS_RO_TOKEN : NULL;
	ap.unix_limits = h->opts.unix_limits;
	ap.tcp_limits = h->opts.tcp_limits;
	ap.metrics_limits = h->opts.metrics_limits;
	ap.audit_log = h->opts.audit_log;
	ap.version = "0.1.0";
	ap.log = quiet_log;
	h->api = sl_api_create(h->loop, &ap, &api_backend_ops, &h->backend);
	if (h->api == NULL) {
		rc = errno;
		goto ready;
	}
	h->tcp_port = sl_api_tcp_port(h->api);
	if (h->opts.metrics) {
		int fd = metrics_socket(&h->metrics_port);

		if (fd < 0 || sl_api_serve_metrics(h->api, fd) != 0) {
			rc = EIO;
			goto ready;
		}
	}
	if (sl_loop_timer_add(h->loop, 5, 1, harness_tick, h) == NULL)
		rc = ENOMEM;
ready:
	pthread_mutex_lock(&h->lock);
	h->start_error = rc;
	h->ready = true;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	if (rc == 0)
		sl_loop_run(h->loop);
	sl_loop_destroy(h->loop);
	sl_api_destroy(h->api);
	return NULL;
}

struct harness *
harness_start(const struct harness_opts *o)
{
	struct harness *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	if (o != NULL)
		h->opts = *o;
	api_backend_init(&h->backend);
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	snprintf(h->dir, sizeof(h->dir), "/tmp/sl_api_test.XXXXXX");
	if (mkdtemp(h->dir) == NULL) {
		free(h);
		return NULL;
	}
	/* A socket others may use sits in a folder they can reach. */
	if (h->opts.unix_mode & 0077)
		chmod(h->dir, 0755);
	snprintf(h->path, sizeof(h->path), "%s/sluiced.sock", h->dir);
	if (pthread_create(&h->thread, NULL, harness_thread, h) != 0) {
		rmdir(h->dir);
		free(h);
		return NULL;
	}
	pthread_mutex_lock(&h->lock);
	while (!h->ready)
		pthread_cond_wait(&h->cond, &h->lock);
	pthread_mutex_unlock(&h->lock);
	if (h->start_error != 0) {
		fprintf(stderr, "harness: start: %s\n",
			strerror(h->start_error));
		harness_stop(h);
		return NULL;
	}
	return h;
}

void
harness_stop(struct harness *h)
{
	if (h == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	h->stop = true;
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	unlink(h->path);
	rmdir(h->dir);
	api_backend_fini(&h->backend);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

struct api_backend *
harness_backend_of(struct harness *h)
{
	return &h->backend;
}

const char *
harness_unix_path(struct harness *h)
{
	return h->path;
}

uint16_t
harness_tcp_port(struct harness *h)
{
	return h->tcp_port;
}

uint16_t
harness_metrics_port(struct harness *h)
{
	return h->metrics_port;
}

void
harness_call(struct harness *h,
	     void (*fn)(struct sl_api *, struct sl_loop *, void *), void *arg)
{
	pthread_mutex_lock(&h->lock);
	h->call_fn = fn;
	h->call_arg = arg;
	h->call_done = false;
	while (!h->call_done)
		pthread_cond_wait(&h->cond, &h->lock);
	h->call_fn = NULL;
	pthread_mutex_unlock(&h->lock);
}

static void
get_api_stats(struct sl_api *api, struct sl_loop *loop, void *arg)
{
	(void)loop;
	*(struct sl_api_stats *)arg = sl_api_stats(api);
}

static void
get_loop_stats(struct sl_api *api, struct sl_loop *loop, void *arg)
{
	(void)api;
	*(struct sl_loop_stats *)arg = sl_loop_stats(loop);
}

struct sl_api_stats
harness_api_stats(struct harness *h)
{
	struct sl_api_stats s;

	harness_call(h, get_api_stats, &s);
	return s;
}

struct listener_query {
	const char *which;
	struct sl_listener_stats out;
};

static void
get_listener_stats(struct sl_api *api, struct sl_loop *loop, void *arg)
{
	struct listener_query *q = arg;

	(void)loop;
	memset(&q->out, 0, sizeof(q->out));
	sl_api_listener_stats(api, q->which, &q->out);
}

struct sl_listener_stats
harness_listener_stats(struct harness *h, const char *which)
{
	struct listener_query q = {.which = which};

	harness_call(h, get_listener_stats, &q);
	return q.out;
}

struct sl_loop_stats
harness_loop_stats(struct harness *h)
{
	struct sl_loop_stats s;

	harness_call(h, get_loop_stats, &s);
	return s;
}

/* ---------------------------------------------------------------- clients */

static void
set_timeouts(int fd)
{
	struct timeval tv = {CLIENT_TIMEOUT_S, 0};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

int
client_unix(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		close(fd);
		return -1;
	}
	set_timeouts(fd);
	return fd;
}

int
client_tcp(uint16_t port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		close(fd);
		return -1;
	}
	set_timeouts(fd);
	return fd;
}

int
send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
send_request(int fd, const Sluice__V1__Request *req)
{
	size_t len = sluice__v1__request__get_packed_size(req);
	uint8_t *buf = malloc(SL_FRAME_HDR + len);
	int rc;

	if (buf == NULL)
		return -1;
	sl_frame_put_header(buf, (uint32_t)len);
	sluice__v1__request__pack(req, buf + SL_FRAME_HDR);
	rc = send_all(fd, buf, SL_FRAME_HDR + len);
	free(buf);
	return rc;
}

static int
recv_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = recv(fd, p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

uint8_t *
recv_frame(int fd, size_t *len)
{
	uint8_t hdr[SL_FRAME_HDR];
	uint8_t *buf;
	uint32_t n;

	if (recv_all(fd, hdr, sizeof(hdr)) != 0)
		return NULL;
	n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
	    (uint32_t)hdr[2] << 8 | hdr[3];
	if (n > SL_FRAME_MAX)
		return NULL;
	buf = malloc(n ? n : 1);
	if (buf == NULL || recv_all(fd, buf, n) != 0) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

Sluice__V1__Response *
recv_response(int fd)
{
	Sluice__V1__Response *r;
	size_t len;
	uint8_t *buf = recv_frame(fd, &len);

	if (buf == NULL)
		return NULL;
	r = sluice__v1__response__unpack(NULL, len, buf);
	free(buf);
	return r;
}

Sluice__V1__Response *
rpc(int fd, const Sluice__V1__Request *req)
{
	if (send_request(fd, req) != 0)
		return NULL;
	return recv_response(fd);
}

bool
peer_closed(int fd)
{
	uint64_t deadline = now_ms() + 3000;
	char buf[4096];

	while (now_ms() < deadline) {
		struct pollfd pfd = {fd, POLLIN, 0};
		ssize_t n;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
	}
	return false;
}
