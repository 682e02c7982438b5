/* SPDX-License-Identifier: MIT */
/*
 * sl_guard.c - the guard engine: rule compilation, the literal automaton,
 * the Hyperscan regex side and the per-stream hold-and-release loop.
 *
 * A stream's state is one block of caller memory:
 *
 *   struct sl_guard_stream | held original bytes (held_max) | one meta
 *   byte per held character (original length | normalised length << 3) |
 *   normalised bytes of the current step, for Hyperscan (nbuf_size, only
 *   with regexes) | pending redactions (redact_max) | Hyperscan stream
 *
 * A feed appends its bytes to the held buffer (as much as fits), decodes
 * and normalises the new complete characters (sl_guard_norm.c's table and
 * the stream's "last byte was a space" bit), runs them through the
 * automaton byte by byte and through Hyperscan in blocks of up to
 * nbuf_size bytes, then releases the characters that no block or redact
 * rule can still reach. It repeats until the feed is consumed; a full
 * buffer with nothing releasable is the state bound.
 *
 * A character's fold may be several normalised bytes (ß -> "ss"), and a
 * match may start or end inside them: a character is released only when
 * all of its normalised bytes lie before the safe point, and a redaction
 * covers every character one of its bytes comes from.
 *
 * The Hyperscan stream lives in the caller's memory too: at compile time a
 * freshly opened stream is copied into the set as a template, and a new
 * stream is a memcpy of it. hs_copy_stream() itself is a memcpy of
 * hs_stream_size() bytes (Hyperscan 5.x runtime.c), so the state is flat
 * and relocatable; END reports end-anchored matches with hs_reset_stream(),
 * which frees nothing.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hs.h>

#include "sl_guard.h"
#include "sl_guard_norm.h"

#define GUARD_HS_FLAGS (HS_FLAG_CASELESS | HS_FLAG_UTF8 | HS_FLAG_SOM_LEFTMOST)
#define GUARD_HS_MODE (HS_MODE_STREAM | HS_MODE_SOM_HORIZON_SMALL)

/* Automaton entries: the target's row offset, and this bit when the target
 * (or a suffix of it) ends a literal. */
#define AC_EMIT 0x80000000u
#define AC_ROW_MASK 0x7fffffffu

/* An invalid or incomplete UTF-8 sequence normalises to ASCII SUB. */
#define GUARD_INVALID 0x1A

#define REDACT_MAX_DEFAULT 8

/* A held character's meta byte: original length 1..4 (an invalid
 * sequence 1..3), normalised length 0..SL_GUARD_FOLD_MAX. */
#define META(ol, nl) ((uint8_t)((ol) | (unsigned)(nl) << 3))
#define META_OL(m) ((unsigned)(m) & 0x07u)
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
	uint32_t ac;          /* automaton row */
	uint8_t status;       /* enum guard_status */
	uint8_t reason;       /* enum sl_guard_reason */
	uint8_t space;        /* the last normalised byte was a space */
	uint16_t n_iv;
	uint32_t block_rule_id;
	uint32_t held_len;    /* original bytes held, character in progress too */
	uint32_t decoded_len; /* of which in complete characters */
	uint32_t n_chars;
	uint32_t held_peak;
	uint64_t norm_base;   /* normalised offset of the first held character */
	uint64_t norm_end;    /* normalised bytes so far */
	uint64_t plain_end;   /* normalised end of the plain text released */
	uint64_t orig_base;   /* original offset of the first held byte */
	uint64_t bytes_in;
};

struct sl_guard_scratch {
	const struct sl_guard_set *set;
	hs_scratch_t *hs;
	struct sl_guard_set_counters ctr;
	struct sl_guard_rule_counters *rule_ctr;
};

struct feed_cx {
	struct sl_guard_stream *st;
	const struct sl_guard_set *set;
	struct sl_guard_scratch *sc;
	const struct sl_guard_sink *sink;
};

static const char *const counter_names[] = {
#define SL_GUARD_COUNTER_NAME(name, text) #name,
	SL_GUARD_COUNTERS(SL_GUARD_COUNTER_NAME)
#undef SL_GUARD_COUNTER_NAME
};

static const char *const reason_texts[] = {
#define SL_GUARD_REASON_TEXT(name, text) text,
	SL_GUARD_REASONS(SL_GUARD_REASON_TEXT)
#undef SL_GUARD_REASON_TEXT
};

const char *
sl_guard_counter_name(enum sl_guard_counter c)
{
	return (unsigned)c < SL_GUARD_CTR_MAX ? counter_names[c] : "?";
}

const char *
sl_guard_reason_text(enum sl_guard_reason r)
{
	return (unsigned)r < SL_GUARD_REASON_MAX ? reason_texts[r] : "?";
}

/* ---- UTF-8 ---------------------------------------------------------- */

/*
 * Decode one character at @p (@n bytes available). Return 1 with the code
 * point and its length, 0 if the bytes are a valid but incomplete prefix,
 * -1 with the length of the invalid maximal subpart (Unicode's "U+FFFD
 * substitution of maximal subparts"): overlongs, surrogates and code points
 * above U+10FFFF are invalid.
 */
static inline int
utf8_decode(const uint8_t *p, size_t n, uint32_t *cp, unsigned *used)
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
static int
fold_collapse(uint32_t e, uint8_t *space, uint8_t *out)
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
norm_char(const uint8_t *p, size_t n, bool final, uint8_t *space,
	  unsigned *ol, uint8_t *out)
{
	uint32_t cp, e;
	int r;

	if (likely(p[0] < 0x80)) {
		uint8_t c = sl_guard_fold.ascii[p[0]];
		uint8_t sp = c == ' ';
		int nl = !(sp & *space); /* no branch: spaces are common */

		*ol = 1;
		*space = sp;
		out[0] = c;
		return nl;
	}
	r = utf8_decode(p, n, &cp, ol);
	if (r == 0) {
		if (!final)
			return -1;
		*ol = (unsigned)n;
		r = -1;
	}
	if (r < 0) {
		out[0] = GUARD_INVALID;
		*space = 0;
		return 1;
	}
	e = sl_guard_fold_entry(cp);
	if (e == SL_FOLD_SAME) {
		memcpy(out, p, *ol);
		*space = 0;
		return (int)*ol;
	}
	if (unlikely(e & SL_FOLD_SPACE))
		return fold_collapse(e, space, out);
	if (SL_FOLD_LEN(e) == 0)
		return 0; /* dropped: the space bit stays */
	memcpy(out, sl_guard_fold.pool + SL_FOLD_OFF(e), SL_FOLD_LEN(e));
	*space = 0;
	return (int)SL_FOLD_LEN(e);
}

