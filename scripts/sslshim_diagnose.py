"""What a failure means and what to check next.

primary_problem() picks the event that explains a failing connection (the
first fatal alert; an unexpected EOF hidden behind OpenSSL 3's decode_error;
else the first error, a misuse, or the bare outcome).  diagnose() turns it,
the state it happened in, the other end of the same handshake (joined by
client_random) and what else the logs show (misuse, Valgrind, loops, a relay
between the ends) into text a person can act on.

Where the logs show the cause itself — what the two sides said in their
hellos and certificates, the verify result, the first bytes of a peer that
is not TLS (sslshim_explain.find_cause) — that comes first, with the values
both sides had, and the next steps are the ones for that cause; the
alert's possible causes and the generic checks are given only where the
cause is not identified.
"""
from sslshim_explain import find_cause, peer_label

# What each alert means (RFC 8446 section 6, RFC 5246 section 7.2), what it
# says when this side sent it or received it, and the next checks.
ALERTS = {
    "close_notify": {
        "meaning": "an orderly close: the sender will send no more data.",
        "check": []},
    "unexpected_message": {
        "meaning": "a message arrived that is not allowed at this point of the protocol.",
        "sent": "This side received a record or handshake message it did not expect in "
                "this state.",
        "recv": "The peer received a record or handshake message from this side that it "
                "did not expect in its state.",
        "check": [
            "Is the other end speaking TLS the way you think: the right port, no plain-text "
            "protocol first (STARTTLS done?), no proxy answering instead of the server?",
            "Renegotiation or post-handshake authentication the other end does not allow "
            "(SSL_renegotiate, SSL_verify_client_post_handshake, key updates)?",
            "Two threads on one SSL, or an SSL used after fork(), put records out of order: "
            "see the misuse lines, if any.",
            "Compare both ends' OpenSSL versions (shown with the joined view)."]},
    "bad_record_mac": {
        "meaning": "a record failed its integrity check (MAC or AEAD tag): the receiver "
                   "could not decrypt what the sender encrypted.",
        "sent": "This side could not decrypt a record the peer sent.",
        "recv": "The peer could not decrypt a record this side sent.",
        "check": [
            "misuse events (two threads on one SSL at once, an SSL used in a fork child while "
            "the parent still uses it) are the classic cause after the handshake; the report "
            "lists them with the connection when the shim saw them.",
            "Run the same program without the instrumentation tool (Purify, Valgrind, a "
            "sanitizer): if the failure goes away, the instrumented crypto library computes "
            "different keys or records.  Under the tool, try "
            "OPENSSL_ia32cap=~0x200000200000000 (no AES-NI/PCLMULQDQ assembly) and look for "
            "'uninitialised value' reports inside libcrypto.",
            "Compare the two ends of the same handshake (joined by client_random): version, "
            "cipher, OpenSSL build on each side.  Different keys on the two ends mean one "
            "side's key schedule is wrong.",
            "Records corrupted in transit: take a packet capture on both hosts and compare "
            "the failing record byte for byte; `sslshim run --keylog FILE` lets Wireshark "
            "decrypt the capture and show which end is wrong.  Bypass proxies, load "
            "balancers, IDS and NIC offloads between the ends.",
            "The program writing to the socket descriptor itself (not through SSL_write), or "
            "a non-blocking SSL_write retried with a different buffer, also breaks the record "
            "stream."]},
    "decryption_failed": {
        "meaning": "(obsolete) a record could not be decrypted.",
        "check": ["Treat as bad_record_mac."]},
    "record_overflow": {
        "meaning": "a record was longer than the protocol allows (or than the negotiated "
                   "max_fragment_length).",
        "check": ["Records corrupted in transit or a buggy peer; compare record sizes in a "
                  "packet capture; check max_fragment_length / record_size_limit settings."]},
    "handshake_failure": {
        "meaning": "the sender could not agree on security parameters with its peer.",
        "sent": "This side found nothing acceptable in what the peer offered.",
        "recv": "The peer found nothing acceptable in what this side offered.",
        "check": [
            "Compare what each end allows: cipher suites (`openssl ciphers -v 'LIST'` for the "
            "string each end configures; TLS 1.3 suites are set separately), groups/curves, "
            "signature algorithms, and the security level (@SECLEVEL, Debian's default is 2).",
            "The error queue of the side that sent the alert names the reason (for example "
            "'no shared cipher', 'no suitable key share', 'no suitable signature "
            "algorithm').",
            "With TLS 1.2 a server that requires a client certificate also answers "
            "handshake_failure when none is sent ('peer did not return a certificate').",
            "Try by hand: openssl s_client -connect HOST:PORT -cipher ... / -ciphersuites ... "
            "/ -groups ..."]},
    "bad_certificate": {
        "meaning": "a certificate was corrupt, or its signature or contents did not verify "
                   "(a reason with no alert of its own).",
        "sent": "This side rejected the certificate the peer presented.",
        "recv": "The peer rejected the certificate this side presented.",
        "check": [
            "Verify the chain by hand: openssl verify -CAfile CA.pem -untrusted chain.pem "
            "cert.pem.",
            "Key usage / extended key usage (serverAuth, clientAuth) and the signature "
            "algorithm of each certificate (openssl x509 -noout -text).",
            "Does the private key belong to the certificate (compare `openssl x509 -noout "
            "-pubkey` with `openssl pkey -pubout`)?"]},
    "unsupported_certificate": {
        "meaning": "the certificate is of a type the receiver does not support.",
        "check": ["Check the certificate's key type and size against what the peer accepts "
                  "(RSA/ECDSA/Ed25519, security level)."]},
    "certificate_revoked": {
        "meaning": "a certificate was revoked by its signer.",
        "check": ["Check the CRL/OCSP status of the certificate and replace it."]},
    "certificate_expired": {
        "meaning": "a certificate has expired or is not yet valid — by the clock of the "
                   "side that checked it.",
        "sent": "This side found a certificate of the peer's chain outside its validity "
                "period.",
        "recv": "The peer found a certificate of this side's chain outside its validity "
                "period.",
        "check": [
            "openssl x509 -noout -dates -in CERT for each certificate in the chain "
            "(intermediates too).",
            "The clock of the checking host: date -u (a host with a wrong clock rejects good "
            "certificates).",
            "Renew and deploy the certificate; reload the service that holds it."]},
    "certificate_unknown": {
        "meaning": "some other problem with the certificate made it unacceptable.",
        "check": ["The error queue and the verify result of the side that sent it say "
                  "which; verify the chain by hand (openssl verify)."]},
    "illegal_parameter": {
        "meaning": "a field in the handshake was out of range or inconsistent with other "
                   "fields.",
        "check": ["A buggy or incompatible peer, or a middlebox rewriting handshake "
                  "messages; compare OpenSSL versions and capture the handshake."]},
    "unknown_ca": {
        "meaning": "the sender could not find a certificate authority it trusts for the "
                   "peer's certificate chain.",
        "sent": "This side does not trust the issuer of the peer's certificate.",
        "recv": "The peer does not trust the issuer of this side's certificate.",
        "check": [
            "The CA file/directory the verifying side uses (SSL_CTX_load_verify_locations, "
            "-CAfile, SSL_CERT_FILE/SSL_CERT_DIR, the system store /etc/ssl/certs).",
            "Does the other side send its intermediate certificates? openssl s_client "
            "-connect HOST:PORT -showcerts lists what is sent.",
            "openssl verify -CAfile CA.pem -untrusted intermediates.pem cert.pem on the "
            "verifying host.",
            "Was the certificate replaced by one from another CA (compare the sha256 and "
            "issuer shown in the joined view, when the handshake got that far)?"]},
    "access_denied": {
        "meaning": "a valid certificate or PSK was received but access control refused the "
                   "connection.",
        "check": ["Check the peer's authorization rules for this identity."]},
    "decode_error": {
        "meaning": "a message could not be decoded: a length or field was wrong.",
        "sent": "This side could not parse a message from the peer.",
        "recv": "The peer could not parse a message from this side.",
        "check": [
            "A buggy or incompatible implementation on one end, or a middlebox truncating or "
            "altering handshake messages: capture the handshake and compare both ends.",
            "OpenSSL 3 also raises decode_error when the connection ends in the middle of a "
            "record (see unexpected EOF)."]},
    "decrypt_error": {
        "meaning": "a handshake cryptographic check failed: a signature did not verify, or a "
                   "Finished message did not match.",
        "sent": "This side could not verify a signature or Finished message from the peer.",
        "recv": "The peer could not verify a signature or Finished message from this side.",
        "check": [
            "Does the signer's private key belong to its certificate? Compare `openssl x509 "
            "-noout -pubkey -in CERT` with `openssl pkey -pubout -in KEY` on the signing side; "
            "the joined view compares the spki_sha256 the verifier saw with the one the "
            "signer holds.",
            "A Finished mismatch means the two ends saw different handshake transcripts or "
            "derived different secrets: a middlebox altering messages, or a crypto library "
            "computing wrongly (instrumentation, a broken engine/provider/HSM).",
            "Signature algorithms supported by the key's hardware/provider."]},
    "export_restriction": {"meaning": "(obsolete) export restriction.", "check": []},
    "protocol_version": {
        "meaning": "the sender does not support the protocol version the peer offered or "
                   "chose.",
        "sent": "This side refused the peer's protocol version.",
        "recv": "The peer refused this side's protocol version.",
        "check": [
            "Minimum and maximum versions on both ends: SSL_CTX_set_min_proto_version / "
            "max, -tls1_2/-tls1_3 options, MinProtocol/MaxProtocol in openssl.cnf (Debian "
            "sets MinProtocol = TLSv1.2 in /etc/ssl/openssl.cnf).",
            "Try each version by hand: openssl s_client -connect HOST:PORT -tls1_2 (and "
            "-tls1_3).",
            "An old peer (TLS 1.0/1.1 only) needs an upgrade rather than a weaker "
            "configuration."]},
    "insufficient_security": {
        "meaning": "the peer's parameters are weaker than the sender requires.",
        "check": ["Compare security levels and cipher/group lists; the sender requires "
                  "something stronger."]},
    "internal_error": {
        "meaning": "the sender failed for a reason unrelated to the peer or the protocol.",
        "sent": "This side hit an internal error.",
        "recv": "The peer hit an internal error (its own logs say why).",
        "check": [
            "The error queue of the side that sent it (shown in the timeline) names the "
            "function and reason: memory allocation, a provider/engine/HSM failure, a "
            "randomness failure, or misuse of the API.",
            "'bad write retry' means SSL_write was called again after SSL_ERROR_WANT_WRITE "
            "with a different buffer or length — or two threads are writing on one SSL.",
            "misuse events on this connection point to two threads or a fork child sharing "
            "the SSL."]},
    "inappropriate_fallback": {
        "meaning": "a client retried with a lower version although the server supports a "
                   "higher one (TLS_FALLBACK_SCSV).",
        "check": ["Something broke the first, higher-version attempt; find that failure."]},
    "user_canceled": {"meaning": "the handshake was canceled by the user.", "check": []},
    "no_renegotiation": {
        "meaning": "the peer refused a renegotiation.",
        "check": ["Avoid renegotiation, or allow it on the peer."]},
    "missing_extension": {
        "meaning": "a required extension was not sent.",
        "check": ["Compare TLS 1.3 support and extensions on both ends."]},
    "unsupported_extension": {
        "meaning": "an extension appeared where it is not allowed.",
        "check": ["A buggy or incompatible peer; compare versions."]},
    "unrecognized_name": {
        "meaning": "the server has no certificate/virtual host for the SNI name sent.",
        "check": ["Check the SNI name the client sends (shown as sni) against the server's "
                  "virtual hosts."]},
    "bad_certificate_status_response": {
        "meaning": "an OCSP response was invalid.",
        "check": ["Check the server's OCSP stapling setup."]},
    "unknown_psk_identity": {
        "meaning": "no key is known for the PSK identity offered.",
        "check": ["Check the PSK identity and key configuration on both ends."]},
    "certificate_required": {
        "meaning": "the server requires a client certificate and the client sent none.",
        "sent": "This server required a client certificate and got none.",
        "recv": "The server required a client certificate and this client sent none.",
        "check": [
            "Give the client a certificate and key (SSL_CTX_use_certificate/PrivateKey, "
            "-cert/-key), issued by a CA the server accepts.",
            "If the client has one, does it match the CAs the server lists in its "
            "CertificateRequest (openssl s_client -connect HOST:PORT shows 'Acceptable client "
            "certificate CA names')? A client certificate callback may decline to send it.",
            "In TLS 1.3 the client finishes its side first, so it sees this alert only on its "
            "next read — after it may already have sent data."]},
    "no_application_protocol": {
        "meaning": "no ALPN protocol in common.",
        "check": ["Compare the ALPN lists of both ends (alpn in the joined view)."]},
}

