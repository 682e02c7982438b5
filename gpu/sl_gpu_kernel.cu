/* SPDX-License-Identifier: MIT */
/*
 * sl_gpu_kernel.cu - the cuda backend's persistent consumer: one block
 * per ring running the loop of sl_gpu_host.c's consumer_main around the
 * shared sl_gpu_batch_consume() (sl_gpu_ring_layout.h), compiled by nvcc
 * into a fatbin that sl_gpu_cuda.c loads with cuModuleLoadData.
 *
 * Thread 0 polls: the quit flag and the consumer state (one 8-byte
 * volatile load of host-mapped status), then the next batch's state
 * (sl_gpu_load_acquire: volatile load + __threadfence_system). The ring
 * lives in host memory mapped into the device (cuMemHostAlloc DEVICEMAP),
 * where every load is a PCIe round trip, so the whole block first copies
 * the READY batch into shared memory (or a device scratch buffer for
 * batches over 48 KiB) with wide uncached loads; thread 0 then consumes
 * it from there into the token buffers in device memory, publishes the
 * counters, next_batch and DONE/ERROR (store_release: fence, then store).
 *
 * cfg.consumer_delay_ns (tests: a slow consumer) is honoured as on the
 * host, waited out on %globaltimer before each batch.
 *
 * Leaving: on quit (STOPPED), on the idle timeout measured with
 * %globaltimer (TIMED_OUT, after the handshake below), or when the host
 * marked the consumer RESTARTING (it launches a successor once this one
 * has left). No read-modify-write crosses PCIe: atomics on host-mapped
 * memory are not atomic with respect to the CPU. Idle handshake: store
 * TIMED_OUT, fence, load the next batch's state once more; if a batch was
 * published meanwhile, keep consuming: the producer either missed
 * TIMED_OUT (then nobody restarts and this kernel serves) or saw it (then
 * it sets RESTARTING and this kernel leaves at its next poll, handing
 * over at a batch boundary through status.next_batch).
 */
#include <stdint.h>

#include "sl_gpu_ring_layout.h"

#define SL_K_CONSUME 1u
#define SL_K_LEAVE 2u
/* Nap between empty polls: short, the poll itself is a PCIe round trip. */
#define SL_K_NAP_NS 200u

static __device__ __forceinline__ uint64_t
sl_k_now_ns(void)
{
	uint64_t t;

	asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
	return t;
}

static __device__ __forceinline__ void
sl_k_store64(SL_GPU_ATOMIC(uint64_t) * p, uint64_t v)
{
	*(volatile uint64_t *)p = v;
}

/*
 * One batch header's worth of state thread 0 hands to the block, and the
 * local copy sl_gpu_batch_consume reads and writes.
 */
struct sl_k_shared {
	struct sl_gpu_batch hdr;
	uint64_t counters[SL_GPU_C_MAX];
	uint32_t cmd;
	uint32_t copy_bytes;
	uint32_t idx;
};

