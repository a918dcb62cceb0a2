// Hopper's (sm_90a) PTX that the tensor-core kernels share (kernels/cuda/int8_linear.cu,
// flash_relpos.cu): shared-memory barriers, the tensor-memory accelerator's 2-D loads, wgmma's
// shared-memory descriptors, its fences and groups, and the bfloat16 m64n64k16 products with A
// in registers. CUDA C through inline PTX.
//
// wgmma and the tensor-memory accelerator exist in the sm_90a compilation only (the build also
// compiles sm_80 code): every helper here is defined only where SM90A_PTX is 1, and a kernel
// that needs them traps in the other compilation rather than leave its output unwritten.
#ifndef SAM_SM90_PTX_CUH
#define SAM_SM90_PTX_CUH

#include <cuda.h>
#include <cudaTypedefs.h>

#include "cuda_common.cuh"

// The driver's tensor-map encoder (host), looked up once; refused by name where the driver lacks it.
static inline PFN_cuTensorMapEncodeTiled_v12000 tensor_map_encoder(void) {
    static PFN_cuTensorMapEncodeTiled_v12000 fn;
    if (!fn) {
        cudaDriverEntryPointQueryResult q;
        void *p = NULL;
        cudaCheck(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &q));
        if (!p || q != cudaDriverEntryPointSuccess) die("sam: the CUDA driver has no cuTensorMapEncodeTiled");
        fn = (PFN_cuTensorMapEncodeTiled_v12000)p;
    }
    return fn;
}

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define SM90A_PTX 1
#else
#define SM90A_PTX 0
#endif

#if SM90A_PTX

