/* SPDX-License-Identifier: MIT */
/*
 * roles.c - the timed roles of sluice-engine: LM stages (answer, claims,
 * queries) and retrieval operators (bm25, encoder, rerank).
 *
 * Each input stream gets a job: the answer it will receive. The job
 * collects the input while the stream is open (the stream table entry
 * owns it), then work starts and the scheduler owns it:
 *
 *   LM roles   at END: into the instance's iteration loop (lm_loop.h:
 *              prefill iterations that stall the decodes, decodes of
 *              a + b x batch, a KV budget with preemption) while fewer
 *              than --max-num-seqs sequences are in it, else wait in the
 *              FIFO; the prompt is --prefix-tokens (the stage's few-shot
 *              prompt) and the input's tokens; each token its own
 *              fragment, END on the last.
 *   bm25       streamed: every arrived token costs --token-ms of a worker;
 *              after the last token's service (and END) one fragment of
 *              the top documents.
 *   encoder    at END: --item-ms of a worker, one token "emb:<hex>".
 *   rerank     a join: per ancestry, when streams from --join distinct
 *              from_stages have ended, --item-ms of a worker, then the
 *              documents re-sorted, one fragment.
 *   replay     an LM role (same iteration loop) whose
 *              answer is the recorded "generated" text of the --data
 *              record whose "question" equals the prompt byte for byte
 *              (none: ABORT ENGINE, counted as replay_unknown). The text
 *              is cut into tokens of --chunk-min..--chunk-max bytes on
 *              UTF-8 character boundaries, 1..4 tokens a fragment
 *              (model.h, sl_model_chunker), keyed by prompt and --seed;
 *              a fragment goes out when its last token is decoded, END
 *              on the last.
 *   openai     at END: the prompt (--prompt with the input in place of
 *              "{input}") to the model server (--upstream, upstream.c)
 *              while fewer than --max-num-seqs answers stream, else wait
 *              in the FIFO; each piece of text its own fragment as it
 *              arrives, END at the server's [DONE], ABORT with the
 *              UPSTREAM* reason of whatever went wrong.
 *
 * All durations are timers on one heap: nothing sleeps, every stream
 * progresses concurrently in the one thread. What is said comes from
 * model.c and depends on the input bytes only; when it is said depends
 * on the timing model and the load.
 *
 * Bounded: the stream table bounds open streams, ENGINE_PROMPT_MAX one
 * prompt, ENGINE_TEXT_BUDGET all held input text, --max-queue the waiting
 * FIFO and --max-wait-ms how long its oldest work may have waited when
 * new work comes (work that would wait longer than that is refused at
 * once rather than served too late: a queue that only grows under
 * overload turns into explicit refusals). What does not fit is answered
 * ABORT (OVERLOAD, or ENGINE for an over-long prompt) and counted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "http.h"

/* Longest prompt an LM accepts (its context window, in bytes): room for
 * the longest prompt sluicegen --trace sends (GEN_TRACE_CONTEXT_MAX,
 * 16,000 corpus tokens: at most 88,171 bytes of tools/data/corpus.txt). */
#define ENGINE_PROMPT_MAX (128u * 1024u)
/* Input text held by all open streams together. */
#define ENGINE_TEXT_BUDGET (64ull * 1024ull * 1024ull)

static const char *const sl_engine_role_names[SL_ENGINE_ROLE_MAX] = {
#define SL_ENGINE_ROLE_NAME(name, text) [SL_ENGINE_ROLE_##name] = text,
	SL_ENGINE_ROLES(SL_ENGINE_ROLE_NAME)
#undef SL_ENGINE_ROLE_NAME
};

const char *
sl_engine_role_name(enum sl_engine_role r)
{
	if ((unsigned int)r >= SL_ENGINE_ROLE_MAX)
		return "?";
	return sl_engine_role_names[r];
}

int
sl_engine_role_by_name(const char *name, enum sl_engine_role *out)
{
	unsigned int i;

	for (i = 0; i < SL_ENGINE_ROLE_MAX; i++) {
		if (strcmp(name, sl_engine_role_names[i]) == 0) {
			*out = (enum sl_engine_role)i;
			return 0;
		}
	}
	return -EINVAL;
}

bool
sl_engine_role_is_lm(enum sl_engine_role r)
{
	return r == SL_ENGINE_ROLE_ANSWER || r == SL_ENGINE_ROLE_CLAIMS ||
	       r == SL_ENGINE_ROLE_QUERIES || r == SL_ENGINE_ROLE_REPLAY;
}

enum sl_engine_role
sl_engine_role_of(const struct engine *e, uint16_t stage)
{
	if (!e->pooled)
		return e->role;
	if (stage >= SL_ENGINE_STAGE_TRANSFORMS || e->stage_role[stage] == 0)
		return SL_ENGINE_ROLE_MAX;
	return (enum sl_engine_role)(e->stage_role[stage] - 1);
}

uint64_t
sl_engine_prefix_key(const struct engine *e, uint16_t stage)
{
	return e->pooled ? stage : (uint64_t)e->role + 1;
}

uint32_t
sl_engine_prefix_tokens(const struct engine *e, uint16_t stage)
{
	if (!e->m.prefix_by_stage)
		return e->m.prefix_tokens;
	return stage < SL_ENGINE_STAGE_TRANSFORMS
		       ? e->m.stage_prefix_tokens[stage]
		       : 0;
}

/* A pool member's counters of @stage's streams; NULL outside a pool. */
static struct engine_stage_stats *
stage_stats(struct engine *e, uint16_t stage)
{
	if (!e->pooled || stage >= SL_ENGINE_STAGE_TRANSFORMS)
		return NULL;
	return &e->st_stage[stage];
}

/* The inputs of one join, kept in from_stage order (deterministic). */
struct sl_join {
	unsigned int n;
	uint16_t from[SL_ENGINE_JOIN_MAX];
	struct sl_text text[SL_ENGINE_JOIN_MAX];
};

