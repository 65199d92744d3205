/* sink.h — where lines go: a file (path template), stderr or syslog.
 *
 * Invariants: each line is written with one write(2) (or one send(2) to
 * syslog); `seq` and `ts` are assigned under the sink lock, so in stream mode
 * the lines of a file appear in seq order; the first line of every file (and
 * of every process after fork, and of every file after rotation) is a
 * `process` event; lines that could not be written are counted and reported
 * by a `dropped` event once writing works again. */
#ifndef SHIM_SINK_H
#define SHIM_SINK_H

#include "event.h"
#include "process.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <sys/types.h>

/* Number, date and write one event now (stream mode). */
void sink_emit(struct ev *e);

/* A line kept by burst.c: its body (bodies + off, len bytes, closed with
 * its newline), and the time and thread of its event. */
struct burst_line {
    struct timespec ts;           /* CLOCK_REALTIME */
    const char *name;             /* "ev" */
    pid_t tid;
    unsigned off, len;
};

/* Number n (at most BURST_LINES_MAX) kept JSON lines now and write them
 * with one write(2) (to a pipe: writes of whole lines up to PIPE_BUF). */
#define BURST_LINES_MAX 128
void sink_write_burst(const struct burst_line *lines, unsigned n, const char *bodies);

/* Number and date an event without writing it (flight mode keeps it);
 * returns the finished line inside e's buffer, or NULL. */
const char *sink_stamp(struct ev *e, size_t *len);

/* Write a line stamped earlier by sink_stamp. */
void sink_write_stamped(const char *line, size_t len);

/* A line's number, time and thread, taken when its event happened and
 * written later (flight mode keeps some events unformatted). */
struct stamp {
    uint64_t seq;
    struct timespec ts;           /* CLOCK_REALTIME */
    pid_t tid;
};

/* Take the next number now (the process line first, if the file is new). */
void sink_take_stamp(struct stamp *st);

/* Write e with a stamp taken earlier. */
void sink_emit_stamped(struct ev *e, const struct stamp *st);

/* A line numbered earlier could not even be built: count it as dropped. */
void sink_lost(const char *reason);

/* Expand a path template: %p pid, %h host, %e exe, %t start time, %u uid, %%.
 * Returns false when the result does not fit. Exposed for unit tests. */
bool sink_expand_path(char *out, size_t size, const char *tmpl, pid_t pid,
                      const char *host, const char *exe, const char *start, uid_t uid);

/* Syslog lines the socket could not take yet wait (dgramq.h): while
 * sink_datagrams_waiting is set, each call returning to the program tries
 * to send them (burst_release); exit waits for them within its bound. */
extern bool sink_datagrams_waiting;
void sink_send_waiting(void);

/* At exit: a line cut short is completed or taken back (ownfd_finish);
 * waits (bounded) for another thread's write in progress and for syslog
 * lines that wait, and no line is started after it. */
void sink_finish(void);

/* Whether this thread is inside the sink (holds its lock): true only when
 * a signal handler interrupted it there and now runs exit(). */
bool sink_busy_here(void);

/* fork() handlers (registered with pthread_atfork by init.c). */
void sink_atfork_prepare(void);
void sink_atfork_parent(void);
void sink_atfork_child(void);

/* Which OpenSSL call of this thread lines belong to (calls.h sets it as a
 * call begins, 0 outside calls): the syslog socket, written a datagram per
 * line, is checked once per call, and before every line outside one (other
 * logs are checked before every write). */
extern __thread uint64_t sink_call_epoch __attribute__((tls_model("initial-exec")));

#endif
