# SPDX-License-Identifier: MIT
#
# common.sh - sourced by the benchmarks: the release build they run and the
# commit label their results carry.
#
#   bench_build BUILD_DIR TARGET...   meson setup (release, no tests, no
#                                     CUDA) if needed, then ninja TARGETs
#   bench_commit PATH...              short commit of HEAD, "-dirty" when
#                                     PATHs have uncommitted changes;
#                                     SL_BENCH_COMMIT overrides (a tree
#                                     that is no git checkout)

# Tests and CUDA are not needed here; leaving them out keeps the benches
# buildable where CUnit or nvcc is missing.
bench_build() {
	local builddir=$1 root
	shift
	root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	if [[ ! -f $builddir/build.ninja ]]; then
		meson setup "$builddir" "$root" -Dbuildtype=release -Dtests=false \
			-Dcuda=disabled >"$builddir.setup.log" 2>&1 || {
			cat "$builddir.setup.log" >&2
			return 1
		}
		rm -f "$builddir.setup.log"
	fi
	ninja -C "$builddir" "$@" >/dev/null
}

# Numbers belong to the code that ran: mark uncommitted changes to it.
bench_commit() {
	local root commit
	root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	if [[ -n ${SL_BENCH_COMMIT:-} ]]; then
		echo "$SL_BENCH_COMMIT"
		return
	fi
	commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
	if [[ $commit != unknown && -n $(git -C "$root" status --porcelain -- "$@" 2>/dev/null) ]]; then
		commit=$commit-dirty
	fi
	echo "$commit"
}
