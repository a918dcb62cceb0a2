// File-system helpers shared by the datasets code (the point cache and the synthetic subset).
#ifndef SAM_DATA_FSUTIL_H
#define SAM_DATA_FSUTIL_H

// mkdir -p: creates path and its missing parents (0777 before umask). Returns 0, or -1 with
// errno set by the mkdir that failed.
int mkdirs(const char *path);

#endif
