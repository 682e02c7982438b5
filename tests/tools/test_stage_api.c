/* SPDX-License-Identifier: MIT */
/*
 * test_stage_api.c - libsluice's stage API (sl_stage.c) on 127.0.0.1.
 *
 * A fake sluiced (F: an sl_sock, sl_stream_tx to build fragments and an
 * sl_rel that ACKs and repairs, as sluiced does) sends input streams to a
 * stage and reads its output. Asserted exactly: the events (OPEN, TOKENS
 * with their bytes and ids, END, ABORT and its reason, CHILDREN and its
 * count), the output datagrams byte for byte (identity, seq, send_ns,
 * flags, tokens), packing and the flush at each poll, long texts cut
 * between characters, the errors (-EINVAL, -EILSEQ, -EPIPE, -ENOBUFS),
 * the streams_max refusal (ABORT OVERLOAD), PAUSE on PROBE answers,
 * sl_stage_close() aborting open outputs with SHUTDOWN, and a run through
 * the lossy relay (tt_relay.c) where every stream arrives whole both ways.
 * Last, the example stage (tools/examples/sluice-upper-stage, $SL_UPPER)
 * and sluice-engine --transform upper ($SL_ENGINE) get the same streams
 * and must answer the same datagrams, byte for byte.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice.h"
#include "tt_proc.h"
#include "tt_relay.h"

#define PIPELINE 7
#define STAGE 3
#define FROM_STAGE 2
#define TENANT 11
#define ANC1 5
#define MS 1000000ull

/* ---- the fake sluiced ---- */

static struct sl_sock *fs;
static struct sl_rel *frel;
static struct sl_stage *st;

/* Input fragment @seq of request @req: the tokens @tok (@n of them). */
static uint16_t
build_in(uint64_t req, uint32_t seq, uint8_t flags, uint8_t reason,
	 uint32_t children, const char *const *tok, unsigned int n,
	 uint8_t *buf)
{
	uint64_t anc[2] = {req, ANC1};
	struct sl_stream_tx tx;
	unsigned int i;

	sl_stream_tx_init(&tx, PIPELINE, STAGE, TENANT, 2, anc);
	tx.next_seq = seq;
	sl_stream_tx_begin(&tx, buf, SL_DGRAM_MAX);
	for (i = 0; i < n; i++)
		CU_ASSERT_FATAL(
			sl_stream_tx_add(&tx,
					 sl_token_hash(tok[i], strlen(tok[i])),
					 tok[i], strlen(tok[i])) == 0);
	tx.b.hdr.from_stage = FROM_STAGE;
	tx.b.hdr.child_count = children;
	return (uint16_t)sl_stream_tx_finish(&tx, flags, reason,
					     1000000ull + req * 1000 + seq);
}

/* Send it through F's sl_rel to @to. */
static void
f_send_to(const struct sockaddr_in *to, uint64_t req, uint32_t seq,
	  uint8_t flags, uint8_t reason, uint32_t children,
	  const char *const *tok, unsigned int n)
{
	uint8_t buf[SL_DGRAM_MAX];
	struct sl_dgram d = {.buf = buf, .cap = sizeof(buf)};
	int tries;

	d.len = build_in(req, seq, flags, reason, children, tok, n, buf);
	d.addr = *to;
	for (tries = 0; tries < 100; tries++) {
		int rc = sl_rel_send_burst(frel, &d, 1, sl_now_ns());

		CU_ASSERT_FATAL(rc >= 0);
		if (rc == 1)
			return;
		usleep(1000);
	}
	CU_FAIL_FATAL("socket stayed full");
}

static void
f_send(uint64_t req, uint32_t seq, uint8_t flags, uint8_t reason,
       const char *const *tok, unsigned int n)
{
	f_send_to(sl_stage_addr(st), req, seq, flags, reason, 0, tok, n);
}

/* What F received: every data fragment its sl_rel delivered. */
struct out_rec {
	struct sockaddr_in src;
	uint16_t len;
	uint8_t buf[SL_DGRAM_MAX]; /* header re-encoded, then tokens */
};

#define OUT_MAX 4096
static struct out_rec out[OUT_MAX];
static unsigned int n_out;

static void
f_take(const struct sl_frag_view *v)
{
	struct out_rec *o;

	CU_ASSERT_FATAL(n_out < OUT_MAX);
	o = &out[n_out++];
	o->src = v->src;
	sl_wire_encode_hdr(o->buf, &v->hdr);
	memcpy(o->buf + SL_WIRE_HDR_LEN, v->payload, v->hdr.payload_len);
	o->len = (uint16_t)(SL_WIRE_HDR_LEN + v->hdr.payload_len);
}

static void
f_pump(void)
{
	static struct sl_burst rx;
	struct sl_frag_view v;
	int n, i;

	sl_burst_reset(&rx);
	n = sl_sock_recv_burst(fs, rx.d, SL_BURST_MAX);
	CU_ASSERT(n >= 0);
	for (i = 0; i < n; i++) {
		CU_ASSERT_EQUAL(sl_rel_input(frel, &rx.d[i], sl_now_ns()),
				SL_WIRE_OK);
		while (sl_rel_next(frel, &v))
			f_take(&v);
	}
	sl_rel_tick(frel, sl_now_ns());
	while (sl_rel_next(frel, &v))
		f_take(&v);
}

/* ---- the stage's events ---- */

struct ev_rec {
	enum sl_stage_event_kind kind;
	struct sl_stage_stream *s;
	uint64_t req;
	uint8_t reason;
	uint32_t children;
	unsigned int n_tok;
	uint32_t ids[16];
	char text[256];
	size_t len;
	int send_rc, end_rc; /* CHILDREN: what send and end said to it */
};

#define EV_MAX 4096
static struct ev_rec evs[EV_MAX];
static unsigned int n_ev;

/* With it set, events are answered as the example does (upper). */
static bool auto_upper;

static void
upper_answer(const struct sl_stage_event *ev)
{
	struct sl_token_iter it = ev->tokens;
	struct sl_token t;

	while (sl_token_next(&it, &t)) {
		char up[SL_WIRE_PAYLOAD_MAX];

		sl_transform_text(SL_TRANSFORM_UPPER, up, t.text, t.len);
		CU_ASSERT_EQUAL(
			sl_stage_send(st, ev->stream,
				      sl_transform_token_id(SL_TRANSFORM_UPPER,
							    t.id, up, t.len),
				      up, t.len),
			0);
	}
	if (ev->kind == SL_STAGE_END)
		CU_ASSERT_EQUAL(sl_stage_end(st, ev->stream), 0);
	if (ev->kind == SL_STAGE_ABORT)
		CU_ASSERT_EQUAL(
			sl_stage_abort(st, ev->stream, ev->abort_reason), 0);
}

