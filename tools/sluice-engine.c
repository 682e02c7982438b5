/* SPDX-License-Identifier: MIT */
/*
 * sluice-engine - engine emulator: one instance of one pipeline stage.
 *
 * Answers every input fragment with one output fragment whose tokens are
 * the input's, transformed (echo, upper, rot13), sent back to the
 * fragment's source (sluiced, or a client talking to it directly). The
 * output stream keeps the input's identity (pipeline, stage, tenant,
 * ancestry) and numbers its fragments from 0; send_ns is copied so the
 * client measures latency end to end.
 *
 * It also checks what the dataplane promises a stage: per stream it
 * tracks the sequence numbers seen and counts misordered and duplicate
 * fragments and streams that END with a gap (answered with ABORT ENGINE,
 * as a real engine that lost part of its prompt would). Duplicates are
 * not answered: an engine must not emit the same output twice.
 *
 * Deterministic: no randomness, one thread, answers in arrival order.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice.h"

#define ENGINE_TABLE_SIZE 65536u /* power of two */
#define ENGINE_IDLE_NS (10ull * 1000000000ull)
#define ENGINE_POLL_MS 100
#define ENGINE_STATS_NS 1000000000ull
/* Out-of-order seqs remembered past the lowest missing one. */
#define ENGINE_AHEAD_BITS 64

struct engine_stream {
	uint64_t ancestry[SL_ANCESTRY_MAX];
	uint64_t last_ns;
	uint64_t seen_ahead; /* bit i: seq expected + 1 + i arrived */
	uint32_t pipeline;
	uint32_t expected;   /* lowest seq not yet arrived */
	uint32_t out_seq;
	uint32_t fragments;
	uint16_t stage;
	uint8_t depth;
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
};

struct engine {
	const char *name;
	const char *stats_file;
	enum sl_transform transform;
	bool quiet;
	struct sl_sock *sock;
	struct engine_stream *table;
	uint32_t n_streams;
	struct engine_stats st;
};

static volatile sig_atomic_t engine_stop;

static void
engine_on_signal(int sig)
{
	(void)sig;
	engine_stop = 1;
}

static uint32_t
engine_hash(const struct sl_frag_hdr *h)
{
	uint64_t x = ((uint64_t)h->pipeline << 24) ^ ((uint64_t)h->stage << 8) ^
		     h->depth;
	unsigned int i;

	for (i = 0; i < h->depth; i++) {
		x ^= h->ancestry[i] + 0x9e3779b97f4a7c15ull + (x << 6) +
		     (x >> 2);
		x *= 0xbf58476d1ce4e5b9ull;
		x ^= x >> 31;
	}
	return (uint32_t)(x ^ (x >> 32));
}

static bool
engine_key_eq(const struct engine_stream *s, const struct sl_frag_hdr *h)
{
	return s->pipeline == h->pipeline && s->stage == h->stage &&
	       s->depth == h->depth &&
	       memcmp(s->ancestry, h->ancestry,
		      h->depth * sizeof(h->ancestry[0])) == 0;
}

/*
 * Find the stream of @h or claim a slot for it (*created set). Linear
 * probing; NULL when the table is full.
 */
static struct engine_stream *
engine_lookup(struct engine *e, const struct sl_frag_hdr *h, bool *created)
{
	uint32_t mask = ENGINE_TABLE_SIZE - 1, i = engine_hash(h) & mask;
	uint32_t probes;

	*created = false;
	for (probes = 0; probes < ENGINE_TABLE_SIZE; probes++) {
		struct engine_stream *s = &e->table[i];

		if (!s->used) {
			/* Keep one slot free so that probes always end. */
			if (e->n_streams + 1 >= ENGINE_TABLE_SIZE)
				return NULL;
			memset(s, 0, sizeof(*s));
			s->used = 1;
			s->pipeline = h->pipeline;
			s->stage = h->stage;
			s->depth = h->depth;
			memcpy(s->ancestry, h->ancestry,
			       h->depth * sizeof(h->ancestry[0]));
			e->n_streams++;
			*created = true;
			return s;
		}
		if (engine_key_eq(s, h))
			return s;
		i = (i + 1) & mask;
	}
	return NULL;
}

