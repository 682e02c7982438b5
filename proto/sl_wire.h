/* SPDX-License-Identifier: MIT */
/*
 * sl_wire.h - the sluice fragment wire format: encode, parse, validate.
 *
 * One place for the format, shared by sluiced (on mbuf data) and by the
 * tools (on socket buffers). No DPDK here: plain C on byte buffers, so the
 * client library and the tests use exactly the code the dataplane runs.
 * The format is documented byte by byte in proto/WIRE.md.
 *
 * A frame is Ethernet / IPv4 / UDP / sluice header (88 bytes) / tokens.
 * All multi-byte header fields are big-endian (network order).
 */
#ifndef SL_WIRE_H
#define SL_WIRE_H

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SL_WIRE_MAGIC 0x534cu /* "SL" */
#define SL_WIRE_VERSION 1
#define SL_WIRE_HDR_LEN 88
#define SL_WIRE_TOKEN_HDR_LEN 6 /* u32 id + u16 text length */
#define SL_ANCESTRY_MAX 6
#define SL_WIRE_UDP_PORT 7700 /* default port of sluiced */

/* Largest sluice payload (tokens) that fits one 1500-byte IPv4/UDP frame. */
#define SL_WIRE_MTU 1500
#define SL_WIRE_PAYLOAD_MAX (SL_WIRE_MTU - 20 - 8 - SL_WIRE_HDR_LEN)

#define SL_ETHER_HDR_LEN 14
#define SL_IPV4_HDR_LEN 20
#define SL_UDP_HDR_LEN 8
/* Offset of the sluice header in a frame without IPv4 options. */
#define SL_WIRE_FRAME_HDR_OFF                                                  \
	(SL_ETHER_HDR_LEN + SL_IPV4_HDR_LEN + SL_UDP_HDR_LEN)

/* Loss repair (proto/WIRE.md, "Loss repair and liveness"): the timings
 * every hop's two ends share. */
#define SL_RTX_WINDOW 32      /* fragments libsluice keeps per stream */
#define SL_RTX_NACK_MS 20     /* first NACK repeat, doubling */
#define SL_RTX_RTO_MS 20      /* first END/ABORT resend without ACK, doubling */
#define SL_RTX_TRIES 5        /* NACK repeats, and END resends */
#define SL_RTX_LINGER_MS 1000 /* an ended stream is remembered this long */

/* Header flags. Bits not listed here must be zero on the wire. */
enum sl_frag_flag {
	SL_FRAG_F_END = 0x01,   /* last fragment of its stream */
	SL_FRAG_F_ABORT = 0x02, /* stream aborted; reason in abort_reason */
	/* With END: the stream was cut into child_count quanta (child
	 * streams one ancestry level deeper). A fragment with this flag and
	 * no tokens tells a consumer how many children to expect. */
	SL_FRAG_F_CHILDREN = 0x04,
	/*
	 * Control fragments (proto/WIRE.md, "Loss repair and liveness"):
	 * no tokens, none of END/ABORT/CHILDREN, exactly one of these.
	 * NACK: the receiver of a stream asks the hop it came from to send
	 * child_count fragments again, from seq. ACK: the receiver has the
	 * stream up to its END or ABORT at seq; the sender may forget it.
	 * PROBE: liveness, sluiced to an instance and back.
	 */
	SL_FRAG_F_NACK = 0x08,
	SL_FRAG_F_ACK = 0x10,
	SL_FRAG_F_PROBE = 0x20,
	/* Only with PROBE, from an instance: route no new streams to it
	 * until a PROBE without PAUSE. */
	SL_FRAG_F_PAUSE = 0x40,
};
#define SL_FRAG_F_DATA (SL_FRAG_F_END | SL_FRAG_F_ABORT | SL_FRAG_F_CHILDREN)
#define SL_FRAG_F_CONTROL (SL_FRAG_F_NACK | SL_FRAG_F_ACK | SL_FRAG_F_PROBE)
#define SL_FRAG_F_ALL (SL_FRAG_F_DATA | SL_FRAG_F_CONTROL | SL_FRAG_F_PAUSE)

