/* faults.c — fault injection into the shim's OWN calls (test only).
 *
 * Linked into build/faults/libsslshim-faults.so together with the ordinary
 * shim objects, with GNU ld's --wrap=X for each function below: every call the
 * shim's objects make to X goes to __wrap_X here, which either fails the way X
 * fails on a real system or calls the real X (__real_X).  libssl's and the
 * program's calls are untouched: --wrap rewrites only the references inside
 * the objects of this link.
 *
 * Configuration: SSLSHIM_TEST_FAULTS, comma-separated key=value pairs
 *   seed=N        random seed (default 1)
 *   rate=P        probability that an eligible call fails, 0..1 (default 0)
 *   only=A:B:...  the functions or classes that are eligible (default all); the
 *                 separator is ':' or '+' (',' separates the keys).  Classes:
 *                 io (write writev send sendto sendmsg), file (open openat
 *                 open64 creat mkdir rename unlink readlink fcntl dup dup2 dup3
 *                 close ftruncate socket connect fstat lstat stat), mem (malloc calloc
 *                 realloc strdup strndup), dl (dlopen), time (clock_gettime
 *                 gmtime_r), misc (read poll getpeername getsockname
 *                 gethostname getrlimit pthread_sigmask pthread_key_create
 *                 pthread_setspecific pthread_create sigpending)
 *   nth=K         fail only the K-th eligible call of the process (1-based)
 *   from=K        fail every eligible call from the K-th on (with rate<1: each
 *                 with that probability); nth and from make single-threaded
 *                 runs exactly reproducible
 *   mix=1         a new errno for every failure (default: one per function
 *                 for the run, chosen by the seed, as a real cause persists)
 *   short=P       of the write/writev/read failures, the share that are short
 *                 transfers instead of errors (default 0.5)
 *   stats=DIR     keep counters (eligible calls, faults, per function) in
 *                 DIR/faults.<pid>, a shared mapping updated as calls happen
 *                 (a crash loses nothing; a fork child adds to its parent's)
 *   log=FILE      append "pid tid n function errno|short" per injected fault
 *   fdcheck=PATH  at exit, count the descriptors open on files under PATH
 *                 (the run's log directory) into the stats: a shim that
 *                 forgets a descriptor it still holds leaks one per fault
 *
 * Not wrapped, on purpose: calls whose failure is a property of the
 * descriptor that the real call shows anyway (lseek), and calls that cannot
 * fail (getpid, time, the string functions).
 *
 * Rules for the wrappers themselves: they run in the program's threads, inside
 * fork children and inside signal-unsafe places of the shim, so they take no
 * locks and allocate nothing; the random stream is a counter-based hash of
 * (seed, call number) with an atomic counter, and the per-thread state is one
 * flag (never two EINTRs in a row on one thread, which a retry loop would
 * turn into an endless loop no real kernel makes).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define HIDDEN __attribute__((visibility("hidden")))

/* ---- the function table ------------------------------------------------- */

#define FUNCTIONS(F)            \
    F(write, io)                \
    F(writev, io)               \
    F(send, io)                 \
    F(sendto, io)               \
    F(sendmsg, io)              \
    F(open, file)               \
    F(openat, file)             \
    F(open64, file)             \
    F(creat, file)              \
    F(mkdir, file)              \
    F(rename, file)             \
    F(unlink, file)             \
    F(readlink, file)           \
    F(fcntl, file)              \
    F(dup, file)                \
    F(dup2, file)               \
    F(dup3, file)               \
    F(close, file)              \
    F(ftruncate, file)          \
    F(socket, file)             \
    F(connect, file)            \
    F(fstat, file)              \
    F(lstat, file)              \
    F(stat, file)               \
    F(malloc, mem)              \
    F(calloc, mem)              \
    F(realloc, mem)             \
    F(strdup, mem)              \
    F(strndup, mem)             \
    F(dlopen, dl)               \
    F(clock_gettime, time)      \
    F(gmtime_r, time)           \
    F(read, misc)               \
    F(poll, misc)               \
    F(getpeername, misc)        \
    F(getsockname, misc)        \
    F(gethostname, misc)        \
    F(getrlimit, misc)          \
    F(pthread_sigmask, misc)    \
    F(pthread_key_create, misc) \
    F(pthread_setspecific, misc) \
    F(pthread_create, misc)     \
    F(sigpending, misc)

enum fn {
#define F(name, cls) FN_##name,
    FUNCTIONS(F)
#undef F
    FN_COUNT
};

static const char *const fn_name[FN_COUNT] = {
#define F(name, cls) #name,
    FUNCTIONS(F)
#undef F
};

