// A whole file read into memory (images, the sdpa plan cache's entries, sdpa-aot's key list).
#ifndef SAM_READFILE_H
#define SAM_READFILE_H

#include <stddef.h>

// The file's bytes followed by a NUL (not counted in *size), in a buffer the caller frees; files
// over max_bytes are refused. NULL on failure, with "<path>: <problem>" in err (cannot open,
// with errno's text; cannot seek; cannot size the file; file too large; read failed) and, when
// open_errno is not NULL, errno of a failed open there (0 for the other failures).
char *read_whole_file(const char *path, size_t max_bytes, size_t *size, int *open_errno, char *err,
                      size_t err_len);

#endif
