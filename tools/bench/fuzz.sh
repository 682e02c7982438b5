#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# fuzz.sh - one long libFuzzer campaign of one fuzzer, recorded.
#
#   tools/bench/fuzz.sh TARGET [RUNS [MAX_SECONDS]]
#
# TARGET is frame, config, http, guard, dataplane, api or sse (tests/fuzz/
# fuzz_TARGET.c); RUNS defaults to 10000000 inputs, MAX_SECONDS (the cap
# that keeps a slow target from running away) to 7200. Works from a fresh
# clone: installs what is missing (tools/deps.sh: clang, libclang-rt),
# configures build-fuzz/ (SL_FUZZ_BUILD, -Dfuzz=enabled) and builds only
# that fuzzer.
#
# One job, one worker by default (the machines are small and shared);
# SL_FUZZ_JOBS=N runs N (-jobs=N -workers=N, RUNS/N inputs each, one
# corpus), for a machine with cores to spare. -rss_limit_mb=2048, a
# -max_len per target. The campaign's corpus starts from
# tests/fuzz/corpus/TARGET and lives in results/fuzz/TARGET/corpus
# (SL_FUZZ_WORK), so a second run goes on where the first stopped;
# libFuzzer's logs are results/fuzz/TARGET/fuzz-J.log. A
# finding is kept in tests/fuzz/crashes/ (not tracked) and the script exits
# 1. At the end one line goes to tools/bench/results/fuzz.md: inputs run,
# exec/s, coverage (cov: edges, ft: features), corpus, peak RSS, duration,
# findings, machine and commit. With SL_FUZZ_MERGE=1 the inputs that add
# coverage are merged into tests/fuzz/corpus/TARGET (libFuzzer -merge=1).

set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
target=${1:-}
runs=${2:-10000000}
max_s=${3:-7200}
case $target in
frame) max_len=4096 ;;
config) max_len=4096 ;;
http) max_len=9000 ;;
guard) max_len=2048 ;;
dataplane) max_len=2048 ;;
api) max_len=8192 ;;
sse) max_len=4096 ;;
*)
	echo "usage: $0 frame|config|http|guard|dataplane|api|sse [RUNS [MAX_SECONDS]]" >&2
	exit 2
	;;
esac

builddir=${SL_FUZZ_BUILD:-$root/build-fuzz}
work=${SL_FUZZ_WORK:-$root/results/fuzz/$target}
results=$root/tools/bench/results
crashes=$root/tests/fuzz/crashes

# shellcheck source=tools/deps.sh
. "$root/tools/deps.sh" || exit 1
# shellcheck source=tools/bench/common.sh
. "$root/tools/bench/common.sh"

if [[ ! -f $builddir/build.ninja ]]; then
	meson setup "$builddir" "$root" -Dcuda=disabled -Dfuzz=enabled \
		>"$builddir.setup.log" 2>&1 || {
		cat "$builddir.setup.log" >&2
		exit 1
	}
	rm -f "$builddir.setup.log"
fi
fuzzer=$builddir/tests/fuzz/fuzz_$target
ninja -C "$builddir" "tests/fuzz/fuzz_$target" >/dev/null || {
	echo "fuzz.sh: cannot build fuzz_$target (clang with libFuzzer?)" >&2
	exit 1
}
# Only code makes a campaign's result dirty (not README files).
commit=$(bench_commit 'control/*.[ch]' 'dataplane/*.[ch]' 'proto/*.[ch]' \
	proto/sluice.proto 'tests/fuzz/*.[ch]' tests/control/api_backend.c \
	'tools/engine/upstream.[ch]')

mkdir -p "$work/corpus" "$crashes" "$results"
artifacts=$work/artifacts
rm -rf "$artifacts"
mkdir -p "$artifacts"
jobs=${SL_FUZZ_JOBS:-1}
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: SL_FUZZ_JOBS must be a count" >&2; exit 2; }
rm -f "$work"/fuzz-*.log

# A smaller ASan quarantine than the 256 MiB default: hours of inputs of
# every size otherwise grow the heap towards -rss_limit_mb.
export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=64}
echo "fuzz.sh: fuzz_$target, $runs inputs at most, $max_s s at most ($commit)"
start=$(date +%s)
rc=0
(cd "$work" && "$fuzzer" -jobs="$jobs" -workers="$jobs" \
	-runs=$(((runs + jobs - 1) / jobs)) \
	-max_total_time="$max_s" -max_len="$max_len" -rss_limit_mb=2048 \
	-timeout=60 -print_final_stats=1 -artifact_prefix="$artifacts/" \
	"$work/corpus" "$root/tests/fuzz/corpus/$target" >/dev/null 2>&1) || rc=$?
