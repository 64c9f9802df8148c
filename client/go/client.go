package jqclient

// Client: one multiplexed connection shared by goroutines, redialled with
// capped, jittered backoff when it is lost.  Every call takes a context;
// do() carries one request through reconnects according to whether it
// may be repeated (PROTOCOL.md 13 items 5, 19, 20, 23).

import (
	"context"
	"crypto/tls"
	"errors"
	"math/rand"
	"sync"
	"time"
)

// Option configures Dial.
type Option func(*options)

type options struct {
	token         string
	tokenSet      bool
	tokenFile     string
	consumer      string
	tlsConfig     *tls.Config
	reconnectWait time.Duration
	autoKeys      bool
	maxFrame      int
}

// WithToken gives the token to send in auth (instead of the environment's).
func WithToken(t string) Option { return func(o *options) { o.token, o.tokenSet = t, true } }

// WithTokenFile reads the token from a file.
func WithTokenFile(path string) Option { return func(o *options) { o.tokenFile = path } }

// WithConsumer names the connection's consumer (hello's consumer, 6.3.1):
// leases then belong to it and outlive connections and restarts.
func WithConsumer(name string) Option { return func(o *options) { o.consumer = name } }

// WithTLSConfig replaces the TLS configuration made from JQ_TLS_CA,
// JQ_TLS_CERT and JQ_TLS_KEY (used for tls: addresses only).
func WithTLSConfig(cfg *tls.Config) Option { return func(o *options) { o.tlsConfig = cfg } }

// WithReconnectWait bounds how long a call waits for the connection to
// come back (default 30 s); 0 turns reconnecting off.
func WithReconnectWait(d time.Duration) Option { return func(o *options) { o.reconnectWait = d } }

// WithAutoKeys makes every Send and SendBatch keyed (128 random bits when
// the call gives no Key), so that sends are repeated safely across
// reconnects instead of failing with ErrOutcomeUnknown.
func WithAutoKeys() Option { return func(o *options) { o.autoKeys = true } }

// WithMaxFrame tells the client the server's max_frame when it is not
// the default 1 MiB: longer requests fail here with ErrFrameTooLarge
// (jqd's own answer could not be matched with its request).
func WithMaxFrame(bytes int) Option { return func(o *options) { o.maxFrame = bytes } }

// Backoff of the reconnect loop: from backoffMin, doubling, capped at
// backoffMax, each wait drawn from [d/2, d).
const (
	backoffMin = 50 * time.Millisecond
	backoffMax = 2 * time.Second
	// abortWait bounds the wait for a call's reply after its abort.
	abortWait = 30 * time.Second
	// handshakeWait bounds auth + hello on a new connection.
	handshakeWait = 30 * time.Second
)

// Client is safe for concurrent use.
type Client struct {
	opts  options
	addrs addrList
	token string
	tcfg  *tls.Config
	bg    context.Context // ends at Close: bounds the background redial
	stop  context.CancelFunc

	mu  sync.Mutex
	cur *conn
	// draining: earlier connections replaced while the server had not
	// closed them yet (after shutting_down); Close closes them too.
	draining []*conn
	closed   bool
	dialing  chan struct{} // non-nil while a redial runs; closed at its end
	dialErr  error         // the last redial's failure
	lastAddr int           // index of the address that served last
}

// Dial connects to addr (an address list, see the package doc; "" means
// JQ_ADDR or the default socket) and says hello with multiplexing on.
// It tries each address once; later losses are redialled in the
// background.
func Dial(ctx context.Context, addr string, opts ...Option) (*Client, error) {
	o := options{reconnectWait: 30 * time.Second, maxFrame: 1 << 20}
	for _, f := range opts {
		f(&o)
	}
	l, err := parseAddrs(addr)
	if err != nil {
		return nil, err
	}
	c := &Client{opts: o, addrs: l}
	if c.token, err = findToken(&o, l); err != nil {
		return nil, err
	}
	if l.tls {
		if c.tcfg, err = tlsConfig(&o); err != nil {
			return nil, err
		}
	}
	c.bg, c.stop = context.WithCancel(context.Background())
	cn, err := c.dialOnce(ctx)
	if err != nil {
		c.stop()
		return nil, err
	}
	c.cur = cn
	return c, nil
}

