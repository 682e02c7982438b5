/* SPDX-License-Identifier: MIT */
/*
 * tt_openai.c - a scripted OpenAI-compatible model server (tt_openai.h).
 * One thread per connection (libmicrohttpd), so that a stalling answer
 * may simply sleep.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tt_openai.h"

#define BODY_MAX (256 * 1024)

static struct MHD_Daemon *daemon_;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned int requests;
static char last_auth[256];
static bool saw_503;

struct req {
	char body[BODY_MAX];
	size_t len;
	bool chat;
	/* the answer being streamed */
	char text[BODY_MAX];
	size_t text_len, pos;
	unsigned int pieces;
	int fault; /* 0 or one of the FAULT_ words below */
	bool done_sent;
};

enum { F_NONE, F_GARBAGE, F_ERROR, F_CLOSE, F_STALL };

/* The next event into @buf (@max bytes), or an MHD end code. */
static ssize_t
reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct req *r = cls;
	char piece[64];
	json_t *ev;
	char *s;
	int n;

	(void)pos;
	if (r->fault == F_GARBAGE && r->pieces == 1)
		return snprintf(buf, max, "data: {not json\n\n");
	if (r->fault == F_ERROR && r->pieces == 1)
		return snprintf(buf, max,
				"data: {\"error\": {\"message\": \"no\", "
				"\"type\": \"server_error\"}}\n\n");
	if (r->fault == F_CLOSE && r->pieces == 2)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (r->fault == F_STALL && r->pieces == 1) {
		sleep(3);
		return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	if (r->pos >= r->text_len) {
		if (r->done_sent)
			return MHD_CONTENT_READER_END_OF_STREAM;
		r->done_sent = true;
		return snprintf(buf, max, ": the end\n\ndata: [DONE]\n\n");
	}
	n = (int)(r->text_len - r->pos < TT_OPENAI_PIECE ? r->text_len - r->pos
							 : TT_OPENAI_PIECE);
	memcpy(piece, r->text + r->pos, (size_t)n);
	r->pos += (size_t)n;
	r->pieces++;
	if (r->chat)
		ev = json_pack("{s:s, s:[{s:i, s:{s:s%}}]}", "object",
			       "chat.completion.chunk", "choices", "index", 0,
			       "delta", "content", piece, (size_t)n);
	else
		ev = json_pack("{s:s, s:[{s:i, s:s%}]}", "object",
			       "text_completion", "choices", "index", 0, "text",
			       piece, (size_t)n);
	s = json_dumps(ev, JSON_COMPACT);
	json_decref(ev);
	n = snprintf(buf, max, "event: chunk\ndata: %s\n\n", s);
	free(s);
	return n;
}

static void
req_free(void *cls)
{
	free(cls);
}

static enum MHD_Result
reply_status(struct MHD_Connection *c, unsigned int status)
{
	static const char body[] =
		"{\"error\": {\"message\": \"busy\", \"type\": \"server\"}}";
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		sizeof(body) - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result rc = MHD_queue_response(c, status, resp);

	MHD_destroy_response(resp);
	return rc;
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *c, const char *url,
	const char *method, const char *version, const char *upload,
	size_t *upload_size, void **con_cls)
{
	struct req *r = *con_cls;
	struct MHD_Response *resp;
	const char *auth, *prompt = NULL;
	json_t *root;
	enum MHD_Result rc;

	(void)cls;
	(void)version;
	if (r == NULL) {
		r = calloc(1, sizeof(*r));
		if (r == NULL)
			return MHD_NO;
		r->chat = strcmp(url, "/v1/chat/completions") == 0;
		*con_cls = r;
		return MHD_YES;
	}
	if (*upload_size != 0) {
		size_t n = *upload_size;

		if (r->len + n > sizeof(r->body) - 1)
			n = sizeof(r->body) - 1 - r->len;
		memcpy(r->body + r->len, upload, n);
		r->len += n;
		*upload_size = 0;
		return MHD_YES;
	}
	*con_cls = NULL; /* the response owns it from here */
	auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	pthread_mutex_lock(&lock);
	requests++;
	snprintf(last_auth, sizeof(last_auth), "%s", auth ? auth : "");
	pthread_mutex_unlock(&lock);
	root = json_loadb(r->body, r->len, 0, NULL);
	if (strcmp(method, "POST") != 0 ||
	    (strcmp(url, "/v1/completions") != 0 && !r->chat) || root == NULL) {
		json_decref(root);
		free(r);
		return reply_status(c, 400);
	}
	if (r->chat)
		prompt = json_string_value(json_object_get(
			json_array_get(json_object_get(root, "messages"), 0),
			"content"));
	else
		prompt = json_string_value(json_object_get(root, "prompt"));
	if (prompt == NULL || !json_is_true(json_object_get(root, "stream"))) {
		json_decref(root);
		free(r);
		return reply_status(c, 400);
	}
	if (strstr(prompt, "FAULT_500") != NULL ||
	    (strstr(prompt, "FAULT_503ONCE") != NULL && !saw_503)) {
		unsigned int status = strstr(prompt, "FAULT_500") ? 500 : 503;

		saw_503 = saw_503 || status == 503;
		json_decref(root);
		free(r);
		return reply_status(c, status);
	}
	r->fault = strstr(prompt, "FAULT_GARBAGE") ? F_GARBAGE
		   : strstr(prompt, "FAULT_ERROR") ? F_ERROR
		   : strstr(prompt, "FAULT_CLOSE") ? F_CLOSE
		   : strstr(prompt, "FAULT_STALL") ? F_STALL
						   : F_NONE;
	r->text_len =
		(size_t)snprintf(r->text, sizeof(r->text), "echo: %s", prompt);
	json_decref(root);
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, reader,
						 r, req_free);
	MHD_add_response_header(resp, "Content-Type", "text/event-stream");
	rc = MHD_queue_response(c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return rc;
}

static void
completed(void *cls, struct MHD_Connection *c, void **con_cls,
	  enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	free(*con_cls); /* a request that never got its response */
	*con_cls = NULL;
}

uint16_t
tt_openai_start(void)
{
	const union MHD_DaemonInfo *info;
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

	requests = 0;
	saw_503 = false;
	last_auth[0] = '\0';
	daemon_ = MHD_start_daemon(
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD,
		0, NULL, NULL, handler, NULL, MHD_OPTION_NOTIFY_COMPLETED,
		completed, NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
	if (daemon_ == NULL)
		return 0;
	info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
	return info != NULL ? info->port : 0;
}

void
tt_openai_stop(void)
{
	if (daemon_ != NULL)
		MHD_stop_daemon(daemon_);
	daemon_ = NULL;
}

unsigned int
tt_openai_requests(void)
{
	unsigned int n;

	pthread_mutex_lock(&lock);
	n = requests;
	pthread_mutex_unlock(&lock);
	return n;
}

const char *
tt_openai_last_auth(void)
{
	return last_auth;
}
