/* init.c — start-up, fork and exit.
 *
 * At load the constructor only reads the environment (nginx clears it before
 * starting workers).  Everything else waits for the first interposed call:
 * resolving OpenSSL, the ex_data slots, fork handlers, warnings about bad
 * settings.  A process that never calls OpenSSL does nothing more. */
#include "init.h"

#include "burst.h"
#include "calls.h"
#include "config.h"
#include "conn.h"
#include "flight.h"
#include "cert.h"
#include "keylog.h"
#include "lifecycle.h"
#include "loop.h"
#include "misuse.h"
#include "openssl.h"
#include "ownfd.h"
#include "process.h"
#include "settings.h"
#include "sink.h"
#include "stack.h"
#include "valgrind.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

__thread bool shim_ready[2] __attribute__((tls_model("initial-exec")));

static pthread_once_t process_once = PTHREAD_ONCE_INIT;
static pthread_once_t family_once[OSSL_FAMILIES] = { PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT };
static bool family_found[OSSL_FAMILIES];

static const char *env(const char *name) { return getenv(name); }

__attribute__((constructor)) static void shim_load(void)
{
    config_load(&config, env, program_invocation_short_name, getauxval(AT_SECURE) != 0);
}

/* A bad setting gets a line of its own; trouble at run time gets the
 * process's one warning (ownfd_say_once). */
static void say(const char *text, bool trouble)
{
    char line[300];
    int n = snprintf(line, sizeof line, "sslshim: %s\n", text);
    size_t len = n <= 0 ? 0 : (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    if (trouble)
        ownfd_say_once(line, len);
    else if (len)
        ownfd_say(line, len);
}

/* Every lock is taken before fork, in the lock order (peers, conns, stack
 * modules, flight rings, sink; loop events are written under none of the
 * first two), so no other thread holds one while the process is copied.
 * The key log's and the certificate memo's locks are leaves, taken last.
 * Parent and child both release them: the forking thread owns them in
 * both, so the child unlocks rather than re-initialises a locked mutex. */
static void atfork_prepare(void)
{
    burst_flush();                /* the child must not write the parent's lines */
    loop_atfork_prepare();
    conns_atfork_prepare();
    stack_atfork_prepare();
    flight_atfork_prepare();
    sink_atfork_prepare();
    keylog_atfork_prepare();
    cert_atfork_prepare();
}

static void atfork_parent(void)
{
    cert_atfork_parent();
    keylog_atfork_parent();
    sink_atfork_parent();
    flight_atfork_parent();
    stack_atfork_parent();
    conns_atfork_parent();
    loop_atfork_parent();
}

static void atfork_child(void)
{
    process_atfork_child();
    thread_call.tid = 0;              /* the child's thread has an id of its own */
    /* Cached conns are the parent's: the child's first call on each must be
     * checked (misuse after fork), so no cache entry stays valid. */
    __atomic_fetch_add(&conn_generation, 1, __ATOMIC_RELEASE);
    sink_atfork_child();
    conns_atfork_child();
    flight_atfork_child();
    loop_atfork_child();
    stack_atfork_child();
    keylog_atfork_child();
    cert_atfork_child();
}

/* Once per process: settings, facts, fork handlers. */
static void activate_process(void)
{
    int saved_errno = errno;
    if (!config.disabled) {
        for (unsigned i = 0; i < config.n_warnings; i++)
            say(config.warnings[i], false);
        process_gather();
        valgrind_init();
        burst_init();
        shim_pid = getpid();
        pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    }
    valgrind_publish(&process_once);
    errno = saved_errno;
}

/* Once per OpenSSL family: its functions and ex_data slots. */
static void activate_family(int family)
{
    int saved_errno = errno;
    struct ossl_api *saved = ossl_current;
    bool found = ossl_resolve(family);
    ossl_current = &ossl_libs[family];
    if (!found) {
        say("cannot find the program's libssl; passing calls through unrecorded", true);
    } else if (!config.disabled) {
        if (lifecycle_init() && keylog_init() && settings_init()) {
            ossl.on = true;
            ossl.fast_io = config.level < LEVEL_IO && !valgrind_active;
        }
        else
            say("OpenSSL refused an ex_data index; passing calls through unrecorded", true);
    }
    family_found[family] = found;
    ossl_current = saved;
    valgrind_publish(&family_once[family]);
    errno = saved_errno;
}

static void activate_3(void) { activate_family(OSSL_FAMILY_3); }
static void activate_1_1(void) { activate_family(OSSL_FAMILY_1_1); }

bool shim_activate(int family)
{
    pthread_once(&process_once, activate_process);
    /* The thread that runs a family's activation may not be the one that
     * ran the process's: it reads what that one wrote. */
    valgrind_acquire(&process_once);
    pthread_once(&family_once[family], family == OSSL_FAMILY_3 ? activate_3 : activate_1_1);
    valgrind_acquire(&family_once[family]);
    shim_ready[family] = family_found[family];
    thread_call.fast_io[family] = family_found[family] && ossl_libs[family].fast_io;
    return shim_ready[family];
}

static void end_family(struct ossl_api *api)
{
    ossl_current = api;
    if (ossl.on)
        conns_end_all();
}

__attribute__((destructor)) static void shim_unload(void)
{
    int saved_errno = errno;
    /* exit() from a signal handler that interrupted this thread inside the
     * sink: writing would wait for a lock this thread holds. */
    if (sink_busy_here())
        return;
    /* exit() from inside a call (a callback): its lines, and the conn_end
     * lines below, are written now. */
    burst_holding = false;
    burst_flush();
    for (int f = 0; f < OSSL_FAMILIES; f++)
        end_family(&ossl_libs[f]);
    if (ossl_libs[OSSL_FAMILY_3].on || ossl_libs[OSSL_FAMILY_1_1].on) {
        sink_finish();            /* a line cut short: completed, or taken back */
        keylog_finish();
    }
    errno = saved_errno;
}
