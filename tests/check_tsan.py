#!/usr/bin/env python3
"""make check-tsan: the shim under ThreadSanitizer, in threaded programs.

The shim and the fixtures are built with clang -fsanitize=thread into
build/tsan (make tsan); the TSan shim is preloaded into the TSan-built
tls_server and tls_client (the runtime lives in the executable), which run
the multi-threaded workloads: 8 client threads x 40 connections against a
threaded server, failing handshakes in parallel, flight mode with stacks and
a key log, fork, a correctly locked shared SSL, and the deliberate misuse
modes.  Any report fails the check, except those tests/tsan/suppressions.txt
sets aside (races inside OpenSSL itself, which TSan cannot see synchronize,
and the misuse fixture's own races) -- never one with a shim frame where
it happens.  Every report about the shim is printed with its stacks.

TSan's symbolizer is started with the program's environment, LD_PRELOAD
included; build/tsan/bin/llvm-symbolizer (tests/tsan/symbolizer.c, static)
drops LD_PRELOAD first.

Usage: check_tsan.py [--only NAME,...] [--keep] [-v]
The last line is `check-tsan: PASS ...` or `check-tsan: FAIL ...`; the exit
status is 0 only on PASS.
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lib  # noqa: E402
from check_faults import finish, gdb_trim, start  # noqa: E402  (bounded runs, gdb on a hang)

TSAN = os.path.join(lib.BUILD, "tsan")
SHIM = os.path.join(TSAN, "libsslshim.so")
SYMBOLIZER = os.path.join(TSAN, "bin", "llvm-symbolizer")
RULES = os.path.join(HERE, "tsan", "suppressions.txt")
INTERPOSED = os.path.join(lib.ROOT, "shim", "interposed.def")
TIMEOUT = 90


def fixture(name):
    return os.path.join(TSAN, "tests", name)


# ---- reports ---------------------------------------------------------------

FRAME = re.compile(r"^\s+#(\d+) (\S+)(?: (\S+))? \((\S+?)\+0x([0-9a-f]+)\)")
SECTION = re.compile(r"^  (\S.*):$|^  (\S.*) at:$|^  (Read|Write|Atomic|Previous|Location|Mutex|Thread)\b.*")


class Frame:
    def __init__(self, m):
        self.n = int(m.group(1))
        self.fn = m.group(2)
        self.file = m.group(3) or ""
        self.module = os.path.basename(m.group(4))
        self.off = m.group(5)

    def __str__(self):
        return "#%d %s %s (%s)" % (self.n, self.fn, self.file, self.module)


class Report:
    def __init__(self, text, workload):
        self.text = text
        self.workload = workload
        m = re.search(r"WARNING: ThreadSanitizer: (.+?) \(pid=(\d+)\)", text)
        self.kind = m.group(1) if m else "unknown"
        self.sections = []           # [(header, [Frame])]
        for line in text.splitlines():
            fm = FRAME.match(line)
            if fm and self.sections:
                self.sections[-1][1].append(Frame(fm))
            elif line.startswith("  ") and not line.startswith("   ") and line.strip():
                self.sections.append((line.strip(), []))

    def access_stacks(self):
        """The stacks of what happened (not where memory, mutexes and
        threads were created)."""
        out = []
        for header, frames in self.sections:
            if re.match(r"(Location is|Mutex \S+ .*created at|Thread T\d+ .*created)", header):
                continue
            if frames:
                out.append((header, frames))
        return out


def is_interceptor(f, exe):
    """TSan's interceptors are linked into the executable, without a source file."""
    return f.module == exe and (not f.file or f.file == "<null>")


def where(frames, exe, inside_rx, wrappers):
    """(kind, detail) of a stack: 'shim' (a shim frame is where it happens, or
    the shim's own call reached the library), 'inside' (the library rule
    matches, reached from the program or a pass-through wrapper), or
    'program'."""
    i = 0
    while i < len(frames) and is_interceptor(frames[i], exe):
        i += 1
    if i == len(frames):
        return "program", "only interceptors"
    top = frames[i]
    if top.module == "libsslshim.so":
        return "shim", str(top)
    if inside_rx and inside_rx.search(top.module):
        j = i
        while j < len(frames) and inside_rx.search(frames[j].module):
            j += 1
        if j < len(frames) and frames[j].module == "libsslshim.so":
            base = re.sub(r"^hook(3|11)_", "", frames[j].fn.split("@")[0])
            base = re.sub(r"_general$", "", base)
            if base not in wrappers:
                return "shim", "%s, called by the shim's %s" % (top, frames[j])
        return "inside", str(top)
    return "program", str(top)


