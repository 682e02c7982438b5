/* SPDX-License-Identifier: MIT */
/*
 * sl_guard.h - guard filters: banned literals and regular expressions
 * matched inline on a stream's text, released downstream with zero leak
 * and minimal holdback.
 *
 * A rule set is compiled once (control plane, into the config snapshot):
 * literals into an Aho-Corasick automaton of our own over normalised bytes,
 * regular expressions into one Hyperscan streaming database. Literals do
 * not go to Hyperscan because the release rule needs the longest partial
 * match in progress, which Hyperscan does not expose: the automaton's
 * state depth is exactly that.
 *
 * Per stream, the caller owns the state memory (sl_guard_state_size()
 * bytes, SL_GUARD_STATE_ALIGN aligned); feeding and finishing allocate
 * nothing. Text is normalised one code point at a time, also when a
 * character is split across feeds, and matched on the normalised bytes:
 * NFKC_Casefold, combining marks stripped, default-ignorable code points
 * removed, white space to ' ' with runs collapsed to one, and UTS #39
 * confusables folded to their prototypes outside ASCII (sl_guard_norm.c,
 * a table built from ICU once per process). Original bytes are released
 * only where no block or redact rule can still match:
 *
 *   - literals: the held tail is the longest proper prefix of a block or
 *     redact literal that ends the text so far (at most the longest such
 *     literal minus one normalised byte);
 *   - regexes: max_width - 1 normalised bytes for the widest block or
 *     redact regex (unbounded ones are rejected at compile); max_width + 1
 *     when its match can end in an assertion (\b, \B, $, \Z), which
 *     Hyperscan reports one byte, or a final newline and END, later;
 *
 * both translated to whole original characters (a character goes only
 * when all of its normalised bytes are before the safe point), never
 * splitting a multi-byte character. At END, sl_guard_finish() runs the final check
 * (end-anchored regexes included) and flushes the rest.
 *
 * Actions: BLOCK stops the stream (what is held is dropped, later feeds
 * release nothing), REDACT releases the rule's mask in place of the whole
 * original span of the match, LOG counts and passes the text unchanged.
 * LOG rules hold nothing back. Overlapping redactions merge into one span
 * with one mask, that of the match that starts first, whatever the
 * chunking: when the overlap is found after the first mask went out (a
 * chain of overlapping literals longer than the holdback), the rest of the
 * span is released as a zero-length mask, so the bound holds and the
 * output is the same.
 *
 * A stream whose held bytes would exceed the set's held_max, or whose
 * pending redactions would exceed redact_max, is blocked with reason
 * "state bound", never passed.
 *
 * Cost (tools/bench/guard.sh, commit 25cabda, 2-vCPU Intel Xeon VM at
 * 2.1 GHz, 4.4-byte fragments of the TOFU answers, all names split):
 * 29.5-29.8 cycles per byte, 16 M fragments/s for 15 or 10,000 names
 * (26.5-27.1 with c0aa18f's hand-made tables, same run), 0.93-1.07x the
 * cycles of the check-with-previous-tail baseline, which leaked all 275
 * names.
 */
#ifndef SL_GUARD_H
#define SL_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_guard_norm.h"

/* Alignment of a stream's state memory (Hyperscan stream state inside). */
#define SL_GUARD_STATE_ALIGN 64

/* Replacement of a REDACT rule that names no mask. */
#define SL_GUARD_MASK_DEFAULT "[REDACTED]"

/* The token id a guarded edge gives text that is not a model's token as
 * it came (proto/WIRE.md): a mask, a piece of a token cut by the
 * holdback, what a redaction left of a token, a prefix, a refusal. */
#define SL_GUARD_TOKEN_ID_NEUTRAL 0

/* Longest literal after normalisation, in bytes. */
#define SL_GUARD_LITERAL_MAX 4096

enum sl_guard_kind {
	SL_GUARD_KIND_LITERAL,
	SL_GUARD_KIND_REGEX,
};

