"""A network namespace joined to this one by a veth pair, for tests that
cut and heal a link.

    with netns.Link() as link:
        p = link.popen(["jq-worker", "--server", "%s:%d" % (link.host_ip, port)])
        link.cut()      # both directions dropped silently, as a partition
        link.heal()

The pair is a /30 of 10.231.0.0/16: link.host_ip is this namespace's end,
link.peer_ip the other namespace's.  Neither end gets a route to anywhere
else, and a cut is a blackhole route for the other end's address on each
side (packets are dropped without an error, the connected route stays
shadowed), so test traffic never goes to any other address.  Needs root
and `ip` (iproute2); unavailable() says why not.  Links are numbered
under a lock file, so parallel tests get distinct names and subnets.
"""

import fcntl
import os
import subprocess

LOCK_PATH = "/run/lock/jqtest-netns.lock"
MAX_LINKS = 4096


def _ip(*args, check=True):
    return subprocess.run(["ip"] + [str(a) for a in args], check=check,
                          stdin=subprocess.DEVNULL, capture_output=True,
                          text=True)


def unavailable():
    """None when namespaces can be made here, else the reason."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    try:
        r = _ip("netns", "list", check=False)
    except FileNotFoundError:
        return "no 'ip' command (iproute2)"
    if r.returncode != 0:
        return "ip netns: %s" % r.stderr.strip()
    return None


class Link:
    def __init__(self):
        self.index = None
        self.ns = None
        self.host_if = None
        self.peer_if = None
        self.host_ip = None
        self.peer_ip = None
        self.cut_now = False
        self._procs = []

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()

    @staticmethod
    def _names(i):
        return ("jqtest%d" % i, "jqh%d" % i, "jqp%d" % i)

    def open(self):
        reason = unavailable()
        if reason is not None:
            raise RuntimeError(reason)
        os.makedirs(os.path.dirname(LOCK_PATH), exist_ok=True)
        with open(LOCK_PATH, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            links = _ip("-o", "link", "show").stdout
            spaces = _ip("netns", "list").stdout.split()
            for i in range(MAX_LINKS):
                ns, host_if, peer_if = self._names(i)
                if (" %s@" % host_if) not in links and \
                        (" %s:" % host_if) not in links and \
                        ns not in spaces:
                    break
            else:
                raise RuntimeError("no free test link name")
            self.index = i
            self.ns, self.host_if, self.peer_if = ns, host_if, peer_if
            base = 4 * i
            self.host_ip = "10.231.%d.%d" % (base // 256, base % 256 + 1)
            self.peer_ip = "10.231.%d.%d" % (base // 256, base % 256 + 2)
            try:
                _ip("netns", "add", self.ns)
                _ip("link", "add", self.host_if, "type", "veth",
                    "peer", "name", self.peer_if)
                _ip("link", "set", self.peer_if, "netns", self.ns)
                _ip("addr", "add", self.host_ip + "/30", "dev",
                    self.host_if)
                _ip("link", "set", self.host_if, "up")
                _ip("-n", self.ns, "addr", "add", self.peer_ip + "/30",
                    "dev", self.peer_if)
                _ip("-n", self.ns, "link", "set", self.peer_if, "up")
                _ip("-n", self.ns, "link", "set", "lo", "up")
            except BaseException:
                self.close()
                raise
        return self

    def popen(self, argv, **kw):
        """Start argv inside the namespace (killed by close())."""
        kw.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(["ip", "netns", "exec", self.ns] +
                             [str(a) for a in argv], **kw)
        self._procs.append(p)
        return p

    def cut(self):
        """Drop every packet between the two ends, silently."""
        if self.cut_now:
            return
        _ip("route", "add", "blackhole", self.peer_ip + "/32")
        _ip("-n", self.ns, "route", "add", "blackhole", self.host_ip + "/32")
        self.cut_now = True

    def heal(self):
        if not self.cut_now:
            return
        _ip("route", "del", "blackhole", self.peer_ip + "/32")
        _ip("-n", self.ns, "route", "del", "blackhole",
            self.host_ip + "/32")
        self.cut_now = False

    def close(self):
        for p in self._procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        self._procs = []
        if self.host_if is not None:
            if self.cut_now:
                _ip("route", "del", "blackhole", self.peer_ip + "/32",
                    check=False)
            _ip("link", "del", self.host_if, check=False)
        if self.ns is not None:
            _ip("netns", "del", self.ns, check=False)
        self.ns = self.host_if = None
