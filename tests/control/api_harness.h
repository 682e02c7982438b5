/* SPDX-License-Identifier: MIT */
/*
 * api_harness.h - the control API server on a loop in its own thread, and
 * blocking client helpers, for the tests of sl_api, sl_metrics and
 * sluicectl.
 *
 * The loop, the server and the metrics endpoint are created, run and
 * destroyed by the server thread alone (sl_loop is single-threaded); the
 * test thread reaches them only through sockets and harness_call(), which
 * runs a function on the loop's thread (from a 5 ms timer) and waits.
 * Client sockets have 5 s timeouts so a bug fails a test, never hangs it.
 */
#ifndef API_HARNESS_H
#define API_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api_backend.h"
#include "sl_api.h"
#include "sl_loop.h"

#define HARNESS_TOKEN "s3cret-token"
#define HARNESS_RO_TOKEN "read-only-token"

struct harness_opts {
	uint32_t idle_timeout_ms; /* 0: SL_API_IDLE_TIMEOUT_MS */
	uint32_t max_conns;       /* 0: loop default */
	bool tcp;                 /* with token HARNESS_TOKEN */
	bool ro_token;            /* and HARNESS_RO_TOKEN, read-only */
	bool metrics;             /* GET /metrics on 127.0.0.1:any */
	uint32_t unix_mode;       /* 0: 0600 */
	bool admin_gid_set;       /* unix peers in admin_gid are admins */
	gid_t admin_gid;
	const char *audit_log; /* NULL: none */
	/* Per-listener limits (zeros: the loop's). */
	struct sl_listen_params unix_limits, tcp_limits, metrics_limits;
};

struct harness;

/* The loop backend every harness of this process uses. */
extern enum sl_loop_backend harness_backend;

/*
 * harness_main_init - parse argv[1] ("uring" or "epoll") into
 * harness_backend; returns 77 when io_uring is asked for and unusable,
 * 2 on bad usage, else 0.
 */
int harness_main_init(int argc, char **argv);

struct harness *harness_start(const struct harness_opts *o);
void harness_stop(struct harness *h);

struct api_backend *harness_backend_of(struct harness *h);
const char *harness_unix_path(struct harness *h);
uint16_t harness_tcp_port(struct harness *h);
uint16_t harness_metrics_port(struct harness *h);

/* Run fn(api, arg) on the loop's thread and wait for it. */
void harness_call(struct harness *h,
		  void (*fn)(struct sl_api *api, struct sl_loop *loop,
			     void *arg),
		  void *arg);
struct sl_api_stats harness_api_stats(struct harness *h);
struct sl_loop_stats harness_loop_stats(struct harness *h);
/* One listener's counters: "unix", "tcp" or "metrics". */
struct sl_listener_stats harness_listener_stats(struct harness *h,
						const char *which);

/* ---- clients ---- */

int client_unix(const char *path); /* -1 on failure */
int client_tcp(uint16_t port);
int send_all(int fd, const void *buf, size_t len);
/* Send @req framed. */
int send_request(int fd, const Sluice__V1__Request *req);
/* Read one frame; returns its payload (malloc'd, *len set), NULL on EOF,
 * timeout or error. */
uint8_t *recv_frame(int fd, size_t *len);
/* Read one Response; NULL on failure. Free with
 * sluice__v1__response__free_unpacked(r, NULL). */
Sluice__V1__Response *recv_response(int fd);
/* send_request + recv_response. */
Sluice__V1__Response *rpc(int fd, const Sluice__V1__Request *req);
/* True when the peer has closed: read returns 0 within 3 s (any bytes
 * before that are discarded). */
bool peer_closed(int fd);

void sleep_ms(unsigned int ms);
uint64_t now_ms(void);

#endif /* API_HARNESS_H */
