/* SPDX-License-Identifier: MIT */
/*
 * wire_vectors.c - the golden wire vectors (proto/vectors/wire_v1.json):
 * datagrams built with the C encoder, invalid ones made by patching valid
 * bytes, each with the status and the fields sl_wire_parse must report.
 * Other implementations of the format (the Python SDK) test against the
 * same file.
 *
 *   wire_vectors --write PATH   build the table, check it, write PATH
 *   wire_vectors PATH           (meson test 'wire-vectors') PATH is byte
 *                               for byte what the table builds, and every
 *                               vector in it parses as the file says
 *
 * The second check reads the file, not the table: it holds even for a
 * file edited by hand, so the file is what both implementations trust.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sl_wire.h"

#define PROG "wire_vectors"
#define FORMAT_NAME "sluice-wire-vectors"
#define DGRAM_CAP 2048
#define MAX_TOKENS 10
#define MAX_PATCHES 4
#define SEND_NS 1700000000123456789ull

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Offsets in a datagram: the first token's head and text, ancestry slot
 * @i. */
#define TOK0 SL_WIRE_HDR_LEN
#define TEXT0 (TOK0 + SL_WIRE_TOKEN_HDR_LEN)
#define ANC(i) (SL_WIRE_OFF_ANCESTRY + 8 * (i))

#define F_END SL_FRAG_F_END
#define F_ABORT SL_FRAG_F_ABORT
#define F_CHILDREN SL_FRAG_F_CHILDREN
#define F_NACK SL_FRAG_F_NACK
#define F_ACK SL_FRAG_F_ACK
#define F_PROBE SL_FRAG_F_PROBE
#define F_PAUSE SL_FRAG_F_PAUSE

/* The worked example of proto/WIRE.md: the whole 153-byte frame. */
static const char wire_md_frame[] =
	"02000000000102000000000208004500008b00004000401100000a4d000b0a4d"
	"00019c401e1400770000534c0101000200010000000100070002000000050017"
	"000017979cfe3d85cd15000000000000002a0000000000000003000000000000"
	"0000000000000000000000000000000000000000000000000000000000000000"
	"000000003ac3000548656c6c6f00000c72000620636166c3a9";

/* WIRE.md's child count announcement: the 88-byte datagram. */
static const char wire_md_children[] =
	"534c0105000100020000000100070000000000090000000117979cfe3d85cd15"
	"000000000000002a000000000000000000000000000000000000000000000000"
	"000000000000000000000000000000000000000300000000";

struct wv_token {
	uint32_t id;
	const char *text; /* NULL: @len bytes of filler text */
	size_t len;       /* 0: strlen(text) */
};

/* Written over the built datagram: @bytes, or @value big-endian. */
struct wv_patch {
	uint16_t off;
	uint16_t len; /* 0 ends the list */
	uint64_t value;
	const char *bytes;
};

struct wv_case {
	const char *name;
	enum sl_wire_status status; /* what sl_wire_parse must say */
	/* Given to the encoder: sl_wire_encode_control when a control flag
	 * is set, else sl_wire_builder with @tokens. */
	struct sl_frag_hdr hdr;
	struct wv_token tokens[MAX_TOKENS];
	int resize; /* bytes of filler appended (> 0) or cut (< 0) */
	struct wv_patch patch[MAX_PATCHES];
	const char *doc_frame; /* WIRE.md shows the frame around it */
	const char *doc_dgram; /* WIRE.md shows the datagram */
};

#define SET(o, n, v)                                                           \
	{                                                                      \
		.off = (o), .len = (n), .value = (v)                           \
	}
#define PUT(o, s)                                                              \
	{                                                                      \
		.off = (o), .len = sizeof(s) - 1, .bytes = (s)                 \
	}

/* A stream of pipeline 1, stage 1, tenant 7, request 42, sequence 3. */
#define STREAM(fl, reason, children)                                           \
	{                                                                      \
		.version = SL_WIRE_VERSION, .flags = (fl),                     \
		.abort_reason = (reason), .depth = 1, .stage = 1,              \
		.pipeline = 1, .tenant = 7, .seq = 3, .send_ns = SEND_NS,      \
		.ancestry = {42}, .child_count = (children),                   \
	}

/* A stream of stage 2 produced by stage 1, @d levels deep. */
#define DEEP(d, ...)                                                           \
	{                                                                      \
		.version = SL_WIRE_VERSION, .depth = (d), .stage = 2,          \
		.from_stage = 1, .pipeline = 1, .tenant = 7,                   \
		.send_ns = SEND_NS, .ancestry = {__VA_ARGS__},                 \
	}

#define ABORT_CASE(nm, reason)                                                 \
	{                                                                      \
		.name = (nm), .status = SL_WIRE_OK,                            \
		.hdr = STREAM(F_ABORT, (reason), 0),                           \
	}

/* A valid datagram whose flags byte is then set to @fl. */
#define FLAGS_CASE(nm, base, fl)                                               \
	{                                                                      \
		.name = (nm), .status = SL_WIRE_BAD_FLAGS,                     \
		.hdr = STREAM((base), 0, 0),                                   \
		.patch = {SET(SL_WIRE_OFF_FLAGS, 1, (fl))},                    \
	}

/* One token of filler whose text is then overwritten with @b. */
#define UTF8_CASE(nm, b)                                                       \
	{                                                                      \
		.name = (nm), .status = SL_WIRE_BAD_UTF8,                      \
		.hdr = STREAM(F_END, 0, 0),                                    \
		.tokens = {{1, NULL, sizeof(b) - 1}},                          \
		.patch = {PUT(TEXT0, b)},                                      \
	}