def load_rules():
    inside, misuse = [], []
    with open(RULES) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            rule, rx = line.split(None, 1)
            (inside if rule == "inside" else misuse).append(rx)
    return (re.compile("|".join(inside)) if inside else None,
            re.compile("|".join(misuse)) if misuse else None)


def wrapper_names():
    with open(INTERPOSED) as f:
        return set(re.findall(r"^X\((\w+),", f.read(), re.M))


def classify(rep, exe, rules, wrappers):
    """('shim'|'set aside'|'other', why)."""
    inside_rx, misuse_rx = rules
    places = [(h, where(fr, exe, inside_rx, wrappers)) for h, fr in rep.access_stacks()]
    shim = [(h, d) for h, (k, d) in places if k == "shim"]
    if misuse_rx and misuse_rx.search(rep.workload):
        # The program races on one SSL on purpose; the shim's state for that
        # SSL is, by design, as unlocked as OpenSSL's own (see
        # tests/tsan/suppressions.txt).  Its memory safety there is what the
        # fault and sanitizer runs check.
        return "set aside", "misuse fixture" + (" (shim: %s)" % shim[0][1] if shim else "")
    if shim:
        return "shim", "; ".join("%s: %s" % hd for hd in shim)
    if not any(fr for _, fr in rep.access_stacks()):
        return "other", "no stack"
    if all(k == "inside" for _, (k, _) in places):
        return "set aside", "inside OpenSSL: " + places[0][1][1]
    return "other", "; ".join("%s: %s" % (h, d) for h, (k, d) in places if k != "inside")


def split_reports(path):
    with open(path, errors="replace") as f:
        text = f.read()
    parts = text.split("==================")
    return [p.strip("\n") for p in parts if "WARNING: ThreadSanitizer" in p]


def entry(frames):
    """Where a stack entered the shim: its outermost shim frame (a wrapper
    the program called, a callback, or the exit path)."""
    shim = [f for f in frames if f.module == "libsslshim.so"]
    return shim[-1].fn.split("@")[0] if shim else "(no shim frame)"


def root_cause(rep):
    return " vs ".join(sorted(set(entry(fr) for _, fr in rep.access_stacks()[:2])))


def signature(rep):
    """The same finding reached twice: kind plus the top shim/program frames."""
    tops = []
    for _, frames in rep.access_stacks():
        own = [f for f in frames if f.module in ("libsslshim.so",) or f.file.startswith(lib.ROOT)]
        tops.append(own[0].fn + "@" + own[0].file if own else frames[0].fn)
    return rep.kind + " | " + " / ".join(sorted(set(tops)))


