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
# last active instance refused; usage and unreachable exit codes.
#
# --mbufs: out of range refused at start; 16383 is the pool's capacity.
# Security: --token on sluiced's command line refused, a token file others
# can read refused, a short SLUICE_TOKEN refused; the TCP endpoint with the
# admin token file, a wrong one and none; the read-only token reads and is
# refused every change (PERMISSION_DENIED, the op named); a unix peer other
# than root (nobody, through a 0666 socket) likewise; a frame over 4 KiB
# before a token is answered unread and closed; a 200 KiB apply over TCP
# passes (sluicectl authenticates first); pipeline files naming
# /etc/shadow, a link to /dev/zero, a FIFO, `..` in literals_file are
# refused at once with the field named, and the daemon still stops on
# SIGTERM; 2000 connections to the metrics port leave the unix socket and
# TCP usable (the metrics listener's own limit turns them away); the audit
# log has one line per change asked for, with who, what and the result.
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

# ------------------------------------------------------- tokens at start
# secret_file NAME TEXT MODE: a token file owned by root.
secret_file() {
	printf '%s\n' "$2" >"$IT_WORK/$1"
	chmod "$3" "$IT_WORK/$1"
	echo "$IT_WORK/$1"
}
token=it-token-$$-$RANDOM-$RANDOM
ro_token=it-ro-token-$$-$RANDOM-$RANDOM
token_file=$(secret_file admin.token "$token" 600)
ro_token_file=$(secret_file ro.token "$ro_token" 600)
# refused_start WANT_LINE SLUICED_ARGS...: exit 1 with exactly that line.
refused_start() {
	local want=$1 rc=0 err
	shift
	timeout 20 "$SLUICED" "$@" >/dev/null 2>"$IT_WORK/start.err" || rc=$?
	err=$(<"$IT_WORK/start.err")
	[[ $rc -eq 1 && $err == "$want" ]] ||
		it_fail "sluiced $*: exit $rc
  got:  $err
  want: $want"
}
it_chain_config "$IT_WORK/argv.yaml"
refused_start "sluiced: --token: a token on the command line is visible to every local user (ps, /proc/PID/cmdline); put it in a file only root can read and pass --token-file PATH, or set SLUICE_TOKEN" \
	--config "$IT_WORK/argv.yaml" --vdev net_null0 --control-tcp 1 --token "$token"
open_file=$(secret_file open.token "$token" 644)
refused_start "sluiced: --token-file $open_file: mode 0644 lets group or others read or change the token; chmod 600 $open_file" \
	--config "$IT_WORK/argv.yaml" --vdev net_null0 --control-tcp 1 --token-file "$open_file"
SLUICE_TOKEN=short refused_start "sluiced: SLUICE_TOKEN: 5 bytes: at least 16 (e.g. head -c 24 /dev/urandom | base64)" \
	--config "$IT_WORK/argv.yaml" --vdev net_null0 --control-tcp 1
refused_start "sluiced: --control-tcp needs a token: --token-file PATH or SLUICE_TOKEN" \
	--config "$IT_WORK/argv.yaml" --vdev net_null0 --control-tcp 1
refused_start 'sluiced: --mbufs: must be 8191..1048575, got "8190"' \
	--config "$IT_WORK/argv.yaml" --vdev net_null0 --mbufs 8190

tcp_port=$(it_free_port)
metrics_port=$(it_free_port)
((metrics_port != tcp_port)) || metrics_port=$((tcp_port + 1))
# The socket is open to every local user (0666): root administers, the
# others may only read.
it_control_setup "$backend" --control-tcp "$tcp_port" --token-file "$token_file" \
	--ro-token-file "$ro_token_file" --control-mode 0666 \
	--metrics "$metrics_port" --audit-log "$IT_WORK/audit.log" --mbufs 16383
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
it_expect "$stats" '.mbufs.capacity == 16383' "stats: the pool is not --mbufs 16383"
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
# Files a pipeline names are read beneath the config directory only, as
# regular files: the daemon reads nothing else for an API caller, and
# nothing blocks its control loop.
cfgdir=$(realpath "$IT_WORK")
guarded_file() { # NAME LITERALS_FILE
	{
		cat "$IT_CONFIG"
		cat <<EOF
guards:
  - name: g
    literals_file: $2
EOF
	} >"$W/$1.yaml"
}
ln -sfn /dev/zero "$W/zero"
ln -sfn /etc "$W/etc-link"
rm -f "$W/fifo"
mkfifo "$W/fifo"
lines=$(wc -l <"$IT_CONFIG")
guarded_file shadow /etc/shadow
guarded_file zero zero
guarded_file fifo fifo
guarded_file etc etc-link/shadow
guarded_file dotdot ../../../etc/shadow
field_line=$((lines + 3))
while IFS='|' read -r name value why; do
	it_ctl_refused 1 "sluicectl: apply: $W/$name.yaml:$field_line: guards[0].literals_file: \"$value\": $why" \
		apply -f "$W/$name.yaml"
