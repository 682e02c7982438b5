#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# trace.sh - sluicegen --trace replays the first 200 rows of the Azure
# conversation trace (tools/data/azure-llm-trace/) 30 times faster (61 s
# of trace in about 2 s) through sluiced to a one-stage pipeline of two
# answer engines (--role answer, time scale 0.01), open loop, --check.
# Asserts: every request completed and nothing was lost, doubled,
# reordered, altered or aborted; each answer came back with exactly its
# row's GeneratedTokens (47,050 tokens in all, one a fragment) and each
# prompt was prefilled with exactly its row's ContextTokens (180,695),
# the length directive honoured 200 times and never refused; the trace's
# rate is the file's; sluiced forwarded every fragment of both hops,
# dropped none and gave every mbuf back.
#
# usage: trace.sh WORK_BASE (binaries in SLUICED SLUICEGEN SLUICE_ENGINE NETNS_SH)

set -euo pipefail
IT_NAME=trace
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
it_init "$@"
it_need_bin SLUICED SLUICEGEN SLUICE_ENGINE NETNS_SH

trace=$IT_SRC_ROOT/tools/data/azure-llm-trace/AzureLLMInferenceTrace_conv.csv
rows=200
# The file's own numbers for its first 200 rows (header skipped, CRLF).
read -r want_context want_generated first_s last_s < <(
	tr -d '\r' <"$trace" | awk -F, -v n=$rows '
		NR == 1 { next }
		NR <= n + 1 {
			c += $2; g += $3
			split($1, d, " "); split(d[2], t, ":")
			s = t[1] * 3600 + t[2] * 60 + t[3]
			if (NR == 2) first = s
			last = s
		}
		END { printf "%d %d %.7f %.7f\n", c, g, first, last }')
[[ $want_context -eq 180695 && $want_generated -eq 47050 ]] ||
	it_fail "the trace's first $rows rows sum to $want_context/$want_generated, not 180695/47050"

config=$IT_WORK/pipeline.yaml
cat >"$config" <<EOF
sluiced: {address: $IT_PREFIX.1, port: $IT_PORT}
flows: {size: 65536, idle_timeout_ms: 5000, reorder_window: 16}
clients: [$IT_PREFIX.0/24]
pipelines:
  - name: trace
    id: 1
    stages:
      - name: answer
        instances: [$IT_PREFIX.11:7801, $IT_PREFIX.12:7801]
EOF
it_netns_up
for i in 0 1; do
	sl_engine_start "$IT_NS" "$SLUICE_ENGINE" "$IT_WORK" "answer/$i" \
		"$IT_PREFIX.1$((i + 1)):7801" --role answer --time-scale 0.01
done
it_wait_udp "$IT_PREFIX.11:7801" "$IT_PREFIX.12:7801"
it_sluiced "$config"

gen=$IT_WORK/sluicegen.json
rc=0
it_gen "$gen" --trace "$trace" --requests $rows --trace-speedup 30 \
	--drain-ms 5000 --check || rc=$?
it_log "sluicegen: $(jq -c '{requests, completed, lost, aborted, p50_us, p99_us, trace}' "$gen" 2>/dev/null || cat "$gen")"
it_stop_all
[[ $rc -eq 0 ]] || it_fail "sluicegen --trace --check exited $rc"

# The client's view.
it_expect "$gen" ".arrival == \"trace\" and .requests == $rows and
	.completed == $rows" "not every row was replayed and completed"
it_expect "$gen" '.lost == 0 and .duplicated == 0 and .misordered == 0 and
	.corrupted == 0 and .aborted == 0 and .unknown == 0' "sluicegen saw damage"
it_expect "$gen" ".trace.rows == $rows and .trace.first_row == 0 and
	.trace.rows_in_file == 19366 and .trace.speedup == 30" "the trace block"
it_expect "$gen" ".trace.context_tokens == $want_context and
	.trace.max_tokens == $want_generated and
	.trace.result_tokens == $want_generated" \
	"the answers' tokens differ from the trace's GeneratedTokens"
it_expect "$gen" ".fragments_received == $want_generated" \
	"one answer token a fragment: $want_generated fragments expected"
# (rows - 1) / ((last - first) / 30), printed with 3 decimals.
it_expect "$gen" "(.trace.trace_rps - ($rows - 1) / (($last_s - $first_s) / 30)
	| fabs) < 0.001 and .offered_rps == .trace.trace_rps" \
	"the trace rate is not the file's"
it_expect "$gen" '.achieved_rps > 0 and .trace.sent_rps > 0' "no rates"

# The engines' view: exact lengths, exact prompts, both instances used.
it_engine_stats
engines=$IT_WORK/engines.json
it_expect "$engines" 'length == 2 and all(.[]; .bad_directives == 0 and
	.requests_served > 0 and .aborted_in == 0 and .incomplete == 0)' \
	"an engine refused a directive, served nothing or saw broken prompts"
it_expect "$engines" "([.[].length_directives] | add) == $rows and
	([.[].requests_served] | add) == $rows" "not $rows directives honoured"
it_expect "$engines" "([.[].tokens_out] | add) == $want_generated" \
	"the engines did not answer with exactly $want_generated tokens"
it_expect "$engines" "([.[].lm_prompt_tokens] | add) == $want_context" \
	"the engines did not prefill exactly $want_context prompt tokens"

# sluiced's view: both hops forwarded, no drop, no leak.
stats=$IT_WORK/sluiced-stats.json
fragments=$(jq '.fragments' "$gen")
it_expect "$stats" ".forwarded == $fragments + $want_generated" \
	"forwarded $(jq .forwarded "$stats") != client $fragments + engines $want_generated"
it_expect "$stats" '.drops_total == 0' \
	"sluiced dropped packets: $(jq -c '.drops | with_entries(select(.value > 0))' "$stats")"
it_expect "$stats" '.mbufs.in_use == .mbufs.in_use_start' \
	"mbufs leaked: $(jq -c '.mbufs' "$stats")"

it_log "PASS: $rows rows at x30, $want_generated answer tokens exact, trace $(jq .trace.trace_rps "$gen") req/s, achieved $(jq .achieved_rps "$gen") req/s, p99 $(jq .p99_us "$gen") us"
