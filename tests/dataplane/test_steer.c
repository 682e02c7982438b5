/* SPDX-License-Identifier: MIT */
/*
 * test_steer.c - many workers (dataplane/sl_steer.[ch], sl_workers_* in
 * sl_worker.c).
 *
 * Who owns a frame: sluiced's own request ids name their worker on an
 * instance's hop; a client's hop is hashed by sender and id (the same
 * request always to the same worker, requests spread over all of them,
 * whatever the ids look like); ARP and PROBEs go to every worker; what is
 * no sluice frame stays. The hand-off: a burst keeps its own frames, the
 * others reach their owners' inboxes byte for byte, a copy of an ARP frame
 * reaches every other worker, a full inbox drops and counts. The workers
 * of one sluiced share one ledger and one config snapshot, split the flow
 * table, and their stats add up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <rte_arp.h>
#include <rte_malloc.h>

#include "dp_test.h"
#include "sl_stats.h"
#include "sl_steer.h"
#include "sl_stream.h"
#include "sl_worker.h"

#define CLIENT_IP DP_IP(10, 0, 1, 5)
#define INST_IP DP_IP(10, 0, 2, 1)
#define SLUICED_IP DP_IP(10, 0, 0, 1)

static struct dp_test_port port;

static const char chain_yaml[] =
	"sluiced: {address: 10.0.0.1, port: 7700}\n"
	"flows: {size: 1024}\n"
	"liveness: {probe_ms: 0}\n"
	"clients: [10.0.1.0/24]\n"
	"pipelines:\n"
	"  - name: p\n"
	"    id: 1\n"
	"    stages:\n"
	"      - {name: x, instances: [10.0.2.1:8001]}\n"
	"    edges:\n"
	"      - {from: client, to: x}\n"
	"      - {from: x, to: client}\n";

/* A fragment to sluiced on stage @stage with ancestry[0] @id from @ip. */
static struct rte_mbuf *
frag(uint32_t ip, uint16_t stage, uint64_t id, uint8_t flags)
{
	struct dp_frag f = {
		.src_ip = ip,
		.dst_ip = SLUICED_IP,
		.src_port = 5000,
		.dst_port = 7700,
		.pipeline = 1,
		.stage = stage,
		.flags = flags,
		.ancestry = {id},
		.n_tokens = (flags & SL_FRAG_F_CONTROL) ? 0 : 1,
		.tokens = {"hi"},
	};

	return dp_test_frame(&f);
}

static struct rte_mbuf *
arp_frame(void)
{
	struct rte_ether_addr sha = {{0x02, 0, 0, 0, 0, 0x22}};
	uint8_t b[42];

	dp_test_arp(b, NULL, &sha, RTE_ARP_OP_REQUEST, CLIENT_IP, NULL,
		    SLUICED_IP);
	return dp_test_mbuf(b, sizeof(b));
}

static uint16_t
owner_of(const struct sl_steer *s, struct rte_mbuf *m, uint16_t self)
{
	uint16_t w = sl_steer_owner(s, m, self);

	rte_pktmbuf_free(m);
	return w;
}

static void
test_owner(void)
{
	struct sl_steer *s = sl_steer_create(4, dp_test_pool());
	unsigned int per[4] = {0};
	uint8_t junk[60] = {0};

	dp_test_begin();
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	/* sluiced's ids on an instance's hop: the worker they name. */
	for (uint16_t w = 0; w < 4; w++)
		CU_ASSERT_EQUAL(
			owner_of(s,
				 frag(INST_IP, 1,
				      sl_request_id_make(s->id_key, w, 77, 3),
				      0),
				 9),
			w);
	/* ... naming no worker: hashed, never the receiver's by default. */
	CU_ASSERT(owner_of(s,
			   frag(INST_IP, 1,
				sl_request_id_make(s->id_key, 200, 1, 1), 0),
			   9) < 4);
	/* ... with a wrong tag (made with another secret): hashed like a
	 * client's, the same for the request and its ACKs. */
	{
		uint64_t forged = sl_request_id_make(~s->id_key, 3, 1, 1);
		uint16_t w = owner_of(s, frag(CLIENT_IP, 0, forged, 0), 9);

		CU_ASSERT(w < 4);
		CU_ASSERT_EQUAL(
			owner_of(s, frag(CLIENT_IP, 2, forged, SL_FRAG_F_ACK),
				 9),
			w);
	}
	/* ARP and PROBE answers: everyone. */
	CU_ASSERT_EQUAL(owner_of(s, arp_frame(), 1), SL_STEER_ALL);
	CU_ASSERT_EQUAL(owner_of(s, frag(INST_IP, 1, 0, SL_FRAG_F_PROBE), 1),
			SL_STEER_ALL);
	/* No sluice frame: the receiver's (parse counts it). */
	CU_ASSERT_EQUAL(owner_of(s, dp_test_mbuf(junk, sizeof(junk)), 2), 2);
	CU_ASSERT_EQUAL(owner_of(s, dp_test_mbuf(junk, 10), 3), 3);
	/* A client's request: the same every time, even with ids that look
	 * like sluiced's (sluicegen's have a random high half and a small
	 * counter); spread evenly over the workers. */
	for (uint32_t i = 0; i < 4000; i++) {
		uint64_t id = (0x80000000ull << 32) | i;
		uint16_t w = owner_of(s, frag(CLIENT_IP, 0, id, 0), 0);

		CU_ASSERT_FATAL(w < 4);
		CU_ASSERT_EQUAL(
			owner_of(s, frag(CLIENT_IP, 0, id, SL_FRAG_F_ACK), 1),
			w);
		per[w]++;
	}
	for (int w = 0; w < 4; w++) {
		CU_ASSERT(per[w] > 850 && per[w] < 1150);
		printf("  worker %d: %u of 4000 requests\n", w, per[w]);
	}
	sl_steer_free(s);
	dp_test_end();
}

