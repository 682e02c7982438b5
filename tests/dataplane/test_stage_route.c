/* SPDX-License-Identifier: MIT */
/*
 * test_stage_route.c - the route and tx nodes: instance pins and frame rewrites byte
 * by byte, aggregation, NO_NEIGHBOR with its ARP request, NO_ORIGIN,
 * lingering ends; TX_FULL, a release bigger than a burst, ARP retries.
 * Fixture: stage_fixture.h.
 */
#include "stage_fixture.h"

/* ---------------------------------------------------------------- route */

/*
 * @f, sent by its source, comes out as the one frame sluiced forwards to
 * @ip:@port, stage field @stage, byte for byte.
 */
static void
expect_forwarded(const struct dp_frag *f, uint32_t ip, uint16_t port,
		 uint16_t stage)
{
	struct rte_mbuf *out[8];
	uint8_t want[DP_TEST_FRAME_MAX];
	size_t wlen;

	CU_ASSERT_EQUAL_FATAL(process1(dp_test_frame(f), out, 8), 1);
	wlen = expected_frame(f, ip, port, stage, want);
	assert_frame(out[0], want, wlen);
	rte_pktmbuf_free(out[0]);
}

static void
test_route_client_to_stage1(void)
{
	struct dp_frag f;

	dp_test_begin();
	dp_open(config_yaml, true);
	/* Stream A's first fragment: round robin starts at instance 0. */
	f = frag(CLIENT_IP, CLIENT_PORT, 0, 1, 0, 0, 0);
	expect_forwarded(&f, S1_IP(0), S1_PORT, 1);
	/* Stream B goes to instance 1. */
	f = frag(CLIENT2_IP, CLIENT2_PORT, 0, 2, 0, 0, 0);
	expect_forwarded(&f, S1_IP(1), S1_PORT, 1);
	/* A's later fragments follow A, B's follow B, whatever the cursor. */
	for (uint32_t s = 1; s <= 4; s++) {
		uint8_t fl = s == 4 ? SL_FRAG_F_END : 0;

		f = frag(CLIENT_IP, CLIENT_PORT, 0, 1, 0, s, fl);
		expect_forwarded(&f, S1_IP(0), S1_PORT, 1);
	}
	f = frag(CLIENT2_IP, CLIENT2_PORT, 0, 2, 0, 1, 0);
	expect_forwarded(&f, S1_IP(1), S1_PORT, 1);

	CU_ASSERT_EQUAL(sl_dp_instance(dp, 0, 0, 0)->streams, 1);
	CU_ASSERT_EQUAL(sl_dp_instance(dp, 0, 0, 0)->fragments, 5);
	CU_ASSERT_EQUAL(sl_dp_instance(dp, 0, 0, 0)->streams_active, 0);
	CU_ASSERT_EQUAL(sl_dp_instance(dp, 0, 0, 1)->streams, 1);
	CU_ASSERT_EQUAL(sl_dp_instance(dp, 0, 0, 1)->fragments, 2);
	CU_ASSERT_EQUAL(sl_dp_instance(dp, 0, 0, 1)->streams_active, 1);
	CU_ASSERT_EQUAL(dp->cnt.flows.ended, 1);
	CU_ASSERT_EQUAL(dp->cnt.forwarded, 7);
	/* And the ACK of A's END, back to its client. */
	CU_ASSERT_EQUAL(dp->cnt.rtx.acks_tx, 1);
	CU_ASSERT_EQUAL(dp->cnt.tx_packets, 8);
	/* A client stream outlives its END until its request is done. */
	CU_ASSERT_EQUAL(client_flow(1)->state, SL_FLOW_ACTIVE);
	CU_ASSERT_EQUAL(pin_of(client_flow(1), 0)->stage, 1);
	CU_ASSERT_EQUAL(pin_of(client_flow(1), 0)->instance, 0);
	CU_ASSERT_EQUAL(pin_of(client_flow(1), 0)->in_flight, 0);
	CU_ASSERT_EQUAL(pin_of(client_flow(2), 0)->instance, 1);
	CU_ASSERT_EQUAL(pin_of(client_flow(2), 0)->in_flight, 1);
	expect_drops(-1);
	dp_close();
	dp_test_end();
}

