/* SPDX-License-Identifier: MIT */
/*
 * test_stage_order.c - the order node: in-order delivery, out-of-order fragments held
 * and released, duplicates, SEQ_TOO_FAR, AFTER_END, expiry.
 * Fixture: stage_fixture.h.
 */
#include "stage_fixture.h"

/* ---------------------------------------------------------------- order */

/* Run @n client fragments of request @req with @seqs through parse, admit
 * and order; the sequences that come out go to @got. */
static uint16_t
order_seqs(uint64_t req, const uint32_t *seqs, const uint8_t *flags, uint16_t n,
	   uint32_t *got)
{
	struct rte_mbuf *pkts[SL_PATH_CAP];
	uint16_t out;

	for (uint16_t i = 0; i < n; i++)
		pkts[i] = client(req, seqs[i], flags ? flags[i] : 0);
	out = to_order(pkts, n);
	for (uint16_t i = 0; i < out; i++)
		got[i] = sl_pkt_meta(pkts[i])->seq;
	dp_test_free_all(pkts, out);
	return out;
}

static void
test_order_in_order(void)
{
	const uint32_t seqs[] = {0, 1, 2, 3};
	uint32_t got[SL_PATH_CAP];

	dp_test_begin();
	dp_open(config_yaml, true);
	CU_ASSERT_EQUAL_FATAL(order_seqs(1, seqs, NULL, 4, got), 4);
	for (int i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(got[i], (uint32_t)i);
	CU_ASSERT_EQUAL(client_flow(1)->next_seq, 4);
	CU_ASSERT_EQUAL(client_flow(1)->n_held, 0);
	expect_drops(-1);
	dp_close();
	dp_test_end();
}

static void
test_order_out_of_order(void)
{
	const uint32_t a[] = {0, 2, 3, 5};
	const uint32_t b[] = {1};
	const uint32_t c[] = {6, 4};
	const uint32_t d[] = {0, 3, 1, 2, 4};
	uint32_t got[SL_PATH_CAP];
	struct sl_flow *f;

	dp_test_begin();
	dp_open(config_yaml, true);
	CU_ASSERT_EQUAL_FATAL(order_seqs(1, a, NULL, 4, got), 1);
	CU_ASSERT_EQUAL(got[0], 0);
	f = client_flow(1);
	CU_ASSERT_EQUAL(f->n_held, 3);
	CU_ASSERT_EQUAL(f->next_seq, 1);
	/* The gap filler and what it releases leave in one call, in order. */
	CU_ASSERT_EQUAL_FATAL(order_seqs(1, b, NULL, 1, got), 3);
	CU_ASSERT_EQUAL(got[0], 1);
	CU_ASSERT_EQUAL(got[1], 2);
	CU_ASSERT_EQUAL(got[2], 3);
	CU_ASSERT_EQUAL(f->n_held, 1);
	CU_ASSERT_EQUAL_FATAL(order_seqs(1, c, NULL, 2, got), 3);
	CU_ASSERT_EQUAL(got[0], 4);
	CU_ASSERT_EQUAL(got[1], 5);
	CU_ASSERT_EQUAL(got[2], 6);
	CU_ASSERT_EQUAL(f->n_held, 0);
	CU_ASSERT_PTR_NULL(f->held);
	CU_ASSERT_EQUAL(f->next_seq, 7);
	/* Within one burst. */
	CU_ASSERT_EQUAL_FATAL(order_seqs(2, d, NULL, 5, got), 5);
	for (int i = 0; i < 5; i++)
		CU_ASSERT_EQUAL(got[i], (uint32_t)i);
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(dp->flows->reorder_pool), 0);
	expect_drops(-1);
	dp_close();
	dp_test_end();
}

static void
test_order_duplicate(void)
{
	const uint32_t a[] = {0, 1, 3};
	const uint32_t b[] = {0, 3, 1, 2, 3};
	uint32_t got[SL_PATH_CAP];

	dp_test_begin();
	dp_open(config_yaml, true);
	CU_ASSERT_EQUAL_FATAL(order_seqs(1, a, NULL, 3, got), 2);
	/* 0 and 1 were delivered, 3 is held, then 3 is delivered: each
	 * again is a duplicate. */
	CU_ASSERT_EQUAL_FATAL(order_seqs(1, b, NULL, 5, got), 2);
	CU_ASSERT_EQUAL(got[0], 2);
	CU_ASSERT_EQUAL(got[1], 3);
	expect_drops(SL_DROP_DUPLICATE, 4u, -1);
	CU_ASSERT_EQUAL(client_flow(1)->next_seq, 4);
	dp_close();
	dp_test_end();
}

static void
test_order_seq_too_far(void)
{
	const uint32_t a[] = {0, WINDOW + 1, WINDOW, 1};
	uint32_t got[SL_PATH_CAP];

	dp_test_begin();
	dp_open(config_yaml, true);
	/* next_seq 1: 1 + 8 = 9 is beyond the window, 8 is its last slot. */
	CU_ASSERT_EQUAL_FATAL(order_seqs(1, a, NULL, 4, got), 2);
	CU_ASSERT_EQUAL(got[0], 0);
	CU_ASSERT_EQUAL(got[1], 1);
	CU_ASSERT_EQUAL(client_flow(1)->n_held, 1);
	expect_drops(SL_DROP_SEQ_TOO_FAR, 1u, -1);
	dp_close();
	dp_test_end();
}

