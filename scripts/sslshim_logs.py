"""Reading sslshim logs: files, directories (recursively), .gz files,
`sslshim collect` bundles (.tar.gz) and stdin.

Everything a reader can trip over — a line that is not JSON, a truncated last
line, an event this version does not know, a field of the wrong type, a
process whose schema version is newer than ours — is reported as "FILE:LINE:
what" through Problems and skipped; the rest of the input is still read.

Logs are input from elsewhere, so reading them costs bounded memory whatever
they hold: a line longer than MAX_LINE is skipped without being held whole,
compressed input is inflated as a stream and given up once it expands far
beyond what a log does (a gzip bomb), a bundle's headers and manifest are
bounded, and nesting deeper than the shim's makes a line bad, not the report.

Speed (issue 15: a fleet's central store of millions of lines): most lines are
never decoded as JSON.  A line in the form the shim writes is split into its
common fields by one regular expression (PREFIX), and the rest of it, its
body, is looked up among the bodies of lines already decoded and found good
(KnownBodies): the same body, or one of the same shape.  Only a line that
matches neither takes the careful path (decoded, every field checked), and
teaches KnownBodies its body.  Every line is still checked as strictly as
before: see KnownBodies for why a body like a good one is good.
"""
import functools
import io
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
import zlib

from sslshim_paths import SCHEMA_VERSION
from sslshim_schema import KNOWN_EVENTS, excerpt, problem as field_problem


def _no_constant(name):
    # NaN and Infinity are not JSON; Python's decoder accepts them by default.
    raise ValueError("%s is not a JSON value" % name)


_DECODER = json.JSONDecoder(parse_constant=_no_constant)
_SCAN = _DECODER.scan_once

# rotated files: NAME.jsonl, NAME.jsonl.1, ... (optionally .gz); read oldest first
_ROTATED = re.compile(r"^(.*?\.jsonl)(?:\.(\d+))?(\.gz)?$")
PER_SOURCE_SHOWN = 10     # input problems printed per input...
TOTAL_SHOWN = 100         # ...and in all; the rest are counted
MAX_KEPT = 1000

# The shim's longest lines (128-frame stacks, an 8 KiB argv escaped) are tens
# of KiB; anything past 1 MiB is not a line it wrote.
MAX_LINE = 1 << 20
# Logs compress 5 to 20 times (a generated log of repeated connections: 15),
# a gzip bomb about 1000 times.  Compressed input may expand to GZIP_RATIO
# times what has been read of it so far, plus GZIP_FLOOR: a bomb is given up
# after some 20 MiB of output, while no log comes near the limit.
GZIP_RATIO = 100
GZIP_FLOOR = 16 << 20
READ_CHUNK = 1 << 16
MAX_MANIFEST = 16 << 20
# tarfile reads a pax or GNU long-name header whole, however long it says it is.
MAX_TAR_HEADER = 1 << 16
_TAR_LONG_HEADERS = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE,
                     tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)


class Problems:
    """Problems found in the input, printed on stderr as they are found (at
    most PER_SOURCE_SHOWN per source and TOTAL_SHOWN lines in all, then
    counts) and the first MAX_KEPT kept for --json."""

    def __init__(self, stream=None, quiet=False):
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.items = []          # the first MAX_KEPT, for --json
        self.count = 0
        self.lines_written = 0
        self.per_source = {}     # source -> [problems, problems printed]
        self.progress = None     # a progress line to erase before a problem's

    def add(self, source, line, message):
        self.count += 1
        if len(self.items) < MAX_KEPT:
            self.items.append({"file": source, "line": line, "problem": message})
        counts = self.per_source.setdefault(source, [0, 0])
        counts[0] += 1
        if self.quiet or self.lines_written >= TOTAL_SHOWN:
            return
        if counts[0] <= PER_SOURCE_SHOWN:
            counts[1] += 1
            self._say("%s: %s" % ("%s:%d" % (source, line) if line else source, message))
        elif counts[0] == PER_SOURCE_SHOWN + 1:
            self._say("%s: more problems in this file (`sslshim report --json` lists the "
                      "first %d in all)" % (source, MAX_KEPT))

    def _say(self, text):
        if self.progress is not None:
            self.progress.done()
        self.stream.write("sslshim: %s\n" % text)
        self.lines_written += 1
        if self.lines_written == TOTAL_SHOWN:
            self.stream.write("sslshim: more input problems: counted at the end, not shown\n")

    def finish(self):
        if self.quiet:
            return
        hidden = [(source, n, printed) for source, (n, printed) in self.per_source.items()
                  if n > printed]
        for source, n, printed in hidden[:PER_SOURCE_SHOWN]:
            self.stream.write("sslshim: %s: %d problems in all, %d not shown\n"
                              % (source, n, n - printed))
        if len(hidden) > PER_SOURCE_SHOWN:
            self.stream.write("sslshim: %d input problems in all, in %d inputs\n"
                              % (self.count, len(self.per_source)))