/* Why a stream was aborted (header byte 4; 0 unless SL_FRAG_F_ABORT). */
#define SL_ABORT_REASONS(_)                                                    \
	_(NONE, "none")                                                        \
	_(CLIENT, "client gave up")                                            \
	_(EXPIRED, "stream expired")                                           \
	_(GUARD, "blocked by a guard")                                         \
	_(OVERLOAD, "no capacity")                                             \
	_(ENGINE, "engine failed")                                             \
	_(CHILDREN, "child count mismatch")                                    \
	_(LOST, "a lost fragment could not be sent again")                     \
	_(SHUTDOWN, "sluiced or the engine shut down")                         \
	_(RECONFIG, "the pipeline changed under the stream")                   \
	_(TOO_LONG, "the prompt does not fit the engine")                      \
	_(UPSTREAM, "the model server answered an error")                      \
	_(UPSTREAM_TIMEOUT, "the model server did not answer in time")         \
	_(UPSTREAM_MALFORMED, "the model server's stream was malformed")       \
	_(UPSTREAM_CLOSED, "the model server closed the stream early")

enum sl_abort_reason {
#define SL_ABORT_ENUM(name, text) SL_ABORT_##name,
	SL_ABORT_REASONS(SL_ABORT_ENUM)
#undef SL_ABORT_ENUM
		SL_ABORT_MAX
};

/*
 * Why a frame or fragment is invalid. SL_WIRE_OK is 0; every other value
 * becomes a drop reason of the dataplane with the same name.
 */
#define SL_WIRE_ERRORS(_)                                                      \
	_(OK, "valid")                                                         \
	_(FRAME_SHORT, "frame shorter than Ethernet+IPv4+UDP")                 \
	_(NOT_IPV4, "ethertype is not IPv4")                                   \
	_(IP_BAD_HDR, "IPv4 version or header length invalid")                 \
	_(IP_BAD_LEN, "IPv4 total length disagrees with the frame")            \
	_(IP_FRAGMENT, "IPv4 fragment")                                        \
	_(NOT_UDP, "IPv4 protocol is not UDP")                                 \
	_(UDP_BAD_LEN, "UDP length disagrees with IPv4 length")                \
	_(SHORT, "shorter than the sluice header")                             \
	_(BAD_MAGIC, "wrong magic")                                            \
	_(BAD_VERSION, "unsupported version")                                  \
	_(BAD_FLAGS, "unknown flags, abort reason without ABORT, "             \
		     "children without END, or a bad control fragment")        \
	_(BAD_DEPTH, "ancestry depth 0 or deeper than allowed")                \
	_(BAD_RESERVED, "reserved field not zero")                             \
	_(LEN_MISMATCH, "payload length disagrees with the datagram")          \
	_(TOO_BIG, "payload over SL_WIRE_PAYLOAD_MAX bytes")                   \
	_(TOKEN_OVERRUN, "token runs past the payload")                        \
	_(TOKEN_COUNT, "token count disagrees with the payload")               \
	_(BAD_UTF8, "token text is not valid UTF-8")

enum sl_wire_status {
#define SL_WIRE_ENUM(name, text) SL_WIRE_##name,
	SL_WIRE_ERRORS(SL_WIRE_ENUM)
#undef SL_WIRE_ENUM
		SL_WIRE_STATUS_MAX
};

