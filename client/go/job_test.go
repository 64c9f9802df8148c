package jqclient

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSubmitWaitJobs(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	ctx := tctx(t)
	id, err := c.Submit(ctx, JobSpec{Argv: []string{"sh", "-c", "echo hi; echo oops >&2; exit 3"}, Name: "n1", Group: "g"})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := c.Wait(ctx, []int64{id}, WaitOptions{})
	if err != nil || len(rs) != 1 {
		t.Fatalf("wait: %v %v", rs, err)
	}
	r := rs[0]
	if r.State != StateFailed || r.ExitCode == nil || *r.ExitCode != 3 || r.Stdout != "hi\n" ||
		r.Stderr != "oops\n" || *r.Name != "n1" || !r.Final() {
		t.Fatalf("result: %+v", r)
	}
	// keyed submit: a repeat is a duplicate with the first id.
	k1, dup, err := c.SubmitDup(ctx, JobSpec{Argv: []string{"true"}, Key: "once", Group: "g"})
	k2, dup2, err2 := c.SubmitDup(ctx, JobSpec{Argv: []string{"false"}, Key: "once"})
	if err != nil || err2 != nil || dup || !dup2 || k1 != k2 {
		t.Fatalf("keyed submits: %d %v %v / %d %v %v", k1, dup, err, k2, dup2, err2)
	}
	rs, err = c.WaitGroup(ctx, "g", WaitOptions{NoOutput: true})
	if err != nil || len(rs) != 2 || rs[0].Stdout != "" {
		t.Fatalf("wait group: %+v %v", rs, err)
	}
	g, err := c.Group(ctx, "g")
	if err != nil || g.Total != 2 || g.Failed != 1 || g.Succeeded != 1 {
		t.Fatalf("group: %+v %v", g, err)
	}
	js, err := c.Jobs(ctx, JobsFilter{State: StateFailed})
	if err != nil || len(js) != 1 || js[0].Job != id {
		t.Fatalf("jobs: %+v %v", js, err)
	}
	one, err := c.Job(ctx, id)
	if err != nil || one.Stdout != "hi\n" || len(one.Argv) != 3 {
		t.Fatalf("job: %+v %v", one, err)
	}
	if _, err := c.Job(ctx, 9999); !errors.Is(err, ErrNotFound) {
		t.Fatalf("job 9999: %v", err)
	}
	// 1.3 admin: retry, purge, pool, workers, stats.
	nid, err := c.Retry(ctx, id)
	if err != nil || nid <= id {
		t.Fatalf("retry: %d %v", nid, err)
	}
	rs, err = c.Wait(ctx, []int64{nid}, WaitOptions{})
	if err != nil || rs[0].RetryOf == nil || *rs[0].RetryOf != id {
		t.Fatalf("retried job: %+v %v", rs, err)
	}
	n, err := c.Purge(ctx, PurgeFilter{State: StateFailed})
	if err != nil || n != 2 {
		t.Fatalf("purge: %d %v", n, err)
	}
	yes := true
	p, err := c.Pool(ctx, PoolRequest{Pause: &yes})
	if err != nil || !p.Paused || p.Pool != "local" || p.Workers == nil {
		t.Fatalf("pool: %+v %v", p, err)
	}
	st, err := c.Stats(ctx)
	if err != nil || !strings.Contains(string(st["paused_pools"]), "local") {
		t.Fatalf("stats: %s %v", st["paused_pools"], err)
	}
	if ws, err := c.Workers(ctx); err != nil || len(ws) != 0 {
		t.Fatalf("workers: %+v %v", ws, err)
	}
}

