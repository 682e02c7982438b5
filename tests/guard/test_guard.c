/* SPDX-License-Identifier: MIT */
/*
 * test_guard.c - the guard engine (control/sl_guard.c) on its own.
 *
 * The property every test checks is the issue's: for any chunking of a
 * stream, nothing a block or redact rule matches is ever released, the
 * held tail is the longest partial match in progress (never more than the
 * longest literal - 1 normalised bytes), and text without matches comes
 * out byte-exact and complete at END. The reference is independent of
 * the engine's automaton: memmem of each normalised literal over the
 * whole normalised text, with its own original-offset map.
 *
 * Real text: the 15 TOFU forget-set authors embedded in the model's
 * answers (tools/data/tofu, the project's copy of the TOFU data; path in
 * argv[1]). Random chunkings use fixed seeds.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CUnit/Basic.h>

#include "sl_guard.h"

#define MAX_TEXTS 700
#define MAX_NAMES 16

static const char *data_dir = "tools/data/tofu";
static char *names[MAX_NAMES];
static unsigned n_names;
static char *forget_texts[MAX_TEXTS / 2], *retain_texts[MAX_TEXTS / 2];
static unsigned n_forget, n_retain;

/* ---- deterministic PRNG --------------------------------------------- */

static uint64_t rng_state;

static void
rng_seed(uint64_t s)
{
	rng_state = s * 0x9E3779B97F4A7C15ull + 1;
}

static uint32_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

static uint32_t
rng_below(uint32_t n)
{
	return n ? rng() % n : 0;
}

/* ---- data ----------------------------------------------------------- */

/* The JSON string value after "key": (UTF-8, \uXXXX and pairs decoded). */
static char *
json_string(const char *line, const char *key)
{
	char pat[64];
	const char *p;
	char *out, *o;

	snprintf(pat, sizeof(pat), "\"%s\": \"", key);
	p = strstr(line, pat);
	if (p == NULL)
		return NULL;
	p += strlen(pat);
	out = o = malloc(strlen(p) + 1);
	while (*p && *p != '"') {
		if (*p != '\\') {
			*o++ = *p++;
			continue;
		}
		p++;
		switch (*p) {
		case 'n':
			*o++ = '\n';
			p++;
			break;
		case 't':
			*o++ = '\t';
			p++;
			break;
		case 'r':
			*o++ = '\r';
			p++;
			break;
		case 'b':
			*o++ = '\b';
			p++;
			break;
		case 'f':
			*o++ = '\f';
			p++;
			break;
		case 'u': {
			unsigned c = 0, c2 = 0;

			sscanf(p + 1, "%4x", &c);
			p += 5;
			if (c >= 0xD800 && c < 0xDC00 && p[0] == '\\' &&
			    p[1] == 'u') {
				sscanf(p + 2, "%4x", &c2);
				c = 0x10000 + ((c - 0xD800) << 10) +
				    (c2 - 0xDC00);
				p += 6;
			}
			if (c < 0x80) {
				*o++ = (char)c;
			} else if (c < 0x800) {
				*o++ = (char)(0xC0 | c >> 6);
				*o++ = (char)(0x80 | (c & 0x3F));
			} else if (c < 0x10000) {
				*o++ = (char)(0xE0 | c >> 12);
				*o++ = (char)(0x80 | ((c >> 6) & 0x3F));
				*o++ = (char)(0x80 | (c & 0x3F));
			} else {
				*o++ = (char)(0xF0 | c >> 18);
				*o++ = (char)(0x80 | ((c >> 12) & 0x3F));
				*o++ = (char)(0x80 | ((c >> 6) & 0x3F));
				*o++ = (char)(0x80 | (c & 0x3F));
			}
			break;
		}
		default:
			*o++ = *p++;
			break;
		}
	}
	*o = '\0';
	return out;
}

static unsigned
load_jsonl(const char *file, char **texts, unsigned max)
{
	char path[512], line[16384];
	unsigned n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", data_dir, file);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	while (n < max && fgets(line, sizeof(line), f) != NULL) {
		char *t = json_string(line, "generated");

		if (t != NULL)
			texts[n++] = t;
	}
	fclose(f);
	return n;
}

static int
load_data(void)
{
	char path[512], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/forget-authors.txt", data_dir);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (n_names < MAX_NAMES && fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] != '\0')
			names[n_names++] = strdup(line);
	}
	fclose(f);
	n_forget = load_jsonl("llama2-7b-full.forget.jsonl", forget_texts,
			      MAX_TEXTS / 2);
	n_retain = load_jsonl("llama2-7b-full.retain.jsonl", retain_texts,
			      MAX_TEXTS / 2);
	return n_names == 15 && n_forget == 300 && n_retain == 300 ? 0 : -1;
}

/* ---- helpers -------------------------------------------------------- */

struct set_env {
	struct sl_guard_set *set;
	struct sl_guard_scratch *sc;
	void *mem;
	size_t size;
};

static int
env_open(struct set_env *e, const struct sl_guard_rule *rules, unsigned n,
	 const struct sl_guard_config *cfg)
{
	struct sl_guard_error err;

	memset(e, 0, sizeof(*e));
	e->set = sl_guard_compile(rules, n, cfg, &err);
	if (e->set == NULL) {
		fprintf(stderr, "compile: %s\n", err.text);
		return -1;
	}
	e->sc = sl_guard_scratch_alloc(e->set);
	e->size = sl_guard_state_size(e->set);
	e->mem = aligned_alloc(SL_GUARD_STATE_ALIGN, e->size);
	return e->sc != NULL && e->mem != NULL ? 0 : -1;
}

static void
env_close(struct set_env *e)
{
	free(e->mem);
	sl_guard_scratch_free(e->sc);
	sl_guard_free(e->set);
}

static unsigned
name_rules(struct sl_guard_rule *r, enum sl_guard_action action,
	   const char *mask)
{
	for (unsigned i = 0; i < n_names; i++) {
		r[i].id = 100 + i;
		r[i].kind = SL_GUARD_KIND_LITERAL;
		r[i].action = action;
		r[i].pattern = names[i];
		r[i].mask = mask;
	}
	return n_names;
}

/* What a stream released, and checks made while it ran. */
struct cap {
	const uint8_t *text;
	size_t text_len;
	uint8_t *out;
	size_t len, room;
	uint64_t next_orig; /* original offset the next release must start at */
	uint64_t plain_end; /* end of the original text released as is */
	unsigned gaps;      /* releases out of order or overlapping */
	unsigned n_masks;
	uint64_t mask_off[256], mask_len[256];
	unsigned n_matches;
	struct sl_guard_match matches[256];
	unsigned late; /* block/redact match starting in released text */
};

static void
cap_reset(struct cap *c, const void *text, size_t len)
{
	uint8_t *out = c->out;
	size_t room = c->room;

	memset(c, 0, sizeof(*c));
	c->out = out;
	c->room = room;
	c->text = text;
	c->text_len = len;
}

static void
cap_release(void *ctx, const void *bytes, size_t len, uint64_t orig,
	    size_t orig_len)
{
	struct cap *c = ctx;
	bool plain = len == orig_len && orig + orig_len <= c->text_len &&
		     memcmp(bytes, c->text + orig, len) == 0;

	if (orig != c->next_orig)
		c->gaps++;
	c->next_orig = orig + orig_len;
	if (plain) {
		c->plain_end = orig + orig_len;
	} else if (len == 0 && c->n_masks > 0 &&
		   c->mask_off[c->n_masks - 1] + c->mask_len[c->n_masks - 1] ==
			   orig) {
		c->mask_len[c->n_masks - 1] += orig_len; /* continued */
	} else if (c->n_masks < 256) {
		c->mask_off[c->n_masks] = orig;
		c->mask_len[c->n_masks++] = orig_len;
	}
	if (c->len + len > c->room) {
		c->room = (c->len + len) * 2 + 256;
		c->out = realloc(c->out, c->room);
	}
	memcpy(c->out + c->len, bytes, len);
	c->len += len;
}

static void
cap_match(void *ctx, const struct sl_guard_match *m)
{
	struct cap *c = ctx;

	if (m->action != SL_GUARD_ACTION_LOG && m->orig_from < c->plain_end)
		c->late++;
	if (c->n_matches < 256)
		c->matches[c->n_matches++] = *m;
}

/* Normalised text with, per normalised byte, its character's original
 * span (valid UTF-8 only). */
struct ntext {
	uint8_t *n;
	size_t len;
	uint32_t *from, *to;
};

static unsigned
u8len(uint8_t b)
{
	return b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
}

static void
ntext_make(struct ntext *t, const uint8_t *text, size_t len)
{
	t->n = malloc(len * SL_GUARD_NORM_GROWTH + 1);
	t->from = malloc((len * SL_GUARD_NORM_GROWTH + 1) * sizeof(uint32_t));
	t->to = malloc((len * SL_GUARD_NORM_GROWTH + 1) * sizeof(uint32_t));
	t->len = sl_guard_normalize(text, len, t->n, t->from);
	for (size_t i = 0; i < t->len; i++)
		t->to[i] = t->from[i] + u8len(text[t->from[i]]);
}

static void
ntext_free(struct ntext *t)
{
	free(t->n);
	free(t->from);
	free(t->to);
}

/* Longest proper prefix of a block/redact literal ending @t[0..m). */
static unsigned
ref_partial(const struct sl_guard_set *set, const uint8_t *t, size_t m)
{
	struct sl_guard_set_info in;
	unsigned best = 0;

	sl_guard_set_info(set, &in);
	for (unsigned r = 0; r < in.n_rules; r++) {
		const uint8_t *lit;
		unsigned ll;
		const struct sl_guard_rule *rule =
			sl_guard_rule_of(set, r, &lit, &ll);

		if (ll == 0 || rule->action == SL_GUARD_ACTION_LOG)
			continue;
		for (unsigned k = ll - 1; k > best; k--)
			if (k <= m && memcmp(t + m - k, lit, k) == 0) {
				best = k;
				break;
			}
	}
	return best;
}

/* Block/redact literal matches in normalised @t (memmem, overlaps too). */
static unsigned
ref_count(const struct sl_guard_set *set, const uint8_t *t, size_t len,
	  bool all_actions)
{
	struct sl_guard_set_info in;
	unsigned n = 0;

	sl_guard_set_info(set, &in);
	for (unsigned r = 0; r < in.n_rules; r++) {
		const uint8_t *lit;
		unsigned ll;
		const struct sl_guard_rule *rule =
			sl_guard_rule_of(set, r, &lit, &ll);
		const uint8_t *p = t;

		if (ll == 0 ||
		    (!all_actions && rule->action == SL_GUARD_ACTION_LOG))
			continue;
		while ((p = memmem(p, len - (size_t)(p - t), lit, ll)) !=
		       NULL) {
			n++;
			p++;
		}
	}
	return n;
}

static unsigned
out_matches(const struct sl_guard_set *set, const struct cap *c)
{
	uint8_t *n = malloc(c->len * SL_GUARD_NORM_GROWTH + 1);
	size_t nl = sl_guard_normalize(c->out, c->len, n, NULL);
	unsigned m = ref_count(set, n, nl, false);

	free(n);
	return m;
}

struct ref_span {
	uint32_t from, to; /* original */
	unsigned rule;
};

static int
span_cmp(const void *a, const void *b)
{
	const struct ref_span *x = a, *y = b;

	if (x->from != y->from)
		return x->from < y->from ? -1 : 1;
	return x->to < y->to ? -1 : x->to > y->to;
}

/*
 * The expected output of a redact-only literal set: every match's original
 * span (whole characters) replaced by its mask. Return the number of
 * spans, or -1 if two overlap (the tests' texts avoid that).
 */
