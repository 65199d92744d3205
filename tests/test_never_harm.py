"""Issue 12: never harm the program.

Each test runs a program with and without the shim and compares what the
program does (stdout, exit status, the files it writes), then checks what the
shim logged.  Servers are the tests' own, on 127.0.0.1; every run is bounded,
so a hang is a failure; only processes the test started are stopped, by PID.
"""
import errno
import glob
import json
import os
import re
import resource
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import textwrap
import time

from lib import ShimTest, certs, events, fixture, logs, plain_env, read_log, run


def shim_lines(text):
    """The shim's lines in a program's stderr."""
    return [l for l in text.splitlines() if l.startswith("sslshim")]


class NeverHarm(ShimTest):
    """Helpers shared by the tests below."""

    def echo_server(self, env=None, *args):
        """tls_server (not under the shim) that echoes on any number of
        connections, for the length of the test."""
        return self.fixture_server("--conns", "0", "--threads", "--timeout", "900",
                                   *args, env=env if env is not None else plain_env())

    def bounded(self, cmd, env, timeout, what=None, **kw):
        """run(), with a run past `timeout` seconds (killed by run) a failure."""
        kw.setdefault("universal_newlines", True)
        t0 = time.monotonic()
        try:
            r = run(cmd, env=env, timeout=timeout, **kw)
        except subprocess.TimeoutExpired:
            self.fail("%s did not finish within %s s (hung)" % (what or cmd[0], timeout))
        r.elapsed = time.monotonic() - t0
        return r

    def assert_same_run(self, plain, shimmed, what=""):
        self.assertEqual(plain.returncode, 0, "%s without the shim: %s %s"
                         % (what, plain.stdout, plain.stderr))
        self.assertEqual(shimmed.returncode, plain.returncode,
                         "%s: exit status differs; stderr: %s" % (what, shimmed.stderr[-2000:]))
        self.assertEqual(shimmed.stdout, plain.stdout, what)
        self.assertLessEqual(len(shim_lines(shimmed.stderr)), 1, shimmed.stderr)


# -- 1, 2: descriptors the program closes and reuses -----------------------------

class DescriptorReuse(NeverHarm):

    def daemon(self, env, *opts, timeout=20):
        """harm_daemon in a directory of its own; its results and files."""
        d = tempfile.mkdtemp(dir=self.tmp, prefix="daemon-")
        data, plog = os.path.join(d, "data"), os.path.join(d, "program.log")
        r = self.bounded([fixture("harm_daemon"), "--port", str(self.port), "--cafile",
                          certs()["ca.pem"], "--data", data, "--log", plog, *opts],
                         env, timeout, "harm_daemon " + " ".join(opts))
        with open(plog) as f:
            r.plog = f.read()
        with open(data, "rb") as f:
            r.data = f.read()
        # What the program itself wrote to its log (stdout and stderr after
        # the dup2): without its note about the reused number and our warning.
        r.program_lines = [l for l in r.plog.splitlines()
                           if not l.startswith(("harm_daemon:", "sslshim"))]
        return r

    def check_daemon(self, *opts, extra_env=None, timeout=20):
        """The daemon under the shim behaves as without it; returns the run."""
        plain = self.daemon(plain_env(), *opts)
        self.assertEqual(plain.returncode, 0, plain.plog)
        shimmed = self.daemon(self.env(**(extra_env or {})), *opts, timeout=timeout)
        what = "harm_daemon " + " ".join(opts)
        self.assertTrue(re.search(r"harm_daemon: reused descriptor \d+", shimmed.plog),
                        "the program did not get a number the shim had: the test proves "
                        "nothing\n" + shimmed.plog)
        self.assertEqual(shimmed.returncode, plain.returncode, "%s: %s" % (what, shimmed.plog))
        self.assertEqual(shimmed.stdout, plain.stdout, what)
        self.assertEqual(shimmed.program_lines, plain.program_lines, what)
        self.assertEqual(shimmed.data, b"first record\nsecond record\n", what)
        self.assertLessEqual(len(shim_lines(shimmed.stderr)) + len(shim_lines(shimmed.plog)), 1,
                             shimmed.plog)
        return shimmed

    def check_both_connections_logged(self):
        evs = self.all_events("harm_daemon")      # read_log: every line whole JSON
        done = events(evs, "handshake_done")
        ends = events(evs, "conn_end")
        self.assertEqual(len(done), 2, "handshake_done of both connections")
        self.assertEqual(len({e["conn"] for e in done}), 2)
        self.assertEqual(len({e["conn"] for e in ends if e["handshakes"]}), 2,
                         "conn_end of both connections")

    def setUp(self):
        super().setUp()
        server, self.port = self.echo_server()

    def test_data_file_gets_the_log_descriptor_after_a_close_loop(self):
        self.check_daemon("--close", "loop", "--reuse", "file")
        self.check_both_connections_logged()

    def test_data_file_gets_the_log_descriptor_after_close_range(self):
        self.check_daemon("--close", "range", "--reuse", "file")
        self.check_both_connections_logged()

    def test_socket_gets_the_log_descriptor(self):
        """A socket with the log's old number gets no JSON: its handshake succeeds."""
        self.check_daemon("--close", "loop", "--reuse", "socket")
        self.check_both_connections_logged()

    def test_stacks_all_never_hang_a_daemon(self):
        """SSLSHIM_STACKS=all: reused unwinder descriptors never hang a daemon.

        The unwinder's own descriptors (libunwind's address-check pipe) were
        closed too and their numbers became the program's socket (used in a
        thread, whose fresh stack pages get checked): the unwinder read from
        the socket (stalled until its 10 s timeout) and wrote stack bytes into
        the program's files.  Ten runs, each bounded at 8 s."""
        for i in range(10):
            self.check_daemon("--close", "loop", "--reuse", "pipe", "--thread",
                              extra_env={"SSLSHIM_STACKS": "all"}, timeout=8)