def _rotation_key(path):
    d, name = os.path.split(path)
    m = _ROTATED.match(name)
    if not m:
        return (d, name, 0)
    return (d, m.group(1), -int(m.group(2) or 0))


def _is_log_name(name):
    return (name.endswith((".jsonl", ".gz", ".tgz")) or bool(_ROTATED.match(name)))


def expand(args, problems, missing=None):
    """The input files named by args (files, directories walked recursively,
    "-" for stdin), rotated files oldest first.  missing: a list that gets
    the args that do not exist."""
    out = []
    for a in args:
        if a == "-":
            out.append("-")
        elif os.path.isdir(a):
            found = []
            for root, dirs, files in os.walk(a):
                dirs.sort()
                for f in files:
                    path = os.path.join(root, f)
                    # only regular files: opening a FIFO that a directory
                    # holds would wait for a writer forever
                    if _is_log_name(f) and os.path.isfile(path):
                        found.append(path)
            if not found:
                problems.add(a, 0, "no log files (*.jsonl, *.gz, *.tar.gz) in this directory")
            out.extend(sorted(found, key=_rotation_key))
        elif os.path.exists(a):
            out.append(a)
        else:
            problems.add(a, 0, "no such file or directory")
            if missing is not None:
                missing.append(a)
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
        self.objdir = None


class InputTooLarge(Exception):
    """Compressed input that expands past its budget (GZIP_RATIO, GZIP_FLOOR)."""


class GzipStream(io.RawIOBase):
    """The decompressed bytes of a gzip file (all its members) as a stream
    read a chunk at a time.  Raises InputTooLarge once the output passes
    GZIP_FLOOR + GZIP_RATIO x the compressed bytes read so far, OSError on
    damaged data, EOFError when the file ends inside a member."""

    def __init__(self, f):
        super().__init__()
        self._f = f
        self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)     # gzip framing, CRC checked
        self.compressed = 0
        self.decompressed = 0

    def readable(self):
        return True

    def readinto(self, buf):
        while True:
            data = self._inflate_some(len(buf))
            if data is None:
                return 0
            if data:
                break
        self.decompressed += len(data)
        if self.decompressed > GZIP_FLOOR + GZIP_RATIO * self.compressed:
            raise InputTooLarge("it expands to more than %d times its compressed size (a gzip "
                                "bomb?); stopped after %d MiB"
                                % (GZIP_RATIO, self.decompressed >> 20))
        buf[:len(data)] = data
        return len(data)

    def _inflate_some(self, most):
        """Up to `most` bytes of output (b"" if the input read gave none yet),
        None at the end of the last member."""
        z = self._zlib
        if z.eof:
            # The next member (zlib may leave its start in unconsumed_tail
            # too: unused_data is the one to take).
            rest = z.unused_data
            while not rest.strip(b"\0"):         # gzip allows zero padding after a member
                rest = self._read()
                if not rest:
                    return None
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
            return self._inflate(rest.lstrip(b"\0"), most)
        if z.unconsumed_tail:
            return self._inflate(z.unconsumed_tail, most)
        data = self._read()
        if not data:
            raise EOFError("compressed file ended before the end-of-stream marker was reached")
        return self._inflate(data, most)

    def _read(self):
        data = self._f.read(READ_CHUNK)
        self.compressed += len(data)
        return data

    def _inflate(self, data, most):
        try:
            return self._zlib.decompress(data, most)
        except zlib.error as e:
            raise OSError("damaged compressed data: %s" % e) from None


def open_gzip(f):
    """A buffered reader of the decompressed bytes of gzip file f."""
    return io.BufferedReader(GzipStream(f), READ_CHUNK)


def _is_gzip(head):
    return head[:2] == b"\x1f\x8b"