static int
ref_redact(const struct sl_guard_set *set, const uint8_t *text, size_t len,
	   uint8_t *out, size_t *out_len, struct ref_span *spans, unsigned max)
{
	struct ntext t;
	struct sl_guard_set_info in;
	unsigned n = 0;
	size_t o = 0, at = 0;

	ntext_make(&t, text, len);
	sl_guard_set_info(set, &in);
	for (unsigned r = 0; r < in.n_rules; r++) {
		const uint8_t *lit;
		unsigned ll;
		const uint8_t *p = t.n;

		sl_guard_rule_of(set, r, &lit, &ll);
		while (ll && (p = memmem(p, t.len - (size_t)(p - t.n), lit,
					 ll)) != NULL) {
			size_t f = (size_t)(p - t.n);

			if (n < max)
				spans[n++] = (struct ref_span){
					t.from[f], t.to[f + ll - 1], r};
			p++;
		}
	}
	ntext_free(&t);
	qsort(spans, n, sizeof(*spans), span_cmp);
	for (unsigned i = 0; i < n; i++) {
		const struct sl_guard_rule *rule =
			sl_guard_rule_of(set, spans[i].rule, NULL, NULL);
		const char *mask = rule->mask != NULL ? rule->mask : "";
		size_t ml = strlen(mask);

		if (i > 0 && spans[i].from < spans[i - 1].to)
			return -1;
		memcpy(out + o, text + at, spans[i].from - at);
		o += spans[i].from - at;
		memcpy(out + o, mask, ml);
		o += ml;
		at = spans[i].to;
	}
	memcpy(out + o, text + at, len - at);
	*out_len = o + len - at;
	return (int)n;
}

/*
 * The normalised bytes a stream holds when its longest partial match is
 * @partial bytes after @complete normalised bytes: whole characters, so
 * from the start of the character holding the partial match's first byte
 * (a fold such as ß -> "ss" may hold more than the partial match).
 */
static unsigned
ref_held(const struct ntext *t, size_t complete, unsigned partial)
{
	size_t b;

	if (partial == 0)
		return 0;
	b = complete - partial;
	while (b > 0 && t->from[b - 1] == t->from[complete - partial])
		b--;
	return (unsigned)(complete - b);
}

/*
 * Feed @text in pieces cut at @cuts (ascending), then finish. With @check,
 * after every feed: the automaton's partial match equals the reference,
 * the held normalised tail is at most whole characters from where that
 * partial match starts (so at most the longest literal - 1 plus one fold,
 * SL_GUARD_FOLD_MAX - 1), and (valid UTF-8 only) exactly that when
 * nothing was masked yet.
 */
static unsigned check_failures;

static enum sl_guard_verdict
run_cuts(struct set_env *e, const uint8_t *text, size_t len, const size_t *cuts,
	 unsigned n_cuts, struct cap *c, bool check)
{
	struct sl_guard_sink sink = {cap_release, cap_match, c};
	struct sl_guard_stream *st =
		sl_guard_stream_init(e->set, e->mem, e->size);
	struct sl_guard_set_info in;
	enum sl_guard_verdict v = SL_GUARD_VERDICT_PASS;
	struct ntext t;
	size_t at = 0, complete = 0;

	sl_guard_set_info(e->set, &in);
	cap_reset(c, text, len);
	if (check)
		ntext_make(&t, text, len);
	for (unsigned i = 0; i <= n_cuts; i++) {
		size_t end = i < n_cuts ? cuts[i] : len;
		struct sl_guard_stream_info si;

		if (end < at)
			continue;
		v = sl_guard_feed(st, e->sc, text + at, end - at, &sink);
		at = end;
		if (v != SL_GUARD_VERDICT_PASS || !check)
			continue;
		while (complete < t.len && t.to[complete] <= at)
			complete++;
		sl_guard_stream_info(st, &si);
		unsigned ref = ref_partial(e->set, t.n, complete);
		unsigned held = ref_held(&t, complete, ref);

		if (si.partial != ref || si.held_norm > held ||
		    si.held_norm + 1 > (in.literal_max ? in.literal_max : 1) +
					       SL_GUARD_FOLD_MAX - 1 ||
		    (c->n_masks == 0 && si.held_norm != held)) {
			if (check_failures++ < 5)
				fprintf(stderr,
					"holdback: at %zu partial %u ref %u "
					"held_norm %u, want %u\n",
					at, si.partial, ref, si.held_norm,
					held);
		}
	}
	if (v == SL_GUARD_VERDICT_PASS)
		v = sl_guard_finish(st, e->sc, &sink);
	if (check)
		ntext_free(&t);
	return v;
}

static enum sl_guard_verdict
run_whole(struct set_env *e, const char *text, struct cap *c)
{
	return run_cuts(e, (const uint8_t *)text, strlen(text), NULL, 0, c,
			false);
}

/* Random token-sized cuts (1..maxtok bytes), plus one cut inside every
 * occurrence of a banned name when @names_too. */
static unsigned
random_cuts(const uint8_t *text, size_t len, unsigned maxtok, size_t *cuts,
	    unsigned max)
{
	unsigned n = 0;
	size_t at = 0;

	while (n < max) {
		at += 1 + rng_below(maxtok);
		if (at >= len)
			break;
		cuts[n++] = at;
	}
	(void)text;
	return n;
}

static int
size_cmp(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

static unsigned
add_name_cuts(const uint8_t *text, size_t len, size_t *cuts, unsigned n,
	      unsigned max)
{
	struct ntext t;

	ntext_make(&t, text, len);
	for (unsigned k = 0; k < n_names; k++) {
		uint8_t lit[128 * SL_GUARD_NORM_GROWTH];
		size_t ll = sl_guard_normalize(names[k], strlen(names[k]), lit,
					       NULL);
		const uint8_t *p = t.n;

		while ((p = memmem(p, t.len - (size_t)(p - t.n), lit, ll)) !=
		       NULL) {
			size_t f = (size_t)(p - t.n);
			uint32_t a = t.from[f], b = t.to[f + ll - 1];

			if (n < max && b > a + 1)
				cuts[n++] = a + 1 + rng_below(b - a - 1);
			p++;
		}
	}
	ntext_free(&t);
	qsort(cuts, n, sizeof(*cuts), size_cmp);
	return n;
}

/* ---- adversarial rewriting of names --------------------------------- */

static const char *const zw[] = {
	"\xE2\x80\x8B",     /* U+200B */
	"\xE2\x80\x8C",     /* U+200C */
	"\xE2\x80\x8D",     /* U+200D */
	"\xC2\xAD",         /* U+00AD soft hyphen */
	"\xEF\xBB\xBF",     /* U+FEFF */
	"\xE2\x81\xA0",     /* U+2060 */
	"\xCC\x81",         /* U+0301 combining acute */
	"\xF3\xA0\x80\xA1", /* U+E0021 tag */
};

/* A look-alike for ASCII letter @c, or NULL. */
static const char *
lookalike(char c)
{
	switch (c) {
	case 'a':
		return rng() & 1 ? "\xD0\xB0" : "\xCE\xB1"; /* а α */
	case 'e':
		return "\xD0\xB5"; /* е */
	case 'o':
		return rng() & 1 ? "\xD0\xBE" : "\xCE\xBF"; /* о ο */
	case 'p':
		return "\xD1\x80"; /* р */
	case 'c':
		return "\xD1\x81"; /* с */
	case 'x':
		return "\xD1\x85"; /* х */
	case 'i':
		return "\xD1\x96"; /* і */
	case 'j':
		return "\xD1\x98"; /* ј */
	case 's':
		return "\xD1\x95"; /* ѕ */
	case 'h':
		return "\xD2\xBB"; /* һ */
	case 'd':
		return "\xD4\x81"; /* ԁ */
	case 'A':
		return "\xD0\x90"; /* А */
	case 'B':
		return "\xCE\x92"; /* Β */
	case 'E':
		return "\xCE\x95"; /* Ε */
	case 'H':
		return "\xCE\x97"; /* Η */
	case 'K':
		return "\xD0\x9A"; /* К */
	case 'M':
		return "\xCE\x9C"; /* Μ */
	case 'T':
		return "\xCE\xA4"; /* Τ */
	case 'W':
		return "\xEF\xBC\xB7"; /* Ｗ */
	case 'P':
		return "\xD0\xA0"; /* Р */
	case 'C':
		return "\xD0\xA1"; /* С */
	case 'J':
		return "\xEF\xBC\xAA"; /* Ｊ */
	case 'R':
		return "\xEF\xBC\xB2"; /* Ｒ */
	case 'n':
		return "\xF0\x9D\x90\xA7"; /* 𝐧 */
	case 'u':
		return "\xC3\xBC"; /* ü */
	case 'l':
		return "\xC5\x82"; /* ł */
	default:
		return NULL;
	}
}

/* Rewrite every name occurrence in @src (ASCII names as written) with
 * mixed case, look-alikes and zero-width characters inside. */
static char *
disguise(const char *src)
{
	size_t len = strlen(src);
	char *out = malloc(len * 12 + 16), *o = out;
	const char *p = src;

	while (*p) {
		unsigned hit = n_names;

		for (unsigned k = 0; k < n_names; k++)
			if (strncmp(p, names[k], strlen(names[k])) == 0) {
				hit = k;
				break;
			}
		if (hit == n_names) {
			*o++ = *p++;
			continue;
		}
		for (size_t i = 0; i < strlen(names[hit]); i++) {
			char ch = names[hit][i];
			const char *l;

			if (i > 0 && rng_below(4) == 0) {
				const char *z = zw[rng_below(8)];

				memcpy(o, z, strlen(z));
				o += strlen(z);
			}
			switch (rng_below(4)) {
			case 0:
				if ((l = lookalike(ch)) != NULL) {
					memcpy(o, l, strlen(l));
					o += strlen(l);
					break;
				}
				/* fall through */
			case 1:
				*o++ = (char)(ch ^ (((ch | 0x20) >= 'a' &&
						     (ch | 0x20) <= 'z')
							    ? 0x20
							    : 0));
				break;
			default:
				*o++ = ch;
			}
		}
		p += strlen(names[hit]);
	}
	*o = '\0';
	return out;
}

/* ---- normalisation -------------------------------------------------- */

/* The White_Space code points and the default-ignorable ranges of
 * Unicode 15 (PropList.txt, DerivedCoreProperties.txt), written out here
 * so the test does not ask ICU what it asks ICU to do. */
static const uint32_t white_space[] = {
	0x0009, 0x000A, 0x000B, 0x000C, 0x000D, 0x0020, 0x0085, 0x00A0, 0x1680,
	0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008,
	0x2009, 0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000,
};

static const uint32_t ignorable[][2] = {
	{0x00AD, 0x00AD},   {0x034F, 0x034F},   {0x061C, 0x061C},
	{0x115F, 0x1160},   {0x17B4, 0x17B5},   {0x180B, 0x180F},
	{0x200B, 0x200F},   {0x202A, 0x202E},   {0x2060, 0x206F},
	{0x3164, 0x3164},   {0xFE00, 0xFE0F},   {0xFEFF, 0xFEFF},
	{0xFFA0, 0xFFA0},   {0xFFF0, 0xFFF8},   {0x1BCA0, 0x1BCA3},
	{0x1D173, 0x1D17A}, {0xE0000, 0xE0FFF},
};

/* Combining mark blocks (every assigned code point in them is Mn). */
static const uint32_t marks[][2] = {
	{0x0300, 0x036F}, {0x1AB0, 0x1ABD}, {0x1DC0, 0x1DFF},
	{0x20D0, 0x20DC}, {0xFE20, 0xFE2F},
};

static void
test_norm_table(void)
{
	static const struct {
		uint32_t in;
		const char *out;
	} cases[] = {
		{'A', "a"},
		{'z', "z"},
		{'0', "0"},
		{0x1A, "\x1A"},
		{'I', "i"},
		{'l', "l"},
		{'1', "1"},
		{'m', "m"},
		{'O', "o"},
		/* diacritics stripped, expansions */
		{0x00C9, "e"},
		{0x00E9, "e"},
		{0x00D8, "o"},
		{0x00DF, "ss"},
		{0x1E9E, "ss"},
		{0x00C6, "ae"},
		{0x0130, "i"},
		{0x0131, "i"},
		{0x0141, "l"},
		{0x0178, "y"},
		{0x017F, "s"},
		{0xFB01, "fi"},
		{0x2122, "tm"},
		{0xAC00, "\xE1\x84\x80\xE1\x85\xA1"},
		/* white space and punctuation */
		{0x00A0, " "},
		{0x0009, " "},
		{0x000A, " "},
		{0x2028, " "},
		{0x3000, " "},
		{0x2010, "-"},
		{0x2212, "-"},
		{0x2019, "'"},
		{0x201C, "\""},
		{0x201D, "\""},
		/* dropped: ignorables and marks */
		{0x00AD, ""},
		{0x0301, ""},
		{0x2065, ""},
		{0x3164, ""},
		{0xE0100, ""},
		{0x1AB0, ""},
		{0x20D0, ""},
		/* Cyrillic а е о р с у х і ј ѕ һ ԁ ԛ ԝ and capitals */
		{0x0430, "a"},
		{0x0410, "a"},
		{0x0435, "e"},
		{0x0415, "e"},
		{0x043E, "o"},
		{0x041E, "o"},
		{0x0440, "p"},
		{0x0420, "p"},
		{0x0441, "c"},
		{0x0421, "c"},
		{0x0443, "y"},
		{0x0423, "y"},
		{0x0445, "x"},
		{0x0425, "x"},
		{0x0456, "i"},
		{0x0406, "i"},
		{0x0458, "j"},
		{0x0408, "j"},
		{0x0455, "s"},
		{0x0405, "s"},
		{0x04BB, "h"},
		{0x04BA, "h"},
		{0x0501, "d"},
		{0x0500, "d"},
		{0x051B, "q"},
		{0x051A, "q"},
		{0x051D, "w"},
		{0x051C, "w"},
		{0x0401, "e"},
		{0x0416, "\xD0\xB6"},
		{0x0436, "\xD0\xB6"},
		{0x04C0, "i"},
		/* Greek by shape: Ν n but ν v, Υ y but υ u */
		{0x03B1, "a"},
		{0x03BF, "o"},
		{0x03C1, "p"},
		{0x03BD, "v"},
		{0x03C5, "u"},
		{0x03B9, "i"},
		{0x0391, "a"},
		{0x0392, "b"},
		{0x0395, "e"},
		{0x0396, "z"},
		{0x0397, "h"},
		{0x0399, "i"},
		{0x039A, "k"},
		{0x039C, "m"},
		{0x039D, "n"},
		{0x039F, "o"},
		{0x03A1, "p"},
		{0x03A4, "t"},
		{0x03A5, "y"},
		{0x03A7, "x"},
		{0x0386, "a"},
		/* fullwidth, mathematical and letter-like forms, digits */
		{0xFF21, "a"},
		{0xFF41, "a"},
		{0xFF10, "0"},
		{0xFF01, "!"},
		{0xFF5E, "~"},
		{0x1D400, "a"},
		{0x1D41A, "a"},
		{0x1D427, "n"},
		{0x1D5EE, "a"},
		{0x1D68A, "a"},
		{0x210E, "h"},
		{0x212A, "k"},
		{0x24B6, "a"},
		{0x2160, "i"},
		{0x217F, "m"},
		{0x1D7CE, "0"},
		{0x1D7FF, "9"},
		{0x0661, "1"},
		{0x07C0, "0"},
		/* unchanged */
		{0x4E2D, "\xE4\xB8\xAD"},
		{0x1F600, "\xF0\x9F\x98\x80"},
		{0xE000, "\xEE\x80\x80"},
	};
	struct sl_guard_norm_info in;
	uint8_t out[SL_GUARD_FOLD_MAX],
		again[SL_GUARD_FOLD_MAX * SL_GUARD_NORM_GROWTH];
	unsigned bad = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned n = sl_guard_norm_cp(cases[i].in, out);

		if (n != strlen(cases[i].out) ||
		    memcmp(out, cases[i].out, n) != 0) {
			fprintf(stderr, "U+%04X -> \"%.*s\", want \"%s\"\n",
				cases[i].in, (int)n, out, cases[i].out);
			bad++;
		}
	}
	CU_ASSERT_EQUAL(bad, 0);
	for (size_t i = 0; i < sizeof(white_space) / sizeof(white_space[0]);
	     i++)
		CU_ASSERT(sl_guard_norm_cp(white_space[i], out) == 1 &&
			  out[0] == ' ');
	bad = 0;
	for (size_t r = 0; r < sizeof(ignorable) / sizeof(ignorable[0]); r++)
		for (uint32_t cp = ignorable[r][0]; cp <= ignorable[r][1]; cp++)
			bad += sl_guard_norm_cp(cp, out) != 0;
	for (size_t r = 0; r < sizeof(marks) / sizeof(marks[0]); r++)
		for (uint32_t cp = marks[r][0]; cp <= marks[r][1]; cp++)
			bad += sl_guard_norm_cp(cp, out) != 0;
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(sl_guard_norm_cp(0xD800, out), 1);
	CU_ASSERT_EQUAL(out[0], 0x1A);
	CU_ASSERT_EQUAL(sl_guard_norm_cp(0x110000, out), 1);

	/* Every code point: within the bounds the stream is sized for, and
	 * a fold folds to itself (the rules and the text meet in one
	 * alphabet whatever was folded first). */
	unsigned longest = 0, grows = 0, unstable = 0;

	for (uint32_t cp = 0; cp < 0x110000; cp++) {
		unsigned a = cp < 0x80      ? 1
			     : cp < 0x800   ? 2
			     : cp < 0x10000 ? 3
					    : 4;
		unsigned n;
		size_t m;

		if (cp >= 0xD800 && cp <= 0xDFFF)
			continue;
		n = sl_guard_norm_cp(cp, out);
		if (n > longest)
			longest = n;
		if (n > SL_GUARD_FOLD_MAX || n > SL_GUARD_NORM_GROWTH * a)
			grows++;
		m = sl_guard_normalize(out, n, again, NULL);
		if (m != n || memcmp(out, again, n) != 0) {
			if (unstable++ < 3)
				fprintf(stderr, "U+%04X: fold not stable\n",
					cp);
		}
	}
	CU_ASSERT_EQUAL(grows, 0);
	CU_ASSERT_EQUAL(unstable, 0);
	CU_ASSERT_EQUAL(longest, 30); /* U+FDFA */
	sl_guard_norm_info(&in);
	printf("\n    ICU %s, Unicode %s: %u code points fold (%u dropped), "
	       "%u blocks, %zu KiB ",
	       in.icu_version, in.unicode_version, in.folded, in.dropped,
	       in.blocks, in.table_bytes / 1024);
	CU_ASSERT_EQUAL(in.fold_max, 30);
	CU_ASSERT(in.folded > 20000);
}

