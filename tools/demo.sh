#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# demo.sh - the README's first command: build sluice, run a two-stage
# pipeline for about 20 s through sluiced, and print what happened.
#
#   client (sluicegen, 10.77.0.10) -> sluiced (10.77.0.1:7700, DPDK on the
#   host end of a veth pair) -> draft: upper-case (10.77.0.11, .12)
#   -> sluiced -> polish: rot13 (10.77.0.13, .14) -> sluiced -> client
#
# The client and the four engine emulators live in the network namespace
# sluice-demo (tools/netns.sh); the pipeline is tools/demo/pipeline.yaml.
# Everything the demo writes goes to results/: demo.json (sluicegen's
# figures, with sluiced's final stats under "sluiced" and the engines'
# under "engines"), sluiced-stats.json, engine-*.json and logs/. Whatever
# happens, the processes are stopped and the namespace removed on exit.
# Exit status 1 when a fragment was lost, duplicated, misordered,
# corrupted or aborted.
#
# Environment: DEMO_DURATION (s, default 20), DEMO_RATE (fragments/s,
# default 20000), DEMO_STREAMS (default 32), DEMO_BUILD (build folder,
# default build).

set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

ns=sluice-demo
prefix=10.77.0
server=$prefix.1:7700
eal_prefix=sluice-demo
build=${DEMO_BUILD:-build}
results=results
logs=$results/logs
duration=${DEMO_DURATION:-20}
rate=${DEMO_RATE:-20000}
streams=${DEMO_STREAMS:-32}

sluiced_pid=
engine_pids=()

say() {
	echo "demo: $*"
}

die() {
	echo "demo: error: $*" >&2
	exit 1
}

cleanup() {
	local rc=$? pid i
	trap - EXIT INT TERM
	for pid in $sluiced_pid "${engine_pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in $sluiced_pid "${engine_pids[@]}"; do
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	tools/netns.sh down "$ns" >/dev/null 2>&1 || true
	rm -rf "/var/run/dpdk/$eal_prefix"
	if [[ $rc -ne 0 ]]; then
		echo "demo: failed (exit $rc); logs are in $logs/" >&2
	fi
	exit $rc
}

# stop PID NAME: SIGTERM, then wait up to 10 s for a clean exit.
stop() {
	local pid=$1 name=$2 i rc=0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 200; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		say "warning: $name ignored SIGTERM for 10 s and was killed"
	fi
	wait "$pid" 2>/dev/null || rc=$?
	return $rc
}

[[ $(id -u) -eq 0 ]] || die "run as root (network namespaces and DPDK need it)"

# shellcheck source=tools/deps.sh
. tools/deps.sh || die "cannot install the packages sluice needs"

say "building into ./$build"
tools/build.sh "$build" || die "the build failed"
sluiced=$build/dataplane/sluiced
sluicegen=$build/tools/sluicegen
engine=$build/tools/sluice-engine
for bin in "$sluiced" "$sluicegen" "$engine"; do
	[[ -x $bin ]] || die "$bin was not built"
done

# Only what this demo writes is replaced; results/ may hold other reports.
rm -rf "$logs" "$results/demo.json" "$results/sluiced-stats.json" \
	"$results"/engine-*.json
mkdir -p "$logs"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A demo interrupted by SIGKILL may have left its namespace behind.
tools/netns.sh down "$ns" >/dev/null 2>&1 || true
eval "$(tools/netns.sh up "$ns" "$prefix")"
say "namespace $ns: sluiced drives $HOST_IF ($HOST_MAC); clients and engines on $NS_IF"

