"""Reading sslshim logs: files, directories (recursively), .gz files,
`sslshim collect` bundles (.tar.gz) and stdin.

Everything a reader can trip over — a line that is not JSON, a truncated last
line, an event this version does not know, a process whose schema version is
newer than ours — is reported as "FILE:LINE: what" through Problems and
skipped; the rest of the input is still read.
"""
import gzip
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile

from sslshim_paths import SCHEMA_VERSION

_SCAN = json.JSONDecoder().scan_once
KNOWN_EVENTS = frozenset((
    "process", "conn_new", "handshake_start", "state", "msg", "alert", "handshake_done",
    "call", "data", "error", "loop", "misuse", "conn_end", "module", "undefined_data",
    "dropped", "note"))

# rotated files: NAME.jsonl, NAME.jsonl.1, ... (optionally .gz); read oldest first
_ROTATED = re.compile(r"^(.*?\.jsonl)(?:\.(\d+))?(\.gz)?$")
PER_SOURCE_SHOWN = 10
MAX_KEPT = 1000


class Problems:
    """Problems found in the input, printed on stderr as they are found (at
    most PER_SOURCE_SHOWN per source, then a count) and kept for --json."""

    def __init__(self, stream=None, quiet=False):
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.items = []          # the first MAX_KEPT, for --json
        self.count = 0
        self.per_source = {}

    def add(self, source, line, message):
        self.count += 1
        if len(self.items) < MAX_KEPT:
            self.items.append({"file": source, "line": line, "problem": message})
        n = self.per_source.get(source, 0) + 1
        self.per_source[source] = n
        if self.quiet:
            return
        if n <= PER_SOURCE_SHOWN:
            where = "%s:%d" % (source, line) if line else source
            self.stream.write("sslshim: %s: %s\n" % (where, message))
        elif n == PER_SOURCE_SHOWN + 1:
            self.stream.write("sslshim: %s: more problems in this file (`sslshim report "
                              "--json` lists the first %d in all)\n" % (source, MAX_KEPT))

    def finish(self):
        if self.quiet:
            return
        for source, n in self.per_source.items():
            if n > PER_SOURCE_SHOWN:
                self.stream.write("sslshim: %s: %d problems in all, %d not shown\n"
                                  % (source, n, n - PER_SOURCE_SHOWN))


def _rotation_key(path):
    d, name = os.path.split(path)
    m = _ROTATED.match(name)
    if not m:
        return (d, name, 0)
    return (d, m.group(1), -int(m.group(2) or 0))


def _is_log_name(name):
    return (name.endswith((".jsonl", ".gz", ".tgz")) or bool(_ROTATED.match(name)))


def expand(args, problems):
    """The input files named by args (files, directories walked recursively,
    "-" for stdin), rotated files oldest first."""
    out = []
    for a in args:
        if a == "-":
            out.append("-")
        elif os.path.isdir(a):
            found = []
            for root, dirs, files in os.walk(a):
                dirs.sort()
                for f in files:
                    if _is_log_name(f):
                        found.append(os.path.join(root, f))
            if not found:
                problems.add(a, 0, "no log files (*.jsonl, *.gz, *.tar.gz) in this directory")
            out.extend(sorted(found, key=_rotation_key))
        elif os.path.exists(a):
            out.append(a)
        else:
            problems.add(a, 0, "no such file or directory")
    seen = set()
    unique = []
    for p in out:                 # a file named twice (or inside a named directory) once
        key = p if p == "-" else os.path.realpath(p)
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


class Bundle:
    """What a `collect` bundle brings besides logs: its manifest, and the
    objects it carries (extracted to a temporary directory for addr2line)."""

    def __init__(self, name):
        self.name = name
        self.manifest = None
        self.objects = {}          # build_id -> extracted path


