"""The worker loop: take values on lease from a channel, run a handler on
each, ack on success, nack with the error as reason on failure, touch the
lease while the handler runs, stop gracefully.

One loop, written once for asyncio (:class:`AsyncWorker`, coroutine
handlers); :class:`Worker` runs it on a :class:`jqclient.Client`'s loop
with plain functions as handlers, each in a thread of a pool of
``concurrency`` threads.
"""

import asyncio
import concurrent.futures
import logging
import os
import signal
import socket
import threading
from typing import Any, Awaitable, Callable, Optional, Set

from ._proto import Closed, Error, NotFound, nack_reason

__all__ = ["AsyncWorker", "Worker", "default_consumer"]

log = logging.getLogger("jqclient")


def default_consumer() -> str:
    """``HOST.PID``: a consumer name of this process (PROTOCOL.md 6.3.1:
    1-128 bytes of ``[A-Za-z0-9._:-]``)."""
    host = "".join(c if c.isalnum() or c in "._-" else "-"
                   for c in socket.gethostname()) or "host"
    return ("%s.%d" % (host, os.getpid()))[-128:]


class AsyncWorker:
    """``AsyncWorker(chan, handler, *, client=None, concurrency=1,
    lease_ms=30000, consumer=None, nack_delay_ms=None, grace=30.0)``.

    ``handler(value)`` is a coroutine function.  Values are received on
    lease by the named consumer ``consumer`` (default
    :func:`default_consumer`), so a lease outlives a reconnect or a jqd
    restart; while the handler runs the lease is touched every
    ``lease_ms / 2``.  Return: ack.  Exception: nack with ``reason`` the
    exception's text and ``delay_ms`` ``nack_delay_ms``.  ``client``: a
    :class:`jqclient.aio.Client` (default: one made from the environment,
    closed at the end).

    ``await worker.run()`` returns the number of values handled when the
    channel is closed and drained, or after :meth:`stop`: no more values
    are taken, running handlers get ``grace`` seconds, then they are
    cancelled and their leases nacked.  ``run(signals=True)`` makes
    SIGTERM and SIGINT call :meth:`stop` (main thread only).
    """

    def __init__(self, chan: str, handler: Callable[[Any], Awaitable[Any]],
                 *, client: Any = None, concurrency: int = 1,
                 lease_ms: int = 30000, consumer: Optional[str] = None,
                 nack_delay_ms: Optional[int] = None,
                 grace: float = 30.0) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.chan = chan
        self.handler = handler
        self.client = client
        self.concurrency = concurrency
        self.lease_ms = lease_ms
        self.consumer = consumer or default_consumer()
        self.nack_delay_ms = nack_delay_ms
        self.grace = grace
        self.handled = 0        # acked
        self.failed = 0         # nacked after the handler raised
        self._stopping: Optional[asyncio.Event] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None

    def stop(self) -> None:
        """Stop taking values; let running handlers finish (thread-safe)."""
        loop, ev = self._loop, self._stopping
        if loop is None or ev is None:
            self._stop_early = True
            return
        loop.call_soon_threadsafe(ev.set)

    _stop_early = False

    @property
    def stopped(self) -> bool:
        """True once :meth:`stop` was called (or a signal came)."""
        return self._stop_early or (self._stopping is not None
                                    and self._stopping.is_set())

    async def run(self, signals: bool = False) -> int:
        from .aio import Client
        own = self.client is None
        client = Client() if own else self.client
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        if self._stop_early:
            self._stopping.set()
        if signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._loop.add_signal_handler(sig, self._stopping.set)
        try:
            if own:
                await client.connect()
            await self._loop_takes(client)
        finally:
            if signals:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    self._loop.remove_signal_handler(sig)
            if own:
                await client.close()
        return self.handled

    async def _loop_takes(self, client: Any) -> None:
        assert self._stopping is not None
        slots = asyncio.Semaphore(self.concurrency)
        running: Set["asyncio.Task[None]"] = set()
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            while not self._stopping.is_set():
                acquiring = asyncio.ensure_future(slots.acquire())
                await asyncio.wait({acquiring, stopping},
                                   return_when=asyncio.FIRST_COMPLETED)
                if not acquiring.done():
                    acquiring.cancel()
                    break
                if self._stopping.is_set():
                    slots.release()
                    break
                take = asyncio.ensure_future(client.recv_lease(
                    self.chan, self.lease_ms, consumer=self.consumer))
                await asyncio.wait({take, stopping},
                                   return_when=asyncio.FIRST_COMPLETED)
                if not take.done():
                    take.cancel()       # abort; a lease that came is nacked
                    await asyncio.wait({take})
                    slots.release()
                    break
                try:
                    lease = take.result()
                except Closed:
                    slots.release()
                    break
                task = asyncio.ensure_future(self._handle(client, lease))
                running.add(task)
                task.add_done_callback(running.discard)
                task.add_done_callback(lambda _t: slots.release())
        finally:
            stopping.cancel()
            if running:
                _, late = await asyncio.wait(set(running), timeout=self.grace)
                for t in late:
                    t.cancel()
                if late:
                    await asyncio.wait(late)

    async def _handle(self, client: Any, lease: Any) -> None:
        work = asyncio.ensure_future(self.handler(lease.value))
        toucher = asyncio.ensure_future(self._touch(lease, work))
        try:
            await asyncio.shield(work)
        except asyncio.CancelledError:
            work.cancel()
            await self._nack(lease, "stopped: the worker's grace period "
                             "passed", None)
            raise
        except Exception as e:
            self.failed += 1
            await self._nack(lease, nack_reason(e), self.nack_delay_ms)
            return
        finally:
            toucher.cancel()
        try:
            await lease.ack()
            self.handled += 1
        except NotFound:
            pass    # the lease expired meanwhile: it comes again
        except Error as e:
            log.warning("jqclient worker: cannot ack a value of %s: %s "
                        "(it comes again when its lease expires)",
                        self.chan, e)

    async def _nack(self, lease: Any, reason: str,
                    delay_ms: Optional[int]) -> None:
        try:
            await lease.nack(delay_ms=delay_ms, reason=reason)
        except Error:
            pass    # expired, or the client closed: it comes back anyway

    async def _touch(self, lease: Any, work: "asyncio.Future[Any]") -> None:
        every = self.lease_ms / 2000.0
        while not work.done():
            await asyncio.sleep(every)
            if work.done():
                return
            try:
                await lease.touch(self.lease_ms)
            except NotFound:
                return      # gone: its value is someone else's now
            except Error:
                pass        # try again at the next turn