# -- 3: SSL_dup ---------------------------------------------------------------

class Dup(NeverHarm):

    def test_handshake_on_a_copy(self):
        server, port = self.echo_server()
        cmd = [fixture("harm_dup"), "--port", str(port), "--cafile", certs()["ca.pem"]]
        plain = self.bounded(cmd, plain_env(), 20)
        shimmed = self.bounded(cmd, self.env(), 20)
        self.assertIn("ECHO_OK", plain.stdout)
        self.assertIn("GETTER copy=own", plain.stdout)
        self.assert_same_run(plain, shimmed, "handshake on an SSL_dup copy")
        evs = self.all_events("harm_dup")
        self.assertEqual(len(events(evs, "handshake_done")), 1, "the copy's handshake is logged")

    def test_many_copies_cost_nothing(self):
        n = 200000
        cmd = [fixture("harm_dup"), "--churn", str(n), "--timeout", "120"]
        plain = self.bounded(cmd, plain_env(), 150)
        shimmed = self.bounded(cmd, self.env(), 150)
        self.assert_same_run(plain, shimmed, "%d SSL_dup + SSL_free" % n)

        def growth(r):
            m = re.search(r"MAXRSS_KB before=(\d+) after=(\d+)", r.stderr)
            self.assertTrue(m, r.stderr)
            return int(m.group(2)) - int(m.group(1))
        extra = growth(shimmed) - growth(plain)
        self.assertLessEqual(extra, 4096, "max RSS grew %d KB more under the shim" % extra)
        ends = events(self.all_events("harm_dup"), "conn_end")
        self.assertLessEqual(len(ends), 10, "%d conn_end lines for copies never used" % len(ends))


# -- 4: a libssl loaded after many other objects ----------------------------------

MANY_LIBS_CLIENT = textwrap.dedent("""
    # Load every shared object in a directory with ctypes, then import ssl and
    # make one TLS connection.
    import ctypes, glob, socket, sys
    libdir, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    libs = [ctypes.CDLL(p) for p in sorted(glob.glob(libdir + "/*.so"))]
    with open("/proc/self/maps") as f:
        objects = {l.split()[-1] for l in f if ".so" in l.split()[-1]}
    print("OBJECTS", len(objects), file=sys.stderr)
    import ssl
    ctx = ssl.create_default_context(cafile=ca)
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                         server_hostname="localhost") as s:
        s.sendall(b"hello\\n")
        print("TLS", s.version(), s.recv(6), sum(l.answer() for l in libs), flush=True)
""")

SMALL_LIB = "int answer(void) { return 1; }\n"


