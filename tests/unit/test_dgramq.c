/* test_dgramq.c — the queue of datagrams the syslog socket could not take
 * yet, against a plain model: a million random pushes and pops of random
 * sizes (some near the whole buffer) come out in order, byte for byte, the
 * queue refuses only what cannot fit in what is free, and a cleared queue
 * starts again. */
#include "check.h"
#include "dgramq.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_MAX 100000

static struct {
    size_t len[MODEL_MAX];
    uint32_t seed[MODEL_MAX];
    unsigned head, count;
    size_t bytes;
} model;

static uint64_t rng = 88172645463325252ull;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void fill(char *buf, size_t len, uint32_t seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)(seed + i * 31u);
}

static size_t random_len(void)
{
    switch (next() % 8) {
    case 0:
        return 1 + next() % (DGRAMQ_BYTES / 2);     /* rare and big */
    case 1:
        return 1 + next() % 16;
    default:
        return 100 + next() % 2000;               /* lines as the shim makes them */
    }
}

static char buf[DGRAMQ_BYTES];

static void check_front(void)
{
    size_t len = 0;
    const char *d = dgramq_front(&len);
    if (model.count == 0) {
        CHECK(d == NULL);
        return;
    }
    unsigned i = model.head % MODEL_MAX;
    CHECK(d != NULL && len == model.len[i]);
    if (d && len == model.len[i]) {
        fill(buf, len, model.seed[i]);
        CHECK(memcmp(d, buf, len) == 0);
    }
}

int main(void)
{
    unsigned refused = 0, pushed = 0;
    for (int step = 0; step < 1000000; step++) {
        if (next() % 100 < 52) {
            size_t len = random_len();
            uint32_t seed = (uint32_t)next();
            fill(buf, len, seed);
            bool ok = dgramq_push(buf, len);
            if (ok) {
                unsigned i = (model.head + model.count) % MODEL_MAX;
                model.len[i] = len;
                model.seed[i] = seed;
                model.count++;
                model.bytes += len;
                pushed++;
            } else {
                refused++;
                /* an empty queue takes any datagram that fits the buffer;
                 * a refused one waits for room: at most half the buffer
                 * can be lost to where the records happen to lie */
                CHECK(model.count > 0);
                CHECK(model.bytes + len > DGRAMQ_BYTES / 4);
            }
        } else {
            check_front();
            if (model.count) {
                dgramq_pop();
                model.bytes -= model.len[model.head % MODEL_MAX];
                model.head = (model.head + 1) % MODEL_MAX;
                model.count--;
            }
        }
        CHECK(dgramq_count() == model.count);
        CHECK(dgramq_empty() == (model.count == 0));
        if (failures > 20)
            break;
    }
    /* an empty queue takes one datagram of the whole buffer's size less its header */
    while (model.count) {
        check_front();
        dgramq_pop();
        model.head = (model.head + 1) % MODEL_MAX;
        model.count--;
    }
    CHECK(dgramq_push(buf, DGRAMQ_BYTES - 8));
    CHECK(!dgramq_push(buf, 1));
    CHECK(dgramq_clear() == 1);
    CHECK(dgramq_empty());
    CHECK(!dgramq_push(buf, DGRAMQ_BYTES));
    CHECK(!dgramq_push(buf, 0));
    CHECK(pushed > 100000 && refused > 0);
    if (failures)
        fprintf(stderr, "%d failures\n", failures);
    else
        printf("test_dgramq: all passed (%u pushed, %u refused)\n", pushed, refused);
    return failures != 0;
}
