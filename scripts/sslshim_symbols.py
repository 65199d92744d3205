"""Symbolizing recorded stacks.

A frame is {"ip", "obj", "off", "fn"?}.  `fn` is the name the shim resolved
in-process (exported symbols only).  Otherwise, and for the source line,
`addr2line -f -C -e OBJ off-1` is asked — `off` is a return address, so off-1
lies inside the call instruction — but only on an object that is really the
one the process ran: same GNU build id as the `module` event recorded (read
from the ELF note here, in Python), found at its path on this host, in a
`collect` bundle, or as a separate debug file under /usr/lib/debug/.build-id.

A name is only as good as what it comes from.  A stripped library (most of
a distribution's) has only its exported symbols, and both dladdr in the
process and addr2line name an address after the nearest export before it,
however far: libcurl's internal functions all show up as `curl_ws_meta`.
So, without a source line (debug information) to vouch for it, a name is
checked against the symbol tables of the object on disk, which give each
function's size: an address inside a function gets its name and offset; one
outside every function is marked a guess (`guess`: the nearest export and
how far past it the address lies), never shown as that function.
"""
import bisect
import os
import re
import shutil
import struct
import subprocess

ADDR2LINE_TIMEOUT = 60
NT_GNU_BUILD_ID = 3
PT_NOTE = 4
SHT_NOTE = 7


def read_build_id(path):
    """The GNU build id of an ELF file as lowercase hex, or None."""
    try:
        with open(path, "rb") as f:
            ident = f.read(64)
            if len(ident) < 52 or ident[:4] != b"\x7fELF":
                return None
            is64 = ident[4] == 2
            end = "<" if ident[5] == 1 else ">"
            if is64:
                phoff, shoff = struct.unpack_from(end + "QQ", ident, 32)
                phentsize, phnum, shentsize, shnum = struct.unpack_from(end + "HHHH", ident, 54)
            else:
                phoff, shoff = struct.unpack_from(end + "II", ident, 28)
                phentsize, phnum, shentsize, shnum = struct.unpack_from(end + "HHHH", ident, 42)
            regions = []
            # Program headers first: loaded objects always keep PT_NOTE.
            for i in range(min(phnum, 256)):
                f.seek(phoff + i * phentsize)
                ph = f.read(phentsize)
                if len(ph) < phentsize:
                    break
                if struct.unpack_from(end + "I", ph, 0)[0] != PT_NOTE:
                    continue
                if is64:
                    off, = struct.unpack_from(end + "Q", ph, 8)
                    size, = struct.unpack_from(end + "Q", ph, 32)
                else:
                    off, = struct.unpack_from(end + "I", ph, 4)
                    size, = struct.unpack_from(end + "I", ph, 16)
                regions.append((off, size))
            # Section headers: separate debug files keep the note as a section.
            for i in range(min(shnum, 4096) if not regions else 0):
                f.seek(shoff + i * shentsize)
                sh = f.read(shentsize)
                if len(sh) < shentsize:
                    break
                if struct.unpack_from(end + "I", sh, 4)[0] != SHT_NOTE:
                    continue
                if is64:
                    off, size = struct.unpack_from(end + "QQ", sh, 24)
                else:
                    off, size = struct.unpack_from(end + "II", sh, 16)
                regions.append((off, size))
            for off, size in regions:
                f.seek(off)
                data = f.read(min(size, 1 << 16))
                bid = _build_id_in_notes(data, end)
                if bid:
                    return bid
    except (OSError, struct.error):
        return None
    return None


def _build_id_in_notes(data, end):
    pos = 0
    while pos + 12 <= len(data):
        namesz, descsz, ntype = struct.unpack_from(end + "III", data, pos)
        pos += 12
        name = data[pos:pos + namesz]
        pos += (namesz + 3) & ~3
        desc = data[pos:pos + descsz]
        pos += (descsz + 3) & ~3
        if ntype == NT_GNU_BUILD_ID and name.rstrip(b"\0") == b"GNU":
            return desc.hex()
    return None


