#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bridge.sh - what a sluice-bridge, and the whole OpenAI path through
# sluice, add to a request.
#
# Part 1 (no root). One answer-role engine (sluice-engine --role answer)
# serves its UDP side and, with --http, OpenAI's HTTP API with the same
# content and timing model; sluicegen asks it directly and through a
# sluice-bridge in front of its HTTP side, interleaved in one run, at a
# few request rates. Per request: latency p50 and p99 each way, and what
# the bridge added (bridged minus direct); the bridge's server-sent events
# per second of its own CPU time (utime + stime from /proc): the chunks/s
# one core of the bridge sustains.
#
# Part 2 (root, a network namespace, sluiced on the veth). The same
# closed-loop HTTP client (sse_load.py: C workers, one streaming chat
# request at a time each) asks the engine's HTTP side directly and the
# whole path: sluice-gateway -> sluiced -> sluice-bridge -> the engine's
# HTTP side -> back, at 1, 64 and 1,024 concurrent streams, interleaved.
# Per concurrency: request latency p50/p99 each way and added, first
# chunk, the gap between chunks (per token) each way and added, chunks/s;
# the gateway's and bridge's CPU seconds per chunk.
#
#   tools/bench/bridge.sh
#
# Settings (environment): BRIDGE_RATES (requests/s, default "20 200 800"),
# BRIDGE_DURATION (s of arrivals per run, 4), BRIDGE_ROUNDS (3),
# BRIDGE_TIME_SCALE (the engine's model time, 0.01), BRIDGE_BUILD
# (build-bench, built if needed), BRIDGE_CONCURRENCY (part 2, default
# "1 64 1024"; empty: no part 2), BRIDGE_C_DURATION (s a run, 4).
# Part 1 on 127.0.0.1; part 2 in the namespace sl-bench-gw (10.79.0.0/24).
# Writes results/bridge.json, tools/bench/results/bridge-<commit>.json, a
# line per rate in tools/bench/results/bridge.md and per concurrency in
# tools/bench/results/bridge-gateway.md.
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
bench_build "$builddir" tools/sluicegen tools/sluice-engine tools/sluice-bridge \
	tools/sluice-gateway dataplane/sluiced || exit 1
commit=$(bench_commit tools/engine tools/sluice-engine.c tools/lib tools/gen \
	tools/openai tools/sluice-gateway.c tools/bench/bridge.sh tools/bench/sse_load.py)
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

