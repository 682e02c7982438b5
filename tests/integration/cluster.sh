#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# jq filters name their --argjson variables ($r) in single quotes.
# shellcheck disable=SC2016
#
# cluster.sh - a sluice cluster (issue 15): a 3-member etcd and three
# sluiced nodes, each with its own port into one fabric and its own hosts
# (tools/cluster_topo.sh). Two pipelines: ALTO's fact-checking pipeline
# (tools/pipelines/factcheck.yaml's stages, edges, splitters, aggregation
# and concat; the timed engine roles at time scale 0.05) and a two-stage
# chain of exact transforms (upper, rot13) whose bytes sluicegen checks.
# The clients are on node 1; every stage's instances are on nodes 2 and 3
# (the encoder gets a second instance so that either node alone can serve),
# so every request crosses nodes: node 1 routes, nodes 2 and 3 relay to
# and from their engines.
#
# Before traffic: a conflicting apply (a stale --base) is refused; a
# document that does not compile, written into etcd behind sluicectl's
# back, is refused by every node with the field named while the last
# good revision runs on; a second node with a live member's name and a
# member speaking another cluster protocol are refused at join.
#
# Then the fact-checking questions and `sluicegen --check` on the chain
# run throughout while (a) a pipeline change is applied through etcd
# (every node runs it, the time until the last one does is printed), (b)
# node 3's sluiced is killed (SIGKILL): its lease expires and it leaves
# everyone's members, (c) an etcd member is stopped. Expected: every
# request completes (the chain's byte-exact) or ends with ABORT ENGINE
# (streams pinned to node 3's instances) or LOST (a gap on the path that
# died), none is lost silently; nodes 1 and 2 run
# the same revision at the end, connected. (d) Then etcd is lost
# altogether: the nodes serve on and say so, and join again when it is
# back; they give every mbuf back.
#
# usage: cluster.sh WORK_BASE (binaries in SLUICED SLUICEGEN SLUICE_ENGINE
# SLUICECTL)

set -euo pipefail
IT_NAME=cluster
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=tools/cluster_topo.sh
. "$IT_SRC_ROOT/tools/cluster_topo.sh"
it_init "$@"
it_need_bin SLUICED SLUICEGEN SLUICE_ENGINE SLUICECTL
command -v etcd >/dev/null 2>&1 || it_skip "etcd-server is not installed (tools/deps.sh)"
command -v setpriv >/dev/null 2>&1 || it_skip "setpriv (util-linux) is missing"

P=10.78
NODES=3
TTL=2
SOCK_DIR=/tmp/sl-cl-$$

cl_cleanup() {
	local rc=$? k
	trap - EXIT
	sl_cl_nodes_stop
	sl_engines_stop 5 || true
	sl_cl_down
	rm -rf "$SOCK_DIR"
	for k in 1 2 3 4; do rm -rf "/var/run/dpdk/$IT_EAL_PREFIX-n$k"; done
	(exit $rc)
	it_cleanup
}
trap cl_cleanup EXIT

ctlc() {
	"$SLUICECTL" --cluster "$SL_CL_ETCD_ENDPOINTS" "$@"
}

# members_json: the members as sluicectl sees them.
members_json() {
	ctlc members --json
}

# wait_running REV N SECONDS: until N members run revision REV.
wait_running() {
	local rev=$1 n=$2 limit=$3 i
	for ((i = 0; i < limit * 50; i++)); do
		if members_json 2>/dev/null | jq -e --argjson r "$rev" --argjson n "$n" \
			'[.members[] | select(.running == $r)] | length == $n' >/dev/null; then
			return 0
		fi
		sleep 0.02
	done
	it_fail "not $n members running revision $rev after $limit s: $(members_json 2>&1)"
}

# node_start K: sluiced node K; waits for ready. Nodes 2 and 3, the
# relays, drop 2%, duplicate 1% and reorder 2% of their datagrams both
# ways (sluiced --impair): the node-to-node link's losses are repaired
# end to end like any hop's.
node_start() {
	local k=$1 impair=() workers=()
	((k == 1)) || impair=(--impair "drop=2,dup=1,reorder=2,seed=$k")
	[[ -z ${IT_WORKERS:-} ]] || workers=(--workers "$IT_WORKERS")
	# shellcheck disable=SC2153 # SLUICED comes from meson's environment
	sl_cl_node_start "$k" "$SLUICED" "$IT_WORK" "$SOCK_DIR" "$IT_EAL_PREFIX" \
		"$TTL" --stats-interval-ms 250 "${impair[@]}" "${workers[@]}"
}

