#!/usr/bin/env python3
"""make check-faults: failures inside the shim never change the program.

The shim's own system calls and allocations fail at random (or exactly the
K-th one) in build/faults/libsslshim-faults.so: the ordinary shim objects
linked with GNU ld's --wrap and tests/faults/faults.c (tests/faults/README.md).
Only the shim's calls fail; libssl's and the program's do not.  Real workloads
run first without any shim, then with the fault shim preloaded at several
seeds, rates and function classes, under several shim settings.  Each run
must keep:
  - the program's exit status and stdout (normalized: ports, thread order);
  - its stderr, apart from whole `sslshim: ...` warning lines, at most one
    per process (DESIGN.md rule 3);
  - no crash and no hang (bounded time; a hung run's threads are shown with
    gdb, a crashed one's core with gdb);
  - whole lines in every log: each line of every log file (rotated ones
    included), of a FIFO log and of the key log ends with a newline and is
    one valid JSON object (key log: one NSS key log line); each syslog
    datagram is one syslog(3) header and one JSON object.  A line may be
    missing, never cut;
  - no descriptor left open on the log files at exit beyond the log and the
    key log (a shim that forgets a descriptor it holds leaks one per fault);
  - under Valgrind (a few runs), no memcheck error in the shim.
The errno_probe workload also prints errno, SSL_get_error and the error
queue after every OpenSSL call, so a shim that leaks its own failure into the
program's errno or error queue is seen.

Usage: check_faults.py [--quick] [--seeds N] [--jobs N] [--only-workload W,...]
                       [--only-class C,...] [--no-sweep] [--no-memcheck] [--keep]
                       [--warnings-per-process N]
       check_faults.py --repro WORKLOAD SPEC [PROFILE] [--memcheck]   one run, in full
The last line is `check-faults: PASS ...` or `check-faults: FAIL ...`; the
exit status is 0 only on PASS.
"""
import argparse
import concurrent.futures
import glob
import json
import os
import re
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lib  # noqa: E402

FAULTS = os.path.join(lib.BUILD, "faults")
FAULT_SHIM = os.path.join(FAULTS, "libsslshim-faults.so")
PROBE = os.path.join(FAULTS, "errno_probe")
FAULTS_C = os.path.join(HERE, "faults", "faults.c")

CLASSES = ["io", "file", "mem", "time", "misc", "dl"]
RATES = [0.01, 0.1, 0.5, 1.0]
MEMCHECK_TIMEOUT = 120
WARNINGS_PER_PROCESS = 1  # DESIGN.md rule 3: "one warning line on stderr at most"
RUN_TIMEOUT = 25          # seconds for one workload run; a normal one takes < 2
CORE_LIMIT = 512 << 20


def fault_functions():
    """{name: class} of the functions faults.c wraps."""
    out = {}
    with open(FAULTS_C) as f:
        for line in f:
            m = re.match(r"\s*F\((\w+),\s*(\w+)\)", line)
            if m:
                out[m.group(1)] = m.group(2)
    return out


# ---- normalization ---------------------------------------------------------

ERRQ_PREFIX = re.compile(r"^[0-9A-F]{8,16}:error:")


def norm_lines(text, ports, sort):
    lines = []
    for line in text.splitlines():
        for p in ports:
            line = re.sub(r"\b%d\b" % p, "PORT", line)
        line = ERRQ_PREFIX.sub("TID:error:", line)
        lines.append(line)
    return sorted(lines) if sort else lines


def split_stderr(text):
    """(program lines, whole shim warning lines, glued: shim text inside a program line)."""
    prog, warns, glued = [], [], []
    for line in text.splitlines():
        if line.startswith("sslshim: "):
            warns.append(line)
        elif "sslshim: " in line or "sslshim:" in line:
            glued.append(line)
            prog.append(line)
        else:
            prog.append(line)
    return prog, warns, glued


# ---- log checks -------------------------------------------------------------

KEYLOG_LINE = re.compile(rb"^[A-Z0-9_]+ [0-9a-f]+ [0-9a-f]+\n$")
# syslog(3)'s form on a local socket: "<PRI>Mmm dd hh:mm:ss TAG[PID]: " and the object
SYSLOG_LINE = re.compile(rb"^<\d+>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d [^\s\[]+\[\d+\]: (\{.*\})$", re.S)


TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def check_log_file(path, problems, notes=None, ends_abruptly=False):
    with open(path, "rb") as f:
        data = f.read()
    if not data:
        return 0
    lines = data.split(b"\n")
    if lines[-1] != b"":
        what = ("%s: last line has no newline (%d bytes: %r)"
                % (os.path.basename(path), len(lines[-1]), lines[-1][:120]))
        if ends_abruptly and notes is not None:
            notes.append(what + " (the program _exit()ed while a thread was writing it)")
        else:
            problems.append(what)
    n = 0
    for i, raw in enumerate(lines[:-1], 1):
        n += 1
        try:
            obj = json.loads(raw.decode("utf-8"))
            if not isinstance(obj, dict) or "ev" not in obj or "seq" not in obj:
                raise ValueError("not an event object")
            if notes is not None and not TS.match(str(obj.get("ts"))):
                notes.append("%s:%d: ts %r is not RFC 3339 with microseconds"
                             % (os.path.basename(path), i, obj.get("ts")))
        except ValueError as e:
            problems.append("%s:%d: not one JSON event (%s): %r"
                            % (os.path.basename(path), i, e, raw[:160]))
    return n


