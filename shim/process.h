/* process.h — facts about this process, gathered once, and its `process` line. */
#ifndef SHIM_PROCESS_H
#define SHIM_PROCESS_H

#include "event.h"

#include <stdbool.h>
#include <sys/types.h>
#include <unistd.h>

/* Gather host, executable and argv (at activation, and again after fork). */
void process_gather(void);

/* getpid() is a system call in current glibc: the shim asks this instead
 * (set at activation, updated in the fork child). */
extern pid_t shim_pid;
static inline pid_t process_pid(void) { return shim_pid ? shim_pid : (shim_pid = getpid()); }

/* The current thread's kernel thread id, cached (forgotten in a fork
 * child: process_atfork_child). */
pid_t shim_tid(void);
void process_atfork_child(void);

const char *process_host(void);
const char *process_exe_name(void);
const char *process_exe_path(void);
pid_t process_first_pid(void);    /* the pid the shim was activated in */
bool process_under_valgrind(void);

/* Build the `process` event (not written: the sink does that). */
void process_event(struct ev *e);

#endif