# What OpenSSL's long state names mean, for the sentence "in state ...".
STATE_NOTES = [
    ("before SSL initialization", None, "before the handshake had started"),
    ("write client hello", "client", "the client was writing its ClientHello or, having sent "
     "it, waiting for the server's reply"),
    ("read client hello", "server", "the server was processing the ClientHello (choosing "
     "version, cipher suite, group and certificate)"),
    ("read server hello", "client", "the client had just read the ServerHello; in TLS 1.3 "
     "every record after it is encrypted with handshake keys that both ends derive from the "
     "key exchange, so the next record is the first test that both ends computed the same "
     "keys", "TLSv1.3"),
    ("read server hello", "client", "the client had just read the ServerHello and was "
     "processing it"),
    ("read encrypted extensions", "client", "the client had read EncryptedExtensions, the "
     "first encrypted handshake message"),
    ("read server certificate verify", "client", "the client was verifying the server's "
     "CertificateVerify signature"),
    ("read server certificate request", "client", "the server had asked for a client "
     "certificate"),
    ("read server certificate", "client", "the client was checking the server's certificate "
     "chain"),
    ("read server key exchange", "client", "the client was verifying the server's signed key "
     "exchange"),
    ("read server done", "client", "the client had the server's whole first flight (TLS 1.2)"),
    ("write client key exchange", "client", "the client had sent its key exchange (TLS 1.2)"),
    ("TLSv1.3 early data", "server", "the server had sent its whole first flight (ServerHello "
     "to Finished) and was waiting for the client's Finished — OpenSSL names that wait "
     "'TLSv1.3 early data'"),
    ("read client certificate", "server", "the server was checking the client's certificate, "
     "or found that none was sent"),
    ("read certificate verify", "server", "the server was verifying the client's "
     "CertificateVerify signature"),
    ("read client key exchange", "server", "the server was processing the client's key "
     "exchange (TLS 1.2)"),
    ("read finished", None, "this side was checking the peer's Finished message, which proves "
     "that both ends derived the same keys from the same handshake"),
    ("read change cipher spec", None, "this side had switched to the new keys (TLS 1.2)"),
    ("write finished", None, "this side had sent its Finished"),
    ("write server hello", "server", "the server had answered with its ServerHello"),
    ("write certificate", None, "this side had sent its certificate"),
    ("negotiation finished successfully", None, "after the handshake had completed, while "
     "application data was flowing"),
    ("SSLOK", None, "after the handshake had completed"),
    ("error", None, "after the state machine had already failed"),
]

