#!/usr/bin/env python3
"""Run sslshim's tests: the C unit tests in build/tests/unit, then the
integration tests in tests/test_*.py.  Ends with one line the CI reads:
`N passed, N failed, N skipped`.  Usage: run.py [NAME_SUBSTRING...]"""
import glob
import os
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lib  # noqa: E402


class UnitBinary(unittest.TestCase):
    """One C unit-test program: passes when it exits 0."""

    def __init__(self, path):
        super().__init__("runTest")
        self.path = path

    def id(self):
        return "unit." + os.path.basename(self.path)

    def __str__(self):
        return self.id()

    def runTest(self):
        # The fuzzing harnesses (a million inputs each) take tens of seconds.
        r = lib.run([self.path], universal_newlines=True, timeout=600)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])


class Result(unittest.TextTestResult):
    def startTest(self, test):
        self._t0 = time.time()
        super().startTest(test)

    def stopTest(self, test):
        super().stopTest(test)
        self.stream.write("    (%.1fs)\n" % (time.time() - self._t0))


def collect(filters):
    suite = unittest.TestSuite()
    for path in sorted(glob.glob(os.path.join(lib.BUILD, "tests", "unit", "*"))):
        if os.access(path, os.X_OK):
            suite.addTest(UnitBinary(path))
    loader = unittest.TestLoader()
    for path in sorted(glob.glob(os.path.join(HERE, "test_*.py"))):
        mod = os.path.splitext(os.path.basename(path))[0]
        suite.addTests(loader.loadTestsFromName(mod))
    if not filters:
        return suite

    def flatten(s):
        for t in s:
            if isinstance(t, unittest.TestSuite):
                yield from flatten(t)
            else:
                yield t
    return unittest.TestSuite(t for t in flatten(suite) if any(f in t.id() for f in filters))


def main():
    suite = collect(sys.argv[1:])
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2, resultclass=Result)
    result = runner.run(suite)
    failed = len(result.failures) + len(result.errors)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed or result.testsRun == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
