"""Helpers for sslshim's integration tests: certificates, processes, logs.

Standard library only; runs under any Python 3.9+.  Every process a test
starts is tracked and stopped by its PID; every server binds 127.0.0.1 with an
ephemeral port; every wait is bounded.
"""
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
# SSLSHIM_TEST_SHIM points the tests at another build of the shim (e.g. an
# older one, to see a test fail where it should); the fixtures stay these.
SHIM = os.environ.get("SSLSHIM_TEST_SHIM") or os.path.join(BUILD, "libsslshim.so")
FIXTURES = os.path.join(BUILD, "tests")
TIMEOUT = 30


def fixture(name):
    return os.path.join(FIXTURES, name)


def run(cmd, **kw):
    kw.setdefault("timeout", TIMEOUT)
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(cmd, **kw)


_certs = None


def certs():
    """A CA, a server and a client certificate signed by it, and an untrusted
    self-signed server certificate, made once per test run."""
    global _certs
    if _certs:
        return _certs
    d = os.path.join(BUILD, "tests", "certs")
    os.makedirs(d, exist_ok=True)
    p = lambda n: os.path.join(d, n)
    if not os.path.exists(p("done")):
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        run(["openssl", "req", "-x509", *ec, "-keyout", p("ca.key"), "-out", p("ca.pem"),
             "-days", "30", "-subj", "/CN=sslshim test CA"], check=True)
        for name, cn in (("server", "localhost"), ("client", "sslshim client")):
            run(["openssl", "req", *ec, "-keyout", p(name + ".key"), "-out", p(name + ".csr"),
                 "-subj", "/CN=" + cn], check=True)
            ext = p(name + ".ext")
            with open(ext, "w") as f:
                f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
            run(["openssl", "x509", "-req", "-in", p(name + ".csr"), "-CA", p("ca.pem"),
                 "-CAkey", p("ca.key"), "-CAcreateserial", "-out", p(name + ".pem"),
                 "-days", "30", "-extfile", ext], check=True)
        run(["openssl", "req", "-x509", *ec, "-keyout", p("untrusted.key"),
             "-out", p("untrusted.pem"), "-days", "30", "-subj", "/CN=untrusted"], check=True)
        open(p("done"), "w").close()
    _certs = {n: p(n) for n in ("ca.pem", "server.pem", "server.key", "client.pem",
                                "client.key", "untrusted.pem", "untrusted.key")}
    return _certs


def sha256_fingerprint(pem):
    out = run(["openssl", "x509", "-in", pem, "-noout", "-fingerprint", "-sha256"],
              check=True, universal_newlines=True).stdout
    return out.strip().split("=", 1)[1].replace(":", "").lower()


def shim_env(logdir, **extra):
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("SSLSHIM_"):
            del env[k]
    env["LD_PRELOAD"] = SHIM
    env["SSLSHIM_LOG"] = logdir.rstrip("/") + "/"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def plain_env():
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    for k in list(env):
        if k.startswith("SSLSHIM_"):
            del env[k]
    return env


def read_all(f):
    """What a running child has written so far into the temporary file f.
    The child writes through the same open file description: a seek would
    move its write offset too, and a line it writes between the seek and
    the read would land over the first ones (a compat run lost "PORT" and
    "CORRUPTED" so).  pread reads without moving it."""
    fd = f.fileno()
    return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")


class Proc:
    """A background process started by a test, stopped by its PID."""

    def __init__(self, cmd, env=None, cwd=None):
        self.cmd = cmd
        self.out = tempfile.TemporaryFile()
        self.err = tempfile.TemporaryFile()
        self.p = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                  stdout=self.out, stderr=self.err, start_new_session=False)

    def output(self):
        return read_all(self.out)

    def errors(self):
        return read_all(self.err)

    def wait_for(self, pattern, timeout=10):
        """Wait until stdout or stderr matches; return the match."""
        deadline = time.time() + timeout
        rx = re.compile(pattern)
        while time.time() < deadline:
            exited = self.p.poll() is not None      # before reading: its last words count
            m = rx.search(self.output()) or rx.search(self.errors())
            if m:
                return m
            if exited:
                break
            time.sleep(0.02)
        raise AssertionError("%r never printed %r; stdout=%r stderr=%r"
                             % (self.cmd[0], pattern, self.output()[-2000:], self.errors()[-2000:]))

    def wait(self, timeout=TIMEOUT):
        return self.p.wait(timeout=timeout)

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(timeout=5)


