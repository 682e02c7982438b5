/* SPDX-License-Identifier: MIT */
/*
 * sl_api.c - the control API server (sl_api.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
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
	"UNSPECIFIED",       "BAD_REQUEST", "INVALID",
	"NOT_FOUND",         "EXISTS",      "LIMIT",
	"UNAUTHENTICATED",   "UNAVAILABLE", "INTERNAL",
	"PERMISSION_DENIED",
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
	enum sl_api_transport transport;
	struct sl_listener *loop_listener; /* for its counters */
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
	uid_t owner_uid; /* euid at creation: an admin on the unix socket */
	bool admin_gid_set;
	gid_t admin_gid;
	size_t token_len;
	char token[SL_API_TOKEN_MAX];
	size_t ro_token_len;
	char ro_token[SL_API_TOKEN_MAX];
	struct sl_listen_params metrics_limits;
	int audit_fd; /* -1: none */
	/* Failed authentications: tokens left (scaled by 1000) and when
	 * the bucket was last refilled. */
	uint64_t auth_bucket_milli;
	uint64_t auth_refill_ns;
	char version[64];
	void (*log)(const char *line, void *log_ctx);
	void *log_ctx;
	uint64_t start_ns;
	struct sl_api_stats stats;
	struct sl_metrics_http *metrics;
};

