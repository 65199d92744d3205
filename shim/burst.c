/* burst.c — a thread's waiting lines, and writing them in one go. */
#include "burst.h"

#include "clock.h"
#include "config.h"
#include "fields.h"
#include "process.h"
#include "sink.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

__thread bool burst_holding __attribute__((tls_model("initial-exec")));
__thread unsigned burst_waiting __attribute__((tls_model("initial-exec")));

/* A healthy handshake end keeps a few KiB at most; a burst that grows past
 * this (stacks at every call, a long data dump) is written early. */
#define BURST_BYTES (32u << 10)
#define BURST_LINES BURST_LINES_MAX

/* One per thread, made on its first kept line and freed when it exits
 * (the key's destructor, which writes anything still waiting first). */
struct burst {
    unsigned n;                    /* == burst_waiting */
    size_t used;
    bool busy;                     /* being changed: a signal handler's exit
                                      must not write it half-made */
    struct burst_line line[BURST_LINES];
    struct {                       /* line i is a note to format (its body's */
        bool pending;              /* room is kept in bodies), or a body */
        uint64_t conn;
        struct note note;
    } notes[BURST_LINES];
    char bodies[BURST_BYTES];
};

static __thread struct burst *mine __attribute__((tls_model("initial-exec")));
static pthread_key_t burst_key;
static bool key_made;

/* Note i's line through the generic builder: a state name to escape. */
__attribute__((cold, noinline)) static void format_note_escaped(struct burst *b, unsigned i)
{
    struct burst_line *l = &b->line[i];
    struct ev e;
    size_t len;
    ev_begin(&e, l->name, b->notes[i].conn, false);
    fields_note(&e, &b->notes[i].note);
    const char *body = ev_body(&e, &len);
    if (body && len <= l->len) {
        memcpy(b->bodies + l->off, body, len);
        l->len = (unsigned)len;
    } else {
        l->len = 0;               /* cannot be (FIELDS_*_ROOM): counted as lost */
    }
    ev_free(&e);
}

/* The notes' lines, formatted into the room kept for them: all at once,
 * so the formatting code runs hot, not once per callback between
 * OpenSSL's own code. */
static void format_notes(struct burst *b)
{
    for (unsigned i = 0; i < b->n; i++) {
        if (!b->notes[i].pending)
            continue;
        b->notes[i].pending = false;
        struct burst_line *l = &b->line[i];
        size_t len = fields_note_json(b->bodies + l->off, b->notes[i].conn, &b->notes[i].note);
        if (len)
            l->len = (unsigned)len;
        else
            format_note_escaped(b, i);
    }
}

static void write_out(struct burst *b)
{
    format_notes(b);
    if (b->n)
        sink_write_burst(b->line, b->n, b->bodies);
    b->n = 0;
    b->used = 0;
    burst_waiting = 0;
}

static void thread_gone(void *p)
{
    struct burst *b = p;
    if (!b->busy)
        write_out(b);
    mine = NULL;
    free(b);
}

void burst_init(void) { key_made = pthread_key_create(&burst_key, thread_gone) == 0; }

/* This thread's burst, made on first use; NULL without memory or a key
 * (its lines are then written one by one). */
static struct burst *burst_of_thread(void)
{
    if (__builtin_expect(mine != NULL, 1))
        return mine;
    if (!key_made)
        return NULL;
    struct burst *b = malloc(sizeof *b);
    if (!b)
        return NULL;
    b->n = 0;
    b->used = 0;
    b->busy = false;
    for (unsigned i = 0; i < BURST_LINES; i++)
        b->notes[i].pending = false;
    if (pthread_setspecific(burst_key, b) != 0) {
        free(b);
        return NULL;
    }
    return mine = b;
}

void burst_flush_slow(void)
{
    struct burst *b = mine;
    if (!b || b->busy)
        return;               /* exit from a signal handler mid-add: the rest stays */
    int saved_errno = errno;
    b->busy = true;
    write_out(b);
    b->busy = false;
    errno = saved_errno;
}

/* Keep e's line in b; false if it does not fit even in an empty burst. */
static bool keep(struct burst *b, struct ev *e)
{
    size_t len;
    if (e->failed || e->len - EV_HEADROOM + 2 > sizeof b->bodies)
        return false;             /* written alone (or counted as lost) */
    const char *body = ev_body(e, &len);
    if (!body)
        return false;
    if (b->n == BURST_LINES || b->used + len > sizeof b->bodies)
        write_out(b);
    struct burst_line *l = &b->line[b->n];
    b->notes[b->n].pending = false;
    clock_wall(&l->ts);
    l->tid = shim_tid();
    l->name = e->name;
    l->off = b->used;
    l->len = len;
    memcpy(b->bodies + b->used, body, len);
    b->used += len;
    burst_waiting = ++b->n;
    return true;
}

/* Room for a note's line: the longest it can be once formatted. */
static size_t note_room(const struct note *n)
{
    if (n->kind == NOTE_STATE)
        return FIELDS_STATE_ROOM(strnlen(n->state.name, sizeof n->state.name));
    return FIELDS_MSG_ROOM;
}

bool burst_add_note(uint64_t conn, const struct note *n)
{
    if (!burst_holding || config.sink == SINK_SYSLOG)
        return false;
    struct burst *b = burst_of_thread();
    if (!b || b->busy)
        return false;             /* a signal handler amid an add: not here */
    size_t room = note_room(n);
    b->busy = true;
    if (b->n == BURST_LINES || b->used + room > sizeof b->bodies)
        write_out(b);
    unsigned i = b->n;
    struct burst_line *l = &b->line[i];
    clock_wall(&l->ts);
    l->tid = shim_tid();
    l->name = fields_note_name(n);
    l->off = (unsigned)b->used;
    l->len = (unsigned)room;      /* until formatted: the room kept */
    b->notes[i].pending = true;
    b->notes[i].conn = conn;
    b->notes[i].note = *n;
    b->used += room;
    burst_waiting = b->n = i + 1;
    b->busy = false;
    return true;
}

void burst_add(struct ev *e)
{
    bool at_once = !burst_holding || e->failure || e->urgent || e->text ||
                   config.sink == SINK_SYSLOG;
    struct burst *b = at_once && burst_waiting == 0 ? NULL : burst_of_thread();
    if (!b || b->busy) {          /* busy: a signal handler amid an add or a write */
        sink_emit(e);
        return;
    }
    b->busy = true;
    bool kept = !e->text && config.sink != SINK_SYSLOG && keep(b, e);
    if (!kept)
        write_out(b);             /* what waits goes first */
    b->busy = false;
    if (!kept)
        sink_emit(e);
    else if (at_once)
        burst_flush_slow();
}
