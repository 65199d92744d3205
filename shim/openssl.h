/* openssl.h — the OpenSSL functions the shim uses, found at run time.
 *
 * The shim has no link-time dependency on libssl or libcrypto: their headers
 * give us types and prototypes only.  Every pointer is typed with
 * __typeof__(&name) so a call through it is checked against OpenSSL's own
 * prototype. */
#ifndef SHIM_OPENSSL_H
#define SHIM_OPENSSL_H

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdbool.h>

/* Functions with different names or prototypes across versions. */
typedef X509 *(*get_peer_cert_fn)(const SSL *);           /* 1.1.1: SSL_get_peer_certificate,
                                                              3.x: SSL_get1_peer_certificate */
typedef unsigned long (*err_get_line_data_fn)(const char **, int *, const char **, int *);
typedef void (*err_put_error_fn)(int, int, int, const char *, int);
typedef void (*err_add_error_data_fn)(int, ...);
typedef const char *(*get0_group_name_fn)(SSL *);   /* 3.2+ */

struct ossl {
#define X(name) __typeof__(&name) name; /* NOLINT(bugprone-macro-parentheses) */
#include "interposed.def"
#undef X
#define R(name) __typeof__(&name) name; /* NOLINT(bugprone-macro-parentheses) */
#define O(name) __typeof__(&name) name; /* NOLINT(bugprone-macro-parentheses) */
#include "used.def"
#undef R
#undef O
    get_peer_cert_fn get1_peer_certificate;
    err_get_line_data_fn legacy_get_error_line_data;     /* 1.1.1 */
    err_put_error_fn legacy_put_error;                  /* 1.1.1 */
    err_add_error_data_fn legacy_add_error_data;
    get0_group_name_fn SSL_get0_group_name;
    bool v3;                 /* run-time library is 3.x: error codes packed the 3.x way */
    char libssl_path[512];
};

extern struct ossl ossl;

/* Resolve everything once; true when the required functions were all found.
 * Safe to call from any thread, any number of times. */
bool ossl_resolve(void);

/* The run-time OpenSSL version string, or NULL before resolution. */
const char *ossl_version(void);

#endif
