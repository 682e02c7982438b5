/* SPDX-License-Identifier: MIT */
/*
 * sluicegen - pktgen-style client: opens requests, streams corpus tokens
 * to sluiced at a controlled rate and checks every byte that comes back.
 *
 * Each request is one stage-0 stream of F fragments of K consecutive
 * corpus tokens. The answer that returns from the pipeline's last stage
 * must carry, in output fragment i, exactly the tokens of input fragment
 * i passed through the transforms given by --expect, with END on the
 * last: anything else is counted (lost, duplicated, misordered,
 * corrupted, aborted, unknown). Latency is measured per fragment from
 * the send_ns that every stage copies through, and per request.
 *
 * Single-threaded: a token bucket on CLOCK_MONOTONIC paces sends, and
 * the waits between sends are ppoll()s on the socket so that replies are
 * read while pacing.
 *
 * Every hop repairs its own losses (proto/WIRE.md, "Loss repair and
 * liveness"): everything sent and received goes through libsluice's
 * sl_rel, which keeps copies of the requests for sluiced's NACKs and
 * resends their END until ACKed, and delivers each result stream in
 * order and once, NACKing gaps and ACKing its END. A request is "lost"
 * when it is neither completed nor aborted within --drain-ms; aborts
 * are counted by reason, and the repair counters (NACKs, resends, ...)
 * are reported with the rest (--json: "rel").
 *
 * That is --mode transform, the default. --mode pipeline (below) drives
 * a whole pipeline DAG instead: open-loop question arrivals (Poisson or
 * constant), one result stream per request, request latency, achieved
 * load, rate sweeps and a per-request dump of the results. Its questions
 * are corpus text, or with --questions FILE the given ones in file order.
 */
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

static struct gen_questions *gen_questions_load(const char *path,
						uint32_t tokens_per_frag);
static void gen_questions_free(struct gen_questions *qs);

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
};

static volatile sig_atomic_t gen_stop;

static void
gen_on_signal(int sig)
{
	(void)sig;
	gen_stop = 1;
}

static uint64_t
splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t
gen_map_home(const struct gen_map *m, uint64_t key)
{
	uint64_t s = key;

	return (uint32_t)splitmix64(&s) & m->mask;
}

static int32_t
gen_map_find(const struct gen_map *m, uint64_t key)
{
	uint32_t i = gen_map_home(m, key);

	while (m->slot[i] >= 0) {
		if (m->keys[i] == key)
			return m->slot[i];
		i = (i + 1) & m->mask;
	}
	return -1;
}

/* The map holds at most --streams keys in 4x the room: never full. */
static void
gen_map_insert(struct gen_map *m, uint64_t key, int32_t slot)
{
	uint32_t i = gen_map_home(m, key);

	while (m->slot[i] >= 0)
		i = (i + 1) & m->mask;
	m->keys[i] = key;
	m->slot[i] = slot;
}

static void
gen_map_remove(struct gen_map *m, uint64_t key)
{
	uint32_t hole = gen_map_home(m, key), i;

	while (m->keys[hole] != key || m->slot[hole] < 0) {
		if (m->slot[hole] < 0)
			return;
		hole = (hole + 1) & m->mask;
	}
	i = hole;
	for (;;) {
		uint32_t home;

		i = (i + 1) & m->mask;
		if (m->slot[i] < 0)
			break;
		home = gen_map_home(m, m->keys[i]);
		if (((i - home) & m->mask) >= ((i - hole) & m->mask)) {
			m->keys[hole] = m->keys[i];
			m->slot[hole] = m->slot[i];
			hole = i;
		}
	}
	m->slot[hole] = -1;
}

static void
gen_sendq_push(struct gen *g, uint32_t slot)
{
	g->sendq[(g->sendq_head + g->sendq_len) % g->o.streams] = slot;
	g->sendq_len++;
}

static uint32_t
gen_sendq_pop(struct gen *g)
{
	uint32_t slot = g->sendq[g->sendq_head];

	g->sendq_head = (g->sendq_head + 1) % g->o.streams;
	g->sendq_len--;
	return slot;
}

/* Take @slot out of the send queue (a request that ended before it was
 * fully sent: refused, or aborted): its slot is free to be reused. */
static void
gen_sendq_remove(struct gen *g, uint32_t slot)
{
	uint32_t n = g->sendq_len, k = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t s = g->sendq[(g->sendq_head + i) % g->o.streams];

		if (s != slot)
			g->sendq[(g->sendq_head + k++) % g->o.streams] = s;
	}
	g->sendq_len = k;
}

static void
gen_open_request(struct gen *g, uint64_t now)
{
	uint32_t slot = g->free_slots[--g->n_free];
	struct gen_request *r = &g->req[slot];
	uint64_t id = g->id_prefix | (g->c.requests & 0xffffffffull);

	r->id = id;
	r->tok_off = (size_t)(splitmix64(&g->rng) % g->corpus->n_tokens);
	r->sent = 0;
	r->received = 0;
	r->expected = 0;
	r->first_send_ns = 0;
	r->last_ns = now;
	r->open = true;
	r->bad = false;
	memset(r->got, 0, g->o.frags);
	sl_stream_tx_init(&r->tx, g->o.pipeline, 0, g->o.tenant, 1, &id);
	gen_map_insert(&g->map, id, (int32_t)slot);
	gen_sendq_push(g, slot);
	g->n_open++;
	g->c.requests++;
}

static void
gen_close_request(struct gen *g, struct gen_request *r)
{
	if (r->sent < g->o.frags)
		gen_sendq_remove(g, (uint32_t)(r - g->req));
	gen_map_remove(&g->map, r->id);
	r->open = false;
	g->free_slots[g->n_free++] = (uint32_t)(r - g->req);
	g->n_open--;
}

/* Corpus token j of fragment i of @r. */
static size_t
gen_token_index(const struct gen *g, const struct gen_request *r, uint32_t frag,
		uint32_t j)
{
	return (r->tok_off + (size_t)frag * g->o.tokens + j) %
	       g->corpus->n_tokens;
}

/*
 * Build the next fragment of the request at the head of the send queue.
 * Return the datagram length, or -ENOSPC if K tokens do not fit.
 */
static int
gen_build_fragment(struct gen *g, struct sl_dgram *d, uint64_t now)
{
	uint32_t slot = gen_sendq_pop(g);
	struct gen_request *r = &g->req[slot];
	uint32_t frag = r->sent, j;
	size_t len;
	int rc;

	rc = sl_stream_tx_begin(&r->tx, d->buf, d->cap);
	if (rc < 0)
		return rc;
	for (j = 0; j < g->o.tokens; j++) {
		size_t t = gen_token_index(g, r, frag, j);
		const struct sl_corpus_token *tok = &g->corpus->tokens[t];

		rc = sl_stream_tx_add(&r->tx, tok->id,
				      sl_corpus_token_text(g->corpus, t),
				      tok->len);
		if (rc < 0)
			return rc;
	}
	len = sl_stream_tx_finish(
		&r->tx, frag + 1 == g->o.frags ? SL_FRAG_F_END : 0, 0, 0);
	d->len = (uint16_t)len;
	memset(&d->addr, 0, sizeof(d->addr));
	r->sent++;
	r->last_ns = now;
	if (r->first_send_ns == 0)
		r->first_send_ns = now;
	if (r->sent < g->o.frags)
		gen_sendq_push(g, slot);
	return (int)len;
}

/*
 * Does output fragment @seq of @r carry exactly the expected tokens?
 */
static bool
gen_verify(const struct gen *g, const struct gen_request *r,
	   const struct sl_frag_view *v)
{
	const struct sl_frag_hdr *h = &v->hdr;
	struct sl_token_iter it;
	struct sl_token tok;
	uint32_t j = 0;
	bool last = h->seq + 1 == g->o.frags;

	if (h->pipeline != g->o.pipeline || h->tenant != g->o.tenant ||
	    h->depth != 1 || h->token_count != g->o.tokens ||
	    !!(h->flags & SL_FRAG_F_END) != last)
		return false;
	sl_frag_view_tokens(v, &it);
	while (sl_token_next(&it, &tok)) {
		size_t t = gen_token_index(g, r, h->seq, j++);
		const struct sl_corpus_token *ct = &g->corpus->tokens[t];
		char text[SL_TOKEN_TEXT_MAX];
		uint32_t id = ct->id;
		unsigned int k;

		if (j > g->o.tokens || tok.len != ct->len)
			return false;
		memcpy(text, sl_corpus_token_text(g->corpus, t), ct->len);
		for (k = 0; k < g->o.n_expect; k++) {
			sl_transform_text(g->o.expect[k], text, text, ct->len);
			id = sl_transform_token_id(g->o.expect[k], id, text,
						   ct->len);
		}
		if (tok.id != id || memcmp(tok.text, text, ct->len) != 0)
			return false;
	}
	return j == g->o.tokens;
}

/* One fragment of a result, as sl_rel delivered it (in order, once). */
static void
gen_take(struct gen *g, const struct sl_frag_view *vp, uint64_t now)
{
	const struct sl_frag_view v = *vp;
	struct gen_request *r;
	uint32_t seq;
	int32_t slot;

	slot = gen_map_find(&g->map, v.hdr.ancestry[0]);
	if (slot < 0 && v.hdr.depth == 1 && (v.hdr.flags & SL_FRAG_F_ABORT) &&
	    (v.hdr.ancestry[0] & ~0xffffffffull) == g->id_prefix &&
	    (v.hdr.ancestry[0] & 0xffffffffull) <
		    (g->c.requests & 0xffffffffull)) {
		/* One of ours, already ended (completed, or aborted by an
		 * earlier ABORT: sluiced's on its own stream, or our own
		 * sl_rel's when sluiced never ACKed it). */
		g->c.late_aborts++;
		return;
	}
	if (slot < 0 || v.hdr.depth != 1) {
		g->c.unknown++;
		return;
	}
	r = &g->req[slot];
	seq = v.hdr.seq;
	g->c.fragments_received++;
	g->c.tokens_received += v.hdr.token_count;
	r->last_ns = now;
	if (now > v.hdr.send_ns)
		sl_hist_record(&g->frag_lat, now - v.hdr.send_ns);

	if (v.hdr.flags & SL_FRAG_F_ABORT) {
		g->c.aborted++;
		g->c.aborted_by[v.hdr.abort_reason < SL_ABORT_MAX
					? v.hdr.abort_reason
					: SL_ABORT_MAX]++;
		gen_close_request(g, r);
		return;
	}
	if (seq >= g->o.frags) {
		g->c.corrupted++;
		r->bad = true;
		return;
	}
	if (r->got[seq]) {
		g->c.duplicated++;
		return;
	}
	r->got[seq] = 1;
	r->received++;
	if (seq != r->expected)
		g->c.misordered++;
	while (r->expected < g->o.frags && r->got[r->expected])
		r->expected++;
	if (!gen_verify(g, r, &v)) {
		g->c.corrupted++;
		r->bad = true;
	}
	if ((v.hdr.flags & SL_FRAG_F_END) && r->first_send_ns != 0)
		sl_hist_record(&g->req_lat, now - r->first_send_ns);
	if (r->received == g->o.frags) {
		if (!r->bad)
			g->c.completed++;
		gen_close_request(g, r);
	}
}

