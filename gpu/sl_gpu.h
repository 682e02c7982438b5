/* SPDX-License-Identifier: MIT */
/*
 * sl_gpu.h - GPU backends behind one ops table (DESIGN §5, gpu/README.md).
 *
 * Today: run-time detection only. sluice never links libcuda: the driver
 * is looked up with dlopen when the process starts, and anything short of
 * a working driver with at least one device selects the `host` backend,
 * with one line saying why. The token rings, the persistent consumer
 * kernel and GPUDirect receive plug in behind this choice.
 */
#ifndef SL_GPU_H
#define SL_GPU_H

#include <stddef.h>

enum sl_gpu_backend {
	SL_GPU_BACKEND_HOST = 0, /* CPU thread runs the ring protocol */
	SL_GPU_BACKEND_CUDA,     /* libcuda found, a device answered */
};

struct sl_gpu_probe {
	enum sl_gpu_backend backend;
	int cuda_status;    /* CUresult of the failing call, 0 if none */
	int driver_version; /* e.g. 12040, 0 if unknown */
	int devices;
	char reason[160]; /* why this backend was chosen */
};

/**
 * sl_gpu_probe - choose a backend.
 * @want: "host", "cuda" or "auto" (NULL means auto). "host" skips the
 *        probe; "cuda" and "auto" probe, and "cuda" fails if CUDA is not
 *        usable.
 * @out: the result, reason included.
 *
 * Order: dlopen("libcuda.so.1"), then "libcuda.so"; cuInit(0) == 0;
 * cuDriverGetVersion >= 11040; cuDeviceGetCount > 0.
 * Return: 0, -EINVAL for an unknown @want, -ENODEV when @want is "cuda"
 * and CUDA is not usable (@out still says why).
 */
int sl_gpu_probe(const char *want, struct sl_gpu_probe *out);

const char *sl_gpu_backend_name(enum sl_gpu_backend b);

#endif /* SL_GPU_H */
