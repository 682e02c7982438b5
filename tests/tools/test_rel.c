/* SPDX-License-Identifier: MIT */
/*
 * test_rel.c - libsluice's reliable streams (sl_rel) between two real
 * sockets on 127.0.0.1 joined by a lossy relay (tt_relay.c).
 *
 * Side A sends streams through its sl_rel; side B receives through its
 * own and checks every delivered fragment against the exact bytes A
 * built (header, tokens and all), its order and that it comes once. The
 * relay drops, duplicates and reorders: at random (seeded; 1, 5 and 10 %
 * loss with 1 % duplication and reordering, several seeds, hundreds of
 * streams), or exactly the datagrams a scenario names: a lost END, a
 * stream with only its END left, a NACK for a fragment no longer held
 * (ABORT LOST), a duplicated END, a gap that never fills (NACK give-up
 * and ABORT LOST), the memory and table bounds (exact counters when
 * they evict or refuse), PROBE answers with and without PAUSE, idle
 * reclaim, linger, shutdown aborts and suppression after ABORT LOST.
 */
#include <CUnit/Basic.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice.h"
#include "tt_relay.h"

#define PIPELINE 7
#define STAGE 3
#define FROM_STAGE 2
#define TENANT 11
#define STREAMS_MAX 1024

static const char *const words[] = {
	" caf\xc3\xa9",
	" na\xc3\xafve",
	" stream",
	" token",
	"!",
	" Zo\xc3\xab",
	" \xe6\x97\xa5\xe6\x9c\xac",
	" the",
	" of",
	"\n",
};

/* ---- the streams A sends ---- */

static uint32_t n_frags[STREAMS_MAX]; /* per stream; 0: not used */
static bool fixed_size;               /* every fragment LEN_FIXED bytes */
#define LEN_FIXED (SL_WIRE_HDR_LEN + SL_WIRE_TOKEN_HDR_LEN + 8)

/* Fragment @seq of stream @id, byte for byte: the same bytes every time
 * it is built (send_ns too), so that B can compare what it gets. */
static uint16_t
build_frag(uint64_t id, uint32_t seq, uint8_t *buf, size_t cap)
{
	uint64_t anc[2] = {id, 99};
	struct sl_stream_tx tx;
	unsigned int n, i;

	sl_stream_tx_init(&tx, PIPELINE, STAGE, TENANT, 2, anc);
	tx.next_seq = seq;
	CU_ASSERT_FATAL(sl_stream_tx_begin(&tx, buf, cap) == 0);
	n = fixed_size ? 1 : 1 + (unsigned int)((id * 7 + seq * 13) % 5);
	for (i = 0; i < n; i++) {
		const char *w = fixed_size ? "abcdefgh"
					   : words[(id + seq * 3 + i) % 10];

		CU_ASSERT_FATAL(sl_stream_tx_add(&tx,
						 sl_token_hash(w, strlen(w)), w,
						 strlen(w)) == 0);
	}
	tx.b.hdr.from_stage = FROM_STAGE;
	return (uint16_t)sl_stream_tx_finish(
		&tx, seq + 1 == n_frags[id] ? SL_FRAG_F_END : 0, 0,
		1000000ull + id * 1000 + seq);
}

/* ---- the two sides and the relay ---- */

struct side {
	struct sl_sock *s;
	struct sl_rel *rel;
};

static struct side A, B;
static struct tt_relay R;
static struct sl_sock *prober;

/* What B got, per stream. */
struct got {
	uint32_t next;  /* seq expected next */
	uint32_t frags; /* data fragments delivered */
	bool done;      /* END delivered */
	bool aborted;
	uint8_t reason;
	uint32_t abort_seq;
	bool bad; /* out of order, twice, or not the bytes sent */
};

static struct got got[STREAMS_MAX];
static unsigned int n_done, n_aborted, n_bad;

/* What A's ticks delivered: its send streams given up. */
static struct sl_frag_hdr a_gave[STREAMS_MAX];
static unsigned int n_a_gave;

static void
b_take(const struct sl_frag_view *v)
{
	uint8_t want[SL_DGRAM_MAX];
	uint64_t id = v->hdr.ancestry[0];
	struct got *g;
	uint16_t len;

	if (id >= STREAMS_MAX || v->hdr.depth != 2 ||
	    v->hdr.ancestry[1] != 99) {
		n_bad++;
		return;
	}
	g = &got[id];
	if (g->done || g->aborted || v->hdr.seq != g->next) {
		g->bad = true;
		n_bad++;
		return;
	}
	g->next++;
	if (v->hdr.flags & SL_FRAG_F_ABORT) {
		g->aborted = true;
		g->reason = v->hdr.abort_reason;
		g->abort_seq = v->hdr.seq;
		n_aborted++;
		CU_ASSERT_EQUAL(v->hdr.token_count, 0);
		return;
	}
	len = build_frag(id, v->hdr.seq, want, sizeof(want));
	/* The whole fragment, header and tokens, exactly as A built it. */
	{
		uint8_t have[SL_DGRAM_MAX];

		sl_wire_encode_hdr(have, &v->hdr);
		memcpy(have + SL_WIRE_HDR_LEN, v->payload, v->hdr.payload_len);
		if (SL_WIRE_HDR_LEN + v->hdr.payload_len != len ||
		    memcmp(have, want, len) != 0) {
			g->bad = true;
			n_bad++;
			return;
		}
	}
	g->frags++;
	if (v->hdr.flags & SL_FRAG_F_END) {
		g->done = true;
		n_done++;
	}
}

static int
side_open(struct side *x, const struct sl_rel_config *cfg)
{
	struct sockaddr_in lo;

	sl_endpoint_parse("127.0.0.1:0", false, &lo);
	x->s = sl_sock_open(&lo);
	if (x->s == NULL)
		return -1;
	x->rel = sl_rel_new(x->s, cfg);
	return x->rel ? 0 : -1;
}

static void
side_close(struct side *x)
{
	sl_rel_free(x->rel);
	sl_sock_close(x->s);
	x->rel = NULL;
	x->s = NULL;
}

/*
 * A fresh A, B and relay (rule @rule with @ctx). NULL configs: the
 * defaults. A's peer is the relay; the relay's far end is B.
 */
static void
setup(const struct sl_rel_config *ca, const struct sl_rel_config *cb,
      tt_rule_fn rule, void *ctx)
{
	CU_ASSERT_FATAL(side_open(&A, ca) == 0);
	CU_ASSERT_FATAL(side_open(&B, cb) == 0);
	CU_ASSERT_FATAL(tt_relay_open(&R, &B.s->local, rule, ctx, 42) == 0);
	sl_sock_set_peer(A.s, &R.near->local);
	memset(got, 0, sizeof(got));
	memset(n_frags, 0, sizeof(n_frags));
	n_done = n_aborted = n_bad = n_a_gave = 0;
	fixed_size = false;
}

static void
teardown(void)
{
	side_close(&A);
	side_close(&B);
	tt_relay_close(&R);
}

static void
side_input(struct side *x, bool is_b, uint64_t now)
{
	static struct sl_burst rx;
	int n, i;

	sl_burst_reset(&rx);
	n = sl_sock_recv_burst(x->s, rx.d, SL_BURST_MAX);
	CU_ASSERT(n >= 0);
	for (i = 0; i < n; i++) {
		struct sl_frag_view v;

		CU_ASSERT_EQUAL(sl_rel_input(x->rel, &rx.d[i], now),
				SL_WIRE_OK);
		while (sl_rel_next(x->rel, &v)) {
			CU_ASSERT(is_b); /* A only gets control fragments */
			if (is_b)
				b_take(&v);
		}
	}
}

