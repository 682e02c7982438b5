/* SPDX-License-Identifier: MIT */
/*
 * test_impair.c - the fault injector behind `sluiced --impair`
 * (dataplane/sl_impair.[ch]), called directly on bursts of mbufs.
 *
 * The spec: every item parsed into the struct exactly (percentages to
 * parts per million, dir, hops, seed) and every refusal with its exact
 * message. The injector: only frames of a chosen hop (the source on the
 * way in, the destination on the way out) in the chosen direction are
 * impaired, others and ARP pass untouched and in order; a drop frees the
 * frame, a duplicate is a distinct copy from the given pool, byte for
 * byte, sent after the next burst, as a reordered frame is; at most
 * SL_IMPAIR_HELD are held back per way. A fixed seed repeats the exact
 * set of frames dropped, and 30% drops 30% +- 2% of 10,000 frames; with
 * every fault on at once on one hop, each burst comes out exactly as a
 * model of the injector's draws says, with exact counters.
 * Probabilities of 100% (above what the spec accepts) are set in the
 * struct by hand. The pool holds as many mbufs in use after each test as
 * before it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <rte_arp.h>
#include <rte_mbuf.h>

#include "dp_test.h"
#include "sl_impair.h"

#define HOP_A DP_IP(10, 0, 1, 1) /* an instance */
#define HOP_B DP_IP(10, 0, 2, 1) /* another instance */
#define HOP_C DP_IP(10, 0, 3, 1) /* a client */
#define SLUICED DP_IP(10, 0, 0, 1)
#define ALWAYS 1000000u /* 100% in ppm */
#define BURST 32u
#define MANY 10000u

