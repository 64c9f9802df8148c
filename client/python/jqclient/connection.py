"""jqclient.Connection: one serial connection to jqd (protocol 1.0 style).

The low layer of the package: one socket, requests answered in order
(PROTOCOL.md 4.1), no reconnect, and raw access to frames (write_raw,
read_line, poll, shutdown_write) for the conformance suite and tests of
the framing rules.  Applications want :class:`jqclient.Client` (one
multiplexed, reconnecting connection shared by threads) or
:class:`jqclient.aio.Client`.  Until 0.2 this class was ``jqclient.Client``
in the single module ``jqclient.py``.

Quick tour::

    import jqclient

    with jqclient.Connection() as c:  # the local jqd; or "host:7411", token=...
        c.make("work", cap=100)                      # -> True if created
        c.send("work", {"n": 1})
        c.send_batch("work", [2, 3, 4])
        print(c.recv("work"))                        # {'n': 1}
        print(c.recv_many("work", 10))               # [2, 3, 4]

        c.send("work", "task")
        with c.recv_lease("work", lease_ms=30000) as task:
            handle(task.value)                       # ack on success, nack on error

        i, value, closed = c.select([jqclient.RecvCase("a"),
                                     jqclient.SendCase("b", 42)],
                                    timeout_ms=1000)

        job = c.submit(["sh", "-c", "echo hi"], group="batch-7")
        [result] = c.wait(jobs=[job])
        print(result["state"], result["stdout"])     # succeeded hi

Addresses
    ``"HOST:PORT"`` (IPv6 as ``"[ADDR]:PORT"``; a bare host gets port 7411),
    ``"unix:PATH"``, or a Unix socket path (anything containing ``/``).
    ``"tls:HOST:PORT"``, or any TCP address with ``tls=`` (an
    ``ssl.SSLContext``), ``cafile=``, ``certfile=`` (and ``keyfile=``),
    is TLS: the server's certificate is verified by default, against
    ``cafile`` or the system's CAs, and must name the host (or
    ``server_hostname=``); see :func:`tls_context`.  The token is still
    needed over TLS.  Without ``addr`` the ``JQ_ADDR`` environment variable is used, else
    :func:`default_addr`: the Unix socket of this user's jqd if it exists,
    else the system's, ``/run/jqd/jqd.sock``.

    ``addr`` (and ``JQ_ADDR``) may also be a list of addresses, as a list
    or a string separated by commas (``"10.0.0.1:7411,10.0.0.2:7411"``):
    the jqd nodes of one database, of which one serves and the others
    refuse connections until they take over.  The client tries them in
    order, starting with the one that served last in this process, and
    keeps the first that accepts (and completes the TLS handshake); each
    gets ``connect_timeout`` seconds (default :data:`DIAL_TIMEOUT`, 2 s,
    or ``timeout`` if smaller) for connecting and the handshake, so a host
    that is gone costs 2 s, not minutes.  A single address waits as
    ``timeout`` says, as it always did.  When none serves,
    :class:`ConnectionError` names each address and why it failed.  One
    ``"tls:"`` address makes the whole list TLS (never the token in the
    clear to one node and encrypted to another).  After a failover, open
    a new client with the same list: leases and job ids stay valid on the
    node that took over.  Without ``token``,
    ``JQ_TOKEN`` is used (empty: none), and over TCP without either the
    token file this user's jqd makes (:func:`default_token_file`,
    ``~/.config/jqd/token``) if it exists; with a token the client sends
    ``auth`` as soon as it connects.  TCP always needs the token; a Unix
    socket lets in jqd's own user, root and allowed users and groups
    without one (PROTOCOL.md 9.2).

Errors
    A reply with ``"ok": false`` raises :class:`JqError`, or rather the
    subclass for its code: :class:`BadRequest`, :class:`UnknownOp`,
    :class:`FrameTooLarge`, :class:`Unauthorized`, :class:`NotFound`,
    :class:`Exists`, :class:`Closed`, :class:`Timeout`, :class:`TooLarge`,
    :class:`Limit`, :class:`ShuttingDown`, :class:`Internal` (also for codes
    this module does not know).  ``err.code``, ``err.message`` and
    ``err.details`` (the other members of the error object, such as
    ``index`` of a select case or ``pending`` of a wait) are attributes.
    I/O problems raise :class:`ConnectionError` (a subclass of the built-in
    one); after it the client is closed, and requests without a reply may
    or may not have been applied.  The two frames a server sends before
    closing a connection on its own (``limit``: too many connections;
    ``unauthorized``: no ``auth`` within ``auth_timeout``) raise
    :class:`Limit` / :class:`Unauthorized` and close the client too.  Everything this module raises on purpose
    derives from :class:`Error`, except ``ValueError``/``TypeError`` for
    arguments that cannot be encoded (nothing is sent then).

Timeouts
    ``timeout_ms`` arguments are the protocol's: ``None`` waits as long as
    it takes, ``0`` never waits (Go's ``default``), a positive integer waits
    at most that long; the server then answers ``timeout``, raised as
    :class:`Timeout`.  The client's own ``timeout`` (seconds, ``None`` for
    none) bounds connecting and waiting for each reply: for ``send``,
    ``recv``, ``select`` and ``wait`` it is added to their ``timeout_ms``,
    and when those have no ``timeout_ms`` the wait for their reply is
    unbounded.  When the client's bound passes, :class:`ReplyTimeout` (a
    :class:`ConnectionError`) is raised and the connection is closed,
    because the reply still to come would be matched to the wrong request.

Concurrency
    A connection executes its requests one after another, so a blocked
    ``recv`` holds every later call on the same client.  A client may be
    shared between threads (calls are serialised by a lock), but for
    concurrent blocking operations open one client per thread.  Closing a
    client from another thread aborts its blocked call (ConnectionError).

Values
    Any JSON value (``None`` included).  Integers are exact (up to 64 bits
    on the server), floats are IEEE doubles; ``NaN`` and infinities cannot
    be sent (``ValueError``).  Strings with lone surrogates cannot be sent
    either (``UnicodeEncodeError``, a ``ValueError``).
"""

