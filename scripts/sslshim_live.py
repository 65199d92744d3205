"""The live view (`sslshim run --live`): one line per event as the shim
writes it, like `strace -tt`: the time of the event, the process and
connection, and the event in the words `openssl s_client -state -msg` uses
(`SSL_connect:SSLv3/TLS write client hello`, `SSL3 alert
write:fatal:unknown CA`, `>>> TLSv1.3 Handshake [length 292], ClientHello`).

A Follower tails the JSON logs of a directory from a thread of its own:
every file that appears, from its start, a whole line at a time, each file
in its order (lines of different processes as they are found, a poll every
POLL_S).  Lines it cannot read as events are skipped, never shown raw."""
import json
import os
import threading

POLL_S = 0.05
MAX_LINE = 1 << 20


def _time(e):
    ts = e.get("ts")
    return ts[11:26] if isinstance(ts, str) and len(ts) >= 26 else "?"


class Describer:
    """Words for events; remembers each connection's role (from its
    handshake_start), as s_client's SSL_connect/SSL_accept needs it."""

    def __init__(self):
        self.roles = {}
        self.exes = {}

    def who(self, e):
        key = (e.get("host"), e.get("pid"))
        name = "%s[%s]" % (self.exes.get(key, "?"), e.get("pid"))
        return name + (" conn %s" % e["conn"] if e.get("conn") is not None else "")

    def words(self, e):
        ev = e.get("ev")
        key = (e.get("host"), e.get("pid"), e.get("conn"))
        if ev == "process":
            exe = os.path.basename(str(e.get("exe") or "?"))
            self.exes[(e.get("host"), e.get("pid"))] = exe
            return "process %s, %s" % (exe, e.get("openssl"))
        if ev == "handshake_start":
            self.roles[key] = e.get("role")
            return "handshake_start %s to %s%s" % (e.get("role"), e.get("peer"),
                                                   " (sni %s)" % e["sni"] if e.get("sni") else "")
        if ev == "state":
            call = "SSL_accept" if self.roles.get(key) == "server" else "SSL_connect"
            if e.get("where") == "exit":
                return "%s:exit in %s" % (call, e.get("state"))
            return "%s:%s" % (call, e.get("state"))
        if ev == "alert":
            return e.get("line") or "SSL3 alert %s:%s:%s" % (
                "write" if e.get("dir") == "sent" else "read", e.get("level"), e.get("text"))
        if ev == "msg":
            what = e.get("hs") or e.get("type")
            return "%s %s %s [length %s], %s" % (">>>" if e.get("dir") == "sent" else "<<<",
                                                 e.get("version"), e.get("type"), e.get("len"),
                                                 what)
        if ev == "handshake_done":
            return "handshake_done %s %s%s" % (e.get("version"), e.get("cipher"),
                                              ", resumed" if e.get("resumed") else "")
        if ev == "error":
            queue = e.get("queue") if isinstance(e.get("queue"), list) else []
            reasons = [q.get("reason") for q in queue if isinstance(q, dict) and q.get("reason")]
            return "error in %s: %s%s" % (e.get("fn"), e.get("err"),
                                          " (%s)" % "; ".join(map(str, reasons)) if reasons else "")
        if ev == "hello":
            return "hello %s %s" % (e.get("dir"), e.get("hs"))
        if ev == "certs":
            chain = e.get("chain") if isinstance(e.get("chain"), list) else []
            return "certs %s: %s" % (e.get("dir"), ", ".join(
                str(c.get("subject")) for c in chain if isinstance(c, dict)) or "none")
        if ev == "module":
            return "module %s" % e.get("path")
        if ev == "conn_end":
            return "conn_end %s" % e.get("outcome")
        if ev == "loop":
            return "LOOP: %s connections to %s in %ss" % (e.get("count"), e.get("peer"),
                                                          e.get("window_s"))
        return str(ev)

    def line(self, e):
        words = self.words(e)            # first: a process line names the exe
        return "%s %s %s" % (_time(e), self.who(e), words)


class Follower:
    """Tails one log file, or the *.jsonl files under a directory; write(line)
    gets each event's line.  start(), then stop() (which reads what is left
    first)."""

    def __init__(self, directory, write, start_offsets=None):
        self.dir = directory
        self.write = write
        self.offsets = dict(start_offsets or {})   # lines already there are not shown
        self.partial = {}
        self.describer = Describer()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def from_end(self):
        """Show only what is written from now on (report --follow)."""
        self.offsets = {p: os.path.getsize(p) for p in self._files()}

    def start(self):
        self.thread.start()

    def stop(self):
        self.done.set()
        self.thread.join(timeout=10)
        self.poll()

    def _loop(self):
        while not self.done.wait(POLL_S):
            self.poll()

    def _files(self):
        if os.path.isfile(self.dir):
            return [self.dir]
        out = []
        for root, _, files in os.walk(self.dir):
            out += [os.path.join(root, f) for f in sorted(files) if ".jsonl" in f]
        return out

    def poll(self):
        for path in self._files():
            try:
                with open(path, "rb") as f:
                    f.seek(self.offsets.get(path, 0))
                    data = f.read(MAX_LINE * 4)
            except OSError:
                continue
            if not data:
                continue
            self.offsets[path] = self.offsets.get(path, 0) + len(data)
            data = self.partial.pop(path, b"") + data
            lines = data.split(b"\n")
            if lines[-1]:
                self.partial[path] = lines[-1][:MAX_LINE]
            for raw in lines[:-1]:
                self._show(raw)

    def _show(self, raw):
        try:
            e = json.loads(raw)
        except ValueError:
            return
        if isinstance(e, dict) and isinstance(e.get("ev"), str):
            self.write(self.describer.line(e) + "\n")
