"""Issue 15, the report side: `sslshim report` on a fleet's central store.

Production hosts forward the shim's lines to one central JSONL store: the
lines of many hosts and processes interleaved, some delivered twice (a
forwarder's at-least-once delivery after a restart).  These tests write such
stores from real lines — a client that trusts the server, and one that does
not, both ends run once under the shim by tests/bench/report_speed.py — with
their host, pid, seq, ts and addresses rewritten to make hosts, and run
`scripts/sslshim report` on them as a user would:

- every event counted once, the copies counted as duplicates, exactly;
- a pid used again by a new process (a new process line, seq from 1) is a
  new process, not a copy;
- the fleet view: the failing clients of two hosts are one entry (host_count
  2, their connections, first and last seen), the server's failures with
  clients on both hosts one entry under its listening address;
- --host: only the events of the hosts named;
- the text report shows the fleet view before any connection's detail;
- memory: a store of a million lines is reported in less than 200 MB.

SSLSHIM_TEST_SCRIPTS=DIR runs them against another copy of the command (to
see them fail on an older one)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from lib import ROOT, SHIM, TIMEOUT, plain_env

sys.path.insert(0, os.path.join(ROOT, "tests", "bench"))
import report_speed  # noqa: E402

SCRIPTS = os.environ.get("SSLSHIM_TEST_SCRIPTS") or os.path.join(ROOT, "scripts")
SSLSHIM = os.path.join(SCRIPTS, "sslshim")
MAX_RSS_MB = 200
SERVER_IP = "10.9.0.1"
T0 = 1796040000.0             # 2026-11-30T12:00:00Z

TEMPLATES = None
TMP = None


def setUpModule():
    global TEMPLATES, TMP
    if not os.path.exists(SHIM):
        return
    TMP = tempfile.mkdtemp(prefix="sslshim-fleet-")
    TEMPLATES = report_speed.Templates(report_speed.real_logs(TMP))


def tearDownModule():
    if TMP:
        shutil.rmtree(TMP, ignore_errors=True)


class Process:
    def __init__(self, host, pid, ip):
        self.host, self.pid, self.ip = host, pid, ip
        self.seq = 0
        self.conn = 0


class Store:
    """A central store written line by line from the real templates: what
    it holds is known exactly (lines, unique events per host, the ts of each
    connection's first and last line)."""

    def __init__(self):
        self.lines = []            # (host, pid, text)
        self.us = 0
        self.port = 41000
        self.cr = 0

    def ts(self):
        self.us += 50
        secs, us = divmod(self.us, 1000000)
        return '"%s.%06dZ"' % (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(T0 + secs)), us)

    def emit(self, proc, line, values):
        proc.seq += 1
        values.update(ts=self.ts(), seq=proc.seq, host='"%s"' % proc.host, pid=proc.pid,
                      tid=proc.pid)
        self.lines.append((proc.host, proc.pid, line.format % values))
        return values["ts"].strip('"')

    def start(self, host, pid, ip, role):
        proc = Process(host, pid, ip)
        self.emit(proc, TEMPLATES.process[role], {})
        return proc

    def connection(self, client, server, pair):
        """Both ends of one connection, their lines in the order written;
        (ts of the client's first line, ts of its last line)."""
        client.conn += 1
        server.conn += 1
        self.port += 1
        self.cr += 1
        common = {"cr": '"%064x"' % self.cr, "caddr": '"%s:%d"' % (client.ip, self.port),
                  "saddr": '"%s:4433"' % server.ip, "first_ts": '"%s"' % self.ts().strip('"')}
        times = []
        for side, line in pair:
            proc = client if side == 0 else server
            ts = self.emit(proc, line, dict(common, conn=proc.conn))
            if side == 0:
                times.append(ts)
        return times[0], times[-1]

    def again(self, index, count):
        """Lines index..index+count written again at the end (a forwarder
        delivering them twice)."""
        self.lines.extend(self.lines[index:index + count])
        return count

    def write(self, path):
        with open(path, "w") as f:
            for _, _, text in self.lines:
                f.write(text)