/* One round: wait up to 1 ms, move what waits, run the timers. */
static void
step(void)
{
	struct pollfd p[4] = {
		{.fd = A.s->fd, .events = POLLIN},
		{.fd = B.s->fd, .events = POLLIN},
		{.fd = R.near->fd, .events = POLLIN},
		{.fd = R.far->fd, .events = POLLIN},
	};
	struct sl_frag_view v;
	uint64_t now;

	poll(p, 4, 1);
	tt_relay_pump(&R);
	now = sl_now_ns();
	side_input(&B, true, now);
	side_input(&A, false, now);
	now = sl_now_ns();
	sl_rel_tick(A.rel, now);
	while (sl_rel_next(A.rel, &v)) {
		/* Only a send stream given up, with report_gave_up. */
		CU_ASSERT_FATAL(n_a_gave < STREAMS_MAX);
		a_gave[n_a_gave++] = v.hdr;
	}
	sl_rel_tick(B.rel, now);
	while (sl_rel_next(B.rel, &v))
		b_take(&v);
}

static bool
quiet(void)
{
	struct sl_rel_usage ua;

	sl_rel_usage(A.rel, &ua);
	return ua.tx_pending == 0 && tt_relay_holding(&R) == 0;
}

/* Step until @n streams ended at B and A awaits no ACK, or @ms passed. */
static bool
run_until(unsigned int n, int ms)
{
	uint64_t end = sl_now_ns() + (uint64_t)ms * 1000000ull;

	while (sl_now_ns() < end) {
		step();
		if (n_done + n_aborted >= n && quiet())
			return true;
	}
	return false;
}

/* Step for @ms whatever happens. */
static void
run_for(int ms)
{
	uint64_t end = sl_now_ns() + (uint64_t)ms * 1000000ull;

	while (sl_now_ns() < end)
		step();
}

/* Send fragments [from, to) of stream @id through A's sl_rel. */
static void
a_send(uint64_t id, uint32_t from, uint32_t to)
{
	static struct sl_burst tx;
	uint32_t seq = from;

	sl_burst_reset(&tx);
	while (seq < to) {
		unsigned int k = 0, sent = 0;

		for (; seq < to && k < SL_BURST_MAX; seq++, k++) {
			tx.d[k].len =
				build_frag(id, seq, tx.d[k].buf, tx.d[k].cap);
			memset(&tx.d[k].addr, 0, sizeof(tx.d[k].addr));
		}
		while (sent < k) {
			int rc = sl_rel_send_burst(A.rel, tx.d + sent, k - sent,
						   sl_now_ns());

			CU_ASSERT_FATAL(rc >= 0);
			if (rc == 0) {
				struct pollfd p = {.fd = A.s->fd,
						   .events = POLLOUT};

				poll(&p, 1, 5);
			}
			sent += (unsigned int)rc;
		}
	}
}

static const struct sl_rel_counters *
ca(void)
{
	return sl_rel_counters(A.rel);
}

static const struct sl_rel_counters *
cb(void)
{
	return sl_rel_counters(B.rel);
}

/* ---- random loss, duplication and reordering ---- */

static struct tt_lossy lossy;

/* What crossed the relay, by kind: seen (offered to it) and arrived
 * (what the other side then received: a duplicate twice, a drop never,
 * a held datagram once, later). */
enum { K_DATA, K_NACK, K_ACK, K_MAX };

static uint64_t seen[2][K_MAX], arrived[2][K_MAX];

static enum tt_verdict
tally_rule(void *ctx, int dir, uint64_t idx, const struct sl_frag_hdr *h)
{
	enum tt_verdict v = tt_lossy_rule(ctx, dir, idx, h);
	int k;

	if (h == NULL)
		return v;
	k = (h->flags & SL_FRAG_F_NACK)  ? K_NACK
	    : (h->flags & SL_FRAG_F_ACK) ? K_ACK
					 : K_DATA;
	seen[dir][k]++;
	arrived[dir][k] += v == TT_DROP ? 0 : v == TT_DUP ? 2 : 1;
	return v;
}

/*
 * @streams streams of 1..24 fragments, up to 48 open at once, through
 * @drop loss + 1 % duplication + 1 % reordering: every stream arrives
 * whole, in order, once, byte for byte, and every counter adds up.
 */
