#!/usr/bin/env python3
"""run_bench.py — what the shim costs, against the same program without it.

`make bench` builds build/libsslshim.so and build/bench/bench_driver, then
runs this.  Python 3 standard library only.  Phases:

  callgrind  exact instruction counts: added per SSL_read/SSL_write call and per
             full handshake, and where they go (a per-function diff against
             the baseline, and callgrind_annotate restricted to the shim);
  memory     RSS and heap added per open connection with 10,000 connections
             open at once, and that nothing stays behind over 100,000;
  log        bytes written per successful connection at each level and mode;
  writes     the shim's write system calls to its log per connection (strace);
  ltrace     the tool people reach for today, over a reduced run;
  syscalls   what one system call of each kind the shim makes costs here
             (tests/bench/syscall_cost.c), and so what the shim's system calls
             take of a handshake pair's time by themselves;
  timing     wall time, baseline and shim runs interleaved (A B A C A D A …,
             the order rotated every round), each configuration's time divided
             by the mean of the two baseline runs around it; the median and
             min–max of that ratio over the rounds.

The fixed phases run first so that the timing rounds can use what is left of
the time budget (at least 3 rounds).  Everything ends with one table and the
same table as JSON in build/bench/results.json.

Exit status: 0 when every run worked (missed targets are reported, not
fatal); 1 when a run failed; with --quick (what CI runs), also 1 when a figure
is far past its target (3x the allowed overhead), since CI machines are noisy.
"""
import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

KIB = 1024
MIB = 1024 * 1024

# name -> (label, driver arguments); `full` and `quick` sizes.
WORKLOADS = {
    "full": {
        "bulk16k": ("bulk 256 MiB, 16 KiB records", ["bulk", "--record", "16384", "--total", "256M"]),
        "bulk1k": ("bulk 256 MiB, 1 KiB records", ["bulk", "--record", "1024", "--total", "256M"]),
        "small": ("small 64-byte round trips", ["small", "--count", "100000"]),
        "hs13": ("full handshakes, TLS 1.3", ["handshake", "--tls", "1.3", "--count", "600"]),
        "hs12": ("full handshakes, TLS 1.2", ["handshake", "--tls", "1.2", "--count", "600"]),
        "res13": ("resumed handshakes, TLS 1.3", ["handshake", "--tls", "1.3", "--resume", "--count", "1000"]),
        "res12": ("resumed handshakes, TLS 1.2", ["handshake", "--tls", "1.2", "--resume", "--count", "3000"]),
    },
    "quick": {
        "bulk16k": ("bulk 64 MiB, 16 KiB records", ["bulk", "--record", "16384", "--total", "64M"]),
        "bulk1k": ("bulk 16 MiB, 1 KiB records", ["bulk", "--record", "1024", "--total", "16M"]),
        "small": ("small 64-byte round trips", ["small", "--count", "20000"]),
        "hs13": ("full handshakes, TLS 1.3", ["handshake", "--tls", "1.3", "--count", "100"]),
        "hs12": ("full handshakes, TLS 1.2", ["handshake", "--tls", "1.2", "--count", "100"]),
        "res13": ("resumed handshakes, TLS 1.3", ["handshake", "--tls", "1.3", "--resume", "--count", "150"]),
        "res12": ("resumed handshakes, TLS 1.2", ["handshake", "--tls", "1.2", "--resume", "--count", "500"]),
    },
}

# The shim configurations (environment beyond LD_PRELOAD and SSLSHIM_LOG).
CONFIGS = [
    ("defaults", {}),
    ("STACKS=handshake", {"SSLSHIM_STACKS": "handshake"}),
    ("LEVEL=io", {"SSLSHIM_LEVEL": "io"}),
    ("MODE=flight", {"SSLSHIM_MODE": "flight"}),
]
CONFIG_ENV = dict(CONFIGS)

# Analysis, not a setting a user has: the defaults with the shim's write(2)
# calls swallowed by tests/bench/no_write.so, preloaded in front of it.  Its
# distance from the defaults is what rule 6 (one write(2) per line) costs.
NO_WRITE = "defaults, write(2) elided"
ANALYSIS_WORKLOADS = ("hs13", "hs12")

# The targets (issue 7's, tightened by issue 13): the largest median ratio allowed.
TARGETS = {
    ("bulk16k", "defaults"): 1.01, ("bulk16k", "STACKS=handshake"): 1.01, ("bulk16k", "LEVEL=io"): 1.10,
    ("small", "defaults"): 1.03, ("small", "STACKS=handshake"): 1.03, ("small", "LEVEL=io"): 1.30,
    ("hs13", "defaults"): 1.05, ("hs13", "STACKS=handshake"): 1.10, ("hs13", "LEVEL=io"): 1.10,
    ("hs12", "defaults"): 1.05, ("hs12", "STACKS=handshake"): 1.10, ("hs12", "LEVEL=io"): 1.10,
    ("hs13", "MODE=flight"): 1.03, ("hs12", "MODE=flight"): 1.03,
    ("res13", "defaults"): 1.08, ("res12", "defaults"): 1.08,
}
INSTR_PER_CALL_MAX = 60          # instructions added per SSL_read/SSL_write call, defaults
# % instructions added per full handshake, defaults: issue 14 allows what the
# hello and certs lines cost on top of what was added before them (+1.81 % and
# +2.15 % at 16d74d8, callgrind, 2026-12-06) by at most one percentage point.
INSTR_HANDSHAKE_PCT_MAX = {"hs13": 2.8, "hs12": 3.1}
MEM_PER_CONN_MAX = 2 * KIB       # bytes added per open connection, defaults
GROWTH_MAX = 64 * KIB            # heap growth over the second half of the churn batches
WRITES_PER_PAIR_MAX = 8          # write system calls to the log per client+server connection, defaults
L1I_ADDED_PCT_MAX = 10.0         # % L1 instruction-cache misses added per full TLS 1.3 handshake
                                 # pair, defaults (half the +20 % measured before; full run only)
QUICK_FACTOR = 3                 # --quick fails past 3x the allowed overhead…
CONFIRM_ROUNDS = 4               # --quick: more rounds for a timing ratio first found far off
QUICK_NOISE = 0.10               # …and, for timing ratios, past target + 0.10 (short runs on
                                 # a noisy CI machine wander by several per cent)

# Targets a full run misses, with what it measured (README, "Cost", says
# why: since issue 13 the lines of a call go out in one write(2), but each
# write still comes with an fstat(2) checking that the log's descriptor is
# the shim's (issue 12), and some 9 calls per handshake pair write; LEVEL=io
# writes a line per call).  Measured 2026-12-06 with a full `make bench` on
# the machine of that day (AMD EPYC, 2 cores), shim at beb754e (before
# issue 13, at b3cef56: defaults 1.30/1.33, flight 1.10/1.12, 52 writes per
# full TLS 1.3 handshake pair).  --quick judges these rows by 3x the
# measured overhead instead of the target's, so that it still catches a
# regression without failing always; the callgrind rows guard the
# instruction counts.
MEASURED_MISSES = {
    ("bulk16k", "LEVEL=io"): 1.61,
    ("small", "LEVEL=io"): 2.30,
    ("hs13", "defaults"): 1.23, ("hs12", "defaults"): 1.21,
    ("hs13", "STACKS=handshake"): 1.25, ("hs12", "STACKS=handshake"): 1.25,
    ("hs13", "LEVEL=io"): 1.25, ("hs12", "LEVEL=io"): 1.33,
    ("hs13", "MODE=flight"): 1.10, ("hs12", "MODE=flight"): 1.14,
    ("res13", "defaults"): 1.24, ("res12", "defaults"): 1.43,
    # Not ratios: the shim's write system calls to its log per client+server
    # connection (the `writes` phase).  Exact counts, the same on every
    # machine with the same OpenSSL (OpenSSL 3.0.22; 52, 54, 41 and 34 with
    # one write per line, before issue 13); --quick fails past 3x these.
    ("writes-hs13", "defaults"): 9, ("writes-hs12", "defaults"): 9,
    ("writes-res13", "defaults"): 9,
}

