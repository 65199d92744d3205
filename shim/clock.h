/* clock.h — the time, for stamps and durations, even when the clock fails.
 *
 * clock_gettime and gmtime_r can fail (a seccomp filter, an unusual
 * kernel, fault injection): the shim then uses the epoch rather than
 * whatever the stack held. */
#ifndef SHIM_CLOCK_H
#define SHIM_CLOCK_H

#include <stdint.h>
#include <time.h>

int64_t now_ns(void);                        /* CLOCK_MONOTONIC, 0 if it fails */
void clock_wall(struct timespec *t);         /* CLOCK_REALTIME, the epoch if it fails */
int64_t clock_wall_ns(void);
void clock_utc(time_t secs, struct tm *tm);  /* gmtime_r, the epoch if it fails */

#endif
