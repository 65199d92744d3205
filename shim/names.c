/* names.c — tables of protocol names (RFC 8446, RFC 5246 and their registries). */
#include "names.h"

#include <openssl/ssl.h>

#define ENTRY(code, name) [code] = name

static const char *const alert_names[256] = {
    ENTRY(0, "close_notify"),           ENTRY(10, "unexpected_message"),
    ENTRY(20, "bad_record_mac"),        ENTRY(21, "decryption_failed"),
    ENTRY(22, "record_overflow"),       ENTRY(30, "decompression_failure"),
    ENTRY(40, "handshake_failure"),     ENTRY(41, "no_certificate"),
    ENTRY(42, "bad_certificate"),       ENTRY(43, "unsupported_certificate"),
    ENTRY(44, "certificate_revoked"),   ENTRY(45, "certificate_expired"),
    ENTRY(46, "certificate_unknown"),   ENTRY(47, "illegal_parameter"),
    ENTRY(48, "unknown_ca"),            ENTRY(49, "access_denied"),
    ENTRY(50, "decode_error"),          ENTRY(51, "decrypt_error"),
    ENTRY(60, "export_restriction"),    ENTRY(70, "protocol_version"),
    ENTRY(71, "insufficient_security"), ENTRY(80, "internal_error"),
    ENTRY(86, "inappropriate_fallback"), ENTRY(90, "user_canceled"),
    ENTRY(100, "no_renegotiation"),     ENTRY(109, "missing_extension"),
    ENTRY(110, "unsupported_extension"), ENTRY(111, "certificate_unobtainable"),
    ENTRY(112, "unrecognized_name"),    ENTRY(113, "bad_certificate_status_response"),
    ENTRY(114, "bad_certificate_hash_value"), ENTRY(115, "unknown_psk_identity"),
    ENTRY(116, "certificate_required"), ENTRY(120, "no_application_protocol"),
};

static const char *const handshake_names[256] = {
    ENTRY(0, "HelloRequest"),           ENTRY(1, "ClientHello"),
    ENTRY(2, "ServerHello"),            ENTRY(3, "HelloVerifyRequest"),
    ENTRY(4, "NewSessionTicket"),       ENTRY(5, "EndOfEarlyData"),
    ENTRY(8, "EncryptedExtensions"),    ENTRY(11, "Certificate"),
    ENTRY(12, "ServerKeyExchange"),     ENTRY(13, "CertificateRequest"),
    ENTRY(14, "ServerHelloDone"),       ENTRY(15, "CertificateVerify"),
    ENTRY(16, "ClientKeyExchange"),     ENTRY(20, "Finished"),
    ENTRY(21, "CertificateURL"),        ENTRY(22, "CertificateStatus"),
    ENTRY(23, "SupplementalData"),      ENTRY(24, "KeyUpdate"),
    ENTRY(25, "CompressedCertificate"), ENTRY(254, "MessageHash"),
};

const char *alert_desc_name(int code)
{
    return code >= 0 && code < 256 ? alert_names[code] : NULL;
}

const char *handshake_msg_name(int type)
{
    return type >= 0 && type < 256 ? handshake_names[type] : NULL;
}

const char *ssl_error_name(int err)
{
    switch (err) {
    case SSL_ERROR_NONE: return "SSL_ERROR_NONE";
    case SSL_ERROR_SSL: return "SSL_ERROR_SSL";
    case SSL_ERROR_WANT_READ: return "SSL_ERROR_WANT_READ";
    case SSL_ERROR_WANT_WRITE: return "SSL_ERROR_WANT_WRITE";
    case SSL_ERROR_WANT_X509_LOOKUP: return "SSL_ERROR_WANT_X509_LOOKUP";
    case SSL_ERROR_SYSCALL: return "SSL_ERROR_SYSCALL";
    case SSL_ERROR_ZERO_RETURN: return "SSL_ERROR_ZERO_RETURN";
    case SSL_ERROR_WANT_CONNECT: return "SSL_ERROR_WANT_CONNECT";
    case SSL_ERROR_WANT_ACCEPT: return "SSL_ERROR_WANT_ACCEPT";
    case SSL_ERROR_WANT_ASYNC: return "SSL_ERROR_WANT_ASYNC";
    case SSL_ERROR_WANT_ASYNC_JOB: return "SSL_ERROR_WANT_ASYNC_JOB";
    case SSL_ERROR_WANT_CLIENT_HELLO_CB: return "SSL_ERROR_WANT_CLIENT_HELLO_CB";
    default: return "SSL_ERROR_UNKNOWN";
    }
}

