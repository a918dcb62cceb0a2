// The sdpa stage's cuDNN execution plans kept on disk between processes.
//
// Why: cuDNN 9.19's fused-attention engines compile their kernel with NVRTC when a plan is
// finalised: 0.04-1.45 s per plan on the H200 (session 15), the longest of a fresh machine's
// first process 1.84 s, which put sam-sdpa's first mask at 3.3-3.5 s there
// (tests/gpu/logs/h200-2026-12-02, call 6). A finalised
// plan's JSON representation (CUDNN_ATTR_EXECUTION_PLAN_JSON_REPRESENTATION) holds the compiled
// kernel, and a plan descriptor given that JSON and a handle finalises without compiling it
// (cuDNN's plan serialisation, which its frontend documents for the runtime-compiled engines).
// The stage writes the entry of every plan it builds and loads the entries it finds;
// build/sdpa-aot (variants/aot/sdpa_aot.c) fills the cache ahead of time from a list of keys.
//
// An entry is one file, <dir>/<hash>.plan, the hash (64-bit FNV-1a) of its header:
//   sam-waterfall cuDNN execution plan 1
//   cudnn <cudnnGetVersion()>
//   device <name> sm_<major><minor> <SMs> SMs
//   key <the plan's key: shape, strides, bias>
//   engine <global index>
//   <the JSON representation, to the end of the file>
// so another cuDNN, device or shape is another file, and a file is used only when its header
// is the expected one word for word. Files are written under a temporary name and renamed, so a
// reader sees a whole entry or none.
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cuda_common.cuh"
extern "C" {
#include "common/readfile.h"
}
#include "cudnn_check.cuh"
#include "sdpa_plan_cache.cuh"

#define CACHE_MAGIC "sam-waterfall cuDNN execution plan 1"

void sdpa_cache_open(SdpaCache *c, const cudaDeviceProp *prop, const char *dir) {
    memset(c, 0, sizeof *c);
    snprintf(c->device, sizeof c->device, "%.200s sm_%d%d %d SMs", prop->name, prop->major, prop->minor,
             prop->multiProcessorCount);
    c->cudnn = cudnnGetVersion();
    if (dir) {
        snprintf(c->dir, sizeof c->dir, "%s", dir);
        return;
    }
    const char *env = getenv("SAM_SDPA_PLAN_CACHE");
    if (env && *env) {
        if (strcmp(env, "off") != 0) snprintf(c->dir, sizeof c->dir, "%s", env);
        return;
    }
    char exe[900];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) die("cuda sdpa: cannot read /proc/self/exe for the plan cache's folder: %s", strerror(errno));
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    snprintf(c->dir, sizeof c->dir, "%s/sdpa-plans", exe);
}

// An entry's header (its first lines, up to the engine) and its file, the header's hash.
static void entry(const SdpaCache *c, const char *key, char *head, size_t head_len, char *path, size_t path_len) {
    snprintf(head, head_len, CACHE_MAGIC "\ncudnn %zu\ndevice %s\nkey %s\n", c->cudnn, c->device, key);
    uint64_t h = 1469598103934665603ull;  // 64-bit FNV-1a
    for (const unsigned char *s = (const unsigned char *)head; *s; s++) h = (h ^ *s) * 1099511628211ull;
    snprintf(path, path_len, "%s/%016llx.plan", c->dir, (unsigned long long)h);
}

void sdpa_cache_path(const SdpaCache *c, const char *key, char *path, size_t len) {
    char head[2048];
    entry(c, key, head, sizeof head, path, len);
}

