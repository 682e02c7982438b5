#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# cluster.sh - what a sluice cluster costs and how fast it reacts (issue
# 15), on one machine: a 3-member etcd and three sluiced nodes in the
# topology of tools/cluster_topo.sh (each node its own port into one
# fabric bridge, its hosts in a namespace of their own).
#
#   tools/bench/cluster.sh
#
# Measures, in one run:
#   hop       the same one-stage echo pipeline with its instance on the
#             client's own node ("local": client -> n1 -> engine -> n1 ->
#             client) and on node 2 ("remote": n1 sends to the engine
#             through n2, which relays both ways). CLUSTER_ROUNDS rounds,
#             local and remote alternating, each a checked sluicegen run
#             of CLUSTER_RUN_S s at CLUSTER_RATE fragments/s: request p50
#             and p99 of each, the remote hop's added latency, and the
#             ratio remote p99 / local p99 (aim <= 2).
#   throughput  fragments/s received back at CLUSTER_MAX_RATE offered,
#             local and remote, CLUSTER_ROUNDS rounds each.
#   changes   CLUSTER_CHANGES changes through etcd (sluicectl --cluster
#             apply, alternating two documents): the time from the commit
#             until every node's member record says it runs it
#             (cluster_watch.py; includes the node's report write: an
#             upper bound), p50/p99/max (aim p99 <= 100 ms).
#   deaths    CLUSTER_DEATHS times node 3 is killed (SIGKILL) and started
#             again: the time until its member record is gone from etcd
#             and until nodes 1 and 2 both count it out (aim <= lease TTL
#             + 1 s; TTL CLUSTER_TTL s).
#
# Writes results/cluster.json, a copy to tools/bench/results/cluster-
# <commit>.json and a line to tools/bench/results/cluster.md. Works from a
# fresh clone as root (installs what is missing, builds build-bench/).

set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

