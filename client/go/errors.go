package jqclient

// Errors: the server's thirteen codes (PROTOCOL.md 7) as *Error, each
// comparable with errors.Is to one sentinel; the client's own conditions
// (outcome unknown, unavailable, client closed) as distinct types, so that
// a server's answer is never mistaken for a lost connection.

import (
	"errors"
	"fmt"
)

// Sentinels for the server's error codes: errors.Is(err, ErrNotFound)
// holds for an *Error whose Code is "not_found".
var (
	ErrBadRequest    = errors.New("jqclient: bad_request")
	ErrUnknownOp     = errors.New("jqclient: unknown_op")
	ErrFrameTooLarge = errors.New("jqclient: frame_too_large")
	ErrUnauthorized  = errors.New("jqclient: unauthorized")
	ErrNotFound      = errors.New("jqclient: not_found")
	ErrExists        = errors.New("jqclient: exists")
	ErrClosed        = errors.New("jqclient: closed") // the channel is closed
	ErrTimeout       = errors.New("jqclient: timeout")
	ErrTooLarge      = errors.New("jqclient: too_large")
	ErrLimit         = errors.New("jqclient: limit")
	ErrShuttingDown  = errors.New("jqclient: shutting_down")
	ErrCanceled      = errors.New("jqclient: canceled")
	ErrInternal      = errors.New("jqclient: internal")
)

// The client's own conditions.
var (
	// ErrOutcomeUnknown: the connection was lost before the reply of a
	// request that is not safe to repeat (an unkeyed send, a plain recv,
	// a select); it may or may not have taken effect.  Matched by
	// *OutcomeUnknownError.
	ErrOutcomeUnknown = errors.New("jqclient: outcome unknown")
	// ErrUnavailable: no address of the list accepted a connection within
	// the reconnect window (WithReconnectWait).
	ErrUnavailable = errors.New("jqclient: server unavailable")
	// ErrClientClosed: Close was called.
	ErrClientClosed = errors.New("jqclient: client closed")
)

// codeErrs maps each wire code to its sentinel; an unknown code counts as
// internal (PROTOCOL.md 13 item 9).
var codeErrs = map[string]error{
	"bad_request":     ErrBadRequest,
	"unknown_op":      ErrUnknownOp,
	"frame_too_large": ErrFrameTooLarge,
	"unauthorized":    ErrUnauthorized,
	"not_found":       ErrNotFound,
	"exists":          ErrExists,
	"closed":          ErrClosed,
	"timeout":         ErrTimeout,
	"too_large":       ErrTooLarge,
	"limit":           ErrLimit,
	"shutting_down":   ErrShuttingDown,
	"canceled":        ErrCanceled,
	"internal":        ErrInternal,
}

// Error is an error reply of the server.  Code is the wire code; Message
// is for people (never parse it); Index (select) and Pending (wait) are
// the error's details when the server gave them.
type Error struct {
	Op      string `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Index   *int   `json:"index,omitempty"`
	Pending *int   `json:"pending,omitempty"`
	// cause, when the error stands for something the caller asked for:
	// context.DeadlineExceeded for a timeout that came from the context's
	// deadline.
	cause error
}

func (e *Error) Error() string {
	if e.Op != "" {
		return fmt.Sprintf("jqclient: %s: %s: %s", e.Op, e.Code, e.Message)
	}
	return fmt.Sprintf("jqclient: %s: %s", e.Code, e.Message)
}

// Is matches the sentinel of e's code (ErrInternal for an unknown code).
func (e *Error) Is(target error) bool {
	s, ok := codeErrs[e.Code]
	if !ok {
		s = ErrInternal
	}
	return target == s
}

// Unwrap gives the cause: context.DeadlineExceeded when the server's
// timeout was the caller's context deadline, else nil.
func (e *Error) Unwrap() error { return e.cause }

// OutcomeUnknownError: the connection was lost (or the caller gave up)
// while a request that must not be repeated was in flight.
type OutcomeUnknownError struct {
	Op  string
	Err error // what ended the wait: the connection's error
}

func (e *OutcomeUnknownError) Error() string {
	return fmt.Sprintf("jqclient: %s: outcome unknown: %v", e.Op, e.Err)
}

func (e *OutcomeUnknownError) Is(target error) bool { return target == ErrOutcomeUnknown }
func (e *OutcomeUnknownError) Unwrap() error        { return e.Err }

// unavailableError: no connection within the reconnect window.
type unavailableError struct{ last error }

func (e *unavailableError) Error() string {
	return fmt.Sprintf("jqclient: server unavailable: %v", e.last)
}
func (e *unavailableError) Is(target error) bool { return target == ErrUnavailable }
func (e *unavailableError) Unwrap() error        { return e.last }

// isCode reports whether err is a server error with code.
func isCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}
