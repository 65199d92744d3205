/* lifecycle.c — a connection's beginning and end as the log tells them:
 * conn_new, our callbacks installed next to the program's, and at the end
 * the policy (reconnect loops, flight mode's history) and conn_end. */
#include "lifecycle.h"

#include "conn.h"
#include "flight.h"
#include "keylog.h"
#include "loop.h"
#include "process.h"
#include "record.h"
#include "sslshim.h"
#include "stack.h"
#include "trace.h"

#include <stdio.h>

struct conn *lifecycle_track(SSL *s)
{
    struct conn *c = conn_new(s);
    if (!c)
        return NULL;
    /* An SSL inherits the CTX's msg callback at SSL_new and has no getter for
     * it; we remembered what the program set on the CTX.  The info callback
     * the SSL has now (set before we saw it) is the program's own. */
    c->prog_msg_cb = conn_ctx_msg_cb(s);
    c->prog_info_cb = ossl.SSL_get_info_callback(s);
    if (trace_is_our_info_cb(c->prog_info_cb))
        c->prog_info_cb = NULL;
    if (trace_is_our_msg_cb(c->prog_msg_cb))
        c->prog_msg_cb = NULL;
    keylog_attach(ossl.SSL_get_SSL_CTX(s));
    ossl.SSL_set_info_callback(s, trace_info_cb[ossl.family]);
    ossl.SSL_set_msg_callback(s, trace_msg_cb[ossl.family]);
    c->msg_cb_ours = true;
    if (level_on(LEVEL_IO)) {
        struct ev e;
        record_begin(&e, SSLSHIM_EV_CONN_NEW, c);
        ev_addr(&e, "ctx", (uintptr_t)ossl.SSL_get_SSL_CTX(s));
        record(&e);
    }
    return c;
}

/* `eof` is one name for the peer closing without close_notify after the
 * data moved, whichever way the library reports it (failure.c). */
static const char *outcome(const struct conn *c)
{
    if (!c->handshake_ok)
        return c->fatal_alert || c->error_seen || c->eof_seen ? "handshake_failed" : "incomplete";
    if (c->fatal_alert)
        return "alert";
    if (c->error_seen)
        return "error";
    if (c->eof_seen)
        return conn_app_data(c) ? "eof" : "error";
    return "ok";
}

static void write_conn_end(struct conn *c)
{
    struct ev e;
    record_begin(&e, SSLSHIM_EV_CONN_END, c);
    if (summary_wanted(&e))
        snprintf(e.summary, sizeof e.summary, "%s, %s", outcome(c),
             conn_app_data(c) ? "application data" : "no application data");
    ev_str(&e, "role", c->role < 0 ? NULL : c->role ? "server" : "client");
    ev_str(&e, "peer", c->peer[0] ? c->peer : NULL);
    conn_sni_field(&e, c);
    ev_uint(&e, "handshakes", c->handshakes);
    ev_bool(&e, "app_data", conn_app_data(c));
    ev_uint(&e, "bytes_in", c->bytes_in);
    ev_uint(&e, "bytes_out", c->bytes_out);
    ev_uint(&e, "reads", c->reads);
    ev_uint(&e, "writes", c->writes);
    ev_uint(&e, "records_in", c->records_in);
    ev_uint(&e, "records_out", c->records_out);
    ev_uint(&e, "alerts_sent", c->alerts_sent);
    ev_uint(&e, "alerts_recv", c->alerts_recv);
    ev_str(&e, "last_alert", c->last_alert[0] ? c->last_alert : NULL);
    ev_str(&e, "last_state", c->last_state[0] ? c->last_state : NULL);
    ev_str(&e, "outcome", outcome(c));
    ev_uint(&e, "ms", (unsigned long long)((now_ns() - c->created_ns) / 1000000));
    if (c->have_random)
        ev_hex(&e, "client_random", c->client_random, sizeof c->client_random);
    else
        ev_null(&e, "client_random");
    ev_uint(&e, "stacks", c->stacks);
    record(&e);
}

static bool failed(const struct conn *c)
{
    return !conn_app_data(c) || c->fatal_alert || c->error_seen;
}

/* An SSL that never began a handshake, moved data or met an error (the
 * unused copies of SSL_dup, objects a pool makes and frees) is no
 * connection to report: it gets a conn_end only at level io, which also
 * wrote its conn_new. */
static bool never_used(const struct conn *c)
{
    return c->handshakes == 0 && !conn_app_data(c) && !c->error_seen && !c->eof_seen &&
           c->alerts_sent == 0 && c->alerts_recv == 0;
}

/* The registry ends c (released by OpenSSL, or at exit). */
static void conn_end(struct conn *c)
{
    /* A fork child that frees an SSL it inherited ends nothing: the parent
     * still owns that connection and writes its conn_end. */
    if (c->owner_pid != process_pid())
        return;
    if (never_used(c) && !level_on(LEVEL_IO))
        return;
    loop_conn_ended(c);
    if (config.mode == MODE_FLIGHT) {
        /* The history of a failed connection, then its conn_end; a healthy
         * one writes its conn_end alone (nothing at level errors). */
        if (failed(c))
            flight_flush(c);
        else
            flight_discard(c);
        if (!failed(c) && !level_on(LEVEL_HANDSHAKE))
            return;
    }
    write_conn_end(c);
}

/* What the layers above hung on c, freed before the registry frees c. */
static void let_go(struct conn *c)
{
    stack_free(c->fail_stack);
    flight_discard(c);
}

bool lifecycle_init(void)
{
    static const struct conn_hooks hooks = { .end = conn_end, .let_go = let_go };
    return conn_init(&hooks);
}
