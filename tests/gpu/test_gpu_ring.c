/* SPDX-License-Identifier: MIT */
/*
 * test_gpu_ring - the token ring protocol (gpu/sl_gpu_ring*.h) on a
 * backend: `test_gpu_ring host` (default) or `test_gpu_ring cuda`, which
 * exits 77 (SKIP) where the cuda backend cannot run (no driver, no device,
 * or built without nvcc), and adds a test of its own (module, memory).
 *
 * Every test asserts exact outcomes: batch states, the bytes, ids and text
 * offsets in each stream's token buffer, and every counter, drops by
 * reason included.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CUnit/Basic.h>

#include "gpu_test.h"
#include "sl_gpu.h"
#include "sl_gpu_cuda.h"
#include "sl_gpu_ops.h" /* the regions, for the cuda test */
#include "sl_gpu_ring.h"
#include "sl_wire.h"

#define SKIP 77
#define MS 1000000ull
#define LONG_WAIT (10000 * MS)

static enum sl_gpu_backend g_backend = SL_GPU_BACKEND_HOST;
static struct sl_gpu_ctx *g_ctx;

static struct sl_gpu_ring_cfg
small_cfg(void)
{
	struct sl_gpu_ring_cfg c = {
		.batches = 8,
		.batch_bytes = 1024,
		.streams = 8,
		.stream_tokens = 64,
		.stream_text = 512,
	};

	return c;
}

static struct sl_gpu_ring *
ring_new(const struct sl_gpu_ring_cfg *c)
{
	struct sl_gpu_ring *r = sl_gpu_ring_create(g_ctx, c);

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	return r;
}

/* A raw record at @area + @off; returns its length. */
static uint32_t
put_rec(uint8_t *area, uint32_t off, uint32_t stream, uint32_t seq,
	uint8_t flags, uint16_t count, const uint8_t *payload, uint16_t plen)
{
	struct sl_gpu_frag *f = (struct sl_gpu_frag *)(area + off);

	memset(f, 0, sizeof(*f));
	f->stream = stream;
	f->seq = seq;
	f->flags = flags;
	f->token_count = count;
	f->payload_len = plen;
	f->rec_len = SL_GPU_FRAG_REC_LEN(plen);
	if (plen != 0)
		memcpy(f + 1, payload, plen);
	return f->rec_len;
}

static uint32_t
put_toks(uint8_t *area, uint32_t off, uint32_t stream, uint32_t seq,
	 uint8_t flags, const struct tok *t, unsigned int n)
{
	uint8_t payload[SL_WIRE_PAYLOAD_MAX];
	uint16_t plen = gpu_test_payload(payload, t, n);

	return put_rec(area, off, stream, seq, flags, (uint16_t)n, payload,
		       plen);
}

static bool
wait_state(struct sl_gpu_ring *r, uint32_t idx, int want)
{
	uint64_t deadline = gpu_test_now_ns() + LONG_WAIT;

	while (sl_gpu_ring_batch_state(r, idx) != want)
		if (gpu_test_now_ns() > deadline)
			return false;
		else
			gpu_test_nap_us(100);
	return true;
}

static bool
wait_consumer(struct sl_gpu_ring *r, enum sl_gpu_consumer_state want)
{
	uint64_t deadline = gpu_test_now_ns() + LONG_WAIT;

	while (sl_gpu_ring_consumer_state(r) != want)
		if (gpu_test_now_ns() > deadline)
			return false;
		else
			gpu_test_nap_us(200);
	return true;
}

/* Stream @slot holds exactly tokens @t[0..n) and is in @state. */
static void
check_stream(struct sl_gpu_ring *r, uint32_t slot, const struct tok *t,
	     unsigned int n, uint32_t state, uint32_t reason, uint32_t frags)
{
	uint32_t ids[64], offs[64], want_off = 0;
	uint8_t text[512];
	struct sl_gpu_stream m;

	CU_ASSERT_EQUAL_FATAL(sl_gpu_ring_stream_read(r, slot, &m, ids, offs,
						      64, text, sizeof(text)),
			      0);
	CU_ASSERT_EQUAL(m.state, state);
	CU_ASSERT_EQUAL(m.abort_reason, reason);
	CU_ASSERT_EQUAL(m.frags, frags);
	CU_ASSERT_EQUAL(m.next_seq, frags);
	CU_ASSERT_EQUAL_FATAL(m.tokens, n);
	for (unsigned int i = 0; i < n; i++) {
		size_t len = strlen(t[i].text);

		CU_ASSERT_EQUAL(ids[i], t[i].id);
		CU_ASSERT_EQUAL(offs[i], want_off);
		CU_ASSERT(memcmp(text + want_off, t[i].text, len) == 0);
		want_off += (uint32_t)len;
	}
	CU_ASSERT_EQUAL(m.text_len, want_off);
}