static const char *const fn_class[FN_COUNT] = {
#define F(name, cls) #cls,
    FUNCTIONS(F)
#undef F
};

/* ---- configuration ------------------------------------------------------ */

struct stats {                       /* the layout of DIR/faults.<pid> */
    char magic[8];                   /* "sslfault" */
    uint32_t version, n_functions;
    uint64_t eligible, injected;
    uint64_t calls[FN_COUNT], faults[FN_COUNT];
    char names[FN_COUNT][24];
    uint64_t prefix_fds_max;         /* fdcheck: most descriptors open at exit on the prefix */
};

static struct {
    int state;                       /* 0 unread, 1 reading, 2 ready */
    uint64_t seed;
    uint64_t threshold;              /* fail when hash < threshold (rate * 2^64) */
    bool all_rate;                   /* rate == 1 */
    uint64_t short_threshold;
    uint64_t nth, from;
    bool eligible[FN_COUNT];
    bool any;
    bool mix;                        /* a new errno per call */
    int log_fd;
    char fd_prefix[1024];
    struct stats *stats;
} cfg = { .log_fd = -1 };

static uint64_t call_counter;        /* eligible calls so far, atomically */
static __thread bool last_was_eintr __attribute__((tls_model("initial-exec")));

/* Raw system calls for the harness's own needs: never through the wrappers
 * (the wrapped names would recurse into us) and never libc's buffered I/O. */
