/* symbolizer.c — the llvm-symbolizer that ThreadSanitizer starts, run
 * without LD_PRELOAD (test only; make check-tsan).
 *
 * TSan symbolizes its reports by starting llvm-symbolizer with the
 * program's environment, LD_PRELOAD included; the TSan-built shim cannot
 * load into that uninstrumented process (its __tsan_* references come from
 * the program's runtime) and the symbolizer dies.  This wrapper is linked
 * statically, so the dynamic loader (and LD_PRELOAD) never runs for it; it
 * drops LD_PRELOAD and runs the real symbolizer.  TSan recognises the
 * protocol by the name, so it is installed as build/tsan/bin/llvm-symbolizer
 * and named in TSAN_OPTIONS=external_symbolizer_path. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *const candidates[] = {
    "/usr/bin/llvm-symbolizer",                   /* Debian's llvm package */
    "/usr/bin/llvm-symbolizer-14",                /* llvm-14 alone */
    "/usr/lib/llvm-14/bin/llvm-symbolizer",
};

int main(int argc, char **argv)
{
    (void)argc;
    unsetenv("LD_PRELOAD");
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        argv[0] = (char *)candidates[i];
        execv(candidates[i], argv);
    }
    perror("sslshim tsan symbolizer: no llvm-symbolizer (apt-get install llvm)");
    return 127;
}