static void
test_order_after_end(void)
{
	const uint32_t a[] = {0, 1, 2, 1};
	const uint8_t af[] = {0, SL_FRAG_F_END, 0, 0};
	const uint32_t b[] = {0, 3, 4, 1, 2};
	const uint8_t bf[] = {0, SL_FRAG_F_END, 0, 0, 0};
	const uint32_t c[] = {0, 1};
	const uint8_t cf[] = {SL_FRAG_F_ABORT, 0};
	uint32_t got[SL_PATH_CAP];

	dp_test_begin();
	dp_open(config_yaml, true);
	/* END delivered: the next is after the end, an old one a duplicate. */
	CU_ASSERT_EQUAL_FATAL(order_seqs(1, a, af, 4, got), 2);
	expect_drops(SL_DROP_AFTER_END, 1u, SL_DROP_DUPLICATE, 1u, -1);
	/* END held: a later sequence is after the end before it passes. */
	CU_ASSERT_EQUAL_FATAL(order_seqs(2, b, bf, 5, got), 4);
	for (int i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(got[i], (uint32_t)i);
	expect_drops(SL_DROP_AFTER_END, 2u, SL_DROP_DUPLICATE, 1u, -1);
	/* ABORT ends a stream too. */
	CU_ASSERT_EQUAL_FATAL(order_seqs(3, c, cf, 2, got), 1);
	expect_drops(SL_DROP_AFTER_END, 3u, SL_DROP_DUPLICATE, 1u, -1);
	dp_close();
	dp_test_end();
}

/*
 * A stream that expires with fragments held: its consumer gets an ABORT
 * (EXPIRED) carrying the next sequence, the stream lingers like an ended
 * one, and when it leaves the table its held fragments are freed and
 * counted EXPIRED.
 */
static void
test_order_expiry_frees_held(void)
{
	struct rte_mbuf *pkts[SL_PATH_CAP], *out[8];
	unsigned int in_use;
	struct dp_frag abort_frag;
	uint8_t want[DP_TEST_FRAME_MAX];
	size_t wlen;

	dp_test_begin();
	dp_open(config_yaml, true);
	pkts[0] = client(7, 0, 0);
	pkts[1] = client(7, 2, 0);
	pkts[2] = client(7, 3, 0);
	in_use = rte_mempool_in_use_count(dp_test_pool());
	CU_ASSERT_EQUAL_FATAL(process(pkts, 3, out, 8), 1);
	CU_ASSERT_EQUAL(seq_of(out[0]), 0);
	rte_pktmbuf_free(out[0]);
	CU_ASSERT_EQUAL(client_flow(7)->n_held, 2);
	CU_ASSERT_EQUAL(sl_dp_instance(dp, 0, 0, 0)->streams_active, 1);
	/* Seq 0 went out and is kept for a resend until the stream's END
	 * is ACKed: nothing given back yet. */
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(dp_test_pool()), in_use);
	CU_ASSERT_EQUAL(dp->cnt.rtx.kept, 1);

	/* Idle for exactly idle_timeout: nothing happens. */
	dp->now = t0 + dp->idle_tsc;
	sl_dp_housekeeping(dp);
	CU_ASSERT_PTR_NOT_NULL_FATAL(client_flow(7));
	CU_ASSERT_EQUAL(client_flow(7)->state, SL_FLOW_ACTIVE);
	CU_ASSERT_EQUAL(drain(out, 8), 0);
	/* One tick more: the instance is told, bytes exact, and the
	 * client, whose request never got an answer. */
	dp->now = t0 + dp->idle_tsc + 1;
	dp->expire_cursor = 0;
	sl_dp_housekeeping(dp);
	CU_ASSERT_EQUAL_FATAL(drain(out, 8), 2);
	CU_ASSERT_FATAL(take_client_abort(out, 2, 7, SL_ABORT_EXPIRED));
	memset(&abort_frag, 0, sizeof(abort_frag));
	abort_frag.pipeline = 1;
	abort_frag.seq = 1;
	abort_frag.flags = SL_FRAG_F_ABORT;
	abort_frag.abort_reason = SL_ABORT_EXPIRED;
	abort_frag.depth = 1;
	abort_frag.ancestry[0] = 7;
	wlen = expected_frame(&abort_frag, S1_IP(0), S1_PORT, 1, want);
	assert_frame(out[0], want, wlen);
	rte_pktmbuf_free(out[0]);
	CU_ASSERT_EQUAL(dp->cnt.flows.expired, 1);
	CU_ASSERT_EQUAL(sl_dp_instance(dp, 0, 0, 0)->streams_active, 0);
	CU_ASSERT_EQUAL(sl_dp_instance(dp, 0, 0, 0)->fragments, 2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(client_flow(7));
	CU_ASSERT_EQUAL(client_flow(7)->state, SL_FLOW_ENDED);
	CU_ASSERT_EQUAL(client_flow(7)->n_held, 2);
	expect_drops(-1);
	/* A second housekeeping sends nothing more. */
	sl_dp_housekeeping(dp);
	CU_ASSERT_EQUAL(drain(out, 8), 0);

	/* After the linger it leaves: held fragments freed as EXPIRED. */
	dp->now = t0 + dp->idle_tsc + 1 + dp->linger_tsc + 1;
	sl_dp_housekeeping(dp);
	CU_ASSERT_PTR_NULL(client_flow(7));
	CU_ASSERT_EQUAL(dp->cnt.flows.expired, 1);
	CU_ASSERT_EQUAL(dp->flows->active, 0);
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(dp->flows->reorder_pool), 0);
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(dp->edge_pool), 0);
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(dp_test_pool()), in_use - 3);
	expect_drops(SL_DROP_EXPIRED, 2u, -1);
	CU_ASSERT_EQUAL(drain(out, 8), 0);
	dp_close();
	dp_test_end();
}

