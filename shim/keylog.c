/* keylog.c — writing the NSS key log and chaining the program's callback. */
#include "keylog.h"

#include "config.h"
#include "ownfd.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* The key log holds secrets: it is checked to still be the file we opened
 * before every line (ownfd.h), so a descriptor the program closed and
 * reused never receives one. */
static pthread_mutex_t keylog_lock = PTHREAD_MUTEX_INITIALIZER;
static struct owned_fd keylog_out = OWNFD_NONE;
static bool warned;

/* The key log is one file for many processes: this one, its fork children,
 * every program run with the same SSLKEYLOGFILE.  A line that a full disk
 * cuts short is taken back only if the file still ends with it (ownfd.c),
 * and that check and the truncation must not race another process's line,
 * nor may another process append after a fragment still to be completed.
 * So each line is written under an flock(2) on the file, and a process
 * whose line was cut keeps the lock until the line is whole (or it exits).
 * The lock is only ever tried, a few times: a process that cannot have it
 * at once leaves its line out rather than wait. */
#define FILE_LOCK_TRIES 64
static bool file_locked;          /* by this process, on keylog_out */

static bool lock_file_locked(void)
{
    if (file_locked)
        return true;
    for (int i = 0; i < FILE_LOCK_TRIES; i++) {
        if (flock(keylog_out.fd, LOCK_EX | LOCK_NB) == 0)
            return file_locked = true;
        if (errno != EWOULDBLOCK && errno != EINTR)
            return true;              /* no locks here (ENOLCK): write as before */
        sched_yield();
    }
    return false;
}

static void unlock_file_locked(void)
{
    if (file_locked && !keylog_out.rest_len) {
        (void)flock(keylog_out.fd, LOCK_UN);
        file_locked = false;
    }
}

bool keylog_enabled(void) { return config.keylog[0] != '\0'; }

bool keylog_init(void)
{
    if (!keylog_enabled())
        return true;
    ossl.keylog_idx = ossl.CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL_CTX, 0, NULL, NULL,
                                                   NULL, NULL);
    return ossl.keylog_idx >= 0;
}

/* Open (again) when needed; false with one warning for the process. */
static bool keylog_open_locked(void)
{
    struct stat st;
    if (ownfd_state(&keylog_out, &st) != OWNFD_GONE)
        return true;
    ownfd_forget(&keylog_out);               /* never opened, or the program's now */
    file_locked = false;                     /* it went with the description */
    int fd = ownfd_open_append(config.keylog);
    if (fd >= 0 && ownfd_adopt(&keylog_out, fd))
        return true;
    if (!warned) {
        warned = true;
        char msg[1200];
        int n = snprintf(msg, sizeof msg, "sslshim: cannot open key log %s: %s\n",
                         config.keylog, strerror(errno));
        if (n > 0)
            ownfd_say_once(msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
    }
    return false;
}

size_t keylog_format(char *out, size_t size, const char *line)
{
    int n = snprintf(out, size, "%s\n", line);
    return n < 0 || (size_t)n >= size ? 0 : (size_t)n;
}

keylog_cb_fn keylog_program_cb(SSL_CTX *ctx)
{
    keylog_cb_fn cb;
    void *p = ctx && ossl.keylog_idx >= 0 ? ossl.SSL_CTX_get_ex_data(ctx, ossl.keylog_idx) : NULL;
    *(void **)&cb = p;
    return cb;
}

static void keep_program_cb(SSL_CTX *ctx, keylog_cb_fn cb)
{
    if (ctx && ossl.keylog_idx >= 0)
        ossl.SSL_CTX_set_ex_data(ctx, ossl.keylog_idx, *(void **)&cb);
}

/* With SSLKEYLOGFILE, a program with a key log callback of its own writes
 * the file itself (curl and Python do when the variable is set): its lines
 * are not written twice. */
static void shim_keylog(const SSL *s, const char *line)
{
    char buf[1024];
    int saved_errno = errno;
    keylog_cb_fn prog = keylog_program_cb(ossl.SSL_get_SSL_CTX(s));
    size_t n = config.keylog_standard && prog ? 0 : keylog_format(buf, sizeof buf, line);
    if (n) {
        pthread_mutex_lock(&keylog_lock);
        if (keylog_open_locked() && lock_file_locked()) {
            (void)ownfd_write_line(&keylog_out, buf, n);
            unlock_file_locked();
        }
        pthread_mutex_unlock(&keylog_lock);
    }
    errno = saved_errno;
    if (prog)
        prog(s, line);
}

void keylog_finish(void)
{
    if (pthread_mutex_trylock(&keylog_lock) != 0)
        return;                       /* see sink_finish */
    ownfd_finish(&keylog_out);
    pthread_mutex_unlock(&keylog_lock);
}

void keylog_atfork_prepare(void) { pthread_mutex_lock(&keylog_lock); }
void keylog_atfork_parent(void) { pthread_mutex_unlock(&keylog_lock); }
void keylog_atfork_child(void)
{
    pthread_mutex_unlock(&keylog_lock);
    ownfd_release_copy(&keylog_out);   /* the child opens its own; a cut line is the parent's */
    file_locked = false;               /* and so is the file lock, on the shared description */
}

OSSL_TRAMPOLINES(shim_keylog, (const SSL *s, const char *line), (s, line))
#define shim_keylog_cb OSSL_FAMILY_FN(shim_keylog)

void keylog_attach(SSL_CTX *ctx)
{
    if (!keylog_enabled() || !ctx || ossl.keylog_idx < 0)
        return;
    keylog_cb_fn now = ossl.SSL_CTX_get_keylog_callback(ctx);
    if (now == shim_keylog_cb)
        return;
    keep_program_cb(ctx, now);                /* set before we saw it */
    ossl.SSL_CTX_set_keylog_callback(ctx, shim_keylog_cb);
}

void keylog_program_sets(SSL_CTX *ctx, keylog_cb_fn cb)
{
    keep_program_cb(ctx, cb);
    ossl.SSL_CTX_set_keylog_callback(ctx, shim_keylog_cb);
}
