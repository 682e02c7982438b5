/* SPDX-License-Identifier: MIT */
/*
 * test_client.c - loopback round trip through the real sluice-engine.
 *
 * Starts the sluice-engine binary on 127.0.0.1:<free port> (upper
 * transform), talks to it through libsluice like a client talking to
 * sluiced, and checks byte-exact answers, sequence numbers, END/ABORT,
 * then the engine's stats file after sending out-of-order, duplicate,
 * gapped, aborted and invalid input on purpose. The client's socket is
 * raw (tt_peer.c ACKs by hand) so that every control fragment the engine
 * sends is seen: the ACK of each input END/ABORT, the NACK of each gap
 * with its repeats, and the ABORT (LOST) when a gap is never filled.
 * Last, sluicegen runs against an echo engine and must verify clean.
 *
 * Binaries come from $SL_ENGINE and $SL_SLUICEGEN (set by meson); the
 * suite skips (77) without them.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sluice.h"
#include "tt_peer.h"
#include "tt_proc.h"

#define PIPELINE 4
#define TENANT 9

static const char *engine_bin, *gen_bin;
static char tmpdir[64] = "/tmp/sl_test_client.XXXXXX";
static char stats_path[128];
static pid_t engine_pid = -1;
static struct sockaddr_in engine_addr;
static struct sl_sock *client;
static struct tt_ctl_log ctl;    /* control fragments from the engine */
static unsigned int end_resends; /* ENDs the engine sent again */

static int
start_engine(const char *transform)
{
	char listen[32], port_text[8];

	snprintf(port_text, sizeof(port_text), "%u", tt_free_port());
	snprintf(listen, sizeof(listen), "127.0.0.1:%s", port_text);
	unlink(stats_path);
	{
		char *const argv[] = {(char *)engine_bin,
				      "--listen",
				      listen,
				      "--name",
				      "t-engine",
				      "--transform",
				      (char *)transform,
				      "--stats-file",
				      stats_path,
				      "--quiet",
				      NULL};

		engine_pid = tt_spawn(argv, NULL, NULL);
	}
	if (engine_pid < 0)
		return -1;
	sl_endpoint_parse(listen, false, &engine_addr);
	/* The first stats file appears once the socket is bound. */
	return tt_wait_file(stats_path, 200, NULL);
}

/* Words of stream @req fragment @seq: two tokens, one multi-byte. */
static void
frag_words(uint64_t req, uint32_t seq, const char **a, const char **b)
{
	static const char *const w[] = {
		" caf\xc3\xa9", " na\xc3\xafve", " stream", " token", "!",
		" Zo\xc3\xab",
	};

	*a = w[(req + seq) % 6];
	*b = w[(req + seq + 1) % 6];
}

static void
send_frag(uint64_t req, uint32_t seq, uint8_t flags, uint8_t reason)
{
	struct sl_stream_tx tx;
	struct sl_dgram d;
	uint8_t buf[SL_DGRAM_MAX];
	const char *a, *b;

	sl_stream_tx_init(&tx, PIPELINE, 0, TENANT, 1, &req);
	tx.next_seq = seq;
	sl_stream_tx_begin(&tx, buf, sizeof(buf));
	frag_words(req, seq, &a, &b);
	if (!(flags & SL_FRAG_F_ABORT)) {
		sl_stream_tx_add(&tx, sl_token_hash(a, strlen(a)), a,
				 strlen(a));
		sl_stream_tx_add(&tx, sl_token_hash(b, strlen(b)), b,
				 strlen(b));
	}
	d.buf = buf;
	d.cap = sizeof(buf);
	d.len = (uint16_t)sl_stream_tx_finish(&tx, flags, reason,
					      1000000ull * (seq + 1));
	memset(&d.addr, 0, sizeof(d.addr));
	CU_ASSERT_EQUAL(sl_sock_send_burst(client, &d, 1), 1);
}

/*
 * Receive exactly @n answers (or time out after 2 s), then 50 ms in
 * which no other answer may come. Control fragments go to ctl; every
 * END/ABORT is ACKed; an END the engine sends again (our ACK was late)
 * is ACKed again and counted, not taken for an answer.
 */
