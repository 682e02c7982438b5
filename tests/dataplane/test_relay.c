/* SPDX-License-Identifier: MIT */
/*
 * test_relay.c - cluster mode's relay (dataplane/sl_relay.h): node n2's
 * sluiced forwarding frames as a router between another node's sluiced
 * and its own instances, and what it knows of the other nodes.
 *
 * - in: n1's sluiced to an instance here goes to the instance's MAC from
 *   sluiced's, TTL one less, the IPv4 checksum valid, every other byte as
 *   it came (IPv4 options too); relayed_in;
 * - out: an instance here to n1's sluiced goes to n1's MAC, learned from
 *   n1's ARP (kind SL_NEIGH_NODE, answered); relayed_out;
 * - TTL 1 dropped (RELAY_TTL); a next hop whose MAC is not known dropped
 *   (RELAY_NO_NEIGHBOR) with one ARP request for it, not two;
 * - NOT_FOR_US, never relayed: from an address or port that is no node's
 *   sluiced, between two other nodes, to another node's instance, to or
 *   from sluiced's own address, and anything while the config is not
 *   localized (its node addresses are nobody then: their ARP ignored);
 * - another node's instance (SL_NEIGH_VIA) is never asked for, bound to
 *   its node's MAC by housekeeping (sl_relay_refresh), rebound when that
 *   changes, unbound when the node is forgotten or goes stale; a route to
 *   it uses that MAC; neither an ARP for its address nor a client's
 *   request from it rebinds it;
 * - a snapshot marking n3's instances down: they die (instances_died,
 *   their pinned streams ABORT (ENGINE)), take no new streams and get no
 *   PROBE.
 *
 * A worker on a ring port of its own (dp_test.h), time driven by the
 * test; every frame sent is read back byte for byte; every test ends with
 * the mempool back at its starting in-use count and the neighbour table's
 * counts equal to what its entries say.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <rte_arp.h>
#include <rte_byteorder.h>

#include "dp_test.h"
#include "sl_arp.h"
#include "sl_dp.h"
#include "sl_frag.h"
#include "sl_neigh.h"
#include "sl_path.h"
#include "sl_worker.h"

#define N1_IP DP_IP(10, 0, 0, 1)
#define N2_IP DP_IP(10, 0, 0, 2) /* this sluiced, once localized */
#define N3_IP DP_IP(10, 0, 0, 3)
#define NODE_PORT 7700
#define OWN_IP DP_IP(10, 0, 0, 9) /* sluiced: in the file */
#define A1_IP DP_IP(10, 0, 2, 1)  /* stage a's instance on n1 */
#define A2_IP DP_IP(10, 0, 2, 2)  /* ... on n2 */
#define A3_IP DP_IP(10, 0, 2, 3)  /* ... on n3 */
#define A_PORT 8001
#define R3_IP DP_IP(10, 0, 3, 3) /* stage r's only instance, on n3 */
#define R_PORT 8002
#define CLIENT_IP DP_IP(10, 0, 1, 5)
#define CLIENT_PORT 40000
#define STRANGER_IP DP_IP(10, 0, 1, 7) /* a client, no node */

#define CLUSTER_HEAD                                                           \
	"sluiced: {address: 10.0.0.9, port: 7700}\n"                           \
	"flows: {size: 1024, idle_timeout_ms: 1000, reorder_window: 8,\n"      \
	"        buffer_max: 128}\n"                                           \
	"clients: [10.0.1.0/24, 10.0.3.0/24]\n"                                \
	"nodes:\n"                                                             \
	"  - {name: n1, address: 10.0.0.1}\n"                                  \
	"  - {name: n2, address: 10.0.0.2}\n"                                  \
	"  - {name: n3, address: 10.0.0.3}\n"

/* p: stage a on every node; q: stage r on n3 alone. */
#define CLUSTER_PIPELINES                                                      \
	"pipelines:\n"                                                         \
	"  - name: p\n"                                                        \
	"    id: 1\n"                                                          \
	"    stages:\n"                                                        \
	"      - name: a\n"                                                    \
	"        policy: round_robin\n"                                        \
	"        instances:\n"                                                 \
	"          - {address: \"10.0.2.1:8001\", node: n1}\n"                 \
	"          - {address: \"10.0.2.2:8001\", node: n2}\n"                 \
	"          - {address: \"10.0.2.3:8001\", node: n3}\n"                 \
	"    edges:\n"                                                         \
	"      - {from: client, to: a}\n"                                      \
	"      - {from: a, to: client}\n"                                      \
	"  - name: q\n"                                                        \
	"    id: 2\n"                                                          \
	"    stages:\n"                                                        \
	"      - name: r\n"                                                    \
	"        instances:\n"                                                 \
	"          - {address: \"10.0.3.3:8002\", node: n3}\n"                 \
	"    edges:\n"                                                         \
	"      - {from: client, to: r}\n"                                      \
	"      - {from: r, to: client}\n"

static const char cluster_yaml[] =
	CLUSTER_HEAD "liveness: {probe_ms: 0}\n" CLUSTER_PIPELINES;
static const char cluster_live_yaml[] = CLUSTER_HEAD
	"liveness: {probe_ms: 100, dead_ms: 1000}\n" CLUSTER_PIPELINES;

static struct dp_test_port port;
static struct sl_config *cfg;
static struct sl_dp *dp;
static uint64_t t0, ms;

/* What sluiced sent, byte for byte, in order. */
#define SENT_MAX 64
static struct {
	uint16_t len;
	uint8_t b[DP_TEST_FRAME_MAX];
} sent[SENT_MAX];
static unsigned int n_sent;

/* The ARP requests sl_dp_init queued (their targets). */
static unsigned int n_start_arps;
static uint32_t start_arps[16];

static const struct rte_ether_addr evil_mac = {{0x02, 0xee, 0, 0, 0, 0x66}};

static struct rte_ether_addr
mac_of(uint32_t ip)
{
	struct rte_ether_addr m = {{0x02, 0x00, (uint8_t)(ip >> 24),
				    (uint8_t)(ip >> 16), (uint8_t)(ip >> 8),
				    (uint8_t)ip}};

	return m;
}

