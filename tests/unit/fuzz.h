/* fuzz.h — what the unit tests' fuzzing harnesses share: a fixed-seed
 * xorshift* generator (deterministic: the same inputs on every run) and a
 * decoder of the hex their captured messages and certificates are kept in. */
#ifndef SSLSHIM_UNIT_FUZZ_H
#define SSLSHIM_UNIT_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x2545f4914f6cdd1dULL;

static uint64_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1dULL;
}

static unsigned char *unhex(const char *hex, size_t *n)
{
    size_t len = strlen(hex) / 2;
    unsigned char *b = malloc(len);
    if (!b)
        abort();
    for (size_t i = 0; i < len; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            abort();
        b[i] = (unsigned char)v;
    }
    *n = len;
    return b;
}

#endif
