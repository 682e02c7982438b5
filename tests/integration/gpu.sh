#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# gpu.sh - the e2e chain with its first stage on local GPU instances
# (`gpu: true`), sluiced --gpu host: the client's requests reach draft
# through sluiced's token rings (the gpu_tx node, one ring per worker, a
# file in --gpu-dir), never the network; the two draft engines attach to
# the rings (sluice-engine --gpu-attach) and answer over UDP as usual;
# polish is reached over the network. Asserts that every request came back
# whole and transformed by both stages; that every client fragment went
# into a ring and none onto the wire (forwarded = the engines' outputs
# only); that the engines took exactly one ring stream per request; no
# drop, every mbuf back, the ring files gone after sluiced stopped. The
# receive pool lies in registered external memory (--rx-extmem). First,
# sluiced --gpu off refuses the same file, naming the instance.
#
# usage: gpu.sh WORK_BASE (binaries in SLUICED SLUICEGEN SLUICE_ENGINE NETNS_SH)

set -euo pipefail
IT_NAME=gpu
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
it_init "$@"
it_need_bin SLUICED SLUICEGEN SLUICE_ENGINE NETNS_SH

gpu_dir=$IT_WORK/gpu
rm -rf "$gpu_dir"
config=$IT_WORK/pipeline.yaml
it_write_config "$config" 0 1
sed -i "s|instances: \[$IT_PREFIX.11:7801, $IT_PREFIX.12:7801\]|instances: [{address: \"$IT_PREFIX.11:7801\", gpu: true}, {address: \"$IT_PREFIX.12:7801\", gpu: true}]|" "$config"
grep -q 'gpu: true' "$config" || it_fail "could not mark draft's instances gpu: true"

# Without token rings the file is refused at start, the instance named.
rc=0
"$SLUICED" --config "$config" --vdev net_null0 --gpu off --control none \
	--user "$IT_SLUICED_USER" \
	--state-dir none -- --file-prefix "$IT_EAL_PREFIX-off" \
	>"$IT_WORK/gpu-off.log" 2>&1 || rc=$?
[[ $rc -eq 1 ]] || it_fail "sluiced --gpu off with a GPU instance exited $rc (want 1)"
grep -q 'pipelines.demo.stages.draft.instances.draft/0.gpu: a local GPU instance, but sluiced runs with --gpu=off' \
	"$IT_WORK/gpu-off.log" ||
	it_fail "sluiced --gpu off did not name the GPU instance: $(head -c 300 "$IT_WORK/gpu-off.log")"

it_netns_up
it_engine_gpu() {
	sl_engine_start "$IT_NS" "$SLUICE_ENGINE" "$IT_WORK" "$1" "$2" \
		--transform "$3" --gpu-attach "$gpu_dir"
}
# The engines first (sluiced PROBEs its instances at once: a port not yet
# bound answers ICMP, a NOT_UDP drop); the draft ones find the ring files
# when sluiced has made them (they look again every second).
it_engine_gpu draft/0 "$IT_PREFIX.11:7801" upper
it_engine_gpu draft/1 "$IT_PREFIX.12:7801" upper
it_engine polish/0 "$IT_PREFIX.13:7801" rot13
it_engine polish/1 "$IT_PREFIX.14:7801" rot13
it_wait_udp "$IT_PREFIX.11:7801" "$IT_PREFIX.12:7801" \
	"$IT_PREFIX.13:7801" "$IT_PREFIX.14:7801"
# The receive pool in registered external memory too (--rx-extmem: the
# path GPU memory takes, host memory here).
IT_SLUICED_EXTRA=(--gpu host --gpu-dir "$gpu_dir" --rx-extmem)
it_sluiced "$config"
grep -q '^sluiced: receive pool in external memory: ' "$IT_WORK/sluiced.log" ||
	it_fail "sluiced did not say its receive pool is in external memory"
workers=${IT_WORKERS:-1}
for ((w = 0; w < workers; w++)); do
	[[ -f $gpu_dir/ring-$w ]] || it_fail "no ring file $gpu_dir/ring-$w"
done
# Both draft engines attached to every ring (their stats say so).
for ((i = 0; i < 100; i++)); do
	n=0
	for e in draft-0 draft-1; do
		jq -e ".gpu_rings == $workers" "$IT_WORK/engine-$e.json" >/dev/null 2>&1 &&
			n=$((n + 1))
	done
	((n == 2)) && break
	sleep 0.1
done
((n == 2)) || it_fail "the draft engines did not attach to $workers rings in 10 s"

gen=$IT_WORK/sluicegen.json
it_gen_whole "$gen" 100 --streams 8 --rate 500 --fragments-per-request 1 \
	--tokens-per-fragment 16 --duration 3 --drain-ms 2000 \
	--expect upper,rot13 --check

stats=$IT_WORK/sluiced-stats.json
it_engine_stats
engines=$IT_WORK/engines.json
completed=$(jq '.completed' "$gen")
fragments=$(jq '.fragments' "$gen")

# Every client fragment into a ring, one ring stream per request.
it_expect "$stats" ".gpu_fragments == $fragments" \
	"gpu_fragments $(jq .gpu_fragments "$stats") != client fragments $fragments"
it_expect "$stats" ".gpu_streams == $completed" \
	"gpu_streams $(jq .gpu_streams "$stats") != requests $completed"
it_expect "$stats" '.gpu_aborts == 0 and .gpu_markers == 0 and
	.gpu_ring_dropped == 0 and .gpu_ring_batch_errors == 0' \
	"ring streams aborted or dropped: $(jq -c '{gpu_aborts, gpu_markers, gpu_ring_dropped, gpu_ring_batch_errors}' "$stats")"
it_expect "$engines" "[.[] | select(.name | startswith(\"draft/\")) |
	.gpu_streams_taken] | add == $completed" \
	"draft engines did not take one ring stream per request"
it_expect "$engines" "[.[] | select(.name | startswith(\"draft/\")) |
	.gpu_tokens_in] | add == 16 * $completed" \
	"draft engines did not read 16 tokens per request from the rings"
it_expect "$engines" "[.[] | select(.name | startswith(\"polish/\")) |
	.gpu_streams_taken // 0] | add == 0" "polish took ring streams"
it_expect "$engines" 'all(.[]; .misordered == 0 and .duplicates == 0 and
	.incomplete == 0 and .invalid == 0 and .aborted_in == 0)' \
	"an engine saw misordered, duplicate, incomplete, invalid or aborted streams"
# Nothing of the clients' went onto the wire: forwarded is what the
# engines sent on (draft to polish, polish to the client).
out_draft=$(jq '[.[] | select(.name | startswith("draft/")) | .fragments_out] | add' "$engines")
out_polish=$(jq '[.[] | select(.name | startswith("polish/")) | .fragments_out] | add' "$engines")
it_expect "$stats" ".forwarded == $out_draft + $out_polish" \
	"forwarded $(jq .forwarded "$stats") != draft $out_draft + polish $out_polish"
it_expect "$stats" '.drops_total == 0' \
	"sluiced dropped packets: $(jq -c '.drops | with_entries(select(.value > 0))' "$stats")"
it_expect "$stats" '.mbufs.in_use == .mbufs.in_use_start' \
	"mbufs leaked: $(jq -c '.mbufs' "$stats")"
[[ -z $(ls -A "$gpu_dir" 2>/dev/null) ]] ||
	it_fail "ring files left after sluiced stopped: $(ls "$gpu_dir")"

it_log "PASS: $completed requests, $fragments fragments into token rings, p99 $(jq .p99_us "$gen") us"