static uint32_t
ld32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static int
relay_port_init(void)
{
	return dp_test_port_create(&port, "dp_relay");
}

static void
relay_port_fini(void)
{
	dp_test_port_flush(&port);
}

/* Take what sluiced sent into sent[]; return how many frames. */
static unsigned int
capture(void)
{
	struct rte_mbuf *out[32];
	unsigned int k, before = n_sent;

	while ((k = dp_test_port_drain(&port, out, RTE_DIM(out))) != 0)
		for (unsigned int i = 0; i < k; i++) {
			uint16_t len = rte_pktmbuf_data_len(out[i]);

			CU_ASSERT(out[i]->nb_segs == 1 &&
				  len <= DP_TEST_FRAME_MAX);
			if (n_sent < SENT_MAX && len <= DP_TEST_FRAME_MAX) {
				sent[n_sent].len = len;
				memcpy(sent[n_sent].b,
				       rte_pktmbuf_mtod(out[i], uint8_t *),
				       len);
				n_sent++;
			}
			rte_pktmbuf_free(out[i]);
		}
	return n_sent - before;
}

/* The neighbour table's counts are what its entries say. */
static void
neigh_audit(void)
{
	const struct sl_neigh_table *t = &dp->neigh;
	uint32_t entries = 0, unresolved = 0, clients = 0;

	for (uint32_t i = 0; i < SL_NEIGH_SIZE; i++) {
		if (t->e[i].ip == 0)
			continue;
		entries++;
		unresolved += !t->e[i].resolved;
		clients += t->e[i].kind == SL_NEIGH_CLIENT;
	}
	if (entries != t->n_entries || unresolved != t->n_unresolved ||
	    clients != t->n_clients)
		printf("\n  neighbours: %u/%u entries, %u/%u unresolved, "
		       "%u/%u clients (counted/said)",
		       entries, t->n_entries, unresolved, t->n_unresolved,
		       clients, t->n_clients);
	CU_ASSERT_EQUAL(entries, t->n_entries);
	CU_ASSERT_EQUAL(unresolved, t->n_unresolved);
	CU_ASSERT_EQUAL(clients, t->n_clients);
}

/* Start a worker on @yaml, localized to @node (NULL: not localized). */
static void
relay_open(const char *yaml, const char *node)
{
	char err[256];

	cfg = dp_test_config(yaml);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	if (node != NULL) {
		int rc = sl_config_localize(cfg, node, err, sizeof(err));

		if (rc != 0)
			printf("\n  localize: %s", err);
		CU_ASSERT_EQUAL_FATAL(rc, 0);
	}
	dp = calloc(1, sizeof(*dp));
	CU_ASSERT_PTR_NOT_NULL_FATAL(dp);
	CU_ASSERT_EQUAL_FATAL(sl_dp_init(dp, cfg, port.port_id, dp_test_pool()),
			      0);
	if (rte_is_zero_ether_addr(&port.mac))
		dp->mac = (struct rte_ether_addr){{0x02, 0, 0, 0, 0, 0x01}};
	else
		dp->mac = port.mac;
	t0 = dp->now;
	ms = dp->tsc_hz / 1000;
	n_sent = 0;
	/* What sl_dp_init asked for, before any housekeeping. */
	n_start_arps = 0;
	for (uint32_t i = 0; i < dp->n_ctrl; i++) {
		const uint8_t *p = rte_pktmbuf_mtod(dp->ctrl[i], uint8_t *);

		CU_ASSERT_EQUAL(rte_pktmbuf_data_len(dp->ctrl[i]), 42);
		CU_ASSERT(p[12] == 0x08 && p[13] == 0x06 && p[21] == 1);
		if (n_start_arps < RTE_DIM(start_arps))
			start_arps[n_start_arps++] = ld32(p + 38);
		rte_pktmbuf_free(dp->ctrl[i]);
	}
	dp->n_ctrl = 0;
}

static void
relay_close(void)
{
	neigh_audit();
	sl_dp_fini(dp);
	free(dp);
	dp = NULL;
	sl_config_free(cfg);
	cfg = NULL;
	dp_test_port_flush(&port);
}

static void
at(uint64_t dt_ms)
{
	dp->now = t0 + dt_ms * ms;
}

/* Housekeeping at t0 + @dt_ms; return the frames it sent. */
static unsigned int
housekeeping(uint64_t dt_ms)
{
	at(dt_ms);
	sl_dp_housekeeping(dp);
	return capture();
}

/* Run @len bytes of @frame through the worker; return the frames sent. */
static unsigned int
inject(const uint8_t *frame, size_t len)
{
	struct rte_mbuf *m = dp_test_mbuf(frame, len);

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	sl_dp_process(dp, &m, 1);
	return capture();
}

/* An ARP @op from @sip at @sha to sluiced; return the frames sent. */
static unsigned int
arp_from(uint16_t op, uint32_t sip, const struct rte_ether_addr *sha)
{
	uint8_t b[42];
	bool request = op == RTE_ARP_OP_REQUEST;

	dp_test_arp(b, request ? NULL : &dp->mac, sha, op, sip,
		    request ? NULL : &dp->mac, dp->cfg->listen.ip);
	return inject(b, sizeof(b));
}

/* A sluice fragment's frame from @sip:@sport (MAC @smac) to @dip:@dport
 * through sluiced's MAC, with @opts words of IPv4 options and TTL @ttl
 * (checksum made again); return its length. */
static size_t
frame(uint8_t *b, const struct rte_ether_addr *smac, uint32_t sip,
      uint16_t sport, uint32_t dip, uint16_t dport, uint8_t opts, uint8_t ttl)
{
	struct dp_frag f;
	size_t len, ihl = SL_IPV4_HDR_LEN + 4u * opts;

	memset(&f, 0, sizeof(f));
	f.src_mac = *smac;
	f.dst_mac = dp->mac;
	f.src_ip = sip;
	f.src_port = sport;
	f.dst_ip = dip;
	f.dst_port = dport;
	f.ip_options = opts;
	f.pipeline = 1;
	f.stage = 1;
	f.depth = 1;
	f.ancestry[0] = 0x0123456789abcdefull;
	f.seq = 7;
	f.n_tokens = 3;
	f.tokens[0] = "relayed ";
	f.tokens[1] = "as they ";
	f.tokens[2] = "came";
	len = dp_test_build(&f, b, DP_TEST_FRAME_MAX, NULL);
	b[SL_ETHER_HDR_LEN + 8] = ttl;
	sl_wire_st16(b + SL_ETHER_HDR_LEN + 10, 0);
	sl_wire_st16(b + SL_ETHER_HDR_LEN + 10,
		     (uint16_t)~sl_wire_ipv4_sum(b + SL_ETHER_HDR_LEN, ihl));
	return len;
}

