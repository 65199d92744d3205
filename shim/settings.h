/* settings.h — what a side configured that libssl has no getter for: the
 * groups and signature algorithms it allows.  Noted as the program sets
 * them (SSL_CTX_ctrl/SSL_ctrl: SSL_CTX_set1_groups_list, SSL_set1_groups,
 * SSL_CTX_set1_sigalgs_list, …), written with this side's offer when its
 * handshake fails (failure.c). */
#ifndef SHIM_SETTINGS_H
#define SHIM_SETTINGS_H

#include "event.h"
#include "openssl.h"

#include <stdbool.h>

/* Whether a ctrl command is one noted here (checked before anything else). */
static inline bool settings_cmd(int cmd)
{
    return cmd == SSL_CTRL_SET_GROUPS || cmd == SSL_CTRL_SET_GROUPS_LIST ||
           cmd == SSL_CTRL_SET_SIGALGS_LIST;
}

/* Find the slot the notes live in, once per family (conn_init's time). */
bool settings_init(void);

/* The program's ctrl call succeeded: note what it set on ctx, or on s. */
void settings_ctx_ctrl(SSL_CTX *ctx, int cmd, long larg, const void *parg);
void settings_ssl_ctrl(SSL *s, int cmd, long larg, const void *parg);

/* `groups` and `sigalgs` as this side set them (SSL's own, else its
 * CTX's); left out when the program set none (the library's defaults). */
void settings_fields(struct ev *e, SSL *s);

#endif
