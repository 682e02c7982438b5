/* SPDX-License-Identifier: MIT */
/*
 * test_stage_parse.c - the parse node: frames decoded into sl_pkt_meta, every wire reason
 * counted, frames not for sluiced, ARP answered or consumed.
 * Fixture: stage_fixture.h.
 */
#include "stage_fixture.h"

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

static void
expected_arp_reply(uint32_t to_ip, uint8_t *b)
{
	struct rte_ether_addr tha = mac_of(to_ip);

	dp_test_arp(b, &tha, &our_mac, 2, SLUICED_IP, &tha, to_ip);
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

static const struct dp_test_case cases[] = {
	DP_SUITE("parse"),
	DP_CASE("valid fragments decoded into sl_pkt_meta", test_parse_valid),
	DP_CASE("every SL_WIRE reason counted once, MULTI_SEG",
		test_parse_every_wire_reason),
	DP_CASE("NOT_FOR_US: other IP, other port", test_parse_not_for_us),
	DP_CASE("ARP request for sluiced answered, bytes exact",
		test_parse_arp_for_us_answered),
	DP_CASE("ARP for another address consumed", test_parse_arp_not_for_us),
	DP_END,
};

int
main(int argc, char **argv)
{
	(void)argc;
	return dp_test_main(argv[0], cases, stage_port, stage_port_flush);
}