class Reader:
    """Yields (source, line_number, event) for every good event of the inputs."""

    def __init__(self, problems):
        self.problems = problems
        self.bundles = []
        self.sources = []          # names of what was read, in order
        self.lines = 0
        self._tmpdirs = []

    def close(self):
        for d in self._tmpdirs:
            shutil.rmtree(d, ignore_errors=True)
        self._tmpdirs = []

    def tmpdir(self):
        d = tempfile.mkdtemp(prefix="sslshim-report-")
        self._tmpdirs.append(d)
        return d

    def read(self, paths):
        for path in paths:
            if path == "-":
                yield from self._stdin()
            else:
                yield from self._path(path, path)

    def _stdin(self):
        yield from self._spooled(sys.stdin.buffer, "<stdin>")

    def _spooled(self, stream, name):
        # A pipe is copied to a file first, so that a gzip or tar stream can
        # be sniffed and read like any other input.
        spool = os.path.join(self.tmpdir(), "spool")
        with open(spool, "wb") as f:
            shutil.copyfileobj(stream, f)
        yield from self._path(spool, name)

    def _path(self, path, name):
        try:
            f = open(path, "rb")
        except OSError as e:
            self.problems.add(name, 0, "cannot read: %s" % e.strerror)
            return
        with f:
            if not f.seekable():          # a FIFO, /dev/fd/N of a process substitution
                yield from self._spooled(f, name)
            else:
                yield from self._stream(f, name)

    def _stream(self, f, name):
        head = f.read(2)
        f.seek(0)
        if head == b"\x1f\x8b":
            try:
                with gzip.GzipFile(fileobj=f) as g:
                    block = g.read(512)
            except (OSError, EOFError) as e:
                self.problems.add(name, 0, "not a readable gzip file (%s), skipped" % e)
                return
            f.seek(0)
            if len(block) == 512 and block[257:262] == b"ustar":
                yield from self._bundle(f, name)
                return
            g = gzip.GzipFile(fileobj=f)
            yield from self._lines(g, name, compressed=True)
        else:
            block = f.read(512)
            f.seek(0)
            if len(block) == 512 and block[257:262] == b"ustar":
                yield from self._bundle(f, name)
                return
            yield from self._lines(f, name)

    def _bundle(self, f, name):
        bundle = Bundle(name)
        self.bundles.append(bundle)
        objdir = None
        try:
            tar = tarfile.open(fileobj=f, mode="r|*")
        except tarfile.TarError as e:
            self.problems.add(name, 0, "not a readable tar archive (%s), skipped" % e)
            return
        try:
            for m in tar:
                if not m.isfile():
                    continue
                member = "%s:%s" % (name, m.name)
                parts = m.name.split("/")
                base = parts[-1]
                data = tar.extractfile(m)
                if base == "manifest.json":
                    try:
                        bundle.manifest = json.loads(data.read().decode("utf-8"))
                    except ValueError as e:
                        self.problems.add(member, 0, "unreadable manifest (%s)" % e)
                elif "objects" in parts[:-1]:
                    # objects/<build_id>/<name>: written under our own name,
                    # never under a path taken from the archive.
                    bid = parts[parts.index("objects") + 1] if len(parts) > 2 else ""
                    if not re.match(r"^[0-9a-f]{8,128}$", bid):
                        continue
                    if objdir is None:
                        objdir = self.tmpdir()
                    dest = os.path.join(objdir, bid + "-" + re.sub(r"[^\w.+-]", "_", base))
                    with open(dest, "wb") as out:
                        shutil.copyfileobj(data, out)
                    bundle.objects[bid] = dest
                elif _is_log_name(base):
                    # tarfile's member reader is an io.BufferedReader: peek to sniff
                    if data.peek(2)[:2] == b"\x1f\x8b":
                        yield from self._lines(gzip.GzipFile(fileobj=data), member,
                                               compressed=True)
                    else:
                        yield from self._lines(data, member)
        except (tarfile.TarError, OSError, EOFError) as e:
            self.problems.add(name, 0, "archive is truncated or damaged (%s); read what came "
                              "before" % e)
        finally:
            tar.close()

    def _lines(self, f, name, compressed=False):
        """The events of one JSON Lines stream.  Hot path: keep it lean.

        json's C scanner is called directly (json.loads spends a third of its
        time in Python-level checks around it); what it leaves after the
        object must be the newline."""
        self.sources.append(name)
        scan = _SCAN
        known = KNOWN_EVENTS
        problems = self.problems
        skipping = {}        # pid -> [first line, count]: newer schema
        n = 0
        try:
            for raw in f:
                n += 1
                try:
                    s = raw.decode("utf-8")
                    ev, end = scan(s, 0)
                    if end != len(s) - 1 and s[end:].strip():
                        raise ValueError("extra data after the object")
                except (ValueError, StopIteration):
                    if not raw.strip():
                        continue
                    try:
                        ev = json.loads(raw)      # the slow path: surrounding blanks &c.
                    except ValueError as e:
                        if not raw.endswith(b"\n"):
                            problems.add(name, n, "truncated line (the file ends in the middle "
                                         "of an event), skipped")
                        else:
                            problems.add(name, n, "not JSON (%s), skipped: %s"
                                         % (getattr(e, "msg", None) or e, _excerpt(raw)))
                        continue
                if type(ev) is not dict:
                    problems.add(name, n, "not an sslshim event (a JSON %s), skipped"
                                 % type(ev).__name__)
                    continue
                kind = ev.get("ev")
                if kind not in known:
                    if isinstance(kind, str):
                        problems.add(name, n, "unknown event %r, skipped" % kind)
                    else:
                        problems.add(name, n, "not an sslshim event (no \"ev\"), skipped")
                    continue
                if skipping:
                    s = skipping.get(ev.get("pid"))
                    if s is not None:
                        if kind == "process" and _schema_ok(ev.get("v")):
                            del skipping[ev.get("pid")]
                        else:
                            s[1] += 1
                            continue
                if kind == "process":
                    v = ev.get("v")
                    if not _schema_ok(v):
                        problems.add(name, n, "schema version %r of pid %s is not one this "
                                     "sslshim reads (%d); its events in this file are skipped"
                                     % (v, ev.get("pid"), SCHEMA_VERSION))
                        skipping[ev.get("pid")] = [n, 0]
                        continue
                yield name, n, ev
        except (OSError, EOFError) as e:
            what = "compressed stream" if compressed else "file"
            problems.add(name, n + 1, "%s is truncated or damaged (%s); read the %d lines "
                         "before" % (what, e, n))
        self.lines += n
        for pid, (first, count) in skipping.items():
            if count:
                problems.add(name, first, "%d lines of pid %s skipped (newer schema)"
                             % (count, pid))


def _schema_ok(v):
    return v is None or (isinstance(v, int) and 1 <= v <= SCHEMA_VERSION)


def _excerpt(raw):
    s = raw[:60].decode("utf-8", "replace").rstrip("\n")
    return repr(s) + ("..." if len(raw) > 60 else "")
