"""sslshim collect: bundle logs with what is needed to read them on another
host — the host name, OS and OpenSSL versions, and for every object a stack
names (module events) its path, build id and, when it is small enough and
still the same build, a copy for addr2line.  Key log files stay out unless
--include-keylog.  `sslshim report BUNDLE.tar.gz` reads the result.
"""
import argparse
import io
import json
import os
import platform
import subprocess
import sys
import tarfile
import time

from sslshim_logs import (MAX_LINE, InputTooLarge, _is_log_name, decode_line, line_chunks,
                          open_gzip, skip_rest_of_line)
from sslshim_paths import VERSION, default_log_root, this_host
from sslshim_schema import problem as field_problem
from sslshim_symbols import read_build_id

MAX_OBJECT = 50 << 20
MAX_PROCESSES = 1000      # listed in the manifest
MAX_MODULES = 10000       # objects looked up (a real log names tens)
KEYLOG_LABELS = (b"CLIENT_RANDOM ", b"CLIENT_HANDSHAKE_TRAFFIC_SECRET ",
                 b"SERVER_HANDSHAKE_TRAFFIC_SECRET ", b"CLIENT_TRAFFIC_SECRET_0 ",
                 b"SERVER_TRAFFIC_SECRET_0 ", b"EXPORTER_SECRET ", b"EARLY_EXPORTER_SECRET ",
                 b"CLIENT_EARLY_TRAFFIC_SECRET ")


def parser():
    p = argparse.ArgumentParser(
        prog="sslshim collect",
        description="Bundle sslshim logs (recursively from each DIR, default %s/) with a "
                    "manifest (host, OS, `openssl version -a`, path and build id of each object "
                    "the stacks name, and a copy of each such object under the size limit) into "
                    "one .tar.gz that `sslshim report` reads on any host." % default_log_root())
    p.add_argument("dirs", nargs="*", metavar="DIR")
    p.add_argument("-o", "--output", metavar="FILE.tar.gz",
                   help="default: ./sslshim-HOST-TIME.tar.gz")
    p.add_argument("--include-keylog", action="store_true",
                   help="also bundle NSS key log files found in DIR (they decrypt the traffic)")
    p.add_argument("--no-objects", action="store_true",
                   help="record object paths and build ids but copy no objects")
    p.add_argument("--max-object-mib", type=int, default=MAX_OBJECT >> 20, metavar="N",
                   help="copy objects up to N MiB (default %(default)s)")
    return p


