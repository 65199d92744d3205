"""Issue 12, "never harm the program": `sslshim report` and `sslshim collect`
survive hostile logs.  A line with a field of the wrong type, brackets nested
200,000 deep, NaN, a lone surrogate, a gzip bomb, a line of a gigabyte: each
is named on stderr (FILE:LINE and why) and skipped, in bounded memory, and the
rest of the input is still reported; the exit status is the documented one
(0 when events were read, 1 when none could be).  report_fuzz.py then throws
100,000 mutated logs at the report.

The logs mutated here are real: a client that does not trust the server's CA,
both ends under the shim.  SSLSHIM_TEST_SCRIPTS=DIR runs the tests against
the command in DIR (to see them fail on an older version)."""
import gzip
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from lib import ROOT, SHIM, TIMEOUT, Proc, certs, fixture, logs, plain_env, run, shim_env

SCRIPTS = os.environ.get("SSLSHIM_TEST_SCRIPTS") or os.path.join(ROOT, "scripts")
SSLSHIM = os.path.join(SCRIPTS, "sslshim")
FUZZER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "report_fuzz.py")
MAX_RSS_MB = 300
# What a report may use at most here, so that a version that reads a bomb
# whole fails the test instead of the machine.
ADDRESS_SPACE_LIMIT = 2 << 30
CPU_SECONDS_LIMIT = 120
# What the report says of the real log, with or without its alert line
FAILURE = "certificate verify failed"


class Result:
    def __init__(self, status, out, err, max_rss_mb):
        self.status, self.out, self.err, self.max_rss_mb = status, out, err, max_rss_mb

    def __repr__(self):
        return "exit %s, %d MB; stderr ends: %s" % (self.status, self.max_rss_mb,
                                                    self.err[-1500:])


def _limit_child():
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS_LIMIT, CPU_SECONDS_LIMIT))


