/* errq_probe — the OpenSSL error queue as the program reads it after a
 * failed handshake, once the stack below the program's frame has been reused.
 *
 * The shim reads the queue by draining it and putting every entry back.
 * OpenSSL 3.x copies the file and function strings it is given
 * (ERR_set_debug); 1.1.1's ERR_put_error keeps the pointer.  So whatever the
 * shim hands back must outlive its own stack frame: this program makes the
 * handshake fail (the server's certificate does not verify against --cafile),
 * overwrites a large piece of the stack the shim's frames used, and only then
 * prints the queue.  Its output must be the same with and without the shim.
 *
 * Usage: errq_probe --port N --cafile F
 * stdout: CONNECT ret=<r> error=<SSL_ERROR_…>
 *         ERR lib=<n> reason=<n> file=<file> line=<n> func=<func> data=<data>   (oldest first)
 *         ERR_COUNT <n>
 * Exit status: 0, or 2 on bad usage or set-up failure. */
#include "common.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>

/* Write over the 64 KiB of stack below the caller's frame: where the frames
 * of the functions it called (the shim's wrapper among them) were. */
static STACK_FRAME void clobber_stack(void)
{
    volatile char buf[65536];
    memset((char *)buf, 'Z', sizeof buf);
    __asm__ volatile("" : : "r"(buf) : "memory");
}

/* Printable, bounded: a dangling pointer must not make the output unreadable. */
static const char *shown(const char *s, char *buf, size_t size)
{
    size_t n = 0;
    if (!s)
        return "(null)";
    for (; s[n] && n + 1 < size && n < 80; n++)
        buf[n] = (s[n] >= 0x20 && s[n] < 0x7f) ? s[n] : '?';
    buf[n] = '\0';
    return buf;
}

static unsigned long next_error(const char **file, int *line, const char **func,
                                const char **data, int *flags)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    return ERR_get_error_all(file, line, func, data, flags);
#else
    unsigned long e = ERR_get_error_line_data(file, line, data, flags);
    *func = e ? ERR_func_error_string(e) : NULL;
    return e;
#endif
}

static STACK_FRAME void print_queue(void)
{
    const char *file, *func, *data;
    int line, flags;
    unsigned long e, n = 0;
    char b1[96], b2[96], b3[96];
    while ((e = next_error(&file, &line, &func, &data, &flags)) != 0) {
        n++;
        out("ERR lib=%d reason=%d file=%s line=%d func=%s data=%s", ERR_GET_LIB(e),
            ERR_GET_REASON(e), shown(file, b1, sizeof b1), line,
            shown(func, b2, sizeof b2),
            shown((flags & ERR_TXT_STRING) ? data : "", b3, sizeof b3));
    }
    out("ERR_COUNT %lu", n);
}

int main(int argc, char **argv)
{
    struct tls_opts o;
    int port = 0;
    memset(&o, 0, sizeof o);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port"))
            port = (int)parse_long(need_arg(argc, argv, &i), 1, 65535, "--port");
        else if (!parse_tls_opt(argc, argv, &i, &o))
            die("usage: errq_probe --port N --cafile F");
    }
    if (!port || !o.cafile)
        die("usage: errq_probe --port N --cafile F");
    fixture_init();
    start_timeout(DEFAULT_TIMEOUT_S);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        die("SSL_CTX_new failed");
    ctx_apply(ctx, &o);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    int fd = connect_loopback(port);
    if (fd < 0)
        die("connect failed");
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    ERR_clear_error();
    int ret = SSL_connect(ssl);
    out("CONNECT ret=%d error=%s", ret, ssl_error_name(SSL_get_error(ssl, ret)));
    clobber_stack();
    print_queue();
    drain_socket(fd);
    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(ctx);
    return 0;
}
