/* SPDX-License-Identifier: MIT */
/*
 * test_reconfig.c - live reconfiguration of the packet path: config
 * snapshots republished with sl_dp_publish (no worker running, so the
 * switch happens in the call), instance runtime state by uid.
 *
 * Draining: no new streams, those pinned keep flowing and finish. Adding:
 * a fresh uid, new streams only once its neighbour is resolved. Removing:
 * streams in flight keep their route and the instance's answers are still
 * admitted for the idle timeout. Same layout: counters and pins survive,
 * by uid, whatever the instances' order. A new layout: flows kept
 * (remapped to the pipeline's new index) but routed afresh, and the old
 * snapshot freed at once (ASan: no stale read, no leak).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <rte_arp.h>
#include <rte_byteorder.h>

#include "dp_dag.h"
#include "sl_flow.h"
#include "sl_neigh.h"
#include "sl_worker.h"

#define P_ID 1
#define A0_IP DP_IP(10, 0, 2, 1)
#define A1_IP DP_IP(10, 0, 2, 2)
#define A2_IP DP_IP(10, 0, 2, 9) /* added */
#define A_PORT 8001
#define B_IP DP_IP(10, 0, 3, 1)
#define B_PORT 8002

#define P_STAGES                                                               \
	"    stages:\n"                                                        \
	"      - {name: a, instances: [10.0.2.1:8001, 10.0.2.2:8001]}\n"       \
	"      - {name: b, instances: [10.0.3.1:8002]}\n"

static const char two_yaml[] =
	DAG_YAML_HEAD "pipelines:\n"
		      "  - name: p\n"
		      "    id: 1\n" P_STAGES "    edges:\n"
		      "      - {from: client, to: a}\n"
		      "      - {from: a, to: b}\n"
		      "      - {from: b, to: client}\n";

/* Same layout: a's instances listed the other way round, one more b. */
static const char swapped_yaml[] = DAG_YAML_HEAD
	"pipelines:\n"
	"  - name: p\n"
	"    id: 1\n"
	"    stages:\n"
	"      - {name: a, instances: [10.0.2.2:8001, 10.0.2.1:8001]}\n"
	"      - {name: b, instances: [10.0.3.1:8002, 10.0.3.2:8002]}\n"
	"    edges:\n"
	"      - {from: client, to: a}\n"
	"      - {from: a, to: b}\n"
	"      - {from: b, to: client}\n";

/* A new layout: pipeline q first (p moves to index 1), and p's edge a -> b
 * becomes a buffer edge. */
static const char relayout_yaml[] =
	DAG_YAML_HEAD "pipelines:\n"
		      "  - name: q\n"
		      "    id: 2\n"
		      "    stages:\n"
		      "      - {name: x, instances: [10.0.9.1:8009]}\n"
		      "    edges:\n"
		      "      - {from: client, to: x}\n"
		      "      - {from: x, to: client}\n"
		      "  - name: p\n"
		      "    id: 1\n" P_STAGES "    edges:\n"
		      "      - {from: client, to: a}\n"
		      "      - {from: a, to: b, mode: buffer}\n"
		      "      - {from: b, to: client}\n";

static struct rte_ether_addr
mac_of(uint32_t ip)
{
	struct rte_ether_addr m = {{0x02, 0x00, (uint8_t)(ip >> 24),
				    (uint8_t)(ip >> 16), (uint8_t)(ip >> 8),
				    (uint8_t)ip}};

	return m;
}

/* Client fragment @seq of request @req of pipeline p. */
static struct dp_frag
from_client(uint64_t req, uint32_t seq, uint8_t flags)
{
	struct dp_frag f = dag_from_client(req, seq, flags);

	f.pipeline = P_ID;
	return f;
}

/* Fragment @seq of the answer [@req] of the instance at @ip:@port of
 * stage @stage of p (which need not be in the snapshot any more). */
static struct dp_frag
from_ep(uint32_t ip, uint16_t port, uint16_t stage, uint64_t req, uint32_t seq,
	uint8_t flags)
{
	struct dp_frag f = dag_from_client(req, seq, flags);

	f.pipeline = P_ID;
	f.src_ip = ip;
	f.src_port = port;
	f.src_mac = mac_of(ip);
	f.stage = stage;
	return f;
}

/* Run @f; return where its one frame went (0: nothing sent). */
static uint32_t
send1(struct dp_frag f)
{
	unsigned int n = dag_process(&f, 1);
	uint32_t ip = n == 1 ? dag.sent[dag.n_sent - 1].dst_ip : 0;

	if (n > 1)
		printf("\n  req %lu seq %u: %u frames",
		       (unsigned long)f.ancestry[0], f.seq, n);
	CU_ASSERT(n <= 1);
	dag_clear();
	return ip;
}

/* The runtime state of the instance at @ip:@port of stage @stage (1..)
 * of pipeline index @p in the current snapshot, and its uid. */
static struct sl_instance_state *
inst_at(uint8_t p, uint16_t stage, uint32_t ip, uint16_t port, uint16_t *uid)
{
	const struct sl_stage_cfg *st =
		&dag.dp->cfg->pipelines[p].stages[stage - 1];

	for (uint16_t i = 0; i < st->n_instances; i++)
		if (st->instances[i].ep.ip == ip &&
		    st->instances[i].ep.port == port) {
			if (uid != NULL)
				*uid = st->instances[i].uid;
			CU_ASSERT_PTR_EQUAL(
				sl_dp_instance(dag.dp, p, (uint8_t)(stage - 1),
					       i),
				&dag.dp->inst[st->instances[i].uid]);
			return sl_dp_instance(dag.dp, p, (uint8_t)(stage - 1),
					      i);
		}
	CU_FAIL("no such instance in the snapshot");
	return &dag.dp->inst[SL_MAX_INSTANCE_UIDS - 1];
}

/* Make @next the dataplane's snapshot as sluiced's control plane does
 * (patterns shared, published, the old one freed at once). */
