#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# factcheck_bridge.sh - ALTO's fact-checking pipeline with its seven LM
# instances as sluice-bridge processes in front of sluice-engine --http
# (tools/bench/factcheck-run.sh with FC_LM_BRIDGE=1), against the same
# run with the engines speaking to sluiced directly: every question
# answered both ways, no abort and no loss, and the answers byte for byte
# the same. In both runs an application then asks one more question
# through sluice-gateway with the official npm `openai` client, streaming
# (FC_ASK): answered, ended with finish_reason "stop", and the same
# answer both ways.
#
# usage: factcheck_bridge.sh WORK_BASE   (run through meson test; root)

set -euo pipefail
IT_NAME=factcheck-bridge
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
build=$(cd "${1:?usage: factcheck_bridge.sh WORK_BASE}/../.." && pwd)
it_init "$@"
root=$IT_SRC_ROOT
work=$IT_WORK

# run WAY BRIDGE: one short run; its answers in $work/WAY.tsv.
run() {
	local rc=0 port
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	FC_LM_BRIDGE=$2 FC_ASK=$ask FC_RESULTS=$work/$1 FC_NS=sl-it-fcb FC_EAL_PREFIX=sl-it-fcb \
		FC_DURATION=5 FC_RATE=20 FC_TIME_SCALE=0.05 FC_METRICS_PORT=$port \
		"$root/tools/bench/factcheck-run.sh" "$build" >"$work/$1.out" 2>&1 || rc=$?
	[[ $rc -eq 0 ]] || it_fail "$1: factcheck-run.sh exited $rc: $(tail -n 5 "$work/$1.out")"
	jq -e '.completed == .requests and .aborted == 0 and .lost == 0 and .requests > 50' \
		"$work/$1/demo.json" >/dev/null || it_fail "$1: $(jq -c '{requests, completed, aborted, lost}' "$work/$1/demo.json")"
	cp "$work/$1/logs/results.tsv" "$work/$1.tsv"
	jq -e '.finish_reason == "stop" and (.answer | length) > 0 and .chunks >= 1' \
		"$work/$1/ask.json" >/dev/null || it_fail "$1: the npm client: $(cat "$work/$1/ask.json")"
}
ask="Which claims about the Eiffel Tower can be checked?"
run direct 0
run bridged 1
cmp -s "$work/direct.tsv" "$work/bridged.tsv" ||
	it_fail "the answers differ: $(diff "$work/direct.tsv" "$work/bridged.tsv" | head -n 4)"
[[ $(jq -r .answer "$work/direct/ask.json") == $(jq -r .answer "$work/bridged/ask.json") ]] ||
	it_fail "the npm client's answers differ: $(jq -c .answer "$work"/{direct,bridged}/ask.json)"
# The bridges took every LM answer from the engines over HTTP.
jq -s -e 'map(select(.upstream)) | length == 7 and
	(map(.upstream.done) | add) > 0 and
	(map(.upstream.errors + .upstream.timeouts + .upstream.malformed +
	     .upstream.closed) | add) == 0' "$work"/bridged/engine-*.json >/dev/null ||
	it_fail "bridges' stats"
it_log "OK: $(wc -l <"$work/direct.tsv") answers the same both ways;" \
	"the npm client's: $(jq -c '{chunks, ms}' "$work/bridged/ask.json")"
