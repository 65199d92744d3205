/* hello.h — the hello-phase handshake messages (ClientHello, ServerHello,
 * HelloRetryRequest, EncryptedExtensions, CertificateRequest) as fields of a
 * line, and the certificates of a Certificate message, parsed from the bytes
 * OpenSSL's msg callback delivers.
 *
 * The bytes come from the peer: every length is checked against what is
 * there, nothing is read outside msg[0..len), and what a hostile peer can
 * make the line grow to is bounded (lists and names are capped; see
 * hello.c).  One pass, no allocation, no OpenSSL call but through the
 * lookups below. */
#ifndef SHIM_HELLO_H
#define SHIM_HELLO_H

#include "event.h"

#include <stdbool.h>
#include <stddef.h>

struct hello_lookup {
    /* OpenSSL's name of a cipher suite by its two-byte code, or NULL (then "0x1301"-style hex is written) */
    const char *(*cipher_name)(void *arg, unsigned code);
    /* A DER X509_NAME as text ("/C=../CN=.."), false when it cannot (then the name is written as hex) */
    bool (*dn_text)(void *arg, const unsigned char *der, size_t len, char *out, size_t cap);
    void *arg;
};

/* Whether a handshake message of this type is one hello_fields describes:
   ClientHello(1), ServerHello(2, also HelloRetryRequest), EncryptedExtensions(8), CertificateRequest(13). */
bool hello_wanted(int hs_type);

/* Appends to e the fields describing msg: a whole handshake message as OpenSSL's msg callback
   delivers it (1-byte type, 3-byte length, body). tls13: the connection runs TLS 1.3 (the
   msg callback's version argument; it decides the CertificateRequest layout). lk may be NULL
   or have NULL members. Returns the message's name ("ClientHello", "ServerHello",
   "HelloRetryRequest", "EncryptedExtensions", "CertificateRequest"). It writes the "hs" field first.
   A message that is none of them (hello_wanted false) is named by its type ("unknown" if it has
   none) and marked "invalid":"not a hello message". */
const char *hello_fields(struct ev *e, const unsigned char *msg, size_t len, bool tls13,
                         const struct hello_lookup *lk);

/* The DER certificates of a Certificate message (type 11; TLS 1.3 layout with the
   request context and per-entry extensions when tls13). Fills out[0..max) with pointers
   into msg; returns how many entries the message has (may exceed max; only max are
   filled); sets *invalid when a length does not fit (entries before the bad one are kept),
   and clears it otherwise (invalid may be NULL). */
struct der_span { const unsigned char *p; size_t len; };
size_t hello_certificate_entries(const unsigned char *msg, size_t len, bool tls13,
                                 struct der_span *out, size_t max, bool *invalid);

#endif
