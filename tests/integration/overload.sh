#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# overload.sh - ALTO's fact-checking pipeline (the `sentences` arm of
# tools/bench/alto.sh, its 16 engines at time scale 0.25) driven at about
# three times its capacity (20 model requests/s against some 7), issue 8
# #27: no request may end neither answered nor aborted. Two runs of 400
# Poisson requests, each with fresh engines and a fresh sluiced:
#
#   bounded    the engines refuse work that waited 4000 model ms or finds
#              128 waiting (--max-wait-ms, --max-queue): PAUSE, then ABORT
#              (OVERLOAD). Asserts: lost 0 and nothing cut off by the
#              run's end (every request ended within the drain),
#              completed + aborted == requests, some of each, every abort
#              OVERLOAD (the times file: each line ok or aborted:OVERLOAD),
#              the engines counted their refusals.
#   unbounded  alto.sh's default (ALTO_MAX_WAIT_MS=0: queues without
#              bound, as ALTO's) with a 3 s drain: requests are still
#              queued when it ends. sluicegen --cancel-ms cuts them off
#              (ABORT (CLIENT) to sluiced, which ends each and answers
#              ABORT (CLIENT)). Asserts: some cut off, lost 0, completed +
#              aborted == requests, every abort CLIENT and one of the cut
#              off (the times file: ok or aborted:CLIENT), sluiced's
#              requests_cancelled == the CLIENT aborts. Before the cut-off
#              these requests were counted `lost`.
#
# Both: sluicegen --check (it exits 1: requests were aborted) reports no
# duplicate, misordered, corrupted or unknown fragment; sluiced's final
# stats have every mbuf back at its starting in-use count.
#
# usage: overload.sh WORK_BASE   (run through meson test; needs root)

set -euo pipefail
IT_NAME=overload
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
build=$(cd "${1:?usage: overload.sh WORK_BASE}/../.." && pwd)
it_init "$@"
it_need_bin SLUICED SLUICEGEN SLUICE_ENGINE NETNS_SH

scale=0.25
rate=20 # model requests/s; the sentences arm saturates near 7
requests=400
real=$(awk -v r="$rate" -v s="$scale" 'BEGIN { printf "%.6g", r / s }')

FC_BUILD=$build
FC_LOGS=$IT_WORK
FC_TAG=overload
FC_NS=$IT_NS
FC_EAL_PREFIX=$IT_EAL_PREFIX
FC_TIME_SCALE=$scale
# it_init's trap removes the namespace and stops what is left.
FC_OWN_TRAP=1
# One client address carries everything, as in alto.sh (one worker).
FC_SLUICED_ARGS="--mbufs 262143"
# shellcheck source=../../tools/bench/factcheck.sh
. "$IT_SRC_ROOT/tools/bench/factcheck.sh"
fc_init

