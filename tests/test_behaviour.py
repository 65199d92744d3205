"""Issue 2, done 2-5: the program sees no difference; threads, fork and
hostile peer bytes give complete, valid logs."""
import json
import os

from lib import ShimTest, certs, events, fixture, logs, plain_env, run


class Behaviour(ShimTest):

    def callback_probe(self, env):
        c = certs()
        server, port = self.fixture_server("--conns", "2", env=plain_env())
        r = run([fixture("callback_check"), "--port", str(port), "--cafile", c["untrusted.pem"]],
                env=env, universal_newlines=True)
        server.wait(10)
        return r

    def test_program_sees_the_same_results_errors_and_callbacks(self):
        plain = self.callback_probe(plain_env())
        shimmed = self.callback_probe(self.env(SSLSHIM_LEVEL="io", SSLSHIM_STACKS="all"))
        self.assertEqual(plain.returncode, 0, plain.stderr)
        self.assertIn("ERR lib=", plain.stdout)          # verification really failed
        self.assertIn("GETTER ssl=own ctx=own", plain.stdout)
        self.assertEqual(shimmed.returncode, plain.returncode)
        self.assertEqual(shimmed.stdout, plain.stdout)
        evs = self.all_events("callback_check")
        self.assertTrue(events(evs, "error"), "the shim saw the failure too")
        self.assertTrue(events(evs, "alert", dir="sent", desc="unknown_ca"))

    def test_eight_threads_many_connections(self):
        server, port = self.fixture_server("--conns", "0", "--threads", env=plain_env())
        r = run([fixture("tls_client"), "--port", str(port), "--cafile", certs()["ca.pem"],
                 "--threads", "8", "--count", "40"], env=self.env(SSLSHIM_LEVEL="io"),
                universal_newlines=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("OK 320", r.stdout)
        (path, evs), = logs(self.logdir).items()     # read_log: every line is JSON
        self.assert_seq_complete(evs, path)
        started = {e["conn"] for e in events(evs, "handshake_start")}
        ended = {e["conn"] for e in events(evs, "conn_end")}
        self.assertEqual(len(started), 320)
        self.assertEqual(started, ended)
        self.assertTrue(all(e["app_data"] and e["outcome"] == "ok"
                            for e in events(evs, "conn_end")))
        self.assertGreater(len({e["tid"] for e in evs}), 8 - 1)
        self.assertFalse(events(evs, "misuse"), "correctly locked threads are no misuse")

    def test_fork_child_logs_to_its_own_file(self):
        server, port = self.fixture_server("--conns", "3", env=plain_env())
        r = run([fixture("tls_client"), "--port", str(port), "--cafile", certs()["ca.pem"],
                 "--fork"], env=self.env(), universal_newlines=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("CHILD_OK", r.stdout)
        files = logs(self.logdir, "tls_client")
        self.assertEqual(len(files), 2, files.keys())
        parent = child = None
        for path, evs in files.items():
            self.assert_seq_complete(evs, path)
            self.assertEqual(len({e["pid"] for e in evs}), 1, path)
            if evs[0]["ppid"] == os.getpid() or len(events(evs, "conn_end")) == 2:
                parent = evs
            else:
                child = evs
        self.assertIsNotNone(parent)
        self.assertIsNotNone(child)
        self.assertEqual(child[0]["ppid"], parent[0]["pid"])
        self.assertEqual(len(events(parent, "conn_end")), 2)
        self.assertEqual(len(events(child, "conn_end")), 1)
        self.assertEqual(len(events(child, "handshake_done")), 1)
        randoms = lambda evs: {e["client_random"] for e in events(evs, "handshake_done")}
        self.assertFalse(randoms(parent) & randoms(child), "a connection is logged once")

    def test_hostile_sni_bytes_stay_valid_json(self):
        raw = bytes([0x22, 0x5c, 0x0a, 0x01, 0xff]) + b"x.example"
        server, port = self.fixture_server("--conns", "1")
        r = run([fixture("tls_client"), "--port", str(port), "--sni-hex", raw.hex()],
                env=self.env(), universal_newlines=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        server.wait(10)
        files = logs(self.logdir)
        self.assertEqual(len(files), 2)
        for path in files:
            with open(path, "rb") as f:
                for line in f:
                    self.assertEqual(line.count(b"\n"), 1)
                    json.loads(line.decode("utf-8"))
        expected = raw.decode("utf-8", errors="replace")
        for evs in files.values():
            done = events(evs, "handshake_done")
            self.assertEqual(len(done), 1)
            self.assertEqual(done[0]["sni"], expected)
            self.assertEqual(done[0]["sni_hex"], raw.hex())
            self.assertEqual(events(evs, "conn_end")[0]["sni"], expected)

    def test_data_level_records_plaintext_and_io_level_calls(self):
        server, port = self.fixture_server("--conns", "1", env=plain_env())
        r = run([fixture("tls_client"), "--port", str(port), "--send", "secret-ping\n"],
                env=self.env(SSLSHIM_LEVEL="data", SSLSHIM_DATA_BYTES="6"),
                universal_newlines=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        evs = self.all_events()
        data = events(evs, "data")
        self.assertIn({"fn": "SSL_write", "dir": "out", "len": 12, "hex": b"secret".hex()},
                      [{k: d[k] for k in ("fn", "dir", "len", "hex")} for d in data])
        calls = events(evs, "call")
        self.assertTrue(any(c["fn"] == "SSL_connect" and c["ret"] == 1 for c in calls))
        self.assertTrue(events(evs, "conn_new"))

    def test_default_level_writes_no_plaintext(self):
        server, port = self.fixture_server("--conns", "1", env=plain_env())
        run([fixture("tls_client"), "--port", str(port), "--send", "secret-ping\n"],
            env=self.env(), check=True)
        for path in logs(self.logdir):
            with open(path, "rb") as f:
                lines = f.read().splitlines()[1:]      # the process line has argv
            blob = b"\n".join(lines)
            self.assertTrue(blob)
            self.assertNotIn(b"secret", blob)
            self.assertNotIn(b"secret".hex().encode(), blob)
