"""The log format as the reader enforces it: for each event, the fields that
`sslshim report` and `sslshim collect` read and what each must hold.

A log is input the shim did not necessarily write: a file cut short, edited
by hand, mangled in transit, or made to hurt.  problem(kind, event) checks one
decoded line against this table, once, where lines are parsed; the analysis
after it then reads fields without guarding each use.  A line that does not
fit is named and skipped, never half-used.

Types follow what the shim writes (include/sslshim.h, shim/*.c): a string
field may be null (the shim writes null for a string it does not have), every
number is an integer (not a fraction; the decoder refuses NaN and Infinity),
booleans are true/false.  Fields that nothing reads are not checked.  Nested
values are checked down to their leaves, which must be plain values, so
nothing the report keeps or prints nests deeper than the shim's own output.
"""
import itertools
import re

NoneType = type(None)

# What the shim writes for `ts` and loop's `first_ts`: RFC 3339 UTC with
# microseconds (any fraction is accepted).  Checked so that times compare as
# strings in time order and parse as numbers wherever they are used.
TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?Z\Z")
_is_time = TIME.match

STR = frozenset((str,))
STR_OR_NULL = frozenset((str, NoneType))
INT = frozenset((int,))                 # type() of true/false is bool: not accepted
INT_OR_NULL = frozenset((int, NoneType))
BOOL_OR_NULL = frozenset((bool, NoneType))
LIST_OR_NULL = frozenset((list, NoneType))
OBJECT_OR_NULL = frozenset((dict, NoneType))
STR_INT_OR_NULL = frozenset((str, int, NoneType))
SCALAR = frozenset((str, int, bool, NoneType))
_DICT = frozenset((dict,))

TYPE_NAMES = {str: "a string", int: "an integer", bool: "true/false", NoneType: "null",
              list: "a list", dict: "an object", float: "a number with a fraction"}


# -- nested values: a check returns True when the value fits -----------------

def _object_of(leaves):
    """An object whose values are all of the types leaves."""
    def check(obj):
        return type(obj) is dict and leaves.issuperset(map(type, obj.values()))
    return check


def _list_of(leaves):
    """A list whose items are all of the types leaves."""
    def check(items):
        return type(items) is list and leaves.issuperset(map(type, items))
    return check


def _list_of_objects_of(leaves):
    """A list of objects whose values are all of the types leaves (stack
    frames): checked a whole list at a time."""
    def check(items):
        return (type(items) is list and _DICT.issuperset(map(type, items))
                and leaves.issuperset(map(type, itertools.chain.from_iterable(
                    map(dict.values, items)))))
    return check


def _object(fields):
    """An object whose fields (name: allowed types) fit, whatever else it has."""
    def check(obj):
        return type(obj) is dict and all(type(obj.get(key)) in allowed
                                         for key, allowed in fields.items())
    return check


def _list_of_objects(fields):
    fits = _object(fields)

    def check(items):
        return type(items) is list and all(map(fits, items))
    return check


def _time(ts):
    return type(ts) is str and _is_time(ts) is not None


def _all(*checks):
    def check(value):
        return all(fits(value) for fits in checks)
    return check


SCALAR_OR_STRINGS = frozenset((str, int, bool, NoneType, list))


def _flat_object(obj):
    """An object of plain values and lists of strings (nothing deeper)."""
    return (type(obj) is dict and SCALAR_OR_STRINGS.issuperset(map(type, obj.values()))
            and all(STR.issuperset(map(type, v)) for v in obj.values() if type(v) is list))


VERIFY_FIELDS = {"code": INT_OR_NULL, "text": STR_OR_NULL, "depth": INT_OR_NULL,
                 "subject": STR_OR_NULL, "host": STR_OR_NULL, "ip": STR_OR_NULL}
_verify_object = _all(_object_of(SCALAR), _object(VERIFY_FIELDS))


def _verify(verify):
    # an object {code, text, depth, subject, host, ip}; a plain string from older shims
    return type(verify) is str or _verify_object(verify)


STRINGS_OR_NULL = frozenset((list, NoneType))
# A certificate (issue 14): names read by the report are checked by name;
# sha256 and spki_sha256 (digits in their names, see GoodLines) only as
# plain values, and the analysis reads them as strings or not at all.
CERT_FIELDS = {"subject": STR_OR_NULL, "issuer": STR_OR_NULL, "san": STRINGS_OR_NULL,
               "not_before": STR_OR_NULL, "not_after": STR_OR_NULL, "serial": STR_OR_NULL,
               "key": STR_OR_NULL, "bits": INT_OR_NULL, "sig_alg": STR_OR_NULL,
               "invalid": BOOL_OR_NULL, "len": INT_OR_NULL}
