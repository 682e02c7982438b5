/* SPDX-License-Identifier: MIT */
/*
 * dp_dag.c - a worker on a ring port for the DAG suites (dp_dag.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_ring.h>

#include "dp_dag.h"
#include "sl_arp.h"
#include "sl_worker.h"

struct dag dag;

static struct dp_test_port port;
static struct rte_ether_addr our_mac;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

uint64_t
dag_rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

void
dag_rng_seed(uint64_t s)
{
	rng_state = s ? s : 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < 8; i++)
		dag_rng();
}

static struct rte_ether_addr
mac_of(uint32_t ip)
{
	struct rte_ether_addr m = {{0x02, 0x00, (uint8_t)(ip >> 24),
				    (uint8_t)(ip >> 16), (uint8_t)(ip >> 8),
				    (uint8_t)ip}};

	return m;
}

static void
learn(uint32_t ip)
{
	struct rte_ether_addr m = mac_of(ip);

	CU_ASSERT_EQUAL(sl_neigh_learn(&dag.dp->neigh, ip, &m,
				       sl_dp_neigh_kind(dag.dp, ip),
				       dag.dp->now),
			0);
}

/* The client's requests as sluiced named them, most recent first. */
#define DAG_REQS 4096
static struct {
	uint64_t req;
	uint64_t id;
} dag_reqs[DAG_REQS];
static unsigned int dag_n_reqs;

int
dag_port_init(void)
{
	dag.sent = calloc(DAG_SENT_MAX, sizeof(*dag.sent));
	if (dag.sent == NULL)
		return -1;
	return dp_test_port_create(&port, "dp_dag");
}

void
dag_port_fini(void)
{
	dp_test_port_flush(&port);
	free(dag.sent);
	dag.sent = NULL;
}

void
dag_open(const char *yaml)
{
	/* A test that stopped at a fatal assertion left its worker. */
	if (dag.dp != NULL)
		dag_close();
	dag.cfg = dp_test_config(yaml);
	CU_ASSERT_PTR_NOT_NULL_FATAL(dag.cfg);
	dag.dp = calloc(1, sizeof(*dag.dp));
	CU_ASSERT_PTR_NOT_NULL_FATAL(dag.dp);
	CU_ASSERT_EQUAL_FATAL(
		sl_dp_init(dag.dp, dag.cfg, port.port_id, dp_test_pool()), 0);
	/* sluiced's request ids (which rendezvous hashing places) as the
	 * same for every worker the suites open, as they are for the life
	 * of one sluiced: placements compare across configs. */
	dag.dp->led->id_key = 0x5eedu;
	our_mac = port.mac;
	if (rte_is_zero_ether_addr(&our_mac)) {
		our_mac = (struct rte_ether_addr){{0x02, 0, 0, 0, 0, 0x01}};
		dag.dp->mac = our_mac;
	}
	dag.t0 = dag.dp->now;
	dag.n_sent = 0;
	dag.bad_frames = 0;
	dag.raw_ids = false;
	dag.arp_quiet = false;
	dag.n_arp_asked = 0;
	dag_n_reqs = 0;
	dp_test_ctl_nacks = dp_test_ctl_acks = dp_test_ctl_probes = 0;
	/* sl_dp_init asked for every instance's MAC; the worker's first
	 * housekeeping runs before any answer comes back. */
	dp_test_take_start_arps(dag.dp);
	sl_dp_housekeeping(dag.dp);
	learn(DAG_CLIENT_IP);
	for (uint16_t p = 0; p < dag.cfg->n_pipelines; p++)
		for (uint16_t s = 0; s < dag.cfg->pipelines[p].n_stages; s++) {
			const struct sl_stage_cfg *st =
				&dag.cfg->pipelines[p].stages[s];

			for (uint16_t i = 0; i < st->n_instances; i++)
				learn(st->instances[i].ep.ip);
		}
	/* The next pass marks every instance reachable (and, past
	 * SL_CTRL_TX_MAX instances, has nothing left to ask). */
	sl_dp_housekeeping(dag.dp);
	dag_expect_reachable();
	CU_ASSERT_EQUAL(dag.dp->n_ctrl, 0);
	/* Tests count the idle scan from the table's first slot. */
	dag.dp->expire_cursor = 0;
	CU_ASSERT_EQUAL(dag.dp->cnt.tx_packets, 0);
}

