/* test_hello.c — hello.c against real messages and hostile ones.
 *
 * 1. Known answers: hello messages captured from OpenSSL 3.0's s_client and
 *    s_server (-msg) on 127.0.0.1 — TLS 1.3 and 1.2 ClientHellos (the 1.2
 *    one resuming a ticket, with both signalling suites), ServerHellos, a
 *    HelloRetryRequest, EncryptedExtensions, CertificateRequests with two CA
 *    names and Certificate messages of two entries — give these exact lines.
 *    Made ones show the escaping of the peer's strings, where a broken
 *    message stops, a repeated extension, a TLS 1.1 CertificateRequest.
 * 2. Bounds: the worst message of each type (every list past its cap, the
 *    longest names, peer strings that escape to six bytes a byte) stays
 *    under LINE_LIMIT; every name of names.c's hello tables is plain.
 * 3. Fuzz, deterministic (a fixed-seed xorshift): every truncation of every
 *    captured message, then FUZZ_INPUTS inputs mixing mutations of the
 *    messages (bit flips, bytes set, length fields moved, bytes inserted and
 *    deleted), well-framed messages with random contents, and random
 *    buffers, each in a malloc'd block of exactly its length (so ASan sees
 *    any over-read), through hello_fields (both tls13 values, no lookups,
 *    NULL ones, fake, hostile and longest names) and
 *    hello_certificate_entries.  Each line must be one strict
 *    JSON object with unique keys, "hs" first, within LINE_LIMIT.
 * Links only the core objects: no libssl at run time. */
#include "check.h"
#include "fuzz.h"
#include "json_line.h"
#include "event.h"
#include "hello.h"
#include "names.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_LIMIT 16384            /* what one line may grow to */
#define FUZZ_INPUTS 1000000UL
#define WORK_MAX 20000              /* a built or mutated message */

static unsigned long checks, inputs;

#define EXPECT(cond)          \
    do {                      \
        checks++;             \
        CHECK(cond);          \
    } while (0)

/* ---- the captured messages ------------------------------------------------ */

/* The hex that `-msg` prints, from OpenSSL 3.0.x:
 *   openssl s_server -accept 127.0.0.1:PORT -cert srv.pem -key srv.key \
 *       -cert_chain ca1.pem -Verify 1 -CAfile cas.pem -alpn h2,http/1.1 -msg
 *   openssl s_client -connect 127.0.0.1:PORT -servername example.com \
 *       -alpn h2,http/1.1 -cert ca2.pem -key ca2.key -msg -tls1_3
 * (EC P-256 keys; cas.pem holds "/C=US/O=Test CA/CN=Client CA One", which
 * signed srv.pem, and the self-signed "/C=DE/CN=Client CA Two").  The 1.2
 * ClientHello is the second of two -tls1_2 connections, with -sess_in
 * (a ticket) and -fallback_scsv; the HelloRetryRequest comes from a client
 * with -groups P-256:X25519 and a server with -groups X25519. */
static const char ch13_hex[] =  /* 258 bytes */
    "010000fe0303f761282d33fc6dcd17f2b3f5315638852436b0a0f61f7bfcdb8689ff9b603598"
    "203f19b2eda45136fc38b3c958534e3d63f3a81dbb7199c6057906e6996aa831360008130213"
    "03130100ff010000ad00000010000e00000b6578616d706c652e636f6d000b00040300010200"
    "0a00160014001d0017001e0019001801000101010201030104002300000010000e000c026832"
    "08687474702f312e310016000000170000000d001e001c040305030603080708080809080a08"
    "0b080408050806040105010601002b0003020304002d00020101003300260024001d0020ebd3"
    "d70a22c479212d7aa428e0c8ac1a9b3bde93361c1cc6d586427f4fc77044"
    ;
static const char ch12_hex[] =  /* 847 bytes */
    "0100034b0303f924bb24817965970f55120cf424e097a32554901f5979c02cf3d3086004325c"
    "20740d2b6c4788548d8607af7e908350775aa3526a61607a520dfdf8573e595362003ac02cc0"
    "30009fcca9cca8ccaac02bc02f009ec024c028006bc023c0270067c00ac0140039c009c01300"
    "33009d009c003d003c0035002f00ff5600010002c800000010000e00000b6578616d706c652e"
    "636f6d000b000403000102000a000c000a001d0017001e0019001800230250af40dca860ba31"
    "f7ddc4f3e8c1093f8b5d42904d77725172af69c4cd33b30c9b521855fec1eb065708e6eec003"
    "5092c14dfd4b1639dab7a902e263a3f6ba4a303c9a1bd73359403587b297a896b3d4bd501f88"
    "0d40b3e1374d9d8c987b1df279baa5705c01843ed3df77f98ec6274620609cba53021b7179d4"
    "c8abc41a0cd1d5171641722c9d8140bfb544f620583a9552f6c71abed5edd060a6e0bc4bed4d"
    "91be87fe10870c7dfec03310621ada1f6844f01cdfd4b0ec92e3bb0f90a26a20b19d0e21f984"
    "982e37bf382a18c2eb45c012534b5366527220c656546647043823fa40792d737cf1dab58584"
    "ffe4d45e60419f126b0457e6be95ec2ed9092e6cc6da6970cfaa8e9b034488a242ec75712a43"
    "b88f3b10bb93559491dd1a8d7ab905a1e30d8910b8372af7627476f269e9f368db1272011408"
    "cf27be04a1641238ca73b585e599e0ca7facdb5b572c4c498a447bf6766fa0a06db51107fe22"
    "a5542e914cd8fd9a3d4c00cd7f4df2b7adfc5b2a0934d8392a95bae4efdb71f70d5023db7bd6"
    "939b3a8675342df62f47e3b975794fd9aa0c8a2149aef26122e01ac7cdfc858df22db21a0093"
    "ebeb690f373de40da1531067b47cf3011a87932c7df55b1dc066de4ef70a0955eff9d4b64cc5"
    "5d2964eec2cddcd5b8fc04ccc48eb80a47aab2a2d12d3268b8f8264b74baf17ed90b09f32a3f"
    "d32a09ab940d3a2e8efa3a37067d84b1b69811dda6ab5b442aa23b13dd9b30d1e5d000a9e275"
    "464782f9a565944a34533e748949cad5396ed4e3a849e93f042b73a5380a9feb92ddf44b0463"
    "6ef8ce9966c28312cc85ef11ed2c9b0010000e000c02683208687474702f312e310016000000"
    "170000000d002a0028040305030603080708080809080a080b08040805080604010501060103"
    "0303010302040205020602"
    ;
static const char sh12_hex[] =  /* 74 bytes */
    "0200004603033dc1815c63b624d212950ba08871eaf34c4faad3bd2ed3b6444f574e47524401"
    "00c02c00001eff01000100000b0004030001020023000000100005000302683200170000"
    ;
static const char sh13_hex[] =  /* 122 bytes */
    "020000760303d53ed88b74a6b0f54a4788eaa4895f2ecf798c62a6b1de4bc1197d0efa493eba"
    "203f19b2eda45136fc38b3c958534e3d63f3a81dbb7199c6057906e6996aa83136130200002e"
    "002b0002030400330024001d00202312d13e5a097379f50a6190dab4157f11fbca6cc89360f4"
    "a0c0286e6ddd006d"
    ;
static const char hrr_hex[] =  /* 88 bytes */
    "020000540303cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"
    "201af4c6d76a2a44d4158c999610620f5f1ad3d95c57a5ba9a706d09cb3341f2f6130200000c"
    "002b0002030400330002001d"
    ;
static const char ch13_after_hrr_hex[] =  /* 242 bytes */
    "010000ee0303779bda150fac96b7b9df6c147be375184b5c17cdf126075fbd194ea9f5fbd98a"
    "201af4c6d76a2a44d4158c999610620f5f1ad3d95c57a5ba9a706d09cb3341f2f60008130213"
    "03130100ff0100009d00000010000e00000b6578616d706c652e636f6d000b00040300010200"
    "0a000600040017001d002300000010000e000c02683208687474702f312e3100160000001700"
    "00000d001e001c040305030603080708080809080a080b080408050806040105010601002b00"
    "03020304002d00020101003300260024001d00202525213261f0401552d7eded0c14a44f9acd"
    "78069d4077def5d16671ccb77e2c"
    ;
