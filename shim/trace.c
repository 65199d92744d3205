/* trace.c — handshake start/done, state transitions, alerts and messages,
 * from the info and msg callbacks OpenSSL calls. */
#include "trace.h"

#include "current.h"
#include "conn.h"
#include "failure.h"
#include "fields.h"
#include "flight.h"
#include "handshake.h"
#include "keylog.h"
#include "loop.h"
#include "messages.h"
#include "names.h"
#include "record.h"
#include "sslshim.h"
#include "stack.h"
#include "text.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

static void note_client_random(struct conn *c, const SSL *s)
{
    unsigned char r[32];
    if (c->have_random || ossl.SSL_get_client_random(s, r, sizeof r) != sizeof r)
        return;
    for (size_t i = 0; i < sizeof r; i++) {
        if (r[i]) {                       /* all zero: not chosen yet */
            memcpy(c->client_random, r, sizeof r);
            c->have_random = true;
            return;
        }
    }
}

static void note_sni(struct conn *c, const SSL *s)
{
    const char *name = ossl.SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);
    if (!name)
        return;
    size_t n = strnlen(name, CONN_SNI_MAX);
    memcpy(c->sni, name, n);
    c->sni_len = n;
    c->have_sni = true;
}

/* Whether reading from the peer returns instead of waiting: a memory BIO
 * (pair), or a descriptor in non-blocking mode (event-driven servers,
 * curl).  Then the call returns to the program, where its lines are
 * written, whenever it would wait.  A BIO of the program's own may wait. */
static bool reads_never_wait(const SSL *s)
{
    BIO *rb = ossl.SSL_get_rbio(s);
    if (!rb)
        return false;
    int type = ossl.BIO_method_type(rb);
    if (type == BIO_TYPE_MEM || type == BIO_TYPE_BIO)
        return true;
    int fd = ossl.SSL_get_fd(s);
    int flags = fd >= 0 ? fcntl(fd, F_GETFL) : -1;
    return flags >= 0 && (flags & O_NONBLOCK);
}

/* The same, asked at most once per OpenSSL call of the program (and only
 * when lines wait): programs switch a descriptor's mode between calls
 * (non-blocking for connect and the handshake, blocking after), not
 * inside one.  A data call of the fast path has no number: asked each time. */
static bool reads_never_wait_now(struct conn *c, const SSL *s)
{
    uint64_t call = thread_call.outer ? thread_call.token : 0;
    if (!call || c->never_wait_call != call) {
        c->reads_never_wait = reads_never_wait(s);
        c->never_wait_call = call;
    }
    return c->reads_never_wait;
}

static void on_handshake_start(struct conn *c, const SSL *s)
{
    c->role = ossl.SSL_is_server(s) ? 1 : 0;
    c->handshakes++;
    c->in_handshake = true;
    c->hs_start_ns = now_ns();
    c->have_random = false;
    c->peer_cert = (struct cert_ref){ 0, 0 };
    c->failure_explained = false;
    c->alpn_server_len = 0;
    c->last_reported_state = NULL;              /* a new handshake's states are all news */
    keylog_attach(ossl.SSL_get_SSL_CTX(s));    /* SSL_set_SSL_CTX may have moved it */
    if (!c->msg_cb_ours) {                       /* taken off after the last handshake */
        ossl.SSL_set_msg_callback((SSL *)s, trace_msg_cb[ossl.family]);
        c->msg_cb_ours = true;
    }
    if (!c->peer[0])
        conn_note_addresses(c, s);
    if (c->role == 0)
        note_sni(c, s);
    unsigned attempt = loop_handshake_started(c);
    if (!level_on(LEVEL_HANDSHAKE))
        return;

    const char *entry = thread_call.depth ? thread_call.fn : NULL;
    struct ev e;
    record_begin(&e, SSLSHIM_EV_HANDSHAKE_START, c);
    if (summary_wanted(&e))
        snprintf(e.summary, sizeof e.summary, "%s #%u via %s", c->role ? "server" : "client",
             c->handshakes, entry ? entry : "?");
    ev_str(&e, "role", c->role ? "server" : "client");
    ev_str(&e, "peer", c->peer[0] ? c->peer : NULL);
    ev_str(&e, "local", c->local[0] ? c->local : NULL);
    conn_sni_field(&e, c);
    ev_uint(&e, "n", c->handshakes);
    ev_uint(&e, "attempt", attempt);
    ev_str(&e, "entry", entry);
    failure_version_fields(&e, (SSL *)s);
    /* Which OpenSSL runs this connection: a process may hold two. */
    ev_str(&e, "openssl", ossl.version);
    ev_str(&e, "libssl", ossl.libssl_path[0] ? ossl.libssl_path : NULL);
    if (config.stacks >= STACKS_HANDSHAKE)
        current_stack_record(&e, c, false);
    record(&e);
}

