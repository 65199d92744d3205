/* handshake.h — what the peers negotiated, for handshake_done. */
#ifndef SHIM_HANDSHAKE_H
#define SHIM_HANDSHAKE_H

#include "conn.h"
#include "event.h"

void handshake_done_fields(struct ev *e, SSL *s, struct conn *c);

/* A Certificate handshake message received on c (the whole message, header
 * included): its first certificate is the peer's.  Lets handshake_done find
 * a certificate it has described before without encoding it again. */
void handshake_peer_certificate_msg(struct conn *c, const unsigned char *msg, size_t len,
                                    bool tls13);

/* fork() handlers for the certificate memo's lock (a leaf, taken last). */
void handshake_atfork_prepare(void);
void handshake_atfork_parent(void);
void handshake_atfork_child(void);

#endif
