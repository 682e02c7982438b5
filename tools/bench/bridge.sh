#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bridge.sh - what a sluice-bridge adds to a request. One answer-role
# engine (sluice-engine --role answer) serves its UDP side and, with
# --http, OpenAI's HTTP API with the same content and timing model;
# sluicegen asks it directly and through a sluice-bridge in front of its
# HTTP side, interleaved in one run, at a few request rates. Per request:
# latency p50 and p99 each way, and what the bridge added (bridged minus
# direct); per run the bridge's SSE events per second.
#
#   tools/bench/bridge.sh
#
# Settings (environment): BRIDGE_RATES (requests/s, default "20 200 800"),
# BRIDGE_DURATION (s of arrivals per run, 4), BRIDGE_ROUNDS (3),
# BRIDGE_TIME_SCALE (the engine's model time, 0.01), BRIDGE_BUILD
# (build-bench, built if needed). On 127.0.0.1, no namespace, no root.
# Writes results/bridge.json, tools/bench/results/bridge-<commit>.json and
# a line per rate in tools/bench/results/bridge.md.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
# shellcheck source=tools/deps.sh
. tools/deps.sh || exit 1
# shellcheck source=tools/bench/common.sh
. tools/bench/common.sh
# shellcheck source=tools/topo.sh
. tools/topo.sh
builddir=${BRIDGE_BUILD:-build-bench}
bench_build "$builddir" tools/sluicegen tools/sluice-engine tools/sluice-bridge || exit 1
commit=$(bench_commit tools/engine tools/sluice-engine.c tools/lib tools/gen)
rates=${BRIDGE_RATES:-"20 200 800"}
duration=${BRIDGE_DURATION:-4}
rounds=${BRIDGE_ROUNDS:-3}
scale=${BRIDGE_TIME_SCALE:-0.01}
logs=results/bridge-logs
rm -rf "$logs"
mkdir -p "$logs" tools/bench/results

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
emu_udp=127.0.0.1:$(free_port)
emu_http=127.0.0.1:$(free_port)
bridge_udp=127.0.0.1:$(free_port)

cleanup() {
	sl_engines_stop 5 || true
}
trap cleanup EXIT
"$builddir/tools/sluice-engine" --listen "$emu_udp" --role answer \
	--time-scale "$scale" --http "$emu_http" --max-num-seqs 1024 \
	--max-queue 65535 --stats-file "$logs/engine.json" --quiet \
	>"$logs/engine.log" 2>&1 &
SL_ENGINE_PIDS+=($!)
"$builddir/tools/sluice-bridge" --listen "$bridge_udp" \
	--upstream "http://$emu_http" --max-num-seqs 1024 --max-queue 65535 \
	--stats-file "$logs/bridge.json" --quiet >"$logs/bridge.log" 2>&1 &
SL_ENGINE_PIDS+=($!)
for f in "$logs/engine.json" "$logs/bridge.json"; do
	for ((i = 0; i < 100; i++)); do
		[[ -s $f ]] && break
		sleep 0.05
	done
	[[ -s $f ]] || { echo "bridge.sh: $f: not started" >&2; exit 1; }
done

# run WAY RATE ROUND: one sluicegen run; its JSON in $logs.
run() {
	local server=$emu_udp
	[[ $1 == bridged ]] && server=$bridge_udp
	"$builddir/tools/sluicegen" --mode pipeline --server "$server" \
		--bind 127.0.0.1 --request-rate "$2" --duration "$duration" \
		--drain-ms 10000 --seed "$3" --json --quiet \
		>"$logs/$1-$2-$3.json" 2>"$logs/$1-$2-$3.err" || true
	jq -e '.completed == .requests and .aborted == 0 and .lost == 0' \
		"$logs/$1-$2-$3.json" >/dev/null || {
		echo "bridge.sh: $1 at $2/s round $3 did not answer every request" >&2
		exit 1
	}
}

for rate in $rates; do
	for ((r = 1; r <= rounds; r++)); do
		run direct "$rate" "$r"
		run bridged "$rate" "$r"
	done
done
events=$(jq '.upstream.events' "$logs/bridge.json")

cpu=$(bench_cpu 2>/dev/null || grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
python3 - "$logs" "$commit" "$cpu" "$duration" "$rounds" "$scale" "$rates" <<'PY' >results/bridge.json
import json, statistics, sys
logs, commit, cpu, duration, rounds, scale, rates = sys.argv[1:]
out = {"commit": commit, "machine": cpu, "duration_s": float(duration),
       "rounds": int(rounds), "time_scale": float(scale), "rates": []}
for rate in rates.split():
    row = {"rate": float(rate)}
    for way in ("direct", "bridged"):
        runs = [json.load(open(f"{logs}/{way}-{rate}-{r}.json"))
                for r in range(1, int(rounds) + 1)]
        for k in ("p50_us", "p99_us", "first_p50_us"):
            vals = [x[k] for x in runs]
            row[f"{way}_{k}"] = round(statistics.median(vals), 1)
            row[f"{way}_{k}_spread"] = [min(vals), max(vals)]
        row[f"{way}_requests"] = sum(x["requests"] for x in runs)
    row["added_p50_us"] = round(row["bridged_p50_us"] - row["direct_p50_us"], 1)
    row["added_p99_us"] = round(row["bridged_p99_us"] - row["direct_p99_us"], 1)
    out["rates"].append(row)
print(json.dumps(out, indent=1))
PY
cp results/bridge.json "tools/bench/results/bridge-$commit.json"
md=tools/bench/results/bridge.md
[[ -f $md ]] || cat >"$md" <<'HEAD'
# What a sluice-bridge adds (tools/bench/bridge.sh)

sluicegen against one answer-role engine directly (UDP) and through a
sluice-bridge in front of the same engine's --http side, interleaved in
one run; request latency in microseconds, medians of the rounds (their
range in results/bridge.json). Model time scaled by the time-scale
column.

| date | commit | machine | time scale | requests/s | direct p50 | bridged p50 | added p50 | direct p99 | bridged p99 | added p99 | requests each way |
|---|---|---|---|---|---|---|---|---|---|---|---|
HEAD
jq -r --arg d "$(date -u +%FT%TZ)" '.commit as $c | .machine as $m | .time_scale as $s |
	.rates[] | "| \($d) | \($c) | \($m) | \($s) | \(.rate) | \(.direct_p50_us) | \(.bridged_p50_us) | \(.added_p50_us) | \(.direct_p99_us) | \(.bridged_p99_us) | \(.added_p99_us) | \(.direct_requests) |"' \
	results/bridge.json >>"$md"
jq -r '.rates[] | "\(.rate)/s: p50 \(.direct_p50_us) -> \(.bridged_p50_us) us (+\(.added_p50_us)), p99 \(.direct_p99_us) -> \(.bridged_p99_us) us (+\(.added_p99_us))"' results/bridge.json
echo "bridge: $events SSE events taken in all; results/bridge.json, $md"
