#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# sim_vs_sluiced.sh - sluice-sim (tools/sim) against sluiced on the same
# small workload (issue 16: "a test holds its figures against sluiced's
# own on the same small workload, within 15%").
#
# The fact-checking pipeline with one pool of 7 LM instances shared by the
# answer, claims and queries stages (tools/pipelines/factcheck-pool7.yaml:
# prompt_aware, load_bound 1.25, warm_prefixes 1; sched.sh's pooled arm):
# 7 sluice-engine pool members (--stage-roles 1:answer,2:claims,3:queries,
# FacTool's 570- and 300-token few-shot prefixes, --prefix-cache 1), bm25
# x4, encoder, rerank x4, all at engine time scale SIM_IT_SCALE (0.25).
# sluicegen sends SIM_IT_REQUESTS (90) Poisson questions at SIM_IT_RATE
# (4) model requests/s with seed SIM_IT_SEED (3), the first SIM_IT_WARMUP
# (10) not measured, a low load where neither saturates. sluice-sim runs
# the same knobs, seed, counts and time scale.
#
# From sluicegen's --times: each measured request's latency (question sent
# -> result END, wall time / scale = model time); SLO attainment = the
# measured requests done under 4 s of model time over all measured ones;
# p50 nearest rank over the completed (sluice-sim's definitions).
# Asserts: every request completed, nothing lost, aborted or corrupted;
# the simulator's SLO attainment and p50 each within 15% of sluiced's.
# Prints both. Then `sluicectl tune --apply` (a small job on simulated
# nodes, fixed seeds) sets the winner on this sluiced's pool through
# SetPolicy: `policy show` reads it back, and the generation moves by one. tools/sim/README.md ("Against sluiced") says what differs.
#
# usage: sim_vs_sluiced.sh WORK_BASE
#   (binaries in SLUICED SLUICEGEN SLUICE_ENGINE SLUICE_SIM SLUICECTL
#    NETNS_SH)

set -euo pipefail
IT_NAME=sim_vs_sluiced
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
it_init "$@"
it_need_bin SLUICED SLUICEGEN SLUICE_ENGINE SLUICE_SIM SLUICECTL NETNS_SH

scale=${SIM_IT_SCALE:-0.25}
rate=${SIM_IT_RATE:-4}
requests=${SIM_IT_REQUESTS:-90}
warmup=${SIM_IT_WARMUP:-10}
seed=${SIM_IT_SEED:-3}
tolerance=0.15

# The pipeline file names 10.77.0.x and port 7700: lib.sh's defaults.
[[ $IT_PREFIX == 10.77.0 && $IT_PORT == 7700 ]] ||
	it_skip "factcheck-pool7.yaml needs IT_PREFIX 10.77.0, IT_PORT 7700"
P=$IT_PREFIX
config=$IT_SRC_ROOT/tools/pipelines/factcheck-pool7.yaml

it_control_setup auto
it_netns_up
lm=(--stage-roles 1:answer,2:claims,3:queries --prefix-tokens 2:570,3:300
	--prefix-cache 1 --time-scale "$scale" --max-wait-ms 0)
eps=()
for i in 0 1 2 3 4 5 6; do
	sl_engine_start "$IT_NS" "$SLUICE_ENGINE" "$IT_WORK" "lm/$i" \
		"$P.1$((i + 1)):7801" "${lm[@]}"
	eps+=("$P.1$((i + 1)):7801")
done
for i in 0 1 2 3; do
	sl_engine_start "$IT_NS" "$SLUICE_ENGINE" "$IT_WORK" "bm25/$i" \
		"$P.1$((i + 1)):7802" --role bm25 --time-scale "$scale" \
		--max-wait-ms 0
	sl_engine_start "$IT_NS" "$SLUICE_ENGINE" "$IT_WORK" "rerank/$i" \
		"$P.1$((i + 5)):7802" --role rerank --join 2 \
		--time-scale "$scale" --max-wait-ms 0
	eps+=("$P.1$((i + 1)):7802" "$P.1$((i + 5)):7802")
done
sl_engine_start "$IT_NS" "$SLUICE_ENGINE" "$IT_WORK" encoder/0 "$P.18:7801" \
	--role encoder --time-scale "$scale" --max-wait-ms 0
eps+=("$P.18:7801")
it_wait_udp "${eps[@]}"
it_sluiced "$config"
it_ctl_wait

# The same arrivals in model time: sluicegen's rate is the model rate
# over the scale (its exponential gaps shrink by the scale).
wall_rate=$(awk -v r="$rate" -v s="$scale" 'BEGIN { printf "%.6g", r / s }')
drain_ms=$(awk -v s="$scale" 'BEGIN { d = 40000 * s; print (d < 3000 ? 3000 : int(d)) }')
gen=$IT_WORK/sluicegen.json
times=$IT_WORK/times
gen_rc=0
ip netns exec "$IT_NS" "$SLUICEGEN" --mode pipeline --server "$P.1:$IT_PORT" \
	--bind "$P.10" --pipeline 1 --tenant 1 --request-rate "$wall_rate" \
	--arrival poisson --requests "$requests" --seed "$seed" \
	--drain-ms "$drain_ms" --times "$times" --json --quiet \
	>"$gen" 2>"$IT_WORK/sluicegen.err" || gen_rc=$?

