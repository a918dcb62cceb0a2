// Load-time uploads: the model's weights, host float32, into device memory through a ring of
// pinned staging slots.
//
// Why a ring: vit_h's build moved 2.5 GB of float32 weights with pageable copies, each large
// weight through a device buffer of its own (cudaMalloc, copy, convert, a stream
// synchronisation, cudaFree): 0.46-0.94 s of the time to first mask (session 17's split). Here
// a crew of host threads copies each chunk into a pinned slot (copy_crew), the copy engine
// moves it to the slot's device buffer while the next chunk is staged, and a kernel on the
// stream converts it into place; a slot is reused once its event says its last copy and
// consumer are done. Nothing waits per weight; load_end waits once and frees the ring.
#include <string.h>

#include "../upload_chunks.h"
#include "cuda_common.cuh"
extern "C" {
#include "common/copy_crew.h"
}

enum { RING_SLOTS = 4 };
// Chunks under this many bytes are copied by the calling thread alone (waking the crew costs
// more than it saves).
#define CREW_ALONE_BELOW ((size_t)1 << 20)
#define UPLOAD_THREADS_DEFAULT 4

typedef struct UploadRing UploadRing;
struct UploadRing {
    float *host[RING_SLOTS];              // pinned, (UPLOAD_SLOT_VALUES) float32 each
    float *dev[RING_SLOTS];               // device, (UPLOAD_SLOT_VALUES) float32 each (counted)
    cudaEvent_t reusable[RING_SLOTS];     // the slot's last copy and consumer have run
    unsigned next;                        // the slot the next chunk takes
    CopyCrew *crew;
    int report;  // the backend's load_report: one line on stderr when the ring closes
    double opened_at, wait_s, copy_s, queue_s;
    size_t bytes, chunks;
};

// SAM_UPLOAD_THREADS: the crew's size (1 to COPY_CREW_MAX); default UPLOAD_THREADS_DEFAULT.
static int upload_threads(void) {
    const char *s = getenv("SAM_UPLOAD_THREADS");
    if (!s || !*s) return UPLOAD_THREADS_DEFAULT;
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (*end || v < 1 || v > COPY_CREW_MAX)
        die("SAM_UPLOAD_THREADS='%s': not a thread count from 1 to %d", s, COPY_CREW_MAX);
    return (int)v;
}

static UploadRing *ring_open(CudaBackend *b) {
    UploadRing *r = (UploadRing *)xcalloc(1, sizeof *r);
    for (int i = 0; i < RING_SLOTS; i++) {
        cudaCheck(cudaHostAlloc((void **)&r->host[i], UPLOAD_SLOT_VALUES * sizeof(float), cudaHostAllocDefault));
        r->dev[i] = (float *)cuda_dev_alloc(b, UPLOAD_SLOT_VALUES * sizeof(float));
        cudaCheck(cudaEventCreateWithFlags(&r->reusable[i], cudaEventDisableTiming));
    }
    r->crew = copy_crew_open(upload_threads());
    r->report = b->load_report;
    r->opened_at = host_seconds();
    return r;
}

extern "C" void cuda_upload_release(CudaBackend *b) {
    UploadRing *r = b->upload;
    if (!r) return;
    double t0 = host_seconds();
    // The copy engine may still read a slot.
    for (int i = 0; i < RING_SLOTS; i++) cudaCheck(cudaEventSynchronize(r->reusable[i]));
    if (r->report)
        fprintf(stderr,
                "sam: upload ring: %zu MiB in %zu chunks by %d threads; open %.3f s: waiting for slots "
                "%.3f, copying into them %.3f, queueing %.3f, the last chunks %.3f\n",
                r->bytes >> 20, r->chunks, copy_crew_threads(r->crew), host_seconds() - r->opened_at, r->wait_s,
                r->copy_s, r->queue_s, host_seconds() - t0);
    for (int i = 0; i < RING_SLOTS; i++) {
        cudaCheck(cudaEventDestroy(r->reusable[i]));
        cudaCheck(cudaFreeHost(r->host[i]));
        cuda_dev_free(b, r->dev[i]);
    }
    copy_crew_close(r->crew);
    free(r);
    b->upload = NULL;
}

