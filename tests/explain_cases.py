"""The TLS failure causes `sslshim report` must explain, each set up for real.

run_case(name, workdir) starts real, unmodified programs on 127.0.0.1 —
`openssl s_client`/`s_server`, curl, nginx, /usr/bin/python3's ssl module and
the tls_client fixture — with the shim preloaded into every end that uses
OpenSSL, makes them fail in one way, and returns a Case: where the logs went,
how each process ended, and the facts a test expects the report to state.
The facts are computed here, from this module's own certificates and the
options it gave the programs (with `openssl x509`/`openssl verify`, or a
probe of the plain-text peer), never from the shim's logs.

Rules every case keeps: loopback only; ports are ephemeral (port 0 where the
program prints it, else free_port()); every process runs under a deadline and
is stopped by its own PID; certificates are made with `openssl` commands once
and cached in build/tests/certs-explain; a case takes well under a few
seconds.  Standard library only; runs under /usr/bin/python3 (3.11) and any
Python 3.9+.

    python3 tests/explain_cases.py [CASE...]   # runs the cases, prints what the logs show
"""
import calendar
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time

import lib

CASES = ("key_mismatch", "hostname_mismatch", "hostname_mismatch_curl", "ip_mismatch", "expired",
         "not_yet_valid", "untrusted", "no_common_version", "no_common_cipher", "no_common_group",
         "no_common_sigalg", "alpn_refused", "client_cert_required", "client_cert_rejected",
         "http_on_tls_port", "tls_to_plain_client", "truncation", "server_key_mismatch")

SYSTEM_PYTHON = "/usr/bin/python3"
PROXY = os.path.join(lib.ROOT, "tests", "fixtures", "cert_swap_proxy.py")
CERTS_DIR = os.path.join(lib.BUILD, "tests", "certs-explain")
# Bump when the set of certificates below changes: the cache is rebuilt.
CERTS_VERSION = "3"
# A client or a one-shot server that has not ended by then is killed.
DEADLINE_S = 10


class Case:
    """What run_case() returns.

    logdir  the directory every preloaded end's SSLSHIM_LOG pointed at
    client  the client's result (returncode, stdout, stderr; a
            subprocess.CompletedProcess as lib.run returns), or None
    server  the server's result, the same way (a server that was stopped
            with SIGTERM has returncode -15), or None
    others  results of the helpers that are neither end, e.g. the relay
    pids    {"client": pid, "server": pid, …} — nginx: its master's pid
    facts   the values the report is expected to state (see each case)
    seconds how long the case took
    """

    def __init__(self, name, logdir):
        self.name = name
        self.logdir = logdir
        self.client = None
        self.server = None
        self.others = {}
        self.pids = {}
        self.facts = {}
        self.seconds = None

    def logs(self, exe=None):
        """{path: [events]} of the log files (optionally of one executable name)."""
        return lib.logs(self.logdir, exe)

    def __repr__(self):
        return "Case(%r, facts=%r)" % (self.name, self.facts)


def run_case(name, workdir):
    """Set up and run one case in workdir (empty, made and removed by the
    caller); -> Case.  Every process it started has ended when it returns."""
    if name not in CASES:
        raise ValueError("unknown case %r (one of %s)" % (name, ", ".join(CASES)))
    start = time.monotonic()
    run = _Run(name, workdir)
    try:
        globals()["_case_" + name](run)
    finally:
        run.stop_all()
    run.case.seconds = round(time.monotonic() - start, 2)
    return run.case


# ---- certificates ------------------------------------------------------------

CA_SUBJECT = "/O=sslshim tests/CN=sslshim explain CA"
OTHER_CA_SUBJECT = "/O=sslshim tests/CN=sslshim explain other CA"
ROGUE_CLIENT_SUBJECT = "/CN=sslshim explain rogue client"
SERVER_SAN = "DNS:localhost,IP:127.0.0.1"
# Fixed validity periods: one over long ago, one not begun for years.
EXPIRED_DATES = ("20200101000000Z", "20210101000000Z")
NOT_YET_VALID_DATES = ("20450101000000Z", "20460101000000Z")

_CA_CONF = """\
[ ca ]
default_ca = ca_default
[ ca_default ]
dir = %(dir)s
database = $dir/index.txt
new_certs_dir = $dir/issued
serial = $dir/serial
default_md = sha256
policy = policy_any
unique_subject = no
[ policy_any ]
commonName = supplied
organizationName = optional
[ server ]
basicConstraints = CA:FALSE
subjectAltName = %(san)s
extendedKeyUsage = serverAuth
[ client ]
basicConstraints = CA:FALSE
extendedKeyUsage = clientAuth
"""

_certs = None


def certs():
    """{name: path} of this module's certificates and keys (made once, cached):
    ca, other_ca (EC P-256 roots); server (RSA 2048, CN=localhost, SAN
    DNS:localhost,IP:127.0.0.1, by ca: certificate A of key_mismatch);
    swap (certificate B: a second RSA 2048 key, same subject and SAN, by ca);
    expired / not_yet_valid (server's key, by ca, fixed past / future dates);
    untrusted (CN=localhost by other_ca); rogue_client (by other_ca);
    broken_key (server's certificate with a key whose public half is the
    certificate's and whose private half is swap's)."""
    global _certs
    if _certs and os.path.exists(_certs["done"]):
        return _certs
    names = ("ca", "other_ca", "server", "swap", "expired", "not_yet_valid", "untrusted",
             "rogue_client")
    paths = {"done": os.path.join(CERTS_DIR, "done")}
    for n in names:
        paths[n + ".pem"] = os.path.join(CERTS_DIR, n + ".pem")
        paths[n + ".key"] = os.path.join(CERTS_DIR, n + ".key")
    # expired and not_yet_valid use the server's key.
    paths["expired.key"] = paths["not_yet_valid.key"] = paths["server.key"]
    paths["broken_key.pem"] = paths["server.pem"]
    paths["broken_key.key"] = os.path.join(CERTS_DIR, "broken_key.key")
    if not _cache_is_good(paths):
        _make_certs(paths)
    _certs = paths
    return paths


