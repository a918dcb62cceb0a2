// The sdpa stage's cache of cuDNN execution plans on disk (sdpa_plan_cache.cu).
#ifndef SAM_SDPA_PLAN_CACHE_CUH
#define SAM_SDPA_PLAN_CACHE_CUH

#include <cuda_runtime.h>
#include <cudnn_graph.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char dir[1024];    // the cache folder; empty: no cache
    char device[256];  // the device plans are made for: "NVIDIA H200 sm_90 132 SMs"
    size_t cudnn;      // cudnnGetVersion() of the library that makes and runs them
} SdpaCache;

// The cache for plans of the GPU `prop` describes, in folder `dir`; dir NULL: the folder
// SAM_SDPA_PLAN_CACHE names ("off": none), else sdpa-plans beside the executable
// (build/sdpa-plans for the stages).
void sdpa_cache_open(SdpaCache *c, const cudaDeviceProp *prop, const char *dir);
// The entry of plan key `key` (one line) deserialised into *plan for handle h, its engine's
// global index in *engine: 1. No entry, or an entry of another key: 0. An entry cuDNN refuses:
// 0, said on stderr with the file and cuDNN's message (the caller builds the plan, and its
// entry replaces the refused one).
int sdpa_cache_load(const SdpaCache *c, const char *key, cudnnHandle_t h, cudnnBackendDescriptor_t *plan,
                    int64_t *engine);
// Writes the entry of a finalised plan (its JSON representation, which for the runtime-compiled
// engines holds the compiled kernel). A failure to write is said on stderr; the run goes on.
void sdpa_cache_store(const SdpaCache *c, const char *key, cudnnBackendDescriptor_t plan, int64_t engine);
// The entry's file of `key` into path.
void sdpa_cache_path(const SdpaCache *c, const char *key, char *path, size_t len);

#endif
