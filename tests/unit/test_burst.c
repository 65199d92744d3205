/* test_burst.c — the burst buffer, the record layer above it and the sink
 * below it, linked without any producer or preload: lines wait while a
 * call is held and go out together when it is released, numbered in file
 * order and dated when their events happened; failures go out at once
 * with what waits; a burst bigger than the buffer, a thread that exits
 * with lines waiting, and a file size limit that only part of a burst
 * fits under all leave whole lines and a seq whose every gap a `dropped`
 * line explains. */
#include "burst.h"
#include "check.h"
#include "config.h"
#include "conn.h"
#include "event.h"
#include "fields.h"
#include "process.h"
#include "record.h"
#include "sink.h"
#include "sslshim.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static char log_path[64];

static void use_stream_mode(void)
{
    memset(&config, 0, sizeof config);
    config.sink = SINK_FILE;
    config.format = FORMAT_JSON;
    config.level = LEVEL_HANDSHAKE;
    config.mode = MODE_STREAM;
    config.max_size = 100u << 20;
    config.max_files = 1;
    snprintf(config.log_template, sizeof config.log_template, "%s", log_path);
}

static void record_line(const char *name, unsigned i, bool failure, size_t pad)
{
    static char padding[8192];
    if (!padding[0])
        memset(padding, 'p', sizeof padding - 1);
    struct ev e;
    record_begin(&e, name, NULL);
    e.failure = failure;
    ev_uint(&e, "i", i);
    ev_strn(&e, "pad", padding, pad < sizeof padding - 1 ? pad : sizeof padding - 1);
    record(&e);
}

struct line {
    char ev[32];
    unsigned long long seq, i, n;   /* n: a dropped line's count */
    double ts;                     /* seconds of the day, from "ts" */
};

/* Every line of the log, checked to be one whole object. */
static unsigned read_lines(struct line *out, unsigned max)
{
    FILE *f = fopen(log_path, "r");
    static char text[65536];
    unsigned n = 0;
    if (!f)
        return 0;
    while (fgets(text, sizeof text, f)) {
        size_t len = strlen(text);
        CHECK(len > 2 && text[0] == '{' && text[len - 2] == '}' && text[len - 1] == '\n');
        CHECK(strstr(text + 1, "{\"ts\"") == NULL);     /* one event per line */
        if (n == max)
            continue;
        struct line *l = &out[n++];
        memset(l, 0, sizeof *l);
        const char *p = strstr(text, "\"ev\":\"");
        if (p)
            sscanf(p + 6, "%31[^\"]", l->ev);
        if ((p = strstr(text, "\"seq\":")))
            l->seq = strtoull(p + 6, NULL, 10);
        if ((p = strstr(text, "\"i\":")))
            l->i = strtoull(p + 4, NULL, 10);
        if ((p = strstr(text, "\"n\":")))
            l->n = strtoull(p + 4, NULL, 10);
        int h, m;
        double s;
        if ((p = strstr(text, "\"ts\":\"")) && sscanf(p + 6, "%*d-%*d-%*dT%d:%d:%lfZ", &h, &m, &s) == 3)
            l->ts = h * 3600 + m * 60 + s;
    }
    fclose(f);
    return n;
}

static unsigned count_named(const struct line *l, unsigned n, const char *name)
{
    unsigned k = 0;
    for (unsigned i = 0; i < n; i++)
        k += strcmp(l[i].ev, name) == 0;
    return k;
}

/* seq goes up by one from line to line in file order, but where a
 * `dropped` line says how many numbers were taken by lines lost before it. */
static void check_seq(const struct line *l, unsigned n)
{
    for (unsigned i = 1; i < n; i++) {
        unsigned long long expect = l[i - 1].seq + 1;
        if (strcmp(l[i].ev, SSLSHIM_EV_DROPPED) == 0)
            expect += l[i].n;
        CHECK(l[i].seq == expect);
        if (l[i].seq != expect)
            fprintf(stderr, "  line %u: seq %llu, expected %llu\n", i, l[i].seq, expect);
    }
}

static void sleep_ms(long ms)
{
    struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&t, NULL);
}

static double now_of_day(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)(t.tv_sec % 86400) + t.tv_nsec / 1e9;
}

