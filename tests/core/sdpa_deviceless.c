// The sdpa stage's cuDNN graphs checked without a GPU (run by tests/core/test_sdpa_deviceless.sh,
// which puts the CUDA toolkit's libcuda stub on the library path: cuDNN's engine support checks
// open libcuda, though nothing here runs on a device). For every attention shape of vit_b and
// vit_h at batch 8 and of the golden fixtures, the graph sdpa_cudnn.cu builds is given to
// cuDNN's heuristics (mode A) for an H200 described in cuDNN's device-property JSON (cuDNN >=
// 9.8); each must be offered at least one engine configuration.
// So CI proves cuDNN accepts the graph, its layout and strides for every shape the model makes,
// before any GPU run (plan finalisation compiles the kernel with NVRTC and loads it: GPU only).
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../../kernels/cuda/cuda_ops.h"

// An H200 as cuDNN's device properties (cudaDeviceProp values; sm_90, 132 SMs, 227 KiB opt-in
// shared memory per block, 60 MiB L2).
static const char *H200 =
    "{\"maxGridSize\":[2147483647,65535,65535],\"maxBlockSize\":[1024,1024,64],\"regsPerBlock\":65536,"
    "\"multiProcessorCount\":132,\"warpSize\":32,\"maxSharedMemoryPerBlock\":49152,"
    "\"maxSharedMemoryPerBlockOptin\":232448,\"reservedSharedMemoryPerBlock\":1024,"
    "\"maxRegistersPerSM\":65536,\"maxCtasPerSM\":32,\"maxThreadsPerBlock\":1024,\"maxThreadsPerSM\":2048,"
    "\"pciDeviceId\":0,\"isTccDriver\":0,\"supportCoopLaunch\":1,\"totalGlobalMem\":150110011392,"
    "\"smClockRateKHz\":1980000,\"memClockRateKHz\":3201000,\"l2CacheSize\":62914560,\"cudaDeviceId\":0,"
    "\"deviceVer\":900,\"driverVer\":13000,\"deviceName\":\"NVIDIA H200\"}";

static int n_fail, n_pass;

// The encoder's call (variants/core/encoder.c) or the decoder's (decoder.c dec_attention).
static void check(int encoder, int batch, int heads, int q_len, int k_len, int hd, int g) {
    AttnParams p;
    memset(&p, 0, sizeof p);
    int64_t C = (int64_t)heads * hd;
    p.site = encoder ? ATTN_ENCODER : ATTN_DECODER;
    p.batch = batch, p.heads = heads, p.q_len = q_len, p.k_len = k_len, p.head_dim = hd;
    p.scale = 1.0f / sqrtf((float)hd);
    p.q_head_stride = p.k_head_stride = p.v_head_stride = p.o_head_stride = hd;
    if (encoder) {
        p.q_batch_stride = p.k_batch_stride = p.v_batch_stride = (int64_t)q_len * 3 * C;
        p.q_tok_stride = p.k_tok_stride = p.v_tok_stride = 3 * C;
        p.o_batch_stride = (int64_t)q_len * C, p.o_tok_stride = C;
        p.rel_pos = (const void *)16;  // only its presence matters here
        p.grid_h = p.grid_w = g;
    } else {
        p.q_batch_stride = p.o_batch_stride = (int64_t)q_len * C;
        p.k_batch_stride = p.v_batch_stride = (int64_t)k_len * C;
        p.q_tok_stride = p.k_tok_stride = p.v_tok_stride = p.o_tok_stride = C;
    }
    char msg[1024];
    int n = cuda_sdpa_check_deviceless(H200, &p, msg, sizeof msg);
    printf("%s %s\n", n > 0 ? "PASS" : "FAIL", msg);
    if (n > 0) n_pass++;
    else n_fail++;
}

int main(void) {
    // vit_b, vit_h at batch 8: windowed (200 windows of 14 x 14) and global (64 x 64; the
    // default workspace bound cuts it into chunks of whole images)
    check(1, 200, 12, 196, 196, 64, 14);
    check(1, 8, 12, 4096, 4096, 64, 64);
    check(1, 200, 16, 196, 196, 80, 14);
    check(1, 8, 16, 4096, 4096, 80, 64);
    check(1, 2, 16, 4096, 4096, 80, 64);  // vit_h's shorter last chunk (3, 3, 2)
    // the fixtures: tiny (2 heads, hd 64, 16 x 16 grid), tiny1024 (hd 80, 64 x 64)
    check(1, 4, 2, 196, 196, 64, 14);
    check(1, 1, 2, 256, 256, 64, 16);
    check(1, 25, 2, 196, 196, 80, 14);
    check(1, 1, 2, 4096, 4096, 80, 64);
    // the decoder: 8 heads (2 in the fixtures), token -> image, image -> token (hd 16: internal
    // dim 128), the tokens' self attention (hd 32), 7 tokens and others
    check(0, 11, 8, 7, 4096, 16, 0);
    check(0, 11, 8, 4096, 7, 16, 0);
    check(0, 11, 8, 7, 7, 32, 0);
    check(0, 1, 8, 8, 4096, 16, 0);
    check(0, 3, 2, 7, 256, 16, 0);
    check(0, 3, 2, 256, 7, 16, 0);
    check(0, 3, 2, 6, 6, 32, 0);
    printf("sdpa_deviceless: %d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
