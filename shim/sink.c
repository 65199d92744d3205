/* sink.c — opening the log lazily and writing lines to it.
 *
 * Nothing is created until the first event: a process that never calls
 * OpenSSL never reaches this file.  The lock is held only to number the line
 * and write it; lines are built by their threads beforehand. */
#include "sink.h"

#include "config.h"
#include "process.h"
#include "sslshim.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static struct {
    pthread_mutex_t lock;
    int fd;                     /* -1: not open (yet) */
    pid_t pid;                  /* the process the fd and seq belong to */
    bool given_up;              /* the log cannot be opened: stay quiet */
    bool warned_write;
    uint64_t seq;
    uint64_t dropped;
    const char *drop_reason;
    char path[PATH_MAX];
} sink = { .lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1 };

static __thread pid_t cached_tid;

pid_t shim_tid(void)
{
    if (cached_tid == 0)
        cached_tid = (pid_t)syscall(SYS_gettid);
    return cached_tid;
}

const char *sink_path(void) { return sink.path; }

bool sink_expand_path(char *out, size_t size, const char *tmpl, pid_t pid,
                      const char *host, const char *exe, const char *start, uid_t uid)
{
    size_t o = 0;
    for (const char *p = tmpl; *p; p++) {
        char num[24];
        const char *add = NULL;
        if (*p == '%' && p[1]) {
            switch (*++p) {
            case 'p': snprintf(num, sizeof num, "%d", (int)pid); add = num; break;
            case 'u': snprintf(num, sizeof num, "%u", (unsigned)uid); add = num; break;
            case 'h': add = host; break;
            case 'e': add = exe; break;
            case 't': add = start; break;
            case '%': add = "%"; break;
            default: p--; break;        /* unknown: keep the '%' literally */
            }
        }
        if (!add) {
            if (o + 1 >= size)
                return false;
            out[o++] = *p;
            continue;
        }
        size_t n = strlen(add);
        if (o + n >= size)
            return false;
        memcpy(out + o, add, n);
        o += n;
    }
    out[o] = '\0';
    return true;
}

static void warn_once(bool *flag, const char *what, const char *path, int err)
{
    if (*flag)
        return;
    *flag = true;
    char msg[PATH_MAX + 160];
    int n = snprintf(msg, sizeof msg, "sslshim: %s %s: %s\n", what, path, strerror(err));
    if (n > 0)
        (void)!write(STDERR_FILENO, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
}

/* mkdir -p for the directory part of `path`, each new level 0700. */
static int make_parents(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(dir, 0700) != 0 && errno != EEXIST)
                return -1;
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    return 0;
}

/* The default directory lives in /tmp, where others can create things first:
 * accept it only if it is a real directory of ours. */
static bool default_dir_is_safe(const char *path)
{
    char dir[PATH_MAX];
    struct stat st;
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        return true;
    *slash = '\0';
    if (lstat(dir, &st) != 0)
        return false;
    return S_ISDIR(st.st_mode) && st.st_uid == geteuid() && (st.st_mode & 022) == 0;
}

static void format_start_time(char *out, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, size, "%Y%m%dT%H%M%SZ", &tm);
}

static int open_log_file(void)
{
    char start[32];
    bool has_pid = strstr(config.log_template, "%p") != NULL;
    format_start_time(start, sizeof start);
    if (!sink_expand_path(sink.path, sizeof sink.path, config.log_template, getpid(),
                          process_host(), process_exe_name(), start, geteuid())) {
        errno = ENAMETOOLONG;
        return -1;
    }
    /* A fork child whose template has no %p still gets a file of its own. */
    if (!has_pid && getpid() != process_first_pid()) {
        size_t len = strlen(sink.path);
        snprintf(sink.path + len, sizeof sink.path - len, ".%d", (int)getpid());
    }
    if (make_parents(sink.path) != 0)
        return -1;
    if (strcmp(config.log_template, SSLSHIM_DEFAULT_LOG) == 0 && !default_dir_is_safe(sink.path)) {
        errno = EPERM;
        return -1;
    }
    return open(sink.path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
}

static int open_syslog(void)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    snprintf(addr.sun_path, sizeof addr.sun_path, "/dev/log");
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    snprintf(sink.path, sizeof sink.path, "syslog");
    return fd;
}

static void format_ts(char *out, size_t size, const struct timespec *t)
{
    struct tm tm;
    time_t secs = t->tv_sec;
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, size - n, ".%06ldZ", t->tv_nsec / 1000);
}