static unsigned int
recv_n(struct sl_frag_view *views, unsigned int n)
{
	static uint8_t store[8][SL_DGRAM_MAX];
	uint64_t deadline = sl_now_ns() + 2000000000ull, quiet_end = 0;
	unsigned int got = 0;

	for (;;) {
		struct pollfd p = {.fd = client->fd, .events = POLLIN};
		uint8_t buf[SL_DGRAM_MAX];
		struct sl_dgram d = {.buf = buf, .cap = sizeof(buf)};
		struct sl_frag_view v;
		uint64_t now = sl_now_ns();
		unsigned int i;
		bool again = false;
		int k;

		if (got == n && quiet_end == 0)
			quiet_end = now + 50000000ull;
		if (now > deadline || (quiet_end && now > quiet_end))
			break;
		k = sl_sock_recv_burst(client, &d, 1);
		CU_ASSERT(k >= 0);
		if (k <= 0) {
			poll(&p, 1, 5);
			continue;
		}
		CU_ASSERT_EQUAL_FATAL(sl_frag_view_parse(&v, &d), SL_WIRE_OK);
		if (tt_ctl_take(&ctl, &v))
			continue;
		for (i = 0; i < got; i++)
			again |=
				(v.hdr.flags &
				 (SL_FRAG_F_END | SL_FRAG_F_ABORT)) &&
				views[i].hdr.ancestry[0] == v.hdr.ancestry[0] &&
				views[i].hdr.seq == v.hdr.seq &&
				views[i].hdr.flags == v.hdr.flags;
		if (v.hdr.flags & (SL_FRAG_F_END | SL_FRAG_F_ABORT))
			tt_ack(client, &v);
		if (again) {
			end_resends++;
			continue;
		}
		CU_ASSERT_FATAL(got < n && got < 8);
		memcpy(store[got], buf, d.len);
		d.buf = store[got];
		CU_ASSERT_EQUAL(sl_frag_view_parse(&views[got], &d),
				SL_WIRE_OK);
		got++;
	}
	return got;
}

/* Receive (control only) until @log holds @want entries like the one
 * given, or @ms passed. Return how many it holds. */
static unsigned int
wait_ctl(uint8_t flags, uint64_t anc0, uint32_t seq, unsigned int want, int ms)
{
	uint64_t deadline = sl_now_ns() + (uint64_t)ms * 1000000ull;

	while (tt_ctl_count(&ctl, flags, anc0, seq) < want &&
	       sl_now_ns() < deadline) {
		struct pollfd p = {.fd = client->fd, .events = POLLIN};
		uint8_t buf[SL_DGRAM_MAX];
		struct sl_dgram d = {.buf = buf, .cap = sizeof(buf)};
		struct sl_frag_view v;

		if (sl_sock_recv_burst(client, &d, 1) != 1) {
			poll(&p, 1, 5);
			continue;
		}
		CU_ASSERT_EQUAL_FATAL(sl_frag_view_parse(&v, &d), SL_WIRE_OK);
		CU_ASSERT(tt_ctl_take(&ctl, &v)); /* no answer expected */
	}
	return tt_ctl_count(&ctl, flags, anc0, seq);
}

/* Answer @v must be UPPER(input fragment @in_seq of @req). */
static void
check_answer(const struct sl_frag_view *v, uint64_t req, uint32_t in_seq,
	     uint32_t out_seq, uint8_t flags)
{
	struct sl_token_iter it;
	struct sl_token tok;
	const char *w[2];
	unsigned int i = 0;

	CU_ASSERT_EQUAL(v->hdr.pipeline, PIPELINE);
	CU_ASSERT_EQUAL(v->hdr.stage, 0);
	CU_ASSERT_EQUAL(v->hdr.tenant, TENANT);
	CU_ASSERT_EQUAL(v->hdr.depth, 1);
	CU_ASSERT_EQUAL(v->hdr.ancestry[0], req);
	CU_ASSERT_EQUAL(v->hdr.seq, out_seq);
	CU_ASSERT_EQUAL(v->hdr.flags, flags);
	CU_ASSERT_EQUAL(v->hdr.send_ns, 1000000ull * (in_seq + 1));
	CU_ASSERT_EQUAL(v->src.sin_port, engine_addr.sin_port);
	if (flags & SL_FRAG_F_ABORT)
		return;
	frag_words(req, in_seq, &w[0], &w[1]);
	sl_frag_view_tokens(v, &it);
	while (sl_token_next(&it, &tok)) {
		char want[32];
		size_t len;

		CU_ASSERT_FATAL(i < 2);
		len = strlen(w[i]);
		sl_transform_text(SL_TRANSFORM_UPPER, want, w[i], len);
		CU_ASSERT_EQUAL(tok.len, len);
		CU_ASSERT_EQUAL(memcmp(tok.text, want, len), 0);
		CU_ASSERT_EQUAL(tok.id, sl_token_hash(want, len));
		i++;
	}
	CU_ASSERT_EQUAL(i, 2);
}

