#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# guard.sh - a guard's rules changed at run time through the control API.
# sluiced runs client -> answer (two replay engines answering recorded
# TOFU retain-set questions) -> client with guard `names` on the answer's
# way back. Three questions whose answers all name a Vasquez:
#   1. the guard holds a name none of them contains: all three answered,
#      byte-exact;
#   2. `sluicectl guard add --guard names --literal "vaSQUEZ"`: the
#      same questions are all blocked (ABORT GUARD, nothing of the name in
#      what the client received), `guard list` shows the rule with 3
#      blocks;
#   3. `sluicectl guard remove` of it: answered again;
#   plus the exact errors for an unknown guard, an unknown rule and a
#   regex that does not compile, and every mbuf back at the end.
#
# usage: guard.sh WORK_BASE
#   (binaries in SLUICED SLUICEGEN SLUICE_ENGINE SLUICECTL NETNS_SH)

set -euo pipefail
IT_NAME=guard
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
it_init "$@"
it_need_bin SLUICED SLUICEGEN SLUICE_ENGINE SLUICECTL NETNS_SH

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
data=$root/tools/data/tofu/llama2-7b-full.retain.jsonl
head -n 3 "$data" >"$IT_WORK/questions.jsonl"

it_control_setup auto
it_netns_up
P=$IT_PREFIX
cat >"$IT_WORK/pipeline.yaml" <<YAML
sluiced: {address: $P.1, port: $IT_PORT}
flows: {size: 4096, idle_timeout_ms: 5000, reorder_window: 16}
clients: [$P.0/24]
guards:
  - {name: names, action: block, literals: [Nobody Atall]}
pipelines:
  - name: tofu
    id: 1
    stages:
      - {name: answer, instances: [$P.11:7801, $P.12:7801]}
    edges:
      - {from: client, to: answer}
      - {from: answer, to: client, guard: names}
YAML
for i in 11 12; do
	sl_engine_start "$IT_NS" "$SLUICE_ENGINE" "$IT_WORK" "answer/$i" \
		"$P.$i:7801" --role replay --data "$data" --time-scale 0.01 \
		--seed "$i"
done
it_wait_udp "$P.11:7801" "$P.12:7801"
it_sluiced "$IT_WORK/pipeline.yaml"
it_ctl_wait

# ask ROUND: the three questions; dump in $IT_WORK/ROUND.tsv.
ask() {
	it_gen "$IT_WORK/$1.json" --mode pipeline \
		--questions "$IT_WORK/questions.jsonl" --request-rate 20 \
		--drain-ms 3000 --dump "$IT_WORK/$1.tsv" || true
}

ask open
it_expect "$IT_WORK/open.json" '.completed == 3 and .aborted == 0 and .lost == 0' \
	"all three answered with the guard's first rule"
for i in 1 2 3; do
	want=$(sed -n "${i}p" "$IT_WORK/questions.jsonl" | jq -r .generated)
	got=$(awk -F'\t' -v n="$((i - 1))" '$1 == n { print $4 }' "$IT_WORK/open.tsv")
	[[ $got == "$want" ]] || it_fail "answer $i differs: '$got'"
done

it_ctl_ok guard add --guard names --literal "vaSQUEZ"
ask blocked
it_expect "$IT_WORK/blocked.json" \
	'.aborted == 3 and .aborted_by_reason.GUARD == 3 and .completed == 0' \
	"all three blocked once the rule is added"
if grep -qi 'vasquez' "$IT_WORK/blocked.tsv"; then
	it_fail "a blocked answer reached the client: $(grep -i vasquez "$IT_WORK/blocked.tsv")"
fi
it_ctl_ok guard list --json
jq -e '.guards[0].rules | length == 2 and
	(map(select(.pattern == "vaSQUEZ"))[0].blocks == 3)' \
	<<<"$CTL_OUT" >/dev/null || it_fail "guard list: $CTL_OUT"

it_ctl_ok guard remove --guard names --literal "vaSQUEZ"
ask reopened
it_expect "$IT_WORK/reopened.json" '.completed == 3 and .aborted == 0' \
	"answered again once the rule is removed"

it_ctl guard add --guard nope --literal x
[[ $CTL_RC -ne 0 && $CTL_ERR == *'no guard named "nope"'* ]] ||
	it_fail "unknown guard: rc $CTL_RC: $CTL_ERR"
it_ctl guard remove --guard names --literal "not there"
[[ $CTL_RC -ne 0 && $CTL_ERR == *'has no literal "not there"'* ]] ||
	it_fail "unknown rule: rc $CTL_RC: $CTL_ERR"
it_ctl guard add --guard names --regex "("
[[ $CTL_RC -ne 0 && $CTL_ERR == *'pattern'* ]] ||
	it_fail "bad regex: rc $CTL_RC: $CTL_ERR"

it_stop_all
it_expect "$IT_WORK/sluiced-stats.json" '.final and .mbufs.in_use == .mbufs.in_use_start' \
	"every mbuf back"
it_expect "$IT_WORK/sluiced-stats.json" '.guard_blocks == 3' "three streams blocked"
it_log "OK"