static const char ee13_hex[] =  /* 15 bytes */
    "0800000b0009001000050003026832"
    ;
static const char cr12_hex[] =  /* 152 bytes */
    "0d000094030102400028040305030603080708080809080a080b080408050806040105010601"
    "030303010302040205020602006400393037310b30090603550406130255533110300e060355"
    "040a0c07546573742043413116301406035504030c0d436c69656e74204341204f6e65002730"
    "25310b30090603550406130244453116301406035504030c0d436c69656e742043412054776f"
    ;
static const char cr13_hex[] =  /* 151 bytes */
    "0d000093000090000d00220020040305030603080708080809080a080b080408050806040105"
    "01060103030301002f0066006400393037310b30090603550406130255533110300e06035504"
    "0a0c07546573742043413116301406035504030c0d436c69656e74204341204f6e6500273025"
    "310b30090603550406130244453116301406035504030c0d436c69656e742043412054776f"
    ;
static const char cert12_hex[] =  /* 797 bytes */
    "0b000319000316000149308201453081ec021462e89d85097ed71efc1e3d9cfe566c1d52e4ad"
    "95300a06082a8648ce3d0403023037310b30090603550406130255533110300e060355040a0c"
    "07546573742043413116301406035504030c0d436c69656e74204341204f6e65301e170d3236"
    "313230363039333133305a170d3237303130353039333133305a30143112301006035504030c"
    "096c6f63616c686f73743059301306072a8648ce3d020106082a8648ce3d03010703420004f8"
    "c140f31a79a65769fe34fa9a6303c021138cf426e65fbdc07e804c34e9664d0db16e39e57170"
    "2114e4fa64d33667844eea795f613db1dc14fc44d8b491ae91300a06082a8648ce3d04030203"
    "48003045022100e24302abeecd2a5fe21e52d3f192e3c6fba22f6c0823f044569eee38aa7680"
    "4c022010f7f63805f1299bbe68624c0e0845cce960586c618ed56d1da1e000f4180a6e0001c7"
    "308201c330820169a00302010202145947c052d1bec312320de1dc84c1b85cc91e0c7b300a06"
    "082a8648ce3d0403023037310b30090603550406130255533110300e060355040a0c07546573"
    "742043413116301406035504030c0d436c69656e74204341204f6e65301e170d323631323036"
    "3039333133305a170d3237303130353039333133305a3037310b300906035504061302555331"
    "10300e060355040a0c07546573742043413116301406035504030c0d436c69656e7420434120"
    "4f6e653059301306072a8648ce3d020106082a8648ce3d030107034200043aa2f43d3f86ce5a"
    "da69e4df8eac77a6432b5a0bfc67bcc91ddbb332ed873f10eaf4663deb5cdeace4442a36fc30"
    "5e8c364c1f60a9dd3e098a926177a183a83aa3533051301d0603551d0e0416041472ce112642"
    "72e09c0d0ba1df7f826add8e45f979301f0603551d2304183016801472ce11264272e09c0d0b"
    "a1df7f826add8e45f979300f0603551d130101ff040530030101ff300a06082a8648ce3d0403"
    "020348003045022100d13741bdfcc241e10564c9be8431d6d06f9f99924091ecceee4d900813"
    "e4802d02207194083969241566cd27b6da8eb36941c022f33e393911502518e67f7e8f90ec"
    ;
static const char cert13_hex[] =  /* 802 bytes */
    "0b00031e0000031a000149308201453081ec021462e89d85097ed71efc1e3d9cfe566c1d52e4"
    "ad95300a06082a8648ce3d0403023037310b30090603550406130255533110300e060355040a"
    "0c07546573742043413116301406035504030c0d436c69656e74204341204f6e65301e170d32"
    "36313230363039333133305a170d3237303130353039333133305a3014311230100603550403"
    "0c096c6f63616c686f73743059301306072a8648ce3d020106082a8648ce3d03010703420004"
    "f8c140f31a79a65769fe34fa9a6303c021138cf426e65fbdc07e804c34e9664d0db16e39e571"
    "702114e4fa64d33667844eea795f613db1dc14fc44d8b491ae91300a06082a8648ce3d040302"
    "0348003045022100e24302abeecd2a5fe21e52d3f192e3c6fba22f6c0823f044569eee38aa76"
    "804c022010f7f63805f1299bbe68624c0e0845cce960586c618ed56d1da1e000f4180a6e0000"
    "0001c7308201c330820169a00302010202145947c052d1bec312320de1dc84c1b85cc91e0c7b"
    "300a06082a8648ce3d0403023037310b30090603550406130255533110300e060355040a0c07"
    "546573742043413116301406035504030c0d436c69656e74204341204f6e65301e170d323631"
    "3230363039333133305a170d3237303130353039333133305a3037310b300906035504061302"
    "55533110300e060355040a0c07546573742043413116301406035504030c0d436c69656e7420"
    "4341204f6e653059301306072a8648ce3d020106082a8648ce3d030107034200043aa2f43d3f"
    "86ce5ada69e4df8eac77a6432b5a0bfc67bcc91ddbb332ed873f10eaf4663deb5cdeace4442a"
    "36fc305e8c364c1f60a9dd3e098a926177a183a83aa3533051301d0603551d0e0416041472ce"
    "11264272e09c0d0ba1df7f826add8e45f979301f0603551d2304183016801472ce11264272e0"
    "9c0d0ba1df7f826add8e45f979300f0603551d130101ff040530030101ff300a06082a8648ce"
    "3d0403020348003045022100d13741bdfcc241e10564c9be8431d6d06f9f99924091ecceee4d"
    "900813e4802d02207194083969241566cd27b6da8eb36941c022f33e393911502518e67f7e8f"
    "90ec0000"
    ;

enum use { FIELDS, CERTS };
struct seed {
    const char *name, *hex;
    enum use use;
    bool tls13;
    unsigned char *b;
    size_t n;
};

static struct seed seeds[] = {
    { "ClientHello 1.3", ch13_hex, FIELDS, true, NULL, 0 },
    { "ClientHello 1.2", ch12_hex, FIELDS, false, NULL, 0 },
    { "ServerHello 1.2", sh12_hex, FIELDS, false, NULL, 0 },
    { "ServerHello 1.3", sh13_hex, FIELDS, true, NULL, 0 },
    { "HelloRetryRequest", hrr_hex, FIELDS, true, NULL, 0 },
    { "ClientHello after HRR", ch13_after_hrr_hex, FIELDS, true, NULL, 0 },
    { "EncryptedExtensions", ee13_hex, FIELDS, true, NULL, 0 },
    { "CertificateRequest 1.2", cr12_hex, FIELDS, false, NULL, 0 },
    { "CertificateRequest 1.3", cr13_hex, FIELDS, true, NULL, 0 },
    { "Certificate 1.2", cert12_hex, CERTS, false, NULL, 0 },
    { "Certificate 1.3", cert13_hex, CERTS, true, NULL, 0 },
};
#define NSEEDS (sizeof seeds / sizeof seeds[0])

/* ---- lookups ----------------------------------------------------------------- */

/* OpenSSL's names for a few suites; the rest are written as hex. */
static const char *fake_cipher(void *arg, unsigned code)
{
    (void)arg;
    switch (code) {
    case 0x1301: return "TLS_AES_128_GCM_SHA256";
    case 0x1302: return "TLS_AES_256_GCM_SHA384";
    case 0x1303: return "TLS_CHACHA20_POLY1305_SHA256";
    case 0xc02b: return "ECDHE-ECDSA-AES128-GCM-SHA256";
    case 0xc02c: return "ECDHE-ECDSA-AES256-GCM-SHA384";
    case 0xc030: return "ECDHE-RSA-AES256-GCM-SHA384";
    case 0xcca9: return "ECDHE-ECDSA-CHACHA20-POLY1305";
    default: return NULL;
    }
}

