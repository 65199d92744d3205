"""What the two sides said to each other, and the cause of a failure it shows.

The shim logs the contents of the hello-phase messages (`hello`), the
certificate chains as they pass (`certs`), the verify result and this side's
own offer on failure events (`verify`, `local_offer`), the first bytes of a
peer that does not speak TLS (`peer_bytes`), and each side's version range
(`handshake_start`).  This module reads those, of one connection and of the
other end of its handshake when that is in the logs too (joined by
client_random), and names the cause with the values both sides had:

    find_cause(c, partner) -> {"kind", "name", "text", "facts", "meaning",
                               "check", "values"} or None

None means the logs do not show which of the possible causes it was; the
diagnosis then falls back to what the alert or error can mean.

Also here: the normalizers the analysis applies to certificates, verify
results and offers (every field kept has the type the report expects: the
reader checks a certificate's sha256 and spki_sha256 only as plain values),
the short summaries of hellos and certificates that the report shows per
connection, and peer_label(), the one way the report names a peer.
"""

# -- normalizing what the logs hold ---------------------------------------------

CERT_STRINGS = ("subject", "issuer", "not_before", "not_after", "serial", "key", "sig_alg",
                "sha256", "spki_sha256")
MAX_CHAIN = 10
MAX_LIST = 200
MAX_HELLOS = 8
HELLO_STRINGS = ("dir", "hs", "legacy_version", "version", "sni", "cipher", "key_share",
                 "invalid", "ts")
HELLO_LISTS = ("versions", "ciphers", "groups", "key_shares", "sigalgs", "ca_names",
               "cert_types")
HELLO_FLAGS = ("session_id", "ticket", "psk", "ems", "reneg", "sni_ack", "early_data")
HELLO_MORE = tuple(name + "_more" for name in HELLO_LISTS + ("alpn",))


def _strs(items, limit=MAX_LIST):
    if type(items) is not list:
        return None
    return [x for x in items[:limit] if type(x) in (str, int)]


def norm_cert(cert):
    """A certificate as the report uses it: known fields of the right type
    only (sha256 and spki_sha256 are checked here, not by the reader)."""
    if type(cert) is not dict:
        return None
    out = {k: cert[k] for k in CERT_STRINGS if type(cert.get(k)) is str}
    san = cert.get("san")
    if type(san) is list:
        out["san"] = [x for x in san[:MAX_LIST] if type(x) is str]
    for k in ("bits", "len"):
        if type(cert.get(k)) is int:
            out[k] = cert[k]
    if cert.get("invalid") is True:
        out["invalid"] = True
    return out


def norm_hello(ev):
    """A hello event's own fields (the reader checked their types), for
    the report's detail."""
    out = {k: ev[k] for k in HELLO_STRINGS if type(ev.get(k)) is str}
    for k in HELLO_LISTS:
        v = _strs(ev.get(k))
        if v is not None:
            out[k] = v
    alpn = ev.get("alpn")
    if type(alpn) is str:
        out["alpn"] = alpn
    elif type(alpn) is list:
        out["alpn"] = [x for x in alpn[:MAX_LIST] if type(x) is str]
    for k in HELLO_FLAGS:
        if type(ev.get(k)) is bool:
            out[k] = ev[k]
    for k in HELLO_MORE:
        if type(ev.get(k)) is int and ev[k] > 0:
            out[k] = ev[k]
    return out


def norm_verify(v):
    if type(v) is not dict:
        return None
    out = {}
    for k in ("code", "depth"):
        if type(v.get(k)) is int:
            out[k] = v[k]
    for k in ("text", "subject", "host", "ip"):
        if type(v.get(k)) is str:
            out[k] = v[k]
    return out


# The names OpenSSL accepts for a group where the ClientHello has the IANA
# one (SSL_CTX_set1_groups_list takes "P-256" and "prime256v1"; the shim
# writes a list set by NID with OpenSSL's short names).
GROUP_ALIASES = {"p-256": "secp256r1", "prime256v1": "secp256r1", "p-384": "secp384r1",
                 "p-521": "secp521r1", "x25519": "x25519", "x448": "x448"}


def group_name(name):
    return GROUP_ALIASES.get(name.lower(), name)


def norm_offer(v):
    if type(v) is not dict:
        return None
    out = {}
    for k in ("ciphers", "groups", "sigalgs", "alpn"):
        lst = _strs(v.get(k))
        if lst is not None:
            out[k] = [x for x in lst if type(x) is str]
    if "groups" in out:
        out["groups"] = [group_name(x) for x in out["groups"]]
    for k in ("min_version", "max_version"):
        if type(v.get(k)) is str:
            out[k] = v[k]
        elif k in v and v[k] is None:
            out[k] = ""                 # null: the library's default, no limit
    for k in ("ciphers_more", "groups_more"):
        if type(v.get(k)) is int and v[k] > 0:
            out[k] = v[k]
    return out


# -- small facts ---------------------------------------------------------------------

VERSION_ORDER = ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
# not cipher suites: signalling values, and GREASE (RFC 8701)
NOT_SUITES = ("GREASE", "TLS_EMPTY_RENEGOTIATION_INFO_SCSV", "TLS_FALLBACK_SCSV")


def version_rank(v):
    try:
        return VERSION_ORDER.index(v)
    except ValueError:
        return None


def _rank0(v):
    return version_rank(v) or 0


def is_tls13_suite(name):
    """OpenSSL names TLS 1.3 suites TLS_AES_…/TLS_CHACHA20_…; TLS 1.2 ones
    have its own names (ECDHE-RSA-AES128-GCM-SHA256)."""
    return name.startswith("TLS_") and name not in NOT_SUITES


def rsa_key_exchange(cipher):
    """A TLS 1.2 suite with RSA key exchange (OpenSSL's names: no ECDHE-/DHE-
    prefix, not a TLS 1.3 suite), where the client encrypts the premaster
    secret to the server's certificate key."""
    if not cipher or cipher.startswith("TLS_") or cipher.startswith("0x"):
        return False
    return not any(cipher.startswith(p) for p in ("ECDHE-", "DHE-", "EDH-", "ECDH-", "DH-",
                                                  "ADH-", "AECDH-", "PSK-", "RSA-PSK",
                                                  "SRP-", "GOST"))


def short_hash(h, n=16):
    return (h[:n] + "…") if h and len(h) > n else (h or "?")


def quote_list(items, limit=None):
    items = list(items)
    if limit is not None and len(items) > limit:
        return ", ".join(items[:limit]) + ", … (%d more)" % (len(items) - limit)
    return ", ".join(items) if items else "(none)"


