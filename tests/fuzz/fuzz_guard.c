/* SPDX-License-Identifier: MIT */
/*
 * fuzz_guard.c - libFuzzer harness for the guard engine
 * (control/sl_guard.h): one stream's text, fed in fragments cut where
 * the input says, through a rule set compiled once per process.
 *
 * Input: byte 0 picks the rule set (bits 0-1: block, redact, log, or all
 * three actions in one set) and the text's form (bit 2: the rest is
 * taken as UTF-8 as it is; else every byte is one piece of a small
 * grammar: ASCII, look-alikes, invisible and combining characters, folds
 * that grow (ß, ﬁ, U+FDFA), white space, invalid and cut sequences, parts
 * of the rules). Byte 1 & 31 is the number of cuts; that many bytes give
 * the distance of each cut from the previous one (0: an empty feed);
 * the rest is the text.
 *
 * Checked on every input, against a reference that owes nothing to the
 * streaming code (the text normalised at once with sl_guard_normalize,
 * into a buffer of exactly SL_GUARD_NORM_GROWTH times its length; block
 * and redact literals found with memmem, regexes with a Hyperscan
 * block-mode database of the same patterns and flags):
 *
 *   - zero leak: no original byte of a block or redact match is ever
 *     released as text (only masks stand for them), whatever the cuts;
 *     a text with a block match ends BLOCKed;
 *   - the releases cover the original text once, in order; plain runs are
 *     the original bytes; with a valid UTF-8 text each run is valid UTF-8
 *     on its own (a character is never split);
 *   - the output does not depend on the cuts: a stream that passes
 *     releases exactly what the text fed at once releases (unless the
 *     state bound stopped one of them), a log-only set passes the text
 *     unchanged;
 *   - the set's LATE_MATCHES counter stays 0.
 *
 * Build and run: tests/fuzz/README.md.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hs/hs.h>

#include "sl_guard.h"

#define FUZZ_CUTS_MAX 31
#define FUZZ_TEXT_MAX 4096

enum fuzz_set { SET_BLOCK, SET_REDACT, SET_LOG, SET_MIXED, SET_MAX };

static const struct sl_guard_rule block_rules[] = {
	{1, SL_GUARD_KIND_LITERAL, SL_GUARD_ACTION_BLOCK, "Hsiao Yun-Hwa",
	 NULL},
	{2, SL_GUARD_KIND_LITERAL, SL_GUARD_ACTION_BLOCK, "Tofu Island", NULL},
	{3, SL_GUARD_KIND_LITERAL, SL_GUARD_ACTION_BLOCK,
	 "Stra\xC3\x9F"
	 "e",
	 NULL},
	{4, SL_GUARD_KIND_REGEX, SL_GUARD_ACTION_BLOCK, "\\bvx-[0-9]{3}\\b",
	 NULL},
	{5, SL_GUARD_KIND_REGEX, SL_GUARD_ACTION_BLOCK, "launch code \\w{4} ?$",
	 NULL},
};

static const struct sl_guard_rule redact_rules[] = {
	{11, SL_GUARD_KIND_LITERAL, SL_GUARD_ACTION_REDACT, "Ji-Yeon Park",
	 "<name>"},
	{12, SL_GUARD_KIND_LITERAL, SL_GUARD_ACTION_REDACT, "aba", "[X]"},
	{13, SL_GUARD_KIND_LITERAL, SL_GUARD_ACTION_REDACT, "bab", NULL},
	{14, SL_GUARD_KIND_LITERAL, SL_GUARD_ACTION_REDACT, "caf\xC3\xA9",
	 "<drink>"},
	{15, SL_GUARD_KIND_REGEX, SL_GUARD_ACTION_REDACT, "\\d{3}-\\d{4}",
	 "<phone>"},
	{16, SL_GUARD_KIND_REGEX, SL_GUARD_ACTION_REDACT, "\\bcode\\d\\b",
	 "<c>"},
	{17, SL_GUARD_KIND_REGEX, SL_GUARD_ACTION_REDACT, "pin\\d\\B", "<p>"},
};

static const struct sl_guard_rule log_rules[] = {
	{21, SL_GUARD_KIND_LITERAL, SL_GUARD_ACTION_LOG, "Hsiao", NULL},
	{22, SL_GUARD_KIND_LITERAL, SL_GUARD_ACTION_LOG, "ab", NULL},
	{23, SL_GUARD_KIND_REGEX, SL_GUARD_ACTION_LOG, "vx-\\d+", NULL},
};

/* Pieces of the grammar: byte b < 0x60 is the ASCII text[b]; above, a
 * string of pieces[b - 0x60] (modulo their number). */
