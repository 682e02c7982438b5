/* SPDX-License-Identifier: MIT */
/*
 * sl_gpu_ring.c - the producer side of a token ring, and the backend
 * choice (sl_gpu_ring.h).
 *
 * Ordering on the host (C11): the producer fills a batch with plain
 * stores and publishes it with a release store of READY; the consumer's
 * acquire load of READY makes the records visible, and its release store
 * of DONE or ERROR (after its counters) makes the token buffers and the
 * counters visible to whoever loads DONE with acquire, as
 * sl_gpu_tx_reclaim does before letting the batch be written again. FREE
 * is stored relaxed: only the producer acts on it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sl_gpu_cuda.h"
#include "sl_gpu_ops.h"
#include "sl_gpu_ring.h"
#include "sl_wire.h"

/* The record flags and the consumer's abort reasons are the wire's. */
_Static_assert(SL_GPU_FRAG_END == SL_FRAG_F_END, "END flag");
_Static_assert(SL_GPU_FRAG_ABORT == SL_FRAG_F_ABORT, "ABORT flag");
_Static_assert(SL_GPU_ABORT_LOST == SL_ABORT_LOST, "LOST reason");
_Static_assert(SL_GPU_ABORT_TOO_LONG == SL_ABORT_TOO_LONG, "TOO_LONG");
_Static_assert(SL_GPU_TOKEN_HDR_LEN == SL_WIRE_TOKEN_HDR_LEN, "token head");
_Static_assert(sizeof(struct sl_gpu_batch) == 64, "one line per batch");
_Static_assert(sizeof(struct sl_gpu_frag) == 24, "record header");
_Static_assert(sizeof(struct sl_gpu_stream) == 32, "stream state");
_Static_assert(sizeof(SL_GPU_ATOMIC(uint32_t)) == sizeof(uint32_t),
	       "atomics have the device's layout");
_Static_assert(sizeof(SL_GPU_ATOMIC(uint64_t)) == sizeof(uint64_t),
	       "atomics have the device's layout");
_Static_assert(SL_GPU_C_DROP(SL_GPU_DROP_BATCH) == SL_GPU_C_DROP_BATCH,
	       "drop counters follow enum sl_gpu_drop");

static const char *const pstat_names[] = {
#define SL_GPU_PSTAT_NAME(name, text) #name,
	SL_GPU_PRODUCER_STATS(SL_GPU_PSTAT_NAME)
#undef SL_GPU_PSTAT_NAME
};

static const char *const cstat_names[] = {
#define SL_GPU_CSTAT_NAME(name, text) #name,
	SL_GPU_CONSUMER_STATS(SL_GPU_CSTAT_NAME)
#undef SL_GPU_CSTAT_NAME
};

const char *
sl_gpu_pstat_name(enum sl_gpu_pstat s)
{
	return (unsigned int)s < SL_GPU_P_MAX ? pstat_names[s] : "UNKNOWN";
}

const char *
sl_gpu_cstat_name(enum sl_gpu_cstat s)
{
	return (unsigned int)s < SL_GPU_C_MAX ? cstat_names[s] : "UNKNOWN";
}

const char *
sl_gpu_batch_state_name(int state)
{
	static const char *const names[] = {"FREE", "READY", "DONE", "ERROR"};

	return state >= 0 && state < 4 ? names[state] : "UNKNOWN";
}

static void
pcount(struct sl_gpu_ring *r, enum sl_gpu_pstat s, uint64_t n)
{
	/* One writer (the producer): no read-modify-write needed. */
	atomic_store_explicit(
		&r->pstats[s],
		atomic_load_explicit(&r->pstats[s], memory_order_relaxed) + n,
		memory_order_relaxed);
}

struct sl_gpu_ctx *
sl_gpu_open(enum sl_gpu_backend backend)
{
	struct sl_gpu_ctx *ctx;
	int rc;

	if (backend == SL_GPU_BACKEND_CUDA)
		return sl_gpu_cuda_open(NULL, 0); /* errno says why not */
	if (backend != SL_GPU_BACKEND_HOST) {
		errno = ENOTSUP;
		return NULL;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL)
		return NULL;
	ctx->backend = backend;
	ctx->ops = &sl_gpu_host_ops;
	rc = ctx->ops->init(ctx);
	if (rc != 0) {
		free(ctx);
		errno = -rc;
		return NULL;
	}
	return ctx;
}

