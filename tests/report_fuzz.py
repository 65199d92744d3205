#!/usr/bin/env python3
"""A mutating fuzzer for `sslshim report` (issue 12: never harm the program,
and a report never dies of the logs it reads).

Seed logs come from real programs run under the shim: the test fixtures as
client and server, good connections and failing ones (unknown CA, a record
corrupted by a proxy and the reconnect loop that follows, a renegotiation
loop, an SSL used after fork, protocol versions that do not meet, a server
that hangs up mid-handshake, a missing client certificate, level `data`),
plus one line of each event those runs do not write.  Each
iteration takes a window of 20-60 lines of them and mutates it at the byte,
line and JSON level: flipped bytes, truncation, lines duplicated, deleted,
moved and mixed from other processes, fields of the wrong type, huge
numbers, deep nesting, invalid UTF-8, NULs, very long strings, values
swapped between events, NaN, gzip'd and damaged, bundled in a tar.

Mutated logs are reported in batches, in this process, through the command's
own entry point (sslshim_cli.main), each batch with --html and either --json
or (every other batch) as text with --all.  A pass is an exit status of 0
(nothing failed), 1 (a failure found) or 2 with "no events read"; a failure
is anything else: an exception, a run over RUN_TIMEOUT seconds, --json
output that is not one strict JSON document.  A failure prints the seed
and iterations and keeps the inputs (--keep, default
build/tests/fuzz-failures/) with the command that reproduces it.

So that the reader's limits are reached with small inputs, the fuzzer lowers
them: lines over 16 KiB are overlong (1 MiB in the command), compressed input
may expand 256 KiB past its ratio (16 MiB).  addr2line is not run (PATH is
emptied in the workers): one process per report would take most of the time.

Deterministic: iteration I of seed S is made by random.Random("S:I") from
the seed logs alone, so `--seed S --only I` remakes it, given the same seed
logs: --seed-logs DIR reads them from DIR (a run that fails keeps the ones it
made in KEEP/seed-S-logs).

Usage: report_fuzz.py [--iterations N] [--seed S] [--jobs J] [--batch B]
                      [--seed-logs DIR] [--keep DIR] [--only I]
Exit status: 0 no failure, 1 failures, 2 the seed logs could not be made.
"""
import argparse
import contextlib
import glob
import gzip
import io
import json
import multiprocessing
import os
import random
import resource
import shutil
import signal
import sys
import tarfile
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lib  # noqa: E402

# The scripts under test: the tree's, or another copy (to check that a test
# fails on an older version).
SCRIPTS = os.environ.get("SSLSHIM_TEST_SCRIPTS") or os.path.join(lib.ROOT, "scripts")
COMMAND = os.path.join(SCRIPTS, "sslshim")
RUN_TIMEOUT = 20            # seconds for one report run of a batch
FUZZ_MAX_LINE = 1 << 14
FUZZ_GZIP_FLOOR = 1 << 18
MAX_KEPT_FAILURES = 10


# -- seed logs -------------------------------------------------------------------

SHIM_SETTINGS = {"SSLSHIM_LEVEL": "io", "SSLSHIM_STACKS": "handshake"}


def make_seed_logs(logdir):
    """Run the fixtures under the shim into logdir: level io, stacks where
    handshakes start and where they fail."""
    c = lib.certs()
    started = []

    def start(cmd, env):
        started.append(lib.Proc(cmd, env=env))
        return started[-1].wait_for(r"PORT (\d+)").group(1)

    def server(*args):
        return start([lib.fixture("tls_server"), "--port", "0", "--cert", c["server.pem"],
                      "--key", c["server.key"], *args], lib.shim_env(logdir, **SHIM_SETTINGS))

    def client(port, *args, **settings):
        lib.run([lib.fixture("tls_client"), "--port", port, *args],
                env=lib.shim_env(logdir, **dict(SHIM_SETTINGS, **settings)), timeout=60)
    try:
        port = server("--conns", "0", "--allow-reneg")
        client(port, "--cafile", c["ca.pem"], "--count", "2", "--send", "hello\n")
        client(port, "--cafile", c["untrusted.pem"])
        client(port, "--cafile", c["ca.pem"], "--reneg", "6")
        client(port, "--cafile", c["ca.pem"], "--share-fork", "--send", "hello\n")
        client(port, "--cafile", c["ca.pem"], "--send", "data level\n", SSLSHIM_LEVEL="data")
        proxy = start([lib.fixture("corrupt_proxy"), "--listen-port", "0", "--target-port",
                       port, "--conns", "0"], lib.plain_env())
        client(proxy, "--cafile", c["ca.pem"], "--retry", "6", "--delay-ms", "10")
        client(server("--conns", "1", "--min-version", "tls1.3"), "--max-version", "tls1.2")
        client(server("--conns", "1", "--close-mid-handshake"))
        client(server("--conns", "1", "--cafile", c["ca.pem"], "--require-client-cert"),
               "--cafile", c["ca.pem"])
    finally:
        for p in started:
            p.stop()


