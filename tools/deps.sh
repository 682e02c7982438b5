#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# deps.sh - install the Debian 12 packages sluice builds and runs with.
#
# Run it (`tools/deps.sh`) or source it (`. tools/deps.sh`): either way it
# installs only what is missing, runs `apt-get update` once and only then,
# and prints nothing when everything is present. Sourcing it changes no
# shell option of the caller. Needs root when something is missing.
#
# Besides Debian's packages: the official OpenAI Node.js client (npm
# `openai`, the version pinned in tools/openai-js/package-lock.json) into
# tools/openai-js/node_modules, with `npm ci` from the npm registry; the
# tests and the demo call the gateway with it as an application would.

SL_DEPS_PACKAGES="meson ninja-build pkg-config gcc libdpdk-dev dpdk-dev
liburing-dev libprotobuf-c-dev protobuf-c-compiler libcunit1-dev libyaml-dev
libjansson-dev libcurl4-openssl-dev libmicrohttpd-dev
libhyperscan-dev libicu-dev iproute2 jq python3 ethtool gnuplot-nox prometheus
clang clang-format libclang-rt-14-dev curl libcap-dev nodejs liblapack-dev
etcd-server etcd-client"

sl_deps_missing() {
	local pkg status
	for pkg in $SL_DEPS_PACKAGES; do
		status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null) || status=
		[ "$status" = installed ] || printf '%s\n' "$pkg"
	done
	# Debian's npm, unless a nodejs from elsewhere brought its own.
	command -v npm >/dev/null 2>&1 || printf '%s\n' npm
}

# sl_deps_npm: tools/openai-js/node_modules as its lock file says.
sl_deps_npm() {
	local dir log rc=0
	dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/openai-js
	# npm ci writes the lock's copy of the package list last: when the
	# two agree, the tree is what the lock file asks for.
	if [ -f "$dir/node_modules/.package-lock.json" ] &&
		[ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ]; then
		return 0
	fi
	echo "deps.sh: npm ci in $dir (the npm openai client)" >&2
	log=$(mktemp)
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >"$log" 2>&1 || rc=$?
	if [ $rc -ne 0 ]; then
		echo "deps.sh: npm ci failed; its output:" >&2
		cat "$log" >&2
	fi
	rm -f "$log"
	return $rc
}

sl_deps_install() {
	local missing log rc
	missing=$(sl_deps_missing)
	[ -z "$missing" ] && { sl_deps_npm; return $?; }

	echo "deps.sh: installing: ${missing//$'\n'/ }" >&2
	SL_DEPS_JUST_INSTALLED=$missing
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps.sh: need root to install packages" >&2
		return 1
	fi
	log=$(mktemp)
	# shellcheck disable=SC2086 # one word per package
	if DEBIAN_FRONTEND=noninteractive apt-get update -q >"$log" 2>&1 &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends $missing >>"$log" 2>&1; then
		rc=0
	else
		rc=1
		echo "deps.sh: apt-get failed; its output:" >&2
		cat "$log" >&2
	fi
	rm -f "$log"
	[ $rc -eq 0 ] || return 1

	missing=$(sl_deps_missing)
	if [ -n "$missing" ]; then
		echo "deps.sh: still missing after install: ${missing//$'\n'/ }" >&2
		return 1
	fi
	# Debian starts a default etcd on 127.0.0.1:2379 when it installs
	# etcd-server; the cluster tests and benchmarks start their own
	# members on ports of their own, so an idle daemon is not left
	# behind. Only when this run installed it: an etcd someone runs on
	# purpose is theirs.
	if [[ $'\n'"$SL_DEPS_JUST_INSTALLED"$'\n' == *$'\n'etcd-server$'\n'* ]] &&
		command -v systemctl >/dev/null 2>&1; then
		systemctl disable --now etcd >/dev/null 2>&1 || true
	fi
	sl_deps_npm
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	sl_deps_install
	exit $?
else
	sl_deps_install
fi
