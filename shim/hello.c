/* hello.c — the hello-phase handshake messages as fields of a line (RFC 8446
 * 4.1-4.3, RFC 5246 7.4), and the certificate list of a Certificate message.
 *
 * Every byte here comes from the peer (or from the program, about to go to
 * the peer).  What holds whatever it sends:
 *  - all reads go through struct rd, whose p[0..n) never leaves the message:
 *    a length that does not fit stops the parse; the fields written so far
 *    stay, followed by "invalid": where it broke;
 *  - each key is written once: an extension that comes twice stops the parse
 *    (RFC 8446 4.2 forbids it; OpenSSL rejects such a message too);
 *  - a line stays under 16 KB: lists and names are capped (the bounds below;
 *    tests/unit/test_hello.c builds the worst case of each message and
 *    measures it), what is left out is counted in "<key>_more";
 *  - names from names.c and OpenSSL's cipher names are plain ASCII and are
 *    copied as they are (OpenSSL's are checked first); only the peer's own
 *    strings (SNI, ALPN, CA names) go through ev_strn's escaping.
 * One pass over the message, no allocation (the line itself may grow: that
 * is event.c's), no OpenSSL call but through struct hello_lookup. */
#include "hello.h"

#include "names.h"

#include <openssl/ssl.h>
#include <openssl/tls1.h>
#include <stdint.h>
#include <string.h>

#define LIST_MAX 64     /* codes written per list */
#define NAME_CAP 40     /* bytes of a name written unescaped (OpenSSL's longest, a GOST suite, has 34) */
#define SNI_CAP 255     /* bytes of a host name written (a DNS name has at most 253) */
#define ALPN_MAX 8      /* protocols written from a ClientHello's list */
#define ALPN_CAP 64     /* bytes of a protocol name written (the registered ones have at most 18) */
#define CA_MAX 12       /* CA names written from a CertificateRequest */
#define DN_CAP 128      /* bytes of a CA name as text */
#define DER_HEX_CAP 64  /* bytes of a CA name written as hex when it has no text */

/* Cipher suites that are signals, not ciphers (RFC 5746 3.3, RFC 7507). */
#define SCSV_RENEGOTIATION 0x00ff
#define SCSV_FALLBACK 0x5600

/* The random of a ServerHello that is a HelloRetryRequest (RFC 8446 4.1.3):
 * SHA-256 of "HelloRetryRequest". */
static const unsigned char hrr_random[32] = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
};

/* ---- reading ------------------------------------------------------------ */

/* The unread part of a vector: p[0..n) lies inside the message. */
struct rd {
    const unsigned char *p;
    size_t n;
};

/* The vector behind the `width`-byte length (1..3) at the front of r. */
static bool take_vec(struct rd *r, unsigned width, struct rd *out)
{
    if (r->n < width)
        return false;
    size_t n = 0;
    for (unsigned i = 0; i < width; i++)
        n = n << 8 | r->p[i];
    if (r->n - width < n)
        return false;
    out->p = r->p + width;
    out->n = n;
    r->p += width + n;
    r->n -= width + n;
    return true;
}

/* A list of names being built: the JSON array text, written with one
 * ev_raw.  Only one is built at a time. */
struct list {
    size_t len;                 /* of buf */
    unsigned n;                 /* entries in buf */
    unsigned long more;         /* entries left out */
    char buf[LIST_MAX * (NAME_CAP + 3) + 2];
};

/* The state of one parse. */
struct hp {
    struct ev *e;
    const char *(*cipher_name)(void *arg, unsigned code);
    bool (*dn_text)(void *arg, const unsigned char *der, size_t len, char *out, size_t cap);
    void *arg;
    const char *invalid;        /* where it broke, a JSON string; NULL while it has not */
    char why[32];               /* room for an invalid that names a number */
    struct list *list;          /* on hello_fields' stack, not cleared: list_begin starts it */
};

