/* SPDX-License-Identifier: MIT */
/*
 * lm_loop.c - the iteration loop of an emulated LM instance: see
 * lm_loop.h for the model.
 *
 * Sequences live in one array; the free list and the waiting FIFO are
 * linked through seq.next, the running set is an array in admission
 * order (its last entry is the one a preemption takes). The iteration
 * under way is the batch array: who takes part, and whether each gets a
 * token when it ends.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lm_loop.h"

#define LM_NONE UINT32_MAX

enum lm_state { LM_FREE, LM_WAITING, LM_RUNNING };

struct sl_lm_seq {
	void *owner;
	uint64_t prefix_key;
	uint32_t next;     /* free list or FIFO */
	uint32_t prompt;   /* prompt tokens */
	uint32_t prefix;   /* of which the named prefix */
	uint32_t out;      /* tokens to give */
	uint32_t done;     /* tokens given */
	uint32_t computed; /* chunked: of prompt + done, prefilled so far */
	uint8_t state;
	bool prefilled; /* running and its prompt computed: decodes */
	bool in_batch;
	bool gives; /* in the batch: a token when it ends */
	bool dead;  /* cancelled while in the batch */
};

static uint64_t
seq_kv(const struct sl_lm_seq *s)
{
	return (uint64_t)s->prompt + s->done;
}

int
sl_lm_init(struct sl_lm *lm, const struct sl_lm_params *p, uint32_t capacity)
{
	memset(lm, 0, sizeof(*lm));
	if (capacity == 0 || p->max_num_seqs == 0 ||
	    p->max_num_seqs > capacity || p->max_batched_tokens == 0 ||
	    p->kv_tokens == 0)
		return -EINVAL;
	lm->p = *p;
	lm->capacity = capacity;
	lm->seqs = calloc(capacity, sizeof(*lm->seqs));
	lm->running = calloc(p->max_num_seqs, sizeof(*lm->running));
	lm->batch = calloc(p->max_num_seqs, sizeof(*lm->batch));
	if (p->prefix_cache_slots > 0) {
		lm->prefix_key =
			calloc(p->prefix_cache_slots, sizeof(uint64_t));
		lm->prefix_used =
			calloc(p->prefix_cache_slots, sizeof(uint64_t));
	}
	if (lm->seqs == NULL || lm->running == NULL || lm->batch == NULL ||
	    (p->prefix_cache_slots > 0 &&
	     (lm->prefix_key == NULL || lm->prefix_used == NULL))) {
		sl_lm_fini(lm);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < capacity; i++)
		lm->seqs[i].next = i + 1 < capacity ? i + 1 : LM_NONE;
	lm->free_head = 0;
	lm->wait_head = lm->wait_tail = LM_NONE;
	lm->iter_end = UINT64_MAX;
	return 0;
}

void
sl_lm_fini(struct sl_lm *lm)
{
	free(lm->seqs);
	free(lm->running);
	free(lm->batch);
	free(lm->prefix_key);
	free(lm->prefix_used);
	memset(lm, 0, sizeof(*lm));
	lm->iter_end = UINT64_MAX;
}

/* ---- the prefix cache ---- */

/* The per-key counters of @key, NULL for a key not counted apart. */
static struct sl_lm_prefix_stats *
prefix_stats(struct sl_lm *lm, uint64_t key)
{
	return key < SL_LM_PREFIX_KEYS ? &lm->st.by_prefix[key] : NULL;
}

/* Whether @key is cached; a hit or an insertion makes it the newest. An
 * insertion into a full cache evicts the least recently used prefix. */
static bool
prefix_lookup(struct sl_lm *lm, uint64_t key, bool insert)
{
	uint32_t n = lm->p.prefix_cache_slots, oldest = 0;
	struct sl_lm_prefix_stats *ps;

	if (n == 0 || key == 0)
		return false;
	for (uint32_t i = 0; i < n; i++) {
		if (lm->prefix_used[i] != 0 && lm->prefix_key[i] == key) {
			lm->prefix_used[i] = ++lm->stamp;
			return true;
		}
		if (lm->prefix_used[i] < lm->prefix_used[oldest])
			oldest = i;
	}
	if (insert) {
		if (lm->prefix_used[oldest] != 0) {
			lm->st.prefix_evictions++;
			ps = prefix_stats(lm, lm->prefix_key[oldest]);
			if (ps != NULL)
				ps->evictions++;
		}
		lm->prefix_key[oldest] = key;
		lm->prefix_used[oldest] = ++lm->stamp;
	}
	return false;
}

