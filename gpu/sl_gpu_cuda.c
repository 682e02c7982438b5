/* SPDX-License-Identifier: MIT */
/*
 * sl_gpu_cuda.c - the `cuda` backend (sl_gpu_cuda.h): libcuda found at run
 * time with dlopen after the probe (sl_gpu_probe.c) said it is usable,
 * never linked; the driver API only, its types spelled out here so this
 * file builds without the CUDA toolkit.
 *
 *   ring, status  cuMemHostAlloc(PORTABLE | DEVICEMAP): the producer's
 *                 stores reach the kernel, the kernel's counters and
 *                 states reach the CPU, without copies.
 *   tokens        cuMemAlloc device memory, zeroed; read back with
 *                 cuMemcpyDtoH (copy_out). CUDA IPC export is for engine
 *                 attach (gpu/README.md).
 *   consumer      the persistent kernel of sl_gpu_kernel.cu, embedded as
 *                 a fatbin (sl_gpu_kernel_fatbin, generated at build time
 *                 by nvcc; absent without nvcc: "built without CUDA"),
 *                 loaded with cuModuleLoadData, one block per ring on the
 *                 ring's own non-blocking stream (the legacy stream would
 *                 wait for a kernel that never ends).
 *   stop          the ring code has raised status.quit; cuStreamQuery
 *                 until the kernel is gone or the deadline passes.
 *   start         waits for a kernel that is leaving (quit, idle timeout,
 *                 or RESTARTING: sl_gpu_kernel.cu's handshake), stores
 *                 RUNNING, launches.
 *
 * Every entry point sets the context current first: producers call the
 * backend from their own threads (restart after an idle timeout).
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sl_gpu.h"
#include "sl_gpu_cuda.h"

#if defined(SL_GPU_HAVE_KERNEL)
extern const unsigned char sl_gpu_kernel_fatbin[];
#endif

/* Driver API types and constants (cuda.h), as the driver ABI has them. */
typedef int cu_result;
typedef int cu_device;
typedef unsigned long long cu_ptr;
typedef void *cu_context;
typedef void *cu_module;
typedef void *cu_function;
typedef void *cu_stream;

#define CU_SUCCESS 0
#define CU_ERROR_NO_BINARY_FOR_GPU 209
#define CU_ERROR_NOT_READY 600
#define CU_ATTR_CAN_MAP_HOST_MEMORY 19
#define CU_ATTR_CC_MAJOR 75
#define CU_ATTR_CC_MINOR 76
#define CU_MEMHOSTALLOC_PORTABLE 0x01u
#define CU_MEMHOSTALLOC_DEVICEMAP 0x02u
#define CU_STREAM_NON_BLOCKING 0x1u

/* One block per ring; batches up to this size are copied into shared
 * memory, larger ones into a device scratch buffer. */
#define CUDA_THREADS 256u
#define CUDA_SHARED_BATCH_MAX (44u * 1024u)