enum sl_guard_action {
	SL_GUARD_ACTION_BLOCK,
	SL_GUARD_ACTION_REDACT,
	SL_GUARD_ACTION_LOG,
};

enum sl_guard_verdict {
	SL_GUARD_VERDICT_PASS,
	SL_GUARD_VERDICT_BLOCK,
};

/* Why a stream was blocked. */
#define SL_GUARD_REASONS(_)                                                    \
	_(NONE, "not blocked")                                                 \
	_(RULE, "a block rule matched")                                        \
	_(STATE_BOUND, "state bound")                                          \
	_(SCANNER, "Hyperscan scan error")                                     \
	_(MISUSE, "feed after finish, or scratch of another set")

enum sl_guard_reason {
#define SL_GUARD_REASON_ENUM(name, text) SL_GUARD_REASON_##name,
	SL_GUARD_REASONS(SL_GUARD_REASON_ENUM)
#undef SL_GUARD_REASON_ENUM
		SL_GUARD_REASON_MAX
};

/* Per-set counters, summed over the scratches (workers) that used it. */
#define SL_GUARD_COUNTERS(_)                                                   \
	_(FRAGMENTS, "fragments fed")                                          \
	_(BYTES_IN, "original bytes fed")                                      \
	_(BYTES_OUT, "bytes released, masks included")                         \
	_(STREAMS_FINISHED, "streams finished (END), not blocked")             \
	_(MATCHES, "rule matches, all actions")                                \
	_(BLOCKS_RULE, "streams blocked by a block rule")                      \
	_(BLOCKS_STATE_BOUND, "streams blocked: state bound")                  \
	_(BLOCKS_OTHER, "streams blocked: scanner error or misuse")            \
	_(REDACTIONS, "redact matches")                                        \
	_(MASKS, "masks released (merged redactions)")                         \
	_(LOGGED, "log matches")                                               \
	_(LATE_MATCHES, "matches starting in released text (must stay 0)")

enum sl_guard_counter {
#define SL_GUARD_COUNTER_ENUM(name, text) SL_GUARD_CTR_##name,
	SL_GUARD_COUNTERS(SL_GUARD_COUNTER_ENUM)
#undef SL_GUARD_COUNTER_ENUM
		SL_GUARD_CTR_MAX
};

struct sl_guard_set_counters {
	uint64_t c[SL_GUARD_CTR_MAX];
};

struct sl_guard_rule_counters {
	uint64_t matches;
	uint64_t blocks;
	uint64_t redactions;
};

/* One rule as configured. Strings are NUL-terminated UTF-8. */
struct sl_guard_rule {
	uint32_t id; /* reported in matches and errors */
	enum sl_guard_kind kind;
	enum sl_guard_action action;
	const char *pattern; /* literal text or Hyperscan regex */
	const char *mask;    /* REDACT only; NULL: the default */
};

struct sl_guard_config {
	/* Most original bytes a stream may hold (its held text plus a
	 * character in progress); 0: 4 x holdback + 64. Must be at least
	 * 4 x holdback + 8 (a normalised byte can come from up to four
	 * original bytes). */
	uint32_t held_max;
	/* Most redactions a stream may have pending at once; 0: 8. */
	uint16_t redact_max;
};

struct sl_guard_error {
	int rule;          /* index of the first rejected rule; -1: the set */
	unsigned rejected; /* how many rules were rejected */
	char text[320];    /* "rule <id>: <pattern>: <reason>" */
};

struct sl_guard_set_info {
	unsigned n_rules;
	unsigned n_literals;
	unsigned n_regexes;
	unsigned literal_max;     /* longest normalised literal, bytes */
	unsigned regex_max_width; /* widest bounded regex, bytes */
	unsigned holdback_max;    /* normalised bytes a stream may hold back */
	uint32_t held_max;        /* bound on held original bytes */
	uint16_t redact_max;
	unsigned ac_states;
	unsigned ac_classes;    /* byte classes: the goto table's width */
	size_t ac_bytes;        /* automaton memory */
	size_t hs_db_bytes;     /* Hyperscan database, 0 without regexes */
	size_t hs_stream_bytes; /* Hyperscan stream state per stream */
	size_t state_size;      /* = sl_guard_state_size() */
};

