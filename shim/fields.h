/* fields.h — the fields of state and msg lines. */
#ifndef SHIM_FIELDS_H
#define SHIM_FIELDS_H

#include "event.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The frequent lines (state transitions, handshake messages) are captured
 * as these few facts where they happen, and formatted later, together with
 * the rest of their burst (burst.c), or only if their connection fails
 * (flight mode, flight.c). */
enum note_kind { NOTE_STATE = 1, NOTE_MSG };
#define NOTE_STATE_MAX 64
struct note {
    unsigned char kind;
    union {
        struct {
            bool exit;                 /* where: exit (else loop) */
            int ret;
            char name[NOTE_STATE_MAX]; /* OpenSSL's long state string */
        } state;
        struct {
            bool sent;
            int content_type, version;
            int hs;                    /* handshake message type, -1 none */
            size_t len;
        } msg;
    };
};

/* The `ev` of the line a note stands for, and its fields (after `conn`). */
const char *fields_note_name(const struct note *n);
void fields_note(struct ev *e, const struct note *n);

/* A note's line body (from `,"conn":` to the newline), written straight
 * into out, which has room for it (FIELDS_NOTE_ROOM): the same bytes
 * fields_note writes after ev_begin, without the generic builder (most of
 * a handshake's lines are notes).  Returns its length, or 0 for a state
 * name that needs escaping (then use fields_note). */
size_t fields_note_json(char *out, uint64_t conn, const struct note *n);

/* The longest body a note's line can have, either way: with every byte of
 * a state name of `len` bytes escaped, and for a msg line. */
#define FIELDS_STATE_ROOM(len) (96 + 6 * (len))
#define FIELDS_MSG_ROOM 192

/* A state line: OpenSSL's long state name, where (exit, else loop), and an
 * exit's return value. */
void fields_state(struct ev *e, const char *state, bool exit, int ret);

/* The `type` of a msg line; NULL for what is not one (record headers,
 * inner content types). */
const char *fields_msg_type(int content_type);

/* A msg line: direction, type, handshake message type (-1: none), length,
 * protocol version. */
void fields_msg(struct ev *e, bool sent, int content_type, int hs, size_t len, int version);

#endif
