/* SPDX-License-Identifier: MIT */
/*
 * test_frame.c - the incremental frame decoder (control/sl_frame.h):
 * byte at a time, every split point, coalesced frames, the size limits,
 * sticky errors and bounded memory.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "sl_frame.h"

/* A stream of frames: payload i has length lens[i] and bytes (i + j). */
static size_t
build_stream(uint8_t *out, const uint32_t *lens, size_t n)
{
	size_t off = 0;

	for (size_t i = 0; i < n; i++) {
		sl_frame_put_header(out + off, lens[i]);
		off += SL_FRAME_HDR;
		for (uint32_t j = 0; j < lens[i]; j++)
			out[off++] = (uint8_t)(i * 31 + j);
	}
	return off;
}

static bool
payload_ok(const struct sl_frame *f, size_t i, uint32_t len)
{
	if (f->len != len)
		return false;
	for (uint32_t j = 0; j < len; j++)
		if (f->data[j] != (uint8_t)(i * 31 + j))
			return false;
	return true;
}

/* Feed @stream in chunks of @chunk bytes (cycling through sizes when
 * chunk is 0); count frames and check each payload. */
static size_t
feed(struct sl_frame_decoder *d, const uint8_t *stream, size_t len,
     size_t chunk, const uint32_t *lens, size_t *bad)
{
	size_t off = 0, frames = 0, step = 1;

	*bad = 0;
	while (off < len) {
		size_t n = chunk ? chunk : step;
		const uint8_t *p = stream + off;
		size_t used;
		struct sl_frame f;
		int rc;

		if (n > len - off)
			n = len - off;
		step = step % 7 + 1;
		off += n;
		while (n > 0) {
			rc = sl_frame_decode(d, p, n, &used, &f);
			if (rc < 0) {
				(*bad)++;
				return frames;
			}
			p += used;
			n -= used;
			if (rc == 1) {
				if (!payload_ok(&f, frames, lens[frames]))
					(*bad)++;
				frames++;
			}
		}
	}
	return frames;
}

static void
test_whole_frames(void)
{
	static const uint32_t lens[] = {1, 5, 300, 4, 70000, 2};
	uint8_t *stream = malloc(80000);
	struct sl_frame_decoder d;
	size_t len, bad;

	len = build_stream(stream, lens, 6);
	sl_frame_decoder_init(&d, 0);
	CU_ASSERT_EQUAL(d.max, SL_FRAME_MAX);
	CU_ASSERT_EQUAL(feed(&d, stream, len, len, lens, &bad), 6);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(sl_frame_buffered(&d), 0);
	/* Everything came in one chunk: nothing was copied. */
	CU_ASSERT_EQUAL(sl_frame_capacity(&d), 0);
	sl_frame_decoder_fini(&d);
	free(stream);
}

static void
test_byte_at_a_time(void)
{
	static const uint32_t lens[] = {1, 5, 300, 4, 70000, 2, 4096, 4097};
	uint8_t *stream = malloc(90000);
	struct sl_frame_decoder d;
	size_t len, bad;

	len = build_stream(stream, lens, 8);
	sl_frame_decoder_init(&d, 0);
	CU_ASSERT_EQUAL(feed(&d, stream, len, 1, lens, &bad), 8);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(sl_frame_buffered(&d), 0);
	/* Cycling chunk sizes 1..7. */
	CU_ASSERT_EQUAL(feed(&d, stream, len, 0, lens, &bad), 8);
	CU_ASSERT_EQUAL(bad, 0);
	/* The 70000-byte buffer is not kept between frames. */
	CU_ASSERT(sl_frame_capacity(&d) <= 65536);
	sl_frame_decoder_fini(&d);
	free(stream);
}

/* Two frames cut in two at every possible point. */
static void
test_split_everywhere(void)
{
	static const uint32_t lens[] = {9, 3};
	uint8_t stream[64];
	size_t len = build_stream(stream, lens, 2);

	for (size_t cut = 0; cut <= len; cut++) {
		struct sl_frame_decoder d;
		size_t frames = 0, used;
		const uint8_t *p;
		size_t n;
		struct sl_frame f;
		int rc;

		sl_frame_decoder_init(&d, 0);
		for (int part = 0; part < 2; part++) {
			p = part ? stream + cut : stream;
			n = part ? len - cut : cut;
			while (n > 0) {
				rc = sl_frame_decode(&d, p, n, &used, &f);
				CU_ASSERT_FATAL(rc >= 0);
				CU_ASSERT(used <= n);
				p += used;
				n -= used;
				if (rc == 1) {
					CU_ASSERT(payload_ok(&f, frames,
							     lens[frames]));
					frames++;
				}
			}
			if (part == 0)
				CU_ASSERT_EQUAL(sl_frame_buffered(&d),
						(cut == 13 || cut == len) ? 0
						: cut < 13                ? cut
							   : cut - 13);
		}
		CU_ASSERT_EQUAL(frames, 2);
		CU_ASSERT_EQUAL(sl_frame_buffered(&d), 0);
		sl_frame_decoder_fini(&d);
	}
}