_cert = _all(_flat_object, _object(CERT_FIELDS))


def _chain(items):
    return type(items) is list and all(map(_cert, items))


# key_check on a server's bad_record_mac: does its private key belong to the
# certificate it sent
KEY_CHECK_FIELDS = {"match": BOOL_OR_NULL, "key": STR_OR_NULL}
_key_check = _all(_object_of(SCALAR), _object(KEY_CHECK_FIELDS))

# local_offer on failure events: this side's own settings
OFFER_FIELDS = {"ciphers": STRINGS_OR_NULL, "groups": STRINGS_OR_NULL,
                "min_version": STR_OR_NULL, "max_version": STR_OR_NULL}
_offer = _all(_flat_object, _object(OFFER_FIELDS))


def _strings(items):
    return type(items) is list and STR.issuperset(map(type, items))


def _alpn(value):
    # a list in ClientHello, one string in ServerHello and EncryptedExtensions
    return type(value) is str or _strings(value)


def _cert_types(items):
    return type(items) is list and frozenset((str, int)).issuperset(map(type, items))


QUEUE_ENTRY = {"code": STR_INT_OR_NULL, "lib": STR_OR_NULL, "reason": STR_OR_NULL,
               "file": STR_OR_NULL, "line": STR_INT_OR_NULL, "func": STR_OR_NULL,
               "data": STR_OR_NULL}


# field: (check, what the field must be, said when it is not)
NESTED = {
    "first_ts": (_time, "an RFC 3339 UTC time like 2026-01-31T23:59:59.123456Z"),
    "stack": (_list_of_objects_of(STR_OR_NULL), "a list of frames (objects of strings)"),
    "other_stack": (_list_of_objects_of(STR_OR_NULL), "a list of frames (objects of strings)"),
    "queue": (_list_of_objects(QUEUE_ENTRY), "a list of OpenSSL errors {code, lib, reason, "
              "file, line, func, data}"),
    "peer_cert": (_cert, "a certificate (an object of strings, numbers and name lists)"),
    "local_cert": (_cert, "a certificate (an object of strings, numbers and name lists)"),
    "chain": (_chain, "a list of certificates"),
    "verify": (_verify, "a verify result {code, text, depth, subject, host, ip}"),
    "local_offer": (_offer, "this side's offer {ciphers, groups, min_version, max_version}"),
    "key_check": (_key_check, "a key check {match, key}"),
    "versions": (_strings, "a list of strings"),
    "ciphers": (_strings, "a list of strings"),
    "groups": (_strings, "a list of strings"),
    "key_shares": (_strings, "a list of strings"),
    "sigalgs": (_strings, "a list of strings"),
    "ca_names": (_strings, "a list of strings"),
    "cert_types": (_cert_types, "a list of names or numbers"),
    "alpn": (_alpn, "a string or a list of strings"),
    "argv": (_list_of(STR), "a list of strings"),
    "config": (_object_of(SCALAR), "an object of strings, integers and true/false"),
}


# -- the events -----------------------------------------------------------------

COMMON = {"ts": STR, "ev": STR, "host": STR, "pid": INT, "tid": INT_OR_NULL,
          "seq": INT_OR_NULL}
REQUIRED = ("ts", "host", "pid")
STACK = {"stack": LIST_OR_NULL}
CONN = {"conn": INT}         # absent from some loop and note events, never null
# what a failing side knew (issue 14): its verify result, its own offer
FAILURE = {"verify": frozenset((dict, str, NoneType)), "local_offer": OBJECT_OR_NULL}
# a hello list cut at 64 entries says how many were left out
MORE = {name + "_more": INT_OR_NULL for name in ("versions", "ciphers", "groups", "key_shares",
                                                 "sigalgs", "alpn", "ca_names", "cert_types")}