gw_ns=sl-bench-gw
cleanup() {
	sl_engines_stop 5 || true
	sl_topo_down "$gw_ns" "$gw_ns"
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
bridge_pid=$!
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
# The bridge's CPU seconds so far (utime + stime, clock ticks).
cpu_s() {
	awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"
}
bridge_cpu=$(cpu_s "$bridge_pid")
sleep 1.2 # the bridge writes its stats once a second
events=$(jq '.upstream.events' "$logs/bridge.json")
echo "{\"events\": $events, \"cpu_s\": $bridge_cpu}" >"$logs/bridge-cpu.json"
sl_engines_stop 5 || true

# ---- part 2: the whole OpenAI path, closed loop ----
concurrency=${BRIDGE_CONCURRENCY-"1 64 1024"}
c_duration=${BRIDGE_C_DURATION:-4}
gw_part=0
if [[ -n $concurrency && $(id -u) -eq 0 ]] && ip netns list >/dev/null 2>&1; then
	gw_part=1
elif [[ -n $concurrency ]]; then
	echo "bridge: not root (or no ip netns): part 2, through the gateway, skipped" >&2
fi
if [[ $gw_part == 1 ]]; then
	P=10.79.0
	sl_netns_up "$gw_ns" "$P" || { echo "bridge: netns.sh up failed" >&2; exit 1; }
	cat >"$logs/gw-pipeline.yaml" <<YAML
sluiced: {address: $P.1, port: 7700}
flows: {size: 65536, idle_timeout_ms: 10000, reorder_window: 16,
        client_streams: 16384, source_streams: 16384, tenant_streams: 16384}
clients: [$P.0/24]
pipelines:
  - name: answer
    id: 1
    stages:
      - {name: answer, instances: [$P.11:7801]}
YAML
	sl_engine_start "$gw_ns" "$builddir/tools/sluice-engine" "$logs" gw-engine \
		"$P.12:7801" --role answer --time-scale "$scale" --http "$P.12:8101" \
		--max-num-seqs 4096 --max-queue 65535
	sl_engine_start "$gw_ns" "$builddir/tools/sluice-bridge" "$logs" gw-bridge \
		"$P.11:7801" --upstream "http://$P.12:8101" --api chat \
		--max-num-seqs 4096 --max-queue 65535
	gw_bridge_pid=${SL_ENGINE_PIDS[-1]}
	sl_wait_udp "$gw_ns" 5 "$P.11:7801" "$P.12:7801" ||
		{ echo "bridge: $SL_WAIT_MISSING does not listen" >&2; exit 1; }
	chmod 0777 "$logs"
	sl_sluiced_start "$builddir/dataplane/sluiced" "$logs/gw-sluiced.log" \
		"$logs/gw-sluiced.err" 30 --config "$logs/gw-pipeline.yaml" \
		--iface "$HOST_IF" --state-dir none --control none --user nobody \
		--stats-file "$logs/gw-sluiced.json" -- --file-prefix "$gw_ns" || {
		tail -n 5 "$logs/gw-sluiced.err" >&2
		echo "bridge: sluiced did not start" >&2
		exit 1
	}
	(
		ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
		exec ip netns exec "$gw_ns" "$builddir/tools/sluice-gateway" \
			--listen "$P.10:8080" --server "$P.1:7700" --bind "$P.10" \
			--model answer=1 --open-tenant 1 --max-requests 8192 \
			--max-connections 8192 --stats-file "$logs/gw-gateway.json" \
			--quiet >"$logs/gw-gateway.log" 2>&1
	) &
	SL_ENGINE_PIDS+=($!)
	gw_pid=$!
	sl_wait_tcp "$gw_ns" 5 "$P.10:8080" ||
		{ echo "bridge: the gateway does not listen" >&2; exit 1; }
	cpu0_gw=$(cpu_s "$gw_pid")
	cpu0_br=$(cpu_s "$gw_bridge_pid")
	# load WAY C ROUND: one closed-loop run; its JSON in $logs.
	load() {
		local url=http://$P.12:8101/v1/chat/completions
		[[ $1 == sluice ]] && url=http://$P.10:8080/v1/chat/completions
		(
			ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
			ip netns exec "$gw_ns" python3 tools/bench/sse_load.py --url "$url" \
				--model answer --concurrency "$2" --duration "$c_duration" \
				--request-timeout 40 \
				--seed "$3"
		) >"$logs/c-$1-$2-$3.json" 2>"$logs/c-$1-$2-$3.err" || {
			echo "bridge: sse_load $1 c=$2 round $3 failed: $(tail -n 2 "$logs/c-$1-$2-$3.err")" >&2
			exit 1
		}
	}
	for c in $concurrency; do
		for ((r = 1; r <= rounds; r++)); do
			load direct "$c" "$r"
			load sluice "$c" "$r"
		done
	done
	# Where datagrams were lost: the namespace's UDP counters (socket
	# buffers of the gateway, bridge and engine) and the host's veth.
	ip netns exec "$gw_ns" nstat -az 2>/dev/null | grep -E '^Udp' >"$logs/gw-nstat.txt" || true
	ip -s link show "$HOST_IF" >"$logs/gw-veth.txt" 2>&1 || true
	ip netns exec "$gw_ns" ss -uanmp >"$logs/gw-sockets.txt" 2>&1 || true
	echo "{\"gateway_cpu_s\": $(awk -v a="$(cpu_s "$gw_pid")" -v b="$cpu0_gw" 'BEGIN { print a - b }'),
	  \"bridge_cpu_s\": $(awk -v a="$(cpu_s "$gw_bridge_pid")" -v b="$cpu0_br" 'BEGIN { print a - b }')}" \
		>"$logs/gw-cpu.json"
	sl_sluiced_stop 10 || true
	sl_engines_stop 5 || true
fi

cpu=$(bench_cpu 2>/dev/null || grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
python3 - "$logs" "$commit" "$cpu" "$duration" "$rounds" "$scale" "$rates" \
	"$([[ $gw_part == 1 ]] && echo "$concurrency")" "$c_duration" <<'PY' >results/bridge.json
import json, statistics, sys
logs, commit, cpu, duration, rounds, scale, rates, conc, c_duration = sys.argv[1:]
bc = json.load(open(f"{logs}/bridge-cpu.json"))
out = {"commit": commit, "machine": cpu, "duration_s": float(duration),
       "rounds": int(rounds), "time_scale": float(scale),
       "bridge_events": bc["events"], "bridge_cpu_s": bc["cpu_s"],
       "bridge_chunks_per_cpu_s": round(bc["events"] / bc["cpu_s"], 1)
       if bc["cpu_s"] > 0 else None,
       "rates": [], "concurrency": []}
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
chunks = 0
for c in conc.split():
    row = {"concurrency": int(c), "duration_s": float(c_duration)}
    for way in ("direct", "sluice"):
        runs = [json.load(open(f"{logs}/c-{way}-{c}-{r}.json"))
                for r in range(1, int(rounds) + 1)]
        for k in ("p50_us", "p99_us", "first_p50_us", "gap_p50_us",
                  "gap_p99_us", "chunks_per_s"):
            vals = [x[k] for x in runs]
            row[f"{way}_{k}"] = round(statistics.median(vals), 1)
            row[f"{way}_{k}_spread"] = [min(vals), max(vals)]
        row[f"{way}_requests"] = sum(x["requests"] for x in runs)
        row[f"{way}_failed"] = sum(x["failed"] for x in runs)
        if way == "sluice":
            chunks += sum(x["chunks"] for x in runs)
    for k in ("p50_us", "p99_us", "first_p50_us", "gap_p50_us", "gap_p99_us"):
        row[f"added_{k}"] = round(row[f"sluice_{k}"] - row[f"direct_{k}"], 1)
    out["concurrency"].append(row)
if conc.split():
    g = json.load(open(f"{logs}/gw-cpu.json"))
    out["gateway_cpu_s"], out["gw_bridge_cpu_s"] = g["gateway_cpu_s"], g["bridge_cpu_s"]
    out["sluice_chunks"] = chunks
    out["gateway_chunks_per_cpu_s"] = round(chunks / g["gateway_cpu_s"], 1) if g["gateway_cpu_s"] > 0 else None
    out["gw_bridge_chunks_per_cpu_s"] = round(chunks / g["bridge_cpu_s"], 1) if g["bridge_cpu_s"] > 0 else None
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
md2=tools/bench/results/bridge-gateway.md
[[ -f $md2 ]] || cat >"$md2" <<'HEAD'
# The whole OpenAI path through sluice (tools/bench/bridge.sh, part 2)

A closed-loop client (sse_load.py, C streaming chat requests at a time)
against one answer-role engine's HTTP side directly, and through
sluice-gateway -> sluiced -> sluice-bridge -> the same engine, interleaved
in one run; microseconds, medians of the rounds (ranges in
results/bridge.json). "gap" is the time between two chunks of an answer.

| date | commit | machine | time scale | streams | direct p50 | sluice p50 | added p50 | direct p99 | sluice p99 | added p99 | added gap p50 | added gap p99 | sluice chunks/s | requests each way | sluice failed (ABORT) | gateway, bridge chunks per CPU s |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
HEAD
jq -r --arg d "$(date -u +%FT%TZ)" '.commit as $c | .machine as $m | .time_scale as $s |
	.gateway_chunks_per_cpu_s as $g | .gw_bridge_chunks_per_cpu_s as $b |
	.concurrency[] | "| \($d) | \($c) | \($m) | \($s) | \(.concurrency) | \(.direct_p50_us) | \(.sluice_p50_us) | \(.added_p50_us) | \(.direct_p99_us) | \(.sluice_p99_us) | \(.added_p99_us) | \(.added_gap_p50_us) | \(.added_gap_p99_us) | \(.sluice_chunks_per_s) | \(.direct_requests) / \(.sluice_requests) | \(.sluice_failed) | \($g), \($b) |"' \
	results/bridge.json >>"$md2"
jq -r '.rates[] | "\(.rate)/s: p50 \(.direct_p50_us) -> \(.bridged_p50_us) us (+\(.added_p50_us)), p99 \(.direct_p99_us) -> \(.bridged_p99_us) us (+\(.added_p99_us))"' results/bridge.json
jq -r '.concurrency[] | "\(.concurrency) streams: p50 \(.direct_p50_us) -> \(.sluice_p50_us) us (+\(.added_p50_us)), p99 \(.direct_p99_us) -> \(.sluice_p99_us) us (+\(.added_p99_us)), gap p99 +\(.added_gap_p99_us) us, failed \(.direct_failed)/\(.sluice_failed)"' results/bridge.json
jq -r '"bridge: \(.bridge_events) SSE events in \(.bridge_cpu_s) CPU s: \(.bridge_chunks_per_cpu_s) chunks per CPU second" +
	(if .gateway_cpu_s then "; part 2: gateway \(.gateway_chunks_per_cpu_s), bridge \(.gw_bridge_chunks_per_cpu_s) chunks per CPU second" else "" end)' results/bridge.json
echo "bridge: results/bridge.json, $md, $md2"
