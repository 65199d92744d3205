/* record.c — the one place events leave the builders. */
#include "record.h"

#include "conn.h"
#include "sink.h"
#include "valgrind.h"

void record_begin(struct ev *e, const char *name, const struct conn *c)
{
    ev_begin(e, name, c ? c->id : 0, config.format == FORMAT_TEXT);
}

void record(struct ev *e)
{
    valgrind_mirror(e);
    sink_emit(e);
    ev_free(e);
}
