/* dual_conn.h — one loopback TLS client connection, made with whichever
 * libssl the object that contains dual_conn.c is linked to.
 *
 * dual_conn.c is compiled twice: into dual_main (linked to one OpenSSL) and,
 * with -DDUAL_MODULE, into dual_module.so (linked to another), where the entry
 * point is called dual_module_connect so the two copies never interpose. */
#ifndef SSLSHIM_DUAL_CONN_H
#define SSLSHIM_DUAL_CONN_H

#include <stddef.h>

#ifdef DUAL_MODULE
#define dual_connect dual_module_connect
#endif

/* Connect to 127.0.0.1:port, verify the server against cafile with SNI
 * "localhost", send "ping\n" and read it back, shut down.  Writes
 * "<OpenSSL_version()> | HANDSHAKE_OK <version> <cipher> ECHO_OK" (or
 * HANDSHAKE_FAIL <reason> / ECHO_FAIL) into result; 0 on full success. */
int dual_connect(int port, const char *cafile, char *result, size_t size);

typedef int (*dual_connect_fn)(int, const char *, char *, size_t);

#endif
