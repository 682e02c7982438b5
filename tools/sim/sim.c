/* SPDX-License-Identifier: MIT */
/*
 * sim.c - sluice-sim's discrete-event simulator (see sim.h and
 * tools/sim/README.md).
 *
 * A run has two halves. First the workload: sluicegen's arrivals and
 * prompts, and for every request what the emulated LMs will say, worked
 * out once with tools/engine/model.c (a pure function of the text and
 * the engine's seed, never of timing): the answer's tokens, the claim
 * lines and the token of the claims' answer that ends each, every claim
 * line's queries and where each query line ends. Then the events, in
 * model time: a request arrives; a stream is opened (routed by
 * sl_route_pick, counted in its instance's answers_owed); a stream
 * reaches its instance (sl_lm_submit); an instance's iteration ends
 * (sl_lm_step: tokens); a query line's retrieval ends. A request is done
 * when its every LM stream and every query's retrieval has ended.
 *
 * Events are ordered by (time, sequence number): equal times keep the
 * order they were made in, so a run is deterministic.
 */
#include <endian.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gen.h"
#include "lm_loop.h"
#include "model.h"
#include "sim.h"
#include "sl_config.h"
#include "sl_dp.h"
#include "sl_route.h"
#include "sluice.h"

#define SIM_LINES_MAX 16 /* claim or query lines of one LM answer */
#define SIM_NONE UINT32_MAX

/* ---- the workload ---- */

/* One LM stream: a prompt to one role, and the lines its answer hands on
 * (claims: to queries; queries: to retrieval). */
struct sim_stream {
	uint32_t req;
	uint8_t role;
	uint8_t n_lines;
	uint8_t lines_out; /* handed on so far */
	uint16_t engine;   /* where it was routed */
	uint16_t uid;
	uint32_t prompt; /* tokens, without the stage's prefix */
	uint32_t out;    /* tokens it is answered with */
	uint32_t child;  /* answer: its claims stream; claims: the first of
			  * its queries streams (one a line) */
	uint32_t line_tok[SIM_LINES_MAX]; /* the token that ends each line */
	uint32_t next_wait; /* the engine's FIFO in front of its loop */
};

struct sim_req {
	uint64_t at;      /* arrival, model ns */
	uint64_t end;     /* done (valid when done) */
	uint64_t id;      /* sluiced's request id, ancestry[0] */
	uint32_t answer;  /* its answer stream */
	uint32_t pending; /* streams and retrievals not ended */
	bool done;
	bool failed;
};

struct sl_sim_data {
	struct sl_corpus *corpus;
	struct gen_trace *trace;
};

/* ---- events ---- */

enum sim_ev_kind {
	SIM_EV_ARRIVE,    /* arg: request */
	SIM_EV_OPEN,      /* arg: stream: route it */
	SIM_EV_SUBMIT,    /* arg: stream: it reaches its instance */
	SIM_EV_ENGINE,    /* arg: engine: its iteration ends */
	SIM_EV_RETRIEVED, /* arg: request: a query's retrieval ended */
};

struct sim_ev {
	uint64_t t;
	uint64_t seq;
	uint32_t kind;
	uint32_t arg;
};

struct sim_engine {
	struct sl_lm lm;
	struct sl_endpoint ep;
	uint64_t armed; /* the ENGINE event pending, UINT64_MAX: none */
	/* sluice-engine's FIFO in front of the loop: the loop holds at most
	 * --max-batch (max_num_seqs) jobs, the rest wait here. */
	uint32_t wait_head, wait_tail; /* streams, through next_wait */
	uint32_t active;               /* jobs in the loop */
	struct sl_sim_engine_stats st;
};

struct sim {
	const struct sl_sim_knobs *k;
	struct sl_sim_data *d;
	struct sl_sim_result *r;
	struct sl_config *cfg;
	const struct sl_pipeline_cfg *pl;
	uint8_t stage[SL_SIM_ROLES];
	uint32_t prefix_tokens[SL_SIM_ROLES];
	uint16_t engine_of[SL_SIM_ROLES][SL_MAX_INSTANCES];
	struct sl_stage_state *row;     /* SL_MAX_STAGES */
	struct sl_instance_state *inst; /* SL_MAX_INSTANCE_UIDS */
	struct sim_engine *eng;
	unsigned int n_eng;
	struct sl_lm_event *lm_ev;
	unsigned int lm_ev_max;

	struct sim_req *req;
	uint32_t n_req;
	struct sim_stream *str;
	uint32_t n_str, cap_str;

	struct sim_ev *heap;
	size_t n_heap, cap_heap;
	uint64_t seq;

	uint64_t hop_ns, retrieval_ns;
	char *err;
	size_t errlen;
};

static const char *const role_names[SL_SIM_ROLES] = {"answer", "claims",
						     "queries"};

const char *
sl_sim_role_name(enum sl_sim_role role)
{
	return (unsigned int)role < SL_SIM_ROLES ? role_names[role] : "?";
}

void
sl_sim_knobs_default(struct sl_sim_knobs *k)
{
	memset(k, 0, sizeof(*k));
	k->policy = SL_BALANCE_MAX;
	k->prefix_cache_slots = SL_SIM_DEFAULT_PREFIX_CACHE;
	k->claims_prefix_tokens = SL_SIM_DEFAULT_CLAIMS_PREFIX;
	k->queries_prefix_tokens = SL_SIM_DEFAULT_QUERIES_PREFIX;
	k->lengths = SL_MODEL_LENGTHS_TABLE;
	k->pool_instances = SL_SIM_DEFAULT_POOL;
	k->rate = SL_SIM_DEFAULT_RATE;
	k->requests = SL_SIM_DEFAULT_REQUESTS;
	k->question_tokens = SL_SIM_DEFAULT_QUESTION_TOKENS;
	k->seed = 1;
	k->slo_ms = SL_SIM_DEFAULT_SLO_MS;
	k->retrieval_ms = SL_SIM_DEFAULT_RETRIEVAL_MS;
	k->time_scale = 1.0;
	k->drain_s = SL_SIM_DEFAULT_DRAIN_S;
}

/* ---- knobs ---- */

static bool
in_range(double v, double lo, double hi)
{
	return isfinite(v) && v >= lo && v <= hi;
}

