/* SPDX-License-Identifier: MIT */
/*
 * test_gen.c - sluicegen's pipeline mode, function by function: the
 * Poisson and constant arrival schedules (mean, variance, count, scale
 * invariance across rates for one seed), the per-index question offsets,
 * rate lists, the dump's escaping and line format, and how result
 * fragments are accounted (out of order, duplicate, END, ABORT, unknown
 * id) and put back in sequence.
 *
 * The functions come from sluicegen's parts (tools/gen/gen.h), linked in.
 */
#include "gen.h"

#include <CUnit/Basic.h>

#define N_GAPS 200000

static void
test_poisson_gaps(void)
{
	uint64_t rng = 42;
	double rate = 25.0, sum = 0, sum2 = 0, mean, var;
	unsigned int i;

	for (i = 0; i < N_GAPS; i++) {
		double gap = gen_arrival_gap(&rng, rate, true);

		CU_ASSERT(gap > 0 && isfinite(gap));
		sum += gap;
		sum2 += gap * gap;
	}
	mean = sum / N_GAPS;
	var = sum2 / N_GAPS - mean * mean;
	/* Exponential of mean 1/R has variance 1/R^2. The standard error
	 * of the mean is 1/(R sqrt(N)) ~ 0.22% here; of the variance ~0.9%. */
	CU_ASSERT(fabs(mean * rate - 1.0) < 0.01);
	CU_ASSERT(fabs(var * rate * rate - 1.0) < 0.04);

	/* Same seed, same gaps. */
	{
		uint64_t a = 7, b = 7;

		for (i = 0; i < 100; i++)
			CU_ASSERT_EQUAL(gen_arrival_gap(&a, rate, true),
					gen_arrival_gap(&b, rate, true));
	}
}

static void
test_constant_gaps(void)
{
	uint64_t rng = 1, n = 0, *at;
	unsigned int i;

	CU_ASSERT_EQUAL(gen_arrival_gap(&rng, 8.0, false), 0.125);
	at = gen_arrivals(8.0, false, 1, 2.0, 0, &n);
	CU_ASSERT_FATAL(at != NULL);
	CU_ASSERT_EQUAL(n, 16);
	for (i = 0; i < n; i++)
		CU_ASSERT_EQUAL(at[i], (uint64_t)i * 125000000ull);
	free(at);
	/* --requests caps the schedule. */
	at = gen_arrivals(8.0, false, 1, 2.0, 5, &n);
	CU_ASSERT_EQUAL(n, 5);
	free(at);
}

static void
test_poisson_schedule(void)
{
	uint64_t n10 = 0, n40 = 0, *a10, *a40, i;
	double expect = 10.0 * 600.0;

	a10 = gen_arrivals(10.0, true, 3, 600.0, 0, &n10);
	a40 = gen_arrivals(40.0, true, 3, 150.0, 0, &n40);
	CU_ASSERT_FATAL(a10 != NULL && a40 != NULL);
	/* Poisson count: mean R*T, sd sqrt(R*T) ~ 77; allow 4 sd. */
	CU_ASSERT(fabs((double)n10 - expect) < 4 * sqrt(expect));
	CU_ASSERT_EQUAL(a10[0], 0);
	for (i = 1; i < n10; i++)
		CU_ASSERT(a10[i] >= a10[i - 1]);
	/* Same seed at 4x the rate for 1/4 the time: the same schedule,
	 * 4x faster (up to ns rounding). */
	CU_ASSERT_EQUAL(n10, n40);
	for (i = 0; i < n10 && i < n40; i++)
		CU_ASSERT(llabs((long long)a10[i] - 4 * (long long)a40[i]) <=
			  4);
	free(a10);
	free(a40);
}

static void
test_question_offset(void)
{
	size_t a = gen_question_offset(1, 0, 1000);
	unsigned int i, same = 0;

	CU_ASSERT_EQUAL(a, gen_question_offset(1, 0, 1000));
	for (i = 0; i < 1000; i++) {
		CU_ASSERT(gen_question_offset(1, i, 1000) < 1000);
		if (gen_question_offset(1, i, 1000) ==
		    gen_question_offset(2, i, 1000))
			same++;
		if (i > 0 && gen_question_offset(1, i, 1000) == a)
			same++;
	}
	/* Random offsets in 1000: a few collisions at most. */
	CU_ASSERT(same < 10);
}

