"""From events to connections: one pass over the logs of many processes and
hosts, in memory bounded whatever the number of lines or connections.

Each event is counted once (issue 15: a central store receives some lines
twice): host, pid and seq identify an event within one process instance
(Proc), and each instance keeps the seqs it has seen as merged runs, nearly
always one.  A pid used again by a new process starts a new instance at seq
1, with a process line of another ts; a late copy of an older instance's
line is told from the newer's by its time (Proc.route).

Each connection (host, pid, instance, conn) gets a Conn.  While it is open
its lines wait in Conn.pending as read, undecoded where the reader allowed
(sslshim_logs.KnownBodies); when it ends, what decides whether it failed is
applied first (light), and only a failing connection the report shows in
full has every line applied (the first RETAIN of each kind of failure, and
every one whose other end is kept).  A connection that logs a loop or a
misuse, or more than MAX_PENDING lines, has its lines applied as they come.

Ended connections wait in a window of the last WINDOW, where the other end
of a handshake (joined by client_random, or by TCP addresses) and a fork
child's parent are found; older ones are folded into counts per endpoint, per
kind of failure and per loop (Folded), except those kept in full and the
other ends of those (pinned).  So on a log of more than WINDOW connections a
failing connection's other end is shown when it ended among the WINDOW
connections around it, or is itself a failure the report keeps: a central
store writes both ends of a handshake within moments of each other.
"""
import bisect
import calendar
import collections
import time

from sslshim_diagnose import headline, primary_problem, signature
from sslshim_explain import (MAX_CHAIN, MAX_HELLOS, norm_cert, norm_offer, norm_verify,
                             peer_label)
from sslshim_logs import KIND, body_fields, body_value, event_of

HEAD = 150            # timeline entries kept from the start of a connection...
TAIL = 250            # ...and from its end
RETAIN = 20           # failing connections kept in full per kind of failure
MAX_ERRORS = 25
TCP_JOIN_S = 10.0     # ends joined by TCP addresses must start this close in time
DONE_KEEP = ("version", "cipher", "group", "alpn", "resumed", "sni", "client_random", "verify",
             "peer_cert", "local_cert", "ms", "ts")
END_KEEP = ("outcome", "app_data", "last_state", "last_alert", "handshakes", "ms", "ts",
            "client_random", "bytes_in", "bytes_out", "alerts_sent", "alerts_recv")
MAX_PENDING = 400     # lines a connection holds undecoded before they are applied
WINDOW = 5000         # ended connections kept whole for the joins
MAX_ATTEMPTS = 5000   # attempts listed per endpoint
MAX_LISTED = 20       # instances listed per failure group
MAX_CLIENT_RANDOMS = 100000  # remembered to count the handshakes seen from both ends
# A process line is written when the process first logs, after its first
# events: its own ts may be a little later than theirs.  A line of a reused
# pid older than this before the newer instance's process line is the older's.
INSTANCE_SLACK_S = 1.0

# kinds that are a process's, not a connection's, even with a conn field
PROCESS_LEVEL = frozenset((b"process", b"module", b"dropped", b"data"))
# kinds whose handlers add to report-wide lists in input order: applied at once
AT_ONCE = frozenset((b"loop", b"misuse"))
# kinds that only fill the timeline and hellos, which a connection not shown
# in full does not keep: skipped when a connection is applied light
TIMELINE_ONLY = frozenset((b"state", b"hello", b"note"))
FAILURE_KINDS = frozenset((b"error", b"misuse", b"undefined_data"))
FULL = object()       # a pending line's tid when its body is the whole event
_JOINED = object()    # a client_random seen with two roles


class Proc:
    """One process instance: its facts, its open connections, the seqs seen."""
    __slots__ = ("key", "host", "pid", "inst", "exe", "argv", "ppid", "openssl", "libssl",
                 "shim", "config", "valgrind", "started", "sources", "first_ts", "last_ts",
                 "events", "dropped", "notes", "v", "last_source", "open", "next", "run_lo",
                 "los", "his", "start_ts", "after", "older", "first_b", "last_b")

    def __init__(self, key):
        self.key = key
        self.host, self.pid, self.inst = key
        self.exe = None
        self.argv = None
        self.ppid = None
        self.openssl = None
        self.libssl = None
        self.shim = None
        self.config = None
        self.valgrind = None
        self.started = False
        self.sources = []
        self.first_ts = None
        self.last_ts = None
        self.first_b = b"\xff"      # the earliest and latest ts, as read
        self.last_b = b""
        self.events = 0
        self.dropped = []
        self.notes = []
        self.v = None
        self.last_source = None
        self.open = {}               # conn (digits, as bytes) -> Conn
        # seqs seen: the current run [run_lo, next), earlier runs [los[i], his[i]]
        self.next = None
        self.run_lo = None
        self.los = []
        self.his = []
        self.start_ts = None         # ts of its process line with seq 1
        self.after = b""             # its lines are not older than this (INSTANCE_SLACK_S)
        self.older = None            # the instance of this host and pid before it

    @property
    def name(self):
        exe = (self.exe or "?").rsplit("/", 1)[-1]
        return "%s[%s]" % (exe, self.pid)

    def label(self, with_host=True):
        return "%s@%s" % (self.name, self.host) if with_host else self.name

    def info(self):
        return {"host": self.host, "pid": self.pid, "exe": self.exe, "argv": self.argv,
                "ppid": self.ppid, "openssl": self.openssl, "libssl": self.libssl,
                "shim": self.shim, "valgrind": self.valgrind, "config": self.config,
                "files": self.sources, "first_ts": self.first_ts, "last_ts": self.last_ts,
                "events": self.events, "dropped": self.dropped, "notes": self.notes}

    def first_seen(self, seq):
        """Record seq; False if it was seen before (a line delivered twice)."""
        nxt = self.next
        if nxt is None:
            self.run_lo, self.next = seq, seq + 1
            return True
        if seq == nxt:
            self.next = seq + 1
            return True
        if seq > nxt:                 # a gap (flight mode, lines lost): a new run
            self.los.append(self.run_lo)
            self.his.append(nxt - 1)
            self.run_lo, self.next = seq, seq + 1
            return True
        if seq >= self.run_lo:
            return False
        return self._earlier(seq)

    def _earlier(self, seq):
        """seq below the current run: in an earlier run, or a new one merged
        with its neighbours."""
        los, his = self.los, self.his
        i = bisect.bisect_right(los, seq) - 1
        if i >= 0 and his[i] >= seq:
            return False
        joins_left = i >= 0 and his[i] == seq - 1
        next_lo = los[i + 1] if i + 1 < len(los) else self.run_lo
        joins_right = next_lo == seq + 1
        if joins_right and i + 1 == len(los):          # the current run grows down
            self.run_lo = seq
            if joins_left:
                self.run_lo = los.pop(i)
                his.pop(i)
        elif joins_left and joins_right:
            his[i] = his.pop(i + 1)
            los.pop(i + 1)
        elif joins_left:
            his[i] = seq
        elif joins_right:
            los[i + 1] = seq
        else:
            los.insert(i + 1, seq)
            his.insert(i + 1, seq)
        return True

    def route(self, ts):
        """The instance of this host and pid that a line of time ts is of:
        the newest that started before it (INSTANCE_SLACK_S)."""
        p = self
        while p.older and ts < p.after:
            p = p.older
        return p


