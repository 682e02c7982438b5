/* SPDX-License-Identifier: MIT */
/*
 * sl_gpu_ring_layout.h - the token ring as it lies in memory, and the
 * consumer's work on one batch, shared by every GPU backend.
 *
 * The host backend runs sl_gpu_batch_consume() on a CPU thread; the cuda
 * backend is meant to compile this same header with nvcc into its
 * persistent kernel. Hence: fixed-width fields, offsets instead of
 * pointers inside shared memory, no libc beyond memcpy, and the few
 * cross-agent loads and stores behind helpers that are C11 atomics on the
 * host and volatile accesses with system-scope fences on the device.
 *
 * Three regions (gpu/README.md has the picture):
 *   ring    CPU writes, consumer reads: batch headers, then the batches'
 *           fragment records (cfg.batches * cfg.batch_bytes).
 *   status  consumer writes, CPU reads: quit flag, consumer state,
 *           counters.
 *   tokens  consumer writes, engine reads: per-stream state, token ids,
 *           text offsets and text bytes.
 *
 * A batch goes FREE -> READY (producer, release) -> DONE or ERROR
 * (consumer, release) -> FREE (producer, after an acquire load of DONE or
 * ERROR). Nothing in a batch is trusted by the consumer: every length,
 * count and stream slot is checked where it is used, and a batch whose
 * framing does not fit is refused whole (ERROR) without being read past
 * its bounds.
 */
#ifndef SL_GPU_RING_LAYOUT_H
#define SL_GPU_RING_LAYOUT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__CUDACC__)
#define SL_GPU_FN static inline __host__ __device__
#define SL_GPU_ATOMIC(t) t
#else
#include <stdatomic.h>
#define SL_GPU_FN static inline
#define SL_GPU_ATOMIC(t) _Atomic t
#endif

/* Bounds of a ring's configuration (sl_gpu_ring_create checks them). */
#define SL_GPU_RING_BATCHES_MAX 4096u     /* power of two, at least 2 */
#define SL_GPU_BATCH_BYTES_MAX (1u << 20) /* multiple of 64 */
#define SL_GPU_STREAMS_MAX 65536u
#define SL_GPU_STREAM_TOKENS_MAX (1u << 20)
#define SL_GPU_STREAM_TEXT_MAX (1u << 24)

/* Fragment flags in a record: the wire's END and ABORT (same values). */
#define SL_GPU_FRAG_END 0x01u
#define SL_GPU_FRAG_ABORT 0x02u
#define SL_GPU_FRAG_FLAGS (SL_GPU_FRAG_END | SL_GPU_FRAG_ABORT)

/* Abort reasons the consumer writes itself (enum sl_abort_reason). */
#define SL_GPU_ABORT_LOST 7u      /* a fragment of the stream was dropped */
#define SL_GPU_ABORT_TOO_LONG 10u /* the stream outgrew its buffers */

/* Wire token head: u32 id + u16 text length, big-endian (WIRE.md). */
#define SL_GPU_TOKEN_HDR_LEN 6u

enum sl_gpu_batch_state {
	SL_GPU_BATCH_FREE = 0, /* the producer may fill it */
	SL_GPU_BATCH_READY,    /* published, the consumer's to read */
	SL_GPU_BATCH_DONE,     /* consumed; the producer recycles it */
	SL_GPU_BATCH_ERROR,    /* refused whole; batch.error says why */
};

/* Why a batch was refused whole (batch.error with SL_GPU_BATCH_ERROR). */
enum sl_gpu_batch_error {
	SL_GPU_BATCH_OK = 0,
	SL_GPU_BATCH_E_BYTES,   /* bytes over cfg.batch_bytes */
	SL_GPU_BATCH_E_FRAMING, /* a record runs past bytes or is malformed */
	SL_GPU_BATCH_E_COUNT,   /* records do not add up to bytes */
	SL_GPU_BATCH_E_ORDER,   /* batch seq is not the one expected */
};

enum sl_gpu_stream_state {
	SL_GPU_STREAM_EMPTY = 0, /* never used */
	SL_GPU_STREAM_OPEN,      /* seq 0 seen, no END or ABORT yet */
	SL_GPU_STREAM_COMPLETE,  /* END delivered: tokens are final */
	SL_GPU_STREAM_ABORTED,   /* ABORT, or the consumer gave up on it */
};

