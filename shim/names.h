/* names.h — the RFC and OpenSSL names of protocol numbers. */
#ifndef SHIM_NAMES_H
#define SHIM_NAMES_H

const char *alert_desc_name(int code);       /* "bad_record_mac", NULL if unknown */
const char *handshake_msg_name(int type);    /* "ClientHello", NULL if unknown */
const char *ssl_error_name(int err);         /* "SSL_ERROR_SSL" */
const char *protocol_version_name(int v);    /* 0x0304 → "TLSv1.3", NULL if unknown */

#endif
