#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# factcheck-run.sh - the fact-checking demo job: ALTO's pipeline
# (tools/pipelines/factcheck.yaml: answer 2, claims 2, queries 3, bm25 4,
# encoder 1, rerank 4 engine instances, an inline concat back to the
# client) through sluiced for about 20 s of Poisson questions, then a
# readable report.
#
#   tools/bench/factcheck-run.sh [BUILD_DIR]       (default: build)
#
# Does not build: the caller (tools/demo.sh) builds first. Writes
# results/demo.json (sluicegen's pipeline-mode JSON with sluiced's final
# stats under "sluiced", the engines' under "engines" and the live
# reconfiguration under "reconfig"), results/sluiced-stats.json,
# results/stats.json (`sluicectl stats --json`), results/metrics.txt (a
# scrape of the metrics endpoint, checked with promtool when present),
# results/engine-*.json and results/logs/.
#
# Mid-run the job steers the running sluiced through its control API: a
# third of the way in it starts a fifth bm25 engine and adds it
# (sluicectl add), two thirds in it drains bm25/0 (sluicectl drain).
# Neither may cost a question: lost must stay 0.
# Exit status 1 when a result was lost, duplicated or misordered (or
# sluicegen wrote no report); aborted requests are reported, not fatal.
#
# Environment: FC_RATE (questions/s, default 4), FC_DURATION (s, default
# 20), FC_TIME_SCALE (engine time scale, default 0.25: a question takes
# about a quarter of ALTO's seconds), FC_SEED (default 1), FC_CONFIG
# (default tools/pipelines/factcheck.yaml), FC_RESULTS (default results),
# FC_ENGINE_ARGS, FC_LM_BRIDGE=1
# (the answer, claims and queries instances as sluice-bridge processes in
# front of the emulator's HTTP side: the same answers over real HTTP),
# FC_ASK (a question: after the load, an application asks it through
# sluice-gateway with the official npm `openai` client, streaming; the
# answer is printed and kept in results/ask.json), FC_GPU (host, cuda or
# auto: the answer stage's two instances are local GPU engines, `gpu:
# true`: sluiced --gpu FC_GPU delivers their input streams into its token
# rings and the engines read them there, sluice-engine --gpu-attach; the
# report then shows the rings' counters and fails unless every question's
# input went through a ring and none was lost).

set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

FC_BUILD=${1:-${FC_BUILD:-build}}
FC_TAG=factcheck
FC_NS=${FC_NS:-sluice-demo}
FC_EAL_PREFIX=${FC_EAL_PREFIX:-sluice-demo}
FC_TIME_SCALE=${FC_TIME_SCALE:-0.25}
results=${FC_RESULTS:-results}
FC_LOGS=$results/logs
rate=${FC_RATE:-4}
duration=${FC_DURATION:-20}
seed=${FC_SEED:-1}
config=${FC_CONFIG:-tools/pipelines/factcheck.yaml}
# A request takes seconds of model time; give stragglers 30 of them.
drain_ms=$(awk -v s="$FC_TIME_SCALE" 'BEGIN { d = 30000 * s; print (d < 5000 ? 5000 : int(d)) }')

# shellcheck source=tools/bench/factcheck.sh
. tools/bench/factcheck.sh

# Only what this job writes is replaced; results/ may hold other reports.
rm -rf "$FC_LOGS" "$results/demo.json" "$results/sluiced-stats.json" \
	"$results/ask.json" "$results/stats.json" "$results/metrics.txt" "$results"/engine-*.json
