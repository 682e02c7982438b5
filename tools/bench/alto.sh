#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# alto.sh - ALTO's headline experiment (EuroMLSys '24, Fig. 3) on sluice,
# measured well: the fact-checking pipeline under Poisson load in three
# arms, several seeds, with confidence intervals and a validation of the
# engine model against ALTO's own figures.
#
#   tools/bench/alto.sh [--quick]
#
# Arms (ALTO_ARMS, run in this order, rotated per point):
#   buffered   tools/pipelines/factcheck-buffered.yaml: every edge waits for
#              the whole upstream output (ALTO's baseline)
#   streaming  tools/pipelines/factcheck.yaml: ALTO's streamed edges
#   sentences  tools/pipelines/factcheck-sentences.yaml: streaming, and the
#              answer reaches claim extraction sentence by sentence
# and the baselines behind switches, for a run that names them:
#   hash, buffered-hash  streaming / buffered with ALTO's hash(request_id)
#              routing on every stage (aggregation 1 everywhere)
#   buffered-serial      buffered-hash, and query generation serves one
#              request's claims one after another (sluice-engine
#              --serial-children; the audit's hypothesis H3: with
#              hash(request_id) all of a request's claims meet one
#              instance)
#
# Method. For every seed, for every rate (model requests/s), every arm
# runs one point: fresh engines (tools/bench/factcheck.sh, ALTO's 16
# instances) and a fresh sluiced, then sluicegen sends W warm-up requests
# followed by M measured ones, Poisson, at rate / ALTO_TIME_SCALE real
# requests/s; the arrivals and the questions are those of the seed, the
# same in every arm. M is the smaller of ALTO_MIN_REQUESTS (2000) and
# ALTO_MIN_MODEL_S (300 s) of model time, and never under 1000 (a P99 is
# reported only from at least 1000 completions); W covers
# ALTO_WARMUP_MODEL_S (20 s) of model time and is discarded. The arms of
# one point run one after another in a rotated order (the machine's
# noise reaches all of them alike). From sluicegen's per-request times
# (--times) tools/bench/alto.py computes, in model time: achieved load =
# measured completions / (last completion - first measured send), the
# median and P99; a point is shown where achieved >= 80% of offered (as
# in the paper). Per arm and seed, the load where the median crosses the
# 4 s target is interpolated linearly between shown points; ratios are
# taken per seed (same arrivals) and reported as mean and 95% confidence
# interval (Student's t over seeds). Low load is the lowest rate.
#
# An overhead check runs the streaming arm at ALTO_CHECK_RATE (15) model
# requests/s for ALTO_CHECK_REQUESTS at time scale 1.0 and at the scale
# used: unscaled costs (kernel, sluiced, timers) weigh 1/scale times more
# in model time at a small scale; the check passes when both medians agree
# within 10%.
#
# Writes (ALTO_OUT, default results/): alto.csv (one line per point and
# seed), alto-summary.csv (per arm and rate: means and 95% intervals over
# seeds), alto.png (median and P99 against achieved load, model time, with
# ALTO's points), alto.json (per arm the points per seed; the ratios; the
# validation block; the engine constants) and alto-logs/. A full run
# copies alto.json and alto.png to tools/bench/results/alto-<commit>[-
# prefix-cache][-<arms>].{json,png} and adds a line to
# tools/bench/results/alto.md; --quick records nothing.
#
# --quick: a smoke run (one seed, rates 2 and 5, a few dozen requests a
# point, about a minute; the integration test integration-alto): checks
# that everything runs and that the arms agree byte for byte; its figures
# mean nothing.
#
# Environment (model time unless said):
#   ALTO_TIME_SCALE      engine time scale (full 0.1, quick 0.25)
#   ALTO_RATES           comma list of offered rates, requests/s
#   ALTO_SEEDS           comma list of seeds (full 1,2,3)
#   ALTO_ARMS            arms, space separated (buffered streaming sentences)
#   ALTO_MIN_REQUESTS, ALTO_MIN_MODEL_S, ALTO_WARMUP_MODEL_S  (above)
#   ALTO_CHECK           1 (default) runs the overhead check, 0 not
#   ALTO_CHECK_RATE, ALTO_CHECK_REQUESTS
#   ALTO_BUILD           build folder (default build-bench; built if needed)
#   ALTO_OUT             output folder (default results)
#   ALTO_ENGINE_ARGS     extra options for every sluice-engine
#   ALTO_NS              network namespace and EAL prefix (sluice-alto)
#   ALTO_MBUFS           sluiced --mbufs (262143: hold quotas 8x the
#                        default's, for one client address carrying all)
#   ALTO_MAX_WAIT_MS     engines refuse work that waited this long (0,
#                        the default: never, as ALTO's queues; past
#                        capacity requests are then still queued when a
#                        point's drain ends: sluicegen --cancel-ms cuts
#                        them off, ABORT (CLIENT), so that none is left
#                        unanswered; alto.json counts them as aborted,
#                        aborted_by_reason.CLIENT, and `unfinished` is
#                        only what the path lost)
#   ALTO_LM_ARGS         extra options for the LM instances only (answer,
#                        claims, queries), e.g. --chunked-prefill
#   ALTO_PREFIX_CACHE    N > 0: every LM instance keeps N prompt prefixes
#                        (sluice-engine --prefix-cache N), as vLLM >= 0.4
#                        does; 0 (default): none, as ALTO's vLLM 0.2.6

