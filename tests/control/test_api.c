/* SPDX-License-Identifier: MIT */
/*
 * test_api.c - the control API server (control/sl_api.h) over real
 * sockets, once per loop backend:
 *
 *   test_api uring|epoll
 *
 * Every request kind (guards too) against the recording test backend,
 * every rejection
 * with its code, field and message, bad input (garbage, oversized, empty
 * and truncated frames, no body, unknown kinds, a slowloris client, 300
 * idle connections while a good client is served), the TCP token, and the
 * unix socket's mode and life cycle. Security: every request kind is
 * classified read or admin; the read-only token and unix peers other than
 * root get PERMISSION_DENIED for every change (an admin group lifts it);
 * audit lines, exactly; frames over 4 KiB before a valid token close the
 * connection unread, a big apply after a small authenticating request
 * passes; failed authentications are rate limited; a full metrics
 * listener (or a full unix one) leaves the other listeners usable, and
 * each listener has its own idle timeout. The uring run exits 77 (SKIP)
 * where io_uring is unavailable.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "api_harness.h"
#include "sl_frame.h"

#define CODE(x) SLUICE__V1__ERROR__CODE__CODE_##x

static struct harness *g_h; /* default harness: unix only, 5 s idle */

/* ---- request builders ---- */

struct req {
	Sluice__V1__Request r;
	union {
		Sluice__V1__ApplyPipeline apply;
		Sluice__V1__GetPipeline get;
		Sluice__V1__ListInstances list;
		Sluice__V1__AddInstance add;
		Sluice__V1__RemoveInstance remove;
		Sluice__V1__DrainInstance drain;
		Sluice__V1__GetStats stats;
		Sluice__V1__GetVersion version;
		Sluice__V1__ListGuards list_guards;
		Sluice__V1__EditGuard edit_guard;
		Sluice__V1__SetPolicy set_policy;
	} b;
	Sluice__V1__Instance inst;
};

static void
req_init(struct req *q, uint64_t id)
{
	memset(q, 0, sizeof(*q));
	sluice__v1__request__init(&q->r);
	q->r.id = id;
}

static Sluice__V1__Request *
req_apply(struct req *q, uint64_t id, const char *yaml, const char *name,
	  bool dry_run)
{
	req_init(q, id);
	sluice__v1__apply_pipeline__init(&q->b.apply);
	q->b.apply.yaml = (char *)yaml;
	q->b.apply.name = (char *)name;
	q->b.apply.dry_run = dry_run;
	q->r.body_case = SLUICE__V1__REQUEST__BODY_APPLY_PIPELINE;
	q->r.apply_pipeline = &q->b.apply;
	return &q->r;
}

static Sluice__V1__Request *
req_get(struct req *q, uint64_t id, const char *name)
{
	req_init(q, id);
	sluice__v1__get_pipeline__init(&q->b.get);
	q->b.get.name = (char *)name;
	q->r.body_case = SLUICE__V1__REQUEST__BODY_GET_PIPELINE;
	q->r.get_pipeline = &q->b.get;
	return &q->r;
}

static Sluice__V1__Request *
req_list(struct req *q, uint64_t id, const char *pipeline, const char *stage)
{
	req_init(q, id);
	sluice__v1__list_instances__init(&q->b.list);
	q->b.list.pipeline = (char *)pipeline;
	q->b.list.stage = (char *)stage;
	q->r.body_case = SLUICE__V1__REQUEST__BODY_LIST_INSTANCES;
	q->r.list_instances = &q->b.list;
	return &q->r;
}

static Sluice__V1__Request *
req_add(struct req *q, uint64_t id, const char *pipeline, const char *stage,
	const char *name, const char *addr, uint32_t port)
{
	req_init(q, id);
	sluice__v1__add_instance__init(&q->b.add);
	sluice__v1__instance__init(&q->inst);
	q->b.add.pipeline = (char *)pipeline;
	q->b.add.stage = (char *)stage;
	q->inst.name = (char *)name;
	q->inst.address = (char *)addr;
	q->inst.port = port;
	q->b.add.instance = addr ? &q->inst : NULL;
	q->r.body_case = SLUICE__V1__REQUEST__BODY_ADD_INSTANCE;
	q->r.add_instance = &q->b.add;
	return &q->r;
}

static Sluice__V1__Request *
req_remove(struct req *q, uint64_t id, const char *pipeline, const char *stage,
	   const char *instance)
{
	req_init(q, id);
	sluice__v1__remove_instance__init(&q->b.remove);
	q->b.remove.pipeline = (char *)pipeline;
	q->b.remove.stage = (char *)stage;
	q->b.remove.instance = (char *)instance;
	q->r.body_case = SLUICE__V1__REQUEST__BODY_REMOVE_INSTANCE;
	q->r.remove_instance = &q->b.remove;
	return &q->r;
}

static Sluice__V1__Request *
req_drain(struct req *q, uint64_t id, const char *pipeline, const char *stage,
	  const char *instance)
{
	req_init(q, id);
	sluice__v1__drain_instance__init(&q->b.drain);
	q->b.drain.pipeline = (char *)pipeline;
	q->b.drain.stage = (char *)stage;
	q->b.drain.instance = (char *)instance;
	q->r.body_case = SLUICE__V1__REQUEST__BODY_DRAIN_INSTANCE;
	q->r.drain_instance = &q->b.drain;
	return &q->r;
}

static Sluice__V1__Request *
req_stats(struct req *q, uint64_t id, bool reset)
{
	req_init(q, id);
	sluice__v1__get_stats__init(&q->b.stats);
	q->b.stats.reset = reset;
	q->r.body_case = SLUICE__V1__REQUEST__BODY_GET_STATS;
	q->r.get_stats = &q->b.stats;
	return &q->r;
}

static Sluice__V1__Request *
req_version(struct req *q, uint64_t id)
{
	req_init(q, id);
	sluice__v1__get_version__init(&q->b.version);
	q->r.body_case = SLUICE__V1__REQUEST__BODY_GET_VERSION;
	q->r.get_version = &q->b.version;
	return &q->r;
}

static Sluice__V1__Request *
req_list_guards(struct req *q, uint64_t id)
{
	req_init(q, id);
	sluice__v1__list_guards__init(&q->b.list_guards);
	q->r.body_case = SLUICE__V1__REQUEST__BODY_LIST_GUARDS;
	q->r.list_guards = &q->b.list_guards;
	return &q->r;
}

static Sluice__V1__Request *
req_edit_guard(struct req *q, uint64_t id, const char *guard, bool remove,
	       bool regex, const char *pattern)
{
	req_init(q, id);
	sluice__v1__edit_guard__init(&q->b.edit_guard);
	q->b.edit_guard.guard = (char *)guard;
	q->b.edit_guard.remove = remove;
	q->b.edit_guard.regex = regex;
	q->b.edit_guard.pattern = (char *)pattern;
	q->r.body_case = SLUICE__V1__REQUEST__BODY_EDIT_GUARD;
	q->r.edit_guard = &q->b.edit_guard;
	return &q->r;
}

static Sluice__V1__Request *
req_set_policy(struct req *q, uint64_t id, const char *pipeline,
	       const char *stage, const char *pool, int policy)
{
	req_init(q, id);
	sluice__v1__set_policy__init(&q->b.set_policy);
	q->b.set_policy.pipeline = (char *)pipeline;
	q->b.set_policy.stage = (char *)stage;
	q->b.set_policy.pool = (char *)pool;
	q->b.set_policy.policy = (Sluice__V1__Balance)policy;
	q->r.body_case = SLUICE__V1__REQUEST__BODY_SET_POLICY;
	q->r.set_policy = &q->b.set_policy;
	return &q->r;
}

/* ---- assertions ---- */

static void
free_resp(Sluice__V1__Response *r)
{
	if (r != NULL)
		sluice__v1__response__free_unpacked(r, NULL);
}

/* The request answered with error @code, @field, a message starting with
 * @msg (NULL: not checked). */
static bool
is_error(const Sluice__V1__Response *r, uint64_t id, int code,
	 const char *field, const char *msg)
{
	if (r == NULL || r->error == NULL || r->id != id ||
	    (int)r->error->code != code ||
	    r->result_case != SLUICE__V1__RESPONSE__RESULT__NOT_SET ||
	    strcmp(r->error->field, field) != 0 ||
	    (msg && strncmp(r->error->message, msg, strlen(msg)) != 0)) {
		if (r != NULL && r->error != NULL)
			printf("\n    got id %llu code %d field \"%s\" message "
			       "\"%s\"\n",
			       (unsigned long long)r->id, r->error->code,
			       r->error->field, r->error->message);
		else
			printf("\n    got %s\n", r ? "a success" : "nothing");
		return false;
	}
	return true;
}

static struct api_backend
recorded(struct harness *h)
{
	struct api_backend b;

	api_backend_snapshot(harness_backend_of(h), &b);
	return b;
}

/* ---- every request kind ---- */

static void
test_apply(void)
{
	int fd = client_unix(harness_unix_path(g_h));
	Sluice__V1__Response *r;
	struct api_backend b;
	struct req q;

	CU_ASSERT_FATAL(fd >= 0);
	r = rpc(fd, req_apply(&q, 11, "pipelines: []\n", "demo.yaml", false));
	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT_EQUAL(r->id, 11);
	CU_ASSERT(r->error == NULL);
	CU_ASSERT_EQUAL_FATAL(r->result_case,
			      SLUICE__V1__RESPONSE__RESULT_APPLY_PIPELINE);
	CU_ASSERT_EQUAL(r->apply_pipeline->generation, 2);
	CU_ASSERT_FALSE(r->apply_pipeline->dry_run);
	CU_ASSERT_EQUAL_FATAL(r->apply_pipeline->n_pipelines, 1);
	CU_ASSERT_STRING_EQUAL(r->apply_pipeline->pipelines[0]->name, "demo");
	CU_ASSERT_EQUAL(r->apply_pipeline->pipelines[0]->n_edges, 4);
	free_resp(r);
	b = recorded(g_h);
	CU_ASSERT_EQUAL(b.calls[API_OP_APPLY], 1);
	CU_ASSERT_STRING_EQUAL(b.last_yaml, "pipelines: []\n");
	CU_ASSERT_EQUAL(b.last_len, 14);
	CU_ASSERT_STRING_EQUAL(b.last_name, "demo.yaml");
	CU_ASSERT_FALSE(b.last_dry_run);

	/* Dry run: the generation stays; no name gives "apply". */
	r = rpc(fd, req_apply(&q, 12, "x: 1\n", "", true));
	CU_ASSERT_FATAL(r != NULL && r->apply_pipeline != NULL);
	CU_ASSERT_EQUAL(r->apply_pipeline->generation, 2);
	CU_ASSERT_TRUE(r->apply_pipeline->dry_run);
	free_resp(r);
	b = recorded(g_h);
	CU_ASSERT_TRUE(b.last_dry_run);
	CU_ASSERT_STRING_EQUAL(b.last_name, "apply");

	/* A compile error keeps FILE:LINE: FIELD and fills field. */
	r = rpc(fd, req_apply(&q, 13,
			      "ERROR: demo.yaml:12: pipelines[0].stages[1]."
			      "aggregation: must be 0..1 for a stage receiving "
			      "depth 1 streams, got 3\n",
			      "demo.yaml", false));
	CU_ASSERT(is_error(
		r, 13, CODE(INVALID), "pipelines[0].stages[1].aggregation",
		"demo.yaml:12: pipelines[0].stages[1].aggregation: "
		"must be 0..1 for a stage receiving depth 1 streams, "
		"got 3"));
	free_resp(r);
	close(fd);
}

