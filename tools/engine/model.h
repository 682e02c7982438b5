/* SPDX-License-Identifier: MIT */
/*
 * model.h - what the emulated stages of sluice-engine say: deterministic
 * text and scores computed from the input bytes alone.
 *
 * Every output is a pure function of (input text, --seed, corpus): never
 * of timing, arrival order or how the input was cut into fragments or
 * tokens, so a streaming run and a buffered run of the same requests give
 * byte-identical answers. Lengths and counts are drawn from distributions
 * fitted to ALTO Table 1 (EuroMLSys '24), keyed by a hash of the input;
 * under the low-rank length model (sl_model_say, "length models" below)
 * the LM roles' lengths depend on the prompt's features as well.
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

/* ---- length models: how many units an LM role answers with ---- */

/*
 * The LM roles a length model sizes. Each counts its output in units:
 * answer words, claim lines, query lines (the words of a claim or query
 * line stay Table 1 draws under either model).
 */
enum sl_model_role {
	SL_MODEL_ROLE_ANSWER,
	SL_MODEL_ROLE_CLAIMS,
	SL_MODEL_ROLE_QUERIES,
	SL_MODEL_ROLES
};

/* A role's stage id in the cost model's feature map (control/sl_cost.h)
 * and in its rows (the control API's CostRow.stage, 1..16): the role's
 * stage number in sluiced's fact-checking pipeline, answer 1, claims 2,
 * queries 3. */
#define SL_MODEL_STAGE_ID(role) ((uint32_t)(role) + 1)

/*
 * SL_MODEL_LENGTHS_TABLE (the default, `--length-model table`): units
 * drawn from ALTO's Table 1 keyed by the input's hash, as
 * sl_model_answer/claims/queries always did. SL_MODEL_LENGTHS_LOWRANK
 * (`--length-model lowrank`): units depend on the prompt through a
 * low-rank linear structure shared by the roles (paper A of
 * ../shared/docs/research/private_fedhpo.md, y = x^T B alpha + eta):
 *
 *   units = clamp(round(mean_r exp(c_r + phi^T B alpha_r + sigma_r eps)),
 *                 lo_r, hi_r)
 *
 * phi = sl_cost_features(SL_MODEL_STAGE_ID(r), prompt) (the cost
 * model's own feature map, SL_MODEL_LOWRANK_DIM values), B a fixed
 * SL_MODEL_LOWRANK_DIM x SL_MODEL_LOWRANK_K orthonormal matrix,
 * alpha_r = scale_r u_r with u_r a fixed unit vector per role,
 * eps ~ N(0, 1) drawn from the input's key (so a run is reproducible and
 * --seed changes eps only), c_r calibrated so that the mean over the
 * public prompts is Table 1's (model.c and tools/engine/README.md give
 * every constant's source).
 */
enum sl_model_lengths {
	SL_MODEL_LENGTHS_TABLE,
	SL_MODEL_LENGTHS_LOWRANK,
	SL_MODEL_LENGTHS_MAX
};

#define SL_MODEL_LOWRANK_DIM 64 /* = SL_COST_DIM (checked in model.c) */
/* The rank k: small against d = 64 and below the cost model's default
 * rank 8 (sl_cost_params_default), so its subspace can hold B. */
#define SL_MODEL_LOWRANK_K 4

/* One role's constants under SL_MODEL_LENGTHS_LOWRANK. */
struct sl_model_lowrank_role {
	const char *name;    /* "answer", "claims", "queries" */
	double mean;         /* Table 1's mean units */
	unsigned int lo, hi; /* the table model's clamp */
	double tau;          /* Table 1's spread of log units */
	double sigma;        /* noise: tau / 2 */
	double scale;        /* |alpha_r| (calibrated) */
	double offset;       /* c_r (calibrated) */
};

extern const struct sl_model_lowrank_role sl_model_lowrank[SL_MODEL_ROLES];

/**
 * sl_model_lengths_parse - "table" or "lowrank" into @out.
 * Return 0, or -EINVAL for any other name (@out untouched).
 */
int sl_model_lengths_parse(const char *name, enum sl_model_lengths *out);

/** sl_model_lengths_name - "table", "lowrank" (or "?"). */
const char *sl_model_lengths_name(enum sl_model_lengths lengths);

/**
 * sl_model_lowrank_basis - B, SL_MODEL_LOWRANK_DIM x SL_MODEL_LOWRANK_K
 * column-major (column j at + j * SL_MODEL_LOWRANK_DIM), orthonormal
 * columns.
 */
const double *sl_model_lowrank_basis(void);

/** sl_model_lowrank_dir - u_r, @role's unit k-vector (alpha_r / scale_r). */
const double *sl_model_lowrank_dir(enum sl_model_role role);

/**
 * sl_model_lowrank_terms - what the low-rank model reads of a prompt:
 * @z = B^T phi (SL_MODEL_LOWRANK_K values) of the @len bytes at @in as
 * @role's prompt, and @eps, the N(0, 1) draw of @key (sl_model_key of the
 * prompt under --seed). Return 0 or -EINVAL (@in NULL with @len > 0).
 */
int sl_model_lowrank_terms(enum sl_model_role role, const char *in, size_t len,
			   uint64_t key, double z[SL_MODEL_LOWRANK_K],
			   double *eps);