/* Close requests that were fully sent and heard nothing for drain-ms. */
static void
gen_expire(struct gen *g, uint64_t now)
{
	uint64_t drain_ns = g->o.drain_ms * 1000000ull;
	uint32_t i;

	for (i = 0; i < g->o.streams; i++) {
		struct gen_request *r = &g->req[i];

		if (!r->open)
			continue;
		if (r->sent < g->o.frags || now - r->last_ns < drain_ns)
			continue;
		g->c.lost++;
		g->c.fragments_lost += g->o.frags - r->received;
		gen_close_request(g, r);
	}
}

static int
gen_parse_expect(struct gen_opts *o, const char *list)
{
	char buf[256], *save = NULL, *name;

	if (strlen(list) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, list);
	o->n_expect = 0;
	for (name = strtok_r(buf, ",", &save); name != NULL;
	     name = strtok_r(NULL, ",", &save)) {
		if (o->n_expect == GEN_STAGES_MAX ||
		    sl_transform_by_name(name, &o->expect[o->n_expect]) < 0)
			return -EINVAL;
		o->n_expect++;
	}
	return o->n_expect ? 0 : -EINVAL;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: sluicegen --server IP:PORT [--bind IP] "
		"[--pipeline ID]\n"
		"       [--tenant T] [--streams N] [--rate FRAGS_PER_S]\n"
		"       [--fragments-per-request F] [--tokens-per-fragment K]\n"
		"       [--duration SEC | --requests R] [--drain-ms MS]\n"
		"       [--expect T1,T2,...] [--corpus FILE] [--seed S]\n"
		"       [--json] [--check] [--quiet]\n"
		"       sluicegen --mode pipeline --server IP:PORT [--bind "
		"IP]\n"
		"       [--pipeline ID] [--tenant T] [--question-tokens N]\n"
		"       [--tokens-per-fragment K] [--arrival "
		"poisson|constant]\n"
		"       (--request-rate REQ_PER_S [--duration SEC] |\n"
		"        --sweep R1,R2,... [--sweep-duration SEC]"
		" [--sweep-pause-ms MS])\n"
		"       [--requests R] [--drain-ms MS] [--dump FILE]"
		" [--times FILE] [--id-prefix N]\n"
		"       [--corpus FILE | --questions FILE.jsonl] [--seed S]"
		" [--json] [--check]\n"
		"       [--quiet]\n"
		"transforms: echo, upper, rot13 (one per stage, in order)\n"
		"pipeline mode: defaults --question-tokens 12,"
		" --tokens-per-fragment 16,\n"
		"  --drain-ms 30000 (after the last question), --arrival"
		" poisson;\n"
		"  --dump writes \"<index>\\t<ok|lost|aborted:REASON>\\t"
		"<escaped text>\"\n"
		"  per request (FILE.<i> for rate i of a sweep);\n"
		"  --times writes \"<index>\\t<due_us>\\t<sent_us>\\t"
		"<first_us>\\t<done_us>\\t<flags>\"\n"
		"  per request, microseconds from the run's start (0: never),"
		" FILE.<i> likewise;\n"
		"  --questions asks the file's questions (one JSON object a"
		" line with\n"
		"  \"id\" and \"question\") in file order, request i the"
		" i-th, all of them\n"
		"  unless --duration/--requests stop sooner; its dump lines"
		" are\n"
		"  \"<index>\\t<id>\\t<flags>\\t<escaped text>\"\n"
		"default corpus: %s\n",
		GEN_DEFAULT_CORPUS);
}

/* "1,2.5,10": up to GEN_SWEEP_MAX positive rates. */
static int
gen_parse_rates(const char *list, double *rates, unsigned int *n)
{
	char buf[1024], *save = NULL, *item;

	if (strlen(list) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, list);
	*n = 0;
	for (item = strtok_r(buf, ",", &save); item != NULL;
	     item = strtok_r(NULL, ",", &save)) {
		double v;

		if (!sl_parse_double(item, 0, DBL_MAX, &v) || v <= 0 ||
		    *n == GEN_SWEEP_MAX)
			return -EINVAL;
		rates[(*n)++] = v;
	}
	return *n ? 0 : -EINVAL;
}

