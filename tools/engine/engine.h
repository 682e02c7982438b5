/* SPDX-License-Identifier: MIT */
/*
 * engine.h - state shared by the parts of sluice-engine: the stream table
 * and event loop (sluice-engine.c), the timed roles (roles.c), the timer
 * heap (timer.c) and the content model (model.c).
 */
#ifndef SL_ENGINE_H
#define SL_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "lm_loop.h"
#include "model.h"
#include "sluice.h"
#include "timer.h"
#include "upstream.h"

/* What the instance emulates. transform: per-fragment token transform,
 * no timing (the original emulator). answer .. rerank follow ALTO's
 * fact-checking pipeline, one role per stage. replay is an LM stage that
 * answers each question with a recorded answer (--data). openai is not an
 * emulation: each answer comes from an OpenAI-compatible model server
 * (--upstream, upstream.h), the instance a bridge to it. */
#define SL_ENGINE_ROLES(_)                                                     \
	_(TRANSFORM, "transform")                                              \
	_(ANSWER, "answer")                                                    \
	_(CLAIMS, "claims")                                                    \
	_(QUERIES, "queries")                                                  \
	_(BM25, "bm25")                                                        \
	_(ENCODER, "encoder")                                                  \
	_(RERANK, "rerank")                                                    \
	_(REPLAY, "replay")                                                    \
	_(OPENAI, "openai")

enum sl_engine_role {
#define SL_ENGINE_ROLE_ENUM(name, text) SL_ENGINE_ROLE_##name,
	SL_ENGINE_ROLES(SL_ENGINE_ROLE_ENUM)
#undef SL_ENGINE_ROLE_ENUM
		SL_ENGINE_ROLE_MAX
};

#define SL_ENGINE_JOIN_MAX 8     /* inputs one join waits for, at most */
#define ENGINE_TABLE_SIZE 65536u /* stream table slots, power of two */

#define SL_ENGINE_STAGE_TRANSFORMS 17 /* stage ids 1..16 (SL_MAX_STAGES) */

/* The timing model, durations already multiplied by --time-scale. */
struct sl_engine_model {
	struct sl_lm_params lm; /* LM: the iteration loop (lm_loop.h) */
	uint32_t prefix_tokens; /* LM: the stage's few-shot prompt */
	/* --prefix-tokens S:N,...: stage S's prompt instead (a pool member
	 * serves several stages, each with its own few-shot prompt) */
	bool prefix_by_stage;
	uint32_t stage_prefix_tokens[SL_ENGINE_STAGE_TRANSFORMS];
	bool serial_children;   /* LM: one answer a request at a time */
	uint64_t token_ns;      /* bm25: service per input token */
	uint64_t item_ns;       /* encoder, rerank: service per item
					* (encoder: per batch) */
	uint64_t item_batch_ns; /* encoder: and per item of a batch */
	unsigned int batch;     /* encoder: items served at once */
	unsigned int max_batch; /* LM: sequences in the loop at once
					* (lm.max_num_seqs) */
	unsigned int workers;   /* others: items served at once */
	unsigned int max_queue; /* waiting work before OVERLOAD */
	uint64_t max_wait_ns;   /* oldest waiting work before
					* OVERLOAD; 0: no bound */
	unsigned int join;      /* rerank: from_stages to wait for */
	uint64_t seed;
	enum sl_model_lengths lengths; /* --length-model (model.h) */
};

struct sl_job;
struct sl_http;
struct sl_http_req;

/* Key of the stream table: one input stream, or (join set) the join of
 * all input streams of one ancestry at a joining stage. */
struct engine_key {
	uint64_t ancestry[SL_ANCESTRY_MAX];
	uint32_t pipeline;
	uint16_t stage;
	uint16_t from_stage;
	uint8_t depth;
	uint8_t join;
};

struct engine_stream {
	struct engine_key key;
	uint64_t last_ns;
	uint64_t seen_ahead; /* bit i: seq expected + 1 + i arrived */
	struct sl_job *job;  /* timed roles: the answer being prepared */
	uint32_t expected;   /* lowest seq not yet arrived */
	uint32_t out_seq;
	uint32_t fragments;
	uint8_t used;
};

