"""Every call of the API, once: the request it sends and how its reply
becomes the result.  jqclient.Client (threads) and jqclient.aio.Client
(asyncio) both run these; neither knows a field name of its own.

A builder returns a :class:`Req`: ``frame`` (the request without ``id``;
fields that are None are left out, the server's default) and ``finish``,
called with the checked reply and the client (for the Lease objects it
makes), which returns what the caller gets.
"""

import collections
import uuid
from typing import (Any, Callable, Dict, Generic, Iterable, List, Mapping,
                    Optional, Sequence, TypeVar, Union)

from ._proto import Closed, JobId, SelectResult

T = TypeVar("T")
Reply = Dict[str, Any]


class Req(Generic[T]):
    """One request and the function that reads its reply."""

    __slots__ = ("frame", "finish")

    def __init__(self, frame: Dict[str, Any],
                 finish: Callable[[Reply, Any], T]) -> None:
        self.frame = frame
        self.finish = finish


def _frame(op: str, **fields: Any) -> Dict[str, Any]:
    frame = {k: v for k, v in fields.items() if v is not None}
    frame["op"] = op
    return frame


def result(reply: Reply) -> Dict[str, Any]:
    """A reply's result members: the reply without ``id`` and ``ok``."""
    return {k: v for k, v in reply.items() if k not in ("id", "ok")}


def _member(name: str) -> Callable[[Reply, Any], Any]:
    return lambda r, _c: r[name]


def _nothing(_r: Reply, _c: Any) -> None:
    return None


def _all(r: Reply, _c: Any) -> Dict[str, Any]:
    return result(r)


def new_key() -> str:
    """A fresh idempotency key: 128 random bits (PROTOCOL.md 13 item 23)."""
    return uuid.uuid4().hex


def _closed(chan: str) -> Closed:
    return Closed("closed", "channel '%s' is closed" % chan)


# -- session ------------------------------------------------------------------

def hello(multiplex: Optional[bool] = None,
          consumer: Optional[str] = None) -> "Req[Dict[str, Any]]":
    return Req(_frame("hello", multiplex=multiplex, consumer=consumer), _all)


def auth(token: str) -> "Req[None]":
    return Req(_frame("auth", token=token), _nothing)


def ping() -> "Req[None]":
    return Req(_frame("ping"), _nothing)


def stats() -> "Req[Dict[str, Any]]":
    return Req(_frame("stats"), _all)


def abort(ref: Any) -> "Req[bool]":
    return Req(_frame("abort", ref=ref), _member("aborted"))


# -- channels -------------------------------------------------------------------

def make(chan: str, cap: int = 0, dedup_window_ms: Optional[int] = None,
         dedup_max: Optional[int] = None,
         max_deliveries: Optional[int] = None,
         dead_letter: Optional[str] = None) -> "Req[bool]":
    return Req(_frame("make", chan=chan, cap=cap,
                      dedup_window_ms=dedup_window_ms, dedup_max=dedup_max,
                      max_deliveries=max_deliveries,
                      dead_letter=dead_letter), _member("created"))


def _sent(r: Reply, _c: Any) -> bool:
    return r.get("duplicate") is not True


def send(chan: str, value: Any, timeout_ms: Optional[int] = None,
         key: Optional[str] = None) -> "Req[bool]":
    frame = _frame("send", chan=chan, timeout_ms=timeout_ms, key=key)
    frame["value"] = value          # None is a value here: null
    return Req(frame, _sent)


def send_batch(chan: str, values: Iterable[Any],
               timeout_ms: Optional[int] = None,
               key: Optional[str] = None) -> "Req[bool]":
    return Req(_frame("send", chan=chan, values=list(values),
                      timeout_ms=timeout_ms, key=key), _sent)


def recv(chan: str, timeout_ms: Optional[int] = None) -> "Req[Any]":
    def finish(r: Reply, _c: Any) -> Any:
        if r.get("closed") is True and "value" not in r:
            raise _closed(chan)
        return r["value"]
    return Req(_frame("recv", chan=chan, timeout_ms=timeout_ms), finish)


def recv_many(chan: str, max: int,
              timeout_ms: Optional[int] = None) -> "Req[List[Any]]":
    def finish(r: Reply, _c: Any) -> List[Any]:
        if r.get("closed") is True and not r.get("values"):
            raise _closed(chan)
        return list(r["values"])
    return Req(_frame("recv", chan=chan, max=max, timeout_ms=timeout_ms),
               finish)