void
sl_gpu_close(struct sl_gpu_ctx *ctx)
{
	if (ctx == NULL)
		return;
	ctx->ops->fini(ctx);
	free(ctx);
}

enum sl_gpu_backend
sl_gpu_ctx_backend(const struct sl_gpu_ctx *ctx)
{
	return ctx->backend;
}

static int
cfg_valid(const struct sl_gpu_ring_cfg *c)
{
	return c->batches >= 2 && c->batches <= SL_GPU_RING_BATCHES_MAX &&
	       (c->batches & (c->batches - 1)) == 0 && c->batch_bytes >= 64 &&
	       c->batch_bytes <= SL_GPU_BATCH_BYTES_MAX &&
	       c->batch_bytes % 64 == 0 && c->streams >= 1 &&
	       c->streams <= SL_GPU_STREAMS_MAX && c->stream_tokens >= 1 &&
	       c->stream_tokens <= SL_GPU_STREAM_TOKENS_MAX &&
	       c->stream_text <= SL_GPU_STREAM_TEXT_MAX;
}

struct sl_gpu_ring *
sl_gpu_ring_create(struct sl_gpu_ctx *ctx, const struct sl_gpu_ring_cfg *cfg)
{
	return sl_gpu_ring_create_in(ctx, cfg, NULL);
}

size_t
sl_gpu_ring_tokens_len(const struct sl_gpu_ring_cfg *cfg)
{
	struct sl_gpu_tokens_layout l;

	if (!cfg_valid(cfg))
		return 0;
	sl_gpu_tokens_layout(cfg, &l);
	return (size_t)l.len;
}

