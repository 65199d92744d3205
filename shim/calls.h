/* calls.h — bookkeeping around each interposed API call.
 *
 * The outermost interposed call on a thread is the program's; calls made
 * while one is in progress (libssl calling its own exported functions, the
 * program's callbacks calling back in) pass straight through.  The outermost
 * call's name and return address say where the program entered OpenSSL: they
 * become `entry` and the first frame of every stack. */
#ifndef SHIM_CALLS_H
#define SHIM_CALLS_H

#include "config.h"
#include "conn.h"
#include "misuse.h"
#include "sink.h"

#include <stdbool.h>
#include <stdint.h>

struct thread_call {
    int depth;                    /* >0 while inside an interposed call */
    pid_t tid;                    /* this thread's id, cached (0: not yet) */
    const char *fn;               /* the outermost call's name */
    uintptr_t caller;             /* its return address in the program */
};

extern __thread struct thread_call thread_call
    __attribute__((tls_model("initial-exec")));

/* Is recording on for the current OpenSSL library (config, exe, resolution)? */
#define shim_on (ossl.on)

struct call {
    struct ossl_api *saved_api;    /* the table current before this call */
    struct conn *conn;
    SSL *ssl;
    const char *fn;
    int64_t t0;
    bool zero_ok;                 /* a 0 result is not a failure (nothing asked, or
                                     SSL_shutdown's "not finished yet") */
};

/* A small per-thread cache of SSL -> conn, so the data path skips OpenSSL's
 * ex_data lookup (four calls into libssl and libcrypto).  An entry is valid
 * while conn_generation, bumped whenever a conn is released, is unchanged.
 * Under Valgrind the cache is bypassed: its unlocked read of the generation
 * is a benign race the thread checkers would rightly point at. */
#define CONN_CACHE 8                 /* a power of two: see the hash below */
struct conn_cache_entry {
    const SSL *ssl;
    struct conn *conn;
    unsigned gen;
};
extern __thread struct conn_cache_entry conn_cache[CONN_CACHE]
    __attribute__((tls_model("initial-exec")));
extern unsigned conn_generation;
extern bool valgrind_active;

static inline struct conn *conn_lookup(struct ossl_api *api, const SSL *s)
{
    if (__builtin_expect(valgrind_active, 0))
        return api->SSL_get_ex_data(s, api->ssl_idx);
    /* Fibonacci hashing: SSL objects sit at nearby addresses. */
    struct conn_cache_entry *ce = &conn_cache[((uintptr_t)s * 0x9E3779B97F4A7C15ull) >> 61];
    unsigned gen = __atomic_load_n(&conn_generation, __ATOMIC_ACQUIRE);
    if (ce->ssl == s && ce->gen == gen)
        return ce->conn;
    struct conn *c = api->SSL_get_ex_data(s, api->ssl_idx);
    if (c) {
        ce->ssl = s;
        ce->conn = c;
        ce->gen = gen;
    }
    return c;
}

/* Out of line: the parts that are not on the data path. */
struct conn *call_attach(SSL *s);
void call_end_slow(struct call *call, int ret, size_t bytes, char dir, const void *buf);

/* Start recording a call; false means "just pass it through".  Inline: it
 * is on every SSL_read/SSL_write and must stay a handful of loads and
 * stores (no lock, no system call, errno untouched). */
/* always_inline: GCC would otherwise outline most of it, with a full
 * prologue and epilogue on every SSL_read/SSL_write. */
__attribute__((always_inline)) static inline bool
call_begin(struct call *call, struct ossl_api *api, SSL *s, const char *fn, uintptr_t caller)
{
    if (!api->on || thread_call.depth != 0)
        return false;
    call->saved_api = ossl_current;
    ossl_current = api;
    struct conn *c = s && api->ssl_idx >= 0 ? conn_lookup(api, s) : NULL;
    if (__builtin_expect(!c && s != NULL, 0))
        c = call_attach(s);            /* an SSL made where we could not see it */
    thread_call.depth = 1;
    thread_call.fn = fn;
    thread_call.caller = caller;
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

/* After the real function returned `ret` (`bytes` moved; `dir` 'r', 'w' or
 * 'p' for data calls, 0 otherwise).  errno is the real call's throughout. */
static inline void call_end(struct call *call, int ret, size_t bytes, char dir, const void *buf)
{
    struct conn *c = call->conn;
    if (c) {
        misuse_leave(c);
        if (bytes) {
            c->app_data = true;
            if (dir == 'r') {
                c->bytes_in += bytes;
                c->reads++;
            } else if (dir == 'w') {
                c->bytes_out += bytes;
                c->writes++;
            }
        }
    }
    /* A failure, a level that wants every call, or our msg callback still on
     * the SSL after a handshake: off the fast path. */
    if (__builtin_expect(ret <= 0 || config.level >= LEVEL_IO ||
                         (c && bytes && c->msg_cb_ours && c->handshake_ok), 0))
        call_end_slow(call, ret, bytes, dir, buf);
    thread_call.depth = 0;
    thread_call.fn = NULL;
    ossl_current = call->saved_api;
}

#endif
