/* misuse.h — one SSL used by two threads at once, or by a fork child while
 * the parent still uses it: the classic causes of bad_record_mac on the peer.
 * The check on the data path is two plain loads and a store: no lock. */
#ifndef SHIM_MISUSE_H
#define SHIM_MISUSE_H

#include "process.h"

#include <sys/types.h>

struct conn;


void misuse_enter(struct conn *c, const char *fn);
void misuse_leave(struct conn *c);

#endif
