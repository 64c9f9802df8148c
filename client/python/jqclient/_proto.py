"""What every client of this package shares: the error classes and their
table, the op table (which ops block, which are safe to send again after a
lost connection), framing, and the value types (Lease, select cases,
JobId).  No sockets here."""

import builtins
import collections
import json

PROTOCOL_VERSION = 1

# Ops that may wait on the server (PROTOCOL.md 4.3), so that the client's
# reply bound is extended by their timeout_ms.
BLOCKING_OPS = frozenset(("send", "recv", "select", "wait"))

_READ_CHUNK = 1 << 16

# Error codes of the frames with "id": null that answer no request and are
# followed by the server closing the connection (PROTOCOL.md 1, 13 item 2).
UNSOLICITED = frozenset(("limit", "unauthorized"))


# -- ops ---------------------------------------------------------------------

# How a request may be sent again on a new connection after the old one was
# lost before its reply (PROTOCOL.md 4.7, 6.3.1, 6.6, 13 items 5, 21, 23):
ALWAYS = "always"      # reading, or setting to a state: the same outcome
KEYED = "keyed"        # safe when it carries a "key" (send, submit)
LEASED = "leased"      # recv with lease_ms: a lost lease returns anyway
NEVER = "never"        # may have taken effect: OutcomeUnknown

# op: (may block on the server, retry rule).  Ops not listed (the worker_*
# ops of remote agents, future ones) are NEVER and not blocking, except that
# call() passes a "timeout_ms" through.
OPS = {
    "hello": (False, ALWAYS),
    "auth": (False, ALWAYS),
    "ping": (False, ALWAYS),
    "stats": (False, ALWAYS),
    "abort": (False, NEVER),       # names a request of one connection
    "make": (False, ALWAYS),       # same cap: created false the 2nd time
    "send": (True, KEYED),
    "recv": (True, LEASED),
    "ack": (False, ALWAYS),        # named consumers' leases outlive it
    "nack": (False, ALWAYS),
    "touch": (False, ALWAYS),
    "close": (False, ALWAYS),      # "closed" on a retry: it had landed
    "drop": (False, NEVER),
    "stat": (False, ALWAYS),
    "chans": (False, ALWAYS),
    "peek": (False, ALWAYS),
    "select": (True, NEVER),
    "submit": (False, KEYED),
    "job": (False, ALWAYS),
    "jobs": (False, ALWAYS),
    "cancel": (False, ALWAYS),
    "wait": (True, ALWAYS),
    "group": (False, ALWAYS),
    "groups": (False, ALWAYS),
    "watch": (True, ALWAYS),       # watched again, output not repeated
    "workers": (False, ALWAYS),
    "retry": (False, NEVER),       # each makes a new job
    "purge": (False, NEVER),
    "pool": (False, ALWAYS),       # pause/resume/workers: set, not add
}


def op_blocks(op):
    """True if ``op`` may wait on the server (and counts for max_pending)."""
    return OPS.get(op, (False, NEVER))[0]


def op_retryable(frame):
    """True if the request dict may be sent again on a new connection
    after the old one was lost before its reply."""
    rule = OPS.get(frame.get("op"), (False, NEVER))[1]
    if rule == ALWAYS:
        return True
    if rule == KEYED:
        return frame.get("key") is not None
    if rule == LEASED:
        return frame.get("lease_ms") is not None
    return False


# -- errors -------------------------------------------------------------------

class Error(Exception):
    """Base of every exception this module raises on purpose."""


class JqError(Error):
    """An error reply from the server.

    ``code`` is the protocol's error code (``"not_found"``, ...),
    ``message`` the server's human-readable text (do not parse it), and
    ``details`` a dict of the error object's other members (``index`` of a
    select case, ``pending`` of a wait), empty when there are none.
    """

    code = None

    def __init__(self, code, message, details=None):
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.details = dict(details or {})

    @property
    def index(self):
        """The select case the error is about (``details["index"]``), or None."""
        return self.details.get("index")

    @property
    def pending(self):
        """Jobs not yet final when a ``wait`` timed out, or None."""
        return self.details.get("pending")

    def __str__(self):
        return "%s: %s" % (self.code, self.message)

    def __repr__(self):
        return "%s(%r, %r, %r)" % (type(self).__name__, self.code,
                                   self.message, self.details)


class BadRequest(JqError):
    """``bad_request``: malformed frame, missing or mistyped field."""


class UnknownOp(JqError):
    """``unknown_op``: the server does not know the op."""


class FrameTooLarge(JqError):
    """``frame_too_large``: the request line was longer than ``max_frame``."""


class Unauthorized(JqError):
    """``unauthorized``: authenticate first, or a wrong token (the server
    then closes the connection)."""


