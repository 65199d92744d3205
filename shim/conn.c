/* conn.c — the registry of connections: creation, the ex_data slots that
 * find a conn from its SSL, the live list, release and the end at exit.
 * What a connection's beginning and end write, and what else hangs on a
 * conn, belong to the layers above (lifecycle.c), called through the hooks
 * given to conn_init. */
#include "conn.h"

#include "names.h"
#include "process.h"
#include "valgrind.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static atomic_uint_fast64_t next_id = 1;
uint64_t conn_generation = 1;      /* 0 is an empty cache entry's */
static struct conn_hooks hooks;

static pthread_mutex_t conns_lock = PTHREAD_MUTEX_INITIALIZER;
static struct conn *live;          /* every conn not yet ended */

static void conn_released(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
                          long argl, void *argp);
OSSL_TRAMPOLINES(conn_released, (void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
                                       long argl, void *argp),
                 (parent, ptr, ad, idx, argl, argp))

/* SSL_dup makes the copy with SSL_new (which reaches our wrapper: the copy
 * has a conn of its own already) and then copies the ex_data pointers over
 * it.  Two SSLs must never share a conn: the copy keeps its own, or has
 * none (a libssl whose internal SSL_new call we do not see) and gets one
 * at its first call. */
static int copy_keeps_own_conn(struct ossl_api *api, CRYPTO_EX_DATA *to, void **from_d, int idx)
{
    if (from_d)
        *from_d = to ? api->CRYPTO_get_ex_data(to, idx) : NULL;
    return 1;
}

/* One per family, like the trampolines: SSL_dup is not interposed, so
 * nothing has made this family's table current. */
static int conn_dup_family3(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from, void **from_d,
                            int idx, long argl, void *argp)
{
    (void)from; (void)argl; (void)argp;
    return copy_keeps_own_conn(&ossl_libs[OSSL_FAMILY_3], to, from_d, idx);
}

static int conn_dup_family11(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from, void **from_d,
                             int idx, long argl, void *argp)
{
    (void)from; (void)argl; (void)argp;
    return copy_keeps_own_conn(&ossl_libs[OSSL_FAMILY_1_1], to, from_d, idx);
}

bool conn_init(const struct conn_hooks *h)
{
    hooks = *h;
    ossl.ssl_idx = ossl.CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL, 0, NULL, NULL,
                                                OSSL_FAMILY_FN(conn_dup),
                                                OSSL_FAMILY_FN(conn_released));
    ossl.ctx_idx = ossl.CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL_CTX, 0, NULL, NULL,
                                                NULL, NULL);
    return ossl.ssl_idx >= 0 && ossl.ctx_idx >= 0;
}

void conn_ctx_msg_cb_set(SSL_CTX *ctx, msg_cb_fn cb)
{
    if (ctx && ossl.ctx_idx >= 0)
        ossl.SSL_CTX_set_ex_data(ctx, ossl.ctx_idx, *(void **)&cb);
}

msg_cb_fn conn_ctx_msg_cb(SSL *s)
{
    SSL_CTX *ctx = ossl.SSL_get_SSL_CTX(s);
    void *p = ctx && ossl.ctx_idx >= 0 ? ossl.SSL_CTX_get_ex_data(ctx, ossl.ctx_idx) : NULL;
    msg_cb_fn cb;
    *(void **)&cb = p;
    return cb;
}

static void format_sockaddr(char *out, size_t size, const struct sockaddr_storage *ss)
{
    char ip[INET6_ADDRSTRLEN];
    out[0] = '\0';
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        if (inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip))
            snprintf(out, size, "%s:%u", ip, ntohs(in->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        if (inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip))
            snprintf(out, size, "[%s]:%u", ip, ntohs(in6->sin6_port));
    }
}

void conn_sni_field(struct ev *e, const struct conn *c)
{
    if (c->have_sni)
        ev_strn(e, "sni", c->sni, c->sni_len);
    else
        ev_null(e, "sni");
}

void conn_note_addresses(struct conn *c, const SSL *s)
{
    struct sockaddr_storage ss = { 0 };
    socklen_t len;
    int fd = ossl.SSL_get_fd(s);
    if (fd < 0)
        return;
    len = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
        format_sockaddr(c->peer, sizeof c->peer, &ss);
    len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        format_sockaddr(c->local, sizeof c->local, &ss);
}

struct conn *conn_new(SSL *s)
{
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->id = atomic_fetch_add(&next_id, 1);
    c->ssl = s;
    c->owner_pid = process_pid();
    c->created_ns = now_ns();
    c->role = -1;
    c->ems = -1;
    c->api = ossl_current;
    if (!ossl.SSL_set_ex_data(s, ossl.ssl_idx, c)) {
        free(c);
        return NULL;
    }
    pthread_mutex_lock(&conns_lock);
    c->next = live;
    if (live)
        live->prev = c;
    live = c;
    pthread_mutex_unlock(&conns_lock);
    return c;
}

