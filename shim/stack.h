/* stack.h — call stacks, from the program's call into OpenSSL outwards.
 *
 * Capturing is cheap (libgcc_s's _Unwind_Backtrace into a fixed array);
 * object and offset come from a cached module table, function names from
 * dladdr, cached per address.  libgcc_s is opened on the first capture with
 * dlopen(RTLD_LOCAL), so a program without it never gets it in its global
 * scope, and a process that never needs a stack never loads it. */
#ifndef SHIM_STACK_H
#define SHIM_STACK_H

#include "event.h"

#include <stdbool.h>
#include <stdint.h>

struct conn;

struct stack {
    unsigned n;
    uintptr_t ip[];
};

/* Capture the current stack, trimmed to start at the program's call. */
struct stack *stack_capture(void);
void stack_free(struct stack *st);

/* Write `key` as an array of frames (and the module events it needs first). */
void stack_field(struct ev *e, const char *key, const struct stack *st);

/* Capture, add as "stack" to e, count it on c; a failure's stack is also kept
 * on c for a later loop event. */
void stack_record(struct ev *e, struct conn *c, bool failure);

/* fork() handlers; after fork the child's log has not named any module yet. */
void stack_atfork_prepare(void);
void stack_atfork_parent(void);
void stack_atfork_child(void);

#endif
