"""Command line of `sslshim`: run, report, diff, collect, check."""
import argparse
import calendar
import functools
import io
import json
import os
import re
import sys
import time

from sslshim_paths import VERSION, default_log_root

USAGE = """\
usage: sslshim run [-o DIR] [--level L] [--stacks S] [--keylog FILE] [--flight] [--live]
                   -- CMD [ARG...]
       sslshim report [--json] [--html FILE] [--all] [--host NAME]... [--pid PID]...
                      [--conn N]... [--peer ADDR]... [--since T] [--until T] [--last]
                      [--failed] [-q] [LOG_OR_DIR...]
       sslshim report --follow [LOG_OR_DIR]
       sslshim diff [--json] [--context N] [--all] [-q] A B
       sslshim collect [-o FILE.tar.gz] [--include-keylog] [--no-objects] [DIR...]
       sslshim check [--keep] | sslshim check PROG
       sslshim --version | SUBCOMMAND --help

run      run CMD with libsslshim.so preloaded, then say where the logs are and
         what they show (exit status: CMD's, 128+N if a signal N killed it)
report   explain the logs: failures across hosts, connections by peer and
         outcome, alerts, loops, and for each failure its timeline, stacks,
         both ends joined by client_random, and a diagnosis (exit status: 0
         nothing failed, 1 a failure was found, 2 usage error or unreadable input)
diff     compare two runs of one scenario (e.g. plain and under Valgrind): match
         their connections and show, for each, the first state or message where
         B differs from A, and the alerts, errors and stacks that differ (exit
         status: 0 no difference, 1 the runs differ, 2 usage error or unreadable input)
collect  bundle logs with what is needed to read them on another host
check    test the shim with this host's `openssl s_client` and `s_server`;
         with PROG: what the shim can see of that program (its libssl, or why not)
"""


def _text_stdout():
    # Peer-supplied strings (SNI, certificate names) may not be encodable in
    # the terminal's charset: never fail on them.
    try:
        sys.stdout.reconfigure(errors="backslashreplace")
    except (AttributeError, ValueError):
        pass


def main(argv, command_path):
    if not argv or argv[0] in ("-h", "--help", "help"):
        (sys.stdout if argv else sys.stderr).write(USAGE)
        return 0 if argv else 2
    if argv[0] == "--version":
        sys.stdout.write("sslshim %s\n" % VERSION)
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd == "run":
        import sslshim_run
        return sslshim_run.main(rest, command_path)
    if cmd == "report":
        return report_main(rest)
    if cmd == "diff":
        import sslshim_diff
        return sslshim_diff.main(rest)
    if cmd == "collect":
        import sslshim_collect
        return sslshim_collect.main(rest)
    if cmd == "check":
        import sslshim_check
        return sslshim_check.main(rest, command_path)
    sys.stderr.write("sslshim: unknown subcommand %r\n%s" % (cmd, USAGE))
    return 2


REPORT_DESCRIPTION = (
    "Read sslshim logs (JSON Lines files, directories searched recursively, .gz files, "
    "`sslshim collect` bundles, - for stdin) of any number of processes and hosts, and explain "
    "what the TLS connections did and why the failing ones failed.  Bad input lines (not JSON, "
    "not an event, a field of the wrong type, longer than 1 MiB) are named on stderr (FILE:LINE) "
    "and skipped; a compressed input that expands past 100 times its size is given up.  A line "
    "whose host, pid and seq were read before (a log forwarder delivering it twice, overlapping "
    "rotated copies) is counted once.  The selections (--host, --pid, --conn, --peer, --since, "
    "--until, --last) combine: an event is shown when it passes all of them; the report's "
    "counts are of what was selected.")
REPORT_EPILOG = (
    "exit status: 0 when nothing failed; 1 when a failure was found (a failing connection, "
    "a loop or a misuse: what the report lists under failures and loops); 2 on usage errors "
    "and unreadable input (no input file at all, a path that does not exist or cannot be "
    "read, no events read or none selected).")

