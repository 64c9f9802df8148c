"""jqclient.Client: the thread-safe client.

Any number of threads share one multiplexed connection, which they drive
themselves (_sync.py: the caller whose reply is awaited reads for all,
leader/follower), so a call costs no hop to another thread and a blocked
``recv`` holds nobody else.  The protocol's rules -- which requests are
sent again, reconnect backoff, what an interrupted call keeps -- are
_policy's and the op table's, shared with :class:`jqclient.aio.Client`.
"""

import asyncio
import threading
from typing import (Any, Dict, Iterable, Iterator, List, Optional, Sequence,
                    TypeVar)

from . import _api
from ._proto import ConnectionError, JobId, Lease, SelectResult
from ._sync import Engine
from .aio import DEFAULT
from .aio import Client as AsyncClient

__all__ = ["Client"]

T = TypeVar("T")


class Client:
    """A thread-safe client of jqd over one multiplexed connection.

    ``Client(addr=None, *, token=None, consumer=None, timeout=None,
    reconnect_timeout=30.0, max_pending=None, auto_key=False, tls=None,
    cafile=None, certfile=None, keyfile=None, server_hostname=None,
    connect_timeout=None, abort_grace=10.0)`` connects at once, so errors
    show here.  Use it as a context manager, or call :meth:`close`.  Every
    call takes ``timeout`` (seconds; default the client's, None for none):
    past it the request is aborted and :class:`jqclient.CallTimeout`
    raised -- or, if it completed meanwhile, its result returned.  See
    client/python/README.md.
    """

    def __init__(self, addr: Any = None, **options: Any) -> None:
        self._options = options
        self._engine = Engine(addr, **options)
        self._addr_arg = addr
        self._aio: Optional[AsyncClient] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._aio_lock = threading.Lock()
        self._closed = False
        try:
            self._engine.connection(None)
        except BaseException:
            self.close()
            raise

    # -- plumbing ---------------------------------------------------------

    def _run(self, req: "_api.Req[T]", timeout: Any) -> T:
        if timeout is DEFAULT:
            timeout = self._engine.timeout
        return req.finish(self._engine.request(req.frame, timeout), self)

    def _lease(self, chan: str, value: Any, lease: str, redelivered: int,
               consumer: Optional[str]) -> Lease:
        return Lease(self, chan, value, lease, redelivered,
                     consumer or self._engine.consumer)

    def _start_aio(self) -> None:
        with self._aio_lock:
            if self._aio is not None:
                return
            if self._closed:
                raise ConnectionError("the client is closed")
            loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=loop.run_forever,
                                            name="jqclient", daemon=True)
            self._thread.start()
            self._loop = loop
            self._aio = AsyncClient(self._addr_arg, **self._options)

    @property
    def aio(self) -> AsyncClient:
        """An asyncio client with the same options, running on
        :attr:`loop` (a thread and a connection of its own, made on first
        use: the sync Worker runs there)."""
        self._start_aio()
        assert self._aio is not None
        return self._aio

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop of :attr:`aio`'s thread (started on first use)."""
        self._start_aio()
        assert self._loop is not None
        return self._loop

    @property
    def orphans(self) -> List[Dict[str, Any]]:
        """Values received by calls that were interrupted (kept, not
        dropped: see the README)."""
        return self._engine.orphans

    @property
    def reconnects(self) -> int:
        """How many times the connection was made again."""
        return self._engine.reconnects

    @property
    def features(self) -> "set[str]":
        conn = self._engine._conn
        return set(conn.features) if conn else set()

    @property
    def server(self) -> Dict[str, Any]:
        conn = self._engine._conn
        return dict(conn.hello) if conn else {}

    @property
    def addr(self) -> str:
        return self._engine.addr

    def close(self, chan: Optional[str] = None) -> None:
        """``close()``: close the connection (idempotent; calls still
        waiting fail).  ``close(chan)``: close the channel, as
        :meth:`close_chan` (as :class:`jqclient.Connection` does)."""
        if chan is not None:
            self.close_chan(chan)
            return
        with self._aio_lock:
            if self._closed:
                return
            self._closed = True
        self._engine.close()
        loop, thread, aio = self._loop, self._thread, self._aio
        if loop is None or thread is None or aio is None:
            return
        if loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(aio.close(),
                                                 loop).result(10)
            except (TimeoutError, RuntimeError,
                    asyncio.TimeoutError):
                pass
            loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        if not thread.is_alive():
            loop.close()

    def is_open(self) -> bool:
        return not self._closed

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return "<jqclient.Client %s%s>" % (self.addr, "" if self.is_open()
                                           else " (closed)")

    # -- the API: the same calls as jqclient.aio.Client ---------------------

    def call(self, op: str, timeout: Any = DEFAULT,
             **fields: Any) -> Dict[str, Any]:
        return self._run(_api.call(op, fields), timeout)

    def ping(self, *, timeout: Any = DEFAULT) -> None:
        self._run(_api.ping(), timeout)

    def stats(self, *, timeout: Any = DEFAULT) -> Dict[str, Any]:
        return self._run(_api.stats(), timeout)

    def hello(self, *, timeout: Any = DEFAULT) -> Dict[str, Any]:
        return self._run(_api.hello(consumer=self._engine.consumer),
                         timeout)

    def make(self, chan: str, cap: int = 0, *,
             dedup_window_ms: Optional[int] = None,
             dedup_max: Optional[int] = None,
             max_deliveries: Optional[int] = None,
             dead_letter: Optional[str] = None,
             timeout: Any = DEFAULT) -> bool:
        return self._run(_api.make(chan, cap, dedup_window_ms, dedup_max,
                                   max_deliveries, dead_letter), timeout)

    def send(self, chan: str, value: Any, timeout_ms: Optional[int] = None,
             *, key: Optional[str] = None, timeout: Any = DEFAULT) -> bool:
        return self._run(_api.send(chan, value, timeout_ms, key), timeout)

    def send_batch(self, chan: str, values: Iterable[Any],
                   timeout_ms: Optional[int] = None, *,
                   key: Optional[str] = None, timeout: Any = DEFAULT) -> bool:
        return self._run(_api.send_batch(chan, values, timeout_ms, key),
                         timeout)

    def recv(self, chan: str, timeout_ms: Optional[int] = None, *,
             timeout: Any = DEFAULT) -> Any:
        return self._run(_api.recv(chan, timeout_ms), timeout)

    def recv_many(self, chan: str, max: int, timeout_ms: Optional[int] = None,
                  *, timeout: Any = DEFAULT) -> List[Any]:
        return self._run(_api.recv_many(chan, max, timeout_ms), timeout)

    def recv_lease(self, chan: str, lease_ms: int,
                   timeout_ms: Optional[int] = None, *,
                   consumer: Optional[str] = None,
                   timeout: Any = DEFAULT) -> Lease:
        return self._run(_api.recv_lease(chan, lease_ms, timeout_ms,
                                         consumer), timeout)

    def recv_leases(self, chan: str, max: int, lease_ms: int,
                    timeout_ms: Optional[int] = None, *,
                    consumer: Optional[str] = None,
                    timeout: Any = DEFAULT) -> List[Lease]:
        return self._run(_api.recv_leases(chan, max, lease_ms, timeout_ms,
                                          consumer), timeout)

    def ack(self, chan: str, lease: Any, *, timeout: Any = DEFAULT) -> None:
        self._run(_api.ack(chan, lease), timeout)

    def nack(self, chan: str, lease: Any, delay_ms: Optional[int] = None,
             reason: Optional[str] = None, *, timeout: Any = DEFAULT) -> None:
        self._run(_api.nack(chan, lease, delay_ms, reason), timeout)

    def touch(self, chan: str, lease: Any, lease_ms: int, *,
              timeout: Any = DEFAULT) -> int:
        return self._run(_api.touch(chan, lease, lease_ms), timeout)

    def close_chan(self, chan: str, *, timeout: Any = DEFAULT) -> None:
        self._run(_api.close(chan), timeout)

    def drop(self, chan: str, *, timeout: Any = DEFAULT) -> None:
        self._run(_api.drop(chan), timeout)

    def stat(self, chan: str, *, timeout: Any = DEFAULT) -> Dict[str, Any]:
        return self._run(_api.stat(chan), timeout)

    def chans(self, prefix: Optional[str] = None, *,
              timeout: Any = DEFAULT) -> List[Dict[str, Any]]:
        return self._run(_api.chans(prefix), timeout)

    def peek(self, chan: str, n: Optional[int] = None, *,
             timeout: Any = DEFAULT) -> List[Any]:
        return self._run(_api.peek(chan, n), timeout)

    def select(self, cases: Sequence[Any], timeout_ms: Optional[int] = None,
               *, timeout: Any = DEFAULT) -> SelectResult:
        return self._run(_api.select(cases, timeout_ms), timeout)

    def submit(self, argv: Sequence[str], *, timeout: Any = DEFAULT,
               **fields: Any) -> JobId:
        return self._run(_api.submit(argv, **fields), timeout)

    def job(self, job: int, *, timeout: Any = DEFAULT) -> Dict[str, Any]:
        return self._run(_api.job(job), timeout)

    def jobs(self, state: Optional[str] = None, group: Optional[str] = None,
             limit: Optional[int] = None, before: Optional[int] = None, *,
             timeout: Any = DEFAULT) -> List[Dict[str, Any]]:
        return self._run(_api.jobs(state, group, limit, before), timeout)

    def cancel(self, job: Optional[int] = None, group: Optional[str] = None,
               *, timeout: Any = DEFAULT) -> int:
        return self._run(_api.cancel(job, group), timeout)

    def wait(self, jobs: Optional[Iterable[int]] = None,
             group: Optional[str] = None, timeout_ms: Optional[int] = None,
             *, output: Optional[bool] = None,
             timeout: Any = DEFAULT) -> List[Dict[str, Any]]:
        return self._run(_api.wait(jobs, group, timeout_ms, output), timeout)

    def group(self, group: str, *, timeout: Any = DEFAULT) -> Dict[str, Any]:
        return self._run(_api.group(group), timeout)

    def watch(self, job: Optional[int] = None, group: Optional[str] = None,
              *, output: Optional[bool] = None,
              progress: Optional[bool] = None
              ) -> Iterator[Dict[str, Any]]:
        """The watch's frames, then its reply last (see aio.Client.watch).
        Closing the iterator early aborts the watch."""
        return self._engine.watch(_api.watch(job, group, output,
                                             progress).frame)

    def workers(self, *, timeout: Any = DEFAULT,
                **fields: Any) -> List[Dict[str, Any]]:
        return self._run(_api.workers(**fields), timeout)

    def retry(self, job: int, *, timeout: Any = DEFAULT) -> int:
        return self._run(_api.retry(job), timeout)

    def purge(self, state: Optional[str] = None, group: Optional[str] = None,
              *, before_ms: Optional[int] = None,
              older_than_ms: Optional[int] = None,
              timeout: Any = DEFAULT) -> int:
        return self._run(_api.purge(state, group, before_ms, older_than_ms),
                         timeout)

    def pool(self, pool: Optional[str] = None, *,
             pause: Optional[bool] = None, workers: Optional[int] = None,
             timeout: Any = DEFAULT) -> Dict[str, Any]:
        return self._run(_api.pool(pool, pause, workers), timeout)
