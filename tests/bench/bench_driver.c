/* bench_driver.c — the program `make bench` runs with and without the shim.
 *
 * An ordinary, dynamically linked OpenSSL program (so LD_PRELOAD applies) that
 * plays both client and server in one thread: over a non-blocking socketpair
 * for the timed workloads, over memory BIO pairs for the memory workload (10,000
 * socketpairs would need 20,000 descriptors).  One thread keeps the work
 * identical from run to run and lets callgrind count it exactly.
 *
 * Each run does a short warm-up (which also activates the shim and opens its
 * log), then the measured part inside bench_measured() — the function the
 * runner names in `callgrind --toggle-collect` — and prints one JSON object on
 * stdout: the mode, the wall time of the measured part and what it did
 * (calls, bytes, handshakes), so the runner needs no parsing beyond json.loads.
 *
 * The server's certificate is made at start-up (ECDSA P-256 by default, the
 * cheapest common handshake and so the least flattering denominator for the
 * shim; `--key rsa` for RSA-2048); the client verifies it against itself. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define PUMP_LIMIT 1000            /* handshake steps before we call it stuck */

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench_driver: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    ERR_print_errors_fp(stderr);
    exit(2);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- options ---- */

enum mode { M_BULK, M_SMALL, M_HANDSHAKE, M_MEMORY, M_INFO };

struct opts {
    enum mode mode;
    long record;                   /* bulk: bytes per SSL_write */
    long long total;               /* bulk: bytes in all */
    long count;                    /* small: round trips; handshake: connections */
    long warmup;
    int version;                   /* TLS1_2_VERSION / TLS1_3_VERSION */
    int resume;
    int rsa;
    long open;                     /* memory: connections open at once */
    long batches;                  /* memory: how many times */
};

static long long parse_size(const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || v < 0)
        die("bad size %s", s);
    switch (*end) {
    case 'K': case 'k': v <<= 10; end++; break;
    case 'M': case 'm': v <<= 20; end++; break;
    case 'G': case 'g': v <<= 30; end++; break;
    default: break;
    }
    if (*end)
        die("bad size %s", s);
    return v;
}

static void usage(void) __attribute__((noreturn));
static void usage(void)
{
    fprintf(stderr,
            "usage: bench_driver bulk --record N --total N [--tls 1.2|1.3]\n"
            "       bench_driver small --count N [--tls 1.2|1.3]\n"
            "       bench_driver handshake --count N [--tls 1.2|1.3] [--resume]\n"
            "       bench_driver memory --open N --batches N [--tls 1.2|1.3]\n"
            "       bench_driver info\n"
            "common: [--warmup N] [--key ec|rsa]; sizes take K/M/G\n");
    exit(2);
}

static void parse(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof *o);
    o->record = 16384;
    o->total = 256LL << 20;
    o->count = 1000;
    o->warmup = -1;
    o->version = TLS1_3_VERSION;
    o->open = 10000;
    o->batches = 10;
    if (argc < 2)
        usage();
    const char *m = argv[1];
    if (!strcmp(m, "bulk")) o->mode = M_BULK;
    else if (!strcmp(m, "small")) o->mode = M_SMALL;
    else if (!strcmp(m, "handshake")) o->mode = M_HANDSHAKE;
    else if (!strcmp(m, "memory")) o->mode = M_MEMORY;
    else if (!strcmp(m, "info")) o->mode = M_INFO;
    else usage();
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--resume")) { o->resume = 1; continue; }
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "--record")) o->record = (long)parse_size(v);
        else if (!strcmp(a, "--total")) o->total = parse_size(v);
        else if (!strcmp(a, "--count")) o->count = (long)parse_size(v);
        else if (!strcmp(a, "--warmup")) o->warmup = (long)parse_size(v);
        else if (!strcmp(a, "--open")) o->open = (long)parse_size(v);
        else if (!strcmp(a, "--batches")) o->batches = (long)parse_size(v);
        else if (!strcmp(a, "--tls")) {
            if (!strcmp(v, "1.2")) o->version = TLS1_2_VERSION;
            else if (!strcmp(v, "1.3")) o->version = TLS1_3_VERSION;
            else usage();
        } else if (!strcmp(a, "--key")) {
            if (!strcmp(v, "rsa")) o->rsa = 1;
            else if (strcmp(v, "ec")) usage();
        } else
            usage();
    }
    if (o->record < 1 || o->record > 16384 || o->count < 1 || o->open < 1 || o->batches < 1)
        die("sizes out of range");
}

