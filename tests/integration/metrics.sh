#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# metrics.sh - sluiced --metrics PORT: GET /metrics on 127.0.0.1 after a
# known run (tools/pipelines/chain.yaml, clean sluicegen traffic plus
# sluice-inject's malformed frames). Asserts: HTTP 200 with the Prometheus
# 0.0.4 content type, 404 for another path or method; `promtool check
# metrics` accepts every scrape (exit 0); exact values: generation 1, each
# drop reason as sluice-inject sent it (BAD_MAGIC among them) and as
# `sluicectl stats --json` counts it, per-instance fragments, streams
# routed, active streams and draining as in the stats JSON, the draft
# instances' fragments summing to what the client sent, forwarded
# fragments, flows and mbufs as in the JSON, and the API's own counters
# (requests, NOT_FOUND errors) moving by exactly what was asked; after a
# drain, generation 2 and polish/1 draining 1.
#
# usage: metrics.sh WORK_BASE
#   (binaries in SLUICED SLUICEGEN SLUICE_ENGINE SLUICE_INJECT SLUICECTL
#   NETNS_SH; curl and promtool from tools/deps.sh)

set -euo pipefail
IT_NAME=metrics
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
it_init "$@"
it_need_bin SLUICED SLUICEGEN SLUICE_ENGINE SLUICE_INJECT SLUICECTL NETNS_SH
command -v curl >/dev/null 2>&1 || it_fail "curl is not installed (tools/deps.sh)"
command -v promtool >/dev/null 2>&1 ||
	it_fail "promtool is not installed (package prometheus, tools/deps.sh)"

port=$(it_free_port)
it_control_setup auto --metrics "$port"
it_chain
it_ctl_wait
url=http://127.0.0.1:$port/metrics

# scrape NAME: GET /metrics into $IT_WORK/NAME.prom (headers in
# NAME.headers), status 200, right content type, promtool content.
scrape() {
	local f=$IT_WORK/$1 code rc=0
	code=$(curl -sS --max-time 5 -D "$f.headers" -o "$f.prom" -w '%{http_code}' "$url") ||
		it_fail "curl $url failed"
	[[ $code == 200 ]] || it_fail "GET /metrics: HTTP $code"
	grep -qiF $'Content-Type: text/plain; version=0.0.4; charset=utf-8\r' "$f.headers" ||
		it_fail "GET /metrics: wrong content type: $(grep -i content-type "$f.headers")"
	promtool check metrics <"$f.prom" >"$f.promtool" 2>&1 || rc=$?
	[[ $rc -eq 0 ]] || it_fail "promtool check metrics exited $rc on $1.prom: $(head -5 "$f.promtool")"
}

# metric FILE SERIES: the value of SERIES (name plus labels, exactly as
# exposed) in a scrape; fails when absent.
metric() {
	local v
	v=$(awk -v k="$2" '$1 == k { print $2; n++ } END { exit n != 1 }' "$IT_WORK/$1.prom") ||
		it_fail "$1.prom: no single sample $2"
	echo "$v"
}

# expect_metric FILE SERIES VALUE
expect_metric() {
	local v
	v=$(metric "$1" "$2")
	[[ $v == "$3" ]] || it_fail "$1.prom: $2 is $v, want $3"
}

scrape start
expect_metric start sluice_config_generation 1
expect_metric start 'sluice_drops_total{reason="BAD_MAGIC"}' 0
expect_metric start 'sluice_instance_draining{pipeline="demo",stage="polish",instance="polish/1"}' 0
for f in sluice_config_generation sluice_drops_total sluice_instance_fragments_total \
	sluice_instance_streams_routed_total sluice_instance_streams_active \
	sluice_instance_draining sluice_flows_active sluice_mbufs_in_use \
	sluice_fragment_residence_seconds sluice_api_requests_total \
	sluice_api_errors_by_code_total sluice_control_loop_accepted_total; do
	{ grep -q "^# HELP $f " "$IT_WORK/start.prom" && grep -q "^# TYPE $f " "$IT_WORK/start.prom"; } ||
		it_fail "start.prom: family $f lacks # HELP or # TYPE"
done
code=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/other")
[[ $code == 404 ]] || it_fail "GET /other: HTTP $code, want 404"
code=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' -X POST "$url")
[[ $code == 404 ]] || it_fail "POST /metrics: HTTP $code, want 404"

# The known run: clean traffic, and 3 malformed frames of each kind.
gen=$IT_WORK/sluicegen.json
inject=$IT_WORK/inject.json
it_gen "$gen" --mode transform --streams 16 --rate 4000 --fragments-per-request 8 \
	--tokens-per-fragment 4 --duration 3 --drain-ms 1500 \
	--expect upper,rot13 --check &
gen_pid=$!
sleep 1
rc=0
ip netns exec "$IT_NS" "$SLUICE_INJECT" --iface "$NS_IF" --dst-mac "$SLUICED_MAC" \
	--src-ip "$IT_PREFIX.10" --dst-ip "$IT_PREFIX.1" --dst-port "$IT_PORT" \
	--pipeline 1 --count 3 --json >"$inject" 2>"$IT_WORK/inject.err" || rc=$?
