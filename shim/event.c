/* event.c — the line builder and JSON escaping. */
#include "event.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool grow(struct ev *e, size_t more) __attribute__((noinline));

/* Room for `more` bytes; the common case (there is room) stays inline. */
static inline bool reserve(struct ev *e, size_t more)
{
    if (__builtin_expect(e->len + more <= e->cap && !e->failed, 1))
        return true;
    return grow(e, more);
}

static bool grow(struct ev *e, size_t more)
{
    if (e->failed)
        return false;
    if (e->len + more <= e->cap)
        return true;
    size_t cap = e->cap;
    while (cap < e->len + more)
        cap *= 2;
    char *p = e->buf == e->room ? malloc(cap) : realloc(e->buf, cap);
    if (!p) {
        e->failed = true;
        return false;
    }
    if (e->buf == e->room)
        memcpy(p, e->room, e->len);
    e->buf = p;
    e->cap = cap;
    return true;
}

static inline void put(struct ev *e, const char *s, size_t n)
{
    if (reserve(e, n)) {
        memcpy(e->buf + e->len, s, n);
        e->len += n;
    }
}

static void puts_(struct ev *e, const char *s) { put(e, s, strlen(s)); }

static void putc_(struct ev *e, char c) { put(e, &c, 1); }

void ev_begin(struct ev *e, const char *name, uint64_t conn, bool text)
{
    e->buf = e->room;
    e->cap = sizeof e->room;
    e->len = EV_HEADROOM;
    e->failed = e->failure = e->urgent = false;
    e->owner = NULL;
    e->depth = 0;
    e->need_comma[0] = false;
    e->summary[0] = '\0';
    e->name = name;
    e->conn = conn;
    e->text = text;
    if (conn && !text)
        ev_uint(e, "conn", conn);
}

void ev_free(struct ev *e)
{
    if (e->buf != e->room)
        free(e->buf);
    e->buf = NULL;
}

/* Key and separator.  JSON: ,"key":   text: " key=" (top level only).
 * Keys are the shim's own short literals: copied byte by byte into room
 * reserved up front, which is cheaper than strlen and memcpy calls. */
#define KEY_ROOM 64

static void key(struct ev *e, const char *k)
{
    if (e->text && e->depth == 0) {
        putc_(e, ' ');
        if (k) {
            puts_(e, k);
            putc_(e, '=');
        }
        return;
    }
    if (!reserve(e, KEY_ROOM + 4))
        return;
    char *p = e->buf + e->len;
    char *limit = p + KEY_ROOM;
    if (e->need_comma[e->depth] || (!e->text && e->depth == 0))
        *p++ = ',';
    e->need_comma[e->depth] = true;
    if (k) {
        *p++ = '"';
        while (*k && p < limit)
            *p++ = *k++;
        *p++ = '"';
        *p++ = ':';
    }
    e->len = (size_t)(p - e->buf);
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if it is not one.
 * Rejects overlong forms, surrogates and code points past U+10FFFF. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t len;
    unsigned min, cp;
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; min = 0x10000; }
    else return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* Bytes that go into a JSON string as they are: printable ASCII but the
 * quote (0x22) and the backslash (0x5c).  One load per byte on the common
 * path. */
static const unsigned char plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* 0x10 */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,   /* 0x20 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,   /* 0x30 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,   /* 0x40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,   /* 0x50 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,   /* 0x60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,   /* 0x70 */
    /* 0x80-0xff: UTF-8 is checked byte by byte */
};

/* Whether any of the 8 bytes in v needs more than a copy: below 0x20, a
 * quote, a backslash, 0x7f or 0x80 and above.  The classic bit tricks: a
 * byte below n sets its high bit in (v - n * ones) & ~v, and a byte equal to
 * c is a zero byte of v ^ (c * ones).  They may also flag a byte next to a
 * real hit, never miss one: the byte loop after them decides. */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

static inline uint64_t bytes_below(uint64_t v, unsigned char n) { return (v - ONES * n) & ~v; }
static inline uint64_t bytes_equal(uint64_t v, unsigned char c) { return bytes_below(v ^ (ONES * c), 1); }

static inline bool word_needs_care(uint64_t v)
{
    return ((bytes_below(v, 0x20) | bytes_equal(v, '"') | bytes_equal(v, '\\') |
             bytes_equal(v, 0x7f) | v) & HIGHS) != 0;
}

/* Length of the run at p that needs no escaping. */
static size_t plain_run(const unsigned char *p, size_t n)
{
    size_t i = 0;
    for (uint64_t v; i + 8 <= n; i += 8) {
        memcpy(&v, p + i, 8);
        if (word_needs_care(v))
            break;
    }
    while (i < n && plain[p[i]])
        i++;
    return i;
}

bool ev_escape(struct ev *e, const void *s, size_t n)
{
    const unsigned char *p = s;
    bool replaced = false;
    char tmp[8];
    for (size_t i = 0; i < n;) {
        size_t run = plain_run(p + i, n - i);     /* copied at once */
        if (run) {
            put(e, (const char *)p + i, run);
            i += run;
            continue;
        }
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            putc_(e, '\\');
            putc_(e, (char)c);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            switch (c) {
            case '\n': puts_(e, "\\n"); break;
            case '\r': puts_(e, "\\r"); break;
            case '\t': puts_(e, "\\t"); break;
            default:
                snprintf(tmp, sizeof tmp, "\\u%04x", c);
                puts_(e, tmp);
            }
            i++;
        } else {
            size_t len = utf8_len(p + i, n - i);
            if (len == 0) {
                puts_(e, "\xEF\xBF\xBD");      /* U+FFFD */
                replaced = true;
                i++;
            } else {
                put(e, (const char *)p + i, len);
                i += len;
            }
        }
    }
    return replaced;
}