static void
stage_take(void)
{
	struct sl_stage_event ev;

	while (sl_stage_next(st, &ev)) {
		struct ev_rec *r;
		struct sl_token_iter it = ev.tokens;
		struct sl_token t;

		CU_ASSERT_FATAL(n_ev < EV_MAX);
		r = &evs[n_ev++];
		memset(r, 0, sizeof(*r));
		r->kind = ev.kind;
		r->s = ev.stream;
		r->req = sl_stage_stream_hdr(ev.stream)->ancestry[0];
		r->reason = ev.abort_reason;
		r->children = ev.child_count;
		while (sl_token_next(&it, &t)) {
			if (r->n_tok < 16)
				r->ids[r->n_tok] = t.id;
			r->n_tok++;
			if (r->len + t.len < sizeof(r->text)) {
				memcpy(r->text + r->len, t.text, t.len);
				r->len += t.len;
			}
		}
		/* An announcement owes no output; its handle lasts until the
		 * next sl_stage_next(). */
		if (ev.kind == SL_STAGE_CHILDREN) {
			r->send_rc = sl_stage_send(st, ev.stream, 1, "x", 1);
			r->end_rc = sl_stage_end(st, ev.stream);
		} else if (auto_upper) {
			upper_answer(&ev);
		}
	}
}

/* One round: the stage polls (waiting up to @wait_ms) and its events are
 * taken; then F receives. */
static void
step_wait(unsigned int wait_ms)
{
	CU_ASSERT(sl_stage_poll(st, wait_ms * MS) >= 0);
	stage_take();
	f_pump();
}

static void
step(void)
{
	step_wait(1);
}

/* Step until @ev events and @outs outputs were seen, or @ms passed. */
static bool
run_until(unsigned int ev, unsigned int outs, unsigned int ms)
{
	uint64_t end = sl_now_ns() + ms * MS;

	while (sl_now_ns() < end) {
		step();
		if (n_ev >= ev && n_out >= outs)
			return true;
	}
	return false;
}

static void
run_for(unsigned int ms)
{
	uint64_t end = sl_now_ns() + ms * MS;

	while (sl_now_ns() < end)
		step();
}

static void
setup(const struct sl_stage_config *cfg)
{
	struct sockaddr_in lo;

	sl_endpoint_parse("127.0.0.1:0", false, &lo);
	fs = sl_sock_open(&lo);
	CU_ASSERT_FATAL(fs != NULL);
	frel = sl_rel_new(fs, NULL);
	CU_ASSERT_FATAL(frel != NULL);
	st = sl_stage_open(&lo, cfg);
	CU_ASSERT_FATAL(st != NULL);
	n_out = n_ev = 0;
	auto_upper = false;
}

static void
teardown(void)
{
	sl_stage_close(st);
	sl_rel_free(frel);
	sl_sock_close(fs);
	st = NULL;
	frel = NULL;
	fs = NULL;
}

static struct sl_stage_counters
counters(void)
{
	struct sl_stage_counters c;

	sl_stage_counters(st, &c);
	return c;
}

/* The output datagram F must get for request @req: its identity, @seq,
 * @flags/@reason, send_ns of input fragment @in_seq, tokens @tok. */
static uint16_t
build_out(uint64_t req, uint32_t seq, uint8_t flags, uint8_t reason,
	  uint32_t in_seq, const uint32_t *ids, const char *const *tok,
	  unsigned int n, uint8_t *buf)
{
	struct sl_wire_builder b;
	struct sl_frag_hdr h;
	unsigned int i;

	memset(&h, 0, sizeof(h));
	h.version = SL_WIRE_VERSION;
	h.flags = flags;
	h.abort_reason = reason;
	h.depth = 2;
	h.stage = STAGE;
	h.from_stage = FROM_STAGE;
	h.tenant = TENANT;
	h.pipeline = PIPELINE;
	h.seq = seq;
	h.send_ns = 1000000ull + req * 1000 + in_seq;
	h.ancestry[0] = req;
	h.ancestry[1] = ANC1;
	sl_wire_builder_init(&b, buf, SL_DGRAM_MAX, &h);
	for (i = 0; i < n; i++)
		CU_ASSERT_FATAL(sl_wire_builder_add(&b, ids[i], tok[i],
						    strlen(tok[i])) == 0);
	return (uint16_t)sl_wire_builder_finish(&b);
}

static bool
out_is(unsigned int i, const uint8_t *want, uint16_t len)
{
	return i < n_out && out[i].len == len &&
	       memcmp(out[i].buf, want, len) == 0 &&
	       out[i].src.sin_port == sl_stage_addr(st)->sin_port;
}

static uint32_t
h(const char *s)
{
	return sl_token_hash(s, strlen(s));
}

static uint32_t
h_len(const char *s, size_t len)
{
	return sl_token_hash(s, len);
}

/* ---- events and output, exact ---- */

