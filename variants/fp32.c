// Stage "fp32": the GPU float32 baseline, as the official code runs eagerly in float32.
// cuBLAS SGEMM with TF32 off, explicit attention (scores materialised, rel-pos terms added,
// softmax, product with V), one prompt-encoder/decoder call per image.
#include "../kernels/cuda/cuda_ops.h"
#include "core/stage.h"

static const Ops *open_fp32(void **backend) {
    *backend = cuda_backend_open("fp32");  // exits with a message: no GPU, or CC < 8.0
    return cuda_ops_fp32();
}

static void close_fp32(void *backend) { cuda_backend_close(backend); }

static void describe_fp32(void *backend, char *buf, size_t len) {
    cuda_backend_describe(backend, buf, len);
}

static const StageDesc STAGE = {
    .name = "fp32",
    .summary = "GPU float32 (cuBLAS SGEMM, TF32 off, explicit attention)",
    .open = open_fp32,
    .close = close_fp32,
    .describe = describe_fp32,
};

int main(int argc, char **argv) { return stage_main(argc, argv, &STAGE); }