class NotFound(JqError):
    """``not_found``: no such channel, job or lease (or a channel dropped
    while the request waited)."""


class Exists(JqError):
    """``exists``: ``make`` of an existing channel with another cap."""


class Closed(JqError):
    """``closed``: send to a closed channel, close of a closed channel, a
    chosen select send case on a closed channel.  Also raised by the
    ``recv`` methods on a closed, drained channel (the reply's
    ``"closed": true``; then ``details`` is empty)."""


class Timeout(JqError):
    """``timeout``: ``timeout_ms`` passed (or was 0) before the operation
    could complete.  For ``wait``, ``pending`` says how many jobs were not
    final."""


class TooLarge(JqError):
    """``too_large``: a value over ``max_value`` bytes."""


class Limit(JqError):
    """``limit``: a configured limit was reached."""


class ShuttingDown(JqError):
    """``shutting_down``: the server is stopping."""


class Internal(JqError):
    """``internal``: a storage failure or bug on the server; also used for
    error codes this module does not know (``code`` keeps the real one)."""


class Canceled(JqError):
    """``canceled`` (1.1): the request was ended by ``abort`` (9.5); it
    took nothing and changed nothing."""


ERRORS = {
    "bad_request": BadRequest,
    "unknown_op": UnknownOp,
    "frame_too_large": FrameTooLarge,
    "unauthorized": Unauthorized,
    "not_found": NotFound,
    "exists": Exists,
    "closed": Closed,
    "timeout": Timeout,
    "too_large": TooLarge,
    "limit": Limit,
    "shutting_down": ShuttingDown,
    "internal": Internal,
    "canceled": Canceled,
}


class ConnectionError(Error, builtins.ConnectionError):
    """Cannot connect, or the connection broke (I/O error, end of stream,
    reply bound passed).  The client is closed afterwards; requests sent
    without a reply may or may not have been applied."""

    def __init__(self, message):
        builtins.ConnectionError.__init__(self, message)
        self.message = message

    def __str__(self):
        return self.message


class ReplyTimeout(ConnectionError):
    """No reply within the client's own ``timeout`` (see the module doc)."""


class OutcomeUnknown(ConnectionError):
    """The connection was lost after a request that is not safe to send
    again (a send without key, a plain recv, select, ...) was written and
    before its reply came: it may or may not have taken effect (PROTOCOL.md
    6.1).  Distinct from a server's error reply (:class:`JqError`).  ``op``
    names the request."""

    def __init__(self, message, op=None):
        ConnectionError.__init__(self, message)
        self.op = op


class CallTimeout(Error, builtins.TimeoutError):
    """The caller's own deadline (``timeout=`` seconds) passed: the request
    was aborted on the server and took nothing.  Not the server's
    ``timeout`` error (:class:`Timeout`, for ``timeout_ms``).  A request
    that completed while its abort was on its way returns its result
    instead: a value is never dropped."""


class ProtocolError(ConnectionError):
    """The server sent something that is not a protocol reply, or a reply
    whose ``id`` does not match the request."""


def error_from_reply(reply):
    """The :class:`JqError` (subclass) for an error reply dict."""
    err = reply.get("error")
    if not isinstance(err, dict):
        err = {}
    code = err.get("code")
    message = err.get("message")
    details = {k: v for k, v in err.items() if k not in ("code", "message")}
    cls = ERRORS.get(code, Internal)
    return cls(code, message if isinstance(message, str) else "", details)


def check(reply):
    """Return ``reply`` if it is ``ok``, else raise its :class:`JqError`."""
    if reply.get("ok") is True:
        return reply
    raise error_from_reply(reply)


# -- values and helpers ---------------------------------------------------------

def encode_frame(frame):
    """The wire form of a request dict: compact UTF-8 JSON and ``\\n``.

    Raises ``ValueError`` (NaN, infinities, lone surrogates) or
    ``TypeError`` (not JSON-serialisable) before anything is sent.
    """
    text = json.dumps(frame, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)
    return text.encode("utf-8") + b"\n"


def _reject_constant(name):
    raise ValueError("non-JSON constant %s" % name)


def _decode_reply(line):
    try:
        reply = json.loads(line.decode("utf-8"),
                           parse_constant=_reject_constant)
    except ValueError as e:  # UnicodeDecodeError and JSONDecodeError too
        raise ProtocolError("reply is not UTF-8 JSON (%s): %r"
                            % (e, line[:200]))
    if (not isinstance(reply, dict) or "id" not in reply
            or not isinstance(reply.get("ok"), bool)):
        raise ProtocolError("reply is not a protocol reply object: %r"
                            % line[:200])
    if not reply["ok"]:
        err = reply.get("error")
        if not isinstance(err, dict) or not isinstance(err.get("code"), str):
            raise ProtocolError("error reply without error.code: %r"
                                % line[:200])
    return reply