def cert_names(cert):
    """The names a certificate is valid for: its SANs (DNS and IP), else the
    CN of its subject (what OpenSSL checks when there is no DNS SAN)."""
    names = [n for n in cert.get("san") or () if n.startswith(("DNS:", "IP Address:", "IP:"))]
    if names:
        return names
    cn = _subject_cn(cert.get("subject"))
    return ["CN=" + cn] if cn else []


def _subject_cn(subject):
    if not subject:
        return None
    for part in subject.replace(", ", "/").split("/"):
        part = part.strip()
        if part.upper().startswith("CN=") or part.upper().startswith("CN ="):
            return part.split("=", 1)[1].strip()
    return None


def _host_matches(pattern, host):
    pattern, host = pattern.rstrip(".").lower(), host.rstrip(".").lower()
    if pattern == host:
        return True
    if pattern.startswith("*.") and "." in host:
        # RFC 6125: a wildcard stands for one whole left-most label
        return host.split(".", 1)[1] == pattern[2:] and host.split(".", 1)[0] != ""
    return False


def name_matches(cert, host):
    """Whether host (a DNS name) is one the certificate names."""
    dns = [n[4:] for n in cert.get("san") or () if n.startswith("DNS:")]
    if not dns and not any(n.startswith("IP") for n in cert.get("san") or ()):
        cn = _subject_cn(cert.get("subject"))
        dns = [cn] if cn else []
    return any(_host_matches(d, host) for d in dns)


HTTP_METHODS = (b"GET ", b"POST", b"HEAD", b"PUT ", b"DELE", b"OPTI", b"CONN", b"PATC",
                b"TRAC", b"PRI ")


def decode_peer_bytes(hexstr):
    """(the bytes shown as text, what they mean) for an error's peer_bytes."""
    try:
        raw = bytes.fromhex(hexstr)
    except ValueError:
        return hexstr, None
    shown = "".join(chr(b) if 32 <= b < 127 else "\\x%02x" % b for b in raw)
    if raw.startswith(b"HTTP/"):
        what = ("an HTTP server answered on this port: plain HTTP where TLS was expected (a "
                "wrong port or https:// for an http:// service, or the server's TLS is not "
                "enabled on that port)")
    elif raw[:2] in (b"<!", b"<h", b"<H", b"<?"):
        what = ("an HTTP server answered on this port with a page (HTML) where TLS was "
                "expected: it read the ClientHello as a request and answered it as HTTP")
    elif raw[:4] in HTTP_METHODS or raw[:3] == b"GET":
        what = ("a plain-text HTTP client spoke to this TLS port (http:// used for an "
                "https:// service, or a health check without TLS)")
    elif raw.startswith(b"SSH-"):
        what = "an SSH server answered on this port"
    elif raw[:3] in (b"220", b"+OK", b"* O"):
        what = ("a plain-text mail or file-transfer server greeted on this port (SMTP/FTP/"
                "POP3/IMAP): it needs STARTTLS first, or the TLS port is another one")
    elif raw[:1] == b"\x80" or raw[:2] == b"\x16\x02":
        what = "an SSLv2-style hello, or a protocol version from before SSLv3"
    else:
        what = "not a TLS record: another protocol on that port"
    return shown, what


# -- the connection model's views -----------------------------------------------------------

def _hellos(conn, hs, direction=None):
    if conn is None:
        return []
    return [h for h in conn.hellos if h.get("hs") == hs
            and (direction is None or h.get("dir") == direction)]


def _pair(c, o):
    if c.role == "server":
        return (o if o is not None and o.role == "client" else None), c
    return c, (o if o is not None and o.role == "server" else None)


def client_hello(client, server):
    """The (last) ClientHello: as the client sent it, else as the server got it."""
    hs = _hellos(client, "ClientHello", "sent") or _hellos(server, "ClientHello", "recv")
    return hs[-1] if hs else None


def server_hello(client, server):
    hs = _hellos(server, "ServerHello", "sent") or _hellos(client, "ServerHello", "recv")
    return hs[-1] if hs else None


def cert_request(client, server):
    hs = (_hellos(server, "CertificateRequest", "sent")
          or _hellos(client, "CertificateRequest", "recv"))
    return hs[-1] if hs else None


def _chain(conn, direction):
    if conn is None:
        return None
    return conn.chains.get(direction)


def _failure_ts(conn):
    if conn.verify_ts:
        return conn.verify_ts
    for e in list(conn.fatal) + list(conn.errors):
        if e.get("ts"):
            return e["ts"]
    return conn.last_ts


def _reasons(conn):
    out = []
    if conn is None:
        return out
    for e in conn.errors:
        for q in e.get("queue") or ():
            r = q.get("reason")
            if r and r not in out:
                out.append(r)
    return out


def _sent_fatal(conn):
    if conn is None:
        return None
    return next((a for a in conn.fatal if a.get("dir") == "sent"), None)


def _failed(conn):
    return conn is not None and bool(conn.fatal or conn.n_errors)


def _offered_versions(ch):
    """The versions a ClientHello offers, highest first, and how it says so."""
    if ch is None:
        return None, None
    if ch.get("versions"):
        vs = [v for v in ch["versions"] if version_rank(v) is not None]
        return sorted(vs, key=version_rank, reverse=True), "supported_versions"
    if ch.get("legacy_version"):
        return [ch["legacy_version"]], "legacy_version, with no supported_versions extension"
    return None, None


def _range(conn):
    """(min, max) this side allows, from its local_offer or handshake_start;
    None for a bound the logs do not have, "" for no limit."""
    if conn is None:
        return None, None
    lo, hi = conn.min_version, conn.max_version
    offer = conn.offer or {}
    return offer.get("min_version", lo), offer.get("max_version", hi)


def _range_text(lo, hi):
    if lo is None and hi is None:
        return "(not in the logs)"
    return "%s to %s" % (lo or "any", hi or "any (no maximum set)")


def _suites(names):
    return [n for n in names if n not in NOT_SUITES and not n.startswith("0x")]


def _cause(kind, name, text, facts=(), meaning=(), check=(), values=None):
    return {"kind": kind, "name": name, "text": "%s — %s" % (name, text), "facts": list(facts),
            "meaning": list(meaning), "check": list(check), "values": values or {}}


