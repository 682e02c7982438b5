/* SPDX-License-Identifier: MIT */
/*
 * sl_wire.c - encode, parse and validate sluice fragments.
 *
 * Runs once per packet in the dataplane, so the common case is straight
 * line: fixed-offset loads (memcpy + beNNtoh, which compilers turn into a
 * single unaligned load and a byte swap) and no per-byte loops except the
 * UTF-8 check, which skips ASCII eight bytes at a time.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "sl_wire.h"

#define SL_ETHERTYPE_IPV4 0x0800
#define SL_IPPROTO_UDP 17
/* IPv4 flags+fragment offset word: MF bit and the 13-bit offset. */
#define SL_IPV4_MF 0x2000
#define SL_IPV4_OFF_MASK 0x1fff

/* Control flags (or PAUSE) are rare: keep data fragments straight-line. */
static inline bool
unlikely_ctl(unsigned int flags)
{
	return __builtin_expect(
		(flags & (SL_FRAG_F_CONTROL | SL_FRAG_F_PAUSE)) != 0, 0);
}

static inline uint16_t
ld16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return be16toh(v);
}

static inline uint32_t
ld32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return be32toh(v);
}

static inline uint64_t
ld64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return be64toh(v);
}

static inline void
st16(uint8_t *p, uint16_t v)
{
	v = htobe16(v);
	memcpy(p, &v, sizeof(v));
}

static inline void
st32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, sizeof(v));
}

static inline void
st64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, sizeof(v));
}

/* clang-format off */
static const char *const sl_wire_status_names[] = {
#define SL_WIRE_NAME(name, text) #name,
	SL_WIRE_ERRORS(SL_WIRE_NAME)
#undef SL_WIRE_NAME
};

static const char *const sl_wire_status_texts[] = {
#define SL_WIRE_TEXT(name, text) text,
	SL_WIRE_ERRORS(SL_WIRE_TEXT)
#undef SL_WIRE_TEXT
};

static const char *const sl_abort_reason_names[] = {
#define SL_ABORT_NAME(name, text) #name,
	SL_ABORT_REASONS(SL_ABORT_NAME)
#undef SL_ABORT_NAME
};
/* clang-format on */

const char *
sl_wire_status_name(enum sl_wire_status st)
{
	if ((unsigned int)st >= SL_WIRE_STATUS_MAX)
		return "UNKNOWN";
	return sl_wire_status_names[st];
}

const char *
sl_wire_status_text(enum sl_wire_status st)
{
	if ((unsigned int)st >= SL_WIRE_STATUS_MAX)
		return "unknown status";
	return sl_wire_status_texts[st];
}

const char *
sl_abort_reason_name(unsigned int reason)
{
	if (reason >= SL_ABORT_MAX)
		return "UNKNOWN";
	return sl_abort_reason_names[reason];
}

static const char *const sl_abort_reason_texts[] = {
#define SL_ABORT_TEXT(name, text) text,
	SL_ABORT_REASONS(SL_ABORT_TEXT)
#undef SL_ABORT_TEXT
};

const char *
sl_abort_reason_text(unsigned int reason)
{
	if (reason >= SL_ABORT_MAX)
		return "unknown reason";
	return sl_abort_reason_texts[reason];
}

enum sl_wire_status
sl_wire_parse_frame(const uint8_t *frame, size_t len, struct sl_frame *out)
{
	const uint8_t *ip, *udp;
	unsigned int ihl_len, total_len, frag;

	if (len < SL_WIRE_FRAME_HDR_OFF)
		return SL_WIRE_FRAME_SHORT;
	/* A VLAN tag (0x8100) lands here too: not supported on the wire. */
	if (ld16(frame + 12) != SL_ETHERTYPE_IPV4)
		return SL_WIRE_NOT_IPV4;

	ip = frame + SL_ETHER_HDR_LEN;
	ihl_len = (ip[0] & 0x0fu) * 4;
	if ((ip[0] >> 4) != 4 || ihl_len < SL_IPV4_HDR_LEN ||
	    SL_ETHER_HDR_LEN + ihl_len > len)
		return SL_WIRE_IP_BAD_HDR;

	/* Ethernet pads short frames, so the frame may be longer than the
	 * IP packet; never shorter. */
	total_len = ld16(ip + 2);
	if (total_len < ihl_len + SL_UDP_HDR_LEN ||
	    total_len > len - SL_ETHER_HDR_LEN)
		return SL_WIRE_IP_BAD_LEN;

	frag = ld16(ip + 6);
	if (frag & (SL_IPV4_MF | SL_IPV4_OFF_MASK))
		return SL_WIRE_IP_FRAGMENT;
	if (ip[9] != SL_IPPROTO_UDP)
		return SL_WIRE_NOT_UDP;

	udp = ip + ihl_len;
	if (ld16(udp + 4) != total_len - ihl_len)
		return SL_WIRE_UDP_BAD_LEN;

	memcpy(out->dst_mac, frame, 6);
	memcpy(out->src_mac, frame + 6, 6);
	out->src_ip = ld32(ip + 12);
	out->dst_ip = ld32(ip + 16);
	out->src_port = ld16(udp);
	out->dst_port = ld16(udp + 2);
	out->hdr_off = (uint16_t)(SL_ETHER_HDR_LEN + ihl_len + SL_UDP_HDR_LEN);
	out->dgram_len = (uint16_t)(total_len - ihl_len - SL_UDP_HDR_LEN);
	return SL_WIRE_OK;
}