static void
test_config_bounds(void)
{
	struct sl_gpu_ring_cfg c = small_cfg();

	c.batches = 3;
	errno = 0;
	CU_ASSERT_PTR_NULL(sl_gpu_ring_create(g_ctx, &c));
	CU_ASSERT_EQUAL(errno, EINVAL);
	c = small_cfg();
	c.batch_bytes = 100;
	CU_ASSERT_PTR_NULL(sl_gpu_ring_create(g_ctx, &c));
	c = small_cfg();
	c.streams = SL_GPU_STREAMS_MAX + 1;
	CU_ASSERT_PTR_NULL(sl_gpu_ring_create(g_ctx, &c));
	c = small_cfg();
	c.batches = SL_GPU_RING_BATCHES_MAX * 2;
	CU_ASSERT_PTR_NULL(sl_gpu_ring_create(g_ctx, &c));
	CU_ASSERT_STRING_EQUAL(sl_gpu_batch_state_name(SL_GPU_BATCH_FREE),
			       "FREE");
	CU_ASSERT_STRING_EQUAL(sl_gpu_batch_state_name(SL_GPU_BATCH_READY),
			       "READY");
	CU_ASSERT_STRING_EQUAL(sl_gpu_batch_state_name(SL_GPU_BATCH_DONE),
			       "DONE");
	CU_ASSERT_STRING_EQUAL(sl_gpu_batch_state_name(SL_GPU_BATCH_ERROR),
			       "ERROR");
	CU_ASSERT_STRING_EQUAL(sl_gpu_batch_state_name(9), "UNKNOWN");
	CU_ASSERT_STRING_EQUAL(sl_gpu_pstat_name(SL_GPU_P_DROP_RING_FULL),
			       "DROP_RING_FULL");
	CU_ASSERT_STRING_EQUAL(sl_gpu_cstat_name(SL_GPU_C_DROP_SEQ_GAP),
			       "DROP_SEQ_GAP");
	CU_ASSERT_STRING_EQUAL(
		sl_gpu_cstat_name(SL_GPU_C_DROP(SL_GPU_DROP_TOKEN_OVERFLOW)),
		"DROP_TOKEN_OVERFLOW");
}

static void
test_state_machine(void)
{
	struct sl_gpu_ring_cfg c = small_cfg();
	struct sl_gpu_ring *r = ring_new(&c);
	const struct tok hi[] = {{42, "hi"}};
	uint32_t cap, len;
	uint8_t *area;

	for (uint32_t i = 0; i < c.batches; i++)
		CU_ASSERT_EQUAL(sl_gpu_ring_batch_state(r, i),
				SL_GPU_BATCH_FREE);
	CU_ASSERT_EQUAL(sl_gpu_ring_batch_state(r, c.batches), -1);
	CU_ASSERT_EQUAL(sl_gpu_batch_publish(r, 0, 0), -EINVAL);

	/* Batch 0: one good fragment. Batch 1: a record whose length
	 * is not a multiple of 8. */
	area = sl_gpu_batch_claim(r, &cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(area);
	CU_ASSERT_EQUAL(cap, c.batch_bytes);
	CU_ASSERT_PTR_NULL(sl_gpu_batch_claim(r, &cap));
	CU_ASSERT_EQUAL(errno, EBUSY);
	len = put_toks(area, 0, 0, 0, SL_GPU_FRAG_END, hi, 1);
	CU_ASSERT_EQUAL(len, 32); /* 24 + 6 + 2 */
	CU_ASSERT_EQUAL(sl_gpu_batch_publish(r, 1, len), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_batch_state(r, 0), SL_GPU_BATCH_READY);
	area = sl_gpu_batch_claim(r, &cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(area);
	len = put_toks(area, 0, 1, 0, SL_GPU_FRAG_END, hi, 1);
	((struct sl_gpu_frag *)area)->rec_len = 31;
	CU_ASSERT_EQUAL(sl_gpu_batch_publish(r, 1, len), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_batch_state(r, 1), SL_GPU_BATCH_READY);
	CU_ASSERT_EQUAL(sl_gpu_tx_reclaim(r), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_consumer_state(r), SL_GPU_CONSUMER_IDLE);

	CU_ASSERT_EQUAL(sl_gpu_ring_start(r), 0);
	CU_ASSERT(wait_state(r, 1, SL_GPU_BATCH_ERROR));
	CU_ASSERT_EQUAL(sl_gpu_ring_batch_state(r, 0), SL_GPU_BATCH_DONE);
	CU_ASSERT_EQUAL(sl_gpu_ring_batch_error(r, 0), SL_GPU_BATCH_OK);
	CU_ASSERT_EQUAL(sl_gpu_ring_batch_error(r, 1), SL_GPU_BATCH_E_FRAMING);
	CU_ASSERT_EQUAL(sl_gpu_ring_batch_state(r, 2), SL_GPU_BATCH_FREE);
	CU_ASSERT_EQUAL(sl_gpu_tx_reclaim(r), 2);
	CU_ASSERT_EQUAL(sl_gpu_ring_batch_state(r, 0), SL_GPU_BATCH_FREE);
	CU_ASSERT_EQUAL(sl_gpu_ring_batch_state(r, 1), SL_GPU_BATCH_FREE);
	CU_ASSERT_EQUAL(sl_gpu_tx_reclaim(r), 0);

	CU_ASSERT_EQUAL(sl_gpu_ring_pstat(r, SL_GPU_P_BATCHES), 2);
	CU_ASSERT_EQUAL(sl_gpu_ring_pstat(r, SL_GPU_P_RECYCLED), 2);
	CU_ASSERT_EQUAL(sl_gpu_ring_pstat(r, SL_GPU_P_ERRORS_SEEN), 1);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_BATCHES), 1);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_BATCH_ERRORS), 1);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_DROP_BATCH), 1);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_FRAGS), 1);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_STREAMS_COMPLETE), 1);
	check_stream(r, 0, hi, 1, SL_GPU_STREAM_COMPLETE, 0, 1);
	check_stream(r, 1, NULL, 0, SL_GPU_STREAM_EMPTY, 0, 0);

	/* The ring goes round: 3 * batches more publishes, all DONE. */
	for (uint32_t i = 0; i < 3 * c.batches; i++) {
		CU_ASSERT_EQUAL(
			gpu_test_tx(r, 2 + i % 4, 0, SL_GPU_FRAG_END, 0, hi, 1),
			0);
		CU_ASSERT_EQUAL(sl_gpu_tx_flush(r), 1);
		CU_ASSERT_EQUAL(sl_gpu_tx_flush(r), 0);
		CU_ASSERT_EQUAL(sl_gpu_ring_drain(r, LONG_WAIT), 0);
	}
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_BATCHES),
			1 + 3 * c.batches);
	CU_ASSERT_EQUAL(sl_gpu_ring_pstat(r, SL_GPU_P_RECYCLED),
			2 + 3 * c.batches);
	CU_ASSERT_EQUAL(sl_gpu_ring_stop(r, LONG_WAIT), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_consumer_state(r), SL_GPU_CONSUMER_STOPPED);
	sl_gpu_ring_destroy(r);
}

