/* SPDX-License-Identifier: MIT */
/*
 * sluice-gpucheck - print which GPU backend sluice would use, and why.
 * Exit 0 when the requested backend is usable, 1 otherwise. Needs no DPDK
 * so it runs on a GPU machine without DPDK's libraries.
 */
#include <stdio.h>

#include "sl_gpu.h"

int
main(int argc, char **argv)
{
	const char *want = argc > 1 ? argv[1] : "auto";
	struct sl_gpu_probe p;
	int rc = sl_gpu_probe(want, &p);

	printf("{\"want\":\"%s\",\"backend\":\"%s\",\"cuda_status\":%d,"
	       "\"driver_version\":%d,\"devices\":%d,\"reason\":\"%s\"}\n",
	       want, sl_gpu_backend_name(p.backend), p.cuda_status,
	       p.driver_version, p.devices, p.reason);
	return rc == 0 ? 0 : 1;
}
