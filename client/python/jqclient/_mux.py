"""One multiplexed connection to jqd (PROTOCOL.md 4.7), for the asyncio
engine of jqclient: requests get ids, one reader task hands each reply
(and each watch frame) to the request with that id, and a request whose
caller gives up is aborted with its real reply still read (9.5, 13 item
20).  Reconnecting and retrying are the client's (aio.py)."""

import asyncio
import itertools
from typing import Any, Callable, Dict, Optional, Set

from ._proto import (UNSOLICITED, CallTimeout, ConnectionError, Error,
                     ProtocolError, _decode_reply, encode_frame,
                     error_from_reply)

# The longest reply line read (the C library's bound too): a wait on a
# big group with output can be long (PROTOCOL.md 13 item 1).
MAX_LINE = 64 << 20
# Bytes buffered for writing past which a caller waits for the drain.
WRITE_HIGH = 1 << 20


class _Lost(Exception):
    """The connection ended before the reply came (internal)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _Pending:
    """A request waiting for its reply.  ``late``: the reply, when it came
    after its caller's future was cancelled (a task cancelled while
    awaiting it), kept for the abort logic: never dropped."""

    __slots__ = ("fut", "on_frame", "late")

    def __init__(self, fut: "Optional[asyncio.Future[Dict[str, Any]]]",
                 on_frame: Optional[Callable[[Dict[str, Any]], None]]) -> None:
        self.fut = fut
        self.on_frame = on_frame
        self.late: Optional[Dict[str, Any]] = None


class _Conn:
    """One multiplexed connection: pending requests by id, one reader."""

    def __init__(self, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, addr: str,
                 abort_grace: float) -> None:
        self.reader = reader
        self.writer = writer
        self.addr = addr
        self.abort_grace = abort_grace
        self.pending: Dict[int, _Pending] = {}
        self.ids = itertools.count(1)
        self.lost: Optional[BaseException] = None
        self.stopping = False       # answered shutting_down: use no more
        self.features: Set[str] = set()
        self.hello: Dict[str, Any] = {}
        self.write_lock = asyncio.Lock()
        self.background: Set["asyncio.Future[Any]"] = set()
        self.reader_task = asyncio.ensure_future(self._read_loop())

    def usable(self) -> bool:
        return self.lost is None and not self.stopping

    async def _read_loop(self) -> None:
        try:
            while True:
                try:
                    line = await self.reader.readuntil(b"\n")
                except asyncio.IncompleteReadError:
                    raise ConnectionError("connection to %s closed by the "
                                          "server" % self.addr)
                except asyncio.LimitOverrunError:
                    raise ProtocolError("a reply line from %s is longer "
                                        "than %d bytes" % (self.addr,
                                                           MAX_LINE))
                self._dispatch(_decode_reply(line[:-1]))
        except asyncio.CancelledError:
            self.fail(ConnectionError("the client is closed"))
        except (Error, OSError, ValueError) as e:
            self.fail(e)

    def _dispatch(self, reply: Dict[str, Any]) -> None:
        rid = reply["id"]
        if rid is None:
            if not reply["ok"] and reply["error"]["code"] in UNSOLICITED:
                raise error_from_reply(reply)   # the server closes: why
            raise ProtocolError("%s answered a request it could not read "
                                "(id null): %r" % (self.addr, reply))
        p = self.pending.get(rid)
        if p is None:
            return          # a reply nobody waits for any more
        if "event" in reply and p.on_frame is not None:
            p.on_frame(reply)
            return
        del self.pending[rid]
        if p.fut is None:
            return
        if not p.fut.done():
            p.fut.set_result(reply)
        elif p.fut.cancelled():
            p.late = reply

    def fail(self, cause: BaseException) -> None:
        """The connection is gone: every pending request learns it."""
        if self.lost is not None:
            return
        self.lost = cause
        pending, self.pending = self.pending, {}
        for p in pending.values():
            if p.fut is not None and not p.fut.done():
                p.fut.set_exception(_Lost(cause))
        self.writer.close()
        if asyncio.current_task() is not self.reader_task:
            self.reader_task.cancel()

    def _send(self, data: bytes) -> bool:
        """Write data (the loop's transport buffers it); True if the
        buffer is over WRITE_HIGH and the writer should drain."""
        try:
            self.writer.write(data)
            return self.writer.transport.get_write_buffer_size() > WRITE_HIGH
        except (OSError, RuntimeError) as e:
            self.fail(ConnectionError("connection to %s: %s"
                                      % (self.addr, e)))
            return False

    async def _drain(self) -> None:
        try:
            async with self.write_lock:     # Python 3.9: one drain at once
                await self.writer.drain()
        except (OSError, RuntimeError) as e:
            self.fail(ConnectionError("connection to %s: %s"
                                      % (self.addr, e)))

    def _start(self, frame: Dict[str, Any],
               on_frame: Optional[Callable[[Dict[str, Any]], None]],
               want_reply: bool = True) -> "tuple[int, _Pending, bytes]":
        rid = next(self.ids)
        data = encode_frame(dict(frame, id=rid))    # ValueError: nothing sent
        if self.lost is not None:
            raise _Lost(self.lost)
        fut = asyncio.get_running_loop().create_future() if want_reply \
            else None
        p = self.pending[rid] = _Pending(fut, on_frame)
        return rid, p, data

    async def call(self, frame: Dict[str, Any], deadline: Optional[float],
                   on_frame: Optional[Callable[[Dict[str, Any]], None]] = None,
                   on_salvage: Optional[Callable[[Dict[str, Any]], None]] = None
                   ) -> Dict[str, Any]:
        """Send one request, return its reply.  At ``deadline`` (loop
        time) or when the calling task is cancelled, send ``abort`` and
        wait for the real reply: ``canceled`` becomes CallTimeout (or the
        cancellation goes on); a completed reply is returned after a
        deadline, given to ``on_salvage`` after a cancellation.  _Lost when
        the connection ends first."""
        rid, p, data = self._start(frame, on_frame)
        fut = p.fut
        assert fut is not None
        if self._send(data):
            await self._drain()
        try:
            if deadline is None:
                return await fut    # cancelled with the task: see below
            wait = max(0.0, deadline - asyncio.get_running_loop().time())
            return await asyncio.wait_for(asyncio.shield(fut), wait)
        except asyncio.TimeoutError:
            reply = await self._abort(rid, fut)
            if not reply["ok"] and reply["error"]["code"] == "canceled":
                raise CallTimeout("no reply to %s within the client's "
                                  "timeout: aborted" % frame.get("op"))
            return reply
        except asyncio.CancelledError:
            # Wait (shielded) for the real reply before the cancellation
            # goes on (PROTOCOL.md 13 item 20).
            finishing = self._finish_cancelled(rid, p, on_salvage)
            if finishing is not None:
                try:
                    await asyncio.shield(finishing)
                except (_Lost, asyncio.CancelledError):
                    pass
            raise

    def _finish_cancelled(self, rid: int, p: _Pending,
                          on_salvage: Optional[Callable[[Dict[str, Any]],
                                                        None]]
                          ) -> "Optional[asyncio.Future[Dict[str, Any]]]":
        """The task waiting for request rid was cancelled: abort it, and
        hand its real reply, when it comes, to on_salvage.  Returns the
        future of that, or None when it is settled already."""
        fut = p.fut
        assert fut is not None
        if p.late is None and fut.done() and not fut.cancelled() \
                and fut.exception() is not None:
            return None         # the connection was lost: nothing taken
        if p.late is not None or (fut.done() and not fut.cancelled()):
            reply = p.late if p.late is not None else fut.result()
            if on_salvage is not None:
                on_salvage(reply)
            return None
        if fut.cancelled():
            if self.lost is not None or rid not in self.pending:
                return None     # no reply will come: nothing was taken
            fut = p.fut = asyncio.get_running_loop().create_future()
        finishing = asyncio.ensure_future(self._abort(rid, fut))
        if on_salvage is not None:
            def salvage(t: "asyncio.Future[Dict[str, Any]]") -> None:
                if not t.cancelled() and t.exception() is None:
                    on_salvage(t.result())
            finishing.add_done_callback(salvage)
        else:
            finishing.add_done_callback(_retrieve)
        self.background.add(finishing)
        finishing.add_done_callback(self.background.discard)
        return finishing

    async def _abort(self, rid: int, fut: "asyncio.Future[Dict[str, Any]]"
                     ) -> Dict[str, Any]:
        """Abort request rid (unless answered) and return its reply."""
        if not fut.done() and "abort" in self.features and self.lost is None:
            _, _, data = self._start({"op": "abort", "ref": rid}, None,
                                     want_reply=False)
            if self._send(data):
                await self._drain()
        try:
            return await asyncio.wait_for(asyncio.shield(fut),
                                          self.abort_grace)
        except asyncio.TimeoutError:
            self.fail(ConnectionError("%s sent no reply to an abort within "
                                      "%g s" % (self.addr, self.abort_grace)))
            return await fut    # raises _Lost


def _retrieve(t: "asyncio.Future[Any]") -> None:
    if not t.cancelled():
        t.exception()
