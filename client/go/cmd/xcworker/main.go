// Command xcworker is the Go role of the cross-client test
// (tests/integration/test_cross_client.py):
//
//	JQ_ADDR=unix:/path/jqd.sock xcworker CHAN DONE NAME
//
// As the named consumer NAME, four handlers (jqclient.Worker) take leases
// on CHAN; for each value {"n": N} they send {"n": N, "by": NAME} to DONE
// with key "d-N", then ack.  When CHAN is closed and drained it prints
// "processed K" (handler runs that succeeded) and exits 0.  It rides out
// jqd restarts: the client redials for up to 30 s, the leases belong to
// NAME and outlive the connection, and the keyed sends are repeated.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"jqd.invalid/jqclient"
)

const upFor = 30 * time.Second

// leaseTTL: a lease whose recv reply a jqd crash took is known to nobody
// (its string is lost) and comes back only when it expires, so short;
// touched at half while a value is handled.
const leaseTTL = 5 * time.Second

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: xcworker CHAN DONE NAME")
		os.Exit(2)
	}
	chanName, doneName, name := os.Args[1], os.Args[2], os.Args[3]
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	c, err := dial(ctx, name)
	if err != nil {
		fmt.Fprintln(os.Stderr, "xcworker:", err)
		os.Exit(1)
	}
	defer c.Close()
	done := c.Chan(doneName)
	var processed int64
	err = jqclient.Worker{
		Chan:        c.Chan(chanName),
		Concurrency: 4,
		LeaseTTL:    leaseTTL,
		Handler: func(ctx context.Context, l *jqclient.Lease) error {
			var v struct {
				N json.Number `json:"n"`
			}
			if err := jqclient.Decode(l.Value, &v); err != nil {
				return err
			}
			out := jqclient.MustValue(map[string]any{"n": v.N, "by": name})
			if err := done.Send(ctx, out, jqclient.Key("d-"+v.N.String())); err != nil {
				return err
			}
			atomic.AddInt64(&processed, 1)
			return nil
		},
		OnError: func(err error) { fmt.Fprintln(os.Stderr, "xcworker:", err) },
	}.Run(ctx)
	if err == nil && ctx.Err() != nil {
		err = fmt.Errorf("stopped by a signal before %s was drained", chanName)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "xcworker:", err)
		os.Exit(1)
	}
	fmt.Printf("processed %d\n", atomic.LoadInt64(&processed))
}

// dial connects as consumer name, retrying with backoff while jqd is
// down, for up to 30 s.
func dial(ctx context.Context, name string) (*jqclient.Client, error) {
	end := time.Now().Add(upFor)
	wait := 50 * time.Millisecond
	for {
		dctx, cancel := context.WithDeadline(ctx, end)
		c, err := jqclient.Dial(dctx, "", jqclient.WithConsumer(name))
		cancel()
		if err == nil || time.Now().Add(wait).After(end) || ctx.Err() != nil {
			return c, err
		}
		time.Sleep(wait)
		if wait *= 2; wait > 2*time.Second {
			wait = 2 * time.Second
		}
	}
}
