/* notify.h — the shim's warnings, also sent to `sslshim run`.
 *
 * A service started by `sslshim run` puts its workers' stderr wherever it
 * likes (nginx: its own error log), so a worker's "cannot open the log"
 * would never reach the person at the terminal.  With SSLSHIM_NOTIFY=@NAME
 * (set by `sslshim run`), every warning line the shim writes on stderr is
 * also sent as one datagram to the abstract Unix socket NAME, where `run`
 * listens.  An abstract name has no file and no permissions: workers that
 * dropped root's privileges still reach it; a process in another network
 * namespace does not, and loses nothing but the copy. */
#ifndef SHIM_NOTIFY_H
#define SHIM_NOTIFY_H

#include <stddef.h>

/* Send `line` to the runner, if there is one: never blocking, errno kept. */
void notify_runner(const char *line, size_t len);

#endif