def _cert_line(cert, spki=True):
    """subject, issuer, names, dates, key, spki: one line for the cause's facts."""
    if cert.get("invalid"):
        return "a certificate that does not parse (%s bytes, sha256 %s)" % (
            cert.get("len"), short_hash(cert.get("sha256")))
    parts = ["subject %s" % cert.get("subject", "?"), "issuer %s" % cert.get("issuer", "?")]
    if cert.get("san"):
        parts.append("SAN %s" % ", ".join(cert["san"][:20]))
    if cert.get("not_before") or cert.get("not_after"):
        parts.append("valid %s to %s" % (cert.get("not_before", "?"), cert.get("not_after", "?")))
    if cert.get("key"):
        parts.append("key %s%s" % (cert["key"], " %d bits" % cert["bits"] if cert.get("bits")
                                   else ""))
    if cert.get("spki_sha256") and spki:
        parts.append("spki_sha256 %s" % short_hash(cert["spki_sha256"]))
    return "; ".join(parts)


# -- the causes -------------------------------------------------------------------------------

def find_cause(c, o):
    """The cause of connection c's failure that the logs show, given the
    other end o of its handshake (or None): see the module's docstring."""
    if c.misuse or c.related or (o is not None and (o.misuse or o.related)):
        return None          # the misuse explains it; diagnose() says so
    client, server = _pair(c, o)
    for finder in (_not_tls, _key_mismatch, _verify_failed, _client_cert,
                   _hello_negotiation, _truncation, _checked_by_program):
        found = finder(c, client, server)
        if found:
            return found
    return None


def _not_tls(c, client, server):
    for conn in (c, client, server):
        if conn is None or not conn.peer_bytes:
            continue
        shown, what = decode_peer_bytes(conn.peer_bytes)
        other = "server" if conn.role == "client" else "client"
        role = conn.role or "this side"
        name = "the %s does not speak TLS" % (other if conn.role else "peer")
        text = ('the %s received "%s" (%s) where a TLS record was due: %s'
                % (role, shown, conn.peer_bytes, what or "not TLS"))
        facts = ['first bytes the %s received from the %s: "%s" (hex %s)'
                 % (role, other, shown, conn.peer_bytes)]
        check = []
        if shown.startswith(("HTTP/", "<")):
            check = ["Connect to the port where the service speaks TLS (443, or what the "
                     "service's configuration names), or use http:// for this one.",
                     "On the server: is TLS enabled on this listener (nginx: `listen … ssl`)?"]
        elif what and what.startswith("a plain-text HTTP client"):
            check = ["Make the client use TLS (https://) for this port, or give plain "
                     "clients a plain-text port (health checks, redirects)."]
        else:
            check = ["Check which service really listens on that port (`ss -ltnp`), and "
                     "whether the protocol needs STARTTLS before TLS begins."]
        return _cause("not_tls", name, text, facts,
                      ["The first bytes a TLS peer sends are a record header (a content type "
                       "20-24 and version 3.x); these are not, so OpenSSL stopped before "
                       "any TLS was spoken."], check,
                      {"peer_bytes": conn.peer_bytes, "text": shown, "side": conn.role})
    return None


def _key_exchange_meaning(cipher):
    """What a key that does not fit does to the handshake, by key exchange."""
    if rsa_key_exchange(cipher):
        return ["With RSA key exchange (%s) the client encrypts the premaster secret to the "
                "public key of the certificate it received.  The server cannot decrypt it, and "
                "by design does not say so (the Bleichenbacher countermeasure, RFC 5246 section "
                "7.4.7.1): it carries on with a random premaster secret, the two ends derive "
                "different keys, and the failure surfaces only as bad_record_mac when the first "
                "encrypted message, Finished, arrives." % cipher]
    if cipher:
        return ["With %s the server signs the handshake with its private key and the client "
                "verifies the signature with the public key it received: a key that does not "
                "fit fails as decrypt_error ('bad signature')." % cipher]
    return []


def _key_mismatch(c, client, server):
    """The client used a public key whose private half the server does not
    hold: from both ends (the certificate received differs from the one
    sent), or from the server's own key check (its private key does not
    belong to the certificate it sent)."""
    if not (_failed(client) or _failed(server)):
        return None
    seen = _chain(client, "recv")
    held = _chain(server, "sent")
    a = seen[0] if seen else None
    b = held[0] if held else norm_cert((server.done or {}).get("local_cert")
                                       if server is not None else None)
    ka, kb = (a or {}).get("spki_sha256"), (b or {}).get("spki_sha256")
    kc = server.key_check if server is not None else None
    sh = server_hello(client, server)
    cipher = (sh or {}).get("cipher") or ((client.done or {}).get("cipher")
                                          if client is not None else None)
    version = (sh or {}).get("version") or (sh or {}).get("legacy_version")
    negotiated = ["negotiated: %s%s" % (cipher, ", " + version if version else "")] \
        if cipher else []
    if ka and kb and ka != kb:
        facts = ["the client received: %s; spki_sha256 %s" % (_cert_line(a, False), ka),
                 "the server sent: %s; spki_sha256 %s" % (_cert_line(b, False), kb)]
        if a.get("sha256") and b.get("sha256") and a["sha256"] != b["sha256"]:
            facts.append("the certificates themselves differ too (sha256 %s vs %s): another "
                         "certificate was put in the server's place on the way"
                         % (short_hash(a["sha256"]), short_hash(b["sha256"])))
        if kc and kc.get("match") is True:
            facts.append("the server's own private key belongs to the certificate it sent (the "
                         "shim checked it): the key the client used came from elsewhere")
        facts.extend(negotiated)
        meaning = ["The client checked and used the public key of the certificate it "
                   "received (spki_sha256 %s…), which is not the key of the certificate the "
                   "server sent (%s…), so the server does not hold its private key."
                   % (ka[:16], kb[:16])] + _key_exchange_meaning(cipher)
        check = ["Something between the two ends presented another certificate: a proxy, TLS "
                 "inspection device or load balancer (compare the client's peer address with "
                 "the server's listening address, and `openssl s_client -connect HOST:PORT "
                 "-showcerts` from the client's host with the same check on the server's).",
                 "A certificate deployed without its own private key (or the reverse) on one "
                 "of several servers behind one name: compare `openssl x509 -noout -pubkey -in "
                 "CERT` with `openssl pkey -pubout -in KEY` on each.",
                 "A stale pinned key or cached certificate at the client."]
        return _cause("key_mismatch", "the client's and the server's public keys differ",
                      "the client received %s with spki_sha256 %s; the server sent %s with "
                      "spki_sha256 %s" % (a.get("subject", "?"), ka, b.get("subject", "?"), kb),
                      facts, meaning, check,
                      {"client_spki": ka, "server_spki": kb, "client_subject": a.get("subject"),
                       "server_subject": b.get("subject"), "cipher": cipher,
                       "server_key_matches": (kc or {}).get("match")})
    if kc and kc.get("match") is False:
        subject = (b or {}).get("subject", "?")
        facts = ["the server sent: %s%s" % (_cert_line(b, False) if b else "its certificate "
                                           "(not in the logs)",
                                           "; spki_sha256 %s" % kb if kb else ""),
                 "the shim's check on the server: its %sprivate key does not belong to that "
                 "certificate" % ("%s " % kc["key"] if kc.get("key") else "")]
        if ka and ka == kb:
            facts.append("the client received that same certificate (spki_sha256 %s…)"
                         % ka[:16])
        facts.extend(negotiated)
        meaning = ["The server holds a private key that is not the private half of the public "
                   "key in the certificate it sends, so it cannot use what the client computes "
                   "with that certificate."] + _key_exchange_meaning(cipher)
        check = ["Deploy the private key that belongs to the certificate (a renewed "
                 "certificate installed without its new key, or the reverse; the wrong slot of "
                 "an HSM or engine).",
                 "Compare the certificate's public key with the key's: `openssl x509 -noout "
                 "-pubkey -in CERT` and `openssl pkey -pubout -in KEY`; OpenSSL's own check "
                 "when the key is loaded compares the public halves only."]
        return _cause("server_key_mismatch", "the server's private key does not belong to its "
                      "certificate",
                      "the server sent %s%s; its private key does not fit that public key "
                      "(the shim's key check on the server)"
                      % (subject, " with spki_sha256 %s" % kb if kb else ""),
                      facts, meaning, check,
                      {"server_spki": kb, "server_subject": (b or {}).get("subject"),
                       "key_match": False, "cipher": cipher})
    return None