/* A match, offsets from the start of the stream. */
struct sl_guard_match {
	uint32_t rule_id;
	unsigned rule; /* index in the compiled rule array */
	enum sl_guard_action action;
	uint64_t from, to;           /* normalised bytes, [from, to) */
	uint64_t orig_from, orig_to; /* original bytes, whole characters */
};

/*
 * Where a stream's output goes. release() receives bytes in order: a run
 * of original bytes (len == orig_len), or a mask standing for orig_len
 * original bytes at orig_offset (len 0: the previous mask goes on over
 * them). Runs cover the original text once, in order. match() is told of
 * every match before any of its text would be released. Either may be
 * NULL.
 */
struct sl_guard_sink {
	void (*release)(void *ctx, const void *bytes, size_t len,
			uint64_t orig_offset, size_t orig_len);
	void (*match)(void *ctx, const struct sl_guard_match *m);
	void *ctx;
};

struct sl_guard_stream_info {
	enum sl_guard_verdict verdict;
	enum sl_guard_reason reason;
	uint32_t block_rule_id; /* reason RULE: the rule that blocked */
	bool finished;
	uint32_t held_bytes; /* original bytes held now */
	uint32_t held_norm;  /* normalised bytes held now */
	uint32_t held_peak;  /* most original bytes held after a feed */
	unsigned partial;    /* longest partial block/redact literal */
	uint64_t bytes_in;
	uint64_t bytes_released; /* original bytes released or masked */
};

struct sl_guard_set;
struct sl_guard_scratch;
struct sl_guard_stream;

/**
 * sl_guard_compile - compile @n_rules rules into a set.
 * @cfg may be NULL for the defaults. Every rule is checked: a literal must
 * be valid UTF-8 and normalise to 1..SL_GUARD_LITERAL_MAX bytes; a regex
 * must compile with Hyperscan (HS_FLAG_CASELESS | HS_FLAG_UTF8 |
 * HS_FLAG_SOM_LEFTMOST, stream mode) and, unless its action is LOG, have a
 * bounded max_width; a REDACT mask must contain no block or redact match
 * and no block or redact literal may straddle its edges; the holdback must
 * fit held_max.
 *
 * Return the set, or NULL with @err (may be NULL) naming the first rejected
 * rule and the reason, and how many were rejected. Regexes are matched on
 * normalised text: write them in lower case, without diacritics.
 */
struct sl_guard_set *sl_guard_compile(const struct sl_guard_rule *rules,
				      unsigned n_rules,
				      const struct sl_guard_config *cfg,
				      struct sl_guard_error *err);

/**
 * sl_guard_free - free a set. Its streams and scratches must be done.
 */
void sl_guard_free(struct sl_guard_set *set);

/**
 * sl_guard_set_info - sizes and limits of @set.
 */
void sl_guard_set_info(const struct sl_guard_set *set,
		       struct sl_guard_set_info *info);

/**
 * sl_guard_state_size - bytes of state memory one stream of @set needs,
 * a multiple of SL_GUARD_STATE_ALIGN. Fixed per set: this is the bound.
 */
size_t sl_guard_state_size(const struct sl_guard_set *set);

/**
 * sl_guard_scratch_alloc - per-worker scratch for @set: Hyperscan scratch
 * and the worker's counters. One worker (thread) uses a scratch at a time.
 * Return the scratch or NULL (out of memory).
 */
struct sl_guard_scratch *sl_guard_scratch_alloc(const struct sl_guard_set *set);

/**
 * sl_guard_scratch_free - free a scratch (its counters go with it).
 */
void sl_guard_scratch_free(struct sl_guard_scratch *scratch);