/* Backward-shift deletion: no tombstones, so lookups stay short. */
static void
engine_remove(struct engine *e, struct engine_stream *s)
{
	uint32_t mask = ENGINE_TABLE_SIZE - 1;
	uint32_t hole = (uint32_t)(s - e->table), i = hole;

	for (;;) {
		struct engine_stream *n;
		struct sl_frag_hdr key;
		uint32_t home;

		i = (i + 1) & mask;
		n = &e->table[i];
		if (!n->used)
			break;
		key.pipeline = n->pipeline;
		key.stage = n->stage;
		key.depth = n->depth;
		memcpy(key.ancestry, n->ancestry, sizeof(key.ancestry));
		home = engine_hash(&key) & mask;
		/* n may fill the hole only if its home is not in (hole, i]. */
		if (((i - home) & mask) >= ((i - hole) & mask)) {
			e->table[hole] = *n;
			hole = i;
		}
	}
	e->table[hole].used = 0;
	e->n_streams--;
}

static void
engine_expire(struct engine *e, uint64_t now)
{
	uint32_t i = 0;

	while (i < ENGINE_TABLE_SIZE) {
		struct engine_stream *s = &e->table[i];

		/* After a removal slot i may hold a shifted entry: look
		 * at it again before moving on. */
		if (s->used && now - s->last_ns > ENGINE_IDLE_NS)
			engine_remove(e, s);
		else
			i++;
	}
}

/* Names come from the command line: keep the stats file valid JSON. */
static void
json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static int
engine_write_stats(const struct engine *e)
{
	char tmp[4096];
	FILE *f;
	int n;

	if (e->stats_file == NULL)
		return 0;
	n = snprintf(tmp, sizeof(tmp), "%s.tmp", e->stats_file);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (f == NULL)
		return -errno;
	fputs("{\"name\": ", f);
	json_string(f, e->name);
	fprintf(f,
		", \"streams\": %llu, "
		"\"streams_completed\": %llu, \"fragments_in\": %llu, "
		"\"fragments_out\": %llu, \"tokens_in\": %llu, "
		"\"misordered\": %llu, \"duplicates\": %llu, "
		"\"incomplete\": %llu, \"aborted_in\": %llu, "
		"\"invalid\": %llu, \"untracked\": %llu, "
		"\"streams_open\": %u}\n",
		(unsigned long long)e->st.streams,
		(unsigned long long)e->st.streams_completed,
		(unsigned long long)e->st.fragments_in,
		(unsigned long long)e->st.fragments_out,
		(unsigned long long)e->st.tokens_in,
		(unsigned long long)e->st.misordered,
		(unsigned long long)e->st.duplicates,
		(unsigned long long)e->st.incomplete,
		(unsigned long long)e->st.aborted_in,
		(unsigned long long)e->st.invalid,
		(unsigned long long)e->st.untracked, e->n_streams);
	if (fclose(f) != 0) {
		int err = errno;

		unlink(tmp);
		return -err;
	}
	if (rename(tmp, e->stats_file) < 0) {
		int err = errno;

		unlink(tmp);
		return -err;
	}
	return 0;
}

/*
 * Account for the arrival of @seq on @s. Return false for a duplicate,
 * which is not answered.
 */
static bool
engine_track_seq(struct engine *e, struct engine_stream *s, uint32_t seq)
{
	uint32_t d;

	if (seq < s->expected) {
		e->st.duplicates++;
		return false;
	}
	if (seq == s->expected) {
		s->expected++;
		while (s->seen_ahead & 1) {
			s->seen_ahead >>= 1;
			s->expected++;
		}
		s->seen_ahead >>= 1;
		return true;
	}
	d = seq - s->expected - 1;
	if (d < ENGINE_AHEAD_BITS) {
		if (s->seen_ahead & (1ull << d)) {
			e->st.duplicates++;
			return false;
		}
		s->seen_ahead |= 1ull << d;
	}
	e->st.misordered++;
	return true;
}