/* The first @len bytes of @a and @b are the same. */
static bool
same_bytes(const struct rte_mbuf *a, const struct rte_mbuf *b)
{
	return rte_pktmbuf_data_len(a) == rte_pktmbuf_data_len(b) &&
	       memcmp(rte_pktmbuf_mtod(a, const void *),
		      rte_pktmbuf_mtod(b, const void *),
		      rte_pktmbuf_data_len(a)) == 0;
}

static void
test_handoff(void)
{
	struct sl_steer *s = sl_steer_create(2, dp_test_pool());
	struct sl_dp *dp[2];
	struct rte_mbuf *pkts[SL_BURST], *mine, *theirs, *arp, *ref_theirs,
		*ref_arp, *own1;
	static void *fill[SL_STEER_INBOX];
	uint16_t n;

	dp_test_begin();
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	for (int w = 0; w < 2; w++) {
		dp[w] = rte_zmalloc("t_dp", sizeof(*dp[w]), 0);
		CU_ASSERT_PTR_NOT_NULL_FATAL(dp[w]);
		dp[w]->worker = (uint16_t)w;
		dp[w]->n_workers = 2;
		dp[w]->steer = s;
	}
	mine = frag(INST_IP, 1, sl_request_id_make(s->id_key, 0, 5, 1), 0);
	theirs = frag(INST_IP, 1, sl_request_id_make(s->id_key, 1, 6, 1), 0);
	arp = arp_frame();
	ref_theirs = rte_pktmbuf_copy(theirs, dp_test_pool(), 0, UINT32_MAX);
	ref_arp = rte_pktmbuf_copy(arp, dp_test_pool(), 0, UINT32_MAX);
	pkts[0] = theirs;
	pkts[1] = arp;
	pkts[2] = mine;
	n = sl_steer_burst(dp[0], pkts, 3, SL_BURST);
	/* Worker 0 keeps the ARP frame and its own, in order (its inbox
	 * was empty). */
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_PTR_EQUAL(pkts[0], arp);
	CU_ASSERT_PTR_EQUAL(pkts[1], mine);
	CU_ASSERT_EQUAL(dp[0]->cnt.steered, 2); /* a frame and a copy */
	dp_test_free_all(pkts, n);
	/* Worker 1 finds its frame and its copy of the ARP frame ahead of
	 * what it received itself meanwhile: they came first. */
	own1 = frag(INST_IP, 1, sl_request_id_make(s->id_key, 1, 9, 1), 0);
	pkts[0] = own1;
	n = sl_steer_burst(dp[1], pkts, 1, SL_BURST);
	CU_ASSERT_EQUAL_FATAL(n, 3);
	CU_ASSERT_PTR_EQUAL(pkts[0], theirs);
	CU_ASSERT(same_bytes(pkts[0], ref_theirs));
	CU_ASSERT(same_bytes(pkts[1], ref_arp));
	CU_ASSERT_PTR_EQUAL(pkts[2], own1);
	CU_ASSERT_EQUAL(dp[1]->cnt.steered, 0);
	dp_test_free_all(pkts, n);
	rte_pktmbuf_free(ref_theirs);
	rte_pktmbuf_free(ref_arp);

	/* A full inbox: the frame is dropped and counted, nothing leaks. */
	unsigned int room = rte_ring_free_count(s->inbox[1]);

	CU_ASSERT_EQUAL_FATAL(
		rte_ring_enqueue_bulk(s->inbox[1], fill, room, NULL), room);
	pkts[0] = frag(INST_IP, 1, sl_request_id_make(s->id_key, 1, 6, 1), 0);
	n = sl_steer_burst(dp[0], pkts, 1, SL_BURST);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(dp[0]->cnt.drops[SL_DROP_STEER_FULL], 1);
	CU_ASSERT_EQUAL(rte_ring_dequeue_bulk(s->inbox[1], fill, room, NULL),
			room);

	for (int w = 0; w < 2; w++)
		rte_free(dp[w]);
	sl_steer_free(s);
	dp_test_end();
}

