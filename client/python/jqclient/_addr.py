"""Addresses, tokens and TLS, found as jq-client finds them (PROTOCOL.md
13 item 6): shared by every client of this package."""

import os
import socket
import ssl
import stat
import threading
from typing import Any, Dict, List, NamedTuple, Optional

from ._proto import ConnectionError

DEFAULT_PORT = 7411
# Seconds each address of a list gets to connect and handshake (as the C
# library's JQC_DIAL_TIMEOUT_MS).
DIAL_TIMEOUT = 2.0
SYSTEM_SOCKET = "/run/jqd/jqd.sock"
# The system service's socket; default_addr() prefers the user's own jqd.
DEFAULT_ADDR = "unix:" + SYSTEM_SOCKET


def _env_dir(name):
    value = os.environ.get(name, "")
    return value if value.startswith("/") else None


def user_socket_path():
    """Where a jqd of this user listens when told nothing (jqd(8)):
    ``/run/jqd/jqd.sock`` for root, else ``$XDG_RUNTIME_DIR/jqd/jqd.sock``
    or ``/tmp/jqd-UID/jqd.sock``."""
    if os.geteuid() == 0:
        return SYSTEM_SOCKET
    run = _env_dir("XDG_RUNTIME_DIR")
    if run:
        return os.path.join(run, "jqd", "jqd.sock")
    return "/tmp/jqd-%d/jqd.sock" % os.geteuid()


def default_addr():
    """``"unix:PATH"``: this user's jqd if its socket exists, else the
    system's (the same choice as jq-client and the C library)."""
    path = user_socket_path()
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            return "unix:" + path
    except OSError:
        pass
    return DEFAULT_ADDR


def default_token_file():
    """The token file a jqd of this user makes for its TCP clients:
    ``$XDG_CONFIG_HOME/jqd/token`` or ``~/.config/jqd/token`` (None when
    neither variable is an absolute path)."""
    conf = _env_dir("XDG_CONFIG_HOME")
    if conf:
        return os.path.join(conf, "jqd", "token")
    home = _env_dir("HOME")
    return os.path.join(home, ".config", "jqd", "token") if home else None


def _default_token():
    path = default_token_file()
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, TypeError, UnicodeDecodeError):
        return ""

def tls_context(cafile=None, certfile=None, keyfile=None):
    """The ssl.SSLContext a Client makes when given no context of its own:
    the server's certificate verified against cafile (None: the system's
    CAs) and the host name (IP or DNS subjectAltName), TLS 1.2 at least,
    and certfile/keyfile offered to a jqd that asks for a client
    certificate (jqd's tls-ca).  Pass your own context as ``tls=`` for
    anything else; turning verification off is on you."""
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if certfile is not None:
        ctx.load_cert_chain(certfile, keyfile)
    return ctx