static void
republish(struct sl_config *next)
{
	const struct sl_config *old = NULL;
	uint64_t reconfigs = dag.dp->cnt.reconfigs;

	CU_ASSERT_FALSE(dag.dp->running);
	sl_config_share_patterns(next, dag.cfg);
	CU_ASSERT_EQUAL_FATAL(sl_dp_publish(dag.dp, next, &old), 0);
	CU_ASSERT_PTR_EQUAL(old, dag.cfg);
	CU_ASSERT_PTR_EQUAL(dag.dp->cfg, next);
	CU_ASSERT_PTR_NULL(dag.dp->cfg_next);
	CU_ASSERT_EQUAL(dag.dp->cnt.reconfigs, reconfigs + 1);
	CU_ASSERT_EQUAL(dag.dp->cnt.reconfig_errors, 0);
	sl_config_free((struct sl_config *)old);
	dag.cfg = next;
}

/* A clone of the current snapshot with one instance edit of stage @stage
 * of p; CU-fatal unless the edit returns @want_rc. */
static struct sl_config *
edited(char op, const char *stage, const char *name,
       const struct sl_endpoint *ep, int want_rc)
{
	struct sl_config *next = sl_config_clone(dag.dp->cfg);
	char err[128] = "";
	int rc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(next);
	rc = sl_config_instance_edit(next, op, "p", stage, name, ep, err,
				     sizeof(err));
	if (rc != want_rc)
		printf("\n  edit %c %s: %d (%s), want %d", op, name, rc, err,
		       want_rc);
	CU_ASSERT_EQUAL(rc, want_rc);
	if (rc != 0) {
		sl_config_free(next);
		return NULL;
	}
	return next;
}

/* A snapshot parsed from @yaml, uids carried over from the current one. */
static struct sl_config *
parsed(const char *yaml)
{
	struct sl_config *next = dp_test_config(yaml);
	char err[128] = "";

	CU_ASSERT_PTR_NOT_NULL_FATAL(next);
	CU_ASSERT_EQUAL(
		sl_config_check_replace(dag.dp->cfg, next, err, sizeof(err)),
		0);
	CU_ASSERT_EQUAL(sl_config_assign_uids(next, dag.dp->cfg), 0);
	return next;
}

/* The ARP requests waiting on the control queue: exactly one, for @ip;
 * taken off the queue (the tests read only sluice frames back). */
static void
take_arp_request(uint32_t ip)
{
	CU_ASSERT_EQUAL_FATAL(dag.dp->n_ctrl, 1);
	{
		struct rte_mbuf *m = dag.dp->ctrl[0];
		const struct rte_ether_hdr *eth =
			rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
		const struct rte_arp_hdr *arp =
			(const struct rte_arp_hdr *)(eth + 1);

		CU_ASSERT_EQUAL(eth->ether_type, RTE_BE16(RTE_ETHER_TYPE_ARP));
		CU_ASSERT_EQUAL(arp->arp_opcode, RTE_BE16(RTE_ARP_OP_REQUEST));
		CU_ASSERT_EQUAL(rte_be_to_cpu_32(arp->arp_data.arp_tip), ip);
		rte_pktmbuf_free(m);
	}
	dag.dp->n_ctrl = 0;
}

/* ------------------------------------------------------------- draining */

/*
 * a/0 drains: new streams all go to a/1; the two streams pinned to a/0
 * keep flowing to it until they end; a/0's own answers still pass.
 */
static void
test_drain(void)
{
	struct sl_instance_state *a0, *a1;
	uint16_t u0, u1;

	dp_test_begin();
	dag_open(two_yaml);
	/* Round robin: 1, 3 on a/0; 2, 4 on a/1. */
	for (uint64_t r = 1; r <= 4; r++)
		CU_ASSERT_EQUAL(send1(from_client(r, 0, 0)),
				r % 2 ? A0_IP : A1_IP);
	republish(edited('d', "a", "a/0", NULL, 0));
	CU_ASSERT_TRUE(dag.cfg->pipelines[0].stages[0].instances[0].draining);
	a0 = inst_at(0, 1, A0_IP, A_PORT, &u0);
	a1 = inst_at(0, 1, A1_IP, A_PORT, &u1);
	CU_ASSERT_EQUAL(u0, 0);
	CU_ASSERT_EQUAL(u1, 1);
	CU_ASSERT_EQUAL(a0->streams, 2);
	CU_ASSERT_EQUAL(a0->streams_active, 2);
	CU_ASSERT_TRUE(a0->reachable);
	/* The last instance taking streams cannot drain too. */
	CU_ASSERT_PTR_NULL(edited('d', "a", "a/1", NULL, -EINVAL));
	CU_ASSERT_PTR_NULL(edited('r', "a", "a/1", NULL, -EINVAL));

	/* Six new streams: none on a/0. */
	for (uint64_t r = 5; r <= 10; r++)
		CU_ASSERT_EQUAL(send1(from_client(r, 0, 0)), A1_IP);
	/* 1 and 3 keep flowing to a/0, and end there. */
	for (uint32_t seq = 1; seq <= 2; seq++) {
		uint8_t fl = seq == 2 ? SL_FRAG_F_END : 0;

		CU_ASSERT_EQUAL(send1(from_client(1, seq, fl)), A0_IP);
		CU_ASSERT_EQUAL(send1(from_client(3, seq, fl)), A0_IP);
	}
	/* Its answers still go on to b. */
	CU_ASSERT_EQUAL(send1(from_ep(A0_IP, A_PORT, 1, 1, 0, SL_FRAG_F_END)),
			B_IP);
	/* Still draining: a new stream again goes to a/1. */
	CU_ASSERT_EQUAL(send1(from_client(11, 0, 0)), A1_IP);

	CU_ASSERT_EQUAL(a0->streams, 2);
	CU_ASSERT_EQUAL(a0->streams_active, 0);
	CU_ASSERT_EQUAL(a0->fragments, 2 + 4);
	CU_ASSERT_EQUAL(a1->streams, 2 + 7);
	CU_ASSERT_EQUAL(a1->streams_active, 2 + 7);
	CU_ASSERT_EQUAL(a1->fragments, 2 + 7);
	CU_ASSERT_EQUAL(inst_at(0, 2, B_IP, B_PORT, NULL)->streams, 1);
	CU_ASSERT_EQUAL(dag.dp->cnt.flows.ended, 3);
	dag_expect_drops(-1);
	dag_close();
	dp_test_end();
}

