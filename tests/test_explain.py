"""Issue 14, "explain every failure": the failure matrix with real programs.

Each test runs one case of tests/explain_cases.py — openssl s_client and
s_server, curl, nginx, /usr/bin/python3's ssl, the tls_client fixture, with
the shim preloaded into every end that uses OpenSSL — then `sslshim report`
on the logs, and asserts that the report names that cause first (its
`cause:` line) and shows the values the programs really had: the facts
explain_cases computed from its own certificates and options (openssl x509,
openssl verify), never from the shim's logs.  A test fails when the shim
does not log what the report needs (spec14: hello, certs, verify,
local_offer, min_version/max_version, peer_bytes, outcome eof, and the
server's key_check on bad_record_mac) as well as when the report does not
say it."""
import calendar
import json
import os
import re
import subprocess
import sys
import time
import unittest

from lib import ROOT, TIMEOUT, ShimTest, plain_env

SCRIPTS = os.environ.get("SSLSHIM_TEST_SCRIPTS") or os.path.join(ROOT, "scripts")
SSLSHIM = os.path.join(SCRIPTS, "sslshim")


def flat(text):
    return re.sub(r"\s+", " ", text)


def epoch(ts):
    """RFC 3339 UTC (any fraction) -> seconds since the epoch."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z$", ts or "")
    if not m:
        return None
    return calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) + float(
        m.group(2) or 0)


class Explain(ShimTest):

    def case(self, name):
        """Run the case, then the report on its logs: (case, text folded to
        single spaces, --json document).  Also: the report names no peer
        None/null, and the JSON's first failure carries the cause too."""
        try:
            import explain_cases
        except ImportError as e:
            self.fail("tests/explain_cases.py is needed (%s)" % e)
        self.t0 = time.time()
        case = explain_cases.run_case(name, os.path.join(self.tmp, "case"))
        self.t1 = time.time()
        outs = []
        for args in ((), ("--json",)):
            r = subprocess.run([sys.executable, SSLSHIM, "report", *args, case.logdir],
                               env=plain_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=TIMEOUT * 2)
            out, err = r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")
            # every case is a failure: exit 1 (issue 16)
            self.assertEqual(r.returncode, 1, err[-2000:])
            self.assertEqual(err, "", "input problems in the shim's own logs")
            outs.append(out)
        text, doc = flat(outs[0]), json.loads(outs[1])
        self.assertNotIn("None", text)
        self.assertNotRegex(text, r"\bnull\b")
        self.text = text
        return case, text, doc

    def cause(self, doc, kind):
        """The diagnosis of the failure whose cause is of this kind."""
        found = [f for f in doc["failures"] if f["diagnosis"].get("cause_kind") == kind]
        self.assertTrue(found, "no failure explained as %s: %s" % (
            kind, [(f["title"], f["diagnosis"].get("cause")) for f in doc["failures"]]))
        return found[0]["diagnosis"]

    def assertCause(self, text, expected):
        """The report's cause line (wrapped lines folded) starts with expected."""
        causes = re.findall(r"cause: (.*?) (?:Diagnosis:|This is the other end)", text)
        self.assertTrue(any(c.startswith(expected) for c in causes),
                        "no cause line starting %r; the report has %r" % (expected, causes))

    def assertAlert(self, text, facts):
        if facts.get("alert") and facts.get("alert_from"):
            self.assertIn("%s sent fatal alert %s" % (facts["alert_from"], facts["alert"]), text)

    # -- certificates and keys ----------------------------------------------------------

    def test_key_mismatch(self):
        case, text, doc = self.case("key_mismatch")
        f = case.facts
        self.assertNotEqual(f["client_spki"], f["server_spki"])
        self.assertCause(text, "the client's and the server's public keys differ — the client "
                               "received %s with spki_sha256 %s; the server sent %s with "
                               "spki_sha256 %s" % (f["subject"], f["client_spki"], f["subject"],
                                                   f["server_spki"]))
        self.assertAlert(text, f)
        self.assertIn("With RSA key exchange (%s) the client encrypts the premaster secret"
                      % f["cipher"], text)
        self.assertIn("Bleichenbacher countermeasure", text)
        self.assertIn("bad_record_mac when the first encrypted message, Finished, arrives", text)
        self.assertIn("the certificates themselves differ too (sha256 %s… vs %s…)"
                      % (f["client_cert_sha256"][:16], f["server_cert_sha256"][:16]), text)
        # the server's own key check rules out a key that does not fit its certificate
        self.assertIn("the server's own private key belongs to the certificate it sent", text)
        # the relay between them shows as two addresses
        self.assertIn("the client connected to 127.0.0.1:%d but the server accepted on "
                      "127.0.0.1:%d" % (f["relay_port"], f["server_port"]), text)
        self.assertRegex(text, r"RECONNECT LOOP: tls_client\[\d+\]@\S+ -> 127\.0\.0\.1:%d: %d "
                               r"connections, %d failing" % (f["relay_port"], f["attempts"],
                                                             f["attempts"]))
        d = self.cause(doc, "key_mismatch")
        self.assertEqual((d["cause_values"]["client_spki"], d["cause_values"]["server_spki"]),
                         (f["client_spki"], f["server_spki"]))
        self.assertEqual(d["cause_values"]["cipher"], f["cipher"])

    def test_server_key_mismatch(self):
        case, text, doc = self.case("server_key_mismatch")
        f = case.facts
        self.assertFalse(f["key_match"])
        self.assertCause(text, "the server's private key does not belong to its certificate — "
                               "the server sent %s with spki_sha256 %s; its private key does "
                               "not fit that public key" % (f["subject"], f["server_spki"]))
        self.assertAlert(text, f)
        self.assertIn("With RSA key exchange (%s)" % f["cipher"], text)
        self.assertIn("Bleichenbacher countermeasure", text)
        d = self.cause(doc, "server_key_mismatch")
        self.assertEqual(d["cause_values"]["server_spki"], f["server_spki"])

    def test_hostname_mismatch(self):
        case, text, doc = self.case("hostname_mismatch")
        f = case.facts
        self.assertCause(text, "host name mismatch — the program asked OpenSSL to check '%s'; "
                               "the certificate names %s" % (f["host"], ", ".join(f["san"])))
        self.assertIn("verify error %d, depth %d" % (f["verify_code"], f["verify_depth"]), text)
        self.assertAlert(text, f)
        self.assertEqual(self.cause(doc, "hostname_mismatch")["cause_values"]["asked"], f["host"])

    def test_hostname_mismatch_checked_by_curl(self):
        case, text, doc = self.case("hostname_mismatch_curl")
        f = case.facts
        self.assertCause(text, "host name mismatch (checked by the program after the "
                               "handshake) — the client asked for '%s' (SNI); the certificate "
                               "names %s; the client closed right after the handshake"
                         % (f["sni"], ", ".join(f["san"])))
        # curl's own BIO hides the socket: the peer is named by its SNI
        self.assertRegex(text, r"client -> SNI %s " % re.escape(f["sni"]))
        d = self.cause(doc, "hostname_mismatch")
        self.assertEqual((d["cause_values"]["sni"], d["cause_values"]["names"]),
                         (f["sni"], f["san"]))

    def test_ip_mismatch(self):
        case, text, doc = self.case("ip_mismatch")
        f = case.facts
        self.assertCause(text, "IP address mismatch — the program asked OpenSSL to check IP "
                               "'%s'; the certificate names %s" % (f["ip"], ", ".join(f["san"])))
        self.assertIn("verify error %d" % f["verify_code"], text)
        self.assertAlert(text, f)

    def check_clock(self, d):
        """The host's clock at the check (the failure event's time) is the
        time the case ran."""
        clock = epoch(d["cause_values"]["clock"])
        self.assertIsNotNone(clock, d["cause_values"])
        self.assertTrue(self.t0 - 1 <= clock <= self.t1 + 1, (self.t0, clock, self.t1))
        return d["cause_values"]["clock"]

    def test_expired(self):
        case, text, doc = self.case("expired")
        f = case.facts
        d = self.cause(doc, "expired")
        clock = self.check_clock(d)
        self.assertCause(text, "certificate expired — %s (depth %d) was valid until %s; the "
                               "client's clock read %s when it checked (valid from %s)"
                         % (f["subject"], f["verify_depth"], f["not_after"], clock,
                            f["not_before"]))
        self.assertAlert(text, f)

    def test_not_yet_valid(self):
        case, text, doc = self.case("not_yet_valid")
        f = case.facts
        d = self.cause(doc, "not_yet_valid")
        clock = self.check_clock(d)
        self.assertCause(text, "certificate not yet valid — %s (depth %d) is valid from %s; the "
                               "client's clock read %s when it checked (valid until %s)"
                         % (f["subject"], f["verify_depth"], f["not_before"], clock,
                            f["not_after"]))
        self.assertAlert(text, f)

    def test_untrusted(self):
        case, text, doc = self.case("untrusted")
        f = case.facts
        self.assertCause(text, "untrusted issuer — %s (depth %d) is issued by %s; the client "
                               "does not trust that issuer: %s (verify error %d)"
                         % (f["subject"], f["verify_depth"], f["issuer"], f["verify_text"],
                            f["verify_code"]))
        self.assertAlert(text, f)

    # -- what the hellos offered -----------------------------------------------------------

    def test_no_common_version(self):
        case, text, doc = self.case("no_common_version")
        f = case.facts
        self.assertCause(text, "no common protocol version — the client offered %s; the server "
                               "allows %s to %s" % (f["client_max"], f["server_min"],
                                                    f["server_max"]))
        self.assertAlert(text, f)
        d = self.cause(doc, "no_common_version")
        self.assertEqual((d["cause_values"]["client_max"], d["cause_values"]["server_min"]),
                         (f["client_max"], f["server_min"]))

    def test_no_common_cipher(self):
        case, text, doc = self.case("no_common_cipher")
        f = case.facts
        self.assertCause(text, "no common cipher suite — the client offered %s; the server "
                               "allows %s" % (", ".join(f["client_ciphers"]),
                                              ", ".join(f["server_ciphers"])))
        self.assertAlert(text, f)
        d = self.cause(doc, "no_common_cipher")
        self.assertEqual((d["cause_values"]["client_ciphers"], d["cause_values"]["server_ciphers"]),
                         (f["client_ciphers"], f["server_ciphers"]))

    def test_no_common_group(self):
        case, text, doc = self.case("no_common_group")
        f = case.facts
        self.assertCause(text, "no common group — the client offered %s; the server allows %s"
                         % (", ".join(f["client_groups"]), ", ".join(f["server_groups"])))
        self.assertAlert(text, f)

    def test_no_common_sigalg(self):
        case, text, doc = self.case("no_common_sigalg")
        f = case.facts
        self.assertCause(text, "no common signature algorithm — the client accepts %s; the "
                               "server could sign with none of them"
                         % ", ".join(f["client_sigalgs"]))
        self.assertAlert(text, f)

    def test_alpn_refused(self):
        case, text, doc = self.case("alpn_refused")
        f = case.facts
        self.assertCause(text, "ALPN refused — the client offered %s; the server serves %s"
                         % (", ".join("'%s'" % p for p in f["client_alpn"]),
                            ", ".join("'%s'" % p for p in f["server_alpn"])))
        self.assertAlert(text, f)

    # -- client certificates ----------------------------------------------------------------

    def test_client_cert_required(self):
        case, text, doc = self.case("client_cert_required")
        f = case.facts
        self.assertCause(text, "client certificate required — the server asked for one "
                               "(CertificateRequest CA names %s;" % ", ".join(f["ca_names"]))
        self.assertRegex(text, r"cause: client certificate required — .*\) and the client sent "
                               r"none")
        self.assertIn("the client sent: no certificate (an empty Certificate message)", text)
        self.assertAlert(text, f)

    def test_client_cert_rejected(self):
        case, text, doc = self.case("client_cert_rejected")
        f = case.facts
        self.assertCause(text, "client certificate rejected: untrusted issuer — %s (depth %d) "
                               "is issued by %s; the server does not trust that issuer: %s "
                               "(verify error %d)"
                         % (f["client_cert_subject"], f["verify_depth"], f["client_cert_issuer"],
                            f["verify_text"], f["verify_code"]))
        self.assertIn("the server asked for it: CertificateRequest CA names %s"
                      % ", ".join(f["ca_names"]), text)
        self.assertAlert(text, f)

    # -- peers that do not speak TLS, and truncation ----------------------------------------

    def test_http_on_tls_port(self):
        case, text, doc = self.case("http_on_tls_port")
        f = case.facts
        self.assertCause(text, 'the server does not speak TLS — the client received "%s" (%s) '
                               'where a TLS record was due: an HTTP server answered on this port'
                         % (f["peer_text"], f["peer_bytes"]))
        self.assertEqual(self.cause(doc, "not_tls")["cause_values"]["peer_bytes"],
                         f["peer_bytes"])

    def test_tls_to_plain_client(self):
        case, text, doc = self.case("tls_to_plain_client")
        f = case.facts
        self.assertCause(text, 'the client does not speak TLS — the server received "%s" (%s) '
                               'where a TLS record was due: a plain-text HTTP client spoke to '
                               'this TLS port' % (f["peer_text"], f["peer_bytes"]))
        self.assertIn("error: BIO_f_ssl returned", text)

    def test_truncation(self):
        case, text, doc = self.case("truncation")
        f = case.facts
        self.assertCause(text, "truncation — the server closed the connection without a TLS "
                               "close_notify after application data moved (client read %d bytes"
                         % f["server_sent_len"])
        self.assertRegex(text, r"client -> 127\.0\.0\.1:\d+ +1 +1 +%s 1" % f["outcome"])


if __name__ == "__main__":
    unittest.main()
