"""From events to connections: one pass over the logs of many processes and
hosts, memory bounded by the connections open at a time plus the timelines of
failing connections kept for the report.

Each connection (host, pid, process instance, conn) gets a Conn; a healthy one
is reduced to a summary when its conn_end arrives, a failing one keeps its
timeline, alerts, errors and stacks (the first RETAIN of each kind of failure,
and every one whose other end is kept).  Ends of one handshake are joined by
client_random.
"""
import calendar
import collections
import time

from sslshim_diagnose import primary_problem, signature
from sslshim_explain import (MAX_CHAIN, MAX_HELLOS, norm_cert, norm_offer, norm_verify,
                             peer_label)

HEAD = 150            # timeline entries kept from the start of a connection...
TAIL = 250            # ...and from its end
RETAIN = 20           # failing connections kept in full per kind of failure
MAX_ERRORS = 25
TCP_JOIN_S = 10.0     # ends joined by TCP addresses must start this close in time
DONE_KEEP = ("version", "cipher", "group", "alpn", "resumed", "sni", "client_random", "verify",
             "peer_cert", "local_cert", "ms", "ts")
END_KEEP = ("outcome", "app_data", "last_state", "last_alert", "handshakes", "ms", "ts",
            "client_random", "bytes_in", "bytes_out", "alerts_sent", "alerts_recv")


class Proc:
    __slots__ = ("key", "host", "pid", "inst", "exe", "argv", "ppid", "openssl", "libssl",
                 "shim", "config", "valgrind", "started", "sources", "first_ts", "last_ts",
                 "events", "dropped", "notes", "v", "last_source")

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
        self.events = 0
        self.dropped = []
        self.notes = []
        self.v = None
        self.last_source = None

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


class Conn:
    __slots__ = ("proc", "id", "role", "peer", "local", "sni", "entry", "attempt", "first_ts",
                 "last_ts", "handshakes", "done", "alerts", "fatal", "errors", "n_errors",
                 "misuse", "loops", "undefined", "end", "crs", "version", "head", "tail",
                 "elided", "failing", "retained", "primary", "sig", "stacks", "calls",
                 "related", "start_stack", "source", "hello", "hellos", "chains", "verify",
                 "verify_ts", "offer", "peer_bytes", "min_version", "max_version",
                 "key_check")

    def __init__(self, proc, cid, source):
        self.proc = proc
        self.id = cid
        self.source = source
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


