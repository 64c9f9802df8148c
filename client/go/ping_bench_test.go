package jqclient

import (
	"context"
	"os"
	"testing"
)

// BenchmarkPingOneCaller: one goroutine's ping round trips against the
// jqd at $JQ_ADDR (skipped without it), for profiling the client's own
// cost per call:
//
//	JQ_ADDR=unix:/tmp/x/s.sock go test -run X -bench PingOne -cpuprofile cpu.out
func BenchmarkPingOneCaller(b *testing.B) {
	addr := os.Getenv("JQ_ADDR")
	if addr == "" {
		b.Skip("JQ_ADDR unset")
	}
	c, err := Dial(context.Background(), addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.Ping(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