class Conn:
    __slots__ = ("proc", "id", "role", "peer", "local", "sni", "entry", "attempt", "first_ts",
                 "last_ts", "handshakes", "done", "alerts", "fatal", "errors", "n_errors",
                 "misuse", "loops", "undefined", "end", "crs", "version", "head", "tail",
                 "elided", "failing", "retained", "primary", "sig", "stacks", "calls",
                 "related", "start_stack", "source", "hello", "hellos", "chains", "verify",
                 "verify_ts", "offer", "peer_bytes", "min_version", "max_version",
                 "key_check", "pending", "close_no", "later")

    def __init__(self, proc, cid):
        self.proc = proc
        self.id = cid
        self.pending = []        # lines not applied yet; None once they are applied as read
        self.close_no = 0        # order of ending: ties in sort_key keep it
        self.later = None        # the lines of one summarized by _sketch, for Analysis.whole
        self.role = self.peer = self.local = self.sni = self.entry = None
        self.attempt = None
        self.first_ts = self.last_ts = None
        self.handshakes = 0
        self.done = None
        self.alerts = []
        self.fatal = []
        self.errors = []
        self.n_errors = 0
        self.misuse = []
        self.loops = []
        self.undefined = []
        self.end = None
        self.crs = []
        self.version = None
        self.head = []
        self.tail = None
        self.elided = 0
        self.failing = False
        self.retained = False
        self.primary = None
        self.sig = None
        self.stacks = []
        self.calls = 0
        self.related = []        # misuse seen in other processes (fork children)
        self.start_stack = None
        self.hello = None        # the version a ClientHello event was logged with
        # what the two sides said (issue 14), normalized by sslshim_explain
        self.hellos = []         # hello events: ClientHello, ServerHello, ...
        self.chains = {}         # "sent"/"recv" -> the last certificate chain passed
        self.verify = None       # the first verify result on a failure event
        self.verify_ts = None
        self.offer = None        # this side's local_offer on a failure event
        self.peer_bytes = None   # the first bytes of a peer that is not TLS (hex)
        self.min_version = None  # None: not logged, "": no limit (handshake_start)
        self.max_version = None
        self.key_check = None    # a server's: does its private key fit its certificate

    # -- what the report asks -------------------------------------------------
    def sort_key(self):
        """The order the report lists connections in."""
        return (self.first_ts or "", self.proc.host, self.proc.pid, self.id, self.close_no)

    @property
    def label(self):
        return "%s conn %s" % (self.proc.label(), self.id)

    @property
    def outcome(self):
        if self.end:
            return self.end.get("outcome") or "?"
        return "open"

    @property
    def app_data(self):
        return bool(self.end and self.end.get("app_data"))

    def endpoint(self):
        """What the connection is grouped by: the peer a client talks to, the
        address a server listens on."""
        if self.role == "server":
            src = self.peer.rsplit(":", 1)[0] if self.peer else "unknown peer"
            return "%s <- %s" % (self.local or "unknown address", src)
        sni = " (sni %s)" % self.sni if self.sni and self.peer else ""
        return "-> %s%s" % (peer_label(self.peer, self.sni), sni)

    def timeline(self):
        out = list(self.head)
        if self.tail:
            out.extend(self.tail)
        return out

    def add(self, entry):
        if len(self.head) < HEAD:
            self.head.append(entry)
            return
        if self.tail is None:
            self.tail = collections.deque(maxlen=TAIL)
        if len(self.tail) == TAIL:
            self.elided += 1
        self.tail.append(entry)

    # the lists that stay empty on most connections
    LISTS = ("alerts", "fatal", "errors", "misuse", "loops", "undefined", "head", "stacks",
             "hellos")

    def shrink(self):
        """Empty lists of an ended connection not shown in detail shared: on
        a big log, most connections wait in the window with all of them empty."""
        for name in self.LISTS:
            if not getattr(self, name):
                setattr(self, name, ())

    def trim(self):
        """Keep only the summary of a connection not shown in detail."""
        self.head = []
        self.tail = None
        self.stacks = []
        if len(self.errors) > 1:
            self.errors = self.errors[:1]
        self.alerts = [a for a in self.alerts if a.get("level") == "fatal"][:2]
        self.start_stack = None
        # the leaf certificates stay, for the other end's key comparison
        self.hellos = []
        self.chains = {d: chain[:1] for d, chain in self.chains.items()}
        self.offer = None


def parse_ts(ts, _cache={}):
    """RFC 3339 UTC with microseconds -> seconds since the epoch (float);
    None for a time that does not parse (the reader checked the form of
    every ts, not that its month has a 31st)."""
    try:
        base = _cache.get(ts[:16])
        if base is None:
            base = calendar.timegm(time.strptime(ts[:16], "%Y-%m-%dT%H:%M"))
            if len(_cache) < 100000:         # one entry per minute of the logs
                _cache[ts[:16]] = base
        return base + float(ts[17:].rstrip("Z"))
    except (TypeError, ValueError):
        return None


def format_ts(t):
    """Seconds since the epoch -> the shim's RFC 3339 form, as bytes."""
    secs = int(t // 1)
    return ("%s.%06dZ" % (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)),
                          int(round((t - secs) * 1e6)) % 1000000)).encode()