/* Names hello.c must not write as they are, and the longest it may. */
static const char *hostile_cipher(void *arg, unsigned code)
{
    (void)arg;
    switch (code % 8) {
    case 0: return NULL;
    case 1: return "has\"quote";
    case 2: return "ABCDEFGHIJ0123456789abcdefghij0123456789X";    /* 41 bytes */
    case 3: return "";
    case 4: return "ctrl\x01";
    case 5: return "ABCDEFGHIJ0123456789abcdefghij0123456789";     /* 40 bytes */
    case 6: return "caf\xc3\xa9";
    default: return "back\\slash";
    }
}

/* The longest name hello.c writes as it is, for every suite. */
static const char *long_cipher(void *arg, unsigned code)
{
    (void)arg;
    (void)code;
    return "ABCDEFGHIJ0123456789abcdefghij0123456789";
}

/* A DER Name as "/C=US/O=Test CA/CN=Client CA One": the short-form
 * AttributeTypeAndValues of id-at-* found in it. */
static bool fake_dn(void *arg, const unsigned char *der, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    (void)arg;
    for (size_t i = 0; i + 6 < len; i++) {
        if (der[i] != 0x06 || der[i + 1] != 0x03 || der[i + 2] != 0x55 || der[i + 3] != 0x04)
            continue;
        const char *attr = der[i + 4] == 3 ? "CN" : der[i + 4] == 6 ? "C" : der[i + 4] == 10 ? "O"
                                                                                            : "X";
        size_t vlen = der[i + 6];
        if (vlen >= 0x80 || i + 7 + vlen > len)
            return false;
        int w = snprintf(out + n, cap - n, "/%s=%.*s", attr, (int)vlen, (const char *)der + i + 7);
        if (w < 0 || (size_t)w >= cap - n)
            return false;
        n += (size_t)w;
        i += 6 + vlen;
    }
    return n > 0;
}

/* Text that must be escaped, filling all of out without a terminator. */
static bool hostile_dn(void *arg, const unsigned char *der, size_t len, char *out, size_t cap)
{
    static const char fill[] = { '\x01', '"', '\\', '\xff', '\n' };
    (void)arg;
    (void)der;
    if (len % 7 == 3)
        return false;
    memset(out, fill[len % sizeof fill], cap);
    return true;
}

static const struct hello_lookup lk_fake = { fake_cipher, fake_dn, NULL };
static const struct hello_lookup lk_none = { NULL, NULL, NULL };
static const struct hello_lookup lk_hostile = { hostile_cipher, hostile_dn, NULL };
static const struct hello_lookup lk_long = { long_cipher, hostile_dn, NULL };
static const struct hello_lookup *const lookups[] = { NULL, &lk_none, &lk_fake, &lk_hostile,
                                                      &lk_long };

/* The lines of the captured messages, with the fake lookups. */
#define KNOWN_CH13 \
    "{\"ev\":\"hello\",\"hs\":\"ClientHello\",\"legacy_version\":\"TLSv1.2\"," \
    "\"ciphers\":[\"TLS_AES_256_GCM_SHA384\",\"TLS_CHACHA20_POLY1305_SHA256\"," \
    "\"TLS_AES_128_GCM_SHA256\",\"TLS_EMPTY_RENEGOTIATION_INFO_SCSV\"]," \
    "\"sni\":\"example.com\",\"groups\":[\"x25519\",\"secp256r1\",\"x448\",\"secp521r1\"," \
    "\"secp384r1\",\"ffdhe2048\",\"ffdhe3072\",\"ffdhe4096\",\"ffdhe6144\",\"ffdhe8192\"]," \
    "\"alpn\":[\"h2\",\"http/1.1\"],\"sigalgs\":[\"ecdsa_secp256r1_sha256\"," \
    "\"ecdsa_secp384r1_sha384\",\"ecdsa_secp521r1_sha512\",\"ed25519\",\"ed448\"," \
    "\"rsa_pss_pss_sha256\",\"rsa_pss_pss_sha384\",\"rsa_pss_pss_sha512\"," \
    "\"rsa_pss_rsae_sha256\",\"rsa_pss_rsae_sha384\",\"rsa_pss_rsae_sha512\"," \
    "\"rsa_pkcs1_sha256\",\"rsa_pkcs1_sha384\",\"rsa_pkcs1_sha512\"]," \
    "\"versions\":[\"TLSv1.3\"],\"key_shares\":[\"x25519\"],\"session_id\":true," \
    "\"ticket\":false,\"psk\":false,\"ems\":true,\"reneg\":true}\n"

#define KNOWN_CH12 \
    "{\"ev\":\"hello\",\"hs\":\"ClientHello\",\"legacy_version\":\"TLSv1.2\"," \
    "\"ciphers\":[\"ECDHE-ECDSA-AES256-GCM-SHA384\",\"ECDHE-RSA-AES256-GCM-SHA384\"," \
    "\"0x009f\",\"ECDHE-ECDSA-CHACHA20-POLY1305\",\"0xcca8\",\"0xccaa\"," \
    "\"ECDHE-ECDSA-AES128-GCM-SHA256\",\"0xc02f\",\"0x009e\",\"0xc024\",\"0xc028\"," \
    "\"0x006b\",\"0xc023\",\"0xc027\",\"0x0067\",\"0xc00a\",\"0xc014\",\"0x0039\"," \
    "\"0xc009\",\"0xc013\",\"0x0033\",\"0x009d\",\"0x009c\",\"0x003d\",\"0x003c\"," \
    "\"0x0035\",\"0x002f\",\"TLS_EMPTY_RENEGOTIATION_INFO_SCSV\",\"TLS_FALLBACK_SCSV\"]," \
    "\"sni\":\"example.com\",\"groups\":[\"x25519\",\"secp256r1\",\"x448\",\"secp521r1\"," \
    "\"secp384r1\"],\"alpn\":[\"h2\",\"http/1.1\"],\"sigalgs\":[\"ecdsa_secp256r1_sha256\"," \
    "\"ecdsa_secp384r1_sha384\",\"ecdsa_secp521r1_sha512\",\"ed25519\",\"ed448\"," \
    "\"rsa_pss_pss_sha256\",\"rsa_pss_pss_sha384\",\"rsa_pss_pss_sha512\"," \
    "\"rsa_pss_rsae_sha256\",\"rsa_pss_rsae_sha384\",\"rsa_pss_rsae_sha512\"," \
    "\"rsa_pkcs1_sha256\",\"rsa_pkcs1_sha384\",\"rsa_pkcs1_sha512\",\"ecdsa_sha224\"," \
    "\"rsa_pkcs1_sha224\",\"dsa_sha224\",\"dsa_sha256\",\"dsa_sha384\",\"dsa_sha512\"]," \
    "\"session_id\":true,\"ticket\":true,\"psk\":false,\"ems\":true,\"reneg\":true}\n"

#define KNOWN_SH12 \
    "{\"ev\":\"hello\",\"hs\":\"ServerHello\",\"legacy_version\":\"TLSv1.2\"," \
    "\"cipher\":\"ECDHE-ECDSA-AES256-GCM-SHA384\",\"alpn\":\"h2\",\"version\":\"TLSv1.2\"," \
    "\"session_id\":false,\"psk\":false,\"ems\":true,\"reneg\":true}\n"

#define KNOWN_SH13 \
    "{\"ev\":\"hello\",\"hs\":\"ServerHello\",\"legacy_version\":\"TLSv1.2\"," \
    "\"cipher\":\"TLS_AES_256_GCM_SHA384\",\"key_share\":\"x25519\"," \
    "\"version\":\"TLSv1.3\",\"session_id\":true,\"psk\":false,\"ems\":false," \
    "\"reneg\":false}\n"

#define KNOWN_HRR \
    "{\"ev\":\"hello\",\"hs\":\"HelloRetryRequest\",\"cipher\":\"TLS_AES_256_GCM_SHA384\"," \
    "\"key_share\":\"x25519\",\"version\":\"TLSv1.3\"}\n"