def check_keylog(path, problems, notes=None, ends_abruptly=False):
    """Whole lines only.  The one exception is the file's end, when the
    program _exit()ed: a thread stopped between a short write and taking it
    back leaves its fragment last (no line may follow it: the writer holds
    the file's lock until its line is whole)."""
    with open(path, "rb") as f:
        data = f.read()
    lines = data.splitlines(keepends=True)
    if lines and not lines[-1].endswith(b"\n") and ends_abruptly and notes is not None:
        notes.append("%s: last line has no newline (%d bytes) (the program _exit()ed while a "
                     "thread was writing it)" % (os.path.basename(path), len(lines[-1])))
        lines.pop()
    for i, raw in enumerate(lines, 1):
        if not KEYLOG_LINE.match(raw):
            problems.append("%s:%d: not a whole key log line: %r"
                            % (os.path.basename(path), i, raw[:160]))


def check_datagrams(grams, problems):
    for i, g in enumerate(grams, 1):
        m = SYSLOG_LINE.match(g)
        try:
            if not m:
                raise ValueError("no syslog header")
            obj = json.loads(m.group(1).decode("utf-8"))
            if not isinstance(obj, dict) or "ev" not in obj:
                raise ValueError("not an event object")
        except ValueError as e:
            problems.append("syslog datagram %d: %s: %r" % (i, e, g[:160]))


class SyslogReceiver:
    """An AF_UNIX datagram socket that collects what the shim sends."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.grams = []
        self.stopping = False
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        while not self.stopping:
            try:
                self.grams.append(self.sock.recv(1 << 17))
            except socket.timeout:
                continue
            except OSError:
                break

    def close(self):
        time.sleep(0.05)
        while True:                      # what is still queued
            try:
                self.sock.settimeout(0.05)
                self.grams.append(self.sock.recv(1 << 17))
            except (socket.timeout, OSError):
                break
        self.stopping = True
        self.t.join(2)
        self.sock.close()
        return self.grams


class FifoReader:
    """A FIFO the shim logs into (SSLSHIM_LOG=<fifo>), read as it comes."""

    def __init__(self, path):
        self.path = path
        os.mkfifo(path, 0o600)
        self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self.data = bytearray()
        self.stopping = False
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _drain(self):
        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return
            if not chunk:
                return
            self.data += chunk

    def _loop(self):
        import select
        while not self.stopping:
            select.select([self.fd], [], [], 0.1)
            self._drain()
            time.sleep(0.01)          # a reader that is not always there at once

    def close(self):
        self.stopping = True
        self.t.join(2)
        self._drain()
        os.close(self.fd)
        os.unlink(self.path)
        return bytes(self.data)


# ---- processes --------------------------------------------------------------

def session_pids(pgid):
    pids = []
    for d in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                pids.append(int(d.split("/")[2]))
        except (OSError, IndexError, ValueError):
            pass
    return sorted(pids)


def gdb_attach_all(pgid):
    out = []
    for pid in session_pids(pgid):
        r = subprocess.run(["gdb", "-q", "-batch", "-p", str(pid), "-ex", "set pagination off",
                            "-ex", "thread apply all bt 30"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True, timeout=60,
                           env=lib.plain_env(), stdin=subprocess.DEVNULL)
        out.append("--- pid %d\n%s" % (pid, gdb_trim(r.stdout)))
    return "\n".join(out)


def gdb_trim(text):
    keep = [l for l in text.splitlines()
            if l.startswith(("#", "Thread", "Program", "Core was", "---"))]
    return "\n".join(keep[:150])


def gdb_core(exe, core):
    r = subprocess.run(["gdb", "-q", "-batch", "-ex", "set pagination off",
                        "-ex", "thread apply all bt 30", exe, core], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True, timeout=120,
                       env=lib.plain_env(), stdin=subprocess.DEVNULL)
    return gdb_trim(r.stdout)


def allow_core():
    resource.setrlimit(resource.RLIMIT_CORE, (CORE_LIMIT, CORE_LIMIT))


def start(cmd, env, cwd, stdin_data=None):
    p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.PIPE if stdin_data is not None else subprocess.DEVNULL,
                         start_new_session=True, preexec_fn=allow_core)
    return p


def finish(p, timeout, stdin_data=None):
    """(rc, stdout, stderr, hang backtrace or None)."""
    try:
        out, err = p.communicate(stdin_data, timeout=timeout)
        return p.returncode, text(out), text(err), None
    except subprocess.TimeoutExpired:
        bt = gdb_attach_all(p.pid)
        kill_session(p)
        out, err = p.communicate()
        return "timeout", text(out), text(err), bt


def text(b):
    return (b or b"").decode(errors="replace")


def kill_session(p):
    """Stop the process we started and whatever it forked (its session, by id)."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# ---- the environment: servers and workloads ----------------------------------

class World:
    """Servers shared by all runs (plain, no shim) and the certificates."""

    def __init__(self, root):
        self.root = root
        self.c = lib.certs()
        self.procs = []
        env = lib.plain_env()
        self.tls = lib.Proc([lib.fixture("tls_server"), "--port", "0", "--threads", "--conns",
                             "0", "--allow-reneg", "--timeout", "0", "--cert",
                             self.c["server.pem"], "--key", self.c["server.key"]], env=env)
        self.procs.append(self.tls)
        self.tls_port = int(self.tls.wait_for(r"PORT (\d+)").group(1))
        self.www = os.path.join(root, "www")
        os.makedirs(self.www)
        with open(os.path.join(self.www, "hello.txt"), "w") as f:
            f.write("hello from s_server -WWW\n" * 40)
        self.ssl_ports = []
        for _ in range(2):              # s_server serves one connection at a time
            p = lib.Proc(["openssl", "s_server", "-accept", "127.0.0.1:0", "-WWW", "-cert",
                          self.c["server.pem"], "-key", self.c["server.key"]], env=env,
                         cwd=self.www)
            self.procs.append(p)
            self.ssl_ports.append(int(p.wait_for(r"ACCEPT 127\.0\.0\.1:(\d+)").group(1)))

    def stop(self):
        for p in self.procs:
            p.stop()


