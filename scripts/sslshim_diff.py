"""sslshim diff: where does run B first differ from run A?

The case it is for: a failure that happens only under Purify or Valgrind.
Run the same scenario plainly (A) and under the tool (B), each with the shim,
and ask where the second run's connections start to do something else.

Each run is a log directory, a log file or a `sslshim collect` bundle, read
by sslshim_logs.Reader like `report` reads them.  The connections of the two
runs are matched in order of start by role, peer and SNI (see match()); for
each matched pair the rows of the connection — handshake starts, states,
messages, alerts, handshakes done, errors, misuse, undefined data, loops,
notes and the end (row_of) — are compared in order, and the first row that
differs is shown with its context, side by side.  Then what differs besides:
alerts and errors that only one side has, stacks compared by their function
names (never addresses: the two runs load objects at other places), and the
facts of the protocol — the hellos and certificates exchanged, what was
negotiated, the outcome.

What always differs between two runs is never compared: times, pids, tids,
ports (a client's own port, and a server's address when it is not what
matches), seq, conn ids, client_random, durations, byte counts and message
lengths (a signature's length varies), errno values, calls (at level io:
how often a non-blocking call would block depends on timing), and a state's
exit with ret -1 outside the error state (the same: a call that would
block).
"""
import argparse
import collections
import json
import os
import sys

from sslshim_logs import Problems, Reader, expand
from sslshim_paths import this_host
from sslshim_symbols import Symbolizer, frame_short

FORMAT_VERSION = 1
CONTEXT = 4             # rows shown before and after the first difference
SHOWN = 10              # differing pairs shown in detail (--all: every one)
FRAMES_SHOWN = 8        # function names shown per stack
COLUMN = 56             # widest A column in the side-by-side rows

DESCRIPTION = (
    "Compare two runs of the same scenario (for example plainly and under Valgrind or "
    "Purify, each with the shim): match their connections in order of start by role, peer "
    "(host and the server's port) and SNI, and for each matched pair show the first row "
    "(state, message, alert, error, ...) where B differs from A, side by side with the rows "
    "before and after it, then the alerts, errors and stacks (by function names) that differ "
    "and the differences in what was negotiated and the outcome.  Connections found in one "
    "run only are listed.  A and B are each a log directory (searched recursively), a log "
    "file, a .gz file or a `sslshim collect` bundle; - reads one of them from stdin.  "
    "Times, pids, ports, seq, conn ids, client_random, lengths and other values that differ "
    "from run to run are not compared.")
EPILOG = (
    "exit status: 0 when the runs do not differ (every connection matched, and no matched "
    "pair differs); 1 when they differ; 2 on usage errors and unreadable input (a path that "
    "does not exist or cannot be read, no log file in a directory, no event read).")


def _non_negative(text):
    if not text.isdigit():
        raise argparse.ArgumentTypeError("%r is not a number" % text)
    return int(text)


