#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# gpu-check.sh - everything issue 14 wants from a GPU machine, in one run
# of a few minutes: the device, the cuda backend's tests and the token
# ring benchmark (tools/bench/gpu_ring.c), every figure printed.
#
#   tools/gpu-check.sh [--short]
#
# Self-contained for a machine without network: no package is installed
# and nothing is downloaded. It builds only what it needs, gpu/ and its
# test and benchmark, with gcc and nvcc directly (no meson, no DPDK), in
# build-gpu-check/ (SL_GPU_CHECK_BUILD names another folder). Without
# nvcc it uses a kernel fatbin built elsewhere (SL_GPU_FATBIN, else
# build*/gpu/sl_gpu_kernel.fatbin of this tree). The ring tests use CUnit
# where it is installed, else a minimal stand-in written here.
#
# Every step has a timeout (SL_GPU_CHECK_TIMEOUT scales them, default 1).
# Exit: 0 all passed; 77 (SKIP) no usable GPU here, decided first and in
# about a second; 1 a step failed. On a GPU the log and the benchmark's
# JSON go to tools/bench/results/gpu-check-<commit>.log and
# gpu-cuda-<commit>.json (SL_BENCH_COMMIT names the commit where the tree
# is no git checkout).
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1
# shellcheck source=tools/bench/common.sh
. tools/bench/common.sh

short=0
for a in "$@"; do
	case $a in
	--short) short=1 ;;
	*)
		echo "usage: tools/gpu-check.sh [--short]" >&2
		exit 2
		;;
	esac
done

out=${SL_GPU_CHECK_BUILD:-build-gpu-check}
scale=${SL_GPU_CHECK_TIMEOUT:-1}
mkdir -p "$out"
log=$out/gpu-check.log
: >"$log"
failed=()

say() { printf '%s\n' "$*" | tee -a "$log"; }

# step NAME SECONDS CMD...: run with a timeout, output to the log too.
step() {
	local name=$1 limit=$(($2 * scale)) rc
	shift 2
	say "== $name (limit ${limit}s): $*"
	timeout -k 10 "$limit" "$@" 2>&1 | tee -a "$log"
	rc=${PIPESTATUS[0]}
	if ((rc == 124 || rc == 137)); then
		say "== $name: TIMED OUT after ${limit}s"
	else
		say "== $name: rc=$rc"
	fi
	return "$rc"
}

fail() {
	failed+=("$1")
	say "FAIL: $1"
}

cc=${CC:-gcc}
if ! command -v "$cc" >/dev/null; then
	say "FAIL: no C compiler ($cc)"
	exit 1
fi
cflags=(-O2 -g -std=gnu11 -D_GNU_SOURCE -Wall -Wextra
	-Wno-missing-field-initializers -Igpu -Iproto)

# 1. Is there a GPU at all? The probe is plain C and needs no CUDA.
step "build sluice-gpucheck" 120 "$cc" "${cflags[@]}" -o "$out/sluice-gpucheck" \
	gpu/sluice_gpucheck.c gpu/sl_gpu_probe.c -ldl || exit 1
# SL_GPU_CHECK_NO_PROBE=1 goes on without a GPU: to test this script.
if ! probe=$(timeout 30 "$out/sluice-gpucheck" cuda) &&
	[[ ${SL_GPU_CHECK_NO_PROBE:-0} != 1 ]]; then
	say "$probe"
	say "SKIP: no usable GPU here (sluice-gpucheck cuda says why above)"
	exit 77
fi
say "$probe"
commit=$(bench_commit gpu tools/bench/gpu_ring.c tests/gpu tools/gpu-check.sh)
say "gpu-check: commit $commit, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(uname -srm)"
if command -v nvidia-smi >/dev/null; then
	step "nvidia-smi" 30 nvidia-smi \
		--query-gpu=name,driver_version,memory.total,compute_cap,clocks.max.sm \
		--format=csv || true
fi

