#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# sched.sh - prompt-aware scheduling (issue 12): ALTO's fact-checking
# pipeline with 7 LM instances in total and prefix caching on in every
# arm, ALTO's static prompt pinning against one pool of the 7 that the
# answer, claims and queries stages share, under two workloads; the
# method of alto.sh (seeds, 95% intervals, the interpolated 4 s crossing).
#
#   tools/bench/sched.sh [--quick]
#
# Arms (SCHED_ARMS, rotated per point):
#   pinned              tools/pipelines/factcheck-pinned7.yaml: ALTO's
#                       pinning, answer 2 / claims 2 / queries 3 single-
#                       role instances, each stage hash_request (ALTO's
#                       hash(request id) % n): the baseline
#   round_robin, least_outstanding, prompt_aware
#                       tools/pipelines/factcheck-pool7[-azure].yaml with
#                       the pool's policy set: 7 instances, each a
#                       sluice-engine --stage-roles 1:answer,2:claims,
#                       3:queries (one iteration loop, one KV budget, one
#                       prefix cache for the three prompts)
# Every LM instance keeps SCHED_PREFIX_CACHE (1) few-shot prefixes
# (--prefix-cache; the pool's warm_prefixes says the same); claims and
# queries prefill FacTool's 570- and 300-token prompts (factcheck.sh).
# Retrieval (bm25 4, encoder 1, rerank 4) as in factcheck.yaml.
#
# Workloads (SCHED_WORKLOADS):
#   squad   Poisson questions, sluicegen's (what alto.sh sends); seed s:
#           sluicegen --seed s (arrivals and questions)
#   azure   the Azure LLM inference trace (conversation service,
#           tools/data/azure-llm-trace): sluicegen --trace, its arrival
#           pattern and lengths (a prompt of ContextTokens tokens answered
#           with exactly GeneratedTokens), sped up to the rate of the
#           point: the speed-up is the rate over the replayed rows' own
#           rate (time-scaled); seed s replays from trace second
#           (s - 1) x SCHED_TRACE_STRIDE_S (600) with --seed s (prompt
#           text). Every rate replays the same rows (SCHED_TRACE_
#           WARMUP_ROWS then SCHED_TRACE_ROWS), only faster or slower: a
#           longer window at a higher rate would be other requests, of
#           other lengths. The azure arms of pooled policies use
#           factcheck-pool7-azure.yaml (prompt_aware's costs from the
#           trace's lengths).
#
# Method (alto.sh's): for every workload, seed and rate (model
# requests/s), every arm runs one point with fresh engines and a fresh
# sluiced: W warm-up requests (SCHED_WARMUP_MODEL_S of model time,
# dropped) then M measured ones (the smaller of SCHED_MIN_REQUESTS and
# SCHED_MIN_MODEL_S of model time, never under the P99's 1000; the
# trace: the rows above); the same
# arrivals and questions in every arm of a seed. tools/bench/sched.py,
# with alto.py's functions: achieved load, median and P99 in model time;
# a point shown where achieved >= 80% of offered; per arm and seed the
# load where the median crosses 4 s, interpolated between shown points;
# ratios per seed against pinned, mean and 95% interval (Student's t).
# Beside the 4 s crossing, the load where the median reaches twice
# pinned's median at the lowest rate (the trace's long requests may be
# over 4 s unloaded). "Moderate load" is the highest rate of the grid at
# or under half of pinned's crossing (4 s, else twice its low median;
# else the lowest rate): the P99 there. A full run takes about 4 hours
# on a 2-CPU host (the trace's points at 0.25 most of it).
#
# Writes (SCHED_OUT, default results/): sched.json (per workload and arm:
# rate_at_target, p50/p99 at the moderate rate, throughput and P99 ratios
# against pinned; per workload throughput_ratio_vs_pinned of
# prompt_aware; the points; the engines' prefix-cache counters; the
# constants), sched.csv, sched-logs/. A full run copies sched.json to
# tools/bench/results/sched-<commit>.json and adds a line to
# tools/bench/results/sched.md; --quick records nothing.
#
# --quick: a smoke run (one seed, two rates a workload, 40 s of model
# time a point, about two minutes): checks that every arm runs and says
# the same as pinned; one seed and short points: its figures are rough.
#
# Environment (model time unless said):
#   SCHED_TIME_SCALE       engine time scale (0.1)
#   SCHED_TIME_SCALE_AZURE ... of the azure workload (full 0.25, quick
#                          SCHED_TIME_SCALE)
#   SCHED_RATES_SQUAD, SCHED_RATES_AZURE   comma lists of offered rates
#   SCHED_SEEDS            comma list (full 1,2,3)
#   SCHED_ARMS             arms, space separated
#   SCHED_WORKLOADS        squad azure
#   SCHED_MIN_REQUESTS, SCHED_MIN_MODEL_S, SCHED_WARMUP_MODEL_S
#   SCHED_P99_MIN          completions a P99 needs (full 1000, quick 0)
#   SCHED_PREFIX_CACHE     prefixes an LM instance keeps (1)
#   SCHED_TRACE            the trace (tools/data/azure-llm-trace/
#                          AzureLLMInferenceTrace_conv.csv)
#   SCHED_TRACE_STRIDE_S   trace seconds between seeds' replays (600)
#   SCHED_TRACE_ROWS, SCHED_TRACE_WARMUP_ROWS
#                          the rows a trace point measures and the rows
#                          before them it drops (full 1000 and 100, quick
#                          100 and 20)
#   SCHED_LM_ARGS          extra options for every LM instance
#   SCHED_BUILD            build folder (build-bench; built if needed)
#   SCHED_OUT              output folder (results)
#   SCHED_NS               namespace and EAL prefix (sluice-sched)
#   SCHED_MBUFS            sluiced --mbufs (262143, as alto.sh)
#   SCHED_MAX_WAIT_MS      engines refuse work waiting this long (0: never,
#                          as ALTO's queues and alto.sh)
#   SCHED_NOTE             a line kept with the results (e.g. what a
#                          reduced run left out)