def sslshim(*args):
    """(exit status, stdout, stderr, peak resident MB) of the command."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen([sys.executable, SSLSHIM, *args], stdin=subprocess.DEVNULL,
                             stdout=out, stderr=err, env=plain_env())
        deadline = time.monotonic() + TIMEOUT * 6
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                p.kill()
            time.sleep(0.02)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (p.returncode, out.read().decode("utf-8", "replace"),
                err.read().decode("utf-8", "replace"), usage.ru_maxrss / 1024.0)


class FleetReport(unittest.TestCase):

    def setUp(self):
        self.assertIsNotNone(TEMPLATES, "build the shim first: make && make fixtures")
        self.tmp = tempfile.mkdtemp(prefix="sslshim-fleet-test-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def fleet_store(self):
        """A server on srv; clients on ca and cb that do not trust it (3 and
        2 connections), one on cc that does (2 connections), then a new
        process on cc with the same pid (1 connection); some lines twice."""
        st = Store()
        srv = st.start("srv", 100, SERVER_IP, "server")
        ca = st.start("ca", 200, "10.9.1.1", "looping")
        cb = st.start("cb", 300, "10.9.1.2", "looping")
        cc = st.start("cc", 400, "10.9.1.3", "good")
        bad = TEMPLATES.failing[0]
        good = TEMPLATES.good[0]
        failing = [st.connection(ca, srv, bad), st.connection(cb, srv, bad),
                   st.connection(ca, srv, bad)]
        st.connection(cc, srv, good)
        failing.append(st.connection(cb, srv, bad))
        st.connection(cc, srv, good)
        failing.append(st.connection(ca, srv, bad))
        first_cc_lines = [i for i, (host, _, _) in enumerate(st.lines) if host == "cc"]
        cc2 = st.start("cc", 400, "10.9.1.3", "good")      # the pid used again
        st.connection(cc2, srv, good)
        unique = list(st.lines)
        dup = st.again(0, 7)                               # the first lines, process lines too
        dup += st.again(first_cc_lines[2], 5)              # the old cc's, after the new one began
        dup += st.again(len(unique) - 4, 4)                # the last ones
        path = os.path.join(self.tmp, "fleet.jsonl")
        st.write(path)
        return path, unique, dup, failing

    def report_json(self, *args):
        status, out, err, _ = sslshim("report", "--json", *args)
        self.assertEqual(status, 1, err[-3000:])
        self.assertNotIn("Traceback", err)
        return json.loads(out)

    # -- each event once ---------------------------------------------------------------------

    def test_duplicates_counted_once(self):
        path, unique, dup, _ = self.fleet_store()
        doc = self.report_json(path)
        self.assertEqual(doc["lines"], len(unique) + dup)
        self.assertEqual(doc["duplicates"], dup)
        self.assertEqual(doc["events"], len(unique))
        self.assertEqual(sum(doc["event_counts"].values()), len(unique))
        self.assertEqual(doc["summary"]["connections"], 2 * 8)
        self.assertEqual(doc["problem_count"], 0, doc["problems"][:3])

    def test_pid_used_again_is_a_new_process(self):
        path, unique, dup, _ = self.fleet_store()
        doc = self.report_json(path)
        cc = [p for p in doc["processes"] if p["host"] == "cc"]
        self.assertEqual(len(cc), 2, cc)
        self.assertEqual({p["pid"] for p in cc}, {400})
        # the events of each instance: the lines before and after the second process line
        starts = [i for i, (host, _, text) in enumerate(unique)
                  if host == "cc" and '"ev":"process"' in text]
        first = sum(1 for i, (host, _, _) in enumerate(unique) if host == "cc" and i < starts[1])
        second = sum(1 for i, (host, _, _) in enumerate(unique) if host == "cc" and i >= starts[1])
        self.assertEqual(sorted(p["events"] for p in cc), sorted([first, second]), cc)
        self.assertTrue(all(p["exe"].endswith("tls_client") for p in cc))
        # a line of the old instance delivered again after the new began is a copy, not an event
        self.assertEqual(doc["events"], len(unique))

    # -- the fleet view ----------------------------------------------------------------------

    def test_failing_clients_of_two_hosts_are_one_entry(self):
        path, unique, dup, failing = self.fleet_store()
        doc = self.report_json(path)
        clients = [f for f in doc["fleet"] if f["role"] == "client"]
        self.assertEqual(len(clients), 1, json.dumps(doc["fleet"], indent=1))
        f = clients[0]
        self.assertEqual(f["hosts"], ["ca", "cb"])
        self.assertEqual(f["host_count"], 2)
        self.assertEqual(f["connections"], 5)
        self.assertEqual(f["processes"], 2)
        self.assertEqual(f["peer"], "%s:4433" % SERVER_IP)
        self.assertIsNone(f["sni"])
        self.assertEqual(f["first_ts"], min(first for first, _ in failing))
        self.assertEqual(f["last_ts"], max(last for _, last in failing))
        self.assertIn("unknown_ca", f["what"])
        self.assertTrue(f["cause"])
        ids = {x["id"] for x in doc["failures"]}
        self.assertTrue(set(f["failures"]) <= ids)
        self.assertEqual(sum(x["count"] for x in doc["failures"] if x["id"] in f["failures"]), 5)

    def test_server_failures_group_under_its_listening_address(self):
        path, unique, _, failing = self.fleet_store()
        doc = self.report_json(path)
        servers = [f for f in doc["fleet"] if f["role"] == "server"]
        self.assertEqual(len(servers), 1, json.dumps(doc["fleet"], indent=1))
        f = servers[0]
        self.assertEqual(f["peer"], "%s:4433" % SERVER_IP)
        self.assertEqual(f["hosts"], ["srv"])
        self.assertEqual(f["connections"], 5)
        # the server's own failure groups are one per client address; one fleet entry
        self.assertEqual(len(f["failures"]), 2, doc["failures"])
        endpoints = {x["endpoint"] for x in doc["failures"] if x["id"] in f["failures"]}
        self.assertEqual(endpoints, {"%s:4433 <- 10.9.1.1" % SERVER_IP,
                                     "%s:4433 <- 10.9.1.2" % SERVER_IP})
        # as many connections as the clients' entry: the earliest first.  Which end
        # wrote the first line of a connection is the real run's race, so the
        # expected order comes from the store, not from a guess.
        server_first = min(json.loads(text)["ts"] for host, _, text in unique
                           if host == "srv" and '"ev":"process"' not in text)
        self.assertEqual(f["first_ts"], server_first)
        client_first = min(first for first, _ in failing)
        self.assertEqual([x["connections"] for x in doc["fleet"]], [5, 5])
        expected = ["server", "client"] if server_first < client_first else ["client", "server"]
        self.assertEqual([x["role"] for x in doc["fleet"]], expected)

    def test_host_filter(self):
        path, unique, dup, _ = self.fleet_store()
        doc = self.report_json("--host", "ca", "--host", "srv", path)
        self.assertEqual(doc["hosts"], ["ca", "srv"])
        self.assertEqual(doc["host_filter"], ["ca", "srv"])
        self.assertEqual(doc["events"], sum(1 for host, _, _ in unique if host in ("ca", "srv")))
        self.assertEqual(doc["lines"], len(unique) + dup)
        clients = [f for f in doc["fleet"] if f["role"] == "client"]
        self.assertEqual([(f["hosts"], f["connections"]) for f in clients], [(["ca"], 3)])
        status, out, err, _ = sslshim("report", "--host", "nosuch", path)
        self.assertEqual(status, 2, err)
        self.assertIn("no events of host nosuch", out)
        self.assertNotIn("Traceback", err)

    def test_text_shows_the_fleet_before_the_detail(self):
        path, unique, dup, _ = self.fleet_store()
        status, out, err, _ = sslshim("report", path)
        self.assertEqual(status, 1, err[-3000:])
        self.assertIn("%d duplicate lines skipped (forwarding delivered them twice)" % dup, out)
        fleet = out.index("Fleet: failures across hosts (2)")
        self.assertLess(fleet, out.index("Failures ("))
        self.assertLess(fleet, out.index("Timeline of"))
        when = r"2026-11-30 12:00:00 \.\. 12:00:00"
        self.assertRegex(out[fleet:], r"5 connections on 2 hosts \(ca, cb\), %s: client -> "
                                      r"%s:4433:" % (when, SERVER_IP.replace(".", r"\.")))
        self.assertRegex(out[fleet:], r"5 connections on 1 host \(srv\), %s: server "
                                      r"%s:4433:" % (when, SERVER_IP.replace(".", r"\.")))
        # one host: no fleet view
        path1 = os.path.join(self.tmp, "one-host.jsonl")
        with open(path1, "w") as f:
            f.writelines(text for host, _, text in unique if host == "ca")
        status, out, err, _ = sslshim("report", path1)
        self.assertEqual(status, 1, err[-3000:])
        self.assertNotIn("Fleet:", out)

    # -- a big store in bounded memory ---------------------------------------------------------

    def test_a_million_lines_in_bounded_memory(self):
        path = os.path.join(self.tmp, "big.jsonl")
        expected = report_speed.write_store(path, TEMPLATES, 1000000)
        status, out, err, mb = sslshim("report", "--json", path)
        self.assertEqual(status, 1, err[-3000:])
        doc = json.loads(out)
        self.assertEqual(report_speed.check_counts(doc, expected), [])
        self.assertGreater(expected["duplicates"], 5000)
        self.assertLessEqual(mb, MAX_RSS_MB, "peak resident memory %.0f MB" % mb)
        sys.stdout.write("    (1M lines: peak %.0f MB)\n" % mb)


if __name__ == "__main__":
    unittest.main()