static long raw_open(const char *path, int flags, int mode)
{
    return syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

static uint64_t parse_prob(const char *v)
{
    double p = strtod(v, NULL);
    if (p <= 0)
        return 0;
    if (p >= 1)
        return UINT64_MAX;
    return (uint64_t)(p * 18446744073709551616.0);
}

static void select_name(const char *name, size_t len)
{
    for (int i = 0; i < FN_COUNT; i++) {
        if ((strlen(fn_name[i]) == len && memcmp(fn_name[i], name, len) == 0) ||
            (strlen(fn_class[i]) == len && memcmp(fn_class[i], name, len) == 0) ||
            (len == 3 && memcmp(name, "all", 3) == 0)) {
            cfg.eligible[i] = true;
            cfg.any = true;
        }
    }
}

static void open_stats(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/faults.%ld", dir, (long)syscall(SYS_getpid));
    int fd = (int)raw_open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    if (syscall(SYS_ftruncate, fd, (long)sizeof(struct stats)) == 0) {
        void *p = mmap(NULL, sizeof(struct stats), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p != MAP_FAILED) {
            struct stats *s = p;
            memcpy(s->magic, "sslfault", 8);
            s->version = 1;
            s->n_functions = FN_COUNT;
            for (int i = 0; i < FN_COUNT; i++)
                snprintf(s->names[i], sizeof s->names[i], "%s", fn_name[i]);
            cfg.stats = s;
        }
    }
    syscall(SYS_close, fd);
}

static void read_config(void)
{
    const char *spec = getenv("SSLSHIM_TEST_FAULTS");
    char buf[1024];
    cfg.seed = 1;
    cfg.short_threshold = UINT64_MAX / 2;
    if (!spec)
        return;
    snprintf(buf, sizeof buf, "%s", spec);
    bool only_given = false;
    for (char *item = buf, *next; item && *item; item = next) {
        next = strchr(item, ',');
        if (next)
            *next++ = '\0';
        char *v = strchr(item, '=');
        if (!v)
            continue;
        *v++ = '\0';
        if (strcmp(item, "seed") == 0) {
            cfg.seed = strtoull(v, NULL, 0);
        } else if (strcmp(item, "rate") == 0) {
            cfg.threshold = parse_prob(v);
            cfg.all_rate = cfg.threshold == UINT64_MAX;
        } else if (strcmp(item, "mix") == 0) {
            cfg.mix = strtoul(v, NULL, 0) != 0;
        } else if (strcmp(item, "short") == 0) {
            cfg.short_threshold = parse_prob(v);
        } else if (strcmp(item, "nth") == 0) {
            cfg.nth = strtoull(v, NULL, 0);
        } else if (strcmp(item, "from") == 0) {
            cfg.from = strtoull(v, NULL, 0);
        } else if (strcmp(item, "only") == 0) {
            only_given = true;
            for (char *p = v; *p;) {
                size_t len = strcspn(p, ":+");
                select_name(p, len);
                p += len;
                if (*p)
                    p++;
            }
        } else if (strcmp(item, "stats") == 0) {
            open_stats(v);
        } else if (strcmp(item, "fdcheck") == 0) {
            snprintf(cfg.fd_prefix, sizeof cfg.fd_prefix, "%s", v);
        } else if (strcmp(item, "log") == 0) {
            cfg.log_fd = (int)raw_open(v, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        }
    }
    if (!only_given)
        select_name("all", 3);
    if (cfg.from && !cfg.threshold)
        cfg.threshold = UINT64_MAX, cfg.all_rate = true;
}

static bool ready(void)
{
    int s = __atomic_load_n(&cfg.state, __ATOMIC_ACQUIRE);
    if (s == 2)
        return true;
    int expected = 0;
    if (s == 0 && __atomic_compare_exchange_n(&cfg.state, &expected, 1, false,
                                              __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        read_config();
        __atomic_store_n(&cfg.state, 2, __ATOMIC_RELEASE);
        return true;
    }
    return false;                    /* another thread is reading it: pass this call */
}

/* ---- the decision ------------------------------------------------------- */

static uint64_t mix(uint64_t x)      /* splitmix64's finalizer */
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

struct decision {
    bool fail;
    uint64_t n;                      /* the call's number */
    uint64_t r;                      /* more random bits for the kind of failure */
};

static struct decision decide(enum fn f)
{
    struct decision d = { false, 0, 0 };
    if (!ready() || !cfg.eligible[f])
        return d;
    d.n = __atomic_add_fetch(&call_counter, 1, __ATOMIC_RELAXED);
    if (cfg.stats) {
        __atomic_add_fetch(&cfg.stats->eligible, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&cfg.stats->calls[f], 1, __ATOMIC_RELAXED);
    }
    uint64_t h = mix(cfg.seed * 0x100000001b3ULL ^ mix(d.n));
    d.r = mix(h);
    if (cfg.nth)
        d.fail = d.n == cfg.nth;
    else if (cfg.from)
        d.fail = d.n >= cfg.from && (cfg.all_rate || h < cfg.threshold);
    else
        d.fail = cfg.threshold && (cfg.all_rate || h < cfg.threshold);
    return d;
}

static void note_fault(enum fn f, const struct decision *d, const char *what)
{
    if (cfg.stats) {
        __atomic_add_fetch(&cfg.stats->injected, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&cfg.stats->faults[f], 1, __ATOMIC_RELAXED);
    }
    if (cfg.log_fd >= 0) {
        char line[160];
        int n = snprintf(line, sizeof line, "%ld %ld %llu %s %s\n", (long)syscall(SYS_getpid),
                         (long)syscall(SYS_gettid), (unsigned long long)d->n, fn_name[f], what);
        if (n > 0)
            syscall(SYS_write, cfg.log_fd, line, (size_t)n);
    }
}

/* Pick the errno.  By default each function has one cause for the whole
 * run (the seed picks it: a full disk keeps saying ENOSPC), as real failures
 * come; mix=1 picks one per call.  EINTR never twice in a row on a thread. */
static int pick_errno(enum fn f, const struct decision *d, const int *list, size_t n)
{
    uint64_t r = cfg.mix ? d->r : mix(cfg.seed ^ ((uint64_t)(f + 1) * 0x9e3779b97f4a7c15ULL));
    int e = list[r % n];
    if (e == EINTR && last_was_eintr) {
        for (size_t i = 1; i < n && e == EINTR; i++)
            e = list[(r + i) % n];
    }
    last_was_eintr = e == EINTR;
    return e;
}

/* Fail with one of the errnos: sets errno, logs, returns nothing (the caller
 * returns the function's failure value). */
#define FAIL_WITH(f, d, ...)                                                    \
    do {                                                                        \
        static const int list_[] = { __VA_ARGS__ };                            \
        int e_ = pick_errno(f, &(d), list_, sizeof list_ / sizeof list_[0]);   \
        note_fault(f, &(d), strerrorname_np(e_));                               \
        errno = e_;                                                             \
    } while (0)

/* Whether this failure is a short transfer rather than an error. */
static bool short_transfer(const struct decision *d, size_t len)
{
    return len > 1 && (d->r >> 32) < (cfg.short_threshold >> 32);
}

static size_t short_length(const struct decision *d, size_t len)
{
    return 1 + (size_t)((d->r >> 8) % (len - 1));     /* 1 .. len-1 */
}

static void clear_eintr(void) { last_was_eintr = false; }

/* ---- the wrappers ------------------------------------------------------- */

/* __real_X is the real X (the linker says so); only __wrap_X is ours. */
#define REAL(ret, name, params) ret __real_##name params; HIDDEN ret __wrap_##name params;

REAL(ssize_t, write, (int fd, const void *buf, size_t len))
REAL(ssize_t, writev, (int fd, const struct iovec *iov, int n))
REAL(ssize_t, send, (int fd, const void *buf, size_t len, int flags))
REAL(ssize_t, sendto, (int fd, const void *buf, size_t len, int flags,
                       const struct sockaddr *to, socklen_t tolen))
REAL(ssize_t, sendmsg, (int fd, const struct msghdr *msg, int flags))
REAL(int, mkdir, (const char *path, mode_t mode))
REAL(int, rename, (const char *from, const char *to))
REAL(int, unlink, (const char *path))
REAL(ssize_t, readlink, (const char *path, char *buf, size_t size))
REAL(int, dup, (int fd))
REAL(int, dup2, (int fd, int to))
REAL(int, dup3, (int fd, int to, int flags))
REAL(int, close, (int fd))
REAL(int, ftruncate, (int fd, off_t len))
REAL(int, socket, (int domain, int type, int proto))
REAL(int, connect, (int fd, const struct sockaddr *addr, socklen_t len))
REAL(int, fstat, (int fd, struct stat *st))
REAL(int, lstat, (const char *path, struct stat *st))
REAL(int, stat, (const char *path, struct stat *st))
REAL(int, creat, (const char *path, mode_t mode))
REAL(void *, malloc, (size_t n))
REAL(void *, calloc, (size_t n, size_t size))
REAL(void *, realloc, (void *p, size_t n))
REAL(char *, strdup, (const char *s))
REAL(char *, strndup, (const char *s, size_t n))
REAL(void *, dlopen, (const char *path, int flags))
REAL(int, clock_gettime, (clockid_t clk, struct timespec *ts))
REAL(struct tm *, gmtime_r, (const time_t *t, struct tm *tm))
REAL(ssize_t, read, (int fd, void *buf, size_t len))
REAL(int, poll, (struct pollfd *fds, nfds_t n, int timeout))
REAL(int, getpeername, (int fd, struct sockaddr *addr, socklen_t *len))
REAL(int, getsockname, (int fd, struct sockaddr *addr, socklen_t *len))
REAL(int, gethostname, (char *name, size_t len))
REAL(int, getrlimit, (int resource, struct rlimit *rl))
REAL(int, pthread_sigmask, (int how, const sigset_t *set, sigset_t *old))
REAL(int, pthread_key_create, (pthread_key_t *key, void (*destructor)(void *)))
REAL(int, pthread_setspecific, (pthread_key_t key, const void *value))
REAL(int, pthread_create, (pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
                           void *arg))
REAL(int, sigpending, (sigset_t *set))
int __real_open(const char *path, int flags, ...);
HIDDEN int __wrap_open(const char *path, int flags, ...);
int __real_open64(const char *path, int flags, ...);
HIDDEN int __wrap_open64(const char *path, int flags, ...);
int __real_openat(int dirfd, const char *path, int flags, ...);
HIDDEN int __wrap_openat(int dirfd, const char *path, int flags, ...);
int __real_fcntl(int fd, int cmd, ...);
HIDDEN int __wrap_fcntl(int fd, int cmd, ...);

/* What a write to this descriptor can do, as the kernel does it: a regular
 * file runs out of space or quota (and may take part of the data first); a
 * pipe or FIFO loses its reader, or is full (a non-blocking write of at most
 * PIPE_BUF bytes is all or nothing, a longer one may be short); a stream
 * socket may be short or reset; a datagram socket never short. */
enum target { T_FILE, T_PIPE, T_STREAM, T_DGRAM, T_OTHER };

static enum target target_of(int fd, bool *nonblock)
{
    struct stat st;
    long fl = syscall(SYS_fcntl, fd, F_GETFL);
    *nonblock = fl >= 0 && (fl & O_NONBLOCK);
    if (syscall(SYS_fstat, fd, &st) != 0)
        return T_OTHER;
    if (S_ISREG(st.st_mode))
        return T_FILE;
    if (S_ISFIFO(st.st_mode))
        return T_PIPE;
    if (S_ISSOCK(st.st_mode)) {
        int type = 0;
        socklen_t len = sizeof type;
        syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_TYPE, &type, &len);
        return type == SOCK_STREAM ? T_STREAM : T_DGRAM;
    }
    return T_OTHER;
}

static bool can_be_short(enum target t, bool nonblock, size_t len)
{
    switch (t) {
    case T_FILE: case T_STREAM: case T_OTHER: return true;
    case T_PIPE: return len > PIPE_BUF && nonblock;
    default: return false;
    }
}

/* -1 with errno, as write(2) to fd fails. */
static ssize_t write_error(enum fn f, struct decision *d, enum target t, bool nonblock)
{
    switch (t) {
    case T_FILE:
        FAIL_WITH(f, *d, ENOSPC, EDQUOT, EIO, EFBIG);
        break;
    case T_PIPE:
        if (nonblock)
            FAIL_WITH(f, *d, EAGAIN, EPIPE);
        else
            FAIL_WITH(f, *d, EPIPE, EINTR);
        break;
    case T_STREAM:
    case T_DGRAM:
        if (nonblock)
            FAIL_WITH(f, *d, EAGAIN, EPIPE, ECONNRESET, ENOBUFS);
        else
            FAIL_WITH(f, *d, EPIPE, ECONNRESET, ENOBUFS, EINTR);
        break;
    default:
        FAIL_WITH(f, *d, EIO, EAGAIN, EINTR);
        break;
    }
    return -1;
}

ssize_t __wrap_write(int fd, const void *buf, size_t len)
{
    struct decision d = decide(FN_write);
    if (!d.fail)
        return clear_eintr(), __real_write(fd, buf, len);
    bool nonblock;
    enum target t = target_of(fd, &nonblock);
    if (can_be_short(t, nonblock, len) && short_transfer(&d, len)) {
        size_t part = short_length(&d, len);
        note_fault(FN_write, &d, "short");
        clear_eintr();
        return __real_write(fd, buf, part);
    }
    return write_error(FN_write, &d, t, nonblock);
}

ssize_t __wrap_writev(int fd, const struct iovec *iov, int n)
{
    struct decision d = decide(FN_writev);
    if (!d.fail)
        return clear_eintr(), __real_writev(fd, iov, n);
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    bool nonblock;
    enum target t = target_of(fd, &nonblock);
    if (can_be_short(t, nonblock, total) && short_transfer(&d, total)) {
        size_t part = short_length(&d, total);
        struct iovec cut[64];
        int m = 0;
        for (int i = 0; i < n && i < 64 && part; i++, m++) {
            cut[m] = iov[i];
            if (cut[m].iov_len > part)
                cut[m].iov_len = part;
            part -= cut[m].iov_len;
        }
        note_fault(FN_writev, &d, "short");
        clear_eintr();
        return __real_writev(fd, cut, m);
    }
    return write_error(FN_writev, &d, t, nonblock);
}

/* send(2): a datagram is all or nothing; a stream socket may take part. */
ssize_t __wrap_send(int fd, const void *buf, size_t len, int flags)
{
    struct decision d = decide(FN_send);
    if (!d.fail)
        return clear_eintr(), __real_send(fd, buf, len, flags);
    bool nonblock;
    enum target t = target_of(fd, &nonblock);
    if (t == T_STREAM && short_transfer(&d, len)) {
        note_fault(FN_send, &d, "short");
        clear_eintr();
        return __real_send(fd, buf, short_length(&d, len), flags);
    }
    if (flags & MSG_DONTWAIT)
        nonblock = true;
    if (nonblock)
        FAIL_WITH(FN_send, d, EAGAIN, ENOBUFS, ECONNREFUSED, ENOTCONN);
    else
        FAIL_WITH(FN_send, d, ENOBUFS, ECONNREFUSED, ENOTCONN, EINTR);
    return -1;
}

#define SEND_ERRNOS EAGAIN, ENOBUFS, ECONNREFUSED, EINTR, ENOTCONN, EPIPE

ssize_t __wrap_sendto(int fd, const void *buf, size_t len, int flags,
                      const struct sockaddr *to, socklen_t tolen)
{
    struct decision d = decide(FN_sendto);
    if (!d.fail)
        return clear_eintr(), __real_sendto(fd, buf, len, flags, to, tolen);
    FAIL_WITH(FN_sendto, d, SEND_ERRNOS);
    return -1;
}

ssize_t __wrap_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    struct decision d = decide(FN_sendmsg);
    if (!d.fail)
        return clear_eintr(), __real_sendmsg(fd, msg, flags);
    FAIL_WITH(FN_sendmsg, d, SEND_ERRNOS);
    return -1;
}

#define OPEN_ERRNOS EMFILE, ENFILE, EACCES, ENOSPC, EINTR, EIO, ENOENT, EROFS, EDQUOT, ENOMEM

static int mode_arg(int flags, va_list ap)
{
    return (flags & O_CREAT) || (flags & __O_TMPFILE) == __O_TMPFILE ? va_arg(ap, int) : 0;
}

int __wrap_open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    int mode = mode_arg(flags, ap);
    va_end(ap);
    struct decision d = decide(FN_open);
    if (!d.fail)
        return clear_eintr(), __real_open(path, flags, mode);
    FAIL_WITH(FN_open, d, OPEN_ERRNOS);
    return -1;
}

