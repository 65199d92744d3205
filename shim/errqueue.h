/* errqueue.h — reading the thread's OpenSSL error queue without changing it. */
#ifndef SHIM_ERRQUEUE_H
#define SHIM_ERRQUEUE_H

#include "event.h"

#include <stdbool.h>

/* Append `queue`: an array of the queue's entries, oldest first.  The
 * program sees the same queue afterwards (codes, file, line, function, data). */
void errqueue_record(struct ev *e);

/* Whether the newest entry of the queue is OpenSSL's (lib, reason), read
 * the way the running library packs its codes. */
bool errqueue_last_is(int lib, int reason);

#endif
