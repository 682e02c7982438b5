/* SPDX-License-Identifier: MIT */
/*
 * test_wire.c - the fragment wire format: encode/parse round trips, every
 * malformed frame and fragment with its exact status, UTF-8 edge cases,
 * builder and iterator.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

#include "sl_wire.h"

#define BUF_LEN 2048

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

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

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void
sample_hdr(struct sl_frag_hdr *h)
{
	unsigned int i;

	memset(h, 0, sizeof(*h));
	h->version = SL_WIRE_VERSION;
	h->flags = SL_FRAG_F_END | SL_FRAG_F_ABORT;
	h->abort_reason = SL_ABORT_GUARD;
	h->depth = SL_ANCESTRY_MAX;
	h->stage = 0xa1b2;
	h->from_stage = 0xe5f6;
	h->tenant = 0xc3d4;
	h->pipeline = 0xdeadbeef;
	h->seq = 0x01020304;
	h->send_ns = 0x1122334455667788ull;
	for (i = 0; i < SL_ANCESTRY_MAX; i++)
		h->ancestry[i] = 0x8000000000000000ull | (i + 1) * 0x0101;
}

/* Datagram with the sample header and tokens "Hello" and ", world". */
static size_t
sample_dgram(uint8_t *buf, size_t cap)
{
	struct sl_wire_builder b;
	struct sl_frag_hdr h;

	sample_hdr(&h);
	CU_ASSERT_EQUAL_FATAL(sl_wire_builder_init(&b, buf, cap, &h), 0);
	CU_ASSERT_EQUAL_FATAL(sl_wire_builder_add(&b, 9906, "Hello", 5), 0);
	CU_ASSERT_EQUAL_FATAL(sl_wire_builder_add(&b, 11, ", world", 7), 0);
	return sl_wire_builder_finish(&b);
}

/* A single-token datagram carrying @text as its bytes. */
static size_t
text_dgram(uint8_t *buf, const void *text, size_t len)
{
	struct sl_wire_builder b;
	struct sl_frag_hdr h;

	sample_hdr(&h);
	CU_ASSERT_EQUAL_FATAL(sl_wire_builder_init(&b, buf, BUF_LEN, &h), 0);
	CU_ASSERT_EQUAL_FATAL(sl_wire_builder_add(&b, 1, text, len), 0);
	return sl_wire_builder_finish(&b);
}

/* Ethernet/IPv4/UDP around @dgram; @opt_words of IPv4 options (zeros). */
static size_t
make_frame(uint8_t *f, const uint8_t *dgram, size_t dlen,
	   unsigned int opt_words)
{
	unsigned int ihl = 5 + opt_words;
	uint8_t *ip = f + SL_ETHER_HDR_LEN, *udp = ip + ihl * 4;

	memset(f, 0, SL_ETHER_HDR_LEN + ihl * 4 + SL_UDP_HDR_LEN);
	memcpy(f, "\x02\x00\x00\x00\x00\x01", 6);     /* dst */
	memcpy(f + 6, "\x02\x00\x00\x00\x00\x02", 6); /* src */
	put16(f + 12, 0x0800);
	ip[0] = (uint8_t)(0x40 | ihl);
	put16(ip + 2, (uint16_t)(ihl * 4 + SL_UDP_HDR_LEN + dlen));
	put16(ip + 6, 0x4000); /* DF: allowed */
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, "\x0a\x4d\x00\x0b", 4);
	memcpy(ip + 16, "\x0a\x4d\x00\x01", 4);
	put16(udp, 40000);
	put16(udp + 2, SL_WIRE_UDP_PORT);
	put16(udp + 4, (uint16_t)(SL_UDP_HDR_LEN + dlen));
	memcpy(udp + SL_UDP_HDR_LEN, dgram, dlen);
	return SL_ETHER_HDR_LEN + ihl * 4 + SL_UDP_HDR_LEN + dlen;
}

static bool
hdr_equal(const struct sl_frag_hdr *a, const struct sl_frag_hdr *b)
{
	return a->version == b->version && a->flags == b->flags &&
	       a->abort_reason == b->abort_reason && a->depth == b->depth &&
	       a->stage == b->stage && a->from_stage == b->from_stage &&
	       a->tenant == b->tenant && a->pipeline == b->pipeline &&
	       a->token_count == b->token_count &&
	       a->payload_len == b->payload_len && a->seq == b->seq &&
	       a->send_ns == b->send_ns && a->child_count == b->child_count &&
	       !memcmp(a->ancestry, b->ancestry, sizeof(a->ancestry));
}

static void
test_roundtrip(void)
{
	uint8_t buf[BUF_LEN];
	struct sl_frag_hdr in, out;
	size_t len;
	unsigned int i;

	sample_hdr(&in);
	len = sample_dgram(buf, sizeof(buf));
	CU_ASSERT_EQUAL(len, SL_WIRE_HDR_LEN + 6 + 5 + 6 + 7);

	/* Raw bytes at the documented offsets. */
	CU_ASSERT_EQUAL(get16(buf), SL_WIRE_MAGIC);
	CU_ASSERT_EQUAL(buf[2], 1);
	CU_ASSERT_EQUAL(buf[SL_WIRE_OFF_FLAGS], 0x03);
	CU_ASSERT_EQUAL(buf[SL_WIRE_OFF_ABORT], SL_ABORT_GUARD);
	CU_ASSERT_EQUAL(buf[5], 6);
	CU_ASSERT_EQUAL(get16(buf + SL_WIRE_OFF_STAGE), 0xa1b2);
	CU_ASSERT_EQUAL(memcmp(buf + 8, "\xde\xad\xbe\xef", 4), 0);
	CU_ASSERT_EQUAL(get16(buf + 12), 0xc3d4);
	CU_ASSERT_EQUAL(get16(buf + 14), 2);
	CU_ASSERT_EQUAL(memcmp(buf + SL_WIRE_OFF_SEQ, "\x01\x02\x03\x04", 4),
			0);
	CU_ASSERT_EQUAL(get16(buf + 20), 24);
	CU_ASSERT_EQUAL(get16(buf + 22), 0xe5f6);
	CU_ASSERT_EQUAL(memcmp(buf + SL_WIRE_OFF_SEND_NS,
			       "\x11\x22\x33\x44\x55\x66\x77\x88", 8),
			0);
	CU_ASSERT_EQUAL(memcmp(buf + SL_WIRE_OFF_ANCESTRY + 8 * 5,
			       "\x80\x00\x00\x00\x00\x00\x06\x06", 8),
			0);
	CU_ASSERT_EQUAL(memcmp(buf + 80, "\0\0\0\0\0\0\0\0", 8), 0);

	memset(&out, 0xee, sizeof(out));
	CU_ASSERT_EQUAL(sl_wire_parse(buf, len, &out), SL_WIRE_OK);
	CU_ASSERT_EQUAL(out.version, SL_WIRE_VERSION);
	CU_ASSERT_EQUAL(out.flags, in.flags);
	CU_ASSERT_EQUAL(out.abort_reason, in.abort_reason);
	CU_ASSERT_EQUAL(out.depth, in.depth);
	CU_ASSERT_EQUAL(out.stage, in.stage);
	CU_ASSERT_EQUAL(out.from_stage, in.from_stage);
	CU_ASSERT_EQUAL(out.child_count, 0);
	CU_ASSERT_EQUAL(out.tenant, in.tenant);
	CU_ASSERT_EQUAL(out.pipeline, in.pipeline);
	CU_ASSERT_EQUAL(out.token_count, 2);
	CU_ASSERT_EQUAL(out.payload_len, 24);
	CU_ASSERT_EQUAL(out.seq, in.seq);
	CU_ASSERT_EQUAL(out.send_ns, in.send_ns);
	for (i = 0; i < SL_ANCESTRY_MAX; i++)
		CU_ASSERT_EQUAL(out.ancestry[i], in.ancestry[i]);

	/* sl_wire_encode_hdr alone writes exactly what it is given. */
	in.token_count = 2;
	in.payload_len = 24;
	memset(buf, 0xff, SL_WIRE_HDR_LEN);
	sl_wire_encode_hdr(buf, &in);
	CU_ASSERT_EQUAL(memcmp(buf + 84, "\0\0\0\0", 4), 0); /* reserved */
	CU_ASSERT_EQUAL(sl_wire_parse_hdr(buf, len, &out), SL_WIRE_OK);
	CU_ASSERT_TRUE(hdr_equal(&in, &out));
}