// Close closes the connection and stops reconnecting; calls in flight
// fail.  Named consumers' leases stay out (6.3.1); unnamed ones return.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	cns := append(c.draining, c.cur)
	c.cur, c.draining = nil, nil
	c.mu.Unlock()
	c.stop()
	for _, cn := range cns {
		if cn != nil {
			cn.close(ErrClientClosed)
		}
	}
	return nil
}

func (c *Client) dialOnce(ctx context.Context) (*conn, error) {
	c.mu.Lock()
	start := c.lastAddr
	c.mu.Unlock()
	nc, err := dialList(ctx, c.addrs, c.tcfg, &start)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(handshakeWait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	cn, err := handshake(nc, c.token, c.opts.consumer, c.opts.maxFrame, deadline)
	if err != nil {
		nc.Close()
		return nil, err
	}
	c.mu.Lock()
	c.lastAddr = start
	c.mu.Unlock()
	return cn, nil
}

// conn returns a usable connection, waiting for a redial if needed.
func (c *Client) conn(ctx context.Context) (*conn, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, ErrClientClosed
		}
		if c.cur != nil && c.cur.usable() {
			cn := c.cur
			c.mu.Unlock()
			return cn, nil
		}
		if c.opts.reconnectWait == 0 {
			var err error = ErrUnavailable
			if c.cur != nil {
				err = &unavailableError{last: c.cur.deathErr()}
			}
			c.mu.Unlock()
			return nil, err
		}
		done := c.dialing
		if done == nil {
			done = make(chan struct{})
			c.dialing = done
			go c.redial(done)
		}
		c.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		c.mu.Lock()
		err := c.dialErr
		ok := c.cur != nil && c.cur.usable()
		c.mu.Unlock()
		if !ok && err != nil {
			return nil, err
		}
	}
}

// redial dials with backoff until it succeeds, the reconnect window
// passes or the client is closed; callers wait on done.
func (c *Client) redial(done chan struct{}) {
	var cn *conn
	var last error
	end := time.Now().Add(c.opts.reconnectWait)
	wait := backoffMin
	for {
		var err error
		ctx, cancel := context.WithDeadline(c.bg, end)
		cn, err = c.dialOnce(ctx)
		cancel()
		if err == nil {
			break
		}
		last = err
		if errors.Is(err, ErrUnauthorized) {
			break // a refused token stays refused
		}
		d := wait/2 + time.Duration(rand.Int63n(int64(wait/2)))
		if wait *= 2; wait > backoffMax {
			wait = backoffMax
		}
		if time.Now().Add(d).After(end) || c.bg.Err() != nil {
			break
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.bg.Done():
			t.Stop()
		}
	}
	c.mu.Lock()
	if cn != nil && !c.closed {
		// A draining predecessor is left to the server, which answers its
		// blocked requests shutting_down and then closes it; Close
		// closes it if the server has not.
		keep := c.draining[:0]
		for _, old := range append(c.draining, c.cur) {
			if old != nil && !old.stopped() {
				keep = append(keep, old)
			}
		}
		c.draining = keep
		c.cur, c.dialErr = cn, nil
	} else {
		if cn != nil {
			cn.close(ErrClientClosed)
		}
		if c.closed {
			c.dialErr = ErrClientClosed
		} else {
			c.dialErr = &unavailableError{last: last}
		}
	}
	c.dialing = nil
	c.mu.Unlock()
	close(done)
}

// callSpec says how one request travels.
type callSpec struct {
	op  string
	req map[string]any
	// retry: the request may be sent again after the connection was lost
	// before its reply (idempotent, keyed, or harmless).
	retry bool
	// blocking: the request may wait on the server; the context's
	// deadline becomes timeout_ms and its cancellation an abort.
	blocking bool
	out      any
}

// connLost wraps a connection's death while a request was in flight.
type connLost struct{ err error }

func (e *connLost) Error() string { return "jqclient: connection lost: " + e.err.Error() }
func (e *connLost) Unwrap() error { return e.err }