def parser():
    p = argparse.ArgumentParser(prog="sslshim diff", description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("a", metavar="A", help="the first run (the reference, e.g. the plain one)")
    p.add_argument("b", metavar="B", help="the second run (e.g. the one under the tool)")
    p.add_argument("--json", action="store_true", help="print the comparison as one JSON "
                   "document")
    p.add_argument("--context", type=_non_negative, default=CONTEXT, metavar="N",
                   help="rows shown before and after the first difference (default "
                        "%(default)s)")
    p.add_argument("--all", action="store_true",
                   help="show every differing pair in detail, not the first %d" % SHOWN)
    p.add_argument("-q", "--quiet", action="store_true",
                   help="do not list input problems on stderr")
    return p


# -- one run -------------------------------------------------------------------

class Conn:
    """One connection of a run: what identifies it, and what is compared."""

    def __init__(self, proc, cid):
        self.proc = proc               # Proc
        self.id = cid
        self.role = self.peer = self.local = self.sni = None
        self.first_ts = None
        self.order = 0                 # the order the reader met it in, a tie-break
        self.rows = []                 # (seq, key, text)
        self.facts = {}                # (group, field) -> value, in the order met
        self.alerts = []               # (key, text)
        self.errors = []               # (key, text)
        self.stacks = []               # (seq, label, frames), names after symbolize()
        self.outcome = None

    def label(self):
        """The connection as it is matched: role, peer and SNI."""
        host, port = server_end(self)
        sni = " (SNI %s)" % self.sni if self.sni else ""
        if self.role == "server":
            return "server%s for %s%s" % (" on :%s" % port if port else "",
                                          host or "an unknown client", sni)
        where = ("%s:%s" % (host if ":" not in (host or "") else "[%s]" % host, port)
                 if host and port else host or "an unknown peer")
        return "%s to %s%s" % (self.role or "connection", where, sni)

    def ref(self):
        return {"host": self.proc.host, "pid": self.proc.pid, "exe": self.proc.exe,
                "process": self.proc.name(), "conn": self.id, "role": self.role,
                "peer": self.peer, "local": self.local, "sni": self.sni,
                "label": self.label(), "first_ts": self.first_ts, "outcome": self.outcome,
                "rows": len(self.rows)}

class Proc:
    def __init__(self, host, pid):
        self.host = host
        self.pid = pid
        self.exe = None
        self.valgrind = False
        self.openssl = None
        self.config = {}

    def name(self):
        return "%s[%s]" % (os.path.basename(self.exe or "?"), self.pid)


def _split_addr(addr):
    """"host:port" or "[v6]:port" -> (host, port as a string), else (addr, None)."""
    if not addr or ":" not in addr:
        return addr or None, None
    host, _, port = addr.rpartition(":")
    if not port.isdigit():
        return addr, None
    return host.strip("[]") or None, port


def server_end(c):
    """(the peer's host, the server's port): for a client its peer's address,
    for a server its client's host and its own (listening) port."""
    host, port = _split_addr(c.peer)
    if c.role == "server":
        port = _split_addr(c.local)[1]
    return host, port


class Run:
    """The connections of one run, read by sslshim_logs.Reader."""

    def __init__(self, name, path):
        self.name = name               # "A" or "B"
        self.path = path
        self.procs = {}                # (host, pid, instance) -> Proc
        self.instance = {}             # (host, pid) -> [instance number, its start's ts]
        self.conns = {}                # (host, pid, instance, conn) -> Conn
        self.seen = set()              # (host, pid, instance, seq): duplicates
        self.events = 0
        self.duplicates = 0
        self.dropped = 0
        self.files = 0
        self.unread = None             # why the run cannot be compared
        self.modules = []              # (host, path, build_id)

    def on_event(self, source, ev):
        kind = ev["ev"]
        hp = (ev["host"], ev["pid"])
        seq = ev.get("seq")
        inst = self.instance.setdefault(hp, [0, None])
        if kind == "process" and seq == 1:
            if inst[1] is not None and inst[1] != ev["ts"]:
                inst[0] += 1                  # a pid used again: a new process
            inst[1] = ev["ts"]                # (the same start again: a duplicate)
        pkey = hp + (inst[0],)
        if seq is not None:
            if pkey + (seq,) in self.seen:
                self.duplicates += 1
                return
            self.seen.add(pkey + (seq,))
        self.events += 1
        p = self.procs.get(pkey)
        if p is None:
            p = self.procs[pkey] = Proc(ev["host"], ev["pid"])
        if kind == "process":
            p.exe = ev.get("exe") or p.exe
            p.valgrind = bool(ev.get("valgrind"))
            p.openssl = ev.get("openssl")
            p.config = ev.get("config") or {}
            return
        if kind == "module":
            self.modules.append((ev["host"], ev.get("path"), ev.get("build_id")))
            return
        if kind == "dropped":
            self.dropped += ev.get("n") or 0
            return
        cid = ev.get("conn")
        if cid is None:
            return
        ckey = pkey + (cid,)
        c = self.conns.get(ckey)
        if c is None:
            c = self.conns[ckey] = Conn(p, cid)
            c.order = len(self.conns)
        if c.first_ts is None or ev["ts"] < c.first_ts:
            c.first_ts = ev["ts"]
        add_event(c, kind, ev)

    def ordered(self):
        """The connections in order of start."""
        return sorted(self.conns.values(), key=lambda c: (c.first_ts or "", c.order))

    def header(self):
        procs = sorted(self.procs.values(), key=lambda p: (p.host, p.pid))
        names = ", ".join(p.name() + (" under Valgrind" if p.valgrind else "")
                          for p in procs[:6])
        if len(procs) > 6:
            names += ", ..."
        return {"path": self.path, "files": self.files, "events": self.events,
                "processes": [{"host": p.host, "pid": p.pid, "exe": p.exe,
                               "valgrind": p.valgrind, "openssl": p.openssl}
                              for p in procs],
                "connections": len(self.conns), "dropped": self.dropped,
                "duplicates": self.duplicates,
                "text": "%s: %s: %d process%s (%s), %d connection%s%s" % (
                    self.name, self.path, len(procs), "" if len(procs) == 1 else "es", names,
                    len(self.conns), "" if len(self.conns) == 1 else "s",
                    ", %d lines lost (dropped events): rows may be missing" % self.dropped
                    if self.dropped else "")}

    def settings(self):
        """The shim settings its processes logged with, that decide which
        rows there are."""
        out = set()
        for p in self.procs.values():
            out.add(tuple((k, str(p.config.get(k))) for k in ("level", "mode", "stacks")
                          if k in p.config))
        return out


def read_run(name, path, problems):
    """Read one run; Run.unread says why it cannot be compared, if so."""
    run = Run(name, path)
    missing = []
    paths = expand([path], problems, missing=missing)
    run.files = len(paths)
    reader = Reader(problems)
    try:
        reader.read(paths, run.on_event)
        for c in run.conns.values():
            c.rows.sort(key=lambda r: r[0])
            c.stacks.sort(key=lambda s: s[0])
        symbolize(run, reader)
    finally:
        reader.close()
    if missing or reader.unreadable:
        run.unread = "cannot read %s" % ", ".join((missing + reader.unreadable)[:5])
    elif not paths:
        run.unread = "no log files in %s" % path
    elif not run.events:
        run.unread = "no events read from %s" % path
    return run


def symbolize(run, reader):
    """Each stack as its function names: recorded in the process, else from
    addr2line on the object (a bundle's copy, or this host's file of the
    same build id), else the object's name and offset."""
    sym = Symbolizer(this_host())
    for host, path, bid in run.modules:
        sym.add_module(host, path, bid)
    for b in reader.bundles:
        sym.add_objects(b.objects)
    stacks = [(c.proc.host, s) for c in run.conns.values() for s in c.stacks]
    for host, (seq, label, frames) in stacks:
        sym.want(host, frames)
    sym.resolve_pending()
    for c in run.conns.values():
        c.stacks = [(seq, label, tuple(frame_short(sym.frame(c.proc.host, fr))
                                       for fr in frames))
                    for seq, label, frames in c.stacks]


# -- what is compared ------------------------------------------------------------

def _seq(ev):
    seq = ev.get("seq")
    return seq if type(seq) is int else 0


def _reasons(ev):
    return tuple((q.get("reason") or q.get("code") or "?") for q in ev.get("queue") or ()
                 if isinstance(q, dict))


def _verify_text(v):
    if isinstance(v, dict):
        if v.get("text") is None and v.get("code") is None:
            return None
        return "%s (%s)" % (v.get("text"), v.get("code"))
    return v


def _cert_text(cert):
    if not isinstance(cert, dict):
        return None
    return "%s, issuer %s, sha256 %s" % (cert.get("subject"), cert.get("issuer"),
                                         (cert.get("sha256") or "?")[:16])


def row_of(ev):
    """(key compared, text shown) for an event of a connection, or None for
    one that is not a row (hello, certs: facts; call, data: timing)."""
    kind = ev["ev"]
    if kind == "handshake_start":
        return (("start", ev.get("n"), ev.get("entry")),
                "start handshake %s via %s" % (ev.get("n"), ev.get("entry") or "libssl"))
    if kind == "state":
        if ev.get("where") == "exit":
            ret = ev.get("ret")
            if ret == -1 and ev.get("state") != "error":
                return None                 # would block: how often depends on timing
            return (("exit", ev["state"], ret), "exit %s, ret %s" % (ev["state"], ret))
        return (("state", ev["state"]), "state %s" % ev["state"])
    if kind == "msg":
        what = {"change_cipher_spec": "ChangeCipherSpec", "alert": "alert"}.get(
            ev.get("type"), ev.get("hs") or ev.get("type"))
        return (("msg", ev["dir"], ev.get("type"), ev.get("hs"), ev.get("version")),
                "msg %s %s%s" % (ev["dir"], what,
                                 " (%s)" % ev["version"] if ev.get("version") else ""))
    if kind == "alert":
        return (("alert", ev["dir"], ev.get("level"), ev["desc"]),
                "alert %s %s %s" % (ev["dir"], ev.get("level"), ev["desc"]))
    if kind == "handshake_done":
        fields = tuple(ev.get(k) for k in ("version", "cipher", "group", "alpn", "resumed"))
        return (("done",) + fields,
                "done %s %s%s%s%s" % (ev.get("version"), ev.get("cipher"),
                                      " " + ev["group"] if ev.get("group") else "",
                                      " alpn " + ev["alpn"] if ev.get("alpn") else "",
                                      " resumed" if ev.get("resumed") else ""))
    if kind == "error":
        reasons = _reasons(ev)
        return (("error", ev.get("fn"), ev.get("err"), reasons),
                "error %s %s%s" % (ev.get("fn"), ev.get("err"),
                                   ": " + "; ".join(reasons) if reasons else ""))
    if kind == "misuse":
        return (("misuse", ev.get("kind"), ev.get("fn")),
                "misuse %s in %s" % (ev.get("kind"), ev.get("fn")))
    if kind == "undefined_data":
        return (("undefined", ev.get("fn"), ev.get("len"), ev.get("offset")),
                "undefined_data %s of %s bytes at %s" % (ev.get("fn"), ev.get("len"),
                                                         ev.get("offset")))
    if kind == "loop":
        return (("loop", ev.get("kind")), "loop %s" % ev.get("kind"))
    if kind == "note":
        return (("note", ev.get("text")), "note %s" % ev.get("text"))
    if kind == "conn_end":
        return (("end", ev.get("outcome"), ev.get("app_data")),
                "end outcome %s, %s" % (ev.get("outcome"), "application data"
                                        if ev.get("app_data") else "no application data"))
    return None


# hello fields that are not what the hello said: the common ones, and the
# two that name its group of facts
_NOT_HELLO = frozenset(("ts", "ev", "host", "pid", "tid", "seq", "conn", "dir", "hs"))


def _fact_value(v):
    if isinstance(v, list):
        return ", ".join(str(x) for x in v)
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True)
    return v