static void
test_events_exact(void)
{
	static const char *const a0[] = {"Hello", " caf\xc3\xa9"};
	static const char *const a1[] = {" world"};
	static const char *const a2[] = {"!"};
	static const char *const c0[] = {" guarded"};
	const char *up[] = {"HELLO", " CAF\xc3\xa9", " WORLD", "!"};
	uint32_t up_ids[4];
	struct sl_stage_counters c;
	uint8_t want[SL_DGRAM_MAX];
	struct sl_stage_stream *sa, *sc;
	uint16_t len;
	unsigned int i;

	setup(NULL);
	/* A: three fragments, the last an END with a token; C: one, then
	 * ABORT (GUARD); D: a split's announcement, 3 children, at seq 7. */
	f_send(1, 0, 0, 0, a0, 2);
	f_send(1, 1, 0, 0, a1, 1);
	f_send(1, 2, SL_FRAG_F_END, 0, a2, 1);
	f_send(3, 0, 0, 0, c0, 1);
	f_send(3, 1, SL_FRAG_F_ABORT, SL_ABORT_GUARD, NULL, 0);
	f_send_to(sl_stage_addr(st), 4, 7, SL_FRAG_F_END | SL_FRAG_F_CHILDREN,
		  0, 3, NULL, 0);
	CU_ASSERT_FATAL(run_until(9, 0, 1000));
	run_for(5);
	CU_ASSERT_EQUAL_FATAL(n_ev, 9);
	CU_ASSERT_EQUAL(n_out, 0);

	CU_ASSERT(evs[0].kind == SL_STAGE_OPEN && evs[0].req == 1 &&
		  evs[0].n_tok == 0);
	CU_ASSERT(evs[1].kind == SL_STAGE_TOKENS && evs[1].req == 1 &&
		  evs[1].n_tok == 2 && evs[1].len == 11 &&
		  memcmp(evs[1].text, "Hello caf\xc3\xa9", 11) == 0 &&
		  evs[1].ids[0] == h("Hello") &&
		  evs[1].ids[1] == h(" caf\xc3\xa9"));
	CU_ASSERT(evs[2].kind == SL_STAGE_TOKENS && evs[2].n_tok == 1 &&
		  evs[2].len == 6 && memcmp(evs[2].text, " world", 6) == 0);
	CU_ASSERT(evs[3].kind == SL_STAGE_END && evs[3].n_tok == 1 &&
		  evs[3].len == 1 && evs[3].text[0] == '!' &&
		  evs[3].ids[0] == h("!"));
	CU_ASSERT(evs[4].kind == SL_STAGE_OPEN && evs[4].req == 3);
	CU_ASSERT(evs[5].kind == SL_STAGE_TOKENS && evs[5].len == 8 &&
		  memcmp(evs[5].text, " guarded", 8) == 0);
	CU_ASSERT(evs[6].kind == SL_STAGE_ABORT && evs[6].n_tok == 0 &&
		  evs[6].reason == SL_ABORT_GUARD);
	CU_ASSERT(evs[7].kind == SL_STAGE_OPEN && evs[7].req == 4);
	CU_ASSERT(evs[8].kind == SL_STAGE_CHILDREN && evs[8].children == 3 &&
		  evs[8].n_tok == 0);
	CU_ASSERT(evs[8].send_rc == -EPIPE && evs[8].end_rc == 0);
	sa = evs[0].s;
	sc = evs[4].s;
	for (i = 1; i < 4; i++)
		CU_ASSERT_PTR_EQUAL(evs[i].s, sa);
	CU_ASSERT(evs[5].s == sc && evs[6].s == sc && evs[8].s == evs[7].s);
	{
		const struct sl_frag_hdr *id = sl_stage_stream_hdr(sa);

		CU_ASSERT(id->pipeline == PIPELINE && id->stage == STAGE &&
			  id->from_stage == FROM_STAGE &&
			  id->tenant == TENANT && id->depth == 2 &&
			  id->ancestry[0] == 1 && id->ancestry[1] == ANC1 &&
			  id->seq == 0 && id->flags == 0 &&
			  id->send_ns == 1000000ull + 1000 + 2);
	}

	/* A's answer: all four tokens and the END in one fragment, sent at
	 * the poll, send_ns of the input's last fragment. */
	for (i = 0; i < 4; i++) {
		up_ids[i] = h(up[i]);
		CU_ASSERT_EQUAL(
			sl_stage_send(st, sa, up_ids[i], up[i], strlen(up[i])),
			0);
	}
	CU_ASSERT_EQUAL(sl_stage_end(st, sa), 0);
	CU_ASSERT_EQUAL(sl_stage_send(st, sa, 1, "x", 1), -EPIPE);
	CU_ASSERT_EQUAL(sl_stage_end(st, sa), -EPIPE);
	CU_ASSERT_EQUAL(sl_stage_abort(st, sc, SL_ABORT_MAX), -EINVAL);
	CU_ASSERT_EQUAL(sl_stage_abort(st, sc, SL_ABORT_GUARD), 0);
	CU_ASSERT_FATAL(run_until(9, 2, 1000));
	run_for(30); /* ACKs come back; nothing else goes */
	CU_ASSERT_EQUAL_FATAL(n_out, 2);
	len = build_out(1, 0, SL_FRAG_F_END, 0, 2, up_ids, up, 4, want);
	CU_ASSERT(out_is(0, want, len));
	len = build_out(3, 0, SL_FRAG_F_ABORT, SL_ABORT_GUARD, 1, NULL, NULL, 0,
			want);
	CU_ASSERT(out_is(1, want, len));

	c = counters();
	CU_ASSERT_EQUAL(c.streams_opened, 3);
	CU_ASSERT_EQUAL(c.streams_freed, 3);
	CU_ASSERT_EQUAL(c.events, 9);
	CU_ASSERT_EQUAL(c.tokens_in, 5);
	CU_ASSERT_EQUAL(c.children_events, 1);
	CU_ASSERT_EQUAL(c.tokens_out, 4);
	CU_ASSERT_EQUAL(c.frags_out, 2);
	CU_ASSERT_EQUAL(c.ends_out, 1);
	CU_ASSERT_EQUAL(c.aborts_out, 1);
	CU_ASSERT_EQUAL(c.output_ended, 3);
	CU_ASSERT_EQUAL(c.abort_einval, 1);
	CU_ASSERT_EQUAL(c.refused_overload, 0);
	CU_ASSERT_EQUAL(c.orphans_dropped, 0);
	CU_ASSERT_EQUAL(c.rx_invalid, 0);
	CU_ASSERT_EQUAL(c.nomem, 0);
	CU_ASSERT_EQUAL(c.rel.delivered, 6);
	CU_ASSERT_EQUAL(c.rel.acks_sent, 3);
	CU_ASSERT_EQUAL(c.rel.acks_received, 2);
	CU_ASSERT_EQUAL(c.rel.end_resends, 0);
	CU_ASSERT_EQUAL(sl_rel_counters(frel)->acks_sent, 2);
	teardown();
}

