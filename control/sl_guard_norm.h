/* SPDX-License-Identifier: MIT */
/*
 * sl_guard_norm.h - the guard's per-code-point fold table and the
 * character step built on it (private to control/sl_guard*.c): built once from ICU by sl_guard_norm_init(), read
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
#include <string.h>

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

/* An invalid or incomplete UTF-8 sequence normalises to ASCII SUB. */
#define SL_GUARD_INVALID 0x1A

/*
 * Decode one character at @p (@n bytes available). Return 1 with the code
 * point and its length, 0 if the bytes are a valid but incomplete prefix,
 * -1 with the length of the invalid maximal subpart (Unicode's "U+FFFD
 * substitution of maximal subparts"): overlongs, surrogates and code points
 * above U+10FFFF are invalid.
 */
static inline int
sl_guard_utf8_decode(const uint8_t *p, size_t n, uint32_t *cp, unsigned *used)
{
	uint8_t b = p[0], lo = 0x80, hi = 0xBF;
	unsigned need;
	uint32_t c;

	if (b < 0x80) {
		*cp = b;
		*used = 1;
		return 1;
	}
	if (b >= 0xC2 && b <= 0xDF) {
		need = 1;
		c = b & 0x1F;
	} else if (b >= 0xE0 && b <= 0xEF) {
		need = 2;
		c = b & 0x0F;
		if (b == 0xE0)
			lo = 0xA0;
		else if (b == 0xED)
			hi = 0x9F;
	} else if (b >= 0xF0 && b <= 0xF4) {
		need = 3;
		c = b & 0x07;
		if (b == 0xF0)
			lo = 0x90;
		else if (b == 0xF4)
			hi = 0x8F;
	} else {
		*used = 1;
		return -1;
	}
	for (unsigned i = 1; i <= need; i++) {
		if (i >= n)
			return 0;
		if (p[i] < lo || p[i] > hi) {
			*used = i;
			return -1;
		}
		lo = 0x80;
		hi = 0xBF;
		c = (c << 6) | (p[i] & 0x3F);
	}
	*cp = c;
	*used = need + 1;
	return 1;
}

/* A fold with a space in it: a space right after a space is dropped. */
static inline int
sl_guard_fold_collapse(uint32_t e, uint8_t *space, uint8_t *out)
{
	const uint8_t *src = sl_guard_fold.pool + SL_FOLD_OFF(e);
	unsigned len = SL_FOLD_LEN(e);
	int o = 0;

	for (unsigned k = 0; k < len; k++) {
		if (src[k] == ' ') {
			if (*space)
				continue;
			*space = 1;
		} else {
			*space = 0;
		}
		out[o++] = src[k];
	}
	return o;
}

/*
 * Normalise the character at @p: its original length in *@ol, normalised
 * bytes in @out (return their count, 0..SL_GUARD_FOLD_MAX). *@space is the
 * stream's "last normalised byte was a space" bit, read and updated.
 * Return -1 when the bytes are an incomplete prefix and @final is false.
 */
static inline int
sl_guard_norm_char(const uint8_t *p, size_t n, bool final, uint8_t *space,
		   unsigned *ol, uint8_t *out)
{
	uint32_t cp, e;
	int r;

	if (__builtin_expect(p[0] < 0x80, 1)) {
		uint8_t c = sl_guard_fold.ascii[p[0]];
		uint8_t sp = c == ' ';
		int nl = !(sp & *space); /* no branch: spaces are common */

		*ol = 1;
		*space = sp;
		out[0] = c;
		return nl;
	}
	r = sl_guard_utf8_decode(p, n, &cp, ol);
	if (r == 0) {
		if (!final)
			return -1;
		*ol = (unsigned)n;
		r = -1;
	}
	if (r < 0) {
		out[0] = SL_GUARD_INVALID;
		*space = 0;
		return 1;
	}
	e = sl_guard_fold_entry(cp);
	if (e == SL_FOLD_SAME) {
		memcpy(out, p, *ol);
		*space = 0;
		return (int)*ol;
	}
	if (__builtin_expect((e & SL_FOLD_SPACE) != 0, 0))
		return sl_guard_fold_collapse(e, space, out);
	if (SL_FOLD_LEN(e) == 0)
		return 0; /* dropped: the space bit stays */
	memcpy(out, sl_guard_fold.pool + SL_FOLD_OFF(e), SL_FOLD_LEN(e));
	*space = 0;
	return (int)SL_FOLD_LEN(e);
}

#endif /* SL_GUARD_NORM_H */