static const struct wv_case cases[] = {
	/* proto/WIRE.md, byte for byte. */
	{
		.name = "worked-example",
		.hdr = {.version = SL_WIRE_VERSION,
			.flags = F_END,
			.depth = 2,
			.stage = 1,
			.pipeline = 1,
			.tenant = 7,
			.seq = 5,
			.send_ns = SEND_NS,
			.ancestry = {42, 3}},
		.tokens = {{15043, "Hello"}, {3186, " caf\xc3\xa9"}},
		.doc_frame = wire_md_frame,
	},
	{
		.name = "children-announcement",
		.hdr = {.version = SL_WIRE_VERSION,
			.flags = F_END | F_CHILDREN,
			.depth = 1,
			.stage = 2,
			.from_stage = 1,
			.pipeline = 1,
			.tenant = 7,
			.seq = 9,
			.send_ns = SEND_NS,
			.ancestry = {42},
			.child_count = 3},
		.doc_dgram = wire_md_children,
	},

	/* Data fragments, every valid combination of the data flags. */
	{
		.name = "data-one-token",
		.hdr = STREAM(0, 0, 0),
		.tokens = {{1000, "The"}},
	},
	{.name = "data-no-tokens", .hdr = STREAM(0, 0, 0)},
	{
		.name = "data-three-tokens",
		.hdr = STREAM(0, 0, 0),
		.tokens = {{791, "The"}, {4062, " quick"}, {14198, " brown"}},
	},
	{.name = "end-no-tokens", .hdr = STREAM(F_END, 0, 0)},
	{
		.name = "end-with-tokens",
		.hdr = STREAM(F_END, 0, 0),
		.tokens = {{11, " fox"}, {13, "."}},
	},
	ABORT_CASE("abort-none", SL_ABORT_NONE),
	ABORT_CASE("abort-client", SL_ABORT_CLIENT),
	ABORT_CASE("abort-expired", SL_ABORT_EXPIRED),
	ABORT_CASE("abort-guard", SL_ABORT_GUARD),
	ABORT_CASE("abort-overload", SL_ABORT_OVERLOAD),
	ABORT_CASE("abort-engine", SL_ABORT_ENGINE),
	ABORT_CASE("abort-children", SL_ABORT_CHILDREN),
	ABORT_CASE("abort-lost", SL_ABORT_LOST),
	ABORT_CASE("abort-shutdown", SL_ABORT_SHUTDOWN),
	ABORT_CASE("abort-reconfig", SL_ABORT_RECONFIG),
	ABORT_CASE("abort-too-long", SL_ABORT_TOO_LONG),
	ABORT_CASE("abort-upstream", SL_ABORT_UPSTREAM),
	ABORT_CASE("abort-upstream-timeout", SL_ABORT_UPSTREAM_TIMEOUT),
	ABORT_CASE("abort-upstream-malformed", SL_ABORT_UPSTREAM_MALFORMED),
	ABORT_CASE("abort-upstream-closed", SL_ABORT_UPSTREAM_CLOSED),
	{
		.name = "abort-with-tokens",
		.hdr = STREAM(F_ABORT, SL_ABORT_GUARD, 0),
		.tokens = {{0, "[redacted]"}},
	},
	{.name = "end-abort", .hdr = STREAM(F_END | F_ABORT, SL_ABORT_LOST, 0)},
	{.name = "end-abort-reason-none", .hdr = STREAM(F_END | F_ABORT, 0, 0)},
	{.name = "end-children-0", .hdr = STREAM(F_END | F_CHILDREN, 0, 0)},
	{.name = "end-children-3", .hdr = STREAM(F_END | F_CHILDREN, 0, 3)},
	{
		.name = "end-children-3-with-tokens",
		.hdr = STREAM(F_END | F_CHILDREN, 0, 3),
		.tokens = {{2, "claim"}, {3, " three"}},
	},
	{
		.name = "end-abort-children",
		.hdr = STREAM(F_END | F_ABORT | F_CHILDREN, SL_ABORT_CHILDREN,
			      2),
	},
	{
		.name = "end-abort-children-with-tokens",
		.hdr = STREAM(F_END | F_ABORT | F_CHILDREN, SL_ABORT_ENGINE, 1),
		.tokens = {{5, "partial"}},
	},

	/* Control fragments. */
	{.name = "nack", .hdr = STREAM(F_NACK, 0, 4)},
	{.name = "nack-count-0", .hdr = STREAM(F_NACK, 0, 0)},
	{.name = "ack", .hdr = STREAM(F_ACK, 0, 0)},
	{
		.name = "probe",
		.hdr = {.version = SL_WIRE_VERSION,
			.flags = F_PROBE,
			.depth = 1,
			.stage = 2,
			.pipeline = 1,
			.seq = 1234,
			.send_ns = SEND_NS},
	},
	{
		.name = "probe-pause",
		.hdr = {.version = SL_WIRE_VERSION,
			.flags = F_PROBE | F_PAUSE,
			.depth = 1,
			.stage = 2,
			.pipeline = 1,
			.seq = 1234,
			.send_ns = SEND_NS},
	},

	/* Every depth; ancestry ids at both ends of u64. */
	{.name = "depth-1", .hdr = DEEP(1, 0), .tokens = {{1, "a"}}},
	{
		.name = "depth-2",
		.hdr = DEEP(2, UINT64_MAX, 0),
		.tokens = {{1, "b"}},
	},
	{
		.name = "depth-3",
		.hdr = DEEP(3, 42, 0, UINT64_MAX),
		.tokens = {{1, "c"}},
	},
	{
		.name = "depth-4",
		.hdr = DEEP(4, 0x8000000000000001ull, 1, 2, 3),
		.tokens = {{1, "d"}},
	},
	{
		.name = "depth-5",
		.hdr = DEEP(5, 0x0123456789abcdefull, 0xfedcba9876543210ull,
			    255, 256, 65536),
		.tokens = {{1, "e"}},
	},
	{
		.name = "depth-6",
		.hdr = DEEP(6, UINT64_MAX, 0, UINT64_MAX - 1, 1,
			    0x8000000000000000ull, 42),
		.tokens = {{1, "f"}},
	},
	{
		/* A sender left ids past depth: ignored, returned as zero. */
		.name = "ancestry-beyond-depth",
		.hdr = DEEP(2, 42, 3),
		.tokens = {{1, "g"}},
		.patch = {SET(ANC(2), 8, 7), SET(ANC(3), 8, UINT64_MAX),
			  SET(ANC(4), 8, 0x0101010101010101ull),
			  SET(ANC(5), 8, 1)},
	},

	/* Every field at its maximum, then each at a distinct value (a
	 * swapped field or byte order shows). */
	{
		.name = "fields-max",
		.hdr = {.version = SL_WIRE_VERSION,
			.flags = F_END | F_CHILDREN,
			.depth = 6,
			.stage = UINT16_MAX,
			.from_stage = UINT16_MAX,
			.tenant = UINT16_MAX,
			.pipeline = UINT32_MAX,
			.seq = UINT32_MAX,
			.send_ns = UINT64_MAX,
			.ancestry = {UINT64_MAX, UINT64_MAX, UINT64_MAX,
				     UINT64_MAX, UINT64_MAX, UINT64_MAX},
			.child_count = UINT32_MAX},
		.tokens = {{UINT32_MAX, "max"}},
	},
	{
		.name = "nack-max",
		.hdr = {.version = SL_WIRE_VERSION,
			.flags = F_NACK,
			.depth = 1,
			.stage = UINT16_MAX,
			.from_stage = UINT16_MAX,
			.tenant = UINT16_MAX,
			.pipeline = UINT32_MAX,
			.seq = UINT32_MAX,
			.send_ns = UINT64_MAX,
			.ancestry = {UINT64_MAX},
			.child_count = UINT32_MAX},
	},
	{
		.name = "fields-zero",
		.hdr = {.version = SL_WIRE_VERSION, .depth = 1},
		.tokens = {{0, ""}},
	},
	{
		.name = "fields-distinct",
		.hdr = {.version = SL_WIRE_VERSION,
			.flags = F_END | F_ABORT | F_CHILDREN,
			.abort_reason = SL_ABORT_GUARD,
			.depth = 6,
			.stage = 0xa1b2,
			.from_stage = 0xe5f6,
			.tenant = 0xc3d4,
			.pipeline = 0xdeadbeef,
			.seq = 0x01020304,
			.send_ns = 0x1122334455667788ull,
			.ancestry = {0x8000000000000101ull, 0x0202,
				     0x030303030303ull, 0x0404, 0x0505,
				     0x0606060606060606ull},
			.child_count = 0x0a0b0c0d},
		.tokens = {{0x01020304, "id"}, {0xa0b0c0d0, "s"}},
	},

	/* Token texts. */
	{
		.name = "token-empty-text",
		.hdr = STREAM(F_END, 0, 0),
		.tokens = {{7, ""}},
	},
	{
		.name = "tokens-empty-between",
		.hdr = STREAM(0, 0, 0),
		.tokens = {{1, "a"}, {2, ""}, {3, ""}, {4, "b"}},
	},
	{.name = "utf8-2-byte",
	 .hdr = STREAM(0, 0, 0),
	 .tokens = {{1, "\xc3\xa9"}}},
	{
		.name = "utf8-3-byte",
		.hdr = STREAM(0, 0, 0),
		.tokens = {{1, "\xe2\x82\xac"},
			   {2, "\xe6\x97\xa5\xe6\x9c\xac"}},
	},
	{
		.name = "utf8-4-byte",
		.hdr = STREAM(0, 0, 0),
		.tokens = {{1, "\xf0\x9f\x98\x80"}},
	},
	{
		.name = "utf8-mixed",
		.hdr = STREAM(0, 0, 0),
		.tokens = {{1, "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z"}},
	},
	{
		/* U+0080, U+07FF, U+0800, U+D7FF, U+E000, U+FFFD, U+FFFF,
		 * U+10000, U+10FFFF: the first and last of each range. */
		.name = "utf8-boundaries",
		.hdr = STREAM(0, 0, 0),
		.tokens = {{1, "\xc2\x80"},
			   {2, "\xdf\xbf"},
			   {3, "\xe0\xa0\x80"},
			   {4, "\xed\x9f\xbf"},
			   {5, "\xee\x80\x80"},
			   {6, "\xef\xbf\xbd"},
			   {7, "\xef\xbf\xbf"},
			   {8, "\xf0\x90\x80\x80"},
			   {9, "\xf4\x8f\xbf\xbf"}},
	},
	{
		.name = "utf8-after-ascii-run",
		.hdr = STREAM(0, 0, 0),
		.tokens = {{1, "abcdefghij\xc3\xa9"}},
	},
	{
		/* NUL and control characters are text like any other. */
		.name = "token-control-chars",
		.hdr = STREAM(0, 0, 0),
		.tokens = {{1, "a\0b", 3}, {2, "\t\n\r\"\\/\x7f"}},
	},
	{
		.name = "payload-max",
		.hdr = STREAM(F_END, 0, 0),
		.tokens = {{1, NULL,
			    SL_WIRE_PAYLOAD_MAX - SL_WIRE_TOKEN_HDR_LEN}},
	},

	/* SHORT, BAD_MAGIC, BAD_VERSION. */
	{
		.name = "short-0",
		.status = SL_WIRE_SHORT,
		.hdr = STREAM(F_END, 0, 0),
		.resize = -SL_WIRE_HDR_LEN,
	},
	{
		.name = "short-87",
		.status = SL_WIRE_SHORT,
		.hdr = STREAM(F_END, 0, 0),
		.resize = -1,
	},
	{
		.name = "bad-magic",
		.status = SL_WIRE_BAD_MAGIC,
		.hdr = STREAM(F_END, 0, 0),
		.tokens = {{1, "x"}},
		.patch = {SET(SL_WIRE_OFF_MAGIC, 2, 0x534d)},
	},
	{
		.name = "bad-magic-swapped",
		.status = SL_WIRE_BAD_MAGIC,
		.hdr = STREAM(F_END, 0, 0),
		.patch = {SET(SL_WIRE_OFF_MAGIC, 2, 0x4c53)},
	},
	{
		.name = "bad-version-0",
		.status = SL_WIRE_BAD_VERSION,
		.hdr = STREAM(F_END, 0, 0),
		.patch = {SET(SL_WIRE_OFF_VERSION, 1, 0)},
	},
	{
		/* The version is checked before the flags. */
		.name = "bad-version-2",
		.status = SL_WIRE_BAD_VERSION,
		.hdr = STREAM(F_END, 0, 0),
		.patch = {SET(SL_WIRE_OFF_VERSION, 1, 2),
			  SET(SL_WIRE_OFF_FLAGS, 1, 0x80)},
	},

	/* BAD_FLAGS, one vector per rule. */
	FLAGS_CASE("flags-bit-0x80", F_END, 0x80),
	FLAGS_CASE("flags-bit-0x80-with-end", F_END, 0x81),
	FLAGS_CASE("flags-all-bits", F_END, 0xff),
	{
		.name = "abort-reason-without-abort",
		.status = SL_WIRE_BAD_FLAGS,
		.hdr = STREAM(F_END, 0, 0),
		.patch = {SET(SL_WIRE_OFF_ABORT, 1, SL_ABORT_CLIENT)},
	},
	{
		.name = "abort-reason-15",
		.status = SL_WIRE_BAD_FLAGS,
		.hdr = STREAM(F_ABORT, 0, 0),
		.patch = {SET(SL_WIRE_OFF_ABORT, 1, SL_ABORT_MAX)},
	},
	{
		.name = "abort-reason-255",
		.status = SL_WIRE_BAD_FLAGS,
		.hdr = STREAM(F_END | F_ABORT, 0, 0),
		.patch = {SET(SL_WIRE_OFF_ABORT, 1, 255)},
	},
	FLAGS_CASE("children-without-end", F_END, F_CHILDREN),
	FLAGS_CASE("children-abort-without-end", F_END, F_ABORT | F_CHILDREN),
	{
		.name = "child-count-without-children",
		.status = SL_WIRE_BAD_FLAGS,
		.hdr = STREAM(F_END, 0, 0),
		.patch = {SET(SL_WIRE_OFF_CHILD_COUNT, 4, 1)},
	},
	{
		.name = "child-count-on-data",
		.status = SL_WIRE_BAD_FLAGS,
		.hdr = STREAM(0, 0, 0),
		.tokens = {{1, "x"}},
		.patch = {SET(SL_WIRE_OFF_CHILD_COUNT, 4, 0x01000000)},
	},
	{
		.name = "child-count-on-abort",
		.status = SL_WIRE_BAD_FLAGS,
		.hdr = STREAM(F_END | F_ABORT, SL_ABORT_LOST, 0),
		.patch = {SET(SL_WIRE_OFF_CHILD_COUNT, 4, 3)},
	},
	{
		/* child_count belongs to the flags check, before depth. */
		.name = "child-count-before-depth",
		.status = SL_WIRE_BAD_FLAGS,
		.hdr = STREAM(F_END, 0, 0),
		.patch = {SET(SL_WIRE_OFF_CHILD_COUNT, 4, 1),
			  SET(SL_WIRE_OFF_DEPTH, 1, 0)},
	},
	FLAGS_CASE("nack-ack", F_NACK, F_NACK | F_ACK),
	FLAGS_CASE("ack-probe", F_ACK, F_ACK | F_PROBE),
	FLAGS_CASE("nack-ack-probe", F_NACK, F_NACK | F_ACK | F_PROBE),
	FLAGS_CASE("ack-with-end", F_ACK, F_ACK | F_END),
	FLAGS_CASE("nack-with-abort", F_NACK, F_NACK | F_ABORT),
	FLAGS_CASE("probe-with-end-abort", F_PROBE, F_PROBE | F_END | F_ABORT),
	FLAGS_CASE("ack-with-end-children", F_ACK, F_ACK | F_END | F_CHILDREN),
	FLAGS_CASE("pause-without-probe", F_PROBE | F_PAUSE, F_PAUSE),
	FLAGS_CASE("pause-with-ack", F_ACK, F_ACK | F_PAUSE),
	FLAGS_CASE("pause-with-nack", F_NACK, F_NACK | F_PAUSE),
	FLAGS_CASE("pause-with-end", F_END, F_END | F_PAUSE),
	{
		.name = "ack-with-abort-reason",
		.status = SL_WIRE_BAD_FLAGS,
		.hdr = STREAM(F_ACK, 0, 0),
		.patch = {SET(SL_WIRE_OFF_ABORT, 1, SL_ABORT_CLIENT)},
	},
	{
		.name = "ack-with-child-count",
		.status = SL_WIRE_BAD_FLAGS,
		.hdr = STREAM(F_ACK, 0, 0),
		.patch = {SET(SL_WIRE_OFF_CHILD_COUNT, 4, 1)},
	},
	{
		.name = "probe-with-child-count",
		.status = SL_WIRE_BAD_FLAGS,
		.hdr = STREAM(F_PROBE, 0, 0),
		.patch = {SET(SL_WIRE_OFF_CHILD_COUNT, 4, 2)},
	},
	{
		.name = "ack-with-tokens",
		.status = SL_WIRE_BAD_FLAGS,
		.hdr = STREAM(0, 0, 0),
		.tokens = {{1, "hi"}},
		.patch = {SET(SL_WIRE_OFF_FLAGS, 1, F_ACK)},
	},
	{
		.name = "probe-with-token-count",
		.status = SL_WIRE_BAD_FLAGS,
		.hdr = STREAM(F_PROBE, 0, 0),
		.patch = {SET(SL_WIRE_OFF_TOKEN_COUNT, 2, 1)},
	},
	{
		/* The control rules come before the payload length check. */
		.name = "nack-with-payload",
		.status = SL_WIRE_BAD_FLAGS,
		.hdr = STREAM(F_NACK, 0, 1),
		.resize = SL_WIRE_TOKEN_HDR_LEN,
		.patch = {SET(SL_WIRE_OFF_PAYLOAD_LEN, 2,
			      SL_WIRE_TOKEN_HDR_LEN)},
	},

	/* BAD_DEPTH, BAD_RESERVED. */
	{
		.name = "depth-0",
		.status = SL_WIRE_BAD_DEPTH,
		.hdr = STREAM(F_END, 0, 0),
		.tokens = {{1, "x"}},
		.patch = {SET(SL_WIRE_OFF_DEPTH, 1, 0)},
	},
	{
		.name = "depth-7",
		.status = SL_WIRE_BAD_DEPTH,
		.hdr = STREAM(F_END, 0, 0),
		.patch = {SET(SL_WIRE_OFF_DEPTH, 1, SL_ANCESTRY_MAX + 1)},
	},
	{
		.name = "depth-255",
		.status = SL_WIRE_BAD_DEPTH,
		.hdr = STREAM(F_END, 0, 0),
		.patch = {SET(SL_WIRE_OFF_DEPTH, 1, 255)},
	},
	{
		.name = "depth-before-reserved",
		.status = SL_WIRE_BAD_DEPTH,
		.hdr = STREAM(F_END, 0, 0),
		.patch = {SET(SL_WIRE_OFF_DEPTH, 1, 0),
			  SET(SL_WIRE_OFF_RESERVED, 4, 1)},
	},
	{
		.name = "reserved-first-byte",
		.status = SL_WIRE_BAD_RESERVED,
		.hdr = STREAM(F_END, 0, 0),
		.patch = {SET(SL_WIRE_OFF_RESERVED, 1, 0x01)},
	},
	{
		.name = "reserved-last-byte",
		.status = SL_WIRE_BAD_RESERVED,
		.hdr = STREAM(F_END, 0, 0),
		.tokens = {{1, "x"}},
		.patch = {SET(SL_WIRE_OFF_RESERVED + 3, 1, 0x80)},
	},
	{
		.name = "reserved-before-length",
		.status = SL_WIRE_BAD_RESERVED,
		.hdr = STREAM(F_END, 0, 0),
		.resize = 1,
		.patch = {SET(SL_WIRE_OFF_RESERVED, 4, UINT32_MAX)},
	},

	/* LEN_MISMATCH, TOO_BIG. */
	{
		.name = "payload-len-over-datagram",
		.status = SL_WIRE_LEN_MISMATCH,
		.hdr = STREAM(F_END, 0, 0),
		.tokens = {{1, "Hello"}},
		.resize = -1,
	},
	{
		.name = "payload-len-under-datagram",
		.status = SL_WIRE_LEN_MISMATCH,
		.hdr = STREAM(F_END, 0, 0),
		.tokens = {{1, "Hello"}},
		.resize = 1,
	},
	{
		.name = "payload-len-header-only",
		.status = SL_WIRE_LEN_MISMATCH,
		.hdr = STREAM(F_END, 0, 0),
		.patch = {SET(SL_WIRE_OFF_PAYLOAD_LEN, 2, 1)},
	},
	{
		/* The length is compared with the datagram before the limit. */
		.name = "payload-len-65535",
		.status = SL_WIRE_LEN_MISMATCH,
		.hdr = STREAM(F_END, 0, 0),
		.patch = {SET(SL_WIRE_OFF_PAYLOAD_LEN, 2, UINT16_MAX)},
	},
	{
		.name = "too-big-1385",
		.status = SL_WIRE_TOO_BIG,
		.hdr = STREAM(F_END, 0, 0),
		.tokens = {{1, NULL,
			    SL_WIRE_PAYLOAD_MAX - SL_WIRE_TOKEN_HDR_LEN}},
		.resize = 1,
		.patch = {SET(SL_WIRE_OFF_PAYLOAD_LEN, 2,
			      SL_WIRE_PAYLOAD_MAX + 1),
			  SET(TOK0 + 4, 2,
			      SL_WIRE_PAYLOAD_MAX + 1 - SL_WIRE_TOKEN_HDR_LEN)},
	},

	/* TOKEN_OVERRUN, TOKEN_COUNT. */
	{
		.name = "token-head-overrun",
		.status = SL_WIRE_TOKEN_OVERRUN,
		.hdr = STREAM(F_END, 0, 0),
		.tokens = {{1, ""}},
		.resize = -1,
		.patch = {SET(SL_WIRE_OFF_PAYLOAD_LEN, 2,
			      SL_WIRE_TOKEN_HDR_LEN - 1)},
	},
	{
		.name = "token-head-overrun-second",
		.status = SL_WIRE_TOKEN_OVERRUN,
		.hdr = STREAM(F_END, 0, 0),
		.tokens = {{1, "a"}, {2, ""}},
		.resize = -2,
		.patch = {SET(SL_WIRE_OFF_PAYLOAD_LEN, 2,
			      2 * SL_WIRE_TOKEN_HDR_LEN - 1)},
	},
	{
		.name = "token-text-overrun",
		.status = SL_WIRE_TOKEN_OVERRUN,
		.hdr = STREAM(F_END, 0, 0),
		.tokens = {{1, "Hello"}},
		.patch = {SET(TOK0 + 4, 2, 6)},
	},
	{
		.name = "token-text-overrun-65535",
		.status = SL_WIRE_TOKEN_OVERRUN,
		.hdr = STREAM(F_END, 0, 0),
		.tokens = {{1, "Hello"}},
		.patch = {SET(TOK0 + 4, 2, UINT16_MAX)},
	},
	{
		.name = "token-text-overrun-second",
		.status = SL_WIRE_TOKEN_OVERRUN,
		.hdr = STREAM(F_END, 0, 0),
		.tokens = {{1, "a"}, {2, "bc"}},
		.patch = {SET(TEXT0 + 1 + 4, 2, 3)},
	},
	{
		.name = "token-count-too-few",
		.status = SL_WIRE_TOKEN_COUNT,
		.hdr = STREAM(F_END, 0, 0),
		.tokens = {{1, "a"}, {2, "b"}},
		.patch = {SET(SL_WIRE_OFF_TOKEN_COUNT, 2, 3)},
	},
	{
		.name = "token-count-none-present",
		.status = SL_WIRE_TOKEN_COUNT,
		.hdr = STREAM(F_END, 0, 0),
		.patch = {SET(SL_WIRE_OFF_TOKEN_COUNT, 2, 1)},
	},
	{
		.name = "token-count-bytes-left",
		.status = SL_WIRE_TOKEN_COUNT,
		.hdr = STREAM(F_END, 0, 0),
		.tokens = {{1, "a"}, {2, "b"}},
		.patch = {SET(SL_WIRE_OFF_TOKEN_COUNT, 2, 1)},
	},
	{
		.name = "token-count-0-bytes-left",
		.status = SL_WIRE_TOKEN_COUNT,
		.hdr = STREAM(0, 0, 0),
		.tokens = {{1, "a"}},
		.patch = {SET(SL_WIRE_OFF_TOKEN_COUNT, 2, 0)},
	},
	{
		/* Once token_count tokens are read, any byte left is a count
		 * error, even one too short for a token head. */
		.name = "token-count-trailing-byte",
		.status = SL_WIRE_TOKEN_COUNT,
		.hdr = STREAM(F_END, 0, 0),
		.tokens = {{1, "a"}},
		.resize = 1,
		.patch = {SET(SL_WIRE_OFF_PAYLOAD_LEN, 2,
			      SL_WIRE_TOKEN_HDR_LEN + 2)},
	},

	/* BAD_UTF8. */
	UTF8_CASE("utf8-stray-continuation", "\x80"),
	UTF8_CASE("utf8-stray-continuation-mid", "a\x80z"),
	UTF8_CASE("utf8-stray-after-ascii-run", "abcdefgh\xbf"),
	UTF8_CASE("utf8-truncated-2", "\xc3"),
	UTF8_CASE("utf8-truncated-2-before-ascii", "\xc3"
						   "A"),
	UTF8_CASE("utf8-truncated-3", "\xe2\x82"),
	UTF8_CASE("utf8-truncated-4", "\xf0\x9f\x98"),
	UTF8_CASE("utf8-overlong-c0-80", "\xc0\x80"),
	UTF8_CASE("utf8-overlong-c1-bf", "\xc1\xbf"),
	UTF8_CASE("utf8-overlong-e0-80-80", "\xe0\x80\x80"),
	UTF8_CASE("utf8-overlong-e0-9f-bf", "\xe0\x9f\xbf"),
	UTF8_CASE("utf8-overlong-f0-8f-bf-bf", "\xf0\x8f\xbf\xbf"),
	UTF8_CASE("utf8-surrogate-ed-a0-80", "\xed\xa0\x80"),
	UTF8_CASE("utf8-surrogate-ed-bf-bf", "\xed\xbf\xbf"),
	UTF8_CASE("utf8-above-max-f4-90-80-80", "\xf4\x90\x80\x80"),
	UTF8_CASE("utf8-f5", "\xf5\x80\x80\x80"),
	UTF8_CASE("utf8-fe", "\xfe"),
	UTF8_CASE("utf8-ff", "\xff"),
	{
		.name = "utf8-bad-second-token",
		.status = SL_WIRE_BAD_UTF8,
		.hdr = STREAM(F_END, 0, 0),
		.tokens = {{1, "ok"}, {2, NULL, 2}},
		.patch = {PUT(TEXT0 + 2 + SL_WIRE_TOKEN_HDR_LEN, "\xc0\xaf")},
	},
	{
		/* Tokens are checked in order: the bad text comes first. */
		.name = "utf8-before-token-count",
		.status = SL_WIRE_BAD_UTF8,
		.hdr = STREAM(F_END, 0, 0),
		.tokens = {{1, NULL, 2}, {2, "b"}},
		.patch = {PUT(TEXT0, "\xed\xa0"),
			  SET(SL_WIRE_OFF_TOKEN_COUNT, 2, 1)},
	},
};