# The `writes` phase: the system calls that can put a line into the log.  Each
# run is traced with `strace -f -y`, which names every descriptor's file, and
# only the calls on a file in that run's SSLSHIM_LOG directory are counted
# (not OpenSSL's writes to its sockets, nor anything on stderr).
WRITE_SYSCALLS = ("write", "writev", "pwrite64", "pwritev", "pwritev2", "sendto", "sendmsg")
WRITES_WORKLOADS = {
    "hs13": ("full TLS 1.3", ["--tls", "1.3"]),
    "hs12": ("full TLS 1.2", ["--tls", "1.2"]),
    "res13": ("resumed TLS 1.3", ["--tls", "1.3", "--resume"]),
    "res12": ("resumed TLS 1.2", ["--tls", "1.2", "--resume"]),
}
WRITES_CONFIGS = ("defaults", "MODE=flight", "LEVEL=io")
# ...and every system call the shim adds per full TLS 1.3 handshake pair
# (strace -c against the baseline): an information row, where the time goes.
SYSCALL_CONFIGS = ("defaults", "MODE=flight")
# The `syscalls` phase: strace -c's names -> the probe of syscall_cost.c
# that costs the same (getsockname as getpeername; the rest as getpid).
PROBE_OF = {"write": "write", "writev": "write", "newfstatat": "fstat", "fstat": "fstat",
            "fcntl": "fcntl", "getpeername": "getpeername", "getsockname": "getpeername"}
BURST_BYTES_DEFAULT = 1700       # a burst's size with the defaults, when the log phase did not run
TRACE_CALL = re.compile(r"^(?:\d+\s+)?(\w+)\((\d+)<([^>]*)>")