int __wrap_open64(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    int mode = mode_arg(flags, ap);
    va_end(ap);
    struct decision d = decide(FN_open64);
    if (!d.fail)
        return clear_eintr(), __real_open64(path, flags, mode);
    FAIL_WITH(FN_open64, d, OPEN_ERRNOS);
    return -1;
}

int __wrap_openat(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    int mode = mode_arg(flags, ap);
    va_end(ap);
    struct decision d = decide(FN_openat);
    if (!d.fail)
        return clear_eintr(), __real_openat(dirfd, path, flags, mode);
    FAIL_WITH(FN_openat, d, OPEN_ERRNOS);
    return -1;
}

int __wrap_creat(const char *path, mode_t mode)
{
    struct decision d = decide(FN_creat);
    if (!d.fail)
        return clear_eintr(), __real_creat(path, mode);
    FAIL_WITH(FN_creat, d, OPEN_ERRNOS);
    return -1;
}

int __wrap_mkdir(const char *path, mode_t mode)
{
    struct decision d = decide(FN_mkdir);
    if (!d.fail)
        return clear_eintr(), __real_mkdir(path, mode);
    FAIL_WITH(FN_mkdir, d, ENOSPC, EACCES, EROFS, EIO, EMLINK, EDQUOT, ENOMEM);
    return -1;
}

