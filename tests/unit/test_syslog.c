/* test_syslog.c — the syslog sink against a socket of the test's own,
 * linked without any producer or preload: each line is one datagram in the
 * form syslog(3) writes to /dev/log; a reader that is behind (its queue of
 * datagrams full) costs no line: they wait and go out in order as calls
 * return, or by the shim's sender thread while the program waits; more than the queue holds is counted (`would block`); a reader
 * that goes away and comes back gets a `dropped` line for what it missed;
 * exit waits (bounded) for a slow reader. */
#include "burst.h"
#include "check.h"
#include "config.h"
#include "dgramq.h"
#include "event.h"
#include "process.h"
#include "record.h"
#include "sink.h"
#include "sslshim.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static char sock_path[108];
static int reader = -1;

static void open_reader(void)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof a.sun_path, "%s", sock_path);
    unlink(sock_path);
    reader = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CHECK(reader >= 0 && bind(reader, (struct sockaddr *)&a, sizeof a) == 0);
}

static void close_reader(void)
{
    close(reader);
    reader = -1;
    unlink(sock_path);
}

static void use_syslog(void)
{
    memset(&config, 0, sizeof config);
    config.sink = SINK_SYSLOG;
    config.format = FORMAT_JSON;
    config.level = LEVEL_HANDSHAKE;
    config.mode = MODE_STREAM;
    config.syslog_facility = 1;                  /* user */
    snprintf(config.syslog_tag, sizeof config.syslog_tag, "unit");
    snprintf(config.syslog_socket, sizeof config.syslog_socket, "%s", sock_path);
}

static void record_line(unsigned i, size_t pad)
{
    static char padding[4096];
    if (!padding[0])
        memset(padding, 'p', sizeof padding - 1);
    struct ev e;
    record_begin(&e, "test", NULL);
    ev_uint(&e, "i", i);
    ev_strn(&e, "pad", padding, pad < sizeof padding - 1 ? pad : sizeof padding - 1);
    record(&e);
}

struct got {
    char ev[32];
    unsigned long long seq, i, n;
    char reason[32];
};

/* Every datagram the reader has now (not waiting), each checked to be one
 * header and one whole JSON object. */
static unsigned read_all(struct got *out, unsigned max)
{
    static char d[70000];
    unsigned n = 0;
    for (;;) {
        ssize_t len = recv(reader, d, sizeof d - 1, MSG_DONTWAIT);
        if (len < 0)
            break;
        d[len] = '\0';
        /* "<14>Dec  6 12:34:56 unit[1234]: {...}" */
        char month[4];
        int day, h, m, s, pid, used = 0;
        CHECK(sscanf(d, "<14>%3s %2d %2d:%2d:%2d unit[%d]: %n", month, &day, &h, &m, &s,
                     &pid, &used) == 6 && used > 0);
        CHECK(pid == (int)getpid());
        const char *json = d + used;
        CHECK(json[0] == '{' && d[len - 1] == '}');
        if (n == max)
            continue;
        struct got *g = &out[n++];
        memset(g, 0, sizeof *g);
        const char *p;
        if ((p = strstr(json, "\"ev\":\"")))
            sscanf(p + 6, "%31[^\"]", g->ev);
        if ((p = strstr(json, "\"seq\":")))
            g->seq = strtoull(p + 6, NULL, 10);
        if ((p = strstr(json, "\"i\":")))
            g->i = strtoull(p + 4, NULL, 10);
        if ((p = strstr(json, "\"n\":")))
            g->n = strtoull(p + 4, NULL, 10);
        if ((p = strstr(json, "\"reason\":\"")))
            sscanf(p + 10, "%31[^\"]", g->reason);
    }
    return n;
}

/* The program's calls return while the reader reads: what waits goes out. */
static unsigned drain(struct got *out, unsigned max)
{
    unsigned n = 0;
    for (int round = 0; round < 10000; round++) {
        n += read_all(out + n, max - n);
        if (!__atomic_load_n(&sink_datagrams_waiting, __ATOMIC_RELAXED))
            break;
        burst_hold();
        burst_release();
    }
    return n + read_all(out + n, max - n);
}

static unsigned long long last_seq;

/* seq goes up by one, but where a `dropped` line counts lines lost. */
static void check_seq(const struct got *g, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        unsigned long long expect = last_seq + 1;
        if (strcmp(g[i].ev, SSLSHIM_EV_DROPPED) == 0)
            expect += g[i].n;
        CHECK(g[i].seq == expect);
        if (g[i].seq != expect)
            fprintf(stderr, "  datagram %u: seq %llu, expected %llu\n", i, g[i].seq, expect);
        last_seq = g[i].seq;
    }
}

static struct got got[4000];

