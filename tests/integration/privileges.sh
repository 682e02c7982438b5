#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# privileges.sh - sluiced gives up root once it has started and still
# forwards traffic end to end, is steered, saves its state and stops
# cleanly, on one port kind (run once per kind):
#
#   af_packet  (--iface, the default): every thread of sluiced has uid and
#              gid 65534 (nobody), no capability at all (CapEff, CapPrm,
#              CapInh, CapAmb 0) and NoNewPrivs 1;
#   af_xdp     (--vdev net_af_xdp0): the same, except that the main thread
#              keeps CAP_NET_ADMIN (and nothing else) to detach its XDP
#              program when the port closes; the program is gone after.
#
# Then: requests through the two-stage chain byte for byte (sluicegen
# --check), an instance added through the control API (the state file is
# written by nobody), SIGTERM: exit 0, final stats written as nobody, no
# mbuf leaked, the control socket removed, EAL's runtime folder gone.
#
# usage: privileges.sh WORK_BASE af_packet|af_xdp
#   (binaries in SLUICED SLUICEGEN SLUICE_ENGINE SLUICECTL NETNS_SH)

set -euo pipefail
kind=${2:-af_packet}
case $kind in
af_packet | af_xdp) ;;
*)
	echo "privileges.sh: port kind must be af_packet or af_xdp, not $kind" >&2
	exit 1
	;;
esac
IT_NAME=privileges-${kind/_/-}
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
it_init "$1"
it_need_bin SLUICED SLUICEGEN SLUICE_ENGINE SLUICECTL NETNS_SH

it_control_setup epoll
it_write_config "$IT_WORK/pipeline.yaml" 0 1
it_netns_up
it_engine draft/0 "$IT_PREFIX.11:7801" upper
it_engine draft/1 "$IT_PREFIX.12:7801" upper
it_engine polish/0 "$IT_PREFIX.13:7801" rot13
it_engine polish/1 "$IT_PREFIX.14:7801" rot13
it_engine polish/2 "$IT_PREFIX.15:7801" rot13
it_wait_udp "$IT_PREFIX.11:7801" "$IT_PREFIX.12:7801" \
	"$IT_PREFIX.13:7801" "$IT_PREFIX.14:7801" "$IT_PREFIX.15:7801"
want_cap_main=0000000000000000
if [[ $kind == af_xdp ]]; then
	IT_SLUICED_PORT=(--vdev "net_af_xdp0,iface=$HOST_IF")
	# CAP_NET_ADMIN is bit 12.
	want_cap_main=0000000000001000
	# libxdp keeps 80 bytes of its umem at exit, whoever runs it (root
	# too): not sluiced's to free.
	printf 'leak:xsk_umem__create\n' >"$IT_WORK/lsan.supp"
	export LSAN_OPTIONS=suppressions=$IT_WORK/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}
fi
it_sluiced "$IT_WORK/pipeline.yaml"
it_ctl_wait
pid=$SL_SLUICED_PID

# field PATH NAME: the value of "NAME:" in a status file, tabs as spaces.
field() {
	awk -v f="$2:" '$1 == f { $1 = ""; sub(/^ /, ""); print; exit }' "$1"
}

grep -qF "sluiced: dropped root: uid 65534 (nobody) gid 65534," "$IT_WORK/sluiced.err" ||
	it_fail "sluiced did not log the drop"
main=/proc/$pid/status
[[ $(field "$main" Uid) == "65534 65534 65534 65534" ]] ||
	it_fail "sluiced's uids: $(field "$main" Uid)"
[[ $(field "$main" Gid) == "65534 65534 65534 65534" ]] ||
	it_fail "sluiced's gids: $(field "$main" Gid)"
[[ $(field "$main" Groups) == "65534" ]] ||
	it_fail "sluiced's groups: '$(field "$main" Groups)'"
[[ $(field "$main" CapEff) == "$want_cap_main" && $(field "$main" CapPrm) == "$want_cap_main" ]] ||
	it_fail "main thread: CapEff $(field "$main" CapEff) CapPrm $(field "$main" CapPrm), want $want_cap_main"