// do sends one request and decodes its reply into cs.out, across
// reconnects as cs allows.
func (c *Client) do(ctx context.Context, cs callSpec) error {
	own, hasOwn := cs.req["timeout_ms"].(int64) // the caller's, e.g. TryRecv's 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		cn, err := c.conn(ctx)
		if err != nil {
			return err
		}
		fromCtx := false
		if cs.blocking {
			fromCtx = setTimeout(ctx, cs.req, own, hasOwn)
		}
		line, err := c.roundTrip(ctx, cn, cs)
		var lost *connLost
		switch {
		case err == errNotSent:
			continue
		case errors.As(err, &lost):
			if cs.retry {
				continue
			}
			return &OutcomeUnknownError{Op: cs.op, Err: lost.err}
		case err != nil:
			return err
		}
		err = decodeReply(cs.op, line, cs.out)
		var se *Error
		if errors.As(err, &se) {
			switch se.Code {
			case "shutting_down":
				// The server executed nothing (6.5): send it again to
				// the next server, once one is back.
				continue
			case "timeout":
				if fromCtx {
					se.cause = context.DeadlineExceeded
				}
			case "canceled":
				if ctx.Err() != nil {
					return ctx.Err()
				}
			}
		}
		return err
	}
}

// setTimeout maps the context's deadline to the request's timeout_ms; a
// smaller one of the caller's own (own, when hasOwn) stays.  It reports
// whether the context's deadline was used.
func setTimeout(ctx context.Context, req map[string]any, own int64, hasOwn bool) bool {
	d, ok := ctx.Deadline()
	if !ok {
		return false
	}
	ms := (time.Until(d) + time.Millisecond - 1).Milliseconds()
	if ms < 0 {
		ms = 0
	}
	if hasOwn && own <= ms {
		req["timeout_ms"] = own
		return false
	}
	req["timeout_ms"] = ms
	return true
}

// roundTrip writes one request and waits for its reply line; a context
// that ends first aborts a blocking request and keeps waiting for its
// reply, which may carry a value that must not be lost.
func (c *Client) roundTrip(ctx context.Context, cn *conn, cs callSpec) ([]byte, error) {
	id, cl, err := cn.start(ctx, cs.req, nil)
	if err != nil {
		return nil, err
	}
	select {
	case line := <-cl.reply:
		return line, nil
	case <-cn.readDone:
		return waitLost(cn, cl)
	case <-ctx.Done():
	}
	if !cs.blocking {
		// Sent, not answered: the caller gives up, but a request that
		// is not safe to repeat may have taken effect.
		cn.forget(id)
		if cs.retry {
			return nil, ctx.Err()
		}
		return nil, &OutcomeUnknownError{Op: cs.op, Err: ctx.Err()}
	}
	cn.abort(id)
	t := time.NewTimer(abortWait)
	defer t.Stop()
	select {
	case line := <-cl.reply:
		return line, nil
	case <-cn.readDone:
		return waitLost(cn, cl)
	case <-t.C:
		cn.close(errors.New("jqclient: no reply to an abort"))
		return waitLost(cn, cl)
	}
}

// waitLost: the reader has stopped (readDone); a reply it dispatched
// before stopping still counts.
func waitLost(cn *conn, cl *call) ([]byte, error) {
	select {
	case line := <-cl.reply:
		return line, nil
	default:
		return nil, &connLost{err: cn.deathErr()}
	}
}

// current returns the connection in use (for hello's information), or nil.
func (c *Client) current() *conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur
}

// ServerInfo is what the server said in hello on the current connection.
type ServerInfo struct {
	Server, Version, Build string
	Protocol, Minor        int
	Features               []string
	Consumer               string
}

// Server describes the server of the current connection.
func (c *Client) Server() ServerInfo {
	cn := c.current()
	if cn == nil {
		return ServerInfo{}
	}
	h := cn.hi
	return ServerInfo{h.Server, h.Version, h.Build, h.Protocol, h.Minor, append([]string(nil), h.Features...), h.Consumer}
}

// serverMs converts a local time to the server's clock (unix ms), by
// hello's time_ms and the monotonic clock since.
func (c *Client) serverMs(t time.Time) int64 {
	cn := c.current()
	if cn == nil {
		return t.UnixMilli()
	}
	return cn.serverNow() + time.Until(t).Milliseconds()
}

// localTime converts a server time (unix ms) to a local time.
func (c *Client) localTime(ms int64) time.Time {
	cn := c.current()
	if cn == nil {
		return time.UnixMilli(ms)
	}
	return time.Now().Add(time.Duration(ms-cn.serverNow()) * time.Millisecond)
}

// Ping round-trips a ping: everything acknowledged before it is durable.
func (c *Client) Ping(ctx context.Context) error {
	return c.do(ctx, callSpec{op: "ping", req: map[string]any{"op": "ping"}, retry: true})
}
