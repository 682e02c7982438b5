# SPDX-License-Identifier: MIT
#
# alto.gnuplot - ALTO Fig. 3 from results/alto.csv: median (left) and P99
# (right) request latency against achieved load, streaming and buffered
# edges, with the latency target. As in the paper, a point is drawn only
# where the achieved load is at least 80% of the offered load.
#
#   gnuplot -e "csv='results/alto.csv'; out='results/alto.png'; \
#               target=1000; scale=0.25" tools/bench/alto.gnuplot
#
# CSV columns: mode,offered_rps,achieved_rps,completed,aborted,lost,
# p50_ms,p99_ms (one header line).

if (!exists("csv")) csv = 'results/alto.csv'
if (!exists("out")) out = 'results/alto.png'
if (!exists("target")) target = 4000
if (!exists("scale")) scale = 1
if (!exists("subtitle")) subtitle = ''

if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
	set terminal pngcairo size 1400,560 font 'sans,11'
} else {
	set terminal png size 1400,560
}
set output out
set datafile separator ','
set key top left box opaque
set grid
set xlabel 'achieved load (requests/s)'
set xrange [0:*]
set yrange [0:*]

shown(m) = (strcol(1) eq m && column(3) >= 0.8 * column(2) && column(4) > 0)
pick(m, col) = shown(m) ? column(col) : NaN

set multiplot layout 1,2 title sprintf( \
	"sluice: ALTO fact-checking pipeline, streaming vs buffered edges (engine time scale %g, target %g ms)%s", \
	scale, target, subtitle)

set title 'median latency (cf. ALTO Fig. 3a)'
set ylabel 'median request latency (ms)'
plot csv skip 1 using (pick("streaming", 3)):(pick("streaming", 7)) \
	with linespoints lw 2 pt 7 lc rgb '#1f77b4' title 'streaming', \
     csv skip 1 using (pick("buffered", 3)):(pick("buffered", 7)) \
	with linespoints lw 2 pt 5 lc rgb '#d62728' title 'buffered', \
     target with lines dt 2 lw 1.5 lc rgb '#555555' \
	title sprintf('target %g ms', target)

set title 'P99 latency (cf. ALTO Fig. 3b)'
set ylabel 'P99 request latency (ms)'
plot csv skip 1 using (pick("streaming", 3)):(pick("streaming", 8)) \
	with linespoints lw 2 pt 7 lc rgb '#1f77b4' title 'streaming', \
     csv skip 1 using (pick("buffered", 3)):(pick("buffered", 8)) \
	with linespoints lw 2 pt 5 lc rgb '#d62728' title 'buffered', \
     target with lines dt 2 lw 1.5 lc rgb '#555555' \
	title sprintf('target %g ms', target)

unset multiplot