def _cache_is_good(paths):
    try:
        with open(paths["done"]) as f:
            if f.read().strip() != CERTS_VERSION:
                return False
    except OSError:
        return False
    # The roots and the good leaves must stay valid for a day more.
    for n in ("ca", "other_ca", "server", "swap", "untrusted", "rogue_client"):
        r = lib.run(["openssl", "x509", "-in", paths[n + ".pem"], "-noout", "-checkend", "86400"])
        if r.returncode != 0:
            return False
    return True


def _make_certs(paths):
    """Build every certificate in a fresh directory, then move it into place
    with rename(2), so that concurrent test runs never see half a set (and
    keep the set another run put there meanwhile)."""
    parent = os.path.dirname(CERTS_DIR)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="certs-explain.", dir=parent)
    p = lambda n: os.path.join(tmp, n)

    def sh(*cmd):
        r = lib.run(list(cmd), universal_newlines=True, cwd=tmp)
        if r.returncode != 0:
            raise RuntimeError("%s failed: %s" % (" ".join(cmd), r.stderr.strip()))

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    rsa = ["-newkey", "rsa:2048", "-nodes"]
    for ca, subj in (("ca", CA_SUBJECT), ("other_ca", OTHER_CA_SUBJECT)):
        sh("openssl", "req", "-x509", *ec, "-keyout", p(ca + ".key"), "-out", p(ca + ".pem"),
           "-days", "3650", "-subj", subj)
        d = p(ca + ".db")
        os.makedirs(os.path.join(d, "issued"))
        open(os.path.join(d, "index.txt"), "w").close()
        with open(os.path.join(d, "serial"), "w") as f:
            f.write("%016X\n" % int.from_bytes(os.urandom(7), "big"))
        with open(os.path.join(d, "ca.cnf"), "w") as f:
            f.write(_CA_CONF % {"dir": d, "san": SERVER_SAN})

    def issue(name, key_opts, subj, ca, ext, dates=None, key=None):
        if key:
            sh("openssl", "req", "-new", "-key", key, "-out", p(name + ".csr"), "-subj", subj)
        else:
            sh("openssl", "req", "-new", *key_opts, "-keyout", p(name + ".key"),
               "-out", p(name + ".csr"), "-subj", subj)
        when = ["-startdate", dates[0], "-enddate", dates[1]] if dates else ["-days", "3650"]
        sh("openssl", "ca", "-batch", "-notext", "-config", p(ca + ".db/ca.cnf"),
           "-cert", p(ca + ".pem"), "-keyfile", p(ca + ".key"), "-extensions", ext,
           "-in", p(name + ".csr"), "-out", p(name + ".pem"), *when)

    issue("server", rsa, "/CN=localhost", "ca", "server")
    # B's modulus must be smaller than A's: the client's premaster
    # ciphertext (a number below B's modulus) then always reaches A's RSA
    # decryption, which fails quietly (a random premaster, hence
    # bad_record_mac), instead of being refused as "data too large for
    # modulus" with a decrypt_error alert about as often as B's is larger.
    server_n = _modulus(p("server.key"))
    for _ in range(64):
        issue("swap", rsa, "/CN=localhost", "ca", "server")
        if _modulus(p("swap.key")) < server_n:
            break
    else:
        raise RuntimeError("no RSA key with a smaller modulus in 64 tries")
    _foreign_private_half(p("server.key"), p("swap.key"), p("broken_key.key"), tmp)
    issue("expired", None, "/CN=localhost", "ca", "server", EXPIRED_DATES, key=p("server.key"))
    issue("not_yet_valid", None, "/CN=localhost", "ca", "server", NOT_YET_VALID_DATES,
          key=p("server.key"))
    issue("untrusted", ec, "/CN=localhost", "other_ca", "server")
    issue("rogue_client", ec, ROGUE_CLIENT_SUBJECT, "other_ca", "client")
    with open(p("done"), "w") as f:
        f.write(CERTS_VERSION + "\n")
    if _cache_is_good(paths):
        shutil.rmtree(tmp, ignore_errors=True)
        return
    old = None
    if os.path.exists(CERTS_DIR):
        old = tempfile.mkdtemp(prefix="certs-explain.old.", dir=parent)
        try:
            os.rename(CERTS_DIR, os.path.join(old, "certs"))
        except OSError:
            pass
    try:
        os.rename(tmp, CERTS_DIR)
    except OSError:
        # Another run put its set there first: use that one.
        shutil.rmtree(tmp, ignore_errors=True)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def _rsa_components(key):
    """{name: hex} of an RSA private key, as `openssl rsa -text` lists them."""
    text = lib.run(["openssl", "rsa", "-in", key, "-noout", "-text"], check=True,
                   universal_newlines=True).stdout
    out, current = {}, None
    for line in text.splitlines():
        m = re.match(r"^(\w+):\s*(\d+)?", line)
        if m and not line.startswith(" "):
            current, out[m.group(1)] = m.group(1), ""
            if m.group(2):
                out[current], current = format(int(m.group(2)), "x"), None
        elif current:
            out[current] += line.strip().replace(":", "")
    return out


def _foreign_private_half(public_from, private_from, out, tmp):
    """An RSA key whose public half (n, e) is public_from's and whose private
    half (d, p, q and the CRT values) is private_from's: OpenSSL pairs it with
    public_from's certificate (the check compares public halves only), and it
    decrypts nothing that certificate's key encrypts — a corrupted key, or
    the wrong one in an HSM."""
    a, b = _rsa_components(public_from), _rsa_components(private_from)
    conf = os.path.join(tmp, "broken_key.cnf")
    with open(conf, "w") as f:
        f.write("asn1=SEQUENCE:k\n[k]\nv=INTEGER:0\n")
        for field, (src, name) in (("n", (a, "modulus")), ("e", (a, "publicExponent")),
                                   ("d", (b, "privateExponent")), ("p", (b, "prime1")),
                                   ("q", (b, "prime2")), ("dp", (b, "exponent1")),
                                   ("dq", (b, "exponent2")), ("qi", (b, "coefficient"))):
            f.write("%s=INTEGER:0x%s\n" % (field, src[name]))
    der = os.path.join(tmp, "broken_key.der")
    lib.run(["openssl", "asn1parse", "-genconf", conf, "-out", der, "-noout"], check=True)
    lib.run(["openssl", "rsa", "-inform", "DER", "-in", der, "-out", out], check=True)