static const char ascii[] = "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789 -.,:\n\t?!$'\"<>[]()/\\_"
			    "HsiaoYun";
static const char *const pieces[] = {
	"Hsiao",
	"Yun-Hwa",
	"Tofu Island",
	"Ji-Yeon Park",
	"vx-",
	"555-0199",
	"launch code ",
	"code7",
	"pin4",
	"caf",
	"Stra",
	"\xC3\x9F",         /* ß: folds to "ss" */
	"\xEF\xAC\x81",     /* ﬁ */
	"\xEF\xB7\xBA",     /* U+FDFA: 3 bytes fold to 30 */
	"\xD0\xB0",         /* Cyrillic а */
	"\xCE\xA5",         /* Greek Υ */
	"\xEF\xBC\xA8",     /* fullwidth Ｈ */
	"\xE2\x80\x8B",     /* zero-width space */
	"\xC2\xAD",         /* soft hyphen */
	"\xCC\x81",         /* combining acute */
	"e\xCC\x81",        /* e + acute */
	"\xC3\xA9",         /* é */
	"\xC2\xA0",         /* no-break space */
	"\xE3\x80\x80",     /* ideographic space */
	"\xE2\x80\xA8",     /* line separator */
	"\xF0\x9F\x98\x80", /* an emoji */
	"\xF3\xA0\x80\x81", /* a tag character (ignorable) */
	"\xEF\xB8\x8F",     /* variation selector */
	"\xE2\x80\xAE",     /* right-to-left override */
	"\xFF",             /* invalid */
	"\xE2\x82",         /* cut short */
	"\xC0\xAF",         /* overlong */
	"\xED\xA0\x80",     /* a surrogate */
	"\xF4\x90\x80\x80", /* past U+10FFFF */
	"\xE2\x80",         /* cut short, then anything */
	"<name>",
	"[X]",
	"  ",
	"\r\n",
	"\xE1\xB4\xA0",     /* small capital V */
	"\xF0\x9D\x90\x87", /* mathematical bold H */
	"\xE2\x93\x97",     /* circled h */
	"\xE2\x85\xA0",     /* Roman numeral one */
	"\xD9\xA5",         /* Arabic-Indic five */
	"\xEF\xBC\x95",     /* fullwidth 5 */
};

struct fuzz_set_env {
	struct sl_guard_set *set;
	struct sl_guard_scratch *sc;
	hs_database_t *ref_db; /* block-mode copy of the block/redact regexes */
	hs_scratch_t *ref_scratch;
	void *mem;
	size_t size;
	bool log_only;
};

static struct fuzz_set_env sets[SET_MAX];
static bool ready;

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_guard: %s\n", what);
	abort();
}

static void
set_open(struct fuzz_set_env *e, const struct sl_guard_rule *rules, unsigned n)
{
	const char *exprs[32];
	unsigned int flags[32], ids[32], n_re = 0;
	struct sl_guard_error err;
	hs_compile_error_t *cerr = NULL;

	e->set = sl_guard_compile(rules, n, NULL, &err);
	if (e->set == NULL) {
		fprintf(stderr, "fuzz_guard: compile: %s\n", err.text);
		abort();
	}
	e->sc = sl_guard_scratch_alloc(e->set);
	e->size = sl_guard_state_size(e->set);
	e->mem = aligned_alloc(SL_GUARD_STATE_ALIGN, e->size);
	if (e->sc == NULL || e->mem == NULL)
		fail("out of memory");
	e->log_only = true;
	for (unsigned i = 0; i < n; i++) {
		if (rules[i].action != SL_GUARD_ACTION_LOG)
			e->log_only = false;
		if (rules[i].kind != SL_GUARD_KIND_REGEX ||
		    rules[i].action == SL_GUARD_ACTION_LOG)
			continue;
		exprs[n_re] = rules[i].pattern;
		flags[n_re] =
			HS_FLAG_CASELESS | HS_FLAG_UTF8 | HS_FLAG_SOM_LEFTMOST;
		ids[n_re] = i;
		n_re++;
	}
	if (n_re == 0)
		return;
	if (hs_compile_multi(exprs, flags, ids, n_re, HS_MODE_BLOCK, NULL,
			     &e->ref_db, &cerr) != HS_SUCCESS)
		fail(cerr->message);
	if (hs_alloc_scratch(e->ref_db, &e->ref_scratch) != HS_SUCCESS)
		fail("hs_alloc_scratch");
}

