package jqclient

// A scripted server for what a real jqd cannot be made to do on cue:
// hold a reply, or have it race a close.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeServer accepts connections, answers their hello with multiplex
// and hands every later request line to the test (reqs, with the
// connection's number, 0 first, as "_conn"); the test writes replies
// with reply, to the latest connection.  ended gets the number of each
// connection the client closed.
type fakeServer struct {
	addr  string
	reqs  chan map[string]any
	ended chan int
	mu    sync.Mutex
	ncs   []net.Conn
	// stall, when set before the connection, stops reading it after
	// hello until closed.
	stall chan struct{}
}

// latest is the connection accepted last.
func (f *fakeServer) latest(t *testing.T) net.Conn {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.ncs) == 0 {
		t.Fatal("no connection")
	}
	return f.ncs[len(f.ncs)-1]
}

// hangUp closes the server's side of the latest connection.
func (f *fakeServer) hangUp(t *testing.T) { f.latest(t).Close() }

func startFake(t *testing.T) *fakeServer {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "fake.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f := &fakeServer{addr: "unix:" + sock, reqs: make(chan map[string]any, 16), ended: make(chan int, 16)}
	go func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.ncs = append(f.ncs, nc)
			n := len(f.ncs) - 1
			f.mu.Unlock()
			t.Cleanup(func() { nc.Close() })
			go f.serve(nc, n)
		}
	}()
	return f
}

func (f *fakeServer) serve(nc net.Conn, n int) {
	br := bufio.NewReader(nc)
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			f.ended <- n
			return
		}
		var req map[string]any
		if json.Unmarshal(line, &req) != nil {
			return
		}
		if req["op"] == "hello" {
			nc.Write([]byte(`{"id":0,"ok":true,"server":"fake","protocol":1,"minor":3,"features":["multiplex","abort"],"multiplex":true,"time_ms":1}` + "\n"))
			if f.stall != nil {
				<-f.stall
			}
			continue
		}
		req["_conn"] = n
		f.reqs <- req
	}
}

// dial connects a client that does not reconnect (closed at cleanup).
func (f *fakeServer) dial(t *testing.T) *Client {
	t.Helper()
	c, err := Dial(tctx(t), f.addr, WithReconnectWait(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// next returns the next request the client sent.
func (f *fakeServer) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case r := <-f.reqs:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("no request reached the fake server")
		return nil
	}
}

func (f *fakeServer) reply(t *testing.T, line string) {
	t.Helper()
	if _, err := f.latest(t).Write([]byte(line + "\n")); err != nil {
		t.Fatal(err)
	}
}

// A request that is not safe to repeat, sent and then given up by its
// context, may have taken effect: ErrOutcomeUnknown (matching the
// context's error too), not a bare context.Canceled that would say it
// did not happen.  A repeatable one returns the context's error.
func TestGivenUpCallOutcomeUnknown(t *testing.T) {
	f := startFake(t)
	c := f.dial(t)
	for _, keyed := range []bool{false, true} {
		ctx, cancel := context.WithCancel(tctx(t))
		res := make(chan error, 1)
		spec := JobSpec{Argv: []string{"true"}}
		if keyed {
			spec.Key = "k"
		}
		go func() {
			_, err := c.Submit(ctx, spec)
			res <- err
		}()
		if op := f.next(t)["op"]; op != "submit" {
			t.Fatalf("op %v", op)
		}
		cancel() // the submit was written; its reply never comes
		err := <-res
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("keyed=%v: %v is not context.Canceled", keyed, err)
		}
		if unknown := errors.Is(err, ErrOutcomeUnknown); unknown == keyed {
			t.Fatalf("keyed=%v: %v: outcome unknown %v", keyed, err, unknown)
		}
	}
}

// A reply the reader has read is delivered even when another goroutine
// closes the connection before the reader hands it over (Close, a failed
// write, an abort without reply): the received value is returned, not
// lost behind ErrOutcomeUnknown.
func TestReplyRacingCloseIsKept(t *testing.T) {
	f := startFake(t)
	c := f.dial(t)
	returned := make(chan struct{})
	hook := func(cn *conn) {
		cn.close(errors.New("closed by another goroutine"))
		// Hold the dispatch until the Recv has returned (the bug) or a
		// while has passed (the fix waits for the reader: no bug).
		select {
		case <-returned:
		case <-time.After(500 * time.Millisecond):
		}
	}
	testHookDispatch.Store(&hook)
	defer testHookDispatch.Store(nil)
	res := make(chan string, 1)
	go func() {
		v, ok, err := c.Chan("q").Recv(tctx(t))
		close(returned)
		if err != nil {
			res <- err.Error()
			return
		}
		res <- string(v) + map[bool]string{true: " ok", false: " !ok"}[ok]
	}()
	req := f.next(t)
	id, _ := json.Marshal(req["id"])
	f.reply(t, `{"id":`+string(id)+`,"ok":true,"value":42}`)
	if got := <-res; got != "42 ok" {
		t.Fatalf("recv: %s", got)
	}
}

