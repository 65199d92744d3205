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

struct stack {
    unsigned n;
    uintptr_t ip[];
};

/* Capture the current stack, trimmed to start at the program's frame:
 * `caller` (the return address of the program's call into OpenSSL), or,
 * when 0, the first frame outside the shim, libssl and libcrypto. */
struct stack *stack_capture(uintptr_t caller);
void stack_free(struct stack *st);

/* Write `key` as an array of frames (and the module events it needs first). */
void stack_field(struct ev *e, const char *key, const struct stack *st);

/* fork() handlers; after fork the child's log has not named any module yet. */
void stack_atfork_prepare(void);
void stack_atfork_parent(void);
void stack_atfork_child(void);

#endif
