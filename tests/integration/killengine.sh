#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# killengine.sh - an engine is killed with SIGKILL mid-run and started
# again (issue 8). sluiced finds it dead by liveness (it stops answering
# PROBEs) within liveness.dead_ms, aborts what it owed downstream (ABORT
# ENGINE, on to the client) and sends new streams to the other instance;
# once it is back and answers, it takes streams again. No request is lost
# silently: each one completes byte-exact or ends in an explicit ABORT
# (ENGINE); sluiced counts the death and the revival and gives every mbuf
# back.
#
# usage: killengine.sh WORK_BASE (binaries in SLUICED SLUICEGEN SLUICE_ENGINE NETNS_SH)

set -euo pipefail
IT_NAME=killengine
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
it_init "$@"
it_need_bin SLUICED SLUICEGEN SLUICE_ENGINE NETNS_SH

config=$IT_WORK/pipeline.yaml
it_write_config "$config" 0 1
echo "liveness: {probe_ms: 50, dead_ms: 300}" >>"$config"
it_netns_up
it_chain_engines
it_sluiced "$config"

gen=$IT_WORK/sluicegen.json
it_gen "$gen" --streams 16 --rate 2000 --fragments-per-request 8 \
	--tokens-per-fragment 4 --duration 6 --drain-ms 3000 \
	--expect upper,rot13 &
gen_pid=$!
sleep 2
victim=${SL_ENGINE_PIDS[0]}
kill -KILL "$victim"
wait "$victim" 2>/dev/null || true
SL_ENGINE_PIDS=("${SL_ENGINE_PIDS[@]:1}")
it_log "killed draft/0 (pid $victim) with SIGKILL"
sleep 1.5
jq -e '[.instances[] | select(.instance == "draft/0")][0] | .alive == false and .deaths == 1' \
	"$IT_WORK/sluiced-stats.json" >/dev/null ||
	it_fail "draft/0 not found dead: $(jq -c '.instances[0]' "$IT_WORK/sluiced-stats.json")"
it_engine draft/0 "$IT_PREFIX.11:7801" upper
it_wait_udp "$IT_PREFIX.11:7801"
it_log "draft/0 started again"
rc=0
wait "$gen_pid" || rc=$?
it_log "sluicegen (exit $rc): $(jq -c '{requests, completed, lost, duplicated, misordered, corrupted, aborted, aborted_by_reason}' "$gen" 2>/dev/null || cat "$gen")"
it_stop_all
stats=$IT_WORK/sluiced-stats.json
it_expect "$gen" '.requests >= 500 and .lost == 0 and .duplicated == 0 and
	.misordered == 0 and .corrupted == 0 and
	.completed + .aborted == .requests' \
	"a request was lost or damaged"
it_expect "$gen" '(.aborted_by_reason // {}) | to_entries | all(.key == "ENGINE")' \
	"aborts other than ENGINE: $(jq -c '.aborted_by_reason' "$gen")"
it_expect "$stats" '.liveness.instances_died == 1 and .liveness.instances_revived == 1' \
	"sluiced did not see the death and the revival: $(jq -c '.liveness' "$stats")"
it_expect "$stats" '[.instances[] | select(.instance == "draft/0")][0] | .alive and .streams > 0' \
	"draft/0 is not alive again or took no stream"
it_expect "$stats" '.mbufs.in_use == .mbufs.in_use_start' \
	"mbufs leaked: $(jq -c '.mbufs' "$stats")"
it_log "PASS: $(jq '.completed' "$gen") completed, $(jq '.aborted' "$gen") aborted (ENGINE), none lost"
