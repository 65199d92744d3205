"""sslshim check: does the shim work on this host?

Generates a throw-away self-signed certificate, starts `openssl s_server -www`
on 127.0.0.1 (ephemeral port), and runs `openssl s_client` against it, both
with the shim preloaded and logging into a temporary directory; then reads
the client's log and says what it saw.  Only the server it started is
stopped, by its PID; every wait is bounded.
"""
import glob
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from sslshim_logs import Problems, Reader
from sslshim_paths import shim_library

TIMEOUT = 20


def _clean_env():
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    for k in list(env):
        if k.startswith("SSLSHIM_"):
            del env[k]
    return env


def _stop(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)


def _read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


USAGE = """usage: sslshim check [--keep]
       sslshim check PROG

Without PROG: preload libsslshim.so into this host's `openssl s_client`
talking to a loopback `openssl s_server` and show what the shim recorded.
Exit 0 when it works.
  --keep   keep the temporary directory (certificate, logs)

With PROG (a path or a command on PATH): what the shim can see of that
program, from its file (never run): the libssl it links, or why the shim
cannot see its TLS (statically linked, set-user-ID, Go, another TLS
library).  Exit 0 when it can, 1 when it cannot, 2 when it cannot tell.
"""


def main(argv, command_path):
    keep = "--keep" in argv
    if any(a in ("-h", "--help") for a in argv):
        sys.stdout.write(USAGE)
        return 0
    unknown = [a for a in argv if a.startswith("-") and a != "--keep"]
    progs = [a for a in argv if not a.startswith("-")]
    if unknown or len(progs) > 1 or (progs and keep):
        sys.stderr.write("sslshim check: %s\n%s" % (
            "unknown option " + unknown[0] if unknown else "one program at a time", USAGE))
        return 2
    if progs:
        from sslshim_preflight import report
        return report(progs[0], sys.stdout.write)
    say = sys.stdout.write
    shim, how = shim_library(command_path)
    if not os.path.isfile(shim):
        say("FAIL: %s not found (%s).  Build it (make) or set SSLSHIM_LIB.\n" % (shim, how))
        return 1
    openssl = shutil.which("openssl")
    if not openssl:
        say("FAIL: no `openssl` command on PATH (Debian: apt-get install openssl).\n")
        return 1
    version = subprocess.run([openssl, "version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             universal_newlines=True, timeout=TIMEOUT,
                             env=_clean_env()).stdout.strip()
    say("shim:    %s\nopenssl: %s (%s)\n" % (shim, openssl, version))
    tmp = tempfile.mkdtemp(prefix="sslshim-check-")
    try:
        return _check(openssl, shim, tmp, say)
    finally:
        if keep:
            say("kept: %s\n" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _check(openssl, shim, tmp, say):
    key, cert = os.path.join(tmp, "key.pem"), os.path.join(tmp, "cert.pem")
    logdir = os.path.join(tmp, "logs")
    os.mkdir(logdir, 0o700)
    env = _clean_env()
    r = subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-keyout", key,
                        "-out", cert, "-subj", "/CN=localhost"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                       universal_newlines=True, timeout=TIMEOUT, env=env)
    if r.returncode != 0:
        say("FAIL: could not make a test certificate with openssl req:\n%s\n" % r.stdout[-2000:])
        return 1
    shim_env = dict(env, LD_PRELOAD=shim, SSLSHIM_LOG=logdir + "/")
    sout = open(os.path.join(tmp, "server.out"), "w+")
    server = subprocess.Popen([openssl, "s_server", "-accept", "127.0.0.1:0", "-cert", cert,
                               "-key", key, "-www", "-naccept", "1"],
                              stdin=subprocess.DEVNULL, stdout=sout, stderr=subprocess.STDOUT,
                              env=shim_env)
    try:
        port = None
        deadline = time.time() + TIMEOUT
        while time.time() < deadline and server.poll() is None:
            m = re.search(r"ACCEPT 127\.0\.0\.1:(\d+)", _read(sout.name))
            if m:
                port = int(m.group(1))
                break
            time.sleep(0.05)
        if port is None:
            say("FAIL: openssl s_server did not start:\n%s\n" % _read(sout.name)[-2000:])
            return 1
        client = subprocess.run([openssl, "s_client", "-connect", "127.0.0.1:%d" % port,
                                 "-servername", "localhost", "-CAfile", cert, "-ign_eof"],
                                input="GET / HTTP/1.0\r\n\r\n", stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, universal_newlines=True,
                                timeout=TIMEOUT, env=shim_env)
    except subprocess.TimeoutExpired:
        say("FAIL: openssl s_client did not finish within %d s\n" % TIMEOUT)
        return 1
    finally:
        _stop(server)
        sout.close()
    out = client.stdout
    if "cannot be preloaded" in out or "ERROR: ld.so" in out:
        say("FAIL: the dynamic linker refused the shim:\n%s\n"
            % "\n".join(l for l in out.splitlines() if "ld.so" in l))
        return 1
    files = sorted(glob.glob(os.path.join(logdir, "*.jsonl")))
    client_logs = [f for f in files if os.path.basename(f).startswith("openssl.")]
    proc = None
    if not files:
        say("FAIL: the shim wrote no log (openssl s_client exited %d; its output ends: %s).  "
            "Possible causes: %s is not libsslshim.so, openssl is statically linked or "
            "set-user-ID here, or the shim could not find libssl in it.\n"
            % (client.returncode, " | ".join(out.strip().splitlines()[-3:]), shim))
        return 1
    from sslshim_report import analyze
    doc = analyze(files, stderr=io.StringIO())
    conns = doc["summary"]["connections"]
    events = doc["events"]
    done = end = None            # what the client saw (s_server's file is openssl.* too)
    for f in client_logs:
        evs = []           # read as `report` reads logs: whole lines, every field checked
        Reader(Problems(stream=io.StringIO())).read([f], lambda source, ev: evs.append(ev))
        ends = [e for e in evs if e.get("ev") == "conn_end" and e.get("role") == "client"]
        if ends:
            end = ends[-1]
            done = next((e for e in evs if e.get("ev") == "handshake_done"), None)
            proc = next((e for e in evs if e.get("ev") == "process"), None)
    say("logged:  %d events in %d files (%d connections; client and server ends joined: %d)\n"
        % (events, len(files), conns, doc["summary"]["joined_handshakes"]))
    if end and proc:
        say("client:  %s[%s], %s, libssl %s\n" % (proc.get("exe"), proc.get("pid"),
                                                  proc.get("openssl"), proc.get("libssl")))
    if done:
        say("handshake: %s %s %s, server certificate %s (spki %s...)\n" % (
            done.get("version"), done.get("cipher"), done.get("group"),
            (done.get("peer_cert") or {}).get("subject"),
            ((done.get("peer_cert") or {}).get("spki_sha256") or "")[:16]))
    if end:
        say("client connection: outcome %s, %s bytes in, %s out, app data %s\n" % (
            end.get("outcome"), end.get("bytes_in"), end.get("bytes_out"),
            "yes" if end.get("app_data") else "no"))
    if not client_logs:
        say("FAIL: the server logged but openssl s_client did not (%s)\n" % ", ".join(files))
        return 1
    if not done or not end:
        say("FAIL: the client's log has no %s; openssl s_client exited %d:\n%s\n"
            % ("handshake_done" if not done else "conn_end", client.returncode, out[-1500:]))
        return 1
    if end.get("outcome") != "ok" or not end.get("app_data"):
        say("FAIL: the test connection itself failed (outcome %s); see `sslshim report` of "
            "the logs (--keep)\n" % end.get("outcome"))
        return 1
    say("OK: the shim works with %s on this host\n" % (proc or {}).get("openssl", "OpenSSL"))
    return 0
