/* dual_main — two OpenSSL versions in one process.
 *
 * Linked to one libssl; dlopen()s (RTLD_NOW | RTLD_LOCAL, as Python does for
 * _ssl) dual_module.so, which is linked to another libssl with a different
 * soname, and makes one connection with each, in the order given.
 *
 * Usage: dual_main --port N --cafile F --module PATH [--module-first]
 * stdout: "MAIN <OpenSSL_version()> | HANDSHAKE_OK <version> <cipher> ECHO_OK"
 *         "MODULE <OpenSSL_version()> | HANDSHAKE_OK …", then "DONE <failures>".
 * Exit status: 0 when both connections succeeded, 1 if not, 2 on bad usage or
 * when the module cannot be loaded. */
#include "dual_conn.h"

#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int run_main(int port, const char *cafile)
{
    char res[512];
    int rc = dual_connect(port, cafile, res, sizeof res);
    printf("MAIN %s\n", res);
    fflush(stdout);
    return rc;
}

static int run_module(dual_connect_fn fn, int port, const char *cafile)
{
    char res[512];
    int rc = fn(port, cafile, res, sizeof res);
    printf("MODULE %s\n", res);
    fflush(stdout);
    return rc;
}

int main(int argc, char **argv)
{
    int port = 0, module_first = 0;
    const char *cafile = NULL, *module = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--cafile") && i + 1 < argc)
            cafile = argv[++i];
        else if (!strcmp(argv[i], "--module") && i + 1 < argc)
            module = argv[++i];
        else if (!strcmp(argv[i], "--module-first"))
            module_first = 1;
        else {
            fprintf(stderr, "usage: dual_main --port N --cafile F --module PATH [--module-first]\n");
            return 2;
        }
    }
    if (!port || !cafile || !module) {
        fprintf(stderr, "usage: dual_main --port N --cafile F --module PATH [--module-first]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    alarm(30);
    void *h = dlopen(module, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "dual_main: %s\n", dlerror());
        return 2;
    }
    dual_connect_fn fn;
    *(void **)&fn = dlsym(h, "dual_module_connect");
    if (!fn) {
        fprintf(stderr, "dual_main: %s\n", dlerror());
        return 2;
    }
    int failures = 0;
    if (module_first) {
        failures += run_module(fn, port, cafile) != 0;
        failures += run_main(port, cafile) != 0;
    } else {
        failures += run_main(port, cafile) != 0;
        failures += run_module(fn, port, cafile) != 0;
    }
    printf("DONE %d\n", failures);
    return failures ? 1 : 0;
}
