/* SPDX-License-Identifier: MIT */
/*
 * sl_loop.c - the backend-independent half of the event loop: connection
 * life cycle, output queues, idle timeouts, timers, counters, and picking
 * a backend at run time.
 *
 * The backends are one file each and are compiled into this translation
 * unit (Redis ae's layout), so the structs below stay private without a
 * second header. A backend implements struct sl_loop_ops and reports
 * events through the loop_* and conn_* helpers defined before the
 * #includes; it never calls a protocol callback itself.
 *
 * Lists: an open connection sits on its listener's live list, ordered by
 * last progress (sl_conn_touch moves it to the tail), so the idle check
 * only looks at the head of each listener's list (each listener has its
 * own idle timeout and connection limit). A closed one moves to loop->closed
 * until on_close has been called and the backend holds no request on it; only
 * then is it freed, which is why a callback may close any connection at any
 * time.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sl_loop.h"

#define SL_LOOP_DEF_MAX_CONNS 1024
#define SL_LOOP_DEF_OUT_LIMIT (4u << 20)
#define SL_LOOP_DEF_IN_BUF_SIZE (16u << 10)
#define SL_LOOP_DEF_IN_BUF_COUNT 256
#define SL_LOOP_MAX_IN_BUF_COUNT 32768 /* buffer ids are 16 bits */
#define SL_LOOP_OUT_CHUNK (16u << 10)
#define SL_LOOP_ACCEPT_BACKOFF_MS 100
#define SL_LOOP_DESTROY_DRAIN_MS 500

/* Event sources are tagged pointers: the low bits say what kind. */
enum sl_loop_src {
	SL_SRC_ACCEPT = 1,
	SL_SRC_RECV = 2, /* epoll: any readiness on a connection */
	SL_SRC_SEND = 3,
};
#define SL_SRC_MASK 7ull
_Static_assert(_Alignof(max_align_t) > SL_SRC_MASK,
	       "malloc alignment leaves no room for source tags");

/* A reason never reported: on_accept refused, so there is no on_close. */
#define SL_CONN_CLOSE_REFUSED_ 1000

enum sl_conn_state {
	SL_CONN_OPEN,
	SL_CONN_DRAINING, /* sl_conn_close with output still queued */
	SL_CONN_CLOSED,   /* on loop->closed */
};

/*
 * Fixed-capacity chunks, so bytes handed to an in-flight io_uring send
 * never move when more are appended.
 */
struct sl_out_chunk {
	struct sl_out_chunk *next;
	size_t off; /* first byte not yet sent */
	size_t len; /* bytes written */
	size_t cap;
	uint8_t data[];
};

struct sl_outq {
	struct sl_out_chunk *head, *tail;
	size_t bytes;
};

struct sl_conn {
	struct sl_loop *loop;
	int fd;
	enum sl_conn_state state;
	int close_reason;
	bool notified; /* on_close done (or there is no handler) */
	bool in_flush; /* on loop->flush */
	uint8_t be_flags;
	const struct sl_conn_handler *handler;
	void *ctx;
	struct sl_listener *listener; /* accepted on; outlives the conn */
	uint64_t last_progress_ms;
	struct sl_outq out;
	TAILQ_ENTRY(sl_conn) link; /* listener->live or loop->closed */
	TAILQ_ENTRY(sl_conn) flush_link;
};

TAILQ_HEAD(sl_conn_list, sl_conn);

struct sl_listener {
	struct sl_loop *loop;
	int fd;
	uint8_t be_flags;
	sl_loop_accept_fn on_accept;
	void *ctx;
	struct sl_loop_timer *backoff;
	uint32_t max_conns;       /* 0: only the loop's limit */
	uint32_t idle_timeout_ms; /* 0: never */
	uint32_t n_conns;         /* open or draining, accepted here */
	struct sl_listener_stats stats;
	struct sl_conn_list live;
	TAILQ_ENTRY(sl_listener) link;
};

struct sl_loop_timer {
	uint64_t deadline_ms;
	uint64_t seq; /* equal deadlines fire in the order they were added */
	uint32_t period_ms;
	uint32_t heap_idx;
	bool repeat;
	bool firing;
	bool cancelled;
	sl_loop_timer_fn fn;
	void *ctx;
};

