package jqclient

// conn is one multiplexed connection (PROTOCOL.md 4.7, 13 item 19): one
// reader goroutine dispatches each reply line by id to the call waiting
// for it; writes are serialised by a mutex.  A conn never reconnects:
// when it dies every pending call is told (dead closes) and the Client
// dials a new one.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// maxLine bounds one reply line (a wait's results may be long; the C
// library allows 64 MiB too, PROTOCOL.md 13 item 1).
const maxLine = 64 << 20

// maxWatchQueue bounds the frames of one watch that its consumer has not
// taken yet; output and progress frames past it are dropped and reported
// as a lagged event, as the server does for a slow reader (11.15).
const maxWatchQueue = 8 << 20

// writeWait bounds one write of a request line.
const writeWait = 30 * time.Second

type conn struct {
	nc net.Conn
	// wsem (buffer 1) serialises writes; a caller waits for it with its
	// context.
	wsem chan struct{}
	mu   sync.Mutex // guards next, pend, err, notice, draining
	next uint64
	pend map[uint64]*call
	err  error         // why the connection ended; set by end only
	dead chan struct{} // closed by close: no new calls
	// readDone is closed when the reader has stopped, after its last
	// dispatch: a caller that sees it and no reply will get none.  (dead
	// alone does not say so: another goroutine's close may race the
	// reader's dispatch of a reply it has already read.)
	readDone chan struct{}
	// notice: an unsolicited error frame ("id": null: limit,
	// unauthorized), the reason of the close that follows it.
	notice   error
	maxFrame int // longest request line sent (WithMaxFrame)
	hi       helloReply
	// helloAt: the local monotonic time of hello's time_ms.
	helloAt time.Time
	// draining: the server answered shutting_down; no new calls here.
	draining bool
}

// call is one request in flight.
type call struct {
	reply chan []byte // the reply line, once (buffer 1)
	watch *frameQueue // non-nil for a watch: its frames
}

type helloReply struct {
	Server       string   `json:"server"`
	Version      string   `json:"version"`
	Build        string   `json:"build"`
	Protocol     int      `json:"protocol"`
	Minor        int      `json:"minor"`
	Features     []string `json:"features"`
	Multiplex    bool     `json:"multiplex"`
	TimeMs       int64    `json:"time_ms"`
	AuthRequired bool     `json:"auth_required"`
	Consumer     string   `json:"consumer"`
}

// envelope: the members every reply has.
type envelope struct {
	ID    json.RawMessage `json:"id"`
	OK    bool            `json:"ok"`
	Event string          `json:"event"`
	Error *Error          `json:"error"`
}

// handshake authenticates (when there is a token) and says hello with
// multiplex on a fresh connection, serially, before the reader starts.
func handshake(nc net.Conn, token, consumer string, maxFrame int, deadline time.Time) (*conn, error) {
	nc.SetDeadline(deadline)
	defer nc.SetDeadline(time.Time{})
	br := bufio.NewReaderSize(nc, 64<<10)
	serial := func(req map[string]any, out any) error {
		req["id"] = 0
		b, _ := json.Marshal(req)
		if _, err := nc.Write(append(b, '\n')); err != nil {
			return err
		}
		line, err := readLine(br)
		if err != nil {
			return err
		}
		return decodeReply(req["op"].(string), line, out)
	}
	if token != "" {
		if err := serial(map[string]any{"op": "auth", "token": token}, nil); err != nil {
			return nil, err
		}
	}
	req := map[string]any{"op": "hello", "multiplex": true}
	if consumer != "" {
		req["consumer"] = consumer
	}
	c := &conn{nc: nc, pend: map[uint64]*call{}, dead: make(chan struct{}), wsem: make(chan struct{}, 1), readDone: make(chan struct{}), next: 1, maxFrame: maxFrame}
	if err := serial(req, &c.hi); err != nil {
		return nil, err
	}
	c.helloAt = time.Now()
	if !c.hi.Multiplex {
		return nil, fmt.Errorf("jqclient: the server (%s %s, protocol 1.%d) does not multiplex connections", c.hi.Server, c.hi.Version, c.hi.Minor)
	}
	if c.hi.AuthRequired && token == "" {
		return nil, &Error{Op: "hello", Code: "unauthorized", Message: "the server requires a token (WithToken, WithTokenFile, JQ_TOKEN or JQ_TOKEN_FILE)"}
	}
	go c.readLoop(br)
	return c, nil
}

