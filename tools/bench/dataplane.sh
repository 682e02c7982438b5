#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# dataplane.sh - build and run the dataplane benchmark, record the result.
#
#   tools/bench/dataplane.sh [bench_dataplane options...]
#
# Builds bench_dataplane in build-bench/ (release; set SL_BENCH_BUILD to use
# another folder, SL_BENCH_COMMIT to name the code outside a git checkout), runs it pinned to the last CPU, prints the table and
# writes the JSON to tools/bench/results/dataplane-<commit>.json (with the
# options appended to the name when there are any), then
# appends one line to tools/bench/results/dataplane.md. Options are passed
# to the bench (e.g. --rounds 3 --seconds 1 for a quicker look; --hops 1
# for requests whose answers are one fragment). About 45 s with the
# defaults. Exits non-zero when a check of the bench failed (a drop, a
# refusal, an unanswered END: tools/bench/README.md).

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
exit "$rc"
