"""Where things are: libsslshim.so relative to the command, the default log
directory, this host's name."""
import os
import socket
import stat

SCHEMA_VERSION = 1          # include/sslshim.h: SSLSHIM_SCHEMA_VERSION
VERSION = "0.1.0"           # include/sslshim.h: SSLSHIM_VERSION


def shim_library(command_path):
    """The libsslshim.so this command goes with, and how it was chosen.

    $SSLSHIM_LIB wins; from the source tree (scripts/sslshim) it is
    ../build/libsslshim.so; installed as PREFIX/bin/sslshim it is
    PREFIX/lib/libsslshim.so.  Returns (path, reason); path may not exist."""
    env = os.environ.get("SSLSHIM_LIB")
    if env:
        return os.path.abspath(env), "$SSLSHIM_LIB"
    top = os.path.dirname(os.path.dirname(os.path.realpath(command_path)))
    candidates = [os.path.join(top, "build", "libsslshim.so"),
                  os.path.join(top, "lib", "libsslshim.so")]
    if os.path.basename(os.path.dirname(os.path.realpath(command_path))) == "bin":
        candidates.reverse()
    for c in candidates:
        if os.path.exists(c):
            return c, "found beside the command"
    return candidates[0], "expected beside the command"


def default_log_root():
    return "/tmp/sslshim-%d" % os.getuid()


def ensure_private_dir(path):
    """Create path (0700) if missing; refuse a directory that another user
    owns or can write, like the shim does for its default directory.
    Returns an error message or None."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError as e:
        return "cannot create %s: %s" % (path, e.strerror)
    if not stat.S_ISDIR(st.st_mode):
        return "%s is not a directory" % path
    if st.st_uid != os.getuid():
        return "%s belongs to uid %d, not to you (uid %d)" % (path, st.st_uid, os.getuid())
    if st.st_mode & 0o022:
        return "%s is writable by others (mode %o)" % (path, st.st_mode & 0o777)
    return None


def this_host():
    return socket.gethostname()