/* ------------------------------------------------------------------ add */

/*
 * a/2 is added: it gets a fresh uid and its MAC is asked for at once.
 * Until its neighbour is resolved (and housekeeping saw it) new streams
 * keep to a/0 and a/1; then round robin takes it in.
 */
static void
test_add(void)
{
	const struct sl_endpoint ep = {A2_IP, A_PORT};
	struct sl_config *next;
	struct sl_instance_state *a2;
	uint16_t next_uid, u2;
	struct rte_ether_addr m = mac_of(A2_IP);
	unsigned int to[4]; /* a/0, a/1, a/2, elsewhere */

	dp_test_begin();
	dag_open(two_yaml);
	next_uid = dag.cfg->next_uid;
	CU_ASSERT_EQUAL(next_uid, 3);
	CU_ASSERT_EQUAL(send1(from_client(1, 0, 0)), A0_IP);
	next = edited('a', "a", "a/2", &ep, 0);
	/* Dirty the slot it gets, as a removed instance would leave it:
	 * the new instance's state starts at zero. */
	dag.dp->inst[next_uid].streams = 77;
	dag.dp->inst[next_uid].fragments = 77;
	republish(next);
	CU_ASSERT_EQUAL(dag.cfg->next_uid, next_uid + 1);
	CU_ASSERT_PTR_NULL(edited('a', "a", "a/2", &ep, -EEXIST));
	a2 = inst_at(0, 1, A2_IP, A_PORT, &u2);
	CU_ASSERT_EQUAL(u2, next_uid);
	for (uint16_t s = 0; s < dag.cfg->pipelines[0].n_stages; s++) {
		const struct sl_stage_cfg *st =
			&dag.cfg->pipelines[0].stages[s];

		for (uint16_t i = 0; i < st->n_instances; i++)
			if (st->instances[i].ep.ip != A2_IP)
				CU_ASSERT_NOT_EQUAL(st->instances[i].uid, u2);
	}
	CU_ASSERT_EQUAL(a2->streams, 0);
	CU_ASSERT_EQUAL(a2->fragments, 0);
	CU_ASSERT_FALSE(a2->reachable);
	take_arp_request(A2_IP);
	/* The worker's housekeeping passes before the answer comes. */
	CU_ASSERT_EQUAL(dag_housekeeping(0), 0);
	CU_ASSERT_FALSE(a2->reachable);

	/* Unresolved: six new streams, none on a/2. */
	memset(to, 0, sizeof(to));
	for (uint64_t r = 2; r <= 7; r++) {
		uint32_t ip = send1(from_client(r, 0, 0));

		to[ip == A0_IP ? 0 : ip == A1_IP ? 1 : ip == A2_IP ? 2 : 3]++;
	}
	CU_ASSERT_EQUAL(to[0], 3);
	CU_ASSERT_EQUAL(to[1], 3);
	CU_ASSERT_EQUAL(to[2], 0);
	CU_ASSERT_EQUAL(to[3], 0);
	CU_ASSERT_EQUAL(a2->streams, 0);

	/* Resolved: after the next housekeeping it takes one in three. */
	CU_ASSERT_EQUAL(sl_neigh_learn(&dag.dp->neigh, A2_IP, &m,
				       SL_NEIGH_INSTANCE, dag.dp->now),
			0);
	CU_ASSERT_EQUAL(dag_housekeeping(0), 0);
	CU_ASSERT_TRUE(a2->reachable);
	dag_expect_reachable();
	memset(to, 0, sizeof(to));
	for (uint64_t r = 8; r <= 13; r++) {
		uint32_t ip = send1(from_client(r, 0, 0));

		to[ip == A0_IP ? 0 : ip == A1_IP ? 1 : ip == A2_IP ? 2 : 3]++;
	}
	CU_ASSERT_EQUAL(to[0], 2);
	CU_ASSERT_EQUAL(to[1], 2);
	CU_ASSERT_EQUAL(to[2], 2);
	CU_ASSERT_EQUAL(to[3], 0);
	CU_ASSERT_EQUAL(a2->streams, 2);
	CU_ASSERT_EQUAL(a2->streams_active, 2);
	CU_ASSERT_EQUAL(a2->fragments, 2);
	/* Its answers are admitted like any instance's. */
	CU_ASSERT_EQUAL(send1(from_ep(A2_IP, A_PORT, 1, 8, 0, 0)), B_IP);
	CU_ASSERT_EQUAL(inst_at(0, 1, A0_IP, A_PORT, NULL)->streams, 1 + 3 + 2);
	CU_ASSERT_EQUAL(inst_at(0, 1, A1_IP, A_PORT, NULL)->streams, 3 + 2);
	dag_expect_drops(-1);
	dag_close();
	dp_test_end();
}

/* --------------------------------------------------------------- remove */

/*
 * a/0 is removed with two streams in flight: 1 (client -> a/0) keeps its
 * route, and a/0's answer [1] (a/0 -> b) is admitted; after its last
 * stream ended, a/0 is still heard for the idle timeout after the last
 * fragment sent to it, then no more.
 */
