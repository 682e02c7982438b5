#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# restart.sh - runtime changes survive a restart of sluiced (--state-dir).
#
#   1. sluiced on the chain with a guard; through the API: apply a file
#      (polish on .13 only), add polish/extra on .14, add a guard rule,
#      drain draft/1 (generations 2..5).
#   2. SIGTERM (exit 0), start again with the same --config: one log line
#      says what was restored and from where; `get`, `instances`, `guard
#      list` print exactly what they printed before; `version` says
#      generation 5; `stats --json` has restored {generation 5, the applied
#      file, 3 edits}. Requests flow byte for byte through polish/0 and
#      extra, none to the drained draft/1.
#   3. A restored state that no longer compiles (its list file deleted)
#      refuses the start with the state file and the reason, exit 1.
#   4. The startup file edited: it wins, the old state is set aside with
#      one log line, generation 1.
#
# usage: restart.sh WORK_BASE
#   (binaries in SLUICED SLUICEGEN SLUICE_ENGINE SLUICECTL NETNS_SH)

set -euo pipefail
IT_NAME=restart
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
it_init "$1"
it_need_bin SLUICED SLUICEGEN SLUICE_ENGINE SLUICECTL NETNS_SH
P=$IT_PREFIX
state=$IT_WORK/state/state.pb

# The chain of tools/pipelines/chain.yaml (pipeline 1, the traffic), and a
# second pipeline whose output is guarded (a guard re-cuts the fragments
# it holds back, which sluicegen's per-fragment check would not expect).
write_config() { # FILE POLISH_INSTANCES
	cat >"$1" <<EOF
sluiced: {address: $P.1, port: $IT_PORT}
flows: {size: 65536, idle_timeout_ms: 5000, reorder_window: 16}
clients: [$P.0/24]
guards:
  - name: never
    action: block
    literals: [qqzx-never-seen-1]
pipelines:
  - name: demo
    id: 1
    stages:
      - {name: draft, instances: [$P.11:7801, $P.12:7801]}
      - {name: polish, aggregation: 1, instances: [$2]}
  - name: side
    id: 2
    stages:
      - {name: echo, instances: [$P.11:7801]}
    edges:
      - {from: client, to: echo}
      - {from: echo, to: client, guard: never}
EOF
}

IT_CONFIG=$IT_WORK/sluice.yaml
write_config "$IT_CONFIG" "$P.13:7801, $P.14:7801"
write_config "$IT_WORK/applied.yaml" "$P.13:7801"
it_control_setup epoll
it_netns_up
it_engine draft/0 "$P.11:7801" upper
it_engine draft/1 "$P.12:7801" upper
it_engine polish/0 "$P.13:7801" rot13
it_engine polish/1 "$P.14:7801" rot13
it_wait_udp "$P.11:7801" "$P.12:7801" "$P.13:7801" "$P.14:7801"
it_sluiced "$IT_CONFIG"
it_ctl_wait

# ------------------------------------------------------ 1. the changes
it_ctl_ok apply -f "$IT_WORK/applied.yaml"
it_ctl_ok add --pipeline demo --stage polish --name extra --address "$P.14:7801"
it_ctl_ok guard add --guard never --literal qqzx-never-seen-2
it_ctl_ok drain --pipeline demo --stage draft --name draft/1
[[ $(it_generation) -eq 5 ]] || it_fail "generation is not 5 after four changes"
it_ctl_ok get
before_get=$CTL_OUT
it_ctl_ok instances
before_instances=$CTL_OUT
it_ctl_ok guard list
before_guards=$CTL_OUT
[[ $before_instances == *"polish       extra "* && $before_instances == *"draft/1"*draining* ]] ||
	it_fail "instances before the restart: $before_instances"
[[ -f $state && $(stat -c %a "$state") == 600 ]] || it_fail "no private $state"

# ------------------------------------------------------ 2. the restart
rc=0
it_stop "$SL_SLUICED_PID" sluiced || rc=$?
SL_SLUICED_PID=
[[ $rc -eq 0 ]] || it_fail "sluiced exited $rc on SIGTERM"
mv "$IT_WORK/sluiced.err" "$IT_WORK/sluiced-1.err"
mv "$IT_WORK/sluiced.log" "$IT_WORK/sluiced-1.log"
it_sluiced "$IT_CONFIG"
it_ctl_wait
want="sluiced: restored generation 5 from $state: $IT_WORK/applied.yaml and 3 edits"
grep -qxF "$want" "$IT_WORK/sluiced.err" || it_fail "no line '$want' in sluiced.err"

expect_same() { # WHAT BEFORE
	[[ $CTL_OUT == "$2" ]] || {
		diff <(printf '%s\n' "$2") <(printf '%s\n' "$CTL_OUT") >&2 || true
		it_fail "$1 differs after the restart (- before, + after)"
	}
}
it_ctl_ok get
expect_same get "$before_get"
it_ctl_ok instances
expect_same instances "$before_instances"
it_ctl_ok guard list
expect_same "guard list" "$before_guards"
[[ $(it_generation) -eq 5 ]] || it_fail "generation after the restart is not 5"
it_ctl_stats "$IT_WORK/stats-restored.json"
it_expect "$IT_WORK/stats-restored.json" ".restored == {\"path\": \"$state\",
	\"generation\": 5, \"config\": \"$IT_WORK/applied.yaml\", \"edits\": 3}" \
	"stats: restored is $(jq -c .restored "$IT_WORK/stats-restored.json")"