EVENTS = {
    # kind: (fields read beyond COMMON and their types,
    #        fields beyond REQUIRED that must be there, if only as null)
    "process": ({"v": INT_OR_NULL, "exe": STR_OR_NULL, "argv": LIST_OR_NULL,
                 "ppid": INT_OR_NULL, "openssl": STR_OR_NULL, "libssl": STR_OR_NULL,
                 "shim": STR_OR_NULL, "config": OBJECT_OR_NULL, "valgrind": BOOL_OR_NULL}, ()),
    "conn_new": ({**CONN}, ("conn",)),
    "handshake_start": ({"role": STR_OR_NULL, "peer": STR_OR_NULL, "local": STR_OR_NULL,
                         "sni": STR_OR_NULL, "n": INT_OR_NULL, "attempt": INT_OR_NULL,
                         "entry": STR_OR_NULL, "min_version": STR_OR_NULL,
                         "max_version": STR_OR_NULL, **STACK, **CONN}, ("conn",)),
    "state": ({"state": STR, "where": STR_OR_NULL, "ret": INT_OR_NULL, **CONN},
              ("conn", "state")),
    "msg": ({"dir": STR, "type": STR_OR_NULL, "hs": STR_INT_OR_NULL, "len": INT_OR_NULL,
             "version": STR_OR_NULL, **CONN}, ("conn", "dir")),
    "alert": ({"dir": STR, "level": STR_OR_NULL, "desc": STR_OR_NULL, "code": INT_OR_NULL,
               "text": STR_OR_NULL, "line": STR_OR_NULL, "state": STR_OR_NULL,
               "key_check": OBJECT_OR_NULL, **FAILURE, **STACK, **CONN},
              ("conn", "dir", "desc")),
    # issue 14: what a hello-phase message said, and the certificates passed
    "hello": ({"dir": STR, "hs": STR, "legacy_version": STR_OR_NULL, "version": STR_OR_NULL,
               "versions": LIST_OR_NULL, "ciphers": LIST_OR_NULL, "groups": LIST_OR_NULL,
               "key_shares": LIST_OR_NULL, "sigalgs": LIST_OR_NULL, "sni": STR_OR_NULL,
               "alpn": frozenset((str, list, NoneType)), "session_id": BOOL_OR_NULL,
               "ticket": BOOL_OR_NULL, "psk": BOOL_OR_NULL, "ems": BOOL_OR_NULL,
               "reneg": BOOL_OR_NULL, "cipher": STR_OR_NULL, "key_share": STR_OR_NULL,
               "sni_ack": BOOL_OR_NULL, "early_data": BOOL_OR_NULL, "ca_names": LIST_OR_NULL,
               "cert_types": LIST_OR_NULL, "invalid": STR_OR_NULL, **MORE, **CONN},
              ("conn", "dir", "hs")),
    "certs": ({"dir": STR, "chain": frozenset((list,)), **CONN}, ("conn", "dir", "chain")),
    "handshake_done": ({"version": STR_OR_NULL, "cipher": STR_OR_NULL, "group": STR_OR_NULL,
                        "alpn": STR_OR_NULL, "resumed": BOOL_OR_NULL, "ms": INT_OR_NULL,
                        "sni": STR_OR_NULL, "client_random": STR_OR_NULL,
                        "verify": frozenset((dict, str, NoneType)),
                        "peer_cert": OBJECT_OR_NULL, "local_cert": OBJECT_OR_NULL, **CONN},
                       ("conn",)),
    "call": ({"fn": STR_OR_NULL, "ret": INT_OR_NULL, "bytes": INT_OR_NULL,
              "err": STR_OR_NULL, **CONN}, ("conn",)),
    "data": ({}, ()),
    "error": ({"fn": STR_OR_NULL, "ret": INT_OR_NULL, "err": STR_OR_NULL,
               "errno": INT_OR_NULL, "sys": STR_OR_NULL, "queue": LIST_OR_NULL,
               "state": STR_OR_NULL, "peer_bytes": STR_OR_NULL, "eof": BOOL_OR_NULL,
               **FAILURE, **STACK, **CONN}, ("conn",)),
    "loop": ({"kind": STR_OR_NULL, "peer": STR_OR_NULL, "sni": STR_OR_NULL,
              "count": INT_OR_NULL, "window_s": INT_OR_NULL, "failed": INT_OR_NULL,
              "first_ts": STR_OR_NULL, "last_alert": STR_OR_NULL, **STACK, **CONN}, ()),
    "misuse": ({"kind": STR_OR_NULL, "fn": STR_OR_NULL, "other_tid": INT_OR_NULL,
                "other_fn": STR_OR_NULL, "parent_pid": INT_OR_NULL,
                "other_stack": LIST_OR_NULL, **STACK, **CONN}, ("conn",)),
    "conn_end": ({"role": STR_OR_NULL, "peer": STR_OR_NULL, "sni": STR_OR_NULL,
                  "handshakes": INT_OR_NULL, "app_data": BOOL_OR_NULL,
                  "bytes_in": INT_OR_NULL, "bytes_out": INT_OR_NULL,
                  "alerts_sent": INT_OR_NULL, "alerts_recv": INT_OR_NULL,
                  "last_alert": STR_OR_NULL, "last_state": STR_OR_NULL,
                  "outcome": STR_OR_NULL, "ms": INT_OR_NULL, "client_random": STR_OR_NULL,
                  **CONN}, ("conn",)),
    "module": ({"path": STR_OR_NULL, "build_id": STR_OR_NULL}, ("path",)),
    "undefined_data": ({"fn": STR_OR_NULL, "len": INT_OR_NULL, "offset": INT_OR_NULL,
                        **STACK, **CONN}, ("conn",)),
    "dropped": ({"n": INT_OR_NULL, "reason": STR_OR_NULL}, ()),
    "note": ({"text": STR_OR_NULL, **CONN}, ()),
}