size_t
sl_guard_normalize(const void *text, size_t len, uint8_t *out,
		   uint32_t *origin)
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
		int nl = norm_char(p + i, len - i, true, &space, &ol, out + o);

		if (origin != NULL)
			for (int k = 0; k < nl; k++)
				origin[o + k] = (uint32_t)i;
		o += (size_t)nl;
		i += ol;
	}
	return o;
}

static bool
utf8_valid(const char *s, size_t *bad)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t n = strlen(s), i = 0;

	while (i < n) {
		uint32_t cp;
		unsigned used;

		if (utf8_decode(p + i, n - i, &cp, &used) != 1) {
			*bad = i;
			return false;
		}
		i += used;
	}
	return true;
}

/* ---- compile -------------------------------------------------------- */

/*
 * At most @max bytes of @s as one line of UTF-8 for an error: whole
 * characters (never cut inside one), control bytes and bytes that are no
 * UTF-8 as \xNN, "..." when cut short. The text comes from files and API
 * callers; the error goes to a log line and a protobuf string.
 */
static const char *
err_quote(const char *s, size_t max, char *out, size_t cap)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0, i = 0;

	while (p[i] != '\0' && i < max) {
		unsigned len = p[i] < 0x80	       ? 1
			       : (p[i] & 0xE0) == 0xC0 ? 2
			       : (p[i] & 0xF0) == 0xE0 ? 3
			       : (p[i] & 0xF8) == 0xF0 ? 4
						       : 0;
		uint32_t cp = len == 1	 ? p[i]
			      : len == 2 ? p[i] & 0x1Fu
			      : len == 3 ? p[i] & 0x0Fu
					 : p[i] & 0x07u;
		bool ok = len != 0;

		for (unsigned k = 1; ok && k < len; k++) {
			ok = (p[i + k] & 0xC0) == 0x80;
			cp = cp << 6 | (p[i + k] & 0x3Fu);
		}
		if (ok && len > 1)
			ok = cp >= (len == 2   ? 0x80u
				    : len == 3 ? 0x800u
					       : 0x10000u) &&
			     cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF);
		if (ok && len == 1 && (cp < 0x20 || cp == 0x7F))
			ok = false;
		if (ok && i + len > max)
			break; /* a character past the cut */
		if (!ok) {
			if (o + 4 >= cap)
				break;
			o +=
			    (size_t)snprintf(out + o, cap - o, "\\x%02X", p[i]);
			i++;
			continue;
		}
		if (o + len >= cap)
			break;
		memcpy(out + o, p + i, len);
		o += len;
		i += len;
	}
	out[o] = '\0';
	if (p[i] != '\0' && o + 3 < cap) {
		memcpy(out + o, "...", 4);
	}
	return out;
}

/* A line cut short by its buffer ends before a character it cut. */
static void
err_trim(char *s)
{
	size_t n = strlen(s), start = n;
	unsigned need;

	while (start > 0 && ((unsigned char)s[start - 1] & 0xC0) == 0x80)
		start--;
	if (start == 0 || (unsigned char)s[start - 1] < 0xC0)
		return;
	start--;
	need = ((unsigned char)s[start] & 0xE0) == 0xC0	  ? 2
	       : ((unsigned char)s[start] & 0xF0) == 0xE0 ? 3
							  : 4;
	if (n - start < need)
		s[start] = '\0';
}

