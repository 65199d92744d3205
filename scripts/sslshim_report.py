"""The analysis as one document: what `report` prints as text, writes as
HTML and dumps with --json are all built from the dict that build() returns.
"""
import collections
import gc
import os
import re
import sys

from sslshim_analysis import MAX_LISTED, Analysis, parse_ts
from sslshim_diagnose import diagnose, headline, loop_diagnosis
from sslshim_explain import peer_label, said
from sslshim_logs import Problems, Reader, Selection, expand
from sslshim_paths import this_host
from sslshim_progress import Progress
from sslshim_symbols import Symbolizer

FORMAT_VERSION = 1


def _rel_ms(ts, t0):
    a, b = parse_ts(ts), t0
    if a is None or b is None:
        return None
    return round((a - b) * 1000.0, 3)


def _bytes(n):
    return "1 byte" if n == 1 else "%s bytes" % n


def timeline_entries(c, t0=None):
    """The connection's timeline as display dicts, in seq order."""
    entries = sorted(c.timeline(), key=lambda e: (e[0] is None, e[0] or 0))
    related = [(None, m.get("ts"), "misuse", dict(m, child=p.name)) for p, m in c.related
               if m is not None and m.get("ts")]
    if related:
        # a fork child's use of this SSL, placed by time among our own events
        entries = sorted(entries + related, key=lambda e: e[1] or "")
    if t0 is None:
        t0 = parse_ts(c.first_ts) if c.first_ts else None
    out = []
    for seq, ts, kind, d in entries:
        item = {"seq": seq, "ts": ts, "t_ms": _rel_ms(ts, t0), "kind": kind, "dir": None,
                "text": "", "name": None, "bad": False}
        if kind == "start":
            entry, n, attempt, role = d
            item["text"] = "handshake %s starts (%s%s)" % (
                n, "via %s" % entry if entry else "driven by libssl",
                ", attempt %s to this peer" % attempt if attempt else "")
        elif kind == "state":
            state, where, ret = d
            item["name"] = state
            item["text"] = state + ("  [exit, ret %s]" % ret if where == "exit" else "")
            item["bad"] = where == "exit" and ret is not None and ret <= 0 and state == "error"
        elif kind == "msg":
            direction, name, length, version = d
            item["dir"] = direction
            item["name"] = name
            item["text"] = "%s %s (%s%s)" % (direction, name, _bytes(length),
                                             ", " + version if version else "")
        elif kind == "alert":
            item["dir"] = d.get("dir")
            item["name"] = d.get("desc")
            item["bad"] = d.get("level") == "fatal"
            item["text"] = "%s alert %s %s  (%s)" % (d.get("dir"), d.get("level"), d.get("desc"),
                                                     d.get("line") or d.get("text"))
        elif kind == "done":
            v = d.get("verify")
            v = v.get("text") if isinstance(v, dict) else v
            item["text"] = "handshake done: %s %s %s%s%s" % (
                d.get("version"), d.get("cipher"), d.get("group") or "",
                " resumed" if d.get("resumed") else "", ", verify %s" % v if v else "")
        elif kind == "error":
            item["bad"] = True
            qs = d.get("queue") or []
            q = "; ".join("%s (%s %s:%s)" % (x.get("reason"), x.get("func") or "",
                                            x.get("file"), x.get("line")) for x in qs[:3])
            extra = ""
            if d.get("errno"):
                extra = " errno %s (%s)" % (d.get("errno"), d.get("sys"))
            item["text"] = "error: %s returned %s, %s%s%s" % (
                d.get("fn"), d.get("ret"), d.get("err"), extra, ": " + q if q else "")
        elif kind == "misuse":
            item["bad"] = True
            if d.get("kind") == "concurrent":
                item["text"] = "MISUSE: %s in thread %s while thread %s was in %s on this SSL" % (
                    d.get("fn"), d.get("tid"), d.get("other_tid"), d.get("other_fn") or "a call")
            elif d.get("child"):
                item["text"] = "MISUSE: fork child %s called %s on this SSL (after_fork)" % (
                    d.get("child"), d.get("fn"))
            else:
                item["text"] = "MISUSE: %s %s (parent pid %s)" % (d.get("kind"), d.get("fn"),
                                                                  d.get("parent_pid"))
        elif kind == "loop":
            item["bad"] = True
            item["text"] = "LOOP: %s, %s within %s s (%s failed), last alert %s" % (
                d.get("kind"), d.get("count"), d.get("window_s"), d.get("failed"),
                d.get("last_alert"))
        elif kind == "call":
            fn, ret, err, nbytes = d
            item["text"] = "call %s -> %s%s" % (fn, ret, " " + err if err and
                                                err != "SSL_ERROR_NONE" else "")
        elif kind == "undefined":
            item["bad"] = True
            item["text"] = "UNDEFINED bytes in %s buffer at offset %s of %s" % (
                d.get("fn"), d.get("offset"), d.get("len"))
        elif kind == "note":
            item["text"] = "note: %s" % d.get("text")
        elif kind == "end":
            item["text"] = ("conn_end: outcome %s, app data %s, %s in / %s out, alerts "
                            "sent %s recv %s, %s ms" % (
                                d.get("outcome"), "yes" if d.get("app_data") else "no",
                                _bytes(d.get("bytes_in")), d.get("bytes_out"), d.get("alerts_sent"),
                                d.get("alerts_recv"), d.get("ms")))
        out.append(item)
    return out


