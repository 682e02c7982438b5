#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# alto.sh - ALTO's headline experiment (EuroMLSys '24, Fig. 3) on sluice:
# the fact-checking pipeline with streaming edges against the same
# pipeline with every edge buffered, under Poisson load.
#
#   tools/bench/alto.sh
#
# On the tools/netns.sh topology it starts the 16 engine emulators
# (sluice-engine --role answer|claims|queries|bm25|encoder|rerank, ALTO's
# instance counts) with one time scale, sluiced with
# tools/pipelines/factcheck.yaml, and runs `sluicegen --mode pipeline
# --sweep` over increasing Poisson rates; then restarts engines and
# sluiced with tools/pipelines/factcheck-buffered.yaml and sweeps the same
# rates with the same seed. As in the paper: achieved load = requests
# completed / (last completion - first send); a point counts only where
# achieved >= 80% of offered; the latency target is 4 s of model time,
# i.e. 4000 ms x ALTO_TIME_SCALE.
#
# Writes results/alto.csv (mode,offered_rps,achieved_rps,completed,aborted,
# lost,p50_ms,p99_ms), results/alto.png (median and P99 latency against
# achieved load, both modes, target line), results/alto.json (summary:
# highest achieved load under the target per mode and their ratio, P99
# ratio at the lowest rate, whether both modes gave byte-identical final
# results at the lowest rate), copies alto.json to
# tools/bench/results/alto-<commit>.json and appends a line to
# tools/bench/results/alto.md. Logs: results/alto-logs/. Everything it
# started is stopped and the namespace removed on exit.
#
# Environment:
#   ALTO_TIME_SCALE  engine time scale (default 0.25: a request takes a
#                    quarter of the model's seconds, the sweep ~10 min)
#   ALTO_RATES       comma list of offered rates in requests/s of model
#                    time (default 1,2,3,3.5,4,4.5,5,6: divided by the time
#                    scale to give real rates)
#   ALTO_DURATION    seconds of arrivals per rate (default 20)
#   ALTO_DRAIN_MS    wait for stragglers after the last question (default
#                    40 s of model time, at least 3 s: longer than an
#                    admitted request can take with every engine's queue
#                    bounded by FC_MAX_WAIT_MS, tools/bench/factcheck.sh)
#   ALTO_SEED        sluicegen's seed (default 1)
#   ALTO_BUILD       build folder (default build-bench; built if needed)
#   ALTO_ENGINE_ARGS extra options for every sluice-engine
#   ALTO_MODES       "streaming buffered" (default) or one of them

set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