static void
test_scatter_exact(void)
{
	struct sl_gpu_ring_cfg c = small_cfg();
	struct sl_gpu_ring *r = ring_new(&c);
	const struct tok s2a[] = {{17, "Hel"}, {4, "lo"}};
	const struct tok s2b[] = {{99, ""}, {1000000, "\xc3\xa9"}};
	const struct tok s2c[] = {{0xffffffffu, "!"}};
	const struct tok s2[] = {{17, "Hel"},
				 {4, "lo"},
				 {99, ""},
				 {1000000, "\xc3\xa9"},
				 {0xffffffffu, "!"}};
	const struct tok s5a[] = {{7, "a"}}, s5b[] = {{8, "bc"}};
	const struct tok s5[] = {{7, "a"}, {8, "bc"}};
	const struct tok s6[] = {{1, "x"}};
	const struct tok s5new[] = {{70, "new"}, {71, " one"}};
	struct sl_gpu_stream m;

	CU_ASSERT_EQUAL(sl_gpu_ring_start(r), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_start(r), -EALREADY);
	/* Two bursts, streams interleaved, several fragments per batch. */
	CU_ASSERT_EQUAL(gpu_test_tx(r, 2, 0, 0, 0, s2a, 2), 0);
	CU_ASSERT_EQUAL(gpu_test_tx(r, 5, 0, 0, 0, s5a, 1), 0);
	CU_ASSERT_EQUAL(gpu_test_tx(r, 6, 0, 0, 0, s6, 1), 0);
	CU_ASSERT_EQUAL(gpu_test_tx(r, 2, 1, 0, 0, s2b, 2), 0);
	CU_ASSERT_EQUAL(sl_gpu_tx_flush(r), 1);
	CU_ASSERT_EQUAL(gpu_test_tx(r, 5, 1, SL_GPU_FRAG_END, 0, s5b, 1), 0);
	CU_ASSERT_EQUAL(gpu_test_tx(r, 6, 1, SL_GPU_FRAG_ABORT, SL_ABORT_CLIENT,
				    NULL, 0),
			0);
	CU_ASSERT_EQUAL(gpu_test_tx(r, 2, 2, SL_GPU_FRAG_END, 0, s2c, 1), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_drain(r, LONG_WAIT), 0);

	check_stream(r, 2, s2, 5, SL_GPU_STREAM_COMPLETE, 0, 3);
	check_stream(r, 5, s5, 2, SL_GPU_STREAM_COMPLETE, 0, 2);
	check_stream(r, 6, s6, 1, SL_GPU_STREAM_ABORTED, SL_ABORT_CLIENT, 2);
	check_stream(r, 3, NULL, 0, SL_GPU_STREAM_EMPTY, 0, 0);
	CU_ASSERT_EQUAL(
		sl_gpu_ring_stream_read(r, 2, &m, NULL, NULL, 0, NULL, 0), 0);
	CU_ASSERT_EQUAL(m.epoch, 1);
	CU_ASSERT_EQUAL(
		sl_gpu_ring_stream_read(r, 8, &m, NULL, NULL, 0, NULL, 0),
		-EINVAL);
	CU_ASSERT_EQUAL(sl_gpu_ring_pstat(r, SL_GPU_P_FRAGS), 7);
	CU_ASSERT_EQUAL(sl_gpu_ring_pstat(r, SL_GPU_P_TOKENS), 8);
	CU_ASSERT_EQUAL(sl_gpu_ring_pstat(r, SL_GPU_P_BATCHES), 2);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_BATCHES), 2);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_FRAGS), 7);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_TOKENS), 8);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_TEXT_BYTES), 12);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_STREAMS_COMPLETE), 2);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_STREAMS_ABORTED), 1);
	for (int i = SL_GPU_C_DROP_BAD_STREAM; i < SL_GPU_C_MAX; i++)
		CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, (enum sl_gpu_cstat)i), 0);

	/* seq 0 on a finished slot opens a new stream there. */
	CU_ASSERT_EQUAL(gpu_test_tx(r, 5, 0, SL_GPU_FRAG_END, 0, s5new, 2), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_drain(r, LONG_WAIT), 0);
	check_stream(r, 5, s5new, 2, SL_GPU_STREAM_COMPLETE, 0, 1);
	CU_ASSERT_EQUAL(
		sl_gpu_ring_stream_read(r, 5, &m, NULL, NULL, 0, NULL, 0), 0);
	CU_ASSERT_EQUAL(m.epoch, 2);
	sl_gpu_ring_destroy(r);
}