/* Prompt tokens a prefill of @s computes: its prompt and what it had
 * generated before a preemption, less a cached prefix. The prefix is
 * cached from then on. */
static uint32_t
prefill_tokens(struct sl_lm *lm, struct sl_lm_seq *s)
{
	uint32_t n = s->prompt + s->done;
	struct sl_lm_prefix_stats *ps;
	bool hit;

	if (s->prefix == 0 || s->prefix_key == 0 ||
	    lm->p.prefix_cache_slots == 0)
		return n;
	hit = prefix_lookup(lm, s->prefix_key, true);
	ps = prefix_stats(lm, s->prefix_key);
	if (hit) {
		lm->st.prefix_hits++;
		n -= s->prefix;
	} else {
		lm->st.prefix_misses++;
	}
	if (ps != NULL) {
		if (hit)
			ps->hits++;
		else
			ps->misses++;
	}
	return n;
}

/* ---- queues ---- */

static void
wait_push(struct sl_lm *lm, uint32_t i, bool front)
{
	struct sl_lm_seq *s = &lm->seqs[i];

	s->state = LM_WAITING;
	s->prefilled = false;
	s->computed = 0;
	if (lm->wait_head == LM_NONE) {
		s->next = LM_NONE;
		lm->wait_head = lm->wait_tail = i;
	} else if (front) {
		s->next = lm->wait_head;
		lm->wait_head = i;
	} else {
		s->next = LM_NONE;
		lm->seqs[lm->wait_tail].next = i;
		lm->wait_tail = i;
	}
	lm->n_waiting++;
}

static uint32_t
wait_pop(struct sl_lm *lm)
{
	uint32_t i = lm->wait_head;

	if (i == LM_NONE)
		return LM_NONE;
	lm->wait_head = lm->seqs[i].next;
	if (lm->wait_head == LM_NONE)
		lm->wait_tail = LM_NONE;
	lm->n_waiting--;
	return i;
}

static void
seq_free(struct sl_lm *lm, uint32_t i)
{
	struct sl_lm_seq *s = &lm->seqs[i];

	memset(s, 0, sizeof(*s));
	s->state = LM_FREE;
	s->next = lm->free_head;
	lm->free_head = i;
}

/* Admit @i to the running set: its KV is reserved. */
static void
run_add(struct sl_lm *lm, uint32_t i)
{
	struct sl_lm_seq *s = &lm->seqs[i];

	s->state = LM_RUNNING;
	s->prefilled = false;
	s->computed = 0;
	lm->running[lm->n_running++] = i;
	lm->kv_used += seq_kv(s);
	lm->admitted++;
}

static void
run_remove(struct sl_lm *lm, uint32_t i)
{
	for (uint32_t k = 0; k < lm->n_running; k++)
		if (lm->running[k] == i) {
			memmove(&lm->running[k], &lm->running[k + 1],
				(lm->n_running - k - 1) *
					sizeof(lm->running[0]));
			lm->n_running--;
			lm->kv_used -= seq_kv(&lm->seqs[i]);
			return;
		}
}

/* Can the head of the queue join the running set now? */
static bool
head_fits(const struct sl_lm *lm)
{
	const struct sl_lm_seq *s;

	if (lm->wait_head == LM_NONE || lm->n_running == lm->p.max_num_seqs)
		return false;
	s = &lm->seqs[lm->wait_head];
	return lm->kv_used + seq_kv(s) <= lm->p.kv_tokens;
}

/* Make room for one more token of every decoding sequence: preempt the
 * latest admitted (recompute) until it fits. */