/* The exported offsets and sizes are the ones proto/WIRE.md documents. */
static void
test_layout(void)
{
	CU_ASSERT_EQUAL(SL_WIRE_HDR_LEN, 88);
	CU_ASSERT_EQUAL(SL_WIRE_PAYLOAD_MAX, 1500 - 20 - 8 - 88);
	CU_ASSERT_EQUAL(SL_WIRE_OFF_MAGIC, 0);
	CU_ASSERT_EQUAL(SL_WIRE_OFF_VERSION, 2);
	CU_ASSERT_EQUAL(SL_WIRE_OFF_FLAGS, 3);
	CU_ASSERT_EQUAL(SL_WIRE_OFF_ABORT, 4);
	CU_ASSERT_EQUAL(SL_WIRE_OFF_DEPTH, 5);
	CU_ASSERT_EQUAL(SL_WIRE_OFF_STAGE, 6);
	CU_ASSERT_EQUAL(SL_WIRE_OFF_PIPELINE, 8);
	CU_ASSERT_EQUAL(SL_WIRE_OFF_TENANT, 12);
	CU_ASSERT_EQUAL(SL_WIRE_OFF_TOKEN_COUNT, 14);
	CU_ASSERT_EQUAL(SL_WIRE_OFF_SEQ, 16);
	CU_ASSERT_EQUAL(SL_WIRE_OFF_PAYLOAD_LEN, 20);
	CU_ASSERT_EQUAL(SL_WIRE_OFF_FROM_STAGE, 22);
	CU_ASSERT_EQUAL(SL_WIRE_OFF_SEND_NS, 24);
	CU_ASSERT_EQUAL(SL_WIRE_OFF_ANCESTRY, 32);
	CU_ASSERT_EQUAL(SL_WIRE_OFF_ANCESTRY + 8 * SL_ANCESTRY_MAX, 80);
	CU_ASSERT_EQUAL(SL_WIRE_OFF_CHILD_COUNT, 80);
	CU_ASSERT_EQUAL(SL_WIRE_OFF_RESERVED, 84);
	CU_ASSERT_EQUAL(SL_WIRE_OFF_RESERVED + 4, SL_WIRE_HDR_LEN);
	CU_ASSERT_EQUAL(SL_FRAG_F_END, 0x01);
	CU_ASSERT_EQUAL(SL_FRAG_F_ABORT, 0x02);
	CU_ASSERT_EQUAL(SL_FRAG_F_CHILDREN, 0x04);
}

/*
 * END|CHILDREN announces how many child streams a stream was cut into; the
 * announcement is usually a header alone.
 */
static void
test_children(void)
{
	uint8_t buf[BUF_LEN];
	struct sl_wire_builder b;
	struct sl_frag_hdr in, out;
	size_t len;

	sample_hdr(&in);
	in.flags = SL_FRAG_F_END | SL_FRAG_F_CHILDREN;
	in.abort_reason = 0;
	in.depth = 1;
	memset(&in.ancestry[1], 0,
	       sizeof(in.ancestry) - sizeof(in.ancestry[0]));
	in.from_stage = 2;
	in.child_count = 0x0a0b0c0d;
	CU_ASSERT_EQUAL_FATAL(sl_wire_builder_init(&b, buf, sizeof(buf), &in),
			      0);
	len = sl_wire_builder_finish(&b);
	CU_ASSERT_EQUAL(len, SL_WIRE_HDR_LEN);
	CU_ASSERT_EQUAL(buf[3], 0x05);
	CU_ASSERT_EQUAL(get16(buf + 22), 2);
	CU_ASSERT_EQUAL(memcmp(buf + 80, "\x0a\x0b\x0c\x0d\0\0\0\0", 8), 0);

	memset(&out, 0xee, sizeof(out));
	CU_ASSERT_EQUAL(sl_wire_parse(buf, len, &out), SL_WIRE_OK);
	CU_ASSERT_EQUAL(out.flags, SL_FRAG_F_END | SL_FRAG_F_CHILDREN);
	CU_ASSERT_EQUAL(out.child_count, 0x0a0b0c0d);
	CU_ASSERT_EQUAL(out.from_stage, 2);
	CU_ASSERT_EQUAL(out.token_count, 0);
	CU_ASSERT_EQUAL(out.payload_len, 0);
	in.token_count = 0;
	in.payload_len = 0;
	CU_ASSERT_TRUE(hdr_equal(&in, &out));

	/* The last fragment of a stream may carry tokens and the count. */
	CU_ASSERT_EQUAL(sl_wire_builder_init(&b, buf, sizeof(buf), &in), 0);
	CU_ASSERT_EQUAL(sl_wire_builder_add(&b, 5, "end", 3), 0);
	len = sl_wire_builder_finish(&b);
	CU_ASSERT_EQUAL(sl_wire_parse(buf, len, &out), SL_WIRE_OK);
	CU_ASSERT_EQUAL(out.child_count, 0x0a0b0c0d);
	CU_ASSERT_EQUAL(out.token_count, 1);

	/* With ABORT too, and at the extremes of the count. */
	buf[SL_WIRE_OFF_FLAGS] |= SL_FRAG_F_ABORT;
	buf[SL_WIRE_OFF_ABORT] = SL_ABORT_CHILDREN;
	put32(buf + 80, 0xffffffffu);
	CU_ASSERT_EQUAL(sl_wire_parse(buf, len, &out), SL_WIRE_OK);
	CU_ASSERT_EQUAL(out.child_count, 0xffffffffu);
	CU_ASSERT_EQUAL(out.abort_reason, SL_ABORT_CHILDREN);
	put32(buf + 80, 0);
	CU_ASSERT_EQUAL(sl_wire_parse(buf, len, &out), SL_WIRE_OK);
	CU_ASSERT_EQUAL(out.child_count, 0);

	/* from_stage is opaque to the parser: any value is valid. */
	put16(buf + 22, 0xffff);
	CU_ASSERT_EQUAL(sl_wire_parse(buf, len, &out), SL_WIRE_OK);
	CU_ASSERT_EQUAL(out.from_stage, 0xffff);
}