static void
test_get_and_list(void)
{
	int fd = client_unix(harness_unix_path(g_h));
	const Sluice__V1__Pipeline *pl;
	Sluice__V1__Response *r;
	struct api_backend b;
	struct req q;

	CU_ASSERT_FATAL(fd >= 0);
	r = rpc(fd, req_get(&q, 21, ""));
	CU_ASSERT_FATAL(r != NULL && r->pipelines != NULL);
	CU_ASSERT_EQUAL(r->id, 21);
	CU_ASSERT_EQUAL_FATAL(r->pipelines->n_pipelines, 1);
	pl = r->pipelines->pipelines[0];
	CU_ASSERT_EQUAL(pl->id, 7);
	CU_ASSERT_EQUAL_FATAL(pl->n_stages, 3);
	CU_ASSERT_EQUAL(pl->stages[2]->kind,
			SLUICE__V1__STAGE_KIND__STAGE_KIND_SUM);
	CU_ASSERT_EQUAL(pl->stages[1]->depth, 2);
	CU_ASSERT_EQUAL_FATAL(pl->n_edges, 4);
	CU_ASSERT_STRING_EQUAL(pl->edges[1]->from, "draft");
	CU_ASSERT_STRING_EQUAL(pl->edges[1]->to, "claims");
	CU_ASSERT_EQUAL(pl->edges[1]->split, SLUICE__V1__SPLIT__SPLIT_LINE);
	CU_ASSERT_TRUE(pl->edges[1]->stream_children);
	CU_ASSERT_EQUAL(pl->edges[3]->mode,
			SLUICE__V1__EDGE_MODE__EDGE_MODE_BUFFER);
	free_resp(r);

	r = rpc(fd, req_get(&q, 22, "nope"));
	CU_ASSERT(is_error(r, 22, CODE(NOT_FOUND), "name",
			   "no pipeline \"nope\""));
	free_resp(r);

	r = rpc(fd, req_list(&q, 23, "demo", "draft"));
	CU_ASSERT_FATAL(r != NULL && r->instances != NULL);
	CU_ASSERT_EQUAL_FATAL(r->instances->n_instances, 2);
	CU_ASSERT_STRING_EQUAL(r->instances->instances[1]->instance->name,
			       "draft-b");
	CU_ASSERT_TRUE(r->instances->instances[1]->draining);
	free_resp(r);
	b = recorded(g_h);
	CU_ASSERT_STRING_EQUAL(b.last_pipeline, "demo");
	CU_ASSERT_STRING_EQUAL(b.last_stage, "draft");

	r = rpc(fd, req_list(&q, 24, "", ""));
	CU_ASSERT_FATAL(r != NULL && r->instances != NULL);
	CU_ASSERT_EQUAL(r->instances->n_instances, 3);
	free_resp(r);
	close(fd);
}

static void
test_instances(void)
{
	int fd = client_unix(harness_unix_path(g_h));
	Sluice__V1__Response *r;
	struct api_backend b;
	struct req q;

	CU_ASSERT_FATAL(fd >= 0);
	r = rpc(fd, req_add(&q, 31, "demo", "draft", "draft-c", "10.77.0.13",
			    7803));
	CU_ASSERT_FATAL(r != NULL && r->instance != NULL &&
			r->instance->instance != NULL);
	CU_ASSERT_EQUAL(r->result_case, SLUICE__V1__RESPONSE__RESULT_INSTANCE);
	CU_ASSERT_STRING_EQUAL(r->instance->instance->instance->name,
			       "draft-c");
	CU_ASSERT_STRING_EQUAL(r->instance->instance->instance->address,
			       "10.77.0.13");
	CU_ASSERT_EQUAL(r->instance->instance->instance->port, 7803);
	free_resp(r);
	b = recorded(g_h);
	CU_ASSERT_EQUAL(b.calls[API_OP_ADD], 1);
	CU_ASSERT_EQUAL(b.last_ip, 0x0a4d000d);
	CU_ASSERT_EQUAL(b.last_port, 7803);
	CU_ASSERT_STRING_EQUAL(b.last_instance, "draft-c");

	/* Unnamed: the backend names it. */
	r = rpc(fd, req_add(&q, 32, "demo", "draft", "", "10.77.0.14", 7803));
	CU_ASSERT_FATAL(r != NULL && r->instance != NULL);
	CU_ASSERT_STRING_EQUAL(r->instance->instance->instance->name,
			       "draft/2");
	free_resp(r);

	r = rpc(fd, req_remove(&q, 33, "demo", "draft", "draft-c"));
	CU_ASSERT_FATAL(r != NULL && r->instance != NULL);
	CU_ASSERT_EQUAL(r->id, 33);
	free_resp(r);
	b = recorded(g_h);
	CU_ASSERT_EQUAL(b.calls[API_OP_REMOVE], 1);
	CU_ASSERT_EQUAL(b.last_op, API_OP_REMOVE);
	CU_ASSERT_STRING_EQUAL(b.last_instance, "draft-c");

	r = rpc(fd, req_drain(&q, 34, "demo", "draft", "draft/0"));
	CU_ASSERT_FATAL(r != NULL && r->instance != NULL);
	CU_ASSERT_TRUE(r->instance->instance->draining);
	CU_ASSERT_EQUAL(r->instance->instance->streams, 3);
	free_resp(r);
	b = recorded(g_h);
	CU_ASSERT_EQUAL(b.calls[API_OP_DRAIN], 1);

	/* Backend refusals carry its code, field and message. */
	api_backend_fail(harness_backend_of(g_h), API_OP_ADD, CODE(EXISTS),
			 "instance.address", "10.77.0.11:7801 is draft/0");
	r = rpc(fd, req_add(&q, 35, "demo", "draft", "x", "10.77.0.11", 7801));
	CU_ASSERT(is_error(r, 35, CODE(EXISTS), "instance.address",
			   "10.77.0.11:7801 is draft/0"));
	free_resp(r);
	api_backend_fail(harness_backend_of(g_h), API_OP_ADD, 0, NULL, NULL);
	api_backend_fail(harness_backend_of(g_h), API_OP_REMOVE,
			 CODE(NOT_FOUND), "instance", "no instance \"zz\"");
	r = rpc(fd, req_remove(&q, 36, "demo", "draft", "zz"));
	CU_ASSERT(is_error(r, 36, CODE(NOT_FOUND), "instance",
			   "no instance \"zz\""));
	free_resp(r);
	api_backend_fail(harness_backend_of(g_h), API_OP_REMOVE, 0, NULL, NULL);
	api_backend_fail(harness_backend_of(g_h), API_OP_DRAIN, CODE(LIMIT), "",
			 "too many");
	r = rpc(fd, req_drain(&q, 37, "demo", "draft", "draft/0"));
	CU_ASSERT(is_error(r, 37, CODE(LIMIT), "", "too many"));
	free_resp(r);
	api_backend_fail(harness_backend_of(g_h), API_OP_DRAIN, 0, NULL, NULL);
	close(fd);
}

static void
test_stats_and_version(void)
{
	int fd = client_unix(harness_unix_path(g_h));
	Sluice__V1__Response *r;
	struct api_backend b;
	struct req q;

	CU_ASSERT_FATAL(fd >= 0);
	r = rpc(fd, req_stats(&q, 41, true));
	CU_ASSERT_FATAL(r != NULL && r->stats != NULL);
	CU_ASSERT_EQUAL_FATAL(r->stats->n_drops, 2);
	CU_ASSERT_STRING_EQUAL(r->stats->drops[1]->reason, "TENANT_RATE");
	CU_ASSERT_EQUAL(r->stats->drops[1]->count, 12);
	CU_ASSERT_EQUAL(r->stats->n_instances, 2);
	CU_ASSERT_EQUAL(r->stats->n_operators, 1);
	CU_ASSERT_FATAL(r->stats->flows != NULL && r->stats->mbufs != NULL &&
			r->stats->latency != NULL);
	CU_ASSERT_EQUAL(r->stats->flows->capacity, 65536);
	CU_ASSERT_EQUAL(r->stats->mbufs->in_use, 600);
	CU_ASSERT_EQUAL(r->stats->latency->n_count, 3);
	free_resp(r);
	b = recorded(g_h);
	CU_ASSERT_TRUE(b.last_reset);

	api_backend_fail(harness_backend_of(g_h), API_OP_STATS,
			 CODE(UNAVAILABLE), "", "dataplane starting");
	r = rpc(fd, req_stats(&q, 42, false));
	CU_ASSERT(is_error(r, 42, CODE(UNAVAILABLE), "", "dataplane starting"));
	free_resp(r);
	api_backend_fail(harness_backend_of(g_h), API_OP_STATS, 0, NULL, NULL);

	r = rpc(fd, req_version(&q, 43));
	CU_ASSERT_FATAL(r != NULL && r->version != NULL);
	CU_ASSERT_STRING_EQUAL(r->version->version, "0.1.0");
	CU_ASSERT_EQUAL(r->version->wire_version, 1);
	CU_ASSERT_EQUAL(r->version->generation, recorded(g_h).generation);
	CU_ASSERT(r->version->uptime_ns > 0);
	free_resp(r);
	close(fd);
}

/* ---- guards ---- */

struct want_rule {
	bool regex;
	const char *pattern;
	uint64_t matches, blocks, redactions;
};

/* @gl is exactly the backend's two guards at @generation, forget holding
 * @forget (@n rules). */
