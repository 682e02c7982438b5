/* SPDX-License-Identifier: MIT */
/*
 * sl_gpu_host.c - the `host` backend: every region in page-aligned heap
 * memory, the consumer a pthread running sl_gpu_batch_consume(), the same
 * code the cuda backend's persistent kernel is to run.
 *
 * The consumer polls the next batch in order. While idle it yields, then
 * naps 50 us between polls (sluice's small machines share two cores); it
 * leaves on status.quit, or after cfg.idle_timeout_ns without a READY
 * batch (sl_gpu_consumer_idle; the next publish starts it again), so it
 * never spins forever.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sl_gpu_ops.h"

#define HOST_ALIGN 4096u
#define HOST_IDLE_YIELDS 64u
#define HOST_IDLE_NAP_NS 50000l

struct host_consumer {
	pthread_t thread;
	atomic_int exited; /* the thread is past its last access to the ring */
};

static int
host_init(struct sl_gpu_ctx *ctx)
{
	ctx->priv = NULL;
	return 0;
}

static void
host_fini(struct sl_gpu_ctx *ctx)
{
	(void)ctx;
}

static int
host_alloc(struct sl_gpu_ctx *ctx, enum sl_gpu_mem where, size_t len,
	   struct sl_gpu_region *out)
{
	size_t n = (len + HOST_ALIGN - 1) / HOST_ALIGN * HOST_ALIGN;
	void *p;

	(void)ctx;
	if (n == 0)
		n = HOST_ALIGN;
	p = aligned_alloc(HOST_ALIGN, n);
	if (p == NULL)
		return -ENOMEM;
	memset(p, 0, n);
	out->where = where;
	out->host = p;
	out->dev = (uint64_t)(uintptr_t)p;
	out->len = len;
	out->cookie = NULL;
	return 0;
}

static void
host_free(struct sl_gpu_ctx *ctx, struct sl_gpu_region *region)
{
	(void)ctx;
	free(region->host);
	region->host = NULL;
	region->dev = 0;
	region->len = 0;
}

static void
publish_tally(struct sl_gpu_status *st, const struct sl_gpu_tally *t)
{
	for (unsigned int i = 0; i < SL_GPU_C_MAX; i++)
		if (t->c[i] != 0)
			atomic_fetch_add_explicit(&st->counters[i], t->c[i],
						  memory_order_relaxed);
}

static void *
consumer_main(void *arg)
{
	struct sl_gpu_ring *r = arg;
	const struct sl_gpu_view *v = &r->view;
	struct sl_gpu_status *st = v->status;
	struct host_consumer *hc = r->consumer;
	uint32_t mask = v->cfg.batches - 1;
	uint64_t next, idle_since = 0;
	unsigned int polls = 0;
	struct sl_gpu_tally t;

	next = atomic_load_explicit(&st->next_batch, memory_order_relaxed);
	for (;;) {
		uint32_t idx = (uint32_t)(next & mask);
		enum sl_gpu_batch_state done;

		if (atomic_load_explicit(&st->quit, memory_order_acquire)) {
			atomic_store(&st->consumer, SL_GPU_CONSUMER_STOPPED);
			break;
		}
		if (sl_gpu_load_acquire(&v->batches[idx].state) !=
		    SL_GPU_BATCH_READY) {
			uint64_t now = sl_gpu_now_ns();

			if (idle_since == 0) {
				idle_since = now;
			} else if (now - idle_since >= v->cfg.idle_timeout_ns) {
				if (sl_gpu_consumer_idle(r, next))
					break;
				idle_since = 0;
				continue;
			}
			if (++polls < HOST_IDLE_YIELDS)
				sched_yield();
			else
				sl_gpu_nap_ns(HOST_IDLE_NAP_NS);
			continue;
		}
		idle_since = 0;
		polls = 0;
		if (v->cfg.consumer_delay_ns != 0)
			sl_gpu_nap_ns(v->cfg.consumer_delay_ns);
		memset(&t, 0, sizeof(t));
		done = sl_gpu_batch_consume(v, idx, next, &t);
		/* Counters before the state: who sees DONE sees them. */
		publish_tally(st, &t);
		next++;
		atomic_store_explicit(&st->next_batch, next,
				      memory_order_relaxed);
		sl_gpu_store_release(&v->batches[idx].state, done);
	}
	atomic_store_explicit(&hc->exited, 1, memory_order_release);
	return NULL;
}

static int
host_stop(struct sl_gpu_ring *r, uint64_t timeout_ns)
{
	struct host_consumer *hc = r->consumer;
	uint64_t deadline = sl_gpu_now_ns() + timeout_ns;

	if (hc == NULL)
		return 0;
	while (!atomic_load_explicit(&hc->exited, memory_order_acquire)) {
		if (sl_gpu_now_ns() >= deadline)
			return -ETIMEDOUT;
		sl_gpu_nap_ns(20000);
	}
	pthread_join(hc->thread, NULL);
	free(hc);
	r->consumer = NULL;
	return 0;
}

static int
host_start(struct sl_gpu_ring *r)
{
	struct host_consumer *hc;
	int rc;

	/* A consumer that left (quit or idle) is joined first. */
	while (host_stop(r, 1000000000ull) == -ETIMEDOUT)
		;
	hc = calloc(1, sizeof(*hc));
	if (hc == NULL)
		return -ENOMEM;
	r->consumer = hc;
	atomic_store(&r->st->consumer, SL_GPU_CONSUMER_RUNNING);
	rc = pthread_create(&hc->thread, NULL, consumer_main, r);
	if (rc != 0) {
		atomic_store(&r->st->consumer, SL_GPU_CONSUMER_STOPPED);
		free(hc);
		r->consumer = NULL;
		return -rc;
	}
	return 0;
}

static int
host_copy_out(struct sl_gpu_ctx *ctx, void *dst, uint64_t src, size_t len)
{
	(void)ctx;
	memcpy(dst, (const void *)(uintptr_t)src, len);
	return 0;
}

const struct sl_gpu_ops sl_gpu_host_ops = {
	.name = "host",
	.init = host_init,
	.fini = host_fini,
	.alloc = host_alloc,
	.free = host_free,
	.start = host_start,
	.stop = host_stop,
	.copy_out = host_copy_out,
};