static void test_lines_wait_for_release(void)
{
    struct line l[16];
    use_stream_mode();
    burst_hold();
    record_line(SSLSHIM_EV_NOTE, 1, false, 10);
    sleep_ms(30);
    record_line(SSLSHIM_EV_NOTE, 2, false, 10);
    record_line(SSLSHIM_EV_NOTE, 3, false, 10);
    CHECK(burst_waiting == 3);
    CHECK(read_lines(l, 16) == 0);             /* nothing written while held */
    sleep_ms(50);
    double released = now_of_day();
    burst_release();
    CHECK(burst_waiting == 0);
    unsigned n = read_lines(l, 16);
    CHECK(n == 4);                             /* process, then the three */
    CHECK(strcmp(l[0].ev, SSLSHIM_EV_PROCESS) == 0);
    check_seq(l, n);
    for (unsigned i = 1; i < n; i++)
        CHECK(l[i].i == i);
    /* dated when each event happened, not when the burst was written */
    CHECK(l[2].ts - l[1].ts > 0.025);
    CHECK(released - l[3].ts > 0.040);
}

static void test_failure_goes_out_at_once(void)
{
    struct line l[16];
    use_stream_mode();
    burst_hold();
    record_line(SSLSHIM_EV_NOTE, 1, false, 10);
    record_line(SSLSHIM_EV_NOTE, 2, false, 10);
    CHECK(read_lines(l, 16) == 0);
    record_line(SSLSHIM_EV_ERROR, 3, true, 10);
    CHECK(burst_waiting == 0);
    unsigned n = read_lines(l, 16);
    CHECK(n == 4 && l[3].i == 3 && strcmp(l[3].ev, SSLSHIM_EV_ERROR) == 0);
    record_line(SSLSHIM_EV_NOTE, 4, false, 10);      /* still held after it */
    CHECK(read_lines(l, 16) == 4);
    burst_release();
    n = read_lines(l, 16);
    CHECK(n == 5);
    check_seq(l, n);
}

/* Notes are formatted when the burst is written: straight (a plain state
 * name, a message) or through the builder (a name that needs escaping). */
static void test_notes_formatted_at_the_write(void)
{
    static char text[4096];
    struct conn c;
    struct note plain, odd, msg;
    memset(&c, 0, sizeof c);
    c.id = 7;
    memset(&plain, 0, sizeof plain);
    plain.kind = NOTE_STATE;
    snprintf(plain.state.name, sizeof plain.state.name, "SSLv3/TLS write client hello");
    odd = plain;
    snprintf(odd.state.name, sizeof odd.state.name, "a \"quoted\"\tstate");
    odd.state.exit = true;
    odd.state.ret = -1;
    memset(&msg, 0, sizeof msg);
    msg.kind = NOTE_MSG;
    msg.msg.sent = true;
    msg.msg.content_type = SSL3_RT_HANDSHAKE;
    msg.msg.hs = SSL3_MT_CLIENT_HELLO;
    msg.msg.version = TLS1_3_VERSION;
    msg.msg.len = 512;
    use_stream_mode();
    burst_hold();
    CHECK(record_note(&c, &plain) && record_note(&c, &odd) && record_note(&c, &msg));
    CHECK(burst_waiting == 3);
    burst_release();
    FILE *f = fopen(log_path, "r");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f)
        fclose(f);
    text[n] = '\0';
    CHECK(strstr(text, "\"ev\":\"state\"") != NULL);
    CHECK(strstr(text, ",\"conn\":7,\"state\":\"SSLv3/TLS write client hello\",\"where\":\"loop\"}\n") != NULL);
    CHECK(strstr(text, ",\"conn\":7,\"state\":\"a \\\"quoted\\\"\\tstate\",\"where\":\"exit\",\"ret\":-1}\n") != NULL);
    CHECK(strstr(text, ",\"conn\":7,\"dir\":\"sent\",\"type\":\"handshake\",\"hs\":\"ClientHello\",\"len\":512,\"version\":\"TLSv1.3\"}\n") != NULL);
    struct line l[8];
    unsigned lines = read_lines(l, 8);
    CHECK(lines == 4);
    check_seq(l, lines);
}

