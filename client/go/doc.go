// Package jqclient is the Go client of jqd, the job-queue daemon: Go's
// channels, select and contexts over the network.
//
//	c, err := jqclient.Dial(ctx, "unix:/run/jqd/jqd.sock")
//	ch := c.Chan("tasks")
//	ch.Make(ctx, jqclient.MakeOptions{Cap: 100})
//	ch.Send(ctx, jqclient.MustValue(map[string]int{"n": 1}))
//	v, ok, err := ch.Recv(ctx) // ok is false once closed and drained
//
// One Client is one multiplexed connection (PROTOCOL.md 4.7) shared by
// any number of goroutines: a blocked Recv holds nothing else.  Every
// call takes a context.  A context's deadline becomes the request's
// timeout_ms (a timeout error then matches both ErrTimeout and
// context.DeadlineExceeded); cancelling it aborts a blocked request on
// the server and waits for its reply, so a value that arrived anyway is
// returned (with a nil error), never lost.
//
// A lost connection is redialled with capped, jittered backoff for up to
// 30 s (WithReconnectWait).  Requests that are safe to repeat (ping,
// stat, make, ack, nack, touch, leased receives, keyed sends and submits,
// job queries, wait, watch) are sent again transparently; an unkeyed
// send, a plain receive or a select in flight fails with
// ErrOutcomeUnknown (*OutcomeUnknownError), distinct from the server's
// errors (*Error, matched with errors.Is to ErrNotFound, ErrClosed, ...).
// A request answered shutting_down was not executed and waits for the
// server to come back, then goes again.
//
// Addresses: "unix:PATH", a path containing '/', "HOST[:PORT]" (7411),
// "[V6]:PORT", "tls:HOST[:PORT]", or a comma-separated list of them tried
// in order; "" means $JQ_ADDR, else the user's own jqd socket, else
// /run/jqd/jqd.sock.  Tokens as jq-client finds them: WithToken,
// WithTokenFile, $JQ_TOKEN, $JQ_TOKEN_FILE, or over TCP the token file
// of the user's jqd.  See README.md for the whole API.
package jqclient