start_engine() {
	local name=$1 listen=$2 transform=$3 file=${1//\//-}
	ip netns exec "$ns" "$engine" --listen "$listen" --name "$name" \
		--transform "$transform" --stats-file "$results/engine-$file.json" \
		--quiet >"$logs/engine-$file.log" 2>&1 &
	engine_pids+=($!)
}
start_engine draft/0 "$prefix.11:7801" upper
start_engine draft/1 "$prefix.12:7801" upper
start_engine polish/0 "$prefix.13:7801" rot13
start_engine polish/1 "$prefix.14:7801" rot13
for ep in "$prefix.11:7801" "$prefix.12:7801" "$prefix.13:7801" "$prefix.14:7801"; do
	for ((i = 0; i < 100; i++)); do
		ip netns exec "$ns" ss -Hlun "src $ep" 2>/dev/null | grep -q . && break
		sleep 0.05
	done
	[[ $i -lt 100 ]] || die "no engine listens on $ep after 5 s (see $logs/)"
done
say "4 engines up: draft/0 draft/1 (upper), polish/0 polish/1 (rot13)"

"$sluiced" --config tools/demo/pipeline.yaml --iface "$HOST_IF" \
	--stats-file "$results/sluiced-stats.json" --stats-interval-ms 1000 \
	-- --file-prefix "$eal_prefix" \
	>"$logs/sluiced.log" 2>"$logs/sluiced.err" &
sluiced_pid=$!
ready=
for ((i = 0; i < 600; i++)); do
	ready=$(grep -m1 '^sluiced: ready ' "$logs/sluiced.log" || true)
	[[ -n $ready ]] && break
	if ! kill -0 "$sluiced_pid" 2>/dev/null; then
		rc=0
		wait "$sluiced_pid" || rc=$?
		sluiced_pid=
		cat "$logs/sluiced.err" >&2
		die "sluiced exited ($rc) before it was ready"
	fi
	sleep 0.05
done
if [[ -z $ready ]]; then
	tail -n 20 "$logs/sluiced.err" >&2
	die "sluiced printed no ready line within 30 s"
fi
say "${ready#sluiced: }"

say "sluicegen: $streams streams at $rate fragments/s for $duration s ..."
gen_rc=0
ip netns exec "$ns" "$sluicegen" --server "$server" --bind "$prefix.10" \
	--pipeline 1 --tenant 1 --streams "$streams" --rate "$rate" \
	--fragments-per-request 8 --tokens-per-fragment 4 \
	--duration "$duration" --drain-ms 2000 --expect upper,rot13 --seed 1 \
	--json --quiet >"$logs/sluicegen.json" 2>"$logs/sluicegen.err" || gen_rc=$?
jq -e 'type == "object"' "$logs/sluicegen.json" >/dev/null 2>&1 || {
	cat "$logs/sluicegen.err" >&2
	die "sluicegen exited $gen_rc without its JSON report"
}

rc=0
stop "$sluiced_pid" sluiced || rc=$?
sluiced_pid=
[[ $rc -eq 0 ]] || say "warning: sluiced exited $rc on SIGTERM"
for pid in "${engine_pids[@]}"; do
	stop "$pid" sluice-engine || true
done
engine_pids=()

stats=$results/sluiced-stats.json
[[ -s $stats ]] || die "sluiced wrote no $stats"
jq -s '.' "$results"/engine-*.json >"$logs/engines.json" 2>/dev/null ||
	echo '[]' >"$logs/engines.json"
jq --slurpfile s "$stats" --slurpfile e "$logs/engines.json" \
	'. + {sluiced: $s[0], engines: $e[0]}' "$logs/sluicegen.json" \
	>"$results/demo.json"
demo=$results/demo.json

# The report.
field() {
	jq -r "$1" "$demo"
}
echo
echo "sluice demo: $(field '.duration_s') s, $streams streams, offered $(field '.offered_rate') fragments/s"
echo "---------------------------------------------------------------"
printf '%-22s %14s\n' requests "$(field '.requests')" \
	completed "$(field '.completed')" \
	fragments "$(field '.fragments')" \
	"fragments received" "$(field '.fragments_received')" \
	lost "$(field '.lost')" \
	duplicated "$(field '.duplicated')" \
	misordered "$(field '.misordered')" \
	corrupted "$(field '.corrupted')" \
	aborted "$(field '.aborted')" \
	"latency p50 (us)" "$(field '.p50_us')" \
	"latency p99 (us)" "$(field '.p99_us')" \
	"latency p99.9 (us)" "$(field '.p999_us')" \
	"request p99 (us)" "$(field '.request_p99_us')" \
	"fragments/s" "$(field '.fragments_per_s | floor')" \
	"tokens/s" "$(field '.tokens_per_s | floor')"
echo "---------------------------------------------------------------"
echo "sluiced: rx $(field '.sluiced.rx_packets') tx $(field '.sluiced.tx_packets') forwarded $(field '.sluiced.forwarded') arp replies $(field '.sluiced.arp_replies')"
printf '  %-12s %-9s %-20s %10s %12s\n' instance stage address streams fragments
jq -r '.sluiced.instances[] |
	"  \(.instance) \(.stage) \(.address) \(.streams) \(.fragments)"' "$demo" |
	while read -r inst stage addr streams_n frags; do
		printf '  %-12s %-9s %-20s %10s %12s\n' "$inst" "$stage" "$addr" \
			"$streams_n" "$frags"
	done
drops=$(field '.sluiced.drops | to_entries | map(select(.value > 0) |
	"\(.key)=\(.value)") | join(" ")')
echo "drops: ${drops:-none} (total $(field '.sluiced.drops_total'))"
echo "flows: $(field '.sluiced.flows | "created \(.created), ended \(.ended), expired \(.expired), active \(.active)"')"
echo "mbufs in use: start $(field '.sluiced.mbufs.in_use_start'), end $(field '.sluiced.mbufs.in_use')"
echo "results: $results/demo.json $results/sluiced-stats.json $results/engine-*.json"

damage=$(field '.lost + .duplicated + .misordered + .corrupted + .aborted')
if [[ $damage -ne 0 ]]; then
	echo "demo: FAILED: lost, duplicated, misordered, corrupted or aborted fragments" >&2
	exit 1
fi
echo "demo: OK"
