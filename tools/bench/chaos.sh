#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# chaos.sh - the fact-checking pipeline under faults (issue 8): no request
# may be lost silently or damaged, nothing may crash or leak, and goodput
# must stay near a clean run's.
#
#   tools/bench/chaos.sh
#
# Two runs of ALTO's fact-checking pipeline (tools/pipelines/factcheck.yaml
# with two tenants bound to their client addresses, see below), the same
# Poisson questions (same rate, duration and seed) each time:
#
#   clean  no faults.
#   chaos  sluiced's fault injector (--impair) drops CHAOS_DROP%,
#          duplicates CHAOS_DUP% and reorders CHAOS_REORDER% of the
#          datagrams of every hop, both ways (client <-> sluiced <-> each
#          engine); at 20% of the run claims/1 is killed with SIGKILL and
#          started again 10 s later; a second client (FC_PREFIX.19, tenant
#          2, at most 4 requests at a time) floods sluiced with questions
#          for the whole run; at 40% a sixth bm25 instance is added and at
#          60% bm25/0 is drained through the control API (sluicectl).
#
# The checked client is the first one (FC_PREFIX.10, tenant 1). Writes
# results/chaos.json:
#
#   {requests, completed, aborted_by_reason, lost_silent, corrupted,
#    crashes, mbufs_leaked, goodput_ratio_vs_clean, ...}
#
# lost_silent: requests neither completed nor aborted (sluicegen's lost);
# corrupted: results damaged, duplicated or out of order; crashes:
# processes of the run (sluiced, sluicegen, engines other than the one
# killed on purpose) that died on a signal or exited with an error;
# mbufs_leaked: sluiced's mbufs in use at its end less at its start;
# goodput_ratio_vs_clean: questions answered completely in the chaos run
# over those in the clean run. aborted_by_reason comes with what each
# reason means here; a reason outside those is listed under
# unexplained_aborts. A copy goes to tools/bench/results/chaos-<commit>.json
# and a line to tools/bench/results/chaos.md; logs in results/chaos-logs/.
# Exit status 1 when lost_silent, corrupted, crashes, mbufs_leaked or
# unexplained_aborts is not zero.
#
# Environment:
#   CHAOS_TIME_SCALE  engine time scale (default 0.25)
#   CHAOS_DURATION    seconds of questions per run (default 150: with the
#                     default scale, 600 s of model time)
#   CHAOS_RATE        questions/s of the checked client, real time
#                     (default 8: half the streaming knee alto.sh found
#                     on this machine at scale 0.25)
#   CHAOS_FLOOD_RATE  questions/s of the flooding client (default 200)
#   CHAOS_DROP CHAOS_DUP CHAOS_REORDER  percentages (default 5, 1, 3)
#   CHAOS_SEED        sluicegen's and the injector's seed (default 1)
#   CHAOS_BUILD       build folder (default build-bench; built if needed)

set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

