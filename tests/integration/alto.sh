#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# alto.sh - `tools/bench/alto.sh --quick` against this build: the ALTO
# harness runs end to end (16 engines, sluiced, sluicegen, per arm and
# rate, the overhead check, the analysis and the plot) and its results
# hold. Asserts: alto.json has the three arms with one point per quick
# rate (2 and 5 model requests/s, seed 1), each with its measured request
# count, every request completed (no abort, nothing unfinished, nothing
# duplicated, misordered or corrupted: both rates are under every arm's
# capacity); streaming's final results equal buffered's byte for byte for
# every request; every sluiced of every point ended with no drop and with
# its mbufs back at the starting in-use count; the overhead check ran at
# both scales; the validation block and the engine constants table are
# there; alto.csv has a line per point; alto.png is a PNG.
#
# usage: alto.sh WORK_BASE   (run through meson test; needs root)

set -euo pipefail
IT_NAME=alto
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
build=$(cd "${1:?usage: alto.sh WORK_BASE}/../.." && pwd)
it_init "$@"
root=$IT_SRC_ROOT
work=$IT_WORK
rc=0
ALTO_BUILD=$build ALTO_OUT=$work ALTO_NS=sluice-it-alto \
	"$root/tools/bench/alto.sh" --quick >"$work/alto.out" 2>&1 || rc=$?
cat "$work/alto.out"
[[ $rc -eq 0 ]] || it_fail "tools/bench/alto.sh --quick exited $rc"

j=$work/alto.json
[[ -s $j ]] || it_fail "no alto.json"
check() {
	jq -e "$1" "$j" >/dev/null || it_fail "alto.json: $2 ($1)"
}
check '.quick == true and .seeds == [1] and .rates_model_rps == [2, 5]' \
	"a quick run: seed 1, rates 2 and 5"
check '.arms | keys == ["buffered", "sentences", "streaming"]' "three arms"
for arm in buffered streaming sentences; do
	check ".arms.$arm.points | length == 2" "$arm: two points"
	# Measured requests: max(40, ...) capped at 40 (ALTO_MIN_REQUESTS);
	# at 2 req/s 8 s of model time is 16.
	check ".arms.$arm.points | map(.requests) == [16, 40]" \
		"$arm: 16 and 40 measured requests"
	check ".arms.$arm.points | all(.completed == .requests and .aborted == 0
		and .unfinished == 0 and .duplicated == 0 and .misordered == 0
		and .corrupted == 0)" "$arm: every request completed, once, in order"
	check ".arms.$arm.points | all(.p50_s > 0 and .achieved_rps > 0)" \
		"$arm: a median and a load per point"
done
# Every request of the lowest rate (warm-up included: 4 + 16).
check '.identical_results_vs_buffered.streaming ==
	{both_ok: 20, identical: 20, differ: 0}' \
	"streaming's results are buffered's, byte for byte"
check '.overhead_check.p50_s_scale_1 > 0 and .overhead_check.p50_s_scale_used > 0' \
	"the overhead check ran at both scales"
check '.validation.low_load_median_s_streaming.alto == 1.9 and
	.validation.low_load_median_s_streaming.ours > 0 and
	.validation.fig5_claims_rps.ours > 0' "the validation block"
check '.constants.engine["--decode-ms (a)"].default == "12" and
	.constants.pipeline.claims_prefix_tokens == 570' "the constants table"

lines=$(($(wc -l <"$work/alto.csv") - 1))
[[ $lines -eq 6 ]] || it_fail "alto.csv has $lines points, not 6"
head -c 8 "$work/alto.png" | od -An -tx1 | grep -q '89 50 4e 47' ||
	it_fail "alto.png is not a PNG"

# Every sluiced: no drop, every mbuf back.
n=0
for s in "$work"/alto-logs/*/sluiced-stats.json; do
	jq -e '.final and .drops_total == 0 and
		.mbufs.in_use == .mbufs.in_use_start' "$s" >/dev/null ||
		it_fail "$s: drops or mbufs not returned"
	n=$((n + 1))
done
[[ $n -eq 8 ]] || it_fail "$n sluiced stats files, not 8 (6 points, 2 checks)"
it_log "OK: 3 arms x 2 rates and the overhead check; streaming = buffered on 20 requests; 8 sluiced runs without a drop or a leaked mbuf"