/* `invalid` values: JSON strings, written as they are. */
#define TRUNCATED(what) "\"truncated: " what "\""
#define BAD_LENGTH(what) "\"bad length: " what "\""

/* Records where the message broke (the first place wins); false. */
static bool broke(struct hp *h, const char *where)
{
    if (!h->invalid)
        h->invalid = where;
    return false;
}

static bool vec(struct hp *h, struct rd *r, unsigned width, struct rd *out,
                const char *truncated, const char *bad_length)
{
    if (take_vec(r, width, out))
        return true;
    return broke(h, r->n < width ? truncated : bad_length);
}

#define VEC(h, r, width, out, what) vec((h), (r), (width), (out), TRUNCATED(what), BAD_LENGTH(what))

/* The readers of numbers set *v to 0 when the number is not there, so that
 * nothing can read it uninitialized. */
static bool u8(struct hp *h, struct rd *r, unsigned *v, const char *truncated)
{
    *v = 0;
    if (r->n < 1)
        return broke(h, truncated);
    *v = r->p[0];
    r->p++;
    r->n--;
    return true;
}

static bool u16(struct hp *h, struct rd *r, unsigned *v, const char *truncated)
{
    *v = 0;
    if (r->n < 2)
        return broke(h, truncated);
    *v = (unsigned)r->p[0] << 8 | r->p[1];
    r->p += 2;
    r->n -= 2;
    return true;
}

static bool skip(struct hp *h, struct rd *r, size_t n, const char *truncated)
{
    if (r->n < n)
        return broke(h, truncated);
    r->p += n;
    r->n -= n;
    return true;
}

/* r has been read to its end. */
static bool end(struct hp *h, const struct rd *r, const char *bad_length)
{
    return r->n == 0 || broke(h, bad_length);
}

/* ---- names -------------------------------------------------------------- */

typedef const char *name_fn(unsigned code);

/* RFC 8701: 0x0a0a, 0x1a1a, ... 0xfafa, in every two-byte registry. */
static bool grease(unsigned code)
{
    return (code & 0x0f0f) == 0x0a0a && code >> 8 == (code & 0xff);
}

/* "0x" and four lowercase hex digits. */
static const char *hex4(char out[7], unsigned v)
{
    static const char digits[] = "0123456789abcdef";
    out[0] = '0';
    out[1] = 'x';
    for (int i = 0; i < 4; i++)
        out[2 + i] = digits[(v >> (12 - 4 * i)) & 15];
    out[6] = '\0';
    return out;
}

static const char *version_name(unsigned v)
{
    return protocol_version_name((int)v);
}

static const char *code_name(unsigned code, name_fn *fn, char hex[7])
{
    if (grease(code))
        return "GREASE";
    const char *s = fn(code);
    return s ? s : hex4(hex, code);
}

/* Bytes a name may hold to be written as it is: printable ASCII but the
 * quote and the backslash (one load a byte: this runs for every suite of
 * every ClientHello). */
static const unsigned char name_byte[256] = {
    [0x20 ... 0x21] = 1,        /* the quote, 0x22, is not */
    [0x23 ... 0x5b] = 1,        /* nor the backslash, 0x5c */
    [0x5d ... 0x7e] = 1,
};

/* Whether s is 1..NAME_CAP bytes of name_byte, as OpenSSL's cipher names
 * are; then *len is its length. */
static bool plain_name(const char *s, size_t *len)
{
    size_t i = 0;
    while (i <= NAME_CAP && name_byte[(unsigned char)s[i]])
        i++;
    if (i == 0 || i > NAME_CAP || s[i] != '\0')
        return false;
    *len = i;
    return true;
}

/* A cipher suite's name: ours for GREASE and the signals, else OpenSSL's
 * through lk when it has one that is plain, else hex. */