/* A sluice fragment from @src to @dst, its sequence number @seq. */
static struct rte_mbuf *
frame(uint32_t src, uint32_t dst, uint32_t seq)
{
	struct dp_frag f;
	struct rte_mbuf *m;

	memset(&f, 0, sizeof(f));
	f.src_ip = src;
	f.dst_ip = dst;
	f.src_port = 40000;
	f.dst_port = SL_WIRE_UDP_PORT;
	f.pipeline = 1;
	f.seq = seq;
	f.ancestry[0] = 77;
	f.n_tokens = 1;
	f.tokens[0] = "hello";
	m = dp_test_frame(&f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	return m;
}

static struct rte_mbuf *
arp_frame(uint32_t sip, uint32_t tip)
{
	static const struct rte_ether_addr sha = {
		.addr_bytes = {0x02, 0, 0, 0, 0, 0x09}};
	uint8_t b[42];
	struct rte_mbuf *m;

	dp_test_arp(b, NULL, &sha, RTE_ARP_OP_REQUEST, sip, NULL, tip);
	m = dp_test_mbuf(b, sizeof(b));
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	return m;
}

/* Whether @m holds exactly @len bytes equal to @bytes. */
static bool
same_bytes(const struct rte_mbuf *m, const uint8_t *bytes, size_t len)
{
	return rte_pktmbuf_pkt_len(m) == len &&
	       rte_pktmbuf_data_len(m) == len &&
	       memcmp(rte_pktmbuf_mtod(m, const uint8_t *), bytes, len) == 0;
}

/* sl_impair_parse of @spec succeeds with an empty error. */
static void
parse_ok(struct sl_impair *im, const char *spec)
{
	char err[256] = "";

	CU_ASSERT_EQUAL(sl_impair_parse(im, spec, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(err, "");
}

/* sl_impair_parse of @spec fails with -EINVAL and exactly @msg. */
static void
parse_bad(const char *spec, const char *msg)
{
	struct sl_impair im;
	char err[256] = "";

	CU_ASSERT_EQUAL(sl_impair_parse(&im, spec, err, sizeof(err)), -EINVAL);
	if (strcmp(err, msg) != 0)
		fprintf(stderr, "\n  \"%s\": got \"%s\"\n", spec, err);
	CU_ASSERT_STRING_EQUAL(err, msg);
}

static void
test_parse_defaults(void)
{
	struct sl_impair im;

	memset(&im, 0xa5, sizeof(im));
	parse_ok(&im, "");
	CU_ASSERT_EQUAL(im.drop_ppm, 0);
	CU_ASSERT_EQUAL(im.dup_ppm, 0);
	CU_ASSERT_EQUAL(im.reorder_ppm, 0);
	CU_ASSERT_EQUAL(im.dir, SL_IMPAIR_BOTH);
	CU_ASSERT_EQUAL(im.n_hops, 0);
	CU_ASSERT_EQUAL(im.rng, 1);
	CU_ASSERT_EQUAL(im.n_held_rx, 0);
	CU_ASSERT_EQUAL(im.n_held_tx, 0);
	CU_ASSERT_EQUAL(im.rx.seen, 0);
	CU_ASSERT_EQUAL(im.tx.dropped, 0);

	/* Empty items are skipped; what is not named keeps its default. */
	parse_ok(&im, ",drop=5,,");
	CU_ASSERT_EQUAL(im.drop_ppm, 50000);
	CU_ASSERT_EQUAL(im.dup_ppm, 0);
	CU_ASSERT_EQUAL(im.dir, SL_IMPAIR_BOTH);
	CU_ASSERT_EQUAL(im.rng, 1);
}

static void
test_parse_items(void)
{
	struct sl_impair im;
	char spec[600];

	parse_ok(&im, "drop=5,dup=1,reorder=3,dir=both,hop=10.1.2.3,seed=7");
	CU_ASSERT_EQUAL(im.drop_ppm, 50000);
	CU_ASSERT_EQUAL(im.dup_ppm, 10000);
	CU_ASSERT_EQUAL(im.reorder_ppm, 30000);
	CU_ASSERT_EQUAL(im.dir, SL_IMPAIR_BOTH);
	CU_ASSERT_EQUAL(im.n_hops, 1);
	CU_ASSERT_EQUAL(im.hops[0], DP_IP(10, 1, 2, 3));
	CU_ASSERT_EQUAL(im.rng, 7);

	/* Decimals, rounded to the nearest ppm; the bounds. */
	parse_ok(&im, "drop=0.5,dup=12.3456,reorder=0.00005");
	CU_ASSERT_EQUAL(im.drop_ppm, 5000);
	CU_ASSERT_EQUAL(im.dup_ppm, 123456);
	CU_ASSERT_EQUAL(im.reorder_ppm, 1);
	parse_ok(&im, "drop=50,dup=0,reorder=50.0");
	CU_ASSERT_EQUAL(im.drop_ppm, 500000);
	CU_ASSERT_EQUAL(im.dup_ppm, 0);
	CU_ASSERT_EQUAL(im.reorder_ppm, 500000);

	parse_ok(&im, "dir=rx");
	CU_ASSERT_EQUAL(im.dir, SL_IMPAIR_RX);
	parse_ok(&im, "dir=tx");
	CU_ASSERT_EQUAL(im.dir, SL_IMPAIR_TX);
	/* A later item wins. */
	parse_ok(&im, "dir=tx,dir=both,drop=5,drop=7,seed=3,seed=9");
	CU_ASSERT_EQUAL(im.dir, SL_IMPAIR_BOTH);
	CU_ASSERT_EQUAL(im.drop_ppm, 70000);
	CU_ASSERT_EQUAL(im.rng, 9);

	/* Seed 0 is xorshift's fixed point: taken as 1. */
	parse_ok(&im, "seed=0");
	CU_ASSERT_EQUAL(im.rng, 1);
	parse_ok(&im, "seed=18446744073709551615");
	CU_ASSERT_EQUAL(im.rng, UINT64_MAX);

	/* Hops in order, up to SL_IMPAIR_HOPS. */
	strcpy(spec, "hop=0.0.0.0,hop=255.255.255.255");
	for (int i = 2; i < SL_IMPAIR_HOPS; i++)
		sprintf(spec + strlen(spec), ",hop=192.168.%d.%d", i, 100 + i);
	parse_ok(&im, spec);
	CU_ASSERT_EQUAL(im.n_hops, SL_IMPAIR_HOPS);
	CU_ASSERT_EQUAL(im.hops[0], 0);
	CU_ASSERT_EQUAL(im.hops[1], UINT32_MAX);
	for (int i = 2; i < SL_IMPAIR_HOPS; i++)
		CU_ASSERT_EQUAL(im.hops[i], DP_IP(192, 168, i, 100 + i));

	/* The longest spec taken: 511 bytes. */
	memset(spec, '0', 511);
	memcpy(spec, "seed=", 5);
	spec[510] = '5';
	spec[511] = '\0';
	parse_ok(&im, spec);
	CU_ASSERT_EQUAL(im.rng, 5);
}

static void
test_parse_refusals(void)
{
	struct sl_impair im;
	char spec[600], err[8];

	parse_bad("loss=5", "impair: unknown item \"loss\" (drop=, dup=, "
			    "reorder=, dir=, hop=, seed=)");
	parse_bad("drop", "impair: unknown item \"drop\" (drop=, dup=, "
			  "reorder=, dir=, hop=, seed=)");
	parse_bad("drop=5,DUP=1", "impair: unknown item \"DUP\" (drop=, dup=, "
				  "reorder=, dir=, hop=, seed=)");
	parse_bad("=5", "impair: unknown item \"\" (drop=, dup=, reorder=, "
			"dir=, hop=, seed=)");

	parse_bad("drop=100",
		  "impair.drop: must be a percentage 0..50, got \"100\"");
	parse_bad("drop=50.01",
		  "impair.drop: must be a percentage 0..50, got \"50.01\"");
	parse_bad("dup=-1", "impair.dup: must be a percentage 0..50, got "
			    "\"-1\"");
	parse_bad("reorder=", "impair.reorder: must be a percentage 0..50, "
			      "got \"\"");
	parse_bad("reorder=3%", "impair.reorder: must be a percentage 0..50, "
				"got \"3%\"");
	parse_bad("drop=nan", "impair.drop: must be a percentage 0..50, got "
			      "\"nan\"");
	parse_bad("drop=five", "impair.drop: must be a percentage 0..50, got "
			       "\"five\"");

	parse_bad("dir=up", "impair.dir: must be rx, tx or both, got \"up\"");
	parse_bad("dir=", "impair.dir: must be rx, tx or both, got \"\"");
	parse_bad("dir=RX", "impair.dir: must be rx, tx or both, got \"RX\"");

	parse_bad("hop=10.0.0.256", "impair.hop: must be an IPv4 address (at "
				    "most 16), got \"10.0.0.256\"");
	parse_bad("hop=10.0.0", "impair.hop: must be an IPv4 address (at "
				"most 16), got \"10.0.0\"");
	parse_bad("hop=", "impair.hop: must be an IPv4 address (at most 16), "
			  "got \"\"");
	parse_bad("hop=10.0.0.1/24", "impair.hop: must be an IPv4 address (at "
				     "most 16), got \"10.0.0.1/24\"");
	parse_bad("hop=host", "impair.hop: must be an IPv4 address (at most "
			      "16), got \"host\"");
	/* One hop more than SL_IMPAIR_HOPS. */
	spec[0] = '\0';
	for (int i = 0; i <= SL_IMPAIR_HOPS; i++)
		sprintf(spec + strlen(spec), "%shop=10.9.0.%d", i ? "," : "",
			i + 1);
	parse_bad(spec, "impair.hop: must be an IPv4 address (at most 16), "
			"got \"10.9.0.17\"");

	parse_bad("seed=x", "impair.seed: must be a number, got \"x\"");
	parse_bad("seed=", "impair.seed: must be a number, got \"\"");
	parse_bad("seed=12abc", "impair.seed: must be a number, got "
				"\"12abc\"");

	/* The first refusal is the one reported. */
	parse_bad("dir=up,drop=99", "impair.dir: must be rx, tx or both, got "
				    "\"up\"");

	memset(spec, '0', 512);
	memcpy(spec, "seed=", 5);
	spec[512] = '\0';
	parse_bad(spec, "impair: longer than 511 bytes");

	/* A short buffer gets the message cut, terminated. */
	memset(err, 'x', sizeof(err));
	CU_ASSERT_EQUAL(sl_impair_parse(&im, "dir=up", err, sizeof(err)),
			-EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "impair.");
}

/* An injector from @spec, then the probabilities given (ppm) set by hand
 * where not UINT32_MAX. */
static void
injector(struct sl_impair *im, const char *spec, uint32_t drop, uint32_t dup,
	 uint32_t reorder)
{
	parse_ok(im, spec);
	if (drop != UINT32_MAX)
		im->drop_ppm = drop;
	if (dup != UINT32_MAX)
		im->dup_ppm = dup;
	if (reorder != UINT32_MAX)
		im->reorder_ppm = reorder;
}

/*
 * A burst: frames from and to A, B and C, and an ARP from A; which of
 * them @way (rx or tx) drops at 100% under @spec is @dropped (a bitmask by
 * index). The survivors come back in order, the same mbufs, untouched.
 */
#define N_MIX 7
static void
drop_mix(const char *spec, bool rx, unsigned int dropped)
{
	struct sl_impair im;
	struct rte_mbuf *pkts[N_MIX], *orig[N_MIX];
	uint8_t bytes[N_MIX][DP_TEST_FRAME_MAX];
	uint32_t lens[N_MIX];
	uint16_t n, k = 0;
	unsigned int expect = 0;
	struct sl_impair_counters *c, *other;

	injector(&im, spec, ALWAYS, UINT32_MAX, UINT32_MAX);
	c = rx ? &im.rx : &im.tx;
	other = rx ? &im.tx : &im.rx;
	pkts[0] = frame(HOP_A, SLUICED, 1); /* from A */
	pkts[1] = frame(SLUICED, HOP_A, 2); /* to A */
	pkts[2] = frame(HOP_B, SLUICED, 3);
	pkts[3] = frame(SLUICED, HOP_B, 4);
	pkts[4] = frame(HOP_C, SLUICED, 5);
	pkts[5] = frame(SLUICED, HOP_C, 6);
	pkts[6] = arp_frame(HOP_A, SLUICED);
	for (int i = 0; i < N_MIX; i++) {
		orig[i] = pkts[i];
		lens[i] = rte_pktmbuf_pkt_len(pkts[i]);
		memcpy(bytes[i], rte_pktmbuf_mtod(pkts[i], uint8_t *), lens[i]);
		if (!(dropped & (1u << i)))
			expect++;
	}
	n = rx ? sl_impair_rx(&im, dp_test_pool(), pkts, N_MIX, N_MIX)
	       : sl_impair_tx(&im, dp_test_pool(), pkts, N_MIX, N_MIX);
	if (n != expect)
		fprintf(stderr, "\n  %s %s: %u frames through, %u expected\n",
			spec, rx ? "rx" : "tx", n, expect);
	CU_ASSERT_EQUAL_FATAL(n, expect);
	for (int i = 0; i < N_MIX; i++) {
		if (dropped & (1u << i))
			continue;
		CU_ASSERT_PTR_EQUAL(pkts[k], orig[i]);
		CU_ASSERT(same_bytes(pkts[k], bytes[i], lens[i]));
		k++;
	}
	CU_ASSERT_EQUAL(c->dropped, (uint64_t)(N_MIX - expect));
	CU_ASSERT_EQUAL(c->duplicated, 0);
	CU_ASSERT_EQUAL(c->reordered, 0);
	CU_ASSERT_EQUAL(other->seen, 0);
	CU_ASSERT_EQUAL(other->dropped, 0);
	CU_ASSERT_EQUAL(im.n_held_rx + im.n_held_tx, 0);
	dp_test_free_all(pkts, n);
}

/* Bits of the mix: frames from A, to A, from B, to B, from C, to C. */
#define FROM_A (1u << 0)
#define TO_A (1u << 1)
#define FROM_B (1u << 2)
#define TO_B (1u << 3)
#define FROM_C (1u << 4)
#define TO_C (1u << 5)

static void
test_drop_hop(void)
{
	struct sl_impair im;
	struct rte_mbuf *pkts[N_MIX];

	dp_test_begin();
	/* On the way in a hop is the source; on the way out the
	 * destination. */
	drop_mix("hop=10.0.1.1,dir=rx", true, FROM_A);
	drop_mix("hop=10.0.1.1,dir=tx", false, TO_A);
	drop_mix("hop=10.0.1.1", true, FROM_A);
	drop_mix("hop=10.0.1.1", false, TO_A);
	drop_mix("hop=10.0.1.1,hop=10.0.3.1,dir=both", true, FROM_A | FROM_C);
	drop_mix("hop=10.0.1.1,hop=10.0.3.1,dir=both", false, TO_A | TO_C);
	/* A hop that no frame has drops nothing. */
	drop_mix("hop=10.0.9.9", true, 0);
	/* No hop: every IPv4 frame, never ARP. */
	drop_mix("", true, FROM_A | TO_A | FROM_B | TO_B | FROM_C | TO_C);
	drop_mix("dir=tx", false,
		 FROM_A | TO_A | FROM_B | TO_B | FROM_C | TO_C);

	/* The counters count only the hop's frames. */
	injector(&im, "hop=10.0.2.1", ALWAYS, UINT32_MAX, UINT32_MAX);
	pkts[0] = frame(HOP_B, SLUICED, 1);
	pkts[1] = frame(HOP_A, SLUICED, 2);
	pkts[2] = frame(HOP_B, SLUICED, 3);
	pkts[3] = arp_frame(HOP_B, SLUICED);
	CU_ASSERT_EQUAL(sl_impair_rx(&im, dp_test_pool(), pkts, 4, 4), 2);
	CU_ASSERT_EQUAL(im.rx.seen, 2);
	CU_ASSERT_EQUAL(im.rx.dropped, 2);
	dp_test_free_all(pkts, 2);
	dp_test_end();
}

static void
test_drop_dir(void)
{
	dp_test_begin();
	/* The other way passes everything, counts nothing. */
	drop_mix("hop=10.0.1.1,dir=rx", false, 0);
	drop_mix("hop=10.0.1.1,dir=tx", true, 0);
	drop_mix("dir=rx", false, 0);
	drop_mix("dir=tx", true, 0);
	dp_test_end();
}

static void
test_dup(void)
{
	struct sl_impair im;
	struct rte_mbuf *pkts[16], *orig[10];
	uint8_t bytes[10][DP_TEST_FRAME_MAX];
	uint32_t lens[10];
	uint16_t n;

	dp_test_begin();
	injector(&im, "hop=10.0.1.1,dir=tx", UINT32_MAX, ALWAYS, UINT32_MAX);
	for (int i = 0; i < 10; i++) {
		/* Frames 0, 2, ... to A (the hop), the odd ones to B. */
		pkts[i] = frame(SLUICED, i % 2 ? HOP_B : HOP_A, (uint32_t)i);
		orig[i] = pkts[i];
		lens[i] = rte_pktmbuf_pkt_len(pkts[i]);
		memcpy(bytes[i], rte_pktmbuf_mtod(pkts[i], uint8_t *), lens[i]);
	}
	/* The originals go now, the copies after the next burst. */
	n = sl_impair_tx(&im, dp_test_pool(), pkts, 10, 16);
	CU_ASSERT_EQUAL_FATAL(n, 10);
	for (int i = 0; i < 10; i++)
		CU_ASSERT_PTR_EQUAL(pkts[i], orig[i]);
	CU_ASSERT_EQUAL(im.n_held_tx, 5);
	CU_ASSERT_EQUAL(im.tx.seen, 5);
	CU_ASSERT_EQUAL(im.tx.duplicated, 5);
	CU_ASSERT_EQUAL(im.tx.dropped, 0);
	CU_ASSERT_EQUAL(im.tx.reordered, 0);
	/* The way in has nothing of it. */
	CU_ASSERT_EQUAL(sl_impair_rx(&im, dp_test_pool(), pkts, 0, 16), 0);
	CU_ASSERT_EQUAL(im.n_held_rx, 0);

	/* Next burst: one frame to B, then the 5 copies in order. */
	pkts[0] = frame(SLUICED, HOP_B, 100);
	n = sl_impair_tx(&im, dp_test_pool(), pkts, 1, 16);
	CU_ASSERT_EQUAL_FATAL(n, 6);
	CU_ASSERT_EQUAL(im.n_held_tx, 0);
	for (int j = 0; j < 5; j++) {
		struct rte_mbuf *d = pkts[1 + j];

		CU_ASSERT(d != orig[2 * j]);
		CU_ASSERT(d->buf_addr != orig[2 * j]->buf_addr);
		CU_ASSERT_PTR_EQUAL(d->pool, dp_test_pool());
		CU_ASSERT_EQUAL(rte_mbuf_refcnt_read(d), 1);
		CU_ASSERT_EQUAL(rte_mbuf_refcnt_read(orig[2 * j]), 1);
		CU_ASSERT_EQUAL(d->nb_segs, 1);
		CU_ASSERT(same_bytes(d, bytes[2 * j], lens[2 * j]));
		CU_ASSERT(same_bytes(orig[2 * j], bytes[2 * j], lens[2 * j]));
	}
	dp_test_free_all(pkts, n);
	dp_test_free_all(orig, 10);

	/* More copies than can be held: SL_IMPAIR_HELD kept, the rest
	 * freed, not counted. */
	injector(&im, "dir=rx", UINT32_MAX, ALWAYS, UINT32_MAX);
	for (int i = 0; i < 10; i++) {
		pkts[i] = frame(HOP_C, SLUICED, (uint32_t)i);
		orig[i] = pkts[i];
	}
	n = sl_impair_rx(&im, dp_test_pool(), pkts, 10, 16);
	CU_ASSERT_EQUAL_FATAL(n, 10);
	CU_ASSERT_EQUAL(im.n_held_rx, SL_IMPAIR_HELD);
	CU_ASSERT_EQUAL(im.rx.seen, 10);
	CU_ASSERT_EQUAL(im.rx.duplicated, SL_IMPAIR_HELD);
	dp_test_free_all(pkts, n);
	im.dup_ppm = 0;
	n = sl_impair_rx(&im, dp_test_pool(), pkts, 0, 16);
	CU_ASSERT_EQUAL_FATAL(n, SL_IMPAIR_HELD);
	for (int j = 0; j < SL_IMPAIR_HELD; j++) {
		const uint8_t *p = rte_pktmbuf_mtod(pkts[j], const uint8_t *);
		struct rte_mbuf *o = frame(HOP_C, SLUICED, (uint32_t)j);

		/* The copy of frame j: its bytes are frame j's. */
		CU_ASSERT(same_bytes(o, p, rte_pktmbuf_pkt_len(pkts[j])));
		rte_pktmbuf_free(o);
	}
	dp_test_free_all(pkts, n);
	CU_ASSERT_EQUAL(im.n_held_rx, 0);
	dp_test_end();
}

static void
test_reorder(void)
{
	struct sl_impair im;
	struct rte_mbuf *pkts[16], *orig[10];
	uint16_t n;

	dp_test_begin();
	injector(&im, "hop=10.0.2.1,dir=rx", UINT32_MAX, UINT32_MAX, ALWAYS);
	for (int i = 0; i < 10; i++) {
		/* Frames 0..2 from A, 3..9 from B (the hop). */
		pkts[i] = frame(i < 3 ? HOP_A : HOP_B, SLUICED, (uint32_t)i);
		orig[i] = pkts[i];
	}
	/* B's first SL_IMPAIR_HELD (3..9: only 7 here) are held. */
	n = sl_impair_rx(&im, dp_test_pool(), pkts, 10, 16);
	CU_ASSERT_EQUAL_FATAL(n, 3);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_PTR_EQUAL(pkts[i], orig[i]);
	CU_ASSERT_EQUAL(im.n_held_rx, 7);
	CU_ASSERT_EQUAL(im.rx.seen, 7);
	CU_ASSERT_EQUAL(im.rx.reordered, 7);
	CU_ASSERT_EQUAL(im.rx.dropped, 0);
	CU_ASSERT_EQUAL(im.rx.duplicated, 0);
	/* Not on the way out. */
	CU_ASSERT_EQUAL(sl_impair_tx(&im, dp_test_pool(), pkts + 3, 0, 13), 0);
	CU_ASSERT_EQUAL(im.tx.seen, 0);

	/* The next burst: its frames first, then those held, in their
	 * order. */
	im.reorder_ppm = 0;
	pkts[3] = frame(HOP_B, SLUICED, 10);
	pkts[4] = frame(HOP_A, SLUICED, 11);
	n = sl_impair_rx(&im, dp_test_pool(), pkts + 3, 2, 13);
	CU_ASSERT_EQUAL_FATAL(n, 9);
	CU_ASSERT(pkts[3] != orig[3]);
	CU_ASSERT(pkts[4] != orig[4]);
	for (int i = 3; i < 10; i++)
		CU_ASSERT_PTR_EQUAL(pkts[5 + (i - 3)], orig[i]);
	CU_ASSERT_EQUAL(im.n_held_rx, 0);
	CU_ASSERT_EQUAL(im.rx.seen, 8);
	CU_ASSERT_EQUAL(im.rx.reordered, 7);
	dp_test_free_all(pkts, 12);

	/* At most SL_IMPAIR_HELD held: the rest pass. */
	injector(&im, "dir=tx", UINT32_MAX, UINT32_MAX, ALWAYS);
	for (int i = 0; i < 10; i++) {
		pkts[i] = frame(SLUICED, HOP_C, (uint32_t)i);
		orig[i] = pkts[i];
	}
	n = sl_impair_tx(&im, dp_test_pool(), pkts, 10, 16);
	CU_ASSERT_EQUAL_FATAL(n, 10 - SL_IMPAIR_HELD);
	CU_ASSERT_PTR_EQUAL(pkts[0], orig[8]);
	CU_ASSERT_PTR_EQUAL(pkts[1], orig[9]);
	CU_ASSERT_EQUAL(im.n_held_tx, SL_IMPAIR_HELD);
	CU_ASSERT_EQUAL(im.tx.reordered, SL_IMPAIR_HELD);
	/* An empty burst lets them out (what stage_tx's housekeeping call
	 * does), and holds nothing new. */
	n = sl_impair_tx(&im, dp_test_pool(), pkts + 2, 0, 14);
	CU_ASSERT_EQUAL_FATAL(n, SL_IMPAIR_HELD);
	for (int i = 0; i < SL_IMPAIR_HELD; i++)
		CU_ASSERT_PTR_EQUAL(pkts[2 + i], orig[i]);
	CU_ASSERT_EQUAL(im.n_held_tx, 0);
	dp_test_free_all(pkts, 10);

	/* sl_impair_flush frees what is held, both ways. */
	injector(&im, "", UINT32_MAX, UINT32_MAX, ALWAYS);
	pkts[0] = frame(HOP_A, SLUICED, 1);
	pkts[1] = frame(HOP_B, SLUICED, 2);
	CU_ASSERT_EQUAL(sl_impair_rx(&im, dp_test_pool(), pkts, 2, 2), 0);
	pkts[0] = frame(SLUICED, HOP_A, 3);
	CU_ASSERT_EQUAL(sl_impair_tx(&im, dp_test_pool(), pkts, 1, 1), 0);
	CU_ASSERT_EQUAL(im.n_held_rx, 2);
	CU_ASSERT_EQUAL(im.n_held_tx, 1);
	sl_impair_flush(&im);
	CU_ASSERT_EQUAL(im.n_held_rx, 0);
	CU_ASSERT_EQUAL(im.n_held_tx, 0);
	dp_test_end();
}

/* The sluice sequence number of frame @m. */
static uint32_t
frame_seq(const struct rte_mbuf *m)
{
	size_t off = SL_ETHER_HDR_LEN + SL_IPV4_HDR_LEN + SL_UDP_HDR_LEN;
	struct sl_frag_hdr h;

	CU_ASSERT_FATAL(
		sl_wire_parse_hdr(
			rte_pktmbuf_mtod_offset(m, const uint8_t *, off),
			rte_pktmbuf_data_len(m) - off, &h) == SL_WIRE_OK);
	return h.seq;
}

/* Run MANY frames from A through an injector from @spec on the way in, in
 * bursts; mark in @dropped which were dropped. Return how many. */
static unsigned int
drop_run(const char *spec, bool *dropped)
{
	struct sl_impair im;
	struct rte_mbuf *pkts[BURST];
	unsigned int total = 0;

	parse_ok(&im, spec);
	for (unsigned int base = 0; base < MANY; base += BURST) {
		uint16_t k = (uint16_t)RTE_MIN(BURST, MANY - base), n, j = 0;

		for (uint16_t i = 0; i < k; i++)
			pkts[i] = frame(HOP_A, SLUICED, base + i);
		n = sl_impair_rx(&im, dp_test_pool(), pkts, k, BURST);
		CU_ASSERT_FATAL(n <= k);
		/* The survivors, in order: the seq says which. */
		for (uint16_t i = 0; i < k; i++) {
			uint32_t seq = UINT32_MAX;

			if (j < n)
				seq = frame_seq(pkts[j]);
			dropped[base + i] = seq != base + i;
			if (!dropped[base + i])
				j++;
			else
				total++;
		}
		CU_ASSERT_EQUAL(j, n);
		dp_test_free_all(pkts, n);
	}
	CU_ASSERT_EQUAL(im.rx.seen, MANY);
	CU_ASSERT_EQUAL(im.rx.dropped, total);
	CU_ASSERT_EQUAL(im.n_held_rx, 0);
	return total;
}

static void
test_seeded(void)
{
	bool *a = calloc(MANY, sizeof(bool)), *b = calloc(MANY, sizeof(bool));
	unsigned int na, nb;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	dp_test_begin();
	na = drop_run("drop=30,seed=42,dir=rx", a);
	nb = drop_run("drop=30,seed=42,dir=rx", b);
	/* The same seed: the same frames. */
	CU_ASSERT_EQUAL(na, nb);
	CU_ASSERT(memcmp(a, b, MANY * sizeof(bool)) == 0);
	/* 30% +- 2% of them. */
	if (na < MANY * 28 / 100 || na > MANY * 32 / 100)
		fprintf(stderr, "\n  drop=30: %u of %u dropped\n", na, MANY);
	CU_ASSERT(na >= MANY * 28 / 100 && na <= MANY * 32 / 100);

	/* Another seed: another set, as many within the same bounds. */
	nb = drop_run("drop=30,seed=43,dir=rx", b);
	CU_ASSERT(memcmp(a, b, MANY * sizeof(bool)) != 0);
	CU_ASSERT(nb >= MANY * 28 / 100 && nb <= MANY * 32 / 100);

	/* seed=0 is seed=1, and no seed is seed=1. */
	na = drop_run("drop=30,seed=0", a);
	nb = drop_run("drop=30", b);
	CU_ASSERT_EQUAL(na, nb);
	CU_ASSERT(memcmp(a, b, MANY * sizeof(bool)) == 0);
	nb = drop_run("drop=30,seed=1", b);
	CU_ASSERT(memcmp(a, b, MANY * sizeof(bool)) == 0);
	dp_test_end();
	free(a);
	free(b);
}

/*
 * The injector's decisions, computed apart: the same xorshift64* from the
 * seed, one draw per chance asked, in the order sl_impair.h gives (drop;
 * else reorder while fewer than SL_IMPAIR_HELD are held back; else the
 * frame passes and dup), only for a chosen hop's frames; what is held
 * back goes after the next burst's own frames.
 */
struct impair_model {
	uint64_t rng;
	uint32_t held[2][SL_IMPAIR_HELD];
	uint16_t n_held[2];
	struct sl_impair_counters c[2];
};

static bool
model_chance(struct impair_model *md, uint32_t ppm)
{
	uint64_t r;

	if (ppm == 0)
		return false;
	md->rng ^= md->rng >> 12;
	md->rng ^= md->rng << 25;
	md->rng ^= md->rng >> 27;
	r = md->rng * 0x2545f4914f6cdd1dull;
	return r % 1000000u < ppm;
}

/* The sequence numbers a burst of @n frames (@seq, @hop: of the chosen
 * hop) comes out as, into @out; return how many. */
static uint16_t
model_burst(struct impair_model *md, const struct sl_impair *cfg, int way,
	    const uint32_t *seq, const bool *hop, uint16_t n, uint32_t *out)
{
	struct sl_impair_counters *c = &md->c[way];
	uint32_t later[SL_IMPAIR_HELD];
	uint16_t k = 0, n_later = 0;

	for (uint16_t i = 0; i < n; i++) {
		if (!hop[i]) {
			out[k++] = seq[i];
			continue;
		}
		c->seen++;
		if (model_chance(md, cfg->drop_ppm)) {
			c->dropped++;
			continue;
		}
		if (n_later < SL_IMPAIR_HELD &&
		    model_chance(md, cfg->reorder_ppm)) {
			c->reordered++;
			later[n_later++] = seq[i];
			continue;
		}
		out[k++] = seq[i];
		if (model_chance(md, cfg->dup_ppm) &&
		    n_later < SL_IMPAIR_HELD) {
			c->duplicated++;
			later[n_later++] = seq[i];
		}
	}
	for (uint16_t i = 0; i < md->n_held[way]; i++)
		out[k++] = md->held[way][i];
	memcpy(md->held[way], later, n_later * sizeof(later[0]));
	md->n_held[way] = n_later;
	return k;
}

/*
 * drop=5,dup=1,reorder=3 on hop 10.0.1.1 (A), both ways, seed 7: 300
 * bursts each way, alternating, of frames from (to) A, B and C and an
 * ARP from A. Every burst comes out exactly as the model says (which
 * frames, copies included, in which order); B's, C's and ARP frames are
 * never touched and take no draw (else the model would part from the
 * injector from then on); the counters are the model's, exactly, and
 * count only A's frames, and are pinned (rx: 77 dropped, 60 reordered,
 * 18 duplicated of 1,800; tx: 66, 68, 15). Under dir=rx the way out
 * passes untouched and takes no draw (rx: 65, 75, 14).
 */
static void
test_seeded_exact(void)
{
	static const uint32_t far[4] = {HOP_A, HOP_B, HOP_C, HOP_A};
	const unsigned int bursts = 300, per = 24;
	const char *const specs[2] = {
		"drop=5,dup=1,reorder=3,hop=10.0.1.1,seed=7",
		"drop=5,dup=1,reorder=3,hop=10.0.1.1,seed=7,dir=rx"};

	dp_test_begin();
	for (int v = 0; v < 2; v++) {
		struct impair_model md = {0};
		struct sl_impair im;
		uint64_t hop_frames[2] = {0, 0};

		parse_ok(&im, specs[v]);
		md.rng = 7;
		for (unsigned int b = 0; b <= bursts; b++) {
			for (int way = 0; way < 2; way++) {
				struct rte_mbuf *pkts[BURST + SL_IMPAIR_HELD];
				uint32_t seq[BURST],
					want[BURST + SL_IMPAIR_HELD];
				bool hop[BURST];
				/* The last round: empty bursts let out
				 * what is held. */
				uint16_t n = b < bursts ? (uint16_t)per : 0;
				uint16_t got, k;
				bool rx = way == 0;

				for (uint16_t i = 0; i < n; i++) {
					uint32_t ip = far[i % 4];

					seq[i] = (uint32_t)(way * 1000000 +
							    b * per + i);
					/* The 4th of each 4: ARP from A. */
					if (i % 4 == 3) {
						pkts[i] = arp_frame(HOP_A,
								    SLUICED);
						seq[i] = UINT32_MAX;
					} else {
						pkts[i] =
							rx ? frame(ip, SLUICED,
								   seq[i])
							   : frame(SLUICED, ip,
								   seq[i]);
					}
					hop[i] = i % 4 == 0 && (v == 0 || rx);
					hop_frames[way] += hop[i];
				}
				got = rx ? sl_impair_rx(&im, dp_test_pool(),
							pkts, n, RTE_DIM(pkts))
					 : sl_impair_tx(&im, dp_test_pool(),
							pkts, n, RTE_DIM(pkts));
				k = model_burst(&md, &im, way, seq, hop, n,
						want);
				CU_ASSERT_EQUAL_FATAL(got, k);
				for (uint16_t i = 0; i < got; i++) {
					bool arp = want[i] == UINT32_MAX;
					const uint8_t *p = rte_pktmbuf_mtod(
						pkts[i], const uint8_t *);

					if (arp) {
						CU_ASSERT(p[12] == 0x08 &&
							  p[13] == 0x06);
						continue;
					}
					CU_ASSERT_EQUAL(frame_seq(pkts[i]),
							want[i]);
				}
				dp_test_free_all(pkts, got);
			}
		}
		CU_ASSERT_EQUAL(im.n_held_rx, 0);
		CU_ASSERT_EQUAL(im.n_held_tx, 0);
		CU_ASSERT(memcmp(&im.rx, &md.c[0], sizeof(im.rx)) == 0);
		CU_ASSERT(memcmp(&im.tx, &md.c[1], sizeof(im.tx)) == 0);
		/* Only A's frames seen: a quarter of each burst. */
		CU_ASSERT_EQUAL(im.rx.seen, hop_frames[0]);
		CU_ASSERT_EQUAL(im.rx.seen, bursts * per / 4);
		CU_ASSERT_EQUAL(im.tx.seen, hop_frames[1]);
		CU_ASSERT_EQUAL(im.tx.seen, v == 0 ? bursts * per / 4 : 0);
		/* Every fault happened, near its rate (1,800 frames). */
		CU_ASSERT(im.rx.dropped >= 45 && im.rx.dropped <= 135);
		CU_ASSERT(im.rx.reordered >= 20 && im.rx.reordered <= 90);
		CU_ASSERT(im.rx.duplicated >= 5 && im.rx.duplicated <= 40);
		/* And the numbers seed 7 gives, pinned: a change to the
		 * injector's draws shows here. */
		CU_ASSERT_EQUAL(im.rx.dropped, v == 0 ? 77 : 65);
		CU_ASSERT_EQUAL(im.rx.reordered, v == 0 ? 60 : 75);
		CU_ASSERT_EQUAL(im.rx.duplicated, v == 0 ? 18 : 14);
		CU_ASSERT_EQUAL(im.tx.dropped, v == 0 ? 66 : 0);
		CU_ASSERT_EQUAL(im.tx.reordered, v == 0 ? 68 : 0);
		CU_ASSERT_EQUAL(im.tx.duplicated, v == 0 ? 15 : 0);
	}
	dp_test_end();
}

static const struct dp_test_case cases[] = {
	DP_SUITE("impair spec"),
	DP_CASE("defaults; empty items skipped", test_parse_defaults),
	DP_CASE("every item into the struct", test_parse_items),
	DP_CASE("every refusal, its exact message", test_parse_refusals),
	DP_SUITE("impair burst"),
	DP_CASE("drop: only the hop's frames, never ARP", test_drop_hop),
	DP_CASE("drop: only in the direction asked", test_drop_dir),
	DP_CASE("dup: a distinct copy, after the next burst", test_dup),
	DP_CASE("reorder: held back until the next burst", test_reorder),
	DP_CASE("a seed repeats the same drops; 30% +- 2%", test_seeded),
	DP_CASE("seed 7, every fault on one hop: exact frames and counts",
		test_seeded_exact),
	DP_END,
};

int
main(int argc, char **argv)
{
	(void)argc;
	return dp_test_main(argv[0], cases, NULL, NULL);
}
