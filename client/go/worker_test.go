package jqclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The worker acks what its handler did, nacks failures with their text
// as reason (seen in the dead-letter envelope), and returns once the
// channel is closed and drained.
func TestWorkerAckNack(t *testing.T) {
	s := startServer(t)
	c := dial(t, s, WithConsumer("wk"))
	ctx := tctx(t)
	mustMake(t, c, "dlq", MakeOptions{Cap: 100})
	ch := mustMake(t, c, "work", MakeOptions{Cap: 100, MaxDeliveries: 1, DeadLetter: "dlq"})
	const n = 40
	for i := 0; i < n; i++ {
		ch.Send(ctx, MustValue(i))
	}
	ch.Close(ctx)
	var done sync.Map
	var running, peak int32
	err := Worker{Chan: ch, Concurrency: 4, LeaseTTL: 10 * time.Second,
		Handler: func(ctx context.Context, l *Lease) error {
			r := atomic.AddInt32(&running, 1)
			defer atomic.AddInt32(&running, -1)
			for p := atomic.LoadInt32(&peak); r > p && !atomic.CompareAndSwapInt32(&peak, p, r); p = atomic.LoadInt32(&peak) {
			}
			var k int
			Decode(l.Value, &k)
			if k%10 == 3 {
				return fmt.Errorf("cannot do %d", k)
			}
			time.Sleep(5 * time.Millisecond)
			done.Store(k, true)
			return nil
		}}.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	done.Range(func(_, _ any) bool { count++; return true })
	if count != n-4 || peak > 4 || peak < 2 {
		t.Fatalf("handled %d, peak concurrency %d", count, peak)
	}
	vals, _, err := c.Chan("dlq").RecvN(ctx, 100)
	if err != nil || len(vals) != 4 {
		t.Fatalf("dead letters: %s %v", vals, err)
	}
	var env struct{ Reason string }
	Decode(vals[0], &env)
	if env.Reason != "cannot do 3" {
		t.Fatalf("reason: %q", env.Reason)
	}
}

// A handler longer than its lease keeps it by touching: the value is
// delivered once.
func TestWorkerTouches(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	ctx := tctx(t)
	ch := mustMake(t, c, "long", MakeOptions{Cap: 10})
	ch.Send(ctx, MustValue("slow"))
	ch.Close(ctx)
	var calls int32
	var redelivered int
	// Touches every second leave a second of slack on a busy machine.
	err := Worker{Chan: ch, Concurrency: 2, LeaseTTL: 2 * time.Second,
		Handler: func(ctx context.Context, l *Lease) error {
			atomic.AddInt32(&calls, 1)
			redelivered = l.Redelivered
			time.Sleep(4500 * time.Millisecond) // past two lease terms
			return nil
		}}.Run(ctx)
	if err != nil || calls != 1 || redelivered != 0 {
		t.Fatalf("err %v, %d calls, redelivered %d", err, calls, redelivered)
	}
}

// Cancelling Run stops taking; a running handler finishes within the
// grace and is acked; one past the grace is nacked.
func TestWorkerGracefulStop(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	ctx := tctx(t)
	ch := mustMake(t, c, "gs", MakeOptions{Cap: 10})
	ch.SendBatch(ctx, []json.RawMessage{MustValue("quick"), MustValue("stuck")})
	wctx, stop := context.WithCancel(ctx)
	started := make(chan string, 2)
	stopped := make(chan struct{})
	res := make(chan error, 1)
	go func() {
		res <- Worker{Chan: ch, Concurrency: 2, LeaseTTL: 10 * time.Second, Grace: 2 * time.Second,
			Handler: func(hctx context.Context, l *Lease) error {
				var v string
				Decode(l.Value, &v)
				started <- v
				if v == "quick" {
					<-stopped // still running at the stop, done well within the grace
					return nil
				}
				<-hctx.Done() // stuck until the grace is over
				return hctx.Err()
			}}.Run(wctx)
	}()
	<-started
	<-started
	stop()
	close(stopped)
	if err := <-res; err != nil {
		t.Fatal(err)
	}
	v, ok, err := ch.TryRecv(ctx)
	if err != nil || !ok || string(v) != `"stuck"` {
		t.Fatalf("after the stop: %s %v %v", v, ok, err)
	}
	if _, _, err := ch.TryRecv(ctx); !errors.Is(err, ErrTimeout) {
		t.Fatalf("quick was not acked: %v", err)
	}
}