/* The fixed header, in host byte order. */
struct sl_frag_hdr {
	uint8_t version;
	uint8_t flags;        /* enum sl_frag_flag */
	uint8_t abort_reason; /* enum sl_abort_reason */
	uint8_t depth;        /* ids used in ancestry[], 1..SL_ANCESTRY_MAX */
	uint16_t stage;       /* stage the stream belongs to on this hop */
	uint16_t from_stage; /* stage that produced it (0: client or sluiced) */
	uint16_t tenant;
	uint32_t pipeline;
	uint16_t token_count;
	uint16_t payload_len; /* bytes of tokens after the header */
	uint32_t seq;         /* fragment sequence in its stream, from 0 */
	uint64_t send_ns;     /* sender's clock, for latency measurement */
	uint64_t ancestry[SL_ANCESTRY_MAX]; /* [request, quantum, ...] */
	uint32_t child_count; /* with SL_FRAG_F_CHILDREN: children; with
			       * SL_FRAG_F_NACK: fragments asked for; else 0 */
};

/* Addresses of a parsed frame (host byte order) and where its parts lie. */
struct sl_frame {
	uint8_t src_mac[6];
	uint8_t dst_mac[6];
	uint32_t src_ip;
	uint32_t dst_ip;
	uint16_t src_port;
	uint16_t dst_port;
	uint16_t hdr_off;   /* offset of the sluice header in the frame */
	uint16_t dgram_len; /* UDP payload length (sluice header + tokens) */
};

/* One token as seen by a reader: text points into the parsed buffer. */
struct sl_token {
	uint32_t id;
	uint16_t len;
	const char *text;
};

/* Walks the tokens of a validated payload. */
struct sl_token_iter {
	const uint8_t *pos;
	const uint8_t *end;
};

/**
 * sl_wire_status_name - short name of a status ("BAD_MAGIC").
 * sl_wire_status_text - one-line description of a status.
 * sl_abort_reason_name - short name of an abort reason ("GUARD");
 * "UNKNOWN" for values out of range.
 * sl_abort_reason_text - what it means ("blocked by a guard").
 */
const char *sl_wire_status_name(enum sl_wire_status st);
const char *sl_wire_status_text(enum sl_wire_status st);
const char *sl_abort_reason_name(unsigned int reason);
const char *sl_abort_reason_text(unsigned int reason);

/**
 * sl_wire_parse_frame - validate Ethernet/IPv4/UDP of a frame.
 * @frame: first byte of the Ethernet header.
 * @len: bytes available.
 * @out: filled with addresses and the offset of the sluice header.
 *
 * Checks the ethertype, IPv4 version/IHL (options allowed), total length
 * against the frame, fragmentation, protocol and UDP length. Does not look
 * at the sluice header. Return: SL_WIRE_OK or the reason the frame is bad.
 */
enum sl_wire_status sl_wire_parse_frame(const uint8_t *frame, size_t len,
					struct sl_frame *out);

/* Where a frame comes from and goes to (host byte order). */
struct sl_frame_ends {
	uint8_t dst_mac[6];
	uint8_t src_mac[6];
	uint32_t src_ip;
	uint32_t dst_ip;
	uint16_t src_port;
	uint16_t dst_port;
};

/**
 * sl_wire_ipv4_sum - the folded one's-complement sum of @len bytes (host
 * order): store its complement as a header's checksum; a valid header
 * sums to 0xffff. Byte order does not matter until the end (RFC 1071):
 * 32-bit words as they lie, folded, swapped once.
 */
static inline uint16_t
sl_wire_ipv4_sum(const uint8_t *hdr, size_t len)
{
	uint64_t sum = 0;
	size_t i = 0;

	for (; i + 4 <= len; i += 4) {
		uint32_t w;

		memcpy(&w, hdr + i, 4);
		sum += w;
	}
	if (i + 2 <= len) {
		uint16_t w;

		memcpy(&w, hdr + i, 2);
		sum += w;
	}
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return be16toh((uint16_t)sum);
}

/* @v big-endian at @p. */
static inline void
sl_wire_st16(uint8_t *p, uint16_t v)
{
	v = htobe16(v);
	memcpy(p, &v, sizeof(v));
}