def read_seed_logs(logdir):
    """[[line, ...] per file], each line bytes ending in a newline, plus a
    file of synthetic events the fixtures do not write."""
    files = []
    for path in sorted(glob.glob(os.path.join(logdir, "*.jsonl"))):
        with open(path, "rb") as f:
            lines = f.read().splitlines(keepends=True)
        if lines:
            files.append(lines)
    if files:
        files.append(synthetic_events(files[0][0]))
    return files


def seed_values(seeds):
    """Every plain value of the seed events (and some extremes): what
    plausible_value draws from."""
    values = [0, -1, 1, 2 ** 63, -2 ** 63, 10 ** 400, True, False, None, "", "?",
              "decrypt_error", "certificate_expired", "handshake_failure", "decode_error",
              "unexpected eof while reading", "SSL_ERROR_SYSCALL", "after_fork", "concurrent",
              "renegotiation", "reconnect", "exit", "TLSv1.2", "SSLOK "]
    for lines in seeds:
        for line in lines:
            values.extend(value for value in json.loads(line).values()
                          if isinstance(value, (str, int, bool)) and len(str(value)) < 200)
    # once each, told apart by type too (True == 1 in a set)
    return sorted({(type(v).__name__, repr(v)): v for v in values}.values(), key=repr)


def synthetic_events(process_line):
    """One of each event the seed runs do not produce, as the shim writes them."""
    head = json.loads(process_line)
    common = {k: head[k] for k in ("host", "pid", "tid")}
    frame = {"ip": "0x5561a0c02625", "obj": head.get("exe") or "/bin/true", "off": "0x4625",
             "fn": "main+0x3f"}
    bodies = [
        {"ev": "note", "text": "checkpoint"},
        {"ev": "note", "conn": 1, "text": "on a connection"},
        {"ev": "dropped", "n": 12, "reason": "write failed"},
        {"ev": "undefined_data", "conn": 1, "fn": "SSL_write", "len": 64, "offset": 3,
         "stack": [frame]},
        {"ev": "misuse", "conn": 1, "kind": "concurrent", "fn": "SSL_write", "other_tid": 7,
         "other_fn": "SSL_read", "stack": [frame], "other_stack": [frame]},
        {"ev": "loop", "kind": "reconnect", "peer": "127.0.0.1:443", "sni": "example.org",
         "count": 5, "window_s": 10, "failed": 5, "first_ts": "2026-01-01T00:00:00.000000Z",
         "last_alert": "bad_record_mac", "stack": [frame]},
        {"ev": "module", "path": "/nonexistent/libfoo.so", "base": "0x7f0000000000",
         "build_id": "ab" * 20},
    ]
    lines = [process_line]
    for seq, body in enumerate(bodies, 2):
        ev = dict({"ts": "2026-01-01T00:00:%02d.000000Z" % seq}, **body)
        ev.update(common, seq=seq)
        lines.append((json.dumps(ev, separators=(",", ":")) + "\n").encode())
    return lines


# -- mutations ----------------------------------------------------------------------

# The log format (DESIGN.md, "Log format"), written out here so that the
# fuzzer does not depend on the module it tests.
KINDS = ("process", "conn_new", "handshake_start", "state", "msg", "alert", "handshake_done",
         "call", "data", "error", "loop", "misuse", "conn_end", "module", "undefined_data",
         "dropped", "note")