static void
lossy_run(double drop, uint64_t seed, unsigned int streams)
{
	uint64_t rng = seed, total = 0, end;
	unsigned int next_open = 0, open[48], n_open = 0, i;
	uint32_t sent[STREAMS_MAX] = {0};
	struct sl_rel_usage ua, ub;
	double ratio;

	tt_lossy_init(&lossy, drop, 0.01, 0.01, 2, seed);
	memset(seen, 0, sizeof(seen));
	memset(arrived, 0, sizeof(arrived));
	setup(NULL, NULL, tally_rule, &lossy);
	for (i = 0; i < streams; i++) {
		n_frags[i] = 1 + (uint32_t)(tt_rand(&rng) % 24);
		total += n_frags[i];
	}
	end = sl_now_ns() + 30000000000ull;
	while (sl_now_ns() < end) {
		while (n_open < 48 && next_open < streams)
			open[n_open++] = next_open++;
		/* A few fragments of every open stream, then a step. */
		for (i = 0; i < n_open;) {
			uint32_t id = open[i];
			uint32_t k = 1 + (uint32_t)(tt_rand(&rng) % 3);

			if (sent[id] + k > n_frags[id])
				k = n_frags[id] - sent[id];
			a_send(id, sent[id], sent[id] + k);
			sent[id] += k;
			if (sent[id] == n_frags[id])
				open[i] = open[--n_open];
			else
				i++;
		}
		step();
		if (next_open == streams && n_open == 0 &&
		    n_done + n_aborted == streams && quiet())
			break;
	}
	CU_ASSERT_EQUAL(n_done, streams);
	CU_ASSERT_EQUAL(n_aborted, 0);
	CU_ASSERT_EQUAL(n_bad, 0);
	for (i = 0; i < streams; i++)
		CU_ASSERT(got[i].done && got[i].frags == n_frags[i] &&
			  !got[i].bad);
	/* The receiver: each fragment delivered once, each END ACKed once,
	 * nothing given up, refused or left held. */
	CU_ASSERT_EQUAL(cb()->delivered, total);
	CU_ASSERT_EQUAL(cb()->acks_sent, streams);
	CU_ASSERT_EQUAL(cb()->nack_gave_up, 0);
	CU_ASSERT_EQUAL(cb()->rx_refused, 0);
	CU_ASSERT_EQUAL(cb()->after_end_dropped, 0);
	CU_ASSERT_EQUAL(cb()->undrained, 0);
	/* The sender: every stream forgotten by its ACK, none given up, no
	 * copy missing when asked for. */
	CU_ASSERT_EQUAL(ca()->acks_received, streams);
	CU_ASSERT_EQUAL(ca()->gave_up, 0);
	CU_ASSERT_EQUAL(ca()->lost_aborts_sent, 0);
	CU_ASSERT_EQUAL(ca()->tx_copies_evicted, 0);
	/* Conservation, datagram by datagram. A sent each fragment once,
	 * plus what NACKs and END resends asked for: */
	CU_ASSERT_EQUAL(seen[TT_A_TO_B][K_DATA],
			total + ca()->resent + ca()->end_resends +
				ca()->lost_aborts_sent);
	/* and B accounted for every one that reached it: */
	CU_ASSERT_EQUAL(arrived[TT_A_TO_B][K_DATA],
			cb()->delivered + cb()->duplicates_dropped +
				cb()->after_end_dropped + cb()->beyond_window +
				cb()->held_over_bound + cb()->rx_refused);
	CU_ASSERT_EQUAL(seen[TT_B_TO_A][K_NACK], cb()->nacks_sent);
	CU_ASSERT_EQUAL(arrived[TT_B_TO_A][K_NACK], ca()->nacks_received);
	CU_ASSERT_EQUAL(seen[TT_B_TO_A][K_ACK],
			cb()->acks_sent + cb()->acks_repeated);
	CU_ASSERT_EQUAL(arrived[TT_B_TO_A][K_ACK],
			ca()->acks_received + ca()->acks_unknown);
	CU_ASSERT_EQUAL(seen[TT_A_TO_B][K_NACK] + seen[TT_A_TO_B][K_ACK], 0);
	CU_ASSERT_EQUAL(ca()->ctl_dropped + cb()->ctl_dropped, 0);
	sl_rel_usage(A.rel, &ua);
	sl_rel_usage(B.rel, &ub);
	CU_ASSERT_EQUAL(ua.tx_streams, 0);
	CU_ASSERT_EQUAL(ua.tx_copies, 0);
	CU_ASSERT_EQUAL(ua.tx_bytes, 0);
	CU_ASSERT_EQUAL(ub.rx_held, 0);
	CU_ASSERT_EQUAL(ub.rx_bytes, 0);
	CU_ASSERT_EQUAL(ub.rx_streams, streams); /* lingering */
	/* The relay did what it was asked: drop ~@drop of the datagrams,
	 * and duplicate and reorder some. */
	ratio = (double)(R.dropped[0] + R.dropped[1]) /
		(double)(R.idx[0] + R.idx[1]);
	CU_ASSERT(ratio > drop * 0.6 && ratio < drop * 1.4);
	CU_ASSERT(R.duplicated[0] + R.duplicated[1] > 0);
	CU_ASSERT(R.reordered[0] + R.reordered[1] > 0);
	if (drop > 0) {
		CU_ASSERT(cb()->nacks_sent > 0);
		CU_ASSERT(ca()->resent > 0);
		CU_ASSERT(ca()->end_resends > 0);
	}
	fprintf(stderr,
		"\n    drop %.0f%% seed %llu: %llu datagrams, %llu dropped, "
		"%llu dup, %llu reordered; %llu NACKs, %llu resent, %llu END "
		"resends, %llu dups dropped ",
		drop * 100, (unsigned long long)seed,
		(unsigned long long)(R.idx[0] + R.idx[1]),
		(unsigned long long)(R.dropped[0] + R.dropped[1]),
		(unsigned long long)(R.duplicated[0] + R.duplicated[1]),
		(unsigned long long)(R.reordered[0] + R.reordered[1]),
		(unsigned long long)cb()->nacks_sent,
		(unsigned long long)ca()->resent,
		(unsigned long long)ca()->end_resends,
		(unsigned long long)cb()->duplicates_dropped);
	teardown();
}

static void
test_lossy_1(void)
{
	lossy_run(0.01, 1, 300);
	lossy_run(0.01, 2, 300);
	lossy_run(0.01, 3, 300);
}

static void
test_lossy_5(void)
{
	lossy_run(0.05, 11, 300);
	lossy_run(0.05, 12, 300);
	lossy_run(0.05, 13, 300);
}

static void
test_lossy_10(void)
{
	lossy_run(0.10, 21, 300);
	lossy_run(0.10, 22, 300);
	lossy_run(0.10, 23, 300);
}

/* ---- scenarios: exactly the datagrams named ---- */

/* Drop the first @times transmissions of the data fragments in
 * [drop_from, drop_to) of stream @drop_id (A to B); duplicate the first
 * END of @dup_id; log B's NACKs. */
struct script {
	uint64_t drop_id;
	uint32_t drop_from, drop_to;
	unsigned int times; /* 0: every time */
	uint32_t seen[64];  /* transmissions per seq of drop_id */
	int64_t dup_id;
	bool duped;
	unsigned int n_nacks;
	uint32_t nack_seq[32], nack_count[32];
	unsigned int a_to_b_data; /* data datagrams of drop_id passed */
};

static struct script sc;

static void
script_reset(void)
{
	memset(&sc, 0, sizeof(sc));
	sc.dup_id = -1;
	sc.drop_id = UINT64_MAX;
}

static enum tt_verdict
script_rule(void *ctx, int dir, uint64_t idx, const struct sl_frag_hdr *h)
{
	(void)ctx;
	(void)idx;
	if (h == NULL)
		return TT_PASS;
	if (dir == TT_B_TO_A) {
		if ((h->flags & SL_FRAG_F_NACK) && sc.n_nacks < 32) {
			sc.nack_seq[sc.n_nacks] = h->seq;
			sc.nack_count[sc.n_nacks++] = h->child_count;
		}
		return TT_PASS;
	}
	/* Control fragments and the sender's own ABORTs pass. */
	if (h->flags & (SL_FRAG_F_CONTROL | SL_FRAG_F_ABORT))
		return TT_PASS;
	if (h->ancestry[0] == sc.drop_id && h->seq >= sc.drop_from &&
	    h->seq < sc.drop_to && h->seq < 64) {
		if (sc.times == 0 || sc.seen[h->seq]++ < sc.times)
			return TT_DROP;
	}
	if (h->ancestry[0] == sc.drop_id)
		sc.a_to_b_data++;
	if ((int64_t)h->ancestry[0] == sc.dup_id &&
	    (h->flags & SL_FRAG_F_END) && !sc.duped) {
		sc.duped = true;
		return TT_DUP;
	}
	return TT_PASS;
}

static void
test_lost_end(void)
{
	script_reset();
	setup(NULL, NULL, script_rule, NULL);
	n_frags[1] = 5;
	sc.drop_id = 1;
	sc.drop_from = 4;
	sc.drop_to = 5;
	sc.times = 1;
	a_send(1, 0, 5);
	CU_ASSERT_FATAL(run_until(1, 3000));
	CU_ASSERT(got[1].done && got[1].frags == 5 && !got[1].bad);
	CU_ASSERT_EQUAL(R.dropped[TT_A_TO_B], 1);
	/* No gap was seen: the END came back by its resend. */
	CU_ASSERT_EQUAL(cb()->nacks_sent, 0);
	CU_ASSERT_EQUAL(ca()->resent, 0);
	CU_ASSERT(ca()->end_resends >= 1);
	/* A second resend only when the ACK was late; it is re-ACKed. */
	CU_ASSERT_EQUAL(ca()->end_resends, 1 + cb()->acks_repeated);
	CU_ASSERT_EQUAL(cb()->acks_sent, 1);
	CU_ASSERT_EQUAL(ca()->acks_received, 1);
	CU_ASSERT_EQUAL(ca()->acks_unknown, cb()->acks_repeated);
	CU_ASSERT_EQUAL(cb()->delivered, 5);
	teardown();
}

