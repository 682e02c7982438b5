/* SPDX-License-Identifier: MIT */
/*
 * sluice-gateway - an OpenAI-compatible HTTP front door to sluiced, so
 * that an application written for the OpenAI API calls a pipeline as if
 * it were one model.
 *
 *   POST /v1/completions, /v1/chat/completions  "model" names a pipeline
 *        (--model NAME=PIPELINE_ID); the prompt (or the last user
 *        message) is sent to sluiced as the request's stream; the
 *        pipeline's result comes back as server-sent events as its
 *        fragments arrive ("stream": true, "data: [DONE]" at END, an
 *        error event on ABORT with its reason) or as one JSON object.
 *   GET  /v1/models  the pipelines.
 *
 * Authentication: "Authorization: Bearer TOKEN", each token mapped to a
 * tenant (--tokens FILE: "TOKEN TENANT" lines); --open-tenant N serves
 * without tokens, as tenant N. Bounded: --max-body bytes a request,
 * --max-requests in flight (more: 429), GW_OUT_MAX bytes of answer held
 * for a request (a whole answer, or what a slow reader has not taken),
 * libmicrohttpd's connection limit, and --timeout-s twice over: the
 * most a connection may stay silent (libmicrohttpd's timeout), and the
 * most a request's line, headers and body may take to arrive, however
 * slowly they trickle (this program's deadline: the connection is shut
 * down). A client that goes away
 * before its answer ends has its request ended in sluiced (ABORT CLIENT
 * after its END).
 *
 * One thread: libmicrohttpd runs from this program's loop (epoll), beside
 * the UDP socket to sluiced (--reuse-port: several gateways share one
 * HTTP port, SO_REUSEPORT, the kernel spreading connections: one per
 * core); every stream goes through libsluice's sl_rel
 * (loss repair both ways). A connection waiting for its answer is
 * suspended and resumed when fragments come.
 *
 * Counters (requests, answered, aborted, cancelled, refusals by status,
 * connections shut down as too slow, loss repair): --stats-file (JSON,
 * once a second and at exit) and --metrics IP:PORT (the same numbers as
 * Prometheus text, sluice_gateway_*, on GET /metrics: a port of its own,
 * not the public one).
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sl_openai.h"
#include "sl_opt.h"
#include "sl_prom.h"
#include "sluice.h"

#define GW_MODELS_MAX 16
#define GW_TOKENS_MAX 256
#define GW_OUT_MAX (1u << 20) /* answer not yet sent, one request */
#define GW_RX_BURSTS 64       /* bursts from sluiced read in one turn */
#define GW_SWEEP_NS 50000000u /* deadlines checked this often */

struct gw_model {
	char name[64];
	uint32_t pipeline;
};

struct gw_token {
	char token[128];
	uint16_t tenant;
};

struct gw_req {
	struct gw_req *next; /* in flight */
	struct MHD_Connection *conn;
	uint64_t id;
	const struct gw_model *model;
	uint16_t tenant;
	struct sl_text body;
	/* the connection; stream: SSE events, else the answer's text */
	struct sl_openai_sse sse;
	struct sl_openai_id ident;
	uint32_t seq;      /* the request stream's next seq: its ABORT's */
	uint64_t heard_ns; /* sent, or the last fragment of its answer */
	bool chat, stream;
	bool too_big, started, aborted, in_flight;
	uint8_t reason;
};

static struct {
	const char *listen;
	const char *server;
	const char *bind;
	const char *tokens_file;
	const char *stats_file;
	const char *metrics;
	unsigned int open_tenant; /* 0: tokens required */
	unsigned int max_body;
	unsigned int max_requests;
	unsigned int conn_limit;
	unsigned int timeout_s;
	unsigned int answer_timeout_s;
	bool reuse_port; /* several gateways on one port: one per core */
	bool quiet;
	struct gw_model models[GW_MODELS_MAX];
	unsigned int n_models;
	struct gw_token tokens[GW_TOKENS_MAX];
	unsigned int n_tokens;
} o = {.max_body = 1u << 20,
       .max_requests = 256,
       .conn_limit = 4096,
       .timeout_s = 60,
       .answer_timeout_s = 300};

/*
 * A connection, and since when its next request has been arriving: from
 * its accept, or from the end of its last request (keep-alive). Its line,
 * headers and body must be whole within --timeout-s, or the connection
 * is shut down: libmicrohttpd's own timeout only bounds silence, which a
 * client sending a byte a second never keeps.
 */
struct gw_conn {
	struct gw_conn *prev, *next;
	struct MHD_Connection *c;
	uint64_t since;
	bool receiving; /* a request is arriving, not yet whole */
};

