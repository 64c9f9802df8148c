package jqclient

// Channel handles (PROTOCOL.md 10): a *Chan names a channel on a Client;
// its methods are the channel ops.  Leases (6.3, 6.3.1, 10.5, 10.11) are
// *Lease values carrying their string, so a worker can keep them across
// reconnects and restarts.

import (
	"context"
	"encoding/json"
	"time"
)

// Chan is a handle on the channel Name; making one sends nothing.
type Chan struct {
	c    *Client
	Name string
}

// Chan returns a handle on the channel name.
func (c *Client) Chan(name string) *Chan { return &Chan{c: c, Name: name} }

// MakeOptions are make's settings (10.1); zero values are left out.
type MakeOptions struct {
	Cap           int
	MaxDeliveries int           // 1.1: leased deliveries before dead-lettering
	DeadLetter    string        // 1.1: the dead-letter channel (needs MaxDeliveries)
	DedupWindow   time.Duration // 1.1: the channel's own dedup window
	DedupMax      int           // 1.1: its own key count
}

// Make makes the channel (idempotent: created is false when it existed
// with the same settings; other settings are ErrExists).
func (ch *Chan) Make(ctx context.Context, o MakeOptions) (created bool, err error) {
	req := map[string]any{"op": "make", "chan": ch.Name, "cap": o.Cap}
	if o.MaxDeliveries > 0 {
		req["max_deliveries"] = o.MaxDeliveries
	}
	if o.DeadLetter != "" {
		req["dead_letter"] = o.DeadLetter
	}
	if o.DedupWindow > 0 {
		req["dedup_window_ms"] = o.DedupWindow.Milliseconds()
	}
	if o.DedupMax > 0 {
		req["dedup_max"] = o.DedupMax
	}
	var r struct {
		Created bool `json:"created"`
	}
	err = ch.c.do(ctx, callSpec{op: "make", req: req, retry: true, out: &r})
	return r.Created, err
}

// SendOption adjusts one send.
type SendOption func(*sendOpts)

type sendOpts struct{ key string }

// Key makes the send idempotent under key (6.6): it is repeated after a
// lost connection, and a repeat the channel remembers is a duplicate.
func Key(key string) SendOption { return func(o *sendOpts) { o.key = key } }

// Send sends one value, waiting while the channel has no room (or, when
// unbuffered, no receiver).  Unkeyed (and without WithAutoKeys) it is
// not repeated after a lost connection: ErrOutcomeUnknown.
func (ch *Chan) Send(ctx context.Context, v json.RawMessage, opts ...SendOption) error {
	_, err := ch.send(ctx, map[string]any{"value": v}, opts)
	return err
}

// SendDup is Send that also says whether the send was a duplicate of an
// earlier one with the same key (nothing was sent again).
func (ch *Chan) SendDup(ctx context.Context, v json.RawMessage, opts ...SendOption) (duplicate bool, err error) {
	return ch.send(ctx, map[string]any{"value": v}, opts)
}

// SendBatch sends values as one batch: all enter the buffer together.
func (ch *Chan) SendBatch(ctx context.Context, vs []json.RawMessage, opts ...SendOption) error {
	_, err := ch.send(ctx, map[string]any{"values": vs}, opts)
	return err
}

// TrySend sends only if it can at once (timeout_ms 0, Go's default):
// ErrTimeout when it cannot.
func (ch *Chan) TrySend(ctx context.Context, v json.RawMessage, opts ...SendOption) error {
	_, err := ch.send(ctx, map[string]any{"value": v, "timeout_ms": int64(0)}, opts)
	return err
}

func (ch *Chan) send(ctx context.Context, fields map[string]any, opts []SendOption) (bool, error) {
	var o sendOpts
	for _, f := range opts {
		f(&o)
	}
	if o.key == "" && ch.c.opts.autoKeys {
		o.key = NewKey()
	}
	fields["op"], fields["chan"] = "send", ch.Name
	if o.key != "" {
		fields["key"] = o.key
	}
	var r struct {
		Duplicate bool `json:"duplicate"`
	}
	wait := backoffMin
	for {
		req := make(map[string]any, len(fields)+2)
		for k, v := range fields {
			req[k] = v
		}
		err := ch.c.do(ctx, callSpec{op: "send", req: req, retry: o.key != "", blocking: true, out: &r})
		if o.key == "" || !isCode(err, "exists") {
			return r.Duplicate, err
		}
		// The server has not yet seen the old connection's blocked send
		// with this key end (6.6): wait and send again.
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false, ctx.Err()
		}
		if wait *= 2; wait > backoffMax {
			wait = backoffMax
		}
	}
}

