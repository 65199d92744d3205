"""The report as plain text (ASCII apart from what peers sent)."""
import textwrap

from sslshim_symbols import display_frames, frame_label, frame_short

TIMELINE_SHOWN = 120


def _wrap(text, indent, width=100):
    return textwrap.fill(text, width=width, initial_indent=indent,
                         subsequent_indent=indent + "  ", break_on_hyphens=False,
                         break_long_words=False)


def _bullets(items, indent, width=100):
    out = []
    for it in items:
        out.append(textwrap.fill(it, width=width, initial_indent=indent + "- ",
                                 subsequent_indent=indent + "  ", break_on_hyphens=False,
                                 break_long_words=False))
    return out


def _short_ts(ts):
    return (ts or "?").replace("T", " ").rstrip("Z")


def _collapse(entries):
    """Consecutive entries with the same text fold into one with a count."""
    out = []
    for e in entries:
        if out and out[-1][0]["text"] == e["text"] and out[-1][0]["kind"] == e["kind"]:
            out[-1][1] += 1
            out[-1][2] = e
        else:
            out.append([e, 1, e])
    return out


def timeline_lines(entries, indent, elided=0):
    lines = []
    folded = _collapse(entries)
    if len(folded) > TIMELINE_SHOWN:
        keep = folded[:TIMELINE_SHOWN // 2] + [None] + folded[-TIMELINE_SHOWN // 2:]
    else:
        keep = folded
    for item in keep:
        if item is None:
            lines.append(indent + "           ... %d entries not shown ..."
                         % (len(folded) - TIMELINE_SHOWN))
            continue
        e, n, last = item
        t = "%+10.3f" % e["t_ms"] if e["t_ms"] is not None else "         ?"
        mark = "!!" if e["bad"] else "  "
        text = e["text"]
        if n > 1:
            text += "   (x%d, until %+.3f ms)" % (n, last["t_ms"] or 0)
        lines.append("%s%s ms %s %s" % (indent, t, mark, text))
    if elided:
        lines.append(indent + "(%d entries in the middle of this connection were not kept)"
                     % elided)
    return lines


def stack_lines(frames, indent):
    return ["%s#%-2d %s" % (indent, i, frame_label(f)) for i, f in display_frames(frames)]


def _selection_words(sel):
    """What --host, --pid, ... selected, in words ("" for everything)."""
    parts = []
    for key in ("host", "pid", "conn", "peer"):
        if sel.get(key) is not None:
            parts.append("%s %s" % (key, ", ".join(str(x) for x in sel[key])))
    if sel.get("since"):
        parts.append("since %s" % sel["since"])
    if sel.get("until"):
        parts.append("until %s" % sel["until"])
    if sel.get("last"):
        parts.append("last run: %s" % sel["last"])
    if sel.get("failed"):
        parts.append("listing failing connections only (counts are of all selected)")
    return "; ".join(parts)


def render(doc, out):
    w = out.write
    s = doc["summary"]
    hosts = doc["hosts"]
    w("sslshim report: %d input%s, %d process%s on %d host%s (%s), %d events\n" % (
        len(doc["inputs"]), "" if len(doc["inputs"]) == 1 else "s",
        len(doc["processes"]), "" if len(doc["processes"]) == 1 else "es",
        len(hosts), "" if len(hosts) == 1 else "s", ", ".join(hosts) or "-", doc["events"]))
    if doc["first_ts"]:
        w("  from %s to %s UTC\n" % (_short_ts(doc["first_ts"]), _short_ts(doc["last_ts"])))
    if doc["problem_count"]:
        w("  %d input problem%s (bad lines skipped; listed on stderr)\n"
          % (doc["problem_count"], "" if doc["problem_count"] == 1 else "s"))
    if doc.get("duplicates"):
        w("  %d duplicate line%s skipped (forwarding delivered them twice)\n"
          % (doc["duplicates"], "" if doc["duplicates"] == 1 else "s"))
    sel = doc.get("selection")
    if sel and _selection_words(sel):
        w("  selected: %s\n" % _selection_words(sel))
        if doc.get("unselected_connections"):
            n = doc["unselected_connections"]
            w("  %d connection%s of other peers left out\n" % (n, "" if n == 1 else "s"))
    if doc.get("host_filter") is not None and not doc["events"]:
        w("  no events of host%s %s in these logs\n"
          % ("" if len(doc["host_filter"]) == 1 else "s", ", ".join(doc["host_filter"])))
    for d in doc["dropped"]:
        w("  WARNING: %s dropped %s lines (%s): the log is incomplete\n"
          % (d["process"], d.get("n"), d.get("reason")))
    w("\n")
    if len(hosts) > 1:
        fleet_lines(doc["fleet"], w)

    w("Connections: %d, %d ok, %d failing" % (s["connections"], s["ok"], s["failed"]))
    if s["open"]:
        w(", %d still open (no conn_end: running, killed, or log cut short)" % s["open"])
    if s["joined_handshakes"]:
        w("; %d handshake%s seen from both ends (joined by client_random)"
          % (s["joined_handshakes"], "" if s["joined_handshakes"] == 1 else "s"))
    w("\n")
    if doc["endpoints"]:
        w("  %-7s %-40s %6s %7s  %s\n" % ("role", "peer", "conns", "failing", "outcomes"))
        for e in doc["endpoints"]:
            oc = ", ".join("%s %d" % kv for kv in sorted(e["outcomes"].items()))
            w("  %-7s %-40s %6d %7d  %s   [%s]\n" % (e["role"], e["endpoint"], e["conns"],
                                                    e["failed"], oc, ", ".join(e["processes"][:4])
                                                    + (" ..." if len(e["processes"]) > 4 else "")))
    w("\n")

    if doc["alerts"]:
        w("Alerts by side and kind\n")
        for a in doc["alerts"]:
            w("  %-4s %-8s %-26s %6d   %s\n" % (a["dir"], a["level"], a["desc"], a["count"],
                                               ", ".join(a["who"][:4])))
        w("\n")
    else:
        w("Alerts: none\n\n")

    if doc["loops"]:
        w("Loops\n")
        for g in doc["loops"]:
            if g["kind"] == "reconnect":
                w("  RECONNECT LOOP: %s -> %s%s: %s connections, %s failing (threshold %d "
                  "within %s s crossed), %s .. %s, last alert %s\n" % (
                      g["process"], g["peer_label"],
                      " (sni %s)" % g["sni"] if g["sni"] and g["peer"] else "",
                      g["connections"], g["connections_failed"], g["count"], g["window_s"],
                      _short_ts(g["first_ts"]), _short_ts(g["last_ts"]), g["last_alert"]))
            else:
                w("  RENEGOTIATION LOOP: %s conn %s: %d handshakes within %s s, last alert %s\n"
                  % (g["process"], g["conn"], g["count"], g["window_s"],
                     g["last_alert"] or "none"))
            for m in g["diagnosis"]["meaning"]:
                w(_wrap(m, "    ") + "\n")
            if g["stack"]:
                chain = " <- ".join(frame_short(f) for f in g["stack"][:6])
                w("    issued from: %s\n" % chain)
                w("\n".join(stack_lines(g["stack"], "      ")) + "\n")
        w("\n")
    else:
        w("Loops: none\n\n")

    if not doc["failures"]:
        w("Failures: none\n")
        return
    w("Failures (%d kind%s)\n" % (len(doc["failures"]), "" if len(doc["failures"]) == 1 else "s"))
    for f in doc["failures"]:
        w("\n[%d] %s %s: %s\n" % (f["id"], ", ".join(f["processes"][:3]), f["endpoint"],
                                 f["title"]))
        w("    %d connection%s, %s .. %s\n" % (f["count"], "" if f["count"] == 1 else "s",
                                              _short_ts(f["first_ts"]), _short_ts(f["last_ts"])))
        if f["diagnosis"].get("cause"):
            w(_wrap("cause: " + f["diagnosis"]["cause"], "  ") + "\n")
        if f["other_end_of"]:
            w("    This is the other end of the handshakes in [%d]; see the diagnosis there.\n"
              % f["other_end_of"])
            for line in f["diagnosis"]["evidence"][:3]:
                w(_wrap(line, "      ") + "\n")
            continue
        d = f["diagnosis"]
        w("  Diagnosis:\n")
        for m in d["meaning"]:
            w(_wrap(m, "    ") + "\n")
        if d["evidence"]:
            w("  What the logs show:\n")
            w("\n".join(_bullets(d["evidence"], "    ")) + "\n")
        if d["check"]:
            w("  What to check next:\n")
            w("\n".join(_bullets(d["check"], "    ")) + "\n")
        if f["count"] > 1:
            inst = ", ".join("%s conn %s" % (x["process"], x["conn"]) for x in f["instances"])
            more = " and %d more" % f["more_instances"] if f["more_instances"] else ""
            w(_wrap("Connections: %s%s" % (inst, more), "  ") + "\n")
        for det in f["detail"]:
            c = det["conn"]
            if c["role"] == "server":
                how = "server, accepted %s on %s" % (c["peer_label"], c["local"] or "?")
            else:
                how = "%s, %s -> %s" % (c["role"], c["local"] or "?", c["peer_label"])
            w("  Timeline of %s conn %s (%s, started %s):\n" % (
                c["process"], c["conn"], how, _short_ts(c["first_ts"])))
            w("\n".join(timeline_lines(det["timeline"], "    ", det["elided"])) + "\n")
            if det["other_timeline"]:
                o = det["other_conn"]
                w("  Timeline of the other end, %s conn %s (%s), same clock origin:\n"
                  % (o["process"], o["conn"], o["role"]))
                w("\n".join(timeline_lines(det["other_timeline"], "    ")) + "\n")
            for who, sd in ((c, det.get("said")), (det.get("other_conn"), det.get("other_said"))):
                lines = said_lines(sd, "    ")
                if lines:
                    w("  What %s conn %s (%s) said and heard:\n" % (who["process"], who["conn"],
                                                                  who["role"]))
                    w("\n".join(lines) + "\n")
            for st in det["stacks"]:
                w("  Stack (%s):\n" % st["label"])
                w("\n".join(stack_lines(st["frames"], "    ")) + "\n")
            if det["joined"]:
                j = det["joined"]
                if j["client_random"]:
                    w("  Both ends of this handshake (client_random %s):\n" % j["client_random"])
                else:
                    w("  Both ends of this connection (joined by TCP addresses; no "
                      "client_random):\n")
                w("\n".join(joined_lines(j["rows"], "    ")) + "\n")
            elif det["conn"]["client_random"]:
                w("  Other end: not in these logs (client_random %s)\n"
                  % det["conn"]["client_random"])
    if doc["symbolizer_notes"]:
        w("\n")
        for n in doc["symbolizer_notes"]:
            w("note: %s\n" % n)


def _clock(ts, day=None):
    """A time as HH:MM:SS, with its date when that is not day."""
    short = _short_ts(ts).split(".")[0]
    date, _, clock = short.partition(" ")
    return clock if date == day else short


def fleet_lines(fleet, w):
    """The failures across hosts (issue 15), before any one connection's
    detail: one block per cause, peer and role."""
    if not fleet:
        w("Fleet: no failures on any host\n\n")
        return
    w("Fleet: failures across hosts (%d)\n" % len(fleet))
    for f in fleet:
        first = f["first_ts"] or ""
        day = _short_ts(first).split(" ")[0]
        hosts = ", ".join(f["hosts"][:8]) + (" ..." if len(f["hosts"]) > 8 else "")
        where = "%s -> %s" % (f["role"] or "?", f["peer"]) if f["role"] != "server" else \
            "server %s" % f["peer"]
        if f["sni"]:
            where += " (sni %s)" % f["sni"]
        w(_wrap("%d connection%s on %d host%s (%s), %s .. %s: %s: %s" % (
            f["connections"], "" if f["connections"] == 1 else "s", f["host_count"],
            "" if f["host_count"] == 1 else "s", hosts, _clock(first),
            _clock(f["last_ts"], day), where, f["cause"]), "  ") + "\n")
        w(_wrap("%s; %d process%s; failures %s below" % (
            f["what"], f["processes"], "" if f["processes"] == 1 else "es",
            ", ".join("[%d]" % i for i in f["failures"][:12])
            + (" ..." if len(f["failures"]) > 12 else "")), "      ") + "\n")
    w("\n")


def said_lines(sd, indent):
    """The hellos and certificates one end logged, a line or two each."""
    if not sd:
        return []
    out = []
    for h in sd["hellos"]:
        out.append(_wrap("%s %s: %s" % (h.get("dir"), h.get("hs"), h["summary"]), indent))
    for d in ("recv", "sent"):
        chain = sd["chains"].get(d)
        if chain is None:
            continue
        what = "received" if d == "recv" else "sent"
        if not chain:
            out.append("%s%s certificates: none (an empty Certificate message)" % (indent, what))
            continue
        out.append("%s%s certificates (%d):" % (indent, what, len(chain)))
        for i, cert in enumerate(chain):
            out.append(_wrap("#%d %s" % (i, cert["summary"]), indent + "  "))
    if sd["min_version"] or sd["max_version"]:
        out.append("%sversions allowed: %s to %s" % (indent, sd["min_version"] or "any",
                                                     sd["max_version"] or "any"))
    offer = sd.get("local_offer")
    if offer:
        parts = []
        if offer.get("ciphers") is not None:
            parts.append("%d cipher suites: %s" % (len(offer["ciphers"]),
                                                   _short_list(offer["ciphers"], 8)))
        if offer.get("groups") is not None:
            parts.append("groups %s" % _short_list(offer["groups"], 8))
        out.append(_wrap("own offer: %s" % ("; ".join(parts) or "-"), indent))
    v = sd.get("verify")
    if v:
        out.append(_wrap("verify: %s (%s) at depth %s, subject %s%s%s" % (
            v.get("text"), v.get("code"), v.get("depth"), v.get("subject"),
            ", host %s" % v["host"] if v.get("host") else "",
            ", ip %s" % v["ip"] if v.get("ip") else ""), indent))
    if sd.get("peer_bytes"):
        out.append("%sfirst bytes from the peer (hex): %s" % (indent, sd["peer_bytes"]))
    return out


def _short_list(items, n):
    items = [str(x) for x in items]
    if len(items) > n:
        return ", ".join(items[:n]) + ", … (+%d)" % (len(items) - n)
    return ", ".join(items) or "(none)"


def joined_lines(rows, indent, col=46):
    """The side-by-side table; cells wrap inside their column."""
    out = ["%s   %-24s %-*s %s" % (indent, "", col, "client", "server")]
    for r in rows:
        a = textwrap.wrap(show_value(r["client"]), col, break_on_hyphens=False) or ["-"]
        b = textwrap.wrap(show_value(r["server"]), col, break_on_hyphens=False) or ["-"]
        what = textwrap.wrap(r["what"], 24) or [""]
        for i in range(max(len(a), len(b), len(what))):
            out.append("%s%-2s %-24s %-*s %s" % (
                indent, ("!!" if r["differs"] else "") if i == 0 else "",
                what[i] if i < len(what) else "", col, a[i] if i < len(a) else "",
                b[i] if i < len(b) else ""))
    return out


def show_value(v):
    """A field's value as both renderers show it: "-" for none, yes/no."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)