struct sl_job {
	struct engine *e;
	enum sl_engine_role role; /* sl_engine_role_of its stage */
	struct sl_http_req *http; /* asked over HTTP (http.c), else NULL */
	struct sl_frag_hdr out;   /* answer identity; out.seq = next seq */
	struct sockaddr_in dst;
	struct sl_job *next;       /* in the waiting FIFO */
	struct sl_job *batch_next; /* encoder: the rest of its batch */
	struct sl_text in;         /* input text (LM, rerank input) */
	struct sl_text text;       /* LM: the answer being emitted */
	size_t text_pos;
	uint64_t end_ns;        /* input END: the LM's TTFT origin */
	uint64_t ready_ns;      /* when it last entered the FIFO */
	uint64_t last_token_ns; /* LM: deadline of the previous token */
	struct sl_model_bm25 *bm25;
	struct sl_join *join;
	/* replay: the cutter and the fragment due next */
	struct sl_model_chunker chunk;
	size_t frag_off[SL_MODEL_REPLAY_FRAG_TOKENS];
	size_t frag_len[SL_MODEL_REPLAY_FRAG_TOKENS];
	unsigned int frag_n;
	unsigned int frag_done; /* of its tokens decoded */
	uint32_t in_tokens;
	uint32_t pending; /* bm25: arrived tokens not yet served */
	uint32_t embed;   /* encoder: running hash of the text */
	bool queued;      /* in e->waiting */
	bool running;     /* a timer is armed for it */
	bool admitted;    /* counted against --max-queue once */
	bool input_done;  /* bm25: END arrived */
	bool answered;    /* ABORT sent: nothing more goes out */
	uint8_t failed;   /* rerank input: why it failed (the join answers) */
	bool dead;        /* owner let go while queued or running */
};

static void
job_free(struct engine *e, struct sl_job *j)
{
	unsigned int i;

	e->text_bytes -= j->in.len;
	sl_text_free(&j->in);
	sl_text_free(&j->text);
	free(j->bm25);
	if (j->join != NULL) {
		for (i = 0; i < j->join->n; i++) {
			e->text_bytes -= j->join->text[i].len;
			sl_text_free(&j->join->text[i]);
		}
		free(j->join);
	}
	free(j);
}

/* The owner lets go: free now, or when the scheduler is done with it. */
static void
job_put(struct engine *e, struct sl_job *j)
{
	if (j->queued || j->running)
		j->dead = true;
	else
		job_free(e, j);
}

static struct sl_job *
job_new(struct engine *e, const struct sl_frag_view *v)
{
	struct sl_job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->e = e;
	j->role = sl_engine_role_of(e, v->hdr.stage);
	j->out = v->hdr;
	j->out.flags = 0;
	j->out.abort_reason = 0;
	j->out.seq = 0;
	j->out.child_count = 0;
	j->out.from_stage = v->hdr.stage;
	j->dst = v->src;
	j->embed = SL_MODEL_EMBED_INIT;
	if (j->role == SL_ENGINE_ROLE_BM25) {
		j->bm25 = malloc(sizeof(*j->bm25));
		if (j->bm25 == NULL) {
			free(j);
			return NULL;
		}
		sl_model_bm25_init(j->bm25, e->m.seed);
	}
	return j;
}

/* One fragment of @j's answer with @n tokens. */
static void
job_send(struct engine *e, struct sl_job *j, const char *const *tok,
	 const size_t *len, unsigned int n, uint8_t flags, uint8_t reason)
{
	struct sl_dgram *d = engine_tx_slot(e);
	struct sl_wire_builder b;
	struct sl_frag_hdr h = j->out;
	unsigned int i;

	if (j->http != NULL) {
		sl_http_send(j->http, tok, len, n, flags, reason);
		e->st.tokens_out += n;
		if (flags & (SL_FRAG_F_END | SL_FRAG_F_ABORT))
			j->http = NULL; /* the server's again */
		return;
	}
	h.seq = j->out.seq++;
	h.flags = flags;
	h.abort_reason = reason;
	sl_wire_builder_init(&b, d->buf, d->cap, &h);
	for (i = 0; i < n; i++) {
		/* Every answer is built to fit one datagram. */
		if (sl_wire_builder_add(&b, sl_token_hash(tok[i], len[i]),
					tok[i], len[i]) < 0)
			break;
		e->st.tokens_out++;
	}
	d->len = (uint16_t)sl_wire_builder_finish(&b);
	d->addr = j->dst;
	engine_tx_commit(e, d);
}

/* Withdraw @j's answer: ABORT with @reason, once. */
static void
job_send_abort(struct engine *e, struct sl_job *j, uint8_t reason)
{
	if (j->answered)
		return;
	j->answered = true;
	job_send(e, j, NULL, NULL, 0, SL_FRAG_F_ABORT, reason);
}

/* No capacity for @j: ABORT OVERLOAD, counted (an OVERLOAD passed on
 * from upstream is not ours to count). */
static void
job_refuse(struct engine *e, struct sl_job *j)
{
	if (!j->answered)
		e->st.overload_aborts++;
	job_send_abort(e, j, SL_ABORT_OVERLOAD);
}

static void
fifo_push(struct engine *e, struct sl_job *j, uint64_t now)
{
	j->ready_ns = now;
	j->next = NULL;
	if (e->waiting.tail != NULL)
		e->waiting.tail->next = j;
	else
		e->waiting.head = j;
	e->waiting.tail = j;
	e->waiting.len++;
	j->queued = true;
	if (e->waiting.len > e->st.queue_max)
		e->st.queue_max = e->waiting.len;
}

/* The oldest waiting work has waited longer than @limit_ns (0: never). */
static bool
fifo_waited(const struct engine *e, uint64_t now, uint64_t limit_ns)
{
	const struct sl_job *h = e->waiting.head;

	return limit_ns != 0 && h != NULL && now > h->ready_ns &&
	       now - h->ready_ns > limit_ns;
}

/* No room for new work: --max-queue waiting, or waited --max-wait-ms. */
static bool
fifo_full(const struct engine *e, uint64_t now)
{
	return e->waiting.len >= e->m.max_queue ||
	       fifo_waited(e, now, e->m.max_wait_ns);
}

static struct sl_job *
fifo_pop(struct engine *e)
{
	struct sl_job *j = e->waiting.head;

	if (j == NULL)
		return NULL;
	e->waiting.head = j->next;
	if (e->waiting.head == NULL)
		e->waiting.tail = NULL;
	e->waiting.len--;
	j->queued = false;
	j->next = NULL;
	return j;
}