static const char *cipher_name(const struct hp *h, unsigned code, char hex[7], size_t *len)
{
    const char *s = NULL;
    if (grease(code))
        s = "GREASE";
    else if (code == SCSV_RENEGOTIATION)
        s = "TLS_EMPTY_RENEGOTIATION_INFO_SCSV";
    else if (code == SCSV_FALLBACK)
        s = "TLS_FALLBACK_SCSV";
    else if (h->cipher_name) {
        s = h->cipher_name(h->arg, code);
        if (s && plain_name(s, len))
            return s;
        s = NULL;
    }
    if (!s)
        s = hex4(hex, code);
    *len = strlen(s);
    return s;
}

/* ---- writing ------------------------------------------------------------ */

/* `key` and a plain name (at most NAME_CAP bytes of it) as a JSON string. */
static void put_name(struct ev *e, const char *key, const char *s, size_t n)
{
    char buf[NAME_CAP + 2];
    if (n > NAME_CAP)
        n = NAME_CAP;
    buf[0] = '"';
    memcpy(buf + 1, s, n);
    buf[n + 1] = '"';
    ev_raw(e, key, buf, n + 2);
}

static void put_code(struct ev *e, const char *key, unsigned code, name_fn *fn)
{
    char hex[7];
    const char *s = code_name(code, fn, hex);
    put_name(e, key, s, strlen(s));
}

static void list_begin(struct list *l)
{
    l->buf[0] = '[';
    l->len = 1;
    l->n = 0;
    l->more = 0;
}

/* Appends a plain name (at most NAME_CAP bytes of it); the caller has
 * checked that l->n < LIST_MAX. */
static void list_add(struct list *l, const char *s, size_t n)
{
    char *p = l->buf + l->len;
    if (n > NAME_CAP)
        n = NAME_CAP;
    if (l->n++)
        *p++ = ',';
    *p++ = '"';
    memcpy(p, s, n);
    p += n;
    *p++ = '"';
    l->len = (size_t)(p - l->buf);
}

static void list_end(struct hp *h, const char *key, const char *more_key)
{
    struct list *l = h->list;
    l->buf[l->len++] = ']';
    ev_raw(h->e, key, l->buf, l->len);
    if (l->more)
        ev_uint(h->e, more_key, l->more);
}

/* A key and the key of its count of entries left out. */
#define KEYS(key) key, key "_more"

/* The two-byte codes that fill r, as the list `key`. */
static bool codes(struct hp *h, const struct rd *r, name_fn *fn, const char *key,
                  const char *more_key, const char *bad_length)
{
    if (r->n & 1)
        return broke(h, bad_length);
    struct list *l = h->list;
    char hex[7];
    list_begin(l);
    for (size_t i = 0; i < r->n; i += 2) {
        if (l->n == LIST_MAX) {
            l->more = (r->n - i) / 2;
            break;
        }
        const char *s = code_name((unsigned)r->p[i] << 8 | r->p[i + 1], fn, hex);
        list_add(l, s, strlen(s));
    }
    list_end(h, key, more_key);
    return true;
}

/* An extension that is a vector (length of `width` bytes) of two-byte
 * codes and nothing else. */
static bool code_vec(struct hp *h, struct rd *x, unsigned width, name_fn *fn, const char *key,
                     const char *more_key, const char *truncated, const char *bad_length)
{
    struct rd list;
    return vec(h, x, width, &list, truncated, bad_length) && end(h, x, bad_length) &&
           codes(h, &list, fn, key, more_key, bad_length);
}

#define CODE_VEC(h, x, width, fn, key, what) \
    code_vec((h), (x), (width), (fn), KEYS(key), TRUNCATED(what), BAD_LENGTH(what))

/* ---- the parts of several messages --------------------------------------- */

/* cipher_suites of a ClientHello; *reneg when it holds the renegotiation
 * signal (looked for past the cap too). */