def _cert(cert):
    if not cert:
        return None
    return "%s (issuer %s, not after %s, sha256 %s…, spki %s…)" % (
        cert.get("subject"), cert.get("issuer"), cert.get("not_after"),
        (cert.get("sha256") or "")[:16], (cert.get("spki_sha256") or "")[:16])


def joined_view(c, o):
    """Rows (what, client value, server value, differs) for two ends of one
    handshake; differs marks what matters."""
    client, server = (c, o) if c.role == "client" else (o, c)
    cd, sd = client.done or {}, server.done or {}
    rows = []

    def row(what, a, b, differs=None):
        if a is None and b is None:
            return
        if differs is None:
            differs = a is not None and b is not None and a != b
        rows.append({"what": what, "client": a, "server": b, "differs": bool(differs)})

    row("process", client.proc.label(), server.proc.label(), False)
    row("openssl", client.proc.openssl, server.proc.openssl)
    row("conn", client.id, server.id, False)
    row("connection", "%s -> %s" % (client.local or "?", peer_label(client.peer, client.sni)),
        "%s -> %s" % (server.peer or "?", server.local or "?"),
        bool(client.peer and server.local and client.peer != server.local))
    row("sni", client.sni, server.sni or sd.get("sni"))
    # a handshake that failed has no handshake_done: what its hellos said
    ch_seen, ch_sent = _hello(client, "ServerHello", "recv"), _hello(server, "ServerHello", "sent")
    # before both ends negotiated, the versions logged are only each side's own
    row("version", cd.get("version") or ch_seen.get("version") or client.version,
        sd.get("version") or ch_sent.get("version") or server.version,
        bool(cd.get("version") and sd.get("version") and cd["version"] != sd["version"]))
    row("cipher", cd.get("cipher") or ch_seen.get("cipher"),
        sd.get("cipher") or ch_sent.get("cipher"))
    row("group", cd.get("group"), sd.get("group"))
    row("alpn", cd.get("alpn"), sd.get("alpn"))
    sc_seen = cd.get("peer_cert") or _leaf(client, "recv")
    sc_held = sd.get("local_cert") or _leaf(server, "sent")
    if sc_seen or sc_held:
        row("server cert: client saw / server holds", _cert(sc_seen), _cert(sc_held),
            bool(sc_seen and sc_held and (sc_seen.get("spki_sha256") != sc_held.get("spki_sha256")
                                          or sc_seen.get("sha256") != sc_held.get("sha256"))))
    cc_seen = sd.get("peer_cert") or _leaf(server, "recv")
    cc_held = cd.get("local_cert") or _leaf(client, "sent")
    if cc_seen or cc_held:
        row("client cert: client holds / server saw", _cert(cc_held), _cert(cc_seen),
            bool(cc_seen and cc_held and cc_seen.get("spki_sha256") != cc_held.get("spki_sha256")))
    row("verify", _verify(cd) or _verify({"verify": client.verify}),
        _verify(sd) or _verify({"verify": server.verify}), False)

    def alerts(x, d):
        return ", ".join("%s %s in '%s'" % (a.get("level"), a.get("desc"), a.get("state"))
                         for a in x.alerts if a.get("dir") == d) or "-"
    cs, ss = alerts(client, "sent"), alerts(server, "sent")
    cr, sr = alerts(client, "recv"), alerts(server, "recv")
    row("alerts sent", cs, ss, False)
    row("alerts received", cr, sr, False)
    if client.fatal or server.fatal:
        sent_c = {a.get("desc") for a in client.alerts if a.get("dir") == "sent"}
        recv_s = {a.get("desc") for a in server.alerts if a.get("dir") == "recv"}
        sent_s = {a.get("desc") for a in server.alerts if a.get("dir") == "sent"}
        recv_c = {a.get("desc") for a in client.alerts if a.get("dir") == "recv"}
        if sent_c - recv_s or sent_s - recv_c:
            rows[-1]["differs"] = True
    row("first error", _first_reason(client), _first_reason(server), False)
    row("last state", client.end.get("last_state") if client.end else None,
        server.end.get("last_state") if server.end else None, False)
    row("outcome", "%s%s" % (client.outcome, "" if client.app_data else ", no app data"),
        "%s%s" % (server.outcome, "" if server.app_data else ", no app data"), False)
    mu = lambda x: ", ".join("%s in %s" % (m.get("kind"), m.get("fn")) for m in x.misuse) or (
        ", ".join("after_fork in child %s" % p.name for p, m in x.related if m) or None)
    row("misuse", mu(client), mu(server), bool(mu(client) or mu(server)))
    row("valgrind", client.proc.valgrind, server.proc.valgrind,
        bool(client.proc.valgrind or server.proc.valgrind))
    return {"client_random": (set(c.crs) & set(o.crs) or {None}).pop(),
            "joined_by": "client_random" if set(c.crs) & set(o.crs) else "tcp addresses",
            "client": _conn_ref(client), "server": _conn_ref(server), "rows": rows}


