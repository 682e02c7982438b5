/* SPDX-License-Identifier: MIT */
/*
 * sl_guard_norm.c - the guard's text normalisation: what a banned term may
 * look like and still be the same term, one code point at a time.
 *
 * The fold of a code point is computed with ICU (Debian's libicu) and
 * repeated until it no longer changes; one round is:
 *
 *   1. NFKC: compatibility forms (fullwidth, mathematical alphanumerics,
 *      ligatures, circled and small forms, Roman numerals) to the plain
 *      characters;
 *   2. NFD, then every combining mark dropped (general category Mn or Me,
 *      or a non-zero combining class): diacritics are stripped, so "José",
 *      "JOSE" and "Jose" + U+0301 all match "jose", and a decomposed
 *      character folds like its precomposed form;
 *   3. default-ignorable code points dropped (zero-width and format
 *      characters, variation selectors, bidi controls, tags, Hangul
 *      fillers, soft hyphen);
 *   4. White_Space code points (tab, newlines, U+0085, U+00A0,
 *      U+2000..U+200A, U+2028, U+3000, ...) become ' ';
 *   5. every code point outside ASCII replaced by its UTS #39 confusable
 *      prototype (ICU's uspoof skeleton, from confusables.txt), by shape
 *      and so before case folding: Cyrillic and Greek look-alikes,
 *      letter-like symbols and so on become what they look like. ASCII
 *      is never folded into other ASCII: "rn" and "m", "0" and "o", "1",
 *      "I" and "l" stay apart, so regexes written in lower-case ASCII keep
 *      their meaning; a look-alike of one of those gets the one its kind
 *      suggests (a capital letter I, a digit 0 or 1; ascii_prototype());
 *   6. NFKC_Casefold (case folding, ß to "ss"), NFD and marks dropped
 *      again.
 *
 * A letter whose capital and small forms look like different Latin
 * letters folds by shape (Greek Ν to n but ν to v), so a literal written
 * with one of them matches that case only; Latin-script literals are
 * unaffected.
 *
 * The stream applies one rule the table cannot: a space right after a
 * space (dropped code points in between do not count) is dropped, so any
 * run of white space is one ' '.
 *
 * Because every step works on single code points (the marks that NFKC
 * would compose are dropped, Hangul syllables decompose to jamo), the
 * fold of a text is the concatenation of the folds of its code points,
 * whatever fragments it arrives in. A fold may be longer than its code
 * point (ß -> "ss", U+FDFA -> 30 bytes): at most SL_GUARD_FOLD_MAX bytes
 * and SL_GUARD_NORM_GROWTH times its UTF-8 length, checked when the table
 * is built.
 *
 * The table is built once per process (about 0.2 s; the first rule set
 * compiled or the first sl_guard_normalize() call pays it) into a
 * two-level index over 128-code-point blocks: blocks where every code
 * point stays as it is share one block, so the streams' lookups touch a
 * few hundred KiB.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/uspoof.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>
#include <unicode/uversion.h>

#include "sl_guard_norm.h"

struct sl_guard_fold sl_guard_fold;

static pthread_once_t fold_once = PTHREAD_ONCE_INIT;
static char fold_error[160];
static struct sl_guard_norm_info fold_info;

/* Working strings: the longest fold (U+FDFA) is 18 code points. */
#define FOLD_U16_MAX 256
#define FOLD_ROUNDS_MAX 8

struct fold_icu {
	const UNormalizer2 *nfkc, *nfkc_cf, *nfd;
	USpoofChecker *spoof;
};

static bool
is_mark(UChar32 c)
{
	int8_t t = u_charType(c);

	return t == U_NON_SPACING_MARK || t == U_ENCLOSING_MARK ||
	       u_getCombiningClass(c) != 0;
}

/*
 * Where UTS #39 makes ASCII characters confusable with each other (0 O,
 * 1 I l |, m rn, " ''), ASCII keeps them apart; a look-alike from outside
 * ASCII gets the one its kind suggests: a capital letter I, a digit 0 or
 * 1, a single character looking like "rn" m, a double quote ".
 */
static int32_t
ascii_prototype(UChar32 c, UChar *sk, int32_t ls)
{
	int8_t t = u_charType(c);

	if (ls == 1 && sk[0] == 'l') {
		if (t == U_UPPERCASE_LETTER || t == U_TITLECASE_LETTER)
			sk[0] = 'I';
		else if (t == U_DECIMAL_DIGIT_NUMBER)
			sk[0] = '1';
	} else if (ls == 1 && sk[0] == 'O' && t == U_DECIMAL_DIGIT_NUMBER) {
		sk[0] = '0';
	} else if (ls == 2 && sk[0] == 'r' && sk[1] == 'n') {
		sk[0] = 'm';
		ls = 1;
	} else if (ls == 2 && sk[0] == '\'' && sk[1] == '\'') {
		sk[0] = '"';
		ls = 1;
	}
	return ls;
}

