"""Issue 5: production mode — flight recorder, bounded files, write faults,
syslog, set-user-ID processes."""
import glob
import json
import os
import shutil
import signal
import sys
import socket
import subprocess
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
        return self.run_stepped(STEPPED_CLIENT, port, env, between)

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

    def failing_history(self, name, **env_extra):
        """The server's events for one client that rejects its certificate,
        without what varies from run to run."""
        logdir = os.path.join(self.tmp, name)
        env = self.env(**env_extra)
        env["SSLSHIM_LOG"] = logdir + "/"
        server, port = self.fixture_server("--conns", "1", env=env)
        run([fixture("tls_client"), "--port", str(port), "--cafile", certs()["untrusted.pem"]],
            env=plain_env())
        server.wait(30)
        (path, evs), = logs(logdir, "tls_server").items()
        conn = events(evs, "conn_end")[0]["conn"]
        varying = ("ts", "seq", "pid", "tid", "host", "conn", "peer", "local", "ms",
                   "client_random", "attempt", "stack")
        signed = ("CertificateVerify", "ServerKeyExchange")   # ECDSA: 70-72 bytes
        return [{k: v for k, v in e.items()
                 if k not in varying and not (k == "len" and e.get("hs") in signed)}
                for e in evs if e.get("conn") == conn]

    def test_flight_history_is_what_stream_mode_writes(self):
        """Flight mode keeps state and msg events unformatted and formats them
        only when a connection fails: what it then writes must be the lines
        stream mode writes for the same failing connection — all of them with
        room for 64 (the ring grows from 16), the last N before the failure
        with room for N (the oldest dropped, the ring wrapped)."""
        stream = self.failing_history("stream", SSLSHIM_MODE="stream")
        fail = next(i for i, e in enumerate(stream) if e["ev"] == "alert")
        self.assertGreater(fail, 16, "enough events before the failure to grow the ring")
        for room in (64, 18, 4):
            flight = self.failing_history("flight%d" % room, SSLSHIM_MODE="flight",
                                          SSLSHIM_FLIGHT_EVENTS=str(room))
            kinds = [e["ev"] for e in flight]
            self.assertIn("state", kinds)
            self.assertIn("alert", kinds)
            self.assertEqual(flight, stream[max(0, fail + 1 - room):], "room for %d" % room)

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
        def remove(i):
            if i == 0:
                shutil.rmtree(self.logdir)
                time.sleep(1.1)            # the shim looks for a vanished file once a second
        rc, out, err = self.stepped(env, between=remove)
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


RSYSLOG_CONF = """
global(workDirectory="%(dir)s" maxMessageSize="64k")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="%(dir)s/log.sock" UseSpecialParser="off"
      ParseHostname="on" UseSysTimeStamp="off")
template(name="sslshim" type="string"
         string="%%syslogfacility-text%% %%syslogseverity-text%% %%app-name%% %%msg%%\\n")
if $app-name == "%(tag)s" then action(type="omfile" file="%(dir)s/sslshim.log" template="sslshim")
"""


class Syslog(ShimTest):

    def test_events_reach_a_real_rsyslogd(self):
        rsyslogd = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
        if not os.path.exists(rsyslogd):
            self.skipTest("rsyslog not installed")
        d = os.path.join(self.tmp, "rsyslog")
        os.makedirs(d)
        conf = os.path.join(d, "rsyslog.conf")
        with open(conf, "w") as f:
            f.write(RSYSLOG_CONF % {"dir": d, "tag": "tlsapp"})
        self.start([rsyslogd, "-n", "-f", conf, "-i", os.path.join(d, "pid")], env=plain_env())
        sock = os.path.join(d, "log.sock")
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        server, port = self.openssl_server("-www", "-naccept", "1", env=plain_env())
        env = self.env()
        env["SSLSHIM_LOG"] = "syslog:local3:tlsapp:" + sock
        r = run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-CAfile",
                 certs()["untrusted.pem"], "-verify_return_error", "-ign_eof"],
                env=env, input=b"", stdin=None)
        self.assertNotEqual(r.returncode, 0)
        out = os.path.join(d, "sslshim.log")
        lines = []
        for _ in range(100):                   # rsyslog writes asynchronously
            if os.path.exists(out):
                with open(out) as f:
                    lines = f.read().splitlines()
                if any('"conn_end"' in l for l in lines):
                    break
            time.sleep(0.05)
        self.assertTrue(lines, "nothing reached rsyslog")
        evs = []
        for line in lines:
            facility, severity, tag, msg = line.split(" ", 3)
            self.assertEqual((facility, tag), ("local3", "tlsapp"))
            e = json.loads(msg)
            evs.append(e)
            self.assertEqual(severity, "warning" if e["ev"] in ("alert", "error") and
                             e.get("level", "fatal") == "fatal" else "info", line)
        self.assertEqual(evs[0]["ev"], "process")
        self.assertTrue(events(evs, "alert", desc="unknown_ca"))
        self.assertEqual(len(events(evs, "conn_end")), 1)
        self.assertEqual([e["seq"] for e in evs], list(range(1, len(evs) + 1)))


