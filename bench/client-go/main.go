// Command client-go measures ping round trips through one connection
// shared by N goroutines (the benchmark of issue 18):
//
//	JQ_ADDR=unix:/run/jqd.sock go run . --callers 8 --seconds 5 --mode mux
//
// mode mux: jqclient.Client, one multiplexed connection.  mode v1: what a
// Go program had before there was a Go client: one serial (not
// multiplexed) connection, net.Conn and a bufio.Reader, each round trip
// (write the request, read its reply) under a sync.Mutex.  Prints one
// line: client=go mode=M callers=N ops=TOTAL rps=OPS_PER_SECOND.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"jqd.invalid/jqclient"
)

func main() {
	callers := flag.Int("callers", 1, "concurrent callers (goroutines)")
	seconds := flag.Float64("seconds", 5, "how long to run")
	mode := flag.String("mode", "mux", "mux (jqclient) or v1 (serial connection under a mutex)")
	flag.Parse()
	var ping func(context.Context) error
	switch *mode {
	case "mux":
		c, err := jqclient.Dial(context.Background(), "")
		if err != nil {
			fail(err)
		}
		defer c.Close()
		ping = c.Ping
	case "v1":
		s, err := dialSerial(os.Getenv("JQ_ADDR"))
		if err != nil {
			fail(err)
		}
		ping = s.ping
	default:
		fail(fmt.Errorf("--mode %q: want mux or v1", *mode))
	}
	ctx := context.Background()
	var ops int64
	var stop int32
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < *callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for atomic.LoadInt32(&stop) == 0 {
				if err := ping(ctx); err != nil {
					fail(err)
				}
				atomic.AddInt64(&ops, 1)
			}
		}()
	}
	time.Sleep(time.Duration(*seconds * float64(time.Second)))
	atomic.StoreInt32(&stop, 1)
	wg.Wait()
	el := time.Since(t0).Seconds()
	fmt.Printf("client=go mode=%s callers=%d ops=%d rps=%.0f\n", *mode, *callers, ops, float64(ops)/el)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "client-go:", err)
	os.Exit(1)
}

// serial is the v1 baseline: one connection, one request at a time.
type serial struct {
	mu sync.Mutex
	nc net.Conn
	br *bufio.Reader
}

// dialSerial connects to unix:PATH, a path, or HOST:PORT (with auth when
// JQ_TOKEN is set).
func dialSerial(addr string) (*serial, error) {
	network := "tcp"
	switch {
	case strings.HasPrefix(addr, "unix:"):
		network, addr = "unix", addr[len("unix:"):]
	case strings.Contains(addr, "/"):
		network = "unix"
	}
	nc, err := net.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	s := &serial{nc: nc, br: bufio.NewReader(nc)}
	if tok := os.Getenv("JQ_TOKEN"); tok != "" {
		if err := s.call(fmt.Sprintf(`{"id":0,"op":"auth","token":%q}`, tok)); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *serial) call(req string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.nc.Write([]byte(req + "\n")); err != nil {
		return err
	}
	line, err := s.br.ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.Contains(line, `"ok":true`) {
		return fmt.Errorf("%s", strings.TrimSpace(line))
	}
	return nil
}

func (s *serial) ping(context.Context) error { return s.call(`{"id":1,"op":"ping"}`) }