static bool ciphers(struct hp *h, const struct rd *r, bool *reneg)
{
    if (r->n & 1)
        return broke(h, BAD_LENGTH("cipher_suites"));
    struct list *l = h->list;
    list_begin(l);
    for (size_t i = 0; i < r->n; i += 2) {
        unsigned code = (unsigned)r->p[i] << 8 | r->p[i + 1];
        if (code == SCSV_RENEGOTIATION)
            *reneg = true;
        if (l->n == LIST_MAX) {
            l->more++;
            continue;
        }
        char hex[7];
        size_t n;
        const char *s = cipher_name(h, code, hex, &n);
        list_add(l, s, n);
    }
    list_end(h, KEYS("ciphers"));
    return true;
}

static void put_cipher(struct hp *h, const char *key, unsigned code)
{
    char hex[7];
    size_t n;
    const char *s = cipher_name(h, code, hex, &n);
    put_name(h->e, key, s, n);
}

/* server_name of a ClientHello (RFC 6066 3): its host_name as "sni". */
static bool server_name(struct hp *h, struct rd *x)
{
    struct rd list, name;
    bool written = false;
    if (!VEC(h, x, 2, &list, "server_name") || !end(h, x, BAD_LENGTH("server_name")))
        return false;
    while (list.n) {
        unsigned type;
        if (!u8(h, &list, &type, TRUNCATED("server_name")) || !VEC(h, &list, 2, &name, "server_name"))
            return false;
        if (type == TLSEXT_NAMETYPE_host_name && !written) {
            written = true;
            ev_strn(h->e, "sni", name.p, name.n < SNI_CAP ? name.n : SNI_CAP);
            if (name.n > SNI_CAP)
                ev_uint(h->e, "sni_len", name.n);
        }
    }
    return true;
}

/* application_layer_protocol_negotiation of a ClientHello (RFC 7301 3.1):
 * the protocols as the list "alpn". */
static bool alpn_list(struct hp *h, struct rd *x)
{
    struct rd list, name;
    unsigned long n = 0;
    bool ok = true;
    if (!VEC(h, x, 2, &list, "alpn") || !end(h, x, BAD_LENGTH("alpn")))
        return false;
    ev_arr_begin(h->e, "alpn");
    while (list.n) {
        if (!VEC(h, &list, 1, &name, "alpn")) {
            ok = false;
            break;
        }
        if (n++ < ALPN_MAX)
            ev_strn(h->e, NULL, name.p, name.n < ALPN_CAP ? name.n : ALPN_CAP);
    }
    ev_arr_end(h->e);
    if (n > ALPN_MAX)
        ev_uint(h->e, "alpn_more", n - ALPN_MAX);
    return ok;
}

/* The same extension from a server: exactly one protocol, as "alpn". */
static bool alpn_one(struct hp *h, struct rd *x)
{
    struct rd list, name;
    if (!VEC(h, x, 2, &list, "alpn") || !end(h, x, BAD_LENGTH("alpn")) ||
        !VEC(h, &list, 1, &name, "alpn"))
        return false;
    ev_strn(h->e, "alpn", name.p, name.n < ALPN_CAP ? name.n : ALPN_CAP);
    return end(h, &list, BAD_LENGTH("alpn"));
}

/* key_share of a ClientHello (RFC 8446 4.2.8): the groups as "key_shares". */
static bool key_shares(struct hp *h, struct rd *x)
{
    struct rd list, key;
    bool ok = true;
    if (!VEC(h, x, 2, &list, "key_share") || !end(h, x, BAD_LENGTH("key_share")))
        return false;
    list_begin(h->list);
    while (list.n) {
        unsigned group;
        if (!u16(h, &list, &group, TRUNCATED("key_share")) || !VEC(h, &list, 2, &key, "key_share")) {
            ok = false;
            break;
        }
        if (h->list->n < LIST_MAX) {
            char hex[7];
            const char *s = code_name(group, tls_group_name, hex);
            list_add(h->list, s, strlen(s));
        } else {
            h->list->more++;
        }
    }
    list_end(h, KEYS("key_shares"));
    return ok;
}