/* The entry points used, with the symbol versions of driver API 11.4+. */
#define CUDA_FNS(_)                                                            \
	_(cuGetErrorString, (cu_result, const char **))                        \
	_(cuDeviceGet, (cu_device *, int))                                     \
	_(cuDeviceGetName, (char *, int, cu_device))                           \
	_(cuDeviceGetAttribute, (int *, int, cu_device))                       \
	_(cuDevicePrimaryCtxRetain, (cu_context *, cu_device))                 \
	_(cuDevicePrimaryCtxRelease_v2, (cu_device))                           \
	_(cuCtxSetCurrent, (cu_context))                                       \
	_(cuMemHostAlloc, (void **, size_t, unsigned int))                     \
	_(cuMemHostGetDevicePointer_v2, (cu_ptr *, void *, unsigned int))      \
	_(cuMemFreeHost, (void *))                                             \
	_(cuMemAlloc_v2, (cu_ptr *, size_t))                                   \
	_(cuMemFree_v2, (cu_ptr))                                              \
	_(cuMemsetD8Async, (cu_ptr, unsigned char, size_t, cu_stream))         \
	_(cuMemcpyDtoHAsync_v2, (void *, cu_ptr, size_t, cu_stream))           \
	_(cuMemcpyHtoDAsync_v2, (cu_ptr, const void *, size_t, cu_stream))     \
	_(cuModuleLoadData, (cu_module *, const void *))                       \
	_(cuModuleUnload, (cu_module))                                         \
	_(cuModuleGetFunction, (cu_function *, cu_module, const char *))       \
	_(cuStreamCreate, (cu_stream *, unsigned int))                         \
	_(cuStreamDestroy_v2, (cu_stream))                                     \
	_(cuStreamQuery, (cu_stream))                                          \
	_(cuStreamSynchronize, (cu_stream))                                    \
	_(cuLaunchKernel,                                                      \
	  (cu_function, unsigned int, unsigned int, unsigned int,              \
	   unsigned int, unsigned int, unsigned int, unsigned int, cu_stream,  \
	   void **, void **))

struct cuda_fns {
#define CUDA_FN_FIELD(name, args) cu_result(*name) args;
	CUDA_FNS(CUDA_FN_FIELD)
#undef CUDA_FN_FIELD
};

struct cuda_ctx {
	void *lib;
	struct cuda_fns fn;
	cu_device dev;
	cu_context cu;
	int have_ctx;
	cu_module mod;
	cu_function consumer;
	cu_stream copy; /* allocations' memsets, copy_out, copy_in */
	char name[128];
	int cc_major, cc_minor, driver;
};

/* Per ring, kept from the first start to the ring region's free. */
struct cuda_consumer {
	cu_stream stream;
	cu_ptr scratch; /* batches over CUDA_SHARED_BATCH_MAX */
	int launched;   /* a kernel was launched and not yet seen gone */
};

int
sl_gpu_cuda_built(void)
{
#if defined(SL_GPU_HAVE_KERNEL)
	return 1;
#else
	return 0;
#endif
}

static struct cuda_ctx *
cuda_of(const struct sl_gpu_ctx *ctx)
{
	return ctx->backend == SL_GPU_BACKEND_CUDA ? ctx->priv : NULL;
}

static const char *
cu_err(const struct cuda_ctx *c, cu_result rc)
{
	const char *s = NULL;

	if (c->fn.cuGetErrorString == NULL ||
	    c->fn.cuGetErrorString(rc, &s) != CU_SUCCESS || s == NULL)
		return "unknown CUDA error";
	return s;
}

static void __attribute__((format(printf, 3, 4)))
say(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

static int
cuda_current(struct cuda_ctx *c)
{
	return c->fn.cuCtxSetCurrent(c->cu) == CU_SUCCESS ? 0 : -EIO;
}

static void
cuda_teardown(struct cuda_ctx *c)
{
	if (c == NULL)
		return;
	if (c->have_ctx) {
		c->fn.cuCtxSetCurrent(c->cu);
		if (c->copy != NULL)
			c->fn.cuStreamDestroy_v2(c->copy);
		if (c->mod != NULL)
			c->fn.cuModuleUnload(c->mod);
		c->fn.cuDevicePrimaryCtxRelease_v2(c->dev);
	}
	if (c->lib != NULL)
		dlclose(c->lib);
	free(c);
}

/* Driver, device, context, module; @why says what failed. */
static int
cuda_setup(struct sl_gpu_ctx *ctx, char *why, size_t why_len)
{
	static const char *const libs[] = {"libcuda.so.1", "libcuda.so"};
	struct sl_gpu_probe p;
	struct cuda_ctx *c;
	int map = 0;
	cu_result rc;

	ctx->priv = NULL;
#if !defined(SL_GPU_HAVE_KERNEL)
	say(why, why_len, "built without CUDA (no nvcc at build time)");
	return -ENOTSUP;
#endif
	if (sl_gpu_probe("cuda", &p) != 0) {
		say(why, why_len, "%s", p.reason);
		return -ENODEV;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->driver = p.driver_version;
	for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]) && !c->lib; i++)
		c->lib = dlopen(libs[i], RTLD_NOW | RTLD_LOCAL);
	if (c->lib == NULL) {
		say(why, why_len, "no CUDA driver: %s", dlerror());
		cuda_teardown(c);
		return -ENODEV;
	}
