/* SPDX-License-Identifier: MIT */
/*
 * sl_guard.c - the guard engine's compiler: rules checked and normalised,
 * the literal automaton, the Hyperscan database and the stream template,
 * and the layout of a stream's state (sl_guard_int.h). The control plane
 * runs it when a pipeline file is compiled or a guard is edited; what a
 * worker runs per fragment is sl_guard_run.c.
 *
 * The Hyperscan stream lives in the caller's memory: at compile time a
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

#include "sl_guard_int.h"

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

static bool
utf8_valid(const char *s, size_t *bad)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t n = strlen(s), i = 0;

	while (i < n) {
		uint32_t cp;
		unsigned used;

		if (sl_guard_utf8_decode(p + i, n - i, &cp, &used) != 1) {
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
		unsigned len = p[i] < 0x80             ? 1
			       : (p[i] & 0xE0) == 0xC0 ? 2
			       : (p[i] & 0xF0) == 0xE0 ? 3
			       : (p[i] & 0xF8) == 0xF0 ? 4
						       : 0;
		uint32_t cp = len == 1   ? p[i]
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
			o += (size_t)snprintf(out + o, cap - o, "\\x%02X",
					      p[i]);
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
	need = ((unsigned char)s[start] & 0xE0) == 0xC0   ? 2
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

static void err_set(struct sl_guard_error *err, const char *fmt, ...)
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

					if ((uint64_t)cap * 2 * k >
					    AC_ROW_MASK) {
						rc = -E2BIG;
						goto out;
					}
					g = realloc(go, (size_t)cap * 2 * k *
								sizeof(*go));
					d = realloc(depth,
						    (size_t)cap * 2 *
							    sizeof(*depth));
					p = realloc(proper, (size_t)cap * 2);
					t = realloc(set->term,
						    (size_t)cap * 2 *
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

			for (uint32_t t = set->term[st] ? st
							: set->out_link[st];
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
		void *mem =
			aligned_alloc(64, (set->hs_stream_bytes + 63) & ~63ul);

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
				cerr != NULL ? cerr->message
					     : "compile failed");
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
	set->held_max =
		cfg != NULL && cfg->held_max ? cfg->held_max : 4 * hold + 64;
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

	if (set->db != NULL &&
	    hs_alloc_scratch(set->db, &scratch) != HS_SUCCESS) {
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
	set->off_iv =
		align_up(set->off_nbuf + (set->db ? set->nbuf_size : 0), 8);
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