[[ $(field "$main" CapInh) == 0000000000000000 && $(field "$main" CapAmb) == 0000000000000000 ]] ||
	it_fail "inheritable or ambient capabilities left"
[[ $(field "$main" NoNewPrivs) == 1 ]] || it_fail "NoNewPrivs is not 1"
threads=0
for task in /proc/"$pid"/task/*; do
	threads=$((threads + 1))
	st=$task/status
	[[ $(field "$st" Uid) == "65534 65534 65534 65534" &&
		$(field "$st" NoNewPrivs) == 1 ]] ||
		it_fail "thread $(basename "$task") ($(field "$st" Name)): uid $(field "$st" Uid), NoNewPrivs $(field "$st" NoNewPrivs)"
	[[ ${task##*/} == "$pid" ]] && continue
	[[ $(field "$st" CapEff) == 0000000000000000 && $(field "$st" CapPrm) == 0000000000000000 ]] ||
		it_fail "thread $(basename "$task") ($(field "$st" Name)) holds capabilities: $(field "$st" CapEff)"
done
((threads >= 2)) || it_fail "sluiced has $threads threads, want the worker too"
it_log "sluiced (pid $pid, $kind): $threads threads as nobody, CapEff $want_cap_main on main, NoNewPrivs 1"
[[ ! -e /var/run/dpdk/$IT_EAL_PREFIX ]] ||
	it_fail "EAL's runtime folder /var/run/dpdk/$IT_EAL_PREFIX is still there"

# Steered after the drop; the state is saved by nobody.
it_ctl_ok add --pipeline demo --stage polish --name extra --address "$IT_PREFIX.15:7801"
[[ $(stat -c %U "$IT_WORK/state/state.pb") == nobody ]] ||
	it_fail "state.pb is not nobody's: $(stat -c %U:%a "$IT_WORK/state/state.pb")"

gen=$IT_WORK/sluicegen.json
rc=0
it_gen "$gen" --streams 16 --rate 3000 --fragments-per-request 8 \
	--tokens-per-fragment 4 --duration 3 --drain-ms 1500 \
	--expect upper,rot13 --check || rc=$?
it_log "sluicegen: $(jq -c '{requests, completed, lost, corrupted, aborted}' "$gen" 2>/dev/null || cat "$gen")"
[[ $rc -eq 0 ]] || it_fail "sluicegen --check exited $rc"
it_expect "$gen" '.lost == 0 and .duplicated == 0 and .misordered == 0 and
	.corrupted == 0 and .aborted == 0 and .completed == .requests and
	.requests >= 100' "sluicegen saw damage or too few requests"
it_ctl_stats "$IT_WORK/stats-live.json"
it_expect "$IT_WORK/stats-live.json" '[.instances[] | select(.instance == "extra") | .streams_routed] | add > 0' \
	"the instance added after the drop got no stream"

it_stop_all
[[ ! -e $IT_SOCK ]] || it_fail "sluiced (as nobody) left its socket $IT_SOCK"
stats=$IT_WORK/sluiced-stats.json
[[ $(stat -c %U "$stats") == nobody ]] || it_fail "the stats file is not nobody's"
# Every mbuf comes back, on both port kinds: net_af_xdp transmits the
# mbufs themselves and takes sent ones back only on a later transmit, so
# sluiced reclaims them at the stop (sl_port_xdp_reclaim). DUPLICATE is
# loss repair at work (an END resent before its ACK came), not loss.
it_expect "$stats" ".final and
	([.drops | to_entries[] | select(.key != \"DUPLICATE\") | .value] | add) == 0 and
	.mbufs.in_use == .mbufs.in_use_start" \
	"final stats: drops or leaked mbufs: $(jq -c '{drops_total, mbufs}' "$stats")"
grep -q '^sluiced: stopped rx ' "$IT_WORK/sluiced.log" || it_fail "no stop line"
if [[ $kind == af_xdp ]]; then
	! ip link show "$HOST_IF" | grep -q 'prog/xdp' ||
		it_fail "the XDP program is still attached to $HOST_IF"
fi
it_log "PASS: $kind as nobody: $(jq '.completed' "$gen") requests byte-exact, clean stop"