# X509_V_ERR_* codes (OpenSSL include/openssl/x509_vfy.h)
UNTRUSTED_CODES = {2, 18, 19, 20, 21, 27}
EXPIRED, NOT_YET_VALID = 10, 9
HOSTNAME, EMAIL, IPADDR = 62, 63, 64


def _verify_failed(c, client, server):
    """A verify result on a failure event (the handshake failed on it),
    this side's first."""
    for conn in (c, client, server):
        if conn is not None and conn.verify and conn.verify.get("code") not in (None, 0):
            return _explain_verify(conn, conn.verify, client, server)
    return None


def _explain_verify(conn, v, client, server, after=False):
    """The cause for verify result v of conn: which check failed, on which
    certificate, with its values.  after: the program looked at the result
    itself once the handshake was done (SSL_VERIFY_NONE, then
    SSL_get_verify_result) and closed."""
    found = _explain_verify_code(conn, v, client, server)
    if after:
        found["name"] += " (checked by the program after the handshake)"
        found["text"] = found["name"] + found["text"][found["text"].index(" — "):]
        found["facts"].append("the handshake completed and the %s closed without sending any "
                              "application data" % (conn.role or "program"))
    return found


def _explain_verify_code(conn, v, client, server):
    code, depth = v.get("code"), v.get("depth")
    other = client if conn is server else server
    # the chain the verifier checked: as it received it, else as the other end sent it
    chain = _chain(conn, "recv") or _chain(other, "sent") or []
    cert = next((x for x in chain if v.get("subject") and x.get("subject") == v["subject"]),
                None)
    if cert is None and depth is not None and 0 <= depth < len(chain):
        cert = chain[depth]
    elif cert is None and chain and depth in (None, 0):
        cert = chain[0]
    leaf = chain[0] if chain else {}
    subject = v.get("subject") or (cert or {}).get("subject") or "?"
    when = _failure_ts(conn)
    role = conn.role or "?"
    peer_role = "server" if role == "client" else "client"
    whose = "the server's certificate" if role == "client" else "the client's certificate"
    verr = "%s (verify error %s%s)" % (v.get("text") or "?", code,
                                       ", depth %s" % depth if depth is not None else "")
    facts = ["%s's verify result: %s, subject %s" % (role, verr, subject)]
    for i, cc in enumerate(chain[:4]):
        facts.append("%s received, #%d: %s" % (whose, i, _cert_line(cc)))
    values = {"code": code, "text": v.get("text"), "depth": depth, "subject": subject,
              "side": role}
    client_cert = role == "server"
    if client_cert:
        cr = cert_request(client, server)
        if cr:
            facts.append("the server asked for it: CertificateRequest CA names %s; signature "
                         "algorithms %s" % (quote_list(cr.get("ca_names") or ["(any)"]),
                                            quote_list(cr.get("sigalgs") or [], 8)))
    if code in (HOSTNAME, IPADDR, EMAIL):
        asked = v.get("ip") if code == IPADDR else v.get("host")
        names = cert_names(cert or leaf)
        what = {HOSTNAME: "host name", IPADDR: "IP address", EMAIL: "email address"}[code]
        text = ("the program asked OpenSSL to check %s'%s'; the certificate names %s%s"
                % ("IP " if code == IPADDR else "", asked or "?", quote_list(names),
                   " (subject %s)" % (cert or leaf).get("subject") if (cert or leaf).get(
                       "subject") else ""))
        values.update(asked=asked, names=names)
        kind = {HOSTNAME: "hostname_mismatch", IPADDR: "ip_mismatch",
                EMAIL: "email_mismatch"}[code]
        return _cause(kind, "%s mismatch" % what, text,
                      facts,
                      ["The certificate verified (its chain is trusted), but it is not for the "
                       "%s the program connects to, so the %s refused it." % (what, role)],
                      ["Connect with the name the certificate is for, or get a certificate "
                       "that names %s (subjectAltName %s:%s)."
                       % (asked or "it", "IP" if code == IPADDR else "DNS", asked or "…"),
                       "A name that resolves to another server's address (DNS, /etc/hosts, "
                       "a load balancer's virtual host) gives the same error."], values)
    if code in (EXPIRED, NOT_YET_VALID):
        target = cert or leaf
        nb, na = target.get("not_before", "?"), target.get("not_after", "?")
        values.update(not_before=target.get("not_before"), not_after=target.get("not_after"),
                      clock=when)
        if code == EXPIRED:
            name = "certificate expired"
            text = ("%s (depth %s) was valid until %s; the %s's clock read %s when it checked "
                    "(valid from %s)" % (subject, depth if depth is not None else 0, na, role,
                                         when, nb))
            meaning = ["The certificate's validity ended before the moment the %s checked it "
                       "(by its own clock)." % role]
            check = ["Renew the certificate and deploy it (with its intermediates); reload "
                     "the service that holds it.",
                     "If the dates look right, the checking host's clock is wrong: date -u, "
                     "timedatectl, NTP."]
        else:
            name = "certificate not yet valid"
            text = ("%s (depth %s) is valid from %s; the %s's clock read %s when it checked "
                    "(valid until %s)" % (subject, depth if depth is not None else 0, nb, role,
                                          when, na))
            meaning = ["The certificate's validity had not begun at the moment the %s checked "
                       "it (by its own clock): a clock running behind, or a certificate "
                       "issued with a start date in the future." % role]
            check = ["The checking host's clock: date -u, timedatectl, NTP.",
                     "The certificate's dates: openssl x509 -noout -dates -in CERT; a new "
                     "certificate used before its notBefore (issuers often backdate by an "
                     "hour for this reason)."]
        facts.insert(0, "validity of %s: not before %s, not after %s; the %s's clock at "
                        "the check: %s" % (subject, nb, na, role, when))
        return _cause("expired" if code == EXPIRED else "not_yet_valid", name, text, facts,
                      meaning, check, values)
    if code in UNTRUSTED_CODES:
        issuer = (cert or {}).get("issuer") or "?"
        at = depth if depth is not None else 0
        if code == 18:
            detail = "it is self-signed and not in the %s's trust store" % role
        elif code == 19:
            detail = ("the chain ends in the root %s, which is not in the %s's trust store"
                      % (subject, role))
        elif code == 27:
            detail = "the %s's trust settings do not allow it for this purpose" % role
        else:
            detail = "the %s does not trust that issuer: %s" % (role, v.get("text") or "?")
        text = ("%s (depth %s) is issued by %s; %s (verify error %s)"
                % (subject, at, issuer, detail, code))
        values.update(issuer=issuer)
        name = "untrusted issuer"
        if client_cert:
            name = "client certificate rejected: untrusted issuer"
        return _cause("untrusted" if not client_cert else "client_cert_rejected", name, text,
                      facts,
                      ["The %s could not build a chain from %s to a certificate authority it "
                       "trusts." % (role, whose)],
                      ["The CA file/directory the %s uses (-CAfile, "
                       "SSL_CTX_load_verify_locations, SSL_CERT_FILE/SSL_CERT_DIR, "
                       "/etc/ssl/certs): does it hold %s?" % (role, issuer),
                       "Does the %s send its intermediate certificates? openssl s_client "
                       "-connect HOST:PORT -showcerts lists what is sent." % peer_role,
                       "openssl verify -CAfile CA.pem -untrusted intermediates.pem cert.pem "
                       "on the %s's host." % role], values)
    name = "certificate verification failed"
    if client_cert:
        name = "client certificate rejected"
    return _cause("client_cert_rejected" if client_cert else "verify_failed", name,
                  "the %s rejected %s: %s, subject %s" % (role, whose, verr, subject), facts,
                  [], ["openssl verify -CAfile CA.pem -untrusted chain.pem cert.pem on the "
                       "%s's host names the same error." % role], values)


