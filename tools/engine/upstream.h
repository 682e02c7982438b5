/* SPDX-License-Identifier: MIT */
/*
 * upstream.h - an OpenAI-compatible model server as the source of a
 * stage's answers: one streaming HTTP request (libcurl's multi interface,
 * HTTP/1.1 or HTTP/2, TLS) per answer, its server-sent events turned into
 * text as they arrive, every way it can fail turned into one of four
 * reasons. No threads: the caller's event loop waits on the transfers'
 * sockets and its own (sl_upstream_wait) and drives them
 * (sl_upstream_run).
 */
#ifndef SL_UPSTREAM_H
#define SL_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sl_upstream_cfg {
	const char *url;     /* the server, e.g. http://10.0.0.5:8000 */
	bool chat;           /* /v1/chat/completions, else /v1/completions */
	const char *model;   /* "model" of each request */
	const char *api_key; /* "Authorization: Bearer", NULL: none */
	unsigned int max_tokens; /* 0: the server's default */
	uint64_t first_token_ns; /* request sent to first text, at most */
	uint64_t idle_ns;        /* between two events, at most */
	unsigned int retries;    /* before the first text: 5xx, 429, no
				  * connection */
};

/* How an answer ended. */
enum sl_upstream_end {
	SL_UPSTREAM_DONE,      /* data: [DONE] */
	SL_UPSTREAM_ERROR,     /* HTTP >= 400, or an error event */
	SL_UPSTREAM_TIMEOUT,   /* no first text, or a stall, in time */
	SL_UPSTREAM_MALFORMED, /* not OpenAI server-sent events */
	SL_UPSTREAM_CLOSED,    /* closed before [DONE], or unreachable */
};

struct sl_upstream_ops {
	/* Text of the answer @ctx, as it arrives (valid UTF-8 pieces). */
	void (*text)(void *ctx, const char *s, size_t len);
	/* The answer ended: nothing more for @ctx after this. */
	void (*end)(void *ctx, enum sl_upstream_end how, long http_status);
};

struct sl_upstream_counters {
	uint64_t requests; /* started (retries not counted) */
	uint64_t retries;
	uint64_t events; /* server-sent events taken */
	uint64_t done;
	uint64_t errors;
	uint64_t timeouts;
	uint64_t malformed;
	uint64_t closed;
};

struct sl_upstream;

/**
 * sl_upstream_new - a client for @cfg (copied; strings must outlive it).
 * Return NULL with errno set.
 */
struct sl_upstream *sl_upstream_new(const struct sl_upstream_cfg *cfg,
				    const struct sl_upstream_ops *ops);
void sl_upstream_free(struct sl_upstream *u);

/**
 * sl_upstream_start - ask for the answer to @prompt (@len bytes) for @ctx.
 * Return 0, or -ENOMEM (nothing started, no callback).
 */
int sl_upstream_start(struct sl_upstream *u, const char *prompt, size_t len,
		      void *ctx, uint64_t now);

/** sl_upstream_cancel - stop @ctx's answer; no callback for it. */
void sl_upstream_cancel(struct sl_upstream *u, void *ctx);

/**
 * sl_upstream_run - move every transfer on, deliver text and ends,
 * apply the time limits. Return the next time (CLOCK_MONOTONIC ns) it
 * wants to run, UINT64_MAX: when a socket is ready.
 */
uint64_t sl_upstream_run(struct sl_upstream *u, uint64_t now);

/**
 * sl_upstream_wait - wait up to @wait_ns for a transfer's socket or
 * @fd (readable).
 */
void sl_upstream_wait(struct sl_upstream *u, int fd, uint64_t wait_ns);

unsigned int sl_upstream_active(const struct sl_upstream *u);
const struct sl_upstream_counters *
sl_upstream_counters(const struct sl_upstream *u);

#endif /* SL_UPSTREAM_H */