ERROR_REASONS = [
    # (substring of the error-queue reason, explanation)
    ("unexpected eof while reading", "the peer closed the TCP connection without a TLS "
     "close_notify"),
    ("wrong version number", "what came back is not TLS at all (a plain-text service on that "
     "port, an HTTP proxy, or a TLS-terminating device answering with an error page)"),
    ("http request", "the peer sent plain HTTP to this TLS port"),
    ("certificate verify failed", "the peer's certificate chain did not verify"),
    ("no shared cipher", "no cipher suite in common"),
    ("no suitable key share", "no key exchange group in common"),
    ("no suitable signature algorithm", "no signature algorithm in common"),
    ("unsupported protocol", "no protocol version in common"),
    ("peer did not return a certificate", "the client sent no certificate although one is "
     "required"),
    ("bad write retry", "SSL_write was retried with a different buffer or length (or two "
     "threads wrote on one SSL)"),
    ("decryption failed or bad record mac", "a record did not decrypt"),
    ("ee key too small", "the certificate's key is below the security level"),
    ("ca md too weak", "a certificate is signed with a digest below the security level"),
    ("dh key too small", "the peer's DH group is below the security level"),
    ("unsafe legacy renegotiation disabled", "the peer does not support secure "
     "renegotiation"),
    ("packet length too long", "a record length is impossible — not TLS, or corrupted"),
    ("record layer failure", "the record layer failed"),
    ("shutdown while in init", "SSL_shutdown was called before the handshake completed"),
    ("protocol is shutdown", "the connection was already shut down"),
    ("uninitialized", "the SSL object was used before it was set up"),
    ("excessive message size", "a handshake message was larger than allowed (certificate "
     "chain too big?) or its length field was corrupted"),
    ("bad extension", "an extension in the peer's hello could not be parsed"),
    ("bad signature", "a handshake signature did not verify with the public key of the "
     "signer's certificate"),
    ("digest check failed", "the peer's Finished did not match this side's transcript"),
    ("bad change cipher spec", "a ChangeCipherSpec record had the wrong contents"),
    ("no ciphers available", "this side has no cipher suite enabled for the protocol versions it "
     "allows (cipher string, security level and min/max version together leave none); it failed "
     "before sending its hello"),
    ("EVP lib", "a crypto operation inside libcrypto failed"),
    ("cipher operation failed", "a record could not be decrypted or encrypted"),
]

