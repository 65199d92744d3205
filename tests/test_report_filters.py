"""Issue 16, first bullet: `sslshim report` selections (--pid, --conn,
--peer, --since/--until, --last, --failed), its exit status (0 nothing
failed, 1 a failure found, 2 usage errors and unreadable input), every
subcommand's exit 2 on an unknown option, and `--html FILE` (its own
argument, created 0600).

The logs are real: a tls_server under the shim serves one tls_client
process that makes two good connections, then another that does not trust
the server's certificate (unknown_ca).  Every count asserted is what those
logs hold, read with tests/lib.py, not what the report says of itself.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from lib import (ROOT, TIMEOUT, Proc, certs, fixture, logs, plain_env, run, shim_env)

SSLSHIM = os.path.join(ROOT, "scripts", "sslshim")


def sslshim(*args, cwd=None):
    r = subprocess.run([sys.executable, SSLSHIM, *args], env=plain_env(), cwd=cwd,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=TIMEOUT * 2)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


class Run:
    """The logs, made once: server, good client (2 connections), failing client."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="sslshim-filters-")
        self.dir = os.path.join(self.root, "logs")
        c = certs()
        server = Proc([fixture("tls_server"), "--port", "0", "--cert", c["server.pem"],
                       "--key", c["server.key"], "--conns", "3"], env=shim_env(self.dir))
        try:
            self.port = int(server.wait_for(r"PORT (\d+)").group(1))
            good = run([fixture("tls_client"), "--port", str(self.port), "--cafile",
                        c["ca.pem"], "--count", "2"], env=shim_env(self.dir),
                       universal_newlines=True)
            assert good.returncode == 0, good.stdout + good.stderr
            bad = run([fixture("tls_client"), "--port", str(self.port), "--cafile",
                       c["untrusted.pem"]], env=shim_env(self.dir), universal_newlines=True)
            assert bad.returncode != 0, bad.stdout
            assert server.wait(10) == 0, server.errors()
        finally:
            server.stop()
        self.files = {}                      # "server", "good", "bad" -> (path, events)
        clients = []
        for path, evs in logs(self.dir).items():
            if os.path.basename(path).startswith("tls_server."):
                self.files["server"] = (path, evs)
            else:
                clients.append((path, evs))
        # the good client started first
        clients.sort(key=lambda pe: self.process_ts(pe[1]))
        self.files["good"], self.files["bad"] = clients
        assert len(self.files) == 3

    @staticmethod
    def process_ts(evs):
        return next(e["ts"] for e in evs if e["ev"] == "process")

    def pid(self, who):
        return self.files[who][1][0]["pid"]

    def path(self, who):
        return self.files[who][0]

    def conns(self, who, **match):
        """{conn id: its conn_end} of one process's log."""
        return {e["conn"]: e for e in self.files[who][1] if e["ev"] == "conn_end"
                and all(e.get(k) == v for k, v in match.items())}

    def events(self, who, pred=lambda e: True):
        return [e for e in self.files[who][1] if pred(e)]


RUN = None


def setUpModule():
    global RUN
    RUN = Run()


def tearDownModule():
    if RUN is not None:
        shutil.rmtree(RUN.root, ignore_errors=True)


