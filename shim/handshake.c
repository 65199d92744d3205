/* handshake.c — the fields of handshake_done: version, cipher, group, ALPN,
 * resumption, verification, EMS, kTLS and both certificates.  Only getters
 * that neither change the SSL nor touch the error queue are used. */
#include "handshake.h"

#include "record.h"
#include "sha256.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A server presents the same certificate to every client: remember the
 * fingerprints of the last few encodings instead of hashing them again.
 * Only ever tried with trylock, so a fork child can never wait on it. */
#define FINGERPRINTS 8
static struct {
    unsigned char *der;
    size_t len;
    uint8_t md[32];
} fingerprints[FINGERPRINTS];
static unsigned next_fingerprint;
static pthread_mutex_t fingerprints_lock = PTHREAD_MUTEX_INITIALIZER;

static bool fingerprint_known(const unsigned char *der, size_t len, uint8_t out[32])
{
    bool found = false;
    if (pthread_mutex_trylock(&fingerprints_lock) != 0)
        return false;
    for (unsigned i = 0; i < FINGERPRINTS && !found; i++) {
        if (fingerprints[i].len == len && memcmp(fingerprints[i].der, der, len) == 0) {
            memcpy(out, fingerprints[i].md, 32);
            found = true;
        }
    }
    pthread_mutex_unlock(&fingerprints_lock);
    return found;
}

static void fingerprint_keep(unsigned char *der, size_t len, const uint8_t md[32])
{
    if (pthread_mutex_trylock(&fingerprints_lock) != 0) {
        free(der);
        return;
    }
    unsigned i = next_fingerprint++ % FINGERPRINTS;
    free(fingerprints[i].der);
    fingerprints[i].der = der;            /* reachable from here until replaced */
    fingerprints[i].len = len;
    memcpy(fingerprints[i].md, md, 32);
    pthread_mutex_unlock(&fingerprints_lock);
}

/* SHA-256 of a DER encoding produced by an i2d function. */
static bool der_sha256(int (*i2d)(const void *, unsigned char **), const void *obj,
                       uint8_t out[32])
{
    int len = i2d(obj, NULL);
    if (len <= 0)
        return false;
    unsigned char *der = malloc((size_t)len);
    if (!der)
        return false;
    unsigned char *p = der;
    if (i2d(obj, &p) != len) {
        free(der);
        return false;
    }
    if (fingerprint_known(der, (size_t)len, out)) {
        free(der);
        return true;
    }
    sha256(der, (size_t)len, out);
    fingerprint_keep(der, (size_t)len, out);
    return true;
}

static int i2d_x509(const void *x, unsigned char **p) { return ossl.i2d_X509(x, p); }
static int i2d_pubkey(const void *k, unsigned char **p) { return ossl.i2d_X509_PUBKEY(k, p); }

static void name_field(struct ev *e, const char *key, const X509_NAME *name)
{
    char buf[1024];
    if (name && ossl.X509_NAME_oneline(name, buf, sizeof buf))
        ev_str(e, key, buf);
    else
        ev_null(e, key);
}

static void not_after_field(struct ev *e, const X509 *x)
{
    const ASN1_TIME *t = ossl.X509_get0_notAfter(x);
    struct tm tm;
    char buf[32];
    if (t && ossl.ASN1_TIME_to_tm(t, &tm) &&
        strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm))
        ev_str(e, "not_after", buf);
    else
        ev_null(e, "not_after");
}

static void cert_field(struct ev *e, const char *key, X509 *x)
{
    uint8_t md[32];
    if (!x) {
        ev_null(e, key);
        return;
    }
    ev_obj_begin(e, key);
    name_field(e, "subject", ossl.X509_get_subject_name(x));
    name_field(e, "issuer", ossl.X509_get_issuer_name(x));
    not_after_field(e, x);
    if (der_sha256(i2d_x509, x, md))
        ev_hex(e, "sha256", md, sizeof md);
    X509_PUBKEY *pk = ossl.X509_get_X509_PUBKEY(x);
    if (pk && der_sha256(i2d_pubkey, pk, md))
        ev_hex(e, "spki_sha256", md, sizeof md);
    ev_obj_end(e);
}

static void peer_cert_field(struct ev *e, SSL *s)
{
    if (ossl.SSL_get0_peer_certificate) {            /* 3.x: no reference taken */
        cert_field(e, "peer_cert", ossl.SSL_get0_peer_certificate(s));
        return;
    }
    X509 *x = ossl.get1_peer_certificate ? ossl.get1_peer_certificate(s) : NULL;
    cert_field(e, "peer_cert", x);
    if (x)
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
    ev_obj_end(e);
    /* TLS 1.3 has no extended master secret: its key schedule always binds
     * the transcript.  Before 1.3, whether the ServerHello agreed to it. */
    if (c->tls13 || c->ems < 0)
        ev_null(e, "ems");
    else
        ev_bool(e, "ems", c->ems == 1);
    ktls_field(e, s);
    peer_cert_field(e, s);
    cert_field(e, "local_cert", ossl.SSL_get_certificate(s));
}
