# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# lib.sh - shared steps of the integration tests, sourced by each script.
#
# The topology: one network namespace holding the client (sluicegen,
# PREFIX.10) and the engine instances (sluice-engine, PREFIX.11..18), joined
# by a veth pair to the host, where sluiced drives the host end through
# net_af_packet and owns PREFIX.1. See tools/netns.sh.
#
# A script sets IT_NAME (short, unique per test), sources this file, calls
# it_init "$@", then the steps it needs. it_init installs an EXIT trap that
# stops every process it started, removes the namespace and the DPDK
# runtime folder, and prints the tails of the logs when the test failed.
#
# Binaries come from the environment (set by meson.build): SLUICED,
# SLUICEGEN, SLUICE_ENGINE, SLUICE_INJECT, NETNS_SH.
#
# Exit codes: 0 pass, 1 fail, 77 skip (not root, or no `ip netns`).
#
# Starting and stopping the processes and the namespace is tools/topo.sh's
# (shared with the benchmarks); this file adds what a test needs: fail
# with the logs, exact expectations, the pipeline files of the tests.

# shellcheck source=tools/topo.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../tools/topo.sh"

IT_PREFIX=${IT_PREFIX:-10.77.0}
IT_PORT=${IT_PORT:-7700}
IT_NS=
IT_WORK=
IT_EAL_PREFIX=
# Extra sluiced options (before the EAL's --), e.g. from it_control_setup.
IT_SLUICED_EXTRA=()
# The user sluiced runs as after start-up (its default): the work folder
# is made writable by it, for the stats file and the state directory.
IT_SLUICED_USER=${IT_SLUICED_USER:-nobody}
# The port options of it_sluiced; empty: --iface "$HOST_IF" (af_packet).
IT_SLUICED_PORT=()
# The control socket of it_control_setup (empty: sluiced's default).
IT_SOCK=

it_log() {
	echo "[$IT_NAME] $*"
}

it_fail() {
	echo "[$IT_NAME] FAIL: $*" >&2
	exit 1
}

it_skip() {
	echo "[$IT_NAME] SKIP: $*"
	exit 77
}

# it_need_bin VAR...: each named variable holds an executable's path.
it_need_bin() {
	local var
	for var in "$@"; do
		[[ -n ${!var:-} ]] || it_fail "$var is not set (run through meson test)"
		[[ -x ${!var} ]] || it_fail "$var=${!var} is not an executable (not built?)"
	done
}