struct sl_loop_ops {
	const char *name;
	/* 0, or -errno with a reason written to why. */
	int (*init)(struct sl_loop *loop, char *why, size_t why_len);
	void (*fini)(struct sl_loop *loop);
	int (*listen)(struct sl_loop *loop, struct sl_listener *l);
	void (*listener_shut)(struct sl_loop *loop, struct sl_listener *l);
	int (*conn_start)(struct sl_loop *loop, struct sl_conn *c);
	void (*conn_flush)(struct sl_loop *loop, struct sl_conn *c);
	/* The connection has just been closed: stop its I/O. */
	void (*conn_shut)(struct sl_loop *loop, struct sl_conn *c);
	/* The backend still has a request that names the connection. */
	bool (*conn_busy)(const struct sl_conn *c);
	/* Wait up to timeout_ms (< 0: forever), dispatch, return count. */
	int (*wait)(struct sl_loop *loop, int timeout_ms);
};

struct sl_loop {
	const struct sl_loop_ops *ops;
	void *be; /* the backend's state */
	struct sl_loop_params p;
	struct sl_loop_stats stats;
	uint64_t now_ms;
	volatile sig_atomic_t stop;
	bool destroying;
	uint32_t n_conns; /* open or draining */
	struct sl_conn_list closed;
	struct sl_conn_list flush;
	TAILQ_HEAD(, sl_listener) listeners;
	struct sl_loop_timer **heap;
	uint32_t heap_len;
	uint32_t heap_cap;
	uint64_t timer_seq;
};

static uint64_t
clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
loop_update_now(struct sl_loop *loop)
{
	loop->now_ms = clock_ms();
}

static void __attribute__((format(printf, 2, 3)))
loop_log(const struct sl_loop *loop, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (loop->p.log != NULL)
		loop->p.log(line, loop->p.log_ctx);
	else
		fprintf(stderr, "%s\n", line);
}

/* ---- output queue ---- */

static int
outq_append(struct sl_outq *q, const uint8_t *buf, size_t len)
{
	struct sl_out_chunk *tail = q->tail;
	size_t room = tail != NULL ? tail->cap - tail->len : 0;
	size_t first = len < room ? len : room;
	size_t rest = len - first;

	if (rest > 0) {
		size_t cap =
			rest > SL_LOOP_OUT_CHUNK ? rest : SL_LOOP_OUT_CHUNK;
		struct sl_out_chunk *ch = malloc(sizeof(*ch) + cap);

		if (ch == NULL)
			return -ENOMEM;
		ch->next = NULL;
		ch->off = 0;
		ch->len = rest;
		ch->cap = cap;
		memcpy(ch->data, buf + first, rest);
		if (tail != NULL)
			tail->next = ch;
		else
			q->head = ch;
		q->tail = ch;
	}
	if (first > 0) {
		memcpy(tail->data + tail->len, buf, first);
		tail->len += first;
	}
	q->bytes += len;
	return 0;
}

/* Drop n bytes from the front; only while no send is in flight. */
static void
outq_consume(struct sl_outq *q, size_t n)
{
	q->bytes -= n;
	while (n > 0) {
		struct sl_out_chunk *ch = q->head;
		size_t avail = ch->len - ch->off;
		size_t take = n < avail ? n : avail;

		ch->off += take;
		n -= take;
		if (ch->off < ch->len)
			break;
		if (ch == q->tail) {
			ch->off = 0;
			ch->len = 0;
			break;
		}
		q->head = ch->next;
		free(ch);
	}
}

/* The first run of unsent bytes; *len 0 when empty. */
static const uint8_t *
outq_peek(const struct sl_outq *q, size_t *len)
{
	const struct sl_out_chunk *ch = q->head;

	if (ch == NULL || q->bytes == 0) {
		*len = 0;
		return NULL;
	}
	*len = ch->len - ch->off;
	return ch->data + ch->off;
}

static void
outq_free(struct sl_outq *q)
{
	struct sl_out_chunk *ch = q->head;

	while (ch != NULL) {
		struct sl_out_chunk *next = ch->next;

		free(ch);
		ch = next;
	}
	memset(q, 0, sizeof(*q));
}

/* ---- timers: a binary min-heap on (deadline, seq) ---- */

static bool
timer_before(const struct sl_loop_timer *a, const struct sl_loop_timer *b)
{
	if (a->deadline_ms != b->deadline_ms)
		return a->deadline_ms < b->deadline_ms;
	return a->seq < b->seq;
}

