/*
 * errno_probe — what a program sees after each OpenSSL call: return value,
 * errno, SSL_get_error and the thread's error queue.  Used by
 * tests/check_faults.py: its output with the fault-injecting shim preloaded
 * must be the same as without any shim (DESIGN.md rule 3: same return values,
 * same errno, same OpenSSL error queue), whatever fails inside the shim.
 *
 * Usage: errno_probe --port N --cafile F [--rounds N] [--bad-cafile F]
 * Each round: one connection verified against --cafile (handshake, write,
 * read the echo, shutdown) and, with --bad-cafile, one whose verification
 * fails.  Before every call errno is set to a sentinel, so a call that leaves
 * errno alone prints the sentinel.
 * Exit status: 0 when the run went as expected, 1 if not, 2 on set-up failure.
 */
#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>

#define SENTINEL 4242

static void queue(char *out, size_t size)
{
    unsigned long first = ERR_peek_error(), last = ERR_peek_last_error();
    snprintf(out, size, "%lx/%lx", first, last);
}

#define PROBE(what, ssl, expr)                                                          \
    ({                                                                              \
        errno = SENTINEL;                                                           \
        long r_ = (long)(expr);                                                     \
        int e_ = errno;                                                             \
        char q_[64];                                                                \
        queue(q_, sizeof q_);                                                       \
        int se_ = (ssl) ? SSL_get_error((ssl), (int)r_) : -1;                       \
        out("%s ret=%ld errno=%d ssl_error=%d queue=%s", what, r_ > 1 ? 1L : r_, e_, se_, q_); \
        r_;                                                                         \
    })

static int round_trip(SSL_CTX *ctx, int port, int expect_ok)
{
    int fd = connect_loopback(port);
    if (fd < 0)
        return 1;
    SSL *ssl = SSL_new(ctx);
    if (!ssl)
        return 1;
    PROBE("SSL_set_fd", (SSL *)NULL, SSL_set_fd(ssl, fd));
    PROBE("SSL_set_tlsext_host_name", (SSL *)NULL, SSL_set_tlsext_host_name(ssl, "localhost"));
    long ok = PROBE("SSL_connect", ssl, SSL_connect(ssl));
    int rc = 0;
    if (ok == 1) {
        static const char msg[] = "errno probe payload";
        char back[sizeof msg];
        size_t got = 0;
        PROBE("SSL_get_verify_result", (SSL *)NULL, SSL_get_verify_result(ssl));
        PROBE("SSL_write", ssl, SSL_write(ssl, msg, (int)sizeof msg));
        while (got < sizeof msg) {
            long n = PROBE("SSL_read", ssl, SSL_read(ssl, back + got, (int)(sizeof msg - got)));
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        PROBE("SSL_pending", (SSL *)NULL, SSL_pending(ssl));
        if (got != sizeof msg || memcmp(back, msg, sizeof msg) != 0)
            rc = 1;
        if (PROBE("SSL_shutdown", ssl, SSL_shutdown(ssl)) == 0)
            PROBE("SSL_shutdown", ssl, SSL_shutdown(ssl));
    } else {
        PROBE("SSL_get_verify_result", (SSL *)NULL, SSL_get_verify_result(ssl));
        ERR_clear_error();
    }
    errno = SENTINEL;
    SSL_free(ssl);
    out("SSL_free errno=%d", errno);
    close(fd);
    return rc != 0 || (ok == 1) != expect_ok;
}

static SSL_CTX *client_ctx(const char *cafile)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx || SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1)
        die("cannot load %s", cafile);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return ctx;
}

int main(int argc, char **argv)
{
    int port = 0;
    long rounds = 3;
    const char *cafile = NULL, *bad = NULL;

    fixture_init();
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0)
            port = (int)parse_long(need_arg(argc, argv, &i), 1, 65535, "port");
        else if (strcmp(argv[i], "--cafile") == 0)
            cafile = need_arg(argc, argv, &i);
        else if (strcmp(argv[i], "--bad-cafile") == 0)
            bad = need_arg(argc, argv, &i);
        else if (strcmp(argv[i], "--rounds") == 0)
            rounds = parse_long(need_arg(argc, argv, &i), 1, 1000, "rounds");
        else
            die("usage: errno_probe --port N --cafile F [--bad-cafile F] [--rounds N]");
    }
    if (!port || !cafile)
        die("--port and --cafile are required");
    start_timeout(DEFAULT_TIMEOUT_S);
    SSL_CTX *good = client_ctx(cafile), *fail = bad ? client_ctx(bad) : NULL;
    int rc = 0;
    for (long r = 0; r < rounds; r++) {
        rc |= round_trip(good, port, 1);
        if (fail)
            rc |= round_trip(fail, port, 0);
    }
    SSL_CTX_free(good);
    if (fail)
        SSL_CTX_free(fail);
    out("DONE %d", rc);
    return rc;
}