extern "C" __global__ void
sl_gpu_consumer_kernel(struct sl_gpu_view v, uint8_t *scratch)
{
	__shared__ struct sl_k_shared sh;
	extern __shared__ uint4 sl_k_dyn[];
	uint8_t *local = scratch != NULL ? scratch : (uint8_t *)sl_k_dyn;
	struct sl_gpu_status *st = v.status;
	const uint32_t mask = v.cfg.batches - 1;
	uint64_t next = 0, idle_since = 0;
	struct sl_gpu_tally t;

	if (threadIdx.x == 0) {
		/* Counters have one writer, this kernel: keep them here. */
		for (unsigned int i = 0; i < SL_GPU_C_MAX; i++)
			sh.counters[i] = *(volatile uint64_t *)&st->counters[i];
		next = *(volatile uint64_t *)&st->next_batch;
	}
	for (;;) {
		if (threadIdx.x == 0) {
			uint32_t cmd = 0, idx = (uint32_t)(next & mask);

			while (cmd == 0) {
				/* quit and consumer share one aligned word. */
				uint64_t qc = *(volatile uint64_t *)&st->quit;
				uint32_t state;

				if ((uint32_t)qc != 0) {
					sl_gpu_store_release(
						&st->consumer,
						SL_GPU_CONSUMER_STOPPED);
					cmd = SL_K_LEAVE;
					break;
				}
				if ((uint32_t)(qc >> 32) ==
				    SL_GPU_CONSUMER_RESTARTING) {
					cmd = SL_K_LEAVE;
					break;
				}
				state = sl_gpu_load_acquire(
					&v.batches[idx].state);
				if (state == SL_GPU_BATCH_READY) {
					cmd = SL_K_CONSUME;
					break;
				}
				uint64_t now = sl_k_now_ns();

				if (idle_since == 0) {
					idle_since = now;
				} else if (now - idle_since >=
					   v.cfg.idle_timeout_ns) {
					sh.counters[SL_GPU_C_IDLE_TIMEOUTS]++;
					sl_k_store64(
						&st->counters
							 [SL_GPU_C_IDLE_TIMEOUTS],
						sh.counters
							[SL_GPU_C_IDLE_TIMEOUTS]);
					sl_gpu_store_release(
						&st->consumer,
						SL_GPU_CONSUMER_TIMED_OUT);
					__threadfence_system();
					if (sl_gpu_load_acquire(
						    &v.batches[idx].state) !=
					    SL_GPU_BATCH_READY) {
						cmd = SL_K_LEAVE;
						break;
					}
					idle_since = 0;
					continue;
				}
				__nanosleep(SL_K_NAP_NS);
			}
			if (cmd == SL_K_CONSUME) {
				volatile struct sl_gpu_batch *b =
					&v.batches[idx];
				uint32_t bytes = b->bytes;

				sh.hdr.frags = b->frags;
				sh.hdr.bytes = bytes;
				sh.hdr.seq = b->seq;
				sh.idx = idx;
				/* Untrusted: the consumer refuses a batch
				 * whose bytes exceed batch_bytes, but never
				 * copies past the batch. */
				if (bytes > v.cfg.batch_bytes)
					bytes = v.cfg.batch_bytes;
				sh.copy_bytes = (bytes + 15u) & ~15u;
				idle_since = 0;
				/* Tests: a slow consumer, as on the host. */
				if (v.cfg.consumer_delay_ns != 0) {
					uint64_t until =
						sl_k_now_ns() +
						v.cfg.consumer_delay_ns;

					while (sl_k_now_ns() < until)
						__nanosleep(1000);
				}
			}
			sh.cmd = cmd;
		}
		__syncthreads();
		if (sh.cmd == SL_K_LEAVE)
			break;
		/* The block copies the batch out of host memory. */
		__threadfence_system();
		{
			const uint4 *src =
				(const uint4 *)(v.batch_data +
						(uint64_t)sh.idx *
							v.cfg.batch_bytes);
			uint4 *dst = (uint4 *)local;

			for (uint32_t i = threadIdx.x; i < sh.copy_bytes / 16;
			     i += blockDim.x)
				dst[i] = __ldcv(src + i);
		}
		__syncthreads();
		if (threadIdx.x == 0) {
			struct sl_gpu_view lv = v;
			volatile struct sl_gpu_batch *b = &v.batches[sh.idx];
			enum sl_gpu_batch_state done;

			lv.batches = &sh.hdr;
			lv.batch_data = local;
			memset(&t, 0, sizeof(t));
			done = sl_gpu_batch_consume(&lv, 0, next, &t);
			b->error = sh.hdr.error;
			b->delivered = sh.hdr.delivered;
			b->dropped = sh.hdr.dropped;
			/* Token buffers, then counters, then DONE. */
			__threadfence_system();
			for (unsigned int i = 0; i < SL_GPU_C_MAX; i++)
				if (t.c[i] != 0) {
					sh.counters[i] += t.c[i];
					sl_k_store64(&st->counters[i],
						     sh.counters[i]);
				}
			next++;
			sl_k_store64(&st->next_batch, next);
			sl_gpu_store_release(&v.batches[sh.idx].state, done);
		}
		/* Thread 0 rewrites sh only after the next poll; the others
		 * wait for it at the barrier above. */
		__syncthreads();
	}
}
