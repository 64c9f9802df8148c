"""watch (PROTOCOL.md 11.15): frames of a job's or a group's state,
progress and output, then one last line, the reply; its errors.

A server without the op (its hello lists no "watch" feature, or it answers
unknown_op) skips these tests: watch is protocol 1.1.
"""

import unittest

from harness import (RESULT, RESULT_LISTED, Case, Exact, NonNeg, Opt, Pos,
                     State, Str, True_, check_ok)

LONG_MS = 60000
FINAL = ("succeeded", "failed", "deadline_exceeded", "canceled")
STATE_FRAME = {"event": Exact("state"), "job": Pos, "state": State,
               "result": RESULT_LISTED}
OUTPUT_FRAME = {"event": Exact("output"), "job": Pos, "stream": Str,
                "data": Str}
END = {"end": True_, "results": [RESULT]}
END_NO_OUTPUT = {"end": True_, "results": [RESULT_LISTED]}
PROGRESS_FRAME = {"event": Exact("progress"), "job": Pos,
                  "progress": {"done": NonNeg, "total": Opt(NonNeg)}}


def sh(script):
    return ["sh", "-c", script]


class WatchCase(Case):

    def setUp(self):
        super().setUp()
        hello = self.c.ok("hello")
        features = hello.get("features")
        if features is not None and "watch" not in features:
            self.skipTest("the server has no watch (hello features)")
        r = self.c.call("watch")
        if not r["ok"] and r["error"]["code"] == "unknown_op":
            self.skipTest("the server has no watch op")
        self.g = self.group()

    def read(self, rid):
        """(frames, last line) of the watch rid."""
        frames = []
        while True:
            r = self.c.expect(rid)
            if "event" not in r:
                return frames, r
            check_ok(r, None, "watch frame")
            frames.append(r)


class WatchTest(WatchCase):

    def test_job_to_final(self):
        job = self.c.ok("submit", argv=sh("echo out; echo err >&2; "
                                          "echo '1 1' >&3"),
                        group=self.g, delay_ms=300)["job"]
        frames, last = self.read(self.c.request("watch", job=job))
        check_ok(last, END, "watch's last line")
        self.assertEqual(frames[0]["event"], "state")
        for f in frames:
            if f["event"] == "state":
                check_ok(f, STATE_FRAME, "state frame")
            elif f["event"] == "output":
                check_ok(f, OUTPUT_FRAME, "output frame")
            elif f["event"] == "progress":
                check_ok(f, PROGRESS_FRAME, "progress frame")
        states = [f["state"] for f in frames if f["event"] == "state"]
        self.assertEqual(states[-1], "succeeded")
        self.assertIn("running", states)
        [res] = last["results"]
        out = "".join(f["data"] for f in frames if f["event"] == "output"
                      and f["stream"] == "stdout")
        self.assertEqual(out, res["stdout"])
        self.assertEqual(res["stdout"], "out\n")

    def test_final_job(self):
        job = self.c.ok("submit", argv=["true"], group=self.g)["job"]
        self.api.wait(jobs=[job], timeout_ms=LONG_MS)
        frames, last = self.read(self.c.request("watch", job=job,
                                                output=False))
        self.assertEqual([f["event"] for f in frames], ["state"])
        self.assertEqual(frames[0]["state"], "succeeded")
        check_ok(last, END_NO_OUTPUT, "watch's last line")
        self.assertNotIn("stdout", last["results"][0])

    def test_group(self):
        jobs = [self.c.ok("submit", argv=["true"], group=self.g)["job"]
                for _ in range(2)]
        frames, last = self.read(self.c.request("watch", group=self.g,
                                                progress=False))
        self.assertEqual(sorted(r["job"] for r in last["results"]), jobs)
        for r in last["results"]:
            self.assertIn(r["state"], FINAL)
        self.assertEqual({f["job"] for f in frames
                          if f["event"] == "state"}, set(jobs))

    def test_errors(self):
        self.c.err("watch", "not_found", job=2**53 - 1)
        self.c.err("watch", "bad_request")
        self.c.err("watch", "bad_request", job="1")
        self.c.err("watch", "bad_request", job=0)
        self.c.err("watch", "bad_request", job=1, group=self.g)
        self.c.err("watch", "bad_request", group="no spaces")
        self.c.err("watch", "bad_request", group=self.g, output=1)
        self.c.err("watch", "bad_request", group=self.g, progress="no")


if __name__ == "__main__":
    unittest.main()
