/* dgramq.c — datagrams the syslog socket could not take yet (dgramq.h).
 *
 * A ring of records, each a length and the bytes, in one buffer: a
 * record never wraps (a gap at the end is skipped, marked by a zero
 * length), so the oldest datagram can be handed out in place. */
#include "dgramq.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct record {
    uint32_t len;                 /* 0: the rest of the buffer is unused */
    char bytes[];
};

static struct {
    char *buf;
    size_t head;                  /* the oldest record */
    size_t tail;                  /* where the next one goes */
    unsigned count;
} q;

#define ALIGN(n) (((n) + 7u) & ~(size_t)7u)

static size_t record_size(size_t len) { return ALIGN(sizeof(struct record) + len); }

bool dgramq_empty(void) { return q.count == 0; }

unsigned dgramq_count(void) { return q.count; }

/* Where a record of `need` bytes goes, or SIZE_MAX: behind the tail, or at
 * the start once the end is too short (the rest marked as a gap). */
static size_t place_for(size_t need)
{
    if (q.count == 0) {
        q.head = q.tail = 0;
        return need <= DGRAMQ_BYTES ? 0 : SIZE_MAX;
    }
    if (q.tail >= q.head) {                          /* free: [tail, end) and [0, head) */
        if (DGRAMQ_BYTES - q.tail >= need)
            return q.tail;
        if (q.head > need) {                         /* strictly: tail must not meet head */
            if (DGRAMQ_BYTES - q.tail >= sizeof(struct record))
                ((struct record *)(q.buf + q.tail))->len = 0;
            return 0;
        }
        return SIZE_MAX;
    }
    return q.head - q.tail > need ? q.tail : SIZE_MAX;  /* free: [tail, head) */
}

bool dgramq_push(const char *d, size_t len)
{
    if (len == 0 || len > UINT32_MAX)
        return false;
    if (!q.buf && !(q.buf = malloc(DGRAMQ_BYTES)))
        return false;
    size_t need = record_size(len);
    size_t at = place_for(need);
    if (at == SIZE_MAX)
        return false;
    struct record *r = (struct record *)(q.buf + at);
    r->len = (uint32_t)len;
    memcpy(r->bytes, d, len);
    q.tail = at + need;
    q.count++;
    return true;
}

/* The head record, past a gap at the end of the buffer. */
static struct record *head_record(void)
{
    if (DGRAMQ_BYTES - q.head < sizeof(struct record) ||
        ((struct record *)(q.buf + q.head))->len == 0) {
        q.head = 0;
    }
    return (struct record *)(q.buf + q.head);
}

const char *dgramq_front(size_t *len)
{
    if (q.count == 0)
        return NULL;
    struct record *r = head_record();
    *len = r->len;
    return r->bytes;
}

void dgramq_pop(void)
{
    if (q.count == 0)
        return;
    struct record *r = head_record();
    size_t size = record_size(r->len);
    q.head += size;
    if (--q.count == 0)
        q.head = q.tail = 0;
}

unsigned dgramq_clear(void)
{
    unsigned n = q.count;
    q.head = q.tail = 0;
    q.count = 0;
    return n;
}
