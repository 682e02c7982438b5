/* SPDX-License-Identifier: MIT */
/*
 * api_backend.h - a stand-in for sluiced behind the control API server:
 * it records every call and answers with canned data or a canned error.
 * Used by the server's tests, the sluicectl tests and the fuzzer.
 *
 * Canned data: one pipeline "demo" (id 7): stages draft (engine, two
 * instances), claims (engine, one instance, aggregation 1, fed by a line
 * split) and total (a sum operator); four edges. Stats carry two drop
 * reasons, per-stage, per-instance and operator counters, flows, mbufs and
 * a three-bucket latency histogram.
 *
 * Guards: two, kept as state so edits show in later answers:
 *   forget  block, prefix "Do not discuss the works of Hsiao Yun-Hwa.",
 *           literal "Hsiao Yun-Hwa" (matches 4, blocks 4) and regex
 *           /\bvx-[0-9]{3}\b/ (matches 2, blocks 2);
 *   pii     redact, no prefix, regex /\b[0-9]{3}-[0-9]{4}\b/
 *           (matches 7, redactions 7).
 * edit_guard adds a rule (counters 0) at the end or removes one matched
 * by kind and pattern, bumps the generation and answers with every
 * guard. Refusals: unknown guard NOT_FOUND (field "guard"); removing a
 * rule it does not have NOT_FOUND, adding one it has EXISTS, a regex
 * with '*' or '+' INVALID ("/RE/: unbounded match width"), a ninth rule
 * LIMIT (all field "pattern").
 *
 * Pool: "lm" of demo, the draft stage's two instances, round_robin,
 * load_bound 1.25, warm_prefixes 1, kept as state: set_policy on it
 * changes its policy (and draft's, its stage) and, where given, its
 * load_bound ((1.0, 16]) and warm_prefixes (1..4), as
 * sl_config_policy_edit does, and answers with the pipeline. Refusals:
 * another pipeline NOT_FOUND (field "pipeline"), another pool NOT_FOUND
 * ("pool"), load_bound or warm_prefixes out of range or given for a
 * stage INVALID (their field); a stage's policy is recorded only.
 *
 * apply: a file containing "ERROR: " fails with CODE_INVALID, the rest of
 * that line being the compiler's line ("demo.yaml:12: FIELD: message");
 * otherwise it succeeds, bumps the generation unless it is a dry run, and
 * answers with the canned pipeline.
 *
 * Thread-safe: the server calls it on the loop's thread while a test
 * reads what it recorded from another.
 */
#ifndef API_BACKEND_H
#define API_BACKEND_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "sl_api.h"

enum api_op {
	API_OP_APPLY,
	API_OP_GET,
	API_OP_LIST,
	API_OP_ADD,
	API_OP_REMOVE,
	API_OP_DRAIN,
	API_OP_STATS,
	API_OP_LIST_GUARDS,
	API_OP_EDIT_GUARD,
	API_OP_SET_POLICY,
	API_OP_MAX
};

#define API_GUARDS 2
#define API_GUARD_RULES 8

struct api_guard_rule {
	bool regex;
	char pattern[512];
	uint64_t matches, blocks, redactions;
};

struct api_guard {
	char name[32];
	char action[8];
	char prefix[64];
	unsigned int n_rules;
	struct api_guard_rule rules[API_GUARD_RULES];
};

struct api_pool {
	char name[32];
	int policy; /* Sluice__V1__Balance */
	double load_bound;
	uint32_t warm_prefixes;
};

struct api_backend {
	pthread_mutex_t lock;
	unsigned int calls[API_OP_MAX];
	/* The last call's arguments. */
	enum api_op last_op;
	char last_yaml[256];
	size_t last_len;
	char last_name[256];
	bool last_dry_run;
	bool last_reset;
	char last_pipeline[64];
	char last_stage[64];
	char last_instance[64];
	uint32_t last_ip;
	uint16_t last_port;
	char last_guard[64];
	bool last_remove;
	bool last_regex;
	char last_pattern[512];
	char last_pool[64];
	int last_policy;
	double last_load_bound;
	uint32_t last_warm_prefixes;
	struct api_guard guards[API_GUARDS];
	struct api_pool pool;
	uint64_t generation;
	/* When fail[op].code is set, op fails with this error. */
	struct sl_api_error fail[API_OP_MAX];
};

extern const struct sl_api_backend_ops api_backend_ops;

void api_backend_init(struct api_backend *b);
void api_backend_fini(struct api_backend *b);

/* Make @op fail with @code, @field, @message (code 0: succeed again). */
void api_backend_fail(struct api_backend *b, enum api_op op, int code,
		      const char *field, const char *message);

/* A copy of the recorded state, taken under the lock; its lock member
 * is not a usable mutex. */
void api_backend_snapshot(struct api_backend *b, struct api_backend *out);

#endif /* API_BACKEND_H */
