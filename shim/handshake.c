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

/* The certificate objects of handshake_done, remembered as finished text:
 * a server presents the same certificate to every client, and a client meets
 * the same few servers again and again.  An entry is found by the DER
 * encoding (a peer's certificate is a new object on each full handshake,
 * its DER is in the Certificate message) or by address: the program's own
 * certificate is the same object on every connection, and a resumed session
 * hands back the peer's object of the handshake that made it.  An entry
 * holds a reference to each object it keeps the address of (the latest one
 * of either kind), so that address cannot be reused by another object while
 * the entry lives.  Only ever tried with trylock, so a fork child can never
 * wait on it. */
#define CERT_MEMOS 8
static struct cert_memo {
    unsigned serial;                 /* changes whenever the entry is replaced */
    const struct ossl_api *api;      /* the library x belongs to: entries are
                                        never matched, or freed, across two */
    X509 *x[2];                      /* by address: [0] the program's own, [1] a peer's */
    unsigned char *der;
    size_t der_len;
    char *text;                      /* the object, from '{' to '}' */
    size_t text_len;
} memos[CERT_MEMOS];
static unsigned next_memo;
static pthread_mutex_t memos_lock = PTHREAD_MUTEX_INITIALIZER;

/* The memo lock is a leaf (nothing else is taken under it): fork handlers
 * take it last, so a child never inherits it locked. */
void handshake_atfork_prepare(void) { pthread_mutex_lock(&memos_lock); }
void handshake_atfork_parent(void) { pthread_mutex_unlock(&memos_lock); }
void handshake_atfork_child(void) { pthread_mutex_unlock(&memos_lock); }

/* DER encoding of an object by its i2d function, malloc'ed. */
static unsigned char *der_of(int (*i2d)(const void *, unsigned char **), const void *obj,
                             size_t *len)
{
    int n = i2d(obj, NULL);
    if (n <= 0)
        return NULL;
    unsigned char *der = malloc((size_t)n);
    unsigned char *p = der;
    if (der && i2d(obj, &p) != n) {
        free(der);
        der = NULL;
    }
    *len = (size_t)n;
    return der;
}

/* Keep x's address in m (memos_lock held). */
static void memo_rekey(struct cert_memo *m, X509 *x, bool local)
{
    X509 **slot = &m->x[local ? 0 : 1];
    if (!x || *slot == x)
        return;
    ossl.X509_up_ref(x);
    if (*slot)
        m->api->X509_free(*slot);
    *slot = x;
}

/* Append `key` and the remembered object for x, found by address or, with
 * `der`, by encoding; false when there is none. */
static bool memo_recall(struct ev *e, const char *key, X509 *x, const unsigned char *der,
                        size_t der_len, bool local)
{
    bool found = false;
    if (pthread_mutex_trylock(&memos_lock) != 0)
        return false;
    for (unsigned i = 0; i < CERT_MEMOS && !found; i++) {
        struct cert_memo *m = &memos[i];
        if (!m->text || m->api != ossl_current)
            continue;
        if (der) {
            found = m->der_len == der_len && memcmp(m->der, der, der_len) == 0;
            if (found)
                memo_rekey(m, x, local);
        } else {
            found = m->x[0] == x || m->x[1] == x;
        }
        if (found)
            ev_raw(e, key, m->text, m->text_len);
    }
    pthread_mutex_unlock(&memos_lock);
    return found;
}

/* Remember the object just written at e->buf[at..e->len); takes `der`. */
static void memo_keep(X509 *x, bool local, unsigned char *der, size_t der_len,
                      const struct ev *e, size_t at)
{
    size_t len = e->len - at;
    char *text = malloc(len);
    if (!text || e->failed || pthread_mutex_trylock(&memos_lock) != 0) {
        free(text);
        free(der);
        return;
    }
    memcpy(text, e->buf + at, len);
    struct cert_memo *m = &memos[next_memo++ % CERT_MEMOS];
    for (int i = 0; i < 2; i++)
        if (m->x[i])
            m->api->X509_free(m->x[i]);
    free(m->der);
    free(m->text);
    *m = (struct cert_memo){ m->serial + 1, ossl_current, { NULL, NULL }, der, der_len, text, len };
    memo_rekey(m, x, local);
    pthread_mutex_unlock(&memos_lock);
}