/* ---- TLS set-up ---- */

struct tls {
    SSL_CTX *sctx, *cctx;
    SSL_SESSION *session;          /* --resume: the ticket/session to offer */
};

static void make_identity(SSL_CTX *sctx, X509_STORE *trust, int rsa)
{
    EVP_PKEY *key = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
    X509 *x = X509_new();
    if (!key || !x)
        die("key generation failed");
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *)"sslshim-bench", -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509_set_pubkey(x, key);
    if (!X509_sign(x, key, EVP_sha256()))
        die("X509_sign failed");
    if (SSL_CTX_use_certificate(sctx, x) != 1 || SSL_CTX_use_PrivateKey(sctx, key) != 1)
        die("cannot use the certificate");
    if (X509_STORE_add_cert(trust, x) != 1)
        die("cannot trust the certificate");
    X509_free(x);
    EVP_PKEY_free(key);
}

static void tls_init(struct tls *t, const struct opts *o)
{
    memset(t, 0, sizeof *t);
    t->sctx = SSL_CTX_new(TLS_server_method());
    t->cctx = SSL_CTX_new(TLS_client_method());
    if (!t->sctx || !t->cctx)
        die("SSL_CTX_new failed");
    SSL_CTX *both[2] = { t->sctx, t->cctx };
    for (int i = 0; i < 2; i++) {
        /* The memory workload mixes versions; the others pin one. */
        SSL_CTX_set_min_proto_version(both[i], o->mode == M_MEMORY ? TLS1_2_VERSION : o->version);
        SSL_CTX_set_max_proto_version(both[i], o->version);
    }
    make_identity(t->sctx, SSL_CTX_get_cert_store(t->cctx), o->rsa);
    SSL_CTX_set_verify(t->cctx, SSL_VERIFY_PEER, NULL);
    if (o->mode == M_MEMORY) {
        /* Nothing kept between connections: whatever stays resident after
         * they close is what someone leaked. */
        SSL_CTX_set_session_cache_mode(t->sctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_session_cache_mode(t->cctx, SSL_SESS_CACHE_OFF);
    }
}

struct pair {
    SSL *c, *s;
    int fd[2];                     /* -1 with memory BIOs */
};

/* A client+server pair: over memory BIOs when `memory`, else a socketpair.
 * `session` (may be NULL) is offered for resumption; `max_version` (0: the
 * context's) caps the client's version. */
static void pair_open(struct pair *p, struct tls *t, int memory, SSL_SESSION *session,
                      int max_version)
{
    p->c = SSL_new(t->cctx);
    p->s = SSL_new(t->sctx);
    if (!p->c || !p->s)
        die("SSL_new failed");
    if (memory) {
        BIO *bc, *bs;
        if (!BIO_new_bio_pair(&bc, 8192, &bs, 8192))
            die("BIO_new_bio_pair failed");
        SSL_set_bio(p->c, bc, bc);
        SSL_set_bio(p->s, bs, bs);
        p->fd[0] = p->fd[1] = -1;
    } else {
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, p->fd) != 0)
            die("socketpair: %s", strerror(errno));
        for (int i = 0; i < 2; i++)
            fcntl(p->fd[i], F_SETFL, fcntl(p->fd[i], F_GETFL) | O_NONBLOCK);
        SSL_set_fd(p->c, p->fd[0]);
        SSL_set_fd(p->s, p->fd[1]);
    }
    SSL_set_connect_state(p->c);
    SSL_set_accept_state(p->s);
    if (session)
        SSL_set_session(p->c, session);
    if (max_version)
        SSL_set_max_proto_version(p->c, max_version);
}

static int want(SSL *s, int ret, const char *what)
{
    int err = SSL_get_error(s, ret);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
        die("%s failed: ret %d, SSL_get_error %d", what, ret, err);
    return err;
}

