/* flight.c — per-connection rings of stamped lines. */
#include "flight.h"

#include "config.h"
#include "conn.h"
#include "event.h"
#include "record.h"
#include "sink.h"
#include "trace.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct kept {
    char *line;                    /* a formatted line, or NULL: */
    size_t len;                    /* (bytes counted against the budget) */
    struct stamp stamp;            /* a note, formatted when written */
    struct flight_note note;
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
    k->len = 0;
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

/* The next free slot of c's ring for `len` more bytes, making room from
 * the ring's own past (over the total budget too); NULL if there is none. */
static struct kept *slot_locked(struct conn *c, size_t len)
{
    if (!c->flight) {            /* slots are filled before they are read: no calloc */
        c->flight = malloc(sizeof *c->flight + config.flight_events * sizeof(struct kept));
        if (!c->flight)
            return NULL;
        c->flight->head = c->flight->used = 0;
    }
    struct flight_ring *r = c->flight;
    while (r->used && (r->used == config.flight_events ||
                       atomic_load(&kept_bytes) + len > FLIGHT_BUDGET))
        drop_oldest(r);
    if (atomic_load(&kept_bytes) + len > FLIGHT_BUDGET)
        return NULL;
    return &r->slot[(r->head + r->used) % config.flight_events];
}

static void filled_locked(struct conn *c, struct kept *k)
{
    c->flight->used++;
    atomic_fetch_add(&kept_bytes, k->len);
}

static bool keep_locked(struct conn *c, struct ev *e)
{
    size_t len;
    const char *line = sink_stamp(e, &len);
    if (!line)
        return false;
    struct kept *k = slot_locked(c, len);
    char *copy = k ? malloc(len) : NULL;
    if (!copy)
        return false;
    memcpy(copy, line, len);
    k->line = copy;
    k->len = len;
    filled_locked(c, k);
    return true;
}

bool flight_takes_notes(const struct conn *c)
{
    return config.mode == MODE_FLIGHT && !c->flight_streaming &&
           config.format == FORMAT_JSON && !valgrind_active;
}

bool flight_keep_note(struct conn *c, const struct flight_note *n)
{
    pthread_mutex_lock(&rings_lock);
    struct kept *k = slot_locked(c, sizeof *n);
    if (k) {
        sink_take_stamp(&k->stamp);          /* lock order: flight, then sink */
        k->line = NULL;
        k->len = sizeof *n;
        k->note = *n;
        filled_locked(c, k);
    }
    pthread_mutex_unlock(&rings_lock);
    return k != NULL;
}

static void write_kept_locked(struct conn *c, const struct kept *k)
{
    if (k->line) {
        sink_write_stamped(k->line, k->len);
        return;
    }
    struct ev e;
    trace_note_event(&e, c, &k->note);
    sink_emit_stamped(&e, &k->stamp);
    ev_free(&e);
}

static void discard_locked(struct conn *c);

void flight_flush(struct conn *c)
{
    pthread_mutex_lock(&rings_lock);
    struct flight_ring *r = c->flight;
    c->flight_streaming = true;
    if (r) {
        for (unsigned i = 0; i < r->used; i++)
            write_kept_locked(c, &r->slot[(r->head + i) % config.flight_events]);
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