static void
test_remove(void)
{
	struct sl_instance_state *a0;
	uint64_t t_last;

	dp_test_begin();
	dag_open(two_yaml);
	CU_ASSERT_EQUAL(send1(from_client(1, 0, 0)), A0_IP);
	CU_ASSERT_EQUAL(send1(from_client(2, 0, 0)), A1_IP);
	CU_ASSERT_EQUAL(send1(from_ep(A0_IP, A_PORT, 1, 1, 0, 0)), B_IP);
	a0 = inst_at(0, 1, A0_IP, A_PORT, NULL);
	CU_ASSERT_PTR_EQUAL(a0, &dag.dp->inst[0]);
	republish(edited('r', "a", "a/0", NULL, 0));
	CU_ASSERT_EQUAL(dag.cfg->pipelines[0].stages[0].n_instances, 1);
	CU_ASSERT_PTR_NULL(edited('r', "a", "a/0", NULL, -ENOENT));
	/* Its state stays where the streams in flight find it. */
	CU_ASSERT_EQUAL(a0->streams, 1);
	CU_ASSERT_EQUAL(a0->streams_active, 1);

	/* New streams: a/1 only. */
	CU_ASSERT_EQUAL(send1(from_client(3, 0, 0)), A1_IP);
	CU_ASSERT_EQUAL(send1(from_client(4, 0, 0)), A1_IP);
	/* Stream 1 keeps its route to the removed instance... */
	dag.dp->now = dag.t0 + 10;
	CU_ASSERT_EQUAL(send1(from_client(1, 1, 0)), A0_IP);
	/* ...whose answers are heard, not SRC_NOT_ALLOWED. */
	CU_ASSERT_EQUAL(send1(from_ep(A0_IP, A_PORT, 1, 1, 1, 0)), B_IP);
	dag.dp->now = dag.t0 + 20;
	t_last = dag.dp->now;
	CU_ASSERT_EQUAL(send1(from_client(1, 2, SL_FRAG_F_END)), A0_IP);
	CU_ASSERT_EQUAL(a0->streams_active, 0);
	CU_ASSERT_EQUAL(a0->fragments, 3);
	CU_ASSERT_EQUAL(a0->last_tsc, t_last);
	dag_expect_drops(-1);
	/* Nothing in flight on it: heard for the idle timeout after the
	 * last fragment sent to it. */
	dag.dp->now = t_last + dag.dp->idle_tsc - 1;
	CU_ASSERT_EQUAL(send1(from_ep(A0_IP, A_PORT, 1, 1, 2, SL_FRAG_F_END)),
			B_IP);
	dag_expect_drops(-1);
	dag.dp->now = t_last + dag.dp->idle_tsc;
	CU_ASSERT_EQUAL(send1(from_ep(A0_IP, A_PORT, 1, 5, 0, 0)), 0);
	dag_expect_drops(SL_DROP_SRC_NOT_ALLOWED, 1u, -1);
	/* Not an address of another stage either. */
	dag.dp->now = t_last;
	CU_ASSERT_EQUAL(send1(from_ep(A0_IP, A_PORT, 2, 6, 0, 0)), 0);
	dag_expect_drops(SL_DROP_SRC_NOT_ALLOWED, 2u, -1);

	CU_ASSERT_EQUAL(a0->streams, 1);
	CU_ASSERT_EQUAL(inst_at(0, 1, A1_IP, A_PORT, NULL)->streams, 3);
	CU_ASSERT_EQUAL(inst_at(0, 2, B_IP, B_PORT, NULL)->streams, 1);
	CU_ASSERT_EQUAL(inst_at(0, 2, B_IP, B_PORT, NULL)->fragments, 3);
	dag_close();
	dp_test_end();
}

/* ------------------------------------------------------------ same layout */

/*
 * The file applied again with a's instances the other way round and one
 * more b: same layout. Every instance keeps its uid, counters and the
 * streams pinned to it; the round-robin cursor goes on.
 */
static void
test_counters_survive(void)
{
	struct sl_instance_state *a0, *a1, *b0;
	uint16_t u0, u1, ub, ub1;

	dp_test_begin();
	dag_open(two_yaml);
	CU_ASSERT_EQUAL(send1(from_client(1, 0, 0)), A0_IP);
	CU_ASSERT_EQUAL(send1(from_client(2, 0, 0)), A1_IP);
	CU_ASSERT_EQUAL(send1(from_client(3, 0, 0)), A0_IP);
	CU_ASSERT_EQUAL(send1(from_client(1, 1, 0)), A0_IP);
	CU_ASSERT_EQUAL(send1(from_ep(A0_IP, A_PORT, 1, 1, 0, 0)), B_IP);
	republish(parsed(swapped_yaml));
	CU_ASSERT_EQUAL(dag.cfg->pipelines[0].stages[0].instances[0].ep.ip,
			A1_IP);
	a0 = inst_at(0, 1, A0_IP, A_PORT, &u0);
	a1 = inst_at(0, 1, A1_IP, A_PORT, &u1);
	b0 = inst_at(0, 2, B_IP, B_PORT, &ub);
	inst_at(0, 2, DP_IP(10, 0, 3, 2), B_PORT, &ub1);
	CU_ASSERT_EQUAL(u0, 0);
	CU_ASSERT_EQUAL(u1, 1);
	CU_ASSERT_EQUAL(ub, 2);
	CU_ASSERT_EQUAL(ub1, 3);
	CU_ASSERT_EQUAL(dag.cfg->next_uid, 4);
	/* By index the state moved with the instances. */
	CU_ASSERT_PTR_EQUAL(sl_dp_instance(dag.dp, 0, 0, 1), a0);
	CU_ASSERT_PTR_EQUAL(sl_dp_instance(dag.dp, 0, 0, 0), a1);
	CU_ASSERT_EQUAL(a0->streams, 2);
	CU_ASSERT_EQUAL(a0->streams_active, 2);
	CU_ASSERT_EQUAL(a0->fragments, 3);
	CU_ASSERT_EQUAL(a1->streams, 1);
	CU_ASSERT_EQUAL(a1->streams_active, 1);
	CU_ASSERT_EQUAL(a1->fragments, 1);
	CU_ASSERT_EQUAL(b0->streams, 1);
	CU_ASSERT_EQUAL(b0->fragments, 1);
	/* The new b is not resolved: dp_open learned only the file's. */
	CU_ASSERT_FALSE(
		inst_at(0, 2, DP_IP(10, 0, 3, 2), B_PORT, NULL)->reachable);
	take_arp_request(DP_IP(10, 0, 3, 2));

	/* Pinned streams keep their instance, wherever it is listed. */
	CU_ASSERT_EQUAL(send1(from_client(1, 2, SL_FRAG_F_END)), A0_IP);
	CU_ASSERT_EQUAL(send1(from_client(2, 1, SL_FRAG_F_END)), A1_IP);
	CU_ASSERT_EQUAL(send1(from_ep(A0_IP, A_PORT, 1, 1, 1, SL_FRAG_F_END)),
			B_IP);
	/* The cursor went on (3 picks so far): index 3 % 2 = 1, a/0. */
	CU_ASSERT_EQUAL(send1(from_client(4, 0, 0)), A0_IP);
	CU_ASSERT_EQUAL(a0->streams, 3);
	CU_ASSERT_EQUAL(a0->streams_active, 2);
	CU_ASSERT_EQUAL(a0->fragments, 5);
	CU_ASSERT_EQUAL(a1->streams, 1);
	CU_ASSERT_EQUAL(a1->streams_active, 0);
	CU_ASSERT_EQUAL(a1->fragments, 2);
	CU_ASSERT_EQUAL(b0->streams, 1);
	CU_ASSERT_EQUAL(b0->streams_active, 0);
	CU_ASSERT_EQUAL(b0->fragments, 2);
	CU_ASSERT_EQUAL(dag.dp->cnt.flows.ended, 3);
	dag_expect_drops(-1);
	dag_close();
	dp_test_end();
}