def _hello(c, hs, direction):
    return next((h for h in reversed(c.hellos) if h.get("hs") == hs
                 and h.get("dir") == direction), {})


def _leaf(c, direction):
    chain = c.chains.get(direction)
    return chain[0] if chain else None


def _verify(d):
    v = d.get("verify")
    if isinstance(v, dict):
        return "%s (%s)" % (v.get("text"), v.get("code"))
    return v


def _first_reason(c):
    for e in c.errors:
        for q in e.get("queue") or ():
            if q.get("reason"):
                return "%s: %s" % (e.get("fn"), q["reason"])
        return "%s: %s" % (e.get("fn"), e.get("err"))
    return None


def _conn_ref(c):
    return {"host": c.proc.host, "pid": c.proc.pid, "exe": c.proc.exe, "process": c.proc.name,
            "conn": c.id, "role": c.role, "peer": c.peer, "local": c.local, "sni": c.sni,
            "peer_label": peer_label(c.peer, c.sni),
            "first_ts": c.first_ts, "last_ts": c.last_ts, "outcome": c.outcome,
            "app_data": c.app_data, "client_random": c.crs[0] if c.crs else None,
            "version": (c.done or {}).get("version") or c.version,
            "cipher": (c.done or {}).get("cipher"), "attempt": c.attempt}


def _stack_key(frames):
    return tuple((f.get("obj"), f.get("off")) for f in frames or ())


def conn_stacks(c, extra=()):
    """(label, frames) of the stacks recorded for c, each distinct stack once."""
    seen = {}
    out = []
    items = list(c.stacks)
    if c.start_stack:
        items.insert(0, ("handshake start", c.start_stack))
    for proc, m in c.related:
        if m is not None and m.get("stack"):
            items.append(("misuse after_fork in child %s" % proc.name, m["stack"]))
    items.extend(extra)
    for label, frames in items:
        k = _stack_key(frames)
        if k in seen:
            if label not in out[seen[k]][0]:
                out[seen[k]] = (out[seen[k]][0] + ", " + label, out[seen[k]][1])
            continue
        seen[k] = len(out)
        out.append((label, frames))
    return out[:8]