# sluicectl tune --apply on this sluiced: seeds 1 and 1 pick prompt_aware,
# load_bound 2, warm_prefixes 2 (tests/tools/test_tune_cli.c holds the
# job's arithmetic; here the winner must reach the real pool).
it_ctl_ok policy show factcheck
[[ $CTL_OUT == *"factcheck pool lm: prompt_aware, load_bound 1.25, warm_prefixes 1, 7 instances, stages answer,claims,queries"* ]] ||
	it_fail "policy show at start: $CTL_OUT"
it_ctl_ok tune --apply --pipeline factcheck --pool lm --nodes 2 --trials 3 \
	--unit-requests 3 --max-units 1 --seed 1 --noise-seed 1
[[ $CTL_OUT == *"applying: sluicectl policy set --pipeline factcheck --pool lm --load-bound 2.00 --warm-prefixes 2 prompt_aware"* ]] ||
	it_fail "tune --apply: not the winner expected: $CTL_OUT"
[[ $CTL_OUT == *"factcheck pool lm: prompt_aware, load_bound 2.00, warm_prefixes 2, 7 instances, stages answer,claims,queries"* ]] ||
	it_fail "tune --apply: sluiced's answer does not hold the winner: $CTL_OUT"
it_ctl_ok policy show factcheck
[[ $CTL_OUT == *"factcheck pool lm: prompt_aware, load_bound 2.00, warm_prefixes 2, 7 instances, stages answer,claims,queries"* ]] ||
	it_fail "policy show after tune --apply: $CTL_OUT"
[[ $(it_generation) -eq 2 ]] || it_fail "tune --apply is not one change (generation 2)"
it_log "sluicectl tune --apply: factcheck pool lm now prompt_aware, load_bound 2.00, warm_prefixes 2 (generation 2)"
it_stop_all
[[ $gen_rc -eq 0 ]] || it_fail "sluicegen exited $gen_rc"
it_expect "$gen" ".requests == $requests and .completed == $requests and
	.lost == 0 and .aborted == 0 and .corrupted == 0" \
	"not every request completed whole: $(jq -c '{requests, completed, lost, aborted, corrupted}' "$gen")"

# sluiced's figures, as sluice-sim defines them.
read -r real_n real_att real_p50 real_p99 < <(awk -F'\t' -v w="$warmup" -v s="$scale" '
	$1 >= w {
		n++
		if ($6 == "ok") {
			ms = ($5 - $3) / 1000 / s
			lat[++c] = ms
			if (ms < 4000) under++
		}
	}
	END {
		# insertion sort: at most a few hundred
		for (i = 2; i <= c; i++) {
			v = lat[i]
			for (j = i - 1; j >= 1 && lat[j] > v; j--) lat[j + 1] = lat[j]
			lat[j + 1] = v
		}
		k50 = int(0.5 * c); if (k50 < 0.5 * c) k50++
		k99 = int(0.99 * c); if (k99 < 0.99 * c) k99++
		printf "%d %.6f %.3f %.3f\n", n, n ? under / n : 0, lat[k50], lat[k99]
	}' "$times")
[[ $real_n -eq $((requests - warmup)) ]] ||
	it_fail "times: $real_n measured requests, want $((requests - warmup))"

sim=$IT_WORK/sim.json
"$SLUICE_SIM" --policy prompt_aware --load-bound 1.25 --warm-prefixes 1 \
	--prefix-cache 1 --rate "$rate" --requests "$requests" \
	--warmup "$warmup" --seed "$seed" --time-scale "$scale" >"$sim" ||
	it_fail "sluice-sim exited $?"
sim_n=$(jq '.requests' "$sim")
sim_att=$(jq '.slo_attainment' "$sim")
sim_p50=$(jq '.latency_ms.p50' "$sim")
sim_p99=$(jq '.latency_ms.p99' "$sim")
[[ $sim_n -eq $real_n ]] || it_fail "sluice-sim measured $sim_n requests, sluiced $real_n"

it_log "sluiced:    $real_n requests, SLO attainment (4 s) $real_att, p50 $real_p50 ms, p99 $real_p99 ms (model time, scale $scale)"
it_log "sluice-sim: $sim_n requests, SLO attainment (4 s) $sim_att, p50 $sim_p50 ms, p99 $sim_p99 ms"

within() { # NAME SIM REAL: |SIM - REAL| <= tolerance x REAL
	awk -v a="$2" -v b="$3" -v t="$tolerance" 'BEGIN {
		d = a - b; if (d < 0) d = -d
		exit !(b > 0 && d <= t * b) }' ||
		it_fail "$1: sluice-sim $2, sluiced $3: more than 15% apart"
	it_log "$1: sluice-sim $2 vs sluiced $3: within 15% ($(awk -v a="$2" -v b="$3" 'BEGIN { printf "%+.1f%%", 100 * (a - b) / b }'))"
}
within "SLO attainment" "$sim_att" "$real_att"
within "p50 latency (ms)" "$sim_p50" "$real_p50"

it_log "PASS: sluice-sim within 15% of sluiced on $real_n requests at $rate requests/s (attainment $sim_att vs $real_att, p50 $sim_p50 vs $real_p50 ms)"