/* One CA name: text through lk, else the start of its DER as hex. */
static void ca_name(struct hp *h, const struct rd *dn)
{
    char text[DN_CAP + 1];
    text[0] = '\0';
    if (h->dn_text && h->dn_text(h->arg, dn->p, dn->n, text, sizeof text))
        ev_strn(h->e, NULL, text, strnlen(text, DN_CAP));
    else
        ev_hex(h->e, NULL, dn->p, dn->n < DER_HEX_CAP ? dn->n : DER_HEX_CAP);
}

/* The DistinguishedNames that fill r, as the list "ca_names". */
static bool ca_names(struct hp *h, struct rd *r)
{
    struct rd dn;
    unsigned long n = 0;
    bool ok = true;
    ev_arr_begin(h->e, "ca_names");
    while (r->n) {
        if (!VEC(h, r, 2, &dn, "certificate_authorities")) {
            ok = false;
            break;
        }
        if (n++ < CA_MAX)
            ca_name(h, &dn);
    }
    ev_arr_end(h->e);
    if (n > CA_MAX)
        ev_uint(h->e, "ca_names_more", n - CA_MAX);
    return ok;
}

/* An extension block (the rest of the message), each extension handed to
 * fn with its data, which fn reads to its end. */
typedef bool ext_fn(struct hp *h, unsigned type, struct rd *x, void *ctx);

static bool duplicate(struct hp *h, unsigned type)
{
    static const char prefix[] = "\"duplicate extension: ";
    char *p = h->why;
    memcpy(p, prefix, sizeof prefix - 1);
    p += sizeof prefix - 1;
    if (type >= 10)
        *p++ = (char)('0' + type / 10);
    *p++ = (char)('0' + type % 10);
    *p++ = '"';
    *p = '\0';
    return broke(h, h->why);
}

static bool extensions(struct hp *h, struct rd *body, ext_fn *fn, void *ctx)
{
    struct rd all, x;
    uint64_t seen = 0;          /* the types below 64 met so far: all this file writes a key for */
    if (!VEC(h, body, 2, &all, "extensions"))
        return false;
    while (all.n) {
        unsigned type;
        if (!u16(h, &all, &type, TRUNCATED("extensions")) || !VEC(h, &all, 2, &x, "extensions"))
            return false;
        if (type < 64) {
            if (seen >> type & 1)
                return duplicate(h, type);
            seen |= (uint64_t)1 << type;
        }
        if (!fn(h, type, &x, ctx))
            return false;
    }
    return end(h, body, BAD_LENGTH("extensions"));
}

/* ---- the messages -------------------------------------------------------- */

struct client_hello {
    bool session_id, ticket, psk, ems, reneg;
};

static bool client_hello_ext(struct hp *h, unsigned type, struct rd *x, void *ctx)
{
    struct client_hello *c = ctx;
    switch (type) {
    case TLSEXT_TYPE_server_name:
        return server_name(h, x);
    case TLSEXT_TYPE_supported_groups:
        return CODE_VEC(h, x, 2, tls_group_name, "groups", "supported_groups");
    case TLSEXT_TYPE_signature_algorithms:
        return CODE_VEC(h, x, 2, tls_sigalg_name, "sigalgs", "signature_algorithms");
    case TLSEXT_TYPE_application_layer_protocol_negotiation:
        return alpn_list(h, x);
    case TLSEXT_TYPE_supported_versions:
        return CODE_VEC(h, x, 1, version_name, "versions", "supported_versions");
    case TLSEXT_TYPE_key_share:
        return key_shares(h, x);
    case TLSEXT_TYPE_extended_master_secret:
        c->ems = true;
        return true;
    case TLSEXT_TYPE_session_ticket:
        c->ticket = x->n > 0;
        return true;
    case TLSEXT_TYPE_psk:
        c->psk = true;
        return true;
    case TLSEXT_TYPE_renegotiate:
        c->reneg = true;
        return true;
    default:
        return true;
    }
}