static bool
guards_are(const Sluice__V1__GuardList *gl, uint64_t generation,
	   const struct want_rule *forget, size_t n)
{
	static const struct want_rule pii = {true, "\\b[0-9]{3}-[0-9]{4}\\b", 7,
					     0, 7};
	const Sluice__V1__Guard *g;
	bool ok = true;

#define WANT(cond)                                                             \
	do {                                                                   \
		if (!(cond)) {                                                 \
			printf("\n    guards: %s", #cond);                     \
			ok = false;                                            \
		}                                                              \
	} while (0)
	WANT(gl != NULL);
	if (gl == NULL)
		return false;
	WANT(gl->generation == generation);
	WANT(gl->n_guards == 2);
	if (gl->n_guards != 2)
		return false;
	for (size_t k = 0; k < 2; k++) {
		const struct want_rule *want = k == 0 ? forget : &pii;
		size_t nw = k == 0 ? n : 1;

		g = gl->guards[k];
		WANT(strcmp(g->name, k == 0 ? "forget" : "pii") == 0);
		WANT(strcmp(g->action, k == 0 ? "block" : "redact") == 0);
		WANT(strcmp(g->prefix,
			    k == 0 ? "Do not discuss the works of Hsiao "
				     "Yun-Hwa."
				   : "") == 0);
		WANT(g->n_rules == nw);
		for (size_t i = 0; i < nw && i < g->n_rules; i++) {
			const Sluice__V1__GuardRule *r = g->rules[i];

			WANT(r->regex == want[i].regex);
			WANT(strcmp(r->pattern, want[i].pattern) == 0);
			WANT(r->matches == want[i].matches);
			WANT(r->blocks == want[i].blocks);
			WANT(r->redactions == want[i].redactions);
		}
	}
#undef WANT
	return ok;
}

static void
test_guards(void)
{
	static const struct want_rule base[] = {
		{false, "Hsiao Yun-Hwa", 4, 4, 0},
		{true, "\\bvx-[0-9]{3}\\b", 2, 2, 0},
	};
	static const struct want_rule added[] = {
		{false, "Hsiao Yun-Hwa", 4, 4, 0},
		{true, "\\bvx-[0-9]{3}\\b", 2, 2, 0},
		{false, "Tofu \"Island\" ☃", 0, 0, 0},
	};
	static const struct want_rule removed[] = {
		{true, "\\bvx-[0-9]{3}\\b", 2, 2, 0},
		{false, "Tofu \"Island\" ☃", 0, 0, 0},
	};
	static const struct want_rule regex_added[] = {
		{true, "\\bvx-[0-9]{3}\\b", 2, 2, 0},
		{false, "Tofu \"Island\" ☃", 0, 0, 0},
		{true, "\\bzz-[0-9]{4}\\b", 0, 0, 0},
	};
	char max_pattern[512];
	int fd = client_unix(harness_unix_path(g_h));
	struct sl_api_stats s0, s1;
	Sluice__V1__Response *r;
	struct api_backend b;
	uint64_t gen;
	struct req q;

	CU_ASSERT_FATAL(fd >= 0);
	s0 = harness_api_stats(g_h);
	gen = recorded(g_h).generation;
	r = rpc(fd, req_list_guards(&q, 101));
	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT_EQUAL(r->id, 101);
	CU_ASSERT(r->error == NULL);
	CU_ASSERT_EQUAL(r->result_case, SLUICE__V1__RESPONSE__RESULT_GUARDS);
	CU_ASSERT(guards_are(r->guards, gen, base, 2));
	free_resp(r);
	b = recorded(g_h);
	CU_ASSERT_EQUAL(b.calls[API_OP_LIST_GUARDS], 1);
	CU_ASSERT_EQUAL(b.last_op, API_OP_LIST_GUARDS);

	/* Add a literal (UTF-8, quotes): the guards afterwards, one
	 * generation on. */
	r = rpc(fd, req_edit_guard(&q, 102, "forget", false, false,
				   "Tofu \"Island\" ☃"));
	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT_EQUAL(r->id, 102);
	CU_ASSERT(r->error == NULL);
	CU_ASSERT_EQUAL(r->result_case, SLUICE__V1__RESPONSE__RESULT_GUARDS);
	CU_ASSERT(guards_are(r->guards, gen + 1, added, 3));
	free_resp(r);
	b = recorded(g_h);
	CU_ASSERT_EQUAL(b.calls[API_OP_EDIT_GUARD], 1);
	CU_ASSERT_EQUAL(b.last_op, API_OP_EDIT_GUARD);
	CU_ASSERT_STRING_EQUAL(b.last_guard, "forget");
	CU_ASSERT_FALSE(b.last_remove);
	CU_ASSERT_FALSE(b.last_regex);
	CU_ASSERT_STRING_EQUAL(b.last_pattern, "Tofu \"Island\" ☃");

	/* Remove one, add a regex; the list shows the latest. */
	r = rpc(fd, req_edit_guard(&q, 103, "forget", true, false,
				   "Hsiao Yun-Hwa"));
	CU_ASSERT(r != NULL && r->error == NULL &&
		  guards_are(r->guards, gen + 2, removed, 2));
	free_resp(r);
	b = recorded(g_h);
	CU_ASSERT_TRUE(b.last_remove);
	CU_ASSERT_FALSE(b.last_regex);
	r = rpc(fd, req_edit_guard(&q, 104, "forget", false, true,
				   "\\bzz-[0-9]{4}\\b"));
	CU_ASSERT(r != NULL && r->error == NULL &&
		  guards_are(r->guards, gen + 3, regex_added, 3));
	free_resp(r);
	b = recorded(g_h);
	CU_ASSERT_FALSE(b.last_remove);
	CU_ASSERT_TRUE(b.last_regex);
	CU_ASSERT_STRING_EQUAL(b.last_pattern, "\\bzz-[0-9]{4}\\b");
	r = rpc(fd, req_list_guards(&q, 105));
	CU_ASSERT(r != NULL && r->error == NULL &&
		  guards_are(r->guards, gen + 3, regex_added, 3));
	free_resp(r);

	/* A pattern of exactly 511 bytes passes the server's check. */
	memset(max_pattern, 'x', 511);
	max_pattern[511] = '\0';
	r = rpc(fd, req_edit_guard(&q, 106, "pii", false, false, max_pattern));
	CU_ASSERT_FATAL(r != NULL && r->error == NULL && r->guards != NULL &&
			r->guards->n_guards == 2);
	CU_ASSERT_EQUAL_FATAL(r->guards->guards[1]->n_rules, 2);
	CU_ASSERT_STRING_EQUAL(r->guards->guards[1]->rules[1]->pattern,
			       max_pattern);
	free_resp(r);
	CU_ASSERT_EQUAL(strlen(recorded(g_h).last_pattern), 511);
	r = rpc(fd, req_edit_guard(&q, 107, "pii", true, false, max_pattern));
	CU_ASSERT(r != NULL && r->error == NULL && r->guards != NULL &&
		  r->guards->n_guards == 2 &&
		  r->guards->guards[1]->n_rules == 1);
	free_resp(r);

	/* Backend refusals carry its code, field and message. */
	r = rpc(fd, req_edit_guard(&q, 108, "nope", false, false, "x"));
	CU_ASSERT(is_error(r, 108, CODE(NOT_FOUND), "guard",
			   "no guard \"nope\""));
	free_resp(r);
	r = rpc(fd,
		req_edit_guard(&q, 109, "forget", true, true, "Hsiao Yun-Hwa"));
	CU_ASSERT(is_error(r, 109, CODE(NOT_FOUND), "pattern",
			   "guard forget has no regex \"Hsiao Yun-Hwa\""));
	free_resp(r);
	r = rpc(fd, req_edit_guard(&q, 110, "forget", false, true,
				   "\\bvx-[0-9]{3}\\b"));
	CU_ASSERT(is_error(r, 110, CODE(EXISTS), "pattern",
			   "guard forget has regex \"\\bvx-[0-9]{3}\\b\" "
			   "already"));
	free_resp(r);
	r = rpc(fd, req_edit_guard(&q, 111, "pii", false, true, "a+"));
	CU_ASSERT(is_error(r, 111, CODE(INVALID), "pattern",
			   "/a+/: unbounded match width"));
	free_resp(r);
	api_backend_fail(harness_backend_of(g_h), API_OP_LIST_GUARDS,
			 CODE(UNAVAILABLE), "", "guards not loaded yet");
	r = rpc(fd, req_list_guards(&q, 112));
	CU_ASSERT(is_error(r, 112, CODE(UNAVAILABLE), "",
			   "guards not loaded yet"));
	free_resp(r);
	api_backend_fail(harness_backend_of(g_h), API_OP_LIST_GUARDS, 0, NULL,
			 NULL);
	api_backend_fail(harness_backend_of(g_h), API_OP_EDIT_GUARD,
			 CODE(INTERNAL), "", "publish failed");
	r = rpc(fd, req_edit_guard(&q, 113, "forget", false, false, "y"));
	CU_ASSERT(is_error(r, 113, CODE(INTERNAL), "", "publish failed"));
	free_resp(r);
	api_backend_fail(harness_backend_of(g_h), API_OP_EDIT_GUARD, 0, NULL,
			 NULL);

	/* Put forget back as it was, for the tests after this one. */
	r = rpc(fd, req_edit_guard(&q, 114, "forget", true, true,
				   "\\bzz-[0-9]{4}\\b"));
	CU_ASSERT(r != NULL && r->error == NULL);
	free_resp(r);
	r = rpc(fd, req_edit_guard(&q, 115, "forget", true, false,
				   "Tofu \"Island\" ☃"));
	CU_ASSERT(r != NULL && r->error == NULL);
	free_resp(r);
	r = rpc(fd, req_edit_guard(&q, 116, "forget", false, false,
				   "Hsiao Yun-Hwa"));
	CU_ASSERT(r != NULL && r->error == NULL && r->guards != NULL &&
		  r->guards->guards[0]->n_rules == 2);
	free_resp(r);

	/* Counted as requests; refusals as backend errors by code. */
	b = recorded(g_h);
	CU_ASSERT_EQUAL(b.calls[API_OP_LIST_GUARDS], 3);
	CU_ASSERT_EQUAL(b.calls[API_OP_EDIT_GUARD], 13);
	s1 = harness_api_stats(g_h);
	CU_ASSERT_EQUAL(s1.requests - s0.requests, 16);
	CU_ASSERT_EQUAL(s1.responses - s0.responses, 16);
	CU_ASSERT_EQUAL(s1.backend_errors - s0.backend_errors, 6);
	CU_ASSERT_EQUAL(s1.errors - s0.errors, 6);
	CU_ASSERT_EQUAL(s1.invalid, s0.invalid);
	CU_ASSERT_EQUAL(
		s1.by_code[CODE(NOT_FOUND)] - s0.by_code[CODE(NOT_FOUND)], 2);
	CU_ASSERT_EQUAL(s1.by_code[CODE(EXISTS)] - s0.by_code[CODE(EXISTS)], 1);
	CU_ASSERT_EQUAL(s1.by_code[CODE(INVALID)] - s0.by_code[CODE(INVALID)],
			1);
	close(fd);
}

/* ---- the server's own checks ---- */

static void
test_rejections(void)
{
	char long_name[48], long_pattern[600];
	int fd = client_unix(harness_unix_path(g_h));
	struct api_backend before, after;
	struct sl_api_stats s0, s1;
	Sluice__V1__Response *r;
	struct req q;
	unsigned int n = 0;

	memset(long_name, 'a', 40);
	long_name[40] = '\0';
	memset(long_pattern, 'p', 512);
	long_pattern[512] = '\0';
	CU_ASSERT_FATAL(fd >= 0);
	before = recorded(g_h);
	s0 = harness_api_stats(g_h);
#define REJECT(req, field, msg)                                                \
	do {                                                                   \
		r = rpc(fd, (req));                                            \
		CU_ASSERT(is_error(r, q.r.id, CODE(INVALID), (field), (msg))); \
		free_resp(r);                                                  \
		n++;                                                           \
	} while (0)
	REJECT(req_apply(&q, 51, "", "demo.yaml", false), "yaml",
	       "demo.yaml: empty pipeline file");
	REJECT(req_apply(&q, 52, "a: 1", "two\nlines", false), "name",
	       "must be one line of at most 255 characters");
	REJECT(req_get(&q, 53, "bad name!"), "name",
	       "must be 1..31 characters of [A-Za-z0-9_.-], got \"bad name!\"");
	REJECT(req_list(&q, 54, "x y", ""), "pipeline", "must be 1..31");
	REJECT(req_list(&q, 55, "demo", long_name), "stage", "must be 1..31");
	REJECT(req_add(&q, 56, "", "draft", "n", "10.0.0.1", 1), "pipeline",
	       "required");
	REJECT(req_add(&q, 57, "demo", "", "n", "10.0.0.1", 1), "stage",
	       "required");
	REJECT(req_add(&q, 58, "demo", "draft", NULL, NULL, 0), "instance",
	       "required");
	REJECT(req_add(&q, 59, "demo", "draft", "n", "10.0.0.256", 1),
	       "instance.address",
	       "must be a dotted-quad IPv4 address, got \"10.0.0.256\"");
	REJECT(req_add(&q, 60, "demo", "draft", "n", "", 1), "instance.address",
	       "required");
	REJECT(req_add(&q, 61, "demo", "draft", "n", "224.0.0.1", 1),
	       "instance.address", "must be a unicast address, got 224.0.0.1");
	REJECT(req_add(&q, 62, "demo", "draft", "n", "10.0.0.1", 0),
	       "instance.port", "must be 1..65535, got 0");
	REJECT(req_add(&q, 63, "demo", "draft", "n", "10.0.0.1", 70000),
	       "instance.port", "must be 1..65535, got 70000");
	REJECT(req_add(&q, 64, "demo", "draft", "a b", "10.0.0.1", 1),
	       "instance.name",
	       "must be 1..31 characters of [A-Za-z0-9_.-/], got \"a b\"");
	REJECT(req_remove(&q, 65, "demo", "draft", ""), "instance", "required");
	REJECT(req_drain(&q, 66, "demo", long_name, "x"), "stage",
	       "must be 1..31");
	REJECT(req_drain(&q, 67, "de\x01mo", "draft", "x"), "pipeline",
	       "must be 1..31 characters of [A-Za-z0-9_.-], got \"de?mo\"");
	/* EditGuard: the guard's name, then the pattern. */
	REJECT(req_edit_guard(&q, 120, "", false, false, "x"), "guard",
	       "required");
	REJECT(req_edit_guard(&q, 121, "bad name!", true, false, "x"), "guard",
	       "must be 1..31 characters of [A-Za-z0-9_.-], got \"bad name!\"");
	REJECT(req_edit_guard(&q, 122, long_name, false, true, "x"), "guard",
	       "must be 1..31 characters of [A-Za-z0-9_.-], got "
	       "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"");
	REJECT(req_edit_guard(&q, 123, "forget/x", false, false, "x"), "guard",
	       "must be 1..31 characters of [A-Za-z0-9_.-], got \"forget/x\"");
	REJECT(req_edit_guard(&q, 124, "", false, false, ""), "guard",
	       "required");
	REJECT(req_edit_guard(&q, 125, "forget", false, false, ""), "pattern",
	       "required");
	REJECT(req_edit_guard(&q, 126, "forget", true, true, ""), "pattern",
	       "required");
	REJECT(req_edit_guard(&q, 127, "forget", false, false, long_pattern),
	       "pattern", "must be at most 511 bytes, got 512");
	REJECT(req_edit_guard(&q, 128, "forget", false, true, "ab\xff"),
	       "pattern", "must be valid UTF-8, got byte 0xff at offset 2");
	/* Cut short, overlong, a surrogate, past U+10FFFF, a stray
	 * continuation byte. */
	REJECT(req_edit_guard(&q, 129, "forget", false, false, "caf\xc3"),
	       "pattern", "must be valid UTF-8, got byte 0xc3 at offset 3");
	REJECT(req_edit_guard(&q, 130, "forget", false, false, "\xc0\xaf"),
	       "pattern", "must be valid UTF-8, got byte 0xc0 at offset 0");
	REJECT(req_edit_guard(&q, 131, "forget", false, false, "\xe0\x80\xaf"),
	       "pattern", "must be valid UTF-8, got byte 0xe0 at offset 0");
	REJECT(req_edit_guard(&q, 132, "forget", false, false, "x\xed\xa0\x80"),
	       "pattern", "must be valid UTF-8, got byte 0xed at offset 1");
	REJECT(req_edit_guard(&q, 133, "forget", false, false,
			      "\xf4\x90\x80\x80"),
	       "pattern", "must be valid UTF-8, got byte 0xf4 at offset 0");
	REJECT(req_edit_guard(&q, 134, "forget", false, false, "\xe2\x98"),
	       "pattern", "must be valid UTF-8, got byte 0xe2 at offset 0");
	REJECT(req_edit_guard(&q, 135, "forget", false, false, "\xe2\x98x"),
	       "pattern", "must be valid UTF-8, got byte 0xe2 at offset 0");
	REJECT(req_edit_guard(&q, 136, "forget", false, false, "ok \x80"),
	       "pattern", "must be valid UTF-8, got byte 0x80 at offset 3");
	REJECT(req_edit_guard(&q, 137, "forget", false, false,
			      "\xf8\x88\x80\x80"),
	       "pattern", "must be valid UTF-8, got byte 0xf8 at offset 0");
#undef REJECT
	after = recorded(g_h);
	/* The backend never saw them. */
	for (int op = 0; op < API_OP_MAX; op++)
		CU_ASSERT_EQUAL(after.calls[op], before.calls[op]);
	s1 = harness_api_stats(g_h);
	CU_ASSERT_EQUAL(s1.invalid - s0.invalid, n);
	CU_ASSERT_EQUAL(s1.by_code[CODE(INVALID)] - s0.by_code[CODE(INVALID)],
			n);
	CU_ASSERT_EQUAL(s1.requests - s0.requests, n);
	/* The connection is still good. */
	r = rpc(fd, req_version(&q, 68));
	CU_ASSERT(r != NULL && r->version != NULL);
	free_resp(r);
	close(fd);
}

/* A backend with nothing implemented, and one that fails without a code:
 * the server alone, through sl_api_dispatch. */
static int
fail_silently(void *ctx, bool reset, Sluice__V1__Stats *out,
	      struct sl_api_arena *arena, struct sl_api_error *err)
{
	(void)ctx;
	(void)reset;
	(void)out;
	(void)arena;
	(void)err;
	return -1;
}

static Sluice__V1__Response *
dispatch(struct sl_api *api, const Sluice__V1__Request *req, bool trusted,
	 enum sl_api_after *after)
{
	size_t len = sluice__v1__request__get_packed_size(req);
	uint8_t *buf = malloc(len + 1), *reply;
	size_t reply_len;
	Sluice__V1__Response *r = NULL;

	sluice__v1__request__pack(req, buf);
	*after = sl_api_dispatch(api, buf, len, trusted, &reply, &reply_len);
	if (reply != NULL && reply_len >= SL_FRAME_HDR)
		r = sluice__v1__response__unpack(NULL, reply_len - SL_FRAME_HDR,
						 reply + SL_FRAME_HDR);
	free(reply);
	free(buf);
	return r;
}

static void
test_dispatch_only(void)
{
	static const struct sl_api_backend_ops none = {0};
	static const struct sl_api_backend_ops silent = {.get_stats =
								 fail_silently};
	struct sl_api_params p = {0};
	enum sl_api_after after;
	Sluice__V1__Response *r;
	struct sl_api *api;
	struct req q;

	CU_ASSERT_PTR_NULL(sl_api_create(NULL, NULL, NULL, NULL));
	CU_ASSERT_EQUAL(errno, EINVAL);
	p.unix_path = "/tmp/x.sock";
	CU_ASSERT_PTR_NULL(sl_api_create(NULL, &p, &none, NULL));
	CU_ASSERT_EQUAL(errno, EINVAL);

	api = sl_api_create(NULL, NULL, &none, NULL);
	CU_ASSERT_FATAL(api != NULL);
	r = dispatch(api, req_stats(&q, 1, false), true, &after);
	CU_ASSERT(is_error(r, 1, CODE(UNAVAILABLE), "",
			   "not supported by this server"));
	CU_ASSERT_EQUAL(after, SL_API_KEEP);
	free_resp(r);
	r = dispatch(api, req_add(&q, 2, "demo", "s", "", "10.0.0.1", 5), true,
		     &after);
	CU_ASSERT(is_error(r, 2, CODE(UNAVAILABLE), "", NULL));
	free_resp(r);
	r = dispatch(api, req_list_guards(&q, 6), true, &after);
	CU_ASSERT(is_error(r, 6, CODE(UNAVAILABLE), "",
			   "not supported by this server"));
	CU_ASSERT_EQUAL(after, SL_API_KEEP);
	free_resp(r);
	r = dispatch(api, req_edit_guard(&q, 7, "forget", false, false, "x"),
		     true, &after);
	CU_ASSERT(is_error(r, 7, CODE(UNAVAILABLE), "",
			   "not supported by this server"));
	free_resp(r);
	/* The server's checks come first, as for the other requests. */
	r = dispatch(api, req_edit_guard(&q, 8, "forget", false, false, ""),
		     true, &after);
	CU_ASSERT(is_error(r, 8, CODE(INVALID), "pattern", "required"));
	free_resp(r);
	/* SetPolicy: one of stage and pool, a policy the server knows,
	 * names as everywhere; then the backend (none here). */
	r = dispatch(api, req_set_policy(&q, 9, "demo", "a", "lm", 1), true,
		     &after);
	CU_ASSERT(is_error(r, 9, CODE(INVALID), "stage",
			   "name a stage or a pool (one of the two)"));
	free_resp(r);
	r = dispatch(api, req_set_policy(&q, 10, "demo", "", "", 1), true,
		     &after);
	CU_ASSERT(is_error(r, 10, CODE(INVALID), "stage",
			   "name a stage or a pool (one of the two)"));
	free_resp(r);
	r = dispatch(api, req_set_policy(&q, 11, "demo", "", "lm", 4), true,
		     &after);
	CU_ASSERT(is_error(r, 11, CODE(INVALID), "policy", "not a policy (4)"));
	free_resp(r);
	r = dispatch(api, req_set_policy(&q, 12, "demo", "", "l m", 3), true,
		     &after);
	CU_ASSERT(is_error(r, 12, CODE(INVALID), "pool", NULL));
	free_resp(r);
	r = dispatch(api, req_set_policy(&q, 13, "demo", "", "lm", 3), true,
		     &after);
	CU_ASSERT(is_error(r, 13, CODE(UNAVAILABLE), "",
			   "not supported by this server"));
	free_resp(r);
	CU_ASSERT_EQUAL(sl_api_stats(api).by_code[CODE(UNAVAILABLE)], 5);
	CU_ASSERT_EQUAL(sl_api_stats(api).invalid, 5);
	/* Version needs no backend. */
	r = dispatch(api, req_version(&q, 3), true, &after);
	CU_ASSERT(r != NULL && r->version != NULL &&
		  strcmp(r->version->version, "unknown") == 0 &&
		  r->version->generation == 0);
	free_resp(r);
	/* No token configured: a TCP-like (untrusted) request is refused. */
	r = dispatch(api, req_version(&q, 4), false, &after);
	CU_ASSERT(is_error(r, 4, CODE(UNAUTHENTICATED), "token",
			   "missing token"));
	CU_ASSERT_EQUAL(after, SL_API_CLOSE);
	free_resp(r);
	sl_api_destroy(api);

	api = sl_api_create(NULL, NULL, &silent, NULL);
	CU_ASSERT_FATAL(api != NULL);
	r = dispatch(api, req_stats(&q, 5, false), true, &after);
	CU_ASSERT(is_error(r, 5, CODE(INTERNAL), "", "backend failed"));
	free_resp(r);
	CU_ASSERT_EQUAL(sl_api_stats(api).backend_errors, 1);
	CU_ASSERT_EQUAL(sl_api_stats(api).by_code[CODE(INTERNAL)], 1);
	sl_api_destroy(api);
}

static void
test_error_from_line(void)
{
	struct sl_api_error e;

	sl_api_error_from_line(&e, CODE(INVALID),
			       "a:b.yaml:12: pipelines[0].id: must be 1..9");
	CU_ASSERT_STRING_EQUAL(e.field, "pipelines[0].id");
	CU_ASSERT_STRING_EQUAL(e.message,
			       "a:b.yaml:12: pipelines[0].id: must be 1..9");
	sl_api_error_from_line(&e, CODE(INVALID), "demo.yaml: cannot read");
	CU_ASSERT_STRING_EQUAL(e.field, "");
	sl_api_error_from_line(&e, CODE(INVALID),
			       "d.yaml:3: did not find expected key");
	CU_ASSERT_STRING_EQUAL(e.field, "");
	CU_ASSERT_STRING_EQUAL(sl_api_code_name(CODE(UNAUTHENTICATED)),
			       "UNAUTHENTICATED");
	CU_ASSERT_STRING_EQUAL(sl_api_code_name(99), "UNKNOWN");
}

/* ---- bad input ---- */

static void
test_no_body(void)
{
	/* id 9, then field 30 (a kind from the future), length 0. */
	static const uint8_t unknown_kind[] = {0, 0,    0,    5,   0x08,
					       9, 0xf2, 0x01, 0x00};
	int fd = client_unix(harness_unix_path(g_h));
	struct sl_api_stats s0 = harness_api_stats(g_h), s1;
	Sluice__V1__Response *r;
	struct req q;

	CU_ASSERT_FATAL(fd >= 0);
	req_init(&q, 5);
	r = rpc(fd, &q.r);
	CU_ASSERT(is_error(r, 5, CODE(BAD_REQUEST), "", "request has no body"));
	free_resp(r);
	CU_ASSERT_EQUAL(send_all(fd, unknown_kind, sizeof(unknown_kind)), 0);
	r = recv_response(fd);
	CU_ASSERT(is_error(r, 9, CODE(BAD_REQUEST), "", "request has no body"));
	free_resp(r);
	/* Still open. */
	r = rpc(fd, req_version(&q, 6));
	CU_ASSERT(r != NULL && r->version != NULL && r->id == 6);
	free_resp(r);
	s1 = harness_api_stats(g_h);
	CU_ASSERT_EQUAL(s1.no_body - s0.no_body, 2);
	CU_ASSERT_EQUAL(s1.by_code[CODE(BAD_REQUEST)] -
				s0.by_code[CODE(BAD_REQUEST)],
			2);
	close(fd);
}

static void
test_garbage(void)
{
	/* Wire type 7 does not exist: no protobuf reads this. */
	static const uint8_t garbage[] = {0,    0,    0,    6,    0x0f,
					  0x0f, 0x0f, 0x0f, 0x0f, 0x0f};
	int fd = client_unix(harness_unix_path(g_h));
	struct sl_api_stats s0 = harness_api_stats(g_h), s1;
	Sluice__V1__Response *r;

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(send_all(fd, garbage, sizeof(garbage)), 0);
	r = recv_response(fd);
	CU_ASSERT(is_error(r, 0, CODE(BAD_REQUEST), "",
			   "frame of 6 bytes is not a Request"));
	free_resp(r);
	CU_ASSERT_TRUE(peer_closed(fd));
	close(fd);
	s1 = harness_api_stats(g_h);
	CU_ASSERT_EQUAL(s1.bad_frame - s0.bad_frame, 1);
}

static void
test_oversized(void)
{
	uint8_t buf[SL_FRAME_HDR + 64];
	int fd = client_unix(harness_unix_path(g_h));
	struct sl_api_stats s0 = harness_api_stats(g_h), s1;
	Sluice__V1__Response *r;

	CU_ASSERT_FATAL(fd >= 0);
	sl_frame_put_header(buf, 2u << 20);
	memset(buf + SL_FRAME_HDR, 'x', 64);
	CU_ASSERT_EQUAL(send_all(fd, buf, sizeof(buf)), 0);
	r = recv_response(fd);
	CU_ASSERT(is_error(r, 0, CODE(BAD_REQUEST), "",
			   "frame of 2097152 bytes exceeds the limit of "
			   "1048576"));
	free_resp(r);
	CU_ASSERT_TRUE(peer_closed(fd));
	close(fd);

	fd = client_unix(harness_unix_path(g_h));
	CU_ASSERT_FATAL(fd >= 0);
	memset(buf, 0, 8);
	CU_ASSERT_EQUAL(send_all(fd, buf, 8), 0);
	r = recv_response(fd);
	CU_ASSERT(is_error(r, 0, CODE(BAD_REQUEST), "", "frame of length 0"));
	free_resp(r);
	CU_ASSERT_TRUE(peer_closed(fd));
	close(fd);
	s1 = harness_api_stats(g_h);
	CU_ASSERT_EQUAL(s1.frame_too_large - s0.frame_too_large, 1);
	CU_ASSERT_EQUAL(s1.frame_empty - s0.frame_empty, 1);
}

static void
test_truncated(void)
{
	uint8_t buf[SL_FRAME_HDR + 10] = {0};
	int fd = client_unix(harness_unix_path(g_h));
	struct sl_api_stats s0 = harness_api_stats(g_h), s1;
	uint64_t deadline;

	CU_ASSERT_FATAL(fd >= 0);
	sl_frame_put_header(buf, 100);
	CU_ASSERT_EQUAL(send_all(fd, buf, sizeof(buf)), 0);
	shutdown(fd, SHUT_WR);
	CU_ASSERT_TRUE(peer_closed(fd)); /* no reply: nothing to answer */
	close(fd);
	deadline = now_ms() + 3000;
	do {
		s1 = harness_api_stats(g_h);
	} while (s1.truncated == s0.truncated && now_ms() < deadline);
	CU_ASSERT_EQUAL(s1.truncated - s0.truncated, 1);
	CU_ASSERT_EQUAL(s1.responses, s0.responses);
}

static void
test_pipelined_and_trickled(void)
{
	int fd = client_unix(harness_unix_path(g_h));
	Sluice__V1__Request *rq;
	Sluice__V1__Response *r;
	uint8_t buf[256];
	size_t len, off;
	struct req q;

	CU_ASSERT_FATAL(fd >= 0);
	/* Three requests in one write: three answers, in order. */
	off = 0;
	for (uint64_t id = 71; id <= 73; id++) {
		rq = id == 72 ? req_get(&q, id, "demo") : req_version(&q, id);
		len = sluice__v1__request__get_packed_size(rq);
		sl_frame_put_header(buf + off, (uint32_t)len);
		sluice__v1__request__pack(rq, buf + off + SL_FRAME_HDR);
		off += SL_FRAME_HDR + len;
	}
	CU_ASSERT_EQUAL(send_all(fd, buf, off), 0);
	for (uint64_t id = 71; id <= 73; id++) {
		r = recv_response(fd);
		CU_ASSERT(r != NULL && r->id == id && r->error == NULL);
		CU_ASSERT(
			r != NULL &&
			r->result_case ==
				(id == 72
					 ? SLUICE__V1__RESPONSE__RESULT_PIPELINES
					 : SLUICE__V1__RESPONSE__RESULT_VERSION));
		free_resp(r);
	}
	/* One byte per write. */
	rq = req_list(&q, 74, "demo", "claims");
	len = sluice__v1__request__get_packed_size(rq);
	sl_frame_put_header(buf, (uint32_t)len);
	sluice__v1__request__pack(rq, buf + SL_FRAME_HDR);
	for (size_t i = 0; i < SL_FRAME_HDR + len; i++) {
		CU_ASSERT_EQUAL(send_all(fd, buf + i, 1), 0);
		sleep_ms(1);
	}
	r = recv_response(fd);
	CU_ASSERT(r != NULL && r->id == 74 && r->instances != NULL &&
		  r->instances->n_instances == 1);
	free_resp(r);
	close(fd);
}

static void
test_slowloris(void)
{
	struct harness_opts o = {.idle_timeout_ms = 1000};
	struct harness *h = harness_start(&o);
	int slow, steady;
	uint64_t t0, closed_at = 0;
	unsigned int answered = 0;
	struct sl_api_stats s;
	uint8_t hdr[SL_FRAME_HDR];
	struct req q;

	CU_ASSERT_FATAL(h != NULL);
	slow = client_unix(harness_unix_path(h));
	steady = client_unix(harness_unix_path(h));
	CU_ASSERT_FATAL(slow >= 0 && steady >= 0);
	/* slow announces 1000 bytes and sends one every 200 ms; steady sends
	 * a whole request every 400 ms. Only slow is closed. */
	sl_frame_put_header(hdr, 1000);
	CU_ASSERT_EQUAL(send_all(slow, hdr, sizeof(hdr)), 0);
	t0 = now_ms();
	for (int i = 0; i < 14; i++) {
		char ch = 'x';

		if (closed_at == 0 && send(slow, &ch, 1, MSG_NOSIGNAL) != 1)
			closed_at = now_ms();
		if (i % 2 == 0) {
			Sluice__V1__Response *r =
				rpc(steady, req_version(&q, (uint64_t)i));

			answered += r != NULL && r->version != NULL;
			free_resp(r);
		}
		sleep_ms(200);
	}
	CU_ASSERT_EQUAL(answered, 7);
	CU_ASSERT_TRUE(peer_closed(slow) || closed_at != 0);
	s = harness_api_stats(h);
	CU_ASSERT_EQUAL(s.idle_closed, 1);
	CU_ASSERT(closed_at == 0 || closed_at - t0 >= 900);
	close(slow);
	close(steady);
	harness_stop(h);
}

static void
test_idle_crowd(void)
{
	struct harness_opts o = {.idle_timeout_ms = 1500};
	struct harness *h = harness_start(&o);
	int idle[300];
	int good;
	uint64_t t0, worst = 0;
	unsigned int ok = 0, closed = 0;
	struct sl_loop_stats ls;
	struct req q;

	CU_ASSERT_FATAL(h != NULL);
	for (int i = 0; i < 300; i++) {
		idle[i] = client_unix(harness_unix_path(h));
		CU_ASSERT_FATAL(idle[i] >= 0);
	}
	good = client_unix(harness_unix_path(h));
	CU_ASSERT_FATAL(good >= 0);
	for (int i = 0; i < 20; i++) {
		Sluice__V1__Response *r;
		uint64_t dt;

		t0 = now_ms();
		r = rpc(good, req_stats(&q, (uint64_t)i, false));
		dt = now_ms() - t0;
		worst = dt > worst ? dt : worst;
		ok += r != NULL && r->stats != NULL;
		free_resp(r);
	}
	CU_ASSERT_EQUAL(ok, 20);
	CU_ASSERT(worst < 500);
	/* All 300 go at the idle timeout; the good client too, later. */
	sleep_ms(1800);
	for (int i = 0; i < 300; i++) {
		closed += peer_closed(idle[i]);
		close(idle[i]);
	}
	CU_ASSERT_EQUAL(closed, 300);
	ls = harness_loop_stats(h);
	CU_ASSERT(ls.closed_idle >= 300);
	CU_ASSERT_EQUAL(ls.accepted, 301);
	close(good);
	harness_stop(h);
}

static void
test_max_conns(void)
{
	struct harness_opts o = {.max_conns = 20};
	struct harness *h = harness_start(&o);
	int fds[30];
	unsigned int closed = 0;
	struct sl_loop_stats ls;
	Sluice__V1__Response *r;
	struct req q;

	CU_ASSERT_FATAL(h != NULL);
	for (int i = 0; i < 30; i++) {
		fds[i] = client_unix(harness_unix_path(h));
		CU_ASSERT_FATAL(fds[i] >= 0);
	}
	sleep_ms(200);
	ls = harness_loop_stats(h);
	CU_ASSERT_EQUAL(ls.accepted, 20);
	CU_ASSERT_EQUAL(ls.rejected_full, 10);
	for (int i = 20; i < 30; i++)
		closed += peer_closed(fds[i]);
	CU_ASSERT_EQUAL(closed, 10);
	/* The first 20 are served. */
	r = rpc(fds[0], req_version(&q, 1));
	CU_ASSERT(r != NULL && r->version != NULL);
	free_resp(r);
	for (int i = 0; i < 30; i++)
		close(fds[i]);
	harness_stop(h);
}

/* ---- transports ---- */

static void
test_tcp_token(void)
{
	struct harness_opts o = {.tcp = true};
	struct harness *h = harness_start(&o);
	struct sl_api_stats s;
	Sluice__V1__Response *r;
	struct req q;
	int fd;

	CU_ASSERT_FATAL(h != NULL);
	CU_ASSERT(harness_tcp_port(h) != 0);

	fd = client_tcp(harness_tcp_port(h));
	CU_ASSERT_FATAL(fd >= 0);
	req_version(&q, 81);
	q.r.token = HARNESS_TOKEN;
	r = rpc(fd, &q.r);
	CU_ASSERT(r != NULL && r->version != NULL && r->id == 81);
	free_resp(r);
	req_stats(&q, 82, false);
	q.r.token = HARNESS_TOKEN;
	r = rpc(fd, &q.r);
	CU_ASSERT(r != NULL && r->stats != NULL);
	free_resp(r);
	close(fd);

	fd = client_tcp(harness_tcp_port(h));
	CU_ASSERT_FATAL(fd >= 0);
	req_version(&q, 83);
	q.r.token = HARNESS_TOKEN "x";
	r = rpc(fd, &q.r);
	CU_ASSERT(
		is_error(r, 83, CODE(UNAUTHENTICATED), "token", "wrong token"));
	free_resp(r);
	CU_ASSERT_TRUE(peer_closed(fd));
	close(fd);

	fd = client_tcp(harness_tcp_port(h));
	CU_ASSERT_FATAL(fd >= 0);
	r = rpc(fd, req_version(&q, 84));
	CU_ASSERT(is_error(r, 84, CODE(UNAUTHENTICATED), "token",
			   "missing token"));
	free_resp(r);
	CU_ASSERT_TRUE(peer_closed(fd));
	close(fd);

	fd = client_tcp(harness_tcp_port(h));
	CU_ASSERT_FATAL(fd >= 0);
	req_version(&q, 85);
	q.r.token = "s3cret-toke"; /* a prefix */
	r = rpc(fd, &q.r);
	CU_ASSERT(is_error(r, 85, CODE(UNAUTHENTICATED), "token", NULL));
	free_resp(r);
	close(fd);

	/* The unix socket ignores the token. */
	fd = client_unix(harness_unix_path(h));
	CU_ASSERT_FATAL(fd >= 0);
	req_version(&q, 86);
	q.r.token = "whatever";
	r = rpc(fd, &q.r);
	CU_ASSERT(r != NULL && r->version != NULL);
	free_resp(r);
	close(fd);

	s = harness_api_stats(h);
	CU_ASSERT_EQUAL(s.unauthenticated, 3);
	CU_ASSERT_EQUAL(s.by_code[CODE(UNAUTHENTICATED)], 3);
	harness_stop(h);
}

static void
quiet(const char *line, void *ctx)
{
	(void)line;
	(void)ctx;
}

static void
test_unix_socket(void)
{
	struct sl_api_params p = {0};
	struct sl_loop_params lp = {.log = quiet};
	char dir[] = "/tmp/sl_api_sock.XXXXXX";
	char path[96], file[96];
	struct sl_loop *loop;
	struct sl_api *api;
	struct stat st;
	int fd;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};

	/* The harness's socket: 0600. */
	CU_ASSERT_EQUAL_FATAL(stat(harness_unix_path(g_h), &st), 0);
	CU_ASSERT_TRUE(S_ISSOCK(st.st_mode));
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0600);

	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	loop = sl_loop_create(harness_backend, &lp);
	CU_ASSERT_FATAL(loop != NULL);

	/* A stale socket file (bound, nobody listening) is replaced. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	CU_ASSERT_EQUAL(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	p.unix_path = path;
	p.unix_mode = 0660;
	p.log = quiet;
	api = sl_api_create(loop, &p, &api_backend_ops, NULL);
	CU_ASSERT_FATAL(api != NULL);
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0660);
	/* Live: a second server refuses the path. */
	CU_ASSERT_PTR_NULL(sl_api_create(loop, &p, &api_backend_ops, NULL));
	CU_ASSERT_EQUAL(errno, EADDRINUSE);
	sl_loop_destroy(loop);
	sl_api_destroy(api);
	/* Gone with the server. */
	CU_ASSERT_NOT_EQUAL(stat(path, &st), 0);

	loop = sl_loop_create(harness_backend, &lp);
	CU_ASSERT_FATAL(loop != NULL);
	/* Something else at the path is left alone. */
	snprintf(file, sizeof(file), "%s/f", dir);
	fd = open(file, O_CREAT | O_WRONLY, 0600);
	close(fd);
	p.unix_path = file;
	CU_ASSERT_PTR_NULL(sl_api_create(loop, &p, &api_backend_ops, NULL));
	CU_ASSERT_EQUAL(errno, EEXIST);
	CU_ASSERT_EQUAL(stat(file, &st), 0);
	unlink(file);
	/* The directory must exist. */
	p.unix_path = "/tmp/sl_api_no_such_dir/x.sock";
	CU_ASSERT_PTR_NULL(sl_api_create(loop, &p, &api_backend_ops, NULL));
	CU_ASSERT_EQUAL(errno, ENOENT);
	/* TCP needs a token. */
	p.unix_path = NULL;
	p.tcp = true;
	CU_ASSERT_PTR_NULL(sl_api_create(loop, &p, &api_backend_ops, NULL));
	CU_ASSERT_EQUAL(errno, EINVAL);
	sl_loop_destroy(loop);
	rmdir(dir);
}

