"""What `make demo` shows from the logs: alerts with their states, the loop,
and the stack of the reconnects.  Standard library only."""
import glob
import json
import os
import subprocess
import sys


def load(d):
    by_file = {}
    for path in sorted(glob.glob(os.path.join(d, "*.jsonl"))):
        with open(path) as f:
            by_file[path] = [json.loads(line) for line in f if line.strip()]
    return by_file


def frame_name(f):
    if f.get("fn"):
        return f["fn"]
    try:
        off = int(f["off"], 16) - 1
        out = subprocess.run(["addr2line", "-f", "-e", f["obj"], hex(off)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             universal_newlines=True, timeout=10).stdout.split("\n")
        return out[0] if out and out[0] != "??" else "?"
    except (OSError, ValueError, subprocess.SubprocessError):
        return "?"


def where(f):
    try:
        off = int(f["off"], 16) - 1
        out = subprocess.run(["addr2line", "-e", f["obj"], hex(off)], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, universal_newlines=True,
                             timeout=10).stdout.strip()
        return "" if out.startswith("??") else "  (" + os.path.relpath(out) + ")"
    except (OSError, ValueError, subprocess.SubprocessError):
        return ""


def main():
    files = load(sys.argv[1])
    for path, evs in files.items():
        proc = evs[0]
        role = next((e["role"] for e in evs if e["ev"] == "handshake_start"), "?")
        print("%s (pid %d, %s, %s):" % (os.path.basename(proc["exe"]), proc["pid"], role,
                                        proc["openssl"]))
        alerts = [e for e in evs if e["ev"] == "alert" and e["level"] == "fatal"]
        for a in alerts[:3]:
            print("  conn %-3d %s   in state \"%s\"" % (a["conn"], a["line"], a["state"]))
        if len(alerts) > 3:
            print("  ... %d more like it" % (len(alerts) - 3))
        ends = [e for e in evs if e["ev"] == "conn_end"]
        print("  %d connections: %s" % (len(ends), ", ".join(sorted(
            {"%s/%s" % (e["outcome"], "app data" if e["app_data"] else "no app data")
             for e in ends}))))
        for loop in (e for e in evs if e["ev"] == "loop"):
            print("  LOOP: %s to %s, %d connections in %ds, %d failed, last alert %s" % (
                loop["kind"], loop["peer"], loop["count"], loop["window_s"], loop["failed"],
                loop["last_alert"]))
            print("  the latest attempt was made from:")
            for f in loop.get("stack", [])[:5]:
                print("      %-32s %s%s" % (frame_name(f), os.path.basename(f["obj"]), where(f)))
        print()
    clients = [e for evs in files.values() for e in evs if e["ev"] == "handshake_done"]
    randoms = {}
    for evs in files.values():
        for e in evs:
            if e["ev"] == "conn_end" and e.get("client_random"):
                randoms.setdefault(e["client_random"], []).append(e["role"])
    joined = sum(1 for roles in randoms.values() if len(set(roles)) == 2)
    print("%d handshakes seen from both ends (joined by client_random); %d completed." % (
        joined, len(clients)))


if __name__ == "__main__":
    main()