struct engine_stats {
	uint64_t streams;
	uint64_t streams_completed;
	uint64_t fragments_in;
	uint64_t fragments_out;
	uint64_t tokens_in;
	uint64_t misordered;
	uint64_t duplicates;
	uint64_t incomplete;
	uint64_t aborted_in;
	uint64_t invalid;
	uint64_t untracked; /* new streams refused by a full table */
	uint64_t tx_dropped;
	/* timed roles */
	uint64_t requests_served; /* output streams completed (END sent) */
	uint64_t tokens_out;
	uint64_t queue_max;
	uint64_t markers; /* END|CHILDREN announcements seen */
	uint64_t children_announced;
	uint64_t overload_aborts;
	uint64_t expired;
	uint64_t too_long; /* prompts over the context limit */
	uint64_t join_duplicates;
	uint64_t busy_ns; /* modelled service (LM: time with an iteration) */
	uint64_t batches; /* encoder, rerank: services (each of a batch) */
	uint64_t ttft_ns_sum;
	uint64_t ttft_count;
	uint64_t tpot_ns_sum;
	uint64_t tpot_count;
	uint64_t output_ns_sum;     /* LM: input END to answer END, summed */
	uint64_t lines_out;         /* LM: answer lines (claims, queries) */
	uint64_t length_directives; /* LM: prompts with "max_tokens: N" */
	uint64_t bad_directives;    /* LM: ... with N not 1..the maximum */
	uint64_t replay_unknown;    /* replay: questions not in --data */
	/* liveness */
	uint64_t pause_changes;    /* PAUSE set or cleared */
	uint64_t shutdown_aborts;  /* ABORT SHUTDOWN sent at SIGTERM */
	uint64_t shutdown_dropped; /* fragments that came during shutdown */
	/* --gpu-attach (gpu_attach.h): input taken from token rings */
	uint64_t gpu_streams_taken; /* streams taken and handed on */
	uint64_t gpu_fragments_in;  /* fragments rebuilt from them */
	uint64_t gpu_tokens_in;
	uint64_t gpu_aborted_in;    /* ... ending in ABORT (the stream's, or
				     * TOO_LONG for the engine's buffers) */
	uint64_t gpu_attach_errors; /* files refused, slots that do not add
				     * up, the directory unreadable */
};

/* A FIFO of jobs waiting for a batch slot or a worker. */
struct sl_job_fifo {
	struct sl_job *head;
	struct sl_job *tail;
	uint64_t len;
};

/* A pool member's counters for the streams of one stage (--stage-roles). */
struct engine_stage_stats {
	uint64_t streams;         /* input streams */
	uint64_t requests_served; /* answers completed (END sent) */
	uint64_t tokens_out;
	uint64_t lines_out;
	uint64_t ttft_ns_sum;
	uint64_t ttft_count;
	uint64_t output_ns_sum; /* input END to answer END, summed */
};

struct sl_prom_server;
struct sl_engine_gpu;

struct engine {
	const char *name;
	const char *stats_file;
	enum sl_transform transform;
	/* --transform S:NAME,...: the transform of stage S's streams (an
	 * instance of a pool serves several stages); 0: e->transform. */
	uint8_t stage_transform[SL_ENGINE_STAGE_TRANSFORMS];
	enum sl_engine_role role;
	/* --stage-roles S:ROLE,...: one LM instance of a pool answers each
	 * stage's streams with that stage's role (role + 1; 0: a stage it
	 * does not serve, refused with ABORT ENGINE), all of them through
	 * the one iteration loop, KV budget and prefix cache. role is then
	 * the first listed stage's, for what every LM role shares. */
	bool pooled;
	uint8_t stage_role[SL_ENGINE_STAGE_TRANSFORMS];
	struct engine_stage_stats st_stage[SL_ENGINE_STAGE_TRANSFORMS];
	uint64_t unknown_stage; /* pooled: streams of a stage not served */
	double time_scale;
	bool quiet;
	struct sl_sock *sock;
	struct sl_rel *rel; /* loss repair, ACKs, PROBE answers */
	struct sl_burst *tx;
	struct engine_stream *table;
	uint32_t n_streams;
	struct engine_stats st;
	/* timed roles */
	struct sl_engine_model m;
	struct sl_corpus *corpus;
	struct sl_timer_heap timers;
	struct sl_job_fifo waiting;
	unsigned int active;       /* LM: sequences in the loop; others: busy */
	struct sl_lm lm;           /* LM: the iteration loop */
	struct sl_lm_event *lm_ev; /* LM: one iteration's tokens */
	bool lm_armed;             /* LM: the loop's timer is in the heap */
	uint64_t text_bytes;       /* input text held by open streams */
	struct sl_http *http; /* --http: OpenAI-compatible serving (http.c) */
	/* openai: the server, the prompt around the input ("{input}"), the
	 * answers being streamed (linked by sl_job.next) */
	struct sl_upstream_cfg up_cfg;
	struct sl_upstream *up;
	const char *prompt;             /* NULL: the input alone */
	char *prompt_owned;             /* --config's copy, freed at exit */
	struct sl_prom_server *metrics; /* --metrics: NULL, none */
	struct sl_job *up_running;
	/* replay */
	struct sl_model_replay *replay;
	unsigned int chunk_min; /* bytes per token, --chunk-min/--chunk-max */
	unsigned int chunk_max;
	struct sl_engine_gpu *gpu; /* --gpu-attach: NULL, none */
};

/* streams.c: the stream table */

/** engine_key_of - the table key of fragment header @h. */
void engine_key_of(struct engine_key *k, const struct sl_frag_hdr *h);

/**
 * engine_lookup - find the entry of @k, or claim one (*@created set).
 * Return NULL when the table is full. Entries move on removal: never
 * keep a pointer to one across engine_remove().
 */
