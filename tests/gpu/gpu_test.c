/* SPDX-License-Identifier: MIT */
/*
 * gpu_test.c - what the gpu/ suites share (gpu_test.h).
 */
#include <string.h>
#include <time.h>

#include <CUnit/CUnit.h>

#include "gpu_test.h"
#include "sl_wire.h"

uint16_t
gpu_test_payload(uint8_t *out, const struct tok *t, unsigned int n)
{
	uint8_t dgram[SL_WIRE_HDR_LEN + SL_WIRE_PAYLOAD_MAX];
	struct sl_frag_hdr h = {.version = SL_WIRE_VERSION, .depth = 1};
	struct sl_wire_builder b;
	size_t len;

	CU_ASSERT_FATAL(sl_wire_builder_init(&b, dgram, sizeof(dgram), &h) ==
			0);
	for (unsigned int i = 0; i < n; i++)
		CU_ASSERT_FATAL(sl_wire_builder_add(&b, t[i].id, t[i].text,
						    strlen(t[i].text)) == 0);
	len = sl_wire_builder_finish(&b) - SL_WIRE_HDR_LEN;
	memcpy(out, dgram + SL_WIRE_HDR_LEN, len);
	return (uint16_t)len;
}

int
gpu_test_tx(struct sl_gpu_ring *r, uint32_t slot, uint32_t seq, uint8_t flags,
	    uint8_t reason, const struct tok *t, unsigned int n)
{
	uint8_t payload[SL_WIRE_PAYLOAD_MAX];
	struct sl_gpu_frag_in f = {
		.stream = slot,
		.seq = seq,
		.flags = flags,
		.abort_reason = reason,
		.token_count = (uint16_t)n,
		.payload = payload,
	};

	f.payload_len = gpu_test_payload(payload, t, n);
	return sl_gpu_tx(r, &f);
}

int
gpu_test_acked(struct sl_gpu_share *s, uint32_t slot, uint32_t epoch)
{
	CU_ASSERT_EQUAL(sl_gpu_share_acks_read(s), 0);
	return sl_gpu_share_acked(s, slot, epoch);
}

struct sl_frag_hdr
gpu_test_stream_hdr(uint64_t id, uint64_t sub, uint64_t send0)
{
	struct sl_frag_hdr h = {
		.version = SL_WIRE_VERSION,
		.depth = 2,
		.stage = 3,
		.from_stage = 2,
		.tenant = 5,
		.pipeline = 7,
		.send_ns = send0 + id,
		.ancestry = {id, sub},
	};

	return h;
}

uint64_t
gpu_test_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void
gpu_test_nap_us(long us)
{
	struct timespec ts = {.tv_sec = us / 1000000,
			      .tv_nsec = (us % 1000000) * 1000};

	nanosleep(&ts, NULL);
}
