/* errqueue.c — a non-destructive look at the OpenSSL error queue.
 *
 * OpenSSL has no "peek at entry i" call: ERR_peek_error() sees only the
 * oldest entry.  So the queue is drained into a local copy and put back, in
 * order, with the same library, reason, file, line, function and data
 * (3.x: ERR_new/ERR_set_debug/ERR_set_error; 1.1.1: ERR_put_error and
 * ERR_add_error_data).  Where the library lacks the calls to put entries
 * back, only the oldest entry is reported, with ERR_peek_error. */
#include "errqueue.h"

#include "openssl.h"

#include <stdio.h>
#include <string.h>

#define QUEUE_MAX 16       /* OpenSSL keeps at most ERR_NUM_ERRORS (16) */

struct entry {
    unsigned long code;
    const char *file_ptr;      /* OpenSSL's own string: 1.1.1 keeps the pointer */
    char file[128];
    int line;
    char func[64];
    char data[256];
    bool has_data;
};

static int lib_of(unsigned long code)
{
    if (ossl.v3 && (code & 0x80000000UL))     /* 3.x system error: errno in the low bits */
        return ERR_LIB_SYS;
    return ossl.v3 ? (int)((code >> 23) & 0xFF) : (int)((code >> 24) & 0xFF);
}

static int reason_of(unsigned long code)
{
    if (ossl.v3)
        return (code & 0x80000000UL) ? (int)(code & 0x7FFFFFFF) : (int)(code & 0x7FFFFF);
    return (int)(code & 0xFFF);
}

static bool can_restore(void)
{
    if (ossl.v3)
        return ossl.ERR_get_error_all && ossl.ERR_new && ossl.ERR_set_debug && ossl.ERR_set_error;
    return ossl.legacy_get_error_line_data && ossl.legacy_put_error && ossl.legacy_add_error_data;
}

static void copy(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

static int drain(struct entry *q)
{
    int n = 0;
    for (;;) {
        const char *file = NULL, *func = NULL, *data = NULL;
        int line = 0, flags = 0;
        unsigned long code = ossl.v3
            ? ossl.ERR_get_error_all(&file, &line, &func, &data, &flags)
            : ossl.legacy_get_error_line_data(&file, &line, &data, &flags);
        if (code == 0)
            break;
        if (n == QUEUE_MAX)      /* cannot happen with OpenSSL's own limit */
            continue;
        struct entry *en = &q[n++];
        en->code = code;
        en->file_ptr = file;
        copy(en->file, sizeof en->file, file);
        en->line = line;
        copy(en->func, sizeof en->func, func);
        en->has_data = (flags & ERR_TXT_STRING) && data;
        copy(en->data, sizeof en->data, en->has_data ? data : NULL);
    }
    return n;
}

static void restore(const struct entry *q, int n)
{
    for (int i = 0; i < n; i++) {
        const struct entry *en = &q[i];
        if (ossl.v3) {
            ossl.ERR_new();
            ossl.ERR_set_debug(en->file[0] ? en->file : NULL, en->line,
                               en->func[0] ? en->func : NULL);
            if (en->has_data)
                ossl.ERR_set_error(lib_of(en->code), reason_of(en->code), "%s", en->data);
            else
                ossl.ERR_set_error(lib_of(en->code), reason_of(en->code), NULL);
        } else {
            /* 1.1.1 stores the file pointer, not a copy: give back the
             * pointer it gave us (a string in the library), never ours. */
            ossl.legacy_put_error(lib_of(en->code), (int)((en->code >> 12) & 0xFFF),
                                  reason_of(en->code), en->file_ptr, en->line);
            if (en->has_data)
                ossl.legacy_add_error_data(1, en->data);
        }
    }
}

static void entry_field(struct ev *e, const struct entry *en)
{
    char hex[24];
    snprintf(hex, sizeof hex, "0x%lx", en->code);
    ev_obj_begin(e, NULL);
    ev_str(e, "code", hex);
    ev_str(e, "lib", ossl.ERR_lib_error_string(en->code));
    ev_str(e, "reason", ossl.ERR_reason_error_string(en->code));
    ev_str(e, "file", en->file[0] ? en->file : NULL);
    ev_int(e, "line", en->line);
    if (en->func[0])
        ev_str(e, "func", en->func);
    ev_str(e, "data", en->has_data ? en->data : NULL);
    ev_obj_end(e);
}

void errqueue_record(struct ev *e)
{
    struct entry q[QUEUE_MAX];
    ev_arr_begin(e, "queue");
    if (can_restore()) {
        int n = drain(q);
        restore(q, n);
        for (int i = 0; i < n; i++)
            entry_field(e, &q[i]);
    } else {
        unsigned long code = ossl.ERR_peek_error();
        if (code) {
            memset(&q[0], 0, sizeof q[0]);
            q[0].code = code;
            entry_field(e, &q[0]);
        }
    }
    ev_arr_end(e);
}

bool errqueue_last_is(int lib, int reason)
{
    unsigned long code = ossl.ERR_peek_last_error();
    return code && lib_of(code) == lib && reason_of(code) == reason;
}
