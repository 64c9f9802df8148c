"""max-buffered-bytes bounds memory (PROTOCOL.md 8, RELIABILITY.md Bounds).

Each value held in a channel counts its compact size plus VALUE_OVERHEAD
bytes (the struct, the allocator's header and rounding), and each lease
LEASE_OVERHEAD more; a bound that counted payload only let 8 MiB of one-byte
values take 700 MiB.  Here: one-byte values are sent until `limit`; the
number accepted is max / (1 + VALUE_OVERHEAD), not max / 1, and jqd's RSS
grows by no more than a small multiple of the bound, leases included.
(RSS is not judged under ASan or TSan, whose own memory swamps it.)"""

import jqtest
from jqtest import (LEASE_OVERHEAD, VALUE_OVERHEAD, ServerTestCase, rss_kib,
                    under_asan, under_tsan)

MAX = 8 * 1024 * 1024
PER_VALUE = 1 + VALUE_OVERHEAD          # a one-byte value: 1
BATCH = 1000
LEASE_MS = 600000


class BufferedMemoryTest(ServerTestCase):
    server_args = ("--max-buffered-bytes", "8M")

    def rss_judged(self):
        pid = self.server.proc.pid
        return not under_asan(pid) and not under_tsan(pid)

    def fill(self, c, chan, limit_at):
        """Send one-byte values (in batches, then halving batches) until
        `limit`; returns how many were accepted."""
        accepted, n = 0, BATCH
        while n >= 1:
            r = c.call("send", chan=chan, values=[1] * n)
            if r["ok"]:
                accepted += n
                self.assertLess(accepted, limit_at,
                                "no limit after %d one-byte values" % accepted)
                continue
            self.assertEqual(r["error"]["code"], "limit", r)
            n //= 2
        return accepted

    def test_one_byte_values_until_limit(self):
        want = MAX // PER_VALUE
        chan = self.make(cap=2 ** 31 - 1)
        c = self.connect()
        pid = self.server.proc.pid
        before = rss_kib(pid) * 1024
        accepted = self.fill(c, chan, limit_at=4 * want)
        self.assertEqual(accepted, want)
        s = self.ctl.ok("stats")
        self.assertEqual((s["buffered_values"], s["buffered_bytes"]),
                         (want, want * PER_VALUE))
        grown = rss_kib(pid) * 1024 - before
        if self.rss_judged():
            self.assertLess(grown, 3 * MAX, "RSS grew by %d bytes for a "
                            "bound of %d" % (grown, MAX))

        # Leasing every value adds LEASE_OVERHEAD each to the figure, which
        # still covers what the leases really take.
        leased = 0
        while leased < want:
            r = c.ok("recv", chan=chan, max=BATCH, lease_ms=LEASE_MS)
            leased += len(r["values"])
        s = self.ctl.ok("stats")
        self.assertEqual(s["buffered_bytes"],
                         want * (PER_VALUE + LEASE_OVERHEAD))
        grown = rss_kib(pid) * 1024 - before
        if self.rss_judged():
            self.assertLess(grown, 2 * s["buffered_bytes"],
                            "RSS grew by %d bytes with %d bytes counted"
                            % (grown, s["buffered_bytes"]))
        c.close()
        self.wait_stats(buffered_bytes=want * PER_VALUE)
        self.ctl.ok("drop", chan=chan)
        self.wait_stats(buffered_bytes=0)


if __name__ == "__main__":
    jqtest.main()
