/* SPDX-License-Identifier: MIT */
/*
 * gen.h - sluicegen's parts, private to tools/sluicegen.c (main and
 * signals) and tools/gen/: options (opts.c); the socket, loss repair and
 * report pieces both modes share (gen.c); --mode transform
 * (transform.c); --mode pipeline (pipeline.c) and its --trace (trace.c);
 * the DPDK mode, --dpdk-iface/--dpdk-vdev (dpdk.c). The tests in
 * tests/tools/test_gen*.c and test_trace.c call them directly.
 */
#ifndef SL_GEN_H
#define SL_GEN_H

#include <errno.h>
#include <float.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "sl_opt.h"
#include "sluice.h"
#ifndef SL_SOURCE_DIR
#define SL_SOURCE_DIR "."
#endif
#define GEN_DEFAULT_CORPUS SL_SOURCE_DIR "/tools/data/corpus.txt"
#define GEN_STAGES_MAX 16
#define GEN_IDLE_WAIT_NS 10000000ull /* longest sleep with nothing to do */
/* After the last request: how long to wait for sluiced's ACKs of our
 * requests (their END resends end within 620 ms). */
#define GEN_LINGER_NS 700000000ull
/* Streams tracked each way: open ones and those ended in the last
 * SL_RTX_LINGER_MS. */
#define GEN_REL_STREAMS 65536

enum gen_mode {
	GEN_MODE_TRANSFORM = 0, /* check every fragment through transforms */
	GEN_MODE_PIPELINE,      /* questions in, one result stream out */
	GEN_MODE_DPDK, /* own DPDK port: open-loop hop latency (dpdk.c) */
};

#define GEN_SWEEP_MAX 64

struct gen_opts {
	enum gen_mode mode;
	struct sockaddr_in server;
	struct sockaddr_in bind;
	uint32_t pipeline;
	uint16_t tenant;
	uint32_t streams;
	double rate;
	uint32_t frags;  /* F: fragments per request */
	uint32_t tokens; /* K: tokens per fragment */
	double duration;
	uint64_t requests; /* 0 = limited by duration */
	uint64_t drain_ms;
	uint64_t cancel_ms; /* pipeline: cut off at the drain's end, 0: no */
	enum sl_transform expect[GEN_STAGES_MAX];
	unsigned int n_expect;
	const char *expect_text;
	const char *corpus_path;
	uint64_t seed;
	bool json;
	bool check;
	bool quiet;
	/* --mode pipeline */
	uint32_t question_tokens;
	double request_rate; /* requests/s */
	bool poisson;
	double sweep[GEN_SWEEP_MAX];
	unsigned int n_sweep; /* 0: one run at request_rate */
	double sweep_duration;
	uint64_t sweep_pause_ms;
	const char *dump_path;
	const char *times_path; /* --times: per-request timeline */
	uint64_t id_prefix;     /* high 32 bits of request ids */
	bool have_id_prefix;
	const char *questions_path; /* --questions: JSON lines */
	const char *trace_path;     /* --trace: an Azure LLM trace (CSV) */
	double trace_speedup;       /* --trace-speedup: time divided by it */
	double trace_start;         /* --trace-start: trace seconds skipped */
	/* DPDK mode (dpdk.c) */
	const char *dpdk_iface;  /* net_af_packet on this interface */
	const char *dpdk_vdev;   /* or any vdev, e.g. net_af_xdp0,iface=IF */
	const char *lcores;      /* EAL -l */
	const char *file_prefix; /* EAL --file-prefix; NULL: sluicegen-PID */
	struct sockaddr_in instance; /* the stage instance it plays */
	uint8_t dst_mac[6];          /* sluiced's MAC, with have_dst_mac */
	bool have_dst_mac;
	double warmup;         /* seconds at the rate before samples count */
	uint32_t calibrate;    /* ARP round trips through sluiced (baseline) */
	bool find_capacity;    /* search the highest clean rate instead */
	double capacity_start; /* first rate tried */
	double capacity_max;   /* never try above */
	double capacity_trial; /* seconds per trial */
	double capacity_step;  /* stop when the bounds are this close (ratio) */
};

/* --questions: one record of the file. */
struct gen_question {
	char *id;   /* the record's "id" as text, for the dump */
	char *text; /* the question, valid UTF-8 */
	size_t len;
	uint32_t frags; /* fragments it takes at --tokens-per-fragment */
};

