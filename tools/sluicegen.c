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
 */
#include <errno.h>
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

#include "sluice.h"

#ifndef SL_SOURCE_DIR
#define SL_SOURCE_DIR "."
#endif
#define GEN_DEFAULT_CORPUS SL_SOURCE_DIR "/tools/data/corpus.txt"
#define GEN_STAGES_MAX 16
#define GEN_IDLE_WAIT_NS 10000000ull /* longest sleep with nothing to do */

struct gen_opts {
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
};

struct gen_request {
	struct sl_stream_tx tx;
	uint64_t id;
	uint64_t first_send_ns;
	uint64_t last_ns;   /* last send or receive: drives the drain timer */
	size_t tok_off;     /* first corpus token of the request */
	uint32_t sent;
	uint32_t received;  /* distinct in-range fragments */
	uint32_t expected;  /* lowest output seq not yet received */
	uint8_t *got;       /* F flags */
	bool open;
	bool bad;           /* some fragment failed the content check */
};

struct gen_counters {
	uint64_t requests;
	uint64_t completed;
	uint64_t fragments;
	uint64_t fragments_received;
	uint64_t tokens_received;
	uint64_t lost;
	uint64_t duplicated;
	uint64_t misordered;
	uint64_t corrupted;
	uint64_t aborted;
	uint64_t unknown;
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
	gen_map_remove(&g->map, r->id);
	r->open = false;
	g->free_slots[g->n_free++] = (uint32_t)(r - g->req);
	g->n_open--;
}

/* Corpus token j of fragment i of @r. */
static size_t
gen_token_index(const struct gen *g, const struct gen_request *r,
		uint32_t frag, uint32_t j)
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
	len = sl_stream_tx_finish(&r->tx,
				  frag + 1 == g->o.frags ? SL_FRAG_F_END : 0,
				  0, 0);
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

static void
gen_receive(struct gen *g, const struct sl_dgram *d, uint64_t now)
{
	struct sl_frag_view v;
	struct gen_request *r;
	uint32_t seq;
	int32_t slot;

	if (sl_frag_view_parse(&v, d) != SL_WIRE_OK) {
		/* Not even a fragment: the path mangled it. */
		g->c.corrupted++;
		return;
	}
	slot = gen_map_find(&g->map, v.hdr.ancestry[0]);
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
		g->c.lost += g->o.frags - r->received;
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
		"transforms: echo, upper, rot13 (one per stage, in order)\n"
		"default corpus: %s\n", GEN_DEFAULT_CORPUS);
}

static bool
parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool
parse_double(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return errno == 0 && *end == '\0' && end != s && *out >= 0 &&
	       isfinite(*out);
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
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	bool have_server = false, have_duration = false;
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
	sl_endpoint_parse("0.0.0.0", true, &o->bind);

#define BAD_ARG(what)                                                         \
	do {                                                                  \
		fprintf(stderr, "sluicegen: bad --%s '%s'\n", what, optarg);  \
		return -EINVAL;                                               \
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
			if (!parse_u64(optarg, 0, UINT32_MAX, &v))
				BAD_ARG("pipeline");
			o->pipeline = (uint32_t)v;
			break;
		case 't':
			if (!parse_u64(optarg, 0, UINT16_MAX, &v))
				BAD_ARG("tenant");
			o->tenant = (uint16_t)v;
			break;
		case 'n':
			if (!parse_u64(optarg, 1, 1u << 20, &v))
				BAD_ARG("streams");
			o->streams = (uint32_t)v;
			break;
		case 'r':
			if (!parse_double(optarg, &o->rate))
				BAD_ARG("rate");
			break;
		case 'F':
			if (!parse_u64(optarg, 1, 1u << 20, &v))
				BAD_ARG("fragments-per-request");
			o->frags = (uint32_t)v;
			break;
		case 'K':
			if (!parse_u64(optarg, 1, 1024, &v))
				BAD_ARG("tokens-per-fragment");
			o->tokens = (uint32_t)v;
			break;
		case 'd':
			if (!parse_double(optarg, &o->duration))
				BAD_ARG("duration");
			have_duration = true;
			break;
		case 'R':
			if (!parse_u64(optarg, 1, UINT32_MAX, &o->requests))
				BAD_ARG("requests");
			break;
		case 'D':
			if (!parse_u64(optarg, 0, 3600000, &o->drain_ms))
				BAD_ARG("drain-ms");
			break;
		case 'e':
			if (gen_parse_expect(o, optarg) < 0)
				BAD_ARG("expect");
			o->expect_text = optarg;
			break;
		case 'c':
			o->corpus_path = optarg;
			break;
		case 'S':
			if (!parse_u64(optarg, 0, UINT64_MAX, &o->seed))
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
	/* --requests alone runs until R requests; with --duration too,
	 * whichever comes first. */
	if (o->requests && !have_duration)
		o->duration = 0;
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

	/* Request ids must differ across concurrent sluicegen processes:
	 * 32 random bits from the kernel, then a counter. */
	if (getrandom(&prefix, sizeof(prefix), 0) != sizeof(prefix))
		prefix = (uint32_t)sl_now_ns() ^ (uint32_t)getpid();
	g->id_prefix = (uint64_t)prefix << 32;
	g->rng = g->o.seed;
	sl_hist_init(&g->frag_lat);
	sl_hist_init(&g->req_lat);
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
	sl_sock_close(g->sock);
	sl_corpus_free(g->corpus);
}

static int
gen_run(struct gen *g, uint64_t *start_out, uint64_t *end_out)
{
	static struct sl_burst rx, tx;
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
	sl_burst_reset(&rx);
	sl_burst_reset(&tx);
	*start_out = start;

	for (;;) {
		uint64_t now = sl_now_ns(), wait_ns;
		struct timespec ts;
		struct pollfd p;
		int n, i;

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
				int len = gen_build_fragment(g, &tx.d[tx.n],
							     now);

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
			int rc = sl_sock_send_burst(g->sock, tx.d + tx_sent,
						    tx.n - tx_sent);

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

		do {
			n = sl_sock_recv_burst(g->sock, rx.d, SL_BURST_MAX);
			if (n < 0) {
				fprintf(stderr, "sluicegen: recv: %s\n",
					strerror(-n));
				return -1;
			}
			now = sl_now_ns();
			for (i = 0; i < n; i++)
				gen_receive(g, &rx.d[i], now);
		} while (n == SL_BURST_MAX);

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
						     g->o.rate) + 1;
			else
				wait_ns = 0;
		} else if (opening && g->n_free > 0) {
			wait_ns = 0;
		}
		if (wait_ns == 0)
			continue;
		ts.tv_sec = (time_t)(wait_ns / 1000000000ull);
		ts.tv_nsec = (long)(wait_ns % 1000000000ull);
		ppoll(&p, 1, &ts, NULL);
	}
	*end_out = sl_now_ns();
	return 0;
}

