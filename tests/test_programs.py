"""Issue 2, done 1: unmodified real programs under the shim — curl against
nginx with worker processes, and Python's ssl module (both Pythons)."""
import os
import re
import shutil
import socket
import sys
import textwrap
import time

from lib import ROOT, ShimTest, certs, events, logs, plain_env, run, sha256_fingerprint

PY_CLIENT = textwrap.dedent("""
    import socket, ssl, sys
    port, ca = int(sys.argv[1]), sys.argv[2]
    ctx = ssl.create_default_context(cafile=ca)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            version = s.version()
            s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    print(version, data.split(b"\\r\\n")[0].decode())
""")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


NGINX_CONF = textwrap.dedent("""
                daemon off;
                master_process on;
                worker_processes 2;
                pid %(tmp)s/nginx.pid;
                error_log %(tmp)s/error.log info;
                events { worker_connections 64; }
                http {
                    access_log off;
                    client_body_temp_path %(tmp)s/body;
                    proxy_temp_path %(tmp)s/proxy;
                    fastcgi_temp_path %(tmp)s/fastcgi;
                    uwsgi_temp_path %(tmp)s/uwsgi;
                    scgi_temp_path %(tmp)s/scgi;
                    server {
                        listen 127.0.0.1:%(port)d ssl;
                        ssl_certificate %(cert)s;
                        ssl_certificate_key %(key)s;
                        location / { return 200 "hello from nginx\\n"; }
                    }
                }
            """)