def parse_addr(addr):
    """Split an address into ``(family, sockaddr)``.

    ``"unix:PATH"`` and anything containing ``/`` are Unix socket paths;
    otherwise ``HOST:PORT``, ``[IPV6]:PORT`` or a bare host (port 7411).
    """
    if addr.startswith("unix:"):
        return socket.AF_UNIX, addr[len("unix:"):]
    if "/" in addr:
        return socket.AF_UNIX, addr
    if addr.startswith("["):
        host, _, rest = addr[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif addr.count(":") == 1:
        host, _, port = addr.partition(":")
    else:
        host, port = addr, ""
    if not port:
        port = DEFAULT_PORT
    try:
        port = int(port)
    except ValueError:
        raise ValueError("bad port in address %r" % addr)
    if not 0 < port < 65536:
        raise ValueError("bad port in address %r" % addr)
    return socket.AF_INET, (host or "127.0.0.1", port)


def split_addrs(addr):
    """The addresses of a list: ``addr`` a string separated by commas, or a
    list or tuple of strings; white space around each is trimmed.  Raises
    ValueError on an empty address."""
    items = addr.split(",") if isinstance(addr, str) else list(addr)
    out = []
    for i, a in enumerate(items):
        if not isinstance(a, str):
            raise TypeError("an address must be a string, not %r" % (a,))
        a = a.strip()
        if not a:
            raise ValueError("empty address in %r (address %d of %d)"
                             % (addr, i + 1, len(items)))
        out.append(a)
    if not out:
        raise ValueError("no address in %r" % (addr,))
    return out


# Addresses (as written) that served, most recent first: every Client of
# the process tries the one that served last first (a failover is then
# paid once).
_served = []
_served_lock = threading.Lock()
_SERVED_MAX = 8


def _served_note(addr):
    with _served_lock:
        if addr in _served:
            _served.remove(addr)
        _served.insert(0, addr)
        del _served[_SERVED_MAX:]


def _dial_order(addrs):
    """addrs with the one that served last first, the rest in order."""
    with _served_lock:
        for a in _served:
            if a in addrs:
                return [a] + [b for b in addrs if b != a]
    return list(addrs)



class Target(NamedTuple):
    """One address of a list, parsed: ``text`` as written, ``bare``
    without ``tls:``, ``family`` and ``sockaddr`` as socket.connect wants
    them."""

    text: str
    bare: str
    family: int
    sockaddr: Any


def resolve(addr=None, token=None, tls=None, cafile=None, certfile=None,
            keyfile=None):
    """What a client connects to, as jq-client decides it (PROTOCOL.md 13
    item 6): ``(addrs, targets, tls, token)``: the addresses as written,
    their :class:`Target` list, the ssl.SSLContext when the connection is
    TLS (else None), and the token to send (None: none).  ``addr`` None:
    ``JQ_ADDR``, else :func:`default_addr`; ``token`` None: ``JQ_TOKEN``,
    else over TCP the token file of this user's jqd."""
    if addr is None:
        addr = os.environ.get("JQ_ADDR") or default_addr()
    addrs = split_addrs(addr)
    use_tls = any(a.startswith("tls:") for a in addrs) or \
        tls is not None or cafile is not None or certfile is not None
    targets = []
    for a in addrs:
        bare = a[len("tls:"):] if a.startswith("tls:") else a
        family, sockaddr = parse_addr(bare)
        if use_tls and family == socket.AF_UNIX:
            raise ValueError("TLS is for TCP addresses, not %r" % bare)
        targets.append(Target(a, bare, family, sockaddr))
    if use_tls and not isinstance(tls, ssl.SSLContext):
        tls = tls_context(cafile, certfile, keyfile)
    if token is None:
        token = os.environ.get("JQ_TOKEN")
    if token is None and any(t.family != socket.AF_UNIX for t in targets):
        token = _default_token()
    token = token.strip() if token else None
    return addrs, targets, (tls if use_tls else None), token


class Options:
    """What both clients (jqclient.Client's engine, jqclient.aio.Client)
    are told, and where they connect (client/python/README.md,
    "Connecting"); each adds its own state in ``_init_state``."""

    def __init__(self, addr: Any = None, *, token: Optional[str] = None,
                 consumer: Optional[str] = None,
                 timeout: Optional[float] = None,
                 connect_timeout: Optional[float] = None,
                 reconnect_timeout: Optional[float] = 30.0,
                 max_pending: Optional[int] = None, auto_key: bool = False,
                 abort_grace: float = 10.0, tls: Any = None,
                 cafile: Optional[str] = None, certfile: Optional[str] = None,
                 keyfile: Optional[str] = None,
                 server_hostname: Optional[str] = None) -> None:
        self.addrs, self._targets, self._tls, self._token = resolve(
            addr, token, tls, cafile, certfile, keyfile)
        self.addr = self._targets[0].bare
        self.consumer = consumer
        self.timeout = timeout
        if connect_timeout is None:
            connect_timeout = DIAL_TIMEOUT if len(self._targets) > 1 else 10.0
        self.connect_timeout = connect_timeout
        self.reconnect_timeout = reconnect_timeout
        self.max_pending = max_pending
        self.auto_key = auto_key
        self.abort_grace = abort_grace
        self.server_hostname = server_hostname
        # Values that reached a caller after it gave up (a plain recv or
        # select that completed as its abort went out): kept here, not
        # dropped (PROTOCOL.md 13 item 20).  Leases are nacked instead.
        self.orphans: List[Dict[str, Any]] = []
        self.reconnects = 0
        self._init_state()

    def _init_state(self) -> None:
        pass

    # -- dialing a list of addresses: the bookkeeping of both engines ------

    def _dial_targets(self) -> "list[Target]":
        """The targets to try, in order: the one that served last first."""
        by_text = {t.text: t for t in self._targets}
        return [by_text[text] for text in _dial_order(self.addrs)]

    def _dial_failed(self, t: Target, e: BaseException, timed_out: bool,
                     failures: "list[str]") -> None:
        """Connecting to t failed: raise for a single address, else note
        it and let the next be tried."""
        if len(self._targets) == 1:
            if timed_out:
                raise ConnectionError("cannot connect to %s: timed out"
                                      % t.bare)
            raise e
        failures.append("%s: %s" % (t.bare, e))

    def _dialed(self, t: Target) -> None:
        _served_note(t.text)
        self.addr = t.bare

    def _dial_none(self, failures: "list[str]") -> Exception:
        return ConnectionError("cannot connect to any of the %d addresses: "
                               "%s" % (len(self._targets),
                                       "; ".join(failures)))