/* sent[@i] is @in (@len bytes) as a router sends it on to @to: the MACs
 * @to's and sluiced's, TTL one less, the header checksum made again,
 * every other byte the same. */
static void
expect_relayed(unsigned int i, const uint8_t *in, size_t len,
	       const struct rte_ether_addr *to)
{
	uint8_t want[DP_TEST_FRAME_MAX];
	size_t ihl = (in[SL_ETHER_HDR_LEN] & 0x0fu) * 4u;

	CU_ASSERT_FATAL(i < n_sent);
	memcpy(want, in, len);
	memcpy(want, to, 6);
	memcpy(want + 6, &dp->mac, 6);
	want[SL_ETHER_HDR_LEN + 8]--;
	sl_wire_st16(want + SL_ETHER_HDR_LEN + 10, 0);
	sl_wire_st16(want + SL_ETHER_HDR_LEN + 10,
		     (uint16_t)~sl_wire_ipv4_sum(want + SL_ETHER_HDR_LEN, ihl));
	CU_ASSERT_EQUAL(sent[i].len, len);
	CU_ASSERT_EQUAL(memcmp(sent[i].b, want, len), 0);
	CU_ASSERT(dp_test_ipv4_cksum_ok(sent[i].b + SL_ETHER_HDR_LEN, ihl));
	/* The datagram, header and tokens, byte for byte. */
	CU_ASSERT_EQUAL(memcmp(sent[i].b + SL_ETHER_HDR_LEN + ihl,
			       in + SL_ETHER_HDR_LEN + ihl,
			       len - SL_ETHER_HDR_LEN - ihl),
			0);
}

/* sent[@i] is an ARP @op from sluiced for @tip. */
static bool
is_arp(unsigned int i, uint16_t op, uint32_t tip)
{
	const uint8_t *p = sent[i].b;

	return i < n_sent && sent[i].len == 42 && p[12] == 0x08 &&
	       p[13] == 0x06 && p[20] == 0 && p[21] == op &&
	       memcmp(p + 6, &dp->mac, 6) == 0 &&
	       ld32(p + 28) == dp->cfg->listen.ip && ld32(p + 38) == tip;
}

/* ARP requests for @tip among sent[]. */
static unsigned int
arps_for(uint32_t tip)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < n_sent; i++)
		n += is_arp(i, RTE_ARP_OP_REQUEST, tip);
	return n;
}

static void
expect_drops(int reason, ...)
{
	va_list ap;

	va_start(ap, reason);
	dp_test_expect_drops(dp, reason, ap);
	va_end(ap);
}

static const struct sl_neigh_entry *
entry(uint32_t ip)
{
	bool found;
	const struct sl_neigh_entry *e = sl_neigh_find(&dp->neigh, ip, &found);

	return e != NULL && found ? e : NULL;
}

/* @ip's entry is of @kind and bound to @mac (NULL: unresolved). */
static void
expect_entry(uint32_t ip, enum sl_neigh_kind kind,
	     const struct rte_ether_addr *mac)
{
	const struct sl_neigh_entry *e = entry(ip);

	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_EQUAL(e->kind, kind);
	CU_ASSERT_EQUAL(e->resolved, mac != NULL);
	if (mac != NULL) {
		CU_ASSERT(rte_is_same_ether_addr(&e->mac, mac));
		CU_ASSERT(sl_neigh_lookup(&dp->neigh, ip) == &e->mac);
	} else {
		CU_ASSERT_PTR_NULL(sl_neigh_lookup(&dp->neigh, ip));
	}
}

/* Learn @ip at its MAC by its ARP reply (sluiced answers nothing). */
static void
learn_by_reply(uint32_t ip)
{
	struct rte_ether_addr m = mac_of(ip);

	CU_ASSERT_EQUAL(arp_from(RTE_ARP_OP_REPLY, ip, &m), 0);
}

/* A client fragment of request @req of pipeline @pipeline from
 * @ip:CLIENT_PORT at @mac; return the frames sent. */
static unsigned int
request(uint32_t pipeline, uint32_t ip, const struct rte_ether_addr *mac,
	uint64_t req, uint32_t seq, uint8_t flags)
{
	uint8_t b[DP_TEST_FRAME_MAX];
	struct dp_frag f;
	size_t len;

	memset(&f, 0, sizeof(f));
	f.src_mac = *mac;
	f.dst_mac = dp->mac;
	f.src_ip = ip;
	f.src_port = CLIENT_PORT;
	f.dst_ip = dp->cfg->listen.ip;
	f.dst_port = dp->cfg->listen.port;
	f.pipeline = pipeline;
	f.depth = 1;
	f.ancestry[0] = req;
	f.seq = seq;
	f.flags = flags;
	f.n_tokens = 1;
	f.tokens[0] = "question";
	len = dp_test_build(&f, b, sizeof(b), NULL);
	return inject(b, len);
}

/* What sent[@i] is, as sluiced's own frame: its destination, MAC and
 * sluice header; false if it is not one. */
static bool
decode(unsigned int i, struct sl_frame *fr, struct sl_frag_hdr *h)
{
	return i < n_sent &&
	       sl_wire_parse_frame(sent[i].b, sent[i].len, fr) == SL_WIRE_OK &&
	       sl_wire_parse(sent[i].b + fr->hdr_off, fr->dgram_len, h) ==
		       SL_WIRE_OK &&
	       fr->src_ip == dp->cfg->listen.ip &&
	       fr->src_port == dp->cfg->listen.port &&
	       memcmp(fr->src_mac, &dp->mac, 6) == 0 &&
	       dp_test_ipv4_cksum_ok(sent[i].b + SL_ETHER_HDR_LEN, 20);
}

