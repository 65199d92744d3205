/* ownfd.c — descriptors the shim owns: moved out of the program's way,
 * checked before use, written without blocking or signals. */
#include "ownfd.h"

#include "notify.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PIPE_WAIT_MS 2             /* per wait for a pipe to take the rest of a line */
#define PIPE_WAITS 5

static enum ownfd_kind kind_of(mode_t mode)
{
    if (S_ISREG(mode))
        return OWNFD_FILE;
    if (S_ISFIFO(mode))
        return OWNFD_PIPE;
    if (S_ISSOCK(mode))
        return OWNFD_SOCKET;
    return OWNFD_OTHER;
}

/* A copy of fd at OWNFD_FLOOR or above (fd closed), or fd itself when the
 * descriptor limit leaves no room up there. */
static int move_up(int fd)
{
    struct rlimit rl;
    if (fd >= OWNFD_FLOOR)
        return fd;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur <= (rlim_t)OWNFD_FLOOR * 2)
        return fd;                  /* a small table: leave its top to the program */
    int high = fcntl(fd, F_DUPFD_CLOEXEC, OWNFD_FLOOR);
    if (high < 0)
        return fd;
    close(fd);
    return high;
}

static bool describe(struct owned_fd *o, int fd, bool borrowed)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        o->fd = -1;
        return false;
    }
    o->fd = fd;
    o->borrowed = borrowed;
    o->kind = kind_of(st.st_mode);
    o->dev = st.st_dev;
    o->ino = st.st_ino;
    return true;
}

bool ownfd_adopt(struct owned_fd *o, int fd)
{
    fd = move_up(fd);
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0 && !(flags & O_NONBLOCK))
        (void)fcntl(fd, F_SETFL, flags | O_NONBLOCK);   /* our own open file description */
    if (describe(o, fd, false))
        return true;
    int err = errno;
    close(fd);
    errno = err;
    return false;
}

bool ownfd_borrow(struct owned_fd *o, int fd) { return describe(o, fd, true); }

enum ownfd_state ownfd_state(const struct owned_fd *o, struct stat *st)
{
    if (o->fd < 0)
        return OWNFD_GONE;
    if (fstat(o->fd, st) != 0)
        return errno == EBADF ? OWNFD_GONE : OWNFD_UNSURE;
    return st->st_dev == o->dev && st->st_ino == o->ino ? OWNFD_OURS : OWNFD_GONE;
}

void ownfd_release(struct owned_fd *o)
{
    struct stat st;
    if (!o->borrowed && ownfd_state(o, &st) != OWNFD_GONE)
        close(o->fd);
    ownfd_forget(o);
}

static void drop_rest(struct owned_fd *o)
{
    if (o->rest_on_heap)
        free(o->rest);
    o->rest = NULL;
    o->rest_len = 0;
    o->frag_len = 0;
    o->rest_on_heap = false;
}

void ownfd_release_copy(struct owned_fd *o)
{
    struct stat st;
    if (!o->borrowed && ownfd_state(o, &st) != OWNFD_GONE)
        close(o->fd);
    ownfd_forget(o);
}

void ownfd_forget(struct owned_fd *o)
{
    drop_rest(o);                   /* it belonged to what the number named */
    o->fd = -1;
}

/* write(2) raises SIGPIPE in the writing thread when a pipe's reader has
 * gone, SIGXFSZ when a file passes RLIMIT_FSIZE: hold `sig` back, and take
 * the one our write caused (unless one was already pending for the
 * program).  `err` is the errno that comes with it. */