scale=${CHAOS_TIME_SCALE:-0.25}
duration=${CHAOS_DURATION:-150}
rate=${CHAOS_RATE:-8}
flood_rate=${CHAOS_FLOOD_RATE:-200}
drop=${CHAOS_DROP:-5}
dup=${CHAOS_DUP:-1}
reorder=${CHAOS_REORDER:-3}
seed=${CHAOS_SEED:-1}
builddir=${CHAOS_BUILD:-build-bench}
[[ $builddir = /* ]] || builddir=$root/$builddir
results=results
logs=$results/chaos-logs
bench_results=tools/bench/results

# A question takes seconds of model time: give stragglers 30 of them.
drain_ms=$(awk -v s="$scale" 'BEGIN { d = 30000 * s; print (d < 5000 ? 5000 : int(d)) }')
model_s=$(awk -v d="$duration" -v s="$scale" 'BEGIN { printf "%g", d / s }')

# shellcheck source=tools/deps.sh
. tools/deps.sh || { echo "chaos: cannot install the packages sluice needs" >&2; exit 1; }
# shellcheck source=tools/bench/common.sh
. tools/bench/common.sh
bench_build "$builddir" dataplane/sluiced tools/sluicegen tools/sluice-engine tools/sluice-bridge \
	tools/sluicectl || exit 1
commit=$(bench_commit dataplane proto control tools)

FC_BUILD=$builddir
FC_TAG=chaos
FC_NS=${FC_NS:-sluice-chaos}
FC_EAL_PREFIX=${FC_EAL_PREFIX:-sluice-chaos}
FC_TIME_SCALE=$scale
FC_LOGS=$logs
FC_OWN_TRAP=1
# shellcheck source=tools/bench/factcheck.sh
. tools/bench/factcheck.sh

on_exit() {
	local rc=$?
	trap - EXIT INT TERM
	fc_cleanup
	[[ $rc -eq 0 ]] || echo "chaos: failed (exit $rc); logs are in $logs/" >&2
	exit $rc
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rm -rf "$logs" "$results/chaos.json"
mkdir -p "$logs" "$bench_results"

# The pipeline of factcheck.yaml; the two clients are tenants bound to
# their addresses, the flooder's held to 4 requests at a time (refused
# beyond that with ABORT OVERLOAD); liveness finds a dead engine in 1 s.
config=$logs/factcheck-chaos.yaml
{
	cat tools/pipelines/factcheck.yaml
	cat <<EOF
tenants:
  - {id: 1, sources: [$FC_PREFIX.10]}
  - {id: 2, max_streams: 4, sources: [$FC_PREFIX.19]}
liveness: {probe_ms: 100, dead_ms: 1000}
EOF
} >"$config"

# Crashes: a process that died on a signal (128+n, except the SIGTERM we
# sent: 143) or exited with an error other than sluicegen's "some
# request was not answered" (1).
crashes=0
crash_log=()
count_exit() { # NAME RC [ALLOWED...]
	local name=$1 rc=$2 ok
	shift 2
	for ok in 0 "$@"; do
		[[ $rc -eq $ok ]] && return 0
	done
	crashes=$((crashes + 1))
	crash_log+=("$name exited $rc")
	echo "chaos: CRASH: $name exited $rc" >&2
}

ctl() {
	"$FC_SLUICECTL" --socket "$FC_CONTROL" "$@" 2>&1 | sed "s/^/chaos: sluicectl: /"
}

# run_one MODE: one run; its files are $logs/MODE-*.
run_one() {
	local mode=$1 gen_rc=0 flood_rc=0 rc pid i victim_pid="" t0
	local victim=claims/1 victim_ep=$FC_PREFIX.14:7801
	FC_CONTROL=$root/$logs/$mode-sluiced.sock
	FC_SLUICED_ARGS=
	[[ $mode == chaos ]] &&
		FC_SLUICED_ARGS="--impair drop=$drop,dup=$dup,reorder=$reorder,dir=both,seed=$seed"
	fc_init
	ip -n "$FC_NS" addr add "$FC_PREFIX.19/24" dev "$NS_IF"
	fc_engines_start
	fc_sluiced_start "$config" "$logs/$mode-sluiced-stats.json"
	fc_say "$mode: $rate questions/s for $duration s (seed $seed, $model_s s of model time)"
	t0=$(date +%s.%N)
	fc_gen "$logs/$mode-sluicegen.json" "$logs/$mode-sluicegen.err" \
		--request-rate "$rate" --arrival poisson --duration "$duration" \
		--drain-ms "$drain_ms" --seed "$seed" \
		--dump "$logs/$mode-results.tsv" --json --quiet &
	local gen_pid=$! flood_pid=""
	if [[ $mode == chaos ]]; then
		ip netns exec "$FC_NS" "$FC_SLUICEGEN" --mode pipeline \
			--server "$FC_SERVER" --bind "$FC_PREFIX.19" --pipeline 1 \
			--tenant 2 --request-rate "$flood_rate" --arrival constant \
			--duration "$duration" --drain-ms "$drain_ms" \
			--seed $((seed + 100)) --json --quiet \
			>"$logs/chaos-flood.json" 2>"$logs/chaos-flood.err" &
		flood_pid=$!
		at() { # wait until FRACTION of the run
			local due
			due=$(awk -v t0="$t0" -v d="$duration" -v f="$1" 'BEGIN { printf "%.3f", t0 + d * f }')
			while awk -v due="$due" -v now="$(date +%s.%N)" 'BEGIN { exit !(now < due) }'; do
				sleep 0.2
			done
		}
		at 0.2
		for i in "${!FC_INSTANCES[@]}"; do
			[[ ${FC_INSTANCES[$i]} == "$victim "* ]] && victim_pid=${SL_ENGINE_PIDS[$i]}
		done
		[[ -n $victim_pid ]] || fc_die "no pid for $victim"
		kill -KILL "$victim_pid"
		wait "$victim_pid" 2>/dev/null || true
		fc_say "killed $victim (pid $victim_pid) with SIGKILL"
		sleep 10
		fc_engine_start "$victim" claims "$victim_ep"
		fc_say "started $victim again"
		at 0.4
		fc_engine_start bm25/4 bm25 "$FC_PREFIX.18:7803"
		sleep 0.3
		ctl add --pipeline factcheck --stage bm25 --name bm25/4 \
			--address "$FC_PREFIX.18:7803"
		at 0.6
		ctl drain --pipeline factcheck --stage bm25 --name bm25/0
	fi
	wait "$gen_pid" || gen_rc=$?
	count_exit "$mode sluicegen" "$gen_rc" 1
	if [[ -n $flood_pid ]]; then
		wait "$flood_pid" || flood_rc=$?
		count_exit "chaos flooder" "$flood_rc" 1
	fi
	rc=0
	fc_sluiced_stop || rc=$?
	count_exit "$mode sluiced" "$rc"
	for pid in "${SL_ENGINE_PIDS[@]}"; do
		[[ $pid == "$victim_pid" ]] && continue
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${SL_ENGINE_PIDS[@]}"; do
		[[ $pid == "$victim_pid" ]] && continue
		rc=0
		wait "$pid" || rc=$?
		count_exit "$mode engine pid $pid" "$rc" 143
	done
	SL_ENGINE_PIDS=()
	fc_engine_stats "$logs/$mode-engines.json"
	for f in "$logs"/engine-*.json; do
		[[ -e $f ]] && mv "$f" "$logs/$mode-$(basename "$f")"
	done
	fc_cleanup
	jq -e 'type == "object"' "$logs/$mode-sluicegen.json" >/dev/null 2>&1 ||
		fc_die "$mode: sluicegen wrote no report (exit $gen_rc; see $logs/$mode-sluicegen.err)"
	fc_say "$mode: $(jq -c '{requests, completed, aborted, aborted_by_reason, lost, corrupted, duplicated, misordered}' "$logs/$mode-sluicegen.json")"
}

start=$(date +%s)
run_one clean
run_one chaos
run_s=$(($(date +%s) - start))

machine=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo | sed 's/ [0-9]*-Core Processor//')
machine="${machine:-unknown}, $(nproc) cores"
out=$results/chaos.json
jq -n \
	--slurpfile clean "$logs/clean-sluicegen.json" \
	--slurpfile chaos "$logs/chaos-sluicegen.json" \
	--slurpfile flood "$logs/chaos-flood.json" \
	--slurpfile s "$logs/chaos-sluiced-stats.json" \
	--slurpfile sc "$logs/clean-sluiced-stats.json" \
	--argjson crashes "$crashes" \
	--arg crash_log "$(printf '%s\n' "${crash_log[@]+"${crash_log[@]}"}")" \
	--arg commit "$commit" --arg machine "$machine" \
	--arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
	--argjson scale "$scale" --argjson duration "$duration" \
	--argjson model_s "$model_s" --argjson rate "$rate" \
	--argjson flood_rate "$flood_rate" --argjson drop "$drop" \
	--argjson dup "$dup" --argjson reorder "$reorder" --argjson seed "$seed" \
	--argjson run_s "$run_s" '
	$chaos[0] as $c | $clean[0] as $k | $s[0] as $st |
	{ENGINE: "owed by claims/1 when it was killed (or sent to it before liveness found it dead)",
	 LOST: "a gap or an END the repair gave up on after its retries (every hop loses \($drop)%)",
	 EXPIRED: "a stream that never started, or stopped, within its time"} as $why |
	($c.aborted_by_reason // {}) as $ab |
	{
	  commit: $commit, date: $date, machine: $machine,
	  time_scale: $scale, duration_s: $duration, model_time_s: $model_s,
	  rate_rps: $rate, seed: $seed,
	  faults: {drop_pct: $drop, dup_pct: $dup, reorder_pct: $reorder,
	           hops: "every hop, both ways",
	           killed: "claims/1 (SIGKILL at 20%, restarted 10 s later)",
	           flood: {from: "second client, tenant 2 (max_streams 4)",
	                   rate_rps: $flood_rate},
	           reconfig: "sluicectl add bm25/4 at 40%, drain bm25/0 at 60%"},
	  requests: $c.requests,
	  completed: $c.completed,
	  aborted: $c.aborted,
	  aborted_by_reason: $ab,
	  abort_reasons: ($ab | with_entries(.value = ($why[.key] // "unexplained"))),
	  unexplained_aborts: ([$ab | to_entries[] | select($why[.key] == null) | .value] | add // 0),
	  lost_silent: $c.lost,
	  corrupted: ($c.corrupted + $c.duplicated + $c.misordered + $c.unknown),
	  crashes: $crashes,
	  crash_log: ($crash_log | split("\n") | map(select(length > 0))),
	  mbufs_leaked: ($st.mbufs.in_use - $st.mbufs.in_use_start),
	  mbufs_leaked_clean: ($sc[0].mbufs.in_use - $sc[0].mbufs.in_use_start),
	  goodput_ratio_vs_clean: (if $k.completed > 0
	      then ($c.completed / $k.completed * 1000 | round / 1000) else null end),
	  clean: {requests: $k.requests, completed: $k.completed, aborted: $k.aborted,
	          aborted_by_reason: ($k.aborted_by_reason // {}), lost: $k.lost,
	          p50_ms: ($k.p50_us / 1000), p99_ms: ($k.p99_us / 1000)},
	  chaos_latency: {p50_ms: ($c.p50_us / 1000), p99_ms: ($c.p99_us / 1000)},
	  flood: {requests: $flood[0].requests, completed: $flood[0].completed,
	          aborted_by_reason: ($flood[0].aborted_by_reason // {}),
	          lost: $flood[0].lost},
	  sluiced: {impair: $st.impair, rtx: $st.rtx, liveness: $st.liveness,
	            requests_refused: $st.requests_refused,
	            requests_aborted: $st.requests_aborted,
	            drops: ($st.drops | with_entries(select(.value > 0)))},
	  run_s: $run_s
	}' >"$out"
cp "$out" "$bench_results/chaos-$commit.json"

md=$bench_results/chaos.md
if [[ ! -f $md ]]; then
	cat >"$md" <<'EOF'
# Chaos benchmark log

Written by tools/bench/chaos.sh; one line per run (see tools/bench/README.md, chaos section). The fact-checking pipeline, clean and then under loss, duplication and reordering on every hop, an engine killed and restarted, a flooding second client and a live reconfiguration. Counts are the checked client's requests in the chaos run.

| date | commit | machine | model s | faults d/u/r % | requests | completed | aborted (by reason) | lost silent | corrupted | crashes | mbufs leaked | goodput vs clean | run s |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
EOF
fi
jq -r '"| \(.date) | \(.commit) | \(.machine) | \(.model_time_s) | \(.faults.drop_pct)/\(.faults.dup_pct)/\(.faults.reorder_pct) | \(.requests) | \(.completed) | \(.aborted) (\(.aborted_by_reason | to_entries | map("\(.key) \(.value)") | join(", "))) | \(.lost_silent) | \(.corrupted) | \(.crashes) | \(.mbufs_leaked) | \(.goodput_ratio_vs_clean) | \(.run_s) |"' \
	"$out" >>"$md"

echo
jq '{requests, completed, aborted_by_reason, abort_reasons, lost_silent, corrupted,
     crashes, mbufs_leaked, goodput_ratio_vs_clean, flood, sluiced: {impair: .sluiced.impair, liveness: .sluiced.liveness}}' "$out"
echo "chaos: wrote $out and $bench_results/chaos-$commit.json"
jq -e '.lost_silent == 0 and .corrupted == 0 and .crashes == 0 and
	.mbufs_leaked == 0 and .unexplained_aborts == 0' "$out" >/dev/null || {
	echo "chaos: FAIL: a request was lost silently or damaged, a process crashed, mbufs leaked, or an abort is unexplained" >&2
	exit 1
}
echo "chaos: PASS"
