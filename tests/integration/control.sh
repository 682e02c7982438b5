#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# control.sh - every request kind of the control API, through sluicectl,
# against a real sluiced running tools/pipelines/chain.yaml with its four
# engines, with the control loop on one backend (run once per backend).
#
# Asserts exact output lines and exit statuses of: version (generation 1),
# get (pipeline demo, 2 stages; an unknown name), instances (4 rows, and
# filtered), stats --json (drops_total 0, 4 instances), apply --dry-run
# (generation unchanged), apply of files the compiler must refuse (an edge
# to a missing stage, a cycle, a stage without instances, aggregation 3 on
# a depth-1 stage, a fixed field changed) with `get` afterwards showing
# the running config untouched; add with a duplicate name, a duplicate
# address, an unknown stage and pipeline; drain and remove of an unknown
# instance; add, drain, remove that succeed (one generation each), the
# last active instance refused; usage and unreachable exit codes; the TCP
# endpoint with the right token, a wrong one and none.
#
# usage: control.sh WORK_BASE uring|epoll
#   (binaries in SLUICED SLUICE_ENGINE SLUICECTL NETNS_SH)

set -euo pipefail
backend=${2:-epoll}
case $backend in
uring | epoll) ;;
*)
	echo "control.sh: backend must be uring or epoll, not $backend" >&2
	exit 1
	;;
esac
IT_NAME=control-$backend
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
it_init "$1"
it_need_bin SLUICED SLUICE_ENGINE SLUICECTL NETNS_SH

token=it-token-$$-$RANDOM
tcp_port=$(it_free_port)
it_control_setup "$backend" --control-tcp "$tcp_port" --token "$token"
it_chain
it_ctl_wait

# The loop runs on the backend asked for.
case $backend in
uring) want_loop='sluiced: sl_loop: io_uring backend (requested, ' ;;
epoll) want_loop='sluiced: sl_loop: epoll backend (requested)' ;;
esac
grep -qF "$want_loop" "$IT_WORK/sluiced.err" ||
	it_fail "sluiced's log does not say '$want_loop'"
P=$IT_PREFIX

# expect_out TEXT: CTL_OUT must be exactly TEXT.
expect_out() {
	[[ $CTL_OUT == "$1" ]] || {
		diff <(printf '%s\n' "$1") <(printf '%s\n' "$CTL_OUT") >&2 || true
		it_fail "sluicectl output differs (- want, + got)"
	}
}

# ------------------------------------------------------------------ reads
it_ctl_ok version
want_version='^sluicectl 0\.1\.0'$'\n''sluiced 0\.1\.0 \(wire 1, generation 1, up 0h00m[0-9][0-9]s\)$'
[[ $CTL_OUT =~ $want_version ]] ||
	it_fail "version: unexpected output: $CTL_OUT"

running_config="pipeline demo (id 1): 2 stages, 3 edges
  stage 1 draft: engine, aggregation 0, depth 1, round_robin
    instance draft/0 $P.11:7801
    instance draft/1 $P.12:7801
  stage 2 polish: engine, aggregation 1, depth 1, round_robin
    instance polish/0 $P.13:7801
    instance polish/1 $P.14:7801
  edge client -> draft: stream, depth 1->1
  edge draft -> polish: stream, depth 1->1
  edge polish -> client: stream, depth 1->1"
it_ctl_ok get
expect_out "$running_config"
it_ctl_ok get demo
expect_out "$running_config"
it_ctl_refused 1 'sluicectl: get: name: no pipeline named "nope"' get nope

header='PIPELINE     STAGE        INSTANCE         ADDRESS               STREAMS  ROUTED  FRAGMENTS STATE'
row() { # STAGE NAME ADDRESS [STATE]
	printf 'demo         %-12s %-16s %-21s %7d %7d %10d %s' "$1" "$2" "$3" 0 0 0 "${4:-active}"
}
it_ctl_ok instances
expect_out "$header
$(row draft draft/0 "$P.11:7801")
$(row draft draft/1 "$P.12:7801")
$(row polish polish/0 "$P.13:7801")
$(row polish polish/1 "$P.14:7801")"
it_ctl_ok instances --pipeline demo --stage polish
expect_out "$header
$(row polish polish/0 "$P.13:7801")
$(row polish polish/1 "$P.14:7801")"
it_ctl_ok instances --pipeline nope
expect_out "$header"

