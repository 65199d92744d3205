/* redact.c — secrets out of a command line before it is logged (redact.h). */
#include "redact.h"

#include <string.h>
#include <strings.h>

static const char *const secret_options[] = {
    "-pass", "-passin", "-passout", "-psk", "-srppass", "-password", "--password", "--pass",
    "--passphrase", "--proxy-pass", "--key-password", "--token", "--secret", NULL
};

static const char *const user_options[] = { "-u", "--user", "--proxy-user", NULL };

/* NAME=value is a secret when NAME ends so (any case). */
static const char *const secret_names[] = {
    "pass", "passwd", "password", "passphrase", "passin", "passout", "secret", "token",
    "psk", "key", NULL
};

static bool listed(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return true;
    return false;
}

/* Whether the argument after `opt` is a secret as a whole. */
static bool takes_secret(const char *opt) { return opt && listed(secret_options, opt); }

struct out {
    char *p, *end;                 /* end: room for the NUL */
};

static void put(struct out *o, const char *s, size_t n)
{
    if (n > (size_t)(o->end - o->p))
        n = (size_t)(o->end - o->p);
    memcpy(o->p, s, n);
    o->p += n;
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.';
}

/* Whether the name that ends at arg + at (before an '=') names a secret. */
static bool secret_name_before(const char *arg, size_t at)
{
    size_t start = at;
    while (start > 0 && name_char(arg[start - 1]))
        start--;
    for (const char *const *w = secret_names; *w; w++) {
        size_t n = strlen(*w);
        if (at - start >= n && strncasecmp(arg + at - n, *w, n) == 0)
            return true;
    }
    return false;
}

/* At arg + i, "://": the end of a URL's user:password@ part whose password
 * starts at *pw (0 when there is none). */
static size_t url_userinfo(const char *arg, size_t len, size_t i, size_t *pw)
{
    size_t host = i + 3, end = host, at = 0;
    while (end < len && arg[end] != '/' && arg[end] != '?' && arg[end] != '#')
        end++;
    for (size_t k = host; k < end; k++)
        if (arg[k] == '@')
            at = k;
    *pw = 0;
    if (!at)
        return 0;
    for (size_t k = host; k < at; k++) {
        if (arg[k] == ':') {
            *pw = k + 1;
            break;
        }
    }
    return at;
}

static bool value_end(char c) { return c == ',' || c == '&' || c == ';' || c == ' '; }

static void redact_parts(struct out *o, const char *arg, size_t len)
{
    size_t i = 0;
    if (len >= 5 && strncmp(arg, "pass:", 5) == 0) {      /* OpenSSL's pass phrase argument */
        put(o, "pass:" REDACTED, sizeof "pass:" REDACTED - 1);
        return;
    }
    while (i < len) {
        size_t pw, at;
        if (len - i >= 3 && memcmp(arg + i, "://", 3) == 0 &&
            (at = url_userinfo(arg, len, i, &pw)) && pw) {
            put(o, arg + i, pw - i);
            put(o, REDACTED, sizeof REDACTED - 1);
            i = at;
        } else if (arg[i] == '=' && secret_name_before(arg, i)) {
            put(o, "=" REDACTED, sizeof "=" REDACTED - 1);
            for (i++; i < len && !value_end(arg[i]); i++)
                ;
        } else {
            put(o, arg + i, 1);
            i++;
        }
    }
}

const char *redact_arg(const char *arg, size_t len, const char *prev, char *out, size_t size)
{
    struct out o = { out, out + (size ? size - 1 : 0) };
    if (!size)
        return out;
    if (takes_secret(prev)) {
        put(&o, REDACTED, sizeof REDACTED - 1);
    } else if (prev && listed(user_options, prev)) {
        const char *colon = memchr(arg, ':', len);
        put(&o, arg, colon ? (size_t)(colon - arg) + 1 : len);
        if (colon)
            put(&o, REDACTED, sizeof REDACTED - 1);
    } else {
        redact_parts(&o, arg, len);
    }
    *o.p = '\0';
    return out;
}
