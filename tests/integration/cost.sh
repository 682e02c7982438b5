#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# cost.sh - the scheduler's cost model through sluiced's control API and
# sluicectl (control/sl_cost.h behind CostRows, CostFit, CostTrain,
# GetCostModel). sluiced runs the chain.
#   1. An empty model: not fitted; a fit refused with the model's reason.
#   2. 600 public rows (the corpus's lines; stage 1..3; output tokens a
#      function of the words, so there is something to learn): all taken,
#      then fitted: 120 held out (every 5th).
#   3. Tenant 7 sends 40 rows: 16 taken (its cap a window), 24 left out.
#   4. A training: it counts, it is installed or rejected by the held-out
#      gate, and tenant 7 paid for it: its epsilon left is exactly the
#      zCDP arithmetic's (budget 8, 1 a training, delta 1e-6).
#   5. Live traffic (sluicegen, tenant 1, 40 requests): 40 prompts read,
#      a row for each of the 80 answers, 16 in tenant 1's window (its
#      cap), 64 left out.
#   6. A restart of sluiced: tenant 7's spent budget is back, exact (the
#      state directory's cost-budgets); a file that does not read back
#      refuses the model.
#   7. Refusals: rows without a tenant or --public, a stage out of range.
#
# usage: cost.sh WORK_BASE
#   (binaries in SLUICED SLUICEGEN SLUICE_ENGINE SLUICECTL NETNS_SH)

set -euo pipefail
IT_NAME=cost
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
it_init "$@"
it_need_bin SLUICED SLUICEGEN SLUICE_ENGINE SLUICECTL NETNS_SH

it_control_setup auto
it_chain
it_ctl_wait

it_ctl_ok cost show --tenant 7
[[ $CTL_OUT == "cost model: fitted no, installed no, rank 8, 0 public rows (0 held out)"* ]] ||
	it_fail "cost show at start: $CTL_OUT"
[[ $CTL_OUT == *"tenant 7: epsilon left 8.000 (rho spent 0, "* ]] ||
	it_fail "tenant 7 does not have its whole budget: $CTL_OUT"
it_ctl_refused 1 "sluicectl: cost fit: cost: too few public rows to fit" cost fit

# Public rows: line i of the corpus, stage 1 + i % 3, output tokens
# 3 x its words x the stage + 5 (a prompt's length and stage set it).
public=$IT_WORK/public.tsv
awk '{ gsub(/\\/, "\\\\"); gsub(/\t/, "\\t"); s = 1 + (NR - 1) % 3;
	printf "%d\t%d\t%s\n", s, 3 * NF * s + 5, $0 }' \
	"$IT_SRC_ROOT/tools/data/corpus.txt" >"$public"
[[ $(wc -l <"$public") -eq 600 ]] || it_fail "want 600 public rows"
it_ctl_ok cost add -f "$public" --public
[[ $CTL_OUT == "600 rows sent: 600 taken, 0 left out" ]] ||
	it_fail "cost add --public: $CTL_OUT"
it_ctl_ok cost fit
[[ $CTL_OUT == "cost model: fitted yes, installed no, rank 8, 600 public rows (120 held out)"* ]] ||
	it_fail "cost fit: $CTL_OUT"
it_log "fitted: ${CTL_OUT//$'\n'/ | }"

# Tenant 7: 40 rows, 16 a window.
head -40 "$public" >"$IT_WORK/tenant7.tsv"
it_ctl_ok cost add -f "$IT_WORK/tenant7.tsv" --tenant 7
[[ $CTL_OUT == "40 rows sent: 16 taken, 24 left out" ]] ||
	it_fail "cost add --tenant 7: $CTL_OUT"
it_ctl_ok cost show --tenant 7
[[ $CTL_OUT == *"tenant 7: epsilon left 8.000 (rho spent 0, "*"16 rows waiting, 24 over its cap, 0 over its budget"* ]] ||
	it_fail "tenant 7 before the training: $CTL_OUT"

