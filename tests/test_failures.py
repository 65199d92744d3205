"""Issue 3: real failures reproduced on loopback and recorded with the right
alert or error, side and state; reconnect and renegotiation loops; misuse."""
from lib import ShimTest, certs, events, fixture, logs, plain_env, run


class Failures(ShimTest):

    def client(self, port, *args, env=None, check_rc=None):
        c = certs()
        r = run([fixture("tls_client"), "--port", str(port), *args],
                env=env if env is not None else self.env(), universal_newlines=True, timeout=60)
        if check_rc is not None:
            self.assertEqual(r.returncode, check_rc, r.stdout + r.stderr)
        return r

    def side(self, exe):
        files = logs(self.logdir, exe)
        out = []
        for path, evs in files.items():
            self.assert_seq_complete(evs, path)
            out.extend(evs)
        return out

    # -- 1: one flipped byte in the server's first encrypted record ----------

    def corrupted(self, version):
        server, sport = self.fixture_server("--conns", "1", "--min-version", version,
                                            "--max-version", version)
        proxy = self.start([fixture("corrupt_proxy"), "--listen-port", "0",
                            "--target-port", str(sport), "--conns", "1"], env=plain_env())
        pport = int(proxy.wait_for(r"PORT (\d+)").group(1))
        r = self.client(pport, "--cafile", certs()["ca.pem"], check_rc=1)
        self.assertIn("HANDSHAKE_FAIL", r.stdout)
        proxy.wait_for("CORRUPTED")
        server.wait(10)
        client, srv = self.side("tls_client"), self.side("tls_server")
        sent = events(client, "alert", dir="sent", desc="bad_record_mac")
        self.assertEqual(len(sent), 1, events(client, "alert"))
        a = sent[0]
        self.assertEqual(a["level"], "fatal")
        self.assertEqual(a["code"], 20)
        self.assertEqual(a["line"], "SSL3 alert write:fatal:bad record mac")
        self.assertTrue(a["state"])
        self.assertTrue(a["stack"])
        got = events(srv, "alert", dir="recv", desc="bad_record_mac")
        self.assertEqual(len(got), 1, events(srv, "alert"))
        self.assertEqual(got[0]["line"], "SSL3 alert read:fatal:bad record mac")
        end, = events(client, "conn_end")
        self.assertFalse(end["app_data"])
        self.assertEqual(end["outcome"], "handshake_failed")
        self.assertEqual(end["last_alert"], "bad_record_mac")
        self.assertEqual(end["alerts_sent"], 1)
        err, = events(client, "error")
        self.assertEqual(err["fn"], "SSL_connect")
        self.assertEqual(err["err"], "SSL_ERROR_SSL")
        self.assertTrue(any("bad record mac" in (q["reason"] or "") for q in err["queue"]), err)
        # both ends saw the same handshake
        self.assertEqual(events(client, "conn_end")[0]["client_random"],
                         events(srv, "conn_end")[0]["client_random"])
        return a

    def test_bad_record_mac_tls13(self):
        a = self.corrupted("tls1.3")
        self.assertIn("TLSv1.3", a["state"] + " TLSv1.3")

    def test_bad_record_mac_tls12(self):
        self.corrupted("tls1.2")

    # -- 2: the reconnect loop -----------------------------------------------

    def test_reconnect_loop_names_the_retrying_function(self):
        server, sport = self.fixture_server("--conns", "0", env=plain_env())
        proxy = self.start([fixture("corrupt_proxy"), "--listen-port", "0",
                            "--target-port", str(sport), "--conns", "0"], env=plain_env())
        pport = int(proxy.wait_for(r"PORT (\d+)").group(1))
        r = self.client(pport, "--cafile", certs()["ca.pem"], "--retry", "8",
                        "--delay-ms", "20", check_rc=1)
        self.assertEqual(r.stdout.count("FAIL"), 8)
        evs = self.side("tls_client")
        loops = events(evs, "loop")
        self.assertEqual(len(loops), 1, loops)
        loop = loops[0]
        self.assertEqual(loop["kind"], "reconnect")
        self.assertGreaterEqual(loop["count"], 5)
        self.assertGreaterEqual(loop["failed"], 5)
        self.assertEqual(loop["peer"], "127.0.0.1:%d" % pport)
        self.assertEqual(loop["window_s"], 10)
        self.assertEqual(loop["last_alert"], "bad_record_mac")
        fns = [f.get("fn", "") for f in loop["stack"]]
        self.assertTrue(fns[0].startswith("attempt_handshake+"), fns)
        self.assertTrue(any(f.startswith("reconnect_with_retry+") for f in fns), fns)
        self.assertEqual([e["attempt"] for e in events(evs, "handshake_start")], list(range(1, 9)))
        self.assertEqual(len(events(evs, "alert", dir="sent", desc="bad_record_mac")), 8)

    def test_quick_successful_connections_are_no_loop(self):
        server, port = self.fixture_server("--conns", "0", env=plain_env())
        self.client(port, "--cafile", certs()["ca.pem"], "--count", "20", check_rc=0)
        evs = self.side("tls_client")
        self.assertEqual(len(events(evs, "conn_end", outcome="ok")), 20)
        self.assertFalse(events(evs, "loop"))

    def test_loop_setting(self):
        server, sport = self.fixture_server("--conns", "0", env=plain_env())
        proxy = self.start([fixture("corrupt_proxy"), "--listen-port", "0",
                            "--target-port", str(sport), "--conns", "0"], env=plain_env())
        pport = int(proxy.wait_for(r"PORT (\d+)").group(1))
        self.client(pport, "--retry", "4", "--delay-ms", "10", env=self.env(SSLSHIM_LOOP="3/60"))
        loop, = events(self.side("tls_client"), "loop")
        self.assertEqual((loop["count"], loop["window_s"]), (3, 60))

    # -- 3: renegotiation loop -----------------------------------------------

    def test_renegotiation_loop(self):
        server, port = self.fixture_server("--conns", "1", "--allow-reneg")
        r = self.client(port, "--cafile", certs()["ca.pem"], "--reneg", "7", check_rc=0)
        self.assertIn("RENEG_OK 7", r.stdout)
        server.wait(10)
        for exe in ("tls_client", "tls_server"):
            evs = self.side(exe)
            loops = events(evs, "loop", kind="renegotiation")
            self.assertEqual(len(loops), 1, (exe, loops))
            self.assertGreaterEqual(loops[0]["count"], 5)
            self.assertEqual(events(evs, "conn_end")[0]["handshakes"], 8)
            self.assertEqual([e["n"] for e in events(evs, "handshake_start")], list(range(1, 9)))

    # -- 4: failures recorded with the right alert, side and state -----------

    def assert_alert(self, evs, direction, desc):
        found = events(evs, "alert", dir=direction, desc=desc)
        self.assertTrue(found, [(a["dir"], a["desc"]) for a in events(evs, "alert")])
        self.assertEqual(found[0]["level"], "fatal")
        self.assertTrue(found[0]["state"])
        return found[0]

    def test_untrusted_server_certificate(self):
        c = certs()
        server, port = self.fixture_server("--conns", "1")
        r = self.client(port, "--cafile", c["untrusted.pem"], check_rc=1)
        server.wait(10)
        a = self.assert_alert(self.side("tls_client"), "sent", "unknown_ca")
        self.assertIn("certificate", a["state"])
        self.assert_alert(self.side("tls_server"), "recv", "unknown_ca")
        err, = events(self.side("tls_client"), "error")
        self.assertTrue(any(q["reason"] == "certificate verify failed" for q in err["queue"]), err)

    def test_no_protocol_version_in_common(self):
        server, port = self.fixture_server("--conns", "1", "--min-version", "tls1.3")
        self.client(port, "--max-version", "tls1.2", check_rc=1)
        server.wait(10)
        self.assert_alert(self.side("tls_server"), "sent", "protocol_version")
        self.assert_alert(self.side("tls_client"), "recv", "protocol_version")

    def test_no_cipher_in_common(self):
        server, port = self.fixture_server("--conns", "1", "--max-version", "tls1.2",
                                           "--ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256")
        self.client(port, "--max-version", "tls1.2",
                    "--ciphers", "ECDHE-ECDSA-CHACHA20-POLY1305", check_rc=1)
        server.wait(10)
        a = self.assert_alert(self.side("tls_server"), "sent", "handshake_failure")
        self.assertIn("client hello", a["state"])
        self.assert_alert(self.side("tls_client"), "recv", "handshake_failure")

    def test_server_closes_mid_handshake(self):
        server, port = self.fixture_server("--conns", "1", "--close-mid-handshake")
        self.client(port, check_rc=1)
        evs = self.side("tls_client")
        err, = events(evs, "error")
        self.assertEqual(err["fn"], "SSL_connect")
        self.assertIn(err["err"], ("SSL_ERROR_SYSCALL", "SSL_ERROR_SSL"))
        if err["err"] == "SSL_ERROR_SSL":
            self.assertTrue(any("unexpected eof" in (q["reason"] or "") for q in err["queue"]), err)
        self.assertTrue(err["stack"])
        end, = events(evs, "conn_end")
        self.assertEqual(end["outcome"], "handshake_failed")

    def test_client_certificate_required(self):
        c = certs()
        server, port = self.fixture_server("--conns", "1", "--cafile", c["ca.pem"],
                                           "--require-client-cert")
        self.client(port, "--cafile", c["ca.pem"], check_rc=1)
        server.wait(10)
        self.assert_alert(self.side("tls_server"), "sent", "certificate_required")
        client = self.side("tls_client")
        self.assert_alert(client, "recv", "certificate_required")
        self.assertTrue(events(client, "error"))

    def test_client_certificate_required_tls12(self):
        c = certs()
        server, port = self.fixture_server("--conns", "1", "--cafile", c["ca.pem"],
                                           "--require-client-cert", "--max-version", "tls1.2")
        self.client(port, "--cafile", c["ca.pem"], check_rc=1)
        server.wait(10)
        self.assert_alert(self.side("tls_server"), "sent", "handshake_failure")
        self.assert_alert(self.side("tls_client"), "recv", "handshake_failure")

    # -- 5: misuse -------------------------------------------------------------

    def test_two_threads_on_one_ssl(self):
        for attempt in range(4):
            server, port = self.fixture_server("--conns", "1", "--max-version", "tls1.2")
            r = self.client(port, "--share-threads", "--max-version", "tls1.2")
            # Two threads in one SSL corrupt OpenSSL's own state: now and then
            # glibc aborts the client ("double free") — the misuse's doing, and
            # the misuse line is written when it is seen, before that.
            self.assertIn(r.returncode, (0, -6, -11), r.stdout + r.stderr)
            server.wait(15)
            client = self.side("tls_client")
            misuse = events(client, "misuse", kind="concurrent")
            self.assertEqual(len(misuse), 1, misuse)
            self.assertIn(misuse[0]["fn"], ("SSL_write",))
            self.assertNotEqual(misuse[0]["other_tid"], misuse[0]["tid"])
            self.assertTrue(misuse[0]["stack"])
            # the server answers the garbled records with a fatal alert
            # (bad_record_mac, decode_error...), or the client's broken SSL
            # sends it one (internal_error): either way the peer's log has it
            alerts = [a for a in events(self.side("tls_server"), "alert")
                      if a["level"] == "fatal"]
            if alerts:
                break
            # the broken record stream does not always reach the server as a
            # garbled record (the client may break first): try again
            for p in self.procs:
                p.stop()
            self.tearDown()
            self.setUp()
        self.assertTrue(alerts, "the server never answered the corruption with an alert")

    def test_ssl_used_in_parent_and_fork_child(self):
        server, port = self.fixture_server("--conns", "1")
        self.client(port, "--share-fork", "--send", "hello\n", check_rc=0)
        server.wait(10)
        files = logs(self.logdir, "tls_client")
        self.assertEqual(len(files), 2)
        kinds = {}
        for path, evs in files.items():
            for m in events(evs, "misuse"):
                kinds.setdefault(m["kind"], []).append((evs[0]["pid"], m))
        self.assertEqual(list(kinds), ["after_fork"])
        (pid, m), = kinds["after_fork"]
        self.assertEqual(m["parent_pid"], [evs for evs in files.values()
                                           if evs[0]["pid"] != pid][0][0]["pid"])
        self.assertTrue(m["stack"])
        srv = self.side("tls_server")
        self.assertTrue(any(a["level"] == "fatal" for a in events(srv, "alert", dir="sent")))

    def test_locked_threads_are_no_misuse(self):
        server, port = self.fixture_server("--conns", "1", "--max-version", "tls1.2")
        self.client(port, "--locked-threads", "--max-version", "tls1.2", check_rc=0)
        self.assertFalse(events(self.side("tls_client"), "misuse"))

    # -- 6: no stack for healthy connections -------------------------------------

    def test_successful_connection_captures_no_stack(self):
        server, port = self.fixture_server("--conns", "0", env=plain_env())
        self.client(port, "--cafile", certs()["ca.pem"], "--count", "3", check_rc=0)
        evs = self.side("tls_client")
        ends = events(evs, "conn_end")
        self.assertEqual(len(ends), 3)
        self.assertEqual([e["stacks"] for e in ends], [0, 0, 0])
        self.assertFalse([e for e in evs if "stack" in e or e["ev"] == "module"])
        # ...while a failing one counts the stacks it captured
        server2, port2 = self.fixture_server("--conns", "1", env=plain_env())
        self.client(port2, "--cafile", certs()["untrusted.pem"], check_rc=1)
        ends = events(self.side("tls_client"), "conn_end")
        self.assertGreater(ends[-1]["stacks"], 0)
