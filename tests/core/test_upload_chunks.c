// kernels/upload_chunks.h: the upload ring's cut of a weight into chunks covers every value once,
// in order, each chunk whole units within a slot, for the model's weights (every linear of
// vit_b, vit_l and vit_h in values, and in rows as int8 quantises them); an impossible cut is
// refused with its reason.
#include <string.h>

#include "../../kernels/upload_chunks.h"
#include "../test_util.h"

// Walks the cut as upload.cu does; returns 0 when it covers [0, n) in order with chunks of whole
// units, none over a slot, all but the last full; else a reason in why.
static int cut_is_sound(size_t n, size_t unit, size_t slot, char *why, size_t len) {
    char err[160];
    size_t per = upload_chunk_values(n, unit, slot, err, sizeof err);
    if (per == 0) return snprintf(why, len, "refused: %s", err), 1;
    if (per % unit || per > slot || per + unit <= slot)
        return snprintf(why, len, "chunk of %zu values for unit %zu, slot %zu", per, unit, slot), 1;
    size_t covered = 0, chunks = 0;
    for (size_t first = 0; first < n; first += per, chunks++) {
        size_t count = upload_chunk_count(n, first, per);
        if (first != covered || count == 0 || count % unit || count > slot || (first + count < n && count != per))
            return snprintf(why, len, "chunk %zu at %zu of %zu values", chunks, first, count), 1;
        covered += count;
    }
    if (covered != n) return snprintf(why, len, "covered %zu of %zu", covered, n), 1;
    return 0;
}

int main(void) {
    // (out, in) of the encoder blocks' linears: qkv, proj, lin1, lin2 of vit_b, vit_l, vit_h
    const size_t dims[][2] = {{2304, 768},  {768, 768},   {3072, 768},  {768, 3072},  {3072, 1024}, {1024, 1024},
                              {4096, 1024}, {1024, 4096}, {3840, 1280}, {1280, 1280}, {5120, 1280}, {1280, 5120}};
    int bad = 0;
    char why[200] = "";
    for (size_t i = 0; i < sizeof dims / sizeof *dims && !bad; i++) {
        size_t n = dims[i][0] * dims[i][1];
        bad = cut_is_sound(n, 1, UPLOAD_SLOT_VALUES, why, sizeof why) ||
              cut_is_sound(n, dims[i][1], UPLOAD_SLOT_VALUES, why, sizeof why);
    }
    report(!bad, "every encoder linear of vit_b, vit_l, vit_h cut into chunks of values and of whole rows: %s",
           bad ? why : "each value once, in order, no chunk over a slot");
    // Odd sizes and units on a small slot: the last chunk short, a unit that fills a slot exactly.
    const size_t cases[][3] = {{0, 1, 8}, {1, 1, 8}, {7, 1, 8}, {8, 1, 8}, {9, 1, 8}, {17, 1, 8},
                               {15, 3, 8}, {21, 7, 8}, {24, 8, 8}, {64, 8, 8}, {35, 5, 16}};
    bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases && !bad; i++)
        bad = cut_is_sound(cases[i][0], cases[i][1], cases[i][2], why, sizeof why);
    report(!bad, "small cuts (n, unit, slot) from (0, 1, 8) to (35, 5, 16): %s", bad ? why : "sound");
    char err[160] = "";
    report(upload_chunk_values(10, 0, 8, err, sizeof err) == 0 && strstr(err, "a unit of 0 values"),
           "a unit of 0 values is refused: \"%s\"", err);
    err[0] = 0;
    report(upload_chunk_values(UPLOAD_SLOT_VALUES + 1, UPLOAD_SLOT_VALUES + 1, UPLOAD_SLOT_VALUES, err, sizeof err) == 0 &&
               strstr(err, "slots hold"),
           "a unit larger than a slot is refused: \"%s\"", err);
    err[0] = 0;
    report(upload_chunk_values(10, 3, 8, err, sizeof err) == 0 && strstr(err, "not whole units of 3"),
           "10 values in units of 3 are refused: \"%s\"", err);
    return test_exit_status();
}
