package jqclient

// Test helpers over jqdtest's real jqd.

import (
	"context"
	"os"
	"testing"
	"time"

	"jqd.invalid/jqclient/internal/jqdtest"
)

// startServer starts jqd (skips the test without $JQD).
func startServer(t *testing.T, extra ...string) *jqdtest.Server { return jqdtest.Start(t, extra...) }

// dial connects a client to s; it is closed at cleanup.
func dial(t *testing.T, s *jqdtest.Server, opts ...Option) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), jqdtest.StartWait)
	defer cancel()
	c, err := Dial(ctx, s.Addr(), opts...)
	if err != nil {
		t.Fatalf("Dial: %v\n%s", err, s.Log())
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// tctx is a context with a generous bound for one test step.
func tctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// mustMake makes a channel or fails the test.
func mustMake(t *testing.T, c *Client, name string, o MakeOptions) *Chan {
	t.Helper()
	ch := c.Chan(name)
	if _, err := ch.Make(tctx(t), o); err != nil {
		t.Fatalf("make %s: %v", name, err)
	}
	return ch
}

// waitFor polls cond (an observable condition of the server) until true.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// touch creates an empty file (a job's go-ahead).
func touch(path string) {
	f, err := os.Create(path)
	if err == nil {
		f.Close()
	}
}

// waitStat polls the channel's stat until cond holds.
func waitStat(t *testing.T, ch *Chan, what string, cond func(Stat) bool) {
	t.Helper()
	waitFor(t, what, func() bool {
		st, err := ch.Stat(context.Background())
		return err == nil && cond(st)
	})
}
