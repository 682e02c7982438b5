/* SPDX-License-Identifier: MIT */
/*
 * test_stages.c - the packet stages (parse, admit, order, route, tx) and
 * the whole path, driven with synthetic frames through one struct sl_dp on
 * a ring port.
 *
 * The config (inline YAML): sluiced 10.0.0.1:7700, clients 10.0.1.0/24,
 * pipeline 1 = stage 1 "draft" (10.0.2.1:8001, 10.0.2.2:8001, round robin)
 * then stage 2 "verify" (10.0.3.1:8002, 10.0.3.2:8002, aggregation 1).
 * Neighbours are learned up front unless a test is about ARP; the MAC of
 * IPv4 a.b.c.d is 02:00:a:b:c:d. Time is dp->now, set by the tests.
 * Every test ends with the mempool back at its in-use count.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <rte_byteorder.h>
#include <rte_ethdev.h>

#include "dp_test.h"
#include "sl_arp.h"
#include "sl_dp.h"
#include "sl_node.h"
#include "sl_path.h"
#include "sl_route.h"
#include "sl_stream.h"
#include "sl_worker.h"

#define SLUICED_IP DP_IP(10, 0, 0, 1)
#define SLUICED_PORT 7700
#define CLIENT_IP DP_IP(10, 0, 1, 5)
#define CLIENT_PORT 40000
#define CLIENT2_IP DP_IP(10, 0, 1, 6)
#define CLIENT2_PORT 40001
#define S1_PORT 8001
#define S2_PORT 8002
#define S1_IP(i) DP_IP(10, 0, 2, 1 + (i))
#define S2_IP(i) DP_IP(10, 0, 3, 1 + (i))
#define WINDOW 8

#define PIPELINE_YAML                                                          \
	"pipelines:\n"                                                         \
	"  - name: p1\n"                                                       \
	"    id: 1\n"                                                          \
	"    stages:\n"                                                        \
	"      - name: draft\n"                                                \
	"        instances:\n"                                                 \
	"          - 10.0.2.1:8001\n"                                          \
	"          - 10.0.2.2:8001\n"                                          \
	"      - name: verify\n"                                               \
	"        aggregation: 1\n"                                             \
	"        instances:\n"                                                 \
	"          - 10.0.3.1:8002\n"                                          \
	"          - 10.0.3.2:8002\n"

static const char config_yaml[] = "liveness: {probe_ms: 0}\n"
				  "sluiced:\n"
				  "  address: 10.0.0.1\n"
				  "  port: 7700\n"
				  "flows:\n"
				  "  size: 1024\n"
				  "  idle_timeout_ms: 1000\n"
				  "  reorder_window: 8\n"
				  "clients:\n"
				  "  - 10.0.1.0/24\n" PIPELINE_YAML;

static const char small_table_yaml[] = "liveness: {probe_ms: 0}\n"
				       "sluiced:\n"
				       "  address: 10.0.0.1\n"
				       "flows:\n"
				       "  size: 64\n"
				       "  client_streams: 64\n"
				       "  source_streams: 64\n"
				       "  reorder_window: 8\n"
				       "clients:\n"
				       "  - 10.0.1.0/24\n" PIPELINE_YAML;

static const char tenants_yaml[] = "liveness: {probe_ms: 0}\n"
				   "sluiced:\n"
				   "  address: 10.0.0.1\n"
				   "flows:\n"
				   "  reorder_window: 8\n"
				   "clients:\n"
				   "  - 10.0.1.0/24\n"
				   "tenants:\n"
				   "  - id: 1\n"
				   "    fragments_per_s: 1000\n"
				   "    burst: 3\n"
				   "  - id: 2\n"
				   "    max_streams: 2\n"
				   "  - id: 3\n"
				   "    fragments_per_s: 10\n"
				   "    burst: 1\n"
				   "  - id: 4\n"
				   "    fragments_per_s: 1048576\n"
				   "    burst: 1\n" PIPELINE_YAML;

static struct dp_test_port port;
static struct rte_ether_addr our_mac; /* the worker's MAC (dp->mac) */
static struct sl_config *cfg;
static struct sl_dp *dp;
static uint64_t t0; /* dp->now right after sl_dp_init */

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

	CU_ASSERT_EQUAL(sl_neigh_learn(&dp->neigh, ip, &m,
				       sl_dp_neigh_kind(dp, ip), dp->now),
			0);
}

