/* SPDX-License-Identifier: MIT */
/*
 * upstream.c - answers from an OpenAI-compatible model server (upstream.h).
 *
 * One POST per answer with "stream": true; the body that comes back is
 * server-sent events (text/event-stream): lines of "field: value", an
 * event ending at a blank line. Only "data:" carries anything here: a
 * JSON chunk, {"choices": [{"text": ...}]} (completions) or {"choices":
 * [{"delta": {"content": ...}}]} (chat), an {"error": ...} object, or
 * the literal [DONE] that ends the answer. A comment (":") and the
 * "event", "id" and "retry" fields are read over; any other line is a
 * malformed stream. JSON is jansson's.
 *
 * Every failure ends the answer once, with its kind: the server said no
 * (HTTP status >= 400, an error event), it was too slow (no text within
 * first_token_ns of the request, or nothing for idle_ns between events),
 * its stream was not what the format says (a line over
 * UPSTREAM_LINE_MAX too), or it closed before [DONE] (or could not be
 * reached). Before the first text a 5xx, a 429 or no connection is tried
 * again, cfg.retries times.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "sluice.h"
#include "upstream.h"

/* The longest event line taken (a chunk is a few hundred bytes). */
#define UPSTREAM_LINE_MAX (256u * 1024u)

struct up_xfer {
	struct sl_upstream *u;
	CURL *easy;
	struct curl_slist *hdrs;
	void *ctx;
	struct up_xfer *next;
	char *line; /* the event line being read */
	size_t line_len, line_cap;
	uint64_t deadline; /* first text, then the next event */
	unsigned int tries;
	bool got_text;
	bool done; /* [DONE] seen */
	bool failed;
	enum sl_upstream_end fail; /* with failed: why, set while reading */
};

struct sl_upstream {
	struct sl_upstream_cfg cfg;
	struct sl_upstream_ops ops;
	char *endpoint; /* cfg.url + the API's path */
	char *auth;     /* the Authorization header, NULL: none */
	CURLM *multi;
	struct up_xfer *xfers;
	unsigned int n_active;
	struct sl_upstream_counters c;
};

static void
up_fail(struct up_xfer *x, enum sl_upstream_end how)
{
	if (!x->failed) {
		x->failed = true;
		x->fail = how;
	}
}

/* One "data:" payload. */
static void
up_data(struct up_xfer *x, const char *s, size_t len)
{
	struct sl_upstream *u = x->u;
	const json_t *choice, *piece;
	json_error_t jerr;
	json_t *root;

	if (len == 6 && memcmp(s, "[DONE]", 6) == 0) {
		x->done = true;
		return;
	}
	root = json_loadb(s, len, 0, &jerr);
	if (root == NULL || !json_is_object(root)) {
		up_fail(x, SL_UPSTREAM_MALFORMED);
		json_decref(root);
		return;
	}
	u->c.events++;
	if (json_object_get(root, "error") != NULL) {
		up_fail(x, SL_UPSTREAM_ERROR);
		json_decref(root);
		return;
	}
	choice = json_array_get(json_object_get(root, "choices"), 0);
	piece = u->cfg.chat ? json_object_get(json_object_get(choice, "delta"),
					      "content")
			    : json_object_get(choice, "text");
	if (!json_is_object(choice) ||
	    (piece != NULL && !json_is_string(piece) && !json_is_null(piece))) {
		up_fail(x, SL_UPSTREAM_MALFORMED);
	} else if (json_is_string(piece) && json_string_length(piece) > 0) {
		x->got_text = true;
		u->ops.text(x->ctx, json_string_value(piece),
			    json_string_length(piece));
	}
	json_decref(root);
}

/* One line of the stream (no line end). */
static void
up_line(struct up_xfer *x, const char *s, size_t len)
{
	static const char *const ignored[] = {"event:", "id:", "retry:"};

	if (len > 0 && s[len - 1] == '\r')
		len--;
	if (len == 0 || s[0] == ':')
		return; /* the end of an event, or a comment */
	if (len >= 5 && memcmp(s, "data:", 5) == 0) {
		s += 5;
		len -= 5;
		if (len > 0 && s[0] == ' ') {
			s++;
			len--;
		}
		up_data(x, s, len);
		return;
	}
	for (unsigned int i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		if (len >= strlen(ignored[i]) &&
		    memcmp(s, ignored[i], strlen(ignored[i])) == 0)
			return;
	up_fail(x, SL_UPSTREAM_MALFORMED);
}

static bool
up_retryable(long status)
{
	return status == 429 || status >= 500;
}

/* curl's write callback: the body as it arrives. Returning less than
 * given stops the transfer (what failed is in x->fail). */
static size_t
up_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct up_xfer *x = arg;
	size_t n = size * nmemb, start = 0;
	long status = 0;

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 400) {
		up_fail(x, SL_UPSTREAM_ERROR);
		return 0;
	}
	x->deadline = sl_now_ns() + x->u->cfg.idle_ns;
	for (size_t i = 0; i < n && !x->failed; i++) {
		if (ptr[i] != '\n')
			continue;
		if (x->line_len == 0) {
			up_line(x, ptr + start, i - start);
		} else {
			if (x->line_len + (i - start) > UPSTREAM_LINE_MAX) {
				up_fail(x, SL_UPSTREAM_MALFORMED);
				break;
			}
			memcpy(x->line + x->line_len, ptr + start, i - start);
			up_line(x, x->line, x->line_len + (i - start));
			x->line_len = 0;
		}
		start = i + 1;
	}
	if (x->failed)
		return 0;
	if (start < n) { /* a line continues in the next call */
		size_t need = x->line_len + (n - start);

		if (need > UPSTREAM_LINE_MAX) {
			up_fail(x, SL_UPSTREAM_MALFORMED);
			return 0;
		}
		if (need > x->line_cap) {
			char *g = realloc(x->line, UPSTREAM_LINE_MAX);

			if (g == NULL) {
				up_fail(x, SL_UPSTREAM_CLOSED);
				return 0;
			}
			x->line = g;
			x->line_cap = UPSTREAM_LINE_MAX;
		}
		memcpy(x->line + x->line_len, ptr + start, n - start);
		x->line_len = need;
	}
	return n;
}