struct gen_questions {
	struct gen_question *q;
	size_t n;
};

/* ---- --trace (trace.c) ---- */

#define GEN_TRACE_HEADER "TIMESTAMP,ContextTokens,GeneratedTokens"
#define GEN_TRACE_ROWS_MAX (1u << 20)
/* Prompt tokens of a row (the traces' longest is 14,050): with the
 * directive's 4, at GEN_TRACE_TOKENS_PER_FRAG a fragment, the longest
 * prompt is 251 fragments, fewer than the 256 of a stream libsluice keeps
 * for sluiced's NACKs (SL_REL_TX_WINDOW_MAX): any of them can be sent
 * again. */
#define GEN_TRACE_CONTEXT_MAX 16000
/* Answer tokens of a row: what the length directive may ask. */
#define GEN_TRACE_GENERATED_MAX SL_MAX_TOKENS_MAX
#define GEN_TRACE_LINE_MAX 255            /* bytes, without the newline */
#define GEN_TRACE_SPAN_MAX_S (31 * 86400) /* last row after the first */
#define GEN_TRACE_TOKENS_PER_FRAG 64      /* --tokens-per-fragment */

struct gen_trace_row {
	uint64_t off_ns;    /* arrival, after the first row's */
	uint32_t context;   /* ContextTokens: the prompt's tokens */
	uint32_t generated; /* GeneratedTokens: the answer's (max_tokens) */
};

struct gen_trace {
	struct gen_trace_row *rows;
	size_t n;
};

/* Sends and empties @tx (a prompt longer than a burst); 0 or -errno. */
typedef int (*gen_flush_fn)(void *ctx, struct sl_burst *tx);

/**
 * gen_trace_load - read a trace: the header GEN_TRACE_HEADER (a UTF-8 BOM
 * before it allowed), then rows "YYYY-MM-DD HH:MM:SS[.fraction],C,G"
 * (a zone "Z" or "+HH:MM" may follow the time), LF or CRLF, blank lines
 * skipped; times never go back, the last within GEN_TRACE_SPAN_MAX_S of
 * the first; C in 1..GEN_TRACE_CONTEXT_MAX, G in
 * 1..GEN_TRACE_GENERATED_MAX; at most GEN_TRACE_ROWS_MAX rows of at most
 * GEN_TRACE_LINE_MAX bytes.
 * Return the rows, or NULL with "FILE:LINE: FIELD: what" in @err.
 */
struct gen_trace *gen_trace_load(const char *path, char *err, size_t errlen);
void gen_trace_free(struct gen_trace *t);
uint64_t gen_trace_at(const struct gen_trace *t, size_t first, size_t k,
		      double speedup);
int gen_trace_plan(const struct gen_trace *t, double speedup, double start_s,
		   double duration, uint64_t max, size_t *first, size_t *n);
size_t gen_trace_directive(uint32_t generated, char *buf, size_t cap);
int gen_trace_prompt(const struct sl_corpus *c, size_t q_off,
		     const struct gen_trace_row *row, uint32_t per_frag,
		     struct sl_stream_tx *stream, struct sl_burst *tx,
		     uint64_t now, gen_flush_fn flush, void *ctx);

struct gen_request {
	struct sl_stream_tx tx;
	uint64_t id;
	uint64_t first_send_ns;
	uint64_t last_ns; /* last send or receive: drives the drain timer */
	size_t tok_off;   /* first corpus token of the request */
	uint32_t sent;
	uint32_t received; /* distinct in-range fragments */
	uint32_t expected; /* lowest output seq not yet received */
	uint8_t *got;      /* F flags */
	bool open;
	bool bad; /* some fragment failed the content check */
};

struct gen_counters {
	uint64_t requests;
	uint64_t completed;
	uint64_t fragments;
	uint64_t fragments_received;
	uint64_t tokens_received;
	uint64_t lost;           /* requests neither completed nor aborted */
	uint64_t fragments_lost; /* their answer fragments never received */
	uint64_t aborted_by[SL_ABORT_MAX + 1]; /* last slot: unknown */
	uint64_t duplicated;
	uint64_t misordered;
	uint64_t corrupted;
	uint64_t aborted;
	uint64_t unknown;
	uint64_t late_aborts; /* an ABORT for a request already ended */
};

