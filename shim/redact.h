/* redact.h — secrets out of a command line before it is logged.
 *
 * The process line carries the program's argv, and logs are shipped
 * (syslog, collect bundles): a password given on the command line must
 * not go with them.  What is taken out, each replaced by REDACTED:
 *   - the argument after an option that takes a secret: -pass, -passin,
 *     -passout, -psk, -srppass, -password, --password, --pass,
 *     --passphrase, --proxy-pass, --key-password, --token, --secret (and
 *     `--option=secret` of these);
 *   - after the first ':' of the argument of -u, --user, --proxy-user
 *     (curl's user:password);
 *   - the password of a URL, scheme://user:PASSWORD@host;
 *   - the value of NAME=value where NAME ends in pass, passwd, password,
 *     secret, token, psk or key (any case): password=x, ssl_key=x;
 *   - OpenSSL's pass phrase argument pass:SECRET.
 * Conservative by design: a path after key= is taken out too. */
#ifndef SHIM_REDACT_H
#define SHIM_REDACT_H

#include <stdbool.h>
#include <stddef.h>

#define REDACTED "<redacted>"

/* `arg` (the argument after `prev`, or NULL for the first) as it may be
 * logged, into out (NUL-terminated, cut to size).  Returns out. */
const char *redact_arg(const char *arg, size_t len, const char *prev, char *out, size_t size);

#endif