set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

die() {
	echo "alto: $*" >&2
	exit 2
}

quick=0
case ${1:-} in
--quick) quick=1 ;;
"") ;;
*)
	echo "usage: $0 [--quick]" >&2
	exit 2
	;;
esac

if [[ $quick -eq 1 ]]; then
	scale=${ALTO_TIME_SCALE:-0.25}
	model_rates=${ALTO_RATES:-2,5}
	seeds=${ALTO_SEEDS:-1}
	min_requests=${ALTO_MIN_REQUESTS:-40}
	min_model_s=${ALTO_MIN_MODEL_S:-8}
	warmup_model_s=${ALTO_WARMUP_MODEL_S:-2}
	p99_min=0
	check_requests=${ALTO_CHECK_REQUESTS:-20}
else
	scale=${ALTO_TIME_SCALE:-0.1}
	model_rates=${ALTO_RATES:-4,6,8,12,15,17,18,19,20,21.5}
	seeds=${ALTO_SEEDS:-1,2,3}
	min_requests=${ALTO_MIN_REQUESTS:-2000}
	min_model_s=${ALTO_MIN_MODEL_S:-300}
	warmup_model_s=${ALTO_WARMUP_MODEL_S:-20}
	p99_min=1000
	check_requests=${ALTO_CHECK_REQUESTS:-600}
