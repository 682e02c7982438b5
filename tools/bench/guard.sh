#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# guard.sh - build and run the guard filter benchmark, record the result.
#
#   tools/bench/guard.sh [guard options...]
#
# Builds tools/bench/guard (the meson target, a release build in
# build-bench/; it needs libhs and ICU), runs it pinned to
# the last CPU on the TOFU copy in tools/data/tofu, prints the table and
# writes the JSON to results/guard.json and
# tools/bench/results/guard-<commit>.json, then appends one line to
# tools/bench/results/guard.md. Options go to the bench (--rounds N,
# --passes N). About 10 s. Exits non-zero when sluice leaked anything.

set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
builddir=${SL_BENCH_BUILD:-$root/build-bench}
results=$root/tools/bench/results

# shellcheck source=tools/bench/common.sh
. "$root/tools/bench/common.sh"
bench_build "$builddir" tools/bench/guard || exit 1
bench=$builddir/tools/bench/guard
commit=$(bench_commit control/sl_guard.h control/sl_guard.c \
	control/sl_guard_int.h control/sl_guard_run.c control/sl_guard_norm.c \
	control/sl_guard_norm.h tools/bench/guard.c)

pin=()
if command -v taskset >/dev/null; then
	pin=(taskset -c "$(($(nproc) - 1))")
fi

mkdir -p "$results" "$root/results"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
rc=0
"${pin[@]}" "$bench" --data "$root/tools/data/tofu" --commit "$commit" \
	--json-file "$tmp" "$@" || rc=$?
if [[ ! -s $tmp ]]; then
	echo "guard.sh: the bench wrote no result (exit $rc)" >&2
	exit 1
fi
json=$results/guard-$commit.json
cp "$tmp" "$json"
cp "$tmp" "$root/results/guard.json"

log=$results/guard.md
python3 - "$json" "$log" "$rc" <<'PY'
import json, os, sys

path, log, rc = sys.argv[1], sys.argv[2], int(sys.argv[3])
r = json.load(open(path))
m, i = r["machine"], r["input"]
head = ("# Guard filter benchmark log\n\n"
        "Written by tools/bench/guard.sh; one line per run. TOFU answers "
        "cut into token-sized fragments with a cut inside every name, all "
        "rules REDACT; cycles per input byte (TSC), medians over the rounds; "
        "leaked = matches in the released output + matches released before "
        "they were detected (see tools/bench/README.md).\n\n"
        "| date | commit | machine | input | rules | sluice c/B | sluice "
        "frag/s | sluice leaked | baseline c/B | baseline frag/s | baseline "
        "leaked | sluice/baseline |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n")
rows = ""
for key in sorted((k for k in r if k.startswith("rules_")),
                  key=lambda k: int(k[6:])):
    s, b = r[key]["sluice"], r[key]["baseline"]
    rows += ("| {date} | {commit} | {cpu}, {cores} cores, {ghz:.2f} GHz "
             "| {streams} streams, {frags} frags, {names} split names "
             "| {rules} | {scpb:.1f} | {sfps:.3g} | {sl}{fail} | {bcpb:.1f} "
             "| {bfps:.3g} | {bl} | {ratio:.2f} |\n").format(
        date=r["date"], commit=r["commit"], cpu=m["cpu"], cores=m["cores"],
        ghz=m["tsc_hz"] / 1e9, streams=i["streams"], frags=i["fragments"],
        names=i["names_split"], rules=key[6:], scpb=s["cycles_per_byte"],
        sfps=s["fragments_per_s"], sl=s["leaked"],
        fail="" if rc == 0 else " FAILED", bcpb=b["cycles_per_byte"],
        bfps=b["fragments_per_s"], bl=b["leaked"],
        ratio=r[key]["ratio_cycles"])
new = not os.path.exists(log)
with open(log, "a") as f:
    if new:
        f.write(head)
    f.write(rows)
PY
echo "recorded $json, results/guard.json and a line in $log"
exit "$rc"
