/* test_backend.c — unit tests of the shim's back-end, without any preload:
 * escaping, event building, configuration parsing, path templates, SHA-256
 * and loop windows. */
#include "check.h"
#include "config.h"
#include "event.h"
#include "keylog.h"
#include "loop.h"
#include "rotate.h"
#include "sha256.h"
#include "sink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


/* The body of a JSON event, without the headroom. */
static const char *body(const struct ev *e)
{
    static char out[4096];
    size_t n = e->len - EV_HEADROOM;
    memcpy(out, e->buf + EV_HEADROOM, n < sizeof out ? n : sizeof out - 1);
    out[n < sizeof out ? n : sizeof out - 1] = '\0';
    return out;
}

static void test_escaping(void)
{
    struct ev e;
    ev_begin(&e, "t", 0, false);
    ev_strn(&e, "sni", "a\"b\\c\nd\x01" "e\xff", 10);
    CHECK(strcmp(body(&e), ",\"sni\":\"a\\\"b\\\\c\\nd\\u0001e\xEF\xBF\xBD\","
                           "\"sni_hex\":\"6122625c630a640165ff\"") == 0);
    ev_free(&e);

    ev_begin(&e, "t", 0, false);
    ev_str(&e, "utf8", "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x94\x92");   /* valid: kept */
    CHECK(strstr(body(&e), "_hex") == NULL);
    ev_free(&e);

    ev_begin(&e, "t", 0, false);
    ev_str(&e, "overlong", "\xC0\xAF");          /* overlong '/' is not valid UTF-8 */
    CHECK(strstr(body(&e), "overlong_hex") != NULL);
    ev_free(&e);

    ev_begin(&e, "t", 0, false);
    ev_str(&e, "surrogate", "\xED\xA0\x80");
    CHECK(strstr(body(&e), "surrogate_hex") != NULL);
    ev_free(&e);
}

/* The plain reference: what ev_escape must produce for ASCII input, byte by
 * byte (bytes 0x80 and up are left to the UTF-8 checks above). */
static size_t reference_escape(char *out, const unsigned char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c == '\n') {
            o += (size_t)sprintf(out + o, "\\n");
        } else if (c == '\r') {
            o += (size_t)sprintf(out + o, "\\r");
        } else if (c == '\t') {
            o += (size_t)sprintf(out + o, "\\t");
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)sprintf(out + o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return o;
}

/* The word-at-a-time scan must agree with the reference wherever the special
 * bytes fall: random strings drawn mostly from the bytes next to the
 * boundaries the bit tricks test. */
static void test_escaping_matches_reference(void)
{
    static const unsigned char alphabet[] = { 'a', 'Z', ' ', '!', '#', '"', '\\', 0x1f, 0x00,
                                              0x7f, 0x7e, 0x20, 0x21, 0x5b, 0x5d, '\n', 0x01 };
    unsigned seed = 12345;
    int mismatches = 0;
    for (int round = 0; round < 20000; round++) {
        unsigned char in[40];
        size_t n = (size_t)(round % 40);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            unsigned r = seed >> 16;
            in[i] = r % 4 ? (unsigned char)('a' + r % 26) : alphabet[r % sizeof alphabet];
        }
        char want[40 * 6 + 1];
        size_t want_len = reference_escape(want, in, n);
        struct ev e;
        ev_begin(&e, "t", 0, false);
        bool replaced = ev_escape(&e, in, n);
        size_t got_len = e.len - EV_HEADROOM;
        if (replaced || got_len != want_len || memcmp(e.buf + EV_HEADROOM, want, want_len) != 0)
            mismatches++;
        ev_free(&e);
    }
    CHECK(mismatches == 0);
}

static void test_nesting_and_finish(void)
{
    struct ev e;
    ev_begin(&e, "x", 7, false);
    ev_arr_begin(&e, "a");
    ev_obj_begin(&e, NULL);
    ev_int(&e, "n", -1);
    ev_obj_end(&e);
    ev_obj_begin(&e, NULL);
    ev_bool(&e, "b", true);
    ev_null(&e, "z");
    ev_obj_end(&e);
    ev_arr_end(&e);
    ev_hex(&e, "h", "\x00\xab", 2);
    CHECK(strcmp(body(&e), ",\"conn\":7,\"a\":[{\"n\":-1},{\"b\":true,\"z\":null}],\"h\":\"00ab\"") == 0);
    size_t len;
    const char *line = ev_finish(&e, "{\"ev\":\"x\"", 9, &len);
    CHECK(line && len == strlen(line) && line[len - 1] == '\n');
    CHECK(line && strncmp(line, "{\"ev\":\"x\",\"conn\":7,", 19) == 0);
    ev_free(&e);
}

static void test_big_event_grows(void)
{
    struct ev e;
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ev_begin(&e, "x", 0, false);
    for (int i = 0; i < 20; i++)
        ev_str(&e, "k", big);
    CHECK(!e.failed && e.len > 20 * 5000);
    ev_free(&e);
}

