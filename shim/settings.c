/* settings.c — the groups and signature algorithms a side allows, as the
 * program set them.  OpenSSL 3.0 has no getter for them (SSL_get1_groups
 * and SSL_get_sigalgs answer with the peer's), yet "no common group" can
 * only be explained with both lists.  The lists are kept as the program
 * wrote them (names separated by ':'), on the SSL_CTX and on the SSL, in one
 * ex_data slot of each: OpenSSL frees them with the object. */
#include "settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_MAX 512

struct settings {
    char groups[LIST_MAX];       /* "" when not set */
    char sigalgs[LIST_MAX];
};

static void settings_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                          void *argp)
{
    (void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
    free(ptr);
}

/* The notes follow the object they are about: a copy (SSL_dup) gets none
 * and reads its CTX's, which is where SSL_new took the lists from. */
bool settings_init(void)
{
    ossl.settings_ctx_idx = ossl.CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL_CTX, 0, NULL, NULL,
                                                         NULL, settings_free);
    ossl.settings_ssl_idx = ossl.CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL, 0, NULL, NULL,
                                                         NULL, settings_free);
    return ossl.settings_ctx_idx >= 0 && ossl.settings_ssl_idx >= 0;
}

static void copy_list(char *out, const char *list)
{
    snprintf(out, LIST_MAX, "%s", list ? list : "");
}

/* SSL_CTRL_SET_GROUPS gives NIDs (or, for groups without one, the
 * TLS id with TLSEXT_nid_unknown set): their short names, ':'-joined. */
static void copy_group_nids(char *out, const int *nids, long n)
{
    size_t len = 0;
    out[0] = '\0';
    for (long i = 0; nids && i < n && len < LIST_MAX; i++) {
        const char *name = (nids[i] & TLSEXT_nid_unknown) ? NULL : ossl.OBJ_nid2sn(nids[i]);
        int w = name ? snprintf(out + len, LIST_MAX - len, "%s%s", len ? ":" : "", name)
                     : snprintf(out + len, LIST_MAX - len, "%s0x%04x", len ? ":" : "",
                                (unsigned)nids[i] & 0xffff);
        if (w < 0)
            break;
        len += (size_t)w;
    }
}

static void note(struct settings *st, int cmd, long larg, const void *parg)
{
    if (cmd == SSL_CTRL_SET_GROUPS_LIST)
        copy_list(st->groups, parg);
    else if (cmd == SSL_CTRL_SET_GROUPS)
        copy_group_nids(st->groups, parg, larg);
    else if (cmd == SSL_CTRL_SET_SIGALGS_LIST)
        copy_list(st->sigalgs, parg);
}

static struct settings *of_ctx(SSL_CTX *ctx, bool make)
{
    struct settings *st = ossl.SSL_CTX_get_ex_data(ctx, ossl.settings_ctx_idx);
    if (!st && make && (st = calloc(1, sizeof *st)) &&
        !ossl.SSL_CTX_set_ex_data(ctx, ossl.settings_ctx_idx, st)) {
        free(st);
        st = NULL;
    }
    return st;
}

static struct settings *of_ssl(const SSL *s, bool make)
{
    struct settings *st = ossl.SSL_get_ex_data(s, ossl.settings_ssl_idx);
    if (!st && make && (st = calloc(1, sizeof *st)) &&
        !ossl.SSL_set_ex_data((SSL *)s, ossl.settings_ssl_idx, st)) {
        free(st);
        st = NULL;
    }
    return st;
}

void settings_ctx_ctrl(SSL_CTX *ctx, int cmd, long larg, const void *parg)
{
    struct settings *st = ossl.settings_ctx_idx >= 0 && ctx ? of_ctx(ctx, true) : NULL;
    if (st)
        note(st, cmd, larg, parg);
}

void settings_ssl_ctrl(SSL *s, int cmd, long larg, const void *parg)
{
    struct settings *st = ossl.settings_ssl_idx >= 0 && s ? of_ssl(s, true) : NULL;
    if (st)
        note(st, cmd, larg, parg);
}

/* One list as a JSON array of its ':'-separated names. */
static void list_field(struct ev *e, const char *key, const char *list)
{
    ev_arr_begin(e, key);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ':');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n)
            ev_strn(e, NULL, p, n);
        p += n + (end ? 1 : 0);
    }
    ev_arr_end(e);
}

void settings_fields(struct ev *e, SSL *s)
{
    if (ossl.settings_ssl_idx < 0 || ossl.settings_ctx_idx < 0)
        return;
    const struct settings *mine = of_ssl(s, false);
    SSL_CTX *ctx = ossl.SSL_get_SSL_CTX(s);
    const struct settings *ctxs = ctx ? of_ctx(ctx, false) : NULL;
    const char *groups = mine && mine->groups[0] ? mine->groups
                         : ctxs && ctxs->groups[0] ? ctxs->groups : NULL;
    const char *sigalgs = mine && mine->sigalgs[0] ? mine->sigalgs
                          : ctxs && ctxs->sigalgs[0] ? ctxs->sigalgs : NULL;
    if (groups)
        list_field(e, "groups", groups);
    if (sigalgs)
        list_field(e, "sigalgs", sigalgs);
}