static __device__ __forceinline__ void mbar_init(uint64_t *bar, int count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_u32(bar)), "r"(count));
}
static __device__ __forceinline__ void mbar_expect_tx(uint64_t *bar, uint32_t bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_u32(bar)),
                 "r"(bytes) : "memory");
}
static __device__ __forceinline__ void mbar_arrive(uint64_t *bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smem_u32(bar)) : "memory");
}
static __device__ __forceinline__ void mbar_wait(uint64_t *bar, int parity) {
    asm volatile(
        "{\n"
        ".reg .pred done;\n"
        "WAIT_%=:\n"
        "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
        "@!done bra WAIT_%=;\n"
        "}\n" ::"r"(smem_u32(bar)), "r"(parity) : "memory");
}
// A 2-D box of the tensor map at (c0 innermost, c1) into shared memory; completion counted on bar.
static __device__ __forceinline__ void tma_load_2d(void *dst, const CUtensorMap *map, int c0, int c1,
                                                   uint64_t *bar) {
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n"
        ::"r"(smem_u32(dst)), "l"((uint64_t)map), "r"(c0), "r"(c1), "r"(smem_u32(bar)) : "memory");
}
// A 4-D box of the tensor map at (c0 innermost, .., c3) into shared memory; completion counted on bar.
static __device__ __forceinline__ void tma_load_4d(void *dst, const CUtensorMap *map, int c0, int c1, int c2,
                                                   int c3, uint64_t *bar) {
    asm volatile(
        "cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4, %5}], [%6];\n"
        ::"r"(smem_u32(dst)), "l"((uint64_t)map), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "r"(smem_u32(bar)) : "memory");
}
// A 2-D box from shared memory to the tensor map at (c0, c1) (elements outside the tensor are
// not written), in this thread's current bulk group.
static __device__ __forceinline__ void tma_store_2d(const CUtensorMap *map, const void *src, int c0, int c1) {
    asm volatile("cp.async.bulk.tensor.2d.global.shared::cta.bulk_group [%0, {%1, %2}], [%3];\n"
                 ::"l"((uint64_t)map), "r"(c0), "r"(c1), "r"(smem_u32(src)) : "memory");
}
static __device__ __forceinline__ void bulk_commit(void) { asm volatile("cp.async.bulk.commit_group;\n" ::: "memory"); }
// This thread's bulk stores have read their shared memory (it may be written again).
static __device__ __forceinline__ void bulk_wait_read0(void) {
    asm volatile("cp.async.bulk.wait_group.read 0;\n" ::: "memory");
}
// ... and are complete.
static __device__ __forceinline__ void bulk_wait0(void) { asm volatile("cp.async.bulk.wait_group 0;\n" ::: "memory"); }
// Shared-memory matrix descriptor of a tile with 128-byte rows and the 128-byte swizzle (16-byte
// unit u of row r stored at unit u ^ (r & 7); the tile 1024-byte aligned): 8-row groups 1024
// bytes apart (stride byte offset), leading byte offset unused (16). It serves both majors:
//   K-major   (rows along M or N, 64 bfloat16 / 128 int8 of K per row): a k step of 32 bytes
//             adds 2 to the descriptor (its address field counts 16-byte units);
//   MN-major  (rows along K, 64 bfloat16 of N per row; imm-trans 1): a k step of 16 rows adds
//             2048 bytes, 128 to the descriptor.
static __device__ __forceinline__ uint64_t smem_desc(const void *p) {
    uint64_t a = smem_u32(p);
    return ((a & 0x3FFFF) >> 4) | ((uint64_t)(16 >> 4) << 16) | ((uint64_t)(1024 >> 4) << 32) |
           (1ull << 62);
}
// The same for a tile with 32-byte rows and the 32-byte swizzle (16-byte unit u of row r at unit
// u ^ ((r >> 2) & 1); 256-byte aligned): 8-row groups 256 bytes apart. K-major: one k step of
// 16 bfloat16 is the whole row; MN-major (16 bfloat16 of N per row): a k step of 16 rows adds
// 512 bytes, 32 to the descriptor.
static __device__ __forceinline__ uint64_t smem_desc_sw32(const void *p) {
    uint64_t a = smem_u32(p);
    return ((a & 0x3FFFF) >> 4) | ((uint64_t)(16 >> 4) << 16) | ((uint64_t)(256 >> 4) << 32) | (3ull << 62);
}
// Ordinary stores (cp.async included) to shared memory that a wgmma reads next: each writing
// thread fences them into the async proxy before the barrier that publishes them.
static __device__ __forceinline__ void fence_proxy_async_smem(void) {
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}
static __device__ __forceinline__ void wgmma_fence(void) {
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
static __device__ __forceinline__ void wgmma_commit(void) {
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
static __device__ __forceinline__ void wgmma_wait1(void) {
    asm volatile("wgmma.wait_group.sync.aligned 1;\n" ::: "memory");
}
static __device__ __forceinline__ void wgmma_wait0(void) {
    asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
}
// Keeps the compiler from moving a register's reads or writes across a wgmma issue or wait: the
// products write the accumulators asynchronously, which the compiler does not see.
static __device__ __forceinline__ void reg_fence_n(float *d, const int n) {
#pragma unroll
    for (int i = 0; i < n; i++) asm volatile("" : "+f"(d[i])::"memory");
}
static __device__ __forceinline__ void reg_fence32(float *d) { reg_fence_n(d, 32); }

// d (this thread's 32 floats of a 64 x 64 float32 tile per warpgroup, the accumulator layout:
// d[4 j + 2 h + e] = row 16 warp + g + 8 h, column 8 j + 2 tq + e) += A (64 x 16 bfloat16 in
// registers: each warp's 16 rows as mma.sync m16n8k16's A fragment) x B (16 x 64 bfloat16 at
// descriptor db). TRANS_B 0: B K-major (64 rows of 16 k, i.e. n rows of k), 1: MN-major.
#define WGMMA_BF16_M64N64K16_RS(NAME, TRANS_B)                                                        \
    static __device__ __forceinline__ void NAME(float *d, const unsigned a[4], uint64_t db) {         \
        asm volatile(                                                                                  \
            "{\n"                                                                                      \
            ".reg .pred p;\n"                                                                          \
            "setp.ne.b32 p, %37, 0;\n"                                                                 \
            "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "                                    \
            "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15,"                   \
            " %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31},"        \
            " {%32, %33, %34, %35}, %36, p, 1, 1, " #TRANS_B ";\n"                                     \
            "}\n"                                                                                      \
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),       \
              "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]),   \
              "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]),             \
              "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]),             \
              "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])              \
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));                                \
    }
WGMMA_BF16_M64N64K16_RS(wgmma_bf16_m64n64k16_kmajor, 0)
WGMMA_BF16_M64N64K16_RS(wgmma_bf16_m64n64k16_mnmajor, 1)
#undef WGMMA_BF16_M64N64K16_RS

// The same with N = 32 (the first 16 floats of d: columns 0-31), B K-major: a key tile whose
// second half is all padding slots (the windows' last tile, -resh kernels). d[16..31] are
// operands too, left as they are, so the product defines the same registers as the N = 64 one.
static __device__ __forceinline__ void wgmma_bf16_m64n32k16_kmajor(float *d, const unsigned a[4], uint64_t db) {
    asm volatile(
        "{\n"
        ".reg .pred p;\n"
        "setp.ne.b32 p, %37, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 "
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15}, {%32, %33, %34, %35}, %36, p, 1, 1, 0;\n"
        "}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
          "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
          "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));
}

// The same with N = 16 (8 floats of d per thread), B MN-major: head dim 80's last 16 columns.
static __device__ __forceinline__ void wgmma_bf16_m64n16k16_mnmajor(float *d, const unsigned a[4], uint64_t db) {
    asm volatile(
        "{\n"
        ".reg .pred p;\n"
        "setp.ne.b32 p, %13, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n16k16.f32.bf16.bf16 "
        "{%0, %1, %2, %3, %4, %5, %6, %7}, {%8, %9, %10, %11}, %12, p, 1, 1, 1;\n"
        "}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));
}

#endif  // SM90A_PTX
#endif