stats=$IT_WORK/stats-start.json
it_ctl_stats "$stats"
it_expect "$stats" '.generation == 1 and .drops_total == 0 and
	([.drops[]] | add) == 0 and (.drops | length) > 0' \
	"stats at start: generation 1, no drops"
it_expect "$stats" '(.instances | length) == 4 and
	([.instances[].instance] == ["draft/0", "draft/1", "polish/0", "polish/1"]) and
	all(.instances[]; .fragments == 0 and .streams == 0 and .draining == false)' \
	"stats at start: the 4 instances of chain.yaml, idle"
it_expect "$stats" '.mbufs.in_use == .mbufs.in_use_start and .flows.active == 0' \
	"stats at start: mbufs or flows in use"
it_ctl_ok stats
[[ $CTL_OUT == "generation 1  rx "* && $CTL_OUT == *$'\ndrops: 0\n'* ]] ||
	it_fail "stats: unexpected text: $CTL_OUT"
it_ctl_ok top --iterations 1
[[ $CTL_OUT == *"sluice top: generation 1, every 1.0 s (q to quit)"* &&
	$(grep -c '^demo ' <<<"$CTL_OUT") -eq 4 ]] ||
	it_fail "top --iterations 1: unexpected screen: $CTL_OUT"

# ------------------------------------------------------------------ apply
it_ctl_ok apply -f "$IT_CONFIG" --dry-run
expect_out "$IT_CONFIG: valid (dry run, generation 1 stays in use)
  pipeline demo (id 1): 2 stages, 3 edges"
[[ $(it_generation) -eq 1 ]] || it_fail "a dry run changed the generation"