class Worker:
    """The thread flavour: ``Worker(chan, handler, *, client=None,
    concurrency=1, lease_ms=30000, consumer=None, nack_delay_ms=None,
    grace=30.0)`` with ``handler(value)`` a plain function, run in a pool
    of ``concurrency`` threads.  ``client``: a :class:`jqclient.Client`
    (default: one from the environment, closed at the end).

    ``worker.run()`` blocks until the channel is closed and drained or
    :meth:`stop` is called (from any thread), and returns the number of
    values handled.  Called in the main thread, it makes SIGTERM and
    SIGINT call :meth:`stop` while it runs (the previous handlers are put
    back after).  A handler still running after ``grace`` cannot be
    killed (it is a thread): its lease is nacked, and run() returns once
    it ends.
    """

    def __init__(self, chan: str, handler: Callable[[Any], Any], *,
                 client: Any = None, concurrency: int = 1,
                 **options: Any) -> None:
        self.client = client
        self._pool = concurrent.futures.ThreadPoolExecutor(
            concurrency, thread_name_prefix="jqworker")
        self.handler = handler

        async def run_in_thread(value: Any) -> Any:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, handler, value)
        self._worker = AsyncWorker(chan, run_in_thread,
                                   concurrency=concurrency, **options)

    @property
    def handled(self) -> int:
        return self._worker.handled

    @property
    def failed(self) -> int:
        return self._worker.failed

    @property
    def consumer(self) -> str:
        return self._worker.consumer

    @property
    def stopped(self) -> bool:
        return self._worker.stopped

    def stop(self) -> None:
        self._worker.stop()

    def run(self) -> int:
        from .client import Client
        own = self.client is None
        client = Client() if own else self.client
        self._worker.client = client.aio
        main = threading.current_thread() is threading.main_thread()
        old = {}
        if main:
            for sig in (signal.SIGTERM, signal.SIGINT):
                old[sig] = signal.signal(sig, lambda *_: self.stop())
        try:
            fut = asyncio.run_coroutine_threadsafe(self._worker.run(),
                                                   client.loop)
            while True:
                try:
                    return fut.result(0.5 if main else None)
                except concurrent.futures.TimeoutError:
                    continue    # let the main thread see signals
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)
            self._pool.shutdown(wait=True)
            if own:
                client.close()