def _client_cert(c, client, server):
    if server is None and client is None:
        return None
    cr = cert_request(client, server)
    sent = _chain(client, "sent")
    got = _chain(server, "recv")
    reasons = _reasons(server)
    alert = _sent_fatal(server)
    desc = (alert or {}).get("desc")
    at_client_cert = "client certificate" in ((alert or {}).get("state") or "")
    told = {a.get("desc") for a in (client.fatal if client is not None else ())
            if a.get("dir") == "recv"}
    # An empty Certificate is the cause only where the server refused it:
    # TLS 1.3 says certificate_required, TLS 1.2 handshake_failure.
    none_sent = ("peer did not return a certificate" in reasons or desc == "certificate_required"
                 or "certificate_required" in told
                 or ((sent == [] or got == []) and (at_client_cert
                                                    or "handshake_failure" in told)))
    if not (_failed(server) or _failed(client)) or (cr is None and not none_sent):
        return None
    asked = []
    if cr:
        asked.append("CertificateRequest CA names %s; signature algorithms %s%s" % (
            quote_list(cr.get("ca_names") or ["(any)"]), quote_list(cr.get("sigalgs") or [], 4),
            "; certificate types %s" % ", ".join(map(str, cr["cert_types"]))
            if cr.get("cert_types") else ""))
    values = {"ca_names": (cr or {}).get("ca_names"), "sigalgs": (cr or {}).get("sigalgs")}
    if none_sent:
        facts = ["the server asked: " + (asked[0] if asked else "(its CertificateRequest is "
                                                                "not in the logs)"),
                 "the client sent: no certificate (an empty Certificate message)"
                 if sent == [] or got == [] else
                 "the client sent: no certificate (the server found none)"]
        if alert:
            facts.append("the server answered %s in state '%s'" % (desc, alert.get("state")))
        values["client_chain"] = []
        return _cause("client_cert_required", "client certificate required",
                      "the server asked for one (%s) and the client sent none"
                      % (asked[0] if asked else "CertificateRequest not in the logs"), facts,
                      ["The server requires a client certificate (verify mode "
                       "SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nginx ssl_verify_client on), and the "
                       "client had none to send — or none issued by the CA names the server "
                       "listed, so its certificate callback declined."],
                      ["Give the client a certificate and key (SSL_CTX_use_certificate/"
                       "PrivateKey, -cert/-key, curl --cert/--key) issued by one of the CAs "
                       "the server names.",
                       "In TLS 1.3 the client finishes its side first and sees the server's "
                       "refusal only on its next read."], values)
    # a certificate was sent and the server refused it without a verify result
    if (alert and server is not None and sent and "client certificate" in
            (alert.get("state") or "") + ((server.end or {}).get("last_state") or "")):
        facts = ["the server asked: " + (asked[0] if asked else "(not in the logs)"),
                 "the client sent: " + _cert_line(sent[0]),
                 "the server answered %s in state '%s'" % (desc, alert.get("state"))]
        values["client_chain"] = [x.get("subject") for x in sent]
        return _cause("client_cert_rejected", "client certificate rejected",
                      "the client sent %s (issuer %s); the server answered %s"
                      % (sent[0].get("subject", "?"), sent[0].get("issuer", "?"), desc), facts,
                      [], ["The server's error queue and its verify settings say why; "
                           "openssl verify -CAfile CA.pem on the server's host."], values)
    return None


def _in_hello_phase(conn):
    for e in list(conn.fatal) + list(conn.errors):
        st = e.get("state") or ""
        if "hello" in st or "before SSL initialization" in st:
            return True
    return False


def _hello_negotiation(c, client, server):
    if not (_failed(client) or _failed(server)):
        return None
    ch = client_hello(client, server)
    reasons = _reasons(server) + _reasons(client)
    descs = {a.get("desc") for x in (client, server) if x is not None for a in x.fatal}
    hello_phase = any(x is not None and _in_hello_phase(x) for x in (client, server))
    if not hello_phase and not descs & {"protocol_version", "no_application_protocol"}:
        return None
    found = (_versions(ch, client, server, reasons, descs)
             or _alpn(ch, client, server, descs)
             or _lists(ch, client, server, reasons, descs))
    return found