class Symbolizer:
    """Finds a local file for each (host, object, build id) and asks
    addr2line, one run per object for all the addresses wanted."""

    def __init__(self, this_host):
        self.this_host = this_host
        self.by_build_id = {}      # build id -> local path (bundle copies)
        self.modules = {}          # (host, path) -> build id, from module events
        self._bid_cache = {}       # local path -> build id
        self._local = {}           # (host, path) -> (local path or None, note)
        self._want = {}            # local path -> set of addresses
        self._result = {}          # (local path, address) -> (function, "file:line")
        self.addr2line = shutil.which("addr2line")
        self.nm = shutil.which("nm")
        self._funcs = {}           # local path -> [(start, end, name)] (_functions)
        self.notes = set()

    def add_module(self, host, path, build_id):
        if path and build_id:
            self.modules[(host, path)] = build_id

    def add_objects(self, objects):
        self.by_build_id.update(objects)

    def _file_build_id(self, path):
        if path not in self._bid_cache:
            self._bid_cache[path] = read_build_id(path)
        return self._bid_cache[path]

    def local_object(self, host, path):
        """(local file to give addr2line or None, why not)."""
        key = (host, path)
        if key in self._local:
            return self._local[key]
        want = self.modules.get(key)
        found, note = None, None
        if want:
            cands = [self.by_build_id.get(want), path,
                     "/usr/lib/debug/.build-id/%s/%s.debug" % (want[:2], want[2:])]
            for c in cands:
                if c and os.path.isfile(c) and self._file_build_id(c) == want:
                    found = c
                    break
            if not found:
                if os.path.isfile(path):
                    note = "build id differs on this host"
                else:
                    note = "object not on this host"
        elif host == self.this_host and os.path.isfile(path):
            found = path       # same host, no module event: the best we have
        else:
            note = "no build id recorded and not this host"
        self._local[key] = (found, note)
        return found, note

    @staticmethod
    def _address(frame):
        """The address inside the call (off is a return address), or None for
        an offset that is not a hexadecimal number of up to 16 digits."""
        off = frame.get("off")
        if type(off) is not str or len(off) > 18:
            return None
        try:
            address = int(off, 16) - 1
        except ValueError:
            return None
        return address if address >= 0 else None

    def want(self, host, frames):
        """Register the frames of a stack that will be shown."""
        if not self.addr2line:
            return
        for fr in frames:
            addr = self._address(fr)
            if addr is None or not fr.get("obj"):
                continue
            local, _ = self.local_object(host, fr["obj"])
            if local and (local, addr) not in self._result:
                self._want.setdefault(local, set()).add(addr)

    def resolve_pending(self):
        for local, addrs in self._want.items():
            addrs = sorted(addrs)
            try:
                out = subprocess.run([self.addr2line, "-f", "-C", "-e", local]
                                     + ["0x%x" % a for a in addrs],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL, universal_newlines=True,
                                     timeout=ADDR2LINE_TIMEOUT).stdout.split("\n")
            except (OSError, subprocess.SubprocessError) as e:
                self.notes.add("addr2line failed on %s: %s" % (local, e))
                continue
            for i, a in enumerate(addrs):
                fn = out[2 * i] if 2 * i < len(out) else "??"
                src = out[2 * i + 1] if 2 * i + 1 < len(out) else "??:0"
                fn = None if fn in ("??", "") else fn
                src = None if src.startswith("??") else src.split(" (discriminator")[0]
                if src and src.endswith(":0"):
                    src = None
                self._result[(local, a)] = (fn, src)
        self._want = {}

    def _functions(self, local):
        """Sorted [(start, end, name)] of the functions the object's symbol
        tables (static and dynamic) give with a size, from nm."""
        if local in self._funcs:
            return self._funcs[local]
        funcs = {}
        for extra in ([], ["-D"]):
            try:
                out = subprocess.run([self.nm, "-S", "--defined-only"] + extra + [local],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL, universal_newlines=True,
                                     timeout=ADDR2LINE_TIMEOUT).stdout
            except (OSError, subprocess.SubprocessError):
                continue
            for line in out.splitlines():
                parts = line.split()
                if len(parts) == 4 and parts[2] in "TtWwi":
                    try:
                        start, size = int(parts[0], 16), int(parts[1], 16)
                    except ValueError:
                        continue
                    if size:
                        funcs[start] = (start, start + size, parts[3].split("@")[0])
        self._funcs[local] = sorted(funcs.values())
        return self._funcs[local]

    def _check_name(self, local, addr, out):
        """Without a source line, a name holds only if the address lies inside
        that function (symbol sizes): then name+offset; else a guess."""
        if not self.nm:
            return
        funcs = self._functions(local)
        if not funcs:
            return
        i = bisect.bisect_right(funcs, (addr, float("inf"), "")) - 1
        if i >= 0 and funcs[i][0] <= addr < funcs[i][1]:
            out["name"] = "%s+0x%x" % (funcs[i][2], addr + 1 - funcs[i][0])
            return
        claimed = out["name"] or (out["fn"] or "").split("+")[0] or None
        if claimed:
            starts = [f for f in funcs if f[2] == claimed]
            past = addr + 1 - starts[0][0] if starts else None
            out["guess"] = ("nearest export %s%s, outside it" % (
                claimed, "+0x%x" % past if past is not None and past >= 0 else ""))
        out["name"] = None
        out["fn"] = None

    def frame(self, host, fr):
        """A display dict for one frame: fn (recorded), name (addr2line, or
        the symbol table), src (file:line), obj, off, note, guess."""
        out = {"obj": fr.get("obj"), "off": fr.get("off"), "fn": fr.get("fn"),
               "name": None, "src": None, "note": None, "guess": None}
        addr = self._address(fr)
        if fr.get("obj") and addr is not None:
            local, note = self.local_object(host, fr["obj"])
            if local:
                got = self._result.get((local, addr))
                if got:
                    out["name"], out["src"] = got
                elif not self.addr2line:
                    out["note"] = "addr2line not installed"
                if not out["src"]:
                    self._check_name(local, addr, out)
            else:
                out["note"] = note
        return out

    def stack(self, host, frames):
        return [self.frame(host, fr) for fr in frames or ()]


