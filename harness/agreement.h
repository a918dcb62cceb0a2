// The accuracy gate's per-annotation agreement (design.md section 4), over the machine's cores.
// One annotation's masks on synthetic weights are four COCO RLE strings of 50-90 KB each
// (noise-like masks have a run every few pixels), and on the H200 host the harness spent 1-6 s
// between experiments storing them and computing this, a third of a vit_b run's time. The
// annotations are independent; the sums stay with the caller, in order, so a result does not
// depend on the thread count.
#ifndef WF_AGREEMENT_H
#define WF_AGREEMENT_H

#include <stdint.h>

typedef struct {
    // in
    const char *rle_a, *rle_b;      // the two top masks (compressed COCO RLE strings)
    const char *masks_a, *masks_b;  // every multimask output of each, a JSON array of RLE strings,
                                    // or NULL where the line kept none
    uint32_t h, w;                  // the masks' size (both lines')
    // out
    double top;       // IoU of the top masks (two empty masks agree 1); < 0: one does not cover h x w
    double same;      // same-index agreement (proto.h masks_same_index): NaN where either kept no
                      // outputs or their counts differ, < 0 where one is unreadable
    int other_index;  // 1 when the two tops stand at different indices among the outputs (both kept)
} AgreePair;

// Fills top, same and other_index of v[0 .. n-1] with one thread per core (at most 32).
void agree_pairs(AgreePair *v, int n);

#endif
