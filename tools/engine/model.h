/* SPDX-License-Identifier: MIT */
/*
 * model.h - what the emulated stages of sluice-engine say: deterministic
 * text and scores computed from the input bytes alone.
 *
 * Every output is a pure function of (input text, --seed, corpus): never
 * of timing, arrival order or how the input was cut into fragments or
 * tokens, so a streaming run and a buffered run of the same requests give
 * byte-identical answers. Lengths and counts are drawn from distributions
 * fitted to ALTO Table 1 (EuroMLSys '24), keyed by a hash of the input.
 */
#ifndef SL_ENGINE_MODEL_H
#define SL_ENGINE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice.h"

/*
 * A count drawn as clamp(round(X), lo, hi) with X normal(mu, sigma), or
 * lognormal (exp of that normal) when log is set. mu/sigma are fitted so
 * that the clamped, rounded count has the target mean and std (model.c).
 */
struct sl_model_dist {
	double mu;
	double sigma;
	bool log;
	unsigned int lo;
	unsigned int hi;
};

extern const struct sl_model_dist sl_model_answer_words; /* 62.5 +- 57.2 */

/**
 * sl_model_n_claims - claims in a text of @words words:
 * clamp(round((words / 8.6)^0.65), 1, 8). The two constants are fitted to
 * Table 1: over its answer lengths (sl_model_answer_words) this gives
 * 3.3 +- 1.8 claims an answer, as Table 1 does. Claims grow with the
 * text, so a sentence on its own (a `split: sentence` edge) gives its
 * share rather than a whole answer's.
 */
unsigned int sl_model_n_claims(unsigned int words);
extern const struct sl_model_dist sl_model_claim_words; /* 9.8 +- 3.5 */
extern const struct sl_model_dist sl_model_n_queries;   /* 2.5 +- 1.3 */
extern const struct sl_model_dist sl_model_query_words; /* 5.5 +- 3.1 */

/**
 * sl_model_key - 64-bit key of @len bytes of text under @seed: FNV-1a 64
 * of the bytes, then mixed with the seed. Equal texts, equal keys.
 */
uint64_t sl_model_key(const char *text, size_t len, uint64_t seed);

/**
 * sl_model_draw - the @draw-th pseudo-random 64-bit value of @key
 * (splitmix64 of key + draw): independent draws without any state.
 */
uint64_t sl_model_draw(uint64_t key, uint32_t draw);

/**
 * sl_model_sample - a count from @d, using draws @draw and @draw + 1 of
 * @key (Box-Muller).
 */
unsigned int sl_model_sample(const struct sl_model_dist *d, uint64_t key,
			     uint32_t draw);

/**
 * sl_model_is_word_byte - true for bytes of a word: ASCII letters,
 * digits, '_' and any non-ASCII byte (the corpus tokenizer's classes).
 */
bool sl_model_is_word_byte(unsigned char c);

/**
 * sl_model_answer - the answer role: one paragraph of
 * sl_model_sample(answer_words) words of corpus text from the first line
 * after a token chosen by @key, line breaks folded into spaces, ending
 * with "\n".
 * Return 0 or -ENOMEM.
 */
int sl_model_answer(const struct sl_corpus *c, uint64_t key,
		    struct sl_text *out);

/**
 * sl_model_claims - the claims role: sl_model_n_claims(words of the
 * input) claims, one a line, each a window of consecutive words of the
 * input (@in, @len)
 * followed by ".\n". Windows follow each other from the first word and
 * wrap around; an input without words borrows corpus words. A word is a
 * run between whitespace, trimmed of leading and trailing punctuation.
 * Return 0 or -ENOMEM.
 */
int sl_model_claims(const char *in, size_t len, const struct sl_corpus *c,
		    uint64_t key, struct sl_text *out);

/**
 * sl_model_queries - the queries role: sl_model_sample(n_queries) search
 * queries, one a line ending in "\n", each of sl_model_sample(query_words)
 * words: the first half the claim's next words (from its first, wrapping
 * around), the rest corpus words from a token chosen by @key.
 * Return 0 or -ENOMEM.
 */
int sl_model_queries(const char *in, size_t len, const struct sl_corpus *c,
		     uint64_t key, struct sl_text *out);

