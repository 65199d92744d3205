/* cert.c — certificates as log objects, each described once and then
 * remembered as finished text.
 *
 * An entry is found by the DER encoding (a certificate as it passes in a
 * Certificate message) or by address: the program's own certificate is the
 * same object on every connection, and a resumed session hands back the
 * peer's object of the handshake that made it.  An entry holds a reference
 * to each object it keeps the address of (the latest one of either kind),
 * so that address cannot be reused by another object while the entry lives.
 * The lock is only ever tried, so a fork child can never wait on it, and
 * everything asked of libcrypto here runs between an error-queue mark and
 * its pop: parsing a peer's bytes must leave the program's queue as it was. */
#include "cert.h"

#include "sha256.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CERT_MEMOS 16                /* both ends' chains of a few peers */
#define SAN_MAX 64                   /* names listed per certificate */

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

void cert_atfork_prepare(void) { pthread_mutex_lock(&memos_lock); }
void cert_atfork_parent(void) { pthread_mutex_unlock(&memos_lock); }
void cert_atfork_child(void) { pthread_mutex_unlock(&memos_lock); }

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

static void emit(struct ev *e, const char *key, const struct cert_memo *m)
{
    ev_raw(e, key, m->text, m->text_len);
}

/* The entry for x by address or, with `der`, by encoding: appended to e;
 * 0 when there is none, else its slot + 1 (*serial its generation). */
static unsigned memo_recall(struct ev *e, const char *key, X509 *x, const unsigned char *der,
                            size_t der_len, bool local, unsigned *serial)
{
    unsigned found = 0;
    if (pthread_mutex_trylock(&memos_lock) != 0)
        return 0;
    for (unsigned i = 0; i < CERT_MEMOS && !found; i++) {
        struct cert_memo *m = &memos[i];
        if (!m->text || m->api != ossl_current)
            continue;
        bool same = der ? m->der_len == der_len && memcmp(m->der, der, der_len) == 0
                        : m->x[0] == x || m->x[1] == x;
        if (same) {
            if (der)
                memo_rekey(m, x, local);
            emit(e, key, m);
            *serial = m->serial;
            found = i + 1;
        }
    }
    pthread_mutex_unlock(&memos_lock);
    return found;
}

/* Remember the object just written at e->buf[at..e->len), for DER `der`
 * (copied) and, if x, its address; 0 or the slot + 1. */
static unsigned memo_keep(X509 *x, bool local, const unsigned char *der, size_t der_len,
                          const struct ev *e, size_t at, unsigned *serial)
{
    size_t len = e->len - at;
    char *text = malloc(len);
    unsigned char *copy = malloc(der_len ? der_len : 1);
    if (!text || !copy || e->failed || pthread_mutex_trylock(&memos_lock) != 0) {
        free(text);
        free(copy);
        return 0;
    }
    memcpy(text, e->buf + at, len);
    memcpy(copy, der, der_len);
    unsigned slot = next_memo++ % CERT_MEMOS;
    struct cert_memo *m = &memos[slot];
    for (int i = 0; i < 2; i++)
        if (m->x[i])
            m->api->X509_free(m->x[i]);
    free(m->der);
    free(m->text);
    *m = (struct cert_memo){ m->serial + 1, ossl_current, { NULL, NULL }, copy, der_len, text, len };
    memo_rekey(m, x, local);
    *serial = m->serial;
    pthread_mutex_unlock(&memos_lock);
    return slot + 1;
}

bool cert_recall(struct ev *e, const char *key, struct cert_ref ref, X509 *x)
{
    bool found = false;
    if (!ref.memo || ref.memo > CERT_MEMOS || pthread_mutex_trylock(&memos_lock) != 0)
        return false;
    struct cert_memo *m = &memos[ref.memo - 1];
    if (m->text && m->serial == ref.serial && m->api == ossl_current) {
        memo_rekey(m, x, false);
        emit(e, key, m);
        found = true;
    }
    pthread_mutex_unlock(&memos_lock);
    return found;
}