func (c *conn) has(feature string) bool {
	for _, f := range c.hi.Features {
		if f == feature {
			return true
		}
	}
	return false
}

// serverNow is the server's clock now, from hello's time_ms and the
// local monotonic clock since (PROTOCOL.md 13 item 24).
func (c *conn) serverNow() int64 {
	return c.hi.TimeMs + time.Since(c.helloAt).Milliseconds()
}

// readLine reads one line without its "\n" (and "\r"), up to maxLine.
func readLine(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		frag, err := br.ReadSlice('\n')
		if err == nil {
			if buf == nil {
				buf = frag
			} else {
				buf = append(buf, frag...)
			}
			return bytes.TrimRight(buf, "\r\n"), nil
		}
		if err != bufio.ErrBufferFull {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		buf = append(buf, frag...)
		if len(buf) > maxLine {
			return nil, fmt.Errorf("jqclient: reply line longer than %d bytes", maxLine)
		}
	}
}

// testHookDispatch, when set (by tests), runs before each dispatch.
var testHookDispatch atomic.Pointer[func(*conn)]

// readLoop dispatches lines until the connection fails.
func (c *conn) readLoop(br *bufio.Reader) {
	defer close(c.readDone)
	var err error
	for {
		var line []byte
		if line, err = readLine(br); err != nil {
			break
		}
		var env envelope
		var cl *call
		id, fast := quickReply(line)
		if fast {
			cl = c.lookup(id)
		}
		if !fast || (cl != nil && cl.watch != nil) {
			// An error, or a watch's frame or reply: read it all.
			if json.Unmarshal(line, &env) != nil {
				err = fmt.Errorf("jqclient: reply is not JSON: %.80q", line)
				break
			}
		}
		if !fast {
			var perr error
			if id, perr = strconv.ParseUint(string(env.ID), 10, 64); perr != nil {
				// "id": null: a notice (limit, unauthorized) before the
				// server closes the connection; keep it as the reason.
				c.mu.Lock()
				if c.notice == nil && env.Error != nil {
					c.notice = env.Error
				}
				c.mu.Unlock()
				continue
			}
			cl = c.lookup(id)
		}
		if h := testHookDispatch.Load(); h != nil {
			(*h)(c)
		}
		c.dispatch(id, cl, &env, line)
	}
	c.close(err)
}

func (c *conn) lookup(id uint64) *call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pend[id]
}

// quickReply reads the id of a successful reply the way jqd writes it,
// '{"id":N,"ok":true' first (PROTOCOL.md 3.2), without a JSON decoder;
// fast is false for anything else (an error, a null id), which the
// caller decodes in full.
func quickReply(line []byte) (id uint64, fast bool) {
	const pre = `{"id":`
	if !bytes.HasPrefix(line, []byte(pre)) {
		return 0, false
	}
	i := len(pre)
	for ; i < len(line) && line[i] >= '0' && line[i] <= '9'; i++ {
		id = id*10 + uint64(line[i]-'0')
	}
	// 19 digits cannot overflow; our ids are far below.
	rest := line[i:]
	const ok = `,"ok":true`
	if i == len(pre) || i > len(pre)+19 || !bytes.HasPrefix(rest, []byte(ok)) ||
		len(rest) == len(ok) || (rest[len(ok)] != ',' && rest[len(ok)] != '}') {
		return 0, false
	}
	return id, true
}

// dispatch hands a reply line to its call (a watch's frames to its
// queue); a reply nobody waits for (an abort's, a call given up on) is
// dropped.
func (c *conn) dispatch(id uint64, cl *call, env *envelope, line []byte) {
	c.mu.Lock()
	if cl != nil && (env.Event == "" || cl.watch == nil) {
		delete(c.pend, id)
	}
	if env.Error != nil && env.Error.Code == "shutting_down" {
		// Before the caller sees it: no new calls on this one.
		c.draining = true
	}
	c.mu.Unlock()
	switch {
	case cl == nil:
	case env.Event != "" && cl.watch != nil:
		cl.watch.push(env.Event, line)
	default:
		cl.reply <- append([]byte(nil), line...)
	}
}

