/* sink.h — where lines go: a file (path template), stderr or syslog.
 *
 * Invariants: each line is written with one write(2) (or one send(2) to
 * syslog); `seq` is assigned under the sink lock immediately before the write,
 * so the lines of a file appear in seq order; the first line of every file,
 * and the first line a process writes after fork(), is a `process` event. */
#ifndef SHIM_SINK_H
#define SHIM_SINK_H

#include "event.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Write one finished-but-headerless event; consumes nothing (caller frees). */
void sink_emit(struct ev *e);

/* Expand a path template: %p pid, %h host, %e exe, %t start time, %u uid, %%.
 * Returns false when the result does not fit. Exposed for unit tests. */
bool sink_expand_path(char *out, size_t size, const char *tmpl, pid_t pid,
                      const char *host, const char *exe, const char *start, uid_t uid);

/* The path of the current log file ("" for stderr/syslog or before the first line). */
const char *sink_path(void);

/* fork() handlers (registered with pthread_atfork by init.c). */
void sink_atfork_prepare(void);
void sink_atfork_parent(void);
void sink_atfork_child(void);

/* The current thread's kernel thread id, cached. */
pid_t shim_tid(void);

#endif