static void
make_decode_room(struct sl_lm *lm)
{
	uint32_t decoding = 0;

	for (uint32_t k = 0; k < lm->n_running; k++)
		decoding += lm->seqs[lm->running[k]].prefilled;
	while (lm->n_running > 1 && lm->kv_used + decoding > lm->p.kv_tokens) {
		uint32_t i = lm->running[lm->n_running - 1];

		decoding -= lm->seqs[i].prefilled;
		run_remove(lm, i);
		wait_push(lm, i, true);
		lm->st.preemptions++;
	}
}

static void
batch_add(struct sl_lm *lm, uint32_t i, bool gives)
{
	lm->seqs[i].in_batch = true;
	lm->seqs[i].gives = gives;
	lm->batch[lm->n_batch++] = i;
}

/* ---- iterations ---- */

/* vLLM 0.2: a prefill-only iteration when the queue's head fits, else a
 * decode of every running sequence. Return its cost, 0: nothing to do. */
static uint64_t
plan_separate(struct sl_lm *lm)
{
	uint64_t tokens = 0;

	if (head_fits(lm)) {
		uint32_t batched = 0;

		while (head_fits(lm)) {
			struct sl_lm_seq *s = &lm->seqs[lm->wait_head];
			uint32_t need = s->prompt + s->done;

			/* The first prompt always goes (vLLM sizes the
			 * budget to hold the longest prompt). */
			if (lm->n_batch > 0 &&
			    batched + need > lm->p.max_batched_tokens)
				break;
			batched += need;
			uint32_t i = wait_pop(lm);

			run_add(lm, i);
			tokens += prefill_tokens(lm, s);
			s->prefilled = true;
			batch_add(lm, i, true);
		}
		lm->st.prefill_iterations++;
		lm->st.prompt_tokens += tokens;
		return lm->p.prefill_base_ns +
		       lm->p.prefill_per_token_ns * tokens;
	}
	if (lm->n_running == 0)
		return 0;
	make_decode_room(lm);
	for (uint32_t k = 0; k < lm->n_running; k++)
		batch_add(lm, lm->running[k], true);
	return lm->p.decode_base_ns +
	       lm->p.decode_per_seq_ns * (uint64_t)lm->n_batch;
}

/* Chunked prefill: every decode, then prompt chunks within the token
 * budget, the ones under way first. */
static uint64_t
plan_chunked(struct sl_lm *lm)
{
	uint32_t budget = lm->p.max_batched_tokens, decodes = 0;
	uint64_t tokens = 0;

	make_decode_room(lm);
	for (uint32_t k = 0; k < lm->n_running; k++)
		if (lm->seqs[lm->running[k]].prefilled) {
			batch_add(lm, lm->running[k], true);
			decodes++;
		}
	budget = decodes < budget ? budget - decodes : 0;
	for (uint32_t k = 0; k < lm->n_running && budget > 0; k++) {
		struct sl_lm_seq *s = &lm->seqs[lm->running[k]];
		uint32_t left, n;

		if (s->prefilled)
			continue;
		left = s->prompt + s->done - s->computed;
		n = left < budget ? left : budget;
		s->computed += n;
		budget -= n;
		tokens += n;
		batch_add(lm, lm->running[k],
			  s->computed == s->prompt + s->done);
	}
	while (budget > 0 && head_fits(lm)) {
		uint32_t i = wait_pop(lm);
		struct sl_lm_seq *s = &lm->seqs[i];
		uint32_t all = s->prompt + s->done, left, n;

		run_add(lm, i);
		/* A cached prefix counts as computed at once. */
		s->computed = all - prefill_tokens(lm, s);
		left = all - s->computed;
		n = left < budget ? left : budget;
		s->computed += n;
		budget -= n;
		tokens += n;
		batch_add(lm, i, s->computed == all);
	}
	if (lm->n_batch == 0)
		return 0;
	if (tokens > 0)
		lm->st.prefill_iterations++;
	lm->st.prompt_tokens += tokens;
	return lm->p.decode_base_ns +
	       lm->p.decode_per_seq_ns * (uint64_t)decodes +
	       lm->p.prefill_per_token_ns * tokens;
}