node_stats() {
	"$SLUICECTL" --socket "${SL_CL_SOCK[$1]}" stats --json
}

# write_config [EXTRA_DRAFT_LINE]: the cluster's document.
write_config() {
	local extra_draft=${1:-}
	cat <<EOF
sluiced: {address: $P.1.1, port: 7700}
flows: {size: 262144, idle_timeout_ms: 60000, reorder_window: 16, buffer_max: 4096}
clients: [$P.0.0/16]
liveness: {probe_ms: 100, dead_ms: 1000}
nodes:
  - {name: n1, address: $P.1.1}
  - {name: n2, address: $P.2.1}
  - {name: n3, address: $P.3.1}
pipelines:
  - name: demo
    id: 1
    stages:
      - name: draft
        instances:
          - {name: d2, address: "$P.2.12:7901", node: n2}
          - {name: d3, address: "$P.3.12:7901", node: n3}$extra_draft
      - name: polish
        aggregation: 1
        instances:
          - {name: p2, address: "$P.2.14:7901", node: n2}
          - {name: p3, address: "$P.3.14:7901", node: n3}
  - name: factcheck
    id: 2
    stages:
      - name: answer
        instances: [$(fc_list answer)]
      - name: claims
        instances: [$(fc_list claims)]
      - name: queries
        instances: [$(fc_list queries)]
      - name: bm25
        aggregation: 3
        instances: [$(fc_list bm25)]
      - name: encoder
        instances: [$(fc_list encoder)]
      - name: rerank
        aggregation: 3
        instances: [$(fc_list rerank)]
      - name: results
        operator: concat
        aggregation: 1
        max_group_bytes: 65536
    edges:
      - {from: client, to: answer}
      - {from: answer, to: claims, mode: buffer}
      - {from: claims, to: queries, split: line}
      - {from: queries, to: bm25, split: line, stream_children: true}
      - {from: queries, to: encoder, split: line}
      - {from: bm25, to: rerank, mode: buffer}
      - {from: encoder, to: rerank, mode: buffer}
      - {from: rerank, to: results}
      - {from: results, to: client}
EOF
}

# The fact-checking instances: ROLE NODE HOST PORT (ALTO's counts, the
# encoder doubled), spread over nodes 2 and 3.
FC=(
	"answer 2 11 7801" "answer 3 11 7801"
	"claims 2 13 7801" "claims 3 13 7801"
	"queries 2 15 7801" "queries 2 16 7801" "queries 3 15 7801"
	"bm25 2 11 7802" "bm25 2 13 7802" "bm25 3 11 7802" "bm25 3 13 7802"
	"encoder 2 18 7801" "encoder 3 18 7801"
	"rerank 2 15 7802" "rerank 2 16 7802" "rerank 3 15 7802" "rerank 3 18 7802"
)

# fc_list ROLE: that role's instances as a YAML flow list's items.
fc_list() {
	local line role node host port sep=''
	for line in "${FC[@]}"; do
		read -r role node host port <<<"$line"
		[[ $role == "$1" ]] || continue
		printf '%s{address: "%s", node: n%s}' "$sep" "$P.$node.$host:$port" "$node"
		sep=', '
	done
}

# fc_engines: the fact-checking engines (tools/bench/factcheck.sh's
# options: the claims and queries prompts' prefix, rerank's join of two
# inputs, a bounded wait).
fc_engines() {
	local line role node host port extra
	for line in "${FC[@]}"; do
		read -r role node host port <<<"$line"
		extra=()
		[[ $role == rerank ]] && extra=(--join 2)
		[[ $role == claims ]] && extra=(--prefix-tokens 570)
		[[ $role == queries ]] && extra=(--prefix-tokens 300)
		sl_engine_start "${SL_CL_NS[node]}" "$SLUICE_ENGINE" "$IT_WORK" \
			"$role-n$node-$host-$port" "$P.$node.$host:$port" --role "$role" \
			--time-scale 0.05 --max-wait-ms 4000 "${extra[@]}"
	done
}

