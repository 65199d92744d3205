/* calls.h — bookkeeping around each interposed API call.
 *
 * The outermost interposed call on a thread is the program's; calls made
 * while one is in progress (libssl calling its own exported functions, the
 * program's callbacks calling back in) pass straight through.  The outermost
 * call's name and return address say where the program entered OpenSSL: they
 * become `entry` and the first frame of every stack. */
#ifndef SHIM_CALLS_H
#define SHIM_CALLS_H

#include "conn.h"

#include <stdbool.h>
#include <stdint.h>

struct thread_call {
    int depth;                    /* >0 while inside an interposed call */
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

/* Start recording a call; false means "just pass it through". */
bool call_begin(struct call *call, struct ossl_api *api, SSL *s, const char *fn,
                uintptr_t caller);

/* After the real function returned `ret` (`bytes` moved; `dir` 'r' or 'w'
 * for data calls, 0 otherwise).  Restores errno as the real call left it. */
void call_end(struct call *call, int ret, size_t bytes, char dir, const void *buf);

#endif