def _is_tar(block):
    return len(block) == 512 and block[257:262] == b"ustar"


class _BoundedTarInfo(tarfile.TarInfo):
    """A tar header that refuses extended headers (pax, GNU long names) over
    MAX_TAR_HEADER bytes, which tarfile would read whole into memory."""

    def _proc_member(self, tar):
        if self.type in _TAR_LONG_HEADERS and self.size > MAX_TAR_HEADER:
            raise tarfile.ReadError("an extended header of %d bytes" % self.size)
        return super()._proc_member(tar)


def line_chunks(f):
    """The lines of binary stream f, each cut at MAX_LINE + 1 bytes: a chunk
    longer than MAX_LINE is the start of an overlong line (skip_rest_of_line)."""
    return iter(functools.partial(f.readline, MAX_LINE + 1), b"")


def skip_rest_of_line(f, chunk):
    """Read past the rest of the overlong line that chunk starts, a chunk at
    a time, so that it is never held whole."""
    while not chunk.endswith(b"\n"):
        chunk = f.readline(MAX_LINE + 1)
        if not chunk:
            return


READ_BLOCK = READ_CHUNK      # as a buffered reader reads: see line_blocks


def line_blocks(f):
    """The lines of binary stream f without their newlines, a list at a
    time, with whether the list's last line is the stream's last and had no
    newline (a line cut short, or a file not ended by one).  A line longer
    than MAX_LINE comes as its first MAX_LINE + 1 bytes, the rest read past
    and never held whole."""
    carry = b""
    overlong = None          # the start of a line too long, while its end is read past
    # read1: one read of the stream below at a time, of the size a buffered
    # readline reads, so that when one fails (damaged compressed data) the
    # lines before it have been handed on, as many as readline would have
    read = getattr(f, "read1", f.read)
    while True:
        data = read(READ_BLOCK)
        if not data:
            if overlong is not None:
                yield [overlong], False
            elif carry:
                yield [carry], True
            return
        if overlong is not None:
            i = data.find(b"\n")
            if i < 0:
                continue
            data = data[i + 1:]
            lines = [overlong]
            overlong = None
            if data:
                lines.extend(data.split(b"\n"))
                carry = lines.pop()
            yield lines, False
            continue
        lines = data.split(b"\n")
        if carry:
            lines[0] = carry + lines[0]
        carry = lines.pop()
        limit = MAX_LINE
        if len(carry) > limit:
            overlong = carry[:limit + 1]
            carry = b""
        if lines:
            if max(map(len, lines)) > limit:
                lines = [line if len(line) <= limit else line[:limit + 1] for line in lines]
            yield lines, False


def decode_line(raw):
    """(event, None) for a line that is one JSON value, else (None, why not).
    The careful path, for what the fast path in Reader._lines rejects."""
    cut_short = None
    if not raw.endswith(b"\n"):
        cut_short = "truncated line (the file ends in the middle of an event), skipped"
    try:
        return _DECODER.decode(raw.decode("utf-8")), None
    except UnicodeDecodeError:
        return None, cut_short or "not UTF-8 text, skipped: %s" % _excerpt(raw)
    except RecursionError:
        return None, cut_short or "not JSON (nested too deeply), skipped: %s" % _excerpt(raw)
    except ValueError as e:
        return None, cut_short or "not JSON (%s), skipped: %s" % (getattr(e, "msg", None) or e,
                                                                _excerpt(raw))


# -- the fast path ---------------------------------------------------------------

# Every line the shim writes starts with the same fields in the same order
# (shim/sink.c, json_header), then "conn" on a connection's lines.  PREFIX
# matches that form only where it is valid JSON holding values the schema
# accepts: a time as the shim writes it (sslshim_schema.TIME), integers
# without sign or leading zero, a host of printable ASCII without quote or
# backslash (so that the bytes are the value).  The body, what follows, must
# start with "," or "}".  Groups: ts, ev, host and pid (one group: the key of
# a process), tid, seq, conn, body.
PREFIX = re.compile(
    rb'\{"ts":"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z)",'
    rb'"ev":"([a-z_]{1,24})",("host":"[\x20\x21\x23-\x5b\x5d-\x7e]{0,255}",'
    rb'"pid":(?:0|[1-9][0-9]{0,17})),"tid":(0|[1-9][0-9]{0,17}),'
    rb'"seq":(0|[1-9][0-9]{0,17})(?:,"conn":(0|[1-9][0-9]{0,17}))?([,}].*)\Z', re.S)
