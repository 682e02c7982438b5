#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test.sh - the README's second command: install what is missing, build
# with ASan and UBSan into ./build-test, run every suite (unit, tools,
# dataplane, integration), and end with one line:
#
#   N passed, M failed
#
# preceded by "K skipped". A timeout or an error counts as failed; so does
# a build that fails (reported as "0 passed, 1 failed"). Exit status 0 iff
# nothing failed. Works from a fresh clone and when run again.
#
# Environment: SL_SANITIZE (default address,undefined; "none" builds
# without), SL_TEST_ARGS (more `meson test` arguments, e.g. "--suite unit").

set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
builddir=build-test
sanitize=${SL_SANITIZE:-address,undefined}

summary() {
	echo "$3 skipped"
	echo "$1 passed, $2 failed"
}

# shellcheck source=tools/deps.sh
if ! . tools/deps.sh; then
	echo "test.sh: cannot install the packages sluice needs; no test ran"
	summary 0 1 0
	exit 1
fi

echo "test.sh: building $builddir (b_sanitize=$sanitize)"
if ! tools/build.sh "$builddir" "-Db_sanitize=$sanitize" -Db_lundef=false; then
	echo "test.sh: the build failed; no test ran"
	summary 0 1 0
	exit 1
fi

testlog=$builddir/meson-logs/testlog.json
rm -f "$testlog"
rc=0
# shellcheck disable=SC2086 # SL_TEST_ARGS is a list of arguments
meson test -C "$builddir" --print-errorlogs --num-processes 2 \
	--timeout-multiplier 3 ${SL_TEST_ARGS:-} || rc=$?

if [[ ! -s $testlog ]]; then
	echo "test.sh: meson test exited $rc and wrote no $testlog"
	summary 0 1 0
	exit 1
fi

# One JSON object per test. OK and EXPECTEDFAIL pass, SKIP is counted apart,
# everything else (FAIL, TIMEOUT, ERROR, UNEXPECTEDPASS, ...) fails.
counts=$(jq -rs '
	[.[] | .result] as $r |
	[($r | map(select(. == "OK" or . == "EXPECTEDFAIL")) | length),
	 ($r | map(select(. == "SKIP")) | length),
	 ($r | map(select(. != "OK" and . != "EXPECTEDFAIL" and . != "SKIP")) | length)]
	| @tsv' "$testlog")
read -r passed skipped failed <<<"$counts"

if [[ $failed -gt 0 ]]; then
	echo "failed:"
	jq -rs '.[] | select(.result != "OK" and .result != "EXPECTEDFAIL" and
		.result != "SKIP") | "  \(.name) (\(.result))"' "$testlog"
fi
if [[ $skipped -gt 0 ]]; then
	echo "skipped:"
	jq -rs '.[] | select(.result == "SKIP") | "  \(.name)"' "$testlog"
fi
if [[ $failed -eq 0 && $rc -ne 0 ]]; then
	# meson test failed for a reason no test result shows.
	echo "test.sh: meson test exited $rc"
	failed=1
fi
summary "$passed" "$failed" "$skipped"
[[ $failed -eq 0 ]]
