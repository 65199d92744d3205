/* config.c — parsing SSLSHIM_* variables into `struct config`.
 *
 * Read in the constructor: nginx starts its workers with a cleared
 * environment, so by the time a worker calls OpenSSL there is nothing left to
 * read.  Parsing is pure (no I/O); warnings are queued and printed by the
 * start-up code on first use. */
#include "config.h"
#include "sslshim.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct config config;

static void warn(struct config *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void warn(struct config *c, const char *fmt, ...)
{
    if (c->n_warnings >= CONFIG_WARNINGS_MAX)
        return;
    va_list ap;
    va_start(ap, fmt);
    /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): started just above */
    vsnprintf(c->warnings[c->n_warnings++], sizeof c->warnings[0], fmt, ap);
    va_end(ap);
}

/* Look a value up in a NULL-terminated name list; -1 when absent. */
static int lookup(const char *value, const char *const names[])
{
    for (int i = 0; names[i]; i++)
        if (strcmp(value, names[i]) == 0)
            return i;
    return -1;
}

static const char *const level_names[] = { "errors", "handshake", "io", "data", NULL };
static const char *const stacks_names[] = { "none", "errors", "handshake", "all", NULL };
static const char *const format_names[] = { "json", "text", NULL };
static const char *const mode_names[] = { "stream", "flight", NULL };

const char *config_level_name(enum level l) { return level_names[l]; }
const char *config_stacks_name(enum stacks s) { return stacks_names[s]; }

static int parse_enum(struct config *c, const char *var, const char *value,
                      const char *const names[], int fallback)
{
    if (!value || !*value)
        return fallback;
    int v = lookup(value, names);
    if (v < 0) {
        warn(c, "%s=%s is not one of the known values; using %s", var, value, names[fallback]);
        return fallback;
    }
    return v;
}

static bool parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
    char *end;
    if (!s || !*s || *s == '-')
        return false;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static unsigned long env_uint(struct config *c, const char *var, const char *value,
                              unsigned long min, unsigned long max, unsigned long fallback)
{
    unsigned long v;
    if (!value || !*value)
        return fallback;
    if (!parse_uint(value, min, max, &v)) {
        warn(c, "%s=%s is not a number from %lu to %lu; using %lu", var, value, min, max, fallback);
        return fallback;
    }
    return v;
}

bool config_parse_size(const char *s, uint64_t *out)
{
    char *end;
    if (!s || !*s || *s == '-')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return false;
    unsigned shift = 0;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: return false;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end || v > (UINT64_MAX >> shift))
        return false;
    *out = (uint64_t)v << shift;
    return true;
}

bool config_parse_loop(const char *s, unsigned *n, unsigned *secs)
{
    char head[32];
    const char *slash = s ? strchr(s, '/') : NULL;
    unsigned long a, b;
    if (!slash || (size_t)(slash - s) >= sizeof head)
        return false;
    memcpy(head, s, (size_t)(slash - s));
    head[slash - s] = '\0';
    if (!parse_uint(head, 2, 100000, &a) || !parse_uint(slash + 1, 1, 86400, &b))
        return false;
    *n = (unsigned)a;
    *secs = (unsigned)b;
    return true;
}

bool config_exe_matches(const char *list, const char *exe)
{
    size_t len = strlen(exe);
    for (const char *p = list; *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n == len && memcmp(p, exe, n) == 0)
            return true;
        if (!comma)
            break;
        p = comma + 1;
    }
    return false;
}

static const struct { const char *name; int code; } facilities[] = {
    { "kern", 0 }, { "user", 1 }, { "mail", 2 }, { "daemon", 3 }, { "auth", 4 },
    { "syslog", 5 }, { "lpr", 6 }, { "news", 7 }, { "uucp", 8 }, { "cron", 9 },
    { "authpriv", 10 }, { "ftp", 11 }, { "local0", 16 }, { "local1", 17 },
    { "local2", 18 }, { "local3", 19 }, { "local4", 20 }, { "local5", 21 },
    { "local6", 22 }, { "local7", 23 },
};

/* "syslog", "syslog:local0", "syslog:local0:tag", "syslog:local0:tag:/path/sock";
 * an empty part keeps its default (user, sslshim, /dev/log). */