static void
test_parse_rates(void)
{
	double r[GEN_SWEEP_MAX];
	unsigned int n = 0;

	CU_ASSERT_EQUAL(gen_parse_rates("1,2.5,40", r, &n), 0);
	CU_ASSERT_EQUAL(n, 3);
	CU_ASSERT_EQUAL(r[0], 1.0);
	CU_ASSERT_EQUAL(r[1], 2.5);
	CU_ASSERT_EQUAL(r[2], 40.0);
	CU_ASSERT(gen_parse_rates("1,,x", r, &n) < 0);
	CU_ASSERT(gen_parse_rates("0", r, &n) < 0);
	CU_ASSERT(gen_parse_rates("-3", r, &n) < 0);
	CU_ASSERT(gen_parse_rates("", r, &n) < 0);
}

static void
test_dump_escape(void)
{
	static const char in[] = "a\\b\n\tc\r\x01\x7f \xc3\xa9!";
	static const char want[] = "a\\\\b\\n\\tc\\r\\x01\\x7f \xc3\xa9!";
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CU_ASSERT_FATAL(f != NULL);
	gen_dump_escape(f, in, sizeof(in) - 1);
	fclose(f);
	CU_ASSERT_EQUAL(len, strlen(want));
	CU_ASSERT_STRING_EQUAL(buf, want);
	free(buf);
}

/* A struct gen with a one-request-per-index run of @n requests. */
static struct gen tg;
static struct gen_prun trun;
static uint64_t other_run; /* added to the id's high half by deliver() */

static void
setup_run(uint64_t n, const char *dump)
{
	uint64_t i;

	memset(&tg, 0, sizeof(tg));
	memset(&trun, 0, sizeof(trun));
	tg.o.pipeline = 3;
	tg.o.dump_path = dump;
	trun.id_hi = 0xabcd;
	trun.n = n;
	trun.next = n;
	trun.n_open = n;
	trun.req = calloc(n, sizeof(trun.req[0]));
	CU_ASSERT_FATAL(trun.req != NULL);
	for (i = 0; i < n; i++) {
		trun.req[i].state = GEN_PREQ_OPEN;
		trun.req[i].sent_ns = 1000;
	}
	trun.first_send_ns = 1000;
	sl_hist_init(&trun.lat);
	sl_hist_init(&trun.first_lat);
}

/* Result fragment @seq of request @idx carrying @words (one token each). */
static void
deliver(uint64_t idx, uint32_t seq, const char *const *words, unsigned int n,
	uint8_t flags, uint8_t reason, uint64_t now)
{
	static uint8_t buf[SL_DGRAM_MAX];
	uint64_t id = ((trun.id_hi + other_run) << 32) | idx;
	struct sl_stream_tx tx;
	struct sl_dgram d = {.buf = buf, .cap = sizeof(buf)};
	struct sl_frag_view v;
	unsigned int i;

	sl_stream_tx_init(&tx, 3, 7, 1, 1, &id);
	tx.next_seq = seq;
	CU_ASSERT_FATAL(sl_stream_tx_begin(&tx, buf, sizeof(buf)) == 0);
	for (i = 0; i < n; i++)
		CU_ASSERT_FATAL(
			sl_stream_tx_add(
				&tx, sl_token_hash(words[i], strlen(words[i])),
				words[i], strlen(words[i])) == 0);
	d.len = (uint16_t)sl_stream_tx_finish(&tx, flags, reason, 500);
	CU_ASSERT_FATAL(sl_frag_view_parse(&v, &d) == SL_WIRE_OK);
	gen_prun_take(&tg, &trun, &v, now);
}

