/* failure.c — what a failure line carries to explain itself.
 *
 * An alert or an error names what went wrong, rarely why.  The why is in
 * what the two sides had: the verification result and the name the
 * program asked to check, this side's own settings when the hello phase
 * found nothing in common, the first bytes of a peer that does not speak
 * TLS.  Everything here is read with getters that change nothing, and only
 * on the failure path. */
#include "failure.h"

#include "current.h"
#include "errqueue.h"
#include "names.h"
#include "record.h"
#include "settings.h"
#include "sslshim.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define OFFER_MAX 64                 /* cipher suites listed */

/* ---- verification ------------------------------------------------------ */

static X509 *chain_at(const STACK_OF(X509) *chain, int i)
{
    const OPENSSL_STACK *st = (const OPENSSL_STACK *)chain;
    return chain && i >= 0 && i < ossl.OPENSSL_sk_num(st) ? ossl.OPENSSL_sk_value(st, i) : NULL;
}

/* Which certificate of the chain OpenSSL built the result is about.  The
 * depth itself is only known to a verify callback; each result names a
 * certificate that can be found again: the leaf for name checks, the top of
 * the chain built so far for a missing issuer, the first one out of its
 * validity period for time errors.  -1: the result does not say. */
static int verify_depth(long code, const STACK_OF(X509) *chain)
{
    int n = chain ? ossl.OPENSSL_sk_num((const OPENSSL_STACK *)chain) : 0;
    switch (code) {
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_EMAIL_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        return 0;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        return n > 0 ? n - 1 : -1;
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_CERT_HAS_EXPIRED:
        for (int i = 0; i < n; i++) {
            X509 *x = chain_at(chain, i);
            bool early = ossl.X509_cmp_current_time(ossl.X509_get0_notBefore(x)) > 0;
            bool late = ossl.X509_cmp_current_time(ossl.X509_get0_notAfter(x)) < 0;
            if ((code == X509_V_ERR_CERT_NOT_YET_VALID && early) ||
                (code == X509_V_ERR_CERT_HAS_EXPIRED && late))
                return i;
        }
        return -1;
    default:
        return -1;
    }
}

/* get1_ip_asc raises "passed a null parameter" when no address is set: the
 * callers run this between an error-queue mark and its pop. */
static void verify_names(struct ev *e, SSL *s)
{
    X509_VERIFY_PARAM *param = ossl.SSL_get0_param(s);
    const char *host = param && ossl.X509_VERIFY_PARAM_get0_host
                           ? ossl.X509_VERIFY_PARAM_get0_host(param, 0) : NULL;
    char *ip = param && ossl.X509_VERIFY_PARAM_get1_ip_asc
                   ? ossl.X509_VERIFY_PARAM_get1_ip_asc(param) : NULL;
    ev_str(e, "host", host);
    ev_str(e, "ip", ip);
    if (ip)
        ossl.CRYPTO_free(ip, OPENSSL_FILE, OPENSSL_LINE);
}

/* Marks do not nest in 1.1.1 (a flag on the newest entry, which the inner
 * pop clears, so the outer pop would take the program's errors too): one
 * mark per entry point from outside, none inside. */
void failure_verify_names(struct ev *e, SSL *s)
{
    ossl.ERR_set_mark();
    verify_names(e, s);
    ossl.ERR_pop_to_mark();
}

static void verify_field(struct ev *e, SSL *s)
{
    long code = ossl.SSL_get_verify_result(s);
    if (code == X509_V_OK || ossl.SSL_get_verify_mode(s) == SSL_VERIFY_NONE)
        return;                      /* not asked for: a result nobody acted on */
    ossl.ERR_set_mark();
    const STACK_OF(X509) *chain = ossl.SSL_get0_verified_chain(s);
    int depth = verify_depth(code, chain);
    X509 *x = chain_at(chain, depth);
    ev_obj_begin(e, "verify");
    ev_int(e, "code", code);
    ev_str(e, "text", ossl.X509_verify_cert_error_string(code));
    if (depth >= 0)
        ev_int(e, "depth", depth);
    else
        ev_null(e, "depth");
    char name[1024];
    if (x && ossl.X509_NAME_oneline(ossl.X509_get_subject_name(x), name, sizeof name))
        ev_str(e, "subject", name);
    else
        ev_null(e, "subject");
    verify_names(e, s);
    ev_obj_end(e);
    ossl.ERR_pop_to_mark();
}

/* ---- this side's settings ---------------------------------------------- */