/* Frames of sent[@from..] to @ip whose flags are @flags (and reason). */
static unsigned int
count_to(unsigned int from, uint32_t ip, uint8_t flags, uint8_t reason)
{
	unsigned int n = 0;

	for (unsigned int i = from; i < n_sent; i++) {
		struct sl_frame fr;
		struct sl_frag_hdr h;

		n += decode(i, &fr, &h) && fr.dst_ip == ip &&
		     h.flags == flags && h.abort_reason == reason;
	}
	return n;
}

/* n2 with n1, n3 and its instance known, and another node's instances
 * bound by one housekeeping pass. */
static void
open_n2_known(const char *yaml)
{
	relay_open(yaml, "n2");
	learn_by_reply(N1_IP);
	learn_by_reply(N3_IP);
	learn_by_reply(A2_IP);
	housekeeping(1);
	n_sent = 0;
}

/* ---------------------------------------------------------------- tests */

/* Localized: n2's address, instances of n1 and n3 remote; sl_dp_init
 * asked for its own instance only, never for another node's. */
static void
test_localized_start(void)
{
	dp_test_begin();
	relay_open(cluster_yaml, "n2");
	CU_ASSERT_EQUAL(cfg->local_node, 2);
	CU_ASSERT_EQUAL(cfg->listen.ip, N2_IP);
	CU_ASSERT_EQUAL(cfg->listen.port, NODE_PORT);
	CU_ASSERT_EQUAL(cfg->pipelines[0].stages[0].instances[0].remote, true);
	CU_ASSERT_EQUAL(cfg->pipelines[0].stages[0].instances[1].remote, false);
	CU_ASSERT_EQUAL(cfg->pipelines[0].stages[0].instances[2].remote, true);
	CU_ASSERT_EQUAL(cfg->pipelines[1].stages[0].instances[0].remote, true);
	CU_ASSERT_EQUAL(n_start_arps, 1);
	CU_ASSERT_EQUAL(start_arps[0], A2_IP);
	expect_entry(A2_IP, SL_NEIGH_INSTANCE, NULL);
	expect_entry(A1_IP, SL_NEIGH_VIA, NULL);
	expect_entry(A3_IP, SL_NEIGH_VIA, NULL);
	expect_entry(R3_IP, SL_NEIGH_VIA, NULL);
	CU_ASSERT_EQUAL(sl_dp_neigh_kind(dp, N1_IP), SL_NEIGH_NODE);
	CU_ASSERT_EQUAL(sl_dp_neigh_kind(dp, N2_IP), SL_NEIGH_NONE);
	CU_ASSERT_EQUAL(sl_dp_neigh_kind(dp, N3_IP), SL_NEIGH_NODE);
	relay_close();
	dp_test_end();
}

/* (a) n1's sluiced to n2's instance: sent on as a router would. */
static void
test_relay_in(void)
{
	const struct rte_ether_addr n1 = mac_of(N1_IP), a2 = mac_of(A2_IP);
	uint8_t in[DP_TEST_FRAME_MAX];
	size_t len;

	dp_test_begin();
	open_n2_known(cluster_yaml);
	len = frame(in, &n1, N1_IP, NODE_PORT, A2_IP, A_PORT, 0, 64);
	CU_ASSERT_EQUAL(inject(in, len), 1);
	expect_relayed(0, in, len, &a2);
	CU_ASSERT_EQUAL(sent[0].b[SL_ETHER_HDR_LEN + 8], 63);
	CU_ASSERT_EQUAL(dp->cnt.relayed_in, 1);
	CU_ASSERT_EQUAL(dp->cnt.relayed_out, 0);
	/* IPv4 options: the checksum covers them; TTL 2 leaves with 1. */
	len = frame(in, &n1, N1_IP, NODE_PORT, A2_IP, A_PORT, 3, 2);
	CU_ASSERT_EQUAL(inject(in, len), 1);
	expect_relayed(1, in, len, &a2);
	CU_ASSERT_EQUAL(sent[1].b[SL_ETHER_HDR_LEN + 8], 1);
	CU_ASSERT_EQUAL(dp->cnt.relayed_in, 2);
	/* Not sluiced's business: no stream, nothing dropped. */
	CU_ASSERT_EQUAL(dp->flows->active, 0);
	expect_drops(-1);
	relay_close();
	dp_test_end();
}

/* (b) n2's instance to n1's sluiced: to n1's MAC, learned from n1's ARP
 * request (answered) as a node. */
static void
test_relay_out(void)
{
	const struct rte_ether_addr a2 = mac_of(A2_IP), n1 = mac_of(N1_IP),
				    n3 = mac_of(N3_IP);
	uint8_t in[DP_TEST_FRAME_MAX];
	size_t len;

	dp_test_begin();
	relay_open(cluster_yaml, "n2");
	learn_by_reply(A2_IP);
	CU_ASSERT_PTR_NULL(entry(N1_IP));
	/* n1 asks who n2 is: learned as a node, answered. */
	CU_ASSERT_EQUAL(arp_from(RTE_ARP_OP_REQUEST, N1_IP, &n1), 1);
	CU_ASSERT(is_arp(0, RTE_ARP_OP_REPLY, N1_IP));
	CU_ASSERT_EQUAL(memcmp(sent[0].b, &n1, 6), 0);
	CU_ASSERT_EQUAL(memcmp(sent[0].b + 22, &dp->mac, 6), 0);
	CU_ASSERT_EQUAL(dp->cnt.arp_replies, 1);
	CU_ASSERT_EQUAL(dp->cnt.arp_ignored, 0);
	expect_entry(N1_IP, SL_NEIGH_NODE, &n1);
	n_sent = 0;
	len = frame(in, &a2, A2_IP, A_PORT, N1_IP, NODE_PORT, 0, 64);
	CU_ASSERT_EQUAL(inject(in, len), 1);
	expect_relayed(0, in, len, &n1);
	CU_ASSERT_EQUAL(dp->cnt.relayed_out, 1);
	CU_ASSERT_EQUAL(dp->cnt.relayed_in, 0);
	/* n3 learned from its reply, and relayed to as well. */
	learn_by_reply(N3_IP);
	expect_entry(N3_IP, SL_NEIGH_NODE, &n3);
	len = frame(in, &a2, A2_IP, A_PORT + 5, N3_IP, NODE_PORT, 0, 9);
	CU_ASSERT_EQUAL(inject(in, len), 1);
	expect_relayed(1, in, len, &n3);
	CU_ASSERT_EQUAL(dp->cnt.relayed_out, 2);
	expect_drops(-1);
	relay_close();
	dp_test_end();
}