// Recv receives one value, waiting for one.  ok is false when the
// channel is closed and drained.  A plain recv is at most once (6.2): the
// connection lost meanwhile is ErrOutcomeUnknown (the value may be gone).
// A context ended while waiting aborts the recv; a value that arrived
// anyway is returned with a nil error, never dropped.
func (ch *Chan) Recv(ctx context.Context) (v json.RawMessage, ok bool, err error) {
	return ch.recv1(ctx, map[string]any{})
}

// TryRecv receives only if a value is there now (Go's default):
// ErrTimeout when the channel is empty.
func (ch *Chan) TryRecv(ctx context.Context) (json.RawMessage, bool, error) {
	return ch.recv1(ctx, map[string]any{"timeout_ms": int64(0)})
}

func (ch *Chan) recv1(ctx context.Context, req map[string]any) (json.RawMessage, bool, error) {
	req["op"], req["chan"] = "recv", ch.Name
	var r struct {
		Value  json.RawMessage `json:"value"`
		Closed bool            `json:"closed"`
	}
	err := ch.c.do(ctx, callSpec{op: "recv", req: req, blocking: true, out: &r})
	if err != nil || r.Closed {
		return nil, false, err
	}
	return r.Value, true, nil
}

// RecvN receives up to max values (at least one), waiting for the first.
func (ch *Chan) RecvN(ctx context.Context, max int) ([]json.RawMessage, bool, error) {
	var r struct {
		Values []json.RawMessage `json:"values"`
		Closed bool              `json:"closed"`
	}
	req := map[string]any{"op": "recv", "chan": ch.Name, "max": max}
	err := ch.c.do(ctx, callSpec{op: "recv", req: req, blocking: true, out: &r})
	if err != nil || r.Closed {
		return nil, false, err
	}
	return r.Values, true, nil
}

// Lease is a value received with a lease (6.3): it stays in the channel
// until Ack, comes back on Nack or expiry.  ID is the lease string: keep
// it with the work; LeaseOf rebuilds a Lease from it after a restart.
type Lease struct {
	ch          *Chan
	ID          string
	Value       json.RawMessage
	Redelivered int // how many times the value came back before
}

// Chan is the channel the lease was taken from.
func (l *Lease) Chan() *Chan { return l.ch }

// LeaseOf returns the lease id of this channel (for Ack, Nack, Touch).
func (ch *Chan) LeaseOf(id string) *Lease { return &Lease{ch: ch, ID: id} }

// Lease receives one value on a lease of ttl, waiting for one; ok is
// false when the channel is closed and drained.  The request is repeated
// after a lost connection (a lease taken on the lost one comes back at
// its expiry or, unnamed, at once).  A context ended while waiting aborts
// the recv; a lease that arrived anyway is returned with a nil error.
func (ch *Chan) Lease(ctx context.Context, ttl time.Duration) (*Lease, bool, error) {
	ls, ok, err := ch.lease(ctx, 0, ttl)
	if err != nil || !ok {
		return nil, ok, err
	}
	return ls[0], true, nil
}

// LeaseN is Lease of up to max values.
func (ch *Chan) LeaseN(ctx context.Context, max int, ttl time.Duration) ([]*Lease, bool, error) {
	return ch.lease(ctx, max, ttl)
}

func (ch *Chan) lease(ctx context.Context, max int, ttl time.Duration) ([]*Lease, bool, error) {
	req := map[string]any{"op": "recv", "chan": ch.Name, "lease_ms": durMs(ttl)}
	var one struct {
		Value       json.RawMessage `json:"value"`
		Lease       string          `json:"lease"`
		Redelivered int             `json:"redelivered"`
		Closed      bool            `json:"closed"`
	}
	var many struct {
		Values      []json.RawMessage `json:"values"`
		Leases      []string          `json:"leases"`
		Redelivered []int             `json:"redelivered"`
		Closed      bool              `json:"closed"`
	}
	out := any(&one)
	if max > 0 {
		req["max"] = max
		out = &many
	}
	err := ch.c.do(ctx, callSpec{op: "recv", req: req, retry: true, blocking: true, out: out})
	if err != nil {
		return nil, false, err
	}
	if max == 0 {
		if one.Closed {
			return nil, false, nil
		}
		return []*Lease{{ch: ch, ID: one.Lease, Value: one.Value, Redelivered: one.Redelivered}}, true, nil
	}
	if many.Closed {
		return nil, false, nil
	}
	ls := make([]*Lease, len(many.Values))
	for i, v := range many.Values {
		ls[i] = &Lease{ch: ch, ID: many.Leases[i], Value: v}
		if i < len(many.Redelivered) {
			ls[i].Redelivered = many.Redelivered[i]
		}
	}
	return ls, true, nil
}

