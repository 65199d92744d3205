/* messages.c — what the handshake messages say, written as they pass: the
 * contents of the hello messages (`hello`) and the certificate chains
 * (`certs`), each direction.  A handshake that fails never reaches
 * handshake_done; these lines are what is left of what the two sides told
 * each other, which is what explains the failure. */
#include "messages.h"

#include "cert.h"
#include "hello.h"
#include "names.h"
#include "record.h"
#include "sslshim.h"

#include <string.h>

#define CHAIN_MAX 10                 /* certificates listed per message */

/* OpenSSL's name of a cipher suite: the common ones from our table, the
 * rest from the library running s. */
static const char *cipher_name(void *arg, unsigned code)
{
    const char *name = tls_cipher_name(code);
    if (name)
        return name;
    const unsigned char bytes[2] = { (unsigned char)(code >> 8), (unsigned char)code };
    const SSL_CIPHER *c = ossl.SSL_CIPHER_find(arg, bytes);
    return c ? ossl.SSL_CIPHER_get_name(c) : NULL;
}

static bool dn_text(void *arg, const unsigned char *der, size_t len, char *out, size_t cap)
{
    (void)arg;
    return cert_name_text(der, len, out, cap);
}

static void record_hello(struct conn *c, SSL *s, bool sent, bool tls13,
                         const unsigned char *m, size_t len)
{
    const struct hello_lookup lookup = { cipher_name, dn_text, s };
    struct ev e;
    record_begin(&e, SSLSHIM_EV_HELLO, c);
    ev_str(&e, "dir", sent ? "sent" : "recv");
    const char *name = hello_fields(&e, m, len, tls13, &lookup);
    if (summary_wanted(&e))
        snprintf(e.summary, sizeof e.summary, "%s %s", sent ? "sent" : "recv", name);
    record(&e);
}

/* The chain of a Certificate message; the peer's leaf is remembered for
 * handshake_done. */
static void record_certs(struct conn *c, bool sent, bool tls13, const unsigned char *m,
                         size_t len)
{
    struct der_span ders[CHAIN_MAX];
    bool invalid = false;
    size_t n = hello_certificate_entries(m, len, tls13, ders, CHAIN_MAX, &invalid);
    size_t listed = n < CHAIN_MAX ? n : CHAIN_MAX;
    struct ev e;
    record_begin(&e, SSLSHIM_EV_CERTS, c);
    ev_str(&e, "dir", sent ? "sent" : "recv");
    ev_arr_begin(&e, "chain");
    for (size_t i = 0; i < listed; i++) {
        struct cert_ref ref;
        cert_der_field(&e, NULL, ders[i].p, ders[i].len, &ref);
        if (i == 0 && !sent)
            c->peer_cert = ref;
    }
    ev_arr_end(&e);
    if (n > listed)
        ev_uint(&e, "chain_more", n - listed);
    if (invalid)
        ev_str(&e, "invalid", "bad length");
    if (summary_wanted(&e))
        snprintf(e.summary, sizeof e.summary, "%s %zu certificate%s", sent ? "sent" : "recv",
                 n, n == 1 ? "" : "s");
    record(&e);
}

/* The connection whose ClientHello this thread's state machine is
 * processing (a server's), between the message and the run's exit, and
 * conn_generation then: a run left by longjmp never reports its exit, and
 * once any connection has been released since, the pointer is not trusted. */
static __thread struct conn *choosing;
static __thread uint64_t choosing_gen;

void messages_select_next_proto(const unsigned char *server, unsigned len)
{
    struct conn *c = choosing;
    if (!c || !server)
        return;
    if (choosing_gen != __atomic_load_n(&conn_generation, __ATOMIC_ACQUIRE)) {
        choosing = NULL;
        return;
    }
    if (len > sizeof c->alpn_server)
        len = sizeof c->alpn_server;
    memcpy(c->alpn_server, server, len);
    c->alpn_server_len = len;
}

void messages_handshake_exit(void) { choosing = NULL; }

void messages_record(struct conn *c, SSL *s, bool sent, bool tls13, const unsigned char *m,
                     size_t len)
{
    if (ossl.SSL_is_dtls(s))
        return;                      /* DTLS messages carry a longer header */
    if (!sent && m[0] == SSL3_MT_CLIENT_HELLO) {
        choosing = c;
        choosing_gen = __atomic_load_n(&conn_generation, __ATOMIC_ACQUIRE);
    }
    if (m[0] == SSL3_MT_CERTIFICATE)
        record_certs(c, sent, tls13, m, len);
    else if (hello_wanted(m[0]))
        record_hello(c, s, sent, tls13, m, len);
}
