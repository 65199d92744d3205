"""Logs from a fleet (issue 15): the README's rsyslog blocks, exactly as
written there, on Debian's stock /etc/rsyslog.conf, in hosts made of
namespaces (tests/netns.py): one host keeping its events, the syslog sink
across a restart of the local rsyslogd, flight mode over syslog, and a
fleet of three hosts forwarding over RELP with TLS to a central rsyslogd
that is restarted mid-run, read back with `sslshim report`."""
import collections
import json
import os
import re
import sys
import time
import unittest

import lib
import netns
from lib import ShimTest, events

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RSYSLOGD = "/usr/sbin/rsyslogd"
SSLSHIM = os.path.join(ROOT, "scripts", "sslshim")
OWN_SOCKET = "/run/sslshim.sock"
SUBNET = "10.231.0"                       # only inside the test's namespaces
APP_PORT = 4433


def readme_blocks():
    """{first line: text} of the README's code blocks that configure rsyslog."""
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    blocks = re.findall(r"^```[a-z]*\n(# /etc/rsyslog\.d/.*?)^```$", text, re.S | re.M)
    return {b.split("\n", 1)[0]: b for b in blocks}


def readme_block(first_line_start):
    """The one README block whose first line starts so, and the file it names."""
    found = [(k, b) for k, b in readme_blocks().items() if k.startswith(first_line_start)]
    assert len(found) == 1, "README: %d rsyslog blocks start with %r" % (len(found),
                                                                         first_line_start)
    first, block = found[0]
    return first.split()[1].rstrip(":"), block


LOCAL_BLOCK = "# /etc/rsyslog.d/30-sslshim.conf: keep"
HOST_BLOCK = "# /etc/rsyslog.d/30-sslshim.conf on each host of a fleet"
CENTRAL_BLOCK = "# /etc/rsyslog.d/30-sslshim-central.conf"


def fleet_certs():
    """A CA and certificates for the central host, three hosts and the
    application's server, named as the README's blocks and /etc/hosts name
    them; made once per build."""
    d = os.path.join(lib.BUILD, "tests", "certs-fleet")
    names = ["logs", "h1", "h2", "h3", "app"]
    p = lambda n: os.path.join(d, n)
    if not os.path.exists(p("done")):
        os.makedirs(d, exist_ok=True)
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        lib.run(["openssl", "req", "-x509", *ec, "-keyout", p("ca.key"), "-out", p("ca.pem"),
                 "-days", "30", "-subj", "/CN=sslshim fleet test CA"], check=True)
        for n in names:
            fqdn = n + ".example.internal"
            lib.run(["openssl", "req", *ec, "-keyout", p(n + ".key"), "-out", p(n + ".csr"),
                     "-subj", "/CN=" + fqdn], check=True)
            with open(p(n + ".ext"), "w") as f:
                f.write("subjectAltName=DNS:%s\n" % fqdn)
            lib.run(["openssl", "x509", "-req", "-in", p(n + ".csr"), "-CA", p("ca.pem"),
                     "-CAkey", p("ca.key"), "-CAcreateserial", "-out", p(n + ".pem"),
                     "-days", "30", "-extfile", p(n + ".ext")], check=True)
        open(p("done"), "w").close()
    return {n: p(n) for n in os.listdir(d)}


def read(path):
    with open(path) as f:
        return f.read()


def hosts_file(names):
    lines = ["127.0.0.1 localhost"]
    for i, n in enumerate(names, 1):
        extra = " app.example.internal" if n == "h1" else ""
        lines.append("%s.%d %s.example.internal%s" % (SUBNET, i, n, extra))
    return "\n".join(lines) + "\n"


def tls_files(certs, name):
    """The README's /etc/rsyslog-tls/ for one host."""
    return {"/etc/rsyslog-tls/ca.pem": read(certs["ca.pem"]),
            "/etc/rsyslog-tls/host.pem": read(certs[name + ".pem"]),
            "/etc/rsyslog-tls/host.key": read(certs[name + ".key"])}


def ids_and_lines(path):
    """[(host, pid, seq), raw line] of a JSONL store; fails on a line that is
    not a whole JSON object."""
    out = []
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            assert raw.endswith(b"\n"), "%s:%d: unterminated line" % (path, n)
            e = json.loads(raw)
            out.append(((e["host"], e["pid"], e["seq"]), raw))
    return out


def events_of(path):
    return [json.loads(raw) for _, raw in ids_and_lines(path)] if os.path.exists(path) else []


