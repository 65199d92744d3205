/* init.h — start-up: configuration at load, activation on first use. */
#ifndef SHIM_INIT_H
#define SHIM_INIT_H

#include <stdbool.h>

/* True in a thread once it has seen the shim activated and the real OpenSSL
 * functions known (whether or not recording is on: that is shim_on).  Read
 * on every call, so thread-local: each thread passes through the
 * pthread_once of activation once, which orders its later reads of `ossl`
 * and `shim_on` after their initialization (for Helgrind and DRD too). */
extern __thread bool shim_ready[2] __attribute__((tls_model("initial-exec")));

/* Activate on the first interposed call of the process and of each OpenSSL
 * family, enter it on the first of each thread; false if that family's
 * libssl cannot be found. */
bool shim_activate(int family);

#endif
