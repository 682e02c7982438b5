/* SPDX-License-Identifier: MIT */
/*
 * sl_guard_run.c - the guard engine's runtime: a worker's scratch and
 * counters, and the per-stream hold-and-release loop the dataplane runs on
 * every fragment of a guarded edge (dataplane/sl_guard_edge.c). The rule
 * set it reads was built by sl_guard.c.
 *
 * A stream's state is one block of caller memory:
 *
 *   struct sl_guard_stream | held original bytes (held_max) | one meta
 *   byte per held character (original length | normalised length << 3) |
 *   normalised bytes of the current step, for Hyperscan (nbuf_size, only
 *   with regexes) | pending redactions (redact_max) | Hyperscan stream
 *
 * A feed appends its bytes to the held buffer (as much as fits), decodes
 * and normalises the new complete characters (sl_guard_norm.h's character
 * step and the stream's "last byte was a space" bit), runs them through
 * the automaton byte by byte and through Hyperscan in blocks of up to
 * nbuf_size bytes, then releases the characters that no block or redact
 * rule can still reach. It repeats until the feed is consumed; a full
 * buffer with nothing releasable is the state bound.
 *
 * A character's fold may be several normalised bytes (ß -> "ss"), and a
 * match may start or end inside them: a character is released only when
 * all of its normalised bytes lie before the safe point, and a redaction
 * covers every character one of its bytes comes from.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sl_guard_int.h"

struct feed_cx {
	struct sl_guard_stream *st;
	const struct sl_guard_set *set;
	struct sl_guard_scratch *sc;
	const struct sl_guard_sink *sink;
};

struct sl_guard_scratch *
sl_guard_scratch_alloc(const struct sl_guard_set *set)
{
	struct sl_guard_scratch *sc = calloc(1, sizeof(*sc));

	if (sc == NULL)
		return NULL;
	sc->set = set;
	sc->rule_ctr =
		calloc(set->n_rules ? set->n_rules : 1, sizeof(*sc->rule_ctr));
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
		nl = sl_guard_norm_char(held + i, end - i, final, &space, &ol,
					out);
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
	uint64_t r =
		set->hold != NULL ? n - set->hold[st->ac >> set->cls_shift] : n;

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
