/* SPDX-License-Identifier: MIT */
/*
 * transform.c - sluicegen --mode transform (the default): N concurrent
 * requests of corpus tokens at a fragment rate, every returned fragment
 * checked byte for byte against the --expect transforms.
 */
#include "gen.h"

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

static void
gen_take_cb(struct gen *g, void *ctx, const struct sl_frag_view *v,
	    uint64_t now)
{
	(void)ctx;
	gen_take(g, v, now);
}

int
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
		sl_poll_ns(&p, 1, wait_ns);
	}
	*end_out = sl_now_ns();
	/* Our requests' END resends may still be needed. */
	return gen_rel_serve(g, gen_take_cb, NULL, &g->c.corrupted,
			     *end_out + GEN_LINGER_NS, true);
}

void
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
		       c->late_aborts, gen_us(sl_hist_percentile(f, 50)),
		       gen_us(sl_hist_percentile(f, 90)),
		       gen_us(sl_hist_percentile(f, 99)),
		       gen_us(sl_hist_percentile(f, 99.9)), gen_us(f->max),
		       sl_hist_mean(f) / 1000.0,
		       gen_us(sl_hist_percentile(r, 50)),
		       gen_us(sl_hist_percentile(r, 99)), fps, tps, offered,
		       dur);
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
	       "fragment", gen_us(sl_hist_percentile(f, 50)),
	       gen_us(sl_hist_percentile(f, 90)),
	       gen_us(sl_hist_percentile(f, 99)),
	       gen_us(sl_hist_percentile(f, 99.9)), gen_us(f->max),
	       sl_hist_mean(f) / 1000.0);
	printf("  %-10s %10.1f %10.1f %10.1f %10.1f %10.1f %10.1f\n", "request",
	       gen_us(sl_hist_percentile(r, 50)),
	       gen_us(sl_hist_percentile(r, 90)),
	       gen_us(sl_hist_percentile(r, 99)),
	       gen_us(sl_hist_percentile(r, 99.9)), gen_us(r->max),
	       sl_hist_mean(r) / 1000.0);
}