static void version_field(struct ev *e, const char *key, int v)
{
    ev_str(e, key, v > 0 ? protocol_version_name(v) : NULL);
}

static void version_limits(SSL *s, int *min, int *max)
{
    static const struct { int version; uint64_t off; } tls[] = {
        { TLS1_VERSION, SSL_OP_NO_TLSv1 }, { TLS1_1_VERSION, SSL_OP_NO_TLSv1_1 },
        { TLS1_2_VERSION, SSL_OP_NO_TLSv1_2 }, { TLS1_3_VERSION, SSL_OP_NO_TLSv1_3 } };
    *min = (int)ossl.SSL_ctrl(s, SSL_CTRL_GET_MIN_PROTO_VERSION, 0, NULL);
    *max = (int)ossl.SSL_ctrl(s, SSL_CTRL_GET_MAX_PROTO_VERSION, 0, NULL);
    uint64_t options = ossl.SSL_get_options(s);
    if (!(options & (SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 | SSL_OP_NO_TLSv1_2 | SSL_OP_NO_TLSv1_3)) ||
        ossl.SSL_is_dtls(s))
        return;                      /* no option limits, or DTLS (the options are TLS's) */
    int first = 0, last = 0;
    for (size_t i = 0; i < sizeof tls / sizeof tls[0]; i++) {
        int v = tls[i].version;
        if ((*min && v < *min) || (*max && v > *max) || (options & tls[i].off))
            continue;
        if (!first)
            first = v;
        last = v;
    }
    if (first) {
        *min = first == TLS1_VERSION && !*min ? 0 : first;
        *max = last == TLS1_3_VERSION && !*max ? 0 : last;
    }
}

void failure_version_fields(struct ev *e, SSL *s)
{
    int min, max;
    version_limits(s, &min, &max);
    version_field(e, "min_version", min);
    version_field(e, "max_version", max);
}

/* A list in ALPN's wire format (length-prefixed names) as a JSON array. */
static void alpn_list_field(struct ev *e, const unsigned char *p, size_t len)
{
    ev_arr_begin(e, "alpn");
    for (size_t i = 0; i < len && p[i] <= len - i - 1; i += 1 + p[i])
        ev_strn(e, NULL, p + i + 1, p[i]);
    ev_arr_end(e);
}

static void local_offer_field(struct ev *e, SSL *s, const struct conn *conn)
{
    const OPENSSL_STACK *ciphers = (const OPENSSL_STACK *)ossl.SSL_get_ciphers(s);
    int n = ciphers ? ossl.OPENSSL_sk_num(ciphers) : 0;
    ev_obj_begin(e, "local_offer");
    ev_arr_begin(e, "ciphers");
    for (int i = 0; i < n && i < OFFER_MAX; i++) {
        const SSL_CIPHER *c = ossl.OPENSSL_sk_value(ciphers, i);
        if (c)
            ev_str(e, NULL, ossl.SSL_CIPHER_get_name(c));
    }
    ev_arr_end(e);
    if (n > OFFER_MAX)
        ev_int(e, "ciphers_more", n - OFFER_MAX);
    settings_fields(e, s);
    if (conn->alpn_server_len)
        alpn_list_field(e, conn->alpn_server, conn->alpn_server_len);
    failure_version_fields(e, s);
    ev_obj_end(e);
}

void failure_fields(struct ev *e, SSL *s, struct conn *c)
{
    /* The first failure line of a handshake explains it; the ones after it
     * (the error after the alert, SSL_shutdown's) would only repeat it. */
    if (c && c->failure_explained)
        return;
    if (c)
        c->failure_explained = true;
    verify_field(e, s);
    if (!c || c->handshake_ok)
        return;
    local_offer_field(e, s, c);
    if (c->have_odd_header)
        ev_hex(e, "peer_bytes", c->odd_header, sizeof c->odd_header);
}

/* ---- this side's key ---------------------------------------------------- */

/* Whether the private key decrypts what the certificate's public key
 * encrypts: an RSA key exchange whose server key does not (a corrupted key,
 * the wrong one in an HSM) is silent about it by design (Bleichenbacher's
 * countermeasure carries on with a random secret) and surfaces as
 * bad_record_mac at Finished.  One probe per key per process. */
