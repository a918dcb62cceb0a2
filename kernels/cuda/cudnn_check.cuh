// cuDNN's error check for the kernels/cuda files that call it: the call, file, line, cuDNN's
// status and its last error message, then exit.
#ifndef SAM_CUDNN_CHECK_CUH
#define SAM_CUDNN_CHECK_CUH

#include <cudnn_graph.h>
#include <stdio.h>
#include <stdlib.h>

// cuDNN's last error message into buf (len bytes), or "(no message)"; returns buf.
static inline const char *cudnn_last_message(char *buf, size_t len) {
    buf[0] = 0;
    cudnnGetLastErrorString(buf, len);
    if (!buf[0]) snprintf(buf, len, "(no message)");
    return buf;
}

static inline void cudnn_check_impl(cudnnStatus_t s, const char *call, const char *file, int line) {
    if (s == CUDNN_STATUS_SUCCESS) return;
    char msg[2048];
    fprintf(stderr, "sam: cuDNN error %s in %s at %s:%d: %s\n", cudnnGetErrorString(s), call, file,
            line, cudnn_last_message(msg, sizeof msg));
    exit(1);
}
#define cudnnCheck(call) cudnn_check_impl((call), #call, __FILE__, __LINE__)

#endif