rounds=${CLUSTER_ROUNDS:-5}
rate=${CLUSTER_RATE:-2000}
max_rate=${CLUSTER_MAX_RATE:-40000}
run_s=${CLUSTER_RUN_S:-4}
n_changes=${CLUSTER_CHANGES:-30}
n_deaths=${CLUSTER_DEATHS:-3}
ttl=${CLUSTER_TTL:-2}
builddir=${CLUSTER_BUILD:-build-bench}
[[ $builddir = /* ]] || builddir=$root/$builddir
results=results
logs=$results/cluster-logs
bench_results=tools/bench/results
P=10.79

[[ $(id -u) -eq 0 ]] || { echo "cluster: run as root (namespaces, DPDK)" >&2; exit 1; }
# shellcheck source=tools/deps.sh
. tools/deps.sh || { echo "cluster: cannot install the packages sluice needs" >&2; exit 1; }
# shellcheck source=tools/bench/common.sh
. tools/bench/common.sh
bench_build "$builddir" dataplane/sluiced tools/sluicegen tools/sluice-engine \
	tools/sluicectl || exit 1
commit=$(bench_commit dataplane proto control tools)
SLUICED=$builddir/dataplane/sluiced
SLUICEGEN=$builddir/tools/sluicegen
SLUICE_ENGINE=$builddir/tools/sluice-engine
SLUICECTL=$builddir/tools/sluicectl
# shellcheck source=tools/topo.sh
. tools/topo.sh
# shellcheck source=tools/cluster_topo.sh
. tools/cluster_topo.sh

sock_dir=/tmp/sl-cl-bench-$$
eal=sl-cl-bench-$$

on_exit() {
	local rc=$? k
	trap - EXIT INT TERM
	sl_cl_nodes_stop
	sl_engines_stop 5 || true
	sl_cl_down
	rm -rf "$sock_dir"
	for k in 1 2 3; do rm -rf "/var/run/dpdk/$eal-n$k"; done
	[[ $rc -eq 0 ]] || echo "cluster: failed (exit $rc); logs are in $logs/" >&2
	exit $rc
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rm -rf "$logs" "$results/cluster.json"
mkdir -p "$logs" "$bench_results" "$sock_dir"
chown nobody "$sock_dir"
logs=$(cd "$logs" && pwd)

die() {
	echo "cluster: $*" >&2
	exit 1
}

# config PROBE_MS: the cluster's document (two documents differ only in
# liveness.probe_ms: the changes of the `changes` part).
config() {
	cat <<EOF
sluiced: {address: $P.1.1, port: 7700}
flows: {size: 65536, idle_timeout_ms: 5000, reorder_window: 16,
        client_streams: 16384, source_streams: 16384, tenant_streams: 16384}
clients: [$P.0.0/16]
liveness: {probe_ms: $1, dead_ms: 1000}
nodes:
  - {name: n1, address: $P.1.1}
  - {name: n2, address: $P.2.1}
  - {name: n3, address: $P.3.1}
pipelines:
  - name: local
    id: 1
    stages:
      - {name: echo, instances: [{address: "$P.1.11:7801", node: n1}]}
  - name: remote
    id: 2
    stages:
      - {name: echo, instances: [{address: "$P.2.11:7801", node: n2}]}
EOF
}

node_start() {
	sl_cl_node_start "$1" "$SLUICED" "$logs" "$sock_dir" "$eal" "$ttl" ||
		die "node $1 did not start: $(tail -3 "$logs/n$1.err")"
}

members_count() {
	"$SLUICECTL" --socket "${SL_CL_SOCK[$1]}" stats --json | jq '.cluster.members'
}

# gen OUT PIPELINE RATE: a checked sluicegen run from node 1's client.
gen() {
	ip netns exec "${SL_CL_NS[1]}" "$SLUICEGEN" --server "$P.1.1:7700" \
		--bind "$P.1.10" --pipeline "$2" --tenant 1 --seed 7 --json --quiet \
		--check --streams 8 --rate "$3" --fragments-per-request 4 \
		--tokens-per-fragment 4 --duration "$run_s" --drain-ms 2000 \
		--expect echo >"$1" 2>>"$logs/sluicegen.err"
}

# --------------------------------------------------------------- set-up
sl_cl_etcd_up "$logs" 3 || die "etcd did not come up"
sl_cl_net_up "$P" 3 || die "cannot make the namespaces"
for k in 1 2; do
	sl_engine_start "${SL_CL_NS[k]}" "$SLUICE_ENGINE" "$logs" "echo-n$k" \
		"$P.$k.11:7801" --transform echo
	sl_wait_udp "${SL_CL_NS[k]}" 5 "$P.$k.11:7801" || die "node $k's engine does not listen"
done
config 100 >"$logs/a.yaml"
config 120 >"$logs/b.yaml"
"$SLUICECTL" --cluster "$SL_CL_ETCD_ENDPOINTS" apply "$logs/a.yaml" >/dev/null
for k in 1 2 3; do node_start "$k"; done
sleep 1
echo "cluster: 3 nodes, etcd $SL_CL_ETCD_ENDPOINTS, commit $commit"

# ------------------------------------------------------------------ hop
hop_rows=()
for ((r = 1; r <= rounds; r++)); do
	for p in local remote; do
		id=1
		[[ $p == remote ]] && id=2
		out=$logs/hop-$p-$r.json
		gen "$out" "$id" "$rate" || die "hop $p round $r: sluicegen failed: $(cat "$out")"
		jq -e '.lost == 0 and .corrupted == 0 and .completed == .requests' "$out" >/dev/null ||
			die "hop $p round $r was not whole: $(jq -c . "$out")"
		hop_rows+=("$(jq -c --arg p "$p" --argjson r "$r" \
			'{path: $p, round: $r, p50_us, p99_us, requests}' "$out")")
		echo "cluster: hop $p round $r: $(jq -c '{p50_us, p99_us, requests}' "$out")"
	done
done

# ---------------------------------------------------------- throughput
tp_rows=()
for ((r = 1; r <= rounds; r++)); do
	for p in local remote; do
		id=1
		[[ $p == remote ]] && id=2
		out=$logs/tp-$p-$r.json
		gen "$out" "$id" "$max_rate" || true
		tp_rows+=("$(jq -c --arg p "$p" --argjson r "$r" --argjson s "$run_s" \
			'{path: $p, round: $r, fragments_per_s: (.fragments_received / $s),
			  lost, requests, completed}' "$out")")
		echo "cluster: throughput $p round $r: $(jq -c --argjson s "$run_s" \
			'{fragments_per_s: (.fragments_received / $s), lost}' "$out")"
	done
done

# -------------------------------------------------------------- changes
python3 tools/bench/cluster_watch.py changes "http://127.0.0.1:${SL_CL_ETCD_CLIENT[1]}" \
	"$SLUICECTL" "$SL_CL_ETCD_ENDPOINTS" "$n_changes" "$logs/b.yaml" "$logs/a.yaml" \
	n1,n2,n3 >"$logs/changes.json" || die "changes: $(cat "$logs/changes.json")"
echo "cluster: changes: $(jq -c '[.changes[].from_commit_ms] | sort | {min: .[0], max: .[-1]}' "$logs/changes.json")"

# --------------------------------------------------------------- deaths
death_rows=()
for ((d = 1; d <= n_deaths; d++)); do
	start=$(date +%s%N)
	python3 tools/bench/cluster_watch.py gone "http://127.0.0.1:${SL_CL_ETCD_CLIENT[2]}" \
		n3 "$start" $((ttl + 10)) >"$logs/gone-$d.json" &
	watch_pid=$!
	sleep 0.5 # the watch is set up
	t0=$(date +%s%N)
	kill -KILL "${SL_CL_NODE_PID[3]}"
	wait "${SL_CL_NODE_PID[3]}" 2>/dev/null || true
	SL_CL_NODE_PID[3]=
	rm -rf "/var/run/dpdk/$eal-n3"
	seen=()
	for k in 1 2; do
		for ((i = 0; i < 1500; i++)); do
			[[ $(members_count "$k") == 2 ]] && break
			sleep 0.01
		done
		[[ $(members_count "$k") == 2 ]] || die "node $k still counts n3"
		seen[k]=$((($(date +%s%N) - t0) / 1000000))
	done
	wait "$watch_pid" || die "death $d: $(cat "$logs/gone-$d.json")"
	# The watcher counts from before the kill: take the difference off.
	etcd_ms=$(jq --argjson off $(((t0 - start) / 1000000)) '.gone_ms - $off' \
		"$logs/gone-$d.json")
	death_rows+=("$(jq -nc --argjson d "$d" --argjson e "$etcd_ms" \
		--argjson a "${seen[1]}" --argjson b "${seen[2]}" \
		'{trial: $d, etcd_watch_ms: $e, node1_ms: $a, node2_ms: $b}')")
	echo "cluster: death $d: ${death_rows[-1]}"
	node_start 3
	for ((i = 0; i < 500; i++)); do
		[[ $(members_count 1) == 3 ]] && break
		sleep 0.01
	done
done

# --------------------------------------------------------------- record
sl_cl_nodes_stop
machine=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo | sed 's/ [0-9]*-Core Processor//')
machine="${machine:-unknown}, $(nproc) cores"
out=$results/cluster.json
printf '%s\n' "${hop_rows[@]}" >"$logs/hop.jsonl"
printf '%s\n' "${tp_rows[@]}" >"$logs/tp.jsonl"
printf '%s\n' "${death_rows[@]}" >"$logs/deaths.jsonl"
python3 - "$logs" "$commit" "$machine" "$ttl" "$rate" "$max_rate" "$run_s" >"$out" <<'EOF'
import json, statistics, sys, time
logs, commit, machine, ttl, rate, max_rate, run_s = sys.argv[1:8]
rd = lambda f: [json.loads(l) for l in open(f"{logs}/{f}") if l.strip()]
def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))] if v else None
def spread(v):
    return {"median": statistics.median(v), "min": min(v), "max": max(v)}
hop, tp, deaths = rd("hop.jsonl"), rd("tp.jsonl"), rd("deaths.jsonl")
ch = json.load(open(f"{logs}/changes.json"))["changes"]
by = lambda rows, p, k: [r[k] for r in rows if r["path"] == p]
ratios = [r["p99_us"] / l["p99_us"] for l, r in
          zip([x for x in hop if x["path"] == "local"],
              [x for x in hop if x["path"] == "remote"])]
added = [r["p50_us"] - l["p50_us"] for l, r in
         zip([x for x in hop if x["path"] == "local"],
             [x for x in hop if x["path"] == "remote"])]
commit_ms = [c["from_commit_ms"] for c in ch]
worst_death = max(max(d["node1_ms"], d["node2_ms"]) for d in deaths)
res = {
    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "commit": commit, "machine": machine,
    "hop": {
        "rate_fragments_per_s": int(rate), "run_s": float(run_s),
        "local_p50_us": spread(by(hop, "local", "p50_us")),
        "local_p99_us": spread(by(hop, "local", "p99_us")),
        "remote_p50_us": spread(by(hop, "remote", "p50_us")),
        "remote_p99_us": spread(by(hop, "remote", "p99_us")),
        "added_p50_us": spread(added),
        "p99_ratio_remote_over_local": spread(ratios),
        "aim_p99_ratio_max": 2.0,
        "rounds": hop,
    },
    "throughput": {
        "offered_fragments_per_s": int(max_rate),
        "local_fragments_per_s": spread(by(tp, "local", "fragments_per_s")),
        "remote_fragments_per_s": spread(by(tp, "remote", "fragments_per_s")),
        "rounds": tp,
    },
    "changes": {
        "n": len(ch),
        "commit_to_all_nodes_ms": {"p50": pct(commit_ms, 0.5),
                                   "p99": pct(commit_ms, 0.99),
                                   "max": max(commit_ms)},
        "aim_p99_ms": 100, "rows": ch,
    },
    "deaths": {
        "lease_ttl_s": int(ttl), "trials": deaths,
        "worst_removal_everywhere_ms": worst_death,
        "aim_max_ms": int(ttl) * 1000 + 1000,
    },
}
res["aims_met"] = {
    "hop_p99_ratio": res["hop"]["p99_ratio_remote_over_local"]["median"] <= 2.0,
    "change_p99": res["changes"]["commit_to_all_nodes_ms"]["p99"] <= 100,
    "death_removal": worst_death <= int(ttl) * 1000 + 1000,
}
print(json.dumps(res, indent=1))
EOF
cp "$out" "$bench_results/cluster-$commit.json"
md=$bench_results/cluster.md
if [[ ! -f $md ]]; then
	cat >"$md" <<'EOF'
# Cluster benchmark log

Written by tools/bench/cluster.sh; one line per run (tools/bench/README.md, "Cluster"). Three sluiced nodes and a 3-member etcd on one machine. hop: request latency of a one-stage echo with its instance on the client's node (local) and on another node, through that node's relay (remote), medians of the rounds (min..max); changes: commit to every node's member record running it; deaths: node 3 SIGKILLed to both other nodes counting it out.

| date | commit | machine | local p99 us | remote p99 us | p99 ratio (aim <= 2) | added p50 us | local / remote frag/s | change p50 / p99 / max ms (aim p99 <= 100) | death to removal, worst ms (aim <= TTL+1 s) |
|---|---|---|---|---|---|---|---|---|---|
EOF
fi
jq -r '"| \(.date) | \(.commit) | \(.machine) | \(.hop.local_p99_us.median) (\(.hop.local_p99_us.min)..\(.hop.local_p99_us.max)) | \(.hop.remote_p99_us.median) (\(.hop.remote_p99_us.min)..\(.hop.remote_p99_us.max)) | \(.hop.p99_ratio_remote_over_local.median * 100 | round / 100) (\(.hop.p99_ratio_remote_over_local.min * 100 | round / 100)..\(.hop.p99_ratio_remote_over_local.max * 100 | round / 100)) | \(.hop.added_p50_us.median * 10 | round / 10) | \(.throughput.local_fragments_per_s.median | round) / \(.throughput.remote_fragments_per_s.median | round) | \(.changes.commit_to_all_nodes_ms.p50 | round) / \(.changes.commit_to_all_nodes_ms.p99 | round) / \(.changes.commit_to_all_nodes_ms.max | round) | \(.deaths.worst_removal_everywhere_ms) (TTL \(.deaths.lease_ttl_s) s) |"' \
	"$out" >>"$md"
jq '{hop: (.hop | del(.rounds)), throughput: (.throughput | del(.rounds)),
     changes: (.changes | del(.rows)), deaths: .deaths, aims_met}' "$out"
echo "cluster: wrote $out and $bench_results/cluster-$commit.json"
