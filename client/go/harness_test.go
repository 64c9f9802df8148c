package jqclient

// Test harness: a real jqd (the binary named by $JQD) on a Unix socket in
// a private temp dir, restartable (kill -9 or SIGTERM) on the same socket
// and database.  Tests without $JQD are skipped.  Waits are on events
// (jqd's "info: ready" line, replies), with generous bounds for two noisy
// cores.

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const startWait = 30 * time.Second

type server struct {
	t    *testing.T
	dir  string
	sock string
	args []string
	mu   sync.Mutex
	cmd  *exec.Cmd
	log  strings.Builder
	done chan struct{} // closed when the current jqd exited
}

// startServer starts jqd with extra arguments; it is killed at cleanup.
func startServer(t *testing.T, extra ...string) *server {
	t.Helper()
	jqd := os.Getenv("JQD")
	if jqd == "" {
		t.Skip("JQD is not set (path to the jqd binary)")
	}
	dir := t.TempDir()
	s := &server{t: t, dir: dir, sock: filepath.Join(dir, "jqd.sock")}
	s.args = append([]string{"--unix", s.sock, "--db", filepath.Join(dir, "jqd.db"),
		"--job-dir", dir, "--workers", "2", "--sync", "normal"}, extra...)
	s.start()
	t.Cleanup(func() { s.kill() })
	return s
}

func (s *server) addr() string { return "unix:" + s.sock }

func (s *server) start() {
	s.t.Helper()
	cmd := exec.Command(os.Getenv("JQD"), s.args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		seen := false
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.log.WriteString(line + "\n")
			s.mu.Unlock()
			if !seen && strings.Contains(line, "info: ready") {
				seen = true
				close(ready)
			}
		}
		cmd.Wait()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	select {
	case <-ready:
	case <-done:
		s.t.Fatalf("jqd exited before ready:\n%s", s.logText())
	case <-time.After(startWait):
		cmd.Process.Kill()
		s.t.Fatalf("jqd not ready after %v:\n%s", startWait, s.logText())
	}
}

func (s *server) logText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// signal sends sig to jqd and waits for it to exit.
func (s *server) signal(sig syscall.Signal) {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(startWait):
		cmd.Process.Kill()
		<-done
	}
	for _, m := range []string{"AddressSanitizer", "LeakSanitizer", "runtime error"} {
		if strings.Contains(s.logText(), m) {
			s.t.Errorf("jqd reported %s:\n%s", m, s.logText())
		}
	}
}

func (s *server) kill()      { s.signal(syscall.SIGKILL) }
func (s *server) terminate() { s.signal(syscall.SIGTERM) }

// dial connects a client to s; it is closed at cleanup.
func dial(t *testing.T, s *server, opts ...Option) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startWait)
	defer cancel()
	c, err := Dial(ctx, s.addr(), opts...)
	if err != nil {
		t.Fatalf("Dial: %v\n%s", err, s.logText())
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// tctx is a context with a generous bound for one test step.
func tctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// mustMake makes a channel or fails the test.
func mustMake(t *testing.T, c *Client, name string, o MakeOptions) *Chan {
	t.Helper()
	ch := c.Chan(name)
	if _, err := ch.Make(tctx(t), o); err != nil {
		t.Fatalf("make %s: %v", name, err)
	}
	return ch
}

// waitFor polls cond (an observable condition of the server) until true.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

const syscallTERM = syscall.SIGTERM

// touch creates an empty file (a job's go-ahead).
func touch(path string) {
	f, err := os.Create(path)
	if err == nil {
		f.Close()
	}
}
