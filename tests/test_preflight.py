"""`sslshim check PROG` (issue 16): what the shim can see of a program, from
its file: Debian's openssl (libssl), wget (GnuTLS), a statically linked
program, a set-user-ID copy; and `sslshim run` naming the reason when a run
recorded nothing."""
import os
import shutil
import stat
import sys

import lib
from lib import ShimTest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SSLSHIM = os.path.join(ROOT, "scripts", "sslshim")

STATIC_TLS = r"""
#include <openssl/ssl.h>
#include <stdio.h>
int main(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    puts(ctx ? "CTX" : "NO CTX");
    return 0;
}
"""


class Preflight(ShimTest):

    def check(self, prog):
        r = lib.run([sys.executable, SSLSHIM, "check", prog], universal_newlines=True)
        return r.returncode, r.stdout + r.stderr

    def test_openssl_links_libssl(self):
        rc, out = self.check("openssl")
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"OpenSSL: libssl\.so\.3 => /\S+/libssl\.so\.3: the shim records")
        self.assertIn("OK:", out)

    def test_wget_uses_gnutls(self):
        if not shutil.which("wget"):
            self.skipTest("wget is not installed")
        rc, out = self.check("wget")
        self.assertEqual(rc, 1, out)
        self.assertIn("GnuTLS: libgnutls.so", out)
        self.assertIn("not OpenSSL's", out)

    def test_statically_linked_program(self):
        src = os.path.join(self.tmp, "static.c")
        exe = os.path.join(self.tmp, "static_tls")
        with open(src, "w") as f:
            f.write(STATIC_TLS)
        r = lib.run(["cc", "-static", "-o", exe, src, "-lssl", "-lcrypto", "-lpthread"],
                    universal_newlines=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        rc, out = self.check(exe)
        self.assertEqual(rc, 1, out)
        self.assertIn("statically linked: no dynamic linker", out)
        self.assertIn("OpenSSL's libssl is built into the file (its symbols", out)
        # stripped, it is still found
        lib.run(["strip", exe], check=True)
        rc, out = self.check(exe)
        self.assertEqual(rc, 1, out)
        self.assertIn("OpenSSL's libssl is built into the file (its source file names", out)
        # and `run` says so when it records nothing
        r = lib.run([sys.executable, SSLSHIM, "run", "-o", os.path.join(self.tmp, "logs"),
                     "--", exe], universal_newlines=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("CTX", r.stdout)
        self.assertIn("no TLS activity was recorded: %s: statically linked" % exe, r.stderr)

    def test_set_user_id_copy(self):
        copy = os.path.join(self.tmp, "openssl-suid")
        shutil.copy(shutil.which("openssl"), copy)
        os.chmod(copy, 0o755 | stat.S_ISUID)
        rc, out = self.check(copy)
        self.assertEqual(rc, 1, out)
        self.assertIn("set-user-ID: the dynamic linker ignores LD_PRELOAD", out)
        self.assertIn("OpenSSL: libssl.so.3", out)         # it links it, but cannot be reached

    def test_usage_errors(self):
        rc, out = self.check("no-such-program-sslshim")
        self.assertEqual(rc, 2, out)
        r = lib.run([sys.executable, SSLSHIM, "check", "--bogus"], universal_newlines=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown option --bogus", r.stderr)