void
dag_expect_reachable(void)
{
	unsigned int all, n = dp_test_instances_reachable(dag.dp, &all);

	if (n != all)
		printf("\n  %u of %u instances reachable", n, all);
	CU_ASSERT_EQUAL(n, all);
}

void
dag_close(void)
{
	CU_ASSERT_EQUAL(dag.bad_frames, 0);
	sl_dp_fini(dag.dp);
	free(dag.dp);
	dag.dp = NULL;
	sl_config_free(dag.cfg);
	dag.cfg = NULL;
	dp_test_port_flush(&port);
	dag.n_sent = 0;
}

const struct sl_stage_cfg *
dag_stage(uint16_t stage)
{
	return &dag.cfg->pipelines[0].stages[stage - 1];
}

static struct dp_frag
frag_base(uint32_t src_ip, uint16_t src_port)
{
	struct dp_frag f;

	memset(&f, 0, sizeof(f));
	f.src_mac = mac_of(src_ip);
	f.dst_mac = our_mac;
	f.src_ip = src_ip;
	f.src_port = src_port;
	f.dst_ip = DAG_SLUICED_IP;
	f.dst_port = DAG_SLUICED_PORT;
	f.pipeline = dag.cfg->pipelines[0].id;
	return f;
}

struct dp_frag
dag_from_client(uint64_t req, uint32_t seq, uint8_t flags)
{
	struct dp_frag f = frag_base(DAG_CLIENT_IP, DAG_CLIENT_PORT);

	f.depth = 1;
	f.ancestry[0] = req;
	f.seq = seq;
	f.flags = flags;
	return f;
}

struct dp_frag
dag_from_instance(uint16_t stage, uint16_t inst, const uint64_t *ancestry,
		  uint8_t depth, uint32_t seq, uint8_t flags)
{
	const struct sl_endpoint *ep = &dag_stage(stage)->instances[inst].ep;
	struct dp_frag f = frag_base(ep->ip, ep->port);

	f.stage = stage;
	f.depth = depth;
	memcpy(f.ancestry, ancestry, 8u * depth);
	f.seq = seq;
	f.flags = flags;
	return f;
}

static void
remember_request(const struct dp_frag *f)
{
	uint64_t id =
		dp_test_req_to_sluiced(dag.dp, f->pipeline, f->src_ip,
				       f->src_port, f->tenant, f->ancestry[0]);

	if (id == f->ancestry[0])
		return;
	for (unsigned int i = 0; i < dag_n_reqs; i++)
		if (dag_reqs[i].req == f->ancestry[0]) {
			dag_reqs[i].id = id;
			return;
		}
	if (dag_n_reqs == DAG_REQS)
		dag_n_reqs = 0; /* old requests are done with */
	dag_reqs[dag_n_reqs].req = f->ancestry[0];
	dag_reqs[dag_n_reqs].id = id;
	dag_n_reqs++;
}

uint64_t
dag_wire_id(uint64_t req)
{
	for (unsigned int i = 0; i < dag_n_reqs; i++)
		if (dag_reqs[i].req == req)
			return dag_reqs[i].id;
	return req;
}

/* What went to an instance names the request by the client's id. */
static void
unmap_request(struct dag_sent *s)
{
	uint64_t id = dp_test_req_from_sluiced(dag.dp, s->h.ancestry[0]);

	if (id == s->h.ancestry[0])
		return;
	s->h.ancestry[0] = id;
	id = rte_cpu_to_be_64(id);
	memcpy(s->dgram + SL_WIRE_OFF_ANCESTRY, &id, 8);
}