#define KNOWN_CH13_AFTER_HRR \
    "{\"ev\":\"hello\",\"hs\":\"ClientHello\",\"legacy_version\":\"TLSv1.2\"," \
    "\"ciphers\":[\"0x1302\",\"0x1303\",\"0x1301\",\"TLS_EMPTY_RENEGOTIATION_INFO_SCSV\"]," \
    "\"sni\":\"example.com\",\"groups\":[\"secp256r1\",\"x25519\"],\"alpn\":[\"h2\"," \
    "\"http/1.1\"],\"sigalgs\":[\"ecdsa_secp256r1_sha256\",\"ecdsa_secp384r1_sha384\"," \
    "\"ecdsa_secp521r1_sha512\",\"ed25519\",\"ed448\",\"rsa_pss_pss_sha256\"," \
    "\"rsa_pss_pss_sha384\",\"rsa_pss_pss_sha512\",\"rsa_pss_rsae_sha256\"," \
    "\"rsa_pss_rsae_sha384\",\"rsa_pss_rsae_sha512\",\"rsa_pkcs1_sha256\"," \
    "\"rsa_pkcs1_sha384\",\"rsa_pkcs1_sha512\"],\"versions\":[\"TLSv1.3\"]," \
    "\"key_shares\":[\"x25519\"],\"session_id\":true,\"ticket\":false,\"psk\":false," \
    "\"ems\":true,\"reneg\":true}\n"

#define KNOWN_EE \
    "{\"ev\":\"hello\",\"hs\":\"EncryptedExtensions\",\"alpn\":\"h2\",\"sni_ack\":false," \
    "\"early_data\":false}\n"

#define KNOWN_CR12 \
    "{\"ev\":\"hello\",\"hs\":\"CertificateRequest\",\"cert_types\":[\"rsa_sign\"," \
    "\"dss_sign\",\"ecdsa_sign\"],\"sigalgs\":[\"ecdsa_secp256r1_sha256\"," \
    "\"ecdsa_secp384r1_sha384\",\"ecdsa_secp521r1_sha512\",\"ed25519\",\"ed448\"," \
    "\"rsa_pss_pss_sha256\",\"rsa_pss_pss_sha384\",\"rsa_pss_pss_sha512\"," \
    "\"rsa_pss_rsae_sha256\",\"rsa_pss_rsae_sha384\",\"rsa_pss_rsae_sha512\"," \
    "\"rsa_pkcs1_sha256\",\"rsa_pkcs1_sha384\",\"rsa_pkcs1_sha512\",\"ecdsa_sha224\"," \
    "\"rsa_pkcs1_sha224\",\"dsa_sha224\",\"dsa_sha256\",\"dsa_sha384\",\"dsa_sha512\"]," \
    "\"ca_names\":[\"/C=US/O=Test CA/CN=Client CA One\",\"/C=DE/CN=Client CA Two\"]}\n"

#define KNOWN_CR12_HEX \
    "{\"ev\":\"hello\",\"hs\":\"CertificateRequest\",\"cert_types\":[\"rsa_sign\"," \
    "\"dss_sign\",\"ecdsa_sign\"],\"sigalgs\":[\"ecdsa_secp256r1_sha256\"," \
    "\"ecdsa_secp384r1_sha384\",\"ecdsa_secp521r1_sha512\",\"ed25519\",\"ed448\"," \
    "\"rsa_pss_pss_sha256\",\"rsa_pss_pss_sha384\",\"rsa_pss_pss_sha512\"," \
    "\"rsa_pss_rsae_sha256\",\"rsa_pss_rsae_sha384\",\"rsa_pss_rsae_sha512\"," \
    "\"rsa_pkcs1_sha256\",\"rsa_pkcs1_sha384\",\"rsa_pkcs1_sha512\",\"ecdsa_sha224\"," \
    "\"rsa_pkcs1_sha224\",\"dsa_sha224\",\"dsa_sha256\",\"dsa_sha384\",\"dsa_sha512\"]," \
    "\"ca_names\":[\"3037310b30090603550406130255533110300e060355040a0c0754657374" \
    "2043413116301406035504030c0d436c69656e74204341204f6e65\"," \
    "\"3025310b30090603550406130244453116301406035504030c0d436c69656e742043412054776f\"]}\n"

#define KNOWN_CR13 \
    "{\"ev\":\"hello\",\"hs\":\"CertificateRequest\"," \
    "\"sigalgs\":[\"ecdsa_secp256r1_sha256\",\"ecdsa_secp384r1_sha384\"," \
    "\"ecdsa_secp521r1_sha512\",\"ed25519\",\"ed448\",\"rsa_pss_pss_sha256\"," \
    "\"rsa_pss_pss_sha384\",\"rsa_pss_pss_sha512\",\"rsa_pss_rsae_sha256\"," \
    "\"rsa_pss_rsae_sha384\",\"rsa_pss_rsae_sha512\",\"rsa_pkcs1_sha256\"," \
    "\"rsa_pkcs1_sha384\",\"rsa_pkcs1_sha512\",\"ecdsa_sha224\",\"rsa_pkcs1_sha224\"]," \
    "\"ca_names\":[\"/C=US/O=Test CA/CN=Client CA One\",\"/C=DE/CN=Client CA Two\"]}\n"

/* ---- running hello.c ------------------------------------------------------------ */

static const char head[] = "{\"ev\":\"hello\"";
static char line[1 << 18];          /* head and body: far past what a line may be */
static size_t line_len, body_len;
static unsigned long shown;

static void show(const char *why, const unsigned char *msg, size_t len)
{
    if (shown++ >= 5)
        return;
    fprintf(stderr, "  %s; input (%zu bytes):", why, len);
    for (size_t i = 0; i < len && i < 512; i++)
        fprintf(stderr, "%02x", msg[i]);
    fprintf(stderr, "\n  line: %s", line);
}

/* hello_fields on msg[0..len): the line (as the sink writes it, after its
 * header) is in `line`; returns the name hello_fields gave. */
static const char *fields(const unsigned char *msg, size_t len, bool tls13,
                          const struct hello_lookup *lk)
{
    struct ev e;
    size_t n = 0;
    ev_begin(&e, "hello", 0, false);
    const char *name = hello_fields(&e, msg, len, tls13, lk);
    const char *body = ev_body(&e, &n);
    EXPECT(body != NULL);
    if (!body)
        n = 0;
    body_len = n;
    if (n > sizeof line - sizeof head)
        n = sizeof line - sizeof head;
    memcpy(line, head, sizeof head - 1);
    if (n)
        memcpy(line + sizeof head - 1, body, n);
    line_len = sizeof head - 1 + n;
    line[line_len] = '\0';
    ev_free(&e);

    /* One strict JSON object, bounded, "hs" first and named as returned. */
    bool ok = body_len <= LINE_LIMIT && json_line(line, line_len);
    EXPECT(ok);
    size_t hs = sizeof head - 1 + sizeof ",\"hs\":\"" - 1;
    bool named = name && strncmp(line + sizeof head - 1, ",\"hs\":\"", 7) == 0 &&
                 strncmp(line + hs, name, strlen(name)) == 0 && line[hs + strlen(name)] == '"';
    EXPECT(named);
    if (!ok || !named)
        show(body_len > LINE_LIMIT ? "too long" : "not a good line", msg, len);
    return name;
}

static bool has(const char *field)
{
    return strstr(line, field) != NULL;
}

/* hello_certificate_entries on msg[0..len): the spans lie inside msg. */
static size_t certs(const unsigned char *msg, size_t len, bool tls13, struct der_span *out,
                    size_t max, bool *invalid)
{
    size_t count = hello_certificate_entries(msg, len, tls13, out, max, invalid);
    bool inside = true;
    for (size_t i = 0; i < count && i < max; i++)
        inside = inside && out[i].p >= msg + 4 && out[i].len <= len &&
                 out[i].p + out[i].len <= msg + len;
    EXPECT(inside);
    if (!inside)
        show("a span outside the message", msg, len);
    return count;
}