const char *conn_state(const SSL *s)
{
    const char *now = ossl.SSL_state_string_long(s);
    if (now && strcmp(now, "error") == 0)     /* the state stays where it failed */
        return handshake_state_name((int)ossl.SSL_get_state(s));
    return now;
}

static void unlink_locked(struct conn *c)
{
    c->ended = true;
    if (c->prev)
        c->prev->next = c->next;
    else
        live = c->next;
    if (c->next)
        c->next->prev = c->prev;
}

enum release { RELEASE_END, RELEASE_FREE, RELEASE_LEAVE };

/* What the release of c must do: end it (take it off the live list), only
 * free it (ended at exit already), or leave it alone (the exiting thread is
 * writing its conn_end right now and will not free it). */
static enum release unlink_for_release(struct conn *c)
{
    pthread_mutex_lock(&conns_lock);
    enum release r = conn_ending(c) ? RELEASE_LEAVE : c->ended ? RELEASE_FREE : RELEASE_END;
    if (r == RELEASE_END)
        unlink_locked(c);
    pthread_mutex_unlock(&conns_lock);
    return r;
}

/* The ex_data free callback: OpenSSL is freeing the SSL, whoever called
 * SSL_free (the program, or libssl itself for an SSL BIO). */
static void conn_released(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
                          long argl, void *argp)
{
    struct conn *c = ptr;
    (void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
    if (!c)
        return;
    int saved_errno = errno;
    enum release r = unlink_for_release(c);
    if (r == RELEASE_END)
        hooks.end(c);
    if (r != RELEASE_LEAVE) {         /* LEAVE: a leak of one conn, at exit */
        hooks.let_go(c);
        free(c);
    }
    /* Every thread's cached entry goes stale, including any made while
     * conn_end ran: an SSL allocated later at this address is another. */
    if (!valgrind_active)
        __atomic_fetch_add(&conn_generation, 1, __ATOMIC_RELEASE);
    errno = saved_errno;
}

/* Claim c for writing its conn_end at exit (conns_lock held): made by this
 * process before exit began, and no other thread inside a call on it (its
 * fields are changing: it is left as it is, without a conn_end).  The
 * exiting thread then holds c as if it were in a call on it; other
 * threads' calls and callbacks see conn_ending() and leave c alone.
 * *claimed: active_tid was taken and must be given back. */
static bool claim_at_exit_locked(struct conn *c, uint64_t made_before, bool *claimed)
{
    pid_t me = shim_tid(), none = 0;
    *claimed = false;
    if (c->owner_pid != process_pid() || c->id >= made_before)
        return false;
    if (__atomic_load_n(&c->active_tid, __ATOMIC_ACQUIRE) == me)
        return true;                  /* exit from inside a call on it */
    __atomic_store_n(&c->ending_at_exit, true, __ATOMIC_RELEASE);
    *claimed = __atomic_compare_exchange_n(&c->active_tid, &none, me, false, __ATOMIC_ACQ_REL,
                                           __ATOMIC_ACQUIRE);
    if (!*claimed)
        __atomic_store_n(&c->ending_at_exit, false, __ATOMIC_RELEASE);
    return *claimed;
}

/* The first live conn conns_end_all may end, claimed and taken off the
 * list (conns_lock held). */
static struct conn *take_own_live_locked(uint64_t made_before, bool *claimed)
{
    struct conn *c = live;
    while (c && !claim_at_exit_locked(c, made_before, claimed))
        c = c->next;
    if (c) {
        __atomic_store_n(&c->ending_at_exit, true, __ATOMIC_RELEASE);
        unlink_locked(c);
    }
    return c;
}

void conns_end_all(void)
{
    /* At exit, other threads may still be running: take each conn off the
     * list under the lock, then write outside it.  While its conn_end is
     * written a concurrent SSL_free leaves the conn alone; after, it only
     * frees it.  Only the connections open when exit began are ended:
     * threads that go on making new ones would keep this loop going. */
    uint64_t made_before = atomic_load(&next_id);
    for (;;) {
        bool claimed;
        pthread_mutex_lock(&conns_lock);
        struct conn *c = take_own_live_locked(made_before, &claimed);
        pthread_mutex_unlock(&conns_lock);
        if (!c)
            break;
        hooks.end(c);
        pthread_mutex_lock(&conns_lock);
        if (claimed)
            __atomic_store_n(&c->active_tid, 0, __ATOMIC_RELEASE);
        __atomic_store_n(&c->ending_at_exit, false, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&conns_lock);
    }
}

void conns_atfork_prepare(void) { pthread_mutex_lock(&conns_lock); }
void conns_atfork_parent(void) { pthread_mutex_unlock(&conns_lock); }
void conns_atfork_child(void) { pthread_mutex_unlock(&conns_lock); }