/* --serial-children: is another answer of @j's request in the loop? */
static bool
lm_request_busy(const struct engine *e, const struct sl_job *j)
{
	if (!e->m.serial_children)
		return false;
	for (uint32_t i = 0; i < e->lm.capacity; i++) {
		const struct sl_job *o = sl_lm_owner(&e->lm, i);

		if (o != NULL && o->out.ancestry[0] == j->out.ancestry[0])
			return true;
	}
	return false;
}

/* The first waiting job the loop may take now (FIFO order, skipping
 * those whose request is busy under --serial-children), unlinked. */
static struct sl_job *
fifo_pop_ready(struct engine *e)
{
	struct sl_job *j, *prev = NULL;

	if (!e->m.serial_children)
		return fifo_pop(e);
	for (j = e->waiting.head; j != NULL; prev = j, j = j->next) {
		if (!j->dead && lm_request_busy(e, j))
			continue;
		if (prev == NULL)
			return fifo_pop(e);
		prev->next = j->next;
		if (e->waiting.tail == j)
			e->waiting.tail = prev;
		e->waiting.len--;
		j->queued = false;
		j->next = NULL;
		return j;
	}
	return NULL;
}

static void
job_arm(struct engine *e, struct sl_job *j, uint64_t deadline)
{
	/* One entry per running job, at most --max-batch or --workers:
	 * sl_role_init reserved them all, so this does not allocate. */
	if (sl_timer_arm(&e->timers, deadline, j) < 0)
		abort();
	j->running = true;
}

/* ---- LM roles: the iteration loop (lm_loop.h) ---- */

/* The loop's one timer entry: armed while an iteration runs. */
static void
lm_arm(struct engine *e)
{
	uint64_t t = sl_lm_next(&e->lm);

	if (t == UINT64_MAX || e->lm_armed)
		return;
	/* sl_role_init reserved the entry: this does not allocate. */
	if (sl_timer_arm(&e->timers, t, &e->lm) < 0)
		abort();
	e->lm_armed = true;
}

/* Tokens @j will be answered with. */
static uint32_t
lm_out_tokens(const struct engine *e, const struct sl_job *j)
{
	uint32_t n = 0;

	(void)e;
	if (j->role == SL_ENGINE_ROLE_REPLAY) {
		struct sl_model_chunker c = j->chunk;
		size_t off[SL_MODEL_REPLAY_FRAG_TOKENS];
		size_t len[SL_MODEL_REPLAY_FRAG_TOKENS];
		unsigned int k;

		n = j->frag_n;
		while ((k = sl_model_chunker_frag(&c, off, len)) > 0)
			n += k;
		return n;
	}
	for (size_t pos = 0; pos < j->text.len; n++)
		pos += sl_tokenize_next(j->text.buf + pos, j->text.len - pos);
	return n;
}

static void lm_finish(struct engine *e, struct sl_job *j, uint64_t t);

/* Into the loop at @t: its prompt is the stage's prefix and the input. */
static void
lm_admit(struct engine *e, struct sl_job *j, uint64_t t)
{
	uint32_t prefix = sl_engine_prefix_tokens(e, j->out.stage);
	uint32_t out = lm_out_tokens(e, j);

	if (out == 0 || sl_lm_submit(&e->lm, j, prefix + j->in_tokens, out,
				     sl_engine_prefix_key(e, j->out.stage),
				     prefix, t) != 0) {
		/* Nothing to say, or more than the KV cache holds. */
		if (out != 0)
			e->st.too_long++;
		job_send_abort(e, j,
			       out != 0 ? SL_ABORT_TOO_LONG : SL_ABORT_ENGINE);
		job_free(e, j);
		return;
	}
	e->active++;
	lm_arm(e);
}

static void
lm_admit_waiting(struct engine *e, uint64_t t)
{
	while (e->active < e->m.max_batch) {
		struct sl_job *j = fifo_pop_ready(e);

		if (j == NULL)
			break;
		if (j->dead) {
			job_free(e, j);
			continue;
		}
		/* Timers fire late by the loop's latency: a prompt that
		 * arrived after the due time starts when it arrived. */
		lm_admit(e, j, t > j->ready_ns ? t : j->ready_ns);
	}
}

/* replay: the recorded answer of @j's prompt, and its first fragment. */
static int
replay_answer(struct engine *e, struct sl_job *j, uint64_t key)
{
	const struct sl_model_replay_entry *r = NULL;

	if (j->in.len > 0)
		r = sl_model_replay_find(e->replay, j->in.buf, j->in.len);
	if (r == NULL) {
		e->st.replay_unknown++;
		return -ENOENT;
	}
	if (sl_text_append(&j->text, r->generated, r->generated_len))
		return -ENOMEM;
	sl_model_chunker_init(&j->chunk, j->text.buf, j->text.len, key,
			      e->chunk_min, e->chunk_max);
	j->frag_n = sl_model_chunker_frag(&j->chunk, j->frag_off, j->frag_len);
	j->frag_done = 0;
	return 0;
}

/* replay: a token of the due fragment is decoded at @t; the fragment
 * leaves with its last. */
static void
replay_token(struct engine *e, struct sl_job *j, bool last)
{
	const char *tok[SL_MODEL_REPLAY_FRAG_TOKENS];
	size_t len[SL_MODEL_REPLAY_FRAG_TOKENS];
	unsigned int i, n = j->frag_n;

	if (++j->frag_done < n && !last)
		return;
	for (i = 0; i < n; i++) {
		tok[i] = j->text.buf + j->frag_off[i];
		len[i] = j->frag_len[i];
	}
	j->frag_n = sl_model_chunker_frag(&j->chunk, j->frag_off, j->frag_len);
	j->frag_done = 0;
	job_send(e, j, tok, len, n, last ? SL_FRAG_F_END : 0, 0);
}

/*
 * @j's answer into j->text, keyed by its prompt under --seed. A prompt
 * that opens with the length directive (sluice.h) is answered with
 * exactly the tokens it asks for; the line is an API parameter, not
 * prompt: the text is keyed and read without it and its tokens are not
 * prefilled. replay answers what was recorded for the whole prompt.
 */
