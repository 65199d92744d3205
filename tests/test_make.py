"""The README's promises about the build: `make demo` shows the loop, the
alerts and the retrying function; `make install` honours PREFIX and DESTDIR."""
import os
import re
import shutil
import tempfile

from lib import ROOT, ShimTest, run


class Make(ShimTest):

    def test_demo_shows_alerts_loop_and_retrying_function(self):
        r = run(["sh", "tests/demo.sh"], cwd=ROOT, universal_newlines=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout
        self.assertIn("SSL3 alert write:fatal:bad record mac   in state \"SSLv3/TLS read", out)
        self.assertIn("SSL3 alert read:fatal:bad record mac", out)
        self.assertIn("LOOP: reconnect to 127.0.0.1:", out)
        self.assertRegex(out, r"reconnect_with_retry\+0x[0-9a-f]+ +tls_client +\(tests/fixtures/tls_client\.c:\d+\)")
        self.assertIn("6 handshakes seen from both ends", out)

    def deps_copy(self, packages, installs):
        """tests/ensure-deps.sh beside a packages list and an install-deps.sh
        that only says it ran (and succeeds or not)."""
        d = tempfile.mkdtemp(dir=self.tmp)
        shutil.copy(os.path.join(ROOT, "tests", "ensure-deps.sh"), d)
        with open(os.path.join(d, "packages.txt"), "w") as f:
            f.write("# a comment\n" + "\n".join(packages) + "\n")
        with open(os.path.join(d, "install-deps.sh"), "w") as f:
            f.write("echo INSTALLING >&2\nexit %d\n" % (0 if installs else 1))
        os.chmod(self.tmp, 0o755)
        for n in os.listdir(d):
            os.chmod(os.path.join(d, n), 0o755)
        os.chmod(d, 0o755)
        return os.path.join(d, "ensure-deps.sh")

    def test_make_test_and_demo_install_what_is_missing(self):
        """Nothing missing: silent.  Missing, as root: installed.  Missing,
        and neither root nor sudo without a password: the one command."""
        r = run(["sh", self.deps_copy(["openssl", "python3"], True)], universal_newlines=True)
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        script = self.deps_copy(["openssl", "no-such-package-sslshim"], True)
        r = run(["sh", script], universal_newlines=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("missing: no-such-package-sslshim", r.stderr)
        self.assertIn("INSTALLING", r.stderr)
        r = run(["su", "nobody", "-s", "/bin/sh", "-c", "sh " + script], universal_newlines=True)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertNotIn("INSTALLING", r.stderr)
        self.assertIn("run this once, as root: sudo make deps", r.stderr)
        with open(os.path.join(ROOT, "Makefile")) as f:
            rules = f.read()
        for target in ("test", "demo"):
            recipe = rules.split("\n%s:\n" % target, 1)[1].split("\n\n", 1)[0]
            self.assertIn("tests/ensure-deps.sh", recipe.split("\n")[0], recipe)

    def test_install_honours_prefix_and_destdir(self):
        dest = os.path.join(self.tmp, "root")
        r = run(["make", "-s", "install", "PREFIX=/opt/sslshim", "DESTDIR=" + dest], cwd=ROOT,
                universal_newlines=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        lib = os.path.join(dest, "opt/sslshim/lib/libsslshim.so")
        self.assertTrue(os.path.isfile(lib))
        self.assertTrue(os.path.isfile(os.path.join(dest, "opt/sslshim/include/sslshim.h")))
        with open(lib, "rb") as f:
            self.assertEqual(f.read(4), b"\x7fELF")
        self.assertTrue(os.access(os.path.join(dest, "opt/sslshim/bin/sslshim"), os.X_OK))
        man = os.path.join(dest, "opt/sslshim/share/man/man1/sslshim.1")
        self.assertTrue(os.path.isfile(man))
        # and uninstall takes back every file and the directories it made
        with open(os.path.join(dest, "opt/sslshim/lib/not-ours"), "w") as f:
            f.write("a file of someone else's\n")
        r = run(["make", "-s", "uninstall", "PREFIX=/opt/sslshim", "DESTDIR=" + dest], cwd=ROOT,
                universal_newlines=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        left = sorted(os.path.relpath(os.path.join(d, f), dest)
                      for d, _, fs in os.walk(dest) for f in fs)
        self.assertEqual(left, ["opt/sslshim/lib/not-ours"])
        self.assertFalse(os.path.exists(os.path.join(dest, "opt/sslshim/share")))

    def test_man_page_renders_without_warnings(self):
        if not shutil.which("groff"):
            self.skipTest("groff not installed")
        r = run(["groff", "-man", "-ww", "-z", os.path.join(ROOT, "man", "sslshim.1")],
                universal_newlines=True)
        self.assertEqual((r.returncode, r.stderr), (0, ""))

    def test_man_page_is_lint_clean_and_names_every_variable(self):
        """man-pages(7) as mandoc checks it (style included), and an ENVIRONMENT
        entry for every variable include/sslshim.h names."""
        page = os.path.join(ROOT, "man", "sslshim.1")
        r = run(["mandoc", "-T", "lint", "-W", "style", page], universal_newlines=True)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))
        with open(os.path.join(ROOT, "include", "sslshim.h")) as f:
            names = re.findall(r'#define SSLSHIM_ENV_\w+\s+"(\w+)"', f.read())
        with open(page) as f:
            text = f.read()
        env = text.split(".SH ENVIRONMENT", 1)[1].split(".SH ", 1)[0]
        self.assertGreater(len(names), 10)
        for n in names:
            self.assertIn(n, env, n)
        for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "ENVIRONMENT", "FILES",
                        "EXIT STATUS", "EXAMPLES", "SEE ALSO"):
            self.assertIn(".SH " + section + "\n", text, section)
        for sub in ("run", "report", "collect", "check"):
            self.assertIn(".B sslshim " + sub, text.split(".SH DESCRIPTION", 1)[0], sub)
