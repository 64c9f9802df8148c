package jqclient_test

// The README's examples, compiled by go vet and go test (they have no
// Output comment, so they are not run: they need a jqd).

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"jqd.invalid/jqclient"
)

func Example() {
	ctx := context.Background()
	c, err := jqclient.Dial(ctx, "unix:/run/jqd/jqd.sock")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	tasks := c.Chan("tasks")
	tasks.Make(ctx, jqclient.MakeOptions{Cap: 100})
	tasks.Send(ctx, jqclient.MustValue(map[string]any{"img": "dog.png"}))
	v, ok, err := tasks.Recv(ctx) // ok is false once closed and drained
	fmt.Println(string(v), ok, err)
}

func ExampleWorker() {
	c, err := jqclient.Dial(context.Background(), "", jqclient.WithConsumer("resize-1"))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	err = jqclient.Worker{
		Chan:        c.Chan("tasks"),
		Concurrency: 4,
		LeaseTTL:    30 * time.Second,
		Handler: func(ctx context.Context, l *jqclient.Lease) error {
			return resize(ctx, l.Value)
		},
	}.Run(ctx)
	fmt.Println(err)
}

func resize(ctx context.Context, v json.RawMessage) error { return nil }

func ExampleClient_Run() {
	c, err := jqclient.Dial(context.Background(), "")
	if err != nil {
		fmt.Println(err)
		return
	}
	// The job's deadline is the context's; cancelling it cancels the job.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := c.Run(ctx, jqclient.JobSpec{Argv: []string{"make", "-C", "/src"}})
	fmt.Println(r.State, r.Stdout, err)
}

func ExampleClient_Select() {
	c, _ := jqclient.Dial(context.Background(), "")
	hi, lo := c.Chan("hi"), c.Chan("lo")
	sel, err := c.Select(context.Background(), hi.RecvCase(), lo.RecvCase(), jqclient.Default())
	switch {
	case err != nil:
		fmt.Println(err)
	case sel.Index == 2:
		fmt.Println("nothing ready")
	default:
		fmt.Println(sel.Index, string(sel.Value))
	}
}

func ExampleOf() {
	c, _ := jqclient.Dial(context.Background(), "")
	type task struct{ Img string }
	tasks := jqclient.Of[task](c.Chan("tasks"))
	tasks.Send(context.Background(), task{Img: "dog.png"})
	t, ok, err := tasks.Recv(context.Background())
	fmt.Println(t.Img, ok, err)
}