class SecretArguments(ShimTest):

    def test_secrets_on_the_command_line_stay_out_of_the_log(self):
        """curl with a user's password and a token in its URL, and openssl
        with a pass phrase: the process line names them, never their values."""
        server, port = self.openssl_server("-www", "-naccept", "2", env=plain_env())
        url = "https://bob:hunter2@127.0.0.1:%d/?token=s3cr3t&q=1" % port
        r = run(["curl", "-sS", "--cacert", certs()["ca.pem"], "-u", "alice:hunter3", url],
                env=self.env(), universal_newlines=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-CAfile",
                 certs()["ca.pem"], "-pass", "pass:hunter4"], env=self.env(), input=b"",
                stdin=None)
        self.assertEqual(r.returncode, 0)
        text = ""
        argvs = []
        for path, evs in logs(self.logdir).items():
            with open(path) as f:
                text += f.read()
            argvs += [e["argv"] for e in evs if e["ev"] == "process"]
        self.assertEqual(len(argvs), 2)
        for secret in ("hunter2", "hunter3", "hunter4", "s3cr3t"):
            self.assertNotIn(secret, text)
        curl = [a for a in argvs if a[0].endswith("curl")][0]
        # curl blanks -u's argument in its own memory; else the shim redacts it
        self.assertIn(curl[curl.index("-u") + 1].strip(), ("", "alice:<redacted>"))
        self.assertIn("https://bob:<redacted>@127.0.0.1:%d/?token=<redacted>&q=1" % port, curl)
        ossl = [a for a in argvs if a[0].endswith("openssl")][0]
        self.assertEqual(ossl[ossl.index("-pass") + 1], "<redacted>")
        self.assertIn("-CAfile", ossl)


class KeyLog(ShimTest):

    def capture(self, version_flag, variable="SSLSHIM_KEYLOG"):
        tshark = shutil.which("tshark")
        if not tshark:
            self.skipTest("tshark not installed")
        server, port = self.openssl_server("-www", "-naccept", "1", version_flag,
                                           env=plain_env())
        pcap = os.path.join(self.tmp, "cap.pcapng")
        cap = self.start([tshark, "-i", "lo", "-f", "tcp port %d" % port, "-w", pcap],
                         env=plain_env())
        cap.wait_for(r"Capturing on", timeout=20)
        keys = os.path.join(self.tmp, "keys.txt")
        r = run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, version_flag,
                 "-ign_eof", "-quiet"], env=self.env(**{variable: keys}),
                input=b"GET /the-secret-page HTTP/1.0\r\n\r\n", stdin=None)
        self.assertEqual(r.returncode, 0)
        server.wait(10)
        # Stop the capture once it holds both FINs (the whole connection),
        # or after 5 s: on a loaded machine 0.5 s was sometimes too short.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            fins = run([tshark, "-r", pcap, "-Y", "tcp.flags.fin==1"], universal_newlines=True)
            if len(fins.stdout.splitlines()) >= 2:
                break
            time.sleep(0.2)
        time.sleep(0.2)
        cap.stop(signal.SIGINT)
        self.assertEqual(os.stat(keys).st_mode & 0o777, 0o600)
        with open(keys) as f:
            text = f.read()
        self.assertNotIn("the-secret-page", open(pcap, "rb").read().decode("latin-1"))
        plain = run([tshark, "-r", pcap, "-Y", "http.request", "-T", "fields",
                     "-e", "http.request.uri"], universal_newlines=True)
        self.assertNotIn("/the-secret-page", plain.stdout, "readable without the keys?")
        dec = run([tshark, "-r", pcap, "-o", "tls.keylog_file:" + keys, "-Y", "http.request",
                   "-T", "fields", "-e", "http.request.uri"], universal_newlines=True)
        self.assertIn("/the-secret-page", dec.stdout, dec.stderr)
        return text

    def test_key_log_decrypts_tls13(self):
        text = self.capture("-tls1_3")
        self.assertIn("CLIENT_TRAFFIC_SECRET_0 ", text)

    def test_key_log_decrypts_tls12(self):
        text = self.capture("-tls1_2")
        self.assertIn("CLIENT_RANDOM ", text)

    def test_standard_variable_decrypts_a_capture(self):
        """SSLKEYLOGFILE, as Wireshark users set it, when SSLSHIM_KEYLOG is not."""
        text = self.capture("-tls1_3", variable="SSLKEYLOGFILE")
        self.assertIn("SERVER_HANDSHAKE_TRAFFIC_SECRET ", text)

    def test_a_program_that_logs_its_keys_itself_is_not_doubled(self):
        """curl writes SSLKEYLOGFILE itself: each secret is there once."""
        server, port = self.openssl_server("-www", "-naccept", "1", env=plain_env())
        keys = os.path.join(self.tmp, "keys.txt")
        r = run(["curl", "-sS", "--cacert", certs()["ca.pem"], "https://127.0.0.1:%d/" % port],
                env=self.env(SSLKEYLOGFILE=keys), universal_newlines=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(keys) as f:
            lines = [l for l in f.read().splitlines() if l and not l.startswith("#")]
        self.assertGreaterEqual(len(lines), 5)         # TLS 1.3: five secrets
        self.assertEqual(len(lines), len(set(lines)), lines)
        self.assertTrue(self.all_events(), "curl ran without the shim?")

    def test_collect_finds_the_key_log_wherever_it_was_written(self):
        """The key log outside the log directory (where SSLKEYLOGFILE points):
        collect --include-keylog packs it, found through the process line;
        without the option it stays out."""
        import tarfile
        server, port = self.openssl_server("-www", "-naccept", "1", env=plain_env())
        keys = os.path.join(self.tmp, "elsewhere", "keys.txt")
        os.makedirs(os.path.dirname(keys))
        run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port], input=b"", stdin=None,
            env=self.env(SSLKEYLOGFILE=keys))
        self.assertEqual(self.all_events()[0]["config"]["keylog"], keys)
        sslshim = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                               "scripts", "sslshim")
        for include in (True, False):
            out = os.path.join(self.tmp, "b%d.tar.gz" % include)
            r = run([sys.executable, sslshim, "collect", "-o", out, "--no-objects"]
                    + (["--include-keylog"] if include else []) + [self.logdir],
                    universal_newlines=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            with tarfile.open(out) as t:
                names = [n.split("/", 1)[1] for n in t.getnames()]     # below the top dir
                top = t.getnames()[0].split("/", 1)[0] + "/"
                manifest = json.load(t.extractfile(top + "manifest.json"))
                secrets = [top + n for n in names if n.startswith("keylogs/")]
                if include:
                    self.assertEqual(len(secrets), 1, names)
                    with open(keys, "rb") as f:
                        self.assertEqual(t.extractfile(secrets[0]).read(), f.read())
                    self.assertEqual(manifest["keylogs"][0]["path"], keys)
                else:
                    self.assertEqual(secrets, [])
                    self.assertEqual(manifest["keylogs"], {"left_out": 1})

    def test_keys_stay_out_by_default(self):
        server, port = self.openssl_server("-www", "-naccept", "1", env=plain_env())
        run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port], env=self.env(),
            input=b"", stdin=None)
        evs = self.all_events()
        self.assertFalse(evs[0]["config"]["keylog"])
        blob = json.dumps(evs)
        self.assertNotIn("TRAFFIC_SECRET", blob)
        self.assertNotIn("CLIENT_RANDOM ", blob)