/* An input as the fuzzer gives it: in a block of exactly its length. */
static void run(const unsigned char *w, size_t n, bool tls13, const struct hello_lookup *lk,
                bool broken)
{
    unsigned char *msg = malloc(n);
    struct der_span out[4];
    bool invalid = false;
    if (n && !msg)
        abort();
    if (n)
        memcpy(msg, w, n);
    inputs++;
    fields(msg, n, tls13, lk);
    if (broken) {
        EXPECT(has(",\"invalid\":\""));
        certs(msg, n, tls13, out, 4, &invalid);
        EXPECT(invalid);
    } else {
        certs(msg, n, tls13, out, inputs & 1 ? 4 : 0, inputs & 2 ? &invalid : NULL);
    }
    free(msg);
}

/* ---- known answers ---------------------------------------------------------------- */

struct known {
    size_t seed;
    const struct hello_lookup *lk;
    const char *name, *line;
};

static const struct known known[] = {
    { 0, &lk_fake, "ClientHello", KNOWN_CH13 },
    { 1, &lk_fake, "ClientHello", KNOWN_CH12 },
    { 2, &lk_fake, "ServerHello", KNOWN_SH12 },
    { 3, &lk_fake, "ServerHello", KNOWN_SH13 },
    { 4, &lk_fake, "HelloRetryRequest", KNOWN_HRR },
    { 5, NULL, "ClientHello", KNOWN_CH13_AFTER_HRR },
    { 6, &lk_fake, "EncryptedExtensions", KNOWN_EE },
    { 7, &lk_fake, "CertificateRequest", KNOWN_CR12 },
    { 7, NULL, "CertificateRequest", KNOWN_CR12_HEX },
    { 8, &lk_fake, "CertificateRequest", KNOWN_CR13 },
};

static void known_answers(void)
{
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        const struct known *k = &known[i];
        const struct seed *s = &seeds[k->seed];
        const char *name = fields(s->b, s->n, s->tls13, k->lk);
        EXPECT(strcmp(name, k->name) == 0);
        bool same = strcmp(line, k->line) == 0;
        EXPECT(same);
        if (!same)
            fprintf(stderr, "  %s:\n  got:  %s  want: %s\n", s->name, line, k->line);
    }

    /* The pieces that matter most, by name. */
    fields(seeds[1].b, seeds[1].n, false, &lk_fake);
    EXPECT(has("\"ticket\":true") && has("\"ems\":true") && has("\"reneg\":true"));
    EXPECT(has("\"TLS_FALLBACK_SCSV\"") && has("\"TLS_EMPTY_RENEGOTIATION_INFO_SCSV\""));
    EXPECT(!has("\"versions\"") && !has("\"key_shares\"") && !has("\"invalid\""));
    fields(seeds[0].b, seeds[0].n, true, NULL);
    EXPECT(has("\"ciphers\":[\"0x1302\",\"0x1303\",\"0x1301\",\"TLS_EMPTY_RENEGOTIATION_INFO_SCSV\"]"));

    /* A Certificate message is not a hello; a ClientHello is no Certificate. */
    EXPECT(!hello_wanted(11));
    fields(seeds[9].b, seeds[9].n, false, NULL);
    EXPECT(has("\"hs\":\"Certificate\"") && has("\"invalid\":\"not a hello message\""));
    fields(NULL, 0, false, NULL);
    EXPECT(strcmp(line, "{\"ev\":\"hello\",\"hs\":\"unknown\",\"invalid\":\"truncated: header\"}\n") == 0);
    for (int t = -1; t < 300; t++)
        EXPECT(hello_wanted(t) == (t == 1 || t == 2 || t == 8 || t == 13));

    /* Certificates: two entries each, starting where the layouts say. */
    for (size_t i = 9; i <= 10; i++) {
        const struct seed *s = &seeds[i];
        struct der_span out[3];
        bool invalid = true;
        memset(out, 0, sizeof out);
        size_t count = certs(s->b, s->n, s->tls13, out, 3, &invalid);
        EXPECT(count == 2 && !invalid);
        EXPECT(out[0].p == s->b + (s->tls13 ? 11 : 10) && out[0].len == 0x149);
        EXPECT(out[1].p == out[0].p + out[0].len + (s->tls13 ? 5 : 3));
        EXPECT(out[1].p + out[1].len + (s->tls13 ? 2 : 0) == s->b + s->n);
        EXPECT(out[0].p[0] == 0x30 && out[1].p[0] == 0x30 && out[2].p == NULL);
        /* Fewer slots than entries: the count still says how many. */
        memset(out, 0, sizeof out);
        EXPECT(certs(s->b, s->n, s->tls13, out, 1, &invalid) == 2 && !invalid && !out[1].p);
        EXPECT(certs(s->b, s->n, s->tls13, NULL, 0, NULL) == 2);
        /* Cut inside the second certificate: the first is kept. */
        EXPECT(certs(s->b, s->n - 40, s->tls13, out, 3, &invalid) == 1 && invalid);
        EXPECT(out[0].len == 0x149);
        /* Not a Certificate message at all. */
        EXPECT(certs(seeds[0].b, seeds[0].n, s->tls13, out, 3, &invalid) == 0 && invalid);
    }
}

/* ---- building messages --------------------------------------------------------------- */

struct out {
    size_t n;
    unsigned char b[WORK_MAX];
};

static void put8(struct out *o, unsigned v)
{
    if (o->n < WORK_MAX)
        o->b[o->n++] = (unsigned char)v;
}

static void put16(struct out *o, unsigned v)
{
    put8(o, v >> 8 & 0xff);
    put8(o, v & 0xff);
}

static void put_fill(struct out *o, unsigned char c, size_t n)
{
    while (n--)
        put8(o, c);
}

static size_t open_vec(struct out *o, unsigned width)
{
    size_t at = o->n;
    put_fill(o, 0, width);
    return at;
}

static void close_vec(struct out *o, size_t at, unsigned width)
{
    size_t len = o->n - at - width;
    for (unsigned i = 0; i < width && at + i < WORK_MAX; i++)
        o->b[at + i] = (unsigned char)(len >> (8 * (width - 1 - i)));
}

static size_t begin_msg(struct out *o, unsigned type)
{
    o->n = 0;
    put8(o, type);
    return open_vec(o, 3);
}

/* ---- bounds -------------------------------------------------------------------------- */

static void put_ext_codes(struct out *o, unsigned type, unsigned width, unsigned code, size_t n)
{
    put16(o, type);
    size_t x = open_vec(o, 2), v = open_vec(o, width);
    for (size_t i = 0; i < n; i++)
        put16(o, code);
    close_vec(o, v, width);
    close_vec(o, x, 2);
}

static void put_cas(struct out *o, size_t n, size_t len)
{
    size_t v = open_vec(o, 2);
    for (size_t i = 0; i < n; i++) {
        size_t d = open_vec(o, 2);
        put_fill(o, 0x30, len);
        close_vec(o, d, 2);
    }
    close_vec(o, v, 2);
}

static void worst(const char *what, struct out *o, size_t at, bool tls13)
{
    close_vec(o, at, 3);
    EXPECT(o->n < WORK_MAX);
    for (size_t i = 0; i < sizeof lookups / sizeof lookups[0]; i++) {
        fields(o->b, o->n, tls13, lookups[i]);
        EXPECT(!has("\"invalid\""));
        if (i == 4)
            printf("test_hello: worst %s: %zu-byte message, %zu-byte line\n", what, o->n, body_len);
    }
}