static bool
hex_decode(const char *hex, uint8_t *out, size_t cap, size_t *len)
{
	size_t n = strlen(hex), i;

	if (n % 2 != 0 || n / 2 > cap)
		return false;
	for (i = 0; i < n; i++) {
		char c = hex[i];
		unsigned int v;

		if (c >= '0' && c <= '9')
			v = (unsigned int)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = (unsigned int)(c - 'a' + 10);
		else
			return false; /* lowercase only: one spelling */
		if (i % 2 == 0)
			out[i / 2] = (uint8_t)(v << 4);
		else
			out[i / 2] |= (uint8_t)v;
	}
	*len = n / 2;
	return true;
}

static char *
hex_encode(const uint8_t *buf, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char *hex = malloc(2 * len + 1);
	size_t i;

	if (hex == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		hex[2 * i] = digits[buf[i] >> 4];
		hex[2 * i + 1] = digits[buf[i] & 0x0f];
	}
	hex[2 * len] = '\0';
	return hex;
}

static json_t *
u64_json(uint64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "%" PRIu64, v);
	return json_string(s);
}

/* The fields of @h, in the order of the schema (proto/vectors/README.md). */
static json_t *
hdr_json(const struct sl_frag_hdr *h)
{
	json_t *anc = json_array();
	unsigned int i;

	for (i = 0; i < h->depth; i++)
		json_array_append_new(anc, u64_json(h->ancestry[i]));
	return json_pack("{s:i, s:i, s:i, s:i, s:I, s:i, s:i, s:I, s:i, s:i, "
			 "s:o, s:o, s:I}",
			 "flags", h->flags, "abort_reason", h->abort_reason,
			 "depth", h->depth, "stage", h->stage, "pipeline",
			 (json_int_t)h->pipeline, "tenant", h->tenant,
			 "token_count", h->token_count, "seq",
			 (json_int_t)h->seq, "payload_len", h->payload_len,
			 "from_stage", h->from_stage, "send_ns",
			 u64_json(h->send_ns), "ancestry", anc, "child_count",
			 (json_int_t)h->child_count);
}