/*
 * A client's ABORT right after its request's END (sluice-gateway when its
 * HTTP client leaves) cancels the request: ACKed, ABORT (CLIENT) back to
 * the client on the request's own stream, its answer not sent to the
 * client (REQUEST_ABORTED), counted once.
 */
static void
test_route_client_cancel(void)
{
	struct rte_mbuf *out[8];
	struct dp_frag f;
	unsigned int n, to_client = 0;
	uint64_t acks;
	struct sent s;

	dp_test_begin();
	dp_open(config_yaml, true);
	f = frag(CLIENT_IP, CLIENT_PORT, 0, 1, 0, 0, SL_FRAG_F_END);
	n = process1(dp_test_frame(&f), out, 8);
	for (unsigned int i = 0; i < n; i++)
		rte_pktmbuf_free(out[i]);
	acks = dp->cnt.rtx.acks_tx;
	f = frag(CLIENT_IP, CLIENT_PORT, 0, 1, 0, 1, SL_FRAG_F_ABORT);
	f.abort_reason = SL_ABORT_CLIENT;
	n = process1(dp_test_frame(&f), out, 8);
	for (unsigned int i = 0; i < n; i++) {
		if (decode(out[i], &s) && s.fr.dst_ip == CLIENT_IP &&
		    s.h.flags == SL_FRAG_F_ABORT &&
		    s.h.abort_reason == SL_ABORT_CLIENT && s.h.depth == 1 &&
		    s.h.ancestry[0] == 1 && s.h.token_count == 0)
			to_client++;
		rte_pktmbuf_free(out[i]);
	}
	CU_ASSERT_EQUAL(to_client, 1);
	CU_ASSERT_EQUAL(dp->cnt.requests_cancelled, 1);
	CU_ASSERT_EQUAL(dp->cnt.requests_aborted, 1);
	CU_ASSERT_EQUAL(dp->cnt.rtx.acks_tx, acks + 1);
	/* The last stage's answer comes anyway: not sent to the client. */
	n = process1(from_s2(0, 1, 0, 0, SL_FRAG_F_END), out, 8);
	for (unsigned int i = 0; i < n; i++)
		rte_pktmbuf_free(out[i]);
	CU_ASSERT_EQUAL(dp->cnt.requests_cancelled, 1);
	expect_drops(SL_DROP_REQUEST_ABORTED, 1u, -1);
	dp_close();
	dp_test_end();
}

/* IPv4 options and bytes after the IPv4 packet are not forwarded. */
static void
test_route_rewrite_strips_options(void)
{
	struct dp_frag f;

	dp_test_begin();
	dp_open(config_yaml, true);
	f = frag(CLIENT_IP, CLIENT_PORT, 0, 1, 0, 0, 0);
	f.ip_options = 3;
	f.trailer = 17;
	expect_forwarded(&f, S1_IP(0), S1_PORT, 1);
	expect_drops(-1);
	dp_close();
	dp_test_end();
}