/* What happened, for --stats-file and --metrics. */
static struct {
	uint64_t requests;  /* sent to sluiced */
	uint64_t streamed;  /* ... of which with "stream": true */
	uint64_t answered;  /* ended by the pipeline's END */
	uint64_t aborted;   /* ended by an ABORT (or an answer too long) */
	uint64_t cancelled; /* the client went away before the end */
	uint64_t refused_400, refused_401, refused_404, refused_413;
	uint64_t refused_429;
	uint64_t too_slow; /* connections shut down for a late request */
	uint64_t expired;  /* answers silent past --answer-timeout-s */
	uint64_t aborted_by[SL_ABORT_MAX]; /* aborted, by reason */
} st;

static struct sl_sock *sock;
static struct sl_rel *rel;
static struct gw_conn *conns;
static struct sl_prom_server *metrics;
static struct gw_req *in_flight;
static unsigned int n_in_flight;
static uint64_t id_prefix, id_next;
static volatile sig_atomic_t stop;

/* ---- answers ---- */

/* The answer's text so far, when it is not streamed. */
static int
out_put(struct gw_req *r, const char *s, size_t n)
{
	if (r->sse.out.len + n > GW_OUT_MAX)
		return -ENOSPC;
	return sl_text_append(&r->sse.out, s, n);
}

/* A fragment of @r's result. */
/* @r's answer is over (r->aborted and r->reason say how): its last
 * event, or the whole answer, to the client. */
static void
finish(struct gw_req *r)
{
	r->sse.finished = true;
	if (r->aborted) {
		st.aborted++;
		st.aborted_by[r->reason < SL_ABORT_MAX ? r->reason : 0]++;
	} else
		st.answered++;
	if (r->stream && r->aborted)
		sl_openai_event(
			&r->sse,
			sl_openai_error(sl_abort_reason_text(r->reason),
					"sluice_abort",
					sl_abort_reason_name(r->reason)),
			GW_OUT_MAX + 4096);
	else if (r->stream &&
		 sl_openai_event(&r->sse, sl_openai_chunk(&r->ident, NULL, 0),
				 GW_OUT_MAX + 4096) == 0)
		sl_text_append(&r->sse.out, "data: [DONE]\n\n", 14);
	sl_openai_sse_wake(&r->sse);
}

/* A fragment of @r's answer. */
static void
take(struct gw_req *r, const struct sl_frag_view *v, uint64_t now)
{
	struct sl_token_iter it;
	struct sl_token t;
	int rc = 0;

	r->heard_ns = now;
	sl_frag_view_tokens(v, &it);
	if (r->stream) {
		/* One event a fragment, as it arrives: its tokens' text (at
		 * most a payload; no UTF-8 character is split between two
		 * tokens, so neither is the event's text). */
		char text[SL_WIRE_PAYLOAD_MAX];
		size_t n = 0;

		while (sl_token_next(&it, &t)) {
			memcpy(text + n, t.text, t.len);
			n += t.len;
		}
		if (n > 0)
			rc = sl_openai_event(
				&r->sse, sl_openai_chunk(&r->ident, text, n),
				GW_OUT_MAX);
	} else {
		while (rc == 0 && sl_token_next(&it, &t))
			rc = out_put(r, t.text, t.len);
	}
	if (rc != 0 && !(v->hdr.flags & SL_FRAG_F_ABORT)) {
		r->aborted = true; /* more than GW_OUT_MAX: cut, said so */
		r->reason = SL_ABORT_TOO_LONG;
	} else if (v->hdr.flags & SL_FRAG_F_ABORT) {
		r->aborted = true;
		r->reason = v->hdr.abort_reason;
	} else if (!(v->hdr.flags & SL_FRAG_F_END)) {
		/* A whole answer's connection sleeps until the answer is
		 * whole: woken earlier, it would reply with what came. */
		if (r->stream)
			sl_openai_sse_wake(&r->sse);
		return;
	}
	finish(r);
}

static struct gw_req *
find(uint64_t id)
{
	for (struct gw_req *r = in_flight; r != NULL; r = r->next)
		if (r->id == id)
			return r;
	return NULL;
}

static void
unlink_req(struct gw_req *r)
{
	for (struct gw_req **p = &in_flight; *p != NULL; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			n_in_flight--;
			r->in_flight = false;
			return;
		}
}

/* What sl_rel has in order: to the requests it answers. It must be
 * drained after every sl_rel_input() and sl_rel_tick(). */
static void
deliver(uint64_t now)
{
	struct sl_frag_view v;

	while (sl_rel_next(rel, &v)) {
		struct gw_req *r =
			v.hdr.depth == 1 ? find(v.hdr.ancestry[0]) : NULL;

		if (r != NULL && !r->sse.finished)
			take(r, &v, now);
		if (r != NULL && r->sse.finished)
			unlink_req(r);
	}
}