/* Token @t's text in @buf (filler when the table gives none). */
static size_t
token_text(const struct wv_token *t, char *buf)
{
	size_t i;

	if (t->text != NULL) {
		size_t len = t->len != 0 ? t->len : strlen(t->text);

		memcpy(buf, t->text, len);
		return len;
	}
	for (i = 0; i < t->len; i++)
		buf[i] = (char)('a' + i % 26);
	return t->len;
}

static bool
token_end(const struct wv_token *t)
{
	return t->text == NULL && t->len == 0;
}

/*
 * Build case @c into @dgram (@len bytes): encode, resize, patch. @sent
 * gets the header as encoded, token_count and payload_len included.
 * Return 0 or a negative errno.
 */
static int
build_case(const struct wv_case *c, uint8_t *dgram, size_t *len,
	   struct sl_frag_hdr *sent)
{
	char text[DGRAM_CAP];
	unsigned int i;

	if (c->hdr.flags & SL_FRAG_F_CONTROL) {
		*len = sl_wire_encode_control(dgram, &c->hdr, c->hdr.flags,
					      c->hdr.seq, c->hdr.child_count,
					      c->hdr.send_ns);
		*sent = c->hdr;
		sent->token_count = 0;
		sent->payload_len = 0;
	} else {
		struct sl_wire_builder b;

		if (sl_wire_builder_init(&b, dgram, DGRAM_CAP, &c->hdr) != 0)
			return -ENOSPC;
		for (i = 0; i < MAX_TOKENS && !token_end(&c->tokens[i]); i++) {
			const struct wv_token *t = &c->tokens[i];
			size_t n = token_text(t, text);
			int rc = sl_wire_builder_add(&b, t->id, text, n);

			if (rc != 0) {
				fprintf(stderr,
					"%s: case \"%s\": token %u: %s\n", PROG,
					c->name, i, strerror(-rc));
				return rc;
			}
		}
		*len = sl_wire_builder_finish(&b);
		*sent = b.hdr;
	}

