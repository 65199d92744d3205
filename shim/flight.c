/* flight.c — per-connection rings of stamped lines. */
#include "flight.h"

#include "config.h"
#include "conn.h"
#include "event.h"
#include "sink.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct kept {
    char *line;
    size_t len;
};

struct flight_ring {
    unsigned head, used;           /* oldest at head */
    struct kept slot[];
};

static atomic_size_t kept_bytes;

size_t flight_bytes(void) { return atomic_load(&kept_bytes); }

static void drop_oldest(struct flight_ring *r)
{
    struct kept *k = &r->slot[r->head];
    atomic_fetch_sub(&kept_bytes, k->len);
    free(k->line);
    k->line = NULL;
    r->head = (r->head + 1) % config.flight_events;
    r->used--;
}

bool flight_keep(struct conn *c, struct ev *e)
{
    size_t len;
    if (!c->flight) {
        c->flight = calloc(1, sizeof *c->flight + config.flight_events * sizeof(struct kept));
        if (!c->flight)
            return false;
    }
    struct flight_ring *r = c->flight;
    const char *line = sink_stamp(e, &len);
    if (!line)
        return false;
    /* Over the total budget, a connection makes room from its own past. */
    while (r->used && (r->used == config.flight_events ||
                       atomic_load(&kept_bytes) + len > FLIGHT_BUDGET))
        drop_oldest(r);
    if (atomic_load(&kept_bytes) + len > FLIGHT_BUDGET)
        return false;
    char *copy = malloc(len);
    if (!copy)
        return false;
    memcpy(copy, line, len);
    struct kept *k = &r->slot[(r->head + r->used) % config.flight_events];
    k->line = copy;
    k->len = len;
    r->used++;
    atomic_fetch_add(&kept_bytes, len);
    return true;
}

void flight_flush(struct conn *c)
{
    struct flight_ring *r = c->flight;
    c->flight_streaming = true;
    if (!r)
        return;
    for (unsigned i = 0; i < r->used; i++) {
        struct kept *k = &r->slot[(r->head + i) % config.flight_events];
        sink_write_stamped(k->line, k->len);
    }
    flight_discard(c);
}

void flight_discard(struct conn *c)
{
    struct flight_ring *r = c->flight;
    if (!r)
        return;
    while (r->used)
        drop_oldest(r);
    free(r);
    c->flight = NULL;
}