[[ $rc -eq 0 ]] || it_fail "sluice-inject exited $rc"
gen_rc=0
wait "$gen_pid" || gen_rc=$?
[[ $gen_rc -eq 0 ]] || it_fail "sluicegen --check exited $gen_rc"
it_expect "$gen" '.lost == 0 and .completed == .requests and .requests > 0' \
	"sluicegen saw damage"
it_expect "$inject" '.BAD_MAGIC > 0' "sluice-inject sent no BAD_MAGIC frame"
# Let the last flows' counters settle (nothing is in flight any more).
sleep 0.5

it_ctl_stats "$IT_WORK/stats.json"
stats=$IT_WORK/stats.json
scrape run
# Malformed frames the kernel keeps (IP fragments, see malformed.sh) never
# reach sluiced; everything else is counted as sent.
jq '.IP_FRAGMENT = 0' "$inject" >"$IT_WORK/expected-drops.json"
# Every reason: the scrape says what the JSON says. The injected ones:
# exactly what was sent. Others are reported (the clean traffic is not
# what this test is about; e2e.sh and malformed.sh hold it to 0).
while IFS=$'\t' read -r reason counted; do
	expect_metric run "sluice_drops_total{reason=\"$reason\"}" "$counted"
	want=$(jq --arg r "$reason" '.[$r] // empty' "$IT_WORK/expected-drops.json")
	if [[ -n $want ]]; then
		[[ $counted -eq $want ]] ||
			it_fail "drop $reason counted $counted, sluice-inject sent $want"
	elif ((counted != 0)); then
		it_log "note: $counted drops $reason beside the injected ones"
	fi
done < <(jq -r '.drops | to_entries[] | "\(.key)\t\(.value)"' "$stats")
expect_metric run 'sluice_drops_total{reason="BAD_MAGIC"}' "$(jq .BAD_MAGIC "$inject")"
expect_metric run sluice_config_generation 1
expect_metric run sluice_forwarded_fragments_total "$(jq .forwarded "$stats")"
n=0
while IFS=$'\t' read -r stage inst frags routed active draining; do
	l="{pipeline=\"demo\",stage=\"$stage\",instance=\"$inst\"}"
	expect_metric run "sluice_instance_fragments_total$l" "$frags"
	expect_metric run "sluice_instance_streams_routed_total$l" "$routed"
	expect_metric run "sluice_instance_streams_active$l" "$active"
	expect_metric run "sluice_instance_draining$l" "$draining"
	((frags > 0)) || it_fail "instance $inst forwarded nothing"
	n=$((n + 1))
done < <(jq -r '.instances[] | [.stage, .instance, .fragments, .streams_routed,
	.streams, (if .draining then 1 else 0 end)] | @tsv' "$stats")
[[ $n -eq 4 ]] || it_fail "stats --json lists $n instances, want 4"
draft=$(($(metric run 'sluice_instance_fragments_total{pipeline="demo",stage="draft",instance="draft/0"}') +
	$(metric run 'sluice_instance_fragments_total{pipeline="demo",stage="draft",instance="draft/1"}')))
[[ $draft -eq $(jq .fragments "$gen") ]] ||
	it_fail "draft instances forwarded $draft fragments, the client sent $(jq .fragments "$gen")"
expect_metric run sluice_flows_created_total "$(jq .flows.created "$stats")"
expect_metric run sluice_flows_ended_total "$(jq .flows.ended "$stats")"
expect_metric run sluice_flows_expired_total "$(jq .flows.expired "$stats")"
expect_metric run sluice_flows_capacity "$(jq .flows.capacity "$stats")"
# A level, not a counter: a PROBE or an ACK on its way out holds an mbuf
# for a moment (2 seen once in 4 workers' scrape). Scraped again, a few
# times, until it agrees.
want=$(jq .mbufs.in_use "$stats")
for ((i = 0; i < 20; i++)); do
	[[ $(metric run sluice_mbufs_in_use) == "$want" ]] && break
	sleep 0.05
	scrape run
done
expect_metric run sluice_mbufs_in_use "$want"
expect_metric run sluice_mbufs_capacity "$(jq .mbufs.capacity "$stats")"
it_expect "$stats" '.mbufs.in_use == .mbufs.in_use_start' "mbufs in use after the run"

# The API's own counters move by exactly what is asked of it.
req0=$(metric run sluice_api_requests_total)
nf0=$(metric run 'sluice_api_errors_by_code_total{code="NOT_FOUND"}')
it_ctl_ok get demo
it_ctl_refused 1 'sluicectl: get: name: no pipeline named "nope"' get nope
it_ctl_ok drain --pipeline demo --stage polish --name polish/1
scrape drained
expect_metric drained sluice_api_requests_total $((req0 + 3))
expect_metric drained 'sluice_api_errors_by_code_total{code="NOT_FOUND"}' $((nf0 + 1))
expect_metric drained sluice_config_generation 2
expect_metric drained 'sluice_instance_draining{pipeline="demo",stage="polish",instance="polish/1"}' 1
expect_metric drained 'sluice_instance_draining{pipeline="demo",stage="polish",instance="polish/0"}' 0
expect_metric drained 'sluice_drops_total{reason="BAD_MAGIC"}' "$(jq .BAD_MAGIC "$inject")"

it_stop_all
it_log "PASS: 3 scrapes accepted by promtool; $(jq .BAD_MAGIC "$inject") BAD_MAGIC, $draft client fragments, generation 1 -> 2"
