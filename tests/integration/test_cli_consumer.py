"""jq-client's consumer name (PROTOCOL.md 6.3, jq-client(1)): the leases
of `recv --lease` belong to the user's consumer, so a later jq-client run
acks, nacks or touches them; `touch`; `nack --delay`; --consumer and
JQ_CONSUMER."""

import os
import subprocess

from jqtest import ServerTestCase, main

CLI_TIMEOUT_S = 60


class CliConsumerTest(ServerTestCase):
    def cli(self, *args, env=None, code=0):
        e = {k: v for k, v in os.environ.items()
             if k not in ("JQ_ADDR", "JQ_TOKEN", "JQ_CONSUMER")}
        e.update(env or {})
        cmd = [os.environ["JQ_CLIENT"], "-H", self.server.addr] + \
            [str(a) for a in args]
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=e, timeout=CLI_TIMEOUT_S)
        out, err = p.stdout.decode(), p.stderr.decode("utf-8", "replace")
        self.assertEqual(p.returncode, code, "%s exited %d\nstdout: %s\n"
                         "stderr: %s" % (args, p.returncode, out, err))
        return out, err

    def leased(self, ch, *opts, env=None):
        out, _ = self.cli(*opts, "recv", ch, "--lease", "60s", env=env)
        lease, value = out.rstrip("\n").split("\t")
        return lease, value

    def test_recv_then_ack_from_a_later_run(self):
        ch = self.make(cap=4)
        self.ctl.ok("send", chan=ch, values=["a", "b"])
        lease, value = self.leased(ch)
        self.assertEqual(value, "a")
        # The first run is gone, and its lease with it in version 1.
        st = self.stat(ch)
        self.assertEqual((st["len"], st["leased"]), (1, 1))
        self.cli("ack", ch, lease)
        st = self.stat(ch)
        self.assertEqual((st["len"], st["leased"]), (1, 0))
        self.cli("ack", ch, lease, code=1)

    def test_touch_and_nack_delay(self):
        ch = self.make(cap=4)
        self.ctl.ok("send", chan=ch, value="t")
        lease, _ = self.leased(ch)
        out, _ = self.cli("touch", ch, lease, "2h")
        deadline = int(out)
        now = self.ctl.ok("touch", chan=ch, lease=lease,
                          lease_ms=7200000)["deadline_ms"]
        self.assertLessEqual(deadline, now)
        self.assertGreater(deadline, now - 60000)
        self.cli("nack", "--delay", "300ms", ch, lease)
        st = self.stat(ch)
        self.assertEqual((st["len"], st["leased"]), (0, 1))
        self.cli("touch", ch, lease, "1s", code=1)
        r = self.ctl.ok("recv", chan=ch, timeout_ms=30000, lease_ms=60000)
        self.assertEqual((r["value"], r["redelivered"]), ("t", 1))
        self.cli("touch", ch, r["lease"], "0s", code=2)
        self.cli("nack", "--delay", "x", ch, r["lease"], code=2)

    def test_consumer_option_and_environment(self):
        ch = self.make(cap=4)
        self.ctl.ok("send", chan=ch, values=[1, 2])
        lease, _ = self.leased(ch, "--consumer", "mine")
        lease2, _ = self.leased(ch, env={"JQ_CONSUMER": "other"})
        self.assertEqual(self.stat(ch)["leased"], 2)
        self.cli("nack", ch, lease)
        self.cli("ack", ch, lease2)
        self.cli("--consumer", "no spaces", "ping", code=2)
        self.cli("ping", env={"JQ_CONSUMER": "a@b"}, code=2)


if __name__ == "__main__":
    main(need_client=True)
