package jqclient

// Worker: the leasing loop every consumer writes (PROTOCOL.md 13 items
// 21, 22): Concurrency goroutines take leases, run Handler, touch the
// lease at half its TTL while it runs, ack on a nil error and nack with
// the error's text as reason otherwise.  Cancelling Run's context stops
// taking; running handlers get Grace to finish, then their contexts are
// cancelled and their leases nacked.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Worker processes the values of Chan.  For leases that survive the
// worker's reconnects and jqd's restarts, dial with WithConsumer.
type Worker struct {
	Chan        *Chan
	Concurrency int           // handlers at once (default 1)
	LeaseTTL    time.Duration // lease per value (default 30 s); touched at half
	Handler     func(ctx context.Context, l *Lease) error
	NackDelay   time.Duration // keeps a failed value out of reach this long
	Grace       time.Duration // after a stop, how long handlers may finish (default LeaseTTL)
	// OnError, if set, hears what Run survives: a failed ack, nack or
	// touch (ErrNotFound: the lease expired), a receive that must wait
	// for the server to come back.
	OnError func(error)
}

const (
	defaultLeaseTTL = 30 * time.Second
	opWait          = 30 * time.Second // bound on one ack, nack or touch
)

// Run processes values until the channel is closed and drained, or ctx
// is cancelled (a graceful stop); both return nil.  A receive error the
// worker cannot survive (the channel does not exist, ...) stops every
// goroutine and is returned.
func (w Worker) Run(ctx context.Context) error {
	if w.Chan == nil || w.Handler == nil {
		return errors.New("jqclient: Worker needs Chan and Handler")
	}
	if w.Concurrency < 1 {
		w.Concurrency = 1
	}
	if w.LeaseTTL <= 0 {
		w.LeaseTTL = defaultLeaseTTL
	}
	if w.Grace <= 0 {
		w.Grace = w.LeaseTTL
	}
	take, stopTaking := context.WithCancel(ctx)
	defer stopTaking()
	// graceOver closes Grace after taking stopped.
	graceOver := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		select {
		case <-take.Done():
		case <-finished:
			return
		}
		t := time.NewTimer(w.Grace)
		defer t.Stop()
		select {
		case <-t.C:
			close(graceOver)
		case <-finished:
		}
	}()
	var wg sync.WaitGroup
	var once sync.Once
	var fatal error
	for i := 0; i < w.Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.loop(take, graceOver); err != nil {
				once.Do(func() { fatal = err })
				stopTaking()
			}
		}()
	}
	wg.Wait()
	close(finished)
	return fatal
}

func (w *Worker) report(err error) {
	if w.OnError != nil && err != nil {
		w.OnError(err)
	}
}

// loop takes and handles leases one at a time.
func (w *Worker) loop(take context.Context, graceOver <-chan struct{}) error {
	wait := backoffMin
	for {
		l, ok, err := w.Chan.Lease(take, w.LeaseTTL)
		if err != nil {
			if take.Err() != nil {
				return nil
			}
			if !errors.Is(err, ErrUnavailable) {
				return err
			}
			// jqd is away longer than the reconnect window: keep trying.
			w.report(err)
			if !sleep(take, wait) {
				return nil
			}
			if wait *= 2; wait > backoffMax {
				wait = backoffMax
			}
			continue
		}
		wait = backoffMin
		if !ok {
			return nil
		}
		if take.Err() != nil {
			// It arrived as the recv was aborted: give it back.
			w.nack(l, "worker stopping", 0)
			return nil
		}
		w.handle(l, graceOver)
	}
}

// handle runs Handler on l, touching the lease meanwhile, then acks or
// nacks it.
func (w *Worker) handle(l *Lease, graceOver <-chan struct{}) {
	hctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("panic: %v", p)
			}
		}()
		done <- w.Handler(hctx, l)
	}()
	tick := time.NewTicker(w.LeaseTTL / 2)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err == nil {
				ctx, c := context.WithTimeout(context.Background(), opWait)
				w.report(l.Ack(ctx))
				c()
			} else {
				w.nack(l, err.Error(), w.NackDelay)
			}
			return
		case <-tick.C:
			ctx, c := context.WithTimeout(context.Background(), opWait)
			_, err := l.Touch(ctx, w.LeaseTTL)
			c()
			if errors.Is(err, ErrNotFound) {
				cancel() // the lease is gone: the value is someone else's
			}
			w.report(err)
		case <-graceOver:
			cancel()
			w.nack(l, "worker stopped before the handler finished", 0)
			return
		}
	}
}

func (w *Worker) nack(l *Lease, reason string, delay time.Duration) {
	ctx, c := context.WithTimeout(context.Background(), opWait)
	defer c()
	w.report(l.Nack(ctx, NackOptions{Delay: delay, Reason: reason}))
}

// sleep waits d or until ctx ends; false if ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
