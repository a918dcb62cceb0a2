// Ragged decoding (DECODE_RAGGED, issue 16) on the CPU reference: every prompt of a batch
// through the prompt encoder, the mask decoder, post-processing and the top-mask statistics at
// once must give what per-image decoding gives, within 1e-5 relative (low-res logits, logits,
// predicted IoUs; masks equal but for pixels within that of zero), on both golden fixtures'
// models over awkward prompt sets (tests/core/ragged_check.h); and eval's timed batch with
// decoding "ragged" must give the same masks file contents as with "per-image" (every
// annotation's masks, top index, counts and predicted IoUs) over a synthetic COCO subset with
// the tiny fixture's model, batches of 4 with a short last one. The fixture sets run twice: with
// the first two-way layer's image rows shared through the batch index (the CPU attention takes
// it) and without.
// Usage: test_ragged [FIXTURES_DIR] (default $BUILD/fixtures/sam-golden, BUILD=build).
#include "../../kernels/cpu/cpu_ops.h"
#include "ragged_check.h"

int main(int argc, char **argv) {
    const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
    char dflt[1024], coco[1024], path[1200], err[512];
    snprintf(dflt, sizeof dflt, "%s/fixtures/sam-golden", build);
    const char *root = argc > 1 ? argv[1] : dflt;
    RaggedTolerance tol = {"cpu", 1e-5, 0, 1e-4};
    ragged_fixture_run(root, "tiny", cpu_ops(), NULL, tol);
    ragged_fixture_run(root, "tiny1024", cpu_ops(), NULL, tol);
    // The same without the first layer's rows shared per image: the path of a decoder attention
    // that takes no batch index (CUDA's explicit one, relpos's), and of sets with mask inputs.
    Ops unshared = *cpu_ops();
    AttentionImpl plain = cpu_attention_explicit;
    plain.takes_batch_index = 0;
    unshared.choices.decoder_attention = &plain;
    RaggedTolerance tol_unshared = {"cpu (first layer unshared)", 1e-5, 0, 1e-4};
    ragged_fixture_run(root, "tiny", &unshared, NULL, tol_unshared);
    ragged_fixture_run(root, "tiny1024", &unshared, NULL, tol_unshared);

    // eval_batch: per-image against ragged, the CPU stage's choices but for the decoding.
    snprintf(path, sizeof path, "%s/tiny/model.pth", root);
    TensorMap t;
    if (checkpoint_read(path, &t, err, sizeof err) != 0) {
        report(0, "tiny checkpoint: %s", err);
        return test_exit_status();
    }
    Exec x;
    exec_init(&x, cpu_ops(), NULL);
    Sam m;
    if (sam_build(&m, &x, &t, err, sizeof err) != 0) {
        report(0, "tiny build: %s", err);
        return test_exit_status();
    }
    tmap_free(&t);
    StageChoices per_image = {.device = "cpu", .ops = cpu_ops()->choices, .graphs = 0,
                              .decoding = DECODE_PER_IMAGE};
    StageChoices ragged = per_image;
    ragged.decoding = DECODE_RAGGED;
    snprintf(coco, sizeof coco, "%s/test-work/ragged/synthetic-coco", build);
    ragged_eval_compare(&m, coco, 4, 10, &per_image, &ragged, "cpu eval tiny: ragged against per-image", tol);
    sam_free(&m);
    return test_exit_status();
}