/*
 * Drop marks and default-ignorable code points, white space to one ' ',
 * and with @confusables every code point outside ASCII to its prototype.
 * Return the length of @out or -1.
 */
static int32_t
fold_pass(const struct fold_icu *icu, const UChar *in, int32_t n, UChar *out,
	  bool confusables)
{
	int32_t o = 0, i = 0;
	bool space = false;

	while (i < n) {
		UChar32 c;
		UChar one[2], sk[FOLD_U16_MAX];
		UErrorCode e = U_ZERO_ERROR;
		int32_t l1 = 0, ls;

		U16_NEXT(in, i, n, c);
		if (is_mark(c) ||
		    u_hasBinaryProperty(c, UCHAR_DEFAULT_IGNORABLE_CODE_POINT))
			continue;
		if (u_isUWhiteSpace(c)) {
			if (!space && o < FOLD_U16_MAX)
				out[o++] = ' ';
			space = true;
			continue;
		}
		space = false;
		if (c < 0x80 || !confusables) {
			if (o + 2 > FOLD_U16_MAX)
				return -1;
			U16_APPEND_UNSAFE(out, o, c);
			continue;
		}
		U16_APPEND_UNSAFE(one, l1, c);
		ls = uspoof_getSkeleton(icu->spoof, 0, one, l1, sk,
					FOLD_U16_MAX, &e);
		if (U_FAILURE(e) || o + ls > FOLD_U16_MAX)
			return -1;
		ls = ascii_prototype(c, sk, ls);
		memcpy(out + o, sk, (size_t)ls * sizeof(UChar));
		o += ls;
	}
	return o;
}

/*
 * One round of the fold: NFKC, NFD, marks and ignorables dropped, white
 * space, confusables (by shape, before case folding: Greek capital Nu
 * looks like N, small nu like v), then NFKC_Casefold, NFD and marks
 * dropped again. Return the length of @out or -1.
 */
static int32_t
fold_round(const struct fold_icu *icu, const UChar *in, int32_t n, UChar *out)
{
	UChar a[FOLD_U16_MAX], b[FOLD_U16_MAX];
	UErrorCode e = U_ZERO_ERROR;
	int32_t la, lb;

	la = unorm2_normalize(icu->nfkc, in, n, a, FOLD_U16_MAX, &e);
	lb = unorm2_normalize(icu->nfd, a, la, b, FOLD_U16_MAX, &e);
	if (U_FAILURE(e))
		return -1;
	la = fold_pass(icu, b, lb, a, true);
	if (la < 0)
		return -1;
	lb = unorm2_normalize(icu->nfkc_cf, a, la, b, FOLD_U16_MAX, &e);
	la = unorm2_normalize(icu->nfd, b, lb, a, FOLD_U16_MAX, &e);
	if (U_FAILURE(e))
		return -1;
	return fold_pass(icu, a, la, out, false);
}

/* The fold of @cp in UTF-8 at @u8 (room for FOLD_U16_MAX * 3 bytes);
 * return its length or -1. */
static int32_t
fold_cp(const struct fold_icu *icu, UChar32 cp, char *u8)
{
	UChar s[FOLD_U16_MAX], t[FOLD_U16_MAX];
	UErrorCode e = U_ZERO_ERROR;
	int32_t n = 0, m, len;
	int round;

	U16_APPEND_UNSAFE(s, n, cp);
	for (round = 0; round < FOLD_ROUNDS_MAX; round++) {
		m = fold_round(icu, s, n, t);
		if (m < 0)
			return -1;
		if (m == n && memcmp(s, t, (size_t)n * sizeof(UChar)) == 0)
			break;
		memcpy(s, t, (size_t)m * sizeof(UChar));
		n = m;
	}
	if (round == FOLD_ROUNDS_MAX)
		return -1;
	u_strToUTF8(u8, FOLD_U16_MAX * 3, &len, s, n, &e);
	return U_SUCCESS(e) ? len : -1;
}