static void
test_ring_full(void)
{
	struct sl_gpu_ring_cfg c = small_cfg();
	struct sl_gpu_ring *r;
	const struct tok one[] = {{5, "z"}};
	uint32_t cap;

	c.batches = 4;
	r = ring_new(&c);
	/* No consumer: four batches fill the ring. */
	for (uint32_t i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(
			gpu_test_tx(r, i, 0, SL_GPU_FRAG_END, 0, one, 1), 0);
		CU_ASSERT_EQUAL(sl_gpu_tx_flush(r), 1);
	}
	for (uint32_t i = 4; i < 7; i++)
		CU_ASSERT_EQUAL(
			gpu_test_tx(r, i, 0, SL_GPU_FRAG_END, 0, one, 1),
			-ENOBUFS);
	CU_ASSERT_EQUAL(sl_gpu_tx_flush(r), 0);
	CU_ASSERT_PTR_NULL(sl_gpu_batch_claim(r, &cap));
	CU_ASSERT_EQUAL(errno, ENOBUFS);
	CU_ASSERT_EQUAL(sl_gpu_ring_pstat(r, SL_GPU_P_DROP_RING_FULL), 4);
	CU_ASSERT_EQUAL(sl_gpu_ring_pstat(r, SL_GPU_P_FRAGS), 4);
	CU_ASSERT_EQUAL(sl_gpu_ring_pstat(r, SL_GPU_P_BATCHES), 4);
	CU_ASSERT_EQUAL(sl_gpu_ring_drain(r, 20 * MS), -ETIMEDOUT);

	/* The consumer frees the ring; the refused fragments go again. */
	CU_ASSERT_EQUAL(sl_gpu_ring_start(r), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_drain(r, LONG_WAIT), 0);
	for (uint32_t i = 4; i < 7; i++)
		CU_ASSERT_EQUAL(
			gpu_test_tx(r, i, 0, SL_GPU_FRAG_END, 0, one, 1), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_drain(r, LONG_WAIT), 0);
	for (uint32_t i = 0; i < 7; i++)
		check_stream(r, i, one, 1, SL_GPU_STREAM_COMPLETE, 0, 1);
	CU_ASSERT_EQUAL(sl_gpu_ring_pstat(r, SL_GPU_P_DROP_RING_FULL), 4);
	CU_ASSERT_EQUAL(sl_gpu_ring_pstat(r, SL_GPU_P_BATCHES), 5);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_FRAGS), 7);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_BATCHES), 5);
	sl_gpu_ring_destroy(r);

	/* Packing: 32-byte records, four to a 128-byte batch. */
	c = small_cfg();
	c.batch_bytes = 128;
	r = ring_new(&c);
	for (uint32_t i = 0; i < 10; i++)
		CU_ASSERT_EQUAL(gpu_test_tx(r, 0, i,
					    i == 9 ? SL_GPU_FRAG_END : 0, 0,
					    one, 1),
				0);
	CU_ASSERT_EQUAL(sl_gpu_ring_pstat(r, SL_GPU_P_BATCHES), 2);
	CU_ASSERT_EQUAL(sl_gpu_tx_flush(r), 1);
	CU_ASSERT_EQUAL(sl_gpu_tx_flush(r), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_pstat(r, SL_GPU_P_BATCHES), 3);
	CU_ASSERT_EQUAL(sl_gpu_ring_start(r), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_drain(r, LONG_WAIT), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_FRAGS), 10);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_TOKENS), 10);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_STREAMS_COMPLETE), 1);
	sl_gpu_ring_destroy(r);
}