static void test_a_reader_behind_loses_nothing(void)
{
    burst_hold();
    for (unsigned i = 1; i <= 300; i++)
        record_line(i, 200);
    CHECK(__atomic_load_n(&sink_datagrams_waiting, __ATOMIC_RELAXED));
    CHECK(dgramq_count() > 200);                 /* the socket took a few, the rest wait */
    burst_release();
    unsigned n = drain(got, 4000);
    CHECK(n == 301);                             /* the process line, and every one */
    CHECK(strcmp(got[0].ev, SSLSHIM_EV_PROCESS) == 0);
    for (unsigned i = 1; i < n; i++)
        CHECK(got[i].i == i);
    check_seq(got, n);
    CHECK(dgramq_empty());
}

/* A program that waits (no more lines, no call returns) after the reader
 * fell behind: the lines leave without it, as the reader catches up. */
static void test_lines_leave_while_the_program_waits(void)
{
    burst_hold();
    for (unsigned i = 1; i <= 200; i++)
        record_line(i, 200);
    CHECK(dgramq_count() > 100);
    unsigned n = 0;
    for (int tries = 0; tries < 500 && n < 200; tries++) {
        struct timespec t = { 0, 2000000L };
        nanosleep(&t, NULL);
        n += read_all(got + n, 4000 - n);
    }
    CHECK(n == 200);
    CHECK(dgramq_empty());
    for (unsigned i = 0; i < n; i++)
        CHECK(got[i].i == i + 1);
    check_seq(got, n);
    burst_release();
}

static void test_more_than_the_queue_holds_is_counted(void)
{
    unsigned lines = 2 * DGRAMQ_BYTES / 2000;
    for (unsigned i = 1; i <= lines; i++)
        record_line(i, 2000);
    record_line(lines + 1, 10);
    unsigned n = drain(got, 4000);
    /* what the queue took, in order; then, at the next line after it
     * emptied, the count of the rest */
    record_line(lines + 2, 10);
    n += drain(got + n, 4000 - n);
    CHECK(n > 100 && n < lines);
    CHECK(strcmp(got[n - 2].ev, SSLSHIM_EV_DROPPED) == 0);
    CHECK(strcmp(got[n - 2].reason, "would block") == 0);
    CHECK(got[n - 1].i == lines + 2);
    check_seq(got, n);
}

static void test_a_reader_that_goes_away_and_comes_back(void)
{
    close_reader();
    for (unsigned i = 1; i <= 5; i++)
        record_line(i, 10);
    open_reader();
    struct timespec t = { 1, 100000000L };       /* the socket is tried again once a second */
    nanosleep(&t, NULL);
    record_line(6, 10);
    unsigned n = drain(got, 4000);
    for (unsigned i = 0; i < n && n != 2; i++)
        fprintf(stderr, "  got %s seq %llu n %llu i %llu %s\n", got[i].ev, got[i].seq, got[i].n, got[i].i, got[i].reason);
    CHECK(n == 2);
    CHECK(strcmp(got[0].ev, SSLSHIM_EV_DROPPED) == 0 && got[0].n == 5);
    CHECK(strcmp(got[0].reason, "no reader") == 0 || strcmp(got[0].reason, "cannot open") == 0);
    CHECK(got[1].i == 6);
    check_seq(got, n);
}

static void *read_slowly(void *arg)
{
    unsigned *n = arg;
    struct timespec t = { 0, 20000000L };        /* 20 ms: the reader is behind */
    nanosleep(&t, NULL);
    for (int i = 0; i < 200 && *n < 150; i++) {
        *n += read_all(got + *n, 4000 - *n);
        struct timespec r = { 0, 1000000L };
        nanosleep(&r, NULL);
    }
    return NULL;
}

static void test_exit_waits_for_a_slow_reader(void)
{
    burst_hold();
    for (unsigned i = 1; i <= 150; i++)
        record_line(i, 100);
    CHECK(dgramq_count() > 100);
    unsigned n = 0;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, read_slowly, &n) == 0);
    sink_finish();                               /* as exit does, the call never returned */
    pthread_join(t, NULL);
    CHECK(n == 150);
    check_seq(got, n);
}

int main(void)
{
    snprintf(sock_path, sizeof sock_path, "/tmp/sslshim-unit-syslog.%d.sock", (int)getpid());
    open_reader();
    use_syslog();
    process_gather();
    burst_init();
    test_a_reader_behind_loses_nothing();
    test_lines_leave_while_the_program_waits();
    test_more_than_the_queue_holds_is_counted();
    test_a_reader_that_goes_away_and_comes_back();
    test_exit_waits_for_a_slow_reader();
    close_reader();
    if (failures)
        fprintf(stderr, "%d failures\n", failures);
    else
        printf("test_syslog: all passed\n");
    return failures != 0;
}
