#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# drain.sh - draining an instance while streams are in flight on it.
# sluicegen sends long requests (100 fragments each at a low rate, so each
# stream lives ~2 s) through tools/pipelines/chain.yaml; 3 s in, polish/1
# is drained. Asserts: the drain found streams in flight on polish/1;
# those streams finished (polish/1's engine completed every stream it
# began, none incomplete or aborted); after the drain no new stream went to
# polish/1 (its streams_routed in `sluicectl stats --json` right after the
# drain equals the final one, and equals what its engine saw) while
# polish/0 took every new one; polish/1 ends draining with no stream
# active; the client lost nothing and every request completed; sluiced
# dropped nothing and gave every mbuf back.
#
# usage: drain.sh WORK_BASE
#   (binaries in SLUICED SLUICEGEN SLUICE_ENGINE SLUICECTL NETNS_SH)

set -euo pipefail
IT_NAME=drain
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
it_init "$@"
it_need_bin SLUICED SLUICEGEN SLUICE_ENGINE SLUICECTL NETNS_SH

it_control_setup auto
it_chain
it_ctl_wait
P=$IT_PREFIX

# routed FILE INSTANCE: streams_routed of INSTANCE in a stats --json file.
routed() {
	jq --arg i "$2" '.instances[] | select(.instance == $i) | .streams_routed' "$1"
}

gen=$IT_WORK/sluicegen.json
it_gen "$gen" --mode transform --streams 16 --rate 800 \
	--fragments-per-request 100 --tokens-per-fragment 2 --duration 8 \
	--drain-ms 4000 --expect upper,rot13 --check &
gen_pid=$!

sleep 3
kill -0 "$gen_pid" 2>/dev/null || it_fail "sluicegen ended before the drain"
it_ctl_stats "$IT_WORK/stats-before.json"
before=$(routed "$IT_WORK/stats-before.json" polish/1)
((before > 0)) || it_fail "polish/1 took no stream in the first 3 s"

it_ctl_ok drain --pipeline demo --stage polish --name polish/1
[[ $CTL_OUT =~ ^draining\ demo/polish/polish/1\ $P\.14:7801\ \(([0-9]+)\ streams\ in\ flight\)$ ]] ||
	it_fail "drain: unexpected answer: $CTL_OUT"
in_flight=${BASH_REMATCH[1]}
it_log "t=$SECONDS s: $CTL_OUT"
((in_flight > 0)) || it_fail "no stream was in flight on polish/1 when it was drained"
# The answer comes once the worker runs the new snapshot: from here on
# nothing new may be routed to polish/1.
it_ctl_stats "$IT_WORK/stats-drained.json"
at_drain=$(routed "$IT_WORK/stats-drained.json" polish/1)
p0_at_drain=$(routed "$IT_WORK/stats-drained.json" polish/0)
it_expect "$IT_WORK/stats-drained.json" '.instances[] | select(.instance == "polish/1") |
	.draining == true' "polish/1 is not draining"
it_ctl_ok instances --stage polish
[[ $CTL_OUT == *$'\n'"demo         polish       polish/1 "*" draining"* ]] ||
	it_fail "instances does not show polish/1 draining: $CTL_OUT"

sleep 2.5
kill -0 "$gen_pid" 2>/dev/null || it_fail "sluicegen ended too early"
it_ctl_stats "$IT_WORK/stats-mid.json"
mid=$(routed "$IT_WORK/stats-mid.json" polish/1)
gen_rc=0
wait "$gen_pid" || gen_rc=$?
it_log "sluicegen: $(jq -c '{requests, completed, fragments, fragments_received, lost, duplicated, misordered, corrupted, aborted}' "$gen" 2>/dev/null || cat "$gen")"
it_ctl_stats "$IT_WORK/stats-end.json"
end=$(routed "$IT_WORK/stats-end.json" polish/1)
p0_end=$(routed "$IT_WORK/stats-end.json" polish/0)
it_log "polish/1 streams routed: $before before the drain, $at_drain at it, $mid 2.5 s later, $end at the end; polish/0: $p0_at_drain -> $p0_end"
# A reset: its own answer still counts up to it; the next read counts
# every counter from it (nothing flows in between), and gauges stay.
it_ctl_ok stats --json --reset
printf '%s\n' "$CTL_OUT" >"$IT_WORK/stats-reset.json"
it_expect "$IT_WORK/stats-reset.json" '.instances[] | select(.instance == "polish/1") |
	.streams_routed == '"$end" "stats --reset: its answer does not count up to the reset"