# (alert, substring of the state, text): what the alert means in that state
ALERT_IN_STATE = [
    ("decrypt_error", "key exchange", "The signature over the key exchange did not verify with "
     "the public key of the certificate the peer sent: its private key does not belong to that "
     "certificate (a server configured with the wrong key, or an HSM/engine signing with "
     "another key), or the message was altered in transit."),
    ("decrypt_error", "certificate verify", "The CertificateVerify signature did not verify "
     "with the public key of the certificate sent: the signer's private key does not belong to "
     "its certificate, or the handshake was altered in transit."),
    ("decrypt_error", "finished", "The Finished check failed: the two ends saw different "
     "handshake transcripts (a message altered in transit) or derived different secrets (a "
     "crypto library computing wrongly, e.g. under instrumentation)."),
    ("decrypt_error", "certificate", "OpenSSL also reports a certificate whose own signature "
     "(by its issuer) does not verify as decrypt_error: a corrupted or forged certificate, or an "
     "issuer certificate that is not the one that signed it."),
    ("unexpected_message", "before SSL initialization", "The first thing the peer sent was not "
     "a hello: plain text or another protocol on a TLS port, or an alert it sent because it "
     "failed before its hello."),
    ("unexpected_message", "session ticket", "A record arrived where the ChangeCipherSpec or "
     "Finished was due: the record stream was altered or reordered in transit, or the peer's "
     "state machine differs."),
    ("decode_error", "hello", "The hello could not be parsed — its extensions or lengths are "
     "inconsistent: a buggy peer, or bytes changed in transit."),
    ("bad_certificate", "certificate", "OpenSSL sends bad_certificate also for a certificate "
     "that is not yet valid by the checking side's clock, or whose signature cannot be "
     "decoded."),
    ("internal_error", "client hello", "The client failed while building its ClientHello, "
     "before anything reached the server: look at its error queue ('no ciphers available' is "
     "the common one)."),
]


def _reasons(errors):
    out = []
    for e in errors:
        for q in e.get("queue") or ():
            r = q.get("reason")
            if r and r not in out:
                out.append(r)
    return out


def is_eof(c):
    """An unexpected EOF: OpenSSL 3's reason, or SSL_ERROR_SYSCALL with ret 0."""
    for e in c.errors:
        if any("unexpected eof" in (q.get("reason") or "") for q in e.get("queue") or ()):
            return True
        if e.get("err") == "SSL_ERROR_SYSCALL" and e.get("ret") == 0 and not e.get("errno"):
            return True
    return False


def _reset(c):
    for e in c.errors:
        if e.get("err") == "SSL_ERROR_SYSCALL" and (e.get("errno") == 104 or "reset" in
                                                    (e.get("sys") or "").lower()):
            return e
    return None