mkdir -p "$FC_LOGS"
case $FC_LOGS in
/*) FC_CONTROL=$FC_LOGS/sluiced.sock ;;
*) FC_CONTROL=$root/$FC_LOGS/sluiced.sock ;;
esac
FC_METRICS_PORT=${FC_METRICS_PORT:-9464}
gpu=${FC_GPU:-off}
if [[ $gpu != off ]]; then
	[[ ${FC_LM_BRIDGE:-0} != 1 ]] ||
		{ echo "$FC_TAG: FC_GPU needs the emulator's own answer instances (not FC_LM_BRIDGE=1)" >&2; exit 2; }
	# The answer stage behind gpu_tx: its instances marked gpu: true in a
	# copy of the file, sluiced with token rings, its engines attached.
	gpu_dir=/dev/shm/sluice-gpu-$FC_TAG
	gpu_config=$FC_LOGS/$(basename "$config" .yaml)-gpu.yaml
	sed 's|instances: \[10.77.0.11:7801, 10.77.0.12:7801\]|instances: [{address: "10.77.0.11:7801", gpu: true}, {address: "10.77.0.12:7801", gpu: true}]|' \
		"$config" >"$gpu_config"
	grep -q 'gpu: true' "$gpu_config" ||
		fc_die "$config: the answer stage's instances are not 10.77.0.11:7801, 10.77.0.12:7801"
	config=$gpu_config
	FC_SLUICED_ARGS="${FC_SLUICED_ARGS:-} --gpu $gpu --gpu-dir $gpu_dir"
	FC_ARGS_answer="${FC_ARGS_answer:-} --gpu-attach $gpu_dir"
fi
fc_init
fc_engines_start
stats=$results/sluiced-stats.json
fc_sluiced_start "$config" "$stats"
ctl() {
	"$FC_SLUICECTL" --socket "$FC_CONTROL" "$@"
}

fc_say "sluicegen: Poisson questions at $rate/s for $duration s (seed $seed) ..."
gen_rc=0
fc_gen "$FC_LOGS/sluicegen.json" "$FC_LOGS/sluicegen.err" \
	--request-rate "$rate" --arrival poisson --duration "$duration" \
	--drain-ms "$drain_ms" --seed "$seed" --dump "$FC_LOGS/results.tsv" \
	--json --quiet &
gen_pid=$!

# Live reconfiguration while questions flow.
added=bm25/4
added_ep=$FC_PREFIX.18:7803
drained=bm25/0
sleep "$(awk -v d="$duration" 'BEGIN { print d / 3 }')"
fc_engine_start "$added" bm25 "$added_ep"
sleep 0.3
ctl add --pipeline factcheck --stage bm25 --name "$added" --address "$added_ep" |
	sed "s/^/$FC_TAG: sluicectl: /"
sleep "$(awk -v d="$duration" 'BEGIN { print d / 3 }')"
ctl drain --pipeline factcheck --stage bm25 --name "$drained" |
	sed "s/^/$FC_TAG: sluicectl: /"
wait "$gen_pid" || gen_rc=$?
ask_rc=skipped
if [[ -n ${FC_ASK:-} ]]; then
	fc_say "an application asks through sluice-gateway (npm openai, streaming): $FC_ASK"
	ask_rc=0
	fc_ask "$FC_ASK" "$results/ask.json" || ask_rc=$?
fi
ctl instances --stage bm25 >"$FC_LOGS/instances-bm25.txt"
ctl stats --json >"$results/stats.json"
curl -sf "http://127.0.0.1:$FC_METRICS_PORT/metrics" >"$results/metrics.txt" ||
	fc_die "cannot scrape 127.0.0.1:$FC_METRICS_PORT/metrics"
promtool_rc=skipped
if command -v promtool >/dev/null; then
	promtool_rc=0
	promtool check metrics <"$results/metrics.txt" >"$FC_LOGS/promtool.txt" 2>&1 ||
		promtool_rc=$?
fi
generation=$(jq -r '.generation' "$results/stats.json")
jq -e 'type == "object"' "$FC_LOGS/sluicegen.json" >/dev/null 2>&1 || {
	cat "$FC_LOGS/sluicegen.err" >&2
	fc_die "sluicegen exited $gen_rc without its JSON report"
}

rc=0
fc_sluiced_stop || rc=$?
[[ $rc -eq 0 ]] || fc_say "warning: sluiced exited $rc on SIGTERM"
fc_engines_stop
# The engines' stats go next to the demo's, as tools/demo.sh keeps them.
cp "$FC_LOGS"/engine-*.json "$results/" 2>/dev/null || true
[[ -s $stats ]] || fc_die "sluiced wrote no $stats"
fc_engine_stats "$FC_LOGS/engines.json"
demo=$results/demo.json
jq --slurpfile s "$stats" --slurpfile e "$FC_LOGS/engines.json" \
	--arg scale "$FC_TIME_SCALE" --arg added "$added" --arg drained "$drained" \
	--arg gen "$generation" --arg prom "$promtool_rc" \
	'. + {time_scale: ($scale | tonumber), sluiced: $s[0], engines: $e[0],
	      reconfig: {added: $added, drained: $drained,
	                 generation: ($gen | tonumber), promtool: $prom}}' \
	"$FC_LOGS/sluicegen.json" >"$demo"

field() {
	jq -r "$1" "$demo"
}
ms() {
	jq -r "($1) / 1000 | . * 10 | round / 10" "$demo"
}
echo
echo "sluice fact-check: $(field '.duration_s') s, Poisson $(field '.offered_rps') questions/s, engine time scale $FC_TIME_SCALE"
echo "---------------------------------------------------------------"
printf '%-26s %14s\n' questions "$(field '.requests')" \
	completed "$(field '.completed')" \
	aborted "$(field '.aborted')$(field '.aborted_by_reason | to_entries | map(" \(.key)=\(.value)") | join("")')" \
	lost "$(field '.lost')" \
	"duplicated fragments" "$(field '.duplicated')" \
	"misordered fragments" "$(field '.misordered')" \
	"achieved questions/s" "$(field '.achieved_rps')" \
	"latency p50 (ms)" "$(ms .p50_us)" \
	"latency p90 (ms)" "$(ms .p90_us)" \
	"latency p99 (ms)" "$(ms .p99_us)" \
	"latency max (ms)" "$(ms .max_us)" \
	"first result frag p50 (ms)" "$(ms .first_p50_us)" \
	"result bytes" "$(field '.result_bytes')" \
	"fragments out / back" "$(field '.fragments') / $(field '.fragments_received')"
echo "---------------------------------------------------------------"
echo "sluiced: rx $(field '.sluiced.rx_packets // "?"') tx $(field '.sluiced.tx_packets // "?"') forwarded $(field '.sluiced.forwarded // "?"')"
drops=$(field '(.sluiced.drops // {}) | to_entries | map(select(.value > 0) |
	"\(.key)=\(.value)") | join(" ")')
echo "drops: ${drops:-none} (total $(field '.sluiced.drops_total // "?"'))"
if [[ $gpu != off ]]; then
	echo "gpu ($gpu): answer's input through token rings: $(field '.sluiced.gpu_streams') streams, $(field '.sluiced.gpu_fragments') fragments, $(field '.sluiced.gpu_aborts') ABORT records; engines took $(field '[.engines[] | .gpu_streams_taken // 0] | add') streams ($(field '[.engines[] | .gpu_tokens_in // 0] | add') tokens)"
fi
printf '  %-10s %10s %10s %10s %10s\n' engine "streams in" "served" "frags out" aborts
jq -r '.engines[] | "\(.name) \(.streams // 0) \(.requests_served // .streams_completed // 0) \(.fragments_out // 0) \((.overload_aborts // 0) + (.incomplete // 0) + (.expired // 0))"' "$demo" |
	while read -r name streams served frags aborts; do
		printf '  %-10s %10s %10s %10s %10s\n' "$name" "$streams" "$served" "$frags" "$aborts"
	done
echo "reconfiguration: added $added ($added_ep), drained $drained; config generation $generation"
sed 's/^/  /' "$FC_LOGS/instances-bm25.txt"
echo "metrics: $results/metrics.txt ($(grep -vc '^#' "$results/metrics.txt") samples), promtool check metrics: $promtool_rc"
echo "results: $demo $stats $results/stats.json $results/engine-*.json; answers in $FC_LOGS/results.tsv"
if [[ $ask_rc != skipped ]]; then
	echo "application (npm openai through sluice-gateway): $FC_ASK"
	if [[ $ask_rc == 0 ]]; then
		jq -r '"  \(.chunks) chunks in \(.ms) ms, finish_reason \(.finish_reason)\n  answer: \(.answer)"' \
			"$results/ask.json"
	else
		echo "  failed ($ask_rc): $(cat "$results/ask.json" "$FC_LOGS/ask.err" 2>/dev/null | head -c 400)"
	fi
fi
[[ $promtool_rc == 0 || $promtool_rc == skipped ]] ||
	fc_die "promtool check metrics failed: $(head -3 "$FC_LOGS/promtool.txt")"

damage=$(field '.lost + .duplicated + .misordered')
if [[ $gpu != off ]]; then
	# Every question's input went through a ring (the gateway's question
	# too), and the engines took each.
	asked=$(field '.requests')
	[[ $ask_rc == skipped ]] || asked=$((asked + 1))
	if [[ $(field '.sluiced.gpu_streams') -ne $asked ||
		$(field '[.engines[] | .gpu_streams_taken // 0] | add') -ne $(field '.sluiced.gpu_streams') ]]; then
		echo "factcheck: FAILED: not every question's input went through a token ring" >&2
		exit 1
	fi
fi
if [[ $damage -ne 0 ]]; then
	echo "factcheck: FAILED: lost, duplicated or misordered results" >&2
	exit 1
fi
if [[ $ask_rc != skipped && $ask_rc != 0 ]]; then
	echo "factcheck: FAILED: the application's question through the gateway" >&2
	exit 1
fi
echo "factcheck: OK"
