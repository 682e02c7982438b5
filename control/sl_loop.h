/* SPDX-License-Identifier: MIT */
/*
 * sl_loop.h - the control plane's event loop.
 *
 * One small API, one backend per file (sl_loop_uring.c, sl_loop_epoll.c),
 * chosen at run time: io_uring where the kernel allows it (multishot accept,
 * multishot recv from a provided buffer ring), else epoll. The rest of the
 * code does not know which. It runs on sluiced's main lcore, so nothing in
 * it blocks: every socket is non-blocking, sends are queued and written as
 * the peer drains them, and each connection is bounded in what it may cost
 * (output bytes queued, time without progress, number of connections).
 *
 * Single-threaded: every function here must be called from the thread that
 * created the loop, except sl_loop_stop(), which is async-signal-safe.
 *
 * Connection life cycle
 *   accept -> on_accept() returns a handler -> on_data()* -> on_close()
 * on_close() is called exactly once per connection that was given a
 * handler, always from the loop and after the callback that caused the
 * close has returned, so a protocol layer may free its state there. After
 * on_close() returns the struct sl_conn pointer must not be used again.
 */
#ifndef SL_LOOP_H
#define SL_LOOP_H

#include <stddef.h>
#include <stdint.h>

struct sl_loop;
struct sl_conn;
struct sl_listener;
struct sl_loop_timer;

enum sl_loop_backend {
	SL_LOOP_BACKEND_AUTO = 0, /* io_uring, else epoll; see sl_loop_create */
	SL_LOOP_BACKEND_URING,
	SL_LOOP_BACKEND_EPOLL,
};

/* Limits; a zero field takes the default shown. */
struct sl_loop_params {
	uint32_t max_conns;       /* open connections on all listeners
				   * together; default 1024 */
	size_t out_limit;         /* bytes queued for send per connection
				   * before it is closed as a slow reader;
				   * default 4 MiB */
	uint32_t in_buf_size;     /* one receive buffer; default 16 KiB */
	uint32_t in_buf_count;    /* io_uring buffer ring entries, rounded up
				   * to a power of two; default 256 */
	uint32_t idle_timeout_ms; /* close a connection this long without
				   * sl_conn_touch(); 0 = never; a listener
				   * may set its own (sl_listen_params) */
	/* One line per notable event (backend chosen, accept backoff),
	 * without trailing newline. NULL writes to stderr. */
	void (*log)(const char *line, void *log_ctx);
	void *log_ctx;
};

/*
 * Counters, declared once: X(name, help). A metrics exporter can expand the
 * same table to print every field with its help string.
 */
#define SL_LOOP_STATS(X)                                                       \
	X(accepted, "connections accepted and given a handler")                \
	X(rejected_full, "connections closed at accept: max_conns reached")    \
	X(rejected_by_handler, "connections refused by on_accept")             \
	X(accept_errors, "accept failures (EMFILE, ENOMEM, ...)")              \
	X(closed_peer, "connections closed by the peer")                       \
	X(closed_local, "connections closed by sl_conn_close")                 \
	X(closed_idle, "connections closed for no progress in time")           \
	X(closed_slow_reader, "connections closed over the output limit")      \
	X(closed_error, "connections closed on a socket error")                \
	X(bytes_in, "bytes received")                                          \
	X(bytes_out, "bytes sent")                                             \
	X(recv_nobufs, "io_uring receives paused by an empty buffer ring")

struct sl_loop_stats {
#define SL_LOOP_STAT_FIELD(name, help) uint64_t name;
	SL_LOOP_STATS(SL_LOOP_STAT_FIELD)
#undef SL_LOOP_STAT_FIELD
};

/*
 * One listener's own limits (sl_loop_listen_limited). A zero field: no
 * limit of its own (max_conns; the loop's still applies) or the loop's
 * idle timeout (idle_timeout_ms). Separate limits keep one listener (an
 * unauthenticated metrics port, say) from taking every connection slot
 * another (the operator's API socket) needs.
 */
struct sl_listen_params {
	uint32_t max_conns;
	uint32_t idle_timeout_ms;
};

/* A listener's counters; open is the connections it holds now. */
struct sl_listener_stats {
	uint64_t accepted;
	uint64_t rejected_full; /* its own or the loop's limit reached */
	uint64_t closed_idle;
	uint64_t open;
};

/* Why a connection was closed: X(NAME, text). */
#define SL_CONN_CLOSE_REASONS(X)                                               \
	X(PEER, "closed by peer")                                              \
	X(LOCAL, "closed by sl_conn_close")                                    \
	X(IDLE, "idle timeout")                                                \
	X(SLOW_READER, "output limit reached")                                 \
	X(ERROR, "socket error")                                               \
	X(SHUTDOWN, "loop destroyed")

