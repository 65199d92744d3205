/* conn.h — what the shim knows about one SSL object.
 *
 * A conn is created when the program calls SSL_new (or, for an SSL made where
 * we could not see it, at its first interposed call), found again through an
 * OpenSSL ex_data slot of the SSL (no lock: a plain array read inside
 * libcrypto; the data path first asks a per-thread cache, calls.h), and ends
 * when OpenSSL frees the SSL (the slot's free callback, whoever calls
 * SSL_free) or at process exit.
 *
 * Fields are written only by the thread that is inside a call on the SSL, as
 * OpenSSL itself requires; the misuse detector reports programs that break
 * that rule. */
#ifndef SHIM_CONN_H
#define SHIM_CONN_H

#include "cert.h"
#include "clock.h"
#include "event.h"
#include "openssl.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

typedef void (*info_cb_fn)(const SSL *, int, int);
typedef void (*msg_cb_fn)(int, int, int, const void *, size_t, SSL *, void *);

#define CONN_ADDR_MAX 64
#define CONN_SNI_MAX 256
#define CONN_STATE_MAX 80
#define CONN_RENEG_RING 16

struct stack;
struct flight_ring;

struct conn {
    uint64_t id;
    SSL *ssl;
    struct ossl_api *api;              /* the OpenSSL library this SSL belongs to */
    pid_t owner_pid;               /* the process that created it */
    int64_t created_ns;            /* CLOCK_MONOTONIC */

    info_cb_fn prog_info_cb;       /* the program's SSL-level callbacks */
    info_cb_fn entry_ctx_info_cb;  /* the CTX's info callback when the current
                                      call began (valid while entry_ctx_known) */
    bool entry_ctx_known;
    msg_cb_fn prog_msg_cb;
    bool msg_cb_ours;              /* our msg callback is installed on the SSL */

    int role;                      /* -1 unknown, 0 client, 1 server */
    unsigned handshakes;
    bool in_handshake;
    int64_t hs_start_ns;
    int64_t hs_times[CONN_RENEG_RING];   /* start of recent handshakes (renegotiation loops) */
    bool reneg_reported;
    int64_t reneg_report_until_ns;

    uint64_t bytes_in, bytes_out, reads, writes;   /* through interposed calls */
    uint64_t records_in, records_out;  /* application data records, any path */
    bool tls13;                    /* negotiated TLS 1.3: records are typed inside */
    signed char ems;               /* extended_master_secret in ServerHello: 1/0, -1 unknown */
    bool hrr_sent;                 /* a HelloRetryRequest went out; the second
                                      ClientHello has not come yet */
    bool reads_never_wait;         /* reading from the peer returns rather than
                                      waits, as asked in call `never_wait_call` */
    uint64_t never_wait_call;      /* (trace.c, reads_never_wait_now) */
    struct cert_ref peer_cert;     /* the peer's leaf as its Certificate message passed */
    bool app_data;                 /* seen in records or a general-path call; the data
                                      path only counts bytes: ask conn_app_data() */
    unsigned alerts_sent, alerts_recv;
    bool fatal_alert;
    bool error_seen;
    bool eof_seen;                 /* the peer closed without close_notify (failure.c) */
    unsigned char odd_header[5];   /* a record header received that is not TLS's */
    bool have_odd_header;
    unsigned char alpn_server[128];   /* the server's ALPN list (wire format) as its
                                         callback passed it to SSL_select_next_proto */
    unsigned alpn_server_len;
    bool failure_explained;        /* this handshake's first failure line has written
                                      the failure fields (failure.c) */
    bool handshake_ok;
    unsigned stacks;               /* stacks captured for this connection */
    char last_alert[32];
    char last_state[CONN_STATE_MAX];
    const char *last_state_from;   /* the OpenSSL string last_state was copied from */
    const char *last_reported_state;   /* the state of the last state line (trace.c) */
    char peer[CONN_ADDR_MAX];      /* "" when unknown */
    char local[CONN_ADDR_MAX];
    unsigned char sni[CONN_SNI_MAX];
    size_t sni_len;
    bool have_sni;
    unsigned char client_random[32];
    bool have_random;
    struct stack *fail_stack;      /* the latest failure's stack, for loop events */
    struct flight_ring *flight;    /* flight mode: the events kept, not yet written */
    bool flight_streaming;         /* flight mode: failed, so written as they happen */

    /* misuse detection: the thread currently inside a call (0: none) */
    pid_t active_tid;
    const char *active_fn;
    bool fork_reported;
    bool concurrent_reported;

    bool ended;                    /* off the live list; under the conns lock */
    bool ending_at_exit;           /* its conn_end is being written at exit */
    struct conn *prev, *next;      /* the live list, under the conns lock */
};

/* Whether the exiting thread is writing c's conn_end (conns_end_all): calls
 * and callbacks on c then pass through and leave it alone. */
static inline bool conn_ending(const struct conn *c)
{
    return __atomic_load_n(&c->ending_at_exit, __ATOMIC_ACQUIRE);
}

/* Whether application data moved on c, by any path. */
static inline bool conn_app_data(const struct conn *c)
{
    return c->app_data || c->bytes_in || c->bytes_out;
}

/* What the layers above do when a conn ends (it was live: released by
 * OpenSSL, or at exit) and before it is freed (let go of what they hung on
 * it).  Called with no lock held. */
struct conn_hooks {
    void (*end)(struct conn *c);
    void (*let_go)(struct conn *c);
};

/* Set up the ex_data slots; false if OpenSSL refused. After ossl_resolve(). */
bool conn_init(const struct conn_hooks *hooks);

/* A new conn for s, found through s's ex_data from now on and on the live
 * list; NULL if memory is short. */
struct conn *conn_new(SSL *s);

/* Bumped whenever a conn is released (and in a fork child): the per-thread
 * caches of SSL -> conn (calls.h) are valid while it is unchanged. */
extern uint64_t conn_generation;

/* Remember the program's msg callback of a CTX (copied into each SSL_new),
 * and read it back for an SSL of that CTX. */
void conn_ctx_msg_cb_set(SSL_CTX *ctx, msg_cb_fn cb);
msg_cb_fn conn_ctx_msg_cb(SSL *s);

/* The "sni" field: the name as sent (escaped, with sni_hex if not UTF-8), or null. */
void conn_sni_field(struct ev *e, const struct conn *c);

/* The peer and local addresses of the SSL's socket, if it has one. */
void conn_note_addresses(struct conn *c, const SSL *s);

/* The handshake state to report for an alert or error.  Once a fatal error
 * is raised SSL_state_string_long says only "error", but SSL_get_state still
 * holds the state the handshake failed in: name that one instead. */
const char *conn_state(const SSL *s);

/* Write conn_end for every connection still open (process exit). */
void conns_end_all(void);

/* After fork(): the child owns none of the parent's connections. */
void conns_atfork_prepare(void);
void conns_atfork_parent(void);
void conns_atfork_child(void);


#endif