class Folded:
    """What the report says of every connection, kept as counts: ended
    connections are folded in when they leave the window (or at the end),
    each once.  Lists the report shows (attempts per endpoint, instances per
    kind of failure) keep only their first entries in the report's order."""

    def __init__(self, cert=norm_cert):
        self.cert = cert           # a logged certificate as the report keeps it (shared)
        self.connections = 0
        self.failed = 0
        self.open = 0
        self.outcomes = collections.Counter()
        self.endpoints = {}        # (role, endpoint) -> counts, attempts
        self.sigs = {}             # failure signature -> counts, first and last, instances
        self.loops = {}            # (proc key, peer, sni) -> [connections, failing, last ts]
        self.client_randoms = {}   # client_random -> the role of the end seen, or _JOINED
        self.strings = {}          # outcomes and headlines of attempts, each string once
        self.ok_facts = {}         # what attempts that ended well negotiated, each once
        self.done_certs = {}       # handshake_done bytes from "peer_cert" on -> its certificates
        self.joined = 0            # handshakes seen from both ends

    def add(self, c):
        self.connections += 1
        outcome = c.outcome
        self.outcomes[outcome] += 1
        failing = c.failing
        if failing:
            self.failed += 1
        elif c.end is None:
            self.open += 1
        key = c.sort_key()
        self._endpoint(c, outcome, key)
        if failing:
            self._signature(c, key)
        lk = (c.proc.key, c.peer, c.sni)
        counts = self.loops.get(lk)
        if counts is None:
            counts = self.loops[lk] = [0, 0, ""]
        counts[0] += 1
        counts[1] += failing
        counts[2] = max(counts[2], c.last_ts or "")
        for cr in c.crs:
            self._join(cr, c.role)

    def _endpoint(self, c, outcome, key):
        ek = (c.role or "?", c.endpoint())
        g = self.endpoints.get(ek)
        if g is None:
            g = self.endpoints[ek] = {"conns": 0, "failed": 0,
                                      "outcomes": collections.Counter(), "procs": set(),
                                      "first_ts": c.first_ts, "last_ts": "", "attempts": []}
        g["conns"] += 1
        g["failed"] += c.failing
        g["outcomes"][outcome if c.app_data or outcome != "ok" else "ok, no app data"] += 1
        g["procs"].add(c.proc)
        if (c.first_ts or "") < (g["first_ts"] or ""):
            g["first_ts"] = c.first_ts
        g["last_ts"] = max(g["last_ts"], c.last_ts or "")
        attempts = g["attempts"]
        # flat, the sort key first (unique by close_no), strings shared:
        # on a big log these are most of what the counts hold
        if c.failing:
            what = headline(c)
            what = self.strings.setdefault(what, what)
            attempts.append(key + (c.last_ts, c.proc, self.strings.setdefault(outcome, outcome),
                                   True, what, c.sig))
        else:
            attempts.append(key + (c.last_ts, c.proc, self.strings.setdefault(outcome, outcome),
                                   False, self._ok_facts(c), None))
        if len(attempts) >= 2 * MAX_ATTEMPTS:
            attempts.sort()
            del attempts[MAX_ATTEMPTS:]

    def _ok_facts(self, c):
        """What a connection that ended well negotiated (version, cipher,
        peer_cert, local_cert), or None without a handshake_done: one tuple
        shared by all the connections that agree (the certificates are
        shared already: Analysis._cert)."""
        d = c.done
        if d:
            facts = (d.get("version"), d.get("cipher"), d.get("peer_cert"), d.get("local_cert"))
        else:
            # summarized (Analysis._sketch): its handshake_done waits undecoded
            body = next((e[4] for e in c.later or () if e[0] == b"handshake_done"), None)
            if body is None:
                return None
            facts = (body_value(body, "version"), body_value(body, "cipher")) \
                + self._done_certs(body)
        key = (facts[0], facts[1], id(facts[2]), id(facts[3]))
        return self.ok_facts.setdefault(key, facts)

    def _done_certs(self, body):
        """(peer_cert, local_cert) of a handshake_done body.  The shim writes
        them last, so the bytes from "peer_cert" on are the same for every
        connection that saw the same certificates: decoded once per kind
        (a full decode per connection cost a tenth of the report's time).
        Any other order only makes that key longer, never wrong."""
        if type(body) is dict:
            raw = None
        else:
            raw = body[0]
            at = raw.find(b'"peer_cert":')
            if at < 0:
                raw = None
            else:
                tail = raw[at:]
                certs = self.done_certs.get(tail)
                if certs is not None:
                    return certs
        peer, local = body_value(body, "peer_cert"), body_value(body, "local_cert")
        certs = (self.cert(peer) if type(peer) is dict else None,
                 self.cert(local) if type(local) is dict else None)
        if raw is not None and len(self.done_certs) < 4096:
            self.done_certs[tail] = certs
        return certs

    def _signature(self, c, key):
        g = self.sigs.get(c.sig)
        if g is None:
            g = self.sigs[c.sig] = {"count": 0, "procs": set(), "first": (key, c),
                                    "last": (key, c.last_ts), "last_ts": "", "instances": []}
        g["count"] += 1
        g["procs"].add(c.proc)
        if key < g["first"][0]:
            g["first"] = (key, c)
        if key > g["last"][0]:
            g["last"] = (key, c.last_ts)
        g["last_ts"] = max(g["last_ts"], c.last_ts or "")
        instances = g["instances"]
        instances.append((key, c))
        if len(instances) >= 2 * MAX_LISTED:
            instances.sort(key=lambda kc: kc[0])
            del instances[MAX_LISTED:]

    def _join(self, cr, role):
        """Count the handshakes seen from two ends (two roles): each
        client_random once, the last MAX_CLIENT_RANDOMS remembered, by their
        hash (a quarter of the memory; two of 100,000 share one by a chance
        of one in 10**9)."""
        cr = hash(cr)
        seen = self.client_randoms.get(cr, self)
        if seen is self:
            if len(self.client_randoms) >= MAX_CLIENT_RANDOMS:
                del self.client_randoms[next(iter(self.client_randoms))]
            self.client_randoms[cr] = role
        elif seen is not _JOINED and seen != role:
            self.joined += 1
            self.client_randoms[cr] = _JOINED

    def attempts(self, g):
        """The first MAX_ATTEMPTS attempts of endpoint counts g, in the report's
        order, as (first_ts, host, pid, conn, close_no, last_ts, Proc, outcome,
        failing, what, sig); handed over, not kept."""
        attempts = g["attempts"]
        g["attempts"] = []
        attempts.sort()
        del attempts[MAX_ATTEMPTS:]
        return attempts

    def instances(self, g):
        return [c for _, c in sorted(g["instances"], key=lambda kc: kc[0])[:MAX_LISTED]]