#define CUDA_FN_LOOKUP(name, args)                                             \
	*(void **)&c->fn.name = dlsym(c->lib, #name);                          \
	if (c->fn.name == NULL) {                                              \
		say(why, why_len, "libcuda lacks %s", #name);                  \
		cuda_teardown(c);                                              \
		return -ENODEV;                                                \
	}
	CUDA_FNS(CUDA_FN_LOOKUP)
#undef CUDA_FN_LOOKUP
	rc = c->fn.cuDeviceGet(&c->dev, 0);
	if (rc == CU_SUCCESS)
		rc = c->fn.cuDeviceGetName(c->name, sizeof(c->name), c->dev);
	if (rc == CU_SUCCESS)
		rc = c->fn.cuDeviceGetAttribute(&c->cc_major, CU_ATTR_CC_MAJOR,
						c->dev);
	if (rc == CU_SUCCESS)
		rc = c->fn.cuDeviceGetAttribute(&c->cc_minor, CU_ATTR_CC_MINOR,
						c->dev);
	if (rc == CU_SUCCESS)
		rc = c->fn.cuDeviceGetAttribute(
			&map, CU_ATTR_CAN_MAP_HOST_MEMORY, c->dev);
	if (rc != CU_SUCCESS) {
		say(why, why_len, "device 0: %s (CUresult %d)", cu_err(c, rc),
		    rc);
		cuda_teardown(c);
		return -ENODEV;
	}
	if (!map) {
		say(why, why_len, "%s cannot map host memory", c->name);
		cuda_teardown(c);
		return -ENODEV;
	}
	rc = c->fn.cuDevicePrimaryCtxRetain(&c->cu, c->dev);
	if (rc != CU_SUCCESS) {
		say(why, why_len, "context: %s (CUresult %d)", cu_err(c, rc),
		    rc);
		cuda_teardown(c);
		return -EIO;
	}
	c->have_ctx = 1;
	rc = c->fn.cuCtxSetCurrent(c->cu);
#if defined(SL_GPU_HAVE_KERNEL)
	if (rc == CU_SUCCESS)
		rc = c->fn.cuModuleLoadData(&c->mod, sl_gpu_kernel_fatbin);
	if (rc != CU_SUCCESS) {
		say(why, why_len,
		    "loading the consumer kernel: %s (CUresult %d)",
		    cu_err(c, rc), rc);
		cuda_teardown(c);
		return rc == CU_ERROR_NO_BINARY_FOR_GPU ? -ENOEXEC : -EIO;
	}
#endif
	if (rc == CU_SUCCESS)
		rc = c->fn.cuModuleGetFunction(&c->consumer, c->mod,
					       "sl_gpu_consumer_kernel");
	if (rc == CU_SUCCESS)
		rc = c->fn.cuStreamCreate(&c->copy, CU_STREAM_NON_BLOCKING);
	if (rc != CU_SUCCESS) {
		say(why, why_len, "setup: %s (CUresult %d)", cu_err(c, rc), rc);
		cuda_teardown(c);
		return -EIO;
	}
	if (why != NULL && why_len != 0)
		snprintf(why, why_len, "%s, sm_%d%d, driver %d", c->name,
			 c->cc_major, c->cc_minor, c->driver);
	ctx->priv = c;
	return 0;
}

static int
cuda_init(struct sl_gpu_ctx *ctx)
{
	return cuda_setup(ctx, NULL, 0);
}

static void
cuda_fini(struct sl_gpu_ctx *ctx)
{
	cuda_teardown(ctx->priv);
	ctx->priv = NULL;
}

struct sl_gpu_ctx *
sl_gpu_cuda_open(char *why, size_t why_len)
{
	struct sl_gpu_ctx *ctx = calloc(1, sizeof(*ctx));
	int rc;

	if (ctx == NULL)
		return NULL;
	ctx->backend = SL_GPU_BACKEND_CUDA;
	ctx->ops = &sl_gpu_cuda_ops;
	rc = cuda_setup(ctx, why, why_len);
	if (rc != 0) {
		free(ctx);
		errno = -rc;
		return NULL;
	}
	return ctx;
}

int
sl_gpu_cuda_device_name(const struct sl_gpu_ctx *ctx, char *name, size_t len)
{
	const struct cuda_ctx *c = cuda_of(ctx);

	if (c == NULL)
		return -EINVAL;
	snprintf(name, len, "%s", c->name);
	return 0;
}

int
sl_gpu_cuda_copy_in(struct sl_gpu_ctx *ctx, uint64_t dst, const void *src,
		    size_t len)
{
	struct cuda_ctx *c = cuda_of(ctx);

	if (c == NULL)
		return -EINVAL;
	if (cuda_current(c) != 0 ||
	    c->fn.cuMemcpyHtoDAsync_v2(dst, src, len, c->copy) != CU_SUCCESS ||
	    c->fn.cuStreamSynchronize(c->copy) != CU_SUCCESS)
		return -EIO;
	return 0;
}

static int
cuda_alloc(struct sl_gpu_ctx *ctx, enum sl_gpu_mem where, size_t len,
	   struct sl_gpu_region *out)
{
	struct cuda_ctx *c = ctx->priv;
	size_t n = len != 0 ? len : 64;

	if (cuda_current(c) != 0)
		return -EIO;
	memset(out, 0, sizeof(*out));
	out->where = where;
	if (where == SL_GPU_MEM_TOKENS) {
		cu_ptr d;

		if (c->fn.cuMemAlloc_v2(&d, n) != CU_SUCCESS)
			return -ENOMEM;
		if (c->fn.cuMemsetD8Async(d, 0, n, c->copy) != CU_SUCCESS ||
		    c->fn.cuStreamSynchronize(c->copy) != CU_SUCCESS) {
			c->fn.cuMemFree_v2(d);
			return -EIO;
		}
		out->dev = d;
	} else {
		void *p;
		cu_ptr d;

		if (c->fn.cuMemHostAlloc(&p, n,
					 CU_MEMHOSTALLOC_PORTABLE |
						 CU_MEMHOSTALLOC_DEVICEMAP) !=
		    CU_SUCCESS)
			return -ENOMEM;
		memset(p, 0, n);
		if (c->fn.cuMemHostGetDevicePointer_v2(&d, p, 0) !=
		    CU_SUCCESS) {
			c->fn.cuMemFreeHost(p);
			return -EIO;
		}
		out->host = p;
		out->dev = d;
	}
	out->len = len;
	return 0;
}

static void
consumer_free(struct cuda_ctx *c, struct cuda_consumer *cc)
{
	if (cc == NULL)
		return;
	if (cc->stream != NULL)
		c->fn.cuStreamDestroy_v2(cc->stream);
	if (cc->scratch != 0)
		c->fn.cuMemFree_v2(cc->scratch);
	free(cc);
}

static void
cuda_free(struct sl_gpu_ctx *ctx, struct sl_gpu_region *region)
{
	struct cuda_ctx *c = ctx->priv;

	cuda_current(c);
	if (region->where == SL_GPU_MEM_TOKENS) {
		c->fn.cuMemFree_v2(region->dev);
	} else {
		/* The ring region carries its consumer (stopped by now). */
		consumer_free(c, region->cookie);
		c->fn.cuMemFreeHost(region->host);
	}
	memset(region, 0, sizeof(*region));
}

static int
cuda_stop(struct sl_gpu_ring *r, uint64_t timeout_ns)
{
	struct cuda_ctx *c = r->ctx->priv;
	struct cuda_consumer *cc = r->consumer;
	uint64_t deadline = sl_gpu_now_ns() + timeout_ns;

	if (cc == NULL || !cc->launched)
		return 0;
	if (cuda_current(c) != 0)
		return -EIO;
	for (;;) {
		cu_result rc = c->fn.cuStreamQuery(cc->stream);

		if (rc == CU_SUCCESS) {
			cc->launched = 0;
			return 0;
		}
		if (rc != CU_ERROR_NOT_READY) {
			/* The kernel faulted: nothing runs any more. */
			cc->launched = 0;
			atomic_store(&r->st->consumer, SL_GPU_CONSUMER_STOPPED);
			return -EIO;
		}
		if (sl_gpu_now_ns() >= deadline)
			return -ETIMEDOUT;
		sl_gpu_nap_ns(20000);
	}
}

static int
cuda_start(struct sl_gpu_ring *r)
{
	struct cuda_ctx *c = r->ctx->priv;
	struct cuda_consumer *cc = r->consumer;
	uint32_t batch = r->cfg.batch_bytes;
	unsigned int shared;
	struct sl_gpu_view view;
	cu_ptr scratch;
	void *args[2];
	int rc;

	if (cuda_current(c) != 0)
		return -EIO;
	if (cc == NULL) {
		cc = calloc(1, sizeof(*cc));
		if (cc == NULL)
			return -ENOMEM;
		if (c->fn.cuStreamCreate(&cc->stream, CU_STREAM_NON_BLOCKING) !=
			    CU_SUCCESS ||
		    (batch > CUDA_SHARED_BATCH_MAX &&
		     c->fn.cuMemAlloc_v2(&cc->scratch, batch) != CU_SUCCESS)) {
			consumer_free(c, cc);
			return -ENOMEM;
		}
		r->consumer = cc;
		r->ring.cookie = cc;
	}
	/* A kernel that is leaving (quit, idle, RESTARTING) goes first. */
	while ((rc = cuda_stop(r, 1000000000ull)) == -ETIMEDOUT)
		;
	if (rc != 0)
		return rc;
	atomic_store(&r->st->consumer, SL_GPU_CONSUMER_RUNNING);
	view = r->view;
	scratch = cc->scratch;
	args[0] = &view;
	args[1] = &scratch;
	shared = scratch != 0 ? 0 : (batch + 15u) & ~15u;
	if (c->fn.cuLaunchKernel(c->consumer, 1, 1, 1, CUDA_THREADS, 1, 1,
				 shared, cc->stream, args,
				 NULL) != CU_SUCCESS) {
		atomic_store(&r->st->consumer, SL_GPU_CONSUMER_STOPPED);
		return -EIO;
	}
	cc->launched = 1;
	return 0;
}

static int
cuda_copy_out(struct sl_gpu_ctx *ctx, void *dst, uint64_t src, size_t len)
{
	struct cuda_ctx *c = ctx->priv;

	if (cuda_current(c) != 0 ||
	    c->fn.cuMemcpyDtoHAsync_v2(dst, src, len, c->copy) != CU_SUCCESS ||
	    c->fn.cuStreamSynchronize(c->copy) != CU_SUCCESS)
		return -EIO;
	return 0;
}

const struct sl_gpu_ops sl_gpu_cuda_ops = {
	.name = "cuda",
	.init = cuda_init,
	.fini = cuda_fini,
	.alloc = cuda_alloc,
	.free = cuda_free,
	.start = cuda_start,
	.stop = cuda_stop,
	.copy_out = cuda_copy_out,
};
