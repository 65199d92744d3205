"""`sslshim run --live` (issue 16): one line per event as it is logged, with
the event's time, in the words of `openssl s_client -state`: checked line by
line against what s_client itself prints of the same handshake."""
import json
import os
import re
import sys

import lib
from lib import ShimTest, certs, plain_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SSLSHIM = os.path.join(ROOT, "scripts", "sslshim")
LIVE = re.compile(r"^sslshim: (\d\d:\d\d:\d\d\.\d{6}) (\S+)\[(\d+)\](?: conn (\d+))? (.*)$")


def collapse(seq):
    """Consecutive repeats once (s_client's callback sees some states twice)."""
    return [x for i, x in enumerate(seq) if i == 0 or seq[i - 1] != x]


class Live(ShimTest):

    def test_live_lines_follow_s_client_state_line_by_line(self):
        server, port = self.openssl_server("-www", "-naccept", "1", env=plain_env())
        out = os.path.join(self.tmp, "run")
        r = lib.run([sys.executable, SSLSHIM, "run", "--live", "-q", "-o", out, "--",
                     "openssl", "s_client", "-state", "-verify_return_error", "-connect",
                     "127.0.0.1:%d" % port, "-CAfile", certs()["untrusted.pem"]],
                    env=plain_env(), universal_newlines=True)
        self.assertNotEqual(r.returncode, 0)
        lines = r.stderr.splitlines()
        own_states = [l for l in lines if l.startswith("SSL_connect:")
                      and not re.match(r"SSL_connect:(error|failed) in", l)]
        own_alerts = [l for l in lines if l.startswith("SSL3 alert ")]
        live = [LIVE.match(l) for l in lines if l.startswith("sslshim: ") and LIVE.match(l)]
        self.assertTrue(own_states and own_alerts, r.stderr[-3000:])
        words = [m.group(5) for m in live if m.group(4) == "1"]
        live_states = [w for w in words if w.startswith("SSL_connect:")
                       and not w.startswith("SSL_connect:exit in")]
        self.assertEqual(collapse(live_states), collapse(own_states))
        self.assertEqual([w for w in words if w.startswith("SSL3 alert ")], own_alerts)
        self.assertIn("SSL3 alert write:fatal:unknown CA", own_alerts)
        # one live line per logged event, each with its event's time, in order
        (path, evs), = lib.logs(out).items()
        self.assertEqual(len(live), len(evs))
        for m, e in zip(live, evs):
            self.assertEqual(m.group(1), e["ts"][11:26])
            self.assertEqual(int(m.group(3)), e["pid"])
        times = [m.group(1) for m in live if m.group(4)]
        self.assertEqual(times, sorted(times))
        self.assertTrue(any(w.startswith(">>> TLSv1.3 handshake [length ") and
                            w.endswith("ClientHello") for w in words), words)
        self.assertTrue(any(re.match(r"error in SSL_\w+: SSL_ERROR_SSL \(certificate verify "
                                     r"failed\)", w) for w in words), words)

    def test_live_server_side_says_ssl_accept(self):
        """The server's states are SSL_accept's, as s_server -state prints them."""
        out = os.path.join(self.tmp, "run")
        c = certs()
        p = self.start([sys.executable, SSLSHIM, "run", "--live", "-q", "-o", out, "--",
                        "openssl", "s_server", "-www", "-state", "-naccept", "1", "-accept",
                        "127.0.0.1:0", "-cert", c["server.pem"], "-key", c["server.key"]],
                       env=plain_env())
        port = p.wait_for(r"ACCEPT 127\.0\.0\.1:(\d+)").group(1)
        lib.run(["openssl", "s_client", "-connect", "127.0.0.1:" + port, "-CAfile", c["ca.pem"]],
                env=plain_env(), input=b"", stdin=None)
        p.wait(30)
        err = p.errors()
        own = collapse([l for l in err.splitlines() if l.startswith("SSL_accept:")
                        and not re.match(r"SSL_accept:(error|failed) in", l)])
        live = collapse([m.group(5) for m in map(LIVE.match, err.splitlines())
                         if m and m.group(5).startswith("SSL_accept:")
                         and not m.group(5).startswith("SSL_accept:exit in")])
        self.assertTrue(own, err[-3000:])
        self.assertEqual(live, own)

    def test_report_follow_prints_events_as_a_log_grows(self):
        """report --follow on a log being written: the new events, as they come."""
        import signal
        import time
        server, port = self.openssl_server("-www", "-naccept", "2", env=plain_env())
        log = os.path.join(self.tmp, "app.jsonl")
        env = self.env()
        env["SSLSHIM_LOG"] = log
        first = lib.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-CAfile",
                         certs()["ca.pem"]], env=env, input=b"", stdin=None)
        self.assertEqual(first.returncode, 0)
        follower = self.start([sys.executable, SSLSHIM, "report", "--follow", log],
                              env=plain_env())
        # It starts at the end (the first run is old), once it has started:
        # 0.4 s idle, 4-5 s with the cores kept busy.  Until it prints a line
        # appended after it started, the second run could be skipped as old.
        # So: append a copy of the first run's process line (a line it prints
        # with the first run's pid), again every second until it is printed.
        with open(log, "rb") as f:
            copy = next(raw for raw in f if json.loads(raw)["ev"] == "process")
        first_pid = json.loads(copy)["pid"]
        marker = re.compile(r"^\d\d:\d\d:\d\d\.\d{6} \S+\[%d\] process " % first_pid)
        appended, next_copy, until = 0, 0.0, time.monotonic() + 60
        while not any(map(marker.match, follower.output().splitlines())):
            self.assertIsNone(follower.p.poll(), follower.errors()[-2000:])
            self.assertLess(time.monotonic(), until, "report --follow printed no line of "
                            "%d appended in 60 s: %r" % (appended, follower.output()[-2000:]))
            if time.monotonic() >= next_copy:
                with open(log, "ab") as f:
                    f.write(copy)
                appended += 1
                next_copy = time.monotonic() + 1
            time.sleep(0.02)
        second = lib.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-CAfile",
                          certs()["untrusted.pem"], "-verify_return_error"], env=env, input=b"",
                         stdin=None)
        self.assertNotEqual(second.returncode, 0)
        follower.wait_for(r"SSL3 alert write:fatal:unknown CA", timeout=10)
        follower.p.send_signal(signal.SIGINT)
        self.assertEqual(follower.wait(10), 0)
        out = follower.output().splitlines()
        # the copies it printed come first, each the same line; the rest is the second run
        markers = [l for l in out if marker.match(l)]
        self.assertTrue(1 <= len(markers) <= appended, (appended, out[:5]))
        self.assertEqual(out[:len(markers)], [markers[0]] * len(markers), out[:5])
        out = out[len(markers):]
        pids = {int(m.group(3)) for m in map(re.compile(r"^(\S+) (\S+)\[(\d+)\]").match, out) if m}
        evs = [e for e in lib.read_log(log)]
        second_pid = evs[-1]["pid"]
        self.assertEqual(pids, {second_pid}, out[:5])     # only the new process's events
        self.assertEqual(len(out), len([e for e in evs if e["pid"] == second_pid]))
        self.assertTrue(any(l.split(" ", 2)[2].startswith("conn 1 SSL_connect:") for l in out))
