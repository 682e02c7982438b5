/* SPDX-License-Identifier: MIT */
/*
 * test_gpu_probe - backend selection. On a machine without a CUDA driver
 * "auto" must fall back to host with a reason and "cuda" must fail with
 * -ENODEV; where a driver and a device exist, "auto" must pick cuda.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "sl_gpu.h"

static bool
have_driver(void)
{
	void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);

	if (h != NULL)
		dlclose(h);
	return h != NULL;
}

static void
test_host_requested(void)
{
	struct sl_gpu_probe p;

	CU_ASSERT_EQUAL(sl_gpu_probe("host", &p), 0);
	CU_ASSERT_EQUAL(p.backend, SL_GPU_BACKEND_HOST);
	CU_ASSERT_STRING_EQUAL(p.reason, "host requested");
}

static void
test_unknown_backend(void)
{
	struct sl_gpu_probe p;

	CU_ASSERT_EQUAL(sl_gpu_probe("opencl", &p), -EINVAL);
	CU_ASSERT_STRING_EQUAL(
		p.reason, "unknown GPU backend 'opencl' (host, cuda, auto)");
}

static void
test_auto_and_cuda(void)
{
	struct sl_gpu_probe a, c;
	int rc_auto = sl_gpu_probe("auto", &a);
	int rc_cuda = sl_gpu_probe("cuda", &c);

	CU_ASSERT_EQUAL(rc_auto, 0);
	CU_ASSERT(strlen(a.reason) > 0);
	if (!have_driver()) {
		CU_ASSERT_EQUAL(a.backend, SL_GPU_BACKEND_HOST);
		CU_ASSERT(strncmp(a.reason, "no CUDA driver: ", 16) == 0);
		CU_ASSERT_EQUAL(rc_cuda, -ENODEV);
		CU_ASSERT_EQUAL(c.backend, SL_GPU_BACKEND_HOST);
	} else if (a.backend == SL_GPU_BACKEND_CUDA) {
		CU_ASSERT_EQUAL(rc_cuda, 0);
		CU_ASSERT(a.devices > 0);
		CU_ASSERT(a.driver_version >= 11040);
	} else {
		/* A driver without a usable device: both agree on why. */
		CU_ASSERT_EQUAL(rc_cuda, -ENODEV);
		CU_ASSERT_STRING_EQUAL(a.reason, c.reason);
	}
	CU_ASSERT_STRING_EQUAL(sl_gpu_backend_name(SL_GPU_BACKEND_HOST),
			       "host");
	CU_ASSERT_STRING_EQUAL(sl_gpu_backend_name(SL_GPU_BACKEND_CUDA),
			       "cuda");
}

int
main(void)
{
	CU_pSuite s;
	unsigned int failures;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("gpu_probe", NULL, NULL);
	CU_add_test(s, "host requested", test_host_requested);
	CU_add_test(s, "unknown backend", test_unknown_backend);
	CU_add_test(s, "auto and cuda", test_auto_and_cuda);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failures == 0 ? 0 : 1;
}