HOST_PID = re.compile(rb'"host":"(.*)","pid":([0-9]+)\Z', re.S)
PREFIX_KEYS = frozenset(("ts", "ev", "host", "pid", "tid", "seq", "conn"))
KIND = {kind.encode(): kind for kind in KNOWN_EVENTS}
# lines whose bodies differ every time (addresses, counters, client_random):
# known by their shape only, not kept in KnownBodies.exact
NEVER_REPEATED = frozenset((b"handshake_start", b"handshake_done", b"conn_end"))

# In a shape, the digits 2-9 read 1 (0 stays: it alone makes a leading zero)
_SHAPE_DIGITS = bytes.maketrans(b"23456789", b"11111111")
_CR = b'"client_random":"'
_HEX = b"0123456789abcdef"


def shape_of(body):
    """body with its digits 2-9 read as 1 and the 64 hex digits of its
    client_random left out; None for a body with a backslash."""
    if 92 in body:            # a backslash: "\\u0070id" is "pid", see KnownBodies
        return None
    i = body.find(_CR)
    if i >= 0:
        j = i + len(_CR)
        if body[j + 64:j + 65] == b'"' and not body[j:j + 64].translate(None, _HEX):
            body = body[:j] + body[j + 64:]
    return body.translate(_SHAPE_DIGITS)


class KnownBodies:
    """The bodies (what follows PREFIX) of lines decoded and found good, so
    that a line with one of them needs no decoding.

    exact: body -> (ev, has conn, its fields decoded): the lines that repeat
    (a state, a message, a hello, the alerts) are read once.  shapes: shape
    -> (ev, has conn, the fields named once in it), for the lines that never
    repeat (handshake_start, handshake_done, conn_end: addresses, counters,
    client_random): a body of the same shape is good and is decoded only
    where its values are used (body_fields, body_value).

    Why a body of a good line's shape is good (as sslshim_schema.GoodLines
    says of digits): JSON's grammar does not care which digit a digit is,
    except for a leading zero, which the shape keeps; a number stays a number
    of the same kind (integer or not: the "." and "e" stay); a string stays
    a string whatever its digits or hex digits; no field the schema checks by
    name has a digit in its name, and the times it checks are checked digit
    by digit as [0-9].  A body with a backslash has no shape: escapes could
    spell another field's name.  A body is remembered only when it holds none
    of the PREFIX fields (a field given twice would hide the first), and with
    its event and whether a conn came before it, the only things in the
    prefix a check depends on.  Memory is bounded: each map is forgotten past
    MAX_BYTES and learnt again."""
    MAX_BYTES = 8 << 20

    def __init__(self):
        self.exact = {}
        self.shapes = {}
        self.exact_size = 0
        self.shapes_size = 0

    def learn(self, kind, has_conn, body):
        """Remember body (of a good line of kind, with a conn or not), if it
        holds no PREFIX field; its decoded fields, or None."""
        fields = parse_body(body)
        if fields is None or not PREFIX_KEYS.isdisjoint(fields):
            return None
        if kind not in NEVER_REPEATED:
            if len(body) + self.exact_size > self.MAX_BYTES:
                self.exact.clear()
                self.exact_size = 0
            self.exact[body] = (kind, has_conn, fields)
            self.exact_size += len(body)
        shape = shape_of(body)
        if shape is not None:
            if len(shape) + self.shapes_size > self.MAX_BYTES:
                self.shapes.clear()
                self.shapes_size = 0
            # the fields named once in the body: a body of this shape has
            # them at the same place, where body_value finds them
            once = frozenset(k for k in fields if body.count(b'"%s":' % k.encode()) == 1)
            self.shapes[shape] = (kind, has_conn, once)
            self.shapes_size += len(shape)
        return fields


def parse_body(body):
    """The fields of a body (bytes after PREFIX) as a dict, or None when it
    is not the rest of one JSON object."""
    try:
        text = body.decode("utf-8")
        if text.startswith(","):
            fields, end = _SCAN("{" + text[1:], 0)
            return fields if end == len(text) else None
        return {} if text == "}" else None
    except (ValueError, StopIteration, RecursionError):
        return None


