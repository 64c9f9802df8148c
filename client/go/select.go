package jqclient

// Select (PROTOCOL.md 10.10): Go's select over channels of the server.
// Cases are built with ch.RecvCase(), ch.SendCase(v) and Default(); with
// a Default case the select never waits and a timeout picks it.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// Case is one case of Select.
type Case struct {
	recv, send string
	value      json.RawMessage
	isDefault  bool
}

// RecvCase receives from ch.
func (ch *Chan) RecvCase() Case { return Case{recv: ch.Name} }

// SendCase sends v to ch.
func (ch *Chan) SendCase(v json.RawMessage) Case { return Case{send: ch.Name, value: v} }

// Default is Go's default case: chosen when no other case is ready now.
func Default() Case { return Case{isDefault: true} }

// Selected is the outcome of Select: the index of the chosen case (in
// the caller's list, Default included), the value a recv case got, and
// ok false when it found its channel closed and drained.
type Selected struct {
	Index int
	Value json.RawMessage
	OK    bool
}

// Select waits until one case can proceed and runs it.  Its recv cases
// are plain receives: a select is not repeated after a lost connection
// (ErrOutcomeUnknown).  Errors of one case (closed, not_found, limit)
// carry that case's index in *Error.Index, mapped to the caller's list.
func (c *Client) Select(ctx context.Context, cases ...Case) (Selected, error) {
	wire := make([]map[string]any, 0, len(cases))
	index := make([]int, 0, len(cases)) // wire index -> caller's index
	def := -1
	for i, cs := range cases {
		switch {
		case cs.isDefault:
			def = i
			continue
		case cs.send != "":
			wire = append(wire, map[string]any{"send": cs.send, "value": cs.value})
		default:
			wire = append(wire, map[string]any{"recv": cs.recv})
		}
		index = append(index, i)
	}
	req := map[string]any{"op": "select", "cases": wire}
	if def >= 0 {
		req["timeout_ms"] = int64(0)
	}
	var r struct {
		Index  int             `json:"index"`
		Value  json.RawMessage `json:"value"`
		Closed bool            `json:"closed"`
	}
	err := c.do(ctx, callSpec{op: "select", req: req, blocking: true, out: &r})
	var se *Error
	if errors.As(err, &se) {
		if se.Code == "timeout" && def >= 0 && se.cause == nil {
			return Selected{Index: def, OK: true}, nil
		}
		if se.Index != nil && *se.Index >= 0 && *se.Index < len(index) {
			i := index[*se.Index]
			se.Index = &i
		}
	}
	if err != nil {
		return Selected{Index: -1}, err
	}
	if r.Index < 0 || r.Index >= len(index) {
		return Selected{Index: -1}, fmt.Errorf("jqclient: select: the server chose case %d of %d", r.Index, len(index))
	}
	sel := Selected{Index: index[r.Index], OK: !r.Closed}
	if !r.Closed {
		sel.Value = r.Value
	}
	return sel, nil
}
