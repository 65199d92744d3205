/* names.h — the RFC and OpenSSL names of protocol numbers. */
#ifndef SHIM_NAMES_H
#define SHIM_NAMES_H

const char *alert_desc_name(int code);       /* "bad_record_mac", NULL if unknown */
const char *handshake_msg_name(int type);    /* "ClientHello", NULL if unknown */
const char *ssl_error_name(int err);         /* "SSL_ERROR_SSL" */
const char *protocol_version_name(int v);    /* 0x0304 → "TLSv1.3", NULL if unknown */

/* The registries of the hello messages (IANA's TLS parameters, with the
 * names OpenSSL uses for them); NULL if unknown.  Every name is plain ASCII
 * (no quote, backslash or control byte) of at most 40 bytes, so hello.c
 * writes them without escaping. */
const char *tls_group_name(unsigned id);      /* 29 → "x25519" */
const char *tls_sigalg_name(unsigned id);     /* 0x0804 → "rsa_pss_rsae_sha256" */
const char *tls_cert_type_name(unsigned id);  /* 64 → "ecdsa_sign" */

/* OpenSSL's long name of a handshake state (as SSL_state_string_long gives
 * it outside the error state), "unknown state" if we do not know it. */
const char *handshake_state_name(int state);

/* OpenSSL's name of a common cipher suite by its TLS code, NULL if not one. */
const char *tls_cipher_name(unsigned code);

#endif