/* ---- the length directive (sluice.h, SL_MAX_TOKENS_KEY) ---- */

struct sl_model_directive {
	uint32_t max_tokens; /* the answer's length, in tokens */
	uint32_t tokens;     /* tokens of the line itself (sl_tokenize_next) */
	size_t len;          /* bytes of the line, its newline included */
};

/**
 * sl_model_directive_parse - read the length directive that may open the
 * @len bytes at @in: a first line "max_tokens:", spaces or tabs, N in
 * decimal (1 to SL_MAX_TOKENS_MAX), spaces or tabs, then "\n", "\r\n"
 * or the end of the input. Case and spelling are exact; nothing may
 * come before it.
 * Return: 0 when @in does not open with "max_tokens:" (no directive:
 * @d untouched), 1 with @d filled, -EINVAL when it does but the rest of
 * the line is not a number in range.
 */
int sl_model_directive_parse(const char *in, size_t len,
			     struct sl_model_directive *d);

/**
 * sl_model_answer_tokens - the answer role's text for a directive of @n
 * tokens: the paragraph sl_model_answer() would write under @key,
 * continued past its drawn length as far as needed (corpus text on from
 * where it goes, line breaks folded) and cut after exactly @n tokens of
 * sl_tokenize_next. An answer cut short ends where its last token does,
 * as a model stopped by max_tokens does: no "\n" unless that token is.
 * Return 0, -ENOMEM, or -ENOSPC if the corpus cannot give @n tokens.
 */
int sl_model_answer_tokens(const struct sl_corpus *c, uint64_t key, uint32_t n,
			   struct sl_text *out);

/**
 * sl_model_claims_tokens / sl_model_queries_tokens - likewise for the
 * claims and queries roles: their lines as sl_model_claims() and
 * sl_model_queries() draw them, as many more as needed, cut after exactly
 * @n tokens. Return 0, -ENOMEM or -ENOSPC.
 */
int sl_model_claims_tokens(const char *in, size_t len,
			   const struct sl_corpus *c, uint64_t key, uint32_t n,
			   struct sl_text *out);
int sl_model_queries_tokens(const char *in, size_t len,
			    const struct sl_corpus *c, uint64_t key, uint32_t n,
			    struct sl_text *out);

/* ---- retrieval: BM25, query encoder, reranker ---- */

#define SL_MODEL_DOCS 50 /* candidate documents scored per query */
#define SL_MODEL_TOP 5   /* documents a retrieval stage answers with */
/* "doc<id>:<score>" with id < 2^32 and score < 2^32 hundredths. */
#define SL_MODEL_DOC_TEXT_MAX 32

struct sl_model_doc {
	uint32_t id;
	uint32_t score; /* hundredths: printed as score / 100 with 2 decimals */
};

/*
 * Streaming BM25 stand-in: each completed word adds a per-(word, doc)
 * score in 0..999 to every candidate. Words are cut on the text, not on
 * tokens, so the scores do not depend on how the query was tokenized.
 */
struct sl_model_bm25 {
	uint32_t score[SL_MODEL_DOCS];
	uint64_t seed;
	uint32_t word_hash; /* FNV-1a 32 of the lowercased word so far */
	uint32_t word_len;
	uint32_t words;
};

void sl_model_bm25_init(struct sl_model_bm25 *b, uint64_t seed);
/* Feed @len more bytes of the query; a word may span calls. */
void sl_model_bm25_feed(struct sl_model_bm25 *b, const char *text, size_t len);
/* End of query: count the last word, write the top SL_MODEL_TOP documents
 * (score descending, id ascending on ties) to @top. */
void sl_model_bm25_top(struct sl_model_bm25 *b, struct sl_model_doc *top);

/**
 * sl_model_doc_format - write "doc<id>:<score>" (score with 2 decimals)
 * to @buf of SL_MODEL_DOC_TEXT_MAX bytes; return its length.
 */
size_t sl_model_doc_format(const struct sl_model_doc *d, char *buf);

/**
 * sl_model_embed_step / sl_model_embed_final - the encoder's embedding
 * id: FNV-1a 32 over the text (start with @h = SL_MODEL_EMBED_INIT, feed
 * any number of pieces), then mixed with @seed.
 */