/* A worker context on the ring port; @learn_all: every neighbour known. */
static void
dp_open(const char *yaml, bool learn_all)
{
	cfg = dp_test_config(yaml);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	dp = calloc(1, sizeof(*dp));
	CU_ASSERT_PTR_NOT_NULL_FATAL(dp);
	CU_ASSERT_EQUAL_FATAL(sl_dp_init(dp, cfg, port.port_id, dp_test_pool()),
			      0);
	CU_ASSERT_EQUAL(memcmp(&dp->mac, &port.mac, sizeof(port.mac)), 0);
	/* net_ring reports 00:00:00:00:00:00 and refuses a new one; give
	 * the worker a MAC that a rewrite cannot produce by accident. */
	our_mac = port.mac;
	if (rte_is_zero_ether_addr(&our_mac)) {
		our_mac = (struct rte_ether_addr){{0x02, 0, 0, 0, 0, 0x01}};
		dp->mac = our_mac;
	}
	t0 = dp->now;
	/* It asked for its four instances' MACs at once. */
	CU_ASSERT_EQUAL(dp_test_take_start_arps(dp), 4);
	CU_ASSERT_EQUAL(dp->cnt.arp_requests, 4);
	/* The worker's housekeeping runs (every millisecond) before any
	 * answer can come back: it sees four neighbours unresolved. */
	sl_dp_housekeeping(dp);
	CU_ASSERT_EQUAL(dp_test_instances_reachable(dp, NULL), 0);
	if (learn_all) {
		learn(CLIENT_IP);
		learn(CLIENT2_IP);
		for (int i = 0; i < 2; i++) {
			learn(S1_IP(i));
			learn(S2_IP(i));
		}
		/* The next pass marks the instances reachable. */
		sl_dp_housekeeping(dp);
		CU_ASSERT_EQUAL(dp_test_instances_reachable(dp, NULL), 4);
	}
	/* Tests count the idle scan from the table's first slot. */
	dp->expire_cursor = 0;
	CU_ASSERT_EQUAL(dp->n_ctrl, 0);
	CU_ASSERT_EQUAL(dp->cnt.tx_packets, 0);
}

static void
dp_close(void)
{
	sl_dp_fini(dp);
	free(dp);
	dp = NULL;
	sl_config_free(cfg);
	cfg = NULL;
	dp_test_port_flush(&port);
}

/* Every drop counter is zero but the (reason, count) pairs, -1 ended. */
static void
expect_drops(int reason, ...)
{
	uint64_t want[SL_DROP_MAX] = {0};
	va_list ap;

	va_start(ap, reason);
	while (reason >= 0) {
		want[reason] = va_arg(ap, unsigned int);
		reason = va_arg(ap, int);
	}
	va_end(ap);
	for (int r = 1; r < SL_DROP_MAX; r++) {
		if (dp->cnt.drops[r] != want[r])
			printf("\n  drops[%s] = %lu, want %lu", sl_drop_name(r),
			       (unsigned long)dp->cnt.drops[r],
			       (unsigned long)want[r]);
		CU_ASSERT_EQUAL(dp->cnt.drops[r], want[r]);
	}
}

/*
 * The id sluiced gave request @req of either client (tenant 0 or any of
 * the tenants of tenants_yaml): what instances see; @req itself when no
 * such request is in the table.
 */
static uint64_t
rid(uint64_t req)
{
	static const uint32_t ips[2] = {CLIENT_IP, CLIENT2_IP};
	static const uint16_t ports[2] = {CLIENT_PORT, CLIENT2_PORT};

	if (dp == NULL)
		return req;
	for (int c = 0; c < 2; c++)
		for (uint16_t t = 0; t <= 4; t++) {
			uint64_t id = dp_test_req_to_sluiced(dp, 1, ips[c],
							     ports[c], t, req);

			if (id != req)
				return id;
		}
	return req;
}

/* A fragment of pipeline 1 to sluiced, with two tokens naming it. An
 * instance's fragment names a request known to sluiced by sluiced's id
 * (rid), as a real instance would (what it got had that id). */
static struct dp_frag
frag(uint32_t src_ip, uint16_t src_port, uint16_t stage, uint64_t req,
     uint64_t sub, uint32_t seq, uint8_t flags)
{
	static char text[16][64]; /* a frag's tokens outlive 15 more frags */
	static unsigned int which;
	struct dp_frag f;
	char *t = text[which++ % 16];

	memset(&f, 0, sizeof(f));
	f.src_mac = mac_of(src_ip);
	f.dst_mac = our_mac;
	f.src_ip = src_ip;
	f.src_port = src_port;
	f.dst_ip = SLUICED_IP;
	f.dst_port = SLUICED_PORT;
	f.pipeline = 1;
	f.stage = stage;
	f.seq = seq;
	f.flags = flags;
	f.depth = sub ? 2 : 1;
	f.ancestry[0] = stage == 0 ? req : rid(req);
	f.ancestry[1] = sub;
	f.send_ns = 1700000000000000000ull + seq;
	snprintf(t, 64, "r%lu.%lu s%u caf\xc3\xa9", (unsigned long)req,
		 (unsigned long)sub, seq);
	f.n_tokens = 2;
	f.token_id0 = 100 + seq;
	f.tokens[0] = t;
	f.tokens[1] = " \xe2\x86\x92";
	return f;
}

static struct rte_mbuf *
client(uint64_t req, uint32_t seq, uint8_t flags)
{
	struct dp_frag f = frag(CLIENT_IP, CLIENT_PORT, 0, req, 0, seq, flags);

	return dp_test_frame(&f);
}

static struct rte_mbuf *
from_s1(int inst, uint64_t req, uint64_t sub, uint32_t seq, uint8_t flags)
{
	struct dp_frag f = frag(S1_IP(inst), S1_PORT, 1, req, sub, seq, flags);

	return dp_test_frame(&f);
}

static struct rte_mbuf *
from_s2(int inst, uint64_t req, uint64_t sub, uint32_t seq, uint8_t flags)
{
	struct dp_frag f = frag(S2_IP(inst), S2_PORT, 2, req, sub, seq, flags);

	return dp_test_frame(&f);
}

