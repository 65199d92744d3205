/* handshake.h — what the peers negotiated, for handshake_done. */
#ifndef SHIM_HANDSHAKE_H
#define SHIM_HANDSHAKE_H

#include "conn.h"
#include "event.h"

void handshake_done_fields(struct ev *e, SSL *s, struct conn *c);

#endif