static void
heap_set(struct sl_loop *loop, uint32_t i, struct sl_loop_timer *t)
{
	loop->heap[i] = t;
	t->heap_idx = i;
}

static void
heap_up(struct sl_loop *loop, uint32_t i)
{
	struct sl_loop_timer *t = loop->heap[i];

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (!timer_before(t, loop->heap[parent]))
			break;
		heap_set(loop, i, loop->heap[parent]);
		i = parent;
	}
	heap_set(loop, i, t);
}

static void
heap_down(struct sl_loop *loop, uint32_t i)
{
	struct sl_loop_timer *t = loop->heap[i];

	for (;;) {
		uint32_t child = 2 * i + 1;

		if (child >= loop->heap_len)
			break;
		if (child + 1 < loop->heap_len &&
		    timer_before(loop->heap[child + 1], loop->heap[child]))
			child++;
		if (!timer_before(loop->heap[child], t))
			break;
		heap_set(loop, i, loop->heap[child]);
		i = child;
	}
	heap_set(loop, i, t);
}

static int
heap_push(struct sl_loop *loop, struct sl_loop_timer *t)
{
	if (loop->heap_len == loop->heap_cap) {
		uint32_t cap = loop->heap_cap ? loop->heap_cap * 2 : 16;
		struct sl_loop_timer **heap =
			realloc(loop->heap, cap * sizeof(*heap));

		if (heap == NULL)
			return -ENOMEM;
		loop->heap = heap;
		loop->heap_cap = cap;
	}
	heap_set(loop, loop->heap_len++, t);
	heap_up(loop, t->heap_idx);
	return 0;
}

static void
heap_remove(struct sl_loop *loop, struct sl_loop_timer *t)
{
	uint32_t i = t->heap_idx;
	struct sl_loop_timer *last = loop->heap[--loop->heap_len];

	if (last == t)
		return;
	heap_set(loop, i, last);
	heap_up(loop, i);
	heap_down(loop, last->heap_idx);
}

static int
loop_run_timers(struct sl_loop *loop)
{
	int fired = 0;

	while (loop->heap_len > 0 &&
	       loop->heap[0]->deadline_ms <= loop->now_ms) {
		struct sl_loop_timer *t = loop->heap[0];

		heap_remove(loop, t);
		t->firing = true;
		t->fn(loop, t, t->ctx);
		t->firing = false;
		fired++;
		if (t->cancelled || !t->repeat) {
			free(t);
			continue;
		}
		t->deadline_ms += t->period_ms;
		if (t->deadline_ms <= loop->now_ms)
			t->deadline_ms = loop->now_ms + t->period_ms;
		t->seq = loop->timer_seq++;
		if (heap_push(loop, t) < 0) /* cannot happen: t was in it */
			free(t);
	}
	return fired;
}

/* ---- connection life cycle, shared by the backends ---- */

static void
conn_terminate(struct sl_conn *c, int reason)
{
	struct sl_loop *loop = c->loop;

	if (c->state == SL_CONN_CLOSED)
		return;
	TAILQ_REMOVE(&c->listener->live, c, link);
	c->listener->n_conns--;
	if (c->in_flush) {
		TAILQ_REMOVE(&loop->flush, c, flush_link);
		c->in_flush = false;
	}
	c->state = SL_CONN_CLOSED;
	c->close_reason = reason;
	loop->n_conns--;
	switch (reason) {
	case SL_CONN_CLOSE_PEER:
		loop->stats.closed_peer++;
		break;
	case SL_CONN_CLOSE_LOCAL:
		loop->stats.closed_local++;
		break;
	case SL_CONN_CLOSE_IDLE:
		loop->stats.closed_idle++;
		c->listener->stats.closed_idle++;
		break;
	case SL_CONN_CLOSE_SLOW_READER:
		loop->stats.closed_slow_reader++;
		break;
	case SL_CONN_CLOSE_ERROR:
		loop->stats.closed_error++;
		break;
	default: /* shutdown, refused */
		break;
	}
	loop->ops->conn_shut(loop, c);
	TAILQ_INSERT_TAIL(&loop->closed, c, link);
}

static void
conn_schedule_flush(struct sl_conn *c)
{
	if (!c->in_flush) {
		TAILQ_INSERT_TAIL(&c->loop->flush, c, flush_link);
		c->in_flush = true;
	}
}