static void bounds(void)
{
    static struct out o;
    size_t at, x, v;

    /* Every list past its cap, with the longest names of each table, SNI
     * and protocols of control bytes (six bytes each once escaped). */
    at = begin_msg(&o, 1);
    put16(&o, 0x0303);
    put_fill(&o, 0x11, 32);
    put8(&o, 32);
    put_fill(&o, 0x22, 32);
    v = open_vec(&o, 2);
    for (unsigned i = 0; i < 500; i++)
        put16(&o, 0xc000 + i);
    close_vec(&o, v, 2);
    put8(&o, 1);
    put8(&o, 0);
    x = open_vec(&o, 2);
    put16(&o, 0);                                       /* server_name */
    v = open_vec(&o, 2);
    size_t l = open_vec(&o, 2);
    put8(&o, 0);
    size_t name = open_vec(&o, 2);
    put_fill(&o, 0x01, 600);
    close_vec(&o, name, 2);
    close_vec(&o, l, 2);
    close_vec(&o, v, 2);
    put_ext_codes(&o, 10, 2, 0xff01, 300);              /* arbitrary_explicit_prime_curves */
    put_ext_codes(&o, 13, 2, 0x081c, 300);              /* ecdsa_brainpoolP512r1tls13_sha512 */
    put_ext_codes(&o, 43, 1, 0xfefd, 127);              /* DTLSv1.2 */
    put16(&o, 16);                                      /* alpn */
    v = open_vec(&o, 2);
    l = open_vec(&o, 2);
    for (int i = 0; i < 20; i++) {
        put8(&o, 255);
        put_fill(&o, 0x01, 255);
    }
    close_vec(&o, l, 2);
    close_vec(&o, v, 2);
    put16(&o, 51);                                      /* key_share */
    v = open_vec(&o, 2);
    l = open_vec(&o, 2);
    for (int i = 0; i < 300; i++) {
        put16(&o, 0xff01);
        put16(&o, 0);
    }
    close_vec(&o, l, 2);
    close_vec(&o, v, 2);
    close_vec(&o, x, 2);
    worst("ClientHello", &o, at, true);
    EXPECT(has("\"ciphers_more\":436") && has("\"groups_more\":236") && has("\"alpn_more\":12"));
    EXPECT(has("\"sni_len\":600") && has("\"key_shares_more\":236") && has("\"versions_more\":63"));

    at = begin_msg(&o, 2);
    put16(&o, 0x0303);
    put_fill(&o, 0x11, 32);
    put8(&o, 32);
    put_fill(&o, 0x22, 32);
    put16(&o, 0x1301);
    put8(&o, 0);
    x = open_vec(&o, 2);
    put16(&o, 16);
    v = open_vec(&o, 2);
    l = open_vec(&o, 2);
    put8(&o, 255);
    put_fill(&o, 0xff, 255);                            /* not UTF-8: alpn_hex too */
    close_vec(&o, l, 2);
    close_vec(&o, v, 2);
    close_vec(&o, x, 2);
    worst("ServerHello", &o, at, false);
    EXPECT(has("\"alpn_hex\":\""));

    at = begin_msg(&o, 8);
    x = open_vec(&o, 2);
    put_ext_codes(&o, 10, 2, 0xff01, 300);
    put16(&o, 16);
    v = open_vec(&o, 2);
    l = open_vec(&o, 2);
    put8(&o, 255);
    put_fill(&o, 0x01, 255);
    close_vec(&o, l, 2);
    close_vec(&o, v, 2);
    close_vec(&o, x, 2);
    worst("EncryptedExtensions", &o, at, true);

    at = begin_msg(&o, 13);
    v = open_vec(&o, 1);
    for (int i = 0; i < 255; i++)
        put8(&o, 66);                                   /* ecdsa_fixed_ecdh */
    close_vec(&o, v, 1);
    v = open_vec(&o, 2);
    put_fill(&o, 0x08, 600);                            /* 0x0808: ed448 */
    close_vec(&o, v, 2);
    put_cas(&o, 40, 200);
    worst("CertificateRequest 1.2", &o, at, false);
    EXPECT(has("\"ca_names_more\":28") && has("\"cert_types_more\":191"));

    at = begin_msg(&o, 13);
    v = open_vec(&o, 1);
    put_fill(&o, 0x33, 255);
    close_vec(&o, v, 1);
    x = open_vec(&o, 2);
    put_ext_codes(&o, 13, 2, 0x081c, 300);
    put16(&o, 47);
    v = open_vec(&o, 2);
    put_cas(&o, 40, 200);
    close_vec(&o, v, 2);
    close_vec(&o, x, 2);
    worst("CertificateRequest 1.3", &o, at, true);
    EXPECT(has("\"sigalgs_more\":236"));
}

/* Lines made for a purpose: escaping, where a message breaks, layouts. */
static void special_cases(void)
{
    static struct out o;
    size_t at, x, v, l;

    /* The peer's strings are escaped; the raw bytes of one that is not
     * UTF-8 follow as hex. */
    at = begin_msg(&o, 1);
    put16(&o, 0x0301);
    put_fill(&o, 0x11, 32);
    put8(&o, 0);
    v = open_vec(&o, 2);
    put16(&o, 0x2a2a);
    put16(&o, 0xc02c);
    close_vec(&o, v, 2);
    put8(&o, 1);
    put8(&o, 0);
    x = open_vec(&o, 2);
    put16(&o, 0);
    v = open_vec(&o, 2);
    l = open_vec(&o, 2);
    put8(&o, 0);
    size_t name = open_vec(&o, 2);
    for (const char *c = "a\"b\\c\x01\xff"; *c; c++)
        put8(&o, (unsigned char)*c);
    close_vec(&o, name, 2);
    close_vec(&o, l, 2);
    close_vec(&o, v, 2);
    put16(&o, 16);
    v = open_vec(&o, 2);
    l = open_vec(&o, 2);
    put8(&o, 3);
    put8(&o, 'h');
    put8(&o, '\n');
    put8(&o, '"');
    close_vec(&o, l, 2);
    close_vec(&o, v, 2);
    put16(&o, 0xff01);
    put16(&o, 1);
    put8(&o, 0);
    close_vec(&o, x, 2);
    close_vec(&o, at, 3);
    fields(o.b, o.n, false, &lk_fake);
    EXPECT(strcmp(line, "{\"ev\":\"hello\",\"hs\":\"ClientHello\",\"legacy_version\":\"TLSv1\","
                        "\"ciphers\":[\"GREASE\",\"ECDHE-ECDSA-AES256-GCM-SHA384\"],"
                        "\"sni\":\"a\\\"b\\\\c\\u0001\xef\xbf\xbd\",\"sni_hex\":\"6122625c6301ff\","
                        "\"alpn\":[\"h\\n\\\"\"],\"session_id\":false,\"ticket\":false,\"psk\":false,"
                        "\"ems\":false,\"reneg\":true}\n") == 0);

    /* The same extension twice: the parse stops there. */
    o.n -= 5;                                           /* renegotiation_info */
    memcpy(o.b + o.n, o.b + o.n - 10, 10);              /* alpn again */
    o.n += 10;
    close_vec(&o, x, 2);
    close_vec(&o, at, 3);
    fields(o.b, o.n, false, &lk_fake);
    EXPECT(has("\"alpn\":[\"h\\n\\\"\"],\"session_id\":false,") &&
           has(",\"reneg\":false,\"invalid\":\"duplicate extension: 16\"}\n"));

    /* A message that ends inside its session id says so, after what it had. */
    fields(seeds[0].b, 60, true, &lk_fake);
    EXPECT(strcmp(line, "{\"ev\":\"hello\",\"hs\":\"ClientHello\",\"legacy_version\":\"TLSv1.2\","
                        "\"session_id\":false,\"ticket\":false,\"psk\":false,\"ems\":false,"
                        "\"reneg\":false,\"invalid\":\"bad length: session_id\"}\n") == 0);
    /* One whose header claims less than there is. */
    memcpy(o.b, seeds[6].b, seeds[6].n);
    o.b[3]--;
    fields(o.b, seeds[6].n, true, NULL);
    EXPECT(strcmp(line, "{\"ev\":\"hello\",\"hs\":\"EncryptedExtensions\",\"sni_ack\":false,"
                        "\"early_data\":false,\"invalid\":\"bad length: extensions\"}\n") == 0);
    /* A ServerHello cut in its extensions names no version. */
    fields(seeds[3].b, 76, true, &lk_fake);
    EXPECT(has("\"cipher\":\"TLS_AES_256_GCM_SHA384\",\"session_id\"") && !has("\"version\"") &&
           has("\"invalid\":\"bad length: extensions\"}"));

    /* TLS 1.0 and 1.1: a CertificateRequest without signature algorithms. */
    at = begin_msg(&o, 13);
    v = open_vec(&o, 1);
    put8(&o, 1);
    put8(&o, 7);
    close_vec(&o, v, 1);
    put_cas(&o, 1, 3);
    close_vec(&o, at, 3);
    fields(o.b, o.n, false, NULL);
    EXPECT(strcmp(line, "{\"ev\":\"hello\",\"hs\":\"CertificateRequest\","
                        "\"cert_types\":[\"rsa_sign\",\"7\"],\"ca_names\":[\"303030\"]}\n") == 0);
}

