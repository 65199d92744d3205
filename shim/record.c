/* record.c — the one place events leave the builders. */
#include "record.h"

#include "burst.h"
#include "conn.h"
#include "fields.h"
#include "flight.h"
#include "sink.h"
#include "sslshim.h"
#include "valgrind.h"

#include <string.h>

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
    flight_keep(c, e);
    if (e->failure)
        flight_flush(c);
    return true;
}

bool record_note(struct conn *c, const struct note *n)
{
    if (flight_takes_notes(c))
        return flight_keep_note(c, n);
    if (config.format != FORMAT_JSON || valgrind_active)
        return false;
    return burst_add_note(c->id, n);
}

void record(struct ev *e)
{
    valgrind_mirror(e);
    if (!kept_for_later(e))
        burst_add(e);
    ev_free(e);
}
