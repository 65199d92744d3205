/* hooks_family.h — the exported wrappers of one OpenSSL family; included by
 * hooks.c once per family with FAMILY (OSSL_FAMILY_*) and HOOK(name) (the
 * wrapper's local name, exported under the family's symbol version) defined.
 *
 * Each wrapper has OpenSSL's own prototype, calls the real function of its
 * family and returns its result unchanged.  Recording happens in calls.c
 * and, for everything inside a handshake, in the callbacks of trace.c. */

#define API (&ossl_libs[FAMILY])

EXPORT int HOOK(SSL_do_handshake)(SSL *s) { CONTROL_CALL(SSL_do_handshake, s); }
EXPORT int HOOK(SSL_connect)(SSL *s) { CONTROL_CALL(SSL_connect, s); }
EXPORT int HOOK(SSL_accept)(SSL *s) { CONTROL_CALL(SSL_accept, s); }

EXPORT int HOOK(SSL_shutdown)(SSL *s)
{
    ENSURE(-1);
    struct call call;
    if (!call_begin(&call, API, s, "SSL_shutdown", CALLER))
        return API->SSL_shutdown(s);
    /* 0 means "close_notify sent, the peer's not seen yet": not a failure. */
    call.zero_ok = true;
    int ret = API->SSL_shutdown(s);
    call_end(&call, ret, 0, 0, NULL);
    return ret;
}

INT_IO_GENERAL(SSL_read, 'r', void *)
INT_IO_GENERAL(SSL_peek, 'p', void *)
INT_IO_GENERAL(SSL_write, 'w', const void *)
EX_IO_GENERAL(SSL_read_ex, 'r', void *)
EX_IO_GENERAL(SSL_peek_ex, 'p', void *)
EX_IO_GENERAL(SSL_write_ex, 'w', const void *)

EXPORT int HOOK(SSL_read)(SSL *s, void *buf, int num) { INT_IO_CALL(SSL_read, 'r', s, buf, num); }
EXPORT int HOOK(SSL_peek)(SSL *s, void *buf, int num) { INT_IO_CALL(SSL_peek, 'p', s, buf, num); }

EXPORT int HOOK(SSL_write)(SSL *s, const void *buf, int num)
{
    INT_IO_CALL(SSL_write, 'w', s, buf, num);
}

EXPORT int HOOK(SSL_read_ex)(SSL *s, void *buf, size_t num, size_t *done)
{
    EX_IO_CALL(SSL_read_ex, 'r', s, buf, num, done);
}

EXPORT int HOOK(SSL_peek_ex)(SSL *s, void *buf, size_t num, size_t *done)
{
    EX_IO_CALL(SSL_peek_ex, 'p', s, buf, num, done);
}

EXPORT int HOOK(SSL_write_ex)(SSL *s, const void *buf, size_t num, size_t *done)
{
    EX_IO_CALL(SSL_write_ex, 'w', s, buf, num, done);
}

EXPORT SSL *HOOK(SSL_new)(SSL_CTX *ctx)
{
    ENSURE(NULL);
    SSL *s = API->SSL_new(ctx);
    if (s && API->on) {
        int saved_errno = errno;
        struct ossl_api *saved = ossl_current;
        ossl_current = API;
        lifecycle_track(s);
        ossl_current = saved;
        errno = saved_errno;
    }
    return s;
}

EXPORT void HOOK(SSL_free)(SSL *s)
{
    ENSURE_VOID();
    /* conn_end happens in the ex_data free callback, inside the real call;
     * marking the call lets its stacks start at the program's frame. */
    uintptr_t here = stack_position();
    if (!API->on || (thread_call.depth != 0 && !call_abandoned(here))) {
        API->SSL_free(s);
        return;
    }
    thread_call.depth = 1;
    thread_call.fn = "SSL_free";
    thread_call.caller = CALLER;
    thread_call.sp = here;
    thread_call.outer = NULL;
    burst_hold();
    API->SSL_free(s);
    burst_release();
    thread_call.depth = 0;
    thread_call.fn = NULL;
}

/* ---- callbacks: ours stay installed; the program's are kept and chained ---- */

