#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# xdp_load.sh - sluiced on AF_XDP under sustained load. sluiced drives the
# host end of the veth through net_af_xdp (its umem is sluiced's own mbuf
# pool); sluicegen's DPDK mode owns the namespace end (net_af_packet) and
# plays the client (PREFIX.20) and the only instance (PREFIX.21:7801) of a
# one-stage pipeline: 16-fragment requests at 5,000 fragments/s for 5 s,
# every fragment crossing sluiced twice, so sluiced receives some 55,000
# frames and keeps its copies for resends meanwhile: its allocations walk
# the whole pool, which every mbuf of must lie inside the umem the PMD
# registers (DPDK 22.11 maps populated_size x object size from the pool's
# first chunk: a pool with gaps between its objects has its last ones
# outside, and every one of them posted to the fill ring is a fill slot
# lost for good; sluiced stopped receiving after about 27,600 frames).
#
# Exact outcomes: every fragment at the instance and back at the client,
# byte-checked (--check), nothing lost, aborted or corrupted, every
# request completed; sluiced received at least two frames a fragment (a
# starved fill ring stops it for good); it dropped nothing; its final
# stats have the mbufs in use back at their start count exactly; the XDP
# program is gone from the interface once sluiced (nobody by then)
# exited. The port's counters (missed: the kernel's drops, fill ring
# empty or rx ring full) are logged from sluiced's stop line.
#
# SKIP (77) where AF_XDP cannot start (no net_af_xdp PMD, kernel without
# XDP sockets), as privileges.sh would fail there.
#
# One worker: a veth has one queue, net_af_xdp one queue pair.
#
# usage: xdp_load.sh WORK_BASE (binaries in SLUICED SLUICEGEN NETNS_SH)
#   XDP_LOAD_RATE, XDP_LOAD_SECONDS, XDP_LOAD_FRAGS: another load (the
#   fault showed with 16 fragments a request, at 5,000/s too, not with 8).

set -euo pipefail
IT_NAME=xdp_load
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
it_init "$@"
it_need_bin SLUICED SLUICEGEN NETNS_SH

rate=${XDP_LOAD_RATE:-5000} seconds=${XDP_LOAD_SECONDS:-5}
frags=${XDP_LOAD_FRAGS:-16} streams=16 warmup=0.5
# The schedule: whole blocks of streams x frags covering rate x (warm-up
# + run).
block=$((streams * frags))
want=$(((rate * (seconds * 10 + 5) / 10 + block - 1) / block * block))

config=$IT_WORK/pipeline.yaml
it_hop_config "$config"
# AF_XDP sockets at all (address family 44)?
python3 -c 'import socket; socket.socket(44, socket.SOCK_RAW).close()' 2>/dev/null ||
	it_skip "the kernel has no AF_XDP sockets"
it_netns_up
IT_SLUICED_PORT=(--xdp-iface "$HOST_IF") # sluiced's embedded AF_XDP port
# libxdp keeps 80 bytes of its umem at exit (privileges.sh).
printf 'leak:xsk_umem__create\n' >"$IT_WORK/lsan.supp"
export LSAN_OPTIONS=suppressions=$IT_WORK/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}
rc=0
sl_sluiced_start "$SLUICED" "$IT_WORK/sluiced.log" "$IT_WORK/sluiced.err" \
	30 --config "$config" "${IT_SLUICED_PORT[@]}" \
	--stats-file "$IT_WORK/sluiced-stats.json" --stats-interval-ms 250 \
	--state-dir none --user "$IT_SLUICED_USER" \
	--control "$IT_WORK/sluiced.sock" \
	-- --file-prefix "$IT_EAL_PREFIX" || rc=$?
