"""What the shim can see of a program, from its file alone (`sslshim check
PROG`, and `sslshim run` when a run recorded nothing).

The shim reaches a program through LD_PRELOAD and OpenSSL's libssl; each way
that does not hold is named with what it means:
  - a set-user-ID or set-group-ID file: the dynamic linker ignores the
    preload (and the shim stays inert where it is loaded anyway);
  - a statically linked file: there is no dynamic linker to preload into;
  - a Go program: crypto/tls, not OpenSSL;
  - another TLS library (GnuTLS, NSS, wolfSSL, mbed TLS, rustls...) and no
    libssl: the TLS is not OpenSSL's;
  - libssl linked (directly or through a library): the shim records it;
  - no TLS library at all: one may still be loaded at run time (Python's
    ssl module, plugins); the shim sees a libssl loaded then.
The file is read (readelf, and ldd for a dynamic one), never run."""
import os
import re
import shutil
import stat
import subprocess

TIMEOUT = 20

OPENSSL = re.compile(r"^libssl\.so(\.[0-9.]+)?$")
OTHER_TLS = [
    (re.compile(r"^libgnutls\.so"), "GnuTLS"),
    (re.compile(r"^libssl3\.so"), "NSS"),
    (re.compile(r"^libnss3\.so"), "NSS"),
    (re.compile(r"^libwolfssl\.so"), "wolfSSL"),
    (re.compile(r"^libmbedtls\.so"), "mbed TLS"),
    (re.compile(r"^librustls"), "rustls"),
    (re.compile(r"^libbearssl\.so"), "BearSSL"),
    (re.compile(r"^libtls\.so"), "LibreSSL's libtls"),
]

# verdicts: what `check` exits with
WORKS, CANNOT, UNKNOWN = 0, 1, 2


class Finding:
    def __init__(self, verdict, what, detail):
        self.verdict, self.what, self.detail = verdict, what, detail

    def line(self):
        return "%s: %s" % (self.what, self.detail)


def _run(argv):
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           stdin=subprocess.DEVNULL, universal_newlines=True, timeout=TIMEOUT,
                           env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"})
        return r.stdout if r.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def resolve(prog):
    """The file `prog` names (a path, or a command on PATH), or None."""
    if os.sep in prog:
        return prog if os.path.exists(prog) else None
    return shutil.which(prog)


def _head(path, n=256):
    """The file's first n bytes (b"" when it cannot be read)."""
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError:
        return b""


def _interpreter_line(head):
    """A script's #! line, or None."""
    if head.startswith(b"#!"):
        return head[2:].split(b"\n", 1)[0].decode(errors="replace").strip()
    return None


def _libraries(path):
    """[(soname, path or None)] the dynamic linker loads for the file: ldd's
    view (every level), or the file's own NEEDED entries when ldd fails."""
    out = _run(["ldd", path])
    libs = []
    if out:
        for line in out.splitlines():
            m = re.match(r"\s*(\S+)\s+=>\s+(\S+)", line)
            if m:
                libs.append((m.group(1), None if m.group(2) == "not" else m.group(2)))
        if libs:
            return libs
    out = _run(["readelf", "-d", path]) or ""
    return [(m.group(1), None) for m in re.finditer(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]",
                                                     out)]


def _has_interp(path):
    out = _run(["readelf", "-lW", path]) or ""
    m = re.search(r"\[Requesting program interpreter: ([^\]]+)\]", out)
    return m.group(1) if m else None


def _is_go(path):
    out = _run(["readelf", "-SW", path]) or ""
    return ".go.buildinfo" in out or ".gopclntab" in out or ".note.go.buildid" in out


def _embedded_openssl(path):
    """What shows OpenSSL's libssl is inside the file itself (statically
    linked in): its symbols, else its version or its source file names in
    the file's bytes (a stripped file keeps those); None if nothing does."""
    syms = _run(["readelf", "-sW", path]) or ""
    if re.search(r" (SSL_CTX_new|SSL_connect|SSL_accept)$", syms, re.M):
        return "its symbols SSL_CTX_new, SSL_connect..."
    try:
        with open(path, "rb") as f:
            data = f.read(256 << 20)
    except OSError:
        return None
    m = re.search(rb"OpenSSL (\d+\.\d+\.\d+[a-z]?)[ -]", data)
    if m:
        return "its version string, OpenSSL " + m.group(1).decode()
    if b"ssl/ssl_lib.c" in data:
        return "its source file names (ssl/ssl_lib.c)"
    return None