def add_event(c, kind, ev):
    row = row_of(ev)
    if row is not None:
        c.rows.append((_seq(ev), row[0], row[1]))
    f = c.facts
    if kind == "handshake_start":
        if c.role is None:
            c.role, c.peer, c.local, c.sni = (ev.get("role"), ev.get("peer"), ev.get("local"),
                                              ev.get("sni"))
        for k in ("min_version", "max_version"):
            f[("handshake_start", k)] = ev.get(k)
    elif kind == "conn_end":
        c.role = c.role or ev.get("role")
        c.peer = c.peer or ev.get("peer")
        c.sni = c.sni or ev.get("sni")
        c.outcome = ev.get("outcome")
        for k in ("outcome", "app_data", "handshakes", "last_alert", "last_state"):
            f[("conn_end", k)] = ev.get(k)
    elif kind == "handshake_done":
        for k in ("version", "cipher", "group", "alpn", "resumed", "ems", "sni"):
            f[("handshake_done", k)] = ev.get(k)
        f[("handshake_done", "verify")] = _verify_text(ev.get("verify"))
        f[("handshake_done", "peer_cert")] = _cert_text(ev.get("peer_cert"))
        f[("handshake_done", "local_cert")] = _cert_text(ev.get("local_cert"))
        c.sni = c.sni or ev.get("sni")
    elif kind == "hello":
        group = "%s %s" % (ev["hs"], ev["dir"])
        for k, v in ev.items():
            if k not in _NOT_HELLO:
                f[(group, k)] = _fact_value(v)
    elif kind == "certs":
        f[("certificates %s" % ev["dir"], "chain")] = "; ".join(
            _cert_text(x) or "?" for x in ev.get("chain") or ())
    if kind == "alert":
        key = (ev["dir"], ev.get("level"), ev["desc"], ev.get("state"))
        c.alerts.append((key, "%s %s %s in state %s" % key))
    elif kind == "error":
        reasons = _reasons(ev)
        key = (ev.get("fn"), ev.get("err"), reasons, ev.get("state"))
        extra = ["state %s" % ev.get("state")]
        if ev.get("errno"):
            extra.append("errno %s %s" % (ev.get("errno"), ev.get("sys") or ""))
        if ev.get("eof"):
            extra.append("the peer closed without close_notify")
        c.errors.append((key, "%s %s%s (%s)" % (
            ev.get("fn"), ev.get("err"), ": " + "; ".join(reasons) if reasons else "",
            ", ".join(x.strip() for x in extra))))
    for field in ("stack", "other_stack"):
        frames = ev.get(field)
        if frames and row is not None:
            label = row[1] + (" (other thread)" if field == "other_stack" else "")
            c.stacks.append((_seq(ev), label, frames))