bool config_parse_syslog(const char *spec, int *facility, char *tag, size_t tag_size,
                         char *socket, size_t socket_size)
{
    char buf[CONFIG_PATH_MAX];
    char *parts[4] = { NULL, NULL, NULL, NULL };
    *facility = 1;
    snprintf(tag, tag_size, "sslshim");
    snprintf(socket, socket_size, "/dev/log");
    if (strncmp(spec, "syslog", 6) != 0 || (spec[6] && spec[6] != ':'))
        return false;
    if (!spec[6])
        return true;
    snprintf(buf, sizeof buf, "%s", spec + 7);
    char *p = buf;
    for (int i = 0; i < 4 && p; i++) {
        parts[i] = p;
        p = i < 2 ? strchr(p, ':') : NULL;        /* the socket path may hold ':' */
        if (p)
            *p++ = '\0';
    }
    if (parts[0] && *parts[0]) {
        size_t i = 0;
        while (i < sizeof facilities / sizeof facilities[0] &&
               strcmp(facilities[i].name, parts[0]) != 0)
            i++;
        if (i == sizeof facilities / sizeof facilities[0])
            return false;
        *facility = facilities[i].code;
    }
    if (parts[1] && *parts[1]) {
        if (strlen(parts[1]) >= tag_size || strpbrk(parts[1], " \t\n"))
            return false;
        snprintf(tag, tag_size, "%s", parts[1]);
    }
    if (parts[2] && *parts[2]) {
        if (strlen(parts[2]) >= socket_size)
            return false;
        snprintf(socket, socket_size, "%s", parts[2]);
    }
    return true;
}

static void load_log(struct config *c, const char *value)
{
    if (!value || !*value)
        value = SSLSHIM_DEFAULT_LOG;
    if (strcmp(value, "stderr") == 0) {
        c->sink = SINK_STDERR;
        c->format = FORMAT_TEXT;
        return;
    }
    if (strncmp(value, "syslog", 6) == 0 && (value[6] == '\0' || value[6] == ':')) {
        c->sink = SINK_SYSLOG;
        if (!config_parse_syslog(value, &c->syslog_facility, c->syslog_tag,
                                 sizeof c->syslog_tag, c->syslog_socket,
                                 sizeof c->syslog_socket)) {
            warn(c, "SSLSHIM_LOG=%s is not syslog[:FACILITY[:TAG[:SOCKET]]]; using syslog", value);
            config_parse_syslog("syslog", &c->syslog_facility, c->syslog_tag,
                                sizeof c->syslog_tag, c->syslog_socket, sizeof c->syslog_socket);
        }
        return;
    }
    size_t len = strlen(value);
    const char *suffix = value[len - 1] == '/' ? "%e.%p.jsonl" : "";
    if (len + strlen(suffix) >= sizeof c->log_template) {
        warn(c, "SSLSHIM_LOG is longer than %zu bytes; using %s",
             sizeof c->log_template - 1, SSLSHIM_DEFAULT_LOG);
        value = SSLSHIM_DEFAULT_LOG;
        suffix = "";
    }
    c->sink = SINK_FILE;
    snprintf(c->log_template, sizeof c->log_template, "%s%s", value, suffix);
}

