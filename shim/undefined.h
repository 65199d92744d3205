/* undefined.h — plaintext the program never initialised (SSLSHIM_VALGRIND,
 * under memcheck): every SSL_write buffer is checked for undefined bytes,
 * the classic cause of a peer's bad_record_mac under Purify or Valgrind. */
#ifndef SHIM_UNDEFINED_H
#define SHIM_UNDEFINED_H

#include <stddef.h>

struct conn;

/* Record undefined_data if buf holds undefined bytes (memcheck only). */
void undefined_check_write(struct conn *c, const char *fn, const void *buf, size_t len);

#endif