/* Open requests by id: linear probing, backward-shift deletion. */
struct gen_map {
	uint64_t *keys;
	int32_t *slot; /* -1: empty */
	uint32_t mask;
};

struct gen {
	struct gen_opts o;
	struct sl_corpus *corpus;
	struct sl_sock *sock;
	struct sl_rel *rel; /* loss repair of every stream, both ways */
	struct gen_request *req;
	uint32_t *free_slots;
	uint32_t n_free;
	uint32_t *sendq; /* ring of slots with fragments left to send */
	uint32_t sendq_head, sendq_len;
	struct gen_map map;
	uint32_t n_open;
	uint64_t id_prefix;
	uint64_t rng;
	struct gen_counters c;
	struct sl_hist frag_lat;
	struct sl_hist req_lat;
	uint64_t first_send_ns, last_send_ns;
	struct gen_questions *questions; /* --questions, else NULL */
	struct gen_trace *trace;         /* --trace, else NULL */
};

/* Set by SIGINT and SIGTERM (sluicegen.c): both modes stop sending. */
extern volatile sig_atomic_t gen_stop;

static inline uint64_t
splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Where delivered fragments go: a mode's accounting. */
typedef void (*gen_take_fn)(struct gen *g, void *ctx,
			    const struct sl_frag_view *v, uint64_t now);

/* ---- options (opts.c) ---- */
int gen_parse_args(struct gen_opts *o, int argc, char **argv);
int gen_parse_rates(const char *list, double *rates, unsigned int *n);

/* ---- shared by both modes (gen.c) ---- */
int gen_rel_rx(struct gen *g, gen_take_fn take, void *ctx, uint64_t *corrupted);
int gen_setup(struct gen *g);
int gen_rel_serve(struct gen *g, gen_take_fn take, void *ctx,
		  uint64_t *corrupted, uint64_t until, bool until_acked);
void gen_json_reasons(FILE *f, const uint64_t *by);
void gen_text_rel(const struct sl_rel_counters *c,
		  const struct sl_rel_counters *base);
double gen_us(uint64_t ns);
uint64_t gen_rel_tick(struct gen *g, gen_take_fn take, void *ctx);
void gen_teardown(struct gen *g);

/* ---- --mode transform (transform.c) ---- */
void gen_report(const struct gen *g, uint64_t start, uint64_t end);
int gen_run(struct gen *g, uint64_t *start_out, uint64_t *end_out);

/* ------------------------------------------------------------------ */
/* Pipeline mode                                                       */
/* ------------------------------------------------------------------ */

/*
 * --mode pipeline: every request is a question (a few corpus tokens) sent
 * as one stage-0 stream; the pipeline answers it with exactly one result
 * stream of depth 1 that ends with END (or ABORT). Requests arrive open
 * loop, Poisson or evenly spaced, on a schedule drawn before the run, so
 * that a run is the same for every rate but the time scale: arrival k of
 * rate R lies at (sum of the first k unit exponentials) / R.
 *
 * The result text is checked for sequence (duplicates, misorder, gaps),
 * not for content: what a pipeline answers is the engines' business.
 * --dump writes it per request index so that two runs (streaming and
 * buffered edges) can be compared byte for byte.
 */

#define GEN_RESULT_SEQ_MAX (1u << 20) /* longer results are corrupt */

enum gen_preq_state {
	GEN_PREQ_PENDING = 0, /* not sent yet */
	GEN_PREQ_OPEN,        /* sent, result not complete */
	GEN_PREQ_DONE,        /* END received and no gap */
	GEN_PREQ_ABORTED,     /* a result fragment carried ABORT */
	GEN_PREQ_LOST,        /* neither done nor aborted, even once cut off */
};

/* One received fragment of a result: where its text lies in the buffer. */
struct gen_piece {
	uint32_t seq;
	uint32_t off;
	uint32_t len;
};

