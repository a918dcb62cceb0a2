# The waterfall chart (segment-anything-fast's bar_chart.svg), drawn by `waterfall plot`.
# Rows: img/s, peak memory (MiB), mIoU, agreement with the reference stage; one column per
# model; one bar per stage in waterfall order on the x axis (labelled with the choices the
# stage changes over the one it builds on), one colour per series (the run's batch sizes, then
# those of a run drawn beside it), the value printed on each bar; a failed experiment is marked
# "failed" where its bar would be, one flagged by the accuracy gate outlined in red and
# marked "flagged".
#
# `waterfall plot` passes varsfile (-e), a gnuplot file that sets:
#   datafile  rows: model_idx stage_idx series_idx img_s peak_mib miou agreement ok(1/0)
#             flagged(1/0) (0-based indices; NaN where a figure is missing)
#   outfile   the SVG to write
#   nm, ns, nb               models, stages, series
#   models[nm], synthetic[nm] names; 1 where the model's weights are synthetic
#   xlabels[ns]              the x tic label of each stage (waterfall order)
#   beside                   1 when a second run's bars are drawn beside the run's
#   series[nb]               the key of each series
#   ymax[4 * nm]             upper bounds, one per panel, row-major (metric, model)
#   title, title_lines       the chart's title (the gate's rule, what each stage adds)
load varsfile

# At least 720 px wide so the title fits even with one model; taller for a longer title and
# for x labels of several lines.
width = 360 * nm + 80
if (width < 720) { width = 720 }
height = 1200 + 18 * (title_lines - 1)
set terminal svg size width, height dynamic noenhanced font "Arial,10" background rgb "white"
# Room for the title above the panels and for the key below them.
top = 1 - (18.0 * title_lines + 60) / height
bottom = 78.0 / height
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
# Only the stage labels as x tics (no numeric ones between them).
set xtics () scale 0 font ",7"
do for [i = 1:ns] { set xtics add (xlabels[i] i - 1) }
set ytics font ",8"
set grid ytics lc rgb "#dddddd"
set border 3
set tics nomirror

set multiplot layout 4, nm title title font ",11" margins 0.07, 0.98, bottom, top spacing 0.08, 0.085
do for [r = 1:4] {
  do for [m = 1:nm] {
    # mIoU against ground truth means nothing with synthetic weights: the panel says so.
    note = (r == 3 && synthetic[m] == 1) ? (beside ? "\n(ours: synthetic weights, so it means nothing)" : "\n(synthetic weights: it means nothing)") : ""
    set title sprintf("%s: %s%s", models[m], rowname[r], note) font ",10"
    set yrange [0 : ymax[(r - 1) * nm + m] + 0]
    unset key
    # The key, one row under the panels, drawn once (gnuplot's own key will not lay out
    # horizontally at a screen position).
    if (r == 1 && m == 1) {
      keyw = 0
      do for [b = 1:nb] { keyw = keyw + (30 + 5.5 * strlen(series[b])) / width }
      kx = 0.5 - keyw / 2
      do for [b = 1:nb] {
        set object 100 + b rect from screen kx, screen 0.010 to screen kx + 14.0 / width, screen 0.010 + 10.0 / height \
          fc rgb colours[(b - 1) % 8 + 1] fs solid 0.9 border rgb "#333333" front
        set label 100 + b series[b] at screen kx + 18.0 / width, screen 0.010 + 5.0 / height left font ",9" front
        kx = kx + (30 + 5.5 * strlen(series[b])) / width
      }
    }
    col = r + 3
    # Every labels plot keeps a point for each experiment of its panel and series (an empty
    # label where there is nothing to say): gnuplot 5.4 crashes on a labels plot with no
    # valid point at all.
    plot for [b = 1:nb] datafile using (($1 == m - 1 && $3 == b - 1 && $8 == 1) ? xpos($2, b - 1) : NaN):(column(col)) \
           with boxes lc rgb colours[(b - 1) % 8 + 1] notitle, \
         for [b = 1:nb] datafile using (($1 == m - 1 && $3 == b - 1) ? xpos($2, b - 1) : NaN):(shown(col) ? column(col) : 0):(shown(col) ? sprintf(fmt[r], column(col)) : "") \
           with labels offset 0, 0.45 font ",7" notitle, \
         for [b = 1:nb] datafile using (($1 == m - 1 && $3 == b - 1) ? xpos($2, b - 1) : NaN):(0):($8 == 0 ? "failed" : "") \
           with labels rotate by 90 left offset 0, 0.3 font ",7" tc rgb "#C44E52" notitle, \
         for [b = 1:nb] datafile using (($1 == m - 1 && $3 == b - 1 && $8 == 1 && $9 == 1) ? xpos($2, b - 1) : NaN):(column(col)) \
           with boxes fs empty lc rgb "#B00000" lw 2 notitle, \
         for [b = 1:nb] datafile using (($1 == m - 1 && $3 == b - 1) ? xpos($2, b - 1) : NaN):(0):($9 == 1 ? "flagged" : "") \
           with labels rotate by 90 left offset 0, 0.3 font ",7" tc rgb "#B00000" notitle, \
         NaN notitle
    if (r == 1 && m == 1) { do for [b = 1:nb] { unset object 100 + b; unset label 100 + b } }
  }
}
unset multiplot