def primary_problem(c):
    """The event that explains why connection c failed, as a dict."""
    reasons = _reasons(c.errors)
    first_err = c.errors[0] if c.errors else None
    p = {"kind": None, "dir": None, "desc": None, "level": None, "code": None,
         "state": None, "reason": reasons[0] if reasons else None, "fn": None, "err": None,
         "line": None, "ts": None}
    if first_err:
        p.update(fn=first_err.get("fn"), err=first_err.get("err"))
    eof = is_eof(c)
    alert = c.fatal[0] if c.fatal else None
    if alert and not (eof and alert.get("desc") == "decode_error" and alert.get("dir") == "sent"):
        p.update(kind="alert", dir=alert.get("dir"), desc=alert.get("desc"),
                 level=alert.get("level"), code=alert.get("code"), state=alert.get("state"),
                 line=alert.get("line"), ts=alert.get("ts"))
    elif eof:
        e = next((e for e in c.errors if "unexpected eof" in " ".join(
            q.get("reason") or "" for q in e.get("queue") or ())
            or (e.get("err") == "SSL_ERROR_SYSCALL" and e.get("ret") == 0)), first_err)
        p.update(kind="eof", state=e.get("state"), fn=e.get("fn"), err=e.get("err"),
                 ts=e.get("ts"))
        if alert:
            p.update(desc=alert.get("desc"), dir=alert.get("dir"))
    elif first_err:
        p.update(kind="reset" if _reset(c) else "error", state=first_err.get("state"),
                 ts=first_err.get("ts"))
    elif c.misuse or c.related:
        m = c.misuse[0] if c.misuse else c.related[0][1]
        p.update(kind="misuse", desc=m.get("kind"), fn=m.get("fn"), ts=m.get("ts"))
    elif c.undefined:
        p.update(kind="undefined", fn=c.undefined[0].get("fn"), ts=c.undefined[0].get("ts"))
    elif c.end is None:
        p.update(kind="open")
    elif c.outcome != "ok":
        p.update(kind="outcome", desc=c.outcome, state=c.end.get("last_state"))
    else:
        p.update(kind="no_app_data", state=c.end.get("last_state"))
    if p["state"] is None and c.end:
        p["state"] = c.end.get("last_state")
    return p


def signature(c):
    p = c.primary
    return (c.role, c.endpoint(), p["kind"], p["dir"], p["desc"], p["state"], p["reason"],
            bool(c.misuse or c.related))


def headline(c):
    """One line: who did what, where."""
    p = c.primary
    role = c.role or "?"
    st = " in state '%s'" % p["state"] if p["state"] else ""
    if p["kind"] == "alert":
        verb = "sent" if p["dir"] == "sent" else "received"
        return "%s %s %s alert %s%s" % (role, verb, p["level"] or "", p["desc"], st)
    if p["kind"] == "eof":
        return "%s: unexpected EOF (peer closed the connection without close_notify)%s" % (
            role, st)
    if p["kind"] == "reset":
        return "%s: connection reset by peer%s" % (role, st)
    if p["kind"] == "error":
        why = p["reason"] or p["err"] or "error"
        return "%s: %s failed: %s%s" % (role, p["fn"], why, st)
    if p["kind"] == "misuse":
        what = {"concurrent": "two threads used one SSL at once",
                "after_fork": "an SSL was used in a fork child"}.get(p["desc"], p["desc"])
        return "%s: misuse: %s (in %s)" % (role, what, p["fn"])
    if p["kind"] == "undefined":
        return "%s: %s was given undefined bytes (Valgrind)" % (role, p["fn"])
    if p["kind"] == "open":
        return "%s: the connection never ended in the log (process still running, killed, or "\
               "log cut short)" % role
    if p["kind"] == "outcome":
        return "%s: outcome %s%s" % (role, p["desc"], st)
    return "%s: ended without application data%s" % (role, st)


def state_note(state, role, version=None):
    if not state:
        return None
    for note in STATE_NOTES:
        sub, r, text = note[:3]
        only = note[3] if len(note) > 3 else None
        if sub in state and (r is None or r == role) and (only is None or only == version):
            return text
    return None


def _in_handshake(state):
    return bool(state) and not any(s in state for s in ("negotiation finished", "SSLOK"))


def _addr_mismatch(c, o):
    """A relay between the ends: the client's peer is not the server's local
    address (or the ports seen on the two sides differ)."""
    client, server = (c, o) if c.role == "client" else (o, c)
    out = []
    if client.peer and server.local and client.peer != server.local:
        out.append("the client connected to %s but the server accepted on %s: something "
                   "between them (proxy, NAT, load balancer) relays the connection — a prime "
                   "suspect when records arrive changed" % (client.peer, server.local))
    return out