def syscall_counts(path):
    """{system call: calls} from strace -c's table."""
    counts = {}
    with open(path, errors="replace") as f:
        for line in f:
            parts = line.split()
            # % time, seconds, usecs/call, calls, [errors,] syscall
            if len(parts) >= 5 and parts[3].isdigit() and parts[-1].isidentifier() \
                    and parts[-1] != "total":
                counts[parts[-1]] = int(parts[3])
    return counts


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Runner:
    def __init__(self, args):
        self.args = args
        self.size = "quick" if args.quick else "full"
        self.workloads = WORKLOADS[self.size]
        self.tmp = tempfile.mkdtemp(prefix="sslshim-bench-")
        self.run_no = 0
        self.lock = threading.Lock()
        self.failures = []       # runs that did not work
        self.notes = []
        self.stderr_lines = {}   # configuration -> set of distinct stderr lines
        self.t_start = time.monotonic()
        self.results = {}

    # ---- running the driver ----

    def env_for(self, config, logdir):
        """The environment of one run: ours, minus any preload or SSLSHIM_*."""
        env = {k: v for k, v in os.environ.items()
               if k != "LD_PRELOAD" and not k.startswith("SSLSHIM_")}
        env["LC_ALL"] = "C"
        if config in (None, "base", "ltrace"):
            return env
        env["LD_PRELOAD"] = self.args.shim
        if config == NO_WRITE:
            env["LD_PRELOAD"] = self.args.no_write + ":" + self.args.shim
        env["SSLSHIM_LOG"] = logdir + "/"
        env.update(CONFIG_ENV.get(config, {}))
        return env

    def run(self, config, argv, prefix=(), extra_env=None, timeout=None, keep_log=False):
        """Run the driver once; returns (its JSON result or None, log bytes, logdir)."""
        with self.lock:
            self.run_no += 1
            logdir = os.path.join(self.tmp, "run%d" % self.run_no)
        os.mkdir(logdir, 0o700)
        env = self.env_for(config, logdir)
        if extra_env:
            env.update(extra_env)
        cmd = list(prefix) + [self.args.driver] + list(argv)
        timeout = timeout or (60 if self.args.quick else 180)
        try:
            p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=timeout, cwd=self.tmp)
            out, err, rc = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"), p.returncode
        except subprocess.TimeoutExpired:
            out, err, rc = "", "timed out after %ds" % timeout, -1
        result = None
        for line in out.splitlines():
            if line.startswith("{"):
                try:
                    result = json.loads(line)
                except ValueError:
                    pass
        if rc != 0 or result is None:
            self.failures.append("%s %s: exit %s: %s" % (config, " ".join(argv), rc, err.strip()[-400:]))
            result = None
        if config not in ("base", "ltrace", None) and not prefix:
            lines = self.stderr_lines.setdefault(config, set())
            for line in err.splitlines():
                if line.strip() and len(lines) < 5:
                    lines.add(line.strip()[:200])
        size = dir_bytes(logdir)
        if result is not None and config in CONFIG_ENV and config != NO_WRITE and size == 0:
            # A preload that did not take would make every ratio look perfect.
            self.failures.append("%s %s: the shim wrote no log (was it preloaded?)"
                                 % (config, " ".join(argv)))
        if not keep_log:
            shutil.rmtree(logdir, ignore_errors=True)
        return result, size, logdir

    def elapsed(self):
        return time.monotonic() - self.t_start

    # ---- callgrind ----

    def callgrind(self):
        if not shutil.which("valgrind"):
            self.notes.append("callgrind skipped: valgrind is not installed")
            return
        out_dir = os.path.join(self.args.out_dir, "callgrind")
        shutil.rmtree(out_dir, ignore_errors=True)
        os.makedirs(out_dir)
        small_n = "2000" if self.args.quick else "5000"
        hs_n = "20" if self.args.quick else "100"
        configs = ["base", "defaults"] + ([] if self.args.quick else
                                          ["STACKS=handshake", "LEVEL=io", "MODE=flight"])
        work = {
            "small": ["small", "--count", small_n],
            "hs13": ["handshake", "--tls", "1.3", "--count", hs_n],
            "hs12": ["handshake", "--tls", "1.2", "--count", hs_n],
        }
        jobs = [(w, c) for w in work for c in configs]
        log("callgrind: %d runs, two at a time" % len(jobs))

        def one(job):
            w, c = job
            f = os.path.join(out_dir, "%s.%s.out" % (w, slug(c)))
            prefix = ["valgrind", "--tool=callgrind", "--toggle-collect=bench_measured",
                      "--callgrind-out-file=" + f]
            # Production cost: not the shim's Valgrind mode (mirroring events
            # into Valgrind's log, checking SSL_write buffers).
            res, size, _ = self.run(c, work[w], prefix=prefix,
                                    extra_env={"SSLSHIM_VALGRIND": "off"}, timeout=300)
            return job, res, f, callgrind_total(f)

        with ThreadPoolExecutor(max_workers=2) as pool:
            done = list(pool.map(one, jobs))
        cg = {}
        for (w, c), res, f, total in done:
            cg[(w, c)] = {"result": res, "file": f, "instructions": total}
        summary = {}
        for w in work:
            base = cg[(w, "base")]
            if not base["instructions"] or not base["result"]:
                continue
            for c in configs[1:]:
                cur = cg[(w, c)]
                if not cur["instructions"] or not cur["result"]:
                    continue
                added = cur["instructions"] - base["instructions"]
                entry = {"base_instructions": base["instructions"],
                         "instructions": cur["instructions"],
                         "ratio": cur["instructions"] / base["instructions"],
                         "added": added}
                if w == "small":
                    calls = base["result"]["calls"]
                    entry["calls"] = calls
                    entry["added_per_call"] = added / calls
                    entry["base_per_call"] = base["instructions"] / calls
                else:
                    n = base["result"]["handshakes"]
                    entry["handshakes"] = n
                    entry["added_per_handshake"] = added / n
                    entry["base_per_handshake"] = base["instructions"] / n
                    entry["added_pct"] = 100.0 * added / base["instructions"]
                per = entry.get("calls") or entry.get("handshakes")
                entry["top_added"] = profile_diff(base["file"], cur["file"], per)
                entry["shim_self"], entry["shim_inclusive"] = shim_profile(
                    cur["file"], os.path.basename(self.args.shim), per)
                summary["%s/%s" % (w, c)] = entry
                with open(os.path.join(out_dir, "%s.%s.shim.txt" % (w, slug(c))), "w") as fh:
                    fh.write(format_profile(w, c, entry))
        self.results["callgrind"] = summary

    # ---- simulated caches ----

    def cache(self):
        """L1 misses per full TLS 1.3 handshake pair, from callgrind's cache
        simulation over the measured part: where the handshakes' time goes
        beyond their instructions (perf's hardware counters are often not
        available in virtual machines; the simulation always is).  The
        instruction cache's misses (I1mr) and the data cache's (D1mr + D1mw)
        are kept apart; the target (L1I_ADDED_PCT_MAX) is on the former."""
        if self.args.quick:
            self.notes.append("cache simulation skipped in quick mode")
            return
        if not shutil.which("valgrind"):
            self.notes.append("cache simulation skipped: valgrind is not installed")
            return
        out_dir = os.path.join(self.args.out_dir, "callgrind")
        os.makedirs(out_dir, exist_ok=True)
        argv = ["handshake", "--tls", "1.3", "--count", "100"]
        runs = [("base", "base", None), ("defaults", "defaults", None),
                ("LEVEL=errors", "defaults", {"SSLSHIM_LEVEL": "errors"}),
                ("MODE=flight", "MODE=flight", None)]
        log("cache simulation: %d runs, two at a time" % len(runs))

        def one(r):
            name, config, env = r
            f = os.path.join(out_dir, "cache.hs13.%s.out" % slug(name))
            # The L1 geometry is fixed (32 KiB, 8-way, 64-byte lines, what
            # most x86 cores have) rather than read from the host, so that the
            # target's figure does not depend on the CPU the run lands on.
            prefix = ["valgrind", "--tool=callgrind", "--cache-sim=yes",
                      "--I1=32768,8,64", "--D1=32768,8,64",
                      "--toggle-collect=bench_measured", "--callgrind-out-file=" + f]
            extra = {"SSLSHIM_VALGRIND": "off"}
            extra.update(env or {})
            res, _, _ = self.run(config, argv, prefix=prefix, extra_env=extra, timeout=400)
            return name, res, callgrind_events(f)

        with ThreadPoolExecutor(max_workers=2) as pool:
            done = {name: (res, ev) for name, res, ev in pool.map(one, runs)}
        base_res, base = done["base"]
        out = {}
        if base_res and base:
            n = base_res["handshakes"]
            for name, (res, ev) in done.items():
                if name == "base" or not ev:
                    continue
                for e in (ev, base):
                    e["D1m"] = e.get("D1mr", 0) + e.get("D1mw", 0)
                out[name] = {k: (ev.get(k, 0) - base.get(k, 0)) / n for k in ("Ir", "I1mr", "D1m")}
                out[name]["pct"] = {k: 100.0 * (ev.get(k, 0) - base.get(k, 0)) / base[k]
                                    for k in ("Ir", "I1mr", "D1m") if base.get(k)}
        self.results["cache"] = out

    # ---- memory ----

    def memory(self):
        if self.args.quick:
            argv = ["memory", "--open", "1000", "--batches", "3"]
        else:
            argv = ["memory", "--open", "10000", "--batches", "10"]
        configs = ["base", "defaults", "MODE=flight"]
        log("memory: %s, %s in parallel" % (" ".join(argv), ", ".join(configs)))
        with ThreadPoolExecutor(max_workers=len(configs)) as pool:
            res = list(pool.map(lambda c: (c, self.run(c, argv, timeout=400)[0]), configs))
        res = dict(res)
        base = res.get("base")
        out = {"argv": argv, "raw": res}
        if base:
            def grow(r, key_open, key_before):
                return r[key_open] - r[key_before]
            for c in configs[1:]:
                r = res.get(c)
                if not r:
                    continue
                n = r["ssl_objects_open"]
                batches = r["batches"]
                # Growth over the second half of the batches: the first ones
                # still fill caches (OpenSSL's, glibc's, a flight recorder's).
                first = batches // 2
                out[c] = {
                    "rss_per_conn": (grow(r, "rss_open", "rss_before") - grow(base, "rss_open", "rss_before")) / n,
                    "heap_per_conn": (grow(r, "heap_open", "heap_before") - grow(base, "heap_open", "heap_before")) / n,
                    "base_rss_per_conn": grow(base, "rss_open", "rss_before") / n,
                    "connections": r["connections"],
                    "ssl_objects": 2 * r["connections"],
                    "heap_growth": r["heap_closed"][-1] - r["heap_closed"][first],
                    "batches_compared": batches - 1 - first,
                    "base_heap_growth": base["heap_closed"][-1] - base["heap_closed"][first],
                    "heap_left": r["heap_closed"][-1] - r["heap_before"],
                    "base_heap_left": base["heap_closed"][-1] - base["heap_before"],
                    "rss_left_trimmed": r["rss_trimmed"][-1] - r["rss_before"],
                    "base_rss_left_trimmed": base["rss_trimmed"][-1] - base["rss_before"],
                    "rss_closed": r["rss_closed"],
                    "rss_trimmed": r["rss_trimmed"],
                    "heap_closed": r["heap_closed"],
                }
        self.results["memory"] = out

    # ---- log volume ----

    def log_volume(self):
        n1, n2 = (10, 40) if self.args.quick else (50, 250)
        cases = [
            ("LEVEL=errors", {"SSLSHIM_LEVEL": "errors"}, "1.3"),
            ("defaults (LEVEL=handshake)", {}, "1.3"),
            ("defaults, TLS 1.2", {}, "1.2"),
            ("STACKS=handshake", {"SSLSHIM_STACKS": "handshake"}, "1.3"),
            ("LEVEL=io", {"SSLSHIM_LEVEL": "io"}, "1.3"),
            ("LEVEL=data", {"SSLSHIM_LEVEL": "data"}, "1.3"),
            ("MODE=flight", {"SSLSHIM_MODE": "flight"}, "1.3"),
        ]
        log("log volume: %d configurations" % len(cases))
        out = {}
        for name, env, tls in cases:
            sizes = []
            per_role = None
            for n in (n1, n2):
                argv = ["handshake", "--tls", tls, "--count", str(n), "--warmup", "0"]
                res, size, logdir = self.run("defaults", argv, extra_env=env, keep_log=True)
                sizes.append(size)
                if n == n2 and res:
                    per_role = log_roles(logdir)
                shutil.rmtree(logdir, ignore_errors=True)
            out[name] = {"bytes_per_connection": (sizes[1] - sizes[0]) / (n2 - n1),
                         "tls": tls, "sizes": sizes, "counts": [n1, n2], "roles": per_role}
        self.results["log"] = out

    # ---- write system calls ----

    def writes(self):
        """The shim's write system calls to its log per client+server
        connection: each run traced with strace, once with n1 and once with n2
        connections, (calls(n2) - calls(n1)) / (n2 - n1), so that the
        `process` line and start-up do not count.  Counts, not times: the
        runs go two at a time."""
        if not shutil.which("strace"):
            self.notes.append("write-count rows skipped: strace is not installed "
                              "(on Debian: apt-get install strace)")
            self.results["writes"] = {"skipped": "strace is not installed (apt-get install strace)"}
            return
        try:
            probe = subprocess.run(["strace", "-qq", "-o", os.devnull, "true"], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, timeout=30)
            why = probe.stderr.decode(errors="replace").strip()[-200:] if probe.returncode else None
        except (OSError, subprocess.SubprocessError) as e:
            why = str(e)
        if why is not None:
            self.notes.append("write-count rows skipped: strace cannot trace here (%s)" % why)
            self.results["writes"] = {"skipped": "strace cannot trace here (ptrace not permitted?)"}
            return
        n1, n2 = (5, 25) if self.args.quick else (20, 100)
        jobs = [(w, c, n) for w in WRITES_WORKLOADS for c in WRITES_CONFIGS for n in (n1, n2)]
        log("write system calls: %d runs under strace, two at a time" % len(jobs))

        def one(job):
            w, c, n = job
            fd, trace = tempfile.mkstemp(dir=self.tmp, prefix="strace.", suffix=".out")
            os.close(fd)
            prefix = ["strace", "-f", "-y", "-qq", "-e", "signal=none",
                      "-e", "trace=" + ",".join(WRITE_SYSCALLS), "-o", trace]
            argv = ["handshake"] + WRITES_WORKLOADS[w][1] + ["--count", str(n), "--warmup", "0"]
            res, size, logdir = self.run(c, argv, prefix=prefix, keep_log=True)
            calls = None
            if res:
                try:
                    calls = log_write_calls(trace, logdir)
                except OSError as e:
                    self.failures.append("%s %s: no strace output: %s" % (c, " ".join(argv), e))
            lines = log_lines(logdir)
            shutil.rmtree(logdir, ignore_errors=True)
            if os.path.exists(trace):
                os.unlink(trace)
            if calls is not None and size and not sum(calls.values()):
                # A trace that sees none of them would make the row look perfect.
                self.failures.append("%s %s: the log has %d lines but strace -y saw no write "
                                     "system call on it" % (c, " ".join(argv), lines))
                calls = None
            return job, res, calls, lines

        def counted(job):
            """Every system call of a run, counted by strace -c."""
            c, n = job
            fd, trace = tempfile.mkstemp(dir=self.tmp, prefix="strace-c.", suffix=".out")
            os.close(fd)
            prefix = ["strace", "-f", "-c", "-qq", "-o", trace]
            argv = ["handshake", "--tls", "1.3", "--count", str(n), "--warmup", "0"]
            res, _, _ = self.run(c, argv, prefix=prefix)
            calls = syscall_counts(trace) if res else None
            if os.path.exists(trace):
                os.unlink(trace)
            return job, calls

        all_jobs = [(c, n) for c in ("base",) + SYSCALL_CONFIGS for n in (n1, n2)]
        with ThreadPoolExecutor(max_workers=2) as pool:
            done = {job[:3]: (res, calls, lines) for job, res, calls, lines in pool.map(one, jobs)}
            counts = dict(pool.map(counted, all_jobs))
        out = {"counts": [n1, n2], "syscalls": list(WRITE_SYSCALLS)}
        base = [counts.get(("base", n)) for n in (n1, n2)]
        for c in SYSCALL_CONFIGS:
            mine = [counts.get((c, n)) for n in (n1, n2)]
            if None in base or None in mine:
                continue
            names = set().union(*base, *mine)
            added = {k: ((mine[1].get(k, 0) - mine[0].get(k, 0)) -
                         (base[1].get(k, 0) - base[0].get(k, 0))) / (n2 - n1) for k in names}
            added = {k: v for k, v in added.items() if abs(v) >= 0.05}
            out["syscalls/%s" % c] = {"per_pair": sum(added.values()), "by_call": added}
        for w in WRITES_WORKLOADS:
            for c in WRITES_CONFIGS:
                (r1, c1, l1), (r2, c2, l2) = done[(w, c, n1)], done[(w, c, n2)]
                if not (r1 and r2 and c1 is not None and c2 is not None):
                    continue
                t1, t2 = sum(c1.values()), sum(c2.values())
                out["%s/%s" % (w, c)] = {
                    "per_pair": (t2 - t1) / (n2 - n1),
                    "lines_per_pair": (l2 - l1) / (n2 - n1),
                    "by_call": {k: (c2.get(k, 0) - c1.get(k, 0)) / (n2 - n1)
                                for k in sorted(set(c1) | set(c2))},
                    "calls": [t1, t2], "lines": [l1, l2]}
        self.results["writes"] = out

    # ---- what a system call costs here ----

    def syscalls(self):
        """One system call of each kind the shim makes per handshake, timed
        in a loop (the median of batch means): with the counts per pair from
        the `writes` phase, what the shim's system calls take of a handshake
        pair by themselves.  A write appends a burst of the size the defaults
        write (the log phase's bytes per connection over the writes per pair)."""
        tool = self.args.syscall_cost
        if not tool:
            self.notes.append("system call cost row skipped: build/bench/syscall_cost is missing")
            return
        burst = BURST_BYTES_DEFAULT
        vol = self.results.get("log", {}).get("defaults (LEVEL=handshake)")
        wr = self.results.get("writes", {}).get("hs13/defaults")
        if vol and wr and wr["per_pair"] > 0:
            burst = max(1, int(vol["bytes_per_connection"] / wr["per_pair"]))
        log("system call costs: bursts of %d bytes" % burst)
        try:
            p = subprocess.run([tool, self.tmp, str(burst)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=120)
            self.results["syscalls"] = json.loads(p.stdout.decode().strip().splitlines()[-1])
        except (OSError, subprocess.SubprocessError, ValueError, IndexError) as e:
            self.failures.append("syscall_cost: %s" % e)

    def syscall_share(self):
        """{config: (the shim's system calls in µs per pair, their share of
        the baseline's pair, the µs of it rules 3 and 6 require, that share,
        the baseline's µs per pair)} for the full TLS 1.3 handshake pair;
        None without the phases it needs."""
        cost = self.results.get("syscalls")
        wr = self.results.get("writes", {})
        acc = self.results.get("timing", {}).get("pairs", {}).get("hs13", {})
        run = self.results.get("timing", {}).get("runs", {}).get("hs13")
        if not cost or not acc.get("base") or not run:
            return None
        pair_us = statistics.median(acc["base"]) / run["handshakes"] * 1e6
        out = {}
        for c in SYSCALL_CONFIGS:
            d = wr.get("syscalls/%s" % c)
            if not d:
                continue
            us = sum(n * cost.get(PROBE_OF.get(k, "getpid") + "_ns", cost["getpid_ns"])
                     for k, n in d["by_call"].items() if n > 0) / 1000
            writes = d["by_call"].get("write", 0)
            # rule 6: a write per OpenSSL call whose lines wait; rule 3: each
            # checks first that the descriptor is still the shim's
            floor = writes * (cost["write_ns"] + cost["fstat_ns"]) / 1000
            out[c] = (us, us / pair_us, floor, floor / pair_us, pair_us)
        return out

    # ---- ltrace ----

    def ltrace(self):
        if self.args.quick:
            self.notes.append("ltrace skipped in quick mode")
            return
        if not shutil.which("ltrace"):
            self.notes.append("ltrace skipped: not installed (on Debian: apt-get install ltrace)")
            self.results["ltrace"] = {"skipped": "ltrace not installed"}
            return
        cases = {"small": ["small", "--count", "2000", "--warmup", "100"],
                 "hs13": ["handshake", "--tls", "1.3", "--count", "50"]}
        out = {}
        log("ltrace: reduced runs, 3 rounds")
        trace = os.path.join(self.tmp, "ltrace.out")
        prefix = {"ltrace": ["ltrace", "-o", trace, "-e", "SSL_*"]}
        for w, argv in cases.items():
            acc = {"base": [], "ltrace": [], "defaults": []}
            for r in range(3):
                order = ["ltrace", "defaults"] if r % 2 == 0 else ["defaults", "ltrace"]
                self.interleaved(argv, order, acc, prefix)
                if os.path.exists(trace):
                    os.unlink(trace)
            out[w] = dict(acc, argv=argv)
        self.results["ltrace"] = out

    def interleaved(self, argv, order, acc, prefix=None):
        """One round: base, c1, base, c2, base…; each configuration's time is
        paired with the mean of the baseline runs on either side of it.
        acc["base"] gets the baseline times, acc[c] the (time, reference)
        pairs; returns the last baseline result (for its counts)."""
        prefix = prefix or {}
        prev = self.run("base", argv)[0]
        last = prev
        if prev:
            acc["base"].append(prev["seconds"])
        for c in order:
            cur = self.run(c, argv, prefix=prefix.get(c, ()))[0]
            nxt = self.run("base", argv)[0]
            if nxt:
                acc["base"].append(nxt["seconds"])
                last = nxt
            if cur and prev and nxt:
                acc.setdefault(c, []).append((cur["seconds"], (prev["seconds"] + nxt["seconds"]) / 2))
            prev = nxt
        return last

    # ---- timing ----

    def timing(self):
        rounds_max = self.args.rounds or 5        # quick: as many as fit in its budget
        names = [c for c, _ in CONFIGS]
        acc = {w: {"base": []} for w in self.workloads}
        runs = {}
        rounds_done = 0
        round_secs = None
        for r in range(rounds_max):
            left = self.args.budget - self.elapsed()
            if r >= 3 and round_secs and round_secs * 1.1 > left:
                self.notes.append("timing: stopped after %d rounds to stay inside the %d s budget"
                                  % (r, self.args.budget))
                break
            t0 = time.monotonic()
            order = names[r % len(names):] + names[:r % len(names)]
            log("timing: round %d of %d (%s first)" % (r + 1, rounds_max, order[0]))
            for w, (label, argv) in self.workloads.items():
                analysis = [NO_WRITE] if w in ANALYSIS_WORKLOADS and self.args.no_write else []
                last = self.interleaved(argv, order + analysis, acc[w])
                if last:
                    runs[w] = last
            rounds_done += 1
            round_secs = time.monotonic() - t0
        self.results["timing"] = {"rounds": rounds_done, "runs": runs, "pairs": acc}

    def confirm(self, gross):
        """A quick run's few rounds can put one timing ratio far off on a
        noisy machine (a neighbour's burst in one round).  Time each such
        workload and configuration for CONFIRM_ROUNDS more interleaved rounds
        and judge the median of all of them: a real regression stays far past
        its target, one bad round does not.  Counts are exact and are not
        retried.  Returns the new (rows, gross)."""
        pairs = self.results.get("timing", {}).get("pairs", {})
        again = [r["key"] for r in gross if r["kind"] == "ratio" and r.get("key")
                 and r["key"][0] in pairs]
        if not again:
            return self.rows, gross
        for w, c in again:
            log("timing: confirming %s, %s (%d more rounds)" % (w, c, CONFIRM_ROUNDS))
            self.notes.append("timing: %s, %s was far past its target; timed %d more rounds"
                              % (w, c, CONFIRM_ROUNDS))
            for _ in range(CONFIRM_ROUNDS):
                self.interleaved(self.workloads[w][1], [c], pairs[w])
        self.table()
        return self.rows, self.verdicts()

    # ---- the table ----

    def table(self):
        rows = []
        tm = self.results.get("timing", {})
        pairs = tm.get("pairs", {})
        runs = tm.get("runs", {})
        for w, (label, argv) in (self.workloads.items() if tm else ()):
            acc = pairs.get(w, {})
            run = runs.get(w)
            if not acc.get("base") or not run:
                rows.append(row(label, "no shim (baseline)", None, None, "ERROR: no baseline run", None, None))
                continue
            rows.append(row(label, "no shim (baseline)", None, None,
                            absolute(run, statistics.median(acc["base"])), None, None))
            analysis = [NO_WRITE] if acc.get(NO_WRITE) else []
            for c in [c for c, _ in CONFIGS] + analysis:
                pr = acc.get(c)
                if not pr:
                    rows.append(row(label, c, None, None, "ERROR: no run", TARGETS.get((w, c)), "ratio"))
                    continue
                rs = [cur / ref for cur, ref in pr]
                # The baseline runs paired with this configuration, then its own.
                txt = "%s -> %s" % (absolute(run, statistics.median([ref for _, ref in pr])),
                                    absolute(run, statistics.median([cur for cur, _ in pr])))
                if w == "small":
                    added = statistics.median([(cur - ref) / run["calls"] * 1e9 for cur, ref in pr])
                    txt += "; %+.0f ns per SSL_read/SSL_write call" % added
                r = row(label, c, statistics.median(rs), (min(rs), max(rs)), txt,
                        TARGETS.get((w, c)), "ratio")
                r["key"] = (w, c)
                rows.append(r)
        lt = self.results.get("ltrace")
        if lt and "skipped" in lt:
            rows.append(row("ltrace, reduced run", "ltrace", None, None,
                            "SKIPPED: ltrace is not installed (apt-get install ltrace)", None, None))
        elif lt:
            for w, d in lt.items():
                if not d.get("ltrace") or not d.get("base"):
                    continue
                rs = [cur / ref for cur, ref in d["ltrace"]]
                ss = [cur / ref for cur, ref in d.get("defaults", [])]
                label = ("small 64-byte round trips, reduced (2,000)" if w == "small"
                         else "full handshakes, TLS 1.3, reduced (50)")
                rows.append(row(label, "ltrace -e 'SSL_*'", statistics.median(rs), (min(rs), max(rs)),
                                "%.3f s vs %.3f s without%s" % (
                                    statistics.median([c for c, _ in d["ltrace"]]),
                                    statistics.median(d["base"]),
                                    "; the shim (defaults) on the same run: %.2fx" % statistics.median(ss)
                                    if ss else ""),
                                None, None))
        cg = self.results.get("callgrind", {})
        for key, e in cg.items():
            w, c = key.split("/", 1)
            if w == "small":
                rows.append(row("instructions per SSL_read/SSL_write call (callgrind)", c, e["ratio"], None,
                                "%+.0f instructions per call (baseline %.0f)" % (e["added_per_call"], e["base_per_call"]),
                                INSTR_PER_CALL_MAX if c == "defaults" else None, "instr_call",
                                value=e["added_per_call"]))
            else:
                label = "instructions per full handshake, TLS %s (callgrind)" % ("1.3" if w == "hs13" else "1.2")
                rows.append(row(label, c, e["ratio"], None,
                                "%+.2f %%: %+.0f instructions per client+server handshake (baseline %.0f)"
                                % (e["added_pct"], e["added_per_handshake"], e["base_per_handshake"]),
                                INSTR_HANDSHAKE_PCT_MAX[w] if c == "defaults" else None, "instr_pct",
                                value=e["added_pct"]))
        for name, d in self.results.get("cache", {}).items():
            pct = d["pct"]
            # The target is on the instruction cache (I1mr), the data cache's
            # misses (D1mr + D1mw) are shown for information.
            rows.append(row("L1 misses per full handshake, TLS 1.3 (callgrind cache simulation)", name,
                            None, None,
                            "%+.0f instruction-cache misses (%+.1f %%), %+.0f data-cache misses (%+.1f %%)"
                            " per client+server handshake; instructions %+.1f %%"
                            % (d["I1mr"], pct.get("I1mr", 0), d["D1m"], pct.get("D1m", 0),
                               pct.get("Ir", 0)),
                            L1I_ADDED_PCT_MAX if name == "defaults" else None, "l1i_pct",
                            value=pct.get("I1mr")))
        wr = self.results.get("writes", {})
        if "skipped" in wr:
            rows.append(row("log write system calls per handshake pair (strace)", "defaults",
                            None, None, "SKIPPED: " + wr["skipped"], None, None))
        for w, (label, _) in WRITES_WORKLOADS.items():
            for c in WRITES_CONFIGS:
                d = wr.get("%s/%s" % (w, c))
                if not d:
                    continue
                calls = ", ".join("%s %.1f" % (k, v) for k, v in d["by_call"].items() if v)
                r = row("log write system calls per handshake pair, %s (strace)" % label, c,
                        None, None,
                        "%.1f per client+server connection (%s), for %.1f log lines"
                        % (d["per_pair"], calls or "none", d["lines_per_pair"]),
                        WRITES_PER_PAIR_MAX if c == "defaults" else None, "writes", value=d["per_pair"])
                r["key"] = ("writes-" + w, c)
                rows.append(r)
        for c in SYSCALL_CONFIGS:
            d = wr.get("syscalls/%s" % c)
            if not d:
                continue
            calls = ", ".join("%s %+.1f" % (k, v) for k, v in
                              sorted(d["by_call"].items(), key=lambda kv: -abs(kv[1])))
            rows.append(row("system calls added per handshake pair, full TLS 1.3 (strace -c)", c,
                            None, None, "%+.1f per client+server connection (%s)"
                            % (d["per_pair"], calls or "none"), None, None))
        cost = self.results.get("syscalls")
        if cost:
            rows.append(row("one system call on this machine (syscall_cost)", "-", None, None,
                            "getpid %.2f, fstat %.2f, fcntl %.2f, getpeername %.2f, write of a "
                            "%d-byte burst %.2f µs" % (
                                cost["getpid_ns"] / 1000, cost["fstat_ns"] / 1000,
                                cost["fcntl_ns"] / 1000, cost["getpeername_ns"] / 1000,
                                cost["burst_bytes"], cost["write_ns"] / 1000), None, None))
        for c, (us, share, floor, floor_share, pair_us) in (self.syscall_share() or {}).items():
            rows.append(row("the shim's system calls alone, full TLS 1.3 handshake pair (analysis)", c,
                            None, None,
                            "%.0f µs = %.1f %% of the baseline's pair (%.0f µs); of it a write "
                            "and its fstat per OpenSSL call with lines (rules 3 and 6): %.0f µs "
                            "= %.1f %%" % (us, 100 * share, pair_us, floor, 100 * floor_share),
                            None, None))
        mem = self.results.get("memory", {})
        for c in ("defaults", "MODE=flight"):
            m = mem.get(c)
            if not m:
                continue
            n_open = mem["raw"][c]["open"]
            rows.append(row("memory, %s connections open at once" % fmt_int(n_open), c, None, None,
                            "%+.0f B RSS, %+.0f B heap per connection (per SSL; baseline %.1f KiB RSS)"
                            % (m["rss_per_conn"], m["heap_per_conn"], m["base_rss_per_conn"] / KIB),
                            MEM_PER_CONN_MAX if c == "defaults" else None, "mem",
                            value=m["rss_per_conn"]))
            rows.append(row("memory after %s connections, closed in batches" % fmt_int(m["connections"]), c,
                            None, None,
                            "heap growth over the last %d batches %+d B (baseline %+d B); all closed, after "
                            "malloc_trim: RSS %+.1f MiB over the start (baseline %+.1f MiB)"
                            % (m["batches_compared"], m["heap_growth"], m["base_heap_growth"],
                               m["rss_left_trimmed"] / MIB, m["base_rss_left_trimmed"] / MIB),
                            GROWTH_MAX if c == "defaults" else None, "growth",
                            value=m["heap_growth"] - m["base_heap_growth"]))
        lv = self.results.get("log", {})
        for name, d in lv.items():
            roles = d.get("roles") or {}
            extra = ""
            if roles.get("server") and roles.get("client"):
                extra = " (server end %.0f B in %.0f lines, client end %.0f B in %.0f lines)" % (
                    roles["server"]["bytes"], roles["server"]["lines"],
                    roles["client"]["bytes"], roles["client"]["lines"])
            rows.append(row("log per successful connection, TLS %s" % d["tls"], name, None, None,
                            "%.0f B for both ends%s" % (d["bytes_per_connection"], extra), None, None))
        self.rows = rows
        return rows

    def verdicts(self):
        """Fill each row's verdict; returns the rows far past their targets."""
        gross = []
        for r in self.rows:
            t, kind = r["target"], r["kind"]
            if t is None or kind is None:
                continue
            if kind == "ratio":
                v = r["ratio"]
                if v is None:
                    continue
                ok = v <= t
                limit = MEASURED_MISSES.get(r.get("key"), t)
                far = v > max(1 + QUICK_FACTOR * (limit - 1), limit + QUICK_NOISE)
                r["target_text"] = "<= %.2f" % t
            else:
                v = r["value"]
                if v is None:
                    continue
                ok = v <= t
                # Rows a full run misses by design: 3x what it measured.
                far = v > QUICK_FACTOR * MEASURED_MISSES.get(r.get("key"), t)
                r["target_text"] = {"instr_call": "<= %d instr" % t, "instr_pct": "<= %.1f %%" % t,
                                    "mem": "<= %d B" % t, "growth": "no growth",
                                    "writes": "<= %d calls" % t,
                                    "l1i_pct": "<= +%.0f %% I1 misses" % t}[kind]
            r["verdict"] = "met" if ok else "MISSED"
            if far:
                gross.append(r)
        return gross

    def machine(self):
        info = {"cpu": "unknown", "cores": os.cpu_count(), "kernel": platform.release(),
                "os": "", "python": platform.python_version()}
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        info["cpu"] = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        try:
            with open("/etc/os-release") as f:
                for line in f:
                    if line.startswith("PRETTY_NAME="):
                        info["os"] = line.split("=", 1)[1].strip().strip('"')
        except OSError:
            pass
        res, _, _ = self.run(None, ["info"])
        info["openssl"] = res["openssl"] if res else "unknown"
        with open(self.args.shim, "rb") as f:
            info["shim_sha256"] = hashlib.sha256(f.read()).hexdigest()[:16]
        try:
            head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode().strip()
            dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "shim", "include"],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode().strip()
            info["shim_source"] = head + (" + uncommitted changes in shim/" if dirty else "")
        except OSError:
            info["shim_source"] = "unknown"
        return info