static void
test_ancestry_depth(void)
{
	uint8_t buf[BUF_LEN];
	struct sl_frag_hdr h, out;
	size_t len;
	unsigned int i;

	sample_hdr(&h);
	h.depth = 2;
	h.flags = 0;
	h.abort_reason = 0;
	sl_wire_encode_hdr(buf, &h);
	/* Slots past depth are written as zero... */
	for (i = 2 * 8; i < SL_ANCESTRY_MAX * 8; i++)
		CU_ASSERT_EQUAL(buf[SL_WIRE_OFF_ANCESTRY + i], 0);
	/* ...and ignored (read as zero) when a sender fills them anyway. */
	memset(buf + SL_WIRE_OFF_ANCESTRY + 16, 0xab, 32);
	len = SL_WIRE_HDR_LEN;
	CU_ASSERT_EQUAL(sl_wire_parse(buf, len, &out), SL_WIRE_OK);
	CU_ASSERT_EQUAL(out.depth, 2);
	CU_ASSERT_EQUAL(out.ancestry[0], h.ancestry[0]);
	CU_ASSERT_EQUAL(out.ancestry[1], h.ancestry[1]);
	for (i = 2; i < SL_ANCESTRY_MAX; i++)
		CU_ASSERT_EQUAL(out.ancestry[i], 0);
	CU_ASSERT_EQUAL(out.token_count, 0);

	/* ABORT with reason NONE, and END alone, are valid. */
	buf[SL_WIRE_OFF_FLAGS] = SL_FRAG_F_ABORT;
	CU_ASSERT_EQUAL(sl_wire_parse(buf, len, &out), SL_WIRE_OK);
	buf[SL_WIRE_OFF_FLAGS] = SL_FRAG_F_END;
	CU_ASSERT_EQUAL(sl_wire_parse(buf, len, &out), SL_WIRE_OK);
	CU_ASSERT_EQUAL(out.flags, SL_FRAG_F_END);
}

static void
test_frame_ok(void)
{
	uint8_t dgram[BUF_LEN], f[BUF_LEN];
	struct sl_frame fr;
	struct sl_frag_hdr h;
	size_t dlen, flen;

	dlen = sample_dgram(dgram, sizeof(dgram));
	flen = make_frame(f, dgram, dlen, 0);
	memset(&fr, 0, sizeof(fr));
	CU_ASSERT_EQUAL(sl_wire_parse_frame(f, flen, &fr), SL_WIRE_OK);
	CU_ASSERT_EQUAL(memcmp(fr.dst_mac, "\x02\x00\x00\x00\x00\x01", 6), 0);
	CU_ASSERT_EQUAL(memcmp(fr.src_mac, "\x02\x00\x00\x00\x00\x02", 6), 0);
	CU_ASSERT_EQUAL(fr.src_ip, 0x0a4d000b);
	CU_ASSERT_EQUAL(fr.dst_ip, 0x0a4d0001);
	CU_ASSERT_EQUAL(fr.src_port, 40000);
	CU_ASSERT_EQUAL(fr.dst_port, SL_WIRE_UDP_PORT);
	CU_ASSERT_EQUAL(fr.hdr_off, SL_WIRE_FRAME_HDR_OFF);
	CU_ASSERT_EQUAL(fr.dgram_len, dlen);
	CU_ASSERT_EQUAL(sl_wire_parse(f + fr.hdr_off, fr.dgram_len, &h),
			SL_WIRE_OK);

	/* Ethernet padding past the IP total length is allowed. */
	memset(f + flen, 0, 20);
	CU_ASSERT_EQUAL(sl_wire_parse_frame(f, flen + 20, &fr), SL_WIRE_OK);
	CU_ASSERT_EQUAL(fr.dgram_len, dlen);

	/* IPv4 options move the sluice header. */
	flen = make_frame(f, dgram, dlen, 2);
	CU_ASSERT_EQUAL(sl_wire_parse_frame(f, flen, &fr), SL_WIRE_OK);
	CU_ASSERT_EQUAL(fr.hdr_off, SL_WIRE_FRAME_HDR_OFF + 8);
	CU_ASSERT_EQUAL(fr.dgram_len, dlen);
	CU_ASSERT_EQUAL(sl_wire_parse(f + fr.hdr_off, fr.dgram_len, &h),
			SL_WIRE_OK);

	/* An empty UDP payload is a valid frame (the header check fails). */
	flen = make_frame(f, dgram, 0, 0);
	CU_ASSERT_EQUAL(sl_wire_parse_frame(f, flen, &fr), SL_WIRE_OK);
	CU_ASSERT_EQUAL(fr.dgram_len, 0);
	CU_ASSERT_EQUAL(sl_wire_parse(f + fr.hdr_off, fr.dgram_len, &h),
			SL_WIRE_SHORT);
}

static void
test_frame_bad(void)
{
	uint8_t dgram[BUF_LEN], f[BUF_LEN];
	uint8_t *ip = f + SL_ETHER_HDR_LEN;
	struct sl_frame fr;
	size_t dlen, flen;

	dlen = sample_dgram(dgram, sizeof(dgram));
#define RESET() (flen = make_frame(f, dgram, dlen, 0))
#define EXPECT(len, st) CU_ASSERT_EQUAL(sl_wire_parse_frame(f, len, &fr), st)

	RESET();
	EXPECT(SL_WIRE_FRAME_HDR_OFF - 1, SL_WIRE_FRAME_SHORT);
	EXPECT(0, SL_WIRE_FRAME_SHORT);

	put16(f + 12, 0x86dd);
	EXPECT(flen, SL_WIRE_NOT_IPV4);
	put16(f + 12, 0x8100); /* VLAN */
	EXPECT(flen, SL_WIRE_NOT_IPV4);

	RESET();
	ip[0] = 0x44; /* IHL 4 */
	EXPECT(flen, SL_WIRE_IP_BAD_HDR);
	ip[0] = 0x65; /* version 6 */
	EXPECT(flen, SL_WIRE_IP_BAD_HDR);
	ip[0] = 0x4f; /* IHL 15: 60 bytes, more than a 42-byte frame */
	EXPECT(SL_WIRE_FRAME_HDR_OFF, SL_WIRE_IP_BAD_HDR);

	RESET();
	put16(ip + 2, (uint16_t)(flen - SL_ETHER_HDR_LEN + 1));
	EXPECT(flen, SL_WIRE_IP_BAD_LEN); /* longer than the frame */
	put16(ip + 2, 27);                /* shorter than IPv4 + UDP headers */
	EXPECT(flen, SL_WIRE_IP_BAD_LEN);
	/* Frame cut short: total length promises more than arrived. */
	RESET();
	EXPECT(flen - 1, SL_WIRE_IP_BAD_LEN);

	RESET();
	put16(ip + 6, 0x2000); /* MF */
	EXPECT(flen, SL_WIRE_IP_FRAGMENT);
	put16(ip + 6, 0x0001); /* offset 8 */
	EXPECT(flen, SL_WIRE_IP_FRAGMENT);
	put16(ip + 6, 0x4000 | 0x1fff);
	EXPECT(flen, SL_WIRE_IP_FRAGMENT);
	put16(ip + 6, 0x4000);
	EXPECT(flen, SL_WIRE_OK);

	ip[9] = 6; /* TCP */
	EXPECT(flen, SL_WIRE_NOT_UDP);

	RESET();
	put16(ip + 20 + 4, (uint16_t)(SL_UDP_HDR_LEN + dlen + 1));
	EXPECT(flen, SL_WIRE_UDP_BAD_LEN);
	put16(ip + 20 + 4, (uint16_t)(SL_UDP_HDR_LEN + dlen - 1));
	EXPECT(flen, SL_WIRE_UDP_BAD_LEN);
#undef RESET
#undef EXPECT
}