/* ---- security ---- */

/* A Request of every kind the protocol has (every field of the oneof),
 * classified: none may be left without a role. */
static void
test_op_roles(void)
{
	static const struct {
		const char *name;
		enum sl_api_role role;
	} want[] = {
		{"apply", SL_API_ROLE_ADMIN},
		{"get", SL_API_ROLE_READ},
		{"instances", SL_API_ROLE_READ},
		{"add", SL_API_ROLE_ADMIN},
		{"remove", SL_API_ROLE_ADMIN},
		{"drain", SL_API_ROLE_ADMIN},
		{"stats", SL_API_ROLE_READ},
		{"version", SL_API_ROLE_READ},
		{"guard list", SL_API_ROLE_READ},
		{"guard add", SL_API_ROLE_ADMIN},
		{"policy set", SL_API_ROLE_ADMIN},
		{"cost add", SL_API_ROLE_ADMIN},
		{"cost fit", SL_API_ROLE_ADMIN},
		{"cost train", SL_API_ROLE_ADMIN},
		{"cost show", SL_API_ROLE_READ},
	};
	const ProtobufCMessageDescriptor *d = &sluice__v1__request__descriptor;
	unsigned int kinds = 0;
	Sluice__V1__GetStats gs = SLUICE__V1__GET_STATS__INIT;
	Sluice__V1__EditGuard eg = SLUICE__V1__EDIT_GUARD__INIT;
	Sluice__V1__Request rq = SLUICE__V1__REQUEST__INIT;
	const char *name;

	for (unsigned int i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
		ProtobufCMessage *body;
		enum sl_api_role role;
		bool found = false;

		if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
			continue;
		kinds++;
		body = calloc(
			1, ((const ProtobufCMessageDescriptor *)f->descriptor)
				   ->sizeof_message);
		CU_ASSERT_FATAL(body != NULL);
		((const ProtobufCMessageDescriptor *)f->descriptor)
			->message_init(body);
		*(uint32_t *)((char *)&req + f->quantifier_offset) = f->id;
		*(ProtobufCMessage **)((char *)&req + f->offset) = body;
		name = NULL;
		role = sl_api_op_role(&req, &name);
		CU_ASSERT_NOT_EQUAL(role, SL_API_ROLE_NONE);
		CU_ASSERT_PTR_NOT_NULL(name);
		for (size_t k = 0; name && k < sizeof(want) / sizeof(want[0]);
		     k++)
			if (strcmp(name, want[k].name) == 0) {
				found = true;
				CU_ASSERT_EQUAL(role, want[k].role);
			}
		if (!found)
			printf("\n    request field %s (%u): op \"%s\" not in "
			       "the table",
			       f->name, f->id, name ? name : "(none)");
		CU_ASSERT_TRUE(found);
		free(body);
	}
	CU_ASSERT_EQUAL(kinds, 15);
	/* What depends on the arguments. */
	rq.body_case = SLUICE__V1__REQUEST__BODY_GET_STATS;
	rq.get_stats = &gs;
	gs.reset = true;
	CU_ASSERT_EQUAL(sl_api_op_role(&rq, &name), SL_API_ROLE_ADMIN);
	CU_ASSERT_STRING_EQUAL(name, "stats --reset");
	rq.body_case = SLUICE__V1__REQUEST__BODY_EDIT_GUARD;
	rq.edit_guard = &eg;
	eg.remove = true;
	CU_ASSERT_EQUAL(sl_api_op_role(&rq, &name), SL_API_ROLE_ADMIN);
	CU_ASSERT_STRING_EQUAL(name, "guard remove");
	rq.body_case = SLUICE__V1__REQUEST__BODY__NOT_SET;
	CU_ASSERT_EQUAL(sl_api_op_role(&rq, &name), SL_API_ROLE_NONE);
}