class Spec:
    """How to check one kind of event: the types of its fields, the ones it
    must have, the nested ones to check further."""
    __slots__ = ("types", "required", "nested")

    def __init__(self, fields, required):
        self.types = dict(COMMON, **fields)
        self.required = frozenset(REQUIRED + required)
        self.nested = tuple((key,) + NESTED[key] for key in NESTED if key in self.types)

    def problem(self, ev):
        """What is wrong with ev, or None."""
        if not self.required <= ev.keys():
            return '"%s" is missing' % sorted(self.required - ev.keys())[0]
        types = self.types
        for key, value in ev.items():
            allowed = types.get(key)
            if allowed is not None and type(value) not in allowed:
                return '"%s" is %s, expected %s' % (key, _type_name(value), _expected(allowed))
        if not _is_time(ev["ts"]):
            return '"ts" is not %s: %s' % (NESTED["first_ts"][1], excerpt(ev["ts"]))
        for key, fits, what in self.nested:
            value = ev.get(key)
            if value is not None and not fits(value):
                return '"%s" is not %s' % (key, what)
        return None


SPECS = {kind: Spec(fields, required) for kind, (fields, required) in EVENTS.items()}
KNOWN_EVENTS = frozenset(SPECS)


class GoodLines:
    """The fast path: lines found good, remembered with their digits zeroed.

    Checking every field of every line costs as much as parsing it, and the
    lines of a log differ mostly in their digits (times, counters, lengths),
    which cannot change what Spec.problem finds: no field it checks by name
    has a digit in its name (a certificate's sha256 and spki_sha256, and
    frames, are checked by their values alone), a number is a number
    whatever its digits, a time's form is
    checked digit by digit as [0-9].  So a line that reads like a good one but
    for its digits is good too.  Not a line with a backslash: "\\u0070id" is
    "pid" where "\\u0071id" is not.  Memory is bounded: past MAX_BYTES the
    lines remembered are forgotten and remembering starts again."""
    ZERO_DIGITS = bytes.maketrans(b"123456789", b"000000000")
    MAX_LINE = 4096
    MAX_BYTES = 8 << 20

    def __init__(self):
        self.lines = set()
        self.size = 0

    def remember(self, fingerprint):
        if self.size + len(fingerprint) > self.MAX_BYTES:
            self.lines.clear()
            self.size = 0
        self.lines.add(fingerprint)
        self.size += len(fingerprint)


_NAMED = set(COMMON).union(*(fields for fields, _ in EVENTS.values()), QUEUE_ENTRY,
                           VERIFY_FIELDS, CERT_FIELDS, OFFER_FIELDS, KEY_CHECK_FIELDS)
assert not any(ch.isdigit() for name in _NAMED for ch in name), "see GoodLines"
_good_lines = GoodLines()


def problem(kind, ev, raw=None):
    """What is wrong with event ev of a known kind, as a phrase naming the
    field; None when every field read from it has the right type and form.
    raw, the line ev was decoded from, lets a line like one already found
    good pass at once (GoodLines).  Hot path: every line comes here."""
    fingerprint = None
    # (92 is the backslash: an integer is found in bytes without the detour
    # that a bytes needle takes, a tenth of the cost of checking a line)
    if raw is not None and len(raw) <= GoodLines.MAX_LINE and 92 not in raw:
        fingerprint = raw.translate(GoodLines.ZERO_DIGITS)
        if fingerprint in _good_lines.lines:
            return None
    wrong = SPECS[kind].problem(ev)
    if wrong is None and fingerprint is not None:
        _good_lines.remember(fingerprint)
    return wrong


def _type_name(value):
    name = TYPE_NAMES.get(type(value), type(value).__name__)
    if type(value) in (str, int):
        return "%s (%s)" % (name, excerpt(value))
    return name


def _expected(allowed):
    return " or ".join(TYPE_NAMES[t] for t in (str, int, bool, list, dict, NoneType)
                       if t in allowed)


def excerpt(value, width=40):
    """A value as a message may quote it: its repr, cut to width characters."""
    if type(value) is int and value.bit_length() > 128:
        return "an integer of %d bits" % value.bit_length()
    text = repr(value[:width + 1] if type(value) is str else value)
    return text if len(text) <= width else text[:width] + "..."
