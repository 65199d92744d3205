/* lifecycle.h — a connection's beginning and end as the log tells them. */
#ifndef SHIM_LIFECYCLE_H
#define SHIM_LIFECYCLE_H

#include "conn.h"

#include <stdbool.h>

/* Set up the registry (conn_init) with this file's end of a connection;
 * false if OpenSSL refused its ex_data slots.  After ossl_resolve(). */
bool lifecycle_init(void);

/* Track an SSL: its conn, our callbacks (keeping the program's), conn_new.
 * Returns NULL if memory is short. */
struct conn *lifecycle_track(SSL *s);

#endif