const char *protocol_version_name(int v)
{
    switch (v) {
    case SSL3_VERSION: return "SSLv3";
    case TLS1_VERSION: return "TLSv1";
    case TLS1_1_VERSION: return "TLSv1.1";
    case TLS1_2_VERSION: return "TLSv1.2";
    case TLS1_3_VERSION: return "TLSv1.3";
    case DTLS1_VERSION: return "DTLSv1";
    case DTLS1_2_VERSION: return "DTLSv1.2";
    default: return NULL;
    }
}

/* SSL_state_string_long's names by OSSL_HANDSHAKE_STATE.  The enum has only
 * grown at its end since 1.1.0, so the values are the same in 1.1.1 and 3.x;
 * states added later (3.2's compressed certificates) fall to "unknown state". */
static const char *const state_names[] = {
    [TLS_ST_BEFORE] = "before SSL initialization",
    [TLS_ST_OK] = "SSL negotiation finished successfully",
    [DTLS_ST_CR_HELLO_VERIFY_REQUEST] = "DTLS1 read hello verify request",
    [TLS_ST_CR_SRVR_HELLO] = "SSLv3/TLS read server hello",
    [TLS_ST_CR_CERT] = "SSLv3/TLS read server certificate",
    [TLS_ST_CR_CERT_STATUS] = "SSLv3/TLS read certificate status",
    [TLS_ST_CR_KEY_EXCH] = "SSLv3/TLS read server key exchange",
    [TLS_ST_CR_CERT_REQ] = "SSLv3/TLS read server certificate request",
    [TLS_ST_CR_SRVR_DONE] = "SSLv3/TLS read server done",
    [TLS_ST_CR_SESSION_TICKET] = "SSLv3/TLS read server session ticket",
    [TLS_ST_CR_CHANGE] = "SSLv3/TLS read change cipher spec",
    [TLS_ST_CR_FINISHED] = "SSLv3/TLS read finished",
    [TLS_ST_CW_CLNT_HELLO] = "SSLv3/TLS write client hello",
    [TLS_ST_CW_CERT] = "SSLv3/TLS write client certificate",
    [TLS_ST_CW_KEY_EXCH] = "SSLv3/TLS write client key exchange",
    [TLS_ST_CW_CERT_VRFY] = "SSLv3/TLS write certificate verify",
    [TLS_ST_CW_CHANGE] = "SSLv3/TLS write change cipher spec",
    [TLS_ST_CW_NEXT_PROTO] = "SSLv3/TLS write next proto",
    [TLS_ST_CW_FINISHED] = "SSLv3/TLS write finished",
    [TLS_ST_SW_HELLO_REQ] = "SSLv3/TLS write hello request",
    [TLS_ST_SR_CLNT_HELLO] = "SSLv3/TLS read client hello",
    [DTLS_ST_SW_HELLO_VERIFY_REQUEST] = "DTLS1 write hello verify request",
    [TLS_ST_SW_SRVR_HELLO] = "SSLv3/TLS write server hello",
    [TLS_ST_SW_CERT] = "SSLv3/TLS write certificate",
    [TLS_ST_SW_KEY_EXCH] = "SSLv3/TLS write key exchange",
    [TLS_ST_SW_CERT_REQ] = "SSLv3/TLS write certificate request",
    [TLS_ST_SW_SRVR_DONE] = "SSLv3/TLS write server done",
    [TLS_ST_SR_CERT] = "SSLv3/TLS read client certificate",
    [TLS_ST_SR_KEY_EXCH] = "SSLv3/TLS read client key exchange",
    [TLS_ST_SR_CERT_VRFY] = "SSLv3/TLS read certificate verify",
    [TLS_ST_SR_NEXT_PROTO] = "SSLv3/TLS read next proto",
    [TLS_ST_SR_CHANGE] = "SSLv3/TLS read change cipher spec",
    [TLS_ST_SR_FINISHED] = "SSLv3/TLS read finished",
    [TLS_ST_SW_SESSION_TICKET] = "SSLv3/TLS write session ticket",
    [TLS_ST_SW_CERT_STATUS] = "SSLv3/TLS write certificate status",
    [TLS_ST_SW_CHANGE] = "SSLv3/TLS write change cipher spec",
    [TLS_ST_SW_FINISHED] = "SSLv3/TLS write finished",
    [TLS_ST_SW_ENCRYPTED_EXTENSIONS] = "TLSv1.3 write encrypted extensions",
    [TLS_ST_CR_ENCRYPTED_EXTENSIONS] = "TLSv1.3 read encrypted extensions",
    [TLS_ST_CR_CERT_VRFY] = "TLSv1.3 read server certificate verify",
    [TLS_ST_SW_CERT_VRFY] = "TLSv1.3 write server certificate verify",
    [TLS_ST_CR_HELLO_REQ] = "SSLv3/TLS read hello request",
    [TLS_ST_SW_KEY_UPDATE] = "TLSv1.3 write server key update",
    [TLS_ST_CW_KEY_UPDATE] = "TLSv1.3 write client key update",
    [TLS_ST_SR_KEY_UPDATE] = "TLSv1.3 read client key update",
    [TLS_ST_CR_KEY_UPDATE] = "TLSv1.3 read server key update",
    [TLS_ST_EARLY_DATA] = "TLSv1.3 early data",
    [TLS_ST_PENDING_EARLY_DATA_END] = "TLSv1.3 pending early data end",
    [TLS_ST_CW_END_OF_EARLY_DATA] = "TLSv1.3 write end of early data",
    [TLS_ST_SR_END_OF_EARLY_DATA] = "TLSv1.3 read end of early data",
};

