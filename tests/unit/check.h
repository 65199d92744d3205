/* check.h — the one assertion of the C unit tests: a failed CHECK is
 * reported with its place and counted; main() exits non-zero if any failed. */
#ifndef SSLSHIM_UNIT_CHECK_H
#define SSLSHIM_UNIT_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                      \
        }                                                                    \
    } while (0)

#endif