/*
 * A stream that never started downstream (its first fragment lost for
 * good) still ends explicitly: its consumer gets ABORT (EXPIRED) at seq
 * 0, the client ABORT (EXPIRED) for its request, and the held fragments
 * are freed as EXPIRED once it lingered. Before, it left silently and
 * its request was never answered; then the client heard only if the
 * instance answered the ABORT.
 */
static void
test_order_expiry_unstarted(void)
{
	struct rte_mbuf *pkts[SL_PATH_CAP], *out[8];
	struct sent s;

	dp_test_begin();
	dp_open(config_yaml, true);
	pkts[0] = client(9, 1, 0);
	pkts[1] = client(9, 2, 0);
	CU_ASSERT_EQUAL(process(pkts, 2, out, 8), 0);
	CU_ASSERT_PTR_NULL(client_flow(9)->edges);
	/* The gap was NACKed to the client at once (seq 0, 1 missing). */
	CU_ASSERT_EQUAL(dp->cnt.rtx.nacks_tx, 1);
	dp->now = t0 + dp->idle_tsc + 1;
	sl_dp_housekeeping(dp);
	/* The client is told at once: it might not hear from the stage
	 * (an instance dead, a route refused). */
	CU_ASSERT_EQUAL_FATAL(drain(out, 8), 2);
	CU_ASSERT_FATAL(take_client_abort(out, 2, 9, SL_ABORT_EXPIRED));
	CU_ASSERT_FATAL(decode(out[0], &s));
	CU_ASSERT_EQUAL(s.fr.dst_ip, S1_IP(0));
	CU_ASSERT_EQUAL(s.h.flags, SL_FRAG_F_ABORT);
	CU_ASSERT_EQUAL(s.h.abort_reason, SL_ABORT_EXPIRED);
	CU_ASSERT_EQUAL(s.h.seq, 0);
	CU_ASSERT_EQUAL(s.h.stage, 1);
	CU_ASSERT_EQUAL(s.h.ancestry[0], 9);
	rte_pktmbuf_free(out[0]);
	CU_ASSERT_EQUAL(dp->cnt.flows.expired, 1);
	CU_ASSERT_EQUAL(client_flow(9)->state, SL_FLOW_ENDED);
	dp->now += dp->linger_tsc + 1;
	sl_dp_housekeeping(dp);
	CU_ASSERT_PTR_NULL(client_flow(9));
	expect_drops(SL_DROP_EXPIRED, 2u, -1);
	dp_close();
	dp_test_end();
}

/* sl_dp_fini frees what is still held and counts it EXPIRED. */
static void
test_order_fini_frees_held(void)
{
	struct rte_mbuf *pkts[SL_PATH_CAP], *out[8];

	dp_test_begin();
	dp_open(config_yaml, true);
	pkts[0] = client(8, 1, 0);
	pkts[1] = client(8, 2, 0);
	CU_ASSERT_EQUAL(process(pkts, 2, out, 8), 0);
	sl_flow_table_free(dp->flows);
	dp->flows = NULL;
	expect_drops(SL_DROP_EXPIRED, 2u, -1);
	CU_ASSERT_EQUAL(dp->cnt.flows.expired, 1);
	dp_close();
	dp_test_end();
}

static const struct dp_test_case cases[] = {
	DP_SUITE("order"),
	DP_CASE("in order passes", test_order_in_order),
	DP_CASE("out of order held, released with the gap filler",
		test_order_out_of_order),
	DP_CASE("DUPLICATE of delivered and held", test_order_duplicate),
	DP_CASE("SEQ_TOO_FAR", test_order_seq_too_far),
	DP_CASE("AFTER_END", test_order_after_end),
	DP_CASE("expiry: ABORT(EXPIRED) sent, held freed as EXPIRED",
		test_order_expiry_frees_held),
	DP_CASE("expiry of a stream never started: ABORT at seq 0",
		test_order_expiry_unstarted),
	DP_CASE("table free frees held fragments as EXPIRED",
		test_order_fini_frees_held),
	DP_END,
};

int
main(int argc, char **argv)
{
	(void)argc;
	return dp_test_main(argv[0], cases, stage_port, stage_port_flush);
}
