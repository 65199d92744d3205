/* valgrind.h — working alongside Valgrind (SSLSHIM_VALGRIND=auto).
 *
 * Under Valgrind the shim mirrors its important events (alerts, errors,
 * loops, misuse, handshake starts) into Valgrind's own log, so memory errors
 * and TLS events read as one timeline (and undefined.c checks every
 * SSL_write buffer for undefined bytes).  Outside Valgrind all of this is one predictable branch on
 * a flag set at activation. */
#ifndef SHIM_VALGRIND_H
#define SHIM_VALGRIND_H

#include <stdbool.h>
#include <stddef.h>

struct ev;

extern bool valgrind_active;       /* running under Valgrind and not switched off */
extern bool valgrind_memcheck;     /* ... and its tool is memcheck (definedness known) */

void valgrind_init(void);

/* Print the human line of e into Valgrind's log, if it is one we mirror. */
void valgrind_mirror(const struct ev *e);

/* Happens-before annotations for Helgrind and DRD, for data published
 * through pthread_once (which they do not model): no-ops outside Valgrind. */
void valgrind_publish(const void *obj);
void valgrind_acquire(const void *obj);


#endif
