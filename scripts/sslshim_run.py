"""sslshim run: run a command with libsslshim.so preloaded.

The command keeps our stdin, stdout, stderr and every inherited descriptor;
SIGINT, SIGTERM and SIGHUP sent to us are passed on to it (a terminal's ^C
already reaches it, being in our process group, so that one is not sent
twice); we exit with its status, or 128+N when signal N killed it.  Then
stderr says where the logs are and what they show.
"""
import io
import os
import shutil
import signal
import subprocess
import sys
import time

from sslshim_paths import default_log_root, ensure_private_dir, shim_library

LEVELS = ("errors", "handshake", "io", "data")
STACKS = ("none", "errors", "handshake", "all")
FORWARD = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
SI_KERNEL = 0x80           # siginfo si_code of a signal the kernel (a terminal) sent

USAGE = """\
usage: sslshim run [-o DIR] [--level L] [--stacks S] [--keylog FILE] [--flight] [--live]
                  -- CMD [ARG...]

Run CMD with libsslshim.so preloaded (an existing LD_PRELOAD is kept) and its
logs in DIR (default: a new %s/run-<time>/); afterwards print on
stderr where the logs are and a summary.  Exit status: CMD's, 128+N if signal
N killed it, 126/127 if it cannot be run, 2 on usage errors.

  -o, --output DIR   log directory (created 0700 if missing)
  --level L          %s (default handshake)
  --stacks S         %s (default errors)
  --keylog FILE      write an NSS key log (secrets! for Wireshark) to FILE
  --flight           flight-recorder mode: only failing connections in detail
  --live             print each event on stderr as it is logged, like strace -tt, in
                     the words of openssl s_client -state -msg
  -q, --quiet        no summary afterwards (still prints where the logs are)
""" % (default_log_root(), "|".join(LEVELS), "|".join(STACKS))


def _usage_error(msg):
    sys.stderr.write("sslshim run: %s\n%s" % (msg, USAGE))
    return 2


def parse(argv):
    opts = {"dir": None, "level": None, "stacks": None, "keylog": None, "flight": False,
            "quiet": False, "live": False}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            return opts, argv[i + 1:]
        if not a.startswith("-") or a == "-":
            return opts, argv[i:]
        if a in ("-h", "--help"):
            sys.stdout.write(USAGE)
            sys.exit(0)
        name, eq, val = a.partition("=")
        takes = {"-o": "dir", "--output": "dir", "--level": "level", "--stacks": "stacks",
                 "--keylog": "keylog"}
        if name in takes:
            if not eq:
                i += 1
                if i >= len(argv):
                    raise ValueError("%s needs a value" % name)
                val = argv[i]
            opts[takes[name]] = val
        elif a == "--flight":
            opts["flight"] = True
        elif a == "--live":
            opts["live"] = True
        elif a in ("-q", "--quiet"):
            opts["quiet"] = True
        else:
            raise ValueError("unknown option %s" % a)
        i += 1
    return opts, []


def child_env(shim, logdir, opts, base=None):
    env = dict(os.environ if base is None else base)
    pre = env.get("LD_PRELOAD", "")
    # ld.so splits LD_PRELOAD on spaces and colons; ours goes first
    others = [p for p in pre.replace(":", " ").split() if p and p != shim]
    env["LD_PRELOAD"] = " ".join([shim] + others)
    env["SSLSHIM_LOG"] = logdir.rstrip("/") + "/"
    if opts.get("level"):
        env["SSLSHIM_LEVEL"] = opts["level"]
    if opts.get("stacks"):
        env["SSLSHIM_STACKS"] = opts["stacks"]
    if opts.get("keylog"):
        env["SSLSHIM_KEYLOG"] = os.path.abspath(opts["keylog"])
    if opts.get("flight"):
        env["SSLSHIM_MODE"] = "flight"
    env.pop("SSLSHIM_DISABLE", None)
    env["SSLSHIM_FORMAT"] = "json"     # what the summary and `report` read
    return env


# A service run as root drops privileges in its workers (nginx's run as
# www-data or nobody): a directory only root can write would record nothing
# of them.  So a log directory that `run` makes as root is 1733, like /tmp
# without the listing: every user can make files in it (each process its
# own, 0600), none can list it or remove another's; and the directory above
# it lets others through (0711), nothing more.  Everyone else: 0700.
SHARED_RUN_DIR = 0o1733


def make_log_dir(d):
    """mkdir d (FileExistsError when it exists) with the mode above."""
    os.mkdir(d, 0o700)
    if os.geteuid() == 0:
        os.chmod(d, SHARED_RUN_DIR)
        parent = os.path.dirname(os.path.abspath(d))
        st = os.stat(parent)
        if st.st_uid == 0 and not st.st_mode & 0o011:
            os.chmod(parent, (st.st_mode & 0o7777) | 0o011)