/**
 * sl_model_lowrank_log_units - the exponent before rounding:
 * ln(mean) + offset + scale (u_role . @z) + sigma @eps, with @p's
 * constants (sl_model_lowrank[role] in the engine; the calibration tries
 * others).
 */
double sl_model_lowrank_log_units(enum sl_model_role role,
				  const struct sl_model_lowrank_role *p,
				  const double z[SL_MODEL_LOWRANK_K],
				  double eps);

/** sl_model_lowrank_round - clamp(round(exp(@log_units)), lo, hi) of @p. */
unsigned int sl_model_lowrank_round(const struct sl_model_lowrank_role *p,
				    double log_units);

/**
 * sl_model_units - the units @role answers the prompt (@in, @len, keyed
 * @key) with under @lengths. Table: answer sl_model_sample(answer_words),
 * claims sl_model_n_claims(words of the prompt), queries
 * sl_model_sample(n_queries), exactly what sl_model_answer/claims/queries
 * use. Lowrank: sl_model_lowrank_round of the built-in constants.
 */
unsigned int sl_model_units(enum sl_model_role role,
			    enum sl_model_lengths lengths, const char *in,
			    size_t len, uint64_t key);

/**
 * sl_model_say_units - @role's text for the prompt (@in, @len) under
 * @key with exactly @units units (>= 1): answer a paragraph of @units
 * words, claims @units claim lines, queries @units query lines, each
 * drawn as sl_model_answer/claims/queries draw them.
 * Return 0, -EINVAL (@units 0, a bad role) or -ENOMEM.
 */
int sl_model_say_units(enum sl_model_role role, unsigned int units,
		       const char *in, size_t len, const struct sl_corpus *c,
		       uint64_t key, struct sl_text *out);

/**
 * sl_model_say - @role's answer to the prompt (@in, @len) under @lengths:
 * with SL_MODEL_LENGTHS_TABLE exactly sl_model_answer (which reads only
 * @key), sl_model_claims or sl_model_queries, byte for byte; with
 * SL_MODEL_LENGTHS_LOWRANK sl_model_say_units of sl_model_units.
 * Return 0, -EINVAL or -ENOMEM.
 */
int sl_model_say(enum sl_model_role role, enum sl_model_lengths lengths,
		 const char *in, size_t len, const struct sl_corpus *c,
		 uint64_t key, struct sl_text *out);

/* ---- public rows for the cost model ---- */

/* One row: a role's prompt and what the model answered it with. */
struct sl_model_row {
	enum sl_model_role role;
	uint32_t stage;     /* SL_MODEL_STAGE_ID(role) */
	const char *source; /* "tofu" or "corpus": where the chain began */
	const char *prompt; /* valid during the call */
	size_t prompt_len;
	unsigned int units;
	uint32_t tokens; /* output tokens (sl_tokenize_next), as the engine
			  * counts them for its loop */
	double z[SL_MODEL_LOWRANK_K]; /* sl_model_lowrank_terms */
	double eps;
};

/* Called once a row; return 0 to go on, anything else to stop (returned
 * by sl_model_public_rows). */
typedef int (*sl_model_row_fn)(void *arg, const struct sl_model_row *row);

struct sl_model_rows_spec {
	const struct sl_corpus *corpus;
	const char *const *questions; /* public questions (TOFU) */
	const size_t *question_lens;
	size_t n_questions;
	bool passages; /* also every line of the corpus as a text to claim */
	enum sl_model_lengths lengths;
	uint64_t seed; /* --seed: the keys */
	/* Constants for SL_MODEL_LENGTHS_LOWRANK, SL_MODEL_ROLES of them;
	 * NULL: sl_model_lowrank (the calibration passes others). */
	const struct sl_model_lowrank_role *lowrank;
};

/* The public questions: the TOFU benchmark's 300 forget and 300 retain
 * questions (tools/data/tofu; the full and retain90 files repeat them). */
#define SL_MODEL_TOFU_NFILES 2
extern const char *const sl_model_tofu_files[SL_MODEL_TOFU_NFILES];

struct sl_model_questions {
	const char **text; /* into the loaded files */
	size_t *len;
	size_t n;
	struct sl_model_replay *file[SL_MODEL_TOFU_NFILES];
};

/**
 * sl_model_tofu_load - the questions of sl_model_tofu_files in @dir, in
 * file order, each once (a question already read is skipped).
 * Return 0, or -1 with "PATH: what is wrong" in @err (@q then empty).
 */
int sl_model_tofu_load(struct sl_model_questions *q, const char *dir, char *err,
		       size_t errlen);

/** sl_model_tofu_free - free what sl_model_tofu_load kept (@q reusable). */
void sl_model_tofu_free(struct sl_model_questions *q);

/**
 * sl_model_public_rows - run the fact-checking pipeline's LM templates on
 * public prompts, as the engine's roles answer them: each question to the
 * answer role, its answer to the claims role, each claim line ("...\n",
 * as a `split: line` edge hands it on) to the queries role; then, with
 * @s->passages, each corpus line to the claims role and its claim lines
 * to the queries role. Every answer is one row to @fn, in that order.
 * Return 0, -ENOMEM, -EINVAL, or what @fn returned to stop.
 */
int sl_model_public_rows(const struct sl_model_rows_spec *s, sl_model_row_fn fn,
			 void *arg);

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