class RealPrograms(ShimTest):

    def assert_good_client_log(self, evs, path):
        self.assert_seq_complete(evs, path)
        self.assertEqual(len(events(evs, "handshake_start", role="client")), 1, path)
        self.assertTrue(events(evs, "state"), path)
        self.assertTrue(events(evs, "msg", hs="ClientHello", dir="sent"), path)
        done = events(evs, "handshake_done")
        self.assertEqual(len(done), 1, path)
        self.assertTrue(done[0]["version"].startswith("TLSv1."))
        self.assertTrue(done[0]["cipher"])
        self.assertEqual(done[0]["peer_cert"]["sha256"], sha256_fingerprint(certs()["server.pem"]))
        end = events(evs, "conn_end")
        self.assertEqual(len(end), 1, path)
        self.assertTrue(end[0]["app_data"], end[0])
        return done[0]

    def python_client(self, python):
        if not shutil.which(python):
            self.skipTest(python + " not installed")
        server, port = self.openssl_server("-www", "-naccept", "1", env=plain_env())
        script = os.path.join(self.tmp, "client.py")
        with open(script, "w") as f:
            f.write(PY_CLIENT)
        r = run([python, script, str(port), certs()["ca.pem"]], env=self.env(),
                universal_newlines=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("HTTP/1.0 200 ok", r.stdout)
        files = logs(self.logdir)
        self.assertEqual(len(files), 1, files.keys())
        path, evs = next(iter(files.items()))
        done = self.assert_good_client_log(evs, path)
        self.assertEqual(done["sni"], "localhost")
        self.assertEqual(r.stdout.split()[0], done["version"])

    def test_system_python_ssl_client(self):
        # /usr/bin/python3 loads libssl through _ssl.so with RTLD_LOCAL.
        self.python_client("/usr/bin/python3")

    def test_path_python_ssl_client(self):
        self.python_client("python3")

    def test_sslshim_run_as_root_records_nginx_workers(self):
        """`sslshim run` as root, nginx's workers as nobody/www-data: the log
        directory run makes lets them write (1733), and their handshakes are
        there.  (Before, the directory was root's 0700: nothing recorded.)"""
        out = os.path.join(self.tmp, "runlogs")
        run_proc, r = self.nginx_under_run(out, "-q")
        self.assertEqual(r.stdout, "hello from nginx\n", r.stderr)
        run_proc.stop()                       # run passes SIGTERM on to nginx
        self.assertEqual(os.stat(out).st_mode & 0o7777, 0o1733)
        files = logs(out, "nginx")
        owners = {os.stat(p).st_uid for p in files}
        self.assertTrue(files, os.listdir(out))
        self.assertNotIn(0, owners, "the workers' own files, not root's")
        done = [d for evs in files.values() for d in events(evs, "handshake_done")]
        self.assertTrue(done, files)
        self.assertIn("logs in %s/" % out, run_proc.errors())

    def test_sslshim_run_shows_a_worker_that_cannot_log(self):
        """`sslshim run -o DIR` with DIR root's own 0700: nginx's workers
        (nobody) cannot make their logs there.  Their warning goes to
        nginx's error log as stderr, and to run's terminal (SSLSHIM_NOTIFY),
        with the worker's pid and user; run then names that as why nothing
        was recorded instead of blaming the binary."""
        out = os.path.join(self.tmp, "closed")
        os.mkdir(out, 0o700)
        run_proc, r = self.nginx_under_run(out)
        self.assertEqual(r.stdout, "hello from nginx\n", r.stderr)   # nginx unharmed
        run_proc.stop()
        err = run_proc.errors()
        workers = {int(m.group(1)) for m in re.finditer(
            r"sslshim: pid (\d+) \(nobody\): cannot open log %s/nginx\.\1\.jsonl: "
            r"Permission denied" % re.escape(out), err)}
        self.assertTrue(workers, err)
        self.assertNotIn(os.getpid(), workers)
        self.assertEqual(os.listdir(out), [])
        self.assertIn("no TLS activity was recorded: the shim could not write its log", err)
        self.assertNotIn("sslshim check", err)             # the binary is not blamed

    def nginx_under_run(self, out, *run_args):
        """nginx (workers as nobody) under `sslshim run -o OUT`, as root, and
        one curl request to it once it answers: (run's Proc, curl's result)."""
        if os.geteuid() != 0:
            self.skipTest("needs root")
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.path.exists(nginx):
            self.skipTest("nginx not installed")
        c = certs()
        port = free_port()
        conf = self.nginx_conf(port, c)
        os.chmod(self.tmp, 0o755)
        sslshim = os.path.join(ROOT, "scripts", "sslshim")
        run_proc = self.start([sys.executable, sslshim, "run", *run_args, "-o", out, "--",
                               nginx, "-c", conf, "-p", self.tmp], env=plain_env())
        url = "https://localhost:%d/" % port
        for _ in range(50):
            r = run(["curl", "-sS", "--max-time", "5", "--cacert", c["ca.pem"],
                     "--resolve", "localhost:%d:127.0.0.1" % port, url],
                    env=plain_env(), universal_newlines=True)
            if r.returncode == 0:
                break
            time.sleep(0.1)
        return run_proc, r

    def nginx_conf(self, port, c):
        conf = os.path.join(self.tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF % {"tmp": self.tmp, "port": port, "cert": c["server.pem"],
                                  "key": c["server.key"]})
        return conf

    def test_curl_against_nginx_workers(self):
        for tool in ("nginx", "curl"):
            if not shutil.which(tool) and not os.path.exists("/usr/sbin/nginx"):
                self.skipTest(tool + " not installed")
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        c = certs()
        port = free_port()
        conf = self.nginx_conf(port, c)
        # nginx workers drop root for the "nobody" user: give them a log
        # directory they can write (the default, /tmp/sslshim-<uid>/, needs
        # nothing: each uid gets its own).
        os.chmod(self.tmp, 0o755)
        os.makedirs(self.logdir)
        os.chmod(self.logdir, 0o1777)
        server = self.start([nginx, "-c", conf, "-p", self.tmp], env=self.env())
        url = "https://localhost:%d/" % port
        for _ in range(50):
            r = run(["curl", "-sS", "--max-time", "5", "--cacert", c["ca.pem"],
                     "--resolve", "localhost:%d:127.0.0.1" % port, url],
                    env=self.env(), universal_newlines=True)
            if r.returncode == 0:
                break
        self.assertEqual(r.stdout, "hello from nginx\n", r.stderr)
        for _ in range(5):
            run(["curl", "-sS", "--max-time", "5", "--cacert", c["ca.pem"],
                 "--resolve", "localhost:%d:127.0.0.1" % port, url], env=plain_env(), check=True)
        server.stop()        # workers write conn_end for anything still open at exit

        worker_files = logs(self.logdir, "nginx")
        self.assertGreaterEqual(len(worker_files), 1, os.listdir(self.logdir))
        pids = set()
        served = []
        for path, evs in worker_files.items():
            self.assert_seq_complete(evs, path)
            pids.add(evs[0]["pid"])
            for d in events(evs, "handshake_done"):
                self.assertEqual(d["local_cert"]["sha256"], sha256_fingerprint(c["server.pem"]))
                served.append(d)
            for e in events(evs, "conn_end"):
                self.assertEqual(e["role"], "server")
        self.assertEqual(len(pids), len(worker_files), "one file per worker process")
        self.assertGreaterEqual(len(served), 2)
        ends = [e for evs in worker_files.values() for e in events(evs, "conn_end")]
        self.assertTrue(any(e["app_data"] for e in ends), ends)

        curl_files = logs(self.logdir, "curl")
        randoms = {d["client_random"] for d in served}
        curl_done = None
        for path, evs in curl_files.items():
            curl_done = self.assert_good_client_log(evs, path)
        self.assertIsNotNone(curl_done)
        self.assertIn(curl_done["client_random"], randoms, "both ends report the same client_random")
