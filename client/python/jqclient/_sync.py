"""The engine of jqclient.Client: one multiplexed connection (PROTOCOL.md
4.7) driven by the calling threads themselves, with no thread of its own.

Leader/follower: a caller writes its request under the write lock, then,
if no thread is reading, becomes the reader (the leader): it reads reply
lines and hands each to the request with that id (a slot, woken through
a lock of its own), until its own reply comes; then it stops reading and
wakes one waiting caller, which leads in turn.  The others wait on their
slot.  One caller alone thus writes and reads its own socket, as a serial
client does; no thread hop.

A caller whose deadline passes sends ``abort`` and keeps waiting for the
real reply (9.5, 13 item 20); so does one interrupted (KeyboardInterrupt),
before the interrupt goes on.  What to do when the connection is lost or
a reply says so (retry, OutcomeUnknown, backoff) is _policy's, shared
with the asyncio engine.
"""

import itertools
import logging
import select
import socket
import ssl
import threading
import time
from typing import (Any, Callable, Deque, Dict, Generator, Iterator, List,
                    Optional, Set)

from . import _api, _policy
from ._addr import Options
from ._mux import MAX_LINE
from ._proto import (UNSOLICITED, CallTimeout, ConnectionError, Error,
                     ProtocolError, Unauthorized, _decode_reply, check,
                     encode_frame, error_from_reply, op_blocks)

log = logging.getLogger("jqclient")

_CHUNK = 1 << 16
Reply = Dict[str, Any]


class _Lost(Exception):
    """The connection ended before the reply came (internal)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _Slot:
    """A request waiting for its reply.  ``wake`` is held while nobody
    signalled it; released (once: ``signaled``) to wake its caller, for
    its reply, a frame, the connection's loss, or to lead."""

    __slots__ = ("reply", "frames", "wake", "signaled")

    def __init__(self, frames: Optional[Deque[Reply]]) -> None:
        self.reply: Optional[Reply] = None
        self.frames = frames        # watch frames, when collected
        self.wake = threading.Lock()
        self.wake.acquire()
        self.signaled = False


class _Plain:
    """A connected socket's bytes."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv_into(self, view: memoryview) -> int:
        return self.sock.recv_into(view)

    def buffered(self) -> bool:
        """Bytes to read that the socket no longer shows (none here)."""
        return False


class _Tls:
    """TLS over a connected socket through an ssl.SSLObject: the TLS state
    changes under a lock of its own, never during socket I/O, so that one
    thread may read while another writes (an ssl.SSLSocket may not be
    used by two threads at once).  Bytes to send are taken from the TLS
    state and sent under the connection's write lock, in order."""

    def __init__(self, sock: socket.socket, ctx: ssl.SSLContext,
                 hostname: str, write_lock: threading.Lock) -> None:
        self.sock = sock
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.incoming, self.outgoing,
                                server_hostname=hostname)
        self.lock = threading.Lock()
        self.write_lock = write_lock
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                self._feed()
        self._flush()

    def _flush(self) -> None:
        with self.lock:
            out = self.outgoing.read()
        if out:
            self.sock.sendall(out)

    def _feed(self) -> None:
        raw = self.sock.recv(_CHUNK)
        with self.lock:
            if raw:
                self.incoming.write(raw)
            else:
                self.incoming.write_eof()   # read() says how it ended

    def send(self, data: bytes) -> None:      # under the write lock
        with self.lock:
            self.obj.write(data)
        self._flush()

    def buffered(self) -> bool:
        with self.lock:
            return bool(self.incoming.pending or self.obj.pending())

    def recv_into(self, view: memoryview) -> int:
        while True:
            with self.lock:
                try:
                    n = self.obj.read(len(view), view)
                except ssl.SSLWantReadError:
                    n = -1
                except ssl.SSLZeroReturnError:
                    n = 0
                pending = self.outgoing.pending
            if pending and self.write_lock.acquire(False):
                try:        # TLS said something (a key update): send it
                    self._flush()
                finally:
                    self.write_lock.release()
            if n >= 0:
                return n
            self._feed()