static int
gen_parse_args(struct gen_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{"server", required_argument, NULL, 's'},
		{"bind", required_argument, NULL, 'b'},
		{"pipeline", required_argument, NULL, 'p'},
		{"tenant", required_argument, NULL, 't'},
		{"streams", required_argument, NULL, 'n'},
		{"rate", required_argument, NULL, 'r'},
		{"fragments-per-request", required_argument, NULL, 'F'},
		{"tokens-per-fragment", required_argument, NULL, 'K'},
		{"duration", required_argument, NULL, 'd'},
		{"requests", required_argument, NULL, 'R'},
		{"drain-ms", required_argument, NULL, 'D'},
		{"expect", required_argument, NULL, 'e'},
		{"corpus", required_argument, NULL, 'c'},
		{"seed", required_argument, NULL, 'S'},
		{"json", no_argument, NULL, 'j'},
		{"check", no_argument, NULL, 'C'},
		{"quiet", no_argument, NULL, 'q'},
		{"mode", required_argument, NULL, 'm'},
		{"question-tokens", required_argument, NULL, 'Q'},
		{"request-rate", required_argument, NULL, 'A'},
		{"arrival", required_argument, NULL, 'a'},
		{"sweep", required_argument, NULL, 'w'},
		{"sweep-duration", required_argument, NULL, 'W'},
		{"sweep-pause-ms", required_argument, NULL, 'P'},
		{"dump", required_argument, NULL, 'u'},
		{"times", required_argument, NULL, 'T'},
		{"id-prefix", required_argument, NULL, 'I'},
		{"questions", required_argument, NULL, 'X'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	bool have_server = false, have_duration = false;
	bool have_drain = false, have_tokens = false;
	bool have_sweep_duration = false, have_request_rate = false;
	bool have_question_tokens = false;
	const char *transform_only = NULL, *pipeline_only = NULL;
	uint64_t v;
	int c;

	memset(o, 0, sizeof(*o));
	o->pipeline = 1;
	o->tenant = 1;
	o->streams = 16;
	o->frags = 8;
	o->tokens = 4;
	o->duration = 10;
	o->drain_ms = 2000;
	o->expect[0] = SL_TRANSFORM_ECHO;
	o->n_expect = 1;
	o->expect_text = "echo";
	o->corpus_path = GEN_DEFAULT_CORPUS;
	o->seed = 1;
	o->question_tokens = 12;
	o->poisson = true;
	o->sweep_pause_ms = 1000;
	sl_endpoint_parse("0.0.0.0", true, &o->bind);

#define BAD_ARG(what)                                                          \
	do {                                                                   \
		fprintf(stderr, "sluicegen: bad --%s '%s'\n", what, optarg);   \
		return -EINVAL;                                                \
	} while (0)

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (sl_endpoint_parse(optarg, false, &o->server) < 0 ||
			    o->server.sin_port == 0)
				BAD_ARG("server");
			have_server = true;
			break;
		case 'b':
			if (sl_endpoint_parse(optarg, true, &o->bind) < 0)
				BAD_ARG("bind");
			break;
		case 'p':
			if (!sl_parse_u64(optarg, 0, UINT32_MAX, &v))
				BAD_ARG("pipeline");
			o->pipeline = (uint32_t)v;
			break;
		case 't':
			if (!sl_parse_u64(optarg, 0, UINT16_MAX, &v))
				BAD_ARG("tenant");
			o->tenant = (uint16_t)v;
			break;
		case 'n':
			if (!sl_parse_u64(optarg, 1, 1u << 20, &v))
				BAD_ARG("streams");
			o->streams = (uint32_t)v;
			transform_only = "streams";
			break;
		case 'r':
			if (!sl_parse_double(optarg, 0, DBL_MAX, &o->rate))
				BAD_ARG("rate");
			transform_only = "rate";
			break;
		case 'F':
			if (!sl_parse_u64(optarg, 1, 1u << 20, &v))
				BAD_ARG("fragments-per-request");
			o->frags = (uint32_t)v;
			transform_only = "fragments-per-request";
			break;
		case 'K':
			if (!sl_parse_u64(optarg, 1, 1024, &v))
				BAD_ARG("tokens-per-fragment");
			o->tokens = (uint32_t)v;
			have_tokens = true;
			break;
		case 'd':
			if (!sl_parse_double(optarg, 0, DBL_MAX, &o->duration))
				BAD_ARG("duration");
			have_duration = true;
			break;
		case 'R':
			if (!sl_parse_u64(optarg, 1, UINT32_MAX, &o->requests))
				BAD_ARG("requests");
			break;
		case 'D':
			if (!sl_parse_u64(optarg, 0, 3600000, &o->drain_ms))
				BAD_ARG("drain-ms");
			have_drain = true;
			break;
		case 'e':
			if (gen_parse_expect(o, optarg) < 0)
				BAD_ARG("expect");
			o->expect_text = optarg;
			transform_only = "expect";
			break;
		case 'm':
			if (strcmp(optarg, "transform") == 0)
				o->mode = GEN_MODE_TRANSFORM;
			else if (strcmp(optarg, "pipeline") == 0)
				o->mode = GEN_MODE_PIPELINE;
			else
				BAD_ARG("mode");
			break;
		case 'Q':
			/* A question goes out in one burst of fragments. */
			if (!sl_parse_u64(optarg, 1, SL_BURST_MAX, &v))
				BAD_ARG("question-tokens");
			o->question_tokens = (uint32_t)v;
			have_question_tokens = true;
			pipeline_only = "question-tokens";
			break;
		case 'A':
			if (!sl_parse_double(optarg, 0, DBL_MAX,
					     &o->request_rate) ||
			    o->request_rate <= 0)
				BAD_ARG("request-rate");
			have_request_rate = true;
			pipeline_only = "request-rate";
			break;
		case 'a':
			if (strcmp(optarg, "poisson") == 0)
				o->poisson = true;
			else if (strcmp(optarg, "constant") == 0)
				o->poisson = false;
			else
				BAD_ARG("arrival");
			pipeline_only = "arrival";
			break;
		case 'w':
			if (gen_parse_rates(optarg, o->sweep, &o->n_sweep) < 0)
				BAD_ARG("sweep");
			pipeline_only = "sweep";
			break;
		case 'W':
			if (!sl_parse_double(optarg, 0, DBL_MAX,
					     &o->sweep_duration) ||
			    o->sweep_duration <= 0)
				BAD_ARG("sweep-duration");
			have_sweep_duration = true;
			pipeline_only = "sweep-duration";
			break;
		case 'P':
			if (!sl_parse_u64(optarg, 0, 3600000,
					  &o->sweep_pause_ms))
				BAD_ARG("sweep-pause-ms");
			pipeline_only = "sweep-pause-ms";
			break;
		case 'u':
			o->dump_path = optarg;
			pipeline_only = "dump";
			break;
		case 'T':
			o->times_path = optarg;
			pipeline_only = "times";
			break;
		case 'I':
			if (!sl_parse_u64(optarg, 0, UINT32_MAX, &o->id_prefix))
				BAD_ARG("id-prefix");
			o->have_id_prefix = true;
			pipeline_only = "id-prefix";
			break;
		case 'X':
			o->questions_path = optarg;
			pipeline_only = "questions";
			break;
		case 'c':
			o->corpus_path = optarg;
			break;
		case 'S':
			if (!sl_parse_u64(optarg, 0, UINT64_MAX, &o->seed))
				BAD_ARG("seed");
			break;
		case 'j':
			o->json = true;
			break;
		case 'C':
			o->check = true;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
#undef BAD_ARG
	if (!have_server || optind != argc) {
		usage(stderr);
		return -EINVAL;
	}
	if (o->mode == GEN_MODE_TRANSFORM) {
		if (pipeline_only != NULL) {
			fprintf(stderr,
				"sluicegen: --%s needs --mode pipeline\n",
				pipeline_only);
			return -EINVAL;
		}
		/* --requests alone runs until R requests; with --duration
		 * too, whichever comes first. */
		if (o->requests && !have_duration)
			o->duration = 0;
		return 0;
	}
	if (transform_only != NULL) {
		fprintf(stderr,
			"sluicegen: --%s is for --mode transform (pipeline "
			"mode "
			"paces requests: --request-rate)\n",
			transform_only);
		return -EINVAL;
	}
	if (!have_request_rate && o->n_sweep == 0) {
		fprintf(stderr,
			"sluicegen: --mode pipeline needs --request-rate or "
			"--sweep\n");
		return -EINVAL;
	}
	if (have_request_rate && o->n_sweep) {
		fprintf(stderr,
			"sluicegen: --request-rate and --sweep exclude each "
			"other\n");
		return -EINVAL;
	}
	if (o->questions_path != NULL && have_question_tokens) {
		fprintf(stderr,
			"sluicegen: --question-tokens is for corpus questions, "
			"not --questions\n");
		return -EINVAL;
	}
	/* --questions: the file is the schedule's length, unless
	 * --duration or --requests cut it short. */
	if (o->questions_path != NULL && !have_duration) {
		o->duration = 1e9;
		if (!have_sweep_duration)
			o->sweep_duration = 1e9;
	}
	/* Requests take seconds: wait for them. */
	if (!have_drain)
		o->drain_ms = 30000;
	if (!have_tokens)
		o->tokens = 16;
	if (!have_sweep_duration)
		o->sweep_duration = o->duration;
	/* --requests caps the schedule; without --duration it is the limit. */
	if (o->requests && !have_duration) {
		o->duration = 1e9;
		if (!have_sweep_duration)
			o->sweep_duration = 1e9;
	}
	return 0;
}

static int
gen_setup(struct gen *g)
{
	uint32_t cap = 4, i;
	uint32_t prefix;

	g->corpus = sl_corpus_load(g->o.corpus_path);
	if (g->corpus == NULL) {
		fprintf(stderr, "sluicegen: cannot load corpus %s: %s\n",
			g->o.corpus_path, strerror(errno));
		return -1;
	}
	g->sock = sl_sock_open(&g->o.bind);
	if (g->sock == NULL) {
		fprintf(stderr, "sluicegen: cannot bind: %s\n",
			strerror(errno));
		return -1;
	}
	sl_sock_set_peer(g->sock, &g->o.server);
	{
		struct sl_rel_config rc;

		sl_rel_config_default(&rc);
		rc.rx_streams_max = GEN_REL_STREAMS;
		/* Transform mode: every open request, and as many more
		 * ended ones lingering. */
		if (g->o.mode == GEN_MODE_TRANSFORM &&
		    2 * g->o.streams + 1024 > rc.rx_streams_max)
			rc.rx_streams_max = 2 * g->o.streams + 1024;
		rc.tx_streams_max = rc.rx_streams_max;
		/* A request sluiced never ACKed ends as ABORT (LOST). */
		rc.report_gave_up = true;
		g->rel = sl_rel_new(g->sock, &rc);
		if (g->rel == NULL) {
			fprintf(stderr,
				"sluicegen: cannot allocate stream "
				"state: %s\n",
				strerror(errno));
			return -1;
		}
	}
	if (g->o.mode == GEN_MODE_PIPELINE)
		goto ids;

	while (cap < 4 * g->o.streams)
		cap <<= 1;
	g->map.mask = cap - 1;
	g->map.keys = calloc(cap, sizeof(g->map.keys[0]));
	g->map.slot = malloc(cap * sizeof(g->map.slot[0]));
	g->req = calloc(g->o.streams, sizeof(g->req[0]));
	g->free_slots = malloc(g->o.streams * sizeof(g->free_slots[0]));
	g->sendq = malloc(g->o.streams * sizeof(g->sendq[0]));
	if (!g->map.keys || !g->map.slot || !g->req || !g->free_slots ||
	    !g->sendq) {
		fprintf(stderr, "sluicegen: out of memory\n");
		return -1;
	}
	memset(g->map.slot, 0xff, cap * sizeof(g->map.slot[0]));
	for (i = 0; i < g->o.streams; i++) {
		g->req[i].got = calloc(g->o.frags, 1);
		if (g->req[i].got == NULL) {
			fprintf(stderr, "sluicegen: out of memory\n");
			return -1;
		}
		g->free_slots[i] = g->o.streams - 1 - i;
	}
	g->n_free = g->o.streams;

ids:
	/* Request ids must differ across concurrent sluicegen processes:
	 * 32 random bits from the kernel, then a counter. */
	if (g->o.have_id_prefix)
		prefix = (uint32_t)g->o.id_prefix;
	else if (getrandom(&prefix, sizeof(prefix), 0) != sizeof(prefix))
		prefix = (uint32_t)sl_now_ns() ^ (uint32_t)getpid();
	g->id_prefix = (uint64_t)prefix << 32;
	g->rng = g->o.seed;
	sl_hist_init(&g->frag_lat);
	sl_hist_init(&g->req_lat);
	if (g->o.questions_path != NULL) {
		g->questions =
			gen_questions_load(g->o.questions_path, g->o.tokens);
		if (g->questions == NULL)
			return -1;
	}
	return 0;
}

static void
gen_teardown(struct gen *g)
{
	uint32_t i;

	if (g->req != NULL)
		for (i = 0; i < g->o.streams; i++)
			free(g->req[i].got);
	free(g->req);
	free(g->free_slots);
	free(g->sendq);
	free(g->map.keys);
	free(g->map.slot);
	sl_rel_free(g->rel);
	sl_sock_close(g->sock);
	sl_corpus_free(g->corpus);
	gen_questions_free(g->questions);
}

/* Where delivered fragments go: a mode's accounting. */
typedef void (*gen_take_fn)(struct gen *g, void *ctx,
			    const struct sl_frag_view *v, uint64_t now);

/*
 * Receive whatever waits: each datagram through sl_rel (control consumed,
 * data in order and once) and what it delivers to @take. A datagram that
 * is not a valid fragment counts in *@corrupted. Return 0 or -errno.
 */
static int
gen_rel_rx(struct gen *g, gen_take_fn take, void *ctx, uint64_t *corrupted)
{
	static struct sl_burst rx;
	static bool ready;
	int n, i;

	if (!ready) {
		sl_burst_reset(&rx);
		ready = true;
	}
	do {
		struct sl_frag_view v;
		uint64_t now;

		n = sl_sock_recv_burst(g->sock, rx.d, SL_BURST_MAX);
		if (n < 0) {
			fprintf(stderr, "sluicegen: recv: %s\n", strerror(-n));
			return n;
		}
		now = sl_now_ns();
		for (i = 0; i < n; i++) {
			if (sl_rel_input(g->rel, &rx.d[i], now) != SL_WIRE_OK) {
				/* Not even a fragment: the path mangled it. */
				(*corrupted)++;
				continue;
			}
			while (sl_rel_next(g->rel, &v))
				take(g, ctx, &v, now);
		}
	} while (n == SL_BURST_MAX);
	return 0;
}

/* Run the repair timers; streams given up go to @take as ABORT LOST.
 * Return the next deadline. */
static uint64_t
gen_rel_tick(struct gen *g, gen_take_fn take, void *ctx)
{
	struct sl_frag_view v;
	uint64_t now = sl_now_ns(), next = sl_rel_tick(g->rel, now);

	while (sl_rel_next(g->rel, &v))
		take(g, ctx, &v, now);
	return next;
}

/*
 * Keep serving the streams for a while: until @until, or (@until_acked)
 * as soon as sluiced has ACKed every request. Late results still reach
 * @take; our ACKs and resends still go out.
 */
static int
gen_rel_serve(struct gen *g, gen_take_fn take, void *ctx, uint64_t *corrupted,
	      uint64_t until, bool until_acked)
{
	for (;;) {
		struct pollfd p = {.fd = g->sock->fd, .events = POLLIN};
		struct sl_rel_usage u;
		struct timespec ts;
		uint64_t now, next;

		if (gen_rel_rx(g, take, ctx, corrupted) < 0)
			return -1;
		next = gen_rel_tick(g, take, ctx);
		sl_rel_usage(g->rel, &u);
		now = sl_now_ns();
		if (now >= until || (until_acked && u.tx_pending == 0))
			return 0;
		if (next > until)
			next = until;
		next = next > now ? next - now : 0;
		if (next > GEN_IDLE_WAIT_NS)
			next = GEN_IDLE_WAIT_NS;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)next;
		ppoll(&p, 1, &ts, NULL);
	}
}

