# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# cluster_topo.sh - the topology of a sluice cluster on one machine, for
# tests/integration/cluster.sh and tools/bench/cluster.sh (sourced; needs
# root, iproute2 and Debian's etcd-server).
#
#   etcd: N members on 127.0.0.1 (ports of their own), run as nobody,
#         data in WORK/etcd-K. Endpoints in SL_CL_ETCD_ENDPOINTS.
#   fabric: one bridge in namespace SL_CL_FAB: the L2 segment every node's
#         port and every node's hosts share (a rack's switch).
#   node K (1..N): sluiced in the host namespace, its DPDK port
#         (net_af_packet) the host end SL_CL_PORT[K] of a veth into the
#         bridge; address PREFIX.K.1. Its hosts (clients PREFIX.K.10,
#         engines PREFIX.K.11..18) in namespace SL_CL_NS[K], one veth into
#         the bridge, PREFIX.K.0/24 on the link and the rest of PREFIX.0.0/16
#         through their node's sluiced (their next hop): an engine of node
#         K talks to another node's sluiced only through its own.
#
# Functions set globals (arrays indexed by node) and leave the cleanup to
# sl_cl_down, which removes everything they made.

SL_CL_TAG=${SL_CL_TAG:-$(($$ % 10000))}
SL_CL_FAB=
SL_CL_NS=()
SL_CL_PORT=()
SL_CL_ETCD_PIDS=()
SL_CL_ETCD_CLIENT=()
SL_CL_ETCD_PEER=()
SL_CL_ETCD_INITIAL=
SL_CL_ETCD_ENDPOINTS=
SL_CL_WORK=

