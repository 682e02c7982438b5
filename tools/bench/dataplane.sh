#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# dataplane.sh - build and run the dataplane benchmark, record the result.
#
#   tools/bench/dataplane.sh [bench_dataplane options...]
#
# Builds bench_dataplane in build-bench/ (release; set SL_BENCH_BUILD to use
# another folder, SL_BENCH_COMMIT to name the code outside a git checkout),
# runs it pinned to the last CPU, prints the table and writes the JSON to
# tools/bench/results/dataplane-<commit>.json (with the options appended to
# the name when there are any), then appends one line to
# tools/bench/results/dataplane.md. Options are passed to the bench (e.g.
# --rounds 3 --seconds 1 for a quicker look; --hops 1 for requests whose
# answers are one fragment). About 45 s with the defaults. Exits non-zero
# when a check of the bench failed (a drop, a refusal, an unanswered END:
# tools/bench/README.md).
#
# Without options it then measures the rest of issue 11 (DATAPLANE_PARTS,
# default "workers kernel hop"; empty: the path only), about 3 minutes:
#
#   workers  bench_dataplane --workers 1, 2, 4 (3 rounds of 1 s, not
#            pinned): aggregate Mpps and the scaling per added worker,
#            mpps(N) / (N * mpps(1)); on a 2-CPU host 4 workers share the
#            CPUs, so 0.5 is the most N = 4 can show there
#   kernel   tools/bench/kernel_relay.sh: the same packet logic over kernel
#            UDP sockets (recvmmsg/sendmmsg, io_uring); the ratio is the
#            path's fragments per CPU-second (TSC Hz / path cycles) over
#            the kernel relay's best
#   hop      tools/bench/hop.sh: sluicegen's DPDK mode, per-hop latency at
#            10%, 50% and 90% of capacity (p99 of one hop, CO-corrected)
#
# and writes the summary, tools/bench/results/dataplane.json (and
# dataplane-summary-<commit>.json): path_over_iofwd, per-node cycles,
# kernel_relay_ratio, hop_p99_us, workers_scaling, each beside its aim.

set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
builddir=${SL_BENCH_BUILD:-$root/build-bench}
results=$root/tools/bench/results
bench=$builddir/tools/bench/bench_dataplane

if ! grep -q "subdir('bench')" "$root/tools/meson.build"; then
	echo "dataplane.sh: tools/meson.build has no subdir('bench'): the" \
		"bench target is not part of the build yet" >&2
	exit 1
fi

# shellcheck source=tools/bench/common.sh
. "$root/tools/bench/common.sh"
bench_build "$builddir" tools/bench/bench_dataplane || exit 1
commit=$(bench_commit dataplane proto control)

# One core for the bench, the other left to the rest of the machine.
pin=()
if command -v taskset >/dev/null; then
	pin=(taskset -c "$(($(nproc) - 1))")
fi

mkdir -p "$results"
# Runs with options other than the defaults keep their own file.
name=dataplane-$commit
if [[ $# -gt 0 ]]; then
	name=$name-$(printf '%s' "$*" | tr -cs 'A-Za-z0-9.' '-' |
		sed 's/^-*//; s/-*$//')
fi
json=$results/$name.json
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
rc=0
"${pin[@]}" "$bench" --commit "$commit" --json-file "$tmp" "$@" || rc=$?
if [[ ! -s $tmp ]]; then
	echo "dataplane.sh: the bench wrote no result (exit $rc)" >&2
	exit 1
fi
cp "$tmp" "$json"

log=$results/dataplane.md
python3 - "$json" "$log" "$rc" <<'EOF'
import json, os, sys

path, log, rc = sys.argv[1], sys.argv[2], int(sys.argv[3])
r = json.load(open(path))
m, s, t = r["machine"], r["stage_cycles"], r["traffic"]
head = ("# Dataplane benchmark log\n\n"
        "Written by tools/bench/dataplane.sh; one line per run. Cycles per "
        "fragment, medians over the rounds (see tools/bench/README.md).\n\n"
        "| date | commit | machine | traffic | fill | io-fwd | path | ratio "
        "| parse | admit | order | route | tx | hk | Mpps | drops | fanout |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
row = ("| {date} | {commit} | {cpu}, {cores} cores, {ghz:.2f} GHz "
       "| {streams}x{frags}, {hops} hop(s) | {fill:.1f} | {io:.1f} "
       "| {path:.1f} | {ratio:.2f} | {parse:.1f} | {admit:.1f} "
       "| {order:.1f} | {route:.1f} | {tx:.1f} | {hk:.1f} | {mpps:.2f} "
       "| {drops}{fail} | {fanout:.1f} |\n").format(
    date=r["date"], commit=r["commit"], cpu=m["cpu"], cores=m["cores"],
    ghz=m["tsc_hz"] / 1e9, streams=t["streams"],
    frags=t["fragments_per_stream"], hops=t["hops"],
    fill=r["fill_cycles"], io=r["io_fwd_cycles"], path=r["path_cycles"],
    ratio=r["ratio"], parse=s["parse"], admit=s["admit"], order=s["order"],
    route=s["route"], tx=s["tx"], hk=s["housekeeping"],
    mpps=r["mpps_path"], drops=r["drops_total"], fanout=s.get("fanout", 0),
    fail="" if rc == 0 else " FAILED")
new = not os.path.exists(log)
with open(log, "a") as f:
    if new:
        f.write(head)
    f.write(row)
EOF
echo "recorded $json and a line in $log"

parts=${DATAPLANE_PARTS-workers kernel hop}
[[ $# -eq 0 ]] || parts=${DATAPLANE_PARTS:-}
[[ -n $parts ]] || exit "$rc"

work=$(mktemp -d)
trap 'rm -f "$tmp"; rm -rf "$work"' EXIT
prc=0
if [[ " $parts " == *" workers "* ]]; then
	for n in 1 2 4; do
		echo "dataplane.sh: $n worker(s)"
		"$bench" --commit "$commit" --workers "$n" --rounds 3 --seconds 1 \
			--json-file "$work/workers-$n.json" >"$work/workers-$n.txt" ||
			{ prc=1 && tail -n 5 "$work/workers-$n.txt" >&2; }
	done
fi
if [[ " $parts " == *" kernel "* ]]; then
	echo "dataplane.sh: the kernel relay (kernel_relay.sh)"
	SL_BENCH_BUILD=$builddir "$root/tools/bench/kernel_relay.sh" \
		>"$work/kernel.txt" 2>&1 || prc=1
	sed -n 's/^recorded //p' "$work/kernel.txt" | tail -n 1 >"$work/kernel.path"
	grep -E '^(mmsg|uring)' "$work/kernel.txt" || tail -n 5 "$work/kernel.txt"
fi
if [[ " $parts " == *" hop "* ]]; then
	echo "dataplane.sh: per-hop latency (hop.sh)"
	HOP_BUILD=$builddir "$root/tools/bench/hop.sh" >"$work/hop.txt" 2>&1 || prc=1
	sed -n 's/^hop.sh: wrote //p' "$work/hop.txt" | tail -n 1 >"$work/hop.path"
	sed -n '/hop latency/,/baseline/p' "$work/hop.txt"
	[[ -s $work/hop.path ]] || tail -n 5 "$work/hop.txt"
fi

python3 "$root/tools/bench/dataplane_summary.py" "$json" "$work" "$results" ||
	prc=1
((rc == 0)) || exit "$rc"
exit "$prc"
