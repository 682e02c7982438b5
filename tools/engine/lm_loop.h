/* SPDX-License-Identifier: MIT */
/*
 * lm_loop.h - the iteration loop of an LM server, as vLLM runs it: the
 * timing model of one emulated LM instance (issue 9).
 *
 * The loop runs one iteration at a time over the sequences it holds:
 *
 *   prefill  (default, vLLM 0.2's scheduler) when sequences wait and fit:
 *            FIFO admission while the running set stays within
 *            max_num_seqs, the batch's prompt tokens within
 *            max_batched_tokens and the KV budget holds every admitted
 *            sequence's prompt; the iteration costs prefill_base +
 *            prefill_per_token x (prompt tokens to compute) and gives each
 *            admitted sequence its first token. Running decodes wait.
 *   decode   otherwise, every running sequence gets one token; the
 *            iteration costs decode_base + decode_per_seq x B. A decode
 *            that finds no KV room for a running sequence's next token
 *            preempts the most recently admitted one (recompute: back to
 *            the head of the queue, its KV freed; admitted again it
 *            prefills its prompt and what it had generated).
 *   chunked  (chunked_prefill) one kind of iteration: every running
 *            decode gets a token, and the rest of max_batched_tokens goes
 *            to prefilling waiting sequences in FIFO order, a prompt
 *            possibly over several iterations; a sequence whose prompt is
 *            done gets its first token in that iteration. Cost:
 *            decode_base + decode_per_seq x decodes + prefill_per_token x
 *            prefill tokens.
 *
 * A sequence may name a prompt prefix (a stage's few-shot prompt: a key
 * and its length in tokens). With prefix_cache_slots > 0 the instance
 * keeps that many prefixes (LRU); a prefill whose prefix is cached
 * computes only the rest of its prompt. Off (0) by default: vLLM 0.2.6,
 * which ALTO ran, had no prefix cache. Several prompts share one loop
 * (a member of a pool serving several stages): one iteration at a time,
 * one KV budget, one max_num_seqs, and one cache their prefixes compete
 * for; hits, misses and evictions are counted per prefix key.
 *
 * Everything is integer nanoseconds of model time; the loop never reads
 * a clock: the caller says when (sl_lm_submit, sl_lm_step) and arms one
 * timer at sl_lm_next(). Deterministic: equal calls, equal results.
 */
#ifndef SL_LM_LOOP_H
#define SL_LM_LOOP_H

#include <stdbool.h>
#include <stdint.h>

/* sluice-engine's defaults, model time (tools/engine/README.md gives
 * the source of each; sluice-engine's options and the lm_capacity bench
 * both start from these). */
#define SL_LM_DEFAULT_DECODE_MS 12.0
#define SL_LM_DEFAULT_DECODE_PER_SEQ_MS 0.3
#define SL_LM_DEFAULT_PREFILL_MS 11.0
#define SL_LM_DEFAULT_PREFILL_PER_TOKEN_MS 0.08
#define SL_LM_DEFAULT_MAX_NUM_SEQS 256
#define SL_LM_DEFAULT_BATCHED_TOKENS 4096
#define SL_LM_DEFAULT_KV_TOKENS 110000

/* The constants of one instance (tools/engine/README.md has their
 * sources). */
struct sl_lm_params {
	uint64_t decode_base_ns;       /* a: one decode iteration */
	uint64_t decode_per_seq_ns;    /* b: per sequence in the batch */
	uint64_t prefill_base_ns;      /* fixed part of a prefill iteration */
	uint64_t prefill_per_token_ns; /* c: per prompt token computed */
	uint32_t max_num_seqs;         /* running sequences at most */
	uint32_t max_batched_tokens;   /* prompt tokens in one iteration */
	uint32_t kv_tokens;            /* KV cache, in tokens */
	uint32_t prefix_cache_slots;   /* prefixes kept; 0: no cache */
	bool chunked_prefill;
};

/* Prefix keys 1 .. SL_LM_PREFIX_KEYS - 1 are also counted apart
 * (sl_lm_stats.by_prefix): an instance that serves several prompts (a
 * member of a pool) names each prompt's prefix by a small key. */
#define SL_LM_PREFIX_KEYS 32

/* The prefix cache, for one prefix key or for all. */
struct sl_lm_prefix_stats {
	uint64_t hits;      /* prefills that found it cached */
	uint64_t misses;    /* prefills that computed it (then cached it) */
	uint64_t evictions; /* pushed out of the cache by another prefix */
};