done <<EOF
shadow|/etc/shadow|outside the config directory $cfgdir
zero|zero|is or goes through a symbolic link (not followed)
fifo|fifo|not a regular file
etc|etc-link/shadow|is or goes through a symbolic link (not followed)
dotdot|../../../etc/shadow|must not contain ".." (files are read from beneath the config directory $cfgdir)
EOF
it_ctl_ok guard list
[[ $CTL_OUT == "generation 1: no guards" ]] || it_fail "guard list after refused files: $CTL_OUT"
[[ $(it_generation) -eq 1 ]] || it_fail "a refused literals_file changed the generation"

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
# tcp_ctl OUT_VAR ERR_VAR RC_VAR ARGS...: sluicectl over TCP (no socket).
tcp_ctl() {
	local rc=0
	"$SLUICECTL" "${tcp[@]}" "$@" >"$IT_WORK/tcp.out" 2>"$IT_WORK/tcp.err" </dev/null || rc=$?
	TCP_RC=$rc
	TCP_OUT=$(<"$IT_WORK/tcp.out")
	TCP_ERR=$(<"$IT_WORK/tcp.err")
	echo "\$ sluicectl ${tcp[*]} $* -> $rc" >>"$IT_WORK/ctl-history.log"
}
tcp_ctl --token-file "$token_file" get
[[ $TCP_RC -eq 0 && -z $TCP_ERR && $TCP_OUT == "$running_config" ]] ||
	it_fail "get over TCP with the token file: exit $TCP_RC: $TCP_ERR $TCP_OUT"
SLUICE_TOKEN=$token tcp_ctl version
[[ $TCP_RC -eq 0 && $TCP_OUT == *"(wire 1, generation 6, up "* ]] ||
	it_fail "version over TCP with \$SLUICE_TOKEN: exit $TCP_RC: $TCP_OUT $TCP_ERR"
tcp_ctl --token-file "$(secret_file wrong.token "wrong-$token" 600)" get
[[ $TCP_RC -eq 1 && -z $TCP_OUT && $TCP_ERR == "sluicectl: get: token: wrong token" ]] ||
	it_fail "get over TCP with a wrong token: exit $TCP_RC, stdout '$TCP_OUT', stderr '$TCP_ERR'"
SLUICE_TOKEN='' tcp_ctl get
[[ $TCP_RC -eq 2 && -z $TCP_OUT && $TCP_ERR == "sluicectl: --tcp needs --token-file PATH (or SLUICE_TOKEN)" ]] ||
	it_fail "get over TCP without a token: exit $TCP_RC, stdout '$TCP_OUT', stderr '$TCP_ERR'"
tcp_ctl --token "$token" get
[[ $TCP_RC -eq 2 && $TCP_ERR == "sluicectl: --token: a token on the command line is visible to every local user (ps); use --token-file PATH or SLUICE_TOKEN" ]] ||
	it_fail "sluicectl --token: exit $TCP_RC: $TCP_ERR"
grep -qF "api: listening on 127.0.0.1:$tcp_port (token required; read-only token accepted)" "$IT_WORK/sluiced.err" ||
	it_fail "sluiced did not log its TCP listener"

# The read-only token reads and changes nothing.
tcp_ctl --token-file "$ro_token_file" instances
[[ $TCP_RC -eq 0 && $(grep -c '^demo ' <<<"$TCP_OUT") -eq 4 ]] ||
	it_fail "instances with the read-only token: exit $TCP_RC: $TCP_ERR"
while IFS='|' read -r op cmd args; do
	# shellcheck disable=SC2086 # args are words
	tcp_ctl --token-file "$ro_token_file" $args
	[[ $TCP_RC -eq 1 && -z $TCP_OUT && $TCP_ERR == "sluicectl: $cmd: $op needs the admin role; this caller is read-only" ]] ||
		it_fail "$op with the read-only token: exit $TCP_RC, stderr '$TCP_ERR'"
done <<EOF
apply|apply|apply -f $IT_CONFIG
add|add|add --pipeline demo --stage polish --name ro --address $P.16:7801
remove|remove|remove --pipeline demo --stage polish --name polish/0
drain|drain|drain --pipeline demo --stage polish --name polish/0
stats --reset|stats|stats --reset
guard add|guard add|guard add --guard g --literal x
EOF
# ... as does a unix peer other than root.
nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
rc=0
out=$("${nobody[@]}" "$SLUICECTL" --socket "$IT_SOCK" get 2>"$IT_WORK/nobody.err") || rc=$?
[[ $rc -eq 0 && $out == "$running_config" ]] ||
	it_fail "get as nobody: exit $rc: $(cat "$IT_WORK/nobody.err")"