static size_t format_header(char *h, size_t size, const struct ev *e, const char *ts)
{
    int n;
    if (e->text) {
        char conn[32] = "";
        if (e->conn)
            snprintf(conn, sizeof conn, " conn %llu", (unsigned long long)e->conn);
        n = snprintf(h, size, "sslshim[%d]%s %s%s%s", (int)getpid(), conn, e->name,
                     e->summary[0] ? ": " : "", e->summary);
    } else {
        n = snprintf(h, size, "{\"ts\":\"%s\",\"ev\":\"%s\",\"host\":\"%s\",\"pid\":%d,"
                     "\"tid\":%d,\"seq\":%llu", ts, e->name, process_host(), (int)getpid(),
                     (int)shim_tid(), (unsigned long long)sink.seq);
    }
    return n < 0 ? 0 : (size_t)n >= size ? size - 1 : (size_t)n;
}

/* syslog wants its own RFC 5424 header in front of the JSON object. */
static ssize_t send_syslog(const char *line, size_t len, const char *ts)
{
    char msg[65536];
    int n = snprintf(msg, sizeof msg, "<14>1 %s %s sslshim %d - - ", ts, process_host(),
                     (int)getpid());
    if (n < 0 || (size_t)n + len > sizeof msg)
        return -1;
    memcpy(msg + n, line, len - 1);       /* without the newline */
    return send(sink.fd, msg, (size_t)n + len - 1, MSG_NOSIGNAL);
}

/* Number, date and write one event; sink.lock held. */
static void write_locked(struct ev *e)
{
    struct timespec now;
    char ts[40], header[EV_HEADROOM];
    clock_gettime(CLOCK_REALTIME, &now);
    format_ts(ts, sizeof ts, &now);
    sink.seq++;
    size_t hlen = format_header(header, sizeof header, e, ts);
    size_t len;
    const char *line = ev_finish(e, header, hlen, &len);
    if (!line) {
        sink.dropped++;
        sink.drop_reason = "memory";
        return;
    }
    ssize_t w = config.sink == SINK_SYSLOG ? send_syslog(line, len, ts)
                                           : write(sink.fd, line, len);
    if (w != (ssize_t)len) {
        int err = w < 0 ? errno : ENOSPC;
        sink.dropped++;
        sink.drop_reason = err == ENOSPC ? "disk full" : "write failed";
        warn_once(&sink.warned_write, "cannot write to", sink.path, err);
    }
}

static void write_dropped_locked(void)
{
    struct ev d;
    uint64_t n = sink.dropped;
    const char *reason = sink.drop_reason;
    sink.dropped = 0;
    ev_begin(&d, SSLSHIM_EV_DROPPED, 0, config.format == FORMAT_TEXT);
    ev_uint(&d, "n", n);
    ev_str(&d, "reason", reason);
    write_locked(&d);
    ev_free(&d);
    if (sink.dropped)          /* still failing: keep the count, not the gap */
        sink.dropped += n;
}

/* Make sure this process has an open log that starts with its process line. */
static bool ensure_open_locked(void)
{
    static bool warned_open;
    if (sink.fd >= 0 && sink.pid == getpid())
        return true;
    if (sink.given_up)
        return false;
    int fd;
    switch (config.sink) {
    case SINK_STDERR: fd = STDERR_FILENO; snprintf(sink.path, sizeof sink.path, "stderr"); break;
    case SINK_SYSLOG: fd = open_syslog(); break;
    default:          fd = open_log_file(); break;
    }
    if (fd < 0) {
        warn_once(&warned_open, "cannot open log", config.sink == SINK_SYSLOG ? "/dev/log" : sink.path, errno);
        sink.given_up = true;
        return false;
    }
    sink.fd = fd;
    sink.pid = getpid();
    sink.seq = 0;
    struct ev p;
    process_event(&p);
    write_locked(&p);
    ev_free(&p);
    return true;
}

void sink_emit(struct ev *e)
{
    pthread_mutex_lock(&sink.lock);
    if (ensure_open_locked()) {
        if (sink.dropped)
            write_dropped_locked();
        write_locked(e);
    }
    pthread_mutex_unlock(&sink.lock);
}

void sink_atfork_prepare(void) { pthread_mutex_lock(&sink.lock); }
void sink_atfork_parent(void) { pthread_mutex_unlock(&sink.lock); }

void sink_atfork_child(void)
{
    /* The child owns a copy of the parent's descriptor; a file sink opens the
     * child's own file on its first line instead, and every sink starts the
     * child's lines with its own process line (ensure_open_locked sees the
     * pid change). */
    if (sink.fd >= 0 && config.sink != SINK_STDERR)
        close(sink.fd);
    sink.fd = -1;
    sink.dropped = 0;
    sink.given_up = false;
    cached_tid = 0;
    pthread_mutex_init(&sink.lock, NULL);
}