struct engine_stream *engine_lookup(struct engine *e,
				    const struct engine_key *k, bool *created);

/**
 * engine_find - the entry of @k, or NULL; claims nothing.
 */
struct engine_stream *engine_find(struct engine *e, const struct engine_key *k);

/**
 * engine_remove - free the entry @s (its job is not touched).
 */
void engine_remove(struct engine *e, struct engine_stream *s);

/**
 * engine_track_seq - account for the arrival of @seq on @s. Return false
 * for a duplicate, which must not be answered.
 */
bool engine_track_seq(struct engine *e, struct engine_stream *s, uint32_t seq);

/**
 * engine_expire - end (sl_role_expire) and free every stream idle for 10 s.
 */
void engine_expire(struct engine *e, uint64_t now);

/* sluice-engine.c */

/**
 * engine_tx_slot - the next free datagram of the transmit burst, flushing
 * the burst first when it is full. Never NULL.
 * engine_tx_commit - count the datagram just built as ready to send.
 */
struct sl_dgram *engine_tx_slot(struct engine *e);
void engine_tx_commit(struct engine *e, struct sl_dgram *d);

/**
 * engine_input - one valid input fragment @v at @now, any role: what
 * sl_rel delivers in sequence, or what gpu_attach.c rebuilds from a
 * token ring. Answers go to @v->src.
 */
void engine_input(struct engine *e, const struct sl_frag_view *v, uint64_t now);

/* roles.c */

const char *sl_engine_role_name(enum sl_engine_role r);

/**
 * sl_engine_role_of - the role that answers streams of @stage: the
 * stage's own with --stage-roles (SL_ENGINE_ROLE_MAX for a stage not
 * served), else the instance's.
 */
enum sl_engine_role sl_engine_role_of(const struct engine *e, uint16_t stage);

/**
 * sl_engine_prefix_key - the prefix-cache key of stage @stage's few-shot
 * prompt: the stage id in a pool (one prompt a stage), role + 1 otherwise
 * (one prompt an instance). Below SL_LM_PREFIX_KEYS: counted apart.
 * sl_engine_prefix_tokens - that prompt's length in tokens.
 */
uint64_t sl_engine_prefix_key(const struct engine *e, uint16_t stage);
uint32_t sl_engine_prefix_tokens(const struct engine *e, uint16_t stage);
int sl_engine_role_by_name(const char *name, enum sl_engine_role *out);
bool sl_engine_role_is_lm(enum sl_engine_role r);

/**
 * sl_role_handle - take one valid input fragment of a timed role at @now:
 * accumulate it, start work at END, answer ABORT. Markers are handled
 * by the caller.
 */
void sl_role_handle(struct engine *e, const struct sl_frag_view *v,
		    uint64_t now);

/**
 * sl_role_run_timers - fire every modelled event due at @now (emitting
 * tokens and answers). Return the next deadline (UINT64_MAX: none).
 */
uint64_t sl_role_run_timers(struct engine *e, uint64_t now);

/**
 * sl_role_expire - the stream of @s went idle: answer ABORT EXPIRED if
 * its answer was not started and release its job. The caller removes @s.
 */
void sl_role_expire(struct engine *e, struct engine_stream *s);

/**
 * sl_role_pause - whether the instance should ask for no new streams at
 * @now: set when its admission queue is at its limit (--max-queue
 * waiting and every batch slot or worker busy) or its oldest waiting
 * work has waited --max-wait-ms, cleared once the work in it has fallen
 * a quarter below that and the oldest has waited less than half of it
 * (@paused: the state now). Never for the transform role, which has no
 * queue.
 */
bool sl_role_pause(const struct engine *e, bool paused, uint64_t now);

/**
 * sl_role_pause_due - when sl_role_pause() may change by the passing of
 * time alone (the oldest waiting work reaching --max-wait-ms, or half
 * of it while @paused); UINT64_MAX: not by time.
 */
uint64_t sl_role_pause_due(const struct engine *e, bool paused);

/**
 * sl_role_shutdown - answer ABORT SHUTDOWN on the output of every job
 * not answered yet (input still arriving, queued, running). Return how
 * many were sent.
 */
unsigned int sl_role_shutdown(struct engine *e);

/**
 * sl_role_init - reserve the timers of --max-batch / --workers running
 * jobs. Return 0 or -ENOMEM.
 * sl_role_fini - release every job and timer (at exit).
 */
/**
 * sl_role_http_start - an HTTP request's prompt (@len bytes) as a job of
 * the LM role, answered through sl_http_send(@q) (http.c). An other role,
 * or no memory: @q is answered ABORT at once and -EINVAL / -ENOMEM
 * returned.
 */
int sl_role_http_start(struct engine *e, struct sl_http_req *q,
		       const char *prompt, size_t len, uint64_t now);
int sl_role_init(struct engine *e);
void sl_role_fini(struct engine *e);

#endif /* SL_ENGINE_H */
