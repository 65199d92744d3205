/* hooks.c — the exported wrappers, and nothing else.
 *
 * Each has OpenSSL's own prototype (from its headers, so the compiler checks
 * them), calls the real function found by openssl.c and returns its result
 * unchanged.  Recording happens in calls.c and, for everything inside a
 * handshake, in the callbacks of trace.c. */
#include "calls.h"
#include "conn.h"
#include "init.h"
#include "keylog.h"
#include "openssl.h"
#include "valgrind.h"

#include <errno.h>

#define CALLER ((uintptr_t)__builtin_return_address(0))
#define EXPORT __attribute__((visibility("default")))

/* The first call activates the shim; if libssl cannot be found there is no
 * real function to call, so fail the way the function fails. */
#define ENSURE(fail)                                                   \
    do {                                                               \
        if (__builtin_expect(!shim_ready, 0) && !shim_activate())      \
            return fail;                                               \
    } while (0)
#define ENSURE_VOID() ENSURE()

/* A call that only drives the handshake or the connection's state. */
#define CONTROL_CALL(name, s)                                          \
    ENSURE(-1);                                                        \
    struct call call;                                                  \
    if (!call_begin(&call, s, #name, CALLER))                          \
        return ossl.name(s);                                           \
    int ret = ossl.name(s);                                            \
    call_end(&call, ret, 0, 0, NULL);                                  \
    return ret

EXPORT int SSL_do_handshake(SSL *s) { CONTROL_CALL(SSL_do_handshake, s); }
EXPORT int SSL_connect(SSL *s) { CONTROL_CALL(SSL_connect, s); }
EXPORT int SSL_accept(SSL *s) { CONTROL_CALL(SSL_accept, s); }

EXPORT int SSL_shutdown(SSL *s)
{
    ENSURE(-1);
    struct call call;
    if (!call_begin(&call, s, "SSL_shutdown", CALLER))
        return ossl.SSL_shutdown(s);
    /* 0 means "close_notify sent, the peer's not seen yet": not a failure. */
    call.zero_ok = true;
    int ret = ossl.SSL_shutdown(s);
    call_end(&call, ret, 0, 0, NULL);
    return ret;
}

/* Data calls with an int result that is the byte count. */
#define INT_IO_CALL(name, dir, s, buf, num)                            \
    ENSURE(-1);                                                        \
    struct call call;                                                  \
    if (!call_begin(&call, s, #name, CALLER))                          \
        return ossl.name(s, buf, num);                                 \
    call.zero_ok = (num) == 0;      /* nothing asked, nothing failed */  \
    int ret = ossl.name(s, buf, num);                                  \
    call_end(&call, ret, ret > 0 ? (size_t)ret : 0, dir, buf);         \
    return ret

/* Data calls with a 1/0 result and the byte count through a pointer. */
#define EX_IO_CALL(name, dir, s, buf, num, done)                       \
    ENSURE(0);                                                         \
    struct call call;                                                  \
    if (!call_begin(&call, s, #name, CALLER))                          \
        return ossl.name(s, buf, num, done);                           \
    call.zero_ok = (num) == 0;                                           \
    int ret = ossl.name(s, buf, num, done);                            \
    call_end(&call, ret, ret > 0 && (done) ? *(done) : 0, dir, buf);       \
    return ret

EXPORT int SSL_read(SSL *s, void *buf, int num) { INT_IO_CALL(SSL_read, 'r', s, buf, num); }
EXPORT int SSL_peek(SSL *s, void *buf, int num) { INT_IO_CALL(SSL_peek, 'p', s, buf, num); }
/* Under Valgrind, a plaintext buffer with undefined bytes is the classic
 * cause of a peer that cannot decrypt: say so before it is encrypted. */
#define CHECK_DEFINED(fn, buf, len)                                    \
    do {                                                               \
        if (__builtin_expect(valgrind_active, 0) && shim_on &&         \
            thread_call.depth == 0)                                    \
            valgrind_check_write(conn_of(s), fn, buf, len);            \
    } while (0)

EXPORT int SSL_write(SSL *s, const void *buf, int num)
{
    CHECK_DEFINED("SSL_write", buf, num > 0 ? (size_t)num : 0);
    INT_IO_CALL(SSL_write, 'w', s, buf, num);
}

EXPORT int SSL_read_ex(SSL *s, void *buf, size_t num, size_t *done)
{
    EX_IO_CALL(SSL_read_ex, 'r', s, buf, num, done);
}

EXPORT int SSL_peek_ex(SSL *s, void *buf, size_t num, size_t *done)
{
    EX_IO_CALL(SSL_peek_ex, 'p', s, buf, num, done);
}

EXPORT int SSL_write_ex(SSL *s, const void *buf, size_t num, size_t *done)
{
    CHECK_DEFINED("SSL_write_ex", buf, num);
    EX_IO_CALL(SSL_write_ex, 'w', s, buf, num, done);
}

EXPORT SSL *SSL_new(SSL_CTX *ctx)
{
    ENSURE(NULL);
    SSL *s = ossl.SSL_new(ctx);
    if (s && shim_on) {
        int saved_errno = errno;
        conn_attach(s);
        errno = saved_errno;
    }
    return s;
}

EXPORT void SSL_free(SSL *s)
{
    ENSURE_VOID();
    /* conn_end happens in the ex_data free callback, inside the real call;
     * marking the call lets its stacks start at the program's frame. */
    if (!shim_on || thread_call.depth != 0) {
        ossl.SSL_free(s);
        return;
    }
    thread_call.depth = 1;
    thread_call.fn = "SSL_free";
    thread_call.caller = CALLER;
    ossl.SSL_free(s);
    thread_call.depth = 0;
    thread_call.fn = NULL;
}

/* ---- callbacks: ours stay installed; the program's are kept and chained ---- */

EXPORT void SSL_set_info_callback(SSL *s, info_cb_fn cb)
{
    ENSURE_VOID();
    struct conn *c = shim_on ? conn_of(s) : NULL;
    if (c)
        c->prog_info_cb = cb;
    else
        ossl.SSL_set_info_callback(s, cb);
}

EXPORT info_cb_fn SSL_get_info_callback(const SSL *s)
{
    ENSURE(NULL);
    struct conn *c = shim_on ? conn_of(s) : NULL;
    return c ? c->prog_info_cb : ossl.SSL_get_info_callback(s);
}

EXPORT void SSL_CTX_set_info_callback(SSL_CTX *ctx, info_cb_fn cb)
{
    ENSURE_VOID();
    ossl.SSL_CTX_set_info_callback(ctx, cb);   /* ours chain to it at call time */
}

EXPORT info_cb_fn SSL_CTX_get_info_callback(SSL_CTX *ctx)
{
    ENSURE(NULL);
    return ossl.SSL_CTX_get_info_callback(ctx);
}

EXPORT void SSL_set_msg_callback(SSL *s, msg_cb_fn cb)
{
    ENSURE_VOID();
    struct conn *c = shim_on ? conn_of(s) : NULL;
    if (c)
        c->prog_msg_cb = cb;
    else
        ossl.SSL_set_msg_callback(s, cb);
}

EXPORT void SSL_CTX_set_keylog_callback(SSL_CTX *ctx, keylog_cb_fn cb)
{
    ENSURE_VOID();
    if (shim_on && keylog_enabled())
        keylog_program_sets(ctx, cb);         /* ours is installed; it calls this one */
    else
        ossl.SSL_CTX_set_keylog_callback(ctx, cb);
}

EXPORT keylog_cb_fn SSL_CTX_get_keylog_callback(const SSL_CTX *ctx)
{
    ENSURE(NULL);
    if (shim_on && keylog_enabled())
        return keylog_program_cb((SSL_CTX *)ctx);
    return ossl.SSL_CTX_get_keylog_callback(ctx);
}

EXPORT void SSL_CTX_set_msg_callback(SSL_CTX *ctx, msg_cb_fn cb)
{
    ENSURE_VOID();
    ossl.SSL_CTX_set_msg_callback(ctx, cb);
    if (shim_on)
        conn_ctx_msg_cb_set(ctx, cb);
}