/**
 * sl_wire_frame_write - the one L2-L4 writer: Ethernet, IPv4 (DF, TTL 64,
 * id @ip_id, @ip_options words of NOP options, header checksum) and UDP
 * (checksum 0: optional in IPv4) headers for a @dgram_len-byte datagram
 * that follows them. Return the headers' length (SL_WIRE_FRAME_HDR_OFF
 * without options). Inline: sluiced writes one per fragment it sends.
 */
static inline size_t
sl_wire_frame_write(uint8_t *frame, const struct sl_frame_ends *e,
		    uint16_t dgram_len, uint8_t ip_options, uint16_t ip_id)
{
	const size_t ihl = SL_IPV4_HDR_LEN + 4u * ip_options;
	uint8_t *ip = frame + SL_ETHER_HDR_LEN;
	uint8_t *udp = ip + ihl;
	uint32_t a;

	memcpy(frame, e->dst_mac, 6);
	memcpy(frame + 6, e->src_mac, 6);
	sl_wire_st16(frame + 12, 0x0800); /* IPv4 */
	ip[0] = (uint8_t)(0x40 | (ihl / 4));
	ip[1] = 0;
	sl_wire_st16(ip + 2, (uint16_t)(ihl + SL_UDP_HDR_LEN + dgram_len));
	sl_wire_st16(ip + 4, ip_id);
	sl_wire_st16(ip + 6, 0x4000); /* DF */
	ip[8] = 64;
	ip[9] = 17; /* UDP */
	sl_wire_st16(ip + 10, 0);
	a = htobe32(e->src_ip);
	memcpy(ip + 12, &a, 4);
	a = htobe32(e->dst_ip);
	memcpy(ip + 16, &a, 4);
	if (ip_options != 0)
		memset(ip + SL_IPV4_HDR_LEN, 0x01, ihl - SL_IPV4_HDR_LEN);
	sl_wire_st16(ip + 10, (uint16_t)~sl_wire_ipv4_sum(ip, ihl));
	sl_wire_st16(udp, e->src_port);
	sl_wire_st16(udp + 2, e->dst_port);
	sl_wire_st16(udp + 4, (uint16_t)(SL_UDP_HDR_LEN + dgram_len));
	sl_wire_st16(udp + 6, 0); /* optional in IPv4 */
	return SL_ETHER_HDR_LEN + ihl + SL_UDP_HDR_LEN;
}

/**
 * sl_wire_parse_hdr - decode and validate the sluice header.
 * @buf: first byte of the sluice header (the UDP payload).
 * @len: UDP payload length: header plus tokens.
 * @hdr: filled in host byte order on success (undefined otherwise).
 *
 * Checks magic, version, flags, abort reason, depth, reserved bytes and
 * that payload_len equals len - SL_WIRE_HDR_LEN. Does not walk tokens.
 * Return: SL_WIRE_OK or the reason.
 */
enum sl_wire_status sl_wire_parse_hdr(const uint8_t *buf, size_t len,
				      struct sl_frag_hdr *hdr);

/**
 * sl_wire_check_tokens - walk a payload and validate every token.
 * @payload: first byte after the header.
 * @len: payload length.
 * @token_count: count announced by the header.
 *
 * Every token must lie inside the payload, their number must equal
 * token_count and nothing may follow the last one; each text must be
 * valid UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
 * Return: SL_WIRE_OK, SL_WIRE_TOKEN_OVERRUN, SL_WIRE_TOKEN_COUNT or
 * SL_WIRE_BAD_UTF8.
 */
enum sl_wire_status sl_wire_check_tokens(const uint8_t *payload, size_t len,
					 uint16_t token_count);

/**
 * sl_wire_parse - sl_wire_parse_hdr + sl_wire_check_tokens on a datagram.
 */
enum sl_wire_status sl_wire_parse(const uint8_t *buf, size_t len,
				  struct sl_frag_hdr *hdr);

/**
 * sl_utf8_valid - true if @len bytes at @s are well-formed UTF-8.
 */
bool sl_utf8_valid(const uint8_t *s, size_t len);

