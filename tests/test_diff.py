"""Issue 16: `sslshim diff A B` — where a run under a tool first differs from
the plain run.  The real case: the same client, run plainly and under
Valgrind against a server that gives each handshake a deadline (as
production servers do); Valgrind makes the client slow, so only that run has
its connection closed in the middle of the handshake."""
import errno
import json
import os
import re
import shutil
import socket
import subprocess
import textwrap

from lib import MadeOnce, ShimTest, certs, fixture, plain_env, read_log

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SSLSHIM = os.path.join(ROOT, "scripts", "sslshim")
SYSTEM_PYTHON = "/usr/bin/python3"
VALGRIND_TIMEOUT = 300

# The server's deadline for a handshake, from accept to the client's Finished,
# must fall between the plain client's time and its time under Valgrind.
# Measured on this 2-core VM, from the server's side: the plain client (with
# the shim) takes 2-8 ms, 4-60 ms (once 102 ms) with the cores kept busy;
# under memcheck the same handshake takes 610-700 ms, 1.3-2.7 s with the
# cores busy (Valgrind translates libssl's and libcrypto's code as it first
# runs, then runs it 20-50 times slower).  Both scale with the machine, so no
# fixed deadline holds on every one: the test first times both against a
# server without a deadline (CALIBRATION_S is none in practice) and takes
# their geometric mean, at least DEADLINE_FLOOR_S (a loaded scheduler can
# delay a plain handshake by 100 ms, however fast the machine) and at most
# half the tool's time.  Where the times are less than MIN_RATIO apart no
# deadline separates them reliably, and the tests that need one are skipped.
# Where the slow client meets the close (before the ServerHello, or after its
# Finished) depends on that timing; the test asks the logs where it was.
CALIBRATION_S = 200.0
PLAIN_SAMPLES = 3          # the plain client's time varies most: its slowest of 3
MIN_RATIO = 4
DEADLINE_FLOOR_S = 0.15

# A TLS server whose handshakes must finish within a deadline; after one, it
# echoes one read and closes with close_notify.  Prints PORT, then per
# connection HANDSHAKE OK|DEADLINE|FAILED <ms>.  TLS 1.2 at most: there the
# client reads the server's Finished after sending its own, so a client that
# is too slow sees the close inside SSL_connect (with TLS 1.3 its handshake
# would end before it reads anything more).
SERVER = textwrap.dedent("""\
    import select, socket, ssl, sys, time
    cert, key, deadline, conns = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    ls.settimeout(240)                      # bounded: the test's clients come or it ends
    print("PORT %d" % ls.getsockname()[1], flush=True)
    for _ in range(conns):
        c, _ = ls.accept()
        t0 = time.monotonic()
        c.setblocking(False)
        s = ctx.wrap_socket(c, server_side=True, do_handshake_on_connect=False)
        outcome = "DEADLINE"
        while True:
            left = t0 + deadline - time.monotonic()
            if left <= 0:
                break
            try:
                s.do_handshake()
                outcome = "OK"
                break
            except ssl.SSLWantReadError:
                select.select([s], [], [], left)
            except ssl.SSLWantWriteError:
                select.select([], [s], [], left)
            except (ssl.SSLError, OSError):
                outcome = "FAILED"
                break
        print("HANDSHAKE %s %.1f ms" % (outcome, (time.monotonic() - t0) * 1000), flush=True)
        if outcome == "OK":
            s.setblocking(True)
            s.settimeout(20)
            try:
                s.sendall(s.recv(100))
                s.unwrap()
            except (ssl.SSLError, OSError):
                pass
        s.close()                           # past the deadline: closed mid-handshake
""")


