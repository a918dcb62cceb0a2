// NumPy .npy files, format version 1.0/2.0, C order, little-endian dtypes <f4, |u1, |b1.
// Used for golden fixtures, image inputs (HxWx3 uint8) and prediction outputs.
#ifndef SAM_NPY_H
#define SAM_NPY_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char dtype[8];     // "<f4", "|u1" or "|b1"
    int ndim;
    int64_t shape[8];
    size_t count;      // product of shape
    size_t item_size;  // bytes per element
    void *data;        // count * item_size bytes
} Npy;

// Reads path into out. Returns 0, or -1 with a message naming the file and the problem in err.
int npy_read(const char *path, Npy *out, char *err, size_t err_len);
// Reads or exits with one error line.
Npy npy_load_or_die(const char *path);
void npy_free(Npy *a);
// Writes a C-order array. dtype is "<f4", "|u1" or "|b1". Returns 0 or -1 (errno set).
int npy_write(const char *path, const char *dtype, int ndim, const int64_t *shape,
              const void *data);

#endif