static struct rte_mbuf *
with_tenant(struct dp_frag f, uint16_t tenant)
{
	f.tenant = tenant;
	return dp_test_frame(&f);
}

/* What sluiced sent, as the far ends see it: data in @out (control
 * fragments set aside, each END and ABORT ACKed: dp_test_receivers). */
static unsigned int
drain(struct rte_mbuf **out, unsigned int max)
{
	return dp_test_receivers(dp, out, dp_test_port_drain(&port, out, max));
}

/* sl_dp_process on @n frames; the frames sent are dequeued into @out. */
static unsigned int
process(struct rte_mbuf **in, uint16_t n, struct rte_mbuf **out,
	unsigned int max)
{
	struct rte_mbuf *pkts[SL_PATH_CAP];

	memcpy(pkts, in, n * sizeof(in[0]));
	sl_dp_process(dp, pkts, n);
	return drain(out, max);
}

static unsigned int
process1(struct rte_mbuf *m, struct rte_mbuf **out, unsigned int max)
{
	return process(&m, 1, out, max);
}

/* parse + admit + order on @n frames; what goes on is in @pkts. */
static uint16_t
to_order(struct rte_mbuf **pkts, uint16_t n)
{
	n = sl_stage_parse(dp, pkts, n);
	n = sl_stage_admit(dp, pkts, n);
	return sl_stage_order(dp, pkts, n);
}

/* A sent frame, decoded. */
struct sent {
	struct sl_frame fr;
	struct sl_frag_hdr h;
	const uint8_t *frame;
	const uint8_t *dgram;
	size_t len;
};

/* A frame sluiced sent, decoded; s->h names a request by the client's
 * id even when the frame (to an instance) carries sluiced's. */
static bool
decode(struct rte_mbuf *m, struct sent *s)
{
	memset(s, 0, sizeof(*s));
	s->frame = rte_pktmbuf_mtod(m, const uint8_t *);
	s->len = rte_pktmbuf_data_len(m);
	if (m->nb_segs != 1 ||
	    sl_wire_parse_frame(s->frame, s->len, &s->fr) != SL_WIRE_OK)
		return false;
	s->dgram = s->frame + s->fr.hdr_off;
	if (sl_wire_parse(s->dgram, s->fr.dgram_len, &s->h) != SL_WIRE_OK)
		return false;
	if (s->h.ancestry[0] & SL_DP_REQUEST_ID_MARK) {
		uint64_t id = dp_test_req_from_sluiced(dp, s->h.ancestry[0]);

		/* The test's own copy: show the client's id there too. */
		s->h.ancestry[0] = id;
		id = rte_cpu_to_be_64(id);
		memcpy((uint8_t *)s->dgram + SL_WIRE_OFF_ANCESTRY, &id, 8);
	}
	return true;
}

/* Of the @n frames in @out, the one to the client (ABORT @reason at the
 * request's own identity: seq 0, stage 0, depth 1, ancestry [@req]) is
 * checked and freed, and the other moved to out[0] untouched; 1 when
 * so. */
static int
take_client_abort(struct rte_mbuf **out, unsigned int n, uint64_t req,
		  uint8_t reason)
{
	unsigned int c = n;
	struct sl_frame fr;
	struct sent s;

	if (n != 2)
		return 0;
	for (unsigned int i = 0; i < n; i++)
		if (sl_wire_parse_frame(rte_pktmbuf_mtod(out[i], uint8_t *),
					rte_pktmbuf_data_len(out[i]),
					&fr) == SL_WIRE_OK &&
		    fr.dst_ip == CLIENT_IP)
			c = i;
	if (c == n || !decode(out[c], &s))
		return 0;
	if (s.h.flags != SL_FRAG_F_ABORT || s.h.abort_reason != reason ||
	    s.h.seq != 0 || s.h.stage != 0 || s.h.depth != 1 ||
	    s.h.ancestry[0] != req || s.fr.dst_port != CLIENT_PORT)
		return 0;
	rte_pktmbuf_free(out[c]);
	out[0] = out[1 - c];
	return 1;
}