/* Start the next iteration at @t, or go idle. */
static void
iter_start(struct sl_lm *lm, uint64_t t)
{
	uint64_t cost;

	lm->n_batch = 0;
	cost = lm->p.chunked_prefill ? plan_chunked(lm) : plan_separate(lm);
	if (lm->n_batch == 0) {
		lm->iter_end = UINT64_MAX;
		return;
	}
	/* An iteration takes time, however cheap its constants. */
	if (cost == 0)
		cost = 1;
	lm->iter_start = t;
	lm->iter_end = t + cost;
	lm->st.iterations++;
}

/* The iteration ends: its tokens, its finished and cancelled sequences. */
static unsigned int
iter_end(struct sl_lm *lm, struct sl_lm_event *ev)
{
	unsigned int n = 0;

	lm->st.busy_ns += lm->iter_end - lm->iter_start;
	for (uint32_t b = 0; b < lm->n_batch; b++) {
		uint32_t i = lm->batch[b];
		struct sl_lm_seq *s = &lm->seqs[i];

		s->in_batch = false;
		if (s->dead) {
			run_remove(lm, i);
			seq_free(lm, i);
			continue;
		}
		if (!s->gives)
			continue;
		s->prefilled = true;
		ev[n].owner = s->owner;
		ev[n].index = s->done;
		ev[n].last = s->done + 1 == s->out;
		n++;
		lm->st.tokens++;
		s->done++;
		lm->kv_used++;
		if (s->done == s->out) {
			run_remove(lm, i);
			seq_free(lm, i);
		}
	}
	lm->n_batch = 0;
	return n;
}

unsigned int
sl_lm_step(struct sl_lm *lm, uint64_t now, struct sl_lm_event *ev,
	   unsigned int max)
{
	unsigned int n = 0;

	while (lm->iter_end <= now && max - n >= lm->n_batch) {
		uint64_t t = lm->iter_end;

		n += iter_end(lm, ev + n);
		iter_start(lm, t);
	}
	return n;
}

int
sl_lm_submit(struct sl_lm *lm, void *owner, uint32_t prompt_tokens,
	     uint32_t out_tokens, uint64_t prefix_key, uint32_t prefix_tokens,
	     uint64_t now)
{
	struct sl_lm_seq *s;
	uint32_t i;

	if (out_tokens == 0 || prefix_tokens > prompt_tokens ||
	    (uint64_t)prompt_tokens + out_tokens > lm->p.kv_tokens)
		return -EINVAL;
	if (lm->free_head == LM_NONE)
		return -ENOSPC;
	i = lm->free_head;
	s = &lm->seqs[i];
	lm->free_head = s->next;
	memset(s, 0, sizeof(*s));
	s->owner = owner;
	s->prompt = prompt_tokens;
	s->prefix = prefix_tokens;
	s->prefix_key = prefix_tokens > 0 ? prefix_key : 0;
	s->out = out_tokens;
	wait_push(lm, i, false);
	if (lm->iter_end == UINT64_MAX)
		iter_start(lm, now);
	return 0;
}

void *
sl_lm_owner(const struct sl_lm *lm, uint32_t i)
{
	const struct sl_lm_seq *s = &lm->seqs[i];

	return s->state == LM_FREE || s->dead ? NULL : s->owner;
}

int
sl_lm_cancel(struct sl_lm *lm, void *owner)
{
	for (uint32_t i = 0; i < lm->capacity; i++) {
		struct sl_lm_seq *s = &lm->seqs[i];

		if (s->state == LM_FREE || s->dead || s->owner != owner)
			continue;
		if (s->state == LM_WAITING) {
			uint32_t *link = &lm->wait_head, prev = LM_NONE;

			while (*link != i) {
				prev = *link;
				link = &lm->seqs[*link].next;
			}
			*link = s->next;
			if (lm->wait_tail == i)
				lm->wait_tail = prev;
			lm->n_waiting--;
			seq_free(lm, i);
		} else if (s->in_batch) {
			s->dead = true;
		} else {
			run_remove(lm, i);
			seq_free(lm, i);
		}
		return 0;
	}
	return -ENOENT;
}
