package jqclient

// Values travel as raw JSON (json.RawMessage): what a sender wrote is what
// a receiver gets (feature value_text, PROTOCOL.md 2), "19.99" stays
// "19.99".  These helpers encode and decode other Go values.

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
)

// Value encodes v as a channel value; a json.RawMessage (or []byte of
// JSON) is taken as it is.
func Value(v any) (json.RawMessage, error) {
	switch x := v.(type) {
	case json.RawMessage:
		return x, nil
	case []byte:
		if json.Valid(x) {
			return json.RawMessage(x), nil
		}
	}
	b, err := json.Marshal(v)
	return json.RawMessage(b), err
}

// MustValue is Value that panics on an error (for literals in code).
func MustValue(v any) json.RawMessage {
	b, err := Value(v)
	if err != nil {
		panic(err)
	}
	return b
}

// Decode decodes a received value into out (json.Unmarshal's rules:
// numbers into float64 unless out says otherwise; use json.Number or a
// typed field to keep them exact).
func Decode(v json.RawMessage, out any) error { return json.Unmarshal(v, out) }

// NewKey returns 128 random bits in hex, for keyed sends and submits.
func NewKey() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b[:])
}
