/* SPDX-License-Identifier: MIT */
/*
 * pipeline.c - sluicegen --mode pipeline: open-loop questions through a
 * whole pipeline DAG, one result stream each, request latency, rate
 * sweeps, dumps; questions from the corpus or --questions FILE.
 */
#include "gen.h"

static double
gen_unit_open(uint64_t *rng)
{
	return (double)((splitmix64(rng) >> 11) + 1) / 9007199254740992.0;
}

/**
 * gen_arrival_gap - one exponential inter-arrival gap of mean 1/@rate
 * seconds (@poisson), or exactly 1/@rate; draws from @rng.
 */
double
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
uint64_t *
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
uint32_t
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

void
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
struct gen_questions *
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
size_t
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
void
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

/**
 * gen_dump_line - "<index>\t<flags>\t<result text, escaped>\n"; the
 * text only for "ok" (a partial result differs from run to run and would
 * hide the diff that matters). With --questions the question's id
 * (escaped) follows the index: "<index>\t<id>\t<flags>\t<text>\n".
 */
void
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
void
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
int
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

void
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
		r->tokens++;
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

/* Open request @r ends by an ABORT of @reason: counted by reason. */
static void
gen_prun_abort(struct gen_prun *run, struct gen_preq *r, uint8_t reason,
	       uint64_t now)
{
	r->abort_reason = reason;
	run->c.aborted++;
	run->c.aborted_by[reason < SL_ABORT_MAX ? reason : SL_ABORT_MAX]++;
	gen_prun_close(run, r, GEN_PREQ_ABORTED, now);
}

/*
 * One fragment of the result streams. Through sl_rel it comes in order
 * and once; the checks below still count what a broken path would do
 * (test_gen.c feeds them directly).
 */
void
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
		if (r->state == GEN_PREQ_OPEN)
			gen_prun_abort(run, r, v.hdr.abort_reason, now);
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
		gen_prun_abort(run, r, v.hdr.abort_reason, now);
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
		run->c.result_tokens += r->tokens;
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
int
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

static int gen_prun_flush(struct gen *g, struct gen_prun *run,
			  struct sl_burst *tx);

struct gen_prun_flush_ctx {
	struct gen *g;
	struct gen_prun *run;
};

/* gen_trace_prompt's flush: a prompt longer than a burst. */
static int
gen_prun_flush_cb(void *arg, struct sl_burst *tx)
{
	struct gen_prun_flush_ctx *c = arg;

	return gen_prun_flush(c->g, c->run, tx) < 0 ? -EIO : 0;
}

/*
 * Build request @idx's question into @tx: K tokens a fragment (fewer
 * when they do not fit one), END on the last. Return the fragment
 * count, or a negative errno. A --trace prompt may take several bursts:
 * @tx is sent each time it fills.
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
	if (g->trace != NULL) {
		struct gen_prun_flush_ctx c = {g, run};

		return gen_trace_prompt(g->corpus, r->q_off,
					&g->trace->rows[run->trace_first + idx],
					g->o.tokens, &stream, tx, now,
					gen_prun_flush_cb, &c);
	}
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
int
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

/*
 * --trace: the run replays the rows gen_trace_plan picks, request i the
 * row first + i, due gen_trace_at; its rate is the trace's, (rows - 1) /
 * (last due - first due). Request i's question starts where row
 * first + i's always does.
 */