# -- matching ------------------------------------------------------------------

# Connections are matched on these keys, the strictest first: a connection
# left over by one is tried on the next.  The program's name can differ under
# a tool that instruments it (Purify writes prog.purify); the server's port
# when each run started its own server.
MATCH_LEVELS = (
    ("same program, role, peer and SNI",
     lambda c: (os.path.basename(c.proc.exe or ""), c.role) + server_end(c) + (c.sni,)),
    ("same role, peer and SNI; other program",
     lambda c: (c.role,) + server_end(c) + (c.sni,)),
    ("same role, peer host and SNI; other port",
     lambda c: (c.role, server_end(c)[0], c.sni)),
)


def match(conns_a, conns_b):
    """[(a, b, how)] in A's order of start, and the connections of each run
    left unmatched.  Within a key, the n-th connection of A is paired with
    the n-th of B."""
    left_a, left_b = list(conns_a), list(conns_b)
    pairs = []
    for how, key in MATCH_LEVELS:
        queues = collections.defaultdict(collections.deque)
        for c in left_b:
            queues[key(c)].append(c)
        taken = set()
        rest_a = []
        for c in left_a:
            q = queues.get(key(c))
            if q:
                b = q.popleft()
                taken.add(id(b))
                pairs.append((c, b, how))
            else:
                rest_a.append(c)
        left_a = rest_a
        left_b = [c for c in left_b if id(c) not in taken]
    order = {id(c): i for i, c in enumerate(conns_a)}
    pairs.sort(key=lambda p: order[id(p[0])])
    return pairs, left_a, left_b


