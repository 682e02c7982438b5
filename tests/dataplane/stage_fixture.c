/* SPDX-License-Identifier: MIT */
/*
 * stage_fixture.c - the packet-stage suites' shared fixture
 * (stage_fixture.h).
 */
#include "stage_fixture.h"

const char config_yaml[] = CONFIG_HEAD_YAML PIPELINE_YAML;

const char small_table_yaml[] = "liveness: {probe_ms: 0}\n"
				"sluiced:\n"
				"  address: 10.0.0.1\n"
				"flows:\n"
				"  size: 64\n"
				"  client_streams: 64\n"
				"  source_streams: 64\n"
				"  reorder_window: 8\n"
				"clients:\n"
				"  - 10.0.1.0/24\n" PIPELINE_YAML;

const char tenants_yaml[] = "liveness: {probe_ms: 0}\n"
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

struct dp_test_port port;
struct rte_ether_addr our_mac; /* the worker's MAC (dp->mac) */
struct sl_config *cfg;
struct sl_dp *dp;
uint64_t t0; /* dp->now right after sl_dp_init */

struct rte_ether_addr
mac_of(uint32_t ip)
{
	struct rte_ether_addr m = {{0x02, 0x00, (uint8_t)(ip >> 24),
				    (uint8_t)(ip >> 16), (uint8_t)(ip >> 8),
				    (uint8_t)ip}};

	return m;
}

void
learn(uint32_t ip)
{
	struct rte_ether_addr m = mac_of(ip);

	CU_ASSERT_EQUAL(sl_neigh_learn(&dp->neigh, ip, &m,
				       sl_dp_neigh_kind(dp, ip), dp->now),
			0);
}

/* A worker context on the ring port; @learn_all: every neighbour known. */
void
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

void
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
void
expect_drops(int reason, ...)
{
	va_list ap;

	va_start(ap, reason);
	dp_test_expect_drops(dp, reason, ap);
	va_end(ap);
}

/*
 * The id sluiced gave request @req of either client (tenant 0 or any of
 * the tenants of tenants_yaml): what instances see; @req itself when no
 * such request is in the table.
 */
uint64_t
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
struct dp_frag
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

struct rte_mbuf *
client(uint64_t req, uint32_t seq, uint8_t flags)
{
	struct dp_frag f = frag(CLIENT_IP, CLIENT_PORT, 0, req, 0, seq, flags);

	return dp_test_frame(&f);
}

struct rte_mbuf *
from_s1(int inst, uint64_t req, uint64_t sub, uint32_t seq, uint8_t flags)
{
	struct dp_frag f = frag(S1_IP(inst), S1_PORT, 1, req, sub, seq, flags);

	return dp_test_frame(&f);
}

struct rte_mbuf *
from_s2(int inst, uint64_t req, uint64_t sub, uint32_t seq, uint8_t flags)
{
	struct dp_frag f = frag(S2_IP(inst), S2_PORT, 2, req, sub, seq, flags);

	return dp_test_frame(&f);
}

struct rte_mbuf *
with_tenant(struct dp_frag f, uint16_t tenant)
{
	f.tenant = tenant;
	return dp_test_frame(&f);
}

/* What sluiced sent, as the far ends see it: data in @out (control
 * fragments set aside, each END and ABORT ACKed: dp_test_receivers). */
unsigned int
drain(struct rte_mbuf **out, unsigned int max)
{
	return dp_test_receivers(dp, out, dp_test_port_drain(&port, out, max));
}

/* sl_dp_process on @n frames; the frames sent are dequeued into @out. */
unsigned int
process(struct rte_mbuf **in, uint16_t n, struct rte_mbuf **out,
	unsigned int max)
{
	struct rte_mbuf *pkts[SL_PATH_CAP];

	memcpy(pkts, in, n * sizeof(in[0]));
	sl_dp_process(dp, pkts, n);
	return drain(out, max);
}

unsigned int
process1(struct rte_mbuf *m, struct rte_mbuf **out, unsigned int max)
{
	return process(&m, 1, out, max);
}

/* parse + admit + order on @n frames; what goes on is in @pkts. */
uint16_t
to_order(struct rte_mbuf **pkts, uint16_t n)
{
	n = sl_stage_parse(dp, pkts, n);
	n = sl_stage_admit(dp, pkts, n);
	return sl_stage_order(dp, pkts, n);
}

/* A frame sluiced sent, decoded; s->h names a request by the client's
 * id even when the frame (to an instance) carries sluiced's. */
bool
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
int
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

uint32_t
seq_of(struct rte_mbuf *m)
{
	struct sent s;

	if (!decode(m, &s))
		return UINT32_MAX;
	return s.h.seq;
}

void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

void
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
size_t
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

void
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
uint16_t
stage2_instance_of(uint64_t req)
{
	uint64_t ancestry[1] = {rte_cpu_to_be_64(rid(req))};
	uint32_t seeds[2];

	for (int i = 0; i < 2; i++)
		seeds[i] = sl_dp_instance(dp, 0, 1, i)->seed;
	return sl_route_rendezvous(sl_route_key_hash(ancestry, 1, 1), seeds, 2);
}

/* An ARP frame of @op from @sha/@sip about @tip; 42 bytes. */
struct rte_mbuf *
arp_frame(uint16_t op, uint32_t sip, uint32_t tip, bool broadcast)
{
	uint8_t b[42];
	struct rte_ether_addr sha = mac_of(sip);
	struct rte_mbuf *m;

	dp_test_arp(b, broadcast ? NULL : &our_mac, &sha, op, sip,
		    op == 1 ? NULL : &our_mac, tip);
	m = dp_test_mbuf(b, sizeof(b));
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	return m;
}

void
expected_arp_request(uint32_t for_ip, uint8_t *b)
{
	dp_test_arp(b, NULL, &our_mac, 1, SLUICED_IP, NULL, for_ip);
}

/* The client stream of request @req (of either client, any tenant). */
struct sl_flow *
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
struct sl_route_pin *
pin_of(struct sl_flow *f, unsigned int slot)
{
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f->edges);
	return &((struct sl_edge_block *)f->edges)->e[slot].pin;
}

int
stage_port(void)
{
	return dp_test_port_create(&port, "dp_stages");
}

void
stage_port_flush(void)
{
	dp_test_port_flush(&port);
}
