/* cert.h — certificates as log objects: subject, issuer, names, validity,
 * serial, key, signature algorithm and the two hashes that identify the
 * certificate and its public key.  A server presents the same certificate
 * to every client and a client meets the same few servers again and again,
 * so each object is remembered as finished text and found again by its DER
 * encoding or, for objects the program holds, by address. */
#ifndef SHIM_CERT_H
#define SHIM_CERT_H

#include "event.h"
#include "openssl.h"

#include <stdbool.h>
#include <stddef.h>

/* Where a described certificate is remembered (memo slot + 1, 0: nowhere)
 * and which generation of that slot it was. */
struct cert_ref {
    unsigned memo, serial;
};

/* Appends `key` (NULL inside an array) and the object of a certificate
 * given as DER, as it came in a Certificate message; *ref says where it is
 * remembered.  DER that does not parse gives {"invalid":true,…}. */
void cert_der_field(struct ev *e, const char *key, const unsigned char *der, size_t len,
                    struct cert_ref *ref);

/* Appends `key` and the object of x; `local`: the program's own certificate
 * (kept by address, it is the same object on every connection). */
void cert_field(struct ev *e, const char *key, X509 *x, bool local);

/* Appends `key` and the object remembered at ref, if it is still there,
 * and notes x as its object; false when it is gone. */
bool cert_recall(struct ev *e, const char *key, struct cert_ref ref, X509 *x);

/* The text of a DER X509_NAME ("/C=…/CN=…"); false if it does not parse. */
bool cert_name_text(const unsigned char *der, size_t len, char *out, size_t cap);

/* fork() handlers for the memo's lock (a leaf, taken last). */
void cert_atfork_prepare(void);
void cert_atfork_parent(void);
void cert_atfork_child(void);

#endif