# -- comparing a pair ------------------------------------------------------------

def first_difference(rows_a, rows_b):
    """The index of the first row whose key differs (or where one side ends
    first), or None when both have the same rows."""
    for i, (ra, rb) in enumerate(zip(rows_a, rows_b)):
        if ra[1] != rb[1]:
            return i
    if len(rows_a) != len(rows_b):
        return min(len(rows_a), len(rows_b))
    return None


def _only(items_a, items_b):
    """The items (key, text) of each side that the other does not have, as
    many times as they are missing, in order."""
    count_b = collections.Counter(k for k, _ in items_b)
    count_a = collections.Counter(k for k, _ in items_a)
    only_a, only_b = [], []
    for k, text in items_a:
        if count_b[k] > 0:
            count_b[k] -= 1
        else:
            only_a.append(text)
    for k, text in items_b:
        if count_a[k] > 0:
            count_a[k] -= 1
        else:
            only_b.append(text)
    return only_a, only_b


def _stacks_by_label(stacks):
    """{(label, n-th time): names}"""
    out, seen = {}, collections.Counter()
    for _, label, names in stacks:
        seen[label] += 1
        out[(label, seen[label])] = names
    return out


def compare_stacks(a, b):
    sa, sb = _stacks_by_label(a.stacks), _stacks_by_label(b.stacks)
    out = []
    for key in list(sa) + [k for k in sb if k not in sa]:
        na, nb = sa.get(key), sb.get(key)
        if na != nb:
            out.append({"event": key[0], "a": list(na) if na is not None else None,
                        "b": list(nb) if nb is not None else None})
    return out