class Workload:
    name = ""
    sort = False
    processes = 1           # processes that may each warn once on stderr
    timeout = RUN_TIMEOUT
    expect_rc = (0,)        # exit status of each program without the shim
    # The program ends with _exit() while other threads may be inside the
    # shim: a thread killed between the writes of one line (a short write
    # injected, then the rest) leaves that line cut, as SIGKILL would.  Only
    # the last line of a file may then be cut (a note, not a problem).
    ends_abruptly = False

    def __init__(self, world):
        self.w = world

    def ports(self, ctx):
        return [self.w.tls_port] + self.w.ssl_ports + ctx.get("ports", [])

    def run(self, env, cwd, ctx):
        """[(label, exe, rc, stdout, stderr, hang_bt)] of the programs that got env."""
        raise NotImplementedError


class ClientWorkload(Workload):
    def __init__(self, world, name, args, sort=False, processes=1, expect_rc=(0,)):
        super().__init__(world)
        self.name, self.args, self.sort, self.processes = name, args, sort, processes
        self.expect_rc = expect_rc

    def cmd(self, ctx):
        c = self.w.c
        args = [a.format(ca=c["ca.pem"], untrusted=c["untrusted.pem"]) for a in self.args]
        return [lib.fixture("tls_client"), "--port", str(self.w.tls_port), "--timeout", "0"] + args

    def run(self, env, cwd, ctx):
        cmd = self.cmd(ctx)
        rc, out, err, bt = finish(start(ctx.get("prefix", []) + cmd, env, cwd),
                                  ctx.get("timeout", self.timeout))
        return [("tls_client", cmd, rc, out, err, bt)]


class HarmWorkload(Workload):
    """A fixture of tests/fixtures/harm_*.c, when it is built."""

    def __init__(self, world, name, prog, args, sort=False, processes=1, ends_abruptly=False):
        super().__init__(world)
        self.name, self.prog, self.args = name, prog, args
        self.sort, self.processes = sort, processes
        self.ends_abruptly = ends_abruptly

    def run(self, env, cwd, ctx):
        cmd = [lib.fixture(self.prog), "--port", str(self.w.tls_port), "--cafile",
               self.w.c["ca.pem"], "--timeout", "0"] + self.args
        rc, out, err, bt = finish(start(ctx.get("prefix", []) + cmd, env, cwd),
                                  ctx.get("timeout", self.timeout))
        return [(self.prog, cmd, rc, out, err, bt)]


class ProbeWorkload(Workload):
    name = "errno_probe"

    def run(self, env, cwd, ctx):
        c = self.w.c
        cmd = [PROBE, "--port", str(self.w.tls_port), "--cafile", c["ca.pem"], "--bad-cafile",
               c["untrusted.pem"], "--rounds", "3"]
        rc, out, err, bt = finish(start(ctx.get("prefix", []) + cmd, env, cwd),
                                  ctx.get("timeout", self.timeout))
        return [("errno_probe", cmd, rc, out, err, bt)]


class ServerWorkload(Workload):
    """tls_server gets the shim; a plain tls_client drives it."""
    name = "server"
    sort = True

    def run(self, env, cwd, ctx):
        c = self.w.c
        conns = 9
        scmd = [lib.fixture("tls_server"), "--port", "0", "--threads", "--conns", str(conns),
                "--timeout", "0", "--cert", c["server.pem"], "--key", c["server.key"]]
        outpath = os.path.join(cwd, "server.out")
        with open(outpath, "wb") as so:
            sp = subprocess.Popen(scmd, env=env, cwd=cwd, stdout=so, stderr=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL, start_new_session=True,
                                  preexec_fn=allow_core)
        port = None
        deadline = time.time() + 10
        while time.time() < deadline and port is None and sp.poll() is None:
            with open(outpath, "rb") as f:
                m = re.search(rb"PORT (\d+)\n", f.read())
            if m:
                port = int(m.group(1))
            else:
                time.sleep(0.01)

        def server_result():
            rc, _, err, bt = finish(sp, self.timeout)
            with open(outpath, "rb") as f:
                out = f.read().decode(errors="replace")
            return ("tls_server", scmd, rc, out, err, bt)
        if port is None:
            return [server_result()]
        ctx.setdefault("ports", []).append(port)
        ccmd = [lib.fixture("tls_client"), "--port", str(port), "--cafile", c["ca.pem"],
                "--threads", "3", "--count", "3", "--send", "to the server under faults"]
        cp = start(ccmd, lib.plain_env(), cwd)
        crc, cout, cerr, cbt = finish(cp, self.timeout)
        return [server_result(), ("tls_client(plain)", ccmd, crc, cout, cerr, cbt)]


class OpensslWorkload(Workload):
    """openssl s_client fetching a file from a plain openssl s_server -WWW."""
    name = "s_client"

    def run(self, env, cwd, ctx):
        port = self.w.ssl_ports[ctx["slot"] % len(self.w.ssl_ports)]
        cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-CAfile",
               self.w.c["ca.pem"], "-servername", "localhost", "-quiet",
               "-verify_return_error", "-ign_eof"]
        p = start(cmd, env, cwd, stdin_data=True)
        rc, out, err, bt = finish(p, self.timeout, b"GET /hello.txt HTTP/1.0\r\n\r\n")
        return [("openssl", cmd, rc, out, err, bt)]


