"""The Python role of the cross-client test (tests/integration/
test_cross_client.py): keyed sends of {"n": i}, i in 0..N-1, with key
"p-<i>" to CHAN (made by the harness), then close CHAN; prints "sent N".

    JQ_ADDR=unix:/path/jqd.sock python3 producer.py CHAN N

jqclient.Client reconnects with backoff for up to 30 s when jqd goes away
(kill -9 or a stop) and sends each keyed send again with the same key, so
a restart in the middle loses and duplicates nothing; a close whose reply
was lost is sent again too (its "closed" then means it had landed).
"""

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "client", "python"))

import jqclient  # noqa: E402


WAIT_S = 30.0


def connect():
    """A client, jqd being down for up to WAIT_S at the start too."""
    give_up = time.monotonic() + WAIT_S
    attempt = 0
    while True:
        try:
            return jqclient.Client(reconnect_timeout=WAIT_S)
        except jqclient.ConnectionError:
            if time.monotonic() >= give_up:
                raise
            time.sleep(jqclient.backoff(attempt))
            attempt += 1


def main():
    chan, n = sys.argv[1], int(sys.argv[2])
    with connect() as c:
        for i in range(n):
            c.send(chan, {"n": i}, key="p-%d" % i)
        c.close_chan(chan)
    print("sent %d" % n)


if __name__ == "__main__":
    main()
