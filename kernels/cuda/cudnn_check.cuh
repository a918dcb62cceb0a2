// cuDNN's error check for the kernels/cuda files that call it: the call, file, line, cuDNN's
// status and its last error message, then exit.
#ifndef SAM_CUDNN_CHECK_CUH
#define SAM_CUDNN_CHECK_CUH

#include <cudnn_graph.h>
#include <stdio.h>
#include <stdlib.h>

static inline void cudnn_check_impl(cudnnStatus_t s, const char *call, const char *file, int line) {
    if (s == CUDNN_STATUS_SUCCESS) return;
    char msg[2048] = "";
    cudnnGetLastErrorString(msg, sizeof msg);
    fprintf(stderr, "sam: cuDNN error %s in %s at %s:%d: %s\n", cudnnGetErrorString(s), call, file,
            line, msg[0] ? msg : "(no message)");
    exit(1);
}
#define cudnnCheck(call) cudnn_check_impl((call), #call, __FILE__, __LINE__)

#endif