# ---------------------------------------------------------------- set-up
mkdir -p "$SOCK_DIR" && chown nobody "$SOCK_DIR"
sl_cl_etcd_up "$IT_WORK" 3 || it_fail "etcd did not come up (logs: $IT_WORK/etcd-*.log)"
it_log "etcd: $SL_CL_ETCD_ENDPOINTS"
sl_cl_net_up "$P" "$NODES" || it_fail "cannot make the cluster's namespaces"

for k in 2 3; do
	sl_engine_start "${SL_CL_NS[k]}" "$SLUICE_ENGINE" "$IT_WORK" "draft-n$k" \
		"$P.$k.12:7901" --transform upper
	sl_engine_start "${SL_CL_NS[k]}" "$SLUICE_ENGINE" "$IT_WORK" "polish-n$k" \
		"$P.$k.14:7901" --transform rot13
done
sl_engine_start "${SL_CL_NS[2]}" "$SLUICE_ENGINE" "$IT_WORK" "draft-n2b" \
	"$P.2.17:7901" --transform upper
fc_engines
for k in 2 3; do
	sl_wait_udp "${SL_CL_NS[k]}" 5 "$P.$k.12:7901" "$P.$k.14:7901" \
		"$P.$k.11:7801" "$P.$k.15:7802" "$P.$k.18:7801" ||
		it_fail "node $k's engines do not listen ($SL_WAIT_MISSING)"
done

# The first revision, then a conflicting apply: refused.
write_config >"$IT_WORK/cluster.yaml"
out=$(ctlc apply "$IT_WORK/cluster.yaml") || it_fail "apply: $out"
rev1=$(sed -n 's/^applied: .* revision \([0-9]*\)$/\1/p' <<<"$out")
[[ -n $rev1 ]] || it_fail "apply said: $out"
it_log "applied revision $rev1"
rc=0
err=$(ctlc apply --base 1 "$IT_WORK/cluster.yaml" 2>&1 >/dev/null) || rc=$?
[[ $rc -eq 1 && $err == *"conflict: based on revision 1, but /sluice/config is at revision $rev1 now"* ]] ||
	it_fail "a stale --base was not refused as a conflict (exit $rc): $err"

for k in 1 2 3; do
	node_start "$k" || it_fail "node $k did not start: $(tail -3 "$IT_WORK/n$k.err")"
done
wait_running "$rev1" 3 10
it_log "3 members run revision $rev1"

# A second sluiced calling itself n1: refused, n1 untouched.
rc=0
"$SLUICED" --cluster "$SL_CL_ETCD_ENDPOINTS" --node n1 --iface "${SL_CL_PORT[1]}" \
	--control none --user nobody -- --file-prefix "$IT_EAL_PREFIX-n4" \
	>"$IT_WORK/dup.log" 2>&1 || rc=$?
if [[ $rc -eq 0 ]] || ! grep -q 'a live member is already named n1' "$IT_WORK/dup.log"; then
	it_fail "a second n1 was not refused: $(cat "$IT_WORK/dup.log")"
fi
# A live member that speaks another protocol: a new node refuses to join.
lease=$(ETCDCTL_API=3 etcdctl --endpoints "$SL_CL_ETCD_ENDPOINTS" lease grant 30 | awk '{print $2}')
ETCDCTL_API=3 etcdctl --endpoints "$SL_CL_ETCD_ENDPOINTS" put --lease="$lease" \
	/sluice/members/n9 '{"node":"n9","protocol":2}' >/dev/null
rc=0
"$SLUICED" --cluster "$SL_CL_ETCD_ENDPOINTS" --node n4 --iface "${SL_CL_PORT[3]}" \
	--control none --user nobody -- --file-prefix "$IT_EAL_PREFIX-n4" \
	>"$IT_WORK/proto.log" 2>&1 || rc=$?
