/* dual_conn.c — see dual_conn.h.  Uses only calls that OpenSSL 1.1.1 and
 * every 3.x have with the same prototype. */
#include "dual_conn.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

static int connect_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static const char *reason(void)
{
    const char *r = ERR_reason_error_string(ERR_peek_last_error());
    return r ? r : "-";
}

__attribute__((visibility("default"))) int dual_connect(int port, const char *cafile,
                                                        char *result, size_t size)
{
    const char *lib = OpenSSL_version(OPENSSL_VERSION);
    int rc = 1;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        snprintf(result, size, "%s | CTX_FAIL %s", lib, reason());
        return 1;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1) {
        snprintf(result, size, "%s | CAFILE_FAIL %s", lib, reason());
        SSL_CTX_free(ctx);
        return 1;
    }
    int fd = connect_port(port);
    if (fd < 0) {
        snprintf(result, size, "%s | CONNECT_FAIL", lib);
        SSL_CTX_free(ctx);
        return 1;
    }
    SSL *ssl = SSL_new(ctx);
    if (!ssl) {
        snprintf(result, size, "%s | SSL_NEW_FAIL %s", lib, reason());
        close(fd);
        SSL_CTX_free(ctx);
        return 1;
    }
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    if (SSL_connect(ssl) != 1) {
        snprintf(result, size, "%s | HANDSHAKE_FAIL %s", lib, reason());
    } else {
        char buf[16] = {0};
        int w = SSL_write(ssl, "ping\n", 5);
        int got = 0;
        while (w == 5 && got < 5) {
            int r = SSL_read(ssl, buf + got, (int)sizeof buf - 1 - got);
            if (r <= 0)
                break;
            got += r;
        }
        int echoed = got == 5 && memcmp(buf, "ping\n", 5) == 0;
        snprintf(result, size, "%s | HANDSHAKE_OK %s %s %s", lib, SSL_get_version(ssl),
                 SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)),
                 echoed ? "ECHO_OK" : "ECHO_FAIL");
        rc = echoed ? 0 : 1;
        SSL_shutdown(ssl);
    }
    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(ctx);
    return rc;
}
