"""The report as one self-contained HTML page: inline CSS and SVG, no
scripts, no external references.  An overview of the connections that
succeeded (version, cipher, certificate expiry), a ladder diagram per failing
connection shown in detail (a time axis, client and server columns,
handshake messages and alerts as arrows drawn where each side logged them,
states beside the columns, errors as dots with OpenSSL's reason), the
certificates each end sent and received, and a timeline of attempts per peer.
"""
import html
import math
import os
import re

from sslshim_analysis import parse_ts
from sslshim_symbols import display_frames, frame_label
from sslshim_text import show_value

LADDER_ROWS = 160
# the successful connections of each endpoint looked up for the overview
SUCCESS_LOOKUP = 1000

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em auto;
max-width:1150px;color:#1d1d1f;padding:0 1em}
h1{font-size:1.6em;margin:.2em 0}h2{border-bottom:1px solid #ccc;margin-top:1.6em}
h3{margin:1.2em 0 .4em;font-size:1.1em}
table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #ddd;padding:2px 7px;
vertical-align:top;text-align:left}th{background:#f3f3f5}
.meta{color:#555}.bad{color:#b00020;font-weight:600}.ok{color:#18794e}
.soon{color:#a35a00;font-weight:600}.num{text-align:right}
.successes .version,.successes .cipher,.successes .expiry span,.successes .count{white-space:nowrap}
.differs td{background:#fff1f0}.mono,code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;
font-size:12.5px}.failure{border:1px solid #e3c4c4;border-radius:6px;padding:.3em 1em 1em;
margin:1em 0;background:#fffafa}.diag p{margin:.3em 0}.stack td{font-size:12px}
svg text{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:11px}
svg text.tick{fill:#555}svg .err text{font-weight:bold}
details{margin:.4em 0}summary{cursor:pointer;color:#333}
.problems li{font-family:ui-monospace,monospace;font-size:12px}
.cause{background:#fff1f0;border-left:4px solid #c0152f;padding:.3em .6em}
.note{color:#555;font-size:12.5px;margin:.2em 0 .6em}
"""


def esc(s):
    return html.escape("" if s is None else str(s), quote=True)


def plural(n, one, many=None):
    """ "1 connection", "2 connections", "0 connections"; n may be None
    (a count the log did not give: "? connections")."""
    if n is None:
        return "? %s" % (many or one + "s")
    return "%s %s" % (n, one if n == 1 else (many or one + "s"))


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
    w("<h1>sslshim report</h1>\n<p class=\"meta\">%s, %s on %s; %s, %s &ndash; %s UTC</p>\n"
      % (plural(len(doc["inputs"]), "input"), plural(len(doc["processes"]), "process",
                                                      "processes"),
         esc(", ".join(doc["hosts"]) or "-"), plural(doc["events"], "event"),
         esc(doc["first_ts"]), esc(doc["last_ts"])))
    w("<p class=\"totals\"><b>%s</b>: <span class=\"ok\">%d ok</span>, <span class=\"bad\">%d "
      "failing</span>%s; %s seen from both ends; %s; %s.</p>\n"
      % (plural(s["connections"], "connection"), s["ok"], s["failed"],
         ", %d still open" % s["open"] if s["open"] else "",
         plural(s["joined_handshakes"], "handshake"), plural(s["loops"], "loop"),
         plural(s["misuse"], "misuse event")))
    if doc["problem_count"]:
        w("<p class=\"bad\">%s (lines skipped) &mdash; see the end of the page.</p>\n"
          % plural(doc["problem_count"], "input problem"))

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

    w(successes_html(doc))

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
            w("<p class=\"bad\">Reconnect loop: %s &rarr; %s: %s, %s failing; "
              "last alert %s</p>\n" % (esc(g["process"]), esc(g["peer_label"]),
                                       esc(plural(g["connections"], "connection")),
                                       esc(show_value(g["connections_failed"])),
                                       esc(g["last_alert"])))
        else:
            w("<p class=\"bad\">Renegotiation loop: %s conn %s: %s within %s s</p>\n"
              % (esc(g["process"]), esc(g["conn"]), esc(plural(g["count"], "handshake")),
                 esc(g["window_s"])))
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
        w("<p class=\"meta\">%s, %s &ndash; %s</p>\n" % (
            plural(f["count"], "connection"), esc(f["first_ts"]), esc(f["last_ts"])))
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
            w(certs_table(det))
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
            w("<details><summary>Timeline (%s)</summary>%s</details>\n"
              % (plural(len(det["timeline"]), "entry", "entries"),
                 timeline_table(det["timeline"])))
            if det["other_timeline"]:
                w("<details><summary>Timeline of the other end (%s)</summary>%s"
                  "</details>\n" % (plural(len(det["other_timeline"]), "entry", "entries"),
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


def certs_table(det):
    """The certificates each end of the failing connection sent and
    received (its certs events): subject, issuer, validity, one row each."""
    rows = []
    for who, sd in ((det["conn"], det.get("said")), (det.get("other_conn"), det.get("other_said"))):
        if not who or not sd or not isinstance(sd.get("chains"), dict):
            continue
        for d in ("recv", "sent"):
            chain = sd["chains"].get(d)
            if not isinstance(chain, list):
                continue
            end = "%s %s (%s)" % (who.get("process"), "received" if d == "recv" else "sent",
                                  who.get("role"))
            if not chain:
                rows.append("<tr><td>%s</td><td colspan=\"5\">none (an empty Certificate "
                            "message)</td></tr>" % esc(end))
            for i, cert in enumerate(chain):
                if not isinstance(cert, dict):
                    continue
                if cert.get("invalid"):
                    rows.append("<tr><td>%s</td><td>#%d</td><td colspan=\"4\">does not parse "
                                "(%s bytes)</td></tr>" % (esc(end), i, esc(cert.get("len"))))
                    continue
                rows.append("<tr><td>%s</td><td>#%d</td><td class=\"mono subject\">%s</td>"
                            "<td class=\"mono issuer\">%s</td><td class=\"mono\">%s</td>"
                            "<td class=\"mono\">%s</td></tr>"
                            % (esc(end), i, esc(show_value(cert.get("subject"))),
                               esc(show_value(cert.get("issuer"))),
                               esc(show_value(cert.get("not_before"))),
                               esc(show_value(cert.get("not_after")))))
    if not rows:
        return ""
    return ("<h4>Certificates</h4><table class=\"certs\"><tr><th>end</th><th>#</th>"
            "<th>subject</th><th>issuer</th><th>not before</th><th>not after</th></tr>%s"
            "</table>\n" % "".join(rows))


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


# -- the successful connections ------------------------------------------------------

def _server_cert(doc, a):
    """The certificate the server presented, as this end logged it."""
    n = a.get("server_cert") if a else None
    certs = doc.get("certificates") or []
    cert = certs[n] if isinstance(n, int) and 0 <= n < len(certs) else None
    return cert if isinstance(cert, dict) and not cert.get("invalid") else None


def success_rows(doc):
    """The overview of the connections that succeeded: one row per role,
    endpoint, version, cipher and server certificate, with its count; of
    each endpoint the first SUCCESS_LOOKUP listed.  (rows, whether some
    were left out)"""
    rows = {}
    capped = False
    for e in doc.get("endpoints") or ():
        n = 0
        for a in e.get("attempts") or ():
            if a.get("failing") or a.get("outcome") != "ok":
                continue
            n += 1
            if n > SUCCESS_LOOKUP:
                capped = True
                break
            d = a if "version" in a else None  # None: no handshake_done logged (flight mode)
            cert = _server_cert(doc, d) or {}
            key = (e.get("role"), e.get("endpoint")) + tuple(
                _text((d or {}).get(f)) for f in ("version", "cipher")) + tuple(
                _text(cert.get(f)) for f in ("subject", "issuer", "not_after"))
            r = rows.get(key)
            if r is None:
                r = rows[key] = {"role": key[0], "endpoint": key[1], "version": key[2],
                                 "cipher": key[3], "subject": key[4], "issuer": key[5],
                                 "not_after": key[6], "count": 0, "processes": set(),
                                 "found": d is not None, "last_ts": ""}
            r["count"] += 1
            r["processes"].add(a.get("process"))
            r["last_ts"] = max(r["last_ts"], a.get("end_ts") or a.get("ts") or "")
    rows = sorted(rows.values(), key=lambda r: (r["role"] != "client", r["endpoint"] or "",
                                               -r["count"], r["version"] or ""))
    return rows, capped


def _text(v):
    """A field shown as text (None stays None): a log from elsewhere may
    hold any JSON value where a string belongs."""
    return v if v is None or isinstance(v, str) else show_value(v)


def _expiry(not_after, at):
    """(class, words) of a certificate's end of validity seen from time at
    (the last of the connections that saw it)."""
    end = parse_ts(not_after) if isinstance(not_after, str) else None
    now = parse_ts(at) if at else None
    if end is None or now is None:
        return "", ""
    days = (end - now) / 86400.0
    if days < 0:
        return "bad", "expired %s earlier" % plural(int(-days), "day")
    return ("soon" if days < 30 else "ok"), "in %s" % plural(int(days), "day")


def successes_html(doc):
    rows, capped = success_rows(doc)
    total = sum(r["count"] for r in rows)
    out = ["<h2>Successful connections</h2>\n"]
    if not rows:
        if (doc.get("selection") or {}).get("failed") and doc["summary"].get("ok"):
            out.append("<p>not listed (--failed)</p>\n")
        else:
            out.append("<p>none</p>\n")
        return "".join(out)
    out.append("<p class=\"meta\">%s that ended well%s, by peer, version, cipher and the "
               "certificate the server presented.</p>\n"
               % (plural(total, "connection"), " (the first %d listed of each peer)"
                  % SUCCESS_LOOKUP if capped else ""))
    out.append("<table class=\"successes\"><tr><th>role</th><th>peer</th><th>version</th>"
               "<th>cipher</th><th>server certificate</th><th>issuer</th><th>expires</th>"
               "<th>count</th><th>processes</th></tr>\n")
    for r in rows:
        cls, words = _expiry(r["not_after"], r["last_ts"])
        if r["found"] or r["version"]:
            version, cipher = show_value(r["version"]), show_value(r["cipher"])
        else:
            # (flight mode writes only conn_end for a connection that ends well)
            version = cipher = "not logged"
        procs = sorted(p for p in r["processes"] if p)
        if len(doc.get("hosts") or ()) <= 1:
            procs = [p.rsplit("@", 1)[0] for p in procs]       # one host: named above
        out.append("<tr><td>%s</td><td class=\"mono\">%s</td><td class=\"version\">%s</td>"
                   "<td class=\"mono cipher\">%s</td><td class=\"mono subject\">%s</td>"
                   "<td class=\"mono issuer\">%s</td><td class=\"expiry%s\" title=\"%s\"><span "
                   "class=\"mono\">%s</span>%s</td><td class=\"count num\">%s</td>"
                   "<td>%s</td></tr>\n"
                   % (esc(r["role"]), esc(r["endpoint"]), esc(version), esc(cipher),
                      esc(show_value(r["subject"])), esc(show_value(r["issuer"])),
                      " " + cls if cls else "",
                      esc("as of the last of these connections, %s" % r["last_ts"]),
                      esc(show_value(r["not_after"])),
                      " (%s)" % esc(words) if words else "",
                      esc(plural(r["count"], "connection")),
                      esc(", ".join(procs[:4]) + (" +%d" % (len(procs) - 4)
                                                  if len(procs) > 4 else ""))))
    out.append("</table>\n")
    return "".join(out)


# -- the ladder ------------------------------------------------------------------------

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


DRAWN = frozenset(("msg", "alert", "state", "error", "misuse", "start", "done", "end", "loop",
                   "undefined"))
X_AXIS, X_CLIENT, X_SERVER, WIDTH = 92, 340, 700, 980
TOP, STEP = 52, 19
BESIDE = 34           # characters of a state or an error beside its column


def _other(role):
    return "server" if role == "client" else "client"


def _side_rows(entries, role):
    """The rows one end's own log gives, in its own order (seq), each with
    its time in ms (the doc's offset; a time that does not parse takes the
    one before it, or the first after it)."""
    rows = []
    t = None
    for e in _fold(entries):
        if e.get("t_ms") is not None:
            t = float(e["t_ms"])
            for r in reversed(rows):
                if r["t"] is not None:
                    break
                r["t"] = t
        if e["kind"] not in DRAWN:
            continue
        rows.append({"role": role, "e": e, "t": t, "peer": None, "placed": False, "y": None})
    for r in rows:
        if r["t"] is None:
            r["t"] = 0.0                   # no time in the whole timeline
    return rows


def _match(rows_by_role):
    """Each message or alert one end sent, paired in order with the other
    end's receipt of one of that kind and name."""
    queues = {}
    for role, rows in rows_by_role.items():
        for r in rows:
            e = r["e"]
            if e["kind"] in ("msg", "alert") and e["dir"] == "recv":
                queues.setdefault((role, e["kind"], e["name"]), []).append(r)
    for role, rows in rows_by_role.items():
        for r in rows:
            e = r["e"]
            if e["kind"] in ("msg", "alert") and e["dir"] == "sent":
                q = queues.get((_other(role), e["kind"], e["name"]))
                if q:
                    p = q.pop(0)
                    r["peer"], p["peer"] = p, r


def _clock_shift(mine, theirs):
    """ms to add to the other end's times (on another host, its clock may
    differ) so that what was sent is received no earlier than it was sent:
    0 when it already is, else the smallest shift that makes it so."""
    lo, hi = -math.inf, math.inf
    for r in mine:
        if r["peer"] is not None and r["e"]["dir"] == "sent":
            lo = max(lo, r["t"] - r["peer"]["t"])
    for r in theirs:
        if r["peer"] is not None and r["e"]["dir"] == "sent":
            hi = min(hi, r["peer"]["t"] - r["t"])
    if lo <= 0 <= hi:
        return 0.0
    if lo > hi:
        return (lo + hi) / 2.0
    return lo if lo > 0 else hi


def _merge(a, b):
    """The rows of both ends in one order: each end's own order kept, the
    earlier time first, and a receipt never above its sending (each end
    logs a message after it went out or came in, so a receipt can bear an
    earlier time than its sending)."""
    out = []
    i = j = 0

    def ready(r):
        return not (r["e"].get("dir") == "recv" and r["peer"] is not None
                    and not r["peer"]["placed"])

    while i < len(a) or j < len(b):
        ra = a[i] if i < len(a) else None
        rb = b[j] if j < len(b) else None
        if ra is None or rb is None:
            pick = ra or rb
        else:
            oka, okb = ready(ra), ready(rb)
            if oka != okb:
                pick = ra if oka else rb
            else:
                ka = (ra["t"], ra["e"].get("dir") == "recv", ra["role"] != "client")
                kb = (rb["t"], rb["e"].get("dir") == "recv", rb["role"] != "client")
                pick = ra if ka <= kb else rb
        if pick is ra:
            i += 1
        else:
            j += 1
        pick["placed"] = True
        out.append(pick)
    return out


def _gap_space(ms):
    """Extra room before a row that came ms after the one above: none for
    the same moment, more (logarithmically, bounded) for a longer wait."""
    if ms < 1.0:
        return 0
    return min(36, int(round(9 * math.log10(ms))) + 4)


_ERROR_TEXT = re.compile(r"^error: (\S+) returned (\S+), ([^\s:]+)(.*?)(?:: (.*))?$", re.S)


def error_reason(e):
    """OpenSSL's reason strings of an error entry (its queue, without
    function and file), else its SSL_get_error name and errno."""
    m = _ERROR_TEXT.match(e.get("text") or "")
    if not m:
        return e.get("text") or "error"
    fn, ret, err, extra, queue = m.groups()
    if queue:
        reasons = [re.sub(r" \([^()]*\)$", "", part).strip() for part in queue.split("; ")]
        reasons = [r for r in reasons if r and r != "None"]
        if reasons:
            return "; ".join(reasons)
    return (err + extra).strip()


def _leaf_text(det, role, direction):
    """subject and issuer of the first certificate role's end logged as
    sent or received, for the title of its Certificate arrow."""
    for who, sd in ((det.get("conn"), det.get("said")),
                    (det.get("other_conn"), det.get("other_said"))):
        if not who or who.get("role") != role or not sd:
            continue
        chain = (sd.get("chains") or {}).get(direction)
        if isinstance(chain, list) and chain and isinstance(chain[0], dict):
            c = chain[0]
            return "subject %s, issuer %s" % (show_value(c.get("subject")),
                                              show_value(c.get("issuer")))
    return None


def ladder_svg(det, uid):
    """A time axis on the left (ms since the connection's first event, rows
    in time order, more room for a longer wait), client and server columns;
    each handshake message, ChangeCipherSpec and alert an arrow drawn where
    the side that logged it logged it: from its sending to the other end's
    receipt when both ends are logged and the other logged it, else a short
    dashed arrow (what the other end never logged is not drawn on its
    column); states beside the column of the side that logged them; errors
    as red dots with OpenSSL's reason, misuse and other marks as dots."""
    # a role the log names oddly is drawn on the client's side
    me = det["conn"]["role"] if det["conn"]["role"] in ("client", "server") else "client"
    other = _other(me)
    both = det.get("other_timeline") is not None
    sides = {me: _side_rows(det["timeline"], me)}
    if both:
        sides[other] = _side_rows(det["other_timeline"], other)
        _match(sides)
    shift = 0.0
    if both and (det.get("other_conn") or {}).get("host") != det["conn"].get("host"):
        shift = _clock_shift(sides[me], sides[other])
        for r in sides[other]:
            r["t"] += shift
    rows = _merge(sides[me], sides.get(other, []))
    if len(rows) > LADDER_ROWS:
        rows = rows[:LADDER_ROWS // 2] + [None] + rows[-LADDER_ROWS // 2:]
    # ms since the connection's first event (of either end)
    times = [float(e["t_ms"]) for e in det["timeline"] if e.get("t_ms") is not None]
    times += [float(e["t_ms"]) + shift for e in det.get("other_timeline") or ()
              if e.get("t_ms") is not None]
    t0 = min(times) if times else 0.0
    y = TOP
    prev = None
    for r in rows:
        if r is not None:
            if prev is not None:
                y += STEP + _gap_space(r["t"] - prev)
            r["y"] = y
            prev = r["t"] if prev is None else max(prev, r["t"])
        else:
            y += STEP
    height = y + 30
    X = {"client": X_CLIENT, "server": X_SERVER}
    parts = ["<svg width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" "
             "aria-label=\"ladder diagram\" class=\"ladder\">" % (WIDTH, height, WIDTH, height),
             "<defs>"]
    for name, color in (("m", "#3b5b92"), ("a", "#c0152f"), ("w", "#c77700")):
        parts.append("<marker id=\"%s_%s\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" "
                     "markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">"
                     "<path d=\"M0,0 L10,5 L0,10 z\" fill=\"%s\"/></marker>" % (uid, name, color))
    parts.append("</defs>")
    # the time axis
    parts.append("<text x=\"%d\" y=\"18\" text-anchor=\"end\" fill=\"#555\">elapsed</text>"
                 % (X_AXIS - 7))
    parts.append("<line class=\"axis\" x1=\"%d\" y1=\"26\" x2=\"%d\" y2=\"%d\" stroke=\"#bbb\"/>"
                 % (X_AXIS, X_AXIS, height - 10))
    for role, x in X.items():
        label = role + ("" if role in sides else " (not logged)")
        parts.append("<text class=\"col\" data-side=\"%s\" x=\"%d\" y=\"18\" "
                     "text-anchor=\"middle\" font-weight=\"bold\">%s</text>"
                     % (role, x, esc(label)))
        parts.append("<line x1=\"%d\" y1=\"26\" x2=\"%d\" y2=\"%d\" stroke=\"#888\" "
                     "stroke-width=\"2\"%s/>" % (x, x, height - 10,
                                                 "" if role in sides else
                                                 " stroke-dasharray=\"4 4\""))
    shown = None
    early = False
    for r in rows:
        if r is None:
            continue
        tick = max(0.0, round(r["t"] - t0, 1))
        if shown is None or tick > shown:
            shown = tick
            parts.append("<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#bbb\"/>"
                         "<text class=\"tick\" x=\"%d\" y=\"%d\" text-anchor=\"end\">%s"
                         "<title>%s (%s's log)</title></text>"
                         % (X_AXIS - 4, r["y"], X_AXIS, r["y"], X_AXIS - 7, r["y"] + 4,
                            "%+.1f ms" % tick, esc(r["e"].get("ts")), r["role"]))
        elif tick < shown:
            early = True
    prev_y = TOP
    for r in rows:
        if r is None:
            parts.append("<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#666\">"
                         "&#8942; entries not shown &#8942;</text>" % (WIDTH // 2, prev_y + STEP))
            continue
        prev_y = r["y"]
        parts.append(_row(r, det, uid, both, X))
    parts.append("</svg>\n")
    notes = []
    if shift:
        notes.append("The %s's clock is taken as %.1f ms %s the %s's (the two ends are on "
                     "different hosts): its times are shifted so that no message is received "
                     "before it was sent." % (other, abs(shift), "behind" if shift > 0 else
                                              "ahead of", me))
    if early:
        notes.append("The times on the axis only increase: a row that bears an earlier time "
                     "than one above it has no label (a receipt is drawn below its sending, and "
                     "an end logs what it sent after it went out); each row's own time is in "
                     "its tooltip.")
    if both:
        notes.append("Each end's events are drawn from its own log, at its own time; a dashed "
                     "arrow that stops short is one the other end did not log (TLS 1.3's "
                     "compatibility ChangeCipherSpec is never logged by its receiver).")
    return "".join(parts) + "".join("<p class=\"note\">%s</p>\n" % esc(n) for n in notes)


def _row(r, det, uid, both, X):
    """The SVG of one row: an arrow, a state, or a dot."""
    e, role, y = r["e"], r["role"], r["y"]
    x, ox = X[role], X[_other(role)]
    left = role == "client"
    k = e["kind"]
    count = " x%d" % e["n"] if e.get("n", 1) > 1 else ""
    at = "%s's log, %s" % (role, e.get("ts") or "?")
    if k in ("msg", "alert"):
        peer = r["peer"]
        if e["dir"] == "recv" and peer is not None and peer.get("y") is not None:
            return ""                     # drawn with its sending
        color, mk = "#3b5b92", "m"
        if k == "alert":
            color, mk = ("#c0152f", "a") if e["bad"] else ("#c77700", "w")
        # (a handshake message type OpenSSL has no name for is logged as a number)
        name = "?" if e["name"] in (None, "") else str(e["name"])
        label = name if k == "msg" else "alert " + name
        title = "%s (%s)" % (e["text"], at)
        if k == "msg" and e["name"] == "Certificate":
            sender = role if e["dir"] == "sent" else _other(role)
            leaf = _leaf_text(det, role, e["dir"]) or _leaf_text(det, _other(role), "sent"
                                                                 if e["dir"] == "recv"
                                                                 else "recv")
            if leaf:
                title += "; %s's certificate: %s" % (sender, leaf)
        marker = "%s_%s" % (uid, mk)
        if peer is not None and peer.get("y") is None:
            # its other end is among the rows not shown: drawn level, at this end's time
            a, b = (x, ox) if e["dir"] == "sent" else (ox, x)
            return _arrow(a, y, b, y, color, marker, label + count, k == "alert", title,
                          (role, "", name, k) if e["dir"] == "sent" else ("", role, name, k))
        if e["dir"] == "sent":
            if peer is not None and peer.get("y") is not None:
                title += "; received: %s (%s's log, %s)" % (peer["e"]["text"], _other(role),
                                                             peer["e"].get("ts") or "?")
                return _arrow(x, y, ox, peer["y"], color, marker, label + count, k == "alert",
                              title, (role, _other(role), name, k))
            if both:
                # the receiver's log has no such message: it never got it (or
                # never decrypted it, or, TLS 1.3's compatibility CCS, never
                # reports it) — the arrow stops short of its column
                note = " (not logged by the %s)" % _other(role)
                return _arrow(x, y, x + (ox - x) * 0.78, y + 8, color, marker,
                              label + count + note, k == "alert", title,
                              (role, "", name, k), dashed=True, at_start=True)
            return _arrow(x, y, ox, y, color, marker, label + count, k == "alert", title,
                          (role, "", name, k))
        if both:
            note = " (not logged by the %s)" % _other(role)
            return _arrow(x + (ox - x) * 0.78, y - 8, x, y, color, marker, label + count + note,
                          k == "alert", title, ("", role, name, k), dashed=True)
        return _arrow(ox, y, x, y, color, marker, label + count, k == "alert", title,
                      ("", role, name, k))
    if k == "state":
        tx, anchor = (x - 8, "end") if left else (x + 8, "start")
        return ("<text class=\"state\" data-side=\"%s\" x=\"%d\" y=\"%d\" text-anchor=\"%s\" "
                "fill=\"%s\" font-style=\"italic\">%s<title>%s (%s)</title></text>"
                % (role, tx, y + 4, anchor, "#c0152f" if e["bad"] else "#666",
                   esc(_trim("%s%s" % (e["name"] or e["text"], count), BESIDE)),
                   esc(e["text"]), esc(at)))
    tx, anchor = (x - 9, "end") if left else (x + 9, "start")
    if k == "error":
        reason = error_reason(e)
        return ("<g class=\"err\" data-side=\"%s\"><circle cx=\"%d\" cy=\"%d\" r=\"5.5\" "
                "fill=\"#c0152f\" stroke=\"#fff\" stroke-width=\"1.5\"/><text x=\"%d\" "
                "y=\"%d\" text-anchor=\"%s\" fill=\"#c0152f\">%s<title>%s (%s)</title></text>"
                "</g>" % (role, x, y, tx, y + 4, anchor,
                          esc(_trim("error: " + reason + count, BESIDE + 2)), esc(e["text"]),
                          esc(at)))
    color = "#c0152f" if e["bad"] else ("#6a1b9a" if k == "misuse" else "#18794e")
    short = {"misuse": "MISUSE", "start": "handshake start", "done": "handshake done",
             "end": "conn_end", "loop": "LOOP", "undefined": "undefined bytes"}.get(k, k)
    return ("<g class=\"mark\" data-side=\"%s\"><circle cx=\"%d\" cy=\"%d\" r=\"4\" "
            "fill=\"%s\"/><text x=\"%d\" y=\"%d\" text-anchor=\"%s\" fill=\"%s\">%s<title>%s "
            "(%s)</title></text></g>" % (role, x, y, color, tx, y + 4, anchor, color,
                                         esc(short + count), esc(e["text"]), esc(at)))


def _arrow(x1, y1, x2, y2, color, marker, label, bold, title, ends, dashed=False,
           at_start=False):
    """ends: (the side that logged its sending or "", the side that logged
    its receipt or "", name, kind), kept on the line for whoever reads the
    picture's structure."""
    # a steep arrow (in flight while others are sent) is labelled at its
    # sender's end, where arrows do not cross yet; a flat one in the middle
    if abs(y2 - y1) < 20 and not at_start:
        mx, my, anchor = (x1 + x2) / 2.0, (y1 + y2) / 2.0 - 4, "middle"
    else:
        mx, my, anchor = x1 + (10 if x2 > x1 else -10), y1 - 4, "start" if x2 > x1 else "end"
    sender, receiver, name, kind = ends
    return ("<g class=\"%s\"><line data-from=\"%s\" data-to=\"%s\" data-name=\"%s\" "
            "data-kind=\"%s\" x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"%s\" "
            "stroke-width=\"%s\"%s marker-end=\"url(#%s)\"/><text x=\"%.0f\" y=\"%.0f\" "
            "text-anchor=\"%s\" fill=\"%s\"%s>%s<title>%s</title></text></g>"
            % ("alert" if bold else "msg", sender, receiver, esc(name), kind, x1, y1, x2, y2,
               color, "2.2" if bold else "1.3", " stroke-dasharray=\"5 4\"" if dashed else "",
               marker, mx, my, anchor, color, " font-weight=\"bold\"" if bold else "",
               esc(label), esc(title)))


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
                     % (x - 1.5, 20, color, esc(a["process"]),
                        esc(a["conn"]), esc(a["ts"]), esc(a["what"])))
    parts.append("<text x=\"%d\" y=\"54\">%s</text>" % (left, esc(_clock(e["first_ts"]))))
    parts.append("<text x=\"%d\" y=\"54\" text-anchor=\"end\">%s (span of the whole report: "
                 "%.3f s)</text>" % (width - right, esc(_clock(e["last_ts"])), span))
    parts.append("<text class=\"count\" x=\"%d\" y=\"14\">%s, %d failing</text>"
                 % (left, plural(e["conns"], "attempt"), e["failed"]))
    parts.append("</svg>\n")
    return "".join(parts)


def _clock(ts):
    return (ts or "").replace("T", " ").rstrip("Z")
