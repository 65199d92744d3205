/* late_main — a program with no libssl of its own that dlopen()s, with
 * RTLD_LOCAL, a module linked to libssl (as Python loads _ssl) and makes one
 * connection through it.  dlsym(RTLD_NEXT) cannot see that libssl.
 *
 * Usage: late_main --port N --cafile F --module PATH
 * stdout: "MODULE <OpenSSL_version()> | HANDSHAKE_OK <version> <cipher> ECHO_OK"
 * Exit status: 0 when the connection succeeded, 1 if not, 2 on bad usage or
 * when the module cannot be loaded. */
#include "dual_conn.h"

#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int port = 0;
    const char *cafile = NULL, *module = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port"))
            port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--cafile"))
            cafile = argv[i + 1];
        else if (!strcmp(argv[i], "--module"))
            module = argv[i + 1];
    }
    if (!port || !cafile || !module) {
        fprintf(stderr, "usage: late_main --port N --cafile F --module PATH\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    alarm(30);
    void *h = dlopen(module, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "late_main: %s\n", dlerror());
        return 2;
    }
    dual_connect_fn fn;
    *(void **)&fn = dlsym(h, "dual_module_connect");
    if (!fn) {
        fprintf(stderr, "late_main: %s\n", dlerror());
        return 2;
    }
    char res[512];
    int rc = fn(port, cafile, res, sizeof res);
    printf("MODULE %s\n", res);
    return rc ? 1 : 0;
}