class CurlWorkload(Workload):
    """curl fetching twice from s_server -WWW, then failing to verify it."""
    name = "curl"
    expect_rc = (0, 60)

    def run(self, env, cwd, ctx):
        port = self.w.ssl_ports[ctx["slot"] % len(self.w.ssl_ports)]
        url = "https://localhost:%d/hello.txt" % port
        res = []
        for ca in ("ca.pem", "untrusted.pem"):
            cmd = ["curl", "-sS", "--max-time", "15", "--cacert", self.w.c[ca], url, url]
            rc, out, err, bt = finish(start(cmd, env, cwd), self.timeout)
            res.append(("curl " + ca, cmd, rc, out, err, bt))
        return res


def workloads(world):
    send = ["--send", "fault injection payload 0123456789"]
    return [
        ClientWorkload(world, "count", ["--cafile", "{ca}", "--count", "6"] + send),
        ClientWorkload(world, "threads", ["--cafile", "{ca}", "--threads", "4", "--count", "5"]
                       + send, sort=True),
        ClientWorkload(world, "untrusted", ["--cafile", "{untrusted}", "--retry", "6",
                                            "--delay-ms", "0"], expect_rc=(1,)),
        ClientWorkload(world, "fork", ["--cafile", "{ca}", "--fork"] + send, sort=True,
                       processes=2),
        ClientWorkload(world, "reneg", ["--cafile", "{ca}", "--reneg", "3"] + send),
        ProbeWorkload(world),
        ServerWorkload(world),
        OpensslWorkload(world),
        CurlWorkload(world),
    ] + [w for w in (
        # fork() between 3 threads' handshakes; each child handshakes too
        HarmWorkload(world, "fork-threads", "harm_fork", ["--threads", "3", "--forks", "5"],
                     processes=6, ends_abruptly=True),   # _exit() with the workers running
        # fork() while 3 threads are anywhere in OpenSSL and the shim; the
        # children exit() (the shim's fork handlers and exit under faults)
        HarmWorkload(world, "fork-exit", "harm_fork", ["--threads", "3", "--forks", "8",
                                                       "--child", "exit"],
                     processes=9, ends_abruptly=True),
        # exit() while 4 threads create, handshake and free SSL objects
        HarmWorkload(world, "exit-race", "harm_exit_race", ["--threads", "4", "--after-ms",
                                                            "200"]),
    ) if os.path.exists(lib.fixture(w.prog))]


# ---- shim settings ------------------------------------------------------------

PROFILES = ["default", "verbose", "flight", "syslog", "fifo"]


def profile_env(profile, logdir, rundir):
    env = {"SSLSHIM_LOG": logdir + "/"}
    if profile == "verbose":
        env.update(SSLSHIM_LEVEL="data", SSLSHIM_STACKS="all", SSLSHIM_MAX_SIZE="24K",
                   SSLSHIM_MAX_FILES="2", SSLSHIM_KEYLOG=os.path.join(rundir, "logs.keys.log"))
    elif profile == "flight":
        env.update(SSLSHIM_MODE="flight", SSLSHIM_LEVEL="io", SSLSHIM_FLIGHT_EVENTS="16",
                   SSLSHIM_STACKS="handshake")
    elif profile == "syslog":
        env["SSLSHIM_LOG"] = "syslog:user:sslshim:" + os.path.join(rundir, "log.sock")
    elif profile == "fifo":
        env["SSLSHIM_LOG"] = os.path.join(logdir, "fifo.jsonl")
    return env


# ---- one run -----------------------------------------------------------------

class Run:
    def __init__(self, workload, spec, profile, label=None, memcheck=False):
        self.workload, self.spec, self.profile = workload, spec, profile
        self.memcheck = memcheck
        self.label = label or spec
        self.problems = []
        self.notes = []
        self.details = []
        self.stats = {}
        self.seconds = 0.0

    def title(self):
        return "%s [%s%s] %s" % (self.workload.name, self.profile,
                                 ", memcheck" if self.memcheck else "", self.label)


def read_stats(d):
    """Sum of the counters of every process's DIR/faults.<pid>."""
    names = list(fault_functions())
    calls, faults, eligible, injected, fds = {}, {}, 0, 0, 0
    n = len(names)
    for path in glob.glob(os.path.join(d, "faults.*")):
        with open(path, "rb") as f:
            data = f.read()
        if data[:8] != b"sslfault":
            continue
        ver, nf = struct.unpack_from("<II", data, 8)
        if nf != n:
            continue
        e, i = struct.unpack_from("<QQ", data, 16)
        eligible += e
        injected += i
        c = struct.unpack_from("<%dQ" % n, data, 32)
        fl = struct.unpack_from("<%dQ" % n, data, 32 + 8 * n)
        for k, name in enumerate(names):
            calls[name] = calls.get(name, 0) + c[k]
            faults[name] = faults.get(name, 0) + fl[k]
        off = 32 + 16 * n + 24 * n
        if len(data) >= off + 8:
            fds = max(fds, struct.unpack_from("<Q", data, off)[0])
    return {"eligible": eligible, "injected": injected, "calls": calls, "faults": faults,
            "log_fds": fds}


