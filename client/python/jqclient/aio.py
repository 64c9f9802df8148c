"""jqclient.aio: the asyncio client (and the engine of the sync Worker).

One multiplexed connection (PROTOCOL.md 4.7; _mux.py: ids, one reader
task, abort) shared by every task.  The connection is made again when it
is lost (backoff from 50 ms doubling to 2 s, jittered, for up to
``reconnect_timeout``), and the requests that are safe to send again (the
op table of ``_proto``) are sent again; the others fail with
:class:`OutcomeUnknown` (the rules: _policy, shared with _sync).  A
cancelled task or a passed ``timeout`` sends ``abort`` and waits for the
request's real reply (13 item 20).  See client/python/README.md.
"""

import asyncio
import logging
import socket
from typing import (Any, AsyncIterator, Awaitable, Callable, Dict, Iterable,
                    List, Optional, Sequence, Set, TypeVar)

from . import _api, _policy
from ._addr import Options
from ._mux import MAX_LINE, _Conn, _Lost, _retrieve
from ._policy import backoff
from ._proto import (CallTimeout, ConnectionError, Error, JobId, LeaseBase,
                     SelectResult, Unauthorized, check, nack_reason,
                     op_blocks)

__all__ = ["Client", "Lease", "Worker", "DEFAULT"]

T = TypeVar("T")
log = logging.getLogger("jqclient")


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Any = _Default()
"""``timeout=DEFAULT``: the client's own ``timeout``."""


class Lease(LeaseBase):
    """A value received with a lease, from :class:`Client` (asyncio).

    As :class:`jqclient.Lease`, with coroutines: ``await lease.ack()``,
    ``await lease.nack(delay_ms=, reason=)``, ``await lease.touch(ms)``;
    ``async with`` acks when the block ends normally, nacks (reason: the
    exception) when it raises."""

    __slots__ = ()
    client: "Client"

    async def ack(self) -> None:
        await self.client.ack(self.chan, self.lease)
        self.done = True

    async def nack(self, delay_ms: Optional[int] = None,
                   reason: Optional[str] = None) -> None:
        await self.client.nack(self.chan, self.lease, delay_ms, reason)
        self.done = True

    async def touch(self, lease_ms: int) -> int:
        return await self.client.touch(self.chan, self.lease, lease_ms)

    async def __aenter__(self) -> "Lease":
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        if self.done:
            return False
        if exc_type is None:
            await self.ack()
        else:
            try:
                await self.nack(reason=nack_reason(exc))
            except Error:
                pass    # its expiry returns it anyway
        return False