static void
init_sets(void)
{
	struct sl_guard_rule mixed[32];
	unsigned n = 0;

	set_open(&sets[SET_BLOCK], block_rules,
		 sizeof(block_rules) / sizeof(block_rules[0]));
	set_open(&sets[SET_REDACT], redact_rules,
		 sizeof(redact_rules) / sizeof(redact_rules[0]));
	set_open(&sets[SET_LOG], log_rules,
		 sizeof(log_rules) / sizeof(log_rules[0]));
	for (size_t i = 0; i < sizeof(block_rules) / sizeof(block_rules[0]);
	     i++)
		mixed[n++] = block_rules[i];
	for (size_t i = 0; i < sizeof(redact_rules) / sizeof(redact_rules[0]);
	     i++)
		mixed[n++] = redact_rules[i];
	for (size_t i = 0; i < sizeof(log_rules) / sizeof(log_rules[0]); i++)
		mixed[n++] = log_rules[i];
	set_open(&sets[SET_MIXED], mixed, n);
	ready = true;
}

/* ---------------------------------------------------------------- UTF-8 */

/* Length of the well-formed UTF-8 character at @s (@n bytes left), or 0. */
static unsigned
utf8_char(const uint8_t *s, size_t n)
{
	uint32_t cp;
	unsigned len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		len = 2, cp = s[0] & 0x1F;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		len = 3, cp = s[0] & 0x0F;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (unsigned i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3F);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

static bool
utf8_valid(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned l = utf8_char(s + i, n - i);

		if (l == 0)
			return false;
		i += l;
	}
	return true;
}

/* ------------------------------------------------------------ reference */

/* Original bytes no plain release may hold: every block/redact match. */
struct ref {
	const uint8_t *text;
	size_t len;
	uint8_t *norm;
	uint32_t *origin;
	size_t norm_len;
	uint8_t *covered;   /* per original byte: inside a match */
	bool block;         /* a block rule matches somewhere */
	size_t first_block; /* original offset where the first one starts */
};

static void
ref_mark(struct ref *r, const struct sl_guard_rule *rule, uint64_t from,
	 uint64_t to)
{
	size_t of, ot, last;
	unsigned cl;

	if (rule->action == SL_GUARD_ACTION_LOG || from >= to ||
	    to > r->norm_len)
		return;
	of = r->origin[from];
	last = r->origin[to - 1];
	/* The last character's length; an invalid sequence (0x1A) is at
	 * least its first byte. */
	cl = utf8_char(r->text + last, r->len - last);
	ot = last + (cl ? cl : 1);
	for (size_t i = of; i < ot; i++)
		r->covered[i] = 1;
	if (rule->action == SL_GUARD_ACTION_BLOCK &&
	    (!r->block || of < r->first_block)) {
		r->block = true;
		r->first_block = of;
	}
}

struct ref_hs_ctx {
	struct ref *r;
	const struct sl_guard_set *set;
};

static int
ref_hs_hit(unsigned int id, unsigned long long from, unsigned long long to,
	   unsigned int flags, void *ctx)
{
	struct ref_hs_ctx *h = ctx;

	(void)flags;
	ref_mark(h->r, sl_guard_rule_of(h->set, id, NULL, NULL), from, to);
	return 0;
}

