/* init.h — start-up: configuration at load, activation on first use. */
#ifndef SHIM_INIT_H
#define SHIM_INIT_H

#include <stdbool.h>

/* True once the real OpenSSL functions are known (whether or not recording
 * is on: that is shim_on).  Read on every call, so a plain flag. */
extern bool shim_ready;

/* Activate on the first interposed call; false if libssl cannot be found. */
bool shim_activate(void);

#endif
