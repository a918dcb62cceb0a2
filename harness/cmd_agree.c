// waterfall agree A.jsonl B.jsonl: the accuracy gate's agreement between two masks files
// (harness/PROTOCOL.md), outside any database: the GPU tests compare two stages' masks files
// with it (the Python decoder they used took minutes on the full subset).
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agreement.h"
#include "cmds.h"
#include "proto.h"
#include "util.h"

static void usage(FILE *f) {
    fprintf(f,
        "usage: waterfall agree A.jsonl B.jsonl [--min X]\n"
        "The agreement of two masks files (sam-<stage> eval --masks-out) over their annotations,\n"
        "as the accuracy gate measures a stage against its reference: top-mask agreement (IoU of\n"
        "the two top masks, two empty masks agree 1), its lowest annotation, how many picked a\n"
        "different mask index, and the same-index agreement (each multimask output against the\n"
        "other file's of the same index). One line on stdout. Both files must hold the same\n"
        "annotations. --min X: exit 1 when the mean top-mask agreement is under X.\n");
}

static int cmp_ann(const void *a, const void *b) {
    long long x = ((const AnnMask *)a)->ann_id, y = ((const AnnMask *)b)->ann_id;
    return (x > y) - (x < y);
}

static void read_file(ExpResult *r, const char *path) {
    char why[512];
    exp_result_init(r);
    if (proto_read_masks(r, path, why, sizeof why) != 0) die("%s", why);
    if (r->n_anns == 0) die("masks file %s holds no annotation", path);
    qsort(r->anns, (size_t)r->n_anns, sizeof(AnnMask), cmp_ann);
}

int cmd_agree(int argc, char **argv) {
    const char *files[2] = {NULL, NULL};
    double min = -1;
    int nf = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--min") && i + 1 < argc) {
            char *end;
            errno = 0;
            min = strtod(argv[++i], &end);
            if (errno || *end || !(min >= 0 && min <= 1)) die("agree: --min wants a number in [0, 1], got '%s'", argv[i]);
        } else if (argv[i][0] == '-') {
            die("agree: unknown option '%s' (--min, --help)", argv[i]);
        } else if (nf < 2) {
            files[nf++] = argv[i];
        } else {
            die("agree: more than two masks files ('%s')", argv[i]);
        }
    }
    if (nf != 2) {
        usage(stderr);
        return 2;
    }
    ExpResult a, b;
    read_file(&a, files[0]);
    read_file(&b, files[1]);
    if (a.n_anns != b.n_anns) die("agree: %s holds %d annotations, %s %d", files[0], a.n_anns, files[1], b.n_anns);
    AgreePair *pairs = xcalloc((size_t)a.n_anns, sizeof(AgreePair));
    for (int i = 0; i < a.n_anns; i++) {
        const AnnMask *x = &a.anns[i], *y = &b.anns[i];
        if (x->ann_id != y->ann_id) die("agree: annotation %lld of %s is not in %s", x->ann_id, files[0], files[1]);
        if (x->height != y->height || x->width != y->width)
            die("agree: annotation %lld is %dx%d in %s and %dx%d in %s", x->ann_id, x->height, x->width, files[0],
                y->height, y->width, files[1]);
        pairs[i] = (AgreePair){.rle_a = x->rle, .rle_b = y->rle, .masks_a = x->masks_json, .masks_b = y->masks_json,
                               .h = (uint32_t)x->height, .w = (uint32_t)x->width};
    }
    agree_pairs(pairs, a.n_anns);
    double sum = 0, low = INFINITY, same_sum = 0;
    long long low_ann = -1, other_index = 0, same_n = 0;
    for (int i = 0; i < a.n_anns; i++) {
        const AnnMask *x = &a.anns[i];
        const AgreePair *p = &pairs[i];
        if (p->top < 0) die("agree: annotation %lld: a top mask that does not cover %dx%d", x->ann_id, x->height, x->width);
        sum += p->top;
        if (p->top < low) low = p->top, low_ann = x->ann_id;
        if (p->same < 0)
            die("agree: annotation %lld: a multimask output that does not cover %dx%d", x->ann_id, x->height, x->width);
        if (!isnan(p->same)) {
            same_sum += p->same;
            same_n++;
            other_index += p->other_index;
        }
    }
    free(pairs);
    double mean = sum / a.n_anns;
    printf("%d annotations: top-mask agreement %.5f (lowest %.4f, annotation %lld)", a.n_anns, mean, low, low_ann);
    if (same_n == a.n_anns)
        printf(", %lld picked another mask index, same-index agreement %.5f", other_index, same_sum / same_n);
    else
        printf(", same-index agreement not measured (%lld of %d lines hold every mask)", same_n, a.n_anns);
    if (min >= 0) printf("; %s the minimum %g", mean >= min ? "at least" : "UNDER", min);
    printf("\n");
    exp_result_free(&a);
    exp_result_free(&b);
    return min >= 0 && mean < min ? 1 : 0;
}
