/* current.c — the current thread's call state, its stack bounds, and the
 * stacks it records for a connection. */
#include "current.h"

#include "stack.h"

#include <pthread.h>

__thread struct thread_call thread_call __attribute__((tls_model("initial-exec")));

struct conn *conn_of(const SSL *s)
{
    if (!s || ossl.ssl_idx < 0)
        return NULL;
    return conn_lookup(ossl_current, s, false);   /* the thread's cache, else ex_data */
}

#define SAME_STACK_SPAN ((uintptr_t)1 << 20)   /* without bounds: one stack's frames */

bool call_same_thread_stack(uintptr_t a, uintptr_t b)
{
    struct thread_call *t = &thread_call;
    if (!t->stack_hi) {
        pthread_attr_t attr;
        void *lo;
        size_t size;
        if (pthread_getattr_np(pthread_self(), &attr) == 0) {
            if (pthread_attr_getstack(&attr, &lo, &size) == 0) {
                t->stack_lo = (uintptr_t)lo;
                t->stack_hi = (uintptr_t)lo + size;
            }
            pthread_attr_destroy(&attr);
        }
        if (!t->stack_hi)
            t->stack_hi = 1;          /* unknown: the span below decides */
    }
    if (t->stack_hi > 1)
        return a >= t->stack_lo && a < t->stack_hi && b >= t->stack_lo && b < t->stack_hi;
    return (a > b ? a - b : b - a) < SAME_STACK_SPAN;
}

__attribute__((cold)) void current_stack_record(struct ev *e, struct conn *c, bool failure)
{
    struct stack *st = stack_capture(thread_call.depth ? thread_call.caller : 0);
    if (!st)
        return;
    c->stacks++;
    stack_field(e, "stack", st);
    if (failure) {
        /* Exchanged, not assigned: a program that misuses one SSL from two
         * threads can fail in both at once, and must not make us free the
         * old stack twice. */
        stack_free(__atomic_exchange_n(&c->fail_stack, st, __ATOMIC_ACQ_REL));
    } else {
        stack_free(st);
    }
}
