#!/bin/sh
# SPDX-License-Identifier: MIT
#
# smoke.sh FUZZER SEEDS [RUNS [MAX_LEN]] - a bounded libFuzzer run for
# `meson test`.
#
# Runs FUZZER over the checked-in seeds for RUNS inputs (default 20000,
# capped at 60 s) of at most MAX_LEN bytes (default 4096), writing new
# inputs into a temporary directory. Every seed runs first, so a seed that
# fails is a failure whatever RUNS is. A failing input (crash, leak,
# timeout, out of memory) is shown and kept in tests/fuzz/crashes/ (not
# tracked by git). Exits 77 (SKIP) when the fuzzer was not built (no clang
# with libFuzzer at configure time), 1 on any finding: libFuzzer's own
# error exit code is 77, which meson would report as SKIP.
fuzzer=$1
seeds=$2
runs=${3:-20000}
max_len=${4:-4096}

if [ -z "$fuzzer" ] || [ ! -x "$fuzzer" ]; then
	echo "SKIP: no libFuzzer build (install clang, reconfigure)"
	exit 77
fi
work=$(mktemp -d) || exit 1
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
"$fuzzer" -runs="$runs" -seed=1 -max_total_time=60 -max_len="$max_len" \
	-rss_limit_mb=2048 -timeout=25 -error_exitcode=1 -timeout_exitcode=1 \
	-artifact_prefix="$work/" -print_final_stats=1 \
	"$work/corpus" "$seeds" >"$work/log" 2>&1
rc=$?
tail -n 25 "$work/log"
if [ $rc -ne 0 ]; then
	for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
		[ -f "$f" ] || continue
		echo "smoke.sh: failing input $(basename "$f"):"
		od -A d -t x1 "$f" | head -n 20
		keep="$(dirname "$0")/crashes"
		mkdir -p "$keep" &&
			cp "$f" "$keep/$(basename "$fuzzer")-$(basename "$f")" &&
			echo "smoke.sh: kept as $keep/$(basename "$fuzzer")-$(basename "$f")"
	done
	[ $rc -eq 77 ] && rc=1
fi
exit $rc