/* A poll sends what is being filled; a full fragment goes at once. */
static void
test_packing(void)
{
	static const char *const in0[] = {"go"};
	char big[100], text[3000];
	struct sl_stage_counters c;
	struct sl_frag_hdr hd;
	struct sl_token_iter it;
	struct sl_token t;
	struct sl_stage_stream *s;
	unsigned int i, n;
	size_t got;

	setup(NULL);
	f_send(9, 0, 0, 0, in0, 1);
	CU_ASSERT_FATAL(run_until(2, 0, 1000));
	s = evs[0].s;
	/* One token, then a poll: it leaves then, not later. */
	CU_ASSERT_EQUAL(sl_stage_send(st, s, 42, "one", 3), 0);
	CU_ASSERT_FATAL(run_until(2, 1, 1000));
	CU_ASSERT_EQUAL(sl_wire_parse_hdr(out[0].buf, out[0].len, &hd),
			SL_WIRE_OK);
	CU_ASSERT(hd.seq == 0 && hd.flags == 0 && hd.token_count == 1 &&
		  hd.send_ns == 1000000ull + 9000);
	/* 13 tokens of 100 bytes fill a fragment (13 * 106 = 1378 of
	 * 1384); the 14th does not fit: the 13 go at once, no poll. */
	memset(big, 'b', sizeof(big));
	for (i = 0; i < 14; i++)
		CU_ASSERT_EQUAL(sl_stage_send(st, s, i, big, sizeof(big)), 0);
	for (i = 0; i < 50 && n_out < 2; i++) {
		usleep(1000);
		f_pump();
	}
	CU_ASSERT_EQUAL_FATAL(n_out, 2);
	sl_wire_parse_hdr(out[1].buf, out[1].len, &hd);
	CU_ASSERT(hd.seq == 1 && hd.token_count == 13 &&
		  hd.payload_len == 1378 && hd.flags == 0);
	/* A text longer than a fragment: cut between characters, the
	 * first piece with the id, the others with 0; "a" then "é"s, so
	 * that 1378 bytes end inside a character. */
	text[0] = 'a';
	for (i = 1; i + 1 < sizeof(text); i += 2) {
		text[i] = (char)0xc3;
		text[i + 1] = (char)0xa9;
	}
	CU_ASSERT_EQUAL(sl_stage_send(st, s, 77, text, 2999), 0);
	CU_ASSERT_EQUAL(sl_stage_end(st, s), 0);
	CU_ASSERT_FATAL(run_until(2, 6, 1000));
	run_for(5);
	/* The pending 100-byte token; then pieces of 1377 bytes (1378
	 * would end inside an "é"), 1378 and 244, a fragment each. */
	got = 0;
	n = 0;
	for (i = 2; i < n_out; i++) {
		sl_wire_parse_hdr(out[i].buf, out[i].len, &hd);
		CU_ASSERT_EQUAL(hd.seq, i);
		CU_ASSERT_EQUAL(hd.flags, i + 1 == n_out ? SL_FRAG_F_END : 0);
		sl_token_iter_init(&it, out[i].buf + SL_WIRE_HDR_LEN,
				   hd.payload_len);
		while (sl_token_next(&it, &t)) {
			if (n++ == 0) {
				CU_ASSERT(t.len == 100 && t.id == 13);
				continue;
			}
			CU_ASSERT_EQUAL(t.id, n == 2 ? 77u : 0u);
			CU_ASSERT_EQUAL(t.len, n == 2   ? 1377
					       : n == 3 ? 1378
							: 244);
			CU_ASSERT(
				sl_utf8_valid((const uint8_t *)t.text, t.len));
			CU_ASSERT(memcmp(t.text, text + got, t.len) == 0);
			got += t.len;
		}
	}
	CU_ASSERT_EQUAL(n, 4);
	CU_ASSERT_EQUAL(got, 2999);
	CU_ASSERT_EQUAL(n_out, 6);

	/* The input is still open: the handle too, its output ended. */
	CU_ASSERT_EQUAL(sl_stage_send(st, s, 1, "late", 4), -EPIPE);
	c = counters();
	CU_ASSERT_EQUAL(c.tokens_out, 16);
	CU_ASSERT_EQUAL(c.tokens_split, 1);
	CU_ASSERT_EQUAL(c.frags_out, 6);
	CU_ASSERT_EQUAL(c.output_ended, 1);
	teardown();
}

static void
test_send_errors(void)
{
	static const char *const in0[] = {"go"};
	struct sl_stage_config cfg;
	struct sl_stage_counters c;
	struct sl_stage_stream *s;
	char *huge;
	unsigned int i;

	sl_stage_config_default(&cfg);
	cfg.out_bytes_max = 200;
	setup(&cfg);
	f_send(5, 0, 0, 0, in0, 1);
	CU_ASSERT_FATAL(run_until(2, 0, 1000));
	s = evs[0].s;
	huge = calloc(1, 65536);
	CU_ASSERT_FATAL(huge != NULL);
	CU_ASSERT_EQUAL(sl_stage_send(st, s, 1, huge, 65536), -EINVAL);
	free(huge);
	CU_ASSERT_EQUAL(sl_stage_send(st, s, 1, "\xff", 1), -EILSEQ);
	CU_ASSERT_EQUAL(sl_stage_send(st, s, 1, "\xc3", 1), -EILSEQ);
	/* 200 bytes queued at most: a header (88) and 7 tokens of 16. */
	for (i = 0; i < 7; i++)
		CU_ASSERT_EQUAL(sl_stage_send(st, s, i, "0123456789", 10), 0);
	CU_ASSERT_EQUAL(sl_stage_send(st, s, 7, "0123456789", 10), -ENOBUFS);
	CU_ASSERT_EQUAL(sl_stage_send(st, s, 7, "0123456789", 10), -ENOBUFS);
	/* A poll sends them: room again. */
	CU_ASSERT_FATAL(run_until(2, 1, 1000));
	CU_ASSERT_EQUAL(sl_stage_send(st, s, 7, "0123456789", 10), 0);
	/* Ending is never refused for room. */
	for (i = 0; i < 6; i++)
		CU_ASSERT_EQUAL(sl_stage_send(st, s, i, "0123456789", 10), 0);
	CU_ASSERT_EQUAL(sl_stage_abort(st, s, SL_ABORT_ENGINE), 0);
	CU_ASSERT_FATAL(run_until(2, 2, 1000));
	{
		struct sl_frag_hdr hd;

		sl_wire_parse_hdr(out[1].buf, out[1].len, &hd);
		CU_ASSERT(hd.seq == 1 && hd.flags == SL_FRAG_F_ABORT &&
			  hd.abort_reason == SL_ABORT_ENGINE &&
			  hd.token_count == 7);
	}
	c = counters();
	CU_ASSERT_EQUAL(c.send_einval, 1);
	CU_ASSERT_EQUAL(c.send_eilseq, 2);
	CU_ASSERT_EQUAL(c.send_enobufs, 2);
	CU_ASSERT_EQUAL(c.tokens_out, 14);
	CU_ASSERT_EQUAL(c.aborts_out, 1);
	teardown();
}

