/* flight.c — per-connection rings of stamped lines. */
#include "flight.h"

#include "burst.h"
#include "config.h"
#include "conn.h"
#include "event.h"
#include "fields.h"
#include "sink.h"
#include "sslshim.h"
#include "valgrind.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct kept {
    char *line;                    /* a formatted line, or NULL: */
    size_t len;                    /* (bytes counted against the budget) */
    struct stamp stamp;            /* a note, formatted when written */
    struct note note;
};

struct flight_ring {
    unsigned head, used;           /* oldest at head */
    unsigned cap;                  /* grows to config.flight_events as needed */
    struct kept slot[];
};

#define RING_FIRST_CAP 16          /* a healthy TLS 1.3 end keeps about 25 events */

static atomic_size_t kept_bytes;
size_t flight_budget = FLIGHT_BUDGET;

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
    r->head = (r->head + 1) % r->cap;
    r->used--;
}

static void keep_locked(struct conn *c, struct ev *e);

/* A kept event is numbered now, so the lines that wait for this thread's
 * next write (numbered when written) go first: seq stays in event order. */
void flight_keep(struct conn *c, struct ev *e)
{
    burst_flush();
    pthread_mutex_lock(&rings_lock);
    keep_locked(c, e);
    pthread_mutex_unlock(&rings_lock);
}

/* A ring twice the size of r (or a first one), the oldest at slot 0; slots
 * are filled before they are read, so nothing is cleared.  On failure the
 * old ring stays (it then drops its oldest to make room). */
static struct flight_ring *grown(struct flight_ring *r)
{
    unsigned cap = r ? r->cap * 2 : RING_FIRST_CAP;
    if (cap > config.flight_events)
        cap = config.flight_events;
    struct flight_ring *n = malloc(sizeof *n + cap * sizeof(struct kept));
    if (!n)
        return r;
    n->head = 0;
    n->used = r ? r->used : 0;
    n->cap = cap;
    for (unsigned i = 0; i < n->used; i++)
        n->slot[i] = r->slot[(r->head + i) % r->cap];
    free(r);
    return n;
}

/* The next free slot of c's ring for `len` more bytes, making room from
 * the ring's own past (over the total budget too); NULL if there is none. */
static struct kept *slot_locked(struct conn *c, size_t len)
{
    struct flight_ring *r = c->flight;
    if (!r || (r->used == r->cap && r->cap < config.flight_events))
        r = c->flight = grown(r);
    if (!r || r->cap == 0)
        return NULL;
    while (r->used && (r->used == r->cap || atomic_load(&kept_bytes) + len > flight_budget))
        drop_oldest(r);
    if (atomic_load(&kept_bytes) + len > flight_budget)
        return NULL;
    return &r->slot[(r->head + r->used) % r->cap];
}

static void filled_locked(struct conn *c, struct kept *k)
{
    c->flight->used++;
    atomic_fetch_add(&kept_bytes, k->len);
}

/* Once stamped, the event is finished: it is kept, or else written now
 * (out of memory or over the budget), never handed back to be finished a
 * second time. */
static void keep_locked(struct conn *c, struct ev *e)
{
    size_t len;
    const char *line = sink_stamp(e, &len);
    if (!line) {
        sink_lost("memory");          /* its number is taken: the gap is counted */
        return;
    }
    struct kept *k = slot_locked(c, len);
    char *copy = k ? malloc(len) : NULL;
    if (!copy) {
        sink_write_stamped(line, len);
        return;
    }
    memcpy(copy, line, len);
    k->line = copy;
    k->len = len;
    filled_locked(c, k);
}

bool flight_takes_notes(const struct conn *c)
{
    return config.mode == MODE_FLIGHT && !c->flight_streaming &&
           config.format == FORMAT_JSON && !valgrind_active;
}

bool flight_keep_note(struct conn *c, const struct note *n)
{
    burst_flush();                            /* as in flight_keep */
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

/* The state or msg line a note stands for (JSON: notes are kept only
 * then, flight_takes_notes). */
static void note_event(struct ev *e, const struct conn *c, const struct note *n)
{
    ev_begin(e, fields_note_name(n), c->id, false);
    fields_note(e, n);
}

static void write_kept_locked(struct conn *c, const struct kept *k)
{
    if (k->line) {
        sink_write_stamped(k->line, k->len);
        return;
    }
    struct ev *e = malloc(sizeof *e);       /* below a failure's own line: not on the stack */
    if (!e) {
        sink_lost("memory");
        return;
    }
    note_event(e, c, &k->note);
    sink_emit_stamped(e, &k->stamp);
    ev_free(e);
    free(e);
}

static void discard_locked(struct conn *c);

void flight_flush(struct conn *c)
{
    burst_flush();
    pthread_mutex_lock(&rings_lock);
    struct flight_ring *r = c->flight;
    c->flight_streaming = true;
    if (r) {
        for (unsigned i = 0; i < r->used; i++)
            write_kept_locked(c, &r->slot[(r->head + i) % r->cap]);
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
void flight_atfork_child(void) { pthread_mutex_unlock(&rings_lock); }
