package jqclient

// Watch (PROTOCOL.md 11.15): a job's or a group's state, progress and
// output as they happen, then the results.  A lost connection or a
// server's stop is survived by watching again: the snapshot's output
// already shown is skipped (per job, stream and run), and state frames
// already shown are not repeated.

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"
)

// WatchSpec names what to watch: Job, or Group.
type WatchSpec struct {
	Job        int64
	Group      string
	NoOutput   bool // no output events (and results without output)
	NoProgress bool // no progress events
}

// WatchEvent is one frame of a watch.
type WatchEvent struct {
	Event    string    `json:"event"`    // "state", "progress", "output", "synced", "lagged"
	Job      int64     `json:"job"`      // state, progress, output
	State    string    `json:"state"`    // state
	Result   *Result   `json:"result"`   // state: the result object without output
	Progress *Progress `json:"progress"` // progress
	Stream   string    `json:"stream"`   // output: "stdout" or "stderr"
	Data     string    `json:"data"`     // output: the text
	// lagged: frames (and bytes of output) dropped for a slow reader, by
	// the server or by this client; the final results carry everything.
	DroppedFrames int64 `json:"dropped_frames"`
	DroppedBytes  int64 `json:"dropped_bytes"`
}

// watchState: what a watch has shown, across its reconnects.
type watchState struct {
	jobs map[int64]*watchJob
	// lagged: frames were dropped (by the server or by the queue): the
	// output events no longer add up to the output.
	lagged bool
}

// watchJob: what was shown of one job, to skip it when watching again.
type watchJob struct {
	run   string         // attempt and start time of the run shown
	state string         // last state shown for run
	shown map[string]int // bytes of output shown per stream, this run
	pos   map[string]int // bytes of output received per stream, this watch
}

// Watch calls fn for each event until the job (or every job of the
// group) is final, then returns the results as Wait does.  fn runs on
// the caller's goroutine; an error from it ends the watch (aborted) and
// is returned.  The context's cancellation aborts the watch.
func (c *Client) Watch(ctx context.Context, s WatchSpec, fn func(WatchEvent) error) ([]Result, error) {
	req := map[string]any{"op": "watch"}
	if s.Group != "" {
		req["group"] = s.Group
	} else {
		req["job"] = s.Job
	}
	if s.NoOutput {
		req["output"] = false
	}
	if s.NoProgress {
		req["progress"] = false
	}
	ws := &watchState{jobs: map[int64]*watchJob{}}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cn, err := c.conn(ctx)
		if err != nil {
			return nil, err
		}
		for _, j := range ws.jobs {
			j.pos = map[string]int{}
		}
		rs, err := c.watchOnce(ctx, cn, req, ws, fn)
		var lost *connLost
		if err == errNotSent || errors.As(err, &lost) || isCode(err, "shutting_down") {
			continue
		}
		return rs, err
	}
}

func (c *Client) watchOnce(ctx context.Context, cn *conn, req map[string]any, ws *watchState, fn func(WatchEvent) error) ([]Result, error) {
	q := newFrameQueue()
	id, cl, err := cn.start(ctx, req, q)
	if err != nil {
		return nil, err
	}
	var fnErr error
	aborted := false
	abort := func() {
		if !aborted {
			aborted = true
			cn.abort(id)
		}
	}
	deliver := func() {
		frames, dropped, dropB := q.take()
		for _, f := range frames {
			if fnErr != nil {
				return
			}
			ev, ok := watchEvent(f, ws)
			if ok {
				fnErr = fn(ev)
			}
		}
		if dropped > 0 {
			ws.lagged = true
		}
		if dropped > 0 && fnErr == nil {
			fnErr = fn(WatchEvent{Event: "lagged", DroppedFrames: int64(dropped), DroppedBytes: int64(dropB)})
		}
		if fnErr != nil {
			abort()
		}
	}
	finish := func(line []byte) ([]Result, error) {
		deliver()
		var r struct {
			Results []Result `json:"results"`
		}
		err := decodeReply("watch", line, &r)
		if err == nil && req["output"] == nil && !ws.lagged {
			for i := range r.Results {
				if fnErr == nil {
					fnErr = outputRest(&r.Results[i], ws.jobs, fn)
				}
			}
		}
		if fnErr != nil && (err == nil || isCode(err, "canceled")) {
			return r.Results, fnErr
		}
		if isCode(err, "canceled") && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return r.Results, err
	}
	done := ctx.Done()
	var timeout <-chan time.Time
	for {
		select {
		case <-q.notify:
			deliver()
		case line := <-cl.reply:
			return finish(line)
		case <-cn.readDone:
			if line, err := waitLost(cn, cl); err == nil {
				return finish(line)
			}
			deliver()
			if fnErr != nil {
				return nil, fnErr
			}
			return nil, &connLost{err: cn.deathErr()}
		case <-done:
			done = nil
			abort()
			t := time.NewTimer(abortWait)
			defer t.Stop()
			timeout = t.C
		case <-timeout:
			cn.close(errors.New("jqclient: no reply to an abort"))
		}
	}
}

// outputRest gives fn the output of a final result that no frame showed
// (the job ended while the watch was reconnecting), so that a watcher's
// output events add up to stdout and stderr -- unless frames were dropped
// (a lagged event), after which only the results have all of it.
func outputRest(r *Result, jobs map[int64]*watchJob, fn func(WatchEvent) error) error {
	j := jobs[r.Job]
	shown := map[string]int{}
	if j != nil && j.run == runKey(r) {
		shown = j.shown
	}
	for _, o := range []struct{ stream, text string }{{"stdout", r.Stdout}, {"stderr", r.Stderr}} {
		if n := shown[o.stream]; n < len(o.text) {
			if err := fn(WatchEvent{Event: "output", Job: r.Job, Stream: o.stream, Data: o.text[n:]}); err != nil {
				return err
			}
		}
	}
	return nil
}

// runKey names one run of a job: its attempt and start time (a clean stop
// runs the same attempt again from nothing, 11.9).
func runKey(r *Result) string {
	if r == nil {
		return ""
	}
	k := strconv.Itoa(r.Attempt) + "@"
	if r.StartedMs != nil {
		k += strconv.FormatInt(*r.StartedMs, 10)
	}
	return k
}

// watchEvent decodes a frame and filters out what was shown before a
// reconnect; ok is false for a frame to skip.
func watchEvent(line []byte, ws *watchState) (WatchEvent, bool) {
	jobs := ws.jobs
	var ev WatchEvent
	if err := json.Unmarshal(line, &ev); err != nil {
		return ev, false
	}
	raw := ev // as received; ev.Data may be cut below
	j := jobs[raw.Job]
	if j == nil && raw.Job != 0 {
		j = &watchJob{shown: map[string]int{}, pos: map[string]int{}}
		jobs[raw.Job] = j
	}
	switch raw.Event {
	case "lagged":
		ws.lagged = true
	case "state":
		run := runKey(raw.Result)
		if run != j.run {
			j.run, j.state = run, ""
			j.shown, j.pos = map[string]int{}, map[string]int{}
		}
		if raw.State == j.state {
			return ev, false
		}
		j.state = raw.State
	case "output":
		start := j.pos[raw.Stream]
		j.pos[raw.Stream] += len(raw.Data)
		skip := j.shown[raw.Stream] - start
		if skip >= len(raw.Data) {
			return ev, false
		}
		if skip > 0 {
			ev.Data = raw.Data[skip:]
		}
		j.shown[raw.Stream] = j.pos[raw.Stream]
	}
	return ev, true
}
