/* calls.h — bookkeeping around each interposed API call: the thread's
 * call state (current.h) set and cleared, the misuse checks, the lines of a
 * call kept until it returns (burst.h), its counters and its failures. */
#ifndef SHIM_CALLS_H
#define SHIM_CALLS_H

#include "burst.h"
#include "config.h"
#include "conn.h"
#include "current.h"
#include "misuse.h"
#include "sink.h"

#include <stdbool.h>
#include <stdint.h>

struct call {
    struct ossl_api *saved_api;    /* the table current before this call */
    struct conn *conn;
    SSL *ssl;
    const char *fn;
    int64_t t0;
    uint64_t token;               /* see call_abandoned */
    bool zero_ok;                 /* a 0 result is not a failure (nothing asked, or
                                     SSL_shutdown's "not finished yet") */
};

/* A call comes in while the thread seems to be inside one.  Usually it is
 * nested (libssl calling its own exports, a callback calling back), and
 * then it runs deeper on the stack than the outer call, whose bookkeeping
 * is intact.  But a signal handler may have siglongjmp()ed out of the
 * outer call, which then never returns: the new call is above where that
 * one was, or the outer's bookkeeping has been overwritten.  A call on
 * another stack (OpenSSL's async jobs, coroutines, a sigaltstack), or an
 * outer call on one, counts as nested, and the outer's frame, which may be
 * on a stack that is gone, is never read. */
static inline bool call_abandoned(uintptr_t here)
{
    uintptr_t outer_sp = thread_call.sp;
    if (!call_same_thread_stack(here, outer_sp))
        return false;
    if (here > outer_sp)
        return true;
    return thread_call.outer && thread_call.outer->token != thread_call.token;
}

/* Out of line: the parts that are not on the data path. */
struct conn *call_attach(SSL *s);
void call_note_ctx_info_cb(struct conn *c, const SSL *s);
void call_end_slow(struct call *call, int ret, size_t bytes, char dir, const void *buf);

/* Start recording a call (the general path: control calls, and data calls
 * that the fast path below does not take); false means "just pass it
 * through".  No lock, no system call, errno untouched.  always_inline: GCC
 * would otherwise outline most of it, with a full prologue and epilogue. */
__attribute__((always_inline)) static inline bool
call_begin(struct call *call, struct ossl_api *api, SSL *s, const char *fn, uintptr_t caller)
{
    if (!api->on)
        return false;
    uintptr_t here = stack_position();
    if (__builtin_expect(thread_call.depth != 0, 0) && !call_abandoned(here))
        return false;
    call->saved_api = ossl_current;
    ossl_current = api;
    struct conn *c = s && api->ssl_idx >= 0 ? conn_lookup(api, s, true) : NULL;
    if (__builtin_expect(!c && s != NULL, 0))
        c = call_attach(s);            /* an SSL made where we could not see it */
    if (__builtin_expect(c && conn_ending(c), 0)) {
        ossl_current = call->saved_api;   /* the process is exiting: leave it alone */
        return false;
    }
    thread_call.depth = 1;
    thread_call.fn = fn;
    thread_call.caller = caller;
    thread_call.sp = here;
    thread_call.outer = call;
    call->token = ++thread_call.token;
    sink_call_epoch = call->token;
    burst_hold();
    if (c && !c->prog_info_cb)
        call_note_ctx_info_cb(c, s);
    call->conn = c;
    call->ssl = s;
    call->fn = fn;
    call->t0 = __builtin_expect(config.level >= LEVEL_IO, 0) ? now_ns() : 0;
    call->zero_ok = false;
    if (c) {
        if (__builtin_expect(thread_call.tid == 0, 0))
            thread_call.tid = shim_tid();
        misuse_enter(c, fn, thread_call.tid);
    }
    return true;
}

/* The data path proper, for SSL_read/SSL_write and their _ex and peek
 * forms: a connection this thread has used before (so its tid is known),
 * its handshake done and our msg callback off, not in use by another thread,
 * something asked for; no call level, no Valgrind.  Then a call costs a cache
 * probe, the misuse check and a few stores.  Anything else returns NULL and
 * the wrapper takes the general path (call_begin/call_end), which also fills
 * the cache.  ossl_current is left alone: the code that reads it (callbacks,
 * the slow paths) sets it itself. */
__attribute__((always_inline)) static inline struct conn *
io_begin(int family, const SSL *s, size_t num, const char *fn, uintptr_t caller)
{
    struct thread_call *t = &thread_call;
    if (!t->fast_io[family] || t->depth != 0 || num == 0)
        return NULL;
    const struct conn_cache_entry *ce = conn_cache_slot(s);
    if (ce->ssl != s || ce->gen != __atomic_load_n(&conn_generation, __ATOMIC_ACQUIRE))
        return NULL;
    struct conn *c = ce->conn;
    if (c->msg_cb_ours || __atomic_load_n(&c->active_tid, __ATOMIC_ACQUIRE) != 0)
        return NULL;
    __atomic_store_n(&c->active_tid, t->tid, __ATOMIC_RELAXED);
    c->active_fn = fn;
    t->depth = 1;
    t->fn = fn;
    t->caller = caller;
    t->sp = stack_position();
    return c;
}

/* `bytes` (> 0) of application data moved by a data call in direction
 * `dir`: 'r' read, 'w' written, 'p' peeked (data, though not yet read). */
static inline void count_data(struct conn *c, size_t bytes, char dir)
{
    if (dir == 'r') {
        c->bytes_in += bytes;
        c->reads++;
    } else if (dir == 'w') {
        c->bytes_out += bytes;
        c->writes++;
    } else {
        c->app_data = true;
    }
}

/* Out of line: a data call on the fast path that failed or would block. */
void io_end_slow(struct ossl_api *api, struct conn *c, int ret);

/* The conn is let go (active_tid cleared, a release) only after its
 * counters are updated: a thread that then takes it sees them. */
static inline void io_end(struct ossl_api *api, struct conn *c, int ret, size_t bytes, char dir)
{
    if (__builtin_expect(ret > 0, 1))
        count_data(c, bytes, dir);
    else
        io_end_slow(api, c, ret);
    __atomic_store_n(&c->active_tid, 0, __ATOMIC_RELEASE);
    thread_call.depth = 0;            /* fn and caller mean nothing at depth 0 */
}

/* After the real function returned `ret` (`bytes` moved; `dir` 'r', 'w' or
 * 'p' for data calls, 0 otherwise).  errno is the real call's throughout. */
static inline void call_end(struct call *call, int ret, size_t bytes, char dir, const void *buf)
{
    struct conn *c = call->conn;
    if (c) {
        c->entry_ctx_known = false;
        if (bytes) {
            c->app_data = true;
            count_data(c, bytes, dir);
        }
    }
    /* A failure, a level that wants every call, or our msg callback still on
     * the SSL after a handshake: off the fast path. */
    if (__builtin_expect(ret <= 0 || config.level >= LEVEL_IO ||
                         (c && bytes && c->msg_cb_ours && c->handshake_ok), 0))
        call_end_slow(call, ret, bytes, dir, buf);
    if (c)
        misuse_leave(c);              /* after every change to c (a release) */
    burst_release();                  /* the lines wait no longer than the call */
    thread_call.depth = 0;
    thread_call.fn = NULL;
    thread_call.outer = NULL;
    sink_call_epoch = 0;
    ossl_current = call->saved_api;
}

#endif
