/* record.h — deciding what to record and handing finished events on. */
#ifndef SHIM_RECORD_H
#define SHIM_RECORD_H

#include "burst.h"
#include "config.h"
#include "event.h"

#include <stdbool.h>

struct conn;

static inline bool level_on(enum level l) { return config.level >= l; }

/* The human summary of an event is read only by the text format and by
 * Valgrind's log: frequent events skip formatting it otherwise. */
extern bool valgrind_active;
static inline bool summary_wanted(const struct ev *e) { return e->text || valgrind_active; }

/* Start an event in the configured format. */
void record_begin(struct ev *e, const char *name, const struct conn *c);

/* Write (or keep, in flight mode) a finished event and free it.  Inside
 * an interposed call the line waits for the next flush point (burst.h). */
void record(struct ev *e);

/* A state or msg line, captured as a note (fields.h): kept in flight mode,
 * or waiting in this thread's burst, formatted when it is written.  False
 * when it must be formatted now (text lines, Valgrind's mirror, outside a
 * call): the caller then records it the ordinary way. */
struct note;
bool record_note(struct conn *c, const struct note *n);

/* A flush point: the program may wait from here on (libssl is about to
 * read from the peer), so what waits is written now. */
static inline void record_flush(void) { burst_flush(); }

#endif
