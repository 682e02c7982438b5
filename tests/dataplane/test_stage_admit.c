/* SPDX-License-Identifier: MIT */
/*
 * test_stage_admit.c - the admit node: unknown pipelines and stages, sources, flow
 * entries, tenants' rate and stream limits, a full flow table.
 * Fixture: stage_fixture.h.
 */
#include "stage_fixture.h"

/* ---------------------------------------------------------------- admit */

static void
test_admit_unknown_pipeline_stage(void)
{
	struct rte_mbuf *pkts[SL_PATH_CAP];
	struct dp_frag f = frag(CLIENT_IP, CLIENT_PORT, 0, 1, 0, 0, 0);

	dp_test_begin();
	dp_open(config_yaml, true);
	f.pipeline = 2;
	pkts[0] = dp_test_frame(&f);
	f = frag(S2_IP(0), S2_PORT, 3, 1, 1, 0, 0);
	pkts[1] = dp_test_frame(&f);
	f = frag(CLIENT_IP, CLIENT_PORT, 7, 1, 0, 0, 0);
	pkts[2] = dp_test_frame(&f);
	CU_ASSERT_EQUAL(sl_stage_parse(dp, pkts, 3), 3);
	CU_ASSERT_EQUAL(sl_stage_admit(dp, pkts, 3), 0);
	expect_drops(SL_DROP_UNKNOWN_PIPELINE, 1u, SL_DROP_UNKNOWN_STAGE, 2u,
		     -1);
	CU_ASSERT_EQUAL(dp->flows->active, 0);
	CU_ASSERT_EQUAL(dp->cnt.flows.created, 0);
	dp_close();
	dp_test_end();
}

static void
test_admit_sources(void)
{
	struct rte_mbuf *pkts[SL_PATH_CAP];
	struct dp_frag f;
	uint16_t n = 0, out;

	dp_test_begin();
	dp_open(config_yaml, true);
	/* Refused: a client outside 10.0.1.0/24, a stage-1 fragment from a
	 * client, from a stage-2 instance, from an instance's address on
	 * another port, a stage-2 fragment from a stage-1 instance. */
	f = frag(DP_IP(10, 0, 5, 5), CLIENT_PORT, 0, 1, 0, 0, 0);
	pkts[n++] = dp_test_frame(&f);
	f = frag(CLIENT_IP, CLIENT_PORT, 1, 1, 1, 0, 0);
	pkts[n++] = dp_test_frame(&f);
	f = frag(S2_IP(0), S2_PORT, 1, 1, 1, 0, 0);
	pkts[n++] = dp_test_frame(&f);
	f = frag(S1_IP(0), 9999, 1, 1, 1, 0, 0);
	pkts[n++] = dp_test_frame(&f);
	f = frag(S1_IP(0), S1_PORT, 2, 1, 1, 0, 0);
	pkts[n++] = dp_test_frame(&f);
	/* Admitted: a client (also at the edge of the prefix), a stage-1
	 * instance's output, a stage-2 instance's output. */
	f = frag(CLIENT_IP, CLIENT_PORT, 0, 1, 0, 0, 0);
	pkts[n++] = dp_test_frame(&f);
	f = frag(DP_IP(10, 0, 1, 255), CLIENT_PORT, 0, 2, 0, 0, 0);
	pkts[n++] = dp_test_frame(&f);
	f = frag(S1_IP(1), S1_PORT, 1, 1, 1, 0, 0);
	pkts[n++] = dp_test_frame(&f);
	f = frag(S2_IP(1), S2_PORT, 2, 1, 1, 0, 0);
	pkts[n++] = dp_test_frame(&f);
	CU_ASSERT_EQUAL(sl_stage_parse(dp, pkts, n), n);
	out = sl_stage_admit(dp, pkts, n);
	CU_ASSERT_EQUAL(out, 4);
	expect_drops(SL_DROP_SRC_NOT_ALLOWED, 5u, -1);
	CU_ASSERT_EQUAL(dp->cnt.flows.created, 4);
	CU_ASSERT_EQUAL(dp->flows->active, 4);
	for (uint16_t i = 0; i < out; i++) {
		struct sl_pkt_meta *pm = sl_pkt_meta(pkts[i]);
		struct sl_flow_key k;

		CU_ASSERT_FATAL(pm->flow < dp->flows->capacity);
		const struct sl_flow *fl = sl_flow_at(dp->flows, pm->flow);

		sl_flow_key_from_hdr(&k,
				     rte_pktmbuf_mtod_offset(pkts[i], uint8_t *,
							     pm->hdr_off),
				     pm->src_ip, pm->src_port);
		/* A client's request id was replaced by sluiced's. */
		if (pm->stage == 0) {
			CU_ASSERT_EQUAL(
				rte_be_to_cpu_64(k.ancestry[0]),
				sl_dp_request_id(dp, pm->flow, fl->gen));
			k.ancestry[0] = fl->key.ancestry[0];
		}
		CU_ASSERT_EQUAL(memcmp(&fl->key, &k, sizeof(k)), 0);
	}
	CU_ASSERT_EQUAL(sl_pkt_meta(pkts[0])->src_ip, CLIENT_IP);
	CU_ASSERT_EQUAL(sl_pkt_meta(pkts[3])->src_ip, S2_IP(1));
	dp_test_free_all(pkts, out);
	dp_close();
	dp_test_end();
}

