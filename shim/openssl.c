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
#include <stdlib.h>
#include <string.h>

struct ossl_api ossl_libs[OSSL_FAMILIES];
__thread struct ossl_api *ossl_current __attribute__((tls_model("initial-exec"))) = &ossl_libs[0];

/* The symbol version of SSL_new that marks each family's libssl. */
static const char *const family_version[OSSL_FAMILIES] = { "OPENSSL_3.0.0", "OPENSSL_1_1_0" };

static pthread_once_t resolve_once[OSSL_FAMILIES] = { PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT };
static bool resolved_ok[OSSL_FAMILIES];

static bool is_ours(const void *addr)
{
    Dl_info mine, theirs;
    if (!addr || !dladdr((void *)&is_ours, &mine) || !dladdr(addr, &theirs))
        return false;
    return mine.dli_fbase == theirs.dli_fbase;
}

/* The names of the loaded objects, however many (Python with its
 * extension modules has hundreds): copied during dl_iterate_phdr, used
 * after it. */
struct object_list {
    char **names;
    size_t n, cap;
    bool short_of_memory;
};

static int collect_object(struct dl_phdr_info *info, size_t size, void *data)
{
    struct object_list *list = data;
    (void)size;
    if (!info->dlpi_name || !info->dlpi_name[0])
        return 0;
    if (list->n == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 128;
        char **names = realloc(list->names, cap * sizeof *names);
        if (!names) {
            list->short_of_memory = true;
            return 1;
        }
        list->names = names;
        list->cap = cap;
    }
    char *name = strdup(info->dlpi_name);
    if (!name) {
        list->short_of_memory = true;
        return 1;
    }
    list->names[list->n++] = name;
    return 0;
}

static void free_object_list(struct object_list *list)
{
    for (size_t i = 0; i < list->n; i++)
        free(list->names[i]);
    free(list->names);
}

/* SSL_new as `version` defines it (any version if NULL) in h's scope. */
static void *find_ssl_new(void *h, const char *version)
{
    void *sym = version ? dlvsym(h, "SSL_new", version) : dlsym(h, "SSL_new");
    return sym && !is_ours(sym) ? sym : NULL;
}

/* A handle of the object that defines sym. */
static void *handle_of(void *sym)
{
    Dl_info info;
    if (!sym || !dladdr(sym, &info) || !info.dli_fname)
        return NULL;
    return dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
}

/* An object already loaded (RTLD_NOLOAD) whose lookup scope defines SSL_new
 * with that version, not counting us.  dlopen is called after
 * dl_iterate_phdr returns, never inside its callback, which runs with the
 * loader's lock held. */
static void *find_loaded_libssl(const char *version)
{
    struct object_list list = { 0 };
    void *found = NULL;
    dl_iterate_phdr(collect_object, &list);
    for (size_t i = 0; i < list.n && !found; i++) {
        void *h = dlopen(list.names[i], RTLD_LAZY | RTLD_NOLOAD);
        if (!h)
            continue;
        found = handle_of(find_ssl_new(h, version));
        dlclose(h);
    }
    free_object_list(&list);
    return found;
}

/* The family's libssl by its usual name, if it is loaded: the last resort
 * when the walk above could not even list the objects (no memory). */
static void *loaded_by_soname(int family)
{
    static const char *const sonames[OSSL_FAMILIES] = { "libssl.so.3", "libssl.so.1.1" };
    void *h = dlopen(sonames[family], RTLD_LAZY | RTLD_NOLOAD);
    if (!h)
        return NULL;
    void *found = handle_of(find_ssl_new(h, family_version[family]));
    dlclose(h);
    return found;
}

/* A handle whose scope starts at the real libssl of the family: the usual
 * case is the global scope after us (RTLD_NEXT); a libssl a module loaded
 * with RTLD_LOCAL (Python's _ssl) is found among the loaded objects.  The
 * 3.x family also takes a libssl without symbol versions (a private build),
 * which callers reach through our default-version wrappers. */
static void *libssl_handle(int family)
{
    const char *version = family_version[family];
    void *h = handle_of(find_ssl_new(RTLD_NEXT, version));
    if (!h)
        h = find_loaded_libssl(version);
    if (!h)
        h = loaded_by_soname(family);
    if (!h && family == OSSL_FAMILY_3) {
        h = handle_of(find_ssl_new(RTLD_NEXT, NULL));
        if (!h)
            h = find_loaded_libssl(NULL);
    }
    /* dlopen itself failing (out of memory) must not leave the program
     * without its functions: the global scope after us still has them. */
    if (!h && find_ssl_new(RTLD_NEXT, version))
        h = RTLD_NEXT;
    return h;
}

static void *lookup(void *h, const char *name)
{
    void *sym = dlsym(h, name);
    return is_ours(sym) ? NULL : sym;   /* never call ourselves back */
}

static void *lookup_either(void *h, const char *name, const char *old_name)
{
    void *sym = lookup(h, name);
    return sym ? sym : lookup(h, old_name);
}

static bool resolve_into(struct ossl_api *api, int family)
{
    void *h = libssl_handle(family);
    bool ok = h != NULL;
    if (!h)
        return false;
    struct ossl_api *saved = ossl_current;
    ossl_current = api;
    api->family = family;
    api->ssl_idx = api->ctx_idx = api->keylog_idx = -1;
    api->settings_ssl_idx = api->settings_ctx_idx = -1;

#define X(name, v11) ok &= (*(void **)&ossl.name = lookup(h, #name)) != NULL;
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
    /* 3.0 renamed them (the old names are macros there). */
    *(void **)&ossl.pkey_base_id = lookup_either(h, "EVP_PKEY_get_base_id", "EVP_PKEY_base_id");
    *(void **)&ossl.pkey_bits = lookup_either(h, "EVP_PKEY_get_bits", "EVP_PKEY_bits");
    *(void **)&ossl.pkey_eq = lookup_either(h, "EVP_PKEY_eq", "EVP_PKEY_cmp");

    Dl_info info;
    if (ossl.SSL_new && dladdr((void *)ossl.SSL_new, &info) && info.dli_fname)
        snprintf(ossl.libssl_path, sizeof ossl.libssl_path, "%s", info.dli_fname);
    if (ossl.OpenSSL_version_num) {
        ossl.v3 = ossl.OpenSSL_version_num() >= 0x30000000UL;
        ossl.version = ossl.OpenSSL_version(OPENSSL_VERSION);
    }
    ossl_current = saved;
    return ok;
}

static void resolve_3(void) { resolved_ok[OSSL_FAMILY_3] = resolve_into(&ossl_libs[0], OSSL_FAMILY_3); }
static void resolve_1_1(void) { resolved_ok[OSSL_FAMILY_1_1] = resolve_into(&ossl_libs[1], OSSL_FAMILY_1_1); }

bool ossl_resolve(int family)
{
    pthread_once(&resolve_once[family], family == OSSL_FAMILY_3 ? resolve_3 : resolve_1_1);
    return resolved_ok[family];
}

const char *ossl_version(void) { return ossl.version; }