def _result(reply):
    """A reply's result fields: the reply without ``id`` and ``ok``."""
    return {k: v for k, v in reply.items() if k not in ("id", "ok")}


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


# A non-blocking socket with nothing to do now; TLS adds its own two.

class LeaseBase:
    """What a received lease is (the fields of both flavours of Lease)."""

    __slots__ = ("client", "chan", "value", "lease", "redelivered", "done",
                 "consumer")

    def __init__(self, client, chan, value, lease, redelivered=0,
                 consumer=None):
        self.client = client
        self.chan = chan
        self.value = value
        self.lease = lease
        self.redelivered = redelivered
        self.consumer = consumer
        self.done = False

    def __repr__(self):
        return "Lease(chan=%r, value=%r, lease=%r, redelivered=%r)" % (
            self.chan, self.value, self.lease, self.redelivered)


def nack_reason(exc):
    """An exception as a nack's reason (what a dead-letter channel shows):
    ``Type: text``, at most 1024 bytes of UTF-8, no U+0000."""
    text = ("%s: %s" % (type(exc).__name__, exc)).replace("\0", "")
    raw = text.encode("utf-8")
    if len(raw) > 1024:
        text = raw[:1024].decode("utf-8", "ignore")
    return text


class Lease(LeaseBase):
    """A value received with a lease (``recv`` with ``lease_ms``).

    ``value`` is the value, ``lease`` the opaque lease string, ``chan`` the
    channel, ``redelivered`` how many times the value was returned before
    (0 for a first delivery).  :meth:`ack` removes the value for good,
    :meth:`nack` returns it to the front of the channel now.

    As a context manager, the lease is acked when the block ends normally
    and nacked when it raises (unless it was acked or nacked inside)::

        with client.recv_lease("work", lease_ms=60000) as task:
            process(task.value)
    """

    __slots__ = ()

    def ack(self):
        """Remove the value for good.  NotFound if the lease is no longer
        live (it expired or was returned)."""
        self.client.ack(self.chan, self.lease)
        self.done = True

    def nack(self, delay_ms=None, reason=None):
        """Return the value to the front of its channel now (or after
        ``delay_ms``), with ``reason`` for the dead-letter envelope (both
        1.1, :class:`jqclient.Client` only)."""
        extra = {k: v for k, v in (("delay_ms", delay_ms),
                                   ("reason", reason)) if v is not None}
        self.client.nack(self.chan, self.lease, **extra)
        self.done = True

    def touch(self, lease_ms):
        """Extend the lease to ``lease_ms`` from now (1.1); returns the
        server's ``touch`` reply dict (``deadline_ms``)."""
        return self.client.touch(self.chan, self.lease, lease_ms)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.done:
            return False
        if exc_type is None:
            self.ack()
        elif self.client.is_open():
            # The 0.1 Connection's nack takes no reason.
            extra = {} if type(self.client).__name__ == "Connection" \
                else {"reason": nack_reason(exc)}
            try:
                self.nack(**extra)
            except Error:
                pass  # expiry or the connection closing returns it anyway
        return False


class RecvCase:
    """A select case receiving from ``chan``."""

    __slots__ = ("chan",)

    def __init__(self, chan):
        self.chan = chan

    def to_wire(self):
        return {"recv": self.chan}

    def __repr__(self):
        return "RecvCase(%r)" % self.chan


class SendCase:
    """A select case sending ``value`` (any JSON value) to ``chan``."""

    __slots__ = ("chan", "value")

    def __init__(self, chan, value):
        self.chan = chan
        self.value = value

    def to_wire(self):
        return {"send": self.chan, "value": self.value}

    def __repr__(self):
        return "SendCase(%r, %r)" % (self.chan, self.value)


SelectResult = collections.namedtuple("SelectResult",
                                      ("index", "value", "closed"))
SelectResult.__doc__ = """What select chose: the case ``index``; ``value``
received by a recv case (``None`` for a send case or a closed channel);
``closed`` True when a recv case found its channel closed and drained."""


class JobId(int):
    """A job id (an ``int``) as returned by :meth:`Client.submit`;
    ``duplicate`` is True when the idempotency ``key`` matched an existing
    job, whose id this is, and nothing new was submitted."""

    duplicate = False

    def __new__(cls, value, duplicate=False):
        self = super().__new__(cls, value)
        self.duplicate = duplicate
        return self

    def __repr__(self):
        return "JobId(%d%s)" % (int(self), ", duplicate=True"
                                if self.duplicate else "")