	if (c->resize < 0 && (size_t)-c->resize > *len)
		return -EINVAL;
	if (c->resize > 0 && *len + (size_t)c->resize > DGRAM_CAP)
		return -ENOSPC;
	for (i = 0; c->resize > 0 && i < (unsigned int)c->resize; i++)
		dgram[*len + i] = 'x';
	*len = (size_t)((long)*len + c->resize);

	for (i = 0; i < MAX_PATCHES && c->patch[i].len != 0; i++) {
		const struct wv_patch *p = &c->patch[i];
		unsigned int k;

		if ((size_t)p->off + p->len > *len)
			return -EINVAL;
		if (p->bytes != NULL) {
			memcpy(dgram + p->off, p->bytes, p->len);
			continue;
		}
		for (k = 0; k < p->len; k++)
			dgram[p->off + k] =
				(uint8_t)(p->value >> (8 * (p->len - 1 - k)));
	}
	return 0;
}

/* The datagram WIRE.md shows for @c, if any, must be what was built. */
static int
check_doc(const struct wv_case *c, const uint8_t *dgram, size_t len)
{
	uint8_t doc[DGRAM_CAP];
	size_t doc_len, off = 0;

	if (c->doc_frame != NULL) {
		struct sl_frame fr;

		if (!hex_decode(c->doc_frame, doc, sizeof(doc), &doc_len) ||
		    sl_wire_parse_frame(doc, doc_len, &fr) != SL_WIRE_OK ||
		    fr.hdr_off + fr.dgram_len != doc_len)
			return -1;
		off = fr.hdr_off;
		doc_len = fr.dgram_len;
	} else if (c->doc_dgram != NULL) {
		if (!hex_decode(c->doc_dgram, doc, sizeof(doc), &doc_len))
			return -1;
	} else {
		return 0;
	}
	return doc_len == len && memcmp(doc + off, dgram, len) == 0 ? 0 : -1;
}