static void
test_bounds(void)
{
	struct sl_gpu_ring_cfg c = small_cfg();
	const struct tok a5[] = {
		{1, "a"}, {2, "a"}, {3, "a"}, {4, "a"}, {5, "a"}};
	const struct tok ten[] = {{9, "0123456789"}},
			 seven[] = {{9, "abcdefg"}};
	uint8_t big[600] = {0}, bad[16];
	struct sl_gpu_frag_in f = {.stream = 0, .payload = big};
	struct sl_gpu_ring *r;
	uint32_t cap, off = 0;
	uint8_t *area;

	c.streams = 4;
	c.stream_tokens = 8;
	c.stream_text = 16;
	c.batch_bytes = 512;
	r = ring_new(&c);

	/* Refused by the producer, counted, nothing queued. */
	f.stream = 4;
	CU_ASSERT_EQUAL(sl_gpu_tx(r, &f), -EINVAL);
	f.stream = 0;
	f.flags = SL_FRAG_F_CHILDREN;
	CU_ASSERT_EQUAL(sl_gpu_tx(r, &f), -EINVAL);
	f.flags = 0;
	f.payload_len = 512 - 24 + 1;
	CU_ASSERT_EQUAL(sl_gpu_tx(r, &f), -EMSGSIZE);
	f.payload_len = 0;
	f.payload = NULL;
	f.payload_len = 1;
	CU_ASSERT_EQUAL(sl_gpu_tx(r, &f), -EINVAL);
	CU_ASSERT_EQUAL(sl_gpu_ring_pstat(r, SL_GPU_P_DROP_BAD_STREAM), 1);
	CU_ASSERT_EQUAL(sl_gpu_ring_pstat(r, SL_GPU_P_DROP_BAD_ARG), 2);
	CU_ASSERT_EQUAL(sl_gpu_ring_pstat(r, SL_GPU_P_DROP_TOO_BIG), 1);
	CU_ASSERT_EQUAL(sl_gpu_ring_pstat(r, SL_GPU_P_FRAGS), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_pstat(r, SL_GPU_P_BATCHES), 0);

	/* Refused by the consumer, fragment by fragment, in one batch. */
	area = sl_gpu_batch_claim(r, &cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(area);
	off += put_toks(area, off, 1000, 0, 0, a5, 1); /* BAD_STREAM */
	off += put_toks(area, off, 0, 0, 0, a5, 5);    /* ok */
	off += put_toks(area, off, 0, 1, 0, a5, 5);    /* 10 > 8 */
	off += put_toks(area, off, 1, 0, 0, ten, 1);   /* ok */
	off += put_toks(area, off, 1, 1, 0, seven, 1); /* 17 > 16 */
	off += put_toks(area, off, 2, 0, 0, a5, 1);    /* ok */
	((struct sl_gpu_frag *)(area + off - 32))->token_count = 2;
	/* A token whose text runs 200 bytes past a 10-byte payload. */
	memset(bad, 0, sizeof(bad));
	bad[4] = 0;
	bad[5] = 200;
	off += put_rec(area, off, 3, 0, 0, 1, bad, 10);
	CU_ASSERT_FATAL(off <= cap);
	CU_ASSERT_EQUAL(sl_gpu_batch_publish(r, 7, off), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_start(r), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_drain(r, LONG_WAIT), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_BATCHES), 1);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_FRAGS), 2);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_TOKENS), 6);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_TEXT_BYTES), 15);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_DROP_BAD_STREAM), 1);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_DROP_TOKEN_OVERFLOW), 1);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_DROP_TEXT_OVERFLOW), 1);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_DROP_BAD_TOKENS), 2);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_STREAMS_ABORTED), 4);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_STREAMS_COMPLETE), 0);
	check_stream(r, 0, a5, 5, SL_GPU_STREAM_ABORTED, SL_ABORT_TOO_LONG, 1);
	check_stream(r, 1, ten, 1, SL_GPU_STREAM_ABORTED, SL_ABORT_TOO_LONG, 1);
	check_stream(r, 2, NULL, 0, SL_GPU_STREAM_ABORTED, SL_ABORT_LOST, 0);
	check_stream(r, 3, NULL, 0, SL_GPU_STREAM_ABORTED, SL_ABORT_LOST, 0);

	/* Batches refused whole: the consumer reads nothing past them. */
	area = sl_gpu_batch_claim(r, &cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(area);
	put_toks(area, 0, 0, 0, 0, a5, 1);
	CU_ASSERT_EQUAL(sl_gpu_batch_publish(r, 1, cap + 64), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_drain(r, LONG_WAIT), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_batch_error(r, 1), SL_GPU_BATCH_E_BYTES);

	area = sl_gpu_batch_claim(r, &cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(area);
	off = put_toks(area, 0, 0, 0, 0, a5, 1);
	CU_ASSERT_EQUAL(sl_gpu_batch_publish(r, 2, off), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_drain(r, LONG_WAIT), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_batch_error(r, 2), SL_GPU_BATCH_E_FRAMING);

	area = sl_gpu_batch_claim(r, &cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(area);
	off = put_toks(area, 0, 0, 0, 0, a5, 1);
	CU_ASSERT_EQUAL(sl_gpu_batch_publish(r, 1, off + 8), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_drain(r, LONG_WAIT), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_batch_error(r, 3), SL_GPU_BATCH_E_COUNT);

	area = sl_gpu_batch_claim(r, &cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(area);
	off = put_toks(area, 0, 0, 0, 0, a5, 1);
	((struct sl_gpu_frag *)area)->rec_len = 0xfffffff8u;
	CU_ASSERT_EQUAL(sl_gpu_batch_publish(r, 1, off), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_drain(r, LONG_WAIT), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_batch_error(r, 4), SL_GPU_BATCH_E_FRAMING);

	area = sl_gpu_batch_claim(r, &cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(area);
	off = put_toks(area, 0, 0, 0, 0, a5, 1);
	((struct sl_gpu_frag *)area)->payload_len = 0xffff;
	CU_ASSERT_EQUAL(sl_gpu_batch_publish(r, 1, off), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_drain(r, LONG_WAIT), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_batch_error(r, 5), SL_GPU_BATCH_E_FRAMING);

	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_BATCH_ERRORS), 5);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_DROP_BATCH), 6);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_BATCHES), 1);
	CU_ASSERT_EQUAL(sl_gpu_ring_pstat(r, SL_GPU_P_ERRORS_SEEN), 5);
	/* Nothing of the refused batches reached stream 0. */
	check_stream(r, 0, a5, 5, SL_GPU_STREAM_ABORTED, SL_ABORT_TOO_LONG, 1);
	sl_gpu_ring_destroy(r);
}

static void
test_sequence(void)
{
	struct sl_gpu_ring_cfg c = small_cfg();
	struct sl_gpu_ring *r = ring_new(&c);
	const struct tok t1[] = {{11, "one"}}, t2[] = {{22, "two"}};
	const struct tok t12[] = {{11, "one"}, {22, "two"}};
	uint32_t cap, off = 0;
	uint8_t *area;

	CU_ASSERT_EQUAL(sl_gpu_ring_start(r), 0);
	area = sl_gpu_batch_claim(r, &cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(area);
	off += put_toks(area, off, 0, 0, 0, t1, 1);    /* opens 0 */
	off += put_toks(area, off, 0, 0, 0, t2, 1);    /* STREAM_BUSY */
	off += put_toks(area, off, 0, 2, 0, t2, 1);    /* SEQ_GAP, aborts 0 */
	off += put_toks(area, off, 0, 3, 0, t2, 1);    /* STREAM_CLOSED */
	off += put_toks(area, off, 1, 0, 0x80, t1, 1); /* BAD_FLAGS */
	off += put_toks(area, off, 1, 1, 0, t1, 1);    /* STREAM_CLOSED */
	off += put_toks(area, off, 2, 0, 0, t1, 1);    /* opens 2 */
	off += put_toks(area, off, 2, 1, SL_FRAG_F_CHILDREN, t2, 1);
	CU_ASSERT_EQUAL(sl_gpu_batch_publish(r, 8, off), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_drain(r, LONG_WAIT), 0);
	check_stream(r, 0, t1, 1, SL_GPU_STREAM_ABORTED, SL_ABORT_LOST, 1);
	check_stream(r, 1, NULL, 0, SL_GPU_STREAM_EMPTY, 0, 0);
	check_stream(r, 2, t1, 1, SL_GPU_STREAM_ABORTED, SL_ABORT_LOST, 1);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_FRAGS), 2);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_DROP_STREAM_BUSY), 1);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_DROP_SEQ_GAP), 1);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_DROP_STREAM_CLOSED), 2);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_DROP_BAD_FLAGS), 2);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_STREAMS_ABORTED), 2);

	/* An aborted slot opens again at seq 0 and completes. */
	CU_ASSERT_EQUAL(gpu_test_tx(r, 0, 0, 0, 0, t1, 1), 0);
	CU_ASSERT_EQUAL(gpu_test_tx(r, 0, 1, SL_GPU_FRAG_END, 0, t2, 1), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_drain(r, LONG_WAIT), 0);
	check_stream(r, 0, t12, 2, SL_GPU_STREAM_COMPLETE, 0, 2);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_FRAGS), 4);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_STREAMS_COMPLETE), 1);
	sl_gpu_ring_destroy(r);
}