static void
test_receive_reorder(void)
{
	static const char *const w0[] = {"The", " claim"};
	static const char *const w1[] = {" is\n", " true"};
	static const char *const w2[] = {"."};

	setup_run(2, "x");
	/* Request 0: seq 1, 0, 1 again, then 2 with END. */
	deliver(0, 1, w1, 2, 0, 0, 2000);
	CU_ASSERT_EQUAL(trun.c.misordered, 1);
	/* Seq 0 is the lowest missing one: in order. */
	deliver(0, 0, w0, 2, 0, 0, 3000);
	CU_ASSERT_EQUAL(trun.c.misordered, 1);
	deliver(0, 1, w1, 2, 0, 0, 3500);
	CU_ASSERT_EQUAL(trun.c.duplicated, 1);
	CU_ASSERT_EQUAL(trun.req[0].state, GEN_PREQ_OPEN);
	deliver(0, 2, w2, 1, SL_FRAG_F_END, 0, 5000);
	CU_ASSERT_EQUAL(trun.req[0].state, GEN_PREQ_DONE);
	CU_ASSERT_EQUAL(trun.c.completed, 1);
	CU_ASSERT_EQUAL(trun.c.misordered, 1);
	CU_ASSERT_EQUAL(trun.req[0].text_len, strlen("The claim is\n true."));
	CU_ASSERT(memcmp(trun.req[0].text, "The claim is\n true.",
			 trun.req[0].text_len) == 0);
	/* Latency from the send to the END, first fragment at 2000. */
	CU_ASSERT_EQUAL(trun.lat.max, 4000);
	CU_ASSERT_EQUAL(trun.first_lat.max, 1000);
	CU_ASSERT_EQUAL(trun.c.fragments_received, 4);
	CU_ASSERT_EQUAL(trun.c.result_bytes, strlen("The claim is\n true."));
	CU_ASSERT_EQUAL(trun.last_done_ns, 5000);

	/* END before a gap: done only when the gap fills. */
	deliver(1, 1, w2, 1, SL_FRAG_F_END, 0, 6000);
	CU_ASSERT_EQUAL(trun.req[1].state, GEN_PREQ_OPEN);
	deliver(1, 0, w0, 2, 0, 0, 7000);
	CU_ASSERT_EQUAL(trun.req[1].state, GEN_PREQ_DONE);
	CU_ASSERT(memcmp(trun.req[1].text, "The claim.", 10) == 0);
	CU_ASSERT_EQUAL(trun.c.completed, 2);
	CU_ASSERT_EQUAL(trun.n_open, 0);
	/* Anything after completion is not part of the result. */
	deliver(1, 2, w2, 1, 0, 0, 8000);
	CU_ASSERT_EQUAL(trun.c.corrupted, 1);
	gen_prun_free(&trun);
}

static void
test_receive_abort_unknown(void)
{
	static const char *const w0[] = {"Partial"};
	uint8_t buf[SL_DGRAM_MAX];
	struct sl_dgram junk = {.buf = buf, .cap = sizeof(buf), .len = 10};

	setup_run(2, NULL);
	deliver(0, 0, w0, 1, 0, 0, 2000);
	deliver(0, 1, NULL, 0, SL_FRAG_F_ABORT, SL_ABORT_EXPIRED, 3000);
	CU_ASSERT_EQUAL(trun.req[0].state, GEN_PREQ_ABORTED);
	CU_ASSERT_EQUAL(trun.req[0].abort_reason, SL_ABORT_EXPIRED);
	CU_ASSERT_EQUAL(trun.c.aborted, 1);
	CU_ASSERT_EQUAL(trun.c.aborted_by[SL_ABORT_EXPIRED], 1);
	CU_ASSERT_EQUAL(trun.c.completed, 0);
	/* An id of another run (a sweep's previous rate). */
	other_run = 1;
	deliver(1, 0, w0, 1, SL_FRAG_F_END, 0, 3000);
	other_run = 0;
	CU_ASSERT_EQUAL(trun.c.unknown, 1);
	/* A request index this run has not sent yet. */
	trun.next = 1;
	deliver(1, 0, w0, 1, SL_FRAG_F_END, 0, 3000);
	CU_ASSERT_EQUAL(trun.c.unknown, 2);
	CU_ASSERT_EQUAL(trun.req[1].state, GEN_PREQ_OPEN);

	/* Through the socket and sl_rel, as a run receives: junk counts
	 * as corrupted; request 1's one-fragment result completes it and
	 * is ACKed to where it came from. */
	{
		static const char *const w1[] = {"Done."};
		uint64_t id = (trun.id_hi << 32) | 1;
		struct sockaddr_in lo;
		struct sl_sock *from;
		struct sl_stream_tx tx;
		struct sl_frag_hdr h;
		int tries;

		sl_endpoint_parse("127.0.0.1:0", false, &lo);
		tg.sock = sl_sock_open(&lo);
		from = sl_sock_open(&lo);
		CU_ASSERT_FATAL(tg.sock != NULL && from != NULL);
		tg.rel = sl_rel_new(tg.sock, NULL);
		CU_ASSERT_FATAL(tg.rel != NULL);
		trun.next = 2;
		memset(buf, 0, sizeof(buf));
		junk.addr = tg.sock->local;
		CU_ASSERT_EQUAL(sl_sock_send_burst(from, &junk, 1), 1);
		sl_stream_tx_init(&tx, 3, 7, 1, 1, &id);
		sl_stream_tx_begin(&tx, buf, sizeof(buf));
		sl_stream_tx_add(&tx, 1, w1[0], strlen(w1[0]));
		junk.len = (uint16_t)sl_stream_tx_finish(&tx, SL_FRAG_F_END, 0,
							 500);
		CU_ASSERT_EQUAL(sl_sock_send_burst(from, &junk, 1), 1);
		for (tries = 0;
		     tries < 200 && trun.c.corrupted + trun.c.completed < 2;
		     tries++) {
			usleep(1000);
			CU_ASSERT_EQUAL(gen_prun_poll_rx(&tg, &trun), 0);
		}
		CU_ASSERT_EQUAL(trun.c.corrupted, 1);
		CU_ASSERT_EQUAL(trun.req[1].state, GEN_PREQ_DONE);
		CU_ASSERT_EQUAL(trun.req[1].text_len, 5);
		CU_ASSERT_EQUAL(sl_rel_counters(tg.rel)->acks_sent, 1);
		for (tries = 0; tries < 200; tries++) {
			junk.len = 0;
			if (sl_sock_recv_burst(from, &junk, 1) == 1)
				break;
			usleep(1000);
		}
		CU_ASSERT_EQUAL_FATAL(sl_wire_parse(buf, junk.len, &h),
				      SL_WIRE_OK);
		CU_ASSERT_EQUAL(h.flags, SL_FRAG_F_ACK);
		CU_ASSERT_EQUAL(h.seq, 0);
		CU_ASSERT_EQUAL(h.ancestry[0], id);
		sl_rel_free(tg.rel);
		sl_sock_close(tg.sock);
		sl_sock_close(from);
		tg.rel = NULL;
		tg.sock = NULL;
	}
	gen_prun_free(&trun);
}