static json_t *
case_json(const struct wv_case *c)
{
	uint8_t dgram[DGRAM_CAP];
	struct sl_frag_hdr sent, parsed;
	enum sl_wire_status st;
	json_t *v, *tokens;
	char text[DGRAM_CAP];
	char *hex;
	size_t len;
	unsigned int i;

	if (build_case(c, dgram, &len, &sent) != 0) {
		fprintf(stderr, "%s: case \"%s\": cannot build it\n", PROG,
			c->name);
		return NULL;
	}
	st = sl_wire_parse(dgram, len, &parsed);
	if (st != c->status) {
		fprintf(stderr,
			"%s: case \"%s\": sl_wire_parse says %s, the "
			"table %s\n",
			PROG, c->name, sl_wire_status_name(st),
			sl_wire_status_name(c->status));
		return NULL;
	}
	if (check_doc(c, dgram, len) != 0) {
		fprintf(stderr,
			"%s: case \"%s\": the encoder's bytes differ from "
			"proto/WIRE.md's\n",
			PROG, c->name);
		return NULL;
	}

	hex = hex_encode(dgram, len);
	if (hex == NULL)
		return NULL;
	v = json_pack("{s:s, s:s, s:s}", "name", c->name, "datagram", hex,
		      "status", sl_wire_status_name(c->status));
	free(hex);
	if (v == NULL || c->status != SL_WIRE_OK)
		return v;

	tokens = json_array();
	for (i = 0; i < MAX_TOKENS && !token_end(&c->tokens[i]); i++) {
		size_t n = token_text(&c->tokens[i], text);

		json_array_append_new(tokens,
				      json_pack("{s:I, s:s%}", "id",
						(json_int_t)c->tokens[i].id,
						"text", text, n));
	}
	json_object_set_new(v, "header", hdr_json(&sent));
	json_object_set_new(v, "tokens", tokens);
	return v;
}

