"""Hosts made of namespaces, for tests of what crosses machines (the fleet's
rsyslog pipeline).

A Host is a process (`unshare`) holding a network, mount and UTS namespace:
its own host name, its own loopback, and its own view of the files a
syslog daemon and its configuration touch, so the stock Debian
/etc/rsyslog.conf runs there as it is, unchanged:

  /etc              an overlay on the machine's /etc: files the test adds
                    (rsyslog.d/*.conf, certificates, hosts) go to the test's
                    directory, the machine's /etc is never written
  /var/log, /var/spool/rsyslog   the test's directories
  /run, /dev        private: the daemon's /dev/log and sockets are the
                    host's own (/dev keeps null, zero, random, urandom, tty)
  /proc/kmsg        /dev/null: the stock configuration's imklog must not
                    take the kernel's messages from the machine

Programs run in it with `nsenter`.  Hosts are joined by veth pairs to a
bridge in one of them (`link`), on addresses of the test's making; nothing
reaches the machine's own network.  Every process is stopped by its PID;
the namespaces go with the last process in them.
"""
import os
import shutil
import subprocess
import time

import lib

SETUP = r"""
set -eu
D=$1
hostname "$2"
ip link set lo up
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$D/etc,workdir=$D/.etc-work" /etc
mount --bind "$D/log" /var/log
mount --bind "$D/spool" /var/spool/rsyslog
mount -t tmpfs -o mode=755 tmpfs /run
mount --bind /dev "$D/.dev"
mount -t tmpfs -o mode=755 tmpfs /dev
for n in null zero full random urandom tty; do
    touch "/dev/$n"
    mount --bind "$D/.dev/$n" "/dev/$n"
done
umount "$D/.dev"
ln -s /proc/self/fd /dev/fd
ln -s fd/0 /dev/stdin; ln -s fd/1 /dev/stdout; ln -s fd/2 /dev/stderr
mkdir /dev/pts /dev/shm
mount --bind /dev/null /proc/kmsg
echo READY
exec sleep "$3"
"""

HOLD_S = 900          # a holder outlives no test by more than this


def available():
    """Why namespaces cannot be made here, or None."""
    if os.geteuid() != 0:
        return "needs root (namespaces, mounts)"
    for tool in ("unshare", "nsenter", "ip"):
        if not shutil.which(tool):
            return "%s is not installed" % tool
    r = subprocess.run(["unshare", "--net", "--mount", "--uts", "true"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=10)
    if r.returncode != 0:
        return "cannot make namespaces: " + r.stderr.decode(errors="replace").strip()
    return None


class Host:
    def __init__(self, name, root, etc_files=None):
        """etc_files: {path under /etc: text} the host has on top of the
        machine's /etc (written before the overlay is mounted)."""
        self.name = name
        self.dir = os.path.join(root, name)
        for d in ("etc", ".etc-work", "log", "spool", ".dev"):
            os.makedirs(os.path.join(self.dir, d), exist_ok=True)
        for path, text in (etc_files or {}).items():
            self.write_etc(path, text)
        self.procs = []
        self.holder = subprocess.Popen(
            ["unshare", "--net", "--mount", "--uts", "--propagation", "private", "--",
             "sh", "-c", SETUP, "setup", self.dir, name, str(HOLD_S)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.holder.stdout.readline()
        if line.strip() != b"READY":
            self.holder.kill()
            err = self.holder.stderr.read().decode(errors="replace")
            raise AssertionError("host %s: namespace setup failed: %s" % (name, err[-2000:]))
        self.pid = self.holder.pid

    def write_etc(self, path, text, mode=0o644):
        p = os.path.join(self.dir, "etc", path.lstrip("/").split("/", 1)[1]
                         if path.startswith("/etc/") else path)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)

    def file(self, path):
        """Where a file the host sees at `path` is, seen from outside."""
        for inside, outside in (("/var/log/", "log"), ("/var/spool/rsyslog/", "spool"),
                                ("/etc/", "etc")):
            if path.startswith(inside):
                return os.path.join(self.dir, outside, path[len(inside):])
        raise ValueError("%s is not a file of the host's own" % path)

    def argv(self, argv):
        return ["nsenter", "-t", str(self.pid), "-n", "-m", "-u", "--"] + list(argv)

    def start(self, argv, env=None):
        """A background process on this host (stopped by its PID at close)."""
        p = lib.Proc(self.argv(argv), env=env)
        self.procs.append(p)
        return p

    def run(self, argv, env=None, timeout=60, **kw):
        return lib.run(self.argv(argv), env=env, timeout=timeout, **kw)

    def sh(self, script, timeout=30):
        r = self.run(["sh", "-c", script], timeout=timeout, universal_newlines=True)
        if r.returncode != 0:
            raise AssertionError("host %s: %s: %s" % (self.name, script, r.stderr[-2000:]))
        return r.stdout

    def close(self):
        for p in reversed(self.procs):
            p.stop()
        if self.holder.poll() is None:
            self.holder.kill()
        self.holder.wait(timeout=10)
        self.holder.stdout.close()
        self.holder.stderr.close()


def link(hub, hosts, subnet):
    """Join hosts to a bridge in `hub`: hub gets subnet.1, the hosts
    subnet.2, .3, ... in order.  Returns {host name: address}."""
    addrs = {hub.name: subnet + ".1"}
    hub.sh("ip link add br0 type bridge && ip addr add %s.1/24 dev br0 && ip link set br0 up"
           % subnet)
    for i, h in enumerate(hosts, 2):
        port = "p%d" % i
        r = lib.run(["ip", "link", "add", "eth0", "netns", str(h.pid), "type", "veth",
                     "peer", "name", port, "netns", str(hub.pid)], universal_newlines=True)
        if r.returncode != 0:
            raise AssertionError("veth for %s: %s" % (h.name, r.stderr))
        hub.sh("ip link set %s master br0 && ip link set %s up" % (port, port))
        h.sh("ip addr add %s.%d/24 dev eth0 && ip link set eth0 up" % (subnet, i))
        addrs[h.name] = "%s.%d" % (subnet, i)
    return addrs


def wait_for_file(path, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return True
        time.sleep(0.05)
    return False