# ---- helpers ----

def slug(c):
    return re.sub(r"[^A-Za-z0-9]+", "-", c).strip("-").lower()


def fmt_int(n):
    return "{:,}".format(n)


def dir_bytes(d):
    total = 0
    for dirpath, _, files in os.walk(d):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def row(workload, config, ratio, spread, absolute_text, target, kind, value=None):
    return {"workload": workload, "configuration": config, "ratio": ratio,
            "ratio_min": spread[0] if spread else None, "ratio_max": spread[1] if spread else None,
            "absolute": absolute_text, "target": target, "kind": kind, "value": value,
            "target_text": "", "verdict": ""}


def absolute(run, secs):
    if run["mode"] == "bulk":
        return "%.0f MiB/s" % (run["bytes"] / secs / MIB)
    if run["mode"] == "small":
        return "%.0f ns per call" % (secs / run["calls"] * 1e9)
    return "%.0f handshakes/s" % (run["handshakes"] / secs)


def callgrind_total(path):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("totals:") or line.startswith("summary:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def callgrind_events(path):
    """{event: total} from a callgrind output file (Ir, I1mr, D1mr…)."""
    names, totals = None, None
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("events:"):
                    names = line.split()[1:]
                elif line.startswith("totals:") or line.startswith("summary:"):
                    totals = [int(x) for x in line.split()[1:]]
    except (OSError, ValueError):
        return None
    if not names or not totals:
        return None
    return dict(zip(names, totals))


FN_LINE = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(\S.*?)\s*$")


def annotate(path, inclusive=False):
    """{function: Ir} from callgrind_annotate's function table."""
    cmd = ["callgrind_annotate", "--auto=no", "--threshold=100"]
    if inclusive:
        cmd.append("--inclusive=yes")
    p = subprocess.run(cmd + [path], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=120)
    table = {}
    for line in p.stdout.decode(errors="replace").splitlines():
        m = FN_LINE.match(line)
        if m and "PROGRAM TOTALS" not in line:
            fn = m.group(2)
            table[fn] = table.get(fn, 0) + int(m.group(1).replace(",", ""))
    return table


def profile_diff(base_file, file, per, top=15):
    """The functions whose instruction counts grew most, per call/handshake."""
    try:
        a, b = annotate(base_file), annotate(file)
    except (OSError, subprocess.SubprocessError):
        return []
    diff = sorted(((b.get(k, 0) - a.get(k, 0), k) for k in set(a) | set(b)), reverse=True)
    return [{"function": short_fn(k), "added": d / per} for d, k in diff[:top] if d > 0]


def shim_profile(file, shim_name, per, top=15):
    """callgrind_annotate restricted to the shim object: self cost, and the
    inclusive cost of its internal functions (the SSL_* wrappers' inclusive
    cost is libssl's work, so they are left out there)."""
    try:
        self_t, incl = annotate(file), annotate(file, inclusive=True)
    except (OSError, subprocess.SubprocessError):
        return [], []
    mine = lambda t: sorted(((v, k) for k, v in t.items() if shim_name in k), reverse=True)
    s = [{"function": short_fn(k), "self": v / per} for v, k in mine(self_t)[:top]]
    i = [{"function": short_fn(k), "inclusive": v / per} for v, k in mine(incl)
         if not re.search(r":SSL_\w+ \[", k)][:top]
    return s, i


def short_fn(k):
    k = re.sub(r"\[(/[^\]]*/)?([^/\]]+)\]", r"[\2]", k)
    return re.sub(r"^\S*/(shim/|tests/|stdio-common/|libio/|string/|malloc/|time/)", r"\1", k)


def format_profile(w, c, e):
    per = "call" if w == "small" else "handshake (client+server)"
    lines = ["%s, %s: %+.1f instructions per %s (ratio %.4f)" % (
        w, c, e["added"] / (e.get("calls") or e.get("handshakes")), per, e["ratio"]), "",
        "Largest additions against the baseline, per %s:" % per]
    lines += ["  %10.1f  %s" % (x["added"], x["function"]) for x in e["top_added"]]
    lines += ["", "Inside libsslshim.so, self cost per %s:" % per]
    lines += ["  %10.1f  %s" % (x["self"], x["function"]) for x in e["shim_self"]]
    lines += ["", "Inside libsslshim.so, inclusive cost per %s (wrappers left out):" % per]
    lines += ["  %10.1f  %s" % (x["inclusive"], x["function"]) for x in e["shim_inclusive"]]
    return "\n".join(lines) + "\n"


def log_write_calls(trace, logdir):
    """{system call: count} of the calls in an `strace -y` trace whose
    descriptor is a file in logdir (strace shows each descriptor's path as
    /proc/PID/fd does, so symbolic links in logdir's path are resolved)."""
    where = os.path.realpath(logdir) + "/"
    counts = {}
    with open(trace, errors="replace") as f:
        for line in f:
            m = TRACE_CALL.match(line)
            if m and m.group(1) in WRITE_SYSCALLS and m.group(3).startswith(where):
                counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    return counts


def log_lines(logdir):
    n = 0
    for dirpath, _, files in os.walk(logdir):
        for name in files:
            with open(os.path.join(dirpath, name), "rb") as f:
                n += f.read().count(b"\n")
    return n


def log_roles(logdir):
    """Bytes and lines per connection end, by role, from the JSON log."""
    conns = {}
    for dirpath, _, files in os.walk(logdir):
        for name in files:
            with open(os.path.join(dirpath, name), "rb") as f:
                for raw in f:
                    try:
                        ev = json.loads(raw)
                    except ValueError:
                        continue
                    cid = ev.get("conn")
                    if cid is None:
                        continue
                    c = conns.setdefault(cid, {"bytes": 0, "lines": 0, "role": None})
                    c["bytes"] += len(raw)
                    c["lines"] += 1
                    if ev.get("role") in ("client", "server"):
                        c["role"] = ev["role"]
    out = {}
    for role in ("client", "server"):
        mine = [c for c in conns.values() if c["role"] == role]
        if mine:
            out[role] = {"bytes": statistics.median(c["bytes"] for c in mine),
                         "lines": statistics.median(c["lines"] for c in mine),
                         "connections": len(mine)}
    return out


def print_table(rows, machine, out):
    head = ["workload", "configuration", "ratio", "min-max", "absolute", "target", ""]
    body = []
    for r in rows:
        ratio = "%.3f" % r["ratio"] if r["ratio"] is not None else "-"
        spread = ("%.3f-%.3f" % (r["ratio_min"], r["ratio_max"])
                  if r["ratio_min"] is not None else "-")
        body.append([r["workload"], r["configuration"], ratio, spread, r["absolute"],
                     r["target_text"] or "-", r["verdict"]])
    widths = [max(len(x[i]) for x in body + [head]) for i in range(len(head))]
    widths[4] = min(widths[4], 100)
    sep = "-+-".join("-" * w for w in widths)
    print(" | ".join(h.ljust(w) for h, w in zip(head, widths)), file=out)
    print(sep, file=out)
    for b in body:
        print(" | ".join(c.ljust(w) for c, w in zip(b, widths)), file=out)
    print("", file=out)
    print("machine: %s, %d cores, Linux %s, %s, %s; shim %s (sha256 %s)" % (
        machine["cpu"], machine["cores"], machine["kernel"], machine["os"], machine["openssl"],
        machine["shim_source"], machine["shim_sha256"]), file=out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a short run for CI (under a minute)")
    ap.add_argument("--driver", default=os.path.join(ROOT, "build", "bench", "bench_driver"))
    ap.add_argument("--shim", default=os.path.join(ROOT, "build", "libsslshim.so"))
    ap.add_argument("--no-write", default=os.path.join(ROOT, "build", "bench", "no_write.so"),
                    help="the analysis preload (timed with the handshakes when it exists)")
    ap.add_argument("--syscall-cost", default=os.path.join(ROOT, "build", "bench", "syscall_cost"),
                    help="the system call timer (the syscalls phase)")
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "build", "bench"))
    ap.add_argument("--rounds", type=int, default=0,
                    help="timing rounds (5; at least 3, fewer than 5 only when the budget is short)")
    ap.add_argument("--budget", type=int, default=0,
                    help="seconds the whole run may take (540, quick 55)")
    ap.add_argument("--phases", default="callgrind,cache,memory,log,writes,syscalls,ltrace,timing",
                    help="comma-separated subset of: callgrind,cache,memory,log,writes,syscalls,"
                         "ltrace,timing")
    args = ap.parse_args()
    known = ("callgrind", "cache", "memory", "log", "writes", "syscalls", "ltrace", "timing")
    unknown = [x for x in args.phases.split(",") if x not in known]
    if unknown:
        ap.error("unknown phase %s (known: %s)" % (", ".join(unknown), ",".join(known)))
    args.budget = args.budget or (55 if args.quick else 540)
    args.driver = os.path.abspath(args.driver)
    args.shim = os.path.abspath(args.shim)
    args.no_write = os.path.abspath(args.no_write) if os.access(args.no_write, os.R_OK) else None
    args.syscall_cost = os.path.abspath(args.syscall_cost) if os.access(args.syscall_cost, os.X_OK) \
        else None
    args.out_dir = os.path.abspath(args.out_dir)
    for path, what in ((args.driver, "the driver"), (args.shim, "the shim")):
        if not os.access(path, os.R_OK):
            log("run_bench: %s is missing (%s); run `make bench`" % (path, what))
            return 2
    os.makedirs(args.out_dir, exist_ok=True)
    r = Runner(args)
    phases = args.phases.split(",")
    try:
        machine = r.machine()
        log("sslshim bench (%s): %s, %d cores, %s" % (r.size, machine["cpu"], machine["cores"],
                                                     machine["openssl"]))
        for name, fn in (("callgrind", r.callgrind), ("cache", r.cache), ("memory", r.memory),
                         ("log", r.log_volume), ("writes", r.writes), ("syscalls", r.syscalls),
                         ("ltrace", r.ltrace), ("timing", r.timing)):
            if name in phases:
                t0 = time.monotonic()
                fn()
                log("  %s took %.0f s" % (name, time.monotonic() - t0))
        rows = r.table()
        gross = r.verdicts()
        if args.quick and gross:
            rows, gross = r.confirm(gross)
    finally:
        shutil.rmtree(r.tmp, ignore_errors=True)
    for c, lines in sorted(r.stderr_lines.items()):
        for line in sorted(lines):
            r.notes.append("stderr with %s: %s" % (c, line))
    print("")
    print("sslshim cost (%s run, %s timing rounds; ratio = time with / time without the shim, "
          "median and min-max over interleaved rounds)" % (r.size, r.results.get("timing", {}).get("rounds", 0)))
    print_table(rows, machine, sys.stdout)
    missed = [x for x in rows if x["verdict"] == "MISSED"]
    met = [x for x in rows if x["verdict"] == "met"]
    print("targets: %d met, %d missed" % (len(met), len(missed)))
    # Where the instructions go, for the defaults (what a missed target needs).
    cg = r.results.get("callgrind", {})
    for key in ("small/defaults", "hs13/defaults"):
        e = cg.get(key)
        if e:
            w, c = key.split("/")
            print("")
            print("callgrind, " + format_profile(w, c, e).rstrip().replace("\n", "\n  "))
    for n in r.notes:
        print("note: " + n)
    for f in r.failures:
        print("FAILED RUN: " + f)
    results = {"mode": r.size, "machine": machine, "seconds": round(r.elapsed(), 1),
               "rows": rows, "details": jsonable(r.results), "notes": r.notes, "failures": r.failures}
    out = os.path.join(args.out_dir, "results.json")
    with open(out, "w") as f:
        json.dump(results, f, indent=1)
    print("results: %s (%.0f s)" % (out, r.elapsed()))
    if r.failures:
        return 1
    if args.quick and gross:
        for x in gross:
            print("FAIL (far past target): %s, %s" % (x["workload"], x["configuration"]))
        return 1
    return 0


def jsonable(x):
    if isinstance(x, dict):
        return {("/".join(k) if isinstance(k, tuple) else k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    return x


if __name__ == "__main__":
    sys.exit(main())