static unsigned
utf8_len(uint32_t cp)
{
	return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

static void
utf8_put(uint32_t c, char *o)
{
	if (c < 0x80) {
		o[0] = (char)c;
	} else if (c < 0x800) {
		o[0] = (char)(0xC0 | c >> 6);
		o[1] = (char)(0x80 | (c & 0x3F));
	} else if (c < 0x10000) {
		o[0] = (char)(0xE0 | c >> 12);
		o[1] = (char)(0x80 | ((c >> 6) & 0x3F));
		o[2] = (char)(0x80 | (c & 0x3F));
	} else {
		o[0] = (char)(0xF0 | c >> 18);
		o[1] = (char)(0x80 | ((c >> 12) & 0x3F));
		o[2] = (char)(0x80 | ((c >> 6) & 0x3F));
		o[3] = (char)(0x80 | (c & 0x3F));
	}
}

/* Code points ICU would leave alone without being asked: unassigned (but
 * not reserved default-ignorable), private use, surrogates. */
static bool
fold_skip(UChar32 cp)
{
	int8_t t = u_charType(cp);

	if (cp >= 0xD800 && cp <= 0xDFFF)
		return true;
	if (t == U_PRIVATE_USE_CHAR)
		return true;
	return t == U_UNASSIGNED &&
	       !u_hasBinaryProperty(cp, UCHAR_DEFAULT_IGNORABLE_CODE_POINT);
}

static int
fold_fail(const char *fmt, unsigned long a, long b)
{
	snprintf(fold_error, sizeof(fold_error), fmt, a, b);
	return -1;
}

static int
fold_build_table(struct fold_icu *icu)
{
	uint32_t *all = malloc(0x110000 * sizeof(*all));
	uint32_t *entry = NULL;
	uint8_t *pool = NULL;
	size_t pool_len = 0, pool_cap = 1 << 16;
	unsigned n_blocks = 1, b;
	char u8[FOLD_U16_MAX * 3], orig[4];
	int rc = -1;

	pool = malloc(pool_cap);
	if (all == NULL || pool == NULL) {
		snprintf(fold_error, sizeof(fold_error), "out of memory");
		goto out;
	}
	for (UChar32 cp = 0; cp < 0x110000; cp++) {
		int32_t len;
		bool space = false;

		all[cp] = SL_FOLD_SAME;
		if (fold_skip(cp))
			continue;
		len = fold_cp(icu, cp, u8);
		if (len < 0) {
			rc = fold_fail("ICU cannot fold U+%04lX (%ld)",
				       (unsigned long)cp, 0);
			goto out;
		}
		utf8_put((uint32_t)cp, orig);
		if ((unsigned)len == utf8_len((uint32_t)cp) &&
		    memcmp(u8, orig, (size_t)len) == 0)
			continue;
		if (len > SL_GUARD_FOLD_MAX ||
		    (unsigned)len >
			    SL_GUARD_NORM_GROWTH * utf8_len((uint32_t)cp)) {
			rc = fold_fail("U+%04lX folds to %ld bytes, more than "
				       "this build allows",
				       (unsigned long)cp, len);
			goto out;
		}
		if (cp < 0x80) {
			if (len != 1) {
				rc = fold_fail("ASCII U+%04lX folds to %ld "
					       "bytes",
					       (unsigned long)cp, len);
				goto out;
			}
			/* The ASCII table has it; the entry is never read. */
		}
		if (pool_len + (size_t)len > pool_cap) {
			void *p = realloc(pool, pool_cap * 2);

			if (p == NULL) {
				snprintf(fold_error, sizeof(fold_error),
					 "out of memory");
				goto out;
			}
			pool = p;
			pool_cap *= 2;
		}
		if (pool_len + (size_t)len >= (1u << SL_FOLD_OFF_BITS)) {
			snprintf(fold_error, sizeof(fold_error),
				 "fold table over %u bytes",
				 1u << SL_FOLD_OFF_BITS);
			goto out;
		}
		for (int32_t k = 0; k < len; k++)
			space |= u8[k] == ' ';
		memcpy(pool + pool_len, u8, (size_t)len);
		all[cp] = (uint32_t)pool_len |
			  (uint32_t)len << SL_FOLD_OFF_BITS |
			  (space ? SL_FOLD_SPACE : 0);
		pool_len += (size_t)len;
		fold_info.folded++;
		if (len == 0)
			fold_info.dropped++;
		if ((unsigned)len > fold_info.fold_max)
			fold_info.fold_max = (unsigned)len;
	}
	for (unsigned c = 0; c < 128; c++)
		sl_guard_fold.ascii[c] = all[c] == SL_FOLD_SAME
						 ? (uint8_t)c
						 : pool[SL_FOLD_OFF(all[c])];

	/* Blocks with something to fold get their own entries. */
	for (b = 0; b < SL_FOLD_BLOCKS; b++) {
		const uint32_t *blk = all + ((size_t)b << SL_FOLD_BLOCK_SHIFT);
		bool same = true;

		for (unsigned k = 0; k < (1u << SL_FOLD_BLOCK_SHIFT); k++)
			same &= blk[k] == SL_FOLD_SAME;
		sl_guard_fold.block[b] = same ? 0 : (uint16_t)n_blocks++;
	}
	entry = malloc((size_t)n_blocks * sizeof(*entry)
		       << SL_FOLD_BLOCK_SHIFT);
	if (entry == NULL) {
		snprintf(fold_error, sizeof(fold_error), "out of memory");
		goto out;
	}
	for (unsigned k = 0; k < (1u << SL_FOLD_BLOCK_SHIFT); k++)
		entry[k] = SL_FOLD_SAME;
	for (b = 0; b < SL_FOLD_BLOCKS; b++)
		if (sl_guard_fold.block[b] != 0)
			memcpy(entry + ((size_t)sl_guard_fold.block[b]
					<< SL_FOLD_BLOCK_SHIFT),
			       all + ((size_t)b << SL_FOLD_BLOCK_SHIFT),
			       sizeof(*entry) << SL_FOLD_BLOCK_SHIFT);
	sl_guard_fold.entry = entry;
	sl_guard_fold.pool = pool;
	fold_info.blocks = n_blocks;
	fold_info.table_bytes =
		sizeof(sl_guard_fold) +
		((size_t)n_blocks * sizeof(*entry) << SL_FOLD_BLOCK_SHIFT) +
		pool_len;
	entry = NULL;
	pool = NULL;
	rc = 0;
out:
	free(all);
	free(entry);
	free(pool);
	return rc;
}

static void
fold_build(void)
{
	struct fold_icu icu = {0};
	UErrorCode e = U_ZERO_ERROR;
	UVersionInfo v;

	icu.nfkc = unorm2_getNFKCInstance(&e);
	if (U_SUCCESS(e))
		icu.nfkc_cf = unorm2_getNFKCCasefoldInstance(&e);
	if (U_SUCCESS(e))
		icu.nfd = unorm2_getNFDInstance(&e);
	if (U_SUCCESS(e))
		icu.spoof = uspoof_open(&e);
	if (U_FAILURE(e)) {
		snprintf(fold_error, sizeof(fold_error), "ICU: %s",
			 u_errorName(e));
		return;
	}
	u_getVersion(v);
	u_versionToString(v, fold_info.icu_version);
	u_getUnicodeVersion(v);
	u_versionToString(v, fold_info.unicode_version);
	if (fold_build_table(&icu) == 0)
		sl_guard_fold.ready = true;
	uspoof_close(icu.spoof);
}

int
sl_guard_norm_init(char *err, size_t errlen)
{
	pthread_once(&fold_once, fold_build);
	if (sl_guard_fold.ready)
		return 0;
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "Unicode fold table: %s",
			 fold_error[0] ? fold_error : "not built");
	return -EINVAL;
}

