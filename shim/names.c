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