struct sl_gpu_ring *
sl_gpu_ring_create_in(struct sl_gpu_ctx *ctx, const struct sl_gpu_ring_cfg *cfg,
		      const struct sl_gpu_region *tokens)
{
	const struct sl_gpu_ops *ops = ctx->ops;
	size_t hdr_len, ring_len;
	struct sl_gpu_ring *r;
	int rc;

	if (!cfg_valid(cfg)) {
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->ctx = ctx;
	r->cfg = *cfg;
	if (r->cfg.idle_timeout_ns == 0)
		r->cfg.idle_timeout_ns = SL_GPU_IDLE_TIMEOUT_NS;
	sl_gpu_tokens_layout(&r->cfg, &r->layout);
	hdr_len = (size_t)cfg->batches * sizeof(struct sl_gpu_batch);
	ring_len = hdr_len + (size_t)cfg->batches * cfg->batch_bytes;
	rc = ops->alloc(ctx, SL_GPU_MEM_RING, ring_len, &r->ring);
	if (rc == 0)
		rc = ops->alloc(ctx, SL_GPU_MEM_STATUS,
				sizeof(struct sl_gpu_status), &r->status);
	if (rc == 0 && tokens != NULL) {
		if (tokens->len < r->layout.len)
			rc = -EINVAL;
		else
			r->tokens = *tokens;
		r->tokens_lent = 1;
	} else if (rc == 0) {
		rc = ops->alloc(ctx, SL_GPU_MEM_TOKENS, r->layout.len,
				&r->tokens);
	}
	if (rc != 0) {
		sl_gpu_ring_destroy(r);
		errno = -rc;
		return NULL;
	}
	r->batches = r->ring.host;
	r->batch_data = (uint8_t *)r->ring.host + hdr_len;
	r->st = r->status.host;
	r->view.cfg = r->cfg;
	r->view.batches = (struct sl_gpu_batch *)(uintptr_t)r->ring.dev;
	r->view.batch_data = (uint8_t *)(uintptr_t)(r->ring.dev + hdr_len);
	r->view.status = (struct sl_gpu_status *)(uintptr_t)r->status.dev;
	r->view.streams = (struct sl_gpu_stream *)(uintptr_t)r->tokens.dev;
	r->view.ids =
		(uint32_t *)(uintptr_t)(r->tokens.dev + r->layout.ids_off);
	r->view.text_off =
		(uint32_t *)(uintptr_t)(r->tokens.dev + r->layout.text_off_off);
	r->view.text =
		(uint8_t *)(uintptr_t)(r->tokens.dev + r->layout.text_off);
	return r;
}

void
sl_gpu_ring_destroy(struct sl_gpu_ring *r)
{
	const struct sl_gpu_ops *ops;

	if (r == NULL)
		return;
	ops = r->ctx->ops;
	if (r->st != NULL)
		while (sl_gpu_ring_stop(r, 1000000000ull) == -ETIMEDOUT)
			;
	if (r->tokens.len != 0 && !r->tokens_lent)
		ops->free(r->ctx, &r->tokens);
	if (r->status.len != 0)
		ops->free(r->ctx, &r->status);
	if (r->ring.len != 0)
		ops->free(r->ctx, &r->ring);
	free(r);
}

enum sl_gpu_consumer_state
sl_gpu_ring_consumer_state(const struct sl_gpu_ring *r)
{
	return sl_gpu_load_acquire(&r->st->consumer);
}

int
sl_gpu_ring_start(struct sl_gpu_ring *r)
{
	uint32_t s = atomic_load(&r->st->consumer);

	if (s == SL_GPU_CONSUMER_RUNNING || s == SL_GPU_CONSUMER_RESTARTING)
		return -EALREADY;
	/* A consumer that timed out may still take a batch and go on. */
	if (s == SL_GPU_CONSUMER_TIMED_OUT &&
	    !atomic_compare_exchange_strong(&r->st->consumer, &s,
					    SL_GPU_CONSUMER_RESTARTING))
		return -EALREADY;
	atomic_store_explicit(&r->st->quit, 0, memory_order_release);
	return r->ctx->ops->start(r);
}

int
sl_gpu_ring_stop(struct sl_gpu_ring *r, uint64_t timeout_ns)
{
	atomic_store_explicit(&r->st->quit, 1, memory_order_release);
	return r->ctx->ops->stop(r, timeout_ns);
}

int
sl_gpu_consumer_idle(struct sl_gpu_ring *r, uint64_t next)
{
	struct sl_gpu_status *st = r->view.status;
	struct sl_gpu_batch *b = &r->view.batches[next & (r->cfg.batches - 1)];
	uint32_t expect = SL_GPU_CONSUMER_TIMED_OUT;

	atomic_fetch_add_explicit(&st->counters[SL_GPU_C_IDLE_TIMEOUTS], 1,
				  memory_order_relaxed);
	/* Store, then load (seq_cst both sides): with the producer's store
	 * of READY then load of the consumer state, one of the two sees the
	 * other's store. */
	atomic_store(&st->consumer, SL_GPU_CONSUMER_TIMED_OUT);
	if (atomic_load(&b->state) != SL_GPU_BATCH_READY)
		return 1;
	return !atomic_compare_exchange_strong(&st->consumer, &expect,
					       SL_GPU_CONSUMER_RUNNING);
}

/* After a publish: wake a consumer that left on its idle timeout. */
static int
restart_if_timed_out(struct sl_gpu_ring *r)
{
	uint32_t expect = SL_GPU_CONSUMER_TIMED_OUT;
	int rc;

	if (atomic_load(&r->st->consumer) != SL_GPU_CONSUMER_TIMED_OUT)
		return 0;
	if (!atomic_compare_exchange_strong(&r->st->consumer, &expect,
					    SL_GPU_CONSUMER_RESTARTING))
		return 0; /* it took the batch itself */
	/* It is leaving; start joins it before starting a new one. */
	rc = r->ctx->ops->start(r);
	if (rc == 0)
		pcount(r, SL_GPU_P_RESTARTS, 1);
	return rc;
}

unsigned int
sl_gpu_tx_reclaim(struct sl_gpu_ring *r)
{
	uint32_t mask = r->cfg.batches - 1;
	unsigned int n = 0;

	while (r->tail != r->head) {
		struct sl_gpu_batch *b = &r->batches[r->tail & mask];
		uint32_t s = sl_gpu_load_acquire(&b->state);

		if (s != SL_GPU_BATCH_DONE && s != SL_GPU_BATCH_ERROR)
			break;
		if (s == SL_GPU_BATCH_ERROR)
			pcount(r, SL_GPU_P_ERRORS_SEEN, 1);
		atomic_store_explicit(&b->state, SL_GPU_BATCH_FREE,
				      memory_order_relaxed);
		r->tail++;
		n++;
	}
	if (n != 0)
		pcount(r, SL_GPU_P_RECYCLED, n);
	return n;
}

uint8_t *
sl_gpu_batch_claim(struct sl_gpu_ring *r, uint32_t *cap)
{
	uint32_t idx = (uint32_t)(r->head & (r->cfg.batches - 1));

	if (r->claimed) {
		errno = EBUSY;
		return NULL;
	}
	if (r->head - r->tail == r->cfg.batches)
		sl_gpu_tx_reclaim(r);
	if (r->head - r->tail == r->cfg.batches) {
		pcount(r, SL_GPU_P_DROP_RING_FULL, 1);
		errno = ENOBUFS;
		return NULL;
	}
	r->claimed = 1;
	*cap = r->cfg.batch_bytes;
	return r->batch_data + (size_t)idx * r->cfg.batch_bytes;
}

int
sl_gpu_batch_publish(struct sl_gpu_ring *r, uint32_t frags, uint32_t bytes)
{
	struct sl_gpu_batch *b;

	if (!r->claimed)
		return -EINVAL;
	b = &r->batches[r->head & (r->cfg.batches - 1)];
	b->frags = frags;
	b->bytes = bytes;
	b->seq = r->head;
	b->error = 0;
	b->delivered = 0;
	b->dropped = 0;
	/* seq_cst, not only release: restart_if_timed_out's load of the
	 * consumer state must not pass this store (sl_gpu_consumer_idle). */
	atomic_store(&b->state, SL_GPU_BATCH_READY);
	r->head++;
	r->claimed = 0;
	r->filling = 0;
	pcount(r, SL_GPU_P_BATCHES, 1);
	return restart_if_timed_out(r);
}

int
sl_gpu_tx_flush(struct sl_gpu_ring *r)
{
	int rc;

	if (!r->filling || r->fill_frags == 0)
		return 0;
	rc = sl_gpu_batch_publish(r, r->fill_frags, r->fill_bytes);
	return rc < 0 ? rc : 1;
}

int
sl_gpu_tx(struct sl_gpu_ring *r, const struct sl_gpu_frag_in *f)
{
	uint32_t need = SL_GPU_FRAG_REC_LEN(f->payload_len), cap;
	struct sl_gpu_frag *rec;
	uint8_t *area;

	if (f->stream >= r->cfg.streams) {
		pcount(r, SL_GPU_P_DROP_BAD_STREAM, 1);
		return -EINVAL;
	}
	if ((f->flags & ~SL_GPU_FRAG_FLAGS) != 0 ||
	    (f->payload_len != 0 && f->payload == NULL)) {
		pcount(r, SL_GPU_P_DROP_BAD_ARG, 1);
		return -EINVAL;
	}
	if (need > r->cfg.batch_bytes) {
		pcount(r, SL_GPU_P_DROP_TOO_BIG, 1);
		return -EMSGSIZE;
	}
	/* The batch is published either way, so this fragment still goes
	 * in; a failed restart leaves the consumer STOPPED, for
	 * sl_gpu_ring_consumer_state to show. */
	if (r->filling && r->fill_bytes + need > r->cfg.batch_bytes)
		(void)sl_gpu_tx_flush(r);
	if (!r->filling) {
		area = sl_gpu_batch_claim(r, &cap);
		if (area == NULL)
			return -errno;
		r->filling = 1;
		r->fill_frags = 0;
		r->fill_bytes = 0;
	}
	area = r->batch_data +
	       (size_t)(r->head & (r->cfg.batches - 1)) * r->cfg.batch_bytes;
	rec = (struct sl_gpu_frag *)(area + r->fill_bytes);
	memset(rec, 0, sizeof(*rec));
	rec->stream = f->stream;
	rec->seq = f->seq;
	rec->flags = f->flags;
	rec->abort_reason = f->abort_reason;
	rec->token_count = f->token_count;
	rec->payload_len = f->payload_len;
	rec->rec_len = need;
	if (f->payload_len != 0)
		memcpy(rec + 1, f->payload, f->payload_len);
	r->fill_frags++;
	r->fill_bytes += need;
	pcount(r, SL_GPU_P_FRAGS, 1);
	pcount(r, SL_GPU_P_TOKENS, f->token_count);
	return 0;
}

int
sl_gpu_ring_drain(struct sl_gpu_ring *r, uint64_t timeout_ns)
{
	uint64_t deadline = sl_gpu_now_ns() + timeout_ns;
	int rc = sl_gpu_tx_flush(r);

	if (rc < 0)
		return rc;
	for (;;) {
		sl_gpu_tx_reclaim(r);
		if (r->tail == r->head)
			return 0;
		if (sl_gpu_now_ns() >= deadline)
			return -ETIMEDOUT;
		sl_gpu_nap_ns(20000);
	}
}

int
sl_gpu_ring_batch_state(const struct sl_gpu_ring *r, uint32_t idx)
{
	if (idx >= r->cfg.batches)
		return -1;
	return (int)sl_gpu_load_acquire(&r->batches[idx].state);
}

int
sl_gpu_ring_batch_error(const struct sl_gpu_ring *r, uint32_t idx)
{
	if (idx >= r->cfg.batches)
		return -1;
	return (int)r->batches[idx].error;
}

uint64_t
sl_gpu_ring_pstat(const struct sl_gpu_ring *r, enum sl_gpu_pstat s)
{
	if ((unsigned int)s >= SL_GPU_P_MAX)
		return 0;
	return atomic_load_explicit(&r->pstats[s], memory_order_relaxed);
}

uint64_t
sl_gpu_ring_cstat(const struct sl_gpu_ring *r, enum sl_gpu_cstat s)
{
	if ((unsigned int)s >= SL_GPU_C_MAX)
		return 0;
	return atomic_load_explicit(&r->st->counters[s], memory_order_relaxed);
}

int
sl_gpu_ring_stream_read(const struct sl_gpu_ring *r, uint32_t slot,
			struct sl_gpu_stream *meta, uint32_t *ids,
			uint32_t *text_off, uint32_t max_tokens, uint8_t *text,
			uint32_t max_text)
{
	const struct sl_gpu_ops *ops = r->ctx->ops;
	uint64_t base = r->tokens.dev;
	uint64_t tok = (uint64_t)slot * r->cfg.stream_tokens;
	uint32_t n, t;
	int rc;

	if (slot >= r->cfg.streams)
		return -EINVAL;
	rc = ops->copy_out(r->ctx, meta, base + (uint64_t)slot * sizeof(*meta),
			   sizeof(*meta));
	if (rc != 0)
		return rc;
	n = meta->tokens < max_tokens ? meta->tokens : max_tokens;
	t = meta->text_len < max_text ? meta->text_len : max_text;
	if (ids != NULL && n != 0)
		rc = ops->copy_out(r->ctx, ids,
				   base + r->layout.ids_off + tok * 4,
				   (size_t)n * 4);
	if (rc == 0 && text_off != NULL && n != 0)
		rc = ops->copy_out(r->ctx, text_off,
				   base + r->layout.text_off_off + tok * 4,
				   (size_t)n * 4);
	if (rc == 0 && text != NULL && t != 0)
		rc = ops->copy_out(r->ctx, text,
				   base + r->layout.text_off +
					   (uint64_t)slot * r->cfg.stream_text,
				   t);
	return rc;
}
