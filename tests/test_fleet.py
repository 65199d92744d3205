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
import signal
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


def ids_and_lines(path, growing=False):
    """[(host, pid, seq), raw line] of a JSONL store; fails on a line that is
    not a whole JSON object.  growing: rsyslogd is still appending (in 4 KiB
    pieces that may end inside a line), so an unterminated last line is not
    there yet."""
    out = []
    with open(path, "rb") as f:
        lines = f.readlines()
    if growing and lines and not lines[-1].endswith(b"\n"):
        lines.pop()
    for n, raw in enumerate(lines, 1):
        assert raw.endswith(b"\n"), "%s:%d: unterminated line" % (path, n)
        e = json.loads(raw)
        out.append(((e["host"], e["pid"], e["seq"]), raw))
    return out


def events_of(path, growing=True):
    return [json.loads(raw) for _, raw in ids_and_lines(path, growing)] \
        if os.path.exists(path) else []


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

    def local_copies(self, paths, growing=False):
        """{(host, pid, seq): raw line} of the hosts' own copies."""
        wrote = {}
        for local in paths:
            for ident, raw in ids_and_lines(local, growing):
                self.assertNotIn(ident, wrote, "a host's own copy has a line twice")
                wrote[ident] = raw
        return wrote

    def wait_for_lines(self, path, pred, timeout=20):
        """rsyslog writes asynchronously: wait until pred(events) holds."""
        deadline = time.monotonic() + timeout
        evs = []
        while time.monotonic() < deadline:
            evs = events_of(path)
            if pred(evs):
                return self.whole_store(path, evs)
            time.sleep(0.1)
        return evs

    @staticmethod
    def whole_store(path, evs, timeout=5):
        """The store read strictly (every line whole) once rsyslogd has
        finished its last write; evs if it never does within timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(path, "rb") as f:
                if f.read().endswith(b"\n"):
                    return events_of(path, growing=False)
            time.sleep(0.05)
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
        # the server ends that connection after s_client has gone: stopping it
        # before its last conn_end is written would lose the line, not a bug
        server.wait_for("ACCEPT_FAIL")
        evs = self.wait_for_lines(self.store, lambda evs: len(
            [e for e in evs if e["ev"] == "conn_end"]) >= 34)
        server.stop()
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
        # 150 attempts, 50 ms apart: the client outlives the stop, the pause,
        # the restart and the shim's once-a-second reopen with time to spare
        client = h.start([lib.fixture("tls_client"), "--port", port, "--cafile",
                          c["untrusted.pem"], "--retry", "150", "--delay-ms", "50"],
                         env=self.shim_env("syslog:user:sslshim:" + OWN_SOCKET,
                                           SSLSHIM_LOOP="0"))
        client.wait_for(r"ATTEMPT 5 FAIL", timeout=20)
        daemon = self.hosts[0].procs[0]
        daemon.stop()
        time.sleep(1.5)                       # attempts meanwhile find no reader
        self.rsyslogd(h, "test -S %s" % OWN_SOCKET)
        self.assertEqual(client.wait(60), 1, client.output())
        self.assertIn("GAVE_UP 150", client.output())
        evs = self.wait_for_lines(self.store, lambda evs: any(
            e["ev"] == "conn_end" and e.get("conn") == 150 for e in evs))
        mine = [e for e in evs if e["pid"] == client.p.pid] or evs
        dropped = events(mine, "dropped")
        self.assertEqual(len(dropped), 1, dropped)
        self.assertGreater(dropped[0]["n"], 0)
        seqs = [e["seq"] for e in mine]
        self.assertEqual(seqs, sorted(seqs))
        self.assertEqual(len(set(seqs)), len(seqs))
        # every number not in the store is one the dropped line counts, but
        # for those the old daemon's socket had taken and it never read as it
        # stopped: at most its queue (net.unix.max_dgram_qlen datagrams, and
        # one more: the kernel refuses only a queue already past the limit)
        with open("/proc/sys/net/unix/max_dgram_qlen") as f:
            qlen = int(f.read())
        unread = seqs[-1] - len(seqs) - dropped[0]["n"]
        self.assertTrue(0 <= unread <= qlen + 1, (seqs[-1], len(seqs), dropped[0]["n"], qlen))
        self.assertEqual(len(events(mine, "conn_end")), len(set(
            e["conn"] for e in mine if e["ev"] == "conn_end")))
        self.assertIn(150, [e.get("conn") for e in events(mine, "conn_end")])

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


class Fleet(FleetTest):
    """Three hosts and a central one.  h1 runs the application's TLS
    server; h2 a healthy client and one that does not trust the server; h3 a
    client failing in a reconnect loop, in flight mode.  Each host's
    rsyslogd forwards with the README's block over RELP and TLS; the
    central rsyslogd is killed (SIGKILL) in the middle and started again."""

    NAMES = ("logs", "h1", "h2", "h3")

    def test_fleet_store_is_complete_and_the_report_reads_it(self):
        certs = fleet_certs()
        hosts_text = hosts_file(self.NAMES)
        cpath, cblock = readme_block(CENTRAL_BLOCK)
        hpath, hblock = readme_block(HOST_BLOCK)
        central = self.host("logs", dict(tls_files(certs, "logs"), **{
            cpath: cblock, "/etc/hosts": hosts_text}))
        hosts = [self.host(n, dict(tls_files(certs, n), **{
            hpath: hblock, "/etc/hosts": hosts_text})) for n in self.NAMES[1:]]
        netns.link(central, hosts, SUBNET)
        listening = "ss -ltn | grep -q ':2514 '"
        self.rsyslogd(central, listening)
        for h in hosts:
            self.rsyslogd(h, "test -S /dev/log && test -S %s" % OWN_SOCKET)
        h1, h2, h3 = hosts
        app = SUBNET + ".2"
        own = "syslog:user:sslshim:" + OWN_SOCKET
        server = h1.start([lib.fixture("tls_server"), "--port", str(APP_PORT), "--conns", "0",
                           "--cert", certs["app.pem"], "--key", certs["app.key"]],
                          env=self.shim_env(own, FIXTURE_ADDR=app))
        server.wait_for(r"PORT %d" % APP_PORT)

        def client(h, cafile, *args, log="syslog", **env):
            argv = [lib.fixture("tls_client"), "--port", str(APP_PORT), "--cafile", cafile,
                    "--sni", "app.example.internal", *args]
            return h.start(argv, env=self.shim_env(log, FIXTURE_ADDR=app, **env))

        untrusted = lib.certs()["untrusted.pem"]
        loop = client(h3, untrusted, "--retry", "16", "--delay-ms", "200", log=own,
                      SSLSHIM_MODE="flight")
        first = client(h2, certs["ca.pem"], "--count", "5")
        self.assertEqual(first.wait(30), 0, first.errors())
        loop.wait_for(r"ATTEMPT 4 FAIL", timeout=20)
        # the central is killed with the loop running (SIGKILL: no orderly
        # shutdown), and comes back
        daemon = central.procs[0]
        daemon.stop(signal.SIGKILL)
        during = client(h2, certs["ca.pem"], "--count", "5")
        refused = client(h2, untrusted)
        self.assertEqual(during.wait(30), 0, during.errors())
        self.assertNotEqual(refused.wait(30), 0)
        time.sleep(1.0)
        self.rsyslogd(central, listening)
        self.assertEqual(loop.wait(60), 1, loop.output())
        after = client(h2, certs["ca.pem"], "--count", "3")
        self.assertEqual(after.wait(30), 0, after.errors())
        server.stop()

        # What each host wrote (its local copy, the README keeps one) and what
        # reached the central store: rsyslogd writes the local copy and
        # forwards from its own queue, so either may be ahead; read both until
        # the copies stop growing and the store has all of them, then strictly
        locals_ = [h.file("/var/log/sslshim.jsonl") for h in hosts]
        for local in locals_:
            self.assertTrue(netns.wait_for_file(local))
        store = central.file("/var/log/sslshim/fleet.jsonl")
        deadline = time.monotonic() + 60
        seen = None
        while time.monotonic() < deadline:
            now = self.local_copies(locals_, growing=True)
            got = ids_and_lines(store, growing=True) if os.path.exists(store) else []
            if now == seen and not set(now) - {i for i, _ in got}:
                break
            seen = now
            time.sleep(0.2)
        wrote = self.local_copies(locals_)
        per_pid = collections.defaultdict(list)
        for (host, pid, seq) in wrote:
            per_pid[(host, pid)].append(seq)
        for key, seqs in per_pid.items():
            self.assertEqual(sorted(seqs), list(range(1, len(seqs) + 1)),
                             "%s: the host's own copy misses lines" % (key,))
        self.assertEqual({k[0] for k in per_pid}, {"h1", "h2", "h3"})
        self.assertFalse([r for r in wrote.values() if b'"ev":"dropped"' in r])

        # ... is all in the central store, at least once, byte for byte
        got = ids_and_lines(store, growing=True) if os.path.exists(store) else []
        missing = set(wrote) - {i for i, _ in got}
        self.assertFalse(missing, "%d of %d events never reached the central store, e.g. %s"
                         % (len(missing), len(wrote), sorted(missing)[:5]))
        for ident, raw in got:
            self.assertEqual(raw, wrote.get(ident), "a line changed on its way: %r" % raw[:200])
        duplicates = len(got) - len(wrote)

        doc = self.report(store)
        self.assertEqual(doc["events"], len(wrote))
        self.assertEqual(doc["duplicates"], duplicates)
        self.assertEqual(set(doc["hosts"]), {"h1", "h2", "h3"})
        # both ends of a connection, on two hosts, joined
        self.assertGreaterEqual(doc["summary"]["joined_handshakes"], 13)
        # the fleet view: one entry for the clients of two hosts that do not
        # trust the server, one for the server that saw them fail
        refused_by_client = [f for f in doc["fleet"] if f["role"] == "client"]
        self.assertEqual(len(refused_by_client), 1, refused_by_client)
        f = refused_by_client[0]
        self.assertEqual(f["hosts"], ["h2", "h3"])
        self.assertEqual(f["host_count"], 2)
        self.assertEqual(f["connections"], 17)
        self.assertEqual(f["peer"], "%s:%d" % (app, APP_PORT))
        self.assertEqual(f["sni"], "app.example.internal")
        server_side = [f for f in doc["fleet"] if f["role"] == "server"]
        self.assertEqual([(f["hosts"], f["connections"]) for f in server_side],
                         [(["h1"], 17)])
        # the loop on h3, explained
        loops = [g for g in doc["loops"] if g["host"] == "h3"]
        self.assertEqual(len(loops), 1, doc["loops"])
        self.assertTrue(loops[0]["diagnosis"])
        # --host: one host's view
        only = self.report(store, "--host", "h3")
        self.assertEqual(only["hosts"], ["h3"])
        self.assertEqual(only["events"], sum(1 for k in wrote if k[0] == "h3"))

    def report(self, store, *args):
        r = lib.run([sys.executable, SSLSHIM, "report", "--json", *args, store],
                    universal_newlines=True, timeout=120)
        self.assertIn(r.returncode, (0, 1), r.stderr[-3000:])
        return json.loads(r.stdout)


if __name__ == "__main__":
    unittest.main()