static void
up_xfer_free(struct up_xfer *x)
{
	if (x->easy != NULL) {
		curl_multi_remove_handle(x->u->multi, x->easy);
		curl_easy_cleanup(x->easy);
	}
	curl_slist_free_all(x->hdrs);
	free(x->line);
	free(x);
}

static void
up_unlink(struct sl_upstream *u, struct up_xfer *x)
{
	for (struct up_xfer **p = &u->xfers; *p != NULL; p = &(*p)->next)
		if (*p == x) {
			*p = x->next;
			u->n_active--;
			return;
		}
}

/* @x ended @how: counted, told, freed. */
static void
up_end(struct up_xfer *x, enum sl_upstream_end how, long status)
{
	struct sl_upstream *u = x->u;
	uint64_t *ctr[] = {
		[SL_UPSTREAM_DONE] = &u->c.done,
		[SL_UPSTREAM_ERROR] = &u->c.errors,
		[SL_UPSTREAM_TIMEOUT] = &u->c.timeouts,
		[SL_UPSTREAM_MALFORMED] = &u->c.malformed,
		[SL_UPSTREAM_CLOSED] = &u->c.closed,
	};
	void *ctx = x->ctx;

	(*ctr[how])++;
	up_unlink(u, x);
	up_xfer_free(x);
	u->ops.end(ctx, how, status);
}

/* Send @x (again): a fresh read of a fresh response. */
static int
up_send(struct up_xfer *x, uint64_t now)
{
	x->line_len = 0;
	x->done = x->failed = x->got_text = false;
	x->deadline = now + x->u->cfg.first_token_ns;
	curl_multi_remove_handle(x->u->multi, x->easy);
	return curl_multi_add_handle(x->u->multi, x->easy) == CURLM_OK
		       ? 0
		       : -ENOMEM;
}

/* The request's JSON body; NULL on ENOMEM. */
static char *
up_body(const struct sl_upstream *u, const char *prompt, size_t len)
{
	json_t *req = json_object(), *text = json_stringn(prompt, len);
	char *body = NULL;

	if (req == NULL || text == NULL)
		goto out;
	if (json_object_set_new(
		    req, "model",
		    json_string(u->cfg.model ? u->cfg.model : "default")) ||
	    json_object_set_new(req, "stream", json_true()))
		goto out;
	if (u->cfg.max_tokens != 0 &&
	    json_object_set_new(req, "max_tokens",
				json_integer(u->cfg.max_tokens)))
		goto out;
	if (u->cfg.chat) {
		json_t *msg = json_pack("[{s:s, s:O}]", "role", "user",
					"content", text);

		if (msg == NULL || json_object_set_new(req, "messages", msg))
			goto out;
	} else if (json_object_set(req, "prompt", text)) {
		goto out;
	}
	body = json_dumps(req, JSON_COMPACT);
out:
	json_decref(text);
	json_decref(req);
	return body;
}

int
sl_upstream_start(struct sl_upstream *u, const char *prompt, size_t len,
		  void *ctx, uint64_t now)
{
	struct up_xfer *x = calloc(1, sizeof(*x));
	char *body = up_body(u, prompt, len);
	struct curl_slist *h = NULL;

	if (x == NULL || body == NULL)
		goto fail;
	x->u = u;
	x->ctx = ctx;
	x->easy = curl_easy_init();
	h = curl_slist_append(NULL, "Content-Type: application/json");
	if (h != NULL)
		h = curl_slist_append(h, "Accept: text/event-stream");
	if (h != NULL && u->auth != NULL)
		h = curl_slist_append(h, u->auth);
	x->hdrs = h;
	if (x->easy == NULL || h == NULL ||
	    curl_easy_setopt(x->easy, CURLOPT_URL, u->endpoint) ||
	    curl_easy_setopt(x->easy, CURLOPT_COPYPOSTFIELDS, body) ||
	    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs) ||
	    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, up_write) ||
	    curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x) ||
	    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x) ||
	    curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS,
			     (long)(u->cfg.first_token_ns / 1000000 + 1)))
		goto fail;
	free(body);
	body = NULL;
	x->next = u->xfers;
	u->xfers = x;
	u->n_active++;
	u->c.requests++;
	if (up_send(x, now) != 0) {
		up_unlink(u, x);
		up_xfer_free(x);
		return -ENOMEM;
	}
	return 0;