def execute(run, baseline, root, slot, shim=FAULT_SHIM):
    """Run one configuration and compare it with the baseline."""
    t0 = time.time()
    rundir = tempfile.mkdtemp(prefix="run-", dir=root)
    logdir = os.path.join(rundir, "logs")
    statdir = os.path.join(rundir, "stats")
    os.makedirs(statdir)
    env = lib.plain_env()
    env["LD_PRELOAD"] = shim
    env.update(profile_env(run.profile, logdir, rundir))
    spec = ",".join(x for x in (run.spec, "stats=" + statdir, "fdcheck=" + logdir,  # and logs.keys.log
                                "log=" + os.path.join(rundir, "faults.log")) if x)
    env["SSLSHIM_TEST_FAULTS"] = spec
    run.env = {k: v for k, v in env.items() if k.startswith("SSLSHIM_") or k == "LD_PRELOAD"}
    receiver = SyslogReceiver(os.path.join(rundir, "log.sock")) if run.profile == "syslog" else None
    fifo = None
    if run.profile == "fifo":
        os.makedirs(logdir)
        fifo = FifoReader(os.path.join(logdir, "fifo.jsonl"))
    ctx = {"slot": slot}
    if run.memcheck:
        env["SSLSHIM_VALGRIND"] = "off"     # the shim's own Valgrind mode is another test
        ctx["prefix"] = ["valgrind", "-q", "--track-origins=yes",
                         "--num-callers=24", "--log-file=" + os.path.join(rundir, "vg.%p")]
        ctx["timeout"] = MEMCHECK_TIMEOUT
    try:
        results = run.workload.run(env, rundir, ctx)
    finally:
        grams = receiver.close() if receiver else []
        if fifo:
            with open(os.path.join(rundir, "fifo-read.jsonl"), "wb") as f:
                f.write(fifo.close())
    run.stats = read_stats(statdir)
    max_fds = 2 if "SSLSHIM_KEYLOG" in env else 1
    if run.stats.get("log_fds", 0) > max_fds:
        run.problems.append("descriptors leaked: a process still had %d descriptors open on "
                            "its log files at exit (at most %d: the log%s)"
                            % (run.stats["log_fds"], max_fds,
                               " and the key log" if max_fds == 2 else ""))
    if run.memcheck:
        check_memcheck(run, rundir)
    compare(run, results, baseline, ctx, rundir)
    # Logs: whole lines only.
    nlines = 0
    for path in sorted(glob.glob(os.path.join(logdir, "*")) +
                       glob.glob(os.path.join(rundir, "fifo-read.jsonl"))):
        if os.path.isfile(path):
            nlines += check_log_file(path, run.problems, run.notes,
                                     ends_abruptly=run.workload.ends_abruptly)
    keylog = os.path.join(rundir, "logs.keys.log")
    if os.path.exists(keylog):
        check_keylog(keylog, run.problems, run.notes, ends_abruptly=run.workload.ends_abruptly)
    check_datagrams(grams, run.problems)
    run.lines = nlines + len(grams)
    run.seconds = time.time() - t0
    if run.problems:
        fl = os.path.join(rundir, "faults.log")
        if os.path.exists(fl):
            with open(fl) as f:
                injected = f.read().splitlines()
            run.details.append("faults injected (%d; pid tid n function errno): %s"
                               % (len(injected), "; ".join(injected[:12])
                                  + (" ..." if len(injected) > 12 else "")))
        run.rundir = rundir
    else:
        shutil.rmtree(rundir, ignore_errors=True)
    return run


SHIM_SOURCES = set(os.path.basename(p) for p in glob.glob(os.path.join(lib.ROOT, "shim", "*.[ch]")))


def check_memcheck(run, rundir):
    """Valgrind's errors: those with a frame in the shim's sources are the
    shim's; others are reported as they are.  One problem per distinct error."""
    seen = set()
    for path in sorted(glob.glob(os.path.join(rundir, "vg.*"))):
        with open(path, errors="replace") as f:
            text = f.read()
        for b in re.split(r"\n==\d+== \n", text):
            lines = [re.sub(r"^==\d+== ", "", l) for l in b.splitlines()
                     if re.match(r"^==\d+== ", l)]
            lines = [l for l in lines if l.strip()]
            if not lines:
                continue
            frames = re.findall(r"(?:at|by) 0x[0-9A-F]+: (\S+) \((\w+\.[ch]):(\d+)\)", b)
            shim = [f for f in frames if f[1] in SHIM_SOURCES]
            whose = "in the shim" if shim else "outside the shim"
            where = " at %s (%s:%s)" % shim[0] if shim else ""
            origin = re.search(r"created by a (?:stack|heap) allocation\s*\n==\d+==\s+at 0x[0-9A-F]+: "
                               r"(\S+) \((\w+\.[ch]:\d+)\)", b)
            msg = "memcheck %s: %s%s%s" % (whose, lines[0], where,
                                           "; uninitialised by %s (%s)" % origin.groups()
                                           if origin else "")
            if msg in seen:
                continue
            seen.add(msg)
            run.problems.append(msg)
            run.details.append("valgrind:\n" + "\n".join(lines[:24]))