static int
lm_text(struct engine *e, struct sl_job *j)
{
	struct sl_model_directive d = {0};
	const char *in = j->in.buf;
	size_t len = j->in.len;
	uint64_t key;
	int rc = 0;

	if (j->role != SL_ENGINE_ROLE_REPLAY)
		rc = sl_model_directive_parse(in, len, &d);
	if (rc < 0) {
		e->st.bad_directives++;
		return rc;
	}
	if (rc > 0) {
		e->st.length_directives++;
		in += d.len;
		len -= d.len;
		j->in_tokens =
			j->in_tokens > d.tokens ? j->in_tokens - d.tokens : 0;
	}
	key = sl_model_key(in, len, e->m.seed);
	switch (j->role) {
	case SL_ENGINE_ROLE_ANSWER:
		if (d.max_tokens)
			return sl_model_answer_tokens(e->corpus, key,
						      d.max_tokens, &j->text);
		return sl_model_say(SL_MODEL_ROLE_ANSWER, e->m.lengths, in, len,
				    e->corpus, key, &j->text);
	case SL_ENGINE_ROLE_CLAIMS:
		if (d.max_tokens)
			return sl_model_claims_tokens(in, len, e->corpus, key,
						      d.max_tokens, &j->text);
		return sl_model_say(SL_MODEL_ROLE_CLAIMS, e->m.lengths, in, len,
				    e->corpus, key, &j->text);
	case SL_ENGINE_ROLE_REPLAY:
		return replay_answer(e, j, key);
	default:
		if (d.max_tokens)
			return sl_model_queries_tokens(in, len, e->corpus, key,
						       d.max_tokens, &j->text);
		return sl_model_say(SL_MODEL_ROLE_QUERIES, e->m.lengths, in,
				    len, e->corpus, key, &j->text);
	}
}

/* The prompt is complete: write the answer, then queue for the loop. */
static void
lm_start(struct engine *e, struct sl_job *j, uint64_t now)
{
	int rc = lm_text(e, j);

	e->text_bytes -= j->in.len;
	sl_text_free(&j->in);
	j->end_ns = now;
	if (rc < 0) {
		job_send_abort(e, j, SL_ABORT_ENGINE);
		job_free(e, j);
		return;
	}
	if (e->active < e->m.max_batch && e->waiting.len == 0 &&
	    !lm_request_busy(e, j)) {
		lm_admit(e, j, now);
	} else if (fifo_full(e, now)) {
		job_refuse(e, j);
		job_free(e, j);
	} else {
		fifo_push(e, j, now);
	}
}

/* The loop gave @j its token @index at @t: send it (a token a fragment;
 * replay: whole fragments). */
static void
lm_token(struct engine *e, struct sl_job *j, uint32_t index, bool last,
	 uint64_t t)
{
	struct engine_stage_stats *ss = stage_stats(e, j->out.stage);

	if (index == 0) {
		e->st.ttft_ns_sum += t - j->end_ns;
		e->st.ttft_count++;
		if (ss != NULL) {
			ss->ttft_ns_sum += t - j->end_ns;
			ss->ttft_count++;
		}
	} else {
		e->st.tpot_ns_sum += t - j->last_token_ns;
		e->st.tpot_count++;
	}
	if (ss != NULL)
		ss->tokens_out++;
	j->last_token_ns = t;
	if (j->role == SL_ENGINE_ROLE_REPLAY) {
		replay_token(e, j, last);
	} else {
		const char *tok = j->text.buf + j->text_pos;
		size_t len = sl_tokenize_next(tok, j->text.len - j->text_pos);

		job_send(e, j, &tok, &len, 1, last ? SL_FRAG_F_END : 0, 0);
		j->text_pos += len;
	}
	if (last)
		lm_finish(e, j, t);
}

/* The iteration due at @t ended: its tokens go out, the next starts. */
static void
lm_tick(struct engine *e, uint64_t t)
{
	struct sl_lm_event *ev = e->lm_ev;
	unsigned int n;

	e->lm_armed = false;
	/* lm_ev holds max_num_seqs events: every iteration fits. */
	do {
		n = sl_lm_step(&e->lm, t, ev, e->m.max_batch);
		for (unsigned int i = 0; i < n; i++)
			lm_token(e, ev[i].owner, ev[i].index, ev[i].last, t);
	} while (n > 0 && sl_lm_next(&e->lm) <= t);
	e->st.busy_ns = e->lm.st.busy_ns;
	lm_arm(e);
}

/* The answer of @j is complete at @t: a slot of the loop is free. */
static void
lm_finish(struct engine *e, struct sl_job *j, uint64_t t)
{
	struct engine_stage_stats *ss = stage_stats(e, j->out.stage);
	uint64_t lines = 0;

	for (size_t i = 0; i < j->text.len; i++)
		lines += j->text.buf[i] == '\n';
	e->st.output_ns_sum += t - j->end_ns;
	e->st.lines_out += lines;
	e->st.requests_served++;
	if (ss != NULL) {
		ss->output_ns_sum += t - j->end_ns;
		ss->lines_out += lines;
		ss->requests_served++;
	}
	e->active--;
	job_free(e, j);
	lm_admit_waiting(e, t);
}

/* ---- operators served by --workers ---- */

static void
work_dispatch(struct engine *e, uint64_t t)
{
	while (e->active < e->m.workers) {
		struct sl_job *j = fifo_pop(e);
		uint64_t service;

		if (j == NULL)
			break;
		if (j->dead) {
			job_free(e, j);
			continue;
		}
		if (e->role == SL_ENGINE_ROLE_BM25) {
			service = e->m.token_ns * j->pending;
			j->pending = 0;
		} else {
			unsigned int n = 1;

			/* Up to --batch waiting items at once (the encoder
			 * batches), chained behind the first (its timer). */
			while (n < e->m.batch && e->waiting.head != NULL) {
				struct sl_job *b = fifo_pop(e);

				b->batch_next = j->batch_next;
				b->running = true;
				j->batch_next = b;
				n++;
			}
			service = e->m.item_ns + e->m.item_batch_ns * n;
			e->st.batches++;
		}
		e->st.busy_ns += service;
		e->active++;
		job_arm(e, j, (t > j->ready_ns ? t : j->ready_ns) + service);
	}
}

/* Queue @j for a worker; only its first entry counts against the bound
 * (a bm25 query returns for every batch of tokens that arrived while it
 * was served). Return false if it was refused. */
