/* SPDX-License-Identifier: MIT */
/*
 * gpu_test.h - what the gpu/ suites share: tokens as a test writes them,
 * their wire payload, a fragment into a ring, the clock and a nap.
 */
#ifndef GPU_TEST_H
#define GPU_TEST_H

#include <stdint.h>

#include "sl_gpu_ring.h"
#include "sl_gpu_share.h"
#include "sl_wire.h"

/* One token: its id and its text (NUL-terminated here). */
struct tok {
	uint32_t id;
	const char *text;
};

/**
 * gpu_test_payload - the wire-format tokens of @t[0..@n) into @out (at
 * least SL_WIRE_PAYLOAD_MAX bytes), built by proto's own builder;
 * CU-asserted (fatal) to fit. Return: the payload's length.
 */
uint16_t gpu_test_payload(uint8_t *out, const struct tok *t, unsigned int n);

/**
 * gpu_test_tx - sl_gpu_tx of one fragment of stream slot @slot carrying
 * @t[0..@n). Return: sl_gpu_tx's.
 */
int gpu_test_tx(struct sl_gpu_ring *r, uint32_t slot, uint32_t seq,
		uint8_t flags, uint8_t reason, const struct tok *t,
		unsigned int n);

/**
 * gpu_test_acked - sl_gpu_share_acked after reading the acks file again
 * (sl_gpu_share_acks_read, CU-asserted to succeed).
 */
int gpu_test_acked(struct sl_gpu_share *s, uint32_t slot, uint32_t epoch);

/**
 * gpu_test_stream_hdr - the wire header of stream [@id, @sub] (pipeline 7,
 * stage 3 from stage 2, tenant 5, send_ns @send0 + @id) as its instance
 * would receive it: seq 0, no flags, no tokens.
 */
struct sl_frag_hdr gpu_test_stream_hdr(uint64_t id, uint64_t sub,
				       uint64_t send0);

/** The monotonic clock in ns; a nap of @us microseconds. */
uint64_t gpu_test_now_ns(void);
void gpu_test_nap_us(long us);

#endif /* GPU_TEST_H */
