"""Issue 14, the report side, on hand-made logs: for each failure cause the
report names the cause first and shows the values both sides had.

Each test writes the JSON Lines the shim writes for one failure (the log
format of /work/shared/spec14.md: `hello`, `certs`, `verify` and
`local_offer` on failure events, `min_version`/`max_version` on
handshake_start, `peer_bytes`, outcome `eof`, `sni` on loop events), runs
`scripts/sslshim report` on them as a user would, and asserts on the text:
the `cause:` line and the exact values.  No shim, no network: these run
before the shim writes the fields (tests/test_explain.py runs the real
programs).  SSLSHIM_TEST_SCRIPTS=DIR runs them against another copy of the
command (to see them fail on an older one)."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

from lib import ROOT, TIMEOUT, plain_env

SCRIPTS = os.environ.get("SSLSHIM_TEST_SCRIPTS") or os.path.join(ROOT, "scripts")
SSLSHIM = os.path.join(SCRIPTS, "sslshim")
SYSTEM_PYTHON = "/usr/bin/python3"

SPKI_A = "7deb6203c8e5ebec5eba35a00a336e6c365ba402f2c3a84d15d6fb9a4cbc0891"
SPKI_B = "eaea5810e4d3598c1f8e5e0efad21ebb2eff065fc97177229a3f6645f766884a"
CR = "4bb3b5a3acd252127d8c7e7aec8d8fede1666618e3018285916d25e6da2ec3d5"
CA = "/O=sslshim tests/CN=sslshim explain CA"
OTHER_CA = "/O=sslshim tests/CN=sslshim explain other CA"
CLIENT_CIPHERS = ["TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
                  "TLS_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                  "ECDHE-RSA-AES256-GCM-SHA384", "AES128-GCM-SHA256",
                  "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"]
SIGALGS = ["ecdsa_secp256r1_sha256", "rsa_pss_rsae_sha256", "rsa_pkcs1_sha256"]


def cert(subject="/CN=localhost", issuer=CA, san=("DNS:localhost", "IP:127.0.0.1"),
         not_before="2026-12-06T09:00:00Z", not_after="2027-01-05T09:00:00Z", spki=SPKI_A,
         sha="c2" * 32, key="RSA", bits=2048):
    return {"subject": subject, "issuer": issuer, "san": list(san), "not_before": not_before,
            "not_after": not_after, "serial": "20DC7EC3997E0023", "key": key, "bits": bits,
            "sig_alg": "sha256WithRSAEncryption", "sha256": sha, "spki_sha256": spki}


def queue(*reasons):
    return [{"code": "0xa000086", "lib": "SSL routines", "reason": r, "file": "ssl/x.c",
             "line": 1, "func": "f", "data": None} for r in reasons]


class Proc:
    """The log of one process, written the way the shim writes it: a
    process line first, seq without gaps, ts rising 100 µs per event
    unless an event names its own."""

    def __init__(self, exe, pid, argv=None, host="h1", minute="09:38"):
        self.exe, self.pid, self.host = exe, pid, host
        self.lines = []
        self.us = 0
        self.minute = minute
        self.emit("process", v=1, exe="/usr/bin/" + exe, argv=argv or [exe], ppid=1, uid=0,
                  openssl="OpenSSL 3.0.22 25 Aug 2026",
                  libssl="/lib/x86_64-linux-gnu/libssl.so.3", shim="0.1.0",
                  config={"level": "handshake"}, valgrind=False)

    def emit(self, ev, ts=None, **fields):
        self.us += 100
        if ts is None:
            ts = "2026-12-06T%s:%02d.%06dZ" % (self.minute, self.us // 1000000,
                                                self.us % 1000000)
        e = {"ts": ts, "ev": ev, "host": self.host, "pid": self.pid, "tid": self.pid,
             "seq": len(self.lines) + 1}
        e.update(fields)
        self.lines.append(e)
        return e

    def start(self, conn, role, peer="127.0.0.1:4433", local="127.0.0.1:50000", sni=None,
              min_version=None, max_version=None, entry=""):
        if entry == "":
            entry = "SSL_connect" if role == "client" else "SSL_accept"
        self.emit("handshake_start", conn=conn, role=role, peer=peer, local=local, sni=sni,
                  n=1, attempt=1, entry=entry,
                  min_version=min_version, max_version=max_version)

    def msg(self, conn, direction, hs, version="TLSv1.3"):
        self.emit("msg", conn=conn, dir=direction, type="handshake", hs=hs, len=100,
                  version=version)

    def state(self, conn, state, where="loop", ret=None):
        self.emit("state", conn=conn, state=state, where=where, ret=ret)

    def client_hello(self, conn, direction, versions=("TLSv1.3", "TLSv1.2"),
                     ciphers=CLIENT_CIPHERS, groups=("x25519", "secp256r1"), sigalgs=SIGALGS,
                     alpn=None, sni=None, legacy="TLSv1.2"):
        self.msg(conn, direction, "ClientHello")
        h = {"conn": conn, "dir": direction, "hs": "ClientHello", "legacy_version": legacy,
             "ciphers": list(ciphers), "groups": list(groups), "key_shares": list(groups[:1]),
             "sigalgs": list(sigalgs), "session_id": True, "ticket": False, "psk": False,
             "ems": True, "reneg": True}
        if versions is not None:
            h["versions"] = list(versions)
        if alpn is not None:
            h["alpn"] = list(alpn)
        if sni is not None:
            h["sni"] = sni
        self.emit("hello", **h)

    def server_hello(self, conn, direction, version="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384",
                     key_share="x25519"):
        self.msg(conn, direction, "ServerHello")
        self.emit("hello", conn=conn, dir=direction, hs="ServerHello", legacy_version="TLSv1.2",
                  version=version, cipher=cipher, key_share=key_share, session_id=True,
                  psk=False, ems=False, reneg=False)

    def certs(self, conn, direction, chain):
        self.msg(conn, direction, "Certificate")
        self.emit("certs", conn=conn, dir=direction, chain=chain)

    def alert(self, conn, direction, desc, code, state, **extra):
        self.emit("alert", conn=conn, dir=direction, level="fatal", desc=desc, code=code,
                  text=desc.replace("_", " "), line="SSL3 alert %s:fatal:%s"
                  % ("write" if direction == "sent" else "read", desc.replace("_", " ")),
                  state=state, **extra)

    def error(self, conn, fn, state, reasons, err="SSL_ERROR_SSL", ret=-1, **extra):
        self.emit("error", conn=conn, fn=fn, ret=ret, err=err, errno=0, sys=None,
                  queue=queue(*reasons), state=state, **extra)

    def end(self, conn, role, outcome="handshake_failed", peer="127.0.0.1:4433", sni=None,
            app_data=False, bytes_in=0, bytes_out=0, last_alert=None, client_random=CR,
            last_state=None):
        self.emit("conn_end", conn=conn, role=role, peer=peer, sni=sni, handshakes=1,
                  app_data=app_data, bytes_in=bytes_in, bytes_out=bytes_out, reads=0, writes=0,
                  alerts_sent=0, alerts_recv=0, last_alert=last_alert, last_state=last_state,
                  outcome=outcome, ms=5, client_random=client_random)

    def write(self, d):
        path = os.path.join(d, "%s.%d.jsonl" % (self.exe, self.pid))
        with open(path, "w", encoding="utf-8") as f:
            for e in self.lines:
                f.write(json.dumps(e, separators=(",", ":")) + "\n")
        return path


def offer(ciphers, groups=None, lo=None, hi=None):
    o = {"ciphers": list(ciphers), "min_version": lo, "max_version": hi}
    if groups is not None:
        o["groups"] = list(groups)
    return o


def flat(text):
    return re.sub(r"\s+", " ", text)


class ExplainReport(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sslshim-explain-report-")
        self.n = 0

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def report(self, *procs, args=(), python=None):
        """Write the processes' logs into a new directory, run `sslshim
        report` on it; -> its stdout (whitespace folded to single spaces
        for text).  Fails on a non-zero exit, anything on stderr, or a
        peer shown as None/null."""
        self.n += 1
        d = os.path.join(self.tmp, "logs%d" % self.n)
        os.makedirs(d)
        for p in procs:
            p.write(d)
        r = subprocess.run([python or sys.executable, SSLSHIM, "report", *args, d],
                           env=plain_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=TIMEOUT)
        out, err = r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")
        # the exit status the output calls for (issue 16): 1 when it lists a
        # failure or a loop, else 0
        if "--json" in args:
            doc = json.loads(out)
            listed = bool(doc["failures"] or doc["loops"] or doc["misuse"])
        else:
            listed = bool(re.search(r"^(Failures \(|Loops$)", out, re.M))
        self.assertEqual((r.returncode, err), (1 if listed else 0, ""), out[-3000:])
        if "--json" not in args:
            self.assertNotIn("None", out)
            self.assertNotRegex(out, r"\bnull\b")
            return flat(out)
        return out

    def cause(self, out):
        m = re.search(r"cause: (.*?) Diagnosis:", out)
        self.assertTrue(m, "no cause line in:\n" + out[:3000])
        return m.group(1)

    # -- the two ends of one handshake -------------------------------------------------

    @staticmethod
    def pair(version="TLSv1.3"):
        c = Proc("tls_client", 101, ["tls_client", "--port", "4433"])
        s = Proc("openssl", 202, ["openssl", "s_server", "-accept", "4433"])
        c.start(1, "client", peer="127.0.0.1:4433", local="127.0.0.1:50000")
        s.start(1, "server", peer="127.0.0.1:50000", local="127.0.0.1:4433")
        return c, s

    def test_key_mismatch_from_both_ends(self):
        c, s = self.pair()
        c.client_hello(1, "sent", versions=None, ciphers=["AES128-GCM-SHA256"])
        s.client_hello(1, "recv", versions=None, ciphers=["AES128-GCM-SHA256"])
        s.server_hello(1, "sent", version="TLSv1.2", cipher="AES128-GCM-SHA256", key_share=None)
        c.server_hello(1, "recv", version="TLSv1.2", cipher="AES128-GCM-SHA256", key_share=None)
        s.certs(1, "sent", [cert(spki=SPKI_B, sha="d2" * 32)])
        c.certs(1, "recv", [cert(spki=SPKI_A, sha="43" * 32)])
        s.alert(1, "sent", "bad_record_mac", 20, "SSLv3/TLS read change cipher spec")
        s.error(1, "SSL_accept", "SSLv3/TLS read change cipher spec",
                ["decryption failed or bad record mac"])
        c.alert(1, "recv", "bad_record_mac", 20, "SSLv3/TLS write finished")
        c.error(1, "SSL_connect", "SSLv3/TLS write finished", ["sslv3 alert bad record mac"])
        s.end(1, "server", peer="127.0.0.1:50000")
        c.end(1, "client")
        out = self.report(c, s)
        cause = self.cause(out)
        self.assertIn("the client's and the server's public keys differ", cause)
        self.assertIn("the client received /CN=localhost with spki_sha256 " + SPKI_A, cause)
        self.assertIn("the server sent /CN=localhost with spki_sha256 " + SPKI_B, cause)
        self.assertIn("With RSA key exchange (AES128-GCM-SHA256)", out)
        self.assertIn("Bleichenbacher countermeasure", out)
        self.assertIn("bad_record_mac when the first encrypted message, Finished, arrives", out)
        self.assertIn("a proxy, TLS inspection device or load balancer", out)
        self.assertIn("stale pinned key", out)
        # the cause replaces the alert's list of suspects
        self.assertNotIn("Purify or Valgrind", out)
        # the joined view flags the server certificate row, from the certs events alone
        self.assertRegex(out, r"!! server cert: client saw /CN=localhost")
        # both hashes in --json too
        doc = json.loads(self.report(c, s, args=("--json",)))
        f = doc["failures"][0]
        self.assertEqual(f["diagnosis"]["cause_kind"], "key_mismatch")
        self.assertEqual((f["diagnosis"]["cause_values"]["client_spki"],
                          f["diagnosis"]["cause_values"]["server_spki"]), (SPKI_A, SPKI_B))

    def test_same_key_is_no_key_mismatch(self):
        c, s = self.pair()
        s.certs(1, "sent", [cert()])
        c.certs(1, "recv", [cert()])
        s.alert(1, "sent", "bad_record_mac", 20, "SSLv3/TLS read change cipher spec")
        c.alert(1, "recv", "bad_record_mac", 20, "SSLv3/TLS write finished")
        s.end(1, "server", peer="127.0.0.1:50000")
        c.end(1, "client")
        out = self.report(c, s)
        self.assertNotIn("cause:", out)
        self.assertNotIn("public keys differ", out)
        # the generic suspects remain where the cause is not identified
        self.assertIn("Purify or Valgrind", out)

    def test_server_key_mismatch_from_the_server_alone(self):
        s = Proc("openssl", 203, ["openssl", "s_server", "-www"])
        s.start(1, "server", peer="127.0.0.1:50000", local="127.0.0.1:4433", entry=None)
        s.client_hello(1, "recv", versions=None, ciphers=["AES128-GCM-SHA256"])
        s.server_hello(1, "sent", version="TLSv1.2", cipher="AES128-GCM-SHA256", key_share=None)
        s.certs(1, "sent", [cert(spki=SPKI_B)])
        s.alert(1, "sent", "bad_record_mac", 20, "SSLv3/TLS read change cipher spec",
                key_check={"match": False, "key": "RSA"})
        s.error(1, "BIO_f_ssl", "SSLv3/TLS read change cipher spec",
                ["decryption failed or bad record mac"])
        s.end(1, "server", peer="127.0.0.1:50000")
        out = self.report(s)
        self.assertIn("cause: the server's private key does not belong to its certificate — the "
                      "server sent /CN=localhost with spki_sha256 %s; its private key does not "
                      "fit that public key" % SPKI_B, out)
        self.assertIn("its RSA private key does not belong to that certificate", out)
        self.assertIn("With RSA key exchange (AES128-GCM-SHA256)", out)
        self.assertIn("Bleichenbacher countermeasure", out)

    def test_a_key_that_fits_is_said_to_fit(self):
        c, s = self.pair()
        s.certs(1, "sent", [cert()])
        c.certs(1, "recv", [cert()])
        s.alert(1, "sent", "bad_record_mac", 20, "SSLv3/TLS read change cipher spec",
                key_check={"match": True, "key": "RSA"})
        c.alert(1, "recv", "bad_record_mac", 20, "SSLv3/TLS write finished")
        s.end(1, "server", peer="127.0.0.1:50000")
        c.end(1, "client")
        out = self.report(c, s)
        self.assertNotIn("cause:", out)
        self.assertIn("the server's private key belongs to the certificate it sent (the shim "
                      "checked it when the alert was sent): not a key mismatch", out)

    def test_hostname_mismatch(self):
        c, s = self.pair()
        c.client_hello(1, "sent")
        c.certs(1, "recv", [cert()])
        v = {"code": 62, "text": "hostname mismatch", "depth": 0, "subject": "/CN=localhost",
             "host": "wrong.example", "ip": None}
        c.alert(1, "sent", "bad_certificate", 42, "SSLv3/TLS read server certificate", verify=v)
        c.error(1, "SSL_connect", "SSLv3/TLS read server certificate",
                ["certificate verify failed"], verify=v)
        c.end(1, "client")
        out = self.report(c)
        self.assertIn("cause: host name mismatch — the program asked OpenSSL to check "
                      "'wrong.example'; the certificate names DNS:localhost, IP:127.0.0.1", out)
        self.assertIn("host name mismatch: client sent fatal alert bad_certificate", out)
        self.assertIn("verify error 62", out)
        # the generic bad_certificate checks are not the next steps any more
        self.assertNotIn("Verify the chain by hand", out)

    def test_ip_mismatch(self):
        c, s = self.pair()
        c.certs(1, "recv", [cert()])
        v = {"code": 64, "text": "IP address mismatch", "depth": 0, "subject": "/CN=localhost",
             "host": None, "ip": "127.0.0.2"}
        c.alert(1, "sent", "bad_certificate", 42, "SSLv3/TLS read server certificate", verify=v)
        c.end(1, "client")
        out = self.report(c)
        self.assertIn("cause: IP address mismatch — the program asked OpenSSL to check IP "
                      "'127.0.0.2'; the certificate names DNS:localhost, IP:127.0.0.1", out)

    def curl_and_nginx(self, sni, san=("DNS:localhost", "IP:127.0.0.1")):
        c = Proc("curl", 303, ["curl", "https://%s:4433/" % sni])
        s = Proc("nginx", 404, ["nginx: worker process", "", "", ""])
        # curl's own BIO hides the socket: no peer, no local address
        c.start(1, "client", peer=None, local=None, sni=sni)
        s.start(1, "server", peer="127.0.0.1:50000", local="127.0.0.1:4433",
                entry="SSL_do_handshake")
        c.client_hello(1, "sent", sni=sni, alpn=["h2", "http/1.1"])
        s.client_hello(1, "recv", sni=sni, alpn=["h2", "http/1.1"])
        s.certs(1, "sent", [cert(san=san)])
        c.certs(1, "recv", [cert(san=san)])
        done = {"version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384", "group": "x25519",
                "alpn": "h2", "resumed": False, "ms": 4, "sni": sni, "client_random": CR}
        c.emit("handshake_done", conn=1, verify={"code": 0, "text": "ok", "host": None,
                                                   "ip": None},
               peer_cert=cert(san=san), local_cert=None, **done)
        s.emit("handshake_done", conn=1, verify=None, peer_cert=None, local_cert=cert(san=san),
               **done)
        c.emit("alert", conn=1, dir="sent", level="warning", desc="close_notify", code=0,
               text="close notify", line="SSL3 alert write:warning:close notify", state="SSLOK")
        c.end(1, "client", outcome="ok", peer=None, sni=sni)
        s.end(1, "server", outcome="ok", peer="127.0.0.1:50000")
        return c, s

    def test_hostname_mismatch_checked_by_curl_after_the_handshake(self):
        out = self.report(*self.curl_and_nginx("wrong.example"))
        self.assertIn("cause: host name mismatch (checked by the program after the handshake) — "
                      "the client asked for 'wrong.example' (SNI); the certificate names "
                      "DNS:localhost, IP:127.0.0.1; the client closed right after the "
                      "handshake", out)
        # a peer without an address is named by its SNI
        self.assertIn("-> SNI wrong.example", out)
        # nginx's title over its argv leaves empty arguments: not listed
        self.assertIn("server command line: 'nginx: worker process' What to check", out)

    def test_sni_the_certificate_names_is_no_mismatch(self):
        out = self.report(*self.curl_and_nginx("localhost"))
        self.assertNotIn("cause:", out)
        out = self.report(*self.curl_and_nginx("www.example.org", san=("DNS:*.example.org",)))
        self.assertNotIn("cause:", out)
        out = self.report(*self.curl_and_nginx("a.b.example.org", san=("DNS:*.example.org",)))
        self.assertIn("cause: host name mismatch (checked by the program", out)

    def test_verify_result_read_by_the_program_after_the_handshake(self):
        c, s = self.curl_and_nginx("localhost", san=("DNS:localhost",))
        done, = [e for e in c.lines if e["ev"] == "handshake_done"]
        done["verify"] = {"code": 20, "text": "unable to get local issuer certificate",
                          "depth": 0, "subject": "/CN=localhost", "host": None, "ip": None}
        out = self.report(c, s)
        self.assertIn("cause: untrusted issuer (checked by the program after the handshake) — "
                      "/CN=localhost (depth 0) is issued by /O=sslshim tests/CN=sslshim explain "
                      "CA; the client does not trust that issuer", out)
        self.assertIn("the handshake completed and the client closed without sending any "
                      "application data", out)

    def verify_failure(self, code, text, chain, depth=0, subject="/CN=localhost",
                       when="2026-12-06T09:38:14.438467Z", desc="certificate_expired"):
        c = Proc("python3.11", 505, ["/usr/bin/python3", "client.py"])
        c.start(1, "client", sni="localhost")
        c.client_hello(1, "sent", sni="localhost")
        c.certs(1, "recv", chain)
        v = {"code": code, "text": text, "depth": depth, "subject": subject,
             "host": "localhost", "ip": None}
        c.alert(1, "sent", desc, 45, "SSLv3/TLS read server certificate", verify=v, ts=when)
        c.error(1, "SSL_do_handshake", "SSLv3/TLS read server certificate",
                ["certificate verify failed"], verify=v)
        c.end(1, "client")
        return c

    def test_expired(self):
        c = self.verify_failure(10, "certificate has expired",
                                [cert(not_before="2020-01-01T00:00:00Z",
                                      not_after="2021-01-01T00:00:00Z")])
        out = self.report(c)
        self.assertIn("cause: certificate expired — /CN=localhost (depth 0) was valid until "
                      "2021-01-01T00:00:00Z; the client's clock read 2026-12-06T09:38:14.438467Z "
                      "when it checked (valid from 2020-01-01T00:00:00Z)", out)
        self.assertIn("date -u", out)

    def test_not_yet_valid(self):
        c = self.verify_failure(9, "certificate is not yet valid",
                                [cert(not_before="2045-01-01T00:00:00Z",
                                      not_after="2046-01-01T00:00:00Z")],
                                desc="bad_certificate")
        out = self.report(c)
        self.assertIn("cause: certificate not yet valid — /CN=localhost (depth 0) is valid from "
                      "2045-01-01T00:00:00Z; the client's clock read 2026-12-06T09:38:14.438467Z "
                      "when it checked (valid until 2046-01-01T00:00:00Z)", out)

    def test_expired_intermediate_at_depth_1(self):
        inter = cert(subject="/CN=intermediate", issuer=CA, san=(), spki=SPKI_B,
                     not_before="2019-01-01T00:00:00Z", not_after="2020-01-01T00:00:00Z")
        c = self.verify_failure(10, "certificate has expired",
                                [cert(issuer="/CN=intermediate"), inter], depth=1,
                                subject="/CN=intermediate")
        out = self.report(c)
        self.assertIn("cause: certificate expired — /CN=intermediate (depth 1) was valid until "
                      "2020-01-01T00:00:00Z", out)

    def test_untrusted_issuer(self):
        c = self.verify_failure(20, "unable to get local issuer certificate",
                                [cert(issuer=OTHER_CA, key="EC", bits=256)], desc="unknown_ca")
        out = self.report(c)
        self.assertIn("cause: untrusted issuer — /CN=localhost (depth 0) is issued by "
                      "/O=sslshim tests/CN=sslshim explain other CA; the client does not trust "
                      "that issuer: unable to get local issuer certificate (verify error 20)", out)
        self.assertIn("-showcerts", out)

    def test_self_signed(self):
        c = self.verify_failure(18, "self-signed certificate",
                                [cert(subject="/CN=untrusted", issuer="/CN=untrusted")],
                                subject="/CN=untrusted", desc="unknown_ca")
        out = self.report(c)
        self.assertIn("cause: untrusted issuer — /CN=untrusted (depth 0) is issued by "
                      "/CN=untrusted; it is self-signed and not in the client's trust store", out)

    def test_no_common_version(self):
        c = Proc("curl", 606, ["curl", "--tls-max", "1.2"])
        s = Proc("nginx", 707, ["nginx"])
        c.start(1, "client", peer=None, local=None, sni="localhost", max_version="TLSv1.2")
        s.start(1, "server", peer="127.0.0.1:50000", local="127.0.0.1:4433",
                min_version="TLSv1.3", max_version="TLSv1.3")
        c.client_hello(1, "sent", versions=None, sni="localhost")
        s.client_hello(1, "recv", versions=None, sni="localhost")
        s.alert(1, "sent", "protocol_version", 70, "SSLv3/TLS read client hello",
                local_offer=offer(CLIENT_CIPHERS, lo="TLSv1.3", hi="TLSv1.3"))
        s.error(1, "SSL_do_handshake", "SSLv3/TLS read client hello", ["unsupported protocol"])
        c.alert(1, "recv", "protocol_version", 70, "SSLv3/TLS write client hello")
        s.end(1, "server", peer="127.0.0.1:50000")
        c.end(1, "client", peer=None, sni="localhost")
        out = self.report(c, s)
        self.assertIn("cause: no common protocol version — the client offered TLSv1.2; the "
                      "server allows TLSv1.3 to TLSv1.3", out)
        self.assertIn("versions: client TLSv1.2, server TLSv1.3 to TLSv1.3", out)
        self.assertIn("legacy_version, with no supported_versions extension", out)

    def test_no_common_version_client_too_new(self):
        c, s = self.pair()
        s.start(1, "server", min_version=None, max_version="TLSv1.2")
        s.client_hello(1, "recv", versions=["TLSv1.3"])
        s.alert(1, "sent", "protocol_version", 70, "SSLv3/TLS read client hello")
        s.error(1, "SSL_accept", "SSLv3/TLS read client hello", ["unsupported protocol"])
        s.end(1, "server")
        out = self.report(s)
        self.assertIn("cause: no common protocol version — the client offered TLSv1.3; the "
                      "server allows any to TLSv1.2", out)

    def hello_failure(self, client_kw, server_offer, reason, desc="handshake_failure"):
        c, s = self.pair()
        c.client_hello(1, "sent", **client_kw)
        s.client_hello(1, "recv", **client_kw)
        s.alert(1, "sent", desc, 40, "SSLv3/TLS read client hello", local_offer=server_offer)
        s.error(1, "SSL_accept", "SSLv3/TLS read client hello", [reason],
                local_offer=server_offer)
        c.alert(1, "recv", desc, 40, "SSLv3/TLS write client hello")
        s.end(1, "server", peer="127.0.0.1:50000")
        c.end(1, "client")
        return c, s

    def test_no_common_cipher(self):
        pair = self.hello_failure(
            {"versions": None, "ciphers": ["AES128-SHA", "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"]},
            offer(["TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256", "AES256-SHA"],
                  lo="TLSv1.2", hi="TLSv1.2"), "no shared cipher")
        out = self.report(*pair)
        # TLS 1.3 suites and signalling values are no part of a TLS 1.2 comparison
        self.assertIn("cause: no common cipher suite — the client offered AES128-SHA; the "
                      "server allows AES256-SHA", out)
        self.assertIn("'no shared cipher': no cipher suite in common", out)

    def test_no_common_group(self):
        pair = self.hello_failure(
            {"versions": ["TLSv1.3"], "ciphers": ["TLS_AES_256_GCM_SHA384"],
             "groups": ["x25519"]},
            offer(["TLS_AES_256_GCM_SHA384"], groups=["secp384r1"], lo="TLSv1.3",
                  hi="TLSv1.3"), "no suitable key share")
        out = self.report(*pair)
        self.assertIn("cause: no common group — the client offered x25519; the server allows "
                      "secp384r1", out)
        self.assertIn("ciphers in common: TLS_AES_256_GCM_SHA384", out)

    def test_no_common_group_in_tls12_reported_as_no_shared_cipher(self):
        # OpenSSL drops every ECDHE suite without a common group: the cipher
        # lists meet, the groups do not
        pair = self.hello_failure(
            {"versions": None, "ciphers": ["ECDHE-RSA-AES128-GCM-SHA256"],
             "groups": ["x25519"]},
            offer(["ECDHE-RSA-AES128-GCM-SHA256"], groups=["secp384r1"]), "no shared cipher")
        out = self.report(*pair)
        self.assertIn("cause: no common group — the client offered x25519; the server allows "
                      "secp384r1", out)

    def test_no_common_sigalg(self):
        pair = self.hello_failure(
            {"versions": ["TLSv1.3"], "sigalgs": ["ecdsa_secp256r1_sha256"]},
            offer(CLIENT_CIPHERS), "no suitable signature algorithm")
        out = self.report(*pair)
        self.assertIn("cause: no common signature algorithm — the client accepts "
                      "ecdsa_secp256r1_sha256; the server could sign with none of them", out)

    def test_alpn_refused(self):
        pair = self.hello_failure({"alpn": ["foo", "bar"]}, offer(CLIENT_CIPHERS),
                                  "no application protocol", desc="no_application_protocol")
        out = self.report(*pair)
        self.assertIn("cause: ALPN refused — the client offered 'foo', 'bar'; the server "
                      "accepted none of them (its own list is not in the logs: its ALPN "
                      "callback chose without SSL_select_next_proto)", out)

    def test_alpn_refused_with_the_servers_list(self):
        served = dict(offer(CLIENT_CIPHERS), alpn=["h2", "http/1.1"])
        pair = self.hello_failure({"alpn": ["foo", "bar"]}, served,
                                  "no application protocol", desc="no_application_protocol")
        out = self.report(*pair)
        self.assertIn("cause: ALPN refused — the client offered 'foo', 'bar'; the server "
                      "serves 'h2', 'http/1.1'", out)

    def test_client_certificate_required(self):
        c, s = self.pair()
        cr = {"conn": 1, "hs": "CertificateRequest",
              "sigalgs": ["ecdsa_secp256r1_sha256", "rsa_pss_rsae_sha256"], "ca_names": [CA]}
        s.msg(1, "sent", "CertificateRequest")
        s.emit("hello", dir="sent", **cr)
        c.msg(1, "recv", "CertificateRequest")
        c.emit("hello", dir="recv", **cr)
        c.certs(1, "sent", [])
        s.certs(1, "recv", [])
        s.alert(1, "sent", "certificate_required", 116, "SSLv3/TLS read client certificate")
        s.error(1, "SSL_accept", "SSLv3/TLS read client certificate",
                ["peer did not return a certificate"])
        c.alert(1, "recv", "certificate_required", 116, "SSL negotiation finished successfully")
        s.end(1, "server", peer="127.0.0.1:50000")
        c.end(1, "client", outcome="alert")
        out = self.report(c, s)
        self.assertIn("cause: client certificate required — the server asked for one "
                      "(CertificateRequest CA names /O=sslshim tests/CN=sslshim explain CA; "
                      "signature algorithms ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256) and "
                      "the client sent none", out)
        self.assertIn("the client sent: no certificate (an empty Certificate message)", out)
        self.assertIn("sent certificates: none (an empty Certificate message)", out)

    def test_client_certificate_rejected(self):
        c, s = self.pair()
        s.msg(1, "sent", "CertificateRequest")
        s.emit("hello", conn=1, dir="sent", hs="CertificateRequest",
               sigalgs=["ecdsa_secp256r1_sha256"], ca_names=[CA])
        rogue = cert(subject="/CN=rogue client", issuer=OTHER_CA, san=(), key="EC", bits=256)
        c.certs(1, "sent", [rogue])
        s.certs(1, "recv", [rogue])
        v = {"code": 20, "text": "unable to get local issuer certificate", "depth": 0,
             "subject": "/CN=rogue client", "host": None, "ip": None}
        s.alert(1, "sent", "unknown_ca", 48, "SSLv3/TLS read client certificate", verify=v)
        s.end(1, "server", peer="127.0.0.1:50000")
        c.alert(1, "recv", "unknown_ca", 48, "SSL negotiation finished successfully")
        c.end(1, "client", outcome="alert")
        out = self.report(c, s)
        self.assertIn("cause: client certificate rejected: untrusted issuer — /CN=rogue client "
                      "(depth 0) is issued by /O=sslshim tests/CN=sslshim explain other CA; the "
                      "server does not trust that issuer", out)
        self.assertIn("the server asked for it: CertificateRequest CA names /O=sslshim "
                      "tests/CN=sslshim explain CA", out)

    def test_http_server_on_a_tls_port(self):
        c = Proc("openssl", 808, ["openssl", "s_client"])
        c.start(1, "client")
        c.client_hello(1, "sent")
        c.error(1, "SSL_connect", "SSLv3/TLS write client hello", ["wrong version number"],
                peer_bytes="485454502f")
        c.end(1, "client")
        out = self.report(c)
        self.assertIn('cause: the server does not speak TLS — the client received "HTTP/" '
                      '(485454502f) where a TLS record was due: an HTTP server answered on this '
                      'port', out)

    def test_plain_text_client_on_a_tls_port(self):
        s = Proc("openssl", 909, ["openssl", "s_server", "-www"])
        s.start(1, "server", peer="127.0.0.1:50000", local="127.0.0.1:4433", entry=None)
        s.error(1, "BIO_f_ssl", "before SSL initialization", ["http request"],
                peer_bytes="474554202f")
        s.end(1, "server", client_random=None)
        out = self.report(s)
        self.assertIn('cause: the client does not speak TLS — the server received "GET /" '
                      '(474554202f) where a TLS record was due: a plain-text HTTP client spoke '
                      'to this TLS port', out)
        self.assertIn("driven by libssl", out)

    def test_truncation(self):
        c, s = self.pair()
        c.emit("handshake_done", conn=1, version="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384",
               group="x25519", alpn=None, resumed=False, ms=3, sni=None, client_random=CR,
               verify={"code": 0, "text": "ok"}, peer_cert=cert(), local_cert=None)
        c.error(1, "SSL_read", "SSL negotiation finished successfully",
                ["unexpected eof while reading"], ret=0, eof=True)
        c.end(1, "client", outcome="eof", app_data=True, bytes_in=61, bytes_out=18)
        out = self.report(c)
        self.assertIn("cause: truncation — the server closed the connection without a TLS "
                      "close_notify after application data moved (client read 61 bytes, wrote "
                      "18): what it received may be cut short", out)

    # -- peers without an address, and the views -------------------------------------------

    def test_reconnect_loop_to_a_peer_without_address(self):
        c = Proc("curl", 111, ["curl", "https://example.org/"])
        for n in range(1, 6):
            c.start(n, "client", peer=None, local=None, sni="example.org")
            c.alert(n, "recv", "handshake_failure", 40, "SSLv3/TLS write client hello")
            c.end(n, "client", peer=None, sni="example.org", client_random=None)
        c.emit("loop", conn=5, kind="reconnect", peer=None, sni="example.org", count=5,
               window_s=10, failed=5, first_ts="2026-12-06T09:38:00.000100Z",
               last_alert="handshake_failure")
        out = self.report(c)
        self.assertIn("RECONNECT LOOP: curl[111]@h1 -> SNI example.org: 5 connections, 5 "
                      "failing", out)
        self.assertIn("reconnect loop: curl[111] opened 5 connections to SNI example.org", out)
        doc = json.loads(self.report(c, args=("--json",)))
        self.assertEqual(doc["loops"][0]["peer_label"], "SNI example.org")
        self.assertIsNone(doc["loops"][0]["peer"])

    def test_no_peer_and_no_sni(self):
        c = Proc("curl", 112, ["curl"])
        c.start(1, "client", peer=None, local=None, sni=None)
        c.alert(1, "recv", "handshake_failure", 40, "SSLv3/TLS write client hello")
        c.end(1, "client", peer=None, client_random=None)
        out = self.report(c)
        self.assertIn("-> unknown peer", out)

    def test_json_and_html_show_the_cause_and_what_was_said(self):
        c = self.verify_failure(10, "certificate has expired",
                                [cert(not_before="2020-01-01T00:00:00Z",
                                      not_after="2021-01-01T00:00:00Z")])
        doc = json.loads(self.report(c, args=("--json",)))
        f = doc["failures"][0]
        self.assertTrue(f["diagnosis"]["cause"].startswith("certificate expired — "))
        self.assertEqual(f["diagnosis"]["cause_values"]["not_after"], "2021-01-01T00:00:00Z")
        said = f["detail"][0]["said"]
        self.assertEqual([h["hs"] for h in said["hellos"]], ["ClientHello"])
        self.assertEqual(said["hellos"][0]["sni"], "localhost")
        self.assertEqual(said["chains"]["recv"][0]["not_after"], "2021-01-01T00:00:00Z")
        self.assertEqual(said["verify"]["code"], 10)
        page = os.path.join(self.tmp, "r.html")
        self.report(c, args=("--html", page))
        with open(page, encoding="utf-8") as fh:
            html = flat(fh.read())
        self.assertIn('<p class="cause"><b>cause:</b> certificate expired — /CN=localhost', html)
        self.assertRegex(html, r'<table class="said">.*certificates received #0</td><td '
                               r'class="mono">/CN=localhost, issuer /O=sslshim tests/CN=sslshim '
                               r'explain CA, SAN DNS:localhost, IP:127.0.0.1, valid '
                               r'2020-01-01T00:00:00Z \.\. 2021-01-01T00:00:00Z')

    def test_text_shows_hello_and_chain_summary(self):
        c = self.verify_failure(20, "unable to get local issuer certificate",
                                [cert(issuer=OTHER_CA, key="EC", bits=256)], desc="unknown_ca")
        out = self.report(c)
        self.assertIn("What python3.11[505] conn 1 (client) said and heard:", out)
        # (the renegotiation SCSV is listed, not counted)
        self.assertIn("sent ClientHello: versions TLSv1.3, TLSv1.2; 6 cipher suites: "
                      "TLS_AES_256_GCM_SHA384", out)
        self.assertIn("SNI localhost", out)
        self.assertIn("received certificates (1): #0 /CN=localhost, issuer /O=sslshim "
                      "tests/CN=sslshim explain other CA, SAN DNS:localhost, IP:127.0.0.1, "
                      "valid 2026-12-06T09:00:00Z .. 2027-01-05T09:00:00Z, EC 256, spki "
                      "7deb6203c8e5ebec…", out)

    def test_logs_without_the_new_fields_keep_the_generic_diagnosis(self):
        c = Proc("tls_client", 113, ["tls_client"])
        c.start(1, "client")
        c.alert(1, "sent", "unknown_ca", 48, "SSLv3/TLS read server certificate")
        c.error(1, "SSL_connect", "SSLv3/TLS read server certificate",
                ["certificate verify failed"])
        c.end(1, "client")
        for line in c.lines:
            line.pop("min_version", None)
            line.pop("max_version", None)
        out = self.report(c)
        self.assertNotIn("cause:", out)
        self.assertIn("unknown_ca means the sender could not find a certificate authority", out)
        self.assertIn("-showcerts", out)

    def test_hostile_shapes_of_the_new_fields_are_skipped(self):
        c = Proc("openssl", 114, ["openssl"])
        c.start(1, "client")
        bad = [
            c.emit("certs", conn=1, dir="recv", chain=[{"subject": "/CN=x", "san": [["nested"]]}]),
            c.emit("certs", conn=1, dir="recv", chain=[{"subject": {"CN": "x"}}]),
            c.emit("certs", conn=1, dir="recv", chain="not a list"),
            c.emit("hello", conn=1, dir="sent", hs="ClientHello", ciphers=["a", 1]),
            c.emit("hello", conn=1, dir="sent", hs="ClientHello", alpn=[["h2"]]),
            c.emit("hello", conn=1, dir="sent", hs=None),
            c.emit("alert", conn=1, dir="sent", level="fatal", desc="bad_certificate", code=42,
                   verify={"code": 62, "host": ["wrong.example"]}),
            c.emit("error", conn=1, fn="SSL_connect", local_offer={"ciphers": "AES128-SHA"}),
            c.emit("error", conn=1, fn="SSL_connect", peer_bytes=["48"]),
            c.emit("error", conn=1, fn="SSL_connect", eof="yes"),
            c.emit("handshake_start", conn=1, role="client", min_version=12),
            c.emit("alert", conn=1, dir="sent", level="fatal", desc="bad_record_mac", code=20,
                   key_check={"match": "no"}),
        ]
        # a certificate's digit-named fields of the wrong type are not read
        c.emit("certs", conn=1, dir="recv", chain=[cert(spki=5, sha=True)])
        v = {"code": 62, "text": "hostname mismatch", "depth": 0, "subject": "/CN=localhost",
             "host": "wrong.example", "ip": None}
        c.alert(1, "sent", "bad_certificate", 42, "SSLv3/TLS read server certificate", verify=v)
        c.end(1, "client")
        d = os.path.join(self.tmp, "hostile")
        os.makedirs(d)
        path = c.write(d)
        r = subprocess.run([sys.executable, SSLSHIM, "report", d], env=plain_env(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT)
        out, err = r.stdout.decode(), r.stderr.decode()
        self.assertEqual(r.returncode, 1, err)          # a fatal alert sent: a failure
        # (stderr names the first ten problems of a file, then counts them)
        for e in bad[:10]:
            self.assertIn("%s:%d:" % (path, e["seq"]), err)
        self.assertIn("%s: %d problems in all" % (path, len(bad)), err)
        self.assertIn("%d input problems" % len(bad), out)
        self.assertIn("cause: host name mismatch — the program asked OpenSSL to check "
                      "'wrong.example'", flat(out))
        self.assertNotIn("spki 5", out)

    @unittest.skipUnless(os.path.exists(SYSTEM_PYTHON), "no " + SYSTEM_PYTHON)
    def test_both_pythons_give_the_same_report(self):
        c = self.verify_failure(10, "certificate has expired", [cert()])
        outs = [self.report(c, python=py) for py in (SYSTEM_PYTHON, sys.executable)]
        self.assertEqual(outs[0], outs[1])
        self.assertIn("cause: certificate expired", outs[0])


if __name__ == "__main__":
    unittest.main()