static void
test_max_size(void)
{
	uint8_t *stream = malloc(SL_FRAME_HDR + SL_FRAME_MAX);
	uint32_t lens[] = {SL_FRAME_MAX};
	struct sl_frame_decoder d;
	size_t len, bad;

	len = build_stream(stream, lens, 1);
	sl_frame_decoder_init(&d, 0);
	/* Exactly 1 MiB is accepted, fed in 1000-byte pieces. */
	CU_ASSERT_EQUAL(feed(&d, stream, len, 1000, lens, &bad), 1);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(sl_frame_capacity(&d), SL_FRAME_MAX);
	/* A call with no bytes lets the big buffer go. */
	{
		size_t used;
		struct sl_frame f;

		CU_ASSERT_EQUAL(sl_frame_decode(&d, NULL, 0, &used, &f), 0);
		CU_ASSERT_EQUAL(sl_frame_capacity(&d), 0);
	}
	sl_frame_decoder_fini(&d);
	free(stream);
}

static void
test_oversize(void)
{
	uint8_t hdr[SL_FRAME_HDR + 8];
	struct sl_frame_decoder d;
	struct sl_frame f;
	size_t used;

	sl_frame_put_header(hdr, SL_FRAME_MAX + 1);
	memset(hdr + SL_FRAME_HDR, 'x', 8);
	sl_frame_decoder_init(&d, 0);
	/* Three header bytes: still waiting. */
	CU_ASSERT_EQUAL(sl_frame_decode(&d, hdr, 3, &used, &f), 0);
	CU_ASSERT_EQUAL(used, 3);
	CU_ASSERT_EQUAL(sl_frame_buffered(&d), 3);
	CU_ASSERT_EQUAL(sl_frame_decode(&d, hdr + 3, 9, &used, &f), -EMSGSIZE);
	CU_ASSERT_EQUAL(used, 1); /* the payload is never read */
	CU_ASSERT_EQUAL(d.want, SL_FRAME_MAX + 1);
	CU_ASSERT_EQUAL(sl_frame_capacity(&d), 0);
	/* Sticky. */
	CU_ASSERT_EQUAL(sl_frame_decode(&d, hdr + 4, 8, &used, &f), -EMSGSIZE);
	CU_ASSERT_EQUAL(used, 0);
	CU_ASSERT_EQUAL(sl_frame_buffered(&d), 0);
	sl_frame_decoder_fini(&d);

	/* 0xffffffff, and a smaller decoder limit. */
	memset(hdr, 0xff, 4);
	sl_frame_decoder_init(&d, 0);
	CU_ASSERT_EQUAL(sl_frame_decode(&d, hdr, 4, &used, &f), -EMSGSIZE);
	sl_frame_decoder_fini(&d);
	sl_frame_put_header(hdr, 101);
	sl_frame_decoder_init(&d, 100);
	CU_ASSERT_EQUAL(sl_frame_decode(&d, hdr, 4, &used, &f), -EMSGSIZE);
	sl_frame_decoder_fini(&d);
	sl_frame_put_header(hdr, 100);
	sl_frame_decoder_init(&d, 100);
	CU_ASSERT_EQUAL(sl_frame_decode(&d, hdr, 4, &used, &f), 0);
	sl_frame_decoder_fini(&d);
}

static void
test_zero_length(void)
{
	uint8_t in[8] = {0, 0, 0, 0, 0, 0, 0, 1};
	struct sl_frame_decoder d;
	struct sl_frame f;
	size_t used;

	sl_frame_decoder_init(&d, 0);
	CU_ASSERT_EQUAL(sl_frame_decode(&d, in, 8, &used, &f), -EBADMSG);
	CU_ASSERT_EQUAL(used, 4);
	CU_ASSERT_EQUAL(sl_frame_decode(&d, in + 4, 4, &used, &f), -EBADMSG);
	CU_ASSERT_EQUAL(used, 0);
	sl_frame_decoder_fini(&d);
}