static void
gen_take_cb(struct gen *g, void *ctx, const struct sl_frag_view *v,
	    uint64_t now)
{
	(void)ctx;
	gen_take(g, v, now);
}

static int
gen_run(struct gen *g, uint64_t *start_out, uint64_t *end_out)
{
	static struct sl_burst tx;
	uint64_t start = sl_now_ns(), last_refill = start;
	uint64_t duration_ns = (uint64_t)(g->o.duration * 1e9);
	double burst = g->o.rate / 100.0, tokens = 1.0;
	unsigned int tx_sent = 0;
	bool opening = true;

	/* A bucket of ~10 ms of traffic, at least one and at most a
	 * burst: smooth enough for latency, coarse enough for ppoll. */
	if (burst < 1.0)
		burst = 1.0;
	if (burst > SL_BURST_MAX)
		burst = SL_BURST_MAX;
	sl_burst_reset(&tx);
	*start_out = start;

	for (;;) {
		uint64_t now = sl_now_ns(), wait_ns, next_rel;
		struct timespec ts;
		struct pollfd p;

		if (opening &&
		    (gen_stop || (duration_ns && now - start >= duration_ns) ||
		     (g->o.requests && g->c.requests >= g->o.requests)))
			opening = false;
		while (opening && g->n_free > 0 &&
		       (!g->o.requests || g->c.requests < g->o.requests))
			gen_open_request(g, now);

		/* Send: only once the previous burst has fully left. */
		if (tx.n == 0 && g->sendq_len > 0) {
			unsigned int budget = SL_BURST_MAX;

			if (g->o.rate > 0) {
				tokens += (double)(now - last_refill) *
					  g->o.rate / 1e9;
				if (tokens > burst)
					tokens = burst;
				last_refill = now;
				budget = (unsigned int)tokens;
			}
			while (tx.n < budget && g->sendq_len > 0) {
				int len =
					gen_build_fragment(g, &tx.d[tx.n], now);

				if (len < 0) {
					fprintf(stderr,
						"sluicegen: %u tokens do not "
						"fit one fragment: %s\n",
						g->o.tokens, strerror(-len));
					return -1;
				}
				tx.n++;
			}
			if (g->o.rate > 0)
				tokens -= tx.n;
			tx_sent = 0;
		}
		if (tx.n > 0) {
			int rc = sl_rel_send_burst(g->rel, tx.d + tx_sent,
						   tx.n - tx_sent, now);

			if (rc < 0) {
				fprintf(stderr, "sluicegen: send: %s\n",
					strerror(-rc));
				return -1;
			}
			if (rc > 0) {
				if (g->first_send_ns == 0)
					g->first_send_ns = now;
				g->last_send_ns = now;
			}
			g->c.fragments += (unsigned int)rc;
			tx_sent += (unsigned int)rc;
			if (tx_sent == tx.n)
				tx.n = 0;
		}

		if (gen_rel_rx(g, gen_take_cb, NULL, &g->c.corrupted) < 0)
			return -1;
		next_rel = gen_rel_tick(g, gen_take_cb, NULL);
		now = sl_now_ns();
		gen_expire(g, now);
		if (!opening && g->n_open == 0 && tx.n == 0)
			break;

		/* How long may we sleep? Until the next token, when there is
		 * something to send; otherwise until something arrives. */
		wait_ns = GEN_IDLE_WAIT_NS;
		p.fd = g->sock->fd;
		p.events = POLLIN;
		if (tx.n > 0) {
			p.events |= POLLOUT;
		} else if (g->sendq_len > 0) {
			if (g->o.rate <= 0)
				wait_ns = 0;
			else if (tokens < 1.0)
				wait_ns = (uint64_t)((1.0 - tokens) * 1e9 /
						     g->o.rate) +
					  1;
			else
				wait_ns = 0;
		} else if (opening && g->n_free > 0) {
			wait_ns = 0;
		}
		if (next_rel <= now)
			wait_ns = 0;
		else if (next_rel - now < wait_ns)
			wait_ns = next_rel - now;
		if (wait_ns == 0)
			continue;
		ts.tv_sec = (time_t)(wait_ns / 1000000000ull);
		ts.tv_nsec = (long)(wait_ns % 1000000000ull);
		ppoll(&p, 1, &ts, NULL);
	}
	*end_out = sl_now_ns();
	/* Our requests' END resends may still be needed. */
	return gen_rel_serve(g, gen_take_cb, NULL, &g->c.corrupted,
			     *end_out + GEN_LINGER_NS, true);
}

static double
us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

/* {"OVERLOAD": 3, ...}: the reasons seen, by name. */
static void
gen_json_reasons(FILE *f, const uint64_t *by)
{
	unsigned int k;
	bool first = true;

	fputc('{', f);
	for (k = 0; k <= SL_ABORT_MAX; k++) {
		if (by[k] == 0)
			continue;
		fprintf(f, "%s\"%s\": %" PRIu64, first ? "" : ", ",
			k < SL_ABORT_MAX ? sl_abort_reason_name(k) : "UNKNOWN",
			by[k]);
		first = false;
	}
	fputc('}', f);
}

/* The repair counters of one run (@base: at its start; NULL: all). */
static void
gen_text_rel(const struct sl_rel_counters *c,
	     const struct sl_rel_counters *base)
{
#define GEN_REL_D(name) (c->name - (base != NULL ? base->name : 0))
	printf("  repair: %" PRIu64 " NACKs sent, %" PRIu64
	       " received, %" PRIu64 " resent, %" PRIu64 " ABORT LOST, %" PRIu64
	       " END resends, %" PRIu64 " gave up;\n"
	       "          %" PRIu64 " ACKs sent, %" PRIu64 " received, %" PRIu64
	       " duplicates dropped, %" PRIu64 " held, %" PRIu64
	       " given up (NACKs unanswered), %" PRIu64 " refused\n",
	       GEN_REL_D(nacks_sent), GEN_REL_D(nacks_received),
	       GEN_REL_D(resent), GEN_REL_D(lost_aborts_sent),
	       GEN_REL_D(end_resends), GEN_REL_D(gave_up), GEN_REL_D(acks_sent),
	       GEN_REL_D(acks_received), GEN_REL_D(duplicates_dropped),
	       GEN_REL_D(held), GEN_REL_D(nack_gave_up), GEN_REL_D(rx_refused));
#undef GEN_REL_D
}