/* ------------------------------------------------------------ new layout */

static struct sl_flow *
flow_of(const struct dp_frag *f)
{
	uint8_t b[DP_TEST_FRAME_MAX];
	struct sl_flow_key key;
	struct dp_frag g = *f;
	size_t off;
	uint32_t idx;

	/* An instance's stream names the request by sluiced's id. */
	if (g.stage != 0)
		g.ancestry[0] = dag_wire_id(g.ancestry[0]);
	f = &g;
	dp_test_build(f, b, sizeof(b), &off);
	sl_flow_key_from_hdr(&key, b + off, f->src_ip, f->src_port);
	idx = sl_flow_lookup(dag.dp->flows, &key);
	return idx == SL_FLOW_NONE ? NULL : sl_flow_at(dag.dp->flows, idx);
}

/*
 * A new layout (q before p, p's a -> b a buffer edge): what the streams
 * in flight kept per edge belongs to the old graph, so each that started
 * downstream is ended explicitly, under the old config, with ABORT
 * (RECONFIG) to whoever had its beginning (before, it lost its route and
 * state silently and went on unrouted, and a guard-blocked stream flowed
 * again). Their entries stay (remapped, ended) so late fragments are
 * after their end; new requests take the new graph. The old snapshot is
 * freed right after the publish.
 */
static void
test_relayout(void)
{
	struct dp_frag f;
	struct sl_flow *fl;
	struct sl_instance_state *a0, *a1, *b0;
	unsigned int to_a0 = 0, to_a1 = 0, to_b = 0;
	uint64_t created;
	uint32_t active;

	dp_test_begin();
	dag_open(two_yaml);
	CU_ASSERT_EQUAL(send1(from_client(1, 0, 0)), A0_IP);
	CU_ASSERT_EQUAL(send1(from_client(2, 0, 0)), A1_IP);
	CU_ASSERT_EQUAL(send1(from_ep(A0_IP, A_PORT, 1, 1, 0, 0)), B_IP);
	created = dag.dp->cnt.flows.created;
	active = dag.dp->flows->active;
	CU_ASSERT_EQUAL(created, 3);
	CU_ASSERT_EQUAL(active, 3);

	republish(parsed(relayout_yaml));
	dag_capture();
	CU_ASSERT_EQUAL(dag.cfg->n_pipelines, 2);
	CU_ASSERT_EQUAL(dag.cfg->pipelines[1].id, P_ID);
	/* Three streams had started: three ABORTs (RECONFIG), seq 1. */
	CU_ASSERT_EQUAL_FATAL(dag.n_sent, 3);
	for (unsigned int i = 0; i < dag.n_sent; i++) {
		const struct dag_sent *s = &dag.sent[i];

		CU_ASSERT_EQUAL(s->h.flags, SL_FRAG_F_ABORT);
		CU_ASSERT_EQUAL(s->h.abort_reason, SL_ABORT_RECONFIG);
		CU_ASSERT_EQUAL(s->h.seq, 1);
		CU_ASSERT_EQUAL(s->dlen, SL_WIRE_HDR_LEN);
		if (s->dst_ip == A0_IP && s->h.ancestry[0] == 1)
			to_a0++;
		else if (s->dst_ip == A1_IP && s->h.ancestry[0] == 2)
			to_a1++;
		else if (s->dst_ip == B_IP && s->h.ancestry[0] == 1 &&
			 s->h.from_stage == 1)
			to_b++;
	}
	CU_ASSERT(to_a0 == 1 && to_a1 == 1 && to_b == 1);
	dag_clear();
	a0 = inst_at(1, 1, A0_IP, A_PORT, NULL);
	a1 = inst_at(1, 1, A1_IP, A_PORT, NULL);
	b0 = inst_at(1, 2, B_IP, B_PORT, NULL);
	CU_ASSERT_EQUAL(a0->streams_active, 0);
	CU_ASSERT_EQUAL(a1->streams_active, 0);
	CU_ASSERT_EQUAL(b0->streams_active, 0);
	CU_ASSERT_EQUAL(a0->streams, 1);
	CU_ASSERT_EQUAL(a1->streams, 1);
	CU_ASSERT_EQUAL(b0->streams, 1);
	/* Kept, remapped, ended: late fragments are behind their end (the
	 * ABORT took their sequence). */
	CU_ASSERT_EQUAL(dag.dp->flows->active, active);
	f = from_client(1, 0, 0);
	fl = flow_of(&f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fl);
	CU_ASSERT_EQUAL(fl->pipeline, 1);
	CU_ASSERT_PTR_NULL(fl->edges);
	f = from_ep(A0_IP, A_PORT, 1, 1, 0, 0);
	fl = flow_of(&f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fl);
	CU_ASSERT_EQUAL(fl->pipeline, 1);
	CU_ASSERT_EQUAL(fl->state, SL_FLOW_ENDED);
	CU_ASSERT_EQUAL(dag.dp->stages[1][0].rr_next, 0);
	/* q's instance is new: asked for. */
	take_arp_request(DP_IP(10, 0, 9, 1));
	CU_ASSERT_EQUAL(send1(from_client(2, 1, 0)), 0);
	CU_ASSERT_EQUAL(send1(from_ep(A0_IP, A_PORT, 1, 1, 1, 0)), 0);
	dag_expect_drops(SL_DROP_DUPLICATE, 2u, -1);

	/* A new request takes the new graph: a/0's answer waits on the
	 * buffer edge to b until its END. */
	CU_ASSERT_EQUAL(send1(from_client(3, 0, SL_FRAG_F_END)), A0_IP);
	f = from_ep(A0_IP, A_PORT, 1, 3, 0, 0);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 0);
	f = from_ep(A0_IP, A_PORT, 1, 3, 1, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(dag_process(&f, 1), 2);
	for (unsigned int i = 0; i < dag.n_sent; i++) {
		CU_ASSERT_EQUAL(dag.sent[i].dst_ip, B_IP);
		CU_ASSERT_EQUAL(dag.sent[i].h.ancestry[0], 3);
		CU_ASSERT_EQUAL(dag.sent[i].h.seq, i);
	}
	dag_clear();
	CU_ASSERT_EQUAL(b0->streams, 2);
	CU_ASSERT_EQUAL(b0->streams_active, 0);
	CU_ASSERT_EQUAL(dag.dp->cnt.flows.created, created + 2);
	CU_ASSERT_EQUAL(dag.dp->cnt.flows.expired, 0);
	dag_expect_drops(SL_DROP_DUPLICATE, 2u, -1);
	dag_close();
	dp_test_end();
}

