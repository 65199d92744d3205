/* config.h — the effective settings, read once from the environment at load time. */
#ifndef SHIM_CONFIG_H
#define SHIM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum level  { LEVEL_ERRORS, LEVEL_HANDSHAKE, LEVEL_IO, LEVEL_DATA };
enum stacks { STACKS_NONE, STACKS_ERRORS, STACKS_HANDSHAKE, STACKS_ALL };
enum format { FORMAT_JSON, FORMAT_TEXT };
enum mode   { MODE_STREAM, MODE_FLIGHT };
enum sink_kind { SINK_FILE, SINK_STDERR, SINK_SYSLOG };

#define CONFIG_PATH_MAX 1024
#define CONFIG_WARNINGS_MAX 8

struct config {
    bool disabled;              /* SSLSHIM_DISABLE=1, AT_SECURE, or SSLSHIM_EXE mismatch */
    enum sink_kind sink;
    char log_template[CONFIG_PATH_MAX]; /* file sinks: the expanded-at-open template */
    enum format format;
    enum level level;
    enum stacks stacks;
    unsigned stack_depth;
    unsigned loop_count;
    unsigned loop_window_s;
    enum mode mode;
    unsigned flight_events;
    uint64_t max_size;
    unsigned max_files;
    size_t data_bytes;
    char exe_list[256];
    char keylog[CONFIG_PATH_MAX];  /* SSLSHIM_KEYLOG or SSLKEYLOGFILE; "" = off */
    bool keylog_standard;          /* ...from SSLKEYLOGFILE */
    int syslog_facility;        /* SSLSHIM_LOG=syslog[:FACILITY[:TAG[:SOCKET]]] */
    char syslog_tag[48];
    char syslog_socket[108];
    bool valgrind_auto;
    char notify[108];           /* SSLSHIM_NOTIFY=@NAME: warnings to `sslshim run` (notify.h) */
    /* Bad values are reported on first use, not at load: a process that never
     * touches OpenSSL must stay silent (inert until used). */
    unsigned n_warnings;
    char warnings[CONFIG_WARNINGS_MAX][192];
};

extern struct config config;

/* Fill `c` from `getenv_fn` (getenv in the shim, a table in unit tests).
 * `exe` is the executable's short name (for SSLSHIM_EXE); `secure` is AT_SECURE. */
void config_load(struct config *c, const char *(*getenv_fn)(const char *),
                 const char *exe, bool secure);

/* Parsers, exposed for unit tests.  Each returns false on a bad value.
 * A size may be 0 (SSLSHIM_MAX_SIZE=0: files are never rotated). */
bool config_parse_size(const char *s, uint64_t *out);
bool config_parse_loop(const char *s, unsigned *n, unsigned *secs);
bool config_exe_matches(const char *list, const char *exe);
bool config_parse_syslog(const char *spec, int *facility, char *tag, size_t tag_size,
                         char *socket, size_t socket_size);

const char *config_level_name(enum level l);
const char *config_stacks_name(enum stacks s);

#endif