class Client(Options):
    """An asyncio client of jqd over one multiplexed connection.

    ``Client(addr=None, *, token=None, consumer=None, timeout=None, ...)``
    connects on ``await client.connect()`` or ``async with``; see
    client/python/README.md for every option.  Any number of tasks share
    it.  Every call takes ``timeout`` (seconds, default the client's;
    None: none): the client's own deadline, after which the request is
    aborted (:class:`CallTimeout`), or its result returned when it had
    completed meanwhile.
    """

    def _init_state(self) -> None:
        self._conn: Optional[_Conn] = None
        self._closed = False
        # Made in the loop on first use (Python 3.9 binds them at birth).
        self._dial_lock: Optional[asyncio.Lock] = None
        self._slots: Optional[asyncio.Semaphore] = None
        self._background: Set["asyncio.Future[Any]"] = set()

    # -- life cycle -------------------------------------------------------

    async def connect(self) -> "Client":
        """Connect now (errors show here); calls connect when needed."""
        await self._connection()
        return self

    async def close(self) -> None:
        """Close the connection; calls still pending fail (a blocked one is
        abandoned on the server: nothing taken)."""
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.fail(ConnectionError("the client is closed"))
            try:
                await conn.writer.wait_closed()
            except (OSError, RuntimeError):
                pass
        for t in list(self._background):
            t.cancel()

    def is_open(self) -> bool:
        return not self._closed

    async def __aenter__(self) -> "Client":
        return await self.connect()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    @property
    def features(self) -> Set[str]:
        """The features of the server's hello (empty before connecting)."""
        return set(self._conn.features) if self._conn else set()

    @property
    def server(self) -> Dict[str, Any]:
        """The last hello reply (server, version, minor, time_ms, ...)."""
        return dict(self._conn.hello) if self._conn else {}

    # -- connecting -------------------------------------------------------

    async def _connection(self) -> _Conn:
        conn = self._conn
        if conn is not None and conn.usable():
            return conn
        if self._closed:
            raise ConnectionError("the client is closed")
        if self._dial_lock is None:
            self._dial_lock = asyncio.Lock()
        async with self._dial_lock:
            conn = self._conn
            if conn is not None and conn.usable():
                return conn
            had = conn is not None
            loop = asyncio.get_running_loop()
            give_up = None if self.reconnect_timeout is None or not had \
                else loop.time() + self.reconnect_timeout
            attempt = 0
            while True:
                if self._closed:
                    raise ConnectionError("the client is closed")
                try:
                    conn = await self._dial()
                    break
                except Unauthorized:
                    raise
                except (Error, OSError) as e:
                    # The first connection fails at once (as Connection);
                    # a reconnect tries for reconnect_timeout.
                    if give_up is None or loop.time() >= give_up:
                        if isinstance(e, ConnectionError):
                            raise
                        raise ConnectionError("cannot connect to %s: %s"
                                              % (self.addr, e)) from e
                    await asyncio.sleep(min(backoff(attempt),
                                            max(0.0, give_up - loop.time())))
                    attempt += 1
            if had:
                self.reconnects += 1
            self._conn = conn
            return conn

    async def _dial(self) -> _Conn:
        failures: List[str] = []
        for t in self._dial_targets():
            try:
                conn = await self._open(t)
            except (Error, OSError, asyncio.TimeoutError) as e:
                self._dial_failed(t, e, isinstance(e, asyncio.TimeoutError),
                                  failures)
                continue
            self._dialed(t)
            return conn
        raise self._dial_none(failures)

    async def _open(self, t: Any) -> _Conn:
        if t.family == socket.AF_UNIX:
            opening = asyncio.open_unix_connection(t.sockaddr, limit=MAX_LINE)
        else:
            opening = asyncio.open_connection(
                t.sockaddr[0], t.sockaddr[1], limit=MAX_LINE, ssl=self._tls,
                server_hostname=(self.server_hostname or t.sockaddr[0])
                if self._tls else None)
        try:
            reader, writer = await asyncio.wait_for(opening,
                                                    self.connect_timeout)
        except OSError as e:
            raise ConnectionError("cannot connect to %s: %s" % (t.bare, e))
        conn = _Conn(reader, writer, t.bare, self.abort_grace)
        try:
            await asyncio.wait_for(self._handshake(conn),
                                   self.connect_timeout)
        except BaseException:
            conn.fail(ConnectionError("handshake failed"))
            raise
        return conn

    async def _handshake(self, conn: _Conn) -> None:
        """auth (with a token), then hello: multiplex, consumer."""
        try:
            if self._token:
                check(await conn.call(_api.auth(self._token).frame, None))
            hello = check(await conn.call(_api.hello(
                True, self.consumer).frame, None))
        except _Lost as e:
            raise e.cause if isinstance(e.cause, Error) else \
                ConnectionError(str(e.cause))
        conn.hello = _api.result(hello)
        conn.features = set(hello.get("features") or ())
        if hello.get("multiplex") is not True:
            raise Error("%s cannot multiplex (protocol 1.0): use "
                        "jqclient.Connection" % conn.addr)

    # -- requests ---------------------------------------------------------

    async def _run(self, req: "_api.Req[T]", timeout: Any = DEFAULT,
                   owner: Any = None) -> T:
        reply = await self._request(req.frame, timeout)
        return req.finish(reply, self if owner is None else owner)

    async def _request(self, frame: Dict[str, Any], timeout: Any = DEFAULT,
                       on_frame: Optional[Callable[[Dict[str, Any]], None]]
                       = None, on_retry: Optional[Callable[[], None]] = None
                       ) -> Dict[str, Any]:
        """Send a request (again on a new connection when that is safe)
        and return its checked reply."""
        if timeout is DEFAULT:
            timeout = self.timeout
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        frame = _policy.prepare(frame, self.auto_key)
        op = frame.get("op")
        if self.max_pending is None or not op_blocks(op):
            return await self._attempts(frame, deadline, on_frame, on_retry)
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_pending)
        async with self._slots:
            return await self._attempts(frame, deadline, on_frame, on_retry)

    async def _attempts(self, frame: Dict[str, Any], deadline: Optional[float],
                        on_frame: Optional[Callable[[Dict[str, Any]], None]],
                        on_retry: Optional[Callable[[], None]]
                        ) -> Dict[str, Any]:
        loop = asyncio.get_running_loop()
        op = frame.get("op")
        again = 0           # sends of this request so far, minus one
        busy = 0            # "exists" answers to a keyed send
        while True:
            conn = self._conn
            if conn is None or not conn.usable():
                try:
                    conn = await asyncio.wait_for(
                        self._connection(),
                        None if deadline is None else deadline - loop.time())
                except asyncio.TimeoutError:
                    raise CallTimeout("no reply to %s within the client's "
                                      "timeout (reconnecting)" % op) from None
            if again and on_retry is not None:
                on_retry()
            try:
                reply = await conn.call(frame, deadline, on_frame,
                                        lambda r: self._salvage(frame, r))
            except _Lost as e:
                failure = _policy.lost(frame, conn.addr, e.cause,
                                       self._closed)
                if failure is not None:
                    raise failure from None
                again += 1
                continue
            action, checked = _policy.answered(frame, reply, again)
            if action == _policy.STOPPING:
                conn.stopping = True
                again += 1
                await asyncio.sleep(backoff(again))
                continue
            if action == _policy.BUSY:
                busy += 1
                await asyncio.sleep(backoff(busy))
                continue
            return checked

    def _salvage(self, frame: Dict[str, Any], reply: Dict[str, Any]) -> None:
        """A reply that came after its task was cancelled: nack leases,
        keep values in self.orphans (never drop them)."""
        leases, kept = _policy.salvage(frame, reply)
        for lease in leases:
            self._spawn(self._request(_api.nack(frame.get("chan"),
                                                lease).frame))
        if kept is not None:
            self.orphans.append(kept)
            log.warning(_policy.ORPHAN_WARNING, frame.get("op"))

    def _spawn(self, coro: Awaitable[Any]) -> None:
        t = asyncio.ensure_future(coro)
        self._background.add(t)
        t.add_done_callback(self._background.discard)
        t.add_done_callback(_retrieve)

    def _lease(self, chan: str, value: Any, lease: str, redelivered: int,
               consumer: Optional[str]) -> Lease:
        return Lease(self, chan, value, lease, redelivered,
                     consumer or self.consumer)

    # -- the API (each call is described once, in _api and the README) ----

    async def call(self, op: str, timeout: Any = DEFAULT,
                   **fields: Any) -> Dict[str, Any]:
        """Any op, fields as given; the reply dict (errors raised)."""
        return await self._run(_api.call(op, fields), timeout)

    async def ping(self, *, timeout: Any = DEFAULT) -> None:
        await self._run(_api.ping(), timeout)

    async def stats(self, *, timeout: Any = DEFAULT) -> Dict[str, Any]:
        return await self._run(_api.stats(), timeout)

    async def hello(self, *, timeout: Any = DEFAULT) -> Dict[str, Any]:
        return await self._run(_api.hello(consumer=self.consumer), timeout)

    async def make(self, chan: str, cap: int = 0, *,
                   dedup_window_ms: Optional[int] = None,
                   dedup_max: Optional[int] = None,
                   max_deliveries: Optional[int] = None,
                   dead_letter: Optional[str] = None,
                   timeout: Any = DEFAULT) -> bool:
        return await self._run(_api.make(chan, cap, dedup_window_ms,
                                         dedup_max, max_deliveries,
                                         dead_letter), timeout)

    async def send(self, chan: str, value: Any,
                   timeout_ms: Optional[int] = None, *,
                   key: Optional[str] = None,
                   timeout: Any = DEFAULT) -> bool:
        return await self._run(_api.send(chan, value, timeout_ms, key),
                               timeout)

    async def send_batch(self, chan: str, values: Iterable[Any],
                         timeout_ms: Optional[int] = None, *,
                         key: Optional[str] = None,
                         timeout: Any = DEFAULT) -> bool:
        return await self._run(_api.send_batch(chan, values, timeout_ms,
                                               key), timeout)

    async def recv(self, chan: str, timeout_ms: Optional[int] = None, *,
                   timeout: Any = DEFAULT) -> Any:
        return await self._run(_api.recv(chan, timeout_ms), timeout)

    async def recv_many(self, chan: str, max: int,
                        timeout_ms: Optional[int] = None, *,
                        timeout: Any = DEFAULT) -> List[Any]:
        return await self._run(_api.recv_many(chan, max, timeout_ms), timeout)

    async def recv_lease(self, chan: str, lease_ms: int,
                         timeout_ms: Optional[int] = None, *,
                         consumer: Optional[str] = None,
                         timeout: Any = DEFAULT) -> Lease:
        return await self._run(_api.recv_lease(chan, lease_ms, timeout_ms,
                                               consumer), timeout)

    async def recv_leases(self, chan: str, max: int, lease_ms: int,
                          timeout_ms: Optional[int] = None, *,
                          consumer: Optional[str] = None,
                          timeout: Any = DEFAULT) -> List[Lease]:
        return await self._run(_api.recv_leases(chan, max, lease_ms,
                                                timeout_ms, consumer), timeout)

    async def ack(self, chan: str, lease: Any, *,
                  timeout: Any = DEFAULT) -> None:
        await self._run(_api.ack(chan, lease), timeout)

    async def nack(self, chan: str, lease: Any,
                   delay_ms: Optional[int] = None,
                   reason: Optional[str] = None, *,
                   timeout: Any = DEFAULT) -> None:
        await self._run(_api.nack(chan, lease, delay_ms, reason), timeout)

    async def touch(self, chan: str, lease: Any, lease_ms: int, *,
                    timeout: Any = DEFAULT) -> int:
        return await self._run(_api.touch(chan, lease, lease_ms), timeout)

    async def close_chan(self, chan: str, *, timeout: Any = DEFAULT) -> None:
        await self._run(_api.close(chan), timeout)

    async def drop(self, chan: str, *, timeout: Any = DEFAULT) -> None:
        await self._run(_api.drop(chan), timeout)

    async def stat(self, chan: str, *,
                   timeout: Any = DEFAULT) -> Dict[str, Any]:
        return await self._run(_api.stat(chan), timeout)

    async def chans(self, prefix: Optional[str] = None, *,
                    timeout: Any = DEFAULT) -> List[Dict[str, Any]]:
        return await self._run(_api.chans(prefix), timeout)

    async def peek(self, chan: str, n: Optional[int] = None, *,
                   timeout: Any = DEFAULT) -> List[Any]:
        return await self._run(_api.peek(chan, n), timeout)

    async def select(self, cases: Sequence[Any],
                     timeout_ms: Optional[int] = None, *,
                     timeout: Any = DEFAULT) -> SelectResult:
        return await self._run(_api.select(cases, timeout_ms), timeout)

    async def submit(self, argv: Sequence[str], *, timeout: Any = DEFAULT,
                     **fields: Any) -> JobId:
        return await self._run(_api.submit(argv, **fields), timeout)

    async def job(self, job: int, *,
                  timeout: Any = DEFAULT) -> Dict[str, Any]:
        return await self._run(_api.job(job), timeout)

    async def jobs(self, state: Optional[str] = None,
                   group: Optional[str] = None, limit: Optional[int] = None,
                   before: Optional[int] = None, *,
                   timeout: Any = DEFAULT) -> List[Dict[str, Any]]:
        return await self._run(_api.jobs(state, group, limit, before),
                               timeout)

    async def cancel(self, job: Optional[int] = None,
                     group: Optional[str] = None, *,
                     timeout: Any = DEFAULT) -> int:
        return await self._run(_api.cancel(job, group), timeout)

    async def wait(self, jobs: Optional[Iterable[int]] = None,
                   group: Optional[str] = None,
                   timeout_ms: Optional[int] = None, *,
                   output: Optional[bool] = None,
                   timeout: Any = DEFAULT) -> List[Dict[str, Any]]:
        return await self._run(_api.wait(jobs, group, timeout_ms, output),
                               timeout)

    async def group(self, group: str, *,
                    timeout: Any = DEFAULT) -> Dict[str, Any]:
        return await self._run(_api.group(group), timeout)

    async def watch(self, job: Optional[int] = None,
                    group: Optional[str] = None, *,
                    output: Optional[bool] = None,
                    progress: Optional[bool] = None
                    ) -> AsyncIterator[Dict[str, Any]]:
        """Yield the watch's frames (dicts with ``event``), then its reply
        (the dict without ``event``) last.  Watched again after a
        reconnect, without repeating output already yielded."""
        req = _api.watch(job, group, output, progress)
        seen = _api.WatchOutput()
        frames = _api.WatchFrames()
        more = asyncio.Event()

        def on_frame(frame: Dict[str, Any]) -> None:
            shown = seen.filter(frame)
            if shown is not None:
                frames.append(shown)
                more.set()
        task = asyncio.ensure_future(self._request(
            req.frame, None, on_frame, seen.restart))
        waking: "asyncio.Future[Any]" = task    # none yet
        try:
            while True:
                while frames:
                    yield frames.popleft()
                if task.done():
                    reply = task.result()
                    frames.end(reply.get("id"))
                    while frames:
                        yield frames.popleft()
                    yield _api.result(reply)
                    return
                more.clear()
                waking = asyncio.ensure_future(more.wait())
                await asyncio.wait({waking, task},
                                   return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (waking, task):
                if not t.done():
                    t.cancel()

    async def workers(self, *, timeout: Any = DEFAULT,
                      **fields: Any) -> List[Dict[str, Any]]:
        return await self._run(_api.workers(**fields), timeout)

    async def retry(self, job: int, *, timeout: Any = DEFAULT) -> int:
        return await self._run(_api.retry(job), timeout)

    async def purge(self, state: Optional[str] = None,
                    group: Optional[str] = None, *,
                    before_ms: Optional[int] = None,
                    older_than_ms: Optional[int] = None,
                    timeout: Any = DEFAULT) -> int:
        return await self._run(_api.purge(state, group, before_ms,
                                          older_than_ms), timeout)

    async def pool(self, pool: Optional[str] = None, *,
                   pause: Optional[bool] = None,
                   workers: Optional[int] = None,
                   timeout: Any = DEFAULT) -> Dict[str, Any]:
        return await self._run(_api.pool(pool, pause, workers), timeout)


from .worker import AsyncWorker as Worker  # noqa: E402