FIELD_NAMES = (
    "ts", "ev", "host", "pid", "tid", "seq", "conn", "v", "exe", "argv", "ppid", "uid",
    "openssl", "libssl", "shim", "config", "valgrind", "ctx", "role", "peer", "local", "sni",
    "n", "attempt", "entry", "stack", "state", "where", "ret", "dir", "type", "hs", "len",
    "version", "level", "desc", "code", "text", "line", "cipher", "group", "alpn", "resumed",
    "ms", "client_random", "verify", "ems", "ktls", "peer_cert", "local_cert", "fn", "bytes",
    "err", "us", "hex", "errno", "sys", "queue", "kind", "count", "window_s", "failed",
    "first_ts", "last_alert", "other_tid", "other_fn", "parent_pid", "other_stack",
    "handshakes", "app_data", "bytes_in", "bytes_out", "reads", "writes", "alerts_sent",
    "alerts_recv", "last_state", "outcome", "path", "base", "build_id", "offset", "reason")
HUGE_INTS = (2 ** 31, 2 ** 63, 2 ** 64 + 1, -2 ** 63 - 1, 10 ** 100, 10 ** 4000)
TRICKY_STRINGS = ("", "x", "\x00", "\ud800", "\udfff\ud800", "\u2028", "é" * 50, "%s%d{0}",
                  "../../../etc/passwd", "/dev/zero", "/dev/stdin", "<script>x</script>",
                  "0x", "0xzz", "0x" + "f" * 40, "-1", "2026-13-45T99:99:99.999999Z",
                  "0000-00-00T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "\r\n\t",
                  "SSLv3/TLS read server hello", "fatal", "sent", "recv", "client", "server")


def hostile_value(rng, depth=0):
    """A JSON value of a random kind, chosen to hurt."""
    kind = rng.randrange(12)
    if kind == 0:
        return rng.choice((-1, 0, 1, 7, -2))
    if kind == 1:
        return rng.choice(HUGE_INTS)
    if kind == 2:
        return rng.choice((1.5, -0.0, 1e308, 5e-324))
    if kind == 3:
        return rng.choice(TRICKY_STRINGS)
    if kind == 4:
        return rng.choice("abc\u00e9\x01") * rng.choice((100, 2000, 20000))
    if kind == 5:
        return rng.choice((None, True, False))
    if kind == 6:
        return rng.choice(([], [1], ["a"], [None], [[]], [{}], list(range(300))))
    if kind == 7:
        return rng.choice(({}, {"a": 1}, {"ip": 1, "off": []}, {"": None}))
    if kind == 8:
        return nested(rng.choice((10, 200, 990)))
    if kind == 9 and depth < 2:
        return [hostile_value(rng, depth + 1) for _ in range(rng.randrange(1, 4))]
    if kind == 10 and depth < 2:
        return {rng.choice(("ip", "obj", "off", "fn", "reason", "subject", "code", "text")):
                hostile_value(rng, depth + 1) for _ in range(rng.randrange(1, 4))}
    return rng.choice(TRICKY_STRINGS)


