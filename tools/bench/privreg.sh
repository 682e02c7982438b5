#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# privreg.sh - the cost model's excess-risk table (issue 12): on paper
# A's synthetic model (d 50, k 5, the research note's fixture), least
# squares in the public subspace, DP descent in the subspace and DP
# descent in all d dimensions, over n in {1000, 4000, 16000} and epsilon
# in {0.25, 1, 4}, measured over seeds beside the formulas
# (tools/bench/privreg.c has them).
#
#   tools/bench/privreg.sh [privreg options: --seeds S (32)]
#
# Builds tools/bench/privreg in build-bench/ (release; SL_BENCH_BUILD
# names another folder, SL_BENCH_COMMIT the code outside a git checkout)
# if needed, runs it (seconds, deterministic: fixed seeds), writes
# tools/bench/results/privreg.json (the latest) and
# tools/bench/results/privreg-<commit>.json, and appends a line to
# tools/bench/results/privreg.md.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
# shellcheck source=tools/deps.sh
. tools/deps.sh || exit 1
# shellcheck source=tools/bench/common.sh
. tools/bench/common.sh
builddir=${SL_BENCH_BUILD:-build-bench}
bench_build "$builddir" tools/bench/privreg || exit 1
commit=$(bench_commit control/sl_cost.h control/sl_cost_int.h \
	control/sl_cost.c control/sl_cost_dp.c control/sl_cost_synth.c \
	tools/bench/privreg.c)

results=tools/bench/results
mkdir -p "$results"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
"$builddir/tools/bench/privreg" --commit "$commit" --json-file "$tmp" "$@"
cp "$tmp" "$results/privreg.json"
cp "$tmp" "$results/privreg-$commit.json"

md=$results/privreg.md
[[ -f $md ]] || cat >"$md" <<'HEAD'
# Private regression in a public subspace (tools/bench/privreg.sh)

Paper A's synthetic model (x ~ N(0, I_50), y = x^T B alpha + N(0, 1),
rank 5, |alpha| = 1, oracle subspace, the research note's fixture: T 5,
eta 1, C = sqrt(p) + 2, R 3, delta 1e-5); |w - B alpha|^2, mean over the
seeds, the formula in brackets. The whole table over n and epsilon is in
the JSON named on each line.

| date | commit | seeds | eps 1, DP in B^: n 1000 / 4000 / 16000 | eps 1, DP in d: n 4000 | DP in d / DP in B^ at n 4000, eps 1 | privacy term / formula, n >= 4000 (min..max) | json |
|---|---|---|---|---|---|---|---|
HEAD
python3 - "$results/privreg-$commit.json" "privreg-$commit.json" >>"$md" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
cells = {(c["n"], c["epsilon"]): c for c in r["cells"]}
f = lambda s: "%.3g (%.3g)" % (s["mean"], s["predicted"])
sub = " / ".join(f(cells[(n, 1)]["dp_sub"]) for n in (1000, 4000, 16000))
ratios = [c["privacy_term_sub"]["mean"] / c["privacy_term_sub"]["predicted"]
          for c in r["cells"] if c["n"] >= 4000]
c = cells[(4000, 1)]
print("| %s | %s | %d | %s | %s | %.1f (%.1f) | %.2f..%.2f | %s |" % (
    r["date"], r["commit"], r["setting"]["seeds"], sub, f(c["dp_full"]),
    c["full_over_sub"]["measured"], c["full_over_sub"]["predicted"],
    min(ratios), max(ratios), sys.argv[2]))
PY
tail -n 1 "$md"