static void
test_quit_and_timeout(void)
{
	struct sl_gpu_ring_cfg c = small_cfg();
	const struct tok one[] = {{3, "q"}};
	struct sl_gpu_ring *r;

	/* Idle timeout: the consumer leaves; a publish starts it again. */
	c.idle_timeout_ns = 20 * MS;
	r = ring_new(&c);
	CU_ASSERT_EQUAL(sl_gpu_ring_start(r), 0);
	CU_ASSERT(wait_consumer(r, SL_GPU_CONSUMER_TIMED_OUT));
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_IDLE_TIMEOUTS), 1);
	CU_ASSERT_EQUAL(gpu_test_tx(r, 0, 0, SL_GPU_FRAG_END, 0, one, 1), 0);
	CU_ASSERT_EQUAL(sl_gpu_tx_flush(r), 1);
	CU_ASSERT_EQUAL(sl_gpu_ring_pstat(r, SL_GPU_P_RESTARTS), 1);
	CU_ASSERT_EQUAL(sl_gpu_ring_drain(r, LONG_WAIT), 0);
	check_stream(r, 0, one, 1, SL_GPU_STREAM_COMPLETE, 0, 1);
	CU_ASSERT(wait_consumer(r, SL_GPU_CONSUMER_TIMED_OUT));
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_IDLE_TIMEOUTS), 2);
	CU_ASSERT_EQUAL(sl_gpu_ring_start(r), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_stop(r, LONG_WAIT), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_consumer_state(r), SL_GPU_CONSUMER_STOPPED);
	sl_gpu_ring_destroy(r);

	/* Quit: stop returns, READY batches wait for the next start. */
	c = small_cfg();
	r = ring_new(&c);
	CU_ASSERT_EQUAL(sl_gpu_ring_stop(r, LONG_WAIT), 0); /* not running */
	CU_ASSERT_EQUAL(sl_gpu_ring_start(r), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_stop(r, LONG_WAIT), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_consumer_state(r), SL_GPU_CONSUMER_STOPPED);
	CU_ASSERT_EQUAL(gpu_test_tx(r, 1, 0, SL_GPU_FRAG_END, 0, one, 1), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_drain(r, 20 * MS), -ETIMEDOUT);
	CU_ASSERT_EQUAL(sl_gpu_ring_batch_state(r, 0), SL_GPU_BATCH_READY);
	CU_ASSERT_EQUAL(sl_gpu_ring_pstat(r, SL_GPU_P_RESTARTS), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_start(r), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_drain(r, LONG_WAIT), 0);
	check_stream(r, 1, one, 1, SL_GPU_STREAM_COMPLETE, 0, 1);
	sl_gpu_ring_destroy(r);

	/* Stop's timeout: a consumer busy for 400 ms on one batch (the
	 * cuda kernel honours consumer_delay_ns as the host thread does). */
	c = small_cfg();
	c.consumer_delay_ns = 400 * MS;
	r = ring_new(&c);
	CU_ASSERT_EQUAL(sl_gpu_ring_start(r), 0);
	CU_ASSERT_EQUAL(gpu_test_tx(r, 2, 0, SL_GPU_FRAG_END, 0, one, 1), 0);
	CU_ASSERT_EQUAL(sl_gpu_tx_flush(r), 1);
	gpu_test_nap_us(100000);
	CU_ASSERT_EQUAL(sl_gpu_ring_stop(r, 10 * MS), -ETIMEDOUT);
	CU_ASSERT_EQUAL(sl_gpu_ring_stop(r, LONG_WAIT), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_consumer_state(r), SL_GPU_CONSUMER_STOPPED);
	/* It finished the batch it held, then left. */
	CU_ASSERT_EQUAL(sl_gpu_ring_batch_state(r, 0), SL_GPU_BATCH_DONE);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_FRAGS), 1);
	sl_gpu_ring_destroy(r);
}

/*
 * Torture: one ring per producer thread, each with its own consumer;
 * ring 0's consumer is slow. Random bursts of fragments to random
 * streams, each stream ending with END (or ABORT for every fourth slot);
 * a refused fragment is retried until the consumer makes room. Token
 * content is a function of (ring, stream, seq), replayed to check.
 */
#define T_RINGS 3
#define T_BURSTS 1000
#define T_STREAMS 16
#define T_TOKENS 4096
#define T_TEXT 16384

struct torture {
	struct sl_gpu_ring *r;
	unsigned int ring;
	uint64_t refusals, frags, tokens, text, other_errors;
	uint32_t seq[T_STREAMS];
};

static uint32_t
mix(uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
	uint32_t h = a * 0x9e3779b1u ^ b * 0x85ebca77u ^ c * 0xc2b2ae3du ^
		     d * 0x27d4eb2fu;

	h ^= h >> 15;
	h *= 0x2c1b3c6du;
	h ^= h >> 12;
	return h;
}

