/* stack.c — capturing, trimming and describing call stacks. */
#include "stack.h"

#include "config.h"
#include "openssl.h"
#include "process.h"
#include "record.h"
#include "sslshim.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unwind.h>

#include <valgrind/valgrind.h>

#define CAPTURE_MAX 160
#define MODULES_MAX 512
#define NAMES_MAX 1024

/* The unwinder is libgcc_s's, the one C++ exceptions and glibc's
 * backtrace() use: it reads the CFI of each object and nothing else.
 * (libunwind, used before, checks addresses by writing them to a pipe of
 * its own; after a daemon closes every descriptor that pipe's numbers are
 * the program's, and libunwind then reads from and writes into them.) */
typedef int (*unwind_trace_fn)(_Unwind_Trace_Fn, void *);
typedef uintptr_t (*unwind_get_ip_fn)(struct _Unwind_Context *);

static pthread_once_t unwind_once = PTHREAD_ONCE_INIT;
static unwind_trace_fn unwind_backtrace;
static unwind_get_ip_fn unwind_get_ip;

struct module {
    uintptr_t start, end, base;
    char path[256];
    char build_id[41];
    bool reported;
};

static pthread_mutex_t stack_lock = PTHREAD_MUTEX_INITIALIZER;
static struct module modules[MODULES_MAX];
static int n_modules;

struct name_slot {
    uintptr_t ip;
    char *name;                    /* NULL: not resolvable */
    bool known;
};
static struct name_slot names[NAMES_MAX];

/* Loaded privately: a program that has no libgcc_s in its global scope
 * does not get one (its _Unwind_* would then bind there). */
static void load_unwinder(void)
{
    void *h = dlopen("libgcc_s.so.1", RTLD_LAZY | RTLD_LOCAL);
    if (!h)
        return;
    *(void **)&unwind_get_ip = dlsym(h, "_Unwind_GetIP");
    *(void **)&unwind_backtrace = unwind_get_ip ? dlsym(h, "_Unwind_Backtrace") : NULL;
}

struct trace {
    void **ips;
    int n, max;
};

static _Unwind_Reason_Code trace_frame(struct _Unwind_Context *ctx, void *arg)
{
    struct trace *t = arg;
    if (t->n == t->max)
        return _URC_END_OF_STACK;
    uintptr_t ip = unwind_get_ip(ctx);
    if (ip == 0)
        return _URC_END_OF_STACK;
    t->ips[t->n++] = (void *)ip;
    return _URC_NO_REASON;
}

/* ---- modules ------------------------------------------------------------ */

static void read_build_id(const struct dl_phdr_info *info, char out[41])
{
    out[0] = '\0';
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr);
        const char *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
            const char *name = p + sizeof *nh;
            const unsigned char *desc = (const unsigned char *)name + ((nh->n_namesz + 3) & ~3u);
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0) {
                unsigned n = nh->n_descsz > 20 ? 20 : nh->n_descsz;
                for (unsigned k = 0; k < n; k++)
                    snprintf(out + 2 * (size_t)k, 3, "%02x", desc[k]);
                return;
            }
            p = (const char *)desc + ((nh->n_descsz + 3) & ~3u);
        }
    }
}

static int add_module(struct dl_phdr_info *info, size_t size, void *data)
{
    uintptr_t ip = *(uintptr_t *)data;
    (void)size;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type != PT_LOAD || ip < lo || ip >= lo + ph->p_memsz)
            continue;
        if (n_modules == MODULES_MAX)
            return 1;
        struct module *m = &modules[n_modules++];
        m->start = lo;
        m->end = lo + ph->p_memsz;
        m->base = info->dlpi_addr;
        snprintf(m->path, sizeof m->path, "%s",
                 info->dlpi_name && info->dlpi_name[0] ? info->dlpi_name : process_exe_path());
        read_build_id(info, m->build_id);
        m->reported = false;
        return 1;
    }
    return 0;
}

/* The module containing ip (stack_lock held), adding it on first sight. */
static struct module *module_of(uintptr_t ip)
{
    for (int i = 0; i < n_modules; i++)
        if (ip >= modules[i].start && ip < modules[i].end)
            return &modules[i];
    int before = n_modules;
    dl_iterate_phdr(add_module, &ip);
    return n_modules > before ? &modules[n_modules - 1] : NULL;
}

static void record_module(struct module *m)
{
    struct ev e;
    record_begin(&e, SSLSHIM_EV_MODULE, NULL);
    snprintf(e.summary, sizeof e.summary, "%s", m->path);
    ev_str(&e, "path", m->path);
    ev_addr(&e, "base", m->base);
    ev_str(&e, "build_id", m->build_id[0] ? m->build_id : NULL);
    record(&e);
}