def recv_lease(chan: str, lease_ms: int, timeout_ms: Optional[int] = None,
               consumer: Optional[str] = None) -> "Req[Any]":
    def finish(r: Reply, client: Any) -> Any:
        if r.get("closed") is True and "value" not in r:
            raise _closed(chan)
        return client._lease(chan, r["value"], r["lease"],
                             r.get("redelivered", 0), consumer)
    return Req(_frame("recv", chan=chan, lease_ms=lease_ms,
                      timeout_ms=timeout_ms, consumer=consumer), finish)


def recv_leases(chan: str, max: int, lease_ms: int,
                timeout_ms: Optional[int] = None,
                consumer: Optional[str] = None) -> "Req[List[Any]]":
    def finish(r: Reply, client: Any) -> List[Any]:
        if r.get("closed") is True and not r.get("values"):
            raise _closed(chan)
        values = r["values"]
        again = r.get("redelivered") or [0] * len(values)
        return [client._lease(chan, v, lease, n, consumer)
                for v, lease, n in zip(values, r["leases"], again)]
    return Req(_frame("recv", chan=chan, max=max, lease_ms=lease_ms,
                      timeout_ms=timeout_ms, consumer=consumer), finish)


def _lease_text(lease: Any) -> str:
    return lease if isinstance(lease, str) else lease.lease


def ack(chan: str, lease: Any) -> "Req[None]":
    return Req(_frame("ack", chan=chan, lease=_lease_text(lease)), _nothing)


def nack(chan: str, lease: Any, delay_ms: Optional[int] = None,
         reason: Optional[str] = None) -> "Req[None]":
    return Req(_frame("nack", chan=chan, lease=_lease_text(lease),
                      delay_ms=delay_ms, reason=reason), _nothing)


def touch(chan: str, lease: Any, lease_ms: int) -> "Req[int]":
    return Req(_frame("touch", chan=chan, lease=_lease_text(lease),
                      lease_ms=lease_ms), _member("deadline_ms"))


def close(chan: str) -> "Req[None]":
    return Req(_frame("close", chan=chan), _nothing)


def drop(chan: str) -> "Req[None]":
    return Req(_frame("drop", chan=chan), _nothing)


def stat(chan: str) -> "Req[Dict[str, Any]]":
    return Req(_frame("stat", chan=chan), _all)


def chans(prefix: Optional[str] = None) -> "Req[List[Dict[str, Any]]]":
    return Req(_frame("chans", prefix=prefix), _member("chans"))


def peek(chan: str, n: Optional[int] = None) -> "Req[List[Any]]":
    return Req(_frame("peek", chan=chan, n=n), _member("values"))


def select(cases: Sequence[Any], timeout_ms: Optional[int] = None,
           consumer: Optional[str] = None) -> "Req[SelectResult]":
    wire = [c.to_wire() if hasattr(c, "to_wire") else c for c in cases]

    def finish(r: Reply, _c: Any) -> SelectResult:
        return SelectResult(r["index"], r.get("value"),
                            r.get("closed") is True)
    return Req(_frame("select", cases=wire, timeout_ms=timeout_ms,
                      consumer=consumer), finish)


# -- jobs -------------------------------------------------------------------------

def submit(argv: Sequence[str], **fields: Any) -> "Req[JobId]":
    def finish(r: Reply, _c: Any) -> JobId:
        return JobId(r["job"], r.get("duplicate") is True)
    return Req(_frame("submit", argv=list(argv), **fields), finish)


def job(job: int) -> "Req[Dict[str, Any]]":
    return Req(_frame("job", job=job), _all)


def jobs(state: Optional[str] = None, group: Optional[str] = None,
         limit: Optional[int] = None,
         before: Optional[int] = None) -> "Req[List[Dict[str, Any]]]":
    return Req(_frame("jobs", state=state, group=group, limit=limit,
                      before=before), _member("jobs"))


def cancel(job: Optional[int] = None,
           group: Optional[str] = None) -> "Req[int]":
    return Req(_frame("cancel", job=job, group=group), _member("canceled"))


def wait(jobs: Optional[Iterable[int]] = None, group: Optional[str] = None,
         timeout_ms: Optional[int] = None,
         output: Optional[bool] = None) -> "Req[List[Dict[str, Any]]]":
    return Req(_frame("wait", jobs=None if jobs is None else list(jobs),
                      group=group, timeout_ms=timeout_ms, output=output),
               _member("results"))