static void
test_admit_binds_flows(void)
{
	struct rte_mbuf *pkts[SL_PATH_CAP];
	uint32_t c1, c2, s1, s2, orphan;
	struct sl_flow *f;

	dp_test_begin();
	dp_open(config_yaml, true);
	dp->now = t0 + 10;
	pkts[0] = client(1, 0, 0);
	pkts[1] = client(1, 1, 0); /* same new stream, same burst */
	pkts[2] = client(2, 0, 0);
	CU_ASSERT_EQUAL(sl_stage_parse(dp, pkts, 3), 3);
	CU_ASSERT_EQUAL_FATAL(sl_stage_admit(dp, pkts, 3), 3);
	c1 = sl_pkt_meta(pkts[0])->flow;
	c2 = sl_pkt_meta(pkts[2])->flow;
	CU_ASSERT_EQUAL(sl_pkt_meta(pkts[1])->flow, c1);
	CU_ASSERT_NOT_EQUAL(c1, c2);
	CU_ASSERT_EQUAL(dp->cnt.flows.created, 2);
	dp_test_free_all(pkts, 3);
	f = sl_flow_at(dp->flows, c1);
	CU_ASSERT_EQUAL(f->state, SL_FLOW_ACTIVE);
	CU_ASSERT_EQUAL(f->key.src_ip, CLIENT_IP);
	CU_ASSERT_EQUAL(f->key.src_port, CLIENT_PORT);
	CU_ASSERT_EQUAL(f->origin, c1);
	CU_ASSERT_EQUAL(f->origin_gen, f->gen);
	CU_ASSERT_EQUAL(f->pipeline, 0);
	CU_ASSERT_EQUAL(f->last_tsc, t0 + 10);
	/* Admit makes no route: edge state comes with fanout. */
	CU_ASSERT_PTR_NULL(f->edges);

	/* Later streams of request 1 point at its client stream, and keep
	 * it alive; a stream of an unknown request has no origin. */
	dp->now = t0 + 500;
	pkts[0] = from_s1(0, 1, 1, 0, 0);
	pkts[1] = from_s2(1, 1, 0, 0, 0);
	pkts[2] = from_s1(1, 99, 1, 0, 0);
	CU_ASSERT_EQUAL(sl_stage_parse(dp, pkts, 3), 3);
	CU_ASSERT_EQUAL_FATAL(sl_stage_admit(dp, pkts, 3), 3);
	s1 = sl_pkt_meta(pkts[0])->flow;
	s2 = sl_pkt_meta(pkts[1])->flow;
	orphan = sl_pkt_meta(pkts[2])->flow;
	dp_test_free_all(pkts, 3);
	CU_ASSERT_EQUAL(sl_flow_at(dp->flows, s1)->origin, c1);
	CU_ASSERT_EQUAL(sl_flow_at(dp->flows, s2)->origin, c1);
	CU_ASSERT_EQUAL(sl_flow_at(dp->flows, s2)->origin_gen, f->gen);
	CU_ASSERT_EQUAL(sl_flow_at(dp->flows, orphan)->origin, SL_FLOW_NONE);
	CU_ASSERT_EQUAL(f->last_tsc, t0 + 500);
	CU_ASSERT_EQUAL(sl_flow_at(dp->flows, c2)->last_tsc, t0 + 10);
	CU_ASSERT_EQUAL(dp->cnt.flows.created, 5);
	expect_drops(-1);
	dp_close();
	dp_test_end();
}

