"""Issue 6: the shim under Valgrind — no errors or leaks of its own in real
programs, no races under Helgrind and DRD, its events in Valgrind's log in
order, undefined plaintext caught."""
import glob
import os
import re
import shutil
import subprocess
import textwrap

from lib import ROOT, ShimTest, certs, events, fixture, logs, plain_env, run

SHIM_SOURCES = sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "shim", "*.c")))
SHIM_FRAME = re.compile(r"libsslshim|\((?:%s):\d+\)" % "|".join(map(re.escape, SHIM_SOURCES)))
VALGRIND_TIMEOUT = 300


def records(log_text):
    """Valgrind's error and leak records: blocks of '==pid==' lines between
    blank '==pid== ' separators (our own mirrored lines start with '**')."""
    blocks, cur = [], []
    for line in log_text.splitlines():
        m = re.match(r"==\d+== ?(.*)$", line)
        if not m:
            continue
        body = m.group(1)
        if body.strip() == "":
            if cur:
                blocks.append(cur)
            cur = []
        else:
            cur.append(body)
    if cur:
        blocks.append(cur)
    return blocks


class Valgrind(ShimTest):

    def setUp(self):
        super().setUp()
        if not shutil.which("valgrind"):
            self.skipTest("valgrind not installed")

    def valgrind(self, tool_args, cmd, env=None, **kw):
        log = os.path.join(self.tmp, "valgrind.%d.log" % len(os.listdir(self.tmp)))
        r = run(["valgrind", "--log-file=" + log, *tool_args, *cmd],
                env=env if env is not None else self.env(), timeout=VALGRIND_TIMEOUT, **kw)
        with open(log, errors="replace") as f:
            text = f.read()
        return r, text

    def assert_no_shim_records(self, text):
        for block in records(text):
            self.assertFalse(any(SHIM_FRAME.search(l) for l in block),
                             "Valgrind record mentions the shim:\n" + "\n".join(block))

    MEMCHECK = ["--error-exitcode=99", "--leak-check=full",
                "--errors-for-leak-kinds=definite,indirect"]

    def test_memcheck_openssl_s_client(self):
        c = certs()
        server, port = self.openssl_server("-www", "-naccept", "2", env=plain_env())
        for cafile in (c["ca.pem"], c["untrusted.pem"]):      # a good and a failing handshake
            r, text = self.valgrind(self.MEMCHECK, [
                "openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-CAfile", cafile,
                "-verify_return_error", "-servername", "localhost", "-ign_eof"],
                input=b"GET / HTTP/1.0\r\n\r\n", stdin=None)
            self.assertNotEqual(r.returncode, 99, text[-3000:])
            self.assert_no_shim_records(text)
        evs = self.all_events("openssl")
        self.assertTrue(events(evs, "handshake_done"))
        self.assertTrue([e for e in events(evs, "alert") if e.get("stack")], "stack path exercised")
        self.assertTrue(all(e["valgrind"] for e in events(evs, "process")))

    def test_memcheck_curl(self):
        c = certs()
        server, port = self.openssl_server("-www", "-naccept", "1", env=plain_env())
        r, text = self.valgrind(self.MEMCHECK, [
            "curl", "-sS", "--max-time", "120", "--cacert", c["ca.pem"],
            "--resolve", "localhost:%d:127.0.0.1" % port, "https://localhost:%d/" % port])
        self.assertEqual(r.returncode, 0, text[-3000:])
        self.assert_no_shim_records(text)
        self.assertTrue(events(self.all_events("curl"), "handshake_done"))

    def test_memcheck_system_python(self):
        c = certs()
        server, port = self.openssl_server("-www", "-naccept", "1", env=plain_env())
        script = textwrap.dedent("""
            import socket, ssl, sys
            ctx = ssl.create_default_context(cafile=sys.argv[2])
            with ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])),
                                 timeout=60), server_hostname="localhost") as s:
                s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
                print(s.recv(15))
        """)
        env = self.env(PYTHONMALLOC="malloc")
        r, text = self.valgrind(self.MEMCHECK, ["/usr/bin/python3", "-c", script, str(port),
                                                c["ca.pem"]], env=env)
        self.assertNotEqual(r.returncode, 99, text[-3000:])
        self.assertIn(b"HTTP/1.0 200 ok", r.stdout)
        self.assert_no_shim_records(text)
        self.assertTrue(events(self.all_events("python3*"), "handshake_done"))

    def thread_tool(self, tool, *extra):
        # Valgrind's tools serialize the threads: give the server time.
        server_env = plain_env()
        server_env["FIXTURE_IO_TIMEOUT_S"] = "120"      # the client under the tool is slow
        server, port = self.fixture_server("--conns", "0", "--threads", "--timeout", "280",
                                           env=server_env)
        r, text = self.valgrind(["--tool=" + tool, *extra], [
            fixture("tls_client"), "--port", str(port), "--cafile", certs()["ca.pem"],
            "--threads", "8", "--count", "3", "--timeout", "240"])
        self.assertEqual(r.returncode, 0, r.stdout.decode()[-3000:] + r.stderr.decode()[-3000:]
                         + server.output()[-2000:] + server.errors()[-2000:])
        self.assertIn(b"OK 24", r.stdout)
        self.assert_no_shim_records(text)
        (path, evs), = logs(self.logdir).items()
        self.assertEqual(len(events(evs, "conn_end")), 24)

    def test_memcheck_eight_threads(self):
        self.thread_tool("memcheck", *self.MEMCHECK)

    def test_helgrind_eight_threads(self):
        self.thread_tool("helgrind")

    def test_drd_eight_threads(self):
        self.thread_tool("drd")

    def test_alert_lines_in_valgrinds_log_in_order(self):
        server, sport = self.fixture_server("--conns", "0", env=plain_env())
        proxy = self.start([fixture("corrupt_proxy"), "--listen-port", "0",
                            "--target-port", str(sport), "--conns", "0"], env=plain_env())
        pport = int(proxy.wait_for(r"PORT (\d+)").group(1))
        r = run(["valgrind", "--log-fd=1", fixture("tls_client"), "--port", str(pport),
                 "--retry", "2", "--delay-ms", "10", "--timeout", "240"],
                env=self.env(), stderr=subprocess.STDOUT, universal_newlines=True,
                timeout=VALGRIND_TIMEOUT)
        lines = r.stdout.splitlines()
        where = lambda pat: [i for i, l in enumerate(lines) if re.search(pat, l)]
        alerts = where(r"^\*\*\d+\*\* sslshim\[\d+\] conn \d+ alert: "
                       r"SSL3 alert write:fatal:bad record mac")
        starts = where(r"^\*\*\d+\*\* sslshim\[\d+\] conn \d+ handshake_start: client")
        a1, a2 = where(r"^ATTEMPT 1 FAIL"), where(r"^ATTEMPT 2 FAIL")
        self.assertEqual(len(alerts), 2, r.stdout[-3000:])
        self.assertEqual(len(starts), 2)
        self.assertTrue(starts[0] < alerts[0] < a1[0] < starts[1] < alerts[1] < a2[0],
                        r.stdout[-3000:])

    def test_undefined_plaintext_is_caught_only_under_valgrind(self):
        c = certs()
        cmd = [fixture("every_call"), c["server.pem"], c["server.key"], "--undefined"]
        r, text = self.valgrind([], cmd)
        self.assertIn(b"UNDEFINED_WRITE 64 64", r.stdout)
        und = events(self.all_events(), "undefined_data")
        self.assertEqual(len(und), 1, und)
        self.assertEqual((und[0]["fn"], und[0]["len"], und[0]["offset"]), ("SSL_write", 64, 10))
        self.assertTrue(und[0]["stack"])
        self.assertIn("undefined_data: SSL_write of 64 bytes: byte 10 is undefined", text)
        shutil.rmtree(self.logdir)
        r = run(cmd, env=self.env())
        self.assertEqual(r.returncode, 0)
        self.assertFalse(events(self.all_events(), "undefined_data"))
        self.assertFalse(any(e["valgrind"] for e in events(self.all_events(), "process")))

    def test_valgrind_off(self):
        c = certs()
        cmd = [fixture("every_call"), c["server.pem"], c["server.key"], "--undefined"]
        r, text = self.valgrind([], cmd, env=self.env(SSLSHIM_VALGRIND="off"))
        self.assertFalse(events(self.all_events(), "undefined_data"))
        self.assertNotIn("sslshim[", text)