/* The whole file as the table builds it, or NULL after a message. */
static char *
build_text(size_t *count)
{
	json_t *root, *vectors;
	char *body, *text = NULL;
	size_t i;

	vectors = json_array();
	for (i = 0; i < N_ELEMS(cases); i++) {
		json_t *v = case_json(&cases[i]);

		if (v == NULL) {
			json_decref(vectors);
			return NULL;
		}
		json_array_append_new(vectors, v);
	}
	root = json_pack("{s:s, s:i, s:i, s:i, s:o}", "format", FORMAT_NAME,
			 "wire_version", SL_WIRE_VERSION, "header_len",
			 SL_WIRE_HDR_LEN, "payload_max", SL_WIRE_PAYLOAD_MAX,
			 "vectors", vectors);
	if (root == NULL)
		return NULL;
	body = json_dumps(root, JSON_INDENT(1));
	json_decref(root);
	if (body == NULL)
		return NULL;
	if (asprintf(&text, "%s\n", body) < 0)
		text = NULL;
	free(body);
	*count = N_ELEMS(cases);
	return text;
}

static bool
name_valid(const char *name)
{
	const char *p;

	if (*name == '\0' || *name == '-')
		return false;
	for (p = name; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '-'))
			return false;
	return p[-1] != '-';
}

static bool
int_is(const json_t *obj, const char *key, uint64_t want)
{
	const json_t *v = json_object_get(obj, key);

	return json_is_integer(v) && json_integer_value(v) >= 0 &&
	       (uint64_t)json_integer_value(v) == want;
}

static bool
u64_is(const json_t *v, uint64_t want)
{
	char s[24];

	snprintf(s, sizeof(s), "%" PRIu64, want);
	return json_is_string(v) && strcmp(json_string_value(v), s) == 0;
}

/* What sl_wire_parse gives for an OK vector against its "header". */
static const char *
hdr_mismatch(const json_t *jh, const struct sl_frag_hdr *h)
{
	const json_t *anc = json_object_get(jh, "ancestry");
	size_t i;

	if (!json_is_object(jh) || json_object_size(jh) != 13)
		return "\"header\" is not an object of 13 fields";
	if (!int_is(jh, "flags", h->flags))
		return "flags";
	if (!int_is(jh, "abort_reason", h->abort_reason))
		return "abort_reason";
	if (!int_is(jh, "depth", h->depth))
		return "depth";
	if (!int_is(jh, "stage", h->stage))
		return "stage";
	if (!int_is(jh, "pipeline", h->pipeline))
		return "pipeline";
	if (!int_is(jh, "tenant", h->tenant))
		return "tenant";
	if (!int_is(jh, "token_count", h->token_count))
		return "token_count";
	if (!int_is(jh, "seq", h->seq))
		return "seq";
	if (!int_is(jh, "payload_len", h->payload_len))
		return "payload_len";
	if (!int_is(jh, "from_stage", h->from_stage))
		return "from_stage";
	if (!u64_is(json_object_get(jh, "send_ns"), h->send_ns))
		return "send_ns";
	if (!int_is(jh, "child_count", h->child_count))
		return "child_count";
	if (!json_is_array(anc) || json_array_size(anc) != h->depth)
		return "ancestry (not depth entries)";
	for (i = 0; i < SL_ANCESTRY_MAX; i++) {
		if (i < h->depth &&
		    !u64_is(json_array_get(anc, i), h->ancestry[i]))
			return "ancestry";
		if (i >= h->depth && h->ancestry[i] != 0)
			return "ancestry (a slot past depth is not zero)";
	}
	return NULL;
}

/* The tokens sl_token_next walks against the vector's "tokens". */
static const char *
tokens_mismatch(const json_t *jt, const uint8_t *payload,
		const struct sl_frag_hdr *h)
{
	struct sl_token_iter it;
	struct sl_token tok;
	size_t n = 0;

	if (!json_is_array(jt))
		return "\"tokens\" is not an array";
	sl_token_iter_init(&it, payload, h->payload_len);
	while (sl_token_next(&it, &tok)) {
		const json_t *t = json_array_get(jt, n);
		const json_t *text = json_object_get(t, "text");

		if (!json_is_object(t) || json_object_size(t) != 2 ||
		    !int_is(t, "id", tok.id))
			return "token id";
		if (!json_is_string(text) ||
		    json_string_length(text) != tok.len ||
		    memcmp(json_string_value(text), tok.text, tok.len) != 0)
			return "token text";
		n++;
	}
	if (n != json_array_size(jt) || n != h->token_count)
		return "number of tokens";
	return NULL;
}

static enum sl_wire_status
status_by_name(const char *name)
{
	unsigned int st;

	for (st = 0; st < SL_WIRE_STATUS_MAX; st++)
		if (strcmp(sl_wire_status_name(st), name) == 0)
			return st;
	return SL_WIRE_STATUS_MAX;
}

/* Vector @v of the file, parsed afresh: NULL, or what is wrong with it. */
static const char *
vector_mismatch(const json_t *v, char *why, size_t why_len)
{
	static uint8_t dgram[DGRAM_CAP];
	const char *hex = json_string_value(json_object_get(v, "datagram"));
	const char *name = json_string_value(json_object_get(v, "status"));
	enum sl_wire_status want, st;
	struct sl_frag_hdr h;
	const char *bad;
	size_t len;

	if (hex == NULL || !hex_decode(hex, dgram, sizeof(dgram), &len))
		return "\"datagram\" is not lowercase hex of at most 2048 "
		       "bytes";
	want = status_by_name(name != NULL ? name : "");
	if (want == SL_WIRE_STATUS_MAX)
		return "\"status\" is not a status name";
	memset(&h, 0xee, sizeof(h));
	st = sl_wire_parse(dgram, len, &h);
	if (st != want) {
		snprintf(why, why_len, "sl_wire_parse says %s, the file %s",
			 sl_wire_status_name(st), name);
		return why;
	}
	if (st != SL_WIRE_OK)
		return json_object_size(v) == 3
			       ? NULL
			       : "a vector that is not OK has fields other "
				 "than name, datagram, status";
	if (json_object_size(v) != 5)
		return "an OK vector needs exactly name, datagram, status, "
		       "header, tokens";
	bad = hdr_mismatch(json_object_get(v, "header"), &h);
	if (bad == NULL)
		bad = tokens_mismatch(json_object_get(v, "tokens"),
				      dgram + SL_WIRE_HDR_LEN, &h);
	if (bad != NULL) {
		snprintf(why, why_len, "sl_wire_parse disagrees on %s", bad);
		return why;
	}
	return NULL;
}

