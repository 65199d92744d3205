/* test_loop_race.c — a loop event names where the latest attempt failed
 * (the conn's failure stack) while another thread, misusing the same SSL,
 * fails too and replaces that stack, freeing the old one.  The loop event
 * must never read a freed stack: freed memory is filled (M_PERTURB), so a
 * stack read after its free shows up as garbage frames, or a crash. */
#include "check.h"
#include "config.h"
#include "conn.h"
#include "loop.h"
#include "process.h"
#include "stack.h"

#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOOPS 60000
#define FRAMES 4                  /* or FRAMES + 1: two sizes, so that a freed
                                     stack is not at once handed out again,
                                     whole, as the next one */

static char log_path[64];
static struct conn *conn;
static volatile bool done;

/* The frames every stack holds: addresses inside this program. */
static uintptr_t frame(unsigned i) { return (uintptr_t)&frame + 16 * i; }

static struct stack *known_stack(unsigned n)
{
    struct stack *st = malloc(sizeof *st + n * sizeof st->ip[0]);
    if (!st)
        abort();
    st->n = n;
    for (unsigned i = 0; i < n; i++)
        st->ip[i] = frame(i);
    return st;
}

/* The other thread's failures, one after another: each replaces the
 * failure stack the way stack_record does, and frees the one before. */
static void *fail_again_and_again(void *arg)
{
    (void)arg;
    for (unsigned i = 0; !done; i++) {
        struct stack *st = known_stack(FRAMES + i % 2);
        stack_free(__atomic_exchange_n(&conn->fail_stack, st, __ATOMIC_ACQ_REL));
    }
    return NULL;
}

static void use_loop_settings(void)
{
    memset(&config, 0, sizeof config);
    config.sink = SINK_FILE;
    config.format = FORMAT_JSON;
    config.level = LEVEL_HANDSHAKE;
    config.stacks = STACKS_ERRORS;
    config.stack_depth = 32;
    config.loop_count = 2;
    config.loop_window_s = 3600;
    snprintf(config.log_template, sizeof config.log_template, "%s", log_path);
}

/* Every loop line's stack is whole: FRAMES (+1) frames, each in this program. */
static void check_loop_lines(void)
{
    FILE *f = fopen(log_path, "r");
    static char line[65536];
    unsigned loops = 0;
    CHECK(f != NULL);
    while (f && fgets(line, sizeof line, f)) {
        if (!strstr(line, "\"ev\":\"loop\""))
            continue;
        loops++;
        unsigned frames = 0;
        for (const char *p = strstr(line, "\"ip\":"); p; p = strstr(p + 1, "\"ip\":"))
            frames++;
        CHECK(frames == FRAMES || frames == FRAMES + 1);
        CHECK(strstr(line, "\"obj\":null") == NULL);
    }
    if (f)
        fclose(f);
    CHECK(loops > LOOPS / 2);
}

int main(void)
{
    snprintf(log_path, sizeof log_path, "/tmp/sslshim-unit-loop.%d.jsonl", (int)getpid());
    unlink(log_path);
    mallopt(M_PERTURB, 165);                  /* freed memory is filled */
    process_gather();
    use_loop_settings();
    conn = calloc(1, sizeof *conn);
    conn->id = 1;
    conn->owner_pid = process_pid();
    conn->fail_stack = known_stack(FRAMES);

    pthread_t other;
    pthread_create(&other, NULL, fail_again_and_again, NULL);
    for (unsigned i = 0; i < LOOPS; i++) {
        conn->handshakes++;
        conn->reneg_report_until_ns = 0;      /* report this one too */
        loop_handshake_started(conn);
    }
    done = true;
    pthread_join(other, NULL);
    check_loop_lines();
    unlink(log_path);
    if (failures)
        fprintf(stderr, "%d failures\n", failures);
    else
        printf("test_loop_race: all passed\n");
    return failures != 0;
}