# sl_cl_free_port: a TCP port no socket uses, below the kernel's range of
# ephemeral ports (which a connection may take between this check and the
# bind) and none handed out already.
sl_cl_free_port() {
	local low hi p i
	read -r low _ </proc/sys/net/ipv4/ip_local_port_range || low=32768
	hi=$((low > 21000 ? low : 32768))
	p=$((20000 + (RANDOM * 7 + $$) % (hi - 20000)))
	for ((i = 0; i < 500; i++, p++)); do
		((p < hi)) || p=20000
		if ! ss -Hatn "sport = :$p" 2>/dev/null | grep -q . &&
			[[ " ${SL_CL_ETCD_CLIENT[*]} ${SL_CL_PEERS:-} " != *" $p "* ]]; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# sl_cl_etcd_up WORK N: an etcd cluster of N members; returns once every
# member answers (at most 20 s).
sl_cl_etcd_up() {
	local work=$1 n=$2 k initial='' peers=() dir i
	SL_CL_WORK=$work
	SL_CL_PEERS=
	for ((k = 1; k <= n; k++)); do
		SL_CL_ETCD_CLIENT[k]=$(sl_cl_free_port) || return 1
		SL_CL_PEERS+=" ${SL_CL_ETCD_CLIENT[k]}"
		peers[k]=$(sl_cl_free_port) || return 1
		SL_CL_PEERS+=" ${peers[k]}"
		initial+="${initial:+,}e$k=http://127.0.0.1:${peers[k]}"
	done
	SL_CL_ETCD_ENDPOINTS=
	SL_CL_ETCD_INITIAL=$initial
	for ((k = 1; k <= n; k++)); do
		dir=$work/etcd-$k
		mkdir -p "$dir" && chown nobody "$dir" && chmod 0700 "$dir" || return 1
		SL_CL_ETCD_PEER[k]=${peers[k]}
		sl_cl_etcd_start "$k"
		SL_CL_ETCD_ENDPOINTS+="${SL_CL_ETCD_ENDPOINTS:+,}http://127.0.0.1:${SL_CL_ETCD_CLIENT[k]}"
	done
	for ((i = 0; i < 200; i++)); do
		if ETCDCTL_API=3 etcdctl --endpoints "$SL_CL_ETCD_ENDPOINTS" \
			--command-timeout=1s endpoint health >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# sl_cl_etcd_start K: (re)start member K with its data (as nobody).
sl_cl_etcd_start() {
	local k=$1 dir=$SL_CL_WORK/etcd-$1
	setpriv --reuid nobody --regid nogroup --clear-groups \
		etcd --name "e$k" --data-dir "$dir/data" \
		--listen-client-urls "http://127.0.0.1:${SL_CL_ETCD_CLIENT[k]}" \
		--advertise-client-urls "http://127.0.0.1:${SL_CL_ETCD_CLIENT[k]}" \
		--listen-peer-urls "http://127.0.0.1:${SL_CL_ETCD_PEER[k]}" \
		--initial-advertise-peer-urls "http://127.0.0.1:${SL_CL_ETCD_PEER[k]}" \
		--initial-cluster "$SL_CL_ETCD_INITIAL" --initial-cluster-state new \
		--initial-cluster-token "sl-cl-$SL_CL_TAG" \
		>>"$SL_CL_WORK/etcd-$k.log" 2>&1 &
	SL_CL_ETCD_PIDS[k]=$!
}

# sl_cl_etcd_stop K: stop member K (SIGTERM, then wait).
sl_cl_etcd_stop() {
	local pid=${SL_CL_ETCD_PIDS[$1]:-}
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	SL_CL_ETCD_PIDS[$1]=
}

# sl_cl_net_up PREFIX N: the fabric and N nodes' namespaces (PREFIX: two
# octets, e.g. 10.78).
sl_cl_net_up() {
	local prefix=$1 n=$2 k ns port fabend app append
	SL_CL_FAB=sl-cl-fab-$SL_CL_TAG
	ip netns add "$SL_CL_FAB" || return 1
	ip -n "$SL_CL_FAB" link add br0 type bridge || return 1
	# Frames are forwarded at once (no learning delay, no STP).
	ip -n "$SL_CL_FAB" link set br0 type bridge forward_delay 0 stp_state 0
	ip -n "$SL_CL_FAB" link set br0 up
	ip netns exec "$SL_CL_FAB" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 2>/dev/null || true
	for ((k = 1; k <= n; k++)); do
		ns=sl-cl-$k-$SL_CL_TAG
		port=slc$k-$SL_CL_TAG
		fabend=slf$k-$SL_CL_TAG
		app=sla$k-$SL_CL_TAG
		append=slb$k-$SL_CL_TAG
		SL_CL_NS[k]=$ns
		SL_CL_PORT[k]=$port
		ip netns add "$ns" || return 1
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 2>/dev/null || true
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
		# sluiced's port: the host end; its peer a bridge port.
		ip link add "$port" type veth peer name "$fabend" netns "$SL_CL_FAB" || return 1
		sysctl -qw "net.ipv6.conf.$port.disable_ipv6=1" 2>/dev/null || true
		ip link set "$port" up
		ip -n "$SL_CL_FAB" link set "$fabend" master br0 up
		# The node's hosts.
		ip link add "$app" netns "$ns" type veth peer name "$append" netns "$SL_CL_FAB" || return 1
		ip -n "$SL_CL_FAB" link set "$append" master br0 up
		ip -n "$ns" link set lo up
		ip -n "$ns" addr add "$prefix.$k.10/24" dev "$app"
		for i in 11 12 13 14 15 16 17 18; do
			ip -n "$ns" addr add "$prefix.$k.$i/24" dev "$app"
		done
		ip -n "$ns" link set "$app" up
		ip -n "$ns" route add "$prefix.0.0/16" via "$prefix.$k.1" dev "$app"
		if command -v ethtool >/dev/null 2>&1; then
			ethtool -K "$port" tx off >/dev/null 2>&1 || true
			ip netns exec "$ns" ethtool -K "$app" tx off >/dev/null 2>&1 || true
		fi
	done
}

# sl_cl_node_start K SLUICED LOGDIR SOCKDIR EAL_PREFIX TTL [OPTION...]:
# sluiced as node nK of the cluster (after sl_cl_etcd_up and sl_cl_net_up)
# on its port, its control socket SOCKDIR/nK.sock (SL_CL_SOCK[K]), its
# stats LOGDIR/nK-stats.json, logs LOGDIR/nK.log and .err, the lease TTL,
# running as nobody, with OPTIONs; waits for its ready line. Its pid in
# SL_CL_NODE_PID[K]; returns sl_sluiced_start's status.
SL_CL_NODE_PID=()
SL_CL_SOCK=()
sl_cl_node_start() {
	local k=$1 sluiced=$2 logs=$3 socks=$4 eal=$5 ttl=$6 rc=0
	shift 6
	SL_CL_SOCK[k]=$socks/n$k.sock
	sl_sluiced_start "$sluiced" "$logs/n$k.log" "$logs/n$k.err" 30 \
		--cluster "$SL_CL_ETCD_ENDPOINTS" --node "n$k" --cluster-ttl "$ttl" \
		--iface "${SL_CL_PORT[k]}" --control "${SL_CL_SOCK[k]}" \
		--stats-file "$logs/n$k-stats.json" --user nobody "$@" \
		-- --file-prefix "$eal-n$k" || rc=$?
	SL_CL_NODE_PID[k]=$SL_SLUICED_PID
	SL_SLUICED_PID=
	return $rc
}

# sl_cl_nodes_stop: SIGTERM every node still running, and wait.
sl_cl_nodes_stop() {
	local k
	for k in "${!SL_CL_NODE_PID[@]}"; do
		[[ -z ${SL_CL_NODE_PID[k]} ]] || sl_stop "${SL_CL_NODE_PID[k]}" 10 || true
		SL_CL_NODE_PID[k]=
	done
}

# sl_cl_down: everything sl_cl_etcd_up and sl_cl_net_up made (the work
# folder stays).
sl_cl_down() {
	local k ns pids pid
	for k in "${!SL_CL_ETCD_PIDS[@]}"; do
		sl_cl_etcd_stop "$k"
	done
	for ns in "${SL_CL_NS[@]}" "$SL_CL_FAB"; do
		[[ -n $ns ]] || continue
		pids=$(ip netns pids "$ns" 2>/dev/null || true)
		for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
		ip netns del "$ns" 2>/dev/null || true
	done
	for k in "${!SL_CL_PORT[@]}"; do
		ip link del "${SL_CL_PORT[k]}" 2>/dev/null || true
	done
	SL_CL_NS=()
	SL_CL_PORT=()
	SL_CL_FAB=
}