/* Both ends step by turns until both are done, as two event loops would. */
static void pair_handshake(struct pair *p)
{
    int cdone = 0, sdone = 0;
    for (int i = 0; i < PUMP_LIMIT && !(cdone && sdone); i++) {
        if (!cdone) {
            int r = SSL_do_handshake(p->c);
            if (r == 1) cdone = 1; else want(p->c, r, "client handshake");
        }
        if (!sdone) {
            int r = SSL_do_handshake(p->s);
            if (r == 1) sdone = 1; else want(p->s, r, "server handshake");
        }
    }
    if (!(cdone && sdone))
        die("handshake did not finish");
}

/* Write all of len on `from`, read all of it on `to`; counts the calls. */
static void transfer(SSL *from, SSL *to, const unsigned char *buf, int len,
                     unsigned char *rbuf, int rlen, long long *calls)
{
    int got = 0;
    for (int i = 0;; i++) {
        if (i >= PUMP_LIMIT)
            die("write did not finish");
        int r = SSL_write(from, buf, len);
        (*calls)++;
        if (r > 0)
            break;
        want(from, r, "SSL_write");
        /* The socket or BIO is full: let the reader catch up, then retry the
         * same write, as OpenSSL requires. */
        int g = SSL_read(to, rbuf, rlen);
        (*calls)++;
        if (g > 0) got += g; else want(to, g, "SSL_read");
    }
    for (int i = 0; got < len; i++) {
        if (i >= PUMP_LIMIT)
            die("read did not finish");
        int r = SSL_read(to, rbuf, rlen);
        (*calls)++;
        if (r > 0) got += r; else want(to, r, "SSL_read");
    }
}

/* One whole, successful connection: handshake, a 64-byte request and
 * response (so the shim sees application data and a healthy connection),
 * close_notify both ways, free. */
static void pair_close(struct pair *p)
{
    SSL_shutdown(p->c);
    SSL_shutdown(p->s);
    SSL_free(p->c);
    SSL_free(p->s);
    if (p->fd[0] >= 0) {
        close(p->fd[0]);
        close(p->fd[1]);
    }
}

static void pair_exchange(struct pair *p, long long *calls)
{
    unsigned char msg[64], rbuf[256];
    memset(msg, 'q', sizeof msg);
    transfer(p->c, p->s, msg, sizeof msg, rbuf, sizeof rbuf, calls);
    memset(msg, 'a', sizeof msg);
    transfer(p->s, p->c, msg, sizeof msg, rbuf, sizeof rbuf, calls);
}

static void one_connection(struct tls *t, long long *calls, int resumed_expected)
{
    struct pair p;
    pair_open(&p, t, 0, t->session, 0);
    pair_handshake(&p);
    pair_exchange(&p, calls);
    if (resumed_expected >= 0 && SSL_session_reused(p.c) != resumed_expected)
        die("session %s resumed", resumed_expected ? "not" : "unexpectedly");
    if (t->session) {
        /* TLS 1.3 tickets are best used once: keep the newest. */
        SSL_SESSION *fresh = SSL_get1_session(p.c);
        if (fresh) {
            SSL_SESSION_free(t->session);
            t->session = fresh;
        }
    }
    pair_close(&p);
}

/* ---- workloads ---- */

struct work {
    const struct opts *o;
    struct tls *t;
    struct pair p;                 /* bulk/small: the one connection */
    unsigned char *buf, *rbuf;
    long long calls, bytes, handshakes;
};

static void run_bulk(struct work *w, long long total)
{
    int rec = (int)w->o->record;
    for (long long done = 0; done < total; done += rec)
        transfer(w->p.c, w->p.s, w->buf, rec, w->rbuf, 16384, &w->calls);
    w->bytes += total;
}

static void run_small(struct work *w, long count)
{
    for (long i = 0; i < count; i++) {
        transfer(w->p.c, w->p.s, w->buf, 64, w->rbuf, 16384, &w->calls);
        transfer(w->p.s, w->p.c, w->buf, 64, w->rbuf, 16384, &w->calls);
    }
    w->bytes += 128LL * count;
}

