/* SPDX-License-Identifier: MIT */
/*
 * sl_gpu_cuda.h - the `cuda` backend (sl_gpu_cuda.c, sl_gpu_kernel.cu):
 * libcuda through dlopen, the ring and status in host memory mapped into
 * the device, token buffers in device memory, a persistent consumer
 * kernel per ring. gpu/README.md has the design.
 */
#ifndef SL_GPU_CUDA_H
#define SL_GPU_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "sl_gpu_ops.h"

extern const struct sl_gpu_ops sl_gpu_cuda_ops;

/** sl_gpu_cuda_built - 1 if the kernel was compiled in (nvcc found). */
int sl_gpu_cuda_built(void);

/**
 * sl_gpu_cuda_open - a context on the cuda backend (device 0).
 * @why: filled with the reason on failure (and a summary on success:
 *       device, compute capability, driver); may be NULL.
 *
 * Return: the context (release with sl_gpu_close), or NULL with errno:
 * ENOTSUP built without CUDA (no nvcc at build time), ENODEV no usable
 * driver or device (the probe's reason: no libcuda, stub library, no
 * device, old driver), ENOEXEC the embedded module does not load on this
 * device, EIO another driver error.
 */
struct sl_gpu_ctx *sl_gpu_cuda_open(char *why, size_t why_len);

/**
 * sl_gpu_cuda_device_name - the device's name ("NVIDIA H100 80GB HBM3").
 * Return: 0, or -EINVAL for a context of another backend.
 */
int sl_gpu_cuda_device_name(const struct sl_gpu_ctx *ctx, char *name,
			    size_t len);

/**
 * sl_gpu_cuda_copy_in - copy @len host bytes at @src to device address
 * @dst on the context's copy stream and wait for it: the plain
 * copy-per-burst that benchmarks measure the ring against.
 * Return: 0, -EINVAL for a context of another backend, -EIO.
 */
int sl_gpu_cuda_copy_in(struct sl_gpu_ctx *ctx, uint64_t dst, const void *src,
			size_t len);

#endif /* SL_GPU_CUDA_H */