/*
 * Handle one valid input fragment; append the answer (if any) to @out.
 */
static void
engine_handle(struct engine *e, const struct sl_frag_view *v,
	      struct sl_dgram *out, uint64_t now)
{
	struct sl_frag_hdr oh = v->hdr;
	struct engine_stream *s;
	bool created;
	int len;

	e->st.fragments_in++;
	e->st.tokens_in += v->hdr.token_count;
	if (v->hdr.flags & SL_FRAG_F_ABORT)
		e->st.aborted_in++;

	s = engine_lookup(e, &v->hdr, &created);
	if (created)
		e->st.streams++;
	if (s == NULL) {
		/* No state: answer stateless, numbering as the input did. */
		e->st.untracked++;
	} else {
		s->last_ns = now;
		if (!engine_track_seq(e, s, v->hdr.seq))
			return;
		s->fragments++;
		oh.seq = s->out_seq++;
		if (v->hdr.flags & SL_FRAG_F_ABORT) {
			engine_remove(e, s);
		} else if (v->hdr.flags & SL_FRAG_F_END) {
			if (s->expected <= v->hdr.seq) {
				e->st.incomplete++;
				oh.flags = SL_FRAG_F_ABORT;
				oh.abort_reason = SL_ABORT_ENGINE;
			} else {
				e->st.streams_completed++;
			}
			engine_remove(e, s);
		}
	}

	if (oh.flags & SL_FRAG_F_ABORT && !(v->hdr.flags & SL_FRAG_F_ABORT)) {
		/* Our own abort: the partial answer is withdrawn, no tokens. */
		struct sl_wire_builder b;

		sl_wire_builder_init(&b, out->buf, out->cap, &oh);
		len = (int)sl_wire_builder_finish(&b);
	} else {
		len = sl_transform_frag(e->transform, v, &oh, out->buf,
					out->cap);
	}
	if (len < 0)
		return;
	out->len = (uint16_t)len;
	out->addr = v->src;
}

