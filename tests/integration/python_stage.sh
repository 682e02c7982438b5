#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# python_stage.sh - client -> sluiced -> draft (2 instances of the pure-
# Python python/examples/upper_stage.py, aggregation 0) -> sluiced ->
# polish (2 sluice-engine rot13, aggregation 1) -> sluiced -> client.
# Asserts that every request came back complete, in order and transformed
# by both stages (so the Python stage's output is byte-identical to the C
# engine's upper transform, fragment for fragment); that the Python
# instances saw whole streams and both took some; that sluiced dropped
# nothing and got every mbuf back.
#
# usage: python_stage.sh WORK_BASE (binaries in SLUICED SLUICEGEN
# SLUICE_ENGINE NETNS_SH; the example from the source tree, or PY_STAGE)

set -euo pipefail
IT_NAME=python_stage
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
it_init "$@"
it_need_bin SLUICED SLUICEGEN SLUICE_ENGINE NETNS_SH
PY_STAGE=${PY_STAGE:-$IT_SRC_ROOT/python/examples/upper_stage.py}
command -v python3 >/dev/null 2>&1 || it_skip "python3 is not installed"
[[ -f $PY_STAGE ]] || it_fail "no $PY_STAGE"

# py_stage NAME IP:PORT: one Python instance in the namespace; stopped
# (SIGTERM) with the engines; its counters go to $IT_WORK/py-NAME.json.
py_stage() {
	local file=${1//\//-}
	# A simple command, so that $! is the interpreter (ip netns exec
	# execs it) and SIGTERM reaches it.
	ip netns exec "$IT_NS" env PYTHONPATH="$IT_SRC_ROOT/python" \
		PYTHONDONTWRITEBYTECODE=1 python3 "$PY_STAGE" "$2" --name "$1" \
		--stats-file "$IT_WORK/py-$file.json" >"$IT_WORK/py-$file.log" 2>&1 &
	SL_ENGINE_PIDS+=($!)
}

it_write_config "$IT_WORK/pipeline.yaml" 0 1
it_netns_up
py_stage draft/0 "$IT_PREFIX.11:7801"
py_stage draft/1 "$IT_PREFIX.12:7801"
it_engine polish/0 "$IT_PREFIX.13:7801" rot13
it_engine polish/1 "$IT_PREFIX.14:7801" rot13
it_wait_udp "$IT_PREFIX.11:7801" "$IT_PREFIX.12:7801" \
	"$IT_PREFIX.13:7801" "$IT_PREFIX.14:7801"
it_sluiced "$IT_WORK/pipeline.yaml"

gen=$IT_WORK/sluicegen.json
it_gen_whole "$gen" 100 --streams 16 --rate 800 --fragments-per-request 8 \
	--tokens-per-fragment 4 --duration 3 --drain-ms 1500 \
	--expect upper,rot13 --check

stats=$IT_WORK/sluiced-stats.json
it_engine_stats
engines=$IT_WORK/engines.json
jq -s '.' "$IT_WORK"/py-*.json >"$IT_WORK/py.json" ||
	it_fail "Python stage stats missing or not JSON"
py=$IT_WORK/py.json

completed=$(jq '.completed' "$gen")
fragments=$(jq '.fragments' "$gen")

# The Python instances: final stats, whole streams, every one answered.
it_expect "$py" 'length == 2 and all(.[]; .final == true)' \
	"want final stats from 2 Python instances"
it_expect "$py" 'all(.[]; .invalid == 0 and .aborted_in == 0 and
	.streams_aborted == 0 and .streams_refused == 0 and .send_overflow == 0
	and .input_overflow == 0 and .nack_gave_up == 0 and .gave_up == 0)' \
	"a Python instance saw invalid, aborted, refused or lost streams"
it_expect "$py" 'all(.[]; .streams_opened > 0)' "a Python instance got no stream"
it_expect "$py" "[.[].streams_completed] | add == $completed" \
	"Python streams_completed does not sum to $completed"
it_expect "$py" "([.[].fragments_in] | add) == $fragments and
	([.[].fragments_out] | add) == $fragments" \
	"Python instances did not answer every fragment with one fragment"
it_expect "$engines" "length == 2 and ([.[].streams_completed] | add) == $completed" \
	"rot13 instances' streams_completed does not sum to $completed"

# sluiced's view: no drops, no leak, flows balanced.
it_expect "$stats" '.drops_total == 0 and ([.drops[]] | add) == 0' \
	"sluiced dropped packets: $(jq -c '.drops | with_entries(select(.value > 0))' "$stats")"
it_expect "$stats" '.mbufs.in_use == .mbufs.in_use_start' \
	"mbufs leaked: $(jq -c '.mbufs' "$stats")"
it_expect "$stats" ".flows.created == 3 * $completed and
	.flows.ended == .flows.created and .flows.expired == 0 and
	.flows.active == 0" "flows do not balance: $(jq -c '.flows' "$stats")"

it_log "PASS: $completed requests, $fragments fragments, p99 $(jq .p99_us "$gen") us; python: $(jq -c '[.[] | {name, streams_opened, fragments_out, nacks_sent, resent, acks_received}]' "$py")"
