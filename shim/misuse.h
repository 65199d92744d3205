/* misuse.h — one SSL used by two threads at once, or by a fork child while
 * the parent still uses it: the classic causes of bad_record_mac on the peer.
 * The check on the data path is two plain loads and a store: no lock. */
#ifndef SHIM_MISUSE_H
#define SHIM_MISUSE_H

#include "conn.h"
#include "process.h"

#include <sys/types.h>

struct conn;


/* Out of line: report what the inline checks below found. */
void misuse_seen(struct conn *c, const char *fn, pid_t me, pid_t other);

/* On entering a call on c: a plain load and a store, no lock. */
static inline void misuse_enter(struct conn *c, const char *fn, pid_t me)
{
    pid_t other = __atomic_load_n(&c->active_tid, __ATOMIC_ACQUIRE);
    if (__builtin_expect(c->owner_pid != shim_pid || (other != 0 && other != me), 0))
        misuse_seen(c, fn, me, other);
    __atomic_store_n(&c->active_tid, me, __ATOMIC_RELAXED);
    c->active_fn = fn;
}

static inline void misuse_leave(struct conn *c)
{
    __atomic_store_n(&c->active_tid, 0, __ATOMIC_RELEASE);
}

#endif
