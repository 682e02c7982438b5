#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# policy.sh - a pool of instances that two stages share, and its policy
# switched at run time under full load. Three engines (.11, .12, .13) are
# the pool "lm"; each answers a stream of stage draft (1) upper-cased and
# one of polish (2) in rot13 (--transform 1:upper,2:rot13). sluicegen sends
# requests at a high rate for 8 s and checks every fragment byte by byte,
# while sluicectl, one step every ~1.3 s, sets:
#   1. the pool's policy to least_outstanding (its two stages with it),
#      its load_bound to 2 and warm_prefixes to 2,
#   2. polish's policy to prompt_aware,
#   3. the pool's policy to hash_request,
#   4. the pool's policy back to round_robin.
# Refused first, nothing changed: an unknown pool, both a stage and a
# pool, not a policy, a load_bound out of range or for a stage,
# warm_prefixes out of range.
# Asserts: each step answers with the policies afterwards and the next
# generation, `policy show` reads what was set and, at the end, every
# stream's answer observed by the scheduler; the client lost, doubled,
# reordered, altered or aborted nothing and every request completed; every
# member served streams of both stages, whole and in order; sluiced dropped
# nothing, expired no flow and gave every mbuf back. A policy change is no
# change of layout: streams in flight keep their instance.
#
# usage: policy.sh WORK_BASE
#   (binaries in SLUICED SLUICEGEN SLUICE_ENGINE SLUICECTL NETNS_SH)

set -euo pipefail
IT_NAME=policy
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
it_init "$@"
it_need_bin SLUICED SLUICEGEN SLUICE_ENGINE SLUICECTL NETNS_SH

P=$IT_PREFIX
IT_CONFIG=$IT_WORK/pool.yaml
cat >"$IT_CONFIG" <<EOF
sluiced: {address: $P.1, port: $IT_PORT}
flows: {size: 65536, idle_timeout_ms: 5000, reorder_window: 16}
clients: [$P.0/24]
pipelines:
  - name: demo
    id: 1
    pools:
      - name: lm
        instances: [$P.11:7801, $P.12:7801, $P.13:7801]
    stages:
      - {name: draft, pool: lm, cost_ms: 50, warm_saving_ms: 20}
      - {name: polish, pool: lm, cost_ms: 30, warm_saving_ms: 10}
EOF

it_control_setup auto
it_netns_up
for i in 0 1 2; do
	it_engine "lm/$i" "$P.1$((i + 1)):7801" 1:upper,2:rot13
done
it_wait_udp "$P.11:7801" "$P.12:7801" "$P.13:7801"
it_sluiced "$IT_CONFIG"
it_ctl_wait

it_ctl_ok policy show
want="demo pool lm: round_robin, load_bound 1.25, warm_prefixes 1, 3 instances, stages draft,polish
demo stage draft: round_robin, pool lm
demo stage polish: round_robin, pool lm"
[[ $CTL_OUT == "$want" ]] || it_fail "policy show at start:
  got:  $CTL_OUT
  want: $want"
# Refused: no such pool, both a stage and a pool, not a policy.
it_ctl_refused 1 "sluicectl: policy set: pool: no pool named \"gpu\" in demo" \
	policy set --pipeline demo --pool gpu round_robin
it_ctl_refused 2 "sluicectl: policy set: usage: --pipeline P and one of --stage S or --pool NAME, then the policy" \
	policy set --pipeline demo --pool lm --stage draft round_robin
it_ctl_refused 2 "sluicectl: policy set: policy: must be round_robin, least_loaded (or least_outstanding), hash_request or prompt_aware" \
	policy set --pipeline demo --pool lm fastest
it_ctl_refused 1 "sluicectl: policy set: load_bound: must be above 1.0 and at most 16.0, got 20" \
	policy set --pipeline demo --pool lm --load-bound 20 prompt_aware
it_ctl_refused 1 "sluicectl: policy set: load_bound: a pool's setting: name the pool (--pool)" \
	policy set --pipeline demo --stage draft --load-bound 2 prompt_aware
it_ctl_refused 2 "sluicectl: policy set: --warm-prefixes: must be 1..4, got \"9\"" \
	policy set --pipeline demo --pool lm --warm-prefixes 9 prompt_aware
[[ $(it_generation) -eq 1 ]] || it_fail "a refused change moved the generation"

gen=$IT_WORK/sluicegen.json
it_gen "$gen" --mode transform --streams 64 --rate 20000 \
	--fragments-per-request 8 --tokens-per-fragment 4 --duration 8 \
	--drain-ms 2000 --expect upper,rot13 --check &
gen_pid=$!