it_ctl_ok cost train
it_log "trained: ${CTL_OUT//$'\n'/ | }"
[[ $CTL_OUT == *", 1 trainings, "* ]] || it_fail "cost train: no training counted: $CTL_OUT"
# The accountant: rho(eps, delta) = (sqrt(ln(1/delta) + eps) -
# sqrt(ln(1/delta)))^2; what is left of rho(8) after rho(1), as epsilon.
want=$(python3 -c '
import math
L = math.log(1 / 1e-6)
rho = lambda e: (math.sqrt(L + e) - math.sqrt(L)) ** 2
left = rho(8) - rho(1)
print("%.3f" % (left + 2 * math.sqrt(left * L)))')
it_ctl_ok cost show --tenant 7
[[ $CTL_OUT == *"tenant 7: epsilon left $want "*"paid 1 trainings, 0 rows waiting"* ]] ||
	it_fail "tenant 7 after the training: want epsilon left $want: $CTL_OUT"

# Live traffic (sluicegen, tenant 1): sluiced reads each request's prompt
# as it passes and, when each of its two answers (draft, polish) ends,
# gives the model a row of tenant 1's traffic: 16 go into the window
# (tenant 1's cap a window), the others are left out.
gen=$IT_WORK/sluicegen.json
it_gen "$gen" --mode transform --streams 4 --rate 2000 \
	--fragments-per-request 3 --tokens-per-fragment 4 --requests 40 \
	--drain-ms 2000 --expect upper,rot13 --check ||
	it_fail "sluicegen --check exited $?: $(cat "$gen")"
it_expect "$gen" '.completed == 40 and .aborted == 0' "not 40 requests completed"
# The last answers' rows reach the model through the control loop a
# little after their ENDs: asked again (up to 5 s) until all 80 are in.
for ((i = 0; i < 25; i++)); do
	sleep 0.2
	it_ctl_ok cost show --tenant 1
	[[ $CTL_OUT == *"rows 16 stored, 64 left out"* ]] && break
done
it_log "live: ${CTL_OUT//$'\n'/ | }"
[[ $CTL_OUT == *"live traffic: 40 prompts read, "*" streams predicted, rows 16 stored, 64 left out"* ]] ||
	it_fail "live traffic: want 40 prompts, 16 + 64 rows of 80 answers: $CTL_OUT"
[[ $CTL_OUT == *"tenant 1: epsilon left 8.000 (rho spent 0, "*"16 rows waiting, 64 over its cap, 0 over its budget"* ]] ||
	it_fail "tenant 1's rows: $CTL_OUT"

# A restart: the spent budget comes back from the state directory
# (cost-budgets), exact; the model itself starts empty.
[[ -f $IT_WORK/state/cost-budgets ]] || it_fail "no cost-budgets in the state directory"
rc=0
it_stop "$SL_SLUICED_PID" sluiced || rc=$?
SL_SLUICED_PID=
[[ $rc -eq 0 ]] || it_fail "sluiced exited $rc on SIGTERM"
it_sluiced "$IT_CONFIG"
it_ctl_wait
it_ctl_ok cost show --tenant 7
[[ $CTL_OUT == "cost model: fitted no, installed no,"* &&
	$CTL_OUT == *"tenant 7: epsilon left $want (rho spent "* ]] ||
	it_fail "after the restart: want tenant 7's epsilon left $want: $CTL_OUT"
# A file that does not read back refuses the model.
printf '7 banana\n' >"$IT_WORK/state/cost-budgets"
rc=0
it_stop "$SL_SLUICED_PID" sluiced || rc=$?
SL_SLUICED_PID=
it_sluiced "$IT_CONFIG"
it_ctl_wait
it_ctl_refused 1 "sluicectl: cost show: cost: cost-budgets:1: not \"TENANT RHO\" of a tenant the model can hold" \
	cost show

# Refusals: the client checks its arguments, the server the rows.
it_ctl_refused 2 "sluicectl: cost add: usage: --file ROWS and one of --public or --tenant T" \
	cost add -f "$public"
printf '17\t3\tA prompt\n' >"$IT_WORK/bad.tsv"
it_ctl_refused 1 "sluicectl: cost add: rows[0]: stage must be 1..16, got 17" \
	cost add -f "$IT_WORK/bad.tsv" --public

it_stop_all
it_log "PASS: public fit (600 rows), tenant cap 16, one training paid for (epsilon left $want of 8)"
