/* SPDX-License-Identifier: MIT */
/*
 * test_stage_gpu_tx.c - the gpu_tx node: streams routed to local GPU
 * instances (`gpu: true`) go into the worker's token ring (host backend,
 * its file in a temporary directory), read back through the engine's
 * side (sl_gpu_attach) token by token; slots come back on the engine's
 * ack; a full ring ends the stream with an ABORT record (OVERLOAD), no
 * free slot refuses the stream with ABORT (OVERLOAD) to its consumer, and
 * a stream that expires unended is ended in the ring too.
 * Fixture: stage_fixture.h (stage 1 "draft" is the GPU stage here).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sl_gpu_ring.h"
#include "sl_gpu_share.h"
#include "sl_gtx.h"
#include "stage_fixture.h"

static const char gpu_yaml[] =
	CONFIG_HEAD_YAML "pipelines:\n"
			 "  - name: p1\n"
			 "    id: 1\n"
			 "    stages:\n"
			 "      - name: draft\n"
			 "        instances:\n"
			 "          - {address: \"10.0.2.1:8001\", gpu: true}\n"
			 "          - {address: \"10.0.2.2:8001\", gpu: true}\n"
			 "      - name: verify\n"
			 "        aggregation: 1\n"
			 "        instances:\n"
			 "          - 10.0.3.1:8002\n"
			 "          - 10.0.3.2:8002\n";

static struct sl_gpu_ctx *gctx;
static char dir[64], path[96];

/* The fixture's worker with a ring of @slots slots. */
static void
gpu_open(uint32_t slots)
{
	dp_open(gpu_yaml, true);
	dp->gtx = sl_gtx_create(gctx, path, slots, -1, -1, SLUICED_IP,
				SLUICED_PORT, 0, 42);
	CU_ASSERT_PTR_NOT_NULL_FATAL(dp->gtx);
	/* A quarter of the slots a client unless a test says otherwise. */
	CU_ASSERT_EQUAL(dp->gtx->source_max, slots / 4 ? slots / 4 : 1);
	dp->gtx->source_max = UINT32_MAX;
}

static void
gpu_close(void)
{
	struct sl_gtx *g = dp->gtx;

	/* The worker's streams leave first (their slots are ended). */
	dp_close();
	sl_gtx_destroy(g);
	CU_ASSERT_EQUAL(access(path, F_OK), -1);
}

/* Frames sluiced sent: all freed; how many went to @ip. */
static unsigned int
sent_to(struct rte_mbuf **out, unsigned int n, uint32_t ip)
{
	unsigned int k = 0;
	struct sent s;

	for (unsigned int i = 0; i < n; i++) {
		if (decode(out[i], &s) && s.fr.dst_ip == ip)
			k++;
		rte_pktmbuf_free(out[i]);
	}
	return k;
}

/* Frames sluiced sent: all freed; how many were ABORT (@reason) to the
 * client on request @req's own stream. */
static unsigned int
client_aborts(struct rte_mbuf **out, unsigned int n, uint64_t req,
	      uint8_t reason)
{
	unsigned int k = 0;
	struct sent s;

	for (unsigned int i = 0; i < n; i++) {
		if (decode(out[i], &s) && s.fr.dst_ip == CLIENT_IP &&
		    s.h.flags == SL_FRAG_F_ABORT &&
		    s.h.abort_reason == reason && s.h.stage == 0 &&
		    s.h.ancestry[0] == req)
			k++;
		rte_pktmbuf_free(out[i]);
	}
	return k;
}

/* Frames sluiced sent: all freed; how many were stage 1's ABORT
 * (OVERLOAD) in place of request @req's answer, to verify (decode names
 * the request by the client's id). */
static unsigned int
verify_aborts(struct rte_mbuf **out, unsigned int n, uint64_t req)
{
	unsigned int k = 0;
	struct sent s;

	for (unsigned int i = 0; i < n; i++) {
		if (decode(out[i], &s) &&
		    s.fr.dst_ip == S2_IP(stage2_instance_of(req)) &&
		    s.h.flags == SL_FRAG_F_ABORT &&
		    s.h.abort_reason == SL_ABORT_OVERLOAD && s.h.stage == 2 &&
		    s.h.from_stage == 1 && s.h.ancestry[0] == req)
			k++;
		rte_pktmbuf_free(out[i]);
	}
	return k;
}