void
dag_capture(void)
{
	struct rte_mbuf *out[64];
	unsigned int k;

	while ((k = dp_test_port_drain(&port, out, RTE_DIM(out))) != 0) {
		k = dp_test_receivers(dag.dp, out, k);
		for (unsigned int i = 0; i < k; i++) {
			const uint8_t *p = rte_pktmbuf_mtod(out[i], uint8_t *);
			size_t len = rte_pktmbuf_data_len(out[i]);
			struct sl_frame fr;
			struct dag_sent *s;
			bool ok;

			/* sluiced asking for a neighbour: it answers (a
			 * reply sluiced sent is just counted). */
			if (len >= 42 && p[12] == 0x08 && p[13] == 0x06) {
				if (p[21] == RTE_ARP_OP_REQUEST) {
					uint32_t tip = (uint32_t)p[38] << 24 |
						       (uint32_t)p[39] << 16 |
						       (uint32_t)p[40] << 8 |
						       p[41];

					if (dag.n_arp_asked < DAG_ARP_ASKED)
						dag.arp_asked[dag.n_arp_asked] =
							tip;
					dag.n_arp_asked++;
					if (!dag.arp_quiet)
						learn(tip);
				}
				dag.n_arp++;
				rte_pktmbuf_free(out[i]);
				continue;
			}

			ok = out[i]->nb_segs == 1 &&
			     sl_wire_parse_frame(p, len, &fr) == SL_WIRE_OK &&
			     fr.src_ip == DAG_SLUICED_IP &&
			     fr.src_port == DAG_SLUICED_PORT &&
			     fr.hdr_off == SL_WIRE_FRAME_HDR_OFF &&
			     dp_test_ipv4_cksum_ok(p + 14, 20) &&
			     fr.dgram_len <= sizeof(s->dgram) &&
			     len == (size_t)SL_WIRE_FRAME_HDR_OFF +
					     fr.dgram_len;
			if (ok) {
				struct sl_frag_hdr h;

				ok = sl_wire_parse(p + fr.hdr_off, fr.dgram_len,
						   &h) == SL_WIRE_OK;
				if (!ok || dag.n_sent == DAG_SENT_MAX)
					goto next;
				s = &dag.sent[dag.n_sent++];
				s->h = h;
				s->dst_ip = fr.dst_ip;
				s->dst_port = fr.dst_port;
				s->dlen = fr.dgram_len;
				memcpy(s->dgram, p + fr.hdr_off, fr.dgram_len);
				if (!dag.raw_ids && fr.dst_ip != DAG_CLIENT_IP)
					unmap_request(s);
			}
		next:
			if (!ok) {
				printf("\n  a sent frame failed its checks");
				dag.bad_frames++;
			}
			rte_pktmbuf_free(out[i]);
		}
	}
}

unsigned int
dag_process(const struct dp_frag *f, unsigned int n)
{
	struct rte_mbuf *pkts[SL_PATH_CAP];
	unsigned int before = dag.n_sent;

	CU_ASSERT_FATAL(n <= SL_BURST);
	for (unsigned int i = 0; i < n; i++) {
		struct dp_frag g = f[i];

		if (g.stage != 0 && !dag.raw_ids)
			g.ancestry[0] = dag_wire_id(g.ancestry[0]);
		pkts[i] = dp_test_frame(&g);
	}
	sl_dp_process(dag.dp, pkts, (uint16_t)n);
	for (unsigned int i = 0; i < n; i++)
		if (f[i].stage == 0)
			remember_request(&f[i]);
	dag_capture();
	return dag.n_sent - before;
}

void
dag_inject(const struct dp_frag *f, unsigned int n)
{
	struct rte_mbuf *pkts[SL_BURST];

	CU_ASSERT_FATAL(n <= SL_BURST);
	for (unsigned int i = 0; i < n; i++) {
		CU_ASSERT_FATAL(f[i].stage == 0);
		pkts[i] = dp_test_frame(&f[i]);
		remember_request(&f[i]);
	}
	CU_ASSERT_EQUAL(rte_ring_enqueue_burst(port.rx, (void **)pkts, n, NULL),
			n);
}

unsigned int
dag_housekeeping(uint64_t dt)
{
	unsigned int before = dag.n_sent;

	dag.dp->now = dag.t0 + dt;
	sl_dp_housekeeping(dag.dp);
	dag_capture();
	return dag.n_sent - before;
}

void
dag_clear(void)
{
	dag.n_sent = 0;
}

unsigned int
dag_tokens(const struct dag_sent *s, struct sl_token *t, unsigned int max)
{
	struct sl_token_iter it;
	unsigned int n = 0;

	sl_token_iter_init(&it, s->dgram + SL_WIRE_HDR_LEN,
			   s->dlen - SL_WIRE_HDR_LEN);
	while (n < max && sl_token_next(&it, &t[n]))
		n++;
	return n;
}

void
dag_expect_drops(int reason, ...)
{
	va_list ap;

	va_start(ap, reason);
	dp_test_expect_drops(dag.dp, reason, ap);
	va_end(ap);
}

int
dag_instance_of(const struct sl_stage_cfg *st, uint32_t ip, uint16_t port_)
{
	for (uint16_t i = 0; i < st->n_instances; i++)
		if (st->instances[i].ep.ip == ip &&
		    st->instances[i].ep.port == port_)
			return i;
	return -1;
}
