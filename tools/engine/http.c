/* SPDX-License-Identifier: MIT */
/*
 * http.c - the engine emulator's OpenAI-compatible HTTP mode (http.h).
 *
 * A request's prompt becomes a job of the LM role (sl_role_http_start),
 * exactly as an input stream that ended; what the role says for it comes
 * back through sl_http_send instead of a datagram. A connection waiting
 * for tokens is suspended and resumed when they come. A client that goes
 * away leaves its request to the role until its END or ABORT, which then
 * frees it.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "http.h"
#include "sl_openai.h"

#define HTTP_BODY_MAX (256u * 1024u)

struct sl_http {
	struct engine *e;
	struct MHD_Daemon *d;
	int fd;
	uint64_t next_id;
};

struct sl_http_req {
	struct sl_http *h;
	struct MHD_Connection *conn;
	struct sl_text body;
	struct sl_openai_sse sse; /* stream: events; else the answer */
	struct sl_openai_id ident;
	uint8_t reason;
	bool chat, stream, started, aborted, gone;
};

/* Bytes of answer held for one request, not yet sent. */
#define HTTP_OUT_MAX (8u << 20)

static void
req_free(struct sl_http_req *q)
{
	sl_text_free(&q->body);
	sl_text_free(&q->sse.out);
	free(q);
}

void
sl_http_send(struct sl_http_req *q, const char *const *tok, const size_t *len,
	     unsigned int n, uint8_t flags, uint8_t reason)
{
	bool last = flags & (SL_FRAG_F_END | SL_FRAG_F_ABORT);

	if (q->gone) {
		if (last)
			req_free(q);
		return;
	}
	for (unsigned int i = 0; i < n && !q->aborted; i++) {
		int rc = q->stream
				 ? sl_openai_event(&q->sse,
						   sl_openai_chunk(&q->ident,
								   tok[i],
								   len[i]),
						   HTTP_OUT_MAX)
				 : sl_text_append(&q->sse.out, tok[i], len[i]);

		if (rc != 0) { /* no room: the answer ends short, said so */
			q->aborted = true;
			q->reason = SL_ABORT_TOO_LONG;
		}
	}
	if (flags & SL_FRAG_F_ABORT) {
		q->aborted = true;
		q->reason = reason;
	}
	if (last) {
		q->sse.finished = true;
		if (q->stream && q->aborted)
			sl_openai_event(
				&q->sse,
				sl_openai_error(
					sl_abort_reason_text(q->reason),
					"engine_abort",
					sl_abort_reason_name(q->reason)),
				HTTP_OUT_MAX + 4096);
		else if (q->stream &&
			 sl_openai_event(&q->sse,
					 sl_openai_chunk(&q->ident, NULL, 0),
					 HTTP_OUT_MAX + 4096) == 0)
			sl_text_append(&q->sse.out, "data: [DONE]\n\n", 14);
	}
	sl_openai_sse_wake(&q->sse);
}

static enum MHD_Result
refuse(struct MHD_Connection *c, unsigned int status, const char *why)
{
	return sl_openai_reply(c, status,
			       sl_openai_error(why, "invalid_request_error",
					       "invalid_request"));
}