static void
test_hdr_bad(void)
{
	uint8_t buf[BUF_LEN], orig[BUF_LEN];
	struct sl_frag_hdr h;
	size_t len;

	len = sample_dgram(orig, sizeof(orig));
#define RESET() memcpy(buf, orig, len)
#define EXPECT(l, st) CU_ASSERT_EQUAL(sl_wire_parse(buf, l, &h), st)

	RESET();
	EXPECT(SL_WIRE_HDR_LEN - 1, SL_WIRE_SHORT);
	EXPECT(0, SL_WIRE_SHORT);

	buf[1] ^= 1;
	EXPECT(len, SL_WIRE_BAD_MAGIC);
	RESET();
	buf[2] = 2;
	EXPECT(len, SL_WIRE_BAD_VERSION);
	buf[2] = 0;
	EXPECT(len, SL_WIRE_BAD_VERSION);

	RESET();
	buf[SL_WIRE_OFF_FLAGS] = 0x80; /* the one undefined flag bit */
	EXPECT(len, SL_WIRE_BAD_FLAGS);
	buf[SL_WIRE_OFF_FLAGS] = SL_FRAG_F_END; /* reason without ABORT */
	EXPECT(len, SL_WIRE_BAD_FLAGS);
	buf[SL_WIRE_OFF_FLAGS] = SL_FRAG_F_ABORT;
	buf[SL_WIRE_OFF_ABORT] = SL_ABORT_MAX; /* reason out of range */
	EXPECT(len, SL_WIRE_BAD_FLAGS);
	buf[SL_WIRE_OFF_ABORT] = 0xff;
	EXPECT(len, SL_WIRE_BAD_FLAGS);
	buf[SL_WIRE_OFF_ABORT] = SL_ABORT_MAX - 1;
	EXPECT(len, SL_WIRE_OK);

	/* CHILDREN without END, with or without a count or ABORT. */
	RESET();
	buf[SL_WIRE_OFF_ABORT] = 0;
	buf[SL_WIRE_OFF_FLAGS] = SL_FRAG_F_CHILDREN;
	EXPECT(len, SL_WIRE_BAD_FLAGS);
	put32(buf + 80, 3);
	EXPECT(len, SL_WIRE_BAD_FLAGS);
	buf[SL_WIRE_OFF_FLAGS] = SL_FRAG_F_CHILDREN | SL_FRAG_F_ABORT;
	EXPECT(len, SL_WIRE_BAD_FLAGS);
	buf[SL_WIRE_OFF_FLAGS] |= SL_FRAG_F_END;
	EXPECT(len, SL_WIRE_OK);

	/* A child count without CHILDREN, whichever of its bytes is set. */
	for (unsigned int i = 0; i < 4; i++) {
		RESET();
		buf[80 + i] = 1;
		EXPECT(len, SL_WIRE_BAD_FLAGS);
		buf[SL_WIRE_OFF_FLAGS] |= SL_FRAG_F_CHILDREN;
		EXPECT(len, SL_WIRE_OK);
	}
	/* Checked with the flags, before depth (byte 5). */
	RESET();
	buf[80] = 0x80;
	buf[5] = 0;
	EXPECT(len, SL_WIRE_BAD_FLAGS);

	RESET();
	buf[5] = 0;
	EXPECT(len, SL_WIRE_BAD_DEPTH);
	buf[5] = SL_ANCESTRY_MAX + 1;
	EXPECT(len, SL_WIRE_BAD_DEPTH);
	buf[5] = 1;
	EXPECT(len, SL_WIRE_OK);

	for (unsigned int i = 0; i < 4; i++) {
		RESET();
		buf[84 + i] = 1;
		EXPECT(len, SL_WIRE_BAD_RESERVED);
		buf[84 + i] = 0x80;
		EXPECT(len, SL_WIRE_BAD_RESERVED);
	}
	/* Bytes 22..23, reserved before, are from_stage: any value. */
	RESET();
	put16(buf + 22, 0xffff);
	EXPECT(len, SL_WIRE_OK);

	RESET();
	put16(buf + 20, (uint16_t)(len - SL_WIRE_HDR_LEN + 1));
	EXPECT(len, SL_WIRE_LEN_MISMATCH);
	put16(buf + 20, (uint16_t)(len - SL_WIRE_HDR_LEN - 1));
	EXPECT(len, SL_WIRE_LEN_MISMATCH);
	/* The datagram, not the header, is what disagrees. */
	RESET();
	EXPECT(len - 1, SL_WIRE_LEN_MISMATCH);
	EXPECT(len + 1, SL_WIRE_LEN_MISMATCH);
#undef RESET
#undef EXPECT
}

/* A control fragment of the sample stream, built by the encoder. */
static size_t
control_dgram(uint8_t *buf, uint8_t flags, uint32_t seq, uint32_t count)
{
	struct sl_frag_hdr h;

	sample_hdr(&h);
	return sl_wire_encode_control(buf, &h, flags, seq, count, 99);
}