enum sl_wire_status
sl_wire_parse_hdr(const uint8_t *buf, size_t len, struct sl_frag_hdr *hdr)
{
	unsigned int i;

	if (len < SL_WIRE_HDR_LEN)
		return SL_WIRE_SHORT;
	if (ld16(buf + SL_WIRE_OFF_MAGIC) != SL_WIRE_MAGIC)
		return SL_WIRE_BAD_MAGIC;
	if (buf[SL_WIRE_OFF_VERSION] != SL_WIRE_VERSION)
		return SL_WIRE_BAD_VERSION;

	hdr->version = buf[SL_WIRE_OFF_VERSION];
	hdr->flags = buf[SL_WIRE_OFF_FLAGS];
	hdr->abort_reason = buf[SL_WIRE_OFF_ABORT];
	if (hdr->flags & ~SL_FRAG_F_ALL)
		return SL_WIRE_BAD_FLAGS;
	if (hdr->abort_reason != 0 && (!(hdr->flags & SL_FRAG_F_ABORT) ||
				       hdr->abort_reason >= SL_ABORT_MAX))
		return SL_WIRE_BAD_FLAGS;
	hdr->child_count = ld32(buf + SL_WIRE_OFF_CHILD_COUNT);
	if ((hdr->flags & SL_FRAG_F_CHILDREN) && !(hdr->flags & SL_FRAG_F_END))
		return SL_WIRE_BAD_FLAGS;
	if (unlikely_ctl(hdr->flags)) {
		unsigned int ctl = hdr->flags & SL_FRAG_F_CONTROL;

		/* One control kind, no data flags, PAUSE only on a PROBE,
		 * a count only on a NACK, and no tokens (checked below). */
		if ((ctl & (ctl - 1)) != 0 || (hdr->flags & SL_FRAG_F_DATA) ||
		    ((hdr->flags & SL_FRAG_F_PAUSE) &&
		     ctl != SL_FRAG_F_PROBE) ||
		    (hdr->child_count != 0 && ctl != SL_FRAG_F_NACK) ||
		    ld16(buf + SL_WIRE_OFF_PAYLOAD_LEN) != 0 ||
		    ld16(buf + SL_WIRE_OFF_TOKEN_COUNT) != 0)
			return SL_WIRE_BAD_FLAGS;
	} else if (hdr->child_count != 0 &&
		   !(hdr->flags & SL_FRAG_F_CHILDREN)) {
		return SL_WIRE_BAD_FLAGS;
	}

	hdr->depth = buf[SL_WIRE_OFF_DEPTH];
	if (hdr->depth == 0 || hdr->depth > SL_ANCESTRY_MAX)
		return SL_WIRE_BAD_DEPTH;
	if (ld32(buf + SL_WIRE_OFF_RESERVED) != 0)
		return SL_WIRE_BAD_RESERVED;

	hdr->payload_len = ld16(buf + SL_WIRE_OFF_PAYLOAD_LEN);
	if (hdr->payload_len != len - SL_WIRE_HDR_LEN)
		return SL_WIRE_LEN_MISMATCH;
	if (hdr->payload_len > SL_WIRE_PAYLOAD_MAX)
		return SL_WIRE_TOO_BIG;

	hdr->stage = ld16(buf + SL_WIRE_OFF_STAGE);
	hdr->from_stage = ld16(buf + SL_WIRE_OFF_FROM_STAGE);
	hdr->pipeline = ld32(buf + SL_WIRE_OFF_PIPELINE);
	hdr->tenant = ld16(buf + SL_WIRE_OFF_TENANT);
	hdr->token_count = ld16(buf + SL_WIRE_OFF_TOKEN_COUNT);
	hdr->seq = ld32(buf + SL_WIRE_OFF_SEQ);
	hdr->send_ns = ld64(buf + SL_WIRE_OFF_SEND_NS);
	/* Slots past depth carry no meaning; zero them so that code hashing
	 * the whole array sees the same key whatever the sender left there. */
	for (i = 0; i < SL_ANCESTRY_MAX; i++)
		hdr->ancestry[i] =
			i < hdr->depth
				? ld64(buf + SL_WIRE_OFF_ANCESTRY + 8 * i)
				: 0;
	return SL_WIRE_OK;
}

