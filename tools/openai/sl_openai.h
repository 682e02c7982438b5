/* SPDX-License-Identifier: MIT */
/*
 * sl_openai.h - the OpenAI API's answers as sluice's HTTP servers give
 * them (sluice-gateway, sluice-engine --http): chunks and whole answers
 * of /v1/completions and /v1/chat/completions, error objects, and an
 * answer streamed as server-sent events through libmicrohttpd with the
 * connection suspended while nothing is ready.
 */
#ifndef SL_OPENAI_H
#define SL_OPENAI_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "sluice.h"

/* Who the answer is: its id, the API, when, which model. */
struct sl_openai_id {
	char id[48];
	bool chat;
	time_t created;
	const char *model;
};

/* A streamed chunk of @len bytes of @text; @text NULL: the last chunk
 * (finish_reason "stop"). */
json_t *sl_openai_chunk(const struct sl_openai_id *a, const char *text,
			size_t len);
/* The whole answer in one object. */
json_t *sl_openai_whole(const struct sl_openai_id *a, const char *text,
			size_t len);
json_t *sl_openai_error(const char *message, const char *type,
			const char *code);

/* @j (taken) as JSON with @status. */
enum MHD_Result sl_openai_reply(struct MHD_Connection *c, unsigned int status,
				json_t *j);

/*
 * An answer streamed as server-sent events: events are appended to
 * @out, sl_openai_sse_reader gives them to libmicrohttpd (suspending the
 * connection while there is none and the answer is not over) and
 * sl_openai_sse_wake resumes it when there is.
 */
struct sl_openai_sse {
	struct MHD_Connection *conn;
	struct sl_text out;
	size_t pos;
	bool finished;
	bool suspended;
};

/* "data: <@j>\n\n" (@j taken); 0, or -ENOMEM / -ENOSPC past @max bytes
 * not yet sent. */
int sl_openai_event(struct sl_openai_sse *s, json_t *j, size_t max);
ssize_t sl_openai_sse_reader(void *cls, uint64_t pos, char *buf, size_t max);
void sl_openai_sse_wake(struct sl_openai_sse *s);
/* The streaming response for @s, queued. */
enum MHD_Result sl_openai_sse_queue(struct sl_openai_sse *s);

#endif /* SL_OPENAI_H */
