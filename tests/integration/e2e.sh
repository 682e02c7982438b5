#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# e2e.sh - client -> sluiced -> draft (2 instances, aggregation 0, upper)
# -> sluiced -> polish (2 instances, aggregation 1, rot13) -> sluiced ->
# client, for a few seconds at a moderate rate. Asserts that every request
# came back complete, in order and transformed by both stages; that each
# engine saw whole, ordered streams; that sluiced's counters balance
# (forwarded = every fragment of every hop, no drop, every mbuf back).
#
# usage: e2e.sh WORK_BASE (binaries in SLUICED SLUICEGEN SLUICE_ENGINE NETNS_SH)

set -euo pipefail
IT_NAME=e2e
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
it_init "$@"
it_need_bin SLUICED SLUICEGEN SLUICE_ENGINE NETNS_SH

it_two_stage

# The client's view: nothing lost, doubled, reordered, altered or aborted.
gen=$IT_WORK/sluicegen.json
it_gen_whole "$gen" 200 --streams 16 --rate 4000 --fragments-per-request 8 \
	--tokens-per-fragment 4 --duration 4 --drain-ms 1500 \
	--expect upper,rot13 --check

stats=$IT_WORK/sluiced-stats.json
it_engine_stats
engines=$IT_WORK/engines.json

# The engines' view: whole, ordered streams on every instance.
it_expect "$engines" 'length == 4' "want stats from 4 engines"
it_expect "$engines" 'all(.[]; .misordered == 0 and .duplicates == 0 and
	.incomplete == 0 and .invalid == 0 and .aborted_in == 0)' \
	"an engine saw misordered, duplicate, incomplete, invalid or aborted streams"
completed=$(jq '.completed' "$gen")
fragments=$(jq '.fragments' "$gen")
for stage in draft polish; do
	it_expect "$engines" "[.[] | select(.name | startswith(\"$stage/\")) |
		.streams_completed] | add == $completed" \
		"$stage instances' streams_completed does not sum to $completed"
done
it_expect "$engines" "[.[] | select(.name | startswith(\"draft/\")) |
	.fragments_in] | add == $fragments" \
	"draft instances did not receive every fragment the client sent"

# sluiced's view: per-instance streams, conservation, no drops, no leak.
it_expect "$stats" '.instances | length == 4' "want 4 instances in sluiced's stats"
for stage in draft polish; do
	it_expect "$stats" "[.instances[] | select(.stage == \"$stage\") |
		.streams] | add == $completed" \
		"sluiced's $stage streams do not sum to $completed"
done
# Round robin (draft) must use both instances; the aggregation-1 hash
# (polish) must too, with this many requests.
it_expect "$stats" 'all(.instances[]; .streams > 0)' \
	"an instance got no stream"
it_expect "$stats" '.drops_total == 0 and ([.drops[]] | add) == 0' \
	"sluiced dropped packets: $(jq -c '.drops | with_entries(select(.value > 0))' "$stats")"
it_expect "$stats" '.mbufs.in_use == .mbufs.in_use_start' \
	"mbufs leaked: $(jq -c '.mbufs' "$stats")"
# One flow per hop of each request (client->draft, draft->polish,
# polish->client), each ended by its END fragment, none left to expire.
it_expect "$stats" ".flows.created == 3 * $completed and
	.flows.ended == .flows.created and .flows.expired == 0 and
	.flows.active == 0" "flows do not balance: $(jq -c '.flows' "$stats")"
out_draft=$(jq '[.[] | select(.name | startswith("draft/")) | .fragments_out] | add' "$engines")
out_polish=$(jq '[.[] | select(.name | startswith("polish/")) | .fragments_out] | add' "$engines")
it_expect "$stats" ".forwarded == $fragments + $out_draft + $out_polish" \
	"forwarded $(jq .forwarded "$stats") != client $fragments + draft $out_draft + polish $out_polish"
it_expect "$gen" ".fragments_received == $out_polish" \
	"client received $(jq .fragments_received "$gen") != polish sent $out_polish"

it_log "PASS: $completed requests, $fragments fragments, p99 $(jq .p99_us "$gen") us"
