"""The README's promises about the build: `make demo` shows the loop, the
alerts and the retrying function; `make install` honours PREFIX and DESTDIR."""
import os
import shutil
import subprocess

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

    def test_man_page_renders_without_warnings(self):
        if not shutil.which("groff"):
            self.skipTest("groff not installed")
        r = run(["groff", "-man", "-ww", "-z", os.path.join(ROOT, "man", "sslshim.1")],
                universal_newlines=True)
        self.assertEqual((r.returncode, r.stderr), (0, ""))