rc=0
out=$("${nobody[@]}" "$SLUICECTL" --socket "$IT_SOCK" add --pipeline demo --stage polish \
	--name ro --address "$P.16:7801" 2>"$IT_WORK/nobody.err") || rc=$?
[[ $rc -eq 1 && -z $out && $(cat "$IT_WORK/nobody.err") == "sluicectl: add: add needs the admin role; this caller is read-only" ]] ||
	it_fail "add as nobody: exit $rc: $(cat "$IT_WORK/nobody.err")"
[[ $(it_generation) -eq 6 ]] || it_fail "a read-only caller changed the generation"

# A frame over 4 KiB before any token: answered unread, closed.
python3 - "$tcp_port" <<'EOF' || it_fail "a 5000-byte frame before a token was not refused"
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(struct.pack(">I", 5000) + b"x" * 64)
data = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
n = struct.unpack(">I", data[:4])[0]
assert len(data) == 4 + n, (len(data), n)
assert b"frame of 5000 bytes before authentication" in data, data
EOF
# A 200 KiB file over TCP: sluicectl authenticates with a small request.
{
	cat "$IT_CONFIG"
	for ((i = 0; i < 2500; i++)); do
		echo "# padding line $i: a pipeline file may carry long comments"
	done
} >"$W/big.yaml"
(($(stat -c %s "$W/big.yaml") > 150000)) || it_fail "big.yaml is not big"
tcp_ctl --token-file "$token_file" apply -f "$W/big.yaml"
[[ $TCP_RC -eq 0 && $TCP_OUT == "$W/big.yaml: applied as generation 7"* ]] ||
	it_fail "a 200 KiB apply over TCP: exit $TCP_RC: $TCP_ERR $TCP_OUT"

# 2000 scrapers hold the metrics port: the operator still gets in (one
# shared limit of 1024 connections would have locked them out).
python3 - "$metrics_port" 2000 "$IT_WORK/flood.ready" "$IT_WORK/flood.done" <<'EOF' &
import errno, os, resource, select, socket, sys, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
port, n, ready, done = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
# Keep n connections open, 32 connects in flight at a time (a burst would
# only overflow the listen backlog), replacing any the server closes.
poller = select.poll()
conns, t0, said = {}, time.time(), False   # fd -> [socket, established]
def opened():
    return sum(1 for c in conns.values() if c[1])
while not os.path.exists(done) and time.time() - t0 < 20:
    in_flight = sum(1 for c in conns.values() if not c[1])
    while len(conns) < n and in_flight < 32:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        if s.connect_ex(("127.0.0.1", port)) not in (0, errno.EINPROGRESS):
            s.close()
            break
        conns[s.fileno()] = [s, False]
        poller.register(s.fileno(), select.POLLOUT)
        in_flight += 1
    for fd, ev in poller.poll(20):
        c = conns[fd]
        if not c[1] and ev & select.POLLOUT and not ev & (select.POLLERR | select.POLLHUP) and \
           c[0].getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
            c[1] = True
            poller.modify(fd, select.POLLIN)
            continue
        poller.unregister(fd)
        c[0].close()
        del conns[fd]
    if not said and time.time() - t0 > 2:
        open(ready, "w").write("%d\n" % opened())
        said = True
EOF
flood=$!
for ((i = 0; i < 600; i++)); do
	[[ -s $IT_WORK/flood.ready ]] && break
	sleep 0.05
done
[[ -s $IT_WORK/flood.ready ]] || it_fail "the metrics flood never got going"
# For 4 s of the flood (scrapers are replaced as soon as they are closed),
# the operator gets in every time, by both ways.
for ((i = 0; i < 20; i++)); do
	it_ctl_ok version
	if ((i % 4 == 0)); then
		tcp_ctl --token-file "$token_file" version
		[[ $TCP_RC -eq 0 ]] || it_fail "TCP while the metrics port is flooded: exit $TCP_RC: $TCP_ERR"
	fi
	sleep 0.2
done
touch "$IT_WORK/flood.done"
wait "$flood" || true
it_log "metrics flood: unix and TCP answered 20 and 5 times"
metrics=
for ((i = 0; i < 100; i++)); do
	metrics=$(curl -sf "http://127.0.0.1:$metrics_port/metrics") && break
	sleep 0.1
