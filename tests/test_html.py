"""Issue 16: the page `sslshim report --html FILE` writes, as a browser
renders it.  Real handshakes on loopback under the shim (fixtures; both ends
logged, or only the client), the page made by the command as a user makes
it, loaded in headless Chromium with a probe script injected into a copy of
it (the page itself has no scripts) that reports what was rendered where
(getBoundingClientRect, getScreenCTM) as JSON; the assertions compare that
with what the logs and the programs themselves said."""
import calendar
import html as html_mod
import json
import os
import re
import time
import unittest

from lib import MadeOnce, Proc, ShimTest, certs, fixture, logs, plain_env, run, shim_env
from test_command import CHROMIUM, sslshim, text

# Appended to a copy of the page: what Chromium rendered, in <pre id="probe">.
# Positions are in CSS pixels of the page (y grows downward).
PROBE = """<script>
(function () {
  function box(el) {
    var r = el.getBoundingClientRect();
    return {x: r.left + r.width / 2, y: r.top + r.height / 2, w: r.width, h: r.height};
  }
  function at(svg, el, x, y) {
    var p = svg.createSVGPoint(); p.x = x; p.y = y;
    p = p.matrixTransform(el.getScreenCTM());
    return {x: p.x, y: p.y};
  }
  function cells(table, sel) {
    return [].map.call(table.querySelectorAll(sel), function (tr) {
      return [].map.call(tr.querySelectorAll('td'), function (td) {
        return td.textContent; });
    });
  }
  var out = {ladders: []};
  [].forEach.call(document.querySelectorAll('svg.ladder'), function (svg) {
    var l = {columns: {}, ticks: [], arrows: [], errors: []};
    [].forEach.call(svg.querySelectorAll('text.col'), function (t) {
      l.columns[t.getAttribute('data-side')] = {x: box(t).x, text: t.textContent};
    });
    [].forEach.call(svg.querySelectorAll('text.tick'), function (t) {
      l.ticks.push({text: t.firstChild.nodeValue, y: box(t).y});
    });
    [].forEach.call(svg.querySelectorAll('g.msg, g.alert'), function (g) {
      var line = g.querySelector('line'), label = g.querySelector('text');
      var a = at(svg, line, +line.getAttribute('x1'), +line.getAttribute('y1'));
      var b = at(svg, line, +line.getAttribute('x2'), +line.getAttribute('y2'));
      l.arrows.push({kind: line.getAttribute('data-kind'), name: line.getAttribute('data-name'),
                     from: line.getAttribute('data-from'), to: line.getAttribute('data-to'),
                     x1: a.x, y1: a.y, x2: b.x, y2: b.y, label: label.firstChild.nodeValue,
                     label_y: box(label).y, dashed: !!line.getAttribute('stroke-dasharray')});
    });
    [].forEach.call(svg.querySelectorAll('g.err'), function (g) {
      var c = box(g.querySelector('circle')), t = g.querySelector('text');
      l.errors.push({side: g.getAttribute('data-side'), x: c.x, y: c.y, w: c.w,
                     color: getComputedStyle(g.querySelector('circle')).fill,
                     text: t.firstChild.nodeValue, title: t.querySelector('title').textContent});
    });
    out.ladders.push(l);
  });
  var certs = document.querySelector('table.certs');
  out.certs = certs ? cells(certs, 'tr') : null;
  var ok = document.querySelector('table.successes');
  out.successes = ok ? cells(ok, 'tr') : null;
  out.totals = (document.querySelector('p.totals') || {}).textContent;
  out.attempts = [].map.call(document.querySelectorAll('svg.attempts text.count'),
                             function (t) { return t.textContent; });
  out.failure_meta = [].map.call(document.querySelectorAll('.failure > p.meta'),
                                 function (p) { return p.textContent; });
  out.text = document.body.innerText;
  var pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""


def not_after(pem):
    """The certificate's notAfter as the shim logs it (RFC 3339 UTC)."""
    out = run(["openssl", "x509", "-in", pem, "-noout", "-enddate"], check=True,
              universal_newlines=True).stdout.strip().split("=", 1)[1]
    t = calendar.timegm(time.strptime(out.replace(" GMT", ""), "%b %d %H:%M:%S %Y"))
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def ts_ms(ts):
    secs = calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S"))
    return (secs + float("0" + ts[19:].rstrip("Z"))) * 1000.0