enum sl_gpu_consumer_state {
	SL_GPU_CONSUMER_IDLE = 0,  /* never started */
	SL_GPU_CONSUMER_RUNNING,   /* polling or consuming */
	SL_GPU_CONSUMER_STOPPED,   /* left on the quit flag */
	SL_GPU_CONSUMER_TIMED_OUT, /* left after idle_timeout_ns without work */
	SL_GPU_CONSUMER_RESTARTING, /* the producer is starting it again */
};

/*
 * Why the consumer dropped a fragment. Each is a counter (below); a drop
 * that hits an open stream also aborts it, so a stream with a hole is
 * never reported COMPLETE.
 */
#define SL_GPU_DROPS(_)                                                        \
	_(BAD_STREAM, "stream slot out of range")                              \
	_(BAD_FLAGS, "flags other than END and ABORT")                         \
	_(BAD_TOKENS, "tokens run past the payload or miscount")               \
	_(TOKEN_OVERFLOW, "the stream's token buffer is full")                 \
	_(TEXT_OVERFLOW, "the stream's text buffer is full")                   \
	_(SEQ_GAP, "fragment out of sequence")                                 \
	_(STREAM_CLOSED, "fragment after END or ABORT")                        \
	_(STREAM_BUSY, "seq 0 for a stream slot still open")                   \
	_(BATCH, "fragment in a batch refused whole")

enum sl_gpu_drop {
	SL_GPU_DROP_NONE = 0,
#define SL_GPU_DROP_ENUM(name, text) SL_GPU_DROP_##name,
	SL_GPU_DROPS(SL_GPU_DROP_ENUM)
#undef SL_GPU_DROP_ENUM
		SL_GPU_DROP_MAX
};

/* The producer's counters (sl_gpu_ring_pstat), declared once. */
#define SL_GPU_PRODUCER_STATS(_)                                               \
	_(FRAGS, "fragments queued")                                           \
	_(TOKENS, "tokens queued (as the fragments announce them)")            \
	_(BATCHES, "batches published")                                        \
	_(RECYCLED, "batches recycled to FREE")                                \
	_(ERRORS_SEEN, "batches the consumer refused (ERROR)")                 \
	_(RESTARTS, "consumer started again after an idle timeout")            \
	_(DROP_RING_FULL, "refused: no FREE batch (backpressure)")             \
	_(DROP_TOO_BIG, "refused: fragment larger than a batch")               \
	_(DROP_BAD_STREAM, "refused: stream slot out of range")                \
	_(DROP_BAD_ARG, "refused: flags or payload inconsistent")

enum sl_gpu_pstat {
#define SL_GPU_PSTAT_ENUM(name, text) SL_GPU_P_##name,
	SL_GPU_PRODUCER_STATS(SL_GPU_PSTAT_ENUM)
#undef SL_GPU_PSTAT_ENUM
		SL_GPU_P_MAX
};

/* The consumer's counters (status.counters[]), declared once. */
#define SL_GPU_CONSUMER_STATS(_)                                               \
	_(BATCHES, "batches consumed (DONE)")                                  \
	_(BATCH_ERRORS, "batches refused whole (ERROR)")                       \
	_(FRAGS, "fragments delivered")                                        \
	_(TOKENS, "tokens delivered")                                          \
	_(TEXT_BYTES, "text bytes delivered")                                  \
	_(STREAMS_COMPLETE, "streams completed by END")                        \
	_(STREAMS_ABORTED, "streams aborted (ABORT or a drop)")                \
	_(IDLE_TIMEOUTS, "times the consumer left after idle_timeout_ns")      \
	_(DROP_BAD_STREAM, "dropped: stream slot out of range")                \
	_(DROP_BAD_FLAGS, "dropped: unknown flags")                            \
	_(DROP_BAD_TOKENS, "dropped: tokens run past the payload")             \
	_(DROP_TOKEN_OVERFLOW, "dropped: token buffer full")                   \
	_(DROP_TEXT_OVERFLOW, "dropped: text buffer full")                     \
	_(DROP_SEQ_GAP, "dropped: out of sequence")                            \
	_(DROP_STREAM_CLOSED, "dropped: after END or ABORT")                   \
	_(DROP_STREAM_BUSY, "dropped: seq 0 on an open stream")                \
	_(DROP_BATCH, "dropped: in a batch refused whole")

