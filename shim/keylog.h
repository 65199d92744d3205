/* keylog.h — SSLSHIM_KEYLOG: the NSS key log format (SSLKEYLOGFILE) that
 * Wireshark reads.  The file holds secrets: mode 0600, never by default.
 *
 * Key logging in OpenSSL is a CTX callback; the shim puts its own on every
 * CTX it sees an SSL made from and calls the program's own (kept in an
 * ex_data slot of the CTX) after writing the line.  SSL_CTX_get_keylog_callback
 * still returns the program's. */
#ifndef SHIM_KEYLOG_H
#define SHIM_KEYLOG_H

#include "openssl.h"

#include <stdbool.h>

typedef void (*keylog_cb_fn)(const SSL *, const char *);

bool keylog_enabled(void);
bool keylog_init(void);                        /* after ossl_resolve() */
void keylog_attach(SSL_CTX *ctx);              /* make sure ours is installed */
void keylog_program_sets(SSL_CTX *ctx, keylog_cb_fn cb);   /* the program's setter */
keylog_cb_fn keylog_program_cb(SSL_CTX *ctx);

/* At exit: a key log line cut short is completed or taken back. */
void keylog_finish(void);

/* fork() handlers: the key log's lock is a leaf, taken last. */
void keylog_atfork_prepare(void);
void keylog_atfork_parent(void);
void keylog_atfork_child(void);

/* One key log line, written with one write(2); exposed for unit tests. */
size_t keylog_format(char *out, size_t size, const char *line);

#endif