static void
test_only_end_left(void)
{
	script_reset();
	setup(NULL, NULL, script_rule, NULL);
	n_frags[2] = 10;
	sc.drop_id = 2;
	sc.drop_from = 0;
	sc.drop_to = 9;
	sc.times = 1;
	a_send(2, 0, 10);
	CU_ASSERT_FATAL(run_until(1, 3000));
	CU_ASSERT(got[2].done && got[2].frags == 10 && !got[2].bad);
	CU_ASSERT_EQUAL(R.dropped[TT_A_TO_B], 9);
	/* The END alone revealed the gap: one NACK for all nine. */
	CU_ASSERT_FATAL(sc.n_nacks >= 1);
	CU_ASSERT_EQUAL(sc.nack_seq[0], 0);
	CU_ASSERT_EQUAL(sc.nack_count[0], 9);
	CU_ASSERT_EQUAL(cb()->held, 1);
	CU_ASSERT_EQUAL(ca()->nacks_received, cb()->nacks_sent);
	CU_ASSERT_EQUAL(ca()->resent, 9 * ca()->nacks_received);
	CU_ASSERT_EQUAL(cb()->delivered, 10);
	CU_ASSERT_EQUAL(cb()->acks_sent, 1);
	CU_ASSERT_EQUAL(ca()->acks_received, 1);
	CU_ASSERT_EQUAL(ca()->lost_aborts_sent, 0);
	teardown();
}

/* Nothing of stream 3 arrives the first time, END included: the END's
 * resend alone brings it all back. */
static void
test_all_lost(void)
{
	script_reset();
	setup(NULL, NULL, script_rule, NULL);
	n_frags[3] = 6;
	sc.drop_id = 3;
	sc.drop_from = 0;
	sc.drop_to = 6;
	sc.times = 1;
	a_send(3, 0, 6);
	CU_ASSERT_FATAL(run_until(1, 3000));
	CU_ASSERT(got[3].done && got[3].frags == 6 && !got[3].bad);
	CU_ASSERT(ca()->end_resends >= 1);
	CU_ASSERT_FATAL(sc.n_nacks >= 1);
	CU_ASSERT_EQUAL(sc.nack_seq[0], 0);
	CU_ASSERT_EQUAL(sc.nack_count[0], 5);
	CU_ASSERT_EQUAL(cb()->delivered, 6);
	CU_ASSERT_EQUAL(ca()->acks_received, 1);
	teardown();
}

static void
test_nack_evicted(void)
{
	struct sl_rel_config cfg;
	struct sl_rel_usage u;

	/* A window of SL_RTX_WINDOW (the default is larger). */
	sl_rel_config_default(&cfg);
	cfg.tx_window = SL_RTX_WINDOW;
	script_reset();
	setup(&cfg, NULL, script_rule, NULL);
	n_frags[4] = 40;
	sc.drop_id = 4;
	sc.drop_from = 3;
	sc.drop_to = 4;
	sc.times = 0;
	/* All 40 leave before any NACK can come back: A keeps 8..39. */
	a_send(4, 0, 40);
	sl_rel_usage(A.rel, &u);
	CU_ASSERT_EQUAL(u.tx_copies, SL_RTX_WINDOW);
	CU_ASSERT_FATAL(run_until(1, 3000));
	CU_ASSERT(got[4].aborted);
	CU_ASSERT_EQUAL(got[4].reason, SL_ABORT_LOST);
	CU_ASSERT_EQUAL(got[4].abort_seq, 3);
	CU_ASSERT_EQUAL(got[4].frags, 3);
	CU_ASSERT(!got[4].bad);
	CU_ASSERT_FATAL(sc.n_nacks >= 1);
	CU_ASSERT_EQUAL(sc.nack_seq[0], 3);
	CU_ASSERT_EQUAL(sc.nack_count[0], 1);
	/* 4..34 held (within 32 of seq 3), 35..39 past the window; the
	 * ABORT ends the stream there and drops what was held. */
	CU_ASSERT_EQUAL(cb()->held, 31);
	CU_ASSERT_EQUAL(cb()->beyond_window, 5);
	CU_ASSERT(cb()->after_end_dropped >= 31);
	CU_ASSERT_EQUAL(cb()->delivered, 4);
	CU_ASSERT_EQUAL(ca()->nacks_received, cb()->nacks_sent);
	CU_ASSERT_EQUAL(ca()->lost_aborts_sent,
			ca()->nacks_received + ca()->end_resends);
	CU_ASSERT_EQUAL(ca()->resent, 0);
	CU_ASSERT_EQUAL(cb()->acks_sent, 1);
	CU_ASSERT_EQUAL(ca()->acks_received, 1);
	CU_ASSERT_EQUAL(ca()->gave_up, 0);
	sl_rel_usage(A.rel, &u);
	CU_ASSERT_EQUAL(u.tx_streams, 0);
	CU_ASSERT_EQUAL(u.tx_copies, 0);
	sl_rel_usage(B.rel, &u);
	CU_ASSERT_EQUAL(u.rx_held, 0);
	CU_ASSERT_EQUAL(u.rx_bytes, 0);
	teardown();
}

/* With the default send window, a burst far longer than B's window
 * (32) is repaired from a loss at its start: B holds 4..34, drops the
 * rest, and its NACKs after each filled gap ask for what it dropped. */
static void
test_long_burst_repaired(void)
{
	struct sl_rel_usage u;

	script_reset();
	setup(NULL, NULL, script_rule, NULL);
	n_frags[6] = 100;
	sc.drop_id = 6;
	sc.drop_from = 3;
	sc.drop_to = 4;
	sc.times = 1;
	a_send(6, 0, 100);
	sl_rel_usage(A.rel, &u);
	CU_ASSERT_EQUAL(u.tx_copies, 100);
	CU_ASSERT_FATAL(run_until(1, 3000));
	CU_ASSERT(got[6].done && got[6].frags == 100 && !got[6].bad);
	CU_ASSERT_EQUAL(cb()->beyond_window, 100 - 35);
	CU_ASSERT_EQUAL(ca()->lost_aborts_sent, 0);
	CU_ASSERT_EQUAL(n_bad, 0);
	sl_rel_usage(A.rel, &u);
	CU_ASSERT_EQUAL(u.tx_copies, 0);
	teardown();
}

/* The stream is cut by ABORT (LOST) while A's application still sends
 * it: what it sends next is suppressed, its END lets the entry go. */
static void
test_suppressed_after_lost(void)
{
	struct sl_rel_config cfg;
	struct sl_rel_usage u;
	uint64_t passed;

	sl_rel_config_default(&cfg);
	cfg.tx_window = SL_RTX_WINDOW; /* 40 sent: 0..7 gone */
	script_reset();
	setup(&cfg, NULL, script_rule, NULL);
	n_frags[5] = 43;
	sc.drop_id = 5;
	sc.drop_from = 3;
	sc.drop_to = 4;
	sc.times = 0;
	a_send(5, 0, 40);
	run_for(200);
	CU_ASSERT(got[5].aborted);
	CU_ASSERT_EQUAL(got[5].reason, SL_ABORT_LOST);
	CU_ASSERT_EQUAL(got[5].abort_seq, 3);
	CU_ASSERT_EQUAL(ca()->acks_received, 1);
	sl_rel_usage(A.rel, &u);
	CU_ASSERT_EQUAL(u.tx_streams, 1); /* kept to suppress the rest */
	CU_ASSERT_EQUAL(u.tx_pending, 0);
	CU_ASSERT_EQUAL(u.tx_copies, 0);
	passed = R.idx[TT_A_TO_B];
	a_send(5, 40, 43);
	run_for(50);
	CU_ASSERT_EQUAL(ca()->suppressed, 3);
	CU_ASSERT_EQUAL(R.idx[TT_A_TO_B], passed);
	sl_rel_usage(A.rel, &u);
	CU_ASSERT_EQUAL(u.tx_streams, 0);
	teardown();
}

