package jqclient

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestSendRecvValuesAsWritten(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	ctx := tctx(t)
	ch := mustMake(t, c, "v", MakeOptions{Cap: 10})
	for _, v := range []string{`19.99`, `{"a":1,"a":2}`, `"\u00e9"`, `null`, `1e2`} {
		if err := ch.Send(ctx, json.RawMessage(v)); err != nil {
			t.Fatal(err)
		}
		got, ok, err := ch.Recv(ctx)
		if err != nil || !ok || string(got) != v {
			t.Fatalf("recv %s: got %s %v %v", v, got, ok, err)
		}
	}
	if err := ch.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := ch.Recv(ctx); ok || err != nil {
		t.Fatalf("recv on closed, drained: ok %v err %v", ok, err)
	}
	if err := ch.Send(ctx, MustValue(1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("send to closed: %v", err)
	}
	if err := ch.Close(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("close twice: %v", err)
	}
	if _, err := c.Chan("nope").Stat(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stat of a missing channel: %v", err)
	}
	var e *Error
	if _, err := c.Chan("no spaces").Stat(ctx); !errors.As(err, &e) || e.Code != "bad_request" {
		t.Fatalf("bad name: %v", err)
	}
}

func TestTypedAndBatch(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	ctx := tctx(t)
	type task struct{ N int }
	tc := Of[task](mustMake(t, c, "typed", MakeOptions{Cap: 5}))
	if err := tc.Send(ctx, task{N: 7}); err != nil {
		t.Fatal(err)
	}
	v, ok, err := tc.Recv(ctx)
	if err != nil || !ok || v.N != 7 {
		t.Fatalf("typed recv: %+v %v %v", v, ok, err)
	}
	ch := tc.Chan
	if err := ch.SendBatch(ctx, []json.RawMessage{MustValue(1), MustValue(2), MustValue(3)}); err != nil {
		t.Fatal(err)
	}
	vals, n, err := ch.Peek(ctx, 5)
	if err != nil || n != 3 || len(vals) != 3 || string(vals[0]) != "1" {
		t.Fatalf("peek: %s %d %v", vals, n, err)
	}
	got, ok, err := ch.RecvN(ctx, 10)
	if err != nil || !ok || len(got) != 3 || string(got[2]) != "3" {
		t.Fatalf("recvN: %s %v %v", got, ok, err)
	}
	if _, _, err := ch.TryRecv(ctx); !errors.Is(err, ErrTimeout) {
		t.Fatalf("TryRecv on empty: %v", err)
	}
	if err := ch.SendBatch(ctx, make([]json.RawMessage, 6)); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("batch over cap: %v", err)
	}
	st, err := c.Chans(ctx, "typ")
	if err != nil || len(st) != 1 || st[0].Chan != "typed" || st[0].Cap != 5 {
		t.Fatalf("chans: %+v %v", st, err)
	}
	if err := ch.Drop(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestDeadlineMapsToTimeout(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	ch := mustMake(t, c, "empty", MakeOptions{Cap: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, _, err := ch.Recv(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("recv past the deadline: %v", err)
	}
	// The server's own timeout (or the abort racing it) ended it: a
	// timeout is both.
	if e := (*Error)(nil); errors.As(err, &e) && !errors.Is(err, ErrTimeout) {
		t.Fatalf("server error that is not a timeout: %v", err)
	}
}

func TestSelect(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	ctx := tctx(t)
	hi := mustMake(t, c, "hi", MakeOptions{Cap: 1})
	lo := mustMake(t, c, "lo", MakeOptions{Cap: 1})
	if err := lo.Send(ctx, MustValue("job-1")); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select(ctx, hi.RecvCase(), lo.RecvCase())
	if err != nil || sel.Index != 1 || string(sel.Value) != `"job-1"` || !sel.OK {
		t.Fatalf("select: %+v %v", sel, err)
	}
	sel, err = c.Select(ctx, hi.RecvCase(), Default(), lo.RecvCase())
	if err != nil || sel.Index != 1 {
		t.Fatalf("select with default: %+v %v", sel, err)
	}
	sel, err = c.Select(ctx, lo.RecvCase(), hi.SendCase(MustValue(2)))
	if err != nil || sel.Index != 1 {
		t.Fatalf("select send: %+v %v", sel, err)
	}
	lo.Close(ctx)
	sel, err = c.Select(ctx, Default(), lo.RecvCase())
	if err != nil || sel.Index != 1 || sel.OK {
		t.Fatalf("select on closed: %+v %v", sel, err)
	}
	_, err = c.Select(ctx, Default(), lo.SendCase(MustValue(1)))
	var e *Error
	if !errors.As(err, &e) || e.Code != "closed" || e.Index == nil || *e.Index != 1 {
		t.Fatalf("select send on closed: %v", err)
	}
	// A blocked select, completed by a send from the test's goroutine.
	q := mustMake(t, c, "quit", MakeOptions{})
	empty := mustMake(t, c, "empty", MakeOptions{Cap: 1})
	type res struct {
		sel Selected
		err error
	}
	done := make(chan res, 1)
	go func() {
		sel, err := c.Select(ctx, empty.RecvCase(), q.RecvCase())
		done <- res{sel, err}
	}()
	waitStat(t, q, "a receiver on quit", func(st Stat) bool { return st.ReceiversWaiting == 1 })
	if err := q.Send(ctx, MustValue(true)); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.err != nil || r.sel.Index != 1 || string(r.sel.Value) != "true" {
		t.Fatalf("blocked select: %+v %v", r.sel, r.err)
	}
}

func TestLeasesTouchNackDeadLetter(t *testing.T) {
	s := startServer(t)
	c := dial(t, s, WithConsumer("w-1"))
	ctx := tctx(t)
	mustMake(t, c, "failed", MakeOptions{Cap: 10})
	ch := mustMake(t, c, "tasks", MakeOptions{Cap: 10, MaxDeliveries: 2, DeadLetter: "failed"})
	if created, err := ch.Make(ctx, MakeOptions{Cap: 10, MaxDeliveries: 2, DeadLetter: "failed"}); err != nil || created {
		t.Fatalf("make again: %v %v", created, err)
	}
	if _, err := ch.Make(ctx, MakeOptions{Cap: 3}); !errors.Is(err, ErrExists) {
		t.Fatalf("make with another cap: %v", err)
	}
	ch.Send(ctx, MustValue("t1"))
	l, ok, err := ch.Lease(ctx, time.Minute)
	if err != nil || !ok || string(l.Value) != `"t1"` || l.Redelivered != 0 {
		t.Fatalf("lease: %+v %v %v", l, ok, err)
	}
	dl, err := l.Touch(ctx, 2*time.Minute)
	if err != nil || time.Until(dl) < time.Minute {
		t.Fatalf("touch: %v %v", dl, err)
	}
	if err := l.Nack(ctx, NackOptions{Reason: "first"}); err != nil {
		t.Fatal(err)
	}
	l, _, err = ch.Lease(ctx, time.Minute)
	if err != nil || l.Redelivered != 1 {
		t.Fatalf("second delivery: %+v %v", l, err)
	}
	if err := l.Nack(ctx, NackOptions{Reason: "decoder crashed"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Ack(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ack of a returned lease: %v", err)
	}
	env, ok, err := c.Chan("failed").Recv(ctx)
	var dead struct {
		Chan       string
		Value      json.RawMessage
		Deliveries int
		Reason     string
	}
	if err != nil || !ok || Decode(env, &dead) != nil || dead.Chan != "tasks" ||
		string(dead.Value) != `"t1"` || dead.Deliveries != 2 || dead.Reason != "decoder crashed" {
		t.Fatalf("dead letter: %s %v", env, err)
	}
	// A named consumer's lease outlives its connection: ack it from
	// another client by its string.
	ch.Send(ctx, MustValue("t2"))
	l, _, _ = ch.Lease(ctx, time.Minute)
	c.Close()
	c2 := dial(t, s)
	if err := c2.Chan("tasks").LeaseOf(l.ID).Ack(ctx); err != nil {
		t.Fatalf("ack from another connection: %v", err)
	}
	// nack with a delay: out of reach meanwhile.
	ch2 := c2.Chan("tasks")
	ch2.Send(ctx, MustValue("t3"))
	l, _, _ = ch2.Lease(ctx, time.Minute)
	if err := l.Nack(ctx, NackOptions{Delay: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ch2.TryRecv(ctx); !errors.Is(err, ErrTimeout) {
		t.Fatalf("delayed value reachable: %v", err)
	}
	v, _, err := ch2.Recv(ctx)
	if err != nil || string(v) != `"t3"` {
		t.Fatalf("delayed value: %s %v", v, err)
	}
}

func TestKeyedSendDedup(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	ctx := tctx(t)
	ch := mustMake(t, c, "dd", MakeOptions{Cap: 10})
	dup, err := ch.SendDup(ctx, MustValue(1), Key("k1"))
	if err != nil || dup {
		t.Fatalf("first keyed send: %v %v", dup, err)
	}
	dup, err = ch.SendDup(ctx, MustValue(1), Key("k1"))
	if err != nil || !dup {
		t.Fatalf("second keyed send: %v %v", dup, err)
	}
	st, _ := ch.Stat(ctx)
	if st.Len != 1 || st.DedupKeys != 1 {
		t.Fatalf("stat after dedup: %+v", st)
	}
}