def body_fields(body):
    """The fields of a body as the reader hands it on: its dict, or for a
    body of a known shape (bytes, fields named once), decoded now."""
    if type(body) is dict:
        return body
    return parse_body(body[0])


def body_value(body, key):
    """The value of field key of a body as the reader hands it on, decoding
    no more of it than that field where it can."""
    if type(body) is dict:
        return body.get(key)
    raw, once = body
    if key not in once:
        return parse_body(raw).get(key)
    name = b'"%s":' % key.encode()
    text = raw[raw.find(name) + len(name):].decode("utf-8").lstrip(" \t\r\n")
    return _SCAN(text, 0)[0]


def event_of(groups, body):
    """The whole event of a line split by PREFIX: what json would make of it,
    fields in the order of the line."""
    ts, kind, host_pid, tid, seq, conn, _ = groups
    host, pid = HOST_PID.match(host_pid).groups()
    ev = {"ts": ts.decode(), "ev": KIND[kind], "host": host.decode(), "pid": int(pid),
          "tid": int(tid), "seq": int(seq)}
    if conn is not None:
        ev["conn"] = int(conn)
    ev.update(body_fields(body))
    return ev


class _Events:
    """Reader.read's callback as a sink: each event whole."""

    def __init__(self, on_event):
        self.on_event = on_event
        self.name = None

    def begin(self, name):
        self.name = name

    def lines(self, batch):
        for groups, body in batch:
            self.on_event(self.name, event_of(groups, body))

    def event(self, ev, n):
        self.on_event(self.name, ev)


class Selection:
    """What `report` was asked to show (--host, --pid, --conn, --since,
    --until, --peer, --failed, --last).  The per-event parts are tested by
    the reader on PREFIX's groups, as bytes, before a line is decoded
    (wants_line): a host and pid pair is judged once and remembered, a time
    is compared as the bytes the shim writes (fixed width, so byte order is
    time order), a conn as its digits.  A process's own lines (process,
    module, dropped: no conn) pass the time and conn selections, so that
    every process selected is still named.  --peer is judged per connection
    (sslshim_analysis), --failed and --last by the report."""

    def __init__(self, hosts=None, pids=None, conns=None, since=None, until=None, peers=None,
                 failed=False, last=None):
        self.hosts = set(hosts) if hosts else None        # str
        self.pids = set(pids) if pids else None           # int
        self.conns = ({str(c).encode() for c in conns} if conns else None)   # digits, bytes
        self.since = since                                  # RFC 3339 as the shim writes, bytes
        self.until = until
        self.peers = list(peers) if peers else None       # (host or None, port or None)
        self.failed = failed
        self.last = last                                    # what --last chose, for the echo
        self._proc_ok = {}

    @property
    def per_event(self):
        """Whether any line is to be judged before it is read."""
        return bool(self.hosts is not None or self.pids is not None or self.conns is not None
                    or self.since is not None or self.until is not None)

    def wants_proc(self, host_pid):
        """Whether the lines of this '"host":...,"pid":...' (bytes) are selected."""
        ok = self._proc_ok.get(host_pid)
        if ok is None:
            host, pid = HOST_PID.match(host_pid).groups()
            ok = self.wants_host_pid(host.decode("utf-8", "replace"), int(pid))
            if len(self._proc_ok) < 100000:
                self._proc_ok[host_pid] = ok
        return ok

    def wants_host_pid(self, host, pid):
        return ((self.hosts is None or host in self.hosts)
                and (self.pids is None or pid in self.pids))

    def wants_rest(self, ts, kind, conn):
        """The time and conn selections, for a line of a selected process
        (ts and kind as bytes, conn as digits or None)."""
        if conn is None or kind in _PROCESS_KINDS:
            return True
        if self.conns is not None and conn not in self.conns:
            return False
        if self.since is not None and ts < self.since:
            return False
        return self.until is None or ts <= self.until

    def wants_event(self, ev):
        """wants_line for an event of the careful path (a dict)."""
        if not self.wants_host_pid(ev["host"], ev["pid"]):
            return False
        conn = ev.get("conn")
        return self.wants_rest(ev["ts"].encode(), ev["ev"].encode(),
                               None if conn is None else str(conn).encode())

    def wants_peer(self, peer, sni):
        """--peer: whether a connection of this peer address ("host:port",
        "[v6]:port") and SNI is selected.  A host matches the address's host
        or the SNI."""
        if self.peers is None:
            return True
        if peer:
            host, _, port = peer.rpartition(":")
            host = host.strip("[]")
        else:
            host = port = None
        for want_host, want_port in self.peers:
            if want_port is not None and want_port != port:
                continue
            if want_host is not None and want_host != host and want_host != sni:
                continue
            return True
        return False

    def echo(self):
        """The selection as the report's JSON gives it."""
        return {"host": sorted(self.hosts) if self.hosts is not None else None,
                "pid": sorted(self.pids) if self.pids is not None else None,
                "conn": sorted(int(c) for c in self.conns) if self.conns is not None else None,
                "since": self.since.decode() if self.since is not None else None,
                "until": self.until.decode() if self.until is not None else None,
                "peer": ["%s%s" % (h if h is None or ":" not in h else "[%s]" % h,
                                   ":" + p if p is not None else "") if h is not None
                         else ":" + p for h, p in self.peers] if self.peers is not None
                else None,
                "failed": self.failed, "last": self.last}