static int
gen_prun_setup_trace(struct gen *g, struct gen_prun *run, double duration)
{
	const struct gen_trace *t = g->trace;
	size_t first, n, i;
	uint64_t last;

	if (gen_trace_plan(t, g->o.trace_speedup, g->o.trace_start, duration,
			   g->o.requests, &first, &n) < 0) {
		fprintf(stderr,
			"sluicegen: --trace-start %.3f: the trace's last "
			"row is at %.3f s\n",
			g->o.trace_start,
			(double)t->rows[t->n - 1].off_ns / 1e9);
		return -ERANGE;
	}
	run->req = calloc(n ? n : 1, sizeof(run->req[0]));
	if (run->req == NULL)
		return -ENOMEM;
	run->n = n;
	run->trace_first = first;
	for (i = 0; i < n; i++) {
		run->req[i].at_ns =
			gen_trace_at(t, first, first + i, g->o.trace_speedup);
		run->req[i].q_off = gen_question_offset(g->o.seed, first + i,
							g->corpus->n_tokens);
	}
	last = n ? run->req[n - 1].at_ns : 0;
	run->rate =
		n > 1 && last > 0 ? (double)(n - 1) / ((double)last / 1e9) : 0;
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
	if (g->trace != NULL) {
		int rc = gen_prun_setup_trace(g, run, duration);

		if (rc < 0)
			return rc;
		goto ids;
	}
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
ids:
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

/*
 * --cancel-ms: the drain is over and requests are still open. The
 * pipeline holds them (an unbounded queue past capacity, as alto.sh's
 * engines have) or lost them; counting them all `lost` says neither.
 * Each is cut off the way sluice-gateway cancels a request whose client
 * left: ABORT (CLIENT) on the request's stream right after its END,
 * which sluiced ACKs and answers with ABORT (CLIENT) on the same stream
 * (stage_order.c, requests_cancelled), taken by gen_prun_take like any
 * ABORT. For --cancel-ms the results are still taken: a request cut off
 * ends aborted (CLIENT), or completed if its END was on its way; what
 * stays silent even then is lost. So every request ends answered or
 * with a reason within drain + cancel, and `lost` is a request the path
 * dropped (or that sluiced no longer knew).
 */
static int
gen_prun_cut_off(struct gen *g, struct gen_prun *run, struct sl_burst *tx)
{
	uint64_t now = sl_now_ns(), until, i;
	uint64_t question_frags = run->c.fragments;

	for (i = 0; i < run->next; i++) {
		struct gen_preq *r = &run->req[i];
		uint64_t id = (run->id_hi << 32) | i;
		struct sl_stream_tx stream;
		struct sl_dgram *d;

		if (r->state != GEN_PREQ_OPEN)
			continue;
		if (tx->n == SL_BURST_MAX && gen_prun_flush(g, run, tx) < 0)
			return -1;
		d = &tx->d[tx->n];
		sl_stream_tx_init(&stream, g->o.pipeline, 0, g->o.tenant, 1,
				  &id);
		stream.next_seq = r->q_frags;
		if (sl_stream_tx_begin(&stream, d->buf, d->cap) < 0)
			return -1;
		d->len = (uint16_t)sl_stream_tx_finish(&stream, SL_FRAG_F_ABORT,
						       SL_ABORT_CLIENT, now);
		memset(&d->addr, 0, sizeof(d->addr));
		tx->n++;
		run->c.cut_off++;
	}
	if (tx->n > 0 && gen_prun_flush(g, run, tx) < 0)
		return -1;
	/* `fragments` counts the questions' fragments only. */
	run->c.fragments = question_frags;
	until = sl_now_ns() + g->o.cancel_ms * 1000000ull;
	while (run->n_open > 0) {
		struct pollfd p = {.fd = g->sock->fd, .events = POLLIN};
		uint64_t next;

		if (gen_prun_poll_rx(g, run) < 0)
			return -1;
		next = gen_rel_tick(g, gen_prun_take_cb, run);
		now = sl_now_ns();
		if (now >= until || run->n_open == 0)
			break;
		if (next > until)
			next = until;
		next = next > now ? next - now : 0;
		if (next > GEN_IDLE_WAIT_NS)
			next = GEN_IDLE_WAIT_NS;
		sl_poll_ns(&p, 1, next);
	}
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
		struct pollfd p;

		now = sl_now_ns();
		/* Send every request that is due, in bursts. */
		while (!gen_stop && run->next < run->n &&
		       run->req[run->next].at_ns <= now - start) {
			struct gen_preq *r = &run->req[run->next];
			/* A trace prompt fills and sends bursts itself. */
			uint32_t need =
				g->questions != NULL
					? g->questions->q[run->next].frags
				: g->trace != NULL ? 1
						   : g->o.question_tokens;
			uint64_t idx = run->next;
			int rc;

			if (tx.n + need > SL_BURST_MAX &&
			    gen_prun_flush(g, run, &tx) < 0)
				return -1;
			/* Open before it is built: what comes back while
			 * a long prompt is sent (an ABORT) is its own. */
			r->sent_ns = now;
			r->state = GEN_PREQ_OPEN;
			if (run->first_send_ns == 0)
				run->first_send_ns = now;
			run->last_send_ns = now;
			if (now - start - r->at_ns > run->send_lag_max_ns)
				run->send_lag_max_ns = now - start - r->at_ns;
			run->next++;
			run->n_open++;
			run->c.requests++;
			rc = gen_prun_question(g, run, idx, &tx, now);
			if (rc < 0) {
				fprintf(stderr,
					"sluicegen: cannot build the question "
					"of request %" PRIu64 ": %s\n",
					idx, strerror(-rc));
				return -1;
			}
			r->q_frags = (uint32_t)rc;
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
		sl_poll_ns(&p, 1, wait_ns);
	}
	run->end_ns = now;
	if (run->n_open > 0 && g->o.cancel_ms > 0 &&
	    gen_prun_cut_off(g, run, &tx) < 0)
		return -1;
	now = sl_now_ns();
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

/* --trace: what a run replayed, beside what the trace asked. */
struct gen_trace_report {
	uint64_t context_tokens; /* prompts sent, corpus tokens */
	uint64_t max_tokens;     /* answer tokens they asked for */
	double sent_rps;         /* (requests - 1) / first to last send */
	double lag_max_ms;       /* latest send after its due time */
};

static void
gen_trace_report(const struct gen *g, const struct gen_prun *run,
		 struct gen_trace_report *t)
{
	uint64_t span = run->last_send_ns - run->first_send_ns;

	memset(t, 0, sizeof(*t));
	for (uint64_t i = 0; i < run->next; i++) {
		const struct gen_trace_row *row =
			&g->trace->rows[run->trace_first + i];

		t->context_tokens += row->context;
		t->max_tokens += row->generated;
	}
	if (run->c.requests > 1 && span > 0)
		t->sent_rps =
			(double)(run->c.requests - 1) / ((double)span / 1e9);
	t->lag_max_ms = (double)run->send_lag_max_ns / 1e6;
}

static void
gen_trace_json(FILE *f, const struct gen *g, const struct gen_prun *run)
{
	struct gen_trace_report t;

	gen_trace_report(g, run, &t);
	fprintf(f,
		", \"trace\": {\"rows_in_file\": %zu, \"first_row\": %zu"
		", \"rows\": %" PRIu64 ", \"speedup\": %g"
		", \"trace_rps\": %.3f, \"sent_rps\": %.3f"
		", \"send_lag_max_ms\": %.3f, \"context_tokens\": %" PRIu64
		", \"max_tokens\": %" PRIu64 ", \"result_tokens\": %" PRIu64
		"}",
		g->trace->n, run->trace_first, run->c.requests,
		g->o.trace_speedup, run->rate, t.sent_rps, t.lag_max_ms,
		t.context_tokens, t.max_tokens, run->c.result_tokens);
}

static void
gen_trace_text(const struct gen *g, const struct gen_prun *run)
{
	struct gen_trace_report t;

	gen_trace_report(g, run, &t);
	printf("  trace: %" PRIu64 " rows replayed (rows %zu..%zu of %zu), "
	       "trace %.2f req/s, sent %.2f req/s, achieved %.2f req/s, "
	       "send lag max %.1f ms\n"
	       "  tokens: %" PRIu64 " prompt, %" PRIu64 " asked, %" PRIu64
	       " received\n",
	       run->c.requests, run->trace_first,
	       run->trace_first + (run->next ? run->next - 1 : 0), g->trace->n,
	       run->rate, t.sent_rps, gen_prun_achieved(run), t.lag_max_ms,
	       t.context_tokens, t.max_tokens, run->c.result_tokens);
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
		g->trace != NULL ? "trace"
		: g->o.poisson   ? "poisson"
				 : "constant",
		run->rate, gen_prun_achieved(run), c->requests, c->completed,
		c->aborted);
	for (k = 0; k <= SL_ABORT_MAX; k++) {
		if (c->aborted_by[k] == 0)
			continue;
		fprintf(f, "%s\"%s\": %" PRIu64, first ? "" : ", ",
			k < SL_ABORT_MAX ? sl_abort_reason_name(k) : "UNKNOWN",
			c->aborted_by[k]);
		first = false;
	}
	fprintf(f,
		"}, \"cut_off\": %" PRIu64 ", \"lost\": %" PRIu64
		", \"duplicated\": %" PRIu64 ", \"misordered\": %" PRIu64
		", \"corrupted\": %" PRIu64 ", \"unknown\": %" PRIu64
		", \"fragments\": %" PRIu64 ", \"fragments_received\": %" PRIu64
		", \"result_bytes\": %" PRIu64
		", \"p50_us\": %.3f, \"p90_us\": %.3f, \"p99_us\": %.3f"
		", \"p999_us\": %.3f, \"max_us\": %.3f, \"mean_us\": %.3f"
		", \"first_p50_us\": %.3f, \"first_p99_us\": %.3f"
		", \"fragments_per_s\": %.1f, \"duration_s\": %.3f"
		", \"send_duration_s\": %.3f, \"question_tokens\": %u"
		", \"seed\": %" PRIu64,
		c->cut_off, c->lost, c->duplicated, c->misordered, c->corrupted,
		c->unknown, c->fragments, c->fragments_received,
		c->result_bytes, gen_us(sl_hist_percentile(h, 50)),
		gen_us(sl_hist_percentile(h, 90)),
		gen_us(sl_hist_percentile(h, 99)),
		gen_us(sl_hist_percentile(h, 99.9)), gen_us(h->max),
		sl_hist_mean(h) / 1000.0, gen_us(sl_hist_percentile(fh, 50)),
		gen_us(sl_hist_percentile(fh, 99)),
		dur > 0 ? (double)c->fragments_received / dur : 0, dur,
		(double)(run->last_send_ns - run->first_send_ns) / 1e9,
		g->o.question_tokens, g->o.seed);
	if (g->trace != NULL)
		gen_trace_json(f, g, run);
	fprintf(f, ", \"rel\": ");
	sl_rel_counters_json(f, sl_rel_counters(g->rel), &run->rel_base);
	fputc('}', f);
}

static void
gen_prun_table_header(void)
{
	printf("  %10s %10s %8s %8s %7s %5s %5s %5s %5s %10s %10s %10s\n",
	       "offered/s", "achieved/s", "requests", "complete", "aborted",
	       "cut", "lost", "dup", "misord", "p50 ms", "p99 ms", "max ms");
}

static void
gen_prun_table_row(const struct gen_prun *run)
{
	const struct sl_hist *h = &run->lat;

	printf("  %10.2f %10.2f %8" PRIu64 " %8" PRIu64 " %7" PRIu64
	       " %5" PRIu64 " %5" PRIu64 " %5" PRIu64 " %5" PRIu64
	       " %10.1f %10.1f %10.1f\n",
	       run->rate, gen_prun_achieved(run), run->c.requests,
	       run->c.completed, run->c.aborted, run->c.cut_off, run->c.lost,
	       run->c.duplicated, run->c.misordered,
	       (double)sl_hist_percentile(h, 50) / 1e6,
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

int
gen_pipeline_main(struct gen *g)
{
	double single = g->o.request_rate;
	const double *rates = g->o.n_sweep ? g->o.sweep : &single;
	unsigned int n_rates = g->o.n_sweep ? g->o.n_sweep : 1, i;
	double duration = g->o.n_sweep ? g->o.sweep_duration : g->o.duration;
	bool failed = false;

	if (!g->o.quiet && !g->o.json && g->trace != NULL) {
		printf("sluicegen: pipeline %u, trace %s (%zu rows), speed-up "
		       "%g, from %.3f trace s, %u tokens a fragment, seed "
		       "%" PRIu64 "\n",
		       g->o.pipeline, g->o.trace_path, g->trace->n,
		       g->o.trace_speedup, g->o.trace_start, g->o.tokens,
		       g->o.seed);
		gen_prun_table_header();
		fflush(stdout);
	} else if (!g->o.quiet && !g->o.json) {
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
			if (rc != -ERANGE) /* --trace-start said why */
				fprintf(stderr,
					"sluicegen: cannot plan %.3f req/s: "
					"%s\n",
					rates[i], strerror(-rc));
			gen_prun_free(&run);
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
			if (g->trace != NULL)
				gen_trace_text(g, &run);
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