/* Bytes arrived; counted even while draining, where they are dropped. */
static void
conn_deliver(struct sl_conn *c, const uint8_t *buf, size_t len)
{
	c->loop->stats.bytes_in += len;
	if (c->state == SL_CONN_OPEN && c->handler != NULL)
		c->handler->on_data(c, buf, len, c->ctx);
}

/* The kernel took n bytes from the front of the output queue. */
static void
conn_sent(struct sl_conn *c, size_t n)
{
	outq_consume(&c->out, n);
	c->loop->stats.bytes_out += n;
	if (c->out.bytes == 0 && c->state == SL_CONN_DRAINING)
		conn_terminate(c, SL_CONN_CLOSE_LOCAL);
}

static void
conn_free(struct sl_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	outq_free(&c->out);
	free(c);
}

static void listener_resume(struct sl_loop *loop, struct sl_loop_timer *t,
			    void *ctx);

/* Accepting failed with err: pause the listener instead of spinning. */
static void
listener_backoff(struct sl_loop *loop, struct sl_listener *l, int err)
{
	loop->stats.accept_errors++;
	if (loop->destroying || l->backoff != NULL)
		return;
	loop_log(loop, "sl_loop: accept on fd %d: %s; pausing %d ms", l->fd,
		 strerror(err), SL_LOOP_ACCEPT_BACKOFF_MS);
	l->backoff = sl_loop_timer_add(loop, SL_LOOP_ACCEPT_BACKOFF_MS, 0,
				       listener_resume, l);
}

static void
listener_resume(struct sl_loop *loop, struct sl_loop_timer *t, void *ctx)
{
	struct sl_listener *l = ctx;
	int rc;

	(void)t;
	l->backoff = NULL;
	rc = loop->ops->listen(loop, l);
	if (rc < 0)
		listener_backoff(loop, l, -rc);
}

/* A backend accepted fd on l. */
static void
loop_accepted(struct sl_loop *loop, struct sl_listener *l, int fd)
{
	const struct sl_conn_handler *h;
	struct sl_conn *c;

	if (loop->destroying) {
		close(fd);
		return;
	}
	if (loop->n_conns >= loop->p.max_conns ||
	    (l->max_conns != 0 && l->n_conns >= l->max_conns)) {
		close(fd);
		loop->stats.rejected_full++;
		l->stats.rejected_full++;
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		loop->stats.accept_errors++;
		return;
	}
	c->loop = loop;
	c->fd = fd;
	c->state = SL_CONN_OPEN;
	c->ctx = l->ctx;
	c->listener = l;
	c->last_progress_ms = loop->now_ms;
	if (loop->ops->conn_start(loop, c) < 0) {
		conn_free(c);
		loop->stats.accept_errors++;
		return;
	}
	TAILQ_INSERT_TAIL(&l->live, c, link);
	loop->n_conns++;
	l->n_conns++;
	h = l->on_accept(c, l->ctx);
	if (h == NULL) {
		loop->stats.rejected_by_handler++;
		c->notified = true;
		conn_terminate(c, SL_CONN_CLOSE_REFUSED_);
		return;
	}
	c->handler = h;
	loop->stats.accepted++;
	l->stats.accepted++;
}

static void
loop_flush(struct sl_loop *loop)
{
	struct sl_conn *c;

	while ((c = TAILQ_FIRST(&loop->flush)) != NULL) {
		TAILQ_REMOVE(&loop->flush, c, flush_link);
		c->in_flush = false;
		loop->ops->conn_flush(loop, c);
	}
}

/* on_close for what was closed; free what the backend has let go of. */
static void
loop_reap(struct sl_loop *loop)
{
	struct sl_conn *c = TAILQ_FIRST(&loop->closed);

	while (c != NULL) {
		struct sl_conn *next;

		if (!c->notified) {
			c->notified = true;
			if (c->handler != NULL && c->handler->on_close != NULL)
				c->handler->on_close(c, c->close_reason,
						     c->ctx);
		}
		/* on_close may have closed others: they went to the tail */
		next = TAILQ_NEXT(c, link);
		if (!loop->ops->conn_busy(c)) {
			TAILQ_REMOVE(&loop->closed, c, link);
			conn_free(c);
		}
		c = next;
	}
}

static void
loop_check_idle(struct sl_loop *loop)
{
	struct sl_listener *l;
	struct sl_conn *c;

	TAILQ_FOREACH(l, &loop->listeners, link)
	{
		if (l->idle_timeout_ms == 0)
			continue;
		while ((c = TAILQ_FIRST(&l->live)) != NULL &&
		       loop->now_ms - c->last_progress_ms >= l->idle_timeout_ms)
			conn_terminate(c, SL_CONN_CLOSE_IDLE);
	}
}

