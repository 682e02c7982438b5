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
#include <stddef.h>
#include <stdint.h>

/* Most normalised bytes one code point becomes (U+FDFA: 30), and most
 * times longer than its UTF-8 a character's normalisation is (U+FDFA:
 * 3 bytes to 30); sl_guard_norm_init() checks both against ICU's data. */
#define SL_GUARD_FOLD_MAX 31
#define SL_GUARD_NORM_GROWTH 10

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

/* The Unicode data the normalisation was built from. */
struct sl_guard_norm_info {
	char icu_version[20];     /* "72.1" */
	char unicode_version[20]; /* "15.0" */
	unsigned folded;          /* code points that do not stay as they are */
	unsigned dropped;         /* of which dropped (fold to nothing) */
	unsigned fold_max;        /* longest fold, bytes */
	unsigned blocks;          /* 128-code-point blocks in the table */
	size_t table_bytes;
};

/**
 * sl_guard_norm_init - build the per-code-point fold table from ICU, once
 * per process (later calls return at once; thread safe). sl_guard_compile()
 * calls it. Return 0, or -EINVAL with "Unicode fold table: <why>" in @err
 * (may be NULL) when ICU fails or its data breaks SL_GUARD_FOLD_MAX or
 * SL_GUARD_NORM_GROWTH; then no rule set compiles.
 */
int sl_guard_norm_init(char *err, size_t errlen);

/**
 * sl_guard_norm_info - what sl_guard_norm_init() built (zeros if it
 * failed).
 */
void sl_guard_norm_info(struct sl_guard_norm_info *info);

/**
 * sl_guard_norm_cp - the normalisation of one code point, before white
 * space runs are collapsed: its UTF-8 in @out (room for SL_GUARD_FOLD_MAX
 * bytes). Return the length, 0 if it is dropped (default-ignorable code
 * points, combining marks). Surrogates and values past U+10FFFF give one
 * 0x1A, as invalid UTF-8 does.
 */
unsigned sl_guard_norm_cp(uint32_t cp, uint8_t *out);

#endif /* SL_GUARD_NORM_H */
