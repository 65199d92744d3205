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
