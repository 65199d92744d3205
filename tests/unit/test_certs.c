/* test_certs.c — the certificate path against real certificates and
 * hostile ones: a Certificate message is split by hello.c and each entry is
 * described by cert.c through the real libcrypto (opened at run time, as
 * the shim finds it), for a known certificate field by field and then for
 * a million mutated and random inputs, each in a block of exactly its
 * length, each line a strict JSON object, and the thread's OpenSSL error
 * queue left as it was. */
#include "check.h"
#include "fuzz.h"
#include "json_line.h"
#include "cert.h"
#include "event.h"
#include "hello.h"
#include "openssl.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FUZZ_INPUTS
#define FUZZ_INPUTS 1000000UL
#endif

/* A self-signed P-256 certificate with every kind of subject alternative
 * name cert.c lists, and a quote in its subject:
 *   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
 *     -subj '/C=DE/O=sslshim "fuzz" test/CN=example.test' -addext \
 *     'subjectAltName=DNS:example.test,DNS:*.example.test,IP:127.0.0.1,IP:::1,email:a@example.test,URI:https://example.test/' */
static const char cert_hex[] =
    "30820244308201e9a0030201020214634cfe30ea3c158a4e5a3c497c6626c2a5893fda300a06082a8648ce3d04030230"
    "42310b3009060355040613024445311c301a060355040a0c1373736c7368696d202266757a7a22207465737431153013"
    "06035504030c0c6578616d706c652e74657374301e170d3236313230363130313932365a170d32373132303631303139"
    "32365a3042310b3009060355040613024445311c301a060355040a0c1373736c7368696d202266757a7a222074657374"
    "3115301306035504030c0c6578616d706c652e746573743059301306072a8648ce3d020106082a8648ce3d0301070342"
    "00046846a550d9db1c0c604ce0e072bbe7d116440d31242797557b6262ee0fb66765d2ef57e4f5fe1021ad08520a1b68"
    "ba99d0b488e124c52ff97f8106630bdd2466a381bc3081b9301d0603551d0e041604140332729f3b667d7995d07e901c"
    "9d6b50c0fde80f301f0603551d230418301680140332729f3b667d7995d07e901c9d6b50c0fde80f300f0603551d1301"
    "01ff040530030101ff30660603551d11045f305d820c6578616d706c652e74657374820e2a2e6578616d706c652e7465"
    "737487047f000001871000000000000000000000000000000001810e61406578616d706c652e74657374861568747470"
    "733a2f2f6578616d706c652e746573742f300a06082a8648ce3d0403020349003046022100ddaa4b0680cfb0c3623541"
    "8bbb26226d3d01e375d89efcb214c5b44b9f260c8f022100d76bf12d9a40bb9ba08803c1bd8154c8e417b883ef26df9e"
    "542e8f08d1a58edb";

static const char want_cert[] =
    "{\"subject\":\"/C=DE/O=sslshim \\\"fuzz\\\" test/CN=example.test\","
    "\"issuer\":\"/C=DE/O=sslshim \\\"fuzz\\\" test/CN=example.test\","
    "\"san\":[\"DNS:example.test\",\"DNS:*.example.test\",\"IP:127.0.0.1\",\"IP:::1\","
    "\"email:a@example.test\",\"URI:https://example.test/\"],"
    "\"not_before\":\"2026-12-06T10:19:26Z\",\"not_after\":\"2027-12-06T10:19:26Z\","
    "\"serial\":\"634cfe30ea3c158a4e5a3c497c6626c2a5893fda\",\"key\":\"EC\",\"bits\":256,"
    "\"sig_alg\":\"ecdsa-with-SHA256\","
    "\"sha256\":\"23d9e62af129c8a16b4bb3870583a366f73f77d1c77b31ae2942ad7128deea29\","
    "\"spki_sha256\":\"e71cd69f2a5775bb416bc76af3a10a19119f719513884f32421d000e2d031e47\"}";

static unsigned long inputs;

/* A Certificate message around the DER entries (TLS 1.3: empty request
 * context, no extensions per entry), into out; its length. */
static size_t message(unsigned char *out, size_t cap, const unsigned char *der, size_t len,
                      unsigned copies, bool tls13)
{
    size_t entry = 3 + len + (tls13 ? 2 : 0);
    size_t list = entry * copies;
    size_t body = (tls13 ? 1 : 0) + 3 + list;
    if (4 + body > cap)
        abort();
    unsigned char *p = out;
    *p++ = 11;
    *p++ = (unsigned char)(body >> 16); *p++ = (unsigned char)(body >> 8); *p++ = (unsigned char)body;
    if (tls13)
        *p++ = 0;
    *p++ = (unsigned char)(list >> 16); *p++ = (unsigned char)(list >> 8); *p++ = (unsigned char)list;
    for (unsigned i = 0; i < copies; i++) {
        *p++ = (unsigned char)(len >> 16); *p++ = (unsigned char)(len >> 8); *p++ = (unsigned char)len;
        memcpy(p, der, len);
        p += len;
        if (tls13) {
            *p++ = 0;
            *p++ = 0;
        }
    }
    return (size_t)(p - out);
}

