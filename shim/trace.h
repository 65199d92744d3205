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

void trace_info_cb(const SSL *s, int where, int ret);
void trace_msg_cb(int write_p, int version, int content_type, const void *buf,
                  size_t len, SSL *s, void *arg);

#endif
