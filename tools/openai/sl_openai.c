/* SPDX-License-Identifier: MIT */
/*
 * sl_openai.c - OpenAI API answers for sluice's HTTP servers
 * (sl_openai.h).
 */
#include <errno.h>
#include <string.h>

#include "sl_openai.h"

static json_t *
openai_head(const struct sl_openai_id *a, const char *object, json_t *choice)
{
	return json_pack("{s:s, s:s, s:I, s:s, s:[o]}", "id", a->id, "object",
			 object, "created", (json_int_t)a->created, "model",
			 a->model, "choices", choice);
}

json_t *
sl_openai_chunk(const struct sl_openai_id *a, const char *text, size_t len)
{
	json_t *choice =
		a->chat ? json_pack("{s:i, s:o, s:o}", "index", 0, "delta",
				    text ? json_pack("{s:s%}", "content", text,
						     len)
					 : json_object(),
				    "finish_reason",
				    text ? json_null() : json_string("stop"))
			: json_pack("{s:i, s:s%, s:o}", "index", 0, "text",
				    text ? text : "", text ? len : 0,
				    "finish_reason",
				    text ? json_null() : json_string("stop"));

	return openai_head(
		a, a->chat ? "chat.completion.chunk" : "text_completion",
		choice);
}

json_t *
sl_openai_whole(const struct sl_openai_id *a, const char *text, size_t len)
{
	text = text ? text : "";
	return openai_head(
		a, a->chat ? "chat.completion" : "text_completion",
		json_pack("{s:i, s:o, s:s}", "index", 0,
			  a->chat ? "message" : "text",
			  a->chat ? json_pack("{s:s, s:s%}", "role",
					      "assistant", "content", text, len)
				  : json_stringn(text, len),
			  "finish_reason", "stop"));
}

json_t *
sl_openai_error(const char *message, const char *type, const char *code)
{
	return json_pack("{s:{s:s, s:s, s:s}}", "error", "message", message,
			 "type", type, "code", code);
}

enum MHD_Result
sl_openai_reply(struct MHD_Connection *c, unsigned int status, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	struct MHD_Response *resp;
	enum MHD_Result rc;

	json_decref(j);
	if (s == NULL)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(s), s,
					       MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	rc = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

int
sl_openai_event(struct sl_openai_sse *s, json_t *j, size_t max)
{
	char *t = json_dumps(j, JSON_COMPACT);
	int rc = -ENOMEM;

	json_decref(j);
	if (t == NULL)
		return rc;
	if (s->out.len + strlen(t) + 8 > max)
		rc = -ENOSPC;
	else if (sl_text_append(&s->out, "data: ", 6) == 0 &&
		 sl_text_append(&s->out, t, strlen(t)) == 0 &&
		 sl_text_append(&s->out, "\n\n", 2) == 0)
		rc = 0;
	free(t);
	return rc;
}

ssize_t
sl_openai_sse_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct sl_openai_sse *s = cls;
	size_t n = s->out.len - s->pos;

	(void)pos;
	if (n == 0) {
		if (s->finished)
			return MHD_CONTENT_READER_END_OF_STREAM;
		s->suspended = true;
		MHD_suspend_connection(s->conn);
		return 0;
	}
	if (n > max)
		n = max;
	memcpy(buf, s->out.buf + s->pos, n);
	s->pos += n;
	if (s->pos == s->out.len) /* all sent: room again */
		s->out.len = s->pos = 0;
	return (ssize_t)n;
}

void
sl_openai_sse_wake(struct sl_openai_sse *s)
{
	if (s->suspended) {
		s->suspended = false;
		MHD_resume_connection(s->conn);
	}
}

enum MHD_Result
sl_openai_sse_queue(struct sl_openai_sse *s)
{
	struct MHD_Response *resp = MHD_create_response_from_callback(
		MHD_SIZE_UNKNOWN, 16384, sl_openai_sse_reader, s, NULL);
	enum MHD_Result rc;

	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "text/event-stream");
	MHD_add_response_header(resp, "Cache-Control", "no-cache");
	rc = MHD_queue_response(s->conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return rc;
}