enum sl_conn_close_reason {
#define SL_CONN_CLOSE_ENUM(name, text) SL_CONN_CLOSE_##name,
	SL_CONN_CLOSE_REASONS(SL_CONN_CLOSE_ENUM)
#undef SL_CONN_CLOSE_ENUM
};

/* What a protocol does with a connection; see sl_loop_listen. */
struct sl_conn_handler {
	/*
	 * Bytes as they arrived, in order; buf is only valid during the call
	 * (on io_uring it is the kernel's provided buffer, recycled as soon
	 * as this returns). Frames may be split or coalesced arbitrarily:
	 * the protocol keeps partial frames itself. Not called again once
	 * the connection is closing.
	 */
	void (*on_data)(struct sl_conn *conn, const uint8_t *buf, size_t len,
			void *ctx);
	/* reason is an enum sl_conn_close_reason. Called once; see top. */
	void (*on_close)(struct sl_conn *conn, int reason, void *ctx);
};

/*
 * on_accept(conn, ctx) - a listener's new connection.
 * ctx is the listener's ctx, which is also the connection's ctx until
 * sl_conn_set_ctx() changes it. The connection is already live: the
 * callback may call sl_conn_set_ctx, sl_conn_send, sl_conn_fd. Return the
 * handler to serve it, or NULL to refuse it (it is closed without
 * on_close and counted in rejected_by_handler).
 */
typedef const struct sl_conn_handler *(*sl_loop_accept_fn)(struct sl_conn *conn,
							   void *ctx);

typedef void (*sl_loop_timer_fn)(struct sl_loop *loop,
				 struct sl_loop_timer *timer, void *ctx);

/*
 * sl_loop_create - make an event loop.
 * @want: SL_LOOP_BACKEND_URING or _EPOLL insists on that backend;
 *   SL_LOOP_BACKEND_AUTO takes SL_LOOP_BACKEND from the environment
 *   ("uring" or "epoll") if set, else tries io_uring and falls back to
 *   epoll when io_uring is missing, blocked (seccomp, io_uring_disabled),
 *   or lacks multishot accept/recv or provided buffer rings.
 *   io_uring is set up with SINGLE_ISSUER|DEFER_TASKRUN, else
 *   COOP_TASKRUN, else no flags. One log line names the backend and why.
 * @p: limits, may be NULL for all defaults; copied.
 * Returns the loop, or NULL with errno set:
 *   EINVAL  SL_LOOP_BACKEND holds something else; bad @want.
 *   ENOSYS, EPERM, EOPNOTSUPP  io_uring was required and is unusable.
 *   ENOMEM, EMFILE  out of memory or descriptors.
 */
struct sl_loop *sl_loop_create(enum sl_loop_backend want,
			       const struct sl_loop_params *p);

/*
 * sl_loop_destroy - close every listener and connection and free the loop.
 * Open connections get on_close(SL_CONN_CLOSE_SHUTDOWN); pending timers
 * are freed without firing; unsent output is dropped. NULL is a no-op.
 * Must not be called from inside a loop callback.
 */
void sl_loop_destroy(struct sl_loop *loop);

/*
 * sl_loop_backend_name - "io_uring" or "epoll".
 */
const char *sl_loop_backend_name(const struct sl_loop *loop);

/*
 * sl_loop_listen - accept connections on a listening socket.
 * @fd: a bound stream socket on which listen() has been called (unix or
 *   TCP). The loop owns it from now on: it is made non-blocking and closed
 *   by sl_loop_destroy, also when this call fails.
 * @on_accept: called for each new connection; see sl_loop_accept_fn.
 * @ctx: passed to on_accept and the default connection ctx.
 * Connections beyond max_conns are accepted and closed at once (counted in
 * rejected_full). Accept errors such as EMFILE pause the listener for
 * 100 ms rather than spin.
 * Returns 0, or -EINVAL (bad arguments), -ENOMEM, or the backend's error
 * arming the socket.
 */
int sl_loop_listen(struct sl_loop *loop, int fd, sl_loop_accept_fn on_accept,
		   void *ctx);

/*
 * sl_loop_listen_limited - sl_loop_listen with limits of its own.
 * @lp: this listener's connection limit and idle timeout; NULL: none of
 *   its own (as sl_loop_listen). A connection beyond lp->max_conns is
 *   accepted and closed at once, counted in the loop's and the listener's
 *   rejected_full; the other listeners are not affected.
 * @out: receives the listener (for sl_listener_stats), may be NULL. It
 *   lives until sl_loop_destroy.
 * Returns as sl_loop_listen.
 */
int sl_loop_listen_limited(struct sl_loop *loop, int fd,
			   sl_loop_accept_fn on_accept, void *ctx,
			   const struct sl_listen_params *lp,
			   struct sl_listener **out);

/*
 * sl_listener_stats - a copy of one listener's counters.
 */
struct sl_listener_stats sl_listener_stats(const struct sl_listener *l);

