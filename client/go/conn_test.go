package jqclient

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestQuickReply(t *testing.T) {
	cases := []struct {
		line string
		id   uint64
		fast bool
	}{
		{`{"id":7,"ok":true}`, 7, true},
		{`{"id":18446744073709551615,"ok":true}`, 0, false}, // 20 digits: decoded in full
		{`{"id":7,"ok":false,"error":{"code":"timeout","message":"x"}}`, 0, false},
		{`{"id":null,"ok":false,"error":{"code":"limit","message":"x"}}`, 0, false},
		{`{"id":"a","ok":true}`, 0, false},
		{`{"ok":true,"id":7}`, 0, false},
		{`{"id":7,"ok":trueish}`, 0, false},
		{`{"id":7,"ok":true`, 0, false},
		{`{"id":7,"ok":true,"value":1}`, 7, true},
	}
	for _, c := range cases {
		id, fast := quickReply([]byte(c.line))
		if id != c.id || fast != c.fast {
			t.Errorf("%s: %d %v", c.line, id, fast)
		}
	}
	if err := decodeReply("x", []byte(`{"id":7,"ok":false,"error":{"code":"nope","message":"m","index":2}}`), nil); !isCode(err, "nope") {
		t.Fatalf("decodeReply: %v", err)
	}
}

func TestNulInKey(t *testing.T) {
	for in, want := range map[string]bool{
		`{"a":"\u0000"}`:                false,
		`{"\u0000":1}`:                  true,
		`{"a":{"b\u0000":1}}`:           true,
		`{"a":[{"x":1},"\u0000"]}`:      false,
		`{"a":[1,{"\u0000x":2}],"b":3}`: true,
		`{"a":{"b":1},"c\u0000":2}`:     true,
	} {
		if got := nulInKey([]byte(in)); got != want {
			t.Errorf("%s: %v", in, got)
		}
	}
}

// Requests jqd would answer with "id": null fail here, and the
// connection goes on.
func TestUnmatchableRequestsRefused(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	ctx := tctx(t)
	ch := mustMake(t, c, "big", MakeOptions{Cap: 4})
	huge := MustValue(strings.Repeat("x", 1<<20))
	for _, v := range []json.RawMessage{huge, json.RawMessage("\"\xff\""), json.RawMessage(`{"\u0000":1}`)} {
		err := ch.Send(ctx, v)
		var e *Error
		if !errors.As(err, &e) || (e.Code != "frame_too_large" && e.Code != "bad_request") {
			t.Fatalf("send of %.20q: %v", v, err)
		}
	}
	if err := ch.Send(ctx, json.RawMessage(`{"a":"\u0000"}`)); err != nil {
		t.Fatal(err)
	}
	// A value under max_frame but over max_value: the server's too_large.
	if err := ch.Send(ctx, MustValue(strings.Repeat("x", 300<<10))); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("send over max_value: %v", err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// appendRequest writes what json.Marshal of the map would, member for
// member (in another order).
func TestAppendRequest(t *testing.T) {
	strs := []string{"", "ping", "a b", `q"uote`, `back\slash`, "<&>", "tab\there", "nul\x00", "é ü 日本", "bad\xff", "del\x7f", "\u2028"}
	for _, s := range strs {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Errorf("%q: %s, want %s", s, got, want)
		}
	}
	req := map[string]any{"op": "send", "chan": "c", "value": json.RawMessage(` {"a": [1, 2]} `),
		"timeout_ms": int64(5), "max": 3, "big": uint64(1) << 63, "flag": false, "argv": []string{"a", "\x01"},
		"env": map[string]string{"K": "v"}, "strs": strs}
	b, err := appendRequest(nil, 42, req)
	if err != nil {
		t.Fatal(err)
	}
	req["id"] = uint64(42)
	want, _ := json.Marshal(req)
	var got, exp map[string]any
	if json.Unmarshal(b, &got) != nil || json.Unmarshal(want, &exp) != nil || !reflect.DeepEqual(got, exp) {
		t.Fatalf("appendRequest:\n%s\nwant (any order)\n%s", b, want)
	}
	if _, err := appendRequest(nil, 1, map[string]any{"value": json.RawMessage(`{`)}); err == nil {
		t.Fatal("invalid raw JSON encoded")
	}
}