static ssize_t write_holding(int sig, int sig_err, int fd, const void *buf, size_t len)
{
    sigset_t only, saved, pending;
    sigemptyset(&only);
    sigaddset(&only, sig);
    if (pthread_sigmask(SIG_BLOCK, &only, &saved) != 0)
        return -1;
    bool was_pending = sigpending(&pending) == 0 && sigismember(&pending, sig);
    ssize_t n = write(fd, buf, len);
    int err = errno;
    if (n < 0 && err == sig_err && !was_pending) {
        static const struct timespec no_wait = { 0, 0 };
        while (sigtimedwait(&only, NULL, &no_wait) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    errno = err;
    return n;
}

rlim_t ownfd_size_limit(void)
{
    static time_t read_at;
    static rlim_t limit = RLIM_INFINITY;
    time_t now = time(NULL);
    if (now != __atomic_load_n(&read_at, __ATOMIC_RELAXED)) {
        struct rlimit rl;
        __atomic_store_n(&limit, getrlimit(RLIMIT_FSIZE, &rl) == 0 ? rl.rlim_cur : RLIM_INFINITY,
                         __ATOMIC_RELAXED);
        __atomic_store_n(&read_at, now, __ATOMIC_RELAXED);
    }
    return __atomic_load_n(&limit, __ATOMIC_RELAXED);
}

static ssize_t write_once(const struct owned_fd *o, const void *buf, size_t len)
{
    switch (o->kind) {
    case OWNFD_SOCKET: return send(o->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    case OWNFD_PIPE:   return write_holding(SIGPIPE, EPIPE, o->fd, buf, len);
    case OWNFD_FILE:
        /* With a size limit, SIGXFSZ is held (three more system calls):
         * the callers keep their files below it, this is for what they
         * cannot see (another process appending, stderr a file). */
        if (ownfd_size_limit() != RLIM_INFINITY)
            return write_holding(SIGXFSZ, EFBIG, o->fd, buf, len);
        return write(o->fd, buf, len);
    default:           return write(o->fd, buf, len);
    }
}

/* A pipe took part of a line: give its reader a few milliseconds to make
 * room for the rest rather than leave the line cut. */
static bool wait_for_room(const struct owned_fd *o, int *waits)
{
    if (o->kind != OWNFD_PIPE || (*waits)++ >= PIPE_WAITS)
        return false;
    struct pollfd p = { .fd = o->fd, .events = POLLOUT };
    return poll(&p, 1, PIPE_WAIT_MS) > 0;
}

ssize_t ownfd_write(const struct owned_fd *o, const void *buf, size_t len)
{
    size_t done = 0;
    int waits = 0;
    while (done < len) {
        ssize_t n = write_once(o, (const char *)buf + done, len - done);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN && done > 0 && wait_for_room(o, &waits))
            continue;
        if (done == 0)
            return n < 0 ? -1 : 0;
        break;
    }
    return (ssize_t)done;
}

/* A file that ends with exactly our `written` bytes is cut back to before
 * them. */
static bool take_back(const struct owned_fd *o, size_t written)
{
    struct stat st;
    if (o->kind != OWNFD_FILE || o->borrowed)    /* never cut the program's stderr file */
        return false;
    off_t end = lseek(o->fd, 0, SEEK_CUR);
    if (end < (off_t)written || fstat(o->fd, &st) != 0 || st.st_size != end)
        return false;
    int r;
    while ((r = ftruncate(o->fd, end - (off_t)written)) != 0 && errno == EINTR) {
    }
    return r == 0;
}

static void keep_rest(struct owned_fd *o, const char *rest, size_t len)
{
    o->rest = len <= sizeof o->rest_inline ? o->rest_inline : malloc(len);
    o->rest_on_heap = o->rest && o->rest != o->rest_inline;
    if (o->rest) {
        memcpy(o->rest, rest, len);
        o->rest_len = len;
    } else {                        /* no memory: at least end the fragment */
        o->rest = o->rest_inline;
        o->rest[0] = '\n';
        o->rest_len = 1;
    }
}

/* The kept rest of the last line first; false (errno set) if it still
 * does not fit. */
static bool write_rest(struct owned_fd *o)
{
    if (!o->rest_len)
        return true;
    ssize_t n = ownfd_write(o, o->rest, o->rest_len);
    if (n <= 0)
        return false;
    if ((size_t)n < o->rest_len) {
        memmove(o->rest, o->rest + n, o->rest_len - (size_t)n);
        o->rest_len -= (size_t)n;
        o->frag_len += (size_t)n;
        return false;
    }
    drop_rest(o);
    return true;
}

size_t ownfd_write_line(struct owned_fd *o, const void *line, size_t len)
{
    if (!write_rest(o))
        return 0;
    ssize_t n = ownfd_write(o, line, len);
    if (n == (ssize_t)len)
        return len;
    if (n <= 0)
        return 0;
    int err = errno;                /* why the rest did not go */
    if (take_back(o, (size_t)n)) {
        errno = err;
        return 0;
    }
    keep_rest(o, (const char *)line + n, len - (size_t)n);
    o->frag_len = (size_t)n;
    return len;
}

#define FINISH_TRIES 3

void ownfd_finish(struct owned_fd *o)
{
    for (int i = 0; i < FINISH_TRIES && o->rest_len && o->fd >= 0; i++) {
        if (write_rest(o) || take_back(o, o->frag_len)) {
            drop_rest(o);
            return;
        }
    }
}

bool ownfd_open_stderr(struct owned_fd *o)
{
    struct stat st;
    if (fstat(STDERR_FILENO, &st) == 0 && S_ISFIFO(st.st_mode)) {
        int fd = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0)
            return ownfd_adopt(o, fd);
    }
    return ownfd_borrow(o, STDERR_FILENO);
}

void ownfd_say(const char *line, size_t len)
{
    notify_runner(line, len);
    struct owned_fd err = OWNFD_NONE;
    if (!ownfd_open_stderr(&err))
        return;
    (void)ownfd_write(&err, line, len);
    ownfd_release(&err);
}

void ownfd_say_once(const char *line, size_t len)
{
    static bool said;
    if (!__atomic_exchange_n(&said, true, __ATOMIC_RELAXED))
        ownfd_say(line, len);
}

int ownfd_open_append(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK,
                  0600);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0 || (S_ISREG(st.st_mode) && st.st_uid != geteuid())) {
        close(fd);
        errno = EPERM;
        return -1;
    }
    return fd;
}