def _modulus(key):
    out = lib.run(["openssl", "rsa", "-in", key, "-noout", "-modulus"], check=True,
                  universal_newlines=True).stdout
    return int(out.strip().split("=", 1)[1], 16)


# ---- facts about certificates, computed with openssl commands -------------------

def _openssl(*args, data=None):
    r = lib.run(["openssl", *args], input=data, stdin=None if data is not None else
                subprocess.DEVNULL)
    if r.returncode != 0:
        raise RuntimeError("openssl %s: %s" % (" ".join(args), r.stderr.decode(errors="replace")))
    return r.stdout


def cert_der(pem):
    return _openssl("x509", "-in", pem, "-outform", "DER")


def cert_sha256(pem):
    return hashlib.sha256(cert_der(pem)).hexdigest()


def spki_sha256(pem):
    """sha256 of the DER SubjectPublicKeyInfo, as
    `openssl x509 -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum`."""
    pub = _openssl("x509", "-in", pem, "-pubkey", "-noout")
    return hashlib.sha256(_openssl("pkey", "-pubin", "-outform", "DER", data=pub)).hexdigest()


def cert_name(pem, which):
    """"/O=…/CN=…" (OpenSSL's one-line form) of the subject or issuer."""
    out = _openssl("x509", "-in", pem, "-noout", "-" + which, "-nameopt", "compat").decode()
    return out.strip().split("=", 1)[1]


def cert_san(pem):
    """["DNS:localhost", "IP:127.0.0.1"]: the subjectAltName entries."""
    out = _openssl("x509", "-in", pem, "-noout", "-ext", "subjectAltName").decode()
    lines = out.strip().splitlines()[1:]
    entries = [e.strip() for e in " ".join(lines).split(",") if e.strip()]
    return [e.replace("IP Address:", "IP:", 1) for e in entries]


def cert_dates(pem):
    """(not_before, not_after) as "YYYY-MM-DDTHH:MM:SSZ"."""
    out = _openssl("x509", "-in", pem, "-noout", "-dates").decode()
    got = {}
    for line in out.strip().splitlines():
        k, v = line.split("=", 1)
        # "Jan  1 00:00:00 2021 GMT"; the month name is always English (C locale).
        t = time.strptime(" ".join(v.split()[:4]), "%b %d %H:%M:%S %Y")
        got[k] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(calendar.timegm(t)))
    return got["notBefore"], got["notAfter"]


def verify_result(pem, cafile, *opts):
    """What `openssl verify -CAfile cafile OPTS pem` says: (code, text, depth);
    (0, "ok", None) when it verifies."""
    r = lib.run(["openssl", "verify", "-CAfile", cafile, *opts, pem], universal_newlines=True)
    m = re.search(r"error (\d+) at (\d+) depth lookup: (.+)", r.stdout + r.stderr)
    if not m:
        if r.returncode == 0:
            return 0, "ok", None
        raise RuntimeError("openssl verify: %s" % (r.stdout + r.stderr))
    return int(m.group(1)), m.group(3).strip(), int(m.group(2))


# The alert OpenSSL (3.0, ssl_x509err2alert in ssl/statem/statem_lib.c)
# sends when certificate verification fails with a code.
_VERIFY_ALERT = {9: "bad_certificate", 10: "certificate_expired", 18: "unknown_ca",
                 19: "unknown_ca", 20: "unknown_ca", 21: "unknown_ca", 62: "bad_certificate",
                 64: "bad_certificate"}


def _verify_facts(pem, cafile, *opts):
    code, text, depth = verify_result(pem, cafile, *opts)
    return {"verify_code": code, "verify_text": text, "verify_depth": depth}


# ---- processes ------------------------------------------------------------------