class SetUserID(ShimTest):

    def test_set_user_id_program_writes_no_log(self):
        """glibc loads a preload into a set-user-ID program only from the
        system library directories and only if it is itself set-user-ID; put
        such a copy there for the length of the test, prove it was loaded
        (its mapping in /proc/PID/maps), and that it stayed inert."""
        if os.geteuid() != 0:
            self.skipTest("needs root to make set-user-ID files")
        libdir = "/usr/lib/x86_64-linux-gnu"
        if not os.path.isdir(libdir):
            self.skipTest("no " + libdir)
        name = "libsslshim-suid-test-%d.so" % os.getpid()
        lib = os.path.join(libdir, name)
        prog = os.path.join(self.tmp, "tls_client_suid")
        shutil.copy(SHIM, lib)
        try:
            os.chmod(lib, 0o4755)
            shutil.copy(fixture("tls_client"), prog)
            os.chmod(prog, 0o4755)
            os.chmod(self.tmp, 0o755)
            os.makedirs(self.logdir)
            os.chmod(self.logdir, 0o1777)
            # a server that holds the connection open so /proc/PID/maps can be read
            holder = socket.socket()
            holder.bind(("127.0.0.1", 0))
            holder.listen(1)
            port = holder.getsockname()[1]
            env = self.env()
            env["LD_PRELOAD"] = name
            p = subprocess.Popen(["setpriv", "--reuid=nobody", "--regid=nogroup",
                                  "--clear-groups", prog, "--port", str(port), "--timeout", "20"],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                conn, _ = holder.accept()
                conn.settimeout(10)
                conn.recv(1024)                 # the ClientHello: SSL_connect is running
                with open("/proc/%d/maps" % p.pid) as f:
                    maps = f.read()
                with open("/proc/%d/auxv" % p.pid, "rb") as f:
                    auxv = f.read()
                conn.close()
            finally:
                holder.close()
                p.wait(timeout=20)
            self.assertIn(name, maps, "the shim was not even loaded: the test proves nothing")
            self.assertTrue(at_secure(auxv))
            self.assertEqual(os.listdir(self.logdir), [])
            self.assertNotIn(b"sslshim", p.stderr.read())
        finally:
            os.unlink(lib)


def at_secure(auxv):
    import struct
    for i in range(0, len(auxv) - 15, 16):
        key, value = struct.unpack("QQ", auxv[i:i + 16])
        if key == 23:                       # AT_SECURE
            return value == 1
    return False
