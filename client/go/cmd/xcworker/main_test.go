package main

// The role against a real jqd, killed (-9) or stopped (SIGTERM) and
// restarted while it works:
// every value reaches DONE exactly once.  The test binary runs itself as
// the worker (XCWORKER_ARGS), so no separate build is needed.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"jqd.invalid/jqclient"
	"jqd.invalid/jqclient/internal/jqdtest"
)

func TestMain(m *testing.M) {
	if args := os.Getenv("XCWORKER_ARGS"); args != "" {
		os.Args = append([]string{"xcworker"}, strings.Fields(args)...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestRoleAcrossRestart(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) { roleAcross(t, sig) })
	}
}

func roleAcross(t *testing.T, sig syscall.Signal) {
	s := jqdtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := jqclient.Dial(ctx, s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 1000
	work, done := c.Chan("xc-work"), c.Chan("xc-done")
	for _, ch := range []*jqclient.Chan{work, done} {
		if _, err := ch.Make(ctx, jqclient.MakeOptions{Cap: n}); err != nil {
			t.Fatal(err)
		}
	}
	produce := func(from, to int) {
		for i := from; i < to; i++ {
			err := work.Send(ctx, jqclient.MustValue(map[string]int{"n": i}), jqclient.Key(fmt.Sprint("p-", i)))
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	produce(0, n/2)
	var out, errb bytes.Buffer
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "XCWORKER_ARGS=xc-work xc-done go-1", "JQ_ADDR="+s.Addr())
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitDone := func(k int) {
		end := time.Now().Add(60 * time.Second)
		for {
			st, err := done.Stat(ctx)
			if err == nil && st.Len >= k {
				return
			}
			if time.Now().After(end) {
				t.Fatalf("DONE did not reach %d: %+v %v\n%s", k, st, err, errb.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// Half the values are there when jqd is killed under the worker, the
	// other half are sent after the restart.
	waitDone(n / 4)
	s.Signal(sig)
	s.Restart()
	produce(n/2, n)
	if err := work.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("xcworker: %v\n%s", err, errb.String())
	}
	var k int
	if _, err := fmt.Sscanf(out.String(), "processed %d\n", &k); err != nil || k < n {
		t.Fatalf("output %q", out.String())
	}
	vals, _, err := done.RecvN(ctx, 2*n)
	seen := map[int]bool{}
	for _, v := range vals {
		var d struct {
			N  int
			By string
		}
		jqclient.Decode(v, &d)
		if seen[d.N] || d.By != "go-1" {
			t.Fatalf("DONE: %s twice or not by go-1", v)
		}
		seen[d.N] = true
	}
	if err != nil || len(seen) != n {
		t.Fatalf("DONE holds %d of %d: %v", len(seen), n, err)
	}
}