# run NAME MAX_WAIT_MS DRAIN_MS [ENGINE OPTION...]: one run, its files in
# $IT_WORK/NAME/ (gen.json, times, sluiced-stats.json, engines.json).
run() {
	local name=$1 dir=$IT_WORK/$1 rc=0
	FC_MAX_WAIT_MS=$2
	local drain=$3
	shift 3
	FC_ENGINE_ARGS="$*"
	FC_LOGS=$dir
	mkdir -p "$dir"
	chown "$FC_SLUICED_USER" "$dir" || it_fail "cannot give $dir to $FC_SLUICED_USER"
	fc_engines_start >/dev/null
	fc_sluiced_start "$IT_SRC_ROOT/tools/pipelines/factcheck-sentences.yaml" \
		"$dir/sluiced-stats.json" >/dev/null
	fc_gen "$dir/gen.json" "$dir/gen.err" --request-rate "$real" \
		--requests "$requests" --arrival poisson --seed 1 \
		--drain-ms "$drain" --cancel-ms 1000 --times "$dir/times" \
		--json --check || rc=$?
	fc_sluiced_stop || it_fail "$name: sluiced exited non-zero on SIGTERM"
	fc_engines_stop
	fc_engine_stats "$dir/engines.json"
	it_log "$name (max-wait $FC_MAX_WAIT_MS model ms${*:+, $*}; drain $drain ms): sluicegen --check exited $rc: $(jq -c '{requests, completed, aborted, aborted_by_reason, cut_off, lost}' "$dir/gen.json" 2>/dev/null || cat "$dir/gen.err")"
	it_log "$name: sluiced $(jq -c '{requests_refused, requests_aborted, requests_cancelled, mbufs}' "$dir/sluiced-stats.json"); engines refused $(jq '[.[].overload_aborts // 0] | add' "$dir/engines.json") (OVERLOAD)"
	# Aborted requests fail the check (exit 1); anything else is broken.
	[[ $rc -eq 0 || $rc -eq 1 ]] || {
		cat "$dir/gen.err" >&2
		it_fail "$name: sluicegen exited $rc"
	}
	it_expect "$dir/gen.json" ".requests == $requests and .lost == 0 and
		.completed + .aborted == .requests and .duplicated == 0 and
		.misordered == 0 and .corrupted == 0 and .unknown == 0" \
		"$name: a request ended neither answered nor aborted, or was damaged"
	it_expect "$dir/sluiced-stats.json" \
		'.final and .mbufs.in_use == .mbufs.in_use_start' \
		"$name: sluiced's stats are not final or its mbufs are not back"
	[[ $(wc -l <"$dir/times") -eq $requests ]] ||
		it_fail "$name: the times file has not $requests lines"
}

# flags FILE: the count of each flag of the times file, as JSON.
flags() {
	awk -F'\t' '{ print $6 }' "$1" | sort | uniq -c |
		awk '{ printf "%s\"%s\": %d", n++ ? ", " : "{", $2, $1 } END { print "}" }'
}

run bounded 4000 15000 --max-queue 128
g=$IT_WORK/bounded/gen.json
it_expect "$g" '(.cut_off // 0) == 0 and .completed > 0 and .aborted > 0 and
	(.aborted_by_reason | keys) == ["OVERLOAD"]' \
	"bounded: not every request ended within the drain, or an abort was not OVERLOAD"
f=$(flags "$IT_WORK/bounded/times")
jq -e --argjson f "$f" -n '$f | keys - ["aborted:OVERLOAD", "ok"] == []' >/dev/null ||
	it_fail "bounded: times flags $f (want ok and aborted:OVERLOAD only)"
it_expect "$IT_WORK/bounded/engines.json" '[.[].overload_aborts // 0] | add > 0' \
	"bounded: no engine refused work (OVERLOAD): not past capacity?"

run unbounded 0 3000
g=$IT_WORK/unbounded/gen.json
it_expect "$g" '.cut_off > 0 and .completed > 0 and
	.aborted == .aborted_by_reason.CLIENT and .aborted <= .cut_off and
	(.aborted_by_reason | keys) == ["CLIENT"]' \
	"unbounded: nothing cut off by the run's end, or an abort was not the cut-off's CLIENT"
f=$(flags "$IT_WORK/unbounded/times")
jq -e --argjson f "$f" -n '$f | keys - ["aborted:CLIENT", "ok"] == []' >/dev/null ||
	it_fail "unbounded: times flags $f (want ok and aborted:CLIENT only)"
cancelled=$(jq '.requests_cancelled' "$IT_WORK/unbounded/sluiced-stats.json")
it_expect "$g" ".aborted == $cancelled" \
	"unbounded: sluiced cancelled $cancelled requests, not the client's CLIENT aborts"

it_log "OK: bounded $(jq -c '{completed, aborted, cut_off, lost}' "$IT_WORK/bounded/gen.json"), unbounded $(jq -c '{completed, aborted, cut_off, lost}' "$g"); every request answered or aborted with a reason, mbufs back"
