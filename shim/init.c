/* init.c — start-up, fork and exit.
 *
 * At load the constructor only reads the environment (nginx clears it before
 * starting workers).  Everything else waits for the first interposed call:
 * resolving OpenSSL, the ex_data slots, fork handlers, warnings about bad
 * settings.  A process that never calls OpenSSL does nothing more. */
#include "init.h"

#include "calls.h"
#include "config.h"
#include "conn.h"
#include "keylog.h"
#include "loop.h"
#include "misuse.h"
#include "openssl.h"
#include "process.h"
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

__thread bool shim_ready __attribute__((tls_model("initial-exec")));

static pthread_once_t activate_once = PTHREAD_ONCE_INIT;
static bool libssl_found;

static const char *env(const char *name) { return getenv(name); }

__attribute__((constructor)) static void shim_load(void)
{
    config_load(&config, env, program_invocation_short_name, getauxval(AT_SECURE) != 0);
}

static void say(const char *text)
{
    char line[300];
    int n = snprintf(line, sizeof line, "sslshim: %s\n", text);
    if (n > 0)
        (void)!write(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* Lock order: peers, conns, sink (loop events are written under neither). */
static void atfork_prepare(void)
{
    loop_atfork_prepare();
    conns_atfork_prepare();
    sink_atfork_prepare();
}

static void atfork_parent(void)
{
    sink_atfork_parent();
    conns_atfork_parent();
    loop_atfork_parent();
}

static void atfork_child(void)
{
    shim_pid = getpid();
    sink_atfork_child();
    conns_atfork_child();
    loop_atfork_child();
    stack_atfork_child();
}

static void activate(void)
{
    int saved_errno = errno;
    bool found = ossl_resolve();
    if (!found) {
        say("cannot find the program's libssl; passing calls through unrecorded");
    } else if (!config.disabled) {
        for (unsigned i = 0; i < config.n_warnings; i++)
            say(config.warnings[i]);
        process_gather();
        valgrind_init();
        shim_pid = getpid();
        if (conn_init() && keylog_init()) {
            pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
            shim_on = true;
        } else {
            say("OpenSSL refused an ex_data index; passing calls through unrecorded");
        }
    }
    libssl_found = found;
    valgrind_publish(&activate_once);
    errno = saved_errno;
}

bool shim_activate(void)
{
    pthread_once(&activate_once, activate);
    valgrind_acquire(&activate_once);
    shim_ready = libssl_found;
    return shim_ready;
}

__attribute__((destructor)) static void shim_unload(void)
{
    int saved_errno = errno;
    if (shim_on)
        conns_end_all();
    errno = saved_errno;
}