int
sl_sim_check(const struct sl_sim_knobs *k, char *err, size_t errlen)
{
	bool pinned = k->pinned[0] || k->pinned[1] || k->pinned[2];
	unsigned int total = 0;

#define SIM_BAD(...)                                                           \
	do {                                                                   \
		snprintf(err, errlen, __VA_ARGS__);                            \
		return -EINVAL;                                                \
	} while (0)
	if ((unsigned int)k->policy > SL_BALANCE_MAX)
		SIM_BAD("policy: not a policy (%d): round_robin, least_loaded, "
			"hash_request or prompt_aware",
			(int)k->policy);
	if (k->load_bound != 0 && !in_range(k->load_bound, 1.0, 1000.0))
		SIM_BAD("load_bound: must be > 1 (0: the pipeline's), got %g",
			k->load_bound);
	if (k->load_bound == 1.0)
		SIM_BAD("load_bound: must be > 1 (0: the pipeline's), got 1");
	if (k->warm_prefixes > SL_POOL_WARM_MAX)
		SIM_BAD("warm_prefixes: must be 1..%d (0: the pipeline's), got "
			"%u",
			SL_POOL_WARM_MAX, k->warm_prefixes);
	if (k->prefix_cache_slots > 64)
		SIM_BAD("prefix_cache: must be 0..64, got %u",
			k->prefix_cache_slots);
	if (k->claims_prefix_tokens > 16384)
		SIM_BAD("claims_prefix_tokens: must be 0..16384, got %u",
			k->claims_prefix_tokens);
	if (k->queries_prefix_tokens > 16384)
		SIM_BAD("queries_prefix_tokens: must be 0..16384, got %u",
			k->queries_prefix_tokens);
	if ((unsigned int)k->lengths >= SL_MODEL_LENGTHS_MAX)
		SIM_BAD("lengths: must be table or lowrank (%d)",
			(int)k->lengths);
	if (k->pipeline_path != NULL && pinned)
		SIM_BAD("pinned: the pipeline file %s says the layout",
			k->pipeline_path);
	if (k->pipeline_path == NULL && !pinned &&
	    (k->pool_instances < 1 || k->pool_instances > SL_MAX_INSTANCES))
		SIM_BAD("instances: must be 1..%d, got %u", SL_MAX_INSTANCES,
			k->pool_instances);
	for (unsigned int r = 0; pinned && r < SL_SIM_ROLES; r++) {
		if (k->pinned[r] < 1 || k->pinned[r] > SL_MAX_INSTANCES)
			SIM_BAD("pinned: %s must have 1..%d instances, got %u",
				role_names[r], SL_MAX_INSTANCES, k->pinned[r]);
		total += k->pinned[r];
	}
	if (total > SL_SIM_ENGINES_MAX)
		SIM_BAD("pinned: %u instances in all, at most %d", total,
			SL_SIM_ENGINES_MAX);
	if (pinned && k->load_bound != 0)
		SIM_BAD("load_bound: the pinned layout has no pool");
	if (pinned && k->warm_prefixes != 0)
		SIM_BAD("warm_prefixes: the pinned layout has no pool");
	if ((k->trace_path == NULL || k->trace_speedup == 0) &&
	    !in_range(k->rate, 1e-6, 1e6))
		SIM_BAD("rate: must be > 0 and at most 1e6 model requests/s, "
			"got %g",
			k->rate);
	if (!in_range(k->trace_speedup, 0, 1e9))
		SIM_BAD("trace_speedup: must be >= 0 (0: from the rate), got "
			"%g",
			k->trace_speedup);
	if (!in_range(k->trace_start_s, 0, 1e9))
		SIM_BAD("trace_start: must be >= 0 s, got %g",
			k->trace_start_s);
	if (k->requests < 1 || k->requests > SL_SIM_REQUESTS_MAX)
		SIM_BAD("requests: must be 1..%u, got %u", SL_SIM_REQUESTS_MAX,
			k->requests);
	if (k->warmup >= k->requests)
		SIM_BAD("warmup: must be below requests (%u), got %u",
			k->requests, k->warmup);
	if (k->question_tokens < 1 || k->question_tokens > 4096)
		SIM_BAD("question_tokens: must be 1..4096, got %u",
			k->question_tokens);
	if (!in_range(k->slo_ms, 1e-6, 1e9))
		SIM_BAD("slo_ms: must be > 0, got %g", k->slo_ms);
	if (!in_range(k->retrieval_ms, 0, 1e6))
		SIM_BAD("retrieval_ms: must be 0..1e6, got %g",
			k->retrieval_ms);
	if (!in_range(k->hop_us, 0, 1e9))
		SIM_BAD("hop_us: must be 0..1e9, got %g", k->hop_us);
	if (!in_range(k->time_scale, 1e-6, 1e3))
		SIM_BAD("time_scale: must be > 0 and at most 1000, got %g",
			k->time_scale);
	if (!in_range(k->drain_s, 0, 1e6))
		SIM_BAD("drain_s: must be 0..1e6, got %g", k->drain_s);
#undef SIM_BAD
	return 0;
}

/* ---- the built-in pipeline ---- */

/* factcheck-pool7.yaml / factcheck-pinned7.yaml with the knobs' layout:
 * LM instance j at 10.77.0.(11 + j):7801; retrieval as in those files
 * (the encoder moved to port 7803 so that it never shares an LM's
 * endpoint). cost_ms and warm_saving_ms are the pool file's. */
