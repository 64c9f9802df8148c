package jqclient

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// A blocked recv holds nothing: pings on the same client answer at once.
func TestBlockedRecvDoesNotHoldPing(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	ctx := tctx(t)
	ch := mustMake(t, c, "slow", MakeOptions{Cap: 1})
	got := make(chan string, 1)
	go func() {
		v, _, err := ch.Recv(ctx)
		got <- fmt.Sprintf("%s %v", v, err)
	}()
	waitStat(t, ch, "the recv to block", func(st Stat) bool { return st.ReceiversWaiting == 1 })
	for i := 0; i < 20; i++ {
		t0 := time.Now()
		if err := c.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(t0); d > 5*time.Second {
			t.Fatalf("ping took %v behind a blocked recv", d)
		}
	}
	ch.Send(ctx, MustValue("x"))
	if r := <-got; r != `"x" <nil>` {
		t.Fatalf("recv: %s", r)
	}
}

// Many goroutines share one client: every value sent is received once.
func TestConcurrentCallers(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	ctx := tctx(t)
	ch := mustMake(t, c, "many", MakeOptions{Cap: 4})
	const senders, each = 16, 50
	var wg sync.WaitGroup
	for g := 0; g < senders; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := ch.Send(ctx, MustValue(g*each+i)); err != nil {
					t.Error(err)
					return
				}
			}
		}(g)
	}
	seen := make([]int, senders*each)
	var mu sync.Mutex
	var rwg sync.WaitGroup
	for r := 0; r < 8; r++ {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for {
				v, ok, err := ch.Recv(ctx)
				if err != nil || !ok {
					if err != nil {
						t.Error(err)
					}
					return
				}
				var n int
				Decode(v, &n)
				mu.Lock()
				seen[n]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	ch.Close(ctx)
	rwg.Wait()
	for n, k := range seen {
		if k != 1 {
			t.Fatalf("value %d received %d times", n, k)
		}
	}
}

// Cancelling a blocked recv races a send: a value that arrived anyway is
// returned, never lost; the others stay in the channel.
func TestAbortRaceLosesNothing(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	other := dial(t, s)
	ctx := tctx(t)
	const n = 200
	ch := mustMake(t, c, "race", MakeOptions{Cap: n})
	lch := mustMake(t, c, "lrace", MakeOptions{Cap: n})
	got, leased := 0, 0
	for i := 0; i < n; i++ {
		rctx, cancel := context.WithCancel(ctx)
		res := make(chan error, 2)
		go func() {
			_, ok, err := ch.Recv(rctx)
			if err == nil && ok {
				got++
			}
			res <- err
		}()
		go func() {
			l, ok, err := lch.Lease(rctx, time.Minute)
			if err == nil && ok {
				leased++
				if err := l.Ack(ctx); err != nil {
					t.Error("ack:", err)
				}
			}
			res <- err
		}()
		// The sends come from another connection, at varying moments
		// around the cancel.
		if i%2 == 0 {
			other.Chan("race").Send(ctx, MustValue(i))
			other.Chan("lrace").Send(ctx, MustValue(i))
			cancel()
		} else {
			cancel()
			other.Chan("race").Send(ctx, MustValue(i))
			other.Chan("lrace").Send(ctx, MustValue(i))
		}
		for k := 0; k < 2; k++ {
			if err := <-res; err != nil && !errors.Is(err, context.Canceled) {
				t.Fatalf("iteration %d: %v", i, err)
			}
		}
	}
	left := func(ch *Chan) int {
		st, err := ch.Stat(ctx)
		if err != nil || st.Leased != 0 {
			t.Fatalf("stat: %+v %v", st, err)
		}
		return st.Len
	}
	if l := left(ch); got+l != n {
		t.Fatalf("plain recv: %d received + %d left != %d sent", got, l, n)
	}
	if l := left(lch); leased+l != n {
		t.Fatalf("leased recv: %d received + %d left != %d sent", leased, l, n)
	}
	t.Logf("received %d plain, %d leased of %d before their cancel", got, leased, n)
}

// The server's max_pending limit is reported as ErrLimit.
func TestMaxPendingReported(t *testing.T) {
	s := startServer(t, "--max-pending", "2")
	c := dial(t, s)
	ctx := tctx(t)
	ch := mustMake(t, c, "lim", MakeOptions{Cap: 1})
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); ch.Recv(rctx) }()
	}
	waitStat(t, ch, "two blocked recvs", func(st Stat) bool { return st.ReceiversWaiting == 2 })
	if _, _, err := ch.Recv(ctx); !errors.Is(err, ErrLimit) {
		t.Fatalf("third blocked recv: %v", err)
	}
	cancel()
	wg.Wait()
}