# A file with edges, like chain.yaml but for the fault it is named after.
bad_file() { # NAME POLISH_STAGE_LINE EDGE_LINES...
	local name=$1 polish=$2 f=$IT_WORK/$1.yaml
	shift 2
	{
		sed -n '/^sluiced:/p; /^flows:/p; /^clients:/p' "$IT_CONFIG"
		cat <<EOF
pipelines:
  - name: demo
    id: 1
    stages:
      - {name: draft, instances: [$P.11:7801, $P.12:7801]}
      - $polish
EOF
		if (($# > 0)); then
			echo "    edges:"
			printf '      - %s\n' "$@"
		fi
	} >"$f"
}
polish_ok="{name: polish, aggregation: 1, instances: [$P.13:7801, $P.14:7801]}"
bad_file missing-stage "$polish_ok" '{from: client, to: draft}' \
	'{from: draft, to: shine}' '{from: polish, to: client}'
bad_file cycle "$polish_ok" '{from: client, to: draft}' \
	'{from: draft, to: polish}' '{from: polish, to: draft}' '{from: polish, to: client}'
bad_file no-instances '{name: polish, aggregation: 1, instances: []}'
bad_file no-instances-key '{name: polish, aggregation: 1}'
bad_file aggregation "{name: polish, aggregation: 3, instances: [$P.13:7801, $P.14:7801]}" \
	'{from: client, to: draft}' '{from: draft, to: polish}' '{from: polish, to: client}'
sed 's/size: 65536/size: 4096/' "$IT_CONFIG" >"$IT_WORK/flows-size.yaml"
grep -q 'size: 4096' "$IT_WORK/flows-size.yaml" || it_fail "chain.yaml has no flows.size 65536"

W=$IT_WORK
while IFS='|' read -r name want; do
	for mode in --dry-run ""; do
		# shellcheck disable=SC2086 # mode is one word or none
		it_ctl_refused 1 "sluicectl: apply: $want" apply -f "$W/$name.yaml" $mode
	done
	it_ctl_ok get
	expect_out "$running_config"
	[[ $(it_generation) -eq 1 ]] || it_fail "refused $name.yaml changed the generation"
done <<EOF
missing-stage|$W/missing-stage.yaml:12: pipelines[0].edges[1].to: no stage named "shine" (a stage's name or client)
cycle|$W/cycle.yaml:13: pipelines[0].edges[2]: cycle through stage "draft": draft -> polish -> draft
no-instances|$W/no-instances.yaml:9: pipelines[0].stages[1].instances: must have at least 1 item
no-instances-key|$W/no-instances-key.yaml:9: pipelines[0].stages[1].instances: required field missing
aggregation|$W/aggregation.yaml:9: pipelines[0].stages[1].aggregation: must be 0..1 for a stage receiving depth 1 streams, got 3
flows-size|flows: size and reorder_window are fixed while sluiced runs
EOF
it_ctl_refused 2 "sluicectl: apply: -f FILE is required" apply
it_ctl_refused 2 "sluicectl: apply: cannot read $W/absent.yaml: No such file or directory" \
	apply -f "$W/absent.yaml"

# ------------------------------------------------------- instance edits
it_ctl_refused 1 "sluicectl: add: instance: polish/0 already exists in polish" \
	add --pipeline demo --stage polish --name polish/0 --address "$P.15:7801"
it_ctl_refused 1 "sluicectl: add: address: already used by polish/1" \
	add --pipeline demo --stage polish --name extra --address "$P.14:7801"
it_ctl_refused 1 'sluicectl: add: stage: no stage named "shine" in demo' \
	add --pipeline demo --stage shine --name extra --address "$P.15:7801"
it_ctl_refused 1 'sluicectl: add: pipeline: no pipeline named "nope"' \
	add --pipeline nope --stage polish --name extra --address "$P.15:7801"
it_ctl_refused 1 'sluicectl: drain: instance: no instance named "ghost" in polish' \
	drain --pipeline demo --stage polish --name ghost
it_ctl_refused 1 'sluicectl: remove: instance: no instance named "ghost" in polish' \
	remove --pipeline demo --stage polish --name ghost
it_ctl_refused 2 "sluicectl: add: --address IP:PORT is required" \
	add --pipeline demo --stage polish --name extra
it_ctl_refused 2 "sluicectl: drain: --name is required" \
	drain --pipeline demo --stage polish
it_ctl_ok get
expect_out "$running_config"
[[ $(it_generation) -eq 1 ]] || it_fail "refused edits changed the generation"

# Edits that succeed: one generation each.
it_ctl_ok add --pipeline demo --stage polish --name extra --address "$P.15:7801"
expect_out "added demo/polish/extra $P.15:7801"
[[ $(it_generation) -eq 2 ]] || it_fail "add: generation is not 2"
it_ctl_ok instances --stage polish
expect_out "$header
$(row polish polish/0 "$P.13:7801")
$(row polish polish/1 "$P.14:7801")
$(row polish extra "$P.15:7801")"
it_ctl_ok drain --pipeline demo --stage polish --name extra
expect_out "draining demo/polish/extra $P.15:7801 (0 streams in flight)"
it_ctl_ok drain --pipeline demo --stage polish --name polish/0
expect_out "draining demo/polish/polish/0 $P.13:7801 (0 streams in flight)"
[[ $(it_generation) -eq 4 ]] || it_fail "drain: generation is not 4"
it_ctl_refused 1 "sluicectl: drain: instance: polish/1 is the last instance of polish taking new streams" \
	drain --pipeline demo --stage polish --name polish/1
it_ctl_refused 1 "sluicectl: remove: instance: polish/1 is the last instance of polish taking new streams" \
	remove --pipeline demo --stage polish --name polish/1
it_ctl_ok instances --stage polish
expect_out "$header
$(row polish polish/0 "$P.13:7801" draining)
$(row polish polish/1 "$P.14:7801")
$(row polish extra "$P.15:7801" draining)"
it_ctl_ok remove --pipeline demo --stage polish --name extra
# A removed instance is described as it was: draining, 0 streams left.
expect_out "removed demo/polish/extra $P.15:7801 (0 streams in flight)"
[[ $(it_generation) -eq 5 ]] || it_fail "remove: generation is not 5"
# Applying the file again brings polish/0 back (not draining).
it_ctl_ok apply -f "$IT_CONFIG"
expect_out "$IT_CONFIG: applied as generation 6
  pipeline demo (id 1): 2 stages, 3 edges"
it_ctl_ok get
expect_out "$running_config"
it_ctl_ok instances
expect_out "$header
$(row draft draft/0 "$P.11:7801")
$(row draft draft/1 "$P.12:7801")
$(row polish polish/0 "$P.13:7801")
$(row polish polish/1 "$P.14:7801")"

# ------------------------------------------------------------------ TCP
tcp=(--tcp "127.0.0.1:$tcp_port")
rc=0
out=$("$SLUICECTL" "${tcp[@]}" --token "$token" get 2>"$IT_WORK/tcp.err") || rc=$?
[[ $rc -eq 0 && ! -s $IT_WORK/tcp.err ]] ||
	it_fail "get over TCP with the token: exit $rc: $(cat "$IT_WORK/tcp.err")"
[[ $out == "$running_config" ]] || it_fail "get over TCP: unexpected output: $out"
rc=0
out=$(SLUICE_TOKEN=$token "$SLUICECTL" "${tcp[@]}" version 2>"$IT_WORK/tcp.err") || rc=$?
[[ $rc -eq 0 && $out == *"(wire 1, generation 6, up "* ]] ||
	it_fail "version over TCP with \$SLUICE_TOKEN: exit $rc: $out $(cat "$IT_WORK/tcp.err")"
rc=0
out=$("$SLUICECTL" "${tcp[@]}" --token "wrong-$token" get 2>"$IT_WORK/tcp.err") || rc=$?
err=$(cat "$IT_WORK/tcp.err")
[[ $rc -eq 1 && -z $out && $err == "sluicectl: get: token: wrong token" ]] ||
	it_fail "get over TCP with a wrong token: exit $rc, stdout '$out', stderr '$err'"
rc=0
out=$(SLUICE_TOKEN='' "$SLUICECTL" "${tcp[@]}" get 2>"$IT_WORK/tcp.err") || rc=$?
err=$(cat "$IT_WORK/tcp.err")
[[ $rc -eq 2 && -z $out && $err == "sluicectl: --tcp needs --token (or SLUICE_TOKEN)" ]] ||
	it_fail "get over TCP without a token: exit $rc, stdout '$out', stderr '$err'"
grep -qF "api: listening on 127.0.0.1:$tcp_port (token required)" "$IT_WORK/sluiced.err" ||
	it_fail "sluiced did not log its TCP listener"

# ---------------------------------------------------------- unreachable
rc=0
"$SLUICECTL" --socket "$IT_WORK/absent.sock" get >/dev/null 2>"$IT_WORK/absent.err" || rc=$?
[[ $rc -eq 3 && $(cat "$IT_WORK/absent.err") == "sluicectl: get: cannot connect to $IT_WORK/absent.sock: No such file or directory" ]] ||
	it_fail "unreachable socket: exit $rc: $(cat "$IT_WORK/absent.err")"

# The socket answered every request and still does; sluiced ends cleanly
# and takes its socket file with it.
[[ $(it_generation) -eq 6 ]] || it_fail "generation is not 6 at the end"
it_stop_all
[[ ! -e $IT_SOCK ]] || it_fail "sluiced left its socket file $IT_SOCK"
it_expect "$IT_WORK/sluiced-stats.json" '.mbufs.in_use == .mbufs.in_use_start' \
	"mbufs leaked"
it_log "PASS: $(grep -c '^\$ sluicectl' "$IT_WORK/ctl-history.log") sluicectl calls on $backend"
