/* SPDX-License-Identifier: MIT */
/*
 * sl_api.h - the control API server (proto/sluice.proto) on sl_loop.
 *
 * sluiced listens on a unix socket and, when asked, on TCP
 * 127.0.0.1:PORT. Each frame (sl_frame.h) is one Request and gets one
 * Response with the same id. The server checks who may do what, the shape
 * of a request (names, addresses, required fields) and hands it to a
 * backend, an ops table the daemon implements; the server owns the
 * sockets, framing, authentication, roles, the audit log, limits and
 * counters, the backend owns the configuration and the dataplane.
 *
 * Who may do what. Every request kind is a read or a change
 * (sl_api_op_role): changes need the admin role.
 *   unix socket  admin: peer uid 0, the uid that created the server, and
 *                members of admin_gid (primary or supplementary group);
 *                read-only: any other peer the socket's mode lets in.
 *   TCP          nothing before a valid token; the admin token gives
 *                admin, ro_token read-only. Until a request has carried a
 *                valid token, frames are capped at SL_API_PREAUTH_FRAME_MAX
 *                (a longer length field closes the connection unread); a
 *                wrong token closes it, and failed authentications are
 *                rate limited (SL_API_AUTH_FAIL_*) for everyone.
 * A change refused for its role is CODE_PERMISSION_DENIED with the
 * operation named. Every change, allowed or not, is one audit line (who,
 * what with its arguments, result) in the log and, when audit_log is
 * given, appended to that file.
 *
 * Limits: each listener (unix, TCP, metrics) has its own connection limit
 * and idle timeout (struct sl_listen_params), so one cannot take the slots
 * of another; the loop's idle_timeout_ms is the default (a frame must
 * arrive whole within it: the server touches a connection only on
 * complete frames, so a peer that trickles bytes is closed as idle).
 *
 * Bad input never blocks the loop and always ends the same way:
 *   frame length 0 or over 1 MiB      Error BAD_REQUEST, id 0, then close
 *   TCP frame over 4 KiB before auth  Error UNAUTHENTICATED, id 0, close
 *   payload that is no Request        Error BAD_REQUEST, id 0, then close
 *   Request without a body (or with   Error BAD_REQUEST, connection stays
 *     a kind this build does not know)
 *   wrong or missing token on TCP     Error UNAUTHENTICATED, then close
 *   a change from a read-only caller  Error PERMISSION_DENIED, stays open
 *   peer closes inside a frame        closed, counted as truncated
 *   no complete frame in time         closed by the loop as idle
 * Each case has a counter (SL_API_STATS) and each error reply is counted by
 * code.
 *
 * Single-threaded, like the loop: call everything from the loop's thread.
 */
#ifndef SL_API_H
#define SL_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sluice.pb-c.h"

#include "sl_loop.h"
#include "sl_metrics.h"

#define SL_API_DEFAULT_SOCKET "/run/sluice/sluiced.sock"
#define SL_API_IDLE_TIMEOUT_MS 5000
#define SL_API_TOKEN_MAX 256
#define SL_API_PREAUTH_FRAME_MAX 4096 /* TCP frames before a valid token */
/* Failed authentications: a bucket of this many, refilled at this rate
 * per second; while it is empty, tokens are not even compared. */
#define SL_API_AUTH_FAIL_BURST 20
#define SL_API_AUTH_FAIL_PER_S 10
#define SL_API_NAME_MAX 32 /* pipeline, stage, instance names, NUL included */

struct sl_api;

/* ------------------------------------------------------------------ arena */

/*
 * Result memory. A backend builds its answer (strings, submessages,
 * repeated arrays) in memory taken from the request's arena; the server
 * frees the whole arena once the Response is packed. Nothing the backend
 * returns needs freeing by anyone else, and nothing in an answer may point
 * into memory the backend frees or changes later, except constant strings.
 */
struct sl_api_arena;

/*
 * sl_api_alloc - @size zeroed bytes, aligned for any type; NULL when out of
 * memory. sl_api_strdup - a copy of @s ("" for NULL); NULL when out of
 * memory. sl_api_new(arena, Type, n) - n zeroed objects of Type.
 */