static void
test_control(void)
{
	uint8_t buf[BUF_LEN], tok[BUF_LEN];
	struct sl_frag_hdr in, out;
	size_t len, tlen;

	/* Each kind round-trips with the stream's identity intact. */
	sample_hdr(&in);
	len = control_dgram(buf, SL_FRAG_F_NACK, 17, 3);
	CU_ASSERT_EQUAL(len, SL_WIRE_HDR_LEN);
	CU_ASSERT_EQUAL(sl_wire_parse(buf, len, &out), SL_WIRE_OK);
	CU_ASSERT_EQUAL(out.flags, SL_FRAG_F_NACK);
	CU_ASSERT_EQUAL(out.seq, 17);
	CU_ASSERT_EQUAL(out.child_count, 3);
	CU_ASSERT_EQUAL(out.abort_reason, 0);
	CU_ASSERT_EQUAL(out.send_ns, 99);
	CU_ASSERT_EQUAL(out.pipeline, in.pipeline);
	CU_ASSERT_EQUAL(out.stage, in.stage);
	CU_ASSERT_EQUAL(out.from_stage, in.from_stage);
	CU_ASSERT_EQUAL(out.tenant, in.tenant);
	CU_ASSERT_EQUAL(out.depth, in.depth);
	CU_ASSERT_EQUAL(memcmp(out.ancestry, in.ancestry, sizeof(out.ancestry)),
			0);
	CU_ASSERT_EQUAL(out.token_count, 0);
	len = control_dgram(buf, SL_FRAG_F_ACK, 5, 7); /* count dropped */
	CU_ASSERT_EQUAL(sl_wire_parse(buf, len, &out), SL_WIRE_OK);
	CU_ASSERT_EQUAL(out.flags, SL_FRAG_F_ACK);
	CU_ASSERT_EQUAL(out.child_count, 0);
	len = control_dgram(buf, SL_FRAG_F_PROBE | SL_FRAG_F_PAUSE, 1, 0);
	CU_ASSERT_EQUAL(sl_wire_parse(buf, len, &out), SL_WIRE_OK);
	CU_ASSERT_EQUAL(out.flags, SL_FRAG_F_PROBE | SL_FRAG_F_PAUSE);

	/* Two kinds, data flags, PAUSE off a PROBE, a count off a NACK. */
	static const uint8_t bad[] = {
		SL_FRAG_F_NACK | SL_FRAG_F_ACK,
		SL_FRAG_F_ACK | SL_FRAG_F_PROBE,
		SL_FRAG_F_NACK | SL_FRAG_F_PROBE,
		SL_FRAG_F_NACK | SL_FRAG_F_END,
		SL_FRAG_F_ACK | SL_FRAG_F_ABORT,
		SL_FRAG_F_PROBE | SL_FRAG_F_END | SL_FRAG_F_CHILDREN,
		SL_FRAG_F_PAUSE,
		SL_FRAG_F_PAUSE | SL_FRAG_F_END,
		SL_FRAG_F_PAUSE | SL_FRAG_F_NACK,
		SL_FRAG_F_PAUSE | SL_FRAG_F_ACK,
	};
	for (unsigned int i = 0; i < N_ELEMS(bad); i++) {
		len = control_dgram(buf, SL_FRAG_F_PROBE, 1, 0);
		buf[SL_WIRE_OFF_FLAGS] = bad[i];
		CU_ASSERT_EQUAL(sl_wire_parse(buf, len, &out),
				SL_WIRE_BAD_FLAGS);
	}
	len = control_dgram(buf, SL_FRAG_F_ACK, 1, 0);
	put32(buf + SL_WIRE_OFF_CHILD_COUNT, 2);
	CU_ASSERT_EQUAL(sl_wire_parse(buf, len, &out), SL_WIRE_BAD_FLAGS);
	len = control_dgram(buf, SL_FRAG_F_PROBE, 1, 0);
	put32(buf + SL_WIRE_OFF_CHILD_COUNT, 1);
	CU_ASSERT_EQUAL(sl_wire_parse(buf, len, &out), SL_WIRE_BAD_FLAGS);
	/* With an abort reason. */
	len = control_dgram(buf, SL_FRAG_F_NACK, 1, 1);
	buf[SL_WIRE_OFF_ABORT] = SL_ABORT_LOST;
	CU_ASSERT_EQUAL(sl_wire_parse(buf, len, &out), SL_WIRE_BAD_FLAGS);

	/* With tokens: the sample datagram's payload behind a NACK header,
	 * and a header that only claims tokens. */
	tlen = sample_dgram(tok, sizeof(tok));
	tok[SL_WIRE_OFF_FLAGS] = SL_FRAG_F_NACK;
	tok[SL_WIRE_OFF_ABORT] = 0;
	put32(tok + SL_WIRE_OFF_CHILD_COUNT, 1);
	CU_ASSERT_EQUAL(sl_wire_parse(tok, tlen, &out), SL_WIRE_BAD_FLAGS);
	len = control_dgram(buf, SL_FRAG_F_ACK, 1, 0);
	put16(buf + SL_WIRE_OFF_TOKEN_COUNT, 1);
	CU_ASSERT_EQUAL(sl_wire_parse(buf, len, &out), SL_WIRE_BAD_FLAGS);

	CU_ASSERT_STRING_EQUAL(sl_abort_reason_name(SL_ABORT_LOST), "LOST");
	CU_ASSERT_STRING_EQUAL(sl_abort_reason_name(SL_ABORT_SHUTDOWN),
			       "SHUTDOWN");
	CU_ASSERT_EQUAL(SL_ABORT_MAX, 15);
}

/* A payload over SL_WIRE_PAYLOAD_MAX is refused, even when consistent;
 * the builder never makes one whatever room it is given. */
static void
test_too_big(void)
{
	static uint8_t buf[SL_WIRE_HDR_LEN + 4096];
	static char text[4096];
	struct sl_wire_builder b;
	struct sl_frag_hdr h;
	size_t len;

	memset(text, 'a', sizeof(text));
	sample_hdr(&h);
	h.flags = 0;
	h.abort_reason = 0;
	h.child_count = 0;
	CU_ASSERT_EQUAL(sl_wire_builder_init(&b, buf, sizeof(buf), &h), 0);
	CU_ASSERT_EQUAL(b.cap, SL_WIRE_HDR_LEN + SL_WIRE_PAYLOAD_MAX);
	/* Exactly full: one token of 1384 - 6 bytes. */
	CU_ASSERT_EQUAL(sl_wire_builder_add(&b, 1, text,
					    SL_WIRE_PAYLOAD_MAX -
						    SL_WIRE_TOKEN_HDR_LEN),
			0);
	CU_ASSERT_EQUAL(sl_wire_builder_add(&b, 2, "", 0), -ENOSPC);
	len = sl_wire_builder_finish(&b);
	CU_ASSERT_EQUAL(len, SL_WIRE_HDR_LEN + SL_WIRE_PAYLOAD_MAX);
	CU_ASSERT_EQUAL(sl_wire_parse(buf, len, &h), SL_WIRE_OK);

	/* One byte more, written by hand. */
	put16(buf + SL_WIRE_OFF_PAYLOAD_LEN, SL_WIRE_PAYLOAD_MAX + 1);
	put16(buf + SL_WIRE_HDR_LEN + 4,
	      SL_WIRE_PAYLOAD_MAX + 1 - SL_WIRE_TOKEN_HDR_LEN);
	buf[len] = 'a';
	CU_ASSERT_EQUAL(sl_wire_parse(buf, len + 1, &h), SL_WIRE_TOO_BIG);
	CU_ASSERT_STRING_EQUAL(sl_wire_status_name(SL_WIRE_TOO_BIG), "TOO_BIG");
}

