/* SPDX-License-Identifier: MIT */
/*
 * test_stage_path.c - the whole path end to end on the ring port: interleaved
 * streams with duplicates and reordering.
 * Fixture: stage_fixture.h.
 */
#include "stage_fixture.h"

/* ------------------------------------------------------------ end to end */

#define E2E_MAX_FRAGS 16

/* One stream of the end-to-end run: its frames and what came out. */
struct e2e_stream {
	struct dp_frag tmpl;
	unsigned int n;
	uint8_t frame[E2E_MAX_FRAGS][256];
	size_t len[E2E_MAX_FRAGS];
	size_t off;
	/* expected route */
	uint32_t dst_ip;
	uint16_t dst_port;
	uint16_t out_stage;
	/* seen */
	unsigned int got;
	unsigned int bad;
};

static void
e2e_stream_init(struct e2e_stream *s, const struct dp_frag *tmpl,
		unsigned int n)
{
	memset(s, 0, sizeof(*s));
	s->tmpl = *tmpl;
	s->n = n;
	for (unsigned int q = 0; q < n; q++) {
		struct dp_frag f = *tmpl;

		f.seq = q;
		f.flags = q == n - 1 ? SL_FRAG_F_END : 0;
		s->len[q] = dp_test_build(&f, s->frame[q], sizeof(s->frame[q]),
					  &s->off);
	}
}

/* Arrival orders: reordered within the window, with duplicates of a
 * delivered, a held and an ended fragment. Both are for 12 fragments. */
static const int arrive_a[] = {1, 0, 2, 4, 4, 3, 0, 5, 7, 6, 8, 10, 9, 11, 11};
static const int arrive_b[] = {0, 2, 1, 3, 6, 5, 4, 4, 7, 9, 8, 10, 11, 2};
#define DUPS_A 3
#define DUPS_B 2

/*
 * Feed @n streams (12 fragments each), interleaved, through the rx ring in
 * bursts of @burst; collect what is sent and check it per stream.
 */