def classify(path):
    """'log', 'keylog' or None (something else) from the first bytes."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return None
    if head[:2] == b"\x1f\x8b":
        return "log" if _is_log_name(os.path.basename(path)) else None
    first = head.lstrip()
    if first.startswith(b"{"):
        return "log"
    for line in head.splitlines():
        line = line.strip()
        if not line or line.startswith(b"#"):
            continue
        return "keylog" if line.startswith(KEYLOG_LABELS) else None
    return None


def scan(path, modules, procs):
    """Add the objects ({(host, path): build_id}) and processes ([...]) that
    one log names to modules and procs.  The log is read as `report` reads it
    (sslshim_logs: bounded lines, bounded decompression, every field checked);
    a line that does not fit is passed over: the log goes into the bundle as
    it is, and `report` names it there."""
    try:
        with open(path, "rb") as raw:
            compressed = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            f = open_gzip(raw) if compressed else raw
            for line in line_chunks(f):
                if len(line) > MAX_LINE:
                    skip_rest_of_line(f, line)
                elif b'"ev":"module"' in line or b'"ev":"process"' in line:
                    _note_event(line, modules, procs)
    except (OSError, EOFError, InputTooLarge):
        pass


def _note_event(line, modules, procs):
    """A module or process line: noted if it fits the log format."""
    ev, why = decode_line(line)
    kind = ev.get("ev") if type(ev) is dict else None
    if why or kind not in ("module", "process") or field_problem(kind, ev, line):
        return
    if kind == "module" and ev["path"] and len(modules) < MAX_MODULES:
        modules[(ev["host"], ev["path"])] = ev.get("build_id")
    elif kind == "process" and len(procs) < MAX_PROCESSES:
        procs.append({k: ev.get(k) for k in ("host", "pid", "exe", "openssl", "libssl",
                                             "shim", "ts")})
        keylog = (ev.get("config") or {}).get("keylog")
        if isinstance(keylog, str) and keylog:
            procs[-1]["keylog"] = keylog


def named_keylogs(procs, host, already):
    """The key logs the processes of this host name (config.keylog, wherever
    SSLSHIM_KEYLOG or SSLKEYLOGFILE put them) that are not among `already`:
    [(path, member)] of the files that exist and hold key log lines."""
    out, seen = [], {os.path.abspath(p) for p, _ in already}
    for i, proc in enumerate(procs):
        p = proc.get("keylog")
        if not p or proc.get("host") != host or os.path.abspath(p) in seen:
            continue
        seen.add(os.path.abspath(p))
        if os.path.isfile(p) and classify(p) == "keylog":
            out.append((p, "keylogs/%d-%s" % (i, os.path.basename(p))))
    return out


def _cmd(argv):
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, universal_newlines=True, timeout=20)
        return r.stdout
    except (OSError, subprocess.SubprocessError) as e:
        return "(%s failed: %s)" % (argv[0], e)


def _os_release():
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return None


def main(argv):
    args = parser().parse_args(argv)
    dirs = args.dirs or [default_log_root()]
    host = this_host()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = args.output or "sslshim-%s-%s.tar.gz" % (host, stamp)
    limit = args.max_object_mib << 20

    logs, keylogs, skipped = [], [], []          # (source path, member name)
    for i, d in enumerate(dirs):
        if os.path.isfile(d):
            logs.append((d, "logs/files/%s" % os.path.basename(d)))
            continue
        if not os.path.isdir(d):
            sys.stderr.write("sslshim collect: %s: no such file or directory\n" % d)
            return 1
        label = "%d-%s" % (i, os.path.basename(os.path.abspath(d)) or "root")
        for root, subdirs, files in os.walk(d):
            subdirs.sort()
            for name in sorted(files):
                p = os.path.join(root, name)
                if os.path.abspath(p) == os.path.abspath(out):
                    continue
                # only regular files: a FIFO would block the reading, a device never end
                kind = classify(p) if os.path.isfile(p) else None
                member = "logs/%s/%s" % (label, os.path.relpath(p, d))
                if kind == "log":
                    logs.append((p, member))
                elif kind == "keylog":
                    keylogs.append((p, member))
                else:
                    skipped.append(p)
    if not logs:
        sys.stderr.write("sslshim collect: no sslshim logs in %s\n" % ", ".join(dirs))
        return 1

    modules, procs = {}, []
    for p, _ in logs:
        scan(p, modules, procs)
    keylogs += named_keylogs(procs, host, keylogs)
    objects = []
    copies = []
    for (mhost, path), bid in sorted(modules.items(), key=lambda kv: (kv[0][0] or "", kv[0][1])):
        o = {"host": mhost, "path": path, "build_id": bid, "build_id_here": None, "size": None,
             "member": None, "why_not_copied": None}
        candidates = [path]
        if bid:
            candidates.insert(0, "/usr/lib/debug/.build-id/%s/%s.debug" % (bid[:2], bid[2:]))
        if mhost != host:
            o["why_not_copied"] = "logged on another host"
        else:
            for c in candidates:
                if not os.path.isfile(c):
                    continue
                here = read_build_id(c)
                if c == path:
                    o["build_id_here"] = here
                if bid and here != bid:
                    continue
                size = os.path.getsize(c)
                o["size"] = size
                if args.no_objects:
                    o["why_not_copied"] = "--no-objects"
                elif size > limit:
                    o["why_not_copied"] = "larger than %d MiB" % (limit >> 20)
                elif bid:
                    o["member"] = "objects/%s/%s" % (bid, os.path.basename(c))
                    o["copied_from"] = c
                    copies.append((c, o["member"]))
                break
            else:
                o["why_not_copied"] = ("not on this host" if not os.path.exists(path) else
                                       "build id differs: the object was replaced since")
        objects.append(o)
    unique = {}
    for src, member in copies:                   # one copy per build id
        unique.setdefault(member.split("/")[1], (src, member))
    copies = list(unique.values())

    manifest = {
        "sslshim_bundle": 1, "sslshim": VERSION, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                          time.gmtime()),
        "host": host, "uname": list(platform.uname()), "os": _os_release(),
        "python": platform.python_version(), "uid": os.getuid(),
        "openssl_version": _cmd(["openssl", "version", "-a"]),
        "dirs": [os.path.abspath(d) for d in dirs],
        "logs": [{"path": p, "member": m} for p, m in logs],
        "keylogs": ([{"path": p, "member": m} for p, m in keylogs] if args.include_keylog
                    else {"left_out": len(keylogs)}),
        "skipped_files": skipped[:200],
        "processes": procs[:MAX_PROCESSES],
        "objects": objects,
    }
    members = list(logs) + (list(keylogs) if args.include_keylog else []) + copies
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    except OSError as e:
        sys.stderr.write("sslshim collect: cannot write %s: %s\n" % (out, e.strerror))
        return 1
    top = "sslshim-%s-%s" % (host, stamp)
    failed = []
    with os.fdopen(fd, "wb") as f, tarfile.open(fileobj=f, mode="w:gz") as tar:
        data = json.dumps(manifest, indent=1).encode()
        ti = tarfile.TarInfo(top + "/manifest.json")
        ti.size, ti.mtime, ti.mode = len(data), int(time.time()), 0o600
        tar.addfile(ti, io.BytesIO(data))
        for src, member in members:
            try:
                with open(src, "rb") as s:
                    st = os.fstat(s.fileno())
                    ti = tarfile.TarInfo(top + "/" + member)
                    ti.size, ti.mtime, ti.mode = st.st_size, int(st.st_mtime), 0o600
                    tar.addfile(ti, s)      # copies st_size bytes: a growing log is cut there
            except (OSError, tarfile.TarError) as e:
                failed.append("%s: %s" % (src, e))
    size = os.path.getsize(out)
    sys.stdout.write("sslshim: wrote %s (%.1f MiB): %d log files, %d objects named in stacks "
                     "(%d copied), %s\n" % (
                         out, size / 1048576.0, len(logs), len(objects), len(copies),
                         "%d key log files included" % len(keylogs) if args.include_keylog
                         else "%d key log files left out (--include-keylog)" % len(keylogs)))
    for x in failed:
        sys.stderr.write("sslshim collect: could not add %s\n" % x)
    return 1 if failed else 0