/* Tokens of fragment (ring, stream, seq): 0..5 tokens of 0..7 bytes. */
static unsigned int
gen_frag(unsigned int ring, uint32_t stream, uint32_t seq, uint8_t *payload,
	 uint16_t *plen, uint32_t *text_bytes)
{
	unsigned int n = mix(ring, stream, seq, 0xffff) % 6;
	uint32_t off = 0, text = 0;

	for (unsigned int i = 0; i < n; i++) {
		uint32_t id = mix(ring, stream, seq, i);
		unsigned int len = id % 8;

		payload[off] = (uint8_t)(id >> 24);
		payload[off + 1] = (uint8_t)(id >> 16);
		payload[off + 2] = (uint8_t)(id >> 8);
		payload[off + 3] = (uint8_t)id;
		payload[off + 4] = 0;
		payload[off + 5] = (uint8_t)len;
		for (unsigned int j = 0; j < len; j++)
			payload[off + 6 + j] = (uint8_t)('a' + (id >> j) % 26);
		off += 6 + len;
		text += len;
	}
	*plen = (uint16_t)off;
	*text_bytes = text;
	return n;
}

static int
torture_send(struct torture *t, uint32_t stream, uint8_t flags)
{
	uint8_t payload[6 * 13];
	struct sl_gpu_frag_in f = {.stream = stream, .flags = flags};
	uint32_t text;
	int rc;

	f.seq = t->seq[stream];
	f.token_count = (uint16_t)gen_frag(t->ring, stream, f.seq, payload,
					   &f.payload_len, &text);
	f.payload = payload;
	f.abort_reason = flags & SL_GPU_FRAG_ABORT ? SL_ABORT_CLIENT : 0;
	while ((rc = sl_gpu_tx(t->r, &f)) == -ENOBUFS) {
		t->refusals++;
		if (sl_gpu_tx_reclaim(t->r) == 0)
			gpu_test_nap_us(20);
	}
	if (rc != 0) {
		t->other_errors++;
		return rc;
	}
	t->seq[stream]++;
	t->frags++;
	t->tokens += f.token_count;
	t->text += text;
	return 0;
}

static void *
torture_producer(void *arg)
{
	struct torture *t = arg;
	uint32_t rng = 0x12345u + t->ring;

	for (unsigned int b = 0; b < T_BURSTS; b++) {
		rng = mix(rng, b, t->ring, 7);
		for (unsigned int k = 0; k <= rng % 4; k++)
			torture_send(t, mix(rng, k, 1, 2) % T_STREAMS, 0);
		if (sl_gpu_tx_flush(t->r) < 0)
			t->other_errors++;
	}
	for (uint32_t s = 0; s < T_STREAMS; s++)
		torture_send(t, s,
			     s % 4 == 3 ? SL_GPU_FRAG_ABORT : SL_GPU_FRAG_END);
	if (sl_gpu_ring_drain(t->r, LONG_WAIT) != 0)
		t->other_errors++;
	return NULL;
}

static void
torture_check_stream(struct torture *t, uint32_t s, uint32_t *ids,
		     uint32_t *offs, uint8_t *text)
{
	uint8_t payload[6 * 13];
	struct sl_gpu_stream m;
	uint32_t tok = 0, toff = 0, bad = 0;

	CU_ASSERT_EQUAL_FATAL(sl_gpu_ring_stream_read(t->r, s, &m, ids, offs,
						      T_TOKENS, text, T_TEXT),
			      0);
	CU_ASSERT_EQUAL(m.state, s % 4 == 3 ? SL_GPU_STREAM_ABORTED
					    : SL_GPU_STREAM_COMPLETE);
	CU_ASSERT_EQUAL(m.abort_reason, s % 4 == 3 ? SL_ABORT_CLIENT : 0);
	CU_ASSERT_EQUAL(m.frags, t->seq[s]);
	CU_ASSERT_EQUAL(m.epoch, 1);
	for (uint32_t seq = 0; seq < t->seq[s]; seq++) {
		uint16_t plen;
		uint32_t tb, off = 0;
		unsigned int n = gen_frag(t->ring, s, seq, payload, &plen, &tb);

		for (unsigned int i = 0; i < n; i++, tok++) {
			uint32_t len = payload[off + 5];

			if (tok >= m.tokens || toff + len > m.text_len ||
			    ids[tok] != mix(t->ring, s, seq, i) ||
			    offs[tok] != toff ||
			    memcmp(text + toff, payload + off + 6, len) != 0)
				bad++;
			toff += len;
			off += 6 + len;
		}
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(m.tokens, tok);
	CU_ASSERT_EQUAL(m.text_len, toff);
}

static void
test_torture(void)
{
	struct torture t[T_RINGS];
	pthread_t th[T_RINGS];
	uint32_t *ids = malloc(T_TOKENS * sizeof(*ids));
	uint32_t *offs = malloc(T_TOKENS * sizeof(*offs));
	uint8_t *text = malloc(T_TEXT);

	CU_ASSERT_FATAL(ids != NULL && offs != NULL && text != NULL);
	memset(t, 0, sizeof(t));
	for (unsigned int i = 0; i < T_RINGS; i++) {
		struct sl_gpu_ring_cfg c = {
			.batches = 8,
			.batch_bytes = 512,
			.streams = T_STREAMS,
			.stream_tokens = T_TOKENS,
			.stream_text = T_TEXT,
			.consumer_delay_ns = i == 0 ? 100000 : 0,
		};

		t[i].ring = i;
		t[i].r = ring_new(&c);
		CU_ASSERT_EQUAL_FATAL(sl_gpu_ring_start(t[i].r), 0);
	}
	for (unsigned int i = 0; i < T_RINGS; i++)
		CU_ASSERT_EQUAL_FATAL(
			pthread_create(&th[i], NULL, torture_producer, &t[i]),
			0);
	for (unsigned int i = 0; i < T_RINGS; i++)
		pthread_join(th[i], NULL);
	for (unsigned int i = 0; i < T_RINGS; i++) {
		struct sl_gpu_ring *r = t[i].r;

		CU_ASSERT_EQUAL(t[i].other_errors, 0);
		CU_ASSERT_EQUAL(sl_gpu_ring_pstat(r, SL_GPU_P_DROP_RING_FULL),
				t[i].refusals);
		CU_ASSERT_EQUAL(sl_gpu_ring_pstat(r, SL_GPU_P_FRAGS),
				t[i].frags);
		CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_FRAGS),
				t[i].frags);
		CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_TOKENS),
				t[i].tokens);
		CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_TEXT_BYTES),
				t[i].text);
		CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_BATCHES),
				sl_gpu_ring_pstat(r, SL_GPU_P_BATCHES));
		CU_ASSERT_EQUAL(sl_gpu_ring_pstat(r, SL_GPU_P_RECYCLED),
				sl_gpu_ring_pstat(r, SL_GPU_P_BATCHES));
		CU_ASSERT(sl_gpu_ring_pstat(r, SL_GPU_P_BATCHES) >= T_BURSTS);
		CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_STREAMS_COMPLETE),
				T_STREAMS - T_STREAMS / 4);
		CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_STREAMS_ABORTED),
				T_STREAMS / 4);
		CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_BATCH_ERRORS), 0);
		for (int s = SL_GPU_C_DROP_BAD_STREAM; s < SL_GPU_C_MAX; s++)
			CU_ASSERT_EQUAL(
				sl_gpu_ring_cstat(r, (enum sl_gpu_cstat)s), 0);
		for (uint32_t s = 0; s < T_STREAMS; s++)
			torture_check_stream(&t[i], s, ids, offs, text);
		printf("\n  ring %u: %llu fragments, %llu tokens, %llu "
		       "batches, %llu refusals (ring full)",
		       i, (unsigned long long)t[i].frags,
		       (unsigned long long)t[i].tokens,
		       (unsigned long long)sl_gpu_ring_pstat(r,
							     SL_GPU_P_BATCHES),
		       (unsigned long long)t[i].refusals);
	}
	/* The slow consumer must have pushed back. */
	CU_ASSERT(t[0].refusals > 0);
	for (unsigned int i = 0; i < T_RINGS; i++)
		sl_gpu_ring_destroy(t[i].r);
	free(ids);
	free(offs);
	free(text);
}