if [[ $rc -eq 0 ]] ||
	! grep -q 'member n9 speaks cluster protocol 2, this sluiced 1: refusing to join' "$IT_WORK/proto.log"; then
	it_fail "a protocol skew was not refused: $(cat "$IT_WORK/proto.log")"
fi
ETCDCTL_API=3 etcdctl --endpoints "$SL_CL_ETCD_ENDPOINTS" lease revoke "$lease" >/dev/null
it_log "refused: a second n1, a member of protocol 2"

# A bad document written straight into etcd: every node refuses it whole
# and names the field; the last good revision runs on.
sed '0,/aggregation: 1/s//aggregation: 9/' "$IT_WORK/cluster.yaml" >"$IT_WORK/bad.yaml"
ETCDCTL_API=3 etcdctl --endpoints "$SL_CL_ETCD_ENDPOINTS" put /sluice/config \
	<"$IT_WORK/bad.yaml" >/dev/null 2>&1 ||
	ETCDCTL_API=3 etcdctl --endpoints "$SL_CL_ETCD_ENDPOINTS" put /sluice/config "$(cat "$IT_WORK/bad.yaml")" >/dev/null
bad_rev=$(members_json | jq '.revision')
for ((i = 0; i < 250; i++)); do
	members_json | jq -e --argjson b "$bad_rev" '[.members[] | select(.rejected == $b)] | length == 3' >/dev/null && break
	sleep 0.02
done
members_json | jq -e --argjson b "$bad_rev" --argjson r "$rev1" \
	'[.members[] | select(.rejected == $b and .running == $r and
	  (.reason | test("pipelines\\[0\\]\\.stages\\[1\\]\\.aggregation")))] | length == 3' >/dev/null ||
	it_fail "revision $bad_rev was not refused by every node with its field named: $(members_json)"
it_log "revision $bad_rev refused by 3 nodes: $(members_json | jq -r '.members[0].reason')"
# Back to a good one (a revision after the bad one).
out=$(ctlc apply "$IT_WORK/cluster.yaml") || it_fail "apply: $out"
rev2=$(sed -n 's/^applied: .* revision \([0-9]*\)$/\1/p' <<<"$out")
wait_running "$rev2" 3 10

# ------------------------------------------------------------- traffic
gen=$IT_WORK/sluicegen.json
fcgen=$IT_WORK/sluicegen-factcheck.json
ip netns exec "${SL_CL_NS[1]}" "$SLUICEGEN" --server "$P.1.1:7700" --bind "$P.1.10" \
	--pipeline 1 --tenant 1 --seed 7 --json --quiet --streams 8 --rate 800 \
	--fragments-per-request 4 --tokens-per-fragment 4 --duration 12 \
	--drain-ms 4000 --expect upper,rot13 >"$gen" 2>"$IT_WORK/sluicegen.err" &
gen_pid=$!
ip netns exec "${SL_CL_NS[1]}" "$SLUICEGEN" --mode pipeline --server "$P.1.1:7700" \
	--bind "$P.1.11" --pipeline 2 --tenant 1 --request-rate 6 --arrival poisson \
	--duration 12 --drain-ms 8000 --seed 7 --dump "$IT_WORK/results.tsv" \
	--json --quiet >"$fcgen" 2>"$IT_WORK/sluicegen-factcheck.err" &
fcgen_pid=$!
sleep 2.5

# (a) A change through etcd: a third draft instance on node 2.
write_config $'\n          - {name: d2b, address: "'"$P"'.2.17:7901", node: n2}' >"$IT_WORK/cluster2.yaml"
t0=$(date +%s%N)
out=$(ctlc apply "$IT_WORK/cluster2.yaml") || it_fail "apply: $out"
rev3=$(sed -n 's/^applied: .* revision \([0-9]*\)$/\1/p' <<<"$out")
wait_running "$rev3" 3 5
t1=$(date +%s%N)
it_log "(a) revision $rev3 (a third draft instance) runs on 3 nodes $(((t1 - t0) / 1000000)) ms after the apply began"

