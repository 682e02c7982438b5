#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# lm-capacity.sh - what one emulated LM instance of sluice-engine
# sustains, saturated, per prompt of the fact-checking pipeline, against
# ALTO's Fig. 5 (single-GPU saturation: QA about 11.7, claim extraction
# about 8, query generation about 26 requests/s). A validation of the
# engine's timing constants (tools/engine/README.md): a miss of more than
# 25 % says a constant or a mechanism is wrong.
#
#   tools/bench/lm-capacity.sh [lm_capacity options]
#
# Builds build-bench/ (release) if needed, runs tools/bench/lm_capacity
# (model time only: deterministic, a fraction of a second), writes
# results/lm_capacity.json and a line to tools/bench/results/
# lm_capacity.md with the commit.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
# shellcheck source=tools/deps.sh
. tools/deps.sh || exit 1
# shellcheck source=tools/bench/common.sh
. tools/bench/common.sh
builddir=${LM_CAPACITY_BUILD:-build-bench}
bench_build "$builddir" tools/bench/lm_capacity || exit 1
commit=$(bench_commit tools/engine tools/bench/lm_capacity.c)

mkdir -p results tools/bench/results
json=$("$builddir/tools/bench/lm_capacity" "$@")
echo "$json" >results/lm_capacity.json
echo "$json" >"tools/bench/results/lm_capacity-$commit.json"
md=tools/bench/results/lm_capacity.md
[[ -f $md ]] || cat >"$md" <<'HEAD'
# One LM instance saturated, per prompt (tools/bench/lm-capacity.sh)

Requests/s of model time of one emulated instance with N requests of one
prompt waiting at once (mean over the seeds, their standard deviation),
against ALTO's Fig. 5 (single GPU), and the relative error.

| date | commit | requests x seeds | QA | claims | queries | QA err | claims err | queries err |
|---|---|---|---|---|---|---|---|---|
HEAD
python3 - "$json" "$commit" >>"$md" <<'PY'
import datetime, json, sys
d = json.loads(sys.argv[1])
p = d["prompts"]
cell = lambda k: "%.2f ± %.2f" % (p[k]["mean"], p[k]["sd"])
err = lambda k: "%+.0f %%" % (100 * p[k]["relative_error"])
print("| %s | %s | %d x %d | %s | %s | %s | %s | %s | %s |" % (
    datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"), sys.argv[2],
    d["requests"], d["seeds"], cell("qa"), cell("claims"), cell("queries"),
    err("qa"), err("claims"), err("queries")))
PY
tail -n 1 "$md"