static void
test_admit_tenants(void)
{
	struct rte_mbuf *pkts[SL_PATH_CAP];
	struct dp_frag f = frag(CLIENT_IP, CLIENT_PORT, 0, 1, 0, 0, 0);
	uint16_t out;

	dp_test_begin();
	dp_open(tenants_yaml, true);
	/* Unknown tenant. */
	pkts[0] = with_tenant(f, 9);
	CU_ASSERT_EQUAL(to_order(pkts, 1), 0);
	expect_drops(SL_DROP_UNKNOWN_TENANT, 1u, -1);

	/* Tenant 1: burst 3 at 1000/s. Five at one instant: three pass. */
	for (int i = 0; i < 5; i++) {
		f = frag(CLIENT_IP, CLIENT_PORT, 0, 10, 0, (uint32_t)i, 0);
		pkts[i] = with_tenant(f, 1);
	}
	out = to_order(pkts, 5);
	CU_ASSERT_EQUAL(out, 3);
	for (uint16_t i = 0; i < out; i++)
		CU_ASSERT_EQUAL(sl_pkt_meta(pkts[i])->seq, i);
	dp_test_free_all(pkts, out);
	expect_drops(SL_DROP_UNKNOWN_TENANT, 1u, SL_DROP_TENANT_RATE, 2u, -1);
	/* 2.5 ms later two more tokens: two of three pass. */
	dp->now = t0 + dp->tsc_hz / 400;
	for (int i = 0; i < 3; i++) {
		f = frag(CLIENT_IP, CLIENT_PORT, 0, 10, 0, (uint32_t)(3 + i),
			 0);
		pkts[i] = with_tenant(f, 1);
	}
	out = to_order(pkts, 3);
	CU_ASSERT_EQUAL(out, 2);
	dp_test_free_all(pkts, out);
	expect_drops(SL_DROP_UNKNOWN_TENANT, 1u, SL_DROP_TENANT_RATE, 3u, -1);

	/* Tenant 2: two streams in flight at most. */
	for (int s = 0; s < 3; s++) {
		f = frag(CLIENT_IP, CLIENT_PORT, 0, 20 + (uint64_t)s, 0, 0, 0);
		pkts[s] = with_tenant(f, 2);
	}
	out = to_order(pkts, 3);
	CU_ASSERT_EQUAL(out, 2);
	dp_test_free_all(pkts, out);
	expect_drops(SL_DROP_UNKNOWN_TENANT, 1u, SL_DROP_TENANT_RATE, 3u,
		     SL_DROP_TENANT_STREAMS, 1u, -1);
	CU_ASSERT_EQUAL(dp->led->tenant_use[2].streams, 2);
	/* A stream already admitted goes on. */
	f = frag(CLIENT_IP, CLIENT_PORT, 0, 20, 0, 1, 0);
	pkts[0] = with_tenant(f, 2);
	CU_ASSERT_EQUAL(to_order(pkts, 1), 1);
	rte_pktmbuf_free(pkts[0]);
	/* Once one leaves the table, the third gets in. */
	{
		struct dp_frag k = frag(CLIENT_IP, CLIENT_PORT, 0, 20, 0, 0, 0);
		uint8_t b[DP_TEST_FRAME_MAX];

		k.tenant = 2;
		size_t off;
		struct sl_flow_key key;

		dp_test_build(&k, b, sizeof(b), &off);
		sl_flow_key_from_hdr(&key, b + off, CLIENT_IP, CLIENT_PORT);
		sl_flow_remove(dp->flows, sl_flow_lookup(dp->flows, &key));
	}
	CU_ASSERT_EQUAL(dp->led->tenant_use[2].streams, 1);
	f = frag(CLIENT_IP, CLIENT_PORT, 0, 22, 0, 0, 0);
	pkts[0] = with_tenant(f, 2);
	CU_ASSERT_EQUAL(to_order(pkts, 1), 1);
	rte_pktmbuf_free(pkts[0]);
	CU_ASSERT_EQUAL(dp->led->tenant_use[2].streams, 2);
	expect_drops(SL_DROP_UNKNOWN_TENANT, 1u, SL_DROP_TENANT_RATE, 3u,
		     SL_DROP_TENANT_STREAMS, 1u, -1);
	dp_close();
	dp_test_end();
}

