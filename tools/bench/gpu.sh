#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# gpu.sh - token fragments through a GPU token ring into per-stream token
# buffers (gpu/README.md, issue 14): fragments per second and READY ->
# DONE round-trip percentiles against a plain copy per burst measured in
# the same run (tools/bench/gpu_ring.c has the method), over several
# rounds with their spread.
#
#   tools/bench/gpu.sh [--backend host|cuda] [gpu_ring options:
#                      --short, --rounds R (5), --frags N (2000000),
#                      --burst B (32), --tokens T (4), --samples L]
#
# host (the default) measures the ring protocol alone, a CPU thread
# consuming; cuda the persistent kernel (exits 77 where no GPU can run
# it). Builds tools/bench/gpu_ring in build-bench/ (release, no CUDA) for
# host, in build-bench-cuda/ (CUDA enabled) for cuda; SL_BENCH_BUILD names
# another folder, SL_BENCH_COMMIT the code outside a git checkout. Writes
# tools/bench/results/gpu-<backend>.json (the latest) and
# tools/bench/results/gpu-<backend>-<commit>.json, and appends a line to
# tools/bench/results/gpu.md.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
# shellcheck source=tools/bench/common.sh
. tools/bench/common.sh

backend=host
args=()
while (($#)); do
	case $1 in
	--backend)
		backend=${2:?--backend needs host or cuda}
		shift 2
		;;
	--backend=*)
		backend=${1#--backend=}
		shift
		;;
	*)
		args+=("$1")
		shift
		;;
	esac
done
case $backend in
host)
	# shellcheck source=tools/deps.sh
	. tools/deps.sh || exit 1
	builddir=${SL_BENCH_BUILD:-build-bench}
	bench_build "$builddir" tools/bench/gpu_ring || exit 1
	;;
cuda)
	# bench_build leaves CUDA out; the kernel needs it. No package
	# installs here: a GPU machine may have no network.
	builddir=${SL_BENCH_BUILD:-build-bench-cuda}
	if [[ ! -f $builddir/build.ninja ]]; then
		meson setup "$builddir" "$root" -Dbuildtype=release \
			-Dtests=false -Dcuda=enabled >"$builddir.setup.log" 2>&1 || {
			cat "$builddir.setup.log" >&2
			exit 1
		}
		rm -f "$builddir.setup.log"
	fi
	ninja -C "$builddir" tools/bench/gpu_ring >/dev/null
	;;
*)
	echo "gpu.sh: --backend host or cuda" >&2
	exit 2
	;;
esac
commit=$(bench_commit gpu tools/bench/gpu_ring.c)

results=tools/bench/results
mkdir -p "$results"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
rc=0
"$builddir/tools/bench/gpu_ring" --backend "$backend" --commit "$commit" \
	--json-file "$tmp" "${args[@]}" || rc=$?
if ((rc != 0)); then
	exit "$rc"
fi
cp "$tmp" "$results/gpu-$backend.json"
cp "$tmp" "$results/gpu-$backend-$commit.json"

md=$results/gpu.md
[[ -f $md ]] || cat >"$md" <<'HEAD'
# GPU token ring (tools/bench/gpu.sh)

Fragments of 4 tokens (4 text bytes each, 64-byte records) to 256 streams
in bursts of 32 through a token ring into per-stream token buffers,
against a plain copy of each burst's records into device memory (memcpy
on host) in the same run. Medians over rounds, min..max in brackets; the
JSON named on each line has every round.

| date | commit | backend (device) | rounds x fragments | ring Mfrag/s | copy-per-burst Mfrag/s | ratio | READY->DONE p50 / p99 us | copy p50 / p99 us | lost | json |
|---|---|---|---|---|---|---|---|---|---|---|
HEAD
python3 - "$results/gpu-$backend-$commit.json" "gpu-$backend-$commit.json" >>"$md" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s, st = r["summary"], r["setting"]
m = lambda x: "%.2f (%.2f..%.2f)" % (x["median"] / 1e6, x["min"] / 1e6, x["max"] / 1e6)
print("| %s | %s | %s (%s) | %d x %d | %s | %s | %.3f | %.1f / %.1f (p99 %.1f..%.1f) | %.2f / %.2f | %d | %s |" % (
    r["date"], r["commit"], r["backend"], r["device"], st["rounds"], st["frags"],
    m(s["ring_fps"]), m(s["baseline_fps"]), s["ratio"],
    s["ready_done_p50_us"]["median"], s["ready_done_p99_us"]["median"],
    s["ready_done_p99_us"]["min"], s["ready_done_p99_us"]["max"],
    s["baseline_p50_us"], s["baseline_p99_us"], s["frags_lost"], sys.argv[2]))
PY
tail -n 1 "$md"