/* Every change with @token (NULL: none, the connection's role) on @fd:
 * each refused with PERMISSION_DENIED naming it, the connection open. */
static unsigned int
expect_changes_denied(int fd, const char *token, const char *who)
{
	struct req q;
	Sluice__V1__Request *changes[7];
	static const char *const ops[] = {
		"apply",         "add",       "remove",      "drain",
		"stats --reset", "guard add", "guard remove"};
	struct req qs[7];
	unsigned int ok = 0;

	changes[0] = req_apply(&qs[0], 901, "x: 1\n", "x.yaml", true);
	changes[1] =
		req_add(&qs[1], 902, "demo", "claims", "c2", "10.0.0.9", 7801);
	changes[2] = req_remove(&qs[2], 903, "demo", "claims", "claims/0");
	changes[3] = req_drain(&qs[3], 904, "demo", "claims", "claims/0");
	changes[4] = req_stats(&qs[4], 905, true);
	changes[5] = req_edit_guard(&qs[5], 906, "forget", false, false, "x");
	changes[6] = req_edit_guard(&qs[6], 907, "forget", true, false, "x");
	for (int i = 0; i < 7; i++) {
		Sluice__V1__Response *r;
		char msg[128];

		if (token != NULL)
			changes[i]->token = (char *)token;
		r = rpc(fd, changes[i]);
		snprintf(msg, sizeof(msg),
			 "%s needs the admin role; this caller is %s", ops[i],
			 who);
		ok += is_error(r, 901 + (uint64_t)i, CODE(PERMISSION_DENIED),
			       "", msg);
		free_resp(r);
	}
	/* Still open for reads. */
	{
		Sluice__V1__Response *r = rpc(fd, req_version(&q, 999));

		ok += r != NULL && r->version != NULL;
		free_resp(r);
	}
	return ok;
}

