/* test_flight.c — the flight recorder and the sink below it, linked without
 * any producer or preload: events kept per connection, written in order
 * when the connection fails, and what happens when the memory budget runs
 * out (each event finished exactly once: no lone "}" line, no event with
 * two seq numbers). */
#include "check.h"
#include "config.h"
#include "conn.h"
#include "event.h"
#include "flight.h"
#include "process.h"
#include "record.h"
#include "sslshim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


static char log_path[64];

static void use_flight_mode(unsigned events_per_conn)
{
    memset(&config, 0, sizeof config);
    config.sink = SINK_FILE;
    config.format = FORMAT_JSON;
    config.level = LEVEL_HANDSHAKE;
    config.mode = MODE_FLIGHT;
    config.flight_events = events_per_conn;
    snprintf(config.log_template, sizeof config.log_template, "%s", log_path);
}

static void record_line(struct conn *c, unsigned i)
{
    struct ev e;
    record_begin(&e, SSLSHIM_EV_NOTE, c);
    ev_uint(&e, "i", i);
    ev_str(&e, "pad", "0123456789012345678901234567890123456789");
    record(&e);
}

/* The seq of every line of the log after the first (process) line; fails
 * the test on a line that is not one whole object. */
static unsigned read_seqs(unsigned long long *seqs, unsigned max)
{
    FILE *f = fopen(log_path, "r");
    char line[4096];
    unsigned n = 0;
    CHECK(f != NULL);
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        CHECK(len > 2 && line[0] == '{' && line[len - 2] == '}' && line[len - 1] == '\n');
        CHECK(strstr(line + 1, "{\"ts\"") == NULL);     /* one event per line */
        const char *s = strstr(line, "\"seq\":");
        CHECK(s != NULL);
        CHECK(s == NULL || strstr(s + 1, "\"seq\":") == NULL);
        if (s && n < max && strstr(line, "\"ev\":\"process\"") == NULL)
            seqs[n++] = strtoull(s + 6, NULL, 10);
    }
    fclose(f);
    return n;
}

static void test_history_written_in_order(void)
{
    struct conn *c = calloc(1, sizeof *c);
    c->id = 1;
    use_flight_mode(64);
    for (unsigned i = 0; i < 10; i++)
        record_line(c, i);
    unsigned long long seqs[64];
    CHECK(read_seqs(seqs, 64) == 0);           /* kept, not written */
    flight_flush(c);
    unsigned n = read_seqs(seqs, 64);
    CHECK(n == 10);
    for (unsigned i = 1; i < n; i++)
        CHECK(seqs[i] == seqs[i - 1] + 1);
    flight_discard(c);
    free(c);
}

static void test_budget_exhausted(void)
{
    struct conn *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    a->id = 2;
    b->id = 3;
    use_flight_mode(64);
    flight_budget = 1500;                      /* a few lines in all */
    for (unsigned i = 0; i < 20; i++)
        record_line(a, i);                     /* a's own past makes room */
    for (unsigned i = 0; i < 20; i++)
        record_line(b, i);                     /* a holds the budget: b's are written */
    flight_flush(a);
    unsigned long long seqs[256];
    unsigned n = read_seqs(seqs, 256);
    CHECK(n > 20 && n < 40);                   /* b's 20, and what a could keep */
    for (unsigned i = 0; i < n; i++)
        for (unsigned j = i + 1; j < n; j++)
            CHECK(seqs[i] != seqs[j]);         /* each event numbered once */
    flight_discard(a);
    flight_discard(b);
    free(a);
    free(b);
    flight_budget = FLIGHT_BUDGET;
}

int main(void)
{
    snprintf(log_path, sizeof log_path, "/tmp/sslshim-unit-flight.%d.jsonl", (int)getpid());
    unlink(log_path);
    process_gather();                          /* the process the log is named for */
    test_history_written_in_order();
    unlink(log_path);
    test_budget_exhausted();
    unlink(log_path);
    if (failures)
        fprintf(stderr, "%d failures\n", failures);
    else
        printf("test_flight: all passed\n");
    return failures != 0;
}
