// Package jqdtest starts a real jqd for tests: the binary named by $JQD,
// on a Unix socket in a private temp dir, restartable (kill -9 or SIGTERM)
// on the same socket and database.  Tests are skipped without $JQD.
// Waits are on events (jqd's "info: ready" line), with generous bounds
// for two noisy cores.
package jqdtest

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// StartWait bounds jqd's start and stop.
const StartWait = 30 * time.Second

type Server struct {
	t    *testing.T
	Dir  string // private temp dir (jqd.db, the job directory)
	Sock string // the Unix socket
	args []string
	mu   sync.Mutex
	cmd  *exec.Cmd
	log  strings.Builder
	done chan struct{} // closed when the current jqd exited
}

// Start starts jqd with extra arguments; it is killed at cleanup.
func Start(t *testing.T, extra ...string) *Server {
	t.Helper()
	jqd := os.Getenv("JQD")
	if jqd == "" {
		t.Skip("JQD is not set (path to the jqd binary)")
	}
	dir := t.TempDir()
	s := &Server{t: t, Dir: dir, Sock: filepath.Join(dir, "jqd.sock")}
	s.args = append([]string{"--unix", s.Sock, "--db", filepath.Join(dir, "jqd.db"),
		"--job-dir", dir, "--workers", "2", "--sync", "normal"}, extra...)
	s.Restart()
	t.Cleanup(func() { s.Kill() })
	return s
}

// Addr is the address to dial.
func (s *Server) Addr() string { return "unix:" + s.Sock }

// Restart starts jqd (again, after Kill or Terminate) on the same socket
// and database, and waits until it is ready.
func (s *Server) Restart() {
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
		s.t.Fatalf("jqd exited before ready:\n%s", s.Log())
	case <-time.After(StartWait):
		cmd.Process.Kill()
		s.t.Fatalf("jqd not ready after %v:\n%s", StartWait, s.Log())
	}
}

// Log is what jqd wrote to stderr so far.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// Signal sends sig to jqd and waits for it to exit.
func (s *Server) Signal(sig syscall.Signal) {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(StartWait):
		cmd.Process.Kill()
		<-done
	}
	for _, m := range []string{"AddressSanitizer", "LeakSanitizer", "runtime error"} {
		if strings.Contains(s.Log(), m) {
			s.t.Errorf("jqd reported %s:\n%s", m, s.Log())
		}
	}
}

// Kill is kill -9; Terminate a clean stop (SIGTERM).
func (s *Server) Kill()      { s.Signal(syscall.SIGKILL) }
func (s *Server) Terminate() { s.Signal(syscall.SIGTERM) }

// Stopping is Terminate's first half: SIGTERM, without waiting (Wait
// waits); for a test that acts while jqd stops.
func (s *Server) Stopping() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cmd.Process.Signal(syscall.SIGTERM)
}

// Wait waits until the current jqd has exited.
func (s *Server) Wait() {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	<-done
}

// Listening returns the address jqd logged for its listener of kind
// ("tcp" or "tls"): "info: listening on KIND HOST:PORT".
func (s *Server) Listening(kind string) string {
	for _, line := range strings.Split(s.Log(), "\n") {
		if i := strings.Index(line, "info: listening on "+kind+" "); i >= 0 {
			return strings.TrimSpace(line[i+len("info: listening on "+kind+" "):])
		}
	}
	s.t.Fatalf("jqd logged no %s listener:\n%s", kind, s.Log())
	return ""
}

// SetArg replaces the argument old by new for the next Restart (to keep
// a TCP port that was chosen by "127.0.0.1:0").
func (s *Server) SetArg(old, new string) {
	for i, a := range s.args {
		if a == old {
			s.args[i] = new
		}
	}
}