static void
ref_build(struct ref *r, const struct fuzz_set_env *e, const uint8_t *text,
	  size_t len)
{
	struct sl_guard_set_info in;

	memset(r, 0, sizeof(*r));
	r->text = text;
	r->len = len;
	/* Exactly the documented room, so that ASan sees a byte more. */
	r->norm = malloc(len * SL_GUARD_NORM_GROWTH);
	r->origin = malloc(len * SL_GUARD_NORM_GROWTH * sizeof(uint32_t));
	r->covered = calloc(len + 1, 1);
	if ((len > 0 && (r->norm == NULL || r->origin == NULL)) ||
	    r->covered == NULL)
		fail("out of memory");
	r->norm_len = sl_guard_normalize(text, len, r->norm, r->origin);
	if (r->norm_len > len * SL_GUARD_NORM_GROWTH)
		fail("sl_guard_normalize wrote past its bound");
	for (size_t i = 0; i < r->norm_len; i++)
		if (r->origin[i] >= len ||
		    (i > 0 && r->origin[i] < r->origin[i - 1]))
			fail("sl_guard_normalize origin out of order");
	if (r->norm_len > 0 && !utf8_valid(r->norm, r->norm_len))
		fail("normalised text is not UTF-8");
	sl_guard_set_info(e->set, &in);
	for (unsigned k = 0; k < in.n_rules; k++) {
		const uint8_t *lit;
		unsigned ll;
		const struct sl_guard_rule *rule =
			sl_guard_rule_of(e->set, k, &lit, &ll);
		const uint8_t *p = r->norm;

		if (ll == 0)
			continue;
		while ((p = memmem(p, r->norm_len - (size_t)(p - r->norm), lit,
				   ll)) != NULL) {
			size_t f = (size_t)(p - r->norm);

			ref_mark(r, rule, f, f + ll);
			p++;
		}
	}
	if (e->ref_db != NULL && r->norm_len > 0) {
		struct ref_hs_ctx h = {r, e->set};

		if (hs_scan(e->ref_db, (const char *)r->norm,
			    (unsigned int)r->norm_len, 0, e->ref_scratch,
			    ref_hs_hit, &h) != HS_SUCCESS)
			fail("hs_scan");
	}
}

static void
ref_free(struct ref *r)
{
	free(r->norm);
	free(r->origin);
	free(r->covered);
}

/* --------------------------------------------------------------- stream */

struct cap {
	const uint8_t *text;
	size_t text_len;
	bool check_utf8;
	uint8_t *out;
	size_t len, room;
	uint64_t next_orig;
	const struct ref *ref;
};

static void
cap_release(void *ctx, const void *bytes, size_t len, uint64_t orig,
	    size_t orig_len)
{
	struct cap *c = ctx;

	if (orig != c->next_orig || orig + orig_len > c->text_len)
		fail("releases do not cover the text once, in order");
	c->next_orig = orig + orig_len;
	if (len == orig_len && len > 0 &&
	    memcmp(bytes, c->text + orig, len) == 0) {
		/* Plain text: none of it may be part of a match. */
		for (size_t i = 0; i < len; i++)
			if (c->ref->covered[orig + i])
				fail("a byte of a block/redact match was "
				     "released");
		if (c->check_utf8 && !utf8_valid(bytes, len))
			fail("a release is not UTF-8 on its own");
	} else if (len > 0 && !utf8_valid(bytes, len)) {
		fail("a mask is not UTF-8");
	}
	if (c->len + len > c->room) {
		c->room = (c->len + len) * 2 + 256;
		c->out = realloc(c->out, c->room);
		if (c->out == NULL)
			fail("out of memory");
	}
	memcpy(c->out + c->len, bytes, len);
	c->len += len;
}