# The PMD missing or refused (no XDP on the interface, no socket): SKIP.
# sluiced's own pool refused as a umem, or the umem itself: FAIL.
if ((rc == 1)); then
	bad='for the AF_XDP umem|Failed to create umem|fill queue|enough buffers'
	grep -qE "$bad" "$IT_WORK/sluiced.err" &&
		it_fail "sluiced's pool does not make a umem: $(grep -m1 -E "$bad" "$IT_WORK/sluiced.err")"
	skip='failed to initialize net_af_xdp|Failed to create xsk socket|parse device|no port: check'
	grep -qE "$skip" "$IT_WORK/sluiced.err" &&
		it_skip "net_af_xdp does not start here: $(grep -m1 -E "$skip" "$IT_WORK/sluiced.err")"
fi
[[ $rc -ne 1 ]] || it_fail "sluiced exited ($SL_SLUICED_RC) before it was ready"
[[ $rc -ne 2 ]] || it_fail "sluiced printed no ready line in 30 s"
it_log "$SL_READY_LINE (af_xdp)"
ip link show "$HOST_IF" | grep -q 'xdp' ||
	it_fail "no XDP program on $HOST_IF while sluiced runs"

gen=$IT_WORK/gen.json
rc=0
it_hop_gen "$gen" --rate "$rate" --duration "$seconds" \
	--warmup "$warmup" --streams "$streams" --fragments-per-request "$frags" \
	--calibrate 0 || rc=$?
it_log "sluicegen (exit $rc): $(jq -c '.run | {fragments, fragments_at_instance, fragments_received, lost, requests, completed, corrupted, aborted, repair}' "$gen" 2>/dev/null || cat "$gen")"
it_log "sluiced before the stop: $(jq -c '{rx: .rx_packets, tx: .tx_packets, mbufs, drops: (.drops | with_entries(select(.value > 0)))}' "$IT_WORK/sluiced-stats.json" 2>/dev/null || echo '(no stats)')"
it_stop_all
it_log "$(grep -E '^sluiced: (stopped|port)' "$IT_WORK/sluiced.log" | tr '\n' ' ')"
[[ $rc -eq 0 ]] || it_fail "sluicegen --check exited $rc"

it_expect "$gen" '.mode == "dpdk" and .run.interrupted == false' \
	"not a whole DPDK-mode run"
it_expect "$gen" ".run.fragments == $want" \
	"sent $(jq .run.fragments "$gen") fragments, want the schedule's $want"
it_expect "$gen" '.run.fragments_at_instance == .run.fragments and
	.run.fragments_received == .run.fragments and .run.lost == 0' \
	"fragments went missing on the way"
it_expect "$gen" '.run.corrupted == 0 and .run.corrupted_at_instance == 0 and
	.run.aborted == 0 and .run.requests_lost == 0 and .run.unknown == 0' \
	"damaged, aborted or unknown fragments"
it_expect "$gen" ".run.requests == $((want / frags)) and
	.run.completed == .run.requests" "not every request completed"

stats=$IT_WORK/sluiced-stats.json
# Every fragment crossed sluiced twice: it received at least that many
# frames (ACKs, NACKs and PROBE answers besides).
it_expect "$stats" ".final and .rx_packets >= 2 * $want" \
	"sluiced received $(jq .rx_packets "$stats") frames, want at least $((2 * want))"
it_expect "$stats" '[.drops | to_entries[] | select(.key != "DUPLICATE") | .value] | add == 0' \
	"sluiced dropped frames: $(jq -c '.drops | with_entries(select(.value > 0))' "$stats")"
# Every mbuf back: the fill ring's (in_use_start counts them) and, once
# sluiced pulled the completion ring at the stop, what it sent last.
it_expect "$stats" '.mbufs.in_use == .mbufs.in_use_start' \
	"mbufs not given back: $(jq -c '.mbufs' "$stats")"
it_expect "$stats" '.flows.created == .flows.ended and .flows.expired == 0' \
	"streams left open or expired in sluiced: $(jq -c '.flows' "$stats")"
! ip link show "$HOST_IF" | grep -q 'prog/xdp' ||
	it_fail "the XDP program is still attached to $HOST_IF after sluiced exited"
it_log "PASS: $want fragments each way through AF_XDP, byte-exact; sluiced received $(jq .rx_packets "$stats") frames, mbufs $(jq -c '.mbufs' "$stats")"