static void
gen_report(const struct gen *g, uint64_t start, uint64_t end)
{
	const struct gen_counters *c = &g->c;
	double dur = (double)(end - start) / 1e9;
	double send_dur = (double)(g->last_send_ns - g->first_send_ns) / 1e9;
	double fps = dur > 0 ? (double)c->fragments_received / dur : 0;
	double tps = dur > 0 ? (double)c->tokens_received / dur : 0;
	double offered =
		g->o.rate > 0
			? g->o.rate
			: (send_dur > 0 ? (double)c->fragments / send_dur : 0);
	const struct sl_hist *f = &g->frag_lat, *r = &g->req_lat;

	if (g->o.json) {
		printf("{\"requests\": %" PRIu64 ", \"completed\": %" PRIu64
		       ", \"fragments\": %" PRIu64
		       ", \"fragments_received\": %" PRIu64
		       ", \"lost\": %" PRIu64 ", \"duplicated\": %" PRIu64
		       ", \"misordered\": %" PRIu64 ", \"corrupted\": %" PRIu64
		       ", \"aborted\": %" PRIu64 ", \"unknown\": %" PRIu64
		       ", \"late_aborts\": %" PRIu64
		       ", \"p50_us\": %.3f, \"p90_us\": %.3f"
		       ", \"p99_us\": %.3f, \"p999_us\": %.3f"
		       ", \"max_us\": %.3f, \"mean_us\": %.3f"
		       ", \"request_p50_us\": %.3f, \"request_p99_us\": %.3f"
		       ", \"fragments_per_s\": %.1f, \"tokens_per_s\": %.1f"
		       ", \"offered_rate\": %.1f, \"duration_s\": %.3f",
		       c->requests, c->completed, c->fragments,
		       c->fragments_received, c->lost, c->duplicated,
		       c->misordered, c->corrupted, c->aborted, c->unknown,
		       c->late_aborts, us(sl_hist_percentile(f, 50)),
		       us(sl_hist_percentile(f, 90)),
		       us(sl_hist_percentile(f, 99)),
		       us(sl_hist_percentile(f, 99.9)), us(f->max),
		       sl_hist_mean(f) / 1000.0, us(sl_hist_percentile(r, 50)),
		       us(sl_hist_percentile(r, 99)), fps, tps, offered, dur);
		printf(", \"fragments_lost\": %" PRIu64
		       ", \"aborted_by_reason\": ",
		       c->fragments_lost);
		gen_json_reasons(stdout, c->aborted_by);
		printf(", \"rel\": ");
		sl_rel_counters_json(stdout, sl_rel_counters(g->rel), NULL);
		printf("}\n");
		return;
	}
	if (g->o.quiet)
		return;
	printf("sluicegen: %u streams x %u fragments x %u tokens, "
	       "expect %s, %.3f s\n",
	       g->o.streams, g->o.frags, g->o.tokens, g->o.expect_text, dur);
	printf("  %-20s %12" PRIu64 "   %-20s %12" PRIu64 "\n", "requests",
	       c->requests, "completed", c->completed);
	printf("  %-20s %12" PRIu64 "   %-20s %12" PRIu64 "\n",
	       "fragments sent", c->fragments, "fragments received",
	       c->fragments_received);
	printf("  %-20s %12" PRIu64 "   %-20s %12" PRIu64 "\n", "lost", c->lost,
	       "duplicated", c->duplicated);
	printf("  %-20s %12" PRIu64 "   %-20s %12" PRIu64 "\n", "misordered",
	       c->misordered, "corrupted", c->corrupted);
	printf("  %-20s %12" PRIu64 "   %-20s %12" PRIu64 "\n", "aborted",
	       c->aborted, "unknown", c->unknown);
	printf("  %-20s %12" PRIu64 "   %-20s %12" PRIu64 "\n",
	       "fragments lost", c->fragments_lost, "late aborts",
	       c->late_aborts);
	if (c->aborted > 0) {
		printf("  aborted by reason    ");
		gen_json_reasons(stdout, c->aborted_by);
		printf("\n");
	}
	gen_text_rel(sl_rel_counters(g->rel), NULL);
	printf("  %-20s %12.1f   %-20s %12.1f\n", "offered frag/s", offered,
	       "received frag/s", fps);
	printf("  %-20s %12.1f\n", "received tokens/s", tps);
	printf("  %-10s %10s %10s %10s %10s %10s %10s\n", "latency us", "p50",
	       "p90", "p99", "p99.9", "max", "mean");
	printf("  %-10s %10.1f %10.1f %10.1f %10.1f %10.1f %10.1f\n",
	       "fragment", us(sl_hist_percentile(f, 50)),
	       us(sl_hist_percentile(f, 90)), us(sl_hist_percentile(f, 99)),
	       us(sl_hist_percentile(f, 99.9)), us(f->max),
	       sl_hist_mean(f) / 1000.0);
	printf("  %-10s %10.1f %10.1f %10.1f %10.1f %10.1f %10.1f\n", "request",
	       us(sl_hist_percentile(r, 50)), us(sl_hist_percentile(r, 90)),
	       us(sl_hist_percentile(r, 99)), us(sl_hist_percentile(r, 99.9)),
	       us(r->max), sl_hist_mean(r) / 1000.0);
}

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
	GEN_PREQ_LOST,        /* not done by the end of the drain */
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
	size_t q_off;  /* first corpus token of the question */
	uint8_t state; /* enum gen_preq_state */
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
	uint64_t lost;
	uint64_t duplicated;
	uint64_t misordered;
	uint64_t corrupted; /* unparsable, wrong pipeline/depth, seq past END */
	uint64_t unknown;   /* a request id this run did not send */
	uint64_t fragments;
	uint64_t fragments_received;
	uint64_t result_bytes;
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
	const struct gen_questions *questions; /* --questions: for the dump */
	struct sl_rel_counters rel_base; /* repair counters at the start */
};

/* A double in (0, 1] from 53 random bits: never 0, so log() is finite. */
static double
gen_unit_open(uint64_t *rng)
{
	return (double)((splitmix64(rng) >> 11) + 1) / 9007199254740992.0;
}

/**
 * gen_arrival_gap - one exponential inter-arrival gap of mean 1/@rate
 * seconds (@poisson), or exactly 1/@rate; draws from @rng.
 */
static double
gen_arrival_gap(uint64_t *rng, double rate, bool poisson)
{
	if (!poisson)
		return 1.0 / rate;
	return -log(gen_unit_open(rng)) / rate;
}

/**
 * gen_arrivals - the arrival schedule of one run: offsets in ns from its
 * start, the first at 0, every later one a gap after the previous, all
 * before @duration seconds and at most @max (0: no limit). The random
 * stream depends on @seed only, so the schedules of two rates differ by
 * their time scale alone.
 * Return: an array of *@n offsets (free it), or NULL on ENOMEM.
 */
static uint64_t *
gen_arrivals(double rate, bool poisson, uint64_t seed, double duration,
	     uint64_t max, uint64_t *n)
{
	uint64_t rng = seed ^ 0x6172726976616c73ull; /* "arrivals" */
	uint64_t cap = 1024, k = 0, *at = malloc(cap * sizeof(*at));
	double t = 0;

	if (at == NULL)
		return NULL;
	while (t < duration && (max == 0 || k < max)) {
		if (k == cap) {
			uint64_t *grown = realloc(at, 2 * cap * sizeof(*at));

			if (grown == NULL) {
				free(at);
				return NULL;
			}
			at = grown;
			cap *= 2;
		}
		at[k++] = (uint64_t)(t * 1e9);
		t += gen_arrival_gap(&rng, rate, poisson);
	}
	*n = k;
	return at;
}

/* ---- --questions: JSON lines with "id" and "question" ---- */

/*
 * gen_question_frags - fragments question @q takes: tokens of
 * sl_tokenize_next, at most @k a fragment and as many as fit its payload
 * (what gen_prun_question builds).
 */
static uint32_t
gen_question_frags(const char *q, size_t len, uint32_t k)
{
	uint32_t frags = 0, in_frag = 0;
	size_t pos = 0, bytes = 0;

	while (pos < len) {
		size_t t = sl_tokenize_next(q + pos, len - pos);
		size_t need = SL_WIRE_TOKEN_HDR_LEN + t;

		if (in_frag == 0 || in_frag == k ||
		    bytes + need > SL_WIRE_PAYLOAD_MAX) {
			frags++;
			in_frag = 0;
			bytes = 0;
		}
		in_frag++;
		bytes += need;
		pos += t;
	}
	return frags ? frags : 1;
}

static void
gen_questions_free(struct gen_questions *qs)
{
	size_t i;

	if (qs == NULL)
		return;
	for (i = 0; i < qs->n; i++) {
		free(qs->q[i].id);
		free(qs->q[i].text);
	}
	free(qs->q);
	free(qs);
}

enum { GEN_Q_QUESTION, GEN_Q_ID };

struct gen_questions_ctx {
	struct gen_questions *qs;
	size_t cap;
	uint32_t tokens_per_frag;
};

/* sl_jsonl_load's callback: keep one question. */
static int
gen_question_add(void *arg, struct sl_jsonl_field *f, unsigned int n, char *why,
		 size_t why_len)
{
	struct gen_questions_ctx *c = arg;
	struct gen_questions *qs = c->qs;
	struct gen_question *q;

	(void)n;
	if (f[GEN_Q_QUESTION].len == 0) {
		snprintf(why, why_len, "empty question");
		return -1;
	}
	if (qs->n == c->cap) {
		size_t nc = c->cap ? 2 * c->cap : 256;
		struct gen_question *grown =
			realloc(qs->q, nc * sizeof(*grown));

		if (grown == NULL) {
			snprintf(why, why_len, "out of memory");
			return -1;
		}
		qs->q = grown;
		c->cap = nc;
	}
	q = &qs->q[qs->n];
	q->frags =
		gen_question_frags(f[GEN_Q_QUESTION].val, f[GEN_Q_QUESTION].len,
				   c->tokens_per_frag);
	if (q->frags > SL_BURST_MAX) {
		snprintf(why, why_len, "question too long for one burst");
		return -1;
	}
	if (f[GEN_Q_ID].val == NULL && (f[GEN_Q_ID].val = strdup("")) == NULL) {
		snprintf(why, why_len, "out of memory");
		return -1;
	}
	q->text = f[GEN_Q_QUESTION].val;
	q->len = f[GEN_Q_QUESTION].len;
	q->id = f[GEN_Q_ID].val;
	f[GEN_Q_QUESTION].val = NULL;
	f[GEN_Q_ID].val = NULL;
	qs->n++;
	return 0;
}

/*
 * gen_questions_load - read --questions: one JSON object a line with a
 * string "question" and an "id" (string or integer; optional), blank
 * lines skipped (sl_jsonl_load). Each question must go out in one burst
 * at @tokens_per_frag tokens a fragment.
 * Return the questions, or NULL after a "FILE:LINE: what" message.
 */
static struct gen_questions *
gen_questions_load(const char *path, uint32_t tokens_per_frag)
{
	struct sl_jsonl_field f[] = {
		[GEN_Q_QUESTION] = {"question", SL_JSONL_STRING, true, 0},
		[GEN_Q_ID] = {"id", SL_JSONL_ID, false, 1024},
	};
	struct gen_questions_ctx c = {.tokens_per_frag = tokens_per_frag};
	char err[512];

	c.qs = calloc(1, sizeof(*c.qs));
	if (c.qs == NULL) {
		fprintf(stderr, "sluicegen: out of memory\n");
		return NULL;
	}
	if (sl_jsonl_load(path, f, 2, gen_question_add, &c, err, sizeof(err)) <
	    0) {
		fprintf(stderr, "sluicegen: %s\n", err);
		goto fail;
	}
	if (c.qs->n == 0) {
		fprintf(stderr, "sluicegen: %s: no questions\n", path);
		goto fail;
	}
	return c.qs;
fail:
	gen_questions_free(c.qs);
	return NULL;
}

/**
 * gen_question_offset - the first corpus token of request @index's
 * question: a pure function of @seed and @index, so that every run with
 * the same seed asks request k the same question.
 */
static size_t
gen_question_offset(uint64_t seed, uint64_t index, size_t n_tokens)
{
	uint64_t s = seed * 0x9e3779b97f4a7c15ull ^
		     (index + 1) * 0xd1b54a32d192ed03ull;

	return (size_t)(splitmix64(&s) % n_tokens);
}