/* A peer announcing 1 MiB and sending little costs little. */
static void
test_bounded_memory(void)
{
	uint8_t in[SL_FRAME_HDR + 10] = {0};
	struct sl_frame_decoder d;
	struct sl_frame f;
	size_t used;

	sl_frame_put_header(in, SL_FRAME_MAX);
	sl_frame_decoder_init(&d, 0);
	CU_ASSERT_EQUAL(sl_frame_decode(&d, in, sizeof(in), &used, &f), 0);
	CU_ASSERT_EQUAL(sl_frame_buffered(&d), sizeof(in));
	CU_ASSERT(sl_frame_capacity(&d) <= 4096);
	sl_frame_decoder_fini(&d);
	CU_ASSERT_EQUAL(sl_frame_capacity(&d), 0);
}

/* A frame completed from the buffer stays valid until the next call. */
static void
test_buffered_frame_lifetime(void)
{
	static const uint32_t lens[] = {6, 6};
	uint8_t stream[32];
	size_t len = build_stream(stream, lens, 2);
	struct sl_frame_decoder d;
	struct sl_frame f;
	size_t used;

	sl_frame_decoder_init(&d, 0);
	CU_ASSERT_EQUAL(sl_frame_decode(&d, stream, 7, &used, &f), 0);
	CU_ASSERT_EQUAL(sl_frame_decode(&d, stream + 7, len - 7, &used, &f), 1);
	CU_ASSERT_EQUAL(used, 3);
	CU_ASSERT(payload_ok(&f, 0, 6));
	CU_ASSERT_EQUAL(sl_frame_buffered(&d), 0);
	CU_ASSERT_EQUAL(sl_frame_decode(&d, stream + 10, len - 10, &used, &f),
			1);
	CU_ASSERT(payload_ok(&f, 1, 6));
	CU_ASSERT(f.data == stream + 14); /* whole in the input: no copy */
	sl_frame_decoder_fini(&d);
}

/* The limit can be raised between frames (the API does once a TCP peer
 * has authenticated): frames before obey the old one, after the new. */
static void
test_raise_limit(void)
{
	static const uint32_t lens[] = {100, 5000, 70000};
	uint8_t *stream = malloc(SL_FRAME_HDR * 3 + 75100);
	struct sl_frame_decoder d;
	struct sl_frame f;
	size_t len, used, off = 0;

	CU_ASSERT_FATAL(stream != NULL);
	len = build_stream(stream, lens, 3);
	sl_frame_decoder_init(&d, 4096);
	CU_ASSERT_EQUAL(sl_frame_decode(&d, stream, len, &used, &f), 1);
	CU_ASSERT(payload_ok(&f, 0, 100));
	off += used;
	sl_frame_decoder_set_max(&d, 0); /* 0: SL_FRAME_MAX */
	CU_ASSERT_EQUAL(d.max, SL_FRAME_MAX);
	/* Byte at a time, so the bigger frames go through the buffer. */
	for (size_t i = 1; i < 3; i++) {
		int rc = 0;

		while (rc == 0 && off < len) {
			rc = sl_frame_decode(&d, stream + off, 1, &used, &f);
			off += used;
		}
		CU_ASSERT_EQUAL(rc, 1);
		CU_ASSERT(payload_ok(&f, i, lens[i]));
	}
	sl_frame_decoder_fini(&d);

	/* Without the raise the second frame is refused at its header. */
	sl_frame_decoder_init(&d, 4096);
	CU_ASSERT_EQUAL(sl_frame_decode(&d, stream, len, &used, &f), 1);
	CU_ASSERT_EQUAL(
		sl_frame_decode(&d, stream + used, len - used, &used, &f),
		-EMSGSIZE);
	CU_ASSERT_EQUAL(used, SL_FRAME_HDR);
	CU_ASSERT_EQUAL(d.want, 5000);
	CU_ASSERT_EQUAL(sl_frame_capacity(&d), 0);
	sl_frame_decoder_fini(&d);
	free(stream);
}

int
main(void)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} tests[] = {
		{"whole frames, no copy", test_whole_frames},
		{"byte at a time", test_byte_at_a_time},
		{"split at every point", test_split_everywhere},
		{"1 MiB accepted", test_max_size},
		{"oversize refused", test_oversize},
		{"zero length refused", test_zero_length},
		{"memory follows bytes received", test_bounded_memory},
		{"buffered frame lifetime", test_buffered_frame_lifetime},
		{"limit raised between frames", test_raise_limit},
	};
	CU_pSuite suite;
	unsigned int failed;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	suite = CU_add_suite("frame", NULL, NULL);
	for (size_t i = 0; suite && i < sizeof(tests) / sizeof(tests[0]); i++)
		CU_add_test(suite, tests[i].name, tests[i].fn);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failed ? 1 : 0;
}