/* Every name of the tables is plain ASCII of 1..40 bytes. */
static void table_names(void)
{
    unsigned named = 0;
    for (unsigned id = 0; id < 0x10000; id++) {
        const char *s[3] = { tls_group_name(id), tls_sigalg_name(id),
                             id < 256 ? tls_cert_type_name(id) : NULL };
        for (int k = 0; k < 3; k++) {
            if (!s[k])
                continue;
            size_t n = strlen(s[k]);
            bool plain = n > 0 && n <= 40;
            for (size_t i = 0; i < n; i++)
                plain = plain && s[k][i] > 0x20 && s[k][i] < 0x7f && s[k][i] != '"' && s[k][i] != '\\';
            EXPECT(plain);
            named++;
        }
    }
    EXPECT(named > 100);
    EXPECT(strcmp(tls_group_name(29), "x25519") == 0 && strcmp(tls_group_name(0x0101), "ffdhe3072") == 0);
    EXPECT(strcmp(tls_sigalg_name(0x0804), "rsa_pss_rsae_sha256") == 0 && !tls_sigalg_name(0x0a0a));
    EXPECT(strcmp(tls_cert_type_name(64), "ecdsa_sign") == 0 && !tls_cert_type_name(7));
}

/* ---- fuzzing --------------------------------------------------------------------------- */

