/* valgrind.c — mirroring events into Valgrind's log and catching undefined
 * plaintext, using only Valgrind's header-only client requests. */
#include "valgrind.h"

#include "config.h"
#include "process.h"
#include "conn.h"
#include "event.h"
#include "record.h"
#include "sslshim.h"
#include "stack.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <valgrind/helgrind.h>
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>

bool valgrind_active;
bool valgrind_memcheck;

void valgrind_init(void)
{
    valgrind_active = config.valgrind_auto && RUNNING_ON_VALGRIND;
    if (valgrind_active) {
        /* Only memcheck knows which bytes are defined: VALGRIND_GET_VBITS
         * answers 0 under the other tools (callgrind, helgrind, ...). */
        unsigned char probe = 0, vbits = 0;
        valgrind_memcheck = VALGRIND_GET_VBITS(&probe, &vbits, 1) == 1;
    }
}

static bool mirrored(const char *name)
{
    static const char *const names[] = {
        SSLSHIM_EV_ALERT, SSLSHIM_EV_ERROR, SSLSHIM_EV_LOOP, SSLSHIM_EV_MISUSE,
        SSLSHIM_EV_HANDSHAKE_START, SSLSHIM_EV_UNDEFINED_DATA, NULL };
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], name) == 0)
            return true;
    return false;
}

void valgrind_mirror(const struct ev *e)
{
    if (!valgrind_active || !mirrored(e->name))
        return;
    if (e->conn)
        VALGRIND_PRINTF("sslshim[%d] conn %llu %s: %s\n", (int)process_pid(),
                        (unsigned long long)e->conn, e->name, e->summary);
    else
        VALGRIND_PRINTF("sslshim[%d] %s: %s\n", (int)process_pid(), e->name, e->summary);
}

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

void valgrind_check_write(struct conn *c, const char *fn, const void *buf, size_t len)
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
        stack_record(&e, c, false);
    record(&e);
    errno = saved_errno;
}

void valgrind_publish(const void *obj)
{
    ANNOTATE_HAPPENS_BEFORE(obj);
}

void valgrind_acquire(const void *obj)
{
    ANNOTATE_HAPPENS_AFTER(obj);
}
