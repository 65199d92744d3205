"""The report as one self-contained HTML page: inline CSS and SVG, no
scripts, no external references.  A ladder diagram per failing connection
shown in detail (client and server columns, handshake messages and alerts as
arrows, states beside the columns) and a timeline of attempts per peer.
"""
import html
import os

from sslshim_analysis import parse_ts
from sslshim_symbols import display_frames, frame_label
from sslshim_text import show_value

LADDER_ROWS = 160

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em auto;
max-width:1150px;color:#1d1d1f;padding:0 1em}
h1{font-size:1.6em;margin:.2em 0}h2{border-bottom:1px solid #ccc;margin-top:1.6em}
h3{margin:1.2em 0 .4em;font-size:1.1em}
table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #ddd;padding:2px 7px;
vertical-align:top;text-align:left}th{background:#f3f3f5}
.meta{color:#555}.bad{color:#b00020;font-weight:600}.ok{color:#18794e}
.differs td{background:#fff1f0}.mono,code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;
font-size:12.5px}.failure{border:1px solid #e3c4c4;border-radius:6px;padding:.3em 1em 1em;
margin:1em 0;background:#fffafa}.diag p{margin:.3em 0}.stack td{font-size:12px}
svg text{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:11px}
details{margin:.4em 0}summary{cursor:pointer;color:#333}
.problems li{font-family:ui-monospace,monospace;font-size:12px}
.cause{background:#fff1f0;border-left:4px solid #c0152f;padding:.3em .6em}
"""


def esc(s):
    return html.escape("" if s is None else str(s), quote=True)


def write(doc, path):
    page = render(doc)
    # 0600 like the logs: the page holds what they hold (names, addresses,
    # argv).  A file that exists keeps its mode through O_TRUNC: set it.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
    except OSError:
        os.close(fd)
        raise
    # A log may hold a lone surrogate ("\ud800" is valid JSON): written as its
    # escape, as on stdout, rather than failing the page.
    with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
        f.write(page)


def render(doc):
    out = []
    w = out.append
    s = doc["summary"]
    w("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<title>sslshim report</title><style>%s</style></head><body>\n" % CSS)
    w("<h1>sslshim report</h1>\n<p class=\"meta\">%d inputs, %d processes on %s; %d events, "
      "%s &ndash; %s UTC</p>\n" % (len(doc["inputs"]), len(doc["processes"]),
                                  esc(", ".join(doc["hosts"]) or "-"), doc["events"],
                                  esc(doc["first_ts"]), esc(doc["last_ts"])))
    w("<p><b>%d connections</b>: <span class=\"ok\">%d ok</span>, <span class=\"bad\">%d "
      "failing</span>%s; %d handshakes seen from both ends; %d loops; %d misuse events.</p>\n"
      % (s["connections"], s["ok"], s["failed"],
         ", %d still open" % s["open"] if s["open"] else "", s["joined_handshakes"], s["loops"],
         s["misuse"]))
    if doc["problem_count"]:
        w("<p class=\"bad\">%d input problems (lines skipped) &mdash; see the end of the "
          "page.</p>\n" % doc["problem_count"])

    w("<h2>Connections by peer</h2>\n<table><tr><th>role</th><th>peer</th><th>conns</th>"
      "<th>failing</th><th>outcomes</th><th>processes</th></tr>\n")
    for e in doc["endpoints"]:
        w("<tr><td>%s</td><td class=\"mono\">%s</td><td>%d</td><td%s>%d</td><td>%s</td>"
          "<td>%s</td></tr>\n" % (esc(e["role"]), esc(e["endpoint"]), e["conns"],
                                  " class=\"bad\"" if e["failed"] else "", e["failed"],
                                  esc(", ".join("%s %d" % kv for kv in
                                                sorted(e["outcomes"].items()))),
                                  esc(", ".join(e["processes"][:6]))))
    w("</table>\n")

    w("<h2>Alerts by side and kind</h2>\n")
    if doc["alerts"]:
        w("<table><tr><th>side</th><th>level</th><th>alert</th><th>count</th><th>who</th></tr>\n")
        for a in doc["alerts"]:
            w("<tr><td>%s</td><td%s>%s</td><td>%s</td><td>%d</td><td>%s</td></tr>\n" % (
                esc(a["dir"]), " class=\"bad\"" if a["level"] == "fatal" else "",
                esc(a["level"]), esc(a["desc"]), a["count"], esc(", ".join(a["who"][:6]))))
        w("</table>\n")
    else:
        w("<p>none</p>\n")

    w("<h2>Loops</h2>\n")
    if not doc["loops"]:
        w("<p>none</p>\n")
    for g in doc["loops"]:
        if g["kind"] == "reconnect":
            w("<p class=\"bad\">Reconnect loop: %s &rarr; %s: %s connections, %s failing; "
              "last alert %s</p>\n" % (esc(g["process"]), esc(g["peer_label"]),
                                       esc(g["connections"]),
                                       esc(g["connections_failed"]), esc(g["last_alert"])))
        else:
            w("<p class=\"bad\">Renegotiation loop: %s conn %s: %s handshakes within %s s</p>\n"
              % (esc(g["process"]), esc(g["conn"]), esc(g["count"]), esc(g["window_s"])))
        for m in g["diagnosis"]["meaning"]:
            w("<p>%s</p>\n" % esc(m))
        if g["stack"]:
            w("<p>Issued from:</p>" + stack_table(g["stack"]))

    w("<h2>Attempts per peer</h2>\n")
    t0 = parse_ts(doc["first_ts"]) if doc["first_ts"] else None
    t1 = parse_ts(doc["last_ts"]) if doc["last_ts"] else None
    for i, e in enumerate(doc["endpoints"]):
        w("<h3 class=\"mono\">%s %s</h3>\n" % (esc(e["role"]), esc(e["endpoint"])))
        w(attempts_svg(e, t0, t1, i))

    w("<h2>Failures</h2>\n")
    if not doc["failures"]:
        w("<p>none</p>\n")
    for f in doc["failures"]:
        w("<div class=\"failure\" id=\"failure-%d\">\n<h3>[%d] %s <span class=\"mono\">%s"
          "</span>: %s</h3>\n" % (f["id"], f["id"], esc(", ".join(f["processes"][:3])),
                                  esc(f["endpoint"]), esc(f["title"])))
        w("<p class=\"meta\">%d connection(s), %s &ndash; %s</p>\n" % (
            f["count"], esc(f["first_ts"]), esc(f["last_ts"])))
        if f["other_end_of"]:
            w("<p>The other end of the handshakes in <a href=\"#failure-%d\">[%d]</a>; see "
              "the diagnosis there.</p>\n</div>\n" % (f["other_end_of"], f["other_end_of"]))
            continue
        d = f["diagnosis"]
        if d.get("cause"):
            w("<p class=\"cause\"><b>cause:</b> %s</p>\n" % esc(d["cause"]))
        w("<div class=\"diag\"><h4>Diagnosis</h4>\n")
        for m in d["meaning"]:
            w("<p>%s</p>\n" % esc(m))
        if d["evidence"]:
            w("<h4>What the logs show</h4><ul>%s</ul>\n"
              % "".join("<li>%s</li>" % esc(x) for x in d["evidence"]))
        if d["check"]:
            w("<h4>What to check next</h4><ul>%s</ul>\n"
              % "".join("<li>%s</li>" % esc(x) for x in d["check"]))
        w("</div>\n")
        for k, det in enumerate(f["detail"]):
            c = det["conn"]
            w("<h4>%s conn %s (%s) &mdash; ladder</h4>\n" % (esc(c["process"]), esc(c["conn"]),
                                                            esc(c["role"])))
            w(ladder_svg(det, "l%d_%d" % (f["id"], k)))
            if det["joined"]:
                w("<h4>Both ends (joined by %s <span class=\"mono\">%s</span>)</h4>\n"
                  % (esc(det["joined"]["joined_by"]), esc(det["joined"]["client_random"] or "")))
                w("<table><tr><th></th><th>client</th><th>server</th></tr>\n")
                for r in det["joined"]["rows"]:
                    w("<tr%s><th>%s</th><td class=\"mono\">%s</td><td class=\"mono\">%s</td>"
                      "</tr>\n" % (" class=\"differs\"" if r["differs"] else "", esc(r["what"]),
                                   esc(show_value(r["client"])), esc(show_value(r["server"]))))
                w("</table>\n")
            for who, sd in ((c, det.get("said")), (det.get("other_conn"), det.get("other_said"))):
                w(said_table(who, sd))
            for st in det["stacks"]:
                w("<p>Stack (%s):</p>%s" % (esc(st["label"]), stack_table(st["frames"])))
            w("<details><summary>Timeline (%d entries)</summary>%s</details>\n"
              % (len(det["timeline"]), timeline_table(det["timeline"])))
            if det["other_timeline"]:
                w("<details><summary>Timeline of the other end (%d entries)</summary>%s"
                  "</details>\n" % (len(det["other_timeline"]),
                                    timeline_table(det["other_timeline"])))
        w("</div>\n")

    if doc["problems"]:
        w("<h2>Input problems</h2><ul class=\"problems\">%s</ul>\n" % "".join(
            "<li>%s:%s: %s</li>" % (esc(p["file"]), esc(p["line"]), esc(p["problem"]))
            for p in doc["problems"][:500]))
    w("</body></html>\n")
    return "".join(out)


def said_table(who, sd):
    """The hellos and certificates one end logged, one row each."""
    if not sd or not (sd["hellos"] or sd["chains"]):
        return ""
    rows = ["<tr><td>%s %s</td><td class=\"mono\">%s</td></tr>"
            % (esc(h.get("dir")), esc(h.get("hs")), esc(h["summary"])) for h in sd["hellos"]]
    for d in ("recv", "sent"):
        chain = sd["chains"].get(d)
        if chain is None:
            continue
        what = "certificates received" if d == "recv" else "certificates sent"
        if not chain:
            rows.append("<tr><td>%s</td><td>none (an empty Certificate message)</td></tr>"
                        % what)
        for i, cert in enumerate(chain):
            rows.append("<tr><td>%s #%d</td><td class=\"mono\">%s</td></tr>"
                        % (what, i, esc(cert["summary"])))
    return ("<h4>What %s conn %s (%s) said and heard</h4><table class=\"said\">%s</table>\n"
            % (esc(who["process"]), esc(who["conn"]), esc(who["role"]), "".join(rows)))


def stack_table(frames):
    rows = "".join("<tr><td>#%d</td><td class=\"mono\">%s</td></tr>" % (i, esc(frame_label(f)))
                   for i, f in display_frames(frames))
    return "<table class=\"stack\">%s</table>\n" % rows


def timeline_table(entries):
    rows = []
    for e in entries[:2000]:
        rows.append("<tr%s><td class=\"mono\">%s</td><td>%s</td><td class=\"mono\">%s</td></tr>"
                    % (" class=\"bad\"" if e["bad"] else "",
                       "%+.3f ms" % e["t_ms"] if e["t_ms"] is not None else "?",
                       esc(e["kind"]), esc(e["text"])))
    return "<table>%s</table>" % "".join(rows)


def _fold(entries):
    """Consecutive identical entries of one side fold into one (with a count)."""
    out = []
    for e in entries:
        if out and out[-1]["text"] == e["text"] and out[-1]["kind"] == e["kind"]:
            out[-1]["n"] += 1
            continue
        d = dict(e)
        d["n"] = 1
        out.append(d)
    return out


def ladder_svg(det, uid):
    """Client and server columns; each handshake message, ChangeCipherSpec and
    alert an arrow from the side that sent it to the side that received it
    (matched in order when both ends are logged); states beside the column of
    the side that logged them; errors and misuse as marks on the column."""
    # a role the log names oddly is drawn on the client's side
    me = det["conn"]["role"] if det["conn"]["role"] in ("client", "server") else "client"
    sides = {me: _fold(det["timeline"])}
    other_role = "server" if me == "client" else "client"
    both = det.get("other_timeline") is not None
    if both:
        sides[other_role] = _fold(det["other_timeline"])
    rows = []
    for role, entries in sides.items():
        for e in entries:
            if e["kind"] in ("msg", "alert", "state", "error", "misuse", "start", "done", "end",
                             "loop", "undefined"):
                rows.append((e["t_ms"] if e["t_ms"] is not None else 0.0, role, e))
    rows.sort(key=lambda r: (r[0], r[1] != "client"))
    if len(rows) > LADDER_ROWS:
        rows = rows[:LADDER_ROWS // 2] + [(None, None, None)] + rows[-LADDER_ROWS // 2:]
    X = {"client": 250, "server": 610}
    width, top, step = 860, 46, 19
    ys = [top + i * step for i in range(len(rows))]
    height = top + len(rows) * step + 30
    parts = ["<svg width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" "
             "aria-label=\"ladder diagram\" class=\"ladder\">" % (width, height, width, height),
             "<defs>"]
    for name, color in (("m", "#3b5b92"), ("a", "#c0152f"), ("w", "#c77700")):
        parts.append("<marker id=\"%s_%s\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" "
                     "markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">"
                     "<path d=\"M0,0 L10,5 L0,10 z\" fill=\"%s\"/></marker>" % (uid, name, color))
    parts.append("</defs>")
    for role, x in X.items():
        label = role + ("" if role in sides else " (not logged)")
        parts.append("<text x=\"%d\" y=\"18\" text-anchor=\"middle\" font-weight=\"bold\">%s"
                     "</text>" % (x, esc(label)))
        parts.append("<line x1=\"%d\" y1=\"26\" x2=\"%d\" y2=\"%d\" stroke=\"#888\" "
                     "stroke-width=\"2\"%s/>" % (x, x, height - 10,
                                                 "" if role in sides else
                                                 " stroke-dasharray=\"4 4\""))
    # match each sent message with the other side's receipt, in order
    match = {}
    if both:
        recv_rows = {}
        for i, (t, role, e) in enumerate(rows):
            if e is not None and e["kind"] in ("msg", "alert") and e["dir"] == "recv":
                recv_rows.setdefault((role, e["kind"], e["name"]), []).append(i)
        for i, (t, role, e) in enumerate(rows):
            if e is not None and e["kind"] in ("msg", "alert") and e["dir"] == "sent":
                lst = recv_rows.get(("server" if role == "client" else "client", e["kind"],
                                     e["name"]))
                if lst:
                    match[i] = lst.pop(0)
    used = set(match.values())
    for i, (t, role, e) in enumerate(rows):
        y = ys[i]
        if e is None:
            parts.append("<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#666\">"
                         "&#8942; entries not shown &#8942;</text>" % (width // 2, y))
            continue
        x = X[role]
        ox = X["server" if role == "client" else "client"]
        left = role == "client"
        k = e["kind"]
        count = " x%d" % e["n"] if e.get("n", 1) > 1 else ""
        if k in ("msg", "alert"):
            color, mk = "#3b5b92", "m"
            if k == "alert":
                fatal = e["bad"]
                color, mk = ("#c0152f", "a") if fatal else ("#c77700", "w")
            # (a handshake message type OpenSSL has no name for is logged as a number)
            label = "%s" % (e["name"] or "?") if k == "msg" else "alert %s" % (e["name"] or "?")
            if e["dir"] == "sent":
                if i in match:
                    parts.append(_arrow(x, y, ox, ys[match[i]], color, "%s_%s" % (uid, mk),
                                        label + count, k == "alert", e))
                elif both and e["name"] != "change_cipher_spec":
                    # (OpenSSL never reports receiving TLS 1.3's compatibility CCS)
                    # the receiver's log has no such message: it never got (or never
                    # decrypted) it — the arrow stops short of its column
                    stop = ox + (x - ox) * 0.22
                    parts.append(_arrow(x, y, stop, y + 10, color, "%s_%s" % (uid, mk),
                                        label + count + " (not seen by the %s)"
                                        % ("server" if left else "client"), k == "alert", e,
                                        dashed=True))
                else:
                    parts.append(_arrow(x, y, ox, y + 12, color, "%s_%s" % (uid, mk),
                                        label + count, k == "alert", e))
            elif i not in used:
                # received, and the sender's log does not have it (or is absent)
                parts.append(_arrow(ox, y - 12, x, y, color, "%s_%s" % (uid, mk), label + count,
                                    k == "alert", e))
        elif k == "state":
            tx, anchor = (x - 8, "end") if left else (x + 8, "start")
            parts.append("<text x=\"%d\" y=\"%d\" text-anchor=\"%s\" fill=\"%s\" "
                         "font-style=\"italic\">%s<title>%s</title></text>"
                         % (tx, y + 4, anchor, "#c0152f" if e["bad"] else "#666",
                            esc(_trim(e["name"] or e["text"], 34) + count), esc(e["text"])))
        else:
            color = "#c0152f" if e["bad"] else ("#6a1b9a" if k == "misuse" else "#18794e")
            short = {"error": "error", "misuse": "MISUSE", "start": "handshake start",
                     "done": "handshake done", "end": "conn_end", "loop": "LOOP",
                     "undefined": "undefined bytes"}.get(k, k)
            tx, anchor = (x - 8, "end") if left else (x + 8, "start")
            parts.append("<circle cx=\"%d\" cy=\"%d\" r=\"4\" fill=\"%s\"/>" % (x, y, color))
            parts.append("<text x=\"%d\" y=\"%d\" text-anchor=\"%s\" fill=\"%s\">%s<title>%s"
                         "</title></text>" % (tx, y + 4, anchor, color, esc(short + count),
                                              esc(e["text"])))
    parts.append("</svg>\n")
    return "".join(parts)


def _arrow(x1, y1, x2, y2, color, marker, label, bold, e, dashed=False):
    # a steep arrow (in flight while others are sent) is labelled at its
    # sender's end, where arrows do not cross yet; a flat one in the middle
    if abs(y2 - y1) < 20:
        mx, my, anchor = (x1 + x2) / 2.0, (y1 + y2) / 2.0 - 4, "middle"
    else:
        mx, my, anchor = x1 + (10 if x2 > x1 else -10), y1 - 4, "start" if x2 > x1 else "end"
    return ("<g class=\"%s\"><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
            "stroke-width=\"%s\"%s marker-end=\"url(#%s)\"/><text x=\"%.0f\" y=\"%.0f\" "
            "text-anchor=\"%s\" fill=\"%s\"%s>%s<title>%s</title></text></g>"
            % ("alert" if bold else "msg", x1, y1, x2, y2, color, "2.2" if bold else "1.3",
               " stroke-dasharray=\"5 4\"" if dashed else "", marker, mx, my, anchor, color,
               " font-weight=\"bold\"" if bold else "", esc(label), esc(e["text"])))


def _trim(s, n):
    s = str(s)
    return s if len(s) <= n else s[:n - 1] + "…"


def attempts_svg(e, t0, t1, idx):
    """One mark per connection along the time axis: green ok, red failing."""
    width, height, left, right = 860, 58, 10, 10
    if t0 is None or t1 is None:
        return "<p>no timestamps</p>\n"
    span = max(t1 - t0, 1e-3)
    parts = ["<svg width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" "
             "aria-label=\"attempts\" class=\"attempts\">" % (width, height, width, height),
             "<line x1=\"%d\" y1=\"30\" x2=\"%d\" y2=\"30\" stroke=\"#aaa\"/>"
             % (left, width - right)]
    for a in e["attempts"]:
        ts = parse_ts(a["ts"]) if a["ts"] else None
        if ts is None:
            continue
        x = left + (ts - t0) / span * (width - left - right)
        color = "#c0152f" if a["failing"] else "#18794e"
        parts.append("<rect x=\"%.1f\" y=\"%d\" width=\"3\" height=\"20\" fill=\"%s\">"
                     "<title>%s conn %s at %s: %s</title></rect>"
                     % (x - 1.5, 20 if a["failing"] else 20, color, esc(a["process"]),
                        esc(a["conn"]), esc(a["ts"]), esc(a["what"])))
    parts.append("<text x=\"%d\" y=\"54\">%s</text>" % (left, esc(_clock(e["first_ts"]))))
    parts.append("<text x=\"%d\" y=\"54\" text-anchor=\"end\">%s (span of the whole report: "
                 "%.3f s)</text>" % (width - right, esc(_clock(e["last_ts"])), span))
    parts.append("<text x=\"%d\" y=\"14\">%d connections, %d failing</text>"
                 % (left, e["conns"], e["failed"]))
    parts.append("</svg>\n")
    return "".join(parts)


def _clock(ts):
    return (ts or "").replace("T", " ").rstrip("Z")