static void
test_tokens_bad(void)
{
	uint8_t p[64];

	/* "Hello" then ", world": 11 + 13 bytes. */
	memcpy(p,
	       "\x00\x00\x26\xb2\x00\x05Hello\x00\x00\x00\x0b\x00\x07, world",
	       24);
	CU_ASSERT_EQUAL(sl_wire_check_tokens(p, 24, 2), SL_WIRE_OK);
	CU_ASSERT_EQUAL(sl_wire_check_tokens(p, 0, 0), SL_WIRE_OK);

	/* Cut inside the second token's id, length, and text. */
	CU_ASSERT_EQUAL(sl_wire_check_tokens(p, 11 + 3, 2),
			SL_WIRE_TOKEN_OVERRUN);
	CU_ASSERT_EQUAL(sl_wire_check_tokens(p, 11 + 5, 2),
			SL_WIRE_TOKEN_OVERRUN);
	CU_ASSERT_EQUAL(sl_wire_check_tokens(p, 11 + 6 + 6, 2),
			SL_WIRE_TOKEN_OVERRUN);
	CU_ASSERT_EQUAL(sl_wire_check_tokens(p, 3, 1), SL_WIRE_TOKEN_OVERRUN);
	/* A text length larger than what is left. */
	p[5] = 0xff;
	CU_ASSERT_EQUAL(sl_wire_check_tokens(p, 24, 2), SL_WIRE_TOKEN_OVERRUN);
	p[5] = 5;

	/* Count too high: payload ends cleanly before it. */
	CU_ASSERT_EQUAL(sl_wire_check_tokens(p, 24, 3), SL_WIRE_TOKEN_COUNT);
	CU_ASSERT_EQUAL(sl_wire_check_tokens(p, 0, 1), SL_WIRE_TOKEN_COUNT);
	/* Count too low: bytes after the last announced token. */
	CU_ASSERT_EQUAL(sl_wire_check_tokens(p, 24, 1), SL_WIRE_TOKEN_COUNT);
	CU_ASSERT_EQUAL(sl_wire_check_tokens(p, 24, 0), SL_WIRE_TOKEN_COUNT);
	CU_ASSERT_EQUAL(sl_wire_check_tokens(p, 1, 0), SL_WIRE_TOKEN_COUNT);
}

static void
test_dgram_tokens_bad(void)
{
	uint8_t buf[BUF_LEN];
	struct sl_frag_hdr h;
	size_t len;

	/* Through sl_wire_parse: token_count in the header too high/low. */
	len = sample_dgram(buf, sizeof(buf));
	put16(buf + 14, 3);
	CU_ASSERT_EQUAL(sl_wire_parse(buf, len, &h), SL_WIRE_TOKEN_COUNT);
	put16(buf + 14, 1);
	CU_ASSERT_EQUAL(sl_wire_parse(buf, len, &h), SL_WIRE_TOKEN_COUNT);
	put16(buf + 14, 2);
	CU_ASSERT_EQUAL(sl_wire_parse(buf, len, &h), SL_WIRE_OK);
	/* Second token's text length one past the end. */
	put16(buf + SL_WIRE_HDR_LEN + 11 + 4, 8);
	CU_ASSERT_EQUAL(sl_wire_parse(buf, len, &h), SL_WIRE_TOKEN_OVERRUN);
}

static enum sl_wire_status
text_status(const char *bytes, size_t n)
{
	uint8_t buf[BUF_LEN];
	struct sl_frag_hdr h;
	size_t len = text_dgram(buf, bytes, n);

	return sl_wire_parse(buf, len, &h);
}

#define TEXT_STATUS(lit) text_status(lit, sizeof(lit) - 1)

static void
test_utf8(void)
{
	/* Rejected, through the whole datagram path. */
	CU_ASSERT_EQUAL(TEXT_STATUS("\x80"), SL_WIRE_BAD_UTF8);
	CU_ASSERT_EQUAL(TEXT_STATUS("a\xbf"
				    "b"),
			SL_WIRE_BAD_UTF8);
	CU_ASSERT_EQUAL(TEXT_STATUS("\xc3"), SL_WIRE_BAD_UTF8);
	CU_ASSERT_EQUAL(TEXT_STATUS("\xc3"
				    "a"),
			SL_WIRE_BAD_UTF8);
	CU_ASSERT_EQUAL(TEXT_STATUS("\xe4\xb8"), SL_WIRE_BAD_UTF8);
	CU_ASSERT_EQUAL(TEXT_STATUS("\xe4\xb8"
				    "a"),
			SL_WIRE_BAD_UTF8);
	CU_ASSERT_EQUAL(TEXT_STATUS("\xf0\x9f\x98"), SL_WIRE_BAD_UTF8);
	CU_ASSERT_EQUAL(TEXT_STATUS("\xf0\x9f\x98"
				    "a"),
			SL_WIRE_BAD_UTF8);
	CU_ASSERT_EQUAL(TEXT_STATUS("\xc0\x80"), SL_WIRE_BAD_UTF8);
	CU_ASSERT_EQUAL(TEXT_STATUS("\xc1\xbf"), SL_WIRE_BAD_UTF8);
	CU_ASSERT_EQUAL(TEXT_STATUS("\xe0\x80\x80"), SL_WIRE_BAD_UTF8);
	CU_ASSERT_EQUAL(TEXT_STATUS("\xe0\x9f\xbf"), SL_WIRE_BAD_UTF8);
	CU_ASSERT_EQUAL(TEXT_STATUS("\xf0\x8f\xbf\xbf"), SL_WIRE_BAD_UTF8);
	CU_ASSERT_EQUAL(TEXT_STATUS("\xed\xa0\x80"), SL_WIRE_BAD_UTF8);
	CU_ASSERT_EQUAL(TEXT_STATUS("\xed\xbf\xbf"), SL_WIRE_BAD_UTF8);
	CU_ASSERT_EQUAL(TEXT_STATUS("\xf4\x90\x80\x80"), SL_WIRE_BAD_UTF8);
	CU_ASSERT_EQUAL(TEXT_STATUS("\xf5\x80\x80\x80"), SL_WIRE_BAD_UTF8);
	CU_ASSERT_EQUAL(TEXT_STATUS("\xff"), SL_WIRE_BAD_UTF8);
	CU_ASSERT_EQUAL(TEXT_STATUS("\xfe"), SL_WIRE_BAD_UTF8);
	/* Bad byte after a run the 8-byte ASCII path skips. */
	CU_ASSERT_EQUAL(TEXT_STATUS("abcdefghijklmnop\xff"), SL_WIRE_BAD_UTF8);
	CU_ASSERT_EQUAL(TEXT_STATUS("abcdefg\x80"
				    "abcdefgh"),
			SL_WIRE_BAD_UTF8);

	/* Accepted: é, 中, 😀, and the edges of each range. */
	CU_ASSERT_EQUAL(TEXT_STATUS("caf\xc3\xa9"), SL_WIRE_OK);
	CU_ASSERT_EQUAL(TEXT_STATUS("\xe4\xb8\xad"), SL_WIRE_OK);
	CU_ASSERT_EQUAL(TEXT_STATUS("\xf0\x9f\x98\x80"), SL_WIRE_OK);
	CU_ASSERT_EQUAL(TEXT_STATUS("abcdefgh\xf0\x9f\x98\x80"
				    "abcdefgh"
				    "\xc3\xa9"),
			SL_WIRE_OK);
	CU_ASSERT_EQUAL(TEXT_STATUS("\xc2\x80\xdf\xbf"), SL_WIRE_OK);
	CU_ASSERT_EQUAL(TEXT_STATUS("\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80"),
			SL_WIRE_OK);
	CU_ASSERT_EQUAL(TEXT_STATUS("\xf0\x90\x80\x80\xf4\x8f\xbf\xbf"),
			SL_WIRE_OK);
	CU_ASSERT_EQUAL(TEXT_STATUS(""), SL_WIRE_OK);

	CU_ASSERT_TRUE(sl_utf8_valid((const uint8_t *)"", 0));
	CU_ASSERT_TRUE(sl_utf8_valid((const uint8_t *)"0123456789abcdef", 16));
	CU_ASSERT_FALSE(sl_utf8_valid((const uint8_t *)"\xe4\xb8\xad", 2));
}