struct sl_api_conn {
	struct sl_api *api;
	struct sl_api_peer peer;
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
	char line[1024];
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
token_equal(const char *want, size_t want_len, const char *given)
{
	size_t n = strnlen(given, SL_API_TOKEN_MAX);
	unsigned char diff = n != want_len || want_len == 0;

	for (size_t i = 0; i < want_len; i++)
		diff |= (unsigned char)want[i] ^
			(unsigned char)(i < n ? given[i] : 0);
	return diff == 0;
}

/* The role a token gives; both are compared whatever the first says. */
static enum sl_api_role
token_role(const struct sl_api *api, const char *given)
{
	bool admin = token_equal(api->token, api->token_len, given);
	bool ro = token_equal(api->ro_token, api->ro_token_len, given);

	return admin ? SL_API_ROLE_ADMIN
	       : ro  ? SL_API_ROLE_READ
		     : SL_API_ROLE_NONE;
}

/* Refill the failure bucket; true when it is empty (throttled). */
static bool
auth_throttled(struct sl_api *api)
{
	uint64_t now = mono_ns();
	uint64_t cap = (uint64_t)SL_API_AUTH_FAIL_BURST * 1000;
	uint64_t add = (now - api->auth_refill_ns) / 1000000u *
		       SL_API_AUTH_FAIL_PER_S; /* milli-tokens per ms */

	if (add > 0) {
		api->auth_bucket_milli = api->auth_bucket_milli + add > cap
						 ? cap
						 : api->auth_bucket_milli + add;
		api->auth_refill_ns = now;
	}
	return api->auth_bucket_milli < 1000;
}

static void
auth_failed(struct sl_api *api)
{
	api->auth_bucket_milli = api->auth_bucket_milli >= 1000
					 ? api->auth_bucket_milli - 1000
					 : 0;
}

const char *
sl_api_role_name(enum sl_api_role role)
{
	switch (role) {
	case SL_API_ROLE_READ:
		return "read";
	case SL_API_ROLE_ADMIN:
		return "admin";
	default:
		return "none";
	}
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

/* SetPolicy: names well formed, exactly one of stage and pool, a policy
 * this server knows (protobuf-c keeps an unknown enum value as is). */
static int
check_set_policy(const Sluice__V1__SetPolicy *sp, struct sl_api_error *err)
{
	if (check_name(sp->pipeline, false, false, "pipeline", err) ||
	    check_name(sp->stage, true, false, "stage", err) ||
	    check_name(sp->pool, true, false, "pool", err))
		return -1;
	if ((sp->stage[0] != '\0') == (sp->pool[0] != '\0')) {
		sl_api_error_set(err, SLUICE__V1__ERROR__CODE__CODE_INVALID,
				 "stage",
				 "name a stage or a pool (one of the "
				 "two)");
		return -1;
	}
	if ((unsigned int)sp->policy >
	    SLUICE__V1__BALANCE__BALANCE_PROMPT_AWARE) {
		sl_api_error_set(err, SLUICE__V1__ERROR__CODE__CODE_INVALID,
				 "policy", "not a policy (%d)",
				 (int)sp->policy);
		return -1;
	}
	return 0;
}

/* CostRows: at most SL_API_COST_ROWS_MAX rows, each with a stage and
 * the tokens of an answer within the model's range, a tenant row of a
 * tenant (the frame bounds the prompts). */
static int
check_cost_rows(const Sluice__V1__CostRows *cr, struct sl_api_error *err)
{
	if (cr->n_rows == 0 || cr->n_rows > SL_API_COST_ROWS_MAX) {
		sl_api_error_set(err, SLUICE__V1__ERROR__CODE__CODE_INVALID,
				 "rows", "must be 1..%d rows, got %zu",
				 SL_API_COST_ROWS_MAX, cr->n_rows);
		return -1;
	}
	for (size_t i = 0; i < cr->n_rows; i++) {
		const Sluice__V1__CostRow *r = cr->rows[i];
		char field[48];

		snprintf(field, sizeof(field), "rows[%zu]", i);
		if (r->stage == 0 || r->stage > SL_API_COST_STAGE_MAX) {
			sl_api_error_set(
				err, SLUICE__V1__ERROR__CODE__CODE_INVALID,
				field, "stage must be 1..%d, got %" PRIu32,
				SL_API_COST_STAGE_MAX, r->stage);
			return -1;
		}
		if (r->output_tokens > (1u << 20)) {
			sl_api_error_set(err,
					 SLUICE__V1__ERROR__CODE__CODE_INVALID,
					 field,
					 "output_tokens must be at most %u, "
					 "got %" PRIu64,
					 1u << 20, r->output_tokens);
			return -1;
		}
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
	Sluice__V1__CostModel cost_model;
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
	static const Sluice__V1__CostModel cost_model =
		SLUICE__V1__COST_MODEL__INIT;

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
	a->cost_model = cost_model;
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
			sl_api_error_set(err,
					 SLUICE__V1__ERROR__CODE__CODE_INVALID,
					 "name",
					 "must be one line of at most 255 "
					 "characters, got \"%s\"",
					 quoted(name, q, sizeof(q)));
			return -1;
		}
		if (len == 0) {
			sl_api_error_set(
				err, SLUICE__V1__ERROR__CODE__CODE_INVALID,
				"yaml", "%s: empty pipeline file", name);
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
		return do_instance(api, ops->remove_instance,
				   req->remove_instance->pipeline,
				   req->remove_instance->stage,
				   req->remove_instance->instance, NULL, a,
				   arena, err);
	case SLUICE__V1__REQUEST__BODY_DRAIN_INSTANCE:
		return do_instance(
			api, ops->drain_instance, req->drain_instance->pipeline,
			req->drain_instance->stage,
			req->drain_instance->instance, NULL, a, arena, err);
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
	case SLUICE__V1__REQUEST__BODY_COST_ROWS:
	case SLUICE__V1__REQUEST__BODY_COST_FIT:
	case SLUICE__V1__REQUEST__BODY_COST_TRAIN:
	case SLUICE__V1__REQUEST__BODY_GET_COST_MODEL:
		if (req->body_case == SLUICE__V1__REQUEST__BODY_COST_ROWS &&
		    check_cost_rows(req->cost_rows, err))
			return -1;
		if (ops->cost == NULL)
			return unsupported(err);
		if (ops->cost(api->ctx, req, &a->cost_model, arena, err) != 0)
			return 1;
		a->resp.result_case = SLUICE__V1__RESPONSE__RESULT_COST_MODEL;
		a->resp.cost_model = &a->cost_model;
		return 0;
	case SLUICE__V1__REQUEST__BODY_SET_POLICY: {
		const Sluice__V1__SetPolicy *sp = req->set_policy;

		if (check_set_policy(sp, err))
			return -1;
		if (ops->set_policy == NULL)
			return unsupported(err);
		if (ops->set_policy(api->ctx, sp, &a->pipelines, arena, err) !=
		    0)
			return 1;
		a->resp.result_case = SLUICE__V1__RESPONSE__RESULT_PIPELINES;
		a->resp.pipelines = &a->pipelines;
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

/* ------------------------------------------------------------ roles, audit */

enum sl_api_role
sl_api_op_role(const Sluice__V1__Request *req, const char **name)
{
	const char *n = NULL;
	enum sl_api_role role = SL_API_ROLE_READ;

	switch (req->body_case) {
	case SLUICE__V1__REQUEST__BODY_APPLY_PIPELINE:
		/* A dry run changes nothing, but compiles (and reads the
		 * files a config names) at the caller's request. */
		n = "apply";
		role = SL_API_ROLE_ADMIN;
		break;
	case SLUICE__V1__REQUEST__BODY_GET_PIPELINE:
		n = "get";
		break;
	case SLUICE__V1__REQUEST__BODY_LIST_INSTANCES:
		n = "instances";
		break;
	case SLUICE__V1__REQUEST__BODY_ADD_INSTANCE:
		n = "add";
		role = SL_API_ROLE_ADMIN;
		break;
	case SLUICE__V1__REQUEST__BODY_REMOVE_INSTANCE:
		n = "remove";
		role = SL_API_ROLE_ADMIN;
		break;
	case SLUICE__V1__REQUEST__BODY_DRAIN_INSTANCE:
		n = "drain";
		role = SL_API_ROLE_ADMIN;
		break;
	case SLUICE__V1__REQUEST__BODY_GET_STATS:
		/* Zeroing the counters changes what everyone else reads. */
		if (req->get_stats != NULL && req->get_stats->reset) {
			n = "stats --reset";
			role = SL_API_ROLE_ADMIN;
		} else {
			n = "stats";
		}
		break;
	case SLUICE__V1__REQUEST__BODY_GET_VERSION:
		n = "version";
		break;
	case SLUICE__V1__REQUEST__BODY_LIST_GUARDS:
		n = "guard list";
		break;
	case SLUICE__V1__REQUEST__BODY_EDIT_GUARD:
		n = req->edit_guard != NULL && req->edit_guard->remove
			    ? "guard remove"
			    : "guard add";
		role = SL_API_ROLE_ADMIN;
		break;
	case SLUICE__V1__REQUEST__BODY_SET_POLICY:
		n = "policy set";
		role = SL_API_ROLE_ADMIN;
		break;
	case SLUICE__V1__REQUEST__BODY_COST_ROWS:
		n = "cost add";
		role = SL_API_ROLE_ADMIN;
		break;
	case SLUICE__V1__REQUEST__BODY_COST_FIT:
		n = "cost fit";
		role = SL_API_ROLE_ADMIN;
		break;
	case SLUICE__V1__REQUEST__BODY_COST_TRAIN:
		n = "cost train";
		role = SL_API_ROLE_ADMIN;
		break;
	case SLUICE__V1__REQUEST__BODY_GET_COST_MODEL:
		n = "cost show";
		break;
	default:
		role = SL_API_ROLE_NONE;
		break;
	}
	if (name != NULL)
		*name = n;
	return role;
}

/* A line being built: appends stop quietly at the end of the buffer. */
struct sl_api_line {
	char buf[1536];
	size_t len;
};

static void __attribute__((format(printf, 2, 3)))
line_add(struct sl_api_line *l, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (l->len >= sizeof(l->buf) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(l->buf + l->len, sizeof(l->buf) - l->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		l->len += (size_t)n;
	if (l->len >= sizeof(l->buf))
		l->len = sizeof(l->buf) - 1;
}

/* key="value" with quotes, backslashes and control bytes escaped, cut at
 * 200 bytes: a request's strings never break the line apart. */
static void
line_quoted(struct sl_api_line *l, const char *key, const char *v)
{
	size_t i;

	line_add(l, " %s=\"", key);
	for (i = 0; v[i] != '\0' && i < 200; i++) {
		unsigned char ch = (unsigned char)v[i];

		if (ch == '"' || ch == '\\')
			line_add(l, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			line_add(l, "\\x%02x", ch);
		else
			line_add(l, "%c", ch);
	}
	line_add(l, "%s\"", v[i] != '\0' ? "..." : "");
}

static void
line_peer(struct sl_api_line *l, const struct sl_api_peer *peer)
{
	switch (peer->transport) {
	case SL_API_TRANSPORT_UNIX:
		if (peer->has_cred)
			line_add(l, " peer=unix pid=%d uid=%u gid=%u",
				 (int)peer->pid, (unsigned int)peer->uid,
				 (unsigned int)peer->gid);
		else
			line_add(l, " peer=unix");
		break;
	case SL_API_TRANSPORT_TCP:
		line_add(l, " peer=tcp addr=%s", peer->addr);
		break;
	default:
		line_add(l, " peer=direct");
		break;
	}
	line_add(l, " role=%s", sl_api_role_name(peer->role));
}

static void
line_args(struct sl_api_line *l, const Sluice__V1__Request *req)
{
	switch (req->body_case) {
	case SLUICE__V1__REQUEST__BODY_APPLY_PIPELINE:
		line_quoted(l, "name", req->apply_pipeline->name);
		line_add(l, " bytes=%zu dry_run=%s",
			 strlen(req->apply_pipeline->yaml),
			 req->apply_pipeline->dry_run ? "true" : "false");
		break;
	case SLUICE__V1__REQUEST__BODY_ADD_INSTANCE:
		line_quoted(l, "pipeline", req->add_instance->pipeline);
		line_quoted(l, "stage", req->add_instance->stage);
		if (req->add_instance->instance != NULL) {
			line_quoted(l, "instance",
				    req->add_instance->instance->name);
			line_quoted(l, "address",
				    req->add_instance->instance->address);
			line_add(l, " port=%" PRIu32,
				 req->add_instance->instance->port);
		}
		break;
	case SLUICE__V1__REQUEST__BODY_REMOVE_INSTANCE:
		line_quoted(l, "pipeline", req->remove_instance->pipeline);
		line_quoted(l, "stage", req->remove_instance->stage);
		line_quoted(l, "instance", req->remove_instance->instance);
		break;
	case SLUICE__V1__REQUEST__BODY_DRAIN_INSTANCE:
		line_quoted(l, "pipeline", req->drain_instance->pipeline);
		line_quoted(l, "stage", req->drain_instance->stage);
		line_quoted(l, "instance", req->drain_instance->instance);
		break;
	case SLUICE__V1__REQUEST__BODY_EDIT_GUARD:
		line_quoted(l, "guard", req->edit_guard->guard);
		line_add(l, " kind=%s",
			 req->edit_guard->regex ? "regex" : "literal");
		line_quoted(l, "pattern", req->edit_guard->pattern);
		break;
	case SLUICE__V1__REQUEST__BODY_COST_ROWS:
		line_add(l, " public=%s rows=%zu",
			 req->cost_rows->public_ ? "true" : "false",
			 req->cost_rows->n_rows);
		break;
	case SLUICE__V1__REQUEST__BODY_SET_POLICY:
		line_quoted(l, "pipeline", req->set_policy->pipeline);
		line_quoted(l, "stage", req->set_policy->stage);
		line_quoted(l, "pool", req->set_policy->pool);
		line_add(l, " policy=%d", (int)req->set_policy->policy);
		if (req->set_policy->load_bound != 0)
			line_add(l, " load_bound=%g",
				 req->set_policy->load_bound);
		if (req->set_policy->warm_prefixes != 0)
			line_add(l, " warm_prefixes=%u",
				 req->set_policy->warm_prefixes);
		break;
	default:
		break;
	}
}

/* One line per change asked for: to the log, and appended to the audit
 * file with a UTC timestamp in one write(2), so concurrent appenders never
 * interleave inside a line. */
static void
audit(struct sl_api *api, const struct sl_api_peer *peer,
      const Sluice__V1__Request *req, const char *op,
      const struct sl_api_error *err, const struct sl_api_answer *a)
{
	struct sl_api_line l = {.len = 0};
	char stamp[64];
	struct timespec ts;
	struct tm tm;

	line_add(&l, "audit:");
	line_peer(&l, peer);
	line_add(&l, " op=\"%s\"", op);
	line_args(&l, req);
	if (err->code != 0) {
		line_add(&l, " result=%s", sl_api_code_name(err->code));
		if (err->field[0] != '\0')
			line_quoted(&l, "field", err->field);
		line_quoted(&l, "message", err->message);
	} else {
		line_add(&l, " result=ok");
		if (a->resp.result_case ==
		    SLUICE__V1__RESPONSE__RESULT_APPLY_PIPELINE)
			line_add(&l, " generation=%" PRIu64,
				 a->apply.generation);
		else if (api->ops->generation != NULL)
			line_add(&l, " generation=%" PRIu64,
				 api->ops->generation(api->ctx));
	}
	api->stats.audited++;
	api_log(api, "%s", l.buf);
	if (api->audit_fd < 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	{
		char out[sizeof(stamp) + sizeof(l.buf) + 1];
		size_t n = (size_t)snprintf(out, sizeof(out), "%s%s\n", stamp,
					    l.buf + strlen("audit: "));
		ssize_t w;

		if (n >= sizeof(out))
			n = sizeof(out) - 1;
		do
			w = write(api->audit_fd, out, n);
		while (w < 0 && errno == EINTR);
		if (w != (ssize_t)n)
			api->stats.audit_failed++;
	}
}

/* Who may send this request; -1 with @err filled (and @after set) when
 * nobody on this connection may, 0 to go on. */
static int
authenticate(struct sl_api *api, struct sl_api_peer *peer,
	     const Sluice__V1__Request *req, struct sl_api_error *err,
	     enum sl_api_after *after)
{
	enum sl_api_role role;

	if (peer->transport != SL_API_TRANSPORT_TCP)
		return 0;
	if (req->token[0] == '\0') {
		if (peer->role != SL_API_ROLE_NONE)
			return 0;
		api->stats.unauthenticated++;
		sl_api_error_set(err,
				 SLUICE__V1__ERROR__CODE__CODE_UNAUTHENTICATED,
				 "token", "missing token");
		*after = SL_API_CLOSE;
		return -1;
	}
	if (peer->role == SL_API_ROLE_NONE && auth_throttled(api)) {
		api->stats.auth_throttled++;
		sl_api_error_set(err,
				 SLUICE__V1__ERROR__CODE__CODE_UNAUTHENTICATED,
				 "token",
				 "too many failed authentications; try again "
				 "in a few seconds");
		*after = SL_API_CLOSE;
		return -1;
	}
	role = token_role(api, req->token);
	if (role == SL_API_ROLE_NONE) {
		api->stats.unauthenticated++;
		auth_failed(api);
		api_log(api, "api: tcp client %s: wrong token, closing",
			peer->addr[0] ? peer->addr : "?");
		sl_api_error_set(err,
				 SLUICE__V1__ERROR__CODE__CODE_UNAUTHENTICATED,
				 "token", "wrong token");
		*after = SL_API_CLOSE;
		return -1;
	}
	peer->role = role;
	return 0;
}

enum sl_api_after
sl_api_dispatch_peer(struct sl_api *api, struct sl_api_peer *peer,
		     const uint8_t *frame, size_t len, uint8_t **reply,
		     size_t *reply_len)
{
	struct sl_api_error err = {0};
	struct sl_api_answer a;
	struct sl_api_arena arena = {NULL};
	Sluice__V1__Request *req;
	enum sl_api_after after = SL_API_KEEP;
	enum sl_api_role need;
	const char *op = NULL;
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
	if (authenticate(api, peer, req, &err, &after) != 0)
		goto out;
	need = sl_api_op_role(req, &op);
	if (need != SL_API_ROLE_NONE && peer->role < need) {
		api->stats.denied++;
		sl_api_error_set(
			&err, SLUICE__V1__ERROR__CODE__CODE_PERMISSION_DENIED,
			"", "%s needs the admin role; this caller is %s", op,
			peer->role == SL_API_ROLE_READ ? "read-only"
						       : "not authorised");
		audit(api, peer, req, op, &err, &a);
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
	if (need == SL_API_ROLE_ADMIN)
		audit(api, peer, req, op, &err, &a);
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

enum sl_api_after
sl_api_dispatch(struct sl_api *api, const uint8_t *frame, size_t len,
		bool trusted, uint8_t **reply, size_t *reply_len)
{
	struct sl_api_peer peer = {
		.transport = trusted ? SL_API_TRANSPORT_DIRECT
				     : SL_API_TRANSPORT_TCP,
		.role = trusted ? SL_API_ROLE_ADMIN : SL_API_ROLE_NONE,
	};

	return sl_api_dispatch_peer(api, &peer, frame, len, reply, reply_len);
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

/* A TCP connection announced a frame over the pre-authentication limit:
 * answer without reading it and close. */
static void
preauth_too_large(struct sl_api_conn *ac, struct sl_conn *conn)
{
	struct sl_api *api = ac->api;
	struct sl_api_error err = {0};
	struct sl_api_answer a;
	uint8_t *reply;
	size_t reply_len;

	api->stats.preauth_too_large++;
	answer_init(&a);
	sl_api_error_set(&err, SLUICE__V1__ERROR__CODE__CODE_UNAUTHENTICATED,
			 "token",
			 "frame of %" PRIu32 " bytes before authentication: "
			 "at most %u until a request has carried a valid token",
			 ac->dec.want, SL_API_PREAUTH_FRAME_MAX);
	api_log(api, "api: tcp client %s: %s, closing", ac->peer.addr,
		err.message);
	pack_reply(api, &a, &err, &reply, &reply_len);
	if (reply != NULL)
		api->stats.responses++;
	conn_reply(ac, conn, reply, reply_len);
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
			if (rc == -EMSGSIZE &&
			    ac->peer.role == SL_API_ROLE_NONE &&
			    ac->peer.transport == SL_API_TRANSPORT_TCP) {
				preauth_too_large(ac, conn);
			} else {
				sl_api_frame_error(api, rc, ac->dec.want,
						   &reply, &reply_len);
				conn_reply(ac, conn, reply, reply_len);
			}
			ac->closing = true;
			sl_conn_close(conn);
			break;
		}
		/* An unauthenticated peer makes no progress: it has the idle
		 * timeout from its accept to present a valid token. */
		if (ac->peer.role != SL_API_ROLE_NONE ||
		    ac->peer.transport != SL_API_TRANSPORT_TCP)
			sl_conn_touch(conn);
		after = sl_api_dispatch_peer(api, &ac->peer, fr.data, fr.len,
					     &reply, &reply_len);
		conn_reply(ac, conn, reply, reply_len);
		if (after == SL_API_CLOSE) {
			ac->closing = true;
			sl_conn_close(conn);
		} else if (ac->peer.role != SL_API_ROLE_NONE &&
			   ac->dec.max < SL_FRAME_MAX) {
			/* Authenticated: full-size frames from the next on. */
			sl_conn_touch(conn);
			sl_frame_decoder_set_max(&ac->dec, SL_FRAME_MAX);
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

/* True when @gid is the peer's primary group or one of its supplementary
 * groups (SO_PEERGROUPS, Linux 4.13). */
static bool
peer_in_group(int fd, const struct ucred *cred, gid_t gid)
{
	gid_t groups[256];
	socklen_t gl = sizeof(groups);

	if (cred->gid == gid)
		return true;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &gl) != 0)
		return false;
	for (size_t i = 0; i < gl / sizeof(gid_t); i++)
		if (groups[i] == gid)
			return true;
	return false;
}

static const struct sl_conn_handler *
api_on_accept(struct sl_conn *conn, void *ctx)
{
	struct sl_api_listener *l = ctx;
	struct sl_api *api = l->api;
	struct sl_api_conn *ac = calloc(1, sizeof(*ac));

	if (ac == NULL)
		return NULL;
	ac->api = api;
	ac->peer.transport = l->transport;
	ac->peer.role = SL_API_ROLE_NONE;
	sl_conn_set_ctx(conn, ac);
	api->stats.connections++;
	if (l->transport == SL_API_TRANSPORT_UNIX) {
		struct ucred cred;
		socklen_t cl = sizeof(cred);

		sl_frame_decoder_init(&ac->dec, SL_FRAME_MAX);
		if (getsockopt(sl_conn_fd(conn), SOL_SOCKET, SO_PEERCRED, &cred,
			       &cl) == 0) {
			ac->peer.has_cred = true;
			ac->peer.pid = cred.pid;
			ac->peer.uid = cred.uid;
			ac->peer.gid = cred.gid;
			ac->peer.role =
				cred.uid == 0 || cred.uid == api->owner_uid ||
						(api->admin_gid_set &&
						 peer_in_group(sl_conn_fd(conn),
							       &cred,
							       api->admin_gid))
					? SL_API_ROLE_ADMIN
					: SL_API_ROLE_READ;
		}
		api_log(api, "api: unix client pid %d uid %u gid %u (%s)",
			(int)ac->peer.pid, (unsigned int)ac->peer.uid,
			(unsigned int)ac->peer.gid,
			sl_api_role_name(ac->peer.role));
	} else {
		struct sockaddr_in sin;
		socklen_t sl = sizeof(sin);
		char ip[INET_ADDRSTRLEN] = "?";

		/* Small frames until a valid token: nobody makes sluiced
		 * buffer a megabyte without knowing the token. */
		sl_frame_decoder_init(&ac->dec, SL_API_PREAUTH_FRAME_MAX);
		memset(&sin, 0, sizeof(sin));
		if (getpeername(sl_conn_fd(conn), (struct sockaddr *)&sin,
				&sl) == 0)
			inet_ntop(AF_INET, &sin.sin_addr, ip, sizeof(ip));
		snprintf(ac->peer.addr, sizeof(ac->peer.addr), "%s:%u", ip,
			 (unsigned int)ntohs(sin.sin_port));
		api_log(api, "api: tcp client %s", ac->peer.addr);
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
listen_unix(struct sl_api *api, const struct sl_api_params *p)
{
	const char *path = p->unix_path;
	uint32_t mode = p->unix_mode ? p->unix_mode : 0600;
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
	if (rc == 0 && p->unix_chgrp)
		rc = chown(path, (uid_t)-1, p->unix_gid);
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
	rc = sl_loop_listen_limited(api->loop, fd, api_on_accept, &api->unix_l,
				    &p->unix_limits,
				    &api->unix_l.loop_listener);
	if (rc < 0)
		return rc;
	if (p->unix_chgrp)
		api_log(api, "api: listening on %s (mode %04o, group %u)", path,
			(unsigned int)mode, (unsigned int)p->unix_gid);
	else
		api_log(api, "api: listening on %s (mode %04o)", path,
			(unsigned int)mode);
	return 0;
}

static int
listen_tcp(struct sl_api *api, const struct sl_api_params *p)
{
	uint16_t port = p->tcp_port;
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
	rc = sl_loop_listen_limited(api->loop, fd, api_on_accept, &api->tcp_l,
				    &p->tcp_limits, &api->tcp_l.loop_listener);
	if (rc < 0)
		return rc;
	api_log(api, "api: listening on 127.0.0.1:%u (token required%s)",
		(unsigned int)api->tcp_port,
		api->ro_token_len ? "; read-only token accepted" : "");
	return 0;
}

static bool
token_ok(const char *t, bool required)
{
	if (t == NULL || t[0] == '\0')
		return !required;
	return strlen(t) < SL_API_TOKEN_MAX;
}

struct sl_api *
sl_api_create(struct sl_loop *loop, const struct sl_api_params *p,
	      const struct sl_api_backend_ops *ops, void *ctx)
{
	struct sl_api *api;
	int rc = 0;

	if (ops == NULL ||
	    (loop == NULL && p != NULL && (p->unix_path || p->tcp)) ||
	    (p != NULL &&
	     (!token_ok(p->token, p->tcp) || !token_ok(p->ro_token, false))) ||
	    (p != NULL && p->ro_token != NULL && p->ro_token[0] != '\0' &&
	     (p->token == NULL || strcmp(p->token, p->ro_token) == 0))) {
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
	api->audit_fd = -1;
	api->owner_uid = geteuid();
	api->unix_l.api = api;
	api->unix_l.transport = SL_API_TRANSPORT_UNIX;
	api->tcp_l.api = api;
	api->tcp_l.transport = SL_API_TRANSPORT_TCP;
	api->start_ns = mono_ns();
	api->auth_bucket_milli = (uint64_t)SL_API_AUTH_FAIL_BURST * 1000;
	api->auth_refill_ns = api->start_ns;
	snprintf(api->version, sizeof(api->version), "%s",
		 p && p->version ? p->version : "unknown");
	if (p != NULL) {
		api->log = p->log;
		api->log_ctx = p->log_ctx;
		api->admin_gid_set = p->admin_gid_set;
		api->admin_gid = p->admin_gid;
		api->metrics_limits = p->metrics_limits;
		if (p->token != NULL) {
			api->token_len = strlen(p->token);
			memcpy(api->token, p->token, api->token_len);
		}
		if (p->ro_token != NULL) {
			api->ro_token_len = strlen(p->ro_token);
			memcpy(api->ro_token, p->ro_token, api->ro_token_len);
		}
		if (p->audit_log != NULL) {
			api->audit_fd =
				open(p->audit_log,
				     O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
					     O_NOCTTY | O_NOFOLLOW,
				     0600);
			if (api->audit_fd < 0)
				rc = -errno;
			else
				api_log(api, "api: audit lines also go to %s",
					p->audit_log);
		}
		if (rc == 0 && p->unix_path != NULL)
			rc = listen_unix(api, p);
		if (rc == 0 && p->tcp)
			rc = listen_tcp(api, p);
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
	    st.st_dev == api->unix_dev && st.st_ino == api->unix_ino &&
	    unlink(api->unix_path) != 0)
		api_log(api,
			"api: cannot remove %s: %s (the next start replaces "
			"it)",
			api->unix_path, strerror(errno));
	free(api->unix_path);
	sl_metrics_http_destroy(api->metrics);
	if (api->audit_fd >= 0)
		close(api->audit_fd);
	explicit_bzero(api->token, sizeof(api->token));
	explicit_bzero(api->ro_token, sizeof(api->ro_token));
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

bool
sl_api_listener_stats(const struct sl_api *api, const char *which,
		      struct sl_listener_stats *out)
{
	const struct sl_listener *l = NULL;

	if (strcmp(which, "unix") == 0)
		l = api->unix_l.loop_listener;
	else if (strcmp(which, "tcp") == 0)
		l = api->tcp_l.loop_listener;
	else if (strcmp(which, "metrics") == 0 && api->metrics != NULL)
		l = sl_metrics_http_listener(api->metrics);
	if (l == NULL)
		return false;
	*out = sl_listener_stats(l);
	return true;
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
			};
#define SL_API_OP(m, kind, prom, help) op[i].m = x->m;
			SL_STATS_OPERATOR(SL_API_OP)
#undef SL_API_OP
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
	n = SL_API_N_STATS + SL_API_N_CODES + 3 * 3 +
	    (st != NULL ? st->n_counters : 0);
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
	/* Per listener, one family per counter: whose limit is hit. */
	n = SL_API_N_STATS + SL_API_N_CODES;
	for (int f = 0; f < 3; f++) {
		static const char *const names[] = {
			"sluice_api_listener_accepted",
			"sluice_api_listener_rejected_full",
			"sluice_api_listener_closed_idle"};
		static const char *const helps[] = {
			"Control listeners: connections accepted.",
			"Control listeners: connections refused at the "
			"listener's (or the loop's) connection limit.",
			"Control listeners: connections closed by the idle "
			"timeout."};
		static const char *const which[] = {"unix", "tcp", "metrics"};

		for (int w = 0; w < 3; w++) {
			struct sl_listener_stats ls;
			struct sl_metrics_counter *c;

			if (!sl_api_listener_stats(api, which[w], &ls))
				continue;
			c = &ctr[n++];
			c->name = names[f];
			c->help = helps[f];
			c->label = "listener";
			c->label_value = which[w];
			c->value = f == 0   ? ls.accepted
				   : f == 1 ? ls.rejected_full
					    : ls.closed_idle;
		}
	}
	/* The dataplane's own (Stats.counters), as the backend gave them. */
	for (i = 0; st != NULL && i < st->n_counters; i++) {
		const Sluice__V1__Counter *x = st->counters[i];
		struct sl_metrics_counter *c = &ctr[n++];

		c->name = x->name;
		c->help = x->help;
		c->label = x->label != NULL && x->label[0] != '\0' ? x->label
								   : NULL;
		c->label_value = x->label_value;
		c->value = x->value;
		c->gauge = x->gauge;
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
	api->metrics = sl_metrics_http_listen(api->loop, fd, &src,
					      &api->metrics_limits);
	return api->metrics ? 0 : -errno;
}