static bool
work_enqueue(struct engine *e, struct sl_job *j, uint64_t now)
{
	if (!j->admitted) {
		if (fifo_full(e, now)) {
			job_refuse(e, j);
			return false;
		}
		j->admitted = true;
	}
	fifo_push(e, j, now);
	work_dispatch(e, now);
	return true;
}

static void
bm25_answer(struct engine *e, struct sl_job *j)
{
	struct sl_model_doc top[SL_MODEL_TOP];
	char text[SL_MODEL_TOP][SL_MODEL_DOC_TEXT_MAX];
	const char *tok[SL_MODEL_TOP];
	size_t len[SL_MODEL_TOP];
	unsigned int i;

	sl_model_bm25_top(j->bm25, top);
	for (i = 0; i < SL_MODEL_TOP; i++) {
		len[i] = sl_model_doc_format(&top[i], text[i]);
		tok[i] = text[i];
	}
	job_send(e, j, tok, len, SL_MODEL_TOP, SL_FRAG_F_END, 0);
	e->st.requests_served++;
}

static void
encoder_answer(struct engine *e, struct sl_job *j)
{
	char text[16];
	const char *tok = text;
	size_t len;

	len = (size_t)snprintf(
		text, sizeof(text), "emb:%08x",
		(unsigned int)sl_model_embed_final(j->embed, e->m.seed));
	job_send(e, j, &tok, &len, 1, SL_FRAG_F_END, 0);
	e->st.requests_served++;
}

static void
rerank_answer(struct engine *e, struct sl_job *j)
{
	struct sl_model_doc docs[SL_MODEL_TOP];
	char text[SL_MODEL_TOP][SL_MODEL_DOC_TEXT_MAX];
	const char *texts[SL_ENGINE_JOIN_MAX], *tok[SL_MODEL_TOP];
	size_t lens[SL_ENGINE_JOIN_MAX], len[SL_MODEL_TOP];
	unsigned int i, n;

	for (i = 0; i < j->join->n; i++) {
		texts[i] = j->join->text[i].buf ? j->join->text[i].buf : "";
		lens[i] = j->join->text[i].len;
	}
	n = sl_model_rerank(texts, lens, j->join->n, e->m.seed, docs,
			    SL_MODEL_TOP);
	for (i = 0; i < n; i++) {
		len[i] = sl_model_doc_format(&docs[i], text[i]);
		tok[i] = text[i];
	}
	job_send(e, j, tok, len, n, SL_FRAG_F_END, 0);
	e->st.requests_served++;
}

static void
work_fire(struct engine *e, struct sl_job *j, uint64_t t)
{
	j->running = false;
	e->active--;
	if (j->dead && e->role == SL_ENGINE_ROLE_BM25) {
		job_free(e, j);
	} else if (e->role == SL_ENGINE_ROLE_BM25) {
		if (j->pending > 0)
			fifo_push(e, j, t);
		else if (j->input_done) {
			bm25_answer(e, j);
			job_free(e, j);
		}
		/* else idle until more of the query arrives */
	} else {
		while (j != NULL) {
			struct sl_job *b = j->batch_next;

			if (!j->dead && e->role == SL_ENGINE_ROLE_ENCODER)
				encoder_answer(e, j);
			else if (!j->dead)
				rerank_answer(e, j);
			job_free(e, j);
			j = b;
		}
	}
	work_dispatch(e, t);
}

/* ---- openai: answers from a model server ---- */

/* The prompt: --prompt with every "{input}" replaced by @j's input. */
static int
openai_prompt(const struct engine *e, const struct sl_job *j,
	      struct sl_text *out)
{
	const char *p = e->prompt != NULL ? e->prompt : "{input}";
	const char *hole;

	out->len = 0;
	while ((hole = strstr(p, "{input}")) != NULL) {
		if (sl_text_append(out, p, (size_t)(hole - p)) ||
		    sl_text_append(out, j->in.buf, j->in.len))
			return -ENOMEM;
		p = hole + 7;
	}
	if (sl_text_append(out, p, strlen(p)))
		return -ENOMEM;
	return out->len > ENGINE_PROMPT_MAX ? -E2BIG : 0;
}

static void
openai_unlink(struct engine *e, struct sl_job *j)
{
	for (struct sl_job **p = &e->up_running; *p != NULL; p = &(*p)->next)
		if (*p == j) {
			*p = j->next;
			j->next = NULL;
			return;
		}
}

/* Send @j's prompt; the job is the transfer's until it ends. */
static void
openai_send(struct engine *e, struct sl_job *j, uint64_t now)
{
	struct sl_text prompt = {0};
	int rc = openai_prompt(e, j, &prompt);

	e->text_bytes -= j->in.len;
	sl_text_free(&j->in);
	j->end_ns = now;
	if (rc == 0)
		rc = sl_upstream_start(e->up, prompt.buf, prompt.len, j, now);
	sl_text_free(&prompt);
	if (rc != 0) {
		if (rc == -E2BIG)
			e->st.too_long++;
		job_send_abort(e, j,
			       rc == -E2BIG ? SL_ABORT_TOO_LONG
					    : SL_ABORT_ENGINE);
		job_free(e, j);
		return;
	}
	j->running = true;
	j->next = e->up_running;
	e->up_running = j;
	e->active++;
}

/* Waiting answers while fewer than --max-num-seqs stream. */
static void
openai_admit(struct engine *e, uint64_t now)
{
	while (e->active < e->m.max_batch) {
		struct sl_job *j = fifo_pop(e);

		if (j == NULL)
			break;
		if (j->dead)
			job_free(e, j);
		else
			openai_send(e, j, now);
	}
}

/* The input of @j ended: its answer is asked for, or waits. */
static void
openai_enqueue(struct engine *e, struct sl_job *j, uint64_t now)
{
	if (e->active < e->m.max_batch && e->waiting.len == 0) {
		openai_send(e, j, now);
	} else if (fifo_full(e, now)) {
		job_refuse(e, j);
		job_free(e, j);
	} else {
		fifo_push(e, j, now);
	}
}

/* Text from the server: pieces of at most OPENAI_PIECE_MAX bytes, cut on
 * character boundaries, each a token of its own fragment. */