static const char *const *fake_env;

static const char *fake_getenv(const char *name)
{
    for (const char *const *p = fake_env; *p; p += 2)
        if (strcmp(p[0], name) == 0)
            return p[1];
    return NULL;
}

static void test_config(void)
{
    struct config c;
    static const char *const none[] = { NULL };
    fake_env = none;
    config_load(&c, fake_getenv, "prog", false);
    CHECK(!c.disabled && c.level == LEVEL_HANDSHAKE && c.stacks == STACKS_ERRORS);
    CHECK(c.stack_depth == 32 && c.loop_count == 5 && c.loop_window_s == 10);
    CHECK(c.sink == SINK_FILE && strcmp(c.log_template, "/tmp/sslshim-%u/%e.%p.jsonl") == 0);
    CHECK(c.n_warnings == 0 && c.max_size == 100u << 20 && c.data_bytes == 64);

    static const char *const bad[] = {
        "SSLSHIM_LEVEL", "loud", "SSLSHIM_STACK_DEPTH", "1000", "SSLSHIM_LOOP", "3",
        "SSLSHIM_MAX_SIZE", "lots", "SSLSHIM_LOG", "stderr", NULL };
    fake_env = bad;
    config_load(&c, fake_getenv, "prog", false);
    CHECK(c.level == LEVEL_HANDSHAKE && c.stack_depth == 32 && c.loop_count == 5);
    CHECK(c.n_warnings == 4);
    CHECK(strstr(c.warnings[0], "SSLSHIM_LEVEL=loud") != NULL);
    CHECK(c.sink == SINK_STDERR && c.format == FORMAT_TEXT);

    static const char *const dir[] = { "SSLSHIM_LOG", "/var/log/x/", "SSLSHIM_LEVEL", "data",
                                       "SSLSHIM_FORMAT", "text", NULL };
    fake_env = dir;
    config_load(&c, fake_getenv, "prog", false);
    CHECK(strcmp(c.log_template, "/var/log/x/%e.%p.jsonl") == 0);
    CHECK(c.level == LEVEL_DATA && c.format == FORMAT_TEXT);

    static const char *const exe[] = { "SSLSHIM_EXE", "nginx,curl", NULL };
    fake_env = exe;
    config_load(&c, fake_getenv, "curl", false);
    CHECK(!c.disabled);
    config_load(&c, fake_getenv, "cur", false);
    CHECK(c.disabled);
    config_load(&c, fake_getenv, "curl", true);       /* AT_SECURE wins */
    CHECK(c.disabled);

    static const char *const notify[] = { "SSLSHIM_NOTIFY", "@sslshim-run-1-ab", NULL };
    fake_env = notify;
    config_load(&c, fake_getenv, "prog", false);
    CHECK(strcmp(c.notify, "@sslshim-run-1-ab") == 0 && c.n_warnings == 0);
    static const char *const bad_notify[] = { "SSLSHIM_NOTIFY", "/run/x.sock", NULL };
    fake_env = bad_notify;
    config_load(&c, fake_getenv, "prog", false);
    CHECK(c.notify[0] == '\0' && c.n_warnings == 1);
    CHECK(strstr(c.warnings[0], "SSLSHIM_NOTIFY=/run/x.sock is not @NAME") != NULL);

    static const char *const off[] = { "SSLSHIM_DISABLE", "1", NULL };
    fake_env = off;
    config_load(&c, fake_getenv, "prog", false);
    CHECK(c.disabled);

    uint64_t size;
    CHECK(config_parse_size("1G", &size) && size == 1ull << 30);
    CHECK(config_parse_size("512k", &size) && size == 512u << 10);
    CHECK(config_parse_size("0", &size) && size == 0);          /* never rotate */
    CHECK(!config_parse_size("-1M", &size) && !config_parse_size("10X", &size));
    unsigned n, s;
    CHECK(config_parse_loop("3/60", &n, &s) && n == 3 && s == 60);
    CHECK(!config_parse_loop("1/60", &n, &s) && !config_parse_loop("5/", &n, &s));
}

static void test_path_template(void)
{
    char out[256];
    CHECK(sink_expand_path(out, sizeof out, "/l/%e.%p.%h.%t.%u.%%.%x", 42, "host", "curl",
                           "20261126T000000Z", 1000));
    CHECK(strcmp(out, "/l/curl.42.host.20261126T000000Z.1000.%.%x") == 0);
    CHECK(!sink_expand_path(out, 8, "/long/%e", 1, "h", "executable", "t", 0));
}

