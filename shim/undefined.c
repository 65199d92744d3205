/* undefined.c — checking SSL_write buffers for bytes memcheck knows are
 * undefined, without adding an error of ours to the program's. */
#include "undefined.h"

#include "current.h"
#include "config.h"
#include "conn.h"
#include "record.h"
#include "sslshim.h"

#include <errno.h>
#include <stdio.h>

#include <valgrind/memcheck.h>

/* The first undefined byte of [buf, buf+len), or -1.  VALGRIND_GET_VBITS
 * copies the definedness bits without reporting anything (unlike
 * VALGRIND_CHECK_MEM_IS_DEFINED, which would add an error of ours to the
 * program's); a set bit means undefined. */
static long first_undefined(const unsigned char *buf, size_t len)
{
    unsigned char vbits[4096] = { 0 };  /* filled by Valgrind; zeroed for the analyzers */
    for (size_t done = 0; done < len;) {
        size_t n = len - done < sizeof vbits ? len - done : sizeof vbits;
        if (VALGRIND_GET_VBITS(buf + done, vbits, n) != 1)
            return -1;                  /* not memcheck, or not addressable */
        for (size_t i = 0; i < n; i++)
            if (vbits[i])
                return (long)(done + i);
        done += n;
    }
    return -1;
}

__attribute__((cold)) void undefined_check_write(struct conn *c, const char *fn, const void *buf, size_t len)
{
    if (!buf || len == 0)
        return;
    long off = first_undefined(buf, len);
    if (off < 0)
        return;
    int saved_errno = errno;
    struct ev e;
    record_begin(&e, SSLSHIM_EV_UNDEFINED_DATA, c);
    e.failure = true;
    snprintf(e.summary, sizeof e.summary, "%s of %zu bytes: byte %ld is undefined", fn, len, off);
    ev_str(&e, "fn", fn);
    ev_uint(&e, "len", len);
    ev_int(&e, "offset", off);
    if (c && config.stacks != STACKS_NONE)
        current_stack_record(&e, c, false);
    record(&e);
    errno = saved_errno;
}