def new_run_dir():
    root = default_log_root()
    err = ensure_private_dir(root)
    if err:
        raise OSError(err)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        d = os.path.join(root, "run-%s%s" % (stamp, "-%d" % n if n else ""))
        try:
            make_log_dir(d)
            return d
        except FileExistsError:
            continue
    raise OSError("cannot create a run directory in %s" % root)


class Notices:
    """The shim's warnings from every process of the run (shim/notify.h):
    an abstract Unix datagram socket named in SSLSHIM_NOTIFY.  A worker
    whose stderr goes to the service's own error log, or nowhere, still
    says on this terminal why it records nothing.  Each line is printed as
    it comes, with the sender's pid and user (SO_PASSCRED)."""

    SHOWN = 20

    def __init__(self, write):
        import socket
        import threading
        self.write = write
        self.lines = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.name = "sslshim-run-%d-%s" % (os.getpid(), os.urandom(6).hex())
        self.sock.bind("\0" + self.name)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.settimeout(0.2)
        self.stopping = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def env_value(self):
        return "@" + self.name

    def _loop(self):
        import socket
        import struct
        while True:
            try:
                data, anc, _, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(12))
            except socket.timeout:
                if self.stopping:
                    return
                continue
            except OSError:
                return
            pid = uid = None
            for level, kind, blob in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid, uid, _ = struct.unpack("iii", blob[:12])
            self._say(data.decode("utf-8", "replace").strip(), pid, uid)

    def _say(self, text, pid, uid):
        # any local process can send here: no terminal control sequences
        text = "".join(ch if ch.isprintable() else "\\x%02x" % ord(ch) if ord(ch) < 256
                       else "\\u%04x" % ord(ch) for ch in text[:2000])
        if text.startswith("sslshim: "):
            text = text[len("sslshim: "):]
        self.lines.append(text)
        if len(self.lines) > self.SHOWN:
            return
        who = "pid %s" % pid if pid else "a process"
        if uid is not None and uid != os.geteuid():
            try:
                import pwd
                who += " (%s)" % pwd.getpwuid(uid).pw_name
            except (KeyError, ImportError):
                who += " (uid %d)" % uid
        self.write("sslshim: %s: %s\n" % (who, text))

    def stop(self):
        """Wait for what is still on its way, then close."""
        self.stopping = True
        self.thread.join(2)
        self.sock.close()
        if len(self.lines) > self.SHOWN:
            self.write("sslshim: %d more warnings from the shim not shown\n"
                       % (len(self.lines) - self.SHOWN))


def _stderr_write(text):
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def snapshot(d):
    """{path: size} of the log files under d now."""
    out = {}
    for root, dirs, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            try:
                out[p] = os.path.getsize(p)
            except OSError:
                pass
    return out


def main(argv, command_path):
    try:
        opts, cmd = parse(argv)
    except ValueError as e:
        return _usage_error(str(e))
    if not cmd:
        return _usage_error("no command given")
    if opts["level"] and opts["level"] not in LEVELS:
        return _usage_error("--level must be one of %s" % ", ".join(LEVELS))
    if opts["stacks"] and opts["stacks"] not in STACKS:
        return _usage_error("--stacks must be one of %s" % ", ".join(STACKS))
    shim, how = shim_library(command_path)
    if not os.path.isfile(shim):
        sys.stderr.write("sslshim run: %s not found (%s); build it with `make`, or set "
                         "SSLSHIM_LIB\n" % (shim, how))
        return 126
    try:
        if opts["dir"]:
            logdir = os.path.abspath(opts["dir"])
            os.makedirs(os.path.dirname(logdir), mode=0o700, exist_ok=True)
            try:
                make_log_dir(logdir)
            except FileExistsError:
                pass
            if not os.path.isdir(logdir):
                raise OSError("%s is not a directory" % logdir)
        else:
            logdir = new_run_dir()
    except OSError as e:
        sys.stderr.write("sslshim run: cannot use a log directory: %s\n"
                         % (e.strerror if getattr(e, "strerror", None) else e))
        return 126
    before = snapshot(logdir)
    env = child_env(shim, logdir, opts)
    notices = None
    try:
        notices = Notices(_stderr_write)
        env["SSLSHIM_NOTIFY"] = notices.env_value()
    except OSError:
        pass                                  # warnings still go to the program's stderr
    follower = None
    if opts["live"]:
        from sslshim_live import Follower
        follower = Follower(logdir, _live_write, start_offsets=before)
        follower.start()
    try:
        status, started = run_forwarding(cmd, env)
    finally:
        if follower:
            follower.stop()
        if notices:
            notices.stop()
    if not started:
        if not opts["dir"]:
            try:
                os.rmdir(logdir)
            except OSError:
                pass
        return status
    try:
        report_after(logdir, before, opts["quiet"], cmd[0],
                     notices.lines if notices else [])
    except KeyboardInterrupt:
        pass
    return status


