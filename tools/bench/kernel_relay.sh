#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# kernel_relay.sh - the kernel baseline: build kernel_relay, check it, run
# it with both I/O modes and record the result.
#
#   tools/bench/kernel_relay.sh [kernel_relay options...]
#
# Builds kernel_relay in build-bench/ (release; set SL_BENCH_BUILD to use
# another folder, SL_BENCH_COMMIT to name the code outside a git checkout),
# runs its --self-test with --io mmsg and --io uring, then the benchmark
# with each (the relay pinned to the last CPU, the driver on the others),
# prints the tables and writes tools/bench/results/kernel_relay-<commit>.json
# (the options appended to the name when there are any): both runs and,
# when tools/bench/results/dataplane.md has a line, how many times fewer
# cycles per fragment sluiced's path took there. Options are passed to
# both runs (e.g. --rounds 3 --seconds 1 for a quicker look; --pace
# window). About 40 s with the defaults. Exits non-zero when a self-test or
# a run's check failed; a kernel without what --io uring needs is
# recorded as such, not failed.

set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
builddir=${SL_BENCH_BUILD:-$root/build-bench}
results=$root/tools/bench/results
bin=$builddir/tools/bench/kernel_relay

# shellcheck source=tools/bench/common.sh
. "$root/tools/bench/common.sh"
bench_build "$builddir" tools/bench/kernel_relay || exit 1
commit=$(bench_commit tools/bench/kernel_relay.c proto)
cpu=$(($(nproc) - 1))

mkdir -p "$results"
name=kernel_relay-$commit
if [[ $# -gt 0 ]]; then
	name=$name-$(printf '%s' "$*" | tr -cs 'A-Za-z0-9.' '-' |
		sed 's/^-*//; s/-*$//')
fi
json=$results/$name.json
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

rc=0
declare -A self run
for io in mmsg uring; do
	r=0
	"$bin" --self-test --io "$io" --cpu "$cpu" >"$tmp/self-$io.txt" 2>&1 || r=$?
	case $r in
	0) self[$io]=ok ;;
	2) self[$io]=unavailable ;;
	*)
		self[$io]=failed
		cat "$tmp/self-$io.txt"
		rc=1
		;;
	esac
	echo "self-test --io $io: ${self[$io]}"
done
for io in mmsg uring; do
	echo
	r=0
	"$bin" --io "$io" --cpu "$cpu" --commit "$commit" \
		--json-file "$tmp/$io.json" "$@" || r=$?
	case $r in
	0) run[$io]=ok ;;
	2) run[$io]=unavailable ;;
	*)
		run[$io]=failed
		rc=1
		;;
	esac
	if [[ ${run[$io]} != unavailable && ! -s $tmp/$io.json ]]; then
		echo "kernel_relay.sh: the $io run wrote no result (exit $r)" >&2
		rc=1
	fi
done

python3 - "$tmp" "$json" "$results/dataplane.md" "$commit" \
	"${self[mmsg]}" "${self[uring]}" "${run[mmsg]}" "${run[uring]}" <<'EOF'
import datetime, json, os, sys

tmp, out, dp_log, commit = sys.argv[1:5]
self_test = {"mmsg": sys.argv[5], "uring": sys.argv[6]}
status = {"mmsg": sys.argv[7], "uring": sys.argv[8]}
res = {"commit": commit,
       "date": datetime.datetime.now(datetime.timezone.utc)
       .strftime("%Y-%m-%dT%H:%M:%SZ"),
       "self_test": self_test, "status": status, "runs": {}}
for io in ("mmsg", "uring"):
    path = os.path.join(tmp, io + ".json")
    if os.path.exists(path) and os.path.getsize(path) > 0:
        res["runs"][io] = json.load(open(path))
    else:
        res["runs"][io] = {"io": io, "unavailable": status[io] ==
                           "unavailable"}
    if "machine" in res["runs"][io] and "machine" not in res:
        res["machine"] = res["runs"][io]["machine"]

# sluiced's path on the last line of dataplane.md, if any: the speed-up
# per core is the kernel relay's cycles per fragment over the path's.
rows = []
if os.path.exists(dp_log):
    rows = [l for l in open(dp_log) if l.startswith("| 2")]
if rows:
    c = [x.strip() for x in rows[-1].strip().strip("|").split("|")]
    path_cycles, mpps = float(c[6]), float(c[14])
    vs = {"date": c[0], "commit": c[1], "machine": c[2], "traffic": c[3],
          "path_cycles_per_frag": path_cycles,
          "path_frags_per_cpu_s": mpps * 1e6,
          "same_cpu_model": res.get("machine", {}).get("cpu", "?")
          in c[2]}
    for io in ("mmsg", "uring"):
        r = res["runs"][io]
        if "cycles_per_frag_median" in r:
            vs["times_fewer_cycles_" + io] = round(
                r["cycles_per_frag_median"] / path_cycles, 2)
    res["vs_dataplane"] = vs
json.dump(res, open(out, "w"), indent=1)
open(out, "a").write("\n")

print()
for io in ("mmsg", "uring"):
    r = res["runs"][io]
    if "frags_per_cpu_s_median" not in r:
        print(f"{io:5}: {status[io]}")
        continue
    print(f"{io:5}: {r['frags_per_cpu_s_median'] / 1e3:7.1f} Kfrag per "
          f"CPU-second, {r['cycles_per_frag_median']:7.1f} cycles/frag "
          f"(median of {r['rounds_used']} of {len(r['rounds'])} rounds, "
          f"spread {r['spread'] * 100:.1f} %; all drains "
          f"{r['cycles_per_frag_all_drains_median']:.1f}), self-test "
          f"{self_test[io]}, run {status[io]}")
    if r.get("cpu_shared"):
        print(f"       WARNING: no undisturbed drain: the relay's CPU was "
              f"shared throughout; run again on a quieter machine")
if "vs_dataplane" in res:
    vs = res["vs_dataplane"]
    line = ", ".join(f"{io} {vs['times_fewer_cycles_' + io]:.1f}x"
                     for io in ("mmsg", "uring")
                     if "times_fewer_cycles_" + io in vs)
    print(f"sluiced's path ({vs['path_cycles_per_frag']:.1f} cycles/frag, "
          f"dataplane.md {vs['date']}, {vs['commit']}) takes fewer "
          f"cycles per fragment: {line}"
          + ("" if vs["same_cpu_model"] else
             " (NOT the same CPU model: compare with care)"))
EOF
echo "recorded $json"
exit "$rc"