/* conn_end names the state a connection was last in.  OpenSSL's names are
 * static strings, so a copy is needed only when the name changes; it is a
 * copy because the conn may outlive a libssl that a program unloads. */
static void note_last_state(struct conn *c, const SSL *s, const char *state)
{
    if (state && state == c->last_state_from)
        return;
    bool error = !state || strcmp(state, "error") == 0;    /* named by conn_state */
    c->last_state_from = error ? NULL : state;
    const char *name = error ? conn_state(s) : state;
    if (!name)
        name = "";
    text_copy(c->last_state, sizeof c->last_state, name);
}

/* The handshake function returned because its I/O would block (a
 * non-blocking socket, an async job): the state machine did not move. */
static bool exit_would_block(const SSL *s, int where, int ret)
{
    if (!(where & SSL_CB_EXIT) || ret > 0)
        return false;
    switch (ossl.SSL_get_error(s, ret)) {   /* a getter: reads, never clears, the queue */
    case SSL_ERROR_NONE:
    case SSL_ERROR_SSL:
    case SSL_ERROR_SYSCALL:
    case SSL_ERROR_ZERO_RETURN:
        return false;
    default:
        return true;
    }
}

static bool keep_state_note(struct conn *c, const char *state, bool exit, int ret)
{
    struct note n;                           /* no initializer: it would clear the name */
    n.kind = NOTE_STATE;
    size_t len = strnlen(state, sizeof n.state.name);
    if (len == sizeof n.state.name)
        return false;                        /* too long to keep: format it */
    memcpy(n.state.name, state, len + 1);
    n.state.exit = exit;
    n.state.ret = ret;
    return record_note(c, &n);
}

/* State lines are transitions.  OpenSSL also reports a state again when it
 * resumes it (after I/O that would block, after post-handshake messages):
 * such a report names the state of the line before it and is left out, and
 * so is the exit of a call that would block, below level io (where the call
 * line says it anyway).  The names are OpenSSL's static strings, so the
 * pointer identifies the state. */
static void on_state(struct conn *c, const SSL *s, int where, int ret)
{
    const char *state = ossl.SSL_state_string_long(s);
    if ((where & SSL_CB_LOOP) && state == c->last_reported_state)
        return;
    note_last_state(c, s, state);
    if (!level_on(LEVEL_HANDSHAKE) || (!level_on(LEVEL_IO) && exit_would_block(s, where, ret)))
        return;
    c->last_reported_state = state;
    bool exit = (where & SSL_CB_LOOP) == 0;
    if (state && keep_state_note(c, state, exit, ret))
        return;
    struct ev e;
    record_begin(&e, SSLSHIM_EV_STATE, c);
    if (summary_wanted(&e))
        snprintf(e.summary, sizeof e.summary, "%s", c->last_state);
    fields_state(&e, state, exit, ret);
    record(&e);
}