def tick_value(s):
    m = re.match(r"^\+(\d+\.\d) ms$", s)
    assert m, "not a time axis label: %r" % s
    return float(m.group(1))


class _Runs(MadeOnce):
    """The real runs, each made once per test run into its own directory,
    with its page rendered and probed once."""

    prefix = "sslshim-html-"

    def make(self, t, name):
        d = os.path.join(self.root, name)
        os.makedirs(os.path.join(d, "logs"))
        info = {"dir": d, "logs": os.path.join(d, "logs")}
        started = []
        try:
            getattr(self, "_" + name)(info, started)
        finally:
            for p in started:              # only what this run started, by PID
                p.stop()
        info["page"], info["seen"] = self.page(t, info)
        return info

    @staticmethod
    def _server(info, started, env, *args):
        c = certs()
        p = Proc([fixture("tls_server"), "--port", "0", "--cert", c["server.pem"],
                  "--key", c["server.key"], *args], env=env)
        started.append(p)
        return p, int(p.wait_for(r"PORT (\d+)").group(1))

    @staticmethod
    def _client(info, port, *args):
        r = run([fixture("tls_client"), "--port", str(port), *args],
                env=shim_env(info["logs"]), universal_newlines=True, timeout=60)
        return r.stdout + r.stderr

    def _tls13_both_ends(self, info, started):
        """TLS 1.3, both ends under the shim: two clean connections, then a
        client that does not trust the server's CA (unknown_ca)."""
        server, port = self._server(info, started, shim_env(info["logs"]), "--conns", "3")
        info["ok_out"] = self._client(info, port, "--cafile", certs()["ca.pem"], "--count", "2",
                                      "--send", "hi\n")
        info["fail_out"] = self._client(info, port, "--cafile", certs()["untrusted.pem"])
        server.wait(10)

    def _tls12_client_only(self, info, started):
        """TLS 1.2, the server not preloaded: one clean connection, then the
        same unknown_ca failure, seen by the client only."""
        server, port = self._server(info, started, plain_env(), "--conns", "2",
                                    "--max-version", "tls1.2")
        info["ok_out"] = self._client(info, port, "--cafile", certs()["ca.pem"], "--send", "hi\n",
                                      "--max-version", "tls1.2")
        info["fail_out"] = self._client(info, port, "--cafile", certs()["untrusted.pem"],
                                        "--max-version", "tls1.2")
        server.wait(10)

    def _tls13_skewed_clocks(self, info, started):
        """The logs of _tls13_both_ends, the server's as if from another host
        whose clock is 250 ms ahead (a fleet's store joins such ends)."""
        src = self.get_logs("tls13_both_ends")
        for name in os.listdir(src):
            with open(os.path.join(src, name), encoding="utf-8") as f:
                lines = [json.loads(line) for line in f]
            if name.startswith("tls_server."):
                for ev in lines:
                    ev["host"] = "far"
                    t = ts_ms(ev["ts"]) / 1000.0 + 0.250
                    ev["ts"] = "%s.%06dZ" % (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)),
                                             int(round((t % 1) * 1e6)) % 1000000)
            with open(os.path.join(info["logs"], name), "w", encoding="utf-8") as f:
                f.writelines(json.dumps(ev, separators=(",", ":")) + "\n" for ev in lines)

    def get_logs(self, name):
        return self.made[name]["logs"]

    def page(self, t, info):
        """The page as a user makes it, then what Chromium rendered of it."""
        page = os.path.join(info["dir"], "report.html")
        r = sslshim("report", "--html", page, info["logs"])
        out, err = text(r)
        t.assertEqual(r.returncode, 1, out[-2000:] + err[-2000:])     # a failure was found
        t.assertEqual(os.stat(page).st_mode & 0o777, 0o600)
        with open(page, encoding="utf-8") as f:
            html = f.read()
        for bad in ("<script", "<link", "@import", "url(http", "<img", "<iframe"):
            t.assertNotIn(bad, html.lower())
        probe_path = os.path.join(info["dir"], "probe.html")
        with open(probe_path, "w", encoding="utf-8") as f:
            f.write(html.replace("</body>", PROBE + "</body>"))
        r = run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                 "--user-data-dir=" + os.path.join(info["dir"], "chromium"),
                 "--window-size=1200,2000", "--dump-dom", "file://" + probe_path],
                env=plain_env(), universal_newlines=True, timeout=90)
        m = re.search(r'<pre id="probe">(.*?)</pre>', r.stdout, re.S)
        t.assertTrue(m, r.stdout[-2000:] + r.stderr[-2000:])
        return html, json.loads(html_mod.unescape(m.group(1)))