// The server writes a recv's value and goes away; another goroutine's
// write fails (EPIPE) before the reader has read that value from the
// socket.  The failed write must not close the socket under the reader:
// the value is delivered, not lost behind ErrOutcomeUnknown.
func TestFailedWriteKeepsBufferedReplies(t *testing.T) {
	f := startFake(t)
	c := f.dial(t)
	inDispatch, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	hook := func(*conn) {
		once.Do(func() {
			close(inDispatch)
			<-release
		})
	}
	testHookDispatch.Store(&hook)
	defer testHookDispatch.Store(nil)
	res := make(chan string, 1)
	go func() {
		v, ok, err := c.Chan("q").Recv(tctx(t))
		res <- fmt.Sprintf("%s %v %v", v, ok, err)
	}()
	recv := f.next(t)
	ping := make(chan error, 1)
	go func() { ping <- c.Ping(tctx(t)) }()
	// The reader takes the ping's reply and is held in its dispatch ...
	f.reply(t, fmt.Sprintf(`{"id":%v,"ok":true}`, f.next(t)["id"]))
	<-inDispatch
	// ... while the recv's value reaches the socket, the server hangs up,
	// and a write fails.
	f.reply(t, fmt.Sprintf(`{"id":%v,"ok":true,"value":42}`, recv["id"]))
	f.hangUp(t)
	if err := c.Ping(tctx(t)); err == nil {
		t.Fatal("a ping after the hang-up succeeded")
	}
	close(release)
	if err := <-ping; err != nil {
		t.Fatalf("first ping: %v", err)
	}
	if got := <-res; got != "42 true <nil>" {
		t.Fatalf("recv: %s", got)
	}
}

// Close closes every connection of the client, also one left draining
// (answered shutting_down) that the server has not closed yet.
func TestCloseClosesDrainingConnection(t *testing.T) {
	f := startFake(t)
	c, err := Dial(tctx(t), f.addr)
	if err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	go func() {
		_, _, err := c.Chan("q").Recv(tctx(t))
		res <- err
	}()
	r := f.next(t)
	f.reply(t, fmt.Sprintf(`{"id":%v,"ok":false,"error":{"code":"shutting_down","message":"stopping"}}`, r["id"]))
	if r = f.next(t); r["op"] != "recv" || r["_conn"] != 1 {
		t.Fatalf("after shutting_down: %v", r)
	}
	c.Close()
	if err := <-res; !errors.Is(err, ErrClientClosed) {
		t.Fatalf("recv: %v", err)
	}
	ended := map[int]bool{}
	timeout := time.After(20 * time.Second)
	for len(ended) < 2 {
		select {
		case n := <-f.ended:
			ended[n] = true
		case <-timeout:
			t.Fatalf("connections closed by Close: %v of 0 and 1", ended)
		}
	}
}

// A caller waiting for its turn to write (behind a send the server does
// not read) returns when its context ends, not after the writer's 30 s.
func TestWriteWaitHonoursContext(t *testing.T) {
	f := startFake(t)
	f.stall = make(chan struct{})
	defer close(f.stall)
	c := f.dial(t)
	big := MustValue(strings.Repeat("x", 900<<10)) // more than the socket buffers hold
	sent := make(chan error, 1)
	go func() { sent <- c.Chan("q").Send(tctx(t), big) }()
	// Once the sender holds the write turn (its request registered), a
	// ping waits behind it.
	waitFor(t, "the send to be writing", func() bool {
		cn := c.current()
		cn.mu.Lock()
		defer cn.mu.Unlock()
		return len(cn.pend) == 1 && len(cn.wsem) == 1
	})
	ctx, cancel := context.WithTimeout(tctx(t), 200*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	err := c.Ping(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(t0) > 10*time.Second {
		t.Fatalf("ping behind a stuck write: %v after %v", err, time.Since(t0))
	}
}
