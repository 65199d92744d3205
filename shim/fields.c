/* fields.c — the fields of state and msg lines, written as they happen
 * (trace.c) or from flight mode's notes when a connection fails (flight.c):
 * one definition, so both read the same. */
#include "fields.h"

#include "names.h"
#include "openssl.h"
#include "sslshim.h"

#include <string.h>

void fields_state(struct ev *e, const char *state, bool exit, int ret)
{
    ev_str(e, "state", state);
    ev_str(e, "where", exit ? "exit" : "loop");
    if (exit)
        ev_int(e, "ret", ret);
}

const char *fields_msg_type(int content_type)
{
    switch (content_type) {
    case SSL3_RT_HANDSHAKE: return "handshake";
    case SSL3_RT_CHANGE_CIPHER_SPEC: return "change_cipher_spec";
    case SSL3_RT_ALERT: return "alert";
    default: return NULL;
    }
}

void fields_msg(struct ev *e, bool sent, int content_type, int hs, size_t len, int version)
{
    ev_str(e, "dir", sent ? "sent" : "recv");
    ev_str(e, "type", fields_msg_type(content_type));
    if (content_type == SSL3_RT_HANDSHAKE && hs >= 0) {
        const char *name = handshake_msg_name(hs);
        if (name)
            ev_str(e, "hs", name);
        else
            ev_int(e, "hs", hs);
    }
    ev_uint(e, "len", len);
    ev_str(e, "version", protocol_version_name(version));
}

const char *fields_note_name(const struct note *n)
{
    return n->kind == NOTE_STATE ? SSLSHIM_EV_STATE : SSLSHIM_EV_MSG;
}

void fields_note(struct ev *e, const struct note *n)
{
    if (n->kind == NOTE_STATE)
        fields_state(e, n->state.name, n->state.exit, n->state.ret);
    else
        fields_msg(e, n->msg.sent, n->msg.content_type, n->msg.hs, n->msg.len, n->msg.version);
}

/* ---- notes written directly ---------------------------------------------- */

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

#define PUT_LITERAL(p, lit) put((p), (lit), sizeof(lit) - 1)

static char *put_str(char *p, const char *s)
{
    return s ? put(p, s, strlen(s)) : p;
}

static char *put_dec(char *p, unsigned long long v)
{
    char tmp[24], *q = tmp + sizeof tmp;
    do {
        *--q = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return put(p, q, (size_t)(tmp + sizeof tmp - q));
}

static char *put_int(char *p, long long v)
{
    if (v < 0) {
        *p++ = '-';
        return put_dec(p, 0ULL - (unsigned long long)v);
    }
    return put_dec(p, (unsigned long long)v);
}

/* Printable ASCII but the quote and the backslash: a JSON string as it is. */
static bool plain_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
            return false;
    }
    return true;
}

/* A name of ours (names.c) as a JSON string, or null. */
static char *put_name(char *p, const char *name)
{
    if (!name)
        return PUT_LITERAL(p, "null");
    *p++ = '"';
    p = put_str(p, name);
    *p++ = '"';
    return p;
}

static char *put_state(char *p, const struct note *n, size_t len)
{
    p = PUT_LITERAL(p, ",\"state\":\"");
    p = put(p, n->state.name, len);
    if (!n->state.exit)
        return PUT_LITERAL(p, "\",\"where\":\"loop\"");
    p = PUT_LITERAL(p, "\",\"where\":\"exit\",\"ret\":");
    return put_int(p, n->state.ret);
}

static char *put_msg(char *p, const struct note *n)
{
    p = n->msg.sent ? PUT_LITERAL(p, ",\"dir\":\"sent\",\"type\":")
                    : PUT_LITERAL(p, ",\"dir\":\"recv\",\"type\":");
    p = put_name(p, fields_msg_type(n->msg.content_type));
    if (n->msg.content_type == SSL3_RT_HANDSHAKE && n->msg.hs >= 0) {
        const char *name = handshake_msg_name(n->msg.hs);
        p = PUT_LITERAL(p, ",\"hs\":");
        p = name ? put_name(p, name) : put_int(p, n->msg.hs);
    }
    p = PUT_LITERAL(p, ",\"len\":");
    p = put_dec(p, n->msg.len);
    p = PUT_LITERAL(p, ",\"version\":");
    return put_name(p, protocol_version_name(n->msg.version));
}

size_t fields_note_json(char *out, uint64_t conn, const struct note *n)
{
    char *p = out;
    if (conn) {
        p = PUT_LITERAL(p, ",\"conn\":");
        p = put_dec(p, conn);
    }
    if (n->kind == NOTE_STATE) {
        size_t len = strnlen(n->state.name, sizeof n->state.name);
        if (!plain_ascii(n->state.name, len))
            return 0;
        p = put_state(p, n, len);
    } else {
        p = put_msg(p, n);
    }
    p = PUT_LITERAL(p, "}\n");
    return (size_t)(p - out);
}
