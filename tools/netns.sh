#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# netns.sh - the embedded default's topology: one network namespace joined
# to the host by a veth pair.
#
#   tools/netns.sh up NAME [SUBNET_PREFIX]   (default prefix 10.77.0)
#   tools/netns.sh down NAME
#
# The host end carries no address: sluiced drives it through net_af_packet
# and owns PREFIX.1 itself (it answers ARP for it). The namespace end holds
# PREFIX.10/24 (clients) and PREFIX.11..PREFIX.18/24 (engine instances).
# IPv6 is disabled on both ends so the kernels send no ND/MLD frames that
# sluiced would have to count, and tx checksum offload is off so frames
# leaving the namespace carry complete UDP checksums when DPDK reads them.
#
# Interface names derive from a hash of NAME (11 characters), so several
# namespaces can exist at once. `up` prints shell assignments for eval:
#   HOST_IF=... NS_IF=... HOST_MAC=... NS_MAC=...
# `down` kills what still runs in the namespace, removes the namespace and
# the veth pair, and succeeds when there is nothing left to remove.

set -euo pipefail

usage() {
	echo "usage: $0 up NAME [SUBNET_PREFIX] | down NAME" >&2
	exit 2
}

die() {
	echo "netns.sh: $*" >&2
	exit 1
}

if_names() {
	local hash
	hash=$(printf '%s' "$1" | cksum | awk '{ printf "%08x", $1 }')
	HOST_IF="sl${hash}h"
	NS_IF="sl${hash}n"
}

link_mac() {
	cat "/sys/class/net/$1/address"
}

ns_up() {
	local name=$1 prefix=$2 i

	[[ $prefix =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] ||
		die "SUBNET_PREFIX must be three octets like 10.77.0, got '$prefix'"
	ip netns list >/dev/null 2>&1 || die "'ip netns' is not available"
	if ip netns list | awk '{ print $1 }' | grep -qxF "$name"; then
		die "namespace $name exists already (run: $0 down $name)"
	fi
	[[ -e /sys/class/net/$HOST_IF ]] &&
		die "interface $HOST_IF exists already (run: $0 down $name)"

	# From here on, undo everything if a step fails.
	trap 'ns_down "$name" >/dev/null 2>&1 || true' ERR

	ip netns add "$name"
	ip link add "$HOST_IF" type veth peer name "$NS_IF" netns "$name"

	# Host end: no address, no IPv6 (hence no link-local, ND or MLD).
	sysctl -qw "net.ipv6.conf.$HOST_IF.disable_ipv6=1" 2>/dev/null || true
	ip link set "$HOST_IF" up

	# Namespace end: these sysctls live in the namespace only.
	ip netns exec "$name" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 2>/dev/null || true
	ip netns exec "$name" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
	ip netns exec "$name" sysctl -qw "net.ipv6.conf.$NS_IF.disable_ipv6=1" 2>/dev/null || true
	ip -n "$name" link set lo up
	ip -n "$name" addr add "$prefix.10/24" dev "$NS_IF"
	for i in 11 12 13 14 15 16 17 18; do
		ip -n "$name" addr add "$prefix.$i/24" dev "$NS_IF"
	done
	ip -n "$name" link set "$NS_IF" up

	if command -v ethtool >/dev/null 2>&1; then
		ethtool -K "$HOST_IF" tx off >/dev/null 2>&1 || true
		ip netns exec "$name" ethtool -K "$NS_IF" tx off >/dev/null 2>&1 || true
	fi

	trap - ERR
	echo "HOST_IF=$HOST_IF NS_IF=$NS_IF HOST_MAC=$(link_mac "$HOST_IF")" \
		"NS_MAC=$(ip netns exec "$name" cat "/sys/class/net/$NS_IF/address")"
}

ns_down() {
	local name=$1 pids pid

	if ip netns list 2>/dev/null | awk '{ print $1 }' | grep -qxF "$name"; then
		# Whatever still runs inside was started for this namespace.
		pids=$(ip netns pids "$name" 2>/dev/null || true)
		if [[ -n $pids ]]; then
			for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
			for _ in $(seq 20); do
				pids=$(ip netns pids "$name" 2>/dev/null || true)
				[[ -z $pids ]] && break
				sleep 0.1
			done
			for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
		fi
		ip netns del "$name" 2>/dev/null || true
	fi
	# Deleting the namespace takes its veth end and thus the pair with it;
	# remove the host end too in case a half-made `up` left it behind.
	if [[ -e /sys/class/net/$HOST_IF ]]; then
		ip link del "$HOST_IF" 2>/dev/null || true
	fi
	return 0
}

[[ $# -ge 2 ]] || usage
cmd=$1
name=$2
[[ $name =~ ^[A-Za-z0-9_.-]{1,64}$ ]] || die "bad namespace name '$name'"
if_names "$name"

case $cmd in
up)
	[[ $# -le 3 ]] || usage
	ns_up "$name" "${3:-10.77.0}"
	;;
down)
	[[ $# -eq 2 ]] || usage
	ns_down "$name"
	;;
*)
	usage
	;;
esac