/* The audit file's lines without their timestamps, in @out. */
static unsigned int
audit_lines(const char *path, char lines[][512], unsigned int max)
{
	FILE *f = fopen(path, "r");
	char buf[2048];
	unsigned int n = 0;

	if (f == NULL)
		return 0;
	while (n < max && fgets(buf, sizeof(buf), f) != NULL) {
		const char *sp = strchr(buf, ' ');

		buf[strcspn(buf, "\n")] = '\0';
		/* 2026-12-06T00:17:01.123Z */
		CU_ASSERT(sp != NULL && sp - buf == 24 && buf[10] == 'T' &&
			  buf[23] == 'Z');
		snprintf(lines[n++], 512, "%.500s", sp ? sp + 1 : buf);
	}
	fclose(f);
	return n;
}

static void
test_ro_token_and_audit(void)
{
	char dir[] = "/tmp/sl_api_audit.XXXXXX", path[96];
	struct harness_opts o = {.tcp = true, .ro_token = true};
	struct api_backend b0, b1;
	struct sl_api_stats s;
	struct harness *h;
	Sluice__V1__Response *r;
	char lines[32][512], want[512];
	struct stat st;
	struct req q;
	int fd, port;
	unsigned int n;

	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	o.audit_log = path;
	h = harness_start(&o);
	CU_ASSERT_FATAL(h != NULL);
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
	b0 = recorded(h);

	/* Read-only: every read, no change. */
	fd = client_tcp(harness_tcp_port(h));
	CU_ASSERT_FATAL(fd >= 0);
	req_get(&q, 1, "");
	q.r.token = HARNESS_RO_TOKEN;
	r = rpc(fd, &q.r);
	CU_ASSERT(r != NULL && r->error == NULL && r->pipelines != NULL);
	free_resp(r);
	/* The connection keeps its role without the token. */
	r = rpc(fd, req_list(&q, 2, "", ""));
	CU_ASSERT(r != NULL && r->error == NULL && r->instances != NULL);
	free_resp(r);
	r = rpc(fd, req_stats(&q, 3, false));
	CU_ASSERT(r != NULL && r->error == NULL && r->stats != NULL);
	free_resp(r);
	r = rpc(fd, req_list_guards(&q, 4));
	CU_ASSERT(r != NULL && r->error == NULL && r->guards != NULL);
	free_resp(r);
	CU_ASSERT_EQUAL(expect_changes_denied(fd, NULL, "read-only"), 8);
	/* With the read-only token again: still denied. */
	CU_ASSERT_EQUAL(
		expect_changes_denied(fd, HARNESS_RO_TOKEN, "read-only"), 8);
	b1 = recorded(h);
	for (int op = 0; op < API_OP_MAX; op++)
		if (op != API_OP_GET && op != API_OP_LIST &&
		    op != API_OP_STATS && op != API_OP_LIST_GUARDS)
			CU_ASSERT_EQUAL(b1.calls[op], b0.calls[op]);
	/* The admin token on the same connection: changes pass. */
	req_drain(&q, 5, "demo", "claims", "claims/0");
	q.r.token = HARNESS_TOKEN;
	r = rpc(fd, &q.r);
	CU_ASSERT(r != NULL && r->error == NULL && r->instance != NULL);
	free_resp(r);
	close(fd);

	/* Admin from the start; a refused change is audited too. */
	fd = client_tcp(harness_tcp_port(h));
	CU_ASSERT_FATAL(fd >= 0);
	req_add(&q, 6, "demo", "claims", "c\"2\n", "10.0.0.9", 7801);
	q.r.token = HARNESS_TOKEN;
	r = rpc(fd, &q.r);
	CU_ASSERT(is_error(r, 6, CODE(INVALID), "instance.name", NULL));
	free_resp(r);
	r = rpc(fd,
		req_edit_guard(&q, 7, "forget", false, false, "Tofu Island"));
	CU_ASSERT(r != NULL && r->error == NULL && r->guards != NULL);
	free_resp(r);
	port = -1;
	{
		struct sockaddr_in sin;
		socklen_t sl = sizeof(sin);

		if (getsockname(fd, (struct sockaddr *)&sin, &sl) == 0)
			port = ntohs(sin.sin_port);
	}
	close(fd);

	s = harness_api_stats(h);
	CU_ASSERT_EQUAL(s.denied, 14);
	CU_ASSERT_EQUAL(s.by_code[CODE(PERMISSION_DENIED)], 14);
	CU_ASSERT_EQUAL(s.audited, 17);
	CU_ASSERT_EQUAL(s.audit_failed, 0);
	n = audit_lines(path, lines, 32);
	CU_ASSERT_EQUAL_FATAL(n, 17);
	/* Only changes are audited; the reads above left no line. */
	CU_ASSERT_PTR_NOT_NULL(strstr(lines[0], "peer=tcp addr=127.0.0.1:"));
	CU_ASSERT_PTR_NOT_NULL(
		strstr(lines[0],
		       " role=read op=\"apply\" name=\"x.yaml\" bytes=5 "
		       "dry_run=true result=PERMISSION_DENIED message=\"apply "
		       "needs the admin role; this caller is read-only\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(
		lines[1],
		" role=read op=\"add\" pipeline=\"demo\" stage=\"claims\" "
		"instance=\"c2\" address=\"10.0.0.9\" port=7801 "
		"result=PERMISSION_DENIED"));
	CU_ASSERT_PTR_NOT_NULL(strstr(lines[4],
				      " role=read op=\"stats --reset\" "
				      "result=PERMISSION_DENIED"));
	CU_ASSERT_PTR_NOT_NULL(
		strstr(lines[6],
		       " role=read op=\"guard remove\" guard=\"forget\" "
		       "kind=literal pattern=\"x\" result=PERMISSION_DENIED"));
	CU_ASSERT_PTR_NOT_NULL(
		strstr(lines[14], " role=admin op=\"drain\" pipeline=\"demo\" "
				  "stage=\"claims\" instance=\"claims/0\" "
				  "result=ok generation="));
	/* Quotes and line breaks of a request cannot break the line. */
	snprintf(want, sizeof(want),
		 "peer=tcp addr=127.0.0.1:%d role=admin op=\"add\" "
		 "pipeline=\"demo\" stage=\"claims\" "
		 "instance=\"c\\\"2\\x0a\" address=\"10.0.0.9\" port=7801 "
		 "result=INVALID field=\"instance.name\" message=\"must be "
		 "1..31 characters of [A-Za-z0-9_.-/], got \\\"c\\\"2?\\\"\"",
		 port);
	CU_ASSERT_STRING_EQUAL(lines[15], want);
	snprintf(want, sizeof(want),
		 "peer=tcp addr=127.0.0.1:%d role=admin op=\"guard add\" "
		 "guard=\"forget\" kind=literal pattern=\"Tofu Island\" "
		 "result=ok generation=%llu",
		 port, (unsigned long long)recorded(h).generation);
	CU_ASSERT_STRING_EQUAL(lines[16], want);
	harness_stop(h);
	unlink(path);
	rmdir(dir);
}