// The ring's walk over src: each chunk staged in a slot, then moved by the copy engine either
// into the slot's device buffer for consume, or (direct, float32 kept as it is) straight into
// direct + first, which needs no consumer and no device-to-device copy.
static void upload_ring(Exec *x, const float *src, size_t n, size_t unit, UploadConsumer consume, void *ctx,
                        float *direct) {
    CudaBackend *b = cuda_backend(x);
    if (b->capturing) die("cuda: an upload of %zu values inside a graph capture", n);
    char err[160];
    size_t per_chunk = upload_chunk_values(n, unit, UPLOAD_SLOT_VALUES, err, sizeof err);
    if (per_chunk == 0) die("cuda upload: %s", err);
    if (!b->upload) b->upload = ring_open(b);
    UploadRing *r = b->upload;
    for (size_t first = 0; first < n; first += per_chunk) {
        size_t count = upload_chunk_count(n, first, per_chunk);
        int slot = (int)(r->next++ % RING_SLOTS);
        double t0 = r->report ? host_seconds() : 0;
        cudaCheck(cudaEventSynchronize(r->reusable[slot]));
        double t1 = r->report ? host_seconds() : 0;
        copy_crew_memcpy(r->crew, r->host[slot], src + first, count * sizeof(float), CREW_ALONE_BELOW);
        double t2 = r->report ? host_seconds() : 0;
        cudaCheck(cudaMemcpyAsync(direct ? direct + first : r->dev[slot], r->host[slot], count * sizeof(float),
                                  cudaMemcpyHostToDevice, b->stream));
        cuda_count_copy(b);
        if (!direct) consume(x, r->dev[slot], first, count, ctx);
        cudaCheck(cudaEventRecord(r->reusable[slot], b->stream));
        if (r->report) {
            r->wait_s += t1 - t0;
            r->copy_s += t2 - t1;
            r->queue_s += host_seconds() - t2;
        }
        r->bytes += count * sizeof(float);
        r->chunks++;
    }
}

extern "C" void cuda_upload_staged(Exec *x, const float *src, size_t n, size_t unit, UploadConsumer consume,
                                   void *ctx) {
    upload_ring(x, src, n, unit, consume, ctx, NULL);
}

extern "C" void cuda_load_end(Exec *x) {
    CudaBackend *b = cuda_backend(x);
    if (b->capturing) die("cuda: the load's end inside a graph capture");
    cudaCheck(cudaStreamSynchronize(b->stream));
    cuda_upload_release(b);
}

// float32 -> bfloat16, round to nearest even, NaN kept quiet (as __float2bfloat16).
static __device__ uint16_t f32_to_bf16_bits(float f) {
    uint32_t u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

__global__ void f32_to_bf16_rows(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        dst[i] = f32_to_bf16_bits(src[i]);
}

static void to_bf16(Exec *x, const float *chunk, size_t first, size_t count, void *dst) {
    size_t blocks = (count + 255) / 256;
    f32_to_bf16_rows<<<blocks < 1024 ? (unsigned)blocks : 1024u, 256, 0, cuda_stream(x)>>>(
        chunk, (uint16_t *)dst + first, count);
    LAUNCH_CHECK(x, "float32 to bfloat16 upload");
}

extern "C" void cuda_upload(Exec *x, void *dst, const float *src, size_t n, int bf16) {
    if (n == 0) return;
    if (bf16) upload_ring(x, src, n, 1, to_bf16, dst, NULL);
    else upload_ring(x, src, n, 1, NULL, NULL, (float *)dst);
}

extern "C" void cuda_upload_act(Exec *x, void *dst, const float *src, size_t n) {
    cuda_upload(x, dst, src, n, is_bf16(x));
}