def build(an, sym, reader, problems, show_all=False, select=None):
    an.finish()
    for host, path, bid, proc in an.modules:
        sym.add_module(host, path, bid)
    for b in reader.bundles:
        sym.add_objects(b.objects)

    partners = an.partners()
    loops = an.loop_summary()
    if select is not None and select.peers is not None:
        # a reconnect loop is of a peer; a loop on one connection is of its process
        loops = [g for g in loops if g["kind"] != "reconnect"
                 or select.wants_peer(g["peer"], g["sni"])]
    loops_by_proc = collections.defaultdict(list)
    for g in loops:
        loops_by_proc[g["proc"].key].append(g)

    # failure groups (Folded.sigs), in the order a person should read them;
    # of each, the connections kept whole (the rest are counted only)
    kept_by_sig = {}
    for c in an.failing():
        kept_by_sig.setdefault(c.sig, []).append(c)
    groups = sorted(an.folded.sigs.items(), key=lambda item: item[1]["first"][0])

    def order(item):
        sig, g = item
        first = g["first"][1]
        p = first.primary
        rank = 0 if (p["kind"] == "alert" and p["dir"] == "sent") else \
            1 if p["kind"] in ("eof", "reset", "error", "misuse", "undefined") else 2
        # among ends that both sent an alert, the one that failed first is the cause
        return (rank, p["ts"] or first.first_ts or "")
    ordered = sorted(groups, key=order)
    group_of = {sig: i for i, (sig, g) in enumerate(ordered, 1)}

    def group_of_conn(c):
        return group_of.get(c.sig) if c.failing else None

    failures = []
    fleet_groups = []
    pending_stacks = []
    for i, (sig, g) in enumerate(ordered, 1):
        kept = [c for c in kept_by_sig.get(sig, ()) if c.retained]
        with_partner = [c for c in kept if an.partner_of(c, partners)]
        reps = kept if show_all else (with_partner[:1] or kept[:1])
        rep = reps[0] if reps else g["first"][1]
        partner = an.partner_of(rep, partners)
        other_end_of = None
        # A group that only mirrors an earlier one (it received the alert the
        # other end sent) is not diagnosed twice; one that sent its own is.
        mirrors = not (rep.primary["kind"] == "alert" and rep.primary["dir"] == "sent")
        partner_group = group_of_conn(partner) if partner is not None else None
        if partner is not None and mirrors and (partner_group or i) < i:
            other_end_of = partner_group
        diag = diagnose(rep, partner, loops_by_proc.get(rep.proc.key, []))
        procs = sorted({p.label() for p in g["procs"]})
        entry = {
            "id": i, "headline": headline(rep), "title": diag["title"], "role": rep.role,
            "endpoint": rep.endpoint(), "count": g["count"], "processes": procs,
            "primary": rep.primary, "other_end_of": other_end_of,
            "first_ts": g["first"][1].first_ts, "last_ts": g["last"][1],
            "instances": [_conn_ref(c) for c in an.folded.instances(g)],
            "more_instances": max(0, g["count"] - MAX_LISTED),
            "diagnosis": diag, "detail": []}
        fleet_groups.append((entry, rep, g))
        for r in reps:
            p = an.partner_of(r, partners)
            stacks = conn_stacks(r)
            for label, frames in stacks:
                sym.want(r.proc.host, frames)
                pending_stacks.append(frames)
            t0 = parse_ts(r.first_ts) if r.first_ts else None
            if p is not None and p.first_ts:
                pt = parse_ts(p.first_ts)
                if pt is not None and (t0 is None or pt < t0):
                    t0 = pt
            det = {"conn": _conn_ref(r), "timeline": timeline_entries(r, t0),
                   "elided": r.elided, "stacks": [{"label": l, "frames": f} for l, f in stacks],
                   "joined": joined_view(r, p) if p is not None else None,
                   "other_timeline": timeline_entries(p, t0) if p is not None and p.retained
                   else None,
                   "other_conn": _conn_ref(p) if p is not None else None,
                   # what each end's hellos and certificates said (issue 14)
                   "said": said(r), "other_said": said(p) if p is not None else None}
            entry["detail"].append(det)
        failures.append(entry)

    loop_out = []
    for g in loops:
        if g.get("stack"):
            sym.want(g["proc"].host, g["stack"])
        loop_out.append(g)
    sym.resolve_pending()
    for f in failures:
        for det in f["detail"]:
            host = det["conn"]["host"]
            for s in det["stacks"]:
                s["frames"] = sym.stack(host, s["frames"])

    endpoints = []
    labels = {}
    certificates = []
    cert_numbers = {}

    def cert_index(cert):
        """Each certificate once in the document (attempts share a few)."""
        if cert is None:
            return None
        n = cert_numbers.get(id(cert))
        if n is None:
            n = cert_numbers[id(cert)] = len(certificates)
            certificates.append(cert)
        return n

    for (role, ep), g in sorted(an.by_endpoint().items(), key=lambda kv: (kv[0][0] != "client",
                                                                          kv[0][1])):
        if select is not None and select.failed and not g["failed"]:
            an.folded.attempts(g)          # handed over and let go, not listed
            continue
        attempts = []
        for (first_ts, _, _, conn, _, last_ts, proc, outcome, failing, what,
             sig) in an.folded.attempts(g):
            if select is not None and select.failed and not failing:
                continue
            label = labels.get(proc.key)
            if label is None:
                label = labels[proc.key] = proc.label()
            attempt = {"ts": first_ts, "end_ts": last_ts, "conn": conn, "process": label,
                       "outcome": outcome, "failing": failing, "what": what,
                       "group": group_of.get(sig) if failing else None}
            if not failing:
                # what it negotiated (Folded._ok_facts), None without a handshake_done;
                # the server's certificate as an index into doc["certificates"]
                attempt["what"] = "ok"
                if what is not None:
                    version, cipher, peer_cert, local_cert = what
                    attempt["version"], attempt["cipher"] = version, cipher
                    attempt["server_cert"] = cert_index(peer_cert if role == "client"
                                                        else local_cert)
            attempts.append(attempt)
        endpoints.append({"role": role, "endpoint": ep, "conns": g["conns"], "failed": g["failed"],
                          "outcomes": dict(g["outcomes"]),
                          "processes": sorted({p.name for p in g["procs"]}),
                          "first_ts": g["first_ts"], "last_ts": g["last_ts"],
                          "attempts": attempts})

    alerts = []
    # level and desc may be null (an alert code OpenSSL has no name for)
    for (d, level, desc), n in sorted(an.alert_counts.items(),
                                      key=lambda kv: (-kv[1], [x or "" for x in kv[0]])):
        alerts.append({"dir": d, "level": level, "desc": desc, "count": n,
                       "who": sorted("%s %s" % w for w in an.alert_who.get((d, level, desc), ()))})

    folded = an.folded
    total = folded.connections
    outcomes = folded.outcomes
    failed = folded.failed
    still_open = folded.open
    joined = folded.joined
    doc = {
        "sslshim_report": FORMAT_VERSION,
        "inputs": list(reader.sources),
        "problems": problems.items,
        "problem_count": problems.count,
        "lines": reader.lines, "events": an.events,
        # lines whose host, pid and seq were read before (issue 15)
        "duplicates": an.duplicates,
        "event_counts": an.ev_counts,
        "first_ts": an.first_ts, "last_ts": an.last_ts,
        "hosts": sorted(an.hosts),
        "host_filter": sorted(reader.hosts) if reader.hosts is not None else None,
        # what was selected (sslshim_logs.Selection); the counts are of it,
        # except --failed, which only shortens the listings
        "selection": select.echo() if select is not None else None,
        "unselected_connections": an.unselected,
        "processes": [p.info() for p in an.procs.values()],
        "summary": {"connections": total, "failed": failed, "open": still_open,
                    "ok": total - failed - still_open,
                    "outcomes": dict(outcomes), "joined_handshakes": joined,
                    "loops": len(loops), "misuse": len(an.misuse)},
        "endpoints": endpoints,
        "certificates": certificates,
        "alerts": alerts,
        "loops": [{"kind": g["kind"], "process": g["proc"].label(), "host": g["proc"].host,
                   "pid": g["proc"].pid, "peer": g["peer"], "sni": g["sni"], "conn": g["conn"],
                   "peer_label": g.get("label") or peer_label(g["peer"], g["sni"]),
                   "count": g["count"], "failed": g["failed"], "window_s": g["window_s"],
                   "connections": g.get("total"), "connections_failed": g.get("total_failed"),
                   "first_ts": g["first_ts"], "last_ts": g["last_ts"], "reports": g["reports"],
                   "last_alert": g["last_alert"],
                   "stack": sym.stack(g["proc"].host, g["stack"]),
                   "diagnosis": loop_diagnosis(g)} for g in loop_out],
        "fleet": fleet_view(fleet_groups),
        "failures": failures,
        "misuse": [{"process": p.label(), "conn": m.get("conn"), "kind": m.get("kind"),
                    "fn": m.get("fn"), "ts": m.get("ts"), "tid": m.get("tid"),
                    "other_tid": m.get("other_tid"), "parent_pid": m.get("parent_pid")}
                   for p, m, _ in an.misuse[:100]],
        "dropped": [dict(d, process=p.label()) for p in an.procs.values() for d in p.dropped],
        "symbolizer_notes": sorted(sym.notes),
    }
    return doc