enum sl_gpu_cstat {
#define SL_GPU_CSTAT_ENUM(name, text) SL_GPU_C_##name,
	SL_GPU_CONSUMER_STATS(SL_GPU_CSTAT_ENUM)
#undef SL_GPU_CSTAT_ENUM
		SL_GPU_C_MAX
};

/* Drop reason -> its counter: the drops come last, in the same order. */
#define SL_GPU_C_DROP(reason) (SL_GPU_C_DROP_BAD_STREAM + (reason)-1)

struct sl_gpu_ring_cfg {
	uint32_t batches;         /* power of two, 2..SL_GPU_RING_BATCHES_MAX */
	uint32_t batch_bytes;     /* record bytes per batch, multiple of 64 */
	uint32_t streams;         /* stream slots */
	uint32_t stream_tokens;   /* tokens one stream may hold */
	uint32_t stream_text;     /* text bytes one stream may hold */
	uint64_t idle_timeout_ns; /* consumer leaves after this long without
				   * work; 0: SL_GPU_IDLE_TIMEOUT_NS */
	uint64_t consumer_delay_ns; /* tests: the consumer sleeps this long
				     * per batch (host backend only) */
};

#define SL_GPU_IDLE_TIMEOUT_NS 1000000000ull /* 1 s */

/* One batch header in the ring region (one cache line each). */
struct sl_gpu_batch {
	SL_GPU_ATOMIC(uint32_t) state; /* enum sl_gpu_batch_state */
	uint32_t frags;                /* producer: records in the batch */
	uint32_t bytes;                /* producer: record bytes used */
	uint32_t error;                /* consumer: enum sl_gpu_batch_error */
	uint64_t seq;                  /* producer: batch number, from 0 */
	uint32_t delivered;            /* consumer: fragments delivered */
	uint32_t dropped;              /* consumer: fragments dropped */
	uint8_t pad[32];
};

/*
 * One fragment record in a batch: this header, then payload_len bytes of
 * wire-format tokens (u32 id, u16 text length, text; big-endian), padded
 * to rec_len, a multiple of 8.
 */
struct sl_gpu_frag {
	uint32_t stream; /* stream slot, < cfg.streams */
	uint32_t seq;    /* fragment number in the stream, from 0 */
	uint8_t flags;   /* SL_GPU_FRAG_END, SL_GPU_FRAG_ABORT */
	uint8_t abort_reason;
	uint16_t token_count;
	uint16_t payload_len;
	uint16_t reserved;
	uint32_t rec_len;
	uint32_t reserved2;
};

#define SL_GPU_FRAG_ALIGN 8u
#define SL_GPU_FRAG_REC_LEN(payload_len)                                       \
	(((uint32_t)sizeof(struct sl_gpu_frag) + (uint32_t)(payload_len) +     \
	  SL_GPU_FRAG_ALIGN - 1) &                                             \
	 ~(SL_GPU_FRAG_ALIGN - 1))

/* Consumer-written status; the quit flag is the one CPU-written field. */
struct sl_gpu_status {
	SL_GPU_ATOMIC(uint32_t) quit;       /* CPU sets 1: leave at next poll */
	SL_GPU_ATOMIC(uint32_t) consumer;   /* enum sl_gpu_consumer_state */
	SL_GPU_ATOMIC(uint64_t) next_batch; /* consumer: next batch seq */
	SL_GPU_ATOMIC(uint64_t) counters[SL_GPU_C_MAX];
};

/* Per-stream state in the tokens region. */
struct sl_gpu_stream {
	SL_GPU_ATOMIC(uint32_t)
	state;             /* enum sl_gpu_stream_state; stored with
					* release when final */
	uint32_t epoch;    /* bumped each time seq 0 reopens the slot */
	uint32_t tokens;   /* ids[] and text_off[] entries used */
	uint32_t text_len; /* text bytes used */
	uint32_t next_seq; /* seq the next fragment must carry */
	uint32_t frags;    /* fragments delivered */
	uint32_t abort_reason;
	uint32_t reserved;
};

