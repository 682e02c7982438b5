# SPDX-License-Identifier: MIT
#
# alto.gnuplot - ALTO Fig. 3 from tools/bench/alto.sh's results: median
# (left) and P99 (right) request latency against achieved load, model
# time, per arm the mean over seeds with its 95% band, ALTO's own points
# (read off Fig. 3a) for reference and the 4 s target. As in the paper a
# point is drawn only where the achieved load is at least 80% of the
# offered load (in every seed).
#
#   gnuplot -e "dir='results'; arms='buffered streaming'; subtitle='...'" \
#           tools/bench/alto.gnuplot
#
# Reads DIR/alto-summary.csv (arm,offered_rps,seeds_shown,achieved_rps,
# p50_s,p50_lo,p50_hi,p99_s,p99_lo,p99_hi) and DIR/alto-paper.csv
# (arm,achieved_rps,p50_s); writes DIR/alto.png.

if (!exists("dir")) dir = 'results'
if (!exists("subtitle")) subtitle = ''
csv = dir.'/alto-summary.csv'
paper = dir.'/alto-paper.csv'

if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
	set terminal pngcairo size 1400,640 font 'sans,11'
} else {
	set terminal png size 1400,640
}
set output dir.'/alto.png'
set datafile separator ','
set datafile missing ''
set key outside bottom center horizontal
set grid
set xlabel 'achieved load (requests/s, model time)'
set xrange [0:*]
set yrange [0:*]
set style fill transparent solid 0.2 noborder

if (!exists("arms")) arms = 'buffered streaming sentences'
all = 'buffered streaming sentences hash buffered-hash buffered-serial'
palette = '#d62728 #1f77b4 #2ca02c #9467bd #8c564b #ff7f0e'
# An arm keeps its colour whichever arms a run has.
index_of(a) = (strstrt(all, a) == 1 ? 1 : words(substr(all, 1, strstrt(all, a) - 1)) + 1)
colour(i) = word(palette, index_of(word(arms, i)))
is(a) = strcol(1) eq a
pick(a, col) = is(a) ? column(col) : NaN

set multiplot layout 1,2 title sprintf( \
	"sluice: ALTO fact-checking pipeline by arm, 95%% bands over seeds (%s)", \
	subtitle)

set title 'median latency (cf. ALTO Fig. 3a)'
set ylabel 'median request latency (s, model time)'
plot for [i=1:words(arms)] csv skip 1 \
	using (pick(word(arms, i), 4)):(pick(word(arms, i), 6)):(pick(word(arms, i), 7)) \
	with filledcurves lc rgb colour(i) notitle, \
     for [i=1:words(arms)] csv skip 1 \
	using (pick(word(arms, i), 4)):(pick(word(arms, i), 5)) \
	with linespoints lw 2 pt 7 lc rgb colour(i) title word(arms, i), \
     paper skip 1 using (pick("streaming", 2)):(pick("streaming", 3)) \
	with points pt 6 ps 1.5 lc rgb '#1f77b4' title 'ALTO streaming (Fig. 3a)', \
     paper skip 1 using (pick("buffered", 2)):(pick("buffered", 3)) \
	with points pt 4 ps 1.5 lc rgb '#d62728' title 'ALTO baseline (Fig. 3a)', \
     4 with lines dt 2 lw 1.5 lc rgb '#555555' title 'target 4 s'

set title 'P99 latency (cf. ALTO Fig. 3b; only from >= 1000 samples)'
set ylabel 'P99 request latency (s, model time)'
plot for [i=1:words(arms)] csv skip 1 \
	using (pick(word(arms, i), 4)):(pick(word(arms, i), 9)):(pick(word(arms, i), 10)) \
	with filledcurves lc rgb colour(i) notitle, \
     for [i=1:words(arms)] csv skip 1 \
	using (pick(word(arms, i), 4)):(pick(word(arms, i), 8)) \
	with linespoints lw 2 pt 7 lc rgb colour(i) title word(arms, i), \
     4 with lines dt 2 lw 1.5 lc rgb '#555555' title 'target 4 s'

unset multiplot