/* (c) TTL 1 either way: dropped, nothing sent. */
static void
test_relay_ttl(void)
{
	const struct rte_ether_addr a2 = mac_of(A2_IP), n1 = mac_of(N1_IP);
	uint8_t in[DP_TEST_FRAME_MAX];
	size_t len;

	dp_test_begin();
	open_n2_known(cluster_yaml);
	len = frame(in, &n1, N1_IP, NODE_PORT, A2_IP, A_PORT, 0, 1);
	CU_ASSERT_EQUAL(inject(in, len), 0);
	len = frame(in, &a2, A2_IP, A_PORT, N1_IP, NODE_PORT, 0, 1);
	CU_ASSERT_EQUAL(inject(in, len), 0);
	len = frame(in, &a2, A2_IP, A_PORT, N1_IP, NODE_PORT, 0, 0);
	CU_ASSERT_EQUAL(inject(in, len), 0);
	expect_drops(SL_DROP_RELAY_TTL, 3u, -1);
	CU_ASSERT_EQUAL(dp->cnt.relayed_in, 0);
	CU_ASSERT_EQUAL(dp->cnt.relayed_out, 0);
	relay_close();
	dp_test_end();
}

/* (d) The next hop's MAC unknown: dropped, one ARP request for it (not
 * one a frame: ARP's retry interval holds). */
static void
test_relay_no_neighbor(void)
{
	const struct rte_ether_addr a2 = mac_of(A2_IP), n1 = mac_of(N1_IP);
	uint8_t in[DP_TEST_FRAME_MAX];
	uint64_t asked;
	size_t len;

	dp_test_begin();
	relay_open(cluster_yaml, "n2");
	learn_by_reply(A2_IP);
	/* Out: n1 never heard of. */
	asked = dp->cnt.arp_requests;
	len = frame(in, &a2, A2_IP, A_PORT, N1_IP, NODE_PORT, 0, 64);
	CU_ASSERT_EQUAL(inject(in, len), 1);
	CU_ASSERT(is_arp(0, RTE_ARP_OP_REQUEST, N1_IP));
	CU_ASSERT_EQUAL(dp->cnt.arp_requests, asked + 1);
	expect_entry(N1_IP, SL_NEIGH_NODE, NULL);
	expect_drops(SL_DROP_RELAY_NO_NEIGHBOR, 1u, -1);
	CU_ASSERT_EQUAL(inject(in, len), 0);
	expect_drops(SL_DROP_RELAY_NO_NEIGHBOR, 2u, -1);
	CU_ASSERT_EQUAL(dp->cnt.arp_requests, asked + 1);
	/* n1 answers: the same frame goes. */
	learn_by_reply(N1_IP);
	CU_ASSERT_EQUAL(inject(in, len), 1);
	expect_relayed(1, in, len, &n1);
	CU_ASSERT_EQUAL(dp->cnt.relayed_out, 1);

	/* In: the instance here no longer answers ARP (unresolved) and was
	 * asked for long enough ago. */
	dp->neigh.e[entry(A2_IP) - dp->neigh.e].resolved = false;
	dp->neigh.n_unresolved++;
	dp->neigh.gen++;
	at(SL_NEIGH_RETRY_MS + 1);
	asked = dp->cnt.arp_requests;
	n_sent = 0;
	len = frame(in, &n1, N1_IP, NODE_PORT, A2_IP, A_PORT, 0, 64);
	CU_ASSERT_EQUAL(inject(in, len), 1);
	CU_ASSERT(is_arp(0, RTE_ARP_OP_REQUEST, A2_IP));
	CU_ASSERT_EQUAL(dp->cnt.arp_requests, asked + 1);
	expect_drops(SL_DROP_RELAY_NO_NEIGHBOR, 3u, -1);
	CU_ASSERT_EQUAL(dp->cnt.relayed_in, 0);
	relay_close();
	dp_test_end();
}