static void
e2e_phase(struct e2e_stream *st, unsigned int n, uint16_t burst)
{
	struct rte_mbuf *pkts[SL_PATH_CAP], *out[64];
	unsigned int len_a = RTE_DIM(arrive_a), len_b = RTE_DIM(arrive_b);
	unsigned int maxlen = RTE_MAX(len_a, len_b);
	unsigned int queued = 0;

	for (unsigned int pos = 0; pos < maxlen; pos++)
		for (unsigned int i = 0; i < n; i++) {
			const int *arr = i % 2 ? arrive_b : arrive_a;
			unsigned int len = i % 2 ? len_b : len_a;
			struct rte_mbuf *m;
			int q;

			if (pos >= len)
				continue;
			q = arr[pos];
			m = dp_test_mbuf(st[i].frame[q], st[i].len[q]);
			CU_ASSERT_PTR_NOT_NULL_FATAL(m);
			CU_ASSERT_EQUAL_FATAL(rte_ring_enqueue(port.rx, m), 0);
			queued++;
		}
	for (;;) {
		uint16_t got = rte_eth_rx_burst(port.port_id, 0, pkts, burst);
		unsigned int sent;

		if (got == 0)
			break;
		sl_dp_process(dp, pkts, got);
		while ((sent = drain(out, 64)) != 0) {
			for (unsigned int k = 0; k < sent; k++) {
				struct sent s;
				struct e2e_stream *e = NULL;

				if (!decode(out[k], &s)) {
					CU_FAIL("undecodable frame sent");
					continue;
				}
				for (unsigned int i = 0; i < n; i++)
					if (st[i].tmpl.depth == s.h.depth &&
					    dp_test_req_from_sluiced(
						    dp,
						    st[i].tmpl.ancestry[0]) ==
						    s.h.ancestry[0] &&
					    st[i].tmpl.ancestry[1] ==
						    s.h.ancestry[1])
						e = &st[i];
				CU_ASSERT_PTR_NOT_NULL_FATAL(e);
				/* decode shows the client's request id: so
				 * must what it is compared with. */
				if (e->got >= e->n) {
					e->bad++;
					continue;
				}
				{
					uint64_t id = rte_cpu_to_be_64(
						s.h.ancestry[0]);

					memcpy(e->frame[e->got] + e->off +
						       SL_WIRE_OFF_ANCESTRY,
					       &id, 8);
				}
				if (e->got == 0 && e->dst_ip == 0) {
					e->dst_ip = s.fr.dst_ip;
					e->dst_port = s.fr.dst_port;
				}
				/* In order, once, to one place, byte exact but
				 * for stage (bytes 6-7) and from_stage (22-23:
				 * the stage that produced the stream). */
				if (s.h.seq != e->got ||
				    s.fr.dst_ip != e->dst_ip ||
				    s.fr.dst_port != e->dst_port ||
				    s.h.stage != e->out_stage ||
				    s.h.from_stage != e->tmpl.stage ||
				    s.len != 42 + e->len[e->got] - e->off ||
				    memcmp(s.dgram + 8,
					   e->frame[e->got] + e->off + 8,
					   SL_WIRE_OFF_FROM_STAGE - 8) != 0 ||
				    memcmp(s.dgram + SL_WIRE_OFF_SEND_NS,
					   e->frame[e->got] + e->off +
						   SL_WIRE_OFF_SEND_NS,
					   s.len - 42 - SL_WIRE_OFF_SEND_NS) !=
					    0 ||
				    memcmp(s.dgram, e->frame[e->got] + e->off,
					   6) != 0)
					e->bad++;
				e->got++;
			}
			dp_test_free_all(out, sent);
		}
	}
	CU_ASSERT(queued > 0);
	for (unsigned int i = 0; i < n; i++) {
		if (st[i].got != st[i].n || st[i].bad != 0)
			printf("\n  stream [%lu, %lu] stage %u: %u of %u "
			       "delivered, %u wrong",
			       (unsigned long)st[i].tmpl.ancestry[0],
			       (unsigned long)st[i].tmpl.ancestry[1],
			       st[i].tmpl.stage, st[i].got, st[i].n, st[i].bad);
		CU_ASSERT_EQUAL(st[i].got, st[i].n);
		CU_ASSERT_EQUAL(st[i].bad, 0);
	}
}