void *sl_api_alloc(struct sl_api_arena *arena, size_t size);
char *sl_api_strdup(struct sl_api_arena *arena, const char *s);
#define sl_api_new(arena, type, n)                                             \
	((type *)sl_api_alloc((arena), sizeof(type) * (size_t)(n)))

/*
 * sl_api_arena_create, sl_api_arena_destroy - a standalone arena, for
 * backends' own tests and for tools; the server makes one per request.
 */
struct sl_api_arena *sl_api_arena_create(void);
void sl_api_arena_destroy(struct sl_api_arena *arena);

/* ---------------------------------------------------------------- backend */

/* A rejection: becomes Response.error. code is a
 * SLUICE__V1__ERROR__CODE__CODE_* value; field the path of the offending
 * field ("pipelines[0].stages[1].aggregation", "instance.address"), empty
 * when none; message one line for a person. */
struct sl_api_error {
	int code;
	char field[96];
	char message[1024]; /* two paths fit: the config's and its directory */
};

/* The instance an AddInstance, RemoveInstance or DrainInstance names. */
struct sl_api_instance_ref {
	const char *pipeline; /* 1..31 chars [A-Za-z0-9_.-], checked */
	const char *stage;    /* non-empty, < SL_API_NAME_MAX, checked */
	const char *instance; /* add: may be "" (backend names it); else
			       * non-empty; < SL_API_NAME_MAX */
	uint32_t ip;          /* add only: IPv4, host byte order */
	uint16_t port;        /* add only: 1..65535 */
};

/*
 * What the daemon implements. Every op gets the backend's ctx, its
 * arguments (already checked as documented; strings NUL-terminated and
 * owned by the server for the duration of the call), an output message
 * already initialised with its protobuf-c *__INIT value, the request's
 * arena for everything the output points to, and @err.
 *
 * Return 0 with @out filled, or non-zero with @err filled (err->code 0 is
 * sent as CODE_INTERNAL). @err starts zeroed. A NULL op answers
 * CODE_UNAVAILABLE "not supported". Ops run on the loop: they must not
 * block (compile, publish, return; wait for RCU elsewhere).
 */
