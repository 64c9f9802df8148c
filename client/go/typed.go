package jqclient

// Typed channel handles: Of[T](ch) encodes what it sends and decodes what
// it receives as T with encoding/json, so code reads like Go channels of
// T: v, ok, err := tc.Recv(ctx).

import "context"

// TypedChan is a Chan whose values are T.
type TypedChan[T any] struct{ *Chan }

// Of returns a typed view of ch.
func Of[T any](ch *Chan) TypedChan[T] { return TypedChan[T]{ch} }

// Send encodes v and sends it.
func (t TypedChan[T]) Send(ctx context.Context, v T, opts ...SendOption) error {
	raw, err := Value(v)
	if err != nil {
		return err
	}
	return t.Chan.Send(ctx, raw, opts...)
}

// Recv receives and decodes one value; ok is false when the channel is
// closed and drained.  A value that does not decode as T is returned as
// an error with the zero T (the value was taken).
func (t TypedChan[T]) Recv(ctx context.Context) (v T, ok bool, err error) {
	raw, ok, err := t.Chan.Recv(ctx)
	if err != nil || !ok {
		return v, ok, err
	}
	err = Decode(raw, &v)
	return v, true, err
}
