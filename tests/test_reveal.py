"""Issue 14, the shim's side: what the handshake said is in the log as the
messages pass (hello contents, certificate chains), and failure lines carry
what explains them (verification result and the name checked, this side's
offer, the bytes of a peer that does not speak TLS, the peer's EOF), for
TLS 1.2 and 1.3, client and server, and for handshakes libssl drives through
its SSL BIO.  Every value is checked against what the test set up or what
`openssl` itself says about the certificates, never against the shim."""
import os
import socket
import subprocess

from explain_cases import cert_sha256, run_case, spki_sha256
from lib import ShimTest, certs, events, plain_env, run


def one(evs, name, **match):
    got = events(evs, name, **match)
    assert len(got) == 1, "want one %s %r, got %r" % (name, match, got)
    return got[0]


class Reveal(ShimTest):

    def s_client(self, port, *args, env=None, stdin=b"GET / HTTP/1.0\r\n\r\n"):
        return run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-ign_eof",
                    *args], input=stdin, stdin=None, env=env or self.env(), stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE, timeout=20)

    def ends(self):
        """(client events, server events) of the two openssl processes."""
        out = {}
        for evs in (self.all_events("openssl"),):
            for e in evs:
                out.setdefault(e["pid"], []).append(e)
        roles = {}
        for pid, evs in out.items():
            hs = events(evs, "handshake_start")
            if hs:
                roles[hs[0]["role"]] = evs
        return roles.get("client", []), roles.get("server", [])

    def check_leaf(self, cert):
        c = certs()
        self.assertEqual(cert["subject"], "/CN=localhost")
        self.assertEqual(cert["issuer"], "/CN=sslshim test CA")
        self.assertEqual(cert["san"], ["DNS:localhost", "IP:127.0.0.1"])
        self.assertEqual(cert["key"], "EC")
        self.assertEqual(cert["bits"], 256)
        self.assertEqual(cert["sig_alg"], "ecdsa-with-SHA256")
        self.assertEqual(cert["sha256"], cert_sha256(c["server.pem"]))
        self.assertEqual(cert["spki_sha256"], spki_sha256(c["server.pem"]))
        self.assertRegex(cert["not_before"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertLess(cert["not_before"], cert["not_after"])

    def test_tls13_hello_contents_and_chain_both_ends(self):
        server, port = self.openssl_server("-www", "-alpn", "h2,http/1.1", "-naccept", "1")
        r = self.s_client(port, "-servername", "localhost", "-alpn", "foo,h2",
                          "-groups", "x25519:secp256r1", "-CAfile", certs()["ca.pem"])
        self.assertEqual(r.returncode, 0, r.stderr)
        server.wait(10)
        client, srv = self.ends()
        for evs, direction in ((client, "sent"), (srv, "recv")):
            ch = one(evs, "hello", hs="ClientHello", dir=direction)
            self.assertEqual(ch["legacy_version"], "TLSv1.2")
            self.assertIn("TLSv1.3", ch["versions"])
            self.assertIn("TLS_AES_256_GCM_SHA384", ch["ciphers"])
            self.assertEqual(ch["groups"], ["x25519", "secp256r1"])
            self.assertEqual(ch["key_shares"], ["x25519"])
            self.assertIn("rsa_pss_rsae_sha256", ch["sigalgs"])
            self.assertEqual(ch["sni"], "localhost")
            self.assertEqual(ch["alpn"], ["foo", "h2"])
            for flag in ("session_id", "ticket", "psk", "ems", "reneg"):
                self.assertIn(flag, ch)
        for evs, direction in ((srv, "sent"), (client, "recv")):
            sh = one(evs, "hello", hs="ServerHello", dir=direction)
            self.assertEqual(sh["version"], "TLSv1.3")
            self.assertEqual(sh["key_share"], "x25519")
            ee = one(evs, "hello", hs="EncryptedExtensions", dir=direction)
            self.assertEqual(ee["alpn"], "h2")
        received = one(client, "certs", dir="recv")
        sent = one(srv, "certs", dir="sent")
        self.assertEqual(received["chain"], sent["chain"])
        self.check_leaf(received["chain"][0])
        done = one(client, "handshake_done")
        self.assertEqual(done["peer_cert"], received["chain"][0])
        self.assertEqual(one(srv, "handshake_done")["local_cert"], sent["chain"][0])

    def test_tls12_certificate_request_and_client_chain(self):
        c = certs()
        server, port = self.openssl_server("-www", "-no_tls1_3", "-Verify", "1",
                                           "-CAfile", c["ca.pem"], "-naccept", "1")
        r = self.s_client(port, "-cert", c["client.pem"], "-key", c["client.key"],
                          "-CAfile", c["ca.pem"], "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")
        self.assertEqual(r.returncode, 0, r.stderr)
        server.wait(10)
        client, srv = self.ends()
        sh = one(client, "hello", hs="ServerHello", dir="recv")
        self.assertEqual(sh["version"], "TLSv1.2")
        self.assertEqual(sh["cipher"], "ECDHE-ECDSA-AES128-GCM-SHA256")
        self.assertTrue(sh["ems"])
        self.assertTrue(sh["reneg"])
        for evs, direction in ((client, "recv"), (srv, "sent")):
            cr = one(evs, "hello", hs="CertificateRequest", dir=direction)
            self.assertEqual(cr["ca_names"], ["/CN=sslshim test CA"])
            self.assertIn("ecdsa_sign", cr["cert_types"])
            self.assertIn("ecdsa_secp256r1_sha256", cr["sigalgs"])
        mine = one(client, "certs", dir="sent")["chain"]
        theirs = one(srv, "certs", dir="recv")["chain"]
        self.assertEqual(mine, theirs)
        self.assertEqual(mine[0]["subject"], "/CN=sslshim client")
        self.assertEqual(mine[0]["spki_sha256"], spki_sha256(c["client.pem"]))

    def test_client_without_certificate_sends_an_empty_chain(self):
        c = certs()
        server, port = self.openssl_server("-www", "-tls1_3", "-Verify", "1",
                                           "-CAfile", c["ca.pem"], "-naccept", "1")
        self.s_client(port, "-CAfile", c["ca.pem"])
        server.wait(10)
        client, srv = self.ends()
        self.assertEqual(one(client, "certs", dir="sent")["chain"], [])
        self.assertEqual(one(srv, "certs", dir="recv")["chain"], [])
        alert = one(srv, "alert", dir="sent")
        self.assertEqual(alert["desc"], "certificate_required")

    def test_verify_failure_names_the_host_and_depth(self):
        server, port = self.openssl_server("-www", "-naccept", "1")
        r = self.s_client(port, "-verify_hostname", "wrong.example", "-verify_return_error",
                          "-CAfile", certs()["ca.pem"])
        self.assertIn(b"hostname mismatch", r.stdout + r.stderr)
        server.wait(10)
        client, _ = self.ends()
        fails = [e for e in client if e.get("verify")]
        self.assertEqual(len(fails), 1, "the first failure line only: %r" % fails)
        v = fails[0]["verify"]
        self.assertEqual(v, {"code": 62, "text": "hostname mismatch", "depth": 0,
                             "subject": "/CN=localhost", "host": "wrong.example", "ip": None})
        self.assertEqual(one(client, "certs", dir="recv")["chain"][0]["san"],
                         ["DNS:localhost", "IP:127.0.0.1"])
        self.assertNotIn("handshake_done", [e["ev"] for e in client])

    def test_untrusted_issuer_depth_is_the_top_of_the_chain(self):
        server, port = self.openssl_server("-www", "-naccept", "1")
        r = self.s_client(port, "-verify_return_error", "-verify_ip", "127.0.0.1",
                          "-CAfile", certs()["untrusted.pem"])
        self.assertNotEqual(r.returncode, 0)
        server.wait(10)
        client, _ = self.ends()
        v, = [e["verify"] for e in client if e.get("verify")]
        self.assertEqual(v["code"], 20)
        self.assertEqual(v["depth"], 0)
        self.assertEqual(v["subject"], "/CN=localhost")
        self.assertEqual(v["ip"], "127.0.0.1")

    def test_version_limits_and_local_offer_on_refusal(self):
        server, port = self.openssl_server("-www", "-tls1_3", "-naccept", "1")
        self.s_client(port, "-tls1_2", "-cipher", "AES128-SHA")
        server.wait(10)
        client, srv = self.ends()
        self.assertEqual(one(srv, "handshake_start")["min_version"], "TLSv1.3")
        self.assertEqual(one(client, "handshake_start")["max_version"], "TLSv1.2")
        self.assertNotIn("versions", one(srv, "hello", hs="ClientHello"))
        sent = one(srv, "alert", dir="sent")
        self.assertEqual(sent["desc"], "protocol_version")
        self.assertEqual(sent["local_offer"]["min_version"], "TLSv1.3")
        self.assertIn("TLS_AES_128_GCM_SHA256", sent["local_offer"]["ciphers"])

    def test_ssl_bio_handshake_failure_has_its_error_line(self):
        """s_server -www drives the handshake through BIO_f_ssl: no call of the
        program's fails, libssl's own does."""
        server, port = self.openssl_server("-www", "-naccept", "1")
        run(["curl", "-s", "-m", "5", "http://127.0.0.1:%d/" % port], env=plain_env(),
            stdout=subprocess.DEVNULL, timeout=20)
        server.wait(10)
        _, srv = self.ends()
        err = one(srv, "error")
        self.assertEqual(err["fn"], "BIO_f_ssl")
        self.assertEqual(err["err"], "SSL_ERROR_SSL")
        self.assertIn("http request", [q["reason"] for q in err["queue"]])
        self.assertEqual(err["peer_bytes"], b"GET /".hex())
        self.assertEqual(one(srv, "conn_end")["outcome"], "handshake_failed")

    def test_http_server_on_the_port(self):
        http = self.start(["/usr/bin/python3", "-c", HTTP_SERVER], env=plain_env())
        port = int(http.wait_for(r"PORT (\d+)").group(1))
        self.s_client(port)
        client, _ = self.ends()
        err = [e for e in client if e["ev"] == "error" and e.get("peer_bytes")]
        self.assertEqual(len(err), 1, client)
        self.assertEqual(bytes.fromhex(err[0]["peer_bytes"]), b"HTTP/")
        self.assertIn("wrong version number", [q["reason"] for q in err[0]["queue"]])

    def test_peer_closing_after_data_is_eof(self):
        server = self.start(["/usr/bin/python3", "-c", TRUNCATING_SERVER, certs()["server.pem"],
                             certs()["server.key"]], env=plain_env())
        port = int(server.wait_for(r"PORT (\d+)").group(1))
        r = self.s_client(port, "-CAfile", certs()["ca.pem"], stdin=b"ping\n")
        self.assertIn(b"pong", r.stdout)
        evs = self.all_events("openssl")
        end = one(evs, "conn_end")
        self.assertTrue(end["app_data"], r.stdout + r.stderr)
        self.assertEqual(end["outcome"], "eof")
        err = [e for e in evs if e["ev"] == "error"]
        self.assertTrue(err[0].get("eof"), err)
        self.assertEqual(err[0]["fn"], "SSL_read")
        self.assertFalse([e for e in evs if e["ev"] == "alert" and e["level"] == "fatal"
                          and not e.get("eof")])

    def test_unused_ssl_shut_down_is_no_connection(self):
        """SSL_shutdown on an SSL that never began a handshake fails ("shutdown
        while in init"); no connection failed."""
        evs = self.run_unused_shutdown()
        self.assertEqual(events(evs, "error"), [])
        self.assertEqual(events(evs, "conn_end"), [])

    def test_curls_key_check_ssl_is_no_connection(self):
        """curl with a client certificate makes an SSL only to check its key
        pair: neither a conn_end nor a failure in the report."""
        c = certs()
        server, port = self.openssl_server("-www", "-verify", "1", "-CAfile", c["ca.pem"],
                                           "-naccept", "1")
        r = run(["curl", "-s", "-m", "10", "--cacert", c["ca.pem"], "--cert", c["client.pem"],
                 "--key", c["client.key"], "https://localhost:%d/" % port], env=self.env(),
                universal_newlines=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        server.wait(10)
        evs = self.all_events("curl")
        ends = events(evs, "conn_end")
        self.assertEqual([e["outcome"] for e in ends], ["ok"])
        self.assertEqual(len({e["conn"] for e in evs if "conn" in e}), 1)
        self.assertEqual(one(evs, "certs", dir="sent")["chain"][0]["subject"],
                         "/CN=sslshim client")
        rep = run([os.path.join(os.path.dirname(__file__), "..", "scripts", "sslshim"), "report",
                   self.logdir], env=plain_env(), universal_newlines=True, timeout=60)
        self.assertIn("Failures: none", rep.stdout)

    def run_unused_shutdown(self):
        script = ("import ctypes, ctypes.util\n"
                  "ssl = ctypes.CDLL('libssl.so.3')\n"
                  "ssl.TLS_client_method.restype = ctypes.c_void_p\n"
                  "ssl.SSL_CTX_new.restype = ctypes.c_void_p\n"
                  "ssl.SSL_CTX_new.argtypes = [ctypes.c_void_p]\n"
                  "ssl.SSL_new.restype = ctypes.c_void_p\n"
                  "ssl.SSL_new.argtypes = [ctypes.c_void_p]\n"
                  "ssl.SSL_shutdown.argtypes = [ctypes.c_void_p]\n"
                  "ssl.SSL_free.argtypes = [ctypes.c_void_p]\n"
                  "ctx = ssl.SSL_CTX_new(ssl.TLS_client_method())\n"
                  "s = ssl.SSL_new(ctx)\n"
                  "print(ssl.SSL_shutdown(s))\n"
                  "ssl.SSL_free(s)\n")
        r = run(["/usr/bin/python3", "-c", script], env=self.env(), universal_newlines=True,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
        self.assertEqual(r.stdout.strip(), "-1", r.stderr)
        return self.all_events()

    def test_curl_loop_without_an_address_is_named_by_its_sni(self):
        """curl 7.88 reads and writes through its own BIO: no descriptor for
        the shim to ask.  Its reconnect loop is keyed and reported by SNI."""
        server, port = self.openssl_server("-www", "-naccept", "6")
        host = "wrong.example"
        r = run(["curl", "-s", "-m", "10", "--cacert", certs()["ca.pem"], "--resolve",
                 "%s:%d:127.0.0.1" % (host, port)] + ["https://%s:%d/" % (host, port)] * 6,
                env=self.env(), universal_newlines=True, timeout=30)
        self.assertEqual(r.returncode, 60, r.stderr)        # curl's own host name check
        evs = self.all_events("curl")
        self.assertEqual([e["peer"] for e in events(evs, "handshake_start")], [None] * 6)
        loop = events(evs, "loop")
        self.assertTrue(loop, evs)
        self.assertEqual((loop[0]["peer"], loop[0]["sni"]), (None, host))
        rep = run([os.path.join(os.path.dirname(__file__), "..", "scripts", "sslshim"), "report",
                   self.logdir], env=plain_env(), universal_newlines=True, timeout=60)
        self.assertNotIn("None", rep.stdout)
        self.assertRegex(rep.stdout, r"(?i)reconnect loop.*SNI %s" % host)

    def test_hostile_client_hello_leaves_the_server_running(self):
        """ClientHellos whose lengths lie: the server answers each with an
        alert as it does without the shim, and every line is JSON."""
        server, port = self.openssl_server("-www", "-naccept", "40")
        good = client_hello_bytes()
        for i in range(40):
            bad = bytearray(good)
            pos = 9 + (i * 37) % (len(good) - 9)
            bad[pos] = (bad[pos] + 1 + i * 53) & 0xFF
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(bytes(bad))
                s.shutdown(socket.SHUT_WR)   # a length that lies must not leave it waiting
                s.settimeout(5)
                try:
                    while s.recv(4096):
                        pass
                except OSError:
                    pass
        server.wait(20)
        self.assertEqual(server.p.returncode, 0, server.errors()[-2000:])
        evs = self.all_events("openssl")     # read_log fails on any line that is not JSON
        self.assertEqual(len(events(evs, "handshake_start")), 40)


def client_hello_bytes():
    """A real TLS 1.3 ClientHello record, as Python's ssl module writes it."""
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


HTTP_SERVER = r"""
import socket
ls = socket.create_server(("127.0.0.1", 0))
print("PORT", ls.getsockname()[1], flush=True)
ls.settimeout(10)
conn, _ = ls.accept()
conn.recv(4096)
conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
conn.close()
"""

TRUNCATING_SERVER = r"""
import os, socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
ls = socket.create_server(("127.0.0.1", 0))
print("PORT", ls.getsockname()[1], flush=True)
ls.settimeout(10)
conn, _ = ls.accept()
t = ctx.wrap_socket(conn, server_side=True)
t.recv(100)
t.sendall(b"pong\n")
os.close(t.detach())       # the TCP connection ends without close_notify
"""


class KeyCheck(ShimTest):
    """A server that sends bad_record_mac in the handshake says whether its
    private key belongs to its certificate (explain_cases makes both)."""

    def key_checks(self, case):
        c = run_case(case, self.tmp)
        server = [e for evs in c.logs(c.facts["server_exe"]).values() for e in evs]
        sent = events(server, "alert", dir="sent", desc="bad_record_mac")
        self.assertTrue(sent, server)
        return [a.get("key_check") for a in sent]

    def test_a_key_that_does_not_decrypt_is_named(self):
        self.assertEqual(self.key_checks("server_key_mismatch"), [{"match": False, "key": "RSA"}])

    def test_a_relay_presenting_another_certificate_leaves_the_key_good(self):
        checks = self.key_checks("key_mismatch")
        self.assertEqual(checks, [{"match": True, "key": "RSA"}] * len(checks))