struct sl_api_backend_ops {
	/* Compile @yaml (@len bytes, NUL-terminated) as sluiced --config
	 * would, naming it @name in messages; unless @dry_run, publish it as
	 * the new snapshot. Fill out->generation (new one, or the one in use
	 * for a dry run) and out->pipelines (the compiled pipelines). A
	 * compile error: CODE_INVALID, message the compiler's whole line
	 * "FILE:LINE: FIELD: ...", field its FIELD
	 * (sl_api_error_from_line() does this). */
	int (*apply)(void *ctx, const char *yaml, size_t len, const char *name,
		     bool dry_run, Sluice__V1__ApplyPipelineResult *out,
		     struct sl_api_arena *arena, struct sl_api_error *err);
	/* The pipeline named @name, or all when @name is "". An unknown
	 * name: CODE_NOT_FOUND, field "name". */
	int (*get_pipelines)(void *ctx, const char *name,
			     Sluice__V1__PipelineList *out,
			     struct sl_api_arena *arena,
			     struct sl_api_error *err);
	/* Instances, filtered by @pipeline and @stage ("" = any). */
	int (*list_instances)(void *ctx, const char *pipeline,
			      const char *stage, Sluice__V1__InstanceList *out,
			      struct sl_api_arena *arena,
			      struct sl_api_error *err);
	/* Add, remove, drain an instance; out is its state afterwards. */
	int (*add_instance)(void *ctx, const struct sl_api_instance_ref *ref,
			    Sluice__V1__InstanceState *out,
			    struct sl_api_arena *arena,
			    struct sl_api_error *err);
	int (*remove_instance)(void *ctx, const struct sl_api_instance_ref *ref,
			       Sluice__V1__InstanceState *out,
			       struct sl_api_arena *arena,
			       struct sl_api_error *err);
	int (*drain_instance)(void *ctx, const struct sl_api_instance_ref *ref,
			      Sluice__V1__InstanceState *out,
			      struct sl_api_arena *arena,
			      struct sl_api_error *err);
	/* Counters; zero them after reading when @reset. Also feeds the
	 * metrics endpoint (with @reset false). */
	int (*get_stats)(void *ctx, bool reset, Sluice__V1__Stats *out,
			 struct sl_api_arena *arena, struct sl_api_error *err);
	/* The config generation in use (GetVersion). May be NULL: 0. */
	uint64_t (*generation)(void *ctx);
	/* The guards in use with their rules and counters. */
	int (*list_guards)(void *ctx, Sluice__V1__GuardList *out,
			   struct sl_api_arena *arena,
			   struct sl_api_error *err);
	/* Add (@remove false) or remove a rule of guard @guard and publish;
	 * out: the guards afterwards. Unknown guard or rule: NOT_FOUND
	 * (field "guard" / "pattern"); a rule that does not compile or
	 * exists already: INVALID / EXISTS (field "pattern"). */
	int (*edit_guard)(void *ctx, const char *guard, bool remove, bool regex,
			  const char *pattern, Sluice__V1__GuardList *out,
			  struct sl_api_arena *arena, struct sl_api_error *err);
	/* Set the policy (a Sluice__V1__Balance) of stage @stage or pool
	 * @pool of @pipeline (one of the two non-empty) and publish; out:
	 * that pipeline afterwards. Unknown names: NOT_FOUND (field
	 * "pipeline", "stage" or "pool"); both or neither, an operator
	 * stage: INVALID. */
	int (*set_policy)(void *ctx, const Sluice__V1__SetPolicy *sp,
			  Sluice__V1__PipelineList *out,
			  struct sl_api_arena *arena, struct sl_api_error *err);
	/* The cost model: @req is a CostRows, CostFit, CostTrain or
	 * GetCostModel (checked by the server); out: the model's state
	 * afterwards. A fit or training that fails: INVALID with the
	 * model's reason (field "cost"). */
	int (*cost)(void *ctx, const Sluice__V1__Request *req,
		    Sluice__V1__CostModel *out, struct sl_api_arena *arena,
		    struct sl_api_error *err);
};

/* Rows one CostRows request may carry; a row's stage id is 1..this
 * (SL_MAX_STAGES). */
#define SL_API_COST_ROWS_MAX 4096
#define SL_API_COST_STAGE_MAX 16

/* ---------------------------------------------------------------- server */

/* What a caller may do. Ordered: a role allows what those below allow. */
enum sl_api_role {
	SL_API_ROLE_NONE = 0, /* nothing (TCP before a valid token) */
	SL_API_ROLE_READ,     /* reads only */
	SL_API_ROLE_ADMIN,    /* reads and changes */
};

/* How a caller reached the server. */
enum sl_api_transport {
	SL_API_TRANSPORT_DIRECT = 0, /* sl_api_dispatch in-process */
	SL_API_TRANSPORT_UNIX,
	SL_API_TRANSPORT_TCP,
};

/* Who sent a request: the server keeps one per connection; its role
 * changes when a TCP request carries a valid token. */
struct sl_api_peer {
	enum sl_api_transport transport;
	enum sl_api_role role;
	bool has_cred; /* unix: pid, uid, gid are known */
	pid_t pid;
	uid_t uid;
	gid_t gid;
	char addr[64]; /* TCP: "IP:PORT" */
};

struct sl_api_params {
	/* Unix socket: NULL for none. The parent directory must exist. A
	 * stale socket file (nobody accepting) is replaced; a live one is
	 * EADDRINUSE; anything else at the path is EEXIST. */
	const char *unix_path;
	uint32_t unix_mode; /* 0: 0600 */
	bool unix_chgrp;    /* give the socket file group unix_gid */
	gid_t unix_gid;
	/* Unix peers in this group (primary or supplementary) are admins
	 * besides uid 0 and the server's own euid. */
	bool admin_gid_set;
	gid_t admin_gid;
	/* TCP on 127.0.0.1:tcp_port when tcp is set (port 0: any free port,
	 * see sl_api_tcp_port). token: the admin token, 1..SL_API_TOKEN_MAX-1
	 * bytes; required with tcp. ro_token: a read-only token (NULL: none;
	 * must differ from token). Without a token, untrusted requests are
	 * all refused. */
	bool tcp;
	uint16_t tcp_port;
	const char *token;
	const char *ro_token;
	/* Each listener's connection limit and idle timeout (zeros: the
	 * loop's). */
	struct sl_listen_params unix_limits;
	struct sl_listen_params tcp_limits;
	struct sl_listen_params metrics_limits;
	/* Audit lines are also appended here (O_APPEND, created 0600),
	 * opened by sl_api_create. NULL: the log only. */
	const char *audit_log;
	const char *version; /* Version.version; NULL: "unknown" */
	/* Log lines without trailing newline; NULL writes to stderr. */
	void (*log)(const char *line, void *log_ctx);
	void *log_ctx;
};

