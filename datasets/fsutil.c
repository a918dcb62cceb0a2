#include "datasets/fsutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/check.h"

int mkdirs(const char *path) {
    char *p = xmalloc(strlen(path) + 1);
    strcpy(p, path);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                free(p);
                return -1;
            }
            *s = '/';
        }
    int r = (mkdir(p, 0777) == 0 || errno == EEXIST) ? 0 : -1;
    free(p);
    return r;
}