static void
test_dup_end(void)
{
	script_reset();
	setup(NULL, NULL, script_rule, NULL);
	n_frags[6] = 3;
	sc.dup_id = 6;
	a_send(6, 0, 3);
	CU_ASSERT_FATAL(run_until(1, 3000));
	run_for(30);
	CU_ASSERT(got[6].done && got[6].frags == 3 && !got[6].bad);
	CU_ASSERT_EQUAL(R.duplicated[TT_A_TO_B], 1);
	CU_ASSERT_EQUAL(cb()->delivered, 3);
	CU_ASSERT_EQUAL(cb()->duplicates_dropped, 1 + ca()->end_resends);
	CU_ASSERT_EQUAL(cb()->acks_sent, 1);
	CU_ASSERT_EQUAL(cb()->acks_repeated, 1 + ca()->end_resends);
	CU_ASSERT_EQUAL(ca()->acks_received, 1);
	CU_ASSERT_EQUAL(ca()->acks_unknown, 1 + ca()->end_resends);
	teardown();
}

/* A gap that never fills: six NACKs, then ABORT (LOST) at the gap. */
static void
test_nack_gives_up(void)
{
	script_reset();
	setup(NULL, NULL, script_rule, NULL);
	n_frags[7] = 3;
	sc.drop_id = 7;
	sc.drop_from = 1;
	sc.drop_to = 2;
	sc.times = 0;
	a_send(7, 0, 3);
	/* 20+40+80+160+320 ms of repeats, then 640 ms to give up. */
	CU_ASSERT_FATAL(run_until(1, 4000));
	run_for(100);
	CU_ASSERT(got[7].aborted);
	CU_ASSERT_EQUAL(got[7].reason, SL_ABORT_LOST);
	CU_ASSERT_EQUAL(got[7].abort_seq, 1);
	CU_ASSERT_EQUAL(got[7].frags, 1);
	CU_ASSERT_EQUAL(cb()->nacks_sent, 1 + SL_RTX_TRIES);
	CU_ASSERT_EQUAL(sc.n_nacks, 1 + SL_RTX_TRIES);
	CU_ASSERT_EQUAL(sc.nack_seq[SL_RTX_TRIES], 1);
	CU_ASSERT_EQUAL(sc.nack_count[SL_RTX_TRIES], 1);
	CU_ASSERT_EQUAL(cb()->nack_gave_up, 1);
	CU_ASSERT_EQUAL(cb()->acks_sent, 0);
	CU_ASSERT_EQUAL(ca()->resent, 1 + SL_RTX_TRIES);
	/* Nobody ACKs the END: each NACK started its resends over; after
	 * the last, A resends it SL_RTX_TRIES times, then forgets it. */
	CU_ASSERT(ca()->end_resends > SL_RTX_TRIES);
	CU_ASSERT_EQUAL(ca()->gave_up, 1);
	CU_ASSERT_EQUAL(ca()->acks_received, 0);
	teardown();
}

/* ---- bounds ---- */

static void
test_tx_bytes_bound(void)
{
	struct sl_rel_config cfg;
	struct sl_rel_usage u;

	sl_rel_config_default(&cfg);
	cfg.tx_bytes_max = 10 * LEN_FIXED;
	script_reset();
	setup(&cfg, NULL, script_rule, NULL);
	fixed_size = true;
	n_frags[10] = n_frags[11] = n_frags[12] = 8;
	/* Stream 10 loses seq 2 for good, stream 11 its END once. */
	sc.drop_id = 10;
	sc.drop_from = 2;
	sc.drop_to = 3;
	sc.times = 0;
	a_send(10, 0, 8);
	a_send(11, 0, 8);
	a_send(12, 0, 8);
	/* Before any answer: 24 fragments went, 10 copies fit. */
	sl_rel_usage(A.rel, &u);
	CU_ASSERT_EQUAL(u.tx_copies, 10);
	CU_ASSERT_EQUAL(u.tx_bytes, 10 * LEN_FIXED);
	CU_ASSERT_EQUAL(ca()->tx_copies_evicted, 14);
	CU_ASSERT_EQUAL(ca()->tx_bytes_evicted, 14 * LEN_FIXED);
	CU_ASSERT_FATAL(run_until(3, 3000));
	/* 10: its seq 2 was evicted (oldest first): ABORT (LOST) there. */
	CU_ASSERT(got[10].aborted);
	CU_ASSERT_EQUAL(got[10].reason, SL_ABORT_LOST);
	CU_ASSERT_EQUAL(got[10].abort_seq, 2);
	CU_ASSERT_EQUAL(got[10].frags, 2);
	CU_ASSERT(got[11].done && got[11].frags == 8 && !got[11].bad);
	CU_ASSERT(got[12].done && got[12].frags == 8 && !got[12].bad);
	CU_ASSERT_EQUAL(ca()->lost_aborts_sent, ca()->nacks_received);
	CU_ASSERT_EQUAL(cb()->after_end_dropped, 5);
	CU_ASSERT_EQUAL(ca()->tx_copies_evicted, 14);
	CU_ASSERT_EQUAL(ca()->acks_received, 3);
	sl_rel_usage(A.rel, &u);
	CU_ASSERT_EQUAL(u.tx_copies, 0);
	CU_ASSERT_EQUAL(u.tx_streams, 0);
	teardown();
}

static void
test_rx_bytes_bound(void)
{
	struct sl_rel_config cfg;
	struct sl_rel_usage u;

	sl_rel_config_default(&cfg);
	cfg.rx_bytes_max = 3 * LEN_FIXED;
	script_reset();
	setup(NULL, &cfg, script_rule, NULL);
	fixed_size = true;
	n_frags[20] = 7;
	sc.drop_id = 20;
	sc.drop_from = 0;
	sc.drop_to = 1;
	sc.times = 1;
	a_send(20, 0, 7);
	CU_ASSERT_FATAL(run_until(1, 3000));
	CU_ASSERT(got[20].done && got[20].frags == 7 && !got[20].bad);
	/* 1..3 held, 4..6 found no room and came again on a NACK. */
	CU_ASSERT_EQUAL(cb()->held, 3);
	CU_ASSERT_EQUAL(cb()->held_over_bound, 3);
	CU_ASSERT_FATAL(sc.n_nacks >= 2);
	CU_ASSERT_EQUAL(sc.nack_seq[0], 0);
	CU_ASSERT_EQUAL(sc.nack_count[0], 1);
	CU_ASSERT_EQUAL(sc.nack_seq[1], 4);
	CU_ASSERT_EQUAL(sc.nack_count[1], 3);
	CU_ASSERT_EQUAL(cb()->delivered, 7);
	sl_rel_usage(B.rel, &u);
	CU_ASSERT_EQUAL(u.rx_held, 0);
	CU_ASSERT_EQUAL(u.rx_bytes, 0);
	teardown();
}