class Analysis:
    def __init__(self):
        self.procs = {}                  # key -> Proc
        self.current = {}                # (host, pid) -> Proc
        self.open = {}                   # (proc key, conn) -> Conn
        self.conns = []                  # ended (and, after finish(), open) Conns
        self.loops = []                  # (proc, event)
        self.misuse = []                 # (proc, event)
        self.alert_counts = collections.Counter()   # (dir, level, desc) -> n
        self.alert_who = {}              # (dir, level, desc) -> set of proc names
        self.ev_counts = collections.Counter()
        self.first_ts = None
        self.last_ts = None
        self.hosts = set()
        self.modules = []                # (host, path, build_id, proc)
        self.group_retained = collections.Counter()
        self.retained_crs = set()
        self.events = 0
        self.finished = False
        self._last = None                # the Proc of the previous event
        self.certs = {}                  # (sha256, spki_sha256, subject) -> one shared cert

    # -- input ---------------------------------------------------------------
    def feed(self, source, ev):
        """One event, checked by the reader (sslshim_schema): every field read
        here has the type the log format gives it."""
        kind = ev["ev"]
        self._dispatch[kind](self, source, ev)
        self.events += 1
        self.ev_counts[kind] += 1

    def _proc(self, ev, source):
        # Consecutive events nearly always come from one process: check that first.
        pid = ev["pid"]
        host = ev["host"]
        p = self._last
        if p is None or p.pid != pid or p.host != host or p.last_source is not source:
            p = self.current.get((host, pid))
            if p is None:
                p = self._new_proc((host, pid))
            if source not in p.sources:
                p.sources.append(source)
            p.last_source = source
            self._last = p
        ts = ev["ts"]
        if p.first_ts is None or ts < p.first_ts:
            p.first_ts = ts
        if p.last_ts is None or ts > p.last_ts:
            p.last_ts = ts
        p.events += 1
        return p

    def _new_proc(self, hp):
        inst = sum(1 for k in self.procs if k[:2] == hp) if hp in self.current else 0
        p = Proc((hp[0], hp[1], inst))
        self.procs[p.key] = p
        self.current[hp] = p
        self.hosts.add(hp[0])
        return p

    def _conn(self, p, ev, source):
        key = (p.key, ev["conn"])
        c = self.open.get(key)
        if c is None:
            c = Conn(p, ev["conn"], source)
            self.open[key] = c
            c.first_ts = ev["ts"]
        c.last_ts = ev["ts"]
        return c

    def _ev_process(self, source, ev):
        hp = (ev["host"], ev["pid"])
        p = self.current.get(hp)
        if p is None or (ev.get("seq") == 1 and p.started):
            p = self._new_proc(hp)
            self._last = None
        if ev.get("seq") == 1:
            p.started = True
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
        self._proc(ev, source)

    def _ev_start(self, source, ev):
        p = self._proc(ev, source)
        c = self._conn(p, ev, source)
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
        if ev.get("stack") and c.start_stack is None:
            c.start_stack = ev["stack"]
        c.add((ev.get("seq"), ev["ts"], "start", (ev.get("entry"), ev.get("n"),
                                                  ev.get("attempt"), ev.get("role"))))

    # state and msg are most of any log: these two are written for speed
    def _ev_state(self, source, ev):
        c = self._conn(self._proc(ev, source), ev, source)
        e = (ev.get("seq"), ev["ts"], "state", (ev["state"], ev.get("where"), ev.get("ret")))
        if len(c.head) < HEAD:
            c.head.append(e)
        else:
            c.add(e)

    def _ev_msg(self, source, ev):
        c = self._conn(self._proc(ev, source), ev, source)
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
        e = (get("seq"), ev["ts"], "msg", (ev["dir"], get("hs") or get("type"), get("len"),
                                           version))
        if len(c.head) < HEAD:
            c.head.append(e)
        else:
            c.add(e)

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

    def _ev_hello(self, source, ev):
        # Kept as read: the reader checked every field the report reads
        # (none has a digit in its name); trimmed with the connection.
        c = self._conn(self._proc(ev, source), ev, source)
        if len(c.hellos) < MAX_HELLOS:
            c.hellos.append(ev)
        else:
            c.hellos[-1] = ev          # the last one is the one a failure follows

    def _ev_certs(self, source, ev):
        c = self._conn(self._proc(ev, source), ev, source)
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

    def _ev_alert(self, source, ev):
        p = self._proc(ev, source)
        c = self._conn(p, ev, source)
        if ev.get("dir") == "sent" and ev.get("level") == "fatal":
            self._failure_facts(c, ev)
        self.alert_counts[(ev["dir"], ev.get("level"), ev["desc"])] += 1
        if len(c.alerts) < 50:
            c.alerts.append(ev)
        if ev.get("level") == "fatal" and len(c.fatal) < 10:
            c.fatal.append(ev)
        if ev.get("stack"):
            c.stacks.append(("alert %s %s" % (ev["dir"], ev["desc"]), ev["stack"]))
        c.add((ev.get("seq"), ev["ts"], "alert", ev))

    def _ev_done(self, source, ev):
        p = self._proc(ev, source)
        c = self._conn(p, ev, source)
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

    def _ev_error(self, source, ev):
        p = self._proc(ev, source)
        c = self._conn(p, ev, source)
        c.n_errors += 1
        self._failure_facts(c, ev)
        if len(c.errors) < MAX_ERRORS:
            c.errors.append(ev)
            if ev.get("stack"):
                c.stacks.append(("error in %s" % ev.get("fn"), ev["stack"]))
        c.add((ev.get("seq"), ev["ts"], "error", ev))

    def _ev_misuse(self, source, ev):
        p = self._proc(ev, source)
        c = self._conn(p, ev, source)
        self.misuse.append((p, ev))
        if len(c.misuse) < 10:
            c.misuse.append(ev)
            if ev.get("stack"):
                c.stacks.append(("misuse %s in %s" % (ev.get("kind"), ev.get("fn")), ev["stack"]))
            if ev.get("other_stack"):
                c.stacks.append(("misuse: the other thread", ev["other_stack"]))
        c.add((ev.get("seq"), ev["ts"], "misuse", ev))

    def _ev_loop(self, source, ev):
        p = self._proc(ev, source)
        self.loops.append((p, ev))
        if "conn" in ev:
            c = self._conn(p, ev, source)
            if len(c.loops) < 10:
                c.loops.append(ev)
            c.add((ev.get("seq"), ev["ts"], "loop", ev))

    def _ev_undefined(self, source, ev):
        p = self._proc(ev, source)
        c = self._conn(p, ev, source)
        if len(c.undefined) < 10:
            c.undefined.append(ev)
        if ev.get("stack"):
            c.stacks.append(("undefined bytes in %s" % ev.get("fn"), ev["stack"]))
        c.add((ev.get("seq"), ev["ts"], "undefined", ev))

    def _ev_call(self, source, ev):
        p = self._proc(ev, source)
        c = self._conn(p, ev, source)
        c.calls += 1
        c.add((ev.get("seq"), ev["ts"], "call", (ev.get("fn"), ev.get("ret"), ev.get("err"),
                                                 ev.get("bytes"))))

    def _ev_conn_new(self, source, ev):
        p = self._proc(ev, source)
        self._conn(p, ev, source)

    def _ev_data(self, source, ev):
        self._proc(ev, source)

    def _ev_note(self, source, ev):
        p = self._proc(ev, source)
        if "conn" in ev:
            c = self._conn(p, ev, source)
            c.add((ev.get("seq"), ev["ts"], "note", ev))
        elif len(p.notes) < 100:
            p.notes.append({"ts": ev.get("ts"), "text": ev.get("text")})

    def _ev_module(self, source, ev):
        p = self._proc(ev, source)
        self.modules.append((p.host, ev["path"], ev.get("build_id"), p))

    def _ev_dropped(self, source, ev):
        p = self._proc(ev, source)
        p.dropped.append({"ts": ev.get("ts"), "n": ev.get("n"), "reason": ev.get("reason")})

    def _ev_conn_end(self, source, ev):
        p = self._proc(ev, source)
        c = self._conn(p, ev, source)
        c.end = ev
        c.role = c.role or ev.get("role")
        c.peer = c.peer or ev.get("peer")
        c.sni = c.sni or ev.get("sni")
        cr = ev.get("client_random")
        if cr and cr not in c.crs:
            c.crs.append(cr)
        c.handshakes = max(c.handshakes, ev.get("handshakes") or 0)
        c.add((ev.get("seq"), ev["ts"], "end", ev))
        del self.open[(p.key, c.id)]
        self._close(c)

    _dispatch = {
        "process": _ev_process, "handshake_start": _ev_start, "state": _ev_state,
        "msg": _ev_msg, "alert": _ev_alert, "handshake_done": _ev_done, "error": _ev_error,
        "misuse": _ev_misuse, "loop": _ev_loop, "undefined_data": _ev_undefined,
        "call": _ev_call, "conn_new": _ev_conn_new, "data": _ev_data, "note": _ev_note,
        "module": _ev_module, "dropped": _ev_dropped, "conn_end": _ev_conn_end,
        "hello": _ev_hello, "certs": _ev_certs,
    }

    # -- connections -----------------------------------------------------------
    def _close(self, c):
        for a in c.alerts:       # the role may only be known from conn_end (level errors)
            key = (a["dir"], a.get("level"), a["desc"])
            self.alert_who.setdefault(key, set()).add((c.role or "?", c.proc.name))
        c.failing = bool(c.outcome != "ok" or not c.app_data or c.fatal or c.n_errors
                         or c.misuse or c.undefined)
        if c.end is None and not (c.fatal or c.n_errors or c.misuse or c.undefined):
            c.failing = False          # still open, nothing wrong yet
        if c.failing:
            c.primary = primary_problem(c)
            c.sig = signature(c)
            if (self.group_retained[c.sig] < RETAIN
                    or any(cr in self.retained_crs for cr in c.crs)):
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

        self.conns.append(c)

    def finish(self):
        """End of input: connections never ended are closed as `open`, fork
        children's misuse is attached to the parent's connection."""
        if self.finished:
            return
        self.finished = True
        for c in list(self.open.values()):
            self._close(c)
        self.open = {}
        for p in self.procs.values():
            if p.first_ts and (self.first_ts is None or p.first_ts < self.first_ts):
                self.first_ts = p.first_ts
            if p.last_ts and (self.last_ts is None or p.last_ts > self.last_ts):
                self.last_ts = p.last_ts
        by_key = {}
        for c in self.conns:
            by_key[(c.proc.host, c.proc.pid, c.id)] = c
        keep = []
        for c in self.conns:
            forked = [m for m in c.misuse if m.get("kind") == "after_fork"]
            parent = None
            if forked:
                parent = by_key.get((c.proc.host, forked[0].get("parent_pid"), c.id))
            if parent is not None and parent is not c:
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
        self.conns = keep
        self.conns.sort(key=lambda c: (c.first_ts or "", c.proc.host, c.proc.pid, c.id))

    # -- views ---------------------------------------------------------------
    def failing(self):
        return [c for c in self.conns if c.failing]

    def partners(self):
        """Indexes of the ends of each handshake: by client_random, and by the
        TCP addresses (client local/peer = server peer/local) for connections
        that failed before any ClientHello carried a client_random."""
        by_cr, by_tcp = {}, {}
        for c in self.conns:
            for cr in c.crs:
                by_cr.setdefault(cr, {}).setdefault(c.role, []).append(c)
            if c.local and c.peer and c.role in ("client", "server"):
                key = (c.local, c.peer) if c.role == "client" else (c.peer, c.local)
                by_tcp.setdefault(key, {}).setdefault(c.role, []).append(c)
        return {"cr": by_cr, "tcp": by_tcp}

    @staticmethod
    def partner_of(c, partners):
        """The other end of c's handshake (the first one, should a log have
        been read twice), or None."""
        for cr in c.crs:
            for role, conns in partners["cr"].get(cr, {}).items():
                if role != c.role:
                    return conns[0]
        if c.local and c.peer and c.role in ("client", "server"):
            key = (c.local, c.peer) if c.role == "client" else (c.peer, c.local)
            # Ports are reused, but not within seconds (TIME_WAIT): the nearest
            # other end that started within TCP_JOIN_S of this one.
            t = parse_ts(c.first_ts) if c.first_ts else None
            best, gap = None, TCP_JOIN_S
            other = "server" if c.role == "client" else "client"
            for o in partners["tcp"].get(key, {}).get(other, ()):
                ot = parse_ts(o.first_ts) if o.first_ts else None
                if t is not None and ot is not None and abs(ot - t) <= gap:
                    best, gap = o, abs(ot - t)
            return best
        return None

    def by_endpoint(self):
        """(role, endpoint) -> {"conns": n, "outcomes": Counter, "failed": n, "procs": set}"""
        out = {}
        for c in self.conns:
            key = (c.role or "?", c.endpoint())
            g = out.setdefault(key, {"conns": 0, "failed": 0, "outcomes": collections.Counter(),
                                     "procs": set(), "first_ts": c.first_ts,
                                     "last_ts": c.last_ts, "list": []})
            g["conns"] += 1
            g["failed"] += 1 if c.failing else 0
            g["outcomes"][c.outcome if c.app_data or c.outcome != "ok" else "ok, no app data"] += 1
            g["procs"].add(c.proc.name)
            g["last_ts"] = max(g["last_ts"] or "", c.last_ts or "")
            g["list"].append(c)
        return out

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
                mine = [c for c in self.conns if c.proc is g["proc"] and c.peer == g["peer"]
                        and (g["peer"] or c.sni == g["sni"])]
                g["total"] = len(mine)
                g["total_failed"] = sum(1 for c in mine if c.failing)
                g["last_conn_ts"] = max((c.last_ts or "" for c in mine), default=None)
            else:
                g["total"] = g["count"]
                g["total_failed"] = g["failed"]
        return sorted(out.values(), key=lambda g: g["first_ts"] or "")
