/* messages.h — the hello and certs events, from the handshake messages. */
#ifndef SHIM_MESSAGES_H
#define SHIM_MESSAGES_H

#include "conn.h"

#include <stdbool.h>
#include <stddef.h>

/* A handshake message (type, length, body; len ≥ 1) sent or received on c:
 * a hello-phase message or a Certificate gets its line. */
void messages_record(struct conn *c, SSL *s, bool sent, bool tls13, const unsigned char *m,
                     size_t len);

#endif