sleep 1
kill -0 "$gen_pid" 2>/dev/null || it_fail "sluicegen ended before the first change"
it_ctl_step holds "demo pool lm: least_loaded, load_bound 2.00, warm_prefixes 2, 3 instances" \
	policy set --pipeline demo --pool lm --load-bound 2 --warm-prefixes 2 least_outstanding
[[ $CTL_OUT == *"demo stage polish: least_loaded, pool lm"* ]] ||
	it_fail "polish did not take the pool's policy: $CTL_OUT"
sleep 1.3
it_ctl_step holds "demo stage polish: prompt_aware, pool lm, cost 30.0 ms, warm saving 10.0 ms" \
	policy set --pipeline demo --stage polish prompt_aware
it_ctl_ok policy show demo
[[ $CTL_OUT == *"demo stage draft: least_loaded, pool lm"* ]] ||
	it_fail "draft lost the pool's policy: $CTL_OUT"
sleep 1.3
it_ctl_step holds "demo pool lm: hash_request" policy set --pipeline demo --pool lm hash_request
sleep 1.3
it_ctl_step holds "demo stage draft: round_robin, pool lm" \
	policy set --pipeline demo --pool lm round_robin
kill -0 "$gen_pid" 2>/dev/null || it_fail "sluicegen ended before the last change (changes were too slow)"

gen_rc=0
wait "$gen_pid" || gen_rc=$?
it_log "sluicegen: $(jq -c '{requests, completed, fragments, fragments_received, lost, duplicated, misordered, corrupted, aborted, p99_us}' "$gen" 2>/dev/null || cat "$gen")"
it_ctl_stats "$IT_WORK/stats-end.json"
# The scheduler's view (per-stream events from the worker, paired in the
# control loop): every request's draft and polish answered, none left
# outstanding on any member.
completed=$(jq '.completed' "$gen")
sleep 0.2
it_ctl_ok policy show demo
for stage in draft polish; do
	[[ $CTL_OUT == *"demo stage $stage observed: $completed answers, "*"; outstanding lm/0 0 lm/1 0 lm/2 0"* ]] ||
		it_fail "policy show: want $completed $stage answers observed, none outstanding: $CTL_OUT"
done
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

it_expect "$engines" 'length == 3' "want stats from 3 engines"
it_expect "$engines" 'all(.[]; .misordered == 0 and .duplicates == 0 and
	.incomplete == 0 and .invalid == 0 and .aborted_in == 0 and
	.streams_completed == .streams)' \
	"an engine saw misordered, duplicate, incomplete, invalid or aborted streams"
# Each request is one stream of draft and one of polish, on the pool.
it_expect "$engines" "[.[].streams_completed] | add == 2 * $completed" \
	"the pool's streams_completed is not 2 x $completed"
# Every member served both stages (sluiced's view: 6 instances, 3 per
# stage, each with streams routed).
it_expect "$IT_WORK/stats-end.json" '[.instances[] | select(.streams_routed > 0)] | length == 6' \
	"not every member of the pool served both stages: $(jq -c '[.instances[] | {stage, instance, streams_routed}]' "$IT_WORK/stats-end.json")"
# Each member's counters under a name of its own: PIPELINE:STAGE:NAME.
it_expect "$IT_WORK/stats-end.json" '[.counters | keys[] |
	select(startswith("sluice_instance_alive{"))] ==
	["sluice_instance_alive{instance=demo:draft:lm/0}",
	 "sluice_instance_alive{instance=demo:draft:lm/1}",
	 "sluice_instance_alive{instance=demo:draft:lm/2}",
	 "sluice_instance_alive{instance=demo:polish:lm/0}",
	 "sluice_instance_alive{instance=demo:polish:lm/1}",
	 "sluice_instance_alive{instance=demo:polish:lm/2}"]' \
	"pool members' counters are not named by stage"

# least_outstanding and prompt_aware take new streams from the plans the
# scheduler publishes (sl_route.h): most streams under them went so.
it_log "plans: $(jq -c '{route_planned, route_plan_missed}' "$stats")"
it_expect "$stats" '.route_planned > .route_plan_missed' \
	"streams were not routed from the scheduler's plans: $(jq -c '{route_planned, route_plan_missed}' "$stats")"
it_expect "$stats" '.drops_total == 0' \
	"sluiced dropped packets: $(jq -c '.drops | with_entries(select(.value > 0))' "$stats")"
it_expect "$stats" '.mbufs.in_use == .mbufs.in_use_start' \
	"mbufs leaked: $(jq -c '.mbufs' "$stats")"
it_expect "$stats" '.flows.expired == 0 and .flows.active == 0 and
	.flows.ended == .flows.created' "flows do not balance: $(jq -c '.flows' "$stats")"

it_log "PASS: $completed requests through 4 policy changes (generation 5) on a pool of 3 serving 2 stages"