/* What gen_run_file_write(@line) writes for trun, in @text (NUL ended). */
static void
written(gen_line_fn line, char *text, size_t cap)
{
	char path[] = "/tmp/sl_test_gen.XXXXXX";
	FILE *f;
	size_t n;
	int fd = mkstemp(path);

	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	CU_ASSERT_EQUAL(gen_run_file_write(&trun, path, line), 0);
	f = fopen(path, "r");
	CU_ASSERT_FATAL(f != NULL);
	n = fread(text, 1, cap - 1, f);
	text[n] = '\0';
	fclose(f);
	unlink(path);
}

static void
test_dump_lines(void)
{
	static const char *const w0[] = {"Yes\t", "\\no\n"};
	static const char want[] = "0\tok\tYes\\t\\\\no\\n\n"
				   "1\taborted:GUARD\t\n"
				   "2\tlost\t\n";
	char text[256];

	setup_run(3, "x");
	deliver(0, 0, w0, 2, SL_FRAG_F_END, 0, 2000);
	deliver(1, 0, NULL, 0, SL_FRAG_F_ABORT, SL_ABORT_GUARD, 2000);
	trun.req[2].state = GEN_PREQ_LOST;
	written(gen_dump_line, text, sizeof(text));
	CU_ASSERT_STRING_EQUAL(text, want);
	gen_prun_free(&trun);
}

/* --times: due, sent, first fragment, END/ABORT in us from the start. */
static void
test_times_lines(void)
{
	static const char *const w0[] = {"Yes"};
	static const char want[] = "0\t1000\t1\t2\t2\tok\n"
				   "1\t2000\t1\t5\t5\taborted:GUARD\n"
				   "2\t3000\t1\t0\t0\tlost\n"
				   "3\t4000\t0\t0\t0\tunsent\n";
	char text[256];

	setup_run(4, "x");
	for (unsigned int i = 0; i < 4; i++)
		trun.req[i].at_ns = (i + 1) * 1000000ull;
	trun.req[3].state = GEN_PREQ_PENDING;
	trun.n_open = 3;
	deliver(0, 0, w0, 1, SL_FRAG_F_END, 0, 2000);
	deliver(1, 0, NULL, 0, SL_FRAG_F_ABORT, SL_ABORT_GUARD, 5000);
	trun.req[2].state = GEN_PREQ_LOST;
	written(gen_times_line, text, sizeof(text));
	CU_ASSERT_STRING_EQUAL(text, want);
	gen_prun_free(&trun);
}

int
main(void)
{
	CU_pSuite s;
	unsigned int fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("gen", NULL, NULL);
	CU_add_test(s, "poisson gaps: mean and variance", test_poisson_gaps);
	CU_add_test(s, "constant gaps and --requests cap", test_constant_gaps);
	CU_add_test(s, "poisson schedule: count, order, scale",
		    test_poisson_schedule);
	CU_add_test(s, "question offsets per index", test_question_offset);
	CU_add_test(s, "sweep rate lists", test_parse_rates);
	CU_add_test(s, "dump escaping", test_dump_escape);
	CU_add_test(s, "result reorder, duplicate, END, late",
		    test_receive_reorder);
	CU_add_test(s, "result abort, unknown ids, junk",
		    test_receive_abort_unknown);
	CU_add_test(s, "dump lines", test_dump_lines);
	CU_add_test(s, "times lines", test_times_lines);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
