#!/usr/bin/env python3
"""How fast `sslshim report` reads a fleet's central store, and in how much
memory (issue 15): a store of 5,000,000 lines made from real events, then
`report --json` on it, timed, with its peak resident memory.  Targets: at
most 200 MB resident, and 300,000 lines per second on the machine where
jq 1.6 read the same store at 150,000: twice jq's rate, measured on the
same store in the same run (`jq -c .`; machines and their load differ, a
ratio does not), or 300,000 lines per second where jq is missing.

The store is what a central rsyslogd writes when FLEET_HOSTS hosts forward
the shim's lines: the real lines of a loopback server and its clients (made
here with the shim and the test fixtures) replayed as servers on SERVERS
hosts and clients on the others, each connection's client and server ends
joined by their client_random and TCP addresses, the lines of IN_FLIGHT
connections at a time interleaved, client processes ending and new ones
starting (some with the pid of the one before: a new process instance), one
connection in FAIL_EVERY failing (the client does not trust the server's
certificate), two client hosts in a reconnect loop to one server, and about
DUP_SHARE of the lines delivered a second time later (a central restart: the
hosts' queues send again what was not acknowledged).  The generator knows
what it wrote, so the report's event and duplicate counts are checked too.

The report runs with the python3 that runs this script, and again with
/usr/bin/python3 when that is another one (both are printed; the closing
line is the first).

Usage: report_speed.py [--lines N] [--command PATH] [--keep FILE]
Prints one closing line; writes build/bench/report_speed.json; exit status 1
only when the report fails (an exit status other than 1, "failures found",
which the store has, or counts that are not the store's), never for speed or
memory: CI machines vary."""
import argparse
import collections
import glob
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import lib  # noqa: E402

SYSTEM_PYTHON = "/usr/bin/python3"
TARGET_RATE = 300000          # lines per second, on the machine of issue 15...
JQ_RATE_THERE = 150000        # ...where jq 1.6 read the same store at this rate:
TARGET_JQ_RATIO = TARGET_RATE / JQ_RATE_THERE   # so, on any machine, 2x jq's rate
TARGET_MB = 200               # peak resident memory
FLEET_HOSTS = 20
SERVERS = 4                   # h01..h04 run the servers, the others clients
LOOPING = ("h07", "h13")      # clients in a reconnect loop to LOOP_SERVER
LOOP_SERVER = 1               # index of h02
FAIL_EVERY = 20               # other clients: one connection in 20 fails
IN_FLIGHT = 8                 # connections whose lines interleave at a time
CONNS_PER_PROCESS = (100, 1500)   # a client process's life, in connections
SAME_PID = 3                  # one new client process in 3 gets the old pid
DUP_SHARE = 0.01
RESTART_EVERY = (30000, 70000)    # lines between two central restarts
REDELIVERY_DELAY = (2000, 60000)  # lines between a line and its second copy
T0 = 1796040000.0             # 2026-11-30T12:00:00Z


def wait_for_conn_ends(path, n, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path, "rb") as f:
                if f.read().count(b'"ev":"conn_end"') >= n:
                    return
        except FileNotFoundError:
            pass
        time.sleep(0.02)


