/* text.h — bounded string copies for hot paths, where snprintf("%s") would
 * cost a formatting engine per call. */
#ifndef SHIM_TEXT_H
#define SHIM_TEXT_H

#include <stddef.h>
#include <string.h>

/* Append src to the string in dst[0..*len), always NUL-terminated, cut at
 * size - 1 bytes; returns dst. */
static inline char *text_append(char *dst, size_t size, size_t *len, const char *src)
{
    size_t n = strlen(src), room = size - 1 - *len;
    if (n > room)
        n = room;
    memcpy(dst + *len, src, n);
    *len += n;
    dst[*len] = '\0';
    return dst;
}

/* strlcpy: copy src into dst (size > 0), cut and NUL-terminated. */
static inline char *text_copy(char *dst, size_t size, const char *src)
{
    size_t len = 0;
    return text_append(dst, size, &len, src);
}

#endif