fail:
	free(body);
	if (x != NULL)
		up_xfer_free(x);
	return -ENOMEM;
}

void
sl_upstream_cancel(struct sl_upstream *u, void *ctx)
{
	for (struct up_xfer *x = u->xfers; x != NULL; x = x->next)
		if (x->ctx == ctx) {
			up_unlink(u, x);
			up_xfer_free(x);
			return;
		}
}

/* A finished transfer: how it ended, or sent again. */
static void
up_finished(struct up_xfer *x, CURLcode rc, uint64_t now)
{
	struct sl_upstream *u = x->u;
	long status = 0;
	bool retry;

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	retry = !x->got_text && x->tries < u->cfg.retries &&
		((rc == CURLE_COULDNT_CONNECT && !x->failed) ||
		 (x->failed && x->fail == SL_UPSTREAM_ERROR &&
		  up_retryable(status)));
	if (retry) {
		x->tries++;
		u->c.retries++;
		if (up_send(x, now) == 0)
			return;
		up_end(x, SL_UPSTREAM_CLOSED, status);
		return;
	}
	if (x->failed)
		up_end(x, x->fail, status);
	else if (rc == CURLE_OK && status >= 400)
		up_end(x, SL_UPSTREAM_ERROR, status);
	else if (rc == CURLE_OK && x->done)
		up_end(x, SL_UPSTREAM_DONE, status);
	else
		up_end(x, SL_UPSTREAM_CLOSED, status);
}

uint64_t
sl_upstream_run(struct sl_upstream *u, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	struct up_xfer *x, *nx;
	CURLMsg *msg;
	long ms = -1;
	int running, left;

	curl_multi_perform(u->multi, &running);
	while ((msg = curl_multi_info_read(u->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		x = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
				  (char **)&x);
		if (x != NULL)
			up_finished(x, msg->data.result, now);
	}
	for (x = u->xfers; x != NULL; x = nx) {
		nx = x->next;
		/* After [DONE] the body has to end within idle_ns too; if it
		 * does not, the answer is whole all the same. */
		if (now >= x->deadline)
			up_end(x,
			       x->done ? SL_UPSTREAM_DONE : SL_UPSTREAM_TIMEOUT,
			       0);
		else if (x->deadline < next)
			next = x->deadline;
	}
	if (u->n_active > 0 && curl_multi_timeout(u->multi, &ms) == CURLM_OK &&
	    ms >= 0 && now + (uint64_t)ms * 1000000 < next)
		next = now + (uint64_t)ms * 1000000;
	return next;
}

void
sl_upstream_wait(struct sl_upstream *u, int fd, uint64_t wait_ns)
{
	struct curl_waitfd extra = {.fd = fd, .events = CURL_WAIT_POLLIN};
	int ms = (int)((wait_ns + 999999) / 1000000);

	curl_multi_poll(u->multi, &extra, 1, ms, NULL);
}

unsigned int
sl_upstream_active(const struct sl_upstream *u)
{
	return u->n_active;
}

const struct sl_upstream_counters *
sl_upstream_counters(const struct sl_upstream *u)
{
	return &u->c;
}

struct sl_upstream *
sl_upstream_new(const struct sl_upstream_cfg *cfg,
		const struct sl_upstream_ops *ops)
{
	struct sl_upstream *u = calloc(1, sizeof(*u));
	size_t n;

	if (u == NULL)
		return NULL;
	u->cfg = *cfg;
	u->ops = *ops;
	n = strlen(cfg->url);
	while (n > 0 && cfg->url[n - 1] == '/')
		n--;
	u->endpoint = malloc(n + 32);
	if (cfg->api_key != NULL) {
		u->auth = malloc(strlen(cfg->api_key) + 32);
		if (u->auth != NULL)
			snprintf(u->auth, strlen(cfg->api_key) + 32,
				 "Authorization: Bearer %s", cfg->api_key);
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    u->endpoint == NULL || (cfg->api_key != NULL && u->auth == NULL) ||
	    (u->multi = curl_multi_init()) == NULL) {
		sl_upstream_free(u);
		errno = ENOMEM;
		return NULL;
	}
	snprintf(u->endpoint, n + 32, "%.*s%s", (int)n, cfg->url,
		 cfg->chat ? "/v1/chat/completions" : "/v1/completions");
	return u;
}

void
sl_upstream_free(struct sl_upstream *u)
{
	if (u == NULL)
		return;
	while (u->xfers != NULL) {
		struct up_xfer *x = u->xfers;

		up_unlink(u, x);
		up_xfer_free(x);
	}
	if (u->multi != NULL)
		curl_multi_cleanup(u->multi);
	if (u->auth != NULL) {
		explicit_bzero(u->auth, strlen(u->auth));
		free(u->auth);
	}
	free(u->endpoint);
	free(u);
}
