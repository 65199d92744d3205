/* flight.c — per-connection rings of stamped lines. */
#include "flight.h"

#include "config.h"
#include "conn.h"
#include "event.h"
#include "sink.h"

#include <pthread.h>
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

/* One lock for all rings.  A ring belongs to one connection, used by one
 * thread at a time — unless the program misuses one SSL from two threads,
 * which must not make us corrupt the ring.  Taken only on the handshake
 * and failure paths; lock order: flight, then sink. */
static pthread_mutex_t rings_lock = PTHREAD_MUTEX_INITIALIZER;

static void drop_oldest(struct flight_ring *r)
{
    struct kept *k = &r->slot[r->head];
    atomic_fetch_sub(&kept_bytes, k->len);
    free(k->line);
    k->line = NULL;
    r->head = (r->head + 1) % config.flight_events;
    r->used--;
}

static bool keep_locked(struct conn *c, struct ev *e);

bool flight_keep(struct conn *c, struct ev *e)
{
    pthread_mutex_lock(&rings_lock);
    bool kept = keep_locked(c, e);
    pthread_mutex_unlock(&rings_lock);
    return kept;
}

static bool keep_locked(struct conn *c, struct ev *e)
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

static void discard_locked(struct conn *c);

void flight_flush(struct conn *c)
{
    pthread_mutex_lock(&rings_lock);
    struct flight_ring *r = c->flight;
    c->flight_streaming = true;
    if (r) {
        for (unsigned i = 0; i < r->used; i++) {
            struct kept *k = &r->slot[(r->head + i) % config.flight_events];
            sink_write_stamped(k->line, k->len);
        }
        discard_locked(c);
    }
    pthread_mutex_unlock(&rings_lock);
}

void flight_discard(struct conn *c)
{
    pthread_mutex_lock(&rings_lock);
    discard_locked(c);
    pthread_mutex_unlock(&rings_lock);
}

static void discard_locked(struct conn *c)
{
    struct flight_ring *r = c->flight;
    if (!r)
        return;
    while (r->used)
        drop_oldest(r);
    free(r);
    c->flight = NULL;
}

void flight_atfork_prepare(void) { pthread_mutex_lock(&rings_lock); }
void flight_atfork_parent(void) { pthread_mutex_unlock(&rings_lock); }
void flight_atfork_child(void) { pthread_mutex_init(&rings_lock, NULL); }
