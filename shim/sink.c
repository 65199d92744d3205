/* sink.c — opening the log lazily, writing lines, rotating, surviving faults.
 *
 * Nothing is created until the first event: a process that never calls
 * OpenSSL never reaches this file.  The lock is held only to number, date and
 * write a line; lines are built by their threads beforehand.  When writing
 * fails (disk full, read-only file system, the directory removed) the program
 * is never disturbed: lines are counted, one warning per cause goes to
 * stderr, the file is reopened (and its directory made again) when it
 * vanished, and the count is written as a `dropped` event once writing works
 * again. */
#include "sink.h"

#include "clock.h"
#include "config.h"
#include "dgramq.h"
#include "ownfd.h"
#include "process.h"
#include "rotate.h"
#include "sslshim.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static struct {
    pthread_mutex_t lock;
    struct owned_fd out;        /* fd -1: not open */
    pid_t pid;                  /* the process the fd and seq belong to */
    bool need_process;          /* the current file has no process line yet */
    uint64_t seq;
    uint64_t size;              /* bytes in the current file, all writers' */
    uint64_t checked_epoch;     /* the descriptor was checked in this call... */
    pid_t checked_tid;          /* ...of this thread (log_usable_locked) */
    uint64_t dropped;
    const char *drop_reason;
    time_t retry_open_at;       /* after a failed open, try again from then */
    bool warned;                /* the process's one warning is spent */
    bool closed;                /* exit: no line is started any more */
    char path[PATH_MAX];
} sink = { .lock = PTHREAD_MUTEX_INITIALIZER, .out = OWNFD_NONE };

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

/* One line on stderr, for the first cause, for the life of the process
 * (ownfd_say_once); every cause is still counted in `dropped`. */