sleep 2
# (b) Node 3's sluiced killed: its lease expires, it leaves.
kill -KILL "${SL_CL_NODE_PID[3]}"
wait "${SL_CL_NODE_PID[3]}" 2>/dev/null || true
SL_CL_NODE_PID[3]=
rm -rf "/var/run/dpdk/$IT_EAL_PREFIX-n3"
t0=$(date +%s%N)
for ((i = 0; i < 300; i++)); do
	members_json | jq -e '[.members[].node] | sort == ["n1", "n2"]' >/dev/null && break
	sleep 0.02
done
t1=$(date +%s%N)
members_json | jq -e '[.members[].node] | sort == ["n1", "n2"]' >/dev/null ||
	it_fail "n3 still a member 6 s after its death: $(members_json)"
gone_ms=$(((t1 - t0) / 1000000))
((gone_ms <= TTL * 1000 + 1000)) || it_fail "n3 left after $gone_ms ms (lease TTL $TTL s + 1 s)"
for k in 1 2; do
	for ((i = 0; i < 100; i++)); do
		node_stats "$k" | jq -e '.cluster.members == 2' >/dev/null && break
		sleep 0.02
	done
	node_stats "$k" | jq -e '.cluster.members == 2' >/dev/null ||
		it_fail "node $k still counts n3: $(node_stats "$k" | jq -c '.cluster')"
done
it_log "(b) n3 killed: gone from etcd and from nodes 1 and 2 after $gone_ms ms (TTL $TTL s)"

sleep 1.5
# (c) An etcd member stopped: the first endpoint of every node.
sl_cl_etcd_stop 1
it_log "(c) etcd member e1 stopped"

rc=0
wait "$gen_pid" || rc=$?
it_log "chain: sluicegen (exit $rc): $(jq -c '{requests, completed, lost, duplicated, misordered, corrupted, aborted, aborted_by_reason, p99_us}' "$gen" 2>/dev/null || cat "$gen")"
rc=0
wait "$fcgen_pid" || rc=$?
it_log "factcheck: sluicegen (exit $rc): $(jq -c '{requests, completed, lost, duplicated, misordered, aborted, aborted_by_reason, cut_off, p50_us, p99_us}' "$fcgen" 2>/dev/null || cat "$fcgen")"

# ------------------------------------------------------------- verdicts
for k in 1 2; do node_stats "$k" >"$IT_WORK/n$k-final.json"; done
it_expect "$gen" '.requests >= 1000 and .lost == 0 and .duplicated == 0 and
	.misordered == 0 and .corrupted == 0 and .completed + .aborted == .requests' \
	"a request was lost or damaged"
# Streams through the dead node end ENGINE (its instances found dead) or
# LOST (a gap on the path that died, never repaired).
it_expect "$gen" '(.aborted_by_reason // {}) | to_entries | all(.key == "ENGINE" or .key == "LOST")' \
	"aborts other than ENGINE or LOST: $(jq -c '.aborted_by_reason' "$gen")"
it_expect "$fcgen" '.requests >= 50 and .lost == 0 and .duplicated == 0 and
	.misordered == 0 and .corrupted == 0 and .cut_off == 0 and
	.completed + .aborted == .requests and .completed > 0' \
	"a question was lost or damaged"
it_expect "$fcgen" '(.aborted_by_reason // {}) | to_entries | all(.key == "ENGINE" or .key == "LOST")' \
	"questions aborted other than ENGINE or LOST: $(jq -c '.aborted_by_reason' "$fcgen")"
for k in 1 2; do
	it_expect "$IT_WORK/n$k-final.json" \
		'.cluster.revision == $r and .cluster.connected and .cluster.members == 2' \
		"node $k: $(jq -c '.cluster' "$IT_WORK/n$k-final.json")" --argjson r "$rev3"
done
it_expect "$IT_WORK/n2-stats.json" '.impair.rx.dropped + .impair.tx.dropped > 0' \
	"node 2's injector dropped nothing: $(jq -c '.impair' "$IT_WORK/n2-stats.json")"
it_expect "$IT_WORK/n2-final.json" '.counters.sluice_relayed_in > 0 and
	.counters.sluice_relayed_out > 0' \
	"node 2 relayed nothing: $(jq -c '.counters | with_entries(select(.key | test("relay")))' "$IT_WORK/n2-final.json")"
members_json | jq -e --argjson r "$rev3" '[.members[] | select(.running == $r)] | length == 2' >/dev/null ||
	it_fail "the members do not all run $rev3: $(members_json)"