/*
 * Where each array of the tokens region starts (bytes from its base):
 * streams[cfg.streams], then ids[cfg.streams][cfg.stream_tokens],
 * text_off[cfg.streams][cfg.stream_tokens] (offset of each token's text
 * in its stream's text; the text ends where the next one starts, or at
 * text_len), text[cfg.streams][cfg.stream_text].
 */
struct sl_gpu_tokens_layout {
	uint64_t ids_off;
	uint64_t text_off_off;
	uint64_t text_off;
	uint64_t len;
};

SL_GPU_FN void
sl_gpu_tokens_layout(const struct sl_gpu_ring_cfg *cfg,
		     struct sl_gpu_tokens_layout *out)
{
	uint64_t slots = (uint64_t)cfg->streams * cfg->stream_tokens;

	out->ids_off = (uint64_t)cfg->streams * sizeof(struct sl_gpu_stream);
	out->text_off_off = out->ids_off + slots * sizeof(uint32_t);
	out->text_off = out->text_off_off + slots * sizeof(uint32_t);
	out->len = out->text_off + (uint64_t)cfg->streams * cfg->stream_text;
}

/* What the consumer sees, in its own address space. */
struct sl_gpu_view {
	struct sl_gpu_ring_cfg cfg;
	struct sl_gpu_batch *batches; /* cfg.batches headers */
	uint8_t *batch_data;          /* cfg.batches * cfg.batch_bytes */
	struct sl_gpu_status *status;
	struct sl_gpu_stream *streams;
	uint32_t *ids;
	uint32_t *text_off;
	uint8_t *text;
};

/* Counts of one batch, added to status.counters[] by the backend. */
struct sl_gpu_tally {
	uint64_t c[SL_GPU_C_MAX];
};

/* Cross-agent loads and stores. */
SL_GPU_FN uint32_t
sl_gpu_load_acquire(SL_GPU_ATOMIC(uint32_t) * p)
{
#if defined(__CUDA_ARCH__)
	uint32_t v = *(volatile uint32_t *)p;

	__threadfence_system();
	return v;
#elif defined(__CUDACC__)
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
#else
	return atomic_load_explicit(p, memory_order_acquire);
#endif
}

SL_GPU_FN void
sl_gpu_store_release(SL_GPU_ATOMIC(uint32_t) * p, uint32_t v)
{
#if defined(__CUDA_ARCH__)
	__threadfence_system();
	*(volatile uint32_t *)p = v;
#elif defined(__CUDACC__)
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
#else
	atomic_store_explicit(p, v, memory_order_release);
#endif
}

SL_GPU_FN uint32_t
sl_gpu_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

SL_GPU_FN uint32_t
sl_gpu_be16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | (uint32_t)p[1];
}

/* A drop on an open stream ends it: a stream with a hole never completes. */
SL_GPU_FN void
sl_gpu_stream_abort(struct sl_gpu_stream *s, uint32_t reason,
		    struct sl_gpu_tally *t)
{
	if (sl_gpu_load_acquire(&s->state) != SL_GPU_STREAM_OPEN)
		return;
	s->abort_reason = reason;
	sl_gpu_store_release(&s->state, SL_GPU_STREAM_ABORTED);
	t->c[SL_GPU_C_STREAMS_ABORTED]++;
}

/*
 * sl_gpu_tokens_walk - check @count wire tokens in @len bytes at @p: every
 * head and text inside, nothing left over. Return the text bytes in
 * *@text and 0, or -1.
 */
SL_GPU_FN int
sl_gpu_tokens_walk(const uint8_t *p, uint32_t len, uint32_t count,
		   uint32_t *text)
{
	uint32_t off = 0, bytes = 0;

	for (uint32_t i = 0; i < count; i++) {
		uint32_t tl;

		if (len - off < SL_GPU_TOKEN_HDR_LEN)
			return -1;
		tl = sl_gpu_be16(p + off + 4);
		off += SL_GPU_TOKEN_HDR_LEN;
		if (len - off < tl)
			return -1;
		off += tl;
		bytes += tl;
	}
	if (off != len)
		return -1;
	*text = bytes;
	return 0;
}