/* What sluiced sent: bursts until the socket is empty, at most
 * GW_RX_BURSTS of them (then HTTP gets its turn). One burst a turn let
 * the socket's buffer overflow under a thousand streams. */
static void
receive(uint64_t now)
{
	static struct sl_burst rx;

	for (int k = 0; k < GW_RX_BURSTS; k++) {
		int n;

		sl_burst_reset(&rx);
		n = sl_sock_recv_burst(sock, rx.d, SL_BURST_MAX);
		for (int i = 0; i < n; i++) {
			sl_rel_input(rel, &rx.d[i], now);
			deliver(now);
		}
		if (n < SL_BURST_MAX)
			return;
		now = sl_now_ns();
	}
}

/* ---- requests ---- */

/* The prompt as @r's request stream: tokens as sl_tokenize_next cuts
 * them, as many as fit a fragment, END on the last. */
static int
send_prompt(struct gw_req *r, const char *text, size_t len, uint64_t now)
{
	struct sl_stream_tx tx;
	struct sl_burst b;
	size_t pos = 0;
	int rc;

	rc = sl_stream_tx_init(&tx, r->model->pipeline, 0, r->tenant, 1,
			       &r->id);
	if (rc < 0)
		return rc;
	sl_burst_reset(&b);
	do {
		struct sl_dgram *d = &b.d[b.n];

		if (sl_stream_tx_begin(&tx, d->buf, d->cap) < 0)
			return -EINVAL;
		while (pos < len) {
			size_t t = sl_tokenize_next(text + pos, len - pos);

			rc = sl_stream_tx_add(&tx, sl_token_hash(text + pos, t),
					      text + pos, t);
			if (rc == -ENOSPC)
				break;
			if (rc < 0)
				return rc;
			pos += t;
		}
		d->len = (uint16_t)sl_stream_tx_finish(
			&tx, pos == len ? SL_FRAG_F_END : 0, 0, now);
		memset(&d->addr, 0, sizeof(d->addr));
		if (++b.n == SL_BURST_MAX || pos == len) {
			sl_rel_send_burst(rel, b.d, b.n, now);
			sl_burst_reset(&b);
		}
	} while (pos < len);
	r->seq = tx.next_seq;
	return 0;
}

static enum MHD_Result
reply_error(struct MHD_Connection *c, unsigned int status, const char *msg,
	    const char *code)
{
	switch (status) {
	case MHD_HTTP_BAD_REQUEST:
		st.refused_400++;
		break;
	case MHD_HTTP_UNAUTHORIZED:
		st.refused_401++;
		break;
	case MHD_HTTP_NOT_FOUND:
		st.refused_404++;
		break;
	case MHD_HTTP_CONTENT_TOO_LARGE:
		st.refused_413++;
		break;
	case MHD_HTTP_TOO_MANY_REQUESTS:
		st.refused_429++;
		break;
	default:
		break;
	}
	return sl_openai_reply(
		c, status, sl_openai_error(msg, "invalid_request_error", code));
}

static const struct gw_model *
model_by_name(const char *name)
{
	for (unsigned int i = 0; name != NULL && i < o.n_models; i++)
		if (strcmp(o.models[i].name, name) == 0)
			return &o.models[i];
	return NULL;
}

/* The tenant of the request's bearer token; -1: none or unknown. */
static int
tenant_of(struct MHD_Connection *c)
{
	const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						       "Authorization");
	int found = -1;

	if (o.n_tokens == 0)
		return (int)o.open_tenant;
	if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0)
		return -1;
	auth += 7;
	size_t a = strlen(auth);

	for (unsigned int i = 0; i < o.n_tokens; i++) {
		const char *t = o.tokens[i].token;
		size_t n = strlen(t);
		unsigned char diff = a != n;

		/* Every byte of every token compared: how long it takes says
		 * nothing of which bytes matched. */
		for (size_t k = 0; k < n; k++)
			diff |= (unsigned char)t[k] ^
				(unsigned char)(k < a ? auth[k] : 0);
		if (!diff)
			found = o.tokens[i].tenant;
	}
	return found;
}

/* The whole answer, once it ended. */
static enum MHD_Result
reply_final(struct gw_req *r)
{
	if (r->aborted)
		return sl_openai_reply(
			r->conn, MHD_HTTP_BAD_GATEWAY,
			sl_openai_error(sl_abort_reason_text(r->reason),
					"sluice_abort",
					sl_abort_reason_name(r->reason)));
	return sl_openai_reply(
		r->conn, MHD_HTTP_OK,
		sl_openai_whole(&r->ident, r->sse.out.buf, r->sse.out.len));
}

