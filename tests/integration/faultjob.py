"""A job that records its runs, for the fault tests of remote workers
(test_worker_partition.py, test_worker_faultloop.py).

    argv = faultjob.argv(records_dir, "wait")   # until records_dir/go.J
    argv = faultjob.argv(records_dir, 0.5)      # about 0.5 s

A run first takes `flock -n` on records_dir/lock.J (J: $JQ_JOB_ID) and
holds it for its whole life (the descriptor is inherited by everything
it starts); if another run of the same job holds it, the run appends
`overlap J DIR PID` to records_dir/overlaps and exits 99.  Otherwise it
appends `start J DIR PID NS` to records_dir/runs (DIR: the last part of
its working directory, which the fault tests make distinct per agent
process; NS: wall-clock nanoseconds), writes its pid to records_dir/pid.J,
waits, prints `out J DIR PID` and appends `end J DIR PID NS`.  So a run is
named by (J, DIR, PID), and the agent's log line `job J attempt A:
started pid PID` gives its attempt.
"""

import os

SCRIPT = r'''
d=$1
exec 9>>"$d/lock.$JQ_JOB_ID"
run="$JQ_JOB_ID ${PWD##*/} $$"
if ! flock -n 9; then
	echo "overlap $run" >> "$d/overlaps"
	exit 99
fi
echo "start $run $(date +%s%N)" >> "$d/runs"
echo $$ > "$d/pid.$JQ_JOB_ID.tmp" && mv "$d/pid.$JQ_JOB_ID.tmp" "$d/pid.$JQ_JOB_ID"
if [ "$2" = wait ]; then
	while [ ! -e "$d/go.$JQ_JOB_ID" ]; do sleep 0.05; done
else
	sleep "$2"
fi
echo "out $run"
echo "end $run $(date +%s%N)" >> "$d/runs"
'''


def argv(records_dir, how):
    return ["sh", "-c", SCRIPT, "faultjob", records_dir, str(how)]


def read_lines(path):
    try:
        with open(path) as f:
            return [l.split() for l in f.read().splitlines() if l]
    except FileNotFoundError:
        return []


class Runs:
    """What the runs of records_dir wrote: runs[(job, dir, pid)] =
    {"start": ns, "end": ns or None}, in order of start; overlaps."""

    def __init__(self, records_dir):
        self.runs = {}
        self.overlaps = read_lines(os.path.join(records_dir, "overlaps"))
        for w in read_lines(os.path.join(records_dir, "runs")):
            key = (int(w[1]), w[2], int(w[3]))
            if w[0] == "start":
                self.runs[key] = {"start": int(w[4]), "end": None}
            else:
                self.runs[key]["end"] = int(w[4])

    def of(self, job):
        """The runs of job, as (key, record), in order of start."""
        return sorted(((k, r) for k, r in self.runs.items() if k[0] == job),
                      key=lambda kr: kr[1]["start"])