/*
 * sl_gpu_frag_deliver - scatter one fragment's tokens into its stream.
 * @f: the record header; its payload follows it. The caller has checked
 * that f->payload_len bytes lie inside the batch.
 * Return: SL_GPU_DROP_NONE, or why the fragment was dropped (nothing of
 * it was written then).
 */
SL_GPU_FN enum sl_gpu_drop
sl_gpu_frag_deliver(const struct sl_gpu_view *v, const struct sl_gpu_frag *f,
		    struct sl_gpu_tally *t)
{
	const uint8_t *payload = (const uint8_t *)(f + 1);
	uint32_t cap_tok = v->cfg.stream_tokens, cap_text = v->cfg.stream_text;
	struct sl_gpu_stream *s;
	uint32_t text_bytes, state, *ids, *offs, off, ntok, tlen;
	uint8_t *text;

	if (f->stream >= v->cfg.streams)
		return SL_GPU_DROP_BAD_STREAM;
	s = &v->streams[f->stream];
	state = sl_gpu_load_acquire(&s->state);
	if (f->flags & ~SL_GPU_FRAG_FLAGS) {
		sl_gpu_stream_abort(s, SL_GPU_ABORT_LOST, t);
		return SL_GPU_DROP_BAD_FLAGS;
	}
	if (f->seq == 0) {
		if (state == SL_GPU_STREAM_OPEN)
			return SL_GPU_DROP_STREAM_BUSY;
	} else if (state != SL_GPU_STREAM_OPEN) {
		return SL_GPU_DROP_STREAM_CLOSED;
	} else if (f->seq != s->next_seq) {
		sl_gpu_stream_abort(s, SL_GPU_ABORT_LOST, t);
		return SL_GPU_DROP_SEQ_GAP;
	}
	if (f->seq == 0) {
		s->epoch++;
		s->tokens = 0;
		s->text_len = 0;
		s->next_seq = 0;
		s->frags = 0;
		s->abort_reason = 0;
		sl_gpu_store_release(&s->state, SL_GPU_STREAM_OPEN);
	}
	if (sl_gpu_tokens_walk(payload, f->payload_len, f->token_count,
			       &text_bytes) != 0) {
		sl_gpu_stream_abort(s, SL_GPU_ABORT_LOST, t);
		return SL_GPU_DROP_BAD_TOKENS;
	}
	/* s->tokens <= cap_tok and s->text_len <= cap_text hold unless
	 * someone else wrote the tokens region (it lies in a file engines
	 * map, sl_gpu_share.h): each is read once, checked, and the writes
	 * below use those values only, so none leaves the slot. */
	ntok = s->tokens;
	tlen = s->text_len;
	if (ntok > cap_tok || tlen > cap_text) {
		sl_gpu_stream_abort(s, SL_GPU_ABORT_LOST, t);
		return SL_GPU_DROP_TOKEN_OVERFLOW;
	}
	if (f->token_count > cap_tok - ntok) {
		sl_gpu_stream_abort(s, SL_GPU_ABORT_TOO_LONG, t);
		return SL_GPU_DROP_TOKEN_OVERFLOW;
	}
	if (text_bytes > cap_text - tlen) {
		sl_gpu_stream_abort(s, SL_GPU_ABORT_TOO_LONG, t);
		return SL_GPU_DROP_TEXT_OVERFLOW;
	}
	ids = v->ids + (uint64_t)f->stream * cap_tok + ntok;
	offs = v->text_off + (uint64_t)f->stream * cap_tok + ntok;
	text = v->text + (uint64_t)f->stream * cap_text;
	off = 0;
	for (uint32_t i = 0; i < f->token_count; i++) {
		uint32_t tl = sl_gpu_be16(payload + off + 4);

		ids[i] = sl_gpu_be32(payload + off);
		offs[i] = tlen;
		memcpy(text + tlen, payload + off + SL_GPU_TOKEN_HDR_LEN, tl);
		tlen += tl;
		off += SL_GPU_TOKEN_HDR_LEN + tl;
	}
	s->tokens = ntok + f->token_count;
	s->text_len = tlen;
	s->next_seq = f->seq + 1;
	s->frags++;
	t->c[SL_GPU_C_FRAGS]++;
	t->c[SL_GPU_C_TOKENS] += f->token_count;
	t->c[SL_GPU_C_TEXT_BYTES] += text_bytes;
	if (f->flags & SL_GPU_FRAG_ABORT) {
		s->abort_reason = f->abort_reason;
		sl_gpu_store_release(&s->state, SL_GPU_STREAM_ABORTED);
		t->c[SL_GPU_C_STREAMS_ABORTED]++;
	} else if (f->flags & SL_GPU_FRAG_END) {
		sl_gpu_store_release(&s->state, SL_GPU_STREAM_COMPLETE);
		t->c[SL_GPU_C_STREAMS_COMPLETE]++;
	}
	return SL_GPU_DROP_NONE;
}