def compare_facts(a, b):
    """[{group, field, a, b}] of the facts that differ, in the order of the
    groups' first appearance in A, then B."""
    groups = list(dict.fromkeys([g for g, _ in a.facts] + [g for g, _ in b.facts]))
    out = []
    for group in groups:
        fields = dict.fromkeys([k for g, k in a.facts if g == group]
                               + [k for g, k in b.facts if g == group])
        for field in fields:
            va, vb = a.facts.get((group, field)), b.facts.get((group, field))
            if va != vb:
                out.append({"group": group, "field": field, "a": va, "b": vb})
    return out


def compare(a, b, how, context):
    first = first_difference(a.rows, b.rows)
    alerts = _only(a.alerts, b.alerts)
    errors = _only(a.errors, b.errors)
    stacks = compare_stacks(a, b)
    facts = compare_facts(a, b)
    differs = bool(first is not None or alerts[0] or alerts[1] or errors[0] or errors[1]
                   or stacks or facts)
    pair = {"a": a.ref(), "b": b.ref(), "match": how, "differs": differs,
            "first_row": None, "first": None, "rows": [],
            "alerts": {"only_a": alerts[0], "only_b": alerts[1]},
            "errors": {"only_a": errors[0], "only_b": errors[1]},
            "stacks": stacks, "facts": facts}
    if first is not None:
        text = lambda rows, i: rows[i][2] if i < len(rows) else None
        pair["first_row"] = first + 1
        pair["first"] = {"a": text(a.rows, first), "b": text(b.rows, first)}
        end = min(max(len(a.rows), len(b.rows)), first + context + 1)
        for i in range(max(0, first - context), end):
            pair["rows"].append({"row": i + 1, "a": text(a.rows, i), "b": text(b.rows, i),
                                 "differs": i == first})
    return pair


def diff(run_a, run_b, context=CONTEXT):
    """The comparison of two runs, as one document."""
    pairs, only_a, only_b = match(run_a.ordered(), run_b.ordered())
    compared = [compare(a, b, how, context) for a, b, how in pairs]
    differ = [p for p in compared if p["differs"]]
    notes = []
    sa, sb = run_a.settings(), run_b.settings()
    if sa != sb:
        words = lambda s: "; ".join(", ".join("%s %s" % kv for kv in t) for t in sorted(s))
        notes.append("the runs logged with other settings (A: %s; B: %s): rows that one "
                     "level or mode writes and the other does not are differences too"
                     % (words(sa) or "?", words(sb) or "?"))
    summary = {"matched": len(compared), "differ": len(differ),
               "same": len(compared) - len(differ), "only_a": len(only_a),
               "only_b": len(only_b)}
    return {"format": FORMAT_VERSION, "a": run_a.header(), "b": run_b.header(),
            "notes": notes, "pairs": compared,
            "only_a": [c.ref() for c in only_a], "only_b": [c.ref() for c in only_b],
            "summary": summary,
            "differ": bool(differ or only_a or only_b)}


# -- text ----------------------------------------------------------------------

def _cut(text, width):
    if text is None:
        return ""
    return text if len(text) <= width else text[:width - 3] + "..."


def _show(v):
    if v is None:
        return "-"
    if v is True or v is False:
        return "yes" if v else "no"
    return str(v)


def _names(names):
    return " < ".join(names[:FRAMES_SHOWN]) + (" < ..." if len(names) > FRAMES_SHOWN else "")


def fact_lines(facts):
    """A group of facts that one side does not have at all (a message it
    never got to) is one line; other differences one line each."""
    have = {"a": set(), "b": set()}
    for f in facts:
        for side in ("a", "b"):
            if f[side] is not None:
                have[side].add(f["group"])
    out = []
    missing = collections.OrderedDict()
    for f in facts:
        for side, other in (("a", "b"), ("b", "a")):
            if f["group"] in have[side] and f["group"] not in have[other]:
                missing.setdefault(side, []).append(f["group"])
    for side, groups in missing.items():
        out.append("only %s has: %s" % (side.upper(), ", ".join(dict.fromkeys(groups))))
    for f in facts:
        if f["group"] in have["a"] and f["group"] in have["b"]:
            out.append("%s %s: A %s | B %s" % (f["group"], f["field"], _show(f["a"]),
                                              _show(f["b"])))
    return out