class ManyLibraries(NeverHarm):

    def make_libs(self, n=150):
        """n distinct small shared objects (copies of one: each file is an
        object of its own to the dynamic loader)."""
        d = os.path.join(self.tmp, "libs")
        os.makedirs(d)
        src, first = os.path.join(self.tmp, "small.c"), os.path.join(d, "libsmall000.so")
        with open(src, "w") as f:
            f.write(SMALL_LIB)
        run(["cc", "-shared", "-fPIC", "-o", first, src], check=True)
        for i in range(1, n):
            shutil.copy(first, os.path.join(d, "libsmall%03d.so" % i))
        return d

    def test_python_loads_many_objects_before_ssl(self):
        libdir = self.make_libs()
        script = os.path.join(self.tmp, "many_libs.py")
        with open(script, "w") as f:
            f.write(MANY_LIBS_CLIENT)
        server, port = self.echo_server()
        pythons = ["/usr/bin/python3"]
        on_path = shutil.which("python3", path=plain_env().get("PATH"))
        if on_path and os.path.realpath(on_path) != os.path.realpath(pythons[0]):
            pythons.append(on_path)
        for python in pythons:
            cmd = [python, script, libdir, str(port), certs()["ca.pem"]]
            plain = self.bounded(cmd, plain_env(), 30)
            self.assertEqual(plain.returncode, 0, plain.stderr)
            objects = int(re.search(r"OBJECTS (\d+)", plain.stderr).group(1))
            self.assertGreater(objects, 64, "too few objects loaded to prove anything")
            for disable in (False, True):
                logdir = os.path.join(self.tmp, "logs-%d-%s" % (len(python), disable))
                env = self.env(**({"SSLSHIM_DISABLE": "1"} if disable else {}))
                env["SSLSHIM_LOG"] = logdir + "/"
                shimmed = self.bounded(cmd, env, 30)
                self.assert_same_run(plain, shimmed, "%s, SSLSHIM_DISABLE=%s" % (python, disable))
                evs = [e for f in logs(logdir).values() for e in f]
                if disable:
                    self.assertEqual(evs, [])
                else:
                    self.assertEqual(len(events(evs, "handshake_done")), 1, python)


# -- 5: RLIMIT_FSIZE ----------------------------------------------------------------

FSIZE_LIMIT = 16 * 1024