static void
test_norm_buffer(void)
{
	/* "Ｈsiao\u200B Yun-Hwa" with an invalid byte and a truncated
	 * character at the end. */
	const char in[] = "\xEF\xBC\xA8"
			  "SI\xD0\x90o\xE2\x80\x8B Yun\xE2\x80\x90"
			  "Hwa\xFF!\xE2\x82";
	uint8_t out[64 * SL_GUARD_NORM_GROWTH];
	uint32_t origin[64 * SL_GUARD_NORM_GROWTH];
	size_t n = sl_guard_normalize(in, sizeof(in) - 1, out, origin);

	CU_ASSERT_EQUAL(n, 16);
	CU_ASSERT_NSTRING_EQUAL(out, "hsiao yun-hwa\x1A!\x1A", 16);
	CU_ASSERT_EQUAL(origin[0], 0);
	CU_ASSERT_EQUAL(origin[1], 3);
	CU_ASSERT_EQUAL(origin[3], 5);
	CU_ASSERT_EQUAL(origin[5], 11);
	CU_ASSERT_EQUAL(origin[13], 21);
	CU_ASSERT_EQUAL(origin[15], 23);
	/* Overlong, surrogate, above U+10FFFF: one SUB per maximal subpart. */
	n = sl_guard_normalize("\xC0\xAF"
			       "\xED\xA0\x80"
			       "\xF4\x90\x80\x80",
			       9, out, NULL);
	CU_ASSERT_EQUAL(n, 2 + 3 + 4);
	for (size_t i = 0; i < n; i++)
		CU_ASSERT_EQUAL(out[i], 0x1A);
	/* A run of white space of every kind is one space; an ignorable
	 * inside the run does not break it; folds may be longer than their
	 * character, each byte's origin is the character. */
	const char ws[] = "a \t\xE3\x80\x80\xE2\x80\x8B\n\xC2\x85\xE2\x80\xA8"
			  "b\xC3\x9F\xEF\xAC\x81\xE2\x80\x83";
	n = sl_guard_normalize(ws, sizeof(ws) - 1, out, origin);
	CU_ASSERT_EQUAL(n, 8);
	CU_ASSERT_NSTRING_EQUAL(out, "a bssfi ", 8);
	CU_ASSERT_EQUAL(origin[1], 1);
	CU_ASSERT_EQUAL(origin[2], 15);
	CU_ASSERT_EQUAL(origin[3], 16);
	CU_ASSERT_EQUAL(origin[4], 16);
	CU_ASSERT_EQUAL(origin[5], 18);
	CU_ASSERT_EQUAL(origin[6], 18);
	CU_ASSERT_EQUAL(origin[7], 21);
}

/* ---- compile -------------------------------------------------------- */

static void
expect_reject(const struct sl_guard_rule *rules, unsigned n,
	      const struct sl_guard_config *cfg, int rule, unsigned rejected,
	      const char *text)
{
	struct sl_guard_error err;
	struct sl_guard_set *set = sl_guard_compile(rules, n, cfg, &err);

	CU_ASSERT_PTR_NULL(set);
	sl_guard_free(set);
	CU_ASSERT_EQUAL(err.rule, rule);
	CU_ASSERT_EQUAL(err.rejected, rejected);
	if (strcmp(err.text, text) != 0)
		fprintf(stderr, "got  \"%s\"\nwant \"%s\"\n", err.text, text);
	CU_ASSERT_STRING_EQUAL(err.text, text);
}