def _versions(ch, client, server, reasons, descs):
    vreasons = ("unsupported protocol", "no protocols available", "wrong ssl version",
                "tlsv1 alert protocol version", "unsupported ssl version")
    if "protocol_version" not in descs and not any(r in reasons for r in vreasons):
        return None
    offered, how = _offered_versions(ch)
    clo, chi = _range(client)
    slo, shi = _range(server)
    facts = []
    if offered:
        facts.append("the client offered %s (its ClientHello's %s)" % (", ".join(offered), how))
    if clo is not None or chi is not None:
        facts.append("the client allows %s" % _range_text(clo, chi))
    if slo is not None or shi is not None:
        facts.append("the server allows %s" % _range_text(slo, shi))
    else:
        facts.append("the server's range is not in these logs (run it under sslshim too)")
    cmax = offered[0] if offered else chi or None
    cmin = offered[-1] if offered and how == "supported_versions" else clo or None
    if cmax and (slo is not None or shi is not None):
        lo_r = max(version_rank(cmin) or 0, version_rank(slo) or 0)
        hi_r = min(version_rank(cmax) if version_rank(cmax) is not None else 99,
                   version_rank(shi) if version_rank(shi) is not None else 99)
        if lo_r <= hi_r:
            # the refusing side's logged range admits the offer: versions
            # switched off by options are not part of a min/max
            facts.append("the logged ranges meet, yet the version was refused: a version can "
                         "also be switched off by an option (SSL_OP_NO_TLSv1_2, nginx "
                         "ssl_protocols), which the minimum and maximum do not show")
    client_part = ("the client offered %s" % (" to ".join(sorted({cmin, cmax},
                                                                    key=_rank0))
                                              if cmin and cmin != cmax else cmax)
                   if cmax else "the client's offer is not in these logs")
    if slo is None and shi is None:
        server_part = "the server's range is not in these logs"
    else:
        server_part = "the server allows %s" % _range_text(slo, shi)
    name = "no common protocol version"
    facts.insert(0, "versions: client %s, server %s" % (
        ", ".join(offered) if offered else _range_text(clo, chi),
        _range_text(slo, shi)))
    values = {"client_offered": offered, "client_max": cmax, "client_min": cmin,
              "server_min": slo or None, "server_max": shi or None}
    return _cause("no_common_version", name, "%s; %s" % (client_part, server_part), facts,
                  ["The two sides allow no protocol version in common, so the side that "
                   "chooses (the server, on the ClientHello) refused with protocol_version."],
                  ["Raise the older side's maximum or lower the other's minimum: "
                   "SSL_CTX_set_min_proto_version/max, -tls1_2/-tls1_3, nginx ssl_protocols, "
                   "MinProtocol/MaxProtocol in openssl.cnf (Debian sets MinProtocol = "
                   "TLSv1.2 in /etc/ssl/openssl.cnf).",
                   "An old peer (TLS 1.0/1.1 only) needs an upgrade rather than a weaker "
                   "configuration."], values)


def _alpn(ch, client, server, descs):
    if "no_application_protocol" not in descs:
        return None
    offered = (ch or {}).get("alpn")
    offered = [offered] if type(offered) is str else (offered or [])
    served = ((server.offer if server is not None else None) or {}).get("alpn")
    theirs = ("the server serves %s" % quote_list("'%s'" % p for p in served) if served else
              "the server accepted none of them (its own list is not in the logs: its ALPN "
              "callback chose without SSL_select_next_proto)")
    facts = ["the client offered ALPN %s" % (quote_list("'%s'" % p for p in offered)
                                             if offered else "(no list in the logs)"),
             "the server serves ALPN %s (the list its ALPN callback passed to "
             "SSL_select_next_proto)" % quote_list("'%s'" % p for p in served) if served else
             "the server's own ALPN list is not visible in the logs: its ALPN callback chose "
             "without SSL_select_next_proto"]
    return _cause("alpn_refused", "ALPN refused",
                  "the client offered %s; %s" % (quote_list("'%s'" % p for p in offered)
                                                 if offered else "a list not in the logs",
                                                 theirs),
                  facts,
                  ["The server found no application protocol in the client's ALPN list that "
                   "it serves, and refused with no_application_protocol."],
                  ["Make the lists meet: the client's (curl --http1.1/--http2, s_client "
                   "-alpn) and the server's (nginx http2, s_server -alpn)."],
                  {"client_alpn": offered, "server_alpn": served})