static void err_rule(struct sl_guard_error *err, const struct sl_guard_rule *r,
		     unsigned index, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
err_rule(struct sl_guard_error *err, const struct sl_guard_rule *r,
	 unsigned index, const char *fmt, ...)
{
	char why[200], q[128];
	va_list ap;

	if (err == NULL)
		return;
	err->rejected++;
	if (err->rule >= 0 || err->text[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	err->rule = (int)index;
	if (r->pattern == NULL)
		snprintf(err->text, sizeof(err->text), "rule %u: %s", r->id,
			 why);
	else if (r->kind == SL_GUARD_KIND_REGEX)
		snprintf(err->text, sizeof(err->text), "rule %u: /%s/: %s",
			 r->id, err_quote(r->pattern, 64, q, sizeof(q)), why);
	else
		snprintf(err->text, sizeof(err->text), "rule %u: \"%s\": %s",
			 r->id, err_quote(r->pattern, 64, q, sizeof(q)), why);
	err_trim(err->text);
}

static void
err_set(struct sl_guard_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
err_set(struct sl_guard_error *err, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || err->text[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(err->text, sizeof(err->text), fmt, ap);
	va_end(ap);
}

static bool
holds(const struct guard_rule *r)
{
	return r->rule.action != SL_GUARD_ACTION_LOG;
}


static int
ac_build(struct sl_guard_set *set)
{
	bool used[256] = {false};
	unsigned cap = 1024, n = 1, k;
	uint32_t *go = NULL, *fail = NULL, *queue = NULL;
	uint16_t *depth = NULL;
	uint8_t *proper = NULL;
	int rc = -ENOMEM;

	for (unsigned i = 0; i < set->n_rules; i++)
		for (unsigned j = 0; j < set->rules[i].norm_len; j++)
			used[set->rules[i].norm[j]] = true;
	k = 1;
	for (unsigned b = 0; b < 256; b++)
		set->cls[b] = used[b] ? (uint8_t)k++ : 0;
	set->info.ac_classes = k;
	/* A power-of-two stride turns row offsets into states with a shift. */
	set->cls_shift = 0;
	while ((1u << set->cls_shift) < k)
		set->cls_shift++;
	k = 1u << set->cls_shift;
	set->n_cls = k;

	go = calloc((size_t)cap * k, sizeof(*go));
	depth = calloc(cap, sizeof(*depth));
	proper = calloc(cap, 1);
	set->term = calloc(cap, sizeof(uint32_t));
	if (go == NULL || depth == NULL || proper == NULL || set->term == NULL)
		goto out;

	for (unsigned i = 0; i < set->n_rules; i++) {
		struct guard_rule *r = &set->rules[i];
		uint32_t s = 0;

		if (r->norm_len == 0)
			continue;
		for (unsigned j = 0; j < r->norm_len; j++) {
			size_t e = (size_t)s * k + set->cls[r->norm[j]];

			if (holds(r))
				proper[s] = 1;
			if (go[e] == 0) {
				if (n == cap) {
					void *g, *d, *p, *t;

					if ((uint64_t)cap * 2 * k > AC_ROW_MASK) {
						rc = -E2BIG;
						goto out;
					}
					g = realloc(go, (size_t)cap * 2 * k *
							    sizeof(*go));
					d = realloc(depth,
						    (size_t)cap * 2 * sizeof(*depth));
					p = realloc(proper, (size_t)cap * 2);
					t = realloc(set->term, (size_t)cap * 2 *
								       sizeof(uint32_t));
					if (g != NULL)
						go = g;
					if (d != NULL)
						depth = d;
					if (p != NULL)
						proper = p;
					if (t != NULL)
						set->term = t;
					if (!g || !d || !p || !t)
						goto out;
					memset(go + (size_t)cap * k, 0,
					       (size_t)cap * k * sizeof(*go));
					memset(proper + cap, 0, cap);
					memset(set->term + cap, 0,
					       cap * sizeof(uint32_t));
					cap *= 2;
				}
				depth[n] = (uint16_t)(depth[s] + 1);
				go[e] = n++;
			}
			s = go[e];
		}
		r->next_same = set->term[s];
		set->term[s] = i + 1;
	}

	set->n_states = n;
	fail = calloc(n, sizeof(*fail));
	queue = malloc(n * sizeof(*queue));
	set->out_link = calloc(n, sizeof(uint32_t));
	set->hold = calloc(n, sizeof(uint16_t));
	if (!fail || !queue || !set->out_link || !set->hold)
		goto out;

	/* Breadth first: a state's failure target is shallower, so its row,
	 * output link and hold are final when the state is reached. */
	unsigned head = 0, tail = 0;

	for (unsigned c = 0; c < k; c++)
		if (go[c] != 0)
			queue[tail++] = go[c];
	while (head < tail) {
		uint32_t s = queue[head++], f = fail[s];

		set->out_link[s] = set->term[f] ? f : set->out_link[f];
		set->hold[s] = proper[s] ? depth[s] : set->hold[f];
		for (unsigned c = 0; c < k; c++) {
			uint32_t t = go[(size_t)s * k + c];

			if (t != 0) {
				fail[t] = go[(size_t)f * k + c];
				queue[tail++] = t;
			} else {
				go[(size_t)s * k + c] = go[(size_t)f * k + c];
			}
		}
	}
	for (size_t e = 0; e < (size_t)n * k; e++) {
		uint32_t t = go[e];

		go[e] = t * k |
			(set->term[t] || set->out_link[t] ? AC_EMIT : 0);
	}
	set->go = go;
	go = NULL;
	rc = 0;
out:
	free(go);
	free(fail);
	free(queue);
	free(depth);
	free(proper);
	return rc;
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

size_t
sl_guard_scan_literals(const struct sl_guard_set *set, const uint8_t *norm,
		       size_t len,
		       void (*hit)(void *ctx, unsigned rule, uint64_t from,
				   uint64_t to),
		       void *ctx)
{
	size_t n = 0;
	uint32_t s = 0;

	if (set->go == NULL)
		return 0;
	for (size_t i = 0; i < len; i++) {
		s = set->go[s + set->cls[norm[i]]];
		if (unlikely(s & AC_EMIT)) {
			uint32_t st = (s & AC_ROW_MASK) >> set->cls_shift;

			for (uint32_t t = set->term[st] ? st : set->out_link[st];
			     t != 0; t = set->out_link[t])
				for (uint32_t r1 = set->term[t]; r1 != 0;
				     r1 = set->rules[r1 - 1].next_same)
					n++;
			if (hit != NULL)
				ac_report(set, st, i + 1, hit, ctx);
			s &= AC_ROW_MASK;
		}
	}
	return n;
}

struct mask_check {
	const struct sl_guard_set *set;
	int found; /* rule index + 1 of a block/redact match */
};

static void
mask_hit(void *ctx, unsigned rule, uint64_t from, uint64_t to)
{
	struct mask_check *mc = ctx;

	(void)from;
	(void)to;
	if (mc->found == 0 && holds(&mc->set->rules[rule]))
		mc->found = (int)rule + 1;
}

static int
mask_hs_hit(unsigned int id, unsigned long long from, unsigned long long to,
	    unsigned int flags, void *ctx)
{
	(void)flags;
	mask_hit(ctx, id, from, to);
	return 0;
}

/*
 * A released mask sits between other text: no block or redact literal may
 * lie inside it, contain it, or straddle either edge, or the released
 * stream would contain a match. Regexes are checked against the mask
 * alone. Return the offending rule index + 1, or 0.
 */
static int
mask_conflict(const struct sl_guard_set *set, const struct guard_rule *r,
	      hs_scratch_t *scratch)
{
	uint8_t *mn = malloc((size_t)r->mask_len * SL_GUARD_NORM_GROWTH + 1);
	struct mask_check mc = {set, 0};
	size_t ml;

	if (mn == NULL)
		return -ENOMEM;
	ml = sl_guard_normalize(r->mask, r->mask_len, mn, NULL);
	sl_guard_scan_literals(set, mn, ml, mask_hit, &mc);
	for (unsigned i = 0; mc.found == 0 && i < set->n_rules; i++) {
		const struct guard_rule *l = &set->rules[i];
		unsigned kmax;

		if (l->norm_len == 0 || !holds(l))
			continue;
		kmax = l->norm_len - 1 < ml ? l->norm_len - 1 : (unsigned)ml;
		for (unsigned k = 1; k <= kmax; k++)
			if (memcmp(mn + ml - k, l->norm, k) == 0 ||
			    memcmp(mn, l->norm + l->norm_len - k, k) == 0) {
				mc.found = (int)i + 1;
				break;
			}
		if (mc.found == 0 && ml > 0 && ml < l->norm_len &&
		    memmem(l->norm, l->norm_len, mn, ml) != NULL)
			mc.found = (int)i + 1;
	}
	if (mc.found == 0 && set->db != NULL && ml > 0) {
		void *mem = aligned_alloc(64, (set->hs_stream_bytes + 63) & ~63ul);

		if (mem == NULL) {
			free(mn);
			return -ENOMEM;
		}
		memcpy(mem, set->hs_template, set->hs_stream_bytes);
		hs_scan_stream(mem, (const char *)mn, (unsigned)ml, 0, scratch,
			       mask_hs_hit, &mc);
		hs_reset_stream(mem, 0, scratch, mask_hs_hit, &mc);
		free(mem);
	}
	free(mn);
	return mc.found;
}

static int
hs_build(struct sl_guard_set *set, struct sl_guard_error *err)
{
	unsigned n = 0;
	const char **exprs = calloc(set->n_rules, sizeof(*exprs));
	unsigned *flags = calloc(set->n_rules, sizeof(*flags));
	unsigned *ids = calloc(set->n_rules, sizeof(*ids));
	hs_compile_error_t *cerr = NULL;
	hs_stream_t *s = NULL;
	int rc = -ENOMEM;

	if (!exprs || !flags || !ids)
		goto out;
	for (unsigned i = 0; i < set->n_rules; i++)
		if (set->rules[i].rule.kind == SL_GUARD_KIND_REGEX) {
			exprs[n] = set->rules[i].rule.pattern;
			flags[n] = GUARD_HS_FLAGS;
			ids[n++] = i;
		}
	if (hs_compile_multi(exprs, flags, ids, n, GUARD_HS_MODE, NULL,
			     &set->db, &cerr) != HS_SUCCESS) {
		if (cerr != NULL && cerr->expression >= 0 &&
		    (unsigned)cerr->expression < n) {
			unsigned i = ids[cerr->expression];

			err_rule(err, &set->rules[i].rule, i, "%s",
				 cerr->message);
		} else {
			err_set(err, "Hyperscan: %s",
				cerr != NULL ? cerr->message : "compile failed");
		}
		hs_free_compile_error(cerr);
		set->db = NULL;
		rc = -EINVAL;
		goto out;
	}
	if (hs_stream_size(set->db, &set->hs_stream_bytes) != HS_SUCCESS ||
	    hs_open_stream(set->db, 0, &s) != HS_SUCCESS) {
		err_set(err, "Hyperscan: cannot open a stream");
		rc = -ENOMEM;
		goto out;
	}
	set->hs_template =
		aligned_alloc(64, (set->hs_stream_bytes + 63) & ~(size_t)63);
	if (set->hs_template == NULL)
		goto out;
	memcpy(set->hs_template, s, set->hs_stream_bytes);
	rc = 0;
out:
	if (s != NULL)
		hs_close_stream(s, NULL, NULL, NULL);
	free(exprs);
	free(flags);
	free(ids);
	return rc;
}

static int
check_rule(struct guard_rule *gr, unsigned i, struct sl_guard_error *err)
{
	const struct sl_guard_rule *r = &gr->rule;
	size_t bad;

	if (r->pattern == NULL) {
		err_rule(err, r, i, "no pattern");
		return -EINVAL;
	}
	if (r->action != SL_GUARD_ACTION_BLOCK &&
	    r->action != SL_GUARD_ACTION_REDACT &&
	    r->action != SL_GUARD_ACTION_LOG) {
		err_rule(err, r, i, "unknown action %d", (int)r->action);
		return -EINVAL;
	}
	if (r->mask != NULL && !utf8_valid(r->mask, &bad)) {
		err_rule(err, r, i, "mask is not valid UTF-8 (byte %zu)", bad);
		return -EINVAL;
	}
	if (r->kind == SL_GUARD_KIND_LITERAL) {
		size_t len = strlen(r->pattern);

		if (!utf8_valid(r->pattern, &bad)) {
			err_rule(err, r, i, "not valid UTF-8 (byte %zu)", bad);
			return -EINVAL;
		}
		gr->norm = malloc(len * SL_GUARD_NORM_GROWTH + 1);
		if (gr->norm == NULL)
			return -ENOMEM;
		gr->norm_len = (unsigned)sl_guard_normalize(r->pattern, len,
							    gr->norm, NULL);
		if (gr->norm_len == 0) {
			err_rule(err, r, i, "empty after normalisation");
			return -EINVAL;
		}
		if (gr->norm_len > SL_GUARD_LITERAL_MAX) {
			err_rule(err, r, i,
				 "%u bytes after normalisation, more than %u",
				 gr->norm_len, SL_GUARD_LITERAL_MAX);
			return -EINVAL;
		}
		gr->hold = gr->norm_len - 1;
		return 0;
	}
	if (r->kind == SL_GUARD_KIND_REGEX) {
		hs_expr_info_t *info = NULL;
		hs_compile_error_t *cerr = NULL;

		if (hs_expression_info(r->pattern, GUARD_HS_FLAGS, &info,
				       &cerr) != HS_SUCCESS) {
			err_rule(err, r, i, "%s",
				 cerr != NULL ? cerr->message : "invalid");
			hs_free_compile_error(cerr);
			return -EINVAL;
		}
		gr->max_width = info->max_width;
		/*
		 * A match is reported when its last byte is scanned, unless
		 * it ends in an assertion: \b, \B wait for the next byte,
		 * $ and \Z before a final newline wait for END. Such a match
		 * may end one byte before the text scanned so far and still
		 * be unreported: hold max_width + 1 bytes, not max_width - 1.
		 * \B does not set matches_at_eod; look for it (a literal
		 * backslash before a B only costs two bytes of holdback).
		 */
		gr->hold = info->matches_at_eod || strstr(r->pattern, "\\B")
				   ? gr->max_width + 1
				   : gr->max_width - 1;
		free(info);
		if (gr->max_width == UINT_MAX && holds(gr)) {
			err_rule(err, r, i,
				 "unbounded match width; sluice holds back "
				 "at most max_width - 1 bytes");
			return -EINVAL;
		}
		if (gr->max_width != UINT_MAX &&
		    gr->max_width > SL_GUARD_LITERAL_MAX) {
			err_rule(err, r, i, "max width %u, more than %u",
				 gr->max_width, SL_GUARD_LITERAL_MAX);
			return -EINVAL;
		}
		return 0;
	}
	err_rule(err, r, i, "unknown kind %d", (int)r->kind);
	return -EINVAL;
}

static size_t
align_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

struct sl_guard_set *
sl_guard_compile(const struct sl_guard_rule *rules, unsigned n_rules,
		 const struct sl_guard_config *cfg, struct sl_guard_error *err)
{
	struct sl_guard_set *set = calloc(1, sizeof(*set));
	unsigned n_lit = 0, n_re = 0, lit_max = 0, re_max = 0, lit_hold = 0;
	int widest = -1, rc = 0;
	unsigned hold;
	char why[200];

	if (err != NULL) {
		err->rule = -1;
		err->rejected = 0;
		err->text[0] = '\0';
	}
	if (set == NULL) {
		err_set(err, "out of memory");
		return NULL;
	}
	if (sl_guard_norm_init(why, sizeof(why)) != 0) {
		err_set(err, "%s", why);
		goto fail;
	}
	set->n_rules = n_rules;
	set->rules = calloc(n_rules ? n_rules : 1, sizeof(*set->rules));
	if (set->rules == NULL) {
		err_set(err, "out of memory");
		goto fail;
	}
	for (unsigned i = 0; i < n_rules; i++) {
		struct guard_rule *gr = &set->rules[i];
		int r;

		gr->rule = rules[i];
		gr->rule.pattern = NULL;
		gr->rule.mask = NULL;
		if (rules[i].pattern != NULL &&
		    (gr->rule.pattern = strdup(rules[i].pattern)) == NULL) {
			err_set(err, "out of memory");
			goto fail;
		}
		if (rules[i].action == SL_GUARD_ACTION_REDACT) {
			const char *m = rules[i].mask ? rules[i].mask
						      : SL_GUARD_MASK_DEFAULT;

			if ((gr->rule.mask = strdup(m)) == NULL) {
				err_set(err, "out of memory");
				goto fail;
			}
			gr->mask = (const uint8_t *)gr->rule.mask;
			gr->mask_len = (unsigned)strlen(m);
		}
		r = check_rule(gr, i, err);
		if (r == -ENOMEM) {
			err_set(err, "out of memory");
			goto fail;
		}
		if (r != 0) {
			rc = r;
			continue;
		}
		if (gr->rule.kind == SL_GUARD_KIND_LITERAL) {
			n_lit++;
			if (gr->norm_len > lit_max)
				lit_max = gr->norm_len;
			if (holds(gr) && gr->norm_len - 1 > lit_hold)
				lit_hold = gr->norm_len - 1;
		} else {
			n_re++;
			if (gr->max_width != UINT_MAX && gr->max_width > re_max)
				re_max = gr->max_width;
			if (holds(gr) && gr->hold > set->re_hold)
				set->re_hold = gr->hold;
		}
		if (holds(gr) &&
		    (widest < 0 || gr->hold > set->rules[widest].hold))
			widest = (int)i;
	}
	if (rc != 0)
		goto fail;
	if (n_lit > 0 && (rc = ac_build(set)) != 0) {
		err_set(err, rc == -E2BIG ? "literal automaton too large"
					  : "out of memory");
		goto fail;
	}
	if (n_re > 0 && hs_build(set, err) != 0)
		goto fail;

	hold = lit_hold > set->re_hold ? lit_hold : set->re_hold;
	set->held_max = cfg != NULL && cfg->held_max ? cfg->held_max
						      : 4 * hold + 64;
	set->redact_max = cfg != NULL && cfg->redact_max ? cfg->redact_max
							 : REDACT_MAX_DEFAULT;
	if (set->held_max < 4 * hold + 8 || set->held_max > (1u << 24)) {
		if (widest >= 0 && set->held_max < 4 * hold + 8)
			err_rule(err, &set->rules[widest].rule,
				 (unsigned)widest,
				 "holds back %u bytes: held_max %u is below "
				 "4 x holdback + 8 = %u",
				 hold, set->held_max, 4 * hold + 8);
		else
			err_set(err, "held_max %u out of range [%u, %u]",
				set->held_max, 4 * hold + 8, 1u << 24);
		goto fail;
	}

	/* Masks last: they are checked with the compiled matchers. */
	hs_scratch_t *scratch = NULL;

	if (set->db != NULL && hs_alloc_scratch(set->db, &scratch) != HS_SUCCESS) {
		err_set(err, "out of memory");
		goto fail;
	}
	for (unsigned i = 0, last = UINT_MAX; i < n_rules; i++) {
		struct guard_rule *gr = &set->rules[i];
		int c;

		if (gr->rule.action != SL_GUARD_ACTION_REDACT)
			continue;
		/* Rule sets share a few masks: check each once. */
		if (last != UINT_MAX &&
		    strcmp(set->rules[last].rule.mask, gr->rule.mask) == 0)
			continue;
		last = i;
		c = mask_conflict(set, gr, scratch);
		if (c < 0) {
			err_set(err, "out of memory");
			rc = c;
		} else if (c > 0) {
			char q[96];

			err_rule(err, &gr->rule, i,
				 "mask \"%s\" would form a match of rule %u "
				 "in the released text",
				 err_quote(gr->rule.mask, 40, q, sizeof(q)),
				 set->rules[c - 1].rule.id);
			rc = -EINVAL;
		}
	}
	hs_free_scratch(scratch);
	if (rc != 0)
		goto fail;

	/* Hyperscan gets the normalised bytes of a step in blocks; a block
	 * is handed over when the next character's fold might not fit. */
	set->nbuf_size = set->held_max > NBUF_MIN ? set->held_max : NBUF_MIN;
	set->off_held = align_up(sizeof(struct sl_guard_stream), 8);
	set->off_meta = set->off_held + set->held_max;
	set->off_nbuf = set->off_meta + set->held_max;
	set->off_iv = align_up(set->off_nbuf + (set->db ? set->nbuf_size : 0),
			       8);
	set->off_hs = align_up(set->off_iv + (size_t)set->redact_max *
						     sizeof(struct guard_iv),
			       SL_GUARD_STATE_ALIGN);
	set->state_size = align_up(set->off_hs + set->hs_stream_bytes,
				   SL_GUARD_STATE_ALIGN);

	struct sl_guard_set_info *in = &set->info;

	in->n_rules = n_rules;
	in->n_literals = n_lit;
	in->n_regexes = n_re;
	in->literal_max = lit_max;
	in->regex_max_width = re_max;
	in->holdback_max = hold;
	in->held_max = set->held_max;
	in->redact_max = set->redact_max;
	in->ac_states = set->n_states;
	in->ac_bytes = (size_t)set->n_states *
		       (set->n_cls * sizeof(uint32_t) + 2 * sizeof(uint32_t) +
			sizeof(uint16_t));
	if (set->db != NULL)
		hs_database_size(set->db, &in->hs_db_bytes);
	in->hs_stream_bytes = set->hs_stream_bytes;
	in->state_size = set->state_size;
	return set;
fail:
	if (err != NULL && err->text[0] == '\0')
		err_set(err, "cannot compile the rule set");
	sl_guard_free(set);
	return NULL;
}

void
sl_guard_free(struct sl_guard_set *set)
{
	if (set == NULL)
		return;
	for (unsigned i = 0; set->rules != NULL && i < set->n_rules; i++) {
		free((void *)set->rules[i].rule.pattern);
		free((void *)set->rules[i].rule.mask);
		free(set->rules[i].norm);
	}
	free(set->rules);
	free(set->go);
	free(set->term);
	free(set->out_link);
	free(set->hold);
	hs_free_database(set->db);
	free(set->hs_template);
	free(set);
}

void
sl_guard_set_info(const struct sl_guard_set *set,
		  struct sl_guard_set_info *info)
{
	*info = set->info;
}

size_t
sl_guard_state_size(const struct sl_guard_set *set)
{
	return set->state_size;
}

const struct sl_guard_rule *
sl_guard_rule_of(const struct sl_guard_set *set, unsigned index,
		 const uint8_t **norm, unsigned *norm_len)
{
	if (index >= set->n_rules)
		return NULL;
	if (norm != NULL)
		*norm = set->rules[index].norm;
	if (norm_len != NULL)
		*norm_len = set->rules[index].norm_len;
	return &set->rules[index].rule;
}

struct sl_guard_scratch *
sl_guard_scratch_alloc(const struct sl_guard_set *set)
{
	struct sl_guard_scratch *sc = calloc(1, sizeof(*sc));

	if (sc == NULL)
		return NULL;
	sc->set = set;
	sc->rule_ctr = calloc(set->n_rules ? set->n_rules : 1,
			      sizeof(*sc->rule_ctr));
	if (sc->rule_ctr == NULL ||
	    (set->db != NULL &&
	     hs_alloc_scratch(set->db, &sc->hs) != HS_SUCCESS)) {
		sl_guard_scratch_free(sc);
		return NULL;
	}
	return sc;
}

void
sl_guard_scratch_free(struct sl_guard_scratch *sc)
{
	if (sc == NULL)
		return;
	hs_free_scratch(sc->hs);
	free(sc->rule_ctr);
	free(sc);
}

void
sl_guard_counters_read(struct sl_guard_scratch *const *scratch, unsigned n,
		       struct sl_guard_set_counters *set_out,
		       struct sl_guard_rule_counters *rules_out)
{
	memset(set_out, 0, sizeof(*set_out));
	if (n > 0 && rules_out != NULL)
		memset(rules_out, 0,
		       scratch[0]->set->n_rules * sizeof(*rules_out));
	for (unsigned w = 0; w < n; w++) {
		const struct sl_guard_scratch *sc = scratch[w];

		for (unsigned c = 0; c < SL_GUARD_CTR_MAX; c++)
			set_out->c[c] += sc->ctr.c[c];
		for (unsigned r = 0; rules_out != NULL && r < sc->set->n_rules;
		     r++) {
			rules_out[r].matches += sc->rule_ctr[r].matches;
			rules_out[r].blocks += sc->rule_ctr[r].blocks;
			rules_out[r].redactions += sc->rule_ctr[r].redactions;
		}
	}
}

/* ---- streams -------------------------------------------------------- */

static inline uint8_t *
st_held(const struct sl_guard_stream *st)
{
	return (uint8_t *)st + st->set->off_held;
}

static inline uint8_t *
st_meta(const struct sl_guard_stream *st)
{
	return (uint8_t *)st + st->set->off_meta;
}

static inline struct guard_iv *
st_iv(const struct sl_guard_stream *st)
{
	return (struct guard_iv *)((uint8_t *)st + st->set->off_iv);
}

static inline hs_stream_t *
st_hs(const struct sl_guard_stream *st)
{
	return (hs_stream_t *)((uint8_t *)st + st->set->off_hs);
}

struct sl_guard_stream *
sl_guard_stream_init(const struct sl_guard_set *set, void *mem, size_t size)
{
	struct sl_guard_stream *st = mem;

	if (mem == NULL || size < set->state_size ||
	    ((uintptr_t)mem & (SL_GUARD_STATE_ALIGN - 1)) != 0)
		return NULL;
	memset(st, 0, sizeof(*st));
	st->set = set;
	st->status = GUARD_OPEN;
	st->reason = SL_GUARD_REASON_NONE;
	if (set->db != NULL)
		memcpy(st_hs(st), set->hs_template, set->hs_stream_bytes);
	return st;
}

static void
block(struct feed_cx *cx, enum sl_guard_reason reason, uint32_t rule_id)
{
	struct sl_guard_stream *st = cx->st;
	static const enum sl_guard_counter ctr[SL_GUARD_REASON_MAX] = {
		[SL_GUARD_REASON_RULE] = SL_GUARD_CTR_BLOCKS_RULE,
		[SL_GUARD_REASON_STATE_BOUND] = SL_GUARD_CTR_BLOCKS_STATE_BOUND,
		[SL_GUARD_REASON_SCANNER] = SL_GUARD_CTR_BLOCKS_OTHER,
		[SL_GUARD_REASON_MISUSE] = SL_GUARD_CTR_BLOCKS_OTHER,
	};

	if (st->status == GUARD_BLOCKED)
		return;
	st->status = GUARD_BLOCKED;
	st->reason = (uint8_t)reason;
	st->block_rule_id = rule_id;
	st->held_len = st->decoded_len = st->n_chars = 0;
	st->n_iv = 0;
	if (cx->sc != NULL && cx->sc->set == st->set)
		cx->sc->ctr.c[ctr[reason]]++;
}

/* Original offsets of the normalised span [from, to), whole characters. */
static void
span_to_orig(const struct sl_guard_stream *st, uint64_t from, uint64_t to,
	     uint64_t *ofrom, uint64_t *oto)
{
	const uint8_t *meta = st_meta(st);
	uint64_t pos = st->norm_base, off = 0;
	bool have_from = from < pos;

	*ofrom = *oto = st->orig_base;
	if (to <= pos)
		return;
	for (uint32_t i = 0; i < st->n_chars; i++) {
		unsigned ol = META_OL(meta[i]), nl = META_NL(meta[i]);

		if (nl > 0 && !have_from && from < pos + nl) {
			*ofrom = st->orig_base + off;
			have_from = true;
		}
		off += ol;
		pos += nl;
		if (nl > 0 && pos >= to) {
			*oto = st->orig_base + off;
			return;
		}
	}
	*oto = st->orig_base + off;
}

/*
 * Widen the held normalised span [*from, *to) to whole characters: two
 * matches in the bytes of one character (a fold such as ß -> "ss") share
 * that character, so they are one span, whatever was released between
 * finding them.
 */
static void
snap_to_chars(const struct sl_guard_stream *st, uint64_t *from, uint64_t *to)
{
	const uint8_t *meta = st_meta(st);
	uint64_t pos = st->norm_base;

	for (uint32_t i = 0; i < st->n_chars && pos < *to; i++) {
		unsigned nl = META_NL(meta[i]);

		if (nl > 1 && *from > pos && *from < pos + nl)
			*from = pos;
		if (nl > 1 && *to > pos && *to < pos + nl)
			*to = pos + nl;
		pos += nl;
	}
}

/*
 * Add a pending redaction [from, to), merged with those it overlaps; the
 * merged span keeps the mask of the match that starts first. A match that
 * starts inside the mask released last (found only after it went out: a
 * chain of overlapping literals longer than the holdback) continues that
 * mask: the rest of its span is released as nothing, so the output does
 * not depend on where the fragments were cut.
 */
static int
add_redaction(struct feed_cx *cx, uint64_t from, uint64_t to, unsigned rule)
{
	struct sl_guard_stream *st = cx->st;
	struct guard_iv *iv = st_iv(st);
	unsigned n = st->n_iv, k = 0, j;
	struct guard_iv m = {from, to, rule, 0};

	if (to <= st->norm_base)
		return 0; /* inside a mask already released */
	if (m.from < st->norm_base) {
		m.from = st->norm_base;
		m.cont = 1;
	}
	snap_to_chars(st, &m.from, &m.to);
	while (k < n && iv[k].to <= m.from)
		k++;
	for (j = k; j < n && iv[j].from < m.to; j++) {
		if (iv[j].from <= m.from) {
			m.from = iv[j].from;
			m.rule = iv[j].rule;
		}
		m.cont |= iv[j].cont;
		if (iv[j].to > m.to)
			m.to = iv[j].to;
	}
	if (j == k) {
		if (n == st->set->redact_max) {
			block(cx, SL_GUARD_REASON_STATE_BOUND, 0);
			return 1;
		}
		memmove(&iv[k + 1], &iv[k], (n - k) * sizeof(*iv));
		st->n_iv++;
	} else if (j > k + 1) {
		memmove(&iv[k + 1], &iv[j], (n - j) * sizeof(*iv));
		st->n_iv = (uint16_t)(n - (j - k - 1));
	}
	iv[k] = m;
	return 0;
}

/* Return non-zero to stop scanning: the stream is blocked. */
static int
on_match(struct feed_cx *cx, unsigned rule, uint64_t from, uint64_t to)
{
	struct sl_guard_stream *st = cx->st;
	const struct guard_rule *r = &cx->set->rules[rule];
	struct sl_guard_scratch *sc = cx->sc;

	if (st->status != GUARD_OPEN && st->status != GUARD_FINISHED)
		return 1;
	sc->rule_ctr[rule].matches++;
	sc->ctr.c[SL_GUARD_CTR_MATCHES]++;
	if (holds(r) && from < st->plain_end)
		sc->ctr.c[SL_GUARD_CTR_LATE_MATCHES]++;
	if (cx->sink != NULL && cx->sink->match != NULL) {
		struct sl_guard_match m = {
			.rule_id = r->rule.id,
			.rule = rule,
			.action = r->rule.action,
			.from = from,
			.to = to,
		};

		span_to_orig(st, from, to, &m.orig_from, &m.orig_to);
		cx->sink->match(cx->sink->ctx, &m);
	}
	switch (r->rule.action) {
	case SL_GUARD_ACTION_LOG:
		sc->ctr.c[SL_GUARD_CTR_LOGGED]++;
		return 0;
	case SL_GUARD_ACTION_REDACT:
		sc->ctr.c[SL_GUARD_CTR_REDACTIONS]++;
		sc->rule_ctr[rule].redactions++;
		return add_redaction(cx, from, to, rule);
	case SL_GUARD_ACTION_BLOCK:
	default:
		sc->rule_ctr[rule].blocks++;
		block(cx, SL_GUARD_REASON_RULE, r->rule.id);
		return 1;
	}
}

static int
hs_on_match(unsigned int id, unsigned long long from, unsigned long long to,
	    unsigned int flags, void *ctx)
{
	(void)flags;
	return on_match(ctx, id, from, to);
}

static int
ac_on_match(struct feed_cx *cx, uint32_t st_idx, uint64_t end)
{
	const struct sl_guard_set *set = cx->set;
	uint32_t t = set->term[st_idx] ? st_idx : set->out_link[st_idx];

	for (; t != 0; t = set->out_link[t])
		for (uint32_t r1 = set->term[t]; r1 != 0;
		     r1 = set->rules[r1 - 1].next_same)
			if (on_match(cx, r1 - 1,
				     end - set->rules[r1 - 1].norm_len, end))
				return 1;
	return 0;
}

/* Scan @nb normalised bytes with Hyperscan; non-zero if blocked. */
static int
hs_step(struct feed_cx *cx, const uint8_t *nbuf, uint32_t nb)
{
	struct sl_guard_stream *st = cx->st;
	hs_error_t e = hs_scan_stream(st_hs(st), (const char *)nbuf, nb, 0,
				      cx->sc->hs, hs_on_match, cx);

	if (st->status == GUARD_BLOCKED)
		return 1;
	if (e != HS_SUCCESS) {
		block(cx, SL_GUARD_REASON_SCANNER, 0);
		return 1;
	}
	return 0;
}

/*
 * Decode, normalise and match the held bytes not decoded yet. With @final,
 * an incomplete character at the end is an invalid one. Return non-zero if
 * the stream got blocked.
 */
static int
scan_step(struct feed_cx *cx, bool final)
{
	struct sl_guard_stream *st = cx->st;
	const struct sl_guard_set *set = cx->set;
	const uint8_t *held = st_held(st);
	uint8_t *meta = st_meta(st);
	uint8_t *nbuf = set->db ? (uint8_t *)st + set->off_nbuf : NULL;
	const uint32_t *go = set->go;
	const uint8_t *cls = set->cls;
	uint32_t i = st->decoded_len, end = st->held_len, nb = 0;
	uint32_t s = st->ac, nc = st->n_chars;
	uint64_t n = st->norm_end;
	/* Kept in registers; the stream sees them before any callback. */
	uint8_t space = st->space;

	while (i < end) {
		uint8_t out[SL_GUARD_FOLD_MAX];
		unsigned ol;
		int nl;

		if (nbuf != NULL &&
		    unlikely(nb + SL_GUARD_FOLD_MAX > set->nbuf_size)) {
			/* The next fold might not fit: hand Hyperscan what
			 * it has, then go on. */
			st->decoded_len = i;
			st->n_chars = nc;
			st->ac = s;
			st->norm_end = n;
			if (hs_step(cx, nbuf, nb) != 0)
				return 1;
			nb = 0;
		}
		nl = norm_char(held + i, end - i, final, &space, &ol, out);
		if (nl < 0)
			break;
		meta[nc++] = META(ol, nl);
		i += ol;
		for (int k = 0; k < nl; k++) {
			if (nbuf != NULL)
				nbuf[nb++] = out[k];
			n++;
			if (go == NULL)
				continue;
			s = go[s + cls[out[k]]];
			if (unlikely(s & AC_EMIT)) {
				s &= AC_ROW_MASK;
				st->norm_end = n;
				st->decoded_len = i;
				st->n_chars = nc;
				st->ac = s;
				if (ac_on_match(cx, s >> set->cls_shift, n))
					return 1;
			}
		}
	}
	st->decoded_len = i;
	st->n_chars = nc;
	st->space = space;
	st->ac = s;
	st->norm_end = n;
	return nb > 0 ? hs_step(cx, nbuf, nb) : 0;
}

/* The normalised offset before which no block or redact rule can match. */
static uint64_t
safe_point(const struct sl_guard_stream *st)
{
	const struct sl_guard_set *set = st->set;
	uint64_t n = st->norm_end;
	uint64_t r = set->hold != NULL ? n - set->hold[st->ac >> set->cls_shift]
				       : n;

	if (set->re_hold > 0) {
		uint64_t rr = n > set->re_hold ? n - set->re_hold : 0;

		if (rr < r)
			r = rr;
	}
	return r;
}

static void
emit(struct feed_cx *cx, const void *bytes, size_t len, uint64_t orig,
     size_t orig_len)
{
	cx->sc->ctr.c[SL_GUARD_CTR_BYTES_OUT] += len;
	if (cx->sink != NULL && cx->sink->release != NULL)
		cx->sink->release(cx->sink->ctx, bytes, len, orig, orig_len);
}

/*
 * Release the held characters whose normalised bytes all lie before
 * normalised offset @r (every one with @all), masks in place of pending
 * redactions that start before it. A later match starts at @r or after,
 * so none of its bytes comes from a released character, also when @r
 * falls inside a character's fold (ß -> "ss" and a literal starting
 * "s..."). A dropped character (no normalised bytes) at @r goes as well:
 * it precedes any match starting there.
 */
static void
release(struct feed_cx *cx, uint64_t r, bool all)
{
	struct sl_guard_stream *st = cx->st;
	const struct sl_guard_set *set = cx->set;
	uint8_t *held = st_held(st), *meta = st_meta(st);
	struct guard_iv *iv = st_iv(st);
	uint64_t pos = st->norm_base;
	uint32_t i = 0, off = 0, run = 0;
	unsigned v = 0;

	if (st->n_iv == 0) {
		/* No redaction pending: the released characters are a prefix;
		 * find its end from the back, over the short held tail. */
		i = st->n_chars;
		off = st->decoded_len;
		pos = st->norm_end;
		while (!all && i > 0 && pos > r) {
			i--;
			off -= META_OL(meta[i]);
			pos -= META_NL(meta[i]);
		}
		if (off == 0)
			return;
		if (pos > st->plain_end)
			st->plain_end = pos;
		emit(cx, held, off, st->orig_base, off);
		goto compact;
	}
	while (i < st->n_chars) {
		unsigned ol = META_OL(meta[i]), nl = META_NL(meta[i]);

		if (v < st->n_iv && pos < iv[v].to &&
		    (nl > 0 ? pos + nl > iv[v].from : pos > iv[v].from)) {
			const struct guard_rule *gr = &set->rules[iv[v].rule];
			uint32_t start;

			if (!all && iv[v].from >= r)
				break;
			if (off > run)
				emit(cx, held + run, off - run,
				     st->orig_base + run, off - run);
			start = off;
			while (i < st->n_chars) {
				ol = META_OL(meta[i]);
				nl = META_NL(meta[i]);
				if (pos >= iv[v].to ||
				    (nl == 0 && pos == iv[v].from))
					break;
				off += ol;
				pos += nl;
				i++;
			}
			if (iv[v].cont) {
				emit(cx, gr->mask, 0, st->orig_base + start,
				     off - start);
			} else {
				emit(cx, gr->mask, gr->mask_len,
				     st->orig_base + start, off - start);
				cx->sc->ctr.c[SL_GUARD_CTR_MASKS]++;
			}
			run = off;
			v++;
			continue;
		}
		if (!all && pos + nl > r)
			break;
		off += ol;
		pos += nl;
		if (nl > 0)
			st->plain_end = pos;
		i++;
	}
	if (off > run)
		emit(cx, held + run, off - run, st->orig_base + run, off - run);
	if (off == 0 && v == 0)
		return;
compact:
	memmove(held, held + off, st->held_len - off);
	memmove(meta, meta + i, st->n_chars - i);
	memmove(iv, iv + v, (st->n_iv - v) * sizeof(*iv));
	st->held_len -= off;
	st->decoded_len -= off;
	st->n_chars -= i;
	st->n_iv = (uint16_t)(st->n_iv - v);
	st->orig_base += off;
	st->norm_base = pos;
}

static bool
stream_usable(struct feed_cx *cx)
{
	struct sl_guard_stream *st = cx->st;

	if (cx->sc == NULL || cx->sc->set != st->set) {
		block(cx, SL_GUARD_REASON_MISUSE, 0);
		return false;
	}
	if (st->status == GUARD_FINISHED) {
		block(cx, SL_GUARD_REASON_MISUSE, 0);
		return false;
	}
	return st->status == GUARD_OPEN;
}

enum sl_guard_verdict
sl_guard_feed(struct sl_guard_stream *st, struct sl_guard_scratch *scratch,
	      const void *text, size_t len, const struct sl_guard_sink *sink)
{
	struct feed_cx cx = {st, st->set, scratch, sink};
	const uint8_t *p = text;

	if (st->status == GUARD_BLOCKED)
		return SL_GUARD_VERDICT_BLOCK;
	if (!stream_usable(&cx))
		return SL_GUARD_VERDICT_BLOCK;
	scratch->ctr.c[SL_GUARD_CTR_FRAGMENTS]++;
	scratch->ctr.c[SL_GUARD_CTR_BYTES_IN] += len;
	st->bytes_in += len;
	while (len > 0) {
		uint32_t room = st->set->held_max - st->held_len;
		uint32_t take = len < room ? (uint32_t)len : room;

		if (room == 0) {
			block(&cx, SL_GUARD_REASON_STATE_BOUND, 0);
			return SL_GUARD_VERDICT_BLOCK;
		}
		memcpy(st_held(st) + st->held_len, p, take);
		st->held_len += take;
		p += take;
		len -= take;
		if (scan_step(&cx, false) != 0)
			return SL_GUARD_VERDICT_BLOCK;
		release(&cx, safe_point(st), false);
	}
	if (st->held_len > st->held_peak)
		st->held_peak = st->held_len;
	return SL_GUARD_VERDICT_PASS;
}

enum sl_guard_verdict
sl_guard_finish(struct sl_guard_stream *st, struct sl_guard_scratch *scratch,
		const struct sl_guard_sink *sink)
{
	struct feed_cx cx = {st, st->set, scratch, sink};

	if (st->status == GUARD_BLOCKED)
		return SL_GUARD_VERDICT_BLOCK;
	if (st->status == GUARD_FINISHED)
		return SL_GUARD_VERDICT_PASS;
	if (!stream_usable(&cx))
		return SL_GUARD_VERDICT_BLOCK;
	if (scan_step(&cx, true) != 0)
		return SL_GUARD_VERDICT_BLOCK;
	if (st->set->db != NULL) {
		hs_error_t e = hs_reset_stream(st_hs(st), 0, scratch->hs,
					       hs_on_match, &cx);

		if (st->status == GUARD_BLOCKED)
			return SL_GUARD_VERDICT_BLOCK;
		if (e != HS_SUCCESS) {
			block(&cx, SL_GUARD_REASON_SCANNER, 0);
			return SL_GUARD_VERDICT_BLOCK;
		}
	}
	release(&cx, UINT64_MAX, true);
	st->status = GUARD_FINISHED;
	scratch->ctr.c[SL_GUARD_CTR_STREAMS_FINISHED]++;
	return SL_GUARD_VERDICT_PASS;
}

void
sl_guard_stream_info(const struct sl_guard_stream *st,
		     struct sl_guard_stream_info *info)
{
	const struct sl_guard_set *set = st->set;

	memset(info, 0, sizeof(*info));
	info->verdict = st->status == GUARD_BLOCKED ? SL_GUARD_VERDICT_BLOCK
						    : SL_GUARD_VERDICT_PASS;
	info->reason = (enum sl_guard_reason)st->reason;
	info->block_rule_id = st->block_rule_id;
	info->finished = st->status == GUARD_FINISHED;
	info->held_bytes = st->held_len;
	info->held_norm = (uint32_t)(st->norm_end - st->norm_base);
	info->held_peak = st->held_peak;
	info->partial =
		set->hold != NULL ? set->hold[st->ac >> set->cls_shift] : 0;
	info->bytes_in = st->bytes_in;
	info->bytes_released = st->orig_base;
}
