"""jqclient: the Python client of jqd, the job-queue daemon.

Standard library only, Python 3.9 or later.

- :class:`Client`: thread-safe, one multiplexed connection (PROTOCOL.md
  4.7) shared by every thread, reconnecting, requests that are safe to send
  again sent again, per-call timeouts that abort on the server;
- :mod:`jqclient.aio`: the same for asyncio (``jqclient.aio.Client``),
  task cancellation mapped to ``abort``;
- :class:`Worker` / :class:`jqclient.aio.Worker`: the worker loop (leases,
  touches, ack, nack with the error as reason, SIGTERM);
- :class:`Connection`: one serial connection with raw access to frames
  (the 0.1 ``jqclient.Client``), for tests and protocol 1.0 servers.

See client/python/README.md.
"""

from ._addr import (DEFAULT_ADDR, DEFAULT_PORT, DIAL_TIMEOUT, default_addr,
                    default_token_file, parse_addr, split_addrs, tls_context,
                    user_socket_path)
from ._api import new_key
from ._policy import backoff
from ._proto import (ERRORS, OPS, PROTOCOL_VERSION, BadRequest, CallTimeout,
                     Canceled, Closed, ConnectionError, Error, Exists,
                     FrameTooLarge, Internal, JobId, JqError, Lease, Limit,
                     NotFound, OutcomeUnknown, ProtocolError, RecvCase,
                     ReplyTimeout, SelectResult, SendCase, ShuttingDown,
                     Timeout, TooLarge, Unauthorized, UnknownOp, check,
                     encode_frame, error_from_reply)
from .client import Client
from .connection import Connection
from .worker import Worker, default_consumer

__version__ = "0.2.0"

__all__ = [
    "Client", "Connection", "Worker", "Lease", "RecvCase", "SendCase",
    "SelectResult", "JobId", "Error", "JqError", "BadRequest", "UnknownOp",
    "FrameTooLarge", "Unauthorized", "NotFound", "Exists", "Closed",
    "Timeout", "TooLarge", "Limit", "ShuttingDown", "Internal", "Canceled",
    "ConnectionError", "ReplyTimeout", "ProtocolError", "OutcomeUnknown",
    "CallTimeout", "DEFAULT_ADDR", "DEFAULT_PORT", "PROTOCOL_VERSION",
    "DIAL_TIMEOUT", "ERRORS", "OPS", "default_addr", "default_token_file",
    "default_consumer", "user_socket_path", "parse_addr", "split_addrs",
    "tls_context", "error_from_reply", "check", "encode_frame", "new_key",
    "backoff",
]
