/* calls.c — what happens around each interposed call: the reentrancy guard,
 * data counters, `call`/`data`/`error` events and misuse detection.
 *
 * The data path (SSL_read/SSL_write with default settings) touches only
 * thread-local state and the conn's counters: no lock, no formatting. */
#include "calls.h"

#include "failure.h"
#include "lifecycle.h"
#include "misuse.h"
#include "names.h"
#include "record.h"
#include "sink.h"
#include "sslshim.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct conn *call_attach(SSL *s)
{
    int saved_errno = errno;
    struct conn *c = lifecycle_track(s);
    errno = saved_errno;
    return c;
}

/* OpenSSL's state machine picks the CTX's info callback as it is entered,
 * and reports the handshake's start and its exit to that one even if the
 * servername callback moves the SSL to another CTX (SSL_set_SSL_CTX)
 * half-way.  Ours chains to the program's, so it notes the CTX's callback
 * as the call begins (trace.c, ctx_info_cb, says which reports use it). */
void call_note_ctx_info_cb(struct conn *c, const SSL *s)
{
    c->entry_ctx_info_cb = ossl.SSL_CTX_get_info_callback(ossl.SSL_get_SSL_CTX(s));
    c->entry_ctx_known = true;
}

static void record_call(struct call *call, int ret, size_t bytes, int err)
{
    struct ev e;
    record_begin(&e, SSLSHIM_EV_CALL, call->conn);
    if (summary_wanted(&e))
        snprintf(e.summary, sizeof e.summary, "%s = %d", call->fn, ret);
    ev_str(&e, "fn", call->fn);
    ev_int(&e, "ret", ret);
    ev_uint(&e, "bytes", bytes);
    ev_str(&e, "err", ssl_error_name(err));
    ev_int(&e, "us", (now_ns() - call->t0) / 1000);
    if (config.stacks >= STACKS_ALL && call->conn)
        current_stack_record(&e, call->conn, false);
    record(&e);
}

static void record_data(struct call *call, char dir, const void *buf, size_t bytes)
{
    size_t n = bytes < config.data_bytes ? bytes : config.data_bytes;
    struct ev e;
    record_begin(&e, SSLSHIM_EV_DATA, call->conn);
    ev_str(&e, "fn", call->fn);
    ev_str(&e, "dir", dir == 'r' ? "in" : "out");
    ev_uint(&e, "len", bytes);
    ev_hex(&e, "hex", buf, n);
    record(&e);
}

static bool is_failure(int err)
{
    return err == SSL_ERROR_SSL || err == SSL_ERROR_SYSCALL;
}

void call_end_slow(struct call *call, int ret, size_t bytes, char dir, const void *buf)
{
    int saved_errno = errno;
    struct conn *c = call->conn;
    /* The program moves its data through our wrappers, which count it:
     * libssl need not call our msg callback for every record any more (the
     * next handshake start puts it back).  It stays until the first read
     * that returned data, which is where a TLS 1.3 client meets the
     * server's session tickets: on the general path, so they are messages
     * in the log and their lines are written together as the read returns
     * (a connection that only writes lets it go at its second write). */
    if (c && bytes && c->msg_cb_ours && c->handshake_ok && !c->in_handshake &&
        (dir == 'r' || dir == 'p' || c->writes > 1)) {
        ossl.SSL_set_msg_callback(call->ssl, c->prog_msg_cb);
        c->msg_cb_ours = false;
    }
    if (ret <= 0 || level_on(LEVEL_IO)) {
        bool ok = ret > 0 || (ret == 0 && call->zero_ok);
        int err = ok ? SSL_ERROR_NONE : ossl.SSL_get_error(call->ssl, ret);
        if (!ok && is_failure(err))
            failure_record_error(c, call->ssl, call->fn, ret, err, saved_errno);
        if (level_on(LEVEL_IO))
            record_call(call, ret, bytes, err);
        if (level_on(LEVEL_DATA) && bytes && buf)
            record_data(call, dir, buf, bytes);
    }
    errno = saved_errno;
}

void io_end_slow(struct ossl_api *api, struct conn *c, int ret)
{
    struct call call = { .saved_api = ossl_current, .conn = c, .ssl = c->ssl,
                         .fn = thread_call.fn };
    ossl_current = api;
    call_end_slow(&call, ret, 0, 0, NULL);
    ossl_current = call.saved_api;
}