/**
 * gen_dump_escape - write @len bytes of @text to @f with backslash,
 * newline, tab and carriage return escaped as \\ \n \t \r and any other
 * control byte (and DEL) as \xHH: a result is always one line with no
 * tab. UTF-8 sequences pass unchanged.
 */
static void
gen_dump_escape(FILE *f, const char *text, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)text[i];

		switch (ch) {
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		default:
			if (ch < 0x20 || ch == 0x7f)
				fprintf(f, "\\x%02x", ch);
			else
				fputc(ch, f);
		}
	}
}

/* The flags column of a dump line: "ok", "lost" or "aborted:REASON". */
static void
gen_dump_flags(FILE *f, const struct gen_preq *r)
{
	switch (r->state) {
	case GEN_PREQ_DONE:
		fputs("ok", f);
		break;
	case GEN_PREQ_ABORTED:
		fprintf(f, "aborted:%s",
			r->abort_reason < SL_ABORT_MAX
				? sl_abort_reason_name(r->abort_reason)
				: "UNKNOWN");
		break;
	case GEN_PREQ_PENDING:
		fputs("unsent", f);
		break;
	default:
		fputs("lost", f);
	}
}

/* One line of a per-request file (the dump, the times) for request @i. */
typedef void (*gen_line_fn)(FILE *f, const struct gen_prun *run, uint64_t i);

/**
 * gen_dump_line - "<index>\t<flags>\t<result text, escaped>\n"; the
 * text only for "ok" (a partial result differs from run to run and would
 * hide the diff that matters). With --questions the question's id
 * (escaped) follows the index: "<index>\t<id>\t<flags>\t<text>\n".
 */
static void
gen_dump_line(FILE *f, const struct gen_prun *run, uint64_t i)
{
	const struct gen_preq *r = &run->req[i];

	fprintf(f, "%" PRIu64 "\t", i);
	if (run->questions != NULL && i < run->questions->n) {
		const char *id = run->questions->q[i].id;

		gen_dump_escape(f, id, strlen(id));
		fputc('\t', f);
	}
	gen_dump_flags(f, r);
	fputc('\t', f);
	if (r->state == GEN_PREQ_DONE)
		gen_dump_escape(f, r->text, r->text_len);
	fputc('\n', f);
}

/*
 * The times of a run's offset @ns from its start in microseconds, 0 for
 * "never" (a request is never sent at the run's first nanosecond: its
 * question is built first).
 */
static uint64_t
gen_times_us(const struct gen_prun *run, uint64_t ns)
{
	return ns > run->start_ns ? (ns - run->start_ns) / 1000 : 0;
}

/**
 * gen_times_line - "<index>\t<due_us>\t<sent_us>\t<first_us>\t<done_us>\t
 * <flags>\n", microseconds from the run's start: when the schedule wanted
 * it sent, when its question went out, its first result fragment, its
 * END or ABORT (0: never); flags as in the dump. What a harness needs to
 * drop a warm-up, pool percentiles across runs or compute its own load.
 */
static void
gen_times_line(FILE *f, const struct gen_prun *run, uint64_t i)
{
	const struct gen_preq *r = &run->req[i];
	bool closed = r->state == GEN_PREQ_DONE || r->state == GEN_PREQ_ABORTED;

	fprintf(f,
		"%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64
		"\t",
		i, r->at_ns / 1000,
		r->state == GEN_PREQ_PENDING ? 0
					     : gen_times_us(run, r->sent_ns),
		r->first_rx_ns ? gen_times_us(run, r->first_rx_ns) : 0,
		closed ? gen_times_us(run, r->done_ns) : 0);
	gen_dump_flags(f, r);
	fputc('\n', f);
}

/* @path gets one @line per request of @run, in index order. */
static int
gen_run_file_write(const struct gen_prun *run, const char *path,
		   gen_line_fn line)
{
	FILE *f = fopen(path, "w");
	uint64_t i;

	if (f == NULL)
		return -errno;
	for (i = 0; i < run->n; i++)
		line(f, run, i);
	if (fclose(f) != 0)
		return -errno;
	return 0;
}

