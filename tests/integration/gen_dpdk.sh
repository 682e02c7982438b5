#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# gen_dpdk.sh - sluicegen's DPDK mode against a real sluiced (issue 11,
# the pktgen-style generator). sluiced runs on the host end of the veth
# (net_af_packet) with a one-stage pipeline whose only instance is
# PREFIX.21:7801; sluicegen owns the namespace end through net_af_packet
# and plays both the client (PREFIX.20) and that instance: it resolves
# sluiced by ARP, answers its PROBEs, and sends 20,000 fragments/s open
# loop for 3 s (after 0.5 s of warm-up), every fragment crossing sluiced
# twice (client -> instance, echoed back to the client).
#
# Exact outcomes: the schedule's fragment count (whole requests), every
# fragment at the instance and back at the client with its bytes and
# sequence checked against what was sent (payload = f(request, seq)),
# nothing lost, corrupted or aborted, every request completed; one
# latency sample per fragment scheduled after the warm-up on each hop,
# percentiles ordered; the ARP baseline measured; sluiced dropped
# nothing and gave every mbuf back.
#
# usage: gen_dpdk.sh WORK_BASE (binaries in SLUICED SLUICEGEN NETNS_SH)

set -euo pipefail
IT_NAME=gen_dpdk
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
it_init "$@"
it_need_bin SLUICED SLUICEGEN NETNS_SH

rate=20000 seconds=3 warmup=0.5 streams=16 frags=8 calibrate=500
# The schedule is whole blocks of streams x frags fragments covering
# rate x (warm-up + run): ceil(70000 / 128) x 128.
block=$((streams * frags))
want=$(((rate * 35 / 10 + block - 1) / block * block))
# Samples: the fragments due at or after the warm-up's end.
want_samples=$((want - rate * 5 / 10))

config=$IT_WORK/pipeline.yaml
it_hop_config "$config"
it_netns_up
it_sluiced "$config"

gen=$IT_WORK/gen.json
rc=0
it_hop_gen "$gen" --rate "$rate" --duration "$seconds" \
	--warmup "$warmup" --streams "$streams" --fragments-per-request "$frags" \
	--calibrate "$calibrate" || rc=$?
it_log "sluicegen (exit $rc): $(jq -c '.run | {fragments, fragments_at_instance, fragments_received, lost, requests, completed, corrupted, corrupted_at_instance, aborted, p50_us, p99_us, p9999_us, max_us, repair}' "$gen" 2>/dev/null || cat "$gen")"
it_stop_all
[[ $rc -eq 0 ]] || it_fail "sluicegen --check exited $rc"

it_expect "$gen" '.mode == "dpdk" and .run.interrupted == false' \
	"not a whole DPDK-mode run"
it_expect "$gen" ".run.fragments == $want" \
	"sent $(jq .run.fragments "$gen") fragments, want the schedule's $want"
it_expect "$gen" '.run.fragments_at_instance == .run.fragments and
	.run.fragments_received == .run.fragments and .run.lost == 0' \
	"fragments went missing on the way"
it_expect "$gen" '.run.corrupted == 0 and .run.corrupted_at_instance == 0 and
	.run.aborted == 0 and .run.requests_lost == 0 and .run.unknown == 0 and
	.run.skipped == 0' "damaged, aborted or unknown fragments"
it_expect "$gen" ".run.requests == $((want / frags)) and
	.run.completed == .run.requests" "not every request completed"
# Every fragment due after the warm-up is one sample per hop.
for h in hop return_hop round_trip send_lag; do
	it_expect "$gen" ".run.$h.count == $want_samples" \
		"$h has $(jq ".run.$h.count" "$gen") samples, want $want_samples"
	it_expect "$gen" ".run.$h.p50_us <= .run.$h.p90_us and
		.run.$h.p90_us <= .run.$h.p99_us and
		.run.$h.p99_us <= .run.$h.p999_us and
		.run.$h.p999_us <= .run.$h.p9999_us and
		.run.$h.p9999_us <= .run.$h.max_us and .run.$h.min_us <= .run.$h.p50_us" \
		"$h's percentiles are out of order"
done
it_expect "$gen" '.run.hop.p50_us > 0 and .run.round_trip.p50_us >= .run.hop.p50_us' \
	"a hop took no time, or the round trip less than its first hop"
it_expect "$gen" '.run.p50_us == .run.hop.p50_us and .run.p9999_us == .run.hop.p9999_us' \
	"the summary is not the hop's"
it_expect "$gen" ".baseline.count == $calibrate and .baseline.p50_us > 0" \
	"the ARP baseline was not measured"
it_expect "$gen" '.port.probes_answered > 0' "sluiced's PROBEs were not answered"

stats=$IT_WORK/sluiced-stats.json
# DUPLICATE is loss repair at work on a busy host (an END resent before
# its ACK came back), not loss (privileges.sh allows it too).
it_expect "$stats" '[.drops | to_entries[] | select(.key != "DUPLICATE") | .value] | add == 0' \
	"sluiced dropped frames: $(jq -c '.drops | with_entries(select(.value > 0))' "$stats")"
it_expect "$stats" '.mbufs.in_use == .mbufs.in_use_start' \
	"mbufs leaked: $(jq -c '.mbufs' "$stats")"
it_expect "$stats" '.flows.created == .flows.ended and .flows.expired == 0' \
	"streams left open or expired in sluiced: $(jq -c '.flows' "$stats")"
it_log "PASS: $want fragments each way, byte-exact; hop p50 $(jq .run.p50_us "$gen") us, p99 $(jq .run.p99_us "$gen") us, p99.99 $(jq .run.p9999_us "$gen") us, max $(jq .run.max_us "$gen") us"