// close ends the connection (once): no new calls, the reader stops, and
// every pending call is woken.
func (c *conn) close(err error) {
	c.end(err)
	c.nc.Close()
}

// end records why the connection ended (the first reason counts) and
// closes dead: no new calls.  It reports whether it was the first.
func (c *conn) end(err error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	first := c.err == nil
	if first {
		switch {
		case c.notice != nil:
			err = c.notice
		case err == nil:
			err = net.ErrClosed
		}
		c.err = err
		close(c.dead)
	}
	return first
}

// readGrace bounds how long the reader goes on after a write failed.
const readGrace = 5 * time.Second

// writeFailed: a write failed, so the stream may hold part of a request
// and takes no more.  The socket is not closed under the reader: replies
// the server wrote before it went (a received value among them) may still
// be in the socket's buffer, and the reader delivers them, stopping at
// end of file or after readGrace (a server that stopped reading).
func (c *conn) writeFailed(err error) {
	if c.end(err) {
		c.nc.SetReadDeadline(time.Now().Add(readGrace))
	}
}

// usable: alive and not draining.
func (c *conn) usable() bool {
	select {
	case <-c.dead:
		return false
	default:
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.draining
}

// stopped: the reader has stopped (the connection is gone for good).
func (c *conn) stopped() bool {
	select {
	case <-c.readDone:
		return true
	default:
		return false
	}
}

func (c *conn) deathErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// errNotSent: the request was never written; it is safe to send again.
var errNotSent = errors.New("jqclient: connection lost before the request was sent")

// start registers a call and writes its request with a fresh id.  A
// context that ends while the call waits for its turn to write returns
// ctx.Err(), the request unsent.
func (c *conn) start(ctx context.Context, req map[string]any, watch *frameQueue) (uint64, *call, error) {
	cl := &call{reply: make(chan []byte, 1), watch: watch}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return 0, nil, errNotSent
	}
	id := c.next
	c.next++
	c.pend[id] = cl
	c.mu.Unlock()
	req["id"] = id
	b, err := appendRequest(make([]byte, 0, 256), id, req)
	if err == nil {
		err = c.check(req["op"], b)
	}
	if err != nil {
		c.forget(id)
		return 0, nil, err
	}
	b = append(b, '\n')
	select {
	case c.wsem <- struct{}{}:
	case <-ctx.Done():
		c.forget(id)
		return 0, nil, ctx.Err()
	}
	if c.deathErr() != nil {
		// An earlier write failed, perhaps halfway through its line:
		// nothing more goes on this stream.
		<-c.wsem
		c.forget(id)
		return 0, nil, errNotSent
	}
	// A server that takes no bytes for writeWait is taken for dead: the
	// writer holds every other caller's writes.
	c.nc.SetWriteDeadline(time.Now().Add(writeWait))
	n, err := c.nc.Write(b)
	<-c.wsem
	if err != nil {
		c.writeFailed(err)
		if n == 0 {
			return 0, nil, errNotSent
		}
		return id, cl, nil // partly written: the reader reports the loss
	}
	return id, cl, nil
}

// appendRequest encodes req as one JSON object, id first.  The members
// every request has (strings, integers, booleans) are written here: a
// json.Marshal of the whole map (reflection, keys sorted) was most of a
// ping's own CPU.  Anything else goes through json.Marshal.
func appendRequest(b []byte, id uint64, req map[string]any) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = strconv.AppendUint(b, id, 10)
	for k, v := range req {
		if k == "id" {
			continue
		}
		b = appendJSONString(append(b, ','), k)
		b = append(b, ':')
		switch x := v.(type) {
		case string:
			b = appendJSONString(b, x)
		case int:
			b = strconv.AppendInt(b, int64(x), 10)
		case int64:
			b = strconv.AppendInt(b, x, 10)
		case uint64:
			b = strconv.AppendUint(b, x, 10)
		case bool:
			b = strconv.AppendBool(b, x)
		default:
			j, err := json.Marshal(v)
			if err != nil {
				return nil, err
			}
			b = append(b, j...)
		}
	}
	return append(b, '}'), nil
}