def _wait(p, timeout):
    """(wait status, resource usage) of process p alone (os.wait4, not this
    test process's other children); killed after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        pid, wait_status, usage = os.wait4(p.pid, os.WNOHANG)
        if pid:
            return wait_status, usage
        if time.monotonic() > deadline:
            p.kill()
        time.sleep(0.02)


def sslshim(*args, cwd=None):
    """Run the command; its exit status, output and peak resident memory.
    Killed after 2 x TIMEOUT seconds (a hang is a failure too)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen([sys.executable, SSLSHIM, *args], stdin=subprocess.DEVNULL,
                             stdout=out, stderr=err, env=plain_env(), cwd=cwd,
                             preexec_fn=_limit_child)
        wait_status, usage = _wait(p, TIMEOUT * 2)
        p.returncode = os.waitstatus_to_exitcode(wait_status)
        out.seek(0)
        err.seek(0)
        return Result(p.returncode, out.read().decode("utf-8", "replace"),
                      err.read().decode("utf-8", "replace"), usage.ru_maxrss // 1024)


class RealLogs:
    """A client that does not trust the server's CA, both ends preloaded,
    logged once per test run."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sslshim-hostile-")
        c = certs()
        env = shim_env(self.dir, SSLSHIM_STACKS="handshake")
        server = Proc([fixture("tls_server"), "--port", "0", "--conns", "1",
                       "--cert", c["server.pem"], "--key", c["server.key"]], env=env)
        try:
            port = server.wait_for(r"PORT (\d+)").group(1)
            run([fixture("tls_client"), "--port", port, "--cafile", c["untrusted.pem"]],
                env=env)
            server.wait(10)
        finally:
            server.stop()
        (self.client_path, self.client), = logs(self.dir, "tls_client").items()

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


REAL = None


def setUpModule():
    global REAL
    if os.path.exists(SHIM):
        REAL = RealLogs()


def tearDownModule():
    if REAL is not None:
        REAL.cleanup()


class Hostile(unittest.TestCase):

    def setUp(self):
        self.assertIsNotNone(REAL, "build the shim first: make && make fixtures")
        self.tmp = tempfile.mkdtemp(prefix="sslshim-hostile-test-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- making hostile logs from the real one --------------------------------------------

    def line_of(self, ev, **match):
        """The 1-based number of the first client line that is event ev
        (and has the fields in match)."""
        for n, e in enumerate(REAL.client, 1):
            if e["ev"] == ev and all(e.get(k) == v for k, v in match.items()):
                return n
        raise AssertionError("no %s %r in the client's log" % (ev, match))

    def write(self, name, lines):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            for line in lines:
                f.write(line if isinstance(line, bytes) else
                        (json.dumps(line, separators=(",", ":")) + "\n").encode())
        return path

    def with_changes(self, changes, name="hostile.jsonl"):
        """The client's log with {line number: {field: new value}} applied;
        a new value of ... deletes the field."""
        lines = []
        for n, e in enumerate(REAL.client, 1):
            e = dict(e)
            for key, value in changes.get(n, {}).items():
                if value is ...:
                    del e[key]
                else:
                    e[key] = value
            lines.append(e)
        return self.write(name, lines)

    def with_line(self, n, raw, name="hostile.jsonl"):
        """The client's log with line raw (bytes) inserted as line n."""
        lines = [json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in REAL.client]
        lines.insert(n - 1, raw)
        return self.write(name, lines)

    # -- what every case must show ----------------------------------------------------------

    def assert_named_and_skipped(self, r, path, n, why):
        """Exit 1, the bad line named with why, the real failure still reported."""
        self.assertEqual(r.status, 1, r)           # the real failure: exit 1
        self.assertNotIn("Traceback", r.err)
        self.assertRegex(r.err, r"(?m)^sslshim: %s:%d: %s" % (re.escape(path), n, why), r)
        self.assertIn(FAILURE, r.out)

    def assert_wrong_type(self, field, value, ev, expected, **match):
        n = self.line_of(ev, **match)
        path = self.with_changes({n: {field: value}})
        r = sslshim("report", path)
        self.assert_named_and_skipped(
            r, path, n, r"'%s' event with a bad field: \"%s\" is %s; skipped"
            % (ev, field, expected))
        return r

    # -- a field of the wrong type ----------------------------------------------------------

    def test_ts_that_is_a_number(self):
        # the process line: before, every later line of the process was lost
        self.assert_wrong_type("ts", -1, "process",
                               r"an integer \(-1\), expected a string")

    def test_seq_that_is_a_string(self):
        self.assert_wrong_type("seq", "x", "state", r"a string \('x'\), expected an integer "
                               r"or null", state="SSLv3/TLS write client hello")

    def test_host_that_is_null(self):
        self.assert_wrong_type("host", None, "state", r"null, expected a string",
                               state="SSLv3/TLS write client hello")

    def test_conn_that_is_a_list(self):
        self.assert_wrong_type("conn", [], "msg", r"a list, expected an integer")

    def test_pid_that_is_a_string(self):
        self.assert_wrong_type("pid", "4242", "alert", r"a string \('4242'\), expected an "
                               r"integer")

    def test_tid_that_is_an_object(self):
        self.assert_wrong_type("tid", {"a": 1}, "handshake_start",
                               r"an object, expected an integer or null")

    def test_stack_that_is_a_string(self):
        self.assert_wrong_type("stack", "x", "alert", r"a string \('x'\), expected a list or "
                               r"null")

    def test_objects_where_strings_are_expected(self):
        self.assert_wrong_type("state", {}, "state", r"an object, expected a string",
                               state="SSLv3/TLS write client hello")
        self.assert_wrong_type("desc", {"a": 1}, "alert",
                               r"an object, expected a string or null")
        self.assert_wrong_type("peer", {}, "handshake_start",
                               r"an object, expected a string or null")
        self.assert_wrong_type("outcome", [], "conn_end", r"a list, expected a string or null")

    def test_every_common_field_of_every_wrong_type(self):
        """Each common field of each event of the log, made each wrong type in
        turn: every line named (--json lists them all) and the rest read."""
        wrong = {"ev": (5, None, [], {}, True),
                 "ts": (-1, None, [], {}, True, 1.5, "yesterday"),
                 "host": (-1, None, [], {}, True, 1.5),
                 "pid": ("1", None, [], {}, True, 1.5),
                 "tid": ("1", [], {}, True, 1.5),
                 "seq": ("1", [], {}, True, 1.5),
                 "conn": ("1", None, [], {}, True, 1.5)}
        cases = [(field, value) for field, values in wrong.items() for value in values]
        lines, expected = [], {}
        for i, (field, value) in enumerate(cases):
            # a copy of a line of conn 1 that has the field, with the field made wrong
            e = dict(REAL.client[i % len(REAL.client)])
            if field == "conn" and "conn" not in e:
                e = dict(REAL.client[self.line_of("state") - 1])
            e[field] = value
            lines.append(e)
            expected[len(lines)] = field
        lines.extend(REAL.client)
        path = self.write("every-wrong-type.jsonl", lines)
        r = sslshim("report", "--json", path)
        self.assertEqual(r.status, 1, r)
        doc = json.loads(r.out)
        named = {p["line"]: p["problem"] for p in doc["problems"]}
        for n, field in expected.items():
            self.assertIn(n, named, "line %d (%s) not named" % (n, field))
            self.assertIn('"%s"' % field, named[n])
        self.assertEqual(doc["problem_count"], len(cases))
        self.assertEqual(doc["failures"][0]["primary"]["desc"], "unknown_ca")

    # -- not JSON that a parser survives -----------------------------------------------------

    def test_brackets_nested_200000_deep(self):
        deep = 200000
        path = self.with_line(3, b"[" * deep + b"]" * deep + b"\n")
        r = sslshim("report", path)
        self.assert_named_and_skipped(r, path, 3, r"not JSON \(nested too deeply\), skipped")
        # ...and inside an event, unfinished
        path = self.with_line(4, b'{"ts":"2026-01-01T00:00:00.000000Z","ev":"state","host":'
                                 b'"h","pid":1,"conn":1,"state":' + b"[" * deep + b"\n")
        r = sslshim("report", path)
        self.assert_named_and_skipped(r, path, 4, r"not JSON \(nested too deeply\), skipped")

    def test_nan_stays_out_of_the_json_output(self):
        n = len(REAL.client) + 1
        base = REAL.client[0]
        dropped = ('{"ts":"%s","ev":"dropped","host":"%s","pid":%d,"tid":%d,"seq":999,'
                   '"n":NaN,"reason":"write failed"}\n'
                   % (base["ts"], base["host"], base["pid"], base["tid"])).encode()
        path = self.with_line(n, dropped)
        r = sslshim("report", "--json", path)
        self.assertEqual(r.status, 1, r)

        def strict(name):
            raise ValueError("%s in the --json output" % name)
        doc = json.loads(r.out, parse_constant=strict)
        self.assertIn("NaN is not a JSON value", doc["problems"][0]["problem"])
        self.assertEqual(doc["problems"][0]["line"], n)

    def test_lone_surrogate_reaches_the_html_page(self):
        n = self.line_of("alert")
        path = self.with_changes({n: {"line": "\ud800 alert"}})
        page = os.path.join(self.tmp, "page.html")
        r = sslshim("report", "--html", page, path)
        self.assertEqual(r.status, 1, r)
        with open(page, encoding="utf-8") as f:
            self.assertIn("\\ud800 alert", f.read())

    def test_problems_on_stderr_are_bounded(self):
        """Bad lines in many files: a bounded number of messages, then counts."""
        paths = []
        for i in range(40):
            paths.append(self.with_line(1, b"not json\n" * 5, name="bad-%02d.jsonl" % i))
        r = sslshim("report", *paths)
        self.assertEqual(r.status, 1, r)
        lines = r.err.splitlines()
        self.assertLessEqual(len(lines), 120, r.err[:3000])
        self.assertIn("sslshim: 200 input problems in all, in 40 inputs", lines[-1])
        self.assertIn("200 input problems", r.out)

    # -- input too big to hold --------------------------------------------------------------

    def test_gzip_bomb(self):
        """14 MB of gzip that would be 14 GB of zeros: given up early, small."""
        member = gzip.compress(b"\0" * (16 << 20), compresslevel=9, mtime=0)
        bomb = os.path.join(self.tmp, "bomb.jsonl.gz")
        with open(bomb, "wb") as f:
            while f.tell() < 14 << 20:
                f.write(member)
        r = sslshim("report", bomb)
        self.assertEqual(r.status, 2, r)              # no events could be read
        self.assertRegex(r.err, r"(?m)^sslshim: %s:1: it expands to more than 100 times its "
                                r"compressed size \(a gzip bomb\?\); stopped after \d+ MiB"
                         % re.escape(bomb), r)
        self.assertLessEqual(r.max_rss_mb, MAX_RSS_MB, r)
        # beside a real log, the rest is reported
        r = sslshim("report", bomb, REAL.client_path)
        self.assertEqual(r.status, 1, r)
        self.assertIn(FAILURE, r.out)
        self.assertLessEqual(r.max_rss_mb, MAX_RSS_MB, r)

    def test_line_of_a_gigabyte(self):
        """A line of 1 GiB (a hole in a sparse file), then a real log."""
        path = os.path.join(self.tmp, "long-line.jsonl")
        with open(path, "wb") as f:
            f.truncate(1 << 30)
            f.seek(1 << 30)
            f.write(b"\n")
            with open(REAL.client_path, "rb") as log:
                shutil.copyfileobj(log, f)
        r = sslshim("report", path)
        self.assert_named_and_skipped(r, path, 1, r"line longer than 1 MiB, skipped")
        self.assertLessEqual(r.max_rss_mb, MAX_RSS_MB, r)

    def test_fifo_in_a_log_directory(self):
        """A FIFO named like a log in a directory is not opened (nothing would
        ever write to it); the logs beside it are read, and collected."""
        logdir = os.path.join(self.tmp, "logs")
        os.makedirs(logdir)
        shutil.copy(REAL.client_path, logdir)
        os.mkfifo(os.path.join(logdir, "nobody-writes.jsonl"))
        r = sslshim("report", logdir)
        self.assertEqual(r.status, 1, r)
        self.assertIn(FAILURE, r.out)
        r = sslshim("collect", "-o", os.path.join(self.tmp, "bundle.tar.gz"), logdir)
        self.assertEqual(r.status, 0, r)

    # -- collect -----------------------------------------------------------------------------

    def test_collect_reads_hostile_logs(self):
        logdir = os.path.join(self.tmp, "logs")
        os.makedirs(logdir)
        shutil.copy(REAL.client_path, logdir)
        module = next(e for e in REAL.client if e["ev"] == "module")
        hostile = [b'{"ev":"module","x":' + b"[" * 200000 + b"\n",
                   json.dumps(dict(module, path=["not", "a", "path"])).encode() + b"\n",
                   json.dumps(dict(module, build_id={"a": 1})).encode() + b"\n",
                   b'{"ev":"process","argv":' + b"{" * 100000 + b"\n"]
        self.write(os.path.join("logs", "hostile.jsonl"), hostile)
        bundle = os.path.join(self.tmp, "bundle.tar.gz")
        r = sslshim("collect", "-o", bundle, logdir)
        self.assertEqual(r.status, 0, r)
        self.assertNotIn("Traceback", r.err)
        r = sslshim("report", bundle)
        self.assertEqual(r.status, 1, r)
        self.assertIn(FAILURE, r.out)
        self.assertRegex(r.err, r"hostile\.jsonl:1: not JSON \(nested too deeply\)")
        self.assertRegex(r.err, r"hostile\.jsonl:2: 'module' event with a bad field: \"path\"")


class Fuzzer(unittest.TestCase):

    def test_100000_mutated_logs(self):
        """The CI run of the fuzzer: 100,000 mutated real logs, none may make
        the report fail."""
        self.assertTrue(os.path.exists(SHIM), "build the shim first: make && make fixtures")
        r = subprocess.run([sys.executable, FUZZER, "--iterations", "100000", "--seed", "1"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True,
                           timeout=TIMEOUT * 30)
        sys.stdout.write("    " + r.stdout.strip().splitlines()[-1] + "\n")
        self.assertEqual(r.returncode, 0, r.stdout[-6000:])
        self.assertIn("report_fuzz: 100000 mutated logs, seed 1, 0 failing batches", r.stdout)


if __name__ == "__main__":
    unittest.main()
