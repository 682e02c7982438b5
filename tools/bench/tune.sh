#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tune.sh - issue 16's measure: how well each tuner picks a scheduling
# configuration for a fleet of sluice-sim nodes from noisy, private
# evaluations (paper B of ../shared/docs/research/private_fedhpo.md):
# noiseless RS and Hyperband, noisy RS and Hyperband (n_c = 1% of the
# nodes, epsilon in {1, 10, 100, inf}, bias b in {0, 1, 3}) and one-shot
# proxy RS, each the median and IQR over trials of the true (every node,
# full fidelity, noiseless) SLO attainment of the configuration picked,
# and the privacy budget spent (tools/bench/tune.c has the design).
#
#   tools/bench/tune.sh [--quick] [tune options: --nodes N (200),
#                       --trials T (200), --unit REQ (20), --seed S, ...]
#
# Builds tools/bench/tune in build-bench/ (release; SL_BENCH_BUILD names
# another folder, SL_BENCH_COMMIT the code outside a git checkout) if
# needed and runs it (deterministic: fixed seeds; a few minutes, nearly
# all of it simulating the table; --quick: 30 nodes, a minute). A full
# run writes tools/bench/results/tune.json (the latest),
# tools/bench/results/tune-<commit>.json and tune-<commit>.png (median
# and IQR per cell, with gnuplot), and appends a line to
# tools/bench/results/tune.md; options are appended to the file names.
# --quick writes only its tune-<commit>-quick.json and .png.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
# shellcheck source=tools/deps.sh
. tools/deps.sh || exit 1
# shellcheck source=tools/bench/common.sh
. tools/bench/common.sh
builddir=${SL_BENCH_BUILD:-build-bench}
bench_build "$builddir" tools/bench/tune || exit 1
commit=$(bench_commit tools/bench/tune.c tools/sim tools/tune tools/engine \
	tools/gen control dataplane)

label=$commit
quick=false
for a in "$@"; do
	[[ $a == --quick ]] && quick=true
	label+=-${a#--}
done
label=${label//[^A-Za-z0-9._-]/_}

results=tools/bench/results
mkdir -p "$results"
tmp=$(mktemp)
trap 'rm -f "$tmp" "$tmp.dat"' EXIT
"$builddir/tools/bench/tune" --commit "$commit" --json-file "$tmp" "$@"
chmod 644 "$tmp"
cp "$tmp" "$results/tune-$label.json"
$quick || cp "$tmp" "$results/tune.json"

# The plot: median true attainment per cell with its IQR.
if command -v gnuplot >/dev/null; then
	python3 - "$tmp" >"$tmp.dat" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for t in ("rs", "hb", "proxy_rs"):  # one data block a tuner
    for i, c in enumerate(r["cells"]):
        a = c["attainment"]
        if c["tuner"] == t:
            print('%d "%s" %.6f %.6f %.6f' % (i, c["cell"], a["median"],
                                              a["q25"], a["q75"]))
    print("\n")
PY
	n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["cells"]))' "$tmp")
	best=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["best"]["attainment"])' "$tmp")
	gnuplot 2>/dev/null <<GP || echo "tune.sh: warning: gnuplot failed" >&2
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
	set terminal pngcairo size 1200,640 font 'sans,10'
} else {
	set terminal png size 1200,640
}
set output '$results/tune-$label.png'
set title "tune.sh $label: true SLO attainment (4 s) of the configuration picked, median and IQR over trials"
set ylabel 'true SLO attainment'
set xtics rotate by -60 font ',8'
set grid ytics
set key bottom left
set bmargin 11
set xrange [-0.5:$n - 0.5]
plot '$tmp.dat' index 0 using 1:3:4:5:xtic(2) with yerrorbars pt 7 title 'RS', \
     '' index 1 using 1:3:4:5:xtic(2) with yerrorbars pt 5 title 'Hyperband', \
     '' index 2 using 1:3:4:5:xtic(2) with yerrorbars pt 9 title 'one-shot proxy RS', \
     $best with lines dt 2 lc rgb 'gray40' title 'best configuration'
GP
fi

# A --quick run is a smoke test: its JSON and plot, no line in tune.md.
$quick && exit 0
md=$results/tune.md
[[ -f $md ]] || cat >"$md" <<'HEAD'
# Tuning from noisy, private evaluations (tools/bench/tune.sh)

A fleet of sluice-sim nodes with non-IID traffic (own seed; Poisson
questions at their own rate or their own Azure trace window), 45
scheduling configurations, errors 1 - SLO attainment at 4 s; median
[IQR] over trials of the TRUE (every node, full fidelity, noiseless)
attainment of the configuration picked. Noisy: n_c = 1% of the nodes.
Proxy: RS on public Poisson traffic, deployed once (eps 0). The whole
table is in the JSON named on each line.

| date | commit | nodes / n_c / trials / full requests | best | noiseless RS | noiseless HB | noisy RS / HB, eps 100 b 0 | noisy RS / HB, eps 10 b 0 | noisy RS / HB, eps 1 b 0 | proxy RS | HB < RS (noisy cells) | proxy within 10% (regret / error) | json |
|---|---|---|---|---|---|---|---|---|---|---|---|---|
HEAD
python3 - "$results/tune-$label.json" "tune-$label.json" >>"$md" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
cells = {c["cell"]: c for c in r["cells"]}
f = lambda n: "%.3f [%.3f, %.3f]" % (cells[n]["attainment"]["median"],
                                     cells[n]["attainment"]["q25"],
                                     cells[n]["attainment"]["q75"])
m = lambda n: "%.3f" % cells[n]["attainment"]["median"]
s, a = r["setting"], r["aims"]
yn = lambda b: "yes" if b else "no"
print("| %s | %s | %d / %d / %d / %d%s | %.3f | %s | %s | %s / %s | %s / %s | "
      "%s / %s | %s | %d of %d | %s / %s | %s |" % (
    r["date"], r["commit"], s["nodes"], s["n_c"], s["trials"],
    s["full_requests"], " (quick)" if r["quick"] else "",
    r["best"]["attainment"], f("noiseless RS"), f("noiseless HB"),
    m("noisy RS eps 100 b 0"), m("noisy HB eps 100 b 0"),
    m("noisy RS eps 10 b 0"), m("noisy HB eps 10 b 0"),
    m("noisy RS eps 1 b 0"), m("noisy HB eps 1 b 0"),
    f("one-shot proxy RS"), a["hb_worse_than_rs"], a["noisy_pairs"],
    yn(a["proxy_regret_within_10pct"]), yn(a["proxy_error_within_10pct"]),
    sys.argv[2]))
PY
tail -n 1 "$md"
