// Stage "bf16": bfloat16 weights and activations with float32 accumulation (cublasGemmEx,
// CUBLAS_COMPUTE_32F); softmax and normalisations accumulate in float32. Otherwise the same
// structure as fp32.
#include "../kernels/cuda/cuda_ops.h"
#include "core/stage.h"

static const Ops *open_bf16(void **backend) {
    *backend = cuda_backend_open("bf16");  // exits with a message: no GPU, or CC < 8.0
    return cuda_ops_bf16();
}

static void close_bf16(void *backend) { cuda_backend_close(backend); }

static void describe_bf16(void *backend, char *buf, size_t len) {
    cuda_backend_describe(backend, buf, len);
}

static const StageDesc STAGE = {
    .name = "bf16",
    .summary = "GPU bfloat16 weights and activations, float32 accumulation",
    .open = open_bf16,
    .close = close_bf16,
    .describe = describe_bf16,
};

int main(int argc, char **argv) { return stage_main(argc, argv, &STAGE); }