int __wrap_rename(const char *from, const char *to)
{
    struct decision d = decide(FN_rename);
    if (!d.fail)
        return clear_eintr(), __real_rename(from, to);
    FAIL_WITH(FN_rename, d, EIO, ENOSPC, EACCES, EBUSY, EROFS, EDQUOT);
    return -1;
}

int __wrap_unlink(const char *path)
{
    struct decision d = decide(FN_unlink);
    if (!d.fail)
        return clear_eintr(), __real_unlink(path);
    FAIL_WITH(FN_unlink, d, EIO, EACCES, EBUSY, EROFS, EPERM);
    return -1;
}

ssize_t __wrap_readlink(const char *path, char *buf, size_t size)
{
    struct decision d = decide(FN_readlink);
    if (!d.fail)
        return clear_eintr(), __real_readlink(path, buf, size);
    FAIL_WITH(FN_readlink, d, EIO, EACCES, ENOENT, ENOMEM, ELOOP);
    return -1;
}

/* fcntl's third argument is an int or a pointer; both travel in one register. */
int __wrap_fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    struct decision d = decide(FN_fcntl);
    if (!d.fail)
        return clear_eintr(), __real_fcntl(fd, cmd, arg);
    if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
        FAIL_WITH(FN_fcntl, d, EMFILE, EINVAL);
    else if (cmd == F_SETLKW || cmd == F_SETLK)
        FAIL_WITH(FN_fcntl, d, EINTR, EAGAIN, ENOLCK);
    else
        FAIL_WITH(FN_fcntl, d, EBADF, EINVAL, EPERM);
    return -1;
}

