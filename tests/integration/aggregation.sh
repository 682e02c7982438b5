#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# aggregation.sh - a first stage of 3 instances at aggregation level 1
# (streams pinned by their request id) and a second of 2 at level 0 (free
# routing). Many short requests: every engine must see only whole streams,
# each stage's per-instance streams must add up to the requests completed,
# and the hash must spread requests over all 3 pinned instances.
#
# usage: aggregation.sh WORK_BASE (binaries in SLUICED SLUICEGEN SLUICE_ENGINE NETNS_SH)

set -euo pipefail
IT_NAME=aggregation
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
it_init "$@"
it_need_bin SLUICED SLUICEGEN SLUICE_ENGINE NETNS_SH

requests=900
config=$IT_WORK/pipeline.yaml
cat >"$config" <<EOF
sluiced: {address: $IT_PREFIX.1, port: $IT_PORT}
flows: {size: 4096, idle_timeout_ms: 5000, reorder_window: 16}
clients: [$IT_PREFIX.0/24]
pipelines:
  - name: agg
    id: 1
    stages:
      - name: claims
        aggregation: 1
        instances: [$IT_PREFIX.11:7801, $IT_PREFIX.12:7801, $IT_PREFIX.13:7801]
      - name: verify
        aggregation: 0
        instances: [$IT_PREFIX.14:7801, $IT_PREFIX.15:7801]
EOF

it_netns_up
it_engine claims/0 "$IT_PREFIX.11:7801" upper
it_engine claims/1 "$IT_PREFIX.12:7801" upper
it_engine claims/2 "$IT_PREFIX.13:7801" upper
it_engine verify/0 "$IT_PREFIX.14:7801" rot13
it_engine verify/1 "$IT_PREFIX.15:7801" rot13
it_wait_udp "$IT_PREFIX.11:7801" "$IT_PREFIX.12:7801" "$IT_PREFIX.13:7801" \
	"$IT_PREFIX.14:7801" "$IT_PREFIX.15:7801"
it_sluiced "$config"

gen=$IT_WORK/sluicegen.json
rc=0
it_gen "$gen" --streams 32 --rate 6000 --fragments-per-request 4 \
	--tokens-per-fragment 3 --requests $requests --drain-ms 1500 \
	--expect upper,rot13 --check || rc=$?
it_log "sluicegen: $(jq -c '{requests, completed, lost, duplicated, misordered, corrupted, aborted}' "$gen" 2>/dev/null || cat "$gen")"
it_stop_all
[[ $rc -eq 0 ]] || it_fail "sluicegen --check exited $rc"

stats=$IT_WORK/sluiced-stats.json
it_engine_stats
engines=$IT_WORK/engines.json

it_expect "$gen" ".requests == $requests and .completed == .requests and
	.lost == 0 and .duplicated == 0 and .misordered == 0 and
	.corrupted == 0 and .aborted == 0" "sluicegen: not $requests clean requests"
it_expect "$engines" 'length == 5' "want stats from 5 engines"
it_expect "$engines" 'all(.[]; .incomplete == 0 and .misordered == 0 and
	.duplicates == 0)' "an engine saw incomplete, misordered or duplicate streams"

for stage in claims verify; do
	it_expect "$engines" "[.[] | select(.name | startswith(\"$stage/\")) |
		.streams] | add == $requests" \
		"$stage engines' streams do not sum to $requests"
	it_expect "$stats" "[.instances[] | select(.stage == \"$stage\") |
		.streams] | add == $requests" \
		"sluiced's $stage instances' streams do not sum to $requests"
done
it_expect "$stats" '[.instances[] | select(.stage == "claims" and
	.aggregation == 1)] | length == 3 and all(.[]; .streams > 0)' \
	"the aggregation-1 stage did not spread requests over its 3 instances"
it_expect "$stats" '.drops_total == 0' \
	"sluiced dropped packets: $(jq -c '.drops | with_entries(select(.value > 0))' "$stats")"
it_expect "$stats" '.mbufs.in_use == .mbufs.in_use_start' \
	"mbufs leaked: $(jq -c '.mbufs' "$stats")"

it_log "PASS: per instance $(jq -c '[.instances[] | {(.instance): .streams}] | add' "$stats")"