it_ctl_ok stats
[[ $CTL_OUT == *$'\n'"restored: generation 5 from $state ($IT_WORK/applied.yaml and 3 edits)"$'\n'* ]] ||
	it_fail "stats does not say what was restored: $CTL_OUT"

gen=$IT_WORK/sluicegen.json
rc=0
it_gen "$gen" --streams 16 --rate 3000 --fragments-per-request 8 \
	--tokens-per-fragment 4 --duration 3 --drain-ms 1500 \
	--expect upper,rot13 --check || rc=$?
it_log "sluicegen: $(jq -c '{requests, completed, lost, corrupted, aborted}' "$gen" 2>/dev/null || cat "$gen")"
[[ $rc -eq 0 ]] || it_fail "sluicegen --check exited $rc"
it_expect "$gen" '.lost == 0 and .corrupted == 0 and .aborted == 0 and
	.completed == .requests and .requests >= 100' "requests lost or damaged"
it_ctl_stats "$IT_WORK/stats-traffic.json"
it_expect "$IT_WORK/stats-traffic.json" '
	([.instances[] | select(.instance == "draft/1") | .streams_routed] == [0]) and
	([.instances[] | select(.instance == "draft/0") | .streams_routed] | add) == ([.instances[] | select(.stage == "polish") | .streams_routed] | add) and
	([.instances[] | select(.instance == "extra") | .streams_routed] | add) > 0 and
	([.instances[] | select(.instance == "polish/0") | .streams_routed] | add) > 0 and
	(.instances | length) == 5' \
	"routing after the restart: $(jq -c '[.instances[] | {instance, streams_routed}]' "$IT_WORK/stats-traffic.json")"

# ---------------------------------------- 3. a state that no longer compiles
cat >"$IT_WORK/authors.txt" <<EOF
qqzx-never-seen-3
EOF
chmod 644 "$IT_WORK/authors.txt"
sed 's/literals: \[qqzx-never-seen-1\]/literals_file: authors.txt/' "$IT_CONFIG" >"$IT_WORK/lists.yaml"
it_ctl_ok apply -f "$IT_WORK/lists.yaml"
it_ctl_ok guard list
[[ $CTL_OUT == *'"qqzx-never-seen-3"'* ]] || it_fail "the list file's literal is not in guard list: $CTL_OUT"
rc=0
it_stop "$SL_SLUICED_PID" sluiced || rc=$?
SL_SLUICED_PID=
[[ $rc -eq 0 ]] || it_fail "sluiced exited $rc on SIGTERM"
rm "$IT_WORK/authors.txt"
rc=0
timeout 30 "$SLUICED" --config "$IT_CONFIG" --iface "$HOST_IF" --control none \
	--state-dir "$IT_WORK/state" -- --file-prefix "$IT_EAL_PREFIX" \
	>"$IT_WORK/refused.log" 2>"$IT_WORK/refused.err" || rc=$?
want="sluiced: state: $state: the applied file no longer compiles: $IT_WORK/lists.yaml:7: guards[0].literals_file: \"authors.txt\": No such file or directory"
[[ $rc -eq 1 && $(cat "$IT_WORK/refused.err") == "$want" ]] ||
	it_fail "a state that does not compile: exit $rc, stderr
  got:  $(cat "$IT_WORK/refused.err")
  want: $want"
[[ ! -s $IT_WORK/refused.log ]] || it_fail "sluiced started anyway: $(cat "$IT_WORK/refused.log")"

# --------------------------------------- 4. the startup file was edited
echo "# edited by the operator" >>"$IT_CONFIG"
mv "$IT_WORK/sluiced.err" "$IT_WORK/sluiced-2.err"
mv "$IT_WORK/sluiced.log" "$IT_WORK/sluiced-2.log"
it_sluiced "$IT_CONFIG"
it_ctl_wait
want="sluiced: state: state $state was made from another version of $IT_CONFIG: starting from $IT_CONFIG; generation 6 with 0 edits kept in $IT_WORK/state/state.pb.superseded"
grep -qxF "$want" "$IT_WORK/sluiced.err" || it_fail "no line '$want' in sluiced.err"
[[ $(it_generation) -eq 1 ]] || it_fail "the edited file did not start at generation 1"
it_ctl_ok instances
[[ $(grep -c '^demo ' <<<"$CTL_OUT") -eq 4 && $CTL_OUT != *draining* ]] ||
	it_fail "instances are not the edited file's: $CTL_OUT"
it_stop_all
it_log "PASS: 4 changes kept across a restart, traffic after it byte-exact; a broken state refused; an edited file wins"