/*
 * A stream a guard blocked stays blocked across a new layout (issue 8:
 * the new layout wiped its guard state and the rest of it reached the
 * client unfiltered). b's answer names the secret: the client gets the
 * refusal (ABORT, GUARD), b an ABORT (GUARD). A new layout (q first, p's
 * a -> b a buffer edge, the guard still on b -> client) is published;
 * the ABORT (RECONFIG) that ends b's stream is dropped by the guard
 * that blocked it (GUARD_BLOCKED), so nobody hears more. What b sends
 * after it, the name again and clean text with the END, reaches nobody
 * (DUPLICATE: the ABORT took its seq; AFTER_END), nothing leaks.
 */
static void
test_relayout_guard_blocked(void)
{
#define GUARD_HEAD                                                             \
	DAG_YAML_HEAD "guards:\n"                                              \
		      "  - {name: g, action: block, literals: [secret],\n"     \
		      "     refusal: \"not that.\"}\n"                         \
		      "pipelines:\n"
#define GUARD_P                                                                \
	"  - name: p\n"                                                        \
	"    id: 1\n" P_STAGES "    edges:\n"                                  \
	"      - {from: client, to: a}\n"
	static const char yaml[] =
		GUARD_HEAD GUARD_P "      - {from: a, to: b}\n"
				   "      - {from: b, to: client, guard: g}\n";
	static const char yaml2[] =
		GUARD_HEAD "  - name: q\n"
			   "    id: 2\n"
			   "    stages:\n"
			   "      - {name: x, instances: [10.0.9.1:8009]}\n"
			   "    edges:\n"
			   "      - {from: client, to: x}\n"
			   "      - {from: x, to: client}\n" GUARD_P
			   "      - {from: a, to: b, mode: buffer}\n"
			   "      - {from: b, to: client, guard: g}\n";
#undef GUARD_HEAD
#undef GUARD_P
	static const char *const named[] = {"the secret is out"};
	static const char *const again[] = {"secret, once more"};
	static const char *const clean[] = {"and a clean end"};
	struct sl_token t[2];
	struct sl_flow *fl;
	struct dp_frag f;
	uint64_t blocks;

	dp_test_begin();
	dag_open(yaml);
	CU_ASSERT_EQUAL(send1(from_client(1, 0, SL_FRAG_F_END)), A0_IP);
	CU_ASSERT_EQUAL(send1(from_ep(A0_IP, A_PORT, 1, 1, 0, SL_FRAG_F_END)),
			B_IP);
	/* b names the secret: the refusal in its place, b told. */
	f = from_ep(B_IP, B_PORT, 2, 1, 0, 0);
	f.n_tokens = 1;
	f.token_texts = named;
	CU_ASSERT_EQUAL_FATAL(dag_process(&f, 1), 2);
	/* b's ABORT leaves first, then the client's refusal. */
	CU_ASSERT_EQUAL(dag.sent[0].dst_ip, B_IP);
	CU_ASSERT_EQUAL(dag.sent[0].h.flags, SL_FRAG_F_ABORT);
	CU_ASSERT_EQUAL(dag.sent[0].h.abort_reason, SL_ABORT_GUARD);
	CU_ASSERT_EQUAL(dag.sent[1].dst_ip, DAG_CLIENT_IP);
	CU_ASSERT_EQUAL(dag.sent[1].h.flags, SL_FRAG_F_ABORT);
	CU_ASSERT_EQUAL(dag.sent[1].h.abort_reason, SL_ABORT_GUARD);
	CU_ASSERT_EQUAL(dag.sent[1].h.seq, 0);
	CU_ASSERT_EQUAL_FATAL(dag_tokens(&dag.sent[1], t, 2), 1);
	CU_ASSERT(t[0].len == strlen("not that.") &&
		  memcmp(t[0].text, "not that.", t[0].len) == 0);
	blocks = dag.dp->cnt.guard_blocks;
	CU_ASSERT_EQUAL(blocks, 1);
	dag_expect_drops(-1);
	dag_clear();

	republish(parsed(yaml2));
	dag_capture();
	/* The ABORT (RECONFIG) that ended b's stream met the guard that
	 * blocked it: dropped there, nobody told anything more (q's new
	 * instance is asked for). The entry stays, ended. */
	CU_ASSERT_EQUAL(dag.n_sent, 0);
	take_arp_request(DP_IP(10, 0, 9, 1));
	dag_expect_drops(SL_DROP_GUARD_BLOCKED, 1u, -1);
	f = from_ep(B_IP, B_PORT, 2, 1, 1, 0);
	fl = flow_of(&f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fl);
	CU_ASSERT_EQUAL(fl->pipeline, 1);
	CU_ASSERT_EQUAL(fl->state, SL_FLOW_ENDED);
	/* The rest of b's answer: the name again (its seq taken by the
	 * ABORT), then clean text with the END. Neither reaches anyone. */
	f = from_ep(B_IP, B_PORT, 2, 1, 1, 0);
	f.n_tokens = 1;
	f.token_texts = again;
	CU_ASSERT_EQUAL(dag_process(&f, 1), 0);
	f = from_ep(B_IP, B_PORT, 2, 1, 2, SL_FRAG_F_END);
	f.n_tokens = 1;
	f.token_texts = clean;
	CU_ASSERT_EQUAL(dag_process(&f, 1), 0);
	CU_ASSERT_EQUAL(dag.n_sent, 0);
	CU_ASSERT_EQUAL(dag.dp->cnt.guard_blocks, blocks);
	dag_expect_drops(SL_DROP_GUARD_BLOCKED, 1u, SL_DROP_DUPLICATE, 1u,
			 SL_DROP_AFTER_END, 1u, -1);
	dag_close();
	dp_test_end();
}

