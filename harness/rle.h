// Compressed COCO RLE strings (pycocotools maskApi.c rleFrString), read back by the harness to
// measure agreement between two stages' top masks without decoding them to pixels.
#ifndef WF_RLE_H
#define WF_RLE_H

#include <stdint.h>

// Decodes s into run lengths (zeros first, column-major as COCO). Returns the number of runs,
// or -1 if s is malformed or the runs do not sum to h * w. *counts is xmalloc'ed.
int wf_rle_decode(const char *s, long long h, long long w, uint32_t **counts);
// Intersection and union of two masks of one size given as runs.
void wf_rle_inter_union(const uint32_t *a, int na, const uint32_t *b, int nb, long long *inter,
                     long long *uni);
// IoU of two compressed strings; both empty counts as full agreement (1). -1 when malformed.
double wf_rle_iou_str(const char *a, const char *b, long long h, long long w);

#endif