def _misuse_lines(c, o):
    out = []
    for who, conn in (("this side", c), ("the other end", o)):
        if conn is None:
            continue
        for m in conn.misuse:
            if m.get("kind") == "concurrent":
                out.append("%s: %s in thread %s while thread %s was inside %s on the same SSL "
                           "(misuse: concurrent)" % (who, m.get("fn"), m.get("tid"),
                                                     m.get("other_tid"),
                                                     m.get("other_fn") or "a call"))
            elif m.get("kind") == "after_fork":
                out.append("%s: fork child pid %s used the SSL it inherited from pid %s "
                           "(misuse: after_fork)" % (who, conn.proc.pid, m.get("parent_pid")))
        for proc, m in conn.related:
            if m is not None:
                out.append("%s: fork child %s called %s on this connection's SSL, which it "
                           "inherited (misuse: after_fork) — both processes now write records "
                           "with the same keys and sequence numbers"
                           % (who, proc.name, m.get("fn")))
    return out


MISUSE_TEXT = ("OpenSSL's SSL objects are not thread-safe and their record sequence numbers "
               "cannot be shared between processes: the peer then gets records out of order "
               "or twice, and answers bad_record_mac (or this side fails with "
               "internal_error/'bad write retry').  Serialize all calls on one SSL with a "
               "mutex, or give each thread its own connection; after fork() use the "
               "connection in one process only (close the descriptor in the other without "
               "SSL_shutdown).")


def diagnose(c, partner, loops):
    """{"title", "meaning", "evidence": [...], "check": [...]} for connection c,
    given the other end (or None) and the loops of its process."""
    p = c.primary
    role = c.role or "?"
    other = "server" if role == "client" else "client"
    meaning = []
    evidence = []
    check = []
    state = p["state"]
    version = (c.done or {}).get("version") or c.version
    note = state_note(state, role, version)
    if note:
        meaning.append("State '%s': %s." % (state, note))

    reasons = _reasons(c.errors)
    if reasons:
        evidence.append("error queue of this side: " + "; ".join(reasons[:4]))
    for r in reasons[:3]:
        for sub, text in ERROR_REASONS:
            if sub in r:
                evidence.append("'%s': %s" % (r, text))
                break

    misuse = _misuse_lines(c, partner)
    valgrind = [x.proc.name for x in (c, partner) if x is not None and x.proc.valgrind]

    kind = p["kind"]
    title = headline(c)
    desc = p["desc"]
    cause = find_cause(c, partner)
    if kind == "alert":
        info = ALERTS.get(desc, {"meaning": "alert %s (code %s)." % (desc, p["code"]),
                                 "check": []})
        meaning.insert(0, "%s means %s %s" % (desc, info["meaning"],
                                               info.get(p["dir"], "")))
        check.extend(info.get("check", []))
        for a, sub, text in ALERT_IN_STATE:
            if a == desc and state and sub in state:
                meaning.append(text)
                break
        if cause:
            pass             # the cause's own facts say more than the alert's suspects
        elif desc in ("bad_record_mac", "decryption_failed"):
            _bad_record_mac(c, partner, p, meaning, evidence, misuse, valgrind)
        elif desc == "decrypt_error" and partner:
            _compare_keys(c, partner, evidence)
        elif desc == "protocol_version":
            _versions(c, partner, evidence)
        elif desc == "certificate_expired":
            _expiry(c, partner, evidence)
        elif desc == "unknown_ca" and c.done and c.done.get("peer_cert"):
            pc = c.done["peer_cert"]
            evidence.append("peer certificate: subject %s, issuer %s" % (pc.get("subject"),
                                                                         pc.get("issuer")))
        if desc == "certificate_required" and role == "client" and not _in_handshake(state):
            meaning.append("This client's handshake had completed from its point of view "
                           "(TLS 1.3 clients finish first); the server's refusal arrived on "
                           "the next read.")
    elif kind == "eof":
        title = "%s: unexpected EOF — the %s closed the connection without a TLS close_notify" \
            % (role, other) + (" in state '%s'" % state if state else "")
        meaning.insert(0, "unexpected EOF means the TCP connection was closed by the %s (or by "
                       "something between) without a TLS close_notify.  OpenSSL 3 reports "
                       "'unexpected eof while reading'%s; OpenSSL 1.1.1 reports "
                       "SSL_ERROR_SYSCALL with return value 0."
                       % (other, " and sends a decode_error alert the peer never sees"
                          if desc == "decode_error" else ""))
        if _in_handshake(state):
            if role == "client":
                meaning.append("During the handshake this means the server dropped the "
                               "connection instead of answering: it does not speak TLS there, "
                               "it refused the client before TLS (connection limit, IP filter, "
                               "SNI routing, a version/cipher policy enforced by closing), or it "
                               "crashed.")
            else:
                meaning.append("During the handshake this means the client gave up: it did "
                               "not like something the server sent (look at the client's "
                               "logs), timed out, or was killed.")
            check.extend([
                "The %s's own logs at %s: run it under sslshim too and its end will be joined "
                "here by client_random." % (other, (p["ts"] or "that time")),
                "Try by hand: openssl s_client -connect %s -servername NAME"
                % (c.peer if role == "client" else "HOST:PORT"),
                "A packet capture shows whether the close was a FIN (the peer closed) or a "
                "RST (refused/reset), and from which address.",
                "Firewalls, load balancers and proxies with idle or handshake timeouts."])
        else:
            meaning.append("After the handshake this is the peer ending the connection without "
                           "close_notify — harmless for some protocols (HTTP/1.0 responses), a "
                           "truncation when more data was due.  SSL_OP_IGNORE_UNEXPECTED_EOF "
                           "makes OpenSSL 3 treat it as 1.1.1 did.")
            check.extend(["Did the peer crash, time out, or close early? Its logs at that "
                          "time say.", "Load balancer / firewall idle timeouts."])
    elif kind == "reset":
        meaning.insert(0, "The %s (or something between) reset the TCP connection." % other)
        check.extend(["The %s's logs at that time; a packet capture shows who sent the RST."
                      % other, "Firewalls and load balancers that reset idle or unknown "
                      "connections."])
    elif kind == "error":
        meaning.insert(0, "%s failed with %s%s." % (p["fn"], p["err"], " (%s)" % p["reason"]
                                                     if p["reason"] else ""))
        for sub, text in ERROR_REASONS:
            if p["reason"] and sub in p["reason"]:
                meaning.append("'%s' means %s." % (p["reason"], text))
                break
        check.append("The file and line in OpenSSL named by the error queue (timeline) show "
                     "where it failed.")
    elif kind == "misuse":
        meaning.insert(0, MISUSE_TEXT)
    elif kind == "undefined":
        meaning.insert(0, "Under Valgrind, SSL_write was given a buffer with undefined "
                       "(uninitialised) bytes: what is sent depends on garbage.")
        check.append("Initialise the buffer; the stack shows where the write came from.")
    elif kind == "open":
        meaning.insert(0, "No conn_end was logged: the process was still running when the "
                       "logs were read, was killed, or the log is cut short.")
    else:
        meaning.insert(0, "The handshake %s but no application data moved: the program closed "
                       "the connection right after the handshake (a probe or health check?), "
                       "or the peer did.  Repeated, this is what a reconnect loop looks like."
                       % ("completed" if c.done else "did not complete"))

    if misuse and kind not in ("misuse",):
        evidence[:0] = ["cause found: " + m for m in misuse]
        meaning.append(MISUSE_TEXT)
    if misuse:
        check.insert(0, "Fix the misuse first — the misuse stacks below show where the SSL is "
                        "shared — then see whether the failure remains.")
    if valgrind:
        evidence.append("ran under Valgrind: %s — instrumentation can change how the crypto "
                        "library behaves; compare with a run without it" % ", ".join(valgrind))
    if partner is not None:
        evidence.extend(_partner_facts(c, partner))
    elif c.crs and kind in ("alert", "eof"):
        evidence.append("the %s's end of this handshake is not in these logs (client_random "
                        "%s…); preload the shim there too, or `sslshim collect` its logs, to "
                        "see both ends side by side" % (other, c.crs[0][:16]))
    for lp in loops:
        evidence.append(loop_sentence(lp))
    for conn in (c, partner):
        if conn is not None and conn.proc.argv:
            argv = list(conn.proc.argv)
            while len(argv) > 1 and argv[-1] == "":
                argv.pop()         # a title written over argv (nginx) leaves them empty
            cmd = " ".join(_shell_word(a) for a in argv)
            evidence.append("%s command line: %s" % (conn.role, cmd if len(cmd) < 300
                                                     else cmd[:300] + "..."))
    if cause:
        title = "%s: %s" % (cause["name"], title)
        meaning[:0] = cause["meaning"]
        evidence[:0] = cause["facts"]
        check = cause["check"]
    evidence = list(dict.fromkeys(evidence))
    return {"title": title, "cause": cause["text"] if cause else None,
            "cause_name": cause["name"] if cause else None,
            "cause_kind": cause["kind"] if cause else None,
            "cause_values": cause["values"] if cause else None,
            "meaning": meaning, "evidence": evidence, "check": check}