def read_log(path):
    """All events of one file; fails the test on a line that is not JSON."""
    events = []
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            assert raw.endswith(b"\n"), "%s:%d: unterminated line" % (path, n)
            try:
                events.append(json.loads(raw.decode("utf-8")))
            except ValueError as e:
                raise AssertionError("%s:%d: not JSON (%s): %r" % (path, n, e, raw[:200]))
    return events


def logs(logdir, exe=None):
    """{path: [events]} for the log files in logdir (optionally of one exe)."""
    pattern = (exe or "*") + ".*.jsonl"
    return {p: read_log(p) for p in sorted(glob.glob(os.path.join(logdir, pattern)))}


def events(evs, name, **match):
    return [e for e in evs if e["ev"] == name and all(e.get(k) == v for k, v in match.items())]


class MadeOnce:
    """Real runs a test module's tests share: each made by the first test
    that asks for it (make(t, name), defined by the subclass), into the
    module's temporary root, and kept for the others.  A run that skipped
    skips every test that asks for it, without being made again.  The root
    is made at first use, so importing the module makes nothing."""
    prefix = "sslshim-"

    def __init__(self):
        self._root = None
        self.made = {}

    @property
    def root(self):
        if self._root is None:
            self._root = tempfile.mkdtemp(prefix=self.prefix)
        return self._root

    def cleanup(self):
        if self._root:
            shutil.rmtree(self._root, ignore_errors=True)

    def get(self, t, name):
        if name not in self.made:
            try:
                self.made[name] = self.make(t, name)
            except unittest.SkipTest as e:
                self.made[name] = e
        if isinstance(self.made[name], unittest.SkipTest):
            raise unittest.SkipTest(str(self.made[name]))
        return self.made[name]

    def make(self, t, name):
        raise NotImplementedError


class ShimTest(unittest.TestCase):
    """Base class: a fresh log directory and process cleanup per test."""

    def setUp(self):
        self.assertTrue(os.path.exists(SHIM), "build the shim first: make")
        self.tmp = tempfile.mkdtemp(prefix="sslshim-test-")
        self.logdir = os.path.join(self.tmp, "logs")
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            p.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, cmd, env=None, cwd=None):
        p = Proc(cmd, env=env, cwd=cwd)
        self.procs.append(p)
        return p

    def env(self, **extra):
        return shim_env(self.logdir, **extra)

    def run_stepped(self, script, port, env, between=None):
        """Run a Python client script (its text) that makes three connections
        to `port` with certs()["ca.pem"], printing a line after each and
        waiting for one on stdin after the first two; `between(i)` runs after
        connection i.  Returns (exit status, stdout, stderr)."""
        path = os.path.join(self.tmp, "stepped.py")
        with open(path, "w") as f:
            f.write(script)
        p = subprocess.Popen(["python3", path, str(port), certs()["ca.pem"]], env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, universal_newlines=True)
        out = []
        try:
            for i in range(3):
                out.append(p.stdout.readline())
                if i < 2:
                    if between:
                        between(i)
                    p.stdin.write("go\n")
                    p.stdin.flush()
            rest, err = p.communicate(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        return p.returncode, "".join(out) + rest, err

    def openssl_server(self, *args, env=None):
        c = certs()
        p = self.start(["openssl", "s_server", "-accept", "127.0.0.1:0",
                        "-cert", c["server.pem"], "-key", c["server.key"], *args],
                       env=env if env is not None else self.env())
        port = int(p.wait_for(r"ACCEPT 127\.0\.0\.1:(\d+)").group(1))
        return p, port

    def fixture_server(self, *args, env=None):
        c = certs()
        p = self.start([fixture("tls_server"), "--port", "0", "--cert", c["server.pem"],
                        "--key", c["server.key"], *args],
                       env=env if env is not None else self.env())
        port = int(p.wait_for(r"PORT (\d+)").group(1))
        return p, port

    def all_events(self, exe=None):
        out = []
        for evs in logs(self.logdir, exe).values():
            out.extend(evs)
        return out

    def assert_seq_complete(self, evs, path=""):
        seqs = [e["seq"] for e in evs]
        self.assertEqual(seqs, list(range(1, len(seqs) + 1)), "seq gaps in " + path)
        self.assertEqual(evs[0]["ev"], "process", path)