static void
test_rx_table_bound(void)
{
	struct sl_rel_config cfg;
	struct sl_rel_usage u;
	unsigned int i;

	sl_rel_config_default(&cfg);
	cfg.rx_streams_max = 4;
	script_reset();
	setup(NULL, &cfg, script_rule, NULL);
	for (i = 30; i < 35; i++)
		n_frags[i] = 2;
	for (i = 30; i < 35; i++)
		a_send(i, 0, 2);
	/* Four fit; the fifth is refused, visibly, until A gives up
	 * (the four linger 1 s, longer than A's 620 ms of resends). */
	run_for(1500);
	for (i = 30; i < 34; i++)
		CU_ASSERT(got[i].done && got[i].frags == 2 && !got[i].bad);
	CU_ASSERT_EQUAL(got[34].frags, 0);
	CU_ASSERT_EQUAL(n_bad, 0);
	CU_ASSERT_EQUAL(cb()->rx_refused, 2 + SL_RTX_TRIES);
	CU_ASSERT_EQUAL(ca()->end_resends, SL_RTX_TRIES);
	CU_ASSERT_EQUAL(ca()->gave_up, 1);
	CU_ASSERT_EQUAL(ca()->acks_received, 4);
	/* The lingering four are gone: a new stream is taken. */
	sl_rel_usage(B.rel, &u);
	CU_ASSERT_EQUAL(u.rx_streams, 0);
	n_frags[35] = 2;
	a_send(35, 0, 2);
	CU_ASSERT_FATAL(run_until(5, 2000));
	CU_ASSERT(got[35].done && got[35].frags == 2);
	CU_ASSERT_EQUAL(cb()->rx_refused, 2 + SL_RTX_TRIES);
	teardown();
}

static void
test_tx_table_bound(void)
{
	struct sl_rel_config cfg;
	struct sl_rel_usage u;

	sl_rel_config_default(&cfg);
	cfg.tx_streams_max = 2;
	script_reset();
	setup(&cfg, NULL, script_rule, NULL);
	n_frags[40] = n_frags[41] = n_frags[42] = 3;
	/* Stream 40 loses its seq 0, then A forgets 40 for 42. */
	sc.drop_id = 40;
	sc.drop_from = 0;
	sc.drop_to = 1;
	sc.times = 0;
	a_send(40, 0, 2);
	a_send(41, 0, 2);
	a_send(42, 0, 2);
	CU_ASSERT_EQUAL(ca()->tx_streams_evicted, 1);
	sl_rel_usage(A.rel, &u);
	CU_ASSERT_EQUAL(u.tx_streams, 2);
	run_for(100);
	/* The NACK for 40 finds nothing: ABORT (LOST) at seq 0. */
	CU_ASSERT(got[40].aborted);
	CU_ASSERT_EQUAL(got[40].reason, SL_ABORT_LOST);
	CU_ASSERT_EQUAL(got[40].abort_seq, 0);
	CU_ASSERT_EQUAL(got[40].frags, 0);
	CU_ASSERT_EQUAL(got[41].frags, 2);
	CU_ASSERT_EQUAL(got[42].frags, 2);
	CU_ASSERT_EQUAL(ca()->lost_aborts_sent, ca()->nacks_received);
	CU_ASSERT(ca()->lost_aborts_sent >= 1);
	teardown();
}

/* ---- liveness ---- */

static void
send_probe(struct sl_sock *to_sock, uint32_t seq, uint64_t send_ns)
{
	struct sl_frag_hdr h;
	uint8_t buf[SL_WIRE_HDR_LEN];
	struct sl_dgram d = {.buf = buf, .cap = sizeof(buf)};

	memset(&h, 0, sizeof(h));
	h.pipeline = 3;
	h.stage = 2;
	h.depth = 1;
	d.len = (uint16_t)sl_wire_encode_control(buf, &h, SL_FRAG_F_PROBE, seq,
						 0, send_ns);
	d.addr = to_sock->local;
	CU_ASSERT_EQUAL(sl_sock_send_burst(prober, &d, 1), 1);
}

/* Pump @x's input for up to @ms; return the first datagram @prober
 * gets (parsed into @h), or false. */
static bool
probe_reply(struct side *x, int ms, struct sl_frag_hdr *h)
{
	static struct sl_burst rx;
	uint64_t end = sl_now_ns() + (uint64_t)ms * 1000000ull;

	while (sl_now_ns() < end) {
		struct pollfd p = {.fd = prober->fd, .events = POLLIN};
		int n;

		side_input(x, true, sl_now_ns());
		sl_burst_reset(&rx);
		n = sl_sock_recv_burst(prober, rx.d, 1);
		if (n == 1) {
			CU_ASSERT_EQUAL(
				sl_wire_parse(rx.d[0].buf, rx.d[0].len, h),
				SL_WIRE_OK);
			CU_ASSERT_EQUAL(rx.d[0].addr.sin_port,
					x->s->local.sin_port);
			return true;
		}
		poll(&p, 1, 1);
	}
	return false;
}

static void
test_probe(void)
{
	struct sl_rel_config cfg;
	struct sl_frag_hdr h;
	struct sockaddr_in lo;

	sl_rel_config_default(&cfg);
	cfg.answer_probes = true;
	setup(NULL, &cfg, NULL, NULL);
	sl_endpoint_parse("127.0.0.1:0", false, &lo);
	prober = sl_sock_open(&lo);
	CU_ASSERT_FATAL(prober != NULL);

	/* Answered at once: same pipeline, stage, seq and send_ns. */
	send_probe(B.s, 77, 12345);
	CU_ASSERT_FATAL(probe_reply(&B, 500, &h));
	CU_ASSERT_EQUAL(h.flags, SL_FRAG_F_PROBE);
	CU_ASSERT_EQUAL(h.pipeline, 3);
	CU_ASSERT_EQUAL(h.stage, 2);
	CU_ASSERT_EQUAL(h.seq, 77);
	CU_ASSERT_EQUAL(h.send_ns, 12345);
	CU_ASSERT_EQUAL(h.payload_len, 0);

	/* Pausing tells the prober unprompted; answers carry PAUSE. */
	sl_rel_set_pause(B.rel, true, sl_now_ns());
	CU_ASSERT(sl_rel_paused(B.rel));
	CU_ASSERT_FATAL(probe_reply(&B, 500, &h));
	CU_ASSERT_EQUAL(h.flags, SL_FRAG_F_PROBE | SL_FRAG_F_PAUSE);
	CU_ASSERT_EQUAL(h.pipeline, 3);
	CU_ASSERT_EQUAL(h.stage, 2);
	CU_ASSERT_EQUAL(h.seq, 77);
	send_probe(B.s, 78, 999);
	CU_ASSERT_FATAL(probe_reply(&B, 500, &h));
	CU_ASSERT_EQUAL(h.flags, SL_FRAG_F_PROBE | SL_FRAG_F_PAUSE);
	CU_ASSERT_EQUAL(h.seq, 78);
	CU_ASSERT_EQUAL(h.send_ns, 999);
	/* No change, no message. */
	sl_rel_set_pause(B.rel, true, sl_now_ns());
	CU_ASSERT(!probe_reply(&B, 50, &h));
	sl_rel_set_pause(B.rel, false, sl_now_ns());
	CU_ASSERT_FATAL(probe_reply(&B, 500, &h));
	CU_ASSERT_EQUAL(h.flags, SL_FRAG_F_PROBE);
	CU_ASSERT_EQUAL(h.seq, 78);
	send_probe(B.s, 79, 5);
	CU_ASSERT_FATAL(probe_reply(&B, 500, &h));
	CU_ASSERT_EQUAL(h.flags, SL_FRAG_F_PROBE);
	CU_ASSERT_EQUAL(h.seq, 79);
	CU_ASSERT_EQUAL(cb()->probes_answered, 3);
	CU_ASSERT_EQUAL(cb()->probes_sent, 2);

	/* A client (answer_probes off) says nothing. */
	send_probe(A.s, 80, 1);
	CU_ASSERT(!probe_reply(&A, 50, &h));
	CU_ASSERT_EQUAL(ca()->probes_ignored, 1);
	CU_ASSERT_EQUAL(ca()->probes_answered, 0);
	sl_sock_close(prober);
	prober = NULL;
	teardown();
}

