#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# build.sh - configure (once) and build sluice into a build folder.
#
#   tools/build.sh BUILD_DIR [MESON_OPTION...]
#
# BUILD_DIR is relative to the repository root unless absolute. The options
# (e.g. -Db_sanitize=address,undefined) are applied at setup, and again with
# `meson configure` when the folder exists already, so a folder left by an
# earlier run with other options is brought in line instead of reused as is.

set -euo pipefail

if [[ $# -lt 1 ]]; then
	echo "usage: $0 BUILD_DIR [MESON_OPTION...]" >&2
	exit 2
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
builddir=$1
shift
[[ $builddir = /* ]] || builddir=$root/$builddir

# Quiet on success; on failure, show what meson or ninja said.
run_logged() {
	local log rc=0
	log=$(mktemp)
	"$@" >"$log" 2>&1 || rc=$?
	if [[ $rc -ne 0 ]]; then
		cat "$log" >&2
		echo "build.sh: failed ($rc): $*" >&2
	fi
	rm -f "$log"
	return $rc
}

if [[ -f $builddir/meson-private/coredata.dat ]]; then
	if [[ $# -gt 0 ]]; then
		run_logged meson configure "$builddir" "$@"
	fi
else
	# A setup that was interrupted left meson-private/ without coredata:
	# start that folder over. Never remove anything else.
	if [[ -d $builddir/meson-private && $builddir != "$root" ]]; then
		rm -rf "$builddir"
	elif [[ -e $builddir && -n $(ls -A "$builddir" 2>/dev/null) ]]; then
		echo "build.sh: $builddir exists and is no meson build folder" >&2
		exit 1
	fi
	run_logged meson setup "$builddir" "$root" "$@"
fi

run_logged ninja -C "$builddir"
