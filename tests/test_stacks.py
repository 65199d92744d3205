"""Issue 3: call stacks — where they start, what they name, and that the
unwinder stays private to the shim (libgcc_s, opened RTLD_LOCAL; libunwind,
used before issue 12, is never loaded)."""
import os
import re
import shutil
import sys

from lib import ShimTest, certs, events, fixture, logs, plain_env, run


class Stacks(ShimTest):

    def test_cxx_exceptions_still_unwind_through_libgcc(self):
        env = self.env(LD_DEBUG="bindings")
        r = run([fixture("throw_catch")], env=env, universal_newlines=True)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("CAUGHT 1000", r.stdout)
        # the failed handshake's stack was taken, without libunwind...
        (path, evs), = logs(self.logdir).items()
        self.assertTrue(events(evs, "error")[0]["stack"])
        self.assertIn("LIBUNWIND_LOADED no", r.stdout)
        binds = [l for l in r.stderr.splitlines() if "`_Unwind_RaiseException'" in l]
        self.assertTrue(binds, "no binding of _Unwind_RaiseException seen")
        for line in binds:          # ...and every binding still goes to libgcc
            self.assertRegex(line, r"to \S*libgcc_s\.so\.1 ", line)
            self.assertNotIn("libunwind", line)
        for line in r.stderr.splitlines():
            if "binding file" in line and re.search(r"`(_Unwind_\w+|backtrace)'", line):
                self.assertNotIn("libunwind", line.split(" to ")[1], line)

    def test_error_stack_starts_at_the_programs_call(self):
        r = run([fixture("throw_catch")], env=self.env(), universal_newlines=True)
        self.assertEqual(r.returncode, 0)
        (path, evs), = logs(self.logdir).items()
        errs = events(evs, "error")
        self.assertEqual(len(errs), 1, errs)
        stack = errs[0]["stack"]
        self.assertTrue(stack[0]["fn"].startswith("_Z16failed_handshakev+"), stack[0])
        self.assertTrue(any(f.get("fn", "").startswith("main+") for f in stack), stack)
        for f in stack:
            self.assertRegex(f["ip"], r"^0x[0-9a-f]+$")
            self.assertRegex(f["off"], r"^0x[0-9a-f]+$")
            self.assertNotIn("libsslshim", f["obj"])
            self.assertNotIn("libssl.so", f["obj"])
        # a module event names each object before the first stack that uses it
        seen = {}
        for e in evs:
            if e["ev"] == "module":
                seen[e["path"]] = e
                self.assertRegex(e["build_id"], r"^[0-9a-f]{40}$")
                self.assertRegex(e["base"], r"^0x[0-9a-f]+$")
            for f in e.get("stack", []):
                self.assertIn(f["obj"], seen, "module event missing before the stack")
        exe = os.path.realpath(fixture("throw_catch"))
        self.assertIn(exe, seen)
        # off is what addr2line takes: it resolves to the fixture's source
        off = int(stack[0]["off"], 16) - 1
        a2l = run(["addr2line", "-f", "-C", "-e", exe, hex(off)], universal_newlines=True)
        self.assertIn("failed_handshake", a2l.stdout)

    def test_stack_depth_is_honoured(self):
        r = run([fixture("throw_catch")], env=self.env(SSLSHIM_STACK_DEPTH="1"),
                universal_newlines=True)
        self.assertEqual(r.returncode, 0)
        (path, evs), = logs(self.logdir).items()
        self.assertEqual(len(events(evs, "error")[0]["stack"]), 1)

    def test_stacks_none(self):
        r = run([fixture("throw_catch")], env=self.env(SSLSHIM_STACKS="none"),
                universal_newlines=True)
        self.assertIn("LIBUNWIND_LOADED no", r.stdout)
        (path, evs), = logs(self.logdir).items()
        self.assertNotIn("stack", events(evs, "error")[0])


