// The stage protocol (harness/PROTOCOL.md): JSON lines a stage's `eval` prints on stdout and
// the masks file it writes. This module parses and validates them into an ExpResult; anything
// malformed is a reason for the experiment to fail, never a crash of the harness.
#ifndef WF_PROTO_H
#define WF_PROTO_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#define WF_PROTOCOL_VERSION 1

typedef struct {
    int index, images, prompts, pass;  // pass: 0-based timed pass over the subset
    double ms;
} Sample;

typedef struct {
    long long ann_id, image_id, category_id;
    double iou, score;
    int height, width;
    char *rle;  // compressed COCO RLE string of the top mask
    // Every multimask output in index order as a JSON array of RLE strings ("masks"), NULL
    // when the line has none.
    char *masks_json;
} AnnMask;

typedef struct {
    // hello
    int have_hello;
    char *device_json, *device_name, *model_json;
    char *stage_info_json;  // {"name","after","adds","choices":{...}} as the stage printed it
    char *precision;        // stage_info.choices.precision, NULL if the stage names none
    char *build;            // stage_info.build, the commit it was built from; NULL if it names none
    // batches
    Sample *samples;
    int n_samples, cap_samples;
    // summary (NaN / -1 where not reported)
    int have_summary;
    char *summary_json;
    long long images_timed, batches_timed, peak_bytes, annotations, images_skipped;
    double total_ms, img_s, first_mask_ms, miou;
    long long passes;
    double launches_per_batch, kernels_per_batch;  // NaN when not reported
    // status
    int have_status, status_ok;
    char *status_error;
    // protocol violation (first one), line number counted from 1
    char *garbage;
    int lines;
    // masks file
    AnnMask *anns;
    int n_anns, cap_anns;
} ExpResult;

void exp_result_init(ExpResult *r);
void exp_result_free(ExpResult *r);
// Feeds one stdout line. Returns 0, or -1 after recording a protocol violation in r->garbage.
// batch_cb, when set, is called for every accepted batch line (progress display).
int proto_line(ExpResult *r, const char *line);
// Checks the summary against the batch lines (counts, totals, img/s). Returns 0 or -1 with why.
int proto_check_summary(const ExpResult *r, char *why, size_t len);
// Reads the masks file. Returns 0 or -1 with why.
int proto_read_masks(ExpResult *r, const char *path, char *why, size_t len);
// Same-index agreement of one annotation from two masks lines' "masks" arrays (every multimask
// output, RLE strings of an h x w mask): the mean over the indices of the agreement of output i
// with output i (both empty = 1). NaN when either is not a non-empty array or their counts
// differ, -1 when a mask is unreadable.
double masks_same_index(const cJSON *a, const cJSON *b, uint32_t h, uint32_t w);

#endif
