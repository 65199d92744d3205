#!/usr/bin/env python3
"""make check-sanitize: the unit tests and the C fixtures built with
-fsanitize=address,undefined (in build/asan/) pass, and the shim preloaded
after ASan's runtime into ASan-built programs makes them report nothing."""
import glob
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lib  # noqa: E402

ASAN = os.path.join(lib.BUILD, "asan")
results = []


def asan_runtime():
    out = subprocess.run(["cc", "-print-file-name=libasan.so"], stdout=subprocess.PIPE,
                         universal_newlines=True).stdout.strip()
    return os.path.realpath(out)


def check(name, ok, detail=""):
    results.append(ok)
    print("%s %s%s" % ("ok  " if ok else "FAIL", name, "" if ok else "\n" + detail[-4000:]))


def clean(r):
    text = (r.stdout or "") + (r.stderr or "")
    return "ERROR: AddressSanitizer" not in text and "runtime error:" not in text \
        and "LeakSanitizer" not in text, text


def main():
    env_plain = lib.plain_env()
    env_plain["UBSAN_OPTIONS"] = "halt_on_error=1:print_stacktrace=1"
    env_plain["ASAN_OPTIONS"] = "detect_leaks=1"
    for path in sorted(glob.glob(os.path.join(ASAN, "tests", "unit", "*"))):
        # A million fuzzed inputs under ASan take minutes (test_certs about 2).
        r = lib.run([path], env=env_plain, universal_newlines=True, timeout=900)
        ok, text = clean(r)
        check("unit " + os.path.basename(path), r.returncode == 0 and ok, text)

    logdir = tempfile.mkdtemp(prefix="sslshim-asan-")
    env = dict(env_plain)
    env["LD_PRELOAD"] = asan_runtime() + " " + lib.SHIM
    env["SSLSHIM_LOG"] = logdir + "/"
    c = lib.certs()
    fx = lambda n: os.path.join(ASAN, "tests", n)

    plain = lib.run([fx("every_call"), c["server.pem"], c["server.key"]], env=env_plain,
                    universal_newlines=True)
    shim = lib.run([fx("every_call"), c["server.pem"], c["server.key"]], env=env,
                   universal_newlines=True)
    ok, text = clean(shim)
    check("every_call under ASan with the shim", plain.returncode == 0 and ok and
          shim.stdout == plain.stdout, text)

    server = lib.Proc([fx("tls_server"), "--port", "0", "--threads", "--conns", "0",
                       "--cert", c["server.pem"], "--key", c["server.key"]], env=env)
    try:
        port = server.wait_for(r"PORT (\d+)").group(1)
        r = lib.run([fx("tls_client"), "--port", port, "--cafile", c["ca.pem"],
                     "--threads", "4", "--count", "10"], env=env, universal_newlines=True,
                    timeout=120)
        ok, text = clean(r)
        check("threaded client and server under ASan with the shim",
              r.returncode == 0 and "OK 40" in r.stdout and ok, text)
        r = lib.run([fx("tls_client"), "--port", port, "--cafile", c["untrusted.pem"]],
                    env=env, universal_newlines=True)
        ok, text = clean(r)
        check("failing handshake (stacks) under ASan with the shim", r.returncode == 1 and ok,
              text)
    finally:
        server.stop()
    ok, text = clean(subprocess.CompletedProcess([], 0, server.output(), server.errors()))
    check("server under ASan with the shim", ok, text)
    evs = [e for es in lib.logs(logdir).values() for e in es]
    check("the shim logged under ASan", any(e["ev"] == "handshake_done" for e in evs) and
          any(e["ev"] == "alert" and e.get("stack") for e in evs))

    failed = results.count(False)
    print("%d passed, %d failed" % (len(results) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