/* The `certs` line of a message, as messages.c builds it: checked to be one
 * strict JSON object; the thread's error queue is left empty. */
static void describe(const unsigned char *msg, size_t len, bool tls13, const char *want)
{
    struct der_span ders[10];
    bool invalid = false;
    size_t n = hello_certificate_entries(msg, len, tls13, ders, 10, &invalid);
    struct ev e;
    ev_begin(&e, "certs", 1, false);
    ev_arr_begin(&e, "chain");
    for (size_t i = 0; i < n && i < 10; i++) {
        struct cert_ref ref;
        CHECK(ders[i].p >= msg && ders[i].p + ders[i].len <= msg + len);
        cert_der_field(&e, NULL, ders[i].p, ders[i].len, &ref);
    }
    ev_arr_end(&e);
    size_t body_len;
    const char *body = ev_body(&e, &body_len);
    static char line[1 << 17];
    static const char head[] = "{\"ev\":\"certs\"";
    if (body && body_len + sizeof head + 2 < sizeof line) {
        memcpy(line, head, sizeof head - 1);
        memcpy(line + sizeof head - 1, body, body_len);
        size_t l = sizeof head - 1 + body_len;     /* the body ends the line */
        bool ok = json_line(line, l);
        CHECK(ok);
        if (!ok)
            fprintf(stderr, "  not JSON: %.*s", (int)(l < 2000 ? l : 2000), line);
        if (want) {
            CHECK(strstr(line, want) != NULL);
            if (!strstr(line, want))
                fprintf(stderr, "  got: %s  want: %s\n", line, want);
        }
    } else {
        CHECK(body != NULL);
    }
    CHECK(ossl.ERR_peek_error() == 0);
    ev_free(&e);
}

/* One input in a block of exactly its length. */
static void run(const unsigned char *w, size_t n, bool tls13)
{
    unsigned char *msg = malloc(n ? n : 1);
    if (!msg)
        abort();
    memcpy(msg, w, n);
    inputs++;
    describe(msg, n, tls13, NULL);
    free(msg);
}

static void mutate(unsigned char *b, size_t *n, size_t cap)
{
    unsigned k = 1 + (unsigned)(rnd() % 4);
    for (unsigned i = 0; i < k && *n; i++) {
        size_t at = (size_t)(rnd() % *n);
        switch (rnd() % 6) {
        case 0: b[at] ^= (unsigned char)(1u << (rnd() % 8)); break;
        case 1: b[at] = (unsigned char)rnd(); break;
        case 2: b[at] = rnd() & 1 ? 0xff : 0x00; break;
        case 3: *n = at; break;                                 /* truncate */
        case 4:                                                 /* delete a byte */
            memmove(b + at, b + at + 1, *n - at - 1);
            (*n)--;
            break;
        default:                                                /* insert a byte */
            if (*n < cap) {
                memmove(b + at + 1, b + at, *n - at);
                b[at] = (unsigned char)rnd();
                (*n)++;
            }
        }
    }
}

int main(void)
{
    if (!dlopen("libssl.so.3", RTLD_NOW | RTLD_GLOBAL) || !ossl_resolve(OSSL_FAMILY_3)) {
        fprintf(stderr, "test_certs: cannot load libssl.so.3: %s\n", dlerror());
        return 1;
    }
    ossl_current = &ossl_libs[OSSL_FAMILY_3];
    size_t der_len;
    unsigned char *der = unhex(cert_hex, &der_len);
    static unsigned char msg[8192], work[8192];

    /* Known answers: the whole object, through both layouts, described
     * and then remembered. */
    for (int tls13 = 0; tls13 < 2; tls13++)
        for (int round = 0; round < 2; round++)
            describe(msg, message(msg, sizeof msg, der, der_len, 2, tls13), tls13, want_cert);

    /* Mutated DER inside well-formed messages, mutated messages, and
     * random bytes. */
    while (inputs < FUZZ_INPUTS) {
        bool tls13 = rnd() & 1;
        size_t n;
        switch (rnd() % 8) {
        case 0: case 1: case 2: case 3: {                     /* the DER */
            size_t len = der_len;
            memcpy(work, der, der_len);
            mutate(work, &len, sizeof work / 2);
            n = message(msg, sizeof msg, work, len, 1 + (unsigned)(rnd() % 2), tls13);
            break;
        }
        case 4: case 5: case 6:                               /* the message */
            n = message(msg, sizeof msg, der, der_len, 1 + (unsigned)(rnd() % 3), tls13);
            mutate(msg, &n, sizeof msg);
            break;
        default:                                              /* noise */
            n = (size_t)(rnd() % 600);
            for (size_t i = 0; i < n; i++)
                msg[i] = (unsigned char)rnd();
            if (n)
                msg[0] = 11;
        }
        run(msg, n, tls13);
    }
    free(der);
    printf("test_certs: %lu inputs, %d failed\n", inputs, failures);
    return failures != 0;
}