static void
test_in_order(void)
{
	struct sl_frag_view v[4];
	uint32_t s;

	for (s = 0; s < 4; s++)
		send_frag(100, s, s == 3 ? SL_FRAG_F_END : 0, 0);
	CU_ASSERT_EQUAL_FATAL(recv_n(v, 4), 4);
	for (s = 0; s < 4; s++)
		check_answer(&v[s], 100, s, s, s == 3 ? SL_FRAG_F_END : 0);
	/* The engine ACKs the END it was given, and NACKs nothing. */
	CU_ASSERT_EQUAL(tt_ctl_count(&ctl, SL_FRAG_F_ACK, 100, 3), 1);
	CU_ASSERT_EQUAL(tt_ctl_count(&ctl, SL_FRAG_F_ACK, 100, UINT32_MAX), 1);
	CU_ASSERT_EQUAL(tt_ctl_count(&ctl, SL_FRAG_F_NACK, 100, UINT32_MAX), 0);
}

static void
test_misordered(void)
{
	static const uint32_t order[] = {0, 2, 1, 3};
	const struct tt_ctl *nack;
	struct sl_frag_view v[4];
	uint32_t i;

	for (i = 0; i < 4; i++)
		send_frag(101, order[i], order[i] == 3 ? SL_FRAG_F_END : 0, 0);
	CU_ASSERT_EQUAL_FATAL(recv_n(v, 4), 4);
	/* Seq 2 waited for seq 1: the engine got them in order. */
	for (i = 0; i < 4; i++)
		check_answer(&v[i], 101, i, i, i == 3 ? SL_FRAG_F_END : 0);
	/* Seq 2 came first: one NACK for seq 1, filled at once. */
	nack = tt_ctl_find(&ctl, SL_FRAG_F_NACK, 101, 1);
	CU_ASSERT_FATAL(nack != NULL);
	CU_ASSERT_EQUAL(nack->count, 1);
	CU_ASSERT_EQUAL(nack->pipeline, PIPELINE);
	CU_ASSERT_EQUAL(nack->stage, 0);
	CU_ASSERT_EQUAL(tt_ctl_count(&ctl, SL_FRAG_F_NACK, 101, UINT32_MAX), 1);
	CU_ASSERT_EQUAL(tt_ctl_count(&ctl, SL_FRAG_F_ACK, 101, 3), 1);
}