def render(doc, out, show_all=False):
    w = out.write
    w(doc["a"]["text"] + "\n")
    w(doc["b"]["text"] + "\n")
    for note in doc["notes"]:
        w("note: %s\n" % note)
    shown = 0
    for p in doc["pairs"]:
        if not p["differs"]:
            continue
        a, b = p["a"], p["b"]
        if shown >= SHOWN and not show_all:
            w("\n%s: differs (A %s conn %s, B %s conn %s), first at row %s\n" % (
                a["label"], a["process"], a["conn"], b["process"], b["conn"],
                p["first_row"] or "-"))
            continue
        shown += 1
        w("\n%s\n" % a["label"])
        if b["label"] != a["label"]:
            w("  matched with %s (%s)\n" % (b["label"], p["match"]))
        w("  A: %s conn %s, %d rows, outcome %s\n" % (a["process"], a["conn"], a["rows"],
                                                    _show(a["outcome"])))
        w("  B: %s conn %s, %d rows, outcome %s\n" % (b["process"], b["conn"], b["rows"],
                                                    _show(b["outcome"])))
        if p["first_row"] is None:
            w("  the rows are the same (states, messages, alerts, errors, outcome)\n")
        else:
            w("  first difference at row %d:\n" % p["first_row"])
            width = min(COLUMN, max([len(r["a"] or "") for r in p["rows"]] + [len("A")]))
            w("    %5s  %-*s  %s\n" % ("", width, "A", "B"))
            ended = {"a": False, "b": False}
            for r in p["rows"]:
                cells = []
                for side in ("a", "b"):
                    t = r[side]
                    if t is None and not ended[side]:
                        t = "(no more rows)"
                        ended[side] = True
                    cells.append(t)
                w("%s %5d  %-*s  %s\n" % ("  >" if r["differs"] else "   ", r["row"], width,
                                          _cut(cells[0], width), cells[1] or ""))
        for what in ("alerts", "errors"):
            for side in ("a", "b"):
                for t in p[what]["only_" + side]:
                    w("  %s only in %s: %s\n" % (what[:-1], side.upper(), t))
        for st in p["stacks"]:
            if st["a"] is None or st["b"] is None:
                side = "A" if st["b"] is None else "B"
                w("  stack of %s (only in %s): %s\n" % (st["event"], side,
                                                      _names(st["a"] or st["b"])))
            else:
                w("  stack of %s differs:\n    A: %s\n    B: %s\n" % (
                    st["event"], _names(st["a"]), _names(st["b"])))
        for line in fact_lines(p["facts"]):
            w("  %s\n" % line)
    if doc["only_a"] or doc["only_b"]:
        w("\n")
    for side in ("a", "b"):
        for c in doc["only_" + side]:
            w("only in %s: %s (%s conn %s, %d rows, outcome %s)\n" % (
                side.upper(), c["label"], c["process"], c["conn"], c["rows"],
                _show(c["outcome"])))
    s = doc["summary"]
    if not doc["differ"]:
        w("\nno differences: ")
    else:
        w("\n")
    w("%d connection%s matched, %d differ%s, %d the same; %d only in A, %d only in B\n" % (
        s["matched"], "" if s["matched"] == 1 else "s", s["differ"],
        "s" if s["differ"] == 1 else "", s["same"], s["only_a"], s["only_b"]))


def _text_stdout():
    # Peer-supplied strings (SNI, certificate names) may not be encodable in
    # the terminal's charset: never fail on them.
    try:
        sys.stdout.reconfigure(errors="backslashreplace")
    except (AttributeError, ValueError):
        pass


def main(argv):
    p = parser()
    args = p.parse_args(argv)
    if args.a == "-" and args.b == "-":
        p.print_usage(sys.stderr)
        sys.stderr.write("sslshim diff: error: only one of A and B can be - (stdin)\n")
        return 2
    problems = Problems(quiet=args.quiet)
    runs = [read_run("A", args.a, problems), read_run("B", args.b, problems)]
    problems.finish()
    unread = ["%s: %s" % (r.name, r.unread) for r in runs if r.unread]
    if unread:
        for u in unread:
            sys.stderr.write("sslshim diff: %s\n" % u)
        return 2
    doc = diff(runs[0], runs[1], context=args.context)
    if args.json:
        sys.stdout.write(json.dumps(doc, separators=(",", ":"), default=str) + "\n")
    else:
        _text_stdout()
        render(doc, sys.stdout, show_all=args.all)
    return 1 if doc["differ"] else 0
