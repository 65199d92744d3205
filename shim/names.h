/* names.h — the RFC and OpenSSL names of protocol numbers. */
#ifndef SHIM_NAMES_H
#define SHIM_NAMES_H

const char *alert_desc_name(int code);       /* "bad_record_mac", NULL if unknown */
const char *handshake_msg_name(int type);    /* "ClientHello", NULL if unknown */
const char *ssl_error_name(int err);         /* "SSL_ERROR_SSL" */
const char *protocol_version_name(int v);    /* 0x0304 → "TLSv1.3", NULL if unknown */

/* OpenSSL's long name of a handshake state (as SSL_state_string_long gives
 * it outside the error state), "unknown state" if we do not know it. */
const char *handshake_state_name(int state);

#endif
