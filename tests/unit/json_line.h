/* json_line.h — a strict JSON checker for the unit tests: a line is one
 * JSON object with unique keys at its top, no whitespace (the builder writes
 * none), strings of valid UTF-8 without raw control bytes, then a newline. */
#ifndef SSLSHIM_UNIT_JSON_LINE_H
#define SSLSHIM_UNIT_JSON_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct js {
    const unsigned char *p, *end;
    int depth;
    size_t nkeys;                       /* of the outermost object */
    const unsigned char *key[256];
    size_t key_len[256];
    bool dup;
};

static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned c = p[0], cp, min;
    size_t len;
    if ((c & 0xe0) == 0xc0) { len = 2; cp = c & 0x1f; min = 0x80; }
    else if ((c & 0xf0) == 0xe0) { len = 3; cp = c & 0x0f; min = 0x800; }
    else if ((c & 0xf8) == 0xf0) { len = 4; cp = c & 0x07; min = 0x10000; }
    else return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

static bool is_hex(unsigned c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool js_string(struct js *j, const unsigned char **s, size_t *n)
{
    if (j->p == j->end || *j->p != '"')
        return false;
    const unsigned char *start = ++j->p;
    while (j->p < j->end) {
        unsigned c = *j->p;
        if (c == '"') {
            *s = start;
            *n = (size_t)(j->p - start);
            j->p++;
            return true;
        }
        if (c < 0x20 || c == 0x7f)
            return false;
        if (c == '\\') {
            if (++j->p == j->end)
                return false;
            c = *j->p++;
            if (c == 'u') {
                for (int i = 0; i < 4; i++, j->p++)
                    if (j->p == j->end || !is_hex(*j->p))
                        return false;
            } else if (!memchr("\"\\/bfnrt", (int)c, 8)) {
                return false;
            }
        } else if (c >= 0x80) {
            size_t len = utf8_seq(j->p, (size_t)(j->end - j->p));
            if (!len)
                return false;
            j->p += len;
        } else {
            j->p++;
        }
    }
    return false;
}

static bool js_digits(struct js *j)
{
    const unsigned char *start = j->p;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        j->p++;
    return j->p > start;
}

static bool js_number(struct js *j)
{
    if (j->p < j->end && *j->p == '-')
        j->p++;
    if (j->p < j->end && *j->p == '0')
        j->p++;
    else if (!js_digits(j))
        return false;
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (!js_digits(j))
            return false;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (!js_digits(j))
            return false;
    }
    return true;
}

static bool js_word(struct js *j, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0)
        return false;
    j->p += n;
    return true;
}

static bool js_value(struct js *j);

static bool js_object(struct js *j)
{
    const unsigned char *s;
    size_t n;
    j->p++;
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return true;
    }
    for (;;) {
        if (!js_string(j, &s, &n) || j->p == j->end || *j->p++ != ':')
            return false;
        if (j->depth == 1) {
            for (size_t i = 0; i < j->nkeys; i++)
                if (j->key_len[i] == n && memcmp(j->key[i], s, n) == 0)
                    j->dup = true;
            if (j->nkeys == sizeof j->key / sizeof j->key[0])
                return false;
            j->key[j->nkeys] = s;
            j->key_len[j->nkeys++] = n;
        }
        if (!js_value(j) || j->p == j->end)
            return false;
        if (*j->p == '}') {
            j->p++;
            return true;
        }
        if (*j->p++ != ',')
            return false;
    }
}

static bool js_array(struct js *j)
{
    j->p++;
    if (j->p < j->end && *j->p == ']') {
        j->p++;
        return true;
    }
    for (;;) {
        if (!js_value(j) || j->p == j->end)
            return false;
        if (*j->p == ']') {
            j->p++;
            return true;
        }
        if (*j->p++ != ',')
            return false;
    }
}

/* One value, no whitespace anywhere (the builder writes none). */
static bool js_value(struct js *j)
{
    const unsigned char *s;
    size_t n;
    bool ok;
    if (j->p == j->end || j->depth >= 16)
        return false;
    switch (*j->p) {
    case '{':
        j->depth++;
        ok = js_object(j);
        j->depth--;
        return ok;
    case '[':
        j->depth++;
        ok = js_array(j);
        j->depth--;
        return ok;
    case '"': return js_string(j, &s, &n);
    case 't': return js_word(j, "true");
    case 'f': return js_word(j, "false");
    case 'n': return js_word(j, "null");
    default: return js_number(j);
    }
}

/* A line: one JSON object with unique keys, then a newline, and no more. */
static bool json_line(const char *line, size_t len)
{
    static struct js j;
    j.p = (const unsigned char *)line;
    j.end = j.p + len;
    j.depth = 0;
    j.nkeys = 0;
    j.dup = false;
    if (len < 2 || line[len - 1] != '\n' || *j.p != '{')
        return false;
    j.end--;
    return js_value(&j) && j.p == j.end && !j.dup;
}

#endif
