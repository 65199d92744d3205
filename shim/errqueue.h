/* errqueue.h — reading the thread's OpenSSL error queue without changing it. */
#ifndef SHIM_ERRQUEUE_H
#define SHIM_ERRQUEUE_H

#include "event.h"

/* Append `queue`: an array of the queue's entries, oldest first.  The
 * program sees the same queue afterwards (codes, file, line, function, data). */
void errqueue_record(struct ev *e);

#endif
