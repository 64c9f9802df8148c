"""What a client does with a request's fate, as pure functions: both
engines (the asyncio one of aio.py, the threads' one of _sync.py) call
these, so that the rules of PROTOCOL.md 4.7, 6.5, 6.6 and 13 items 20-23
are written once.  No I/O here: each engine sleeps, dials and resends in
its own way."""

import random
from typing import Any, Dict, List, Optional, Tuple

from . import _api
from ._proto import (ConnectionError, OutcomeUnknown, ProtocolError,
                     Unauthorized, check, op_retryable)

BACKOFF_FIRST_S = 0.05
BACKOFF_MAX_S = 2.0

# What answered() tells the engine to do with a reply.
DONE = "done"           # return it
STOPPING = "stopping"   # the server is stopping: use the connection no
                        # more, sleep backoff(again), send it again
BUSY = "busy"           # sleep backoff(busy), send it again


def backoff(attempt: int) -> float:
    """Seconds to wait before reconnect attempt ``attempt`` (0, 1, ...):
    50 ms doubling, capped at 2 s, jittered over its upper half."""
    cap = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * (2 ** min(attempt, 16)))
    return random.uniform(cap / 2, cap)


def prepare(frame: Dict[str, Any], auto_key: bool) -> Dict[str, Any]:
    """The request as first sent: with ``auto_key``, a send without key
    gets a fresh one (so that it may be sent again)."""
    if auto_key and frame.get("op") == "send" and "key" not in frame:
        return dict(frame, key=_api.new_key())
    return frame


def lost(frame: Dict[str, Any], addr: str, cause: BaseException,
         closed: bool) -> Optional[BaseException]:
    """The connection ended before the reply to ``frame``: the exception
    to raise, or None when the request is to be sent again on a new
    connection (the op table, _proto.OPS; never after a reply that could
    not be read)."""
    if closed:
        return ConnectionError("the client is closed")
    if isinstance(cause, Unauthorized):
        return cause
    if not op_retryable(frame):
        op = frame.get("op")
        return OutcomeUnknown("connection to %s lost before the reply to %s "
                              "(%s): it may or may not have taken effect"
                              % (addr, op, cause), op)
    if isinstance(cause, ProtocolError):
        # A reply this client cannot read (too long, not JSON): sent
        # again, the request would get it again, on connection after
        # connection.
        return cause
    return None


def answered(frame: Dict[str, Any], reply: Dict[str, Any],
             again: int) -> Tuple[str, Optional[Dict[str, Any]]]:
    """A reply came to ``frame``, sent ``again`` times before.  Returns
    (DONE, the checked reply) -- raising the reply's JqError -- or
    (STOPPING or BUSY, None): send it again."""
    code = None if reply["ok"] else reply["error"]["code"]
    op = frame.get("op")
    if code == "shutting_down":
        # Nothing of it was done (PROTOCOL.md 6.5): any request may go
        # again, to the server that comes back.
        return STOPPING, None
    if again and code == "exists" and op == "send":
        return BUSY, None   # the old connection's keyed send not ended yet
    if again and code == "closed" and op == "close":
        return DONE, {"id": reply["id"], "ok": True}     # it had landed
    return DONE, check(reply)


def salvage(frame: Dict[str, Any], reply: Dict[str, Any]
            ) -> Tuple[List[str], Optional[Dict[str, Any]]]:
    """A reply that came after its caller gave up (a cancelled task, a
    KeyboardInterrupt): (the leases to nack, the value to keep in
    ``client.orphans`` or None).  A value is never dropped (13 item 20)."""
    if not reply.get("ok"):
        return [], None
    chan = frame.get("chan")
    leases = reply.get("leases") or ([reply["lease"]]
                                     if "lease" in reply else [])
    if leases:
        return list(leases), None
    if "value" in reply or reply.get("values"):
        kept = dict(_api.result(reply), op=frame.get("op"))
        if chan is not None:
            kept["chan"] = chan
        elif "index" in reply:
            kept["case"] = frame["cases"][reply["index"]]
        return [], kept
    return [], None


ORPHAN_WARNING = ("jqclient: a %s completed after its caller gave up; its "
                  "value is in client.orphans")