static int
engine_flush(struct engine *e, struct sl_burst *tx)
{
	unsigned int sent = 0;

	while (sent < tx->n) {
		int rc = sl_sock_send_burst(e->sock, tx->d + sent,
					    tx->n - sent);

		if (rc < 0)
			return rc;
		if (rc == 0) {
			struct pollfd p = {.fd = e->sock->fd,
					   .events = POLLOUT};

			/* Socket buffer full: wait a little, then give up
			 * on the rest rather than stall every stream. */
			if (poll(&p, 1, 10) <= 0) {
				e->st.tx_dropped += tx->n - sent;
				break;
			}
			continue;
		}
		sent += (unsigned int)rc;
		e->st.fragments_out += (unsigned int)rc;
	}
	tx->n = 0;
	return 0;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: sluice-engine --listen IP:PORT [--name NAME]\n"
		"       [--transform echo|upper|rot13] [--duration SEC]\n"
		"       [--stats-file PATH] [--quiet]\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"name", required_argument, NULL, 'n'},
		{"transform", required_argument, NULL, 't'},
		{"duration", required_argument, NULL, 'd'},
		{"stats-file", required_argument, NULL, 's'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static struct sl_burst rx, tx;
	struct engine e = {.transform = SL_TRANSFORM_ECHO};
	const char *listen_arg = NULL;
	char addr_name[SL_ENDPOINT_STRLEN];
	struct sockaddr_in listen_addr;
	double duration = 0;
	uint64_t start, next_stats, next_expire;
	struct sigaction sa;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end;

		switch (c) {
		case 'l':
			listen_arg = optarg;
			break;
		case 'n':
			e.name = optarg;
			break;
		case 't':
			if (sl_transform_by_name(optarg, &e.transform) < 0) {
				fprintf(stderr,
					"sluice-engine: unknown transform '%s' "
					"(echo, upper, rot13)\n", optarg);
				return 2;
			}
			break;
		case 'd':
			duration = strtod(optarg, &end);
			if (*end != '\0' || duration < 0) {
				fprintf(stderr,
					"sluice-engine: bad --duration '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 's':
			e.stats_file = optarg;
			break;
		case 'q':
			e.quiet = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (listen_arg == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (sl_endpoint_parse(listen_arg, false, &listen_addr) < 0) {
		fprintf(stderr, "sluice-engine: bad --listen '%s'\n",
			listen_arg);
		return 2;
	}

	e.sock = sl_sock_open(&listen_addr);
	if (e.sock == NULL) {
		fprintf(stderr, "sluice-engine: cannot listen on %s: %s\n",
			listen_arg, strerror(errno));
		return 1;
	}
	sl_endpoint_str(&e.sock->local, addr_name, sizeof(addr_name));
	if (e.name == NULL)
		e.name = addr_name;
	e.table = calloc(ENGINE_TABLE_SIZE, sizeof(e.table[0]));
	if (e.table == NULL) {
		fprintf(stderr,
			"sluice-engine: cannot allocate stream table\n");
		return 1;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = engine_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	sl_burst_reset(&rx);
	sl_burst_reset(&tx);
	if (!e.quiet)
		fprintf(stderr,
			"sluice-engine %s: listening on %s, transform %s\n",
			e.name, addr_name, sl_transform_name(e.transform));
	rc = engine_write_stats(&e);
	if (rc < 0) {
		fprintf(stderr, "sluice-engine: cannot write %s: %s\n",
			e.stats_file, strerror(-rc));
		return 1;
	}

	start = sl_now_ns();
	next_stats = start + ENGINE_STATS_NS;
	next_expire = start + ENGINE_STATS_NS;
	while (!engine_stop) {
		struct pollfd p = {.fd = e.sock->fd, .events = POLLIN};
		uint64_t now;
		int n, i;

		n = sl_sock_recv_burst(e.sock, rx.d, SL_BURST_MAX);
		if (n < 0) {
			fprintf(stderr, "sluice-engine: recv: %s\n",
				strerror(-n));
			break;
		}
		now = sl_now_ns();
		for (i = 0; i < n; i++) {
			struct sl_frag_view v;

			if (sl_frag_view_parse(&v, &rx.d[i]) != SL_WIRE_OK) {
				e.st.invalid++;
				continue;
			}
			tx.d[tx.n].len = 0;
			engine_handle(&e, &v, &tx.d[tx.n], now);
			if (tx.d[tx.n].len > 0)
				tx.n++;
		}
		if (tx.n > 0 && engine_flush(&e, &tx) < 0)
			break;

		if (now >= next_expire) {
			engine_expire(&e, now);
			next_expire = now + ENGINE_STATS_NS;
		}
		if (now >= next_stats) {
			engine_write_stats(&e);
			next_stats = now + ENGINE_STATS_NS;
		}
		if (duration > 0 &&
		    (double)(now - start) >= duration * 1e9)
			break;
		/* A full burst means more is probably waiting. */
		if (n == SL_BURST_MAX)
			continue;
		poll(&p, 1, ENGINE_POLL_MS);
	}

	rc = engine_write_stats(&e);
	if (!e.quiet)
		fprintf(stderr,
			"sluice-engine %s: %llu streams (%llu completed), "
			"%llu fragments in, %llu out, %llu misordered, "
			"%llu duplicates, %llu incomplete, %llu invalid\n",
			e.name, (unsigned long long)e.st.streams,
			(unsigned long long)e.st.streams_completed,
			(unsigned long long)e.st.fragments_in,
			(unsigned long long)e.st.fragments_out,
			(unsigned long long)e.st.misordered,
			(unsigned long long)e.st.duplicates,
			(unsigned long long)e.st.incomplete,
			(unsigned long long)e.st.invalid);
	free(e.table);
	sl_sock_close(e.sock);
	return rc < 0 ? 1 : 0;
}