_RELATIVE = re.compile(r"^([0-9]+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DATETIME = re.compile(r"^([0-9]{4}-[0-9]{2}-[0-9]{2})(?:[T ]([0-9]{2}:[0-9]{2}(?::[0-9]{2})?)"
                       r"(\.[0-9]+)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?$", re.I)


def parse_time(text, now=None):
    """--since/--until: an RFC 3339 time ("2026-12-06T13:53:47.5Z", an
    offset, or none: UTC), a date (its midnight, UTC), or 30s, 10m, 2h, 1d
    before now.  Returns the time in the shim's form (bytes), whose byte
    order is time order (sslshim_logs.Selection)."""
    from sslshim_analysis import format_ts
    m = _RELATIVE.match(text.strip())
    if m:
        now = time.time() if now is None else now
        return format_ts(now - int(m.group(1)) * _UNITS[m.group(2)])
    m = _DATETIME.match(text.strip())
    if not m:
        raise argparse.ArgumentTypeError(
            "%r is not a time: use 2026-12-06T13:53:47Z (RFC 3339; no zone: UTC), "
            "2026-12-06, or 30s, 10m, 2h, 1d (before now)" % text)
    date, clock, frac, zone = m.groups()
    clock = clock or "00:00:00"
    if clock.count(":") == 1:
        clock += ":00"
    try:
        t = calendar.timegm(time.strptime("%s %s" % (date, clock), "%Y-%m-%d %H:%M:%S"))
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a valid date and time" % text)
    t += float(frac) if frac else 0.0
    if zone and zone.upper() != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        t -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return format_ts(t)


def parse_peer(text):
    """--peer: host:port, [v6]:port, host (or a bare IPv6 address), :port ->
    (host or None, port as a string or None)."""
    t = text.strip()
    host, port = t, None
    if t.startswith("["):
        close = t.find("]")
        if close < 0 or (t[close + 1:] and not t[close + 1:].startswith(":")):
            raise argparse.ArgumentTypeError("%r is not host:port, host or :port" % text)
        host, port = t[1:close], t[close + 2:] or None
    elif t.count(":") == 1:
        host, port = t.split(":")
    host = host or None
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        raise argparse.ArgumentTypeError("%r: the port must be a number from 1 to 65535" % text)
    if host is None and port is None:
        raise argparse.ArgumentTypeError("%r is not host:port, host or :port" % text)
    return host, port


def _non_negative(text):
    if not text.isdigit():
        raise argparse.ArgumentTypeError("%r is not a number" % text)
    return int(text)


def report_parser():
    p = argparse.ArgumentParser(prog="sslshim report", description=REPORT_DESCRIPTION,
                                epilog=REPORT_EPILOG)
    p.add_argument("inputs", nargs="*", metavar="LOG_OR_DIR",
                   help="default: %s/" % default_log_root())
    p.add_argument("--json", action="store_true",
                   help="print the analysis as one JSON document (with \"selection\": what "
                        "was selected)")
    p.add_argument("--html", metavar="FILE",
                   help="also write a self-contained HTML page (ladder diagrams, attempts per "
                        "peer) to FILE, created 0600; FILE is always the next argument, and "
                        "must not be a directory")
    p.add_argument("--all", action="store_true",
                   help="show every kept failing connection in detail, not one per kind")
    p.add_argument("--host", action="append", metavar="NAME",
                   help="only the events of host NAME (as logged in \"host\"); repeat for "
                        "more hosts.  The other lines are skipped unread")
    p.add_argument("--pid", action="append", metavar="PID", type=_non_negative,
                   help="only the events of process PID (of the hosts selected, with --host); "
                        "repeatable")
    p.add_argument("--conn", action="append", metavar="N", type=_non_negative,
                   help="only connection N (the log's \"conn\") of each process selected: "
                        "with --pid/--host to name one process's, else every process's "
                        "connection N; repeatable")
    p.add_argument("--peer", action="append", metavar="ADDR", type=parse_peer,
                   help="only connections whose peer (a client's server, a server's client) "
                        "matches host:port, host (its address or the SNI) or :port; "
                        "repeatable")
    p.add_argument("--since", metavar="T", type=parse_time,
                   help="only events at or after T: RFC 3339 as in the log (no zone: UTC), "
                        "or 30s, 10m, 2h, 1d before now.  A process's own lines are kept, "
                        "and a connection cut by the range shows only its events inside it")
    p.add_argument("--until", metavar="T", type=parse_time, help="only events at or before T")
    p.add_argument("--last", action="store_true",
                   help="only the most recent run.  With no LOG_OR_DIR: the newest run-<time> "
                        "directory that `sslshim run` made in %s/.  Otherwise (or when there "
                        "is none) the run is the process whose `process` line is the newest "
                        "and every other process still logging when it started (its last "
                        "event later than that): their files are read whole.  Reads plain "
                        ".jsonl files (and their rotated copies)" % default_log_root())
    p.add_argument("--failed", action="store_true",
                   help="list only failing connections in the listings per peer; the summary "
                        "still counts every connection selected")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="do not list input problems on stderr (still counted)")
    p.add_argument("--follow", action="store_true",
                   help="follow one log file or directory like tail -f: a line per event as "
                        "it is written, with its time, in the words of openssl s_client "
                        "-state -msg, until interrupted (then exit 0)")
    return p