static uint32_t
seq_of(struct rte_mbuf *m)
{
	struct sent s;

	if (!decode(m, &s))
		return UINT32_MAX;
	return s.h.seq;
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/*
 * The frame sluiced must send for fragment @f to @dst_ip:@dst_port with
 * header stage @stage: Ethernet/IPv4/UDP rewritten, datagram unchanged
 * but for the stage field and from_stage, which names the stage that
 * produced the stream (f->stage, 0 for the client).
 */
static size_t
expected_frame(const struct dp_frag *f, uint32_t dst_ip, uint16_t dst_port,
	       uint16_t stage, uint8_t *out)
{
	uint8_t orig[DP_TEST_FRAME_MAX];
	struct dp_frag plain = *f;
	size_t off, len, dlen;
	struct rte_ether_addr dmac = mac_of(dst_ip);
	uint8_t *ip = out + 14, *udp = out + 34;
	uint16_t ck;

	plain.ip_options = 0;
	plain.trailer = 0;
	len = dp_test_build(&plain, orig, sizeof(orig), &off);
	dlen = len - off;
	memcpy(out, &dmac, 6);
	memcpy(out + 6, &our_mac, 6);
	put16(out + 12, 0x0800);
	ip[0] = 0x45;
	ip[1] = 0;
	put16(ip + 2, (uint16_t)(28 + dlen));
	put16(ip + 4, 0);
	put16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = 17;
	put16(ip + 10, 0);
	put32(ip + 12, SLUICED_IP);
	put32(ip + 16, dst_ip);
	{
		uint32_t sum = 0;

		for (int i = 0; i < 20; i += 2)
			sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
		while (sum >> 16)
			sum = (sum & 0xffff) + (sum >> 16);
		ck = (uint16_t)~sum;
	}
	put16(ip + 10, ck);
	put16(udp, SLUICED_PORT);
	put16(udp + 2, dst_port);
	put16(udp + 4, (uint16_t)(8 + dlen));
	put16(udp + 6, 0);
	memcpy(out + 42, orig + off, dlen);
	put16(out + 42 + SL_WIRE_OFF_STAGE, stage);
	put16(out + 42 + SL_WIRE_OFF_FROM_STAGE, f->stage);
	/* Instances see sluiced's request id, the client its own. */
	{
		uint64_t id = f->ancestry[0];

		if (dst_ip == CLIENT_IP || dst_ip == CLIENT2_IP)
			id = dp_test_req_from_sluiced(dp, id);
		else if (f->stage == 0)
			id = rid(id);
		id = rte_cpu_to_be_64(id);
		memcpy(out + 42 + SL_WIRE_OFF_ANCESTRY, &id, 8);
	}
	return 42 + dlen;
}

static void
assert_frame(struct rte_mbuf *m, const uint8_t *want, size_t len)
{
	size_t got = rte_pktmbuf_data_len(m);
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);

	CU_ASSERT_EQUAL(got, len);
	if (got == len && memcmp(p, want, len) != 0) {
		for (size_t i = 0; i < len; i++)
			if (p[i] != want[i]) {
				printf("\n  frame byte %zu: 0x%02x, want "
				       "0x%02x",
				       i, p[i], want[i]);
				break;
			}
	}
	CU_ASSERT(got == len && memcmp(p, want, len) == 0);
	CU_ASSERT(dp_test_ipv4_cksum_ok(p + 14, 20));
}

/* The instance of stage 2 that aggregation 1 gives request @req. */
static uint16_t
stage2_instance_of(uint64_t req)
{
	uint64_t ancestry[1] = {rte_cpu_to_be_64(rid(req))};
	uint32_t seeds[2];

	for (int i = 0; i < 2; i++)
		seeds[i] = sl_dp_instance(dp, 0, 1, i)->seed;
	return sl_route_rendezvous(sl_route_key_hash(ancestry, 1, 1), seeds, 2);
}

/* ---------------------------------------------------------------- parse */

