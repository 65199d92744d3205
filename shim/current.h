/* current.h — what the current thread is doing: the program's interposed
 * call in progress (calls.h begins and ends it), and its cache of
 * SSL -> conn.  Read by the producers below the calls (callbacks, stacks,
 * misuse) without reaching up to the calls themselves.
 *
 * The outermost interposed call on a thread is the program's; calls made
 * while one is in progress (libssl calling its own exported functions, the
 * program's callbacks calling back in) pass straight through.  The outermost
 * call's name and return address say where the program entered OpenSSL: they
 * become `entry` and the first frame of every stack. */
#ifndef SHIM_CURRENT_H
#define SHIM_CURRENT_H

#include "conn.h"
#include "event.h"
#include "openssl.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Is recording on for the current OpenSSL library (config, exe, resolution)? */
#define shim_on (ossl.on)

/* A small per-thread cache of SSL -> conn, so the data path skips OpenSSL's
 * ex_data lookup (four calls into libssl and libcrypto).  An entry is valid
 * while conn_generation, bumped whenever a conn is released (and in a fork
 * child, whose first call on an inherited SSL must be checked), is
 * unchanged; it starts at 1, so an empty entry (gen 0) never matches, and is
 * 64 bits wide, so it never wraps.  Only call_begin fills the cache, after
 * which it runs the misuse checks: an entry means this thread has been
 * through them for that conn in this process, which lets the data path
 * skip the owner check (see io_begin).  Under Valgrind the cache is
 * bypassed: its unlocked read of the generation is a benign race the thread
 * checkers would rightly point at. */
#define CONN_CACHE 8                 /* a power of two: see the hash below */
struct conn_cache_entry {
    const SSL *ssl;
    struct conn *conn;
    uint64_t gen;
};

struct call;

/* Everything the data path touches per thread, in one TLS block: one
 * address computation for all of it. */
struct thread_call {
    int depth;                    /* >0 while inside an interposed call */
    uintptr_t sp;                 /* the outermost call's stack pointer */
    const struct call *outer;     /* its bookkeeping (general path), else NULL */
    uint64_t token;               /* what outer->token holds while it runs */
    uintptr_t stack_lo, stack_hi; /* this thread's stack (0, 0: not known yet) */
    pid_t tid;                    /* this thread's id, cached (0: not yet) */
    const char *fn;               /* the outermost call's name (while depth > 0) */
    uintptr_t caller;             /* its return address in the program */
    bool fast_io[2];              /* per family: this thread has seen it activated
                                     and its api->fast_io is set (init.c) */
    struct conn_cache_entry cache[CONN_CACHE];
};

extern __thread struct thread_call thread_call
    __attribute__((tls_model("initial-exec")));

extern bool valgrind_active;

/* Fibonacci hashing: SSL objects sit at nearby addresses. */
static inline struct conn_cache_entry *conn_cache_slot(const SSL *s)
{
    return &thread_call.cache[((uintptr_t)s * 0x9E3779B97F4A7C15ull) >> 61];
}

/* s's conn, from the cache or else ex_data; `fill`: remember it (call_begin
 * only, see above). */
static inline struct conn *conn_lookup(struct ossl_api *api, const SSL *s, bool fill)
{
    if (__builtin_expect(valgrind_active, 0))
        return api->SSL_get_ex_data(s, api->ssl_idx);
    struct conn_cache_entry *ce = conn_cache_slot(s);
    uint64_t gen = __atomic_load_n(&conn_generation, __ATOMIC_ACQUIRE);
    if (ce->ssl == s && ce->gen == gen)
        return ce->conn;
    struct conn *c = api->SSL_get_ex_data(s, api->ssl_idx);
    if (c && fill) {
        ce->ssl = s;
        ce->conn = c;
        ce->gen = gen;
    }
    return c;
}

/* The conn of an SSL, or NULL if we have not seen it. */
struct conn *conn_of(const SSL *s);

/* The stack pointer, for telling a nested call from an abandoned one. */
__attribute__((always_inline)) static inline uintptr_t stack_position(void)
{
    uintptr_t sp;
#if defined(__x86_64__)
    __asm__ volatile("mov %%rsp, %0" : "=r"(sp));
#elif defined(__aarch64__)
    __asm__ volatile("mov %0, sp" : "=r"(sp));
#else
    sp = (uintptr_t)__builtin_frame_address(0);
#endif
    return sp;
}

/* Whether both stack positions are on this thread's own stack (bounds
 * from pthread_getattr_np, once per thread); out of line. */
bool call_same_thread_stack(uintptr_t a, uintptr_t b);

/* The stack of the program's call in progress (or, outside one, of the
 * program's code that led here), added to e as "stack" and counted on c;
 * a failure's is also kept on c for a later loop event. */
void current_stack_record(struct ev *e, struct conn *c, bool failure);

#endif
