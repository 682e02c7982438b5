#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# loss.sh - every hop loses, duplicates and reorders datagrams (issue 8):
# sluiced's fault injector (--impair) drops PCT% of what it receives and
# sends, duplicates 1% and reorders 3%, on every hop, both ways; the
# two-stage pipeline of e2e.sh runs through it. Loss repair (proto/WIRE.md:
# NACKs, kept copies, END resends on both ends of every hop) must deliver
# every request byte for byte, in order, once: sluicegen --check, nothing
# lost, nothing aborted; the engines saw whole streams; sluiced repaired
# what the injector did and gave every mbuf back. Run at 1% and 10%. At
# 10% a gap whose six NACKs or resends were all dropped (about 5 in
# 100,000 gaps: 0.19^6) ends its request with ABORT (LOST), explicitly:
# at most 1% of the requests, and no other reason.
#
# usage: loss.sh WORK_BASE (binaries in SLUICED SLUICEGEN SLUICE_ENGINE NETNS_SH)

set -euo pipefail
IT_NAME=loss
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
it_init "$@"
it_need_bin SLUICED SLUICEGEN SLUICE_ENGINE NETNS_SH

config=$IT_WORK/pipeline.yaml
it_write_config "$config" 0 1
it_netns_up
it_chain_engines

for pct in 1 10; do
	IT_SLUICED_EXTRA=(--impair "drop=$pct,dup=1,reorder=3,seed=$pct")
	it_sluiced "$config"
	gen=$IT_WORK/sluicegen-$pct.json
	rc=0
	check=(--check)
	[[ $pct -eq 1 ]] || check=()
	it_gen "$gen" --streams 16 --rate 2000 --fragments-per-request 8 \
		--tokens-per-fragment 4 --duration 3 --drain-ms 3000 \
		--expect upper,rot13 "${check[@]}" || rc=$?
	it_log "$pct%: sluicegen: $(jq -c '{requests, completed, lost, duplicated, misordered, corrupted, aborted, rel: (.rel | {nacks_sent, resent, end_resends})}' "$gen" 2>/dev/null || cat "$gen")"
	rc2=0
	it_stop "$SL_SLUICED_PID" sluiced || rc2=$?
	SL_SLUICED_PID=
	[[ $rc2 -eq 0 ]] || it_fail "$pct%: sluiced exited $rc2 on SIGTERM"
	stats=$IT_WORK/sluiced-stats-$pct.json
	cp "$IT_WORK/sluiced-stats.json" "$stats"
	[[ $rc -eq 0 || ($pct -ne 1 && $rc -eq 1) ]] ||
		it_fail "$pct%: sluicegen exited $rc"
	it_expect "$gen" '.completed + .aborted == .requests and
		.requests >= 100 and .lost == 0 and .duplicated == 0 and
		.misordered == 0 and .corrupted == 0 and .unknown == 0' \
		"$pct%: the client saw damage"
	if [[ $pct -eq 1 ]]; then
		it_expect "$gen" '.aborted == 0' "1%: a request was aborted"
	else
		it_expect "$gen" '.aborted * 100 <= .requests and
			((.aborted_by_reason // {}) | to_entries |
			 all(.key == "LOST"))' \
			"$pct%: aborts other than rare LOST: $(jq -c '.aborted_by_reason' "$gen")"
	fi
	it_expect "$stats" '.final and .impair.rx.dropped > 0 and
		.impair.tx.dropped > 0 and .impair.rx.duplicated > 0 and
		.impair.tx.reordered > 0' "$pct%: the injector did nothing: $(jq -c '.impair' "$stats")"
	it_expect "$stats" '.rtx.nacks_tx > 0 and .rtx.resent + .rtx.end_resends > 0' \
		"$pct%: sluiced repaired nothing: $(jq -c '.rtx' "$stats")"
	it_expect "$stats" '.mbufs.in_use == .mbufs.in_use_start' \
		"$pct%: mbufs leaked: $(jq -c '.mbufs' "$stats")"
	it_expect "$stats" '.drops.NO_NEIGHBOR == 0 and .drops.NO_MBUF == 0 and
		.drops.REORDER_FULL == 0 and .drops.HOLD_QUOTA == 0' \
		"$pct%: sluiced lost fragments: $(jq -c '.drops | with_entries(select(.value > 0))' "$stats")"
	it_log "$pct%: $(jq -c '{impair, rtx: (.rtx | {nacks_tx, nacks_rx, resent, end_resends, gave_up})}' "$stats")"
done
it_stop_all
it_engine_stats
it_expect "$IT_WORK/engines.json" 'all(.[]; .incomplete == 0 and .invalid == 0) and
	([.[].aborted_in] | add) <= ([.[].streams] | add) / 100' \
	"an engine saw an incomplete or invalid stream, or many aborted ones"
it_log "PASS: byte-exact at 1%, and at 10% but for $(jq .aborted "$IT_WORK/sluicegen-10.json") explicit LOST, with duplicates and reordering on every hop"