import itertools
import selectors
import socket
import ssl
import threading
import time

from ._addr import DIAL_TIMEOUT, _dial_order, _served_note, resolve
from ._proto import (BLOCKING_OPS, UNSOLICITED, ConnectionError, Error,
                     JobId, Lease, ProtocolError, ReplyTimeout, SelectResult,
                     Unauthorized, _decode_reply, _is_int, _result, check,
                     encode_frame, error_from_reply, Closed)

_READ_CHUNK = 1 << 16

_WOULD_BLOCK = (BlockingIOError, InterruptedError, ssl.SSLWantReadError,
                ssl.SSLWantWriteError)


def _recv(sock):
    """What the socket has, up to _READ_CHUNK -- and, over TLS, whatever
    OpenSSL decrypted beyond it: select() cannot see those bytes."""
    chunk = sock.recv(_READ_CHUNK)
    if chunk and isinstance(sock, ssl.SSLSocket):
        while sock.pending():
            chunk += sock.recv(sock.pending())
    return chunk


# -- the client ---------------------------------------------------------------

class Connection:
    """A connection to jqd.

    ``Client(addr=None, token=None, timeout=None)`` connects at once (and
    authenticates when there is a token), so errors show here: see the
    module documentation for addresses, tokens and timeouts.  Use it as a
    context manager, or call :meth:`close`.

    Every op of the protocol has a method; keyword arguments are the
    protocol's fields, and ``None`` means "absent" (the server's default).
    :meth:`call` and :meth:`pipeline` give the raw reply dicts.
    """

    def __init__(self, addr=None, token=None, timeout=None, tls=None,
                 cafile=None, certfile=None, keyfile=None,
                 server_hostname=None, connect_timeout=None):
        addrs, targets, tls, token = resolve(addr, token, tls, cafile,
                                             certfile, keyfile)
        use_tls = tls is not None
        if connect_timeout is None:
            connect_timeout = timeout
            if len(targets) > 1 and (timeout is None or
                                     timeout > DIAL_TIMEOUT):
                connect_timeout = DIAL_TIMEOUT
        self.addrs = addrs
        self.addr = targets[0][1]
        self.timeout = timeout
        self._sock = None
        self._buf = bytearray()
        self._scanned = 0
        self._eof = False
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        by_text = {t[0]: t for t in targets}
        failures = []
        for a in _dial_order(addrs):
            _, bare, family, sockaddr = by_text[a]
            try:
                sock = self._dial(bare, family, sockaddr, connect_timeout,
                                  tls if use_tls else None,
                                  server_hostname)
                break
            except ConnectionError as e:
                if len(targets) == 1:
                    raise
                failures.append(str(e))
        else:
            raise ConnectionError("cannot connect to any of the %d "
                                  "addresses: %s"
                                  % (len(targets), "; ".join(failures)))
        _served_note(a)
        self.addr = bare
        sock.setblocking(False)
        self._sock = sock
        if token:
            try:
                self.auth(token)
            except BaseException:
                self.disconnect()
                raise

    @staticmethod
    def _dial(addr, family, sockaddr, timeout, tls, server_hostname):
        """A connected socket to addr (parsed: family, sockaddr), TLS when
        tls (an SSLContext) is given, the connect and handshake within
        timeout seconds (None: unbounded); ConnectionError naming addr
        when that fails."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            if family == socket.AF_UNIX:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    sock.settimeout(timeout)
                    sock.connect(sockaddr)
                except BaseException:
                    sock.close()
                    raise
            else:
                sock = socket.create_connection(sockaddr, timeout=timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if tls is not None:
                    try:
                        if deadline is not None:
                            sock.settimeout(max(deadline - time.monotonic(),
                                                0.001))
                        sock = tls.wrap_socket(
                            sock, server_hostname=server_hostname or
                            sockaddr[0])
                    except BaseException:
                        sock.close()
                        raise
        except ssl.SSLCertVerificationError as e:
            raise ConnectionError("cannot connect to %s: certificate verify "
                                  "failed: %s" % (addr, e.verify_message)) \
                from e
        except OSError as e:
            raise ConnectionError("cannot connect to %s: %s" % (addr, e)) from e
        return sock

    # -- life cycle ---------------------------------------------------------

    def disconnect(self):
        """Close the connection (idempotent); the same as :meth:`close`
        without arguments.  A request still blocked on the server is
        abandoned, and leases taken on this connection return to their
        channels.  May be called from another thread to abort a blocked
        call, which then raises :class:`ConnectionError`."""
        # No lock: the thread of a blocked call holds it.  shutdown()
        # wakes that thread (it sees the end of the stream) before close().
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def is_open(self):
        """False once the client was closed or its connection broke."""
        return self._sock is not None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.disconnect()
        return False

    def __repr__(self):
        return "<jqclient.Connection %s%s>" % (self.addr, "" if self.is_open()
                                           else " (closed)")

    # -- the wire -----------------------------------------------------------

    def _fail(self, exc_class, message, cause=None):
        self.disconnect()
        err = exc_class(message)
        if cause is not None:
            raise err from cause
        raise err

    def _budget(self, frame):
        """Seconds to wait for this request's reply, or None."""
        if self.timeout is None:
            return None
        if frame.get("op") in BLOCKING_OPS:
            tmo = frame.get("timeout_ms")
            if tmo is None:
                return None
            if _is_int(tmo) and tmo >= 0:
                return self.timeout + tmo / 1000.0
        return self.timeout

    def _take_line(self):
        i = self._buf.find(b"\n", self._scanned)
        if i < 0:
            self._scanned = len(self._buf)
            return None
        line = bytes(self._buf[:i])
        del self._buf[:i + 1]
        self._scanned = 0
        return line

    def _exchange(self, data, budgets):
        """Write data and read len(budgets) lines, reading while writing so
        neither side's buffers can fill up.  budgets[i] bounds the wait for
        line i (seconds from when line i-1 arrived, None: unbounded); once
        every line has come, what is left of data is written within the
        client's timeout.  Returns the lines.  Any failure closes the
        connection."""
        if self._sock is None:
            raise ConnectionError("the client is closed")
        sock = self._sock
        lines = []
        view = memoryview(data)
        sel = selectors.DefaultSelector()
        try:
            sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
            writing = True
            started = time.monotonic()
            while len(lines) < len(budgets) or view:
                if writing and not view:
                    sel.modify(sock, selectors.EVENT_READ)
                    writing = False
                if len(lines) < len(budgets):
                    line = self._take_line()
                    if line is not None:
                        lines.append(line)
                        started = time.monotonic()
                        continue
                    if self._eof:
                        self._fail(ConnectionError, "connection closed by "
                                   "the server (%d of %d replies read)"
                                   % (len(lines), len(budgets)))
                    budget = budgets[len(lines)]
                else:
                    budget = self.timeout  # only writing is left
                wait = None
                if budget is not None:
                    wait = budget - (time.monotonic() - started)
                    if wait <= 0:
                        self._fail(ReplyTimeout, "no reply from %s within "
                                   "%.3g s" % (self.addr, budget))
                # Wake up now and then: a close() from another thread
                # removes the socket from the selector without waking it.
                events = sel.select(0.2 if wait is None else min(wait, 0.2))
                if self._sock is None:
                    self._fail(ConnectionError, "connection to %s closed "
                               "by another thread" % self.addr)
                for _, mask in events:
                    if mask & selectors.EVENT_WRITE and view:
                        try:
                            n = sock.send(view)
                        except _WOULD_BLOCK:
                            n = 0
                        view = view[n:]
                        if n and len(lines) == len(budgets):
                            started = time.monotonic()
                    if mask & selectors.EVENT_READ and not self._eof:
                        try:
                            chunk = _recv(sock)
                        except _WOULD_BLOCK:
                            continue
                        if chunk:
                            self._buf += chunk
                        else:
                            self._eof = True
                            if writing:
                                sel.modify(sock, selectors.EVENT_WRITE)
            return lines
        except Error:
            raise  # ours (ConnectionError is an OSError too)
        except (OSError, ValueError) as e:
            # ValueError: the socket was closed by another thread.
            self._fail(ConnectionError, "connection to %s: %s"
                       % (self.addr, e), e)
        except BaseException:
            # KeyboardInterrupt and the like: replies still to come would
            # be matched to the wrong requests.  Close to stay consistent.
            self.disconnect()
            raise
        finally:
            sel.close()

    def _roundtrip(self, frames):
        """Send request dicts (ids are assigned here), return their raw
        replies, each checked for its id."""
        with self._lock:
            data = []
            ids = []
            for f in frames:
                if "id" in f:
                    raise TypeError("the client assigns request ids itself")
                if not isinstance(f.get("op"), str):
                    raise TypeError("a request needs an 'op' string")
                rid = next(self._ids)
                ids.append(rid)
                data.append(encode_frame(dict({"id": rid}, **f)))
            budgets = [self._budget(f) for f in frames]
            lines = self._exchange(b"".join(data), budgets)
            replies = []
            for rid, line in zip(ids, lines):
                try:
                    reply = _decode_reply(line)
                except ProtocolError:
                    self.disconnect()
                    raise
                got = reply["id"]
                if got is None and not reply["ok"] and \
                        reply["error"]["code"] in UNSOLICITED:
                    # Not a reply: the server says why it is closing the
                    # connection (max_connections, auth_timeout).
                    self.disconnect()
                    raise error_from_reply(reply)
                # A frame rejected before its id could be read (frame too
                # large) is answered with id null.
                if not ((_is_int(got) and got == rid)
                        or (got is None and not reply["ok"])):
                    self._fail(ProtocolError, "reply id %r does not match "
                               "request id %d: %r" % (got, rid, line[:200]))
                replies.append(reply)
            return replies

    # -- raw layer ----------------------------------------------------------

    def call(self, op, **fields):
        """Send one request and return its raw reply dict, whatever its
        ``ok``: ``{"id": n, "ok": true, ...}`` or ``{"id": n, "ok": false,
        "error": {...}}``.  Fields are sent as given (``None`` as ``null``).
        Pass the reply to :func:`check` to raise its error."""
        frame = dict(fields)
        frame["op"] = op
        return self._roundtrip([frame])[0]

    def pipeline(self, requests):
        """Send several requests at once, then return their raw replies in
        order (the protocol answers in order).

        Each request is a dict with an ``"op"`` and its fields, or a tuple
        ``(op, fields_dict)`` / ``(op,)``.  Requests are written while
        replies are read, so any number can be pipelined.  A blocking
        request holds the ones behind it (PROTOCOL.md 4.3).  Use
        :func:`check` on a reply to raise its error::

            replies = c.pipeline([{"op": "send", "chan": "q", "value": i}
                                  for i in range(1000)])
            for r in replies:
                jqclient.check(r)
        """
        frames = []
        for r in requests:
            if isinstance(r, dict):
                frames.append(dict(r))
            else:
                op = r[0]
                fields = dict(r[1]) if len(r) > 1 else {}
                fields["op"] = op
                frames.append(fields)
        if not frames:
            return []
        return self._roundtrip(frames)

    def write_raw(self, data):
        """Write bytes as they are (for tests of the framing rules).  The
        caller then reads the replies with :meth:`read_reply`; their ids are
        not checked, and the client's own id sequence is not used."""
        with self._lock:
            self._exchange(bytes(data), [])

    def read_line(self, timeout=-1):
        """The next reply line as bytes, without its ``\\n`` (raw layer).
        ``timeout``: seconds, None for unbounded, default the client's."""
        with self._lock:
            if timeout == -1:
                timeout = self.timeout
            return self._exchange(b"", [timeout])[0]

    def read_reply(self, timeout=-1):
        """The next reply, decoded but unchecked (raw layer)."""
        line = self.read_line(timeout)
        try:
            return _decode_reply(line)
        except ProtocolError:
            self.disconnect()
            raise

    def poll(self, timeout=0):
        """True if a reply line (or the end of the connection) is there to
        be read within ``timeout`` seconds, else False; reads nothing and,
        unlike the other raw calls, does not close on timeout.  For tests
        that a request is still blocked."""
        with self._lock:
            if self._sock is None:
                raise ConnectionError("the client is closed")
            deadline = time.monotonic() + timeout
            while True:
                if self._buf.find(b"\n", self._scanned) >= 0 or self._eof:
                    return True
                self._scanned = len(self._buf)
                wait = deadline - time.monotonic()
                sel = selectors.DefaultSelector()
                try:
                    sel.register(self._sock, selectors.EVENT_READ)
                    if not sel.select(max(0, wait)):
                        return False
                    chunk = _recv(self._sock)
                except _WOULD_BLOCK:
                    continue
                except OSError as e:
                    self._fail(ConnectionError, "connection to %s: %s"
                               % (self.addr, e), e)
                finally:
                    sel.close()
                if chunk:
                    self._buf += chunk
                else:
                    self._eof = True

    def shutdown_write(self):
        """Half-close: tell the server there is no more input (raw layer,
        for tests of PROTOCOL.md 4.4; replies still outstanding may be
        lost when one of the requests blocks)."""
        with self._lock:
            if self._sock is None:
                raise ConnectionError("the client is closed")
            try:
                self._sock.shutdown(socket.SHUT_WR)
            except OSError as e:
                self._fail(ConnectionError, "connection to %s: %s"
                           % (self.addr, e), e)

    def at_eof(self, timeout=0):
        """True if the server closed the connection (everything it sent
        before was read into the buffer) within ``timeout`` seconds, with
        no reply line left unread (raw layer)."""
        if not self.poll(timeout):
            return False
        return self._eof and self._buf.find(b"\n") < 0

    def _ok(self, op, **fields):
        """One request with the None-valued fields left out; the reply if
        ok, else its JqError raised."""
        frame = {k: v for k, v in fields.items() if v is not None}
        frame["op"] = op
        return check(self._roundtrip([frame])[0])

    # -- session ------------------------------------------------------------

    def hello(self):
        """Server identity: ``{"server": "jqd", "version": "X.Y.Z",
        "protocol": 1, "auth_required": bool}``.  Served before auth."""
        return _result(self._ok("hello"))

    def auth(self, token):
        """Authenticate this connection (done by the constructor when a
        token is given).  A wrong token raises :class:`Unauthorized`, and
        the server closes the connection (so does this client)."""
        try:
            self._ok("auth", token=token)
        except Unauthorized:
            self.disconnect()
            raise

    def ping(self):
        """Round trip; returns None.  Like every reply it comes after every
        earlier change is committed."""
        self._ok("ping")

    def stats(self):
        """Server-wide figures as a dict (uptime_ms, connections, channels,
        buffered_values, buffered_bytes, waiting, jobs, workers, store,
        ops, ...)."""
        return _result(self._ok("stats"))

    # -- channels -----------------------------------------------------------

    def make(self, chan, cap=0):
        """Create channel ``chan`` with capacity ``cap`` (0: unbuffered).
        Returns True if created, False if it existed with the same cap;
        :class:`Exists` if it exists with another cap."""
        return self._ok("make", chan=chan, cap=cap)["created"]

    def send(self, chan, value, timeout_ms=None):
        """Send one value (any JSON value, None included).  Buffered: done
        when it is in the buffer, durably; unbuffered: when a receiver took
        it.  Raises NotFound, Closed, Timeout, TooLarge, Limit."""
        frame = {"op": "send", "chan": chan, "value": value}
        if timeout_ms is not None:
            frame["timeout_ms"] = timeout_ms
        check(self._roundtrip([frame])[0])

    def send_batch(self, chan, values, timeout_ms=None):
        """Send several values to a buffered channel, all or nothing, in
        order; waits until there is room for all of them.  More values
        than the channel's cap, or an unbuffered channel: BadRequest."""
        self._ok("send", chan=chan, values=list(values),
                 timeout_ms=timeout_ms)

    def recv(self, chan, timeout_ms=None):
        """Receive one value (which may be None).  Raises :class:`Closed`
        when the channel is closed and drained, :class:`Timeout`,
        :class:`NotFound`."""
        r = self._ok("recv", chan=chan, timeout_ms=timeout_ms)
        if r.get("closed") is True and "value" not in r:
            raise Closed("closed", "channel '%s' is closed" % chan)
        return r["value"]

    def recv_many(self, chan, max, timeout_ms=None):
        """Receive 1..``max`` values as a list: waits for the first, then
        takes what is there.  Raises :class:`Closed` when the channel is
        closed and drained (the reply's empty list)."""
        r = self._ok("recv", chan=chan, max=max, timeout_ms=timeout_ms)
        if r.get("closed") is True and not r.get("values"):
            raise Closed("closed", "channel '%s' is closed" % chan)
        return r["values"]

    def recv_lease(self, chan, lease_ms, timeout_ms=None):
        """Receive one value on lease (at-least-once): returns a
        :class:`Lease`; ack it within ``lease_ms`` or it returns to the
        front of the channel.  Buffered channels only.  Raises like
        :meth:`recv`."""
        r = self._ok("recv", chan=chan, lease_ms=lease_ms,
                     timeout_ms=timeout_ms)
        if r.get("closed") is True and "value" not in r:
            raise Closed("closed", "channel '%s' is closed" % chan)
        return Lease(self, chan, r["value"], r["lease"],
                     r.get("redelivered", 0))

    def recv_leases(self, chan, max, lease_ms, timeout_ms=None):
        """Receive 1..``max`` values on lease: a list of :class:`Lease`."""
        r = self._ok("recv", chan=chan, max=max, lease_ms=lease_ms,
                     timeout_ms=timeout_ms)
        if r.get("closed") is True and not r.get("values"):
            raise Closed("closed", "channel '%s' is closed" % chan)
        values = r["values"]
        redelivered = r.get("redelivered") or [0] * len(values)
        return [Lease(self, chan, v, l, n)
                for v, l, n in zip(values, r["leases"], redelivered)]

    def ack(self, chan, lease):
        """Remove a leased value for good.  ``lease``: the lease string (or
        a :class:`Lease`).  NotFound when the lease is no longer live."""
        if isinstance(lease, Lease):
            lease = lease.lease
        self._ok("ack", chan=chan, lease=lease)

    def nack(self, chan, lease):
        """Return a leased value to the front of its channel now."""
        if isinstance(lease, Lease):
            lease = lease.lease
        self._ok("nack", chan=chan, lease=lease)

    def close_chan(self, chan):
        """Same as :meth:`close` with a channel: close ``chan``."""
        self._ok("close", chan=chan)

    def close(self, chan=None):
        """``close()``: close the connection (idempotent; a request still
        blocked on the server is abandoned, and leases taken on this
        connection return to their channels).

        ``close(chan)``: close the channel: no more sends, buffered values
        still drain; :class:`Closed` if it already was closed."""
        if chan is not None:
            self._ok("close", chan=chan)
        else:
            self.disconnect()

    def drop(self, chan):
        """Delete the channel with its values; requests waiting on it fail
        with NotFound."""
        self._ok("drop", chan=chan)

    def stat(self, chan):
        """The channel's stat dict: chan, cap, len, closed, leased,
        senders_waiting, receivers_waiting, sent, received."""
        return _result(self._ok("stat", chan=chan))

    def chans(self, prefix=None):
        """Stat dicts of the channels whose name starts with ``prefix``
        (all without), sorted by name."""
        return self._ok("chans", prefix=prefix)["chans"]

    def select(self, cases, timeout_ms=None):
        """Go's select over send and recv cases (:class:`RecvCase`,
        :class:`SendCase`, or their wire dicts).  Returns a
        :class:`SelectResult` ``(index, value, closed)``.

        A chosen send case on a closed channel raises :class:`Closed`, a
        case's channel dropped or missing :class:`NotFound`, both with the
        case in ``err.index``; no ready case in time: :class:`Timeout`."""
        wire = [c.to_wire() if hasattr(c, "to_wire") else c for c in cases]
        r = self._ok("select", cases=wire, timeout_ms=timeout_ms)
        closed = r.get("closed") is True
        return SelectResult(r["index"], r.get("value"), closed)

    # -- jobs -----------------------------------------------------------------

    def submit(self, argv, env=None, cwd=None, stdin=None, timeout_ms=None,
               deadline_ms=None, run_timeout_ms=None, delay_ms=None,
               group=None, parent=None, key=None, name=None,
               result_chan=None, priority=None, retries=None, **extra):
        """Submit a job: ``argv`` (non-empty list of strings) run by a
        worker of the pool.  Returns its :class:`JobId` at once; with a
        ``key`` that a retained job already has, that job's id with
        ``.duplicate`` True (nothing new runs).

        ``env`` (dict of strings), ``cwd``, ``stdin`` (text fed to the job),
        ``timeout_ms`` (deadline from submission), ``deadline_ms`` (absolute,
        unix ms), ``run_timeout_ms`` (bounds the run), ``delay_ms``,
        ``group``, ``parent`` (a job id: context tree), ``key``
        (idempotency), ``name``, ``result_chan`` (an existing channel that
        receives the result object), ``priority`` (higher first),
        ``retries``.  ``extra`` fields are sent as given (newer servers).
        """
        fields = dict(env=env, cwd=cwd, stdin=stdin, timeout_ms=timeout_ms,
                      deadline_ms=deadline_ms, run_timeout_ms=run_timeout_ms,
                      delay_ms=delay_ms, group=group, parent=parent, key=key,
                      name=name, result_chan=result_chan, priority=priority,
                      retries=retries)
        fields.update(extra)
        r = self._ok("submit", argv=list(argv), **fields)
        return JobId(r["job"], r.get("duplicate") is True)

    def job(self, job):
        """The job's result object so far: job, name, group, state,
        exit_code, signal, error, stdout, stderr, stdout_truncated,
        stderr_truncated, progress, attempt, submitted_ms, started_ms,
        finished_ms, ...  NotFound for an unknown id."""
        return _result(self._ok("job", job=job))

    def jobs(self, state=None, group=None, limit=None, before=None):
        """Result objects without stdout/stderr, newest first; filtered by
        ``state`` and ``group``; at most ``limit``; ``before`` pages to
        ids below it."""
        return self._ok("jobs", state=state, group=group, limit=limit,
                        before=before)["jobs"]

    def cancel(self, job=None, group=None):
        """Cancel a job (and its children) or every job of a group; returns
        how many were canceled (finished jobs are left alone)."""
        return self._ok("cancel", job=job, group=group)["canceled"]

    def wait(self, jobs=None, group=None, timeout_ms=None):
        """Block until every named job (or every job of ``group``) is
        final; returns their result objects ordered by job id.  On
        timeout raises :class:`Timeout` with ``err.pending``."""
        return self._ok("wait", jobs=None if jobs is None else list(jobs),
                        group=group, timeout_ms=timeout_ms)["results"]

    def group(self, group):
        """Counts by state and summed progress of a group: group, total,
        queued, running, succeeded, failed, deadline_exceeded, canceled,
        progress {done, total}."""
        return _result(self._ok("group", group=group))
