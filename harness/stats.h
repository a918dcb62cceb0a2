// Timing statistics: per-batch summaries and the compare rule (harness/README.md, "compare").
#ifndef WF_STATS_H
#define WF_STATS_H

typedef struct {
    double median, min, max, mean, noise;  // noise: relative standard deviation (std / mean)
} Summary;

// Summary of n values (n >= 1); NaN fields for n == 0.
Summary stats_summary(const double *v, int n);
double stats_median(double *v, int n);  // sorts v in place

typedef enum { V_SAME, V_FASTER, V_SLOWER, V_UNCLEAR } Verdict;
const char *verdict_name(Verdict v);

typedef struct {
    double ratio;        // median(B) / median(A) of per-image batch times: > 1 means B is slower
    double lo, hi;       // bootstrap confidence interval of the ratio
    double p_value;      // two-sided Mann-Whitney U (normal approximation, tie-corrected)
    Verdict verdict;
    const char *why;     // short explanation for UNCLEAR
} CompareResult;

// The rule: the ratio of medians with a percentile-bootstrap CI (confidence conf, reps
// resamples of each side, fixed seed so a comparison is reproducible), and
//   SLOWER  when lo > 1 + min_effect and the Mann-Whitney p < 1 - conf,
//   FASTER  when hi < 1 / (1 + min_effect) and p < 1 - conf,
//   SAME    when the whole CI lies inside [1 / (1 + min_effect), 1 + min_effect],
//   UNCLEAR otherwise, or when either side has fewer than min_n samples.
CompareResult stats_compare(const double *a, int na, const double *b, int nb, double min_effect,
                            double conf, int reps, int min_n);

// The same rule on paired samples: when both runs timed the same batches in the same order
// (same dataset, limit and batch size), batch i of B is compared with batch i of A, which
// removes the batch-to-batch workload variation (image sizes, prompt counts). The ratio is
// exp(median(log(b_i / a_i))), its CI a bootstrap over batch indices, the test the Wilcoxon
// signed-rank test on log(b_i / a_i).
CompareResult stats_compare_paired(const double *a, const double *b, int n, double min_effect,
                                   double conf, int reps, int min_n);

#endif