int __wrap_dup(int fd)
{
    struct decision d = decide(FN_dup);
    if (!d.fail)
        return clear_eintr(), __real_dup(fd);
    FAIL_WITH(FN_dup, d, EMFILE);
    return -1;
}

int __wrap_dup2(int fd, int to)
{
    struct decision d = decide(FN_dup2);
    if (!d.fail)
        return clear_eintr(), __real_dup2(fd, to);
    FAIL_WITH(FN_dup2, d, EMFILE, EBUSY, EINTR);
    return -1;
}

int __wrap_dup3(int fd, int to, int flags)
{
    struct decision d = decide(FN_dup3);
    if (!d.fail)
        return clear_eintr(), __real_dup3(fd, to, flags);
    FAIL_WITH(FN_dup3, d, EMFILE, EBUSY, EINTR);
    return -1;
}

/* close fails after it has closed (Linux): the descriptor is gone either way. */
int __wrap_close(int fd)
{
    struct decision d = decide(FN_close);
    int r = __real_close(fd);
    if (!d.fail || r != 0)
        return clear_eintr(), r;
    FAIL_WITH(FN_close, d, EIO, EINTR, ENOSPC, EDQUOT);
    return -1;
}

int __wrap_ftruncate(int fd, off_t len)
{
    struct decision d = decide(FN_ftruncate);
    if (!d.fail)
        return clear_eintr(), __real_ftruncate(fd, len);
    FAIL_WITH(FN_ftruncate, d, EIO, EINTR, EFBIG, EPERM);
    return -1;
}

int __wrap_socket(int domain, int type, int proto)
{
    struct decision d = decide(FN_socket);
    if (!d.fail)
        return clear_eintr(), __real_socket(domain, type, proto);
    FAIL_WITH(FN_socket, d, EMFILE, ENFILE, ENOBUFS, ENOMEM, EACCES);
    return -1;
}