static void test_sha256(void)
{
    uint8_t md[32];
    static const uint8_t abc[32] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae,
        0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61,
        0xf2, 0x00, 0x15, 0xad };
    sha256("abc", 3, md);
    CHECK(memcmp(md, abc, 32) == 0);
    /* 56 bytes: the padding needs a second block */
    static const uint8_t two[32] = {
        0x24, 0x8d, 0x6a, 0x61, 0xd2, 0x06, 0x38, 0xb8, 0xe5, 0xc0, 0x26, 0x93, 0x0c, 0x3e,
        0x60, 0x39, 0xa3, 0x3c, 0xe4, 0x59, 0x64, 0xff, 0x21, 0x67, 0xf6, 0xec, 0xed, 0xd4,
        0x19, 0xdb, 0x06, 0xc1 };
    sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, md);
    CHECK(memcmp(md, two, 32) == 0);
}

static void test_loop_window(void)
{
    struct loop_window w;
    unsigned count, failed;
    int64_t first;
    const int64_t s = 1000000000;
    memset(&w, 0, sizeof w);
    /* 20 quick successful connections: never a loop */
    for (int i = 0; i < 20; i++)
        CHECK(!loop_window_add(&w, i * s / 10, 0, false, 5, 10, &count, &failed, &first));
    memset(&w, 0, sizeof w);
    /* failures: the 5th within 10 s reports, the 6th does not (same window) */
    for (int i = 1; i <= 4; i++)
        CHECK(!loop_window_add(&w, i * s, i, true, 5, 10, &count, &failed, &first));
    CHECK(loop_window_add(&w, 5 * s, 5, true, 5, 10, &count, &failed, &first));
    CHECK(count == 5 && failed == 5 && first == 1);
    CHECK(!loop_window_add(&w, 6 * s, 6, true, 5, 10, &count, &failed, &first));
    CHECK(count == 6);
    /* failures spread wider than the window are no loop */
    memset(&w, 0, sizeof w);
    for (int i = 0; i < 10; i++)
        CHECK(!loop_window_add(&w, i * 3 * s, 0, true, 5, 10, &count, &failed, &first));
}

static void test_syslog_spec(void)
{
    int fac;
    char tag[48], sock[108];
    CHECK(config_parse_syslog("syslog", &fac, tag, sizeof tag, sock, sizeof sock));
    CHECK(fac == 1 && strcmp(tag, "sslshim") == 0 && strcmp(sock, "/dev/log") == 0);
    CHECK(config_parse_syslog("syslog:local3:app:/run/a:b.sock", &fac, tag, sizeof tag, sock,
                              sizeof sock));
    CHECK(fac == 19 && strcmp(tag, "app") == 0 && strcmp(sock, "/run/a:b.sock") == 0);
    CHECK(config_parse_syslog("syslog::x", &fac, tag, sizeof tag, sock, sizeof sock));
    CHECK(fac == 1 && strcmp(tag, "x") == 0);
    CHECK(!config_parse_syslog("syslog:nosuch", &fac, tag, sizeof tag, sock, sizeof sock));
    CHECK(!config_parse_syslog("syslogx", &fac, tag, sizeof tag, sock, sizeof sock));
}

static void touch(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static bool holds(const char *path, const char *text)
{
    char buf[64] = "";
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strcmp(buf, text) == 0;
}

static void test_rotation(void)
{
    char dir[] = "/tmp/sslshim-unit-XXXXXX";
    char path[256], p1[256], p2[256], p3[256];
    if (!mkdtemp(dir)) {
        CHECK(!"mkdtemp");
        return;
    }
    snprintf(path, sizeof path, "%s/log", dir);
    snprintf(p1, sizeof p1, "%s.1", path);
    snprintf(p2, sizeof p2, "%s.2", path);
    snprintf(p3, sizeof p3, "%s.3", path);
    touch(path, "a");
    CHECK(rotate_files(path, 2) == 0 && holds(p1, "a") && access(path, F_OK) != 0);
    touch(path, "b");
    CHECK(rotate_files(path, 2) == 0 && holds(p1, "b") && holds(p2, "a"));
    touch(path, "c");
    CHECK(rotate_files(path, 2) == 0 && holds(p1, "c") && holds(p2, "b"));
    CHECK(access(p3, F_OK) != 0);                   /* the oldest went away */
    touch(path, "d");
    CHECK(rotate_files(path, 0) == 0 && access(path, F_OK) != 0);
    unlink(p1);
    unlink(p2);
    rmdir(dir);
}

static void test_keylog_line(void)
{
    char out[64];
    CHECK(keylog_format(out, sizeof out, "CLIENT_RANDOM ab cd") == 20);
    CHECK(strcmp(out, "CLIENT_RANDOM ab cd\n") == 0);
    CHECK(keylog_format(out, 8, "CLIENT_RANDOM ab cd") == 0);   /* never a partial line */
}

int main(void)
{
    test_escaping();
    test_escaping_matches_reference();
    test_nesting_and_finish();
    test_big_event_grows();
    test_config();
    test_path_template();
    test_sha256();
    test_loop_window();
    test_syslog_spec();
    test_rotation();
    test_keylog_line();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    puts("all back-end checks passed");
    return 0;
}