/* ---- describing one certificate ---------------------------------------- */

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

static void time_field(struct ev *e, const char *key, const ASN1_TIME *t)
{
    struct tm tm;
    char buf[32];
    if (t && ossl.ASN1_TIME_to_tm(t, &tm) &&
        strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm))
        ev_str(e, key, buf);
    else
        ev_null(e, key);
}

/* One subject alternative name as "DNS:name", "IP:addr", "email:…", "URI:…". */
static void general_name_item(struct ev *e, const GENERAL_NAME *g)
{
    char buf[300];
    const char *prefix;
    switch (g->type) {
    case GEN_DNS: prefix = "DNS:"; break;
    case GEN_EMAIL: prefix = "email:"; break;
    case GEN_URI: prefix = "URI:"; break;
    case GEN_IPADD: prefix = "IP:"; break;
    default: return;
    }
    const ASN1_STRING *s = g->d.ia5;                 /* every one of these is a string */
    const unsigned char *data = ossl.ASN1_STRING_get0_data(s);
    int n = ossl.ASN1_STRING_length(s);
    if (!data || n < 0)
        return;
    size_t at = (size_t)snprintf(buf, sizeof buf, "%s", prefix);
    if (g->type == GEN_IPADD) {
        int family = n == 4 ? AF_INET : n == 16 ? AF_INET6 : -1;
        if (family < 0 || !inet_ntop(family, data, buf + at, (socklen_t)(sizeof buf - at)))
            return;
        ev_str(e, NULL, buf);
        return;
    }
    size_t len = (size_t)n < sizeof buf - at ? (size_t)n : sizeof buf - at;
    memcpy(buf + at, data, len);
    ev_strn(e, NULL, buf, at + len);                 /* the peer's bytes: escaped */
}

static void san_field(struct ev *e, X509 *x)
{
    GENERAL_NAMES *names = ossl.X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    if (!names)
        return;
    const OPENSSL_STACK *st = (const OPENSSL_STACK *)names;
    int n = ossl.OPENSSL_sk_num(st);
    ev_arr_begin(e, "san");
    for (int i = 0; i < n && i < SAN_MAX; i++) {
        const GENERAL_NAME *g = ossl.OPENSSL_sk_value(st, i);
        if (g)
            general_name_item(e, g);
    }
    ev_arr_end(e);
    if (n > SAN_MAX)
        ev_int(e, "san_more", n - SAN_MAX);
    ossl.GENERAL_NAMES_free(names);
}

static void serial_field(struct ev *e, const X509 *x)
{
    const ASN1_INTEGER *sn = ossl.X509_get0_serialNumber(x);
    const unsigned char *data = sn ? ossl.ASN1_STRING_get0_data(sn) : NULL;
    int n = sn ? ossl.ASN1_STRING_length(sn) : -1;
    if (data && n >= 0)
        ev_hex(e, "serial", data, n < 64 ? (size_t)n : 64);
}

static const char *key_type_name(int id)
{
    switch (id) {
    case EVP_PKEY_RSA: return "RSA";
    case EVP_PKEY_RSA_PSS: return "RSA-PSS";
    case EVP_PKEY_EC: return "EC";
    case EVP_PKEY_DSA: return "DSA";
    case EVP_PKEY_ED25519: return "ED25519";
    case EVP_PKEY_ED448: return "ED448";
    default: return NULL;
    }
}

static void key_fields(struct ev *e, X509 *x)
{
    EVP_PKEY *pk = ossl.X509_get0_pubkey(x);
    if (!pk || !ossl.pkey_base_id || !ossl.pkey_bits)
        return;
    int id = ossl.pkey_base_id(pk);
    const char *name = key_type_name(id);
    ev_str(e, "key", name ? name : ossl.OBJ_nid2ln(id));
    ev_int(e, "bits", ossl.pkey_bits(pk));
}