class FleetTest(ShimTest):
    """Hosts (namespaces) each running Debian's rsyslogd as installed."""

    def setUp(self):
        super().setUp()
        why = netns.available()
        self.assertIsNone(why, "the fleet tests need namespaces: %s" % why)
        self.assertTrue(os.path.exists(RSYSLOGD), "rsyslog is not installed")
        self.hosts = []
        self.addCleanup(self.close_hosts)

    def close_hosts(self):
        for h in reversed(self.hosts):
            h.close()

    def host(self, name, etc_files):
        h = netns.Host(name, self.tmp, etc_files)
        self.hosts.append(h)
        return h

    def rsyslogd(self, h, ready="test -S /dev/log"):
        """Start the host's rsyslogd (stock /etc/rsyslog.conf) once its
        configuration checks; wait until `ready` holds on the host."""
        r = h.run([RSYSLOGD, "-N1"], universal_newlines=True)
        self.assertEqual(r.returncode, 0, "%s: rsyslogd -N1: %s" % (h.name, r.stderr))
        self.assertNotIn("error", r.stderr.lower(), r.stderr)
        d = h.start([RSYSLOGD, "-n"], env=lib.plain_env())
        self.wait_on(h, ready, "%s: rsyslogd never became ready" % h.name)
        return d

    def wait_on(self, h, script, what, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if h.run(["sh", "-c", script]).returncode == 0:
                return
            time.sleep(0.1)
        self.fail(what)

    def shim_env(self, log, **extra):
        env = lib.shim_env("/unused", **extra)
        env["SSLSHIM_LOG"] = log
        return env

    def wait_for_lines(self, path, pred, timeout=20):
        """rsyslog writes asynchronously: wait until pred(events) holds."""
        deadline = time.monotonic() + timeout
        evs = []
        while time.monotonic() < deadline:
            evs = events_of(path)
            if pred(evs):
                return evs
            time.sleep(0.1)
        return evs


class OneHost(FleetTest):

    def local_host(self):
        path, block = readme_block(LOCAL_BLOCK)
        h = self.host("h1", {path: block})
        self.rsyslogd(h, "test -S /dev/log && test -S %s" % OWN_SOCKET)
        self.store = h.file("/var/log/sslshim.jsonl")
        return h

    def server(self, h, log=OWN_SOCKET, conns=0):
        c = lib.certs()
        env = self.shim_env("syslog:user:sslshim:" + log) if log else lib.plain_env()
        s = h.start([lib.fixture("tls_server"), "--port", "0", "--conns", str(conns),
                     "--cert", c["server.pem"], "--key", c["server.key"]], env=env)
        return s, s.wait_for(r"PORT (\d+)").group(1)

    def test_readme_block_on_stock_debian_rsyslog(self):
        """Both of the README's ways in: /dev/log (the default) and the
        socket of its own, which a busy server needs: its 400-odd lines in
        a second are all there, where /dev/log keeps 200 in 5 s."""
        h = self.local_host()
        server, port = self.server(h)
        c = lib.certs()
        ok = h.run([lib.fixture("tls_client"), "--port", port, "--cafile", c["ca.pem"],
                    "--count", "16"], env=self.shim_env("syslog"), universal_newlines=True)
        self.assertIn("OK 16", ok.stdout, ok.stderr)
        bad = h.run(["openssl", "s_client", "-connect", "127.0.0.1:" + port, "-CAfile",
                     c["untrusted.pem"], "-verify_return_error"],
                    env=self.shim_env("syslog"), universal_newlines=True)
        self.assertNotEqual(bad.returncode, 0)
        server.stop()
        evs = self.wait_for_lines(self.store, lambda evs: len(
            [e for e in evs if e["ev"] == "conn_end"]) >= 34)
        by_pid = collections.defaultdict(list)
        for e in evs:
            by_pid[e["pid"]].append(e)
        self.assertEqual(len(by_pid), 3, sorted(by_pid))
        for pid, pevs in by_pid.items():
            self.assertEqual(pevs[0]["ev"], "process")
            self.assertEqual([e["seq"] for e in pevs], list(range(1, len(pevs) + 1)),
                             "pid %d: lines lost or reordered" % pid)
            self.assertEqual(pevs[0]["host"], "h1")
        server_evs = by_pid[server.p.pid] if server.p.pid in by_pid else \
            max(by_pid.values(), key=len)
        self.assertGreater(len(server_evs), 200, "the server's lines were rate-limited")
        self.assertEqual(len(events(server_evs, "conn_end")), 17)
        self.assertTrue(any(e["ev"] == "alert" and e.get("desc") == "unknown_ca" for e in evs))
        # `stop` kept them out of the stock configuration's catch-all files
        with open(h.file("/var/log/syslog")) as f:
            self.assertNotIn("sslshim", f.read())

    def test_sink_survives_a_restart_of_rsyslogd(self):
        """A client logging through a local rsyslogd restart: the lines it
        could not send are counted, and the `dropped` line that says so
        arrives once rsyslogd is back; seq has no gap that line does not
        explain."""
        h = self.local_host()
        server, port = self.server(h, log=None)
        c = lib.certs()
        client = h.start([lib.fixture("tls_client"), "--port", port, "--cafile",
                          c["untrusted.pem"], "--retry", "60", "--delay-ms", "50"],
                         env=self.shim_env("syslog:user:sslshim:" + OWN_SOCKET,
                                           SSLSHIM_LOOP="0"))
        client.wait_for(r"ATTEMPT 5 FAIL", timeout=20)
        daemon = self.hosts[0].procs[0]
        daemon.stop()
        time.sleep(1.5)                       # attempts meanwhile find no reader
        self.rsyslogd(h, "test -S %s" % OWN_SOCKET)
        self.assertEqual(client.wait(60), 1, client.output())
        self.assertIn("GAVE_UP 60", client.output())
        evs = self.wait_for_lines(self.store, lambda evs: any(
            e["ev"] == "conn_end" and e.get("conn") == 60 for e in evs))
        mine = [e for e in evs if e["pid"] == client.p.pid] or evs
        dropped = events(mine, "dropped")
        self.assertEqual(len(dropped), 1, dropped)
        self.assertGreater(dropped[0]["n"], 0)
        seqs = [e["seq"] for e in mine]
        self.assertEqual(seqs, sorted(seqs))
        self.assertEqual(len(set(seqs)), len(seqs))
        # every number not in the store is one the dropped line counts, but
        # for those the old daemon's socket had taken and it never read as it
        # stopped: at most its queue (net.unix.max_dgram_qlen datagrams)
        with open("/proc/sys/net/unix/max_dgram_qlen") as f:
            qlen = int(f.read())
        unread = seqs[-1] - len(seqs) - dropped[0]["n"]
        self.assertTrue(0 <= unread <= qlen, (seqs[-1], len(seqs), dropped[0]["n"], qlen))
        self.assertEqual(len(events(mine, "conn_end")), len(set(
            e["conn"] for e in mine if e["ev"] == "conn_end")))
        self.assertIn(60, [e.get("conn") for e in events(mine, "conn_end")])

    def test_flight_mode_over_syslog(self):
        """A failing connection's kept events arrive in order with the time
        each happened: the ClientHello a second before the failure it led
        to, both sent at the failure."""
        h = self.local_host()
        silent = h.start([sys.executable, "-c", SILENT_SERVER], env=lib.plain_env())
        port = silent.wait_for(r"PORT (\d+)").group(1)
        ok_server, ok_port = self.server(h, log=None)
        env = self.shim_env("syslog:user:sslshim:" + OWN_SOCKET, SSLSHIM_MODE="flight")
        c = lib.certs()
        good = h.run([lib.fixture("tls_client"), "--port", ok_port, "--cafile", c["ca.pem"],
                      "--count", "3"], env=env, universal_newlines=True)
        self.assertIn("OK 3", good.stdout)
        r = h.run(["openssl", "s_client", "-connect", "127.0.0.1:" + port], env=env,
                  universal_newlines=True)
        self.assertNotEqual(r.returncode, 0)
        evs = self.wait_for_lines(self.store, lambda evs: any(
            e["ev"] == "conn_end" and e.get("outcome") != "ok" for e in evs))
        pid = [e["pid"] for e in evs if e["ev"] == "process" and e["exe"].endswith("openssl")]
        self.assertEqual(len(pid), 1, pid)
        failing = [e for e in evs if e["pid"] == pid[0]]
        # nothing lost (lines of the process, such as the `module` lines of
        # its stack, are written at once, between the numbering of the kept
        # lines and their writing: the file is not in seq order, as in
        # flight mode with any log)
        self.assertEqual(sorted(e["seq"] for e in failing), list(range(1, len(failing) + 1)))
        conn = [e for e in failing if e.get("conn") == 1]
        self.assertEqual([e["seq"] for e in conn], sorted(e["seq"] for e in conn))
        kinds = [e["ev"] for e in conn]
        self.assertEqual(kinds[0], "handshake_start", kinds)
        self.assertIn("error", kinds)
        err = [e for e in conn if e["ev"] == "error"][0]
        self.assertGreater(ts_seconds(err) - ts_seconds(conn[0]), 0.9,
                           "the kept lines carry the time they were written, not their own")
        ts = [ts_seconds(e) for e in conn]
        self.assertEqual(ts, sorted(ts))
        # the good connections' events were kept and let go, as flight mode does
        good_pids = {e["pid"] for e in evs if e["ev"] == "process"
                     and e["exe"].endswith("tls_client")}
        self.assertFalse([e for e in evs if e["pid"] in good_pids and e["ev"] == "state"])


SILENT_SERVER = r"""
import socket, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(4)
print("PORT %d" % s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
    time.sleep(1.2)
    c.close()
"""


def ts_seconds(e):
    t = e["ts"]
    secs = time.mktime(time.strptime(t[:19], "%Y-%m-%dT%H:%M:%S"))
    return secs + float("0" + t[19:].rstrip("Z"))


if __name__ == "__main__":
    unittest.main()
