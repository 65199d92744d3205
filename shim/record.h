/* record.h — deciding what to record and handing finished events on. */
#ifndef SHIM_RECORD_H
#define SHIM_RECORD_H

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

/* Write (or keep, in flight mode) a finished event and free it. */
void record(struct ev *e);

#endif
