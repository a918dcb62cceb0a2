# The waterfall chart (segment-anything-fast's bar_chart.svg), drawn by `waterfall plot`.
# Rows: img/s, peak memory (MiB), mIoU, agreement with the reference stage; one column per
# model; one bar per stage in waterfall order on the x axis, one colour per batch size, the
# value printed on each bar; a failed experiment is marked "failed" where its bar would be.
#
# Variables set by the harness with -e:
#   datafile  rows: model_idx stage_idx batch_idx img_s peak_mib miou agreement ok(1/0)
#             (0-based indices; NaN where a figure is missing)
#   outfile   the SVG to write
#   models, stages, batches   space-separated names (stages in waterfall order)
#   ymax      space-separated upper bounds, one per panel, row-major (metric, model)
#   title     the chart's title
nm = words(models)
ns = words(stages)
nb = words(batches)

# At least 720 px wide so the title fits even with one model.
width = 360 * nm + 80
if (width < 720) { width = 720 }
set terminal svg size width, 1120 dynamic noenhanced font "Arial,10" background rgb "white"
set output outfile

array rowname[4] = ["img/s", "peak memory (MiB)", "mIoU vs ground truth", "agreement with reference (IoU)"]
array fmt[4] = ["%.3g", "%.0f", "%.3f", "%.3f"]
array colours[8] = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C"]

bw = 0.8 / nb
set boxwidth bw absolute
set style fill solid 0.9 border rgb "#333333"
xpos(s, b) = s + (b - (nb - 1) / 2.0) * bw
# A figure to print: the experiment is ok and has it (NaN is the only value not equal to itself).
shown(c) = column(8) == 1 && column(c) == column(c)
set xrange [-0.6 : ns - 0.4]
# Only the stage names as x tics (no numeric ones between them).
xt = "("
do for [i = 1:ns] { xt = xt . sprintf("%s\"%s\" %d", (i > 1 ? ", " : ""), word(stages, i), i - 1) }
eval("set xtics " . xt . ")")
set xtics scale 0 font ",9"
set ytics font ",8"
set grid ytics lc rgb "#dddddd"
set border 3
set tics nomirror

set multiplot layout 4, nm title title font ",12"
do for [r = 1:4] {
  do for [m = 1:nm] {
    set title sprintf("%s: %s", word(models, m), rowname[r]) font ",10"
    set yrange [0 : word(ymax, (r - 1) * nm + m) + 0]
    if (r == 1 && m == 1) { set key top left font ",8" } else { unset key }
    col = r + 3
    # Every labels plot keeps a point for each experiment of its panel and batch size (an
    # empty label where there is nothing to say): gnuplot 5.4 crashes on a labels plot with no
    # valid point at all.
    plot for [b = 1:nb] datafile using (($1 == m - 1 && $3 == b - 1 && $8 == 1) ? xpos($2, b - 1) : NaN):(column(col)) \
           with boxes lc rgb colours[(b - 1) % 8 + 1] notitle, \
         for [b = 1:nb] datafile using (($1 == m - 1 && $3 == b - 1) ? xpos($2, b - 1) : NaN):(shown(col) ? column(col) : 0):(shown(col) ? sprintf(fmt[r], column(col)) : "") \
           with labels offset 0, 0.45 font ",7" notitle, \
         for [b = 1:nb] datafile using (($1 == m - 1 && $3 == b - 1) ? xpos($2, b - 1) : NaN):(0):($8 == 0 ? "failed" : "") \
           with labels rotate by 90 left offset 0, 0.3 font ",7" tc rgb "#C44E52" notitle, \
         for [b = 1:nb] keyentry with boxes lc rgb colours[(b - 1) % 8 + 1] title sprintf("batch %s", word(batches, b))
  }
}
unset multiplot
