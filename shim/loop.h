/* loop.h — reconnect and renegotiation loops (SSLSHIM_LOOP=N/S).
 *
 * reconnect: N connections to one peer (address:port, else SNI) ended
 * without application data within S seconds.  renegotiation: N handshakes on
 * one connection within S seconds.  At most one loop event per peer (or
 * connection) per window, with the running count. */
#ifndef SHIM_LOOP_H
#define SHIM_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct conn;

/* A handshake started on c: returns the attempt number toward c's peer in
 * this process, and reports a renegotiation loop if one is crossing. */
unsigned loop_handshake_started(struct conn *c);

/* c ended: reports a reconnect loop if one is crossing. */
void loop_conn_ended(struct conn *c);

/* fork() handlers: the peers lock must not be held across fork. */
void loop_atfork_prepare(void);
void loop_atfork_parent(void);
void loop_atfork_child(void);

/* The pure part, for unit tests: a window of recent connection ends. */
#define LOOP_RING 64
struct loop_window {
    int64_t end_ns[LOOP_RING];     /* CLOCK_MONOTONIC */
    int64_t end_wall_ns[LOOP_RING];
    bool failed[LOOP_RING];
    unsigned head, used;
    int64_t quiet_until_ns;        /* no second report before this */
};

/* Add one end; true when this end makes a loop to report.  `count`, `failed`
 * and `first_wall_ns` describe the window. */
bool loop_window_add(struct loop_window *w, int64_t now, int64_t now_wall, bool failed,
                     unsigned n, unsigned window_s, unsigned *count, unsigned *n_failed,
                     int64_t *first_wall_ns);

#endif