def follow(target):
    """report --follow: the live view of sslshim run --live on a log that
    is being written; lines already there are not shown."""
    import time
    from sslshim_live import POLL_S, Follower
    if not os.path.exists(target):
        return _usage("--follow: %s does not exist" % target)
    _text_stdout()

    def write(line):
        sys.stdout.write(line)
        sys.stdout.flush()

    f = Follower(target, write)
    f.from_end()
    try:
        while True:
            f.poll()
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        f.poll()
    except BrokenPipeError:
        pass
    return 0


def _usage(msg):
    report_parser().print_usage(sys.stderr)
    sys.stderr.write("sslshim report: error: %s\n" % msg)
    return 2


def report_main(argv):
    args = report_parser().parse_args(argv)
    if args.follow:
        if len(args.inputs) > 1:
            return _usage("--follow takes one log file or directory")
        return follow(args.inputs[0] if args.inputs else default_log_root())
    if args.html and os.path.isdir(args.html):
        return _usage("--html %s: a directory; --html takes the page's file name, then the "
                      "logs to read (--html FILE LOG_OR_DIR...)" % args.html)
    inputs = args.inputs or [default_log_root()]
    last = None
    if args.last:
        from sslshim_report import last_run
        try:
            inputs, last = last_run(args.inputs, default_log_root())
        except ValueError as e:
            return _usage("--last: %s" % e)
    from sslshim_logs import Selection
    select = Selection(hosts=args.host, pids=args.pid, conns=args.conn, since=args.since,
                       until=args.until, peers=args.peer, failed=args.failed, last=last)
    from sslshim_report import analyze
    doc = analyze(inputs, quiet=args.quiet, show_all=args.all, select=select)
    status = exit_status(doc)
    if args.html:
        import sslshim_html
        try:
            sslshim_html.write(doc, args.html)
        except OSError as e:
            sys.stderr.write("sslshim: cannot write %s: %s\n" % (args.html, e.strerror))
            status = 2
    if args.json:
        write_json(doc, sys.stdout)
    else:
        import sslshim_text
        _text_stdout()
        buf = io.StringIO()
        sslshim_text.render(doc, buf)
        sys.stdout.write(buf.getvalue())
        if args.html and status != 2:
            sys.stdout.write("\nHTML report: %s\n" % os.path.abspath(args.html))
    if status == 2:
        sys.stderr.write("sslshim report: %s\n" % doc["unread_reason"])
    return status


def exit_status(doc):
    """0 nothing failed, 1 a failure found, 2 unreadable input (the reason
    in doc["unread_reason"])."""
    why = None
    if doc["unreadable"]:
        why = "cannot read %s" % ", ".join(doc["unreadable"][:5])
    elif not doc["input_files"]:
        why = "no input files"
    elif not doc["events"]:
        selected = doc["selection"] and any(
            v for k, v in doc["selection"].items() if k not in ("failed", "last"))
        why = "no events selected" if selected and doc["lines"] else "no events read"
    doc["unread_reason"] = why
    if why:
        return 2
    return 1 if doc["failures"] or doc["loops"] or doc["misuse"] else 0


def write_json(doc, out):
    """doc as one compact line, as json.dumps makes it, written a part at a
    time: the lists of the document item by item, each let go once written,
    so that the whole text of a big report (tens of MB) is never held.
    json's C encoder does each part (json.dump and any indent use the
    pure-Python one, about a third of the time of a big report)."""
    dumps = functools.partial(json.dumps, separators=(",", ":"), default=str)
    out.write("{")
    for i, (key, value) in enumerate(doc.items()):
        out.write("%s%s:" % ("," if i else "", dumps(key)))
        if type(value) is list:
            out.write("[")
            for j in range(len(value)):
                out.write("%s%s" % ("," if j else "", dumps(value[j])))
                value[j] = None
            out.write("]")
        else:
            out.write(dumps(value))
    out.write("}\n")