bool
sl_utf8_valid(const uint8_t *s, size_t len)
{
	size_t i = 0;

	for (;;) {
		unsigned int c, need, k;
		uint8_t lo = 0x80, hi = 0xbf;

		/* Token texts are mostly ASCII: skip it a word at a time, then
		 * the short tail (or the bytes before a lead byte) one by one.
		 */
		while (len - i >= 8) {
			uint64_t w;

			memcpy(&w, s + i, sizeof(w));
			if (w & 0x8080808080808080ull)
				break;
			i += 8;
		}
		while (i < len && s[i] < 0x80)
			i++;
		if (i == len)
			return true;

		/* Unicode 15, table 3-7: the second byte's range is what
		 * excludes overlongs, surrogates and values above U+10FFFF. */
		c = s[i];
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else {
			return false;
		}
		if (len - i - 1 < need)
			return false;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (k = 2; k <= need; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
		i += need + 1;
	}
}

/*
 * Tokens are short (a few bytes) and mostly ASCII: OR the bytes together
 * inline and call the full decoder only when a byte has its top bit set.
 * A text of at most 8 bytes is read as one word from inside the payload
 * [@lo, @end) when that holds 8 bytes: the word at the text, or, near the
 * end, the last word of the payload shifted down to it; the bytes past
 * the text are masked off. Bytes are numbered little-endian (le64toh).
 */
static inline bool
token_text_valid(const uint8_t *s, size_t len, const uint8_t *lo,
		 const uint8_t *end)
{
	uint64_t acc = 0;
	size_t i = 0;

	if (len == 0)
		return true; /* (and the word below would shift by 64) */
	if (len <= 8 && end - lo >= 8) {
		uint64_t w;

		if (end - s >= 8) {
			memcpy(&w, s, sizeof(w));
			w = le64toh(w);
		} else {
			memcpy(&w, end - 8, sizeof(w));
			w = le64toh(w) >> (8 * (8 - (end - s)));
		}
		if (len < 8)
			w &= (1ull << (8 * len)) - 1;
		if (!(w & 0x8080808080808080ull))
			return true;
		return sl_utf8_valid(s, len);
	}
	for (; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, s + i, sizeof(w));
		acc |= w;
	}
	for (; i < len; i++)
		acc |= s[i];
	if (!(acc & 0x8080808080808080ull))
		return true;
	return sl_utf8_valid(s, len);
}

enum sl_wire_status
sl_wire_check_tokens(const uint8_t *payload, size_t len, uint16_t token_count)
{
	const uint8_t *p = payload, *end = payload + len;
	unsigned int n = 0;

	while (p != end) {
		size_t left = (size_t)(end - p);
		uint16_t text_len;

		if (n == token_count)
			return SL_WIRE_TOKEN_COUNT; /* bytes after the last */
		if (left < SL_WIRE_TOKEN_HDR_LEN)
			return SL_WIRE_TOKEN_OVERRUN;
		text_len = ld16(p + 4);
		if (text_len > left - SL_WIRE_TOKEN_HDR_LEN)
			return SL_WIRE_TOKEN_OVERRUN;
		if (!token_text_valid(p + SL_WIRE_TOKEN_HDR_LEN, text_len,
				      payload, end))
			return SL_WIRE_BAD_UTF8;
		p += SL_WIRE_TOKEN_HDR_LEN + text_len;
		n++;
	}
	if (n != token_count)
		return SL_WIRE_TOKEN_COUNT;
	return SL_WIRE_OK;
}

enum sl_wire_status
sl_wire_parse(const uint8_t *buf, size_t len, struct sl_frag_hdr *hdr)
{
	enum sl_wire_status st;

	st = sl_wire_parse_hdr(buf, len, hdr);
	if (st != SL_WIRE_OK)
		return st;
	return sl_wire_check_tokens(buf + SL_WIRE_HDR_LEN, hdr->payload_len,
				    hdr->token_count);
}