static void test_outside_a_call_each_line_at_once(void)
{
    struct line l[16];
    use_stream_mode();
    record_line(SSLSHIM_EV_NOTE, 1, false, 10);
    CHECK(read_lines(l, 16) == 2);
    record_line(SSLSHIM_EV_NOTE, 2, false, 10);
    CHECK(read_lines(l, 16) == 3);
    CHECK(burst_waiting == 0);
}

static void test_burst_bigger_than_the_buffer(void)
{
    static struct line l[512];
    use_stream_mode();
    burst_hold();
    for (unsigned i = 1; i <= 300; i++)        /* about 150 KiB: several bursts */
        record_line(SSLSHIM_EV_NOTE, i, false, 500);
    record_line(SSLSHIM_EV_NOTE, 301, false, 7000);   /* longer than the rest */
    burst_release();
    unsigned n = read_lines(l, 512);
    CHECK(n == 302);
    check_seq(l, n);
    for (unsigned i = 1; i < n; i++)
        CHECK(l[i].i == i);
}

static void *thread_that_leaves(void *arg)
{
    (void)arg;
    burst_hold();
    record_line(SSLSHIM_EV_NOTE, 1, false, 10);
    record_line(SSLSHIM_EV_NOTE, 2, false, 10);
    return NULL;                               /* exits holding two lines */
}

static void test_thread_exit_writes_what_waits(void)
{
    struct line l[16];
    pthread_t t;
    use_stream_mode();
    CHECK(pthread_create(&t, NULL, thread_that_leaves, NULL) == 0);
    pthread_join(t, NULL);
    unsigned n = read_lines(l, 16);
    CHECK(n == 3);
    check_seq(l, n);
}

/* RLIMIT_FSIZE with rotation off: the lines of a burst that fit under the
 * limit are written, the rest counted; the count comes out as a `dropped`
 * line once there is room again, and explains the gap in seq. */
static void test_part_of_a_burst_under_the_size_limit(void)
{
    static struct line l[64];
    struct rlimit old, small;
    use_stream_mode();
    config.max_size = 0;                       /* never rotate: drop instead */
    record_line(SSLSHIM_EV_NOTE, 1, false, 10);      /* the file and its process line */
    getrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_IGN);
    small = old;
    small.rlim_cur = 12000;
    CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0);
    sleep_ms(1100);                            /* the shim reads the limit once a second */
    burst_hold();
    for (unsigned i = 2; i <= 21; i++)
        record_line(SSLSHIM_EV_NOTE, i, false, 1000);
    burst_release();
    unsigned n = read_lines(l, 64);
    CHECK(n > 3 && n < 21);                    /* some fit, some did not */
    unsigned written = n - 1;                  /* note 1 and the burst's first ones */
    CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
    sleep_ms(1100);
    record_line(SSLSHIM_EV_NOTE, 22, false, 10);
    n = read_lines(l, 64);
    CHECK(n == written + 3);                   /* + dropped + the new line */
    CHECK(count_named(l, n, SSLSHIM_EV_DROPPED) == 1);
    CHECK(strcmp(l[n - 2].ev, SSLSHIM_EV_DROPPED) == 0);
    CHECK(l[n - 2].n == 21 - written);         /* notes 2..21 that did not fit */
    CHECK(l[n - 1].i == 22);
    check_seq(l, n);                           /* every number: a line, or counted */
    signal(SIGXFSZ, SIG_DFL);
}

static void fresh_log(void)
{
    unlink(log_path);
    /* the sink reopens when its file is gone (it was unlinked above) */
}

int main(void)
{
    snprintf(log_path, sizeof log_path, "/tmp/sslshim-unit-burst.%d.jsonl", (int)getpid());
    process_gather();
    burst_init();
    void (*tests[])(void) = {
        test_lines_wait_for_release, test_failure_goes_out_at_once,
        test_notes_formatted_at_the_write,
        test_outside_a_call_each_line_at_once, test_burst_bigger_than_the_buffer,
        test_thread_exit_writes_what_waits, test_part_of_a_burst_under_the_size_limit,
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        fresh_log();
        tests[i]();
    }
    unlink(log_path);
    if (failures)
        fprintf(stderr, "%d failures\n", failures);
    else
        printf("test_burst: all passed\n");
    return failures != 0;
}
