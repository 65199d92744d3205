/* loop.c — detecting reconnect and renegotiation loops. */
#include "loop.h"

#include "current.h"
#include "clock.h"
#include "conn.h"
#include "record.h"
#include "sslshim.h"
#include "stack.h"
#include "text.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define PEERS_MAX 256

struct peer {
    char key[CONN_SNI_MAX + 8];
    unsigned attempts;
    int64_t last_seen_ns;
    struct loop_window window;
};

static pthread_mutex_t peers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct peer peers[PEERS_MAX];

static int64_t wall_ns(void) { return clock_wall_ns(); }

bool loop_window_add(struct loop_window *w, int64_t now, int64_t now_wall, bool failed,
                     unsigned n, unsigned window_s, unsigned *count, unsigned *n_failed,
                     int64_t *first_wall_ns)
{
    int64_t span = (int64_t)window_s * 1000000000;
    w->end_ns[w->head] = now;
    w->end_wall_ns[w->head] = now_wall;
    w->failed[w->head] = failed;
    w->head = (w->head + 1) % LOOP_RING;
    if (w->used < LOOP_RING)
        w->used++;

    unsigned all = 0, bad = 0;
    int64_t first = now_wall;
    for (unsigned i = 0; i < w->used; i++) {
        unsigned k = (w->head + LOOP_RING - 1 - i) % LOOP_RING;
        if (now - w->end_ns[k] > span)
            break;
        all++;
        bad += w->failed[k];
        first = w->end_wall_ns[k];
    }
    *count = all;
    *n_failed = bad;
    *first_wall_ns = first;
    if (!failed || bad < n || now < w->quiet_until_ns)
        return false;
    w->quiet_until_ns = now + span;
    return true;
}

static void peer_key(const struct conn *c, char *out, size_t size)
{
    if (c->peer[0])
        text_copy(out, size, c->peer);
    else if (c->have_sni)
        snprintf(out, size, "sni:%.*s", (int)c->sni_len, (const char *)c->sni);
    else
        text_copy(out, size, "unknown");
}

/* The peer's slot (peers_lock held); the least recently seen one is reused. */
static struct peer *peer_slot(const char *key, int64_t now)
{
    struct peer *oldest = &peers[0];
    for (int i = 0; i < PEERS_MAX; i++) {
        if (peers[i].key[0] && strcmp(peers[i].key, key) == 0) {
            peers[i].last_seen_ns = now;
            return &peers[i];
        }
        if (peers[i].last_seen_ns < oldest->last_seen_ns)
            oldest = &peers[i];
    }
    memset(oldest, 0, sizeof *oldest);
    text_copy(oldest->key, sizeof oldest->key, key);
    oldest->last_seen_ns = now;
    return oldest;
}

static void format_wall(char *out, size_t size, int64_t ns)
{
    struct tm tm;
    clock_utc((time_t)(ns / 1000000000), &tm);
    size_t n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, size - n, ".%06ldZ", (long)(ns % 1000000000 / 1000));
}

__attribute__((cold)) static void record_loop(struct conn *c, const char *kind, unsigned count, unsigned failed,
                        int64_t first_wall)
{
    char first[40];
    struct ev e;
    format_wall(first, sizeof first, first_wall);
    record_begin(&e, SSLSHIM_EV_LOOP, c);
    e.failure = true;
    snprintf(e.summary, sizeof e.summary, "%s loop: %u in %us, %u failed", kind, count,
             config.loop_window_s, failed);
    ev_str(&e, "kind", kind);
    ev_str(&e, "peer", c->peer[0] ? c->peer : NULL);
    conn_sni_field(&e, c);
    ev_uint(&e, "count", count);
    ev_uint(&e, "window_s", config.loop_window_s);
    ev_uint(&e, "failed", failed);
    ev_str(&e, "first_ts", first);
    ev_str(&e, "last_alert", c->last_alert[0] ? c->last_alert : NULL);
    if (config.stacks >= STACKS_ERRORS) {
        /* Where the latest attempt failed.  Borrowed by exchange: a program
         * misusing the SSL from two threads may be replacing it meanwhile. */
        struct stack *failed_at = __atomic_exchange_n(&c->fail_stack, NULL, __ATOMIC_ACQ_REL);
        if (failed_at) {
            c->stacks++;
            stack_field(&e, "stack", failed_at);
            struct stack *none = NULL;
            if (!__atomic_compare_exchange_n(&c->fail_stack, &none, failed_at, false,
                                             __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
                stack_free(failed_at);    /* a newer one came in */
        } else {
            current_stack_record(&e, c, false);
        }
    }
    record(&e);
}

unsigned loop_handshake_started(struct conn *c)
{
    char key[sizeof peers[0].key];
    int64_t now = now_ns();
    peer_key(c, key, sizeof key);
    pthread_mutex_lock(&peers_lock);
    unsigned attempt = ++peer_slot(key, now)->attempts;
    pthread_mutex_unlock(&peers_lock);

    /* Renegotiation: this connection's own handshakes within the window. */
    int64_t span = (int64_t)config.loop_window_s * 1000000000;
    unsigned slot = (c->handshakes - 1) % CONN_RENEG_RING;
    c->hs_times[slot] = now;
    unsigned in_window = 0;
    unsigned kept = c->handshakes < CONN_RENEG_RING ? c->handshakes : CONN_RENEG_RING;
    for (unsigned i = 0; i < kept; i++)
        in_window += now - c->hs_times[i] <= span;
    if (c->handshakes > 1 && in_window >= config.loop_count && now >= c->reneg_report_until_ns) {
        c->reneg_report_until_ns = now + span;
        record_loop(c, "renegotiation", in_window, 0, wall_ns() - (now - c->created_ns));
    }
    return attempt;
}

void loop_conn_ended(struct conn *c)
{
    char key[sizeof peers[0].key];
    unsigned count, failed;
    int64_t first;
    int64_t now = now_ns();
    if (c->handshakes == 0)
        return;                        /* never tried: not an attempt */
    peer_key(c, key, sizeof key);
    pthread_mutex_lock(&peers_lock);
    struct peer *p = peer_slot(key, now);
    bool report = loop_window_add(&p->window, now, wall_ns(), !conn_app_data(c),
                                  config.loop_count, config.loop_window_s,
                                  &count, &failed, &first);
    pthread_mutex_unlock(&peers_lock);
    if (report)
        record_loop(c, "reconnect", count, failed, first);
}

void loop_atfork_prepare(void) { pthread_mutex_lock(&peers_lock); }
void loop_atfork_parent(void) { pthread_mutex_unlock(&peers_lock); }
void loop_atfork_child(void) { pthread_mutex_unlock(&peers_lock); }