def fleet_view(groups):
    """Failures across hosts (issue 15): the failure groups of one cause,
    role, peer and SNI as one entry, a server known by the address it
    listens on (its failures with clients on many hosts are one), the most
    connections first.  groups: (failure entry, its representative
    connection, its counts: Folded.sigs) in the order of the failures."""
    fleet = collections.OrderedDict()
    for entry, rep, g in groups:
        cause = entry["diagnosis"].get("cause_name") or entry["title"]
        peer = rep.local if rep.role == "server" else rep.peer
        if not peer:
            peer = "unknown address" if rep.role == "server" else peer_label(rep.peer, rep.sni)
        key = (cause, rep.role, peer, rep.sni)
        f = fleet.get(key)
        if f is None:
            f = fleet[key] = {"cause": cause, "what": entry["headline"], "role": rep.role,
                              "peer": peer, "sni": rep.sni, "hosts": set(), "host_count": 0,
                              "connections": 0, "processes": set(),
                              "first_ts": entry["first_ts"], "last_ts": g["last_ts"],
                              "failures": []}
        f["hosts"].update(p.host for p in g["procs"])
        f["processes"].update(p.key for p in g["procs"])
        f["connections"] += g["count"]
        f["first_ts"] = min(f["first_ts"] or "", entry["first_ts"] or "") or None
        f["last_ts"] = max(f["last_ts"] or "", g["last_ts"] or "") or None
        f["failures"].append(entry["id"])
    out = []
    for f in fleet.values():
        f["hosts"] = sorted(f["hosts"])
        f["host_count"] = len(f["hosts"])
        f["processes"] = len(f["processes"])
        out.append(f)
    out.sort(key=lambda f: (-f["connections"], f["first_ts"] or ""))
    return out


