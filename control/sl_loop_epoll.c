/* SPDX-License-Identifier: MIT */
/*
 * sl_loop_epoll.c - epoll backend of sl_loop (compiled inside sl_loop.c).
 *
 * The fallback where io_uring is missing or blocked (Docker's default
 * seccomp profile, kernel.io_uring_disabled). Level-triggered, so a busy
 * socket cannot starve others: each wakeup reads at most
 * SL_EPOLL_READS_PER_EVENT buffers and accepts at most
 * SL_EPOLL_ACCEPTS_PER_EVENT connections, and what is left is reported
 * again by the next epoll_wait. All connections read into one loop-wide
 * buffer of in_buf_size bytes, valid for the on_data call only, like an
 * io_uring provided buffer. Output is written at flush time; EPOLLOUT is
 * asked for only while the queue is not empty.
 */
#include <sys/epoll.h>

#define SL_EPOLL_MAX_EVENTS 256
#define SL_EPOLL_READS_PER_EVENT 4
#define SL_EPOLL_ACCEPTS_PER_EVENT 64

/* conn be_flags */
#define SL_EPOLL_WANT_OUT 0x1

struct sl_epoll {
	int epfd;
	uint8_t *rbuf;
	uint32_t rbuf_size;
	struct epoll_event events[SL_EPOLL_MAX_EVENTS];
};

static void
epoll_fini(struct sl_loop *loop)
{
	struct sl_epoll *e = loop->be;

	if (e == NULL)
		return;
	if (e->epfd >= 0)
		close(e->epfd);
	free(e->rbuf);
	free(e);
	loop->be = NULL;
}

static int
epoll_init(struct sl_loop *loop, char *why, size_t why_len)
{
	struct sl_epoll *e = calloc(1, sizeof(*e));
	int rc;

	if (e == NULL) {
		snprintf(why, why_len, "out of memory");
		return -ENOMEM;
	}
	loop->be = e;
	e->rbuf_size = loop->p.in_buf_size;
	e->rbuf = malloc(e->rbuf_size);
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (e->rbuf == NULL || e->epfd < 0) {
		rc = e->rbuf == NULL ? -ENOMEM : -errno;
		snprintf(why, why_len, "epoll_create1: %s", strerror(-rc));
		epoll_fini(loop);
		return rc;
	}
	return 0;
}

static int
epoll_ctl_ptr(struct sl_epoll *e, int op, int fd, uint32_t events, void *src,
	      enum sl_loop_src kind)
{
	struct epoll_event ev = {.events = events};

	ev.data.u64 = (uintptr_t)src | kind;
	return epoll_ctl(e->epfd, op, fd, &ev) < 0 ? -errno : 0;
}

static int
epoll_listen(struct sl_loop *loop, struct sl_listener *l)
{
	return epoll_ctl_ptr(loop->be, EPOLL_CTL_ADD, l->fd, EPOLLIN, l,
			     SL_SRC_ACCEPT);
}

static void
epoll_listener_shut(struct sl_loop *loop, struct sl_listener *l)
{
	struct sl_epoll *e = loop->be;

	epoll_ctl(e->epfd, EPOLL_CTL_DEL, l->fd, NULL);
}

static int
epoll_conn_start(struct sl_loop *loop, struct sl_conn *c)
{
	return epoll_ctl_ptr(loop->be, EPOLL_CTL_ADD, c->fd, EPOLLIN, c,
			     SL_SRC_RECV);
}

static void
epoll_conn_flush(struct sl_loop *loop, struct sl_conn *c)
{
	bool want_out;

	while (c->state != SL_CONN_CLOSED && c->out.bytes > 0) {
		size_t len;
		const uint8_t *p = outq_peek(&c->out, &len);
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			conn_sent(c, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		conn_terminate(c, SL_CONN_CLOSE_ERROR);
		return;
	}
	if (c->state == SL_CONN_CLOSED)
		return;
	want_out = c->out.bytes > 0;
	if (want_out == !!(c->be_flags & SL_EPOLL_WANT_OUT))
		return;
	if (epoll_ctl_ptr(loop->be, EPOLL_CTL_MOD, c->fd,
			  EPOLLIN | (want_out ? EPOLLOUT : 0), c,
			  SL_SRC_RECV) < 0) {
		conn_terminate(c, SL_CONN_CLOSE_ERROR);
		return;
	}
	c->be_flags ^= SL_EPOLL_WANT_OUT;
}

static void
epoll_conn_shut(struct sl_loop *loop, struct sl_conn *c)
{
	struct sl_epoll *e = loop->be;

	epoll_ctl(e->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
}

static bool
epoll_conn_busy(const struct sl_conn *c)
{
	(void)c;
	return false;
}

static void
epoll_accept_ready(struct sl_loop *loop, struct sl_listener *l)
{
	int i;

	for (i = 0; i < SL_EPOLL_ACCEPTS_PER_EVENT; i++) {
		int fd = accept4(l->fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			loop_accepted(loop, l, fd);
			continue;
		}
		switch (errno) {
		case EAGAIN:
#if EAGAIN != EWOULDBLOCK
		case EWOULDBLOCK:
#endif
			return;
		case EINTR:
		case ECONNABORTED: /* the peer gave up while queued */
		case EPROTO:
			continue;
		default: /* EMFILE, ENFILE, ENOBUFS, ENOMEM, ... */
			epoll_listener_shut(loop, l);
			listener_backoff(loop, l, errno);
			return;
		}
	}
}

static void
epoll_conn_ready(struct sl_loop *loop, struct sl_epoll *e, struct sl_conn *c,
		 uint32_t events)
{
	int i;

	if (c->state == SL_CONN_CLOSED)
		return;
	if (events & EPOLLOUT)
		epoll_conn_flush(loop, c);
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	for (i = 0; i < SL_EPOLL_READS_PER_EVENT; i++) {
		ssize_t n;

		if (c->state == SL_CONN_CLOSED)
			return;
		n = recv(c->fd, e->rbuf, e->rbuf_size, MSG_DONTWAIT);
		if (n > 0) {
			conn_deliver(c, e->rbuf, (size_t)n);
			if ((size_t)n < e->rbuf_size)
				return;
			continue;
		}
		if (n == 0) {
			conn_terminate(c, SL_CONN_CLOSE_PEER);
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			conn_terminate(c, SL_CONN_CLOSE_ERROR);
		return;
	}
}

static int
epoll_wait_dispatch(struct sl_loop *loop, int timeout_ms)
{
	struct sl_epoll *e = loop->be;
	int i, n;

	n = epoll_wait(e->epfd, e->events, SL_EPOLL_MAX_EVENTS, timeout_ms);
	loop_update_now(loop);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 0; i < n; i++) {
		uint64_t ud = e->events[i].data.u64;
		void *src = (void *)(uintptr_t)(ud & ~SL_SRC_MASK);

		if ((ud & SL_SRC_MASK) == SL_SRC_ACCEPT)
			epoll_accept_ready(loop, src);
		else
			epoll_conn_ready(loop, e, src, e->events[i].events);
	}
	return n;
}

static const struct sl_loop_ops sl_loop_epoll_ops = {
	.name = "epoll",
	.init = epoll_init,
	.fini = epoll_fini,
	.listen = epoll_listen,
	.listener_shut = epoll_listener_shut,
	.conn_start = epoll_conn_start,
	.conn_flush = epoll_conn_flush,
	.conn_shut = epoll_conn_shut,
	.conn_busy = epoll_conn_busy,
	.wait = epoll_wait_dispatch,
};