def _lists(ch, client, server, reasons, descs):
    """No common cipher suite, group or signature algorithm: the one list of
    the two sides' that has no overlap."""
    if ch is None:
        return None
    offer = (server.offer if server is not None else None) or {}
    kinds = []
    ccs = _suites(ch.get("ciphers") or [])
    scs = _suites(offer.get("ciphers") or [])
    slo, shi = _range(server)
    offered, _ = _offered_versions(ch)
    tls13 = bool(offered and "TLSv1.3" in offered) and shi in ("", "TLSv1.3", None)
    if offered is None:
        tls13 = True             # not known: compare everything
    if ccs and scs:
        if not tls13:
            ccs = [x for x in ccs if not is_tls13_suite(x)]
            scs = [x for x in scs if not is_tls13_suite(x)]
        kinds.append(("cipher", [x for x in ccs if x in scs], ccs, scs))
    cgs, sgs = ch.get("groups") or [], offer.get("groups") or []
    cgs = [g for g in cgs if g != "GREASE"]
    if cgs and sgs:
        kinds.append(("group", [g for g in cgs if g in sgs], cgs, sgs))
    joined = " ".join(reasons)
    hint = ("cipher" if "no shared cipher" in joined else
            "group" if ("key share" in joined or "shared group" in joined
                        or "no suitable curve" in joined or "bad ecpoint" in joined) else
            "sigalg" if "signature algorithm" in joined else None)
    if hint is None and not descs & {"handshake_failure", "insufficient_security"}:
        return None
    empty = [k for k in kinds if not k[1]]
    pick = None
    if hint == "cipher":
        # OpenSSL drops an ECDHE suite without a common group: a cipher list
        # with an overlap and groups without one is a group problem
        pick = next((k for k in empty if k[0] == "cipher"), None) or next(
            (k for k in empty if k[0] == "group"), None)
    elif hint == "group":
        pick = next((k for k in empty if k[0] == "group"), None)
        if pick is None and cgs and not sgs:
            pick = ("group", None, cgs, None)
    elif hint != "sigalg" and empty:
        pick = empty[0]
    if hint == "sigalg" and pick is None:
        sigs = ch.get("sigalgs") or []
        ssigs = offer.get("sigalgs")
        facts = ["the client accepts signatures %s (its ClientHello's signature_algorithms)"
                 % quote_list(sigs),
                 "the server allows %s (as it set them), and its certificate's key cannot sign "
                 "with any the client accepts" % quote_list(ssigs) if ssigs else
                 "the server's certificate key cannot sign with any of them; the server set no "
                 "list of its own (the library's default: its certificate's key type decides)"]
        return _cause("no_common_sigalg", "no common signature algorithm",
                      "the client accepts %s; the server could sign with none of them "
                      "(OpenSSL: %s)" % (quote_list(sigs, 12), next(
                          (r for r in reasons if "signature algorithm" in r), "?")), facts,
                      ["The server must sign the handshake with its certificate's key using "
                       "an algorithm the client lists; none fits (an ECDSA key for a client "
                       "that lists only RSA algorithms, or the reverse)."],
                      ["Give the server a certificate with a key type the client accepts (or "
                       "both an RSA and an ECDSA certificate), or widen the client's list "
                       "(-sigalgs, SSL_CTX_set1_sigalgs_list)."],
                      {"client_sigalgs": sigs, "server_sigalgs": ssigs})
    if pick is None:
        return None
    what, common, mine, theirs = pick
    label = {"cipher": "cipher suite", "group": "group"}[what]
    facts = ["the client offered %d %s%s: %s" % (len(mine), label, "s" if len(mine) != 1 else "",
                                                  quote_list(mine)),
             "the server allows %s" % ("%d: %s" % (len(theirs), quote_list(theirs))
                                       if theirs is not None else
                                       "the library's default groups (it set none)")]
    for k in kinds:
        if k[0] != what and k[1]:
            facts.append("%ss in common: %s" % (k[0], quote_list(k[1], 6)))
    if what == "cipher" and not tls13:
        facts.append("TLS 1.3 suites are left out of both lists: TLS 1.2 is the highest "
                     "version both allow")
    meaning = {"cipher": ["The server found no cipher suite in the client's list that it "
                          "allows (for the version chosen, with its certificate's key)."],
               "group": ["The server found no key exchange group (elliptic curve or "
                         "finite-field group) in the client's list that it allows; without "
                         "one no (EC)DHE key exchange is possible, and OpenSSL drops every "
                         "ECDHE suite (reporting 'no shared cipher' in TLS 1.2)."]}[what]
    check = {"cipher": ["Make the lists meet: the client's cipher string (-cipher, "
                        "SSL_CTX_set_cipher_list; TLS 1.3 suites by -ciphersuites) and the "
                        "server's (nginx ssl_ciphers); @SECLEVEL also removes suites.",
                        "openssl ciphers -v 'LIST' shows what a cipher string expands to."],
             "group": ["Make the lists meet: -groups/-curves, SSL_CTX_set1_groups_list, "
                       "nginx ssl_ecdh_curve."]}[what]
    return _cause("no_common_" + what, "no common " + label,
                  "the client offered %s; %s" % (
                      quote_list(mine, 12),
                      "the server allows %s" % quote_list(theirs, 12) if theirs is not None
                      else "the server set no list of its own (the library's default), and "
                      "OpenSSL found none in common (%s)" % (next(
                          (r for r in reasons if r != "shutdown while in init"), "?"))),
                  facts, meaning, check,
                  {"client_" + what + "s": mine, "server_" + what + "s": theirs})


def _truncation(c, client, server):
    for conn in (c, client, server):
        if conn is None:
            continue
        end = conn.end or {}
        eof = end.get("outcome") == "eof" or any(e.get("eof") is True for e in conn.errors)
        if not eof or not (conn.done or conn.app_data):
            continue
        other = "server" if conn.role == "client" else "client"
        ev = next((e for e in conn.errors if e.get("eof") is True), None) or (
            conn.errors[0] if conn.errors else {})
        got, sent = end.get("bytes_in"), end.get("bytes_out")
        facts = ["the %s read %s bytes and wrote %s bytes of application data; then, at %s, "
                 "the TCP connection ended without a TLS close_notify from the %s"
                 % (conn.role, got if got is not None else "?",
                    sent if sent is not None else "?", ev.get("ts") or end.get("ts") or "?",
                    other)]
        if ev.get("fn"):
            facts.append("%s returned %s%s" % (ev.get("fn"), ev.get("err"),
                                               " (%s)" % "; ".join(_reasons(conn)[:1])
                                               if _reasons(conn) else ""))
        return _cause("truncation", "truncation",
                      "the %s closed the connection without a TLS close_notify after "
                      "application data moved (%s read %s bytes, wrote %s): what it received "
                      "may be cut short" % (other, conn.role, got if got is not None else "?",
                                            sent if sent is not None else "?"),
                      facts,
                      ["close_notify tells the reader that the data is complete; without it "
                       "a cut connection and a finished one look the same.  OpenSSL 3 "
                       "reports 'unexpected eof while reading' (1.1.1: SSL_ERROR_SYSCALL "
                       "with return value 0)."],
                      ["Did the %s crash, time out, or close early (its logs at that time)? "
                       "Load balancer and firewall idle timeouts cut connections the same "
                       "way." % other,
                       "A protocol that frames its own data (HTTP Content-Length, chunked) "
                       "can tell a complete response; SSL_OP_IGNORE_UNEXPECTED_EOF makes "
                       "OpenSSL 3 accept such an end as 1.1.1 did."],
                      {"bytes_in": got, "bytes_out": sent, "side": conn.role})
    return None