static void
test_route_stage1_to_stage2_to_client(void)
{
	struct rte_mbuf *out[8];
	struct dp_frag f;
	uint16_t i2 = 0;

	dp_test_begin();
	dp_open(config_yaml, true);
	f = frag(CLIENT_IP, CLIENT_PORT, 0, 5, 0, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL_FATAL(process1(dp_test_frame(&f), out, 8), 1);
	rte_pktmbuf_free(out[0]);

	/* Instance 0 of stage 1 answers [5, 1]: to stage 2 by aggregation. */
	i2 = stage2_instance_of(5);
	CU_ASSERT_FATAL(i2 < 2);
	for (uint32_t s = 0; s < 3; s++) {
		f = frag(S1_IP(0), S1_PORT, 1, 5, 1, s,
			 s == 2 ? SL_FRAG_F_END : 0);
		expect_forwarded(&f, S2_IP(i2), S2_PORT, 2);
	}
	CU_ASSERT_EQUAL(sl_dp_instance(dp, 0, 1, i2)->streams, 1);
	CU_ASSERT_EQUAL(sl_dp_instance(dp, 0, 1, i2)->fragments, 3);
	CU_ASSERT_EQUAL(sl_dp_instance(dp, 0, 1, i2)->streams_active, 0);
	CU_ASSERT_EQUAL(sl_dp_instance(dp, 0, 1, 1 - i2)->streams, 0);

	/* Stage 2's output returns to the client; the stage field stays. */
	for (uint32_t s = 0; s < 2; s++) {
		f = frag(S2_IP(i2), S2_PORT, 2, 5, 0, s,
			 s == 1 ? SL_FRAG_F_END : 0);
		expect_forwarded(&f, CLIENT_IP, CLIENT_PORT, 2);
	}
	/* Client stream ended and its request done: it only lingers. */
	CU_ASSERT_EQUAL(client_flow(5)->state, SL_FLOW_ENDED);
	CU_ASSERT_EQUAL(client_flow(5)->request_done, 1);
	CU_ASSERT_EQUAL(dp->cnt.flows.ended, 3);
	CU_ASSERT_EQUAL(dp->cnt.forwarded, 6);
	expect_drops(-1);
	dp_close();
	dp_test_end();
}

/* Aggregation 1: every stream of a request meets one stage-2 instance. */
static void
test_route_aggregation_meets(void)
{
	struct rte_mbuf *pkts[SL_PATH_CAP], *out[8];
	unsigned int used[2] = {0, 0}, mismatch = 0;

	dp_test_begin();
	dp_open(config_yaml, true);
	for (uint64_t r = 1; r <= 24; r++) {
		struct sent a, b;

		pkts[0] = client(r, 0, 0);
		CU_ASSERT_EQUAL_FATAL(process(pkts, 1, out, 8), 1);
		rte_pktmbuf_free(out[0]);
		/* Two quanta of request r, from different stage-1 instances,
		 * the second deeper, in one burst. */
		pkts[0] = from_s1(0, r, 1, 0, 0);
		{
			struct dp_frag f =
				frag(S1_IP(1), S1_PORT, 1, r, 2, 0, 0);

			f.depth = 3;
			f.ancestry[2] = 77;
			pkts[1] = dp_test_frame(&f);
		}
		CU_ASSERT_EQUAL_FATAL(process(pkts, 2, out, 8), 2);
		CU_ASSERT_FATAL(decode(out[0], &a) && decode(out[1], &b));
		CU_ASSERT_EQUAL(a.fr.dst_ip, b.fr.dst_ip);
		CU_ASSERT_EQUAL(a.fr.dst_port, S2_PORT);
		CU_ASSERT_EQUAL(a.h.stage, 2);
		CU_ASSERT_EQUAL(b.h.stage, 2);
		mismatch += a.fr.dst_ip != S2_IP(stage2_instance_of(r));
		if (a.fr.dst_ip == S2_IP(0))
			used[0]++;
		else if (a.fr.dst_ip == S2_IP(1))
			used[1]++;
		dp_test_free_all(out, 2);
	}
	CU_ASSERT_EQUAL(mismatch, 0);
	CU_ASSERT_EQUAL(used[0] + used[1], 24);
	CU_ASSERT(used[0] > 0 && used[1] > 0);
	CU_ASSERT_EQUAL(sl_dp_instance(dp, 0, 1, 0)->streams +
				sl_dp_instance(dp, 0, 1, 1)->streams,
			48);
	expect_drops(-1);
	dp_close();
	dp_test_end();
}

/* A control fragment (NACK, ACK) from @ip:@port for stream @f. */
static struct rte_mbuf *
control_frame(uint32_t ip, uint16_t port, const struct dp_frag *f,
	      uint8_t flags, uint32_t seq, uint32_t count)
{
	struct dp_frag c = *f;
	uint8_t b[DP_TEST_FRAME_MAX];
	struct sl_frag_hdr h;
	size_t off, len;

	c.src_ip = ip;
	c.src_port = port;
	c.src_mac = mac_of(ip);
	c.n_tokens = 0;
	c.flags = 0;
	len = dp_test_build(&c, b, sizeof(b), &off);
	CU_ASSERT_EQUAL_FATAL(sl_wire_parse(b + off, len - off, &h),
			      SL_WIRE_OK);
	sl_wire_encode_control(b + off, &h, flags, seq, count, 0);
	return dp_test_mbuf(b, len);
}

/*
 * The next hop's MAC is not known: the fragments are not lost but kept
 * (arp_deferred) and ARP is asked; once it answers, the stream's next
 * fragment goes out, the instance NACKs the gap before it, and the kept
 * ones follow, byte for byte. Before, they were dropped as NO_NEIGHBOR.
 */
static void
test_route_no_neighbor(void)
{
	struct rte_mbuf *out[8];
	struct dp_frag f, fs[3];
	uint8_t want[DP_TEST_FRAME_MAX], arp[42];
	size_t wlen;
	unsigned int k;

	dp_test_begin();
	dp_open(config_yaml, false);
	learn(CLIENT_IP);
	/* Instance 0 of stage 1 is not resolved. sl_dp_init asked for it
	 * (dp_open took the four requests), so it is not asked again
	 * before SL_NEIGH_RETRY_MS. */
	fs[0] = frag(CLIENT_IP, CLIENT_PORT, 0, 1, 0, 0, 0);
	CU_ASSERT_EQUAL(process1(dp_test_frame(&fs[0]), out, 8), 0);
	CU_ASSERT_EQUAL(dp->cnt.arp_deferred, 1);
	CU_ASSERT_EQUAL(dp->cnt.arp_requests, 4);
	fs[1] = frag(CLIENT_IP, CLIENT_PORT, 0, 1, 0, 1, 0);
	CU_ASSERT_EQUAL(process1(dp_test_frame(&fs[1]), out, 8), 0);
	CU_ASSERT_EQUAL(dp->cnt.arp_deferred, 2);
	CU_ASSERT_EQUAL(dp->cnt.arp_requests, 4);
	/* Past the retry period, the stream's next fragment asks for it:
	 * kept, and the ARP request goes out with it, bytes exact. */
	dp->now = t0 + dp->tsc_hz / 1000 * (SL_NEIGH_RETRY_MS + 1);
	fs[2] = frag(CLIENT_IP, CLIENT_PORT, 0, 1, 0, 2, 0);
	CU_ASSERT_EQUAL_FATAL(process1(dp_test_frame(&fs[2]), out, 8), 1);
	expected_arp_request(S1_IP(0), arp);
	CU_ASSERT_EQUAL(rte_pktmbuf_data_len(out[0]), 42);
	CU_ASSERT_EQUAL(memcmp(rte_pktmbuf_mtod(out[0], void *), arp, 42), 0);
	rte_pktmbuf_free(out[0]);
	CU_ASSERT_EQUAL(dp->cnt.arp_deferred, 3);
	CU_ASSERT_EQUAL(dp->cnt.arp_requests, 5);
	/* Housekeeping (a pass over the whole table: SL_NEIGH_PASS_CALLS
	 * calls) asks for the three others, not for it again. */
	for (int pass = 0; pass < SL_NEIGH_PASS_CALLS; pass++)
		sl_dp_housekeeping(dp);
	CU_ASSERT_EQUAL(dp->cnt.arp_requests, 8);
	k = drain(out, 8);
	CU_ASSERT_EQUAL(k, 3);
	for (unsigned int j = 0; j < k; j++) {
		CU_ASSERT_EQUAL(rte_pktmbuf_data_len(out[j]), 42);
		CU_ASSERT_NOT_EQUAL(
			memcmp(rte_pktmbuf_mtod(out[j], void *), arp, 42), 0);
	}
	dp_test_free_all(out, k);
	/* The answer comes: the stream's next fragment goes through. */
	CU_ASSERT_EQUAL(
		process1(arp_frame(2, S1_IP(0), SLUICED_IP, false), out, 8), 0);
	f = frag(CLIENT_IP, CLIENT_PORT, 0, 1, 0, 3, 0);
	expect_forwarded(&f, S1_IP(0), S1_PORT, 1);
	/* The instance saw seq 3 first: its NACK for 0..2 brings the kept
	 * three, with the MAC now known, byte for byte. */
	{
		struct dp_frag as_seen = f;

		as_seen.stage = 1; /* the stage it was delivered as */
		as_seen.ancestry[0] = rid(1);
		CU_ASSERT_EQUAL_FATAL(
			process1(control_frame(S1_IP(0), S1_PORT, &as_seen,
					       SL_FRAG_F_NACK, 0, 3),
				 out, 8),
			3);
	}
	for (unsigned int j = 0; j < 3; j++) {
		wlen = expected_frame(&fs[j], S1_IP(0), S1_PORT, 1, want);
		assert_frame(out[j], want, wlen);
	}
	dp_test_free_all(out, 3);
	CU_ASSERT_EQUAL(dp->cnt.rtx.resent, 3);
	expect_drops(-1);
	dp_close();
	dp_test_end();
}

static void
test_route_no_origin(void)
{
	struct rte_mbuf *out[8];
	struct sl_flow *c;
	uint64_t id6;

	dp_test_begin();
	dp_open(config_yaml, true);
	/* Final output of a request sluiced never saw. */
	CU_ASSERT_EQUAL(process1(from_s2(0, 999, 0, 0, 0), out, 8), 0);
	expect_drops(SL_DROP_NO_ORIGIN, 1u, -1);

	/* Request 6's client stream leaves the table while its final
	 * output is under way: the output's route was pinned at its first
	 * fragment, so the rest still reaches the client. The instance
	 * goes on naming the request by the id sluiced gave it. */
	CU_ASSERT_EQUAL_FATAL(process1(client(6, 0, 0), out, 8), 1);
	rte_pktmbuf_free(out[0]);
	id6 = rid(6);
	CU_ASSERT_NOT_EQUAL(id6, 6);
	CU_ASSERT_EQUAL_FATAL(process1(from_s2(1, 6, 0, 0, 0), out, 8), 1);
	rte_pktmbuf_free(out[0]);
	c = client_flow(6);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	sl_flow_remove(dp->flows, (uint32_t)(c - dp->flows->flows));
	CU_ASSERT_EQUAL_FATAL(process1(from_s2(1, id6, 0, 1, 0), out, 8), 1);
	rte_pktmbuf_free(out[0]);
	expect_drops(SL_DROP_NO_ORIGIN, 1u, -1);
	/* A stream of a request whose client left before it began. */
	CU_ASSERT_EQUAL(process1(from_s2(1, id6, 1, 0, 0), out, 8), 0);
	expect_drops(SL_DROP_NO_ORIGIN, 2u, -1);
	dp_close();
	dp_test_end();
}

/* An ended stream lingers SL_FLOW_LINGER_MS, then leaves unexpired. */
static void
test_route_ended_stream_lingers(void)
{
	struct rte_mbuf *out[8];
	uint32_t idx;
	struct dp_frag f = frag(S1_IP(0), S1_PORT, 1, 3, 1, 0, SL_FRAG_F_END);
	uint8_t b[DP_TEST_FRAME_MAX];
	size_t off;
	struct sl_flow_key key;

	dp_test_begin();
	dp_open(config_yaml, true);
	CU_ASSERT_EQUAL_FATAL(process1(client(3, 0, 0), out, 8), 1);
	rte_pktmbuf_free(out[0]);
	CU_ASSERT_EQUAL_FATAL(process1(dp_test_frame(&f), out, 8), 1);
	rte_pktmbuf_free(out[0]);
	dp_test_build(&f, b, sizeof(b), &off);
	sl_flow_key_from_hdr(&key, b + off, S1_IP(0), S1_PORT);
	idx = sl_flow_lookup(dp->flows, &key);
	CU_ASSERT_FATAL(idx != SL_FLOW_NONE);
	CU_ASSERT_EQUAL(sl_flow_at(dp->flows, idx)->state, SL_FLOW_ENDED);
	/* A retransmission while it lingers is a duplicate. */
	CU_ASSERT_EQUAL(process1(dp_test_frame(&f), out, 8), 0);
	expect_drops(SL_DROP_DUPLICATE, 1u, -1);
	/* ... and its END is ACKed again (the first ACK may be lost). */
	CU_ASSERT_EQUAL(dp->cnt.rtx.acks_tx, 2);
	/* The request's client stream moves meanwhile (the linger is as
	 * long as this config's idle timeout). */
	dp->now = t0 + dp->linger_tsc / 2;
	CU_ASSERT_EQUAL(process1(client(3, 1, 0), out, 8), 1);
	rte_pktmbuf_free(out[0]);
	dp->now = t0 + dp->linger_tsc + 1;
	dp->expire_cursor = 0;
	sl_dp_housekeeping(dp);
	CU_ASSERT_EQUAL(sl_flow_lookup(dp->flows, &key), SL_FLOW_NONE);
	CU_ASSERT_PTR_NOT_NULL(client_flow(3)); /* idle less than 1 s */
	CU_ASSERT_EQUAL(dp->cnt.flows.expired, 0);
	CU_ASSERT_EQUAL(dp->cnt.flows.ended, 1);
	dp_close();
	dp_test_end();
}

/* The tx queue takes nothing: TX_FULL, and the frame is freed. */
static void
test_tx_full(void)
{
	struct rte_mbuf *filler[64], *out[8];
	unsigned int queued = 0;

	dp_test_begin();
	dp_open(config_yaml, true);
	while (rte_ring_free_count(port.tx) > 0) {
		unsigned int k = RTE_MIN(rte_ring_free_count(port.tx), 64u);

		for (unsigned int i = 0; i < k; i++) {
			filler[i] = rte_pktmbuf_alloc(dp_test_pool());
			CU_ASSERT_PTR_NOT_NULL_FATAL(filler[i]);
		}
		CU_ASSERT_EQUAL_FATAL(rte_ring_enqueue_bulk(port.tx,
							    (void **)filler, k,
							    NULL),
				      k);
		queued += k;
	}
	{
		struct rte_mbuf *m = client(1, 0, 0);
		struct rte_mbuf *pkts[SL_PATH_CAP] = {m};

		sl_dp_process(dp, pkts, 1);
	}
	expect_drops(SL_DROP_TX_FULL, 1u, -1);
	CU_ASSERT_EQUAL(dp->cnt.forwarded, 0);
	CU_ASSERT_EQUAL(dp->cnt.tx_packets, 0);
	dp_test_port_flush(&port);
	CU_ASSERT(queued > 0);
	/* The stream goes on once the queue drains. */
	CU_ASSERT_EQUAL(process1(client(1, 1, 0), out, 8), 1);
	dp_test_free_all(out, 1);
	dp_close();
	dp_test_end();
}

/* One gap filler per stream releases more than SL_BURST frames: all go
 * out, in order per stream. */
static void
test_release_more_than_a_burst(void)
{
	struct rte_mbuf *pkts[SL_PATH_CAP], *out[128];
	uint16_t n = 0;
	unsigned int sent, next[6] = {0};
	bool in_order = true;

	dp_test_begin();
	dp_open(config_yaml, true);
	for (uint64_t r = 0; r < 4; r++)
		for (uint32_t q = 1; q < WINDOW; q++)
			pkts[n++] = client(50 + r, q, 0);
	CU_ASSERT_EQUAL_FATAL(n, 28);
	CU_ASSERT_EQUAL(process(pkts, n, out, 128), 0);
	n = 0;
	for (uint64_t r = 4; r < 6; r++)
		for (uint32_t q = 1; q < WINDOW; q++)
			pkts[n++] = client(50 + r, q, 0);
	CU_ASSERT_EQUAL(process(pkts, n, out, 128), 0);
	n = 0;
	for (uint64_t r = 0; r < 6; r++)
		pkts[n++] = client(50 + r, 0, 0);
	sent = process(pkts, n, out, 128);
	CU_ASSERT_EQUAL(sent, 6 * WINDOW);
	for (unsigned int i = 0; i < sent; i++) {
		struct sent s;

		if (!decode(out[i], &s) || s.h.ancestry[0] < 50 ||
		    s.h.ancestry[0] > 55) {
			in_order = false;
			continue;
		}
		if (s.h.seq != next[s.h.ancestry[0] - 50]++)
			in_order = false;
	}
	CU_ASSERT_TRUE(in_order);
	dp_test_free_all(out, sent);
	CU_ASSERT_EQUAL(dp->cnt.forwarded, 6 * WINDOW);
	expect_drops(-1);
	dp_close();
	dp_test_end();
}

/*
 * More unresolved neighbours than fit one ARP pass: housekeeping must, over
 * a few retry periods, ask for every one of them, and count only the ARP
 * requests it really sent.
 */
static void
test_neigh_retry_many(void)
{
	enum { N = 300 };
	static bool asked[N];
	struct rte_mbuf *out[64];
	unsigned int n_asked = 0, frames = 0, k;
	uint64_t a0;

	dp_test_begin();
	dp_open(config_yaml, false);
	/* The start's four requests were taken off the queue, not sent. */
	a0 = dp->cnt.arp_requests;
	memset(asked, 0, sizeof(asked));
	for (unsigned int i = 0; i < N; i++)
		CU_ASSERT_PTR_NOT_NULL(
			sl_neigh_want(&dp->neigh, DP_IP(10, 0, 9, 0) + 1 + i,
				      SL_NEIGH_INSTANCE, dp->now));
	/* A call looks at 1/SL_NEIGH_PASS_CALLS of the table: that many
	 * rounds see all of it (four more for good measure). */
	for (unsigned int round = 1; round <= SL_NEIGH_PASS_CALLS + 4;
	     round++) {
		dp->now = t0 +
			  round * (dp->tsc_hz / 1000 * (SL_NEIGH_RETRY_MS + 1));
		sl_dp_housekeeping(dp);
		while ((k = drain(out, 64)) != 0) {
			for (unsigned int j = 0; j < k; j++) {
				const uint8_t *b =
					rte_pktmbuf_mtod(out[j], uint8_t *);
				uint32_t tip = (uint32_t)b[38] << 24 |
					       (uint32_t)b[39] << 16 |
					       (uint32_t)b[40] << 8 | b[41];

				frames++;
				if (tip >= DP_IP(10, 0, 9, 1) &&
				    tip < DP_IP(10, 0, 9, 0) + 1 + N &&
				    !asked[tip - DP_IP(10, 0, 9, 1)]) {
					asked[tip - DP_IP(10, 0, 9, 1)] = true;
					n_asked++;
				}
			}
			dp_test_free_all(out, k);
		}
	}
	if (n_asked != N)
		printf("\n  %u of %u unresolved neighbours ever asked; "
		       "arp_requests %lu, frames sent %u",
		       n_asked, N, (unsigned long)dp->cnt.arp_requests, frames);
	CU_ASSERT_EQUAL(n_asked, N);
	CU_ASSERT_EQUAL(dp->cnt.arp_requests - a0, frames);
	dp_close();
	dp_test_end();
}

static const struct dp_test_case cases[] = {
	DP_SUITE("route"),
	DP_CASE("client stream pinned to a stage-1 instance, bytes",
		test_route_client_to_stage1),
	DP_CASE("a client's ABORT after END cancels its request",
		test_route_client_cancel),
	DP_CASE("rewrite drops IPv4 options and trailing bytes",
		test_route_rewrite_strips_options),
	DP_CASE("stage 1 -> stage 2 -> client, bytes",
		test_route_stage1_to_stage2_to_client),
	DP_CASE("aggregation 1: a request's streams meet",
		test_route_aggregation_meets),
	DP_CASE("NO_NEIGHBOR and the ARP request, bytes",
		test_route_no_neighbor),
	DP_CASE("NO_ORIGIN", test_route_no_origin),
	DP_CASE("ended stream lingers then leaves",
		test_route_ended_stream_lingers),
	DP_SUITE("tx"),
	DP_CASE("TX_FULL when the queue takes nothing", test_tx_full),
	DP_CASE("a release of more than SL_BURST goes out whole",
		test_release_more_than_a_burst),
	DP_CASE("ARP retry reaches > SL_CTRL_TX_MAX neighbours",
		test_neigh_retry_many),
	DP_END,
};

int
main(int argc, char **argv)
{
	(void)argc;
	return dp_test_main(argv[0], cases, stage_port, stage_port_flush);
}
