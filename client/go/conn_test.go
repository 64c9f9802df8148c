package jqclient

import "testing"

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