def limit_file_size():
    """preexec_fn: a 16 KiB file size limit, SIGXFSZ at its default action."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE_LIMIT, FSIZE_LIMIT))
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)


class FileSizeLimit(NeverHarm):

    def limited_client(self, **shim_env):
        server, port = self.echo_server()
        cmd = [fixture("tls_client"), "--port", str(port), "--cafile", certs()["ca.pem"],
               "--count", "50"]
        plain = self.bounded(cmd, plain_env(), 60, preexec_fn=limit_file_size)
        shimmed = self.bounded(cmd, self.env(**shim_env), 60, preexec_fn=limit_file_size)
        self.assertNotEqual(shimmed.returncode, -signal.SIGXFSZ, "killed by SIGXFSZ")
        self.assert_same_run(plain, shimmed, "50 connections under RLIMIT_FSIZE")
        self.assertIn("OK 50", shimmed.stdout)
        files = sorted(glob.glob(os.path.join(self.logdir, "*")))
        self.assertTrue(files)
        for path in files:
            self.assertLessEqual(os.path.getsize(path), FSIZE_LIMIT, path)
            read_log(path)                       # every line whole JSON
        return shimmed, files

    def test_rotation_stays_below_the_limit(self):
        shimmed, files = self.limited_client(SSLSHIM_MAX_FILES="1000")
        self.assertGreater(len(files), 1, "rotated before reaching the limit")

        def generation(path):
            m = re.search(r"\.(\d+)$", path)
            return -int(m.group(1)) if m else 0
        evs = [e for path in sorted(files, key=generation) for e in read_log(path)]
        seqs = [e["seq"] for e in evs]
        self.assertEqual(seqs, sorted(seqs), "seq runs on across the rotated files")
        dropped = events(evs, "dropped")
        self.assertTrue(all(d["reason"] == "file size limit" for d in dropped), dropped)
        self.assertEqual(seqs[-1] - len(seqs), sum(d["n"] for d in dropped),
                         "every seq gap is explained by a dropped event")

    def test_without_rotation_lines_past_the_limit_are_dropped(self):
        shimmed, files = self.limited_client(SSLSHIM_MAX_SIZE="0")
        self.assertEqual(len(files), 1, files)
        self.assertGreater(os.path.getsize(files[0]), FSIZE_LIMIT // 2, "the limit was reached")
        warned = shim_lines(shimmed.stderr)
        self.assertEqual(len(warned), 1, shimmed.stderr)
        self.assertRegex(warned[0], r"(?i)file size limit|RLIMIT_FSIZE")
        self.assertNotIn("No space left", warned[0])


# -- 6: log targets that would block -------------------------------------------------

def drain(fd):
    """What a non-blocking pipe holds now."""
    got = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        got += chunk
    return got


class BlockingSinks(NeverHarm):

    def client(self, env, count, timeout, **kw):
        cmd = [fixture("tls_client"), "--port", str(self.port), "--cafile", certs()["ca.pem"],
               "--count", str(count)]
        return self.bounded(cmd, env, timeout, "tls_client --count %d" % count, **kw)

    def setUp(self):
        super().setUp()
        server, self.port = self.echo_server()
        os.makedirs(self.logdir)

    def test_fifo_without_a_reader(self):
        fifo = os.path.join(self.logdir, "fifo")
        os.mkfifo(fifo, 0o600)
        plain = self.client(plain_env(), 3, 30)
        env = self.env()
        env["SSLSHIM_LOG"] = fifo
        shimmed = self.client(env, 3, 5)
        self.assert_same_run(plain, shimmed, "SSLSHIM_LOG naming a FIFO nobody reads")

    def test_fifo_whose_reader_stops_reading(self):
        fifo = os.path.join(self.logdir, "fifo")
        os.mkfifo(fifo, 0o600)
        plain = self.client(plain_env(), 300, 120)
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)   # open, and never read
        try:
            env = self.env(SSLSHIM_LEVEL="io")
            env["SSLSHIM_LOG"] = fifo
            shimmed = self.client(env, 300, 60)
            self.assert_same_run(plain, shimmed, "a FIFO whose reader stopped")
            self.assertLess(shimmed.elapsed, plain.elapsed * 3 + 10,
                            "%.1f s against %.1f s without the shim"
                            % (shimmed.elapsed, plain.elapsed))
            got = drain(reader)
            self.assertGreaterEqual(len(got), 32 * 1024, "the pipe never filled up")
            self.assertTrue(got.endswith(b"\n"), got[-200:])
            for line in got.split(b"\n")[:-1]:          # whole lines, never a fragment
                json.loads(line.decode("utf-8"))
        finally:
            os.close(reader)

    def test_stderr_pipe_nobody_reads(self):
        # SSLSHIM_LOG=stderr into a pipe whose reader holds it open and stops
        # reading (a supervisor that hangs): the program must not wait for it.
        cmd = [fixture("tls_client"), "--port", str(self.port), "--cafile", certs()["ca.pem"],
               "--count", "300"]
        plain = self.bounded(cmd, plain_env(), 120, stderr=subprocess.DEVNULL)
        rfd, wfd = os.pipe()
        try:
            env = self.env(SSLSHIM_LEVEL="io")
            env["SSLSHIM_LOG"] = "stderr"
            shimmed = self.bounded(cmd, env, 60, "tls_client, stderr a stalled pipe",
                                   stderr=wfd)
            self.assertEqual(shimmed.returncode, plain.returncode)
            self.assertEqual(shimmed.stdout, plain.stdout)
            os.set_blocking(rfd, False)
            got = drain(rfd)
            self.assertGreaterEqual(len(got), 32 * 1024, "the pipe never filled up")
            for line in got.split(b"\n")[:-1]:              # whole lines, never a fragment
                self.assertTrue(re.match(rb"(\d\d:\d\d:\d\d\.\d{6} sslshim\[|sslshim: )", line),
                                line[:200])
        finally:
            os.close(rfd)
            os.close(wfd)

    def test_syslog_socket_nobody_reads(self):
        path = os.path.join(self.logdir, "log.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(path)
            plain = self.client(plain_env(), 50, 60)
            env = self.env()
            env["SSLSHIM_LOG"] = "syslog:local3:tlsapp:" + path
            shimmed = self.client(env, 50, 60)
            self.assert_same_run(plain, shimmed, "syslog to a socket nobody reads")
            self.assertLess(shimmed.elapsed, plain.elapsed * 3 + 10)
            sock.setblocking(False)
            received = 0
            try:
                while True:
                    sock.recv(65536)
                    received += 1
            except BlockingIOError:
                pass
            self.assertGreater(received, 0, "nothing reached the socket: the test proves nothing")
        finally:
            sock.close()


# -- 7: a short write on a full disk -----------------------------------------------------

STEPPED_CLIENT = textwrap.dedent("""
    # Three TLS connections; waits for a line on stdin after each of the
    # first two, so the test can act on the log in between.
    import socket, ssl, sys
    port, ca = int(sys.argv[1]), sys.argv[2]
    ctx = ssl.create_default_context(cafile=ca)
    for i in range(3):
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                             server_hostname="localhost") as s:
            s.sendall(b"hello\\n")
            print(i, s.version(), s.recv(6), flush=True)
        if i < 2:
            sys.stdin.readline()
