#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tofu.sh - guardrail baselines for unlearning (Thaker et al. 2024) on the
# TOFU benchmark, with real Llama-2-7B answers streamed token by token
# through sluiced.
#
#   tools/bench/tofu.sh --data DIR --model NAME --gold GOLD
#                       [--guards none,output,input_output] [--build DIR]
#                       [--seed S] [--rate REQ_PER_S] [--time-scale F]
#                       [--chunk-min BYTES] [--chunk-max BYTES]
#
#   e.g. tools/bench/tofu.sh --data tools/data/tofu --model llama2-7b-full \
#            --gold llama2-7b-retain90
#
# On the tools/netns.sh topology (tools/bench/factcheck.sh's helpers) it
# runs, per configuration C of --guards, sluiced with
# tools/pipelines/tofu-C.yaml: client -> `answer` (two sluice-engine
# --role replay instances) -> client. The engines replay
# DIR/NAME.forget.jsonl, then (restarted) DIR/NAME.retain.jsonl: each
# question's recorded `generated` answer, cut into tokens of
# --chunk-min..--chunk-max bytes seeded by --seed. sluicegen --mode
# pipeline --questions asks all questions of the set (file order,
# constant arrivals at --rate) and --dump keeps what the client received.
# Then once more, unguarded (tofu-none.yaml), with the GOLD model's
# answers: configuration "gold".
#
# Scores per configuration (tools/bench/rouge.py score): forget_rougeL and
# retain_rougeL, the mean ROUGE-L recall of the received text against
# `truth` (blocked, aborted or lost answers count 0); forget_block_rate and
# retain_block_rate, the fraction of questions answered by ABORT GUARD or
# by a refusal. A configuration whose pipeline file sluiced refuses (the
# guard configurations, until the dataplane's guard exists) is reported
# as {"error": "not available: <sluiced's error line>"}; none and gold
# are still measured.
#
# Writes results/tofu.json ({"none": M, "output": M, "input_output": M,
# "gold": M}), copies it to tools/bench/results/tofu-<commit>.json and
# appends a line to tools/bench/results/tofu.md. Logs, dumps and per-set
# scores: results/tofu-logs/. Everything it started is stopped and the
# namespace removed on exit. Run as root from any directory.
#
# Defaults: --guards none,output,input_output, --build build-bench (a
# release build, made if missing, as tools/bench/alto.sh), --seed 1,
# --rate 40 (requests/s of real time), --time-scale 0.1 (engines' LM
# timing: tools/engine/README.md, in model time), --chunk-min 1,
# --chunk-max 12.

set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

usage() {
	sed -n '8,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

data='' model='' gold='' guards=none,output,input_output builddir=build-bench
seed=1 rate=40 scale=0.1 chunk_min=1 chunk_max=12
while [[ $# -gt 0 ]]; do
	[[ $# -ge 2 ]] || usage
	case $1 in
	--data) data=$2 ;;
	--model) model=$2 ;;
	--gold) gold=$2 ;;
	--guards) guards=$2 ;;
	--build) builddir=$2 ;;
	--seed) seed=$2 ;;
	--rate) rate=$2 ;;
	--time-scale) scale=$2 ;;
	--chunk-min) chunk_min=$2 ;;
	--chunk-max) chunk_max=$2 ;;
	*) usage ;;
	esac
	shift 2