static void
test_parse_valid(void)
{
	struct rte_mbuf *pkts[SL_PATH_CAP];
	struct dp_frag f =
		frag(CLIENT_IP, CLIENT_PORT, 0, 11, 0, 4, SL_FRAG_F_END);
	struct dp_frag g = frag(S1_IP(1), S1_PORT, 1, 11, 3, 9, 0);
	uint8_t buf[DP_TEST_FRAME_MAX];
	size_t off, len;
	struct sl_pkt_meta *pm;

	dp_test_begin();
	dp_open(config_yaml, true);
	len = dp_test_build(&f, buf, sizeof(buf), &off);
	pkts[0] = dp_test_frame(&f);
	g.ip_options = 2; /* 8 bytes of options */
	g.trailer = 5;    /* bytes past the IPv4 packet */
	pkts[1] = dp_test_frame(&g);
	CU_ASSERT_EQUAL_FATAL(sl_stage_parse(dp, pkts, 2), 2);
	pm = sl_pkt_meta(pkts[0]);
	CU_ASSERT_EQUAL(pm->src_ip, CLIENT_IP);
	CU_ASSERT_EQUAL(pm->src_port, CLIENT_PORT);
	CU_ASSERT_EQUAL(pm->hdr_off, 42);
	CU_ASSERT_EQUAL(pm->dgram_len, len - off);
	CU_ASSERT_EQUAL(pm->stage, 0);
	CU_ASSERT_EQUAL(pm->seq, 4);
	CU_ASSERT_EQUAL(pm->flags, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(pm->depth, 1);
	CU_ASSERT_EQUAL(pm->flow, SL_FLOW_NONE);
	pm = sl_pkt_meta(pkts[1]);
	CU_ASSERT_EQUAL(pm->src_ip, S1_IP(1));
	CU_ASSERT_EQUAL(pm->src_port, S1_PORT);
	CU_ASSERT_EQUAL(pm->hdr_off, 50);
	CU_ASSERT_EQUAL(pm->stage, 1);
	CU_ASSERT_EQUAL(pm->seq, 9);
	CU_ASSERT_EQUAL(pm->flags, 0);
	CU_ASSERT_EQUAL(pm->depth, 2);
	dp_test_free_all(pkts, 2);
	expect_drops(-1);
	CU_ASSERT_EQUAL(dp->n_ctrl, 0);
	dp_close();
	dp_test_end();
}

/* One malformed frame per SL_WIRE_* reason, and a chained mbuf. */
static void
test_parse_every_wire_reason(void)
{
	struct rte_mbuf *pkts[SL_PATH_CAP];
	uint16_t n = 0;
	struct dp_frag f = frag(CLIENT_IP, CLIENT_PORT, 0, 1, 0, 0, 0);
	uint8_t base[DP_TEST_FRAME_MAX], b[DP_TEST_FRAME_MAX];
	size_t off, len = dp_test_build(&f, base, sizeof(base), &off);
	uint8_t *ip = b + 14, *udp = b + 34, *d = b + off;

	dp_test_begin();
	dp_open(config_yaml, true);
	CU_ASSERT_EQUAL_FATAL(off, 42);
	for (int st = SL_WIRE_FRAME_SHORT; st < SL_WIRE_STATUS_MAX; st++) {
		size_t l = len;

		/* A wire status is the drop reason of the same name. */
		CU_ASSERT_STRING_EQUAL(sl_drop_name((enum sl_drop)st),
				       sl_wire_status_name(st));
		memcpy(b, base, len);
		switch (st) {
		case SL_WIRE_FRAME_SHORT:
			l = 41;
			break;
		case SL_WIRE_NOT_IPV4:
			put16(b + 12, 0x86dd);
			break;
		case SL_WIRE_IP_BAD_HDR:
			ip[0] = 0x65;
			break;
		case SL_WIRE_IP_BAD_LEN:
			put16(ip + 2, (uint16_t)(len - 14 + 1));
			break;
		case SL_WIRE_IP_FRAGMENT:
			ip[6] |= 0x20;
			break;
		case SL_WIRE_NOT_UDP:
			ip[9] = 6;
			break;
		case SL_WIRE_UDP_BAD_LEN:
			put16(udp + 4, (uint16_t)(len - 34 + 1));
			break;
		case SL_WIRE_SHORT:
			l = 42 + 40;
			put16(ip + 2, 20 + 8 + 40);
			put16(udp + 4, 8 + 40);
			break;
		case SL_WIRE_BAD_MAGIC:
			d[0] ^= 0xff;
			break;
		case SL_WIRE_BAD_VERSION:
			d[2] = 2;
			break;
		case SL_WIRE_BAD_FLAGS:
			d[SL_WIRE_OFF_FLAGS] = 0x80; /* 0x04 is CHILDREN now */
			break;
		case SL_WIRE_BAD_DEPTH:
			d[5] = 7;
			break;
		case SL_WIRE_BAD_RESERVED:
			d[SL_WIRE_OFF_RESERVED + 3] = 1;
			break;
		case SL_WIRE_LEN_MISMATCH:
			d[21] ^= 1;
			break;
		case SL_WIRE_TOKEN_OVERRUN:
			put16(d + SL_WIRE_HDR_LEN + 4, 0x7fff);
			break;
		case SL_WIRE_TOKEN_COUNT:
			put16(d + 14, 3);
			break;
		case SL_WIRE_BAD_UTF8: {
			struct dp_frag g = f;

			g.n_tokens = 1;
			g.tokens[0] = "ok \xc3\x28";
			l = dp_test_build(&g, b, sizeof(b), NULL);
			break;
		}
		case SL_WIRE_TOO_BIG: {
			/* 1384 bytes of tokens (the most a builder makes),
			 * then one byte more in every length. */
			static char text[SL_WIRE_PAYLOAD_MAX];
			struct dp_frag g = f;
			uint16_t tl =
				SL_WIRE_PAYLOAD_MAX - SL_WIRE_TOKEN_HDR_LEN;

			memset(text, 'x', sizeof(text));
			g.n_tokens = 1;
			g.token_texts = (const char *const[]){text};
			g.token_lens = &tl;
			l = dp_test_build(&g, b, sizeof(b), NULL);
			CU_ASSERT_EQUAL(l, 42 + SL_WIRE_HDR_LEN +
						   SL_WIRE_PAYLOAD_MAX);
			b[l] = 'x';
			put16(d + SL_WIRE_HDR_LEN + 4, (uint16_t)(tl + 1));
			put16(d + 20, SL_WIRE_PAYLOAD_MAX + 1);
			put16(udp + 4, (uint16_t)(l + 1 - 34));
			put16(ip + 2, (uint16_t)(l + 1 - 14));
			l++;
			break;
		}
		default:
			CU_FAIL("a wire status this test does not know");
		}
		pkts[n] = dp_test_mbuf(b, l);
		CU_ASSERT_PTR_NOT_NULL_FATAL(pkts[n]);
		n++;
	}
	/* Depth 0 too. */
	memcpy(b, base, len);
	d[5] = 0;
	pkts[n++] = dp_test_mbuf(b, len);
	/* A valid frame in two segments. */
	{
		struct rte_mbuf *head = dp_test_mbuf(base, 60);
		struct rte_mbuf *tail = dp_test_mbuf(base + 60, len - 60);

		CU_ASSERT_FATAL(head != NULL && tail != NULL);
		CU_ASSERT_EQUAL_FATAL(rte_pktmbuf_chain(head, tail), 0);
		pkts[n++] = head;
	}
	CU_ASSERT_EQUAL_FATAL(n, SL_WIRE_STATUS_MAX + 1);
	CU_ASSERT_EQUAL(sl_stage_parse(dp, pkts, n), 0);
	for (int st = SL_WIRE_FRAME_SHORT; st < SL_WIRE_STATUS_MAX; st++) {
		uint64_t want = st == SL_WIRE_BAD_DEPTH ? 2 : 1;

		if (dp->cnt.drops[st] != want)
			printf("\n  %s counted %lu times",
			       sl_wire_status_name(st),
			       (unsigned long)dp->cnt.drops[st]);
		CU_ASSERT_EQUAL(dp->cnt.drops[st], want);
	}
	CU_ASSERT_EQUAL(dp->cnt.drops[SL_DROP_MULTI_SEG], 1);
	CU_ASSERT_EQUAL(dp->cnt.non_sluice, 0);
	CU_ASSERT_EQUAL(dp->n_ctrl, 0);
	dp_close();
	dp_test_end();
}

static void
test_parse_not_for_us(void)
{
	struct rte_mbuf *pkts[SL_PATH_CAP];
	struct dp_frag f = frag(CLIENT_IP, CLIENT_PORT, 0, 1, 0, 0, 0);

	dp_test_begin();
	dp_open(config_yaml, true);
	f.dst_ip = DP_IP(10, 0, 0, 2);
	pkts[0] = dp_test_frame(&f);
	f.dst_ip = SLUICED_IP;
	f.dst_port = SLUICED_PORT + 1;
	pkts[1] = dp_test_frame(&f);
	f.dst_port = SLUICED_PORT;
	pkts[2] = dp_test_frame(&f);
	CU_ASSERT_EQUAL(sl_stage_parse(dp, pkts, 3), 1);
	CU_ASSERT_EQUAL(sl_pkt_meta(pkts[0])->seq, 0);
	rte_pktmbuf_free(pkts[0]);
	expect_drops(SL_DROP_NOT_FOR_US, 2u, -1);
	dp_close();
	dp_test_end();
}

/* An ARP frame of @op from @sha/@sip about @tip; 42 bytes. */
static struct rte_mbuf *
arp_frame(uint16_t op, uint32_t sip, uint32_t tip, bool broadcast)
{
	uint8_t b[42];
	struct rte_ether_addr sha = mac_of(sip);
	struct rte_mbuf *m;

	if (broadcast)
		memset(b, 0xff, 6);
	else
		memcpy(b, &our_mac, 6);
	memcpy(b + 6, &sha, 6);
	put16(b + 12, 0x0806);
	put16(b + 14, 1);
	put16(b + 16, 0x0800);
	b[18] = 6;
	b[19] = 4;
	put16(b + 20, op);
	memcpy(b + 22, &sha, 6);
	put32(b + 28, sip);
	if (op == 1)
		memset(b + 32, 0, 6);
	else
		memcpy(b + 32, &our_mac, 6);
	put32(b + 38, tip);
	m = dp_test_mbuf(b, sizeof(b));
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	return m;
}

static void
expected_arp_reply(uint32_t to_ip, uint8_t *b)
{
	struct rte_ether_addr tha = mac_of(to_ip);

	memcpy(b, &tha, 6);
	memcpy(b + 6, &our_mac, 6);
	put16(b + 12, 0x0806);
	put16(b + 14, 1);
	put16(b + 16, 0x0800);
	b[18] = 6;
	b[19] = 4;
	put16(b + 20, 2);
	memcpy(b + 22, &our_mac, 6);
	put32(b + 28, SLUICED_IP);
	memcpy(b + 32, &tha, 6);
	put32(b + 38, to_ip);
}

static void
expected_arp_request(uint32_t for_ip, uint8_t *b)
{
	memset(b, 0xff, 6);
	memcpy(b + 6, &our_mac, 6);
	put16(b + 12, 0x0806);
	put16(b + 14, 1);
	put16(b + 16, 0x0800);
	b[18] = 6;
	b[19] = 4;
	put16(b + 20, 1);
	memcpy(b + 22, &our_mac, 6);
	put32(b + 28, SLUICED_IP);
	memset(b + 32, 0, 6);
	put32(b + 38, for_ip);
}

static void
test_parse_arp_for_us_answered(void)
{
	struct rte_mbuf *pkts[SL_PATH_CAP], *out[4];
	const uint32_t asker = DP_IP(10, 0, 1, 7);
	struct rte_ether_addr asker_mac = mac_of(asker);
	const struct rte_ether_addr *learned;
	uint8_t want[42];

	dp_test_begin();
	dp_open(config_yaml, false);
	CU_ASSERT_PTR_NULL(sl_neigh_lookup(&dp->neigh, asker));
	pkts[0] = arp_frame(1, asker, SLUICED_IP, true);
	CU_ASSERT_EQUAL(sl_stage_parse(dp, pkts, 1), 0);
	CU_ASSERT_EQUAL(dp->cnt.arp_replies, 1);
	CU_ASSERT_EQUAL(dp->cnt.non_sluice, 0);
	expect_drops(-1);
	learned = sl_neigh_lookup(&dp->neigh, asker);
	CU_ASSERT_PTR_NOT_NULL(learned);
	if (learned != NULL)
		CU_ASSERT_EQUAL(memcmp(learned, &asker_mac, 6), 0);

	expected_arp_reply(asker, want);
	CU_ASSERT_EQUAL_FATAL(dp->n_ctrl, 1);
	CU_ASSERT_EQUAL(rte_pktmbuf_data_len(dp->ctrl[0]), 42);
	CU_ASSERT_EQUAL(memcmp(rte_pktmbuf_mtod(dp->ctrl[0], void *), want, 42),
			0);
	CU_ASSERT_EQUAL(sl_stage_tx(dp, NULL, 0), 0);
	CU_ASSERT_EQUAL(dp->n_ctrl, 0);
	CU_ASSERT_EQUAL(dp->cnt.tx_packets, 1);
	CU_ASSERT_EQUAL(dp->cnt.forwarded, 0);
	CU_ASSERT_EQUAL_FATAL(drain(out, 4), 1);
	CU_ASSERT_EQUAL(rte_pktmbuf_data_len(out[0]), 42);
	CU_ASSERT_EQUAL(memcmp(rte_pktmbuf_mtod(out[0], void *), want, 42), 0);
	rte_pktmbuf_free(out[0]);
	dp_close();
	dp_test_end();
}

static void
test_parse_arp_not_for_us(void)
{
	struct rte_mbuf *pkts[SL_PATH_CAP], *out[4];
	const uint32_t asker = DP_IP(10, 0, 1, 8);
	struct rte_ether_addr s1_mac = mac_of(S1_IP(0));
	const struct rte_ether_addr *learned;

	dp_test_begin();
	dp_open(config_yaml, false);
	pkts[0] = arp_frame(1, asker, DP_IP(10, 0, 0, 99), true);
	CU_ASSERT_EQUAL(sl_stage_parse(dp, pkts, 1), 0);
	CU_ASSERT_EQUAL(dp->cnt.non_sluice, 1);
	CU_ASSERT_EQUAL(dp->cnt.arp_replies, 0);
	CU_ASSERT_EQUAL(dp->n_ctrl, 0);
	CU_ASSERT_PTR_NULL(sl_neigh_lookup(&dp->neigh, asker));

	/* A reply to our request teaches the instance's MAC, sends nothing. */
	pkts[0] = arp_frame(2, S1_IP(0), SLUICED_IP, false);
	CU_ASSERT_EQUAL(sl_stage_parse(dp, pkts, 1), 0);
	learned = sl_neigh_lookup(&dp->neigh, S1_IP(0));
	CU_ASSERT_PTR_NOT_NULL(learned);
	if (learned != NULL)
		CU_ASSERT_EQUAL(memcmp(learned, &s1_mac, 6), 0);
	CU_ASSERT_EQUAL(dp->cnt.arp_replies, 0);
	CU_ASSERT_EQUAL(dp->n_ctrl, 0);
	CU_ASSERT_EQUAL(sl_stage_tx(dp, NULL, 0), 0);
	CU_ASSERT_EQUAL(drain(out, 4), 0);
	expect_drops(-1);
	dp_close();
	dp_test_end();
}

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
			CU_ASSERT_EQUAL(rte_be_to_cpu_64(k.ancestry[0]),
					sl_dp_request_id(pm->flow, fl->gen));
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
	CU_ASSERT_EQUAL(dp->tenant_use[2].streams, 2);
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
	CU_ASSERT_EQUAL(dp->tenant_use[2].streams, 1);
	f = frag(CLIENT_IP, CLIENT_PORT, 0, 22, 0, 0, 0);
	pkts[0] = with_tenant(f, 2);
	CU_ASSERT_EQUAL(to_order(pkts, 1), 1);
	rte_pktmbuf_free(pkts[0]);
	CU_ASSERT_EQUAL(dp->tenant_use[2].streams, 2);
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
	CU_ASSERT_EQUAL(dp->tenant_use[2].streams, 2);
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

/* The client stream of request @req (of either client, any tenant). */
static struct sl_flow *
client_flow(uint64_t req)
{
	uint64_t id = rid(req);
	uint32_t idx;

	if (id == req)
		return NULL;
	idx = sl_dp_request_origin(dp, rte_cpu_to_be_64(id));
	return idx == SL_FLOW_NONE ? NULL : sl_flow_at(dp->flows, idx);
}

/* The route pin of flow @f's stream on its @slot-th out edge. */
static struct sl_route_pin *
pin_of(struct sl_flow *f, unsigned int slot)
{
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f->edges);
	return &((struct sl_edge_block *)f->edges)->e[slot].pin;
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

/* ---------------------------------------------------------------- route */

static void
test_route_client_to_stage1(void)
{
	struct rte_mbuf *out[8];
	struct dp_frag f;
	uint8_t want[DP_TEST_FRAME_MAX];
	size_t wlen;

	dp_test_begin();
	dp_open(config_yaml, true);
	/* Stream A's first fragment: round robin starts at instance 0. */
	f = frag(CLIENT_IP, CLIENT_PORT, 0, 1, 0, 0, 0);
	CU_ASSERT_EQUAL_FATAL(process1(dp_test_frame(&f), out, 8), 1);
	wlen = expected_frame(&f, S1_IP(0), S1_PORT, 1, want);
	assert_frame(out[0], want, wlen);
	rte_pktmbuf_free(out[0]);
	/* Stream B goes to instance 1. */
	f = frag(CLIENT2_IP, CLIENT2_PORT, 0, 2, 0, 0, 0);
	CU_ASSERT_EQUAL_FATAL(process1(dp_test_frame(&f), out, 8), 1);
	wlen = expected_frame(&f, S1_IP(1), S1_PORT, 1, want);
	assert_frame(out[0], want, wlen);
	rte_pktmbuf_free(out[0]);
	/* A's later fragments follow A, B's follow B, whatever the cursor. */
	for (uint32_t s = 1; s <= 4; s++) {
		uint8_t fl = s == 4 ? SL_FRAG_F_END : 0;

		f = frag(CLIENT_IP, CLIENT_PORT, 0, 1, 0, s, fl);
		CU_ASSERT_EQUAL_FATAL(process1(dp_test_frame(&f), out, 8), 1);
		wlen = expected_frame(&f, S1_IP(0), S1_PORT, 1, want);
		assert_frame(out[0], want, wlen);
		rte_pktmbuf_free(out[0]);
	}
	f = frag(CLIENT2_IP, CLIENT2_PORT, 0, 2, 0, 1, 0);
	CU_ASSERT_EQUAL_FATAL(process1(dp_test_frame(&f), out, 8), 1);
	wlen = expected_frame(&f, S1_IP(1), S1_PORT, 1, want);
	assert_frame(out[0], want, wlen);
	rte_pktmbuf_free(out[0]);

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

/* IPv4 options and bytes after the IPv4 packet are not forwarded. */
static void
test_route_rewrite_strips_options(void)
{
	struct rte_mbuf *out[8];
	struct dp_frag f;
	uint8_t want[DP_TEST_FRAME_MAX];
	size_t wlen;

	dp_test_begin();
	dp_open(config_yaml, true);
	f = frag(CLIENT_IP, CLIENT_PORT, 0, 1, 0, 0, 0);
	f.ip_options = 3;
	f.trailer = 17;
	CU_ASSERT_EQUAL_FATAL(process1(dp_test_frame(&f), out, 8), 1);
	wlen = expected_frame(&f, S1_IP(0), S1_PORT, 1, want);
	assert_frame(out[0], want, wlen);
	rte_pktmbuf_free(out[0]);
	expect_drops(-1);
	dp_close();
	dp_test_end();
}

static void
test_route_stage1_to_stage2_to_client(void)
{
	struct rte_mbuf *out[8];
	struct dp_frag f;
	uint8_t want[DP_TEST_FRAME_MAX];
	size_t wlen;
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
		CU_ASSERT_EQUAL_FATAL(process1(dp_test_frame(&f), out, 8), 1);
		wlen = expected_frame(&f, S2_IP(i2), S2_PORT, 2, want);
		assert_frame(out[0], want, wlen);
		rte_pktmbuf_free(out[0]);
	}
	CU_ASSERT_EQUAL(sl_dp_instance(dp, 0, 1, i2)->streams, 1);
	CU_ASSERT_EQUAL(sl_dp_instance(dp, 0, 1, i2)->fragments, 3);
	CU_ASSERT_EQUAL(sl_dp_instance(dp, 0, 1, i2)->streams_active, 0);
	CU_ASSERT_EQUAL(sl_dp_instance(dp, 0, 1, 1 - i2)->streams, 0);

	/* Stage 2's output returns to the client; the stage field stays. */
	for (uint32_t s = 0; s < 2; s++) {
		f = frag(S2_IP(i2), S2_PORT, 2, 5, 0, s,
			 s == 1 ? SL_FRAG_F_END : 0);
		CU_ASSERT_EQUAL_FATAL(process1(dp_test_frame(&f), out, 8), 1);
		wlen = expected_frame(&f, CLIENT_IP, CLIENT_PORT, 2, want);
		assert_frame(out[0], want, wlen);
		rte_pktmbuf_free(out[0]);
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
	/* Housekeeping (a pass over the whole table: eight calls) asks for
	 * the three others, not for it again. */
	for (int pass = 0; pass < 8; pass++)
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
	CU_ASSERT_EQUAL_FATAL(process1(dp_test_frame(&f), out, 8), 1);
	wlen = expected_frame(&f, S1_IP(0), S1_PORT, 1, want);
	assert_frame(out[0], want, wlen);
	rte_pktmbuf_free(out[0]);
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
	/* A pass looks at an eighth of the table: eight rounds see all. */
	for (unsigned int round = 1; round <= 12; round++) {
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

/* The suite's own ring port. */
static int
stages_port(void)
{
	return dp_test_port_create(&port, "dp_stages");
}

static void
stages_port_flush(void)
{
	dp_test_port_flush(&port);
}

static const struct dp_test_case cases[] = {
	DP_SUITE("parse"),
	DP_CASE("valid fragments decoded into sl_pkt_meta", test_parse_valid),
	DP_CASE("every SL_WIRE reason counted once, MULTI_SEG",
		test_parse_every_wire_reason),
	DP_CASE("NOT_FOR_US: other IP, other port", test_parse_not_for_us),
	DP_CASE("ARP request for sluiced answered, bytes exact",
		test_parse_arp_for_us_answered),
	DP_CASE("ARP for another address consumed", test_parse_arp_not_for_us),
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
	DP_SUITE("route"),
	DP_CASE("client stream pinned to a stage-1 instance, bytes",
		test_route_client_to_stage1),
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
	return dp_test_main(argv[0], cases, stages_port, stages_port_flush);
}