static void
test_compile_errors(void)
{
	struct sl_guard_rule r[4] = {
		{7, SL_GUARD_KIND_REGEX, SL_GUARD_ACTION_BLOCK, "x+", NULL},
	};
	struct sl_guard_config cfg = {0};

	expect_reject(r, 1, NULL, 0, 1,
		      "rule 7: /x+/: unbounded match width; sluice holds back "
		      "at most max_width - 1 bytes");
	r[0].action = SL_GUARD_ACTION_REDACT;
	expect_reject(r, 1, NULL, 0, 1,
		      "rule 7: /x+/: unbounded match width; sluice holds back "
		      "at most max_width - 1 bytes");
	r[0] = (struct sl_guard_rule){3, SL_GUARD_KIND_REGEX,
				      SL_GUARD_ACTION_BLOCK, "ab(c", NULL};
	expect_reject(r, 1, NULL, 0, 1,
		      "rule 3: /ab(c/: Missing close parenthesis for group "
		      "started at index 2.");
	/* Every bad rule is counted; the first is named. */
	r[0] = (struct sl_guard_rule){1, SL_GUARD_KIND_LITERAL,
				      SL_GUARD_ACTION_BLOCK, "fine", NULL};
	r[1] = (struct sl_guard_rule){2, SL_GUARD_KIND_LITERAL,
				      SL_GUARD_ACTION_BLOCK,
				      "\xE2\x80\x8B\xC2\xAD", NULL};
	r[2] = (struct sl_guard_rule){3, SL_GUARD_KIND_LITERAL,
				      SL_GUARD_ACTION_BLOCK, "bad\xFFutf",
				      NULL};
	r[3] = (struct sl_guard_rule){4, SL_GUARD_KIND_REGEX,
				      SL_GUARD_ACTION_BLOCK, "[z-a]", NULL};
	expect_reject(r, 4, NULL, 1, 3,
		      "rule 2: \"\xE2\x80\x8B\xC2\xAD\": empty after "
		      "normalisation");
	/* The rule is quoted as one line of UTF-8: bytes that are no
	 * UTF-8 and control bytes as \xNN, cut at a character (found by
	 * fuzz_config: a literals_file line went into the error raw). */
	expect_reject(r + 2, 1, NULL, 0, 1,
		      "rule 3: \"bad\\xFFutf\": not valid UTF-8 (byte 3)");
	r[0] = (struct sl_guard_rule){6, SL_GUARD_KIND_LITERAL,
				      SL_GUARD_ACTION_BLOCK, "a\nb\x7f\xC3",
				      NULL};
	expect_reject(r, 1, NULL, 0, 1,
		      "rule 6: \"a\\x0Ab\\x7F\\xC3\": not valid UTF-8 "
		      "(byte 4)");
	r[0].pattern = "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
		       "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
		       "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
		       "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
		       "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
		       "\xC3\xA9\xC3\xA9x\xFF";
	expect_reject(r, 1, NULL, 0, 1,
		      "rule 6: \"\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
		      "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
		      "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
		      "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
		      "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9...\": "
		      "not valid UTF-8 (byte 65)");
	r[0] = (struct sl_guard_rule){5, SL_GUARD_KIND_LITERAL,
				      SL_GUARD_ACTION_BLOCK, "", NULL};
	expect_reject(r, 1, NULL, 0, 1,
		      "rule 5: \"\": empty after normalisation");
	/* A mask must not make a match in the released text. */
	r[0] = (struct sl_guard_rule){1, SL_GUARD_KIND_LITERAL,
				      SL_GUARD_ACTION_REDACT, "secret", "*"};
	r[1] = (struct sl_guard_rule){2, SL_GUARD_KIND_LITERAL,
				      SL_GUARD_ACTION_BLOCK, "*x", NULL};
	expect_reject(r, 2, NULL, 0, 1,
		      "rule 1: \"secret\": mask \"*\" would form a match of "
		      "rule 2 in the released text");
	r[1].pattern = "d]";
	r[0].mask = NULL;
	expect_reject(r, 2, NULL, 0, 1,
		      "rule 1: \"secret\": mask \"[REDACTED]\" would form a "
		      "match of rule 2 in the released text");
	r[1].pattern = "DACT";
	expect_reject(r, 2, NULL, 0, 1,
		      "rule 1: \"secret\": mask \"[REDACTED]\" would form a "
		      "match of rule 2 in the released text");
	r[1].action = SL_GUARD_ACTION_LOG; /* logging the mask is harmless */
	struct sl_guard_set *set = sl_guard_compile(r, 2, NULL, NULL);

	CU_ASSERT_PTR_NOT_NULL(set);
	sl_guard_free(set);
	/* Unbounded regexes are fine for LOG: they hold nothing back. */
	r[0] = (struct sl_guard_rule){1, SL_GUARD_KIND_REGEX,
				      SL_GUARD_ACTION_LOG, "x+", NULL};
	set = sl_guard_compile(r, 1, NULL, NULL);
	CU_ASSERT_PTR_NOT_NULL(set);
	sl_guard_free(set);
	/* The state bound must fit the holdback. */
	r[0] = (struct sl_guard_rule){9, SL_GUARD_KIND_LITERAL,
				      SL_GUARD_ACTION_BLOCK, "Hsiao Yun-Hwa",
				      NULL};
	cfg.held_max = 40;
	expect_reject(
		r, 1, &cfg, 0, 1,
		"rule 9: \"Hsiao Yun-Hwa\": holds back 12 bytes: held_max "
		"40 is below 4 x holdback + 8 = 56");
	cfg.held_max = 56;
	set = sl_guard_compile(r, 1, &cfg, NULL);
	CU_ASSERT_PTR_NOT_NULL(set);
	sl_guard_free(set);
}