static bool client_hello_body(struct hp *h, struct rd *b, struct client_hello *c)
{
    struct rd v;
    unsigned version;
    if (!u16(h, b, &version, TRUNCATED("legacy_version")))
        return false;
    put_code(h->e, "legacy_version", version, version_name);
    if (!skip(h, b, 32, TRUNCATED("random")) || !VEC(h, b, 1, &v, "session_id"))
        return false;
    c->session_id = v.n > 0;
    if (!VEC(h, b, 2, &v, "cipher_suites") || !ciphers(h, &v, &c->reneg) ||
        !VEC(h, b, 1, &v, "compression_methods"))
        return false;
    /* Without extensions the message ends here (RFC 5246 7.4.1.2). */
    return b->n == 0 || extensions(h, b, client_hello_ext, c);
}

static void client_hello(struct hp *h, struct rd b)
{
    struct client_hello c = { false, false, false, false, false };
    client_hello_body(h, &b, &c);
    ev_bool(h->e, "session_id", c.session_id);
    ev_bool(h->e, "ticket", c.ticket);
    ev_bool(h->e, "psk", c.psk);
    ev_bool(h->e, "ems", c.ems);
    ev_bool(h->e, "reneg", c.reneg);
}

struct server_hello {
    bool hrr;
    bool session_id, psk, ems, reneg;
    bool have_legacy, have_version;
    unsigned legacy, version;
};

static bool server_hello_ext(struct hp *h, unsigned type, struct rd *x, void *ctx)
{
    struct server_hello *s = ctx;
    struct rd key;
    unsigned group;
    switch (type) {
    case TLSEXT_TYPE_supported_versions:
        if (!u16(h, x, &s->version, TRUNCATED("supported_versions")))
            return false;
        s->have_version = true;
        return end(h, x, BAD_LENGTH("supported_versions"));
    case TLSEXT_TYPE_key_share:
        /* The server's share; in a HelloRetryRequest only the group. */
        if (!u16(h, x, &group, TRUNCATED("key_share")) ||
            (!s->hrr && !VEC(h, x, 2, &key, "key_share")) || !end(h, x, BAD_LENGTH("key_share")))
            return false;
        put_code(h->e, "key_share", group, tls_group_name);
        return true;
    case TLSEXT_TYPE_application_layer_protocol_negotiation:
        return s->hrr || alpn_one(h, x);
    case TLSEXT_TYPE_psk:
        s->psk = true;
        return true;
    case TLSEXT_TYPE_extended_master_secret:
        s->ems = true;
        return true;
    case TLSEXT_TYPE_renegotiate:
        s->reneg = true;
        return true;
    default:
        return true;
    }
}

static bool server_hello_body(struct hp *h, struct rd *b, struct server_hello *s)
{
    struct rd v;
    unsigned cipher;
    if (!u16(h, b, &s->legacy, TRUNCATED("legacy_version")))
        return false;
    s->have_legacy = true;
    if (!s->hrr)
        put_code(h->e, "legacy_version", s->legacy, version_name);
    if (!skip(h, b, 32, TRUNCATED("random")) || !VEC(h, b, 1, &v, "session_id"))
        return false;
    s->session_id = v.n > 0;
    if (!u16(h, b, &cipher, TRUNCATED("cipher_suite")))
        return false;
    put_cipher(h, "cipher", cipher);
    if (!skip(h, b, 1, TRUNCATED("compression_method")))
        return false;
    return b->n == 0 || extensions(h, b, server_hello_ext, s);
}

static void server_hello(struct hp *h, struct rd b, bool hrr)
{
    struct server_hello s;
    memset(&s, 0, sizeof s);
    s.hrr = hrr;
    bool ok = server_hello_body(h, &b, &s);
    /* The legacy version is the version only when the message says no more
     * (RFC 8446 4.2.1): not when it broke before its extensions. */
    if (s.have_version || (ok && s.have_legacy))
        put_code(h->e, "version", s.have_version ? s.version : s.legacy, version_name);
    if (hrr)
        return;
    ev_bool(h->e, "session_id", s.session_id);
    ev_bool(h->e, "psk", s.psk);
    ev_bool(h->e, "ems", s.ems);
    ev_bool(h->e, "reneg", s.reneg);
}

