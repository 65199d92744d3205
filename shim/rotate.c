/* rotate.c — log rotation by renaming, oldest first so nothing is lost
 * half-way: path.(keep-1) → path.keep, …, path → path.1. */
#include "rotate.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

static void generation(char *out, size_t size, const char *path, unsigned n)
{
    if (n == 0)
        snprintf(out, size, "%s", path);
    else
        snprintf(out, size, "%s.%u", path, n);
}

int rotate_files(const char *path, unsigned keep)
{
    char from[PATH_MAX], to[PATH_MAX];
    if (keep == 0)
        return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
    for (unsigned n = keep; n > 0; n--) {
        generation(from, sizeof from, path, n - 1);
        generation(to, sizeof to, path, n);
        if (rename(from, to) != 0 && errno != ENOENT)
            return -1;
    }
    return 0;
}