/* Take the next waiting stream for draft instance @inst. */
static int
take(struct sl_gpu_attach *a, int inst, struct sl_gpu_taken *t, uint32_t *ids,
     uint32_t *offs, uint8_t *text)
{
	return sl_gpu_attach_take(a, S1_IP(inst), S1_PORT, t, ids, offs, 4096,
				  text, 65536);
}

static uint32_t ids[4096], offs[4096];
static uint8_t text[65536];

/* Take and ack every stream waiting for either draft instance, each
 * COMPLETE at epoch @epoch; how many there were. */
static unsigned int
take_all(struct sl_gpu_attach *a, uint32_t epoch)
{
	struct sl_gpu_taken t;
	unsigned int n = 0;

	for (int inst = 0; inst < 2; inst++)
		while (take(a, inst, &t, ids, offs, text) == 1) {
			CU_ASSERT_EQUAL(t.state, SL_GPU_STREAM_COMPLETE);
			CU_ASSERT_EQUAL(t.epoch, epoch);
			sl_gpu_attach_ack(a, t.slot, t.epoch);
			n++;
		}
	return n;
}

/*
 * A client request of 4 fragments: nothing of it goes onto the network
 * but the ACK of its END; the engine's side reads its 8 tokens, ids and
 * texts exact, and the header the instance would have had.
 */