def group(group: str) -> "Req[Dict[str, Any]]":
    return Req(_frame("group", group=group), _all)


def watch(job: Optional[int] = None, group: Optional[str] = None,
          output: Optional[bool] = None,
          progress: Optional[bool] = None) -> "Req[Dict[str, Any]]":
    return Req(_frame("watch", job=job, group=group, output=output,
                      progress=progress), _all)


def workers(**fields: Any) -> "Req[List[Dict[str, Any]]]":
    return Req(_frame("workers", **fields), _member("workers"))


def retry(job: int) -> "Req[int]":
    return Req(_frame("retry", job=job), _member("job"))


def purge(state: Optional[str] = None, group: Optional[str] = None,
          before_ms: Optional[int] = None,
          older_than_ms: Optional[int] = None) -> "Req[int]":
    return Req(_frame("purge", state=state, group=group, before_ms=before_ms,
                      older_than_ms=older_than_ms), _member("purged"))


def pool(pool: Optional[str] = None, pause: Optional[bool] = None,
         workers: Optional[int] = None) -> "Req[Dict[str, Any]]":
    return Req(_frame("pool", pool=pool, pause=pause, workers=workers), _all)


def call(op: str, fields: Mapping[str, Any]) -> "Req[Dict[str, Any]]":
    """Any op, fields sent as given; the raw (checked) reply."""
    frame = dict(fields)
    frame["op"] = op
    return Req(frame, lambda r, _c: dict(r))


class WatchOutput:
    """Output already shown per (job, attempt, stream), so that a watch
    sent again after a reconnect does not repeat it (PROTOCOL.md 13 item
    25: the new watch's snapshot starts from the beginning)."""

    def __init__(self) -> None:
        self.seen: Dict[Any, int] = {}
        self.attempt: Dict[Any, int] = {}
        self.replay: Dict[Any, int] = {}

    def restart(self) -> None:
        """A new watch: its snapshot repeats what was shown."""
        self.replay = dict(self.seen)

    def filter(self, frame: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        """The frame to show (output trimmed of text already shown), or
        None to skip it."""
        ev = frame.get("event")
        if ev == "state":
            res = frame.get("result") or {}
            self.attempt[frame.get("job")] = res.get("attempt", 1)
            return frame
        if ev != "output":
            return frame
        key = (frame.get("job"), self.attempt.get(frame.get("job"), 1),
               frame.get("stream"))
        data = frame.get("data") or ""
        skip = min(self.replay.get(key, 0), len(data))
        if skip:
            self.replay[key] -= skip
            data = data[skip:]
        if not data:
            return None
        self.seen[key] = self.seen.get(key, 0) + len(data)
        if skip:
            frame = dict(frame, data=data)
        return frame


# Frames of a watch received and not yet taken by its caller, past which
# its progress and output frames are dropped (PROTOCOL.md 11.15, "a slow
# reader": the reader of the connection reads for every caller, so the
# server cannot hold them back for this one).
WATCH_FRAMES_MAX = 4096


class WatchFrames(collections.deque):  # type: ignore[type-arg]
    """A watch's frames not yet taken, bounded as jqd bounds those it has
    not written: past WATCH_FRAMES_MAX, a ``progress`` or ``output`` frame
    is dropped and counted; one ``lagged`` frame (``dropped_frames``,
    ``dropped_bytes`` of output ``data``), as jqd's own, comes before the
    next frame kept, or last (:meth:`end`).  ``state`` frames are kept."""

    dropped_frames = 0
    dropped_bytes = 0

    def append(self, frame: Reply) -> None:
        if len(self) >= WATCH_FRAMES_MAX and \
                frame.get("event") in ("progress", "output"):
            self.dropped_frames += 1
            self.dropped_bytes += len((frame.get("data") or "")
                                      .encode("utf-8", "surrogatepass"))
            return
        self.end(frame.get("id"))
        super().append(frame)

    def end(self, rid: Any) -> None:
        """The lagged frame, if frames were dropped since the last one."""
        if self.dropped_frames:
            super().append({"id": rid, "ok": True, "event": "lagged",
                            "dropped_frames": self.dropped_frames,
                            "dropped_bytes": self.dropped_bytes})
            self.dropped_frames = self.dropped_bytes = 0


AnyLease = Union[str, Any]