/* In a child with uid/gid 65534 (and @group as its only supplementary
 * group when non-zero): a read, then an add. Exit 0 when the read passed
 * and the add was denied (@admin false) or passed (@admin true). */
static int
child_as_nobody(struct harness *h, gid_t group, bool admin)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		Sluice__V1__Response *r;
		struct req q;
		int fd, rc = 0;

		if (setgroups(group ? 1 : 0, &group) != 0 ||
		    setgid(65534) != 0 || setuid(65534) != 0)
			_exit(10);
		fd = client_unix(harness_unix_path(h));
		if (fd < 0)
			_exit(11);
		r = rpc(fd, req_version(&q, 1));
		if (r == NULL || r->version == NULL)
			rc = 12;
		free_resp(r);
		r = rpc(fd, req_add(&q, 2, "demo", "claims", "kid", "10.0.0.7",
				    7801));
		if (admin ? (r == NULL || r->error != NULL)
			  : !is_error(r, 2, CODE(PERMISSION_DENIED), "",
				      "add needs the admin role; this caller "
				      "is read-only"))
			rc = 13;
		free_resp(r);
		close(fd);
		_exit(rc);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void
test_unix_roles(void)
{
	struct harness_opts o = {.unix_mode = 0666};
	struct harness *h;
	struct sl_api_stats s;

	if (geteuid() != 0) {
		printf("\n    (not root: the other-uid checks need root) ");
		return;
	}
	h = harness_start(&o);
	CU_ASSERT_FATAL(h != NULL);
	CU_ASSERT_EQUAL(child_as_nobody(h, 0, false), 0);
	s = harness_api_stats(h);
	CU_ASSERT_EQUAL(s.denied, 1);
	CU_ASSERT_EQUAL(recorded(h).calls[API_OP_ADD], 0);
	harness_stop(h);

	/* Members of the admin group may change things. */
	o.admin_gid_set = true;
	o.admin_gid = 4242;
	h = harness_start(&o);
	CU_ASSERT_FATAL(h != NULL);
	CU_ASSERT_EQUAL(child_as_nobody(h, 4242, true), 0);
	CU_ASSERT_EQUAL(child_as_nobody(h, 4243, false), 0);
	CU_ASSERT_EQUAL(recorded(h).calls[API_OP_ADD], 1);
	CU_ASSERT_EQUAL(harness_api_stats(h).denied, 1);
	harness_stop(h);
}

/* A Request framed, as bytes. */
static uint8_t *
framed(const Sluice__V1__Request *rq, size_t *len)
{
	size_t n = sluice__v1__request__get_packed_size(rq);
	uint8_t *buf = malloc(SL_FRAME_HDR + n);

	sl_frame_put_header(buf, (uint32_t)n);
	sluice__v1__request__pack(rq, buf + SL_FRAME_HDR);
	*len = SL_FRAME_HDR + n;
	return buf;
}