def _shell_word(a):
    a = str(a)
    if a and all(ch.isalnum() or ch in "-_./=:,+@%" for ch in a):
        return a
    return "'" + a.replace("'", "'\\''").replace("\n", "\\n") + "'"


def _bad_record_mac(c, o, p, meaning, evidence, misuse, valgrind):
    detector = c if p["dir"] == "sent" else o
    if _in_handshake(p["state"]):
        meaning.append("It happened during the handshake, on the first encrypted records: "
                       "either the two ends derived different keys (a key exchange computed "
                       "wrongly — a crypto library broken by instrumentation such as Purify or "
                       "Valgrind, a miscompiled or mismatched libcrypto, an engine/provider "
                       "bug; with TLS 1.2 RSA key exchange also a private key that does not "
                       "belong to the certificate) or the records were corrupted in transit.")
    else:
        meaning.append("It happened after the handshake: the keys were fine once (Finished "
                       "verified), so a record was corrupted in transit, or the record "
                       "sequence numbers got out of step — two threads on one SSL, an SSL used "
                       "in a fork child, the program writing to the socket itself.")
    if not misuse:
        evidence.append("no misuse events (two threads on one SSL, use after fork) were "
                        "logged for this connection%s" % (" or its other end" if o else ""))
    for x in (c, o):
        if x is not None and x.role == "server" and (x.key_check or {}).get("match") is True:
            evidence.append("the server's private key belongs to the certificate it sent (the "
                            "shim checked it when the alert was sent): not a key mismatch")
    if o is not None and detector is not None:
        sender = o if detector is c else c
        if not sender.errors or all(e.get("ts", "") >= (p["ts"] or "") for e in sender.errors):
            evidence.append("the %s (%s) reported nothing wrong until the alert arrived: from "
                            "its side the records it sent were fine"
                            % (sender.role, sender.proc.name))
        evidence.extend(_addr_mismatch(c, o))
        a, b = c.proc.openssl, o.proc.openssl
        if a and b and a != b:
            evidence.append("different OpenSSL on the two ends: %s vs %s" % (a, b))
        elif a and b:
            evidence.append("both ends run %s" % a)


