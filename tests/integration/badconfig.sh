#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# badconfig.sh - sluiced refuses a bad pipeline file before it touches the
# EAL: exit status 1, nothing on stdout, and exactly one line on stderr,
# `sluiced: FILE:LINE: FIELD: message`, naming the first fault. One file per
# fault: an unknown key, aggregation 9, a bad sluiced address, a bad
# instance address, a stage without instances, a missing file.
#
# usage: badconfig.sh WORK_BASE (binary in SLUICED)

set -euo pipefail
IT_NAME=badconfig
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# No namespace and no root needed: the file is parsed before EAL init.
base=${1:-${TMPDIR:-/tmp}}
IT_WORK=$base/$IT_NAME.work
rm -rf "$IT_WORK"
mkdir -p "$IT_WORK"
it_need_bin SLUICED
dir=$IT_WORK

cases=0
failures=0

# check NAME EXPECTED_STDERR_LINE: write nothing, run sluiced on
# $dir/NAME.yaml (written by the caller) and compare.
check() {
	local name=$1 want=$2 file=$dir/$1.yaml rc=0 out err
	# --iface names an interface that need not exist: the config is
	# refused first. A prefix of its own in case sluiced got as far as EAL.
	timeout 20 "$SLUICED" --config "$file" --iface sl-none0 \
		-- --file-prefix "sl-it-badconfig-$$" \
		>"$dir/$name.out" 2>"$dir/$name.err" || rc=$?
	rm -rf "/var/run/dpdk/sl-it-badconfig-$$"
	out=$(cat "$dir/$name.out")
	err=$(cat "$dir/$name.err")
	cases=$((cases + 1))
	if [[ $rc -ne 1 ]]; then
		echo "[$IT_NAME] $name: exit status $rc, want 1" >&2
		failures=$((failures + 1))
	elif [[ $err != "$want" ]]; then
		echo "[$IT_NAME] $name: stderr differs" >&2
		echo "  want: $want" >&2
		echo "  got:  ${err//$'\n'/$'\n        '}" >&2
		failures=$((failures + 1))
	elif [[ -n $out ]]; then
		echo "[$IT_NAME] $name: unexpected stdout: $out" >&2
		failures=$((failures + 1))
	else
		echo "[$IT_NAME] ok: $name: $err"
	fi
}

# The shape every case starts from (lines 1..14), as in tools/demo.
good() {
	cat <<'EOF'
sluiced: {address: 10.77.0.1, port: 7700}
flows: {size: 65536, idle_timeout_ms: 5000, reorder_window: 16}
clients: [10.77.0.0/24]
pipelines:
  - name: demo
    id: 1
    stages:
      - name: draft
        aggregation: 0
        instances: [10.77.0.11:7801, 10.77.0.12:7801]
      - name: polish
        aggregation: 1
        instances: [10.77.0.13:7801, 10.77.0.14:7801]
EOF
}

# 1. A misspelt key (line 2).
good | sed 's/idle_timeout_ms/idle_timout_ms/' >"$dir/unknown-key.yaml"
check unknown-key \
	"sluiced: $dir/unknown-key.yaml:2: flows.idle_timout_ms: unknown key"

# 2. Aggregation beyond the ancestry depth (line 12).
good | sed '12s/aggregation: 1/aggregation: 9/' >"$dir/aggregation-9.yaml"
check aggregation-9 \
	"sluiced: $dir/aggregation-9.yaml:12: pipelines[0].stages[1].aggregation: must be 0..6, got 9"

# 3. sluiced's own address is no IPv4 address (line 1).
good | sed '1s/10.77.0.1,/10.77.0.256,/' >"$dir/bad-address.yaml"
check bad-address \
	"sluiced: $dir/bad-address.yaml:1: sluiced.address: must be a unicast IPv4 address, got \"10.77.0.256\""

# 4. An instance address with a bad octet (line 10, second item).
good | sed '10s/10.77.0.12:7801/10.77.0.312:7801/' >"$dir/bad-instance.yaml"
check bad-instance \
	"sluiced: $dir/bad-instance.yaml:10: pipelines[0].stages[0].instances[1]: must be IPv4:PORT (unicast address, port 1..65535), got \"10.77.0.312:7801\""

# 5. A stage without instances: reported at the stage's first line (11).
good | sed '13d' >"$dir/missing-instances.yaml"
check missing-instances \
	"sluiced: $dir/missing-instances.yaml:11: pipelines[0].stages[1].instances: required field missing"

# 6. No such file.
check no-such-file \
	"sluiced: $dir/no-such-file.yaml: cannot open: No such file or directory"

echo "[$IT_NAME] $((cases - failures))/$cases cases as expected"
[[ $failures -eq 0 ]] || exit 1
