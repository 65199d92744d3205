/* handshake.c — the fields of handshake_done: version, cipher, group, ALPN,
 * resumption, verification, EMS, kTLS and both certificates.  Only getters
 * that neither change the SSL nor touch the error queue are used. */
#include "handshake.h"

#include "cert.h"
#include "failure.h"
#include "record.h"

#include <stdio.h>

static void peer_cert_field(struct ev *e, SSL *s, const struct conn *c)
{
    bool counted = !ossl.SSL_get0_peer_certificate;  /* 1.1.1: a reference taken */
    X509 *x = counted ? (ossl.get1_peer_certificate ? ossl.get1_peer_certificate(s) : NULL)
                      : ossl.SSL_get0_peer_certificate(s);
    if (!x || !cert_recall(e, "peer_cert", c->peer_cert, x))
        cert_field(e, "peer_cert", x, false);
    if (x && counted)
        ossl.X509_free(x);
}

static void group_field(struct ev *e, SSL *s)
{
    const char *g = NULL;
    if (ossl.SSL_get0_group_name) {                  /* 3.2+ */
        g = ossl.SSL_get0_group_name(s);
    } else if (ossl.SSL_group_to_name) {             /* 3.0, 3.1 */
        long id = ossl.SSL_ctrl(s, SSL_CTRL_GET_NEGOTIATED_GROUP, 0, NULL);
        if (id > 0)
            g = ossl.SSL_group_to_name(s, (int)id);
    }
    if (g)
        ev_str(e, "group", g);
    else if (ossl.SSL_get0_group_name || ossl.SSL_group_to_name)
        ev_null(e, "group");
}

/* kTLS is only asked of OpenSSL's own socket BIOs: a custom BIO's ctrl is the
 * program's code and must not see questions it never asked. */
static int ktls_of(BIO *b, int cmd)
{
    if (!b || ossl.BIO_method_type(b) != BIO_TYPE_SOCKET)
        return 0;
    return ossl.BIO_ctrl(b, cmd, 0, NULL) > 0;
}

static void ktls_field(struct ev *e, SSL *s)
{
#if defined(BIO_CTRL_GET_KTLS_SEND) && defined(BIO_CTRL_GET_KTLS_RECV)
    if (!ossl.v3)
        return;
    ev_obj_begin(e, "ktls");
    ev_bool(e, "send", ktls_of(ossl.SSL_get_wbio(s), BIO_CTRL_GET_KTLS_SEND));
    ev_bool(e, "recv", ktls_of(ossl.SSL_get_rbio(s), BIO_CTRL_GET_KTLS_RECV));
    ev_obj_end(e);
#else
    (void)e; (void)s;
#endif
}

void handshake_done_fields(struct ev *e, SSL *s, struct conn *c)
{
    const char *version = ossl.SSL_get_version(s);
    const SSL_CIPHER *cipher = ossl.SSL_get_current_cipher(s);
    const char *cipher_name = cipher ? ossl.SSL_CIPHER_get_name(cipher) : NULL;
    if (summary_wanted(e))
        snprintf(e->summary, sizeof e->summary, "%s %s", version ? version : "?",
             cipher_name ? cipher_name : "?");
    ev_str(e, "version", version);
    ev_str(e, "cipher", cipher_name);
    group_field(e, s);

    const unsigned char *alpn = NULL;
    unsigned alpn_len = 0;
    ossl.SSL_get0_alpn_selected(s, &alpn, &alpn_len);
    if (alpn && alpn_len)
        ev_strn(e, "alpn", alpn, alpn_len);
    else
        ev_null(e, "alpn");
    ev_bool(e, "resumed", ossl.SSL_session_reused(s) == 1);
    ev_uint(e, "ms", (unsigned long long)((now_ns() - c->hs_start_ns) / 1000000));
    conn_sni_field(e, c);
    if (c->have_random)
        ev_hex(e, "client_random", c->client_random, sizeof c->client_random);
    else
        ev_null(e, "client_random");

    long verify = ossl.SSL_get_verify_result(s);
    ev_obj_begin(e, "verify");
    ev_int(e, "code", verify);
    ev_str(e, "text", ossl.X509_verify_cert_error_string(verify));
    failure_verify_names(e, s);
    ev_obj_end(e);
    /* TLS 1.3 has no extended master secret: its key schedule always binds
     * the transcript.  Before 1.3, whether the ServerHello agreed to it. */
    if (c->tls13 || c->ems < 0)
        ev_null(e, "ems");
    else
        ev_bool(e, "ems", c->ems == 1);
    ktls_field(e, s);
    peer_cert_field(e, s, c);
    cert_field(e, "local_cert", ossl.SSL_get_certificate(s), true);
}