def _versions(c, o, evidence):
    seen = ["%s %s" % (x.role, x.hello) for x in (c, o) if x is not None and x.hello]
    if seen:
        evidence.append("highest enabled versions (the version each side's ClientHello event "
                        "was logged with): %s; minimums are not logged — the refusing side's "
                        "minimum is above the other side's maximum" % ", ".join(seen))


def _compare_keys(c, o, evidence):
    for who, conn in ((c.role, c), (o.role, o)):
        d = conn.done or {}
        other = o if conn is c else c
        od = other.done or {}
        seen, held = d.get("peer_cert"), od.get("local_cert")
        if seen and held and seen.get("spki_sha256") != held.get("spki_sha256"):
            evidence.append("the %s saw public key %s… but the %s holds %s…: a different "
                            "certificate/key answered (a proxy, or a key/cert mismatch)"
                            % (who, seen.get("spki_sha256", "")[:16], other.role,
                               held.get("spki_sha256", "")[:16]))


def _expiry(c, o, evidence):
    for conn in (c, o):
        if conn is None or not conn.done:
            continue
        for k in ("peer_cert", "local_cert"):
            cert = conn.done.get(k)
            if cert and cert.get("not_after"):
                evidence.append("%s %s %s not after %s" % (conn.role, k, cert.get("subject"),
                                                           cert.get("not_after")))


def _partner_facts(c, o):
    common = set(c.crs) & set(o.crs)
    how = ("client_random %s…" % sorted(common)[0][:16] if common else
           "TCP addresses %s -> %s" % ((c.local, c.peer) if c.role == "client"
                                      else (c.peer, c.local)))
    out = ["other end: %s %s conn %s (joined by %s), outcome %s"
           % (o.role, o.proc.label(), o.id, how, o.outcome)]
    sent = [a for a in o.fatal if a.get("dir") == "sent"]
    if sent:
        out.append("the %s sent %s in state '%s'" % (o.role, sent[0].get("desc"),
                                                     sent[0].get("state")))
    recv = [a for a in o.fatal if a.get("dir") == "recv"]
    if recv and not sent:
        out.append("the %s received %s in state '%s'" % (o.role, recv[0].get("desc"),
                                                         recv[0].get("state")))
    mine_sent = [a for a in c.fatal if a.get("dir") == "sent"]
    if mine_sent and not any(a.get("dir") == "recv" and a.get("desc") == mine_sent[0].get("desc")
                             for a in o.alerts):
        out.append("the %s never received the %s alert this side sent (connection already "
                   "gone?)" % (o.role, mine_sent[0].get("desc")))
    oreasons = _reasons(o.errors)
    if oreasons:
        out.append("error queue of the %s: %s" % (o.role, "; ".join(oreasons[:3])))
    if c.role != o.role:
        out.extend(a for a in _addr_mismatch(c, o) if a not in out)
    return out


def loop_sentence(g):
    if g["kind"] == "reconnect":
        s = ("reconnect loop: %s opened %d connections to %s (%d failed); the shim's threshold "
             "of %d within %s s was crossed" % (g["proc"].name, g.get("total") or g["count"],
                                                g.get("label") or peer_label(g["peer"],
                                                                             g.get("sni")),
                                                g.get("total_failed") or g["failed"],
                                                g["count"], g["window_s"]))
    else:
        s = ("renegotiation loop: %s ran %d handshakes on conn %s within %s s"
             % (g["proc"].name, g["count"], g["conn"], g["window_s"]))
    if g.get("last_alert"):
        s += ", last alert %s" % g["last_alert"]
    return s


def loop_diagnosis(g):
    if g["kind"] == "reconnect":
        return {
            "meaning": ["The program retries at once after each failure.  The retries fail "
                        "the same way (last alert: %s), so retrying does not help and adds load "
                        "(and may get the client rate-limited or banned).  Fix the failure the "
                        "connections share; make the retry back off." % (g.get("last_alert")
                                                                        or "none")],
            "check": ["The stack below is where the program issues each new connection: "
                      "that is the retry loop.",
                      "The failure shared by these connections is diagnosed below."]}
    return {
        "meaning": ["The connection keeps renegotiating (or re-handshaking): a program calling "
                    "SSL_renegotiate/SSL_key_update in a loop, or a peer that keeps asking."],
        "check": ["The stack shows who starts the handshakes; check the peer's renegotiation "
                  "policy."]}