int __wrap_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    struct decision d = decide(FN_connect);
    if (!d.fail)
        return clear_eintr(), __real_connect(fd, addr, len);
    FAIL_WITH(FN_connect, d, ECONNREFUSED, ENOENT, EAGAIN, EACCES, EPERM);
    return -1;
}

#define STAT_ERRNOS EIO, ENOMEM, EOVERFLOW, EACCES

int __wrap_fstat(int fd, struct stat *st)
{
    struct decision d = decide(FN_fstat);
    if (!d.fail)
        return clear_eintr(), __real_fstat(fd, st);
    FAIL_WITH(FN_fstat, d, EIO, ESTALE, ENOMEM);
    return -1;
}

int __wrap_lstat(const char *path, struct stat *st)
{
    struct decision d = decide(FN_lstat);
    if (!d.fail)
        return clear_eintr(), __real_lstat(path, st);
    FAIL_WITH(FN_lstat, d, STAT_ERRNOS, ENOENT);
    return -1;
}

int __wrap_stat(const char *path, struct stat *st)
{
    struct decision d = decide(FN_stat);
    if (!d.fail)
        return clear_eintr(), __real_stat(path, st);
    FAIL_WITH(FN_stat, d, STAT_ERRNOS, ENOENT);
    return -1;
}

void *__wrap_malloc(size_t n)
{
    struct decision d = decide(FN_malloc);
    if (!d.fail)
        return __real_malloc(n);
    FAIL_WITH(FN_malloc, d, ENOMEM);
    return NULL;
}

void *__wrap_calloc(size_t n, size_t size)
{
    struct decision d = decide(FN_calloc);
    if (!d.fail)
        return __real_calloc(n, size);
    FAIL_WITH(FN_calloc, d, ENOMEM);
    return NULL;
}

void *__wrap_realloc(void *p, size_t n)
{
    struct decision d = decide(FN_realloc);
    if (!d.fail)
        return __real_realloc(p, n);
    FAIL_WITH(FN_realloc, d, ENOMEM);
    return NULL;                     /* p is left as it was, as realloc does */
}

char *__wrap_strdup(const char *s)
{
    struct decision d = decide(FN_strdup);
    if (!d.fail)
        return __real_strdup(s);
    FAIL_WITH(FN_strdup, d, ENOMEM);
    return NULL;
}

char *__wrap_strndup(const char *s, size_t n)
{
    struct decision d = decide(FN_strndup);
    if (!d.fail)
        return __real_strndup(s, n);
    FAIL_WITH(FN_strndup, d, ENOMEM);
    return NULL;
}

/* dlopen fails the way the loader does: NULL, and dlerror() has a reason
 * (asking for a file that is not there gives a real one). */
void *__wrap_dlopen(const char *path, int flags)
{
    struct decision d = decide(FN_dlopen);
    if (!d.fail)
        return __real_dlopen(path, flags);
    note_fault(FN_dlopen, &d, "NULL");
    int saved = errno;
    void *h = __real_dlopen("/nonexistent/sslshim-fault-injected.so", RTLD_LAZY | RTLD_NOLOAD);
    errno = saved;
    return h;
}

int __wrap_clock_gettime(clockid_t clk, struct timespec *ts)
{
    struct decision d = decide(FN_clock_gettime);
    if (!d.fail)
        return __real_clock_gettime(clk, ts);
    FAIL_WITH(FN_clock_gettime, d, EINVAL, EOVERFLOW);
    return -1;
}

struct tm *__wrap_gmtime_r(const time_t *t, struct tm *tm)
{
    struct decision d = decide(FN_gmtime_r);
    if (!d.fail)
        return __real_gmtime_r(t, tm);
    FAIL_WITH(FN_gmtime_r, d, EOVERFLOW);
    return NULL;
}

ssize_t __wrap_read(int fd, void *buf, size_t len)
{
    struct decision d = decide(FN_read);
    if (!d.fail)
        return clear_eintr(), __real_read(fd, buf, len);
    if (short_transfer(&d, len)) {
        note_fault(FN_read, &d, "short");
        clear_eintr();
        return __real_read(fd, buf, short_length(&d, len));
    }
    FAIL_WITH(FN_read, d, EIO, EINTR, EAGAIN);
    return -1;
}

int __wrap_poll(struct pollfd *fds, nfds_t n, int timeout)
{
    struct decision d = decide(FN_poll);
    if (!d.fail)
        return clear_eintr(), __real_poll(fds, n, timeout);
    if (d.r & 1) {                   /* a timeout: nothing ready */
        note_fault(FN_poll, &d, "timeout");
        for (nfds_t i = 0; i < n; i++)
            fds[i].revents = 0;
        return 0;
    }
    FAIL_WITH(FN_poll, d, EINTR, ENOMEM);
    return -1;
}

