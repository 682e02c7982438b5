/* SPDX-License-Identifier: MIT */
/*
 * http.h - the engine emulator as an OpenAI-compatible HTTP server
 * (--http IP:PORT): POST /v1/completions and /v1/chat/completions are
 * answered by the instance's LM role, with the same content and timing
 * model as its UDP streams, as server-sent events ("stream": true) or one
 * JSON object. libmicrohttpd runs from the engine's own loop (epoll).
 */
#ifndef SL_ENGINE_HTTP_H
#define SL_ENGINE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct engine;
struct sl_http;     /* the server */
struct sl_http_req; /* one request being answered */

/* Listen on @listen ("IP:PORT"); NULL with a message on failure. */
struct sl_http *sl_http_open(struct engine *e, const char *listen);
void sl_http_close(struct sl_http *h);

/* The descriptor to wait on (readable: run), how long at most (ns), and
 * the run. */
int sl_http_fd(const struct sl_http *h);
uint64_t sl_http_wait_ns(const struct sl_http *h);
void sl_http_run(struct sl_http *h);

/*
 * What the role says for request @q: @n tokens, then with SL_FRAG_F_END
 * the end, or with SL_FRAG_F_ABORT the end for @reason. After an END or
 * ABORT @q is the server's again (and freed once its client is gone).
 */
void sl_http_send(struct sl_http_req *q, const char *const *tok,
		  const size_t *len, unsigned int n, uint8_t flags,
		  uint8_t reason);

#endif /* SL_ENGINE_HTTP_H */