def nested(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


def _decoded(line):
    try:
        ev = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return ev if isinstance(ev, dict) else None


def _encoded(ev):
    try:
        return (json.dumps(ev, separators=(",", ":")) + "\n").encode("utf-8",
                                                                    "surrogatepass")
    except (ValueError, RecursionError):
        return None


def _pick_event(lines, rng):
    """(index, event) of a line that decodes to an object, or (None, None)."""
    for _ in range(8):
        if not lines:
            break
        i = rng.randrange(len(lines))
        ev = _decoded(lines[i])
        if ev is not None:
            return i, ev
    return None, None


def _with_event(mutate_event):
    """A line mutation from an event mutation: decode one line, change it,
    write it back."""
    def mutation(lines, rng, ctx):
        i, ev = _pick_event(lines, rng)
        if ev is None:
            return lines
        mutate_event(ev, rng, ctx)
        out = _encoded(ev)
        if out is not None:
            lines[i] = out
        return lines
    mutation.__name__ = mutate_event.__name__
    return mutation


def _field(ev, rng, ctx):
    """A field of ev to mutate: mostly one the report reads."""
    if ev and rng.random() < 0.6:
        return rng.choice(list(ev))
    return rng.choice(ctx["field_names"])


@_with_event
def wrong_type(ev, rng, ctx):
    ev[_field(ev, rng, ctx)] = hostile_value(rng)


@_with_event
def plausible_value(ev, rng, ctx):
    """A value of the right type from elsewhere: a role where a direction is
    expected, a state name as a peer, a negative count, an integer of 400
    digits: what type checks let through."""
    ev[_field(ev, rng, ctx)] = rng.choice(ctx["values"])


@_with_event
def delete_field(ev, rng, ctx):
    if ev:
        del ev[rng.choice(list(ev))]


@_with_event
def other_kind(ev, rng, ctx):
    ev["ev"] = rng.choice(ctx["kinds"] + ["telepathy", "", None, 5, ["state"]])


@_with_event
def swap_values_within(ev, rng, ctx):
    keys = list(ev)
    if len(keys) > 1:
        a, b = rng.sample(keys, 2)
        ev[a], ev[b] = ev[b], ev[a]


def swap_values_between(lines, rng, ctx):
    """The value of one event's field given to another event (same or other key)."""
    i, a = _pick_event(lines, rng)
    j, b = _pick_event(lines, rng)
    if a is None or b is None or not a or not b:
        return lines
    ka = rng.choice(list(a))
    kb = ka if ka in b and rng.random() < 0.5 else rng.choice(list(b))
    a[ka], b[kb] = b[kb], a[ka]
    for index, ev in ((i, a), (j, b)):
        out = _encoded(ev)
        if out is not None:
            lines[index] = out
    return lines


@_with_event
def nested_leaf(ev, rng, ctx):
    """Something wrong inside a stack, an error queue, a certificate, argv..."""
    containers = [k for k, v in ev.items() if isinstance(v, (list, dict)) and v]
    if not containers:
        ev[rng.choice(("stack", "queue", "peer_cert", "verify", "argv", "config"))] = \
            hostile_value(rng)
        return
    value = ev[rng.choice(containers)]
    if isinstance(value, list):
        k = rng.randrange(len(value))
        item = value[k]
        if isinstance(item, dict) and item and rng.random() < 0.7:
            item[rng.choice(list(item))] = hostile_value(rng)
        else:
            value[k] = hostile_value(rng)
    else:
        value[rng.choice(list(value))] = hostile_value(rng)


@_with_event
def identity_clash(ev, rng, ctx):
    """conn, pid, host, seq or ts taken from elsewhere or made odd."""
    key = rng.choice(("conn", "pid", "host", "seq", "ts", "tid"))
    ev[key] = rng.choice((0, 1, 2, -1, 2 ** 64, "vm", "", "db-7",
                          "2026-01-01T00:00:00.000000Z", "2026-01-01T00:00:00Z",
                          "2026-02-30T25:61:61.5Z", "1970-01-01T00:00:00.000000Z",
                          "9999-12-31T23:59:59.999999Z"))


def duplicate_line(lines, rng, ctx):
    if lines:
        i = rng.randrange(len(lines))
        lines[i:i] = [lines[i]] * rng.choice((1, 1, 2, 30))
    return lines


def delete_lines(lines, rng, ctx):
    if lines:
        i = rng.randrange(len(lines))
        del lines[i:i + rng.choice((1, 1, 3, 10))]
    return lines


def move_line(lines, rng, ctx):
    if len(lines) > 1:
        line = lines.pop(rng.randrange(len(lines)))
        lines.insert(rng.randrange(len(lines) + 1), line)
    return lines


def foreign_lines(lines, rng, ctx):
    """Lines of another process (or file) mixed in."""
    other = rng.choice(ctx["seeds"])
    i = rng.randrange(len(other))
    chunk = other[i:i + rng.randrange(1, 8)]
    at = rng.randrange(len(lines) + 1)
    lines[at:at] = chunk
    return lines


def flip_bytes(lines, rng, ctx):
    if lines:
        i = rng.randrange(len(lines))
        line = bytearray(lines[i])
        for _ in range(rng.choice((1, 1, 2, 8))):
            if line:
                line[rng.randrange(len(line))] ^= 1 << rng.randrange(8)
        lines[i] = bytes(line)
    return lines


def insert_bytes(lines, rng, ctx):
    """NULs, invalid UTF-8, stray quotes and brackets in the middle of a line."""
    if lines:
        i = rng.randrange(len(lines))
        line = lines[i]
        at = rng.randrange(len(line) + 1)
        junk = rng.choice((b"\x00", b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
                           b'"', b"\\", b"{", b"]", b"\r", b"\n", b"\\u0000", b"\\ud800",
                           b'","ev":"alert', b",", b"\xef\xbb\xbf"))
        lines[i] = line[:at] + junk + line[at:]
    return lines


def truncate(lines, rng, ctx):
    """The log cut at a byte: its last line unfinished."""
    data = b"".join(lines)
    if data:
        cut = rng.randrange(len(data))
        lines = data[:cut].splitlines(keepends=True)
    return lines


def merge_or_split(lines, rng, ctx):
    if len(lines) > 1:
        i = rng.randrange(len(lines) - 1)
        if rng.random() < 0.5:
            lines[i:i + 2] = [lines[i].rstrip(b"\n") + lines[i + 1]]
        else:
            lines[i] = lines[i].replace(b"\n", b"\r\n")
    return lines


def raw_number(lines, rng, ctx):
    """A number the JSON text cannot be: NaN, Infinity, a 5000-digit integer, 1e999."""
    i, ev = _pick_event(lines, rng)
    if ev is None:
        return lines
    key = _field(ev, rng, ctx)
    ev[key] = "@@NUMBER@@"
    out = _encoded(ev)
    if out is not None:
        number = rng.choice((b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999",
                             b"9" * 5000, b"1" + b"0" * 400, b"-0", b"1E+2"))
        lines[i] = out.replace(b'"@@NUMBER@@"', number)
    return lines


def deep_line(lines, rng, ctx):
    """Brackets nested far past any parser's recursion, alone or inside an event."""
    depth = rng.choice((1000, 1000, 5000, 5000, 200000))
    if rng.random() < 0.5:
        line = b"[" * depth + b"]" * rng.choice((0, depth)) + b"\n"
    else:
        line = (b'{"ts":"2026-01-01T00:00:00.000000Z","ev":"state","host":"h","pid":1,'
                b'"conn":1,"state":' + b"[" * depth + b"\n")
    lines.insert(rng.randrange(len(lines) + 1), line)
    return lines


def long_line(lines, rng, ctx):
    """A line longer than the reader takes (lowered to FUZZ_MAX_LINE here)."""
    size = rng.choice((FUZZ_MAX_LINE - 2, FUZZ_MAX_LINE + 1, 3 * FUZZ_MAX_LINE))
    i, ev = _pick_event(lines, rng)
    if ev is not None and rng.random() < 0.5:
        ev[_field(ev, rng, ctx)] = "x" * size
        out = _encoded(ev)
        if out is not None:
            lines[i] = out
    else:
        lines.insert(rng.randrange(len(lines) + 1),
                     b"y" * size + rng.choice((b"\n", b"")))
    return lines


def blank_lines(lines, rng, ctx):
    at = rng.randrange(len(lines) + 1)
    lines[at:at] = [rng.choice((b"\n", b"   \n", b"\r\n", b"\t\n"))] * rng.choice((1, 50))
    return lines


LINE_MUTATIONS = [
    # (mutation, weight)
    (wrong_type, 12), (plausible_value, 10), (delete_field, 4), (other_kind, 3),
    (swap_values_within, 3), (swap_values_between, 5), (nested_leaf, 6), (identity_clash, 5),
    (duplicate_line, 3), (delete_lines, 3), (move_line, 3), (foreign_lines, 3),
    (flip_bytes, 6), (insert_bytes, 5), (truncate, 2), (merge_or_split, 2), (raw_number, 3),
    (deep_line, 1), (long_line, 1), (blank_lines, 1),
]
_MUTATION_CHOICES = [m for m, weight in LINE_MUTATIONS for _ in range(weight)]


def mutated_log(rng, ctx):
    """(file name, bytes) of one mutated log: a window of a seed, mutated."""
    seed = rng.choice(ctx["seeds"])
    size = rng.randint(20, 60)
    start = 0 if rng.random() < 0.4 else rng.randrange(max(1, len(seed) - size))
    lines = list(seed[start:start + size])
    for _ in range(rng.choice((1, 1, 2, 3, 4))):
        lines = rng.choice(_MUTATION_CHOICES)(lines, rng, ctx)
    return packed(b"".join(lines), rng)


def packed(data, rng):
    """Mostly a plain .jsonl; now and then gzip'd (maybe damaged, maybe a bomb
    for the lowered floor) or inside a collect bundle."""
    roll = rng.random()
    if roll < 0.90:
        return "log.jsonl", data
    if roll < 0.96:
        compressed = gzip.compress(data, compresslevel=1, mtime=0)
        how = rng.randrange(4)
        if how == 1:
            compressed = compressed[:rng.randrange(len(compressed))]
        elif how == 2:
            compressed = bytearray(compressed)
            compressed[rng.randrange(len(compressed))] ^= 0xff
            compressed = bytes(compressed)
        elif how == 3:
            compressed += gzip.compress(b"\0" * (FUZZ_GZIP_FLOOR * 4), mtime=0)
        return "log.jsonl.gz", compressed
    return "bundle.tar.gz", bundled(data, rng)


def bundled(data, rng):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        manifest = rng.choice((b'{"sslshim_bundle":1}', b"[[[[", b"{" * 5000, b"",
                               b'{"objects":"x"}'))
        for name, body in (("b/manifest.json", manifest), ("b/logs/0/x.jsonl", data),
                           ("b/objects/%s/lib" % ("ab" * 20), b"\x7fELF" + data[:100])):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return buf.getvalue()


# -- running the report ---------------------------------------------------------------

class RunTimeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise RunTimeout("report run took longer than %d s" % RUN_TIMEOUT)


def setup_worker():
    """In each worker: the command's modules, with the limits lowered."""
    sys.path.insert(0, SCRIPTS)
    os.environ["PATH"] = ""                       # no addr2line: see the docstring
    import sslshim_logs
    if hasattr(sslshim_logs, "MAX_LINE"):
        sslshim_logs.MAX_LINE = FUZZ_MAX_LINE
        sslshim_logs.GZIP_FLOOR = FUZZ_GZIP_FLOOR
    signal.signal(signal.SIGALRM, _on_alarm)


def run_report(argv):
    """(exit status, stdout, stderr) of `sslshim report ARGV` run in this
    process; an exception other than a usage exit propagates."""
    import sslshim_cli
    out, err = io.StringIO(), io.StringIO()
    signal.setitimer(signal.ITIMER_REAL, RUN_TIMEOUT)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = sslshim_cli.main(["report"] + argv, COMMAND)
            except SystemExit as e:              # argparse: a usage error
                status = e.code
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return status, out.getvalue(), err.getvalue()


def _strict_json(text):
    def no_constant(name):
        raise ValueError("%s in --json output" % name)
    return json.loads(text, parse_constant=no_constant)


def check_batch(paths, html, as_json):
    """None if the report survives the batch, else what went wrong.  Every
    batch is written as HTML, and printed as JSON or (every other batch) as
    text with --all: one analysis per batch, all three renderings."""
    argv = (["--json"] if as_json else ["--all"]) + ["--html", html] + paths
    try:
        status, out, err = run_report(argv)
        # 0 nothing failed, 1 a failure found, 2 only for a batch of which no
        # event could be read (issue 16); any other status is the finding
        if status not in (0, 1) and not (status == 2 and err.rstrip().endswith(
                "sslshim report: no events read")):
            return "report %s exited %r: %s" % (" ".join(argv[:3]), status, err[-2000:])
        if as_json:
            _strict_json(out)
    except Exception:                                  # noqa: BLE001 - any of them is the finding
        return traceback.format_exc()
    return None


def fuzz_batch(job):
    """Make and report the mutated logs of iterations [first, last)."""
    first, last, ctx = job
    work = tempfile.mkdtemp(prefix="sslshim-fuzz-")
    try:
        paths = []
        for i in range(first, last):
            rng = random.Random("%d:%d" % (ctx["seed"], i))
            name, data = mutated_log(rng, ctx)
            path = os.path.join(work, "%d-%s" % (i, name))
            with open(path, "wb") as f:
                f.write(data)
            paths.append(path)
        problem = check_batch(paths, os.path.join(work, "report.html"),
                              as_json=(first // ctx["batch"]) % 2 == 0)
        if problem is None:
            return first, last, None, None
        return first, last, problem, keep_failure(ctx, first, last, paths, problem)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def keep_failure(ctx, first, last, paths, problem):
    where = os.path.join(ctx["keep"], "seed-%d-iterations-%d-%d" % (ctx["seed"], first, last))
    os.makedirs(where, exist_ok=True)
    for p in paths:
        shutil.copy(p, where)
    with open(os.path.join(where, "how.txt"), "w") as f:
        f.write("python3 scripts/sslshim report --json %s/*log*\n"
                "python3 tests/report_fuzz.py --seed %d --seed-logs %s --only I  (I = %d..%d)\n"
                "\n%s\n" % (where, ctx["seed"], ctx["kept_seed_dir"], first, last - 1, problem))
    return where


# -- the command -------------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=1000, help="mutated logs (default 1000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                    help="worker processes (default: 2 or the CPUs, if fewer)")
    ap.add_argument("--batch", type=int, default=16, help="mutated logs per report run")
    ap.add_argument("--seed-logs", metavar="DIR", help="read seed logs from DIR "
                    "instead of running the fixtures")
    ap.add_argument("--keep", metavar="DIR",
                    default=os.path.join(lib.BUILD, "tests", "fuzz-failures"),
                    help="where failing inputs are kept (default %(default)s)")
    ap.add_argument("--only", type=int, metavar="I", help="just iteration I")
    return ap.parse_args(argv)


def seed_logs(args, tmp):
    """The seed directory and its logs."""
    if args.seed_logs:
        return args.seed_logs, read_seed_logs(args.seed_logs)
    logdir = os.path.join(tmp, "seed-logs")
    make_seed_logs(logdir)
    return logdir, read_seed_logs(logdir)


def jobs_of(args, ctx):
    if args.only is not None:
        return [(args.only, args.only + 1, ctx)]
    return [(first, min(first + ctx["batch"], args.iterations), ctx)
            for first in range(0, args.iterations, ctx["batch"])]


def run_all(jobs, njobs):
    """Results of fuzz_batch over jobs, in workers (fork: they share the seeds)."""
    if njobs <= 1:
        setup_worker()
        yield from map(fuzz_batch, jobs)
        return
    pool = multiprocessing.get_context("fork").Pool(njobs, initializer=setup_worker)
    try:
        yield from pool.imap_unordered(fuzz_batch, jobs, chunksize=4)
    finally:
        pool.terminate()
        pool.join()


def main(argv):
    args = parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="sslshim-fuzz-seeds-")
    try:
        seed_dir, seeds = seed_logs(args, tmp)
        if not seeds:
            print("report_fuzz: no seed logs (is the shim built? make && make fixtures)",
                  file=sys.stderr)
            return 2
        # the seed logs a failure needs to be made again (made ones are temporary)
        kept_seed_dir = args.seed_logs or os.path.join(args.keep, "seed-%d-logs" % args.seed)
        ctx = {"seed": args.seed, "seeds": seeds, "seed_dir": seed_dir,
               "kept_seed_dir": kept_seed_dir, "keep": args.keep,
               "batch": max(1, args.batch), "kinds": list(KINDS),
               "field_names": list(FIELD_NAMES), "values": seed_values(seeds)}
        return fuzz(args, ctx)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fuzz(args, ctx):
    started = time.time()
    done = failures = 0
    for first, last, problem, kept in run_all(jobs_of(args, ctx), args.jobs):
        done += last - first
        if problem:
            failures += 1
            if ctx["kept_seed_dir"] != ctx["seed_dir"] and \
                    not os.path.exists(ctx["kept_seed_dir"]):
                shutil.copytree(ctx["seed_dir"], ctx["kept_seed_dir"])
            if failures <= MAX_KEPT_FAILURES:
                print("FAIL seed %d iterations %d-%d (inputs kept in %s):\n%s"
                      % (args.seed, first, last - 1, kept, problem.rstrip()), flush=True)
    secs = time.time() - started
    peak = max(resource.getrusage(who).ru_maxrss // 1024
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    print("report_fuzz: %d mutated logs, seed %d, %d failing batches, %.1f s (%.0f logs/s, "
          "%d jobs), peak worker RSS %d MB" % (done, args.seed, failures, secs,
                                                done / max(secs, 1e-9), args.jobs, peak))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