/**
 * sl_wire_encode_hdr - write @hdr at @buf in wire order.
 * @buf: at least SL_WIRE_HDR_LEN bytes.
 *
 * Writes every field as given (including payload_len and token_count,
 * which the caller keeps consistent; see sl_wire_builder). Unused
 * ancestry slots are written as zero.
 */
void sl_wire_encode_hdr(uint8_t *buf, const struct sl_frag_hdr *hdr);

/**
 * sl_wire_encode_control - write a control fragment (88 bytes, no tokens)
 * at @buf: @flags is SL_FRAG_F_NACK, SL_FRAG_F_ACK or SL_FRAG_F_PROBE
 * (with SL_FRAG_F_PAUSE), for the stream named by @stream's pipeline,
 * stage, from_stage, tenant, depth and ancestry; @seq and @count (NACK
 * only, else 0) as WIRE.md says; @send_ns as given. Return the length.
 */
size_t sl_wire_encode_control(uint8_t *buf, const struct sl_frag_hdr *stream,
			      uint8_t flags, uint32_t seq, uint32_t count,
			      uint64_t send_ns);

/*
 * Builds one datagram: header first, then tokens appended one by one;
 * sl_wire_builder_finish() writes the final token count and payload
 * length into the header.
 */
struct sl_wire_builder {
	uint8_t *buf;
	size_t cap;
	size_t len; /* bytes used so far, header included */
	struct sl_frag_hdr hdr;
};

/**
 * sl_wire_builder_init - start a datagram in @buf of @cap bytes with @hdr
 * (its token_count and payload_len are ignored). A @cap above
 * SL_WIRE_HDR_LEN + SL_WIRE_PAYLOAD_MAX is used only up to that, so a
 * builder never makes a fragment receivers refuse as TOO_BIG. Return 0,
 * or -ENOSPC if @cap cannot hold the header.
 */
int sl_wire_builder_init(struct sl_wire_builder *b, uint8_t *buf, size_t cap,
			 const struct sl_frag_hdr *hdr);

/**
 * sl_wire_builder_add - append a token. Return 0, -ENOSPC when it does
 * not fit (the builder is unchanged), -EINVAL if @len > UINT16_MAX or the
 * token count would overflow.
 */
int sl_wire_builder_add(struct sl_wire_builder *b, uint32_t id,
			const char *text, size_t len);

/**
 * sl_wire_builder_finish - fix up counts in the header; return the
 * datagram length.
 */
size_t sl_wire_builder_finish(struct sl_wire_builder *b);

/**
 * sl_token_iter_init / sl_token_next - iterate over a payload that
 * sl_wire_check_tokens accepted. sl_token_next returns false at the end.
 */
void sl_token_iter_init(struct sl_token_iter *it, const uint8_t *payload,
			size_t len);
bool sl_token_next(struct sl_token_iter *it, struct sl_token *tok);

/* Byte offsets of header fields (proto/WIRE.md), for code that reads or
 * patches a header in place. */
#define SL_WIRE_OFF_MAGIC 0
#define SL_WIRE_OFF_VERSION 2
#define SL_WIRE_OFF_FLAGS 3
#define SL_WIRE_OFF_ABORT 4
#define SL_WIRE_OFF_DEPTH 5
#define SL_WIRE_OFF_STAGE 6
#define SL_WIRE_OFF_PIPELINE 8
#define SL_WIRE_OFF_TENANT 12
#define SL_WIRE_OFF_TOKEN_COUNT 14
#define SL_WIRE_OFF_SEQ 16
#define SL_WIRE_OFF_PAYLOAD_LEN 20
#define SL_WIRE_OFF_FROM_STAGE 22
#define SL_WIRE_OFF_SEND_NS 24
#define SL_WIRE_OFF_ANCESTRY 32
#define SL_WIRE_OFF_CHILD_COUNT 80
#define SL_WIRE_OFF_RESERVED 84

#endif /* SL_WIRE_H */
