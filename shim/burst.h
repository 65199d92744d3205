/* burst.h — lines that wait for the next point where the program could
 * wait or leave, then go out together in one write(2) (DESIGN rule 6).
 *
 * While a thread is inside an interposed call (burst_hold), its finished
 * lines are kept here: the body, and the time and thread of the moment the
 * event happened.  They are numbered and written, all in one write, when
 * the call returns to the program (burst_release), when libssl is about to
 * read from the peer, on a failure, and at fork and exit (burst_flush).
 * Outside a call every line is written at once.  So seq stays gap-free in
 * file order, timestamps stay those of the events, and a program that hangs
 * waiting for its peer, or crashes outside OpenSSL, has every line written.
 *
 * Text lines and syslog (one datagram per line) are written at once. */
#ifndef SHIM_BURST_H
#define SHIM_BURST_H

#include "event.h"
#include "sink.h"

#include <stdbool.h>
#include <stdint.h>

/* Once per process, at activation (before any thread keeps a line). */
void burst_init(void);

/* Per thread: lines are kept (inside a call), and how many wait. */
extern __thread bool burst_holding __attribute__((tls_model("initial-exec")));
extern __thread unsigned burst_waiting __attribute__((tls_model("initial-exec")));

/* Write what waits now (nothing to do when nothing waits). */
void burst_flush_slow(void);

static inline void burst_flush(void)
{
    if (__builtin_expect(burst_waiting != 0, 0))
        burst_flush_slow();
}

/* A call begins: keep this thread's lines until it returns. */
static inline void burst_hold(void) { burst_holding = true; }

/* The call returns to the program: write what waits, keep nothing more. */
static inline void burst_release(void)
{
    burst_holding = false;
    burst_flush();
    if (__builtin_expect(__atomic_load_n(&sink_datagrams_waiting, __ATOMIC_RELAXED), 0))
        sink_send_waiting();
}

/* A state or msg line as a note (fields.h), about connection `conn`: kept
 * and formatted when written, with the rest of the burst.  False when
 * this thread keeps nothing now (outside a call, or no memory): the
 * caller then formats it and hands it to burst_add. */
struct note;
bool burst_add_note(uint64_t conn, const struct note *n);

/* A finished event: kept, or written now (outside a call, a failure or an
 * alert, text or syslog, or no memory to keep it).  e stays the caller's
 * to free. */
void burst_add(struct ev *e);

#endif
