/* misuse.c — detecting concurrent and after-fork use of one SSL. */
#include "misuse.h"

#include "current.h"
#include "conn.h"
#include "record.h"
#include "sslshim.h"

#include <errno.h>
#include <stdio.h>


__attribute__((cold)) static void record_misuse(struct conn *c, const char *kind, const char *fn, pid_t other_tid,
                          const char *other_fn)
{
    struct ev e;
    record_begin(&e, SSLSHIM_EV_MISUSE, c);
    e.failure = true;
    ev_str(&e, "kind", kind);
    ev_str(&e, "fn", fn);
    if (other_tid) {
        snprintf(e.summary, sizeof e.summary, "%s while thread %d is in %s", fn, (int)other_tid,
                 other_fn ? other_fn : "?");
        ev_int(&e, "other_tid", other_tid);
        ev_str(&e, "other_fn", other_fn);
    } else {
        snprintf(e.summary, sizeof e.summary, "%s on an SSL inherited from process %d", fn,
                 (int)c->owner_pid);
        ev_int(&e, "parent_pid", c->owner_pid);
    }
    if (config.stacks >= STACKS_ERRORS)
        current_stack_record(&e, c, false);
    record(&e);
}

__attribute__((cold)) void misuse_seen(struct conn *c, const char *fn, pid_t me, pid_t other)
{
    int saved_errno = errno;
    if (c->owner_pid != shim_pid && !c->fork_reported) {
        c->fork_reported = true;
        record_misuse(c, "after_fork", fn, 0, NULL);
    }
    if (other != 0 && other != me && !c->concurrent_reported) {
        c->concurrent_reported = true;
        record_misuse(c, "concurrent", fn, other, c->active_fn);
    }
    errno = saved_errno;
}