static enum sl_guard_verdict
run(struct fuzz_set_env *e, const uint8_t *text, size_t len, const size_t *cuts,
    unsigned n_cuts, struct cap *c, struct sl_guard_stream_info *si)
{
	struct sl_guard_sink sink = {cap_release, NULL, c};
	struct sl_guard_stream *st =
		sl_guard_stream_init(e->set, e->mem, e->size);
	enum sl_guard_verdict v = SL_GUARD_VERDICT_PASS;
	size_t at = 0;

	if (st == NULL)
		fail("sl_guard_stream_init");
	c->len = 0;
	c->next_orig = 0;
	for (unsigned i = 0; i <= n_cuts; i++) {
		size_t end = i < n_cuts ? cuts[i] : len;

		v = sl_guard_feed(st, e->sc, text + at, end - at, &sink);
		at = end;
		if (v != SL_GUARD_VERDICT_PASS)
			break;
	}
	if (v == SL_GUARD_VERDICT_PASS)
		v = sl_guard_finish(st, e->sc, &sink);
	sl_guard_stream_info(st, si);
	if (v == SL_GUARD_VERDICT_PASS && c->next_orig != len)
		fail("a stream that passed did not release all its text");
	return v;
}

static size_t
decode(const uint8_t *in, size_t n, bool raw, uint8_t *text)
{
	size_t len = 0;

	if (raw) {
		len = n < FUZZ_TEXT_MAX ? n : FUZZ_TEXT_MAX;
		memcpy(text, in, len);
		return len;
	}
	for (size_t i = 0; i < n; i++) {
		const char *p;
		size_t pl;

		if (in[i] < 0x60) {
			p = &ascii[in[i] % (sizeof(ascii) - 1)];
			pl = 1;
		} else {
			p = pieces[(in[i] - 0x60) %
				   (sizeof(pieces) / sizeof(pieces[0]))];
			pl = strlen(p);
		}
		if (len + pl > FUZZ_TEXT_MAX)
			break;
		memcpy(text + len, p, pl);
		len += pl;
	}
	return len;
}

static bool
same(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t text[FUZZ_TEXT_MAX];
	struct fuzz_set_env *e;
	struct sl_guard_set_counters ctr;
	struct sl_guard_stream_info si_cut, si_whole;
	struct cap c = {0}, whole = {0};
	size_t cuts[FUZZ_CUTS_MAX], len, at = 0, off;
	unsigned n_cuts;
	enum sl_guard_verdict v_cut, v_whole;
	struct ref ref;

	if (!ready)
		init_sets();
	if (size < 2)
		return 0;
	e = &sets[data[0] & 3];
	n_cuts = data[1] & 31;
	off = 2 + n_cuts;
	if (size < off)
		return 0;
	len = decode(data + off, size - off, data[0] & 4, text);
	for (unsigned i = 0; i < n_cuts; i++) {
		at += data[2 + i];
		cuts[i] = at < len ? at : len;
	}

	ref_build(&ref, e, text, len);
	c.text = whole.text = text;
	c.text_len = whole.text_len = len;
	c.ref = whole.ref = &ref;
	c.check_utf8 = whole.check_utf8 = utf8_valid(text, len);
	v_cut = run(e, text, len, cuts, n_cuts, &c, &si_cut);
	v_whole = run(e, text, len, NULL, 0, &whole, &si_whole);

	if (ref.block && v_cut != SL_GUARD_VERDICT_BLOCK)
		fail("a text with a block match passed");
	if (v_cut == SL_GUARD_VERDICT_BLOCK &&
	    si_cut.reason == SL_GUARD_REASON_RULE && !ref.block)
		fail("blocked by a rule the reference does not find");
	if (si_cut.reason != SL_GUARD_REASON_STATE_BOUND &&
	    si_whole.reason != SL_GUARD_REASON_STATE_BOUND) {
		if (v_cut != v_whole)
			fail("the verdict depends on the cuts");
		if (v_cut == SL_GUARD_VERDICT_PASS &&
		    !same(c.out, c.len, whole.out, whole.len))
			fail("the output depends on the cuts");
		if (e->log_only && (v_cut != SL_GUARD_VERDICT_PASS ||
				    !same(c.out, c.len, text, len)))
			fail("a log-only set changed the text");
	}
	if (si_cut.reason == SL_GUARD_REASON_SCANNER ||
	    si_cut.reason == SL_GUARD_REASON_MISUSE)
		fail("scanner error or misuse");
	sl_guard_counters_read(&e->sc, 1, &ctr, NULL);
	if (ctr.c[SL_GUARD_CTR_LATE_MATCHES] != 0)
		fail("LATE_MATCHES counted");
	ref_free(&ref);
	free(c.out);
	free(whole.out);
	return 0;
}