/* ---- bounds ---- */

static void
test_streams_max(void)
{
	static const char *const w[] = {" w"};
	struct sl_stage_config cfg;
	struct sl_stage_counters c;
	uint8_t want[SL_DGRAM_MAX];
	uint16_t len;

	sl_stage_config_default(&cfg);
	cfg.streams_max = 2;
	setup(&cfg);
	f_send(10, 0, 0, 0, w, 1);
	f_send(11, 0, 0, 0, w, 1);
	/* The third is refused at once, all its fragments unseen. */
	f_send(12, 0, 0, 0, w, 1);
	f_send(12, 1, 0, 0, w, 1);
	f_send(12, 2, SL_FRAG_F_END, 0, w, 1);
	CU_ASSERT_FATAL(run_until(4, 1, 1000));
	run_for(30);
	CU_ASSERT_EQUAL(n_ev, 4);
	CU_ASSERT(evs[0].req == 10 && evs[2].req == 11);
	CU_ASSERT_EQUAL_FATAL(n_out, 1);
	len = build_out(12, 0, SL_FRAG_F_ABORT, SL_ABORT_OVERLOAD, 0, NULL,
			NULL, 0, want);
	CU_ASSERT(out_is(0, want, len));
	c = counters();
	CU_ASSERT_EQUAL(c.refused_overload, 1);
	CU_ASSERT_EQUAL(c.orphans_dropped, 2);
	CU_ASSERT_EQUAL(c.streams_opened, 2);
	CU_ASSERT_EQUAL(c.rel.acks_received, 1); /* the refusal's */

	/* Stream 10 ends both ways: its room goes to a new stream. */
	f_send(10, 1, SL_FRAG_F_END, 0, NULL, 0);
	CU_ASSERT_FATAL(run_until(5, 1, 1000));
	CU_ASSERT_EQUAL(evs[4].kind, SL_STAGE_END);
	f_send(13, 0, 0, 0, w, 1);
	run_for(10);
	CU_ASSERT_EQUAL(n_out, 2); /* refused again: 10's output is open */
	CU_ASSERT_EQUAL(sl_stage_end(st, evs[0].s), 0);
	step();
	f_send(14, 0, 0, 0, w, 1);
	CU_ASSERT_FATAL(run_until(7, 3, 1000));
	CU_ASSERT(evs[5].kind == SL_STAGE_OPEN && evs[5].req == 14);
	c = counters();
	CU_ASSERT_EQUAL(c.refused_overload, 2);
	CU_ASSERT_EQUAL(c.streams_opened, 3);
	CU_ASSERT_EQUAL(c.streams_freed, 1);
	teardown();
}

/* ---- liveness ---- */

static struct sl_sock *prober;

static void
probe(uint32_t seq, uint64_t send_ns)
{
	uint8_t buf[SL_WIRE_HDR_LEN];
	struct sl_dgram d = {.buf = buf, .cap = sizeof(buf)};
	struct sl_frag_hdr hd;

	memset(&hd, 0, sizeof(hd));
	hd.version = SL_WIRE_VERSION;
	hd.pipeline = PIPELINE;
	hd.stage = STAGE;
	hd.depth = 1;
	d.len = (uint16_t)sl_wire_encode_control(buf, &hd, SL_FRAG_F_PROBE, seq,
						 0, send_ns);
	d.addr = *sl_stage_addr(st);
	CU_ASSERT_EQUAL(sl_sock_send_burst(prober, &d, 1), 1);
}

/* Poll the stage until the prober gets a datagram (@ms at most). */
static bool
probe_reply(unsigned int ms, struct sl_frag_hdr *hd)
{
	static struct sl_burst rx;
	uint64_t end = sl_now_ns() + ms * MS;

	sl_burst_reset(&rx);
	while (sl_now_ns() < end) {
		sl_stage_poll(st, MS);
		if (sl_sock_recv_burst(prober, rx.d, 1) == 1)
			return sl_wire_parse(rx.d[0].buf, rx.d[0].len, hd) ==
			       SL_WIRE_OK;
	}
	return false;
}

static void
test_pause(void)
{
	struct sl_stage_counters c;
	struct sl_frag_hdr hd;
	struct sockaddr_in lo;

	setup(NULL);
	sl_endpoint_parse("127.0.0.1:0", false, &lo);
	prober = sl_sock_open(&lo);
	CU_ASSERT_FATAL(prober != NULL);
	probe(70, 123456);
	CU_ASSERT_FATAL(probe_reply(500, &hd));
	CU_ASSERT(hd.flags == SL_FRAG_F_PROBE && hd.seq == 70 &&
		  hd.send_ns == 123456 && hd.pipeline == PIPELINE &&
		  hd.stage == STAGE);
	/* Pausing tells the prober at once; answers then carry PAUSE. */
	sl_stage_set_pause(st, true);
	CU_ASSERT_FATAL(probe_reply(500, &hd));
	CU_ASSERT_EQUAL(hd.flags, SL_FRAG_F_PROBE | SL_FRAG_F_PAUSE);
	probe(71, 5);
	CU_ASSERT_FATAL(probe_reply(500, &hd));
	CU_ASSERT(hd.flags == (SL_FRAG_F_PROBE | SL_FRAG_F_PAUSE) &&
		  hd.seq == 71);
	sl_stage_set_pause(st, false);
	CU_ASSERT_FATAL(probe_reply(500, &hd));
	CU_ASSERT_EQUAL(hd.flags, SL_FRAG_F_PROBE);
	probe(72, 6);
	CU_ASSERT_FATAL(probe_reply(500, &hd));
	CU_ASSERT(hd.flags == SL_FRAG_F_PROBE && hd.seq == 72);
	c = counters();
	CU_ASSERT_EQUAL(c.rel.probes_answered, 3);
	CU_ASSERT_EQUAL(c.rel.probes_sent, 2);
	CU_ASSERT_EQUAL(c.events, 0);
	sl_sock_close(prober);
	teardown();
}

/* ---- close ---- */

