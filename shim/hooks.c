/* hooks.c — the exported wrappers, and nothing else.
 *
 * The wrappers are written once (hooks_family.h) and made twice: for OpenSSL
 * 3.x, exported under the default version OPENSSL_3.0.0 (which unversioned
 * callers also reach), and for 1.1.x, exported as OPENSSL_1_1_0/1_1_1.  The
 * dynamic linker then sends each caller to the wrapper of the family it was
 * linked against, even with both libraries in one process. */
#include "calls.h"
#include "conn.h"
#include "init.h"
#include "keylog.h"
#include "lifecycle.h"
#include "messages.h"
#include "openssl.h"
#include "settings.h"
#include "trace.h"
#include "undefined.h"
#include "valgrind.h"

#include <errno.h>

#define CALLER ((uintptr_t)__builtin_return_address(0))
#define EXPORT __attribute__((visibility("default")))

/* The first call of a family activates it; if its libssl cannot be found
 * there is no real function to call, so fail the way the function fails. */
#define ENSURE(fail)                                                            \
    do {                                                                        \
        if (__builtin_expect(!shim_ready[FAMILY], 0) && !shim_activate(FAMILY)) \
            return fail;                                                        \
    } while (0)
#define ENSURE_VOID() ENSURE()

/* Run a statement with this family's table current (shim code reads
 * `ossl`), restoring the caller's after. */
#define WITH_API(stmt)                                                          \
    struct ossl_api *saved_api_ = ossl_current;                                 \
    ossl_current = API;                                                         \
    stmt;                                                                       \
    ossl_current = saved_api_

/* A call that only drives the handshake or the connection's state. */
#define CONTROL_CALL(name, s)                                                   \
    ENSURE(-1);                                                                 \
    struct call call;                                                           \
    if (!call_begin(&call, API, s, #name, CALLER))                              \
        return API->name(s);                                                    \
    int ret = API->name(s);                                                     \
    call_end(&call, ret, 0, 0, NULL);                                           \
    return ret

/* Data calls: the fast path of calls.h inline, else the general one out of
 * line (fewer registers to save on the fast path).  INT_IO_GENERAL and
 * EX_IO_GENERAL define the general path of one function; `caller` is the
 * wrapper's return address. */
#define IO_FAST(name, dir, s, num, args, bytes)                                 \
    struct conn *fast = io_begin(FAMILY, s, (size_t)(num), #name, CALLER);      \
    if (__builtin_expect(fast != NULL, 1)) {                                    \
        int ret = API->name args;                                               \
        io_end(API, fast, ret, bytes, dir);                                     \
        return ret;                                                             \
    }

#define INT_IO_CALL(name, dir, s, buf, num)                                     \
    IO_FAST(name, dir, s, num, (s, buf, num), (size_t)ret)                      \
    return HOOK(name##_general)(s, buf, num, CALLER)

#define EX_IO_CALL(name, dir, s, buf, num, done)                                \
    IO_FAST(name, dir, s, num, (s, buf, num, done), (done) ? *(done) : 0)       \
    return HOOK(name##_general)(s, buf, num, done, CALLER)

/* The general path of an int data call. */
#define INT_IO_GENERAL(name, dir, buf_type)                                     \
    static __attribute__((noinline)) int HOOK(name##_general)(SSL *s, buf_type buf, int num, \
                                                              uintptr_t caller) \
    {                                                                           \
        ENSURE(-1);                                                             \
        if ((dir) == 'w')                                                       \
            CHECK_DEFINED(#name, buf, num > 0 ? (size_t)num : 0);               \
        struct call call;                                                       \
        if (!call_begin(&call, API, s, #name, caller))                          \
            return API->name(s, buf, num);                                      \
        call.zero_ok = num == 0;      /* nothing asked, nothing failed */       \
        int ret = API->name(s, buf, num);                                       \
        call_end(&call, ret, ret > 0 ? (size_t)ret : 0, dir, buf);              \
        return ret;                                                             \
    }

/* The general path of a data call with a 1/0 result and the count through a pointer. */
#define EX_IO_GENERAL(name, dir, buf_type)                                      \
    static __attribute__((noinline)) int HOOK(name##_general)(SSL *s, buf_type buf, size_t num, \
                                                              size_t *done, uintptr_t caller) \
    {                                                                           \
        ENSURE(0);                                                              \
        if ((dir) == 'w')                                                       \
            CHECK_DEFINED(#name, buf, num);                                     \
        struct call call;                                                       \
        if (!call_begin(&call, API, s, #name, caller))                          \
            return API->name(s, buf, num, done);                                \
        call.zero_ok = num == 0;                                                \
        int ret = API->name(s, buf, num, done);                                 \
        call_end(&call, ret, ret > 0 && done ? *done : 0, dir, buf);            \
        return ret;                                                             \
    }

/* Under Valgrind, a plaintext buffer with undefined bytes is the classic
 * cause of a peer that cannot decrypt: say so before it is encrypted. */
#define CHECK_DEFINED(fn, buf, len)                                             \
    do {                                                                        \
        if (__builtin_expect(valgrind_memcheck, 0) && API->on &&                \
            thread_call.depth == 0) {                                           \
            WITH_API(undefined_check_write(conn_of(s), fn, buf, len));           \
        }                                                                       \
    } while (0)

/* Each family's wrappers have exactly OpenSSL's prototypes. */
#define X(name, v11) EXPORT __typeof__(name) hook3_##name, hook11_##name;
#include "interposed.def"
#undef X

#define FAMILY OSSL_FAMILY_3
#define HOOK(name) hook3_##name
#include "hooks_family.h"
#undef HOOK
#undef FAMILY

#define FAMILY OSSL_FAMILY_1_1
#define HOOK(name) hook11_##name
#include "hooks_family.h"
#undef HOOK
#undef FAMILY

/* The exported names: name@@OPENSSL_3.0.0 (default) and name@OPENSSL_1_1_x. */
#define X(name, v11)                                                            \
    __asm__(".symver hook3_" #name "," #name "@@OPENSSL_3.0.0");                \
    __asm__(".symver hook11_" #name "," #name "@" #v11);
#include "interposed.def"
#undef X
