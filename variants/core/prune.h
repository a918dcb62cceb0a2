// 2:4 magnitude pruning of a linear layer's weight, as the seed's sparse stage does it
// (design.md section 2; segment-anything-fast sparse.py: torch.ao.pruning.WeightNormSparsifier
// with sparse_block_shape (1, 4) and zeros_per_block 2, then to_sparse_semi_structured).
//
// The rule, for W (out, in) row-major as nn.Linear stores it: every row is cut into groups of 4
// consecutive input columns (in must be a multiple of 4), and in every group the two weights of
// smallest magnitude |w| are set to zero; the other two keep their values.
// Ties: among equal magnitudes the one at the lower column index is zeroed first (the higher
// index is kept), i.e. the group is ordered by (|w|, column) ascending and its first two are
// zeroed: a stable ascending sort. torch.topk(k=2, largest=False), which the seed's sparsifier
// uses, documents no tie order; CUDA's radix select takes the lower index among equal values,
// which is this rule. tests/gpu/test_prune_oracle.sh compares the rule with WeightNormSparsifier
// itself (CPU and CUDA, float32 and bfloat16) on the GPU machine's PyTorch. NaN counts as the
// largest magnitude (topk orders NaN above every number), so a NaN weight is kept.
// -0.0 and +0.0 are both magnitude 0.
//
// The seed's sparsifier ranks by w * w (its default L2 norm_fn), in the weight's dtype: w * w
// orders exactly as |w| except where two squares round to the same float or underflow to 0
// (|w| < 2^-75), where torch sees a tie and this rule still sees the magnitudes; and the seed
// pruned after casting the model to bfloat16, this project prunes the float32 weights at load
// (so the float32 stages on pruned weights and the sparse stage share one mask). Both differences
// touch only groups whose weights are equal to within bfloat16's precision.
#ifndef SAM_PRUNE_H
#define SAM_PRUNE_H

#include <stddef.h>
#include <stdint.h>

// Prunes W (out, in) in place. Returns 0, or -1 with one line in err (in not a multiple of 4,
// which the rule cannot group) and W untouched.
int prune24(float *W, int out, int in, char *err, size_t err_len);

// Groups of 4 of W (out, in) holding more than 2 non-zero values (0: W is 2:4 sparse). A
// group with fewer non-zeros (zeros in the weights already) satisfies the pattern. in must be
// a multiple of 4. When first_row / first_col are not NULL they receive the first offending
// group's row and first column (unchanged when there is none).
int64_t prune24_violations(const float *W, int out, int in, int *first_row, int *first_col);

#endif