struct gen_preq {
	uint64_t at_ns;       /* scheduled arrival, from the start of the run */
	uint64_t sent_ns;     /* first fragment of the question sent */
	uint64_t first_rx_ns; /* first fragment of the result received */
	uint64_t done_ns;
	size_t q_off;     /* first corpus token of the question */
	uint32_t q_frags; /* fragments of the question: its END is the last */
	uint32_t tokens;  /* result tokens received */
	uint8_t state;    /* enum gen_preq_state */
	uint8_t abort_reason;
	bool have_end;
	uint32_t end_seq;
	uint32_t expected; /* lowest seq not yet received */
	uint64_t *seen;    /* bitmap of received seqs */
	uint32_t seen_words;
	struct gen_piece *pieces;
	uint32_t n_pieces, cap_pieces;
	bool pieces_sorted;
	char *text; /* result text, in arrival order until done */
	uint32_t text_len, text_cap;
};

struct gen_prun_counters {
	uint64_t requests; /* sent */
	uint64_t completed;
	uint64_t aborted;
	uint64_t aborted_by[SL_ABORT_MAX + 1]; /* last slot: unknown reason */
	/* Open when the drain ended: cancelled (ABORT CLIENT to sluiced). */
	uint64_t cut_off;
	uint64_t lost; /* no END nor ABORT, not even once cut off */
	uint64_t duplicated;
	uint64_t misordered;
	uint64_t corrupted; /* unparsable, wrong pipeline/depth, seq past END */
	uint64_t unknown;   /* a request id this run did not send */
	uint64_t fragments;
	uint64_t fragments_received;
	uint64_t result_bytes;
	uint64_t result_tokens; /* of the completed results */
};

/* One run at one request rate. */
struct gen_prun {
	double rate;
	uint32_t index; /* position in the sweep, 0 without one */
	uint64_t id_hi; /* high 32 bits of every request id of the run */
	uint64_t n;     /* requests scheduled */
	struct gen_preq *req;
	uint64_t next; /* next request to send */
	uint64_t n_open;
	struct gen_prun_counters c;
	struct sl_hist lat;       /* question sent -> result complete */
	struct sl_hist first_lat; /* question sent -> first result fragment */
	uint64_t start_ns, end_ns;
	uint64_t first_send_ns, last_send_ns, last_done_ns;
	uint64_t send_lag_max_ns; /* latest send after its due time */
	size_t trace_first;       /* --trace: the run's first row */
	const struct gen_questions *questions; /* --questions: for the dump */
	struct sl_rel_counters rel_base; /* repair counters at the start */
};

/* A double in (0, 1] from 53 random bits: never 0, so log() is finite. */

/* One line of a per-request file (the dump, the times) for request @i. */
typedef void (*gen_line_fn)(FILE *f, const struct gen_prun *run, uint64_t i);

int gen_run_file_write(const struct gen_prun *run, const char *path,
		       gen_line_fn line);
void gen_dump_line(FILE *f, const struct gen_prun *run, uint64_t i);
void gen_prun_free(struct gen_prun *run);
void gen_times_line(FILE *f, const struct gen_prun *run, uint64_t i);
struct gen_questions *gen_questions_load(const char *path,
					 uint32_t tokens_per_frag);
size_t gen_question_offset(uint64_t seed, uint64_t index, size_t n_tokens);
int gen_prun_poll_rx(struct gen *g, struct gen_prun *run);
int gen_prun_question_text(struct gen *g, const struct gen_question *q,
			   struct sl_stream_tx *stream, struct sl_burst *tx,
			   uint64_t now);
double gen_arrival_gap(uint64_t *rng, double rate, bool poisson);
void gen_dump_escape(FILE *f, const char *text, size_t len);
void gen_questions_free(struct gen_questions *qs);
void gen_prun_take(struct gen *g, struct gen_prun *run,
		   const struct sl_frag_view *vp, uint64_t now);
uint64_t *gen_arrivals(double rate, bool poisson, uint64_t seed,
		       double duration, uint64_t max, uint64_t *n);
int gen_pipeline_main(struct gen *g);

/* ------------------------------------------------------------------ */
/* DPDK mode (dpdk.c)                                                  */
/* ------------------------------------------------------------------ */

/**
 * gen_dpdk_main - the DPDK mode: start EAL (@argv0 as its program name)
 * and the port of @o, play client and instance of a one-stage pipeline
 * through sluiced, and report per-hop latency (or, with find_capacity,
 * the highest rate every fragment crosses without loss or repair).
 * Return: the exit status (0; 1 on a failure, or --check and damage).
 */
int gen_dpdk_main(const struct gen_opts *o, const char *argv0);
uint32_t gen_question_frags(const char *q, size_t len, uint32_t k);

#endif /* SL_GEN_H */