it_ctl_stats "$IT_WORK/stats-after-reset.json"
it_expect "$IT_WORK/stats-after-reset.json" 'all(.instances[]; .streams_routed == 0 and
	.fragments == 0) and all(.stages[]; .streams_started == 0) and
	.flows.created == 0 and .flows.ended == 0 and .drops_total == 0 and
	.latency.samples == 0' \
	"stats after --reset: counters did not start again: $(jq -c '{instances: [.instances[] | {instance, streams_routed, fragments}], flows, latency: .latency.samples}' "$IT_WORK/stats-after-reset.json")"
it_expect "$IT_WORK/stats-after-reset.json" '([.instances[] | select(.draining)] | length) == 1 and
	.flows.capacity > 0' "stats after --reset: a gauge was reset"
it_stop_all
[[ $gen_rc -eq 0 ]] || it_fail "sluicegen --check exited $gen_rc"

[[ $mid -eq $at_drain && $end -eq $at_drain ]] ||
	it_fail "polish/1 took new streams after it was drained ($at_drain at the drain, $mid, $end)"
((p0_end > p0_at_drain)) || it_fail "polish/0 took no stream after the drain"
it_expect "$IT_WORK/stats-end.json" '.instances[] | select(.instance == "polish/1") |
	.streams == 0 and .draining == true' "polish/1 still has streams active at the end"

stats=$IT_WORK/sluiced-stats.json
it_engine_stats
engines=$IT_WORK/engines.json
it_expect "$gen" '.lost == 0 and .duplicated == 0 and .misordered == 0 and
	.corrupted == 0 and .aborted == 0' "sluicegen saw damage"
it_expect "$gen" '.completed == .requests and .requests > 0 and
	.fragments_received == .fragments' "not every request completed"
# The streams in flight on polish/1 finished there, whole.
it_expect "$engines" '.[] | select(.name == "polish/1") |
	.streams == '"$at_drain"' and .streams_completed == .streams and
	.incomplete == 0 and .aborted_in == 0 and .misordered == 0 and
	.duplicates == 0 and .invalid == 0' \
	"polish/1's engine did not complete exactly the $at_drain streams routed to it: $(jq -c '.[] | select(.name == "polish/1")' "$engines")"
it_expect "$engines" 'all(.[]; .streams_completed == .streams and .incomplete == 0 and
	.aborted_in == 0 and .misordered == 0 and .duplicates == 0 and .invalid == 0)' \
	"an engine saw incomplete, aborted, misordered, duplicate or invalid streams"
completed=$(jq '.completed' "$gen")
it_expect "$engines" '[.[] | select(.name | startswith("polish/")) |
	.streams_completed] | add == '"$completed" \
	"polish engines' streams_completed does not sum to $completed"
it_expect "$stats" '.drops_total == 0' \
	"sluiced dropped packets: $(jq -c '.drops | with_entries(select(.value > 0))' "$stats")"
it_expect "$stats" '.mbufs.in_use == .mbufs.in_use_start and .flows.expired == 0' \
	"mbufs leaked or flows expired: $(jq -c '{mbufs, flows}' "$stats")"
it_expect "$stats" '.instances[] | select(.instance == "polish/1") |
	.streams == '"$at_drain"' and .streams_active == 0' \
	"sluiced's final stats disagree on polish/1"

it_log "PASS: $in_flight streams in flight on polish/1 at the drain finished; $completed requests, none routed to polish/1 afterwards"