/*
 * A stream of stage b that had delivered nothing (its fragment waits in
 * the reorder buffer) outlives a new layout in which p has no stage b.
 * When it expires, its ABORT has no edge to leave on: it is dropped
 * (UNKNOWN_STAGE) and the mbuf goes back to the pool (found by
 * fuzz_dataplane: fanout freed nothing with no edge, one mbuf lost per
 * such stream).
 */
static void
test_relayout_stage_gone(void)
{
	static const char one_yaml[] = DAG_YAML_HEAD
		"pipelines:\n"
		"  - name: p\n"
		"    id: 1\n"
		"    stages:\n"
		"      - {name: a, instances: [10.0.2.1:8001, 10.0.2.2:8001]}\n"
		"    edges:\n"
		"      - {from: client, to: a}\n"
		"      - {from: a, to: client}\n";

	unsigned int in_use;

	dp_test_begin();
	dag_open(two_yaml);
	in_use = rte_mempool_in_use_count(dp_test_pool());
	CU_ASSERT_EQUAL(send1(from_ep(B_IP, B_PORT, 2, 1, 3, 0)), 0);
	CU_ASSERT_EQUAL(dag.dp->led->held_total, 1);
	republish(parsed(one_yaml));
	dag_capture();
	CU_ASSERT_EQUAL(dag.n_sent, 0);
	CU_ASSERT_EQUAL(dag.dp->flows->active, 1);
	/* Idle: the stream expires (its held fragment with it), one
	 * slice of the table per pass. */
	for (uint64_t ms = 3000; ms < 6000; ms += 10)
		dag_housekeeping(ms * (dag.dp->tsc_hz / 1000));
	CU_ASSERT_EQUAL(dag.n_sent, 0);
	CU_ASSERT_EQUAL(dag.dp->flows->active, 0);
	CU_ASSERT_EQUAL(dag.dp->led->held_total, 0);
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(dp_test_pool()), in_use);
	dag_expect_drops(SL_DROP_UNKNOWN_STAGE, 1u, SL_DROP_EXPIRED, 1u, -1);
	dag_close();
	dp_test_end();
}

/*
 * An apply whose derived state cannot be built (here: operator state
 * the worker cannot allocate, a top-k whose table could never fit its
 * groups) changes nothing: sl_dp_publish says why, the running config,
 * its streams and routes stay, and traffic goes on. Before, the worker
 * took the config with NULL state and the next fragment crashed it.
 */
static void
test_failed_apply_changes_nothing(void)
{
	static const char bad_yaml[] = DAG_YAML_HEAD
		"pipelines:\n"
		"  - name: p\n"
		"    id: 1\n" P_STAGES
		"      - {name: t, operator: topk, k: 64, aggregation: 1,\n"
		"         max_groups: 1048576}\n"
		"    edges:\n"
		"      - {from: client, to: a}\n"
		"      - {from: a, to: b}\n"
		"      - {from: b, to: t}\n"
		"      - {from: t, to: client}\n";
	struct sl_config *next;
	const struct sl_config *before, *old = NULL;
	int rc;

	dp_test_begin();
	dag_open(two_yaml);
	before = dag.dp->cfg;
	CU_ASSERT_EQUAL(send1(from_client(1, 0, 0)), A0_IP);
	next = parsed(bad_yaml);
	rc = sl_dp_publish(dag.dp, next, &old);
	CU_ASSERT(rc < 0);
	CU_ASSERT_PTR_NULL(old);
	CU_ASSERT_PTR_EQUAL(dag.dp->cfg, before);
	CU_ASSERT_EQUAL(dag.dp->cnt.reconfig_errors, 1);
	CU_ASSERT_EQUAL(dag.dp->cnt.reconfigs, 0);
	sl_config_free(next);
	/* The stream in flight keeps its route; nothing was aborted. */
	dag_capture();
	CU_ASSERT_EQUAL(dag.n_sent, 0);
	CU_ASSERT_EQUAL(send1(from_client(1, 1, 0)), A0_IP);
	CU_ASSERT_EQUAL(send1(from_client(2, 0, 0)), A1_IP);
	dag_expect_drops(-1);
	dag_close();
	dp_test_end();
}

/*
 * An EditGuard that grows its guard's per-stream state past the pool's
 * elements (a 2,000-byte literal: the bytes held back grow with it) gets
 * a larger pool; streams in flight keep their states in the old one,
 * which is freed once they are all back. Before, the same-layout
 * snapshot kept the old pool and every new stream on the edge was
 * dropped (GUARD_STATE_FULL) until a layout change.
 */
