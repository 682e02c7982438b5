#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# flood.sh - one client floods sluiced with new requests while another is
# checked byte for byte (issue 8). The flooder, on its own address, holds
# at most flows.source_streams requests at a time: every request over it
# is refused at once with ABORT (OVERLOAD) on its own stream, never queued
# or lost. The checked client's requests all complete, byte-exact, none
# aborted, none lost; sluiced counts the refusals and gives every mbuf back.
#
# usage: flood.sh WORK_BASE (binaries in SLUICED SLUICEGEN SLUICE_ENGINE NETNS_SH)

set -euo pipefail
IT_NAME=flood
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
it_init "$@"
it_need_bin SLUICED SLUICEGEN SLUICE_ENGINE NETNS_SH

config=$IT_WORK/pipeline.yaml
cat >"$config" <<EOF
sluiced: {address: $IT_PREFIX.1, port: $IT_PORT}
flows: {size: 8192, idle_timeout_ms: 5000, reorder_window: 16,
        client_streams: 1024, source_streams: 16}
clients: [$IT_PREFIX.0/24]
pipelines:
  - name: demo
    id: 1
    stages:
      - {name: draft, instances: [$IT_PREFIX.11:7801, $IT_PREFIX.12:7801]}
      - {name: polish, aggregation: 1,
         instances: [$IT_PREFIX.13:7801, $IT_PREFIX.14:7801]}
EOF
it_netns_up
it_chain_engines
it_sluiced "$config"

# The flooder: 256 requests open at once from .18, as fast as it can.
flood=$IT_WORK/flood.json
ip netns exec "$IT_NS" "$SLUICEGEN" --server "$IT_PREFIX.1:$IT_PORT" \
	--bind "$IT_PREFIX.18" --pipeline 1 --tenant 1 --seed 11 --json --quiet \
	--streams 256 --rate 40000 --fragments-per-request 4 \
	--tokens-per-fragment 3 --duration 4 --drain-ms 1500 \
	--expect upper,rot13 >"$flood" 2>"$IT_WORK/flood.err" &
flood_pid=$!
sleep 0.5

# The checked client, beside it.
gen=$IT_WORK/sluicegen.json
rc=0
it_gen "$gen" --streams 8 --rate 1500 --fragments-per-request 4 \
	--tokens-per-fragment 3 --duration 3 --drain-ms 1500 \
	--expect upper,rot13 --check || rc=$?
frc=0
wait "$flood_pid" || frc=$?
it_log "checked: $(jq -c '{requests, completed, lost, duplicated, misordered, corrupted, aborted}' "$gen" 2>/dev/null || cat "$gen")"
it_log "flooder (exit $frc): $(jq -c '{requests, completed, lost, aborted, aborted_by_reason}' "$flood" 2>/dev/null || cat "$flood")"
it_stop_all
[[ $rc -eq 0 ]] || it_fail "the checked client's sluicegen --check exited $rc"

stats=$IT_WORK/sluiced-stats.json
it_expect "$gen" '.completed == .requests and .requests >= 200 and
	.lost == 0 and .duplicated == 0 and .misordered == 0 and
	.corrupted == 0 and .aborted == 0' "the checked client was hurt"
# The flooder: refused, told, never lost; what got in completed.
it_expect "$flood" '.aborted_by_reason.OVERLOAD > 0' \
	"the flooder was never refused"
it_expect "$flood" '.lost == 0 and .corrupted == 0' \
	"a flooder's request was lost or corrupted"
it_expect "$flood" '.completed + .aborted == .requests' \
	"the flooder's requests do not add up"
it_expect "$stats" '.requests_refused > 0 and
	.drops.SOURCE_STREAMS == .requests_refused' \
	"sluiced did not count the refusals as SOURCE_STREAMS: $(jq -c '{requests_refused, d: .drops.SOURCE_STREAMS}' "$stats")"
it_expect "$stats" '.mbufs.in_use == .mbufs.in_use_start' \
	"mbufs leaked: $(jq -c '.mbufs' "$stats")"
it_log "PASS: checked $(jq '.completed' "$gen") byte-exact; flooder refused $(jq '.requests_refused' "$stats") times"
