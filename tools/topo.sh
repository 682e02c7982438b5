# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# shellcheck disable=SC2034 # the SL_* results are read by the callers
#
# topo.sh - the one sourced library for "a namespace, sluiced and engines":
# the steps the integration tests (tests/integration/lib.sh) and every
# benchmark (tools/bench/factcheck.sh and those built on it) take to start
# and stop the embedded topology of tools/netns.sh. It only does and
# reports; what a failure means (fail a test, stop a benchmark) is the
# caller's.
#
#   namespace NS: the client (PREFIX.10) and the engine instances
#   (PREFIX.11..18) on NS_IF; sluiced on the host end HOST_IF, PREFIX.1,
#   driving it through net_af_packet (or what the caller passes).
#
# State: SL_SLUICED_PID, SL_ENGINE_PIDS (pids of what was started here).
# Needs root (namespaces, DPDK); sourcing changes no shell option.

SL_TOPO_ROOT=${SL_TOPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
SL_SLUICED_PID=
SL_ENGINE_PIDS=()

# sl_wait_pid PID SECONDS: wait for a child to exit (reaped); 1 if it is
# still running after SECONDS.
sl_wait_pid() {
	local pid=$1 limit=$2 i
	for ((i = 0; i < limit * 20; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid" 2>/dev/null || true
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# sl_stop PID SECONDS: SIGTERM a child, wait up to SECONDS, then SIGKILL.
# Returns its exit status; SL_STOP_KILLED=1 when SIGTERM was not enough.
sl_stop() {
	local pid=$1 limit=$2 rc=0 i
	SL_STOP_KILLED=0
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < limit * 20; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		SL_STOP_KILLED=1
	fi
	wait "$pid" 2>/dev/null || rc=$?
	return $rc
}

# sl_netns_up NS PREFIX: a fresh namespace (one a killed run left behind is
# removed first); sets HOST_IF NS_IF HOST_MAC NS_MAC. Status of netns.sh.
sl_netns_up() {
	local assign
	"$SL_TOPO_ROOT/tools/netns.sh" down "$1" >/dev/null 2>&1 || true
	assign=$("$SL_TOPO_ROOT/tools/netns.sh" up "$1" "$2") || return 1
	eval "$assign"
}

# sl_netns_down NS
sl_netns_down() {
	"$SL_TOPO_ROOT/tools/netns.sh" down "$1" >/dev/null 2>&1 || true
}

# sl_wait_udp NS SECONDS IP:PORT...: wait until each UDP port is bound in
# NS; 1 with the one that is not in SL_WAIT_MISSING.
sl_wait_udp() {
	sl_wait_bound -u "$@"
}

# sl_wait_tcp NS SECONDS IP:PORT...: the same for TCP ports listening (an
# HTTP server: the gateway, a model server).
sl_wait_tcp() {
	sl_wait_bound -t "$@"
}

# sl_wait_bound -u|-t NS SECONDS IP:PORT...: sl_wait_udp and sl_wait_tcp.
sl_wait_bound() {
	local proto=$1 ns=$2 limit=$3 ep i
	shift 3
	SL_WAIT_MISSING=
	for ep in "$@"; do
		for ((i = 0; i < limit * 20; i++)); do
			ip netns exec "$ns" ss -Hln"${proto#-}" "src $ep" 2>/dev/null |
				grep -q . && break
			sleep 0.05
		done
		if [[ $i -ge $((limit * 20)) ]]; then
			SL_WAIT_MISSING=$ep
			return 1
		fi
	done
}

# sl_engine_start NS ENGINE LOGDIR NAME IP:PORT [OPTION...]: one
# sluice-engine in NS, listening on IP:PORT as NAME; its stats go to
# LOGDIR/engine-<NAME, / as ->.json, its output to .log beside them.
sl_engine_start() {
	local ns=$1 engine=$2 logs=$3 name=$4 ep=$5 file
	shift 5
	file=${name//\//-}
	# A simple command: $! must be the engine itself (ip netns exec
	# execs it), not a subshell that SIGTERM would end without it.
	ip netns exec "$ns" "$engine" --listen "$ep" --name "$name" "$@" \
		--stats-file "$logs/engine-$file.json" --quiet \
		>"$logs/engine-$file.log" 2>&1 &
	SL_ENGINE_PIDS+=($!)
}

# sl_engines_stop SECONDS: SIGTERM every engine at once, then wait for
# each. Returns the first status that is neither 0 nor a signal's
# (130, 143): an engine may report the signal that stopped it.
sl_engines_stop() {
	local limit=$1 pid rc first=0
	for pid in "${SL_ENGINE_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${SL_ENGINE_PIDS[@]}"; do
		rc=0
		sl_stop "$pid" "$limit" || rc=$?
		[[ $rc -eq 0 || $rc -eq 130 || $rc -eq 143 || $first -ne 0 ]] ||
			first=$rc
	done
	SL_ENGINE_PIDS=()
	return $first
}

# sl_sluiced_start SLUICED LOG ERR SECONDS ARGS...: start sluiced with
# ARGS (config, port, stats, EAL options: all the caller's), stdout to
# LOG and stderr to ERR, and wait up to SECONDS for its ready line
# (SL_READY_LINE). Returns 0; 1 when it exited first (its status in
# SL_SLUICED_RC); 2 when no ready line came.
sl_sluiced_start() {
	local sluiced=$1 log=$2 err=$3 limit=$4 i
	shift 4
	SL_READY_LINE=
	SL_SLUICED_RC=
	"$sluiced" "$@" >"$log" 2>"$err" &
	SL_SLUICED_PID=$!
	for ((i = 0; i < limit * 20; i++)); do
		# The background shell may not have made the log yet: -s.
		SL_READY_LINE=$(grep -s -m1 '^sluiced: ready ' "$log" || true)
		[[ -n $SL_READY_LINE ]] && return 0
		if ! kill -0 "$SL_SLUICED_PID" 2>/dev/null; then
			SL_SLUICED_RC=0
			wait "$SL_SLUICED_PID" || SL_SLUICED_RC=$?
			SL_SLUICED_PID=
			return 1
		fi
		sleep 0.05
	done
	return 2
}

# sl_sluiced_stop SECONDS: SIGTERM sluiced (it writes its final stats) and
# wait; its exit status (SL_STOP_KILLED as sl_stop).
sl_sluiced_stop() {
	local rc=0
	SL_STOP_KILLED=0
	[[ -n $SL_SLUICED_PID ]] || return 0
	sl_stop "$SL_SLUICED_PID" "$1" || rc=$?
	SL_SLUICED_PID=
	return $rc
}

# sl_topo_down NS EAL_PREFIX: stop whatever is left (sluiced 10 s, engines
# 5 s), remove the namespace and the DPDK runtime folder.
sl_topo_down() {
	sl_sluiced_stop 10 || true
	sl_engines_stop 5 || true
	[[ -z $1 ]] || sl_netns_down "$1"
	[[ -z $2 ]] || rm -rf "/var/run/dpdk/$2"
}
