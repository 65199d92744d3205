/*
 * sslshim.h — the public contract of libsslshim.so.
 *
 * libsslshim.so is preloaded (LD_PRELOAD) into an unmodified program that uses
 * OpenSSL and records what its TLS connections do, one JSON object per line
 * (schema below), without a link-time dependency on libssl or libcrypto.
 *
 * Every write(2) of the log carries one or more whole lines, never part of
 * one.  Lines wait in memory only while their thread is inside an OpenSSL
 * call, and only until the next point where the program could wait or
 * leave: the call returning, libssl about to read from the peer on a
 * descriptor that blocks, a failure or alert (written at once), fork, exit.
 * seq is assigned as lines are written (gap-free in file order); ts is the
 * time of the event.
 *
 * This header states the contract: the schema version, the event names, the
 * environment variables with their defaults, and the optional runtime API.
 * README.md and ../shared/DESIGN.md say the same in prose.
 */
#ifndef SSLSHIM_H
#define SSLSHIM_H

#ifdef __cplusplus
extern "C" {
#endif

#define SSLSHIM_VERSION        "0.1.0"
#define SSLSHIM_SCHEMA_VERSION 1

/* Event names (the "ev" field of every line).  Beyond DESIGN.md's fields:
 * conn_end also has records_in/records_out (application data records,
 * whatever moved them) and stacks (stacks captured for the connection);
 * process has keylog (bool; the path itself is never logged).  A state line
 * is a transition: OpenSSL re-reporting the state it is in (after I/O that
 * would block, after post-handshake messages) writes none, and the exit of a
 * handshake call whose I/O would block is written at level io only.
 *
 * What a failed handshake needs explained (README, "What the handshake
 * said"): hello lines (dir, hs and the message's contents: versions,
 * ciphers, groups, key_shares, sigalgs, sni, alpn, session_id/ticket/psk/
 * ems/reneg; the chosen ones from ServerHello/HelloRetryRequest/
 * EncryptedExtensions; sigalgs/ca_names/cert_types from CertificateRequest;
 * `invalid` where the bytes do not parse); certs lines (dir, chain of
 * certificate objects: subject, issuer, san, not_before, not_after, serial,
 * key, bits, sig_alg, sha256, spki_sha256 — also the form of
 * handshake_done's peer_cert/local_cert); handshake_start's min_version/
 * max_version; on error lines and fatal alerts this side sends: verify
 * (code, text, depth, subject, host, ip), and before the handshake completes
 * local_offer (ciphers, min_version, max_version; groups and sigalgs when
 * the program set them through SSL_CTX_ctrl/SSL_ctrl, which the shim
 * therefore interposes; a server's alpn, the list its ALPN callback passed
 * to SSL_select_next_proto, also interposed) and peer_bytes (hex of a
 * record header that is not TLS); eof (true) on the error or OpenSSL 3
 * decode_error alert of a peer closing without close_notify, and conn_end
 * outcome "eof" when that ends a connection after its data.  An error line
 * with fn "BIO_f_ssl" is a handshake libssl drove through an SSL BIO. */
#define SSLSHIM_EV_PROCESS         "process"         /* first line of every file */
#define SSLSHIM_EV_CONN_NEW        "conn_new"        /* SSL_new (level io) */
#define SSLSHIM_EV_HANDSHAKE_START "handshake_start"
#define SSLSHIM_EV_STATE           "state"           /* state-machine transition */
#define SSLSHIM_EV_MSG             "msg"             /* handshake/CCS/alert record */
#define SSLSHIM_EV_HELLO           "hello"           /* a hello-phase message's contents */
#define SSLSHIM_EV_CERTS           "certs"           /* a Certificate message's chain */
#define SSLSHIM_EV_ALERT           "alert"
#define SSLSHIM_EV_HANDSHAKE_DONE  "handshake_done"
#define SSLSHIM_EV_CALL            "call"            /* every API call (level io) */
#define SSLSHIM_EV_DATA            "data"            /* plaintext (level data) */
#define SSLSHIM_EV_ERROR           "error"
#define SSLSHIM_EV_LOOP            "loop"
#define SSLSHIM_EV_MISUSE          "misuse"
#define SSLSHIM_EV_CONN_END        "conn_end"
#define SSLSHIM_EV_MODULE          "module"
#define SSLSHIM_EV_UNDEFINED_DATA  "undefined_data"
/* dropped.reason: "disk full", "file size limit", "read-only", "would block",
 * "no reader" (the syslog daemon or a FIFO's reader went away), "cannot open",
 * "write failed", "memory". */
#define SSLSHIM_EV_DROPPED         "dropped"
#define SSLSHIM_EV_NOTE            "note"

/* Environment variables and their defaults. */
#define SSLSHIM_ENV_LOG            "SSLSHIM_LOG"     /* stderr | syslog[:FACILITY[:TAG[:SOCKET]]]
                                                        | path template | dir/ */
#define SSLSHIM_DEFAULT_LOG        "/tmp/sslshim-%u/%e.%p.jsonl" /* %u: uid, default only */
#define SSLSHIM_ENV_FORMAT         "SSLSHIM_FORMAT"  /* json | text (text for stderr) */
#define SSLSHIM_ENV_LEVEL          "SSLSHIM_LEVEL"   /* errors | handshake | io | data */
#define SSLSHIM_DEFAULT_LEVEL      "handshake"
#define SSLSHIM_ENV_STACKS         "SSLSHIM_STACKS"  /* none | errors | handshake | all */
#define SSLSHIM_DEFAULT_STACKS     "errors"
#define SSLSHIM_ENV_STACK_DEPTH    "SSLSHIM_STACK_DEPTH" /* 1..128 */
#define SSLSHIM_DEFAULT_STACK_DEPTH 32
#define SSLSHIM_ENV_LOOP           "SSLSHIM_LOOP"    /* N/S */
#define SSLSHIM_DEFAULT_LOOP       "5/10"
#define SSLSHIM_ENV_MODE           "SSLSHIM_MODE"    /* stream | flight */
#define SSLSHIM_DEFAULT_MODE       "stream"
#define SSLSHIM_ENV_FLIGHT_EVENTS  "SSLSHIM_FLIGHT_EVENTS"
#define SSLSHIM_DEFAULT_FLIGHT_EVENTS 64
#define SSLSHIM_ENV_MAX_SIZE       "SSLSHIM_MAX_SIZE"   /* 0: never rotate */
#define SSLSHIM_DEFAULT_MAX_SIZE   "100M"
#define SSLSHIM_ENV_MAX_FILES      "SSLSHIM_MAX_FILES"
#define SSLSHIM_DEFAULT_MAX_FILES  3
#define SSLSHIM_ENV_KEYLOG         "SSLSHIM_KEYLOG"  /* NSS key log path; unset = off */
/* Unless SSLSHIM_KEYLOG is set, the standard variable names the key log; a
 * program that writes its keys there itself (its own key log callback) is
 * left to it. */
#define SSLSHIM_ENV_STANDARD_KEYLOG "SSLKEYLOGFILE"
#define SSLSHIM_ENV_DATA_BYTES     "SSLSHIM_DATA_BYTES"
#define SSLSHIM_DEFAULT_DATA_BYTES 64
#define SSLSHIM_ENV_EXE            "SSLSHIM_EXE"     /* comma-separated names; unset = all */
#define SSLSHIM_ENV_VALGRIND       "SSLSHIM_VALGRIND" /* auto | off */
#define SSLSHIM_ENV_DISABLE        "SSLSHIM_DISABLE" /* 1 = inert */
/* @NAME: the shim's warning lines also go, one datagram each, to the
 * abstract Unix socket NAME (`sslshim run` listens there, so that a
 * worker's warning reaches the terminal wherever its stderr went). */
#define SSLSHIM_ENV_NOTIFY         "SSLSHIM_NOTIFY"

/*
 * Optional runtime API.  A program that wants to mark its own milestones in
 * the log can look this up with dlsym(RTLD_DEFAULT, "sslshim_note") so that it
 * still runs without the shim.  Writes a "note" event with the given text;
 * does nothing while the shim is inert.  Safe from any thread.
 */
void sslshim_note(const char *text);

#ifdef __cplusplus
}
#endif
#endif /* SSLSHIM_H */