void
sl_guard_norm_info(struct sl_guard_norm_info *info)
{
	sl_guard_norm_init(NULL, 0);
	*info = fold_info;
}

unsigned
sl_guard_norm_cp(uint32_t cp, uint8_t *out)
{
	uint32_t e;

	if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
		out[0] = 0x1A; /* not a character: as invalid UTF-8 */
		return 1;
	}
	if (sl_guard_norm_init(NULL, 0) == 0 && cp < 0x80) {
		out[0] = sl_guard_fold.ascii[cp];
		return 1;
	}
	/* Without a table (ICU failed: no rule set compiles) as it is. */
	e = sl_guard_fold.ready ? sl_guard_fold_entry(cp) : SL_FOLD_SAME;
	if (e == SL_FOLD_SAME) {
		utf8_put(cp, (char *)out);
		return utf8_len(cp);
	}
	memcpy(out, sl_guard_fold.pool + SL_FOLD_OFF(e), SL_FOLD_LEN(e));
	return SL_FOLD_LEN(e);
}

size_t
sl_guard_normalize(const void *text, size_t len, uint8_t *out, uint32_t *origin)
{
	const uint8_t *p = text;
	size_t i = 0, o = 0;
	uint8_t space = 0;

	if (sl_guard_norm_init(NULL, 0) != 0) {
		/* No table (ICU failed; nothing compiles): as it is. */
		memcpy(out, text, len);
		for (size_t k = 0; origin != NULL && k < len; k++)
			origin[k] = (uint32_t)k;
		return len;
	}
	while (i < len) {
		unsigned ol;
		int nl = sl_guard_norm_char(p + i, len - i, true, &space, &ol,
					    out + o);

		if (origin != NULL)
			for (int k = 0; k < nl; k++)
				origin[o + k] = (uint32_t)i;
		o += (size_t)nl;
		i += ol;
	}
	return o;
}