// Cancelling Run's context cancels the job; its deadline becomes the job's.
func TestRunContext(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	ctx := tctx(t)
	r, err := c.Run(ctx, JobSpec{Argv: []string{"echo", "ok"}})
	if err != nil || r.State != StateSucceeded || r.Stdout != "ok\n" {
		t.Fatalf("run: %+v %v", r, err)
	}
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	var rerr error
	var rr Result
	go func() { defer wg.Done(); rr, rerr = c.Run(rctx, JobSpec{Argv: []string{"sleep", "60"}, Group: "cx"}) }()
	waitFor(t, "the job to run", func() bool {
		g, err := c.Group(ctx, "cx")
		return err == nil && g.Running == 1
	})
	cancel()
	wg.Wait()
	if !errors.Is(rerr, context.Canceled) {
		t.Fatalf("run canceled: %v", rerr)
	}
	rs, err := c.Wait(ctx, []int64{rr.Job}, WaitOptions{NoOutput: true})
	if err != nil || rs[0].State != StateCanceled {
		t.Fatalf("the job after its context ended: %+v %v", rs, err)
	}
	dctx, dcancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer dcancel()
	rr, err = c.Run(dctx, JobSpec{Argv: []string{"sleep", "60"}})
	// The job may end deadline_exceeded (a result) before the wait's
	// own timeout does.
	if !errors.Is(err, context.DeadlineExceeded) && rr.State != StateDeadlineExceeded {
		t.Fatalf("run past its deadline: %+v %v", rr, err)
	}
	rs, err = c.Wait(ctx, []int64{rr.Job}, WaitOptions{NoOutput: true})
	if err != nil || rs[0].State != StateDeadlineExceeded && rs[0].State != StateCanceled || rs[0].DeadlineMs == nil {
		t.Fatalf("the job after its deadline: %+v %v", rs, err)
	}
}

// Watch shows state and output; across a kill -9 of the watch's server
// it watches again without repeating output.
func TestWatch(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	ctx := tctx(t)
	id, err := c.Submit(ctx, JobSpec{Argv: []string{"sh", "-c", "echo 1 2 >&3; echo hello; echo 2 2 >&3"}})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	var states []string
	rs, err := c.Watch(ctx, WatchSpec{Job: id}, func(ev WatchEvent) error {
		switch ev.Event {
		case "output":
			out.WriteString(ev.Data)
		case "state":
			states = append(states, ev.State)
		}
		return nil
	})
	if err != nil || len(rs) != 1 || rs[0].State != StateSucceeded || out.String() != "hello\n" ||
		states[len(states)-1] != StateSucceeded {
		t.Fatalf("watch: %+v %v out %q states %v", rs, err, out.String(), states)
	}
	// Aborted by its context.
	id, _ = c.Submit(ctx, JobSpec{Argv: []string{"sleep", "60"}})
	wctx, cancel := context.WithCancel(ctx)
	_, err = c.Watch(wctx, WatchSpec{Job: id, NoOutput: true}, func(ev WatchEvent) error {
		if ev.Event == "synced" {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("watch canceled: %v", err)
	}
	c.Cancel(ctx, id)
}

// A watch survives a clean stop of jqd: output shown once.
func TestWatchAcrossStop(t *testing.T) {
	s := startServer(t, "--shutdown-grace", "30s")
	c := dial(t, s)
	ctx := tctx(t)
	flag := s.Dir + "/go"
	id, err := c.Submit(ctx, JobSpec{Argv: []string{"sh", "-c", "echo first; while [ ! -e " + flag + " ]; do sleep 0.05; done; echo second"}})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	first := make(chan struct{})
	var once sync.Once
	type res struct {
		rs  []Result
		err error
	}
	done := make(chan res, 1)
	go func() {
		rs, err := c.Watch(ctx, WatchSpec{Job: id}, func(ev WatchEvent) error {
			if ev.Event == "output" {
				out.WriteString(ev.Data)
				once.Do(func() { close(first) })
			}
			return nil
		})
		done <- res{rs, err}
	}()
	<-first
	// The job finishes during the stop's grace; the watch, answered
	// shutting_down, watches again once jqd is back.
	s.Stopping()
	touch(flag)
	s.Wait()
	s.Restart()
	r := <-done
	if r.err != nil || len(r.rs) != 1 || r.rs[0].State != StateSucceeded || out.String() != "first\nsecond\n" {
		t.Fatalf("watch across a stop: %+v %v out %q", r.rs, r.err, out.String())
	}
}
