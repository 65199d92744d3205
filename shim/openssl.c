/* openssl.c — finding the real OpenSSL functions, once, at run time.
 *
 * The libssl we want is the one the program uses.  Usually it is in the
 * global scope after us and dlsym(RTLD_NEXT) finds it.  When a module linked
 * to libssl was opened with RTLD_LOCAL (Python's _ssl), its calls still bind
 * to our exported wrappers (the preload is first in every lookup scope) but
 * RTLD_NEXT cannot see libssl: then we walk the loaded objects, find the one
 * that defines SSL_new and is not us, and take every symbol from it (its
 * handle's lookup scope is libssl and its dependencies, so libcrypto's
 * functions come from the matching libcrypto). */
#include "openssl.h"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct ossl ossl;

static pthread_once_t resolve_once = PTHREAD_ONCE_INIT;
static bool resolved_ok;
static const char *run_time_version;

static bool is_ours(const void *addr)
{
    Dl_info mine, theirs;
    if (!addr || !dladdr((void *)&is_ours, &mine) || !dladdr(addr, &theirs))
        return false;
    return mine.dli_fbase == theirs.dli_fbase;
}

struct object_list {
    char names[64][512];
    int n;
};

static int collect_object(struct dl_phdr_info *info, size_t size, void *data)
{
    struct object_list *list = data;
    (void)size;
    if (info->dlpi_name && info->dlpi_name[0] && list->n < 64)
        snprintf(list->names[list->n++], sizeof list->names[0], "%s", info->dlpi_name);
    return 0;
}

/* An object already loaded (RTLD_NOLOAD) whose lookup scope defines SSL_new,
 * not counting us.  dlopen is called after dl_iterate_phdr returns, never
 * inside its callback, which runs with the loader's lock held. */
static void *find_loaded_libssl(void)
{
    static struct object_list list;     /* large: keep it off the caller's stack */
    list.n = 0;
    dl_iterate_phdr(collect_object, &list);
    for (int i = 0; i < list.n; i++) {
        void *h = dlopen(list.names[i], RTLD_LAZY | RTLD_NOLOAD);
        if (!h)
            continue;
        void *sym = dlsym(h, "SSL_new");
        if (sym && !is_ours(sym))
            return h;
        dlclose(h);
    }
    return NULL;
}

/* A handle whose scope starts at the real libssl. */
static void *libssl_handle(void)
{
    Dl_info info;
    void *sym = dlsym(RTLD_NEXT, "SSL_new");
    if (sym && !is_ours(sym) && dladdr(sym, &info) && info.dli_fname) {
        void *h = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
        if (h)
            return h;
    }
    return find_loaded_libssl();
}

static void *lookup(void *h, const char *name)
{
    void *sym = dlsym(h, name);
    return is_ours(sym) ? NULL : sym;   /* never call ourselves back */
}

static void resolve(void)
{
    void *h = libssl_handle();
    bool ok = h != NULL;
    if (!h)
        return;

#define X(name) ok &= (*(void **)&ossl.name = lookup(h, #name)) != NULL;
#include "interposed.def"
#undef X
#define R(name) ok &= (*(void **)&ossl.name = lookup(h, #name)) != NULL;
#define O(name) *(void **)&ossl.name = lookup(h, #name);
#include "used.def"
#undef R
#undef O
    *(void **)&ossl.get1_peer_certificate = lookup(h, "SSL_get1_peer_certificate");
    if (!ossl.get1_peer_certificate)
        *(void **)&ossl.get1_peer_certificate = lookup(h, "SSL_get_peer_certificate");
    *(void **)&ossl.legacy_get_error_line_data = lookup(h, "ERR_get_error_line_data");
    *(void **)&ossl.legacy_put_error = lookup(h, "ERR_put_error");
    *(void **)&ossl.legacy_add_error_data = lookup(h, "ERR_add_error_data");
    *(void **)&ossl.SSL_get0_group_name = lookup(h, "SSL_get0_group_name");

    Dl_info info;
    if (ossl.SSL_new && dladdr((void *)ossl.SSL_new, &info) && info.dli_fname)
        snprintf(ossl.libssl_path, sizeof ossl.libssl_path, "%s", info.dli_fname);
    if (ossl.OpenSSL_version_num) {
        ossl.v3 = ossl.OpenSSL_version_num() >= 0x30000000UL;
        run_time_version = ossl.OpenSSL_version(OPENSSL_VERSION);
    }
    resolved_ok = ok;
}

bool ossl_resolve(void)
{
    pthread_once(&resolve_once, resolve);
    return resolved_ok;
}

const char *ossl_version(void) { return run_time_version; }
