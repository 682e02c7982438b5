/* SPDX-License-Identifier: MIT */
/*
 * sl_gpu_ops.h - what a GPU backend implements, and the ring as backends
 * see it. Not for users of rings (sl_gpu_ring.h is).
 *
 * The ring protocol (sl_gpu_ring.c, sl_gpu_ring_layout.h) is the same for
 * every backend; a backend only says where each region lives and how the
 * consumer runs:
 *
 *   host  every region is page-aligned heap memory, the consumer is a
 *         pthread (sl_gpu_host.c).
 *   cuda  (to come) ring: cuMemHostAlloc(DEVICEMAP) so the CPU's stores
 *         reach the kernel without a copy; status: the same; tokens:
 *         cuMemAlloc device memory, exported to the engine by CUDA IPC;
 *         start launches the persistent kernel on its own stream, stop
 *         raises status.quit and waits with cuStreamQuery until a deadline;
 *         copy_out is cuMemcpyDtoH.
 */
#ifndef SL_GPU_OPS_H
#define SL_GPU_OPS_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "sl_gpu.h"
#include "sl_gpu_ring_layout.h"

struct sl_gpu_ctx;
struct sl_gpu_ring;

/* Who writes and who reads a region decides where a backend puts it. */
enum sl_gpu_mem {
	SL_GPU_MEM_RING,   /* CPU writes, consumer reads */
	SL_GPU_MEM_STATUS, /* consumer writes, CPU reads (and the quit flag) */
	SL_GPU_MEM_TOKENS, /* consumer writes, engine reads */
};

struct sl_gpu_region {
	enum sl_gpu_mem where;
	void *host;   /* CPU address, NULL if the CPU cannot read it */
	uint64_t dev; /* the consumer's address of the same bytes */
	size_t len;
	void *cookie; /* the backend's handle */
};

struct sl_gpu_ops {
	const char *name;
	/* Set up the backend (driver, device, context); 0 or -errno. */
	int (*init)(struct sl_gpu_ctx *ctx);
	void (*fini)(struct sl_gpu_ctx *ctx);
	/* @len zeroed bytes for @where, 64-byte aligned at least. */
	int (*alloc)(struct sl_gpu_ctx *ctx, enum sl_gpu_mem where, size_t len,
		     struct sl_gpu_region *out);
	void (*free)(struct sl_gpu_ctx *ctx, struct sl_gpu_region *region);
	/* Run the consumer on r->view until status.quit or the idle timeout;
	 * status.consumer is RUNNING when start returns 0. */
	int (*start)(struct sl_gpu_ring *r);
	/* status.quit is raised; wait up to @timeout_ns for the consumer to
	 * leave; 0 or -ETIMEDOUT. Also called when it already left. */
	int (*stop)(struct sl_gpu_ring *r, uint64_t timeout_ns);
	/* Copy @len bytes at consumer address @src into host @dst. */
	int (*copy_out)(struct sl_gpu_ctx *ctx, void *dst, uint64_t src,
			size_t len);
};

extern const struct sl_gpu_ops sl_gpu_host_ops;

struct sl_gpu_ctx {
	enum sl_gpu_backend backend;
	const struct sl_gpu_ops *ops;
	void *priv; /* the backend's */
};

struct sl_gpu_ring {
	struct sl_gpu_ctx *ctx;
	struct sl_gpu_ring_cfg cfg;
	struct sl_gpu_region ring, status, tokens;
	int tokens_lent; /* tokens is the caller's (sl_gpu_ring_create_in) */
	struct sl_gpu_tokens_layout layout;
	/* CPU addresses of the ring and status regions. */
	struct sl_gpu_batch *batches;
	uint8_t *batch_data;
	struct sl_gpu_status *st;
	/* The consumer's addresses (== the CPU's for host). */
	struct sl_gpu_view view;
	/* Producer state: batches head - tail are published or claimed. */
	uint64_t head; /* seq of the batch being filled or next to claim */
	uint64_t tail; /* seq of the oldest batch not yet recycled */
	int claimed;   /* batch head is claimed, not yet published */
	int filling;   /* ... and sl_gpu_tx is filling it */
	uint32_t fill_frags;
	uint32_t fill_bytes;
	SL_GPU_ATOMIC(uint64_t) pstats[SL_GPU_P_MAX];
	void *consumer; /* the backend's per-ring state */
};

/*
 * sl_gpu_ring_create_in - sl_gpu_ring_create with the tokens region given
 * (@tokens, at least sl_gpu_ring_tokens_len bytes, zeroed, the backend's
 * kind of memory; NULL: allocated as usual). The ring does not free a
 * given region. sl_gpu_share.c puts it in a file an engine maps.
 */
struct sl_gpu_ring *sl_gpu_ring_create_in(struct sl_gpu_ctx *ctx,
					  const struct sl_gpu_ring_cfg *cfg,
					  const struct sl_gpu_region *tokens);

/*
 * sl_gpu_consumer_idle - the consumer found no READY batch and its idle
 * time ran out: say TIMED_OUT, then look once more, so a producer that
 * published meanwhile either sees TIMED_OUT (and restarts it) or is
 * served by this consumer. Return 1 to leave, 0 to keep consuming.
 */
int sl_gpu_consumer_idle(struct sl_gpu_ring *r, uint64_t next);

/* The monotonic clock in nanoseconds, and a nap of @ns: the producer's
 * and the backends' waits (drain, stop, the host consumer's idling). */
static inline uint64_t
sl_gpu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void
sl_gpu_nap_ns(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ull),
			      .tv_nsec = (long)(ns % 1000000000ull)};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

#endif /* SL_GPU_OPS_H */
