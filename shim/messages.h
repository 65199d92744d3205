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

/* The server's ALPN callback chooses while the state machine processes a
 * ClientHello, usually with SSL_select_next_proto(…, its list, the
 * client's): its list is noted on the connection whose ClientHello this
 * thread is processing, until the state machine's run ends. */
void messages_select_next_proto(const unsigned char *server, unsigned len);
void messages_handshake_exit(void);

#endif