void
sl_wire_encode_hdr(uint8_t *buf, const struct sl_frag_hdr *hdr)
{
	unsigned int i;

	st16(buf + SL_WIRE_OFF_MAGIC, SL_WIRE_MAGIC);
	buf[SL_WIRE_OFF_VERSION] = hdr->version;
	buf[SL_WIRE_OFF_FLAGS] = hdr->flags;
	buf[SL_WIRE_OFF_ABORT] = hdr->abort_reason;
	buf[SL_WIRE_OFF_DEPTH] = hdr->depth;
	st16(buf + SL_WIRE_OFF_STAGE, hdr->stage);
	st32(buf + SL_WIRE_OFF_PIPELINE, hdr->pipeline);
	st16(buf + SL_WIRE_OFF_TENANT, hdr->tenant);
	st16(buf + SL_WIRE_OFF_TOKEN_COUNT, hdr->token_count);
	st32(buf + SL_WIRE_OFF_SEQ, hdr->seq);
	st16(buf + SL_WIRE_OFF_PAYLOAD_LEN, hdr->payload_len);
	st16(buf + SL_WIRE_OFF_FROM_STAGE, hdr->from_stage);
	st32(buf + SL_WIRE_OFF_CHILD_COUNT, hdr->child_count);
	st32(buf + SL_WIRE_OFF_RESERVED, 0);
	st64(buf + SL_WIRE_OFF_SEND_NS, hdr->send_ns);
	for (i = 0; i < SL_ANCESTRY_MAX; i++)
		st64(buf + SL_WIRE_OFF_ANCESTRY + 8 * i,
		     i < hdr->depth ? hdr->ancestry[i] : 0);
}

size_t
sl_wire_encode_control(uint8_t *buf, const struct sl_frag_hdr *stream,
		       uint8_t flags, uint32_t seq, uint32_t count,
		       uint64_t send_ns)
{
	struct sl_frag_hdr h = *stream;

	h.version = SL_WIRE_VERSION;
	h.flags = flags;
	h.abort_reason = 0;
	h.token_count = 0;
	h.payload_len = 0;
	h.seq = seq;
	h.child_count = (flags & SL_FRAG_F_NACK) ? count : 0;
	h.send_ns = send_ns;
	sl_wire_encode_hdr(buf, &h);
	return SL_WIRE_HDR_LEN;
}

int
sl_wire_builder_init(struct sl_wire_builder *b, uint8_t *buf, size_t cap,
		     const struct sl_frag_hdr *hdr)
{
	if (cap < SL_WIRE_HDR_LEN)
		return -ENOSPC;
	/* Receivers refuse more (TOO_BIG): never build it. */
	if (cap > SL_WIRE_HDR_LEN + SL_WIRE_PAYLOAD_MAX)
		cap = SL_WIRE_HDR_LEN + SL_WIRE_PAYLOAD_MAX;
	b->buf = buf;
	b->cap = cap;
	b->len = SL_WIRE_HDR_LEN;
	b->hdr = *hdr;
	b->hdr.token_count = 0;
	b->hdr.payload_len = 0;
	return 0;
}

int
sl_wire_builder_add(struct sl_wire_builder *b, uint32_t id, const char *text,
		    size_t len)
{
	size_t need = SL_WIRE_TOKEN_HDR_LEN + len;
	uint8_t *p;

	if (len > UINT16_MAX || b->hdr.token_count == UINT16_MAX)
		return -EINVAL;
	/* payload_len is 16 bits: a payload beyond it cannot be described. */
	if (need > b->cap - b->len ||
	    b->len - SL_WIRE_HDR_LEN + need > UINT16_MAX)
		return -ENOSPC;

	p = b->buf + b->len;
	st32(p, id);
	st16(p + 4, (uint16_t)len);
	if (len)
		memcpy(p + SL_WIRE_TOKEN_HDR_LEN, text, len);
	b->len += need;
	b->hdr.token_count++;
	return 0;
}

size_t
sl_wire_builder_finish(struct sl_wire_builder *b)
{
	b->hdr.payload_len = (uint16_t)(b->len - SL_WIRE_HDR_LEN);
	sl_wire_encode_hdr(b->buf, &b->hdr);
	return b->len;
}

void
sl_token_iter_init(struct sl_token_iter *it, const uint8_t *payload, size_t len)
{
	it->pos = payload;
	it->end = payload + len;
}

bool
sl_token_next(struct sl_token_iter *it, struct sl_token *tok)
{
	size_t left = (size_t)(it->end - it->pos);
	uint16_t text_len;

	/* Re-checked so that a payload that skipped validation still cannot
	 * send a reader past its end. */
	if (left < SL_WIRE_TOKEN_HDR_LEN)
		return false;
	text_len = ld16(it->pos + 4);
	if (text_len > left - SL_WIRE_TOKEN_HDR_LEN)
		return false;
	tok->id = ld32(it->pos);
	tok->len = text_len;
	tok->text = (const char *)(it->pos + SL_WIRE_TOKEN_HDR_LEN);
	it->pos += SL_WIRE_TOKEN_HDR_LEN + text_len;
	return true;
}