static void on_alert(struct conn *c, const SSL *s, int where, int ret)
{
    bool recv = (where & SSL_CB_READ) != 0;
    int code = ret & 0xff;
    bool fatal = (ret >> 8) == SSL3_AL_FATAL;
    const char *desc = alert_desc_name(code);
    const char *state = conn_state(s);

    if (recv)
        c->alerts_recv++;
    else
        c->alerts_sent++;
    text_copy(c->last_alert, sizeof c->last_alert, desc ? desc : "unknown");
    /* OpenSSL 3 answers a peer that closed without close_notify with a
     * decode_error it cannot deliver: after the handshake that is the
     * connection's eof, not a failure of its own. */
    bool eof = fatal && !recv && code == SSL_AD_DECODE_ERROR && failure_is_eof(SSL_ERROR_SSL, 0, 0);
    if (eof && c->handshake_ok && !c->in_handshake)
        c->eof_seen = true;
    else if (fatal)
        c->fatal_alert = true;

    struct ev e;
    record_begin(&e, SSLSHIM_EV_ALERT, c);
    size_t len = 0;                          /* OpenSSL's own wording of the line */
    text_append(e.summary, sizeof e.summary, &len, recv ? "SSL3 alert read:" : "SSL3 alert write:");
    text_append(e.summary, sizeof e.summary, &len, ossl.SSL_alert_type_string_long(ret));
    text_append(e.summary, sizeof e.summary, &len, ":");
    text_append(e.summary, sizeof e.summary, &len, ossl.SSL_alert_desc_string_long(ret));
    ev_str(&e, "dir", recv ? "recv" : "sent");
    ev_str(&e, "level", fatal ? "fatal" : "warning");
    ev_str(&e, "desc", desc);
    ev_int(&e, "code", code);
    ev_str(&e, "text", ossl.SSL_alert_desc_string_long(ret));
    ev_str(&e, "line", e.summary);
    ev_str(&e, "state", state);
    if (eof)
        ev_bool(&e, "eof", true);
    if (fatal && !recv)
        failure_fields(&e, (SSL *)s, c);
    if (fatal && !recv && c->role == 1 && !c->handshake_ok &&
        (code == SSL_AD_BAD_RECORD_MAC || code == SSL_AD_DECRYPT_ERROR))
        failure_key_check(&e, (SSL *)s);
    e.failure = fatal;
    e.urgent = true;
    if (fatal && config.stacks >= STACKS_ERRORS)
        current_stack_record(&e, c, true);
    else if (config.stacks >= STACKS_ALL)
        current_stack_record(&e, c, false);
    record(&e);
}

static void on_handshake_done(struct conn *c, const SSL *s)
{
    /* TLS 1.3 post-handshake messages may report DONE without a START. */
    if (!c->in_handshake)
        return;
    c->in_handshake = false;
    c->handshake_ok = true;
    c->tls13 = ossl.SSL_version(s) == TLS1_3_VERSION;
    note_client_random(c, s);
    if (c->role == 1)
        note_sni(c, s);
    if (!level_on(LEVEL_HANDSHAKE))
        return;
    struct ev e;
    record_begin(&e, SSLSHIM_EV_HANDSHAKE_DONE, c);
    handshake_done_fields(&e, (SSL *)s, c);
    record(&e);
}

/* Whether the state machine, reporting a loop in a state that wrote a
 * message, is about to read the peer's next flight: the program may wait
 * there (for ever, if the peer is silent), so what waits is written first.
 * Only the last message of a flight is followed by a read; which one that
 * is depends on the role, the version and resumption. */
static bool flight_written(const struct conn *c, const SSL *s)
{
    switch ((int)ossl.SSL_get_state(s)) {
    case TLS_ST_CW_CLNT_HELLO:
    case TLS_ST_SW_SRVR_DONE:
    case TLS_ST_SW_HELLO_REQ:
    case DTLS_ST_SW_HELLO_VERIFY_REQUEST:
        return true;
    case TLS_ST_SW_SRVR_HELLO:
    case TLS_ST_SW_CHANGE:
        return c->hrr_sent;                  /* then the second ClientHello */
    case TLS_ST_EARLY_DATA:                  /* TLS 1.3: a server's flight ends here */
        return c->role == 1;
    case TLS_ST_SW_FINISHED:                 /* TLS 1.2 resumed: then the client's Finished */
        return ossl.SSL_version(s) != TLS1_3_VERSION && ossl.SSL_session_reused(s);
    case TLS_ST_CW_FINISHED:                 /* TLS 1.2 full: then the server's Finished */
        return ossl.SSL_version(s) != TLS1_3_VERSION && !ossl.SSL_session_reused(s);
    default:
        return false;
    }
}

