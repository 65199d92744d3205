/* valgrind.c — knowing we run under Valgrind, and mirroring events into
 * its log, with only Valgrind's header-only client requests. */
#include "valgrind.h"

#include "config.h"
#include "event.h"
#include "process.h"
#include "sslshim.h"

#include <string.h>

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

void valgrind_publish(const void *obj)
{
    ANNOTATE_HAPPENS_BEFORE(obj);
}

void valgrind_acquire(const void *obj)
{
    ANNOTATE_HAPPENS_AFTER(obj);
}