/* The request's JSON into a job; a refusal replied when it is not one. */
static enum MHD_Result
start(struct sl_http_req *q, bool *replied)
{
	json_t *req = json_loadb(q->body.buf ? q->body.buf : "", q->body.len, 0,
				 NULL);
	const json_t *p = NULL;
	enum MHD_Result rc = MHD_YES;

	*replied = true;
	if (!json_is_object(req)) {
		json_decref(req);
		return refuse(q->conn, MHD_HTTP_BAD_REQUEST, "not JSON");
	}
	q->stream = json_is_true(json_object_get(req, "stream"));
	if (q->chat) {
		const json_t *m;
		size_t i;

		json_array_foreach(json_object_get(req, "messages"), i, m) p =
			json_object_get(m, "content");
	} else {
		p = json_object_get(req, "prompt");
	}
	if (!json_is_string(p)) {
		rc = refuse(q->conn, MHD_HTTP_BAD_REQUEST,
			    "prompt (or the last message) must be a string");
	} else {
		snprintf(q->ident.id, sizeof(q->ident.id), "%s-%" PRIu64,
			 q->chat ? "chatcmpl" : "cmpl", q->h->next_id++);
		q->ident.chat = q->chat;
		q->ident.created = time(NULL);
		q->ident.model = "sluice-engine";
		q->started = true;
		*replied = false;
		sl_role_http_start(q->h->e, q, json_string_value(p),
				   json_string_length(p), sl_now_ns());
	}
	json_decref(req);
	return rc;
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *c, const char *url,
	const char *method, const char *version, const char *upload,
	size_t *upload_size, void **con_cls)
{
	struct sl_http *h = cls;
	struct sl_http_req *q = *con_cls;
	enum MHD_Result rc;
	bool replied;

	(void)version;
	if (q == NULL) {
		if (strcmp(method, "POST") != 0 ||
		    (strcmp(url, "/v1/completions") != 0 &&
		     strcmp(url, "/v1/chat/completions") != 0))
			return refuse(c, MHD_HTTP_NOT_FOUND,
				      "no such endpoint");
		q = calloc(1, sizeof(*q));
		if (q == NULL)
			return MHD_NO;
		q->h = h;
		q->conn = c;
		q->sse.conn = c;
		q->chat = strcmp(url, "/v1/chat/completions") == 0;
		*con_cls = q;
		return MHD_YES;
	}
	if (*upload_size != 0) {
		if (q->body.len + *upload_size > HTTP_BODY_MAX ||
		    sl_text_append(&q->body, upload, *upload_size))
			return MHD_NO;
		*upload_size = 0;
		return MHD_YES;
	}
	if (!q->started) {
		rc = start(q, &replied);
		if (replied)
			return rc;
		if (q->stream)
			return sl_openai_sse_queue(&q->sse);
		if (!q->sse.finished) {
			q->sse.suspended = true;
			MHD_suspend_connection(c);
			return MHD_YES;
		}
	}
	if (q->aborted)
		return sl_openai_reply(
			c, MHD_HTTP_SERVICE_UNAVAILABLE,
			sl_openai_error(sl_abort_reason_text(q->reason),
					"engine_abort",
					sl_abort_reason_name(q->reason)));
	return sl_openai_reply(
		c, MHD_HTTP_OK,
		sl_openai_whole(&q->ident, q->sse.out.buf, q->sse.out.len));
}

/* The client is done: a request still being answered stays the role's
 * until its END or ABORT (sl_http_send frees it then). */
static void
completed(void *cls, struct MHD_Connection *c, void **con_cls,
	  enum MHD_RequestTerminationCode toe)
{
	struct sl_http_req *q = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	*con_cls = NULL;
	if (q == NULL)
		return;
	if (q->started && !q->sse.finished)
		q->gone = true;
	else
		req_free(q);
}

struct sl_http *
sl_http_open(struct engine *e, const char *listen)
{
	struct sl_http *h = calloc(1, sizeof(*h));
	struct sockaddr_in addr;
	const union MHD_DaemonInfo *info;

	if (h == NULL || sl_endpoint_parse(listen, false, &addr) < 0) {
		fprintf(stderr, "sluice-engine: bad --http '%s'\n", listen);
		free(h);
		return NULL;
	}
	h->e = e;
	h->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0,
				NULL, NULL, handler, h, MHD_OPTION_SOCK_ADDR,
				&addr, MHD_OPTION_NOTIFY_COMPLETED, completed,
				NULL, MHD_OPTION_CONNECTION_LIMIT, 4096,
				MHD_OPTION_CONNECTION_TIMEOUT, 60,
				MHD_OPTION_END);
	info = h->d ? MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD)
		    : NULL;
	if (info == NULL) {
		fprintf(stderr, "sluice-engine: cannot serve HTTP on %s\n",
			listen);
		sl_http_close(h);
		return NULL;
	}
	h->fd = info->epoll_fd;
	return h;
}

void
sl_http_close(struct sl_http *h)
{
	if (h == NULL)
		return;
	if (h->d != NULL)
		MHD_stop_daemon(h->d);
	free(h);
}

int
sl_http_fd(const struct sl_http *h)
{
	return h->fd;
}

uint64_t
sl_http_wait_ns(const struct sl_http *h)
{
	MHD_UNSIGNED_LONG_LONG ms;

	/* Resumed connections and timeouts: MHD says when it wants to run. */
	if (MHD_get_timeout(h->d, &ms) != MHD_YES)
		return UINT64_MAX;
	return (uint64_t)ms * 1000000ull;
}

void
sl_http_run(struct sl_http *h)
{
	/* A resumed connection takes a run to be woken and another to send
	 * (or to finish a response): two, so that nothing waits for the
	 * next event. */
	MHD_run(h->d);
	MHD_run(h->d);
}
