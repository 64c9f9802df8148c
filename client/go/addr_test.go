package jqclient

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestParseAddrs(t *testing.T) {
	cases := []struct {
		in      string
		network []string
		addr    []string
		tls     bool
	}{
		{"unix:/x/jqd.sock", []string{"unix"}, []string{"/x/jqd.sock"}, false},
		{"./jqd.sock", []string{"unix"}, []string{"./jqd.sock"}, false},
		{"localhost", []string{"tcp"}, []string{"localhost:7411"}, false},
		{"10.0.0.1:7500", []string{"tcp"}, []string{"10.0.0.1:7500"}, false},
		{"[::1]:7500", []string{"tcp"}, []string{"[::1]:7500"}, false},
		{"[::1]", []string{"tcp"}, []string{"[::1]:7411"}, false},
		{"a:1,tls:b", []string{"tcp", "tcp"}, []string{"a:1", "b:7411"}, true},
	}
	for _, c := range cases {
		l, err := parseAddrs(c.in)
		if err != nil || l.tls != c.tls || len(l.eps) != len(c.addr) {
			t.Fatalf("%q: %+v %v", c.in, l, err)
		}
		for i, ep := range l.eps {
			if ep.network != c.network[i] || ep.addr != c.addr[i] {
				t.Fatalf("%q: element %d is %+v", c.in, i, ep)
			}
		}
	}
	for _, bad := range []string{"a,,b", "unix:", "::1", "tls:a,unix:/s"} {
		if _, err := parseAddrs(bad); err == nil {
			t.Fatalf("%q parsed", bad)
		}
	}
}

func TestFindToken(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "jqd"), 0o700)
	os.WriteFile(filepath.Join(dir, "jqd", "token"), []byte("from-config\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "tf"), []byte("  from-file \n"), 0o600)
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv("JQ_TOKEN_FILE", "")
	os.Unsetenv("JQ_TOKEN")
	tcp, _ := parseAddrs("127.0.0.1:1")
	unix, _ := parseAddrs("unix:/s")
	check := func(o options, l addrList, want string) {
		t.Helper()
		got, err := findToken(&o, l)
		if err != nil || got != want {
			t.Fatalf("token %q %v, want %q", got, err, want)
		}
	}
	check(options{}, tcp, "from-config")
	check(options{}, unix, "")
	check(options{tokenFile: filepath.Join(dir, "tf")}, unix, "from-file")
	t.Setenv("JQ_TOKEN_FILE", filepath.Join(dir, "tf"))
	check(options{}, tcp, "from-file")
	t.Setenv("JQ_TOKEN", "")
	check(options{}, tcp, "") // set but empty: none
	t.Setenv("JQ_TOKEN", "env")
	check(options{}, tcp, "env")
	check(options{token: "given", tokenSet: true}, tcp, "given")
}

func TestErrorsAreComparable(t *testing.T) {
	e := &Error{Code: "not_found", Message: "no channel 'x'"}
	if !errors.Is(e, ErrNotFound) || errors.Is(e, ErrClosed) {
		t.Fatal("not_found")
	}
	if !errors.Is(&Error{Code: "from_the_future"}, ErrInternal) {
		t.Fatal("an unknown code is not internal")
	}
	to := &Error{Code: "timeout", cause: context.DeadlineExceeded}
	if !errors.Is(to, ErrTimeout) || !errors.Is(to, context.DeadlineExceeded) {
		t.Fatal("timeout from a deadline")
	}
	var ou error = &OutcomeUnknownError{Op: "send", Err: errors.New("EOF")}
	var se *Error
	if !errors.Is(ou, ErrOutcomeUnknown) || errors.As(ou, &se) {
		t.Fatal("outcome unknown")
	}
}