class ReportFilters(unittest.TestCase):

    def report(self, *args, status=None):
        """The --json document of `report ARGS`, its exit status checked."""
        code, out, err = sslshim("report", "--json", *args)
        doc = json.loads(out)
        if status is not None:
            self.assertEqual(code, status, err[-2000:])
        return doc

    @staticmethod
    def listed(doc):
        """(role, conn, process) of every attempt the endpoints list."""
        return sorted((e["role"], a["conn"], a["process"]) for e in doc["endpoints"]
                      for a in e["attempts"])

    # -- the logs themselves --------------------------------------------------------

    def test_the_logs_are_as_expected(self):
        self.assertEqual(len(RUN.conns("good")), 2)
        self.assertEqual(len(RUN.conns("bad")), 1)
        self.assertEqual(len(RUN.conns("server")), 3)
        self.assertEqual([e["outcome"] for e in RUN.conns("good").values()], ["ok", "ok"])
        self.assertNotEqual([e["outcome"] for e in RUN.conns("bad").values()], ["ok"])
        # the failing client started after the good one ended: the times split them
        self.assertGreater(RUN.process_ts(RUN.files["bad"][1]),
                           max(e["ts"] for e in RUN.files["good"][1]))

    # -- exit status ------------------------------------------------------------------

    def test_exit_status(self):
        doc = self.report(RUN.path("good"), status=0)
        self.assertEqual(doc["summary"]["connections"], 2)
        self.assertEqual(doc["failures"], [])
        doc = self.report(RUN.dir, status=1)
        self.assertEqual(doc["summary"]["connections"], 6)
        self.assertEqual(doc["summary"]["failed"], 2)
        code, out, err = sslshim("report", RUN.path("bad"))
        self.assertEqual(code, 1, err)
        self.assertIn("unknown_ca", out)
        # unreadable input: a path that does not exist (even beside a good one),
        # a directory without logs, a log without a single event
        missing = os.path.join(RUN.root, "missing.jsonl")
        code, out, err = sslshim("report", missing)
        self.assertEqual(code, 2, err)
        self.assertIn("missing.jsonl: no such file or directory", err)
        code, out, err = sslshim("report", RUN.path("good"), missing)
        self.assertEqual(code, 2, err)
        empty = tempfile.mkdtemp(dir=RUN.root)
        code, out, err = sslshim("report", empty)
        self.assertEqual(code, 2, err)
        junk = os.path.join(empty, "junk.jsonl")
        with open(junk, "w") as f:
            f.write("not json\n")
        code, out, err = sslshim("report", junk)
        self.assertEqual(code, 2, err)
        self.assertIn("no events read", err)

    def test_unknown_options_exit_2(self):
        for args in (["report", "--bogus", RUN.dir], ["collect", "--bogus"],
                     ["check", "--bogus"], ["run", "--bogus", "--", "true"],
                     ["report", "--since", "yesterday-ish", RUN.dir],
                     ["report", "--peer", "host:notaport", RUN.dir],
                     ["report", "--pid", "abc", RUN.dir]):
            code, out, err = sslshim(*args)
            self.assertEqual(code, 2, (args, out, err))
            self.assertIn("usage", err.lower(), args)

    # -- selections --------------------------------------------------------------------

    def test_pid(self):
        good, bad = RUN.pid("good"), RUN.pid("bad")
        doc = self.report("--pid", str(good), RUN.dir, status=0)
        self.assertEqual(doc["summary"]["connections"], len(RUN.conns("good")))
        self.assertEqual(doc["summary"]["failed"], 0)
        self.assertEqual([p["pid"] for p in doc["processes"]], [good])
        self.assertEqual(doc["events"], len(RUN.events("good")))
        self.assertEqual(doc["selection"]["pid"], [good])
        doc = self.report("--pid", str(bad), RUN.dir, status=1)
        self.assertEqual((doc["summary"]["connections"], doc["summary"]["failed"]), (1, 1))
        doc = self.report("--pid", str(good), "--pid", str(bad), RUN.dir, status=1)
        self.assertEqual(doc["summary"]["connections"], 3)
        # with --host: that host's pid; a host that is not there selects nothing
        host = RUN.files["good"][1][0]["host"]
        doc = self.report("--host", host, "--pid", str(good), RUN.dir, status=0)
        self.assertEqual(doc["summary"]["connections"], 2)
        code, out, err = sslshim("report", "--host", "no-such-host", "--pid", str(good), RUN.dir)
        self.assertEqual(code, 2, err)
        self.assertIn("no events selected", err)

    def test_conn(self):
        # every process's connection 1: one of each process
        ones = sum(1 for who in ("server", "good", "bad") if 1 in RUN.conns(who))
        self.assertEqual(ones, 3)
        doc = self.report("--conn", "1", RUN.dir)
        self.assertEqual(doc["summary"]["connections"], ones)
        self.assertEqual(sorted(a[1] for a in self.listed(doc)), [1] * ones)
        # one process's: the good client's second connection
        second = sorted(RUN.conns("good"))[1]
        doc = self.report("--pid", str(RUN.pid("good")), "--conn", str(second), RUN.dir,
                          status=0)
        self.assertEqual(doc["summary"]["connections"], 1)
        self.assertEqual(self.listed(doc)[0][1], second)
        self.assertEqual(doc["events"],
                         len(RUN.events("good", lambda e: e.get("conn") in (None, second)
                                        or e["ev"] in ("process", "module"))))

    def test_peer(self):
        port = str(RUN.port)
        # the clients' peer is the server; the server's peers are the clients
        doc = self.report("--peer", ":" + port, RUN.dir, status=1)
        self.assertEqual(doc["summary"]["connections"], 3)
        self.assertEqual({a[0] for a in self.listed(doc)}, {"client"})
        self.assertEqual(doc["unselected_connections"], 3)
        self.assertEqual(doc["selection"]["peer"], [":" + port])
        doc = self.report("--peer", "127.0.0.1:" + port, RUN.dir, status=1)
        self.assertEqual(doc["summary"]["connections"], 3)
        # the failing client's address, as the server logged it: the server's end only
        bad_end = list(RUN.conns("bad").values())[0]
        server_end = [e for e in RUN.conns("server").values()
                      if e.get("peer") and e["peer"] == self._local_of_bad()]
        self.assertEqual(len(server_end), 1, bad_end)
        doc = self.report("--peer", self._local_of_bad(), RUN.dir, status=1)
        self.assertEqual(doc["summary"]["connections"], 1)
        self.assertEqual(doc["summary"]["failed"], 1)
        self.assertEqual(self.listed(doc)[0][0], "server")
        # no connection of that peer: nothing failed
        doc = self.report("--peer", "192.0.2.1", RUN.dir, status=0)
        self.assertEqual(doc["summary"]["connections"], 0)
        self.assertEqual(doc["unselected_connections"], 6)
        self.assertEqual(doc["alerts"], [])

    def test_peer_selects_misuse_too(self):
        """A misuse (parent and fork child writing one SSL) is of its
        connection's peer: --peer another address leaves it out, as it
        leaves out that connection's alerts."""
        d = os.path.join(RUN.root, "misuse")
        c = certs()
        server = Proc([fixture("tls_server"), "--port", "0", "--cert", c["server.pem"],
                       "--key", c["server.key"], "--conns", "1"], env=plain_env())
        try:
            port = server.wait_for(r"PORT (\d+)").group(1)
            r = run([fixture("tls_client"), "--port", port, "--cafile", c["ca.pem"],
                     "--share-fork", "--send", "hello"], env=shim_env(d),
                    universal_newlines=True)
            self.assertIn("CHILD_WRITE", r.stdout, r.stderr)
        finally:
            server.stop()
        logged = [e for evs in logs(d).values() for e in evs if e["ev"] == "misuse"]
        self.assertTrue(logged, "the shim logged no misuse")
        doc = self.report("--peer", "127.0.0.1:" + port, d)
        self.assertEqual(len(doc["misuse"]), len(logged))
        self.assertEqual(doc["summary"]["misuse"], len(logged))
        doc = self.report("--peer", "192.0.2.1:" + port, d)
        self.assertEqual(doc["misuse"], [])
        self.assertEqual(doc["summary"]["misuse"], 0)

    @staticmethod
    def _local_of_bad():
        start = [e for e in RUN.files["bad"][1] if e["ev"] == "handshake_start"][0]
        return start["local"]

    def test_since_until(self):
        # the failing client's first event (its process line may come later)
        t = min(e["ts"] for e in RUN.events("bad"))
        before = max(e["ts"] for who in ("server", "good", "bad") for e in RUN.events(who)
                     if e["ts"] < t)
        def conns_with_events(inside):
            return len({(e["pid"], e["conn"]) for who in ("server", "good", "bad")
                        for e in RUN.events(who) if "conn" in e and inside(e["ts"])})
        # from then: its connection and the server's end of it
        self.assertEqual(conns_with_events(lambda ts: ts >= t), 2)
        doc = self.report("--since", t, RUN.dir, status=1)
        self.assertEqual(doc["summary"]["connections"], 2)
        self.assertEqual(doc["summary"]["failed"], 2)
        self.assertEqual(doc["selection"]["since"], t)
        self.assertEqual(doc["events"], sum(
            1 for who in ("server", "good", "bad") for e in RUN.events(who)
            if e["ts"] >= t or "conn" not in e or e["ev"] in ("process", "module")))
        # until just before: the good connections, both ends, and the start of
        # the server's third (it starts its handshake before the client comes),
        # cut by the range: open, not failing
        n = conns_with_events(lambda ts: ts <= before)
        self.assertIn(n, (4, 5))
        doc = self.report("--until", before, RUN.dir, status=0)
        self.assertEqual(doc["summary"]["connections"], n)
        self.assertEqual(doc["summary"]["ok"], 4)
        self.assertEqual(doc["summary"]["open"], n - 4)
        self.assertEqual(doc["summary"]["failed"], 0)
        t = before
        # a time without a zone is UTC; an offset is applied
        doc = self.report("--until", t.rstrip("Z"), RUN.dir, status=0)
        self.assertEqual(doc["summary"]["connections"], n)
        hh = int(t[11:13])
        shifted = "%s%02d%s+01:00" % (t[:11], (hh + 1) % 24, t[13:-1])
        if (hh + 1) % 24 == hh + 1:
            doc = self.report("--until", shifted, RUN.dir, status=0)
            self.assertEqual(doc["selection"]["until"], t)
            self.assertEqual(doc["summary"]["connections"], n)
        # relative: the logs are from the last minutes, not from the future
        doc = self.report("--since", "1d", RUN.dir, status=1)
        self.assertEqual(doc["summary"]["connections"], 6)
        doc = self.report("--until", "1d", RUN.dir, status=0)
        self.assertEqual(doc["summary"]["connections"], 0)

    def test_failed(self):
        doc = self.report("--failed", RUN.dir, status=1)
        # the summary counts everything; the listings only the failing ones
        self.assertEqual(doc["summary"]["connections"], 6)
        self.assertEqual(doc["summary"]["ok"], 4)
        listed = self.listed(doc)
        self.assertEqual(len(listed), 2)
        self.assertEqual({a[0] for a in listed}, {"client", "server"})
        self.assertTrue(all(a["failing"] for e in doc["endpoints"] for a in e["attempts"]))
        self.assertEqual(len(self.listed(self.report(RUN.dir))), 6)
        code, out, err = sslshim("report", "--failed", RUN.dir)
        self.assertEqual(code, 1, err)
        self.assertIn("listing failing connections only", out)
        # a log with no failure lists nothing, and exits 0
        doc = self.report("--failed", RUN.path("good"), status=0)
        self.assertEqual(doc["endpoints"], [])
        self.assertEqual(doc["summary"]["connections"], 2)

    def test_last_of_named_logs(self):
        # the newest process is the failing client; the server still ran then
        doc = self.report("--last", RUN.dir, status=1)
        self.assertEqual(sorted(p["pid"] for p in doc["processes"]),
                         sorted([RUN.pid("server"), RUN.pid("bad")]))
        self.assertEqual(doc["summary"]["connections"], 4)
        self.assertIn("processes running at", doc["selection"]["last"])
        # the good client's log alone: it is the last run
        doc = self.report("--last", RUN.path("good"), status=0)
        self.assertEqual(doc["summary"]["connections"], 2)
        code, out, err = sslshim("report", "--last", "-")
        self.assertEqual(code, 2, err)

    def test_last_of_the_default_directory(self):
        root = "/tmp/sslshim-%d" % os.getuid()
        os.makedirs(root, mode=0o700, exist_ok=True)
        # sslshim run's names: the newest run-<time>[-N]; far from any real run's
        old = os.path.join(root, "run-99991231-235958")
        new = os.path.join(root, "run-99991231-235959-2")
        older_same_second = os.path.join(root, "run-99991231-235959-1")
        try:
            for d, who in ((old, "bad"), (new, "good"), (older_same_second, "bad")):
                os.makedirs(d, mode=0o700)
                shutil.copy(RUN.path(who), d)
            doc = self.report("--last", status=0)
            self.assertEqual([p["pid"] for p in doc["processes"]], [RUN.pid("good")])
            self.assertEqual(doc["inputs"], [os.path.join(new, os.path.basename(
                RUN.path("good")))])
            self.assertIn(new, doc["selection"]["last"])
        finally:
            for d in (old, new, older_same_second):
                shutil.rmtree(d, ignore_errors=True)

    # -- --html FILE -------------------------------------------------------------------

    def test_html_takes_its_argument_and_is_private(self):
        tmp = tempfile.mkdtemp(dir=RUN.root)
        page = os.path.join(tmp, "page.html")
        code, out, err = sslshim("report", "--html", page, RUN.path("good"))
        self.assertEqual(code, 0, err)
        self.assertIn("HTML report: %s" % page, out)
        self.assertIn("Connections: 2, 2 ok", out)      # the path after FILE was read
        self.assertEqual(os.stat(page).st_mode & 0o777, 0o600)
        with open(page) as f:
            self.assertIn("<h1>sslshim report</h1>", f.read())
        # an existing page of another mode becomes 0600 too
        os.chmod(page, 0o644)
        code, out, err = sslshim("report", "--html", page, RUN.dir)
        self.assertEqual(code, 1, err)
        self.assertEqual(os.stat(page).st_mode & 0o777, 0o600)
        # --html DIR: a usage error, nothing written, the default directory not read
        code, out, err = sslshim("report", "--html", tmp)
        self.assertEqual(code, 2, err)
        self.assertIn("a directory", err)
        self.assertEqual(out, "")
        self.assertEqual(sorted(os.listdir(tmp)), ["page.html"])