/* The request's JSON: its prompt, or why not (an HTTP reply made). */
static enum MHD_Result
start(struct gw_req *r, bool *replied)
{
	const char *prompt = NULL, *why = NULL;
	json_t *req, *m;
	int tenant;
	size_t len = 0;
	enum MHD_Result rc = MHD_YES;

	*replied = true;
	if (r->too_big)
		return reply_error(r->conn, MHD_HTTP_CONTENT_TOO_LARGE,
				   "request body too large", "too_large");
	tenant = tenant_of(r->conn);
	if (tenant < 0)
		return reply_error(r->conn, MHD_HTTP_UNAUTHORIZED,
				   "missing or unknown bearer token",
				   "invalid_api_key");
	req = json_loadb(r->body.buf ? r->body.buf : "", r->body.len, 0, NULL);
	if (!json_is_object(req)) {
		json_decref(req);
		return reply_error(r->conn, MHD_HTTP_BAD_REQUEST,
				   "the body is not a JSON object",
				   "invalid_json");
	}
	r->model =
		model_by_name(json_string_value(json_object_get(req, "model")));
	r->stream = json_is_true(json_object_get(req, "stream"));
	if (r->chat) {
		json_t *msgs = json_object_get(req, "messages");
		size_t i;

		json_array_foreach(msgs, i, m)
		{
			const char *role =
				json_string_value(json_object_get(m, "role"));
			json_t *c = json_object_get(m, "content");

			if (role != NULL && strcmp(role, "user") == 0 &&
			    json_is_string(c)) {
				prompt = json_string_value(c);
				len = json_string_length(c);
			}
		}
		why = prompt ? NULL : "messages: no user message with text";
	} else {
		m = json_object_get(req, "prompt");
		prompt = json_string_value(m);
		len = json_string_length(m);
		why = prompt ? NULL : "prompt: must be a string";
	}
	if (r->model == NULL)
		rc = reply_error(r->conn, MHD_HTTP_NOT_FOUND,
				 "model: no such pipeline", "model_not_found");
	else if (why != NULL || len == 0)
		rc = reply_error(r->conn, MHD_HTTP_BAD_REQUEST,
				 why ? why : "empty prompt", "invalid_request");
	else if (n_in_flight >= o.max_requests)
		rc = reply_error(r->conn, MHD_HTTP_TOO_MANY_REQUESTS,
				 "too many requests in flight", "rate_limit");
	else {
		r->tenant = (uint16_t)tenant;
		r->id = id_prefix | id_next++;
		snprintf(r->ident.id, sizeof(r->ident.id), "%s-%016" PRIx64,
			 r->chat ? "chatcmpl" : "cmpl", r->id);
		r->ident.chat = r->chat;
		r->ident.created = time(NULL);
		r->ident.model = r->model->name;
		r->next = in_flight;
		in_flight = r;
		n_in_flight++;
		r->in_flight = true;
		r->started = true;
		r->heard_ns = sl_now_ns();
		st.requests++;
		st.streamed += r->stream;
		if (send_prompt(r, prompt, len, sl_now_ns()) < 0) {
			st.aborted++;
			r->sse.finished = r->aborted = true;
			r->reason = SL_ABORT_ENGINE;
			unlink_req(r);
		}
		*replied = false;
	}
	json_decref(req);
	return rc;
}

/* ---- stats ---- */

/* The counters as one JSON object (@final: the last, at exit). */
static json_t *
stats_json(bool final)
{
	json_t *j, *relj = NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	if (m != NULL) {
		sl_rel_counters_json(m, sl_rel_counters(rel), NULL);
		if (fclose(m) == 0)
			relj = json_loadb(buf, len, 0, NULL);
		free(buf);
	}
	j = json_pack(
		"{s:b, s:I, s:I, s:I, s:I, s:I, "
		"s:{s:I, s:I, s:I, s:I, s:I}, s:I, s:I, s:i, s:o*}",
		"final", final, "requests", (json_int_t)st.requests, "streamed",
		(json_int_t)st.streamed, "answered", (json_int_t)st.answered,
		"aborted", (json_int_t)st.aborted, "cancelled",
		(json_int_t)st.cancelled, "refused", "400",
		(json_int_t)st.refused_400, "401", (json_int_t)st.refused_401,
		"404", (json_int_t)st.refused_404, "413",
		(json_int_t)st.refused_413, "429", (json_int_t)st.refused_429,
		"too_slow", (json_int_t)st.too_slow, "expired",
		(json_int_t)st.expired, "in_flight", (int)n_in_flight, "rel",
		relj);
	if (j != NULL) { /* aborted answers by reason, by name */
		json_t *by = json_object();

		for (unsigned int i = 0; i < SL_ABORT_MAX; i++)
			json_object_set_new(
				by, sl_abort_reason_name((uint8_t)i),
				json_integer((json_int_t)st.aborted_by[i]));
		json_object_set_new(j, "aborted_by_reason", by);
	}
	return j;
}