int __wrap_getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
    struct decision d = decide(FN_getpeername);
    if (!d.fail)
        return __real_getpeername(fd, addr, len);
    FAIL_WITH(FN_getpeername, d, ENOTCONN, ENOBUFS, EINVAL);
    return -1;
}

int __wrap_getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
    struct decision d = decide(FN_getsockname);
    if (!d.fail)
        return __real_getsockname(fd, addr, len);
    FAIL_WITH(FN_getsockname, d, ENOBUFS, EINVAL);
    return -1;
}

int __wrap_gethostname(char *name, size_t len)
{
    struct decision d = decide(FN_gethostname);
    if (!d.fail)
        return __real_gethostname(name, len);
    FAIL_WITH(FN_gethostname, d, ENAMETOOLONG, EINVAL);
    return -1;
}

int __wrap_getrlimit(int resource, struct rlimit *rl)
{
    struct decision d = decide(FN_getrlimit);
    if (!d.fail)
        return __real_getrlimit(resource, rl);
    FAIL_WITH(FN_getrlimit, d, EINVAL, EFAULT);
    return -1;
}

/* pthread_sigmask returns the error number and leaves errno alone. */
int __wrap_pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
    struct decision d = decide(FN_pthread_sigmask);
    if (!d.fail)
        return __real_pthread_sigmask(how, set, old);
    int saved = errno;
    FAIL_WITH(FN_pthread_sigmask, d, EINVAL);
    errno = saved;
    return EINVAL;
}

/* Like pthread_sigmask: the error number returned, errno untouched.  The
 * burst writer's per-thread buffer hangs on a key (burst.c). */
int __wrap_pthread_key_create(pthread_key_t *key, void (*destructor)(void *))
{
    struct decision d = decide(FN_pthread_key_create);
    if (!d.fail)
        return __real_pthread_key_create(key, destructor);
    int saved = errno;
    FAIL_WITH(FN_pthread_key_create, d, EAGAIN, ENOMEM);
    int err = errno;
    errno = saved;
    return err;
}

/* The syslog sender thread (sink.c): it may not start; lines then go at
 * the next line and call. */
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
                          void *arg)
{
    struct decision d = decide(FN_pthread_create);
    if (!d.fail)
        return __real_pthread_create(t, attr, fn, arg);
    int saved = errno;
    FAIL_WITH(FN_pthread_create, d, EAGAIN, EPERM);
    int err = errno;
    errno = saved;
    return err;
}

int __wrap_pthread_setspecific(pthread_key_t key, const void *value)
{
    struct decision d = decide(FN_pthread_setspecific);
    if (!d.fail)
        return __real_pthread_setspecific(key, value);
    int saved = errno;
    FAIL_WITH(FN_pthread_setspecific, d, ENOMEM);
    int err = errno;
    errno = saved;
    return err;
}

int __wrap_sigpending(sigset_t *set)
{
    struct decision d = decide(FN_sigpending);
    if (!d.fail)
        return __real_sigpending(set);
    FAIL_WITH(FN_sigpending, d, EFAULT);
    return -1;
}

/* ---- fdcheck: descriptors left open on the log files ---------------------- */

struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/* Late (after the shim's own destructor, which writes its last lines). */
__attribute__((destructor(101))) static void count_prefix_fds(void)
{
    if (__atomic_load_n(&cfg.state, __ATOMIC_ACQUIRE) != 2 || !cfg.stats || !cfg.fd_prefix[0])
        return;
    int dir = (int)raw_open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dir < 0)
        return;
    size_t plen = strlen(cfg.fd_prefix);
    uint64_t n = 0;
    char buf[4096];
    long got;
    while ((got = syscall(SYS_getdents64, dir, buf, sizeof buf)) > 0) {
        for (long off = 0; off < got;) {
            struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
            off += d->d_reclen;
            int fd = atoi(d->d_name);
            if (d->d_name[0] < '0' || d->d_name[0] > '9' || fd == dir || fd == cfg.log_fd)
                continue;
            char target[4096];
            long len = syscall(SYS_readlinkat, dir, d->d_name, target, sizeof target - 1);
            if (len > 0 && (size_t)len >= plen && memcmp(target, cfg.fd_prefix, plen) == 0)
                n++;
        }
    }
    syscall(SYS_close, dir);
    uint64_t old = __atomic_load_n(&cfg.stats->prefix_fds_max, __ATOMIC_RELAXED);
    while (n > old && !__atomic_compare_exchange_n(&cfg.stats->prefix_fds_max, &old, n, false,
                                                   __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}