/* One token given out by an iteration. */
struct sl_lm_event {
	void *owner;    /* as submitted */
	uint32_t index; /* 0: the first token */
	bool last;      /* the sequence is done and gone */
};

struct sl_lm_seq;

struct sl_lm_stats {
	uint64_t iterations;
	uint64_t prefill_iterations; /* chunked: iterations with a prefill */
	uint64_t tokens;             /* given out */
	uint64_t prompt_tokens;      /* computed by prefills (recompute too) */
	uint64_t prefix_hits;        /* prefills that skipped their prefix */
	uint64_t prefix_misses;      /* cache on: prefills that computed it */
	uint64_t prefix_evictions;   /* cached prefixes pushed out */
	uint64_t preemptions;
	uint64_t busy_ns; /* time with an iteration running */
	struct sl_lm_prefix_stats by_prefix[SL_LM_PREFIX_KEYS];
};

struct sl_lm {
	struct sl_lm_params p;
	struct sl_lm_seq *seqs; /* capacity of them */
	uint32_t capacity;
	uint32_t free_head; /* free list through seqs[].next */
	uint32_t wait_head; /* FIFO, through seqs[].next */
	uint32_t wait_tail;
	uint32_t n_waiting;
	uint32_t *running; /* seq indices, in admission order */
	uint32_t n_running;
	uint32_t *batch; /* the iteration's sequences */
	uint32_t n_batch;
	uint64_t kv_used; /* tokens held by running sequences */
	uint64_t iter_start;
	uint64_t iter_end;     /* UINT64_MAX: idle */
	uint64_t *prefix_key;  /* cache: prefix_cache_slots entries */
	uint64_t *prefix_used; /* LRU stamps, 0: empty */
	uint64_t stamp;
	uint64_t admitted; /* admission counter (preemption order) */
	struct sl_lm_stats st;
};

/**
 * sl_lm_init - an idle loop holding up to @capacity sequences (waiting
 * and running together). Return 0, -EINVAL (a zero bound, max_num_seqs
 * above @capacity) or -ENOMEM.
 * sl_lm_fini - release it.
 */
int sl_lm_init(struct sl_lm *lm, const struct sl_lm_params *p,
	       uint32_t capacity);
void sl_lm_fini(struct sl_lm *lm);

/**
 * sl_lm_submit - a prompt of @prompt_tokens (its first @prefix_tokens
 * the prefix named @prefix_key, 0 for none) that will be answered with
 * @out_tokens tokens (>= 1), arriving at @now. An idle loop starts an
 * iteration at @now. Return 0, -EINVAL (no output, a prefix longer than
 * the prompt, a sequence that could never fit the KV cache:
 * prompt + output > kv_tokens) or -ENOSPC (capacity sequences held).
 */
int sl_lm_submit(struct sl_lm *lm, void *owner, uint32_t prompt_tokens,
		 uint32_t out_tokens, uint64_t prefix_key,
		 uint32_t prefix_tokens, uint64_t now);

/**
 * sl_lm_cancel - forget @owner's sequence (waiting or running): it gives
 * no more events; a running one frees its KV when the iteration it is in
 * ends. Return 0 or -ENOENT.
 */
int sl_lm_cancel(struct sl_lm *lm, void *owner);

/**
 * sl_lm_next - when the running iteration ends; UINT64_MAX when idle.
 */
static inline uint64_t
sl_lm_next(const struct sl_lm *lm)
{
	return lm->iter_end;
}

/**
 * sl_lm_step - end every iteration due by @now, starting the next one
 * at the end of the last (never before it): the tokens they gave, at
 * most @max events into @ev. Return how many were written. An iteration
 * gives at most max_num_seqs events: with @max >= max_num_seqs one
 * iteration always fits, and sl_lm_step stops after an iteration when
 * the next one might not; call again while sl_lm_next() <= @now.
 */
unsigned int sl_lm_step(struct sl_lm *lm, uint64_t now, struct sl_lm_event *ev,
			unsigned int max);

/**
 * sl_lm_owner - the owner of sequence slot @i (< capacity) held by the
 * loop, NULL when the slot is free or its sequence cancelled.
 */
void *sl_lm_owner(const struct sl_lm *lm, uint32_t i);

/* Sequences waiting and running. */
static inline uint32_t
sl_lm_waiting(const struct sl_lm *lm)
{
	return lm->n_waiting;
}

static inline uint32_t
sl_lm_running(const struct sl_lm *lm)
{
	return lm->n_running;
}

#endif /* SL_LM_LOOP_H */
