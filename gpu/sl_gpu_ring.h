/* SPDX-License-Identifier: MIT */
/*
 * sl_gpu_ring.h - token rings into GPU memory: the producer's API and the
 * backend choice (gpu/README.md).
 *
 * A ring carries fragments from one producer (the dataplane's gpu_tx
 * node; one ring per producer, never shared) to one consumer (a CPU
 * thread for `host`, a persistent kernel for `cuda`), which scatters each
 * fragment's tokens into its stream's token buffer. The memory layout and
 * the consumer's work are in sl_gpu_ring_layout.h, shared by both
 * backends; the backends differ only in sl_gpu_ops (sl_gpu_ops.h).
 *
 * Producer calls (sl_gpu_tx*, sl_gpu_batch_*, sl_gpu_ring_drain) must come
 * from one thread per ring. Counters may be read from any thread.
 */
#ifndef SL_GPU_RING_H
#define SL_GPU_RING_H

#include <stdint.h>

#include "sl_gpu.h"
#include "sl_gpu_ring_layout.h"

struct sl_gpu_ctx;
struct sl_gpu_ring;

/* One fragment as the producer hands it over. */
struct sl_gpu_frag_in {
	uint32_t stream; /* slot, < cfg.streams */
	uint32_t seq;    /* 0 opens the slot for a new stream */
	uint8_t flags;   /* SL_GPU_FRAG_END, SL_GPU_FRAG_ABORT */
	uint8_t abort_reason;
	uint16_t token_count;
	const uint8_t *payload; /* wire-format tokens (proto/WIRE.md) */
	uint16_t payload_len;
};

/**
 * sl_gpu_open - set up a backend.
 * @backend: SL_GPU_BACKEND_HOST or SL_GPU_BACKEND_CUDA.
 *
 * Return: a context, or NULL with errno: ENOMEM, the backend's init
 * error, or for cuda what sl_gpu_cuda_open says (ENOTSUP built without
 * nvcc, ENODEV no usable driver or device, ...).
 */
struct sl_gpu_ctx *sl_gpu_open(enum sl_gpu_backend backend);

/** sl_gpu_close - release a context whose rings are all destroyed. */
void sl_gpu_close(struct sl_gpu_ctx *ctx);

/** sl_gpu_ctx_backend - which backend @ctx runs. */
enum sl_gpu_backend sl_gpu_ctx_backend(const struct sl_gpu_ctx *ctx);

/**
 * sl_gpu_ring_create - allocate a ring, its status and its token buffers.
 * @cfg: sizes (bounds in sl_gpu_ring_layout.h). The consumer is not
 *       started.
 *
 * Return: the ring, or NULL with errno EINVAL (a size out of bounds, or
 * batches not a power of two, or batch_bytes not a multiple of 64) or
 * ENOMEM.
 */
struct sl_gpu_ring *sl_gpu_ring_create(struct sl_gpu_ctx *ctx,
				       const struct sl_gpu_ring_cfg *cfg);

/**
 * sl_gpu_ring_tokens_len - bytes of the tokens region of a ring of @cfg,
 * or 0 for a configuration sl_gpu_ring_create would refuse.
 */
size_t sl_gpu_ring_tokens_len(const struct sl_gpu_ring_cfg *cfg);

/**
 * sl_gpu_ring_destroy - stop the consumer (waiting as long as it takes)
 * and free the ring. Batches still READY are lost; drain first.
 */
void sl_gpu_ring_destroy(struct sl_gpu_ring *r);

/**
 * sl_gpu_ring_start - start the consumer.
 * Return: 0, -EALREADY if it runs, or the backend's error.
 */
int sl_gpu_ring_start(struct sl_gpu_ring *r);

/**
 * sl_gpu_ring_stop - raise the quit flag and wait up to @timeout_ns for
 * the consumer to leave. It leaves at its next poll, between batches;
 * batches still READY stay so and are consumed after a restart.
 * Return: 0 (also when it was not running), -ETIMEDOUT if it is still
 * consuming (call again to keep waiting).
 */
int sl_gpu_ring_stop(struct sl_gpu_ring *r, uint64_t timeout_ns);