done
[[ -n $data && -n $model && -n $gold ]] || usage
[[ $data = /* ]] || data=$root/$data
[[ $builddir = /* ]] || builddir=$root/$builddir
for m in "$model" "$gold"; do
	for set in forget retain; do
		[[ -r $data/$m.$set.jsonl ]] ||
			{ echo "tofu: no $data/$m.$set.jsonl" >&2; exit 2; }
	done
done
IFS=, read -r -a configs <<<"$guards"
for c in "${configs[@]}"; do
	[[ $c =~ ^[A-Za-z0-9_]+$ && $c != gold ]] ||
		{ echo "tofu: bad configuration '$c' in --guards" >&2; exit 2; }
done
[[ $seed =~ ^[0-9]+$ ]] || { echo "tofu: bad --seed '$seed'" >&2; exit 2; }
awk -v r="$rate" -v s="$scale" 'BEGIN { exit !(r > 0 && s > 0) }' ||
	{ echo "tofu: --rate and --time-scale must be > 0" >&2; exit 2; }

results=results
logs=$results/tofu-logs
bench_results=tools/bench/results
# Stragglers: a long answer at the tail of the run, in real time.
drain_ms=$(awk -v s="$scale" 'BEGIN { d = 60000 * s; print (d < 5000 ? 5000 : int(d)) }')

# shellcheck source=tools/bench/common.sh
. tools/bench/common.sh
bench_build "$builddir" dataplane/sluiced tools/sluicegen tools/sluice-engine tools/sluice-bridge \
	tools/sluicectl || exit 1
commit=$(bench_commit dataplane proto control tools)

FC_BUILD=$builddir
FC_LOGS=$logs
FC_TAG=tofu
FC_NS=sluice-tofu
FC_EAL_PREFIX=sluice-tofu
FC_TIME_SCALE=$scale
# shellcheck source=tools/bench/factcheck.sh
. tools/bench/factcheck.sh
# tofu-*.yaml: one answer stage of two replay engines (fc_check_config).
FC_INSTANCES=(
	"answer/0 replay $FC_PREFIX.11:7801"
	"answer/1 replay $FC_PREFIX.12:7801"
)

rm -rf "$logs" "$results/tofu.json"
mkdir -p "$logs" "$bench_results"
fc_init

# tofu_engines_start FILE.jsonl TAG: the replay instances of FC_INSTANCES.
tofu_engines_start() {
	local file=$1 tag=$2 line name role ep eps=()
	for line in "${FC_INSTANCES[@]}"; do
		read -r name role ep <<<"$line"
		# The engine is named by its instance; its files by the run too.
		sl_engine_start "$FC_NS" "$FC_ENGINE" "$FC_LOGS" "$tag/$name" \
			"$ep" --role replay --data "$file" --seed "$seed" \
			--chunk-min "$chunk_min" --chunk-max "$chunk_max" \
			--time-scale "$FC_TIME_SCALE"
		eps+=("$ep")
	done
	fc_engines_wait "${eps[@]}"
}

# tofu_sluiced_start CONFIG TAG: sluiced with CONFIG, up to its ready
# line. Return 1 with sluiced's first error line in tofu_error when it
# exits before it is ready (a pipeline file it refuses).
tofu_sluiced_start() {
	local config=$1 tag=$2 rc=0
	tofu_error=
	fc_check_config "$config"
	# The guard files are named from the repository root (the config
	# directory); a run starts from its file, with no saved state.
	sl_sluiced_start "$FC_SLUICED" "$FC_LOGS/sluiced-$tag.log" \
		"$FC_LOGS/sluiced-$tag.err" 30 --config "$config" \
		--iface "$FC_HOST_IF" --stats-file "$FC_LOGS/sluiced-$tag-stats.json" \
		--stats-interval-ms 1000 --control none --config-dir . \
		--state-dir none --user "$FC_SLUICED_USER" \
		-- --file-prefix "$FC_EAL_PREFIX" || rc=$?
	if [[ $rc -eq 1 ]]; then
		tofu_error=$(grep -m1 '^sluiced: ' "$FC_LOGS/sluiced-$tag.err" || true)
		[[ -n $tofu_error ]] ||
			tofu_error=$(grep -m1 . "$FC_LOGS/sluiced-$tag.err" || echo "sluiced exited $SL_SLUICED_RC")
		return 1
	fi
	[[ $rc -eq 0 ]] || fc_die "sluiced printed no ready line within 30 s ($config)"
	fc_say "${SL_READY_LINE#sluiced: } ($(basename "$config"))"
}

# tofu_questions DATA OUT: the {id, question} of every record, in order.
tofu_questions() {
	python3 - "$1" "$2" <<'EOF'
import json, sys
with open(sys.argv[1], encoding="utf-8") as f, \
        open(sys.argv[2], "w", encoding="utf-8") as out:
    for line in f:
        if line.strip():
            r = json.loads(line)
            out.write(json.dumps({"id": r["id"], "question": r["question"]},
                                 ensure_ascii=False) + "\n")
EOF
}

# tofu_run CONFIG MODEL: one configuration, both sets; its scores go to
# $logs/score-CONFIG-SET.json, or its refusal to $logs/error-CONFIG.txt.
tofu_run() {
	local config=$1 m=$2 yaml set file rc tag
	yaml=tools/pipelines/tofu-$config.yaml
	[[ $config == gold ]] && yaml=tools/pipelines/tofu-none.yaml
	if [[ ! -f $yaml ]]; then
		echo "not available: no pipeline file $yaml" >"$logs/error-$config.txt"
		fc_say "$config: not available (no $yaml)"
		return 0
	fi
	for set in forget retain; do
		file=$data/$m.$set.jsonl
		tag=$config-$set
		tofu_engines_start "$file" "$tag"
		if [[ $set == forget ]] && ! tofu_sluiced_start "$yaml" "$config"; then
			echo "not available: $tofu_error" >"$logs/error-$config.txt"
			fc_say "$config: not available: $tofu_error"
			fc_engines_stop
			return 0
		fi
		tofu_questions "$file" "$logs/questions-$tag.jsonl"
		rc=0
		fc_gen "$logs/gen-$tag.json" "$logs/gen-$tag.err" \
			--questions "$logs/questions-$tag.jsonl" \
			--request-rate "$rate" --arrival constant \
			--drain-ms "$drain_ms" --seed "$seed" \
			--dump "$logs/dump-$tag.txt" --json || rc=$?
		fc_engines_stop
		jq -e '.requests > 0' "$logs/gen-$tag.json" >/dev/null 2>&1 || {
			cat "$logs/gen-$tag.err" >&2
			fc_die "sluicegen ($tag) exited $rc without its report"
		}
		python3 tools/bench/rouge.py score --data "$file" \
			--dump "$logs/dump-$tag.txt" >"$logs/score-$tag.json"
		jq -r --arg t "$tag" --arg m "$m" '"  \($t) (\($m)): ROUGE-L recall \(.rougeL_recall) block rate \(.block_rate) ok \(.ok)/\(.questions) guard \(.blocked_guard) refusals \(.refusals) other aborts \(.aborted_other) lost \(.lost)"' \
			"$logs/score-$tag.json"
	done
	rc=0
	fc_sluiced_stop || rc=$?
	[[ $rc -eq 0 ]] || fc_say "warning: sluiced exited $rc on SIGTERM"
}

fc_say "data $data, model $model, gold $gold; configurations ${configs[*]} + gold;" \
	"$rate req/s, time scale $scale, seed $seed, tokens $chunk_min..$chunk_max bytes"
start_s=$SECONDS
for c in "${configs[@]}"; do
	tofu_run "$c" "$model"
done
tofu_run gold "$gold"
elapsed=$((SECONDS - start_s))

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
machine="${cpu:-unknown cpu}, $(nproc) cores"
python3 - "$logs" "$results" "$bench_results" "$commit" "$machine" "$model" \
	"$gold" "$scale" "$rate" "$seed" "$chunk_min" "$chunk_max" "$elapsed" \
	"${configs[@]}" <<'EOF'
import datetime, json, os, sys
(logs, results, bench, commit, machine, model, gold, scale, rate, seed,
 cmin, cmax, elapsed) = sys.argv[1:14]
configs = sys.argv[14:] + ["gold"]

out = {}
for c in configs:
    err = os.path.join(logs, "error-%s.txt" % c)
    if os.path.exists(err):
        out[c] = {"error": open(err).read().strip()}
        continue
    m = {"model": gold if c == "gold" else model,
         "pipeline": "tools/pipelines/tofu-%s.yaml" %
                     ("none" if c == "gold" else c)}
    for s in ("forget", "retain"):
        sc = json.load(open(os.path.join(logs, "score-%s-%s.json" % (c, s))))
        gen = json.load(open(os.path.join(logs, "gen-%s-%s.json" % (c, s))))
        m[s + "_rougeL"] = sc["rougeL_recall"]
        m[s + "_block_rate"] = sc["block_rate"]
        sc["p50_ms"] = round(gen["p50_us"] / 1000, 3)
        sc["p99_ms"] = round(gen["p99_us"] / 1000, 3)
        sc["first_p50_ms"] = round(gen["first_p50_us"] / 1000, 3)
        m[s] = sc
    out[c] = m
# The keys in the order of the report: configurations, then gold.
path = os.path.join(results, "tofu.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
with open(os.path.join(bench, "tofu-%s.json" % commit), "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")

md = os.path.join(bench, "tofu.md")
if not os.path.exists(md):
    with open(md, "w") as f:
        f.write(
            "# TOFU guardrail-baseline log\n\n"
            "Written by tools/bench/tofu.sh; one line per run (see "
            "tools/bench/README.md, TOFU section). Per configuration: "
            "forget ROUGE-L / retain ROUGE-L / forget block rate / retain "
            "block rate (ROUGE-L: mean recall against `truth`, 300 "
            "questions a set); n/a: sluiced refused the pipeline file.\n\n"
            "| date | commit | machine | model | gold | none | output | "
            "input_output | gold | seed | time scale | run s |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|\n")


def cell(c):
    m = out.get(c)
    if m is None:
        return "-"
    if "error" in m:
        return "n/a"
    return "%.4f / %.4f / %.3f / %.3f" % (
        m["forget_rougeL"], m["retain_rougeL"], m["forget_block_rate"],
        m["retain_block_rate"])


now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
with open(md, "a") as f:
    f.write("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n" % (
        now, commit, machine, model, gold, cell("none"), cell("output"),
        cell("input_output"), cell("gold"), seed, scale, elapsed))
for c in configs:
    m = out[c]
    if "error" in m:
        print("tofu: %-12s %s" % (c, m["error"]))
    else:
        print("tofu: %-12s forget ROUGE-L %.4f retain ROUGE-L %.4f "
              "forget block %.3f retain block %.3f (%s)" % (
                  c, m["forget_rougeL"], m["retain_rougeL"],
                  m["forget_block_rate"], m["retain_block_rate"], m["model"]))
EOF
echo "results: $results/tofu.json, $bench_results/tofu-$commit.json," \
	"a line in $bench_results/tofu.md; logs in $logs/"
