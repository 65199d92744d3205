/* api.c — the public runtime API (include/sslshim.h). */
#include "calls.h"
#include "init.h"
#include "record.h"
#include "sslshim.h"

#include <errno.h>

__attribute__((visibility("default"))) void sslshim_note(const char *text)
{
    int saved_errno = errno;
    if ((shim_ready[OSSL_FAMILY_3] || shim_activate(OSSL_FAMILY_3)) && shim_on) {
        struct ev e;
        record_begin(&e, SSLSHIM_EV_NOTE, NULL);
        ev_str(&e, "text", text);
        record(&e);
    }
    errno = saved_errno;
}
