/* SPDX-License-Identifier: MIT */
/*
 * sl_guard_norm.h - the guard's per-code-point fold table (private to
 * control/sl_guard*.c): built once from ICU by sl_guard_norm_init(), read
 * lock-free afterwards by every stream.
 *
 * Lookup: entry = fold.entry[fold.block[cp >> 7] << 7 | (cp & 127)].
 * SL_FOLD_SAME: the code point stays as it is (copy its original bytes);
 * otherwise the fold is SL_FOLD_LEN(entry) bytes of UTF-8 at
 * fold.pool + SL_FOLD_OFF(entry), 0 bytes for a dropped code point, and
 * SL_FOLD_SPACE is set when they contain a space (which the stream may
 * collapse into the space before it).
 */
#ifndef SL_GUARD_NORM_H
#define SL_GUARD_NORM_H

#include <stdbool.h>
#include <stdint.h>

#define SL_FOLD_SAME 0xFFFFFFFFu
#define SL_FOLD_OFF_BITS 23
#define SL_FOLD_OFF(e) ((e) & ((1u << SL_FOLD_OFF_BITS) - 1))
#define SL_FOLD_LEN(e) (((e) >> SL_FOLD_OFF_BITS) & 0x3Fu)
#define SL_FOLD_SPACE (1u << 29)
#define SL_FOLD_BLOCK_SHIFT 7
#define SL_FOLD_BLOCKS (0x110000 >> SL_FOLD_BLOCK_SHIFT)

struct sl_guard_fold {
	/* ASCII folds to one byte: lower case, white space to ' '. */
	uint8_t ascii[128];
	uint16_t block[SL_FOLD_BLOCKS]; /* block 0: every code point SAME */
	const uint32_t *entry;
	const uint8_t *pool;
	bool ready;
};

extern struct sl_guard_fold sl_guard_fold;

static inline uint32_t
sl_guard_fold_entry(uint32_t cp)
{
	return sl_guard_fold
	    .entry[(uint32_t)sl_guard_fold.block[cp >> SL_FOLD_BLOCK_SHIFT]
		       << SL_FOLD_BLOCK_SHIFT |
		   (cp & ((1u << SL_FOLD_BLOCK_SHIFT) - 1))];
}

#endif /* SL_GUARD_NORM_H */