/*
 * Texts of up to 8 bytes are checked as one word read from inside the
 * payload (at the text, or the payload's last word shifted down): only
 * the text's own bytes count. Around each text, ids of 0xff bytes; every
 * length 0..8 at every distance from the payload's end; a bad byte at
 * each position of the text; and a payload shorter than a word.
 */
static void
test_tokens_word_path(void)
{
	uint8_t p[64];

	for (unsigned int tlen = 0; tlen <= 8; tlen++) {
		for (unsigned int tail = 0; tail <= 10; tail++) {
			/* token 1: tlen ASCII bytes; token 2: tail-byte text
			 * of 0x7f (still ASCII) after an id of 0xff. */
			size_t n = 0, t1;

			memset(p, 0xff, sizeof(p));
			n += 4;
			put16(p + n, (uint16_t)tlen);
			n += 2;
			t1 = n;
			memset(p + n, 'a', tlen);
			n += tlen;
			if (tail != 0) {
				n += 4;
				put16(p + n, (uint16_t)(tail - 1));
				n += 2;
				memset(p + n, 0x7f, tail - 1);
				n += tail - 1;
			}
			CU_ASSERT_EQUAL(sl_wire_check_tokens(p, n, 1 + !!tail),
					SL_WIRE_OK);
			for (unsigned int k = 0; k < tlen; k++) {
				p[t1 + k] = 0x80;
				CU_ASSERT_EQUAL(
					sl_wire_check_tokens(p, n, 1 + !!tail),
					SL_WIRE_BAD_UTF8);
				p[t1 + k] = 0xc3; /* a lead byte, cut short */
				CU_ASSERT_EQUAL(
					sl_wire_check_tokens(p, n, 1 + !!tail),
					SL_WIRE_BAD_UTF8);
				if (k + 1 < tlen) {
					p[t1 + k + 1] = 0xa9; /* é */
					CU_ASSERT_EQUAL(
						sl_wire_check_tokens(
							p, n, 1 + !!tail),
						SL_WIRE_OK);
					p[t1 + k + 1] = 'a';
				}
				p[t1 + k] = 'a';
			}
		}
	}
	/* Shorter than a word: one token of one byte (7 bytes). */
	memset(p, 0xff, sizeof(p));
	put16(p + 4, 1);
	p[6] = 'x';
	CU_ASSERT_EQUAL(sl_wire_check_tokens(p, 7, 1), SL_WIRE_OK);
	p[6] = 0xff;
	CU_ASSERT_EQUAL(sl_wire_check_tokens(p, 7, 1), SL_WIRE_BAD_UTF8);
}

static bool
builder_equal(const struct sl_wire_builder *a, const struct sl_wire_builder *b)
{
	return a->buf == b->buf && a->cap == b->cap && a->len == b->len &&
	       hdr_equal(&a->hdr, &b->hdr);
}

static void
test_builder(void)
{
	uint8_t buf[BUF_LEN], snap[BUF_LEN];
	struct sl_wire_builder b, before;
	struct sl_frag_hdr h;
	static char big[70000];

	sample_hdr(&h);
	h.token_count = 77; /* ignored by init */
	h.payload_len = 77;
	CU_ASSERT_EQUAL(sl_wire_builder_init(&b, buf, SL_WIRE_HDR_LEN - 1, &h),
			-ENOSPC);

	/* Room for the header and exactly one 6+4 byte token. */
	memset(buf, 0x5a, sizeof(buf));
	CU_ASSERT_EQUAL(
		sl_wire_builder_init(&b, buf, SL_WIRE_HDR_LEN + 10 + 3, &h), 0);
	CU_ASSERT_EQUAL(b.hdr.token_count, 0);
	CU_ASSERT_EQUAL(b.len, SL_WIRE_HDR_LEN);
	CU_ASSERT_EQUAL(sl_wire_builder_add(&b, 7, "four", 4), 0);
	before = b;
	memcpy(snap, buf, sizeof(buf));
	CU_ASSERT_EQUAL(sl_wire_builder_add(&b, 8, "x", 1), -ENOSPC);
	CU_ASSERT_TRUE(builder_equal(&b, &before));
	CU_ASSERT_EQUAL(memcmp(buf, snap, sizeof(buf)), 0);
	CU_ASSERT_EQUAL(sl_wire_builder_add(&b, 8, big, 65536), -EINVAL);
	CU_ASSERT_TRUE(builder_equal(&b, &before));
	CU_ASSERT_EQUAL(memcmp(buf, snap, sizeof(buf)), 0);

	CU_ASSERT_EQUAL(sl_wire_builder_finish(&b), SL_WIRE_HDR_LEN + 10);
	CU_ASSERT_EQUAL(get16(buf + 14), 1);
	CU_ASSERT_EQUAL(get16(buf + 20), 10);
	CU_ASSERT_EQUAL(sl_wire_parse(buf, SL_WIRE_HDR_LEN + 10, &h),
			SL_WIRE_OK);

	/* An empty fragment (an END marker) is a header alone. */
	CU_ASSERT_EQUAL(sl_wire_builder_init(&b, buf, sizeof(buf), &h), 0);
	CU_ASSERT_EQUAL(sl_wire_builder_finish(&b), SL_WIRE_HDR_LEN);
	CU_ASSERT_EQUAL(sl_wire_parse(buf, SL_WIRE_HDR_LEN, &h), SL_WIRE_OK);
	CU_ASSERT_EQUAL(h.token_count, 0);
}