static void
test_compile_10k(void)
{
	enum { N = 10000 };
	static struct sl_guard_rule r[N];
	static char pat[N][40];
	struct sl_guard_set_info in;
	struct timespec a, b;
	struct sl_guard_set *set;

	rng_seed(10000);
	for (unsigned i = 0; i < N; i++) {
		if (i < n_names) {
			snprintf(pat[i], sizeof(pat[i]), "%s", names[i]);
		} else {
			unsigned l1 = 3 + rng_below(6), l2 = 4 + rng_below(8);
			char *p = pat[i];

			*p++ = (char)('A' + rng_below(26));
			for (unsigned k = 1; k < l1; k++)
				*p++ = (char)('a' + rng_below(26));
			*p++ = ' ';
			*p++ = (char)('A' + rng_below(26));
			for (unsigned k = 1; k < l2; k++)
				*p++ = (char)('a' + rng_below(26));
			*p = '\0';
		}
		r[i] = (struct sl_guard_rule){i, SL_GUARD_KIND_LITERAL,
					      SL_GUARD_ACTION_REDACT, pat[i],
					      "***"};
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	set = sl_guard_compile(r, N, NULL, NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	CU_ASSERT_PTR_NOT_NULL_FATAL(set);
	double s = (double)(b.tv_sec - a.tv_sec) +
		   (double)(b.tv_nsec - a.tv_nsec) / 1e9;

	sl_guard_set_info(set, &in);
	printf("\n    10,000 literals: compiled in %.3f s, %u states, %u "
	       "classes, %zu KiB, state %zu B ",
	       s, in.ac_states, in.ac_classes, in.ac_bytes / 1024,
	       in.state_size);
	/* Well under a second in a release build; sanitizers are slower. */
	CU_ASSERT(s < 3.0);
	CU_ASSERT_EQUAL(in.n_literals, N);

	/* Every forget answer: the 15 names are found among 10,000. */
	struct set_env e = {set, sl_guard_scratch_alloc(set), NULL,
			    in.state_size};
	struct cap c = {0};
	unsigned masked = 0, expected = 0;

	e.mem = aligned_alloc(SL_GUARD_STATE_ALIGN, e.size);
	for (unsigned t = 0; t < n_forget; t++) {
		const uint8_t *text = (const uint8_t *)forget_texts[t];
		size_t len = strlen(forget_texts[t]);
		struct ntext nt;

		ntext_make(&nt, text, len);
		expected += ref_count(set, nt.n, nt.len, true);
		ntext_free(&nt);
		run_cuts(&e, text, len, NULL, 0, &c, false);
		masked += c.n_matches;
		CU_ASSERT_EQUAL(out_matches(set, &c), 0);
		CU_ASSERT_EQUAL(c.late, 0);
	}
	printf("%u matches ", expected);
	CU_ASSERT_EQUAL(masked, expected);
	CU_ASSERT_EQUAL(expected, 275); /* one author named per answer */
	free(c.out);
	env_close(&e);
}

/* ---- streams -------------------------------------------------------- */

static void
test_state_memory(void)
{
	struct sl_guard_rule r = {1, SL_GUARD_KIND_LITERAL,
				  SL_GUARD_ACTION_REDACT, "Adib Jarrah", NULL};
	struct set_env e;
	uint8_t *mem;

	CU_ASSERT_FATAL(env_open(&e, &r, 1, NULL) == 0);
	CU_ASSERT_EQUAL(e.size % SL_GUARD_STATE_ALIGN, 0);
	mem = aligned_alloc(SL_GUARD_STATE_ALIGN, e.size * 2);
	CU_ASSERT_PTR_NULL(sl_guard_stream_init(e.set, mem, e.size - 1));
	CU_ASSERT_PTR_NULL(sl_guard_stream_init(e.set, mem + 8, e.size));
	CU_ASSERT_PTR_NULL(sl_guard_stream_init(e.set, NULL, e.size));

	/* Two streams interleaved fragment by fragment stay apart. */
	struct sl_guard_stream *a = sl_guard_stream_init(e.set, mem, e.size);
	struct sl_guard_stream *b =
		sl_guard_stream_init(e.set, mem + e.size, e.size);
	struct cap ca = {0}, cb = {0};
	const char *ta = "I met Adib Jarrah.", *tb = "Adib Jarr, not him.";
	struct sl_guard_sink sa = {cap_release, cap_match, &ca};
	struct sl_guard_sink sb = {cap_release, cap_match, &cb};

	cap_reset(&ca, ta, strlen(ta));
	cap_reset(&cb, tb, strlen(tb));
	for (size_t i = 0; i < strlen(tb); i += 3) {
		if (i < strlen(ta))
			sl_guard_feed(a, e.sc, ta + i,
				      strlen(ta) - i < 3 ? strlen(ta) - i : 3,
				      &sa);
		sl_guard_feed(b, e.sc, tb + i,
			      strlen(tb) - i < 3 ? strlen(tb) - i : 3, &sb);
	}
	sl_guard_finish(a, e.sc, &sa);
	sl_guard_finish(b, e.sc, &sb);
	CU_ASSERT_EQUAL(ca.len, strlen("I met [REDACTED]."));
	CU_ASSERT_NSTRING_EQUAL(ca.out, "I met [REDACTED].", ca.len);
	CU_ASSERT_EQUAL(cb.len, strlen(tb));
	CU_ASSERT_NSTRING_EQUAL(cb.out, tb, cb.len);
	CU_ASSERT_EQUAL(ca.gaps + cb.gaps, 0);
	free(ca.out);
	free(cb.out);
	free(mem);
	env_close(&e);
}

/* Every split into two and three pieces of a text around a match. */
static void
every_split(struct set_env *e, const char *text, const char *want_redact,
	    enum sl_guard_action action, size_t name_at)
{
	const uint8_t *t = (const uint8_t *)text;
	size_t len = strlen(text), cuts[2];
	struct cap c = {0};
	unsigned runs = 0, bad = 0;

	for (size_t i = 0; i <= len; i++)
		for (size_t j = i; j <= len; j++) {
			enum sl_guard_verdict v;

			cuts[0] = i;
			cuts[1] = j;
			v = run_cuts(e, t, len, cuts, 2, &c, true);
			runs++;
			if (c.gaps != 0 || c.late != 0 ||
			    out_matches(e->set, &c) != 0)
				bad++;
			if (action == SL_GUARD_ACTION_REDACT &&
			    (v != SL_GUARD_VERDICT_PASS ||
			     c.len != strlen(want_redact) ||
			     memcmp(c.out, want_redact, c.len) != 0))
				bad++;
			if (action == SL_GUARD_ACTION_BLOCK &&
			    (v != SL_GUARD_VERDICT_BLOCK || c.len > name_at ||
			     (c.len && memcmp(c.out, text, c.len) != 0)))
				bad++;
			if (action == SL_GUARD_ACTION_LOG &&
			    (v != SL_GUARD_VERDICT_PASS || c.len != len ||
			     memcmp(c.out, text, len) != 0 || c.n_matches != 1))
				bad++;
		}
	if (bad != 0) {
		/* Show the first failing split. */
		for (size_t i = 0; i <= len; i++)
			for (size_t j = i; j <= len; j++) {
				cuts[0] = i;
				cuts[1] = j;
				enum sl_guard_verdict v =
					run_cuts(e, t, len, cuts, 2, &c, true);

				if (c.gaps || c.late ||
				    out_matches(e->set, &c) ||
				    (action == SL_GUARD_ACTION_REDACT &&
				     (c.len != strlen(want_redact) ||
				      memcmp(c.out, want_redact, c.len)))) {
					fprintf(stderr,
						"split %zu,%zu: v %d gaps %u "
						"late %u out \"%.*s\"\n",
						i, j, v, c.gaps, c.late,
						(int)c.len, c.out);
					i = j = len + 1;
				}
			}
	}
	CU_ASSERT(runs > 50);
	CU_ASSERT_EQUAL(bad, 0);
	free(c.out);
}

static void
test_every_split(void)
{
	struct sl_guard_rule r[MAX_NAMES];
	/* A name with a zero-width space, look-alikes (Cyrillic а, Greek Υ,
	 * fullwidth Ｈ) and a two-byte é around it. */
	const char *text = "Caf\xC3\xA9: Hsi\xD0\xB0o\xE2\x80\x8B \xCE\xA5un-"
			   "\xEF\xBC\xA8wa wrote it.";
	const char *want = "Caf\xC3\xA9: [REDACTED] wrote it.";
	struct set_env e;

	check_failures = 0;
	name_rules(r, SL_GUARD_ACTION_REDACT, NULL);
	CU_ASSERT_FATAL(env_open(&e, r, n_names, NULL) == 0);
	every_split(&e, text, want, SL_GUARD_ACTION_REDACT, 7);
	every_split(&e, "Wei-Jun Chen", "[REDACTED]", SL_GUARD_ACTION_REDACT,
		    0);
	env_close(&e);

	name_rules(r, SL_GUARD_ACTION_BLOCK, NULL);
	CU_ASSERT_FATAL(env_open(&e, r, n_names, NULL) == 0);
	every_split(&e, text, NULL, SL_GUARD_ACTION_BLOCK, 7);
	env_close(&e);

	name_rules(r, SL_GUARD_ACTION_LOG, NULL);
	CU_ASSERT_FATAL(env_open(&e, r, n_names, NULL) == 0);
	every_split(&e, text, NULL, SL_GUARD_ACTION_LOG, 7);
	env_close(&e);
	CU_ASSERT_EQUAL(check_failures, 0);
}

/* Every class at once in one name, every split into three pieces. */
static void
test_every_split_classes(void)
{
	struct sl_guard_rule r[MAX_NAMES];
	static const struct {
		const char *text, *want;
		size_t name_at;
	} t[] = {
		/* decomposed and stacked marks, a mark after the last
		 * letter (it stays after the mask) */
		{"Dr. Hs\xC3\xAD"
		 "a\xCC\x81o\xCC\xA3\xE1\xB7\x80 Yu\xCC\x88n-Hwa"
		 "\xCC\x81 said",
		 "Dr. [REDACTED]\xCC\x81 said", 4},
		/* white space runs of every kind, inside and around */
		{"by\xE2\x80\xA8Hsiao\t\xE3\x80\x80\n "
		 "Yun-Hwa\xC2\xA0\xE2\x80\x89"
		 "wrote",
		 "by\xE2\x80\xA8[REDACTED]\xC2\xA0\xE2\x80\x89wrote", 5},
		/* mathematical, circled, fullwidth, Greek capital Eta,
		 * Hangul filler and a tag between letters */
		{"I read \xF0\x9D\x90\x87si\xE3\x85\xA4\xE2\x93\x90o "
		 "\xEF\xBC\xB9\xF3\xA0\x80\xA1un-\xCE\x97wa.",
		 "I read [REDACTED].", 7},
	};
	struct set_env e;

	check_failures = 0;
	name_rules(r, SL_GUARD_ACTION_REDACT, NULL);
	CU_ASSERT_FATAL(env_open(&e, r, n_names, NULL) == 0);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		every_split(&e, t[i].text, t[i].want, SL_GUARD_ACTION_REDACT,
			    t[i].name_at);
	env_close(&e);
	name_rules(r, SL_GUARD_ACTION_BLOCK, NULL);
	CU_ASSERT_FATAL(env_open(&e, r, n_names, NULL) == 0);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		every_split(&e, t[i].text, NULL, SL_GUARD_ACTION_BLOCK,
			    t[i].name_at);
	env_close(&e);
	CU_ASSERT_EQUAL(check_failures, 0);
}

/*
 * Folds longer than their character (ß -> "ss", ﬁ -> "fi"): a literal
 * written either way matches the other; a match starting inside a fold
 * holds the whole character back, so nothing of it leaks before the
 * match is known; two matches sharing a character are one span with one
 * mask at every split.
 */
static void
test_every_split_folds(void)
{
	struct sl_guard_rule r[] = {
		{1, SL_GUARD_KIND_LITERAL, SL_GUARD_ACTION_REDACT,
		 "Stra\xC3\x9F"
		 "e",
		 "<s>"},
		{2, SL_GUARD_KIND_LITERAL, SL_GUARD_ACTION_REDACT,
		 "\xEF\xAC\x81nch", "<f>"},
		{3, SL_GUARD_KIND_LITERAL, SL_GUARD_ACTION_REDACT, "sa", "<a>"},
	};
	struct sl_guard_rule shared[] = {
		{1, SL_GUARD_KIND_LITERAL, SL_GUARD_ACTION_REDACT, "xs", "<x>"},
		{2, SL_GUARD_KIND_LITERAL, SL_GUARD_ACTION_REDACT, "sy", "<y>"},
	};
	struct set_env e;

	check_failures = 0;
	CU_ASSERT_FATAL(env_open(&e, r, 3, NULL) == 0);
	every_split(&e,
		    "Herr STRASSE, Frau Stra\xE1\xBA\x9E"
		    "e: FINCH.",
		    "Herr <s>, Frau <s>: <f>.", SL_GUARD_ACTION_REDACT, 5);
	every_split(&e, "a finch, a \xEF\xAC\x81nch", "a <f>, a <f>",
		    SL_GUARD_ACTION_REDACT, 2);
	/* "sa" starts in the second byte of ß's "ss". */
	every_split(&e,
		    "Gro\xC3\x9F"
		    "a! Gross abc",
		    "Gro<a>! Gross abc", SL_GUARD_ACTION_REDACT, 3);
	env_close(&e);
	CU_ASSERT_FATAL(env_open(&e, shared, 2, NULL) == 0);
	every_split(&e, "1 x\xC3\x9Fy 2 and then", "1 <x> 2 and then",
		    SL_GUARD_ACTION_REDACT, 2);
	env_close(&e);
	CU_ASSERT_EQUAL(check_failures, 0);
}

/* One byte per feed: the tightest holdback and every split inside every
 * multi-byte character. */
static void
test_one_byte_feeds(void)
{
	struct sl_guard_rule r[MAX_NAMES];
	const char *text = "By \xCE\x9A\xCE\xB1lkid\xD0\xB0n \xEF\xBC\xA1"
			   "bera (\xC3\xA9t\xC3\xA9) and Moshe Ben-Davi.";
	const char *want = "By [REDACTED] (\xC3\xA9t\xC3\xA9) and Moshe "
			   "Ben-Davi.";
	size_t len = strlen(text), cuts[128];
	struct set_env e;
	struct cap c = {0};
	enum sl_guard_verdict v;

	check_failures = 0;
	for (size_t i = 0; i < len - 1; i++)
		cuts[i] = i + 1;
	name_rules(r, SL_GUARD_ACTION_REDACT, NULL);
	CU_ASSERT_FATAL(env_open(&e, r, n_names, NULL) == 0);
	v = run_cuts(&e, (const uint8_t *)text, len, cuts, (unsigned)(len - 1),
		     &c, true);
	CU_ASSERT_EQUAL(v, SL_GUARD_VERDICT_PASS);
	CU_ASSERT_EQUAL(c.len, strlen(want));
	CU_ASSERT_NSTRING_EQUAL(c.out, want, c.len);
	CU_ASSERT_EQUAL(c.n_masks, 1);
	CU_ASSERT_EQUAL(c.mask_off[0], 3);
	CU_ASSERT_EQUAL(c.mask_len[0], strlen("\xCE\x9A\xCE\xB1lkid\xD0\xB0n "
					      "\xEF\xBC\xA1"
					      "bera"));
	CU_ASSERT_EQUAL(c.gaps, 0);
	CU_ASSERT_EQUAL(check_failures, 0);
	env_close(&e);

	/* Block: with one byte per feed everything before the name is out,
	 * nothing of the name. */
	name_rules(r, SL_GUARD_ACTION_BLOCK, NULL);
	CU_ASSERT_FATAL(env_open(&e, r, n_names, NULL) == 0);
	v = run_cuts(&e, (const uint8_t *)text, len, cuts, (unsigned)(len - 1),
		     &c, true);
	CU_ASSERT_EQUAL(v, SL_GUARD_VERDICT_BLOCK);
	CU_ASSERT_EQUAL(c.len, 3);
	CU_ASSERT_NSTRING_EQUAL(c.out, "By ", 3);
	env_close(&e);
	free(c.out);
}

/* The TOFU answers, random token-sized chunkings with a cut inside every
 * name, as written and disguised: redact output equals the reference
 * exactly, block never leaks, retain answers pass byte-exact. */
static void
tofu_property(bool disguised)
{
	struct sl_guard_rule r[MAX_NAMES];
	struct set_env e;
	struct cap c = {0};
	size_t cuts[4096];
	struct ref_span spans[64];
	uint8_t *want = malloc(1 << 16);
	unsigned runs = 0, bad = 0, matched = 0, overlaps = 0;

	check_failures = 0;
	rng_seed(disguised ? 2 : 1);
	for (int mode = 0; mode < 3; mode++) {
		enum sl_guard_action action = mode == 0 ? SL_GUARD_ACTION_REDACT
					      : mode == 1
						      ? SL_GUARD_ACTION_BLOCK
						      : SL_GUARD_ACTION_LOG;

		name_rules(r, action, NULL);
		CU_ASSERT_FATAL(env_open(&e, r, n_names, NULL) == 0);
		for (unsigned t = 0; t < n_forget + n_retain; t++) {
			const char *src = t < n_forget
						  ? forget_texts[t]
						  : retain_texts[t - n_forget];
			char *text = disguised ? disguise(src) : strdup(src);
			const uint8_t *tx = (const uint8_t *)text;
			size_t len = strlen(text), want_len;
			int ns = ref_redact(e.set, tx, len, want, &want_len,
					    spans, 64);

			if (ns < 0) {
				overlaps++;
				free(text);
				continue;
			}
			for (int k = 0; k < 3; k++) {
				unsigned nc = random_cuts(
					tx, len, k == 0 ? 2 : 8, cuts, 4000);
				enum sl_guard_verdict v;

				nc = add_name_cuts(tx, len, cuts, nc, 4096);
				v = run_cuts(&e, tx, len, cuts, nc, &c, k == 0);
				runs++;
				if (c.gaps || c.late ||
				    out_matches(e.set, &c) != 0)
					bad++;
				if (mode == 0 &&
				    (v != SL_GUARD_VERDICT_PASS ||
				     c.len != want_len ||
				     memcmp(c.out, want, want_len) != 0 ||
				     c.n_masks != (unsigned)ns))
					bad++;
				if (mode == 0) {
					for (int s = 0;
					     s < ns && (unsigned)s < c.n_masks;
					     s++)
						if (c.mask_off[s] !=
							    spans[s].from ||
						    c.mask_len[s] !=
							    spans[s].to -
								    spans[s].from)
							bad++;
				}
				if (mode == 1 &&
				    ((v == SL_GUARD_VERDICT_BLOCK) !=
					     (ns > 0) ||
				     (c.len && memcmp(c.out, text, c.len)) ||
				     (ns > 0 && c.len > spans[0].from) ||
				     (ns == 0 && c.len != len)))
					bad++;
				if (mode == 2 &&
				    (v != SL_GUARD_VERDICT_PASS ||
				     c.len != len ||
				     memcmp(c.out, text, len) != 0 ||
				     c.n_matches != (unsigned)ns))
					bad++;
				if (t >= n_forget && ns == 0 &&
				    (c.len != len || memcmp(c.out, text, len)))
					bad++;
			}
			if (mode == 0)
				matched += (unsigned)ns;
			free(text);
		}
		env_close(&e);
	}
	printf("\n    %s: %u runs, %u names matched ",
	       disguised ? "disguised" : "as written", runs, matched);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(overlaps, 0);
	CU_ASSERT_EQUAL(check_failures, 0);
	CU_ASSERT_EQUAL(matched, 275);
	free(want);
	free(c.out);
}

static void
test_tofu_as_written(void)
{
	tofu_property(false);
}

static void
test_tofu_disguised(void)
{
	tofu_property(true);
}

/* ---- whole classes of disguise -------------------------------------- */

static size_t
put_cp(char *o, uint32_t c)
{
	if (c < 0x80) {
		o[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (char)(0xC0 | c >> 6);
		o[1] = (char)(0x80 | (c & 0x3F));
		return 2;
	}
	if (c < 0x10000) {
		o[0] = (char)(0xE0 | c >> 12);
		o[1] = (char)(0x80 | ((c >> 6) & 0x3F));
		o[2] = (char)(0x80 | (c & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | c >> 18);
	o[1] = (char)(0x80 | ((c >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((c >> 6) & 0x3F));
	o[3] = (char)(0x80 | (c & 0x3F));
	return 4;
}

/* Cyrillic and Greek letters that look like ASCII letter @c (0: none). */
static uint32_t
script_lookalike(char c)
{
	static const struct {
		char c;
		uint32_t cp[2];
	} t[] = {
		{'a', {0x0430, 0x03B1}}, {'e', {0x0435, 0x0435}},
		{'o', {0x043E, 0x03BF}}, {'p', {0x0440, 0x03C1}},
		{'c', {0x0441, 0x0441}}, {'x', {0x0445, 0x0445}},
		{'y', {0x0443, 0x0443}}, {'i', {0x0456, 0x03B9}},
		{'j', {0x0458, 0x0458}}, {'s', {0x0455, 0x0455}},
		{'h', {0x04BB, 0x04BB}}, {'d', {0x0501, 0x0501}},
		{'q', {0x051B, 0x051B}}, {'w', {0x051D, 0x051D}},
		{'v', {0x03BD, 0x03BD}}, {'u', {0x03C5, 0x03C5}},
		{'A', {0x0410, 0x0391}}, {'B', {0x0392, 0x0392}},
		{'E', {0x0415, 0x0395}}, {'H', {0x041D, 0x0397}},
		{'I', {0x0406, 0x0399}}, {'J', {0x0408, 0x0408}},
		{'K', {0x041A, 0x039A}}, {'M', {0x041C, 0x039C}},
		{'N', {0x039D, 0x039D}}, {'O', {0x041E, 0x039F}},
		{'P', {0x0420, 0x03A1}}, {'C', {0x0421, 0x0421}},
		{'S', {0x0405, 0x0405}}, {'T', {0x0422, 0x03A4}},
		{'X', {0x0425, 0x03A7}}, {'Y', {0x0423, 0x03A5}},
		{'Z', {0x0396, 0x0396}},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].c == c)
			return t[i].cp[rng_below(2)];
	return 0;
}

/* A look-alike of ASCII letter @c from any class: another script,
 * fullwidth, mathematical bold, sans-serif bold or monospace, circled,
 * or the letter in the other case. */
static uint32_t
any_lookalike(char c)
{
	bool up = c >= 'A' && c <= 'Z';
	uint32_t k = (uint32_t)((c | 0x20) - 'a'), s;

	switch (rng_below(7)) {
	case 0:
		if ((s = script_lookalike(c)) != 0)
			return s;
		/* fall through */
	case 1:
		return (up ? 0xFF21 : 0xFF41) + k;
	case 2:
		return (up ? 0x1D400 : 0x1D41A) + k;
	case 3:
		return (up ? 0x1D5D4 : 0x1D5EE) + k;
	case 4:
		return (up ? 0x1D670 : 0x1D68A) + k;
	case 5:
		return (up ? 0x24B6 : 0x24D0) + k;
	default:
		return (uint32_t)(c ^ 0x20);
	}
}

static uint32_t
any_ignorable(void)
{
	size_t r = rng_below(sizeof(ignorable) / sizeof(ignorable[0]));

	return ignorable[r][0] +
	       rng_below(ignorable[r][1] - ignorable[r][0] + 1);
}

static uint32_t
any_mark(void)
{
	size_t r = rng_below(sizeof(marks) / sizeof(marks[0]));

	return marks[r][0] + rng_below(marks[r][1] - marks[r][0] + 1);
}

static uint32_t
any_space(void)
{
	return white_space[rng_below(sizeof(white_space) /
				     sizeof(white_space[0]))];
}

/* A precomposed accented form of ASCII letter @c, or 0. */
static uint32_t
precomposed(char c)
{
	static const char from[] = "aeiounAEIOUNcCyY";
	static const uint32_t to[][2] = {
		{0x00E1, 0x00E4}, {0x00E9, 0x00EA}, {0x00ED, 0x00EF},
		{0x00F3, 0x00F6}, {0x00FA, 0x00FC}, {0x00F1, 0x0144},
		{0x00C1, 0x00C4}, {0x00C9, 0x00CA}, {0x00CD, 0x0130},
		{0x00D3, 0x00D6}, {0x00DA, 0x00DC}, {0x00D1, 0x0143},
		{0x00E7, 0x010D}, {0x00C7, 0x010C}, {0x00FD, 0x00FF},
		{0x00DD, 0x0178},
	};
	const char *p = strchr(from, c);

	return p != NULL && c != '\0' ? to[p - from][rng_below(2)] : 0;
}

enum disguise_class {
	DC_CONFUSABLE,
	DC_IGNORABLE,
	DC_COMBINING,
	DC_WHITE_SPACE,
	DC_ALL,
	DC_MAX
};

/* A name as the class disguises it: @core is the span a redaction
 * masks (first to last letter), @tail what follows the last letter
 * (its combining marks, ignorables): it stays after the mask. */
static void
disguise_name(const char *name, enum disguise_class dc, char *core,
	      size_t *core_len, char *tail, size_t *tail_len)
{
	size_t n = strlen(name), o = 0, t = 0;
	bool all = dc == DC_ALL;

	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		bool last = i + 1 == n;
		uint32_t cp = (uint8_t)ch;

		if (i > 0 && (all || dc == DC_IGNORABLE) && rng_below(2))
			for (unsigned k = 1 + rng_below(2); k > 0; k--)
				o += put_cp(core + o, any_ignorable());
		if (ch == ' ' && (all || dc == DC_WHITE_SPACE)) {
			for (unsigned k = 1 + rng_below(3); k > 0; k--)
				o += put_cp(core + o, any_space());
			continue;
		}
		if (ch != ' ' && ch != '-' && (all || dc == DC_CONFUSABLE) &&
		    rng_below(3) != 0)
			cp = any_lookalike(ch);
		if ((all || dc == DC_COMBINING) && cp < 0x80 && ch != ' ' &&
		    ch != '-' && rng_below(2) && precomposed(ch) != 0) {
			o += put_cp(core + o, precomposed(ch));
			continue;
		}
		o += put_cp(core + o, cp);
		if ((all || dc == DC_COMBINING) && ch != ' ' && ch != '-' &&
		    rng_below(2))
			for (unsigned k = 1 + rng_below(3); k > 0; k--) {
				uint32_t m = any_mark();

				if (last)
					t += put_cp(tail + t, m);
				else
					o += put_cp(core + o, m);
			}
	}
	if ((all || dc == DC_IGNORABLE) && rng_below(2))
		t += put_cp(tail + t, any_ignorable());
	*core_len = o;
	*tail_len = t;
}

/* A TOFU answer with every name disguised (class by occurrence) and
 * spaces outside names turned into runs of any white space; @want the
 * redaction expected by construction, @spans the masked spans. */
struct disguised {
	char *text, *want;
	size_t len, want_len;
	unsigned n_names;
	uint64_t span_from[8], span_len[8];
	size_t name_at; /* first name's offset, len if none */
};

static void
disguise_classes(const char *src, unsigned *occurrence, const char *mask,
		 struct disguised *d)
{
	size_t cap = strlen(src) * 40 + 64;
	const char *p = src;
	char core[1024], tail[64];
	size_t cl, tl;

	d->text = malloc(cap);
	d->want = malloc(cap);
	d->len = d->want_len = 0;
	d->n_names = 0;
	d->name_at = SIZE_MAX;
	while (*p) {
		unsigned hit = n_names;

		for (unsigned k = 0; k < n_names; k++)
			if (strncmp(p, names[k], strlen(names[k])) == 0) {
				hit = k;
				break;
			}
		if (hit == n_names) {
			if (*p == ' ' && rng_below(3) == 0) {
				size_t a = d->len;

				for (unsigned k = 1 + rng_below(3); k > 0; k--)
					d->len += put_cp(d->text + d->len,
							 any_space());
				memcpy(d->want + d->want_len, d->text + a,
				       d->len - a);
				d->want_len += d->len - a;
			} else {
				d->text[d->len++] = *p;
				d->want[d->want_len++] = *p;
			}
			p++;
			continue;
		}
		disguise_name(names[hit],
			      (enum disguise_class)((*occurrence)++ % DC_MAX),
			      core, &cl, tail, &tl);
		if (d->name_at == SIZE_MAX)
			d->name_at = d->len;
		if (d->n_names < 8) {
			d->span_from[d->n_names] = d->len;
			d->span_len[d->n_names] = cl;
		}
		d->n_names++;
		memcpy(d->text + d->len, core, cl);
		d->len += cl;
		memcpy(d->text + d->len, tail, tl);
		d->len += tl;
		memcpy(d->want + d->want_len, mask, strlen(mask));
		d->want_len += strlen(mask);
		memcpy(d->want + d->want_len, tail, tl);
		d->want_len += tl;
		p += strlen(names[hit]);
	}
	d->text[d->len] = '\0';
	if (d->name_at == SIZE_MAX)
		d->name_at = d->len;
}

/* Check one run of a disguised text against what construction says. */
static unsigned
check_classes_run(struct set_env *e, const struct disguised *d,
		  enum sl_guard_action action, enum sl_guard_verdict v,
		  const struct cap *c, bool one_byte)
{
	unsigned bad = 0;

	if (c->gaps != 0 || c->late != 0 || out_matches(e->set, c) != 0)
		bad++;
	switch (action) {
	case SL_GUARD_ACTION_REDACT:
		if (v != SL_GUARD_VERDICT_PASS || c->len != d->want_len ||
		    memcmp(c->out, d->want, c->len) != 0 ||
		    c->n_masks != d->n_names || c->n_matches != d->n_names)
			bad++;
		for (unsigned k = 0; k < d->n_names && k < c->n_masks && k < 8;
		     k++)
			if (c->mask_off[k] != d->span_from[k] ||
			    c->mask_len[k] != d->span_len[k])
				bad++;
		break;
	case SL_GUARD_ACTION_BLOCK:
		if ((v == SL_GUARD_VERDICT_BLOCK) != (d->n_names > 0) ||
		    c->len > d->name_at ||
		    (c->len && memcmp(c->out, d->text, c->len) != 0) ||
		    (d->n_names == 0 &&
		     (c->len != d->len || memcmp(c->out, d->text, d->len))))
			bad++;
		/* Byte by byte, everything before the name went out. */
		if (one_byte && c->len != d->name_at)
			bad++;
		break;
	default:
		if (v != SL_GUARD_VERDICT_PASS || c->len != d->len ||
		    memcmp(c->out, d->text, d->len) != 0 ||
		    c->n_matches != d->n_names)
			bad++;
	}
	return bad;
}

/*
 * The TOFU answers with every name disguised by a whole class (look-alikes
 * from other scripts, fullwidth, mathematical and circled forms; any
 * default-ignorable code point between letters; combining marks,
 * precomposed or decomposed, stacked; runs of any white space, inside the
 * names and out) or all at once: redaction output exactly as constructed
 * (mask spans too), blocks never leak and stop where the name starts, log
 * passes everything; fed whole, one byte per feed (every split inside
 * every character), and cut once at every byte of and around each name.
 */
static void
test_unicode_classes(void)
{
	struct sl_guard_rule r[MAX_NAMES];
	struct set_env e;
	struct cap c = {0};
	size_t *cuts = malloc(65536 * sizeof(*cuts));
	unsigned runs = 0, bad = 0, names_seen = 0, first_bad = 1;
	struct sl_guard_config cfg = {.held_max = 2048};

	check_failures = 0;
	for (int mode = 0; mode < 3; mode++) {
		enum sl_guard_action action = mode == 0 ? SL_GUARD_ACTION_REDACT
					      : mode == 1
						      ? SL_GUARD_ACTION_BLOCK
						      : SL_GUARD_ACTION_LOG;
		unsigned occurrence = 0;

		rng_seed(77);
		name_rules(r, action, "<n>");
		/* Every letter decorated holds far more than 4 original bytes
		 * per normalised byte: room for it (test_state_bound checks
		 * the default bound). */
		CU_ASSERT_FATAL(env_open(&e, r, n_names, &cfg) == 0);
		for (unsigned t = 0; t < n_forget + n_retain; t++) {
			const char *src = t < n_forget
						  ? forget_texts[t]
						  : retain_texts[t - n_forget];
			struct disguised d;
			const uint8_t *tx;
			enum sl_guard_verdict v;
			unsigned b0 = bad;

			disguise_classes(
				src, &occurrence,
				action == SL_GUARD_ACTION_REDACT ? "<n>" : "",
				&d);
			tx = (const uint8_t *)d.text;
			if (mode == 0)
				names_seen += d.n_names;
			/* Whole, then one byte per feed. */
			v = run_cuts(&e, tx, d.len, NULL, 0, &c, false);
			bad += check_classes_run(&e, &d, action, v, &c, false);
			for (size_t i = 0; i + 1 < d.len; i++)
				cuts[i] = i + 1;
			v = run_cuts(&e, tx, d.len, cuts,
				     d.len ? (unsigned)(d.len - 1) : 0, &c,
				     t % 8 == 0);
			bad += check_classes_run(&e, &d, action, v, &c, true);
			runs += 2;
			/* One cut at every byte from 6 before each name to 6
			 * after it (every byte of short answers). */
			for (size_t at = 1; at < d.len; at++) {
				bool near = d.len < 120;

				for (unsigned k = 0;
				     k < d.n_names && k < 8 && !near; k++)
					near = at + 6 >= d.span_from[k] &&
					       at <= d.span_from[k] +
							       d.span_len[k] +
							       6;
				if (!near)
					continue;
				cuts[0] = at;
				v = run_cuts(&e, tx, d.len, cuts, 1, &c,
					     t % 16 == 0);
				bad += check_classes_run(&e, &d, action, v, &c,
							 false);
				runs++;
			}
			if (bad != b0 && first_bad) {
				first_bad = 0;
				fprintf(stderr,
					"\n    mode %d text %u: \"%s\"\n", mode,
					t, d.text);
			}
			free(d.text);
			free(d.want);
		}
		env_close(&e);
	}
	printf("\n    %u runs, %u disguised names ", runs, names_seen);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(check_failures, 0);
	CU_ASSERT_EQUAL(names_seen, 275);
	free(cuts);
	free(c.out);
}

/* Overlapping matches are masked as one span with one mask at every cut,
 * also when the overlap is found after the first mask went out; a
 * zero-width character at the edge of a match stays outside it. */
static void
test_redact_spans(void)
{
	struct sl_guard_rule r[] = {
		{1, SL_GUARD_KIND_LITERAL, SL_GUARD_ACTION_REDACT,
		 "Tae-ho Park", "<name>"},
		{2, SL_GUARD_KIND_LITERAL, SL_GUARD_ACTION_REDACT, "ho Par",
		 "<x>"},
		{3, SL_GUARD_KIND_LITERAL, SL_GUARD_ACTION_REDACT, "Park Jr",
		 "<jr>"},
		{4, SL_GUARD_KIND_LITERAL, SL_GUARD_ACTION_REDACT, "Nakamura",
		 "#"},
	};
	struct set_env e;
	struct cap c = {0};
	const char *text = "Tae-ho Park Jr and \xE2\x80\x8BNakamura\xE2\x80\x8B"
			   " and Tae-ho Parks";
	const char *want = "<name> and \xE2\x80\x8B#\xE2\x80\x8B and "
			   "<name>s";
	size_t len = strlen(text), cuts[1];
	unsigned bad = 0;

	check_failures = 0;
	CU_ASSERT_FATAL(env_open(&e, r, 4, NULL) == 0);
	for (size_t i = 0; i <= len; i++) {
		cuts[0] = i;
		run_cuts(&e, (const uint8_t *)text, len, cuts, 1, &c, true);
		if (c.len != strlen(want) || memcmp(c.out, want, c.len) != 0 ||
		    c.n_masks != 3 || c.mask_off[0] != 0 ||
		    c.mask_len[0] != strlen("Tae-ho Park Jr") ||
		    c.mask_off[1] !=
			    strlen("Tae-ho Park Jr and \xE2\x80\x8B") ||
		    c.mask_len[1] != strlen("Nakamura") ||
		    c.mask_len[2] != strlen("Tae-ho Park") ||
		    c.n_matches != 6 || c.gaps != 0 || c.late != 0 ||
		    out_matches(e.set, &c) != 0) {
			if (bad++ == 0)
				fprintf(stderr,
					"split %zu: masks %u matches %u out "
					"\"%.*s\"\n",
					i, c.n_masks, c.n_matches, (int)c.len,
					c.out);
		}
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(check_failures, 0);
	env_close(&e);
	free(c.out);
}

static void
test_block_stops(void)
{
	struct sl_guard_rule r[] = {
		{11, SL_GUARD_KIND_LITERAL, SL_GUARD_ACTION_BLOCK, "Hina Ameen",
		 NULL},
		{12, SL_GUARD_KIND_LITERAL, SL_GUARD_ACTION_REDACT,
		 "Elvin Mammadov", NULL},
	};
	struct set_env e;
	struct cap c = {0};
	struct sl_guard_sink sink = {cap_release, cap_match, &c};
	struct sl_guard_stream *st;
	struct sl_guard_stream_info si;
	const char *a = "Elvin Mammadov met Hina Am", *b = "een. More text.";

	CU_ASSERT_FATAL(env_open(&e, r, 2, NULL) == 0);
	st = sl_guard_stream_init(e.set, e.mem, e.size);
	cap_reset(&c, a, strlen(a));
	CU_ASSERT_EQUAL(sl_guard_feed(st, e.sc, a, strlen(a), &sink),
			SL_GUARD_VERDICT_PASS);
	sl_guard_stream_info(st, &si);
	CU_ASSERT_EQUAL(si.held_bytes, strlen("Hina Am"));
	CU_ASSERT_EQUAL(si.partial, strlen("hina am"));
	CU_ASSERT_EQUAL(sl_guard_feed(st, e.sc, b, strlen(b), &sink),
			SL_GUARD_VERDICT_BLOCK);
	CU_ASSERT_EQUAL(c.len, strlen("[REDACTED] met "));
	CU_ASSERT_NSTRING_EQUAL(c.out, "[REDACTED] met ", c.len);
	sl_guard_stream_info(st, &si);
	CU_ASSERT_EQUAL(si.verdict, SL_GUARD_VERDICT_BLOCK);
	CU_ASSERT_EQUAL(si.reason, SL_GUARD_REASON_RULE);
	CU_ASSERT_EQUAL(si.block_rule_id, 11);
	CU_ASSERT_EQUAL(si.held_bytes, 0);
	/* Later feeds and finish release nothing. */
	CU_ASSERT_EQUAL(sl_guard_feed(st, e.sc, "x", 1, &sink),
			SL_GUARD_VERDICT_BLOCK);
	CU_ASSERT_EQUAL(sl_guard_finish(st, e.sc, &sink),
			SL_GUARD_VERDICT_BLOCK);
	CU_ASSERT_EQUAL(c.len, strlen("[REDACTED] met "));
	CU_ASSERT_STRING_EQUAL(sl_guard_reason_text(si.reason),
			       "a block rule matched");
	env_close(&e);
	free(c.out);
}

static void
test_state_bound(void)
{
	struct sl_guard_rule r = {1, SL_GUARD_KIND_LITERAL,
				  SL_GUARD_ACTION_REDACT, "Rajeev Majumdar",
				  NULL};
	struct sl_guard_config cfg = {0};
	struct set_env e;
	struct cap c = {0};
	struct sl_guard_sink sink = {cap_release, cap_match, &c};
	struct sl_guard_stream *st;
	struct sl_guard_stream_info si;
	struct sl_guard_set_info in;
	struct sl_guard_set_counters ctr;
	enum sl_guard_verdict v = SL_GUARD_VERDICT_PASS;
	const char *zws = "\xE2\x80\x8B";

	/* Zero-width characters inside a partial name are held with it: a
	 * flood of them hits the bound and blocks, leaking nothing. */
	CU_ASSERT_FATAL(env_open(&e, &r, 1, NULL) == 0);
	sl_guard_set_info(e.set, &in);
	CU_ASSERT_EQUAL(in.holdback_max, 14);
	CU_ASSERT_EQUAL(in.held_max, 4 * 14 + 64);
	st = sl_guard_stream_init(e.set, e.mem, e.size);
	cap_reset(&c, "", 0);
	sl_guard_feed(st, e.sc, "Hi Rajeev Maj", 13, &sink);
	for (int i = 0; i < 100 && v == SL_GUARD_VERDICT_PASS; i++)
		v = sl_guard_feed(st, e.sc, zws, 3, &sink);
	CU_ASSERT_EQUAL(v, SL_GUARD_VERDICT_BLOCK);
	sl_guard_stream_info(st, &si);
	CU_ASSERT_EQUAL(si.reason, SL_GUARD_REASON_STATE_BOUND);
	CU_ASSERT_EQUAL(c.len, 3);
	CU_ASSERT_NSTRING_EQUAL(c.out, "Hi ", 3);
	CU_ASSERT_STRING_EQUAL(sl_guard_reason_text(si.reason), "state bound");
	/* The same bytes in one feed block the same way. */
	char big[13 + 300];

	memcpy(big, "Hi Rajeev Maj", 13);
	for (int i = 0; i < 100; i++)
		memcpy(big + 13 + 3 * i, zws, 3);
	st = sl_guard_stream_init(e.set, e.mem, e.size);
	CU_ASSERT_EQUAL(sl_guard_feed(st, e.sc, big, sizeof(big), &sink),
			SL_GUARD_VERDICT_BLOCK);
	/* Zero-width characters outside any partial match pass. */
	st = sl_guard_stream_init(e.set, e.mem, e.size);
	memset(big, 'x', 13);
	cap_reset(&c, big, sizeof(big));
	CU_ASSERT_EQUAL(sl_guard_feed(st, e.sc, big, sizeof(big), &sink),
			SL_GUARD_VERDICT_PASS);
	CU_ASSERT_EQUAL(sl_guard_finish(st, e.sc, &sink),
			SL_GUARD_VERDICT_PASS);
	CU_ASSERT_EQUAL(c.len, sizeof(big));
	sl_guard_counters_read(&e.sc, 1, &ctr, NULL);
	CU_ASSERT_EQUAL(ctr.c[SL_GUARD_CTR_BLOCKS_STATE_BOUND], 2);
	env_close(&e);

	/* More pending redactions than redact_max in one feed: blocked. */
	cfg.redact_max = 2;
	CU_ASSERT_FATAL(env_open(&e, &r, 1, &cfg) == 0);
	st = sl_guard_stream_init(e.set, e.mem, e.size);
	const char *three = "Rajeev Majumdar Rajeev Majumdar Rajeev Majumdar";

	cap_reset(&c, three, strlen(three));
	CU_ASSERT_EQUAL(sl_guard_feed(st, e.sc, three, strlen(three), &sink),
			SL_GUARD_VERDICT_BLOCK);
	CU_ASSERT_EQUAL(c.len, 0);
	sl_guard_stream_info(st, &si);
	CU_ASSERT_EQUAL(si.reason, SL_GUARD_REASON_STATE_BOUND);
	env_close(&e);
	free(c.out);
}

static void
test_regex(void)
{
	struct sl_guard_rule r[] = {
		{1, SL_GUARD_KIND_REGEX, SL_GUARD_ACTION_REDACT,
		 "\\d{3}-\\d{4}", "<phone>"},
		{2, SL_GUARD_KIND_REGEX, SL_GUARD_ACTION_BLOCK,
		 "launch code \\w{4} ?$", NULL},
		{3, SL_GUARD_KIND_LITERAL, SL_GUARD_ACTION_REDACT,
		 "Ji-Yeon Park", "<name>"},
		{4, SL_GUARD_KIND_REGEX, SL_GUARD_ACTION_REDACT,
		 "\\bcode\\d\\b", "<c>"},
		{5, SL_GUARD_KIND_REGEX, SL_GUARD_ACTION_REDACT, "pin\\d\\B",
		 "<p>"},
	};
	struct set_env e;
	struct cap c = {0};
	struct sl_guard_set_info in;
	const char *text = "Call Ji-Y\xE2\x80\x8B\xD0\xB5on Park at 555-0199 "
			   "code7 pin4x today code8";
	const char *want = "Call <name> at <phone> <c> <p>x today <c>";
	size_t len = strlen(text), cuts[2];
	unsigned bad = 0;

	CU_ASSERT_FATAL(env_open(&e, r, 5, NULL) == 0);
	sl_guard_set_info(e.set, &in);
	CU_ASSERT_EQUAL(in.n_regexes, 4);
	CU_ASSERT_EQUAL(in.regex_max_width, 17);
	/* "launch code \w{4} ?$" ends in an assertion: 17 + 1. */
	CU_ASSERT_EQUAL(in.holdback_max, 18);
	for (size_t i = 0; i <= len; i++)
		for (size_t j = i; j <= len; j++) {
			cuts[0] = i;
			cuts[1] = j;
			if (run_cuts(&e, (const uint8_t *)text, len, cuts, 2,
				     &c, false) != SL_GUARD_VERDICT_PASS ||
			    c.len != strlen(want) ||
			    memcmp(c.out, want, c.len) != 0 ||
			    c.gaps + c.late != 0)
				bad++;
		}
	CU_ASSERT_EQUAL(bad, 0);
	/* An end-anchored regex is checked at END: held, then blocked. */
	const char *tail = "the launch code ABCD";
	struct sl_guard_sink sink = {cap_release, cap_match, &c};
	struct sl_guard_stream *st = sl_guard_stream_init(e.set, e.mem, e.size);
	struct sl_guard_stream_info si;

	cap_reset(&c, tail, strlen(tail));
	CU_ASSERT_EQUAL(sl_guard_feed(st, e.sc, tail, strlen(tail), &sink),
			SL_GUARD_VERDICT_PASS);
	sl_guard_stream_info(st, &si);
	CU_ASSERT_EQUAL(si.held_norm, 18);
	CU_ASSERT_EQUAL(sl_guard_finish(st, e.sc, &sink),
			SL_GUARD_VERDICT_BLOCK);
	CU_ASSERT_EQUAL(c.len, 2);
	CU_ASSERT_NSTRING_EQUAL(c.out, "th", 2);
	sl_guard_stream_info(st, &si);
	CU_ASSERT_EQUAL(si.block_rule_id, 2);
	/* White space is one space, newlines too: a final run of it is what
	 * " ?$" allows for (reported at END). */
	tail = "the launch code ABCD\n\t\xE3\x80\x80\n";
	st = sl_guard_stream_init(e.set, e.mem, e.size);
	cap_reset(&c, tail, strlen(tail));
	CU_ASSERT_EQUAL(sl_guard_feed(st, e.sc, tail, strlen(tail), &sink),
			SL_GUARD_VERDICT_PASS);
	CU_ASSERT_EQUAL(sl_guard_finish(st, e.sc, &sink),
			SL_GUARD_VERDICT_BLOCK);
	CU_ASSERT_EQUAL(memmem(c.out, c.len, "l", 1), NULL);
	/* Not at the end: everything flushes at finish. */
	st = sl_guard_stream_init(e.set, e.mem, e.size);
	cap_reset(&c, "the launch code AB", 18);
	sl_guard_feed(st, e.sc, "the launch code AB", 18, &sink);
	CU_ASSERT_EQUAL(sl_guard_finish(st, e.sc, &sink),
			SL_GUARD_VERDICT_PASS);
	CU_ASSERT_EQUAL(c.len, 18);
	env_close(&e);
	free(c.out);
}

static void
test_invalid_utf8(void)
{
	struct sl_guard_rule r = {1, SL_GUARD_KIND_LITERAL,
				  SL_GUARD_ACTION_REDACT, "Wei-Jun Chen", NULL};
	struct set_env e;
	struct cap c = {0};
	/* An invalid byte inside the name breaks it; a truncated character
	 * at END comes out as it went in. */
	const char *text = "Wei-Jun\xFF Chen, Wei-Jun Chen \xE2\x82";
	const char *want = "Wei-Jun\xFF Chen, [REDACTED] \xE2\x82";
	size_t len = strlen(text), cuts[1];

	CU_ASSERT_FATAL(env_open(&e, &r, 1, NULL) == 0);
	for (size_t i = 0; i <= len; i++) {
		cuts[0] = i;
		CU_ASSERT_EQUAL(run_cuts(&e, (const uint8_t *)text, len, cuts,
					 1, &c, false),
				SL_GUARD_VERDICT_PASS);
		CU_ASSERT_EQUAL(c.len, strlen(want));
		CU_ASSERT_NSTRING_EQUAL(c.out, want, c.len);
	}
	env_close(&e);
	free(c.out);
}

static void
test_counters(void)
{
	struct sl_guard_rule r[] = {
		{21, SL_GUARD_KIND_LITERAL, SL_GUARD_ACTION_REDACT,
		 "Behrouz Rohani", NULL},
		{22, SL_GUARD_KIND_LITERAL, SL_GUARD_ACTION_LOG, "Rohani",
		 NULL},
		{23, SL_GUARD_KIND_LITERAL, SL_GUARD_ACTION_BLOCK,
		 "Takashi Nakamura", NULL},
	};
	struct set_env e;
	struct cap c = {0};
	struct sl_guard_scratch *w2;
	struct sl_guard_set_counters sc;
	struct sl_guard_rule_counters rc[3];

	CU_ASSERT_FATAL(env_open(&e, r, 3, NULL) == 0);
	w2 = sl_guard_scratch_alloc(e.set);
	run_whole(&e, "Behrouz Rohani and Rohani; Behrouz Rohani.", &c);
	CU_ASSERT_NSTRING_EQUAL(c.out, "[REDACTED] and Rohani; [REDACTED].",
				c.len);
	struct sl_guard_scratch *keep = e.sc;

	e.sc = w2; /* a second worker */
	run_whole(&e, "Takashi Nakamura wrote", &c);
	e.sc = keep;
	struct sl_guard_scratch *both[2] = {e.sc, w2};

	sl_guard_counters_read(both, 2, &sc, rc);
	CU_ASSERT_EQUAL(rc[0].matches, 2);
	CU_ASSERT_EQUAL(rc[0].redactions, 2);
	CU_ASSERT_EQUAL(rc[0].blocks, 0);
	CU_ASSERT_EQUAL(rc[1].matches, 3);
	CU_ASSERT_EQUAL(rc[1].redactions, 0);
	CU_ASSERT_EQUAL(rc[2].matches, 1);
	CU_ASSERT_EQUAL(rc[2].blocks, 1);
	CU_ASSERT_EQUAL(sc.c[SL_GUARD_CTR_MATCHES], 6);
	CU_ASSERT_EQUAL(sc.c[SL_GUARD_CTR_REDACTIONS], 2);
	CU_ASSERT_EQUAL(sc.c[SL_GUARD_CTR_MASKS], 2);
	CU_ASSERT_EQUAL(sc.c[SL_GUARD_CTR_LOGGED], 3);
	CU_ASSERT_EQUAL(sc.c[SL_GUARD_CTR_BLOCKS_RULE], 1);
	CU_ASSERT_EQUAL(sc.c[SL_GUARD_CTR_STREAMS_FINISHED], 1);
	CU_ASSERT_EQUAL(sc.c[SL_GUARD_CTR_FRAGMENTS], 2);
	CU_ASSERT_EQUAL(sc.c[SL_GUARD_CTR_BYTES_IN], 42 + 22);
	CU_ASSERT_EQUAL(sc.c[SL_GUARD_CTR_BYTES_OUT],
			strlen("[REDACTED] and Rohani; [REDACTED]."));
	CU_ASSERT_EQUAL(sc.c[SL_GUARD_CTR_LATE_MATCHES], 0);
	CU_ASSERT_STRING_EQUAL(sl_guard_counter_name(SL_GUARD_CTR_LOGGED),
			       "LOGGED");
	sl_guard_scratch_free(w2);
	env_close(&e);
	free(c.out);
}

static void
test_misuse(void)
{
	struct sl_guard_rule r = {1, SL_GUARD_KIND_LITERAL,
				  SL_GUARD_ACTION_BLOCK, "Carmen Montenegro",
				  NULL};
	struct set_env e, f;
	struct sl_guard_stream *st;
	struct sl_guard_stream_info si;

	CU_ASSERT_FATAL(env_open(&e, &r, 1, NULL) == 0);
	CU_ASSERT_FATAL(env_open(&f, &r, 1, NULL) == 0);
	st = sl_guard_stream_init(e.set, e.mem, e.size);
	CU_ASSERT_EQUAL(sl_guard_feed(st, f.sc, "abc", 3, NULL),
			SL_GUARD_VERDICT_BLOCK);
	sl_guard_stream_info(st, &si);
	CU_ASSERT_EQUAL(si.reason, SL_GUARD_REASON_MISUSE);
	st = sl_guard_stream_init(e.set, e.mem, e.size);
	CU_ASSERT_EQUAL(sl_guard_feed(st, e.sc, "abc", 3, NULL),
			SL_GUARD_VERDICT_PASS);
	CU_ASSERT_EQUAL(sl_guard_finish(st, e.sc, NULL), SL_GUARD_VERDICT_PASS);
	CU_ASSERT_EQUAL(sl_guard_finish(st, e.sc, NULL), SL_GUARD_VERDICT_PASS);
	CU_ASSERT_EQUAL(sl_guard_feed(st, e.sc, "d", 1, NULL),
			SL_GUARD_VERDICT_BLOCK);
	env_close(&e);
	env_close(&f);
}

int
main(int argc, char **argv)
{
	CU_pSuite s;
	unsigned failed;

	if (argc > 1)
		data_dir = argv[1];
	if (load_data() != 0) {
		fprintf(stderr, "test_guard: cannot read the TOFU copy in %s\n",
			data_dir);
		return 1;
	}
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("normalise", NULL, NULL);
	CU_add_test(s, "code point table", test_norm_table);
	CU_add_test(s, "buffer and origins", test_norm_buffer);
	s = CU_add_suite("compile", NULL, NULL);
	CU_add_test(s, "rejected rules and reasons", test_compile_errors);
	CU_add_test(s, "10,000 literals", test_compile_10k);
	s = CU_add_suite("stream", NULL, NULL);
	CU_add_test(s, "caller state memory", test_state_memory);
	CU_add_test(s, "every split around a match", test_every_split);
	CU_add_test(s, "every split, every class in one name",
		    test_every_split_classes);
	CU_add_test(s, "every split, folds longer than a character",
		    test_every_split_folds);
	CU_add_test(s, "one byte per feed", test_one_byte_feeds);
	CU_add_test(s, "TOFU answers, random chunkings", test_tofu_as_written);
	CU_add_test(s, "TOFU answers, disguised names", test_tofu_disguised);
	CU_add_test(s, "TOFU answers, every class of disguise",
		    test_unicode_classes);
	CU_add_test(s, "redaction spans", test_redact_spans);
	CU_add_test(s, "block stops the stream", test_block_stops);
	CU_add_test(s, "state bound blocks", test_state_bound);
	CU_add_test(s, "regex rules", test_regex);
	CU_add_test(s, "invalid UTF-8", test_invalid_utf8);
	CU_add_test(s, "counters", test_counters);
	CU_add_test(s, "misuse", test_misuse);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures();
	CU_cleanup_registry();
	for (unsigned i = 0; i < n_names; i++)
		free(names[i]);
	for (unsigned i = 0; i < n_forget; i++)
		free(forget_texts[i]);
	for (unsigned i = 0; i < n_retain; i++)
		free(retain_texts[i]);
	return failed == 0 ? 0 : 1;
}