fi
arms=${ALTO_ARMS:-buffered streaming sentences}
check=${ALTO_CHECK:-1}
prefix_cache=${ALTO_PREFIX_CACHE:-0}
[[ $prefix_cache =~ ^[0-9]+$ ]] || die "ALTO_PREFIX_CACHE must be a count"
lm_args=${ALTO_LM_ARGS:-}
[[ $prefix_cache -gt 0 ]] && lm_args+=" --prefix-cache $prefix_cache"
check_rate=${ALTO_CHECK_RATE:-15}
builddir=${ALTO_BUILD:-build-bench}
[[ $builddir = /* ]] || builddir=$root/$builddir
out=${ALTO_OUT:-results}
[[ $out = /* ]] || out=$root/$out
logs=$out/alto-logs
bench_results=$root/tools/bench/results

positive() {
	awk -v v="$1" 'BEGIN { exit !(v ~ /^[0-9]*\.?[0-9]+$/ && v + 0 > 0) }'
}
positive "$scale" || die "ALTO_TIME_SCALE must be a number > 0, got '$scale'"
for r in ${model_rates//,/ }; do
	positive "$r" || die "ALTO_RATES: '$r' is not a rate > 0"
done
for s in ${seeds//,/ }; do
	[[ $s =~ ^[0-9]+$ ]] || die "ALTO_SEEDS: '$s' is not a seed"
done
for v in min_requests min_model_s warmup_model_s check_requests; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, got '${!v}'"
done
positive "$check_rate" || die "ALTO_CHECK_RATE must be a rate > 0"
for arm in $arms; do
	case $arm in
	buffered | streaming | sentences | hash | buffered-hash | buffered-serial) ;;
	*) die "ALTO_ARMS: unknown arm '$arm'" ;;
	esac
done

# shellcheck source=tools/deps.sh
. tools/deps.sh || { echo "alto: cannot install the packages sluice needs" >&2; exit 1; }
# shellcheck source=tools/bench/common.sh
. tools/bench/common.sh
bench_build "$builddir" dataplane/sluiced tools/sluicegen tools/sluice-engine tools/sluice-bridge \
	tools/sluicectl tools/bench/lm_capacity || exit 1
commit=$(bench_commit dataplane proto control tools)

FC_BUILD=$builddir
FC_LOGS=$logs
FC_TAG=alto
FC_NS=${ALTO_NS:-sluice-alto}
FC_EAL_PREFIX=$FC_NS
FC_TIME_SCALE=$scale
FC_ENGINE_ARGS=${ALTO_ENGINE_ARGS:-}
# ALTO's engines queued without bound; a refusal after a bounded wait
# (factcheck.sh's default) would cap the median below the target and
# hide the crossing.
FC_MAX_WAIT_MS=${ALTO_MAX_WAIT_MS:-0}
# One client address stands for all of ALTO's callers, and sluiced lets
# one address hold an eighth of its mbuf pool in buffer edges: at the
# default pool (32767) the buffered arm met that quota (BUFFER_FULL,
# ABORT OVERLOAD) from 17 requests/s on, before any engine was full.
mbufs=${ALTO_MBUFS:-262143}
FC_SLUICED_ARGS="--mbufs $mbufs${FC_SLUICED_ARGS:+ $FC_SLUICED_ARGS}"
# shellcheck source=tools/bench/factcheck.sh
. tools/bench/factcheck.sh

rm -rf "$logs" "$out/alto.csv" "$out/alto-summary.csv" "$out/alto.png" \
	"$out/alto.json"
mkdir -p "$logs"
fc_init

# ALTO's hash(request_id) on every stage: the arm's file with aggregation
# 1 on each stage (a stage's own aggregation line replaced).
hash_config() {
	awk '
		/^    stages:/ { in_stages = 1 }
		/^    edges:/ { in_stages = 0 }
		in_stages && /^        aggregation:/ { next }
		{ print }
		in_stages && /^      - name: / {
			print "        aggregation: 1          # ALTO: hash(request_id)"
		}' "$1" >"$2"
}
hash_config tools/pipelines/factcheck.yaml "$logs/factcheck-hash.yaml"
hash_config tools/pipelines/factcheck-buffered.yaml \
	"$logs/factcheck-buffered-hash.yaml"

arm_config() {
	case $1 in
	buffered) echo tools/pipelines/factcheck-buffered.yaml ;;
	streaming) echo tools/pipelines/factcheck.yaml ;;
	sentences) echo tools/pipelines/factcheck-sentences.yaml ;;
	hash) echo "$logs/factcheck-hash.yaml" ;;
	buffered-hash | buffered-serial) echo "$logs/factcheck-buffered-hash.yaml" ;;
	esac
}

# point ARM RATE SEED SCALE MEASURED WARMUP TAG: one point, its files in
# $logs/TAG/; a line in $logs/points.jsonl.
point() {
	local arm=$1 rate=$2 seed=$3 pscale=$4 measured=$5 warm=$6 tag=$7
	local dir=$logs/$tag real drain_ms rc=0 t0=$SECONDS
	mkdir -p "$dir"
	chown "$FC_SLUICED_USER" "$dir"
	real=$(awk -v r="$rate" -v s="$pscale" 'BEGIN { printf "%.6g", r / s }')
	# Stragglers: 40 s of model time after the last question, at least 3 s.
	drain_ms=$(awk -v s="$pscale" 'BEGIN { d = 40000 * s; print (d < 3000 ? 3000 : int(d)) }')
	FC_TIME_SCALE=$pscale
	FC_ARGS_answer=$lm_args
	FC_ARGS_claims=$lm_args
	FC_ARGS_queries=$lm_args
	[[ $arm == buffered-serial ]] && FC_ARGS_queries+=" --serial-children"
	fc_engines_start >/dev/null
	fc_sluiced_start "$(arm_config "$arm")" "$dir/sluiced-stats.json" >/dev/null
	# What is still queued when the drain ends (past capacity the
	# unbounded queues hold hundreds) is cut off: ABORT (CLIENT) to
	# sluiced, which ends each request and says so within the second.
	fc_gen "$dir/gen.json" "$dir/gen.err" --request-rate "$real" \
		--requests $((warm + measured)) --arrival poisson \
		--drain-ms "$drain_ms" --cancel-ms 1000 --seed "$seed" \
		--dump "$dir/dump" --times "$dir/times" --json || rc=$?
	jq -e '.requests > 0' "$dir/gen.json" >/dev/null 2>&1 || {
		cat "$dir/gen.err" >&2
		fc_die "sluicegen ($tag) exited $rc without its report"
	}
	rc=0
	fc_sluiced_stop || rc=$?
	[[ $rc -eq 0 ]] || fc_say "warning: sluiced exited $rc on SIGTERM ($tag)"
	fc_engines_stop
	fc_engine_stats "$dir/engines.json"
	mv "$logs/sluiced.log" "$logs/sluiced.err" "$dir/"
	rm -f "$logs"/engine-*.json
	jq -cn --arg arm "$arm" --argjson rate "$rate" --argjson seed "$seed" \
		--argjson scale "$pscale" --argjson warmup "$warm" \
		--argjson measured "$measured" --arg dir "$tag" \
		'{arm: $arm, rate: $rate, seed: $seed, scale: $scale,
		  warmup: $warmup, measured: $measured, dir: $dir}' \
		>>"$logs/points.jsonl"
	jq -r --arg t "$tag" --argjson s "$pscale" \
		--arg secs "$((SECONDS - t0))" \
		'"  \($t): \(.completed)/\(.requests) done, \(.aborted) aborted \(.aborted_by_reason | tojson), \(.cut_off) cut off at the drain end, \(.lost) lost; p50 \(.p50_us / 1000 / $s | round) ms model (warm-up included) [\($secs) s]"' \
		"$dir/gen.json"
}

# Requests of a point at RATE: measured (the requests of min_model_s
# seconds, at most min_requests, at least p99_min) and warm-up.
requests_in() { # RATE SECONDS: requests arriving in SECONDS, rounded up
	awk -v r="$1" -v t="$2" 'BEGIN { m = r * t; print (m == int(m) ? m : int(m) + 1) }'
}
measured_at() {
	local m
	m=$(requests_in "$1" "$min_model_s")
	((m > min_requests)) && m=$min_requests
	((m < p99_min)) && m=$p99_min
	echo "$m"
}
warmup_at() {
	requests_in "$1" "$warmup_model_s"
}

n_arms=$(wc -w <<<"$arms")
fc_say "time scale $scale; arms: $arms; rates ${model_rates} model req/s;" \
	"seeds $seeds; >= $min_requests requests or $min_model_s s a point," \
	"warm-up $warmup_model_s s"
start_s=$SECONDS
k=0
for seed in ${seeds//,/ }; do
	for rate in ${model_rates//,/ }; do
		m=$(measured_at "$rate")
		w=$(warmup_at "$rate")
		# The arms in a rotated order: no arm always runs first.
		read -ra order <<<"$arms"
		for ((i = 0; i < n_arms; i++)); do
			arm=${order[$(((i + k) % n_arms))]}
			point "$arm" "$rate" "$seed" "$scale" "$m" "$w" \
				"$arm-r$rate-s$seed"
		done
		k=$((k + 1))
	done
done
# At scale 1 there is nothing to compare.
awk -v s="$scale" 'BEGIN { exit !(s == 1) }' && check=0
if [[ $check -eq 1 ]]; then
	fc_say "overhead check: streaming at $check_rate req/s, scale 1 and $scale"
	w=$(warmup_at "$check_rate")
	point streaming "$check_rate" 1 1 "$check_requests" "$w" check-scale-1
	point streaming "$check_rate" 1 "$scale" "$check_requests" "$w" \
		"check-scale-$scale"
fi
elapsed=$((SECONDS - start_s))

"$builddir/tools/bench/lm_capacity" >"$logs/lm_capacity.json"
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
python3 tools/bench/alto.py --logs "$logs" --out "$out" --scale "$scale" \
	--commit "$commit" --machine "${cpu:-unknown cpu}, $(nproc) cores" \
	--elapsed "$elapsed" --p99-min "$p99_min" --quick "$quick" \
	--check "$check" --engine-readme tools/engine/README.md \
	--lm-capacity "$logs/lm_capacity.json" \
	--prefix-cache "$prefix_cache" --lm-args="${ALTO_LM_ARGS:-}" \
	--claims-prefix "$FC_CLAIMS_PREFIX" \
	--queries-prefix "$FC_QUERIES_PREFIX" --max-wait-ms "$FC_MAX_WAIT_MS"

subtitle="$commit, time scale $scale, prefix cache $prefix_cache"
[[ -n ${lm_args// /} ]] && subtitle+=", LM:$lm_args"
gnuplot -e "dir='$out'; arms='$arms'; subtitle='$subtitle'" \
	tools/bench/alto.gnuplot 2>"$logs/gnuplot.err" ||
	fc_say "warning: gnuplot failed (see $logs/gnuplot.err)"

if [[ $quick -eq 0 ]]; then
	mkdir -p "$bench_results"
	# One file per kind of run: the default arms, a prefix cache, others.
	name=alto-$commit
	[[ $prefix_cache -gt 0 ]] && name+=-prefix-cache
	[[ $arms != "buffered streaming sentences" ]] && name+="-${arms// /+}"
	cp "$out/alto.json" "$bench_results/$name.json"
	cp "$out/alto.png" "$bench_results/$name.png" 2>/dev/null || true
	python3 tools/bench/alto.py --record "$out/alto.json" \
		--md "$bench_results/alto.md"
	echo "recorded: $bench_results/$name.json (.png), a line in $bench_results/alto.md"
fi
echo "results: $out/alto.csv $out/alto-summary.csv $out/alto.png $out/alto.json"