/*
 * cuda only: the embedded module loaded (the context exists), the token
 * buffers are device memory (no CPU address) and the ring host-mapped,
 * and a kernel launched on an empty ring leaves on quit within a second.
 */
static void
test_cuda_module(void)
{
	struct sl_gpu_ring_cfg c = small_cfg();
	struct sl_gpu_ring *r = ring_new(&c);
	char name[128] = "";

	CU_ASSERT_EQUAL(sl_gpu_cuda_built(), 1);
	CU_ASSERT_EQUAL(sl_gpu_cuda_device_name(g_ctx, name, sizeof(name)), 0);
	CU_ASSERT_NOT_EQUAL(name[0], '\0');
	CU_ASSERT_PTR_NULL(r->tokens.host);
	CU_ASSERT(r->tokens.dev != 0);
	CU_ASSERT(r->ring.host != NULL && r->ring.dev != 0);
	CU_ASSERT(r->status.host != NULL && r->status.dev != 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_start(r), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_consumer_state(r), SL_GPU_CONSUMER_RUNNING);
	CU_ASSERT_EQUAL(sl_gpu_ring_stop(r, 1000 * MS), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_consumer_state(r), SL_GPU_CONSUMER_STOPPED);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_BATCHES), 0);
	sl_gpu_ring_destroy(r);
}

int
main(int argc, char **argv)
{
	CU_pSuite s;
	unsigned int failures;

	if (argc > 1 && strcmp(argv[1], "cuda") == 0) {
		struct sl_gpu_probe p;

		if (sl_gpu_probe("cuda", &p) != 0) {
			printf("SKIP: %s\n", p.reason);
			return SKIP;
		}
		g_backend = SL_GPU_BACKEND_CUDA;
	} else if (argc > 1 && strcmp(argv[1], "host") != 0) {
		fprintf(stderr, "usage: test_gpu_ring [host|cuda]\n");
		return 2;
	}
	if (g_backend == SL_GPU_BACKEND_CUDA) {
		char why[256];

		g_ctx = sl_gpu_cuda_open(why, sizeof(why));
		if (g_ctx == NULL && (errno == ENOTSUP || errno == ENODEV)) {
			printf("SKIP: %s\n", why);
			return SKIP;
		}
		if (g_ctx == NULL) {
			fprintf(stderr, "cuda backend: %s\n", why);
			return 1;
		}
		printf("cuda backend: %s\n", why);
	} else {
		g_ctx = sl_gpu_open(g_backend);
	}
	if (g_ctx == NULL) {
		perror("sl_gpu_open");
		return 1;
	}
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite(g_backend == SL_GPU_BACKEND_CUDA ? "gpu_ring_cuda"
							  : "gpu_ring_host",
			 NULL, NULL);
	CU_add_test(s, "config bounds", test_config_bounds);
	CU_add_test(s, "state machine", test_state_machine);
	CU_add_test(s, "scatter exact", test_scatter_exact);
	CU_add_test(s, "ring full", test_ring_full);
	CU_add_test(s, "bounds", test_bounds);
	CU_add_test(s, "sequence", test_sequence);
	CU_add_test(s, "quit and timeout", test_quit_and_timeout);
	CU_add_test(s, "torture", test_torture);
	if (g_backend == SL_GPU_BACKEND_CUDA)
		CU_add_test(s, "cuda module and memory", test_cuda_module);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	sl_gpu_close(g_ctx);
	return failures == 0 ? 0 : 1;
}
