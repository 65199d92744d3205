"""Command line of `sslshim`: run, report, collect, check."""
import argparse
import functools
import io
import json
import os
import sys

from sslshim_paths import VERSION, default_log_root

USAGE = """\
usage: sslshim run [-o DIR] [--level L] [--stacks S] [--keylog FILE] [--flight] -- CMD [ARG...]
       sslshim report [--json] [--html FILE] [--all] [--host NAME]... [LOG_OR_DIR...]
       sslshim collect [-o FILE.tar.gz] [--include-keylog] [--no-objects] [DIR...]
       sslshim check [--keep] | sslshim check PROG
       sslshim --version | SUBCOMMAND --help

run      run CMD with libsslshim.so preloaded, then say where the logs are and
         what they show (exit status: CMD's, 128+N if a signal N killed it)
report   explain the logs: failures across hosts, connections by peer and
         outcome, alerts, loops, and for each failure its timeline, stacks,
         both ends joined by client_random, and a diagnosis
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
    if cmd == "collect":
        import sslshim_collect
        return sslshim_collect.main(rest)
    if cmd == "check":
        import sslshim_check
        return sslshim_check.main(rest, command_path)
    sys.stderr.write("sslshim: unknown subcommand %r\n%s" % (cmd, USAGE))
    return 2


def report_parser():
    p = argparse.ArgumentParser(
        prog="sslshim report",
        description="Read sslshim logs (JSON Lines files, directories searched recursively, "
                    ".gz files, `sslshim collect` bundles, - for stdin) of any number of "
                    "processes and hosts, and explain what the TLS connections did and why "
                    "the failing ones failed.  Bad input lines (not JSON, not an event, a field "
                    "of the wrong type, longer than 1 MiB) are named on stderr (FILE:LINE) "
                    "and skipped; a compressed input that expands past 100 times its size is "
                    "given up.  A line whose host, pid and seq were read before (a log "
                    "forwarder delivering it twice, overlapping rotated copies) is counted "
                    "once.  Exit status: 0 when events were read, 1 when none could be (or "
                    "none of the hosts asked for), 2 on usage errors.")
    p.add_argument("inputs", nargs="*", metavar="LOG_OR_DIR",
                   help="default: %s/" % default_log_root())
    p.add_argument("--json", action="store_true", help="print the analysis as one JSON document")
    p.add_argument("--html", metavar="FILE",
                   help="also write a self-contained HTML page (ladder diagrams, attempts per "
                        "peer) to FILE")
    p.add_argument("--all", action="store_true",
                   help="show every kept failing connection in detail, not one per kind")
    p.add_argument("--host", action="append", metavar="NAME",
                   help="only the events of host NAME (as logged in \"host\"); repeat for "
                        "more hosts.  The other lines are skipped unread")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="do not list input problems on stderr (still counted)")
    return p


def report_main(argv):
    args = report_parser().parse_args(argv)
    inputs = args.inputs or [default_log_root()]
    from sslshim_report import analyze
    doc = analyze(inputs, quiet=args.quiet, show_all=args.all,
                  hosts=set(args.host) if args.host else None)
    if args.html:
        import sslshim_html
        try:
            sslshim_html.write(doc, args.html)
        except OSError as e:
            sys.stderr.write("sslshim: cannot write %s: %s\n" % (args.html, e.strerror))
            return 1
    status = 0 if doc["events"] else 1
    if args.json:
        write_json(doc, sys.stdout)
    else:
        import sslshim_text
        _text_stdout()
        buf = io.StringIO()
        sslshim_text.render(doc, buf)
        sys.stdout.write(buf.getvalue())
        if args.html:
            sys.stdout.write("\nHTML report: %s\n" % os.path.abspath(args.html))
    return status


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