/* ---- the rest of the life of a stream ---- */

static void
test_abort_open(void)
{
	script_reset();
	setup(NULL, NULL, script_rule, NULL);
	n_frags[50] = 10; /* only 0..3 go: still open */
	n_frags[51] = 2;
	a_send(50, 0, 4);
	a_send(51, 0, 2);
	CU_ASSERT_EQUAL(
		sl_rel_abort_open(A.rel, SL_ABORT_SHUTDOWN, sl_now_ns()), 1);
	CU_ASSERT_FATAL(run_until(2, 3000));
	CU_ASSERT(got[50].aborted);
	CU_ASSERT_EQUAL(got[50].reason, SL_ABORT_SHUTDOWN);
	CU_ASSERT_EQUAL(got[50].abort_seq, 4);
	CU_ASSERT_EQUAL(got[50].frags, 4);
	CU_ASSERT(got[51].done);
	CU_ASSERT_EQUAL(ca()->acks_received, 2);
	CU_ASSERT_EQUAL(
		sl_rel_abort_open(A.rel, SL_ABORT_SHUTDOWN, sl_now_ns()), 0);
	teardown();
}

static enum tt_verdict
rule_b_gone(void *ctx, int dir, uint64_t idx, const struct sl_frag_hdr *h)
{
	(void)ctx;
	(void)idx;
	(void)h;
	return dir == TT_A_TO_B ? TT_DROP : TT_PASS;
}

/* B is gone: with report_gave_up, A's application is told, once per
 * stream, with an ABORT (LOST) on the stream's own identity; without
 * it, A forgets the stream and says nothing (the other tests). */
static void
test_report_gave_up(void)
{
	struct sl_rel_config cfg;
	struct sl_rel_usage u;
	unsigned int at[2], i;

	sl_rel_config_default(&cfg);
	cfg.report_gave_up = true;
	setup(&cfg, NULL, rule_b_gone, NULL);
	n_frags[70] = 3;
	n_frags[71] = 1;
	a_send(70, 0, 3);
	a_send(71, 0, 1);
	/* Resends at 20, 60, 140, 300 and 620 ms; 640 ms later, the
	 * give-up. */
	run_for(1400);
	CU_ASSERT_EQUAL(ca()->end_resends, 2 * SL_RTX_TRIES);
	CU_ASSERT_EQUAL(ca()->gave_up, 2);
	CU_ASSERT_EQUAL(n_done + n_aborted, 0);
	CU_ASSERT_FATAL(n_a_gave == 2);
	at[0] = a_gave[0].ancestry[0] == 70 ? 0 : 1; /* either order */
	at[1] = 1 - at[0];
	CU_ASSERT_EQUAL(a_gave[at[0]].ancestry[0], 70);
	CU_ASSERT_EQUAL(a_gave[at[0]].seq, 2);
	CU_ASSERT_EQUAL(a_gave[at[1]].ancestry[0], 71);
	CU_ASSERT_EQUAL(a_gave[at[1]].seq, 0);
	for (i = 0; i < 2; i++) {
		const struct sl_frag_hdr *h = &a_gave[i];

		CU_ASSERT_EQUAL(h->flags, SL_FRAG_F_ABORT);
		CU_ASSERT_EQUAL(h->abort_reason, SL_ABORT_LOST);
		CU_ASSERT_EQUAL(h->pipeline, PIPELINE);
		CU_ASSERT_EQUAL(h->stage, STAGE);
		CU_ASSERT_EQUAL(h->from_stage, FROM_STAGE);
		CU_ASSERT_EQUAL(h->tenant, TENANT);
		CU_ASSERT_EQUAL(h->depth, 2);
		CU_ASSERT_EQUAL(h->ancestry[1], 99);
		CU_ASSERT_EQUAL(h->token_count, 0);
	}
	sl_rel_usage(A.rel, &u);
	CU_ASSERT_EQUAL(u.tx_streams, 0);
	CU_ASSERT_EQUAL(u.tx_copies, 0);
	/* Told once: nothing more comes. */
	run_for(100);
	CU_ASSERT_EQUAL(n_a_gave, 2);
	teardown();
}

/* A fragment the socket did not take, tracked: the NACK repairs it. */
static void
test_track(void)
{
	static struct sl_burst tx;
	struct sl_dgram *d;

	script_reset();
	setup(NULL, NULL, script_rule, NULL);
	n_frags[60] = 3;
	sl_burst_reset(&tx);
	d = &tx.d[0];
	memset(&d->addr, 0, sizeof(d->addr));
	d->len = build_frag(60, 0, d->buf, d->cap);
	CU_ASSERT_EQUAL(sl_rel_send_burst(A.rel, d, 1, sl_now_ns()), 1);
	d->len = build_frag(60, 1, d->buf, d->cap);
	sl_rel_track(A.rel, d, sl_now_ns());
	d->len = build_frag(60, 2, d->buf, d->cap);
	CU_ASSERT_EQUAL(sl_rel_send_burst(A.rel, d, 1, sl_now_ns()), 1);
	CU_ASSERT_FATAL(run_until(1, 3000));
	CU_ASSERT(got[60].done && got[60].frags == 3 && !got[60].bad);
	CU_ASSERT_EQUAL(ca()->resent, ca()->nacks_received);
	CU_ASSERT_EQUAL(sc.nack_seq[0], 1);
	CU_ASSERT_EQUAL(sc.nack_count[0], 1);

	/* A tracked END: its resend is the first time it leaves. */
	n_frags[61] = 2;
	d->len = build_frag(61, 0, d->buf, d->cap);
	CU_ASSERT_EQUAL(sl_rel_send_burst(A.rel, d, 1, sl_now_ns()), 1);
	d->len = build_frag(61, 1, d->buf, d->cap);
	sl_rel_track(A.rel, d, sl_now_ns());
	CU_ASSERT_FATAL(run_until(2, 3000));
	CU_ASSERT(got[61].done && got[61].frags == 2 && !got[61].bad);
	CU_ASSERT(ca()->end_resends >= 1);
	teardown();
}

/* A split's tokenless END|CHILDREN announcement opens and ends its own
 * stream at whatever seq it carries. */