/* The flush points inside a call (calls.h writes the rest as the call
 * returns): a server starting a handshake is about to read a ClientHello,
 * a flight written is followed by a read, and after the state machine
 * exits libssl may go on reading application data (SSL_read). */
static bool may_wait_next(struct conn *c, const SSL *s, int where)
{
    bool point = (where & SSL_CB_EXIT) || ((where & SSL_CB_HANDSHAKE_START) && c->role == 1) ||
                 ((where & SSL_CB_LOOP) && flight_written(c, s));
    return point && !reads_never_wait_now(c, s);
}

/* A handshake that libssl drives itself, through an SSL BIO (BIO_f_ssl:
 * `openssl s_server -www`), is no call of the program's: its failure gets
 * the error line that calls.c writes for the program's calls. */
static void bio_handshake_failed(struct conn *c, const SSL *s, int ret)
{
    int saved_errno = errno;
    int err = ossl.SSL_get_error(s, ret);
    if (err == SSL_ERROR_SSL || err == SSL_ERROR_SYSCALL)
        failure_record_error(c, (SSL *)s, "BIO_f_ssl", ret, err, saved_errno);
}

static void record_info(struct conn *c, const SSL *s, int where, int ret)
{
    /* Inside a data call of the fast path (calls.h, io_begin), which keeps
     * nothing itself, the state machine's reports are kept until its exit
     * report, which every run of it ends with (alerts are written at once). */
    if (!burst_holding && thread_call.depth && (where & (SSL_CB_LOOP | SSL_CB_HANDSHAKE_START)))
        burst_hold();
    if (where & SSL_CB_HANDSHAKE_START)
        on_handshake_start(c, s);
    if (where & (SSL_CB_LOOP | SSL_CB_EXIT)) {
        on_state(c, s, where, ret);
        note_client_random(c, s);
    }
    if ((where & SSL_CB_EXIT) && ret <= 0 && !thread_call.depth)
        bio_handshake_failed(c, s, ret);
    if (where & SSL_CB_EXIT)
        messages_handshake_exit();
    if ((where & SSL_CB_EXIT) && !thread_call.outer)
        burst_release();                  /* the fast path's hold, above */
    else if (burst_waiting && may_wait_next(c, s, where))
        record_flush();
    if (where & SSL_CB_ALERT)
        on_alert(c, s, where, ret);
    if (where & SSL_CB_HANDSHAKE_DONE)
        on_handshake_done(c, s);
}

/* The CTX callback OpenSSL itself would call (3.0 and 1.1.1 alike).
 * state_machine() picks one on entry for the handshake's start and its
 * exit: the one calls.c noted as our call began.  Its read and write
 * sub-machines pick one each time they are entered, for their loop
 * reports; alerts and the handshake's end look it up at that moment.  A
 * servername callback switches the CTX while the ClientHello is processed,
 * the last message of a read phase, so from the next loop report on the
 * CTX's callback as it is now is the one the sub-machine picked. */
static info_cb_fn ctx_info_cb(const struct conn *c, const SSL *s, int where)
{
    if (c && c->entry_ctx_known && (where & (SSL_CB_EXIT | SSL_CB_HANDSHAKE_START)))
        return c->entry_ctx_info_cb;
    return ossl.SSL_CTX_get_info_callback(ossl.SSL_get_SSL_CTX(s));
}

static void trace_info(const SSL *s, int where, int ret)
{
    int saved_errno = errno;
    struct conn *c = conn_of(s);
    if (c && shim_on && !conn_ending(c))
        record_info(c, s, where, ret);
    errno = saved_errno;

    info_cb_fn prog = c ? c->prog_info_cb : NULL;
    if (!prog)
        prog = ctx_info_cb(c, s, where);
    if (prog)
        prog(s, where, ret);
}

/* Whether a ServerHello carries the extended_master_secret extension (RFC
 * 7627, type 23).  SSL_get_extms_support cannot tell while the handshake is
 * still running, which is when handshake_done is written. */