# (d) etcd lost altogether: the nodes serve the revision they run and say
# so; when etcd is back, their leases have expired and they join again.
sl_cl_etcd_stop 2
sl_cl_etcd_stop 3
sleep $((TTL + 1)).5
for k in 1 2; do
	node_stats "$k" >"$IT_WORK/n$k-lost.json"
	it_expect "$IT_WORK/n$k-lost.json" '.cluster.revision == $r and (.cluster.connected | not)' \
		"node $k does not say it lost etcd: $(jq -c '.cluster' "$IT_WORK/n$k-lost.json")" --argjson r "$rev3"
done
gen2=$IT_WORK/sluicegen-lost.json
ip netns exec "${SL_CL_NS[1]}" "$SLUICEGEN" --server "$P.1.1:7700" --bind "$P.1.10" \
	--pipeline 1 --tenant 1 --seed 8 --json --quiet --check --streams 4 --rate 400 \
	--fragments-per-request 4 --tokens-per-fragment 4 --duration 2 \
	--drain-ms 3000 --expect upper,rot13 >"$gen2" 2>>"$IT_WORK/sluicegen.err" ||
	it_fail "traffic without etcd: $(cat "$gen2")"
it_expect "$gen2" '.requests >= 100 and .completed == .requests and .lost == 0' \
	"traffic without etcd was not whole: $(jq -c . "$gen2")"
it_log "(d) etcd lost: nodes 1 and 2 serve revision $rev3 (connected false), $(jq '.completed' "$gen2") requests whole"
sl_cl_etcd_start 2
sl_cl_etcd_start 3
for k in 1 2; do
	for ((i = 0; i < 500; i++)); do
		node_stats "$k" | jq -e '.cluster.connected' >/dev/null && break
		sleep 0.02
	done
	node_stats "$k" >"$IT_WORK/n$k-back.json"
	it_expect "$IT_WORK/n$k-back.json" '.cluster.connected and .cluster.revision == $r' \
		"node $k not back: $(jq -c '.cluster' "$IT_WORK/n$k-back.json")" --argjson r "$rev3"
done
for ((i = 0; i < 250; i++)); do
	members_json 2>/dev/null | jq -e '[.members[].node] | sort == ["n1", "n2"]' >/dev/null && break
	sleep 0.02
done
members_json | jq -e '[.members[].node] | sort == ["n1", "n2"]' >/dev/null ||
	it_fail "nodes 1 and 2 did not join again: $(members_json 2>&1)"
it_log "(d) etcd back: nodes 1 and 2 joined again"

for k in 1 2; do
	rc=0
	sl_stop "${SL_CL_NODE_PID[k]}" 10 || rc=$?
	SL_CL_NODE_PID[k]=
	[[ $rc -eq 0 ]] || it_fail "node $k exited $rc on SIGTERM"
	it_expect "$IT_WORK/n$k-stats.json" '.final == true and .mbufs.in_use == .mbufs.in_use_start' \
		"node $k: mbufs leaked: $(jq -c '.mbufs' "$IT_WORK/n$k-stats.json")"
done
members_json | jq -e '.members == []' >/dev/null ||
	it_fail "members left behind after the nodes stopped: $(members_json)"
it_log "node 2 relayed $(jq '.counters.sluice_relayed_in' "$IT_WORK/n2-final.json") in, $(jq '.counters.sluice_relayed_out' "$IT_WORK/n2-final.json") out; its injector dropped $(jq '.impair.rx.dropped + .impair.tx.dropped' "$IT_WORK/n2-stats.json")"
it_log "PASS: chain $(jq '.completed' "$gen") completed, $(jq -c '.aborted_by_reason' "$gen") aborted; factcheck $(jq '.completed' "$fcgen") completed, $(jq -c '.aborted_by_reason' "$fcgen") aborted; none lost; revision $rev3 on every node; node 1 found $(jq '.liveness.instances_died' "$IT_WORK/n1-stats.json") instances dead (nodes 2 and 3's 21 until they joined, node 3's 10 when it died), $(jq '.liveness.instances_revived' "$IT_WORK/n1-stats.json") revived"