class _Conn:
    """One multiplexed connection, read by its callers in turn."""

    def __init__(self, io: Any, sock: socket.socket,
                 write_lock: threading.Lock, addr: str,
                 abort_grace: float) -> None:
        self.io = io
        self.sock = sock
        self.addr = addr
        self.abort_grace = abort_grace
        self.pending: Dict[int, _Slot] = {}
        self.waiting: Dict[_Slot, None] = {}    # callers asleep, in order
        self.ids = itertools.count(1)
        self.mu = threading.Lock()              # pending, waiting, leader
        self.write_lock = write_lock
        self.leader: Optional[int] = None       # the thread reading
        self.lost: Optional[BaseException] = None
        self.stopping = False       # answered shutting_down: use no more
        self.features: Set[str] = set()
        self.hello: Dict[str, Any] = {}
        # Bytes read: buf[head:tail]; buf[tail:] is all zero, so that the
        # end of what a read put there is found again even if the read's
        # count was lost to a KeyboardInterrupt (a reply has no NUL).
        self.buf = bytearray(_CHUNK)
        self.head = 0
        self.tail = 0
        self.poller = select.poll()
        self.poller.register(sock, select.POLLIN)

    def usable(self) -> bool:
        return self.lost is None and not self.stopping

    # -- waking -----------------------------------------------------------

    @staticmethod
    def _signal(slot: _Slot) -> None:     # under mu
        if not slot.signaled:
            slot.signaled = True
            slot.wake.release()

    def _hand_off(self) -> None:          # under mu
        """If nobody reads, wake the first caller asleep not woken yet, to
        lead.  One woken for its reply does not lead: it calls this again
        as it leaves wait()."""
        if self.leader is not None:
            return
        for slot in self.waiting:
            if not slot.signaled:
                self._signal(slot)
                return

    def fail(self, cause: BaseException) -> None:
        """The connection is gone: every pending request learns it."""
        with self.mu:
            if self.lost is not None:
                return
            self.lost = cause
            for slot in self.pending.values():
                self._signal(slot)
        try:
            self.sock.shutdown(socket.SHUT_RDWR)    # wakes a leader
        except OSError:
            pass
        self.sock.close()

    # -- writing ----------------------------------------------------------

    def start(self, frame: Dict[str, Any], frames: Optional[Deque[Reply]]
              = None) -> "tuple[int, _Slot]":
        """Send a request; its slot receives the reply."""
        rid = next(self.ids)
        data = encode_frame(dict(frame, id=rid))    # ValueError: nothing sent
        slot = _Slot(frames)
        with self.mu:
            if self.lost is not None:
                raise _Lost(self.lost)
            self.pending[rid] = slot
        self.send(data)
        return rid, slot

    def send(self, data: bytes) -> None:
        try:
            with self.write_lock:
                self.io.send(data)
        except (OSError, ValueError) as e:
            self.fail(ConnectionError("connection to %s: %s"
                                      % (self.addr, e)))
        except BaseException:
            # Interrupted in the middle of a write: part of a frame may
            # be on the wire, and nothing can follow it.
            self.fail(ConnectionError("a write to %s was interrupted"
                                      % self.addr))
            raise

    def send_abort(self, rid: int) -> None:
        """Send ``abort`` for request rid (its reply is not awaited: the
        request's own reply says how it ended)."""
        if "abort" in self.features and self.lost is None:
            self.send(encode_frame({"op": "abort", "ref": rid,
                                    "id": next(self.ids)}))

    def forget(self, rid: int) -> None:
        with self.mu:
            self.pending.pop(rid, None)

    # -- reading ----------------------------------------------------------

    def wait(self, rid: int, slot: _Slot, deadline: Optional[float]) -> bool:
        """Wait until slot has its reply or a frame (True), or deadline
        (monotonic) passes (False); leads while nobody else reads.  _Lost
        when the connection ends first."""
        try:
            while True:
                with self.mu:
                    if slot.reply is not None or slot.frames:
                        return True
                    if self.lost is not None:
                        self.pending.pop(rid, None)
                        raise _Lost(self.lost)
                    lead = self.leader is None
                    if lead:
                        self.leader = threading.get_ident()
                    else:
                        self.waiting[slot] = None
                if lead:
                    try:
                        self._lead(slot, deadline)
                    finally:
                        with self.mu:
                            self.leader = None
                            self._hand_off()
                else:
                    try:
                        slot.wake.acquire(True, -1 if deadline is None
                                          else max(0.0, deadline
                                                   - time.monotonic()))
                    finally:
                        with self.mu:
                            self.waiting.pop(slot, None)
                            if slot.signaled:
                                # Held again: taken by this wake, or now (it
                                # came after the timeout or an interrupt).
                                slot.wake.acquire(False)
                                slot.signaled = False
                if slot.reply is not None or slot.frames:
                    return True
                if deadline is not None and time.monotonic() >= deadline:
                    return False
        finally:
            with self.mu:
                self._hand_off()

    def _lead(self, slot: _Slot, deadline: Optional[float]) -> None:
        """Read and hand out replies until slot's reply (or a frame) comes,
        deadline passes, or the connection ends."""
        try:
            while slot.reply is None and not slot.frames:
                if self._dispatch_line():
                    continue
                if self.lost is not None:
                    return
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if not self.io.buffered() and (
                            left <= 0 or not self.poller.poll(left * 1000)):
                        return
                if not self._fill():
                    return
        except (Error, OSError, ValueError) as e:
            self.fail(e)
        except BaseException:
            self._interrupted()
            raise

    def _interrupted(self) -> None:
        """The reader was interrupted (KeyboardInterrupt): the bytes a
        read put in buf end at the first zero; every caller looks at its
        slot again, a sleeping one woken even if the interrupt came in
        _signal between marking its slot and releasing its lock (an
        extra release is taken back as it wakes: it is marked)."""
        end = self.buf.find(0, self.tail)
        self.tail = len(self.buf) if end < 0 else end
        with self.mu:
            for s in self.waiting:
                if s.wake.locked():
                    s.wake.release()
                s.signaled = True
            for s in self.pending.values():
                self._signal(s)

    def _fill(self) -> bool:
        """Read more bytes into buf; False at the end of the stream (the
        connection is failed)."""
        if self.tail == len(self.buf):
            if self.head:
                n = self.tail - self.head
                self.buf[:n] = self.buf[self.head:self.tail]
                self.buf[n:self.tail] = bytes(self.tail - n)
                self.head, self.tail = 0, n
            else:
                if len(self.buf) > MAX_LINE:
                    raise ProtocolError("a reply line from %s is longer "
                                        "than %d bytes" % (self.addr,
                                                           MAX_LINE))
                self.buf.extend(bytes(len(self.buf)))
        with memoryview(self.buf) as view:
            with view[self.tail:] as room:
                n = self.io.recv_into(room)
        if n == 0:
            self.fail(ConnectionError("connection to %s closed by the "
                                      "server" % self.addr))
            return False
        self.tail += n
        return True

    def _dispatch_line(self) -> bool:
        """Hand the first whole line of buf to its request; False if buf
        has none.  A line handed twice (after an interrupt) is harmless."""
        nl = self.buf.find(b"\n", self.head, self.tail)
        if nl < 0:
            return False
        reply = _decode_reply(bytes(self.buf[self.head:nl]))
        rid = reply["id"]
        if rid is None:
            if not reply["ok"] and reply["error"]["code"] in UNSOLICITED:
                raise error_from_reply(reply)   # the server closes: why
            raise ProtocolError("%s answered a request it could not read "
                                "(id null): %r" % (self.addr, reply))
        with self.mu:
            slot = self.pending.get(rid)
            if slot is not None:
                if "event" in reply and slot.frames is not None:
                    slot.frames.append(reply)
                elif "event" not in reply:
                    slot.reply = reply
                    del self.pending[rid]
                self._signal(slot)
        self.head = nl + 1
        if self.head == self.tail:      # all read: start over, zeroed
            self.buf[:self.tail] = bytes(self.tail)
            self.head = self.tail = 0
        return True

    def retire_if_idle(self) -> None:
        """A connection replaced (its server was stopping) is closed once
        no request waits on it any more."""
        with self.mu:
            if self.pending or self.lost is not None:
                return
        self.fail(ConnectionError("connection to %s replaced" % self.addr))

    def idle_check(self) -> None:
        """Before a request when nothing is in flight: read what came
        meanwhile (a server that closed the connection while it was idle
        is noticed now, and not as a lost request)."""
        with self.mu:
            if self.pending or self.leader is not None \
                    or self.lost is not None:
                return
            self.leader = threading.get_ident()
        try:
            while self.lost is None and (self.io.buffered()
                                         or self.poller.poll(0)):
                if not self._fill():
                    break
                while self._dispatch_line():
                    pass
        except (Error, OSError, ValueError) as e:
            self.fail(e)
        except BaseException:
            self._interrupted()
            raise
        finally:
            with self.mu:
                self.leader = None
                self._hand_off()

    # -- one request ------------------------------------------------------

    def call(self, frame: Dict[str, Any], deadline: Optional[float],
             on_salvage: Callable[[Reply], None]) -> Reply:
        """Send one request, return its reply.  At ``deadline``
        (monotonic) send ``abort`` and wait for the real reply:
        ``canceled`` becomes CallTimeout, a completed reply is returned.
        Interrupted, abort too, and give the real reply to on_salvage
        before the interrupt goes on.  _Lost when the connection ends
        first."""
        rid, slot = self.start(frame)
        try:
            if not self.wait(rid, slot, deadline):
                reply = self.abort(rid, slot)
                if not reply["ok"] and reply["error"]["code"] == "canceled":
                    raise CallTimeout("no reply to %s within the client's "
                                      "timeout: aborted" % frame.get("op"))
        except (_Lost, Error):
            raise
        except BaseException:
            self.salvage_after_interrupt(rid, slot, on_salvage)
            raise
        assert slot.reply is not None
        return slot.reply

    def abort(self, rid: int, slot: _Slot) -> Reply:
        """Abort request rid (unless answered) and return its reply,
        waiting abort_grace for it (then the connection is broken)."""
        if slot.reply is None:
            self.send_abort(rid)
        grace = time.monotonic() + self.abort_grace
        while slot.reply is None:
            if slot.frames:
                slot.frames.clear()     # a watch's: nobody wants them now
            if not self.wait(rid, slot, grace) and slot.reply is None:
                self.fail(ConnectionError(
                    "%s sent no reply to an abort within %g s"
                    % (self.addr, self.abort_grace)))
                raise _Lost(self.lost or ConnectionError("lost"))
        return slot.reply

    def abandon(self, rid: int) -> None:
        """Its caller no longer wants request rid's reply (a watch closed
        early): abort it, forget it; its reply is read and dropped."""
        with self.mu:
            if self.pending.pop(rid, None) is None:
                return
        self.send_abort(rid)

    def salvage_after_interrupt(self, rid: int, slot: _Slot,
                                on_salvage: Callable[[Reply], None]) -> None:
        """The caller was interrupted waiting for rid: abort it and hand
        its real reply to on_salvage (a value is never dropped)."""
        try:
            reply = self.abort(rid, slot)
        except _Lost:
            return          # the connection is gone: nothing was taken
        on_salvage(reply)