static size_t below(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

static unsigned grease16(void)
{
    unsigned g = (unsigned)below(16) << 4 | 0x0a;
    return g << 8 | g;
}

static unsigned pick(const unsigned *pool, size_t n)
{
    size_t r = below(n + 2);
    return r < n ? pool[r] : r == n ? grease16() : (unsigned)(rnd() & 0xffff);
}

#define PICK(pool) pick((pool), sizeof(pool) / sizeof(pool)[0])

static const unsigned cipher_pool[] = { 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02c, 0xc030, 0xcca9,
                                        0x009f, 0x00ff, 0x5600, 0x002f };
static const unsigned group_pool[] = { 29, 23, 24, 25, 30, 256, 257, 0x11ec, 0xff01, 31 };
static const unsigned sigalg_pool[] = { 0x0403, 0x0503, 0x0804, 0x0807, 0x0808, 0x0809, 0x0401,
                                        0x0201, 0x0303, 0x081c, 0xeeee };
static const unsigned version_pool[] = { 0x0304, 0x0303, 0x0302, 0x0301, 0x0300, 0x7f1c, 0xfefd };
static const unsigned client_exts[] = { 0, 10, 13, 16, 43, 51, 23, 35, 41, 0xff01, 11, 45, 21 };
static const unsigned server_exts[] = { 43, 51, 16, 41, 23, 0xff01, 44, 0, 10, 42 };
static const unsigned request_exts[] = { 13, 47, 50, 5 };

static void put_text(struct out *o, size_t n)
{
    static const unsigned char odd[] = { '"', '\\', '\n', 0x01, 0x7f, 0xc3, 0xa9, 0xff, 0xe2,
                                         0x82, 0xac, 0xf0, 0xed, 0xa0 };
    for (size_t i = 0; i < n; i++)
        put8(o, below(4) ? 'a' + (unsigned)below(26) : odd[below(sizeof odd)]);
}

static void put_random(struct out *o, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put8(o, (unsigned)rnd());
}

static size_t length(void)
{
    size_t r = below(16);
    return r < 10 ? below(8) : r < 15 ? below(80) : below(300);
}

static void put_codes(struct out *o, unsigned width, const unsigned *pool, size_t npool)
{
    size_t v = open_vec(o, width), n = length();
    for (size_t i = 0; i < n; i++)
        put16(o, pick(pool, npool));
    close_vec(o, v, width);
}

static void put_names(struct out *o, size_t count, size_t width)
{
    size_t v = open_vec(o, 2);
    for (size_t i = 0; i < count; i++) {
        size_t s = open_vec(o, (unsigned)width);
        put_text(o, below(5) ? below(20) : length());
        close_vec(o, s, (unsigned)width);
    }
    close_vec(o, v, 2);
}

/* An extension of a given type, well formed inside most of the time. */
static void put_ext(struct out *o, unsigned type, int kind)
{
    put16(o, type);
    size_t x = open_vec(o, 2), v;
    if (below(10) == 0) {
        put_random(o, length());
        close_vec(o, x, 2);
        return;
    }
    switch (type) {
    case 0:
        if (kind == 1) {
            v = open_vec(o, 2);
            for (size_t i = below(3) + 1; i > 0; i--) {
                put8(o, below(4) ? 0 : (unsigned)rnd());
                size_t s = open_vec(o, 2);
                put_text(o, below(6) ? below(40) : length());
                close_vec(o, s, 2);
            }
            close_vec(o, v, 2);
        }
        break;
    case 10: put_codes(o, 2, group_pool, sizeof group_pool / sizeof group_pool[0]); break;
    case 13: case 50: put_codes(o, 2, sigalg_pool, sizeof sigalg_pool / sizeof sigalg_pool[0]); break;
    case 16: put_names(o, kind == 1 ? below(12) : 1, 1); break;
    case 43:
        if (kind == 1)
            put_codes(o, 1, version_pool, sizeof version_pool / sizeof version_pool[0]);
        else
            put16(o, PICK(version_pool));
        break;
    case 51:
        if (kind == 1) {
            v = open_vec(o, 2);
            for (size_t i = below(4); i > 0; i--) {
                put16(o, PICK(group_pool));
                size_t k = open_vec(o, 2);
                put_random(o, below(40));
                close_vec(o, k, 2);
            }
            close_vec(o, v, 2);
        } else {
            put16(o, PICK(group_pool));
            if (kind == 2) {
                size_t k = open_vec(o, 2);
                put_random(o, below(40));
                close_vec(o, k, 2);
            }
        }
        break;
    case 47: {
        static const unsigned char dn[] = {     /* C=US, O=Test CA, CN=Client CA One */
            0x30, 0x37, 0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x06, 0x13, 0x02, 0x55,
            0x53, 0x31, 0x10, 0x30, 0x0e, 0x06, 0x03, 0x55, 0x04, 0x0a, 0x0c, 0x07, 0x54, 0x65,
            0x73, 0x74, 0x20, 0x43, 0x41, 0x31, 0x16, 0x30, 0x14, 0x06, 0x03, 0x55, 0x04, 0x03,
            0x0c, 0x0d, 0x43, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x20, 0x43, 0x41, 0x20, 0x4f, 0x6e,
            0x65,
        };
        v = open_vec(o, 2);
        for (size_t i = below(5); i > 0; i--) {
            size_t d = open_vec(o, 2);
            if (below(2))
                for (size_t j = 0; j < sizeof dn; j++)
                    put8(o, dn[j]);
            else
                put_random(o, below(60));
            close_vec(o, d, 2);
        }
        close_vec(o, v, 2);
        break;
    }
    default:
        put_random(o, below(6));
        break;
    }
    close_vec(o, x, 2);
}

/* kind: 1 client, 2 server, 3 HelloRetryRequest, 4 encrypted extensions, 5 request */
static void put_exts(struct out *o, const unsigned *pool, size_t npool, int kind)
{
    unsigned types[16];
    size_t x = open_vec(o, 2), n = below(npool + 1);
    memcpy(types, pool, npool * sizeof *pool);
    for (size_t i = npool - 1; i > 0; i--) {           /* a random subset, in random order */
        size_t j = below(i + 1);
        unsigned t = types[i];
        types[i] = types[j];
        types[j] = t;
    }
    for (size_t i = 0; i < n; i++)
        put_ext(o, types[i], kind);
    if (below(8) == 0)                                  /* one more: maybe a repeat */
        put_ext(o, pick(pool, npool), kind);
    close_vec(o, x, 2);
}

static void put_session_id(struct out *o)
{
    size_t v = open_vec(o, 1);
    put_random(o, below(3) ? 32 : below(40));
    close_vec(o, v, 1);
}

/* A message of a random type, framed right, with random contents. */
static void generate(struct out *o, bool *tls13)
{
    size_t at, v;
    *tls13 = below(2);
    switch (below(8)) {
    case 0:
    case 6:
        at = begin_msg(o, 1);
        put16(o, PICK(version_pool));
        put_random(o, 32);
        put_session_id(o);
        put_codes(o, 2, cipher_pool, sizeof cipher_pool / sizeof cipher_pool[0]);
        v = open_vec(o, 1);
        put8(o, 0);
        close_vec(o, v, 1);
        if (below(10))
            put_exts(o, client_exts, sizeof client_exts / sizeof client_exts[0], 1);
        break;
    case 1:
    case 7: {
        bool hrr = below(3) == 0;
        at = begin_msg(o, 2);
        put16(o, 0x0303);
        if (hrr)
            memcpy(o->b + o->n, seeds[4].b + 6, 32), o->n += 32;
        else
            put_random(o, 32);
        put_session_id(o);
        put16(o, PICK(cipher_pool));
        put8(o, 0);
        if (below(10))
            put_exts(o, server_exts, sizeof server_exts / sizeof server_exts[0], hrr ? 3 : 2);
        break;
    }
    case 2:
        at = begin_msg(o, 8);
        put_exts(o, server_exts, sizeof server_exts / sizeof server_exts[0], 4);
        break;
    case 3:
        *tls13 = true;
        at = begin_msg(o, 13);
        put_session_id(o);
        put_exts(o, request_exts, sizeof request_exts / sizeof request_exts[0], 5);
        break;
    case 4:
        *tls13 = false;
        at = begin_msg(o, 13);
        v = open_vec(o, 1);
        put_random(o, length());
        close_vec(o, v, 1);
        if (below(5))
            put_codes(o, 2, sigalg_pool, sizeof sigalg_pool / sizeof sigalg_pool[0]);
        v = open_vec(o, 2);
        for (size_t i = below(5); i > 0; i--) {
            size_t d = open_vec(o, 2);
            put_random(o, length());
            close_vec(o, d, 2);
        }
        close_vec(o, v, 2);
        break;
    default:
        at = begin_msg(o, 11);
        if (*tls13) {
            v = open_vec(o, 1);
            put_random(o, below(3));
            close_vec(o, v, 1);
        }
        v = open_vec(o, 3);
        for (size_t i = below(5); i > 0; i--) {
            size_t c = open_vec(o, 3);
            put_random(o, length());
            close_vec(o, c, 3);
            if (*tls13) {
                size_t e = open_vec(o, 2);
                put_random(o, below(3) ? 0 : below(10));
                close_vec(o, e, 2);
            }
        }
        close_vec(o, v, 3);
        break;
    }
    close_vec(o, at, 3);
}

static void set_header(struct out *o)
{
    if (o->n >= 4) {
        size_t len = o->n - 4;
        o->b[1] = (unsigned char)(len >> 16);
        o->b[2] = (unsigned char)(len >> 8);
        o->b[3] = (unsigned char)len;
    }
}

/* One mutation of o. */
static void mutate(struct out *o)
{
    size_t n = o->n, pos = below(n), k;
    unsigned v;
    switch (below(10)) {
    case 0:                                             /* bits flipped */
        for (k = below(8) + 1; k > 0 && n; k--)
            o->b[below(n)] ^= (unsigned char)(1u << below(8));
        break;
    case 1:                                             /* bytes set */
        for (k = below(4) + 1; k > 0 && n; k--) {
            size_t r = below(3);
            o->b[below(n)] = r == 0 ? 0 : r == 1 ? 0xff : (unsigned char)rnd();
        }
        break;
    case 2:                                             /* cut */
        o->n = below(n + 1);
        break;
    case 3:                                             /* a two-byte length moved */
        if (n >= 2 && pos + 1 < n) {
            static const int deltas[] = { 1, -1, 2, -2, 4, -4, 0x100, -0x100, 0x7fff };
            v = ((unsigned)o->b[pos] << 8 | o->b[pos + 1]);
            v = below(5) == 0 ? (below(2) ? 0 : 0xffff) : v + (unsigned)deltas[below(9)];
            o->b[pos] = (unsigned char)(v >> 8);
            o->b[pos + 1] = (unsigned char)v;
        }
        break;
    case 4:                                             /* a one-byte length moved */
        if (n)
            o->b[pos] = (unsigned char)(o->b[pos] + (below(2) ? 1 : 0xff));
        break;
    case 5:                                             /* bytes inserted */
        k = below(8) + 1;
        if (n + k <= WORK_MAX) {
            memmove(o->b + pos + k, o->b + pos, n - pos);
            for (size_t i = 0; i < k; i++)
                o->b[pos + i] = (unsigned char)rnd();
            o->n += k;
        }
        break;
    case 6:                                             /* bytes deleted */
        k = below(8) + 1;
        if (k > n - pos)
            k = n - pos;
        memmove(o->b + pos, o->b + pos + k, n - pos - k);
        o->n -= k;
        break;
    case 7:                                             /* a piece repeated */
        k = below(n - pos + 1);
        v = (unsigned)below(n + 1);
        if (k && n + k <= WORK_MAX && v <= n) {
            size_t to = v;
            memmove(o->b + to + k, o->b + to, n - to);
            memmove(o->b + to, o->b + (pos >= to ? pos + k : pos), k);
            o->n += k;
        }
        break;
    case 8:                                             /* the message length */
        if (n >= 4) {
            size_t len = n - 4 + (size_t)below(5) - 2;
            o->b[1] = (unsigned char)(len >> 16);
            o->b[2] = (unsigned char)(len >> 8);
            o->b[3] = (unsigned char)len;
        }
        break;
    default:                                            /* the type */
        if (n) {
            static const unsigned char types[] = { 1, 2, 8, 11, 13, 4, 0 };
            o->b[0] = types[below(sizeof types)];
        }
        break;
    }
    if (below(2))
        set_header(o);
}

static void fuzz(void)
{
    static struct out o;

    /* Every truncation of every captured message, both layouts. */
    for (size_t s = 0; s < NSEEDS; s++) {
        for (size_t cut = 0; cut < seeds[s].n; cut++)
            for (int t = 0; t < 2; t++)
                run(seeds[s].b, cut, t, lookups[(cut + (size_t)t) % 5], seeds[s].tls13 == t);
        for (int t = 0; t < 2; t++)
            run(seeds[s].b, seeds[s].n, t, &lk_fake, false);
    }

    unsigned long start = inputs;
    while (inputs - start < FUZZ_INPUTS) {
        bool tls13;
        size_t r = below(100);
        if (r < 40) {
            const struct seed *s = &seeds[below(NSEEDS)];
            memcpy(o.b, s->b, s->n);
            o.n = s->n;
            tls13 = below(4) ? s->tls13 : !s->tls13;
            for (size_t k = below(3) + 1; k > 0; k--)
                mutate(&o);
        } else if (r < 88) {
            generate(&o, &tls13);
            if (below(2))
                for (size_t k = below(3) + 1; k > 0; k--)
                    mutate(&o);
        } else {
            static const unsigned char types[] = { 1, 2, 8, 11, 13 };
            o.n = below(400);
            for (size_t i = 0; i < o.n; i++)
                o.b[i] = (unsigned char)rnd();
            if (o.n && below(2))
                o.b[0] = types[below(sizeof types)];
            if (below(2))
                set_header(&o);
            tls13 = below(2);
        }
        run(o.b, o.n, tls13, lookups[below(sizeof lookups / sizeof lookups[0])], false);
    }
}

int main(void)
{
    for (size_t i = 0; i < NSEEDS; i++)
        seeds[i].b = unhex(seeds[i].hex, &seeds[i].n);
    known_answers();
    special_cases();
    table_names();
    bounds();
    fuzz();
    printf("test_hello: %lu inputs, %lu checks, %d failed\n", inputs, checks, failures);
    for (size_t i = 0; i < NSEEDS; i++)
        free(seeds[i].b);
    return failures != 0;
}