static void run_handshakes(struct work *w, long count)
{
    long long ignored = 0;
    for (long i = 0; i < count; i++)
        one_connection(w->t, &ignored, w->o->resume ? 1 : 0);
    w->handshakes += count;
}

/* The measured part; callgrind counts only inside it (--toggle-collect). */
__attribute__((noinline)) void bench_measured(struct work *w);
__attribute__((noinline)) void bench_measured(struct work *w)
{
    switch (w->o->mode) {
    case M_BULK: run_bulk(w, w->o->total); break;
    case M_SMALL: run_small(w, w->o->count); break;
    case M_HANDSHAKE: run_handshakes(w, w->o->count); break;
    default: break;
    }
}

/* ---- memory ---- */

static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (!f || fscanf(f, "%ld %ld", &size, &res) != 2)
        die("cannot read /proc/self/statm");
    fclose(f);
    return res * sysconf(_SC_PAGESIZE);
}

static long heap_bytes(void)
{
    struct mallinfo2 m = mallinfo2();
    return (long)(m.uordblks + m.hblkhd);
}

static void print_list(const char *name, const long *v, long n)
{
    printf(",\"%s\":[", name);
    for (long i = 0; i < n; i++)
        printf("%s%ld", i ? "," : "", v[i]);
    printf("]");
}

/* One memory-BIO connection, left open: a full handshake at the context's
 * version, or a resumed TLS 1.2 one when `session12` is given. */
static void memory_conn(struct pair *p, struct tls *t, SSL_SESSION *session12,
                        long long *calls, long *resumed)
{
    pair_open(p, t, 1, session12, session12 ? TLS1_2_VERSION : 0);
    pair_handshake(p);
    pair_exchange(p, calls);
    if (SSL_session_reused(p->c))
        (*resumed)++;
}

/* Open `open` connections at once (both ends in this process, full TLS 1.3
 * handshakes), measure, close them all, measure; then `batches - 1` more
 * batches of the same size to show nothing accumulates.  To keep 100,000
 * connections inside the time budget, those later batches make one
 * connection in ten a full TLS 1.3 handshake and the rest resumed TLS 1.2
 * ones (cheap, and a different path through the shim).  What the shim adds
 * per connection is the difference of the open-minus-before figures with and
 * without it.  After each close the RSS is read twice: as glibc leaves it,
 * and after malloc_trim(0) gives the free heap back to the kernel. */
static void run_memory(struct tls *t, const struct opts *o)
{
    struct pair *p = calloc((size_t)o->open, sizeof *p);
    long n = o->batches;
    long *rss_closed = calloc((size_t)n, sizeof(long));
    long *rss_trimmed = calloc((size_t)n, sizeof(long));
    long *heap_closed = calloc((size_t)n, sizeof(long));
    long long calls = 0;
    long resumed = 0, full = 0;
    if (!p || !rss_closed || !rss_trimmed || !heap_closed)
        die("out of memory");
    /* Warm-up: lazy initialisation (libssl's, the shim's, its log file), and
     * the TLS 1.2 session the churn batches resume. */
    SSL_SESSION *session12 = NULL;
    for (int i = 0; i < 20; i++) {
        struct pair q;
        memory_conn(&q, t, NULL, &calls, &resumed);
        pair_close(&q);
        pair_open(&q, t, 1, session12, TLS1_2_VERSION);
        pair_handshake(&q);
        pair_exchange(&q, &calls);
        if (!session12)
            session12 = SSL_get1_session(q.c);
        pair_close(&q);
    }
    if (!session12)
        die("no TLS 1.2 session");
    resumed = 0;
    malloc_trim(0);
    long rss_before = rss_bytes(), heap_before = heap_bytes();
    long rss_open = 0, heap_open = 0;
    double t0 = now_s();
    for (long b = 0; b < n; b++) {
        for (long i = 0; i < o->open; i++) {
            int is_full = b == 0 || i % 10 == 0;
            memory_conn(&p[i], t, is_full ? NULL : session12, &calls, &resumed);
            full += is_full;
        }
        if (b == 0) {
            rss_open = rss_bytes();
            heap_open = heap_bytes();
        }
        for (long i = 0; i < o->open; i++)
            pair_close(&p[i]);
        rss_closed[b] = rss_bytes();
        heap_closed[b] = heap_bytes();
        malloc_trim(0);
        rss_trimmed[b] = rss_bytes();
    }
    double secs = now_s() - t0;
    if (resumed != n * o->open - full)
        die("%ld of %ld TLS 1.2 connections resumed", resumed, n * o->open - full);
    printf("{\"mode\":\"memory\",\"open\":%ld,\"batches\":%ld,\"ssl_objects_open\":%ld,"
           "\"connections\":%ld,\"full\":%ld,\"resumed\":%ld,"
           "\"seconds\":%.6f,\"rss_before\":%ld,\"rss_open\":%ld,\"heap_before\":%ld,"
           "\"heap_open\":%ld",
           o->open, n, 2 * o->open, n * o->open, full, resumed, secs, rss_before, rss_open,
           heap_before, heap_open);
    print_list("rss_closed", rss_closed, n);
    print_list("rss_trimmed", rss_trimmed, n);
    print_list("heap_closed", heap_closed, n);
    printf("}\n");
    SSL_SESSION_free(session12);
    free(p);
    free(rss_closed);
    free(rss_trimmed);
    free(heap_closed);
}

