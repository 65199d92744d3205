"""Issue 2, done 1: openssl s_client against openssl s_server, both preloaded."""
import os
import shutil

from lib import ShimTest, certs, events, logs, run, sha256_fingerprint

REQUEST = b"GET / HTTP/1.0\r\n\r\n"

# Three full TLS 1.2 handshakes, then three that resume the last session;
# prints "full" or "resumed" for each.
RESUMING_CLIENT = """
import socket, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
ctx.maximum_version = ssl.TLSVersion.TLSv1_2
session = None
for i in range(6):
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                         server_hostname="localhost",
                         session=session if i >= 3 else None) as s:
        s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
        while s.recv(4096):
            pass
        print("resumed" if s.session_reused else "full", flush=True)
        session = s.session
"""


class OpenSSLCommandLine(ShimTest):

    def handshake(self, version_flag):
        server, port = self.openssl_server("-www", "-naccept", "1", version_flag)
        c = certs()
        r = run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, version_flag,
                 "-CAfile", c["ca.pem"], "-servername", "localhost", "-ign_eof"],
                input=REQUEST, env=self.env(), stdin=None)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"HTTP/1.0 200 ok", r.stdout)
        server.wait(10)
        files = logs(self.logdir, "openssl")
        self.assertEqual(len(files), 2, files.keys())
        by_role = {}
        for path, evs in files.items():
            self.assert_seq_complete(evs, path)
            proc = evs[0]
            self.assertEqual(proc["v"], 1)
            self.assertTrue(proc["openssl"].startswith("OpenSSL"))
            self.assertIn("libssl", proc["libssl"])
            role = events(evs, "handshake_start")[0]["role"]
            by_role[role] = evs
        return by_role

    def check_side(self, evs, role, version):
        start = events(evs, "handshake_start")
        self.assertEqual(len(start), 1)
        self.assertEqual(start[0]["role"], role)
        self.assertEqual(start[0]["n"], 1)
        self.assertRegex(start[0]["peer"], r"^127\.0\.0\.1:\d+$")
        self.assertGreater(len(events(evs, "state")), 3)
        msgs = [(m["dir"], m.get("hs")) for m in events(evs, "msg", type="handshake")]
        hello = ("sent" if role == "client" else "recv", "ClientHello")
        self.assertIn(hello, msgs)
        self.assertIn(("recv" if role == "client" else "sent", "ServerHello"), msgs)
        self.assertIn(("sent", "Finished"), msgs)
        self.assertIn(("recv", "Finished"), msgs)
        done = events(evs, "handshake_done")
        self.assertEqual(len(done), 1)
        d = done[0]
        self.assertEqual(d["version"], version)
        self.assertTrue(d["cipher"])
        self.assertRegex(d["client_random"], r"^[0-9a-f]{64}$")
        end = events(evs, "conn_end")
        self.assertEqual(len(end), 1)
        self.assertTrue(end[0]["app_data"], end[0])
        self.assertEqual(end[0]["outcome"], "ok", end[0])
        self.assertEqual(end[0]["client_random"], d["client_random"])
        return d

    def check(self, flag, version):
        sides = self.handshake(flag)
        client = self.check_side(sides["client"], "client", version)
        server = self.check_side(sides["server"], "server", version)
        fp = sha256_fingerprint(certs()["server.pem"])
        self.assertEqual(client["peer_cert"]["sha256"], fp)
        self.assertEqual(server["local_cert"]["sha256"], fp)
        self.assertEqual(client["peer_cert"]["spki_sha256"], server["local_cert"]["spki_sha256"])
        self.assertEqual(client["verify"]["code"], 0)
        self.assertEqual(client["sni"], "localhost")
        self.assertEqual(server["sni"], "localhost")
        self.assertEqual(client["client_random"], server["client_random"])
        self.assertEqual(client["cipher"], server["cipher"])
        # extended master secret: negotiated by default before 1.3, not a 1.3 notion
        self.assertEqual(client["ems"], None if version == "TLSv1.3" else True)
        self.assertEqual(server["ems"], client["ems"])

    def test_tls13(self):
        self.check("-tls1_3", "TLSv1.3")

    def test_tls12(self):
        self.check("-tls1_2", "TLSv1.2")

    def nonblocking_client(self, level, cafile="ca.pem"):
        """openssl s_client -nbio (non-blocking I/O, so handshake calls return
        WANT_READ) against a plain s_server; the client's events at `level`."""
        server, port = self.openssl_server("-www", "-naccept", "1", "-tls1_3", env=self.env())
        run(["openssl", "s_client", "-nbio", "-connect", "127.0.0.1:%d" % port, "-tls1_3",
             "-CAfile", certs()[cafile], "-servername", "localhost", "-verify_return_error",
             "-ign_eof"], input=REQUEST, env=self.env(SSLSHIM_LEVEL=level), stdin=None)
        server.wait(10)
        client = [evs for evs in logs(self.logdir, "openssl").values()
                  if events(evs, "handshake_start", role="client")]
        self.assertEqual(len(client), 1)
        return client[0]

    def test_state_lines_are_transitions(self):
        """A state OpenSSL re-reports (after I/O that would block, after a
        session ticket) writes no line; a would-block exit is written at
        level io only; a failing exit always."""
        def would_block_exits(evs):
            return [e for e in events(evs, "state") if e["where"] == "exit" and e["ret"] < 0]

        evs = self.nonblocking_client("handshake")
        states = events(evs, "state")
        self.assertGreater(len(states), 5)
        for a, b in zip(states, states[1:]):
            self.assertFalse(b["where"] == "loop" and a["state"] == b["state"],
                             "a repeated state line: %s" % b)
        self.assertEqual(would_block_exits(evs), [])
        self.assertEqual(events(evs, "handshake_done")[0]["version"], "TLSv1.3")

        shutil.rmtree(self.logdir)
        evs = self.nonblocking_client("io")
        blocked = would_block_exits(evs)
        self.assertTrue(blocked, "level io shows the calls that would block")
        calls = [e for e in events(evs, "call") if e["err"] == "SSL_ERROR_WANT_READ"]
        self.assertTrue(calls)

        shutil.rmtree(self.logdir)
        evs = self.nonblocking_client("handshake", cafile="untrusted.pem")
        failed = would_block_exits(evs)
        self.assertTrue(failed, "the exit of a failing handshake is written")
        self.assertTrue(events(evs, "alert", desc="unknown_ca") or events(evs, "error"))

    def test_certificates_described_again_from_memory(self):
        """handshake_done describes a certificate it has seen before from
        memory: found by the DER of the peer's Certificate message, by the
        address of the program's own certificate, and, on resumption (no
        Certificate message), by the address of the session's peer
        certificate. Every description must still be the certificate's."""
        c = certs()
        server, port = self.openssl_server("-www", "-naccept", "6", "-tls1_2")
        script = os.path.join(self.tmp, "resume.py")
        with open(script, "w") as f:
            f.write(RESUMING_CLIENT)
        r = run(["/usr/bin/python3", script, str(port), c["ca.pem"]], env=self.env(),
                universal_newlines=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(), ["full", "full", "full", "resumed", "resumed",
                                            "resumed"])
        server.wait(10)
        want = {"sha256": sha256_fingerprint(c["server.pem"])}
        done = {"client": [], "server": []}
        for evs in logs(self.logdir).values():
            for d in events(evs, "handshake_done"):
                conn = [e for e in evs if e.get("conn") == d["conn"]]
                done[events(conn, "handshake_start")[0]["role"]].append(d)
        self.assertEqual(len(done["client"]), 6)
        self.assertEqual(len(done["server"]), 6)
        first = done["client"][0]["peer_cert"]
        self.assertEqual(first["sha256"], want["sha256"])
        for d in done["client"]:
            self.assertEqual(d["peer_cert"], first, "client, resumed=%s" % d["resumed"])
        self.assertEqual([d["resumed"] for d in done["client"]], [False] * 3 + [True] * 3)
        for d in done["server"]:
            self.assertEqual(d["local_cert"], first, "server, resumed=%s" % d["resumed"])
