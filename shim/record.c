/* record.c — the one place events leave the builders. */
#include "record.h"

#include "conn.h"
#include "calls.h"
#include "flight.h"
#include "sink.h"
#include "sslshim.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "valgrind.h"

void record_begin(struct ev *e, const char *name, const struct conn *c)
{
    ev_begin(e, name, c ? c->id : 0, config.format == FORMAT_TEXT);
    e->owner = (void *)c;
}

/* In flight mode a connection's events wait in its ring until it fails;
 * conn_end is written by conn.c, which decides about the ring first. */
static bool kept_for_later(struct ev *e)
{
    struct conn *c = e->owner;
    if (config.mode != MODE_FLIGHT || !c || c->flight_streaming ||
        strcmp(e->name, SSLSHIM_EV_CONN_END) == 0)
        return false;
    if (!flight_keep(c, e))
        return false;              /* could not keep it: write it now */
    if (e->failure)
        flight_flush(c);
    return true;
}

/* Stream mode holds back the lines made during one API call and writes
 * them together when the call returns to the program (a handshake's thirty
 * lines cost one system call, not thirty).  A failure is written at once,
 * with everything before it, so a crash right after it loses nothing that
 * explains it; lines made outside any call are written at once. */
#define HELD_MAX 64
static __thread struct ev *held[HELD_MAX] __attribute__((tls_model("initial-exec")));

void record_flush(void)
{
    int n = thread_call.held;
    if (n == 0)
        return;
    int saved_errno = errno;          /* called as the program's call returns */
    thread_call.held = 0;
    sink_emit_batch(held, n);
    for (int i = 0; i < n; i++) {
        ev_free(held[i]);
        free(held[i]);
    }
    errno = saved_errno;
}

static bool held_back(struct ev *e)
{
    if (config.mode != MODE_STREAM || thread_call.depth == 0 || e->failure)
        return false;
    struct ev *copy = malloc(sizeof *copy);
    if (!copy)
        return false;
    *copy = *e;                        /* the buffer moves to the copy */
    clock_gettime(CLOCK_REALTIME, &copy->when);
    held[thread_call.held++] = copy;
    if (thread_call.held == HELD_MAX)
        record_flush();
    return true;
}

void record(struct ev *e)
{
    valgrind_mirror(e);
    if (held_back(e))
        return;
    record_flush();                    /* what came before goes first */
    if (!kept_for_later(e))
        sink_emit(e);
    ev_free(e);
}
