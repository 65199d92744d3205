"""One test per interposed function, driven by the table shim/interposed.def:
each behaves under the shim exactly as without it, and each API call (not the
callback setters and getters) is seen by the shim."""
import os
import re
import unittest

from lib import ROOT, ShimTest, certs, events, fixture, logs, plain_env, run

with open(os.path.join(ROOT, "shim", "interposed.def")) as f:
    TABLE = re.findall(r"^X\((\w+)", f.read(), re.M)

CALLBACK_FUNCTIONS = {n for n in TABLE if "callback" in n}
# The ctrl functions set and read settings, SSL_select_next_proto is what
# ALPN callbacks call: no call line (settings.c and messages.c note the lists
# libssl has no getter for).
NOT_A_CALL_EVENT = CALLBACK_FUNCTIONS | {"SSL_new", "SSL_free", "SSL_CTX_ctrl", "SSL_ctrl",
                                         "SSL_select_next_proto"}


class EachFunction(ShimTest):
    outputs = None

    def run_probe(self):
        if EachFunction.outputs is None:
            c = certs()
            cmd = [fixture("every_call"), c["server.pem"], c["server.key"]]
            plain = run(cmd, env=plain_env(), universal_newlines=True)
            # with the key log on, so the program's own key log callback is chained
            keylog = os.path.join(self.tmp, "keys.txt")
            shim = run(cmd, env=self.env(SSLSHIM_LEVEL="io", SSLSHIM_KEYLOG=keylog),
                       universal_newlines=True)
            with open(keylog) as f:
                self.assertGreaterEqual(len(f.readlines()), 8)
            evs = [e for es in logs(self.logdir).values() for e in es]
            EachFunction.outputs = (plain, shim, evs)
        return EachFunction.outputs

    def check(self, name):
        plain, shim, evs = self.run_probe()
        self.assertEqual(plain.returncode, 0, plain.stderr)
        self.assertIn("CHECKED " + name + "\n", plain.stdout)
        self.assertIn("CHECKED " + name + "\n", shim.stdout)
        self.assertEqual(shim.stdout, plain.stdout)
        self.assertEqual(shim.returncode, plain.returncode)
        if name == "SSL_new":
            self.assertEqual(len(events(evs, "conn_new")), 2)
        elif name == "SSL_free":
            self.assertEqual(len(events(evs, "conn_end")), 2)
        elif name not in NOT_A_CALL_EVENT:
            self.assertTrue(events(evs, "call", fn=name), name)


def make_test(name):
    return lambda self: self.check(name)


for _name in TABLE:
    setattr(EachFunction, "test_" + _name, make_test(_name))

if __name__ == "__main__":
    unittest.main()