set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

die() {
	echo "sched: $*" >&2
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
	scale=${SCHED_TIME_SCALE:-0.1}
	scale_azure=${SCHED_TIME_SCALE_AZURE:-$scale}
	rates_squad=${SCHED_RATES_SQUAD:-12,32}
	rates_azure=${SCHED_RATES_AZURE:-3,9}
	seeds=${SCHED_SEEDS:-1}
	min_requests=${SCHED_MIN_REQUESTS:-1000}
	min_model_s=${SCHED_MIN_MODEL_S:-40}
	warmup_model_s=${SCHED_WARMUP_MODEL_S:-5}
	trace_rows=${SCHED_TRACE_ROWS:-100}
	trace_warmup=${SCHED_TRACE_WARMUP_ROWS:-20}
	p99_min=${SCHED_P99_MIN:-0}
else
	scale=${SCHED_TIME_SCALE:-0.1}
	# The trace's requests are 10x the fragments of a question (1,155
	# prompt tokens, 211 answer tokens, a fragment each): at 0.1 the
	# 2-CPU host drops fragments above 5 requests/s.
	scale_azure=${SCHED_TIME_SCALE_AZURE:-0.25}
	rates_squad=${SCHED_RATES_SQUAD:-4,8,12,16,20,24,28,32,36}
	rates_azure=${SCHED_RATES_AZURE:-1,1.5,2,2.5,3,4,6,8}
	seeds=${SCHED_SEEDS:-1,2,3}
	min_requests=${SCHED_MIN_REQUESTS:-2000}
	min_model_s=${SCHED_MIN_MODEL_S:-300}
	warmup_model_s=${SCHED_WARMUP_MODEL_S:-20}
	trace_rows=${SCHED_TRACE_ROWS:-1000}
	trace_warmup=${SCHED_TRACE_WARMUP_ROWS:-100}
	p99_min=${SCHED_P99_MIN:-1000}
fi
arms=${SCHED_ARMS:-pinned round_robin least_outstanding prompt_aware}
workloads=${SCHED_WORKLOADS:-squad azure}
prefix_cache=${SCHED_PREFIX_CACHE:-1}
trace=${SCHED_TRACE:-tools/data/azure-llm-trace/AzureLLMInferenceTrace_conv.csv}
trace_stride=${SCHED_TRACE_STRIDE_S:-600}
builddir=${SCHED_BUILD:-build-bench}
[[ $builddir = /* ]] || builddir=$root/$builddir
out=${SCHED_OUT:-results}
[[ $out = /* ]] || out=$root/$out
logs=$out/sched-logs
bench_results=$root/tools/bench/results

positive() {
	awk -v v="$1" 'BEGIN { exit !(v ~ /^[0-9]*\.?[0-9]+$/ && v + 0 > 0) }'
}
positive "$scale" || die "SCHED_TIME_SCALE must be a number > 0, got '$scale'"
positive "$scale_azure" || die "SCHED_TIME_SCALE_AZURE must be a number > 0, got '$scale_azure'"
for r in ${rates_squad//,/ } ${rates_azure//,/ }; do
	positive "$r" || die "SCHED_RATES_*: '$r' is not a rate > 0"
done
for s in ${seeds//,/ }; do
	[[ $s =~ ^[0-9]+$ && $s -ge 1 ]] || die "SCHED_SEEDS: '$s' is not a seed >= 1"
done
for v in min_requests min_model_s warmup_model_s p99_min prefix_cache trace_stride \
	trace_rows trace_warmup; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, got '${!v}'"
done
[[ $prefix_cache -ge 1 ]] || die "SCHED_PREFIX_CACHE: prefix caching is on in every arm (>= 1)"
for arm in $arms; do
	case $arm in
	pinned | round_robin | least_outstanding | prompt_aware) ;;
	*) die "SCHED_ARMS: unknown arm '$arm'" ;;
	esac
done
for w in $workloads; do
	case $w in
	squad | azure) ;;
	*) die "SCHED_WORKLOADS: unknown workload '$w'" ;;
	esac
done
[[ -r $trace ]] || die "no trace $trace"

# shellcheck source=tools/deps.sh
. tools/deps.sh || { echo "sched: cannot install the packages sluice needs" >&2; exit 1; }
# shellcheck source=tools/bench/common.sh
. tools/bench/common.sh
bench_build "$builddir" dataplane/sluiced tools/sluicegen tools/sluice-engine \
	tools/sluice-bridge tools/sluicectl || exit 1
commit=$(bench_commit dataplane proto control tools)

FC_BUILD=$builddir
FC_LOGS=$logs
FC_TAG=sched
FC_NS=${SCHED_NS:-sluice-sched}
FC_EAL_PREFIX=$FC_NS
FC_TIME_SCALE=$scale
FC_ENGINE_ARGS=${SCHED_ENGINE_ARGS:-}
# As alto.sh: ALTO's queues had no bound; a refusal after a bounded wait
# would cap the median under the target and hide the crossing.
FC_MAX_WAIT_MS=${SCHED_MAX_WAIT_MS:-0}
mbufs=${SCHED_MBUFS:-262143}
FC_SLUICED_ARGS="--mbufs $mbufs${FC_SLUICED_ARGS:+ $FC_SLUICED_ARGS}"
# shellcheck source=tools/bench/factcheck.sh
. tools/bench/factcheck.sh

lm_args="--prefix-cache $prefix_cache${SCHED_LM_ARGS:+ $SCHED_LM_ARGS}"
# What the pool's warm_prefixes models: the engines' cache (at most 4).
warm=$((prefix_cache < 4 ? prefix_cache : 4))

rm -rf "$logs" "$out/sched.json" "$out/sched.csv"
mkdir -p "$logs"
fc_init

# The pooled arms' files: the pool's policy and warm_prefixes set.
pool_config() { # WORKLOAD POLICY OUT
	local base=tools/pipelines/factcheck-pool7.yaml
	[[ $1 == azure ]] && base=tools/pipelines/factcheck-pool7-azure.yaml
	sed -e "s/^        policy: prompt_aware\$/        policy: $2/" \
		-e "s/^        warm_prefixes: 1\$/        warm_prefixes: $warm/" \
		"$base" >"$3"
	grep -q "^        policy: $2\$" "$3" || fc_die "$base: no pool policy line to set"
}
arm_config() { # WORKLOAD ARM: the file of the arm
	if [[ $2 == pinned ]]; then
		echo tools/pipelines/factcheck-pinned7.yaml
	else
		echo "$logs/factcheck-pool7-$1-$2.yaml"
	fi
}
# Every file compiled as sluiced compiles it (sluice-engine --config
# loads it with sluiced's loader) before any point runs.
for w in $workloads; do
	for arm in $arms; do
		[[ $arm == pinned ]] || pool_config "$w" "$arm" "$(arm_config "$w" "$arm")"
		"$FC_ENGINE" --role openai --upstream http://127.0.0.1:9/ \
			--config "$(arm_config "$w" "$arm")" --stage factcheck/answer \
			--listen 127.0.0.1:0 --duration 0.01 --quiet ||
			fc_die "$(arm_config "$w" "$arm") is refused (above)"
	done
done

# The engines of an arm: FC_INSTANCES, the LM ones single-role (pinned)
# or members of the pool serving all three LM stages.
engines_start() { # ARM
	local line name role ep eps=() member=0
	# shellcheck disable=SC2034 # read by fc_engine_start (factcheck.sh)
	FC_ARGS_answer=$lm_args
	# shellcheck disable=SC2034
	FC_ARGS_claims=$lm_args
	# shellcheck disable=SC2034
	FC_ARGS_queries=$lm_args
	for line in "${FC_INSTANCES[@]}"; do
		read -r name role ep <<<"$line"
		eps+=("$ep")
		if [[ $1 == pinned || ! $role =~ ^(answer|claims|queries)$ ]]; then
			fc_engine_start "$name" "$role" "$ep"
			continue
		fi
		# shellcheck disable=SC2086 # one word per option
		sl_engine_start "$FC_NS" "$FC_ENGINE" "$FC_LOGS" "lm/$member" "$ep" \
			--stage-roles 1:answer,2:claims,3:queries \
			--prefix-tokens "2:$FC_CLAIMS_PREFIX,3:$FC_QUERIES_PREFIX" \
			--time-scale "$FC_TIME_SCALE" --max-wait-ms "$FC_MAX_WAIT_MS" \
			$lm_args ${FC_ENGINE_ARGS:-}
		member=$((member + 1))
	done
	fc_engines_wait "${eps[@]}"
}

# Requests of a point at RATE: measured and warm-up (as alto.sh).
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

# point WORKLOAD ARM RATE SEED MEASURED WARMUP TAG: one point, its files
# in $logs/TAG/; a line in $logs/points.jsonl.
point() {
	local w=$1 arm=$2 rate=$3 seed=$4 measured=$5 warm=$6 tag=$7
	local dir=$logs/$tag drain_ms rc=0 t0=$SECONDS offered load=() scale=$scale
	[[ $w == azure ]] && scale=$scale_azure
	FC_TIME_SCALE=$scale
	mkdir -p "$dir"
	chown "$FC_SLUICED_USER" "$dir"
	# Stragglers: 40 s of model time after the last request, at least 3 s.
	drain_ms=$(awk -v s="$scale" 'BEGIN { d = 40000 * s; print (d < 3000 ? 3000 : int(d)) }')
	if [[ $w == squad ]]; then
		load=(--request-rate "$(awk -v r="$rate" -v s="$scale" 'BEGIN { printf "%.6g", r / s }')"
			--arrival poisson)
		offered=$rate
	else
		local start trace_rps
		start=$(((seed - 1) * trace_stride))
		trace_rps=$(python3 tools/bench/sched.py --trace-rate "$trace" \
			--trace-start "$start" --rows $((warm + measured)))
		load=(--trace "$trace" --trace-start "$start" --trace-speedup
			"$(awk -v r="$rate" -v s="$scale" -v t="$trace_rps" 'BEGIN { printf "%.6g", r / s / t }')")
		offered=$rate
	fi
	engines_start "$arm"
	fc_sluiced_start "$(arm_config "$w" "$arm")" "$dir/sluiced-stats.json" >/dev/null
	fc_gen "$dir/gen.json" "$dir/gen.err" "${load[@]}" \
		--requests $((warm + measured)) --drain-ms "$drain_ms" \
		--seed "$seed" --dump "$dir/dump" --times "$dir/times" --json || rc=$?
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
	jq -cn --arg w "$w" --arg arm "$arm" --argjson rate "$rate" \
		--argjson seed "$seed" --argjson scale "$scale" \
		--argjson warmup "$warm" --argjson measured "$measured" \
		--argjson offered "$offered" --arg dir "$tag" \
		'{workload: $w, arm: $arm, rate: $rate, seed: $seed, scale: $scale,
		  warmup: $warmup, measured: $measured, offered: $offered,
		  dir: $dir}' >>"$logs/points.jsonl"
	jq -r --arg t "$tag" --argjson s "$scale" --arg secs "$((SECONDS - t0))" \
		'"  \($t): \(.completed)/\(.requests) done, \(.aborted) aborted, \(.lost) unfinished; p50 \(.p50_us / 1000 / $s | round) ms model (warm-up included) [\($secs) s]"' \
		"$dir/gen.json"
}

n_arms=$(wc -w <<<"$arms")
fc_say "time scale $scale (azure $scale_azure); arms: $arms; workloads: $workloads; rates squad" \
	"$rates_squad, azure $rates_azure model req/s; seeds $seeds; prefix cache" \
	"$prefix_cache; >= $min_requests requests or $min_model_s s a point," \
	"warm-up $warmup_model_s s"
start_s=$SECONDS
k=0
for w in $workloads; do
	rates=$rates_squad
	[[ $w == azure ]] && rates=$rates_azure
	for seed in ${seeds//,/ }; do
		for rate in ${rates//,/ }; do
			m=$(measured_at "$rate")
			wu=$(warmup_at "$rate")
			# A trace replays the same rows at every rate, faster or
			# slower: the rate is the only thing that changes.
			if [[ $w == azure ]]; then
				m=$trace_rows
				wu=$trace_warmup
			fi
			# The arms in a rotated order: no arm always runs first.
			read -ra order <<<"$arms"
			for ((i = 0; i < n_arms; i++)); do
				arm=${order[$(((i + k) % n_arms))]}
				point "$w" "$arm" "$rate" "$seed" "$m" "$wu" \
					"$w-$arm-r$rate-s$seed"
			done
			k=$((k + 1))
		done
	done
done
elapsed=$((SECONDS - start_s))

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
python3 tools/bench/sched.py --logs "$logs" --out "$out" \
	--commit "$commit" --machine "${cpu:-unknown cpu}, $(nproc) cores" \
	--elapsed "$elapsed" --p99-min "$p99_min" --quick "$quick" \
	--engine-readme tools/engine/README.md --prefix-cache "$prefix_cache" \
	--lm-args="${SCHED_LM_ARGS:-}" --trace "$trace" \
	--trace-stride "$trace_stride" --claims-prefix "$FC_CLAIMS_PREFIX" \
	--queries-prefix "$FC_QUERIES_PREFIX" --max-wait-ms "$FC_MAX_WAIT_MS" \
	--pool-config "squad=tools/pipelines/factcheck-pool7.yaml" \
	--pool-config "azure=tools/pipelines/factcheck-pool7-azure.yaml" \
	--note "${SCHED_NOTE:-}"

if [[ $quick -eq 0 ]]; then
	mkdir -p "$bench_results"
	name=sched-$commit
	[[ $prefix_cache -ne 1 ]] && name+=-prefix-cache-$prefix_cache
	cp "$out/sched.json" "$bench_results/$name.json"
	python3 tools/bench/sched.py --record "$out/sched.json" \
		--md "$bench_results/sched.md" --file "$name.json"
	echo "recorded: $bench_results/$name.json, a line in $bench_results/sched.md"
fi
echo "results: $out/sched.json $out/sched.csv (logs in $logs/)"
