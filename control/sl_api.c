/* SPDX-License-Identifier: MIT */
/*
 * sl_api.c - the control API server (sl_api.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sl_api.h"
#include "sl_frame.h"

/* ------------------------------------------------------------------ arena */

#define SL_API_ARENA_CHUNK 4096u

struct sl_api_chunk {
	struct sl_api_chunk *next;
	size_t used;
	size_t size;
	_Alignas(max_align_t) unsigned char mem[];
};

struct sl_api_arena {
	struct sl_api_chunk *head;
};

struct sl_api_arena *
sl_api_arena_create(void)
{
	return calloc(1, sizeof(struct sl_api_arena));
}

void
sl_api_arena_destroy(struct sl_api_arena *arena)
{
	struct sl_api_chunk *c, *next;

	if (arena == NULL)
		return;
	for (c = arena->head; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	free(arena);
}

void *
sl_api_alloc(struct sl_api_arena *arena, size_t size)
{
	const size_t align = _Alignof(max_align_t);
	struct sl_api_chunk *c = arena->head;
	size_t need, chunk;
	void *p;

	if (size == 0)
		size = 1;
	if (size > SIZE_MAX / 2)
		return NULL;
	need = (size + align - 1) & ~(align - 1);
	if (c == NULL || c->size - c->used < need) {
		chunk = need > SL_API_ARENA_CHUNK ? need : SL_API_ARENA_CHUNK;
		c = malloc(sizeof(*c) + chunk);
		if (c == NULL)
			return NULL;
		c->size = chunk;
		c->used = 0;
		c->next = arena->head;
		arena->head = c;
	}
	p = c->mem + c->used;
	c->used += need;
	memset(p, 0, size);
	return p;
}

char *
sl_api_strdup(struct sl_api_arena *arena, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	char *p = sl_api_alloc(arena, n + 1);

	if (p != NULL && n > 0)
		memcpy(p, s, n);
	return p;
}

/* ----------------------------------------------------------------- errors */

void
sl_api_error_set(struct sl_api_error *err, int code, const char *field,
		 const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

void
sl_api_error_from_line(struct sl_api_error *err, int code, const char *line)
{
	const char *p, *field, *end;
	size_t n;

	err->code = code;
	err->field[0] = '\0';
	snprintf(err->message, sizeof(err->message), "%s", line);
	/* FILE:LINE: FIELD: message; FILE may itself hold ':'. */
	for (p = line; (p = strchr(p, ':')) != NULL; p++) {
		const char *d = p + 1;

		if (*d < '0' || *d > '9')
			continue;
		while (*d >= '0' && *d <= '9')
			d++;
		if (d[0] != ':' || d[1] != ' ')
			continue;
		field = d + 2;
		end = strstr(field, ": ");
		if (end == NULL || memchr(field, ' ', (size_t)(end - field)))
			return;
		n = (size_t)(end - field);
		if (n >= sizeof(err->field))
			n = sizeof(err->field) - 1;
		memcpy(err->field, field, n);
		err->field[n] = '\0';
		return;
	}
}

static const char *const code_names[] = {
    "UNSPECIFIED", "BAD_REQUEST",     "INVALID",     "NOT_FOUND", "EXISTS",
    "LIMIT",	   "UNAUTHENTICATED", "UNAVAILABLE", "INTERNAL",
};

const char *
sl_api_code_name(int code)
{
	if (code < 0 ||
	    (size_t)code >= sizeof(code_names) / sizeof(code_names[0]))
		return "UNKNOWN";
	return code_names[code];
}

/* ----------------------------------------------------------------- server */

struct sl_api_listener {
	struct sl_api *api;
	bool trusted; /* unix socket: no token */
};

struct sl_api {
	struct sl_loop *loop;
	const struct sl_api_backend_ops *ops;
	void *ctx;
	struct sl_api_listener unix_l;
	struct sl_api_listener tcp_l;
	char *unix_path;
	dev_t unix_dev;
	ino_t unix_ino;
	uint16_t tcp_port;
	size_t token_len;
	char token[SL_API_TOKEN_MAX];
	char version[64];
	void (*log)(const char *line, void *log_ctx);
	void *log_ctx;
	uint64_t start_ns;
	struct sl_api_stats stats;
	struct sl_metrics_http *metrics;
};

struct sl_api_conn {
	struct sl_api *api;
	bool trusted;
	bool closing;
	struct sl_frame_decoder dec;
};

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void __attribute__((format(printf, 2, 3)))
api_log(struct sl_api *api, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (api->log != NULL)
		api->log(line, api->log_ctx);
	else
		fprintf(stderr, "%s\n", line);
}

/* Equal length and bytes, in time that depends only on the lengths. */
static bool
token_equal(const struct sl_api *api, const char *given)
{
	size_t n = strnlen(given, SL_API_TOKEN_MAX);
	unsigned char diff = n != api->token_len || api->token_len == 0;

	for (size_t i = 0; i < api->token_len; i++)
		diff |= (unsigned char)api->token[i] ^
			(unsigned char)(i < n ? given[i] : 0);
	return diff == 0;
}

/* ------------------------------------------------------------ validation */

static bool
name_ok(const char *s, bool slash)
{
	size_t n = strlen(s);

	if (n == 0 || n >= SL_API_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' ||
		      ch == '-' || (slash && ch == '/')))
			return false;
	}
	return true;
}