/* --stats-file and --metrics, once a second and at exit. */
static void
stats_write(bool final)
{
	json_t *j;

	if (o.stats_file == NULL && metrics == NULL)
		return;
	j = stats_json(final);
	if (j == NULL)
		return;
	if (o.stats_file != NULL) {
		char *text = json_dumps(j, JSON_COMPACT);

		if (text == NULL ||
		    sl_file_replace(o.stats_file, text, strlen(text)) < 0)
			fprintf(stderr, "sluice-gateway: cannot write %s\n",
				o.stats_file);
		free(text);
	}
	if (metrics != NULL) {
		struct sl_text t = {0};

		/* Out of memory: /metrics keeps the last text. "final"
		 * is the file's word, not a measure. */
		json_object_del(j, "final");
		if (sl_prom_from_json(j, "sluice_gateway", NULL, NULL, &t) == 0)
			sl_prom_publish(metrics, t.buf, t.len);
		sl_text_free(&t);
	}
	json_decref(j);
}

/* ---- connections ---- */

static void
on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
	      enum MHD_ConnectionNotificationCode toe)
{
	struct gw_conn *gc = *socket_context;

	(void)cls;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		gc = calloc(1, sizeof(*gc));
		if (gc == NULL) /* untracked: MHD's timeout still holds */
			return;
		gc->c = c;
		gc->since = sl_now_ns();
		gc->receiving = true;
		gc->next = conns;
		if (conns != NULL)
			conns->prev = gc;
		conns = gc;
		*socket_context = gc;
		return;
	}
	if (gc == NULL)
		return;
	if (gc->prev != NULL)
		gc->prev->next = gc->next;
	else
		conns = gc->next;
	if (gc->next != NULL)
		gc->next->prev = gc->prev;
	free(gc);
	*socket_context = NULL;
}

static struct gw_conn *
conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci != NULL ? ci->socket_context : NULL;
}

/* @c's request arrived whole (true), or it ended and the next one may
 * start arriving (false). */
static void
conn_receiving(struct MHD_Connection *c, bool receiving)
{
	struct gw_conn *gc = conn_of(c);

	if (gc == NULL)
		return;
	gc->receiving = receiving;
	gc->since = sl_now_ns();
}

/* Shut down every connection whose request is late: libmicrohttpd sees
 * the socket end on its next run and closes it (NOTIFY_CLOSED). */
static void
conns_expire(uint64_t now)
{
	uint64_t limit = (uint64_t)o.timeout_s * 1000000000u;

	for (struct gw_conn *gc = conns; gc != NULL; gc = gc->next) {
		const union MHD_ConnectionInfo *ci;

		if (!gc->receiving || gc->since >= now ||
		    now - gc->since <= limit)
			continue;
		gc->receiving = false; /* once */
		ci = MHD_get_connection_info(gc->c,
					     MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci != NULL && shutdown(ci->connect_fd, SHUT_RDWR) == 0)
			st.too_slow++;
	}
}

/* ---- requests ---- */

static enum MHD_Result
handler(void *cls, struct MHD_Connection *c, const char *url,
	const char *method, const char *version, const char *upload,
	size_t *upload_size, void **con_cls)
{
	struct gw_req *r = *con_cls;
	bool replied;
	enum MHD_Result rc;

	(void)cls;
	(void)version;
	if (r == NULL) {
		if (strcmp(method, "GET") == 0 &&
		    strcmp(url, "/v1/models") == 0) {
			json_t *list = json_array();

			for (unsigned int i = 0; i < o.n_models; i++)
				json_array_append_new(
					list, json_pack("{s:s, s:s, s:s}", "id",
							o.models[i].name,
							"object", "model",
							"owned_by", "sluice"));
			conn_receiving(c, false);
			return sl_openai_reply(c, MHD_HTTP_OK,
					       json_pack("{s:s, s:o}", "object",
							 "list", "data", list));
		}
		if (strcmp(method, "POST") != 0 ||
		    (strcmp(url, "/v1/completions") != 0 &&
		     strcmp(url, "/v1/chat/completions") != 0)) {
			conn_receiving(c, false);
			return reply_error(c, MHD_HTTP_NOT_FOUND,
					   "no such endpoint", "not_found");
		}
		r = calloc(1, sizeof(*r));
		if (r == NULL)
			return MHD_NO;
		r->conn = c;
		r->sse.conn = c;
		r->chat = strcmp(url, "/v1/chat/completions") == 0;
		*con_cls = r;
		return MHD_YES;
	}
	if (*upload_size != 0) {
		if (!r->too_big && r->body.len + *upload_size > o.max_body)
			r->too_big = true;
		else if (!r->too_big &&
			 sl_text_append(&r->body, upload, *upload_size) != 0)
			return MHD_NO;
		*upload_size = 0;
		return MHD_YES;
	}
	if (!r->started) {
		conn_receiving(c, false); /* and the body */
		rc = start(r, &replied);
		if (replied || !r->started)
			return rc;
		if (r->stream && !r->sse.finished)
			return sl_openai_sse_queue(&r->sse);
		if (!r->sse.finished) { /* the whole answer first */
			r->sse.suspended = true;
			MHD_suspend_connection(c);
			return MHD_YES;
		}
	}
	return reply_final(r);
}

