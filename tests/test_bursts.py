"""Rule 6: whole lines, written in bursts.

The shim may keep a thread's lines in memory during an OpenSSL call and write
them together, but only until the next point where the program could wait or
leave: the call returning, libssl about to read from the peer, a failure
(written at once), fork, exec, exit.  These tests check what that promises:

- a client that waits for a silent server has its lines in the log while it
  waits, and a SIGKILL then loses nothing;
- a client that abort()s right after a failed SSL_connect has the fatal alert
  and the error in the log (no exit path ran to write them later), and one
  that abort()s inside SSL_connect, from its info callback as the fatal alert
  is reported, has the alert and every line before it; one that abort()s
  right after a successful SSL_connect has the lines made as it returned;
- two processes of eight threads each appending to one file leave only whole
  JSON lines, every event of each process numbered without gap or duplicate.

Every server is the test's own, on 127.0.0.1; every wait is bounded; only
processes the test started are stopped, by PID.
"""
import json
import os
import re
import select
import signal
import socket
import subprocess
import tempfile
import threading
import time

from lib import ShimTest, certs, events, fixture, plain_env, read_all, read_log

POLL_S = 10          # how long a log may take to show what the client did
THREADS, COUNT = 8, 20


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never sends a byte; keeps
    what each connection sent (the ClientHello) until closed."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.received = []          # one bytearray per accepted connection
        self.conns = {}             # socket -> index in received
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping.is_set():
            ready, _, _ = select.select([self.sock] + list(self.conns), [], [], 0.05)
            for s in ready:
                if s is self.sock:
                    try:
                        c, _ = self.sock.accept()
                    except (BlockingIOError, InterruptedError):
                        continue
                    with self.lock:
                        self.conns[c] = len(self.received)
                        self.received.append(bytearray())
                    continue
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if data:
                    with self.lock:
                        self.received[self.conns[s]].extend(data)
                else:               # the peer went away: nothing more to keep
                    del self.conns[s]
                    s.close()

    def got_client_hello(self):
        """True when some connection sent a whole TLS handshake record
        (content type 22) holding a ClientHello (handshake type 1)."""
        with self.lock:
            for buf in self.received:
                if len(buf) >= 6 and buf[0] == 22 and buf[5] == 1 \
                        and len(buf) >= 5 + (buf[3] << 8 | buf[4]):
                    return True
        return False

    def close(self):
        self.stopping.set()
        self.thread.join(timeout=5)
        for c in list(self.conns):
            c.close()
        self.sock.close()