# lines of a process, not of a connection (sslshim_analysis.PROCESS_LEVEL)
_PROCESS_KINDS = frozenset((b"process", b"module", b"dropped", b"data"))


class Reader:
    """Reads inputs and hands every good event to a callback."""

    def __init__(self, problems):
        self.problems = problems
        self.bundles = []
        self.sources = []          # names of what was read, in order
        self.lines = 0
        self._tmpdirs = []
        self.known = KnownBodies()
        self.hosts = None          # read_lines: only these hosts
        self.select = None         # read_lines: a Selection judged per line
        self.unreadable = []       # inputs that could not be opened
        self.progress = None       # a sslshim_progress.Progress, told of each block

    def close(self):
        for d in self._tmpdirs:
            shutil.rmtree(d, ignore_errors=True)
        self._tmpdirs = []

    def tmpdir(self):
        d = tempfile.mkdtemp(prefix="sslshim-report-")
        self._tmpdirs.append(d)
        return d

    def read(self, paths, on_event):
        """Call on_event(source, event) for each good event of paths (files,
        and "-" for stdin), in order."""
        self.read_lines(paths, _Events(on_event))

    def read_lines(self, paths, sink, hosts=None, select=None):
        """Hand the good lines of paths to sink, in order: sink.begin(name)
        before each input, then the lines in the shim's own form in batches,
        sink.lines([(PREFIX's groups, the body's fields as a dict or, for one
        of a known shape, its bytes: body_fields), ...]), and any other good
        line as sink.event(ev, n).  (Batches, not a call per line nor
        generators: every line would pass through them, at a cost that
        shows.)
        hosts: only the lines of these host names (a set of str); the others
        are counted in self.lines and skipped unread.  select: a Selection,
        whose per-event parts (hosts among them) are judged the same way."""
        if select is None and hosts is not None:
            select = Selection(hosts=hosts)
        self.select = select if select is not None and select.per_event else None
        self.hosts = select.hosts if select is not None else None
        for path in paths:
            if path == "-":
                self._spooled(sys.stdin.buffer, "<stdin>", sink)
            else:
                self._path(path, path, sink)

    def _spooled(self, stream, name, sink):
        # A pipe is copied to a file first, so that a gzip or tar stream can
        # be sniffed and read like any other input.
        spool = os.path.join(self.tmpdir(), "spool")
        read = getattr(stream, "read1", stream.read)
        with open(spool, "wb") as f:
            while True:
                data = read(READ_CHUNK)
                if not data:
                    break
                f.write(data)
                if self.progress is not None:
                    self.progress.spooled(len(data))
        self._path(spool, name, sink)

    def _path(self, path, name, sink):
        try:
            f = open(path, "rb")
        except OSError as e:
            self.problems.add(name, 0, "cannot read: %s" % e.strerror)
            self.unreadable.append(name)
            return
        with f:
            if not f.seekable():          # a FIFO, /dev/fd/N of a process substitution
                self._spooled(f, name, sink)
            else:
                self._stream(f, name, sink)

    def _stream(self, f, name, sink):
        """A file: a log, a gzip'd log, or a bundle (tar, gzip'd or not)."""
        compressed = _is_gzip(f.read(2))
        f.seek(0)
        try:
            block = (open_gzip(f) if compressed else f).read(512)
        except (OSError, EOFError, InputTooLarge) as e:
            self.problems.add(name, 0, "not a readable gzip file (%s), skipped" % e)
            return
        f.seek(0)
        stream = open_gzip(f) if compressed else f
        if _is_tar(block):
            self._bundle(stream, name, sink)
        else:
            self._lines(stream, name, sink, compressed=compressed)

    def _bundle(self, stream, name, sink):
        bundle = Bundle(name)
        self.bundles.append(bundle)
        try:
            tar = tarfile.open(fileobj=stream, mode="r|", tarinfo=_BoundedTarInfo)
        except (tarfile.TarError, OSError, EOFError, InputTooLarge) as e:
            self.problems.add(name, 0, "not a readable tar archive (%s), skipped" % e)
            return
        try:
            while True:
                m = tar.next()
                if m is None:
                    break
                # A stream is read once: tarfile's list of the headers seen
                # would only grow with the number of members.
                tar.members.clear()
                if m.isfile():
                    self._member(tar, m, bundle, sink)
        except (tarfile.TarError, OSError, EOFError, ValueError) as e:
            self.problems.add(name, 0, "archive is truncated or damaged (%s); read what came "
                              "before" % e)
        except InputTooLarge as e:
            self.problems.add(name, 0, "%s; read what came before" % e)
        finally:
            tar.close()

    def _member(self, tar, m, bundle, sink):
        """One file of a bundle: its manifest, an object, or a log."""
        member = "%s:%s" % (bundle.name, m.name)
        parts = m.name.split("/")
        base = parts[-1]
        data = tar.extractfile(m)
        if base == "manifest.json":
            bundle.manifest = self._manifest(data, member)
        elif "objects" in parts[:-1]:
            # objects/<build_id>/<name>: written under our own name, never
            # under a path taken from the archive.
            bid = parts[parts.index("objects") + 1] if len(parts) > 2 else ""
            if not re.match(r"^[0-9a-f]{8,128}$", bid):
                return
            dest = os.path.join(self._objdir(bundle),
                                bid + "-" + re.sub(r"[^\w.+-]", "_", base)[:100])
            with open(dest, "wb") as out:
                shutil.copyfileobj(data, out)
            bundle.objects[bid] = dest
        elif _is_log_name(base):
            # tarfile's member reader is an io.BufferedReader: peek to sniff
            if _is_gzip(data.peek(2)[:2]):
                self._lines(open_gzip(data), member, sink, compressed=True)
            else:
                self._lines(data, member, sink)

    def _objdir(self, bundle):
        if bundle.objdir is None:
            bundle.objdir = self.tmpdir()
        return bundle.objdir

    def _manifest(self, data, member):
        text = data.read(MAX_MANIFEST + 1)
        if len(text) > MAX_MANIFEST:
            self.problems.add(member, 0, "manifest larger than %d MiB, ignored"
                              % (MAX_MANIFEST >> 20))
            return None
        manifest, why = decode_line(text if text.endswith(b"\n") else text + b"\n")
        if why or type(manifest) is not dict:
            self.problems.add(member, 0, "unreadable manifest (%s)" % (why or "not an object"))
            return None
        return manifest

    def _lines(self, f, name, sink, compressed=False):
        """The events of one JSON Lines stream.  Hot path: keep it lean.

        A line in the shim's form whose body KnownBodies knows goes to
        sink.lines in a batch as it is (PREFIX's groups, and the body's
        fields or, for a body of a known shape, its bytes); any other takes
        _careful, the batch before it handed over first."""
        self.sources.append(name)
        sink.begin(name)
        match = PREFIX.match
        known = self.known
        exact = known.exact
        shapes = known.shapes
        select = self.select
        if select is not None:
            wants_proc, wants_rest = select.wants_proc, select.wants_rest
        batch = []
        add = batch.append
        skipping = {}        # pid -> [first line, count]: newer schema
        n = 0
        progress = self.progress
        try:
            for block, cut in line_blocks(f):
                if progress is not None:
                    progress.advance(block)
                for raw in block:
                    n += 1
                    if len(raw) > MAX_LINE:
                        self.problems.add(name, n, "line longer than %d MiB, skipped"
                                          % (MAX_LINE >> 20))
                        continue
                    m = match(raw)
                    if m is not None and not skipping:
                        groups = m.groups()
                        if select is not None and not (
                                wants_proc(groups[2])
                                and wants_rest(groups[0], groups[1], groups[5])):
                            continue
                        body = groups[6]
                        seen = exact.get(body)
                        if seen is not None and seen[0] == groups[1] and \
                                seen[1] is (groups[5] is not None):
                            add((groups, seen[2]))
                            continue
                        seen = shapes.get(shape_of(body))
                        if seen is not None and seen[0] == groups[1] and \
                                seen[1] is (groups[5] is not None):
                            add((groups, (body, seen[2])))
                            continue
                    if batch:
                        sink.lines(batch)
                        batch.clear()
                    self._careful(raw if cut and raw is block[-1] else raw + b"\n", m, name, n,
                                  sink, skipping)
                if len(batch) >= 4096:
                    sink.lines(batch)
                    batch.clear()
        except (OSError, EOFError) as e:
            what = "compressed stream" if compressed else "file"
            self.problems.add(name, n + 1, "%s is truncated or damaged (%s); read the %d lines "
                              "before" % (what, e, n))
        except InputTooLarge as e:
            self.problems.add(name, n + 1, "%s; read the %d lines before" % (e, n))
        if batch:
            sink.lines(batch)
        self.lines += n
        for pid, (first, count) in skipping.items():
            if count:
                self.problems.add(name, first, "%d lines of pid %s skipped (newer schema)"
                                  % (count, pid))

    def _careful(self, raw, m, name, n, sink, skipping):
        """A line the fast path does not know: decoded, checked field by
        field (sslshim_schema), named on stderr if bad; if good and in the
        shim's form (m, PREFIX's match), its body is learnt.

        json's C scanner is called directly (json.loads spends a third of its
        time in Python-level checks around it); what it leaves after the
        object must be the newline.  Anything else takes decode_line."""
        problems = self.problems
        try:
            s = raw.decode("utf-8")
            ev, end = _SCAN(s, 0)
            if end != len(s) - 1 and s[end:].strip():
                raise ValueError("extra data after the object")
        except (ValueError, StopIteration, RecursionError):
            if not raw.strip():
                return
            ev, why = decode_line(raw)
            if why:
                problems.add(name, n, why)
                return
        if type(ev) is not dict:
            problems.add(name, n, "not an sslshim event (a JSON %s), skipped"
                         % type(ev).__name__)
            return
        kind = ev.get("ev")
        if type(kind) is not str or kind not in KNOWN_EVENTS:
            if type(kind) is str:
                problems.add(name, n, "unknown event %s, skipped" % excerpt(kind))
            else:
                problems.add(name, n, "not an sslshim event (no \"ev\" name), skipped")
            return
        if (skipping or kind == "process") and self._newer_schema(ev, kind, name, n, skipping):
            return
        wrong = field_problem(kind, ev, raw)
        if wrong:
            problems.add(name, n, "%r event with a bad field: %s; skipped" % (kind, wrong))
            return
        if self.select is not None and not self.select.wants_event(ev):
            return
        if m is not None and kind != "process":
            groups = m.groups()
            fields = self.known.learn(groups[1], groups[5] is not None, groups[6])
            if fields is not None:
                sink.lines([(groups, fields)])
                return
        sink.event(ev, n)

    def _newer_schema(self, ev, kind, name, n, skipping):
        """True for a line to skip because its process logs a schema newer
        than ours: from its process line (named once) to the next process line
        of that pid with a schema this version reads (skipping: pid -> [first
        line, lines skipped])."""
        pid = ev.get("pid") if type(ev.get("pid")) is int else None
        if kind == "process":
            v = ev.get("v")
            if _schema_ok(v):
                skipping.pop(pid, None)
                return False
            self.problems.add(name, n, "schema version %s of pid %s is not one this sslshim "
                              "reads (%d); its events in this file are skipped"
                              % (excerpt(v), pid, SCHEMA_VERSION))
            if pid is not None:
                skipping[pid] = [n, 0]
            return True
        skipped = skipping.get(pid)
        if skipped is None:
            return False
        skipped[1] += 1
        return True


def _schema_ok(v):
    return v is None or (isinstance(v, int) and 1 <= v <= SCHEMA_VERSION)


def _excerpt(raw):
    s = raw[:60].decode("utf-8", "replace").rstrip("\n")
    return repr(s) + ("..." if len(raw) > 60 else "")