def gdb_threads(pid):
    r = subprocess.run(["gdb", "-q", "-batch", "-p", str(pid), "-ex", "set pagination off",
                        "-ex", "thread apply all bt 30"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True, timeout=60,
                       env=lib.plain_env(), stdin=subprocess.DEVNULL)
    return gdb_trim(r.stdout)


# ---- workloads -------------------------------------------------------------

def tsan_env(logdir, tsandir, **extra):
    env = lib.plain_env()
    env["LD_PRELOAD"] = SHIM
    env["SSLSHIM_LOG"] = logdir + "/"
    env["TSAN_OPTIONS"] = " ".join([
        "halt_on_error=0", "exitcode=0", "log_path=" + os.path.join(tsandir, "tsan"),
        "external_symbolizer_path=" + SYMBOLIZER, "history_size=4",
        "second_deadlock_stack=1", "report_signal_unsafe=1"])
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Server:
    def __init__(self, env, *args):
        c = lib.certs()
        self.p = lib.Proc([fixture("tls_server"), "--port", "0", "--threads", "--timeout", "0",
                           "--cert", c["server.pem"], "--key", c["server.key"]] + list(args),
                          env=env)
        self.port = int(self.p.wait_for(r"PORT (\d+)", timeout=60).group(1))

    def stop(self):
        self.p.stop()


def client(port, name, *args):
    prog = "harm_exit_race" if name.startswith("exit-race") else "tls_client"
    return [fixture(prog), "--port", str(port), "--timeout", "0"] + list(args)


def workloads(ca, untrusted, root):
    send = ["--send", "tsan payload " + "x" * 200]
    keylog = os.path.join(root, "keys.log")
    return [
        # name, client args, expected rc, stdout pattern, extra shim settings, own server conns
        ("threads", ["--cafile", ca, "--threads", "8", "--count", "40"] + send, 0, r"^OK 320$",
         {}, 320),
        ("threads-untrusted", ["--cafile", untrusted, "--threads", "4", "--count", "10"], 1,
         r"^OK 0$", {"SSLSHIM_LOOP": "3/10"}, None),
        ("threads-flight", ["--cafile", ca, "--threads", "4", "--count", "15"] + send, 0,
         r"^OK 60$", {"SSLSHIM_MODE": "flight", "SSLSHIM_LEVEL": "io", "SSLSHIM_STACKS": "all",
                      "SSLSHIM_KEYLOG": keylog}, None),
        ("threads-data", ["--cafile", ca, "--threads", "4", "--count", "15"] + send, 0,
         r"^OK 60$", {"SSLSHIM_LEVEL": "data", "SSLSHIM_STACKS": "handshake",
                      "SSLSHIM_MAX_SIZE": "64K", "SSLSHIM_MAX_FILES": "2"}, None),
        ("fork", ["--cafile", ca, "--fork"] + send, 0, r"^PARENT_OK$", {}, None),
        ("locked-threads", ["--cafile", ca, "--locked-threads", "--writes", "300"], 0,
         r"^LOCKED_OK", {}, None),
        ("misuse-share-threads", ["--cafile", ca, "--share-threads", "--writes", "300"], None,
         r"^SHARE_WRITES", {}, None),
        ("misuse-share-fork", ["--cafile", ca, "--share-fork"] + send, None, r"^CHILD_WRITE",
         {}, None),
    ] + ([
        # exit() while 8 threads create, handshake and free SSL objects: the
        # shim's exit path against its wrappers in the other threads.
        # (three exit times: which races TSan sees depends on where exit() lands)
        ("exit-race-%d" % ms, ["--cafile", ca, "--threads", "8", "--after-ms", str(ms)], 0,
         r"^EXITING$", {"SSLSHIM_LEVEL": "io"}, None) for ms in (150, 400, 800)
    ] if os.path.exists(fixture("harm_exit_race")) else [])


# ---- main --------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", type=lambda s: s.split(","), default=None)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true", help="print set-aside reports too")
    args = ap.parse_args()
    t0 = time.time()
    for need in (SHIM, SYMBOLIZER, fixture("tls_client"), fixture("tls_server")):
        if not os.path.exists(need):
            print("check-tsan: FAIL: %s is missing; run make check-tsan" % need)
            return 2
    rules = load_rules()
    wrappers = wrapper_names()
    c = lib.certs()
    root = tempfile.mkdtemp(prefix="sslshim-tsan-")
    failures = []                # (workload, problem)
    findings = {}                # signature -> (Report, why, count)
    set_aside = {}
    others = {}
    shared_dir = os.path.join(root, "shared")
    os.makedirs(shared_dir)
    shared_env = tsan_env(os.path.join(shared_dir, "logs"), shared_dir)
    shared = Server(shared_env, "--conns", "0", "--allow-reneg")
    try:
        for name, cargs, want_rc, want_out, extra, own_conns in workloads(
                c["ca.pem"], c["untrusted.pem"], root):
            if args.only and name not in args.only:
                continue
            t1 = time.time()
            d = os.path.join(root, name)
            os.makedirs(d)
            env = tsan_env(os.path.join(d, "logs"), d, **extra)
            server = Server(env, "--conns", str(own_conns)) if own_conns else None
            port = server.port if server else shared.port
            rc, out, err, hang = finish(start(client(port, name, *cargs), env, d), TIMEOUT)
            if server:
                try:
                    server.p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    failures.append((name, "its server did not exit after %d connections; "
                                     "gdb:\n%s" % (own_conns, gdb_threads(server.p.p.pid))))
                server.stop()
            probs = []
            if rc == "timeout":
                srv = server or shared
                probs.append("the client hung (no exit within %d s); gdb:\n%s\n--- its server, "
                             "pid %d:\n%s" % (TIMEOUT, hang, srv.p.p.pid, gdb_threads(srv.p.p.pid)))
            elif want_rc is not None and rc != want_rc:
                probs.append("client exit status %s, expected %s" % (rc, want_rc))
            elif isinstance(rc, int) and rc < 0:
                probs.append("client killed by signal %d" % -rc)
            if not re.search(want_out, out, re.M):
                probs.append("client output lacks %r: %s" % (want_out, out[-300:]))
            logs = [p for p in glob.glob(os.path.join(d, "logs", "*")) if os.path.isfile(p)]
            if not logs:
                probs.append("the shim wrote no log")
            for p in probs:
                failures.append((name, p))
            n_shim = n_aside = n_other = 0
            for path in sorted(glob.glob(os.path.join(d, "tsan.*"))):
                exe = None
                for text in split_reports(path):
                    m = re.search(r"\(([^()]*?/(tls_client|tls_server|harm_exit_race))\+0x", text)
                    exe = m.group(2) if m else exe or "tls_client"
                    rep = Report(text, name)
                    kind, why = classify(rep, exe, rules, wrappers)
                    sig = signature(rep)
                    bucket = {"shim": findings, "set aside": set_aside, "other": others}[kind]
                    if sig in bucket:
                        bucket[sig][2] += 1
                    else:
                        bucket[sig] = [rep, why, 1]
                    if kind == "shim":
                        n_shim += 1
                    elif kind == "set aside":
                        n_aside += 1
                    else:
                        n_other += 1
            ok = not probs and not n_shim and not n_other
            print("%s %-22s %5.1fs  reports: %d about the shim, %d other, %d set aside"
                  % ("ok  " if ok else "FAIL", name, time.time() - t1, n_shim, n_other, n_aside))
            for p in probs:
                print("     - " + p)
            sys.stdout.flush()
    finally:
        shared.stop()
    # The shared server's own reports.
    for path in sorted(glob.glob(os.path.join(shared_dir, "tsan.*"))):
        for text in split_reports(path):
            rep = Report(text, "server")
            kind, why = classify(rep, "tls_server", rules, wrappers)
            bucket = {"shim": findings, "set aside": set_aside, "other": others}[kind]
            sig = signature(rep)
            if sig in bucket:
                bucket[sig][2] += 1
            else:
                bucket[sig] = [rep, why, 1]

    for title, bucket in (("ABOUT THE SHIM", findings), ("OTHER (not set aside)", others)):
        for sig, (rep, why, n) in bucket.items():
            print("\n==== TSan report %s (%d times, workload %s): %s" % (title, n, rep.workload, sig))
            print("     why: " + why)
            for header, frames in rep.sections:
                print("  " + header)
                for f in frames[:14]:
                    print("      " + str(f))
    if findings:
        groups = {}
        for sig, (rep, why, n) in findings.items():
            g = groups.setdefault((rep.workload, root_cause(rep)), [0, 0])
            g[0] += 1
            g[1] += n
        print("\nreports about the shim, by where the racing threads entered it:")
        for (wl, rc), (distinct, n) in sorted(groups.items()):
            print("  %-22s %-50s %3d distinct, %3d in all" % (wl, rc, distinct, n))
    if args.verbose:
        for sig, (rep, why, n) in set_aside.items():
            print("set aside (%d): %s -- %s" % (n, sig, why))
    secs = time.time() - t0
    bad = len(findings) + len(others) + len(failures)
    if not args.keep and not bad:
        shutil.rmtree(root, ignore_errors=True)
    else:
        print("\nTSan logs kept in %s" % root)
    summary = "%d distinct reports about the shim, %d other, %d problems; %d distinct reports set aside " \
              "by tests/tsan/suppressions.txt (%.0fs)" % (len(findings), len(others), len(failures),
                                                          len(set_aside), secs)
    print("check-tsan: %s: %s" % ("FAIL" if bad else "PASS", summary))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