static bool rsa_key_decrypts(EVP_PKEY *pub, EVP_PKEY *priv)
{
    static const unsigned char probe[32] = "sslshim key check: 32 bytes ...";
    unsigned char enc[1024], dec[1024];
    size_t enc_len = sizeof enc, dec_len = sizeof dec;
    EVP_PKEY_CTX *ctx = ossl.EVP_PKEY_CTX_new(pub, NULL);
    bool ok = ctx && ossl.EVP_PKEY_encrypt_init(ctx) > 0 &&
              ossl.EVP_PKEY_encrypt(ctx, enc, &enc_len, probe, sizeof probe) > 0;
    ossl.EVP_PKEY_CTX_free(ctx);
    if (!ok)
        return true;                 /* cannot tell: say nothing against it */
    ctx = ossl.EVP_PKEY_CTX_new(priv, NULL);
    ok = ctx && ossl.EVP_PKEY_decrypt_init(ctx) > 0 &&
         ossl.EVP_PKEY_decrypt(ctx, dec, &dec_len, enc, enc_len) > 0 &&
         dec_len == sizeof probe && memcmp(dec, probe, sizeof probe) == 0;
    ossl.EVP_PKEY_CTX_free(ctx);
    return ok;
}

void failure_key_check(struct ev *e, SSL *s)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static const EVP_PKEY *checked;
    static bool checked_match;
    X509 *x = ossl.SSL_get_certificate(s);
    EVP_PKEY *priv = ossl.SSL_get_privatekey(s);
    if (!x || !priv || !ossl.pkey_eq || !ossl.pkey_base_id || !ossl.pkey_bits ||
        pthread_mutex_trylock(&lock) != 0)
        return;
    ossl.ERR_set_mark();
    EVP_PKEY *pub = ossl.X509_get0_pubkey(x);
    bool match = checked_match;
    if (pub && checked != priv) {
        match = ossl.pkey_eq(pub, priv) == 1;
        if (match && ossl.pkey_base_id(priv) == EVP_PKEY_RSA && ossl.pkey_bits(priv) <= 8192)
            match = rsa_key_decrypts(pub, priv);
        checked = priv;
        checked_match = match;
    }
    ossl.ERR_pop_to_mark();
    pthread_mutex_unlock(&lock);
    if (!pub)
        return;
    ev_obj_begin(e, "key_check");
    ev_bool(e, "match", match);
    ev_str(e, "key", ossl.pkey_base_id(priv) == EVP_PKEY_RSA ? "RSA" : NULL);
    ev_obj_end(e);
}

/* ---- the error event --------------------------------------------------- */

bool failure_is_eof(int err, int ret, int saved_errno)
{
    if (err == SSL_ERROR_SYSCALL && ret == 0 && saved_errno == 0)
        return true;                                   /* OpenSSL 1.1.1 */
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
    return err == SSL_ERROR_SSL && ossl.v3 &&
           errqueue_last_is(ERR_LIB_SSL, SSL_R_UNEXPECTED_EOF_WHILE_READING);
#else
    return false;
#endif
}

__attribute__((cold)) void failure_record_error(struct conn *c, SSL *s, const char *fn, int ret,
                                                int err, int saved_errno)
{
    char buf[128];
    /* SSL_shutdown on an SSL that never began a handshake, or after the
     * connection already failed, fails with "shutdown while in init": no
     * connection failed there, or none that had not already. */
    bool shutdown = strcmp(fn, "SSL_shutdown") == 0;
    if (c && c->handshakes == 0 && shutdown)
        return;
    bool eof = failure_is_eof(err, ret, saved_errno);
    bool consequence = shutdown && c && (c->eof_seen || c->fatal_alert || c->error_seen);
    if (c && eof)
        c->eof_seen = true;
    else if (c && !consequence)
        c->error_seen = true;
    struct ev e;
    record_begin(&e, SSLSHIM_EV_ERROR, c);
    e.failure = true;
    snprintf(e.summary, sizeof e.summary, "%s returned %d, %s%s", fn, ret, ssl_error_name(err),
             eof ? " (unexpected EOF)" : "");
    ev_str(&e, "fn", fn);
    ev_int(&e, "ret", ret);
    ev_str(&e, "err", ssl_error_name(err));
    ev_int(&e, "errno", saved_errno);
    /* GNU strerror_r: the message may be returned rather than copied. */
    ev_str(&e, "sys", saved_errno ? strerror_r(saved_errno, buf, sizeof buf) : NULL);
    errqueue_record(&e);
    ev_str(&e, "state", conn_state(s));
    if (eof)
        ev_bool(&e, "eof", true);
    failure_fields(&e, s, c);
    if (config.stacks >= STACKS_ERRORS && c)
        current_stack_record(&e, c, true);
    record(&e);
}