static void
test_e2e_interleaved(void)
{
	static struct e2e_stream cl[4], mid[8], fin[4];
	struct rte_mbuf *pkts[SL_PATH_CAP], *out[8];
	unsigned int on_inst[2] = {0, 0};
	uint64_t dups = 0;
	const unsigned int n_frags = 12;

	dp_test_begin();
	dp_open(config_yaml, false);
	learn(S1_IP(0));
	learn(S1_IP(1));
	learn(S2_IP(0));
	learn(S2_IP(1));
	/* The clients' kernels ask for sluiced first. */
	pkts[0] = arp_frame(1, CLIENT_IP, SLUICED_IP, true);
	pkts[1] = arp_frame(1, CLIENT2_IP, SLUICED_IP, true);
	CU_ASSERT_EQUAL(process(pkts, 2, out, 8), 2);
	dp_test_free_all(out, 2);
	CU_ASSERT_EQUAL(dp->cnt.arp_replies, 2);

	/* Phase 1: four requests from two clients to stage 1. */
	for (unsigned int i = 0; i < 4; i++) {
		struct dp_frag f = i < 2 ? frag(CLIENT_IP, CLIENT_PORT, 0,
						100 + i, 0, 0, 0)
					 : frag(CLIENT2_IP, CLIENT2_PORT, 0,
						100 + i, 0, 0, 0);

		e2e_stream_init(&cl[i], &f, n_frags);
		cl[i].out_stage = 1;
		dups += i % 2 ? DUPS_B : DUPS_A;
	}
	e2e_phase(cl, 4, 7);
	for (unsigned int i = 0; i < 4; i++) {
		CU_ASSERT(cl[i].dst_ip == S1_IP(0) || cl[i].dst_ip == S1_IP(1));
		CU_ASSERT_EQUAL(cl[i].dst_port, S1_PORT);
		on_inst[cl[i].dst_ip == S1_IP(1)]++;
	}
	CU_ASSERT_EQUAL(on_inst[0], 2);
	CU_ASSERT_EQUAL(on_inst[1], 2);
	expect_drops(SL_DROP_DUPLICATE, (unsigned int)dups, -1);

	/* Phase 2: each request's instance answers quantum 1, the other
	 * instance quantum 2; both meet at stage 2. */
	for (unsigned int i = 0; i < 4; i++)
		for (unsigned int q = 0; q < 2; q++) {
			int inst = (cl[i].dst_ip == S1_IP(1)) ^ (int)q;
			struct dp_frag f = frag(S1_IP(inst), S1_PORT, 1,
						100 + i, 1 + q, 0, 0);
			struct e2e_stream *e = &mid[2 * i + q];

			e2e_stream_init(e, &f, n_frags);
			e->out_stage = 2;
			dups += (2 * i + q) % 2 ? DUPS_B : DUPS_A;
		}
	e2e_phase(mid, 8, 5);
	for (unsigned int i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(mid[2 * i].dst_ip,
				S2_IP(stage2_instance_of(100 + i)));
		CU_ASSERT_EQUAL(mid[2 * i + 1].dst_ip, mid[2 * i].dst_ip);
		CU_ASSERT_EQUAL(mid[2 * i].dst_port, S2_PORT);
	}
	expect_drops(SL_DROP_DUPLICATE, (unsigned int)dups, -1);

	/* Phase 3: stage 2 answers each request; back to its client. */
	for (unsigned int i = 0; i < 4; i++) {
		int inst = mid[2 * i].dst_ip == S2_IP(1);
		struct dp_frag f =
			frag(S2_IP(inst), S2_PORT, 2, 100 + i, 0, 0, 0);

		e2e_stream_init(&fin[i], &f, n_frags);
		fin[i].out_stage = 2;
		dups += i % 2 ? DUPS_B : DUPS_A;
	}
	e2e_phase(fin, 4, 32);
	for (unsigned int i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(fin[i].dst_ip, i < 2 ? CLIENT_IP : CLIENT2_IP);
		CU_ASSERT_EQUAL(fin[i].dst_port,
				i < 2 ? CLIENT_PORT : CLIENT2_PORT);
		CU_ASSERT_EQUAL(client_flow(100 + i)->state, SL_FLOW_ENDED);
	}
	expect_drops(SL_DROP_DUPLICATE, (unsigned int)dups, -1);
	CU_ASSERT_EQUAL(dp->cnt.forwarded, 16 * n_frags);
	CU_ASSERT_EQUAL(dp->cnt.flows.created, 16);
	CU_ASSERT_EQUAL(dp->cnt.flows.ended, 16);
	CU_ASSERT_EQUAL(dp->cnt.flows.expired, 0);
	for (int s = 0; s < 2; s++)
		for (int i = 0; i < 2; i++)
			CU_ASSERT_EQUAL(
				sl_dp_instance(dp, 0, s, i)->streams_active, 0);
	CU_ASSERT_EQUAL(sl_dp_instance(dp, 0, 0, 0)->fragments +
				sl_dp_instance(dp, 0, 0, 1)->fragments,
			4 * n_frags);
	CU_ASSERT_EQUAL(sl_dp_instance(dp, 0, 1, 0)->fragments +
				sl_dp_instance(dp, 0, 1, 1)->fragments,
			8 * n_frags);
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(dp->flows->reorder_pool), 0);
	dp_close();
	dp_test_end();
}

static const struct dp_test_case cases[] = {
	DP_SUITE("path"),
	DP_CASE("end to end on the ring port, interleaved, dups, "
		"reordering",
		test_e2e_interleaved),

	DP_END,
};

int
main(int argc, char **argv)
{
	(void)argc;
	return dp_test_main(argv[0], cases, stage_port, stage_port_flush);
}