scale=${ALTO_TIME_SCALE:-0.25}
model_rates=${ALTO_RATES:-1,2,3,3.5,4,4.5,5,6}
duration=${ALTO_DURATION:-20}
seed=${ALTO_SEED:-1}
modes=${ALTO_MODES:-streaming buffered}
builddir=${ALTO_BUILD:-build-bench}
[[ $builddir = /* ]] || builddir=$root/$builddir
results=results
logs=$results/alto-logs
bench_results=tools/bench/results

awk -v s="$scale" 'BEGIN { exit !(s > 0) }' ||
	{ echo "alto: ALTO_TIME_SCALE must be > 0, got '$scale'" >&2; exit 2; }
target_ms=$(awk -v s="$scale" 'BEGIN { printf "%g", 4000 * s }')
drain_ms=${ALTO_DRAIN_MS:-$(awk -v s="$scale" 'BEGIN { d = 40000 * s; print (d < 3000 ? 3000 : int(d)) }')}
# Real rates: model rates / time scale.
rates=$(awk -v list="$model_rates" -v s="$scale" 'BEGIN {
	n = split(list, r, ",")
	for (i = 1; i <= n; i++)
		printf "%s%g", (i > 1 ? "," : ""), r[i] / s
}')

# shellcheck source=tools/deps.sh
. tools/deps.sh || { echo "alto: cannot install the packages sluice needs" >&2; exit 1; }

# shellcheck source=tools/bench/common.sh
. tools/bench/common.sh
bench_build "$builddir" dataplane/sluiced tools/sluicegen tools/sluice-engine \
	tools/sluicectl || exit 1
commit=$(bench_commit dataplane proto control tools)

FC_BUILD=$builddir
FC_LOGS=$logs
FC_TAG=alto
FC_NS=sluice-alto
FC_EAL_PREFIX=sluice-alto
FC_TIME_SCALE=$scale
FC_ENGINE_ARGS=${ALTO_ENGINE_ARGS:-}
# shellcheck source=tools/bench/factcheck.sh
. tools/bench/factcheck.sh

rm -rf "$logs" "$results/alto.csv" "$results/alto.png" "$results/alto.json"
mkdir -p "$logs" "$bench_results"
fc_init

fc_say "time scale $scale: target $target_ms ms; rates $rates req/s" \
	"($model_rates in model time), $duration s each, drain $drain_ms ms"
start_s=$SECONDS
for mode in $modes; do
	case $mode in
	streaming) config=tools/pipelines/factcheck.yaml ;;
	buffered) config=tools/pipelines/factcheck-buffered.yaml ;;
	*) fc_die "unknown mode '$mode' in ALTO_MODES" ;;
	esac
	# Fresh engines and sluiced per mode: no queue or flow carries over.
	fc_engines_start
	fc_sluiced_start "$config" "$logs/sluiced-$mode-stats.json"
	fc_say "$mode: sweeping $rates req/s ..."
	gen_rc=0
	fc_gen "$logs/sweep-$mode.json" "$logs/sweep-$mode.err" \
		--sweep "$rates" --sweep-duration "$duration" \
		--sweep-pause-ms 2000 --arrival poisson --drain-ms "$drain_ms" \
		--seed "$seed" --dump "$logs/dump-$mode" --json || gen_rc=$?
	jq -e '.sweep | length > 0' "$logs/sweep-$mode.json" >/dev/null 2>&1 || {
		cat "$logs/sweep-$mode.err" >&2
		fc_die "sluicegen ($mode) exited $gen_rc without its sweep report"
	}
	jq -r '.sweep[] | "  offered \(.offered_rps) achieved \(.achieved_rps | . * 100 | round / 100) completed \(.completed)/\(.requests) aborted \(.aborted) lost \(.lost) p50 \(.p50_us / 1000 | round) ms p99 \(.p99_us / 1000 | round) ms"' \
		"$logs/sweep-$mode.json"
	rc=0
	fc_sluiced_stop || rc=$?
	[[ $rc -eq 0 ]] || fc_say "warning: sluiced exited $rc on SIGTERM"
	fc_engines_stop
	fc_engine_stats "$logs/engines-$mode.json"
	mv "$logs/sluiced.log" "$logs/sluiced-$mode.log"
	mv "$logs/sluiced.err" "$logs/sluiced-$mode.err"
	rm -f "$logs"/engine-*.json
done
elapsed=$((SECONDS - start_s))

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
machine="${cpu:-unknown cpu}, $(nproc) cores"
python3 - "$logs" "$results" "$scale" "$target_ms" "$commit" "$machine" \
	"$model_rates" "$duration" "$seed" "$elapsed" "$modes" <<'EOF'
import datetime, json, os, sys

logs, results, scale, target, commit, machine, model_rates, duration, \
    seed, elapsed, modes = sys.argv[1:]
scale, target = float(scale), float(target)
modes = modes.split()


def points(mode):
    path = os.path.join(logs, "sweep-%s.json" % mode)
    if not os.path.exists(path):
        return []
    return json.load(open(path))["sweep"]


def shown(p):
    return p["completed"] > 0 and p["achieved_rps"] >= 0.8 * p["offered_rps"]


def summary(pts):
    ok = [p for p in pts if shown(p)]
    under = [p for p in ok if p["p50_us"] / 1000 <= target]
    best = max(under, key=lambda p: p["achieved_rps"]) if under else None
    under99 = [p for p in ok if p["p99_us"] / 1000 <= target]
    best99 = max(under99, key=lambda p: p["achieved_rps"]) if under99 else None
    # Where the median crosses the target, linearly between the last
    # point under it and the next shown point (in offered order).
    at_target = best["achieved_rps"] if best else None
    for a, b in zip(ok, ok[1:]):
        pa, pb = a["p50_us"] / 1000, b["p50_us"] / 1000
        if pa <= target < pb:
            f = (target - pa) / (pb - pa)
            at_target = a["achieved_rps"] + f * (b["achieved_rps"] - a["achieved_rps"])
            break
    # The knee is seen when some rate stays under the target and a
    # higher one does not (over it, or under 80% achieved).
    knee = bool(under) and any(
        (not shown(p)) or p["p50_us"] / 1000 > target
        for p in pts if p["offered_rps"] > best["offered_rps"])
    return {
        "max_rate_under_target": best["achieved_rps"] if best else 0.0,
        "offered_at_max": best["offered_rps"] if best else None,
        "p50_ms_at_max": best["p50_us"] / 1000 if best else None,
        "rate_at_target_interpolated": at_target,
        "max_rate_p99_under_target": best99["achieved_rps"] if best99 else 0.0,
        "knee_seen": knee,
        "points": [{
            "offered_rps": p["offered_rps"],
            "achieved_rps": round(p["achieved_rps"], 3),
            "requests": p["requests"], "completed": p["completed"],
            "aborted": p["aborted"],
            "aborted_by_reason": p.get("aborted_by_reason", {}),
            "lost": p["lost"], "duplicated": p["duplicated"],
            "misordered": p["misordered"],
            "p50_ms": round(p["p50_us"] / 1000, 1),
            "p99_ms": round(p["p99_us"] / 1000, 1),
            "shown": shown(p)} for p in pts],
    }


data = {m: points(m) for m in modes}
with open(os.path.join(results, "alto.csv"), "w") as f:
    f.write("mode,offered_rps,achieved_rps,completed,aborted,lost,p50_ms,p99_ms\n")
    for m in modes:
        for p in data[m]:
            f.write("%s,%g,%.3f,%d,%d,%d,%.1f,%.1f\n" % (
                m, p["offered_rps"], p["achieved_rps"], p["completed"],
                p["aborted"], p["lost"], p["p50_us"] / 1000,
                p["p99_us"] / 1000))

out = {
    "time_scale": scale,
    "target_ms": target,
    "rates_model_rps": [float(r) for r in model_rates.split(",")],
    "duration_s": float(duration),
    "seed": int(seed),
    "elapsed_s": int(elapsed),
}
for m in modes:
    out[m] = summary(data[m])
s, b = out.get("streaming"), out.get("buffered")
ratio = None
if s and b and b["max_rate_under_target"] > 0:
    ratio = s["max_rate_under_target"] / b["max_rate_under_target"]
out["throughput_ratio_at_target"] = ratio
interp = None
if s and b and s["rate_at_target_interpolated"] and b["rate_at_target_interpolated"]:
    interp = s["rate_at_target_interpolated"] / b["rate_at_target_interpolated"]
out["throughput_ratio_at_target_interpolated"] = interp
p99 = None
if data.get("streaming") and data.get("buffered"):
    ps, pb = data["streaming"][0]["p99_us"], data["buffered"][0]["p99_us"]
    if ps > 0:
        p99 = pb / ps
out["p99_ratio_low_load"] = p99

# Final results at the lowest rate, streaming against buffered.
ident, diff_lines, ok_lines = None, None, None
d0 = [os.path.join(logs, "dump-%s.0" % m) for m in ("streaming", "buffered")]
if all(os.path.exists(p) for p in d0):
    a, c = open(d0[0], "rb").read(), open(d0[1], "rb").read()
    ident = a == c
    la, lc = a.split(b"\n"), c.split(b"\n")
    diff_lines = sum(1 for x, y in zip(la, lc) if x != y) + abs(len(la) - len(lc))
    ok_lines = sum(1 for x in la if b"\tok\t" in x)
out["identical_results"] = ident
out["differing_result_lines"] = diff_lines
out["ok_results_compared"] = ok_lines
out["commit"] = commit
out["machine"] = machine
out["date"] = datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
json.dump(out, open(os.path.join(results, "alto.json"), "w"), indent=1)
open(os.path.join(results, "alto.json"), "a").write("\n")
EOF

gnuplot -e "csv='$results/alto.csv'; out='$results/alto.png'; target=$target_ms; scale=$scale; subtitle=' - $commit'" \
	tools/bench/alto.gnuplot 2>"$logs/gnuplot.err" ||
	fc_say "warning: gnuplot failed (see $logs/gnuplot.err)"

cp "$results/alto.json" "$bench_results/alto-$commit.json"
python3 - "$results/alto.json" "$bench_results/alto.md" <<'EOF'
import json, os, sys

r = json.load(open(sys.argv[1]))
log = sys.argv[2]
fmt = lambda v, f="%.2f": "-" if v is None else f % v
s, b = r.get("streaming", {}), r.get("buffered", {})
head = ("# ALTO benchmark log\n\n"
        "Written by tools/bench/alto.sh; one line per run (see "
        "tools/bench/README.md, ALTO section). Rates in requests/s of real "
        "time; max = highest achieved load with median latency under the "
        "target (points with achieved >= 80% of offered).\n\n"
        "| date | commit | machine | time scale | target ms | streaming max | "
        "buffered max | ratio | P99 ratio at low load | identical results | "
        "knee s/b | run s |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n")
row = "| %s | %s | %s | %g | %g | %s | %s | %s | %s | %s | %s/%s | %s |\n" % (
    r["date"], r["commit"], r["machine"], r["time_scale"], r["target_ms"],
    fmt(s.get("max_rate_under_target")), fmt(b.get("max_rate_under_target")),
    fmt(r["throughput_ratio_at_target"]), fmt(r["p99_ratio_low_load"]),
    r["identical_results"], s.get("knee_seen"), b.get("knee_seen"),
    r["elapsed_s"])
new = not os.path.exists(log)
with open(log, "a") as f:
    if new:
        f.write(head)
    f.write(row)
EOF

echo
jq -r '"ALTO on sluice (time scale \(.time_scale), target \(.target_ms) ms, \(.elapsed_s) s):",
	"  streaming: max \(.streaming.max_rate_under_target // "-") req/s under target (knee seen: \(.streaming.knee_seen // "-"))",
	"  buffered:  max \(.buffered.max_rate_under_target // "-") req/s under target (knee seen: \(.buffered.knee_seen // "-"))",
	"  throughput ratio at target: \(.throughput_ratio_at_target // "-") (interpolated \(.throughput_ratio_at_target_interpolated // "-"))",
	"  P99 ratio at the lowest rate (buffered/streaming): \(.p99_ratio_low_load // "-")",
	"  identical final results at the lowest rate: \(.identical_results) (\(.differing_result_lines // "-") lines differ of \(.ok_results_compared // "-") ok)"' \
	"$results/alto.json"
echo "results: $results/alto.csv $results/alto.png $results/alto.json," \
	"$bench_results/alto-$commit.json, a line in $bench_results/alto.md"