/* Counters, declared once: X(name, help). */
#define SL_API_STATS(X)                                                        \
	X(connections, "control connections accepted")                         \
	X(requests, "requests decoded and dispatched")                         \
	X(responses, "responses queued")                                       \
	X(errors, "responses carrying an Error")                               \
	X(frame_empty, "frames with length 0")                                 \
	X(frame_too_large, "frames over 1 MiB")                                \
	X(bad_frame, "frames that did not decode as a Request")                \
	X(no_body, "requests with no body or an unknown kind")                 \
	X(unauthenticated, "requests refused for a missing or wrong token")    \
	X(preauth_too_large,                                                   \
	  "TCP connections closed for a frame over 4 KiB before a token")      \
	X(auth_throttled,                                                      \
	  "authentications refused while failures were over the rate limit")   \
	X(denied, "changes refused for the caller's role")                     \
	X(audited, "audit lines written (one per change asked for)")           \
	X(audit_failed, "audit lines the audit file did not take")             \
	X(invalid, "requests refused by the server's checks")                  \
	X(backend_errors, "requests the backend refused")                      \
	X(truncated, "connections the peer closed inside a frame")             \
	X(idle_closed, "connections closed with no complete frame in time")    \
	X(send_failed, "responses that could not be queued")

struct sl_api_stats {
#define SL_API_STAT_FIELD(name, help) uint64_t name;
	SL_API_STATS(SL_API_STAT_FIELD)
#undef SL_API_STAT_FIELD
	uint64_t by_code[16]; /* error replies by Error.Code */
};

/*
 * sl_api_create - a control API server on @loop.
 * @loop: the event loop; NULL makes a server with no sockets whose only
 *   use is sl_api_dispatch (tests, the fuzzer).
 * @p: sockets and logging; copied (strings too). NULL: no sockets.
 * @ops, @ctx: the backend; @ops must outlive the server.
 * Returns the server, or NULL with errno:
 *   EINVAL      TCP without a token, token too long, ro_token equal to
 *               token, bad arguments;
 *   ENOENT      the unix socket's directory does not exist;
 *   EADDRINUSE  a live server owns the unix path, or the TCP port is taken;
 *   EEXIST      something that is not a socket is at the unix path;
 *   ENAMETOOLONG the unix path does not fit sockaddr_un;
 *   or the errno of socket/bind/listen/sl_loop_listen, or of opening
 *   audit_log.
 * Teardown order: sl_loop_destroy(loop) first (it closes the connections,
 * whose state the server frees in on_close), then sl_api_destroy.
 */
struct sl_api *sl_api_create(struct sl_loop *loop,
			     const struct sl_api_params *p,
			     const struct sl_api_backend_ops *ops, void *ctx);

/*
 * sl_api_destroy - free the server and unlink its unix socket (if it is
 * still the one it made). NULL is a no-op.
 */
void sl_api_destroy(struct sl_api *api);

/*
 * sl_api_tcp_port - the TCP port listened on (useful with tcp_port 0), or
 * 0 without TCP.
 */
uint16_t sl_api_tcp_port(const struct sl_api *api);

/*
 * sl_api_stats - a copy of the server's counters.
 */
struct sl_api_stats sl_api_stats(const struct sl_api *api);

/* What sl_api_dispatch tells the transport to do after sending the reply. */
enum sl_api_after {
	SL_API_KEEP = 0,
	SL_API_CLOSE,
};