static void
test_workers(void)
{
	struct sl_config *cfg = dp_test_config(chain_yaml);
	struct sl_config *next = dp_test_config(chain_yaml);
	const struct sl_config *old = NULL;
	struct sl_workers ws;
	struct sl_stats *st = calloc(1, sizeof(*st));
	unsigned int arps;

	dp_test_begin();
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(next);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_EQUAL_FATAL(
		sl_workers_init(&ws, cfg, port.port_id, 1, dp_test_pool(), 3),
		0);
	CU_ASSERT_EQUAL(ws.n, 3);
	CU_ASSERT_PTR_NOT_NULL(ws.steer);
	/* One receive queue: the others take only what is steered. */
	CU_ASSERT_EQUAL(ws.dp[0]->queue_id, 0);
	CU_ASSERT_EQUAL(ws.dp[1]->queue_id, UINT16_MAX);
	CU_ASSERT_EQUAL(ws.dp[2]->queue_id, UINT16_MAX);
	for (uint16_t w = 0; w < 3; w++) {
		CU_ASSERT_EQUAL(ws.dp[w]->worker, w);
		CU_ASSERT_EQUAL(ws.dp[w]->tx_queue_id, w);
		CU_ASSERT_PTR_EQUAL(ws.dp[w]->led, ws.dp[0]->led);
		CU_ASSERT_PTR_EQUAL(ws.dp[w]->steer, ws.steer);
		/* flows.size 1024 split three ways (the table rounds up). */
		CU_ASSERT(ws.dp[w]->flows_capacity >= 341 &&
			  ws.dp[w]->flows_capacity < 1024);
	}
	/* The quotas are the ledger's, not divided. */
	CU_ASSERT_EQUAL(ws.dp[2]->quota.client_streams, cfg->client_streams);

	/* Every worker takes the new snapshot; the old one comes back. */
	CU_ASSERT_EQUAL(sl_workers_publish(&ws, next, &old), 0);
	CU_ASSERT_PTR_EQUAL(old, cfg);
	for (uint16_t w = 0; w < 3; w++)
		CU_ASSERT_PTR_EQUAL(ws.dp[w]->cfg, next);

	/* Ids: each worker's name it, with the tag of the shared secret. */
	for (uint16_t w = 0; w < 3; w++)
		CU_ASSERT_EQUAL(
			sl_request_id_worker(ws.steer->id_key,
					     sl_dp_request_id(ws.dp[w], 12, 7)),
			w);

	/* Stats add up: each worker counts itself and its flows. */
	ws.dp[1]->cnt.rx_packets = 5;
	ws.dp[2]->cnt.rx_packets = 7;
	ws.dp[2]->cnt.drops[SL_DROP_BAD_MAGIC] = 2;
	ws.dp[1]->cnt.reconfigs = 9; /* worker 0's count is the one */
	CU_ASSERT_EQUAL(sl_workers_stats_take(&ws, st), 0);
	CU_ASSERT_EQUAL(st->dp.workers, 3);
	CU_ASSERT_EQUAL(st->dp.rx_packets, 12);
	CU_ASSERT_EQUAL(st->dp.drops[SL_DROP_BAD_MAGIC], 2);
	CU_ASSERT_EQUAL(st->dp.reconfigs, ws.dp[0]->cnt.reconfigs);
	CU_ASSERT_EQUAL(st->flows_capacity, ws.dp[0]->flows_capacity +
						    ws.dp[1]->flows_capacity +
						    ws.dp[2]->flows_capacity);

	/* Each worker asked for the instance's MAC (none answered). */
	arps = 0;
	for (uint16_t w = 0; w < 3; w++) {
		arps += ws.dp[w]->n_ctrl;
		dp_test_free_all(ws.dp[w]->ctrl, ws.dp[w]->n_ctrl);
		ws.dp[w]->n_ctrl = 0;
	}
	CU_ASSERT_EQUAL(arps, 3);
	sl_workers_fini(&ws);
	CU_ASSERT_EQUAL(ws.n, 0);
	sl_config_free((struct sl_config *)old);
	sl_config_free(next);
	free(st);
	dp_test_end();
}

static const struct dp_test_case cases[] = {
	DP_SUITE("steer"),
	DP_CASE("owner of a frame", test_owner),
	DP_CASE("hand-off between workers", test_handoff),
	DP_CASE("workers share a config and a ledger", test_workers),
	DP_END,
};

static int
setup(void)
{
	return dp_test_port_create(&port, "t_steer");
}

int
main(int argc, char **argv)
{
	(void)argc;
	return dp_test_main(argv[0], cases, setup, NULL);
}
