"""jqclient.Client: the thread-safe client.

It runs a :class:`jqclient.aio.Client` on an event loop in a thread of its
own (the connection's one reader and writer); each call hands its request
to that loop and waits for the reply, so any number of threads share one
multiplexed connection, and a blocked ``recv`` holds nobody else.  The
protocol logic -- ids, reconnect, retries, abort -- is the aio client's.
"""

import asyncio
import concurrent.futures
import queue
import threading
from typing import (Any, Coroutine, Dict, Iterable, Iterator, List, Optional,
                    Sequence, TypeVar)

from . import _api
from ._proto import JobId, Lease, SelectResult
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
        self._aio = AsyncClient(addr, **options)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever,
                                         name="jqclient", daemon=True)
        self._thread.start()
        self._closed = False
        try:
            self._wait(self._aio.connect())
        except BaseException:
            self.close()
            raise

    # -- plumbing ---------------------------------------------------------

    def _wait(self, coro: "Coroutine[Any, Any, T]") -> T:
        """Run coro on the client's loop and wait for it.  An interrupt
        (KeyboardInterrupt) cancels it: the request is aborted, and a
        value that came anyway is kept (leases nacked, values in
        :attr:`orphans`)."""
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return fut.result()
        except concurrent.futures.CancelledError:
            raise asyncio.CancelledError() from None
        except BaseException:
            fut.cancel()
            raise

    def _run(self, req: "_api.Req[T]", timeout: Any) -> T:
        return self._wait(self._aio._run(req, timeout, owner=self))

    def _lease(self, chan: str, value: Any, lease: str, redelivered: int,
               consumer: Optional[str]) -> Lease:
        return Lease(self, chan, value, lease, redelivered,
                     consumer or self._aio.consumer)

    @property
    def aio(self) -> AsyncClient:
        """The asyncio client underneath (runs on :attr:`loop`)."""
        return self._aio

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop of the client's thread."""
        return self._loop

    @property
    def orphans(self) -> List[Dict[str, Any]]:
        """Values received by calls that were interrupted (see aio)."""
        return self._aio.orphans

    @property
    def reconnects(self) -> int:
        """How many times the connection was made again."""
        return self._aio.reconnects

    @property
    def features(self) -> "set[str]":
        return self._aio.features

    @property
    def server(self) -> Dict[str, Any]:
        return self._aio.server

    @property
    def addr(self) -> str:
        return self._aio.addr

    def close(self, chan: Optional[str] = None) -> None:
        """``close()``: close the connection and stop the client's thread
        (idempotent).  ``close(chan)``: close the channel, as
        :meth:`close_chan` (as :class:`jqclient.Connection` does)."""
        if chan is not None:
            self.close_chan(chan)
            return
        if self._closed:
            return
        self._closed = True
        if self._loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(self._aio.close(),
                                                 self._loop).result(10)
            except (concurrent.futures.TimeoutError, RuntimeError):
                pass
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()

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
        return self._run(_api.hello(consumer=self._aio.consumer), timeout)

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
        items: "queue.Queue[Any]" = queue.Queue()
        end = object()

        async def pump() -> None:
            try:
                async for item in self._aio.watch(job, group, output=output,
                                                  progress=progress):
                    items.put(item)
            except BaseException as e:
                items.put(e)
                raise
            finally:
                items.put(end)
        fut = asyncio.run_coroutine_threadsafe(pump(), self._loop)
        try:
            while True:
                item = items.get()
                if item is end:
                    return
                if isinstance(item, BaseException):
                    if isinstance(item, asyncio.CancelledError):
                        return
                    raise item
                yield item
        finally:
            fut.cancel()

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