def examine(prog):
    """(the file's path or None, [Finding]) for a program name or path."""
    path = resolve(prog)
    if not path:
        return None, [Finding(UNKNOWN, "not found", "%s is no file and no command on PATH" % prog)]
    findings = []
    st = os.stat(path)
    if st.st_mode & (stat.S_ISUID | stat.S_ISGID):
        findings.append(Finding(CANNOT, "set-user-ID" if st.st_mode & stat.S_ISUID
                                else "set-group-ID",
                                "the dynamic linker ignores LD_PRELOAD for it (and the shim stays "
                                "inert if loaded anyway); run a copy without the bit, as the "
                                "user it would run as"))
    head = _head(path)
    if not head.startswith(b"\x7fELF"):
        interp = _interpreter_line(head)
        if interp:
            findings.append(Finding(WORKS if not findings else CANNOT, "script",
                                    "run by %s: what the shim sees depends on it (sslshim check "
                                    "%s)" % (interp, interp.split()[0])))
        else:
            findings.append(Finding(UNKNOWN, "not a program", "%s is not an ELF file" % path))
        return path, findings
    if _is_go(path):
        findings.append(Finding(CANNOT, "Go program", "its TLS is Go's crypto/tls, not OpenSSL: "
                                "the shim sees none of it"))
        return path, findings
    interp = _has_interp(path)
    if not interp:
        inside = _embedded_openssl(path)
        findings.append(Finding(CANNOT, "statically linked",
                                "no dynamic linker, so LD_PRELOAD never applies%s"
                                % ("; OpenSSL's libssl is built into the file (%s): its calls "
                                   "cannot be interposed" % inside if inside else "")))
        return path, findings
    libs = _libraries(path)
    ssl = [(n, p) for n, p in libs if OPENSSL.match(n)]
    other = [(name, n, p) for n, p in libs for rx, name in OTHER_TLS if rx.match(n)]
    if ssl:
        n, p = ssl[0]
        findings.append(Finding(WORKS, "OpenSSL", "%s => %s: the shim records its TLS "
                                "connections" % (n, p or "not found")))
    for name, n, p in other:
        findings.append(Finding(WORKS if ssl else CANNOT, name,
                                "%s => %s: %s" % (n, p or "not found",
                                                  "TLS through it is not seen (only OpenSSL's)"
                                                  if ssl else "its TLS is not OpenSSL's: the shim "
                                                  "sees none of it")))
    if not ssl and not other:
        findings.append(Finding(WORKS, "no TLS library linked",
                                "it may load one at run time (Python's ssl module, plugins): the "
                                "shim sees a libssl loaded then, and nothing otherwise"))
    return path, findings


def verdict(findings):
    """WORKS, CANNOT or UNKNOWN: the worst finding."""
    return max(f.verdict for f in findings) if findings else UNKNOWN


def report(prog, write):
    """`sslshim check PROG`: what the shim can see there; returns the exit code."""
    path, findings = examine(prog)
    write("%s\n" % (path or prog))
    for f in findings:
        write("  %s\n" % f.line())
    v = verdict(findings)
    if v == WORKS and any(f.what == "script" for f in findings):
        write("MAYBE: what the programs it runs do through OpenSSL\n")
    elif v == WORKS and not any(f.what == "OpenSSL" for f in findings):
        write("MAYBE: only what it does through a libssl it loads at run time\n")
    else:
        write({WORKS: "OK: the shim can record this program's OpenSSL connections\n",
               CANNOT: "NO: the shim cannot see this program's TLS (see above)\n",
               UNKNOWN: "?: cannot tell\n"}[v])
    return v


def reason_nothing_was_recorded(argv0):
    """One line for `sslshim run` when a run recorded nothing, or None."""
    path, findings = examine(argv0)
    bad = [f for f in findings if f.verdict == CANNOT]
    if bad:
        return "%s: %s" % (path or argv0, "; ".join(f.line() for f in bad))
    if path and any(f.what == "no TLS library linked" for f in findings):
        return ("%s links no TLS library and loaded no libssl while it ran (or SSLSHIM_EXE "
                "named another program)" % path)
    return None