// Ack deletes the value for good.  ErrNotFound: the lease had expired (or
// was acked or returned) and the value will be delivered again.
func (l *Lease) Ack(ctx context.Context) error {
	req := map[string]any{"op": "ack", "chan": l.ch.Name, "lease": l.ID}
	return l.ch.c.do(ctx, callSpec{op: "ack", req: req, retry: true})
}

// NackOptions: Delay keeps the value out of reach that long (1.1
// nack_delay); Reason says why, for the dead-letter envelope (at most
// 1024 bytes; longer is cut at a character boundary).
type NackOptions struct {
	Delay  time.Duration
	Reason string
}

// Nack gives the value back (to the front of the channel, or after
// Delay), or moves it to the dead-letter channel at its limit.
func (l *Lease) Nack(ctx context.Context, o NackOptions) error {
	req := map[string]any{"op": "nack", "chan": l.ch.Name, "lease": l.ID}
	if o.Delay > 0 {
		req["delay_ms"] = durMs(o.Delay)
	}
	if o.Reason != "" {
		req["reason"] = cutUTF8(o.Reason, 1024)
	}
	return l.ch.c.do(ctx, callSpec{op: "nack", req: req, retry: true})
}

// Touch makes the lease end ttl from now; it returns the new deadline on
// the local clock.  ErrNotFound: the lease is gone (stop the work).
func (l *Lease) Touch(ctx context.Context, ttl time.Duration) (time.Time, error) {
	req := map[string]any{"op": "touch", "chan": l.ch.Name, "lease": l.ID, "lease_ms": durMs(ttl)}
	var r struct {
		DeadlineMs int64 `json:"deadline_ms"`
	}
	err := l.ch.c.do(ctx, callSpec{op: "touch", req: req, retry: true, out: &r})
	if err != nil {
		return time.Time{}, err
	}
	return l.ch.c.localTime(r.DeadlineMs), nil
}

// Close closes the channel: no more sends; receivers drain it.
// ErrClosed when it was closed already (also when the repeat of a close
// whose reply a lost connection took finds it closed by the first).
func (ch *Chan) Close(ctx context.Context) error {
	req := map[string]any{"op": "close", "chan": ch.Name}
	err := ch.c.do(ctx, callSpec{op: "close", req: req, retry: true})
	return err
}

// Drop deletes the channel with its values.
func (ch *Chan) Drop(ctx context.Context) error {
	req := map[string]any{"op": "drop", "chan": ch.Name}
	return ch.c.do(ctx, callSpec{op: "drop", req: req})
}

// Stat is a channel's state (10.8); the 1.1 members are zero when absent.
type Stat struct {
	Chan             string `json:"chan"`
	Cap              int    `json:"cap"`
	Len              int    `json:"len"`
	Closed           bool   `json:"closed"`
	Leased           int    `json:"leased"`
	SendersWaiting   int    `json:"senders_waiting"`
	ReceiversWaiting int    `json:"receivers_waiting"`
	Sent             int64  `json:"sent"`
	Received         int64  `json:"received"`
	DedupWindowMs    int64  `json:"dedup_window_ms"`
	DedupMax         int    `json:"dedup_max"`
	DedupKeys        int    `json:"dedup_keys"`
	MaxDeliveries    int    `json:"max_deliveries"`
	DeadLetter       string `json:"dead_letter"`
	DeadLettered     int64  `json:"dead_lettered"`
}

// Stat returns the channel's state.
func (ch *Chan) Stat(ctx context.Context) (Stat, error) {
	var s Stat
	err := ch.c.do(ctx, callSpec{op: "stat", req: map[string]any{"op": "stat", "chan": ch.Name}, retry: true, out: &s})
	return s, err
}

// Peek returns up to n values at the head (1.3) without taking them, and
// how many the channel holds.
func (ch *Chan) Peek(ctx context.Context, n int) ([]json.RawMessage, int, error) {
	var r struct {
		Values []json.RawMessage `json:"values"`
		Len    int               `json:"len"`
	}
	req := map[string]any{"op": "peek", "chan": ch.Name, "n": n}
	err := ch.c.do(ctx, callSpec{op: "peek", req: req, retry: true, out: &r})
	return r.Values, r.Len, err
}

// Chans lists the channels whose name starts with prefix.
func (c *Client) Chans(ctx context.Context, prefix string) ([]Stat, error) {
	var r struct {
		Chans []Stat `json:"chans"`
	}
	err := c.do(ctx, callSpec{op: "chans", req: map[string]any{"op": "chans", "prefix": prefix}, retry: true, out: &r})
	return r.Chans, err
}

// durMs: a duration in whole milliseconds, rounded up (at least 1).
func durMs(d time.Duration) int64 {
	ms := (d + time.Millisecond - 1).Milliseconds()
	if ms < 1 {
		ms = 1
	}
	return ms
}

// cutUTF8 cuts s to at most n bytes at a character boundary.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
