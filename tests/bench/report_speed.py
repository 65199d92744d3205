#!/usr/bin/env python3
"""How fast `sslshim report` reads logs: a log of one million events made
from real ones, then the time `report --json` takes.  Target: at least
200,000 lines per second on a 2-core machine.

Usage: report_speed.py [--lines N]   (prints one closing line; exit 1 only if
the report itself fails)."""
import argparse
import glob
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import lib  # noqa: E402


def real_events(tmp):
    """A few good and a few failing connections, both ends, as the shim logs them."""
    c = lib.certs()
    logdir = os.path.join(tmp, "real")
    env = lib.shim_env(logdir)
    server = lib.Proc([lib.fixture("tls_server"), "--port", "0", "--conns", "0",
                       "--cert", c["server.pem"], "--key", c["server.key"]], env=env)
    try:
        port = server.wait_for(r"PORT (\d+)").group(1)
        lib.run([lib.fixture("tls_client"), "--port", port, "--cafile", c["ca.pem"],
                 "--count", "4"], env=env)
        lib.run([lib.fixture("tls_client"), "--port", port, "--cafile", c["untrusted.pem"],
                 "--count", "2"], env=env)
    finally:
        server.stop()
    files = [lib.read_log(p) for p in sorted(glob.glob(os.path.join(logdir, "*.jsonl")))]
    return [evs for evs in files if evs]


def generate(path, templates, lines):
    """Repeat the template processes' connections with fresh conn numbers,
    seq, ts and client_random until the file holds `lines` lines."""
    rnd = random.Random(1)
    proc = dict(templates[0][0])
    conns = []
    for evs in templates:
        by_conn = {}
        for e in evs[1:]:
            by_conn.setdefault(e.get("conn"), []).append(e)
        conns.extend(v for k, v in by_conn.items() if k is not None)
    written, seq, conn_no, t0 = 1, 1, 0, 1795000000.0
    with open(path, "w") as f:
        proc["seq"] = 1
        f.write(json.dumps(proc, separators=(",", ":")) + "\n")
        while written < lines:
            group = conns[conn_no % len(conns)]
            conn_no += 1
            random_hex = "%064x" % rnd.getrandbits(256)
            for e in group:
                if written >= lines:
                    break
                e = dict(e)
                seq += 1
                e["seq"], e["conn"] = seq, conn_no
                t = t0 + seq * 1e-5
                e["ts"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % (t % 1 * 1e6)
                if e.get("client_random"):
                    e["client_random"] = random_hex
                f.write(json.dumps(e, separators=(",", ":")) + "\n")
                written += 1
    return written


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lines", type=int, default=1000000)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sslshim-report-speed-")
    try:
        return measure(tmp, args.lines)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)     # the generated log is 235 MB


def measure(tmp, lines):
    templates = real_events(tmp)
    if not templates:
        print("report: no events to build the log from", file=sys.stderr)
        return 1
    path = os.path.join(tmp, "big.jsonl")
    n = generate(path, templates, lines)
    t = time.time()
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "sslshim"), "report",
                        "--json", path], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       universal_newlines=True)
    secs = time.time() - t
    if r.returncode != 0:
        print("report failed: " + r.stderr[-2000:], file=sys.stderr)
        return 1
    rate = n / secs
    out = os.path.join(ROOT, "build", "bench")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "report_speed.json"), "w") as f:
        json.dump({"lines": n, "seconds": secs, "lines_per_second": rate,
                   "python": sys.version.split()[0]}, f)
    print("report: %d lines in %.1f s = %s lines/s (target 200,000: %s)"
          % (n, secs, format(int(rate), ","), "met" if rate >= 200000 else "MISSED"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