/*
 * sl_api_dispatch - one frame's payload in, one framed Response out.
 * @frame, @len: the payload (no length prefix).
 * @trusted: an in-process admin (true), or a TCP peer that has not
 *   authenticated (false: the request must carry a token).
 * @reply, @reply_len: receive a malloc'd buffer holding the 4-byte length
 *   and the packed Response; the caller frees it. NULL when even the
 *   error reply could not be built (out of memory): close then.
 * Returns what to do with the connection. Counts as the socket path does.
 */
enum sl_api_after sl_api_dispatch(struct sl_api *api, const uint8_t *frame,
				  size_t len, bool trusted, uint8_t **reply,
				  size_t *reply_len);

/*
 * sl_api_dispatch_peer - sl_api_dispatch for the request of @peer, whose
 * role a TCP token may change (a connection keeps its peer across
 * requests). What the sockets use.
 */
enum sl_api_after sl_api_dispatch_peer(struct sl_api *api,
				       struct sl_api_peer *peer,
				       const uint8_t *frame, size_t len,
				       uint8_t **reply, size_t *reply_len);

/*
 * sl_api_op_role - the role @req needs (SL_API_ROLE_READ or _ADMIN), and
 * in *@name (may be NULL) the operation's name as audit lines and errors
 * give it ("apply", "add", "stats --reset", "guard add", ...).
 * SL_API_ROLE_NONE for a request without a body this server knows.
 */
enum sl_api_role sl_api_op_role(const Sluice__V1__Request *req,
				const char **name);

/* sl_api_role_name - "none", "read" or "admin". */
const char *sl_api_role_name(enum sl_api_role role);

/*
 * sl_api_listener_stats - a copy of one listener's counters ("unix",
 * "tcp", "metrics"); false when the server has no such listener.
 */
bool sl_api_listener_stats(const struct sl_api *api, const char *which,
			   struct sl_listener_stats *out);

/*
 * sl_api_frame_error - the framed error Response (id 0, CODE_BAD_REQUEST)
 * for a frame the decoder refused with @rc (sl_frame_decode's -EMSGSIZE,
 * -EBADMSG, -ENOMEM); counted. @frame_len is the announced length. Same
 * buffer contract as sl_api_dispatch; the connection must then close.
 */
void sl_api_frame_error(struct sl_api *api, int rc, uint32_t frame_len,
			uint8_t **reply, size_t *reply_len);

/*
 * sl_api_error_from_line - fill @err from one compiler line
 * "FILE:LINE: FIELD: what is wrong" (sl_config_parse's form): code
 * @code, message the whole line, field FIELD when the line has that form,
 * else empty.
 */
void sl_api_error_from_line(struct sl_api_error *err, int code,
			    const char *line);

/*
 * sl_api_error_set - fill @err: @code, @field (NULL for none) and a
 * printf-style message.
 */
void sl_api_error_set(struct sl_api_error *err, int code, const char *field,
		      const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * sl_api_code_name - "BAD_REQUEST" for CODE_BAD_REQUEST, ...; "UNKNOWN"
 * for anything else.
 */
const char *sl_api_code_name(int code);

/* ---------------------------------------------------------------- metrics */

/*
 * sl_api_serve_metrics - serve GET /metrics (sl_metrics.h) on @fd, a bound
 * and listening TCP socket the loop takes over, with the metrics_limits of
 * the server's params. Each scrape asks the backend's get_stats (reset
 * false) and adds the loop's and this server's counters. Returns 0 or a
 * negative errno (the fd is closed then too).
 */
int sl_api_serve_metrics(struct sl_api *api, int fd);

/*
 * sl_api_metrics_snapshot - what a scrape renders: @stats (from get_stats,
 * may be NULL) converted to a sl_metrics snapshot in @arena, plus the loop's
 * and the server's counters. Returns 0 or -ENOMEM.
 */
int sl_api_metrics_snapshot(struct sl_api *api, const Sluice__V1__Stats *stats,
			    struct sl_api_arena *arena,
			    struct sl_metrics_snapshot *snap);

#endif /* SL_API_H */