RUNS = _Runs()


def tearDownModule():
    RUNS.cleanup()


def conn_events(logdir, exe, pred):
    """(events of one connection, its pid) of the first process of exe
    whose connection matches pred(conn_end event)."""
    for path, evs in logs(logdir, exe).items():
        for end in evs:
            if end["ev"] == "conn_end" and pred(end):
                return [e for e in evs if e.get("conn") == end["conn"]], end["pid"]
    raise AssertionError("no connection of %s matches in %s" % (exe, logdir))


def failed(end):
    return end["outcome"] != "ok"


def logged_order(evs):
    """The messages and alerts of a connection in the order its log gives
    them (seq), named as the ladder names them."""
    out = []
    for e in sorted(evs, key=lambda e: e["seq"]):
        if e["ev"] == "msg" and e.get("type") != "alert":
            out.append(e.get("hs") or e["type"])
        elif e["ev"] == "alert":
            out.append("alert " + e["desc"])
    return out


def drawn_order(ladder, side):
    """The messages and alerts at side's column, top to bottom, with their
    rendered y: the sending end of an arrow that side sent, the arrowhead of
    one it received."""
    ends = []
    for a in ladder["arrows"]:
        name = a["name"] if a["kind"] == "msg" else "alert " + a["name"]
        if a["from"] == side:
            ends.append((a["y1"], name))
        elif a["to"] == side:
            ends.append((a["y2"], name))
    ends.sort()
    return ends


