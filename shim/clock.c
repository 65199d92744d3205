/* clock.c — reading the clocks without ever using an unset value. */
#include "clock.h"

#include <string.h>

int64_t now_ns(void)
{
    struct timespec t = { 0, 0 };
    if (clock_gettime(CLOCK_MONOTONIC, &t) != 0)
        return 0;
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

void clock_wall(struct timespec *t)
{
    if (clock_gettime(CLOCK_REALTIME, t) != 0) {
        t->tv_sec = 0;
        t->tv_nsec = 0;
    }
}

int64_t clock_wall_ns(void)
{
    struct timespec t;
    clock_wall(&t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

void clock_utc(time_t secs, struct tm *tm)
{
    if (gmtime_r(&secs, tm) == NULL) {
        memset(tm, 0, sizeof *tm);
        tm->tm_year = 70;                    /* 1970-01-01T00:00:00 */
        tm->tm_mday = 1;
    }
}
