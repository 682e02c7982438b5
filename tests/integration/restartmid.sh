#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# restartmid.sh - sluiced is stopped with SIGTERM in the middle of a run
# and started again (issue 8). What was in flight when it stopped ends
# with an explicit ABORT: SHUTDOWN, sent by sluiced as it stops, or LOST,
# said by the client's own sl_rel when sluiced never ACKed a request's
# END (one sent while sluiced was down). Nothing is lost silently,
# duplicated or damaged; after the restart, requests complete byte for
# byte again; each sluiced gives every mbuf back.
#
# usage: restartmid.sh WORK_BASE (binaries in SLUICED SLUICEGEN SLUICE_ENGINE NETNS_SH)

set -euo pipefail
IT_NAME=restartmid
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
it_init "$@"
it_need_bin SLUICED SLUICEGEN SLUICE_ENGINE NETNS_SH

config=$IT_WORK/pipeline.yaml
it_two_stage

gen=$IT_WORK/sluicegen.json
it_gen "$gen" --streams 16 --rate 2000 --fragments-per-request 8 \
	--tokens-per-fragment 4 --duration 7 --drain-ms 3000 \
	--expect upper,rot13 &
gen_pid=$!
sleep 2
rc=0
it_stop "$SL_SLUICED_PID" sluiced || rc=$?
SL_SLUICED_PID=
[[ $rc -eq 0 ]] || it_fail "sluiced exited $rc on SIGTERM mid-run (want 0)"
first=$IT_WORK/sluiced-stats-first.json
cp "$IT_WORK/sluiced-stats.json" "$first"
mv "$IT_WORK/sluiced.log" "$IT_WORK/sluiced-first.log"
mv "$IT_WORK/sluiced.err" "$IT_WORK/sluiced-first.err"
it_log "stopped sluiced mid-run: $(jq -c '{final, requests_aborted, mbufs}' "$first")"
sleep 1
it_sluiced "$config"
it_log "sluiced started again"
rc=0
wait "$gen_pid" || rc=$?
it_log "sluicegen (exit $rc): $(jq -c '{requests, completed, lost, duplicated, misordered, corrupted, aborted, aborted_by_reason}' "$gen" 2>/dev/null || cat "$gen")"
it_stop_all
stats=$IT_WORK/sluiced-stats.json
it_expect "$first" '.final == true and .mbufs.in_use == .mbufs.in_use_start' \
	"the stopped sluiced leaked mbufs or wrote no final stats: $(jq -c '.mbufs' "$first")"
it_expect "$gen" '.requests >= 500 and .lost == 0 and .duplicated == 0 and
	.misordered == 0 and .corrupted == 0 and .unknown == 0 and
	.completed + .aborted == .requests' \
	"a request was lost or damaged"
# The stopped sluiced said SHUTDOWN for what it held (requests_aborted);
# a stop between two requests holds none, and then the client's own
# LOST covers what it sent while sluiced was down.
told=$(jq '.requests_aborted' "$first")
if [[ $told -gt 0 ]]; then
	it_expect "$gen" '.aborted_by_reason.SHUTDOWN >= 1' \
		"sluiced aborted $told requests, none reached the client as ABORT SHUTDOWN: $(jq -c '.aborted_by_reason' "$gen")"
else
	it_log "sluiced held no request when it stopped: no SHUTDOWN to see"
fi
it_expect "$gen" '(.aborted_by_reason // {}) | to_entries |
	all(.key == "SHUTDOWN" or .key == "LOST")' \
	"aborts other than SHUTDOWN and LOST: $(jq -c '.aborted_by_reason' "$gen")"
# After the restart (about 4 s of the 7 s run), requests complete again.
it_expect "$stats" '.forwarded > 1000' \
	"the restarted sluiced forwarded little: $(jq -c '{rx_packets, forwarded}' "$stats")"
it_expect "$gen" '.completed >= (.requests * 0.5)' \
	"too few requests completed around the restart"
it_expect "$stats" '.mbufs.in_use == .mbufs.in_use_start' \
	"mbufs leaked: $(jq -c '.mbufs' "$stats")"
it_log "PASS: $(jq '.completed' "$gen") completed, aborted $(jq -c '.aborted_by_reason' "$gen"), none lost"