/* Milliseconds until the next timer or idle deadline; -1 if none. */
static int64_t
loop_next_deadline(const struct sl_loop *loop)
{
	const struct sl_listener *l;
	int64_t best = -1;

	if (loop->heap_len > 0) {
		uint64_t d = loop->heap[0]->deadline_ms;

		best = d > loop->now_ms ? (int64_t)(d - loop->now_ms) : 0;
	}
	TAILQ_FOREACH(l, &loop->listeners, link)
	{
		uint64_t d;
		int64_t left;

		if (l->idle_timeout_ms == 0 || TAILQ_EMPTY(&l->live))
			continue;
		d = TAILQ_FIRST(&l->live)->last_progress_ms +
		    l->idle_timeout_ms;
		left = d > loop->now_ms ? (int64_t)(d - loop->now_ms) : 0;
		if (best < 0 || left < best)
			best = left;
	}
	return best;
}

#include "sl_loop_uring.c"
#include "sl_loop_epoll.c"

/* ---- public API ---- */

static const char *const sl_conn_close_reason_names[] = {
#define SL_CONN_CLOSE_NAME(name, text) text,
	SL_CONN_CLOSE_REASONS(SL_CONN_CLOSE_NAME)
#undef SL_CONN_CLOSE_NAME
};

const char *
sl_conn_close_reason_name(int reason)
{
	size_t n = sizeof(sl_conn_close_reason_names) /
		   sizeof(sl_conn_close_reason_names[0]);

	if (reason < 0 || (size_t)reason >= n)
		return "unknown";
	return sl_conn_close_reason_names[reason];
}

static uint32_t
round_up_pow2(uint32_t v)
{
	uint32_t r = 1;

	while (r < v)
		r <<= 1;
	return r;
}

static int
loop_params(struct sl_loop_params *p, const struct sl_loop_params *in)
{
	if (in != NULL)
		*p = *in;
	else
		memset(p, 0, sizeof(*p));
	if (p->max_conns == 0)
		p->max_conns = SL_LOOP_DEF_MAX_CONNS;
	if (p->out_limit == 0)
		p->out_limit = SL_LOOP_DEF_OUT_LIMIT;
	if (p->in_buf_size == 0)
		p->in_buf_size = SL_LOOP_DEF_IN_BUF_SIZE;
	if (p->in_buf_count == 0)
		p->in_buf_count = SL_LOOP_DEF_IN_BUF_COUNT;
	if (p->in_buf_size < 64 || p->in_buf_size > (16u << 20) ||
	    p->in_buf_count > SL_LOOP_MAX_IN_BUF_COUNT)
		return -EINVAL;
	p->in_buf_count = round_up_pow2(p->in_buf_count);
	return 0;
}

static struct sl_loop *
loop_fail(struct sl_loop *loop, int err)
{
	free(loop);
	errno = err;
	return NULL;
}

