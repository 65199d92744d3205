"""The hard rules of DESIGN.md that are checked from outside: no link-time
libssl, exports only what it interposes, inert until used, bad settings never
change the program, set-user-ID processes stay untouched."""
import os
import re
import shutil
import sys
import tempfile

from lib import ROOT, SHIM, ShimTest, certs, events, logs, plain_env, run


def interposed_table():
    with open(os.path.join(ROOT, "shim", "interposed.def")) as f:
        return re.findall(r"^X\((\w+), (\w+)\)", f.read(), re.M)


def interposed_names():
    return {name for name, _ in interposed_table()}


class Rules(ShimTest):

    def test_event_path_runs_one_way(self):
        """No file of shim/ includes a header of a layer above its own
        (shim/LAYERS); the check itself fails on an include that points up,
        and on a file that is in no layer."""
        check = os.path.join(ROOT, "tests", "check_layers.py")
        r = run([sys.executable, check], universal_newlines=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        with tempfile.TemporaryDirectory() as tmp:
            shim = os.path.join(tmp, "shim")
            shutil.copytree(os.path.join(ROOT, "shim"), shim)
            with open(os.path.join(shim, "sink.c"), "a") as f:
                f.write('#include "record.h"\n')          # sink is below record
            r = run([sys.executable, check, shim], universal_newlines=True)
            self.assertEqual(r.returncode, 1)
            self.assertIn("shim/sink.c (sink) includes record.h (record)", r.stderr)
            shutil.copy(os.path.join(ROOT, "shim", "sink.c"), shim)
            open(os.path.join(shim, "newthing.c"), "w").close()
            r = run([sys.executable, check, shim], universal_newlines=True)
            self.assertEqual(r.returncode, 1)
            self.assertIn("newthing.c: not in any layer", r.stderr)

    def test_no_link_time_openssl(self):
        out = run(["readelf", "-d", SHIM], universal_newlines=True, check=True).stdout
        needed = re.findall(r"\(NEEDED\).*\[(.*)\]", out)
        self.assertTrue(needed)
        for lib in needed:
            self.assertNotRegex(lib, r"libssl|libcrypto|libunwind", needed)

    def test_exports_exactly_the_interposed_functions_and_api(self):
        """Each interposed function under OpenSSL 3's version (the default)
        and 1.1's, the public API under its own, nothing else."""
        out = run(["nm", "-D", "--defined-only", SHIM], universal_newlines=True, check=True).stdout
        rows = [line.split() for line in out.splitlines() if line.strip()]
        exported = {r[-1] for r in rows if r[1] != "A"}
        versions = {r[-1] for r in rows if r[1] == "A"}
        expected = {"sslshim_note@@SSLSHIM_1"}
        for name, v11 in interposed_table():
            expected |= {name + "@@OPENSSL_3.0.0", name + "@" + v11}
        self.assertEqual(exported, expected)
        self.assertEqual(versions, {"OPENSSL_1_1_0", "OPENSSL_1_1_1", "OPENSSL_3.0.0", "SSLSHIM_1"})

    def test_every_interposed_function_is_exported_with_the_same_name_as_libssl(self):
        libssl = "/usr/lib/x86_64-linux-gnu/libssl.so.3"
        if not os.path.exists(libssl):
            self.skipTest("no system libssl.so.3")
        out = run(["nm", "-D", "--defined-only", libssl], universal_newlines=True).stdout
        theirs = {line.split()[-1].split("@")[0] for line in out.splitlines() if line.strip()}
        self.assertLessEqual(interposed_names(), theirs)

    def test_programs_without_openssl_create_no_file(self):
        for cmd in (["/bin/true"], ["sh", "-c", "ls / >/dev/null"], ["sh", "-c", "echo hi"]):
            r = run(cmd, env=self.env(SSLSHIM_LEVEL="bogus"))
            self.assertEqual(r.returncode, 0)
            self.assertEqual(r.stderr, b"", "inert processes say nothing")
        self.assertFalse(os.path.exists(self.logdir), "no log directory, no file")

    def test_default_log_location_is_per_uid_and_private(self):
        env = self.env()
        del env["SSLSHIM_LOG"]
        server, port = self.openssl_server("-www", "-naccept", "1", env=plain_env())
        r = run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port], env=env,
                input=b"", stdin=None)
        self.assertEqual(r.returncode, 0)
        d = "/tmp/sslshim-%d" % os.geteuid()
        self.assertTrue(os.path.isdir(d))
        # private: only its owner lists or writes it (root's may let others
        # through, 0711, to the run directories of `sslshim run`)
        self.assertEqual(os.stat(d).st_mode & 0o777 & ~(0o011 if os.geteuid() == 0 else 0), 0o700)
        files = [os.path.join(d, f) for f in os.listdir(d) if f.startswith("openssl.")]
        self.assertTrue(files)
        newest = max(files, key=os.path.getmtime)
        self.assertEqual(os.stat(newest).st_mode & 0o777, 0o600)
        os.unlink(newest)

    def test_bad_settings_leave_exit_code_and_stdout_unchanged(self):
        server, port = self.openssl_server("-www", "-naccept", "2", env=plain_env())
        script = ("import socket, ssl, sys\n"
                  "ctx = ssl.create_default_context(cafile=sys.argv[2])\n"
                  "with ctx.wrap_socket(socket.create_connection(('127.0.0.1', int(sys.argv[1])),"
                  " timeout=10), server_hostname='localhost') as s:\n"
                  "    s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')\n"
                  "    print(s.recv(15).decode(), s.version())\n"
                  "sys.exit(3)\n")
        cmd = ["python3", "-c", script, str(port), certs()["ca.pem"]]
        plain = run(cmd, env=plain_env())
        bad = run(cmd, env=self.env(SSLSHIM_LEVEL="loud", SSLSHIM_STACK_DEPTH="-4",
                                    SSLSHIM_LOOP="x", SSLSHIM_FORMAT="xml",
                                    SSLSHIM_MAX_SIZE="huge"))
        self.assertEqual(plain.returncode, 3)
        self.assertEqual(bad.returncode, plain.returncode)
        self.assertEqual(bad.stdout, plain.stdout)
        err = bad.stderr.decode()
        for var in ("SSLSHIM_LEVEL=loud", "SSLSHIM_STACK_DEPTH=-4", "SSLSHIM_LOOP=x",
                    "SSLSHIM_FORMAT=xml", "SSLSHIM_MAX_SIZE=huge"):
            self.assertEqual(err.count(var), 1, err)
        evs = [e for evs in logs(self.logdir).values() for e in evs]
        self.assertEqual(evs[0]["config"]["level"], "handshake")   # the default, used instead

    def test_unwritable_log_warns_once_and_program_runs(self):
        server, port = self.openssl_server("-www", "-naccept", "1", env=plain_env())
        env = self.env()
        env["SSLSHIM_LOG"] = "/proc/nonexistent/dir/x.log"
        r = run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-ign_eof"],
                env=env, input=b"GET / HTTP/1.0\r\n\r\n", stdin=None)
        self.assertEqual(r.returncode, 0)
        self.assertIn(b"HTTP/1.0 200 ok", r.stdout)
        self.assertEqual(r.stderr.decode().count("sslshim:"), 1, r.stderr)

    def test_disable_makes_it_inert(self):
        server, port = self.openssl_server("-www", "-naccept", "1", env=plain_env())
        r = run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port],
                env=self.env(SSLSHIM_DISABLE="1"), input=b"", stdin=None)
        self.assertEqual(r.returncode, 0)
        self.assertFalse(os.path.exists(self.logdir))

    def test_exe_filter(self):
        server, port = self.openssl_server("-www", "-naccept", "2", env=plain_env())
        r = run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port],
                env=self.env(SSLSHIM_EXE="nginx,curl"), input=b"", stdin=None)
        self.assertEqual(r.returncode, 0)
        self.assertFalse(os.path.exists(self.logdir))
        r = run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port],
                env=self.env(SSLSHIM_EXE="curl,openssl"), input=b"", stdin=None)
        self.assertEqual(r.returncode, 0)
        self.assertEqual(len(logs(self.logdir, "openssl")), 1)

    def test_run_logs_json_whatever_the_environment_says(self):
        """`sslshim run` reads its logs back: SSLSHIM_FORMAT=text in the
        user's environment must not make them unreadable."""
        server, port = self.openssl_server("-www", "-naccept", "1", env=plain_env())
        env = plain_env()
        env["SSLSHIM_FORMAT"] = "text"
        out = os.path.join(self.tmp, "run")
        r = run([sys.executable, os.path.join(ROOT, "scripts", "sslshim"), "run", "-o", out, "--",
                 "openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-CAfile",
                 certs()["ca.pem"]], env=env, input=b"", stdin=None)
        self.assertEqual(r.returncode, 0, r.stderr)
        evs = [e for p, es in logs(out).items() for e in es]     # read_log: JSON or fail
        self.assertEqual(evs[0]["config"]["format"], "json")
        self.assertTrue(events(evs, "handshake_done"))

    def test_stderr_text_format(self):
        server, port = self.openssl_server("-www", "-naccept", "1", "-tls1_2", env=plain_env())
        env = self.env()
        env["SSLSHIM_LOG"] = "stderr"
        r = run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-quiet",
                 "-verify_return_error", "-CAfile", certs()["untrusted.pem"]],
                env=env, input=b"", stdin=None)
        self.assertNotEqual(r.returncode, 0)
        lines = [l for l in r.stderr.decode(errors="replace").splitlines()
                 if re.match(r"\d\d:\d\d:\d\d\.\d{6} sslshim\[", l)]
        self.assertTrue(lines)
        self.assertTrue(any(re.match(r"\S+ sslshim\[\d+\] conn 1 alert: SSL3 alert write:fatal:"
                                     r"(unknown CA|bad certificate)", l) for l in lines), lines)
        # the time is the event's, in order; no field repeats what the words say
        times = [l.split()[0] for l in lines]
        self.assertEqual(times, sorted(times))
        state = [l for l in lines if " state: " in l][0]
        self.assertNotIn('state="', state)
        self.assertEqual(r.stdout, b"", "nothing on stdout")
