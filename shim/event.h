/* event.h — building one log line (JSON object or human text) in memory.
 *
 * A line is built into a buffer that leaves room in front for the common
 * header (ts, ev, host, pid, tid, seq); the sink fills that in under its lock
 * so that seq order equals file order, then writes the line with one write(2).
 * The buffer lives inside struct ev (on the builder's stack), so an ordinary
 * line never touches the heap; only long ones (stacks) grow into it.
 * Builders never fail visibly: on allocation failure the event is dropped and
 * counted by the sink. */
#ifndef SHIM_EVENT_H
#define SHIM_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EV_HEADROOM 512          /* room for the header (and a syslog prefix), filled in by the sink */
#define EV_INLINE 2048           /* headroom plus the body of every line without a stack */
#define EV_MAX_DEPTH 8

struct ev {
    char *buf;                   /* `room` or the heap; body starts at buf + EV_HEADROOM */
    size_t len, cap;             /* len counts from buf, including the headroom */
    const char *name;            /* "ev" */
    uint64_t conn;               /* 0: not about a connection */
    bool text;                   /* human text instead of JSON */
    bool failed;                 /* allocation failed: drop it */
    bool failure;                /* reports a failure: flight mode writes the history */
    bool urgent;                 /* written at once, with what waits (burst.h): alerts */
    void *owner;                 /* the struct conn it is about (record.c), or NULL */
    int depth;
    bool need_comma[EV_MAX_DEPTH];
    char summary[160];           /* text format: the human part after the event name */
    char room[EV_INLINE];
};

void ev_begin(struct ev *e, const char *name, uint64_t conn, bool text);
void ev_free(struct ev *e);

void ev_str(struct ev *e, const char *key, const char *s);        /* NULL → null */
void ev_strn(struct ev *e, const char *key, const void *s, size_t n);
void ev_int(struct ev *e, const char *key, long long v);
void ev_uint(struct ev *e, const char *key, unsigned long long v);
void ev_bool(struct ev *e, const char *key, bool v);
void ev_null(struct ev *e, const char *key);
void ev_hex(struct ev *e, const char *key, const void *p, size_t n);
void ev_addr(struct ev *e, const char *key, uintptr_t v);        /* "0x…" string */
/* `key` and a value that is already JSON (or text), copied as it is. */
void ev_raw(struct ev *e, const char *key, const char *value, size_t n);
void ev_obj_begin(struct ev *e, const char *key);   /* key NULL inside arrays */
void ev_obj_end(struct ev *e);
void ev_arr_begin(struct ev *e, const char *key);
void ev_arr_end(struct ev *e);

/* Closes the line and returns its body (what follows the header), for a
 * header written later; NULL on failure. */
const char *ev_body(struct ev *e, size_t *out_len);

/* Closes the line and returns its full text (header included) for the sink.
 * `header` is written in front of the body; returns NULL on failure. */
const char *ev_finish(struct ev *e, const char *header, size_t header_len, size_t *out_len);

/* Escaping, exposed for unit tests: appends the JSON string body of `s`
 * (without quotes) to `e`; returns true when `s` was not valid UTF-8 and some
 * bytes became U+FFFD. */
bool ev_escape(struct ev *e, const void *s, size_t n);

#endif