static void
test_duplicate(void)
{
	struct sl_frag_view v[3];

	send_frag(102, 0, 0, 0);
	send_frag(102, 1, 0, 0);
	send_frag(102, 1, 0, 0);
	send_frag(102, 2, SL_FRAG_F_END, 0);
	CU_ASSERT_EQUAL_FATAL(recv_n(v, 3), 3);
	check_answer(&v[0], 102, 0, 0, 0);
	check_answer(&v[1], 102, 1, 1, 0);
	check_answer(&v[2], 102, 2, 2, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(tt_ctl_count(&ctl, SL_FRAG_F_ACK, 102, 2), 1);
	/* A duplicate END is ACKed again (the first ACK may be lost). */
	send_frag(102, 2, SL_FRAG_F_END, 0);
	CU_ASSERT_EQUAL(wait_ctl(SL_FRAG_F_ACK, 102, 2, 2, 500), 2);
	CU_ASSERT_EQUAL(recv_n(v, 0), 0);
}

static unsigned int nacks_103;

static void
test_gap(void)
{
	const struct tt_ctl *nack;
	struct sl_frag_view v[2];
	unsigned int i;

	send_frag(103, 0, 0, 0);
	send_frag(103, 2, SL_FRAG_F_END, 0);
	CU_ASSERT_EQUAL_FATAL(recv_n(v, 1), 1);
	check_answer(&v[0], 103, 0, 0, 0);
	/* Seq 1 is asked for at once, then again after 20 ms. */
	CU_ASSERT_EQUAL(wait_ctl(SL_FRAG_F_NACK, 103, 1, 2, 500), 2);
	for (i = 0; i < ctl.n; i++)
		if (ctl.e[i].flags == SL_FRAG_F_NACK && ctl.e[i].anc0 == 103)
			CU_ASSERT_EQUAL(ctl.e[i].count, 1);
	/* Sent again, it completes the stream: 1 and 2 answered. */
	send_frag(103, 1, 0, 0);
	CU_ASSERT_EQUAL_FATAL(recv_n(v, 2), 2);
	check_answer(&v[0], 103, 1, 1, 0);
	check_answer(&v[1], 103, 2, 2, SL_FRAG_F_END);
	nacks_103 = tt_ctl_count(&ctl, SL_FRAG_F_NACK, 103, UINT32_MAX);
	nack = tt_ctl_find(&ctl, SL_FRAG_F_NACK, 103, 1);
	CU_ASSERT(nack != NULL && nack->count == 1);
	CU_ASSERT_EQUAL(tt_ctl_count(&ctl, SL_FRAG_F_ACK, 103, 2), 1);
}

/* A gap nobody fills: NACKed SL_RTX_TRIES more times, then the stream
 * is given up and answered ABORT (LOST) where the gap is. */
static void
test_gap_never_filled(void)
{
	struct sl_frag_view v[2];

	send_frag(105, 0, 0, 0);
	send_frag(105, 2, SL_FRAG_F_END, 0);
	CU_ASSERT_EQUAL_FATAL(recv_n(v, 1), 1);
	check_answer(&v[0], 105, 0, 0, 0);
	/* 20+40+80+160+320 ms of repeats, 640 ms more to give up. */
	CU_ASSERT_EQUAL(
		wait_ctl(SL_FRAG_F_NACK, 105, 1, 1 + SL_RTX_TRIES, 3000),
		1 + SL_RTX_TRIES);
	CU_ASSERT_EQUAL_FATAL(recv_n(v, 1), 1);
	CU_ASSERT_EQUAL(v[0].hdr.flags, SL_FRAG_F_ABORT);
	CU_ASSERT_EQUAL(v[0].hdr.abort_reason, SL_ABORT_LOST);
	CU_ASSERT_EQUAL(v[0].hdr.seq, 1);
	CU_ASSERT_EQUAL(v[0].hdr.token_count, 0);
	CU_ASSERT_EQUAL(v[0].hdr.ancestry[0], 105);
	/* It carries the send time of the last fragment that came. */
	CU_ASSERT_EQUAL(v[0].hdr.send_ns, 1000000ull);
	CU_ASSERT_EQUAL(tt_ctl_count(&ctl, SL_FRAG_F_NACK, 105, UINT32_MAX),
			1 + SL_RTX_TRIES);
	/* Given up, not delivered: no ACK. */
	CU_ASSERT_EQUAL(tt_ctl_count(&ctl, SL_FRAG_F_ACK, 105, UINT32_MAX), 0);
}

static void
test_abort_and_invalid(void)
{
	struct sl_frag_view v[2];
	struct sl_dgram d;
	uint8_t junk[100];

	send_frag(104, 0, 0, 0);
	send_frag(104, 1, SL_FRAG_F_ABORT, SL_ABORT_CLIENT);
	CU_ASSERT_EQUAL_FATAL(recv_n(v, 2), 2);
	check_answer(&v[0], 104, 0, 0, 0);
	check_answer(&v[1], 104, 1, 1, SL_FRAG_F_ABORT);
	CU_ASSERT_EQUAL(v[1].hdr.abort_reason, SL_ABORT_CLIENT);
	CU_ASSERT_EQUAL(tt_ctl_count(&ctl, SL_FRAG_F_ACK, 104, 1), 1);

	memset(junk, 0xab, sizeof(junk));
	d.buf = junk;
	d.cap = sizeof(junk);
	d.len = sizeof(junk);
	memset(&d.addr, 0, sizeof(d.addr));
	CU_ASSERT_EQUAL(sl_sock_send_burst(client, &d, 1), 1);
	CU_ASSERT_EQUAL(recv_n(v, 0), 0);
}

static void
test_engine_stats(void)
{
	char json[4096];
	const char *rel;

	CU_ASSERT_EQUAL_FATAL(tt_stop(&engine_pid), 0);
	CU_ASSERT_EQUAL_FATAL(tt_read_file(stats_path, json, sizeof(json)), 0);
	CU_ASSERT(strstr(json, "\"name\": \"t-engine\"") != NULL);
	CU_ASSERT_EQUAL(tt_json_num(json, "streams"), 6);
	/* in order, misordered, duplicate and repaired streams complete */
	CU_ASSERT_EQUAL(tt_json_num(json, "streams_completed"), 4);
	/* What the engine was handed: each fragment once, in order (the
	 * duplicate of 102 and its END stopped before it), and for 105 the
	 * ABORT that gave it up. */
	CU_ASSERT_EQUAL(tt_json_num(json, "fragments_in"),
			4 + 4 + 3 + 3 + 2 + 2);
	CU_ASSERT_EQUAL(tt_json_num(json, "fragments_out"),
			4 + 4 + 3 + 3 + 2 + 2);
	CU_ASSERT_EQUAL(tt_json_num(json, "tokens_in"),
			2 * (4 + 4 + 3 + 3 + 1 + 1));
	CU_ASSERT_EQUAL(tt_json_num(json, "misordered"), 0);
	CU_ASSERT_EQUAL(tt_json_num(json, "duplicates"), 0);
	CU_ASSERT_EQUAL(tt_json_num(json, "incomplete"), 0);
	CU_ASSERT_EQUAL(tt_json_num(json, "aborted_in"), 2);
	CU_ASSERT_EQUAL(tt_json_num(json, "invalid"), 1);
	CU_ASSERT_EQUAL(tt_json_num(json, "shutdown_aborts"), 0);
	/* The repair layer's view of the same. */
	rel = strstr(json, "\"rel\": {");
	CU_ASSERT_FATAL(rel != NULL);
	CU_ASSERT_EQUAL(tt_json_num(rel, "delivered"), 18);
	/* 102's second seq 1, its END sent again */
	CU_ASSERT_EQUAL(tt_json_num(rel, "duplicates_dropped"), 2);
	/* seq 2 of 101, 103 and 105 came early */
	CU_ASSERT_EQUAL(tt_json_num(rel, "held"), 3);
	CU_ASSERT_EQUAL(tt_json_num(rel, "after_end_dropped"), 1);
	CU_ASSERT_EQUAL(tt_json_num(rel, "nacks_sent"),
			1 + nacks_103 + 1 + SL_RTX_TRIES);
	CU_ASSERT_EQUAL(tt_json_num(rel, "nack_gave_up"), 1);
	CU_ASSERT_EQUAL(tt_json_num(rel, "acks_sent"), 5);
	CU_ASSERT_EQUAL(tt_json_num(rel, "acks_repeated"), 1);
	/* Every answer stream was ACKed by us, none resent but for a late
	 * ACK of ours, none given up. */
	CU_ASSERT_EQUAL(tt_json_num(rel, "acks_received"), 6);
	CU_ASSERT_EQUAL(tt_json_num(rel, "end_resends"), end_resends);
	CU_ASSERT_EQUAL(tt_json_num(rel, "gave_up"), 0);
	CU_ASSERT_EQUAL(tt_json_num(rel, "lost_aborts_sent"), 0);
	CU_ASSERT_EQUAL(tt_json_num(json, "rel_pending"), 0);
	CU_ASSERT_EQUAL(tt_json_num(json, "rel_held"), 0);
}

/* sluicegen against an engine echoing back: clean, exact counts. */
static void
run_gen(const char *transform, const char *expect, int want_rc,
	const char *out_path)
{
	char server[32], json[4096];
	pid_t pid;

	CU_ASSERT_FATAL(start_engine(transform) == 0);
	snprintf(server, sizeof(server), "127.0.0.1:%u",
		 ntohs(engine_addr.sin_port));
	{
		char *const argv[] = {(char *)gen_bin,
				      "--server",
				      server,
				      "--requests",
				      "300",
				      "--streams",
				      "8",
				      "--fragments-per-request",
				      "5",
				      "--tokens-per-fragment",
				      "3",
				      "--expect",
				      (char *)expect,
				      "--seed",
				      "7",
				      "--drain-ms",
				      "300",
				      "--json",
				      "--check",
				      "--quiet",
				      NULL};

		pid = tt_spawn(argv, out_path, NULL);
	}
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_EQUAL(tt_wait(pid), want_rc);
	CU_ASSERT_EQUAL(tt_stop(&engine_pid), 0);
	CU_ASSERT_EQUAL_FATAL(tt_read_file(out_path, json, sizeof(json)), 0);
	CU_ASSERT_EQUAL(tt_json_num(json, "requests"), 300);
	CU_ASSERT_EQUAL(tt_json_num(json, "fragments"), 1500);
	CU_ASSERT_EQUAL(tt_json_num(json, "fragments_received"), 1500);
	CU_ASSERT_EQUAL(tt_json_num(json, "lost"), 0);
	CU_ASSERT_EQUAL(tt_json_num(json, "duplicated"), 0);
	CU_ASSERT_EQUAL(tt_json_num(json, "misordered"), 0);
	CU_ASSERT_EQUAL(tt_json_num(json, "unknown"), 0);
	if (want_rc == 0) {
		CU_ASSERT_EQUAL(tt_json_num(json, "completed"), 300);
		CU_ASSERT_EQUAL(tt_json_num(json, "corrupted"), 0);
	} else {
		/* A fragment of only digits and punctuation reads the
		 * same in upper and rot13: nearly all, not all, differ. */
		CU_ASSERT(tt_json_num(json, "completed") < 30);
		CU_ASSERT(tt_json_num(json, "corrupted") > 1400);
	}
}

static void
test_sluicegen(void)
{
	char out[160];

	snprintf(out, sizeof(out), "%s/gen.json", tmpdir);
	run_gen("rot13", "rot13", 0, out);
	/* The wrong expectation must be caught on every fragment. */
	run_gen("rot13", "upper", 1, out);
	unlink(out);
}

int
main(void)
{
	struct sockaddr_in local;
	CU_pSuite s;
	unsigned int fails;

	engine_bin = getenv("SL_ENGINE");
	gen_bin = getenv("SL_SLUICEGEN");
	if (engine_bin == NULL || gen_bin == NULL) {
		fprintf(stderr, "SL_ENGINE/SL_SLUICEGEN not set: skipped\n");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	snprintf(stats_path, sizeof(stats_path), "%s/engine.json", tmpdir);
	if (start_engine("upper") < 0) {
		fprintf(stderr, "cannot start %s\n", engine_bin);
		tt_stop(&engine_pid);
		return 1;
	}
	sl_endpoint_parse("127.0.0.1:0", false, &local);
	client = sl_sock_open(&local);
	if (client == NULL)
		return 1;
	sl_sock_set_peer(client, &engine_addr);

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("client", NULL, NULL);
	CU_add_test(s, "in-order stream, byte-exact upper", test_in_order);
	CU_add_test(s, "misordered stream", test_misordered);
	CU_add_test(s, "duplicate fragment", test_duplicate);
	CU_add_test(s, "gap NACKed, repaired", test_gap);
	CU_add_test(s, "gap never filled: ABORT LOST", test_gap_never_filled);
	CU_add_test(s, "abort and invalid input", test_abort_and_invalid);
	CU_add_test(s, "engine stats file", test_engine_stats);
	CU_add_test(s, "sluicegen verifies", test_sluicegen);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();

	tt_stop(&engine_pid);
	sl_sock_close(client);
	unlink(stats_path);
	rmdir(tmpdir);
	return fails ? 1 : 0;
}