done
# The flood hit the metrics listener's own limit (how often depends on the
# machine's speed: at least 100 times in those seconds), and only it.
rejected=$(sed -n 's/^sluice_api_listener_rejected_full_total{listener="metrics"} //p' <<<"$metrics")
accepted=$(sed -n 's/^sluice_api_listener_accepted_total{listener="metrics"} //p' <<<"$metrics")
[[ -n $rejected && -n $accepted ]] && ((rejected >= 100)) ||
	it_fail "the metrics listener accepted $accepted and turned away $rejected scrapers"
it_log "metrics listener: $accepted scrapers accepted, $rejected turned away at its limit"
[[ $(sed -n 's/^sluice_api_listener_rejected_full_total{listener="unix"} //p' <<<"$metrics") == 0 &&
	$(sed -n 's/^sluice_api_listener_rejected_full_total{listener="tcp"} //p' <<<"$metrics") == 0 ]] ||
	it_fail "unix or TCP connections were turned away"
grep -qx 'sluice_api_preauth_too_large_total 1' <<<"$metrics" ||
	it_fail "preauth_too_large is not 1: $(grep preauth <<<"$metrics")"
grep -qx 'sluice_api_denied_total 7' <<<"$metrics" ||
	it_fail "denied is not 7: $(grep denied_total <<<"$metrics")"

# The audit log: a line per change asked for, reads none.
audited=$(sed -n 's/^sluice_api_audited_total //p' <<<"$metrics")
[[ $(wc -l <"$IT_WORK/audit.log") -eq $audited ]] ||
	it_fail "audit.log has $(wc -l <"$IT_WORK/audit.log") lines, sluiced counted $audited"
! grep -q 'op="get"\|op="instances"\|op="version"\|op="stats"' "$IT_WORK/audit.log" ||
	it_fail "reads in the audit log"
audit_has() { # PATTERN (grep -E on the line after its timestamp)
	grep -Eq "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{12}Z $1\$" "$IT_WORK/audit.log" ||
		it_fail "no audit line like: $1"
}
audit_has "peer=unix pid=[0-9]+ uid=0 gid=0 role=admin op=\"add\" pipeline=\"demo\" stage=\"polish\" instance=\"extra\" address=\"$P.15\" port=7801 result=ok generation=2"
audit_has "peer=unix pid=[0-9]+ uid=0 gid=0 role=admin op=\"drain\" pipeline=\"demo\" stage=\"polish\" instance=\"polish/1\" result=INVALID field=\"instance\" message=\"instance: polish/1 is the last instance of polish taking new streams\""
audit_has "peer=tcp addr=127.0.0.1:[0-9]+ role=read op=\"add\" pipeline=\"demo\" stage=\"polish\" instance=\"ro\" address=\"$P.16\" port=7801 result=PERMISSION_DENIED message=\"add needs the admin role; this caller is read-only\""
audit_has "peer=unix pid=[0-9]+ uid=65534 gid=65534 role=read op=\"add\" pipeline=\"demo\" stage=\"polish\" instance=\"ro\" address=\"$P.16\" port=7801 result=PERMISSION_DENIED message=\"add needs the admin role; this caller is read-only\""
audit_has "peer=tcp addr=127.0.0.1:[0-9]+ role=admin op=\"apply\" name=\"$W/big.yaml\" bytes=[0-9]+ dry_run=false result=ok generation=7"
audit_has "peer=unix pid=[0-9]+ uid=0 gid=0 role=admin op=\"apply\" name=\"$W/shadow.yaml\" bytes=[0-9]+ dry_run=false result=INVALID field=\"guards\[0\].literals_file\" message=\".*outside the config directory .*\"?"
# (the audit line cuts a long message: the directory may be cut short)

# ---------------------------------------------------------- unreachable
rc=0
"$SLUICECTL" --socket "$IT_WORK/absent.sock" get >/dev/null 2>"$IT_WORK/absent.err" || rc=$?
[[ $rc -eq 3 && $(cat "$IT_WORK/absent.err") == "sluicectl: get: cannot connect to $IT_WORK/absent.sock: No such file or directory" ]] ||
	it_fail "unreachable socket: exit $rc: $(cat "$IT_WORK/absent.err")"

# The socket answered every request and still does; sluiced ends cleanly
# and takes its socket file with it.
[[ $(it_generation) -eq 7 ]] || it_fail "generation is not 7 at the end"
it_stop_all
[[ ! -e $IT_SOCK ]] || it_fail "sluiced left its socket file $IT_SOCK"
it_expect "$IT_WORK/sluiced-stats.json" '.mbufs.in_use == .mbufs.in_use_start' \
	"mbufs leaked"
it_log "PASS: $(grep -c '^\$ sluicectl' "$IT_WORK/ctl-history.log") sluicectl calls on $backend"