/**
 * sl_gpu_tx - append a fragment to the batch being filled. A fragment that
 * does not fit publishes that batch and starts the next one. The batch is
 * published when full or at sl_gpu_tx_flush (end of a burst).
 * Return: 0; -ENOBUFS when no batch is FREE (the ring is full: the caller
 * counts a drop or pushes back, and may retry after the consumer
 * progresses); -EMSGSIZE for a fragment larger than a batch; -EINVAL for
 * a stream slot out of range or flags other than END and ABORT. Every
 * refusal is counted (SL_GPU_P_DROP_*); nothing is queued then.
 */
int sl_gpu_tx(struct sl_gpu_ring *r, const struct sl_gpu_frag_in *f);

/**
 * sl_gpu_tx_flush - publish the batch being filled (if any). If the
 * consumer left after an idle timeout, start it again (SL_GPU_P_RESTARTS).
 * Return: the number of batches published (0 or 1), or the backend's
 * error from the restart.
 */
int sl_gpu_tx_flush(struct sl_gpu_ring *r);

/**
 * sl_gpu_tx_reclaim - recycle DONE and ERROR batches to FREE, in order.
 * Return: how many were recycled.
 */
unsigned int sl_gpu_tx_reclaim(struct sl_gpu_ring *r);

/**
 * sl_gpu_ring_drain - flush, then wait up to @timeout_ns until every
 * published batch is consumed and recycled.
 * Return: 0, or -ETIMEDOUT.
 */
int sl_gpu_ring_drain(struct sl_gpu_ring *r, uint64_t timeout_ns);

/**
 * sl_gpu_batch_claim - the raw producer interface under sl_gpu_tx: claim
 * the next batch (recycling first if needed) and return its record area
 * of *@cap bytes, to be filled with struct sl_gpu_frag records. Publish
 * with sl_gpu_batch_publish. Must not be mixed with a batch sl_gpu_tx is
 * filling (flush first).
 * Return: the area, or NULL with errno ENOBUFS (ring full, counted as
 * SL_GPU_P_DROP_RING_FULL) or EBUSY (a batch is already claimed).
 */
uint8_t *sl_gpu_batch_claim(struct sl_gpu_ring *r, uint32_t *cap);

/**
 * sl_gpu_batch_publish - write @frags and @bytes into the claimed batch's
 * header and publish it READY. The values are not checked here: the
 * consumer checks them (a bad batch ends in ERROR).
 * Return: 0, or -EINVAL when no batch is claimed.
 */
int sl_gpu_batch_publish(struct sl_gpu_ring *r, uint32_t frags, uint32_t bytes);

/**
 * sl_gpu_ring_batch_state - state of batch @idx (0..cfg.batches-1), read
 * with acquire; -1 for an index out of range. sl_gpu_ring_batch_error -
 * its error field (meaningful once it is ERROR).
 */
int sl_gpu_ring_batch_state(const struct sl_gpu_ring *r, uint32_t idx);
int sl_gpu_ring_batch_error(const struct sl_gpu_ring *r, uint32_t idx);

/** sl_gpu_ring_consumer_state - enum sl_gpu_consumer_state, acquire. */
enum sl_gpu_consumer_state
sl_gpu_ring_consumer_state(const struct sl_gpu_ring *r);

/** sl_gpu_ring_pstat / sl_gpu_ring_cstat - one counter's value. */
uint64_t sl_gpu_ring_pstat(const struct sl_gpu_ring *r, enum sl_gpu_pstat s);
uint64_t sl_gpu_ring_cstat(const struct sl_gpu_ring *r, enum sl_gpu_cstat s);

/** Counter and state names ("DROP_RING_FULL", "READY"). */
const char *sl_gpu_pstat_name(enum sl_gpu_pstat s);
const char *sl_gpu_cstat_name(enum sl_gpu_cstat s);
const char *sl_gpu_batch_state_name(int state);

/**
 * sl_gpu_ring_stream_read - copy stream slot @slot out of the token
 * buffers (through the backend: device memory is not CPU-readable).
 * @meta: the slot's state, epoch, counts.
 * @ids, @text_off: up to @max_tokens entries each (either may be NULL).
 * @text: up to @max_text bytes (may be NULL).
 * The copy is consistent once the stream is COMPLETE or ABORTED (read
 * @meta first) or the ring is drained.
 * Return: 0, or -EINVAL for a slot out of range.
 */
int sl_gpu_ring_stream_read(const struct sl_gpu_ring *r, uint32_t slot,
			    struct sl_gpu_stream *meta, uint32_t *ids,
			    uint32_t *text_off, uint32_t max_tokens,
			    uint8_t *text, uint32_t max_text);

#endif /* SL_GPU_RING_H */