def compare(run, results, baseline, ctx, rundir):
    ports = run.workload.ports(ctx) + baseline["ports"]
    for (label, cmd, rc, out, err, bt), (_, _, brc, bout, berr) in zip(results, baseline["res"]):
        exe = cmd[0]
        run.cmd = cmd
        if rc == "timeout":
            run.problems.append("%s hung (no exit within %d s)" % (label, run.workload.timeout))
            run.details.append("gdb, all threads of the hung processes:\n" + bt)
            continue
        if rc < 0 or rc in (128 + 6, 128 + 11):
            sig = -rc if rc < 0 else rc - 128
            run.problems.append("%s crashed: signal %d (%s)" % (label, sig,
                                                               signal.Signals(sig).name))
        cores = glob.glob(os.path.join(rundir, "core*"))
        for core in cores:
            run.problems.append("%s left a core dump (a process of it crashed)" % label)
            run.details.append("gdb backtrace from %s:\n%s" % (core, gdb_core(
                shutil.which(exe) or exe, core)))
            os.rename(core, core + ".seen")
        if rc != brc:
            run.problems.append("%s exit status %s, without the shim %s" % (label, rc, brc))
        sort = run.workload.sort
        o, bo = norm_lines(out, ports, sort), norm_lines(bout, ports, sort)
        if o != bo:
            run.problems.append("%s stdout differs from the run without the shim" % label)
            run.details.append("stdout diff (%s):\n%s" % (label, diff(bo, o)))
        prog, warns, glued = split_stderr(err)
        bprog, _, _ = split_stderr(berr)
        e, be = norm_lines("\n".join(prog), ports, True), norm_lines("\n".join(bprog), ports, True)
        if e != be:
            missing = list(be)
            for line in e:
                if line in missing:
                    missing.remove(line)
            inside = [m for m in missing if m and any(m in w for w in warns + glued)]
            if inside or glued:
                run.problems.append("%s: a shim warning on stderr was cut short and the program's "
                                    "own stderr output ran into it: %r"
                                    % (label, (glued or [w for w in warns
                                                         if any(m in w for m in inside)])[:2]))
            else:
                run.problems.append("%s stderr differs from the run without the shim" % label)
            run.details.append("stderr diff (%s):\n%s" % (label, diff(be, e)))
        if len(warns) > run.workload.processes * WARNINGS_PER_PROCESS:
            run.problems.append("%s: %d shim warning lines on stderr (at most one per process): %s"
                                % (label, len(warns), " | ".join(warns[:4])))
        run.warnings = getattr(run, "warnings", []) + warns


KINDS = [
    (r"hung", "hang"),
    (r"crashed|core dump", "crash"),
    (r"exit status|stdout differs", "program result changed (exit status or stdout)"),
    (r"ran into it", "shim warning cut short: program stderr ran into it"),
    (r"stderr differs", "program stderr changed"),
    (r"warning lines on stderr", "more than one shim warning line per process"),
    (r"key log line", "partial key log line"),
    (r"jsonl.*(no newline|not one JSON)", "partial or invalid log line"),
    (r"syslog datagram", "invalid syslog datagram"),
    (r"no log lines", "the shim recorded nothing without faults"),
    (r"descriptors leaked", "descriptors leaked (open on the log files at exit)"),
    (r"memcheck in the shim", "memcheck: invalid or uninitialised memory use in the shim"),
    (r"memcheck outside", "memcheck: error outside the shim"),
]


def kind_of(problem):
    for rx, kind in KINDS:
        if re.search(rx, problem):
            return kind
    return problem[:60]


def diff(a, b):
    import difflib
    d = list(difflib.unified_diff(a, b, "without shim", "with fault shim", lineterm="", n=1))
    return "\n".join(d[:40])


# ---- the plan ----------------------------------------------------------------

def seed_for(*parts):
    return zlib.crc32(repr(parts).encode()) % 100000 + 1


def plan(wls, args):
    """Every workload x class x rate (x seeds), each under one of the shim
    settings (spread by a hash, so that each class meets each setting across
    the workloads), plus everything at once."""
    runs = []
    classes = args.only_class or CLASSES
    for w in wls:
        for cls in classes:
            for rate in RATES:
                for s in range(args.seeds):
                    seed = seed_for(w.name, cls, rate, s)
                    profile = PROFILES[seed % len(PROFILES)]
                    runs.append(Run(w, "seed=%d,rate=%g,only=%s" % (seed, rate, cls), profile))
        if not args.only_class:
            # A short write whose take-back fails too (fstat: ESTALE, EIO;
            # ftruncate: EPERM on an append-only file); then every class at once.
            for rate, only, extra in ((0.5, "io:file", ""), (0.5, "write:ftruncate", ""),
                                      (0.1, "all", ",mix=1"), (0.5, "all", "")):
                seed = seed_for(w.name, only, rate)
                runs.append(Run(w, "seed=%d,rate=%g,only=%s%s" % (seed, rate, only, extra),
                                PROFILES[seed % len(PROFILES)]))
    return runs


def memcheck_runs(wls, args):
    """A few runs under Valgrind's memcheck: the shim's error paths must not
    read uninitialised or freed memory even when nothing crashes."""
    runs = []
    for w in wls:
        if w.name not in ("count", "untrusted"):
            continue
        for only in ("time", "mem", "file", "io:misc"):
            seed = seed_for(w.name, only, "memcheck")
            runs.append(Run(w, "seed=%d,rate=0.5,only=%s" % (seed, only),
                            PROFILES[seed % 3], memcheck=True))
    return runs


def sweep_runs(world, wls, args):
    """Single-threaded workloads, exactly reproducible:
    nth=K      only the K-th of all the shim's calls fails (each setting's own
               count of calls, from a clean run);
    from=K     a resource runs out for good at the K-th call of its class:
               io (the disk fills up), mem (memory), file (descriptors)."""
    runs = []
    by_name = {w.name: w for w in wls}
    funcs = fault_functions()
    n_nth = 12 if args.quick else 25
    n_from = 4 if args.quick else 8
    for name in ("count", "untrusted", "errno_probe"):
        w = by_name.get(name)
        if not w:
            continue
        for profile in ("default", "verbose", "flight"):
            probe = execute(Run(w, "", profile, "count calls"), world.baseline[name],
                            world.root, 0)
            n = probe.stats.get("eligible", 0)
            for k in spread(n, n_nth):
                runs.append(Run(w, "nth=%d" % k, profile))
            if profile != "default":
                continue
            for cls in ("io", "mem", "file"):
                n_c = sum(c for f, c in probe.stats.get("calls", {}).items() if funcs[f] == cls)
                for k in spread(n_c, n_from):
                    runs.append(Run(w, "only=%s,from=%d" % (cls, k), PROFILES[k % 3]))
    return runs