def free_port():
    """An unused 127.0.0.1 TCP port, for programs that cannot listen on port 0
    and tell which port they got (nginx)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def exe_name(program):
    """The executable name the shim's log file is named after (%e): the
    basename of what the program really runs (/usr/bin/python3 -> python3.11)."""
    path = shutil.which(program) or program
    return os.path.basename(os.path.realpath(path))


class _Proc(lib.Proc):
    """lib.Proc with a standard input that stays open: `openssl s_server`
    (without -www) takes end of file on its standard input for "quit" and,
    with /dev/null there, may print DONE and close a connection before its
    handshake even starts."""

    def __init__(self, cmd, env=None, cwd=None):
        self.cmd = cmd
        self.out = tempfile.TemporaryFile()
        self.err = tempfile.TemporaryFile()
        self.p = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.PIPE,
                                  stdout=self.out, stderr=self.err)

    def stop(self, sig=signal.SIGTERM):
        if self.p.stdin:
            try:
                self.p.stdin.close()
            except OSError:
                pass
        lib.Proc.stop(self, sig)

    def result(self):
        return subprocess.CompletedProcess(self.cmd, self.p.returncode, self.output(),
                                           self.errors())


class _Run:
    """One case being run: its Case, its processes, its environment."""

    def __init__(self, name, workdir):
        self.workdir = os.path.abspath(workdir)
        self.logdir = os.path.join(self.workdir, "logs")
        os.makedirs(self.logdir, exist_ok=True)
        self.case = Case(name, self.logdir)
        self.certs = certs()
        self.procs = {}

    # environments
    def shim(self):
        return lib.shim_env(self.logdir)

    def plain(self):
        return lib.plain_env()

    # background processes (servers, relays)
    def start(self, role, cmd, env):
        p = _Proc(cmd, env=env, cwd=self.workdir)
        self.procs[role] = p
        self.case.pids[role] = p.p.pid
        return p

    def finish(self, role, wait=5):
        """Let a server that serves a fixed number of connections end by
        itself (so the shim writes its conn_end at exit), else stop it."""
        p = self.procs[role]
        try:
            p.wait(wait)
        except subprocess.TimeoutExpired:
            pass
        p.stop()
        res = p.result()
        if role == "server":
            self.case.server = res
        elif role == "client":
            self.case.client = res
        else:
            self.case.others[role] = res
        return res

    def stop_all(self):
        for role in list(self.procs):
            p = self.procs[role]
            if p.p.poll() is None:
                p.stop()
            if role == "server" and self.case.server is None:
                self.case.server = p.result()
            elif role not in ("server", "client") and role not in self.case.others:
                self.case.others[role] = p.result()

    # a foreground client
    def client(self, cmd, env=None, input=b"", timeout=DEADLINE_S):
        """Run the client to its end (killed by its PID after timeout)."""
        p = subprocess.Popen(cmd, env=env if env is not None else self.shim(), cwd=self.workdir,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        self.case.pids["client"] = p.pid
        try:
            out, err = p.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        res = subprocess.CompletedProcess(cmd, p.returncode, out.decode(errors="replace"),
                                          err.decode(errors="replace"))
        self.case.client = res
        return res

    # servers
    def s_server(self, *args, cert="server", naccept=1, env=None):
        """`openssl s_server` on 127.0.0.1:0 with one of certs(); -> port."""
        c = self.certs
        cmd = ["openssl", "s_server", "-accept", "127.0.0.1:0", "-naccept", str(naccept),
               "-cert", c[cert + ".pem"], "-key", c[cert + ".key"], *args]
        p = self.start("server", cmd, env if env is not None else self.shim())
        return int(p.wait_for(r"ACCEPT 127\.0\.0\.1:(\d+)").group(1))

    def nginx(self, server_directives, listen_opts="ssl", cert="server"):
        """nginx (master and one worker, preloaded) with one server block on
        a free port; -> port once it accepts connections."""
        port = free_port()
        c = self.certs
        ngx = os.path.join(self.workdir, "nginx")
        os.makedirs(ngx, exist_ok=True)
        conf = os.path.join(ngx, "nginx.conf")
        with open(conf, "w") as f:
            f.write(textwrap.dedent("""\
                worker_processes 1;
                error_log %(d)s/error.log info;
                events { worker_connections 64; }
                http {
                    access_log off;
                    client_body_temp_path %(d)s/body;
                    proxy_temp_path %(d)s/proxy;
                    fastcgi_temp_path %(d)s/fastcgi;
                    uwsgi_temp_path %(d)s/uwsgi;
                    scgi_temp_path %(d)s/scgi;
                    server {
                        listen 127.0.0.1:%(port)d %(listen)s;
                        ssl_certificate %(cert)s;
                        ssl_certificate_key %(key)s;
                        %(more)s
                        location / { return 200 "hello from nginx\\n"; }
                    }
                }
                """) % {"d": ngx, "port": port, "listen": listen_opts, "cert": c[cert + ".pem"],
                        "key": c[cert + ".key"], "more": "\n".join(server_directives)})
        # "user root": workers keep the uid of a root master, so they can
        # write the log directory (nginx ignores it, with a warning, when
        # not started as root).
        # -e: the error log from the start, before the configuration is read
        # (else nginx opens /var/log/nginx/error.log first).
        cmd = [shutil.which("nginx") or "/usr/sbin/nginx", "-p", ngx + "/", "-c", conf,
               "-e", os.path.join(ngx, "error.log"),
               "-g", "daemon off; master_process on; user root; pid %s/nginx.pid;" % ngx]
        p = self.start("server", cmd, self.shim())
        # The master binds before it forks the worker; the kernel queues
        # connections until the worker accepts.  A bare connect is harmless:
        # nginx peeks at the first byte before it makes an SSL object.
        deadline = time.monotonic() + 5
        while True:
            if p.p.poll() is not None:
                raise RuntimeError("nginx ended: %s %s" % (p.errors(), _read(ngx, "error.log")))
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return port
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("nginx never listened: " + _read(ngx, "error.log"))
                time.sleep(0.02)

    def python_script(self, name, text):
        path = os.path.join(self.workdir, name)
        with open(path, "w") as f:
            f.write(text)
        return path


def _read(d, name):
    try:
        with open(os.path.join(d, name), errors="replace") as f:
            return f.read()[-2000:]
    except OSError:
        return ""


def _s_client(port, *args):
    return ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, *args]


def _expect(run, ok, what):
    """Fail the case when the programs did not do what it set up (judged by
    their own output and exit status, never by the shim's logs)."""
    if ok:
        return
    tails = []
    for role, r in (("client", run.case.client), ("server", run.case.server)):
        if r is not None:
            tails.append("%s rc=%s stdout=%r stderr=%r" % (role, r.returncode, r.stdout[-600:],
                                                           r.stderr[-600:]))
    raise RuntimeError("%s: %s; %s" % (run.case.name, what, "; ".join(tails)))


def _programs(run, client, server, **others):
    run.case.facts["programs"] = dict(client=client, server=server, **others)
    run.case.facts["client_exe"] = exe_name(client.split()[0])
    run.case.facts["server_exe"] = exe_name(server.split()[0])


# A Python TLS client: argv[1] port, then key=value options.  One line on
# stdout: HANDSHAKE_OK <version>, then READ <n> | READ_FAIL <reason>; or
# VERIFY_FAIL <code> <message> | SSL_FAIL <reason> | FAIL <exception>.
PY_CLIENT = textwrap.dedent("""\
    import socket, ssl, sys
    port = int(sys.argv[1])
    opt = dict(a.split("=", 1) for a in sys.argv[2:])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if "cafile" in opt:
        ctx.load_verify_locations(opt["cafile"])
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if "cert" in opt:
        ctx.load_cert_chain(opt["cert"], opt["key"])
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname=opt.get("host", "localhost")) as s:
                print("HANDSHAKE_OK", s.version(), flush=True)
                s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
                try:
                    n = 0
                    while True:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        n += len(chunk)
                    print("READ", n)
                except ssl.SSLError as e:
                    print("READ_FAIL", e.reason)
                    sys.exit(1)
    except ssl.SSLCertVerificationError as e:
        print("VERIFY_FAIL", e.verify_code, e.verify_message)
        sys.exit(1)
    except ssl.SSLError as e:
        print("SSL_FAIL", e.reason)
        sys.exit(1)
    except OSError as e:
        print("FAIL", e)
        sys.exit(1)
""")

# A Python TLS server for one connection: it completes the handshake, sends
# argv[3] (hex) and closes the TCP connection without close_notify: it
# takes the descriptor back from the SSL socket (detach) and closes that, so
# SSL_shutdown is never called.
PY_TRUNCATING_SERVER = textwrap.dedent("""\
    import binascii, os, socket, ssl, sys
    cert, key, data = sys.argv[1], sys.argv[2], binascii.unhexlify(sys.argv[3])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    ls.settimeout(10)
    print("PORT", ls.getsockname()[1], flush=True)
    raw, _ = ls.accept()
    raw.settimeout(10)
    conn = ctx.wrap_socket(raw, server_side=True)
    conn.sendall(data)
    os.close(conn.detach())
    print("SENT", len(data), flush=True)
""")


# ---- the cases --------------------------------------------------------------------

def _case_key_mismatch(run):
    """The defining case: the client encrypts its premaster secret to a key
    the server does not have.  `openssl s_server` serves certificate A with
    TLS 1.2 RSA key exchange (AES128-GCM-SHA256); the cert_swap_proxy relay
    (/usr/bin/python3, not preloaded) rewrites the server's Certificate
    message to carry certificate B (same subject, another RSA 2048 key); the
    tls_client fixture (no verification) tries 6 times.  Each time the server
    cannot decrypt the premaster secret, goes on with a random one and sends
    bad_record_mac on the client's Finished: the client's log shows B's
    certificate received and bad_record_mac received in a reconnect loop, the
    server's log A's certificate sent and bad_record_mac sent."""
    c = run.certs
    client = lib.fixture("tls_client")
    if not os.path.exists(client):
        raise RuntimeError("build the fixtures first: make fixtures (%s is missing)" % client)
    attempts, cipher = 6, "AES128-GCM-SHA256"
    sport = run.s_server("-tls1_2", "-cipher", cipher, naccept=attempts)
    relay = run.start("relay", [SYSTEM_PYTHON, PROXY, "--target-port", str(sport),
                                "--cert", c["swap.pem"], "--conns", str(attempts),
                                "--timeout", "20"], run.plain())
    rport = int(relay.wait_for(r"PORT (\d+)").group(1))
    run.client([client, "--port", str(rport), "--max-version", "tls1.2", "--ciphers", cipher,
                "--retry", str(attempts), "--delay-ms", "20", "--timeout", str(DEADLINE_S)])
    relay_res = run.finish("relay")
    run.finish("server")
    _expect(run, "GAVE_UP %d" % attempts in run.case.client.stdout, "the client did not fail")
    _expect(run, relay_res.stdout.count("SWAPPED") == attempts,
            "the relay did not swap every Certificate: %r" % relay_res.stdout)
    _programs(run, "tls_client", "openssl s_server", relay=SYSTEM_PYTHON + " cert_swap_proxy.py")
    run.case.facts.update({
        "client_spki": spki_sha256(c["swap.pem"]),
        "server_spki": spki_sha256(c["server.pem"]),
        "client_cert_sha256": cert_sha256(c["swap.pem"]),
        "server_cert_sha256": cert_sha256(c["server.pem"]),
        "subject": cert_name(c["server.pem"], "subject"),
        "alert": "bad_record_mac", "alert_from": "server",
        "version": "TLSv1.2", "cipher": cipher, "attempts": attempts,
        "relay_port": rport, "server_port": sport,
    })


def _case_server_key_mismatch(run):
    """The defining case seen from one end: a server whose private key does
    not belong to the certificate it sends (same public half, another
    private half: OpenSSL's pairing check passes).  curl, TLS 1.2 with RSA
    key exchange, encrypts its premaster secret to the certificate; the
    server cannot decrypt it, carries on with a random one and sends
    bad_record_mac at the client's Finished.  Only the server's log is needed
    to say why: its key_check."""
    c = run.certs
    cipher = "AES128-GCM-SHA256"
    sport = run.s_server("-www", "-tls1_2", "-cipher", cipher, cert="broken_key")
    run.client(["curl", "-sk", "--tls-max", "1.2", "--ciphers", cipher, "-m", "5",
                "https://127.0.0.1:%d/" % sport])
    run.finish("server")
    _expect(run, run.case.client.returncode != 0, "curl did not fail")
    _programs(run, "curl", "openssl s_server")
    run.case.facts.update({
        "server_spki": spki_sha256(c["server.pem"]), "subject": cert_name(c["server.pem"], "subject"),
        "alert": "bad_record_mac", "alert_from": "server", "key_match": False,
        "version": "TLSv1.2", "cipher": cipher, "server_port": sport,
    })


def _case_hostname_mismatch(run):
    """`openssl s_client -verify_hostname wrong.example -verify_return_error`
    (trusting the test CA) against `openssl s_server` whose certificate names
    DNS:localhost and IP:127.0.0.1.  The client's verification fails with
    X509_V_ERR_HOSTNAME_MISMATCH (62) and it sends a fatal alert; the server
    receives it."""
    c = run.certs
    host = "wrong.example"
    port = run.s_server()
    r = run.client(_s_client(port, "-CAfile", c["ca.pem"], "-verify_hostname", host,
                             "-verify_return_error"))
    run.finish("server")
    _expect(run, "verify error:num=62:" in r.stderr + r.stdout, "no hostname mismatch")
    _programs(run, "openssl s_client", "openssl s_server")
    run.case.facts.update({"host": host, "san": cert_san(c["server.pem"]),
                           "subject": cert_name(c["server.pem"], "subject"),
                           "alert": _VERIFY_ALERT[62], "alert_from": "client"})
    run.case.facts.update(_verify_facts(c["server.pem"], c["ca.pem"], "-verify_hostname", host))


def _case_hostname_mismatch_curl(run):
    """curl --cacert CA https://wrong.example:PORT/ (resolved to 127.0.0.1)
    against nginx serving the localhost certificate.  curl checks the host
    name itself, after the handshake: the handshake completes (chain
    verified, no host given to OpenSSL), then curl gives up with exit status
    60 ("no alternative certificate subject name matches") and closes; no
    alert names the cause, the SNI and the certificate's SAN do."""
    c = run.certs
    host = "wrong.example"
    port = run.nginx([])
    r = run.client(["curl", "-sS", "--max-time", "5", "--cacert", c["ca.pem"],
                    "--resolve", "%s:%d:127.0.0.1" % (host, port),
                    "https://%s:%d/" % (host, port)])
    run.finish("server", wait=0)
    _expect(run, r.returncode == 60 and "no alternative certificate subject name" in r.stderr,
            "curl did not refuse the host name")
    _programs(run, "curl", "nginx")
    run.case.facts.update({"sni": host, "host": host, "san": cert_san(c["server.pem"]),
                           "subject": cert_name(c["server.pem"], "subject"),
                           "curl_exit": 60})
    run.case.facts.update(_verify_facts(c["server.pem"], c["ca.pem"], "-verify_hostname", host))


def _case_ip_mismatch(run):
    """`openssl s_client -verify_ip 127.0.0.2 -verify_return_error` against
    `openssl s_server` whose certificate names IP:127.0.0.1: the client's
    verification fails with X509_V_ERR_IP_ADDRESS_MISMATCH (64)."""
    c = run.certs
    ip = "127.0.0.2"
    port = run.s_server()
    r = run.client(_s_client(port, "-CAfile", c["ca.pem"], "-verify_ip", ip,
                             "-verify_return_error"))
    run.finish("server")
    _expect(run, "verify error:num=64:" in r.stderr + r.stdout, "no IP address mismatch")
    _programs(run, "openssl s_client", "openssl s_server")
    run.case.facts.update({"ip": ip, "san": cert_san(c["server.pem"]),
                           "subject": cert_name(c["server.pem"], "subject"),
                           "alert": _VERIFY_ALERT[64], "alert_from": "client"})
    run.case.facts.update(_verify_facts(c["server.pem"], c["ca.pem"], "-verify_ip", ip))


def _case_expired(run):
    """/usr/bin/python3's ssl (cafile = the test CA, server_hostname
    localhost) against `openssl s_server` whose certificate's notAfter is
    2021-01-01: verification fails with X509_V_ERR_CERT_HAS_EXPIRED (10) and
    the client sends certificate_expired."""
    c = run.certs
    port = run.s_server(cert="expired")
    script = run.python_script("client.py", PY_CLIENT)
    r = run.client([SYSTEM_PYTHON, script, str(port), "cafile=" + c["ca.pem"], "host=localhost"])
    run.finish("server")
    _expect(run, r.stdout.startswith("VERIFY_FAIL 10 "), "the client did not find it expired")
    _programs(run, SYSTEM_PYTHON, "openssl s_server")
    nb, na = cert_dates(c["expired.pem"])
    run.case.facts.update({"not_before": nb, "not_after": na,
                           "subject": cert_name(c["expired.pem"], "subject"),
                           "alert": _VERIFY_ALERT[10], "alert_from": "client"})
    run.case.facts.update(_verify_facts(c["expired.pem"], c["ca.pem"]))


def _case_not_yet_valid(run):
    """curl --cacert CA against `openssl s_server -www` whose certificate's
    notBefore is 2045-01-01: verification fails with
    X509_V_ERR_CERT_NOT_YET_VALID (9); curl exits 60.  The server's side
    of the failure is logged through libssl's SSL BIO (-www)."""
    c = run.certs
    port = run.s_server("-www", cert="not_yet_valid")
    r = run.client(["curl", "-sS", "--max-time", "5", "--cacert", c["ca.pem"],
                    "--resolve", "localhost:%d:127.0.0.1" % port, "https://localhost:%d/" % port])
    run.finish("server")
    _expect(run, r.returncode == 60 and "not yet valid" in r.stderr,
            "curl did not refuse the certificate")
    _programs(run, "curl", "openssl s_server -www")
    nb, na = cert_dates(c["not_yet_valid.pem"])
    run.case.facts.update({"not_before": nb, "not_after": na,
                           "subject": cert_name(c["not_yet_valid.pem"], "subject"),
                           "alert": _VERIFY_ALERT[9], "alert_from": "client",
                           "curl_exit": 60})
    run.case.facts.update(_verify_facts(c["not_yet_valid.pem"], c["ca.pem"]))


def _case_untrusted(run):
    """The python3 on PATH (ssl, cafile = the test CA) against nginx serving
    a localhost certificate issued by another CA, which the client does not
    trust: verification fails (openssl verify says which code: 20, unable to
    get local issuer certificate) and the client sends unknown_ca."""
    c = run.certs
    port = run.nginx([], cert="untrusted")
    script = run.python_script("client.py", PY_CLIENT)
    python = shutil.which("python3") or SYSTEM_PYTHON
    r = run.client([python, script, str(port), "cafile=" + c["ca.pem"], "host=localhost"])
    run.finish("server", wait=0)
    _expect(run, r.stdout.startswith("VERIFY_FAIL "), "the client did not refuse the certificate")
    _programs(run, python, "nginx")
    run.case.facts.update({"issuer": cert_name(c["untrusted.pem"], "issuer"),
                           "subject": cert_name(c["untrusted.pem"], "subject"),
                           "trusted_ca": cert_name(c["ca.pem"], "subject"),
                           "alert_from": "client"})
    run.case.facts.update(_verify_facts(c["untrusted.pem"], c["ca.pem"]))
    run.case.facts["alert"] = _VERIFY_ALERT[run.case.facts["verify_code"]]


def _case_no_common_version(run):
    """curl --tls-max 1.2 against nginx with `ssl_protocols TLSv1.3`: nginx
    answers the TLS 1.2 ClientHello with a protocol_version alert."""
    c = run.certs
    port = run.nginx(["ssl_protocols TLSv1.3;"])
    r = run.client(["curl", "-sS", "--max-time", "5", "--cacert", c["ca.pem"], "--tls-max", "1.2",
                    "--resolve", "localhost:%d:127.0.0.1" % port,
                    "https://localhost:%d/" % port])
    run.finish("server", wait=0)
    _expect(run, r.returncode == 35, "curl's handshake did not fail")
    _programs(run, "curl", "nginx")
    run.case.facts.update({"client_max": "TLSv1.2", "server_min": "TLSv1.3",
                           "server_max": "TLSv1.3", "alert": "protocol_version",
                           "alert_from": "server"})


def _openssl_ciphers(spec):
    """The TLS 1.2 cipher names an OpenSSL cipher string enables."""
    out = _openssl("ciphers", "-tls1_2", spec).decode().strip()
    return [n for n in out.split(":") if n and not n.startswith("TLS_")]


def _case_no_common_cipher(run):
    """TLS 1.2 only at both ends: `openssl s_server -cipher AES256-SHA`
    against `openssl s_client -cipher AES128-SHA`; the server finds no shared
    cipher and sends handshake_failure."""
    server_spec, client_spec = "AES256-SHA", "AES128-SHA"
    port = run.s_server("-tls1_2", "-cipher", server_spec)
    r = run.client(_s_client(port, "-tls1_2", "-cipher", client_spec))
    run.finish("server")
    _expect(run, "no shared cipher" in run.case.server.stderr and "handshake failure" in r.stderr,
            "no cipher mismatch")
    _programs(run, "openssl s_client", "openssl s_server")
    run.case.facts.update({"client_ciphers": _openssl_ciphers(client_spec),
                           "server_ciphers": _openssl_ciphers(server_spec),
                           "version": "TLSv1.2", "alert": "handshake_failure",
                           "alert_from": "server"})


def _case_no_common_group(run):
    """TLS 1.3: `openssl s_server -groups secp384r1` against `openssl
    s_client -groups x25519`; the server has no group to ask a key share for
    and sends handshake_failure."""
    port = run.s_server("-tls1_3", "-groups", "secp384r1")
    r = run.client(_s_client(port, "-tls1_3", "-groups", "x25519"))
    run.finish("server")
    _expect(run, "no suitable key share" in run.case.server.stderr
            and "handshake failure" in r.stderr, "no group mismatch")
    _programs(run, "openssl s_client", "openssl s_server")
    run.case.facts.update({"client_groups": ["x25519"], "server_groups": ["secp384r1"],
                           "version": "TLSv1.3", "alert": "handshake_failure",
                           "alert_from": "server"})


def _case_no_common_sigalg(run):
    """TLS 1.3: `openssl s_client -sigalgs ECDSA+SHA256` against `openssl
    s_server` with an RSA certificate: the server cannot sign its
    CertificateVerify with any algorithm the client accepts and sends
    handshake_failure."""
    c = run.certs
    port = run.s_server("-tls1_3")
    r = run.client(_s_client(port, "-tls1_3", "-sigalgs", "ECDSA+SHA256"))
    run.finish("server")
    _expect(run, "no suitable signature algorithm" in run.case.server.stderr
            and "handshake failure" in r.stderr, "no signature algorithm mismatch")
    _programs(run, "openssl s_client", "openssl s_server")
    run.case.facts.update({"client_sigalgs": ["ecdsa_secp256r1_sha256"], "server_key": "RSA",
                           "server_bits": 2048, "version": "TLSv1.3",
                           "server_spki": spki_sha256(c["server.pem"]),
                           "alert": "handshake_failure", "alert_from": "server"})


def _case_alpn_refused(run):
    """`openssl s_client -alpn foo,bar` against nginx with http2 (it accepts
    h2, http/1.1, http/1.0 and http/0.9 and fails the handshake when the
    client offers none of them): nginx sends no_application_protocol."""
    port = run.nginx([], listen_opts="ssl http2")
    r = run.client(_s_client(port, "-alpn", "foo,bar", "-servername", "localhost"))
    run.finish("server", wait=0)
    _expect(run, "no application protocol" in r.stderr, "the handshake did not fail on ALPN")
    _programs(run, "openssl s_client", "nginx")
    # server_alpn: what nginx 1.22 accepts with http2 on.
    run.case.facts.update({"client_alpn": ["foo", "bar"],
                           "server_alpn": ["h2", "http/1.1", "http/1.0", "http/0.9"],
                           "alert": "no_application_protocol", "alert_from": "server"})


def _case_client_cert_required(run):
    """TLS 1.3: `openssl s_server -Verify 1` (the test CA) against `openssl
    s_client` with no certificate: the client's handshake completes, it
    answers the CertificateRequest with an empty Certificate, and the server
    sends certificate_required, which the client reads after the handshake."""
    c = run.certs
    port = run.s_server("-tls1_3", "-Verify", "1", "-CAfile", c["ca.pem"])
    # -ign_eof: keep reading after the (empty) input, until the alert arrives.
    r = run.client(_s_client(port, "-tls1_3", "-CAfile", c["ca.pem"], "-ign_eof"),
                   input=b"GET / HTTP/1.0\r\n\r\n")
    run.finish("server")
    _expect(run, "alert certificate required" in r.stderr, "the server did not refuse the client")
    _programs(run, "openssl s_client", "openssl s_server")
    run.case.facts.update({"alert": "certificate_required", "alert_from": "server",
                           "version": "TLSv1.3",
                           "ca_names": [cert_name(c["ca.pem"], "subject")]})


def _case_client_cert_rejected(run):
    """TLS 1.3: `openssl s_server -Verify 1 -verify_return_error` asking for
    a certificate from the test CA (its name in the CertificateRequest's
    ca_names) against /usr/bin/python3 presenting one from another CA: the
    server's verification fails (20) and it sends unknown_ca, which the
    client reads after its handshake completed."""
    c = run.certs
    port = run.s_server("-tls1_3", "-Verify", "1", "-verify_return_error", "-CAfile", c["ca.pem"])
    script = run.python_script("client.py", PY_CLIENT)
    r = run.client([SYSTEM_PYTHON, script, str(port), "cafile=" + c["ca.pem"], "host=localhost",
                    "cert=" + c["rogue_client.pem"], "key=" + c["rogue_client.key"]])
    run.finish("server")
    _expect(run, "HANDSHAKE_OK" in r.stdout and "READ_FAIL TLSV1_ALERT_UNKNOWN_CA" in r.stdout,
            "the server did not refuse the client's certificate")
    _programs(run, SYSTEM_PYTHON, "openssl s_server")
    run.case.facts.update({"client_cert_subject": cert_name(c["rogue_client.pem"], "subject"),
                           "client_cert_issuer": cert_name(c["rogue_client.pem"], "issuer"),
                           "client_cert_sha256": cert_sha256(c["rogue_client.pem"]),
                           "ca_names": [cert_name(c["ca.pem"], "subject")],
                           "alert_from": "server", "version": "TLSv1.3"})
    run.case.facts.update(_verify_facts(c["rogue_client.pem"], c["ca.pem"],
                                        "-purpose", "sslclient"))
    run.case.facts["alert"] = _VERIFY_ALERT[run.case.facts["verify_code"]]


def _probe(port, data):
    """The first bytes a plain-text server answers to data."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        got = b""
        while len(got) < 5:
            chunk = s.recv(5 - len(got))
            if not chunk:
                break
            got += chunk
        return got


def _case_http_on_tls_port(run):
    """`openssl s_client` against `/usr/bin/python3 -m http.server` (not
    preloaded): the HTTP server takes the ClientHello for a request line
    and answers with an error page; the client finds no TLS record header in
    it ("wrong version number").  Note: http.server answers a line it cannot
    parse as HTTP/0.9 would — the body alone, "<!DOCTYPE HTML>…", no
    "HTTP/1.0 400" status line — so peer_bytes is what a probe of the same
    server with a TLS-looking line returns, not "HTTP/"."""
    www = os.path.join(run.workdir, "www")
    os.makedirs(www)
    http = run.start("server", [SYSTEM_PYTHON, "-u", "-m", "http.server", "--bind", "127.0.0.1",
                                "--directory", www, "0"], run.plain())
    port = int(http.wait_for(r"port (\d+)").group(1))
    r = run.client(_s_client(port))
    _expect(run, "wrong version number" in r.stderr, "the client did not fail as expected")
    # A ClientHello always holds a 0x0a byte (supported_groups is extension
    # 10), which ends http.server's request line.
    first = _probe(port, b"\x16\x03\x01\x01\x00\x01\x00\x00\xfc\x03\x03 \x00\x0a")
    run.finish("server", wait=0)
    _programs(run, "openssl s_client", SYSTEM_PYTHON + " -m http.server")
    run.case.facts.update({"peer_bytes": first.hex(), "peer_text": first.decode("latin-1"),
                           "reason": "wrong version number", "alert_from": None})


def _case_tls_to_plain_client(run):
    """curl http://127.0.0.1:PORT/ (plain text; curl is preloaded but makes
    no TLS connection) against `openssl s_server -www`: the server reads
    "GET / HTTP/1.1" where a ClientHello should be; OpenSSL fails the
    handshake with "http request" (through libssl's SSL BIO under -www)."""
    port = run.s_server("-www")
    r = run.client(["curl", "-sS", "--max-time", "5", "http://127.0.0.1:%d/" % port])
    run.finish("server")
    _expect(run, r.returncode == 52 and ":http request:" in run.case.server.stderr,
            "the server did not refuse the plain-text request")
    _programs(run, "curl", "openssl s_server -www")
    request = b"GET / HTTP/1.1"
    run.case.facts.update({"peer_bytes": request[:5].hex(), "peer_text": request[:5].decode(),
                           "request_line": request.decode(), "reason": "http request"})


def _case_truncation(run):
    """A /usr/bin/python3 TLS server (preloaded) completes the handshake,
    sends a short HTTP response and closes the TCP connection without
    close_notify (it detaches the descriptor from the SSL socket and closes
    it).  `openssl s_client -ign_eof` reads the response, then SSL_read fails
    with "unexpected eof while reading": the client's outcome is the
    truncation."""
    c = run.certs
    data = b"HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\nonly part of the body"
    script = run.python_script("server.py", PY_TRUNCATING_SERVER)
    p = run.start("server", [SYSTEM_PYTHON, script, c["server.pem"], c["server.key"], data.hex()],
                  run.shim())
    port = int(p.wait_for(r"PORT (\d+)").group(1))
    r = run.client(_s_client(port, "-CAfile", c["ca.pem"], "-ign_eof", "-quiet"))
    run.finish("server")
    _expect(run, r.stdout == data.decode() and "unexpected eof while reading" in r.stderr,
            "the client did not read a truncated response")
    _programs(run, "openssl s_client", SYSTEM_PYTHON)
    run.case.facts.update({"server_sent": data.decode(), "server_sent_hex": data.hex(),
                           "server_sent_len": len(data),
                           "reason": "unexpected eof while reading", "outcome": "eof"})


# ---- a quick look: python3 tests/explain_cases.py [CASE...] -------------------------

def _extras(e):
    """The failure fields of issue 14 on an alert or error event, briefly."""
    out = ""
    v = e.get("verify")
    if v:
        out += " verify=%s(%s) host=%s ip=%s" % (v.get("code"), v.get("text"), v.get("host"),
                                                 v.get("ip"))
    for k in ("peer_bytes", "eof"):
        if k in e:
            out += " %s=%s" % (k, e[k])
    lo = e.get("local_offer")
    if lo:
        out += " local_offer(%d ciphers, groups=%s, min=%s, max=%s)" % (
            len(lo.get("ciphers") or []), lo.get("groups"), lo.get("min_version"),
            lo.get("max_version"))
    return out


def _summary(case):
    lines = []
    for path, evs in sorted(case.logs().items()):
        roles = sorted({e.get("role") for e in evs if e.get("role")})
        lines.append("  %s (%s)" % (os.path.basename(path), ",".join(roles) or "no TLS"))
        for e in evs:
            ev = e["ev"]
            if ev == "alert" and e.get("level") == "fatal":
                lines.append("    alert %s %s [%s]%s" % (e["dir"], e["desc"], e.get("state"),
                                                          _extras(e)))
            elif ev == "error":
                reasons = [q.get("reason") for q in e.get("queue") or []]
                lines.append("    error %s %s %s%s" % (e["fn"], e["err"], reasons, _extras(e)))
            elif ev == "certs":
                chain = [(x.get("subject"), (x.get("spki_sha256") or "")[:16])
                         for x in e.get("chain", [])]
                lines.append("    certs %s %s" % (e["dir"], chain))
            elif ev == "conn_end":
                lines.append("    conn_end outcome=%s last_alert=%s app_data=%s" % (
                    e.get("outcome"), e.get("last_alert"), e.get("app_data")))
            elif ev == "loop":
                lines.append("    loop %s count=%s" % (e.get("kind"), e.get("count")))
    return lines


def _main(names):
    failed = 0
    for name in names or CASES:
        d = tempfile.mkdtemp(prefix="sslshim-explain-")
        try:
            case = run_case(name, d)
            print("== %s (%.2fs)" % (name, case.seconds))
            for role in ("client", "server"):
                r = getattr(case, role)
                if r is not None:
                    tail = (r.stdout.strip().splitlines() or [""])[-1][:100]
                    print("  %s rc=%s  %s" % (role, r.returncode, tail))
            print("\n".join(_summary(case)))
            print("  facts: %s" % case.facts)
        except Exception as e:  # report every case, then fail
            failed += 1
            print("== %s FAILED: %s: %s" % (name, type(e).__name__, e))
        finally:
            shutil.rmtree(d, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
