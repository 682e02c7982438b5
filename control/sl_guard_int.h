/* SPDX-License-Identifier: MIT */
/*
 * sl_guard_int.h - the guard engine's private header, between its
 * compiler (sl_guard.c: rules to a set) and its runtime (sl_guard_run.c:
 * what a worker calls per fragment): the layout of a compiled set, of a
 * stream's state and of a worker's scratch. Nothing outside control/
 * sl_guard*.c includes it.
 */
#ifndef SL_GUARD_INT_H
#define SL_GUARD_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <hs.h>

#include "sl_guard.h"
#include "sl_guard_norm.h"

#define GUARD_HS_FLAGS (HS_FLAG_CASELESS | HS_FLAG_UTF8 | HS_FLAG_SOM_LEFTMOST)
#define GUARD_HS_MODE (HS_MODE_STREAM | HS_MODE_SOM_HORIZON_SMALL)

/* Automaton entries: the target's row offset, and this bit when the target
 * (or a suffix of it) ends a literal. */
#define AC_EMIT 0x80000000u
#define AC_ROW_MASK 0x7fffffffu

#define REDACT_MAX_DEFAULT 8

/* A held character's meta byte: original length 1..4 (an invalid
 * sequence 1..3), normalised length 0..SL_GUARD_FOLD_MAX. */
#define META(ol, nl) ((uint8_t)((ol) | (unsigned)(nl) << 3))
#define META_OL(m) ((unsigned)(m)&0x07u)
#define META_NL(m) ((unsigned)(m) >> 3)
_Static_assert(SL_GUARD_FOLD_MAX <= 31, "a fold length fits 5 bits");

/* Normalised bytes handed to Hyperscan at once, at least. */
#define NBUF_MIN 256

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

enum guard_status {
	GUARD_OPEN,
	GUARD_BLOCKED,
	GUARD_FINISHED,
};

struct guard_rule {
	struct sl_guard_rule rule; /* pattern and mask point into our copies */
	uint8_t *norm;             /* literal, normalised */
	unsigned norm_len;
	const uint8_t *mask;
	unsigned mask_len;
	uint32_t next_same; /* next rule (index + 1) ending at the same state */
	unsigned max_width; /* regex */
	unsigned hold;      /* normalised bytes it makes a stream hold back */
};

struct sl_guard_set {
	unsigned n_rules;
	struct guard_rule *rules;

	/* Literal automaton: a full goto table over byte classes. */
	uint8_t cls[256];
	unsigned n_cls;     /* row stride: classes rounded up to a power of 2 */
	unsigned cls_shift; /* log2(n_cls): row offset -> state */
	unsigned n_states;
	uint32_t *go;       /* n_states * n_cls entries */
	uint32_t *term;     /* first rule + 1 ending exactly at the state */
	uint32_t *out_link; /* nearest proper suffix state ending a literal */
	uint16_t *hold;     /* longest proper block/redact prefix suffix */

	/* Regexes. */
	hs_database_t *db;
	void *hs_template;
	size_t hs_stream_bytes;
	unsigned re_hold; /* widest block/redact regex's max_width - 1 */

	uint32_t held_max;
	uint32_t nbuf_size;
	uint16_t redact_max;
	size_t off_held, off_meta, off_nbuf, off_iv, off_hs, state_size;
	struct sl_guard_set_info info;
};

struct guard_iv {
	uint64_t from, to; /* normalised, [from, to) */
	uint32_t rule;
	uint32_t cont; /* continues the mask released just before it */
};

struct sl_guard_stream {
	const struct sl_guard_set *set;
	uint32_t ac;    /* automaton row */
	uint8_t status; /* enum guard_status */
	uint8_t reason; /* enum sl_guard_reason */
	uint8_t space;  /* the last normalised byte was a space */
	uint16_t n_iv;
	uint32_t block_rule_id;
	uint32_t held_len; /* original bytes held, character in progress too */
	uint32_t decoded_len; /* of which in complete characters */
	uint32_t n_chars;
	uint32_t held_peak;
	uint64_t norm_base; /* normalised offset of the first held character */
	uint64_t norm_end;  /* normalised bytes so far */
	uint64_t plain_end; /* normalised end of the plain text released */
	uint64_t orig_base; /* original offset of the first held byte */
	uint64_t bytes_in;
};

struct sl_guard_scratch {
	const struct sl_guard_set *set;
	hs_scratch_t *hs;
	struct sl_guard_set_counters ctr;
	struct sl_guard_rule_counters *rule_ctr;
};

/* A block or redact rule: one a stream must hold text back for. */
static inline bool
holds(const struct guard_rule *r)
{
	return r->rule.action != SL_GUARD_ACTION_LOG;
}

static inline void
ac_report(const struct sl_guard_set *set, uint32_t st, uint64_t end,
	  void (*hit)(void *, unsigned, uint64_t, uint64_t), void *ctx)
{
	uint32_t t = set->term[st] ? st : set->out_link[st];

	for (; t != 0; t = set->out_link[t])
		for (uint32_t r1 = set->term[t]; r1 != 0;
		     r1 = set->rules[r1 - 1].next_same)
			hit(ctx, r1 - 1, end - set->rules[r1 - 1].norm_len,
			    end);
}

#endif /* SL_GUARD_INT_H */
