/* sha256.h — FIPS 180-4 SHA-256, our own so that fingerprinting a certificate
 * never touches the program's libcrypto state or error queue. */
#ifndef SHIM_SHA256_H
#define SHIM_SHA256_H

#include <stddef.h>
#include <stdint.h>

void sha256(const void *data, size_t len, uint8_t out[32]);

#endif