@unittest.skipUnless(CHROMIUM, "chromium not installed (.ci/run installs it)")
class Html(ShimTest):

    def run_of(self, name):
        return RUNS.get(self, name)

    def ladder(self, name):
        seen = self.run_of(name)["seen"]
        # the client's failure has a ladder; the server's end of it refers to it
        self.assertEqual(len(seen["ladders"]), 1, seen["failure_meta"])
        return seen["ladders"][0]

    # -- 1. the time axis -------------------------------------------------------------

    def test_time_axis_has_ms_offsets_increasing_downward(self):
        for name, exes in (("tls13_both_ends", ("tls_client", "tls_server")),
                           ("tls12_client_only", ("tls_client",))):
            info = self.run_of(name)
            ticks = sorted(self.ladder(name)["ticks"], key=lambda t: t["y"])
            self.assertGreaterEqual(len(ticks), 5, ticks)
            values = [tick_value(t["text"]) for t in ticks]
            self.assertEqual(ticks[0]["text"], "+0.0 ms")
            for (a, b), (ya, yb) in zip(zip(values, values[1:]),
                                        zip([t["y"] for t in ticks], [t["y"] for t in ticks[1:]])):
                self.assertLess(a, b, values)
                self.assertLess(ya, yb, ticks)
            # the last label is the span of the failing connection's events
            # (both ends' when both are logged), from its first one
            stamps = []
            for exe in exes:
                evs, _ = conn_events(info["logs"], exe, failed)
                stamps += [ts_ms(e["ts"]) for e in evs]
            span = max(stamps) - min(stamps)
            self.assertLessEqual(abs(values[-1] - span), 0.06, (values, span))

    # -- 2. messages where each side logged them ---------------------------------------------

    def test_messages_drawn_in_each_logs_order_both_ends(self):
        info = self.run_of("tls13_both_ends")
        ladder = self.ladder("tls13_both_ends")
        for exe, side in (("tls_client", "client"), ("tls_server", "server")):
            evs, _ = conn_events(info["logs"], exe, failed)
            want = logged_order(evs)
            drawn = drawn_order(ladder, side)
            self.assertEqual([n for y, n in drawn], want, (side, drawn))
            ys = [y for y, n in drawn]
            self.assertEqual(len(set(ys)), len(ys), drawn)           # one row each
        client = [n for y, n in drawn_order(ladder, "client")]
        self.assertEqual(client[:4], ["ClientHello", "ServerHello", "EncryptedExtensions",
                                      "Certificate"])
        self.assertEqual(client[-1], "alert unknown_ca")
        # an arrow from one end's sending to the other's receipt never rises
        joined = [a for a in ladder["arrows"] if a["from"] and a["to"]]
        self.assertGreaterEqual(len(joined), 5, ladder["arrows"])
        for a in joined:
            self.assertGreater(a["y2"], a["y1"], a)
            self.assertAlmostEqual(a["x1"], ladder["columns"][a["from"]]["x"], delta=1.5)
            self.assertAlmostEqual(a["x2"], ladder["columns"][a["to"]]["x"], delta=10)

    def test_tls13_compat_ccs_is_not_drawn_as_received_before_server_hello(self):
        info = self.run_of("tls13_both_ends")
        ladder = self.ladder("tls13_both_ends")
        server, _ = conn_events(info["logs"], "tls_server", failed)
        client, _ = conn_events(info["logs"], "tls_client", failed)
        # what the logs hold: the server sent its compatibility CCS, the
        # client's log has no CCS at all
        self.assertIn("change_cipher_spec", logged_order(server))
        self.assertNotIn("change_cipher_spec", logged_order(client))
        ccs = [a for a in ladder["arrows"] if a["name"] == "change_cipher_spec"]
        self.assertEqual(len(ccs), 1, ladder["arrows"])
        ccs = ccs[0]
        self.assertEqual((ccs["from"], ccs["to"]), ("server", ""))
        self.assertIn("not logged by the client", ccs["label"])
        self.assertTrue(ccs["dashed"])
        # it stops short of the client's column: no receipt is invented
        cx, sx = ladder["columns"]["client"]["x"], ladder["columns"]["server"]["x"]
        self.assertAlmostEqual(ccs["x1"], sx, delta=1.5)
        self.assertGreater(ccs["x2"] - cx, 40, ccs)
        # and it is drawn where the server logged it: after its ServerHello
        sh = [a for a in ladder["arrows"] if a["name"] == "ServerHello"]
        self.assertEqual(len(sh), 1)
        self.assertEqual((sh[0]["from"], sh[0]["to"]), ("server", "client"))
        self.assertGreater(ccs["y1"], sh[0]["y1"])
        # nothing named change_cipher_spec reaches the client above its ServerHello
        for a in ladder["arrows"]:
            if a["name"] == "change_cipher_spec" and a["to"] == "client":
                self.assertGreater(a["y2"], sh[0]["y2"], a)

    def test_one_end_logged_messages_at_its_own_rows(self):
        info = self.run_of("tls12_client_only")
        ladder = self.ladder("tls12_client_only")
        self.assertEqual(ladder["columns"]["server"]["text"], "server (not logged)")
        self.assertEqual(ladder["columns"]["client"]["text"], "client")
        evs, _ = conn_events(info["logs"], "tls_client", failed)
        want = logged_order(evs)
        self.assertEqual(want[:3], ["ClientHello", "ServerHello", "Certificate"])
        self.assertEqual([n for y, n in drawn_order(ladder, "client")], want)
        for a in ladder["arrows"]:
            # nothing is drawn as logged by the server; each arrow is level,
            # at the time the client logged it (no invented server time)
            self.assertNotEqual(a["from"], "server", a)
            self.assertNotEqual(a["to"], "server", a)
            self.assertAlmostEqual(a["y1"], a["y2"], delta=0.5, msg=a)

    def test_other_host_with_a_skewed_clock(self):
        """Ends on two hosts whose clocks differ: each end's messages still in
        its own log's order, and no receipt drawn above its sending."""
        self.run_of("tls13_both_ends")
        info = self.run_of("tls13_skewed_clocks")
        ladder = self.ladder("tls13_skewed_clocks")
        for exe, side in (("tls_client", "client"), ("tls_server", "server")):
            evs, _ = conn_events(info["logs"], exe, failed)
            self.assertEqual([n for y, n in drawn_order(ladder, side)], logged_order(evs))
        joined = [a for a in ladder["arrows"] if a["from"] and a["to"]]
        self.assertGreaterEqual(len(joined), 5, ladder["arrows"])
        for a in joined:
            self.assertGreater(a["y2"], a["y1"], a)
        self.assertRegex(info["seen"]["text"], r"The server's clock is taken as 2\d\d\.\d ms "
                                               r"ahead of the client's")
        # the axis still spans the handshake, not the clocks' difference
        values = [tick_value(t["text"]) for t in sorted(ladder["ticks"], key=lambda t: t["y"])]
        same = [tick_value(t["text"]) for t in sorted(self.ladder("tls13_both_ends")["ticks"],
                                                      key=lambda t: t["y"])]
        self.assertLess(values[-1], same[-1] + 5, (values, same))

    # -- 3. error dots ----------------------------------------------------------------

    def test_error_dots_on_the_column_of_the_side_with_the_reason(self):
        for name, exes in (("tls13_both_ends", (("tls_client", "client"),
                                                ("tls_server", "server"))),
                           ("tls12_client_only", (("tls_client", "client"),))):
            info = self.run_of(name)
            ladder = self.ladder(name)
            errors = {e["side"]: e for e in ladder["errors"]}
            self.assertEqual(sorted(errors), sorted(side for exe, side in exes), ladder["errors"])
            for exe, side in exes:
                evs, _ = conn_events(info["logs"], exe, failed)
                reasons = [q["reason"] for e in evs if e["ev"] == "error"
                           for q in e.get("queue") or ()]
                self.assertTrue(reasons, evs)
                dot = errors[side]
                self.assertEqual(dot["text"], "error: " + reasons[0])
                self.assertIn(reasons[0], dot["title"])
                self.assertAlmostEqual(dot["x"], ladder["columns"][side]["x"], delta=1.5)
                self.assertEqual(dot["color"], "rgb(192, 21, 47)")
                self.assertGreater(dot["w"], 8)
        # the reasons OpenSSL gave in this case, on each side
        errors = {e["side"]: e["text"] for e in self.ladder("tls13_both_ends")["errors"]}
        self.assertEqual(errors, {"client": "error: certificate verify failed",
                                  "server": "error: tlsv1 alert unknown ca"})

    # -- 4. certificates of the failing connection -------------------------------------

    def test_failing_connection_certificates_subject_and_issuer(self):
        for name in ("tls13_both_ends", "tls12_client_only"):
            info = self.run_of(name)
            evs, _ = conn_events(info["logs"], "tls_client", failed)
            chains = [e["chain"] for e in evs if e["ev"] == "certs" and e["dir"] == "recv"]
            self.assertTrue(chains, evs)
            leaf = chains[0][0]
            self.assertEqual((leaf["subject"], leaf["issuer"]),
                             ("/CN=localhost", "/CN=sslshim test CA"))
            rows = self.run_of(name)["seen"]["certs"]
            self.assertTrue(rows, name)
            got = [r for r in rows if r and r[0].endswith("received (client)")]
            self.assertEqual([(r[1], r[2], r[3], r[5]) for r in got],
                             [("#0", "/CN=localhost", "/CN=sslshim test CA",
                               not_after(certs()["server.pem"]))])
        # with both ends logged, the server's side of it too
        rows = self.run_of("tls13_both_ends")["seen"]["certs"]
        self.assertTrue([r for r in rows if r and r[0].endswith("sent (server)")
                         and r[2] == "/CN=localhost"], rows)

    # -- 5. the overview of successful connections ----------------------------------------

    def test_overview_of_successful_connections(self):
        expiry = not_after(certs()["server.pem"])
        for name, roles, count in (("tls13_both_ends", ("client", "server"), "2 connections"),
                                   ("tls12_client_only", ("client",), "1 connection")):
            info = self.run_of(name)
            # what the program itself printed of its successful handshakes
            m = re.findall(r"^HANDSHAKE_OK (\S+) (\S+)$", info["ok_out"], re.M)
            self.assertTrue(m, info["ok_out"])
            self.assertEqual(len(set(m)), 1, m)
            version, cipher = m[0]
            rows = [r for r in info["seen"]["successes"] if r]
            self.assertEqual([r[0] for r in rows], list(roles), rows)
            for r in rows:
                role, peer, v, c, subject, issuer, expires, n, procs = r
                self.assertEqual((v, c), (version, cipher), r)
                self.assertEqual((subject, issuer), ("/CN=localhost", "/CN=sslshim test CA"))
                self.assertTrue(expires.startswith(expiry), r)
                self.assertRegex(expires, r"\(in \d+ days\)$")
                self.assertEqual(n, count)
        self.assertEqual(self.run_of("tls12_client_only")["seen"]["successes"][1][2], "TLSv1.2")
        self.assertEqual(self.run_of("tls13_both_ends")["seen"]["successes"][1][2], "TLSv1.3")

    # -- 6. plural forms --------------------------------------------------------------

    def test_plural_forms(self):
        several = self.run_of("tls13_both_ends")["seen"]
        one = self.run_of("tls12_client_only")["seen"]
        self.assertTrue(several["totals"].startswith("6 connections: 4 ok, 2 failing"),
                        several["totals"])
        self.assertEqual(several["attempts"], ["3 attempts, 1 failing"] * 2)
        self.assertTrue(several["failure_meta"][0].startswith("1 connection, "),
                        several["failure_meta"])
        self.assertTrue(one["totals"].startswith("2 connections: 1 ok, 1 failing"), one["totals"])
        self.assertIn("3 handshakes seen from both ends", several["totals"])
        self.assertIn("0 handshakes seen from both ends; 0 loops; 0 misuse events",
                      one["totals"])
        self.assertEqual(one["attempts"], ["2 attempts, 1 failing"])
        self.assertIn("1 connection that ended well", one["text"])
        self.assertIn("4 connections that ended well", several["text"])
        # the compatibility CCS the server sent is one byte (in its timeline and tooltips)
        page = self.run_of("tls13_both_ends")["page"]
        self.assertIn("sent change_cipher_spec (1 byte, TLSv1.3)", page)
        self.assertIsNone(re.search(r"(?<![\d.])1 bytes", page))
        for seen in (several, one):
            page = seen["text"]
            self.assertIsNone(re.search(r"(?<![\d.])1 (connections|attempts|processes|inputs|"
                                        r"events|entries|handshakes|loops|days)\b", page),
                              page)
            self.assertIsNone(re.search(r"(?<![\d.])([02-9]|\d\d+) (connection|attempt|"
                                        r"process|input|event|entry|handshake|loop|day)\b"
                                        r"(?! (that|was))", page), page)
            self.assertNotIn("(s)", page)


if __name__ == "__main__":
    unittest.main()