int
sl_sim_pipeline_yaml(const struct sl_sim_knobs *k, char *buf, size_t cap)
{
	bool pinned = k->pinned[0] || k->pinned[1] || k->pinned[2];
	static const unsigned int cost_ms[SL_SIM_ROLES] = {27, 67, 31};
	unsigned int warm = k->warm_prefixes;
	unsigned int next = 0;
	size_t n = 0;

#define SIM_PUT(...)                                                           \
	do {                                                                   \
		int w_ =                                                       \
			snprintf(buf + n, n < cap ? cap - n : 0, __VA_ARGS__); \
		if (w_ < 0)                                                    \
			return -ENOSPC;                                        \
		n += (size_t)w_;                                               \
	} while (0)
	SIM_PUT("# sluice-sim's built-in %s layout (tools/sim/sim.c)\n"
		"sluiced: {address: 10.77.0.1, port: 7700}\n"
		"flows: {size: 262144, idle_timeout_ms: 60000, "
		"reorder_window: 16, buffer_max: 4096}\n"
		"clients: [10.77.0.0/24]\n"
		"pipelines:\n"
		"  - name: factcheck\n"
		"    id: 1\n",
		pinned ? "pinned" : "pool");
	if (!pinned) {
		if (warm == 0)
			warm = k->prefix_cache_slots < 1 ? 1
			       : k->prefix_cache_slots < SL_POOL_WARM_MAX
				       ? k->prefix_cache_slots
				       : SL_POOL_WARM_MAX;
		SIM_PUT("    pools:\n      - name: lm\n        instances: [");
		for (unsigned int j = 0; j < k->pool_instances; j++)
			SIM_PUT("%s10.77.0.%u:7801", j ? ", " : "", 11 + j);
		SIM_PUT("]\n        policy: %s\n        load_bound: %g\n"
			"        warm_prefixes: %u\n    stages:\n",
			sl_balance_name(k->policy < SL_BALANCE_MAX
						? k->policy
						: SL_BALANCE_PROMPT_AWARE),
			k->load_bound != 0 ? k->load_bound : 1.25, warm);
		for (unsigned int r = 0; r < SL_SIM_ROLES; r++)
			SIM_PUT("      - {name: %s, pool: lm, cost_ms: %u, "
				"warm_saving_ms: %u}\n",
				role_names[r], cost_ms[r],
				r == 0   ? 0
				: r == 1 ? (k->claims_prefix_tokens * 8 + 50) /
						   100
					 : (k->queries_prefix_tokens * 8 + 50) /
						   100);
	} else {
		SIM_PUT("    stages:\n");
		for (unsigned int r = 0; r < SL_SIM_ROLES; r++) {
			SIM_PUT("      - name: %s\n        policy: %s\n"
				"        instances: [",
				role_names[r],
				sl_balance_name(
					k->policy < SL_BALANCE_MAX
						? k->policy
						: SL_BALANCE_HASH_REQUEST));
			for (unsigned int j = 0; j < k->pinned[r]; j++, next++)
				SIM_PUT("%s10.77.0.%u:7801", j ? ", " : "",
					11 + next);
			SIM_PUT("]\n");
		}
	}
	SIM_PUT("      - name: bm25\n        aggregation: 3\n"
		"        instances: [10.77.0.11:7802, 10.77.0.12:7802, "
		"10.77.0.13:7802, 10.77.0.14:7802]\n"
		"      - name: encoder\n        instances: [10.77.0.18:7803]\n"
		"      - name: rerank\n        aggregation: 3\n"
		"        instances: [10.77.0.15:7802, 10.77.0.16:7802, "
		"10.77.0.17:7802, 10.77.0.18:7802]\n"
		"      - name: results\n        operator: concat\n"
		"        aggregation: 1\n        max_group_bytes: 65536\n"
		"    edges:\n"
		"      - {from: client, to: answer}\n"
		"      - {from: answer, to: claims, mode: buffer}\n"
		"      - {from: claims, to: queries, split: line}\n"
		"      - {from: queries, to: bm25, split: line, "
		"stream_children: true}\n"
		"      - {from: queries, to: encoder, split: line}\n"
		"      - {from: bm25, to: rerank, mode: buffer}\n"
		"      - {from: encoder, to: rerank, mode: buffer}\n"
		"      - {from: rerank, to: results}\n"
		"      - {from: results, to: client}\n");
#undef SIM_PUT
	return n < cap ? (int)n : -ENOSPC;
}

/* ---- data ---- */