int sdpa_cache_load(const SdpaCache *c, const char *key, cudnnHandle_t h, cudnnBackendDescriptor_t *plan,
                    int64_t *engine) {
    if (!c->dir[0]) return 0;
    char path[1400], head[2048], err[1600], msg[2048];
    entry(c, key, head, sizeof head, path, sizeof path);
    size_t got;
    int open_errno;
    char *buf = read_whole_file(path, (size_t)1 << 30, &got, &open_errno, err, sizeof err);
    if (!buf) {
        if (open_errno != ENOENT) fprintf(stderr, "sam: cuda sdpa: plan cache %s: building the plan\n", err);
        return 0;
    }
    size_t hl = strlen(head);
    long long eng = -1;
    int used = 0;
    if (got < hl || memcmp(buf, head, hl) != 0 || sscanf(buf + hl, "engine %lld\n%n", &eng, &used) != 1 ||
        used == 0) {
        // Another key under the same hash, or a file cut short: no entry (the build replaces it).
        fprintf(stderr, "sam: cuda sdpa: plan cache %s: not an entry of this plan (header differs or "
                "the file is short): building the plan\n", path);
        free(buf);
        return 0;
    }
    const char *json = buf + hl + used;
    int64_t json_len = (int64_t)(got - hl - (size_t)used);
    cudnnBackendDescriptor_t p;
    cudnnCheck(cudnnBackendCreateDescriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &p));
    // cuDNN reads the JSON when it is set or when the plan is finalised: a refusal at either is
    // the entry's, not the run's.
    cudnnStatus_t s = cudnnBackendSetAttribute(p, CUDNN_ATTR_EXECUTION_PLAN_JSON_REPRESENTATION,
                                               CUDNN_TYPE_CHAR, json_len, json);
    if (s == CUDNN_STATUS_SUCCESS)
        s = cudnnBackendSetAttribute(p, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &h);
    if (s == CUDNN_STATUS_SUCCESS) s = cudnnBackendFinalize(p);
    free(buf);
    if (s != CUDNN_STATUS_SUCCESS) {
        fprintf(stderr, "sam: cuda sdpa: plan cache %s: cuDNN refuses the entry (%s: %s): building the plan\n",
                path, cudnnGetErrorString(s), cudnn_last_message(msg, sizeof msg));
        cudnnCheck(cudnnBackendDestroyDescriptor(p));
        return 0;
    }
    *plan = p;
    *engine = eng;
    return 1;
}

void sdpa_cache_store(const SdpaCache *c, const char *key, cudnnBackendDescriptor_t plan, int64_t engine) {
    if (!c->dir[0]) return;
    int64_t n = 0;
    cudnnStatus_t s = cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_JSON_REPRESENTATION,
                                               CUDNN_TYPE_CHAR, 0, &n, NULL);
    char path[1400], head[2048], msg[2048];
    entry(c, key, head, sizeof head, path, sizeof path);
    if (s != CUDNN_STATUS_SUCCESS || n <= 0) {
        fprintf(stderr, "sam: cuda sdpa: plan cache %s: cuDNN gives no JSON representation of the plan "
                "(%s: %s): not cached\n", path, cudnnGetErrorString(s), cudnn_last_message(msg, sizeof msg));
        return;
    }
    char *json = (char *)xmalloc((size_t)n);
    cudnnCheck(cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_JSON_REPRESENTATION, CUDNN_TYPE_CHAR,
                                        n, &n, json));
    while (n > 0 && json[n - 1] == 0) n--;  // the representation's terminating zero
    if (mkdir(c->dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "sam: cuda sdpa: plan cache folder %s: cannot make it: %s: not cached\n", c->dir,
                strerror(errno));
        free(json);
        return;
    }
    char tmp[1500];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d.%lx", path, (int)getpid(), (unsigned long)pthread_self());
    FILE *f = fopen(tmp, "wb");
    int ok = f != NULL;
    if (ok) ok = fprintf(f, "%sengine %lld\n", head, (long long)engine) > 0;
    if (ok) ok = fwrite(json, 1, (size_t)n, f) == (size_t)n;
    if (f && fclose(f) != 0) ok = 0;
    if (ok && rename(tmp, path) != 0) ok = 0;
    if (!ok) {
        fprintf(stderr, "sam: cuda sdpa: plan cache %s: cannot write it: %s: not cached\n", path, strerror(errno));
        unlink(tmp);
    }
    free(json);
}