__attribute__((cold)) static void warn_once(const char *what, int err)
{
    if (sink.warned)
        return;
    sink.warned = true;
    char msg[PATH_MAX + 160];
    int n = snprintf(msg, sizeof msg, "sslshim: %s %s: %s (the program is not affected; "
                     "lost lines are counted)\n", what, sink.path, strerror(err));
    if (n > 0)
        ownfd_say_once(msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
}

/* ---- opening ------------------------------------------------------------- */

/* mkdir -p for the directory part of `path`, each new level 0700. */
static int make_parents(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1;; p++) {
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

static bool expand_log_path(void)
{
    char start[32];
    struct tm tm;
    clock_utc(time(NULL), &tm);
    strftime(start, sizeof start, "%Y%m%dT%H%M%SZ", &tm);
    if (!sink_expand_path(sink.path, sizeof sink.path, config.log_template, process_pid(),
                          process_host(), process_exe_name(), start, geteuid()))
        return false;
    /* A fork child whose template has no %p still gets a file of its own. */
    if (!strstr(config.log_template, "%p") && process_pid() != process_first_pid()) {
        size_t len = strlen(sink.path);
        snprintf(sink.path + len, sizeof sink.path - len, ".%d", (int)process_pid());
    }
    return true;
}

static int open_log_file(void)
{
    if (!sink.path[0]) {
        if (!expand_log_path()) {
            errno = ENAMETOOLONG;
            return -1;
        }
    }
    if (make_parents(sink.path) != 0)
        return -1;
    if (strcmp(config.log_template, SSLSHIM_DEFAULT_LOG) == 0 && !default_dir_is_safe(sink.path)) {
        errno = EPERM;
        return -1;
    }
    return ownfd_open_append(sink.path);
}

static int open_syslog(void)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", config.syslog_socket);
    snprintf(sink.path, sizeof sink.path, "%s", config.syslog_socket);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

__thread uint64_t sink_call_epoch __attribute__((tls_model("initial-exec")));

/* Whether the open log can take a line: still the object we opened (the
 * program may have closed our descriptor and got its number for one of its
 * own files or sockets) and, for a file, not removed meanwhile (a removed
 * file, or its directory, would swallow every later line).  The fstat that
 * tells (and gives the file's true size with other writers) is made before
 * every write: lines go out in bursts (burst.h), a few per OpenSSL call.
 * Syslog takes one datagram per line: there it is made once per OpenSSL
 * call of a thread, at its first line, and before every line written
 * outside a call (the program's code, which is what closes and reuses
 * descriptors, does not run on that thread in between; a system call per
 * line cost a tenth of a handshake's time). */
static bool log_usable_locked(void)
{
    struct stat st;
    if (sink.out.fd < 0 || sink.pid != process_pid())
        return false;
    if (config.sink == SINK_SYSLOG && sink_call_epoch && sink_call_epoch == sink.checked_epoch &&
        shim_tid() == sink.checked_tid)
        return true;
    sink.checked_epoch = 0;
    switch (ownfd_state(&sink.out, &st)) {
    case OWNFD_GONE:
        ownfd_forget(&sink.out);      /* the program's now: never touched again */
        return false;
    case OWNFD_UNSURE:
        return true;                  /* size as we counted it */
    case OWNFD_OURS:
        break;
    }
    if (config.sink == SINK_FILE) {
        sink.size = (uint64_t)st.st_size;
        if (st.st_nlink == 0)
            return false;
    }
    sink.checked_epoch = sink_call_epoch;
    sink.checked_tid = shim_tid();
    return true;
}

static void close_log(void)
{
    ownfd_finish(&sink.out);
    ownfd_release(&sink.out);
}

static bool open_log_locked(void)
{
    if (config.sink == SINK_STDERR) {
        snprintf(sink.path, sizeof sink.path, "stderr");
        return ownfd_open_stderr(&sink.out);
    }
    int fd = config.sink == SINK_SYSLOG ? open_syslog() : open_log_file();
    return fd >= 0 && ownfd_adopt(&sink.out, fd);
}

static bool ensure_open_locked(void)
{
    if (log_usable_locked())
        return true;
    dev_t dev = sink.out.dev;
    ino_t ino = sink.out.ino;
    close_log();
    time_t now = time(NULL);
    if (now < sink.retry_open_at)
        return false;
    if (sink.pid != process_pid()) {
        sink.seq = 0;             /* a new process numbers its own lines */
        sink.path[0] = '\0';       /* ...in a file of its own (open_log_file) */
        dev = 0;
        ino = 0;
    }
    sink.pid = process_pid();
    if (!open_log_locked()) {
        warn_once("cannot open log", errno);
        sink.retry_open_at = now + 1;
        return false;
    }
    struct stat st;
    sink.size = config.sink == SINK_FILE && fstat(sink.out.fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    /* A new file starts with a process line; the same file opened again
     * (our descriptor was taken from us) goes on where it was.  Syslog is
     * one stream however often its socket is opened again (the daemon
     * restarted): one process line per process, as it begins. */
    if (config.sink == SINK_SYSLOG)
        sink.need_process = sink.need_process || sink.seq == 0;
    else
        sink.need_process = sink.out.dev != dev || sink.out.ino != ino || sink.size == 0;
    return true;
}

/* ---- stamping and writing ------------------------------------------------ */

/* RFC 3339 with microseconds.  The date and time of day change once a
 * second: format them then, and only the microseconds for each line. */
static void format_ts(char *out, size_t size, const struct timespec *t)
{
    static time_t cached_sec = -1;
    static char cached[32];
    static size_t cached_len;
    if (t->tv_sec != cached_sec) {
        struct tm tm;
        clock_utc(t->tv_sec, &tm);
        cached_len = strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
        cached_sec = t->tv_sec;
    }
    unsigned us = (unsigned)(t->tv_nsec / 1000);
    if (size < cached_len + 9)
        return;
    memcpy(out, cached, cached_len);
    char *p = out + cached_len;
    p[0] = '.';
    for (int i = 6; i >= 1; i--, us /= 10)
        p[i] = (char)('0' + us % 10);
    p[7] = 'Z';
    p[8] = '\0';
}

/* syslog gets the header syslog(3) writes to the local socket,
 * "<PRI>Mmm dd hh:mm:ss TAG[PID]: " (RFC 3164 without a host name, which
 * the daemon adds): the one form every local syslog daemon parses as it
 * comes, rsyslog's imuxsock with its default parser and journald alike,
 * so a filter on the program name matches on a stock configuration.  The
 * time is the event's, in UTC (the JSON's ts is the exact one; daemons
 * stamp local messages with their own clock by default).  Failures at
 * severity warning, everything else at info. */
static size_t syslog_prefix(char *h, size_t size, const struct ev *e, const struct timespec *t)
{
    static const char month[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    struct tm tm;
    clock_utc(t->tv_sec, &tm);
    int pri = config.syslog_facility * 8 + (e->failure ? 4 : 6);
    int n = snprintf(h, size, "<%d>%s %2d %02d:%02d:%02d %s[%d]: ", pri,
                     month[(unsigned)tm.tm_mon % 12], tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, config.syslog_tag, (int)process_pid());
    return n < 0 ? 0 : (size_t)n >= size ? size - 1 : (size_t)n;
}

/* A bounded appender for the JSON header, written on every line: plain
 * copies of parts made in advance instead of snprintf, which cost more than
 * the rest of the line. */
struct appender {
    char *p, *end;
};

static void append_n(struct appender *a, const char *s, size_t n)
{
    if (n > (size_t)(a->end - a->p))
        n = (size_t)(a->end - a->p);
    memcpy(a->p, s, n);
    a->p += n;
}

#define APPEND_LITERAL(a, lit) append_n((a), (lit), sizeof(lit) - 1)

static void append_dec(struct appender *a, unsigned long long v)
{
    char tmp[24], *q = tmp + sizeof tmp;
    do {
        *--q = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    append_n(a, q, (size_t)(tmp + sizeof tmp - q));
}

/* `","host":"…","pid":N,"tid":` is the same on every line of a process:
 * made once, and again in a fork child (ensure_open_locked sees the pid). */
static struct {
    pid_t pid;
    size_t len;
    char text[EV_HEADROOM / 2];
} fixed_part;

#define HOST_TEXT_MAX 192           /* escaped; the whole header fits EV_HEADROOM */

/* The host name as a JSON string body: escaped like any string, or, in the
 * pathological case of a name whose escaped form is too long for the
 * header, its printable ASCII characters only. */
static size_t host_text(char *out, size_t size)
{
    const char *host = process_host();
    struct ev *e = malloc(sizeof *e);
    size_t n = 0;
    if (e) {
        ev_begin(e, "", 0, false);
        ev_escape(e, host, strlen(host));
        n = e->len - EV_HEADROOM;
        if (n <= size && !e->failed)
            memcpy(out, e->buf + EV_HEADROOM, n);
        else
            n = 0;
        ev_free(e);
        free(e);
    }
    if (n == 0) {
        for (const char *p = host; *p && n < size; p++)
            if (*p > 0x20 && *p < 0x7f && *p != '"' && *p != '\\')
                out[n++] = *p;
    }
    return n;
}

static void make_fixed_part(void)
{
    char host[HOST_TEXT_MAX];
    size_t host_len = host_text(host, sizeof host);
    struct appender a = { fixed_part.text, fixed_part.text + sizeof fixed_part.text };
    APPEND_LITERAL(&a, "\",\"host\":\"");
    append_n(&a, host, host_len);
    APPEND_LITERAL(&a, "\",\"pid\":");
    append_dec(&a, (unsigned long long)process_pid());
    APPEND_LITERAL(&a, ",\"tid\":");
    fixed_part.len = (size_t)(a.p - fixed_part.text);
    fixed_part.pid = process_pid();
}

/* The thread id as digits, made on the thread's first line. */
static __thread struct {
    unsigned char len;
    char text[15];
} tid_digits __attribute__((tls_model("initial-exec")));

static void append_tid(struct appender *a, pid_t tid)
{
    if (tid != shim_tid()) {                 /* a line kept for another thread */
        append_dec(a, (unsigned long long)tid);
        return;
    }
    if (!tid_digits.len) {
        struct appender t = { tid_digits.text, tid_digits.text + sizeof tid_digits.text };
        append_dec(&t, (unsigned long long)shim_tid());
        tid_digits.len = (unsigned char)(t.p - tid_digits.text);
    }
    append_n(a, tid_digits.text, tid_digits.len);
}

static size_t json_header(char *h, size_t size, const char *name, const char *ts,
                          const struct stamp *st)
{
    struct appender a = { h, h + size - 1 };
    if (fixed_part.pid != process_pid())
        make_fixed_part();
    APPEND_LITERAL(&a, "{\"ts\":\"");
    append_n(&a, ts, strlen(ts));
    APPEND_LITERAL(&a, "\",\"ev\":\"");
    append_n(&a, name, strlen(name));
    append_n(&a, fixed_part.text, fixed_part.len);
    append_tid(&a, st->tid);
    APPEND_LITERAL(&a, ",\"seq\":");
    append_dec(&a, st->seq);
    *a.p = '\0';
    return (size_t)(a.p - h);
}

static size_t format_header(char *h, size_t size, const struct ev *e, const char *ts,
                            const struct stamp *st)
{
    size_t o = config.sink == SINK_SYSLOG ? syslog_prefix(h, size, e, &st->ts) : 0;
    int n;
    if (e->text) {
        char conn[32] = "";
        if (e->conn)
            snprintf(conn, sizeof conn, " conn %llu", (unsigned long long)e->conn);
        /* the time of day (UTC, as strace -tt puts it first) from the stamp */
        n = snprintf(h + o, size - o, "%.15s sslshim[%d]%s %s%s%s", strlen(ts) > 11 ? ts + 11 : ts,
                     (int)process_pid(), conn, e->name, e->summary[0] ? ": " : "", e->summary);
    } else {
        return o + json_header(h + o, size - o, e->name, ts, st);
    }
    if (n < 0)
        return o;
    return o + (size_t)n >= size ? size - 1 : o + (size_t)n;
}

static const char *finish_line(struct ev *e, const struct stamp *st, size_t *len)
{
    char ts[40], header[EV_HEADROOM];
    format_ts(ts, sizeof ts, &st->ts);
    return ev_finish(e, header, format_header(header, sizeof header, e, ts, st), len);
}

static void next_stamp_locked(struct stamp *st)
{
    st->seq = ++sink.seq;
    clock_wall(&st->ts);
    st->tid = shim_tid();
}

static const char *stamp_locked(struct ev *e, size_t *len)
{
    struct stamp st;
    next_stamp_locked(&st);
    return finish_line(e, &st, len);
}

static void count_dropped(uint64_t n, const char *reason)
{
    sink.dropped += n;
    sink.drop_reason = reason;
}

static bool within_size_limit_locked(size_t len)
{
    rlim_t limit = ownfd_size_limit();
    return limit == RLIM_INFINITY || sink.size + len <= (uint64_t)limit;
}

/* The reader went away (a FIFO's, the syslog daemon restarted): open
 * again, at most once a second, rather than write into nothing. */
static bool reader_gone(int err)
{
    return err == EPIPE || err == ECONNREFUSED || err == ENOTCONN || err == ENOENT;
}

/* ...so the log is closed and opened again from a second on. */
static void reopen_later_locked(void)
{
    close_log();
    sink.retry_open_at = time(NULL) + 1;
}

__attribute__((cold)) static void count_failed_write(int err, unsigned lines)
{
    if (err == ENOSPC || err == EDQUOT) {
        warn_once("no space left for", err);
        count_dropped(lines, "disk full");
    } else if (err == EFBIG) {
        warn_once("file size limit (RLIMIT_FSIZE) reached for", err);
        count_dropped(lines, "file size limit");
    } else if (err == EAGAIN) {
        warn_once("reader not keeping up with", err);
        count_dropped(lines, "would block");
    } else if (reader_gone(err)) {
        warn_once("no reader on", err);
        count_dropped(lines, "no reader");
    } else if (err == EROFS || err == EACCES || err == EPERM) {
        warn_once("cannot write to", err);
        count_dropped(lines, "read-only");
    } else {
        warn_once("cannot write to", err);
        count_dropped(lines, "write failed");
    }
}

/* ---- syslog: a datagram per line ----------------------------------------- */

/* Set while datagrams wait in dgramq (read without the lock by
 * burst_release: a stale value costs one needless or one late try). */
bool sink_datagrams_waiting;

static void set_waiting(bool waiting)
{
    __atomic_store_n(&sink_datagrams_waiting, waiting, __ATOMIC_RELAXED);
}

static void wake_sender_locked(void);

/* Send what waits, oldest first, until the socket refuses one; true when
 * nothing waits any more, else *err says why. */
static bool send_waiting_locked(int *err)
{
    size_t len;
    const char *d;
    while ((d = dgramq_front(&len))) {
        errno = 0;
        if (ownfd_write_line(&sink.out, d, len) != len) {
            *err = errno ? errno : EAGAIN;
            return false;
        }
        dgramq_pop();
    }
    set_waiting(false);
    return true;
}

/* One line to the syslog socket, behind those that wait: a line the socket
 * cannot take yet (EAGAIN: its reader is behind) waits too, while there is
 * room.  False when the line is lost (*err: why). */
static bool send_datagram_locked(const char *d, size_t len, int *err)
{
    bool in_order = dgramq_empty() || send_waiting_locked(err);
    if (in_order) {
        errno = 0;
        if (ownfd_write_line(&sink.out, d, len) == len)
            return true;
        *err = errno ? errno : EAGAIN;
    }
    if (*err != EAGAIN)
        return false;
    if (!dgramq_push(d, len))
        return false;
    set_waiting(true);
    wake_sender_locked();
    return true;
}

/* Write `lines` whole lines at once: all of them, or none (a cut is taken
 * back or completed later, ownfd_write_line). */
static bool write_lines_locked(const char *text, size_t len, unsigned lines)
{
    int err = 0;
    if (config.sink == SINK_SYSLOG) {
        /* one datagram (one line), without the newline */
        if (send_datagram_locked(text, len - 1, &err))
            return true;
    } else if (config.sink == SINK_FILE && !within_size_limit_locked(len + sink.out.rest_len)) {
        count_failed_write(EFBIG, lines);
        return false;
    } else {
        errno = 0;
        if (ownfd_write_line(&sink.out, text, len) == len) {
            sink.size += len;
            return true;
        }
        err = errno ? errno : ENOSPC;
    }
    count_failed_write(err, lines);
    if (reader_gone(err)) {
        reopen_later_locked();
    }
    return false;
}

static bool write_raw_locked(const char *line, size_t len)
{
    return write_lines_locked(line, len, 1);
}

static bool write_event_locked(struct ev *e, const struct stamp *st)
{
    size_t len;
    const char *line = st ? finish_line(e, st, &len) : stamp_locked(e, &len);
    if (!line) {
        count_dropped(1, "memory");
        return false;
    }
    return write_raw_locked(line, len);
}

/* The process and dropped lines are written from inside the writing of
 * another line: their builders live on the heap, not on the program's stack
 * below that line's (struct ev holds the line). */
__attribute__((cold)) static bool write_process_locked(void)
{
    struct ev *p = malloc(sizeof *p);
    if (!p)
        return false;
    process_event(p);
    bool ok = write_event_locked(p, NULL);
    ev_free(p);
    free(p);
    if (ok)
        sink.need_process = false;
    return ok;
}

__attribute__((cold)) static bool write_dropped_locked(void)
{
    struct ev *d = malloc(sizeof *d);
    if (!d)
        return false;
    uint64_t n = sink.dropped;
    const char *reason = sink.drop_reason;
    sink.dropped = 0;
    ev_begin(d, SSLSHIM_EV_DROPPED, 0, config.format == FORMAT_TEXT);
    snprintf(d->summary, sizeof d->summary, "%llu lines lost (%s)", (unsigned long long)n, reason);
    ev_uint(d, "n", n);
    ev_str(d, "reason", reason);
    bool ok = write_event_locked(d, NULL);
    ev_free(d);
    free(d);
    if (!ok)
        sink.dropped += n;        /* this one is counted already */
    return ok;
}

/* Where a file is rotated: SSLSHIM_MAX_SIZE, or earlier when the file size
 * limit is lower, keeping room for one more ordinary line below it. */
#define LIMIT_ROOM ((uint64_t)8192)
static uint64_t rotate_at_locked(void)
{
    uint64_t at = config.max_size;
    rlim_t limit = ownfd_size_limit();
    if (limit != RLIM_INFINITY) {
        uint64_t room = limit > 2 * LIMIT_ROOM ? LIMIT_ROOM : (uint64_t)limit / 2;
        if ((uint64_t)limit - room < at)
            at = (uint64_t)limit - room;
    }
    return at;
}

/* Past the rotation size: shift the old files and start a new one, which
 * begins with its own process line; seq goes on across files.  With
 * SSLSHIM_MAX_SIZE=0 files are never rotated (lines past the file size
 * limit are then counted as dropped). */
static void rotate_if_full_locked(void)
{
    if (config.sink != SINK_FILE || !config.max_size || sink.size < rotate_at_locked())
        return;
    close_log();
    if (rotate_files(sink.path, config.max_files) != 0)
        warn_once("cannot rotate", errno);
    if (ensure_open_locked() && sink.need_process)
        write_process_locked();
}

/* Open, process line, pending dropped count: true when ready for a line. */
static bool ready_locked(void)
{
    if (sink.closed && sink.pid == process_pid())
        return false;             /* the process is ending (sink_finish) */
    if (!ensure_open_locked())
        return false;
    if (sink.need_process && !write_process_locked())
        return false;
    if (sink.dropped && !write_dropped_locked())
        return false;
    return true;
}

/* Whether this thread holds the sink's lock: exit() called from a signal
 * handler that interrupted the sink must not wait for it (sink_busy_here). */
static __thread bool held_here __attribute__((tls_model("initial-exec")));

static void lock_sink(void)
{
    pthread_mutex_lock(&sink.lock);
    held_here = true;
}

static void unlock_sink(void)
{
    held_here = false;
    pthread_mutex_unlock(&sink.lock);
}

bool sink_busy_here(void) { return held_here; }

/* Before a number is taken for a line written later (flight mode): the
 * file's process line takes the first one.  The descriptor is checked when
 * the line is written, not here. */
static void process_line_first_locked(void)
{
    if (sink.out.fd < 0 || sink.pid != process_pid() || sink.need_process)
        ready_locked();
}

/* Write e, numbered now or (st) earlier. */
static void emit(struct ev *e, const struct stamp *st)
{
    lock_sink();
    if (ready_locked()) {
        if (write_event_locked(e, st))
            rotate_if_full_locked();
    } else {
        if (!st)
            sink.seq++;           /* numbered and lost: the gap is explained by `dropped` */
        count_dropped(1, sink.drop_reason ? sink.drop_reason : "cannot open");
    }
    unlock_sink();
}

void sink_emit(struct ev *e) { emit(e, NULL); }
void sink_emit_stamped(struct ev *e, const struct stamp *st) { emit(e, st); }

const char *sink_stamp(struct ev *e, size_t *len)
{
    lock_sink();
    process_line_first_locked();
    const char *line = stamp_locked(e, len);
    unlock_sink();
    return line;
}

void sink_write_stamped(const char *line, size_t len)
{
    lock_sink();
    if (ready_locked()) {
        if (write_raw_locked(line, len))
            rotate_if_full_locked();
    } else {
        count_dropped(1, sink.drop_reason ? sink.drop_reason : "cannot open");
    }
    unlock_sink();
}

/* The text of a burst, assembled under the lock: headers are numbered in
 * file order, so they are made here.  end[i]: where line i ends. */
static struct {
    char *text;
    size_t cap;
    size_t end[BURST_LINES_MAX];
} burst_out;

/* A pipe or FIFO (or a stream socket on stderr) takes a write of at most
 * PIPE_BUF bytes whole or not at all; a longer one may be cut, and other
 * writers' bytes may come in between.  A burst goes there in writes of
 * whole lines up to PIPE_BUF each (a longer line alone, as ever); the
 * lines a full pipe does not take are counted (`would block`). */
static bool write_burst_in_pieces_locked(unsigned n)
{
    size_t start = 0;
    for (unsigned i = 0; i < n;) {
        unsigned j = i + 1;
        while (j < n && burst_out.end[j] - start <= PIPE_BUF)
            j++;
        if (!write_lines_locked(burst_out.text + start, burst_out.end[j - 1] - start, j - i)) {
            if (j < n)
                count_dropped(n - j, sink.drop_reason);
            return false;
        }
        start = burst_out.end[j - 1];
        i = j;
    }
    return true;
}

static bool burst_room_locked(size_t need)
{
    if (need <= burst_out.cap)
        return true;
    char *p = realloc(burst_out.text, need);
    if (!p)
        return false;
    burst_out.text = p;
    burst_out.cap = need;
    return true;
}

/* The most bytes line l of a burst can take in the file: its body and the
 * longest header it can get (json_header: the literals, a timestamp, its
 * name, the fixed part, a tid and a seq at their longest). */
static size_t line_bound(const struct burst_line *l)
{
    if (fixed_part.pid != process_pid())
        make_fixed_part();
    return l->len + sizeof "{\"ts\":\"" + 32 + sizeof "\",\"ev\":\"" + strlen(l->name) +
           fixed_part.len + 11 + sizeof ",\"seq\":" + 20;
}

/* The lines of a burst that fit below the file size limit, if there is
 * one: rotated first when a file may be, so that the lines are numbered
 * after its process line.  *ready: false when the new file could not take
 * its first lines. */
static unsigned lines_within_limit_locked(const struct burst_line *lines, unsigned n, bool *ready)
{
    if (config.sink != SINK_FILE || ownfd_size_limit() == RLIM_INFINITY)
        return n;
    size_t bytes = 0;
    for (unsigned i = 0; i < n; i++)
        bytes += line_bound(&lines[i]);
    if (within_size_limit_locked(bytes + sink.out.rest_len))
        return n;
    if (config.max_size && sink.size > 0) {
        close_log();
        if (rotate_files(sink.path, config.max_files) != 0)
            warn_once("cannot rotate", errno);
        if (!(*ready = ready_locked()))
            return 0;
    }
    unsigned fit = 0;
    for (bytes = sink.out.rest_len; fit < n; fit++) {
        bytes += line_bound(&lines[fit]);
        if (!within_size_limit_locked(bytes))
            break;
    }
    return fit;
}

void sink_write_burst(const struct burst_line *lines, unsigned n, const char *bodies)
{
    lock_sink();
    bool ready = ready_locked();
    unsigned fit = ready ? lines_within_limit_locked(lines, n, &ready) : 0;
    size_t need = 0;
    for (unsigned i = 0; i < fit; i++)
        need += lines[i].len + EV_HEADROOM;
    if (fit && !burst_room_locked(need)) {
        count_dropped(n, "memory");
        sink.seq += n;            /* numbered and lost: the gap is explained */
        unlock_sink();
        return;
    }
    size_t len = 0;
    unsigned lines_out = 0;
    for (unsigned i = 0; i < fit; i++) {
        char ts[40];
        if (!lines[i].len) {      /* a line burst.c could not format */
            sink.seq++;
            count_dropped(1, "memory");
            continue;
        }
        struct stamp st = { .seq = ++sink.seq, .ts = lines[i].ts, .tid = lines[i].tid };
        format_ts(ts, sizeof ts, &st.ts);
        len += json_header(burst_out.text + len, EV_HEADROOM, lines[i].name, ts, &st);
        memcpy(burst_out.text + len, bodies + lines[i].off, lines[i].len);
        len += lines[i].len;
        burst_out.end[lines_out++] = len;
    }
    bool written = sink.out.kind == OWNFD_FILE
                       ? lines_out && write_lines_locked(burst_out.text, len, lines_out)
                       : lines_out && write_burst_in_pieces_locked(lines_out);
    if (written)
        rotate_if_full_locked();
    if (fit < n) {                /* numbered and lost: the gap is explained */
        sink.seq += n - fit;
        if (ready)
            count_failed_write(EFBIG, n - fit);
        else
            count_dropped(n - fit, sink.drop_reason ? sink.drop_reason : "cannot open");
    }
    unlock_sink();
}

void sink_take_stamp(struct stamp *st)
{
    lock_sink();
    process_line_first_locked();
    next_stamp_locked(st);
    unlock_sink();
}

void sink_lost(const char *reason)
{
    lock_sink();
    count_dropped(1, reason);
    unlock_sink();
}

/* The sender: a thread of the shim's own, started the first time the
 * syslog socket refuses a line.  It waits until the socket takes lines
 * again and sends what waits, so that lines do not sit in memory while
 * the program waits (a server idle in accept() after a burst, a process
 * stopped by a signal) and the program itself never waits.  It blocks
 * every signal, takes the sink's lock only to send, checks the descriptor
 * is still the shim's before each try (the program may have closed and
 * reused the number), and stops at exit (`closed`).  If it cannot be
 * started, lines still go at the next line and call. */
static struct {
    bool started;                 /* in this process (fork: none in the child) */
    pthread_cond_t wake;
} sender = { .wake = PTHREAD_COND_INITIALIZER };

#define SENDER_POLL_MS 1000       /* a try at least this often, however poll ends */
#define SENDER_PAUSE_MS 10        /* after a try that sent nothing */

/* Until lines wait and the socket is open (opened again, at most once a
 * second, when the daemon went away); -1 at exit. */
static int sender_wait_locked(void)
{
    while (!sink.closed) {
        if (dgramq_empty()) {
            pthread_cond_wait(&sender.wake, &sink.lock);
        } else if (sink.out.fd >= 0 || ready_locked()) {
            return sink.out.fd;
        } else {
            unlock_sink();            /* a second without the lock: poll needs no clock */
            (void)poll(NULL, 0, SENDER_POLL_MS);
            lock_sink();
        }
    }
    return -1;
}

static void *sender_main(void *arg)
{
    (void)arg;
    lock_sink();
    for (;;) {
        int fd = sender_wait_locked();
        if (fd < 0)
            break;
        unsigned before = dgramq_count();
        unlock_sink();
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        (void)poll(&p, 1, SENDER_POLL_MS);
        lock_sink();
        int err = 0;
        if (!sink.closed && fd == sink.out.fd && ready_locked() && !send_waiting_locked(&err) &&
            reader_gone(err)) {
            reopen_later_locked();
        }
        if (!dgramq_empty() && dgramq_count() >= before) {
            unlock_sink();            /* writable yet refused: never spin */
            (void)poll(NULL, 0, SENDER_PAUSE_MS);
            lock_sink();
        }
    }
    unlock_sink();
    return NULL;
}

static void wake_sender_locked(void)
{
    if (sender.started) {
        pthread_cond_signal(&sender.wake);
        return;
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0)
        return;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_sigmask(SIG_SETMASK, &all, &old);     /* the thread starts with every signal blocked */
    pthread_t t;
    sender.started = pthread_create(&t, &attr, sender_main, NULL) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
}

void sink_send_waiting(void)
{
    int saved = errno;                /* the call's errno is the program's by now */
    lock_sink();
    int err = 0;
    if (!dgramq_empty() && ready_locked() && !send_waiting_locked(&err) && reader_gone(err)) {
        reopen_later_locked();
    }
    unlock_sink();
    errno = saved;
}

/* At exit, datagrams that wait get until `until` to go: the syslog reader
 * is behind, not gone, nearly always.  What is left then is lost. */
static void send_waiting_before_exit_locked(const struct timespec *until)
{
    int err = 0;
    while (!dgramq_empty() && sink.out.fd >= 0 && !send_waiting_locked(&err) && err == EAGAIN) {
        struct timespec now;
        clock_wall(&now);
        long ms = (long)(until->tv_sec - now.tv_sec) * 1000 +
                  (until->tv_nsec - now.tv_nsec) / 1000000;
        struct pollfd p = { .fd = sink.out.fd, .events = POLLOUT };
        if (ms <= 0 || poll(&p, 1, (int)ms) <= 0)
            break;
    }
}

/* How long exit waits for another thread's write in progress. */
#define FINISH_WAIT_NS 100000000L

void sink_finish(void)
{
    /* Another thread may be writing a burst: the end of the process would
     * cut that write short at a page boundary and leave a fragment in the
     * file.  So exit waits for it, and no write starts after (`closed`).
     * The wait is bounded: exit() may come from a signal handler that
     * interrupted this very thread inside the sink. */
    struct timespec until;
    clock_wall(&until);               /* no clock: 1970, a time past: try once */
    if (until.tv_sec)
        until.tv_nsec += FINISH_WAIT_NS;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    if (held_here || pthread_mutex_timedlock(&sink.lock, &until) != 0)
        return;
    if (sink.pid == process_pid()) {
        send_waiting_before_exit_locked(&until);
        ownfd_finish(&sink.out);
        sink.closed = true;
        pthread_cond_signal(&sender.wake);   /* the sender ends */
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
    ownfd_release_copy(&sink.out);
    dgramq_clear();               /* the parent's lines: the parent sends them */
    set_waiting(false);
    sender.started = false;       /* threads do not fork */
    pthread_cond_init(&sender.wake, NULL);
    sink.dropped = 0;
    sink.retry_open_at = 0;
    tid_digits.len = 0;
    pthread_mutex_unlock(&sink.lock);
}