/* At the stream limit, a new stream's second fragment in the same burst
 * as its first belongs to a stream that now exists. */
static void
test_admit_tenant_streams_same_burst(void)
{
	struct rte_mbuf *pkts[SL_PATH_CAP];
	struct dp_frag f;

	dp_test_begin();
	dp_open(tenants_yaml, true);
	f = frag(CLIENT_IP, CLIENT_PORT, 0, 30, 0, 0, 0);
	pkts[0] = with_tenant(f, 2);
	CU_ASSERT_EQUAL(to_order(pkts, 1), 1);
	rte_pktmbuf_free(pkts[0]);
	f = frag(CLIENT_IP, CLIENT_PORT, 0, 31, 0, 0, 0);
	pkts[0] = with_tenant(f, 2);
	f = frag(CLIENT_IP, CLIENT_PORT, 0, 31, 0, 1, 0);
	pkts[1] = with_tenant(f, 2);
	f = frag(CLIENT_IP, CLIENT_PORT, 0, 32, 0, 0, 0);
	pkts[2] = with_tenant(f, 2);
	CU_ASSERT_EQUAL(sl_stage_parse(dp, pkts, 3), 3);
	CU_ASSERT_EQUAL_FATAL(sl_stage_admit(dp, pkts, 3), 2);
	CU_ASSERT_EQUAL(sl_pkt_meta(pkts[0])->flow, sl_pkt_meta(pkts[1])->flow);
	CU_ASSERT_EQUAL(sl_pkt_meta(pkts[1])->seq, 1);
	dp_test_free_all(pkts, 2);
	expect_drops(SL_DROP_TENANT_STREAMS, 1u, -1);
	CU_ASSERT_EQUAL(dp->led->tenant_use[2].streams, 2);
	CU_ASSERT_EQUAL(dp->cnt.flows.created, 2);
	dp_close();
	dp_test_end();
}

/*
 * A tenant's bucket refills at fragments_per_s whatever the spacing of its
 * fragments: over one second of fragments every 50 us, tenant 3 (10/s,
 * burst 1) gets its burst plus about ten.
 */
static void
test_admit_tenant_rate_steady_traffic(void)
{
	struct dp_frag f = frag(CLIENT_IP, CLIENT_PORT, 0, 40, 0, 0, 0);
	uint8_t b[DP_TEST_FRAME_MAX];
	size_t len;
	uint64_t step;
	unsigned int passed = 0;
	const unsigned int steps = 20000;

	dp_test_begin();
	dp_open(tenants_yaml, true);
	f.tenant = 3;
	len = dp_test_build(&f, b, sizeof(b), NULL);
	step = dp->tsc_hz / steps;
	for (unsigned int i = 1; i <= steps; i++) {
		struct rte_mbuf *m = dp_test_mbuf(b, len);

		if (m == NULL) {
			CU_FAIL("mempool empty");
			break;
		}
		dp->now = t0 + i * step;
		if (sl_stage_parse(dp, &m, 1) == 1 &&
		    sl_stage_admit(dp, &m, 1) == 1) {
			passed++;
			rte_pktmbuf_free(m);
		}
	}
	if (passed < 10 || passed > 12)
		printf("\n  tenant at 10/s, burst 1: %u fragments of %u "
		       "passed in one second",
		       passed, steps);
	CU_ASSERT(passed >= 10 && passed <= 12);
	CU_ASSERT_EQUAL(dp->cnt.drops[SL_DROP_TENANT_RATE], steps - passed);
	dp_close();
	dp_test_end();
}