/*
 * sl_loop_run_once - wait for and process what is ready.
 * @timeout_ms: the most to wait: 0 polls, < 0 waits until an event, a
 *   timer or an idle deadline. Never blocks longer than this.
 * Accepts, delivers data, completes sends, fires due timers, closes idle
 * connections, then calls on_close for and frees what was closed.
 * Returns the number of events handled (>= 0; 0 on timeout or signal), or
 * a negative errno if waiting failed.
 */
int sl_loop_run_once(struct sl_loop *loop, int timeout_ms);

/*
 * sl_loop_run - sl_loop_run_once until sl_loop_stop.
 * Returns 0 when stopped (and clears the stop request), or the negative
 * errno of a failed wait.
 */
int sl_loop_run(struct sl_loop *loop);

/*
 * sl_loop_stop - make sl_loop_run return after the current iteration.
 * Async-signal-safe. A request made from a signal handler is seen when the
 * wait is interrupted or at the next event or timer.
 */
void sl_loop_stop(struct sl_loop *loop);

/*
 * sl_loop_timer_add - call fn(loop, timer, ctx) after period_ms.
 * @repeat: non-zero fires every period_ms until cancelled (period_ms must
 *   then be >= 1); zero fires once, after which the timer is freed by the
 *   loop and its handle is no longer valid.
 * Timers run from sl_loop_run_once; lateness is bounded by the time spent
 * in other callbacks. A repeating timer that falls behind skips the missed
 * periods instead of firing in a burst.
 * Returns the timer, or NULL with errno EINVAL or ENOMEM.
 */
struct sl_loop_timer *sl_loop_timer_add(struct sl_loop *loop,
					uint32_t period_ms, int repeat,
					sl_loop_timer_fn fn, void *ctx);

/*
 * sl_loop_timer_cancel - stop and free a pending timer.
 * Safe from inside the timer's own callback. NULL is a no-op. Must not be
 * given a one-shot timer that has already fired.
 */
void sl_loop_timer_cancel(struct sl_loop *loop, struct sl_loop_timer *timer);

/*
 * sl_loop_stats - a copy of the loop's counters.
 */
struct sl_loop_stats sl_loop_stats(const struct sl_loop *loop);

/*
 * sl_loop_now_ms - the loop's cached CLOCK_MONOTONIC time in milliseconds,
 * updated after each wait.
 */
uint64_t sl_loop_now_ms(const struct sl_loop *loop);

/*
 * sl_conn_send - queue bytes for sending; copied, so buf may be reused.
 * Sending starts when the current callback returns (sends queued in one
 * loop iteration go out together). If the bytes queued and not yet taken
 * by the kernel would exceed out_limit, the connection is closed as a slow
 * reader instead.
 * Returns 0, or
 *   -EPIPE    the connection is closing or closed;
 *   -ENOBUFS  the output limit was hit and the connection is now closing;
 *   -ENOMEM   out of memory (nothing queued, the connection stays open).
 */
int sl_conn_send(struct sl_conn *conn, const void *buf, size_t len);

/*
 * sl_conn_close - close a connection after what was already queued with
 * sl_conn_send has been sent.
 * Safe from any callback, including this connection's on_data. on_data is
 * not called again; further sends fail with -EPIPE. Data still arriving is
 * read and discarded so the peer sees an orderly close. If the queue does
 * not drain within idle_timeout_ms the connection is closed as idle.
 * on_close follows with SL_CONN_CLOSE_LOCAL. Closing twice is a no-op.
 */
void sl_conn_close(struct sl_conn *conn);

/*
 * sl_conn_touch - record progress (a complete request) so the idle timeout
 * starts again. Partial frames should not touch: a peer that trickles
 * bytes without ever completing a request is closed as idle.
 */
void sl_conn_touch(struct sl_conn *conn);

/*
 * sl_conn_set_ctx, sl_conn_ctx - the pointer passed to the handler's
 * callbacks; starts as the listener's ctx.
 */
void sl_conn_set_ctx(struct sl_conn *conn, void *ctx);
void *sl_conn_ctx(const struct sl_conn *conn);

/*
 * sl_conn_fd - the connection's socket, for getsockopt/getpeername
 * (SO_PEERCRED on unix sockets). Never read, write or close it. -1 once
 * the connection is closed.
 */
int sl_conn_fd(const struct sl_conn *conn);

/*
 * sl_conn_loop - the loop that owns the connection.
 */
struct sl_loop *sl_conn_loop(const struct sl_conn *conn);

/*
 * sl_conn_out_bytes - bytes queued and not yet taken by the kernel; lets a
 * protocol stop producing before out_limit closes the connection.
 */
size_t sl_conn_out_bytes(const struct sl_conn *conn);

/*
 * sl_conn_close_reason_name - text for an enum sl_conn_close_reason,
 * "unknown" for anything else.
 */
const char *sl_conn_close_reason_name(int reason);

#endif /* SL_LOOP_H */