/* The client went away before the answer ended: ABORT (CLIENT) on the
 * request's stream, right after its END, ends the request in sluiced
 * (stage_order.c); what still comes for it is dropped here. */
static void
send_abort(struct gw_req *r)
{
	struct sl_stream_tx tx;
	struct sl_burst b;

	if (sl_stream_tx_init(&tx, r->model->pipeline, 0, r->tenant, 1,
			      &r->id) < 0)
		return;
	tx.next_seq = r->seq;
	sl_burst_reset(&b);
	if (sl_stream_tx_begin(&tx, b.d[0].buf, b.d[0].cap) < 0)
		return;
	b.d[0].len = (uint16_t)sl_stream_tx_finish(&tx, SL_FRAG_F_ABORT,
						   SL_ABORT_CLIENT, 0);
	memset(&b.d[0].addr, 0, sizeof(b.d[0].addr));
	sl_rel_send_burst(rel, b.d, 1, sl_now_ns());
}

/* End @r here, for @reason: ABORT to its client, and ABORT (CLIENT) to
 * sluiced so that the request ends there too. */
static void
end_here(struct gw_req *r, uint8_t reason)
{
	send_abort(r);
	r->aborted = true;
	r->reason = reason;
	finish(r);
	unlink_req(r);
}

/*
 * Answers that went silent: nothing of @r's answer for --answer-timeout-s
 * since the request was sent or its last fragment came (sluiced's news of
 * it lost beyond repair). Ended here with ABORT (EXPIRED) to the client,
 * and in sluiced with ABORT (CLIENT), so that nothing waits forever.
 */
static void
answers_expire(uint64_t now)
{
	uint64_t limit = (uint64_t)o.answer_timeout_s * 1000000000u;
	struct gw_req *r = in_flight, *next;

	for (; r != NULL; r = next) {
		next = r->next;
		/* heard_ns may be later than @now (a fragment taken after
		 * the loop read its clock): not late. */
		if (r->heard_ns >= now || now - r->heard_ns <= limit)
			continue;
		st.expired++;
		end_here(r, SL_ABORT_EXPIRED);
	}
}

/* A request ended, one way or another. */
static void
completed(void *cls, struct MHD_Connection *c, void **con_cls,
	  enum MHD_RequestTerminationCode toe)
{
	struct gw_req *r = *con_cls;

	(void)cls;
	(void)toe;
	conn_receiving(c, true); /* the next request's time starts */
	if (r == NULL)
		return;
	if (r->in_flight) {
		st.cancelled++;
		send_abort(r);
		unlink_req(r);
	}
	sl_text_free(&r->body);
	sl_text_free(&r->sse.out);
	free(r);
	*con_cls = NULL;
}

/* ---- start-up ---- */

