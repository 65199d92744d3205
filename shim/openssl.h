/* openssl.h — the OpenSSL functions the shim uses, found at run time.
 *
 * The shim has no link-time dependency on libssl or libcrypto: their headers
 * give us types and prototypes only.  Every pointer is typed with
 * __typeof__(&name) so a call through it is checked against OpenSSL's own
 * prototype.
 *
 * One process may hold two OpenSSL libraries (a program linked to 3.x that
 * dlopens a module linked to 1.1.1, or the reverse).  They are told apart by
 * symbol version: 3.x exports its functions as OPENSSL_3.0.0, 1.1.x as
 * OPENSSL_1_1_0/OPENSSL_1_1_1, and the shim exports its wrappers under both,
 * so each caller reaches the wrapper of its own family, which uses that
 * family's table (struct ossl_api).  `ossl` names the table of the library the
 * current thread is working with: set by each wrapper and each callback. */
#ifndef SHIM_OPENSSL_H
#define SHIM_OPENSSL_H

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdbool.h>

/* Functions with different names or prototypes across versions. */
typedef X509 *(*get_peer_cert_fn)(const SSL *);           /* 1.1.1: SSL_get_peer_certificate,
                                                              3.x: SSL_get1_peer_certificate */
typedef unsigned long (*err_get_line_data_fn)(const char **, int *, const char **, int *);
typedef void (*err_put_error_fn)(int, int, int, const char *, int);
typedef void (*err_add_error_data_fn)(int, ...);
typedef const char *(*get0_group_name_fn)(SSL *);   /* 3.2+ */
typedef int (*pkey_int_fn)(const EVP_PKEY *);     /* 3.x: EVP_PKEY_get_*, 1.1.1: EVP_PKEY_* */
typedef int (*pkey_eq_fn)(const EVP_PKEY *, const EVP_PKEY *);   /* 3.x: _eq, 1.1.1: _cmp */

struct ossl_api {
#define X(name, v11) __typeof__(&name) name; /* NOLINT(bugprone-macro-parentheses) */
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
    pkey_int_fn pkey_base_id, pkey_bits;
    pkey_eq_fn pkey_eq;
    bool v3;                 /* run-time library is 3.x: error codes packed the 3.x way */
    char libssl_path[512];
    const char *version;     /* OpenSSL_version(OPENSSL_VERSION), NULL if unresolved */
    int family;              /* OSSL_FAMILY_* */
    int ssl_idx, ctx_idx, keylog_idx;   /* our ex_data slots in this library */
    int settings_ssl_idx, settings_ctx_idx;   /* settings.c's */
    bool on;                 /* recording: settings allow it and the slots exist */
    bool fast_io;            /* on, below level io, not under Valgrind: calls.h's data path */
};

enum { OSSL_FAMILY_3 = 0, OSSL_FAMILY_1_1 = 1, OSSL_FAMILIES = 2 };

extern struct ossl_api ossl_libs[OSSL_FAMILIES];
extern __thread struct ossl_api *ossl_current __attribute__((tls_model("initial-exec")));
#define ossl (*ossl_current)

/* Callbacks that OpenSSL calls get one entry point per family: each makes
 * its family's table current for the duration (callbacks may nest inside a
 * call into the other family). */
#define OSSL_TRAMPOLINE(name, suffix, family, params, args)                      \
    static void name##suffix params                                              \
    {                                                                            \
        struct ossl_api *saved = ossl_current;                                   \
        ossl_current = &ossl_libs[family];                                       \
        name args;                                                               \
        ossl_current = saved;                                                    \
    }
#define OSSL_TRAMPOLINES(name, params, args)                                     \
    OSSL_TRAMPOLINE(name, _family3, OSSL_FAMILY_3, params, args)                 \
    OSSL_TRAMPOLINE(name, _family11, OSSL_FAMILY_1_1, params, args)
#define OSSL_FAMILY_FN(name) (ossl.family == OSSL_FAMILY_3 ? name##_family3 : name##_family11)

/* Resolve a family's table once; true when the required functions were all
 * found.  Safe to call from any thread, any number of times. */
bool ossl_resolve(int family);

/* The run-time OpenSSL version string of the current table, or NULL. */
const char *ossl_version(void);

#endif