class HonestNames(ShimTest):
    """Issue 16: a stripped library's internal functions were shown under the
    nearest exported name (libcurl's as `curl_ws_meta`).  Every named frame of
    libcurl in the report must lie inside the function it names (checked here
    against libcurl's own symbol table with its sizes), or be marked a guess."""

    def test_libcurl_frames_are_real_functions_or_marked_guesses(self):
        server, port = self.openssl_server("-www", "-naccept", "1", env=plain_env())
        r = run(["curl", "-s", "--cacert", certs()["untrusted.pem"],
                 "https://127.0.0.1:%d/" % port], env=self.env(), universal_newlines=True)
        self.assertNotEqual(r.returncode, 0)
        sslshim = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                               "scripts", "sslshim")
        rep = run([sys.executable, sslshim, "report", self.logdir], universal_newlines=True)
        frames = re.findall(r"^\s+#\d+\s+(.*)\(libcurl\.so\.4\+0x([0-9a-f]+)\)$", rep.stdout, re.M)
        self.assertTrue(frames, rep.stdout[-3000:])
        lib = [l.split("=>")[1].split()[0] for l in run(["ldd", shutil.which("curl")],
               universal_newlines=True).stdout.splitlines() if "libcurl.so.4" in l][0]
        funcs = {}
        for line in run(["nm", "-D", "-S", "--defined-only", lib],
                        universal_newlines=True).stdout.splitlines():
            p = line.split()
            if len(p) == 4:
                funcs.setdefault(p[3].split("@")[0], []).append((int(p[0], 16), int(p[1], 16)))
        guesses = 0
        for label, off in frames:
            addr = int(off, 16) - 1
            label = label.strip()
            if "a guess]" in label:
                guesses += 1
                continue
            name = label.split()[0].split("+")[0]
            if name == "??":
                continue
            if " at " in label:            # a source line: debug information vouches
                continue
            self.assertTrue(any(s <= addr < s + n for s, n in funcs.get(name, ())),
                            "%s shown for libcurl.so.4+0x%s, which is not inside it" % (name, off))
        self.assertTrue(guesses or all(" at " in l for l, _ in frames),
                        "no frame of a stripped libcurl was marked a guess:\n" + rep.stdout[-3000:])

    def test_interpreter_frames_are_one_line(self):
        """A Python program's stack: the interpreter's own frames, a dozen per
        call, are one line ("10 frames in python3.11"), the rest as they are."""
        server, port = self.openssl_server("-www", "-naccept", "1", env=plain_env())
        script = ("import ssl, socket\n"
                  "ctx = ssl.create_default_context(cafile=%r)\n"
                  "s = socket.create_connection(('127.0.0.1', %d))\n"
                  "try:\n    ctx.wrap_socket(s, server_hostname='localhost')\n"
                  "except ssl.SSLError:\n    print('REFUSED')\n" % (certs()["untrusted.pem"], port))
        r = run(["/usr/bin/python3", "-c", script], env=self.env(), universal_newlines=True)
        self.assertIn("REFUSED", r.stdout, r.stderr)
        sslshim = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                               "scripts", "sslshim")
        rep = run([sys.executable, sslshim, "report", self.logdir], universal_newlines=True)
        self.assertIn("Stack (", rep.stdout, rep.stdout[-3000:])
        frames = re.findall(r"^\s+#(\d+)\s+(.*)$", rep.stdout.split("Stack (", 1)[1], re.M)
        collapsed = [(int(i), t) for i, t in frames
                     if re.match(r"\d+ frames in (lib)?python3", t)]
        self.assertTrue(collapsed, rep.stdout[-3000:])
        # the numbering counts the frames the line stands for
        n = int(collapsed[0][1].split()[0])
        after = [int(i) for i, _ in frames if int(i) > collapsed[0][0]]
        self.assertGreaterEqual(n, 3)
        self.assertEqual(after[0], collapsed[0][0] + n)