/* (e) Not between a peer node and an instance here: NOT_FOR_US. */
static void
test_relay_not_for_us(void)
{
	const struct rte_ether_addr a2 = mac_of(A2_IP), n1 = mac_of(N1_IP),
				    n3 = mac_of(N3_IP),
				    stranger = mac_of(STRANGER_IP),
				    a3 = mac_of(A3_IP);
	uint8_t in[DP_TEST_FRAME_MAX];
	unsigned int dropped = 0;
	size_t len;

	dp_test_begin();
	open_n2_known(cluster_yaml);
	expect_entry(A3_IP, SL_NEIGH_VIA, &n3);
	/* A client (no node) to the instance here. */
	len = frame(in, &stranger, STRANGER_IP, NODE_PORT, A2_IP, A_PORT, 0,
		    64);
	dropped += inject(in, len) == 0;
	/* n1's address, another port, either way. */
	len = frame(in, &n1, N1_IP, NODE_PORT + 1, A2_IP, A_PORT, 0, 64);
	dropped += inject(in, len) == 0;
	len = frame(in, &a2, A2_IP, A_PORT, N1_IP, NODE_PORT + 1, 0, 64);
	dropped += inject(in, len) == 0;
	/* Between two other nodes, either way. */
	len = frame(in, &n1, N1_IP, NODE_PORT, N3_IP, NODE_PORT, 0, 64);
	dropped += inject(in, len) == 0;
	len = frame(in, &n3, N3_IP, NODE_PORT, N1_IP, NODE_PORT, 0, 64);
	dropped += inject(in, len) == 0;
	/* n1 to n3's instances (bound or not), and those to n1. */
	len = frame(in, &n1, N1_IP, NODE_PORT, A3_IP, A_PORT, 0, 64);
	dropped += inject(in, len) == 0;
	len = frame(in, &n1, N1_IP, NODE_PORT, R3_IP, R_PORT, 0, 64);
	dropped += inject(in, len) == 0;
	len = frame(in, &n3, A3_IP, A_PORT, N1_IP, NODE_PORT, 0, 64);
	dropped += inject(in, len) == 0;
	/* n1 to its own instance through here. */
	len = frame(in, &n1, N1_IP, NODE_PORT, A1_IP, A_PORT, 0, 64);
	dropped += inject(in, len) == 0;
	/* This sluiced's own address as the source, and as the peer. */
	len = frame(in, &n1, N2_IP, NODE_PORT, A2_IP, A_PORT, 0, 64);
	dropped += inject(in, len) == 0;
	/* The instance here to sluiced's address, another port. */
	len = frame(in, &a2, A2_IP, A_PORT, N2_IP, NODE_PORT + 1, 0, 64);
	dropped += inject(in, len) == 0;
	/* Eleven frames, none sent on. */
	CU_ASSERT_EQUAL(dropped, 11);
	expect_drops(SL_DROP_NOT_FOR_US, 11u, -1);
	CU_ASSERT_EQUAL(dp->cnt.relayed_in, 0);
	CU_ASSERT_EQUAL(dp->cnt.relayed_out, 0);
	relay_close();

	/* Not localized: the same file, every instance local, the nodes
	 * nobody (their ARP ignored), nothing relayed. */
	relay_open(cluster_yaml, NULL);
	CU_ASSERT_EQUAL(cfg->local_node, 0);
	CU_ASSERT_EQUAL(cfg->listen.ip, OWN_IP);
	CU_ASSERT_EQUAL(n_start_arps, 4);
	learn_by_reply(A2_IP);
	learn_by_reply(A3_IP);
	CU_ASSERT_EQUAL(arp_from(RTE_ARP_OP_REQUEST, N1_IP, &n1), 0);
	CU_ASSERT_EQUAL(arp_from(RTE_ARP_OP_REPLY, N3_IP, &n3), 0);
	CU_ASSERT_EQUAL(dp->cnt.arp_ignored, 2);
	CU_ASSERT_PTR_NULL(entry(N1_IP));
	CU_ASSERT_PTR_NULL(entry(N3_IP));
	expect_entry(A3_IP, SL_NEIGH_INSTANCE, &a3);
	housekeeping(1);
	CU_ASSERT_PTR_NULL(entry(N1_IP));
	len = frame(in, &n1, N1_IP, NODE_PORT, A2_IP, A_PORT, 0, 64);
	CU_ASSERT_EQUAL(inject(in, len), 0);
	len = frame(in, &n1, N1_IP, NODE_PORT, A3_IP, A_PORT, 0, 64);
	CU_ASSERT_EQUAL(inject(in, len), 0);
	len = frame(in, &a2, A2_IP, A_PORT, N1_IP, NODE_PORT, 0, 64);
	CU_ASSERT_EQUAL(inject(in, len), 0);
	expect_drops(SL_DROP_NOT_FOR_US, 3u, -1);
	CU_ASSERT_EQUAL(dp->cnt.relayed_in, 0);
	CU_ASSERT_EQUAL(dp->cnt.relayed_out, 0);
	relay_close();
	dp_test_end();
}

/* (f) Another node's instances: bound to their node's MAC by
 * housekeeping, never by ARP or a client's packet; routes use it. */