def real_logs(tmp):
    """Real logs, one list of events per process: a server, a client whose
    connections succeed, and one in a reconnect loop (it does not trust the
    server's certificate) that logs a loop event."""
    c = lib.certs()
    logdir = os.path.join(tmp, "real")
    env = lib.shim_env(logdir)
    server = lib.Proc([lib.fixture("tls_server"), "--port", "0", "--conns", "0",
                       "--cert", c["server.pem"], "--key", c["server.key"]], env=env)
    try:
        port = server.wait_for(r"PORT (\d+)").group(1)
        lib.run([lib.fixture("tls_client"), "--port", port, "--cafile", c["ca.pem"],
                 "--count", "2"], env=env)
        lib.run([lib.fixture("tls_client"), "--port", port, "--cafile", c["untrusted.pem"],
                 "--retry", "6", "--delay-ms", "5"], env=env)
        # the server ends the last connection after the client has gone
        wait_for_conn_ends(os.path.join(logdir, "tls_server.%d.jsonl" % server.p.pid), 2 + 6)
    finally:
        server.stop()
    out = {}
    for path in sorted(glob.glob(os.path.join(logdir, "*.jsonl"))):
        evs = lib.read_log(path)
        if not evs:
            continue
        exe = os.path.basename(evs[0].get("exe") or "")
        if exe == "tls_server":
            out["server"] = evs
        elif any(e["ev"] == "loop" for e in evs):
            out["looping"] = evs
        else:
            out["good"] = evs
    return out


class Line:
    """One template line as a %-format: the fields that change per copy
    (SLOTS) become %(name)s, given as JSON text."""
    SLOTS = re.compile(r'"\\u0000(\w+)\\u0000"')

    def __init__(self, ev, addresses):
        e = dict(ev)
        for k in ("ts", "host", "pid", "tid", "seq"):
            e[k] = "\0%s\0" % k
        if "conn" in e:
            e["conn"] = "\0conn\0"
        if e.get("client_random"):
            e["client_random"] = "\0cr\0"
        if e.get("first_ts"):
            e["first_ts"] = "\0first_ts\0"
        for k in ("peer", "local"):
            if e.get(k) in addresses:
                e[k] = "\0%s\0" % addresses[e[k]]
        text = json.dumps(e, separators=(",", ":")).replace("%", "%%")
        self.format = self.SLOTS.sub(r"%(\1)s", text) + "\n"
        self.ev = ev["ev"]


def _by_conn(evs):
    out = collections.OrderedDict()
    for e in evs:
        if e.get("conn") is not None:
            out.setdefault(e["conn"], []).append(e)
    return out


class Templates:
    """What the store is made of: pairs of (client lines, server lines) of
    one connection, good or failing, and the process and module lines."""

    def __init__(self, logs):
        servers = _by_conn(logs["server"])
        by_client_addr = {}
        for evs in servers.values():
            start = next(e for e in evs if e["ev"] == "handshake_start")
            by_client_addr[start["peer"]] = evs
        self.good = self._pairs(logs["good"], by_client_addr)
        pairs = self._pairs(logs["looping"], by_client_addr)
        self.failing = [p for p in pairs if not any(line.ev == "loop" for _, line in p)]
        self.failing_loop = [p for p in pairs if any(line.ev == "loop" for _, line in p)]
        if not (self.good and self.failing and self.failing_loop):
            raise RuntimeError("the real logs lack a good, a failing or a looping connection")
        self.process = {role: Line(logs[role][0], {})
                        for role in ("server", "good", "looping")}
        self.modules = {role: [Line(e, {}) for e in logs[role] if e["ev"] == "module"]
                        for role in ("server", "looping")}

    @staticmethod
    def _pairs(client_log, by_client_addr):
        out = []
        for evs in _by_conn(client_log).values():
            start = next(e for e in evs if e["ev"] == "handshake_start")
            server = by_client_addr.get(start["local"])
            if server is None:
                continue
            addresses = {start["local"]: "caddr", start["peer"]: "saddr"}
            # both ends' lines in the order they were written
            both = sorted([(e["ts"], 0, i, e) for i, e in enumerate(evs)]
                          + [(e["ts"], 1, i, e) for i, e in enumerate(server)],
                          key=lambda t: t[:3])
            out.append([(side, Line(e, addresses)) for _, side, _, e in both])
        return out


