/* process.c — the `process` line: who we are, which OpenSSL, which settings. */
#include "process.h"

#include "config.h"
#include "openssl.h"
#include "redact.h"
#include "sslshim.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <valgrind/valgrind.h>

static char host[65] = "unknown";
static char exe_path[PATH_MAX] = "";
static char exe_name[256] = "unknown";
static pid_t first_pid;
pid_t shim_pid;

void process_gather(void)
{
    if (gethostname(host, sizeof host - 1) != 0)
        snprintf(host, sizeof host, "unknown");
    ssize_t n = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);
    exe_path[n > 0 ? n : 0] = '\0';
    const char *base = strrchr(exe_path, '/');
    snprintf(exe_name, sizeof exe_name, "%s", base ? base + 1 : program_invocation_short_name);
    if (!first_pid)
        first_pid = getpid();
}

static __thread pid_t cached_tid __attribute__((tls_model("initial-exec")));

pid_t shim_tid(void)
{
    if (cached_tid == 0)
        cached_tid = (pid_t)syscall(SYS_gettid);
    return cached_tid;
}

void process_atfork_child(void)
{
    shim_pid = getpid();
    cached_tid = 0;
}

const char *process_host(void) { return host; }
const char *process_exe_name(void) { return exe_name; }
const char *process_exe_path(void) { return exe_path; }
pid_t process_first_pid(void) { return first_pid; }

bool process_under_valgrind(void) { return RUNNING_ON_VALGRIND != 0; }

/* argv from /proc/self/cmdline: NUL-separated, read with plain syscalls. */
static void argv_field(struct ev *e)
{
    char buf[8192];
    ssize_t n = 0;
    int saved_errno = errno;
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, buf, sizeof buf);
        close(fd);
    }
    errno = saved_errno;
    /* secrets given on the command line stay out of the log (redact.h);
     * without memory to redact, no argument is shown at all */
    size_t room = sizeof buf + 64;
    char *shown = malloc(room);
    const char *prev = NULL;
    ev_arr_begin(e, "argv");
    for (ssize_t i = 0; i < n;) {
        size_t len = strnlen(buf + i, (size_t)(n - i));
        ev_str(e, NULL, shown ? redact_arg(buf + i, len, prev, shown, room) : REDACTED);
        prev = buf + i;
        i += (ssize_t)len + 1;
    }
    ev_arr_end(e);
    free(shown);
}

static void config_field(struct ev *e)
{
    char loop[32], size[32];
    ev_obj_begin(e, "config");
    ev_str(e, "log", config.sink == SINK_STDERR ? "stderr" :
                     config.sink == SINK_SYSLOG ? config.syslog_socket : config.log_template);
    ev_str(e, "format", config.format == FORMAT_TEXT ? "text" : "json");
    ev_str(e, "level", config_level_name(config.level));
    ev_str(e, "stacks", config_stacks_name(config.stacks));
    ev_uint(e, "stack_depth", config.stack_depth);
    snprintf(loop, sizeof loop, "%u/%u", config.loop_count, config.loop_window_s);
    ev_str(e, "loop", loop);
    ev_str(e, "mode", config.mode == MODE_FLIGHT ? "flight" : "stream");
    ev_uint(e, "flight_events", config.flight_events);
    snprintf(size, sizeof size, "%llu", (unsigned long long)config.max_size);
    ev_str(e, "max_size", size);
    ev_uint(e, "max_files", config.max_files);
    ev_uint(e, "data_bytes", config.data_bytes);
    ev_str(e, "exe", config.exe_list[0] ? config.exe_list : NULL);
    ev_str(e, "valgrind", config.valgrind_auto ? "auto" : "off");
    /* where the key log goes (the secrets are in the file, not its name):
     * `collect --include-keylog` finds it there */
    if (config.keylog[0])
        ev_str(e, "keylog", config.keylog);
    else
        ev_bool(e, "keylog", false);
    ev_obj_end(e);
}

void process_event(struct ev *e)
{
    ev_begin(e, SSLSHIM_EV_PROCESS, 0, config.format == FORMAT_TEXT);
    snprintf(e->summary, sizeof e->summary, "%s, %s, sslshim %s", exe_name,
             ossl_version() ? ossl_version() : "OpenSSL not found", SSLSHIM_VERSION);
    ev_int(e, "v", SSLSHIM_SCHEMA_VERSION);
    ev_str(e, "exe", exe_path);
    argv_field(e);
    ev_int(e, "ppid", getppid());
    ev_uint(e, "uid", getuid());
    ev_str(e, "openssl", ossl_version());
    ev_str(e, "libssl", ossl.libssl_path[0] ? ossl.libssl_path : NULL);
    ev_str(e, "shim", SSLSHIM_VERSION);
    config_field(e);
    ev_bool(e, "valgrind", process_under_valgrind());
}