class Analysis:
    def __init__(self):
        self.procs = {}                  # key -> Proc
        self.current = {}                # (host, pid) -> its newest Proc
        self.by_prefix = {}              # '"host":"h","pid":N' (bytes) -> its newest Proc
        self.conns = []                  # after finish(): the connections kept whole
        self.kept = []                   # retained connections, and the ends they need
        self.window = collections.deque()   # the last connections ended, whole
        self.folded = Folded(self._cert)
        self.loops = []                  # (proc, event)
        self.misuse = []                 # (proc, event, conn)
        self.alert_counts = collections.Counter()   # (dir, level, desc) -> n
        self.alert_who = {}              # (dir, level, desc) -> set of proc names
        self.counts = collections.Counter()         # ev (bytes) -> events
        self.duplicates = 0
        self.first_ts = None
        self.last_ts = None
        self.hosts = set()
        self.modules = []                # (host, path, build_id, proc)
        self.group_retained = collections.Counter()
        self.retained_crs = set()
        self.wanted_tcp = {}             # TCP addresses of retained connections -> start times
        self.finished = False
        self.certs = {}                  # (sha256, spki_sha256, subject) -> one shared cert
        self.source = None
        self.opened = 0
        self.closed = 0
        self.counting = True             # alerts are counted (not when a line is applied again)
        # --peer (sslshim_logs.Selection.wants_peer): a connection of another
        # peer is left out whole when it ends, counted here only
        self.peer_select = None
        self.unselected = 0

    @property
    def events(self):
        return sum(self.counts.values())

    @property
    def ev_counts(self):
        return {KIND[k]: n for k, n in self.counts.items()}

    # -- input: the sink of sslshim_logs.Reader.read_lines -------------------------
    def begin(self, name):
        self.source = name

    def lines(self, batch):
        """Lines in the shim's own form: (sslshim_logs.PREFIX's groups, the
        body's fields or bytes).  Hot path: every line of a big log comes
        here, most go no further than Conn.pending."""
        by_prefix = self.by_prefix
        counts = self.counts
        source = self.source
        for groups, body in batch:
            ts, kind, host_pid, tid, seq, conn, _ = groups
            p = by_prefix.get(host_pid)
            if p is None or kind == b"process":
                self.event(event_of(groups, body), 0)
                continue
            seq = int(seq)
            if seq == p.next and p.older is None:
                p.next = seq + 1
            else:
                if p.older is not None:
                    p = p.route(ts)
                if not p.first_seen(seq):
                    self.duplicates += 1
                    continue
            p.events += 1
            if ts > p.last_b:
                p.last_b = ts
            if ts < p.first_b:
                p.first_b = ts
            if p.last_source is not source:
                self._seen_in(p)
            counts[kind] += 1
            if conn is None or kind in PROCESS_LEVEL:
                self._process_event(p, kind, self._event(
                    p, None if conn is None else int(conn), (kind, ts, seq, tid, body)))
                continue
            c = p.open.get(conn)
            if c is None:
                c = self._open(p, conn)
            pending = c.pending
            if pending is not None:
                if kind not in AT_ONCE and len(pending) < MAX_PENDING:
                    pending.append((kind, ts, seq, tid, body))
                    if kind == b"conn_end":
                        self._end(c, conn)
                    continue
                self._apply_pending(c)
            self._apply(c, kind, self._event(p, c.id, (kind, ts, seq, tid, body)), conn)

    def event(self, ev, n):
        """A good event of any form (sslshim_logs: the careful path)."""
        kind = ev["ev"].encode()
        ts = ev["ts"].encode()
        seq = ev.get("seq")
        hp = (ev["host"], ev["pid"])
        if kind == b"process":
            p = self._instance(hp, seq, ts)
        else:
            p = self.current.get(hp) or self._new_proc(hp)
            if p.older is not None:
                p = p.route(ts)
            if seq is not None and not p.first_seen(seq):
                p = None
        if p is None:
            self.duplicates += 1
            return
        p.events += 1
        if ts > p.last_b:
            p.last_b = ts
        if ts < p.first_b:
            p.first_b = ts
        if p.last_source is not self.source:
            self._seen_in(p)
        self.counts[kind] += 1
        conn = ev.get("conn") if kind not in PROCESS_LEVEL else None
        if conn is None:
            self._process_event(p, kind, dict(ev))
            return
        key = str(conn).encode()
        c = p.open.get(key)
        if c is None:
            c = self._open(p, key)
        if c.pending is not None:
            if kind not in AT_ONCE and len(c.pending) < MAX_PENDING:
                c.pending.append((kind, ts, seq, FULL, ev))
                if kind == b"conn_end":
                    self._end(c, key)
                return
            self._apply_pending(c)
        self._apply(c, kind, dict(ev), key)

    def _instance(self, hp, seq, ts):
        """The Proc a process line is of: a new instance when the pid's
        current one has started (seq 1 seen) and this is another seq 1;
        None when it is a process line already seen."""
        p = self.current.get(hp)
        if p is None:
            p = self._new_proc(hp)
        elif seq == 1:
            q = p
            while q is not None:
                if q.start_ts == ts:
                    return None              # the same process line again
                q = q.older
            if p.started:
                p = self._new_proc(hp)
        elif p.older is not None:
            p = p.route(ts)
        if seq == 1 and not p.started:
            p.started = True
            p.start_ts = ts
            if p.older is not None:
                t = parse_ts(ts.decode())
                p.after = format_ts(t - INSTANCE_SLACK_S) if t is not None else b""
        if seq is not None and not p.first_seen(seq):
            return None
        return p

    def _new_proc(self, hp):
        older = self.current.get(hp)
        inst = sum(1 for k in self.procs if k[:2] == hp) if older is not None else 0
        p = Proc((hp[0], hp[1], inst))
        p.older = older
        self.procs[p.key] = p
        self.current[hp] = p
        self.by_prefix[('"host":"%s","pid":%d' % hp).encode("utf-8", "replace")] = p
        self.hosts.add(hp[0])
        return p

    def _seen_in(self, p):
        if self.source not in p.sources:
            p.sources.append(self.source)
        p.last_source = self.source

    def _open(self, p, key):
        c = Conn(p, int(key))
        c.close_no = self.opened          # until it ends: the order it began in
        self.opened += 1
        p.open[key] = c
        return c

    @staticmethod
    def _event(p, cid, entry):
        """A pending line as the whole event it is."""
        kind, ts, seq, tid, body = entry
        if tid is FULL:
            # a copy: a handler may change it (handshake_done's certificates),
            # and a connection kept in full has its lines applied twice
            return dict(body)
        ev = {"ts": ts.decode(), "ev": KIND[kind], "host": p.host, "pid": p.pid,
              "tid": int(tid), "seq": seq}
        if cid is not None:
            ev["conn"] = cid
        ev.update(body_fields(body))
        return ev

    def _process_event(self, p, kind, ev):
        self._dispatch[kind](self, p, None, ev)

    def _apply(self, c, kind, ev, key):
        """One event of a connection whose lines are applied as they come."""
        if c.first_ts is None:
            c.first_ts = ev["ts"]
        c.last_ts = ev["ts"]
        self._dispatch[kind](self, c.proc, c, ev)
        if kind == b"conn_end":
            del c.proc.open[key]
            self._close(c)

    def _apply_pending(self, c):
        """From now on c's lines are applied as they come: those waiting first."""
        pending = c.pending
        c.pending = None
        self._replay(c, pending, light=False)

    def _replay(self, c, entries, light):
        """Apply lines of c; light: only what decides whether c failed and
        what a connection not shown in full keeps (Conn.trim)."""
        if not entries:
            return
        p = c.proc
        if c.first_ts is None:
            c.first_ts = entries[0][1].decode()
        c.last_ts = entries[-1][1].decode()
        dispatch = self._dispatch
        for e in entries:
            kind = e[0]
            if light:
                if kind in TIMELINE_ONLY:
                    continue
                if kind == b"msg":
                    self._msg_light(c, e)
                    continue
            dispatch[kind](self, p, c, self._event(p, c.id, e))

    @staticmethod
    def _msg_light(c, entry):
        """What _ev_msg leaves on a connection not shown in full."""
        body = body_fields(entry[4])
        version = body.get("version")
        if version:
            c.version = version
        if body.get("type") != "alert" and c.hello is None and body.get("hs") == "ClientHello":
            c.hello = version

    def _end(self, c, key):
        """c's conn_end, its lines still pending: applied light, and in full
        if the report keeps it."""
        del c.proc.open[key]
        self._settle(c)

    def _settle(self, c):
        entries = c.pending
        c.pending = None
        if self.peer_select is not None and not self._peer_selected(entries):
            self.unselected += 1
            return
        end = self._ended_well(entries)
        if end is not None:
            self._sketch(c, entries, end)
            self._ended(c)
            return
        self._replay(c, entries, light=True)
        self._judge(c)
        if c.failing and self._keeps(c):
            whole = Conn(c.proc, c.id)
            whole.pending = None
            self.counting = False        # its alerts are counted already
            try:
                self._replay(whole, entries, light=False)
            finally:
                self.counting = True
            c = whole
        self._close(c)

    def _peer_selected(self, entries):
        """--peer for a connection whose lines are all pending: its peer and
        SNI as its first handshake_start or its conn_end give them, read
        from those two lines only."""
        peer = sni = None
        for e in entries:
            if e[0] in (b"handshake_start", b"conn_end"):
                peer = peer or body_value(e[4], "peer")
                sni = sni or body_value(e[4], "sni")
                if peer and sni:
                    break
        return self.peer_select(peer, sni)

    @staticmethod
    def _ended_well(entries):
        """The fields of the conn_end of a connection that did not fail
        (_judge: it ended ok, with application data, no fatal alert, error,
        misuse or undefined bytes), or None."""
        last = entries[-1]
        if last[0] != b"conn_end":
            return None
        for kind, _, _, tid, body in entries:
            if kind in FAILURE_KINDS:
                return None
            if kind == b"alert" and body_value(body, "level") == "fatal":
                return None
        end = body_fields(last[4])
        if end.get("outcome") != "ok" or not end.get("app_data"):
            return None
        return end

    def _sketch(self, c, entries, end):
        """A connection that did not fail, as Conn.trim would leave it, without
        its timeline: the hot path of ending a connection.  Its certificates
        (handshake_done, certs) wait undecoded in c.later for whole(), should
        the report show it as the other end of a failure."""
        c.first_ts = entries[0][1].decode()
        c.last_ts = entries[-1][1].decode()
        alerts = []
        later = []
        crs = c.crs
        for entry in entries:
            kind = entry[0]
            if kind in TIMELINE_ONLY:
                continue
            body = entry[4]
            if kind == b"msg":
                fields = body_fields(body)
                version = fields.get("version")
                if version:
                    c.version = version
                if (fields.get("type") != "alert" and c.hello is None
                        and fields.get("hs") == "ClientHello"):
                    c.hello = version
            elif kind == b"handshake_start":
                self._start_facts(c, body_fields(body))
            elif kind == b"alert":
                fields = body_fields(body)
                self.alert_counts[(fields["dir"], fields.get("level"), fields["desc"])] += 1
                alerts.append(fields)
            elif kind == b"handshake_done":
                later.append(entry)
                cr = body_value(body, "client_random")
                if cr and cr not in crs:
                    crs.append(cr)
                version = body_value(body, "version")
                if version:
                    c.version = version
            elif kind == b"certs":
                later.append(entry)
            elif kind == b"call":
                c.calls += 1
            elif kind == b"conn_end":
                self._end_facts(c, end, entry[1])
        who = (c.role or "?", c.proc.name)
        for a in alerts:
            self.alert_who.setdefault((a["dir"], a.get("level"), a["desc"]), set()).add(who)
        if later:
            c.later = later

    def whole(self, c):
        """c with all that a connection not shown in full keeps (Conn.trim):
        the certificates of one that _sketch summarized, decoded now."""
        later = c.later
        if later is None:
            return c
        c.later = None
        chains = {}
        for kind, ts, seq, tid, body in later:
            fields = body_fields(body)
            if kind == b"certs":
                if fields["dir"] in ("sent", "recv"):
                    chain = fields["chain"]
                    chains[fields["dir"]] = [self._cert(chain[0])] if chain else []
            else:
                done = {k: fields.get(k) for k in DONE_KEEP}
                done["ts"] = ts.decode()
                for k in ("peer_cert", "local_cert"):
                    if done[k] is not None:
                        done[k] = self._cert(done[k])
                c.done = done
        c.chains = chains
        return c

    @staticmethod
    def _end_facts(c, fields, ts):
        """What a conn_end says of its connection, as Conn.trim keeps it."""
        end = {k: fields.get(k) for k in END_KEEP}
        end["ts"] = ts.decode()
        c.end = end
        c.role = c.role or fields.get("role")
        c.peer = c.peer or fields.get("peer")
        c.sni = c.sni or fields.get("sni")
        cr = end["client_random"]
        if cr and cr not in c.crs:
            c.crs.append(cr)
        c.handshakes = max(c.handshakes, fields.get("handshakes") or 0)

    @staticmethod
    def _start_facts(c, ev):
        """What a handshake_start says of its connection (_ev_start)."""
        if c.role is None or ev.get("n", 1) == 1:
            c.role = ev.get("role") or c.role
            c.peer = ev.get("peer") or c.peer
            c.local = ev.get("local") or c.local
            c.sni = ev.get("sni") or c.sni
            if c.entry is None:
                c.entry = ev.get("entry")
            if c.attempt is None:
                c.attempt = ev.get("attempt")
            # null: the library's default (no limit); absent: an older shim
            if "min_version" in ev:
                c.min_version = ev["min_version"] or ""
            if "max_version" in ev:
                c.max_version = ev["max_version"] or ""
        c.handshakes = max(c.handshakes, ev.get("n") or 1)

    # -- events ----------------------------------------------------------------
    # Each handler takes the event's process instance p, its connection c
    # (None for a process's own events) and the event, checked by the reader
    # (sslshim_schema): every field read here has the type the log format
    # gives it.
    def _ev_process(self, p, c, ev):
        p.exe = ev.get("exe") or p.exe
        p.argv = ev.get("argv") or p.argv
        p.ppid = ev.get("ppid", p.ppid)
        p.openssl = ev.get("openssl") or p.openssl
        p.libssl = ev.get("libssl") or p.libssl
        p.shim = ev.get("shim") or p.shim
        p.config = ev.get("config") or p.config
        p.v = ev.get("v")
        if ev.get("valgrind") is not None:
            p.valgrind = ev.get("valgrind")

    def _ev_start(self, p, c, ev):
        self._start_facts(c, ev)
        if ev.get("stack") and c.start_stack is None:
            c.start_stack = ev["stack"]
        c.add((ev.get("seq"), ev["ts"], "start", (ev.get("entry"), ev.get("n"),
                                                  ev.get("attempt"), ev.get("role"))))

    def _ev_state(self, p, c, ev):
        c.add((ev.get("seq"), ev["ts"], "state", (ev["state"], ev.get("where"), ev.get("ret"))))

    def _ev_msg(self, p, c, ev):
        get = ev.get
        version = get("version")
        if version:
            c.version = version
        if get("type") == "alert":
            return                     # the alert event says more
        if c.hello is None and get("hs") == "ClientHello":
            # OpenSSL logs the ClientHello with the version it had then: a
            # client's highest enabled version, a server's highest
            c.hello = version
        c.add((get("seq"), ev["ts"], "msg", (ev["dir"], get("hs") or get("type"), get("len"),
                                             version)))

    @staticmethod
    def _failure_facts(c, ev):
        """What a failure event says beyond itself (issue 14): the verify
        result, this side's own offer, a peer's bytes that are not TLS."""
        v = ev.get("verify")
        if c.verify is None and type(v) is dict:
            c.verify = norm_verify(v)
            c.verify_ts = ev["ts"]
        if c.offer is None and ev.get("local_offer") is not None:
            c.offer = norm_offer(ev["local_offer"])
        if c.peer_bytes is None and ev.get("peer_bytes"):
            c.peer_bytes = ev["peer_bytes"][:64]
        kc = ev.get("key_check")
        if c.key_check is None and kc is not None:
            c.key_check = {"match": kc.get("match"), "key": kc.get("key")}

    def _ev_hello(self, p, c, ev):
        # Kept as read: the reader checked every field the report reads
        # (none has a digit in its name); trimmed with the connection.
        if len(c.hellos) < MAX_HELLOS:
            c.hellos.append(ev)
        else:
            c.hellos[-1] = ev          # the last one is the one a failure follows

    def _ev_certs(self, p, c, ev):
        if ev["dir"] in ("sent", "recv"):
            c.chains[ev["dir"]] = [self._cert(x) for x in ev["chain"][:MAX_CHAIN]]

    def _cert(self, raw):
        """A certificate normalized once (sslshim_explain.norm_cert) and
        shared by every connection that passed it."""
        key = (raw.get("sha256"), raw.get("spki_sha256"), raw.get("subject"))
        if not all(type(k) is str for k in key):
            return norm_cert(raw)
        cert = self.certs.get(key)
        if cert is None:
            cert = norm_cert(raw)
            if len(self.certs) < 100000:
                self.certs[key] = cert
        return cert

    def _ev_alert(self, p, c, ev):
        if ev.get("dir") == "sent" and ev.get("level") == "fatal":
            self._failure_facts(c, ev)
        if self.counting:
            self.alert_counts[(ev["dir"], ev.get("level"), ev["desc"])] += 1
        if len(c.alerts) < 50:
            c.alerts.append(ev)
        if ev.get("level") == "fatal" and len(c.fatal) < 10:
            c.fatal.append(ev)
        if ev.get("stack"):
            c.stacks.append(("alert %s %s" % (ev["dir"], ev["desc"]), ev["stack"]))
        c.add((ev.get("seq"), ev["ts"], "alert", ev))

    def _ev_done(self, p, c, ev):
        for k in ("peer_cert", "local_cert"):
            if ev.get(k) is not None:
                ev[k] = self._cert(ev[k])
        c.done = ev
        cr = ev.get("client_random")
        if cr and cr not in c.crs:
            c.crs.append(cr)
        if ev.get("version"):
            c.version = ev["version"]
        c.add((ev.get("seq"), ev["ts"], "done", ev))

    def _ev_error(self, p, c, ev):
        c.n_errors += 1
        self._failure_facts(c, ev)
        if len(c.errors) < MAX_ERRORS:
            c.errors.append(ev)
            if ev.get("stack"):
                c.stacks.append(("error in %s" % ev.get("fn"), ev["stack"]))
        c.add((ev.get("seq"), ev["ts"], "error", ev))

    def _ev_misuse(self, p, c, ev):
        self.misuse.append((p, ev, c))
        if len(c.misuse) < 10:
            c.misuse.append(ev)
            if ev.get("stack"):
                c.stacks.append(("misuse %s in %s" % (ev.get("kind"), ev.get("fn")), ev["stack"]))
            if ev.get("other_stack"):
                c.stacks.append(("misuse: the other thread", ev["other_stack"]))
        c.add((ev.get("seq"), ev["ts"], "misuse", ev))

    def _ev_loop(self, p, c, ev):
        self.loops.append((p, ev))
        if c is not None:
            if len(c.loops) < 10:
                c.loops.append(ev)
            c.add((ev.get("seq"), ev["ts"], "loop", ev))

    def _ev_undefined(self, p, c, ev):
        if len(c.undefined) < 10:
            c.undefined.append(ev)
        if ev.get("stack"):
            c.stacks.append(("undefined bytes in %s" % ev.get("fn"), ev["stack"]))
        c.add((ev.get("seq"), ev["ts"], "undefined", ev))

    def _ev_call(self, p, c, ev):
        c.calls += 1
        c.add((ev.get("seq"), ev["ts"], "call", (ev.get("fn"), ev.get("ret"), ev.get("err"),
                                                 ev.get("bytes"))))

    def _ev_nothing(self, p, c, ev):
        """conn_new (the connection exists now), data (counted only)."""

    def _ev_note(self, p, c, ev):
        if c is not None:
            c.add((ev.get("seq"), ev["ts"], "note", ev))
        elif len(p.notes) < 100:
            p.notes.append({"ts": ev.get("ts"), "text": ev.get("text")})

    def _ev_module(self, p, c, ev):
        self.modules.append((p.host, ev["path"], ev.get("build_id"), p))

    def _ev_dropped(self, p, c, ev):
        p.dropped.append({"ts": ev.get("ts"), "n": ev.get("n"), "reason": ev.get("reason")})

    def _ev_conn_end(self, p, c, ev):
        c.end = ev
        c.role = c.role or ev.get("role")
        c.peer = c.peer or ev.get("peer")
        c.sni = c.sni or ev.get("sni")
        cr = ev.get("client_random")
        if cr and cr not in c.crs:
            c.crs.append(cr)
        c.handshakes = max(c.handshakes, ev.get("handshakes") or 0)
        c.add((ev.get("seq"), ev["ts"], "end", ev))

    _dispatch = {
        b"process": _ev_process, b"handshake_start": _ev_start, b"state": _ev_state,
        b"msg": _ev_msg, b"alert": _ev_alert, b"handshake_done": _ev_done, b"error": _ev_error,
        b"misuse": _ev_misuse, b"loop": _ev_loop, b"undefined_data": _ev_undefined,
        b"call": _ev_call, b"conn_new": _ev_nothing, b"data": _ev_nothing, b"note": _ev_note,
        b"module": _ev_module, b"dropped": _ev_dropped, b"conn_end": _ev_conn_end,
        b"hello": _ev_hello, b"certs": _ev_certs,
    }

    # -- connections -----------------------------------------------------------
    def _judge(self, c):
        """Whether c failed, and if so how (primary, sig)."""
        c.failing = bool(c.outcome != "ok" or not c.app_data or c.fatal or c.n_errors
                         or c.misuse or c.undefined)
        if c.end is None and not (c.fatal or c.n_errors or c.misuse or c.undefined):
            c.failing = False          # still open, nothing wrong yet
        if c.failing:
            c.primary = primary_problem(c)
            c.sig = signature(c)

    def _keeps(self, c):
        """Whether failing c is kept in full: among the first RETAIN of its
        kind of failure, or the other end of one kept."""
        return (self.group_retained[c.sig] < RETAIN
                or any(cr in self.retained_crs for cr in c.crs))

    def _unselect(self, c):
        """c is not of the selected peers.  Its lines were applied as they
        came (a loop, a misuse, a long one): what they counted is taken back."""
        for a in c.alerts:
            key = (a["dir"], a.get("level"), a["desc"])
            self.alert_counts[key] -= 1
            if self.alert_counts[key] <= 0:
                del self.alert_counts[key]
        if c.misuse:
            self.misuse = [m for m in self.misuse if m[2] is not c]
        self.unselected += 1

    def _selected(self, c):
        if self.peer_select is None:
            return True
        if c.peer is None and any(m.get("kind") == "after_fork" for m in c.misuse):
            return True           # a fork child's copy: its parent's peer decides (finish)
        return self.peer_select(c.peer, c.sni)

    def _close(self, c):
        if not self._selected(c):
            self._unselect(c)
            return
        for a in c.alerts:       # the role may only be known from conn_end (level errors)
            key = (a["dir"], a.get("level"), a["desc"])
            self.alert_who.setdefault(key, set()).add((c.role or "?", c.proc.name))
        self._judge(c)
        if c.failing and self._keeps(c):
            c.retained = True
            self.group_retained[c.sig] += 1
            self.retained_crs.update(c.crs)
        if not c.retained:
            c.trim()
            # what a summary needs (its certificates are shared already: _cert)
            if c.done:
                c.done = {k: c.done.get(k) for k in DONE_KEEP}
            if c.end:
                c.end = {k: c.end.get(k) for k in END_KEEP}
        self._ended(c)

    def _ended(self, c):
        """c, judged and trimmed, goes to the kept ones or to the window."""
        c.close_no = self.closed
        self.closed += 1
        if not c.retained:
            c.shrink()
        if c.retained:
            self.kept.append(c)
            key = _tcp_key(c)
            if key is not None:
                self.wanted_tcp.setdefault(key, []).append(parse_ts(c.first_ts or ""))
        else:
            self.window.append(c)
            if len(self.window) > WINDOW:
                self._leave_window()

    def _leave_window(self):
        """The oldest ended connection leaves the window: folded into the
        counts, unless a connection kept in full may need it as its other end."""
        c = self.window.popleft()
        if self._wanted(c):
            self.kept.append(c)
        else:
            self.folded.add(c)

    def _wanted(self, c):
        if any(cr in self.retained_crs for cr in c.crs):
            return True
        key = _tcp_key(c)
        if key is None or key not in self.wanted_tcp:
            return False
        t = parse_ts(c.first_ts or "")
        return t is not None and any(w is not None and abs(w - t) <= TCP_JOIN_S
                                     for w in self.wanted_tcp[key])

    def finish(self):
        """End of input: connections never ended are closed as `open`, fork
        children's misuse is attached to the parent's connection, and every
        connection is counted (Folded)."""
        if self.finished:
            return
        self.finished = True
        still_open = sorted((c for p in self.procs.values() for c in p.open.values()),
                            key=lambda c: c.close_no)
        for p in self.procs.values():
            p.open = {}
        for c in still_open:
            if c.pending is not None:
                self._settle(c)
            else:
                self._close(c)
        for p in self.procs.values():
            if p.events:
                p.first_ts = p.first_b.decode()
                p.last_ts = p.last_b.decode()
            if p.first_ts and (self.first_ts is None or p.first_ts < self.first_ts):
                self.first_ts = p.first_ts
            if p.last_ts and (self.last_ts is None or p.last_ts > self.last_ts):
                self.last_ts = p.last_ts
        conns = sorted(self.kept + list(self.window), key=lambda c: c.close_no)
        self.kept = []
        self.window = collections.deque()
        by_key = {}
        for c in conns:
            by_key[(c.proc.host, c.proc.pid, c.id)] = c
        keep = []
        for c in conns:
            forked = [m for m in c.misuse if m.get("kind") == "after_fork"]
            parent = None
            if forked:
                parent = by_key.get((c.proc.host, forked[0].get("parent_pid"), c.id))
            if forked and parent is None and c.peer is None and self.peer_select is not None:
                self._unselect(c)              # its parent's connection was not selected
                continue
            if parent is not None and parent is not c:
                self.whole(parent)
                for m in forked:
                    parent.related.append((c.proc, m))
                if not parent.failing:
                    parent.failing = True
                parent.primary = primary_problem(parent)
                parent.sig = signature(parent)
                if c.end is None and c.handshakes == 0 and not c.fatal and not c.n_errors:
                    c.failing = False          # only the inherited copy: shown with the parent
                    c.related.append((parent.proc, None))
                    continue
            keep.append(c)
        for c in keep:
            self.folded.add(c)
        self.conns = sorted(keep, key=Conn.sort_key)

    # -- views ---------------------------------------------------------------
    def failing(self):
        """The failing connections kept whole, in the report's order."""
        return [c for c in self.conns if c.failing]

    def partners(self):
        """Indexes of the ends of each handshake: by client_random, and by the
        TCP addresses (client local/peer = server peer/local) for connections
        that failed before any ClientHello carried a client_random."""
        by_cr, by_tcp = {}, {}
        for c in self.conns:
            for cr in c.crs:
                by_cr.setdefault(cr, {}).setdefault(c.role, []).append(c)
            key = _tcp_key(c)
            if key is not None:
                by_tcp.setdefault(key, {}).setdefault(c.role, []).append(c)
        return {"cr": by_cr, "tcp": by_tcp}

    def partner_of(self, c, partners):
        """The other end of c's handshake (the first one, should a log have
        been read twice), whole, or None."""
        for cr in c.crs:
            for role, conns in partners["cr"].get(cr, {}).items():
                if role != c.role:
                    return self.whole(conns[0])
        key = _tcp_key(c)
        if key is not None:
            # Ports are reused, but not within seconds (TIME_WAIT): the nearest
            # other end that started within TCP_JOIN_S of this one.
            t = parse_ts(c.first_ts) if c.first_ts else None
            best, gap = None, TCP_JOIN_S
            other = "server" if c.role == "client" else "client"
            for o in partners["tcp"].get(key, {}).get(other, ()):
                ot = parse_ts(o.first_ts) if o.first_ts else None
                if t is not None and ot is not None and abs(ot - t) <= gap:
                    best, gap = o, abs(ot - t)
            return self.whole(best) if best is not None else None
        return None

    def by_endpoint(self):
        """(role, endpoint) -> {"conns": n, "outcomes": Counter, "failed": n,
        "procs": set of Proc, "first_ts", "last_ts", "attempts": list}: the
        attempts are handed over by Folded.attempts, once."""
        return self.folded.endpoints

    def loop_summary(self):
        """Loop events folded per process, kind and peer (the shim reports a
        running loop once per window)."""
        out = {}
        for p, ev in self.loops:
            # a peer without an address (a program's own BIO) is known by its SNI
            key = (p.key, ev.get("kind"), (ev.get("peer"), None if ev.get("peer")
                                           else ev.get("sni"))
                   if ev.get("kind") == "reconnect" else ev.get("conn"))
            g = out.get(key)
            if g is None:
                g = out[key] = {"proc": p, "kind": ev.get("kind"), "peer": ev.get("peer"),
                                "sni": ev.get("sni"), "conn": ev.get("conn"), "reports": 0,
                                "label": peer_label(ev.get("peer"), ev.get("sni")),
                                "count": 0, "failed": 0, "window_s": ev.get("window_s"),
                                "first_ts": ev.get("first_ts") or ev.get("ts"),
                                "last_ts": ev.get("ts"), "last_alert": ev.get("last_alert"),
                                "stack": ev.get("stack")}
            g["reports"] += 1
            g["count"] = max(g["count"], ev.get("count") or 0)
            g["failed"] = max(g["failed"], ev.get("failed") or 0)
            g["last_ts"] = max(g["last_ts"] or "", ev.get("ts") or "")
            g["last_alert"] = ev.get("last_alert") or g["last_alert"]
            g["stack"] = g["stack"] or ev.get("stack")
        # how many connections the process really made to that peer while looping
        for g in out.values():
            if g["kind"] == "reconnect":
                total = failed = 0
                last = None
                for (pkey, peer, sni), (n, n_failed, last_ts) in self.folded.loops.items():
                    if pkey == g["proc"].key and peer == g["peer"] and (g["peer"]
                                                                        or sni == g["sni"]):
                        total += n
                        failed += n_failed
                        last = max(last or "", last_ts)
                g["total"] = total
                g["total_failed"] = failed
                g["last_conn_ts"] = last
            else:
                g["total"] = g["count"]
                g["total_failed"] = g["failed"]
        return sorted(out.values(), key=lambda g: g["first_ts"] or "")


def _tcp_key(c):
    """The TCP addresses of c as (client's, server's), or None."""
    if c.local and c.peer and c.role in ("client", "server"):
        return (c.local, c.peer) if c.role == "client" else (c.peer, c.local)
    return None