def sslshim(*args, python="python3", timeout=120):
    r = subprocess.run([python, SSLSHIM, *args], env=plain_env(), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def conn_events(logdir):
    """(pid, the events of its connection 1 in seq order) of the one log
    file in logdir."""
    (name,) = [n for n in os.listdir(logdir) if n.endswith(".jsonl")]
    evs = read_log(os.path.join(logdir, name))
    return evs[0]["pid"], sorted((e for e in evs if e.get("conn") == 1),
                                 key=lambda e: e["seq"])


def reaction_to_close(ev):
    """Whether ev is what OpenSSL does once the peer has closed: the alert
    record and alert it tries to send, the error state, the error."""
    return (ev["ev"] in ("alert", "error")
            or (ev["ev"] == "msg" and ev.get("type") == "alert")
            or (ev["ev"] == "state" and ev["state"] == "error"))


ROWS = ("handshake_start", "state", "msg")


def is_row(e, kinds=ROWS):
    """What diff compares of these kinds: not a state's exit with ret -1
    outside the error state (a call that would block, or failed: the error
    row says which)."""
    return e["ev"] in kinds and not (e["ev"] == "state" and e.get("where") == "exit"
                                      and e.get("ret") == -1 and e["state"] != "error")


class _Runs(MadeOnce):
    """The client's runs, each made once per test run (by the first test
    that needs it) into its own directory."""
    prefix = "sslshim-diff-"

    def make(self, t, name):
        return getattr(self, "_" + name)(t)

    def _server(self, t, deadline_s, conns):
        """The deadline server, started; its process and port."""
        script = os.path.join(self.root, "deadline_server.py")
        if not os.path.exists(script):
            with open(script, "w") as f:
                f.write(SERVER)
        c = certs()
        server = t.start(["python3", script, c["server.pem"], c["server.key"],
                          "%.6f" % deadline_s, str(conns)], env=plain_env())
        return server, int(server.wait_for(r"PORT (\d+)").group(1))

    @staticmethod
    def _client(port):
        return [fixture("tls_client"), "--port", str(port), "--cafile", certs()["ca.pem"],
                "--send", "hello", "--timeout", "240"]

    @staticmethod
    def _handshakes(server):
        return [(s, float(ms)) for s, ms in
                re.findall(r"^HANDSHAKE (\w+) ([\d.]+) ms$", server.output(), re.M)]

    def _calibration(self, t):
        """The server's time for the plain client's handshake (the slowest
        of PLAIN_SAMPLES) and for one under Valgrind, as _deadline runs
        them, with no deadline; and the deadline between them."""
        server, port = self._server(t, CALIBRATION_S, PLAIN_SAMPLES + 1)
        client = self._client(port)
        for i in range(PLAIN_SAMPLES):
            code, out, err = sslshim("run", "-o", os.path.join(self.root, "calibrate-plain%d" % i),
                                     "--stacks", "handshake", "--", *client)
            t.assertEqual(code, 0, out + err + server.output())
        code, out, err = sslshim("run", "-o", os.path.join(self.root, "calibrate-valgrind"),
                                 "--stacks", "handshake", "--", "valgrind", "--quiet", *client,
                                 timeout=VALGRIND_TIMEOUT)
        t.assertEqual(code, 0, out + err + server.output())
        t.assertEqual(server.wait(30), 0, server.errors())
        said = self._handshakes(server)
        t.assertEqual([s for s, ms in said], ["OK"] * (PLAIN_SAMPLES + 1), server.output())
        plain = max(ms for s, ms in said[:-1]) / 1000
        tool = said[-1][1] / 1000
        deadline = min(max((plain * tool) ** 0.5, DEADLINE_FLOOR_S), tool / 2)
        return {"plain_s": plain, "valgrind_s": tool, "deadline_s": deadline,
                "said": "calibration: plain client %.1f ms (slowest of %d), under Valgrind "
                        "%.1f ms" % (plain * 1000, PLAIN_SAMPLES, tool * 1000)}

    def _deadline(self, t):
        """A: the client run plainly; B: the same under Valgrind; both with
        the shim (`sslshim run`), stacks of handshake starts too, against a
        server whose deadline is between the two (see the calibration)."""
        if not shutil.which("valgrind"):
            t.skipTest("valgrind not installed")
        cal = self.get(t, "calibration")
        ratio = cal["valgrind_s"] / max(cal["plain_s"], 1e-6)
        if ratio < MIN_RATIO:
            t.skipTest("no reliable handshake deadline: under Valgrind the client is only "
                       "%.1f times slower than plainly (%s; needs %d times)"
                       % (ratio, cal["said"], MIN_RATIO))
        said_cal = "%s; deadline %.1f ms" % (cal["said"], cal["deadline_s"] * 1000)
        server, port = self._server(t, cal["deadline_s"], 2)
        client = self._client(port)
        a, b = os.path.join(self.root, "plain"), os.path.join(self.root, "valgrind")
        code, out, err = sslshim("run", "-o", a, "--stacks", "handshake", "--", *client)
        t.assertEqual(code, 0, out + err + server.output() + said_cal)
        t.assertIn("ECHO_OK", out)
        code, out, err = sslshim("run", "-o", b, "--stacks", "handshake", "--", "valgrind",
                                 "--quiet", *client, timeout=VALGRIND_TIMEOUT)
        t.assertEqual(code, 1, out + err + server.output() + said_cal)
        t.assertIn("HANDSHAKE_FAIL", out)
        t.assertEqual(server.wait(30), 0, server.errors())
        said = self._handshakes(server)
        # the plain client beat the deadline, the one under Valgrind did not
        t.assertEqual([s for s, ms in said], ["OK", "DEADLINE"],
                      server.output() + said_cal)
        return {"port": port, "a": a, "b": b}

    def _counts(self, t):
        """A: two connections; B: one, to the same server."""
        c = certs()
        server = t.start([fixture("tls_server"), "--port", "0", "--cert", c["server.pem"],
                          "--key", c["server.key"], "--conns", "3"], env=plain_env())
        port = int(server.wait_for(r"PORT (\d+)").group(1))
        dirs = {}
        for name, count in (("two", "2"), ("one", "1")):
            dirs[name] = os.path.join(self.root, name)
            code, out, err = sslshim("run", "-o", dirs[name], "--", fixture("tls_client"),
                                     "--port", str(port), "--cafile", c["ca.pem"], "--count",
                                     count, "--timeout", "60")
            t.assertEqual(code, 0, out + err)
        t.assertEqual(server.wait(30), 0, server.errors())
        dirs["port"] = port
        return dirs


RUNS = _Runs()


def tearDownModule():
    RUNS.cleanup()


class Diff(ShimTest):

    def diff(self, *args, status, python="python3"):
        code, out, err = sslshim("diff", *args, python=python)
        self.assertEqual(code, status, out[-3000:] + err[-3000:])
        return out, err

    def test_valgrind_only_failure_is_found_at_its_first_row(self):
        run = RUNS.get(self, "deadline")
        pid_a, evs_a = conn_events(run["a"])
        pid_b, evs_b = conn_events(run["b"])
        # What really happened, from the logs alone: B's events match A's up
        # to where B's peer closed; from there B reacts to the close (an alert
        # it tries to send, the error) where A receives the server's next message.
        k = next(i for i, e in enumerate(evs_b) if reaction_to_close(e))
        rows_b = [e for e in evs_b[:k + 1] if is_row(e) or reaction_to_close(e)]
        rows_a = [e for e in evs_a if is_row(e, ROWS + ("alert", "error", "handshake_done"))]
        rows_a = rows_a[:len(rows_b)]
        first = len(rows_b)                    # 1-based: the reaction's row
        self.assertEqual([(e["ev"], e.get("state"), e.get("hs")) for e in rows_b[:-1]],
                         [(e["ev"], e.get("state"), e.get("hs")) for e in rows_a[:-1]])
        self.assertEqual((rows_a[-1]["ev"], rows_a[-1]["dir"]), ("msg", "recv"), rows_a[-1])
        error, = [e for e in evs_b if e["ev"] == "error"]
        reasons = [q["reason"] for q in error["queue"]]
        self.assertTrue(error.get("eof") or any("eof" in r for r in reasons)
                        or error.get("errno") in (errno.ECONNRESET, errno.EPIPE), error)
        self.assertFalse([e for e in evs_a if e["ev"] == "error"])

        out, err = self.diff(run["a"], run["b"], status=1)
        label = "client to 127.0.0.1:%d" % run["port"]
        self.assertIn("\n%s\n" % label, out)
        self.assertIn("A: tls_client[%d] conn 1," % pid_a, out)
        self.assertIn("B: tls_client[%d] conn 1," % pid_b, out)
        self.assertRegex(out, r"B: \S+: 1 process \(tls_client\[%d\] under Valgrind\)" % pid_b)
        self.assertIn("first difference at row %d:" % first, out)
        marked, = [l for l in out.splitlines() if l.startswith("  >")]
        self.assertRegex(marked, r"^  > +%d  msg recv %s \(" % (first, rows_a[-1]["hs"]))
        b_text = {"msg": "msg sent alert", "alert": "alert sent", "state": "exit error",
                  "error": "error SSL_connect"}[rows_b[-1]["ev"]]
        self.assertIn("  " + b_text, marked)
        # context: the rows before it, the same on both sides
        shown = out.split("first difference at row", 1)[1].splitlines()
        before = [l for l in shown if re.match(r"^ {3} +%d  " % (first - 1), l)]
        self.assertEqual(len(before), 1, out)
        self.assertIn("error only in B: SSL_connect %s: %s (state %s"
                      % (error["err"], "; ".join(reasons), error["state"]), out)
        for alert in [e for e in evs_b if e["ev"] == "alert"]:
            self.assertIn("alert only in B: sent fatal %s in state %s"
                          % (alert["desc"], alert["state"]), out)
        self.assertIn("alert only in A: sent warning close_notify", out)
        self.assertIn("conn_end outcome: A ok | B handshake_failed", out)
        self.assertTrue(out.endswith("1 connection matched, 1 differs, 0 the same; "
                                     "0 only in A, 0 only in B\n"), out[-300:])

        # --json, the same under both Pythons
        docs = []
        for py in ("python3", SYSTEM_PYTHON):
            if py == SYSTEM_PYTHON and not os.path.exists(py):
                continue
            out, err = self.diff("--json", run["a"], run["b"], status=1, python=py)
            docs.append(json.loads(out))
        doc = docs[0]
        self.assertTrue(all(d == doc for d in docs))
        self.assertEqual(doc["summary"], {"matched": 1, "differ": 1, "same": 0, "only_a": 0,
                                          "only_b": 0})
        pair, = doc["pairs"]
        self.assertEqual((pair["a"]["pid"], pair["b"]["pid"]), (pid_a, pid_b))
        self.assertEqual(pair["a"]["label"], label)
        self.assertEqual(pair["match"], "same program, role, peer and SNI")
        self.assertEqual(pair["first_row"], first)
        self.assertTrue(pair["first"]["b"].startswith(b_text), pair["first"])
        self.assertEqual([r["row"] for r in pair["rows"] if r["differs"]], [first])
        self.assertEqual(pair["errors"]["only_a"], [])
        self.assertEqual(len(pair["errors"]["only_b"]), 1)
        # Stacks compare by function names: both handshake starts were called
        # from the same place, at other addresses (Valgrind loads the program
        # elsewhere); the error's stack is B's alone, symbolized.
        start_a, start_b = (next(e for e in evs if e["ev"] == "handshake_start")
                            for evs in (evs_a, evs_b))
        self.assertNotEqual(start_a["stack"][0]["ip"], start_b["stack"][0]["ip"])
        self.assertFalse([s for s in pair["stacks"] if s["event"].startswith("start ")],
                         pair["stacks"])
        err_stack, = [s for s in pair["stacks"] if s["event"].startswith("error ")]
        self.assertIsNone(err_stack["a"])
        self.assertEqual(err_stack["b"][0], "open_tls")      # a static function: addr2line
        self.assertIn("main", err_stack["b"])

    def test_curl_plainly_and_under_valgrind_do_not_differ(self):
        """No false difference: curl (non-blocking sockets, so its calls would
        block a number of times that depends on speed) against a real
        `openssl s_server -www`, plainly and under Valgrind (some 20 times
        slower), logged at level io: the protocol is the same, and diff says
        so (exit 0), both ways round."""
        if not shutil.which("valgrind") or not shutil.which("curl"):
            self.skipTest("valgrind or curl not installed")
        c = certs()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = self.start(["openssl", "s_server", "-accept", "127.0.0.1:%d" % port,
                             "-cert", c["server.pem"], "-key", c["server.key"], "-www",
                             "-naccept", "2", "-quiet"], env=plain_env())
        curl = ["curl", "-sS", "-o", os.devnull, "--max-time", "120", "--retry", "20",
                "--retry-connrefused", "--retry-delay", "1", "--cacert", c["ca.pem"],
                "--resolve", "localhost:%d:127.0.0.1" % port, "https://localhost:%d/" % port]
        a, b = os.path.join(RUNS.root, "curl-plain"), os.path.join(RUNS.root, "curl-valgrind")
        code, out, err = sslshim("run", "-o", a, "--level", "io", "--", *curl)
        self.assertEqual(code, 0, out + err)
        code, out, err = sslshim("run", "-o", b, "--level", "io", "--", "valgrind", "--quiet",
                                 *curl, timeout=VALGRIND_TIMEOUT)
        self.assertEqual(code, 0, out + err)
        self.assertEqual(server.wait(30), 0, server.errors())
        # the logs differ in what they may: B's calls would block more often
        calls = [sum(1 for evs in [read_log(os.path.join(d, n))] for e in evs
                     if e["ev"] == "call") for d in (a, b) for n in os.listdir(d)
                 if n.endswith(".jsonl")]
        self.assertTrue(all(calls), calls)
        for x, y in ((a, b), (b, a)):
            out, _ = self.diff(x, y, status=0)
            self.assertTrue(out.endswith("no differences: 1 connection matched, 0 differ, "
                                         "1 the same; 0 only in A, 0 only in B\n"), out[-2000:])

    def test_a_run_against_itself_has_no_difference(self):
        run = RUNS.get(self, "deadline")
        for d in (run["a"], run["b"]):
            out, err = self.diff(d, d, status=0)
            self.assertTrue(out.endswith("\nno differences: 1 connection matched, 0 differ, "
                                         "1 the same; 0 only in A, 0 only in B\n"), out)
            self.assertNotIn("first difference", out)
            doc = json.loads(self.diff("--json", d, d, status=0)[0])
            self.assertFalse(doc["differ"])
            self.assertEqual([(p["differs"], p["first_row"], p["stacks"], p["facts"])
                              for p in doc["pairs"]], [(False, None, [], [])])

    def test_bundle_and_single_file_inputs(self):
        run = RUNS.get(self, "deadline")
        bundle = os.path.join(self.tmp, "valgrind.tar.gz")
        code, out, err = sslshim("collect", "-o", bundle, run["b"])
        self.assertEqual(code, 0, out + err)
        log_a = os.path.join(run["a"], [n for n in os.listdir(run["a"])
                                        if n.endswith(".jsonl")][0])
        from_dirs = json.loads(self.diff("--json", run["a"], run["b"], status=1)[0])
        from_bundle = json.loads(self.diff("--json", log_a, bundle, status=1)[0])
        self.assertEqual(from_bundle["pairs"], from_dirs["pairs"])
        self.assertEqual(from_bundle["b"]["path"], bundle)
        self.assertEqual(from_bundle["b"]["processes"], from_dirs["b"]["processes"])
        self.diff(bundle, bundle, status=0)

    def test_connection_in_one_run_only_is_listed(self):
        run = RUNS.get(self, "counts")
        pid = read_log(os.path.join(run["two"], os.listdir(run["two"])[0]))[0]["pid"]
        out, err = self.diff(run["two"], run["one"], status=1)
        label = "client to 127.0.0.1:%d" % run["port"]
        self.assertIn("\nonly in A: %s (tls_client[%d] conn 2, " % (label, pid), out)
        self.assertNotIn("first difference", out)
        self.assertTrue(out.endswith("1 connection matched, 0 differ, 1 the same; "
                                     "1 only in A, 0 only in B\n"), out)
        doc = json.loads(self.diff("--json", run["one"], run["two"], status=1)[0])
        self.assertEqual([(c["pid"], c["conn"], c["label"]) for c in doc["only_b"]],
                         [(pid, 2, label)])
        self.assertEqual(doc["only_a"], [])
        self.assertEqual([(p["a"]["conn"], p["b"]["conn"], p["differs"], p["match"])
                          for p in doc["pairs"]],
                         [(1, 1, False, "same program, role, peer and SNI")])

    def test_usage_errors_and_unreadable_input_exit_2(self):
        run = RUNS.get(self, "counts")
        a = run["one"]
        empty = os.path.join(self.tmp, "empty")
        os.makedirs(empty)
        junk = os.path.join(self.tmp, "junk.jsonl")
        with open(junk, "w") as f:
            f.write("not json\n")
        missing = os.path.join(self.tmp, "no-such-run")
        for args, said in ((["--bogus", a, a], "unrecognized arguments: --bogus"),
                           (["--context", "many", a, a], "'many' is not a number"),
                           ([a], "required: B"),
                           ([a, a, a], "unrecognized arguments"),
                           (["-", "-"], "only one of A and B can be -"),
                           ([missing, a], "A: cannot read " + missing),
                           ([a, empty], "B: no log files in " + empty),
                           ([junk, a], "A: no events read from " + junk)):
            code, out, err = sslshim("diff", *args)
            self.assertEqual(code, 2, (args, out, err))
            self.assertEqual(out, "", args)
            self.assertIn(said, err, args)
            if args[0].startswith("-") or len(args) != 2:
                self.assertIn("usage: sslshim diff", err, args)
        code, out, err = sslshim("diff", "--help")
        self.assertEqual(code, 0)
        self.assertIn("usage: sslshim diff", out)
        code, out, err = sslshim("--help")
        self.assertIn("sslshim diff [--json]", out)