struct sl_loop *
sl_loop_create(enum sl_loop_backend want, const struct sl_loop_params *p)
{
	char why[160] = "";
	const char *how = "requested";
	struct sl_loop *loop;
	int rc;

	loop = calloc(1, sizeof(*loop));
	if (loop == NULL)
		return NULL;
	if (loop_params(&loop->p, p) < 0)
		return loop_fail(loop, EINVAL);
	TAILQ_INIT(&loop->closed);
	TAILQ_INIT(&loop->flush);
	TAILQ_INIT(&loop->listeners);
	loop_update_now(loop);

	if (want == SL_LOOP_BACKEND_AUTO) {
		const char *env = getenv("SL_LOOP_BACKEND");

		if (env != NULL && *env != '\0' && strcmp(env, "auto") != 0) {
			how = "forced by SL_LOOP_BACKEND";
			if (strcmp(env, "uring") == 0 ||
			    strcmp(env, "io_uring") == 0)
				want = SL_LOOP_BACKEND_URING;
			else if (strcmp(env, "epoll") == 0)
				want = SL_LOOP_BACKEND_EPOLL;
			else {
				loop_log(loop,
					 "sl_loop: SL_LOOP_BACKEND=%s: want "
					 "uring, epoll or auto",
					 env);
				return loop_fail(loop, EINVAL);
			}
		}
	} else if (want != SL_LOOP_BACKEND_URING &&
		   want != SL_LOOP_BACKEND_EPOLL) {
		return loop_fail(loop, EINVAL);
	}

	if (want != SL_LOOP_BACKEND_EPOLL) {
		rc = sl_loop_uring_ops.init(loop, why, sizeof(why));
		if (rc == 0) {
			loop->ops = &sl_loop_uring_ops;
			loop_log(loop, "sl_loop: io_uring backend (%s, %s)",
				 want == SL_LOOP_BACKEND_AUTO ? "auto" : how,
				 why);
			return loop;
		}
		if (want == SL_LOOP_BACKEND_URING) {
			loop_log(loop, "sl_loop: io_uring %s but unusable: %s",
				 how, why);
			return loop_fail(loop, -rc);
		}
		how = "io_uring unusable";
	}
	rc = sl_loop_epoll_ops.init(loop, why + strlen(why),
				    sizeof(why) - strlen(why));
	if (rc < 0) {
		loop_log(loop, "sl_loop: epoll backend failed: %s", why);
		return loop_fail(loop, -rc);
	}
	loop->ops = &sl_loop_epoll_ops;
	if (strcmp(how, "io_uring unusable") == 0)
		loop_log(loop, "sl_loop: epoll backend (io_uring unusable: %s)",
			 why);
	else
		loop_log(loop, "sl_loop: epoll backend (%s)", how);
	return loop;
}

void
sl_loop_destroy(struct sl_loop *loop)
{
	struct sl_listener *l;
	struct sl_conn *c;
	uint64_t until;

	if (loop == NULL)
		return;
	loop->destroying = true;
	TAILQ_FOREACH(l, &loop->listeners, link)
	{
		loop->ops->listener_shut(loop, l);
		while ((c = TAILQ_FIRST(&l->live)) != NULL)
			conn_terminate(c, SL_CONN_CLOSE_SHUTDOWN);
	}
	loop_reap(loop);
	/* let the backend finish cancelling what still names a connection */
	until = clock_ms() + SL_LOOP_DESTROY_DRAIN_MS;
	while (!TAILQ_EMPTY(&loop->closed) && clock_ms() < until) {
		if (loop->ops->wait(loop, 10) < 0)
			break;
		loop_reap(loop);
	}
	loop->ops->fini(loop);
	while ((c = TAILQ_FIRST(&loop->closed)) != NULL) {
		TAILQ_REMOVE(&loop->closed, c, link);
		conn_free(c);
	}
	while ((l = TAILQ_FIRST(&loop->listeners)) != NULL) {
		TAILQ_REMOVE(&loop->listeners, l, link);
		close(l->fd);
		free(l);
	}
	while (loop->heap_len > 0)
		free(loop->heap[--loop->heap_len]);
	free(loop->heap);
	free(loop);
}

const char *
sl_loop_backend_name(const struct sl_loop *loop)
{
	return loop->ops->name;
}

int
sl_loop_listen(struct sl_loop *loop, int fd, sl_loop_accept_fn on_accept,
	       void *ctx)
{
	return sl_loop_listen_limited(loop, fd, on_accept, ctx, NULL, NULL);
}

int
sl_loop_listen_limited(struct sl_loop *loop, int fd,
		       sl_loop_accept_fn on_accept, void *ctx,
		       const struct sl_listen_params *lp,
		       struct sl_listener **out)
{
	struct sl_listener *l;
	int listening = 0;
	socklen_t len = sizeof(listening);
	int flags, rc;

	if (fd < 0)
		return -EINVAL;
	if (on_accept == NULL ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 ||
	    !listening) {
		close(fd);
		return -EINVAL;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		close(fd);
		return -ENOMEM;
	}
	l->loop = loop;
	l->fd = fd;
	l->on_accept = on_accept;
	l->ctx = ctx;
	l->max_conns = lp != NULL ? lp->max_conns : 0;
	l->idle_timeout_ms = lp != NULL && lp->idle_timeout_ms != 0
				     ? lp->idle_timeout_ms
				     : loop->p.idle_timeout_ms;
	TAILQ_INIT(&l->live);
	rc = loop->ops->listen(loop, l);
	if (rc < 0) {
		close(fd);
		free(l);
		return rc;
	}
	TAILQ_INSERT_TAIL(&loop->listeners, l, link);
	if (out != NULL)
		*out = l;
	return 0;
}