// appendJSONString appends s as json.Marshal would: plain printable ASCII
// as it is, anything else through json.Marshal.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			j, _ := json.Marshal(s)
			return append(b, j...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// check refuses, before sending, a request line the server would answer
// with "id": null, which no call could be matched with (PROTOCOL.md 3.3):
// longer than max_frame, invalid UTF-8 (a json.RawMessage may hold it),
// or U+0000 in an object key.
func (c *conn) check(op any, line []byte) error {
	name, _ := op.(string)
	if len(line) > c.maxFrame {
		return &Error{Op: name, Code: "frame_too_large", Message: fmt.Sprintf("request of %d bytes is longer than max_frame (%d; WithMaxFrame)", len(line), c.maxFrame)}
	}
	if !utf8.Valid(line) {
		return &Error{Op: name, Code: "bad_request", Message: "a value is not valid UTF-8"}
	}
	if bytes.Contains(line, []byte(`\u0000`)) && nulInKey(line) {
		return &Error{Op: name, Code: "bad_request", Message: "an object key holds U+0000, which jqd cannot read"}
	}
	return nil
}

// nulInKey reports whether a JSON text has U+0000 in an object key.
func nulInKey(b []byte) bool {
	type level struct{ obj, key bool } // key: an object's next token is a key
	var st []level
	valueDone := func() {
		if n := len(st); n > 0 && st[n-1].obj {
			st[n-1].key = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{':
				st = append(st, level{obj: true, key: true})
			case '[':
				st = append(st, level{})
			default:
				st = st[:len(st)-1]
				valueDone()
			}
			continue
		}
		if n := len(st); n > 0 && st[n-1].key {
			if k, _ := tok.(string); strings.ContainsRune(k, 0) {
				return true
			}
			st[n-1].key = false
			continue
		}
		valueDone()
	}
}

// forget drops a pending call whose reply nobody will read.
func (c *conn) forget(id uint64) {
	c.mu.Lock()
	delete(c.pend, id)
	c.mu.Unlock()
}

// abort asks the server to end call id (9.5); its reply is not awaited
// (it comes after the call's own, which the caller waits for).
func (c *conn) abort(id uint64) {
	if !c.has("abort") {
		return
	}
	aid, _, err := c.start(context.Background(), map[string]any{"op": "abort", "ref": id}, nil)
	if err == nil {
		c.forget(aid)
	}
}

// decodeReply checks ok and decodes the result members into out.
func decodeReply(op string, line []byte, out any) error {
	if _, fast := quickReply(line); fast {
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(line, out); err != nil {
			return fmt.Errorf("jqclient: %s: %w", op, err)
		}
		return nil
	}
	var env envelope
	if err := json.Unmarshal(line, &env); err != nil {
		return fmt.Errorf("jqclient: %s: reply is not JSON: %w", op, err)
	}
	if !env.OK {
		e := env.Error
		if e == nil {
			e = &Error{Code: "internal", Message: "error reply without an error object"}
		}
		e.Op = op
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(line, out); err != nil {
		return fmt.Errorf("jqclient: %s: %w", op, err)
	}
	return nil
}

// frameQueue holds a watch's frames until its consumer takes them,
// bounded by maxWatchQueue bytes (droppable frames past it are counted).
type frameQueue struct {
	mu      sync.Mutex
	frames  [][]byte
	bytes   int
	dropped int // frames dropped since the last lagged report
	dropB   int
	notify  chan struct{} // buffer 1: "something was pushed"
}

func newFrameQueue() *frameQueue { return &frameQueue{notify: make(chan struct{}, 1)} }

func (q *frameQueue) push(event string, line []byte) {
	q.mu.Lock()
	if q.bytes+len(line) > maxWatchQueue && (event == "output" || event == "progress") {
		q.dropped++
		q.dropB += len(line)
		q.mu.Unlock()
		return
	}
	q.frames = append(q.frames, append([]byte(nil), line...))
	q.bytes += len(line)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// take returns the queued frames and the drops since the last take.
func (q *frameQueue) take() (frames [][]byte, dropped, dropB int) {
	q.mu.Lock()
	frames, q.frames, q.bytes = q.frames, nil, 0
	dropped, dropB, q.dropped, q.dropB = q.dropped, q.dropB, 0, 0
	q.mu.Unlock()
	return
}