static int
gen_piece_cmp(const void *a, const void *b)
{
	const struct gen_piece *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Put the result text in seq order (it arrived in any order). */
static int
gen_preq_assemble(struct gen_preq *r)
{
	char *text;
	uint32_t i, off = 0;

	if (r->pieces_sorted)
		return 0;
	qsort(r->pieces, r->n_pieces, sizeof(r->pieces[0]), gen_piece_cmp);
	text = malloc(r->text_cap ? r->text_cap : 1);
	if (text == NULL)
		return -ENOMEM;
	for (i = 0; i < r->n_pieces; i++) {
		memcpy(text + off, r->text + r->pieces[i].off,
		       r->pieces[i].len);
		r->pieces[i].off = off;
		off += r->pieces[i].len;
	}
	free(r->text);
	r->text = text;
	r->pieces_sorted = true;
	return 0;
}

static void
gen_preq_free(struct gen_preq *r)
{
	free(r->seen);
	free(r->pieces);
	free(r->text);
	r->seen = NULL;
	r->pieces = NULL;
	r->text = NULL;
}

static void
gen_prun_free(struct gen_prun *run)
{
	uint64_t i;

	if (run->req != NULL)
		for (i = 0; i < run->n; i++)
			gen_preq_free(&run->req[i]);
	free(run->req);
	run->req = NULL;
}

/* Mark @seq received; false if it was already (a duplicate). */
static int
gen_preq_see(struct gen_preq *r, uint32_t seq)
{
	uint32_t w = seq / 64;

	if (w >= r->seen_words) {
		uint32_t words = r->seen_words ? r->seen_words : 1;
		uint64_t *grown;

		while (words <= w)
			words *= 2;
		grown = realloc(r->seen, words * sizeof(*grown));
		if (grown == NULL)
			return -ENOMEM;
		memset(grown + r->seen_words, 0,
		       (words - r->seen_words) * sizeof(*grown));
		r->seen = grown;
		r->seen_words = words;
	}
	if (r->seen[w] & (1ull << (seq % 64)))
		return 0;
	r->seen[w] |= 1ull << (seq % 64);
	return 1;
}

static bool
gen_preq_has(const struct gen_preq *r, uint32_t seq)
{
	return seq / 64 < r->seen_words &&
	       (r->seen[seq / 64] & (1ull << (seq % 64)));
}

/* Append the tokens of @v to @r's text as one piece. */
static int
gen_preq_store(struct gen_preq *r, const struct sl_frag_view *v)
{
	struct sl_token_iter it;
	struct sl_token tok;
	uint32_t off = r->text_len;

	if (r->n_pieces == r->cap_pieces) {
		uint32_t cap = r->cap_pieces ? 2 * r->cap_pieces : 8;
		struct gen_piece *grown =
			realloc(r->pieces, cap * sizeof(*grown));

		if (grown == NULL)
			return -ENOMEM;
		r->pieces = grown;
		r->cap_pieces = cap;
	}
	if (r->text_len + v->hdr.payload_len > r->text_cap) {
		uint32_t cap = r->text_cap ? r->text_cap : 256;
		char *grown;

		while (cap < r->text_len + v->hdr.payload_len)
			cap *= 2;
		grown = realloc(r->text, cap);
		if (grown == NULL)
			return -ENOMEM;
		r->text = grown;
		r->text_cap = cap;
	}
	sl_frag_view_tokens(v, &it);
	while (sl_token_next(&it, &tok)) {
		memcpy(r->text + r->text_len, tok.text, tok.len);
		r->text_len += tok.len;
	}
	if (r->n_pieces > 0 && r->pieces[r->n_pieces - 1].seq > v->hdr.seq)
		r->pieces_sorted = false;
	r->pieces[r->n_pieces++] =
		(struct gen_piece){v->hdr.seq, off, r->text_len - off};
	return 0;
}

static void
gen_prun_close(struct gen_prun *run, struct gen_preq *r, uint8_t state,
	       uint64_t now)
{
	r->state = state;
	r->done_ns = now;
	run->n_open--;
}

/*
 * One fragment of the result streams. Through sl_rel it comes in order
 * and once; the checks below still count what a broken path would do
 * (test_gen.c feeds them directly).
 */
static void
gen_prun_take(struct gen *g, struct gen_prun *run,
	      const struct sl_frag_view *vp, uint64_t now)
{
	const struct sl_frag_view v = *vp;
	struct gen_preq *r;
	uint64_t id, idx;
	uint32_t seq;
	int seen;

	if (v.hdr.pipeline != g->o.pipeline || v.hdr.depth != 1) {
		run->c.corrupted++;
		return;
	}
	id = v.hdr.ancestry[0];
	idx = id & 0xffffffffull;
	if ((id >> 32) != run->id_hi || idx >= run->next) {
		run->c.unknown++;
		return;
	}
	r = &run->req[idx];
	seq = v.hdr.seq;
	run->c.fragments_received++;
	/* sluiced refused or ended the request itself: an ABORT on the
	 * request's own stream (stage 0; WIRE.md), whatever results came. */
	if (v.hdr.stage == 0 && (v.hdr.flags & SL_FRAG_F_ABORT)) {
		if (r->state == GEN_PREQ_OPEN) {
			r->abort_reason = v.hdr.abort_reason;
			run->c.aborted++;
			run->c.aborted_by[v.hdr.abort_reason < SL_ABORT_MAX
						  ? v.hdr.abort_reason
						  : SL_ABORT_MAX]++;
			gen_prun_close(run, r, GEN_PREQ_ABORTED, now);
		}
		return;
	}
	if (r->first_rx_ns == 0) {
		r->first_rx_ns = now;
		sl_hist_record(&run->first_lat, now - r->sent_ns);
	}
	if (seq >= GEN_RESULT_SEQ_MAX) {
		run->c.corrupted++;
		return;
	}
	seen = gen_preq_see(r, seq);
	if (seen < 0) {
		fprintf(stderr, "sluicegen: out of memory\n");
		exit(1);
	}
	if (seen == 0) {
		run->c.duplicated++;
		return;
	}
	if (seq != r->expected)
		run->c.misordered++;
	while (gen_preq_has(r, r->expected))
		r->expected++;
	if (r->state != GEN_PREQ_OPEN) {
		/* After END, ABORT or the drain: nothing more belongs. */
		if (r->state == GEN_PREQ_DONE)
			run->c.corrupted++;
		return;
	}
	if (v.hdr.flags & SL_FRAG_F_ABORT) {
		r->abort_reason = v.hdr.abort_reason;
		run->c.aborted++;
		run->c.aborted_by[v.hdr.abort_reason < SL_ABORT_MAX
					  ? v.hdr.abort_reason
					  : SL_ABORT_MAX]++;
		gen_prun_close(run, r, GEN_PREQ_ABORTED, now);
		return;
	}
	if (r->have_end && seq > r->end_seq) {
		run->c.corrupted++;
		return;
	}
	if (v.hdr.flags & SL_FRAG_F_END) {
		if (r->have_end || r->expected > seq + 1) {
			/* A second END, or fragments beyond this one. */
			run->c.corrupted++;
			return;
		}
		r->have_end = true;
		r->end_seq = seq;
	}
	if (gen_preq_store(r, &v) < 0) {
		fprintf(stderr, "sluicegen: out of memory\n");
		exit(1);
	}
	if (r->have_end && r->expected > r->end_seq) {
		if (gen_preq_assemble(r) < 0) {
			fprintf(stderr, "sluicegen: out of memory\n");
			exit(1);
		}
		gen_prun_close(run, r, GEN_PREQ_DONE, now);
		run->c.completed++;
		run->c.result_bytes += r->text_len;
		sl_hist_record(&run->lat, now - r->sent_ns);
		run->last_done_ns = now;
		if (g->o.dump_path == NULL) {
			free(r->text);
			free(r->pieces);
			r->text = NULL;
			r->pieces = NULL;
		}
	}
}

static void
gen_prun_take_cb(struct gen *g, void *ctx, const struct sl_frag_view *v,
		 uint64_t now)
{
	gen_prun_take(g, ctx, v, now);
}

/*
 * --questions: build @q into @tx as sl_tokenize_next tokens, K a
 * fragment (fewer when they do not fit one), END on the last. Return the
 * fragment count, or a negative errno.
 */
static int
gen_prun_question_text(struct gen *g, const struct gen_question *q,
		       struct sl_stream_tx *stream, struct sl_burst *tx,
		       uint64_t now)
{
	size_t pos = 0;
	uint32_t frags = 0;
	int rc;

	while (pos < q->len) {
		struct sl_dgram *d = &tx->d[tx->n];
		uint32_t in_frag = 0;

		if (tx->n == SL_BURST_MAX)
			return -ENOBUFS;
		rc = sl_stream_tx_begin(stream, d->buf, d->cap);
		if (rc < 0)
			return rc;
		while (pos < q->len && in_frag < g->o.tokens) {
			size_t t =
				sl_tokenize_next(q->text + pos, q->len - pos);

			rc = sl_stream_tx_add(stream,
					      sl_token_hash(q->text + pos, t),
					      q->text + pos, t);
			if (rc == -ENOSPC && in_frag > 0)
				break;
			if (rc < 0)
				return rc;
			pos += t;
			in_frag++;
		}
		d->len = (uint16_t)sl_stream_tx_finish(
			stream, pos == q->len ? SL_FRAG_F_END : 0, 0, now);
		memset(&d->addr, 0, sizeof(d->addr));
		tx->n++;
		frags++;
	}
	return (int)frags;
}

/*
 * Build request @idx's question into @tx: K tokens a fragment (fewer
 * when they do not fit one), END on the last. Return the fragment
 * count, or a negative errno.
 */
static int
gen_prun_question(struct gen *g, struct gen_prun *run, uint64_t idx,
		  struct sl_burst *tx, uint64_t now)
{
	struct gen_preq *r = &run->req[idx];
	uint64_t id = (run->id_hi << 32) | idx;
	struct sl_stream_tx stream;
	uint32_t done = 0, frags = 0;
	int rc;

	sl_stream_tx_init(&stream, g->o.pipeline, 0, g->o.tenant, 1, &id);
	if (g->questions != NULL)
		return gen_prun_question_text(g, &g->questions->q[idx], &stream,
					      tx, now);
	while (done < g->o.question_tokens) {
		struct sl_dgram *d = &tx->d[tx->n];
		uint32_t in_frag = 0;
		size_t len;

		if (tx->n == SL_BURST_MAX)
			return -ENOBUFS;
		rc = sl_stream_tx_begin(&stream, d->buf, d->cap);
		if (rc < 0)
			return rc;
		while (done < g->o.question_tokens && in_frag < g->o.tokens) {
			size_t t = (r->q_off + done) % g->corpus->n_tokens;
			const struct sl_corpus_token *tok =
				&g->corpus->tokens[t];

			rc = sl_stream_tx_add(
				&stream, tok->id,
				sl_corpus_token_text(g->corpus, t), tok->len);
			if (rc == -ENOSPC && in_frag > 0)
				break;
			if (rc < 0)
				return rc;
			done++;
			in_frag++;
		}
		len = sl_stream_tx_finish(
			&stream,
			done == g->o.question_tokens ? SL_FRAG_F_END : 0, 0,
			now);
		d->len = (uint16_t)len;
		memset(&d->addr, 0, sizeof(d->addr));
		tx->n++;
		frags++;
	}
	return (int)frags;
}

/* Receive whatever is waiting. */
static int
gen_prun_poll_rx(struct gen *g, struct gen_prun *run)
{
	return gen_rel_rx(g, gen_prun_take_cb, run, &run->c.corrupted);
}

/* Send all of @tx; while the socket is full, keep receiving. */
static int
gen_prun_flush(struct gen *g, struct gen_prun *run, struct sl_burst *tx)
{
	unsigned int sent = 0;

	while (sent < tx->n) {
		int rc = sl_rel_send_burst(g->rel, tx->d + sent, tx->n - sent,
					   sl_now_ns());

		if (rc < 0) {
			fprintf(stderr, "sluicegen: send: %s\n", strerror(-rc));
			return rc;
		}
		if (rc == 0) {
			struct pollfd p = {.fd = g->sock->fd,
					   .events = POLLOUT | POLLIN};

			poll(&p, 1, 10);
			if (gen_prun_poll_rx(g, run) < 0)
				return -EIO;
			continue;
		}
		sent += (unsigned int)rc;
		run->c.fragments += (unsigned int)rc;
	}
	tx->n = 0;
	return 0;
}

static int
gen_prun_setup(struct gen *g, struct gen_prun *run, double rate, uint32_t index,
	       double duration)
{
	uint64_t *at, i, max;

	memset(run, 0, sizeof(*run));
	run->rate = rate;
	run->index = index;
	run->questions = g->questions;
	max = g->o.requests;
	if (g->questions != NULL && (max == 0 || max > g->questions->n))
		max = g->questions->n;
	at = gen_arrivals(rate, g->o.poisson, g->o.seed, duration, max,
			  &run->n);
	if (at == NULL)
		return -ENOMEM;
	if (run->n >= (1ull << 32)) {
		free(at);
		return -E2BIG;
	}
	run->req = calloc(run->n ? run->n : 1, sizeof(run->req[0]));
	if (run->req == NULL) {
		free(at);
		return -ENOMEM;
	}
	for (i = 0; i < run->n; i++) {
		run->req[i].at_ns = at[i];
		run->req[i].q_off =
			gen_question_offset(g->o.seed, i, g->corpus->n_tokens);
	}
	free(at);
	/* Fresh ids for every run of a sweep: late results of one rate
	 * cannot be taken for the next one's. */
	run->id_hi = (g->id_prefix >> 32) + index;
	run->id_hi &= 0xffffffffull;
	if (g->rel != NULL)
		run->rel_base = *sl_rel_counters(g->rel);
	sl_hist_init(&run->lat);
	sl_hist_init(&run->first_lat);
	return 0;
}

static int
gen_prun_run(struct gen *g, struct gen_prun *run)
{
	static struct sl_burst tx;
	uint64_t drain_ns = g->o.drain_ms * 1000000ull;
	uint64_t start, now, i;

	sl_burst_reset(&tx);
	start = sl_now_ns();
	run->start_ns = start;
	for (;;) {
		uint64_t wait_ns = GEN_IDLE_WAIT_NS, next_rel;
		struct timespec ts;
		struct pollfd p;

		now = sl_now_ns();
		/* Send every request that is due, in bursts. */
		while (!gen_stop && run->next < run->n &&
		       run->req[run->next].at_ns <= now - start) {
			struct gen_preq *r = &run->req[run->next];
			uint32_t need =
				g->questions != NULL
					? g->questions->q[run->next].frags
					: g->o.question_tokens;
			int rc;

			if (tx.n + need > SL_BURST_MAX &&
			    gen_prun_flush(g, run, &tx) < 0)
				return -1;
			rc = gen_prun_question(g, run, run->next, &tx, now);
			if (rc < 0) {
				fprintf(stderr,
					"sluicegen: cannot build the question "
					"of request %" PRIu64 ": %s\n",
					run->next, strerror(-rc));
				return -1;
			}
			r->sent_ns = now;
			r->state = GEN_PREQ_OPEN;
			if (run->first_send_ns == 0)
				run->first_send_ns = now;
			run->last_send_ns = now;
			run->next++;
			run->n_open++;
			run->c.requests++;
		}
		if (tx.n > 0 && gen_prun_flush(g, run, &tx) < 0)
			return -1;
		if (gen_prun_poll_rx(g, run) < 0)
			return -1;
		next_rel = gen_rel_tick(g, gen_prun_take_cb, run);

		now = sl_now_ns();
		if (run->next == run->n || gen_stop) {
			/* All sent (or stopped): drain. */
			if (run->n_open == 0)
				break;
			if (now - (run->last_send_ns ? run->last_send_ns
						     : start) >=
			    drain_ns)
				break;
		} else {
			uint64_t due = start + run->req[run->next].at_ns;

			wait_ns = due > now ? due - now : 0;
			if (wait_ns > GEN_IDLE_WAIT_NS)
				wait_ns = GEN_IDLE_WAIT_NS;
		}
		if (next_rel <= now)
			wait_ns = 0;
		else if (next_rel - now < wait_ns)
			wait_ns = next_rel - now;
		if (wait_ns == 0)
			continue;
		p.fd = g->sock->fd;
		p.events = POLLIN;
		ts.tv_sec = (time_t)(wait_ns / 1000000000ull);
		ts.tv_nsec = (long)(wait_ns % 1000000000ull);
		ppoll(&p, 1, &ts, NULL);
	}
	run->end_ns = now;
	for (i = 0; i < run->next; i++) {
		struct gen_preq *r = &run->req[i];

		if (r->state == GEN_PREQ_OPEN) {
			gen_prun_close(run, r, GEN_PREQ_LOST, now);
			run->c.lost++;
		}
	}
	return 0;
}

static double
gen_prun_achieved(const struct gen_prun *run)
{
	double span;

	if (run->c.completed == 0 || run->last_done_ns <= run->first_send_ns)
		return 0;
	span = (double)(run->last_done_ns - run->first_send_ns) / 1e9;
	return (double)run->c.completed / span;
}

static void
gen_prun_json(FILE *f, const struct gen *g, const struct gen_prun *run)
{
	const struct gen_prun_counters *c = &run->c;
	const struct sl_hist *h = &run->lat, *fh = &run->first_lat;
	double dur = (double)(run->end_ns - run->start_ns) / 1e9;
	unsigned int k;
	bool first = true;

	fprintf(f,
		"{\"mode\": \"pipeline\", \"arrival\": \"%s\""
		", \"offered_rps\": %.3f, \"achieved_rps\": %.3f"
		", \"requests\": %" PRIu64 ", \"completed\": %" PRIu64
		", \"aborted\": %" PRIu64 ", \"aborted_by_reason\": {",
		g->o.poisson ? "poisson" : "constant", run->rate,
		gen_prun_achieved(run), c->requests, c->completed, c->aborted);
	for (k = 0; k <= SL_ABORT_MAX; k++) {
		if (c->aborted_by[k] == 0)
			continue;
		fprintf(f, "%s\"%s\": %" PRIu64, first ? "" : ", ",
			k < SL_ABORT_MAX ? sl_abort_reason_name(k) : "UNKNOWN",
			c->aborted_by[k]);
		first = false;
	}
	fprintf(f,
		"}, \"lost\": %" PRIu64 ", \"duplicated\": %" PRIu64
		", \"misordered\": %" PRIu64 ", \"corrupted\": %" PRIu64
		", \"unknown\": %" PRIu64 ", \"fragments\": %" PRIu64
		", \"fragments_received\": %" PRIu64
		", \"result_bytes\": %" PRIu64
		", \"p50_us\": %.3f, \"p90_us\": %.3f, \"p99_us\": %.3f"
		", \"p999_us\": %.3f, \"max_us\": %.3f, \"mean_us\": %.3f"
		", \"first_p50_us\": %.3f, \"first_p99_us\": %.3f"
		", \"fragments_per_s\": %.1f, \"duration_s\": %.3f"
		", \"send_duration_s\": %.3f, \"question_tokens\": %u"
		", \"seed\": %" PRIu64,
		c->lost, c->duplicated, c->misordered, c->corrupted, c->unknown,
		c->fragments, c->fragments_received, c->result_bytes,
		us(sl_hist_percentile(h, 50)), us(sl_hist_percentile(h, 90)),
		us(sl_hist_percentile(h, 99)), us(sl_hist_percentile(h, 99.9)),
		us(h->max), sl_hist_mean(h) / 1000.0,
		us(sl_hist_percentile(fh, 50)), us(sl_hist_percentile(fh, 99)),
		dur > 0 ? (double)c->fragments_received / dur : 0, dur,
		(double)(run->last_send_ns - run->first_send_ns) / 1e9,
		g->o.question_tokens, g->o.seed);
	fprintf(f, ", \"rel\": ");
	sl_rel_counters_json(f, sl_rel_counters(g->rel), &run->rel_base);
	fputc('}', f);
}

static void
gen_prun_table_header(void)
{
	printf("  %10s %10s %8s %8s %7s %5s %5s %5s %10s %10s %10s\n",
	       "offered/s", "achieved/s", "requests", "complete", "aborted",
	       "lost", "dup", "misord", "p50 ms", "p99 ms", "max ms");
}

static void
gen_prun_table_row(const struct gen_prun *run)
{
	const struct sl_hist *h = &run->lat;

	printf("  %10.2f %10.2f %8" PRIu64 " %8" PRIu64 " %7" PRIu64
	       " %5" PRIu64 " %5" PRIu64 " %5" PRIu64 " %10.1f %10.1f %10.1f\n",
	       run->rate, gen_prun_achieved(run), run->c.requests,
	       run->c.completed, run->c.aborted, run->c.lost, run->c.duplicated,
	       run->c.misordered, (double)sl_hist_percentile(h, 50) / 1e6,
	       (double)sl_hist_percentile(h, 99) / 1e6, (double)h->max / 1e6);
}

static bool
gen_prun_failed(const struct gen_prun *run)
{
	const struct gen_prun_counters *c = &run->c;

	return c->lost || c->duplicated || c->misordered || c->aborted ||
	       c->corrupted || c->unknown || c->completed < c->requests;
}

/* The dump or times file @base of run @index: @base itself, or
 * @base.<index> within a sweep. */
static void
gen_run_path(const struct gen *g, const char *base, uint32_t index, char *buf,
	     size_t len)
{
	if (g->o.n_sweep == 0)
		snprintf(buf, len, "%s", base);
	else
		snprintf(buf, len, "%s.%u", base, index);
}

static int
gen_pipeline_main(struct gen *g)
{
	double single = g->o.request_rate;
	const double *rates = g->o.n_sweep ? g->o.sweep : &single;
	unsigned int n_rates = g->o.n_sweep ? g->o.n_sweep : 1, i;
	double duration = g->o.n_sweep ? g->o.sweep_duration : g->o.duration;
	bool failed = false;

	if (!g->o.quiet && !g->o.json) {
		printf("sluicegen: pipeline %u, %s arrivals, %u-token "
		       "questions, %.1f s per rate, seed %" PRIu64 "\n",
		       g->o.pipeline, g->o.poisson ? "poisson" : "constant",
		       g->o.question_tokens, duration, g->o.seed);
		gen_prun_table_header();
		fflush(stdout);
	}
	if (g->o.json && g->o.n_sweep)
		printf("{\"sweep\": [");
	for (i = 0; i < n_rates; i++) {
		struct gen_prun run;
		uint64_t now;
		int rc;

		rc = gen_prun_setup(g, &run, rates[i], i, duration);
		if (rc < 0) {
			fprintf(stderr,
				"sluicegen: cannot plan %.3f req/s: %s\n",
				rates[i], strerror(-rc));
			return 1;
		}
		if (gen_prun_run(g, &run) < 0) {
			gen_prun_free(&run);
			return 1;
		}
		/* The pause before the next rate, or the end: the streams
		 * are still served (late results, ACKs, END resends). */
		now = sl_now_ns();
		if (i + 1 < n_rates && g->o.sweep_pause_ms > 0 && !gen_stop)
			rc = gen_rel_serve(
				g, gen_prun_take_cb, &run, &run.c.corrupted,
				now + g->o.sweep_pause_ms * 1000000ull, false);
		else
			rc = gen_rel_serve(g, gen_prun_take_cb, &run,
					   &run.c.corrupted,
					   now + GEN_LINGER_NS, true);
		if (rc < 0) {
			gen_prun_free(&run);
			return 1;
		}
		for (unsigned int w = 0; w < 2; w++) {
			const char *base = w ? g->o.times_path : g->o.dump_path;
			char path[4096];

			if (base == NULL)
				continue;
			gen_run_path(g, base, i, path, sizeof(path));
			rc = gen_run_file_write(
				&run, path, w ? gen_times_line : gen_dump_line);
			if (rc < 0) {
				fprintf(stderr,
					"sluicegen: cannot write %s: %s\n",
					path, strerror(-rc));
				gen_prun_free(&run);
				return 1;
			}
		}
		if (g->o.json) {
			if (g->o.n_sweep && i > 0)
				printf(", ");
			gen_prun_json(stdout, g, &run);
			if (!g->o.n_sweep)
				printf("\n");
		} else if (!g->o.quiet) {
			gen_prun_table_row(&run);
			gen_text_rel(sl_rel_counters(g->rel), &run.rel_base);
		}
		fflush(stdout);
		if (gen_prun_failed(&run))
			failed = true;
		gen_prun_free(&run);
		if (gen_stop)
			break;
	}
	if (g->o.json && g->o.n_sweep)
		printf("]}\n");
	if (g->o.check && failed) {
		if (!g->o.quiet)
			fprintf(stderr, "sluicegen: check failed\n");
		return 1;
	}
	return 0;
}

#ifndef SLUICEGEN_NO_MAIN
int
main(int argc, char **argv)
{
	static struct gen g;
	uint64_t start = 0, end = 0;
	struct sigaction sa;
	int rc = 0;

	if (gen_parse_args(&g.o, argc, argv) < 0)
		return 2;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = gen_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (g.o.mode == GEN_MODE_PIPELINE) {
		if (gen_setup(&g) < 0) {
			gen_teardown(&g);
			return 1;
		}
		rc = gen_pipeline_main(&g);
		gen_teardown(&g);
		return rc;
	}
	if (gen_setup(&g) < 0 || gen_run(&g, &start, &end) < 0) {
		gen_teardown(&g);
		return 1;
	}
	gen_report(&g, start, end);
	if (g.o.check &&
	    (g.c.lost || g.c.duplicated || g.c.misordered || g.c.corrupted ||
	     g.c.aborted || g.c.unknown || g.c.completed < g.c.requests)) {
		if (!g.o.quiet)
			fprintf(stderr, "sluicegen: check failed\n");
		rc = 1;
	}
	gen_teardown(&g);
	return rc;
}
#endif /* SLUICEGEN_NO_MAIN */
