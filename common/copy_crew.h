// A crew of threads that copy one buffer together: the model's load copies gigabytes of weights
// into pinned staging buffers (kernels/cuda/upload.cu's ring), and one thread's memcpy
// moves far less than the machine's memory bandwidth.
#ifndef SAM_COPY_CREW_H
#define SAM_COPY_CREW_H

#include <stddef.h>

typedef struct CopyCrew CopyCrew;

// A crew of `threads` (the caller counted: threads - 1 helpers are started; 1 starts none).
// threads outside [1, COPY_CREW_MAX] is refused by name.
#define COPY_CREW_MAX 32
CopyCrew *copy_crew_open(int threads);
// memcpy(dst, src, bytes), the bytes split between the crew; returns when all are copied.
// Copies under `alone_below` bytes are made by the caller alone (waking threads costs more).
void copy_crew_memcpy(CopyCrew *c, void *dst, const void *src, size_t bytes, size_t alone_below);
int copy_crew_threads(const CopyCrew *c);
void copy_crew_close(CopyCrew *c);

#endif