/* "name+0x1c" for ip, from a cache filled by dladdr (slow in big objects). */
static const char *name_of(uintptr_t ip)
{
    struct name_slot *slot = &names[(ip >> 2) % NAMES_MAX];
    if (slot->known && slot->ip == ip)
        return slot->name;
    Dl_info info;
    char buf[256];
    free(slot->name);
    slot->name = NULL;
    if (dladdr((void *)ip, &info) && info.dli_sname) {
        snprintf(buf, sizeof buf, "%s+0x%lx", info.dli_sname,
                 (unsigned long)(ip - (uintptr_t)info.dli_saddr));
        slot->name = strdup(buf);
    }
    slot->ip = ip;
    slot->known = true;
    return slot->name;
}

/* ---- capture ------------------------------------------------------------ */

static bool in_object(uintptr_t ip, const void *anchor)
{
    Dl_info a, b;
    return anchor && dladdr((void *)ip, &a) && dladdr(anchor, &b) && a.dli_fbase == b.dli_fbase;
}

/* Index of the program's frame: `caller`, the return address of the
 * outermost interposed call; else the first frame outside the shim, libssl
 * and libcrypto (a stack taken with no call of ours in progress). */
static int first_program_frame(void *const *ips, int n, uintptr_t caller)
{
    if (caller) {
        for (int i = 0; i < n; i++)
            if ((uintptr_t)ips[i] == caller)
                return i;
    }
    int i = 0;
    while (i < n && in_object((uintptr_t)ips[i], (const void *)&first_program_frame))
        i++;
    while (i < n && (in_object((uintptr_t)ips[i], (const void *)ossl.SSL_new) ||
                     in_object((uintptr_t)ips[i], (const void *)ossl.OpenSSL_version)))
        i++;
    return i < n ? i : 0;
}

__attribute__((cold)) struct stack *stack_capture(uintptr_t caller)
{
    void *ips[CAPTURE_MAX];
    pthread_once(&unwind_once, load_unwinder);
    if (!unwind_backtrace)
        return NULL;
    /* Unwinding reads the program's stack, defined or not (saved registers
     * the program never set): memcheck would blame that on us.  Only the
     * unwinding is hidden. */
    struct trace t = { ips, 0, CAPTURE_MAX };
    VALGRIND_DISABLE_ERROR_REPORTING;
    unwind_backtrace(trace_frame, &t);
    VALGRIND_ENABLE_ERROR_REPORTING;
    int n = t.n;
    if (n <= 0)
        return NULL;
    int first = first_program_frame(ips, n, caller);
    unsigned keep = (unsigned)(n - first);
    if (keep > config.stack_depth)
        keep = config.stack_depth;
    struct stack *st = malloc(sizeof *st + keep * sizeof st->ip[0]);
    if (!st)
        return NULL;
    st->n = keep;
    for (unsigned i = 0; i < keep; i++)
        st->ip[i] = (uintptr_t)ips[first + (int)i];
    return st;
}

void stack_free(struct stack *st) { free(st); }

__attribute__((cold)) void stack_field(struct ev *e, const char *key, const struct stack *st)
{
    if (!st)
        return;
    pthread_mutex_lock(&stack_lock);
    for (unsigned i = 0; i < st->n; i++) {
        struct module *m = module_of(st->ip[i]);
        if (m && !m->reported) {
            m->reported = true;
            record_module(m);
        }
    }
    ev_arr_begin(e, key);
    for (unsigned i = 0; i < st->n; i++) {
        uintptr_t ip = st->ip[i];
        struct module *m = module_of(ip);
        ev_obj_begin(e, NULL);
        ev_addr(e, "ip", ip);
        ev_str(e, "obj", m ? m->path : NULL);
        if (m)
            ev_addr(e, "off", ip - m->base);
        const char *fn = name_of(ip);
        if (fn)
            ev_str(e, "fn", fn);
        ev_obj_end(e);
    }
    ev_arr_end(e);
    pthread_mutex_unlock(&stack_lock);
}

void stack_atfork_prepare(void) { pthread_mutex_lock(&stack_lock); }
void stack_atfork_parent(void) { pthread_mutex_unlock(&stack_lock); }

void stack_atfork_child(void)
{
    pthread_mutex_unlock(&stack_lock);
    for (int i = 0; i < n_modules; i++)
        modules[i].reported = false;
}