static int i2d_pubkey(const void *k, unsigned char **p) { return ossl.i2d_X509_PUBKEY(k, p); }

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

/* Appends `key` and x's object; returns where its '{' is in e->buf. */
static size_t describe(struct ev *e, const char *key, X509 *x, const unsigned char *der,
                       size_t der_len)
{
    ev_obj_begin(e, key);
    size_t at = e->len - 1;
    name_field(e, "subject", ossl.X509_get_subject_name(x));
    name_field(e, "issuer", ossl.X509_get_issuer_name(x));
    san_field(e, x);
    time_field(e, "not_before", ossl.X509_get0_notBefore(x));
    time_field(e, "not_after", ossl.X509_get0_notAfter(x));
    serial_field(e, x);
    key_fields(e, x);
    int sig = ossl.X509_get_signature_nid(x);
    ev_str(e, "sig_alg", sig ? ossl.OBJ_nid2ln(sig) : NULL);
    sha256_field(e, "sha256", der, der_len);
    X509_PUBKEY *pk = ossl.X509_get_X509_PUBKEY(x);
    size_t pk_len = 0;
    unsigned char *pk_der = pk ? der_of(i2d_pubkey, pk, &pk_len) : NULL;
    sha256_field(e, "spki_sha256", pk_der, pk_len);
    free(pk_der);
    ev_obj_end(e);
    return at;
}

__attribute__((cold)) static void describe_invalid(struct ev *e, const char *key,
                                                   const unsigned char *der, size_t len)
{
    ev_obj_begin(e, key);
    ev_bool(e, "invalid", true);
    ev_uint(e, "len", len);
    sha256_field(e, "sha256", der, len);
    ev_obj_end(e);
}

void cert_der_field(struct ev *e, const char *key, const unsigned char *der, size_t len,
                    struct cert_ref *ref)
{
    *ref = (struct cert_ref){ 0, 0 };
    ref->memo = memo_recall(e, key, NULL, der, len, false, &ref->serial);
    if (ref->memo)
        return;
    ossl.ERR_set_mark();
    const unsigned char *p = der;
    X509 *x = len <= 0x7fffffff ? ossl.d2i_X509(NULL, &p, (long)len) : NULL;
    if (x && p == der + len) {
        size_t at = describe(e, key, x, der, len);
        ref->memo = memo_keep(NULL, false, der, len, e, at, &ref->serial);
    } else {
        describe_invalid(e, key, der, len);
    }
    if (x)
        ossl.X509_free(x);
    ossl.ERR_pop_to_mark();
}

static int i2d_x509(const void *x, unsigned char **p) { return ossl.i2d_X509(x, p); }

void cert_field(struct ev *e, const char *key, X509 *x, bool local)
{
    unsigned serial;
    if (!x) {
        ev_null(e, key);
        return;
    }
    if (memo_recall(e, key, x, NULL, 0, local, &serial))
        return;
    ossl.ERR_set_mark();
    size_t der_len = 0;
    unsigned char *der = der_of(i2d_x509, x, &der_len);
    if (!der || !memo_recall(e, key, x, der, der_len, local, &serial)) {
        size_t at = describe(e, key, x, der, der_len);
        if (der)
            memo_keep(x, local, der, der_len, e, at, &serial);
    }
    free(der);
    ossl.ERR_pop_to_mark();
}

bool cert_name_text(const unsigned char *der, size_t len, char *out, size_t cap)
{
    if (len > 0x7fffffff || cap == 0)
        return false;
    ossl.ERR_set_mark();
    const unsigned char *p = der;
    X509_NAME *name = ossl.d2i_X509_NAME(NULL, &p, (long)len);
    bool ok = name && p == der + len && ossl.X509_NAME_oneline(name, out, (int)cap);
    if (name)
        ossl.X509_NAME_free(name);
    ossl.ERR_pop_to_mark();
    return ok;
}