struct encrypted_extensions {
    bool sni_ack, early_data;
};

static bool encrypted_extensions_ext(struct hp *h, unsigned type, struct rd *x, void *ctx)
{
    struct encrypted_extensions *ee = ctx;
    switch (type) {
    case TLSEXT_TYPE_server_name:
        ee->sni_ack = true;
        return true;
    case TLSEXT_TYPE_supported_groups:
        return CODE_VEC(h, x, 2, tls_group_name, "groups", "supported_groups");
    case TLSEXT_TYPE_application_layer_protocol_negotiation:
        return alpn_one(h, x);
    case TLSEXT_TYPE_early_data:
        ee->early_data = true;
        return true;
    default:
        return true;
    }
}

static void encrypted_extensions(struct hp *h, struct rd b)
{
    struct encrypted_extensions ee = { false, false };
    extensions(h, &b, encrypted_extensions_ext, &ee);
    ev_bool(h->e, "sni_ack", ee.sni_ack);
    ev_bool(h->e, "early_data", ee.early_data);
}

static bool cert_request_ext(struct hp *h, unsigned type, struct rd *x, void *ctx)
{
    struct rd list;
    (void)ctx;
    switch (type) {
    case TLSEXT_TYPE_signature_algorithms:
        return CODE_VEC(h, x, 2, tls_sigalg_name, "sigalgs", "signature_algorithms");
    case TLSEXT_TYPE_certificate_authorities:
        return VEC(h, x, 2, &list, "certificate_authorities") &&
               end(h, x, BAD_LENGTH("certificate_authorities")) && ca_names(h, &list);
    default:
        return true;
    }
}

static void cert_types(struct hp *h, const struct rd *r)
{
    struct list *l = h->list;
    list_begin(l);
    for (size_t i = 0; i < r->n; i++) {
        if (l->n == LIST_MAX) {
            l->more = r->n - i;
            break;
        }
        const char *s = tls_cert_type_name(r->p[i]);
        if (s) {
            list_add(l, s, strlen(s));
        } else {
            char num[3];
            unsigned v = r->p[i];
            size_t n = v >= 100 ? 3 : v >= 10 ? 2 : 1;
            for (size_t j = n; j-- > 0; v /= 10)
                num[j] = (char)('0' + v % 10);
            list_add(l, num, n);
        }
    }
    list_end(h, KEYS("cert_types"));
}

/* TLS 1.3 (RFC 8446 4.3.2): a context, then extensions. */
static void cert_request13(struct hp *h, struct rd b)
{
    struct rd context;
    if (VEC(h, &b, 1, &context, "context"))
        extensions(h, &b, cert_request_ext, NULL);
}

/* TLS 1.2 (RFC 5246 7.4.4): certificate types, signature algorithms, CA
 * names.  TLS 1.0 and 1.1 have no signature algorithms there (RFC 4346
 * 7.4.4): the rest is then one vector, which a well-formed 1.2 message can
 * never look like (its first vector is followed by a second one). */
static void cert_request12(struct hp *h, struct rd b)
{
    struct rd types, list;
    if (!VEC(h, &b, 1, &types, "certificate_types"))
        return;
    cert_types(h, &types);
    bool only_cas = b.n >= 2 && ((size_t)b.p[0] << 8 | b.p[1]) + 2 == b.n;
    if (!only_cas && (!VEC(h, &b, 2, &list, "signature_algorithms") ||
                      !codes(h, &list, tls_sigalg_name, KEYS("sigalgs"),
                             BAD_LENGTH("signature_algorithms"))))
        return;
    if (VEC(h, &b, 2, &list, "certificate_authorities") && ca_names(h, &list))
        end(h, &b, BAD_LENGTH("certificate_authorities"));
}

/* ---- the interface ------------------------------------------------------- */

