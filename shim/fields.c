/* fields.c — the fields of state and msg lines, written as they happen
 * (trace.c) or from flight mode's notes when a connection fails (flight.c):
 * one definition, so both read the same. */
#include "fields.h"

#include "names.h"
#include "openssl.h"
#include "sslshim.h"

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
