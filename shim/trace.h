/* trace.h — the callbacks the shim installs on every SSL it tracks.
 *
 * OpenSSL drives them from inside its state machine, whatever API call (or
 * BIO) drove the handshake, which is why a handshake is recorded exactly once.
 * Each records its event, then calls the program's own callback with the same
 * arguments: the SSL-level one if the program set one, else (info callback)
 * the CTX-level one, which is what OpenSSL itself would have called. */
#ifndef SHIM_TRACE_H
#define SHIM_TRACE_H

#include "openssl.h"

#include <stdbool.h>

/* One entry point per OpenSSL family (see openssl.h). */
extern void (*const trace_info_cb[OSSL_FAMILIES])(const SSL *s, int where, int ret);
extern void (*const trace_msg_cb[OSSL_FAMILIES])(int write_p, int version, int content_type,
                                                 const void *buf, size_t len, SSL *s,
                                                 void *arg);

/* Whether a callback is one of ours.  An SSL we see late (SSL_dup's copy)
 * may carry ours already: it must never be taken for the program's, which
 * ours would then call, and call, until the stack overflows. */
static inline bool trace_is_our_info_cb(void (*cb)(const SSL *, int, int))
{
    return cb == trace_info_cb[0] || cb == trace_info_cb[1];
}

static inline bool trace_is_our_msg_cb(void (*cb)(int, int, int, const void *, size_t, SSL *,
                                                  void *))
{
    return cb == trace_msg_cb[0] || cb == trace_msg_cb[1];
}

#endif
