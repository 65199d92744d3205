/* flight.h — the flight recorder (SSLSHIM_MODE=flight).
 *
 * Each connection keeps its last SSLSHIM_FLIGHT_EVENTS events, numbered and
 * dated when they happened, in memory.  A connection that fails (fatal alert
 * either way, error, loop, misuse, ended without application data) has them
 * written in order and streams from then on; a healthy one drops them and
 * writes only its conn_end.  Memory is bounded per connection (the ring) and
 * in total (FLIGHT_BUDGET bytes of kept lines across all connections). */
#ifndef SHIM_FLIGHT_H
#define SHIM_FLIGHT_H

#include <stdbool.h>
#include <stddef.h>

#define FLIGHT_BUDGET (64u << 20)
extern size_t flight_budget;      /* FLIGHT_BUDGET; unit tests lower it */

struct conn;
struct ev;
struct note;

/* Keep e (stamped now) in c's ring; when it cannot be kept (no memory,
 * over FLIGHT_BUDGET) it is written at once.  Either way e is finished. */
void flight_keep(struct conn *c, struct ev *e);

/* Whether c's events may be kept as notes now: flight mode, c not failed
 * yet, JSON lines and no Valgrind mirror (both want each summary now). */
bool flight_takes_notes(const struct conn *c);

/* Keep a note, numbered and dated now; false if it could not be kept
 * (the caller then records the event the ordinary way). */
bool flight_keep_note(struct conn *c, const struct note *n);

/* Write c's kept events in order; c streams from now on. */
void flight_flush(struct conn *c);

/* Forget c's kept events. */
void flight_discard(struct conn *c);

/* fork() handlers: the rings lock is not held across fork. */
void flight_atfork_prepare(void);
void flight_atfork_parent(void);
void flight_atfork_child(void);


#endif