def complete_events(path):
    """The events of the whole lines written so far (the file is being
    appended to: a line still on its way is left for the next look)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    out = []
    for raw in data.split(b"\n")[:-1]:
        out.append(json.loads(raw.decode("utf-8")))
    return out


def conn_of_peer(evs, port):
    """The conn number of the handshake toward 127.0.0.1:port, or None."""
    for e in events(evs, "handshake_start", peer="127.0.0.1:%d" % port):
        return e["conn"]
    return None


class Bursts(ShimTest):

    def tearDown(self):
        self.doCleanups()             # the test's own processes and server first
        super().tearDown()

    def log_env(self, path, **extra):
        """The shim's environment with SSLSHIM_LOG set to one file (no %p)."""
        env = self.env(**extra)
        env["SSLSHIM_LOG"] = path
        return env

    def popen(self, cmd, env, cwd=None):
        """A process of the test's own, killed by its PID at clean-up; stdin
        is a pipe kept open, stdout and stderr go to temporary files."""
        out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        p = subprocess.Popen(cmd, env=env, cwd=cwd or self.tmp, stdin=subprocess.PIPE,
                             stdout=out, stderr=err)
        p.out_file, p.err_file = out, err

        def cleanup():
            if p.poll() is None:
                p.kill()
                p.wait(timeout=5)
            p.stdin.close()
            out.close()
            err.close()
        self.addCleanup(cleanup)
        return p

    @staticmethod
    def text(f):
        return read_all(f)

    # -- 1: a client waiting for a silent server ------------------------------

    def check_waiting_client(self, cmd_for_port, tag):
        """Run a client against a silent server; while it still waits, its
        handshake_start, ClientHello and write-client-hello state must be in
        the log.  Then SIGKILL it: the file must hold only whole JSON lines."""
        server = SilentServer()
        self.addCleanup(server.close)
        log = os.path.join(self.tmp, tag + ".jsonl")
        p = self.popen(cmd_for_port(server.port), self.log_env(log))
        what = "%s (pid %d)" % (tag, p.pid)
        deadline = time.monotonic() + POLL_S
        seen = []
        while True:
            self.assertIsNone(p.poll(), "%s exited (status %s) instead of waiting for the "
                              "server: %s" % (what, p.returncode, self.text(p.err_file)[-2000:]))
            seen = complete_events(log)
            conn = conn_of_peer(seen, server.port)
            if conn is not None and \
                    events(seen, "msg", conn=conn, dir="sent", hs="ClientHello") and \
                    events(seen, "state", conn=conn, state="SSLv3/TLS write client hello") and \
                    server.got_client_hello():      # its thread may not have read it yet
                break
            if time.monotonic() > deadline:
                self.fail("%s has waited %d s for the server and the log still lacks its "
                          "handshake_start, sent ClientHello or 'SSLv3/TLS write client "
                          "hello' state; it holds: %s"
                          % (what, POLL_S, [(e["ev"], e.get("state") or e.get("hs"))
                                            for e in seen]))
            time.sleep(0.05)
        # The lines are there while the client waits for the peer: it sent its
        # ClientHello, got nothing back, and is still running.
        self.assertTrue(server.got_client_hello(), "the server never got a ClientHello")
        self.assertIsNone(p.poll(), "%s ended: it was not waiting" % what)
        p.kill()
        p.wait(timeout=5)
        self.assertEqual(p.returncode, -signal.SIGKILL, what)
        evs = read_log(log)                  # every line whole, valid JSON
        for e in evs:
            self.assertIsInstance(e, dict)
        self.assert_seq_complete(evs, log)
        self.assertEqual({e["pid"] for e in evs}, {p.pid})
        conn = conn_of_peer(evs, server.port)
        self.assertIsNotNone(conn)
        self.assertEqual(events(evs, "handshake_start", conn=conn)[0]["role"], "client")
        self.assertTrue(events(evs, "msg", conn=conn, dir="sent", hs="ClientHello"))
        self.assertTrue(events(evs, "state", conn=conn, state="SSLv3/TLS write client hello"))
        self.assertFalse(events(evs, "msg", conn=conn, dir="recv"),
                         "the silent server sent nothing")
        return p

    def test_s_client_waiting_for_a_silent_server(self):
        """openssl s_client (stdin kept open) against a server that never answers."""
        self.check_waiting_client(
            lambda port: ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port],
            "s_client")

    def test_blocking_ssl_connect_waiting_for_a_silent_server(self):
        """A blocking SSL_connect, stuck in read(2) inside libssl."""
        p = self.check_waiting_client(
            lambda port: [fixture("burst_hang"), "--port", str(port), "--timeout", "30"],
            "burst_hang")
        out = self.text(p.out_file)
        self.assertIn("CONNECTING", out)
        self.assertNotIn("HANDSHAKE_", out, "SSL_connect returned: it did not wait")

    def test_read_after_a_non_blocking_handshake_waits_for_a_silent_server(self):
        """The handshake on a non-blocking socket, then the socket made
        blocking and SSL_read called; the server (openssl s_server, TLS 1.3)
        sends its session tickets and nothing more.  While the client waits
        inside SSL_read, the tickets it processed there are in the log."""
        log = os.path.join(self.tmp, "then-read.jsonl")
        c = certs()
        server = self.popen(["openssl", "s_server", "-accept", "127.0.0.1:0", "-tls1_3",
                             "-cert", c["server.pem"], "-key", c["server.key"]], plain_env())
        deadline = time.monotonic() + 10
        while not re.search(r"ACCEPT 127\.0\.0\.1:(\d+)", self.text(server.out_file)):
            self.assertIsNone(server.poll(), self.text(server.err_file))
            self.assertLess(time.monotonic(), deadline, "s_server never listened")
            time.sleep(0.02)
        port = int(re.search(r"ACCEPT 127\.0\.0\.1:(\d+)", self.text(server.out_file)).group(1))
        p = self.popen([fixture("burst_hang"), "--port", str(port), "--timeout", "30",
                        "--then-read"], self.log_env(log))
        deadline = time.monotonic() + POLL_S
        while True:
            self.assertIsNone(p.poll(), "burst_hang ended: %s %s"
                              % (self.text(p.out_file), self.text(p.err_file)[-2000:]))
            seen = complete_events(log)
            if "READING" in self.text(p.out_file) and \
                    events(seen, "msg", dir="recv", hs="NewSessionTicket"):
                break
            if time.monotonic() > deadline:
                self.fail("the client waits in SSL_read and the log lacks the session "
                          "tickets it processed there: %s"
                          % [(e["ev"], e.get("state") or e.get("hs")) for e in seen])
            time.sleep(0.05)
        time.sleep(0.3)
        self.assertIsNone(p.poll(), "burst_hang ended: it was not waiting")
        self.assertNotIn("READ ", self.text(p.out_file), "SSL_read returned: it did not wait")
        evs = read_log(log)
        self.assert_seq_complete(evs, log)

    def check_waiting_server(self, start):
        """A blocking server whose client connects and never sends its
        ClientHello: the server's handshake_start is in the log while it
        waits for it."""
        log = os.path.join(self.tmp, "server.jsonl")
        server, port = start(self.log_env(log))
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.addCleanup(sock.close)
        deadline = time.monotonic() + POLL_S
        while True:
            self.assertIsNone(server.p.poll(), "the server ended instead of waiting")
            if events(complete_events(log), "handshake_start", role="server"):
                break
            if time.monotonic() > deadline:
                self.fail("the server has waited %d s for a ClientHello and its "
                          "handshake_start is not in the log" % POLL_S)
            time.sleep(0.05)
        self.assertIsNone(server.p.poll(), "the server ended: it was not waiting")
        evs = read_log(log)
        self.assert_seq_complete(evs, log)
        self.assertFalse(events(evs, "msg", dir="recv"), "the client sent nothing")

    def test_blocking_ssl_accept_waiting_for_a_silent_client(self):
        """tls_server: a blocking SSL_accept, stuck in read(2) inside libssl."""
        self.check_waiting_server(lambda env: self.fixture_server(env=env))

    def test_ssl_bio_server_waiting_for_a_silent_client(self):
        """openssl s_server -www: libssl drives the handshake itself through
        an SSL BIO, outside any call of ours."""
        self.check_waiting_server(lambda env: self.openssl_server("-www", "-naccept", "1", env=env))

    # -- 2: abort() around SSL_connect: no exit path writes anything late ------------

    def run_abort(self, server_args, client_args, **shim_env):
        """burst_abort against an openssl s_server (that makes its SSL_connect
        fail, unless --abort-on-success); returns its stdout, the log's
        events and the connection."""
        server, port = self.openssl_server("-www", *server_args, env=plain_env())
        log = os.path.join(self.tmp, "abort.jsonl")
        p = self.popen([fixture("burst_abort"), "--port", str(port), *client_args],
                       self.log_env(log, **shim_env))
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.fail("burst_abort did not finish within 20 s")
        out = self.text(p.out_file)
        self.assertEqual(p.returncode, -signal.SIGABRT, "burst_abort did not die of SIGABRT: %s %s"
                         % (out, self.text(p.err_file)[-2000:]))
        evs = read_log(log)                  # every line whole, valid JSON
        self.assert_seq_complete(evs, log)
        self.assertEqual({e["pid"] for e in evs}, {p.pid})
        conn = conn_of_peer(evs, port)
        self.assertIsNotNone(conn, "no handshake_start toward the server")
        self.assertTrue(events(evs, "msg", conn=conn, dir="sent", hs="ClientHello"))
        # No exit path ran (no SSL_free, no exit handlers): had one run, it
        # could have written the lines late; conn_end would be its trace.
        self.assertFalse(events(evs, "conn_end"), "an exit path ran after abort()")
        return out, evs, conn

    def fatal_alert(self, evs, conn, dir_, desc):
        alerts = events(evs, "alert", conn=conn, level="fatal", dir=dir_, desc=desc)
        self.assertEqual(len(alerts), 1, "the fatal %s alert %s: %s"
                         % (desc, dir_, events(evs, "alert")))
        return alerts[0]

    def check_abort_after_return(self, server_args, client_args, dir_, desc):
        """abort() right after SSL_connect returned -1: the fatal alert and
        the SSL_connect error are in the log."""
        out, evs, conn = self.run_abort(server_args, client_args)
        self.assertIn("CONNECT_FAIL -1", out)
        alert = self.fatal_alert(evs, conn, dir_, desc)
        errors = events(evs, "error", conn=conn, fn="SSL_connect")
        self.assertEqual(len(errors), 1, "the SSL_connect error: %s" % events(evs, "error"))
        self.assertEqual(errors[0]["ret"], -1)
        self.assertEqual(errors[0]["err"], "SSL_ERROR_SSL")
        self.assertLess(alert["seq"], errors[0]["seq"])

    def check_abort_in_callback(self, server_args, client_args, dir_, desc, recv_before):
        """abort() inside SSL_connect, from the program's info callback as it
        reports the fatal alert: the alert was written at once, with every
        line that waited before it (the messages received since the last
        flush, recv_before)."""
        out, evs, conn = self.run_abort(server_args, client_args + ["--abort-in-callback"])
        self.assertIn("ALERT_CALLBACK %s" % ("write" if dir_ == "sent" else "read"), out)
        alert = self.fatal_alert(evs, conn, dir_, desc)
        self.assertFalse(events(evs, "error"), "SSL_connect never returned: no error line")
        for hs in recv_before:
            got = events(evs, "msg", conn=conn, dir="recv", hs=hs)
            self.assertEqual(len(got), 1, "the %s received before the alert" % hs)
            self.assertLess(got[0]["seq"], alert["seq"])

    def test_abort_after_refusing_the_servers_certificate(self):
        """The client sends the fatal alert (unknown_ca); abort() after SSL_connect."""
        self.check_abort_after_return([], ["--cafile", certs()["untrusted.pem"]],
                                      "sent", "unknown_ca")

    def test_abort_after_the_server_refuses_the_version(self):
        """The server sends the fatal alert (protocol_version); abort() after SSL_connect."""
        self.check_abort_after_return(["-tls1_3"], ["--cafile", certs()["ca.pem"],
                                                    "--max-version", "tls1.2"],
                                      "recv", "protocol_version")

    def test_abort_inside_ssl_connect_on_the_alert_sent(self):
        """The program's info callback abort()s as the client sends unknown_ca."""
        self.check_abort_in_callback(
            ["-tls1_3"], ["--cafile", certs()["untrusted.pem"]], "sent", "unknown_ca",
            ["ServerHello", "EncryptedExtensions", "Certificate"])

    def test_abort_inside_ssl_connect_on_the_alert_received(self):
        """The program's info callback abort()s as the server's protocol_version arrives."""
        self.check_abort_in_callback(
            ["-tls1_3"], ["--cafile", certs()["ca.pem"], "--max-version", "tls1.2"],
            "recv", "protocol_version", [])

    def test_abort_after_a_successful_handshake(self):
        """abort() right after SSL_connect returned 1: nothing is lost.

        A crash outside OpenSSL; at level io the call's own line is made as
        the call returns, so only the flush on return can write it."""
        out, evs, conn = self.run_abort([], ["--cafile", certs()["ca.pem"], "--abort-on-success"],
                                        SSLSHIM_LEVEL="io")
        self.assertIn("HANDSHAKE_OK", out)
        self.assertEqual(len(events(evs, "handshake_done", conn=conn)), 1, "handshake_done")
        calls = events(evs, "call", conn=conn, fn="SSL_connect")
        self.assertEqual([c["ret"] for c in calls], [1], "the SSL_connect call line")
        self.assertFalse(events(evs, "alert") + events(evs, "error"))

    # -- 3: two processes of eight threads append to one file ---------------------

    def run_two_threaded_processes(self, log, **shim_env):
        """Two processes (released together) of 8 threads x 20 connections,
        both logging to `log`; returns them, finished and checked."""
        server, port = self.fixture_server("--conns", "0", "--threads", "--timeout", "120",
                                           env=plain_env())
        cmd = [fixture("burst_threads"), "--port", str(port), "--cafile", certs()["ca.pem"],
               "--threads", str(THREADS), "--count", str(COUNT), "--wait-go",
               "--timeout", "60"]
        procs = [self.popen(cmd, self.log_env(log, **shim_env)) for _ in range(2)]
        for p in procs:                       # both set up, then released together
            deadline = time.monotonic() + 10
            while "READY" not in self.text(p.out_file):
                self.assertIsNone(p.poll(), self.text(p.err_file)[-2000:])
                self.assertLess(time.monotonic(), deadline, "burst_threads never got READY")
                time.sleep(0.02)
        for p in procs:
            p.stdin.write(b"go\n")
            p.stdin.flush()
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.fail("burst_threads did not finish within 60 s")
            self.assertEqual(p.returncode, 0, self.text(p.out_file) + self.text(p.err_file)[-2000:])
            self.assertIn("DONE ok=%d failed=0" % (THREADS * COUNT), self.text(p.out_file))
        return procs

    def test_two_threaded_processes_append_to_one_file(self):
        """Two processes (released together) of 8 threads x 20 connections
        with one SSLSHIM_LOG file: whole JSON lines, each process's events
        all there, numbered 1..n in file order, none dropped."""
        log = os.path.join(self.tmp, "shared.jsonl")    # no %p: one file for both
        procs = self.run_two_threaded_processes(log)
        with open(log, "rb") as f:
            raw = f.read()
        self.assertTrue(raw.endswith(b"\n"), "the file ends inside a line")
        lines = raw.split(b"\n")[:-1]
        evs = []
        for n, line in enumerate(lines, 1):
            try:
                e = json.loads(line.decode("utf-8"))
            except ValueError as ex:
                self.fail("line %d is not one JSON object (%s): %r" % (n, ex, line[:300]))
            self.assertIsInstance(e, dict, "line %d" % n)
            evs.append(e)
        self.assertFalse(events(evs, "dropped"), "lines were lost")

        pids = [p.pid for p in procs]
        self.assertEqual({e["pid"] for e in evs}, set(pids))
        for pid in pids:
            mine = [e for e in evs if e["pid"] == pid]
            seqs = [e["seq"] for e in mine]
            self.assertEqual(sorted(seqs), list(range(1, len(seqs) + 1)),
                             "pid %d: seq has gaps or duplicates" % pid)
            self.assertEqual(seqs, sorted(seqs), "pid %d: lines out of seq order" % pid)
            first = min(mine, key=lambda e: e["seq"])
            self.assertEqual(first["ev"], "process", "pid %d: seq 1" % pid)
            self.assertEqual(len(events(mine, "handshake_done")), THREADS * COUNT, "pid %d" % pid)
            ends = events(mine, "conn_end", role="client")
            self.assertEqual(len(ends), THREADS * COUNT, "pid %d: conn_end" % pid)
            self.assertEqual({e["outcome"] for e in ends}, {"ok"}, "pid %d" % pid)
            self.assertEqual(len({e["conn"] for e in ends}), THREADS * COUNT, "pid %d" % pid)
            self.assertGreaterEqual(len({e["tid"] for e in mine}), THREADS, "pid %d" % pid)
        # The two processes really wrote at the same time: their lines alternate
        # in the file more than once (not one block after the other).
        switches = sum(1 for a, b in zip(evs, evs[1:]) if a["pid"] != b["pid"])
        self.assertGreater(switches, 2, "the two processes did not write concurrently")

    def test_two_threaded_processes_write_to_one_slow_fifo(self):
        """The same two processes with one FIFO as SSLSHIM_LOG and a reader
        that falls behind: a pipe takes a write of at most PIPE_BUF bytes
        whole or not at all, so bursts go there in pieces of whole lines.
        Every line the reader gets is one whole JSON object; what the full
        pipe did not take is counted (`dropped`), and for each process the
        numbers missing are exactly what its dropped lines count.  Stacks on
        every event make the bursts several times PIPE_BUF."""
        fifo = os.path.join(self.tmp, "shared.fifo")
        os.mkfifo(fifo, 0o600)
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        got, stop = [], threading.Event()

        def reader():
            """Slow while the writers run, then drains the pipe to its end."""
            while True:
                select.select([fd], [], [], 0.05)
                try:
                    chunk = os.read(fd, 16384)
                except BlockingIOError:
                    chunk = None
                if chunk:
                    got.append(chunk)
                    if not stop.is_set():
                        time.sleep(0.005)      # slower than the writers
                elif chunk == b"" and stop.is_set():
                    return                     # no writer left, nothing left
                else:
                    time.sleep(0.01)
        t = threading.Thread(target=reader, daemon=True)
        t.start()
        try:
            procs = self.run_two_threaded_processes(fifo, SSLSHIM_STACKS="all")
        finally:
            stop.set()
            t.join(timeout=30)
            os.close(fd)
        self.assertFalse(t.is_alive(), "the reader did not finish")
        raw = b"".join(got)
        self.assertTrue(raw.endswith(b"\n"), "the reader got a line cut short")
        evs = []
        for n, line in enumerate(raw.split(b"\n")[:-1], 1):
            try:
                evs.append(json.loads(line.decode("utf-8")))
            except ValueError as ex:
                self.fail("line %d is not one JSON object (%s): %r" % (n, ex, line[:300]))
        for p in procs:
            mine = [e for e in evs if e["pid"] == p.pid]
            self.assertTrue(mine, "pid %d wrote nothing the reader got" % p.pid)
            seqs = [e["seq"] for e in mine]
            self.assertEqual(seqs, sorted(seqs), "pid %d: lines out of seq order" % p.pid)
            self.assertEqual(len(seqs), len(set(seqs)), "pid %d: a seq twice" % p.pid)
            lost = sum(e["n"] for e in events(mine, "dropped"))
            # Numbers taken but never read: counted by a dropped line, except
            # those after the process's last dropped line was written (the
            # count for them has no later line to go out with).
            last = max(e["seq"] for e in events(mine, "dropped")) if lost else 0
            missing_before = len(set(range(1, last + 1)) - set(seqs))
            self.assertEqual(missing_before, lost, "pid %d: dropped counts %d, %d missing "
                             "before the last dropped line" % (p.pid, lost, missing_before))