static int
load_tokens(const char *path)
{
	char line[256], tok[160];
	unsigned int tenant;
	FILE *f = fopen(path, "r");
	unsigned int lineno = 0;

	if (f == NULL) {
		fprintf(stderr, "sluice-gateway: --tokens %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (line[0] == '#' || line[strspn(line, " \t\r\n")] == '\0')
			continue;
		if (sscanf(line, "%159s %u", tok, &tenant) != 2 ||
		    strlen(tok) >= sizeof(o.tokens[0].token) || tenant == 0 ||
		    tenant > UINT16_MAX || o.n_tokens == GW_TOKENS_MAX) {
			fprintf(stderr,
				"sluice-gateway: %s:%u: want \"TOKEN TENANT\" "
				"(tenant 1..65535, %u tokens at most)\n",
				path, lineno, GW_TOKENS_MAX);
			fclose(f);
			return -1;
		}
		snprintf(o.tokens[o.n_tokens].token, sizeof(o.tokens[0].token),
			 "%s", tok);
		o.tokens[o.n_tokens++].tenant = (uint16_t)tenant;
	}
	fclose(f);
	explicit_bzero(line, sizeof(line));
	explicit_bzero(tok, sizeof(tok));
	return o.n_tokens > 0 ? 0 : -1;
}

static int
add_model(const char *spec)
{
	const char *eq = strchr(spec, '=');
	uint64_t id;

	if (eq == NULL || eq == spec ||
	    (size_t)(eq - spec) >= sizeof(o.models[0].name) ||
	    !sl_parse_u64(eq + 1, 0, UINT32_MAX, &id) ||
	    o.n_models == GW_MODELS_MAX) {
		fprintf(stderr,
			"sluice-gateway: --model: NAME=PIPELINE_ID (%u at "
			"most), not %s\n",
			GW_MODELS_MAX, spec);
		return -1;
	}
	snprintf(o.models[o.n_models].name, sizeof(o.models[0].name), "%.*s",
		 (int)(eq - spec), spec);
	o.models[o.n_models++].pipeline = (uint32_t)id;
	return 0;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: sluice-gateway --listen IP:PORT --server IP:PORT\n"
		   "       --model NAME=PIPELINE_ID [--model ...]\n"
		   "       (--tokens FILE | --open-tenant N) [--bind IP]\n"
		   "       [--max-body BYTES (1048576)] [--max-requests N "
		   "(256)]\n"
		   "       [--max-connections N (4096)] [--timeout-s S (60)]\n"
		   "       [--answer-timeout-s S (300)] [--reuse-port]\n"
		   "       [--stats-file PATH]\n"
		   "       [--metrics IP:PORT] [--quiet]\n");
}

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int
main(int argc, char **argv)
{
	const char *model_specs[GW_MODELS_MAX];
	char *rest[256];
	bool help = false;
	const struct sl_opt_spec spec[] = {
		SL_OPT_S("listen", &o.listen),
		SL_OPT_S("server", &o.server),
		SL_OPT_S("bind", &o.bind),
		SL_OPT_S("tokens", &o.tokens_file),
		SL_OPT_N("open-tenant", &o.open_tenant, 1, UINT16_MAX),
		SL_OPT_N("max-body", &o.max_body, 1024, 64u << 20),
		SL_OPT_N("max-requests", &o.max_requests, 1, 1u << 20),
		SL_OPT_N("max-connections", &o.conn_limit, 1, 1u << 20),
		SL_OPT_N("timeout-s", &o.timeout_s, 1, 3600),
		SL_OPT_N("answer-timeout-s", &o.answer_timeout_s, 1, 86400),
		SL_OPT_F("reuse-port", &o.reuse_port),
		SL_OPT_S("stats-file", &o.stats_file),
		SL_OPT_S("metrics", &o.metrics),
		SL_OPT_F("quiet", &o.quiet),
		SL_OPT_F("help", &help),
	};
	unsigned int n_model_args = 0;
	struct sockaddr_in http_addr, server_addr, bind_addr;
	struct MHD_Daemon *d;
	struct sl_rel_config rc;
	struct sigaction sa;
	const union MHD_DaemonInfo *info;
	uint32_t prefix;
	int n_rest = 0, epfd;
	uint64_t next_stats = 0, next_sweep = 0;

	/* --model NAME=ID may be given again and again: taken out first,
	 * the rest is a table's. */
	if (argc > 255) {
		fprintf(stderr, "sluice-gateway: too many arguments\n");
		return 2;
	}
	for (int i = 0; i < argc; i++) {
		if (i > 0 && strcmp(argv[i], "--model") == 0 && i + 1 < argc) {
			if (n_model_args == GW_MODELS_MAX) {
				fprintf(stderr,
					"sluice-gateway: %u --model "
					"at most\n",
					GW_MODELS_MAX);
				return 2;
			}
			model_specs[n_model_args++] = argv[++i];
			continue;
		}
		rest[n_rest++] = argv[i];
	}
	rest[n_rest] = NULL;
	if (sl_opt_parse("sluice-gateway", n_rest, rest, spec,
			 sizeof(spec) / sizeof(spec[0]), NULL) != n_rest)
		return 2;
	if (help) {
		usage(stdout);
		return 0;
	}
	for (unsigned int i = 0; i < n_model_args; i++)
		if (add_model(model_specs[i]) < 0)
			return 2;
	if (o.listen == NULL || o.server == NULL || o.n_models == 0 ||
	    (o.tokens_file == NULL) == (o.open_tenant == 0)) {
		usage(stderr);
		fprintf(stderr, "sluice-gateway: --listen, --server, a --model "
				"and one of --tokens, --open-tenant\n");
		return 2;
	}
	if (o.tokens_file != NULL && load_tokens(o.tokens_file) < 0)
		return 2;
	if (sl_endpoint_parse(o.listen, false, &http_addr) < 0 ||
	    sl_endpoint_parse(o.server, false, &server_addr) < 0 ||
	    sl_endpoint_parse(o.bind ? o.bind : "0.0.0.0", true, &bind_addr) <
		    0) {
		fprintf(stderr, "sluice-gateway: bad --listen, --server or "
				"--bind address\n");
		return 2;
	}
	sock = sl_sock_open(&bind_addr);
	if (sock == NULL) {
		fprintf(stderr, "sluice-gateway: socket: %s\n",
			strerror(errno));
		return 1;
	}
	sl_sock_set_peer(sock, &server_addr);
	sl_rel_config_default(&rc);
	rc.report_gave_up = true; /* an unacknowledged request: ABORT LOST */
	rel = sl_rel_new(sock, &rc);
	if (rel == NULL)
		return 1;
	if (getrandom(&prefix, sizeof(prefix), 0) != sizeof(prefix))
		prefix = (uint32_t)sl_now_ns() ^ (uint32_t)getpid();
	id_prefix = (uint64_t)prefix << 32;
	d = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, NULL,
			     NULL, handler, NULL, MHD_OPTION_SOCK_ADDR,
			     &http_addr, MHD_OPTION_NOTIFY_COMPLETED, completed,
			     NULL, MHD_OPTION_CONNECTION_LIMIT, o.conn_limit,
			     MHD_OPTION_CONNECTION_TIMEOUT, o.timeout_s,
			     MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
			     MHD_OPTION_LISTENING_ADDRESS_REUSE,
			     (unsigned int)o.reuse_port, MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "sluice-gateway: cannot listen on %s\n",
			o.listen);
		return 1;
	}
	if (o.metrics != NULL &&
	    (metrics = sl_prom_serve(o.metrics, "sluice-gateway")) == NULL)
		return 1;
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);
	epfd = info->epoll_fd;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (!o.quiet)
		fprintf(stderr, "sluice-gateway: listening on %s, sluiced %s\n",
			o.listen, o.server);
	while (!stop) {
		struct pollfd p[2] = {{.fd = epfd, .events = POLLIN},
				      {.fd = sock->fd, .events = POLLIN}};
		MHD_UNSIGNED_LONG_LONG mhd_ms = 100;
		uint64_t now = sl_now_ns(), next = sl_rel_tick(rel, now);
		int wait_ms = 100;

		deliver(now);
		receive(now);
		/* The deadlines are seconds: a walk over every request and
		 * connection each 50 ms, not each turn (thousands a second
		 * under load, each O(connections)). */
		if (now >= next_sweep) {
			answers_expire(now);
			conns_expire(now);
			next_sweep = now + GW_SWEEP_NS;
		}
		if (now >= next_stats) {
			stats_write(false);
			next_stats = now + 1000000000u;
		}
		if (MHD_get_timeout(d, &mhd_ms) == MHD_YES && mhd_ms < 100)
			wait_ms = (int)mhd_ms;
		if (next != UINT64_MAX && next > now &&
		    (next - now) / 1000000 < (uint64_t)wait_ms)
			wait_ms = (int)((next - now) / 1000000);
		poll(p, 2, wait_ms);
		receive(sl_now_ns());
		/* A resumed connection takes a run to be woken and another to
		 * send: two, so that nothing waits for the next event. */
		MHD_run(d);
		MHD_run(d);
	}
	/* Every answer still coming ends now, said so (SHUTDOWN) to its
	 * client and to sluiced (ABORT CLIENT); libmicrohttpd must not be
	 * stopped with a connection suspended (it aborts the process). */
	while (in_flight != NULL)
		end_here(in_flight, SL_ABORT_SHUTDOWN);
	for (int i = 0; i < 4; i++) /* resumed: their last bytes out */
		MHD_run(d);
	MHD_stop_daemon(d);
	stats_write(true);
	sl_prom_close(metrics);
	if (!o.quiet)
		fprintf(stderr,
			"sluice-gateway: stopped; %" PRIu64
			" requests, %" PRIu64
			" connections shut down for a request not whole in "
			"%u s\n",
			st.requests, st.too_slow, o.timeout_s);
	sl_rel_free(rel);
	sl_sock_close(sock);
	explicit_bzero(o.tokens, sizeof(o.tokens));
	return 0;
}