/* A text line starts with its summary; a field whose value the summary
 * already says (state="before SSL initialization") is not said twice. */
static bool word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_';
}

static bool said_in_summary(const struct ev *e, const char *k, const void *s, size_t n)
{
    if (!e->text || e->depth != 0 || !k || !n || !e->summary[0])
        return false;
    const char *sum = e->summary, *end = sum + strlen(sum);
    for (const char *at = sum; (at = memmem(at, (size_t)(end - at), s, n)); at++) {
        bool starts = at == sum || !word_char(at[-1]);          /* a whole word: "TLSv1" */
        bool ends = at + n == end || !word_char(at[n]);         /* is not in "TLSv1.3" */
        if (starts && ends)
            return true;
    }
    return false;
}

void ev_strn(struct ev *e, const char *k, const void *s, size_t n)
{
    if (!s) {
        ev_null(e, k);
        return;
    }
    if (said_in_summary(e, k, s, n))
        return;
    key(e, k);
    putc_(e, '"');
    bool replaced = ev_escape(e, s, n);
    putc_(e, '"');
    if (replaced && k) {                   /* the raw bytes, for the record */
        char hk[64];
        snprintf(hk, sizeof hk, "%s_hex", k);
        ev_hex(e, hk, s, n);
    }
}

void ev_str(struct ev *e, const char *k, const char *s)
{
    ev_strn(e, k, s, s ? strlen(s) : 0);
}

/* Decimal digits of v, written backwards into the end of buf; returns the
 * start.  (snprintf was a third of the cost of a handshake's events.) */
static char *decimal(char *end, unsigned long long v)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

void ev_int(struct ev *e, const char *k, long long v)
{
    char tmp[24];
    key(e, k);
    char *p = decimal(tmp + sizeof tmp, v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v);
    if (v < 0)
        *--p = '-';
    put(e, p, (size_t)(tmp + sizeof tmp - p));
}

void ev_uint(struct ev *e, const char *k, unsigned long long v)
{
    char tmp[24];
    key(e, k);
    char *p = decimal(tmp + sizeof tmp, v);
    put(e, p, (size_t)(tmp + sizeof tmp - p));
}

void ev_bool(struct ev *e, const char *k, bool v)
{
    key(e, k);
    puts_(e, v ? "true" : "false");
}

void ev_null(struct ev *e, const char *k)
{
    key(e, k);
    puts_(e, "null");
}

void ev_hex(struct ev *e, const char *k, const void *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *b = p;
    key(e, k);
    if (!reserve(e, 2 * n + 2))
        return;
    e->buf[e->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        e->buf[e->len++] = digits[b[i] >> 4];
        e->buf[e->len++] = digits[b[i] & 15];
    }
    e->buf[e->len++] = '"';
}

void ev_addr(struct ev *e, const char *k, uintptr_t v)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[24];
    char *p = tmp + sizeof tmp;
    do {
        *--p = digits[v & 15];
        v >>= 4;
    } while (v);
    *--p = 'x';
    *--p = '0';
    key(e, k);
    putc_(e, '"');
    put(e, p, (size_t)(tmp + sizeof tmp - p));
    putc_(e, '"');
}

void ev_raw(struct ev *e, const char *k, const char *value, size_t n)
{
    key(e, k);
    put(e, value, n);
}

static void open_(struct ev *e, const char *k, char c)
{
    key(e, k);
    putc_(e, c);
    if (e->depth + 1 < EV_MAX_DEPTH) {
        e->depth++;
        e->need_comma[e->depth] = false;
    }
}

static void close_(struct ev *e, char c)
{
    putc_(e, c);
    if (e->depth > 0)
        e->depth--;
}

void ev_obj_begin(struct ev *e, const char *k) { open_(e, k, '{'); }
void ev_obj_end(struct ev *e) { close_(e, '}'); }
void ev_arr_begin(struct ev *e, const char *k) { open_(e, k, '['); }
void ev_arr_end(struct ev *e) { close_(e, ']'); }

static bool close_line(struct ev *e)
{
    if (e->text)
        putc_(e, '\n');
    else
        puts_(e, "}\n");
    if (!reserve(e, 1))
        return false;
    e->buf[e->len] = '\0';              /* not written: for debuggers and tests */
    return true;
}

const char *ev_body(struct ev *e, size_t *out_len)
{
    if (!close_line(e))
        return NULL;
    *out_len = e->len - EV_HEADROOM;
    return e->buf + EV_HEADROOM;
}

const char *ev_finish(struct ev *e, const char *header, size_t header_len, size_t *out_len)
{
    if (!close_line(e) || header_len > EV_HEADROOM)
        return NULL;
    char *start = e->buf + EV_HEADROOM - header_len;
    memcpy(start, header, header_len);
    *out_len = e->len - (EV_HEADROOM - header_len);
    return start;
}