static void
test_iterator(void)
{
	static const struct {
		uint32_t id;
		const char *text;
	} want[] = {
		{0, ""},
		{1, "The"},
		{0xffffffffu, " caf\xc3\xa9"},
		{0x12345678u, "\xe4\xb8\xad\xf0\x9f\x98\x80"},
	};
	uint8_t buf[BUF_LEN];
	struct sl_wire_builder b;
	struct sl_frag_hdr h;
	struct sl_token_iter it;
	struct sl_token tok;
	size_t len;
	unsigned int i;

	sample_hdr(&h);
	CU_ASSERT_EQUAL_FATAL(sl_wire_builder_init(&b, buf, sizeof(buf), &h),
			      0);
	for (i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(sl_wire_builder_add(&b, want[i].id,
						    want[i].text,
						    strlen(want[i].text)),
				0);
	len = sl_wire_builder_finish(&b);
	CU_ASSERT_EQUAL_FATAL(sl_wire_parse(buf, len, &h), SL_WIRE_OK);
	CU_ASSERT_EQUAL(h.token_count, 4);

	sl_token_iter_init(&it, buf + SL_WIRE_HDR_LEN, h.payload_len);
	for (i = 0; i < 4; i++) {
		CU_ASSERT_TRUE_FATAL(sl_token_next(&it, &tok));
		CU_ASSERT_EQUAL(tok.id, want[i].id);
		CU_ASSERT_EQUAL(tok.len, strlen(want[i].text));
		CU_ASSERT_EQUAL(memcmp(tok.text, want[i].text, tok.len), 0);
	}
	CU_ASSERT_FALSE(sl_token_next(&it, &tok));
	CU_ASSERT_FALSE(sl_token_next(&it, &tok));

	/* A truncated payload stops the iterator instead of overrunning. */
	sl_token_iter_init(&it, buf + SL_WIRE_HDR_LEN, 6 + 3 + 2);
	CU_ASSERT_TRUE(sl_token_next(&it, &tok));
	CU_ASSERT_TRUE(sl_token_next(&it, &tok) == false);
}

static void
test_names(void)
{
	CU_ASSERT_STRING_EQUAL(sl_wire_status_name(SL_WIRE_OK), "OK");
	CU_ASSERT_STRING_EQUAL(sl_wire_status_name(SL_WIRE_FRAME_SHORT),
			       "FRAME_SHORT");
	CU_ASSERT_STRING_EQUAL(sl_wire_status_name(SL_WIRE_BAD_MAGIC),
			       "BAD_MAGIC");
	CU_ASSERT_STRING_EQUAL(sl_wire_status_name(SL_WIRE_BAD_UTF8),
			       "BAD_UTF8");
	CU_ASSERT_STRING_EQUAL(sl_wire_status_name(SL_WIRE_STATUS_MAX),
			       "UNKNOWN");
	CU_ASSERT_STRING_EQUAL(sl_wire_status_text(SL_WIRE_TOKEN_COUNT),
			       "token count disagrees with the payload");
	CU_ASSERT_STRING_EQUAL(sl_wire_status_text(SL_WIRE_OK), "valid");
	CU_ASSERT_STRING_EQUAL(sl_abort_reason_name(SL_ABORT_NONE), "NONE");
	CU_ASSERT_STRING_EQUAL(sl_abort_reason_name(SL_ABORT_GUARD), "GUARD");
	CU_ASSERT_STRING_EQUAL(sl_abort_reason_name(SL_ABORT_CHILDREN),
			       "CHILDREN");
	CU_ASSERT_STRING_EQUAL(sl_abort_reason_name(SL_ABORT_UPSTREAM_CLOSED),
			       "UPSTREAM_CLOSED");
	CU_ASSERT_EQUAL(SL_ABORT_UPSTREAM_CLOSED, 14);
	CU_ASSERT_STRING_EQUAL(sl_abort_reason_name(SL_ABORT_MAX), "UNKNOWN");
	CU_ASSERT_EQUAL(SL_WIRE_STATUS_MAX, 19);
	CU_ASSERT_EQUAL(SL_ABORT_MAX, 15);
}

/* The one L2-L4 writer: bytes exact without options, parsed back with
 * 3 words of options, checksum valid either way. */
static void
test_frame_write(void)
{
	static const uint8_t want[SL_WIRE_FRAME_HDR_OFF] = {
		/* Ethernet */
		0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, 0x08, 0x00,
		/* IPv4: 20 + 8 + 100 = 128 bytes, id 0x1234, DF, TTL 64, UDP */
		0x45, 0, 0x00, 0x80, 0x12, 0x34, 0x40, 0x00, 64, 17, 0x13, 0x34,
		10, 0, 1, 5, 10, 0, 0, 1,
		/* UDP 40000 -> 7700, 108 bytes, no checksum */
		0x9c, 0x40, 0x1e, 0x14, 0x00, 0x6c, 0, 0};
	const struct sl_frame_ends e = {
		.dst_mac = {0x02, 0, 0, 0, 0, 0x01},
		.src_mac = {0x02, 0, 0, 0, 0, 0x02},
		.src_ip = 0x0a000105,
		.dst_ip = 0x0a000001,
		.src_port = 40000,
		.dst_port = 7700,
	};
	uint8_t f[SL_WIRE_FRAME_HDR_OFF + 12 + 100];
	struct sl_frame fr;

	memset(f, 0xaa, sizeof(f));
	CU_ASSERT_EQUAL(sl_wire_frame_write(f, &e, 100, 0, 0x1234),
			SL_WIRE_FRAME_HDR_OFF);
	CU_ASSERT_EQUAL(memcmp(f, want, sizeof(want)), 0);
	CU_ASSERT_EQUAL(sl_wire_ipv4_sum(f + SL_ETHER_HDR_LEN, 20), 0xffff);
	CU_ASSERT_EQUAL(f[SL_WIRE_FRAME_HDR_OFF], 0xaa); /* nothing past */
	CU_ASSERT_EQUAL(
		sl_wire_parse_frame(f, SL_WIRE_FRAME_HDR_OFF + 100, &fr),
		SL_WIRE_OK);
	CU_ASSERT_EQUAL(fr.src_ip, e.src_ip);
	CU_ASSERT_EQUAL(fr.dst_port, 7700);
	CU_ASSERT_EQUAL(fr.hdr_off, SL_WIRE_FRAME_HDR_OFF);
	CU_ASSERT_EQUAL(fr.dgram_len, 100);

	CU_ASSERT_EQUAL(sl_wire_frame_write(f, &e, 100, 3, 7),
			SL_WIRE_FRAME_HDR_OFF + 12);
	CU_ASSERT_EQUAL(f[SL_ETHER_HDR_LEN], 0x48);
	CU_ASSERT_EQUAL(f[SL_ETHER_HDR_LEN + 20], 0x01); /* NOP */
	CU_ASSERT_EQUAL(sl_wire_ipv4_sum(f + SL_ETHER_HDR_LEN, 32), 0xffff);
	CU_ASSERT_EQUAL(
		sl_wire_parse_frame(f, SL_WIRE_FRAME_HDR_OFF + 12 + 100, &fr),
		SL_WIRE_OK);
	CU_ASSERT_EQUAL(fr.hdr_off, SL_WIRE_FRAME_HDR_OFF + 12);
	CU_ASSERT_EQUAL(fr.dgram_len, 100);
}

int
main(void)
{
	static const struct {
		const char *name;
		CU_TestFunc fn;
	} tests[] = {
		{"encode/parse round trip", test_roundtrip},
		{"field offsets", test_layout},
		{"child count announcement", test_children},
		{"ancestry beyond depth", test_ancestry_depth},
		{"valid frames", test_frame_ok},
		{"the frame writer", test_frame_write},
		{"malformed frames", test_frame_bad},
		{"malformed headers", test_hdr_bad},
		{"control fragments", test_control},
		{"payload over 1384 bytes", test_too_big},
		{"malformed token lists", test_tokens_bad},
		{"token errors via sl_wire_parse", test_dgram_tokens_bad},
		{"UTF-8", test_utf8},
		{"short texts read as one word", test_tokens_word_path},
		{"builder", test_builder},
		{"iterator", test_iterator},
		{"status names", test_names},
	};
	CU_pSuite suite;
	unsigned int i, failures;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	suite = CU_add_suite("wire", NULL, NULL);
	if (suite == NULL)
		goto fail;
	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
			goto fail;
	CU_basic_set_mode(CU_BRM_VERBOSE);
	if (CU_basic_run_tests() != CUE_SUCCESS)
		goto fail;
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failures == 0 ? 0 : 1;
fail:
	fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
	CU_cleanup_registry();
	return 1;
}