EXPORT void HOOK(SSL_set_info_callback)(SSL *s, info_cb_fn cb)
{
    ENSURE_VOID();
    WITH_API(struct conn *c = API->on ? conn_of(s) : NULL);
    if (c)
        c->prog_info_cb = trace_is_our_info_cb(cb) ? NULL : cb;
    else
        API->SSL_set_info_callback(s, cb);
}

EXPORT info_cb_fn HOOK(SSL_get_info_callback)(const SSL *s)
{
    ENSURE(NULL);
    WITH_API(struct conn *c = API->on ? conn_of(s) : NULL);
    return c ? c->prog_info_cb : API->SSL_get_info_callback(s);
}

EXPORT void HOOK(SSL_CTX_set_info_callback)(SSL_CTX *ctx, info_cb_fn cb)
{
    ENSURE_VOID();
    API->SSL_CTX_set_info_callback(ctx, cb);   /* ours chain to it at call time */
}

EXPORT info_cb_fn HOOK(SSL_CTX_get_info_callback)(SSL_CTX *ctx)
{
    ENSURE(NULL);
    return API->SSL_CTX_get_info_callback(ctx);
}

EXPORT void HOOK(SSL_set_msg_callback)(SSL *s, msg_cb_fn cb)
{
    ENSURE_VOID();
    WITH_API(struct conn *c = API->on ? conn_of(s) : NULL);
    if (c)
        c->prog_msg_cb = trace_is_our_msg_cb(cb) ? NULL : cb;
    if (!c || !c->msg_cb_ours)
        API->SSL_set_msg_callback(s, cb);
}

EXPORT void HOOK(SSL_CTX_set_keylog_callback)(SSL_CTX *ctx, keylog_cb_fn cb)
{
    ENSURE_VOID();
    if (API->on && keylog_enabled()) {
        WITH_API(keylog_program_sets(ctx, cb));   /* ours is installed; it calls this one */
    } else {
        API->SSL_CTX_set_keylog_callback(ctx, cb);
    }
}

EXPORT keylog_cb_fn HOOK(SSL_CTX_get_keylog_callback)(const SSL_CTX *ctx)
{
    ENSURE(NULL);
    if (API->on && keylog_enabled()) {
        WITH_API(keylog_cb_fn cb = keylog_program_cb((SSL_CTX *)ctx));
        return cb;
    }
    return API->SSL_CTX_get_keylog_callback(ctx);
}

EXPORT void HOOK(SSL_CTX_set_msg_callback)(SSL_CTX *ctx, msg_cb_fn cb)
{
    ENSURE_VOID();
    API->SSL_CTX_set_msg_callback(ctx, cb);
    if (API->on) {
        WITH_API(conn_ctx_msg_cb_set(ctx, cb));
    }
}

/* Settings libssl has no getter for are noted as the program makes them
 * (settings.c); every other command passes straight through. */
#define CTRL_HOOK(name, type, note)                                             \
    EXPORT long HOOK(name)(type *obj, int cmd, long larg, void *parg) /* NOLINT(bugprone-macro-parentheses) */ \
    {                                                                           \
        ENSURE(0);                                                              \
        long ret = API->name(obj, cmd, larg, parg);                             \
        if (__builtin_expect(settings_cmd(cmd), 0) && ret > 0 && API->on) {     \
            int saved_errno = errno;                                            \
            WITH_API(note(obj, cmd, larg, parg));                               \
            errno = saved_errno;                                                \
        }                                                                       \
        return ret;                                                             \
    }

CTRL_HOOK(SSL_CTX_ctrl, SSL_CTX, settings_ctx_ctrl)
CTRL_HOOK(SSL_ctrl, SSL, settings_ssl_ctrl)
#undef CTRL_HOOK

/* Called by a server's ALPN callback (nginx, Python, s_server) with its own
 * list: the one place that list can be seen (messages.c). */
EXPORT int HOOK(SSL_select_next_proto)(unsigned char **out, unsigned char *outlen,
                                       const unsigned char *server, unsigned int server_len,
                                       const unsigned char *client, unsigned int client_len)
{
    ENSURE(OPENSSL_NPN_NO_OVERLAP);
    int ret = API->SSL_select_next_proto(out, outlen, server, server_len, client, client_len);
    if (API->on)
        messages_select_next_proto(server, server_len);
    return ret;
}

#undef API