if __name__ == "__main__":
    unittest.main()


class ProgressOnATerminal(unittest.TestCase):
    """Progress on stderr, on a terminal only, for inputs that take more
    than two seconds: a log fed through a slow pipe (`ssh host cat log |
    sslshim report -`) for about three seconds."""

    FEED_S = 3.2

    def feed_slowly(self, stderr):
        with open(RUN.path("server"), "rb") as f:
            data = f.read()
        p = subprocess.Popen([sys.executable, SSLSHIM, "report", "--json", "-"],
                             env=plain_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=stderr)
        try:
            pieces = 40
            step = len(data) // pieces + 1
            for i in range(0, len(data), step):
                p.stdin.write(data[i:i + step])
                p.stdin.flush()
                time.sleep(self.FEED_S / pieces)
            p.stdin.close()
            out = p.stdout.read()
            self.assertIn(p.wait(timeout=TIMEOUT), (0, 1))
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        return json.loads(out)

    def test_progress_on_a_terminal_then_erased(self):
        import pty
        master, slave = pty.openpty()
        try:
            doc = self.feed_slowly(slave)
            os.close(slave)
            slave = None
            seen = b""
            while True:
                try:
                    chunk = os.read(master, 65536)
                except OSError:          # EIO: the terminal's other end is closed
                    break
                if not chunk:
                    break
                seen += chunk
        finally:
            if slave is not None:
                os.close(slave)
            os.close(master)
        self.assertEqual(doc["summary"]["connections"], len(RUN.conns("server")))
        text = seen.decode("utf-8", "replace")
        self.assertRegex(text, r"\rsslshim report: \d+ KB received, \d s")
        # the last thing on the terminal erases the progress line
        self.assertTrue(text.endswith("\r\x1b[K"), repr(text[-200:]))

    def test_no_progress_into_a_pipe(self):
        with tempfile.TemporaryFile() as err:
            doc = self.feed_slowly(err)
            err.seek(0)
            said = err.read()
        self.assertEqual(doc["summary"]["connections"], len(RUN.conns("server")))
        self.assertNotIn(b"\r", said)
        self.assertNotIn(b"sslshim report:", said)
