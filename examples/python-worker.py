#!/usr/bin/env python3
"""A jqd worker: lease tasks from a channel, do them, ack, send results.

Usage:

    examples/python-worker.py [--tasks CHAN] [--results CHAN]
                              [--lease SECONDS] [--addr ADDR]
                              [--concurrency N] [--grace SECONDS]

Each task is a JSON object such as {"id": 7, "n": 1000000} (what
examples/node-producer.js -n N generates); the worker computes the sum of
the primes below n and sends {"id": 7, "n": 1000000, "primes_sum": ...,
"worker": "host:pid"} to the results channel (made with capacity 1000 if
missing; an existing one is used as it is), then acks the task.  A task
that is not such an object gets a result {"task": ..., "error": ...}.  A task is received with a lease,
so if the worker dies or is stopped mid-task the task goes back to the
channel for another worker (at-least-once: results may come twice).
It is jqclient.Worker's loop: --concurrency tasks at a time, each lease
touched while its task runs, acked when done, nacked with the error as
reason if the task raises.  Ctrl-C (or SIGTERM) stops the worker cleanly:
no new task is taken, the tasks in progress get --grace seconds to
finish, then they are returned (nack).  The worker exits when the tasks
channel is closed and drained.  The address comes from --addr, else JQ_ADDR, else
the local jqd's Unix socket; a token from JQ_TOKEN.

Try it:

    ./jq-client make tasks 100
    ./jq-client make results 1000     # before any recv from it: not_found
    ./jq-client send tasks '{"id":1,"n":100000}' '{"id":2,"n":200000}'
    examples/python-worker.py &
    ./jq-client recv results
    ./jq-client recv results
"""

import argparse
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "client", "python"))
import jqclient  # noqa: E402


def primes_sum(n):
    """Sum of the primes below n (a sieve: a little real work)."""
    if n < 3:
        return 0
    sieve = bytearray([1]) * n
    sieve[0:2] = b"\0\0"
    for i in range(2, int(n ** 0.5) + 1):
        if sieve[i]:
            sieve[i * i::i] = bytearray(len(range(i * i, n, i)))
    return sum(i for i, is_prime in enumerate(sieve) if is_prime)


def do_task(task, me):
    """The result object for one task value (a ValueError if malformed)."""
    if not isinstance(task, dict) or not isinstance(task.get("n"), int):
        raise ValueError("a task is an object with an integer 'n'")
    return {"id": task.get("id"), "n": task["n"],
            "primes_sum": primes_sum(task["n"]), "worker": me}


def main():
    ap = argparse.ArgumentParser(description="lease tasks from a jqd channel")
    ap.add_argument("--addr", default=None, help="jqd address "
                    "(HOST:PORT, unix:PATH; default JQ_ADDR, else the local jqd)")
    ap.add_argument("--tasks", default="tasks", help="channel to lease from")
    ap.add_argument("--results", default="results", help="channel for results")
    ap.add_argument("--lease", type=float, default=60.0,
                    help="seconds a task may take before it is redelivered "
                    "if the worker stops touching it")
    ap.add_argument("--concurrency", type=int, default=1,
                    help="tasks done at once (threads)")
    ap.add_argument("--grace", type=float, default=10.0,
                    help="seconds running tasks get to finish after Ctrl-C")
    args = ap.parse_args()

    me = "%s:%d" % (socket.gethostname(), os.getpid())
    try:
        with jqclient.Client(args.addr) as jq:
            try:
                jq.make(args.results, 1000)
            except jqclient.Exists:
                pass  # made already, with another capacity: use it

            def handle(task):
                try:
                    result = do_task(task, me)
                except ValueError as e:
                    result = {"task": task, "error": str(e), "worker": me}
                jq.send(args.results, result)
                print("%s: task %r done" % (me, task.get("id")
                      if isinstance(task, dict) else task), flush=True)

            worker = jqclient.Worker(args.tasks, handle, client=jq,
                                     concurrency=args.concurrency,
                                     lease_ms=int(args.lease * 1000),
                                     grace=args.grace)
            done = worker.run()     # SIGTERM and Ctrl-C stop it
    except jqclient.Error as e:
        print("%s: %s" % (me, e), file=sys.stderr)
        return 1
    print("%s: %s; %d tasks done" % (
        me, "stopped" if worker.stopped else "tasks channel closed", done),
        file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
