package jqclient

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Keyed sends go on across kill -9 and SIGTERM restarts: every value
// arrives exactly once.
func TestKeyedSendsSurviveRestarts(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			s := startServer(t)
			c := dial(t, s, WithAutoKeys())
			ctx := tctx(t)
			const n = 2000
			ch := mustMake(t, c, "k", MakeOptions{Cap: n})
			sent := make(chan error, 1)
			progress := make(chan int, n)
			go func() {
				for i := 0; i < n; i++ {
					if err := ch.Send(ctx, MustValue(i), Key(fmt.Sprint("p-", i))); err != nil {
						sent <- fmt.Errorf("send %d: %w", i, err)
						return
					}
					progress <- i
				}
				sent <- nil
			}()
			for i := range progress {
				if i == n/3 {
					break
				}
			}
			s.Signal(sig)
			if len(progress) >= n-n/3-1 {
				t.Fatal("every send was done before the restart: make n larger")
			}
			s.Restart()
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
			seen := map[int]bool{}
			for {
				v, ok, err := ch.TryRecv(ctx)
				if errors.Is(err, ErrTimeout) {
					break
				}
				if err != nil || !ok {
					t.Fatal(err)
				}
				var k int
				Decode(v, &k)
				if seen[k] {
					t.Fatalf("value %d twice", k)
				}
				seen[k] = true
			}
			if len(seen) != n {
				t.Fatalf("%d of %d values arrived", len(seen), n)
			}
		})
	}
}

// An unkeyed send in flight when jqd dies fails with ErrOutcomeUnknown,
// distinct from a server error; idempotent calls go on afterwards.
func TestUnkeyedSendOutcomeUnknown(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	ctx := tctx(t)
	ch := mustMake(t, c, "full", MakeOptions{Cap: 1})
	ch.Send(ctx, MustValue(0))
	res := make(chan error, 1)
	go func() { res <- ch.Send(ctx, MustValue(1)) }()
	waitStat(t, ch, "the send to block", func(st Stat) bool { return st.SendersWaiting == 1 })
	s.Kill()
	err := <-res
	var oe *OutcomeUnknownError
	var se *Error
	if !errors.Is(err, ErrOutcomeUnknown) || !errors.As(err, &oe) || errors.As(err, &se) {
		t.Fatalf("blocked unkeyed send at kill -9: %v", err)
	}
	s.Restart()
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("ping after the restart: %v", err)
	}
}

// A blocked plain recv is answered shutting_down by a stopping jqd,
// which executed nothing: it is sent again to the restarted jqd and gets
// the value sent there.
func TestRecvAcrossCleanStop(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	ctx := tctx(t)
	ch := mustMake(t, c, "q", MakeOptions{Cap: 1})
	got := make(chan string, 1)
	go func() {
		v, ok, err := ch.Recv(ctx)
		got <- fmt.Sprintf("%s %v %v", v, ok, err)
	}()
	waitStat(t, ch, "the recv to block", func(st Stat) bool { return st.ReceiversWaiting == 1 })
	s.Terminate()
	s.Restart()
	other := dial(t, s)
	waitStat(t, other.Chan("q"), "the recv again", func(st Stat) bool { return st.ReceiversWaiting == 1 })
	other.Chan("q").Send(ctx, MustValue("after"))
	if r := <-got; r != `"after" true <nil>` {
		t.Fatalf("recv: %s", r)
	}
}

// A named consumer's lease taken before kill -9 is acked after it, by the
// same client, reconnected.
func TestNamedLeaseAcrossKill(t *testing.T) {
	s := startServer(t)
	c := dial(t, s, WithConsumer("worker-7"))
	ctx := tctx(t)
	ch := mustMake(t, c, "tasks", MakeOptions{Cap: 10})
	ch.Send(ctx, MustValue("t1"))
	l, _, err := ch.Lease(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	s.Kill()
	s.Restart()
	if _, err := l.Touch(ctx, time.Minute); err != nil {
		t.Fatalf("touch after restart: %v", err)
	}
	if err := l.Ack(ctx); err != nil {
		t.Fatalf("ack after restart: %v", err)
	}
	st, _ := ch.Stat(ctx)
	if st.Len != 0 || st.Leased != 0 {
		t.Fatalf("after ack: %+v", st)
	}
}

// Calls wait for the server within the reconnect window, and fail with
// ErrUnavailable after it.
func TestUnavailable(t *testing.T) {
	s := startServer(t)
	c := dial(t, s, WithReconnectWait(300*time.Millisecond))
	s.Kill()
	err := c.Ping(tctx(t))
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("ping with jqd down: %v", err)
	}
	s.Restart()
	if err := c.Ping(tctx(t)); err != nil {
		t.Fatalf("ping after the restart: %v", err)
	}
	c.Close()
	if err := c.Ping(tctx(t)); !errors.Is(err, ErrClientClosed) {
		t.Fatalf("ping after Close: %v", err)
	}
}

// Many goroutines keep calling through a kill -9: idempotent calls all
// succeed.
func TestConcurrentAcrossKill(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	ctx := tctx(t)
	ch := mustMake(t, c, "st", MakeOptions{Cap: 1})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var calls sync.Map
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := ch.Stat(ctx); err != nil {
					t.Errorf("stat: %v", err)
					return
				}
				calls.Store(g, k)
			}
		}(g)
	}
	time.Sleep(50 * time.Millisecond) // let calls be in flight at the kill
	s.Kill()
	s.Restart()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
}