static void
test_via_entries(void)
{
	const struct rte_ether_addr n3 = mac_of(N3_IP),
				    client = mac_of(CLIENT_IP);
	const struct rte_ether_addr n3b = {{0x02, 0x33, 0, 0, 0, 0x03}};
	struct sl_frame fr;
	struct sl_frag_hdr h;
	uint32_t clients;

	dp_test_begin();
	relay_open(cluster_yaml, "n2");
	learn_by_reply(A2_IP);
	/* The first pass asks for both other nodes, for no instance of
	 * theirs; nothing is bound yet. */
	CU_ASSERT_EQUAL(housekeeping(1), 2);
	CU_ASSERT_EQUAL(arps_for(N1_IP), 1);
	CU_ASSERT_EQUAL(arps_for(N3_IP), 1);
	expect_entry(N1_IP, SL_NEIGH_NODE, NULL);
	expect_entry(N3_IP, SL_NEIGH_NODE, NULL);
	expect_entry(A3_IP, SL_NEIGH_VIA, NULL);
	expect_entry(R3_IP, SL_NEIGH_VIA, NULL);
	/* n3 answers; the next pass binds its instances, n1's stay
	 * unbound; within the retry interval nobody is asked again. */
	learn_by_reply(N3_IP);
	n_sent = 0;
	CU_ASSERT_EQUAL(housekeeping(2), 0);
	expect_entry(A3_IP, SL_NEIGH_VIA, &n3);
	expect_entry(R3_IP, SL_NEIGH_VIA, &n3);
	expect_entry(A1_IP, SL_NEIGH_VIA, NULL);
	CU_ASSERT_EQUAL(dp->inst[cfg->pipelines[1].stages[0].instances[0].uid]
				.reachable,
			true);

	/* A request routed to r's one instance, on n3: IP and UDP to it
	 * from this sluiced, Ethernet to n3. */
	CU_ASSERT_EQUAL(request(2, CLIENT_IP, &client, 1, 0, 0), 1);
	CU_ASSERT_FATAL(decode(0, &fr, &h));
	CU_ASSERT_EQUAL(fr.dst_ip, R3_IP);
	CU_ASSERT_EQUAL(fr.dst_port, R_PORT);
	CU_ASSERT_EQUAL(fr.src_ip, N2_IP);
	CU_ASSERT_EQUAL(memcmp(fr.dst_mac, &n3, 6), 0);
	CU_ASSERT_EQUAL(h.stage, 1);

	/* Anyone's ARP for its address: ignored, not answered, not
	 * learned. */
	CU_ASSERT_EQUAL(arp_from(RTE_ARP_OP_REPLY, R3_IP, &evil_mac), 0);
	CU_ASSERT_EQUAL(arp_from(RTE_ARP_OP_REQUEST, R3_IP, &evil_mac), 0);
	CU_ASSERT_EQUAL(arp_from(RTE_ARP_OP_REPLY, A3_IP, &evil_mac), 0);
	CU_ASSERT_EQUAL(dp->cnt.arp_ignored, 3);
	CU_ASSERT_EQUAL(dp->cnt.arp_replies, 0);
	expect_entry(R3_IP, SL_NEIGH_VIA, &n3);
	expect_entry(A3_IP, SL_NEIGH_VIA, &n3);
	/* Its address is in the client networks: a request from it (at
	 * another MAC) is a client's, and still does not rebind it. */
	clients = dp->neigh.n_clients;
	n_sent = 0;
	CU_ASSERT_EQUAL(request(1, R3_IP, &evil_mac, 9, 0, 0), 1);
	CU_ASSERT_EQUAL(count_to(0, A2_IP, 0, 0), 1);
	expect_entry(R3_IP, SL_NEIGH_VIA, &n3);
	CU_ASSERT_EQUAL(dp->neigh.n_clients, clients);
	neigh_audit();
	CU_ASSERT_EQUAL(housekeeping(3), 0);
	expect_entry(R3_IP, SL_NEIGH_VIA, &n3);
	CU_ASSERT_EQUAL(dp->neigh.n_clients, clients);
	neigh_audit();

	/* n3 at another MAC (its ARP): its instances follow at the next
	 * pass, and so does the pinned stream's next fragment. */
	n_sent = 0;
	CU_ASSERT_EQUAL(arp_from(RTE_ARP_OP_REPLY, N3_IP, &n3b), 0);
	expect_entry(N3_IP, SL_NEIGH_NODE, &n3b);
	expect_entry(R3_IP, SL_NEIGH_VIA, &n3);
	CU_ASSERT_EQUAL(housekeeping(4), 0);
	expect_entry(R3_IP, SL_NEIGH_VIA, &n3b);
	expect_entry(A3_IP, SL_NEIGH_VIA, &n3b);
	CU_ASSERT_EQUAL(request(2, CLIENT_IP, &client, 1, 1, 0), 1);
	CU_ASSERT_FATAL(decode(0, &fr, &h));
	CU_ASSERT_EQUAL(fr.dst_ip, R3_IP);
	CU_ASSERT_EQUAL(h.seq, 1);
	CU_ASSERT_EQUAL(memcmp(fr.dst_mac, &n3b, 6), 0);

	/* n3 forgotten: its instances unbound at the next pass (and n3
	 * asked for again), never asked for themselves. */
	sl_neigh_forget(&dp->neigh, N3_IP);
	n_sent = 0;
	CU_ASSERT_EQUAL(housekeeping(300), 2);
	CU_ASSERT_EQUAL(arps_for(N3_IP), 1);
	CU_ASSERT_EQUAL(arps_for(N1_IP), 1); /* unanswered: asked again */
	expect_entry(R3_IP, SL_NEIGH_VIA, NULL);
	expect_entry(A3_IP, SL_NEIGH_VIA, NULL);
	neigh_audit();
	/* An ARP for the instance, unbound, binds nothing either. */
	CU_ASSERT_EQUAL(arp_from(RTE_ARP_OP_REPLY, R3_IP, &evil_mac), 0);
	CU_ASSERT_EQUAL(dp->cnt.arp_ignored, 4);
	expect_entry(R3_IP, SL_NEIGH_VIA, NULL);
	/* Nor does a client's request from it. a3 is not reachable now
	 * (its node is unknown) and a1 never was: round robin gives it
	 * to a2, the one reachable; a3 not asked for. */
	n_sent = 0;
	CU_ASSERT_EQUAL(request(1, R3_IP, &evil_mac, 10, 0, 0), 1);
	CU_ASSERT_EQUAL(count_to(0, A2_IP, 0, 0), 1);
	CU_ASSERT_EQUAL(dp->cnt.arp_deferred, 0);
	CU_ASSERT_EQUAL(arps_for(A3_IP), 0);
	expect_entry(R3_IP, SL_NEIGH_VIA, NULL);
	neigh_audit();
	/* n3 back: bound again. */
	learn_by_reply(N3_IP);
	n_sent = 0;
	housekeeping(301);
	expect_entry(R3_IP, SL_NEIGH_VIA, &n3);

	/* n3 gone quiet: its entry goes stale (asked, unanswered), and its
	 * instances are unbound with it; theirs never age on their own. */
	for (unsigned int k = 0; k <= SL_NEIGH_PASS_CALLS; k++)
		housekeeping(SL_NEIGH_REFRESH_MS + SL_NEIGH_STALE_MS + 400 + k);
	expect_entry(N3_IP, SL_NEIGH_NODE, NULL);
	expect_entry(R3_IP, SL_NEIGH_VIA, NULL);
	expect_entry(A3_IP, SL_NEIGH_VIA, NULL);
	relay_close();
	dp_test_end();
}