def analyze(inputs, quiet=False, show_all=False, stderr=None, hosts=None, select=None):
    """Read inputs (files, directories, bundles, "-"), analyze them, and return
    the report document; input problems go to stderr (or the given stream).
    hosts: only the events of these host names (a set); select: a
    sslshim_logs.Selection (which hosts too).  doc["unreadable"] names the
    inputs that do not exist or could not be opened."""
    problems = Problems(stream=stderr, quiet=quiet)
    missing = []
    paths = expand(inputs, problems, missing=missing)
    reader = Reader(problems)
    if select is None and hosts is not None:
        select = Selection(hosts=hosts)
    an = Analysis()
    if select is not None and select.peers is not None:
        an.peer_select = select.wants_peer
    # Millions of small objects, none of them in reference cycles: the cyclic
    # collector would only rescan them again and again.
    gc_was = gc.isenabled()
    gc.disable()
    progress = Progress(sys.stderr if stderr is None else stderr, Progress.size_of(paths))
    reader.progress = problems.progress = progress
    try:
        reader.read_lines(paths, an, select=select)
        progress.done()
        doc = build(an, Symbolizer(this_host()), reader, problems, show_all=show_all,
                    select=select)
    finally:
        reader.close()
        if gc_was:
            gc.enable()
    problems.finish()
    doc["input_files"] = len(paths)
    doc["unreadable"] = missing + reader.unreadable
    return doc