# Objects that are an interpreter: a stack through a Python (Perl, Ruby,
# Node) program has dozens of the interpreter's own frames per call of the
# script, which say nothing about where in the script the call was made.
INTERPRETER = re.compile(r"^(lib)?(python|perl|ruby|node)[\d.]*(\.so.*|d?m?)?$")
INTERPRETER_RUN = 3              # collapsed from this many consecutive frames


def display_frames(frames):
    """[(index, frame)] to show: a run of INTERPRETER_RUN or more frames in
    one interpreter object is one entry, {"collapsed": n, "obj": path}."""
    out, i = [], 0
    while i < len(frames):
        obj = frames[i].get("obj") or ""
        j = i
        if INTERPRETER.match(os.path.basename(obj)):
            while j < len(frames) and frames[j].get("obj") == obj:
                j += 1
        if j - i >= INTERPRETER_RUN:
            out.append((i, {"collapsed": j - i, "obj": obj}))
            i = j
        else:
            out.append((i, frames[i]))
            i += 1
    return out


def frame_label(f):
    """One line for a symbolized frame (see Symbolizer.frame), or for a run
    of an interpreter's frames (display_frames)."""
    if f.get("collapsed"):
        return "%d frames in %s (the interpreter running the script)" % (
            f["collapsed"], os.path.basename(f.get("obj") or "?"))
    name = f.get("fn") or f.get("name")
    if f.get("fn") and f.get("name") and f["fn"].split("+")[0] != f["name"].split("+")[0]:
        name = "%s [%s]" % (f["fn"], f["name"])       # e.g. a mangled recorded name
    obj = os.path.basename(f.get("obj") or "?")
    parts = [name or "??"]
    if f.get("guess"):
        parts[0] = "?? [%s: a guess]" % f["guess"]
    if f.get("src"):
        parts.append("at " + f["src"])
    parts.append("(%s+%s)" % (obj, f.get("off")))
    if not f.get("src") and f.get("note"):
        parts.append("[%s]" % f["note"])
    return "  ".join(parts)


def frame_short(f):
    name = (f.get("name") or f.get("fn") or "").split("+")[0]
    return name or "%s+%s" % (os.path.basename(f.get("obj") or "?"), f.get("off"))
