/* dgramq.h — datagrams the syslog socket could not take yet, in order.
 *
 * A local syslog socket queues few datagrams (net.unix.max_dgram_qlen, 10
 * by default): a handshake's lines come faster than that while the daemon
 * is reading them, and the shim must never wait for it (DESIGN rule 3).
 * Lines it refuses with EAGAIN wait here, behind each other, and go out
 * (oldest first) at the next line, the next call that returns to the
 * program, and at exit.  The queue is bounded (DGRAMQ_BYTES, allocated at
 * its first use); a line that does not fit is the caller's to count.
 * Not thread-safe: the sink's lock guards it. */
#ifndef SHIM_DGRAMQ_H
#define SHIM_DGRAMQ_H

#include <stdbool.h>
#include <stddef.h>

#define DGRAMQ_BYTES ((size_t)256 * 1024)

/* Whether nothing waits. */
bool dgramq_empty(void);

/* How many datagrams wait. */
unsigned dgramq_count(void);

/* Append a datagram; false when it does not fit (or no memory). */
bool dgramq_push(const char *d, size_t len);

/* The oldest datagram, or NULL when none waits. */
const char *dgramq_front(size_t *len);

/* The oldest datagram went out. */
void dgramq_pop(void);

/* Forget every datagram (a fork child: they are the parent's); returns how
 * many there were. */
unsigned dgramq_clear(void);

#endif