# it_init BUILD_SUBDIR: checks the machine, makes the work folder (kept
# after the run for inspection: BUILD_SUBDIR/IT_NAME.work), installs the
# cleanup trap.
it_init() {
	local base=${1:-${TMPDIR:-/tmp}}

	[[ $(id -u) -eq 0 ]] || it_skip "needs root for network namespaces"
	command -v ip >/dev/null 2>&1 || it_skip "iproute2 is not installed"
	ip netns list >/dev/null 2>&1 || it_skip "'ip netns' is not available"
	command -v jq >/dev/null 2>&1 || it_fail "jq is not installed (tools/deps.sh)"

	IT_WORK=$base/$IT_NAME${IT_WORKERS:+-w$IT_WORKERS}.work
	rm -rf "$IT_WORK"
	mkdir -p "$IT_WORK"
	# sluiced writes its stats (and state) here after dropping root.
	chown "$IT_SLUICED_USER" "$IT_WORK" ||
		it_fail "cannot give $IT_WORK to $IT_SLUICED_USER"
	IT_NS=sl-it-$IT_NAME-$$
	IT_EAL_PREFIX=sl-it-$IT_NAME-$$
	trap it_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

it_cleanup() {
	local rc=$? f
	trap - EXIT

	sl_topo_down "$IT_NS" "$IT_EAL_PREFIX"
	if [[ -n ${IT_SOCK_DIR:-} ]]; then
		rm -rf "$IT_SOCK_DIR"
	fi
	if [[ $rc -ne 0 && $rc -ne 77 && -n $IT_WORK && -d $IT_WORK ]]; then
		echo "[$IT_NAME] exit $rc; logs in $IT_WORK" >&2
		for f in "$IT_WORK"/*.log "$IT_WORK"/*.err; do
			[[ -s $f ]] || continue
			echo "----- $(basename "$f") (last 20 lines)" >&2
			tail -n 20 "$f" >&2
		done
	fi
	exit $rc
}

# it_stop PID NAME: SIGTERM a child and wait for it; its exit status is
# returned (a process that needs SIGKILL fails the test).
it_stop() {
	local rc=0
	sl_stop "$1" 10 || rc=$?
	[[ $SL_STOP_KILLED -eq 0 ]] || it_fail "$2 (pid $1) ignored SIGTERM for 10 s"
	return $rc
}

# it_netns_up: creates the namespace; sets HOST_IF NS_IF HOST_MAC NS_MAC.
it_netns_up() {
	sl_netns_up "$IT_NS" "$IT_PREFIX" || it_fail "netns.sh up failed"
	it_log "namespace $IT_NS: host $HOST_IF ($HOST_MAC), ns $NS_IF ($NS_MAC)"
}

# it_ns CMD...: run a command in the namespace. Never redirect its output
# (it_ns ... >FILE): a function's redirections hold in this shell, so an
# EXIT trap that fires meanwhile would write its report into FILE. Run
# `ip netns exec "$IT_NS" CMD >FILE` instead.
it_ns() {
	ip netns exec "$IT_NS" "$@"
}

# it_engine NAME IP:PORT TRANSFORM: start one sluice-engine in the
# namespace; its stats go to $IT_WORK/engine-<NAME with / as ->.json.
it_engine() {
	sl_engine_start "$IT_NS" "$SLUICE_ENGINE" "$IT_WORK" "$1" "$2" \
		--transform "$3"
}

# it_wait_udp IP:PORT...: wait until each UDP port is bound in the namespace.
it_wait_udp() {
	sl_wait_udp "$IT_NS" 5 "$@" ||
		it_fail "nothing listens on $SL_WAIT_MISSING after 5 s"
}

# it_sluiced CONFIG: start sluiced on the host end and wait for its ready
# line; sets SLUICED_MAC. Stats go to $IT_WORK/sluiced-stats.json, runtime
# changes to $IT_WORK/state (each test its own, never /var/lib/sluice).
it_sluiced() {
	local config=$1 i line rc port=(--iface "$HOST_IF") ctl=() workers=()
	((${#IT_SLUICED_PORT[@]} == 0)) || port=("${IT_SLUICED_PORT[@]}")
	# A control socket of the test's own unless it chose one: never the
	# default path another sluiced on this machine may hold.
	[[ " ${IT_SLUICED_EXTRA[*]} " == *" --control "* ]] ||
		ctl=(--control "$IT_WORK/sluiced.sock")
	# IT_WORKERS (meson's 2- and 4-worker runs): that many workers.
	[[ -z ${IT_WORKERS:-} ]] || workers=(--workers "$IT_WORKERS")
	rc=0
	sl_sluiced_start "$SLUICED" "$IT_WORK/sluiced.log" "$IT_WORK/sluiced.err" \
		30 --config "$config" "${port[@]}" \
		--stats-file "$IT_WORK/sluiced-stats.json" --stats-interval-ms 250 \
		--state-dir "$IT_WORK/state" --user "$IT_SLUICED_USER" "${ctl[@]}" \
		"${workers[@]}" "${IT_SLUICED_EXTRA[@]}" -- --file-prefix "$IT_EAL_PREFIX" || rc=$?
	[[ $rc -ne 1 ]] || it_fail "sluiced exited ($SL_SLUICED_RC) before it was ready"
	[[ $rc -ne 2 ]] || it_fail "sluiced printed no ready line in 30 s"
	line=$SL_READY_LINE
	[[ $line == 'sluiced: ready port 0 mac '* ]] || it_fail "ready line '$line' is not for port 0"
	# shellcheck disable=SC2034 # read by the scripts (sluice-inject)
	SLUICED_MAC=$(awk '{ print $6 }' <<<"$line")
	local want="address $IT_PREFIX.1:$IT_PORT"
	[[ $line == *"$want"* ]] || it_fail "ready line '$line' does not name '$want'"
	it_log "$line"
}

# it_stop_all: stop sluiced (final stats) then the engines (their stats).
it_stop_all() {
	local rc=0
	if [[ -n $SL_SLUICED_PID ]]; then
		it_stop "$SL_SLUICED_PID" sluiced || rc=$?
		SL_SLUICED_PID=
		[[ $rc -eq 0 ]] || it_fail "sluiced exited $rc on SIGTERM (want 0)"
	fi
	# An engine may report its signal; either way its stats must exist.
	sl_engines_stop 10 || rc=$?
	[[ $rc -eq 0 ]] || it_fail "a sluice-engine exited $rc"
	jq -e '.final == true' "$IT_WORK/sluiced-stats.json" >/dev/null ||
		it_fail "sluiced's stats file is not final"
}

# it_chain_engines: the chain's four engines (draft/0,1 upper on .11 and
# .12; polish/0,1 rot13 on .13 and .14), listening before it returns.
it_chain_engines() {
	it_engine draft/0 "$IT_PREFIX.11:7801" upper
	it_engine draft/1 "$IT_PREFIX.12:7801" upper
	it_engine polish/0 "$IT_PREFIX.13:7801" rot13
	it_engine polish/1 "$IT_PREFIX.14:7801" rot13
	it_wait_udp "$IT_PREFIX.11:7801" "$IT_PREFIX.12:7801" \
		"$IT_PREFIX.13:7801" "$IT_PREFIX.14:7801"
}

# it_write_config FILE DRAFT_AGG POLISH_AGG: the two-stage pipeline
# (draft on .11/.12, polish on .13/.14) as pipeline 1.
it_write_config() {
	cat >"$1" <<EOF
sluiced: {address: $IT_PREFIX.1, port: $IT_PORT}
flows: {size: 65536, idle_timeout_ms: 5000, reorder_window: 16}
clients: [$IT_PREFIX.0/24]
pipelines:
  - name: demo
    id: 1
    stages:
      - name: draft
        aggregation: $2
        instances: [$IT_PREFIX.11:7801, $IT_PREFIX.12:7801]
      - name: polish
        aggregation: $3
        instances: [$IT_PREFIX.13:7801, $IT_PREFIX.14:7801]
EOF
}

# it_hop_config FILE: the one-stage pipeline sluicegen's DPDK mode drives
# (gen_dpdk.sh, xdp_load.sh): its client at PREFIX.20, its only instance,
# an echo, at PREFIX.21:7801 (addresses the namespace's kernel does not
# hold), flows sized for an open-loop run.
it_hop_config() {
	cat >"$1" <<EOF
sluiced: {address: $IT_PREFIX.1, port: $IT_PORT}
flows: {size: 65536, idle_timeout_ms: 5000, reorder_window: 16,
        client_streams: 16384, source_streams: 16384, tenant_streams: 16384}
clients: [$IT_PREFIX.0/24]
pipelines:
  - name: hop
    id: 1
    stages:
      - {name: echo, instances: [$IT_PREFIX.21:7801]}
EOF
}

# it_hop_gen OUT ARGS...: sluicegen's DPDK mode on the namespace end, the
# client (PREFIX.20) and the instance (PREFIX.21:7801) of it_hop_config's
# pipeline, checking every byte, with ARGS (rate, duration, load); its
# JSON in OUT, its stderr in sluicegen.err, its EAL folder removed after.
# Returns sluicegen's exit status.
it_hop_gen() {
	local out=$1 rc=0
	shift
	ip netns exec "$IT_NS" "$SLUICEGEN" --dpdk-iface "$NS_IF" \
		--file-prefix "$IT_EAL_PREFIX-gen" --lcores 0 \
		--server "$IT_PREFIX.1:$IT_PORT" --bind "$IT_PREFIX.20" \
		--instance "$IT_PREFIX.21:7801" --pipeline 1 --tenant 1 \
		--tokens-per-fragment 4 --drain-ms 3000 --json --check "$@" \
		>"$out" 2>"$IT_WORK/sluicegen.err" || rc=$?
	rm -rf "/var/run/dpdk/$IT_EAL_PREFIX-gen"
	return "$rc"
}

# it_two_stage: namespace, the four engines of it_write_config, sluiced.
it_two_stage() {
	it_write_config "$IT_WORK/pipeline.yaml" 0 1
	it_netns_up
	it_chain_engines
	it_sluiced "$IT_WORK/pipeline.yaml"
}

# it_gen OUT ARGS...: run sluicegen in the namespace against sluiced;
# its JSON goes to OUT; returns sluicegen's exit status.
it_gen() {
	local out=$1 rc=0
	shift
	ip netns exec "$IT_NS" "$SLUICEGEN" --server "$IT_PREFIX.1:$IT_PORT" --bind "$IT_PREFIX.10" \
		--pipeline 1 --tenant 1 --seed 7 --json --quiet "$@" \
		>"$out" 2>"$IT_WORK/sluicegen.err" || rc=$?
	return $rc
}

# it_model_server IP PORT: openai_server.py (an OpenAI-compatible model
# server) in the namespace on IP:PORT, stopped with the engines; its
# request log in $IT_WORK/server.log. Returns once it listens.
it_model_server() {
	ip netns exec "$IT_NS" python3 "$IT_SRC_ROOT/tests/integration/openai_server.py" \
		"$1" "$2" >"$IT_WORK/server.log" 2>"$IT_WORK/server.err" &
	SL_ENGINE_PIDS+=($!)
	sl_wait_tcp "$IT_NS" 5 "$1:$2" ||
		it_fail "the model server does not listen on $1:$2"
}

# it_gen_whole OUT MIN_REQUESTS ARGS...: a checked sluicegen run (ARGS
# with --check) that must come back whole: then everything is stopped
# (final stats), and the client's view asserted: at least MIN_REQUESTS
# requests, each completed, nothing lost, doubled, reordered, altered or
# aborted, every fragment sent received.
it_gen_whole() {
	local gen=$1 min=$2 rc=0
	shift 2
	it_gen "$gen" "$@" || rc=$?
	it_log "sluicegen: $(jq -c '{requests, completed, fragments, fragments_received, lost, duplicated, misordered, corrupted, aborted, p99_us}' "$gen" 2>/dev/null || cat "$gen")"
	it_stop_all
	[[ $rc -eq 0 ]] || it_fail "sluicegen --check exited $rc"
	it_expect "$gen" '.lost == 0 and .duplicated == 0 and .misordered == 0 and
		.corrupted == 0 and .aborted == 0' "sluicegen saw damage"
	it_expect "$gen" ".completed == .requests and .requests >= $min" \
		"not every request completed, or fewer than $min"
	it_expect "$gen" '.fragments_received == .fragments' \
		"fragments received != fragments sent"
}

# it_expect JSON_FILE JQ_FILTER MESSAGE [JQ_ARG...]: the filter must
# yield true; JQ_ARGs (e.g. --arg want "$text") are passed to jq.
it_expect() {
	jq -e "${@:4}" "$2" "$1" >/dev/null 2>&1 || {
		echo "[$IT_NAME] in $(basename "$1"): $2" >&2
		it_fail "$3"
	}
}

# it_engine_stats: all engine stats as one JSON array in $IT_WORK/engines.json.
it_engine_stats() {
	jq -s '.' "$IT_WORK"/engine-*.json >"$IT_WORK/engines.json" ||
		it_fail "engine stats missing or not JSON"
}

# ------------------------------------------------------------ control plane
#
# The scripts that steer sluiced (control.sh, reconfig.sh, drain.sh,
# metrics.sh) give it a socket of their own and talk to it with sluicectl
# (SLUICECTL). Nothing here changes what the steps above do by default.

IT_SRC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# it_chain_config FILE: tools/pipelines/chain.yaml (draft on .11/.12 upper,
# polish on .13/.14 rot13, aggregation 0 and 1), moved to IT_PREFIX.
it_chain_config() {
	sed "s/10\.77\.0\./$IT_PREFIX./g" "$IT_SRC_ROOT/tools/pipelines/chain.yaml" >"$1" ||
		it_fail "cannot copy tools/pipelines/chain.yaml"
}

# it_chain: namespace, the four engines of chain.yaml, sluiced on a copy of
# it (IT_CONFIG); call it_control_setup first to steer it.
it_chain() {
	IT_CONFIG=$IT_WORK/chain.yaml
	it_chain_config "$IT_CONFIG"
	it_netns_up
	it_chain_engines
	it_sluiced "$IT_CONFIG"
}

# it_free_port: a TCP port nothing listens on at 127.0.0.1 (host-wide, so
# drawn from the pid to keep concurrent runs apart).
it_free_port() {
	local p=$((20000 + ($$ * 7 + RANDOM) % 30000)) i
	for ((i = 0; i < 200; i++, p++)); do
		((p < 65000)) || p=20000
		if ! ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; then
			echo "$p"
			return 0
		fi
	done
	it_fail "no free TCP port found"
}

# it_control_setup BACKEND [SLUICED OPTIONS...]: sluiced (started later by
# it_sluiced) serves its API on a socket of this test (IT_SOCK) with loop
# backend BACKEND (auto, uring, epoll), plus the options given.
it_control_setup() {
	local backend=$1
	shift
	it_need_bin SLUICECTL
	IT_SOCK=$IT_WORK/ctl.sock
	# sun_path holds 107 characters. The folder must let sluiced remove
	# the socket once it is no longer root (not /tmp: sticky).
	if ((${#IT_SOCK} >= 100)); then
		IT_SOCK_DIR=/tmp/sl-it-$IT_NAME-$$
		mkdir -p "$IT_SOCK_DIR" && chown "$IT_SLUICED_USER" "$IT_SOCK_DIR" ||
			it_fail "cannot make $IT_SOCK_DIR"
		IT_SOCK=$IT_SOCK_DIR/ctl.sock
	fi
	IT_SLUICED_EXTRA+=(--control "$IT_SOCK" --loop-backend "$backend" "$@")
}

# it_ctl ARGS...: sluicectl on this test's socket. Sets CTL_RC, CTL_OUT,
# CTL_ERR (stdout and stderr, trailing newlines cut); never fails itself.
it_ctl() {
	CTL_RC=0
	"$SLUICECTL" --socket "$IT_SOCK" "$@" </dev/null >"$IT_WORK/ctl.out" 2>"$IT_WORK/ctl.err" ||
		CTL_RC=$?
	CTL_OUT=$(<"$IT_WORK/ctl.out")
	CTL_ERR=$(<"$IT_WORK/ctl.err")
	echo "\$ sluicectl $* -> $CTL_RC" >>"$IT_WORK/ctl-history.log"
	cat "$IT_WORK/ctl.out" "$IT_WORK/ctl.err" >>"$IT_WORK/ctl-history.log"
}

# it_ctl_ok ARGS...: sluicectl must exit 0 with nothing on stderr.
it_ctl_ok() {
	it_ctl "$@"
	[[ $CTL_RC -eq 0 && -z $CTL_ERR ]] ||
		it_fail "sluicectl $* exited $CTL_RC: $CTL_ERR"
}

# it_ctl_refused RC MESSAGE ARGS...: sluicectl must exit RC with exactly
# the line MESSAGE on stderr and nothing on stdout.
it_ctl_refused() {
	local want_rc=$1 want=$2
	shift 2
	it_ctl "$@"
	[[ $CTL_RC -eq $want_rc ]] ||
		it_fail "sluicectl $*: exit $CTL_RC, want $want_rc (stderr: $CTL_ERR)"
	[[ $CTL_ERR == "$want" ]] ||
		it_fail "sluicectl $*: stderr
  got:  $CTL_ERR
  want: $want"
	[[ -z $CTL_OUT ]] || it_fail "sluicectl $*: unexpected stdout: $CTL_OUT"
}

# it_ctl_wait: wait until sluiced answers on IT_SOCK (the ready line comes
# before the control plane starts). A sluiced that exits meanwhile fails
# the test, or skips it when it said io_uring is unusable.
it_ctl_wait() {
	local i rc
	for ((i = 0; i < 200; i++)); do
		if [[ -S $IT_SOCK ]] &&
			"$SLUICECTL" --socket "$IT_SOCK" version >/dev/null 2>&1; then
			return 0
		fi
		if ! kill -0 "$SL_SLUICED_PID" 2>/dev/null; then
			rc=0
			wait "$SL_SLUICED_PID" || rc=$?
			SL_SLUICED_PID=
			if grep -q 'io_uring .*unusable' "$IT_WORK/sluiced.err"; then
				it_skip "$(grep -m1 'io_uring .*unusable' "$IT_WORK/sluiced.err")"
			fi
			it_fail "sluiced exited ($rc) before its control socket answered"
		fi
		sleep 0.05
	done
	it_fail "sluiced's control socket $IT_SOCK did not answer in 10 s"
}

# it_ctl_stats FILE: `sluicectl stats --json` into FILE.
it_ctl_stats() {
	it_ctl_ok stats --json
	printf '%s\n' "$CTL_OUT" >"$1"
	jq -e 'type == "object"' "$1" >/dev/null || it_fail "stats --json is not a JSON object"
}

# it_ctl_step prefix|holds WANT ARGS...: one change through sluicectl
# (reconfig.sh, policy.sh): its answer must start with (prefix) or hold
# (holds) WANT, and the generation, IT_CTL_GENERATION (1 at start), moves
# on by one.
IT_CTL_GENERATION=1
it_ctl_step() {
	local how=$1 want=$2 ok=1
	shift 2
	it_ctl_ok "$@"
	case $how in
	prefix) [[ $CTL_OUT == "$want"* ]] || ok=0 ;;
	holds) [[ $CTL_OUT == *"$want"* ]] || ok=0 ;;
	*) it_fail "it_ctl_step: prefix or holds, not '$how'" ;;
	esac
	((ok)) || it_fail "sluicectl $*: want '$want' ($how) in: $CTL_OUT"
	IT_CTL_GENERATION=$((IT_CTL_GENERATION + 1))
	[[ $(it_generation) -eq $IT_CTL_GENERATION ]] ||
		it_fail "after sluicectl $*: generation is not $IT_CTL_GENERATION"
	it_log "t=$SECONDS s: sluicectl $*: ${CTL_OUT%%$'\n'*}"
}

# it_generation: the generation sluiced reports (GetVersion).
it_generation() {
	it_ctl_ok version
	local g
	g=$(sed -n 's/^sluiced .*generation \([0-9]*\),.*/\1/p' <<<"$CTL_OUT")
	[[ -n $g ]] || it_fail "no generation in: $CTL_OUT"
	echo "$g"
}