class Host:
    def __init__(self, name, index):
        self.name = name
        self.ip = ("10.20.0.%d" if index < SERVERS else "10.20.1.%d") % (index + 1)
        self.pid = 0
        self.seq = 0
        self.conn = 0
        self.left = 0               # connections before this client process ends
        self.port = 40000
        self.looped = 0             # connections of a client in a reconnect loop
        self.failed = collections.deque(maxlen=5)   # first ts of the last failing conns
        self.recent = collections.deque(maxlen=2000)  # lines, for a redelivery


class Store:
    """Writes the store; counts what it wrote."""

    def __init__(self, f, templates, rnd):
        self.f = f
        self.t = templates
        self.rnd = rnd
        self.hosts = [Host("h%02d" % (i + 1), i) for i in range(FLEET_HOSTS)]
        self.lines = 0
        self.unique = 0
        self.duplicates = 0
        self.clock = 0              # microseconds since T0
        self.second = None
        self.pending = []           # (due line, lines) to deliver again
        self.next_restart = rnd.randint(*RESTART_EVERY)
        self.failing_conns = collections.Counter()   # (client host, server host) -> n
        self.instances = 0
        self.last_pid = 30000

    def ts(self):
        self.clock += 37
        secs, us = divmod(self.clock, 1000000)
        if self.second is None or self.second[0] != secs:
            self.second = (secs, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(T0 + secs)))
        return '"%s.%06dZ"' % (self.second[1], us)

    def emit(self, host, line, values):
        host.seq += 1
        values["ts"] = self.ts()
        values["seq"] = host.seq
        text = line.format % values
        self.f.write(text)
        host.recent.append(text)
        self.lines += 1
        self.unique += 1
        return values["ts"]

    def start_process(self, host, role):
        if host.pid and self.rnd.randrange(SAME_PID) == 0:
            pid = host.pid                 # the pid of the process before
        else:
            self.last_pid += self.rnd.randint(1, 400)
            pid = self.last_pid
        host.pid, host.seq, host.conn = pid, 0, 0
        host.left = self.rnd.randint(*CONNS_PER_PROCESS)
        self.instances += 1
        values = {"host": '"%s"' % host.name, "pid": pid, "tid": pid}
        self.emit(host, self.t.process[role], values)
        for m in self.t.modules.get(role, ()):
            self.emit(host, m, values)

    def connection(self, client):
        """The lines of one connection, both ends, as a list of (host, Line,
        values), and whether it fails."""
        looping = client.name in LOOPING
        server = self.hosts[LOOP_SERVER if looping else self.rnd.randrange(SERVERS)]
        if client.left <= 0:
            self.start_process(client, "looping" if looping else "good")
        client.left -= 1
        client.conn += 1
        server.conn += 1
        client.port = client.port + 1 if client.port < 60000 else 40000
        if looping:
            # the shim reports the loop on the fifth failing connection in a row
            client.looped += 1
            pair = self.t.failing_loop[0] if client.looped % 5 == 0 else self.t.failing[0]
        elif self.rnd.randrange(FAIL_EVERY) == 0:
            pair = self.t.failing[0]
        else:
            pair = self.t.good[client.conn % len(self.t.good)]
        failing = looping or pair is self.t.failing[0]
        if failing:
            self.failing_conns[(client.name, server.name)] += 1
        common = {"cr": '"%064x"' % self.rnd.getrandbits(256),
                  "caddr": '"%s:%d"' % (client.ip, client.port),
                  "saddr": '"%s:4433"' % server.ip}
        cv = dict(common, host='"%s"' % client.name, pid=client.pid, tid=client.pid,
                  conn=client.conn)
        sv = dict(common, host='"%s"' % server.name, pid=server.pid, tid=server.pid,
                  conn=server.conn)
        return [(client, line, cv) if side == 0 else (server, line, sv)
                for side, line in pair], looping

    def write(self, lines):
        for server in self.hosts[:SERVERS]:
            self.start_process(server, "server")
        clients = self.hosts[SERVERS:]
        flight = []                  # [lines, position, client]
        busy = set()
        while self.lines < lines:
            while len(flight) < IN_FLIGHT:
                client = self.rnd.choice(clients)
                if client.name in busy:
                    continue
                conn_lines, failing_loop = self.connection(client)
                busy.add(client.name)
                flight.append([conn_lines, 0, client, failing_loop])
            i = self.rnd.randrange(len(flight))
            item = flight[i]
            conn_lines, pos, client, failing_loop = item
            for _ in range(self.rnd.randint(1, 3)):
                if pos == len(conn_lines) or self.lines >= lines:
                    break
                host, line, values = conn_lines[pos]
                if line.ev == "loop":
                    values["first_ts"] = client.failed[0] if client.failed else values["ts"]
                ts = self.emit(host, line, values)
                if pos == 0 and failing_loop:
                    client.failed.append(ts)
                pos += 1
            item[1] = pos
            if pos == len(conn_lines):
                flight.pop(i)
                busy.discard(client.name)
            self.redeliver(lines)

    def redeliver(self, lines):
        """Now and then a central restart: a host's last lines come again later."""
        if self.lines >= self.next_restart:
            self.next_restart = self.lines + self.rnd.randint(*RESTART_EVERY)
            host = self.rnd.choice(self.hosts)
            n = int(DUP_SHARE * sum(RESTART_EVERY) / 2 * self.rnd.uniform(0.6, 1.4))
            again = list(host.recent)[-n:]
            self.pending.append((self.lines + self.rnd.randint(*REDELIVERY_DELAY), again))
        for item in [p for p in self.pending if p[0] <= self.lines]:
            self.pending.remove(item)
            for text in item[1]:
                if self.lines >= lines:
                    return
                self.f.write(text)
                self.lines += 1
                self.duplicates += 1