static double
us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static void
gen_report(const struct gen *g, uint64_t start, uint64_t end)
{
	const struct gen_counters *c = &g->c;
	double dur = (double)(end - start) / 1e9;
	double send_dur = (double)(g->last_send_ns - g->first_send_ns) / 1e9;
	double fps = dur > 0 ? (double)c->fragments_received / dur : 0;
	double tps = dur > 0 ? (double)c->tokens_received / dur : 0;
	double offered = g->o.rate > 0 ? g->o.rate :
			 (send_dur > 0 ? (double)c->fragments / send_dur : 0);
	const struct sl_hist *f = &g->frag_lat, *r = &g->req_lat;

	if (g->o.json) {
		printf("{\"requests\": %" PRIu64 ", \"completed\": %" PRIu64
		       ", \"fragments\": %" PRIu64
		       ", \"fragments_received\": %" PRIu64
		       ", \"lost\": %" PRIu64 ", \"duplicated\": %" PRIu64
		       ", \"misordered\": %" PRIu64 ", \"corrupted\": %" PRIu64
		       ", \"aborted\": %" PRIu64 ", \"unknown\": %" PRIu64
		       ", \"p50_us\": %.3f, \"p90_us\": %.3f"
		       ", \"p99_us\": %.3f, \"p999_us\": %.3f"
		       ", \"max_us\": %.3f, \"mean_us\": %.3f"
		       ", \"request_p50_us\": %.3f, \"request_p99_us\": %.3f"
		       ", \"fragments_per_s\": %.1f, \"tokens_per_s\": %.1f"
		       ", \"offered_rate\": %.1f, \"duration_s\": %.3f}\n",
		       c->requests, c->completed, c->fragments,
		       c->fragments_received, c->lost, c->duplicated,
		       c->misordered, c->corrupted, c->aborted, c->unknown,
		       us(sl_hist_percentile(f, 50)),
		       us(sl_hist_percentile(f, 90)),
		       us(sl_hist_percentile(f, 99)),
		       us(sl_hist_percentile(f, 99.9)), us(f->max),
		       sl_hist_mean(f) / 1000.0,
		       us(sl_hist_percentile(r, 50)),
		       us(sl_hist_percentile(r, 99)), fps, tps, offered, dur);
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
	printf("  %-10s %10.1f %10.1f %10.1f %10.1f %10.1f %10.1f\n",
	       "request", us(sl_hist_percentile(r, 50)),
	       us(sl_hist_percentile(r, 90)), us(sl_hist_percentile(r, 99)),
	       us(sl_hist_percentile(r, 99.9)), us(r->max),
	       sl_hist_mean(r) / 1000.0);
}

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