const char *handshake_state_name(int state)
{
    if (state < 0 || (size_t)state >= sizeof state_names / sizeof state_names[0] ||
        !state_names[state])
        return "unknown state";
    return state_names[state];
}

/* TLS Supported Groups (RFC 8446 4.2.7, RFC 7919, RFC 8422, RFC 8734 and
 * the ML-KEM groups of draft-ietf-tls-mlkem and -ecdhe-mlkem) by IANA's
 * names, which are OpenSSL's for the groups it has.  A switch: the compiler
 * makes it a jump table or a binary search, never a scan. */
const char *tls_group_name(unsigned id)
{
    switch (id) {
    case 1: return "sect163k1";
    case 2: return "sect163r1";
    case 3: return "sect163r2";
    case 4: return "sect193r1";
    case 5: return "sect193r2";
    case 6: return "sect233k1";
    case 7: return "sect233r1";
    case 8: return "sect239k1";
    case 9: return "sect283k1";
    case 10: return "sect283r1";
    case 11: return "sect409k1";
    case 12: return "sect409r1";
    case 13: return "sect571k1";
    case 14: return "sect571r1";
    case 15: return "secp160k1";
    case 16: return "secp160r1";
    case 17: return "secp160r2";
    case 18: return "secp192k1";
    case 19: return "secp192r1";
    case 20: return "secp224k1";
    case 21: return "secp224r1";
    case 22: return "secp256k1";
    case 23: return "secp256r1";
    case 24: return "secp384r1";
    case 25: return "secp521r1";
    case 26: return "brainpoolP256r1";
    case 27: return "brainpoolP384r1";
    case 28: return "brainpoolP512r1";
    case 29: return "x25519";
    case 30: return "x448";
    case 31: return "brainpoolP256r1tls13";
    case 32: return "brainpoolP384r1tls13";
    case 33: return "brainpoolP512r1tls13";
    case 34: return "GC256A";
    case 35: return "GC256B";
    case 36: return "GC256C";
    case 37: return "GC256D";
    case 38: return "GC512A";
    case 39: return "GC512B";
    case 40: return "GC512C";
    case 41: return "curveSM2";
    case 0x0100: return "ffdhe2048";
    case 0x0101: return "ffdhe3072";
    case 0x0102: return "ffdhe4096";
    case 0x0103: return "ffdhe6144";
    case 0x0104: return "ffdhe8192";
    case 0x0200: return "MLKEM512";
    case 0x0201: return "MLKEM768";
    case 0x0202: return "MLKEM1024";
    case 0x11eb: return "SecP256r1MLKEM768";
    case 0x11ec: return "X25519MLKEM768";
    case 0x11ed: return "SecP384r1MLKEM1024";
    case 0x6399: return "X25519Kyber768Draft00";
    case 0xff01: return "arbitrary_explicit_prime_curves";
    case 0xff02: return "arbitrary_explicit_char2_curves";
    default: return NULL;
    }
}