static void
test_close_shutdown(void)
{
	static const char *const w[] = {" w"};
	uint8_t want[SL_DGRAM_MAX];
	uint32_t id = 99;
	const char *tok[] = {"pending"};
	uint64_t t0;
	uint16_t len;
	unsigned int i;

	setup(NULL);
	f_send(20, 0, 0, 0, w, 1);
	f_send(21, 0, 0, 0, w, 1);
	f_send(22, 0, 0, 0, w, 1);
	CU_ASSERT_FATAL(run_until(6, 0, 1000));
	/* 20: a token not sent yet; 21: nothing; 22: ended by the app. */
	CU_ASSERT_EQUAL(sl_stage_send(st, evs[0].s, id, "pending", 7), 0);
	CU_ASSERT_EQUAL(sl_stage_end(st, evs[4].s), 0);
	CU_ASSERT_FATAL(run_until(6, 1, 1000));
	run_for(5);
	CU_ASSERT_EQUAL(n_out, 2);
	n_out = 0;
	CU_ASSERT_EQUAL(sl_stage_send(st, evs[0].s, id, "pending", 7), 0);
	t0 = sl_now_ns();
	sl_stage_close(st);
	/* F never ACKed (it is not pumped meanwhile): the linger ends. */
	CU_ASSERT(sl_now_ns() - t0 < 1000 * MS);
	st = NULL;
	for (i = 0; i < 100 && n_out < 2; i++) {
		usleep(1000);
		f_pump();
	}
	CU_ASSERT_EQUAL_FATAL(n_out, 2);
	/* In the order the streams opened: 20 (its pending token with
	 * it), then 21; 22 was ended already. */
	len = build_out(20, 1, SL_FRAG_F_ABORT, SL_ABORT_SHUTDOWN, 0, &id, tok,
			1, want);
	CU_ASSERT(out[0].len == len && memcmp(out[0].buf, want, len) == 0);
	len = build_out(21, 0, SL_FRAG_F_ABORT, SL_ABORT_SHUTDOWN, 0, NULL,
			NULL, 0, want);
	CU_ASSERT(out[1].len == len && memcmp(out[1].buf, want, len) == 0);
	sl_rel_free(frel);
	sl_sock_close(fs);
	frel = NULL;
	fs = NULL;
}

/* ---- loss, duplication, reordering ---- */

#define LOSSY_STREAMS 60

static struct tt_lossy lossy;
static struct tt_relay relay;

/* Token @i of fragment @seq of request @req. */
static const char *
word(uint64_t req, uint32_t seq, unsigned int i)
{
	static const char *const w[] = {
		" caf\xc3\xa9",
		" na\xc3\xafve",
		" stream",
		" Token",
		"!",
		" Zo\xc3\xab",
		" \xe6\x97\xa5\xe6\x9c\xac",
		" the",
		" OF",
		"\n",
	};

	return w[(req * 7 + seq * 3 + i) % 10];
}

/* Wait up to 1 ms for any of the four sockets, then move everything. */
static void
lossy_round(void)
{
	struct pollfd p[4] = {
		{.fd = sl_stage_fd(st), .events = POLLIN},
		{.fd = fs->fd, .events = POLLIN},
		{.fd = relay.near->fd, .events = POLLIN},
		{.fd = relay.far->fd, .events = POLLIN},
	};

	poll(p, 4, 1);
	tt_relay_pump(&relay);
	step_wait(0);
	tt_relay_pump(&relay);
	f_pump();
}

static void
test_lossy(void)
{
	static struct sl_text want_in[LOSSY_STREAMS], want_out[LOSSY_STREAMS];
	static struct sl_text got_in[LOSSY_STREAMS], got_out[LOSSY_STREAMS];
	uint32_t n_frags[LOSSY_STREAMS], sent[LOSSY_STREAMS] = {0};
	unsigned int opens[LOSSY_STREAMS] = {0}, ends[LOSSY_STREAMS] = {0};
	unsigned int out_ends[LOSSY_STREAMS] = {0}, done = 0, i, k;
	uint32_t out_next[LOSSY_STREAMS] = {0};
	uint64_t rng = 7, total_frags = 0, end;
	struct sl_stage_counters c;
	struct sockaddr_in to;

	setup(NULL);
	tt_lossy_init(&lossy, 0.05, 0.01, 0.01, 2, 1234);
	CU_ASSERT_FATAL(tt_relay_open(&relay, sl_stage_addr(st), tt_lossy_rule,
				      &lossy, 99) == 0);
	to = relay.near->local;
	auto_upper = true;
	for (i = 0; i < LOSSY_STREAMS; i++) {
		n_frags[i] = 1 + (uint32_t)(tt_rand(&rng) % 12);
		total_frags += n_frags[i];
	}
	end = sl_now_ns() + 2500 * MS;
	while (sl_now_ns() < end && done < LOSSY_STREAMS) {
		/* A fragment of each unfinished stream, then a round. */
		for (i = 0; i < LOSSY_STREAMS; i++) {
			const char *tok[3];
			unsigned int n = 1 + (i + sent[i]) % 3;

			if (sent[i] == n_frags[i])
				continue;
			for (k = 0; k < n; k++) {
				char up[32];
				size_t l;

				tok[k] = word(i, sent[i], k);
				l = strlen(tok[k]);
				sl_text_append(&want_in[i], tok[k], l);
				sl_transform_text(SL_TRANSFORM_UPPER, up,
						  tok[k], l);
				sl_text_append(&want_out[i], up, l);
			}
			f_send_to(&to, i, sent[i],
				  sent[i] + 1 == n_frags[i] ? SL_FRAG_F_END : 0,
				  0, 0, tok, n);
			sent[i]++;
		}
		lossy_round();
		/* Tally what arrived, both ways. */
		for (k = 0; k < n_ev; k++) {
			struct ev_rec *r = &evs[k];

			CU_ASSERT_FATAL(r->req < LOSSY_STREAMS);
			if (r->kind == SL_STAGE_OPEN)
				opens[r->req]++;
			if (r->kind == SL_STAGE_END)
				ends[r->req]++;
			CU_ASSERT(r->kind != SL_STAGE_ABORT);
			sl_text_append(&got_in[r->req], r->text, r->len);
		}
		n_ev = 0;
		for (k = 0; k < n_out; k++) {
			struct sl_frag_hdr hd;
			struct sl_token_iter it;
			struct sl_token t;
			uint64_t req;

			CU_ASSERT_EQUAL_FATAL(
				sl_wire_parse_hdr(out[k].buf, out[k].len, &hd),
				SL_WIRE_OK);
			req = hd.ancestry[0];
			CU_ASSERT_FATAL(req < LOSSY_STREAMS);
			CU_ASSERT(hd.pipeline == PIPELINE &&
				  hd.stage == STAGE && hd.tenant == TENANT &&
				  hd.from_stage == FROM_STAGE &&
				  hd.ancestry[1] == ANC1);
			CU_ASSERT_EQUAL(hd.seq, out_next[req]);
			CU_ASSERT_EQUAL(hd.flags & SL_FRAG_F_ABORT, 0);
			out_next[req] = hd.seq + 1;
			sl_token_iter_init(&it, out[k].buf + SL_WIRE_HDR_LEN,
					   hd.payload_len);
			while (sl_token_next(&it, &t)) {
				CU_ASSERT_EQUAL(t.id, h_len(t.text, t.len));
				sl_text_append(&got_out[req], t.text, t.len);
			}
			if (hd.flags & SL_FRAG_F_END) {
				out_ends[req]++;
				done++;
			}
		}
		n_out = 0;
	}
	/* Everything ACKed both ways before the counters are read. */
	for (i = 0; i < 300; i++) {
		struct sl_rel_usage uf;

		lossy_round();
		sl_rel_usage(frel, &uf);
		if (uf.tx_pending == 0 &&
		    counters().rel.acks_received == LOSSY_STREAMS)
			break;
	}
	CU_ASSERT_EQUAL(done, LOSSY_STREAMS);
	for (i = 0; i < LOSSY_STREAMS; i++) {
		CU_ASSERT(opens[i] == 1 && ends[i] == 1 && out_ends[i] == 1);
		/* Answered token for token: fragment for fragment too. */
		CU_ASSERT_EQUAL(out_next[i], n_frags[i]);
		CU_ASSERT(got_in[i].len == want_in[i].len &&
			  memcmp(got_in[i].buf, want_in[i].buf,
				 want_in[i].len) == 0);
		CU_ASSERT(got_out[i].len == want_out[i].len &&
			  memcmp(got_out[i].buf, want_out[i].buf,
				 want_out[i].len) == 0);
		sl_text_free(&want_in[i]);
		sl_text_free(&want_out[i]);
		sl_text_free(&got_in[i]);
		sl_text_free(&got_out[i]);
	}
	c = counters();
	CU_ASSERT_EQUAL(c.streams_opened, LOSSY_STREAMS);
	CU_ASSERT_EQUAL(c.streams_freed, LOSSY_STREAMS);
	CU_ASSERT_EQUAL(c.ends_out, LOSSY_STREAMS);
	CU_ASSERT_EQUAL(c.rel.delivered, total_frags);
	CU_ASSERT_EQUAL(c.rel.nack_gave_up, 0);
	CU_ASSERT_EQUAL(c.rel.acks_received, LOSSY_STREAMS);
	CU_ASSERT_EQUAL(sl_rel_counters(frel)->nack_gave_up, 0);
	CU_ASSERT_EQUAL(c.orphans_dropped + c.after_end_dropped + c.nomem, 0);
	/* The relay did its damage both ways. */
	CU_ASSERT(relay.dropped[TT_A_TO_B] > 0 && relay.dropped[TT_B_TO_A] > 0);
	CU_ASSERT(relay.duplicated[TT_A_TO_B] + relay.duplicated[TT_B_TO_A] >
		  0);
	CU_ASSERT(relay.reordered[TT_A_TO_B] + relay.reordered[TT_B_TO_A] > 0);
	tt_relay_close(&relay);
	teardown();
}