/*
 * sl_gpu_batch_frame - check that @frags records tile @bytes at @data
 * exactly, each inside the batch. Return SL_GPU_BATCH_OK or the error.
 */
SL_GPU_FN enum sl_gpu_batch_error
sl_gpu_batch_frame(const struct sl_gpu_view *v, uint32_t frags, uint32_t bytes,
		   const uint8_t *data)
{
	uint32_t off = 0;

	if (bytes > v->cfg.batch_bytes)
		return SL_GPU_BATCH_E_BYTES;
	for (uint32_t i = 0; i < frags; i++) {
		const struct sl_gpu_frag *f;

		if (bytes - off < sizeof(struct sl_gpu_frag))
			return SL_GPU_BATCH_E_FRAMING;
		f = (const struct sl_gpu_frag *)(data + off);
		if (f->rec_len % SL_GPU_FRAG_ALIGN != 0 ||
		    f->rec_len < sizeof(*f) + (uint32_t)f->payload_len ||
		    f->rec_len > bytes - off)
			return SL_GPU_BATCH_E_FRAMING;
		off += f->rec_len;
	}
	return off == bytes ? SL_GPU_BATCH_OK : SL_GPU_BATCH_E_COUNT;
}

/*
 * sl_gpu_batch_consume - the consumer's work on the READY batch @idx whose
 * number should be @seq: check its framing, deliver its fragments in
 * order, count into @t. Does not change the batch state: the caller
 * publishes @t's counters, then stores the returned state with release.
 * Return: SL_GPU_BATCH_DONE or SL_GPU_BATCH_ERROR.
 */
SL_GPU_FN enum sl_gpu_batch_state
sl_gpu_batch_consume(const struct sl_gpu_view *v, uint32_t idx, uint64_t seq,
		     struct sl_gpu_tally *t)
{
	struct sl_gpu_batch *b = &v->batches[idx];
	const uint8_t *data =
		v->batch_data + (uint64_t)idx * v->cfg.batch_bytes;
	/* Read once: the checks below hold for these values. */
	uint32_t frags = b->frags, bytes = b->bytes;
	enum sl_gpu_batch_error err = SL_GPU_BATCH_OK;
	uint32_t off = 0, delivered = 0, dropped = 0;

	if (b->seq != seq)
		err = SL_GPU_BATCH_E_ORDER;
	if (err == SL_GPU_BATCH_OK)
		err = sl_gpu_batch_frame(v, frags, bytes, data);
	if (err != SL_GPU_BATCH_OK) {
		b->error = err;
		b->delivered = 0;
		b->dropped = frags;
		t->c[SL_GPU_C_BATCH_ERRORS]++;
		t->c[SL_GPU_C_DROP_BATCH] += frags;
		return SL_GPU_BATCH_ERROR;
	}
	for (uint32_t i = 0; i < frags; i++) {
		const struct sl_gpu_frag *f =
			(const struct sl_gpu_frag *)(data + off);
		enum sl_gpu_drop d = sl_gpu_frag_deliver(v, f, t);

		if (d == SL_GPU_DROP_NONE) {
			delivered++;
		} else {
			dropped++;
			t->c[SL_GPU_C_DROP(d)]++;
		}
		off += f->rec_len;
	}
	b->error = SL_GPU_BATCH_OK;
	b->delivered = delivered;
	b->dropped = dropped;
	t->c[SL_GPU_C_BATCHES]++;
	return SL_GPU_BATCH_DONE;
}

#endif /* SL_GPU_RING_LAYOUT_H */