static void
test_marker(void)
{
	static struct sl_burst tx;
	uint64_t anc[2] = {70, 99};
	struct sl_stream_tx st;
	struct sl_dgram *d;
	struct sl_frag_view v;
	int tries;

	setup(NULL, NULL, NULL, NULL);
	sl_burst_reset(&tx);
	d = &tx.d[0];
	sl_stream_tx_init(&st, PIPELINE, STAGE, TENANT, 2, anc);
	st.next_seq = 9;
	sl_stream_tx_begin(&st, d->buf, d->cap);
	st.b.hdr.child_count = 3;
	d->len = (uint16_t)sl_stream_tx_finish(
		&st, SL_FRAG_F_END | SL_FRAG_F_CHILDREN, 0, 5);
	d->addr = B.s->local;
	CU_ASSERT_EQUAL(sl_sock_send_burst(A.s, d, 1), 1);
	for (tries = 0; tries < 500 && cb()->delivered == 0; tries++) {
		static struct sl_burst rx;
		struct pollfd p = {.fd = B.s->fd, .events = POLLIN};
		int n, i;

		poll(&p, 1, 1);
		sl_burst_reset(&rx);
		n = sl_sock_recv_burst(B.s, rx.d, SL_BURST_MAX);
		for (i = 0; i < n; i++) {
			CU_ASSERT_EQUAL(
				sl_rel_input(B.rel, &rx.d[i], sl_now_ns()),
				SL_WIRE_OK);
			while (sl_rel_next(B.rel, &v)) {
				CU_ASSERT_EQUAL(v.hdr.seq, 9);
				CU_ASSERT_EQUAL(v.hdr.child_count, 3);
			}
		}
	}
	CU_ASSERT_EQUAL(cb()->delivered, 1);
	CU_ASSERT_EQUAL(cb()->acks_sent, 1);
	CU_ASSERT_EQUAL(cb()->nacks_sent, 0);
	teardown();
}

static void
test_idle_and_linger(void)
{
	struct sl_rel_config cfg;
	struct sl_rel_usage u;

	sl_rel_config_default(&cfg);
	cfg.idle_ns = 50000000ull;
	script_reset();
	setup(&cfg, &cfg, script_rule, NULL);
	n_frags[80] = 5; /* never ends */
	n_frags[81] = 1;
	a_send(80, 0, 2);
	a_send(81, 0, 1);
	run_for(20);
	sl_rel_usage(B.rel, &u);
	CU_ASSERT_EQUAL(u.rx_streams, 2);
	run_for(150);
	/* The open one went idle on both sides: the receiver ended it for
	 * its application, explicitly (ABORT EXPIRED at the next seq, no
	 * ACK: nobody sent it), and both it and the ended one linger. */
	CU_ASSERT_EQUAL(cb()->rx_idle_reclaimed, 1);
	CU_ASSERT_EQUAL(ca()->tx_idle_reclaimed, 1);
	CU_ASSERT(got[80].aborted && !got[80].bad);
	CU_ASSERT_EQUAL(got[80].reason, SL_ABORT_EXPIRED);
	CU_ASSERT_EQUAL(got[80].abort_seq, 2);
	CU_ASSERT_EQUAL(got[80].frags, 2);
	CU_ASSERT(got[81].done && got[81].frags == 1);
	CU_ASSERT_EQUAL(cb()->acks_sent, 1);
	sl_rel_usage(B.rel, &u);
	CU_ASSERT_EQUAL(u.rx_streams, 2);
	sl_rel_usage(A.rel, &u);
	CU_ASSERT_EQUAL(u.tx_streams, 0);
	CU_ASSERT_EQUAL(u.tx_copies, 0);
	run_for(SL_RTX_LINGER_MS);
	sl_rel_usage(B.rel, &u);
	CU_ASSERT_EQUAL(u.rx_streams, 0);
	teardown();
}

static void
test_config_and_json(void)
{
	struct sl_rel_config cfg;
	struct sl_rel_counters c, base;
	struct sockaddr_in lo;
	struct sl_sock *s;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	sl_endpoint_parse("127.0.0.1:0", false, &lo);
	s = sl_sock_open(&lo);
	CU_ASSERT_FATAL(s != NULL);
	sl_rel_config_default(&cfg);
	cfg.rx_window = SL_REL_RX_WINDOW_MAX + 1;
	CU_ASSERT_PTR_NULL(sl_rel_new(s, &cfg));
	sl_rel_config_default(&cfg);
	cfg.tx_window = SL_REL_TX_WINDOW_MAX + 1;
	CU_ASSERT_PTR_NULL(sl_rel_new(s, &cfg));
	sl_rel_config_default(&cfg);
	cfg.tx_bytes_max = 0;
	CU_ASSERT_PTR_NULL(sl_rel_new(s, &cfg));
	CU_ASSERT_PTR_NULL(sl_rel_new(NULL, NULL));
	sl_rel_free(NULL);
	sl_sock_close(s);

	memset(&c, 0, sizeof(c));
	memset(&base, 0, sizeof(base));
	c.delivered = 12;
	c.ctl_dropped = 3;
	base.delivered = 2;
	CU_ASSERT_STRING_EQUAL(sl_rel_counter_name(SL_REL_C_nacks_sent),
			       "nacks_sent");
	CU_ASSERT_PTR_NULL(sl_rel_counter_name(SL_REL_C_MAX));
	CU_ASSERT_EQUAL(sl_rel_counter_get(&c, SL_REL_C_ctl_dropped), 3);
	f = open_memstream(&text, &len);
	CU_ASSERT_EQUAL(sl_rel_counters_json(f, &c, &base), 0);
	fclose(f);
	CU_ASSERT(strncmp(text, "{\"delivered\": 10, \"held\": 0, ", 29) == 0);
	CU_ASSERT(len > 3 &&
		  strcmp(text + len - 17, "\"ctl_dropped\": 3}") == 0);
	free(text);
}

int
main(void)
{
	CU_pSuite s;
	unsigned int fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("rel", NULL, NULL);
	CU_add_test(s, "config checks and counters JSON", test_config_and_json);
	CU_add_test(s, "lost END repaired by its resend", test_lost_end);
	CU_add_test(s, "only the END arrives: one NACK repairs all",
		    test_only_end_left);
	CU_add_test(s, "everything lost once, END included", test_all_lost);
	CU_add_test(s, "NACK for an evicted fragment: ABORT LOST there",
		    test_nack_evicted);
	CU_add_test(s, "after ABORT LOST the rest is suppressed",
		    test_suppressed_after_lost);
	CU_add_test(s, "duplicate END ACKed again", test_dup_end);
	CU_add_test(s, "gap never filled: NACKs, then ABORT LOST",
		    test_nack_gives_up);
	CU_add_test(s, "tx byte bound evicts oldest, exact",
		    test_tx_bytes_bound);
	CU_add_test(s, "rx byte bound, exact", test_rx_bytes_bound);
	CU_add_test(s, "rx table full refuses new streams",
		    test_rx_table_bound);
	CU_add_test(s, "tx table full evicts the oldest stream",
		    test_tx_table_bound);
	CU_add_test(s, "PROBE answered, PAUSE set and cleared", test_probe);
	CU_add_test(s, "a burst longer than the receive window repaired",
		    test_long_burst_repaired);
	CU_add_test(s, "open streams aborted on shutdown", test_abort_open);
	CU_add_test(s, "a send stream given up is reported",
		    test_report_gave_up);
	CU_add_test(s, "tracked unsent fragments repaired", test_track);
	CU_add_test(s, "child count marker at any seq", test_marker);
	CU_add_test(s, "idle reclaim and linger", test_idle_and_linger);
	CU_add_test(s, "1% loss, 1% dup, reorder: 3 seeds x 300 streams",
		    test_lossy_1);
	CU_add_test(s, "5% loss, 1% dup, reorder: 3 seeds x 300 streams",
		    test_lossy_5);
	CU_add_test(s, "10% loss, 1% dup, reorder: 3 seeds x 300 streams",
		    test_lossy_10);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