static int server_hello_has_ems(const unsigned char *m, size_t len)
{
    size_t p = 4 + 2 + 32;                       /* header, version, random */
    if (len < p + 1)
        return -1;
    p += 1 + m[p];                               /* session id */
    p += 2 + 1;                                  /* cipher suite, compression */
    if (len < p + 2)
        return 0;                                /* no extensions at all */
    size_t end = p + 2 + ((size_t)m[p] << 8 | m[p + 1]);
    if (end > len)
        return -1;
    for (p += 2; p + 4 <= end;) {
        unsigned type = (unsigned)m[p] << 8 | m[p + 1];
        size_t ext_len = (size_t)m[p + 2] << 8 | m[p + 3];
        if (type == 23)
            return 1;
        p += 4 + ext_len;
    }
    return 0;
}

/* A ServerHello whose random is RFC 8446's fixed value is a
 * HelloRetryRequest. */
static bool is_hello_retry_request(const unsigned char *m, size_t len)
{
    static const unsigned char hrr_random[32] = {
        0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
        0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C };
    return len >= 4 + 2 + 32 && memcmp(m + 6, hrr_random, sizeof hrr_random) == 0;
}

/* What handshake_done needs from the messages themselves, and whether a
 * server is waiting for a second ClientHello. */
static void note_handshake_msg(struct conn *c, int write_p, const unsigned char *m, size_t len)
{
    if (m[0] == SSL3_MT_CLIENT_HELLO && !write_p)
        c->hrr_sent = false;
    if (m[0] == SSL3_MT_SERVER_HELLO && write_p)
        c->hrr_sent = is_hello_retry_request(m, len);
    if (m[0] == SSL3_MT_SERVER_HELLO)
        c->ems = (signed char)server_hello_has_ems(m, len);
}

static void record_msg(struct conn *c, int write_p, int version, int content_type,
                       const void *buf, size_t len)
{
    const char *type = fields_msg_type(content_type);
    if (!type)
        return;                   /* record headers, inner content types */
    int hs = content_type == SSL3_RT_HANDSHAKE && len > 0 ? ((const unsigned char *)buf)[0] : -1;
    struct note n;
    n.kind = NOTE_MSG;
    n.msg.sent = write_p != 0;
    n.msg.content_type = content_type;
    n.msg.version = version;
    n.msg.hs = hs;
    n.msg.len = len;
    if (record_note(c, &n))
        return;
    struct ev e;
    record_begin(&e, SSLSHIM_EV_MSG, c);
    if (summary_wanted(&e)) {
        const char *name = hs >= 0 ? handshake_msg_name(hs) : NULL;
        snprintf(e.summary, sizeof e.summary, "%s %s", write_p ? "sent" : "recv",
                 name ? name : type);
    }
    fields_msg(&e, write_p != 0, content_type, hs, len, version);
    record(&e);
}

/* A peer that does not speak TLS (an HTTP server on the port, a plain-text
 * client) shows itself in the first record header: its first bytes are
 * kept for the failure line (failure.c). */
#define TLS_RT_HEARTBEAT 24           /* the highest record type (RFC 6520) */

__attribute__((cold)) static void note_odd_header(struct conn *c, const unsigned char *h)
{
    memcpy(c->odd_header, h, sizeof c->odd_header);
    c->have_odd_header = true;
}

/* Application data is seen here whatever moved it: the program's SSL_read,
 * or libssl's own SSL BIO, which does not go through our exports.  TLS 1.3
 * hides the real record type inside the encryption (SSL3_RT_INNER_CONTENT_TYPE);
 * earlier versions show it in the record header (SSL3_RT_HEADER). */
static void count_record(struct conn *c, int write_p, int content_type, const void *buf,
                         size_t len)
{
    const unsigned char *h = buf;
    if (!write_p && content_type == SSL3_RT_HEADER && len >= 5 && !c->handshake_ok &&
        !c->have_odd_header && (h[0] < SSL3_RT_CHANGE_CIPHER_SPEC || h[0] > TLS_RT_HEARTBEAT ||
                                (h[1] != 3 && h[1] != 0xfe)))
        note_odd_header(c, h);
    if (len == 0 || h[0] != SSL3_RT_APPLICATION_DATA)
        return;
    if ((content_type == SSL3_RT_INNER_CONTENT_TYPE) != c->tls13 || !c->handshake_ok)
        return;
    c->app_data = true;
    if (write_p)
        c->records_out++;
    else
        c->records_in++;
}