# 2. The kernel: nvcc here, else a fatbin built elsewhere.
nvcc=$(command -v nvcc || true)
for d in "${CUDA_HOME:-}" /usr/local/cuda /usr/local/cuda-*; do
	[[ -z $nvcc && -n $d && -x $d/bin/nvcc ]] && nvcc=$d/bin/nvcc
done
fatbin=$out/sl_gpu_kernel.fatbin
if [[ -n $nvcc ]]; then
	say "nvcc: $nvcc ($("$nvcc" --version | tail -n 2 | head -n 1))"
	step "nvcc kernel (sm_80, sm_90, compute_90 PTX)" 300 "$nvcc" -fatbin -O3 \
		-std=c++17 -Igpu \
		-gencode arch=compute_80,code=sm_80 \
		-gencode arch=compute_90,code=sm_90 \
		-gencode arch=compute_90,code=compute_90 \
		-o "$fatbin" gpu/sl_gpu_kernel.cu || {
		fail "nvcc"
		exit 1
	}
else
	pre=${SL_GPU_FATBIN:-}
	for f in build*/gpu/sl_gpu_kernel.fatbin; do
		[[ -z $pre && -f $f ]] && pre=$f
	done
	if [[ -z $pre || ! -f $pre ]]; then
		say "FAIL: no nvcc and no prebuilt fatbin (SL_GPU_FATBIN)"
		exit 1
	fi
	say "no nvcc: using the prebuilt kernel $pre"
	cp "$pre" "$fatbin"
fi
{
	echo '#include <stddef.h>'
	echo '_Alignas(8) const unsigned char sl_gpu_kernel_fatbin[] = {'
	od -An -v -tx1 "$fatbin" | sed -e 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'
	echo '};'
	echo "const size_t sl_gpu_kernel_fatbin_len = $(wc -c <"$fatbin");"
} >"$out/sl_gpu_kernel_fatbin.c"

# 3. The library, the tests and the benchmark.
lib=(gpu/sl_gpu_probe.c gpu/sl_gpu_ring.c gpu/sl_gpu_host.c gpu/sl_gpu_cuda.c
	"$out/sl_gpu_kernel_fatbin.c")
step "build gpu_ring benchmark" 300 "$cc" "${cflags[@]}" -DSL_GPU_HAVE_KERNEL \
	-o "$out/gpu_ring" tools/bench/gpu_ring.c "${lib[@]}" -ldl -lpthread || {
	fail "build gpu_ring"
	exit 1
}
# CUnit where installed, else the few calls the ring test makes, here.
cunit=(-lcunit)
# SL_GPU_CHECK_CUNIT_SHIM=1 takes the stand-in anyway (to test it).
if [[ ${SL_GPU_CHECK_CUNIT_SHIM:-0} == 1 ]] ||
	! echo '#include <CUnit/Basic.h>' | "$cc" -E -x c - >/dev/null 2>&1 ||
	! echo 'int main(void){return 0;}' | "$cc" -x c - -lcunit -o /dev/null 2>/dev/null; then
	say "no CUnit here: the ring test builds on a minimal stand-in"
	mkdir -p "$out/cunit/CUnit"
	cat >"$out/cunit/CUnit/Basic.h" <<'SHIM'