struct sl_listener_stats
sl_listener_stats(const struct sl_listener *l)
{
	struct sl_listener_stats s = l->stats;

	s.open = l->n_conns;
	return s;
}

int
sl_loop_run_once(struct sl_loop *loop, int timeout_ms)
{
	int64_t next;
	int n, wait_ms = timeout_ms;

	/* sends and closes requested outside callbacks since last time */
	loop_flush(loop);
	loop_reap(loop);

	loop_update_now(loop);
	next = loop_next_deadline(loop);
	if (next >= 0 && (wait_ms < 0 || next < wait_ms))
		wait_ms = next > INT_MAX ? INT_MAX : (int)next;

	n = loop->ops->wait(loop, wait_ms);
	loop_update_now(loop);
	if (n < 0)
		return n;
	n += loop_run_timers(loop);
	loop_check_idle(loop);
	loop_flush(loop);
	loop_reap(loop);
	return n;
}

int
sl_loop_run(struct sl_loop *loop)
{
	while (!loop->stop) {
		int rc = sl_loop_run_once(loop, -1);

		if (rc < 0)
			return rc;
	}
	loop->stop = 0;
	return 0;
}

void
sl_loop_stop(struct sl_loop *loop)
{
	loop->stop = 1;
}

struct sl_loop_timer *
sl_loop_timer_add(struct sl_loop *loop, uint32_t period_ms, int repeat,
		  sl_loop_timer_fn fn, void *ctx)
{
	struct sl_loop_timer *t;

	if (fn == NULL || (repeat && period_ms == 0)) {
		errno = EINVAL;
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->deadline_ms = clock_ms() + period_ms;
	t->seq = loop->timer_seq++;
	t->period_ms = period_ms;
	t->repeat = repeat != 0;
	t->fn = fn;
	t->ctx = ctx;
	if (heap_push(loop, t) < 0) {
		free(t);
		errno = ENOMEM;
		return NULL;
	}
	return t;
}

void
sl_loop_timer_cancel(struct sl_loop *loop, struct sl_loop_timer *timer)
{
	if (timer == NULL)
		return;
	if (timer->firing) {
		timer->cancelled = true;
		return;
	}
	heap_remove(loop, timer);
	free(timer);
}

struct sl_loop_stats
sl_loop_stats(const struct sl_loop *loop)
{
	return loop->stats;
}

uint64_t
sl_loop_now_ms(const struct sl_loop *loop)
{
	return loop->now_ms;
}

int
sl_conn_send(struct sl_conn *conn, const void *buf, size_t len)
{
	struct sl_loop *loop = conn->loop;
	int rc;

	if (conn->state != SL_CONN_OPEN)
		return -EPIPE;
	if (len == 0)
		return 0;
	if (len > loop->p.out_limit - conn->out.bytes) {
		conn_terminate(conn, SL_CONN_CLOSE_SLOW_READER);
		return -ENOBUFS;
	}
	rc = outq_append(&conn->out, buf, len);
	if (rc < 0)
		return rc;
	conn_schedule_flush(conn);
	return 0;
}

void
sl_conn_close(struct sl_conn *conn)
{
	if (conn->state != SL_CONN_OPEN)
		return;
	if (conn->out.bytes == 0)
		conn_terminate(conn, SL_CONN_CLOSE_LOCAL);
	else
		conn->state = SL_CONN_DRAINING;
}

void
sl_conn_touch(struct sl_conn *conn)
{
	struct sl_loop *loop = conn->loop;

	if (conn->state != SL_CONN_OPEN)
		return;
	conn->last_progress_ms = loop->now_ms;
	if (TAILQ_NEXT(conn, link) != NULL) {
		TAILQ_REMOVE(&conn->listener->live, conn, link);
		TAILQ_INSERT_TAIL(&conn->listener->live, conn, link);
	}
}

void
sl_conn_set_ctx(struct sl_conn *conn, void *ctx)
{
	conn->ctx = ctx;
}

void *
sl_conn_ctx(const struct sl_conn *conn)
{
	return conn->ctx;
}

int
sl_conn_fd(const struct sl_conn *conn)
{
	return conn->state == SL_CONN_CLOSED ? -1 : conn->fd;
}

struct sl_loop *
sl_conn_loop(const struct sl_conn *conn)
{
	return conn->loop;
}

size_t
sl_conn_out_bytes(const struct sl_conn *conn)
{
	return conn->out.bytes;
}