/* Every vector of @root parses as it says. Return the count or -1. */
static long
check_vectors(const json_t *root, const char *path)
{
	const json_t *vectors = json_object_get(root, "vectors");
	char why[160];
	size_t i, j;

	if (!json_is_string(json_object_get(root, "format")) ||
	    strcmp(json_string_value(json_object_get(root, "format")),
		   FORMAT_NAME) != 0 ||
	    !int_is(root, "wire_version", SL_WIRE_VERSION) ||
	    !int_is(root, "header_len", SL_WIRE_HDR_LEN) ||
	    !int_is(root, "payload_max", SL_WIRE_PAYLOAD_MAX) ||
	    !json_is_array(vectors)) {
		fprintf(stderr,
			"%s: %s: format, wire_version, header_len, "
			"payload_max or vectors is not what sl_wire.h says\n",
			PROG, path);
		return -1;
	}
	for (i = 0; i < json_array_size(vectors); i++) {
		const json_t *v = json_array_get(vectors, i);
		const char *name =
			json_string_value(json_object_get(v, "name"));
		const char *bad;

		if (name == NULL || !name_valid(name)) {
			fprintf(stderr,
				"%s: %s: vector %zu: \"name\" is not "
				"lowercase-with-dashes\n",
				PROG, path, i);
			return -1;
		}
		for (j = 0; j < i; j++)
			if (strcmp(name, json_string_value(json_object_get(
						 json_array_get(vectors, j),
						 "name"))) == 0) {
				fprintf(stderr,
					"%s: %s: vector \"%s\" appears "
					"twice\n",
					PROG, path, name);
				return -1;
			}
		bad = vector_mismatch(v, why, sizeof(why));
		if (bad != NULL) {
			fprintf(stderr, "%s: %s: vector %zu \"%s\": %s\n", PROG,
				path, i, name, bad);
			return -1;
		}
	}
	return (long)json_array_size(vectors);
}

/* Say where @have first departs from @want, the text the table builds. */
static void
report_difference(const char *path, const char *want, const json_t *have)
{
	const json_t *hv = json_object_get(have, "vectors");
	json_t *want_root = json_loads(want, JSON_ALLOW_NUL, NULL);
	const json_t *wv = json_object_get(want_root, "vectors");
	size_t i, n_have = json_array_size(hv), n_want = json_array_size(wv);

	for (i = 0; i < n_have && i < n_want; i++) {
		const json_t *a = json_array_get(wv, i);
		const json_t *b = json_array_get(hv, i);

		if (!json_equal(a, b)) {
			const char *name =
				json_string_value(json_object_get(b, "name"));

			fprintf(stderr,
				"%s: %s: vector %zu \"%s\" differs from "
				"what the encoder builds (\"%s\")\n",
				PROG, path, i, name != NULL ? name : "?",
				json_string_value(json_object_get(a, "name")));
			goto out;
		}
	}
	if (n_have != n_want)
		fprintf(stderr, "%s: %s: %zu vectors, the table builds %zu\n",
			PROG, path, n_have, n_want);
	else
		fprintf(stderr,
			"%s: %s: same vectors, but not the bytes the "
			"table writes (top-level fields or layout)\n",
			PROG, path);
out:
	json_decref(want_root);
}

static char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n;

	if (f == NULL)
		return NULL;
	*len = 0;
	do {
		if (*len + 65536 + 1 > cap) {
			char *p = realloc(buf, cap = 2 * cap + 65536 + 1);

			if (p == NULL) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = p;
		}
		n = fread(buf + *len, 1, cap - *len - 1, f);
		*len += n;
	} while (n != 0);
	if (ferror(f)) {
		free(buf);
		buf = NULL;
	} else {
		buf[*len] = '\0';
	}
	fclose(f);
	return buf;
}

/* Parse @text as the file and check its vectors. Return the count or -1. */
static long
check_text(const char *text, size_t len, const char *path)
{
	json_error_t err;
	json_t *root;
	long n;

	root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
			  &err);
	if (root == NULL) {
		fprintf(stderr, "%s: %s:%d: not JSON: %s\n", PROG, path,
			err.line, err.text);
		return -1;
	}
	n = check_vectors(root, path);
	json_decref(root);
	return n;
}

static int
write_vectors(const char *path)
{
	size_t count, len;
	char *text = build_text(&count);
	FILE *f;

	if (text == NULL)
		return EXIT_FAILURE;
	len = strlen(text);
	/* Never write a file the check would refuse. */
	if (check_text(text, len, "(generated)") < 0) {
		free(text);
		return EXIT_FAILURE;
	}
	f = fopen(path, "wb");
	if (f == NULL || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "%s: cannot write %s: %s\n", PROG, path,
			strerror(errno));
		free(text);
		return EXIT_FAILURE;
	}
	free(text);
	printf("%zu vectors written to %s\n", count, path);
	return EXIT_SUCCESS;
}

static int
check_file(const char *path)
{
	size_t count, have_len;
	char *want, *have;
	bool same;
	long n;

	have = read_file(path, &have_len);
	if (have == NULL) {
		fprintf(stderr, "%s: cannot read %s: %s\n", PROG, path,
			strerror(errno));
		return EXIT_FAILURE;
	}
	want = build_text(&count);
	if (want == NULL) {
		free(have);
		return EXIT_FAILURE;
	}
	same = strlen(want) == have_len && memcmp(want, have, have_len) == 0;

	/* Both checks run, so a stale file that still parses right and a
	 * file that parses wrong are told apart. */
	n = check_text(have, have_len, path);
	if (!same) {
		json_t *root = json_loadb(have, have_len, JSON_ALLOW_NUL, NULL);

		if (root != NULL)
			report_difference(path, want, root);
		json_decref(root);
	}
	if (!same)
		fprintf(stderr,
			"%s: %s is not what the table builds; if the table "
			"is right: %s --write %s\n",
			PROG, path, PROG, path);
	free(want);
	free(have);
	if (!same || n < 0)
		return EXIT_FAILURE;
	printf("%ld vectors OK\n", n);
	return EXIT_SUCCESS;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--write") == 0)
		return write_vectors(argv[2]);
	if (argc == 2 && argv[1][0] != '-')
		return check_file(argv[1]);
	fprintf(stderr, "usage: %s [--write] PATH\n", PROG);
	return EXIT_FAILURE;
}