bool hello_wanted(int hs_type)
{
    return hs_type == SSL3_MT_CLIENT_HELLO || hs_type == SSL3_MT_SERVER_HELLO ||
           hs_type == SSL3_MT_ENCRYPTED_EXTENSIONS || hs_type == SSL3_MT_CERTIFICATE_REQUEST;
}

const char *hello_fields(struct ev *e, const unsigned char *msg, size_t len, bool tls13,
                         const struct hello_lookup *lk)
{
    struct list list;
    struct hp h = {
        .e = e,
        .cipher_name = lk ? lk->cipher_name : NULL,
        .dn_text = lk ? lk->dn_text : NULL,
        .arg = lk ? lk->arg : NULL,
        .invalid = NULL,
        .list = &list,
    };

    int type = len ? msg[0] : -1;
    size_t declared = 0;
    struct rd body = { msg, 0 };
    if (len >= 4) {
        /* The message's own length, believed only as far as the bytes go. */
        declared = (size_t)msg[1] << 16 | (size_t)msg[2] << 8 | msg[3];
        body.p = msg + 4;
        body.n = declared < len - 4 ? declared : len - 4;
    }
    bool hrr = type == SSL3_MT_SERVER_HELLO && body.n >= 34 &&
               memcmp(body.p + 2, hrr_random, sizeof hrr_random) == 0;
    const char *name = hrr ? "HelloRetryRequest" : handshake_msg_name(type);
    if (!name)
        name = "unknown";
    put_name(e, "hs", name, strlen(name));

    if (len < 4)
        broke(&h, TRUNCATED("header"));
    else if (type == SSL3_MT_CLIENT_HELLO)
        client_hello(&h, body);
    else if (type == SSL3_MT_SERVER_HELLO)
        server_hello(&h, body, hrr);
    else if (type == SSL3_MT_ENCRYPTED_EXTENSIONS)
        encrypted_extensions(&h, body);
    else if (type == SSL3_MT_CERTIFICATE_REQUEST && tls13)
        cert_request13(&h, body);
    else if (type == SSL3_MT_CERTIFICATE_REQUEST)
        cert_request12(&h, body);
    else
        broke(&h, "\"not a hello message\"");
    if (len >= 4 && declared != len - 4)
        broke(&h, BAD_LENGTH("message"));
    if (h.invalid)
        ev_raw(e, "invalid", h.invalid, strlen(h.invalid));
    return name;
}

size_t hello_certificate_entries(const unsigned char *msg, size_t len, bool tls13,
                                 struct der_span *out, size_t max, bool *invalid)
{
    size_t count = 0;
    bool bad = true;
    if (len >= 4 && msg[0] == SSL3_MT_CERTIFICATE) {
        size_t declared = (size_t)msg[1] << 16 | (size_t)msg[2] << 8 | msg[3];
        struct rd b = { msg + 4, declared < len - 4 ? declared : len - 4 };
        struct rd context, cert, exts;
        bad = declared != len - 4;
        /* RFC 8446 4.4.2: a request context first, and extensions after
         * each certificate; RFC 5246 7.4.2: the certificates alone. */
        if ((tls13 && !take_vec(&b, 1, &context)) || b.n < 3) {
            bad = true;
        } else {
            /* The list, or as much of it as there is: the entries before
             * the place it breaks are still certificates. */
            size_t n = (size_t)b.p[0] << 16 | (size_t)b.p[1] << 8 | b.p[2];
            struct rd list = { b.p + 3, b.n - 3 };
            if (n != list.n)
                bad = true;
            if (n < list.n)
                list.n = n;
            while (list.n) {
                if (!take_vec(&list, 3, &cert) || (tls13 && !take_vec(&list, 2, &exts))) {
                    bad = true;
                    break;
                }
                if (count < max) {
                    out[count].p = cert.p;
                    out[count].len = cert.n;
                }
                count++;
            }
        }
    }
    if (invalid)
        *invalid = bad;
    return count;
}
