#!/bin/sh
# SPDX-License-Identifier: MIT
#
# smoke.sh FUZZER SEEDS [RUNS] - a bounded libFuzzer run for `meson test`.
#
# Runs FUZZER over the checked-in seeds for RUNS inputs (default 20000,
# capped at 60 s), writing new inputs and any crash artifact into a
# temporary directory so the source tree is never touched. Exits 77 (SKIP)
# when the fuzzer was not built (no clang with libFuzzer at configure time).
fuzzer=$1
seeds=$2
runs=${3:-20000}

if [ -z "$fuzzer" ] || [ ! -x "$fuzzer" ]; then
	echo "SKIP: no libFuzzer build (install clang, reconfigure)"
	exit 77
fi
work=$(mktemp -d) || exit 1
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
"$fuzzer" -runs="$runs" -seed=1 -max_total_time=60 -max_len=4096 \
	-artifact_prefix="$work/" -print_final_stats=1 \
	"$work/corpus" "$seeds" >"$work/log" 2>&1
rc=$?
tail -n 25 "$work/log"
if [ $rc -ne 0 ]; then
	for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
		[ -f "$f" ] || continue
		echo "smoke.sh: failing input $(basename "$f"):"
		od -A d -t x1 "$f" | head -n 20
	done
fi
exit $rc