/* Whether the state machine is reading the peer's messages. */
static bool reading_state(int state)
{
    switch (state) {
    case TLS_ST_CR_SRVR_HELLO: case TLS_ST_CR_CERT: case TLS_ST_CR_CERT_STATUS:
    case TLS_ST_CR_KEY_EXCH: case TLS_ST_CR_CERT_REQ: case TLS_ST_CR_SRVR_DONE:
    case TLS_ST_CR_SESSION_TICKET: case TLS_ST_CR_CHANGE: case TLS_ST_CR_FINISHED:
    case TLS_ST_CR_ENCRYPTED_EXTENSIONS: case TLS_ST_CR_CERT_VRFY: case TLS_ST_CR_HELLO_REQ:
    case TLS_ST_CR_KEY_UPDATE: case DTLS_ST_CR_HELLO_VERIFY_REQUEST:
    case TLS_ST_SR_CLNT_HELLO: case TLS_ST_SR_CERT: case TLS_ST_SR_KEY_EXCH:
    case TLS_ST_SR_CERT_VRFY: case TLS_ST_SR_NEXT_PROTO: case TLS_ST_SR_CHANGE:
    case TLS_ST_SR_FINISHED: case TLS_ST_SR_KEY_UPDATE: case TLS_ST_SR_END_OF_EARLY_DATA:
        return true;
    default:
        return false;
    }
}

/* Flush points among the messages, on a descriptor that blocks: a message
 * received is read in the middle of the peer's flight, and the next one may
 * be long in coming; a message sent while the state machine reads is DTLS
 * resending its flight after a timeout, before it waits again. */
static void after_msg(struct conn *c, SSL *s, int write_p)
{
    if (!burst_waiting)
        return;
    if ((!write_p || reading_state((int)ossl.SSL_get_state(s))) && !reads_never_wait_now(c, s))
        record_flush();
}

static void trace_msg(int write_p, int version, int content_type, const void *buf,
                      size_t len, SSL *s, void *arg)
{
    int saved_errno = errno;
    struct conn *c = conn_of(s);
    if (c && shim_on && !conn_ending(c)) {
        if (content_type == SSL3_RT_HEADER || content_type == SSL3_RT_INNER_CONTENT_TYPE)
            count_record(c, write_p, content_type, buf, len);
        else if (content_type == SSL3_RT_HANDSHAKE && len > 0)
            note_handshake_msg(c, write_p, buf, len);
        if (content_type != SSL3_RT_HEADER && content_type != SSL3_RT_INNER_CONTENT_TYPE &&
            level_on(LEVEL_HANDSHAKE)) {
            record_msg(c, write_p, version, content_type, buf, len);
            if (content_type == SSL3_RT_HANDSHAKE && len > 0)
                messages_record(c, s, write_p != 0, version == TLS1_3_VERSION, buf, len);
            after_msg(c, s, write_p);
        }
    }
    errno = saved_errno;
    if (c && c->prog_msg_cb)
        c->prog_msg_cb(write_p, version, content_type, buf, len, s, arg);
}

OSSL_TRAMPOLINES(trace_info, (const SSL *s, int where, int ret), (s, where, ret))
OSSL_TRAMPOLINES(trace_msg, (int write_p, int version, int content_type, const void *buf,
                                   size_t len, SSL *s, void *arg),
                 (write_p, version, content_type, buf, len, s, arg))

void (*const trace_info_cb[OSSL_FAMILIES])(const SSL *, int, int) = {
    trace_info_family3, trace_info_family11 };
void (*const trace_msg_cb[OSSL_FAMILIES])(int, int, int, const void *, size_t, SSL *, void *) = {
    trace_msg_family3, trace_msg_family11 };