#define SL_MODEL_EMBED_INIT 2166136261u
uint32_t sl_model_embed_step(uint32_t h, const char *text, size_t len);
uint32_t sl_model_embed_final(uint32_t h, uint64_t seed);

/**
 * sl_model_rerank - the reranker: parse every "doc<id>:<score>" and
 * "emb:<hex>" in the @n inputs (@texts/@lens, in the caller's fixed
 * order), give each document the sum of its retrieval scores plus a
 * 0..999 term mixing its id with the embeddings, and write the best
 * (up to @max, score descending, id ascending) to @out.
 * Return: how many documents were written.
 */
unsigned int sl_model_rerank(const char *const *texts, const size_t *lens,
			     unsigned int n, uint64_t seed,
			     struct sl_model_doc *out, unsigned int max);

/* ---- replay: recorded answers streamed back (--role replay) ---- */

/* One record of a replay file: a question and the answer to stream. */
struct sl_model_replay_entry {
	char *id; /* the record's "id" as text ("" without one) */
	char *question;
	size_t question_len;
	char *generated;
	size_t generated_len;
};

/* A replay file loaded and indexed by question text. */
struct sl_model_replay {
	struct sl_model_replay_entry *e;
	size_t n, cap;
	uint32_t *slot; /* index + 1 of the entry (0: empty), open addressing */
	uint32_t mask;
};

#define SL_MODEL_REPLAY_TEXT_MAX (256u * 1024u) /* bytes of one field */
#define SL_MODEL_REPLAY_ENTRIES_MAX (1u << 20)

/**
 * sl_model_replay_load - read a JSON Lines file (sl_jsonl_load): one
 * object a line with string fields "question" and "generated" (others,
 * such as "truth", are read over; "id", a string or an integer, is kept
 * as text). Blank lines are skipped. Both texts are at most
 * SL_MODEL_REPLAY_TEXT_MAX bytes; a question may appear once.
 * Return the index, or NULL with "FILE:LINE: what is wrong" in @err.
 */
struct sl_model_replay *sl_model_replay_load(const char *path, char *err,
					     size_t errlen);

/**
 * sl_model_replay_find - the entry whose question is exactly the @len
 * bytes at @q, or NULL.
 */
const struct sl_model_replay_entry *
sl_model_replay_find(const struct sl_model_replay *r, const char *q,
		     size_t len);

void sl_model_replay_free(struct sl_model_replay *r);

/*
 * How a replayed answer is cut into tokens and fragments. Token sizes in
 * bytes are clamp(round(X), min, max), X log-normal with median
 * sqrt(min x max) and sigma ln(max / min) / 4 (for 1..12: median 3.5,
 * mean about 4.2 bytes, near Llama-2's BPE on English text); a piece is
 * then shortened to end on a UTF-8 character boundary, or lengthened to
 * the end of the character when not even one fits (so a token exceeds
 * max only for a character longer than max). Fragments carry 1 ..
 * SL_MODEL_REPLAY_FRAG_TOKENS tokens, uniformly drawn.
 */
#define SL_MODEL_REPLAY_FRAG_TOKENS 4
#define SL_MODEL_REPLAY_CHUNK_MAX 256 /* largest --chunk-max */

struct sl_model_chunker {
	const char *text;
	size_t len;
	size_t pos;    /* first byte not yet cut */
	uint64_t key;  /* draws come from this key only */
	uint32_t draw; /* next draw */
	unsigned int min, max;
};

/**
 * sl_model_chunker_init - cut @len bytes at @text (valid UTF-8) with the
 * draws of @key (sl_model_key of the question under --seed).
 */
void sl_model_chunker_init(struct sl_model_chunker *c, const char *text,
			   size_t len, uint64_t key, unsigned int min,
			   unsigned int max);

/**
 * sl_model_chunker_frag - the next fragment: up to
 * SL_MODEL_REPLAY_FRAG_TOKENS pieces, their offsets and lengths in
 * @off/@len. Return the number of pieces (0 once the text is used up).
 * The sequence depends on (text, key, min, max) only.
 */
unsigned int sl_model_chunker_frag(struct sl_model_chunker *c, size_t *off,
				   size_t *len);

#endif /* SL_ENGINE_MODEL_H */