/* ---- the example stage against sluice-engine --transform upper ---- */

#define CMP_STREAMS 12
#define CMP_ROUNDS 6

/* Global so that main() stops them whatever assertion failed. */
static pid_t eng_pid = -1, up_pid = -1;

/* PROBE @to from the prober until it answers (the process is up). */
static bool
wait_up(const struct sockaddr_in *to)
{
	static struct sl_burst rx;
	uint8_t buf[SL_WIRE_HDR_LEN];
	struct sl_dgram d = {.buf = buf, .cap = sizeof(buf)};
	struct sl_frag_hdr hd;
	unsigned int tries;

	memset(&hd, 0, sizeof(hd));
	hd.version = SL_WIRE_VERSION;
	hd.pipeline = PIPELINE;
	hd.stage = STAGE;
	hd.depth = 1;
	d.len = (uint16_t)sl_wire_encode_control(buf, &hd, SL_FRAG_F_PROBE, 1,
						 0, 1);
	d.addr = *to;
	sl_burst_reset(&rx);
	for (tries = 0; tries < 200; tries++) {
		struct pollfd p = {.fd = prober->fd, .events = POLLIN};

		(void)sl_sock_send_burst(prober, &d, 1);
		if (poll(&p, 1, 10) == 1 &&
		    sl_sock_recv_burst(prober, rx.d, 1) == 1)
			return true;
	}
	return false;
}

/* Input fragment @seq of comparison stream @req: how it ends. */
static uint8_t
cmp_flags(uint64_t req, uint32_t seq, uint32_t n, uint8_t *reason)
{
	*reason = 0;
	if (seq + 1 < n)
		return 0;
	if (req % 4 == 3) {
		*reason = SL_ABORT_GUARD;
		return SL_FRAG_F_ABORT;
	}
	return SL_FRAG_F_END;
}