/* A stand-in for the CUnit calls test_gpu_ring makes (gpu-check.sh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define CUE_SUCCESS 0
#define CU_BRM_VERBOSE 2
#define CU_FALSE 0
#define CU_TRUE 1
typedef int CU_pSuite;
static struct { const char *name; void (*fn)(void); } cu_tests[64];
static int cu_ntests;
static unsigned int cu_failures, cu_asserts;
static int CU_initialize_registry(void) { return CUE_SUCCESS; }
static void CU_cleanup_registry(void) {}
static void CU_basic_set_mode(int m) { (void)m; }
static CU_pSuite CU_add_suite(const char *n, void *i, void *c)
{ (void)i; (void)c; printf("Suite: %s\n", n); return 1; }
static void CU_add_test(CU_pSuite s, const char *n, void (*fn)(void))
{ (void)s; cu_tests[cu_ntests].name = n; cu_tests[cu_ntests++].fn = fn; }
static unsigned int CU_get_number_of_failures(void) { return cu_failures; }
static void CU_basic_run_tests(void)
{
	for (int i = 0; i < cu_ntests; i++) {
		unsigned int f = cu_failures;
		printf("  Test: %s ...", cu_tests[i].name);
		fflush(stdout);
		cu_tests[i].fn();
		printf("%s\n", cu_failures == f ? "passed" : "FAILED");
	}
	printf("asserts %u, failures %u\n", cu_asserts, cu_failures);
}
static int cu_check(int ok, const char *what, const char *file, int line,
		    int fatal)
{
	__atomic_add_fetch(&cu_asserts, 1, __ATOMIC_RELAXED);
	if (ok)
		return 1;
	__atomic_add_fetch(&cu_failures, 1, __ATOMIC_RELAXED);
	printf("\n    %s:%d: %s\n", file, line, what);
	if (fatal) {
		printf("fatal assertion failed\n");
		exit(1);
	}
	return 0;
}
#define CU_ASSERT(x) cu_check(!!(x), #x, __FILE__, __LINE__, 0)
#define CU_ASSERT_FATAL(x) cu_check(!!(x), #x, __FILE__, __LINE__, 1)
#define CU_ASSERT_EQUAL(a, b) CU_ASSERT((a) == (b))
#define CU_ASSERT_EQUAL_FATAL(a, b) CU_ASSERT_FATAL((a) == (b))
#define CU_ASSERT_NOT_EQUAL(a, b) CU_ASSERT((a) != (b))
#define CU_ASSERT_PTR_NULL(p) CU_ASSERT((p) == NULL)
#define CU_ASSERT_PTR_NOT_NULL_FATAL(p) CU_ASSERT_FATAL((p) != NULL)
#define CU_ASSERT_STRING_EQUAL(a, b) CU_ASSERT(strcmp((a), (b)) == 0)
SHIM
	cunit=(-I"$out/cunit")
fi
have_tests=0
if step "build test_gpu_ring" 300 "$cc" "${cflags[@]}" -DSL_GPU_HAVE_KERNEL \
	-Wno-unused-function -o "$out/test_gpu_ring" tests/gpu/test_gpu_ring.c \
	"${lib[@]}" proto/sl_wire.c "${cunit[@]}" -ldl -lpthread; then
	have_tests=1
else
	fail "build test_gpu_ring"
fi

# 4. Run.
step "sluice-gpucheck auto" 30 "$out/sluice-gpucheck" auto || fail "gpucheck"
if ((have_tests)); then
	step "test_gpu_ring cuda" 300 "$out/test_gpu_ring" cuda ||
		fail "test_gpu_ring cuda"
	step "test_gpu_ring host" 120 "$out/test_gpu_ring" host ||
		fail "test_gpu_ring host"
fi
results=tools/bench/results
mkdir -p "$results"
bench=(--rounds 5 --frags 1000000 --samples 10000)
((short)) && bench=(--short)
json=$results/gpu-cuda-$commit.json
if step "gpu_ring benchmark (cuda)" 300 "$out/gpu_ring" --backend cuda \
	--commit "$commit" --json-file "$out/gpu-cuda.json" "${bench[@]}"; then
	[[ ${SL_GPU_CHECK_NO_PROBE:-0} == 1 ]] || cp "$out/gpu-cuda.json" "$json"
else
	fail "gpu_ring benchmark"
fi
step "gpu_ring benchmark (host, same machine)" 300 "$out/gpu_ring" \
	--backend host --commit "$commit" --short || fail "gpu_ring host"

say ""
say "device: $(sed -n 's/.*"reason":"\([^"]*\)".*/\1/p' <<<"$probe")"
if [[ -f $json ]]; then
	say "figures (cuda, $json):"
	say "$(cat "$json")"
fi
[[ ${SL_GPU_CHECK_NO_PROBE:-0} == 1 ]] || cp "$log" "$results/gpu-check-$commit.log"
if ((${#failed[@]})); then
	say "gpu-check: FAILED: ${failed[*]}"
	exit 1
fi
say "gpu-check: all passed"
exit 0