def write_store(path, templates, lines, seed=1):
    """Write a store of `lines` lines to path; what it holds, as a dict."""
    rnd = random.Random(seed)
    with open(path, "w") as f:
        store = Store(f, templates, rnd)
        store.write(lines)
    failing = collections.defaultdict(lambda: {"hosts": set(), "connections": 0})
    for (client, server), n in store.failing_conns.items():
        failing[server]["hosts"].add(client)
        failing[server]["connections"] += n
    return {"lines": store.lines, "events": store.unique, "duplicates": store.duplicates,
            "instances": store.instances,
            "hosts": [h.name for h in store.hosts],
            "server_ips": {h.name: h.ip for h in store.hosts[:SERVERS]},
            "failing_by_server": {k: {"hosts": sorted(v["hosts"]),
                                      "connections": v["connections"]}
                                  for k, v in failing.items()}}


def run_report(command, path, out_path, python=sys.executable):
    """(exit status, seconds, peak resident MB, stderr) of `report --json`
    on path, its output in out_path."""
    with open(out_path, "wb") as out, tempfile.TemporaryFile() as err:
        t = time.monotonic()
        p = subprocess.Popen([python, command, "report", "--json", path],
                             stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, usage = os.wait4(p.pid, 0)
        secs = time.monotonic() - t
        p.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        return (p.returncode, secs, usage.ru_maxrss / 1024.0,
                err.read().decode("utf-8", "replace"))


def jq_rate(path, lines):
    jq = shutil.which("jq")
    if not jq:
        return None
    t = time.monotonic()
    r = subprocess.run([jq, "-c", ".", path], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    secs = time.monotonic() - t
    return lines / secs if r.returncode == 0 else None


def check_counts(doc, expected):
    """What the report got wrong about the store, as a list of phrases."""
    wrong = []
    for key in ("lines", "events", "duplicates"):
        if doc.get(key) != expected[key]:
            wrong.append("%s %s, expected %s" % (key, doc.get(key), expected[key]))
    if doc.get("hosts") != expected["hosts"]:
        wrong.append("hosts %s" % doc.get("hosts"))
    return wrong


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=5000000)
    ap.add_argument("--command", default=os.path.join(ROOT, "scripts", "sslshim"),
                    help="the sslshim command to measure (to compare with another copy)")
    ap.add_argument("--keep", metavar="FILE", help="keep the generated store as FILE")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sslshim-report-speed-")
    try:
        return measure(tmp, args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)     # the 5M-line store is about 2 GB


def measure(tmp, args):
    templates = Templates(real_logs(tmp))
    path = args.keep or os.path.join(tmp, "fleet.jsonl")
    t = time.monotonic()
    expected = write_store(path, templates, args.lines)
    print("report: store of %s lines (%s duplicates, %d hosts, %d process instances, %d MB) "
          "made in %.0f s" % (format(expected["lines"], ","), format(expected["duplicates"], ","),
                              len(expected["hosts"]), expected["instances"],
                              os.path.getsize(path) >> 20, time.monotonic() - t))
    out_path = os.path.join(tmp, "report.json")
    status, secs, mb, err = run_report(args.command, path, out_path)
    # the store has failures: the report must find them and exit 1 (0: none
    # found, 2: it could not read the store)
    if status != 1:
        print("report failed (exit %d): %s" % (status, err[-2000:]), file=sys.stderr)
        return 1
    with open(out_path, encoding="utf-8") as f:
        doc = json.load(f)
    wrong = check_counts(doc, expected)
    n = expected["lines"]
    rate = n / secs
    # The system's own python3 (Debian's is built with profile-guided
    # optimization; a python3 of pyenv or a source build often is not)
    system = None
    if os.path.exists(SYSTEM_PYTHON) and \
            os.path.realpath(SYSTEM_PYTHON) != os.path.realpath(sys.executable):
        status2, secs2, mb2, err2 = run_report(args.command, path, out_path, SYSTEM_PYTHON)
        if status2 == 1:
            system = {"python": SYSTEM_PYTHON, "seconds": secs2, "lines_per_second": n / secs2,
                      "peak_mb": mb2}
            print("report: with %s: %s lines/s, peak %d MB" % (SYSTEM_PYTHON,
                                                              format(int(n / secs2), ","), mb2))
        else:
            print("report with %s failed (exit %d): %s" % (SYSTEM_PYTHON, status2,
                                                            err2[-2000:]), file=sys.stderr)
            return 1
    jq = jq_rate(path, n)
    if jq:
        print("report: jq -c . reads the same store at %s lines/s (for comparison)"
              % format(int(jq), ","))
    out = os.path.join(ROOT, "build", "bench")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "report_speed.json"), "w") as f:
        json.dump({"lines": n, "seconds": secs, "lines_per_second": rate, "peak_mb": mb,
                   "jq_lines_per_second": jq, "duplicates": expected["duplicates"],
                   "counts_wrong": wrong, "python": sys.executable,
                   "python_version": sys.version.split()[0], "system_python": system,
                   "target_lines_per_second": TARGET_RATE, "target_jq_ratio": TARGET_JQ_RATIO,
                   "target_mb": TARGET_MB}, f)
    if wrong:
        print("report counted wrong: %s" % "; ".join(wrong), file=sys.stderr)
    # Machines differ (CPU model, a neighbour's load): the speed target is
    # judged against jq on the same store in the same run when jq is there.
    if jq:
        speed = "%.2fx jq (target %.1fx: %s)" % (rate / jq, TARGET_JQ_RATIO,
                                                 "met" if rate >= TARGET_JQ_RATIO * jq
                                                 else "MISSED")
    else:
        speed = "target %s: %s" % (format(TARGET_RATE, ","),
                                   "met" if rate >= TARGET_RATE else "MISSED")
    print("report: %s lines in %.1f s = %s lines/s, %s; peak %d MB (target %d: %s) [%s]"
          % (format(n, ","), secs, format(int(rate), ","), speed, mb, TARGET_MB,
             "met" if mb <= TARGET_MB else "MISSED", sys.executable))
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