/* TLS SignatureScheme (RFC 8446 4.2.3, RFC 8998, RFC 9367) by IANA's names,
 * which OpenSSL uses too; the TLS 1.2 hash/signature pairs that have no
 * SignatureScheme name are named as OpenSSL's trace names them
 * (ssl/t1_trce.c: "dsa_sha256", "ecdsa_sha224", "gost2012_256"). */
const char *tls_sigalg_name(unsigned id)
{
    switch (id) {
    case 0x0201: return "rsa_pkcs1_sha1";
    case 0x0202: return "dsa_sha1";
    case 0x0203: return "ecdsa_sha1";
    case 0x0301: return "rsa_pkcs1_sha224";
    case 0x0302: return "dsa_sha224";
    case 0x0303: return "ecdsa_sha224";
    case 0x0401: return "rsa_pkcs1_sha256";
    case 0x0402: return "dsa_sha256";
    case 0x0403: return "ecdsa_secp256r1_sha256";
    case 0x0420: return "rsa_pkcs1_sha256_legacy";
    case 0x0501: return "rsa_pkcs1_sha384";
    case 0x0502: return "dsa_sha384";
    case 0x0503: return "ecdsa_secp384r1_sha384";
    case 0x0520: return "rsa_pkcs1_sha384_legacy";
    case 0x0601: return "rsa_pkcs1_sha512";
    case 0x0602: return "dsa_sha512";
    case 0x0603: return "ecdsa_secp521r1_sha512";
    case 0x0620: return "rsa_pkcs1_sha512_legacy";
    case 0x0708: return "sm2sig_sm3";
    case 0x0709: return "gostr34102012_256a";
    case 0x070a: return "gostr34102012_256b";
    case 0x070b: return "gostr34102012_256c";
    case 0x070c: return "gostr34102012_256d";
    case 0x070d: return "gostr34102012_512a";
    case 0x070e: return "gostr34102012_512b";
    case 0x070f: return "gostr34102012_512c";
    case 0x0804: return "rsa_pss_rsae_sha256";
    case 0x0805: return "rsa_pss_rsae_sha384";
    case 0x0806: return "rsa_pss_rsae_sha512";
    case 0x0807: return "ed25519";
    case 0x0808: return "ed448";
    case 0x0809: return "rsa_pss_pss_sha256";
    case 0x080a: return "rsa_pss_pss_sha384";
    case 0x080b: return "rsa_pss_pss_sha512";
    case 0x081a: return "ecdsa_brainpoolP256r1tls13_sha256";
    case 0x081b: return "ecdsa_brainpoolP384r1tls13_sha384";
    case 0x081c: return "ecdsa_brainpoolP512r1tls13_sha512";
    case 0x0904: return "mldsa44";
    case 0x0905: return "mldsa65";
    case 0x0906: return "mldsa87";
    case 0xeded: return "gost2001_gost94";
    case 0xeeee: return "gost2012_256";
    case 0xefef: return "gost2012_512";
    default: return NULL;
    }
}

/* ClientCertificateType of a TLS 1.2 CertificateRequest (RFC 5246 7.4.4,
 * RFC 8422 5.5, RFC 9189), named as OpenSSL's trace names them. */
