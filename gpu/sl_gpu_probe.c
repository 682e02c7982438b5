/* SPDX-License-Identifier: MIT */
/*
 * sl_gpu_probe.c - find a usable CUDA driver at run time (see sl_gpu.h).
 *
 * Only the three driver entry points the probe needs are looked up, with
 * their C types spelled out here, so this file builds without the CUDA
 * toolkit. Known answers on a machine without a GPU (MACHINE-NOTES.md):
 * dlopen fails (no driver); the toolkit's stub libcuda returns 34
 * (CUDA_ERROR_STUB_LIBRARY) from cuInit; 100 is "no device"; 35 is
 * "driver too old".
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sl_gpu.h"

#define SL_CUDA_MIN_DRIVER 11040

typedef int (*cu_init_fn)(unsigned int flags);
typedef int (*cu_driver_version_fn)(int *version);
typedef int (*cu_device_count_fn)(int *count);

const char *
sl_gpu_backend_name(enum sl_gpu_backend b)
{
	return b == SL_GPU_BACKEND_CUDA ? "cuda" : "host";
}

static void
probe_cuda(struct sl_gpu_probe *out)
{
	static const char *const libs[] = {"libcuda.so.1", "libcuda.so"};
	cu_driver_version_fn version;
	cu_device_count_fn count;
	cu_init_fn init;
	void *h = NULL;
	int rc;

	for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]) && !h; i++)
		h = dlopen(libs[i], RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		snprintf(out->reason, sizeof(out->reason), "no CUDA driver: %s",
			 dlerror());
		return;
	}
	init = (cu_init_fn)dlsym(h, "cuInit");
	version = (cu_driver_version_fn)dlsym(h, "cuDriverGetVersion");
	count = (cu_device_count_fn)dlsym(h, "cuDeviceGetCount");
	if (init == NULL || version == NULL || count == NULL) {
		snprintf(out->reason, sizeof(out->reason),
			 "libcuda lacks cuInit/cuDriverGetVersion/"
			 "cuDeviceGetCount");
		goto close;
	}
	rc = init(0);
	if (rc != 0) {
		out->cuda_status = rc;
		snprintf(out->reason, sizeof(out->reason),
			 "cuInit failed with CUresult %d%s", rc,
			 rc == 34    ? " (stub library, no driver)"
			 : rc == 100 ? " (no device)"
			 : rc == 35  ? " (driver too old)"
				     : "");
		goto close;
	}
	rc = version(&out->driver_version);
	if (rc != 0 || out->driver_version < SL_CUDA_MIN_DRIVER) {
		out->cuda_status = rc;
		snprintf(out->reason, sizeof(out->reason),
			 "CUDA driver version %d below %d", out->driver_version,
			 SL_CUDA_MIN_DRIVER);
		goto close;
	}
	rc = count(&out->devices);
	if (rc != 0 || out->devices <= 0) {
		out->cuda_status = rc;
		snprintf(out->reason, sizeof(out->reason),
			 "no CUDA device (CUresult %d, count %d)", rc,
			 out->devices);
		goto close;
	}
	out->backend = SL_GPU_BACKEND_CUDA;
	snprintf(out->reason, sizeof(out->reason),
		 "CUDA driver %d with %d device(s)", out->driver_version,
		 out->devices);
	/* Keep the driver loaded: the cuda backend will use it. */
	return;
close:
	dlclose(h);
}

int
sl_gpu_probe(const char *want, struct sl_gpu_probe *out)
{
	memset(out, 0, sizeof(*out));
	out->backend = SL_GPU_BACKEND_HOST;
	if (want != NULL && strcmp(want, "host") == 0) {
		snprintf(out->reason, sizeof(out->reason), "host requested");
		return 0;
	}
	if (want != NULL && strcmp(want, "auto") != 0 &&
	    strcmp(want, "cuda") != 0) {
		snprintf(out->reason, sizeof(out->reason),
			 "unknown GPU backend '%s' (host, cuda, auto)", want);
		return -EINVAL;
	}
	probe_cuda(out);
	if (want != NULL && strcmp(want, "cuda") == 0 &&
	    out->backend != SL_GPU_BACKEND_CUDA)
		return -ENODEV;
	return 0;
}