struct sl_sim_data *
sl_sim_data_open(const char *corpus_path, const char *trace_path, char *err,
		 size_t errlen)
{
	struct sl_sim_data *d = calloc(1, sizeof(*d));
	const char *cp = corpus_path ? corpus_path : GEN_DEFAULT_CORPUS;

	if (d == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->corpus = sl_corpus_load(cp);
	if (d->corpus == NULL) {
		snprintf(err, errlen, "corpus: %s: %s", cp, strerror(errno));
		free(d);
		return NULL;
	}
	if (trace_path != NULL) {
		char why[256];

		d->trace = gen_trace_load(trace_path, why, sizeof(why));
		if (d->trace == NULL) {
			snprintf(err, errlen, "trace: %s", why);
			sl_corpus_free(d->corpus);
			free(d);
			return NULL;
		}
	}
	return d;
}

void
sl_sim_data_close(struct sl_sim_data *d)
{
	if (d == NULL)
		return;
	sl_corpus_free(d->corpus);
	if (d->trace != NULL)
		gen_trace_free(d->trace);
	free(d);
}

/* ---- the workload: what every request's LMs say ---- */

static uint32_t
count_tokens(const char *s, size_t len)
{
	uint32_t n = 0;

	for (size_t pos = 0; pos < len; n++)
		pos += sl_tokenize_next(s + pos, len - pos);
	return n;
}

/*
 * The lines of an LM's answer (@s, @len) as a `split: line` edge hands
 * them on: each ends at its '\n' (the last may end at the end), lines
 * with nothing but the newline are not handed on. For each, the index of
 * the answer's token holding its end is written to @tok, its offset and
 * length to @off, @llen. Return the lines (at most SIM_LINES_MAX: the
 * rest joins the last).
 */
static unsigned int
split_lines(const char *s, size_t len, uint32_t *tok, size_t *off, size_t *llen)
{
	unsigned int n = 0;
	size_t start = 0, pos = 0;
	uint32_t t = 0;

	while (pos < len) {
		size_t tl = sl_tokenize_next(s + pos, len - pos);

		for (size_t b = pos; b < pos + tl; b++) {
			bool last = b + 1 == len;

			if (s[b] != '\n' && !last)
				continue;
			if (b + 1 - start > 1 || s[b] != '\n') {
				if (n == SIM_LINES_MAX)
					n--;
				else
					off[n] = start;
				llen[n] = b + 1 - off[n];
				tok[n] = t;
				n++;
			}
			start = b + 1;
		}
		pos += tl;
		t++;
	}
	return n;
}

static int
stream_new(struct sim *m, uint32_t req, enum sl_sim_role role, uint32_t prompt,
	   const char *text, size_t len, size_t *off, size_t *llen)
{
	struct sim_stream *s;

	if (m->n_str == m->cap_str) {
		uint32_t cap = m->cap_str ? 2 * m->cap_str : 4096;
		struct sim_stream *g = realloc(m->str, cap * sizeof(*g));

		if (g == NULL)
			return -ENOMEM;
		m->str = g;
		m->cap_str = cap;
	}
	s = &m->str[m->n_str];
	memset(s, 0, sizeof(*s));
	s->req = req;
	s->role = (uint8_t)role;
	s->prompt = prompt;
	s->out = count_tokens(text, len);
	s->child = SIM_NONE;
	s->uid = UINT16_MAX;
	if (role != SL_SIM_ROLE_ANSWER)
		s->n_lines =
			(uint8_t)split_lines(text, len, s->line_tok, off, llen);
	return (int)m->n_str++;
}

/* @role's answer to the prompt (@in, @len) as sluice-engine says it. */
static int
say(struct sim *m, enum sl_model_role role, const char *in, size_t len,
    struct sl_text *out)
{
	uint64_t key = sl_model_key(in, len, m->k->engine_seed);

	out->len = 0;
	return sl_model_say(role, m->k->lengths, in, len, m->d->corpus, key,
			    out);
}

/* Request @i's streams: its answer, claims, and a queries stream per
 * claim line; @q (@qlen) is the prompt the answer LM reads, @qtok its
 * tokens, @max_tokens the trace's length directive (0: none). */
static int
build_request(struct sim *m, uint32_t i, const char *q, size_t qlen,
	      uint32_t qtok, uint32_t max_tokens, struct sl_text *ans,
	      struct sl_text *cl, struct sl_text *qs)
{
	size_t off[SIM_LINES_MAX], llen[SIM_LINES_MAX];
	size_t qoff[SIM_LINES_MAX], qllen[SIM_LINES_MAX];
	int a, c, rc;

	ans->len = 0;
	if (max_tokens > 0)
		rc = sl_model_answer_tokens(
			m->d->corpus, sl_model_key(q, qlen, m->k->engine_seed),
			max_tokens, ans);
	else
		rc = say(m, SL_MODEL_ROLE_ANSWER, q, qlen, ans);
	if (rc < 0)
		return rc;
	a = stream_new(m, i, SL_SIM_ROLE_ANSWER, qtok, ans->buf, ans->len, NULL,
		       NULL);
	if (a < 0)
		return a;
	m->req[i].answer = (uint32_t)a;
	/* The claims LM reads the whole answer (a buffer edge): its tokens
	 * as the answer LM cut them. */
	rc = say(m, SL_MODEL_ROLE_CLAIMS, ans->buf, ans->len, cl);
	if (rc < 0)
		return rc;
	c = stream_new(m, i, SL_SIM_ROLE_CLAIMS, m->str[a].out, cl->buf,
		       cl->len, off, llen);
	if (c < 0)
		return c;
	m->str[a].child = (uint32_t)c;
	for (unsigned int l = 0; l < m->str[c].n_lines; l++) {
		const char *line = cl->buf + off[l];
		int qi;

		rc = say(m, SL_MODEL_ROLE_QUERIES, line, llen[l], qs);
		if (rc < 0)
			return rc;
		qi = stream_new(m, i, SL_SIM_ROLE_QUERIES,
				count_tokens(line, llen[l]), qs->buf, qs->len,
				qoff, qllen);
		if (qi < 0)
			return qi;
		if (l == 0)
			m->str[c].child = (uint32_t)qi;
	}
	return 0;
}

/* The prompt of corpus tokens @first.. (@n of them, wrapping). */
static int
corpus_prompt(const struct sl_corpus *c, size_t first, uint32_t n,
	      struct sl_text *out)
{
	out->len = 0;
	for (uint32_t t = 0; t < n; t++) {
		size_t k = (first + t) % c->n_tokens;

		if (sl_text_append(out, sl_corpus_token_text(c, k),
				   c->tokens[k].len))
			return -ENOMEM;
	}
	return 0;
}

static int
build_workload(struct sim *m)
{
	const struct sl_sim_knobs *k = m->k;
	const struct sl_corpus *c = m->d->corpus;
	struct sl_text q = {0}, ans = {0}, cl = {0}, qs = {0};
	uint64_t *at = NULL, n = 0;
	size_t first = 0, rows = 0;
	int rc = 0;

	if (k->trace_path != NULL) {
		const struct gen_trace *t = m->d->trace;
		double speedup = k->trace_speedup;

		if (t == NULL) {
			snprintf(m->err, m->errlen,
				 "trace: no trace loaded for this run");
			return -EINVAL;
		}
		if (gen_trace_plan(t, 1.0, k->trace_start_s, HUGE_VAL,
				   k->requests, &first, &rows) < 0 ||
		    rows == 0) {
			snprintf(m->err, m->errlen,
				 "trace_start: no trace row at or after %g s",
				 k->trace_start_s);
			return -EINVAL;
		}
		if (speedup == 0) {
			/* The replayed rows' own rate, made @rate. */
			double span =
				(double)(t->rows[first + rows - 1].off_ns -
					 t->rows[first].off_ns) /
				1e9;

			if (rows < 2 || span <= 0) {
				snprintf(m->err, m->errlen,
					 "rate: the trace's %zu rows from %g "
					 "s have no rate to scale; give "
					 "trace_speedup",
					 rows, k->trace_start_s);
				return -EINVAL;
			}
			speedup = k->rate / ((double)(rows - 1) / span);
		}
		m->r->speedup = speedup;
		n = rows;
		at = malloc(n * sizeof(*at));
		if (at == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < rows; i++)
			at[i] = gen_trace_at(t, first, first + i, speedup);
	} else {
		at = gen_arrivals(k->rate, true, k->seed, HUGE_VAL, k->requests,
				  &n);
		if (at == NULL)
			return -ENOMEM;
	}
	if (n <= k->warmup) {
		snprintf(m->err, m->errlen,
			 "warmup: %u of the %" PRIu64 " requests replayed",
			 k->warmup, n);
		free(at);
		return -EINVAL;
	}
	m->req = calloc(n, sizeof(*m->req));
	if (m->req == NULL) {
		free(at);
		return -ENOMEM;
	}
	m->n_req = (uint32_t)n;
	for (uint32_t i = 0; i < m->n_req && rc == 0; i++) {
		/* sluiced's ids are its flow table's (index, generation);
		 * here the request's number: ALTO's hash spreads either. */
		m->req[i].id = (uint64_t)i + 1;
		m->req[i].at = at[i];
		if (k->trace_path != NULL) {
			const struct gen_trace_row *row =
				&m->d->trace->rows[first + i];
			size_t off = gen_question_offset(k->seed, first + i,
							 c->n_tokens);

			rc = corpus_prompt(c, off, row->context, &q);
			if (rc == 0)
				rc = build_request(m, i, q.buf, q.len,
						   row->context, row->generated,
						   &ans, &cl, &qs);
		} else {
			size_t off =
				gen_question_offset(k->seed, i, c->n_tokens);

			rc = corpus_prompt(c, off, k->question_tokens, &q);
			if (rc == 0)
				rc = build_request(m, i, q.buf, q.len,
						   k->question_tokens, 0, &ans,
						   &cl, &qs);
		}
	}
	if (rc < 0)
		snprintf(m->err, m->errlen, "workload: %s", strerror(-rc));
	free(at);
	sl_text_free(&q);
	sl_text_free(&ans);
	sl_text_free(&cl);
	sl_text_free(&qs);
	return rc;
}

/* ---- the event heap ---- */

static bool
ev_before(const struct sim_ev *a, const struct sim_ev *b)
{
	return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static int
ev_push(struct sim *m, uint64_t t, enum sim_ev_kind kind, uint32_t arg)
{
	size_t i;

	if (m->n_heap == m->cap_heap) {
		size_t cap = m->cap_heap ? 2 * m->cap_heap : 4096;
		struct sim_ev *g = realloc(m->heap, cap * sizeof(*g));

		if (g == NULL)
			return -ENOMEM;
		m->heap = g;
		m->cap_heap = cap;
	}
	i = m->n_heap++;
	m->heap[i] = (struct sim_ev){t, m->seq++, kind, arg};
	while (i > 0 && ev_before(&m->heap[i], &m->heap[(i - 1) / 2])) {
		struct sim_ev tmp = m->heap[i];

		m->heap[i] = m->heap[(i - 1) / 2];
		m->heap[(i - 1) / 2] = tmp;
		i = (i - 1) / 2;
	}
	return 0;
}

static struct sim_ev
ev_pop(struct sim *m)
{
	struct sim_ev top = m->heap[0];
	size_t i = 0;

	m->heap[0] = m->heap[--m->n_heap];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, b = i;

		if (l < m->n_heap && ev_before(&m->heap[l], &m->heap[b]))
			b = l;
		if (r < m->n_heap && ev_before(&m->heap[r], &m->heap[b]))
			b = r;
		if (b == i)
			break;
		struct sim_ev tmp = m->heap[i];

		m->heap[i] = m->heap[b];
		m->heap[b] = tmp;
		i = b;
	}
	return top;
}

/* ---- the node ---- */

/* Find the three LM stages by name; engines by endpoint (a pool's
 * members serve every stage of the pool from one loop). */
static int
setup_node(struct sim *m)
{
	const struct sl_sim_knobs *k = m->k;
	const struct sl_pipeline_cfg *pl = m->pl;
	struct sl_lm_params p = {
		.decode_base_ns = llround(SL_LM_DEFAULT_DECODE_MS * 1e6),
		.decode_per_seq_ns =
			llround(SL_LM_DEFAULT_DECODE_PER_SEQ_MS * 1e6),
		.prefill_base_ns = llround(SL_LM_DEFAULT_PREFILL_MS * 1e6),
		.prefill_per_token_ns =
			llround(SL_LM_DEFAULT_PREFILL_PER_TOKEN_MS * 1e6),
		.max_num_seqs = SL_LM_DEFAULT_MAX_NUM_SEQS,
		.max_batched_tokens = SL_LM_DEFAULT_BATCHED_TOKENS,
		.kv_tokens = SL_LM_DEFAULT_KV_TOKENS,
		.prefix_cache_slots = k->prefix_cache_slots,
	};

	for (unsigned int r = 0; r < SL_SIM_ROLES; r++) {
		unsigned int s;

		for (s = 0; s < pl->n_stages; s++)
			if (!strcmp(pl->stages[s].name, role_names[r]))
				break;
		if (s == pl->n_stages ||
		    pl->stages[s].kind != SL_STAGE_ENGINE ||
		    pl->stages[s].aggregation != 0 ||
		    pl->stages[s].n_instances == 0) {
			snprintf(m->err, m->errlen,
				 "pipeline: %s needs an engine stage named %s "
				 "without aggregation (the fact-checking "
				 "pipeline's answer, claims, queries)",
				 pl->name, role_names[r]);
			return -EINVAL;
		}
		m->stage[r] = (uint8_t)s;
	}
	m->prefix_tokens[SL_SIM_ROLE_ANSWER] = 0;
	m->prefix_tokens[SL_SIM_ROLE_CLAIMS] = k->claims_prefix_tokens;
	m->prefix_tokens[SL_SIM_ROLE_QUERIES] = k->queries_prefix_tokens;
	for (unsigned int r = 0; r < SL_SIM_ROLES; r++) {
		const struct sl_stage_cfg *st = &pl->stages[m->stage[r]];

		for (uint16_t i = 0; i < st->n_instances; i++) {
			const struct sl_instance_cfg *ic = &st->instances[i];
			struct sl_instance_state *is = &m->inst[ic->uid];
			unsigned int e;

			is->alive = true;
			is->reachable = true;
			is->seed = sl_route_seed(&ic->ep);
			is->ip = ic->ep.ip;
			is->port = ic->ep.port;
			for (e = 0; e < m->n_eng; e++)
				if (m->eng[e].ep.ip == ic->ep.ip &&
				    m->eng[e].ep.port == ic->ep.port)
					break;
			if (e == m->n_eng) {
				struct sim_engine *g;
				int rc;

				if (e == SL_SIM_ENGINES_MAX) {
					snprintf(m->err, m->errlen,
						 "pipeline: more than %d LM "
						 "instances",
						 SL_SIM_ENGINES_MAX);
					return -EINVAL;
				}
				g = &m->eng[e];
				g->ep = ic->ep;
				g->armed = UINT64_MAX;
				snprintf(g->st.name, sizeof(g->st.name), "%s",
					 ic->name);
				g->st.ip = ic->ep.ip;
				g->st.port = ic->ep.port;
				g->wait_head = g->wait_tail = SIM_NONE;
				/* sluice-engine: --max-batch = max_num_seqs
				 * jobs in the loop (roles.c, lm_admit). */
				rc = sl_lm_init(&g->lm, &p, p.max_num_seqs);
				if (rc < 0) {
					snprintf(m->err, m->errlen,
						 "engine: %s", strerror(-rc));
					return rc;
				}
				m->n_eng++;
			}
			m->engine_of[r][i] = (uint16_t)e;
		}
	}
	m->lm_ev_max = p.max_num_seqs;
	m->lm_ev = calloc(m->lm_ev_max, sizeof(*m->lm_ev));
	return m->lm_ev == NULL ? -ENOMEM : 0;
}

/* The load prompt_aware weighs, for on_route. */
static void
route_view(const struct sim *m, uint8_t s, struct sl_sim_route *v)
{
	const struct sl_pipeline_cfg *pl = m->pl;
	const struct sl_stage_cfg *st = &pl->stages[s];
	uint8_t own[1] = {s};
	const uint8_t *stages = own;
	uint8_t n = 1;

	if (st->pool != SL_POOL_NONE) {
		stages = pl->pools[st->pool].stages;
		n = pl->pools[st->pool].n_stages;
		v->load_bound = pl->pools[st->pool].load_bound;
	} else {
		v->load_bound = 1.25;
	}
	v->n_instances = st->n_instances;
	v->cost_us = pl->stages[s].cost_us;
	for (uint16_t i = 0; i < st->n_instances; i++) {
		v->work_us[i] = 0;
		v->owed[i] = 0;
		for (uint8_t j = 0; j < n; j++) {
			const struct sl_stage_cfg *o = &pl->stages[stages[j]];
			uint32_t owed =
				m->inst[o->instances[i].uid].answers_owed;

			v->owed[i] += owed;
			v->work_us[i] += (uint64_t)owed * o->cost_us;
		}
	}
}

static int
stream_open(struct sim *m, uint32_t si, uint64_t now)
{
	struct sim_stream *s = &m->str[si];
	struct sim_req *rq = &m->req[s->req];
	uint8_t stage = m->stage[s->role];
	const struct sl_stage_cfg *st = &m->pl->stages[stage];
	uint64_t anc[1] = {htobe64(rq->id)};
	struct sl_sim_route v;
	uint16_t i;

	if (m->k->on_route != NULL)
		route_view(m, stage, &v);
	/* The TSC the dataplane passes; never 0 (0 is "never warm"). */
	i = sl_route_pick(m->pl, stage, m->row, m->inst, anc, 1, now + 1);
	if (i == SL_INSTANCE_NONE) {
		rq->failed = true;
		rq->pending--;
		return 0;
	}
	s->uid = st->instances[i].uid;
	s->engine = m->engine_of[s->role][i];
	m->inst[s->uid].streams++;
	m->inst[s->uid].streams_active++;
	m->inst[s->uid].answers_owed++;
	m->r->streams[s->role]++;
	if (m->k->on_route != NULL) {
		v.request = s->req;
		v.id = rq->id;
		v.now = now;
		v.role = (enum sl_sim_role)s->role;
		v.stage = stage;
		v.instance = i;
		m->k->on_route(m->k->route_ctx, &v);
	}
	return ev_push(m, now + m->hop_ns, SIM_EV_SUBMIT, si);
}

/* An engine's next iteration end, as one pending event. */
static int
engine_arm(struct sim *m, unsigned int e)
{
	uint64_t t = sl_lm_next(&m->eng[e].lm);

	if (t == m->eng[e].armed)
		return 0;
	m->eng[e].armed = t;
	return t == UINT64_MAX ? 0 : ev_push(m, t, SIM_EV_ENGINE, e);
}

static void
request_step(struct sim *m, uint32_t ri, uint64_t now)
{
	struct sim_req *rq = &m->req[ri];

	if (--rq->pending == 0 && !rq->failed) {
		rq->done = true;
		rq->end = now + m->hop_ns;
	}
}

/* Into @si's engine's loop at @now (sluice-engine's lm_admit). */
static int
lm_admit(struct sim *m, uint32_t si, uint64_t now)
{
	struct sim_stream *s = &m->str[si];
	struct sim_engine *g = &m->eng[s->engine];
	uint32_t prefix = m->prefix_tokens[s->role];
	int rc;

	rc = sl_lm_submit(&g->lm, (void *)(uintptr_t)(si + 1),
			  prefix + s->prompt, s->out,
			  m->pl->stages[m->stage[s->role]].id, prefix, now);
	if (rc < 0) {
		/* ABORT TOO_LONG: the request never completes. */
		m->r->refused++;
		m->inst[s->uid].answers_owed--;
		m->inst[s->uid].streams_active--;
		m->req[s->req].failed = true;
		request_step(m, s->req, now);
		return 0;
	}
	g->active++;
	return 0;
}

/* Stream @si reaches its engine at @now: into the loop while it holds
 * fewer than max_num_seqs jobs and nothing waits, else to the FIFO. */
static int
stream_submit(struct sim *m, uint32_t si, uint64_t now)
{
	struct sim_stream *s = &m->str[si];
	struct sim_engine *g = &m->eng[s->engine];
	int rc;

	if (g->active < g->lm.p.max_num_seqs && g->wait_head == SIM_NONE) {
		rc = lm_admit(m, si, now);
		return rc < 0 ? rc : engine_arm(m, s->engine);
	}
	s->next_wait = SIM_NONE;
	if (g->wait_head == SIM_NONE)
		g->wait_head = si;
	else
		m->str[g->wait_tail].next_wait = si;
	g->wait_tail = si;
	return 0;
}

/* A job left engine @e's loop at @now: admit the FIFO's next. */
static int
lm_admit_waiting(struct sim *m, unsigned int e, uint64_t now)
{
	struct sim_engine *g = &m->eng[e];
	int rc = 0;

	while (rc == 0 && g->active < g->lm.p.max_num_seqs &&
	       g->wait_head != SIM_NONE) {
		uint32_t si = g->wait_head;

		g->wait_head = m->str[si].next_wait;
		if (g->wait_head == SIM_NONE)
			g->wait_tail = SIM_NONE;
		rc = lm_admit(m, si, now);
	}
	return rc;
}

/* Token @index of stream @si was given at @now. */
static int
stream_token(struct sim *m, uint32_t si, uint32_t index, bool last,
	     uint64_t now)
{
	struct sim_stream *s = &m->str[si];
	struct sim_req *rq = &m->req[s->req];
	int rc = 0;

	while (s->lines_out < s->n_lines &&
	       s->line_tok[s->lines_out] <= index && rc == 0) {
		/* A line is complete: sluiced hands it on. */
		rq->pending++;
		if (s->role == SL_SIM_ROLE_CLAIMS)
			rc = ev_push(m, now + m->hop_ns, SIM_EV_OPEN,
				     s->child + s->lines_out);
		else
			rc = ev_push(m, now + m->hop_ns + m->retrieval_ns,
				     SIM_EV_RETRIEVED, s->req);
		s->lines_out++;
	}
	if (!last || rc < 0)
		return rc;
	m->inst[s->uid].answers_owed--;
	m->inst[s->uid].streams_active--;
	m->eng[s->engine].st.served[s->role]++;
	m->eng[s->engine].active--;
	rc = lm_admit_waiting(m, s->engine, now);
	if (rc < 0)
		return rc;
	if (s->role == SL_SIM_ROLE_ANSWER) {
		/* The buffer edge hands the whole answer on at its END. */
		rq->pending++;
		rc = ev_push(m, now + m->hop_ns, SIM_EV_OPEN, s->child);
	}
	request_step(m, s->req, now);
	return rc;
}

static int
engine_due(struct sim *m, unsigned int e, uint64_t now)
{
	struct sim_engine *g = &m->eng[e];
	int rc = 0;

	if (g->armed != now)
		return 0; /* a stale event */
	g->armed = UINT64_MAX;
	while (sl_lm_next(&g->lm) <= now && rc == 0) {
		unsigned int n =
			sl_lm_step(&g->lm, now, m->lm_ev, m->lm_ev_max);

		for (unsigned int j = 0; j < n && rc == 0; j++)
			rc = stream_token(
				m, (uint32_t)((uintptr_t)m->lm_ev[j].owner - 1),
				m->lm_ev[j].index, m->lm_ev[j].last, now);
	}
	return rc < 0 ? rc : engine_arm(m, e);
}

static int
run_events(struct sim *m, uint64_t horizon)
{
	int rc = 0;

	for (uint32_t i = 0; i < m->n_req && rc == 0; i++)
		rc = ev_push(m, m->req[i].at, SIM_EV_ARRIVE, i);
	while (rc == 0 && m->n_heap > 0 && m->heap[0].t <= horizon) {
		struct sim_ev ev = ev_pop(m);

		m->r->events++;
		m->r->model_end_ns = ev.t;
		switch (ev.kind) {
		case SIM_EV_ARRIVE:
			m->req[ev.arg].pending = 1;
			rc = ev_push(m, ev.t + m->hop_ns, SIM_EV_OPEN,
				     m->req[ev.arg].answer);
			break;
		case SIM_EV_OPEN:
			rc = stream_open(m, ev.arg, ev.t);
			break;
		case SIM_EV_SUBMIT:
			rc = stream_submit(m, ev.arg, ev.t);
			break;
		case SIM_EV_ENGINE:
			rc = engine_due(m, ev.arg, ev.t);
			break;
		case SIM_EV_RETRIEVED:
			request_step(m, ev.arg, ev.t);
			break;
		}
	}
	if (rc < 0)
		snprintf(m->err, m->errlen, "simulation: %s", strerror(-rc));
	return rc;
}

/* ---- the configuration ---- */

static int
load_config(struct sim *m)
{
	const struct sl_sim_knobs *k = m->k;
	char why[512];
	struct sl_pipeline_cfg *pl;

	if (k->pipeline_path != NULL) {
		m->cfg = sl_config_load(k->pipeline_path, why, sizeof(why));
	} else {
		char yaml[8192];
		int n = sl_sim_pipeline_yaml(k, yaml, sizeof(yaml));

		if (n < 0) {
			snprintf(m->err, m->errlen,
				 "pipeline: the built-in file does not fit");
			return -EINVAL;
		}
		m->cfg = sl_config_parse(yaml, (size_t)n, "sluice-sim", why,
					 sizeof(why));
	}
	if (m->cfg == NULL) {
		snprintf(m->err, m->errlen, "pipeline: %s", why);
		return k->pipeline_path != NULL &&
				       access(k->pipeline_path, R_OK) != 0
			       ? -ENOENT
			       : -EINVAL;
	}
	if (m->cfg->n_pipelines == 0) {
		snprintf(m->err, m->errlen, "pipeline: the file has none");
		return -EINVAL;
	}
	pl = &m->cfg->pipelines[0];
	m->pl = pl;
	if (k->pipeline_path == NULL)
		return 0;
	/* A file: the knobs override its scheduling, as sluicectl's
	 * policy edit and the pool's fields would. */
	for (unsigned int r = 0; r < SL_SIM_ROLES; r++) {
		unsigned int s;

		for (s = 0; s < pl->n_stages; s++)
			if (!strcmp(pl->stages[s].name, role_names[r]))
				break;
		if (s == pl->n_stages)
			continue; /* setup_node says what is missing */
		if (pl->stages[s].pool != SL_POOL_NONE) {
			struct sl_pool_cfg *po = &pl->pools[pl->stages[s].pool];

			struct sl_policy_edit pe = {
				.policy = k->policy < SL_BALANCE_MAX
						  ? k->policy
						  : po->policy,
				.load_bound = k->load_bound,
				.warm_prefixes = k->warm_prefixes,
			};

			/* As sluicectl policy set --pool does. */
			if (sl_config_policy_edit(m->cfg, pl->name, "",
						  po->name, &pe, why,
						  sizeof(why)) < 0) {
				snprintf(m->err, m->errlen, "%s", why);
				return -EINVAL;
			}
		} else {
			if (k->load_bound != 0 || k->warm_prefixes != 0) {
				snprintf(m->err, m->errlen,
					 "%s: stage %s is in no pool",
					 k->load_bound != 0 ? "load_bound"
							    : "warm_prefixes",
					 role_names[r]);
				return -EINVAL;
			}
			struct sl_policy_edit pe = {.policy = k->policy};

			if (k->policy < SL_BALANCE_MAX &&
			    sl_config_policy_edit(m->cfg, pl->name,
						  role_names[r], "", &pe, why,
						  sizeof(why)) < 0) {
				snprintf(m->err, m->errlen, "%s", why);
				return -EINVAL;
			}
		}
	}
	return 0;
}

/* ---- results ---- */

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with at least @p of them at or
 * below it. */
static uint64_t
nearest_rank(const uint64_t *v, uint64_t n, double p)
{
	uint64_t rank = (uint64_t)ceil(p * (double)n);

	return v[rank > 0 ? rank - 1 : 0];
}

static int
summarise(struct sim *m)
{
	const struct sl_sim_knobs *k = m->k;
	struct sl_sim_result *r = m->r;
	uint64_t slo_ns = (uint64_t)llround(k->slo_ms * 1e6);
	uint64_t *lat = malloc((m->n_req ? m->n_req : 1) * sizeof(*lat));
	double sum = 0;
	const struct sl_stage_cfg *st = &m->pl->stages[m->stage[0]];

	if (lat == NULL)
		return -ENOMEM;
	for (uint32_t i = k->warmup; i < m->n_req; i++) {
		const struct sim_req *rq = &m->req[i];

		r->requests++;
		if (!rq->done)
			continue;
		lat[r->completed++] = rq->end - rq->at;
		sum += (double)(rq->end - rq->at);
		r->under_slo += rq->end - rq->at < slo_ns;
	}
	r->attainment = r->requests ? (double)r->under_slo / r->requests : 0;
	if (r->completed > 0) {
		qsort(lat, r->completed, sizeof(*lat), cmp_u64);
		r->p50_ms = (double)nearest_rank(lat, r->completed, 0.50) / 1e6;
		r->p99_ms = (double)nearest_rank(lat, r->completed, 0.99) / 1e6;
		r->mean_ms = sum / (double)r->completed / 1e6;
	}
	free(lat);
	if (r->requests > 1 && m->req[m->n_req - 1].at > m->req[k->warmup].at)
		r->offered_rate = (double)(r->requests - 1) /
				  ((double)(m->req[m->n_req - 1].at -
					    m->req[k->warmup].at) /
				   1e9);
	r->n_engines = m->n_eng;
	for (unsigned int e = 0; e < m->n_eng; e++) {
		struct sl_sim_engine_stats *es = &m->eng[e].st;
		const struct sl_lm_stats *ls = &m->eng[e].lm.st;

		es->prefix_hits = ls->prefix_hits;
		es->prefix_misses = ls->prefix_misses;
		es->prefix_evictions = ls->prefix_evictions;
		es->preemptions = ls->preemptions;
		es->busy_ns = ls->busy_ns;
		r->engine[e] = *es;
		r->prefix_hits += ls->prefix_hits;
		r->prefix_misses += ls->prefix_misses;
	}
	snprintf(r->policy, sizeof(r->policy), "%s",
		 sl_balance_name(st->balance));
	r->load_bound = 1.25;
	if (st->pool != SL_POOL_NONE) {
		r->load_bound = m->pl->pools[st->pool].load_bound;
		r->warm_prefixes = m->pl->pools[st->pool].warm_prefixes;
	}
	if (k->pipeline_path != NULL)
		snprintf(r->layout, sizeof(r->layout), "file");
	else if (k->pinned[0])
		snprintf(r->layout, sizeof(r->layout), "pinned:%u/%u/%u",
			 k->pinned[0], k->pinned[1], k->pinned[2]);
	else
		snprintf(r->layout, sizeof(r->layout), "pool:%u",
			 k->pool_instances);
	return 0;
}

int
sl_sim_run(const struct sl_sim_knobs *k, struct sl_sim_data *d,
	   struct sl_sim_result *out, char *err, size_t errlen)
{
	struct sim m = {.k = k, .r = out, .err = err, .errlen = errlen};
	struct timespec t0, t1;
	struct sl_sim_data *own = NULL;
	uint64_t horizon;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(out, 0, sizeof(*out));
	rc = sl_sim_check(k, err, errlen);
	if (rc < 0)
		return rc;
	if (d == NULL) {
		d = own = sl_sim_data_open(k->corpus_path, k->trace_path, err,
					   errlen);
		if (d == NULL)
			return -ENOENT;
	} else if (k->trace_path != NULL && d->trace == NULL) {
		snprintf(err, errlen, "trace: the data given has no trace");
		return -EINVAL;
	}
	m.d = d;
	m.hop_ns = (uint64_t)llround(k->hop_us * 1e3 / k->time_scale);
	m.retrieval_ns = (uint64_t)llround(k->retrieval_ms * 1e6);
	m.row = calloc(SL_MAX_STAGES, sizeof(*m.row));
	m.inst = calloc(SL_MAX_INSTANCE_UIDS, sizeof(*m.inst));
	m.eng = calloc(SL_SIM_ENGINES_MAX, sizeof(*m.eng));
	if (m.row == NULL || m.inst == NULL || m.eng == NULL) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	rc = load_config(&m);
	if (rc == 0)
		rc = build_workload(&m);
	if (rc == 0)
		rc = setup_node(&m);
	if (rc == 0) {
		horizon = m.req[m.n_req - 1].at +
			  (uint64_t)llround(k->drain_s * 1e9);
		rc = run_events(&m, horizon);
	}
	if (rc == 0)
		rc = summarise(&m);
out:
	for (unsigned int e = 0; e < m.n_eng; e++)
		sl_lm_fini(&m.eng[e].lm);
	free(m.eng);
	free(m.inst);
	free(m.row);
	free(m.lm_ev);
	free(m.req);
	free(m.str);
	free(m.heap);
	if (m.cfg != NULL)
		sl_config_free(m.cfg);
	sl_sim_data_close(own);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	out->wall_s = (double)(t1.tv_sec - t0.tv_sec) +
		      (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	return rc;
}

/* ---- JSON ---- */

void
sl_sim_json(FILE *f, const struct sl_sim_knobs *k,
	    const struct sl_sim_result *r, bool wall)
{
	fprintf(f,
		"{\"layout\": \"%s\", \"policy\": \"%s\", \"load_bound\": %g, "
		"\"warm_prefixes\": %u, \"prefix_cache\": %u, ",
		r->layout, r->policy, r->load_bound, r->warm_prefixes,
		k->prefix_cache_slots);
	if (k->trace_path != NULL)
		fprintf(f, "\"workload\": \"trace\", \"trace_speedup\": %.6g, ",
			r->speedup);
	else
		fprintf(f, "\"workload\": \"poisson\", \"rate\": %.6g, ",
			k->rate);
	fprintf(f,
		"\"seed\": %" PRIu64 ", \"offered_rate\": %.4f, "
		"\"slo_ms\": %.6g, \"requests\": %" PRIu64
		", \"warmup\": %u, \"completed\": %" PRIu64
		", \"under_slo\": %" PRIu64 ", \"slo_attainment\": %.6f, "
		"\"latency_ms\": {\"p50\": %.3f, \"p99\": %.3f, "
		"\"mean\": %.3f}, \"prefix_hits\": %" PRIu64
		", \"prefix_misses\": %" PRIu64 ", \"refused\": %" PRIu64
		", \"streams\": {\"answer\": %" PRIu64 ", \"claims\": %" PRIu64
		", \"queries\": %" PRIu64 "}, \"instances\": [",
		k->seed, r->offered_rate, k->slo_ms, r->requests, k->warmup,
		r->completed, r->under_slo, r->attainment, r->p50_ms, r->p99_ms,
		r->mean_ms, r->prefix_hits, r->prefix_misses, r->refused,
		r->streams[0], r->streams[1], r->streams[2]);
	for (unsigned int e = 0; e < r->n_engines; e++) {
		const struct sl_sim_engine_stats *es = &r->engine[e];

		fprintf(f,
			"%s{\"name\": \"%s\", \"endpoint\": "
			"\"%u.%u.%u.%u:%u\", "
			"\"served\": %" PRIu64 ", \"answer\": %" PRIu64
			", \"claims\": %" PRIu64 ", \"queries\": %" PRIu64
			", \"prefix_hits\": %" PRIu64
			", \"prefix_misses\": %" PRIu64
			", \"preemptions\": %" PRIu64 ", \"busy_s\": %.3f}",
			e ? ", " : "", es->name, es->ip >> 24,
			(es->ip >> 16) & 255, (es->ip >> 8) & 255, es->ip & 255,
			es->port, es->served[0] + es->served[1] + es->served[2],
			es->served[0], es->served[1], es->served[2],
			es->prefix_hits, es->prefix_misses, es->preemptions,
			(double)es->busy_ns / 1e9);
	}
	fprintf(f, "], \"events\": %" PRIu64 ", \"model_s\": %.3f", r->events,
		(double)r->model_end_ns / 1e9);
	if (wall)
		fprintf(f, ", \"wall_s\": %.4f", r->wall_s);
	fprintf(f, "}\n");
}