static int i2d_x509(const void *x, unsigned char **p) { return ossl.i2d_X509(x, p); }
static int i2d_pubkey(const void *k, unsigned char **p) { return ossl.i2d_X509_PUBKEY(k, p); }

static void sha256_field(struct ev *e, const char *key, const unsigned char *der, size_t len)
{
    uint8_t md[32];
    if (!der)
        return;
    sha256(der, len, md);
    ev_hex(e, key, md, sizeof md);
}

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

static uint32_t be24(const unsigned char *p)
{
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

void handshake_peer_certificate_msg(struct conn *c, const unsigned char *msg, size_t len,
                                    bool tls13)
{
    size_t p = 4;                                 /* type, length */
    c->peer_memo = 0;
    if (tls13) {                                  /* certificate_request_context */
        if (len < p + 1)
            return;
        p += 1 + msg[p];
    }
    if (len < p + 6)                              /* list length, first entry's length */
        return;
    size_t der_len = be24(msg + p + 3);
    const unsigned char *der = msg + p + 6;
    if (der_len == 0 || der_len > len - p - 6 || pthread_mutex_trylock(&memos_lock) != 0)
        return;
    for (unsigned i = 0; i < CERT_MEMOS; i++) {
        const struct cert_memo *m = &memos[i];
        if (m->text && m->api == ossl_current && m->der_len == der_len &&
            memcmp(m->der, der, der_len) == 0) {
            c->peer_memo = i + 1;
            c->peer_memo_serial = m->serial;
            break;
        }
    }
    pthread_mutex_unlock(&memos_lock);
}

/* The entry the peer's Certificate message matched, if it is still there;
 * x is the peer's certificate object. */
static bool memo_recall_peer(struct ev *e, const char *key, const struct conn *c, X509 *x)
{
    bool found = false;
    if (!c->peer_memo || pthread_mutex_trylock(&memos_lock) != 0)
        return false;
    struct cert_memo *m = &memos[c->peer_memo - 1];
    if (m->text && m->serial == c->peer_memo_serial) {
        memo_rekey(m, x, false);
        ev_raw(e, key, m->text, m->text_len);
        found = true;
    }
    pthread_mutex_unlock(&memos_lock);
    return found;
}

/* `local`: the program's own certificate rather than its peer's. */
static void cert_field(struct ev *e, const char *key, X509 *x, bool local)
{
    if (!x) {
        ev_null(e, key);
        return;
    }
    if (memo_recall(e, key, x, NULL, 0, local))
        return;
    size_t der_len = 0;
    unsigned char *der = der_of(i2d_x509, x, &der_len);
    if (der && memo_recall(e, key, x, der, der_len, local)) {
        free(der);
        return;
    }
    ev_obj_begin(e, key);
    size_t at = e->len - 1;                          /* its '{' */
    name_field(e, "subject", ossl.X509_get_subject_name(x));
    name_field(e, "issuer", ossl.X509_get_issuer_name(x));
    not_after_field(e, x);
    sha256_field(e, "sha256", der, der_len);
    X509_PUBKEY *pk = ossl.X509_get_X509_PUBKEY(x);
    size_t pk_len = 0;
    unsigned char *pk_der = pk ? der_of(i2d_pubkey, pk, &pk_len) : NULL;
    sha256_field(e, "spki_sha256", pk_der, pk_len);
    free(pk_der);
    ev_obj_end(e);
    if (der)
        memo_keep(x, local, der, der_len, e, at);
}

static void peer_cert_field(struct ev *e, SSL *s, const struct conn *c)
{
    bool counted = !ossl.SSL_get0_peer_certificate;  /* 1.1.1: a reference taken */
    X509 *x = counted ? (ossl.get1_peer_certificate ? ossl.get1_peer_certificate(s) : NULL)
                      : ossl.SSL_get0_peer_certificate(s);
    if (!x || !memo_recall_peer(e, "peer_cert", c, x))
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
