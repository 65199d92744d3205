"""Issue 5: production mode — flight recorder, bounded files, write faults,
syslog, set-user-ID processes."""
import glob
import json
import os
import shutil
import subprocess
import tempfile
import textwrap
import time

from lib import SHIM, ShimTest, certs, events, fixture, logs, plain_env, read_log, run

STEPPED_CLIENT = textwrap.dedent("""
    # Three TLS connections; waits for a line on stdin between them, so the
    # test can break the log in the middle.
    import socket, ssl, sys
    port, ca = int(sys.argv[1]), sys.argv[2]
    ctx = ssl.create_default_context(cafile=ca)
    for i in range(3):
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                             server_hostname="localhost") as s:
            s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
            print(i, s.version(), s.recv(15).decode(), flush=True)
        if i < 2:
            sys.stdin.readline()
    sys.exit(7)
""")


class Production(ShimTest):

    def stepped(self, env, between=None):
        """Run the stepped client; `between(i)` runs after connection i."""
        server, port = self.openssl_server("-www", "-naccept", "3", env=plain_env())
        script = os.path.join(self.tmp, "stepped.py")
        with open(script, "w") as f:
            f.write(STEPPED_CLIENT)
        p = subprocess.Popen(["python3", script, str(port), certs()["ca.pem"]], env=env,
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

    # -- 1: flight mode ------------------------------------------------------

    def test_flight_mode_writes_only_failing_histories(self):
        c = certs()
        server, port = self.fixture_server("--conns", "203", env=self.env(SSLSHIM_MODE="flight"))
        r = run([fixture("tls_client"), "--port", str(port), "--cafile", c["ca.pem"],
                 "--count", "200"], env=plain_env(), universal_newlines=True, timeout=120)
        self.assertIn("OK 200", r.stdout)
        for _ in range(3):
            run([fixture("tls_client"), "--port", str(port), "--cafile", c["untrusted.pem"]],
                env=plain_env())
        server.wait(30)
        (path, evs), = logs(self.logdir, "tls_server").items()
        ends = events(evs, "conn_end")
        self.assertEqual(len(ends), 203)
        failed = {e["conn"] for e in ends if e["outcome"] != "ok"}
        self.assertEqual(len(failed), 3, [e["outcome"] for e in ends])
        with_history = {e["conn"] for e in evs if e["ev"] in ("state", "msg", "alert",
                                                                "handshake_start")}
        self.assertEqual(with_history, failed)
        for conn in failed:
            mine = [e for e in evs if e.get("conn") == conn]
            kinds = [e["ev"] for e in mine]
            self.assertEqual(kinds[0], "handshake_start")
            self.assertIn("msg", kinds)
            self.assertIn("state", kinds)
            self.assertIn("alert", kinds)
            self.assertEqual(kinds[-1], "conn_end")
            seqs = [e["seq"] for e in mine]
            self.assertEqual(seqs, sorted(seqs), "kept events are written in order")
            self.assertTrue(any(a["desc"] == "unknown_ca" for a in events(mine, "alert")))
        self.assertEqual(evs[0]["config"]["mode"], "flight")

    def test_flight_mode_at_level_errors_writes_nothing_for_healthy_connections(self):
        c = certs()
        server, port = self.fixture_server(
            "--conns", "6", env=self.env(SSLSHIM_MODE="flight", SSLSHIM_LEVEL="errors"))
        run([fixture("tls_client"), "--port", str(port), "--cafile", c["ca.pem"],
             "--count", "5"], env=plain_env(), check=True)
        run([fixture("tls_client"), "--port", str(port), "--cafile", c["untrusted.pem"]],
            env=plain_env())
        server.wait(30)
        (path, evs), = logs(self.logdir, "tls_server").items()
        ends = events(evs, "conn_end")
        self.assertEqual(len(ends), 1)
        self.assertEqual(ends[0]["outcome"], "handshake_failed")

    # -- 2: rotation -----------------------------------------------------------

    def rotated_run(self, max_files):
        server, port = self.fixture_server("--conns", "0", "--threads", env=plain_env())
        env = self.env(SSLSHIM_LEVEL="io", SSLSHIM_MAX_SIZE="16k", SSLSHIM_MAX_FILES=max_files)
        env["SSLSHIM_LOG"] = os.path.join(self.logdir, "client.log")
        r = run([fixture("tls_client"), "--port", str(port), "--cafile", certs()["ca.pem"],
                 "--threads", "4", "--count", "10"], env=env, universal_newlines=True,
                timeout=120)
        self.assertIn("OK 40", r.stdout)
        return sorted(glob.glob(os.path.join(self.logdir, "client.log*")))

    def test_rotation_keeps_every_line_whole_and_numbered(self):
        files = self.rotated_run(1000)
        self.assertGreater(len(files), 3)
        seqs = []
        for path in files:
            evs = read_log(path)                  # every line whole, valid JSON
            self.assertEqual(evs[0]["ev"], "process", path)
            seqs.extend(e["seq"] for e in evs)
            size = os.path.getsize(path)
            if not path.endswith("client.log"):   # a finished file: just past the cap
                self.assertGreaterEqual(size, 16 * 1024)
                self.assertLess(size, 16 * 1024 + 4096)
        self.assertEqual(sorted(seqs), list(range(1, len(seqs) + 1)), "no seq missing")
        ends = [e for p in files for e in read_log(p) if e["ev"] == "conn_end"]
        self.assertEqual(len(ends), 40)

    def test_rotation_keeps_max_files(self):
        files = self.rotated_run(2)
        self.assertEqual([os.path.basename(f) for f in files],
                         ["client.log", "client.log.1", "client.log.2"])

    # -- 3: faults ---------------------------------------------------------------

    def test_log_on_dev_full(self):
        plain = self.stepped(plain_env())
        env = self.env()
        env["SSLSHIM_LOG"] = "/dev/full"
        rc, out, err = self.stepped(env)
        self.assertEqual((rc, out), plain[:2])
        self.assertEqual(rc, 7)
        self.assertEqual(err.count("sslshim:"), 1, err)
        self.assertIn("No space left on device", err)

    def test_log_directory_removed_while_running(self):
        plain = self.stepped(plain_env())
        env = self.env()
        rc, out, err = self.stepped(env, between=lambda i: i == 0 and shutil.rmtree(self.logdir))
        self.assertEqual((rc, out), plain[:2])
        (path, evs), = logs(self.logdir).items()          # made again
        self.assertEqual(evs[0]["ev"], "process")
        # connections 2 and 3 (and 1's conn_end: Python frees it late)
        self.assertEqual(len(events(evs, "handshake_done")), 2)
        self.assertGreaterEqual(len(events(evs, "conn_end")), 2)

    def test_dropped_lines_are_counted_once_writing_works_again(self):
        mnt = os.path.join(self.tmp, "small")
        os.makedirs(mnt)
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt],
                          stderr=subprocess.DEVNULL).returncode != 0:
            self.skipTest("cannot mount a tmpfs here (needs root)")
        try:
            filler = os.path.join(mnt, "filler")
            fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
            try:
                while True:
                    os.write(fd, b"x" * 4096)
            except OSError:
                pass
            finally:
                os.close(fd)
            env = self.env()
            env["SSLSHIM_LOG"] = mnt + "/"
            plain = self.stepped(plain_env())
            rc, out, err = self.stepped(env, between=lambda i: i == 0 and os.unlink(filler))
            self.assertEqual((rc, out), plain[:2])
            self.assertEqual(err.count("sslshim:"), 1, err)
            (path, evs), = logs(mnt).items()
            self.assertEqual(evs[0]["ev"], "process")
            dropped = events(evs, "dropped")
            self.assertEqual(len(dropped), 1, dropped)
            self.assertGreater(dropped[0]["n"], 5)
            self.assertEqual(dropped[0]["reason"], "disk full")
            seqs = [e["seq"] for e in evs]
            self.assertEqual(seqs, sorted(seqs))
            # the gap in seq is exactly what `dropped` reports
            self.assertEqual(seqs[-1], len(seqs) + dropped[0]["n"])
            self.assertEqual(len(events(evs, "handshake_done")), 2)
        finally:
            subprocess.run(["umount", mnt])