#define OPENAI_PIECE_MAX 512

static void
openai_text(void *ctx, const char *s, size_t len)
{
	struct sl_job *j = ctx;
	struct engine *e = j->e;

	if (j->out.seq == 0) {
		e->st.ttft_ns_sum += sl_now_ns() - j->end_ns;
		e->st.ttft_count++;
	}
	while (len > 0) {
		size_t n = len < OPENAI_PIECE_MAX ? len : OPENAI_PIECE_MAX;

		while (n < len && n > 1 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
		job_send(e, j, &s, &n, 1, 0, 0);
		s += n;
		len -= n;
	}
}

static void
openai_end(void *ctx, enum sl_upstream_end how, long status)
{
	static const uint8_t reason[] = {
		[SL_UPSTREAM_ERROR] = SL_ABORT_UPSTREAM,
		[SL_UPSTREAM_TIMEOUT] = SL_ABORT_UPSTREAM_TIMEOUT,
		[SL_UPSTREAM_MALFORMED] = SL_ABORT_UPSTREAM_MALFORMED,
		[SL_UPSTREAM_CLOSED] = SL_ABORT_UPSTREAM_CLOSED,
	};
	struct sl_job *j = ctx;
	struct engine *e = j->e;

	(void)status;
	openai_unlink(e, j);
	j->running = false;
	e->active--;
	if (how == SL_UPSTREAM_DONE && !j->answered) {
		job_send(e, j, NULL, NULL, 0, SL_FRAG_F_END, 0);
		e->st.output_ns_sum += sl_now_ns() - j->end_ns;
		e->st.requests_served++;
	} else if (how != SL_UPSTREAM_DONE) {
		job_send_abort(e, j, reason[how]);
	}
	job_free(e, j);
}

static int
openai_init(struct engine *e)
{
	static const struct sl_upstream_ops ops = {openai_text, openai_end};

	e->up = sl_upstream_new(&e->up_cfg, &ops);
	return e->up != NULL ? 0 : -ENOMEM;
}

/* The answers still streaming: stopped, their jobs freed. */
static void
openai_fini(struct engine *e)
{
	while (e->up_running != NULL) {
		struct sl_job *j = e->up_running;

		e->up_running = j->next;
		sl_upstream_cancel(e->up, j);
		e->active--;
		job_free(e, j);
	}
	sl_upstream_free(e->up);
	e->up = NULL;
}

uint64_t
sl_role_run_timers(struct engine *e, uint64_t now)
{
	uint64_t t;
	struct sl_job *j;

	if (e->role == SL_ENGINE_ROLE_OPENAI) {
		t = sl_upstream_run(e->up, now);
		openai_admit(e, now);
		return t;
	}
	while ((j = sl_timer_pop(&e->timers, now, &t)) != NULL) {
		if ((void *)j == (void *)&e->lm)
			lm_tick(e, t);
		else
			work_fire(e, j, t);
	}
	return sl_timer_next(&e->timers);
}

/* ---- joins ---- */

static struct sl_job *
join_lookup(struct engine *e, const struct sl_job *in, uint64_t now,
	    struct engine_stream **entry)
{
	struct engine_key k;
	struct engine_stream *s;
	bool created;

	memset(&k, 0, sizeof(k));
	k.pipeline = in->out.pipeline;
	k.stage = in->out.stage;
	k.depth = in->out.depth;
	k.join = 1;
	memcpy(k.ancestry, in->out.ancestry,
	       in->out.depth * sizeof(k.ancestry[0]));
	s = engine_lookup(e, &k, &created);
	if (s == NULL)
		return NULL;
	s->last_ns = now;
	if (s->job == NULL) {
		s->job = calloc(1, sizeof(*s->job));
		if (s->job != NULL)
			s->job->join = calloc(1, sizeof(*s->job->join));
		if (s->job == NULL || s->job->join == NULL) {
			free(s->job);
			s->job = NULL;
			engine_remove(e, s);
			return NULL;
		}
		s->job->out = in->out;
		s->job->dst = in->dst;
	}
	*entry = s;
	return s->job;
}

/*
 * Input @in, from stage @from, ended (@reason 0) or failed with @reason.
 * Add it to its join; start the join when all inputs are in.
 */
static void
join_input(struct engine *e, struct sl_job *in, uint16_t from, uint8_t reason,
	   uint64_t now)
{
	struct engine_stream *s;
	struct sl_job *g = join_lookup(e, in, now, &s);
	struct sl_join *jn;
	unsigned int i, k;

	if (g == NULL) {
		/* No room to remember the join: refuse it. */
		if (reason)
			job_send_abort(e, in, reason);
		else
			job_refuse(e, in);
		job_free(e, in);
		return;
	}
	jn = g->join;
	for (i = 0; i < jn->n && jn->from[i] < from; i++)
		;
	if ((i < jn->n && jn->from[i] == from) || jn->n == SL_ENGINE_JOIN_MAX) {
		e->st.join_duplicates++;
		job_free(e, in);
		return;
	}
	for (k = jn->n; k > i; k--) {
		jn->from[k] = jn->from[k - 1];
		jn->text[k] = jn->text[k - 1];
	}
	jn->n++;
	jn->from[i] = from;
	memset(&jn->text[i], 0, sizeof(jn->text[i]));
	/* The answer carries the earliest send time of its inputs. */
	if (in->out.send_ns < g->out.send_ns)
		g->out.send_ns = in->out.send_ns;
	if (reason != 0) {
		job_send_abort(e, g, reason);
	} else if (!g->answered) {
		/* The text (and its share of the budget) moves over. */
		jn->text[i] = in->in;
		memset(&in->in, 0, sizeof(in->in));
	}
	job_free(e, in);
	if (jn->n < e->m.join)
		return;
	engine_remove(e, s);
	if (g->answered)
		job_free(e, g);
	else if (!work_enqueue(e, g, now))
		job_free(e, g);
}

/* ---- input ---- */

/* The input of @j cannot be used: answer ABORT with @reason, except for
 * a join's input, whose join answers once the input ends. */
static void
input_fail(struct engine *e, struct sl_job *j, uint8_t reason)
{
	if (e->role != SL_ENGINE_ROLE_RERANK) {
		if (reason == SL_ABORT_OVERLOAD)
			job_refuse(e, j);
		else
			job_send_abort(e, j, reason);
		return;
	}
	if (reason == SL_ABORT_OVERLOAD)
		e->st.overload_aborts++;
	j->failed = reason;
	j->answered = true;
}

static void
role_input_abort(struct engine *e, struct sl_job *j, uint16_t from,
		 uint8_t reason, uint64_t now)
{
	if (e->role == SL_ENGINE_ROLE_RERANK) {
		join_input(e, j, from, j->failed ? j->failed : reason, now);
		return;
	}
	job_send_abort(e, j, reason);
	job_put(e, j);
}

static void
role_input_end(struct engine *e, struct sl_job *j, uint16_t from, uint64_t now)
{
	if (e->role == SL_ENGINE_ROLE_RERANK) {
		join_input(e, j, from, j->failed, now);
		return;
	}
	if (j->answered) {
		job_put(e, j);
		return;
	}
	switch (j->role) {
	case SL_ENGINE_ROLE_ANSWER:
	case SL_ENGINE_ROLE_CLAIMS:
	case SL_ENGINE_ROLE_QUERIES:
	case SL_ENGINE_ROLE_REPLAY:
		lm_start(e, j, now);
		break;
	case SL_ENGINE_ROLE_BM25:
		j->input_done = true;
		if (!j->queued && !j->running) {
			bm25_answer(e, j);
			job_free(e, j);
		}
		break;
	case SL_ENGINE_ROLE_ENCODER:
		if (!work_enqueue(e, j, now))
			job_free(e, j);
		break;
	case SL_ENGINE_ROLE_OPENAI:
		openai_enqueue(e, j, now);
		break;
	default:
		break;
	}
}

/* Take the tokens of one fragment into @j. */
static void
role_input_tokens(struct engine *e, struct sl_job *j,
		  const struct sl_frag_view *v, uint64_t now)
{
	bool keep_text = sl_engine_role_is_lm(e->role) ||
			 e->role == SL_ENGINE_ROLE_RERANK ||
			 e->role == SL_ENGINE_ROLE_OPENAI;
	struct sl_token_iter it;
	struct sl_token tok;

	sl_frag_view_tokens(v, &it);
	while (!j->answered && sl_token_next(&it, &tok)) {
		j->in_tokens++;
		switch (e->role) {
		case SL_ENGINE_ROLE_BM25:
			sl_model_bm25_feed(j->bm25, tok.text, tok.len);
			j->pending++;
			break;
		case SL_ENGINE_ROLE_ENCODER:
			j->embed = sl_model_embed_step(j->embed, tok.text,
						       tok.len);
			break;
		default:
			break;
		}
		if (!keep_text)
			continue;
		if (j->in.len + tok.len > ENGINE_PROMPT_MAX) {
			e->st.too_long++;
			input_fail(e, j, SL_ABORT_TOO_LONG);
		} else if (e->text_bytes + tok.len > ENGINE_TEXT_BUDGET) {
			input_fail(e, j, SL_ABORT_OVERLOAD);
		} else if (sl_text_append(&j->in, tok.text, tok.len)) {
			input_fail(e, j, SL_ABORT_ENGINE);
		} else {
			e->text_bytes += tok.len;
		}
	}
	if (e->role == SL_ENGINE_ROLE_BM25 && !j->answered && j->pending > 0 &&
	    !j->queued && !j->running)
		work_enqueue(e, j, now);
}

int
sl_role_http_start(struct engine *e, struct sl_http_req *q, const char *prompt,
		   size_t len, uint64_t now)
{
	struct sl_job *j;

	e->st.streams++;
	if (!sl_engine_role_is_lm(e->role)) {
		sl_http_send(q, NULL, NULL, 0, SL_FRAG_F_ABORT,
			     SL_ABORT_ENGINE);
		return -EINVAL;
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		sl_http_send(q, NULL, NULL, 0, SL_FRAG_F_ABORT,
			     SL_ABORT_OVERLOAD);
		return -ENOMEM;
	}
	j->e = e;
	j->role = e->role;
	j->http = q;
	if (len > ENGINE_PROMPT_MAX) {
		e->st.too_long++;
		job_send_abort(e, j, SL_ABORT_TOO_LONG);
		job_free(e, j);
		return 0;
	}
	if (e->text_bytes + len > ENGINE_TEXT_BUDGET ||
	    sl_text_append(&j->in, prompt, len)) {
		job_refuse(e, j);
		job_free(e, j);
		return 0;
	}
	e->text_bytes += len;
	e->st.streams_completed++;
	role_input_end(e, j, 0, now);
	return 0;
}

void
sl_role_handle(struct engine *e, const struct sl_frag_view *v, uint64_t now)
{
	const struct sl_frag_hdr *h = &v->hdr;
	struct engine_stream *s;
	struct engine_key k;
	struct sl_job *j;
	bool created, gap;

	memset(&k, 0, sizeof(k));
	k.pipeline = h->pipeline;
	k.stage = h->stage;
	k.from_stage = h->from_stage;
	k.depth = h->depth;
	memcpy(k.ancestry, h->ancestry, h->depth * sizeof(k.ancestry[0]));
	s = engine_lookup(e, &k, &created);
	if (created)
		e->st.streams++;
	if (s == NULL) {
		e->st.untracked++;
		/* No state to answer with: refuse the stream once, on its
		 * first fragment. */
		if (h->seq == 0) {
			struct sl_job *tmp = job_new(e, v);

			if (tmp != NULL) {
				job_refuse(e, tmp);
				job_free(e, tmp);
			}
		}
		return;
	}
	s->last_ns = now;
	if (!engine_track_seq(e, s, h->seq))
		return;
	s->fragments++;
	if (s->job == NULL) {
		s->job = job_new(e, v);
		if (s->job != NULL && stage_stats(e, h->stage) != NULL)
			stage_stats(e, h->stage)->streams++;
		/* A pool member asked for a stage it does not serve: no
		 * answer will come, say so at once (what follows of the
		 * stream is taken and dropped). */
		if (s->job != NULL && s->job->role == SL_ENGINE_ROLE_MAX) {
			e->unknown_stage++;
			job_send_abort(e, s->job, SL_ABORT_ENGINE);
		}
	}
	j = s->job;
	if (j == NULL) {
		engine_remove(e, s);
		return;
	}
	if (h->flags & SL_FRAG_F_ABORT) {
		engine_remove(e, s);
		role_input_abort(e, j, h->from_stage, h->abort_reason, now);
		return;
	}
	role_input_tokens(e, j, v, now);
	if (!(h->flags & SL_FRAG_F_END))
		return;
	gap = s->expected <= h->seq;
	engine_remove(e, s);
	if (gap) {
		/* A prompt with a hole: a real engine would fail it. */
		e->st.incomplete++;
		role_input_abort(e, j, h->from_stage, SL_ABORT_ENGINE, now);
	} else {
		e->st.streams_completed++;
		role_input_end(e, j, h->from_stage, now);
	}
}

void
sl_role_expire(struct engine *e, struct engine_stream *s)
{
	struct sl_job *j = s->job;

	s->job = NULL;
	if (j == NULL)
		return;
	e->st.expired++;
	/* A join or an input still open: nothing was said yet. An input
	 * of a join leaves the join to expire on its own. */
	if (e->role != SL_ENGINE_ROLE_RERANK || s->key.join)
		job_send_abort(e, j, SL_ABORT_EXPIRED);
	job_put(e, j);
}

bool
sl_role_pause(const struct engine *e, bool paused, uint64_t now)
{
	uint64_t cap, limit, load, hyst;

	if (e->role == SL_ENGINE_ROLE_TRANSFORM)
		return false;
	cap = sl_engine_role_is_lm(e->role) || e->role == SL_ENGINE_ROLE_OPENAI
		      ? e->m.max_batch
		      : e->m.workers;
	limit = cap + e->m.max_queue;
	load = e->active + e->waiting.len;
	/* A quarter of hysteresis (at least one job), and half the wait:
	 * a queue that hovers at its limit does not flap. */
	hyst = limit / 4 ? limit / 4 : 1;
	if (!paused)
		return load >= limit || fifo_waited(e, now, e->m.max_wait_ns);
	return load + hyst > limit || fifo_waited(e, now, e->m.max_wait_ns / 2);
}

uint64_t
sl_role_pause_due(const struct engine *e, bool paused)
{
	const struct sl_job *h = e->waiting.head;

	if (e->m.max_wait_ns == 0 || h == NULL)
		return UINT64_MAX;
	/* Paused, it clears only once a younger head has waited less than
	 * half: that comes with a pop, not with time. */
	return paused ? UINT64_MAX : h->ready_ns + e->m.max_wait_ns + 1;
}

/* Withdraw @j's answer for a shutdown, once. */
static unsigned int
job_shutdown(struct engine *e, struct sl_job *j)
{
	if (j == NULL || j->answered || j->dead)
		return 0;
	job_send_abort(e, j, SL_ABORT_SHUTDOWN);
	return 1;
}

unsigned int
sl_role_shutdown(struct engine *e)
{
	unsigned int n = 0;
	struct sl_job *j;
	size_t i;

	for (i = 0; e->table != NULL && i < ENGINE_TABLE_SIZE; i++) {
		struct engine_stream *s = &e->table[i];

		if (!s->used)
			continue;
		/* A join's inputs are answered by the join (same output
		 * stream): an input only while its join does not exist. */
		if (e->role == SL_ENGINE_ROLE_RERANK && !s->key.join) {
			struct engine_key k = s->key;

			k.from_stage = 0;
			k.join = 1;
			if (engine_find(e, &k) != NULL)
				continue;
		}
		n += job_shutdown(e, s->job);
	}
	for (j = e->waiting.head; j != NULL; j = j->next)
		n += job_shutdown(e, j);
	for (i = 0; i < e->timers.n; i++)
		if (e->timers.t[i].arg != (void *)&e->lm)
			for (j = e->timers.t[i].arg; j != NULL;
			     j = j->batch_next)
				n += job_shutdown(e, j);
	for (i = 0; i < e->lm.capacity; i++)
		n += job_shutdown(e, sl_lm_owner(&e->lm, (uint32_t)i));
	for (j = e->up_running; j != NULL; j = j->next)
		n += job_shutdown(e, j);
	return n;
}

int
sl_role_init(struct engine *e)
{
	/* LM: the loop's one entry; others: one a worker. */
	unsigned int n = sl_engine_role_is_lm(e->role) ? 1 : e->m.workers;

	e->timers.t = calloc(n + 1, sizeof(e->timers.t[0]));
	if (e->timers.t == NULL)
		return -ENOMEM;
	e->timers.cap = n + 1;
	if (e->role == SL_ENGINE_ROLE_OPENAI)
		return openai_init(e);
	if (!sl_engine_role_is_lm(e->role))
		return 0;
	e->m.lm.max_num_seqs = e->m.max_batch;
	e->lm_ev = calloc(e->m.max_batch, sizeof(*e->lm_ev));
	if (e->lm_ev == NULL || sl_lm_init(&e->lm, &e->m.lm, e->m.max_batch))
		return -ENOMEM;
	return 0;
}

void
sl_role_fini(struct engine *e)
{
	struct sl_job *j;
	uint64_t t;
	uint32_t i;

	/* Jobs of open streams first: those also queued or running are
	 * only marked, and freed below with the timers and the FIFO. */
	for (i = 0; e->table != NULL && i < ENGINE_TABLE_SIZE; i++) {
		if (e->table[i].used && e->table[i].job != NULL) {
			job_put(e, e->table[i].job);
			e->table[i].job = NULL;
		}
	}
	while ((j = sl_timer_pop(&e->timers, UINT64_MAX, &t)) != NULL) {
		while ((void *)j != (void *)&e->lm && j != NULL) {
			struct sl_job *b = j->batch_next;

			job_free(e, j);
			j = b;
		}
	}
	while ((j = fifo_pop(e)) != NULL)
		job_free(e, j);
	for (i = 0; i < e->lm.capacity; i++) {
		j = sl_lm_owner(&e->lm, i);
		if (j != NULL)
			job_free(e, j);
	}
	if (e->role == SL_ENGINE_ROLE_OPENAI)
		openai_fini(e);
	sl_lm_fini(&e->lm);
	free(e->lm_ev);
	e->lm_ev = NULL;
	sl_timer_heap_free(&e->timers);
}
