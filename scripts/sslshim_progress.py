"""Progress of a long read, on stderr, for a person watching a terminal.

Nothing is shown for the first two seconds (most reports are done by then),
nor ever when stderr is not a terminal (a pipe, a file, CI): the line would
only be noise in what a script keeps.  Then one line, rewritten in place at
most four times a second, says how far the read has come; it is erased when
the read ends, so the report starts on a clean line.
"""
import os
import time

AFTER_S = 2.0
EVERY_S = 0.25


def _size(n):
    return "%d KB" % (n >> 10) if n < 10 << 20 else "%s MB" % format(n >> 20, ",")


class Progress:
    def __init__(self, stream, total_bytes=None, after=AFTER_S, clock=time.monotonic):
        try:
            self.on = stream is not None and stream.isatty()
        except (AttributeError, ValueError):
            self.on = False
        self.stream = stream
        self.total = total_bytes            # on disk; None when unknown (a pipe)
        self.clock = clock
        self.start = clock()
        self.next = self.start + after
        self.lines = 0
        self.bytes = 0
        self.spool = 0
        self.shown = False

    @staticmethod
    def size_of(paths):
        """Bytes on disk of the paths, None if any is not a regular file."""
        total = 0
        for p in paths:
            if p == "-":
                return None
            try:
                st = os.stat(p)
            except OSError:
                continue                    # named as unreadable by the reader
            if not os.path.isfile(p):
                return None
            total += st.st_size
        return total

    def advance(self, block):
        """Called with each block of lines read (their newlines gone):
        nothing at all unless stderr is a terminal."""
        if self.on:
            self.lines += len(block)
            self.bytes += sum(map(len, block)) + len(block)
            self._tick()

    def spooled(self, nbytes):
        """Bytes copied from a pipe (stdin, `ssh host cat log |`), before
        its lines are read: a slow pipe is where progress is wanted most."""
        if self.on:
            self.spool += nbytes
            self._tick()

    def _tick(self):
        now = self.clock()
        if now >= self.next:
            self.next = now + EVERY_S
            self._show(now)

    def _show(self, now):
        if self.spool and not self.lines:
            text = "sslshim report: %s received" % _size(self.spool)
        else:
            text = "sslshim report: %s lines read" % format(self.lines, ",")
        if self.total and self.lines:
            # compressed inputs give more bytes than the disk holds: no share then
            if self.bytes <= self.total:
                text += ", %d of %d MB (%d%%)" % (self.bytes >> 20, self.total >> 20,
                                                  100 * self.bytes // self.total)
        text += ", %d s" % (now - self.start)
        self._write("\r" + text + "\x1b[K")

    def done(self):
        if self.shown:
            self._write("\r\x1b[K")
            self.shown = False

    def _write(self, s):
        try:
            self.stream.write(s)
            self.stream.flush()
            self.shown = True
        except (OSError, ValueError):
            self.on = False