/* (g) n3 left: a snapshot marks its instances down. */
static void
test_down_instances(void)
{
	const struct rte_ether_addr client = mac_of(CLIENT_IP);
	const struct sl_config *old = NULL;
	const struct sl_instance_cfg *r3;
	struct sl_config *next;
	unsigned int mark, to[4] = {0};
	static const uint32_t a_ips[3] = {A1_IP, A2_IP, A3_IP};

	dp_test_begin();
	open_n2_known(cluster_live_yaml);
	r3 = &cfg->pipelines[1].stages[0].instances[0];
	/* The first pass probed every instance, n3's included. */
	CU_ASSERT_EQUAL(dp->cnt.live.probes_sent, 4);
	CU_ASSERT_EQUAL(dp->cnt.live.instances_died, 0);
	/* Round robin reaches every node's instance; r's one is n3's. */
	for (uint64_t req = 1; req <= 3; req++)
		CU_ASSERT_EQUAL(request(1, CLIENT_IP, &client, req, 0, 0), 1);
	for (unsigned int k = 0; k < 3; k++)
		to[k] = count_to(0, a_ips[k], 0, 0);
	CU_ASSERT(to[0] == 1 && to[1] == 1 && to[2] == 1);
	CU_ASSERT_EQUAL(request(2, CLIENT_IP, &client, 7, 0, 0), 1);
	CU_ASSERT_EQUAL(count_to(0, R3_IP, 0, 0), 1);
	CU_ASSERT_EQUAL(dp->inst[r3->uid].streams, 1);

	next = sl_config_clone(cfg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(next);
	next->pipelines[0].stages[0].instances[2].down = true;
	next->pipelines[1].stages[0].instances[0].down = true;
	CU_ASSERT_EQUAL_FATAL(sl_dp_publish(dp, next, &old), 0);
	CU_ASSERT_PTR_EQUAL(old, cfg);
	sl_config_free((struct sl_config *)old);
	cfg = next;
	r3 = &cfg->pipelines[1].stages[0].instances[0];

	/* Down takes no new stream at once, before liveness has looked
	 * (a3 and r3 still alive): r has no instance left (ABORT
	 * (OVERLOAD)), a spreads over n1's and n2's. */
	CU_ASSERT_EQUAL(
		dp->inst[cfg->pipelines[0].stages[0].instances[2].uid].alive,
		true);
	CU_ASSERT_EQUAL(dp->inst[r3->uid].alive, true);
	mark = n_sent;
	CU_ASSERT_EQUAL(request(2, CLIENT_IP, &client, 5, 0, 0), 1);
	CU_ASSERT_EQUAL(
		count_to(mark, CLIENT_IP, SL_FRAG_F_ABORT, SL_ABORT_OVERLOAD),
		1);
	mark = n_sent;
	for (uint64_t req = 21; req <= 24; req++)
		CU_ASSERT_EQUAL(request(1, CLIENT_IP, &client, req, 0, 0), 1);
	CU_ASSERT_EQUAL(count_to(mark, A1_IP, 0, 0), 2);
	CU_ASSERT_EQUAL(count_to(mark, A2_IP, 0, 0), 2);
	CU_ASSERT_EQUAL(count_to(mark, A3_IP, 0, 0), 0);
	CU_ASSERT_EQUAL(dp->inst[r3->uid].streams, 1);

	/* Dead at the next pass: request 7's answer, owed by r3, is
	 * ABORT (ENGINE) to the client; and a3's stream too. */
	mark = n_sent;
	housekeeping(2);
	CU_ASSERT_EQUAL(dp->cnt.live.instances_died, 2);
	CU_ASSERT_EQUAL(dp->inst[r3->uid].alive, false);
	CU_ASSERT_EQUAL(
		dp->inst[cfg->pipelines[0].stages[0].instances[2].uid].alive,
		false);
	CU_ASSERT_EQUAL(
		dp->inst[cfg->pipelines[0].stages[0].instances[1].uid].alive,
		true);
	CU_ASSERT_EQUAL(dp->inst[r3->uid].streams_aborted, 1);
	CU_ASSERT_EQUAL(
		count_to(mark, CLIENT_IP, SL_FRAG_F_ABORT, SL_ABORT_ENGINE), 2);
	for (unsigned int i = mark; i < n_sent; i++) {
		struct sl_frame fr;
		struct sl_frag_hdr h;

		if (decode(i, &fr, &h) && fr.dst_ip == CLIENT_IP &&
		    h.pipeline == 2)
			CU_ASSERT_EQUAL(h.ancestry[0], 7);
	}
	/* The next round of PROBEs: n1's and n2's instances only. */
	mark = n_sent;
	housekeeping(150);
	CU_ASSERT_EQUAL(dp->cnt.live.probes_sent, 6);
	CU_ASSERT_EQUAL(count_to(mark, A1_IP, SL_FRAG_F_PROBE, 0), 1);
	CU_ASSERT_EQUAL(count_to(mark, A2_IP, SL_FRAG_F_PROBE, 0), 1);
	CU_ASSERT_EQUAL(count_to(mark, A3_IP, SL_FRAG_F_PROBE, 0), 0);
	CU_ASSERT_EQUAL(count_to(mark, R3_IP, SL_FRAG_F_PROBE, 0), 0);
	CU_ASSERT_EQUAL(dp->cnt.live.instances_died, 2);

	/* Dead and down: still no new stream. */
	mark = n_sent;
	CU_ASSERT_EQUAL(request(2, CLIENT_IP, &client, 8, 0, 0), 1);
	CU_ASSERT_EQUAL(
		count_to(mark, CLIENT_IP, SL_FRAG_F_ABORT, SL_ABORT_OVERLOAD),
		1);
	CU_ASSERT_EQUAL(count_to(mark, R3_IP, 0, 0), 0);
	CU_ASSERT_EQUAL(dp->inst[r3->uid].streams, 1);
	mark = n_sent;
	for (uint64_t req = 11; req <= 14; req++)
		CU_ASSERT_EQUAL(request(1, CLIENT_IP, &client, req, 0, 0), 1);
	CU_ASSERT_EQUAL(count_to(mark, A1_IP, 0, 0), 2);
	CU_ASSERT_EQUAL(count_to(mark, A2_IP, 0, 0), 2);
	CU_ASSERT_EQUAL(count_to(mark, A3_IP, 0, 0), 0);
	expect_drops(SL_DROP_NO_INSTANCE, 2u, -1);
	relay_close();
	dp_test_end();
}

static const struct dp_test_case cases[] = {
	DP_SUITE("relay"),
	DP_CASE("localized: n2's address, other nodes' instances remote",
		test_localized_start),
	DP_CASE("in: n1 to an instance here, as a router", test_relay_in),
	DP_CASE("out: an instance here to n1, n1 learned as a node",
		test_relay_out),
	DP_CASE("TTL 1: RELAY_TTL", test_relay_ttl),
	DP_CASE("next hop unknown: RELAY_NO_NEIGHBOR, one ARP",
		test_relay_no_neighbor),
	DP_CASE("not between a peer and an instance here: NOT_FOR_US",
		test_relay_not_for_us),
	DP_CASE("another node's instance: bound to the node's MAC only",
		test_via_entries),
	DP_CASE("a node's instances down: dead, no streams, no PROBE",
		test_down_instances),
	DP_END,
};

int
main(int argc, char **argv)
{
	(void)argc;
	return dp_test_main(argv[0], cases, relay_port_init, relay_port_fini);
}