static void
test_gpu_tx_delivers(void)
{
	struct sl_dp_counters cnt = {0};
	struct rte_mbuf *out[8];
	struct sl_gpu_attach *a;
	struct sl_gpu_taken t;
	struct sl_frag_hdr h;
	char want[64];
	uint32_t off = 0;

	dp_test_begin();
	gpu_open(4);
	for (uint32_t s = 0; s < 4; s++)
		CU_ASSERT_EQUAL(
			sent_to(out,
				process1(client(1, s,
						s == 3 ? SL_FRAG_F_END : 0),
					 out, 8),
				S1_IP(0)),
			0);
	CU_ASSERT_EQUAL(dp->cnt.gpu_fragments, 4);
	CU_ASSERT_EQUAL(dp->cnt.gpu_streams, 1);
	CU_ASSERT_EQUAL(dp->cnt.forwarded, 0);
	CU_ASSERT_EQUAL(dp->cnt.rtx.acks_tx, 1); /* the client's END */
	CU_ASSERT_EQUAL(sl_dp_instance(dp, 0, 0, 0)->streams, 1);
	CU_ASSERT_EQUAL(sl_dp_instance(dp, 0, 0, 0)->fragments, 4);
	CU_ASSERT_EQUAL(sl_dp_instance(dp, 0, 0, 0)->streams_active, 0);
	CU_ASSERT_EQUAL(sl_dp_instance(dp, 0, 0, 0)->answers_owed, 1);
	CU_ASSERT_EQUAL(sl_gpu_ring_drain(dp->gtx->ring, 2000000000ull), 0);

	a = sl_gpu_attach_open(path, NULL, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(sl_gpu_attach_hdr(a)->sluiced_ip, SLUICED_IP);
	CU_ASSERT_EQUAL(sl_gpu_attach_hdr(a)->sluiced_port, SLUICED_PORT);
	/* Not instance 1's. */
	CU_ASSERT_EQUAL(take(a, 1, &t, ids, offs, text), 0);
	CU_ASSERT_EQUAL_FATAL(take(a, 0, &t, ids, offs, text), 1);
	CU_ASSERT_EQUAL(t.state, SL_GPU_STREAM_COMPLETE);
	CU_ASSERT_EQUAL(t.epoch, 1);
	CU_ASSERT_EQUAL_FATAL(t.tokens, 8);
	for (uint32_t s = 0; s < 4; s++) {
		int n = snprintf(want, sizeof(want), "r1.0 s%u caf\xc3\xa9", s);

		CU_ASSERT_EQUAL(ids[2 * s], 100 + s);
		CU_ASSERT_EQUAL(ids[2 * s + 1], 101 + s);
		CU_ASSERT_EQUAL(offs[2 * s], off);
		CU_ASSERT_EQUAL(memcmp(text + off, want, (size_t)n), 0);
		off += (uint32_t)n;
		CU_ASSERT_EQUAL(offs[2 * s + 1], off);
		CU_ASSERT_EQUAL(memcmp(text + off, " \xe2\x86\x92", 4), 0);
		off += 4;
	}
	CU_ASSERT_EQUAL(t.text_len, off);
	CU_ASSERT_EQUAL_FATAL(sl_wire_parse_hdr(t.hdr, sizeof(t.hdr), &h),
			      SL_WIRE_OK);
	CU_ASSERT_EQUAL(h.pipeline, 1);
	CU_ASSERT_EQUAL(h.stage, 1);
	CU_ASSERT_EQUAL(h.from_stage, 0);
	CU_ASSERT_EQUAL(h.depth, 1);
	CU_ASSERT_EQUAL(h.seq, 0);
	CU_ASSERT_EQUAL(h.flags, 0);
	CU_ASSERT_EQUAL(h.token_count, 0);
	/* Instances see sluiced's request id. */
	CU_ASSERT_EQUAL(h.ancestry[0], rid(1));
	/* Its slot comes back with the ack; taken once. The stats say
	 * so too. */
	CU_ASSERT_EQUAL(dp->gtx->n_free, 3);
	sl_gtx_stats(dp->gtx, &cnt);
	CU_ASSERT_EQUAL(cnt.gpu_slots_used, 1);
	CU_ASSERT_EQUAL(cnt.gpu_ring_dropped, 0);
	CU_ASSERT_EQUAL(cnt.gpu_ring_batch_errors, 0);
	sl_gpu_attach_ack(a, t.slot, t.epoch);
	CU_ASSERT_EQUAL(take(a, 0, &t, ids, offs, text), 0);
	sl_dp_housekeeping(dp);
	CU_ASSERT_EQUAL(dp->gtx->n_free, 4);
	sl_gtx_stats(dp->gtx, &cnt);
	CU_ASSERT_EQUAL(cnt.gpu_slots_used, 0);
	CU_ASSERT_EQUAL(dp->gtx->n_ended, 0);
	/* The engine's answer goes on as ever: to verify, over the net. */
	CU_ASSERT_EQUAL(
		sent_to(out,
			process1(from_s1(0, 1, 0, 0, SL_FRAG_F_END), out, 8),
			S2_IP(stage2_instance_of(1))),
		1);
	sl_gpu_attach_close(a);
	expect_drops(-1);
	gpu_close();
	dp_test_end();
}

/*
 * The ring's consumer stopped: 256 batches fill, the 257th fragment is
 * refused (GPU_RING_FULL), the stream's later ones are dropped
 * (GPU_STREAM_LOST), and once the consumer runs again the ABORT record
 * (OVERLOAD) ends the stream after the 256 fragments it did get.
 */
static void
test_gpu_tx_ring_full(void)
{
	struct rte_mbuf *out[8];
	struct sl_gpu_attach *a;
	struct sl_gpu_taken t;
	unsigned int n = 0;

	dp_test_begin();
	gpu_open(4);
	CU_ASSERT_EQUAL_FATAL(sl_gpu_ring_stop(dp->gtx->ring, 2000000000ull),
			      0);
	for (uint32_t s = 0; s < 260; s++)
		n += sent_to(
			out,
			process1(client(1, s, s == 259 ? SL_FRAG_F_END : 0),
				 out, 8),
			S1_IP(0));
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(dp->cnt.gpu_fragments, SL_GTX_BATCHES);
	CU_ASSERT_EQUAL(dp->cnt.gpu_aborts, 0);
	expect_drops(SL_DROP_GPU_RING_FULL, 1u, SL_DROP_GPU_STREAM_LOST, 3u,
		     -1);
	CU_ASSERT_EQUAL(sl_gpu_ring_start(dp->gtx->ring), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_drain(dp->gtx->ring, 2000000000ull), 0);
	sl_dp_housekeeping(dp);
	CU_ASSERT_EQUAL(dp->cnt.gpu_aborts, 1);
	CU_ASSERT_EQUAL(sl_gpu_ring_drain(dp->gtx->ring, 2000000000ull), 0);
	a = sl_gpu_attach_open(path, NULL, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL_FATAL(take(a, 0, &t, ids, offs, text), 1);
	CU_ASSERT_EQUAL(t.state, SL_GPU_STREAM_ABORTED);
	CU_ASSERT_EQUAL(t.abort_reason, SL_ABORT_OVERLOAD);
	CU_ASSERT_EQUAL(t.tokens, 2 * SL_GTX_BATCHES);
	sl_gpu_attach_ack(a, t.slot, t.epoch);
	sl_dp_housekeeping(dp);
	CU_ASSERT_EQUAL(dp->gtx->n_free, 4);
	sl_gpu_attach_close(a);
	gpu_close();
	dp_test_end();
}

/*
 * Two slots, three requests: the third is refused (GPU_NO_SLOT) and the
 * stage waiting for its answer (verify) gets ABORT (OVERLOAD) in its
 * place, as for a stage with no instance; once the engine acked its
 * streams, a fourth request gets a slot again (a new epoch).
 */
static void
test_gpu_tx_no_slot(void)
{
	struct rte_mbuf *out[8];
	struct sl_gpu_attach *a;
	unsigned int n;

	dp_test_begin();
	gpu_open(2);
	for (uint64_t r = 1; r <= 2; r++)
		CU_ASSERT_EQUAL(process1(client(r, 0, SL_FRAG_F_END), out, 8),
				0);
	n = process1(client(3, 0, SL_FRAG_F_END), out, 8);
	CU_ASSERT_EQUAL(verify_aborts(out, n, 3), 1);
	expect_drops(SL_DROP_GPU_NO_SLOT, 1u, -1);
	CU_ASSERT_EQUAL(dp->cnt.gpu_streams, 2);
	CU_ASSERT_EQUAL(sl_gpu_ring_drain(dp->gtx->ring, 2000000000ull), 0);
	a = sl_gpu_attach_open(path, NULL, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(take_all(a, 1), 2);
	CU_ASSERT_EQUAL(process1(client(4, 0, SL_FRAG_F_END), out, 8), 0);
	CU_ASSERT_EQUAL(dp->cnt.gpu_streams, 3);
	CU_ASSERT_EQUAL(sl_gpu_ring_drain(dp->gtx->ring, 2000000000ull), 0);
	CU_ASSERT_EQUAL(take_all(a, 2), 1);
	sl_gpu_attach_close(a);
	/* Requests 1, 2 and 4 wait for answers: released by the close. */
	gpu_close();
	dp_test_end();
}

/*
 * One client's share: with 8 slots a client address holds at most 2
 * (a quarter). The client's third request is refused (GPU_SOURCE_SLOTS,
 * ABORT (OVERLOAD) to verify in place of its answer) while another
 * client's is served; once the engine acked the first client's streams
 * it is served again.
 */
static void
test_gpu_tx_source_share(void)
{
	struct rte_mbuf *out[8];
	struct sl_gpu_attach *a;
	struct dp_frag f;
	unsigned int n;

	dp_test_begin();
	gpu_open(8);
	dp->gtx->source_max = 8 / 4;
	for (uint64_t r = 1; r <= 2; r++)
		CU_ASSERT_EQUAL(process1(client(r, 0, SL_FRAG_F_END), out, 8),
				0);
	n = process1(client(3, 0, SL_FRAG_F_END), out, 8);
	CU_ASSERT_EQUAL(verify_aborts(out, n, 3), 1);
	expect_drops(SL_DROP_GPU_SOURCE_SLOTS, 1u, -1);
	/* Another client is not held back by the first one's share. */
	f = frag(CLIENT2_IP, CLIENT2_PORT, 0, 4, 0, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(process1(dp_test_frame(&f), out, 8), 0);
	CU_ASSERT_EQUAL(dp->cnt.gpu_streams, 3);
	CU_ASSERT_EQUAL(sl_gpu_ring_drain(dp->gtx->ring, 2000000000ull), 0);
	a = sl_gpu_attach_open(path, NULL, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(take_all(a, 1), 3);
	sl_dp_housekeeping(dp);
	CU_ASSERT_EQUAL(dp->gtx->n_free, 8);
	/* Acked: the first client's share is free again. */
	CU_ASSERT_EQUAL(process1(client(5, 0, SL_FRAG_F_END), out, 8), 0);
	CU_ASSERT_EQUAL(dp->cnt.gpu_streams, 4);
	expect_drops(SL_DROP_GPU_SOURCE_SLOTS, 1u, -1);
	sl_gpu_attach_close(a);
	gpu_close();
	dp_test_end();
}

/*
 * A request whose END never comes expires: its stream leaves the table,
 * and an ABORT record (EXPIRED) ends it in the ring after the 2
 * fragments it got, so the engine answers ABORT rather than wait for
 * ever, and the slot comes back.
 */
static void
test_gpu_tx_expiry(void)
{
	struct rte_mbuf *out[16];
	struct sl_gpu_attach *a;
	struct sl_gpu_taken t;
	unsigned int n;

	dp_test_begin();
	gpu_open(2);
	for (uint32_t s = 0; s < 2; s++)
		CU_ASSERT_EQUAL(process1(client(1, s, 0), out, 8), 0);
	dp->now += dp->idle_tsc + 1;
	for (uint32_t i = 0; i <= dp->flows->capacity / 64; i++)
		sl_dp_housekeeping(dp);
	n = drain(out, 16);
	/* The client hears ABORT (EXPIRED) on its request's stream. */
	CU_ASSERT_EQUAL(client_aborts(out, n, 1, SL_ABORT_EXPIRED), 1);
	CU_ASSERT_EQUAL(dp->cnt.gpu_aborts, 0);
	CU_ASSERT_EQUAL(dp->cnt.gpu_fragments, 3);
	CU_ASSERT_EQUAL(sl_gpu_ring_drain(dp->gtx->ring, 2000000000ull), 0);
	a = sl_gpu_attach_open(path, NULL, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL_FATAL(take(a, 0, &t, ids, offs, text), 1);
	CU_ASSERT_EQUAL(t.state, SL_GPU_STREAM_ABORTED);
	CU_ASSERT_EQUAL(t.abort_reason, SL_ABORT_EXPIRED);
	CU_ASSERT_EQUAL(t.tokens, 4);
	sl_gpu_attach_ack(a, t.slot, t.epoch);
	sl_dp_housekeeping(dp);
	CU_ASSERT_EQUAL(dp->gtx->n_free, 2);
	sl_gpu_attach_close(a);
	gpu_close();
	dp_test_end();
}

static int
setup(void)
{
	if (stage_port() != 0)
		return -1;
	snprintf(dir, sizeof(dir), "/tmp/sl-gtx-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/ring-0", dir);
	gctx = sl_gpu_open(SL_GPU_BACKEND_HOST);
	return gctx != NULL ? 0 : -1;
}

static void
teardown(void)
{
	sl_gpu_close(gctx);
	rmdir(dir);
	stage_port_flush();
}

static const struct dp_test_case cases[] = {
	DP_SUITE("stage_gpu_tx"),
	DP_CASE("gpu_tx delivers a stream token by token",
		test_gpu_tx_delivers),
	DP_CASE("ring full: ABORT record, no silent loss",
		test_gpu_tx_ring_full),
	DP_CASE("no free slot: ABORT (OVERLOAD), slot reused",
		test_gpu_tx_no_slot),
	DP_CASE("one client's share of the slots", test_gpu_tx_source_share),
	DP_CASE("an expired stream is ended in the ring", test_gpu_tx_expiry),
	DP_END,
};

int
main(int argc, char **argv)
{
	(void)argc;
	return dp_test_main(argv[0], cases, setup, teardown);
}
