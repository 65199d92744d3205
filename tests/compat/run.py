#!/usr/bin/env python3
"""The OpenSSL compatibility matrix: one build of the shim, every OpenSSL.

For each version -- the system's own (3.0 on Debian 12) and those that
tests/compat/build.sh built into build/compat/<slot>/ -- with LD_LIBRARY_PATH
naming that version's lib folder, its own `openssl` binary and the test
programs compiled against it, runs what the integration tests assert for the
system OpenSSL:

  handshake_tls13, handshake_tls12   openssl s_server / s_client, both preloaded
                                      (as tests/test_openssl.py); the cipher and
                                      group are the ones s_client prints
  ems_tls12                           handshake_done.ems is what s_client prints
  keylog_tls13, keylog_tls12          SSLSHIM_KEYLOG gets what s_client's own
                                      -keylogfile gets, and that still gets it all
  bad_record_mac_tls13, _tls12       one flipped byte through corrupt_proxy
                                      (as tests/test_failures.py)
  reconnect_loop, renegotiation       the loops of tests/test_failures.py
  error_queue                         callback_check's output is the same with
                                      and without the shim (as tests/test_behaviour.py)
  error_queue_after_return            errq_probe's too, after it overwrote the stack
                                      the shim's frames used
  threads                             tls_client --threads 8 --count 40 (as
                                      tests/test_behaviour.py)
  dlopen_local                        a program without libssl dlopen()s (RTLD_LOCAL)
                                      a module linked to this version

and in every log file, that the `process` line names the run-time version
(OpenSSL_version(OPENSSL_VERSION) of the library the program loaded) and the
path of the libssl it loaded.

Then two versions in one process (build/compat/dual/<main>+<module>/): a
program linked to one libssl dlopen()s with RTLD_LOCAL a module linked to the
other and makes one connection with each; both must succeed and be logged with
their own version and libssl.

Usage: python3 tests/compat/run.py [-v] [-k SUBSTRING] [VERSION...]
  VERSION: "3.0" (the system's) or a slot of tests/compat/versions; default all.
Prints one line per check and ends with "N passed, N failed, N skipped".
Exit status 0 when nothing failed.  Standard library only.
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests"))

import lib  # noqa: E402  (tests/lib.py: certificates, processes, logs)
from lib import Proc, certs, events, logs  # noqa: E402

# build/compat, or COMPAT_DIR: see build.sh.
CACHE = os.path.abspath(os.environ.get("COMPAT_DIR") or os.path.join(ROOT, "build", "compat"))
REQUEST = b"GET / HTTP/1.0\r\n\r\n"
VERBOSE = False


# ------------------------------------------------------------------ targets

def read_versions():
    rows = []
    with open(os.environ.get("COMPAT_VERSIONS") or os.path.join(HERE, "versions")) as f:
        for line in f:
            parts = line.split()
            if line.startswith("#") or len(parts) < 4:
                continue
            rows.append(dict(zip(("slot", "release", "upstream", "soname"), parts)))
    return rows


def ldd_path(binary, env, soname_prefix):
    """Where the loader finds a library for binary, under env."""
    out = subprocess.run(["ldd", binary], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, universal_newlines=True, timeout=30).stdout
    m = re.search(r"^\s*%s\S* => (\S+)" % re.escape(soname_prefix), out, re.M)
    return os.path.realpath(m.group(1)) if m else None


def runtime_version(openssl, env):
    """OpenSSL_version(OPENSSL_VERSION) of the library `openssl` loads: the
    "(Library: …)" part of `openssl version` (3.x), else the whole line (1.1.1)."""
    out = subprocess.run([openssl, "version"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, universal_newlines=True, timeout=30).stdout
    line = out.strip().splitlines()[0] if out.strip() else ""
    m = re.search(r"\(Library: (.*)\)$", line)
    return m.group(1) if m else line


class Target:
    """One OpenSSL version: where its binaries, test programs and libssl are."""

    def __init__(self, name, prefix=None, upstream=None, status="ok", label="system"):
        self.name = name
        self.label = label
        self.status = status
        self.upstream = upstream
        if prefix is None:                       # the system's OpenSSL
            self.libdir = None
            self.openssl = shutil.which("openssl") or "/usr/bin/openssl"
            self.fixtures = os.path.join(ROOT, "build", "tests")
        else:
            self.libdir = os.path.join(prefix, "install", "lib")
            self.openssl = os.path.join(prefix, "install", "bin", "openssl")
            self.fixtures = os.path.join(prefix, "tests")
        self.version = self.libssl = None

    def extra_env(self):
        return {"LD_LIBRARY_PATH": self.libdir} if self.libdir else {}

    def plain_env(self):
        env = lib.plain_env()
        env.pop("LD_LIBRARY_PATH", None)
        env.update(self.extra_env())
        return env

    def shim_env(self, logdir, **extra):
        env = lib.shim_env(logdir, **extra)
        env.pop("LD_LIBRARY_PATH", None)
        env.update(self.extra_env())
        return env

    def fixture(self, name):
        return os.path.join(self.fixtures, name)

    def probe_program(self):
        """tests/compat/errq_probe.c, built by build.sh against this version."""
        slot = "system" if self.libdir is None else self.name
        return os.path.join(CACHE, slot, "tests", "errq_probe")

    def probe(self):
        """Fill in the expected run-time version and libssl path."""
        for f in ("tls_server", "tls_client", "corrupt_proxy", "callback_check"):
            if not os.access(self.fixture(f), os.X_OK):
                raise AssertionError("%s is not built" % self.fixture(f))
        if not os.access(self.openssl, os.X_OK):
            raise AssertionError("%s is not built" % self.openssl)
        env = self.plain_env()
        self.version = runtime_version(self.openssl, env)
        self.libssl = ldd_path(self.fixture("tls_client"), env, "libssl.so")
        s_libssl = ldd_path(self.openssl, env, "libssl.so")
        if not self.version.startswith("OpenSSL "):
            raise AssertionError("%s version: %r" % (self.openssl, self.version))
        if self.upstream and not self.version.startswith("OpenSSL " + self.upstream):
            raise AssertionError("%s runs %r, not %s" % (self.openssl, self.version, self.upstream))
        if not self.libssl or s_libssl != self.libssl:
            raise AssertionError("the fixtures load %s, %s loads %s"
                                 % (self.libssl, self.openssl, s_libssl))
        if self.libdir and not self.libssl.startswith(os.path.realpath(self.libdir) + "/"):
            raise AssertionError("the fixtures load %s, not one from %s" % (self.libssl, self.libdir))


def targets(wanted):
    out = [Target("3.0")]          # Debian 12's own OpenSSL
    for row in read_versions():
        d = os.path.join(CACHE, row["slot"])
        try:
            with open(os.path.join(d, "status")) as f:
                status = f.read().strip()
        except OSError:
            status = "fail: not built (run sh tests/compat/build.sh)"
        out.append(Target(row["slot"], d, row["upstream"], status, row["release"]))
    if wanted:
        unknown = set(wanted) - {t.name for t in out}
        if unknown:
            sys.exit("compat: unknown version(s) %s; known: %s"
                     % (", ".join(sorted(unknown)), ", ".join(t.name for t in out)))
        out = [t for t in out if t.name in wanted]
    return out


# ------------------------------------------------------------------ checks

class Check:
    """One check against one target: a temporary log folder and its processes."""

    def __init__(self, target):
        self.t = target
        self.tmp = tempfile.mkdtemp(prefix="sslshim-compat-")
        self.logdir = os.path.join(self.tmp, "logs")
        self.procs = []
        self.notes = []

    def close(self):
        for p in self.procs:
            p.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, cmd, env):
        p = Proc(cmd, env=env)
        self.procs.append(p)
        return p

    def env(self, **extra):
        return self.t.shim_env(self.logdir, **extra)

    def run(self, cmd, env, **kw):
        kw.setdefault("timeout", 120)
        r = lib.run(cmd, env=env, **kw)
        if r.returncode < 0:
            raise AssertionError("%s was killed by signal %d\n%s"
                                 % (os.path.basename(cmd[0]), -r.returncode,
                                    backtrace(cmd, env, kw.get("input"))))
        return r

    def server_exit(self, p, timeout=10):
        rc = p.wait(timeout)
        if rc < 0:
            raise AssertionError("%s was killed by signal %d; stderr: %s"
                                 % (os.path.basename(p.cmd[0]), -rc, p.errors()[-2000:]))
        return rc

    def side(self, exe):
        files = logs(self.logdir, exe)
        out = []
        for path, evs in files.items():
            assert_seq_complete(evs, path)
            self.check_process(evs[0], path)
            out.extend(evs)
        return out

    def check_process(self, proc, path):
        """The process line names the library the program really runs."""
        name = os.path.basename(path)
        eq(proc["ev"], "process", name)
        eq(proc["v"], 1, name)
        eq(proc.get("openssl"), self.t.version, "%s: process.openssl" % name)
        libssl = proc.get("libssl")
        ok(libssl, "%s: process.libssl is %r" % (name, libssl))
        eq(os.path.realpath(libssl), self.t.libssl,
           "%s: process.libssl %s" % (name, libssl))

    def all_events(self):
        out = []
        for evs in logs(self.logdir).values():
            out.extend(evs)
        return out

    def note(self, text):
        self.notes.append(text)


def eq(a, b, what=""):
    if a != b:
        raise AssertionError("%s: %r != %r" % (what, a, b) if what else "%r != %r" % (a, b))


def ok(cond, what):
    if not cond:
        raise AssertionError(what)


def assert_seq_complete(evs, path):
    seqs = [e["seq"] for e in evs]
    eq(seqs, list(range(1, len(seqs) + 1)), "seq gaps in " + os.path.basename(path))
    eq(evs[0]["ev"], "process", os.path.basename(path))


def backtrace(cmd, env, stdin_bytes=None):
    """Run cmd again under gdb, with the same environment given to the program
    only (gdb itself runs without the preload), and return its backtrace."""
    gdb = shutil.which("gdb")
    if not gdb:
        return "(no gdb for a backtrace)"
    logdir = tempfile.mkdtemp(prefix="sslshim-compat-gdb-")   # not the check's own logs
    inferior = ["%s=%s" % (k, env[k]) for k in ("LD_PRELOAD", "LD_LIBRARY_PATH",
                                                 "SSLSHIM_LEVEL", "SSLSHIM_STACKS") if k in env]
    inferior.append("SSLSHIM_LOG=%s/" % logdir)
    plain = lib.plain_env()
    plain.pop("LD_LIBRARY_PATH", None)
    g = [gdb, "-q", "-nx", "-batch", "-ex", "set pagination off",
         "-ex", "set debuginfod enabled off",
         "-ex", "set exec-wrapper env " + " ".join(inferior),
         "-ex", "run", "-ex", "bt 25", "-ex", "info sharedlibrary", "--args", *cmd]
    try:
        r = subprocess.run(g, env=plain, input=stdin_bytes or b"", stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=120)
    except subprocess.TimeoutExpired:
        return "(gdb timed out)"
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
    text = r.stdout.decode(errors="replace")
    keep = [l for l in text.splitlines()
            if re.match(r"^(#\d|Program received|Thread .* received|0x[0-9a-f]+ +0x[0-9a-f]+ +Yes.*(ssl|crypto|shim))", l)]
    return "gdb backtrace of a re-run:\n" + "\n".join("    " + l for l in keep)


# -- the handshake: openssl s_server and s_client, both preloaded ------------

def handshake(c, flag, version, ems=False):
    t = c.t
    cert = certs()
    server = c.start([t.openssl, "s_server", "-accept", "127.0.0.1:0", "-cert", cert["server.pem"],
                      "-key", cert["server.key"], "-www", "-naccept", "1", flag], c.env())
    port = int(server.wait_for(r"ACCEPT 127\.0\.0\.1:(\d+)").group(1))
    r = c.run([t.openssl, "s_client", "-connect", "127.0.0.1:%d" % port, flag,
               "-CAfile", cert["ca.pem"], "-servername", "localhost", "-ign_eof"],
              c.env(), input=REQUEST, stdin=None)
    eq(r.returncode, 0, "s_client exit status; stderr: %s" % r.stderr.decode(errors="replace")[-1500:])
    ok(b"HTTP/1.0 200 ok" in r.stdout, "s_client got no HTTP answer")
    c.server_exit(server)
    files = logs(c.logdir, "openssl")
    eq(len(files), 2, "log files of the two openssl processes: %s" % list(files))
    sides = {}
    for path, evs in files.items():
        assert_seq_complete(evs, path)
        c.check_process(evs[0], path)
        start = events(evs, "handshake_start")
        ok(start, "%s: no handshake_start" % os.path.basename(path))
        sides[start[0]["role"]] = evs
    eq(sorted(sides), ["client", "server"], "roles")
    # s_server -www of 1.1.1 closes without a close_notify (3.x sends one):
    # then s_client's last SSL_read sees the end of the stream, which the shim
    # must log as what OpenSSL reported, and the outcome is "eof".
    truncated = not events(sides["server"], "alert", dir="sent", desc="close_notify")
    if truncated:
        c.note("the server sent no close_notify")
    done = {role: check_side(evs, role, version, truncated and role == "client")
            for role, evs in sides.items()}
    cl, sv = done["client"], done["server"]
    fp = lib.sha256_fingerprint(cert["server.pem"])
    eq(cl["peer_cert"]["sha256"], fp, "client peer_cert.sha256")
    eq(sv["local_cert"]["sha256"], fp, "server local_cert.sha256")
    eq(cl["peer_cert"]["spki_sha256"], sv["local_cert"]["spki_sha256"], "spki_sha256")
    # What the handshake said, as the messages passed, the same on every library.
    for role, direction in (("client", "recv"), ("server", "sent")):
        chain = [x["chain"] for x in events(sides[role], "certs", dir=direction)]
        eq(len(chain), 1, "%s certs %s lines" % (role, direction))
        eq(chain[0][0]["sha256"], fp, "%s certs %s leaf sha256" % (role, direction))
    for role, direction in (("client", "sent"), ("server", "recv")):
        ch = events(sides[role], "hello", hs="ClientHello", dir=direction)
        eq(len(ch), 1, "%s ClientHello %s lines" % (role, direction))
        eq(ch[0].get("sni"), "localhost", "%s ClientHello sni" % role)
        ok(ch[0].get("ciphers"), "%s ClientHello without ciphers" % role)
    eq(cl["verify"]["code"], 0, "client verify.code")
    eq(cl["sni"], "localhost", "client sni")
    eq(sv["sni"], "localhost", "server sni")
    eq(cl["client_random"], sv["client_random"], "client_random of both ends")
    eq(cl["cipher"], sv["cipher"], "cipher of both ends")
    # The cipher and group are what s_client itself printed: nothing made up.
    out = r.stdout.decode(errors="replace")
    m = re.search(r"Cipher is (\S+)", out)
    ok(m, "s_client printed no cipher")
    eq(cl["cipher"], m.group(1), "handshake_done.cipher vs s_client's")
    check_group(c, cl, sv, out)
    if ems:
        m = re.search(r"Extended master secret: (yes|no)", out)
        ok(m, "s_client printed no 'Extended master secret'")
        for role, d in (("client", cl), ("server", sv)):
            eq(d.get("ems"), m.group(1) == "yes",
               "%s handshake_done.ems (s_client says 'Extended master secret: %s')"
               % (role, m.group(1)))
    c.note("%s %s group=%s" % (cl["version"], cl["cipher"], cl.get("group", "(left out)")))


def check_eof_error(evs, role):
    """The peer closed without close_notify after the data: 1.1.1 reports
    SSL_read() = 0 with SSL_ERROR_SYSCALL and errno 0 and nothing queued;
    3.x SSL_ERROR_SSL, "unexpected eof while reading"."""
    err = events(evs, "error")
    eq(len(err), 1, role + " error events")
    e = err[0]
    eq((e["fn"], e["ret"]), ("SSL_read", 0), role + " error fn/ret")
    if e["err"] == "SSL_ERROR_SYSCALL":
        eq((e["errno"], e["queue"]), (0, []), role + " EOF error errno/queue")
    else:
        eq(e["err"], "SSL_ERROR_SSL", role + " error.err")
        ok(any("unexpected eof" in (q.get("reason") or "") for q in e["queue"]),
           "%s: EOF error queue %s" % (role, e["queue"]))
    eq(e.get("eof"), True, role + " error.eof")
    return "eof"                     # one outcome name for both libraries


def check_side(evs, role, version, truncated=False):
    start = events(evs, "handshake_start")
    eq(len(start), 1, role + " handshake_start count")
    eq(start[0]["role"], role, "role")
    eq(start[0]["n"], 1, role + " handshake n")
    ok(re.match(r"^127\.0\.0\.1:\d+$", start[0]["peer"] or ""), "%s peer %r" % (role, start[0]["peer"]))
    ok(len(events(evs, "state")) > 3, role + ": fewer than 4 state events")
    msgs = [(m["dir"], m.get("hs")) for m in events(evs, "msg", type="handshake")]
    for want in (("sent" if role == "client" else "recv", "ClientHello"),
                 ("recv" if role == "client" else "sent", "ServerHello"),
                 ("sent", "Finished"), ("recv", "Finished")):
        ok(want in msgs, "%s: no %s %s in %s" % (role, want[0], want[1], msgs))
    done = events(evs, "handshake_done")
    eq(len(done), 1, role + " handshake_done count")
    d = done[0]
    eq(d["version"], version, role + " handshake_done.version")
    ok(d["cipher"], role + ": no cipher")
    ok(re.match(r"^[0-9a-f]{64}$", d["client_random"] or ""), role + " client_random")
    end = events(evs, "conn_end")
    eq(len(end), 1, role + " conn_end count")
    ok(end[0]["app_data"], "%s conn_end.app_data: %s" % (role, end[0]))
    eq(end[0]["outcome"], check_eof_error(evs, role) if truncated else "ok",
       role + " conn_end.outcome")
    eq(end[0]["client_random"], d["client_random"], role + " conn_end.client_random")
    return d


def check_group(c, cl, sv, s_client_out):
    """`group` where the library can name it, left out where it cannot
    (1.1.1 has neither SSL_get0_group_name nor SSL_group_to_name); when given,
    it is the group s_client reports."""
    for role, d in (("client", cl), ("server", sv)):
        g = d.get("group", "absent")
        if c.t.version.startswith("OpenSSL 1."):
            eq(g, "absent", role + " handshake_done.group on 1.1.1 (no API names it)")
            continue
        ok(isinstance(g, str) and g, "%s handshake_done.group is %r" % (role, g))
        shown = re.search(r"(?:Negotiated TLS1\.3 group|Server Temp Key|Peer Temp Key): (.*)",
                          s_client_out)
        ok(shown, "s_client printed no group")
        aliases = {"prime256v1": "p-256", "secp384r1": "p-384", "secp521r1": "p-521"}
        names = {g.lower(), aliases.get(g.lower(), g.lower())}
        ok(any(n in shown.group(1).lower() for n in names),
           "%s handshake_done.group %r, s_client says %r" % (role, g, shown.group(0)))


# -- the key log: SSL_CTX_set_keylog_callback (1.1.1+), chained -----------------

def keylog(c, flag):
    """SSLSHIM_KEYLOG gets the secrets of the connection while s_client's own
    -keylogfile (the program's callback) still gets every line it gets
    without the shim."""
    t = c.t
    cert = certs()
    files = []
    for shim in (False, True):
        server = c.start([t.openssl, "s_server", "-accept", "127.0.0.1:0", "-cert",
                          cert["server.pem"], "-key", cert["server.key"], "-www", "-naccept", "1",
                          flag], t.plain_env())
        port = int(server.wait_for(r"ACCEPT 127\.0\.0\.1:(\d+)").group(1))
        app = os.path.join(c.tmp, "app-%d.keys" % shim)
        shim_keys = os.path.join(c.tmp, "shim.keys")
        env = c.env(SSLSHIM_KEYLOG=shim_keys) if shim else t.plain_env()
        r = c.run([t.openssl, "s_client", "-connect", "127.0.0.1:%d" % port, flag, "-CAfile",
                   cert["ca.pem"], "-servername", "localhost", "-ign_eof", "-keylogfile", app],
                  env, input=REQUEST, stdin=None)
        eq(r.returncode, 0, "s_client exit status; stderr: %s"
           % r.stderr.decode(errors="replace")[-1500:])
        c.server_exit(server)
        with open(app) as f:
            files.append([l.split()[0] for l in f if l.strip() and not l.startswith("#")])
    plain_labels, app_labels = files
    ok(plain_labels, "s_client's own key log is empty")
    eq(app_labels, plain_labels, "the labels s_client's own -keylogfile got, with the shim")
    shim_keys = os.path.join(c.tmp, "shim.keys")
    ok(os.path.exists(shim_keys), "SSLSHIM_KEYLOG was not written")
    eq(oct(os.stat(shim_keys).st_mode & 0o777), "0o600", "SSLSHIM_KEYLOG mode")
    with open(shim_keys) as f:
        shim_lines = [l.rstrip("\n") for l in f if l.strip()]
    with open(os.path.join(c.tmp, "app-1.keys")) as f:
        app_lines = [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#")]
    eq(sorted(shim_lines), sorted(app_lines), "SSLSHIM_KEYLOG lines vs s_client's -keylogfile")
    done = events(c.all_events(), "handshake_done")
    eq(len(done), 1, "handshake_done count")
    randoms = {l.split()[1] for l in shim_lines}
    eq({x.lower() for x in randoms}, {done[0]["client_random"]},
       "the key log's client random vs handshake_done.client_random")
    c.note("%d lines: %s" % (len(shim_lines), sorted({l.split()[0] for l in shim_lines})))


# -- bad_record_mac through the corrupting proxy ------------------------------

def corrupted(c, version):
    t = c.t
    cert = certs()
    server = c.start([t.fixture("tls_server"), "--port", "0", "--cert", cert["server.pem"],
                      "--key", cert["server.key"], "--conns", "1", "--min-version", version,
                      "--max-version", version], c.env())
    sport = int(server.wait_for(r"PORT (\d+)").group(1))
    proxy = c.start([t.fixture("corrupt_proxy"), "--listen-port", "0", "--target-port",
                     str(sport), "--conns", "1"], t.plain_env())
    pport = int(proxy.wait_for(r"PORT (\d+)").group(1))
    r = c.run([t.fixture("tls_client"), "--port", str(pport), "--cafile", cert["ca.pem"]],
              c.env(), universal_newlines=True, timeout=60)
    eq(r.returncode, 1, "tls_client exit status; %s%s" % (r.stdout, r.stderr[-1500:]))
    ok("HANDSHAKE_FAIL" in r.stdout, "no HANDSHAKE_FAIL: %s" % r.stdout)
    proxy.wait_for("CORRUPTED")
    c.server_exit(server)
    client, srv = c.side("tls_client"), c.side("tls_server")
    sent = events(client, "alert", dir="sent", desc="bad_record_mac")
    eq(len(sent), 1, "client sent bad_record_mac alerts (all: %s)"
       % [(a["dir"], a["desc"]) for a in events(client, "alert")])
    a = sent[0]
    eq(a["level"], "fatal", "alert level")
    eq(a["code"], 20, "alert code")
    eq(a["line"], "SSL3 alert write:fatal:bad record mac", "alert line")
    ok(a["state"], "alert has no state")
    ok(a["stack"], "alert has no stack")
    got = events(srv, "alert", dir="recv", desc="bad_record_mac")
    eq(len(got), 1, "server received bad_record_mac alerts (all: %s)"
       % [(x["dir"], x["desc"]) for x in events(srv, "alert")])
    eq(got[0]["line"], "SSL3 alert read:fatal:bad record mac", "server alert line")
    end = events(client, "conn_end")
    eq(len(end), 1, "client conn_end count")
    end = end[0]
    ok(not end["app_data"], "client conn_end.app_data")
    eq(end["outcome"], "handshake_failed", "client conn_end.outcome")
    eq(end["last_alert"], "bad_record_mac", "client conn_end.last_alert")
    eq(end["alerts_sent"], 1, "client conn_end.alerts_sent")
    err = events(client, "error")
    eq(len(err), 1, "client error events")
    err = err[0]
    eq(err["fn"], "SSL_connect", "error.fn")
    eq(err["err"], "SSL_ERROR_SSL", "error.err")
    ok(any("bad record mac" in (q.get("reason") or "") for q in err["queue"]),
       "error.queue has no 'bad record mac': %s" % err["queue"])
    for q in err["queue"]:
        ok(q.get("lib"), "error.queue entry without lib: %s" % q)
    eq(events(client, "conn_end")[0]["client_random"], events(srv, "conn_end")[0]["client_random"],
       "client_random of both ends")
    if version == "tls1.3":
        ok("TLSv1.3" in a["state"] or a["state"], "state %r" % a["state"])
    c.note("state=%r queue=%s" % (a["state"], [(q.get("lib"), q.get("reason")) for q in err["queue"]]))


def reconnect_loop(c):
    """The case the shim was born from: a client that reconnects again and
    again through the corrupting proxy (as tests/test_failures.py)."""
    t = c.t
    cert = certs()
    server = c.start([t.fixture("tls_server"), "--port", "0", "--cert", cert["server.pem"],
                      "--key", cert["server.key"], "--conns", "0"], t.plain_env())
    sport = int(server.wait_for(r"PORT (\d+)").group(1))
    proxy = c.start([t.fixture("corrupt_proxy"), "--listen-port", "0", "--target-port",
                     str(sport), "--conns", "0"], t.plain_env())
    pport = int(proxy.wait_for(r"PORT (\d+)").group(1))
    r = c.run([t.fixture("tls_client"), "--port", str(pport), "--cafile", cert["ca.pem"],
               "--retry", "8", "--delay-ms", "20"], c.env(), universal_newlines=True, timeout=60)
    eq(r.returncode, 1, "tls_client exit status; %s" % r.stderr[-1500:])
    eq(r.stdout.count("FAIL"), 8, "failed attempts")
    evs = c.side("tls_client")
    loops = events(evs, "loop")
    eq(len(loops), 1, "loop events")
    loop = loops[0]
    eq(loop["kind"], "reconnect", "loop.kind")
    ok(loop["count"] >= 5 and loop["failed"] >= 5, "loop count/failed: %s" % loop)
    eq(loop["peer"], "127.0.0.1:%d" % pport, "loop.peer")
    eq(loop["last_alert"], "bad_record_mac", "loop.last_alert")
    fns = [f.get("fn", "") for f in loop["stack"]]
    ok(fns and fns[0].startswith("attempt_handshake+"), "loop.stack starts %s" % fns[:3])
    ok(any(f.startswith("reconnect_with_retry+") for f in fns), "loop.stack: %s" % fns)
    eq([e["attempt"] for e in events(evs, "handshake_start")], list(range(1, 9)), "attempts")
    eq(len(events(evs, "alert", dir="sent", desc="bad_record_mac")), 8, "bad_record_mac alerts")


def renegotiation(c):
    """Seven client-initiated TLS 1.2 renegotiations on one connection (as
    tests/test_failures.py): every handshake seen once, on both sides."""
    t = c.t
    cert = certs()
    server = c.start([t.fixture("tls_server"), "--port", "0", "--cert", cert["server.pem"],
                      "--key", cert["server.key"], "--conns", "1", "--allow-reneg"], c.env())
    port = int(server.wait_for(r"PORT (\d+)").group(1))
    r = c.run([t.fixture("tls_client"), "--port", str(port), "--cafile", cert["ca.pem"],
               "--reneg", "7"], c.env(), universal_newlines=True, timeout=60)
    eq(r.returncode, 0, "tls_client exit status; %s%s" % (r.stdout, r.stderr[-1500:]))
    ok("RENEG_OK 7" in r.stdout, "no RENEG_OK 7: %s" % r.stdout)
    c.server_exit(server)
    for exe in ("tls_client", "tls_server"):
        evs = c.side(exe)
        loops = events(evs, "loop", kind="renegotiation")
        eq(len(loops), 1, exe + " renegotiation loop events")
        eq(events(evs, "conn_end")[0]["handshakes"], 8, exe + " conn_end.handshakes")
        eq([e["n"] for e in events(evs, "handshake_start")], list(range(1, 9)),
           exe + " handshake_start.n")


# -- the error queue, results and callbacks the program sees ------------------

def callback_probe(c, env):
    cert = certs()
    server = c.start([c.t.fixture("tls_server"), "--port", "0", "--cert", cert["server.pem"],
                      "--key", cert["server.key"], "--conns", "2"], c.t.plain_env())
    port = int(server.wait_for(r"PORT (\d+)").group(1))
    r = c.run([c.t.fixture("callback_check"), "--port", str(port), "--cafile",
               cert["untrusted.pem"]], env, universal_newlines=True)
    c.server_exit(server)
    return r


def error_queue(c):
    plain = callback_probe(c, c.t.plain_env())
    shimmed = callback_probe(c, c.env(SSLSHIM_LEVEL="io", SSLSHIM_STACKS="all"))
    eq(plain.returncode, 0, "callback_check without the shim; stderr: %s" % plain.stderr[-1500:])
    ok("ERR lib=" in plain.stdout, "verification did not fail: %s" % plain.stdout)
    ok("GETTER ssl=own ctx=own" in plain.stdout, "getters: %s" % plain.stdout)
    eq(shimmed.returncode, plain.returncode, "exit status with the shim")
    if shimmed.stdout != plain.stdout:
        import difflib
        diff = "\n".join(difflib.unified_diff(plain.stdout.splitlines(), shimmed.stdout.splitlines(),
                                              "without the shim", "with the shim", lineterm="", n=1))
        raise AssertionError("callback_check prints something else with the shim:\n" + diff)
    evs = []
    for path, fevs in logs(c.logdir, "callback_check").items():
        assert_seq_complete(fevs, path)
        c.check_process(fevs[0], path)
        evs.extend(fevs)
    ok(events(evs, "error"), "the shim logged no error")
    ok(events(evs, "alert", dir="sent", desc="unknown_ca"), "the shim logged no unknown_ca alert")


def error_queue_after_return(c):
    """The queue the program reads after a failed SSL_connect is the same with
    the shim even once the stack the shim's frames used has been overwritten:
    what the shim put back must not point into its own (dead) frames."""
    prog = c.t.probe_program()
    ok(os.access(prog, os.X_OK), "%s is not built (tests/compat/build.sh)" % prog)
    cert = certs()
    outs = []
    for env in (c.t.plain_env(), c.env()):
        server = c.start([c.t.fixture("tls_server"), "--port", "0", "--cert", cert["server.pem"],
                          "--key", cert["server.key"], "--conns", "1"], c.t.plain_env())
        port = int(server.wait_for(r"PORT (\d+)").group(1))
        r = c.run([prog, "--port", str(port), "--cafile", cert["untrusted.pem"]], env,
                  universal_newlines=True)
        c.server_exit(server)
        eq(r.returncode, 0, "errq_probe exit status; stderr: %s" % r.stderr[-1500:])
        outs.append(r.stdout)
    plain, shimmed = outs
    ok("ERR lib=" in plain, "the handshake did not fail: %s" % plain)
    if shimmed != plain:
        import difflib
        diff = "\n".join(difflib.unified_diff(plain.splitlines(), shimmed.splitlines(),
                                              "without the shim", "with the shim", lineterm="", n=0))
        raise AssertionError("the error queue differs once the stack is reused:\n" + diff)
    ok(events(c.all_events(), "error"), "the shim logged no error")


def dlopen_local(c):
    """A program without libssl dlopen()s (RTLD_LOCAL) a module linked to this
    version, as Python loads _ssl: dlsym(RTLD_NEXT) cannot see that libssl."""
    prog = os.path.join(CACHE, "late_main")
    module = os.path.join(os.path.dirname(c.t.probe_program()), "dual_module.so")
    for f in (prog, module):
        ok(os.path.exists(f), "%s is not built (tests/compat/build.sh)" % f)
    cert = certs()
    server = c.start([c.t.fixture("tls_server"), "--port", "0", "--cert", cert["server.pem"],
                      "--key", cert["server.key"], "--conns", "1"], c.t.plain_env())
    port = int(server.wait_for(r"PORT (\d+)").group(1))
    r = c.run([prog, "--port", str(port), "--cafile", cert["ca.pem"], "--module", module],
              c.env(), universal_newlines=True)
    eq(r.returncode, 0, "late_main exit status; %s%s" % (r.stdout, r.stderr[-1500:]))
    ok(re.search(r"^MODULE %s \| HANDSHAKE_OK TLSv1\.3 \S+ ECHO_OK$" % re.escape(c.t.version),
                 r.stdout, re.M), "late_main: %s" % r.stdout)
    c.server_exit(server)
    files = logs(c.logdir, "late_main")
    eq(len(files), 1, "log files: %s" % list(files))
    (path, evs), = files.items()
    assert_seq_complete(evs, path)
    c.check_process(evs[0], path)
    done = events(evs, "handshake_done")
    eq(len(done), 1, "handshake_done count")
    eq(done[0]["version"], "TLSv1.3", "handshake_done.version")
    end = events(evs, "conn_end")
    eq([(e["outcome"], e["app_data"]) for e in end], [("ok", True)], "conn_end")


# -- eight threads, 320 connections -------------------------------------------

def threads(c):
    cert = certs()
    server = c.start([c.t.fixture("tls_server"), "--port", "0", "--cert", cert["server.pem"],
                      "--key", cert["server.key"], "--conns", "0", "--threads"], c.t.plain_env())
    port = int(server.wait_for(r"PORT (\d+)").group(1))
    r = c.run([c.t.fixture("tls_client"), "--port", str(port), "--cafile", cert["ca.pem"],
               "--threads", "8", "--count", "40"], c.env(SSLSHIM_LEVEL="io"),
              universal_newlines=True, timeout=180)
    eq(r.returncode, 0, "tls_client exit status; stderr: %s" % r.stderr[-1500:])
    ok("OK 320" in r.stdout, "no OK 320: %s" % r.stdout[-500:])
    files = logs(c.logdir)
    eq(len(files), 1, "log files: %s" % list(files))
    (path, evs), = files.items()
    assert_seq_complete(evs, path)
    c.check_process(evs[0], path)
    started = {e["conn"] for e in events(evs, "handshake_start")}
    ended = {e["conn"] for e in events(evs, "conn_end")}
    eq(len(started), 320, "connections started")
    eq(started, ended, "connections started vs ended")
    bad = [e for e in events(evs, "conn_end") if not (e["app_data"] and e["outcome"] == "ok")]
    ok(not bad, "conn_end not ok: %s" % bad[:2])
    ok(len({e["tid"] for e in evs}) > 7, "fewer than 8 threads logged")
    ok(not events(evs, "misuse"), "misuse reported for correctly locked threads")
    if server.p.poll() is not None and server.p.returncode < 0:
        raise AssertionError("tls_server was killed by signal %d" % -server.p.returncode)


CHECKS = [
    ("handshake_tls13", lambda c: handshake(c, "-tls1_3", "TLSv1.3")),
    ("handshake_tls12", lambda c: handshake(c, "-tls1_2", "TLSv1.2")),
    # handshake_done.ems against what s_client prints (TLS 1.2: EMS is a 1.2 extension)
    ("ems_tls12", lambda c: handshake(c, "-tls1_2", "TLSv1.2", ems=True)),
    ("keylog_tls13", lambda c: keylog(c, "-tls1_3")),
    ("keylog_tls12", lambda c: keylog(c, "-tls1_2")),
    ("bad_record_mac_tls13", lambda c: corrupted(c, "tls1.3")),
    ("bad_record_mac_tls12", lambda c: corrupted(c, "tls1.2")),
    ("reconnect_loop", reconnect_loop),
    ("renegotiation", renegotiation),
    ("error_queue", error_queue),
    ("error_queue_after_return", error_queue_after_return),
    ("threads", threads),
    ("dlopen_local", dlopen_local),
]


# -- two versions in one process -----------------------------------------------

class Dual:
    """build/compat/dual/<main>+<module>: dual_main linked to <main>,
    dual_module.so linked to <module>."""

    def __init__(self, path, by_name):
        self.path = path
        self.main_name, self.module_name = os.path.basename(path).split("+")
        self.main = by_name.get("3.0" if self.main_name == "system" else self.main_name)
        self.module = by_name.get("3.0" if self.module_name == "system" else self.module_name)

    def name(self):
        return "%s+%s" % (self.main.name if self.main else self.main_name,
                          self.module.name if self.module else self.module_name)


def dual(c, d, shim, module_first):
    cert = certs()
    # The server: the system's tls_server, without the shim.
    sys_t = Target("3.0")
    server = c.start([sys_t.fixture("tls_server"), "--port", "0", "--cert", cert["server.pem"],
                      "--key", cert["server.key"], "--conns", "0", "--threads"], sys_t.plain_env())
    port = int(server.wait_for(r"PORT (\d+)").group(1))
    cmd = [os.path.join(d.path, "dual_main"), "--port", str(port), "--cafile", cert["ca.pem"],
           "--module", os.path.join(d.path, "dual_module.so")]
    if module_first:
        cmd.append("--module-first")
    # No LD_LIBRARY_PATH: each object finds its own libssl through its RUNPATH
    # (the system's through the default paths).
    env = lib.shim_env(c.logdir) if shim else lib.plain_env()
    env.pop("LD_LIBRARY_PATH", None)
    r = lib.run(cmd, env=env, universal_newlines=True, timeout=60)
    if r.returncode < 0:
        log = summarize(c.all_events())
        raise AssertionError("dual_main was killed by signal %d\nstdout:\n%s\n%s\n%s"
                             % (-r.returncode, r.stdout, log, backtrace(cmd, env)))
    want = {"MAIN": d.main.version, "MODULE": d.module.version}
    problems = []
    for who, version in want.items():
        m = re.search(r"^%s (.*) \| (.*)$" % who, r.stdout, re.M)
        if not m:
            problems.append("%s printed nothing" % who)
            continue
        if m.group(1) != version:
            problems.append("%s ran with %r, expected %r" % (who, m.group(1), version))
        if not m.group(2).startswith("HANDSHAKE_OK") or not m.group(2).endswith("ECHO_OK"):
            problems.append("%s: %s" % (who, m.group(2)))
    if r.returncode != 0 or problems:
        raise AssertionError("dual_main exit %d: %s\nstdout:\n%s\nstderr:\n%s\n%s"
                             % (r.returncode, "; ".join(problems), r.stdout, r.stderr[-2000:],
                                summarize(c.all_events()) if shim else ""))
    if not shim:
        return
    files = logs(c.logdir, "dual_main")
    eq(len(files), 1, "log files: %s" % list(files))
    (path, evs), = files.items()
    assert_seq_complete(evs, path)
    done = events(evs, "handshake_done")
    ends = events(evs, "conn_end")
    problems = []
    if len(done) != 2:
        problems.append("%d handshake_done events, expected 2" % len(done))
    if len(ends) != 2 or not all(e["outcome"] == "ok" and e["app_data"] for e in ends):
        problems.append("conn_end: %s" % [(e.get("outcome"), e.get("app_data")) for e in ends])
    versions = {e["openssl"] for e in evs if "openssl" in e}
    paths = {os.path.realpath(e["libssl"]) for e in evs if e.get("libssl")}
    for who, t in (("main", d.main), ("module", d.module)):
        if t.version not in versions:
            problems.append("the %s's OpenSSL %r is named nowhere in the log (named: %s)"
                            % (who, t.version, sorted(versions)))
        if t.libssl not in paths:
            problems.append("the %s's libssl %s is named nowhere in the log (named: %s)"
                            % (who, t.libssl, sorted(paths)))
    if problems:
        raise AssertionError("; ".join(problems) + "\n" + summarize(evs))


def summarize(evs):
    """The events that say what happened, without stacks and certificates."""
    keep = ("seq", "ev", "conn", "openssl", "libssl", "role", "entry", "version", "cipher",
            "outcome", "app_data", "handshakes", "last_state", "fn", "ret", "err", "errno",
            "queue", "desc", "dir")
    lines = []
    for e in evs:
        if e["ev"] in ("process", "handshake_start", "handshake_done", "conn_end", "error", "alert"):
            lines.append("    " + str({k: e[k] for k in keep if k in e}))
    return "the log (%d events):\n%s" % (len(evs), "\n".join(lines))


# ------------------------------------------------------------------ the runner

class Results:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0

    def line(self, status, version, name, detail=""):
        print("%-4s  %-6s %-28s %s" % (status, version, name, detail), flush=True)

    def run(self, target, name, fn):
        start = time.time()
        c = Check(target)
        try:
            fn(c)
        except Exception as e:           # an assertion or a crashed helper: both fail
            self.failed += 1
            text = str(e) if isinstance(e, AssertionError) else traceback.format_exc()
            first, _, rest = text.partition("\n")
            self.line("FAIL", target.name, name, first)
            if rest:
                print("\n".join("      " + l for l in rest.splitlines()), flush=True)
        else:
            self.passed += 1
            detail = "(%.1f s)" % (time.time() - start)
            if VERBOSE and c.notes:
                detail += " " + "; ".join(c.notes)
            self.line("PASS", target.name, name, detail)
        finally:
            c.close()

    def skip(self, version, name, why):
        self.skipped += 1
        self.line("SKIP", version, name, why)

    def fail(self, version, name, why):
        self.failed += 1
        self.line("FAIL", version, name, why)


def main():
    global VERBOSE
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-v", "--verbose", action="store_true", help="show what each check saw")
    ap.add_argument("-k", dest="pattern", help="only checks whose name contains this")
    ap.add_argument("versions", nargs="*")
    a = ap.parse_args()
    VERBOSE = a.verbose
    if not os.path.exists(lib.SHIM):
        sys.exit("compat: build the shim first: make && make fixtures")
    res = Results()
    all_targets = targets(a.versions)
    selected = lambda n: not a.pattern or a.pattern in n
    ready = {}
    for t in all_targets:
        print("== OpenSSL %s (%s): %s" % (t.name, t.label, t.status), flush=True)
        names = [n for n, _ in CHECKS if selected(n)]
        if t.status.startswith("skip"):
            for n in names:
                res.skip(t.name, n, "OpenSSL %s is not available (above)" % t.name)
            continue
        if t.status != "ok":
            res.fail(t.name, "build", t.status)
            for n in names:
                res.skip(t.name, n, "not built")
            continue
        try:
            t.probe()
        except AssertionError as e:
            res.fail(t.name, "setup", str(e))
            continue
        print("   %s; libssl %s" % (t.version, t.libssl), flush=True)
        ready[t.name] = t
        for n, fn in CHECKS:
            if selected(n):
                res.run(t, n, fn)

    # Two versions in one process, for every pair build.sh compiled.
    print("== two OpenSSL versions in one process", flush=True)
    by_name = dict(ready)
    if "3.0" not in by_name:
        sys_t = Target("3.0")
        try:
            sys_t.probe()
            by_name["3.0"] = sys_t
        except AssertionError:
            pass
    for path in sorted(glob.glob(os.path.join(CACHE, "dual", "*+*"))):
        d = Dual(path, by_name)
        wanted_names = {t.name for t in all_targets}
        if a.versions and not (d.main and d.main.name in wanted_names
                               or d.module and d.module.name in wanted_names):
            continue
        for order in ("main-first", "module-first"):
            for shim in (False, True):
                n = "dual %s %s%s" % (d.name(), order, "" if shim else " (no shim)")
                if not selected(n):
                    continue
                if not d.main or not d.module:
                    res.skip(d.name(), n, "a version is not built")
                    continue
                fake = Target(d.name())
                res.run(fake, n, lambda c, d=d, shim=shim, o=order:
                        dual(c, d, shim, o == "module-first"))
    # build.sh's own failures (a version that did not build is already a FAIL
    # line above; this catches the rest, e.g. the two-versions programs).
    build_rc = os.environ.get("COMPAT_BUILD_RC", "0")
    if build_rc != "0" and not any(t.status.startswith("fail") for t in all_targets):
        res.fail("-", "build", "tests/compat/build.sh exited %s (see its output above)" % build_rc)
    if not glob.glob(os.path.join(CACHE, "dual", "*+*")) and selected("dual"):
        res.skip("-", "dual", "no pair of versions built (%s/dual)" % CACHE)

    start = os.environ.get("COMPAT_START")
    if start and start.isdigit():
        print("compat: %d s in all, building included" % (time.time() - int(start)), flush=True)
    print("%d passed, %d failed, %d skipped" % (res.passed, res.failed, res.skipped), flush=True)
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