end=$(date +%s)

# libFuzzer's own lines: the last status line and the final stats, of
# every job (inputs and exec/s summed, peak RSS the largest).
log=$work/fuzz-0.log
status=$(grep -aE '^#[0-9]+[[:space:]]' "$log" | tail -n 1 || true)
stat() {
	local f v
	for f in "$work"/fuzz-*.log; do
		v=$(grep -a "^stat::$1:" "$f" | tail -n 1 | awk '{print $2}')
		echo "${v:-0}"
	done | awk -v how="$2" '
		{ s += $1; if ($1 > m) m = $1; n++ }
		END { if (n) print (how == "max" ? m : s) }'
}
inputs=$(stat number_of_executed_units sum)
execs=$(stat average_exec_per_sec sum)
rss=$(stat peak_rss_mb max)
cov=$(sed -nE 's/.* cov: ([0-9]+) .*/\1/p' <<<"$status")
ft=$(sed -nE 's/.* ft: ([0-9]+) .*/\1/p' <<<"$status")
corpus=$(sed -nE 's/.* corp: ([0-9]+\/[0-9]+[a-zA-Z]*) .*/\1/p' <<<"$status")

found=0
for f in "$artifacts"/*; do
	[[ -f $f ]] || continue
	found=$((found + 1))
	cp "$f" "$crashes/fuzz_$target-$(basename "$f")"
	echo "fuzz.sh: finding kept as tests/fuzz/crashes/fuzz_$target-$(basename "$f")"
done
if [[ $found -ne 0 ]]; then
	grep -aE '^fuzz_|ERROR|SUMMARY|runtime error' "$log" | head -n 20 >&2 || true
fi

model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
mhz=$(sed -n 's/^cpu MHz[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
machine="${model:-unknown CPU}, $(nproc) cores"
[[ -n $mhz ]] && machine="$machine, $(awk -v m="$mhz" 'BEGIN{printf "%.2f GHz", m/1000}')"
[[ $jobs -gt 1 ]] && machine="$machine, $jobs jobs"
duration=$((end - start))
[[ -f $results/fuzz.md ]] || cat >"$results/fuzz.md" <<'EOF'
# Fuzzing campaigns

Written by tools/bench/fuzz.sh; one line per campaign of one fuzzer
(tests/fuzz/fuzz_TARGET.c, clang 14 libFuzzer with ASan and UBSan, one
job, one worker unless the machine column says more). inputs: executed
units (of all jobs); cov: edges covered, ft:
libFuzzer features; corpus: inputs / bytes at the end; findings: crashes,
leaks, timeouts and OOMs the run stopped on (kept in tests/fuzz/crashes/).
Findings fixed since are listed under the table.

| date | commit | machine | target | inputs | exec/s | cov | ft | corpus | peak RSS MB | seconds | findings |
|---|---|---|---|---|---|---|---|---|---|---|---|
EOF
line="| $(date -u +%Y-%m-%dT%H:%M:%SZ) | $commit | $machine | $target | ${inputs:-?} | ${execs:-?} | ${cov:-?} | ${ft:-?} | ${corpus:-?} | ${rss:-?} | $duration | $found |"
# The table ends before the first line that is not a row.
awk -v row="$line" '
	!done && /^\|/ { intable = 1 }
	!done && intable && !/^\|/ { print row; done = 1 }
	{ print }
	END { if (!done) print row }' "$results/fuzz.md" >"$results/fuzz.md.new"
mv "$results/fuzz.md.new" "$results/fuzz.md"
echo "$line"

if [[ ${SL_FUZZ_MERGE:-0} = 1 && $found -eq 0 ]]; then
	"$fuzzer" -merge=1 -max_len="$max_len" -rss_limit_mb=2048 \
		"$root/tests/fuzz/corpus/$target" "$work/corpus" >"$work/merge.log" 2>&1
	echo "fuzz.sh: tests/fuzz/corpus/$target has $(ls "$root/tests/fuzz/corpus/$target" | wc -l) inputs"
fi
[[ $found -eq 0 && ($rc -eq 0 || -z $rc) ]] || exit 1
