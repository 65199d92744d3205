/* test_fields.c — the direct formatter of state and msg notes writes, byte
 * for byte, what the generic line builder writes for the same note (every
 * handshake type, content type and version, both directions, states with
 * and without exit codes, connection ids at their extremes), within the
 * room burst.c keeps for it; a state name that needs escaping is left to
 * the builder. */
#include "check.h"
#include "event.h"
#include "fields.h"
#include "openssl.h"

#include <stdio.h>
#include <string.h>

static unsigned compared;

static void compare(uint64_t conn, const struct note *n)
{
    char direct[1024];
    memset(direct, 0x5a, sizeof direct);
    size_t len = fields_note_json(direct, conn, n);
    struct ev e;
    ev_begin(&e, fields_note_name(n), conn, false);
    fields_note(&e, n);
    size_t want_len;
    const char *want = ev_body(&e, &want_len);
    size_t room = n->kind == NOTE_STATE
                      ? FIELDS_STATE_ROOM(strnlen(n->state.name, sizeof n->state.name))
                      : FIELDS_MSG_ROOM;
    CHECK(want_len <= room);
    if (len == 0) {               /* left to the builder: only names to escape */
        CHECK(n->kind == NOTE_STATE);
    } else {
        CHECK(len == want_len && memcmp(direct, want, len) == 0);
        CHECK(len <= room && (unsigned char)direct[len] == 0x5a);
        if (len != want_len || memcmp(direct, want, len) != 0)
            fprintf(stderr, "  direct: %.*s  builder: %.*s", (int)len, direct, (int)want_len, want);
    }
    ev_free(&e);
    compared++;
}

static void state(uint64_t conn, const char *name, bool exit, int ret)
{
    struct note n;
    memset(&n, 0, sizeof n);
    n.kind = NOTE_STATE;
    snprintf(n.state.name, sizeof n.state.name, "%s", name);
    n.state.exit = exit;
    n.state.ret = ret;
    compare(conn, &n);
}

int main(void)
{
    static const int types[] = { SSL3_RT_HANDSHAKE, SSL3_RT_CHANGE_CIPHER_SPEC, SSL3_RT_ALERT,
                                 SSL3_RT_APPLICATION_DATA, 0, 99 };
    static const int versions[] = { SSL3_VERSION, TLS1_VERSION, TLS1_1_VERSION, TLS1_2_VERSION,
                                    TLS1_3_VERSION, DTLS1_VERSION, DTLS1_2_VERSION, 0, 0x7f1c };
    static const uint64_t conns[] = { 0, 1, 42, UINT64_MAX };
    static const size_t lens[] = { 0, 4, 65535, (size_t)-1 };
    for (size_t c = 0; c < sizeof conns / sizeof conns[0]; c++) {
        for (int hs = -1; hs < 256; hs++)
            for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
                for (size_t v = 0; v < sizeof versions / sizeof versions[0]; v++)
                    for (int sent = 0; sent < 2; sent++) {
                        struct note n;
                        memset(&n, 0, sizeof n);
                        n.kind = NOTE_MSG;
                        n.msg.sent = sent;
                        n.msg.content_type = types[t];
                        n.msg.version = versions[v];
                        n.msg.hs = hs;
                        n.msg.len = lens[(size_t)(hs + 1) % 4];
                        compare(conns[c], &n);
                    }
        state(conns[c], "SSLv3/TLS write client hello", false, 0);
        state(conns[c], "SSL negotiation finished successfully", true, 1);
        state(conns[c], "error", true, -1);
        state(conns[c], "before SSL initialization", true, -2147483647 - 1);
        state(conns[c], "", false, 0);
        state(conns[c], "a \"quoted\" state", true, 0);          /* to escape */
        state(conns[c], "back\\slash", false, 0);
        state(conns[c], "\x01\x7f\xff\xfe bytes", true, 5);
        state(conns[c], "0123456789012345678901234567890123456789012345678901234567890123", false, 0);
    }
    printf("test_fields: %u notes compared\n", compared);
    if (failures)
        fprintf(stderr, "%d failures\n", failures);
    return failures != 0;
}