""")


class ShortWrite(NeverHarm):

    def stepped(self, env, between):
        return self.run_stepped(STEPPED_CLIENT, self.port, env, between)

    def test_no_fragment_when_the_disk_fills_mid_line(self):
        server, self.port = self.echo_server()
        mnt = os.path.join(self.tmp, "small")
        os.makedirs(mnt)
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", mnt],
                          stderr=subprocess.DEVNULL).returncode != 0:
            self.skipTest("cannot mount a tmpfs here (needs root)")
        try:
            self.fill_and_log(mnt)
        finally:
            subprocess.run(["umount", mnt])

    def fill_and_log(self, mnt):
        filler = os.path.join(mnt, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(fd, b"x" * 4096)
        except OSError as e:
            self.assertEqual(e.errno, errno.ENOSPC)
        finally:
            os.close(fd)
        # One page left: the log's first bursts fit, a later one is cut short.
        os.truncate(filler, os.path.getsize(filler) - 4096)
        plain = self.stepped(plain_env(), lambda i: None)
        env = self.env()
        env["SSLSHIM_LOG"] = mnt + "/"
        # After the first connection the space comes back; two more follow.
        rc, out, err = self.stepped(env, lambda i: i == 0 and os.unlink(filler))
        self.assertEqual((rc, out), plain[:2])
        self.assertEqual(plain[0], 0, plain[2])
        self.assertLessEqual(len(shim_lines(err)), 1, err)
        (path, _), = logs(mnt).items()
        self.assertGreater(os.path.getsize(path), 4096, "the log never got past the space it had")
        evs = read_log(path)                 # every line ends with \n and is JSON
        self.assertEqual(evs[0]["ev"], "process")
        dropped = events(evs, "dropped")
        self.assertTrue(dropped, "the lost lines are counted")
        seqs = [e["seq"] for e in evs]
        self.assertEqual(seqs, sorted(seqs))
        self.assertEqual(seqs[-1] - len(seqs), sum(d["n"] for d in dropped),
                         "the seq gap is what `dropped` reports")
        self.assertGreaterEqual(len(events(evs, "handshake_done")), 2)


# -- 8: a call left by siglongjmp -------------------------------------------------------

class AbandonedCall(NeverHarm):

    def test_new_connection_after_siglongjmp_out_of_ssl_read(self):
        c = certs()
        good, port = self.echo_server()
        bad, bad_port = self.echo_server(None, "--cert", c["untrusted.pem"],
                                         "--key", c["untrusted.key"])
        cmd = [fixture("harm_longjmp"), "--port", str(port), "--bad-port", str(bad_port),
               "--cafile", c["ca.pem"]]
        plain = self.bounded(cmd, plain_env(), 30)
        self.assertIn("READ_INTERRUPTED", plain.stdout)
        self.assertIn("SECOND SSL_ERROR_SSL certificate verify failed", plain.stdout)
        shimmed = self.bounded(cmd, self.env(), 30)
        self.assert_same_run(plain, shimmed, "siglongjmp out of SSL_read")
        evs = self.all_events("harm_longjmp")
        starts = {e["peer"]: e for e in events(evs, "handshake_start")}
        second = starts["127.0.0.1:%d" % bad_port]
        self.assertEqual(second["entry"], "SSL_connect")
        errors = [e for e in events(evs, "error") if e.get("conn") == second["conn"]]
        self.assertEqual([e["fn"] for e in errors], ["SSL_connect"], "the failure is logged")


# -- 9: SSL_set_SSL_CTX in the servername callback ----------------------------------------

class SwitchedContext(NeverHarm):

    def sni_server(self, env):
        c = certs()
        p = self.start([fixture("harm_sni_server"), "--port", "0", "--cert", c["server.pem"],
                        "--key", c["server.key"], "--conns", "3", "--timeout", "30"], env=env)
        port = int(p.wait_for(r"PORT (\d+)").group(1))
        for sni, extra in (("second.example", []), ("first.example", []),
                           ("second.example", ["--max-version", "tls1.2"])):
            self.bounded([fixture("tls_client"), "--port", str(port), "--sni", sni, *extra],
                         plain_env(), 30, check=True)
        self.assertEqual(p.wait(30), 0, p.errors())
        return p.output().split("\n", 1)[1]          # without the PORT line

    def test_info_callbacks_of_both_contexts(self):
        plain = self.sni_server(plain_env())
        self.assertIn("ACCEPT_OK second.example", plain)
        shimmed = self.sni_server(self.env())
        self.assertEqual(shimmed, plain)
        self.assertEqual(len(events(self.all_events("harm_sni_server"), "handshake_done")), 3)


# -- 10: someone else's file where the log goes -----------------------------------------

class ForeignLogFile(NeverHarm):

    def test_file_another_user_made_in_a_sticky_directory(self):
        server, port = self.echo_server()
        shared = os.path.join(self.tmp, "shared")
        os.makedirs(shared)
        os.chown(shared, 65534, 65534)
        os.chmod(shared, 0o1777)
        target = os.path.join(shared, "tls.jsonl")
        with open(target, "wb") as f:
            f.write(b"nobody's own data\n")
        os.chown(target, 65534, 65534)
        os.chmod(target, 0o666)
        before = os.stat(target)
        cmd = [fixture("tls_client"), "--port", str(port), "--cafile", certs()["ca.pem"]]
        plain = self.bounded(cmd, plain_env(), 30)
        env = self.env()
        env["SSLSHIM_LOG"] = target                  # a template without %p
        shimmed = self.bounded(cmd, env, 30)
        self.assert_same_run(plain, shimmed, "log file owned by another user")
        after = os.stat(target)
        with open(target, "rb") as f:
            self.assertEqual(f.read(), b"nobody's own data\n")
        self.assertEqual((after.st_uid, after.st_gid, stat.S_IMODE(after.st_mode)),
                         (before.st_uid, before.st_gid, stat.S_IMODE(before.st_mode)))
        self.assertEqual(len(shim_lines(shimmed.stderr)), 1, shimmed.stderr)
        self.assertEqual(os.listdir(shared), ["tls.jsonl"])


# -- 11: exit and fork while other threads work ----------------------------------------------

class Races(NeverHarm):

    def check_conn_ends(self, evs, port, path):
        seen = set()
        for e in events(evs, "conn_end"):
            self.assertIn("conn", e, "%s: %s" % (path, e))
            self.assertNotIn(e["conn"], seen, "two conn_end for one connection")
            seen.add(e["conn"])
            self.assertIn(e["role"], (None, "client"), e)
            self.assertIn(e["peer"], (None, "127.0.0.1:%d" % port), e)
            self.assertFalse([k for k in e if k.endswith("_hex")], e)
            self.assertLessEqual(e["handshakes"], 1, e)
            self.assertLess(e["ms"], 60000, e)

    def test_exit_while_threads_make_and_free_connections(self):
        """exit() amid 16 busy threads: no crash, hang or garbage (30 runs).

        Freed memory is filled (MALLOC_PERTURB_), so that a conn used after
        it was freed shows up as garbage in its conn_end, or a crash."""
        server, port = self.echo_server()
        cmd = [fixture("harm_exit_race"), "--port", str(port), "--cafile", certs()["ca.pem"],
               "--threads", "16"]
        env_plain = plain_env()
        env_plain["MALLOC_PERTURB_"] = "165"
        plain = self.bounded(cmd + ["--after-ms", "200"], env_plain, 20)
        self.assertEqual(plain.stdout, "STARTED 16\nEXITING\n", plain.stderr)
        for i in range(30):
            logdir = os.path.join(self.tmp, "run%d" % i)
            env = self.env(MALLOC_PERTURB_="165")
            env["SSLSHIM_LOG"] = logdir + "/"
            ms = str(100 + 10 * (i % 20))
            shimmed = self.bounded(cmd + ["--after-ms", ms], env, 20, "run %d" % i)
            self.assert_same_run(plain, shimmed, "run %d (exit after %s ms)" % (i, ms))
            for path, evs in logs(logdir).items():     # read_log: whole lines
                self.check_conn_ends(evs, port, path)

    def test_fork_handlers_leave_no_lock_reinitialised(self):
        """The fork child releases the shim's locks; it never re-initialises
        a locked mutex (undefined behaviour), which DRD reports as 'Mutex
        reinitialization' (it did in atfork_child on 22eebb0)."""
        if not shutil.which("valgrind"):
            self.skipTest("valgrind not installed")
        server, port = self.echo_server()
        env = self.env()
        r = self.bounded(["valgrind", "--tool=drd", "-q", fixture("harm_fork"), "--port",
                          str(port), "--cafile", certs()["ca.pem"], "--threads", "1",
                          "--forks", "2", "--timeout", "150"], env, 200, "harm_fork under DRD")
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        self.assertIn("FORKS ok=2", r.stdout)
        records = re.split(r"\n(?===\d+== \S)", r.stderr)
        ours = [rec for rec in records if "reinitialization" in rec.lower() and
                re.search(r"libsslshim|\(\w+\.c:\d+\)", rec) and
                re.search(r"atfork|shim/|sink\.c|conn\.c|flight\.c|loop\.c|stack\.c|init\.c", rec)]
        self.assertFalse(ours, "\n".join(ours)[:3000])

    def test_fork_while_threads_are_in_the_shim(self):
        """Children fork()ed while 4 threads are anywhere in OpenSSL and the
        shim, and exit() at once (a threaded server's fork-and-exec): the
        shim's fork handlers and exit never hang or fail a child, and a
        child that makes no TLS call writes no log."""
        server, port = self.echo_server()
        cmd = [fixture("harm_fork"), "--port", str(port), "--cafile", certs()["ca.pem"],
               "--threads", "4", "--forks", "40", "--child", "exit", "--timeout", "200"]
        plain = self.bounded(cmd, plain_env(), 250)
        self.assertEqual(plain.stdout, "FORKS ok=40 hung=0 failed=0\n", plain.stderr)
        for stacks in ("errors", "all"):
            logdir = os.path.join(self.tmp, "exit-stacks-" + stacks)
            env = self.env(SSLSHIM_STACKS=stacks)
            env["SSLSHIM_LOG"] = logdir + "/"
            shimmed = self.bounded(cmd, env, 250)
            self.assert_same_run(plain, shimmed, "fork and exit with SSLSHIM_STACKS=" + stacks)
            files = logs(logdir, "harm_fork")
            self.assertEqual(len(files), 1, sorted(files))
            for path, evs in files.items():
                self.assertEqual(evs[0]["ppid"], os.getpid(), path)
                self.assert_seq_complete(evs, path)

    def test_fork_while_threads_log(self):
        server, port = self.echo_server()
        cmd = [fixture("harm_fork"), "--port", str(port), "--cafile", certs()["ca.pem"],
               "--threads", "4", "--forks", "20", "--timeout", "200"]
        plain = self.bounded(cmd, plain_env(), 250)
        self.assertEqual(plain.stdout, "FORKS ok=20 hung=0 failed=0\n", plain.stderr)
        for stacks in ("errors", "all"):
            logdir = os.path.join(self.tmp, "stacks-" + stacks)
            env = self.env(SSLSHIM_STACKS=stacks)
            env["SSLSHIM_LOG"] = logdir + "/"
            shimmed = self.bounded(cmd, env, 250)
            self.assert_same_run(plain, shimmed, "fork with SSLSHIM_STACKS=" + stacks)
            files = logs(logdir, "harm_fork")
            self.assertEqual(len(files), 21, sorted(files))
            parents = [evs for evs in files.values() if evs[0]["ppid"] == os.getpid()]
            self.assertEqual(len(parents), 1)
            for path, evs in files.items():
                self.assert_seq_complete(evs, path)
                self.assertEqual(len({e["pid"] for e in evs}), 1, path)
                if evs is not parents[0]:
                    self.assertEqual(evs[0]["ppid"], parents[0][0]["pid"], path)
                    self.assertEqual(len(events(evs, "handshake_done")), 1, path)
                    self.assertEqual(len(events(evs, "conn_end")), 1, path)