static void
test_upper_vs_engine(void)
{
	const char *engine_bin = getenv("SL_ENGINE");
	const char *upper_bin = getenv("SL_UPPER");
	char eng_listen[32], up_listen[32];
	struct sockaddr_in eng, up, lo;
	unsigned int round, i, k, in_tokens = 0, out_tokens = 0;
	unsigned int per[2][CMP_STREAMS][CMP_ROUNDS];
	unsigned int n_per[2][CMP_STREAMS], want = 0;
	uint64_t end;

	if (engine_bin == NULL || upper_bin == NULL) {
		fprintf(stderr, "SL_ENGINE/SL_UPPER not set: skipped\n");
		return;
	}
	snprintf(eng_listen, sizeof(eng_listen), "127.0.0.1:%u",
		 tt_free_port());
	snprintf(up_listen, sizeof(up_listen), "127.0.0.1:%u", tt_free_port());
	sl_endpoint_parse(eng_listen, false, &eng);
	sl_endpoint_parse(up_listen, false, &up);
	{
		char *const ea[] = {(char *)engine_bin,
				    "--listen",
				    eng_listen,
				    "--transform",
				    "upper",
				    "--quiet",
				    NULL};
		char *const ua[] = {(char *)upper_bin, up_listen, NULL};

		eng_pid = tt_spawn(ea, NULL, NULL);
		up_pid = tt_spawn(ua, NULL, NULL);
	}
	CU_ASSERT_FATAL(eng_pid > 0 && up_pid > 0);
	sl_endpoint_parse("127.0.0.1:0", false, &lo);
	prober = sl_sock_open(&lo);
	fs = sl_sock_open(&lo);
	CU_ASSERT_FATAL(prober != NULL && fs != NULL);
	frel = sl_rel_new(fs, NULL);
	CU_ASSERT_FATAL(frel != NULL);
	CU_ASSERT_FATAL(wait_up(&eng) && wait_up(&up));
	n_out = 0;

	/* Round r: fragment r of every stream still going, to both, while
	 * the example stage is stopped: every fragment of a stream reaches
	 * it at once, and each must still get an answer of its own. */
	CU_ASSERT_EQUAL_FATAL(kill(up_pid, SIGSTOP), 0);
	for (round = 0; round < CMP_ROUNDS; round++) {

		for (i = 0; i < CMP_STREAMS; i++) {
			uint32_t n = 1 + i % CMP_ROUNDS;
			const char *tok[3];
			unsigned int nt = (i + round) % 4, j;
			uint8_t flags, reason;

			if (round >= n)
				continue;
			flags = cmp_flags(i, round, n, &reason);
			if (nt == 0 && !(flags & SL_FRAG_F_DATA))
				nt = 1; /* a tokenless middle is not sent */
			for (j = 0; j < nt; j++)
				tok[j] = word(i, round, j);
			in_tokens += nt;
			f_send_to(&eng, 100 + i, round, flags, reason, 0, tok,
				  nt);
			f_send_to(&up, 100 + i, round, flags, reason, 0, tok,
				  nt);
			want += 2;
		}
		/* A split's announcement: neither answers it. */
		f_send_to(&eng, 300 + round, 4,
			  SL_FRAG_F_END | SL_FRAG_F_CHILDREN, 0, 2, NULL, 0);
		f_send_to(&up, 300 + round, 4,
			  SL_FRAG_F_END | SL_FRAG_F_CHILDREN, 0, 2, NULL, 0);
	}
	CU_ASSERT_EQUAL_FATAL(kill(up_pid, SIGCONT), 0);
	end = sl_now_ns() + 2000 * MS;
	while (n_out < want && sl_now_ns() < end) {
		struct pollfd p = {.fd = fs->fd, .events = POLLIN};

		poll(&p, 1, 1);
		f_pump();
	}
	CU_ASSERT_EQUAL_FATAL(n_out, want);
	/* Let late ACKs and any stray answer arrive. */
	for (i = 0; i < 30; i++) {
		struct pollfd p = {.fd = fs->fd, .events = POLLIN};

		poll(&p, 1, 1);
		f_pump();
	}

	/* Every output, by instance and stream, in arrival order. */
	memset(n_per, 0, sizeof(n_per));
	for (k = 0; k < n_out; k++) {
		struct sl_frag_hdr hd;
		unsigned int who = out[k].src.sin_port == up.sin_port;
		uint64_t req;

		CU_ASSERT_FATAL(who == 1 ||
				out[k].src.sin_port == eng.sin_port);
		CU_ASSERT_EQUAL_FATAL(
			sl_wire_parse(out[k].buf, out[k].len, &hd), SL_WIRE_OK);
		req = hd.ancestry[0];
		CU_ASSERT_FATAL(req >= 100 && req < 100 + CMP_STREAMS);
		CU_ASSERT_FATAL(n_per[who][req - 100] < CMP_ROUNDS);
		per[who][req - 100][n_per[who][req - 100]++] = k;
		if (who == 1)
			out_tokens += hd.token_count;
	}
	CU_ASSERT_EQUAL(out_tokens, in_tokens);
	for (i = 0; i < CMP_STREAMS; i++) {
		CU_ASSERT_EQUAL(n_per[0][i], 1 + i % CMP_ROUNDS);
		CU_ASSERT_EQUAL(n_per[1][i], n_per[0][i]);
		for (k = 0; k < n_per[0][i] && k < n_per[1][i]; k++) {
			const struct out_rec *a = &out[per[0][i][k]];
			const struct out_rec *b = &out[per[1][i][k]];
			struct sl_frag_hdr hd;
			struct sl_token_iter it;
			struct sl_token t;

			CU_ASSERT(a->len == b->len &&
				  memcmp(a->buf, b->buf, a->len) == 0);
			/* And it is upper case, not merely the same. */
			sl_wire_parse_hdr(b->buf, b->len, &hd);
			CU_ASSERT_EQUAL(hd.seq, k);
			sl_token_iter_init(&it, b->buf + SL_WIRE_HDR_LEN,
					   hd.payload_len);
			while (sl_token_next(&it, &t)) {
				unsigned int j;

				for (j = 0; j < t.len; j++)
					CU_ASSERT(t.text[j] < 'a' ||
						  t.text[j] > 'z');
			}
		}
	}
	CU_ASSERT_EQUAL(tt_stop(&up_pid), 0);
	CU_ASSERT_EQUAL(tt_stop(&eng_pid), 0);
	sl_sock_close(prober);
	prober = NULL;
	sl_rel_free(frel);
	sl_sock_close(fs);
	frel = NULL;
	fs = NULL;
}

int
main(void)
{
	CU_pSuite s;
	unsigned int fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("stage_api", NULL, NULL);
	CU_add_test(s, "events and output, exact bytes", test_events_exact);
	CU_add_test(s, "packing, flush at poll, long texts cut", test_packing);
	CU_add_test(s, "send errors and out_bytes_max", test_send_errors);
	CU_add_test(s, "streams_max refuses with ABORT OVERLOAD",
		    test_streams_max);
	CU_add_test(s, "PROBE answers, PAUSE set and lifted", test_pause);
	CU_add_test(s, "close aborts open outputs with SHUTDOWN",
		    test_close_shutdown);
	CU_add_test(s, "5% loss, dup, reorder: every stream whole both ways",
		    test_lossy);
	CU_add_test(s, "sluice-upper-stage answers as sluice-engine upper",
		    test_upper_vs_engine);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	/* A failed fatal assertion leaves the children running. */
	if (up_pid > 0) {
		kill(up_pid, SIGCONT);
		tt_stop(&up_pid);
	}
	if (eng_pid > 0)
		tt_stop(&eng_pid);
	return fails ? 1 : 0;
}