int main(int argc, char **argv)
{
    struct opts o;
    parse(argc, argv, &o);
    if (o.mode == M_INFO) {
        printf("{\"mode\":\"info\",\"openssl\":\"%s\"}\n", OpenSSL_version(OPENSSL_VERSION));
        return 0;
    }
    struct tls t;
    tls_init(&t, &o);
    if (o.mode == M_MEMORY) {
        run_memory(&t, &o);
        return 0;
    }

    struct work w;
    memset(&w, 0, sizeof w);
    w.o = &o;
    w.t = &t;
    w.buf = malloc(16384);
    w.rbuf = malloc(16384);
    if (!w.buf || !w.rbuf)
        die("out of memory");
    memset(w.buf, 0x5a, 16384);

    /* Warm-up, uncounted: the shim's activation and log file, libssl's lazy
     * tables, the page cache and CPU caches. */
    long long ignored = 0;
    if (o.mode == M_HANDSHAKE) {
        long n = o.warmup >= 0 ? o.warmup : 5;
        if (o.resume) {
            struct pair p;
            pair_open(&p, &t, 0, NULL, 0);
            pair_handshake(&p);
            pair_exchange(&p, &ignored);
            t.session = SSL_get1_session(p.c);
            pair_close(&p);
            if (!t.session)
                die("no session to resume");
        }
        for (long i = 0; i < n; i++)
            one_connection(&t, &ignored, o.resume ? 1 : 0);
    } else {
        pair_open(&w.p, &t, 0, NULL, 0);
        pair_handshake(&w.p);
        pair_exchange(&w.p, &ignored);   /* the TLS 1.3 tickets are read here */
        long n = o.warmup >= 0 ? o.warmup : 1000;
        if (o.mode == M_BULK)
            run_bulk(&w, (long long)n * o.record);
        else
            run_small(&w, n);
        w.calls = w.bytes = 0;
    }

    double t0 = now_s();
    bench_measured(&w);
    double secs = now_s() - t0;

    if (o.mode != M_HANDSHAKE)
        pair_close(&w.p);
    printf("{\"mode\":\"%s\",\"tls\":\"%s\",\"resume\":%s,\"record\":%ld,\"seconds\":%.6f,"
           "\"calls\":%lld,\"bytes\":%lld,\"handshakes\":%lld}\n",
           o.mode == M_BULK ? "bulk" : o.mode == M_SMALL ? "small" : "handshake",
           o.version == TLS1_3_VERSION ? "1.3" : "1.2", o.resume ? "true" : "false",
           o.mode == M_BULK ? o.record : 0, secs, w.calls, w.bytes, w.handshakes);
    if (t.session)
        SSL_SESSION_free(t.session);
    SSL_CTX_free(t.sctx);
    SSL_CTX_free(t.cctx);
    free(w.buf);
    free(w.rbuf);
    return 0;
}
