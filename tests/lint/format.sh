#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# format.sh ROOT - every C file of the project is as clang-format (the
# checked-in ROOT/.clang-format) writes it. Lists the files it would
# change and exits 1; fix with
#   clang-format -i --style=file FILE
set -euo pipefail

root=${1:?usage: format.sh ROOT}
cd "$root"
mapfile -t files < <(find control dataplane gpu proto tests tools \
	-path tests/fuzz/corpus -prune -o \
	-type f \( -name '*.c' -o -name '*.h' -o -name '*.cu' \) -print | sort)
bad=0
for f in "${files[@]}"; do
	if ! clang-format --style=file --dry-run --Werror "$f" \
		>/dev/null 2>&1; then
		echo "format.sh: $f is not as clang-format writes it"
		bad=$((bad + 1))
	fi
done
echo "format.sh: ${#files[@]} files, $bad to format"
[ "$bad" -eq 0 ]