def spread(n, points):
    """About `points` call numbers from 1 to n, the first ones always."""
    if n <= 0:
        return []
    step = max(1, n // points)
    return sorted(set([1, 2, 3][:n] + list(range(1, n + 1, step))))


def take_baseline(world, wls):
    """Each workload twice without any shim: the reference, and proof that the
    normalized output does not vary by itself."""
    base = {}
    broken = []
    for w in wls:
        got = []
        for attempt in range(2):
            rundir = tempfile.mkdtemp(prefix="base-", dir=world.root)
            ctx = {"slot": attempt}
            res = w.run(lib.plain_env(), rundir, ctx)
            ports = w.ports(ctx)
            got.append((ports, res))
        (p1, r1), (p2, r2) = got
        ports = sorted(set(p1 + p2))
        same = all(a[2] == b[2] and norm_lines(a[3], ports, w.sort) == norm_lines(b[3], ports, w.sort)
                   and a[2] != "timeout" for a, b in zip(r1, r2))
        want = list(w.expect_rc) + [w.expect_rc[-1]] * (len(r1) - len(w.expect_rc))
        if not same:
            broken.append("%s (output varies)" % w.name)
        elif [r[2] for r in r1] != want[:len(r1)]:
            broken.append("%s (exit status %s without the shim, expected %s; stderr: %s)"
                          % (w.name, [r[2] for r in r1], want[:len(r1)],
                             r1[0][4].strip()[-200:]))
        base[w.name] = {"ports": ports, "res": [(l, c, rc, o, e) for l, c, rc, o, e, _ in r1]}
    return base, broken


def unwrapped_calls():
    """libc functions the shim's objects call that faults.c does not wrap and
    that can fail (informational: add them to faults.c)."""
    objs = glob.glob(os.path.join(lib.BUILD, "shim", "*.o"))
    if not objs:
        return []
    und = subprocess.run(["nm", "-u"] + objs, stdout=subprocess.PIPE,
                         universal_newlines=True).stdout.split()
    defined = subprocess.run(["nm", "--defined-only"] + objs, stdout=subprocess.PIPE,
                             universal_newlines=True).stdout.split()
    ext = sorted(set(s for s in und if re.match(r"^[a-z_]\w*$", s)) - set(defined) - {"U"})
    never_fail = set("""
        __errno_location _GLOBAL_OFFSET_TABLE_ free memcmp memcpy memmove memset snprintf
        vsnprintf strchr strcmp strlen strncmp strnlen strpbrk strrchr strstr strcspn strspn
        strtoul strtoull strtol strtod strerror strerror_r strftime getpid getppid getuid
        geteuid getgid getegid getenv getauxval time syscall pthread_mutex_lock
        pthread_mutex_unlock pthread_mutex_init pthread_mutex_trylock pthread_once
        pthread_atfork pthread_self dladdr dlsym dlvsym dlclose dlerror dl_iterate_phdr
        inet_ntop program_invocation_short_name program_invocation_name sigemptyset
        sigaddset sigismember sigtimedwait __stack_chk_fail abort qsort bsearch
        __tls_get_addr memchr strncpy strcpy isatty lseek""".split())
    return [s for s in ext if s not in never_fail and s not in fault_functions()]


# ---- main ------------------------------------------------------------------------

SHOWN = {}          # kind -> runs shown in full
FULL_PER_KIND = 3


def report_run(run, full=False):
    """A failed run: in full for the first few of each kind of failure (or
    always with full=True), else one line and its repro."""
    kinds = set(kind_of(p) for p in run.problems)
    show = full or any(SHOWN.get(k, 0) < FULL_PER_KIND for k in kinds)
    for k in kinds:
        SHOWN[k] = SHOWN.get(k, 0) + 1
    repro = "python3 tests/check_faults.py --repro %s '%s' %s%s" % (
        run.workload.name, run.spec, run.profile, " --memcheck" if run.memcheck else "")
    if not show:
        print("FAIL %s: %s; repro: %s" % (run.title(), "; ".join(sorted(kinds)), repro))
        sys.stdout.flush()
        return
    print("FAIL %s  (%.1fs)" % (run.title(), run.seconds))
    for p in run.problems[:12]:
        print("     - " + p)
    if len(run.problems) > 12:
        print("     - ... %d more" % (len(run.problems) - 12))
    for d in run.details[:6]:
        print("       " + d.replace("\n", "\n       ")[:6000])
    print("     repro: " + repro)
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer sweep points")
    ap.add_argument("--seeds", type=int, default=1, help="seeds per workload, class and rate")
    ap.add_argument("--jobs", type=int, default=max(2, os.cpu_count() or 2))
    ap.add_argument("--only-workload", type=lambda s: s.split(","), default=None)
    ap.add_argument("--only-class", type=lambda s: s.split(","), default=None)
    ap.add_argument("--no-sweep", action="store_true")
    ap.add_argument("--no-memcheck", action="store_true")
    ap.add_argument("--warnings-per-process", type=int, default=1,
                    help="shim warning lines allowed on stderr per process (DESIGN.md: 1)")
    ap.add_argument("--memcheck", action="store_true", help="with --repro: under Valgrind")
    ap.add_argument("--keep", action="store_true", help="keep the run directories")
    ap.add_argument("--repro", nargs="+", metavar="ARG",
                    help="WORKLOAD SPEC [PROFILE]: one run, shown in full")
    args = ap.parse_args()
    global WARNINGS_PER_PROCESS
    WARNINGS_PER_PROCESS = args.warnings_per_process

    t0 = time.time()
    for need in (FAULT_SHIM, PROBE, lib.fixture("tls_client"), lib.fixture("tls_server")):
        if not os.path.exists(need):
            print("check-faults: FAIL: %s is missing; run make check-faults" % need)
            return 2
    root = tempfile.mkdtemp(prefix="sslshim-faults-")
    world = World(root)
    failed_runs, total = [], 0
    harness_failures = []
    try:
        wls = workloads(world)
        if args.only_workload:
            wls = [w for w in wls if w.name in args.only_workload]
        world.baseline, broken = take_baseline(world, wls)
        world.root = root
        if broken:
            print("FAIL the workloads %s do not run as expected without the shim; the harness "
                  "cannot judge them" % "; ".join(broken))
            bad = set(b.split(" ")[0] for b in broken)
            wls = [w for w in wls if w.name not in bad]
            harness_failures.extend(broken)

        if args.repro:
            name, spec = args.repro[0], args.repro[1] if len(args.repro) > 1 else ""
            profile = args.repro[2] if len(args.repro) > 2 else "default"
            w = [x for x in wls if x.name == name][0]
            run = execute(Run(w, spec, profile, memcheck=args.memcheck), world.baseline[name],
                          root, 0)
            print("run directory: %s" % getattr(run, "rundir", "(removed: it passed)"))
            print("environment: %s" % " ".join("%s=%s" % kv for kv in sorted(run.env.items())))
            print("command: %s" % " ".join(run.cmd))
            print("faults injected: %d of %d eligible calls: %s" % (
                run.stats.get("injected", 0), run.stats.get("eligible", 0),
                {k: v for k, v in run.stats.get("faults", {}).items() if v}))
            if run.problems:
                report_run(run, full=True)
            print("check-faults: %s (one run)" % ("FAIL" if run.problems else "PASS"))
            args.keep = True
            return 1 if run.problems else 0

        # Sanity: without faults, the fault shim and the real shim keep the
        # programs' behaviour and log something.
        sanity = []
        for w in wls:
            for shim, label in ((FAULT_SHIM, "fault shim, no faults"),
                                (lib.SHIM, "libsslshim.so")):
                r = execute(Run(w, "", "default", label), world.baseline[w.name], root, 0,
                            shim=shim)
                total += 1
                if not r.lines and w.name != "server":
                    r.problems.append("no log lines at all: the shim did not record")
                if r.problems:
                    failed_runs.append(r)
                    report_run(r)
                sanity.append(r)
        gaps = unwrapped_calls()
        if gaps:
            print("note: the shim calls %s, which faults.c does not wrap yet" % ", ".join(gaps))

        runs = plan(wls, args)
        if not args.no_memcheck:
            runs = memcheck_runs(wls, args) + runs     # the slow ones first
        if not args.no_sweep:
            runs += sweep_runs(world, wls, args)
        injected = {}
        by_group = {}
        noted = []
        print("%d runs of %d workloads with faults (%d jobs)..." % (len(runs), len(wls), args.jobs))
        sys.stdout.flush()
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as ex:
            futs = [ex.submit(execute, r, world.baseline[r.workload.name], root, i)
                    for i, r in enumerate(runs)]
            for f in concurrent.futures.as_completed(futs):
                r = f.result()
                total += 1
                for fn, n in r.stats.get("faults", {}).items():
                    injected[fn] = injected.get(fn, 0) + n
                if r.notes:
                    noted.append(r)
                g = by_group.setdefault(r.workload.name, [0, 0])
                g[0] += 1
                if r.problems:
                    g[1] += 1
                    failed_runs.append(r)
                    report_run(r)
        for name, (n, bad) in sorted(by_group.items()):
            print("%-4s %-12s %3d runs, %d failed" % ("ok  " if not bad else "FAIL", name, n, bad))
        print("faults injected: " + ", ".join("%s %d" % kv for kv in sorted(injected.items()) if kv[1]))
        if noted:
            print("notes (not failures): %d runs logged lines with a malformed field, e.g. %s "
                  "in %s" % (len(noted), noted[0].notes[0], noted[0].title()))
        never = [fn for fn, n in injected.items() if not n]
        if never:
            print("never injected (the workloads do not reach them): " + ", ".join(sorted(never)))
    finally:
        world.stop()
        if not args.keep and not failed_runs:
            shutil.rmtree(root, ignore_errors=True)
    secs = time.time() - t0
    kinds = {}
    for r in failed_runs:
        for k in sorted(set(kind_of(p) for p in r.problems)):
            kinds.setdefault(k, []).append(r)
    if failed_runs:
        print("failed runs kept in %s" % root)
        print("failures by kind (runs; first example):")
        for k, rs in sorted(kinds.items(), key=lambda x: -len(x[1])):
            r = rs[0]
            print("  %-52s %4d  --repro %s '%s' %s" % (k, len(rs), r.workload.name, r.spec,
                                                      r.profile))
    if harness_failures:
        print("harness: %s" % "; ".join(harness_failures))
    if failed_runs or harness_failures:
        print("check-faults: FAIL: %d of %d runs changed the program or cut a log line%s (%.0fs)"
              % (len(failed_runs), total, ", %d workloads could not run" % len(harness_failures)
                 if harness_failures else "", secs))
        return 1
    print("check-faults: PASS: %d runs, the programs never noticed the faults (%.0fs)"
          % (total, secs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