# `sslshim run` (sslshim_run.new_run_dir): run-YYYYmmdd-HHMMSS, then -1, -2 ...
# for more runs within the same second
_RUN_DIR = re.compile(r"^run-([0-9]{8}-[0-9]{6})(?:-([0-9]+))?$")
_PROCESS_TS = re.compile(rb'^\{"ts":"([^"]{1,40})","ev":"process",.*"seq":1[,}]')
_ANY_TS = re.compile(rb'^\{"ts":"([^"]{1,40})"')
HEAD_BYTES = 1 << 16      # a process line is among a log's first lines
TAIL_BYTES = 1 << 16      # and its last event in its last 64 KiB


def last_run(inputs, default_root):
    """--last: (the inputs of the most recent run, what was chosen, in words).

    With no inputs: the newest run-<time> directory of default_root, as
    `sslshim run` names them.  Otherwise, or when there is none: the run is
    the process whose process line (seq 1) is the newest, and every process
    whose last event is later than that start (it was running then), each
    with the whole of its files; a process is the .jsonl file and its
    rotated copies (NAME.jsonl.N).  Only what can be read cheaply is
    judged: the first and last 64 KiB of plain files.  ValueError for input
    this cannot judge (stdin, a bundle, a compressed log without its plain
    file)."""
    if not inputs:
        runs = []
        try:
            names = os.listdir(default_root)
        except OSError:
            names = []
        for name in names:
            m = _RUN_DIR.match(name)
            if m and os.path.isdir(os.path.join(default_root, name)):
                runs.append((m.group(1), int(m.group(2) or 0), name))
        if runs:
            d = os.path.join(default_root, max(runs)[2])
            return [d], "newest run directory %s" % d
        inputs = [default_root]
    if "-" in inputs:
        raise ValueError("cannot choose the last run from stdin")
    problems = Problems(quiet=True)
    missing = []
    paths = expand(inputs, problems, missing=missing)
    if missing:
        return inputs, None            # analyze names them (exit 2)
    groups = {}                        # (dir, NAME.jsonl) -> [paths]
    for path in paths:
        d, name = os.path.split(path)
        m = re.match(r"^(.*?\.jsonl)(?:\.[0-9]+)?(?:\.gz)?$", name)
        if not m:
            raise ValueError("%s is not a plain log (a bundle?): name the run's files or "
                             "directory instead" % path)
        groups.setdefault((d, m.group(1)), []).append(path)
    spans = []
    for key, files in groups.items():
        start = end = None
        for path in files:
            s, e = _span(path)
            if s is not None and (start is None or s > start):
                start = s                 # the newest process line of the file
            if e is not None and (end is None or e > end):
                end = e
        spans.append((start, end, files))
    starts = [s for s, e, f in spans if s is not None]
    if not starts:
        raise ValueError("no process line found in the first %d KiB of any log"
                         % (HEAD_BYTES >> 10))
    newest = max(starts)
    chosen = [p for s, e, files in spans
              if s == newest or (e is not None and e > newest) for p in files]
    return chosen, "the processes running at %s (%d files)" % (newest.decode(), len(chosen))


def _span(path):
    """(ts of the last process line with seq 1 in the first HEAD_BYTES, ts
    of the last line), as bytes, of a plain log; (None, None) for another."""
    try:
        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
            if head[:2] == b"\x1f\x8b":
                return None, None
            size = os.fstat(f.fileno()).st_size
            f.seek(max(0, size - TAIL_BYTES))
            tail = f.read(TAIL_BYTES)
    except OSError:
        return None, None
    start = None
    for line in head.split(b"\n"):
        m = _PROCESS_TS.match(line)
        if m:
            start = m.group(1)
    end = None
    for line in reversed(tail.split(b"\n")):
        m = _ANY_TS.match(line)
        if m:
            end = m.group(1)
            break
    return start, end