/**
 * sl_guard_stream_init - start a stream of @set in @mem (@size bytes, at
 * least sl_guard_state_size(set), SL_GUARD_STATE_ALIGN aligned). Nothing
 * is allocated; to end a stream, forget its memory (after
 * sl_guard_finish() if it reached END). Return the stream, or NULL if
 * @mem is too small or misaligned.
 */
struct sl_guard_stream *sl_guard_stream_init(const struct sl_guard_set *set,
					     void *mem, size_t size);

/**
 * sl_guard_feed - feed @len bytes of a stream's text (a token or a
 * fragment; a character may be split across feeds). Released bytes and
 * matches go to @sink. @scratch must belong to the stream's set.
 *
 * Return SL_GUARD_VERDICT_PASS while the stream is open, or
 * SL_GUARD_VERDICT_BLOCK once it is blocked (by a block rule, the state
 * bound, a scanner error, or a feed after finish); a blocked stream
 * releases nothing more.
 */
enum sl_guard_verdict sl_guard_feed(struct sl_guard_stream *st,
				    struct sl_guard_scratch *scratch,
				    const void *text, size_t len,
				    const struct sl_guard_sink *sink);

/**
 * sl_guard_finish - END of the stream: complete a character in progress
 * (an incomplete one is an invalid character), run the final check
 * (end-anchored regexes included) and release everything still held.
 * Return the verdict as for sl_guard_feed(). Finishing twice is a no-op.
 */
enum sl_guard_verdict sl_guard_finish(struct sl_guard_stream *st,
				      struct sl_guard_scratch *scratch,
				      const struct sl_guard_sink *sink);

/**
 * sl_guard_stream_info - verdict, reason and held bytes of @st.
 */
void sl_guard_stream_info(const struct sl_guard_stream *st,
			  struct sl_guard_stream_info *info);

/**
 * sl_guard_counters_read - sum the counters of @n scratches of one set
 * into @set_out and, when not NULL, @rules_out (one entry per rule, in
 * compile order). Read while the workers are quiet or accept torn sums.
 */
void sl_guard_counters_read(struct sl_guard_scratch *const *scratch, unsigned n,
			    struct sl_guard_set_counters *set_out,
			    struct sl_guard_rule_counters *rules_out);

const char *sl_guard_counter_name(enum sl_guard_counter c);
const char *sl_guard_reason_text(enum sl_guard_reason r);

/**
 * sl_guard_normalize - normalise @len bytes of UTF-8 text at once into
 * @out (room for SL_GUARD_NORM_GROWTH x @len bytes), as a stream of that
 * text is: white space runs become one space, each invalid or incomplete
 * sequence one 0x1A (SUB). When @origin is not NULL (as many entries as
 * @out), origin[i] is the offset in @text of the character that produced
 * out[i]. Return the number of bytes written.
 */
size_t sl_guard_normalize(const void *text, size_t len, uint8_t *out,
			  uint32_t *origin);

/**
 * sl_guard_scan_literals - run the set's literal automaton over @len
 * normalised bytes from its start state; call @hit(ctx, rule index, from,
 * to) for every literal match (all actions). A stateless scan for
 * baselines and checks, not the stream path. Return the number of matches.
 */
size_t sl_guard_scan_literals(const struct sl_guard_set *set,
			      const uint8_t *norm, size_t len,
			      void (*hit)(void *ctx, unsigned rule,
					  uint64_t from, uint64_t to),
			      void *ctx);

/**
 * sl_guard_rule_of - the rule at @index as compiled (pattern and mask as
 * given, plus the literal's normalised form in @norm/@norm_len when not
 * NULL; regexes give norm_len 0). NULL if @index is out of range.
 */
const struct sl_guard_rule *sl_guard_rule_of(const struct sl_guard_set *set,
					     unsigned index,
					     const uint8_t **norm,
					     unsigned *norm_len);

#endif /* SL_GUARD_H */