const char *tls_cert_type_name(unsigned id)
{
    switch (id) {
    case 1: return "rsa_sign";
    case 2: return "dss_sign";
    case 3: return "rsa_fixed_dh";
    case 4: return "dss_fixed_dh";
    case 5: return "rsa_ephemeral_dh";
    case 6: return "dss_ephemeral_dh";
    case 20: return "fortezza_dms";
    case 64: return "ecdsa_sign";
    case 65: return "rsa_fixed_ecdh";
    case 66: return "ecdsa_fixed_ecdh";
    case 67: return "gost_sign256";
    case 68: return "gost_sign512";
    default: return NULL;
    }
}

/* OpenSSL's names of the cipher suites programs offer, by their two-byte
 * code (as `openssl ciphers -V` lists them): asking libssl (SSL_CIPHER_find)
 * costs a search per suite of every ClientHello.  NULL: not one of these. */
const char *tls_cipher_name(unsigned code)
{
    switch (code) {
    case 0x002f: return "AES128-SHA";
    case 0x0033: return "DHE-RSA-AES128-SHA";
    case 0x0035: return "AES256-SHA";
    case 0x0039: return "DHE-RSA-AES256-SHA";
    case 0x003c: return "AES128-SHA256";
    case 0x003d: return "AES256-SHA256";
    case 0x0067: return "DHE-RSA-AES128-SHA256";
    case 0x006b: return "DHE-RSA-AES256-SHA256";
    case 0x009c: return "AES128-GCM-SHA256";
    case 0x009d: return "AES256-GCM-SHA384";
    case 0x009e: return "DHE-RSA-AES128-GCM-SHA256";
    case 0x009f: return "DHE-RSA-AES256-GCM-SHA384";
    case 0x1301: return "TLS_AES_128_GCM_SHA256";
    case 0x1302: return "TLS_AES_256_GCM_SHA384";
    case 0x1303: return "TLS_CHACHA20_POLY1305_SHA256";
    case 0x1304: return "TLS_AES_128_CCM_SHA256";
    case 0x1305: return "TLS_AES_128_CCM_8_SHA256";
    case 0xc009: return "ECDHE-ECDSA-AES128-SHA";
    case 0xc00a: return "ECDHE-ECDSA-AES256-SHA";
    case 0xc013: return "ECDHE-RSA-AES128-SHA";
    case 0xc014: return "ECDHE-RSA-AES256-SHA";
    case 0xc023: return "ECDHE-ECDSA-AES128-SHA256";
    case 0xc024: return "ECDHE-ECDSA-AES256-SHA384";
    case 0xc027: return "ECDHE-RSA-AES128-SHA256";
    case 0xc028: return "ECDHE-RSA-AES256-SHA384";
    case 0xc02b: return "ECDHE-ECDSA-AES128-GCM-SHA256";
    case 0xc02c: return "ECDHE-ECDSA-AES256-GCM-SHA384";
    case 0xc02f: return "ECDHE-RSA-AES128-GCM-SHA256";
    case 0xc030: return "ECDHE-RSA-AES256-GCM-SHA384";
    case 0xc09c: return "AES128-CCM";
    case 0xc09d: return "AES256-CCM";
    case 0xc09e: return "DHE-RSA-AES128-CCM";
    case 0xc09f: return "DHE-RSA-AES256-CCM";
    case 0xc0a0: return "AES128-CCM8";
    case 0xc0a1: return "AES256-CCM8";
    case 0xc0a2: return "DHE-RSA-AES128-CCM8";
    case 0xc0a3: return "DHE-RSA-AES256-CCM8";
    case 0xc0ac: return "ECDHE-ECDSA-AES128-CCM";
    case 0xc0ad: return "ECDHE-ECDSA-AES256-CCM";
    case 0xc0ae: return "ECDHE-ECDSA-AES128-CCM8";
    case 0xc0af: return "ECDHE-ECDSA-AES256-CCM8";
    case 0xcca8: return "ECDHE-RSA-CHACHA20-POLY1305";
    case 0xcca9: return "ECDHE-ECDSA-CHACHA20-POLY1305";
    case 0xccaa: return "DHE-RSA-CHACHA20-POLY1305";
    default: return NULL;
    }
}
