/* failure.h — what a failure line carries to explain itself. */
#ifndef SHIM_FAILURE_H
#define SHIM_FAILURE_H

#include "conn.h"
#include "event.h"

#include <stdbool.h>

/* The `error` event of a call (or an SSL BIO's handshake, fn "BIO_f_ssl")
 * that failed with err (SSL_ERROR_SSL or SSL_ERROR_SYSCALL). */
void failure_record_error(struct conn *c, SSL *s, const char *fn, int ret, int err,
                          int saved_errno);

/* The fields that say why this side failed, appended to the first failure
 * event of a handshake: `verify` when verification failed, `local_offer`
 * and `peer_bytes` while the handshake runs. */
void failure_fields(struct ev *e, SSL *s, struct conn *c);

/* `host` and `ip`: what the program asked OpenSSL to check the peer's
 * certificate against (null when nothing). */
void failure_verify_names(struct ev *e, SSL *s);

/* `key_check`: whether this side's private key belongs to the certificate
 * it sends (public halves equal, and for RSA a probe encrypted to the
 * certificate decrypts), for a server whose handshake failed where a key
 * that does not is the classic cause (bad_record_mac, decrypt_error). */
void failure_key_check(struct ev *e, SSL *s);

/* `min_version` and `max_version`: this side's protocol version limits as
 * libssl applies them, the min/max settings narrowed by the SSL_OP_NO_TLSv1_x
 * options (nginx's ssl_protocols sets those); null: the library's own. */
void failure_version_fields(struct ev *e, SSL *s);

/* Whether the error just raised is the peer closing the connection without
 * close_notify (OpenSSL 3 raises it, and sends decode_error). */
bool failure_is_eof(int err, int ret, int saved_errno);

#endif
