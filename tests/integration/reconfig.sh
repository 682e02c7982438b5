#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# reconfig.sh - live reconfiguration under full load. sluicegen sends
# requests through tools/pipelines/chain.yaml (draft: upper, polish:
# rot13) at a high rate for 8 s and checks every fragment byte by byte,
# while sluicectl, one step every ~1.3 s:
#   1. adds polish/extra (an engine started beforehand) to stage polish,
#   2. drains polish/0,
#   3. applies chain.yaml again, which removes polish/extra (streams still
#      in flight on it) and takes polish/0 back,
#   4. applies a file that changes nothing (the same chain with its edges
#      written out).
# Asserts: each step answers with the next generation, and the generation
# ends at 1 + 4; polish/extra took streams while it was in; the client lost,
# doubled, reordered, altered or aborted nothing and every request
# completed; every engine (polish/extra too) saw whole ordered streams and
# the polish engines completed one stream per request; sluiced dropped
# nothing, expired no flow and gave every mbuf back.
#
# usage: reconfig.sh WORK_BASE
#   (binaries in SLUICED SLUICEGEN SLUICE_ENGINE SLUICECTL NETNS_SH)

set -euo pipefail
IT_NAME=reconfig
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
it_init "$@"
it_need_bin SLUICED SLUICEGEN SLUICE_ENGINE SLUICECTL NETNS_SH

it_control_setup auto
it_chain
it_ctl_wait
P=$IT_PREFIX

# The extra polish engine, up before anything is routed to it.
it_engine polish/extra "$P.15:7801" rot13
it_wait_udp "$P.15:7801"

# The chain with its edges written out: the same pipeline.
same=$IT_WORK/chain-edges.yaml
{
	cat "$IT_CONFIG"
	cat <<EOF
    edges:
      - {from: client, to: draft}
      - {from: draft, to: polish}
      - {from: polish, to: client}
EOF
} >"$same"
it_ctl_ok apply -f "$same" --dry-run
it_ctl_ok get
before_config=$CTL_OUT
[[ $(it_generation) -eq 1 ]] || it_fail "generation is not 1 at start"

gen=$IT_WORK/sluicegen.json
it_gen "$gen" --mode transform --streams 64 --rate 20000 \
	--fragments-per-request 8 --tokens-per-fragment 4 --duration 8 \
	--drain-ms 2000 --expect upper,rot13 --check &
gen_pid=$!

sleep 1
kill -0 "$gen_pid" 2>/dev/null || it_fail "sluicegen ended before the first change"
it_ctl_step prefix "added demo/polish/polish/extra $P.15:7801" \
	add --pipeline demo --stage polish --name polish/extra --address "$P.15:7801"
sleep 1.3
it_ctl_stats "$IT_WORK/stats-added.json"
extra_routed=$(jq '[.instances[] | select(.instance == "polish/extra") | .streams_routed] | add // 0' \
	"$IT_WORK/stats-added.json")
# Not asserted here: an instance whose ARP reply lands within one
# housekeeping pass of its solicitation stays unreachable until the next
# publish (dp_reachability compares unresolved counts), so under load it
# may get nothing until the drain below. What must hold is asserted at the
# end: polish/extra served streams, all of them whole.
it_log "polish/extra: $extra_routed streams routed 1.3 s after it was added"

it_ctl_step prefix "draining demo/polish/polish/0 $P.13:7801" \
	drain --pipeline demo --stage polish --name polish/0
sleep 1.3
it_ctl_step prefix "$IT_CONFIG: applied as generation $((IT_CTL_GENERATION + 1))" apply -f "$IT_CONFIG"
it_ctl_ok get
[[ $CTL_OUT == "$before_config" ]] || it_fail "chain.yaml applied again is not the config of the start:
$CTL_OUT"
sleep 1.3
it_ctl_step prefix "$same: applied as generation $((IT_CTL_GENERATION + 1))" apply -f "$same"
it_ctl_ok get
[[ $CTL_OUT == "$before_config" ]] || it_fail "the unchanged file changed the config:
$CTL_OUT"
kill -0 "$gen_pid" 2>/dev/null || it_fail "sluicegen ended before the last change (changes were too slow)"

gen_rc=0
wait "$gen_pid" || gen_rc=$?
it_log "sluicegen: $(jq -c '{requests, completed, fragments, fragments_received, lost, duplicated, misordered, corrupted, aborted, p99_us}' "$gen" 2>/dev/null || cat "$gen")"
it_ctl_stats "$IT_WORK/stats-end.json"
it_stop_all
[[ $gen_rc -eq 0 ]] || it_fail "sluicegen --check exited $gen_rc"

stats=$IT_WORK/sluiced-stats.json
it_engine_stats
engines=$IT_WORK/engines.json

it_expect "$IT_WORK/stats-end.json" ".generation == 5" "generation is not 1 + 4 changes"
it_expect "$gen" '.lost == 0 and .duplicated == 0 and .misordered == 0 and
	.corrupted == 0 and .aborted == 0' "sluicegen saw damage"
it_expect "$gen" '.completed == .requests and .requests >= 1000' \
	"not every request completed, or fewer than 1000"
it_expect "$gen" '.fragments_received == .fragments' \
	"fragments received != fragments sent"

completed=$(jq '.completed' "$gen")
it_expect "$engines" 'length == 5' "want stats from 5 engines"
it_expect "$engines" 'all(.[]; .misordered == 0 and .duplicates == 0 and
	.incomplete == 0 and .invalid == 0 and .aborted_in == 0 and
	.streams_completed == .streams)' \
	"an engine saw misordered, duplicate, incomplete, invalid or aborted streams"
it_expect "$engines" '.[] | select(.name == "polish/extra") | .streams > 0' \
	"polish/extra served no stream"
for stage in draft polish; do
	it_expect "$engines" "[.[] | select(.name | startswith(\"$stage/\")) |
		.streams_completed] | add == $completed" \
		"$stage engines' streams_completed does not sum to $completed"
done

it_expect "$stats" '.drops_total == 0' \
	"sluiced dropped packets: $(jq -c '.drops | with_entries(select(.value > 0))' "$stats")"
it_expect "$stats" '.mbufs.in_use == .mbufs.in_use_start' \
	"mbufs leaked: $(jq -c '.mbufs' "$stats")"
it_expect "$stats" '.flows.expired == 0 and .flows.active == 0 and
	.flows.ended == .flows.created' "flows do not balance: $(jq -c '.flows' "$stats")"
it_expect "$stats" '[.instances[].instance] == ["draft/0", "draft/1", "polish/0", "polish/1"] and
	all(.instances[]; .draining == false and .streams_active == 0)' \
	"want the 4 instances of chain.yaml at the end"

it_log "PASS: $completed requests through 4 changes (generation 5), $(jq '.[] | select(.name == "polish/extra") | .streams' "$engines") streams on polish/extra"