/* A value for a message: at most 40 chars, non-printables as '?'. */
static const char *
quoted(const char *s, char *buf, size_t len)
{
	size_t i;

	for (i = 0; s[i] && i + 4 < len && i < 40; i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (s[i] && i + 4 < len) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

/* 0 when @s is a valid name (or "" and @optional); else fills @err. */
static int
check_name(const char *s, bool optional, bool slash, const char *field,
	   struct sl_api_error *err)
{
	char q[48];

	if (*s == '\0') {
		if (optional)
			return 0;
		sl_api_error_set(err, SLUICE__V1__ERROR__CODE__CODE_INVALID,
				 field, "required");
		return -1;
	}
	if (name_ok(s, slash))
		return 0;
	sl_api_error_set(err, SLUICE__V1__ERROR__CODE__CODE_INVALID, field,
			 "must be 1..%d characters of [A-Za-z0-9_.-%s], got "
			 "\"%s\"",
			 SL_API_NAME_MAX - 1, slash ? "/" : "",
			 quoted(s, q, sizeof(q)));
	return -1;
}

static int
check_ref(const char *pipeline, const char *stage, const char *instance,
	  bool instance_optional, struct sl_api_error *err)
{
	if (check_name(pipeline, false, false, "pipeline", err) ||
	    check_name(stage, false, false, "stage", err))
		return -1;
	return check_name(instance, instance_optional, true,
			  instance_optional ? "instance.name" : "instance",
			  err);
}

static int
check_endpoint(const Sluice__V1__Instance *inst, uint32_t *ip, uint16_t *port,
	       struct sl_api_error *err)
{
	struct in_addr a;
	char q[48];

	if (inst->address[0] == '\0') {
		sl_api_error_set(err, SLUICE__V1__ERROR__CODE__CODE_INVALID,
				 "instance.address", "required");
		return -1;
	}
	if (inet_pton(AF_INET, inst->address, &a) != 1) {
		sl_api_error_set(
		    err, SLUICE__V1__ERROR__CODE__CODE_INVALID,
		    "instance.address",
		    "must be a dotted-quad IPv4 address, got \"%s\"",
		    quoted(inst->address, q, sizeof(q)));
		return -1;
	}
	*ip = ntohl(a.s_addr);
	if (*ip == 0 || *ip == UINT32_MAX || (*ip >> 28) == 0xe) {
		sl_api_error_set(err, SLUICE__V1__ERROR__CODE__CODE_INVALID,
				 "instance.address",
				 "must be a unicast address, got %s",
				 inst->address);
		return -1;
	}
	if (inst->port == 0 || inst->port > 65535) {
		sl_api_error_set(err, SLUICE__V1__ERROR__CODE__CODE_INVALID,
				 "instance.port",
				 "must be 1..65535, got %" PRIu32, inst->port);
		return -1;
	}
	*port = (uint16_t)inst->port;
	return 0;
}

/* Offset of the first byte of @s (@n bytes) that is not well-formed UTF-8
 * (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF),
 * or @n when it all is. */
static size_t
utf8_bad_offset(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		unsigned char lo = 0x80, hi = 0xbf;
		size_t len;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			if (c == 0xe0)
				lo = 0xa0; /* overlong */
			else if (c == 0xed)
				hi = 0x9f; /* surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			if (c == 0xf0)
				lo = 0x90; /* overlong */
			else if (c == 0xf4)
				hi = 0x8f; /* above U+10FFFF */
		} else {
			return i;
		}
		if (n - i < len || s[i + 1] < lo || s[i + 1] > hi)
			return i;
		for (size_t k = 2; k < len; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return i;
		i += len;
	}
	return n;
}

#define SL_API_PATTERN_MAX 511 /* bytes of a guard rule's pattern */

/* EditGuard: the guard's name, then the pattern (non-empty, well-formed
 * UTF-8, at most SL_API_PATTERN_MAX bytes). */
static int
check_edit_guard(const Sluice__V1__EditGuard *eg, struct sl_api_error *err)
{
	size_t n = strlen(eg->pattern), bad;

	if (check_name(eg->guard, false, false, "guard", err))
		return -1;
	if (n == 0) {
		sl_api_error_set(err, SLUICE__V1__ERROR__CODE__CODE_INVALID,
				 "pattern", "required");
		return -1;
	}
	if (n > SL_API_PATTERN_MAX) {
		sl_api_error_set(err, SLUICE__V1__ERROR__CODE__CODE_INVALID,
				 "pattern", "must be at most %d bytes, got %zu",
				 SL_API_PATTERN_MAX, n);
		return -1;
	}
	bad = utf8_bad_offset((const unsigned char *)eg->pattern, n);
	if (bad < n) {
		sl_api_error_set(
		    err, SLUICE__V1__ERROR__CODE__CODE_INVALID, "pattern",
		    "must be valid UTF-8, got byte 0x%02x at "
		    "offset %zu",
		    (unsigned int)(unsigned char)eg->pattern[bad], bad);
		return -1;
	}
	return 0;
}

/* -------------------------------------------------------------- dispatch */

/* Everything one answer points to lives here or in the arena. */
struct sl_api_answer {
	Sluice__V1__Response resp;
	Sluice__V1__Error error;
	Sluice__V1__ApplyPipelineResult apply;
	Sluice__V1__PipelineList pipelines;
	Sluice__V1__InstanceList instances;
	Sluice__V1__InstanceResult instance_result;
	Sluice__V1__InstanceState instance;
	Sluice__V1__Stats stats;
	Sluice__V1__Version version;
	Sluice__V1__GuardList guards;
};

static void
answer_init(struct sl_api_answer *a)
{
	static const Sluice__V1__Response resp = SLUICE__V1__RESPONSE__INIT;
	static const Sluice__V1__Error error = SLUICE__V1__ERROR__INIT;
	static const Sluice__V1__ApplyPipelineResult apply =
	    SLUICE__V1__APPLY_PIPELINE_RESULT__INIT;
	static const Sluice__V1__PipelineList pipelines =
	    SLUICE__V1__PIPELINE_LIST__INIT;
	static const Sluice__V1__InstanceList instances =
	    SLUICE__V1__INSTANCE_LIST__INIT;
	static const Sluice__V1__InstanceResult instance_result =
	    SLUICE__V1__INSTANCE_RESULT__INIT;
	static const Sluice__V1__InstanceState instance =
	    SLUICE__V1__INSTANCE_STATE__INIT;
	static const Sluice__V1__Stats stats = SLUICE__V1__STATS__INIT;
	static const Sluice__V1__Version version = SLUICE__V1__VERSION__INIT;
	static const Sluice__V1__GuardList guards =
	    SLUICE__V1__GUARD_LIST__INIT;

	a->resp = resp;
	a->error = error;
	a->apply = apply;
	a->pipelines = pipelines;
	a->instances = instances;
	a->instance_result = instance_result;
	a->instance = instance;
	a->stats = stats;
	a->version = version;
	a->guards = guards;
}

static int
unsupported(struct sl_api_error *err)
{
	sl_api_error_set(err, SLUICE__V1__ERROR__CODE__CODE_UNAVAILABLE, NULL,
			 "not supported by this server");
	return -1;
}

typedef int (*sl_api_instance_op)(void *ctx,
				  const struct sl_api_instance_ref *ref,
				  Sluice__V1__InstanceState *out,
				  struct sl_api_arena *arena,
				  struct sl_api_error *err);

/* Add, remove, drain: check, call, answer with the instance's state. */
static int
do_instance(struct sl_api *api, sl_api_instance_op op, const char *pipeline,
	    const char *stage, const char *instance,
	    const Sluice__V1__Instance *endpoint, struct sl_api_answer *a,
	    struct sl_api_arena *arena, struct sl_api_error *err)
{
	struct sl_api_instance_ref ref = {pipeline, stage, instance, 0, 0};

	if (endpoint != NULL &&
	    check_endpoint(endpoint, &ref.ip, &ref.port, err))
		return -1;
	if (check_ref(pipeline, stage, instance, endpoint != NULL, err))
		return -1;
	if (op == NULL)
		return unsupported(err);
	if (op(api->ctx, &ref, &a->instance, arena, err) != 0)
		return 1;
	a->instance_result.instance = &a->instance;
	a->resp.result_case = SLUICE__V1__RESPONSE__RESULT_INSTANCE;
	a->resp.instance = &a->instance_result;
	return 0;
}

/* The body of one authenticated request. Returns 0 with a->resp's result
 * set, -1 when the server refused it (err filled), 1 when the backend did. */
static int
dispatch_body(struct sl_api *api, const Sluice__V1__Request *req,
	      struct sl_api_answer *a, struct sl_api_arena *arena,
	      struct sl_api_error *err)
{
	const struct sl_api_backend_ops *ops = api->ops;
	char q[48];

	switch (req->body_case) {
	case SLUICE__V1__REQUEST__BODY_APPLY_PIPELINE: {
		const Sluice__V1__ApplyPipeline *ap = req->apply_pipeline;
		const char *name = ap->name[0] ? ap->name : "apply";
		size_t len = strlen(ap->yaml);

		if (strlen(name) > 255 || strpbrk(name, "\n\r") != NULL) {
			sl_api_error_set(
			    err, SLUICE__V1__ERROR__CODE__CODE_INVALID, "name",
			    "must be one line of at most 255 "
			    "characters, got \"%s\"",
			    quoted(name, q, sizeof(q)));
			return -1;
		}
		if (len == 0) {
			sl_api_error_set(
			    err, SLUICE__V1__ERROR__CODE__CODE_INVALID, "yaml",
			    "%s: empty pipeline file", name);
			return -1;
		}
		if (ops->apply == NULL)
			return unsupported(err);
		if (ops->apply(api->ctx, ap->yaml, len, name, ap->dry_run,
			       &a->apply, arena, err) != 0)
			return 1;
		a->resp.result_case =
		    SLUICE__V1__RESPONSE__RESULT_APPLY_PIPELINE;
		a->resp.apply_pipeline = &a->apply;
		return 0;
	}
	case SLUICE__V1__REQUEST__BODY_GET_PIPELINE:
		if (check_name(req->get_pipeline->name, true, false, "name",
			       err))
			return -1;
		if (ops->get_pipelines == NULL)
			return unsupported(err);
		if (ops->get_pipelines(api->ctx, req->get_pipeline->name,
				       &a->pipelines, arena, err) != 0)
			return 1;
		a->resp.result_case = SLUICE__V1__RESPONSE__RESULT_PIPELINES;
		a->resp.pipelines = &a->pipelines;
		return 0;
	case SLUICE__V1__REQUEST__BODY_LIST_INSTANCES: {
		const Sluice__V1__ListInstances *li = req->list_instances;

		if (check_name(li->pipeline, true, false, "pipeline", err) ||
		    check_name(li->stage, true, false, "stage", err))
			return -1;
		if (ops->list_instances == NULL)
			return unsupported(err);
		if (ops->list_instances(api->ctx, li->pipeline, li->stage,
					&a->instances, arena, err) != 0)
			return 1;
		a->resp.result_case = SLUICE__V1__RESPONSE__RESULT_INSTANCES;
		a->resp.instances = &a->instances;
		return 0;
	}
	case SLUICE__V1__REQUEST__BODY_ADD_INSTANCE: {
		const Sluice__V1__AddInstance *ai = req->add_instance;

		if (ai->instance == NULL) {
			if (check_ref(ai->pipeline, ai->stage, "", true, err))
				return -1;
			sl_api_error_set(err,
					 SLUICE__V1__ERROR__CODE__CODE_INVALID,
					 "instance", "required");
			return -1;
		}
		return do_instance(api, ops->add_instance, ai->pipeline,
				   ai->stage, ai->instance->name, ai->instance,
				   a, arena, err);
	}
	case SLUICE__V1__REQUEST__BODY_REMOVE_INSTANCE:
		return do_instance(
		    api, ops->remove_instance, req->remove_instance->pipeline,
		    req->remove_instance->stage, req->remove_instance->instance,
		    NULL, a, arena, err);
	case SLUICE__V1__REQUEST__BODY_DRAIN_INSTANCE:
		return do_instance(
		    api, ops->drain_instance, req->drain_instance->pipeline,
		    req->drain_instance->stage, req->drain_instance->instance,
		    NULL, a, arena, err);
	case SLUICE__V1__REQUEST__BODY_GET_STATS:
		if (ops->get_stats == NULL)
			return unsupported(err);
		if (ops->get_stats(api->ctx, req->get_stats->reset, &a->stats,
				   arena, err) != 0)
			return 1;
		a->resp.result_case = SLUICE__V1__RESPONSE__RESULT_STATS;
		a->resp.stats = &a->stats;
		return 0;
	case SLUICE__V1__REQUEST__BODY_GET_VERSION:
		a->version.version = api->version;
		a->version.wire_version = 1;
		a->version.generation =
		    ops->generation ? ops->generation(api->ctx) : 0;
		a->version.uptime_ns = mono_ns() - api->start_ns;
		a->resp.result_case = SLUICE__V1__RESPONSE__RESULT_VERSION;
		a->resp.version = &a->version;
		return 0;
	case SLUICE__V1__REQUEST__BODY_LIST_GUARDS:
		if (ops->list_guards == NULL)
			return unsupported(err);
		if (ops->list_guards(api->ctx, &a->guards, arena, err) != 0)
			return 1;
		a->resp.result_case = SLUICE__V1__RESPONSE__RESULT_GUARDS;
		a->resp.guards = &a->guards;
		return 0;
	case SLUICE__V1__REQUEST__BODY_EDIT_GUARD: {
		const Sluice__V1__EditGuard *eg = req->edit_guard;

		if (check_edit_guard(eg, err))
			return -1;
		if (ops->edit_guard == NULL)
			return unsupported(err);
		if (ops->edit_guard(api->ctx, eg->guard, eg->remove, eg->regex,
				    eg->pattern, &a->guards, arena, err) != 0)
			return 1;
		a->resp.result_case = SLUICE__V1__RESPONSE__RESULT_GUARDS;
		a->resp.guards = &a->guards;
		return 0;
	}
	default:
		api->stats.no_body++;
		sl_api_error_set(err, SLUICE__V1__ERROR__CODE__CODE_BAD_REQUEST,
				 NULL,
				 "request has no body (or a kind this server "
				 "does not know)");
		return -1;
	}
}

/* Pack a->resp (with @err when err->code is set) into a framed buffer. */
static void
pack_reply(struct sl_api *api, struct sl_api_answer *a,
	   const struct sl_api_error *err, uint8_t **reply, size_t *reply_len)
{
	size_t len;
	uint8_t *buf;

	if (err->code != 0) {
		a->resp.result_case = SLUICE__V1__RESPONSE__RESULT__NOT_SET;
		a->error.code = (Sluice__V1__Error__Code)err->code;
		a->error.message = (char *)err->message;
		a->error.field = (char *)err->field;
		a->resp.error = &a->error;
		api->stats.errors++;
		if ((unsigned int)err->code <
		    sizeof(api->stats.by_code) / sizeof(api->stats.by_code[0]))
			api->stats.by_code[err->code]++;
	}
	len = sluice__v1__response__get_packed_size(&a->resp);
	if (len > SL_FRAME_MAX && err->code == 0) {
		struct sl_api_error big;

		sl_api_error_set(&big, SLUICE__V1__ERROR__CODE__CODE_INTERNAL,
				 NULL, "response of %zu bytes exceeds a frame",
				 len);
		pack_reply(api, a, &big, reply, reply_len);
		return;
	}
	buf = malloc(SL_FRAME_HDR + len);
	*reply = buf;
	*reply_len = 0;
	if (buf == NULL)
		return;
	sl_frame_put_header(buf, (uint32_t)len);
	sluice__v1__response__pack(&a->resp, buf + SL_FRAME_HDR);
	*reply_len = SL_FRAME_HDR + len;
}

enum sl_api_after
sl_api_dispatch(struct sl_api *api, const uint8_t *frame, size_t len,
		bool trusted, uint8_t **reply, size_t *reply_len)
{
	struct sl_api_error err = {0};
	struct sl_api_answer a;
	struct sl_api_arena arena = {NULL};
	Sluice__V1__Request *req;
	enum sl_api_after after = SL_API_KEEP;
	int rc;

	answer_init(&a);
	*reply = NULL;
	*reply_len = 0;
	req = sluice__v1__request__unpack(NULL, len, frame);
	if (req == NULL) {
		api->stats.bad_frame++;
		sl_api_error_set(
		    &err, SLUICE__V1__ERROR__CODE__CODE_BAD_REQUEST, NULL,
		    "frame of %zu bytes is not a Request", len);
		after = SL_API_CLOSE;
		goto out;
	}
	api->stats.requests++;
	a.resp.id = req->id;
	if (!trusted && !token_equal(api, req->token)) {
		api->stats.unauthenticated++;
		sl_api_error_set(
		    &err, SLUICE__V1__ERROR__CODE__CODE_UNAUTHENTICATED,
		    "token", "%s token", req->token[0] ? "wrong" : "missing");
		after = SL_API_CLOSE;
		goto out;
	}
	rc = dispatch_body(api, req, &a, &arena, &err);
	if (rc < 0 && err.code == SLUICE__V1__ERROR__CODE__CODE_INVALID)
		api->stats.invalid++;
	if (rc > 0) {
		api->stats.backend_errors++;
		if (err.code == 0) {
			err.code = SLUICE__V1__ERROR__CODE__CODE_INTERNAL;
			if (err.message[0] == '\0')
				snprintf(err.message, sizeof(err.message),
					 "backend failed");
		}
	}
out:
	pack_reply(api, &a, &err, reply, reply_len);
	if (*reply != NULL)
		api->stats.responses++;
	if (req != NULL)
		sluice__v1__request__free_unpacked(req, NULL);
	while (arena.head != NULL) {
		struct sl_api_chunk *next = arena.head->next;

		free(arena.head);
		arena.head = next;
	}
	return *reply == NULL ? SL_API_CLOSE : after;
}

void
sl_api_frame_error(struct sl_api *api, int rc, uint32_t frame_len,
		   uint8_t **reply, size_t *reply_len)
{
	struct sl_api_error err = {0};
	struct sl_api_answer a;

	answer_init(&a);
	if (rc == -EMSGSIZE) {
		api->stats.frame_too_large++;
		sl_api_error_set(
		    &err, SLUICE__V1__ERROR__CODE__CODE_BAD_REQUEST, NULL,
		    "frame of %" PRIu32 " bytes exceeds the limit "
		    "of %u",
		    frame_len, SL_FRAME_MAX);
	} else if (rc == -EBADMSG) {
		api->stats.frame_empty++;
		sl_api_error_set(&err,
				 SLUICE__V1__ERROR__CODE__CODE_BAD_REQUEST,
				 NULL, "frame of length 0");
	} else {
		sl_api_error_set(&err, SLUICE__V1__ERROR__CODE__CODE_INTERNAL,
				 NULL, "cannot read frame: %s", strerror(-rc));
	}
	pack_reply(api, &a, &err, reply, reply_len);
	if (*reply != NULL)
		api->stats.responses++;
}

/* ------------------------------------------------------------ connections */

static void
conn_reply(struct sl_api_conn *ac, struct sl_conn *conn, uint8_t *reply,
	   size_t reply_len)
{
	if (reply == NULL || sl_conn_send(conn, reply, reply_len) != 0)
		ac->api->stats.send_failed++;
	free(reply);
}

static void
api_on_data(struct sl_conn *conn, const uint8_t *buf, size_t len, void *ctx)
{
	struct sl_api_conn *ac = ctx;
	struct sl_api *api = ac->api;
	enum sl_api_after after;
	struct sl_frame fr;
	uint8_t *reply;
	size_t used, reply_len;
	int rc;

	while (len > 0 && !ac->closing) {
		rc = sl_frame_decode(&ac->dec, buf, len, &used, &fr);
		buf += used;
		len -= used;
		if (rc == 0)
			break;
		if (rc < 0) {
			sl_api_frame_error(api, rc, ac->dec.want, &reply,
					   &reply_len);
			conn_reply(ac, conn, reply, reply_len);
			ac->closing = true;
			sl_conn_close(conn);
			break;
		}
		sl_conn_touch(conn);
		after = sl_api_dispatch(api, fr.data, fr.len, ac->trusted,
					&reply, &reply_len);
		conn_reply(ac, conn, reply, reply_len);
		if (after == SL_API_CLOSE) {
			ac->closing = true;
			sl_conn_close(conn);
		}
	}
	/* Let go of a big frame's buffer now rather than at the next one. */
	if (!ac->closing)
		sl_frame_decode(&ac->dec, NULL, 0, &used, &fr);
}

static void
api_on_close(struct sl_conn *conn, int reason, void *ctx)
{
	struct sl_api_conn *ac = ctx;

	(void)conn;
	if (reason == SL_CONN_CLOSE_IDLE)
		ac->api->stats.idle_closed++;
	else if (!ac->closing && sl_frame_buffered(&ac->dec) > 0 &&
		 (reason == SL_CONN_CLOSE_PEER ||
		  reason == SL_CONN_CLOSE_ERROR))
		ac->api->stats.truncated++;
	sl_frame_decoder_fini(&ac->dec);
	free(ac);
}

static const struct sl_conn_handler api_handler = {
    .on_data = api_on_data,
    .on_close = api_on_close,
};

static const struct sl_conn_handler *
api_on_accept(struct sl_conn *conn, void *ctx)
{
	struct sl_api_listener *l = ctx;
	struct sl_api *api = l->api;
	struct sl_api_conn *ac = calloc(1, sizeof(*ac));

	if (ac == NULL)
		return NULL;
	ac->api = api;
	ac->trusted = l->trusted;
	sl_frame_decoder_init(&ac->dec, SL_FRAME_MAX);
	sl_conn_set_ctx(conn, ac);
	api->stats.connections++;
	if (l->trusted) {
		struct ucred cred;
		socklen_t cl = sizeof(cred);

		if (getsockopt(sl_conn_fd(conn), SOL_SOCKET, SO_PEERCRED, &cred,
			       &cl) == 0)
			api_log(api, "api: unix client pid %d uid %u gid %u",
				(int)cred.pid, (unsigned int)cred.uid,
				(unsigned int)cred.gid);
	} else {
		struct sockaddr_in sin;
		socklen_t sl = sizeof(sin);
		char ip[INET_ADDRSTRLEN] = "?";

		if (getpeername(sl_conn_fd(conn), (struct sockaddr *)&sin,
				&sl) == 0)
			inet_ntop(AF_INET, &sin.sin_addr, ip, sizeof(ip));
		api_log(api, "api: tcp client %s:%u", ip,
			(unsigned int)ntohs(sin.sin_port));
	}
	return &api_handler;
}

/* -------------------------------------------------------------- listening */

/* Remove a socket file nobody accepts on; refuse anything else. */
static int
clear_unix_path(const char *path, const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	close(fd);
	if (rc == 0)
		return -EADDRINUSE;
	if (errno != ECONNREFUSED && errno != ENOENT)
		return -errno;
	if (unlink(path) != 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int
listen_unix(struct sl_api *api, const char *path, uint32_t mode)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char dir[sizeof(sun.sun_path)];
	struct stat st;
	mode_t old;
	int fd, rc;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	memcpy(dir, path, strlen(path) + 1);
	if (stat(dirname(dir), &st) != 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	rc = clear_unix_path(path, &sun);
	if (rc < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* No moment when others could connect: bind under a tight umask,
	 * then set the mode asked for. */
	old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc != 0 || chmod(path, mode) != 0 || listen(fd, 128) != 0 ||
	    lstat(path, &st) != 0) {
		rc = -errno;
		close(fd);
		unlink(path);
		return rc;
	}
	api->unix_dev = st.st_dev;
	api->unix_ino = st.st_ino;
	api->unix_path = strdup(path);
	if (api->unix_path == NULL) {
		close(fd);
		unlink(path);
		return -ENOMEM;
	}
	rc = sl_loop_listen(api->loop, fd, api_on_accept, &api->unix_l);
	if (rc < 0)
		return rc;
	api_log(api, "api: listening on %s (mode %04o)", path,
		(unsigned int)mode);
	return 0;
}

static int
listen_tcp(struct sl_api *api, uint16_t port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sin);
	int one = 1;
	int fd, rc;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(fd, 128) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &sl) != 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	api->tcp_port = ntohs(sin.sin_port);
	rc = sl_loop_listen(api->loop, fd, api_on_accept, &api->tcp_l);
	if (rc < 0)
		return rc;
	api_log(api, "api: listening on 127.0.0.1:%u (token required)",
		(unsigned int)api->tcp_port);
	return 0;
}

struct sl_api *
sl_api_create(struct sl_loop *loop, const struct sl_api_params *p,
	      const struct sl_api_backend_ops *ops, void *ctx)
{
	struct sl_api *api;
	int rc = 0;

	if (ops == NULL ||
	    (loop == NULL && p != NULL && (p->unix_path || p->tcp)) ||
	    (p != NULL && p->tcp &&
	     (p->token == NULL || p->token[0] == '\0')) ||
	    (p != NULL && p->token != NULL &&
	     strlen(p->token) >= SL_API_TOKEN_MAX)) {
		errno = EINVAL;
		return NULL;
	}
	api = calloc(1, sizeof(*api));
	if (api == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	api->loop = loop;
	api->ops = ops;
	api->ctx = ctx;
	api->unix_l.api = api;
	api->unix_l.trusted = true;
	api->tcp_l.api = api;
	api->start_ns = mono_ns();
	snprintf(api->version, sizeof(api->version), "%s",
		 p && p->version ? p->version : "unknown");
	if (p != NULL) {
		api->log = p->log;
		api->log_ctx = p->log_ctx;
		if (p->token != NULL) {
			api->token_len = strlen(p->token);
			memcpy(api->token, p->token, api->token_len);
		}
		if (p->unix_path != NULL)
			rc = listen_unix(api, p->unix_path,
					 p->unix_mode ? p->unix_mode : 0600);
		if (rc == 0 && p->tcp)
			rc = listen_tcp(api, p->tcp_port);
	}
	if (rc < 0) {
		sl_api_destroy(api);
		errno = -rc;
		return NULL;
	}
	return api;
}

void
sl_api_destroy(struct sl_api *api)
{
	struct stat st;

	if (api == NULL)
		return;
	if (api->unix_path != NULL && lstat(api->unix_path, &st) == 0 &&
	    st.st_dev == api->unix_dev && st.st_ino == api->unix_ino)
		unlink(api->unix_path);
	free(api->unix_path);
	sl_metrics_http_destroy(api->metrics);
	memset(api->token, 0, sizeof(api->token));
	free(api);
}

uint16_t
sl_api_tcp_port(const struct sl_api *api)
{
	return api->tcp_port;
}

struct sl_api_stats
sl_api_stats(const struct sl_api *api)
{
	return api->stats;
}

/* ---------------------------------------------------------------- metrics */

static const char *
kind_label(Sluice__V1__StageKind kind)
{
	switch (kind) {
	case SLUICE__V1__STAGE_KIND__STAGE_KIND_COUNT:
		return "count";
	case SLUICE__V1__STAGE_KIND__STAGE_KIND_SUM:
		return "sum";
	case SLUICE__V1__STAGE_KIND__STAGE_KIND_TOPK:
		return "topk";
	case SLUICE__V1__STAGE_KIND__STAGE_KIND_CONCAT:
		return "concat";
	default:
		return "engine";
	}
}

static const char *const api_stat_names[] = {
#define SL_API_STAT_NAME(name, help) "sluice_api_" #name,
    SL_API_STATS(SL_API_STAT_NAME)
#undef SL_API_STAT_NAME
};

static const char *const api_stat_help[] = {
#define SL_API_STAT_HELP(name, help) "Control API: " help ".",
    SL_API_STATS(SL_API_STAT_HELP)
#undef SL_API_STAT_HELP
};

static const size_t api_stat_offs[] = {
#define SL_API_STAT_OFF(name, help) offsetof(struct sl_api_stats, name),
    SL_API_STATS(SL_API_STAT_OFF)
#undef SL_API_STAT_OFF
};

#define SL_API_N_STATS (sizeof(api_stat_names) / sizeof(api_stat_names[0]))
#define SL_API_N_CODES (sizeof(code_names) / sizeof(code_names[0]))

int
sl_api_metrics_snapshot(struct sl_api *api, const Sluice__V1__Stats *st,
			struct sl_api_arena *arena,
			struct sl_metrics_snapshot *snap)
{
	struct sl_metrics_counter *ctr;
	struct sl_loop_stats *loop_stats;
	size_t i, n;

	memset(snap, 0, sizeof(*snap));
	if (st != NULL) {
		struct sl_metrics_drop *d;
		struct sl_metrics_stage *s;
		struct sl_metrics_instance *in;
		struct sl_metrics_operator *op;

		snap->generation = st->generation;
		snap->rx_packets = st->rx_packets;
		snap->tx_packets = st->tx_packets;
		snap->forwarded = st->forwarded;
		d = sl_api_new(arena, struct sl_metrics_drop, st->n_drops);
		s = sl_api_new(arena, struct sl_metrics_stage, st->n_stages);
		in = sl_api_new(arena, struct sl_metrics_instance,
				st->n_instances);
		op = sl_api_new(arena, struct sl_metrics_operator,
				st->n_operators);
		if (!d || !s || !in || !op)
			return -ENOMEM;
		for (i = 0; i < st->n_drops; i++) {
			d[i].reason = st->drops[i]->reason;
			d[i].count = st->drops[i]->count;
		}
		for (i = 0; i < st->n_stages; i++) {
			const Sluice__V1__StageStats *x = st->stages[i];

			s[i] = (struct sl_metrics_stage){
			    .pipeline = x->pipeline,
			    .stage = x->stage,
			    .fragments = x->fragments,
			    .tokens = x->tokens,
			    .bytes = x->bytes,
			    .streams_started = x->streams_started,
			    .streams_ended = x->streams_ended,
			    .streams_aborted = x->streams_aborted,
			};
		}
		for (i = 0; i < st->n_instances; i++) {
			const Sluice__V1__InstanceStats *x = st->instances[i];

			in[i] = (struct sl_metrics_instance){
			    .pipeline = x->pipeline,
			    .stage = x->stage,
			    .instance = x->instance,
			    .fragments = x->fragments,
			    .bytes = x->bytes,
			    .streams_routed = x->streams_routed,
			    .streams_active = x->streams,
			    .draining = x->draining,
			};
		}
		for (i = 0; i < st->n_operators; i++) {
			const Sluice__V1__OperatorStats *x = st->operators[i];

			op[i] = (struct sl_metrics_operator){
			    .pipeline = x->pipeline,
			    .stage = x->stage,
			    .kind = kind_label(x->kind),
			    .groups_active = x->groups_active,
			    .groups_created = x->groups_created,
			    .groups_completed = x->groups_completed,
			    .groups_aborted = x->groups_aborted,
			    .groups_full = x->groups_full,
			    .group_overflow = x->group_overflow,
			    .count_mismatch = x->count_mismatch,
			    .groups_expired = x->groups_expired,
			    .late_inputs = x->late_inputs,
			    .not_numeric = x->not_numeric,
			};
		}
		snap->drops = d;
		snap->n_drops = st->n_drops;
		snap->stages = s;
		snap->n_stages = st->n_stages;
		snap->instances = in;
		snap->n_instances = st->n_instances;
		snap->operators = op;
		snap->n_operators = st->n_operators;
		if (st->flows != NULL) {
			snap->flows.active = st->flows->active;
			snap->flows.capacity = st->flows->capacity;
			snap->flows.created = st->flows->created;
			snap->flows.ended = st->flows->ended;
			snap->flows.expired = st->flows->expired;
		}
		if (st->mbufs != NULL) {
			snap->mbufs.in_use = st->mbufs->in_use;
			snap->mbufs.capacity = st->mbufs->capacity;
		}
		if (st->latency != NULL) {
			const Sluice__V1__LatencyHistogram *h = st->latency;

			snap->latency.n_buckets = h->n_upper_ns < h->n_count
						      ? h->n_upper_ns
						      : h->n_count;
			snap->latency.upper_ns = h->upper_ns;
			snap->latency.count = h->count;
			snap->latency.samples = h->samples;
			snap->latency.sum_ns = h->sum_ns;
		}
	} else if (api->ops->generation != NULL) {
		snap->generation = api->ops->generation(api->ctx);
	}

	if (api->loop != NULL) {
		loop_stats = sl_api_new(arena, struct sl_loop_stats, 1);
		if (loop_stats == NULL)
			return -ENOMEM;
		*loop_stats = sl_loop_stats(api->loop);
		snap->loop = loop_stats;
	}
	n = SL_API_N_STATS + SL_API_N_CODES;
	ctr = sl_api_new(arena, struct sl_metrics_counter, n);
	if (ctr == NULL)
		return -ENOMEM;
	for (i = 0; i < SL_API_N_STATS; i++) {
		ctr[i].name = api_stat_names[i];
		ctr[i].help = api_stat_help[i];
		ctr[i].value = *(const uint64_t *)((const char *)&api->stats +
						   api_stat_offs[i]);
	}
	for (i = 0; i < SL_API_N_CODES; i++) {
		struct sl_metrics_counter *c = &ctr[SL_API_N_STATS + i];

		c->name = "sluice_api_errors_by_code";
		c->help = "Control API: error replies by Error.Code.";
		c->label = "code";
		c->label_value = code_names[i];
		c->value = api->stats.by_code[i];
	}
	snap->counters = ctr;
	snap->n_counters = n;
	return 0;
}

/* One scrape: the backend's stats and everything they point to live in
 * an arena released after rendering. */
static int
metrics_fill(void *ctx, struct sl_metrics_snapshot *snap, void **token)
{
	struct sl_api *api = ctx;
	struct sl_api_arena *arena = sl_api_arena_create();
	Sluice__V1__Stats *st = NULL;
	struct sl_api_error err = {0};
	int rc;

	if (arena == NULL)
		return -ENOMEM;
	*token = arena;
	if (api->ops->get_stats != NULL) {
		st = sl_api_new(arena, Sluice__V1__Stats, 1);
		if (st == NULL)
			return -ENOMEM;
		sluice__v1__stats__init(st);
		if (api->ops->get_stats(api->ctx, false, st, arena, &err) !=
		    0) {
			api_log(api, "api: metrics: get_stats failed: %s",
				err.message);
			return -EAGAIN;
		}
	}
	rc = sl_api_metrics_snapshot(api, st, arena, snap);
	return rc;
}

static void
metrics_release(void *ctx, void *token)
{
	(void)ctx;
	sl_api_arena_destroy(token);
}

int
sl_api_serve_metrics(struct sl_api *api, int fd)
{
	struct sl_metrics_source src = {metrics_fill, metrics_release, api};

	if (api->loop == NULL || api->metrics != NULL) {
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	api->metrics = sl_metrics_http_listen(api->loop, fd, &src);
	return api->metrics ? 0 : -errno;
}