void config_load(struct config *c, const char *(*getenv_fn)(const char *),
                 const char *exe, bool secure)
{
    memset(c, 0, sizeof *c);
    const char *v;

    if (secure) {               /* set-user-ID/set-group-ID: do nothing at all */
        c->disabled = true;
        return;
    }
    v = getenv_fn(SSLSHIM_ENV_DISABLE);
    if (v && strcmp(v, "1") == 0) {
        c->disabled = true;
        return;
    }
    v = getenv_fn(SSLSHIM_ENV_EXE);
    if (v && *v) {
        snprintf(c->exe_list, sizeof c->exe_list, "%s", v);
        if (!exe || !config_exe_matches(v, exe)) {
            c->disabled = true;
            return;
        }
    }

    c->format = FORMAT_JSON;
    load_log(c, getenv_fn(SSLSHIM_ENV_LOG));
    c->format = (enum format)parse_enum(c, SSLSHIM_ENV_FORMAT, getenv_fn(SSLSHIM_ENV_FORMAT),
                                        format_names, (int)c->format);
    c->level = (enum level)parse_enum(c, SSLSHIM_ENV_LEVEL, getenv_fn(SSLSHIM_ENV_LEVEL),
                                      level_names, LEVEL_HANDSHAKE);
    c->stacks = (enum stacks)parse_enum(c, SSLSHIM_ENV_STACKS, getenv_fn(SSLSHIM_ENV_STACKS),
                                        stacks_names, STACKS_ERRORS);
    c->stack_depth = (unsigned)env_uint(c, SSLSHIM_ENV_STACK_DEPTH,
                                        getenv_fn(SSLSHIM_ENV_STACK_DEPTH), 1, 128,
                                        SSLSHIM_DEFAULT_STACK_DEPTH);
    c->mode = (enum mode)parse_enum(c, SSLSHIM_ENV_MODE, getenv_fn(SSLSHIM_ENV_MODE),
                                    mode_names, MODE_STREAM);
    c->flight_events = (unsigned)env_uint(c, SSLSHIM_ENV_FLIGHT_EVENTS,
                                          getenv_fn(SSLSHIM_ENV_FLIGHT_EVENTS), 1, 100000,
                                          SSLSHIM_DEFAULT_FLIGHT_EVENTS);
    c->data_bytes = env_uint(c, SSLSHIM_ENV_DATA_BYTES, getenv_fn(SSLSHIM_ENV_DATA_BYTES),
                             0, 1 << 20, SSLSHIM_DEFAULT_DATA_BYTES);
    c->max_files = (unsigned)env_uint(c, SSLSHIM_ENV_MAX_FILES, getenv_fn(SSLSHIM_ENV_MAX_FILES),
                                      0, 1000, SSLSHIM_DEFAULT_MAX_FILES);

    config_parse_size(SSLSHIM_DEFAULT_MAX_SIZE, &c->max_size);
    v = getenv_fn(SSLSHIM_ENV_MAX_SIZE);
    if (v && *v && !config_parse_size(v, &c->max_size))
        warn(c, "%s=%s is not a size like 100M or 1G (0: never rotate); using %s",
             SSLSHIM_ENV_MAX_SIZE, v, SSLSHIM_DEFAULT_MAX_SIZE);

    config_parse_loop(SSLSHIM_DEFAULT_LOOP, &c->loop_count, &c->loop_window_s);
    v = getenv_fn(SSLSHIM_ENV_LOOP);
    if (v && *v && !config_parse_loop(v, &c->loop_count, &c->loop_window_s))
        warn(c, "%s=%s is not N/S (N connections within S seconds, N>=2); using %s",
             SSLSHIM_ENV_LOOP, v, SSLSHIM_DEFAULT_LOOP);

    /* SSLSHIM_KEYLOG, else the standard SSLKEYLOGFILE as Wireshark users
     * set it: then a program that logs its keys there itself (curl,
     * Python) is left to do so (keylog.c). */
    const char *var = SSLSHIM_ENV_KEYLOG;
    v = getenv_fn(var);
    if (!v || !*v) {
        var = SSLSHIM_ENV_STANDARD_KEYLOG;
        v = getenv_fn(var);
        c->keylog_standard = v && *v;
    }
    if (v && *v) {
        if (strlen(v) >= sizeof c->keylog)
            warn(c, "%s is longer than %zu bytes; key log off", var, sizeof c->keylog - 1);
        else
            snprintf(c->keylog, sizeof c->keylog, "%s", v);
    }

    v = getenv_fn(SSLSHIM_ENV_NOTIFY);
    if (v && *v) {
        if (v[0] != '@' || strlen(v) < 2 || strlen(v) >= sizeof c->notify)
            warn(c, "%s=%s is not @NAME (at most %zu bytes); not used", SSLSHIM_ENV_NOTIFY, v,
                 sizeof c->notify - 1);
        else
            snprintf(c->notify, sizeof c->notify, "%s", v);
    }

    v = getenv_fn(SSLSHIM_ENV_VALGRIND);
    c->valgrind_auto = true;
    if (v && *v) {
        if (strcmp(v, "off") == 0)
            c->valgrind_auto = false;
        else if (strcmp(v, "auto") != 0)
            warn(c, "%s=%s is not auto or off; using auto", SSLSHIM_ENV_VALGRIND, v);
    }
}