def run_forwarding(cmd, env):
    """Run cmd; forward signals; return (exit status the shell way, started)."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARD + (signal.SIGCHLD,))
    try:
        try:
            # The child starts with our original signal mask, not the blocked one.
            p = subprocess.Popen(cmd, env=env, close_fds=False,
                                 preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_SETMASK,
                                                                           old))
        except FileNotFoundError:
            sys.stderr.write("sslshim run: %s: command not found\n" % cmd[0])
            return 127, False
        except PermissionError:
            sys.stderr.write("sslshim run: %s: permission denied\n" % cmd[0])
            return 126, False
        except OSError as e:
            sys.stderr.write("sslshim run: %s: %s\n" % (cmd[0], e.strerror))
            return 126, False
        waitset = FORWARD + (signal.SIGCHLD,)
        while True:
            rc = p.poll()
            if rc is not None:
                break
            info = signal.sigtimedwait(waitset, 0.5)
            if info is None or info.si_signo == signal.SIGCHLD:
                continue
            # a terminal's signal already went to the whole foreground group
            if info.si_code != SI_KERNEL:
                try:
                    os.kill(p.pid, info.si_signo)
                except ProcessLookupError:
                    pass
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
    return (128 - rc if rc < 0 else rc), True


def _live_write(line):
    try:
        sys.stderr.write("sslshim: " + line)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def report_after(logdir, before, quiet, program, warnings=()):
    after = snapshot(logdir)
    files = [p for p, size in sorted(after.items())
             if (p not in before or size != before[p])]
    logs = [p for p in files if p.endswith((".jsonl",)) or ".jsonl." in p]
    w = sys.stderr.write
    w("\nsslshim: logs in %s/ (%d file%s written by this run)\n"
      % (logdir, len(logs), "" if len(logs) == 1 else "s"))
    if not logs:
        from sslshim_preflight import reason_nothing_was_recorded
        cannot = [t for t in warnings if t.startswith("cannot ")]
        if cannot:
            w("sslshim: no TLS activity was recorded: the shim could not write its log (%s); "
              "the warnings above say which process and why.\n" % cannot[0])
            return
        why = reason_nothing_was_recorded(program)
        w("sslshim: no TLS activity was recorded: %s.\n" % (
            why or "the program made no OpenSSL call through the dynamic linker, or "
            "SSLSHIM_EXE named another program"))
        w("sslshim: `sslshim check %s` says what the shim can see there; `sslshim check` "
          "tests the shim on this host.\n" % program)
        return
    if quiet:
        return
    w(summary(logs) + "\n")
    w("sslshim: details: %s report %s\n" % (_self_name(), logdir))


def _self_name():
    """How to call this command again: `sslshim` when that is what PATH finds."""
    me = os.path.realpath(sys.argv[0])
    found = shutil.which("sslshim")
    if found and os.path.realpath(found) == me:
        return "sslshim"
    return sys.argv[0]


def summary(paths):
    """One paragraph: connections, failures, alerts by kind, loops."""
    from sslshim_report import analyze
    err = io.StringIO()
    doc = analyze(paths, stderr=err)
    s = doc["summary"]
    procs = len(doc["processes"])
    parts = ["sslshim: %d process%s, %d TLS connection%s: %d ok, %d failing" % (
        procs, "" if procs == 1 else "es", s["connections"], "" if s["connections"] == 1 else "s",
        s["ok"], s["failed"]) + (", %d still open" % s["open"] if s["open"] else "")]
    fatal = [a for a in doc["alerts"] if a["level"] == "fatal"]
    if fatal:
        parts.append("fatal alerts: " + ", ".join(
            "%s %s x%d" % (a["desc"], a["dir"], a["count"]) for a in fatal[:6]))
    else:
        parts.append("no fatal alerts")
    for g in doc["loops"]:
        if g["kind"] == "reconnect":
            parts.append("RECONNECT LOOP to %s (%s connections, %s failing, last alert %s)"
                         % (g.get("peer_label") or g["peer"] or "an unknown peer",
                            g["connections"], g["connections_failed"],
                            g["last_alert"]))
        else:
            parts.append("RENEGOTIATION LOOP on conn %s (%d handshakes)" % (g["conn"],
                                                                          g["count"]))
    if s["misuse"]:
        parts.append("%d misuse event%s (SSL shared by threads or after fork)"
                     % (s["misuse"], "" if s["misuse"] == 1 else "s"))
    text = "; ".join(parts) + "."
    for f in doc["failures"][:3]:
        if not f["other_end_of"]:
            text += "\nsslshim: [%d] %s: %s (x%d)" % (f["id"], f["endpoint"], f["title"],
                                                      f["count"])
    if doc["problem_count"]:
        text += "\nsslshim: %d unreadable log lines skipped" % doc["problem_count"]
    return text