def _checked_by_program(c, client, server):
    """curl (and others) check the host name themselves after the handshake:
    the handshake completes, the client closes at once.  The SNI it sent is
    the name it wanted; compare it with the certificate's names.  Likewise a
    program that verifies with SSL_VERIFY_NONE and reads the result itself:
    the handshake_done's verify result is the reason it closed."""
    if client is None and server is None:
        return None
    cdone = (client.done if client is not None else None) or {}
    sdone = (server.done if server is not None else None) or {}
    if not (cdone or sdone):
        return None
    for x in (client, server):
        if x is not None and (x.app_data or x.fatal or x.n_errors):
            return None
    v = norm_verify(cdone.get("verify")) or {}
    if client is not None and v.get("code") not in (None, 0):
        return _explain_verify(client, v, client, server, after=True)
    ch = client_hello(client, server)
    sni = ((ch or {}).get("sni") or (client.sni if client is not None else None)
           or cdone.get("sni") or sdone.get("sni")
           or (server.sni if server is not None else None))
    if not sni:
        return None
    chain = _chain(client, "recv") or _chain(server, "sent")
    leaf = chain[0] if chain else norm_cert(cdone.get("peer_cert") or sdone.get("local_cert"))
    if not leaf or name_matches(leaf, sni):
        return None
    if v.get("host"):
        return None            # OpenSSL checked a name itself, and it passed
    names = cert_names(leaf)
    facts = ["the client asked for '%s' (the SNI in its ClientHello)" % sni,
             "the certificate it received names %s (subject %s)"
             % (quote_list(names), leaf.get("subject", "?")),
             "the handshake completed%s and the client closed without sending any "
             "application data" % (" (OpenSSL's verify result: %s)" % v.get("text")
                                   if v.get("text") else "")]
    return _cause("hostname_mismatch", "host name mismatch (checked by the program after the "
                  "handshake)",
                  "the client asked for '%s' (SNI); the certificate names %s; the client closed "
                  "right after the handshake" % (sni, quote_list(names)), facts,
                  ["Programs such as curl check the server's name themselves once the "
                   "handshake is done, so OpenSSL's logs show a completed handshake followed "
                   "by a close; the SNI the client sent is the name it wanted, and the "
                   "certificate is not for it."],
                  ["Connect with a name the certificate is for, or get a certificate that "
                   "names '%s' (subjectAltName DNS:%s)." % (sni, sni),
                   "The program's own message says so (curl: 'SSL: no alternative "
                   "certificate subject name matches target host name')."],
                  {"sni": sni, "names": names})


# -- what the report shows per connection -----------------------------------------------------

def _flags(h):
    return [k for k in HELLO_FLAGS if h.get(k)]


def _lst(h, key, limit):
    items = [str(x) for x in h.get(key) or []]
    more = h.get(key + "_more") or 0
    if len(items) > limit:
        more += len(items) - limit
        items = items[:limit]
    return ", ".join(items) + (", … (+%d)" % more if more else "")


def hello_summary(h):
    """One line for one hello-phase message."""
    hs = h.get("hs")
    parts = []
    if hs == "ClientHello":
        if h.get("versions"):
            parts.append("versions %s" % _lst(h, "versions", 6))
        elif h.get("legacy_version"):
            parts.append("version %s" % h["legacy_version"])
        if h.get("ciphers") is not None:
            # (signalling values and GREASE are listed, not counted)
            n = sum(1 for x in h["ciphers"] if x not in NOT_SUITES) + (h.get("ciphers_more")
                                                                       or 0)
            parts.append("%d cipher suite%s: %s" % (n, "" if n == 1 else "s",
                                                    _lst(h, "ciphers", 6)))
        if h.get("groups"):
            parts.append("groups %s" % _lst(h, "groups", 6))
        if h.get("key_shares"):
            parts.append("key shares %s" % _lst(h, "key_shares", 4))
        if h.get("sigalgs"):
            parts.append("sigalgs %s" % _lst(h, "sigalgs", 5))
        if h.get("alpn"):
            parts.append("ALPN %s" % (h["alpn"] if type(h["alpn"]) is str
                                      else _lst(h, "alpn", 6)))
        if h.get("sni"):
            parts.append("SNI %s" % h["sni"])
    elif hs in ("ServerHello", "HelloRetryRequest"):
        if h.get("version") or h.get("legacy_version"):
            parts.append("version %s" % (h.get("version") or h.get("legacy_version")))
        if h.get("cipher"):
            parts.append("cipher %s" % h["cipher"])
        if h.get("key_share"):
            parts.append(("asks for key share %s" if hs == "HelloRetryRequest"
                          else "key share %s") % h["key_share"])
        if h.get("alpn"):
            parts.append("ALPN %s" % h["alpn"])
    elif hs == "EncryptedExtensions":
        if h.get("alpn"):
            parts.append("ALPN %s" % h["alpn"])
        if h.get("groups"):
            parts.append("groups %s" % _lst(h, "groups", 6))
    elif hs == "CertificateRequest":
        parts.append("CA names %s" % (_lst(h, "ca_names", 4) or "(any)"))
        if h.get("sigalgs"):
            parts.append("sigalgs %s" % _lst(h, "sigalgs", 5))
        if h.get("cert_types"):
            parts.append("certificate types %s" % _lst(h, "cert_types", 6))
    flags = _flags(h)
    if flags:
        parts.append("with " + ", ".join(flags))
    if h.get("invalid"):
        parts.append("did not parse: %s" % h["invalid"])
    return "; ".join(parts) or "-"


def cert_summary(cert):
    """One line for one certificate: subject, issuer, names, dates, key, spki."""
    if cert.get("invalid"):
        return "certificate that does not parse (%s bytes, sha256 %s)" % (
            cert.get("len"), short_hash(cert.get("sha256")))
    parts = [cert.get("subject") or "?", "issuer %s" % (cert.get("issuer") or "?")]
    if cert.get("san"):
        parts.append("SAN %s" % ", ".join(cert["san"][:6]) + (
            ", … (+%d)" % (len(cert["san"]) - 6) if len(cert["san"]) > 6 else ""))
    if cert.get("not_before") or cert.get("not_after"):
        parts.append("valid %s .. %s" % (cert.get("not_before", "?"), cert.get("not_after", "?")))
    if cert.get("key"):
        parts.append("%s%s" % (cert["key"], " %d" % cert["bits"] if cert.get("bits") else ""))
    if cert.get("spki_sha256"):
        parts.append("spki %s" % short_hash(cert["spki_sha256"]))
    return ", ".join(parts)


def said(conn):
    """What one end's logs hold of the conversation, for the report's detail
    (JSON) and its text and HTML renderings."""
    if conn is None:
        return None
    out = {"role": conn.role,
           "hellos": [dict(norm_hello(h), summary=hello_summary(h)) for h in conn.hellos],
           "chains": {d: [dict(x, summary=cert_summary(x)) for x in chain]
                      for d, chain in sorted(conn.chains.items())},
           "min_version": conn.min_version, "max_version": conn.max_version,
           "verify": conn.verify, "local_offer": conn.offer, "peer_bytes": conn.peer_bytes}
    return out


def peer_label(peer, sni, port=None):
    """A peer as the report names it: its address, else its SNI (with the
    port when one is known), else "unknown peer" — never None."""
    if peer:
        return peer
    if sni:
        return "SNI %s%s" % (sni, ":%s" % port if port else "")
    return "unknown peer"