class Engine(Options):
    """The state of a jqclient.Client: options, the connection (made
    again when lost), and the request loop."""

    def _init_state(self) -> None:
        self.closed = False
        self._conn: Optional[_Conn] = None
        self._dial_lock = threading.Lock()
        self._slots = None if self.max_pending is None \
            else threading.BoundedSemaphore(self.max_pending)

    # -- connecting -------------------------------------------------------

    def connection(self, deadline: Optional[float]) -> _Conn:
        conn = self._conn
        if conn is not None and conn.usable():
            return conn
        if self.closed:
            raise ConnectionError("the client is closed")
        # Another caller may be dialing (for up to reconnect_timeout): wait
        # for it no longer than this caller's own timeout.
        if not self._dial_lock.acquire(True, -1 if deadline is None else
                                       max(0.0, deadline - time.monotonic())):
            raise CallTimeout("no reply within the client's timeout "
                              "(reconnecting)")
        try:
            return self._connect(deadline)
        finally:
            self._dial_lock.release()

    def _connect(self, deadline: Optional[float]) -> _Conn:    # dial lock
        conn = self._conn
        if conn is not None and conn.usable():
            return conn
        had = conn is not None
        now = time.monotonic()
        give_up = None if self.reconnect_timeout is None or not had \
            else now + self.reconnect_timeout
        attempt = 0
        while True:
            if self.closed:
                raise ConnectionError("the client is closed")
            try:
                conn = self._dial()
                break
            except Unauthorized:
                raise
            except (Error, OSError) as e:
                # The first connection fails at once (as Connection);
                # a reconnect tries for reconnect_timeout.
                now = time.monotonic()
                if give_up is None or now >= give_up:
                    if isinstance(e, ConnectionError):
                        raise
                    raise ConnectionError("cannot connect to %s: %s"
                                          % (self.addr, e)) from e
                if deadline is not None and now >= deadline:
                    raise CallTimeout("no reply within the client's "
                                      "timeout (reconnecting)") from None
                wait = min(_policy.backoff(attempt), give_up - now)
                if deadline is not None:
                    wait = min(wait, deadline - now)
                time.sleep(max(0.0, wait))
                attempt += 1
        if had:
            self.reconnects += 1
            old = self._conn
            if old is not None:
                old.retire_if_idle()
        self._conn = conn
        if self.closed:     # close() ran meanwhile
            conn.fail(ConnectionError("the client is closed"))
            raise ConnectionError("the client is closed")
        return conn

    def _dial(self) -> _Conn:
        failures: List[str] = []
        for t in self._dial_targets():
            try:
                conn = self._open(t)
            except (Error, OSError) as e:
                self._dial_failed(t, e, isinstance(e, socket.timeout),
                                  failures)
                continue
            self._dialed(t)
            return conn
        raise self._dial_none(failures)

    def _open(self, t: Any) -> _Conn:
        sock = socket.socket(t.family, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.connect_timeout)
            try:
                sock.connect(t.sockaddr)
            except OSError as e:
                raise ConnectionError("cannot connect to %s: %s"
                                      % (t.bare, e))
            if t.family != socket.AF_UNIX:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            write_lock = threading.Lock()
            io: Any = _Plain(sock)
            if self._tls:
                io = _Tls(sock, self._tls,
                          self.server_hostname or t.sockaddr[0], write_lock)
            sock.settimeout(None)
        except BaseException:
            sock.close()
            raise
        conn = _Conn(io, sock, write_lock, t.bare, self.abort_grace)
        try:
            self._handshake(conn, time.monotonic() + self.connect_timeout)
        except BaseException:
            conn.fail(ConnectionError("handshake failed"))
            raise
        return conn

    def _handshake(self, conn: _Conn, deadline: float) -> None:
        """auth (with a token), then hello: multiplex, consumer."""
        def call(frame: Dict[str, Any]) -> Reply:
            try:
                rid, slot = conn.start(frame)
                if not conn.wait(rid, slot, deadline):
                    raise ConnectionError("cannot connect to %s: no hello "
                                          "reply (timed out)" % conn.addr)
            except _Lost as e:
                raise e.cause if isinstance(e.cause, Error) else \
                    ConnectionError(str(e.cause))
            assert slot.reply is not None
            return check(slot.reply)
        if self._token:
            call(_api.auth(self._token).frame)
        hello = call(_api.hello(True, self.consumer).frame)
        conn.hello = _api.result(hello)
        conn.features = set(hello.get("features") or ())
        if hello.get("multiplex") is not True:
            raise Error("%s cannot multiplex (protocol 1.0): use "
                        "jqclient.Connection" % conn.addr)

    def close(self) -> None:
        self.closed = True
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.fail(ConnectionError("the client is closed"))

    # -- requests ---------------------------------------------------------

    def deadline(self, timeout: Any) -> Optional[float]:
        return None if timeout is None else time.monotonic() + timeout

    def request(self, frame: Dict[str, Any], timeout: Optional[float]
                ) -> Reply:
        """Send a request (again on a new connection when that is safe)
        and return its checked reply."""
        deadline = self.deadline(timeout)
        frame = _policy.prepare(frame, self.auto_key)
        if self._slots is None or not op_blocks(frame.get("op")):
            return _returned(self.attempts(frame, deadline, self._call))
        if not self._slots.acquire(True, None if deadline is None
                                   else max(0.0, deadline - time.monotonic())):
            raise CallTimeout("no reply to %s within the client's timeout "
                              "(queued: max_pending)" % frame.get("op"))
        try:
            return _returned(self.attempts(frame, deadline, self._call))
        finally:
            self._slots.release()

    def _call(self, conn: _Conn, frame: Dict[str, Any],
              deadline: Optional[float]) -> Iterator[Reply]:
        return conn.call(frame, deadline, lambda r: self.salvage(frame, r))
        yield   # a generator, for attempts(), that yields nothing

    def watch(self, frame: Dict[str, Any]) -> Iterator[Reply]:
        """The watch's frames (output already shown skipped when it is
        sent again), then its reply's result.  Closed early: aborted."""
        seen = _api.WatchOutput()

        def call(conn: _Conn, frame: Dict[str, Any],
                 deadline: Optional[float]) -> Iterator[Reply]:
            frames = _api.WatchFrames()
            rid, slot = conn.start(frame, frames)
            try:
                while True:
                    conn.wait(rid, slot, None)
                    if slot.reply is not None:
                        frames.end(rid)
                    while frames:
                        shown = seen.filter(frames.popleft())
                        if shown is not None:
                            yield shown
                    if slot.reply is not None:
                        return slot.reply
            finally:
                if slot.reply is None:
                    conn.abandon(rid)
        reply = yield from self.attempts(frame, None, call, seen.restart)
        yield _api.result(reply)

    def attempts(self, frame: Dict[str, Any], deadline: Optional[float],
                 call: Callable[[_Conn, Dict[str, Any], Optional[float]],
                                Iterator[Reply]],
                 on_retry: Optional[Callable[[], None]] = None
                 ) -> Generator[Reply, None, Reply]:
        """``yield from call(conn, frame, deadline)`` on the connection,
        made again and the request sent again as _policy says; returns
        the checked reply."""
        again = 0           # sends of this request so far, minus one
        busy = 0            # "exists" answers to a keyed send
        while True:
            conn = self.connection(deadline)
            conn.idle_check()
            if not conn.usable():
                continue
            if again and on_retry is not None:
                on_retry()
            try:
                reply = yield from call(conn, frame, deadline)
            except _Lost as e:
                failure = _policy.lost(frame, conn.addr, e.cause,
                                       self.closed)
                if failure is not None:
                    raise failure from None
                again += 1
                continue
            action, checked = _policy.answered(frame, reply, again)
            if conn is not self._conn:
                conn.retire_if_idle()
            if action == _policy.STOPPING:
                conn.stopping = True
                again += 1
                time.sleep(_policy.backoff(again))
                continue
            if action == _policy.BUSY:
                busy += 1
                time.sleep(_policy.backoff(busy))
                continue
            assert checked is not None
            return checked

    def salvage(self, frame: Dict[str, Any], reply: Reply) -> None:
        """A reply that came after its caller was interrupted: nack
        leases, keep values in self.orphans (never drop them)."""
        leases, kept = _policy.salvage(frame, reply)
        for lease in leases:
            try:
                self.request(_api.nack(frame.get("chan"), lease).frame,
                             self.abort_grace)
            except Error as e:
                log.warning("jqclient: cannot nack a lease taken by an "
                            "interrupted call (%s); it returns when it "
                            "expires", e)
        if kept is not None:
            self.orphans.append(kept)
            log.warning(_policy.ORPHAN_WARNING, frame.get("op"))


def _returned(gen: Generator[Any, None, Reply]) -> Reply:
    """What a generator that yields nothing returns."""
    try:
        next(gen)
    except StopIteration as e:
        return e.value
    raise AssertionError("a request yielded")