static void
test_guard_edit_grows(void)
{
	static const char yaml[] = DAG_YAML_HEAD
		"guards:\n"
		"  - {name: g, action: block, literals: [secret]}\n"
		"pipelines:\n"
		"  - name: p\n"
		"    id: 1\n" P_STAGES "    edges:\n"
		"      - {from: client, to: a, guard: g}\n"
		"      - {from: a, to: b}\n"
		"      - {from: b, to: client}\n";
	static const char *const hello[] = {"hello "}, *const world[] = {
							       "world"};
	static char big[2001];
	struct rte_mempool *p1;
	struct sl_config *next;
	struct dp_frag f;
	char err[256] = "";
	uint64_t t_ms;

	memset(big, 'x', sizeof(big) - 1);
	dp_test_begin();
	dag_open(yaml);
	t_ms = dag.dp->tsc_hz / 1000;
	f = from_client(1, 0, 0);
	f.n_tokens = 1;
	f.token_texts = hello;
	CU_ASSERT_EQUAL(send1(f), A0_IP);
	p1 = dag.dp->guard_pool;
	CU_ASSERT_PTR_NOT_NULL_FATAL(p1);
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(p1), 1);

	next = sl_config_clone(dag.dp->cfg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(next);
	CU_ASSERT_EQUAL_FATAL(sl_config_guard_edit(next, "g", false, false, big,
						   err, sizeof(err)),
			      0);
	republish(next);
	CU_ASSERT_PTR_NOT_NULL_FATAL(dag.dp->guard_pool);
	CU_ASSERT_PTR_NOT_EQUAL(dag.dp->guard_pool, p1);
	CU_ASSERT(dag.dp->guard_pool->elt_size > p1->elt_size);
	CU_ASSERT_EQUAL(dag.dp->n_guard_retired, 1);
	CU_ASSERT_PTR_EQUAL(dag.dp->guard_retired[0], p1);

	/* A new stream is filtered by the edited rules, in the new pool. */
	f = from_client(2, 0, 0);
	f.n_tokens = 1;
	f.token_texts = hello;
	CU_ASSERT_EQUAL(send1(f), A1_IP);
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(dag.dp->guard_pool), 1);
	/* The stream in flight goes on with the state it started with. */
	f = from_client(1, 1, SL_FRAG_F_END);
	f.n_tokens = 1;
	f.token_texts = world;
	CU_ASSERT_EQUAL(send1(f), A0_IP);
	f = from_client(2, 1, SL_FRAG_F_END);
	f.n_tokens = 1;
	f.token_texts = world;
	CU_ASSERT_EQUAL(send1(f), A1_IP);
	CU_ASSERT_EQUAL(dag.dp->cnt.drops[SL_DROP_GUARD_STATE_FULL], 0);
	dag_clear();
	/* Both requests idle out (no answer) and linger out: every state is
	 * back and the old pool freed. */
	for (uint64_t t = 100; t <= 4000; t += 100)
		dag_housekeeping(t * t_ms);
	CU_ASSERT_EQUAL(dag.dp->flows->active, 0);
	CU_ASSERT_EQUAL(dag.dp->n_guard_retired, 0);
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(dag.dp->guard_pool), 0);
	dag_close();
	dp_test_end();
}

/*
 * A new layout drops the operators' groups, but a result stream that
 * already ended still lingers: a new group of the same key (a second
 * instance's answer, after the change) must not send a second result on
 * it. Before, the client got a count after the END of its result.
 */
static void
test_relayout_result_once(void)
{
#define OP_STAGES                                                              \
	"    stages:\n"                                                        \
	"      - {name: a, instances: [10.0.2.1:8001, 10.0.2.2:8001]}\n"       \
	"      - {name: n, operator: count, aggregation: 1}\n"
	static const char yaml[] =
		DAG_YAML_HEAD "pipelines:\n"
			      "  - name: p\n"
			      "    id: 1\n" OP_STAGES "    edges:\n"
			      "      - {from: client, to: a}\n"
			      "      - {from: a, to: n}\n"
			      "      - {from: n, to: client}\n";
	static const char yaml2[] =
		DAG_YAML_HEAD "pipelines:\n"
			      "  - name: p\n"
			      "    id: 1\n" OP_STAGES
			      "      - {name: b, instances: [10.0.3.1:8002]}\n"
			      "    edges:\n"
			      "      - {from: client, to: a}\n"
			      "      - {from: a, to: n}\n"
			      "      - {from: a, to: b}\n"
			      "      - {from: n, to: client}\n"
			      "      - {from: b, to: client}\n";
#undef OP_STAGES
	static const char *const tok[] = {"x"};
	struct dp_frag f;
	unsigned int to_client = 0;

	dp_test_begin();
	dag_open(yaml);
	CU_ASSERT_EQUAL(send1(from_client(1, 0, SL_FRAG_F_END)), A0_IP);
	/* a/0's answer: the count's group completes, its result ends. */
	f = from_ep(A0_IP, A_PORT, 1, 1, 0, SL_FRAG_F_END);
	f.n_tokens = 1;
	f.token_texts = tok;
	dag_process(&f, 1);
	for (unsigned int i = 0; i < dag.n_sent; i++)
		to_client += dag.sent[i].dst_ip == DAG_CLIENT_IP;
	CU_ASSERT(to_client >= 1);
	CU_ASSERT_EQUAL(dag.sent[dag.n_sent - 1].dst_ip, DAG_CLIENT_IP);
	CU_ASSERT(dag.sent[dag.n_sent - 1].h.flags & SL_FRAG_F_END);
	dag_clear();

	republish(parsed(yaml2));
	dag_capture();
	dag_clear();
	/* a/1 answers the same request after the change: a new group. */
	f = from_ep(A1_IP, A_PORT, 1, 1, 0, SL_FRAG_F_END);
	f.n_tokens = 1;
	f.token_texts = tok;
	dag_process(&f, 1);
	to_client = 0;
	for (unsigned int i = 0; i < dag.n_sent; i++)
		to_client += dag.sent[i].dst_ip == DAG_CLIENT_IP;
	CU_ASSERT_EQUAL(to_client, 0);
	dag_close();
	dp_test_end();
}

static const struct dp_test_case cases[] = {
	DP_SUITE("reconfig"),
	DP_CASE("drain: no new streams, pinned ones finish", test_drain),
	DP_CASE("add: fresh uid, new streams once resolved", test_add),
	DP_CASE("remove: streams in flight keep route, answers heard",
		test_remove),
	DP_CASE("same layout: uids, counters and pins survive",
		test_counters_survive),
	DP_CASE("new layout: started streams ABORT (RECONFIG), old freed",
		test_relayout),
	DP_CASE("new layout: a guard-blocked stream stays blocked",
		test_relayout_guard_blocked),
	DP_CASE("new layout: a stream of a stage gone expires clean",
		test_relayout_stage_gone),
	DP_CASE("a failed apply changes nothing",
		test_failed_apply_changes_nothing),
	DP_CASE("a guard edit grows its states: a larger pool",
		test_guard_edit_grows),
	DP_CASE("new layout: an ended result is not sent again",
		test_relayout_result_once),
	DP_END,
};

int
main(int argc, char **argv)
{
	(void)argc;
	return dp_test_main(argv[0], cases, dag_port_init, dag_port_fini);
}