static void
test_preauth_limit(void)
{
	struct harness_opts o = {.tcp = true};
	struct harness *h = harness_start(&o);
	size_t big_len = 200000, len;
	char *big = malloc(big_len + 1);
	uint8_t hdr[SL_FRAME_HDR + 16] = {0}, *buf;
	Sluice__V1__Response *r;
	struct sl_api_stats s;
	struct req q;
	int fd;

	CU_ASSERT_FATAL(h != NULL && big != NULL);
	memset(big, '#', big_len);
	big[0] = 'x';
	big[1] = ':';
	big[2] = ' ';
	big[3] = '1';
	big[4] = '\n';
	big[big_len] = '\0';

	/* 4097 announced before any token: answered unread, closed. */
	fd = client_tcp(harness_tcp_port(h));
	CU_ASSERT_FATAL(fd >= 0);
	sl_frame_put_header(hdr, SL_API_PREAUTH_FRAME_MAX + 1);
	CU_ASSERT_EQUAL(send_all(fd, hdr, sizeof(hdr)), 0);
	r = recv_response(fd);
	CU_ASSERT(is_error(r, 0, CODE(UNAUTHENTICATED), "token",
			   "frame of 4097 bytes before authentication: at "
			   "most 4096 until a request has carried a valid "
			   "token"));
	free_resp(r);
	CU_ASSERT_TRUE(peer_closed(fd));
	close(fd);

	/* A big apply carrying the right token as the first request: the
	 * token is in the frame sluiced does not read. */
	fd = client_tcp(harness_tcp_port(h));
	CU_ASSERT_FATAL(fd >= 0);
	req_apply(&q, 1, big, "big.yaml", false);
	q.r.token = HARNESS_TOKEN;
	buf = framed(&q.r, &len);
	(void)send_all(fd, buf, len); /* may fail once sluiced closes */
	free(buf);
	r = recv_response(fd);
	CU_ASSERT(is_error(r, 0, CODE(UNAUTHENTICATED), "token", "frame of "));
	free_resp(r);
	close(fd);
	CU_ASSERT_EQUAL(recorded(h).calls[API_OP_APPLY], 0);

	/* A small authenticating request first, then the big one (without
	 * a token) in the same write: both answered, the apply whole. */
	fd = client_tcp(harness_tcp_port(h));
	CU_ASSERT_FATAL(fd >= 0);
	{
		struct req q2;
		uint8_t *a, *both;
		size_t alen;

		req_version(&q2, 2);
		q2.r.token = HARNESS_TOKEN;
		a = framed(&q2.r, &alen);
		req_apply(&q, 3, big, "big.yaml", false);
		buf = framed(&q.r, &len);
		both = malloc(alen + len);
		memcpy(both, a, alen);
		memcpy(both + alen, buf, len);
		CU_ASSERT_EQUAL(send_all(fd, both, alen + len), 0);
		free(a);
		free(buf);
		free(both);
	}
	r = recv_response(fd);
	CU_ASSERT(r != NULL && r->id == 2 && r->version != NULL);
	free_resp(r);
	r = recv_response(fd);
	CU_ASSERT(r != NULL && r->id == 3 && r->error == NULL &&
		  r->apply_pipeline != NULL);
	free_resp(r);
	close(fd);
	CU_ASSERT_EQUAL(recorded(h).calls[API_OP_APPLY], 1);
	CU_ASSERT_EQUAL(recorded(h).last_len, big_len);

	/* Exactly the limit is read before a token (and refused for the
	 * token it lacks). */
	fd = client_tcp(harness_tcp_port(h));
	CU_ASSERT_FATAL(fd >= 0);
	big[SL_API_PREAUTH_FRAME_MAX - 16] = '\0';
	req_apply(&q, 4, big, "a", false);
	buf = framed(&q.r, &len);
	CU_ASSERT(len - SL_FRAME_HDR <= SL_API_PREAUTH_FRAME_MAX &&
		  len - SL_FRAME_HDR > SL_API_PREAUTH_FRAME_MAX - 32);
	CU_ASSERT_EQUAL(send_all(fd, buf, len), 0);
	free(buf);
	r = recv_response(fd);
	CU_ASSERT(is_error(r, 4, CODE(UNAUTHENTICATED), "token",
			   "missing token"));
	free_resp(r);
	close(fd);

	s = harness_api_stats(h);
	CU_ASSERT_EQUAL(s.preauth_too_large, 2);
	CU_ASSERT_EQUAL(s.unauthenticated, 1);
	free(big);
	harness_stop(h);
}

/* A TCP request with @token on a new connection: its error code, or 0. */
static int
tcp_try(struct harness *h, const char *token, uint64_t id)
{
	Sluice__V1__Response *r;
	struct req q;
	int fd = client_tcp(harness_tcp_port(h)), code = -1;

	if (fd < 0)
		return -1;
	req_version(&q, id);
	q.r.token = (char *)token;
	r = rpc(fd, &q.r);
	if (r != NULL)
		code = r->error != NULL ? (int)r->error->code : 0;
	if (r != NULL && r->error != NULL && id == 1000)
		printf("\n    %s", r->error->message);
	free_resp(r);
	close(fd);
	return code;
}

static void
test_auth_rate_limit(void)
{
	struct harness_opts o = {.tcp = true};
	struct harness *h = harness_start(&o);
	Sluice__V1__Response *r;
	struct sl_api_stats s;
	struct req q;
	unsigned int wrong = 0;
	int keep, fd;

	CU_ASSERT_FATAL(h != NULL);
	/* Authenticated before the flood. */
	keep = client_tcp(harness_tcp_port(h));
	CU_ASSERT_FATAL(keep >= 0);
	req_version(&q, 1);
	q.r.token = HARNESS_TOKEN;
	r = rpc(keep, &q.r);
	CU_ASSERT(r != NULL && r->version != NULL);
	free_resp(r);

	for (int i = 0; i < SL_API_AUTH_FAIL_BURST; i++)
		wrong += tcp_try(h, "guess-guess-guess", 10 + (uint64_t)i) ==
			 CODE(UNAUTHENTICATED);
	CU_ASSERT_EQUAL(wrong, SL_API_AUTH_FAIL_BURST);
	/* The bucket is empty: not even the right token is compared. */
	fd = client_tcp(harness_tcp_port(h));
	CU_ASSERT_FATAL(fd >= 0);
	req_version(&q, 50);
	q.r.token = HARNESS_TOKEN;
	r = rpc(fd, &q.r);
	CU_ASSERT(is_error(r, 50, CODE(UNAUTHENTICATED), "token",
			   "too many failed authentications; try again in a "
			   "few seconds"));
	free_resp(r);
	CU_ASSERT_TRUE(peer_closed(fd));
	close(fd);
	/* A connection that authenticated before goes on. */
	r = rpc(keep, req_stats(&q, 51, false));
	CU_ASSERT(r != NULL && r->stats != NULL);
	free_resp(r);
	/* Refilled at SL_API_AUTH_FAIL_PER_S. */
	sleep_ms(1000 / SL_API_AUTH_FAIL_PER_S * 3);
	CU_ASSERT_EQUAL(tcp_try(h, HARNESS_TOKEN, 52), 0);
	s = harness_api_stats(h);
	CU_ASSERT_EQUAL(s.unauthenticated, SL_API_AUTH_FAIL_BURST);
	CU_ASSERT_EQUAL(s.auth_throttled, 1);
	close(keep);
	harness_stop(h);
}

static void
test_listener_limits(void)
{
	struct harness_opts o = {
		.tcp = true,
		.metrics = true,
		.unix_limits = {8, 0},
		.tcp_limits = {8, 0},
		.metrics_limits = {4, 400},
	};
	struct harness *h = harness_start(&o);
	struct sl_listener_stats ls;
	Sluice__V1__Response *r;
	int m[10], u[9], idle_unix;
	unsigned int closed = 0;
	struct req q;

	CU_ASSERT_FATAL(h != NULL);
	idle_unix = client_unix(harness_unix_path(h));
	CU_ASSERT_FATAL(idle_unix >= 0);
	/* Ten scrapers that never send a request. */
	for (int i = 0; i < 10; i++) {
		m[i] = client_tcp(harness_metrics_port(h));
		CU_ASSERT_FATAL(m[i] >= 0);
	}
	sleep_ms(150);
	ls = harness_listener_stats(h, "metrics");
	CU_ASSERT_EQUAL(ls.accepted, 4);
	CU_ASSERT_EQUAL(ls.rejected_full, 6);
	CU_ASSERT_EQUAL(ls.open, 4);
	/* The operator is not locked out of either API listener. */
	{
		int fd = client_unix(harness_unix_path(h));

		CU_ASSERT_FATAL(fd >= 0);
		r = rpc(fd, req_version(&q, 1));
		CU_ASSERT(r != NULL && r->version != NULL);
		free_resp(r);
		close(fd);
		fd = client_tcp(harness_tcp_port(h));
		CU_ASSERT_FATAL(fd >= 0);
		req_version(&q, 2);
		q.r.token = HARNESS_TOKEN;
		r = rpc(fd, &q.r);
		CU_ASSERT(r != NULL && r->version != NULL);
		free_resp(r);
		close(fd);
	}
	/* The scrapers go at their own idle timeout (400 ms); the idle
	 * unix client has the loop's 5 s and stays. */
	sleep_ms(700);
	for (int i = 0; i < 10; i++) {
		closed += peer_closed(m[i]);
		close(m[i]);
	}
	CU_ASSERT_EQUAL(closed, 10);
	ls = harness_listener_stats(h, "metrics");
	CU_ASSERT_EQUAL(ls.closed_idle, 4);
	CU_ASSERT_EQUAL(ls.open, 0);
	r = rpc(idle_unix, req_version(&q, 3));
	CU_ASSERT(r != NULL && r->version != NULL);
	free_resp(r);

	/* A full unix listener leaves TCP usable. */
	for (int i = 0; i < 9; i++) {
		u[i] = i == 0 ? idle_unix : client_unix(harness_unix_path(h));
		CU_ASSERT_FATAL(u[i] >= 0);
	}
	sleep_ms(150);
	ls = harness_listener_stats(h, "unix");
	CU_ASSERT_EQUAL(ls.open, 8);
	CU_ASSERT(ls.rejected_full >= 1);
	CU_ASSERT_TRUE(peer_closed(u[8]));
	CU_ASSERT_EQUAL(tcp_try(h, HARNESS_TOKEN, 4), 0);
	for (int i = 0; i < 9; i++)
		close(u[i]);
	harness_stop(h);
}

static void
test_counters(void)
{
	struct sl_api_stats s = harness_api_stats(g_h);
	uint64_t by_code = 0;

	/* Every error reply is counted once by code. */
	for (size_t i = 0; i < sizeof(s.by_code) / sizeof(s.by_code[0]); i++)
		by_code += s.by_code[i];
	CU_ASSERT_EQUAL(by_code, s.errors);
	CU_ASSERT(s.connections > 0);
	CU_ASSERT(s.responses >= s.requests);
	CU_ASSERT_EQUAL(s.send_failed, 0);
}

int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} tests[] = {
		{"apply", test_apply},
		{"get and list", test_get_and_list},
		{"add, remove, drain", test_instances},
		{"stats and version", test_stats_and_version},
		{"guards: list, add, remove", test_guards},
		{"server-side rejections", test_rejections},
		{"dispatch without a loop", test_dispatch_only},
		{"error from a compiler line", test_error_from_line},
		{"no body, unknown kind", test_no_body},
		{"garbage", test_garbage},
		{"oversized and empty frames", test_oversized},
		{"truncated at EOF", test_truncated},
		{"pipelined and trickled", test_pipelined_and_trickled},
		{"slowloris", test_slowloris},
		{"300 idle connections", test_idle_crowd},
		{"max connections", test_max_conns},
		{"tcp token", test_tcp_token},
		{"unix socket", test_unix_socket},
		{"every request kind has a role", test_op_roles},
		{"read-only token, audit lines", test_ro_token_and_audit},
		{"unix peers: read-only, admin group", test_unix_roles},
		{"4 KiB before a valid token", test_preauth_limit},
		{"failed authentications rate limited", test_auth_rate_limit},
		{"limits per listener", test_listener_limits},
		{"counters add up", test_counters},
	};
	char suite_name[32];
	CU_pSuite suite;
	unsigned int failed;
	int rc = harness_main_init(argc, argv);

	if (rc != 0)
		return rc;
	g_h = harness_start(NULL);
	if (g_h == NULL)
		return 1;
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	snprintf(suite_name, sizeof(suite_name), "api-%s", argv[1]);
	suite = CU_add_suite(suite_name, NULL, NULL);
	for (size_t i = 0; suite && i < sizeof(tests) / sizeof(tests[0]); i++)
		CU_add_test(suite, tests[i].name, tests[i].fn);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	harness_stop(g_h);
	return failed ? 1 : 0;
}