/*
 * After a long idle spell the bucket is full. Tenant 4 (2^20 fragments/s,
 * burst 1) idle for 2^41 TSC cycles (a dozen minutes at 3 GHz): elapsed *
 * rate * 1000 is 125 * 2^64, which wraps to 0 in 64 bits.
 */
static void
test_admit_tenant_rate_after_long_idle(void)
{
	struct dp_frag f = frag(CLIENT_IP, CLIENT_PORT, 0, 41, 0, 0, 0);
	struct rte_mbuf *m;

	dp_test_begin();
	dp_open(tenants_yaml, true);
	f.tenant = 4;
	m = dp_test_frame(&f);
	CU_ASSERT_EQUAL(to_order(&m, 1), 1);
	rte_pktmbuf_free(m);
	f.seq = 1;
	m = dp_test_frame(&f);
	CU_ASSERT_EQUAL(to_order(&m, 1), 0);
	expect_drops(SL_DROP_TENANT_RATE, 1u, -1);
	dp->now = t0 + (1ull << 41);
	f.seq = 1;
	m = dp_test_frame(&f);
	if (to_order(&m, 1) == 1)
		rte_pktmbuf_free(m);
	else
		CU_FAIL("TENANT_RATE after a long idle spell: token refill "
			"overflowed");
	expect_drops(SL_DROP_TENANT_RATE, 1u, -1);
	dp_close();
	dp_test_end();
}

static void
test_admit_flow_table_full(void)
{
	struct rte_mbuf *pkts[SL_PATH_CAP];
	unsigned int admitted = 0;

	dp_test_begin();
	dp_open(small_table_yaml, true);
	/* Engine outputs (no request behind them: nobody to tell) fill the
	 * table; clients' streams have a share of their own (tested with
	 * the quotas). */
	for (unsigned int r = 0; r < 65; r += 32) {
		uint16_t n = 0, out;

		for (unsigned int i = r; i < 65 && i < r + 32; i++)
			pkts[n++] = from_s1(0, 1000 + i, 0, 0, 0);
		out = to_order(pkts, n);
		admitted += out;
		dp_test_free_all(pkts, out);
	}
	CU_ASSERT_EQUAL(admitted, 64);
	expect_drops(SL_DROP_FLOW_TABLE_FULL, 1u, -1);
	CU_ASSERT_EQUAL(dp->flows->active, 64);
	CU_ASSERT_EQUAL(dp->n_ctrl, 0);
	/* The streams in the table go on. */
	pkts[0] = from_s1(0, 1000, 0, 1, 0);
	pkts[1] = from_s1(0, 1063, 0, 1, 0);
	CU_ASSERT_EQUAL(to_order(pkts, 2), 2);
	dp_test_free_all(pkts, 2);
	expect_drops(SL_DROP_FLOW_TABLE_FULL, 1u, -1);
	dp_close();
	dp_test_end();
}

static const struct dp_test_case cases[] = {
	DP_SUITE("admit"),
	DP_CASE("UNKNOWN_PIPELINE, UNKNOWN_STAGE",
		test_admit_unknown_pipeline_stage),
	DP_CASE("SRC_NOT_ALLOWED per stage", test_admit_sources),
	DP_CASE("flow entries, origin, keep-alive", test_admit_binds_flows),
	DP_CASE("tenants: UNKNOWN_TENANT, TENANT_RATE, TENANT_STREAMS",
		test_admit_tenants),
	DP_CASE("tenant stream limit and a same-burst stream",
		test_admit_tenant_streams_same_burst),
	DP_CASE("tenant rate refills under steady traffic",
		test_admit_tenant_rate_steady_traffic),
	DP_CASE("tenant rate after a long idle spell",
		test_admit_tenant_rate_after_long_idle),
	DP_CASE("FLOW_TABLE_FULL at 65 streams in 64",
		test_admit_flow_table_full),
	DP_END,
};

int
main(int argc, char **argv)
{
	(void)argc;
	return dp_test_main(argv[0], cases, stage_port, stage_port_flush);
}
